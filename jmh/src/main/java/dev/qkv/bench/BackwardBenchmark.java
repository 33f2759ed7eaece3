package dev.qkv.bench;

import dev.qkv.Attention;
import dev.qkv.Mask;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The backward pass against the forward pass of the same inputs in the same run, one thread, scaled-dot scoring:
 * {@code forward} is {@code pool} with the log-sum-exp the backward pass needs; {@code backward} is
 * {@code gradients} from that output and log-sum-exp, writing dQ, dK and dV. n queries over m keys, d = dv.
 * FlashAttention-2's backward pass does 2.5× the forward's flops (5 matrix products of 2·n·m·d against 2);
 * PyTorch's CPU SDPA backward takes about 2.6× its forward at n = m = 2048, d = 128 (issue 11).
 */
@State(Scope.Thread)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class BackwardBenchmark extends QkvBenchmark {

    /** 1 query (one row over the keys) or n = m queries. */
    @Param({"1", "2048"})
    int n;

    @Param({"2048"})
    int m;

    @Param({"128"})
    int d;

    @Param({"scalar", "vector"})
    String kernel;

    private Arena arena;
    private Attention attention;
    private Tensor queries;
    private Tensor keys;
    private Tensor values;
    private Tensor gradOut;
    private Tensor out;
    private Tensor lse;
    private Tensor dq;
    private Tensor dk;
    private Tensor dv;

    @Setup
    public void setUp() {
        attention = attention(kernel);
        arena = Arena.ofShared();
        queries = Inputs.queries(arena, n, d, PoolManyQueriesBenchmark.QUERY_SEED);
        keys = Inputs.uniform(arena, m, d, PoolManyQueriesBenchmark.KEY_SEED);
        values = Inputs.uniform(arena, m, d, PoolManyQueriesBenchmark.VALUE_SEED);
        gradOut = Inputs.uniform(arena, n, d, 12);
        out = Tensor.allocate(arena, n, d);
        lse = Tensor.allocate(arena, n);
        dq = Tensor.allocate(arena, n, d);
        dk = Tensor.allocate(arena, m, d);
        dv = Tensor.allocate(arena, m, d);
        attention.pool(queries, keys, values, Mask.none(), out, lse);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Tensor forward() {
        attention.pool(queries, keys, values, Mask.none(), out, lse);
        return out;
    }

    @Benchmark
    public Tensor backward() {
        attention.gradients(queries, keys, values, Mask.none(), gradOut, out, lse, dq, dk, dv);
        return dq;
    }
}
