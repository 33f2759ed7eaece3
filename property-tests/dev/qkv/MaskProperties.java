package dev.qkv;

import static dev.qkv.PropertyChecks.check;
import static dev.qkv.PropertyChecks.checkLogSumExp;
import static dev.qkv.PropertyChecks.checkWithin;
import static dev.qkv.PropertyChecks.sameBitsOnOtherInputs;

import dev.qkv.Problem.MaskKind;
import dev.qkv.kernel.Kernels;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The laws of {@link Mask}: query i sees exactly the keys its masks let through, as documented (valid lengths,
 * causal bottom-right, explicit matrix or row, and their {@link Mask#and}); a hidden key or value is never read; a
 * query left with no key gets output 0 and log-sum-exp −∞. Which keys a query sees is worked out by
 * {@link Problem#sees}, from the rules, and the results are held to a {@link Float64Reference} over those keys.
 */
class MaskProperties {

    @Provide
    Arbitrary<Kernels> kernels() {
        return Arbitraries.of(TestKernels.all());
    }

    @Provide
    Arbitrary<Problem> causal() {
        return problems(Arbitraries.of(MaskKind.CAUSAL));
    }

    @Provide
    Arbitrary<Problem> explicitAndCombined() {
        return problems(Arbitraries.of(MaskKind.EXPLICIT, MaskKind.EXPLICIT_ROW, MaskKind.EXPLICIT_AND_CAUSAL,
                MaskKind.EXPLICIT_ROW_AND_VALID_LENGTHS, MaskKind.CAUSAL_AND_VALID_LENGTHS));
    }

    @Provide
    Arbitrary<Problem> masked() {
        return problems(Arbitraries.of(MaskKind.class).filter(kind -> kind != MaskKind.NONE));
    }

    /** Problems of every mask kind with one query, picked at random, left with no key at all. */
    @Provide
    Arbitrary<Problem> blind() {
        return problems(Arbitraries.of(MaskKind.class)).flatMap(p -> Arbitraries.integers().between(0, p.n() - 1)
                .map(p::blinded));
    }

    /**
     * 1 to 12 queries (one, several: row by row) or 17 to 40 (the many-query tiles under dot scoring, which pay off
     * from about 16 queries in cache, {@code Pooling#tiled}: whole and partial micro tiles) over 0 to 300 keys,
     * mostly few: fewer keys than queries leaves causal queries with no key; more than 64 crosses the tiles' blocks.
     */
    private static Arbitrary<Problem> problems(Arbitrary<MaskKind> kinds) {
        return Problem.problems(Arbitraries.oneOf(Arbitraries.integers().between(1, 12),
                        Arbitraries.integers().between(17, 40)),
                Arbitraries.oneOf(Arbitraries.integers().between(0, 20), Arbitraries.integers().between(0, 300)),
                Problem.dims(40), Problem.dims(40), kinds);
    }

    /**
     * Under the causal mask query i of n sees key j of m when j ≤ i + (m − n): weights, output and log-sum-exp
     * agree with the float64 reference over those keys within the bounds of {@link Float64Reference} (for the
     * passes of one call, {@link Problem#passes}); where m &lt; n the first n − m queries see no key: weights and
     * output 0, log-sum-exp −∞, exactly (the reference's bounds are then 0).
     */
    @Property(tries = 150)
    void causalQueriesSeeTheKeysUpToTheirDiagonal(@ForAll("kernels") Kernels kernels,
            @ForAll("causal") Problem p) {
        checkAgainstTheReference(kernels, p);
    }

    /**
     * An explicit mask (n × m, or one row for every query), alone or combined by {@link Mask#and} with the causal
     * mask or valid lengths, lets query i see exactly the keys every part lets through: as for
     * {@link #causalQueriesSeeTheKeysUpToTheirDiagonal}, against the reference over those keys.
     */
    @Property(tries = 150)
    void explicitAndCombinedMasksLetThroughWhatEveryPartLets(@ForAll("kernels") Kernels kernels,
            @ForAll("explicitAndCombined") Problem p) {
        checkAgainstTheReference(kernels, p);
    }

    private static void checkAgainstTheReference(Kernels kernels, Problem p) {
        Attention attention = attention(kernels, p, false);
        try (Arena arena = Arena.ofConfined()) {
            Pooled pooled = Pooled.of(attention, p, arena);
            for (int i = 0; i < p.n(); i++) {
                Float64Reference ref = p.reference(i);
                Float64Reference.Passes passes = p.passes(i, 0, p.m());
                for (int j = 0; j < p.m(); j++) {
                    checkWithin(pooled.weights[i][j], ref.weights[j], ref.weightBound[j], "weight (%d, %d)", i, j);
                }
                double[] bound = ref.outputBound(passes);
                for (int j = 0; j < p.dv(); j++) {
                    checkWithin(pooled.output[i][j], ref.output[j], bound[j], "output (%d, %d)", i, j);
                }
                checkLogSumExp(pooled.logSumExp[i], ref.logSumExp, ref.logSumExpBound(passes), "log-sum-exp %d", i);
            }
        }
    }

    /**
     * A key or value a query does not see is never read for it: with every entry of those keys and values set to
     * NaN, +∞ or −∞ (for the other queries they may be visible, and poison them), the query's output, log-sum-exp
     * and weights are finite (or −∞ for no key) and bitwise those of the clean inputs. On the many-query tiles the
     * hidden keys of one row are still scored alongside the others of its tile; their scores must be dropped, and
     * their values never multiplied, not even by a weight of 0.
     */
    @Property(tries = 100)
    void hiddenKeysAndValuesAreNeverReadForTheQuery(@ForAll("kernels") Kernels kernels, @ForAll("masked") Problem p,
            @ForAll long seed) {
        Attention attention = attention(kernels, p, false);
        try (Arena arena = Arena.ofConfined()) {
            for (int i = 0; i < p.n(); i++) {
                int row = i;
                Problem poisoned = p.poisoned(j -> !p.sees(row, j), seed + i);
                checkFinite(Pooled.of(attention, poisoned, arena), i);
                sameBitsOnOtherInputs(() -> Pooled.of(attention, p, arena).row(row),
                        () -> Pooled.of(attention, poisoned, arena).row(row), "query %d with the keys and values it does not see poisoned", i);
            }
        }
    }

    /**
     * Keys and values no query sees may hold anything: poisoned as above, they pass the finiteness check (which
     * only looks at keys some query sees) and leave every output, log-sum-exp and weight finite and bitwise the same.
     */
    @Property(tries = 100)
    void keysNoQuerySeesMayHoldAnything(@ForAll("kernels") Kernels kernels, @ForAll("masked") Problem p,
            @ForAll long seed) {
        Attention attention = attention(kernels, p, true);
        Problem poisoned = p.poisoned(j -> !p.seenByAny(j), seed);
        try (Arena arena = Arena.ofConfined()) {
            Pooled dirty = Pooled.of(attention, poisoned, arena);
            for (int i = 0; i < p.n(); i++) {
                checkFinite(dirty, i);
            }
            sameBitsOnOtherInputs(() -> Pooled.of(attention, p, arena).all(),
                    () -> Pooled.of(attention, poisoned, arena).all(),
                    "with the keys no query sees poisoned");
        }
    }

    /**
     * A query whose masks leave it no key gets weights 0, output 0 and log-sum-exp −∞ (PyTorch's and
     * FlashAttention's convention), from {@link Attention#pool} and {@link Attention#partial} alike, whose row is
     * then empty: max −∞, sum 0. Its keys and values are poisoned, so nothing of theirs may be read.
     */
    @Property(tries = 100)
    void aQueryThatSeesNoKeyGetsZeroAndMinusInfinity(@ForAll("kernels") Kernels kernels,
            @ForAll("blind") Problem p, @ForAll long seed) {
        Attention attention = attention(kernels, p, false);
        try (Arena arena = Arena.ofConfined()) {
            for (int i = 0; i < p.n(); i++) {
                int row = i;
                if (anySeen(p, i)) {
                    continue;
                }
                Problem poisoned = p.poisoned(j -> !p.sees(row, j), seed + i);
                Pooled pooled = Pooled.of(attention, poisoned, arena);
                Partial partial = attention.partial(poisoned.queries(arena), poisoned.keys(arena),
                        poisoned.values(arena), poisoned.mask());
                float[] partialOut = partial.output(arena).rowToArray(i);
                for (int j = 0; j < p.dv(); j++) {
                    check(pooled.output[i][j] == 0 && partialOut[j] == 0, "query %d sees no key: output %s, partial %s",
                            i, Arrays.toString(pooled.output[i]), Arrays.toString(partialOut));
                }
                for (int j = 0; j < p.m(); j++) {
                    check(pooled.weights[i][j] == 0, "query %d sees no key: weights %s", i,
                            Arrays.toString(pooled.weights[i]));
                }
                check(pooled.logSumExp[i] == Float.NEGATIVE_INFINITY
                        && partial.logSumExp(i) == Float.NEGATIVE_INFINITY, "query %d sees no key: log-sum-exp %s, "
                        + "partial %s", i, pooled.logSumExp[i], partial.logSumExp(i));
                check(partial.max(i) == Float.NEGATIVE_INFINITY && partial.sum(i) == 0,
                        "query %d sees no key: partial max %s, sum %s", i, partial.max(i), partial.sum(i));
            }
        }
    }

    private static boolean anySeen(Problem p, int i) {
        for (int j = 0; j < p.m(); j++) {
            if (p.sees(i, j)) {
                return true;
            }
        }
        return false;
    }

    private static void checkFinite(Pooled pooled, int i) {
        boolean finite = pooled.logSumExp[i] == Float.NEGATIVE_INFINITY || Float.isFinite(pooled.logSumExp[i]);
        for (float x : pooled.output[i]) {
            finite &= Float.isFinite(x);
        }
        for (float x : pooled.weights[i]) {
            finite &= Float.isFinite(x);
        }
        check(finite, "query %d: output %s, log-sum-exp %s, weights %s", i, Arrays.toString(pooled.output[i]),
                pooled.logSumExp[i], Arrays.toString(pooled.weights[i]));
    }

    private static Attention attention(Kernels kernels, Problem p, boolean checkFinite) {
        return Attention.builder().scoring(p.scoring()).kernels(kernels.name()).checkFinite(checkFinite).build();
    }

    /** Output, log-sum-exp and weights of one call each, under the problem's mask. */
    private record Pooled(float[][] output, float[] logSumExp, float[][] weights) {

        static Pooled of(Attention attention, Problem p, Arena arena) {
            Tensor queries = p.queries(arena);
            Tensor keys = p.keys(arena);
            Tensor out = Tensor.allocate(arena, p.n(), p.dv());
            Tensor lse = Tensor.allocate(arena, p.n());
            attention.pool(queries, keys, p.values(arena), p.mask(), out, lse);
            return new Pooled(out.toArray(), lse.toFlatArray(), attention.weights(arena, queries, keys, p.mask())
                    .toArray());
        }

        Object[] row(int i) {
            return new Object[] {output[i], logSumExp[i], weights[i]};
        }

        Object[] all() {
            return new Object[] {output, logSumExp, weights};
        }
    }
}
