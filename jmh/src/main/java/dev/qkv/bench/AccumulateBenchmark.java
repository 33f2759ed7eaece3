package dev.qkv.bench;

import dev.qkv.kernel.Kernels;
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
 * {@code Kernels.accumulate}: {@code acc += Σᵢ wᵢ·vᵢ} over m value rows of dv = 128 floats, the P·V step of
 * one query. m = 256 is one block of fused pooling (128 KB of values, in L2); m = 4096 is 2 MB, in L3.
 */
@State(Scope.Thread)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class AccumulateBenchmark extends QkvBenchmark {

    @Param({"256", "4096"})
    int m;

    @Param({"128"})
    int dv;

    @Param({"scalar", "vector"})
    String kernel;

    private Arena arena;
    private Kernels kernels;
    private Tensor values;
    private float[] weights;
    private float[] acc;

    @Setup
    public void setUp() {
        kernels = kernels(kernel);
        arena = Arena.ofShared();
        values = Inputs.uniform(arena, m, dv, 4);
        weights = Inputs.uniform(m, 5);
        for (int i = 0; i < m; i++) {
            weights[i] = Math.abs(weights[i]); // weights are exps: ≥ 0
        }
        acc = new float[dv];
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public float[] accumulate() {
        kernels.accumulate(weights, values, 0, m, acc);
        return acc;
    }
}
