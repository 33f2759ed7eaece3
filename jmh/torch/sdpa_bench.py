#!/usr/bin/env python3
"""PyTorch's CPU scaled_dot_product_attention as a peer of qkv's JMH pooling benchmarks.

Runs the shapes of PoolManyQueriesBenchmark (n = m = 1024, 2048; d = 64, 128) and of PoolOneQueryBenchmark
(one query, m = 4096, 65536, 1,048,576; d = 64, 128) on one thread, float32, forward only, no grad, and writes
the times as a JMH JSON result (mode avgt, benchmarks dev.qkv.bench.Torch*Benchmark.pool), which
BenchmarkReport reads next to JMH's own:

    python3 jmh/torch/sdpa_bench.py -wi 5 -i 5 -w 1 -r 1 -o torch.json
    java -cp target/benchmarks.jar dev.qkv.bench.BenchmarkReport result.json torch.json chart.png BENCHMARKS.md

Run it right after JMH, not during: the machine has two cores and both engines use them.

Inputs are the numbers qkv's benchmarks pool: Inputs.java draws them from java.util.SplittableRandom with the
seeds of PoolManyQueriesBenchmark (9, 10, 11) and PoolOneQueryBenchmark (6, 7, 8); splittable_uniform below is
that generator, bit for bit. Before a point is timed its output is compared with a float64 NumPy reference on
the first queries, and a difference above 1e-4 fails the run, as OnnxAttention.checkAgainstQkv does for ONNX
Runtime.

Each point is timed like a JMH trial in one fork: warm-up iterations, then measured iterations, each calling
SDPA back to back for at least the iteration time; the score is the mean time per call over the measured
iterations and the error JMH's 99.9 % confidence half-width (Student's t) of those means. The process's CPU
time per call (time.process_time) is written too, as the secondary result ·cpu that CpuTimeProfiler gives the
JMH benchmarks, for BenchmarkReport --cpu. Needs torch
(`pip install torch`) and NumPy; qkv's build and tests need neither.
"""
import argparse
import json
import math
import platform
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
QUERY_SCALE = np.float32(9.0)  # Inputs.QUERY_SCALE
MANY_SEEDS = (9, 10, 11)  # PoolManyQueriesBenchmark.QUERY_SEED, KEY_SEED, VALUE_SEED
ONE_SEEDS = (6, 7, 8)  # PoolOneQueryBenchmark.QUERY_SEED, KEY_SEED, VALUE_SEED

# Student's t at 0.9995 (two-sided 99.9 %), by degrees of freedom, as JMH's error uses.
T_9995 = {1: 636.62, 2: 31.599, 3: 12.924, 4: 8.610, 5: 6.869, 6: 5.959, 7: 5.408, 8: 5.041, 9: 4.781,
          10: 4.587, 14: 4.140, 19: 3.883, 29: 3.659}


def splittable_uniform(count, seed, scale=np.float32(1.0)):
    """Inputs.fill: float32 of scale * (float) (2 * nextDouble() - 1) from new SplittableRandom(seed)."""
    out = np.empty(count, dtype=np.float32)
    chunk = 1 << 22
    with np.errstate(over="ignore"):
        for start in range(0, count, chunk):
            k = np.arange(start + 1, min(count, start + chunk) + 1, dtype=np.uint64)
            z = np.uint64(seed) + k * GOLDEN_GAMMA  # nextSeed(): seed += gamma, wrapping
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
            u = (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53  # nextDouble()
            out[start:start + len(k)] = (2 * u - 1).astype(np.float32) * scale
    return out


def tensors(n, m, d, seeds):
    q = splittable_uniform(n * d, seeds[0], QUERY_SCALE).reshape(1, 1, n, d)
    k = splittable_uniform(m * d, seeds[1]).reshape(1, 1, m, d)
    v = splittable_uniform(m * d, seeds[2]).reshape(1, 1, m, d)
    return torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v)


