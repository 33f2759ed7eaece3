#!/usr/bin/env python3
"""Heads ÷ loop per shape, in CPU time, from MultiHeadBenchmark's JSON files.

    python3 multihead-ratios.py OUTDIR/*.json      # the forks of multihead-alternate.sh, one ratio per round
    python3 multihead-ratios.py --paired RUN.json  # MultiHeadBenchmark.paired, one ratio per fork

Each file holds one fork of MultiHeadBenchmark.heads or .loop (named SIDE-dD-hH-rROUND.json). A round's ratio is
the mean CPU time per operation (CpuTimeProfiler's ·cpu) of its heads fork over that of its loop fork, and likewise
for wall time. Printed per shape: every round's CPU ratio, their mean and a 95 % interval of the mean (Student's t
over the rounds), the mean of the rounds' ratios of median iterations (robust to one iteration that a late JIT
compilation on the other core charges with compiler CPU: process CPU above wall time), and the mean wall-time ratio. The law holds at a shape when the interval reaches down to 1.0 or
below it.

With --paired, a fork's ratio is the sum of its iterations' headsCpuNs over that of their loopCpuNs (both sides
in one JVM, alternated every operation); printed per shape: every fork's ratio, their mean with a 95 % interval
over the forks, and the lowest and highest iteration.
"""
import collections
import json
import math
import re
import statistics
import sys

# Student's t, two-sided 95 %, by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
       11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131}


def interval(xs):
    mean = statistics.fmean(xs)
    half = T95.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else math.nan
    return mean, half


def paired(path):
    with open(path) as f:
        results = json.load(f)
    print("| d | H | heads ÷ loop, CPU, per fork | mean (95 % interval) | iterations |")
    print("| ---: | ---: | --- | --- | --- |")
    for r in sorted(results, key=lambda r: (int(r["params"]["d"]), int(r["params"]["h"]))):
        if not r["benchmark"].endswith(".paired"):
            continue
        heads = r["secondaryMetrics"]["headsCpuNs"]["rawData"]
        loop = r["secondaryMetrics"]["loopCpuNs"]["rawData"]
        forks = [sum(h) / sum(l) for h, l in zip(heads, loop)]
        its = [a / b for h, l in zip(heads, loop) for a, b in zip(h, l)]
        mean, half = interval(forks)
        print(f"| {r['params']['d']} | {r['params']['h']} | {', '.join(f'{x:.4f}' for x in forks)} |"
              f" **{mean:.4f}** ({mean - half:.4f}–{mean + half:.4f}) | {min(its):.3f}–{max(its):.3f} |")


def main(paths):
    runs = collections.defaultdict(dict)  # (d, h) -> {(side, round): (cpu, wall)}
    for path in paths:
        m = re.search(r"(heads|loop)-d(\d+)-h(\d+)-r(\d+)\.json$", path)
        if not m:
            continue
        side, d, h, rnd = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
        with open(path) as f:
            results = json.load(f)
        if not results:
            print(f"{path}: no result (see its .log)", file=sys.stderr)
            continue
        r = results[0]
        cpu = r["secondaryMetrics"]["·cpu"]["score"]
        wall = r["primaryMetric"]["score"]
        runs[(d, h)][(side, rnd)] = (cpu, wall, statistics.median(r["secondaryMetrics"]["·cpu"]["rawData"][0]))
    print("| d | H | heads ÷ loop, CPU, per round | mean (95 % interval) | of medians, mean | wall, mean |")
    print("| ---: | ---: | --- | --- | ---: | ---: |")
    for (d, h) in sorted(runs):
        got = runs[(d, h)]
        rounds = sorted({rnd for (_, rnd) in got if ("heads", rnd) in got and ("loop", rnd) in got})
        cpu = [got[("heads", r)][0] / got[("loop", r)][0] for r in rounds]
        wall = [got[("heads", r)][1] / got[("loop", r)][1] for r in rounds]
        median = [got[("heads", r)][2] / got[("loop", r)][2] for r in rounds]
        mean, half = interval(cpu)
        heads = statistics.fmean(got[("heads", r)][0] for r in rounds)
        loop = statistics.fmean(got[("loop", r)][0] for r in rounds)
        print(f"| {d} | {h} | {', '.join(f'{x:.3f}' for x in cpu)} | **{mean:.3f}** ({mean - half:.3f}–{mean + half:.3f});"
              f" {heads:.2f} against {loop:.2f} CPU ms | {statistics.fmean(median):.3f} | {statistics.fmean(wall):.3f} |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--paired"]:
        paired(sys.argv[2])
    else:
        main(sys.argv[1:])
