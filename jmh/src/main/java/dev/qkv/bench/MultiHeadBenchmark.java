package dev.qkv.bench;

import dev.qkv.Attention;
import dev.qkv.Mask;
import dev.qkv.MultiHeadAttention;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
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
 * {@link Attention#pool}. Judged as heads ÷ loop in one run.
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
}
