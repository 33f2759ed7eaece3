package dev.qkv;

import static dev.qkv.PropertyChecks.check;
import static dev.qkv.PropertyChecks.checkLogSumExp;
import static dev.qkv.PropertyChecks.checkWithin;
import static dev.qkv.PropertyChecks.sameBits;

import dev.qkv.Problem.MaskKind;
import dev.qkv.kernel.Kernels;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The laws of an additive score bias ({@link Mask#bias}, {@link Mask#alibi}) over every scoring and mask, one query
 * and many, scalar and vector kernels: the output, weights, log-sum-exp and gradients are within the float64
 * references' derived bounds with the bias ({@link Float64Reference}, {@link Float64Gradients}); a bias of −∞ where a
 * boolean mask hides and 0 elsewhere is that mask, bit for bit; ALiBi is the bias tensor of its values, bit for bit.
 */
class BiasProperties {

    @Provide
    Arbitrary<Kernels> kernels() {
        return Arbitraries.of(TestKernels.all());
    }

    /** 1 to 40 queries (one, one tile, two tiles) over 0 to 300 keys (several blocks of 64), any mask. */
    @Provide
    Arbitrary<Problem> problems() {
        return Problem.problems(Arbitraries.integers().between(1, 40),
                Arbitraries.oneOf(Arbitraries.integers().between(0, 20), Arbitraries.integers().between(0, 300)),
                Problem.dims(17), Problem.dims(17), Arbitraries.of(MaskKind.class));
    }

    /** An n × m bias: uniform in [−scale, scale], about one entry in eight −∞. */
    private static float[][] bias(SplittableRandom random, int n, int m, double scale) {
        float[][] b = new float[n][m];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                b[i][j] = random.nextInt(8) == 0 ? Float.NEGATIVE_INFINITY
                        : (float) ((random.nextDouble() * 2 - 1) * scale);
            }
        }
        return b;
    }

    private static Tensor tensor(Arena arena, float[][] rows, int cols) {
        Tensor t = Tensor.allocate(arena, rows.length, cols);
        if (cols > 0) {
            t.copyFrom(rows);
        }
        return t;
    }

    private static float[][] matrix(SplittableRandom random, int rows, int cols) {
        float[][] x = new float[rows][cols];
        for (float[] row : x) {
            for (int j = 0; j < cols; j++) {
                row[j] = (float) (random.nextDouble() * 2 - 1);
            }
        }
        return x;
    }

    /** Query i's visible keys: the problem's mask and a bias other than −∞. */
    private static boolean[] sees(Problem p, float[][] bias, int i) {
        boolean[] sees = p.sees(i).clone();
        for (int j = 0; j < sees.length; j++) {
            sees[j] &= bias[i][j] != Float.NEGATIVE_INFINITY;
        }
        return sees;
    }

    @Property(tries = 300)
    void biasedPoolingMatchesTheReference(@ForAll("kernels") Kernels kernels, @ForAll("problems") Problem p,
            @ForAll long seed) {
        float[][] b = bias(new SplittableRandom(seed), p.n(), p.m(), 8);
        Attention attention = Attention.builder().scoring(p.scoring()).kernels(kernels.name()).build();
        try (Arena arena = Arena.ofConfined()) {
            Mask mask = p.mask().and(Mask.bias(tensor(arena, b, p.m())));
            Tensor out = Tensor.allocate(arena, p.n(), p.dv());
            Tensor lse = Tensor.allocate(arena, p.n());
            attention.pool(p.queries(arena), p.keys(arena), p.values(arena), mask, out, lse);
            Tensor w = attention.weights(arena, p.queries(arena), p.keys(arena), mask);
            for (int i = 0; i < p.n(); i++) {
                boolean[] sees = sees(p, b, i);
                Float64Reference ref = Float64Reference.of(p.scoring(), p.queries()[i], p.keys(), p.values(), p.dv(),
                        p.sees(i), b[i]);
                Float64Reference.Passes passes = Float64Reference.Passes.of(sees, 0, p.m());
                double[] bound = ref.outputBound(passes);
                for (int c = 0; c < p.dv(); c++) {
                    checkWithin(out.get(i, c), ref.output[c], bound[c], "output (%d, %d) of %s", i, c, p);
                }
                for (int j = 0; j < p.m(); j++) {
                    checkWithin(w.get(i, j), ref.weights[j], ref.weightBound[j], "weight (%d, %d) of %s", i, j, p);
                }
                checkLogSumExp(lse.get(0, i), ref.logSumExp, ref.logSumExpBound(passes), "log-sum-exp %d of %s", i, p);
            }
        }
    }

    @Property(tries = 100)
    void biasedGradientsMatchTheReference(@ForAll("kernels") Kernels kernels, @ForAll("problems") Problem p,
            @ForAll long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[][] b = bias(random, p.n(), p.m(), 4);
        float[][] dOut = matrix(random, p.n(), p.dv());
        Attention attention = Attention.builder().scoring(p.scoring()).kernels(kernels.name()).build();
        try (Arena arena = Arena.ofConfined()) {
            Gradients g = attention.gradients(arena, p.queries(arena), p.keys(arena), p.values(arena),
                    p.mask().and(Mask.bias(tensor(arena, b, p.m()))), tensor(arena, dOut, p.dv()));
            boolean[][] masked = new boolean[p.n()][];
            double[] lseBound = new double[p.n()];
            double[][] outBound = new double[p.n()][];
            for (int i = 0; i < p.n(); i++) {
                masked[i] = p.sees(i);
                Float64Reference ref = Float64Reference.of(p.scoring(), p.queries()[i], p.keys(), p.values(), p.dv(),
                        p.sees(i), b[i]);
                Float64Reference.Passes passes = Float64Reference.Passes.of(sees(p, b, i), 0, p.m());
                lseBound[i] = ref.kernelLogSumExpBound(passes);
                outBound[i] = ref.kernelOutputBound(passes);
            }
            Float64Gradients r = Float64Gradients.of(p.scoring(), p.queries(), p.keys(), p.values(), masked, dOut,
                    p.dv(), b);
            Float64Gradients.Bounds bounds = r.kernelBounds(lseBound, outBound);
            for (int i = 0; i < p.n(); i++) {
                for (int l = 0; l < p.d(); l++) {
                    checkWithin(g.queries().get(i, l), r.dQueries[i][l], bounds.dQueries()[i][l], "dQ (%d, %d) of %s",
                            i, l, p);
                }
            }
            for (int j = 0; j < p.m(); j++) {
                for (int l = 0; l < p.d(); l++) {
                    checkWithin(g.keys().get(j, l), r.dKeys[j][l], bounds.dKeys()[j][l], "dK (%d, %d) of %s", j, l, p);
                }
                for (int c = 0; c < p.dv(); c++) {
                    checkWithin(g.values().get(j, c), r.dValues[j][c], bounds.dValues()[j][c], "dV (%d, %d) of %s",
                            j, c, p);
                }
            }
            double error = Math.abs(g.factor() - r.dFactor);
            check(error <= bounds.dFactor(), "∂L/∂f %s, expected %s within %s, %s", g.factor(), r.dFactor,
                    bounds.dFactor(), p);
        }
    }

    /**
     * A bias of −∞ exactly where a boolean matrix hides a key, 0 elsewhere, on top of the problem's own mask, gives
     * the bits of that boolean mask: output, log-sum-exp, weights and gradients.
     */
    @Property(tries = 100)
    void minusInfinityIsABooleanMask(@ForAll("kernels") Kernels kernels, @ForAll("problems") Problem p,
            @ForAll long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        boolean[][] visible = new boolean[p.n()][p.m()];
        float[][] b = new float[p.n()][p.m()];
        for (int i = 0; i < p.n(); i++) {
            for (int j = 0; j < p.m(); j++) {
                visible[i][j] = random.nextInt(4) != 0;
                b[i][j] = visible[i][j] ? 0f : Float.NEGATIVE_INFINITY;
            }
        }
        float[][] dOut = matrix(random, p.n(), p.dv());
        Attention attention = Attention.builder().scoring(p.scoring()).kernels(kernels.name()).build();
        try (Arena arena = Arena.ofConfined()) {
            Tensor bias = tensor(arena, b, p.m());
            Mask explicit = p.mask().and(Mask.explicit(visible));
            Mask biased = p.mask().and(Mask.bias(bias));
            sameBits(() -> results(attention, arena, p, explicit, dOut),
                    List.of(() -> results(attention, arena, p, biased, dOut)), "−∞ bias against the mask, %s", p);
        }
    }

    /** ALiBi with slope s is the bias tensor of (float)(−s·|i + (m − n) − j|), bit for bit, alone or with a bias. */
    @Property(tries = 100)
    void alibiIsTheBiasOfItsValues(@ForAll("kernels") Kernels kernels, @ForAll("problems") Problem p,
            @ForAll long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        double slope = random.nextDouble() * 0.5;
        float[][] extra = bias(random, p.n(), p.m(), 2);
        float[][] alibi = new float[p.n()][p.m()];
        float[][] sum = new float[p.n()][p.m()];
        for (int i = 0; i < p.n(); i++) {
            for (int j = 0; j < p.m(); j++) {
                alibi[i][j] = (float) (-slope * Math.abs(i + (p.m() - p.n()) - j));
                sum[i][j] = extra[i][j] + alibi[i][j];
            }
        }
        float[][] dOut = matrix(random, p.n(), p.dv());
        Attention attention = Attention.builder().scoring(p.scoring()).kernels(kernels.name()).build();
        try (Arena arena = Arena.ofConfined()) {
            Mask alone = p.mask().and(Mask.alibi(slope));
            Mask asTensor = p.mask().and(Mask.bias(tensor(arena, alibi, p.m())));
            sameBits(() -> results(attention, arena, p, asTensor, dOut),
                    List.of(() -> results(attention, arena, p, alone, dOut)), "ALiBi against its tensor, %s", p);
            Mask both = p.mask().and(Mask.alibi(slope)).and(Mask.bias(tensor(arena, extra, p.m())));
            Mask summed = p.mask().and(Mask.bias(tensor(arena, sum, p.m())));
            sameBits(() -> results(attention, arena, p, summed, dOut),
                    List.of(() -> results(attention, arena, p, both, dOut)), "ALiBi and a bias against their sum, %s",
                    p);
        }
    }

    /** Output, log-sum-exp, weights, dQ, dK and dV as float arrays, for {@link PropertyChecks#sameBits}. */
    private static Object results(Attention attention, Arena arena, Problem p, Mask mask, float[][] dOut) {
        Tensor out = Tensor.allocate(arena, p.n(), p.dv());
        Tensor lse = Tensor.allocate(arena, p.n());
        attention.pool(p.queries(arena), p.keys(arena), p.values(arena), mask, out, lse);
        Tensor w = attention.weights(arena, p.queries(arena), p.keys(arena), mask);
        Gradients g = attention.gradients(arena, p.queries(arena), p.keys(arena), p.values(arena), mask,
                tensor(arena, dOut, p.dv()));
        return new Object[] {out.toFlatArray(), lse.toFlatArray(), w.toFlatArray(), g.queries().toFlatArray(),
                g.keys().toFlatArray(), g.values().toFlatArray()};
    }
}
