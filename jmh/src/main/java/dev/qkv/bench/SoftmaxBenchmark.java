package dev.qkv.bench;

import dev.qkv.kernel.Kernels;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The softmax of m scores with the kernels' three steps: {@code max}, {@code expAndSum} (exp of each score
 * minus the max, in place) and {@code scale} by 1/sum. The steps work in place, so each operation first
 * copies the m original scores back (an {@code arraycopy}, a small part of the time next to m exps), so
 * every exp sees the same spread of inputs, [−40, 0], rather than the [−1, 0] that softmax would feed
 * itself on a second pass.
 */
@State(Scope.Thread)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class SoftmaxBenchmark extends QkvBenchmark {

    @Param({"1024", "65536"})
    int m;

    @Param({"scalar", "vector"})
    String kernel;

    private Kernels kernels;
    private float[] scores;
    private float[] weights;

    @Setup
    public void setUp() {
        kernels = kernels(kernel);
        scores = Inputs.uniform(m, 3);
        for (int i = 0; i < m; i++) {
            scores[i] *= 20f; // scores over [−20, 20): weights from 1 down to e^−40 ≈ 4·10⁻¹⁸
        }
        weights = new float[m];
    }

    @Benchmark
    public float softmax() {
        System.arraycopy(scores, 0, weights, 0, m);
        float max = kernels.max(weights, 0, m);
        float sum = kernels.expAndSum(weights, 0, m, max);
        kernels.scale(weights, 0, m, 1f / sum);
        return sum;
    }
}
