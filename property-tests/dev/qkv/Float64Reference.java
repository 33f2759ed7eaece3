package dev.qkv;

import static dev.qkv.ErrorBounds.EXP_ERROR;
import static dev.qkv.ErrorBounds.EXP_ERROR_64;
import static dev.qkv.ErrorBounds.TINY;
import static dev.qkv.ErrorBounds.U;
import static dev.qkv.ErrorBounds.U64;
import static dev.qkv.ErrorBounds.gamma;

import dev.qkv.kernel.Kernels;

/**
 * Attention pooling of one query, computed in double from the float inputs the kernels get, with bounds on how far
 * a float kernel and this reference may each be from the exact result.
 *
 * <p>"Exact" is real arithmetic on the float inputs, with the scoring's factor f taken as the double
 * {@link Scoring#factor(int)}: σᵢ = f·qᵀkᵢ or −f·‖q − kᵢ‖², aᵢ = exp(σᵢ)/Σⱼ exp(σⱼ) over the L keys the query sees,
 * μ = Σᵢ aᵢvᵢ. The derivation, in the terms of {@link ErrorBounds}:
 *
 * <ol>
 *   <li>Scores. A kernel's score sᵢ is within ηᵢ = γ_{d+c}·|f|·Gᵢ of σᵢ. Dot scorings: Gᵢ = Σₗ|qₗkᵢₗ|, c = 2 (each
 *       product rounded once and summed in d − 1 additions, then f rounded to float and multiplied). Gaussian:
 *       Gᵢ = ‖q − kᵢ‖², c = 4 (difference, its square: three roundings; d − 1 additions; then f and the product).
 *       The reference's double scores are within the same count of double roundings.
 *   <li>Exponentials. What a kernel accumulates for key i is eᵢ = exp(sᵢ − M)(1 + ξᵢ), M the largest score, after
 *       the R ≤ ⌈L/BLOCK⌉ − 1 rescales of online softmax (each time a block raises the running max):
 *       |ξᵢ| ≤ (1 + EXP_ERROR)^{1+R}·exp(u·gᵢ) − 1, gᵢ = M − sᵢ. The exponents sᵢ − M₁, M₁ − M₂, … are each
 *       rounded once (relative u), share one sign and add up to sᵢ − M, so their errors add up to at most u·gᵢ.
 *       With the scores' errors, eᵢ ∝ aᵢ(1 + λᵢ), |λᵢ| ≤ exp(ηᵢ)(1 + ξᵢ) − 1: M and any factor common to all keys
 *       cancel when normalising.
 *   <li>Normalising exactly: ãᵢ = eᵢ/Σⱼeⱼ = aᵢ(1 + λᵢ)/(1 + λ̄), 1 + λ̄ = Σⱼaⱼ(1 + λⱼ), so |λ̄| ≤ Λ = Σⱼaⱼ|λⱼ|,
 *       |ãᵢ/aᵢ − 1| ≤ (1 + |λᵢ|)/(1 − Λ) − 1 and Σᵢ|ãᵢ − aᵢ||vᵢ| ≤ (Σᵢaᵢ|λᵢ||vᵢ| + Λ·Σᵢaᵢ|vᵢ|)/(1 − Λ). (Each lower
 *       side is no farther from 1 than the upper, as x + 1/x ≥ 2.)
 *   <li>Sums. Weights: S = Σeⱼ puts at most L − 1 roundings on each term, then fl(1/S) and fl(eᵢ·(1/S)) one each:
 *       wᵢ = ãᵢ(1 + ωᵢ), |ωᵢ| ≤ γ_{L+1}. Output, over B = ⌈L/BLOCK⌉ blocks: acc = Σeᵢvᵢ puts at most L + B roundings
 *       on each term (its product, its addition and the later ones, B − 1 rescales), S at most L + 2B − 2 (sums
 *       within the block, B additions to the running sum, B − 1 rescales), then fl(acc·fl(1/S)) two more:
 *       |out − Σãᵢvᵢ| ≤ γ_{2L+3B}·Σãᵢ|vᵢ| ≤ γ_{2L+3B}·maxᵢ|vᵢ|.
 *   <li>Underflow, where the relative model fails: at most 4L + 4 roundings, each off by at most
 *       TINY·max(1, maxᵢ|vᵢ|) in the output, and two by TINY in a weight.
 * </ol>
 *
 * The same steps in double (γ with u = 2⁻⁵³, Math.exp within one double ulp, no blocks) bound this reference. The
 * exact aᵢ are unknown, so the bounds weigh with âᵢ ≥ aᵢ: this reference's weights divided by one minus their own
 * relative bound. The bounds are computed in double from a few hundred non-negative terms, which puts a relative
 * error below 10⁻¹³ on them; they are scaled up by 1 + 2⁻³⁰ to cover it.
 */
