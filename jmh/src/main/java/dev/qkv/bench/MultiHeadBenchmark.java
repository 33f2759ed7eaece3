package dev.qkv.bench;

import dev.qkv.Attention;
import dev.qkv.Mask;
import dev.qkv.MultiHeadAttention;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Issue 14's speed law: heads of many queries through {@link MultiHeadAttention}, on one thread, run as fast as the
 * same heads pooled one 2-D call at a time. {@code heads} pools a (1, H, n, d) tensor of queries over (1, H, m, d)
 * keys and values (n = m); {@code loop} pools the same numbers held as H separate 2-D tensors, H calls of
 * {@link Attention#pool}.
 *
 * <p>Judged as heads ÷ loop in CPU time, two ways, because on the shared 2-core machine wall time measures the
 * neighbours as much as the code: JMH runs every fork of {@code heads} before any of {@code loop}, minutes apart, and
 * a build that starts between them stretches one side's wall time by 20–80 % at equal CPU time (BENCHMARKS.md).
 * <ul>
 *   <li>{@code heads} and {@code loop} in forks paired back to back, the order swapped every round
 *       ({@code jmh/results/avx512-quiet/multihead-alternate.sh}): the compiled code of each side is its own JVM's;
 *   <li>{@code paired}: both in one fork, one after the other in every operation (the order swapped every operation),
 *       each timed by its thread's CPU clock into the counters {@code headsCpuNs} and {@code loopCpuNs}: the same
 *       compiled kernels and the same neighbours for both, so the ratio isolates what the heads path adds per call.
 * </ul>
 */
@State(Scope.Thread)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class MultiHeadBenchmark extends QkvBenchmark {

    @Param({"1", "4"})
    int h;

    /** n = m per head. */
    @Param({"1024"})
    int n;

    @Param({"64", "128"})
    int d;

    @Param({"vector"})
    String kernel;

    private Arena arena;
    private Attention attention;
    private MultiHeadAttention multiHead;
    private Tensor queries, keys, values, out;
    private Tensor[] queries2, keys2, values2, out2;

    @Setup
    public void setUp() {
        attention = attention(kernel);
        multiHead = MultiHeadAttention.of(attention);
        arena = Arena.ofShared();
        int[] shape = {1, h, n, d};
        float[] q = Inputs.uniform(h * n * d, 21);
        float[] k = Inputs.uniform(h * n * d, 22);
        float[] v = Inputs.uniform(h * n * d, 23);
        queries = Tensor.of(arena, shape, q);
        keys = Tensor.of(arena, shape, k);
        values = Tensor.of(arena, shape, v);
        out = Tensor.allocate(arena, 1, h, n, d);
        queries2 = new Tensor[h];
        keys2 = new Tensor[h];
        values2 = new Tensor[h];
        out2 = new Tensor[h];
        for (int head = 0; head < h; head++) {
            queries2[head] = Tensor.of(arena, n, d, java.util.Arrays.copyOfRange(q, head * n * d, (head + 1) * n * d));
            keys2[head] = Tensor.of(arena, n, d, java.util.Arrays.copyOfRange(k, head * n * d, (head + 1) * n * d));
            values2[head] = Tensor.of(arena, n, d, java.util.Arrays.copyOfRange(v, head * n * d, (head + 1) * n * d));
            out2[head] = Tensor.allocate(arena, n, d);
        }
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Tensor heads() {
        multiHead.pool(queries, keys, values, List.of(Mask.none()), out, null);
        return out;
    }

    @Benchmark
    public Tensor[] loop() {
        for (int head = 0; head < h; head++) {
            attention.pool(queries2[head], keys2[head], values2[head], Mask.none(), out2[head]);
        }
        return out2;
    }

    /**
     * CPU time of the thread in each side of {@link #paired}, summed over an iteration (JMH reports each counter per
     * iteration; heads ÷ loop is the ratio of the two).
     */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class PairTimes {
        public long headsCpuNs;
        public long loopCpuNs;
        long calls;

        @Setup(Level.Iteration)
        public void reset() {
            headsCpuNs = 0;
            loopCpuNs = 0;
        }
    }

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    @Benchmark
    public Tensor[] paired(PairTimes times) {
        boolean headsFirst = (times.calls++ & 1) == 0;
        if (headsFirst) {
            times.headsCpuNs += timedHeads();
            times.loopCpuNs += timedLoop();
        } else {
            times.loopCpuNs += timedLoop();
            times.headsCpuNs += timedHeads();
        }
        return out2;
    }

    private long timedHeads() {
        long start = THREADS.getCurrentThreadCpuTime();
        heads();
        return THREADS.getCurrentThreadCpuTime() - start;
    }

    private long timedLoop() {
        long start = THREADS.getCurrentThreadCpuTime();
        loop();
        return THREADS.getCurrentThreadCpuTime() - start;
    }
}
