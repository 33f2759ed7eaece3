package dev.qkv;

import static dev.qkv.ErrorBounds.EXP_ERROR;
import static dev.qkv.ErrorBounds.EXP_ERROR_64;
import static dev.qkv.ErrorBounds.TINY;
import static dev.qkv.ErrorBounds.U;
import static dev.qkv.ErrorBounds.U64;
import static dev.qkv.ErrorBounds.gamma;

import dev.qkv.algorithm.Pooling;
import java.util.Arrays;

/**
 * Attention pooling of one query, computed in double from the float inputs the kernels get, with bounds on how far
 * a float kernel and this reference may each be from the exact result.
 *
 * <p>"Exact" is real arithmetic on the float inputs, with the scoring's factor f taken as the double
 * {@link Scoring#factor(int)}: σᵢ = f·qᵀkᵢ or −f·‖q − kᵢ‖², aᵢ = exp(σᵢ)/Σⱼ exp(σⱼ) over the L keys the query sees,
 * μ = Σᵢ aᵢvᵢ, and the log-sum-exp A = log Σⱼ exp(σⱼ). A kernel pools those keys by online softmax in B blocks in
 * all, within P pieces (shards of keys, pooled apart and merged two at a time in any order and tree shape, each
 * merge bringing both sides to the larger max): {@link Passes}. The derivation, in the terms of
 * {@link ErrorBounds}:
 *
 * <ol>
 *   <li>Scores. A kernel's score sᵢ is within ηᵢ = γ_{d+c}·|f|·Gᵢ of σᵢ. Dot scorings: Gᵢ = Σₗ|qₗkᵢₗ|, c = 2 (each
 *       product rounded once, or not at all in an FMA, and summed in d − 1 additions in any tree, then f rounded to
 *       float and multiplied). Gaussian: Gᵢ = ‖q − kᵢ‖², c = 4 (difference, its square: three roundings; d − 1
 *       additions; then f and the product). The reference's double scores are within the same count of double
 *       roundings.
 *   <li>Exponentials. What a kernel accumulates for key i is eᵢ = exp(sᵢ − M)(1 + ξᵢ), M the largest score, after
 *       at most R = B + P − 2 rescales on its way (one each time a later block raises the running max, one in each
 *       merge that lowers its side): |ξᵢ| ≤ (1 + EXP_ERROR)^{1+R}·exp(u·gᵢ) − 1, gᵢ = M − sᵢ. The exponents
 *       sᵢ − M₁, M₁ − M₂, … are each rounded once (relative u), share one sign and add up to sᵢ − M, so their errors
 *       add up to at most u·gᵢ. With the scores' errors, eᵢ ∝ aᵢ(1 + λᵢ), |λᵢ| ≤ exp(ηᵢ)(1 + ξᵢ) − 1: M and any
 *       factor common to all keys cancel when normalising.
 *   <li>Normalising exactly: ãᵢ = eᵢ/Σⱼeⱼ = aᵢ(1 + λᵢ)/(1 + λ̄), 1 + λ̄ = Σⱼaⱼ(1 + λⱼ), so |λ̄| ≤ Λ = Σⱼaⱼ|λⱼ|,
 *       |ãᵢ/aᵢ − 1| ≤ (1 + |λᵢ|)/(1 − Λ) − 1 and Σᵢ|ãᵢ − aᵢ||vᵢ| ≤ (Σᵢaᵢ|λᵢ||vᵢ| + Λ·Σᵢaᵢ|vᵢ|)/(1 − Λ). (Each lower
 *       side is no farther from 1 than the upper, as x + 1/x ≥ 2.)
 *   <li>Sums. Weights: S = Σeⱼ puts at most L − 1 roundings on each term, then fl(1/S) and fl(eᵢ·(1/S)) one each:
 *       wᵢ = ãᵢ(1 + ωᵢ), |ωᵢ| ≤ γ_{L+1}. Output: acc = Σeᵢvᵢ puts at most L + B roundings on each term within its
 *       piece (its product, its addition and the later ones, B − 1 rescales), S at most L + 2B − 2 (sums within the
 *       block, B additions to the running sum, B − 1 rescales), and each of the at most P − 1 merges on its way two
 *       more on either (a product and a sum); then fl(acc·fl(1/S)) two more:
 *       |out − Σãᵢvᵢ| ≤ γ_{2L+3B+4P−4}·Σãᵢ|vᵢ| ≤ γ_{2L+3B+4P−4}·maxᵢ|vᵢ|.
 *   <li>Underflow, where the relative model fails: at most 4L + 2B + 8P roundings (exps, products, the additions to
 *       acc and S, two per rescale, six per merge, the finish), each off by at most TINY·max(1, maxᵢ|vᵢ|) in the
 *       output, and two by TINY in a weight.
 *   <li>Log-sum-exp, fl(M + fl(log S)). By steps 2 and 4, S = exp(A − M)·(1 + ε), 1 + ε = Σⱼaⱼ(1 + λⱼ)(1 + φⱼ) with
 *       |φⱼ| ≤ γ_{L+2B+2P−4}, so |ε| ≤ E = Σⱼaⱼ((1 + |λⱼ|)(1 + γ_{L+2B+2P−4}) − 1), plus the underflow of step 5
 *       (S ≥ 1: the largest score's term is exp(0) = 1) and M + log S = A + log(1 + ε), off by at most −log(1 − E).
 *       |A − M| ≤ log L + max ηᵢ, so |log S| ≤ ℓ = log L + max ηᵢ − log(1 − E); Math.log and the rounding to float
 *       are off by at most 2u·ℓ, and the last addition by u·(|M| + (1 + 2u)·ℓ).
 * </ol>
 *
 * The same steps in double (γ with u = 2⁻⁵³, Math.exp and Math.log within one double ulp, one pass) bound this
 * reference. The exact aᵢ are unknown, so the bounds weigh with âᵢ ≥ aᵢ: this reference's weights divided by one
 * minus their own relative bound. The bounds are computed in double from at most some ten thousand non-negative
 * terms, which puts a relative error below 10⁻¹¹ on them; they are scaled up by 1 + 2⁻³⁰ to cover it.
 */
