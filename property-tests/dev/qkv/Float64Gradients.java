package dev.qkv;

import static dev.qkv.ErrorBounds.EXP_ERROR;
import static dev.qkv.ErrorBounds.EXP_ERROR_64;
import static dev.qkv.ErrorBounds.TINY;
import static dev.qkv.ErrorBounds.U;
import static dev.qkv.ErrorBounds.U64;
import static dev.qkv.ErrorBounds.gamma;

import java.util.function.IntToDoubleFunction;

/**
 * The gradients of {@code L = Σᵢ dOᵢ·outᵢ} (an upstream gradient dO on attention pooling's output) with respect to
 * the queries, keys, values and the scoring's factor f, computed in double, with bounds on how far a float backward
 * pass and this reference may each be from the exact gradients, and on how far a central finite difference of this
 * reference's L may be from the exact derivative.
 *
 * <p>"Exact" is real arithmetic on the inputs given (float inputs are exact in double), with the factor f the double
 * {@link Scoring#factor(int)}. For query i and the L keys j it sees: σⱼ = f·rⱼ with rⱼ = qᵀkⱼ (dot scorings) or
 * −‖q − kⱼ‖² (Gaussian), A = log Σⱼ exp σⱼ, pⱼ = exp(σⱼ − A), o = Σⱼ pⱼvⱼ, gⱼ = dO·vⱼ, D = dO·o, tⱼ = gⱼ − D,
 * dSⱼ = pⱼtⱼ (FlashAttention-2's dS = P∘(dP − D)). Then dVⱼ += pⱼ·dO, dQ = c·Σⱼ dSⱼ·∂ⱼ, dKⱼ += c·dSⱼ·∂'ⱼ,
 * ∂L/∂f += Σⱼ dSⱼ rⱼ, with c = f, ∂ⱼ = kⱼ, ∂'ⱼ = q for the dot scorings and c = 2f, ∂ⱼ = kⱼ − q, ∂'ⱼ = q − kⱼ for
 * the Gaussian. A backward pass is taken to compute the same quantities in float, in any order of summation, with
 * the forward's float output Õ and log-sum-exp L̃, and to compute ∂L/∂f in double from float dS̃ and raw scores r̃.
 * The derivation, in the terms of {@link ErrorBounds} (u the unit roundoff of the arithmetic in question, γ with it):
 *
 * <ol>
 *   <li>Weights. p̃ⱼ = exp(fl(s̃ⱼ − L̃))(1 + ε), |ε| ≤ EXP_ERROR, with |s̃ⱼ − σⱼ| ≤ ηⱼ ({@link Float64Reference}'s
 *       score bound) and |L̃ − A| ≤ λ (the forward's log-sum-exp bound): p̃ⱼ/pⱼ = exp(δⱼ)(1 + ε), |δⱼ| ≤ ηⱼ + λ +
 *       u·|s̃ⱼ − L̃|, so |p̃ⱼ − pⱼ| ≤ πⱼpⱼ + TINY with πⱼ = exp(ηⱼ + λ + u(|σⱼ − A| + ηⱼ + λ))(1 + EXP_ERROR) − 1.
 *       Clamping fl(s̃ⱼ − L̃) at 0 only moves it towards σⱼ − A ≤ 0. This reference: the same with its own η, and
 *       for λ its error on A: |log Ŝ − log S| ≤ maxⱼ(ηⱼ − log(1 − ξⱼ)) − log(1 − γ_{L−1}) for the sum
 *       Ŝ = Σ exp(fl(σ̂ⱼ − M)), ξⱼ = (1 + EXP_ERROR_64)exp(u·(M − σ̂ⱼ)) − 1, then Math.log (2u·|log Ŝ|) and the
 *       addition to M (u·|Â|).
 *   <li>Output. This reference's o is Σⱼ p̂ⱼvⱼ: off by ω_c ≤ Σⱼ(πⱼp⁺ⱼ + TINY)|vⱼc| + γ_L·Σⱼp⁺ⱼ|vⱼc|, where
 *       p⁺ⱼ = p̂ⱼ/(1 − πⱼ) ≥ pⱼ. A backward pass uses the forward's Õ: ω_c is {@link Float64Reference}'s output bound.
 *   <li>dS. g̃ⱼ is a dot of dv terms (off by γ_dv·Σ_c|dO_c vⱼc|), D̃ likewise with Õ (and Σ_c|dO_c|ω_c more), so
 *       t̃ⱼ = fl(g̃ⱼ − D̃) = (tⱼ + eⱼ)(1 + δ), |eⱼ| ≤ γ_dv·Σ_c|dO_c vⱼc| + Σ_c|dO_c|ω_c + γ_dv·Σ_c|dO_c|(|o_c| + ω_c);
 *       dS̃ⱼ = p̃ⱼt̃ⱼ(1 + δ'). With |tⱼ| ≤ t⁺ⱼ: |dS̃ⱼ − dSⱼ| ≤ εⱼ = (πⱼp⁺ⱼ + TINY)(t⁺ⱼ + eⱼ)(1 + γ₂)
 *       + p⁺ⱼ(eⱼ + γ₂(t⁺ⱼ + eⱼ)) + TINY.
 *   <li>Sums. dVⱼc = Σᵢ p̃ᵢⱼ dOᵢc: n terms, each one product and at most n − 1 additions, |error| ≤
 *       Σᵢ(πᵢⱼp⁺ᵢⱼ + TINY)|dOᵢc| + γₙ·Σᵢp⁺ᵢⱼ(1 + πᵢⱼ)|dOᵢc|. dQ and dK: c rounded to float (one rounding), a product
 *       with dS̃, the sum of at most L (or n) such terms, and for the Gaussian the form c(Σ dS̃ⱼkⱼ − (Σ dS̃ⱼ)q) (a sum,
 *       a product and a difference more): with magnitudes G (|kⱼc|, plus |q_c| for the Gaussian),
 *       |error| ≤ |c|·Σ(εⱼG + γ_{L+6}(|dS|⁺ⱼ + εⱼ)G). ∂L/∂f: the products of floats are exact in double, the raw
 *       scores are off by γ_{d+c}·Gⱼ (c = 2, or 4 for the Gaussian, as for the scores), the sum of N terms in double
 *       adds γ_N with u = 2⁻⁵³.
 *   <li>Underflow adds the TINY terms above; magnitudes of exact quantities (p⁺, t⁺, |o| + ω) are this reference's
 *       values plus its own error bound.
 * </ol>
 *
 * The bounds are computed in double from at most some ten thousand non-negative terms each, which puts a relative
 * error below 10⁻¹¹ on them; they are scaled up by 1 + 2⁻³⁰ to cover it.
 */
