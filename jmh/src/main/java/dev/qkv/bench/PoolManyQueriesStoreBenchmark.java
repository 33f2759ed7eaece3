package dev.qkv.bench;

import dev.qkv.Attention;
import dev.qkv.KeyValueStore;
import dev.qkv.tensor.ElementType;
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
 * {@link PoolManyQueriesBenchmark} against a prepared store: the same n = m queries, keys and values (the same seeds),
 * the keys and values appended once in setup to a float32 {@link KeyValueStore}, then pooled from it on every call,
 * vector kernels, one thread. The store keeps its pages packed for the tiles after the first call, so a call here
 * packs nothing, where a call on tensors transposes all of K and V first.
 */
@State(Scope.Thread)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class PoolManyQueriesStoreBenchmark extends QkvBenchmark {

    /** n = m. */
    @Param({"1024", "2048"})
    int n;

    @Param({"64", "128"})
    int d;

    private Arena arena;
    private Attention attention;
    private Tensor queries;
    private KeyValueStore store;
    private Tensor out;

    @Setup
    public void setUp() {
        attention = attention("vector");
        arena = Arena.ofShared();
        queries = Inputs.queries(arena, n, d, PoolManyQueriesBenchmark.QUERY_SEED);
        store = KeyValueStore.create(arena, d, d, ElementType.F32);
        try (Arena scratch = Arena.ofConfined()) {
            store.append(Inputs.uniform(scratch, n, d, PoolManyQueriesBenchmark.KEY_SEED),
                    Inputs.uniform(scratch, n, d, PoolManyQueriesBenchmark.VALUE_SEED));
        }
        out = Tensor.allocate(arena, n, d);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Tensor pool() {
        attention.pool(queries, store, out);
        return out;
    }
}
