package dev.qkv.algorithm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BackwardTest {

    /**
     * For every m up to 5000 (and a few large ones), the shards cover the keys exactly once, none is empty, there are
     * at most 8, each holds whole blocks but the last, and the partial dQ they keep (rows of d floats, padded) stays
     * within 2²² floats.
     */
    @Test
    void shardsCoverEveryKeyOnceAndNoneIsEmpty() {
        for (int n : new int[] {1, 70, 2048, 100_000}) {
            for (int m = 0; m <= 5000; m++) {
                check(n, m, 128);
            }
            for (int m : new int[] {65_536, 1_000_000, Integer.MAX_VALUE / 2}) {
                check(n, m, 128);
            }
        }
    }

    private static void check(int n, int m, int d) {
        int keys = Backward.shardKeys(n, m, d);
        if (m == 0) {
            assertEquals(0, keys);
            return;
        }
        long shards = ((long) m + keys - 1) / keys;
        String what = "n = " + n + ", m = " + m + ": " + shards + " shards of " + keys;
        assertTrue(shards >= 1 && shards <= Backward.MAX_SHARDS, what);
        assertEquals(0, keys % Backward.KEY_BLOCK, what);
        assertTrue((shards - 1) * keys < m && shards * keys >= m, what); // the last shard is not empty
        assertTrue(shards == 1 || shards * n * d <= Backward.MAX_PARTIAL_FLOATS, what);
    }
}
