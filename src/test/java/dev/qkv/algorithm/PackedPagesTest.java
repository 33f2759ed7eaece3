package dev.qkv.algorithm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.kernel.Kernels;
import dev.qkv.kernel.ScalarKernels;
import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link PackedPages}: a page packed for one call is what {@code KeyChunk.of} packs, and the next calls extend it by
 * the rows appended since, in the arrays already there while they have room, never past a page.
 */
class PackedPagesTest {

    private static final Kernels KERNELS = ScalarKernels.INSTANCE;
    private static final int D = 5;
    private static final int DV = 20;

    @Test
    void aPageIsExtendedNotPackedAgain() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor keys = random(arena, Pooling.SHARD, D, 1).convertTo(arena, ElementType.F16);
            Tensor values = random(arena, Pooling.SHARD, DV, 2).convertTo(arena, ElementType.F16);
            PackedPages pages = new PackedPages();

            KeyChunk c300 = pages.chunk(KERNELS, 0, keys, values, 300);
            samePacking(keys, values, c300);
            assertEquals(3 * Kernels.TILE_BLOCK * D, c300.keysT.length, "300 keys take 3 blocks, packed as tensors");

            KeyChunk c500 = pages.chunk(KERNELS, 0, keys, values, 500);
            samePacking(keys, values, c500);
            assertEquals(6 * Kernels.TILE_BLOCK * D, c500.keysT.length, "grown to twice the blocks");

            KeyChunk c700 = pages.chunk(KERNELS, 0, keys, values, 700);
            samePacking(keys, values, c700);
            assertSame(c500.keysT, c700.keysT, "room for 700 in 6 blocks: the same arrays, extended");
            assertSame(c500.values, c700.values);

            KeyChunk c100 = pages.chunk(KERNELS, 0, keys, values, 100); // a call that saw fewer rows
            assertEquals(100, c100.count);
            assertSame(c700.keysT, c100.keysT);
            assertSame(c700.keysT, pages.chunk(KERNELS, 0, keys, values, 700).keysT, "the page still holds 700");

            KeyChunk full = pages.chunk(KERNELS, 0, keys, values, Pooling.SHARD);
            samePacking(keys, values, full);
            assertEquals(Pooling.SHARD * D, full.keysT.length, "never more than a page of blocks");

            KeyChunk other = pages.chunk(KERNELS, 1, keys, values, 10);
            assertNotSame(full.keysT, other.keysT);
            samePacking(keys, values, other);
        }
    }

    /** A cache growing a token at a time: the arrays are replaced about log₂ of the blocks times, not per token. */
    @Test
    void aPageGrowingARowAtATimeIsCopiedRarely() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor keys = random(arena, Pooling.SHARD, D, 3);
            Tensor values = random(arena, Pooling.SHARD, DV, 4);
            PackedPages pages = new PackedPages();
            IdentityHashMap<float[], Boolean> arrays = new IdentityHashMap<>();
            KeyChunk last = null;
            for (int rows = 1; rows <= 1200; rows++) {
                last = pages.chunk(KERNELS, 0, keys, values, rows);
                assertEquals(rows, last.count);
                arrays.put(last.keysT, true);
            }
            samePacking(keys, values, last);
            assertEquals(5, arrays.size(), "1, 2, 4, 8 and 16 blocks for 1200 keys: " + arrays.size());
        }
    }

    /** The chunk holds exactly what {@code KeyChunk.of} packs for its rows, and zeros behind them. */
    private static void samePacking(Tensor keys, Tensor values, KeyChunk chunk) {
        KeyChunk reference = KeyChunk.of(keys, values, 0, chunk.count, Kernels.TILE_BLOCK, KERNELS.tileWidth(),
                chunk.dvPad);
        assertArrayEquals(reference.keysT, Arrays.copyOf(chunk.keysT, reference.keysT.length));
        assertArrayEquals(reference.values, Arrays.copyOf(chunk.values, reference.values.length));
        assertTrue(zeroFrom(chunk.keysT, reference.keysT.length) && zeroFrom(chunk.values, reference.values.length),
                "zeros behind the packed rows");
    }

    private static boolean zeroFrom(float[] a, int from) {
        for (int i = from; i < a.length; i++) {
            if (a[i] != 0f) {
                return false;
            }
        }
        return true;
    }

    private static Tensor random(Arena arena, int rows, int cols, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        Tensor t = Tensor.allocate(arena, rows, cols);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t.set(i, j, (float) random.nextGaussian());
            }
        }
        return t;
    }
}
