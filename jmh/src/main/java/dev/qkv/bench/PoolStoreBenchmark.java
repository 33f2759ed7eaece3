package dev.qkv.bench;

import dev.qkv.Attention;
import dev.qkv.KeyValueStore;
import dev.qkv.Mask;
import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Locale;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * One query over m keys and values in float32, float16 or bfloat16 with the vector kernels, on 1 or 2 threads:
 * from two tensors ({@code source=tensors}, {@link Attention#pool(Tensor, Tensor, Tensor, Mask, Tensor)}) and from
 * a {@link KeyValueStore} holding the same rows ({@code source=store}). Each operation reads K and V once,
 * 2·m·d·(4 or 2) bytes; judged in GB/s against {@link StreamReadBenchmark} in the same run, and fp16 against fp32
 * in time (the target: fp32 time ÷ fp16 time ≥ 1.8 at m = 1,048,576, d = 128). The inputs are those of
 * {@link PoolOneQueryBenchmark} (same seeds), rounded to the element type.
 */
@State(Scope.Thread)
public class PoolStoreBenchmark extends QkvBenchmark {

    @Param({"65536", "1048576"})
    int m;

    @Param({"64", "128"})
    int d;

    @Param({"f32", "f16", "bf16"})
    String type;

    @Param({"tensors", "store"})
    String source;

    @Param({"1", "2"})
    int threads;

    private Arena arena;
    private Attention attention;
    private Tensor query;
    private Tensor keys;
    private Tensor values;
    private KeyValueStore store;
    private Tensor out;

    @Setup
    public void setUp() {
        attention = Attention.builder().kernels("vector").threads(threads).build();
        arena = Arena.ofShared();
        ElementType t = ElementType.valueOf(type.toUpperCase(Locale.ROOT));
        query = Inputs.query(arena, d, PoolOneQueryBenchmark.QUERY_SEED);
        try (Arena scratch = Arena.ofConfined()) {
            Tensor k = Inputs.uniform(scratch, m, d, PoolOneQueryBenchmark.KEY_SEED);
            Tensor v = Inputs.uniform(scratch, m, d, PoolOneQueryBenchmark.VALUE_SEED);
            if (source.equals("store")) {
                store = KeyValueStore.create(arena, d, d, t);
                store.append(k, v);
            } else {
                keys = k.convertTo(arena, t);
                values = v.convertTo(arena, t);
            }
        }
        out = Tensor.allocate(arena, d);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Tensor pool() {
        if (store != null) {
            attention.pool(query, store, out);
        } else {
            attention.pool(query, keys, values, Mask.none(), out);
        }
        return out;
    }
}
