package dev.qkv;

import dev.qkv.kernel.ScalarKernels;
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
 * output n×dv (or (dv,)), the weights n×m (or (m,)). Squared distances are computed in float by the scalar
 * kernels, the weights and their sums in double, and the results rounded to float. This is the readable
 * form, not a fast one: it makes a pass over the keys per query.
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
     * @throws IllegalArgumentException if sigma is not finite and positive
     */
    public KernelRegression {
        Objects.requireNonNull(kernel, "kernel");
        if (!(sigma > 0) || !Double.isFinite(sigma)) {
            throw new IllegalArgumentException("sigma must be finite and > 0, got " + sigma);
        }
    }

    /** The normalised kernel weights, n×m (or (m,)), in a new tensor owned by {@code arena}. */
    public Tensor weights(Arena arena, Tensor queries, Tensor keys) {
        checkQueriesAndKeys(queries, keys);
        int m = keys.rows();
        Tensor weights = queries.rank() == 1 ? Tensor.allocate(arena, m) : Tensor.allocate(arena, queries.rows(), m);
        Tensor q = queries.asMatrix();
        Tensor w = weights.asMatrix();
        double[] row = new double[m];
        float[] rounded = new float[m];
        for (int i = 0; i < q.rows(); i++) {
            weights(q, i, keys, row);
            for (int j = 0; j < m; j++) {
                rounded[j] = (float) row[j];
            }
            w.copyRowFrom(i, rounded);
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
        double[] row = new double[m];
        double[] acc = new double[dv];
        float[] rounded = new float[dv];
        for (int i = 0; i < q.rows(); i++) {
            weights(q, i, keys, row);
            Arrays.fill(acc, 0);
            for (int j = 0; j < m; j++) {
                for (int c = 0; c < dv; c++) {
                    acc[c] += row[j] * values.get(j, c);
                }
            }
            for (int c = 0; c < dv; c++) {
                rounded[c] = (float) acc[c];
            }
            o.copyRowFrom(i, rounded);
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

    /** Query i's normalised weights over every key, into {@code w}: all 0 if every kernel value is 0. */
    private void weights(Tensor queries, int i, Tensor keys, double[] w) {
        int m = keys.rows();
        int d = keys.cols();
        double nearest = Double.POSITIVE_INFINITY;
        for (int j = 0; j < m; j++) {
            w[j] = ScalarKernels.INSTANCE.squaredDistance(queries.segment(), queries.rowOffset(i), keys.segment(),
                    keys.rowOffset(j), d);
            nearest = Math.min(nearest, w[j]);
        }
        double sum = 0;
        for (int j = 0; j < m; j++) {
            double squared = w[j];
            if (kernel == SmoothingKernel.GAUSSIAN) {
                // K(u)/K(u_nearest): exactly 1 for the nearest keys, with no ∞ − ∞ when distances overflow.
                w[j] = squared == nearest ? 1 : Math.exp(-(squared - nearest) / (2 * sigma * sigma));
            } else {
                w[j] = kernel.at(Math.sqrt(squared) / sigma);
            }
            sum += w[j];
        }
        if (sum == 0) {
            return;
        }
        for (int j = 0; j < m; j++) {
            w[j] /= sum;
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
