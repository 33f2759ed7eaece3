#!/usr/bin/env bash
# The backward pass against the forward, before and after, in one sitting: BackwardBenchmark (n = m = 2048, d = 128,
# vector kernels, one thread, CPU time per operation) on two benchmarks jars, alternated A B A B, at 512 bits
# (-XX:UseAVX=3) and at 256 bits (-XX:UseAVX=2), each run under the team's JMH lock.
# Usage: backward-ab.sh BEFORE.jar AFTER.jar OUTDIR   (each jar from `git checkout X && ./mvnw -B -q -Pjmh -DskipTests package`)
set -euo pipefail
J=${JAVA:-/usr/lib/jvm/temurin-25-jdk-amd64/bin/java}
before=$1 after=$2 out=$3
mkdir -p "$out"
for avx in 3 2; do
  for round in 1 2; do
    for side in before after; do
      jar=$before; [ "$side" = after ] && jar=$after
      name="$side-avx$avx-$round"
      flock /work/team/jmh.lock "$J" -jar "$jar" BackwardBenchmark -p kernel=vector -p n=2048 -f 1 -wi 6 -i 8 -w 1s -r 1s \
        -prof dev.qkv.bench.CpuTimeProfiler \
        -jvmArgsAppend "--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:UseAVX=$avx" \
        -rf json -rff "$out/$name.json" > "$out/$name.log" 2>&1
      echo "$name $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
      grep -E "^BackwardBenchmark" "$out/$name.log"
    done
  done
done
