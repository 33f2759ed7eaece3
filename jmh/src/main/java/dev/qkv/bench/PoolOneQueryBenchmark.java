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
 * Fused pooling of one query over m keys and values of dimension d, through the public API
 * ({@link Attention#pool(Tensor, Tensor, Tensor, Mask, Tensor)}) into an output tensor allocated in setup.
 * Each operation reads K and V once, 2·m·d·4 bytes: 4 MB at m = 4096, d = 128 (in the 32 MB L3); 64 MB
 * at m = 65536 and 1 GB at m = 1,048,576 (from DRAM).
 * The peer is {@link OnnxPoolOneQueryBenchmark}.
 */
@State(Scope.Thread)
public class PoolOneQueryBenchmark extends QkvBenchmark {

    @Param({"4096", "65536", "1048576"})
    int m;

    @Param({"64", "128"})
    int d;

    @Param({"scalar", "vector"})
    String kernel;

    /** The seeds of the inputs, shared with the ONNX Runtime peer so both pool the same numbers. */
    static final long QUERY_SEED = 6, KEY_SEED = 7, VALUE_SEED = 8;

    private Arena arena;
    private Attention attention;
    private Tensor query;
    private Tensor keys;
    private Tensor values;
    private Tensor out;

    @Setup
    public void setUp() {
        attention = attention(kernel);
        arena = Arena.ofShared();
        query = Inputs.query(arena, d, QUERY_SEED);
        keys = Inputs.uniform(arena, m, d, KEY_SEED);
        values = Inputs.uniform(arena, m, d, VALUE_SEED);
        out = Tensor.allocate(arena, d);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Tensor pool() {
        attention.pool(query, keys, values, Mask.none(), out);
        return out;
    }
}