public final class Float64Gradients {

    private static final double SLACK = 1 + 0x1p-30;
    /** The absolute error allowed per double rounding below the normal range. */
    private static final double TINY_64 = 0x1p-1022;
    /** The largest |σ''| and |σ'''| of the logistic function σ(z) = 1/(1 + e⁻ᶻ): 1/(6√3) and 1/8. */
    private static final double SIGMOID_2 = 1 / (6 * Math.sqrt(3)) * (1 + 0x1p-40);
    private static final double SIGMOID_3 = 0.125;

    /** ∂L/∂queries, n × d; ∂L/∂keys, m × d; ∂L/∂values, m × dv. */
    public final double[][] dQueries;
    public final double[][] dKeys;
    public final double[][] dValues;
    /** ∂L/∂f. */
    public final double dFactor;
    /** L = Σᵢ dOᵢ·outᵢ. */
    public final double loss;

    private final double[][] q;
    private final double[][] k;
    private final double[][] v;
    private final double[][] dOut;
    private final boolean[][] sees;
    /** bᵢⱼ added to the scores, or null. */
    private final float[][] bias;
    private final int n;
    private final int m;
    private final int d;
    private final int dv;
    private final double f;
    private final boolean gaussian;
    /** Per query: this reference's p̂ (0 for unseen keys), t̂, and |σ̂ⱼ − Â|. */
    private final double[][] p;
    private final double[][] t;
    private final double[][] distance;
    /** This reference's own errors. */
    private final double[][] pi64;
    private final double[][] pUp;
    private final double[][] tUp;
    private final double[][] oUp;
    private final double[] eta64;
    /** |this reference − exact|, per entry, and of L. */
    private final double[][] errQ;
    private final double[][] errK;
    private final double[][] errV;
    private final double errFactor;
    private final double errLoss;