final class Float64Reference {

    private static final double SLACK = 1 + 0x1p-30;

    /** The reference weights, one per key; 0 for the keys the query does not see. */
    final double[] weights;
    /** The reference output, one per value column. */
    final double[] output;
    /** |a kernel's weight − the reference weight| ≤ this, per key. */
    final double[] weightBound;
    /** |a kernel's output − the reference output| ≤ this, per column. */
    final double[] outputBound;
    /** |a kernel's output − the exact output| ≤ this, per column: the kernel's share of {@link #outputBound}. */
    final double[] kernelOutputBound;

    private Float64Reference(int m, int dv) {
        weights = new double[m];
        output = new double[dv];
        weightBound = new double[m];
        outputBound = new double[dv];
        kernelOutputBound = new double[dv];
    }

    /**
     * The pooling of query {@code q} over the first {@code visible} of {@code keys} and {@code values} (all of them
     * if {@code visible ≥ m}) under {@code scoring}; {@code dv} is the values' width, needed when there are none.
     */
    static Float64Reference of(Scoring scoring, float[] q, float[][] keys, float[][] values, int dv, int visible) {
        int m = keys.length;
        int d = q.length;
        int seen = Math.min(visible, m);
        Float64Reference r = new Float64Reference(m, dv);
        if (seen == 0) {
            return r; // no key left: weights 0, output 0, exactly
        }
        double f = scoring.factor(d);
        boolean gaussian = scoring.isGaussian();
        int scoreRoundings = d + (gaussian ? 4 : 2);

        // 1. Scores, and how far the kernel's (etaF) and this reference's (eta64) may be from the exact ones.
        double[] sigma = new double[seen];
        double[] etaF = new double[seen];
        double[] eta64 = new double[seen];
        for (int i = 0; i < seen; i++) {
            double sum = 0;
            double size = 0;
            for (int l = 0; l < d; l++) {
                if (gaussian) {
                    double diff = (double) q[l] - keys[i][l];
                    sum += diff * diff;
                    size += diff * diff;
                } else {
                    double product = (double) q[l] * keys[i][l];
                    sum += product;
                    size += Math.abs(product);
                }
            }
            sigma[i] = gaussian ? -f * sum : f * sum;
            etaF[i] = gamma(scoreRoundings, U) * Math.abs(f) * size;
            eta64[i] = gamma(scoreRoundings, U64) * Math.abs(f) * size;
        }
        double max = max(sigma);
        double etaFMax = max(etaF);
        double eta64Max = max(eta64);

        // The reference: max-subtracted softmax and pooling in double.
        double sumE = 0;
        for (int i = 0; i < seen; i++) {
            r.weights[i] = Math.exp(sigma[i] - max);
            sumE += r.weights[i];
        }
        for (int i = 0; i < seen; i++) {
            r.weights[i] /= sumE;
        }
        for (int i = 0; i < seen; i++) {
            for (int j = 0; j < dv; j++) {
                r.output[j] += r.weights[i] * values[i][j];
            }
        }

        // 2. Exponentials: gap[i] bounds M − sᵢ of the kernel and of this reference alike.
        double[] gap = new double[seen];
        for (int i = 0; i < seen; i++) {
            gap[i] = (max - sigma[i]) + eta64[i] + eta64Max + etaF[i] + etaFMax;
        }

        // This reference's own relative weight error rho64 (steps 1 to 4 in double; Λ bounded by the largest λ),
        // and âᵢ ≥ aᵢ.
        double[] lambda64 = new double[seen];
        for (int i = 0; i < seen; i++) {
            lambda64[i] = Math.exp(eta64[i]) * (1 + EXP_ERROR_64) * Math.exp(U64 * gap[i]) - 1;
        }
        double bigLambda64 = max(lambda64);
        double[] rho64 = new double[seen];
        double[] aHat = new double[seen];
        for (int i = 0; i < seen; i++) {
            rho64[i] = (1 + lambda64[i]) * (1 + gamma(seen + 1, U64)) / (1 - bigLambda64) - 1;
            aHat[i] = r.weights[i] / (1 - rho64[i]) + 0x1p-1000; // + what Math.exp may have flushed to 0
        }

        // Weights, computed in one pass over the keys (no rescale): R = 0.
        double[] lambda0 = lambdas(etaF, gap, 0);
        double bigLambda0 = bigLambda(aHat, lambda0);
        for (int i = 0; i < seen; i++) {
            double kernel = aHat[i] * ((1 + lambda0[i]) * (1 + gamma(seen + 1)) / (1 - bigLambda0) - 1) + 2 * TINY;
            r.weightBound[i] = SLACK * (kernel + aHat[i] * rho64[i]);
        }

        // Output, pooled block by block.
        int blocks = (seen + Kernels.BLOCK - 1) / Kernels.BLOCK;
        double[] lambda = lambdas(etaF, gap, blocks - 1);
        double bigLambda = bigLambda(aHat, lambda);
        for (int j = 0; j < dv; j++) {
            double vMax = 0;
            double weighted = 0;
            double weightedLambda = 0;
            double weightedRho = 0;
            double weightedRef = 0;
            for (int i = 0; i < seen; i++) {
                double v = Math.abs(values[i][j]);
                vMax = Math.max(vMax, v);
                weighted += aHat[i] * v;
                weightedLambda += aHat[i] * lambda[i] * v;
                weightedRho += aHat[i] * rho64[i] * v;
                weightedRef += r.weights[i] * v;
            }
            double kernel = (weightedLambda + bigLambda * weighted) / (1 - bigLambda)
                    + gamma(2 * seen + 3 * blocks) * vMax
                    + (4.0 * seen + 4) * TINY * Math.max(1, vMax);
            double reference = weightedRho + gamma(seen, U64) * weightedRef + 0x1p-1000;
            r.kernelOutputBound[j] = SLACK * kernel;
            r.outputBound[j] = SLACK * (kernel + reference);
        }
        return r;
    }

    /** λᵢ of step 2 for a kernel that rescales {@code rescales} times. */
    private static double[] lambdas(double[] etaF, double[] gap, int rescales) {
        double[] lambda = new double[etaF.length];
        for (int i = 0; i < etaF.length; i++) {
            lambda[i] = Math.exp(etaF[i]) * Math.pow(1 + EXP_ERROR, 1 + rescales) * Math.exp(U * gap[i]) - 1;
        }
        return lambda;
    }

    /** Λ = Σᵢ âᵢλᵢ of step 3; the bounds mean nothing unless it is well below 1. */
    private static double bigLambda(double[] aHat, double[] lambda) {
        double sum = 0;
        for (int i = 0; i < aHat.length; i++) {
            sum += aHat[i] * lambda[i];
        }
        if (!(sum < 0.5)) {
            throw new IllegalStateException("the scores are too large for the bound: Λ = " + sum);
        }
        return sum;
    }

    private static double max(double[] x) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : x) {
            max = Math.max(max, v);
        }
        return max;
    }
}
