package dev.qkv.algorithm;

import static dev.qkv.kernel.Kernels.TILE_BLOCK;

import dev.qkv.kernel.Kernels;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.function.Supplier;

/**
 * The FlashAttention forward pass on the CPU, for many queries under dot scoring: tiles of {@link Kernels#tileRows()}
 * queries × blocks of {@link Kernels#TILE_BLOCK} keys. For each tile and block: a tile of scores {@code S = Q·Kᵀ}
 * ({@link Kernels#tileScores}), the visibility step ({@link Visibility#apply}), online softmax per row
 * ({@link Softmax#foldTile}, all rows of the tile in one kernel call), then {@code O += P·V}
 * ({@link Kernels#tileAccumulate}), over keys and values packed once per shard ({@link KeyChunk}).
 *
 * <p>Tasks are (shard, group) pairs: keys in shards of {@link Pooling#SHARD}, queries in groups of about
 * {@link #GROUP} rows, as many groups for each thread ({@link #groupRows}); each task's state is merged into the
 * result in shard order, so the output is bitwise the same for any thread count. With one shard a task's state is
 * final, and {@link Pooling} has the task write its rows' outputs itself ({@link Done}). A row's arithmetic depends
 * only on the rows of its micro tile and the shard, never on the thread that runs it.
 */
final class TilePooling {

    /**
     * Query rows per task: 24 micro tiles of 4 rows (12 of 8) reuse each block of K and V while it is in L1/L2. A
     * multiple of every {@link Kernels#tileRows()}.
     */
    static final int GROUP = 96;

    /**
     * The rows of a group for n queries on these workers: {@link #GROUP}, or, with helper threads, fewer, so that the
     * groups come in whole rounds of one per thread. At n = 1024, 11 groups of 96 split 6 and 5 between two threads
     * and bound them to 1.83× one; 12 of 88 split evenly. Always whole micro tiles, which start at every multiple of
     * {@link Kernels#tileRows()} whatever the groups, so a row's arithmetic, and the result, do not depend on the
     * thread count.
     */
    static int groupRows(int n, Kernels kernels, Workers workers) {
        int rows = kernels.tileRows();
        int groups = (n + GROUP - 1) / GROUP;
        int threads = workers.threads();
        if (threads > 1 && groups > 1) {
            groups = (groups + threads - 1) / threads * threads;
        }
        int size = (n + groups - 1) / groups;
        return Math.max(rows, (size + rows - 1) / rows * rows);
    }

    private TilePooling() {}

    /** dv rounded up to whole slabs of the kernels' width, so the P·V micro-kernel needs no tail. */
    static int dvPad(Kernels kernels, int dv) {
        int width = kernels.tileWidth();
        return Math.max(width, (dv + width - 1) / width * width);
    }

    /** The state of query rows {@code [first, first + count)} over one shard of keys, as a task computed it. */
    interface Done {
        /** Row r of {@code state} is query {@code first + r}; called on the task's thread, once per group and shard. */
        void group(int shard, int first, int count, Running state);
    }

    /**
     * Pools every query under scores {@code factor · qᵀk} into {@code out}. Tasks run shard by shard, so the shards
     * in use at once are about as many as the threads.
     */
    static void pool(Kernels kernels, float factor, Tensor queries, Tensor keys, Tensor values, Visibility visibility,
            Rows out, Workers workers) {
        pool(kernels, factor, queries, keys, values, visibility, workers,
                merge(out, queries.rows(), groupRows(queries.rows(), kernels, workers)));
    }

    /**
     * Pools every query under scores {@code factor · qᵀk}, handing each group's state over each shard to
     * {@code done}, in any order and on any thread; when {@link #shards} is 1, that state is the query's final one.
     */
    static void pool(Kernels kernels, float factor, Tensor queries, Tensor keys, Tensor values, Visibility visibility,
            Workers workers, Done done) {
        int dvPad = dvPad(kernels, values.cols());
        int last = maxEnd(queries.rows(), visibility);
        pool(kernels, factor, queries, Pooling.shards(last), s -> KeyChunk.of(keys, values, s * Pooling.SHARD,
                Math.min(Pooling.SHARD, last - s * Pooling.SHARD), TILE_BLOCK, kernels.tileWidth(), dvPad), dvPad,
                visibility, done, workers);
    }