    private Float64Gradients(double f, boolean gaussian, double[][] q, double[][] k, double[][] v, boolean[][] sees,
            double[][] dOut, int dv, float[][] bias) {
        this.bias = bias;
        this.q = q;
        this.k = k;
        this.v = v;
        this.dOut = dOut;
        this.sees = sees;
        this.n = q.length;
        this.m = k.length;
        this.d = n > 0 ? q[0].length : m > 0 ? k[0].length : 0;
        this.dv = dv;
        this.f = f;
        this.gaussian = gaussian;
        this.dQueries = new double[n][d];
        this.dKeys = new double[m][d];
        this.dValues = new double[m][dv];
        this.p = new double[n][m];
        this.t = new double[n][m];
        this.distance = new double[n][m];
        this.pi64 = new double[n][m];
        this.pUp = new double[n][m];
        this.tUp = new double[n][m];
        this.oUp = new double[n][dv];
        this.eta64 = new double[n];
        this.errQ = new double[n][d];
        this.errK = new double[m][d];
        this.errV = new double[m][dv];

        double lossSum = 0;
        double lossErr = 0;
        double factorSum = 0;
        double[][] eps64 = new double[n][m];
        for (int i = 0; i < n; i++) {
            // Scores, max-subtracted softmax, A, p̂ = exp(σ̂ − Â).
            double[] sigma = new double[m];
            double[] eta = new double[m];
            double max = Double.NEGATIVE_INFINITY;
            int seen = 0;
            for (int j = 0; j < m; j++) {
                if (sees[i][j]) {
                    sigma[j] = f * raw(i, j) + (bias == null ? 0 : bias[i][j]);
                    eta[j] = scoreError(i, j, U64);
                    max = Math.max(max, sigma[j]);
                    seen++;
                }
            }
            if (seen == 0) {
                continue; // every gradient of this query is 0, exactly
            }
            double sum = 0;
            double logSumError = 0;
            for (int j = 0; j < m; j++) {
                if (sees[i][j]) {
                    sum += Math.exp(sigma[j] - max);
                    double xi = (1 + EXP_ERROR_64) * Math.exp(U64 * (max - sigma[j])) - 1;
                    logSumError = Math.max(logSumError, eta[j] - Math.log1p(-xi));
                }
            }
            double logSum = Math.log(sum);
            double lse = max + logSum;
            double lseError = logSumError - Math.log1p(-gamma(Math.max(1, seen - 1), U64)) + 2 * U64 * Math.abs(logSum)
                    + U64 * Math.abs(lse);
            for (int j = 0; j < m; j++) {
                if (sees[i][j]) {
                    p[i][j] = Math.exp(sigma[j] - lse);
                    distance[i][j] = Math.abs(sigma[j] - lse);
                    pi64[i][j] = Math.exp(eta[j] + lseError + U64 * distance[i][j]) * (1 + EXP_ERROR_64) - 1;
                    if (!(pi64[i][j] < 0.5)) {
                        throw new IllegalStateException("the scores are too large for the bound: π = " + pi64[i][j]);
                    }
                    pUp[i][j] = p[i][j] / (1 - pi64[i][j]) + TINY_64;
                    distance[i][j] += eta[j] + lseError;
                    eta64[i] = Math.max(eta64[i], eta[j]);
                }
            }
            // Output, its error ω, D and t̂.
            double[] o = new double[dv];
            double[] omega = new double[dv];
            for (int c = 0; c < dv; c++) {
                double weighted = 0;
                for (int j = 0; j < m; j++) {
                    if (sees[i][j]) {
                        o[c] += p[i][j] * v[j][c];
                        omega[c] += (pi64[i][j] * pUp[i][j] + TINY_64) * Math.abs(v[j][c]);
                        weighted += pUp[i][j] * Math.abs(v[j][c]);
                    }
                }
                omega[c] += gamma(seen, U64) * weighted;
                oUp[i][c] = Math.abs(o[c]) + omega[c];
            }
            double bigD = 0;
            double dError = 0;
            for (int c = 0; c < dv; c++) {
                bigD += dOut[i][c] * o[c];
                dError += Math.abs(dOut[i][c]) * (omega[c] + gamma(dv, U64) * oUp[i][c]);
            }
            lossSum += bigD;
            lossErr += dError + gamma(Math.max(1, n), U64) * (Math.abs(bigD) + dError);
            for (int j = 0; j < m; j++) {
                if (sees[i][j]) {
                    double g = 0;
                    double gMagnitude = 0;
                    for (int c = 0; c < dv; c++) {
                        g += dOut[i][c] * v[j][c];
                        gMagnitude += Math.abs(dOut[i][c] * v[j][c]);
                    }
                    t[i][j] = g - bigD;
                    double e = gamma(dv, U64) * gMagnitude + dError;
                    tUp[i][j] = (Math.abs(t[i][j]) + e) * (1 + 2 * U64);
                    eps64[i][j] = dSError(pi64[i][j], pUp[i][j], tUp[i][j], e, U64, TINY_64);
                }
            }
            // Gradients: dV, dQ, dK and ∂L/∂f.
            double c = gaussian ? 2 * f : f;
            for (int j = 0; j < m; j++) {
                if (!sees[i][j]) {
                    continue;
                }
                double dS = p[i][j] * t[i][j];
                for (int col = 0; col < dv; col++) {
                    dValues[j][col] += p[i][j] * dOut[i][col];
                }
                for (int l = 0; l < d; l++) {
                    dQueries[i][l] += c * dS * (gaussian ? k[j][l] - q[i][l] : k[j][l]);
                    dKeys[j][l] += c * dS * (gaussian ? q[i][l] - k[j][l] : q[i][l]);
                }
                factorSum += dS * raw(i, j);
            }
        }
        this.loss = lossSum;
        this.errLoss = SLACK * lossErr;
        this.dFactor = factorSum;

        // This reference's own errors, steps 3 to 5 in double.
        Errors own = errors(eps64, pi64, TINY_64, U64, U64);
        copy(own.q, errQ);
        copy(own.k, errK);
        copy(own.v, errV);
        this.errFactor = own.factor;
    }

