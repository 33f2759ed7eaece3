package dev.qkv.kernel;

import dev.qkv.tensor.Tensor;
import java.util.function.IntConsumer;
import java.util.function.IntFunction;

/**
 * Pooling of every query row into a {@link PartialRows}, split into independent tasks for any number of
 * threads. Keys are cut into shards of {@link #SHARD} and queries into groups, both fixed by the shapes
 * alone; each (row, shard) is computed the same way whatever thread runs it, and the shards of a row are
 * merged in key order. So the result is bitwise the same for 1, 2 or 8 threads: the thread count only
 * decides who computes what, never what is computed.
 *
 * <p>Few queries over many keys is flash-decoding: the shards of one query run in parallel and their
 * partial states are merged. Many queries run rows in parallel here, or groups of rows in
 * {@link Kernels#poolTiles} for kernels that have tiles.
 */
public final class Pooling {

    /** Keys per shard: a shard's packed K and V (8 MB at d = dv = 128) stay in the 32 MB L3 while in use. */
    public static final int SHARD = 8192;

    /** Runs tasks {@code 0 … count−1}, started in that order, on as many threads as it has; returns when all are done. */
    @FunctionalInterface
    public interface Parallel {
        void forEach(int count, IntConsumer task);

        /** Everything on the calling thread. */
        Parallel SERIAL = (count, task) -> {
            for (int i = 0; i < count; i++) {
                task.accept(i);
            }
        };
    }

    private Pooling() {}

    /** The shards of keys {@code [0, end)}: counted in long, since {@code end + SHARD − 1} passes 2³¹ near the top. */
    public static int shards(int end) {
        return (int) (((long) end + SHARD - 1) / SHARD);
    }

    /**
     * Query row i sees keys {@code [0, ends[i])}, and of those, when {@code rowMask} is not null, only the keys
     * j with {@code rowMask.apply(i)[j]}. Row by row with {@link Kernels#pool}, any scoring.
     */
    public static void rows(Kernels kernels, Score score, Tensor queries, Tensor keys, Tensor values, int[] ends,
            IntFunction<boolean[]> rowMask, PartialRows out, Parallel parallel) {
        int n = queries.rows();
        int dv = values.cols();
        if (n >= 4) {
            parallel.forEach(n, i -> {
                RowState state = new RowState(dv);
                for (int s = 0, shards = shards(ends[i]); s < shards; s++) {
                    shard(kernels, score, queries, i, keys, values, s, ends[i], rowMask, state);
                    PartialRows.merge(out.max, out.sum, out.acc, i, i * dv, state.max, state.sum, state.acc, 0, dv);
                }
            });
            return;
        }
        for (int i = 0; i < n; i++) {
            int row = i;
            int shards = shards(ends[i]);
            PartialRows parts = new PartialRows(shards, dv);
            parallel.forEach(shards, s -> {
                RowState state = new RowState(dv);
                shard(kernels, score, queries, row, keys, values, s, ends[row], rowMask, state);
                parts.set(s, state);
            });
            for (int s = 0; s < shards; s++) {
                out.merge(row, parts, s);
            }
        }
    }

    /** Keys of shard s before {@code end}, in runs of visible keys: a hidden key or value is never read. */
    private static void shard(Kernels kernels, Score score, Tensor queries, int row, Tensor keys, Tensor values, int s,
            int end, IntFunction<boolean[]> rowMask, RowState state) {
        state.reset();
        int from = s * SHARD;
        int to = from + Math.min(SHARD, end - from);
        if (rowMask == null) {
            kernels.pool(score, queries, row, keys, values, from, to, state);
            return;
        }
        boolean[] visible = rowMask.apply(row);
        int j = from;
        while (j < to) {
            while (j < to && !visible[j]) {
                j++;
            }
            int run = j;
            while (j < to && visible[j]) {
                j++;
            }
            if (run < j) {
                kernels.pool(score, queries, row, keys, values, run, j, state);
            }
        }
    }
}
