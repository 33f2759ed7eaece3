package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link MultiHeadAttention#partials} and {@link MultiHeadAttention#gradients}: each (b, h) is the 2-D call of its
 * slices, and a key head shared by a group of query heads (grouped-query attention) and by every batch gets the sum
 * of their gradients in (b, h) order.
 */
class MultiHeadGradientsTest {

    private static final int BATCH = 2;
    private static final int HEADS = 4;
    private static final int N = 7;
    private static final int M = 11;
    private static final int D = 3;
    private static final int DV = 2;

    private static Tensor random(Arena arena, Random random, int... shape) {
        long size = 1;
        for (int s : shape) {
            size *= s;
        }
        float[] x = new float[(int) size];
        for (int i = 0; i < x.length; i++) {
            x[i] = random.nextFloat() * 4 - 2;
        }
        return Tensor.of(arena, shape, x);
    }

    @Test
    void partialsPerHeadFinishAsThePool() {
        Random random = new Random(1);
        try (Arena arena = Arena.ofShared()) {
            Tensor q = random(arena, random, BATCH, HEADS, N, D);
            Tensor k = random(arena, random, BATCH, 2, M, D);
            Tensor v = random(arena, random, BATCH, 2, M, DV);
            List<Mask> masks = List.of(Mask.causal().and(Mask.alibi(Mask.alibiSlopes(HEADS))));
            MultiHeadAttention multi = MultiHeadAttention.of(Attention.builder().threads(3).build());
            Tensor out = multi.pool(arena, q, k, v, masks);
            List<Partial> partials = multi.partials(q, k, v, masks);
            assertEquals(BATCH * HEADS, partials.size());
            for (int b = 0; b < BATCH; b++) {
                for (int h = 0; h < HEADS; h++) {
                    Partial p = partials.get(b * HEADS + h).merge(Partial.empty(N, DV));
                    assertArrayEquals(out.slice(b, h).toFlatArray(), p.output(arena).toFlatArray());
                }
            }
        }
    }

    @Test
    void sharedKeyHeadsGetTheSumOfTheirQueryHeadsGradients() {
        Random random = new Random(2);
        try (Arena arena = Arena.ofShared()) {
            Tensor q = random(arena, random, BATCH, HEADS, N, D);
            Tensor k = random(arena, random, 1, 2, M, D); // batch 1: every batch reads it
            Tensor v = random(arena, random, 1, 2, M, DV);
            Tensor g = random(arena, random, BATCH, HEADS, N, DV);
            Tensor bias = random(arena, random, BATCH, 1, N, M);
            List<Mask> masks = List.of(Mask.bias(bias), Mask.validLengths(3, 4, 5, 6, 7, 8, 9));
            Attention a = Attention.builder().kernels("scalar").build();
            Gradients all = MultiHeadAttention.of(a).gradients(arena, q, k, v, masks, g);

            float[][] dk = new float[2][M * D];
            float[][] dv = new float[2][M * DV];
            double factor = 0;
            for (int b = 0; b < BATCH; b++) {
                for (int h = 0; h < HEADS; h++) {
                    Mask mask = b == 0 ? Mask.bias(bias.slice(0, 0)) : Mask.validLengths(3, 4, 5, 6, 7, 8, 9);
                    Gradients one = a.gradients(arena, q.slice(b, h), k.slice(0, h / 2), v.slice(0, h / 2), mask,
                            g.slice(b, h));
                    assertArrayEquals(one.queries().toFlatArray(), all.queries().slice(b, h).toFlatArray());
                    float[] ok = one.keys().toFlatArray();
                    float[] ov = one.values().toFlatArray();
                    for (int i = 0; i < ok.length; i++) {
                        dk[h / 2][i] += ok[i];
                    }
                    for (int i = 0; i < ov.length; i++) {
                        dv[h / 2][i] += ov[i];
                    }
                    factor += one.factor();
                }
            }
            assertArrayEquals(new int[] {1, 2, M, D}, all.keys().shape());
            for (int kv = 0; kv < 2; kv++) {
                assertArrayEquals(dk[kv], all.keys().slice(0, kv).toFlatArray());
                assertArrayEquals(dv[kv], all.values().slice(0, kv).toFlatArray());
            }
            assertEquals(factor, all.factor());

            Attention three = Attention.builder().kernels("scalar").threads(3).build();
            Gradients threaded = MultiHeadAttention.of(three).gradients(arena, q, k, v, masks, g);
            assertArrayEquals(all.keys().toFlatArray(), threaded.keys().toFlatArray());
            assertArrayEquals(all.queries().toFlatArray(), threaded.queries().toFlatArray());

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MultiHeadAttention.of(a)
                    .gradients(arena, q, k, v, masks, Tensor.allocate(arena, BATCH, HEADS, N, DV + 1)));
            assertEquals("gradient of the output has shape (2, 4, 7, 3), expected (2, 4, 7, 2)", e.getMessage());
        }
    }
}
