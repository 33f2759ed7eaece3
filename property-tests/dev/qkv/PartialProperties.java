package dev.qkv;

import static dev.qkv.ErrorBounds.EXP_ERROR;
import static dev.qkv.ErrorBounds.TINY;
import static dev.qkv.ErrorBounds.U;
import static dev.qkv.ErrorBounds.gamma;
import static dev.qkv.PropertyChecks.check;
import static dev.qkv.PropertyChecks.checkLogSumExp;
import static dev.qkv.PropertyChecks.checkWithin;

import dev.qkv.kernel.Kernels;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The laws of {@link Partial}: the partials of the shards of a database, merged in any order and tree shape, give
 * the pooling of the whole; the partial of no keys is the identity of {@link Partial#merge}, which is commutative
 * bitwise and associative within a bound derived from its arithmetic.
 */
class PartialProperties {

    /** Covers the rounding of a bound computed in double from a few exact floats. */
    private static final double SLACK = 1 + 0x1p-30;

    @Provide
    Arbitrary<Kernels> kernels() {
        return Arbitraries.of(TestKernels.all());
    }

    @Provide
    Arbitrary<Problem> problems() {
        return Problem.problems(Arbitraries.integers().between(1, 40), Arbitraries.integers().between(0, 300),
                Problem.dims(40), Problem.dims(40), Arbitraries.of(Problem.MaskKind.class));
    }

    /**
     * Cut the keys into 1 to 6 contiguous shards (some empty), pool each with {@link Attention#partial} over row views
     * of the keys and values and the mask sliced to the shard ({@link Problem#mask(int, int)}), and merge the partials
     * two at a time in a random order and tree shape: the output and log-sum-exp are those of {@link Attention#pool}
     * over all the keys. Both are bounded against the exact pooling by {@link Float64Reference}, each for the passes
     * it made: pieces and blocks of every shard for the merge, of one call for the pool; they differ by at most the
     * sum. A query that sees no key gets output 0 and log-sum-exp −∞ either way.
     */
    @Property(tries = 300)
    void shardsMergeToTheWhole(@ForAll("kernels") Kernels kernels, @ForAll("problems") Problem p,
            @ForAll long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int n = p.n();
        int m = p.m();
        int[] cuts = cuts(random, m, 1 + random.nextInt(6));
        Attention attention = Attention.builder().scoring(p.scoring()).kernels(kernels.name()).build();
        try (Arena arena = Arena.ofConfined()) {
            Tensor queries = p.queries(arena);
            Tensor keys = p.keys(arena);
            Tensor values = p.values(arena);
            List<Partial> partials = new ArrayList<>();
            for (int s = 0; s + 1 < cuts.length; s++) {
                partials.add(attention.partial(queries, keys.rows(cuts[s], cuts[s + 1]),
                        values.rows(cuts[s], cuts[s + 1]), p.mask(cuts[s], cuts[s + 1])));
            }
            Partial merged = mergeInRandomTree(random, partials);
            float[][] out = merged.output(arena).toArray();

            Tensor wholeOut = Tensor.allocate(arena, n, p.dv());
            Tensor wholeLse = Tensor.allocate(arena, n);
            attention.pool(queries, keys, values, p.mask(), wholeOut, wholeLse);
            float[][] whole = wholeOut.toArray();
            for (int i = 0; i < n; i++) {
                Float64Reference ref = p.reference(i);
                Float64Reference.Passes shards = new Float64Reference.Passes(0, 0);
                for (int s = 0; s + 1 < cuts.length; s++) {
                    shards = shards.plus(p.passes(i, cuts[s], cuts[s + 1]));
                }
                Float64Reference.Passes once = p.passes(i, 0, m);
                double[] boundShards = ref.kernelOutputBound(shards);
                double[] boundOnce = ref.kernelOutputBound(once);
                for (int j = 0; j < p.dv(); j++) {
                    checkWithin(out[i][j], whole[i][j], boundShards[j] + boundOnce[j],
                            "output (%d, %d) merged from shards %s", i, j, Arrays.toString(cuts));
                }
                checkLogSumExp((float) merged.logSumExp(i), wholeLse.get(i), ref.kernelLogSumExpBound(shards)
                        + ref.kernelLogSumExpBound(once), "log-sum-exp %d merged from shards %s", i,
                        Arrays.toString(cuts));
                if (ref.logSumExp == Double.NEGATIVE_INFINITY) {
                    checkLogSumExp(wholeLse.get(i), ref.logSumExp, 0, "log-sum-exp %d", i);
                }
            }
        }
    }

    /**
     * Merging with the partial of no keys, on either side, changes nothing, bitwise: merge leaves a row as it is when
     * the other side's sum is 0, and copies the other side into an empty row. The partial here covers all kinds of
     * rows, those whose query saw no key among them.
     */
    @Property(tries = 200)
    void theEmptyPartialIsTheIdentity(@ForAll("kernels") Kernels kernels, @ForAll("problems") Problem p) {
        Attention attention = Attention.builder().scoring(p.scoring()).kernels(kernels.name()).build();
        try (Arena arena = Arena.ofConfined()) {
            Partial partial = attention.partial(p.queries(arena), p.keys(arena), p.values(arena), p.mask());
            Partial empty = Partial.empty(p.n(), p.dv());
            checkSameBits(partial.merge(empty), partial, "p merged with the empty partial");
            checkSameBits(empty.merge(partial), partial, "the empty partial merged with p");
        }
    }

    /**
     * merge(a, b) and merge(b, a) are bitwise the same: both bring the two sides to M = max(Mₐ, M_b) (max is
     * commutative) with the same factors exp(Mₐ − M) and exp(M_b − M), and add the same two rounded products, and
     * float addition is commutative. The shards here are two random contiguous runs of keys, either possibly empty.
     */
    @Property(tries = 200)
    void mergeIsCommutative(@ForAll("kernels") Kernels kernels, @ForAll("problems") Problem p, @ForAll long seed) {
        int[] cuts = cuts(new SplittableRandom(seed), p.m(), 2);
        try (Arena arena = Arena.ofConfined()) {
            Partial[] parts = partials(kernels, p, cuts, arena);
            checkSameBits(parts[0].merge(parts[1]), parts[1].merge(parts[0]), "merge(a, b) against merge(b, a)");
        }
    }

    /**
     * (a·b)·c and a·(b·c) give outputs within twice the bound of either against the exact merge of the three
     * states (Mₖ, Sₖ, Aₖ): with M = max Mₖ, S* = Σₖ Sₖe^{Mₖ−M} and A* = Σₖ Aₖe^{Mₖ−M}, the exact output is A* / S*. A
     * tree takes each side through at most two merges, each an exp of a rounded difference of maxima (those
     * differences share one sign and add up to Mₖ − M, so their roundings cost at most u·(M − Mₖ) in the
     * exponent), a product and a sum on the accumulator and on the sum: Aₖ and Sₖ arrive scaled by e^{Mₖ−M}(1 + ρₖ),
     * |ρₖ| ≤ ρ = (1 + EXP_ERROR)²·e^{u·maxₖ(M−Mₖ)}·(1 + γ₄) − 1. So |A − A*| ≤ ρ·W with W = Σₖ|Aₖ|e^{Mₖ−M},
     * S = S*(1 + β), |β| ≤ ρ, and |A/S − A* / S*| ≤ 2ρW/(S*(1 − ρ)); the finish fl(A·fl(1/S)) adds γ₂·|A/S|. Each of
     * the at most 14 roundings (two merges of three each on A and S, the finish) that falls below the normal range is
     * off by TINY, and S* ≥ 1 (the largest side's sum holds its own exp(0) = 1). The log-sum-exp fl(M + fl(log S)),
     * M exact: log S is within −log(1 − ρ) of log S*, Math.log and the rounding to float add 2u·|log S|, the last
     * addition u·|M + log S|. Partials hold and merge doubles, whose roundings (2⁻⁵³) are each below the float u
     * counted here, and the finish rounds A/S to float once, within the γ₂ counted for it; log-sum-exp is compared as
     * the float a caller of {@code pool} gets. The bound is computed in double, scaled by {@link #SLACK}.
     */
    @Property(tries = 200)
    void mergeIsAssociative(@ForAll("kernels") Kernels kernels, @ForAll("problems") Problem p, @ForAll long seed) {
        int[] cuts = cuts(new SplittableRandom(seed), p.m(), 3);
        try (Arena arena = Arena.ofConfined()) {
            Partial[] parts = partials(kernels, p, cuts, arena);
            Partial left = parts[0].merge(parts[1]).merge(parts[2]);
            Partial right = parts[0].merge(parts[1].merge(parts[2]));
            float[][] outLeft = left.output(arena).toArray();
            float[][] outRight = right.output(arena).toArray();
            for (int i = 0; i < p.n(); i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (Partial part : parts) {
                    max = Math.max(max, part.max(i));
                }
                if (max == Double.NEGATIVE_INFINITY) {
                    check(Arrays.equals(outLeft[i], new float[p.dv()]) && Arrays.equals(outRight[i], outLeft[i]),
                            "query %d saw no key: outputs %s and %s", i, Arrays.toString(outLeft[i]),
                            Arrays.toString(outRight[i]));
                    check(left.logSumExp(i) == Double.NEGATIVE_INFINITY && right.logSumExp(i) == left.logSumExp(i),
                            "query %d saw no key: log-sum-exp %s and %s", i, left.logSumExp(i), right.logSumExp(i));
                    continue;
                }
                double widestGap = 0;
                double sStar = 0;
                double[] w = new double[p.dv()];
                for (Partial part : parts) {
                    if (part.sum(i) == 0) {
                        continue;
                    }
                    double gap = max - part.max(i);
                    double scale = Math.exp(-gap);
                    widestGap = Math.max(widestGap, gap);
                    sStar += part.sum(i) * scale;
                    double[] acc = part.acc(i);
                    for (int j = 0; j < p.dv(); j++) {
                        w[j] += Math.abs(acc[j]) * scale;
                    }
                }
                double rho = Math.pow(1 + EXP_ERROR, 2) * Math.exp(U * widestGap) * (1 + gamma(4)) - 1;
                for (int j = 0; j < p.dv(); j++) {
                    double tree = w[j] / sStar * (2 * rho + gamma(2) * (1 + rho)) / (1 - rho)
                            + 14 * TINY * Math.max(1, w[j] / sStar);
                    checkWithin(outLeft[i][j], outRight[i][j], 2 * SLACK * tree,
                            "output (%d, %d): (a·b)·c against a·(b·c), shards %s", i, j, Arrays.toString(cuts));
                }
                double rhoS = rho + 14 * TINY;
                double ell = Math.abs(Math.log(sStar)) - Math.log1p(-rhoS);
                double tree = -Math.log1p(-rhoS) + 2 * U * ell + U * (Math.abs(max) + (1 + 2 * U) * ell);
                checkWithin((float) left.logSumExp(i), right.logSumExp(i), 2 * SLACK * tree,
                        "log-sum-exp %d: (a·b)·c against a·(b·c), shards %s", i, Arrays.toString(cuts));
            }
        }
    }

    /** Cut points 0 = c₀ ≤ c₁ ≤ … ≤ c_s = m of s contiguous shards, any of them possibly empty. */
    private static int[] cuts(SplittableRandom random, int m, int shards) {
        int[] cuts = new int[shards + 1];
        for (int s = 1; s < shards; s++) {
            cuts[s] = random.nextInt(m + 1);
        }
        cuts[shards] = m;
        Arrays.sort(cuts, 1, shards);
        return cuts;
    }

    private static Partial[] partials(Kernels kernels, Problem p, int[] cuts, Arena arena) {
        Attention attention = Attention.builder().scoring(p.scoring()).kernels(kernels.name()).build();
        Tensor queries = p.queries(arena);
        Tensor keys = p.keys(arena);
        Tensor values = p.values(arena);
        Partial[] parts = new Partial[cuts.length - 1];
        for (int s = 0; s < parts.length; s++) {
            parts[s] = attention.partial(queries, keys.rows(cuts[s], cuts[s + 1]), values.rows(cuts[s], cuts[s + 1]),
                    p.mask(cuts[s], cuts[s + 1]));
        }
        return parts;
    }

    /** Merges two partials picked at random, either way round, until one is left. */
    private static Partial mergeInRandomTree(SplittableRandom random, List<Partial> partials) {
        List<Partial> left = new ArrayList<>(partials);
        while (left.size() > 1) {
            Partial a = left.remove(random.nextInt(left.size()));
            Partial b = left.remove(random.nextInt(left.size()));
            left.add(random.nextBoolean() ? a.merge(b) : b.merge(a));
        }
        return left.getFirst();
    }

    /** max, sum, acc and log-sum-exp of every row, bit for bit. */
    private static void checkSameBits(Partial actual, Partial expected, String what) {
        for (int i = 0; i < expected.queries(); i++) {
            check(Double.doubleToRawLongBits(actual.max(i)) == Double.doubleToRawLongBits(expected.max(i))
                    && Double.doubleToRawLongBits(actual.sum(i)) == Double.doubleToRawLongBits(expected.sum(i))
                    && Arrays.equals(bits(actual.acc(i)), bits(expected.acc(i)))
                    && Double.doubleToRawLongBits(actual.logSumExp(i))
                            == Double.doubleToRawLongBits(expected.logSumExp(i)),
                    "%s, row %d: max %s, sum %s, acc %s; expected max %s, sum %s, acc %s", what, i, actual.max(i),
                    actual.sum(i), Arrays.toString(actual.acc(i)), expected.max(i), expected.sum(i),
                    Arrays.toString(expected.acc(i)));
        }
    }

    private static long[] bits(double[] x) {
        long[] bits = new long[x.length];
        for (int i = 0; i < x.length; i++) {
            bits[i] = Double.doubleToRawLongBits(x[i]);
        }
        return bits;
    }
}
