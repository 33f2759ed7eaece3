package dev.qkv.kernel;

import dev.qkv.tensor.Tensor;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Many queries with the {@link FlashTiles} kernels, split into tasks like {@link Pooling}: keys in shards of
 * {@link Pooling#SHARD}, queries in groups of {@link #GROUP}, both fixed by the shapes, shards merged in
 * key order, so the output is bitwise the same for any thread count. Loaded only with the Vector API.
 */
final class TilePooling {

    /** Query rows per task: 24 micro tiles reuse each block of K and V while it is in L1/L2. */
    static final int GROUP = 24 * FlashTiles.ROWS;

    private TilePooling() {}

    /**
     * Many queries under scores {@code factor · qᵀk} with the {@link FlashTiles} kernels; query row i sees keys
     * {@code [0, ends[i])}. Tasks are (shard, group) pairs, shard by shard, so the shards in use at once are
     * about as many as the threads; each task's state is merged into {@code out} in shard order. Returns false,
     * having done nothing, when a shard's packed keys would not fit ({@link KeyChunk#fits}).
     */
    static boolean pool(float factor, Tensor queries, Tensor keys, Tensor values, int[] ends, PartialRows out,
            Pooling.Parallel parallel) {
        FlashTiles tiles = FlashTiles.INSTANCE;
        int n = queries.rows();
        int dvPad = tiles.dvPad(values.cols());
        int maxEnd = 0;
        for (int end : ends) {
            maxEnd = Math.max(maxEnd, end);
        }
        if (!KeyChunk.fits(Math.min(Pooling.SHARD, maxEnd), FlashTiles.BLOCK, keys.cols(), dvPad)) {
            return false;
        }
        int groups = (n + GROUP - 1) / GROUP;
        int shards = Pooling.shards(maxEnd);
        int last = maxEnd;
        SharedChunk[] chunks = new SharedChunk[shards];
        for (int s = 0; s < shards; s++) {
            int start = s * Pooling.SHARD;
            chunks[s] = new SharedChunk(groups, () -> KeyChunk.of(keys, values, start, Math.min(Pooling.SHARD, last - start),
                    FlashTiles.BLOCK, FlashTiles.WIDTH, dvPad));
        }
        OrderedMerge[] merges = new OrderedMerge[groups];
        for (int g = 0; g < groups; g++) {
            merges[g] = new OrderedMerge(out, g * GROUP, values.cols());
        }
        parallel.forEach(shards * groups, task -> {
            int s = task / groups;
            int g = task % groups;
            FlashTiles.Rows rows = new FlashTiles.Rows(queries, g * GROUP, Math.min(GROUP, n - g * GROUP), factor,
                    dvPad, ends);
            tiles.pool(rows, chunks[s].acquire());
            chunks[s].release();
            merges[g].offer(s, rows);
        });
        return true;
    }

    /** A shard's packed keys, built by the first task that needs it and dropped when the last one is done. */
    private static final class SharedChunk {
        private final Supplier<KeyChunk> build;
        private int users;
        private KeyChunk chunk;

        SharedChunk(int users, Supplier<KeyChunk> build) {
            this.users = users;
            this.build = build;
        }

        synchronized KeyChunk acquire() {
            if (chunk == null) {
                chunk = build.get();
            }
            return chunk;
        }

        synchronized void release() {
            if (--users == 0) {
                chunk = null;
            }
        }
    }

    /** Merges the shards of one group into the output rows strictly in shard order, whatever order they finish in. */
    private static final class OrderedMerge {
        private final PartialRows out;
        private final int first;
        private final int dv;
        private final Map<Integer, FlashTiles.Rows> waiting = new HashMap<>();
        private int next;

        OrderedMerge(PartialRows out, int first, int dv) {
            this.out = out;
            this.first = first;
            this.dv = dv;
        }

        synchronized void offer(int shard, FlashTiles.Rows rows) {
            waiting.put(shard, rows);
            for (FlashTiles.Rows ready; (ready = waiting.remove(next)) != null; next++) {
                for (int r = 0; r < ready.count; r++) {
                    PartialRows.merge(out.max, out.sum, out.acc, first + r, (first + r) * out.dv, ready.max[r],
                            ready.sum[r], ready.acc, r * ready.dvPad, dv);
                }
            }
        }
    }
}
