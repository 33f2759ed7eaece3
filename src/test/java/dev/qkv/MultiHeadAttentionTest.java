package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Shapes, grouped-query heads, masks per batch and refusals of {@link MultiHeadAttention}. */
class MultiHeadAttentionTest {

    private Arena arena;

    @BeforeEach
    void openArena() {
        arena = Arena.ofConfined();
    }

    @AfterEach
    void closeArena() {
        arena.close();
    }

    private static float[] filled(int n, float value) {
        float[] out = new float[n];
        java.util.Arrays.fill(out, value);
        return out;
    }

    /**
     * Key head g holds one key that matches far better than the other: a lookup of its value, g + 10 for key 0 of
     * head g. Query heads 0 and 1 look up in key head 0, heads 2 and 3 in key head 1 (H = 4, H_kv = 2).
     */
    @Test
    void queryHeadsOfAGroupShareTheirKeyHead() {
        int n = 1;
        Tensor queries = Tensor.of(arena, new int[] {1, 4, n, 2}, new float[] {1, 0, 1, 0, 0, 1, 0, 1});
        Tensor keys = Tensor.of(arena, new int[] {1, 2, 2, 2}, new float[] {50, 0, 0, 50, 50, 0, 0, 50});
        Tensor values = Tensor.of(arena, new int[] {1, 2, 2, 1}, new float[] {10, 20, 11, 21});

        Tensor out = MultiHeadAttention.of(Attention.builder().scoring(Scoring.dot()).build())
                .pool(arena, queries, keys, values);

        assertArrayEquals(new int[] {1, 4, 1, 1}, out.shape());
        // head 0: q = e0 in kv head 0 -> key 0 -> 10; head 1: e0, kv 0 -> 10; head 2: e1 in kv head 1 -> 21; head 3 -> 21
        assertArrayEquals(new float[] {10, 10, 21, 21}, out.toFlatArray());
    }

    @Test
    void outputsKeepTheLeadingDimensionsOfTheQueries() {
        Attention attention = Attention.scaledDot();
        MultiHeadAttention multi = MultiHeadAttention.of(attention);
        Tensor keys = Tensor.of(arena, 5, 3, filled(15, 0.5f));
        Tensor values = Tensor.of(arena, 5, 2, filled(10, 2));

        Tensor three = multi.pool(arena, Tensor.allocate(arena, 2, 4, 3), keys, values);
        Tensor two = multi.pool(arena, Tensor.allocate(arena, 4, 3), keys, values);
        Tensor weights = multi.weights(arena, Tensor.allocate(arena, 2, 6, 4, 3), keys, List.of(Mask.causal()));

        assertArrayEquals(new int[] {2, 4, 2}, three.shape());
        assertArrayEquals(new int[] {4, 2}, two.shape());
        assertArrayEquals(filled(16, 2), three.toFlatArray());
        assertArrayEquals(new int[] {2, 6, 4, 5}, weights.shape());
        // causal is aligned bottom-right: query 1 of 4 sees keys j <= 1 + (5 - 4)
        assertArrayEquals(new float[] {1 / 3f, 1 / 3f, 1 / 3f, 0, 0}, weights.slice(1, 5).rowToArray(1));
    }

    @Test
    void validLengthsOfShapeBOrBnMaskEachBatch() {
        MultiHeadAttention multi = MultiHeadAttention.of(Attention.scaledDot());
        Tensor queries = Tensor.allocate(arena, 2, 2, 1);
        Tensor keys = Tensor.allocate(arena, 2, 4, 1);

        Tensor perBatch = multi.weights(arena, queries, keys, MultiHeadAttention.validLengths(new int[] {1, 4}, 2));
        Tensor perQuery = multi.weights(arena, queries, keys,
                MultiHeadAttention.validLengths(new int[][] {{2, 0}, {3, 4}}));

        assertArrayEquals(new float[] {1, 0, 0, 0, 1, 0, 0, 0, .25f, .25f, .25f, .25f, .25f, .25f, .25f, .25f},
                perBatch.toFlatArray());
        assertArrayEquals(new float[] {.5f, .5f, 0, 0, 0, 0, 0, 0, 1 / 3f, 1 / 3f, 1 / 3f, 0, .25f, .25f, .25f, .25f},
                perQuery.toFlatArray());
    }

    @Test
    void logSumExpHasTheQueriesLeadingDimensionsAndN() {
        MultiHeadAttention multi = MultiHeadAttention.of(Attention.builder().scoring(Scoring.dot()).build());
        Tensor queries = Tensor.allocate(arena, 2, 3, 4, 1);
        Tensor keys = Tensor.allocate(arena, 2, 1, 5, 1);
        Tensor out = Tensor.allocate(arena, 2, 3, 4, 1);
        Tensor lse = Tensor.allocate(arena, 2, 3, 4);

        multi.pool(queries, keys, keys, List.of(Mask.none()), out, lse);

        assertArrayEquals(filled(24, (float) Math.log(5)), lse.toFlatArray());
    }

    @Test
    void shapesThatDoNotFitAreRefusedNamingThemAndNothingIsWritten() {
        MultiHeadAttention multi = MultiHeadAttention.of(Attention.scaledDot());
        Tensor out = Tensor.of(arena, new int[] {2, 3, 4, 2}, filled(48, 7));
        Tensor q = Tensor.allocate(arena, 2, 3, 4, 8);

        String heads = assertThrows(IllegalArgumentException.class,
                () -> multi.pool(q, Tensor.allocate(arena, 2, 2, 5, 8), Tensor.allocate(arena, 2, 2, 5, 2),
                        List.of(Mask.none()), out, null)).getMessage();
        String batch = assertThrows(IllegalArgumentException.class,
                () -> multi.pool(q, Tensor.allocate(arena, 3, 5, 8), Tensor.allocate(arena, 3, 5, 2),
                        List.of(Mask.none()), out, null)).getMessage();
        String masks = assertThrows(IllegalArgumentException.class,
                () -> multi.pool(q, Tensor.allocate(arena, 5, 8), Tensor.allocate(arena, 5, 2),
                        List.of(Mask.none(), Mask.none(), Mask.none()), out, null)).getMessage();
        String lengths = assertThrows(IllegalArgumentException.class,
                () -> multi.pool(q, Tensor.allocate(arena, 5, 8), Tensor.allocate(arena, 5, 2),
                        List.of(Mask.none(), Mask.validLengths(1, 2)), out, null)).getMessage();
        String output = assertThrows(IllegalArgumentException.class,
                () -> multi.pool(q, Tensor.allocate(arena, 5, 8), Tensor.allocate(arena, 5, 2),
                        List.of(Mask.none()), Tensor.allocate(arena, 2, 3, 4, 3), null)).getMessage();

        assertEquals("queries (2, 3, 4, 8), keys (2, 2, 5, 8), values (2, 2, 5, 2): the query heads 3 must be a "
                + "multiple of the key heads 2", heads);
        assertEquals("queries (2, 3, 4, 8), keys (3, 5, 8), values (3, 5, 2): keys need batch 2 or 1, not 3", batch);
        assertEquals("3 masks for 2 batches: give one for all or one per batch", masks);
        assertEquals("mask of batch 1: valid lengths has 2 entries for 4 queries", lengths);
        assertEquals("output has shape (2, 3, 4, 3), expected (2, 3, 4, 2)", output);
        assertArrayEquals(filled(48, 7), out.toFlatArray());
    }
}
