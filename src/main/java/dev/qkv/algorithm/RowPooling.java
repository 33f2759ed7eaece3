package dev.qkv.algorithm;

import dev.qkv.kernel.Kernels;
import dev.qkv.kernel.Score;
import dev.qkv.tensor.Tensor;

/**
 * Pooling query by query, any scoring: each query's keys in blocks of {@link #BLOCK}, each block scored
 * ({@link Kernels#scores}), passed through the visibility step ({@link Visibility#apply}) and folded into the
 * query's online softmax ({@link Softmax#fold}), then its value rows added ({@link Kernels#accumulate}): K and V
 * are each read once, in order.
 *
 * <p>Keys are cut into shards of {@link Pooling#SHARD}; each (query, shard) is computed the same way whatever thread
 * runs it, and the shards of a query are merged in key order. Few queries over many keys is flash-decoding: the
 * shards of one query run in parallel; many queries run in parallel query by query.
 */
final class RowPooling {

    /**
     * Keys scored per block: big enough to amortise a rescale and the per-block calls, small enough that the block's
     * scores (1 KiB) stay in L1 and its key and value rows (128 KiB each at d = 128) in L2 between the scoring pass
     * and the value pass. The vector pool at m = 4096, d = 128 measured the same for 128, 256, 512 and 1024 within
     * run-to-run spread (about 105–115 µs best, 170–180 µs median).
     */
    static final int BLOCK = 256;

    private RowPooling() {}

    static void pool(Kernels kernels, Score score, Tensor queries, Tensor keys, Tensor values, Visibility visibility,
            boolean fromMemory, Rows out, Workers workers) {
        int n = queries.rows();
        int dv = values.cols();
        if (n >= 4) {
            workers.forEach(n, i -> {
                Running state = new Running(1, dv);
                float[] block = new float[BLOCK];
                int end = visibility.end(i);
                for (long from = 0; from < end; from += Pooling.SHARD) {
                    shard(kernels, score, queries, i, keys, values, visibility, fromMemory, (int) from, end, state,
                            block);
                    out.merge(i, state, 0);
                }
            });
            return;
        }
        for (int i = 0; i < n; i++) {
            int query = i;
            int end = visibility.end(i);
            int shards = Pooling.shards(end);
            Running[] parts = new Running[shards];
            workers.forEach(shards, s -> {
                parts[s] = new Running(1, dv);
                shard(kernels, score, queries, query, keys, values, visibility, fromMemory, s * Pooling.SHARD, end,
                        parts[s], new float[BLOCK]);
            });
            for (Running part : parts) {
                out.merge(query, part, 0);
            }
        }
    }

    /** Query i's keys of the shard that starts at {@code from}, up to {@code end}, into {@code state} (reset first). */
    private static void shard(Kernels kernels, Score score, Tensor queries, int i, Tensor keys, Tensor values,
            Visibility visibility, boolean fromMemory, int from, int end, Running state, float[] block) {
        state.reset();
        int to = (int) Math.min((long) from + Pooling.SHARD, end);
        // start + BLOCK would pass 2³¹ in the last block of 2³¹ − 1 keys
        for (int start = from, stop; start < to; start = stop) {
            stop = start + Math.min(BLOCK, to - start);
            int first = visibility.nextVisible(i, start, stop);
            if (first == stop) {
                continue; // the query sees no key of this block: none is read
            }
            if (fromMemory) {
                kernels.streamScores(score, queries, i, keys, start, stop, block);
            } else {
                kernels.scores(score, queries, i, keys, start, stop, block);
            }
            visibility.apply(i, start, stop - start, block, 0);
            if (!Softmax.fold(kernels, state, 0, block, 0, stop - start)) {
                continue;
            }
            for (int j = first; j < stop; j = visibility.nextVisible(i, j, stop)) {
                int run = visibility.runEnd(i, j, stop);
                kernels.accumulate(block, j - start, values, j, run, state.acc);
                j = run;
            }
        }
    }
}
