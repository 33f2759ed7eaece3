package dev.qkv;

import static dev.qkv.PropertyChecks.sameBits;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * A batched, multi-head, grouped-query call is the loop over its (b, h) pairs of the 2-D call on one thread:
 * bitwise, for output, log-sum-exp and weights, whatever the layout of the inputs (heads as strided views of a
 * (B, n, H·d) projection, keys shared by every batch), the masks per batch, and the number of threads.
 */
class MultiHeadProperties {

    /** How the masks of a case vary over its batches. */
    enum Masks { NONE, LENGTHS_PER_BATCH, LENGTHS_PER_QUERY, CAUSAL, EXPLICIT_PER_BATCH }

    record Case(String kernels, Scoring scoring, int batch, int kvHeads, int group, int n, int m, int d, int dv,
            boolean projection, boolean sharedKeys, Masks masks, int threads, long seed) {

        int heads() {
            return kvHeads * group;
        }
    }

    @Provide
    Arbitrary<Case> cases() {
        return cases(Arbitraries.integers().between(1, 40), Arbitraries.integers().between(0, 70));
    }

    /** One shape per path of the 2-D call: the tiles from 128 queries, shards of keys past 8192. */
    @Provide
    Arbitrary<Case> largeCases() {
        return Arbitraries.oneOf(cases(Arbitraries.integers().between(128, 140), Arbitraries.integers().between(64, 200)),
                cases(Arbitraries.integers().between(1, 3), Arbitraries.integers().between(8193, 9000)));
    }

    private static Arbitrary<Case> cases(Arbitrary<Integer> ns, Arbitrary<Integer> ms) {
        Arbitrary<Integer> small = Arbitraries.integers().between(1, 3);
        Arbitrary<Object[]> shapes = Combinators.combine(small, small, small, ns, ms, Problem.dims(20), Problem.dims(20))
                .as((b, hkv, g, n, m, d, dv) -> new Object[] {b, hkv, g, n, m, d, dv});
        return Combinators.combine(Arbitraries.of(TestKernels.names()), Problem.scorings(), shapes,
                Arbitraries.of(true, false), Arbitraries.of(true, false), Arbitraries.of(Masks.class),
                Arbitraries.of(1, 2, 3, 8), Arbitraries.longs())
                .as((kernels, scoring, s, projection, shared, masks, threads, seed) -> new Case(kernels, scoring,
                        (int) s[0], (int) s[1], (int) s[2], (int) s[3], (int) s[4], (int) s[5], (int) s[6], projection,
                        shared, masks, threads, seed));
    }

    @Property(tries = 60)
    void multiHeadCallIsTheLoopOverItsHeads(@ForAll("cases") Case c) {
        check(c);
    }

    @Property(tries = 6, edgeCases = EdgeCasesMode.NONE)
    void multiHeadCallIsTheLoopOverItsHeadsOnEveryPath(@ForAll("largeCases") Case c) {
        check(c);
    }

    private static void check(Case c) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom random = new SplittableRandom(c.seed());
            int kvBatch = c.sharedKeys() ? 1 : c.batch();
            Tensor queries = c.projection()
                    ? random(arena, random, new int[] {c.batch(), c.n(), c.heads() * c.d()}).splitHeads(c.heads())
                    : random(arena, random, new int[] {c.batch(), c.heads(), c.n(), c.d()});
            Tensor keys = random(arena, random, new int[] {kvBatch, c.kvHeads(), c.m(), c.d()});
            Tensor values = random(arena, random, new int[] {kvBatch, c.kvHeads(), c.m(), c.dv()});
            List<Mask> masks = masks(c, random);
            Attention attention = Attention.builder().kernels(c.kernels()).scoring(c.scoring()).threads(c.threads())
                    .build();
            Attention oneThread = Attention.builder().kernels(c.kernels()).scoring(c.scoring()).build();
            MultiHeadAttention multi = MultiHeadAttention.of(attention);

            Supplier<Object> loop = () -> {
                List<float[]> out = new ArrayList<>();
                List<float[]> lse = new ArrayList<>();
                List<float[]> weights = new ArrayList<>();
                for (int b = 0; b < c.batch(); b++) {
                    for (int h = 0; h < c.heads(); h++) {
                        Tensor q = queries.slice(b, h);
                        Tensor k = keys.slice(c.sharedKeys() ? 0 : b, h / c.group());
                        Tensor v = values.slice(c.sharedKeys() ? 0 : b, h / c.group());
                        Mask mask = masks.get(masks.size() == 1 ? 0 : b);
                        Tensor o = Tensor.allocate(arena, c.n(), c.dv());
                        Tensor l = Tensor.allocate(arena, c.n());
                        oneThread.pool(q, k, v, mask, o, l);
                        out.add(o.toFlatArray());
                        lse.add(l.toFlatArray());
                        weights.add(oneThread.weights(arena, q, k, mask).toFlatArray());
                    }
                }
                return new Object[] {concat(out), concat(lse), concat(weights)};
            };
            Supplier<Object> batched = () -> {
                Tensor out = Tensor.allocate(arena, c.batch(), c.heads(), c.n(), c.dv());
                Tensor lse = Tensor.allocate(arena, c.batch(), c.heads(), c.n());
                multi.pool(queries, keys, values, masks, out, lse);
                Tensor weights = multi.weights(arena, queries, keys, masks);
                return new Object[] {out.toFlatArray(), lse.toFlatArray(), weights.toFlatArray()};
            };
            sameBits(loop, batched, "%s", c);
        }
    }

    private static List<Mask> masks(Case c, SplittableRandom random) {
        return switch (c.masks()) {
            case NONE -> List.of(Mask.none());
            case CAUSAL -> List.of(Mask.causal());
            case LENGTHS_PER_BATCH -> {
                int[] lengths = new int[c.batch()];
                for (int b = 0; b < lengths.length; b++) {
                    lengths[b] = random.nextInt(c.m() + 2);
                }
                yield MultiHeadAttention.validLengths(lengths, c.n());
            }
            case LENGTHS_PER_QUERY -> {
                int[][] lengths = new int[c.batch()][c.n()];
                for (int[] row : lengths) {
                    for (int i = 0; i < row.length; i++) {
                        row[i] = random.nextInt(c.m() + 2);
                    }
                }
                yield MultiHeadAttention.validLengths(lengths);
            }
            case EXPLICIT_PER_BATCH -> {
                List<Mask> masks = new ArrayList<>();
                for (int b = 0; b < c.batch(); b++) {
                    boolean[][] visible = new boolean[c.n()][c.m()];
                    for (boolean[] row : visible) {
                        for (int j = 0; j < row.length; j++) {
                            row[j] = random.nextInt(4) != 0;
                        }
                    }
                    masks.add(Mask.explicit(visible));
                }
                yield masks;
            }
        };
    }

    private static Tensor random(Arena arena, SplittableRandom random, int[] shape) {
        int size = 1;
        for (int s : shape) {
            size *= s;
        }
        float[] values = new float[size];
        for (int i = 0; i < size; i++) {
            values[i] = (float) (random.nextDouble() * 8 - 4);
        }
        return Tensor.of(arena, shape, values);
    }

    private static float[] concat(List<float[]> parts) {
        float[] out = new float[parts.stream().mapToInt(p -> p.length).sum()];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
