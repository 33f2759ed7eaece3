package dev.qkv.cli;

import dev.qkv.algorithm.Pooling;
import dev.qkv.algorithm.Visibility;
import dev.qkv.algorithm.Workers;
import dev.qkv.kernel.KernelProvider;
import dev.qkv.kernel.Kernels;
import dev.qkv.kernel.ScalarKernels;
import dev.qkv.kernel.Score;
import dev.qkv.tensor.Tensor;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code qkv bench}: a quick comparison of the vector kernels with the scalar ones on random data, without
 * JMH. For each op and kernel it warms up, then times batches of about 10 ms for two thirds of
 * {@code --seconds} and reports the median batch's time per op. Every result goes into a sink, so no work
 * can be dropped as dead code.
 *
 * <p>Warm-up has two parts. First {@value #WARM_UP_CALLS} calls (or {@code --seconds}, whichever ends
 * first) on the first {@value #WARM_UP_KEYS} keys:
 * Vector API code is very slow until C2 compiles it (measured here: 2–150 µs for one 8-lane exp
 * interpreted, 4 ns compiled), and HotSpot compiles a method after a few thousand calls but only after tens
 * of thousands of loop iterations, so many small calls get the kernels to C2 in about a second where a
 * few big ones took several. Then at
 * full size for a third of {@code --seconds}, and longer while the time per call still drops.
 *
 * <p>One op covers all n queries over m keys of dimension d, with values of dimension dv = d:
 * <ul>
 *   <li>score: the m scores of each query; reads K (4·m·d bytes), 2·m·d flops;
 *   <li>softmax: max, exp-and-sum and scale over the m scores of each query; reads and writes them
 *       (counted as 8·m bytes) and 4·m flops (max, subtract, add, scale; exp not counted);
 *   <li>accumulate: Σ wᵢvᵢ over the m value rows; reads V (4·m·dv bytes), 2·m·dv flops;
 *   <li>pool: the fused online-softmax pooling {@code Attention.pool} runs (one query row by row, many as tiles);
 *       reads K and V once per query (4·m·(d + dv) bytes), 4·m·d flops.
 * </ul>
 * Bytes and flops are per query, times n.
 */
@Command(
        name = "bench",
        mixinStandardHelpOptions = true,
        description = {"Times the vector kernels against the scalar ones on random data (median of batches).",
            "Reports time per op, GB/s of K and V read, GFLOP/s and the vector/scalar speedup."})
final class BenchCommand implements Callable<Integer> {

    private static final String[] OPS = {"score", "softmax", "accumulate", "pool"};
    private static final long BATCH_NANOS = 10_000_000;
    private static final int WARM_UP_KEYS = 37;
    private static final int WARM_UP_CALLS = 10_000;
    private static final long WARM_UP_WINDOW_NANOS = 20_000_000;

    /** Every op's result lands here, so the JIT cannot drop the work. */
    private static volatile float sink;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--n", description = "Queries (default: ${DEFAULT-VALUE}).", defaultValue = "1")
    int n;

    @Option(names = "--m", description = "Keys (default: ${DEFAULT-VALUE}).", defaultValue = "65536")
    int m;

    @Option(names = "--d", description = "Dimension of queries, keys and values (default: ${DEFAULT-VALUE}).",
            defaultValue = "128")
    int d;

    @Option(names = "--seconds", description = "Time per op and kernel, a third of it warm-up (default: ${DEFAULT-VALUE}).",
            defaultValue = "1")
    double seconds;

    @Option(names = "--kernel", description = "Only these kernels: scalar or vector (default: both).")
    String kernel;

    @Option(names = "--json", description = "One JSON object per line instead of the table.")
    boolean json;

    private record Result(String op, String kernel, double nanosPerOp, double bytes, double flops) {
        double gbps() {
            return bytes / nanosPerOp;
        }

        double gflops() {
            return flops / nanosPerOp;
        }
    }

    @Override
    public Integer call() {
        check();
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        List<Kernels> kernels = kernels(err);
        List<Result> results = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom random = new SplittableRandom(42);
            Tensor queries = random(arena, random, n, d);
            Tensor keys = random(arena, random, m, d);
            Tensor values = random(arena, random, m, d);
            int total = OPS.length * kernels.size();
            for (String op : OPS) {
                for (Kernels k : kernels) {
                    err.print("\rbench: " + op + ", " + k.name() + " (" + (results.size() + 1) + "/" + total + ")   ");
                    err.flush();
                    results.add(time(op, k, queries, keys, values));
                }
            }
            err.print("\r" + " ".repeat(60) + "\r");
            err.flush();
        }
        if (json) {
            results.forEach(r -> out.println(json(r)));
        } else {
            table(out, results);
        }
        out.flush();
        return 0;
    }

    private void check() {
        if (n < 1 || m < 1 || d < 1) {
            throw new CliException("--n, --m and --d must be at least 1, got " + n + ", " + m + ", " + d);
        }
        if ((long) m * d > Integer.MAX_VALUE / 4) {
            throw new CliException("--m " + m + " × --d " + d + " is too large for one benchmark tensor");
        }
        if (!(seconds > 0) || Double.isInfinite(seconds)) {
            throw new CliException("--seconds must be a positive number, got " + seconds);
        }
    }

    private List<Kernels> kernels(PrintWriter err) {
        if (kernel != null) {
            return switch (kernel) {
                case "scalar", "vector" -> List.of(KernelProvider.named(kernel));
                default -> throw new CliException("--kernel must be scalar or vector, got \"" + kernel + "\"");
            };
        }
        if (!KernelProvider.vectorModulePresent()) {
            err.println("bench: only the scalar kernels; pass '--add-modules jdk.incubator.vector' to java for the vector ones");
            return List.of(ScalarKernels.INSTANCE);
        }
        // Vector first: both kernels run through the same op bodies, whose call sites C2 compiles from the
        // receiver types seen so far. Compiled for scalar first, the vector softmax was then inlined into a
        // two-receiver body and measured 17-26 us against 3-4 us alone (m = 4096); the scalar kernels do not
        // suffer the other way round.
        return List.of(KernelProvider.named("vector"), ScalarKernels.INSTANCE);
    }

    /** Warm-up (see the class comment), then the median of ~10 ms batches. */
    private Result time(String op, Kernels k, Tensor queries, Tensor keys, Tensor values) {
        int few = Math.min(m, WARM_UP_KEYS);
        Runnable small = body(op, k, queries, keys.rows(0, few), values.rows(0, few));
        long smallEnd = System.nanoTime() + (long) (seconds * 1e9);
        for (int i = 0; i < WARM_UP_CALLS && System.nanoTime() < smallEnd; i++) {
            small.run();
        }
        Runnable body = body(op, k, queries, keys, values);
        double nanosPerRep = warmUp(body);
        long perBatch = Math.max(1, (long) (BATCH_NANOS / nanosPerRep));
        List<Double> batches = new ArrayList<>();
        long end = System.nanoTime() + (long) (seconds * 1e9 * 2 / 3);
        do {
            long start = System.nanoTime();
            for (long r = 0; r < perBatch; r++) {
                body.run();
            }
            batches.add((double) (System.nanoTime() - start) / perBatch);
        } while (System.nanoTime() < end || batches.size() < 3);
        double[] sorted = batches.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        double median = sorted[sorted.length / 2];
        double perQuery = switch (op) {
            case "score" -> 4.0 * m * d;
            case "softmax" -> 8.0 * m;
            case "accumulate" -> 4.0 * m * d;
            default -> 8.0 * m * d;
        };
        double flops = switch (op) {
            case "score", "accumulate" -> 2.0 * m * d;
            case "softmax" -> 4.0 * m;
            default -> 4.0 * m * d;
        };
        return new Result(op, k.name(), median, perQuery * n, flops * n);
    }

    /**
     * Runs {@code body} in ~20 ms windows for at least a third of --seconds, then on while a window still
     * beats the best one by 2% (C2 may still be compiling, late on a busy machine), for at most ten times
     * --seconds; returns the best window's time per call.
     */
    private double warmUp(Runnable body) {
        long start = System.nanoTime();
        long minEnd = start + (long) (seconds * 1e9 / 3);
        long maxEnd = start + (long) (seconds * 1e10);
        double best = Double.MAX_VALUE;
        int stale = 0;
        long now;
        do {
            long windowStart = System.nanoTime();
            long calls = 0;
            do {
                body.run();
                calls++;
            } while (System.nanoTime() - windowStart < WARM_UP_WINDOW_NANOS);
            now = System.nanoTime();
            double perCall = (double) (now - windowStart) / calls;
            if (perCall < 0.98 * best) {
                best = perCall;
                stale = 0;
            } else {
                stale++;
            }
        } while (now < maxEnd && (now < minEnd || stale < 5));
        return best;
    }

    /** One op over all n queries and the given keys, its result added to the sink. */
    private Runnable body(String op, Kernels k, Tensor queries, Tensor keys, Tensor values) {
        int m = keys.rows();
        Score score = Score.dot((float) (1 / Math.sqrt(d)));
        float[] scores = new float[m];
        float[] acc = new float[d];
        Visibility all = Visibility.all(n, m);
        Arrays.fill(scores, 1f / m);
        return switch (op) {
            case "score" -> () -> {
                float s = 0;
                for (int i = 0; i < n; i++) {
                    k.scores(score, queries, i, keys, 0, m, scores);
                    s += scores[i % m];
                }
                sink += s;
            };
            case "softmax" -> () -> {
                float s = 0;
                for (int i = 0; i < n; i++) {
                    float max = k.max(scores, 0, m);
                    float sum = k.expAndSum(scores, 0, m, max);
                    k.scale(scores, 0, m, 1f / sum);
                    s += sum;
                }
                sink += s;
            };
            case "accumulate" -> () -> {
                for (int i = 0; i < n; i++) {
                    Arrays.fill(acc, 0f);
                    k.accumulate(scores, values, 0, m, acc);
                }
                sink += acc[0];
            };
            default -> () -> sink += (float) Pooling.pool(k, score, queries, keys, values, all, Workers.SERIAL).sum(0);
        };
    }

    private static Tensor random(Arena arena, SplittableRandom random, int rows, int cols) {
        float[] data = new float[rows * cols];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) (2 * random.nextDouble() - 1);
        }
        return Tensor.of(arena, rows, cols, data);
    }

    private void table(PrintWriter out, List<Result> results) {
        out.printf(Locale.ROOT, "n=%d m=%d d=%d dv=%d, median of batches, %.2f s per op and kernel%n", n, m, d, d, seconds);
        out.printf(Locale.ROOT, "%-11s %-7s %14s %9s %9s %8s%n", "op", "kernel", "time/op", "GB/s", "GFLOP/s", "speedup");
        for (Result r : results) {
            String speedup = results.stream()
                    .filter(s -> s.op().equals(r.op()) && s.kernel().equals("scalar") && !r.kernel().equals("scalar"))
                    .findFirst()
                    .map(s -> String.format(Locale.ROOT, "%7.1fx", s.nanosPerOp() / r.nanosPerOp()))
                    .orElse("");
            out.printf(Locale.ROOT, "%-11s %-7s %14s %9.2f %9.2f %8s%n", r.op(), r.kernel(), duration(r.nanosPerOp()),
                    r.gbps(), r.gflops(), speedup);
        }
    }

    private static String duration(double nanos) {
        if (nanos >= 1e6) {
            return String.format(Locale.ROOT, "%.3f ms", nanos / 1e6);
        }
        if (nanos >= 1e3) {
            return String.format(Locale.ROOT, "%.2f µs", nanos / 1e3);
        }
        return String.format(Locale.ROOT, "%.0f ns", nanos);
    }

    private String json(Result r) {
        return String.format(Locale.ROOT,
                "{\"op\":\"%s\",\"kernel\":\"%s\",\"n\":%d,\"m\":%d,\"d\":%d,\"ns_per_op\":%.1f,\"gbps\":%s,\"gflops\":%s}",
                r.op(), r.kernel(), n, m, d, r.nanosPerOp(), significant(r.gbps()), significant(r.gflops()));
    }

    /** Four significant digits, never rounded to 0 for a small positive rate (a tiny case on a busy machine). */
    private static String significant(double x) {
        return new java.math.BigDecimal(x).round(new java.math.MathContext(4)).stripTrailingZeros().toPlainString();
    }
}