    /** The shards of keys the tasks of {@link #pool} walk for these n queries: those below the largest end. */
    static int shards(int n, Visibility visibility) {
        return Pooling.shards(maxEnd(n, visibility));
    }

    private static int maxEnd(int n, Visibility visibility) {
        int maxEnd = 0;
        for (int i = 0; i < n; i++) {
            maxEnd = Math.max(maxEnd, visibility.end(i));
        }
        return maxEnd;
    }

    /**
     * Pools every query over keys and values packed already ({@link PackedPages}), on this thread: the same work as
     * the method above over the chunk's rows as tensors, without packing them again, so the same bits.
     */
    static void pool(Kernels kernels, float factor, Tensor queries, KeyChunk chunk, Visibility visibility, Rows out) {
        pool(kernels, factor, queries, 1, s -> chunk, chunk.dvPad, visibility,
                merge(out, queries.rows(), groupRows(queries.rows(), kernels, Workers.SERIAL)), Workers.SERIAL);
    }

    /**
     * The same over keys and values packed already, on these workers, handing each group's state to {@code done}: its
     * final one, since a chunk is one shard.
     */
    static void pool(Kernels kernels, float factor, Tensor queries, KeyChunk chunk, Visibility visibility,
            Workers workers, Done done) {
        pool(kernels, factor, queries, 1, s -> chunk, chunk.dvPad, visibility, done, workers);
    }

    /** Each group's state merged into {@code out}, shard after shard ({@link OrderedMerge}); groups of {@code size}. */
    private static Done merge(Rows out, int n, int size) {
        OrderedMerge[] merges = new OrderedMerge[(n + size - 1) / size];
        for (int g = 0; g < merges.length; g++) {
            merges[g] = new OrderedMerge(out, g * size, Math.min(size, n - g * size));
        }
        return (shard, first, count, state) -> merges[first / size].offer(shard, state);
    }

    private static void pool(Kernels kernels, float factor, Tensor queries, int shards, IntFunction<KeyChunk> pack,
            int dvPad, Visibility visibility, Done done, Workers workers) {
        int n = queries.rows();
        int size = groupRows(n, kernels, workers);
        int groups = (n + size - 1) / size;
        SharedChunk[] chunks = new SharedChunk[shards];
        for (int s = 0; s < shards; s++) {
            int shard = s;
            chunks[s] = new SharedChunk(groups, () -> pack.apply(shard));
        }
        workers.forEach(shards * groups, task -> {
            int s = task / groups;
            int g = task % groups;
            Group group = new Group(queries, g * size, Math.min(size, n - g * size), kernels.tileRows(), dvPad,
                    visibility);
            pool(kernels, factor, group, chunks[s].acquire(), visibility);
            chunks[s].release();
            done.group(s, group.first, group.count, group.state);
        });
    }

    /** A group of query rows, padded to whole micro tiles (padding rows see no key), and their state over a shard. */
    private static final class Group {
        final int first;
        final int count;
        final int d;
        final float[] queries;
        final int[] ends;
        final Running state;

        Group(Tensor queries, int first, int count, int rows, int dvPad, Visibility visibility) {
            int padded = (count + rows - 1) / rows * rows;
            this.first = first;
            this.count = count;
            this.d = queries.cols();
            this.queries = new float[padded * d];
            this.ends = new int[padded];
            this.state = new Running(padded, dvPad);
            MemorySegment q = queries.segment();
            for (int r = 0; r < count; r++) {
                MemorySegment.copy(q, ValueLayout.JAVA_FLOAT_UNALIGNED, queries.rowOffset(first + r), this.queries,
                        r * d, d);
                ends[r] = visibility.end(first + r);
            }
        }
    }

