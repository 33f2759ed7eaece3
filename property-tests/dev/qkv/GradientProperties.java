package dev.qkv;

import static dev.qkv.PropertyChecks.check;
import static dev.qkv.PropertyChecks.checkWithin;
import static dev.qkv.PropertyChecks.sameBits;
import static dev.qkv.PropertyChecks.sameBitsOnOtherInputs;

import dev.qkv.Problem.MaskKind;
import dev.qkv.kernel.Kernels;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The laws of {@link Attention#gradients}: dQ, dK, dV and ∂L/∂f of {@code L = Σ dO∘out} agree with the
 * {@link Float64Gradients} reference within its derived bounds, for every scoring and mask, one query and many,
 * scalar and vector kernels; the seed's exercise 2 (with dot scoring and K = V the Jacobian ∂out/∂q is the keys'
 * covariance under the weights) and its generalisation; hidden keys get exactly 0 and their NaN never leaks; any
 * thread count gives the same bits.
 */
class GradientProperties {

    @Provide
    Arbitrary<Kernels> kernels() {
        return Arbitraries.of(TestKernels.all());
    }

    /** 1 to 40 queries (one, one tile, two tiles) over 0 to 300 keys (several blocks of 64), any mask. */
    @Provide
    Arbitrary<Problem> problems() {
        return Problem.problems(Arbitraries.integers().between(1, 40),
                Arbitraries.oneOf(Arbitraries.integers().between(0, 20), Arbitraries.integers().between(0, 300)),
                Problem.dims(24), Problem.dims(24), Arbitraries.of(MaskKind.class));
    }

    @Provide
    Arbitrary<Problem> masked() {
        return Problem.problems(Arbitraries.oneOf(Arbitraries.integers().between(1, 40),
                Arbitraries.integers().between(65, 140)), Arbitraries.integers().between(1, 300),
                Problem.dims(17), Problem.dims(17), Arbitraries.of(MaskKind.class).filter(k -> k != MaskKind.NONE));
    }

    /**
     * Enough keys for several shards of the backward pass (512 keys each, at most 8), and past 4096, where 8 shards
     * of whole blocks leave the last one short; queries past one group of 64.
     */
    @Provide
    Arbitrary<Problem> sharded() {
        return Problem.problems(Arbitraries.integers().between(1, 70), Arbitraries.oneOf(
                Arbitraries.integers().between(513, 1300), Arbitraries.integers().between(4097, 4300)),
                Problem.dims(16), Problem.dims(16),
                Arbitraries.of(MaskKind.NONE, MaskKind.VALID_LENGTHS, MaskKind.CAUSAL, MaskKind.EXPLICIT));
    }

    /**
     * The sizes the backward pass's tiles are made for: several groups of 64 queries (the inner dimension of dK and
     * dV's products) with a partial last group and a partial last tile of 4, several blocks of 64 keys with a
     * partial last one, any mask (so whole tiles, rows of runs and rows that see nothing), dimensions around the
     * slabs' widths.
     */
    @Provide
    Arbitrary<Problem> tiled() {
        return Problem.problems(Arbitraries.integers().between(128, 200), Arbitraries.integers().between(128, 400),
                Problem.dims(40), Problem.dims(40), Arbitraries.of(MaskKind.class));
    }

    /**
     * Every entry of dQ, dK, dV and ∂L/∂f is within {@link Float64Gradients#kernelBounds} of the float64 reference,
     * given the forward's bounds on its log-sum-exp and output ({@link Float64Reference}, for the passes of one
     * call). Run for the scalar and the vector kernels, this also holds the two within the sum of their bounds.
     */
    @Property(tries = 150)
    void gradientsMatchTheFloat64Reference(@ForAll("kernels") Kernels kernels, @ForAll("problems") Problem p,
            @ForAll long seed) {
        float[][] dOut = matrix(new SplittableRandom(seed), p.n(), p.dv());
        checkAgainstTheReference(kernels, p, dOut, 1);
    }