    /** The gradients of query rows {@code q} over keys {@code k} and values {@code v}, each query i seeing the keys j with {@code sees[i][j]}. */
    public static Float64Gradients of(Scoring scoring, double[][] q, double[][] k, double[][] v, boolean[][] sees,
            double[][] dOut, int dv) {
        return new Float64Gradients(scoring.factor(dimension(q, k)), scoring.isGaussian(), q, k, v, sees, dOut, dv,
                null);
    }

    /** {@link #of} for float inputs, which double holds exactly. */
    public static Float64Gradients of(Scoring scoring, float[][] q, float[][] k, float[][] v, boolean[][] sees,
            float[][] dOut, int dv) {
        return of(scoring, widen(q), widen(k), widen(v), sees, widen(dOut), dv);
    }

    /**
     * {@link #of} with a bias {@code bias[i][j]} added to the scores, the keys of bias −∞ hidden: σⱼ = f·rⱼ + bⱼ,
     * and the score bound grows by one rounding, u·(|σⱼ| + η), as in {@link Float64Reference}. No gradient is taken
     * with respect to the bias; ∂L/∂f is still Σ dS·r, the bias not depending on f.
     */
    public static Float64Gradients of(Scoring scoring, float[][] q, float[][] k, float[][] v, boolean[][] sees,
            float[][] dOut, int dv, float[][] bias) {
        boolean[][] visible = new boolean[sees.length][];
        for (int i = 0; i < sees.length; i++) {
            visible[i] = sees[i].clone();
            for (int j = 0; j < visible[i].length; j++) {
                visible[i][j] &= bias[i][j] != Float.NEGATIVE_INFINITY;
            }
        }
        double[][] wq = widen(q);
        return new Float64Gradients(scoring.factor(dimension(wq, widen(k))), scoring.isGaussian(), wq, widen(k),
                widen(v), visible, widen(dOut), dv, bias);
    }