    /**
     * Folds the keys of {@code chunk} into every row of the group, each row seeing keys before its end. Blocks
     * outside, tiles inside: a block's packed K and V (64 KB each at d = dv = 128) are read by every tile of the
     * group while they sit in L1/L2; tiles outside would stream the whole chunk from L3 once per tile. Each row still
     * meets the blocks in order, so its arithmetic is the same either way.
     */
    private static void pool(Kernels kernels, float factor, Group group, KeyChunk chunk, Visibility visibility) {
        int rows = kernels.tileRows();
        float[] scores = new float[rows * TILE_BLOCK];
        int tiles = group.ends.length / rows;
        int[] minEnd = new int[tiles];
        int[] last = new int[tiles];
        int lastOfAll = 0;
        for (int t = 0; t < tiles; t++) {
            int lo = Integer.MAX_VALUE;
            int hi = 0;
            for (int r = t * rows; r < t * rows + rows && r < group.count; r++) {
                lo = Math.min(lo, group.ends[r]);
                hi = Math.max(hi, group.ends[r]);
            }
            minEnd[t] = lo;
            last[t] = Math.min(chunk.count, Math.max(0, hi - chunk.start));
            lastOfAll = Math.max(lastOfAll, last[t]);
        }
        for (int j0 = 0; j0 < lastOfAll; j0 += TILE_BLOCK) {
            for (int t = 0; t < tiles; t++) {
                if (j0 < last[t]) {
                    tile(kernels, factor, group, t * rows, chunk, j0, Math.min(TILE_BLOCK, last[t] - j0),
                            minEnd[t] - chunk.start - j0, scores, visibility);
                }
            }
        }
    }

    /**
     * One micro tile × one block: rows {@code [tile, tile + kernels.tileRows())}, keys {@code chunk.start + j0 + [0, n)}.
     * Without an explicit mask, {@code shared} of those keys are seen by every row of the tile and go through the
     * tile's P·V at once; past it, and with an explicit mask, each row adds the runs of keys it sees, so a value
     * row a query must not see is never multiplied, not even by a weight of 0 (0 · NaN is NaN).
     */
    private static void tile(Kernels kernels, float factor, Group group, int tile, KeyChunk chunk, int j0, int n,
            int shared, float[] scores, Visibility visibility) {
        Running state = group.state;
        int dvPad = state.dvPad;
        kernels.tileScores(group.queries, tile * group.d, group.d, factor, chunk.keysT, j0 * group.d, scores);
        int from = chunk.start + j0;
        int rows = kernels.tileRows();
        for (int r = 0; r < rows; r++) {
            int row = tile + r;
            int at = r * TILE_BLOCK;
            if (row < group.count) {
                visibility.apply(group.first + row, from, n, scores, at);
            } else {
                Arrays.fill(scores, at, at + n, Float.NEGATIVE_INFINITY); // a padding row sees no key
            }
            Arrays.fill(scores, at + n, at + TILE_BLOCK, Float.NEGATIVE_INFINITY); // past the last key
        }
        Softmax.foldTile(kernels, state, tile, rows, scores, TILE_BLOCK);
        int common = visibility.hasExplicit() ? 0 : Math.clamp(shared, 0, n);
        kernels.tileAccumulate(scores, 0, common, chunk.values, j0, state.acc, tile * dvPad, dvPad);
        if (common == n) {
            return;
        }
        for (int r = 0; r < rows && tile + r < group.count; r++) {
            int query = group.first + tile + r;
            for (int j = visibility.nextVisible(query, from + common, from + n); j < from + n; ) {
                int end = visibility.runEnd(query, j, from + n);
                kernels.tileAccumulateRow(scores, r * TILE_BLOCK, j - from, end - from, chunk.values, j0, state.acc,
                        (tile + r) * dvPad, dvPad);
                j = visibility.nextVisible(query, end, from + n);
            }
        }
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

    /** Merges the shards of one group into the result strictly in shard order, whatever order they finish in. */
    private static final class OrderedMerge {
        private final Rows out;
        private final int first;
        private final int count;
        private final Map<Integer, Running> waiting = new HashMap<>();
        private int next;

        OrderedMerge(Rows out, int first, int count) {
            this.out = out;
            this.first = first;
            this.count = count;
        }

        synchronized void offer(int shard, Running state) {
            waiting.put(shard, state);
            for (Running ready; (ready = waiting.remove(next)) != null; next++) {
                for (int r = 0; r < count; r++) {
                    out.merge(first + r, ready, r);
                }
            }
        }
    }
}
