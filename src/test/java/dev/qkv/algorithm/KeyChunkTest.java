package dev.qkv.algorithm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.kernel.Kernels;
import dev.qkv.kernel.ScalarKernels;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

class KeyChunkTest {

    /** 8192 keys of d = 262144 are 2³¹ floats: as an int product negative, and one more than an array holds. */
    @Test
    void aChunkThatNoArrayHoldsIsNotPacked() {
        assertFalse(KeyChunk.fits(Pooling.SHARD, Kernels.TILE_BLOCK, 262_144, 16));
        assertFalse(KeyChunk.fits(Pooling.SHARD, Kernels.TILE_BLOCK, 16, 262_144));
    }

    /** A shard at d = dv = 128 is 8 MB, and one key of d = 262144 rounds up to a block of 128 MB: both packed. */
    @Test
    void chunksOfUsualSizesArePacked() {
        assertTrue(KeyChunk.fits(Pooling.SHARD, Kernels.TILE_BLOCK, 128, 128));
        assertTrue(KeyChunk.fits(1, Kernels.TILE_BLOCK, 262_144, 16));
    }

    /** Element t of key j and column c of value j land where the layout comment says, the rest is zero. */
    @Test
    void theLayoutIsTheDocumentedOne() {
        int width = ScalarKernels.INSTANCE.tileWidth();
        int block = Kernels.TILE_BLOCK;
        int d = 3;
        int dv = 20;
        int dvPad = 32;
        int count = block + 6; // two blocks, the second partial
        try (Arena arena = Arena.ofConfined()) {
            Tensor keys = Tensor.allocate(arena, count + 5, d);
            Tensor values = Tensor.allocate(arena, count + 5, dv);
            for (int j = 0; j < count + 5; j++) {
                for (int t = 0; t < d; t++) {
                    keys.set(j, t, 1000 * j + t + 1);
                }
                for (int c = 0; c < dv; c++) {
                    values.set(j, c, 1000 * j + c + 1);
                }
            }
            KeyChunk chunk = KeyChunk.of(keys, values, 5, count, block, width, dvPad);
            assertEquals(2 * block * d, chunk.keysT.length);
            double keySum = 0;
            double valueSum = 0;
            for (int j = 0; j < count; j++) {
                for (int t = 0; t < d; t++) {
                    assertEquals(keys.get(5 + j, t), chunk.keysT[j / block * d * block + j % block / width * d * width
                            + t * width + j % width]);
                    keySum += keys.get(5 + j, t);
                }
                for (int c = 0; c < dv; c++) {
                    assertEquals(values.get(5 + j, c), chunk.values[j / block * block * dvPad
                            + c / width * block * width + j % block * width + c % width]);
                    valueSum += values.get(5 + j, c);
                }
            }
            double packedKeys = 0;
            for (float x : chunk.keysT) {
                packedKeys += x;
            }
            double packedValues = 0;
            for (float x : chunk.values) {
                packedValues += x;
            }
            assertEquals(keySum, packedKeys, "nothing else in the keys but zeros");
            assertEquals(valueSum, packedValues, "nothing else in the values but zeros");
        }
    }
}