    /** η: how far a score of u-arithmetic may be from σ = f·r (+ b): the raw score's error, then the bias's addition. */
    private double scoreError(int i, int j, double u) {
        double base = gamma(d + scoreRoundings(), u) * Math.abs(f) * rawMagnitude(i, j);
        return bias == null ? base : base + u * (Math.abs(f * raw(i, j) + bias[i][j]) + base);
    }

    private static int dimension(double[][] q, double[][] k) {
        return q.length > 0 ? q[0].length : k.length > 0 ? k[0].length : 0;
    }

    /**
     * Bounds on |a float backward pass − this reference|, per entry, for a backward pass that used a forward whose
     * log-sum-exp of query i is within {@code lseBound[i]} and whose output entry (i, c) within
     * {@code outBound[i][c]} of the exact ones ({@link Float64Reference#kernelLogSumExpBound},
     * {@link Float64Reference#kernelOutputBound}).
     */
    public Bounds kernelBounds(double[] lseBound, double[][] outBound) {
        double[][] pi = new double[n][m];
        double[][] eps = new double[n][m];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                if (!sees[i][j]) {
                    continue;
                }
                double eta = scoreError(i, j, U);
                pi[i][j] = Math.exp(eta + lseBound[i] + U * (distance[i][j] + eta + lseBound[i])) * (1 + EXP_ERROR) - 1;
                if (!(pi[i][j] < 0.5)) {
                    throw new IllegalStateException("the scores are too large for the bound: π = " + pi[i][j]);
                }
                double gMagnitude = 0;
                double dError = 0;
                for (int c = 0; c < dv; c++) {
                    gMagnitude += Math.abs(dOut[i][c] * v[j][c]);
                    dError += Math.abs(dOut[i][c]) * (outBound[i][c] + gamma(dv, U) * (oUp[i][c] + outBound[i][c]));
                }
                double e = gamma(dv, U) * gMagnitude + dError;
                eps[i][j] = dSError(pi[i][j], pUp[i][j], tUp[i][j], e, U, TINY);
            }
        }
        Errors kernel = errors(eps, pi, TINY, U, U64);
        double[][] bq = new double[n][d];
        double[][] bk = new double[m][d];
        double[][] bv = new double[m][dv];
        sum(kernel.q, errQ, bq);
        sum(kernel.k, errK, bk);
        sum(kernel.v, errV, bv);
        return new Bounds(bq, bk, bv, SLACK * (kernel.factor + errFactor));
    }

    /** Per-entry bounds on |a backward pass − this reference|. */
    public record Bounds(double[][] dQueries, double[][] dKeys, double[][] dValues, double dFactor) {}

    /** Which input a finite difference moves. */
    public enum Input { QUERIES, KEYS, VALUES, FACTOR }

    /**
     * A bound on |(L(x + h) − L(x − h))/(2h) − ∂L/∂x| for the exact L, entry (row, col) of {@code input} (row and col
     * ignored for the factor), when x ± h are exact: h²/6 times a bound on the third derivative over [x − h, x + h].
     * With gⱼ = dO·vⱼ: moving a query entry shifts every score of that query by aⱼ·t with aⱼ = f·kⱼc (dot) or
     * 2f·kⱼc (Gaussian, up to a term common to all keys, which softmax ignores); moving the factor, by rⱼ·t. Then
     * L''' is the joint cumulant κ(g, a, a, a) under p, at most 4·range(g)·range(a)³. Moving a key entry changes one
     * score, sⱼ(t) = sⱼ + zt − (Gaussian) f·t²; L = ḡ₋ⱼ + (gⱼ − ḡ₋ⱼ)·σ(z(t)) with the logistic σ, so
     * |L'''| ≤ range(g)·(|z'|³·max|σ'''| + 3|z'||z''|·max|σ''|). L is linear in the values: L''' = 0.
     */
    public double truncationBound(Input input, int row, int col, double h) {
        double third = 0;
        switch (input) {
            case VALUES -> third = 0;
            case QUERIES -> third = 4 * gRange(row) * Math.pow(range(row, j -> k[j][col] * (gaussian ? 2 * f : f)), 3);
            case FACTOR -> {
                for (int i = 0; i < n; i++) {
                    int fi = i;
                    third += 4 * gRange(i) * Math.pow(range(i, j -> raw(fi, j)), 3);
                }
            }
            case KEYS -> {
                for (int i = 0; i < n; i++) {
                    if (!sees[i][row]) {
                        continue;
                    }
                    double z1 = gaussian ? 2 * Math.abs(f) * (Math.abs(q[i][col] - k[row][col]) + h)
                            : Math.abs(f * q[i][col]);
                    double z2 = gaussian ? 2 * Math.abs(f) : 0;
                    third += gRange(i) * (Math.pow(z1, 3) * SIGMOID_3 + 3 * z1 * z2 * SIGMOID_2);
                }
            }
        }
        return SLACK * (1 + 0x1p-20) * h * h / 6 * third;
    }

    /** |this reference's L − the exact L|. */
    public double lossError() {
        return errLoss;
    }

    /** |this reference − exact| for entry (row, col) of the gradient with respect to {@code input}. */
    public double referenceError(Input input, int row, int col) {
        return switch (input) {
            case QUERIES -> errQ[row][col];
            case KEYS -> errK[row][col];
            case VALUES -> errV[row][col];
            case FACTOR -> errFactor;
        };
    }

    /** The reference's entry (row, col) of the gradient with respect to {@code input}. */
    public double gradient(Input input, int row, int col) {
        return switch (input) {
            case QUERIES -> dQueries[row][col];
            case KEYS -> dKeys[row][col];
            case VALUES -> dValues[row][col];
            case FACTOR -> dFactor;
        };
    }

    /**
     * The same problem with entry (row, col) of {@code input} (or the factor) moved by {@code delta}.
     *
     * @throws IllegalArgumentException unless the moved entry is exactly the entry plus {@code delta}
     */
    public Float64Gradients moved(Input input, int row, int col, double delta) {
        double[][] q2 = input == Input.QUERIES ? moved(q, row, col, delta) : q;
        double[][] k2 = input == Input.KEYS ? moved(k, row, col, delta) : k;
        double[][] v2 = input == Input.VALUES ? moved(v, row, col, delta) : v;
        double f2 = f + (input == Input.FACTOR ? delta : 0);
        if (input == Input.FACTOR && f2 - f != delta) {
            throw new IllegalArgumentException(f + " + " + delta + " is not exact in double");
        }
        return new Float64Gradients(f2, gaussian, q2, k2, v2, sees, dOut, dv, bias);
    }

    /** The range of aⱼ over the keys query i sees, with a little room for rounding. */
    private double range(int i, IntToDoubleFunction a) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < m; j++) {
            if (sees[i][j]) {
                double x = a.applyAsDouble(j);
                lo = Math.min(lo, x);
                hi = Math.max(hi, x);
            }
        }
        return hi > lo ? (hi - lo) * (1 + 0x1p-40) + 0x1p-1000 : 0;
    }

    /** The range of gⱼ = dO·vⱼ over the keys query i sees. */
    private double gRange(int i) {
        return range(i, j -> {
            double g = 0;
            for (int c = 0; c < dv; c++) {
                g += dOut[i][c] * v[j][c];
            }
            return g;
        });
    }

    /** Errors of dV, dQ, dK and ∂L/∂f from the dS errors and the relative weight errors, step 4. */
    private Errors errors(double[][] eps, double[][] pi, double tiny, double u, double uFactorSum) {
        Errors e = new Errors(new double[n][d], new double[m][d], new double[m][dv], 0);
        double c = Math.abs(gaussian ? 2 * f : f);
        int[] seenBy = new int[m];
        int[] seenOf = new int[n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                if (sees[i][j]) {
                    seenBy[j]++;
                    seenOf[i]++;
                }
            }
        }
        double factorError = 0;
        double factorMagnitude = 0;
        int terms = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                if (!sees[i][j]) {
                    continue;
                }
                double dSUp = pUp[i][j] * tUp[i][j];
                double gammaQ = gamma(seenOf[i] + 6, u);
                double gammaK = gamma(seenBy[j] + 6, u);
                for (int col = 0; col < dv; col++) {
                    double dO = Math.abs(dOut[i][col]);
                    e.v[j][col] += (pi[i][j] * pUp[i][j] + tiny) * dO
                            + gamma(seenBy[j], u) * pUp[i][j] * (1 + pi[i][j]) * dO + tiny;
                }
                for (int l = 0; l < d; l++) {
                    double g = Math.abs(k[j][l]) + (gaussian ? Math.abs(q[i][l]) : 0);
                    double h = Math.abs(q[i][l]) + (gaussian ? Math.abs(k[j][l]) : 0);
                    e.q[i][l] += c * (eps[i][j] * g + gammaQ * (dSUp + eps[i][j]) * g) + 2 * tiny * (1 + g);
                    e.k[j][l] += c * (eps[i][j] * h + gammaK * (dSUp + eps[i][j]) * h) + 2 * tiny * (1 + h);
                }
                double r = Math.abs(raw(i, j));
                double rError = gamma(d + scoreRoundings(), u) * rawMagnitude(i, j) + tiny;
                factorError += eps[i][j] * (r + rError) + dSUp * rError;
                factorMagnitude += (dSUp + eps[i][j]) * (r + rError);
                terms++;
            }
        }
        return new Errors(e.q, e.k, e.v, factorError + gamma(Math.max(1, terms), uFactorSum) * factorMagnitude);
    }

    private record Errors(double[][] q, double[][] k, double[][] v, double factor) {}

    /** Step 3: |dS̃ − dS| from the weight's relative error π, p⁺, t⁺ and the error e of t before its rounding. */
    private static double dSError(double pi, double pUp, double tUp, double e, double u, double tiny) {
        double g2 = gamma(2, u);
        return (pi * pUp + tiny) * (tUp + e) * (1 + g2) + pUp * (e + g2 * (tUp + e)) + tiny;
    }

    /** rⱼ = qᵀkⱼ or −‖q − kⱼ‖², in double. */
    private double raw(int i, int j) {
        double sum = 0;
        for (int l = 0; l < d; l++) {
            if (gaussian) {
                double diff = q[i][l] - k[j][l];
                sum -= diff * diff;
            } else {
                sum += q[i][l] * k[j][l];
            }
        }
        return sum;
    }

    /** Σₗ|qₗkⱼₗ| or ‖q − kⱼ‖²: what the score's rounding errors scale with. */
    private double rawMagnitude(int i, int j) {
        double sum = 0;
        for (int l = 0; l < d; l++) {
            if (gaussian) {
                double diff = q[i][l] - k[j][l];
                sum += diff * diff;
            } else {
                sum += Math.abs(q[i][l] * k[j][l]);
            }
        }
        return sum * (1 + 0x1p-40);
    }

    private int scoreRoundings() {
        return gaussian ? 4 : 2;
    }

    private static double[][] moved(double[][] x, int row, int col, double delta) {
        double[][] y = x.clone();
        y[row] = x[row].clone();
        y[row][col] += delta;
        if (y[row][col] - x[row][col] != delta) {
            throw new IllegalArgumentException(x[row][col] + " + " + delta + " is not exact in double");
        }
        return y;
    }

    private static double[][] widen(float[][] x) {
        double[][] y = new double[x.length][];
        for (int i = 0; i < x.length; i++) {
            y[i] = new double[x[i].length];
            for (int j = 0; j < x[i].length; j++) {
                y[i][j] = x[i][j];
            }
        }
        return y;
    }

    private static void copy(double[][] from, double[][] to) {
        for (int i = 0; i < from.length; i++) {
            for (int j = 0; j < from[i].length; j++) {
                to[i][j] = SLACK * from[i][j];
            }
        }
    }

    private static void sum(double[][] a, double[][] b, double[][] out) {
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[i].length; j++) {
                out[i][j] = SLACK * (a[i][j] + b[i][j]);
            }
        }
    }
}
