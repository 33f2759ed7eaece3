package dev.qkv.algorithm;

import static dev.qkv.kernel.Kernels.TILE_BLOCK;

import dev.qkv.kernel.Kernels;
import dev.qkv.tensor.Tensor;
import java.lang.ref.SoftReference;
import java.util.Arrays;

/**
 * The pages of a store packed for the tiles ({@link KeyChunk}), kept between pooling calls: many queries against
 * the same store (the seed's database) pack each key and value once instead of once per call, and a page that grows
 * a row at a time is extended, the rows packed before kept where they are ({@link KeyChunk#extend}). A page is packed
 * only when a call takes the tiles, so a store queried one query at a time (an LLM's cache) never is. The packed
 * pages are float32 on the heap, {@code 4·(d + dvPad)} bytes a key (up to twice that on a page still growing, whose
 * arrays double), and held softly: under memory pressure the collector may drop them, and the next call packs
 * again, into the same layout, with the same bits.
 *
 * <p>Thread-safe: each page is packed under a lock of its own, so the threads of one call pack different pages at
 * once, and each call gets a chunk of exactly the rows it saw in the store.
 */
public final class PackedPages {

    /** A page's slot, one per page ever asked for; republished (a longer copy of the references) when one is added. */
    private volatile Page[] pages = new Page[0];

    /**
     * The first {@code rows} keys and values of page {@code p} ({@code keys} and {@code values}, of
     * {@link Pooling#SHARD} rows), packed for these kernels' tiles: what {@code KeyChunk.of} would pack, packing only
     * the rows not packed by an earlier call.
     */
    KeyChunk chunk(Kernels kernels, int p, Tensor keys, Tensor values, int rows) {
        return page(p).chunk(kernels, keys, values, rows);
    }

    private Page page(int p) {
        Page[] all = pages;
        if (p < all.length) {
            return all[p];
        }
        synchronized (this) {
            all = pages;
            if (p >= all.length) {
                Page[] grown = Arrays.copyOf(all, p + 1);
                for (int i = all.length; i <= p; i++) {
                    grown[i] = new Page();
                }
                pages = grown;
                all = grown;
            }
            return all[p];
        }
    }

    /** One page: the longest chunk packed so far. */
    private static final class Page {
        private SoftReference<KeyChunk> packed = new SoftReference<>(null);

        synchronized KeyChunk chunk(Kernels kernels, Tensor keys, Tensor values, int rows) {
            int width = kernels.tileWidth();
            int dvPad = TilePooling.dvPad(kernels, values.cols());
            KeyChunk chunk = packed.get();
            if (chunk == null || chunk.width != width || chunk.dvPad != dvPad) { // dropped, or other kernels
                chunk = KeyChunk.of(keys, values, 0, rows, TILE_BLOCK, width, dvPad);
            } else if (chunk.count < rows) {
                chunk = chunk.extend(keys, values, rows, Pooling.SHARD);
            } else {
                return chunk.count == rows ? chunk : chunk.first(rows); // a call that saw fewer rows than one before
            }
            packed = new SoftReference<>(chunk);
            return chunk;
        }
    }
}
