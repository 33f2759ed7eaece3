package dev.qkv;

import dev.qkv.algorithm.Pooling;
import dev.qkv.algorithm.Rows;
import dev.qkv.algorithm.Softmax;
import dev.qkv.algorithm.Visibility;
import dev.qkv.algorithm.Workers;
import dev.qkv.kernel.KernelProvider;
import dev.qkv.kernel.Kernels;
import dev.qkv.kernel.Score;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Objects;

/**
 * Nadaraya–Watson kernel regression, attention pooling by normalised kernel weights instead of a softmax:
 * for each query q,
 *
 * <pre>
 *   wᵢ = K(‖q − kᵢ‖ / σ) / Σⱼ K(‖q − kⱼ‖ / σ),   out(q) = Σᵢ wᵢ vᵢ
 * </pre>
 *
 * with a {@link SmoothingKernel} K and a width σ. The distance is Euclidean, so keys and queries may have any
 * dimension d. A query whose kernel values are all 0 (every key at σ or farther under the boxcar or the
 * Epanechikov kernel, or m = 0) gets weights 0 and output 0, as {@link Attention} gives a query with no key
 * left.
 *
 * <p>The Gaussian weights {@code exp(−‖q − kᵢ‖²/(2σ²))} normalised are exactly the softmax of the scores
 * {@code −‖q − kᵢ‖²/(2σ²)}, so the Gaussian form is {@link Attention} with {@link Scoring#gaussian(double)
 * Scoring.gaussian(σ)}, up to rounding. They are computed relative to the nearest key, as that softmax is
 * relative to the largest score, so they never all underflow to 0: a query far from every key still gets
 * the values of the nearest keys.
 *
 * <p>Shapes are those of {@link Attention}: queries n×d (or a single query (d,)), keys m×d, values m×dv; the
 * output n×dv (or (dv,)), the weights n×m (or (m,)). Squared distances are computed in float by the selected
 * kernels (vector or scalar, as for {@link Attention}); the Gaussian's weights and output are those of softmax
 * attention with {@code Scoring.gaussian(σ)}, computed by the same code; the other kernels' values and their sum are
 * taken in double, and the weights rounded to float.
 *
 * <p>Immutable and thread-safe. Every method checks its arguments, including that they are finite, and
 * throws {@link IllegalArgumentException} naming the offending shapes or value, or
 * {@link IllegalStateException} for a tensor whose arena is closed, before writing anything.
 *
 * @param kernel the kernel K
 * @param sigma the width σ, finite and positive
 */
public record KernelRegression(SmoothingKernel kernel, double sigma) {

    /**
     * Regression with kernel K and width σ.
     *
     * @throws IllegalArgumentException if sigma is not finite and positive, or so small that 1/(2σ²) does not fit
     *     in a float
     */
    public KernelRegression {
        Objects.requireNonNull(kernel, "kernel");
        if (!(sigma > 0) || !Double.isFinite(sigma)) {
            throw new IllegalArgumentException("sigma must be finite and > 0, got " + sigma);
        }
        if (1 / (2 * sigma * sigma) > Float.MAX_VALUE) {
            throw new IllegalArgumentException("sigma " + sigma + " is too small: 1/(2σ²) does not fit in a float");
        }
    }

    /** The normalised kernel weights, n×m (or (m,)), in a new tensor owned by {@code arena}. */
    public Tensor weights(Arena arena, Tensor queries, Tensor keys) {
        checkQueriesAndKeys(queries, keys);
        int m = keys.rows();
        Tensor weights = queries.rank() == 1 ? Tensor.allocate(arena, m) : Tensor.allocate(arena, queries.rows(), m);
        Tensor q = queries.asMatrix();
        Tensor w = weights.asMatrix();
        Kernels kernels = KernelProvider.defaults();
        float[] row = new float[m];
        double[] values = new double[m];
        for (int i = 0; i < q.rows(); i++) {
            weights(kernels, q, i, keys, row, values);
            w.copyRowFrom(i, row);
        }
        return weights;
    }

