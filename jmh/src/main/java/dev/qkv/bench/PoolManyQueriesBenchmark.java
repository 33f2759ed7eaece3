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
        queries = Inputs.uniform(arena, n, d, 9);
        keys = Inputs.uniform(arena, n, d, 10);
        values = Inputs.uniform(arena, n, d, 11);
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