    /** As {@link #gradientsMatchTheFloat64Reference} at n ≥ 128 queries over m ≥ 128 keys, whole tiles and groups. */
    @Property(tries = 30)
    void tiledGradientsMatchTheFloat64Reference(@ForAll("kernels") Kernels kernels, @ForAll("tiled") Problem p,
            @ForAll long seed) {
        float[][] dOut = matrix(new SplittableRandom(seed), p.n(), p.dv());
        checkAgainstTheReference(kernels, p, dOut, 1);
    }

    /** As {@link #gradientsMatchTheFloat64Reference} over several shards of keys, on 2 threads. */
    @Property(tries = 20)
    void shardedGradientsMatchTheFloat64Reference(@ForAll("kernels") Kernels kernels, @ForAll("sharded") Problem p,
            @ForAll long seed) {
        float[][] dOut = matrix(new SplittableRandom(seed), p.n(), p.dv());
        checkAgainstTheReference(kernels, p, dOut, 2);
    }

    /**
     * The seed's exercise 2, exactly: with dot scoring and every key its own value (kᵢ = vᵢ), the Jacobian of the
     * output with respect to the query, assembled row by row from d backward calls with the one-hot upstream
     * gradients e₁ … e_d, is the covariance of the keys under the attention weights, Σᵢ pᵢkᵢkᵢᵀ − μμᵀ, μ = Σᵢ pᵢkᵢ.
     * Bound: the gradient's own ({@link Float64Gradients#kernelBounds}) plus that of the covariance computed here in
     * double from the reference's weights.
     */
    @Property(tries = 100)
    void queryJacobianIsTheKeysCovarianceUnderTheWeights(@ForAll("kernels") Kernels kernels,
            @ForAll("jacobianCases") Problem p) {
        Problem same = new Problem(Scoring.dot(), MaskKind.NONE, p.queries(), p.keys(), p.keys(), p.d(), null, null);
        checkJacobianIsCovariance(kernels, same);
    }

    /**
     * The generalisation for values other than the keys, and for any factor f (scaled dot): ∂out/∂q =
     * f·Cov_p[v, k] = f·(Σᵢ pᵢvᵢkᵢᵀ − νμᵀ), ν = Σᵢ pᵢvᵢ.
     */
    @Property(tries = 100)
    void queryJacobianIsTheCovarianceOfValuesAndKeys(@ForAll("kernels") Kernels kernels,
            @ForAll("jacobianCases") Problem p) {
        checkJacobianIsCovariance(kernels, p);
    }

    @Provide
    Arbitrary<Problem> jacobianCases() {
        return Problem.problems(Arbitraries.of(Scoring.dot(), Scoring.scaledDot(), Scoring.dot().withScale(0.25)),
                Arbitraries.just(1), Arbitraries.integers().between(1, 200), Problem.dims(12), Problem.dims(12),
                Arbitraries.just(MaskKind.NONE));
    }

    /**
     * A key or value hidden from a query is never used for it: with every entry of the hidden keys and values set to
     * NaN, +∞ or −∞, dQ and ∂L/∂f are bitwise those of the clean inputs, and so are dK and dV of the keys some query
     * sees; a key no query sees gets dK = dV = 0 exactly.
     */
    @Property(tries = 100)
    void hiddenKeysGetZeroAndTheirNaNNeverLeaks(@ForAll("kernels") Kernels kernels, @ForAll("masked") Problem p,
            @ForAll long seed) {
        float[][] dOut = matrix(new SplittableRandom(seed), p.n(), p.dv());
        Problem poisoned = p.poisoned(j -> !p.seenByAny(j), seed);
        Attention attention = Attention.builder().scoring(p.scoring()).kernels(kernels.name()).build();
        Supplier<Object> clean = () -> result(attention, p, dOut);
        Supplier<Object> dirty = () -> result(attention, poisoned, dOut);
        sameBitsOnOtherInputs(clean, dirty, "gradients with poisoned hidden keys, %s", p);
        Object[] r = (Object[]) clean.get();
        float[][] dk = (float[][]) r[1];
        float[][] dv = (float[][]) r[2];
        for (int j = 0; j < p.m(); j++) {
            if (!p.seenByAny(j)) {
                for (float x : dk[j]) {
                    check(Float.floatToRawIntBits(x) == 0, "dK of hidden key %d is %s, not +0", j, x);
                }
                for (float x : dv[j]) {
                    check(Float.floatToRawIntBits(x) == 0, "dV of hidden key %d is %s, not +0", j, x);
                }
            }
        }
    }

