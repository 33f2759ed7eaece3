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
 * Pooling of n = m queries over m keys and values of dimension d, through the public API into an output
 * tensor allocated in setup, on the benchmark's one thread: 4·n·m·d flops per operation (n·m scores of 2d
 * flops, and as many weighted value rows of 2d).
 * The peer is {@link OnnxPoolManyQueriesBenchmark}.
 */
@State(Scope.Thread)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class PoolManyQueriesBenchmark extends QkvBenchmark {

    /** n = m. */
    @Param({"1024", "2048"})
    int n;

    @Param({"64", "128"})
    int d;

    @Param({"scalar", "vector"})
    String kernel;

    /** The seeds of the inputs, shared with the ONNX Runtime peer so both pool the same numbers. */
    static final long QUERY_SEED = 9, KEY_SEED = 10, VALUE_SEED = 11;

    private Arena arena;
    private Attention attention;
    private Tensor queries;
    private Tensor keys;
    private Tensor values;
    private Tensor out;

    @Setup
    public void setUp() {
        attention = attention(kernel);
        arena = Arena.ofShared();
        queries = Inputs.queries(arena, n, d, QUERY_SEED);
        keys = Inputs.uniform(arena, n, d, KEY_SEED);
        values = Inputs.uniform(arena, n, d, VALUE_SEED);
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