public final class Float64Reference {

    /**
     * Keys per block of the finest online softmax any path runs: the many-query tiles' 64 (the row kernels use
     * {@link dev.qkv.algorithm.Pooling#ROW_BLOCK}, 256). More blocks only widen the bounds, so counting in blocks of this
     * size covers every path.
     */
    public static final int FINEST_BLOCK = 64;

    private static final double SLACK = 1 + 0x1p-30;

    /** The reference weights, one per key; 0 for the keys the query does not see. */
    public final double[] weights;
    /** The reference output, one per value column. */
    public final double[] output;
    /** The reference log-sum-exp, −∞ when the query sees no key. */
    public final double logSumExp;
    /** |a kernel's weight − the reference weight| ≤ this, per key, for weights computed in one pass. */
    public final double[] weightBound;

    private final int seen;
    private final int dv;
    /** |vᵢⱼ| of the seen keys, row i at {@code i·dv}. */
    private final double[] vAbs;
    /** âᵢ ≥ aᵢ, ηᵢ and the gaps gᵢ of the seen keys. */
    private final double[] aHat;
    private final double[] etaF;
    private final double[] gap;
    /** Bounds |M| for a kernel's largest score M. */
    private final double maxScoreMagnitude;
    private final double[] referenceOutputError;
    private final double referenceLogSumExpError;

    private Float64Reference(int m, int dv, int seen, double logSumExp, double maxScoreMagnitude,
            double referenceLogSumExpError) {
        this.seen = seen;
        this.dv = dv;
        this.weights = new double[m];
        this.output = new double[dv];
        this.weightBound = new double[m];
        this.logSumExp = logSumExp;
        this.vAbs = new double[seen * dv];
        this.aHat = new double[seen];
        this.etaF = new double[seen];
        this.gap = new double[seen];
        this.maxScoreMagnitude = maxScoreMagnitude;
        this.referenceOutputError = new double[dv];
        this.referenceLogSumExpError = referenceLogSumExpError;
    }

