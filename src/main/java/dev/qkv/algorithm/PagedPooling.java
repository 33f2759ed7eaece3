package dev.qkv.algorithm;

import dev.qkv.kernel.Kernels;
import dev.qkv.kernel.Score;
import dev.qkv.tensor.Tensor;
import java.util.HashMap;
import java.util.Map;

/**
 * Pooling over keys and values held in pages of {@link Pooling#SHARD} rows each (the pages of
 * {@code dev.qkv.KeyValueStore}), every query seeing every key. A page is exactly one shard of {@link Pooling#pool}
 * over the same keys as one tensor: the same path is taken ({@link Pooling#tiled} for the whole m), each page
 * is pooled as that path pools a shard, and the pages' states are merged in page order, in double, as the shards'
 * are. So the result has the same bits as pooling the concatenated pages, with any thread count.
 *
 * <p>The one exception is the repair of overflowing scores ({@link Careful}): it recomputes a page in double where
 * the tensor path recomputes the whole query. Both are finite and within the bounds; only the bits differ, and only
 * for scores beyond float's range.
 *
 * <p>Pages are the work of the threads: each page is pooled on one thread, and merged as soon as every page before
 * it is, so at most about as many page states as threads wait at once.
 */
public final class PagedPooling {

    private PagedPooling() {}

    /**
     * The partial state of every query over {@code m} keys whose pages are {@code keys[p]} and {@code values[p]}: all
     * but the last hold {@link Pooling#SHARD} rows, the last the rest (its tensors may hold more rows; only those
     * below m are read); values of dimension dv. The tiles take each page's keys and values from {@code packed},
     * which packs only the rows no call packed before.
     */
    public static Rows pool(Kernels kernels, Score score, Tensor queries, Tensor[] keys, Tensor[] values, int m,
            int dv, PackedPages packed, Workers workers) {
        int n = queries.rows();
        Rows out = new Rows(n, dv);
        int pages = Pooling.shards(m);
        if (pages == 0) {
            return out;
        }
        boolean tiles = Pooling.tiled(kernels, score.kind(), n, m, queries.cols(), dv);
        boolean fromMemory = Pooling.fromMemory(m, queries.cols(), dv);
        Merge merge = new Merge(out);
        workers.forEach(pages, p -> {
            int rows = Math.min(Pooling.SHARD, m - p * Pooling.SHARD);
            Tensor k = keys[p].rows(0, rows);
            Tensor v = values[p].rows(0, rows);
            Visibility all = Visibility.all(n, rows);
            Rows page = new Rows(n, dv);
            if (tiles) {
                TilePooling.pool(kernels, score.factor(), queries, packed.chunk(kernels, p, keys[p], values[p], rows),
                        all, page);
            } else {
                RowPooling.pool(kernels, score, queries, k, v, all, fromMemory, page, Workers.SERIAL);
            }
            Careful.repair(score, queries, k, v, all, page);
            merge.offer(p, page);
        });
        return out;
    }

    /**
     * Pools every query into {@code out} (n × dv): {@link #pool}, then {@link Pooling#finish}, with the same bits.
     * When the tiles take a store of one page, the page's groups of queries run on the workers and each writes its
     * outputs as it finishes ({@link Pooling#written}), where {@link #pool} runs one task per page, and so one thread.
     */
    public static void pool(Kernels kernels, Score score, Tensor queries, Tensor[] keys, Tensor[] values, int m,
            int dv, PackedPages packed, Workers workers, Tensor out) {
        int n = queries.rows();
        if (Pooling.shards(m) == 1 && Pooling.tiled(kernels, score.kind(), n, m, queries.cols(), dv)) {
            Tensor k = keys[0].rows(0, m);
            Tensor v = values[0].rows(0, m);
            if (Pooling.writable(out, queries, k, v, workers)) {
                KeyChunk chunk = packed.chunk(kernels, 0, keys[0], values[0], m);
                Visibility all = Visibility.all(n, m);
                Pooling.written(score, queries, k, v, all, out, null,
                        done -> TilePooling.pool(kernels, score.factor(), queries, chunk, all, workers, done));
                return;
            }
        }
        Pooling.finish(pool(kernels, score, queries, keys, values, m, dv, packed, workers), out, null);
    }

    /** Merges the pages' states into the result strictly in page order, whatever order they finish in. */
    private static final class Merge {
        private final Rows out;
        private final Map<Integer, Rows> waiting = new HashMap<>();
        private int next;

        Merge(Rows out) {
            this.out = out;
        }

        synchronized void offer(int page, Rows rows) {
            waiting.put(page, rows);
            for (Rows ready; (ready = waiting.remove(next)) != null; next++) {
                for (int i = 0; i < out.queries(); i++) {
                    out.merge(i, ready, i);
                }
            }
        }
    }
}
