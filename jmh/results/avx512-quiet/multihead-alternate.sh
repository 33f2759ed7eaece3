#!/usr/bin/env bash
# Issue 14's speed law, heads against 2-D calls, as a paired comparison: for each shape, MultiHeadBenchmark.heads and
# MultiHeadBenchmark.loop in one fork each, back to back under one hold of the team's lock, the order swapped every
# round (heads loop, loop heads, ...). A shape's two forks run seconds apart, so a neighbour's build or benchmark that
# starts or stops moves both; JMH's own -f N runs every fork of heads before any of loop, minutes apart.
# Usage: multihead-alternate.sh BENCHMARKS.jar OUTDIR [ROUNDS]   (the jar from `./mvnw -Pjmh -DskipTests package`)
# Then:  python3 multihead-ratios.py OUTDIR/*.json   (CPU-time ratio heads ÷ loop per round and shape)
set -euo pipefail
J=${JAVA:-/usr/lib/jvm/temurin-25-jdk-amd64/bin/java}
LOCK=${LOCK:-/work/team/jmh.lock}
jar=$1 out=$2 rounds=${3:-6}
mkdir -p "$out"
args='-p n=1024 -p kernel=vector -f 1 -wi 8 -i 5 -w 1s -r 1s -prof dev.qkv.bench.CpuTimeProfiler'
for round in $(seq 1 "$rounds"); do
  order="heads loop"; [ $((round % 2)) = 0 ] && order="loop heads"
  for d in 64 128; do
    for h in 1 4; do
      (
        flock 9
        for side in $order; do
          name="$out/$side-d$d-h$h-r$round"
          $J -jar "$jar" "MultiHeadBenchmark\.$side\$" -p d=$d -p h=$h $args -rf json -rff "$name.json" > "$name.log" 2>&1
          echo "$(date -u +%T) $side d=$d h=$h round $round load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/runs.txt"
        done
      ) 9<"$LOCK"
    done
  done
done
