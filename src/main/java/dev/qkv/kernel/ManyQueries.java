package dev.qkv.kernel;

import dev.qkv.tensor.Tensor;
import java.util.function.IntConsumer;

/**
 * Pooling of many queries under dot scoring with the {@link FlashTiles} kernels: queries in groups of
 * {@link #GROUP} rows, keys in chunks of {@link #CHUNK}. Groups and chunks are fixed by the shapes alone,
 * never by the number of threads, and each row's arithmetic does not depend on which thread ran its group,
 * so the output is bitwise the same for any thread count.
 */
public final class ManyQueries {

    /** Query rows per task: 16 micro tiles share each block of K and V while it is in L1/L2. */
    static final int GROUP = 16 * FlashTiles.ROWS;
    /** Keys per chunk: Kᵀ and V of a chunk (8 MB at d = dv = 128) stay in the 32 MB L3 for every group. */
    static final int CHUNK = 8192;

    /** Runs {@code count} independent tasks, on as many threads as it likes; returns when all are done. */
    @FunctionalInterface
    public interface Parallel {
        void forEach(int count, IntConsumer task);
    }

    private ManyQueries() {}

    /**
     * Writes into {@code out} (n × dv) the pooled output of every query row, each seeing keys
     * {@code [0, ends[i])} under scores {@code factor · qᵀk}, and the log-sum-exp into {@code lse} (n, or null).
     */
    public static void pool(FlashTiles tiles, float factor, Tensor queries, Tensor keys, Tensor values,
            int[] ends, Tensor out, Tensor lse, Parallel parallel) {
        int n = queries.rows();
        int dvPad = tiles.dvPad(values.cols());
        int groups = (n + GROUP - 1) / GROUP;
        FlashTiles.Rows[] rows = new FlashTiles.Rows[groups];
        parallel.forEach(groups, g -> rows[g] =
                new FlashTiles.Rows(queries, g * GROUP, Math.min(GROUP, n - g * GROUP), factor, dvPad, ends));
        int maxEnd = 0;
        for (int end : ends) {
            maxEnd = Math.max(maxEnd, end);
        }
        for (int start = 0; start < maxEnd; start += CHUNK) {
            KeyChunk chunk = KeyChunk.of(keys, values, start, Math.min(CHUNK, maxEnd - start), FlashTiles.BLOCK,
                    FlashTiles.WIDTH, dvPad);
            parallel.forEach(groups, g -> tiles.pool(rows[g], chunk));
        }
        parallel.forEach(groups, g -> {
            for (int r = 0; r < rows[g].count; r++) {
                rows[g].finish(r, out, lse);
            }
        });
    }
}
