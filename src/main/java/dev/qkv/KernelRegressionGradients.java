package dev.qkv;

import dev.qkv.kernel.KernelProvider;
import dev.qkv.kernel.Kernels;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;

/**
 * The gradients of Nadaraya–Watson pooling ({@link KernelRegression}) with respect to the queries and the width σ,
 * in double as the pooling itself, rounded to float at the end; the squared distances are the selected kernels' (as
 * {@link KernelRegression#pool} computes them), in float. For query q with uⱼ = ‖q − kⱼ‖/σ, Kⱼ = K(uⱼ),
 * Z = Σⱼ Kⱼ, wⱼ = Kⱼ/Z and L = dO·Σⱼ wⱼvⱼ:
 *
 * <pre>
 *   ∂L/∂Kⱼ = (gⱼ − D)/Z,   gⱼ = dO·vⱼ,  D = Σⱼ wⱼgⱼ
 *   ∂Kⱼ/∂q = K'(uⱼ)·(q − kⱼ)/(σ²uⱼ),   ∂Kⱼ/∂σ = −K'(uⱼ)·uⱼ/σ
 * </pre>
 *
 * with K'(u) = −u·K(u) for the Gaussian (so ∂Kⱼ/∂q = −Kⱼ(q − kⱼ)/σ², smooth at u = 0), −1 for the Epanechikov
 * kernel below u = 1 and 0 above it (and 0 at its cusp u = 0, a subgradient), 0 for the boxcar and constant kernels
 * (the boxcar's jump at u = 1 has no derivative; every other point has 0). The Gaussian's Kⱼ are taken relative to
 * the nearest key, as the pooling takes them, which cancels in wⱼ and in ∂L/∂Kⱼ·Kⱼ.
 */
final class KernelRegressionGradients {

    private KernelRegressionGradients() {}

    /** ∂L/∂queries in a new tensor of the queries' shape, and ∂L/∂σ. */
    static Gradients of(KernelRegression regression, Arena arena, Tensor queries, Tensor keys, Tensor values,
            Tensor gradOut) {
        SmoothingKernel kernel = regression.kernel();
        double sigma = regression.sigma();
        Tensor q = queries.asMatrix();
        Tensor dOut = gradOut.asMatrix();
        int n = q.rows();
        int m = keys.rows();
        int d = keys.cols();
        int dv = values.cols();
        Tensor dQueries = queries.rank() == 1 ? Tensor.allocate(arena, d) : Tensor.allocate(arena, n, d);
        Tensor dq = dQueries.asMatrix();
        double[] squared = new double[m];
        double[] k = new double[m];
        double[] g = new double[m];
        double[] row = new double[d];
        float[] rounded = new float[d];
        double dSigma = 0;
        Kernels kernels = KernelProvider.defaults();
        for (int i = 0; i < n; i++) {
            double nearest = Double.POSITIVE_INFINITY;
            for (int j = 0; j < m; j++) {
                squared[j] = kernels.squaredDistance(q.segment(), q.rowOffset(i), keys.segment(),
                        keys.rowOffset(j), d);
                nearest = Math.min(nearest, squared[j]);
            }
            double z = 0;
            for (int j = 0; j < m; j++) {
                k[j] = kernel == SmoothingKernel.GAUSSIAN
                        ? (squared[j] == nearest ? 1 : Math.exp(-(squared[j] - nearest) / (2 * sigma * sigma)))
                        : kernel.at(Math.sqrt(squared[j]) / sigma);
                z += k[j];
            }
            java.util.Arrays.fill(row, 0);
            if (z > 0) {
                double bigD = 0;
                for (int j = 0; j < m; j++) {
                    g[j] = 0;
                    for (int c = 0; c < dv; c++) {
                        g[j] += (double) dOut.get(i, c) * values.get(j, c);
                    }
                    bigD += k[j] / z * g[j];
                }
                for (int j = 0; j < m; j++) {
                    double dK = (g[j] - bigD) / z;
                    double u = Math.sqrt(squared[j]) / sigma;
                    // ∂Kⱼ/∂q = slope·(q − kⱼ), ∂Kⱼ/∂σ = −K'(u)·u/σ.
                    double slope;
                    double bySigma;
                    switch (kernel) {
                        case GAUSSIAN -> {
                            slope = -k[j] / (sigma * sigma);
                            bySigma = k[j] * u * u / sigma;
                        }
                        case EPANECHIKOV -> {
                            boolean inside = u > 0 && u < 1;
                            slope = inside ? -1 / (sigma * sigma * u) : 0;
                            bySigma = u < 1 ? u / sigma : 0;
                        }
                        default -> {
                            slope = 0;
                            bySigma = 0;
                        }
                    }
                    if (slope != 0) {
                        for (int l = 0; l < d; l++) {
                            row[l] += dK * slope * ((double) q.get(i, l) - keys.get(j, l));
                        }
                    }
                    dSigma += dK * bySigma;
                }
            }
            for (int l = 0; l < d; l++) {
                rounded[l] = (float) row[l];
            }
            dq.copyRowFrom(i, rounded);
        }
        return new Gradients(dQueries, null, null, Double.NaN, dSigma);
    }
}