    /**
     * The pooling of query {@code q} over the first {@code visible} of {@code keys} and {@code values} (all of them
     * if {@code visible ≥ m}) under {@code scoring}; {@code dv} is the values' width, needed when there are none.
     */
    public static Float64Reference of(Scoring scoring, float[] q, float[][] keys, float[][] values, int dv,
            int visible) {
        boolean[] sees = new boolean[keys.length];
        for (int j = 0; j < Math.min(visible, keys.length); j++) {
            sees[j] = true;
        }
        return of(scoring, q, keys, values, dv, sees);
    }

    /** The pooling of query {@code q} over the keys j with {@code sees[j]}, one entry per key. */
    public static Float64Reference of(Scoring scoring, float[] q, float[][] keys, float[][] values, int dv,
            boolean[] sees) {
        return of(scoring, q, keys, values, dv, sees, null);
    }

    /**
     * The pooling of query {@code q} over the keys j with {@code sees[j]} and a bias {@code bias[j]} other than −∞,
     * the bias added to their scores (null: none). The bias is a float given exactly: σⱼ = f·rⱼ + bⱼ in real
     * arithmetic; a kernel's score is fl(s + bⱼ) for its float s within η of f·rⱼ, so within
     * η + u·(|σⱼ| + η) of σⱼ (step 1 with one more rounding), and this reference's likewise with u = 2⁻⁵³.
     */
    public static Float64Reference of(Scoring scoring, float[] q, float[][] keys, float[][] values, int dv,
            boolean[] sees, float[] bias) {
        if (bias != null) {
            boolean[] visible = sees.clone();
            for (int j = 0; j < visible.length; j++) {
                visible[j] &= bias[j] != Float.NEGATIVE_INFINITY;
            }
            sees = visible;
        }
        int m = keys.length;
        int d = q.length;
        int seen = 0;
        for (boolean s : sees) {
            seen += s ? 1 : 0;
        }
        int[] index = new int[seen];
        for (int j = 0, at = 0; j < m; j++) {
            if (sees[j]) {
                index[at++] = j;
            }
        }
        if (seen == 0) {
            return new Float64Reference(m, dv, 0, Double.NEGATIVE_INFINITY, 0, 0); // weights 0, output 0, exactly
        }
        double f = scoring.factor(d);
        boolean gaussian = scoring.isGaussian();
        int scoreRoundings = d + (gaussian ? 4 : 2);

        // 1. Scores, and how far the kernel's (etaF) and this reference's (eta64) may be from the exact ones.
        double[] sigma = new double[seen];
        double[] etaF = new double[seen];
        double[] eta64 = new double[seen];
        for (int i = 0; i < seen; i++) {
            float[] key = keys[index[i]];
            double sum = 0;
            double size = 0;
            for (int l = 0; l < d; l++) {
                if (gaussian) {
                    double diff = (double) q[l] - key[l];
                    sum += diff * diff;
                    size += diff * diff;
                } else {
                    double product = (double) q[l] * key[l];
                    sum += product;
                    size += Math.abs(product);
                }
            }
            sigma[i] = gaussian ? -f * sum : f * sum;
            etaF[i] = gamma(scoreRoundings, U) * Math.abs(f) * size;
            eta64[i] = gamma(scoreRoundings, U64) * Math.abs(f) * size;
            if (bias != null) {
                sigma[i] += bias[index[i]];
                etaF[i] += U * (Math.abs(sigma[i]) + etaF[i]);
                eta64[i] += U64 * (Math.abs(sigma[i]) + eta64[i]);
            }
        }
        double max = max(sigma);
        double etaFMax = max(etaF);
        double eta64Max = max(eta64);

        // The reference: max-subtracted softmax and pooling in double, and log-sum-exp.
        double[] e = new double[seen];
        double sumE = 0;
        for (int i = 0; i < seen; i++) {
            e[i] = Math.exp(sigma[i] - max);
            sumE += e[i];
        }
        double logSumExp = max + Math.log(sumE);

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
            aHat[i] = e[i] / sumE / (1 - rho64[i]) + 0x1p-1000; // + what Math.exp may have flushed to 0
        }

