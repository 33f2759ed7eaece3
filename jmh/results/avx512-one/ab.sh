#!/usr/bin/env bash
# A/B in one sitting: the same JMH arguments on two benchmarks jars, alternated A B A B, each run under
# /work/team/jmh.lock when it exists (other engineers' JMH runs wait), JSON to PREFIX-{A,B}-{1,2}.json.
# Usage: ab.sh A.jar B.jar PREFIX "JMH ARGS"   (each jar from `git checkout X && ./mvnw -Pjmh -DskipTests package`)
# The one-query figures here: ab.sh 2e689bf.jar 7ffde72.jar one "PoolOneQueryBenchmark -p kernel=vector
#   -p m=65536,1048576 -p d=64,128 -f 1 -wi 4 -i 5 -w 1s -r 1s"
set -euo pipefail
J=${JAVA:-/usr/lib/jvm/temurin-25-jdk-amd64/bin/java}
lock=/work/team/jmh.lock
for round in 1 2; do
  for side in A B; do
    jar=$1; [ "$side" = B ] && jar=$2
    if [ -e "$(dirname "$lock")" ]; then run=(flock "$lock"); else run=(); fi
    "${run[@]}" "$J" -jar "$jar" $4 -rf json -rff "$3-$side-$round.json" > "$3-$side-$round.log" 2>&1
    echo "== $side $round $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    grep -E '^[A-Za-z]+Benchmark' "$3-$side-$round.log" || true
  done
done
