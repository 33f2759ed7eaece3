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
 * A few queries over many keys (n = 1, 2, 3, 4, 8 over m = 65536, d = dv = 128), vector kernels, one thread:
 * where the choice between the query-by-query path and the tiles matters. Row by row, n queries read K and V
 * n times; tiles pack K and V once and read the packed copy once per group of queries. So t(n) / t(1) shows
 * which path ran and whether it was the cheaper one: about n for rows, less once tiles pay off.
 */
@State(Scope.Thread)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class PoolFewQueriesBenchmark extends QkvBenchmark {

    @Param({"1", "2", "3", "4", "8"})
    int n;

    @Param({"65536"})
    int m;

    @Param({"128"})
    int d;

    private Arena arena;
    private Attention attention;
    private Tensor queries;
    private Tensor keys;
    private Tensor values;
    private Tensor out;

    @Setup
    public void setUp() {
        attention = attention("vector");
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