        // This reference's log-sum-exp, step 6 in double: one pass, L − 1 additions, Math.log, one addition.
        double e64 = seen * 0x1p-1000;
        for (int i = 0; i < seen; i++) {
            e64 += aHat[i] * ((1 + lambda64[i]) * (1 + gamma(seen, U64)) - 1);
        }
        double ell64 = Math.log(seen) + eta64Max - Math.log1p(-e64);
        double referenceLse = -Math.log1p(-e64) + 2 * U64 * ell64 + U64 * (Math.abs(max) + (1 + 2 * U64) * ell64);

        Float64Reference r = new Float64Reference(m, dv, seen, logSumExp, Math.abs(max) + eta64Max, referenceLse);
        System.arraycopy(aHat, 0, r.aHat, 0, seen);
        System.arraycopy(etaF, 0, r.etaF, 0, seen);
        System.arraycopy(gap, 0, r.gap, 0, seen);
        for (int i = 0; i < seen; i++) {
            r.weights[index[i]] = e[i] / sumE;
            for (int j = 0; j < dv; j++) {
                r.output[j] += r.weights[index[i]] * values[index[i]][j];
                r.vAbs[i * dv + j] = Math.abs(values[index[i]][j]);
            }
        }

        // Weights, computed in one pass over the keys (no rescale): R = 0.
        double[] lambda0 = lambdas(etaF, gap, 0);
        double bigLambda0 = bigLambda(aHat, lambda0);
        for (int i = 0; i < seen; i++) {
            double kernel = aHat[i] * ((1 + lambda0[i]) * (1 + gamma(seen + 1)) / (1 - bigLambda0) - 1) + 2 * TINY;
            r.weightBound[index[i]] = SLACK * (kernel + aHat[i] * rho64[i]);
        }