    /** 1, 2 and 8 threads, and 3 from a caller's executor, give bitwise the same dQ, dK, dV and ∂L/∂f. */
    @Property(tries = 20)
    void threadCountsGiveTheSameBits(@ForAll("kernels") Kernels kernels, @ForAll("sharded") Problem p,
            @ForAll long seed) {
        float[][] dOut = matrix(new SplittableRandom(seed), p.n(), p.dv());
        Attention one = Attention.builder().scoring(p.scoring()).kernels(kernels.name()).build();
        List<Supplier<?>> others = List.of(2, 8).stream()
                .<Supplier<?>>map(t -> () -> result(Attention.builder().scoring(p.scoring()).kernels(kernels.name())
                        .threads(t).build(), p, dOut))
                .toList();
        sameBits(() -> result(one, p, dOut), others, "gradients on more threads, %s", p);
    }

    private static void checkAgainstTheReference(Kernels kernels, Problem p, float[][] dOut, int threads) {
        Attention attention = Attention.builder().scoring(p.scoring()).kernels(kernels.name()).threads(threads).build();
        Object[] r = result(attention, p, dOut);
        float[][] dq = (float[][]) r[0];
        float[][] dk = (float[][]) r[1];
        float[][] dv = (float[][]) r[2];
        double dFactor = (double) r[3];
        boolean[][] sees = new boolean[p.n()][];
        double[] lseBound = new double[p.n()];
        double[][] outBound = new double[p.n()][];
        for (int i = 0; i < p.n(); i++) {
            sees[i] = p.sees(i);
            Float64Reference ref = p.reference(i);
            Float64Reference.Passes passes = p.passes(i, 0, p.m());
            lseBound[i] = ref.kernelLogSumExpBound(passes);
            outBound[i] = ref.kernelOutputBound(passes);
        }
        Float64Gradients g = Float64Gradients.of(p.scoring(), p.queries(), p.keys(), p.values(), sees, dOut, p.dv());
        Float64Gradients.Bounds b = g.kernelBounds(lseBound, outBound);
        for (int i = 0; i < p.n(); i++) {
            for (int l = 0; l < p.d(); l++) {
                checkWithin(dq[i][l], g.dQueries[i][l], b.dQueries()[i][l], "dQ (%d, %d) of %s", i, l, p);
            }
        }
        for (int j = 0; j < p.m(); j++) {
            for (int l = 0; l < p.d(); l++) {
                checkWithin(dk[j][l], g.dKeys[j][l], b.dKeys()[j][l], "dK (%d, %d) of %s", j, l, p);
            }
            for (int c = 0; c < p.dv(); c++) {
                checkWithin(dv[j][c], g.dValues[j][c], b.dValues()[j][c], "dV (%d, %d) of %s", j, c, p);
            }
        }
        double error = Math.abs(dFactor - g.dFactor);
        check(error <= b.dFactor(), "∂L/∂f %s, expected %s within %s, off by %s, %s", dFactor, g.dFactor,
                b.dFactor(), error, p);
        double sigma = p.scoring().ownSigma();
        if (!Double.isNaN(sigma)) {
            // f = 1/(2σ²): ∂L/∂σ = −(∂L/∂f)/σ³, three double roundings more.
            double cube = sigma * sigma * sigma;
            double expected = -g.dFactor / cube;
            double dSigma = (double) r[4];
            check(Math.abs(dSigma - expected) <= b.dFactor() / cube * (1 + 0x1p-40) + 4 * ErrorBounds.U64
                    * Math.abs(expected), "∂L/∂σ %s, expected %s, %s", dSigma, expected, p);
        }
    }

