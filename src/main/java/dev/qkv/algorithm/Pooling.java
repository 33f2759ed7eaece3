package dev.qkv.algorithm;

import dev.qkv.kernel.Kernels;
import dev.qkv.kernel.Score;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * The algorithm layer's entry: attention pooling and weights over the primitive kernels, for any
 * {@link Visibility}, on {@link Workers}. It picks the path by cost ({@link #tiled}): many queries under dot scoring
 * as tiles ({@link TilePooling}) when the kernels' tiles pay off ({@link Kernels#tilesPayOff}) and the queries are
 * enough to repay packing the keys, everything else query by query ({@link RowPooling}); both fold blocks of keys with
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

    /**
     * Whether {@link #pool} takes the tiles for n queries over m keys of dimension d with values of dv: dot scoring,
     * kernels whose tiles pay off, a shard's packed keys fit ({@link KeyChunk#fits}), and tiles cost less than query
     * by query by this model, in nanoseconds per float of K and V (m · (d + dv) floats), measured with the vector
     * kernels on the AVX-512 machine (CPU time of both paths in one JVM, d = 128, m = 256 to 65536, n = 2 to 64):
     * <ul>
     *   <li>query by query, each query reads all of K and V: n · 0.064 while K and V take at most 16 MB (half the
     *       L3 the two cores share, where they stay between queries), n · 0.143 from memory (0.22 before the row path
     *       scored keys in memory order, {@link #fromMemory});
     *   <li>tiles pack K and V once per call ({@link KeyChunk#of}), 0.85, and then compute every row of every micro
     *       tile, the padding rows too, at 0.012 per row (8-row tiles, 512-bit FMAs), over every key of every block
     *       of {@link Kernels#TILE_BLOCK}, the padding keys of the last one too.
     * </ul>
     * So in cache tiles win from about 16 queries, from memory from 7; measured: 12 to 16, and 7 (m = 65536, rows
     * 14.2 ms against tiles 15.1 for 6 queries, 16.8 against 14.7 for 7, CPU time, best of 6, one JVM). A choice by
     * shapes alone, never by the thread count, so the result stays bitwise the same for any number of threads.
     */
    public static boolean tiled(Kernels kernels, Score.Kind kind, int n, int m, int d, int dv) {
        if (n < 2 || kind != Score.Kind.DOT || !kernels.tilesPayOff()
                || !KeyChunk.fits(Math.min(SHARD, m), Kernels.TILE_BLOCK, d, TilePooling.dvPad(kernels, dv))) {
            return false;
        }
        double bytes = 4.0 * m * (d + dv);
        double rowNs = bytes <= CACHED_BYTES ? ROW_NS_CACHED : ROW_NS_MEMORY;
        int rows = kernels.tileRows();
        double padded = (n + rows - 1) / rows * (double) rows;
        double keysInBlocks = Math.ceil((double) m / Kernels.TILE_BLOCK) * Kernels.TILE_BLOCK;
        return PACK_NS + padded * TILE_NS * keysInBlocks / Math.max(m, 1) < n * rowNs;
    }

    /**
     * Whether the row path reads the K and V of m keys (d and dv floats a row) from memory rather than from cache:
     * more than {@link #CACHED_BYTES} of them, as in {@link #tiled}. Then it scores keys one at a time in the order they
     * lie in memory ({@link Kernels#streamScores}); in cache, four at a time ({@link Kernels#scores}). Both give the
     * same bits. Measured with the vector kernels, keys alone read again and again (a throwaway probe, AVX-512): four
     * at a time won up to 4 MB of keys (by 10–25 %), the two were alike at 8 and 16 MB, and one at a time won from
     * 32 MB (1.6–1.9×); one query over 2²⁰ keys at d = 128 then took 41–45 ms instead of 52–63.
     */
    public static boolean fromMemory(int m, int d, int dv) {
        return 4.0 * m * (d + dv) > CACHED_BYTES;
    }

    /** K and V up to this size stay in cache between the queries of the row path (see {@link #tiled}). */
    private static final double CACHED_BYTES = 16 << 20;
    private static final double ROW_NS_CACHED = 0.064;
    private static final double ROW_NS_MEMORY = 0.143;
    private static final double PACK_NS = 0.85;
    private static final double TILE_NS = 0.012;

    /** The partial state of every query over every key it sees. */
    public static Rows pool(Kernels kernels, Score score, Tensor queries, Tensor keys, Tensor values,
            Visibility visibility, Workers workers) {
        int n = queries.rows();
        Rows rows = new Rows(n, values.cols());
        if (tiled(kernels, score.kind(), n, keys.rows(), queries.cols(), values.cols())) {
            TilePooling.pool(kernels, score.factor(), queries, keys, values, visibility, rows, workers);
        } else {
            RowPooling.pool(kernels, score, queries, keys, values, visibility,
                    fromMemory(keys.rows(), queries.cols(), values.cols()), rows, workers);
        }
        Careful.repair(score, queries, keys, values, visibility, rows);
        return rows;
    }

    /**
     * Pools every query into {@code out} (n × dv) and, unless it is null, each query's {@code log Σ exp(sⱼ)} into
     * {@code logSumExp} (a 1 × n matrix): {@link #pool}, then {@link #finish}, with the same bits. When the tiles
     * take the call and every query's keys lie in one shard, each task writes its rows' outputs as soon as it has
     * computed them, on its own thread, and no double state is made. The float state of a query over its one
     * shard is exactly what {@link Rows} would hold (a merge into an empty row copies it), so its output
     * {@code (float) (acc / sum)} in double is the same, and a row {@link Careful} must compute again is the same row.
     * With two threads at n = m = 1024, d = 64, making, checking and finishing the double state took about 8 % of the
     * call on the calling thread alone (async-profiler, wall clock).
     */
    public static void pool(Kernels kernels, Score score, Tensor queries, Tensor keys, Tensor values,
            Visibility visibility, Workers workers, Tensor out, Tensor logSumExp) {
        int n = queries.rows();
        int m = keys.rows();
        int dv = values.cols();
        if (!tiled(kernels, score.kind(), n, m, queries.cols(), dv) || TilePooling.shards(n, visibility) != 1
                || !writable(out, queries, keys, values, workers)
                || logSumExp != null && !writable(logSumExp, queries, keys, values, workers)) {
            finish(pool(kernels, score, queries, keys, values, visibility, workers), out, logSumExp);
            return;
        }
        written(score, queries, keys, values, visibility, out, logSumExp,
                done -> TilePooling.pool(kernels, score.factor(), queries, keys, values, visibility, workers, done));
    }

    /**
     * The outputs of a tile run over one shard that holds all of each query's keys ({@code tiles}), written by its
     * tasks as they finish ({@link #pool(Kernels, Score, Tensor, Tensor, Tensor, Visibility, Workers, Tensor,
     * Tensor)}); then the rows {@link Careful} must compute again, from {@code keys} and {@code values}.
     */
    static void written(Score score, Tensor queries, Tensor keys, Tensor values, Visibility visibility, Tensor out,
            Tensor logSumExp, Consumer<TilePooling.Done> tiles) {
        int n = queries.rows();
        int m = keys.rows();
        int dv = values.cols();
        boolean[] again = new boolean[n];
        tiles.accept((shard, first, count, state) -> {
            float[] row = new float[dv];
            for (int r = 0; r < count; r++) {
                int i = first + r;
                if (Careful.needed(state, r, dv, visibility, i, m)) {
                    again[i] = true;
                    continue;
                }
                int a = r * state.dvPad;
                double sum = state.sum[r];
                for (int c = 0; c < dv; c++) {
                    row[c] = sum == 0 ? 0f : (float) (state.acc[a + c] / sum);
                }
                out.copyRowFrom(i, row);
                if (logSumExp != null) {
                    logSumExp.set(0, i, sum == 0 ? Float.NEGATIVE_INFINITY
                            : (float) (state.max[r] + Math.log(sum)));
                }
            }
        });
        Rows careful = null;
        for (int i = 0; i < n; i++) {
            if (again[i]) {
                careful = careful != null ? careful : new Rows(n, dv);
                Careful.pool(score, queries, i, keys, values, visibility, careful);
                finish(careful, i, out, logSumExp, new float[dv]);
            }
        }
    }

    /**
     * Whether the tasks may write {@code out} as they go: the helpers can reach its memory (a confined arena's output
     * is written by its owner, the calling thread, alone), and it shares none with an input, where an output must
     * wait until every input is read ({@link Careful} reads them again at the end), as the double state's path does.
     */
    static boolean writable(Tensor out, Tensor queries, Tensor keys, Tensor values, Workers workers) {
        MemorySegment s = out.segment();
        return (workers.serial() || s.isAccessibleBy(NOT_CALLER)) && s.asOverlappingSlice(queries.segment()).isEmpty()
                && s.asOverlappingSlice(keys.segment()).isEmpty() && s.asOverlappingSlice(values.segment()).isEmpty();
    }

    /** A thread that owns no arena: a segment it may access is one any thread may. */
    private static final Thread NOT_CALLER = Thread.ofPlatform().unstarted(() -> {});

    /** Writes every query's output {@link Rows#finish} into {@code out} and, unless null, its log-sum-exp. */
    public static void finish(Rows rows, Tensor out, Tensor logSumExp) {
        float[] row = new float[rows.valueDim()];
        for (int i = 0; i < rows.queries(); i++) {
            finish(rows, i, out, logSumExp, row);
        }
    }

    private static void finish(Rows rows, int i, Tensor out, Tensor logSumExp, float[] row) {
        rows.finish(i, row);
        out.copyRowFrom(i, row);
        if (logSumExp != null) {
            logSumExp.set(0, i, (float) rows.logSumExp(i));
        }
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
