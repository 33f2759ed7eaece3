package dev.qkv.bench;

import dev.qkv.kernel.Kernels;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * {@code Kernels.dot} of two off-heap rows of d floats, both in L1: the inner loop of scoring. The peer is
 * {@link LuceneDotBenchmark}.
 */
@State(Scope.Thread)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class DotBenchmark extends QkvBenchmark {

    @Param({"16", "100", "128", "768", "1024"})
    int d;

    @Param({"scalar", "vector"})
    String kernel;

    private Arena arena;
    private Kernels kernels;
    private MemorySegment x;
    private MemorySegment y;

    @Setup
    public void setUp() {
        kernels = kernels(kernel);
        arena = Arena.ofShared();
        Tensor a = Inputs.uniform(arena, d, 1);
        Tensor b = Inputs.uniform(arena, d, 2);
        x = a.segment();
        y = b.segment();
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public float dot() {
        return kernels.dot(x, 0, y, 0, d);
    }
}