    @Provide
    Arbitrary<Problem> gaussianRegression() {
        return Problem.problems(Arbitraries.doubles().between(0.5, 4).map(Scoring::gaussian),
                Arbitraries.integers().between(1, 8), Arbitraries.integers().between(1, 60), Problem.dims(12),
                Problem.dims(12), Arbitraries.just(MaskKind.NONE));
    }

    /**
     * Nadaraya–Watson regression with the Gaussian kernel is attention with {@code Scoring.gaussian(σ)}: its ∂L/∂q and
     * ∂L/∂σ, computed in double from the float squared distances and rounded to float, are within the float backward
     * pass's bounds of the float64 reference (each of its steps is a double operation where the bound counts a float
     * one, and it takes no more of them; its weights' normalisation errs no more than the log-sum-exp the bound
     * allows) plus the final rounding to float, u·|x|.
     */
    @Property(tries = 60)
    void gaussianRegressionGradientsMatchTheReference(@ForAll("gaussianRegression") Problem p, @ForAll long seed) {
        float[][] dOut = matrix(new SplittableRandom(seed), p.n(), p.dv());
        double sigma = p.scoring().ownSigma();
        boolean[][] sees = new boolean[p.n()][];
        double[] lseBound = new double[p.n()];
        double[][] outBound = new double[p.n()][];
        for (int i = 0; i < p.n(); i++) {
            sees[i] = p.sees(i);
            Float64Reference ref = p.reference(i);
            Float64Reference.Passes passes = p.passes(i, 0, p.m());
            lseBound[i] = ref.kernelLogSumExpBound(passes);
            outBound[i] = ref.kernelOutputBound(passes);
        }
        Float64Gradients g = Float64Gradients.of(p.scoring(), p.queries(), p.keys(), p.values(), sees, dOut, p.dv());
        Float64Gradients.Bounds b = g.kernelBounds(lseBound, outBound);
        try (Arena arena = Arena.ofConfined()) {
            Tensor gradOut = Tensor.allocate(arena, p.n(), p.dv());
            gradOut.copyFrom(dOut);
            Gradients nw = new KernelRegression(SmoothingKernel.GAUSSIAN, sigma).gradients(arena, p.queries(arena),
                    p.keys(arena), p.values(arena), gradOut);
            for (int i = 0; i < p.n(); i++) {
                for (int l = 0; l < p.d(); l++) {
                    double expected = g.dQueries[i][l];
                    checkWithin(nw.queries().get(i, l), expected, b.dQueries()[i][l] + ErrorBounds.U
                            * (Math.abs(expected) + b.dQueries()[i][l]), "dQ (%d, %d) of %s", i, l, p);
                }
            }
            double cube = sigma * sigma * sigma;
            double expected = -g.dFactor / cube;
            double bound = b.dFactor() / cube * (1 + 0x1p-40) + 4 * ErrorBounds.U64 * Math.abs(expected);
            check(Math.abs(nw.sigma() - expected) <= bound, "∂L/∂σ %s, expected %s within %s, %s", nw.sigma(),
                    expected, bound, p);
        }
    }

