package dev.qkv.cli;

import dev.qkv.Attention;
import dev.qkv.Mask;
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
 * JMH. For each op and kernel it warms up, then times batches of about 10 ms for {@code --seconds} and reports
 * the median batch's time per op. Every result goes into a sink, so no work can be dropped as dead code.
 *
 * <p>The warm-up does not depend on {@code --seconds}: Vector API code is some thousand times slower until C2
 * has compiled it (measured here: 2–150 µs for one 8-lane exp interpreted, 4 ns compiled). When the warm-up was
 * a third of {@code --seconds}, {@code qkv bench --m 4096 --kernel vector --seconds 0.05} reported softmax at
 * 5.4 ms, where this warm-up gives 2.7 µs (the same command, one after the other, load average 12 on 2 cores):
 * the kernels were still interpreted. First {@value #WARM_UP_CALLS} calls on the
 * first {@value #WARM_UP_KEYS} keys: HotSpot compiles a method after a few thousand calls but only after tens
 * of thousands of loop iterations, so many small calls get the kernels to C2 in about a second where a few big
 * ones took several. Then calls at full size until the JIT is done with them ({@link OpTimer}).
 * An op whose warm-up reaches {@value #WARM_UP_LIMIT_SECONDS} s without that is reported with a warning, as is a
 * {@code --seconds} under {@value #TRUSTED_SECONDS} (a median of few batches) and an op measured
 * {@value #SLOWER} times slower than at the end of its warm-up (it did not run the code the warm-up compiled).
 *
 * <p>One op covers all n queries over m keys of dimension d, with values of dimension dv = d:
 * <ul>
 *   <li>score: the m scores of each query; reads K (4·m·d bytes), 2·m·d flops;
 *   <li>softmax: max, exp-and-sum and scale over the m scores of each query; reads and writes them
 *       (counted as 8·m bytes) and 4·m flops (max, subtract, add, scale; exp not counted);
 *   <li>accumulate: Σ wᵢvᵢ over the m value rows; reads V (4·m·dv bytes), 2·m·dv flops;
 *   <li>pool: {@code Attention.pool} itself, as users call it, into an output allocated once (for n &gt; 1 the
 *       tiles, when the kernels have them); reads K and V once per query (4·m·(d + dv) bytes), 4·m·d flops.
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
    private static final int WARM_UP_LIMIT_SECONDS = 30;
    private static final double TRUSTED_SECONDS = 0.5;
    /** A measured median this many times the warm-up's best window is reported: the op did not run as warmed up. */
    private static final double SLOWER = 2;

    /** What the user should know about how far the times can be trusted, printed after them. */
    private final List<String> warnings = new ArrayList<>();

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

    @Option(names = "--seconds", description = "Time measured per op and kernel, after a warm-up that lasts until the"
            + " JIT is done with it (default: ${DEFAULT-VALUE}; under " + TRUSTED_SECONDS + " a warning).",
            defaultValue = "1")
    double seconds;

    @Option(names = "--kernel", description = "Only these kernels: scalar or vector (default: both).")
    String kernel;

    @Option(names = "--op", split = ",", paramLabel = "OP",
            description = "Only these ops, comma-separated: score, softmax, accumulate, pool (default: all).")
    List<String> ops = List.of(OPS);

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
            int total = ops.size() * kernels.size();
            for (String op : ops) {
                for (Kernels k : kernels) {
                    err.print("\rbench: " + op + ", " + k.name() + " (" + (results.size() + 1) + "/" + total + ")   ");
                    err.flush();
                    results.add(time(op, k, arena, queries, keys, values));
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
        if (seconds < TRUSTED_SECONDS) {
            warnings.add("--seconds " + seconds + " is under " + TRUSTED_SECONDS
                    + ": each median rests on a few 10 ms batches; use " + TRUSTED_SECONDS + " or more to trust it");
        }
        warnings.forEach(w -> err.println("bench: warning: " + w));
        err.flush();
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
        for (String op : ops) {
            if (!List.of(OPS).contains(op)) {
                throw new CliException("--op must be among " + String.join(", ", OPS) + ", got \"" + op + "\"");
            }
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

    /** Warm-up (see the class comment), then the median of ~10 ms batches for --seconds. */
    private Result time(String op, Kernels k, Arena arena, Tensor queries, Tensor keys, Tensor values) {
        long limit = System.nanoTime() + WARM_UP_LIMIT_SECONDS * 1_000_000_000L;
        int few = Math.min(m, WARM_UP_KEYS);
        Runnable small = body(op, k, arena, queries, keys.rows(0, few), values.rows(0, few));
        for (int i = 0; i < WARM_UP_CALLS && System.nanoTime() < limit; i++) {
            small.run();
        }
        Runnable body = body(op, k, arena, queries, keys, values);
        OpTimer timer = new OpTimer();
        OpTimer.Outcome warm = timer.warmUp(body, limit);
        if (!warm.settled()) {
            warnings.add(op + " (" + k.name() + ") was still being compiled or speeding up after "
                    + WARM_UP_LIMIT_SECONDS + " s of warm-up: its time may be too high");
        }
        long perBatch = Math.max(1, (long) (BATCH_NANOS / warm.lastNanosPerCall()));
        double median = median(timer.measure(body, perBatch, System.nanoTime() + (long) (seconds * 1e9)));
        if (median > SLOWER * warm.bestNanosPerCall()) {
            warnings.add(String.format(Locale.ROOT, "%s (%s) ran %.1f times slower measured than at the end of its"
                    + " warm-up (a deoptimization, or load on the machine): rerun it", op, k.name(),
                    median / warm.bestNanosPerCall()));
        }
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

    private static double median(double[] batches) {
        double[] sorted = batches.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    /** One op over all n queries and the given keys, its result added to the sink. */
    private Runnable body(String op, Kernels k, Arena arena, Tensor queries, Tensor keys, Tensor values) {
        int m = keys.rows();
        Score score = Score.dot((float) (1 / Math.sqrt(d)));
        float[] scores = new float[m];
        float[] acc = new float[d];
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
            default -> {
                Attention attention = Attention.builder().kernels(k.name()).build();
                Tensor out = Tensor.allocate(arena, n, d);
                yield () -> {
                    attention.pool(queries, keys, values, Mask.none(), out);
                    sink += out.get(n - 1, d - 1);
                };
            }
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