        // This reference's output: its weights' errors, and the sum in double.
        for (int j = 0; j < dv; j++) {
            double weightedRho = 0;
            double weightedRef = 0;
            for (int i = 0; i < seen; i++) {
                double v = r.vAbs[i * dv + j];
                weightedRho += aHat[i] * rho64[i] * v;
                weightedRef += r.weights[index[i]] * v;
            }
            r.referenceOutputError[j] = weightedRho + gamma(seen, U64) * weightedRef + 0x1p-1000;
        }
        return r;
    }

    /** |a kernel's output − the reference output| ≤ this, per column, for a kernel that pooled in {@code passes}. */
    public double[] outputBound(Passes passes) {
        double[] bound = kernelOutputBound(passes);
        for (int j = 0; j < dv; j++) {
            bound[j] += SLACK * referenceOutputError[j];
        }
        return bound;
    }

    /** |a kernel's output − the exact output| ≤ this, per column: the kernel's share of {@link #outputBound}. */
    public double[] kernelOutputBound(Passes passes) {
        double[] bound = new double[dv];
        if (seen == 0) {
            return bound;
        }
        int blocks = passes.blocks();
        int pieces = passes.pieces();
        double[] lambda = lambdas(etaF, gap, blocks + pieces - 2);
        double bigLambda = bigLambda(aHat, lambda);
        for (int j = 0; j < dv; j++) {
            double vMax = 0;
            double weighted = 0;
            double weightedLambda = 0;
            for (int i = 0; i < seen; i++) {
                double v = vAbs[i * dv + j];
                vMax = Math.max(vMax, v);
                weighted += aHat[i] * v;
                weightedLambda += aHat[i] * lambda[i] * v;
            }
            double kernel = (weightedLambda + bigLambda * weighted) / (1 - bigLambda)
                    + gamma(2 * seen + 3 * blocks + 4 * pieces - 4) * vMax
                    + (4.0 * seen + 2 * blocks + 8 * pieces) * TINY * Math.max(1, vMax);
            bound[j] = SLACK * kernel;
        }
        return bound;
    }

    /** |a kernel's log-sum-exp − the reference's| ≤ this, for a kernel that pooled in {@code passes}. */
    public double logSumExpBound(Passes passes) {
        return kernelLogSumExpBound(passes) + SLACK * referenceLogSumExpError;
    }

    /** |a kernel's log-sum-exp − the exact A| ≤ this: the kernel's share of {@link #logSumExpBound}. */
    public double kernelLogSumExpBound(Passes passes) {
        if (seen == 0) {
            return 0; // −∞ exactly
        }
        int blocks = passes.blocks();
        int pieces = passes.pieces();
        double[] lambda = lambdas(etaF, gap, blocks + pieces - 2);
        double sumRoundings = gamma(seen + 2 * blocks + 2 * pieces - 4);
        double e = (4.0 * seen + 2 * blocks + 8 * pieces) * TINY;
        for (int i = 0; i < seen; i++) {
            e += aHat[i] * ((1 + lambda[i]) * (1 + sumRoundings) - 1);
        }
        if (!(e < 0.5)) {
            throw new IllegalStateException("the scores are too large for the bound: E = " + e);
        }
        double etaFMax = max(etaF);
        double ell = Math.log(seen) + etaFMax - Math.log1p(-e);
        return SLACK * (-Math.log1p(-e) + 2 * U * ell + U * (maxScoreMagnitude + etaFMax + (1 + 2 * U) * ell));
    }

    /**
     * How a kernel pooled the keys a query sees: in {@code blocks} blocks of online softmax in all, within
     * {@code pieces} pieces pooled apart and merged.
     */
    public record Passes(int blocks, int pieces) {

        /**
         * One call of {@link Attention#pool} or {@link Attention#partial} over keys {@code [from, to)}, of which the
         * query sees those with {@code sees[j]}: the call cuts its keys into shards of {@link Pooling#SHARD} (the
         * pieces), and pools each run of seen keys within a shard in blocks of at most {@link #FINEST_BLOCK}.
         */
        public static Passes of(boolean[] sees, int from, int to) {
            int blocks = 0;
            int pieces = 0;
            for (int shard = from; shard < to; shard += Pooling.SHARD) {
                int end = Math.min(to, shard + Pooling.SHARD);
                int shardBlocks = 0;
                for (int j = shard; j < end; ) {
                    while (j < end && !sees[j]) {
                        j++;
                    }
                    int run = j;
                    while (j < end && sees[j]) {
                        j++;
                    }
                    shardBlocks += (j - run + FINEST_BLOCK - 1) / FINEST_BLOCK;
                }
                blocks += shardBlocks;
                pieces += shardBlocks > 0 ? 1 : 0;
            }
            return new Passes(blocks, pieces);
        }

        /** One call over the first {@code seen} keys. */
        public static Passes prefix(int seen) {
            boolean[] sees = new boolean[seen];
            Arrays.fill(sees, true);
            return of(sees, 0, seen);
        }

        /** The passes of two sets of pieces merged. */
        public Passes plus(Passes other) {
            return new Passes(blocks + other.blocks, pieces + other.pieces);
        }
    }

    /** λᵢ of step 2 for a kernel that rescales {@code rescales} times. */
    private static double[] lambdas(double[] etaF, double[] gap, int rescales) {
        double[] lambda = new double[etaF.length];
        for (int i = 0; i < etaF.length; i++) {
            lambda[i] = Math.exp(etaF[i]) * Math.pow(1 + EXP_ERROR, 1 + Math.max(0, rescales)) * Math.exp(U * gap[i])
                    - 1;
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
