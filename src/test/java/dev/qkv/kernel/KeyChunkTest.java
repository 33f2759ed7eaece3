package dev.qkv.kernel;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Which runs of keys the tile kernels pack, and which they leave to the row-by-row path. */
class KeyChunkTest {

    /** 8192 keys of d = 262144 are 2³¹ floats: as an int product negative, and one more than an array holds. */
    @Test
    void aChunkThatNoArrayHoldsIsNotPacked() {
        assertFalse(KeyChunk.fits(Pooling.SHARD, FlashTiles.BLOCK, 262_144, 16));
        assertFalse(KeyChunk.fits(Pooling.SHARD, FlashTiles.BLOCK, 16, 262_144));
    }

    /** A shard at d = dv = 128 is 8 MB, and one key of d = 262144 rounds up to a block of 64 MB: both packed. */
    @Test
    void chunksOfUsualSizesArePacked() {
        assertTrue(KeyChunk.fits(Pooling.SHARD, FlashTiles.BLOCK, 128, 128));
        assertTrue(KeyChunk.fits(1, FlashTiles.BLOCK, 262_144, 16));
    }
}
