package dev.qkv.algorithm;

import dev.qkv.kernel.Kernels;
import dev.qkv.kernel.Score;
import dev.qkv.tensor.Tensor;
import java.util.Arrays;

/**
 * The algorithm layer's entry: attention pooling and weights over the primitive kernels, for any
 * {@link Visibility}, on {@link Workers}. It picks the path: many queries under dot scoring as tiles
 * ({@link TilePooling}) when the kernels' tiles pay off ({@link Kernels#tilesPayOff}), everything else query by
 * query ({@link RowPooling}); both fold blocks of keys with
 * {@link Softmax#fold} after {@link Visibility#apply}, and merge shards into a {@link Rows} in key order.
 *
 * <p>The layers: {@code dev.qkv} (public API: checks, then calls here) → {@code dev.qkv.algorithm} (this package:
 * online softmax, tiles, masks, shards, threads, the merge) → {@code dev.qkv.kernel} (primitive kernels only) →
 * {@code dev.qkv.tensor}. Arguments are trusted: the public API has checked them.
 */
public final class Pooling {

    /**
     * Keys per shard, the unit of work of a thread and of the merge. Fixed, so the result does not depend on the
     * thread count; a shard's packed K and V (8 MB at d = dv = 128) stay in the 32 MB L3 while in use.
     */
    public static final int SHARD = 8192;

    /** Keys per block of the query-by-query path (the tiles' blocks are {@link Kernels#TILE_BLOCK}). */
    public static final int ROW_BLOCK = RowPooling.BLOCK;

    private Pooling() {}

    /** The shards of keys {@code [0, end)}: counted in long, since {@code end + SHARD − 1} passes 2³¹ near the top. */
    public static int shards(int end) {
        return (int) (((long) end + SHARD - 1) / SHARD);
    }

    /** The partial state of every query over every key it sees. */
    public static Rows pool(Kernels kernels, Score score, Tensor queries, Tensor keys, Tensor values,
            Visibility visibility, Workers workers) {
        int n = queries.rows();
        Rows rows = new Rows(n, values.cols());
        boolean tiles = n > 1 && score.kind() == Score.Kind.DOT && kernels.tilesPayOff()
                && KeyChunk.fits(Math.min(SHARD, keys.rows()), Kernels.TILE_BLOCK, queries.cols(),
                        TilePooling.dvPad(kernels, values.cols()));
        if (tiles) {
            TilePooling.pool(kernels, score.factor(), queries, keys, values, visibility, rows, workers);
        } else {
            RowPooling.pool(kernels, score, queries, keys, values, visibility, rows, workers);
        }
        Careful.repair(score, queries, keys, values, visibility, rows);
        return rows;
    }

    /**
     * Writes the attention weights into {@code weights} (n × m): each query's scores, the visibility step, then the
     * softmax ({@link Softmax#weights}); keys past a query's end get 0 and are not read.
     */
    public static void weights(Kernels kernels, Score score, Tensor queries, Tensor keys, Visibility visibility,
            Tensor weights) {
        int m = keys.rows();
        float[] row = new float[m];
        for (int i = 0; i < queries.rows(); i++) {
            int end = Math.min(visibility.end(i), m);
            kernels.scores(score, queries, i, keys, 0, end, row);
            visibility.apply(i, 0, end, row, 0);
            Softmax.weights(kernels, row, 0, end);
            Careful.repairWeights(score, queries, i, keys, visibility, row, end);
            Arrays.fill(row, end, m, 0f);
            weights.copyRowFrom(i, row);
        }
    }
}