def check(q, k, v, out, rows=4):
    """Largest |SDPA − float64 reference| over the first rows queries; fails the run above 1e-4."""
    d = q.shape[-1]
    qs = q[0, 0, :rows].numpy().astype(np.float64)
    ks = k[0, 0].numpy().astype(np.float64)
    vs = v[0, 0].numpy().astype(np.float64)
    s = qs @ ks.T / math.sqrt(d)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    ref = (p / p.sum(axis=1, keepdims=True)) @ vs
    diff = float(np.abs(out[0, 0, :rows].numpy().astype(np.float64) - ref).max())
    if not diff <= 1e-4:
        sys.exit(f"PyTorch SDPA differs from the float64 reference by {diff} (> 1e-4)")
    return diff


def iteration(call, seconds):
    """(wall seconds, process CPU seconds) per call, over calls for at least seconds of wall time."""
    calls = 0
    start = time.perf_counter()
    cpu = time.process_time()
    while True:
        call()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / calls, (time.process_time() - cpu) / calls


def measure(n, m, d, seeds, args):
    q, k, v = tensors(n, m, d, seeds)
    with torch.inference_mode():
        out = F.scaled_dot_product_attention(q, k, v)
        diff = check(q, k, v, out)

        def call():
            F.scaled_dot_product_attention(q, k, v)

        for _ in range(args.wi):
            iteration(call, args.w)
        measured = [iteration(call, args.r) for _ in range(args.i)]
    wall = summary([w for w, _ in measured])
    cpu = summary([c for _, c in measured])
    print(f"n={n} m={m} d={d}: {wall[0] * 1e3:.3f} ± {wall[1] * 1e3:.3f} ms/op, CPU {cpu[0] * 1e3:.3f} ms/op"
          f" (max |diff| vs float64 {diff:.2g})", flush=True)
    return wall, cpu


def summary(scores):
    """(mean, JMH's 99.9 % error or NaN, the scores)."""
    error = float("nan")
    if len(scores) > 1:
        df = len(scores) - 1
        t = T_9995[max(x for x in T_9995 if x <= df)]
        error = t * statistics.stdev(scores) / math.sqrt(len(scores))
    return statistics.fmean(scores), error, scores


def metric(stats):
    mean, error, scores = stats
    unit = 1e3  # ms/op
    return {
        "score": mean * unit,
        "scoreError": error * unit if not math.isnan(error) else "NaN",
        "scoreUnit": "ms/op",
        "rawData": [[s * unit for s in scores]],
    }


def result(benchmark, params, wall, cpu, args):
    return {
        "jmhVersion": "none (jmh/torch/sdpa_bench.py)",
        "benchmark": "dev.qkv.bench." + benchmark + ".pool",
        "mode": "avgt",
        "threads": 1,
        "forks": 1,
        "jvm": sys.executable,
        "jdkVersion": "Python " + platform.python_version(),
        "vmName": "PyTorch",
        "vmVersion": torch.__version__,
        "warmupIterations": args.wi,
        "warmupTime": f"{args.w:g} s",
        "measurementIterations": args.i,
        "measurementTime": f"{args.r:g} s",
        "params": {k: str(v) for k, v in params.items()},
        "primaryMetric": metric(wall),
        "secondaryMetrics": {"·cpu": metric(cpu)},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-wi", type=int, default=5, help="warm-up iterations per point")
    parser.add_argument("-i", type=int, default=5, help="measured iterations per point")
    parser.add_argument("-w", type=float, default=1.0, help="seconds per warm-up iteration")
    parser.add_argument("-r", type=float, default=1.0, help="seconds per measured iteration")
    parser.add_argument("-o", default="torch.json", help="the JMH-format JSON result to write")
    parser.add_argument("--only", choices=["many", "one"], action="append",
                        help="run only these families (repeatable); default all")
    args = parser.parse_args()
    families = set(args.only or ["many", "one"])
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}", flush=True)
    results = []
    if "many" in families:
        for n in (1024, 2048):
            for d in (64, 128):
                wall, cpu = measure(n, n, d, MANY_SEEDS, args)
                results.append(result("TorchPoolManyQueriesBenchmark", {"n": n, "d": d}, wall, cpu, args))
    if "one" in families:
        for m in (4096, 65536, 1048576):
            for d in (64, 128):
                wall, cpu = measure(1, m, d, ONE_SEEDS, args)
                results.append(result("TorchPoolOneQueryBenchmark", {"m": m, "d": d}, wall, cpu, args))
    with open(args.o, "w") as f:
        json.dump(results, f, indent=2)
    print("wrote", args.o)


if __name__ == "__main__":
    main()
