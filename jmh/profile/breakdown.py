#!/usr/bin/env python3
"""Where the time of a pooling benchmark goes, from async-profiler's collapsed stacks.

    python3 jmh/profile/breakdown.py DIR/*/collapsed-cpu.csv

Each sample of the benchmark thread is given to the innermost frame that names one of the parts below
(async-profiler reports inlined methods as frames of their own, so a micro-kernel inlined into its caller
still counts as itself); samples of other threads (JIT compiler, GC, JMH) are counted apart. The files
come from JMH's async profiler, see BENCHMARKS.md ("Where the time goes").
"""
import collections
import sys

PARTS = [
    ("exp (SVML stub)", ["svml"]),
    ("lane sums and maxima (reduceLanes)", ["reduceLanes"]),
    ("scores micro-kernel", ["FlashTiles.scores"]),
    ("P·V micro-kernel", ["FlashTiles.accumulate"]),
    ("softmax (max, rescale, exp, sum)", ["FlashTiles.softmaxRow"]),
    ("packing K and V (KeyChunk.of)", ["KeyChunk.of"]),
    ("copy of the queries (Rows)", ["FlashTiles$Rows.<init>"]),
    ("merge of shards", ["OrderedMerge", "PartialRows"]),
    ("tile bookkeeping (tile, pool, fill)", ["FlashTiles.tile", "FlashTiles.pool", "Arrays.fill"]),
    ("row-by-row kernels", ["VectorKernels", "ScalarKernels"]),
]


def part(frames):
    for frame in reversed(frames):
        for name, keys in PARTS:
            if any(k in frame for k in keys):
                return name
    return "other: " + frames[-1][:60]


def main(paths):
    for path in paths:
        total = 0
        mine = collections.Counter()
        others = 0
        for line in open(path):
            stack, _, count = line.rstrip().rpartition(" ")
            count = int(count)
            total += count
            frames = stack.split(";")
            if any("bench" in f and "pool" in f for f in frames):
                mine[part(frames)] += count
            else:
                others += count
        ours = sum(mine.values())
        print(f"== {path}: {ours} samples of the benchmark thread, {others} of other threads")
        for name, count in mine.most_common(12):
            print(f"  {100 * count / ours:5.1f} %  {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