    /** The pooled output {@code Σᵢ wᵢ vᵢ}, n×dv (or (dv,)), in a new tensor owned by {@code arena}. */
    public Tensor pool(Arena arena, Tensor queries, Tensor keys, Tensor values) {
        Objects.requireNonNull(values, "values");
        checkQueriesAndKeys(queries, keys);
        Checks.values(keys, values);
        Checks.finite("values", values, null);
        int m = keys.rows();
        int dv = values.cols();
        Tensor out = queries.rank() == 1 ? Tensor.allocate(arena, dv) : Tensor.allocate(arena, queries.rows(), dv);
        Tensor q = queries.asMatrix();
        Tensor o = out.asMatrix();
        Kernels kernels = KernelProvider.defaults();
        float[] row = new float[dv];
        if (kernel == SmoothingKernel.GAUSSIAN) {
            Rows rows = Pooling.pool(kernels, gaussian(), q, keys, values, Visibility.all(q.rows(), m), Workers.SERIAL);
            for (int i = 0; i < q.rows(); i++) {
                rows.finish(i, row);
                o.copyRowFrom(i, row);
            }
            return out;
        }
        float[] weights = new float[m];
        double[] kernelValues = new double[m];
        for (int i = 0; i < q.rows(); i++) {
            weights(kernels, q, i, keys, weights, kernelValues);
            Arrays.fill(row, 0f);
            kernels.accumulate(weights, values, 0, m, row);
            o.copyRowFrom(i, row);
        }
        return out;
    }

    /**
     * The gradients of {@code L = Σ gradOut∘pool(queries, keys, values)} with respect to the queries and the width
     * σ: {@link Gradients#queries()} (a new tensor owned by {@code arena}, of the queries' shape) and
     * {@link Gradients#sigma()}; the keys' and values' gradients are not computed (null), the factor's is NaN.
     * {@code gradOut} has the output's shape. See {@code KernelRegressionGradients} for the derivatives used where a
     * kernel has none (the boxcar's jump, the Epanechikov cusp).
     */
    public Gradients gradients(Arena arena, Tensor queries, Tensor keys, Tensor values, Tensor gradOut) {
        Objects.requireNonNull(values, "values");
        Objects.requireNonNull(gradOut, "gradOut");
        checkQueriesAndKeys(queries, keys);
        Checks.values(keys, values);
        Checks.finite("values", values, null);
        Checks.alive("gradOut", gradOut);
        if (gradOut.rows() != queries.rows() || gradOut.cols() != values.cols()) {
            throw new IllegalArgumentException("gradient of the output has shape " + gradOut.shapeString()
                    + ", expected (" + queries.rows() + ", " + values.cols() + ")");
        }
        Checks.finite("gradOut", gradOut, null);
        return KernelRegressionGradients.of(this, arena, queries, keys, values, gradOut);
    }

    /** {@code −‖q − k‖²/(2σ²)}: the Gaussian kernel's softmax scores. */
    private Score gaussian() {
        return Score.negativeSquaredDistance((float) (1 / (2 * sigma * sigma)));
    }

    /**
     * Query i's normalised weights over every key, into {@code w}: all 0 if every kernel value is 0. The Gaussian's
     * are the softmax of its scores, max-subtracted ({@link Softmax#weights}), so they never all underflow: a query
     * far from every key still gets the nearest keys' values. The other kernels' values are taken in double
     * ({@code kernelValues}) at the distances the kernels compute, and divided by their sum.
     */
    private void weights(Kernels kernels, Tensor queries, int i, Tensor keys, float[] w, double[] kernelValues) {
        int m = keys.rows();
        if (kernel == SmoothingKernel.GAUSSIAN) {
            kernels.scores(gaussian(), queries, i, keys, 0, m, w);
            Softmax.weights(kernels, w, 0, m);
            return;
        }
        kernels.scores(Score.negativeSquaredDistance(1f), queries, i, keys, 0, m, w);
        double sum = 0;
        for (int j = 0; j < m; j++) {
            kernelValues[j] = kernel.at(Math.sqrt(-w[j]) / sigma);
            sum += kernelValues[j];
        }
        for (int j = 0; j < m; j++) {
            w[j] = sum == 0 ? 0f : (float) (kernelValues[j] / sum);
        }
    }

    private static void checkQueriesAndKeys(Tensor queries, Tensor keys) {
        Objects.requireNonNull(queries, "queries");
        Objects.requireNonNull(keys, "keys");
        Checks.queriesAndKeys(queries, keys);
        Checks.finite("queries", queries, null);
        Checks.finite("keys", keys, null);
    }
}
