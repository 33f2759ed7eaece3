package dev.qkv.bench;

import dev.qkv.Attention;
import dev.qkv.Mask;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Pooling with the vector kernels on 1 and 2 threads ({@link Attention.Builder#threads}), for the cases the
 * thread targets name: one query over 65536 and 1,048,576 keys (the keys are split into shards pooled in
 * parallel and merged, flash-decoding) and n = m = 1024 and 2048 queries and keys (tiles of queries in
 * parallel), each at d = 64 and 128. JMH measures from its one benchmark thread; the call uses up to
 * {@code threads} threads. Compare with {@link StreamReadBenchmark} for what the memory of this machine delivers.
 */
@State(Scope.Thread)
public class PoolThreadsBenchmark extends QkvBenchmark {

    /** {@code n x m x d}. */
    @Param({"1x65536x64", "1x65536x128", "1x1048576x64", "1x1048576x128", "1024x1024x64", "1024x1024x128",
            "2048x2048x64", "2048x2048x128"})
    String shape;

    @Param({"1", "2"})
    int threads;

    private Arena arena;
    private Attention attention;
    private Tensor queries;
    private Tensor keys;
    private Tensor values;
    private Tensor out;

    @Setup
    public void setUp() {
        String[] parts = shape.split("x");
        int n = Integer.parseInt(parts[0]);
        int m = Integer.parseInt(parts[1]);
        int d = Integer.parseInt(parts[2]);
        try {
            attention = Attention.builder().kernels("vector").threads(threads).build();
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("the vector kernels cannot run here: " + e.getMessage(), e);
        }
        arena = Arena.ofShared();
        queries = Inputs.queries(arena, n, d, PoolManyQueriesBenchmark.QUERY_SEED);
        keys = Inputs.uniform(arena, m, d, PoolManyQueriesBenchmark.KEY_SEED);
        values = Inputs.uniform(arena, m, d, PoolManyQueriesBenchmark.VALUE_SEED);
        out = Tensor.allocate(arena, n, d);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Tensor pool() {
        attention.pool(queries, keys, values, Mask.none(), out);
        return out;
    }
}