    private static void checkJacobianIsCovariance(Kernels kernels, Problem p) {
        int d = p.d();
        int dv = p.dv();
        int m = p.m();
        float[] q = p.queries()[0];
        float[][] k = p.keys();
        float[][] v = p.values();
        Float64Reference ref = p.reference(0);
        Float64Reference.Passes passes = p.passes(0, 0, m);
        double f = p.scoring().factor(d);
        double u = ErrorBounds.U64;
        // μ = Σ pk, ν = Σ pv, E = Σ p v kᵀ in double; |p̂ − p| ≤ the weight bound (which covers this reference).
        double[] mu = new double[d];
        double[] muError = new double[d];
        double[] nu = new double[dv];
        double[] nuError = new double[dv];
        for (int j = 0; j < m; j++) {
            for (int l = 0; l < d; l++) {
                mu[l] += ref.weights[j] * k[j][l];
                muError[l] += ref.weightBound[j] * Math.abs(k[j][l])
                        + ErrorBounds.gamma(m, u) * ref.weights[j] * Math.abs(k[j][l]);
            }
            for (int c = 0; c < dv; c++) {
                nu[c] += ref.weights[j] * v[j][c];
                nuError[c] += ref.weightBound[j] * Math.abs(v[j][c])
                        + ErrorBounds.gamma(m, u) * ref.weights[j] * Math.abs(v[j][c]);
            }
        }
        Attention attention = Attention.builder().scoring(p.scoring()).kernels(kernels.name()).build();
        try (Arena arena = Arena.ofConfined()) {
            Tensor query = Tensor.of(arena, q);
            Tensor keys = p.keys(arena);
            Tensor values = p.values(arena);
            boolean[][] sees = {p.sees(0)};
            double[] lseBound = {ref.kernelLogSumExpBound(passes)};
            double[][] outBound = {ref.kernelOutputBound(passes)};
            for (int c = 0; c < dv; c++) {
                float[] oneHot = new float[dv];
                oneHot[c] = 1;
                Gradients g = attention.gradients(arena, query, keys, values, Mask.none(), Tensor.of(arena, oneHot));
                Float64Gradients.Bounds gradientBound = Float64Gradients.of(p.scoring(), new float[][] {q}, k, v,
                        sees, new float[][] {oneHot}, dv).kernelBounds(lseBound, outBound);
                for (int l = 0; l < d; l++) {
                    double e = 0;
                    double eError = 0;
                    for (int j = 0; j < m; j++) {
                        double vk = (double) v[j][c] * k[j][l];
                        e += ref.weights[j] * vk;
                        eError += ref.weightBound[j] * Math.abs(vk) + ErrorBounds.gamma(m + 1, u) * ref.weights[j]
                                * Math.abs(vk);
                    }
                    double covariance = f * (e - nu[c] * mu[l]);
                    double covarianceError = Math.abs(f) * (eError + nuError[c] * (Math.abs(mu[l]) + muError[l])
                            + Math.abs(nu[c]) * muError[l] + ErrorBounds.gamma(3, u) * (Math.abs(e)
                            + Math.abs(nu[c] * mu[l]))) * (1 + 0x1p-30);
                    checkWithin(g.queries().get(l), covariance, gradientBound.dQueries()[0][l] + covarianceError,
                            "∂out[%d]/∂q[%d] against the covariance, %s", c, l, p);
                }
            }
        }
    }

    /** dQ, dK, dV and ∂L/∂f of a problem, as arrays. */
    private static Object[] result(Attention attention, Problem p, float[][] dOut) {
        try (Arena arena = Arena.ofShared()) { // shared: helper threads read the inputs
            Tensor gradOut = Tensor.allocate(arena, p.n(), p.dv());
            gradOut.copyFrom(dOut);
            Gradients g = attention.gradients(arena, p.queries(arena), p.keys(arena), p.values(arena), p.mask(),
                    gradOut);
            return new Object[] {g.queries().toArray(), g.keys().toArray(), g.values().toArray(), g.factor(),
                g.sigma()};
        }
    }

    private static float[][] matrix(SplittableRandom random, int rows, int cols) {
        float[][] x = new float[rows][cols];
        for (float[] row : x) {
            for (int j = 0; j < cols; j++) {
                row[j] = (float) (8 * random.nextDouble() - 4);
            }
        }
        return x;
    }
}
