#!/usr/bin/env bash
# Before/after in one sitting: the same JMH arguments on two benchmarks jars, alternated A B A B.
# Usage: before-after.sh BEFORE.jar AFTER.jar OUTDIR   (each jar from `git checkout X && ./mvnw -Pjmh -DskipTests package`)
set -euo pipefail
J=${JAVA:-/usr/lib/jvm/temurin-25-jdk-amd64/bin/java}
before=$1 after=$2 out=$3
mkdir -p "$out"
args='(PoolOneQueryBenchmark|PoolManyQueriesBenchmark) -p kernel=vector -p d=128 -p m=65536,1048576 -p n=1024,2048 -f 1 -wi 5 -i 5 -w 1s -r 1s'
for round in 1 2; do
  for side in before after; do
    jar=$before; [ "$side" = after ] && jar=$after
    $J --add-modules jdk.incubator.vector -jar "$jar" $args -rf json -rff "$out/$side-$round.json" > "$out/$side-$round.log" 2>&1
  done
done
