package dev.qkv.algorithm;

import static dev.qkv.kernel.BackwardKernels.BLOCK;

import dev.qkv.kernel.BackwardKernels;
import dev.qkv.kernel.Kernels;
import dev.qkv.kernel.Score;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * The backward pass of attention pooling, FlashAttention-2's: for an upstream gradient dO on the output O of
 * {@code L = Σ dO∘O}, with the forward's log-sum-exp ℓ of each query,
 *
 * <pre>
 *   Pᵢⱼ  = exp(sᵢⱼ − ℓᵢ)              recomputed block by block, never stored whole
 *   Dᵢ   = dOᵢ·Oᵢ                      = rowsum(dO∘O)
 *   dPᵢⱼ = dOᵢ·vⱼ
 *   dSᵢⱼ = Pᵢⱼ(dPᵢⱼ − Dᵢ)
 *   dVⱼ  = Σᵢ Pᵢⱼ dOᵢ
 *   dQᵢ  = c Σⱼ dSᵢⱼ ∂ⱼ,   dKⱼ = c Σᵢ dSᵢⱼ ∂'ᵢ,   ∂L/∂f = Σᵢⱼ dSᵢⱼ rᵢⱼ
 * </pre>
 *
 * where sᵢⱼ = f·rᵢⱼ, and rᵢⱼ = qᵢᵀkⱼ with c = f, ∂ⱼ = kⱼ, ∂'ᵢ = qᵢ for the dot scorings, or rᵢⱼ = −‖qᵢ − kⱼ‖² with
 * c = 2f, ∂ⱼ = kⱼ − qᵢ, ∂'ᵢ = qᵢ − kⱼ for the Gaussian (summed as Σ dS·k − (Σ dS)·q: a column of ones packed beside
 * K and Q gives the Σ dS in the same micro-kernel call).
 *
 * <p>As matrix products, on the micro-kernels of {@link BackwardKernels}: for a group of {@value #GROUP} queries and
 * a block of {@value BackwardKernels#BLOCK} keys, S = Q·Kᵀ and dP = dO·Vᵀ (tiles of raw scores against packed Kᵀ
 * and Vᵀ), P and dS (over the whole group at once where every query sees every key of the block, else row by row),
 * then dV += Pᵀ·dO and dK += dSᵀ·Q (the block's keys as tile rows, the group's queries as the inner dimension) and
 * dQ += dS·K.
 *
 * <p>Work and memory. The keys are cut into at most {@value #MAX_SHARDS} shards (of at least {@value #MIN_SHARD_KEYS}
 * keys, fewer shards when n·d is large), fixed by the shapes alone. A shard is one task: it packs its keys and
 * values once (Kᵀ, K and Vᵀ, about 3·d floats a key), walks the queries group by group and its keys block by block,
 * owns dK and dV of its keys, and adds into its own partial dQ (n × d), which are summed afterwards in shard order.
 * So the result is bitwise the same whatever the number of threads. Memory besides the outputs: the partial dQ, at
 * most {@value #MAX_PARTIAL_FLOATS} floats (16 MB) with more than one shard, n·d with one; dK and dV of the keys
 * (m·(d + dv) floats, padded to whole slabs) while they are summed; per running task, its packed keys and values
 * and a few {@value #GROUP} × {@value BackwardKernels#BLOCK} blocks. Never an n × m matrix.
 *
 * <p>Masks: the scores go through {@link Visibility#apply}, the forward's one masking step, before the softmax; a key
 * whose score it leaves at −∞ is not used: its P and dS are exactly 0, not computed from it, and dQ sums only over
 * the keys used, so a NaN in a hidden key or value cannot reach a gradient. A key no query sees gets dK = dV = 0
 * exactly (every term is ±0 on a +0 sum), a query that sees no key (ℓ = −∞) dQ = 0.
 */
public final class Backward {

    /** Queries per group: the inner dimension of dK and dV's products; the group's Q and dO (32 KB each) stay in L2. */
    static final int GROUP = 64;
    /** Keys per block. */
    static final int KEY_BLOCK = BLOCK;
    /** The fewest keys a shard gets when there are several: a shard's packing is paid once per query group. */
    static final int MIN_SHARD_KEYS = 512;
    /** The most shards, and so the most threads a call keeps busy. */
    static final int MAX_SHARDS = 8;
    /** The most floats of partial dQ: shards are fewer when n·d is large. */
    static final long MAX_PARTIAL_FLOATS = 1L << 22;

    /**
     * Fewer queries than this go query by query ({@link RowBackward}): below a tile of 8, the packing of Kᵀ, K and Vᵀ
     * outweighs the products (measured at n = 1 only: 1.05 against 0.34 ms, m = 2048, d = 128).
     */
    static final int ROW_PATH_BELOW = 8;

    /** How much of a block a row of a group uses. */
    private static final byte NONE = 0;
    private static final byte SOME = 1;
    private static final byte ALL = 2;

    private Backward() {}

    /**
     * Writes dQ, dK and dV (each may be null: not computed) and returns ∂L/∂f, for scores {@code score} (its
     * factor f, applied to raw scores as the forward's kernels apply it). {@code out} and {@code logSumExp} are the
     * forward's output (n × dv) and log-sum-exp (n entries); {@code visibility} says which keys each query sees.
     * Shapes are trusted.
     */
    public static double run(Kernels kernels, Score score, Tensor queries, Tensor keys, Tensor values,
            Visibility visibility, Tensor gradOut, Tensor out, float[] logSumExp, Tensor dQueries, Tensor dKeys,
            Tensor dValues, Workers parallel) {
        int n = queries.rows();
        if (n < ROW_PATH_BELOW) {
            return RowBackward.run(kernels, score, queries, keys, values, visibility, gradOut, out, logSumExp,
                    dQueries, dKeys, dValues, parallel);
        }
        int m = keys.rows();
        int d = queries.cols();
        Layout layout = new Layout(BackwardKernels.matching(kernels), score, d, values.cols());
        int shardKeys = shardKeys(n, m, layout.dPad);
        int shards = shardKeys == 0 ? 0 : (m + shardKeys - 1) / shardKeys;
        float[] bigD = new float[n];
        for (int i = 0; i < n; i++) {
            bigD[i] = kernels.dot(gradOut.segment(), gradOut.rowOffset(i), out.segment(), out.rowOffset(i),
                    gradOut.cols());
        }
        Shard[] parts = new Shard[shards];
        parallel.forEach(shards, s -> {
            int to = (int) Math.min(m, (long) (s + 1) * shardKeys);
            Shard shard = new Shard(layout, s * shardKeys, to, n, dQueries != null, dKeys != null, dValues != null);
            shard.run(kernels, queries, keys, values, visibility, gradOut, logSumExp, bigD);
            parts[s] = shard;
        });
        // Written here, on the calling thread: the outputs may belong to a confined arena.
        for (Shard part : parts) {
            part.writeKeys(keys, dKeys, dValues);
        }
        if (dQueries != null) {
            float[] row = new float[d];
            for (int i = 0; i < n; i++) {
                Arrays.fill(row, 0f);
                float sum = 0f;
                for (Shard part : parts) {
                    int at = i * layout.dPad;
                    for (int l = 0; l < d; l++) {
                        row[l] += part.dq[at + l];
                    }
                    if (layout.gaussian) {
                        sum += part.dq[at + d];
                    }
                }
                if (sum != 0f) {
                    for (int l = 0; l < d; l++) {
                        row[l] -= sum * queries.get(i, l);
                    }
                }
                dQueries.copyRowFrom(i, row);
            }
        }
        double dFactor = 0;
        for (Shard part : parts) {
            dFactor += part.dFactor;
        }
        return dFactor;
    }

    /**
     * Keys per shard for n queries over m keys and rows of dQ of {@code dPad} floats, by the shapes alone: m over at
     * most {@value #MAX_SHARDS} shards of at least {@value #MIN_SHARD_KEYS} (fewer when n·dPad is large), rounded up
     * to whole blocks; the last shard takes what is left, so ⌈m / shardKeys⌉ shards, none empty. 0 when m = 0.
     */
    static int shardKeys(int n, int m, int dPad) {
        return shardKeys(n, m, dPad, MIN_SHARD_KEYS, KEY_BLOCK);
    }

    /**
     * {@link #shardKeys(int, int, int)} with the shard floor and the block of another algorithm ({@link RowBackward}
     * cuts its keys the same way, into smaller shards of its own blocks).
     */
    static int shardKeys(int n, int m, int dPad, int minShardKeys, int keyBlock) {
        if (m == 0) {
            return 0;
        }
        int byKeys = Math.clamp((m + minShardKeys - 1) / minShardKeys, 1, MAX_SHARDS);
        long byMemory = Math.max(1, MAX_PARTIAL_FLOATS / Math.max(1, (long) n * dPad));
        int shards = (int) Math.min(byKeys, byMemory);
        return (int) Math.min(Integer.MAX_VALUE, roundUp((m + shards - 1L) / shards, keyBlock));
    }

    private static long roundUp(long x, int multiple) {
        return (x + multiple - 1) / multiple * multiple;
    }

    /** The shapes of the packed operands, and the scoring. */
    private static final class Layout {
        final BackwardKernels kernels;
        final int width;
        /** Rows of a micro tile. */
        final int rows;
        final int d;
        final int dv;
        /** Columns of packed K and Q rows, and of dQ and dK: d, plus a column of ones for the Gaussian, in slabs. */
        final int dPad;
        final int dvPad;
        final boolean gaussian;
        final float f;
        /** dS is scaled by c before the products: f, or 2f for the Gaussian. */
        final float c;

        Layout(BackwardKernels kernels, Score score, int d, int dv) {
            this.kernels = kernels;
            this.width = kernels.width();
            this.rows = kernels.rows();
            this.d = d;
            this.dv = dv;
            this.gaussian = score.kind() == Score.Kind.NEGATIVE_SQUARED_DISTANCE;
            this.dPad = pad(d + (gaussian ? 1 : 0));
            this.dvPad = pad(dv);
            this.f = score.factor();
            this.c = gaussian ? 2 * f : f;
        }

        private int pad(int columns) {
            return (int) Math.max(width, roundUp(columns, width));
        }
    }

    /** One task: keys {@code [from, to)} against every query. */
    private static final class Shard {
        final Layout layout;
        final int from;
        final int to;
        final int blocks;
        /** Partial dQ of every query, n × dPad (the Gaussian's Σⱼ c·dSᵢⱼ in column d); null if not asked for. */
        final float[] dq;
        /** dK and dV of this shard's keys, a BLOCK × dPad (or dvPad) array per block; null if not asked for. */
        final float[][] dk;
        final float[][] dv;
        double dFactor;

        Shard(Layout layout, int from, int to, int n, boolean wantQ, boolean wantK, boolean wantV) {
            this.layout = layout;
            this.from = from;
            this.to = to;
            this.blocks = (to - from + BLOCK - 1) / BLOCK;
            this.dq = wantQ ? new float[Math.multiplyExact(n, layout.dPad)] : null;
            this.dk = wantK ? new float[blocks][BLOCK * layout.dPad] : null;
            this.dv = wantV ? new float[blocks][BLOCK * layout.dvPad] : null;
        }

        void run(Kernels kernels, Tensor queries, Tensor keys, Tensor values, Visibility visibility, Tensor gradOut,
                float[] logSumExp, float[] bigD) {
            Layout l = layout;
            int n = queries.rows();
            int d = l.d;
            int dvCols = l.dv;
            int w = l.width;
            float[][] kT = new float[blocks][];
            float[][] vT = new float[blocks][];
            float[][] kRows = dq == null ? null : new float[blocks][];
            for (int b = 0; b < blocks; b++) {
                int first = from + b * BLOCK;
                int count = Math.min(BLOCK, to - first);
                kT[b] = transposed(keys, first, count, w);
                vT[b] = transposed(values, first, count, w);
                if (kRows != null) {
                    kRows[b] = new float[BLOCK * l.dPad];
                    packRows(keys, first, count, kRows[b], BLOCK, l.dPad, w, l.gaussian);
                }
            }
            Group group = new Group(l, dk != null, dv != null);
            for (int g0 = 0; g0 < n; g0 += GROUP) {
                int gn = Math.min(GROUP, n - g0);
                int end = 0; // the group sees none of this shard's keys past from + end
                for (int r = 0; r < gn; r++) {
                    if (logSumExp[g0 + r] != Float.NEGATIVE_INFINITY) {
                        end = Math.max(end, Math.min(visibility.end(g0 + r), to) - from);
                    }
                }
                if (end <= 0) {
                    continue;
                }
                group.load(queries, gradOut, g0, gn);
                for (int b = 0; b * BLOCK < end; b++) {
                    block(kernels, group, b, Math.min(BLOCK, end - b * BLOCK), kT[b], vT[b],
                            kRows == null ? null : kRows[b], visibility, logSumExp, bigD);
                }
            }
        }

        /** Group × block b, whose first {@code count} keys some row of the group may see. */
        private void block(Kernels kernels, Group g, int b, int count, float[] kT, float[] vT, float[] kRows,
                Visibility visibility, float[] logSumExp, float[] bigD) {
            Layout l = layout;
            BackwardKernels bk = l.kernels;
            int first = from + b * BLOCK;
            float[] raw = g.raw;
            float[] p = g.p;
            float[] ds = g.ds;
            float[] dp = g.dp;
            byte[] kind = g.kind;
            for (int r = 0; r < g.rowsPadded; r++) {
                int i = g.first + r;
                kind[r] = r < g.rows && logSumExp[i] != Float.NEGATIVE_INFINITY && visibility.end(i) > first
                        ? SOME : NONE;
            }
            // S tile after tile, then dP: each packed panel is read from L1 by every tile after the first.
            int rows = l.rows;
            for (int t = 0; t < g.rowsPadded; t += rows) {
                if (!all(kind, t, rows, NONE)) {
                    bk.rawScores(l.gaussian, g.q, t * l.d, l.d, kT, raw, t * BLOCK);
                }
            }
            for (int t = 0; t < g.rowsPadded; t += rows) {
                if (!all(kind, t, rows, NONE)) {
                    bk.rawScores(false, g.dO, t * l.dv, l.dv, vT, dp, t * BLOCK);
                }
            }
            if (!whole(g, first, count, visibility) || !wholeWeights(kernels, g, logSumExp, bigD)) {
                rowByRow(kernels, g, first, count, visibility, logSumExp, bigD);
            }
            // dV += Pᵀ·dO and dK += dSᵀ·Q: the block's keys are the tile rows, the group's queries the inner sum. All of
            // dV, then all of dK, for the same reason as S and dP above.
            int slab = GROUP * l.width;
            for (int j = 0; dv != null && j < count; j += rows) {
                bk.accumulate(p, j, 1, BLOCK, 0, g.rows, g.dOPanel, slab, dv[b], j * l.dvPad, l.dvPad, l.dvPad);
            }
            for (int j = 0; dk != null && j < count; j += rows) {
                bk.accumulate(ds, j, 1, BLOCK, 0, g.rows, g.qPanel, slab, dk[b], j * l.dPad, l.dPad, l.dPad);
            }
            if (dq == null) {
                return;
            }
            // dQ += dS·K: whole tiles where every row uses every key of the block, else row by row over the runs
            // of keys used, so a hidden key row is never multiplied, not even by 0 (0 · NaN is NaN).
            int kSlab = BLOCK * l.width;
            for (int t = 0; t < g.rowsPadded; t += rows) {
                if (all(kind, t, rows, ALL)) {
                    bk.accumulate(ds, t * BLOCK, BLOCK, 1, 0, count, kRows, kSlab, dq, (g.first + t) * l.dPad,
                            l.dPad, l.dPad);
                    continue;
                }
                for (int r = t; r < t + rows; r++) {
                    int at = (g.first + r) * l.dPad;
                    if (kind[r] == ALL) {
                        bk.accumulateRow(ds, r * BLOCK, 1, 0, count, kRows, kSlab, dq, at, l.dPad);
                    } else if (kind[r] == SOME) {
                        boolean[] used = g.used;
                        int base = r * BLOCK;
                        for (int j = 0; j < count; ) {
                            while (j < count && !used[base + j]) {
                                j++;
                            }
                            int start = j;
                            while (j < count && used[base + j]) {
                                j++;
                            }
                            bk.accumulateRow(ds, base, 1, start, j, kRows, kSlab, dq, at, l.dPad);
                        }
                    }
                }
            }
        }

        /**
         * Whether every row of the group sees every key of the block, untouched by {@link Visibility#apply}: then each
         * step from scores to P and dS is one kernel call over the whole group ({@link #wholeWeights}) rather than one
         * per row of {@value BackwardKernels#BLOCK} keys, whose fixed costs outweighed the work on so short a row.
         */
        private static boolean whole(Group g, int first, int count, Visibility visibility) {
            if (count != BLOCK) {
                return false;
            }
            for (int r = 0; r < g.rows; r++) {
                if (g.kind[r] != SOME || !visibility.untouched(g.first + r, first, BLOCK)) {
                    return false;
                }
            }
            return true;
        }

        /**
         * P and dS of a group that sees the whole block ({@link #whole}), the same roundings as {@link #rowByRow}:
         * false, and nothing of use written, if some scaled score is −∞ (that key is not used, so its row goes row by
         * row).
         */
        private boolean wholeWeights(Kernels kernels, Group g, float[] logSumExp, float[] bigD) {
            Layout l = layout;
            int cells = g.rows * BLOCK;
            if (l.kernels.exponents(g.raw, 0, g.rows, l.f, logSumExp, g.first, g.p) != cells) {
                return false;
            }
            kernels.expAndSum(g.p, 0, cells, 0f);
            dFactor += l.kernels.scoreGradients(g.p, g.dp, g.raw, 0, g.rows, bigD, g.first, l.c, g.ds);
            Arrays.fill(g.kind, 0, g.rows, ALL);
            Arrays.fill(g.p, cells, g.rowsPadded * BLOCK, 0f);
            Arrays.fill(g.ds, cells, g.rowsPadded * BLOCK, 0f);
            return true;
        }

        /**
         * P and dS row by row: scores scaled, then {@link Visibility#apply}, then the softmax's shift and exp, then dS
         * over the keys used; each row's kind says which keys it uses.
         */
        private void rowByRow(Kernels kernels, Group g, int first, int count, Visibility visibility,
                float[] logSumExp, float[] bigD) {
            Layout l = layout;
            BackwardKernels bk = l.kernels;
            float[] raw = g.raw;
            float[] p = g.p;
            float[] ds = g.ds;
            byte[] kind = g.kind;
            for (int r = 0; r < g.rowsPadded; r++) {
                int at = r * BLOCK;
                if (kind[r] == NONE) {
                    Arrays.fill(p, at, at + BLOCK, 0f);
                    Arrays.fill(ds, at, at + BLOCK, 0f);
                    continue;
                }
                int i = g.first + r;
                float f = l.f;
                for (int x = at; x < at + count; x++) {
                    p[x] = f * raw[x];
                }
                visibility.apply(i, first, count, p, at);
                Arrays.fill(p, at + count, at + BLOCK, Float.NEGATIVE_INFINITY);
                int used = bk.shift(p, at, at + BLOCK, logSumExp[i]);
                kind[r] = used == 0 ? NONE : used == count ? ALL : SOME;
                if (used == 0) {
                    Arrays.fill(p, at, at + BLOCK, 0f);
                    Arrays.fill(ds, at, at + BLOCK, 0f);
                    continue;
                }
                if (kind[r] == SOME) {
                    for (int x = at; x < at + count; x++) {
                        g.used[x] = p[x] != Float.NEGATIVE_INFINITY;
                    }
                }
                kernels.expAndSum(p, at, at + BLOCK, 0f);
                dFactor += bk.scoreGradients(p, g.dp, raw, at, 1, bigD, i, l.c, ds);
            }
        }

        /** Whether {@code kind[t, t + rows)} are all {@code k}. */
        private static boolean all(byte[] kind, int t, int rows, byte k) {
            for (int r = t; r < t + rows; r++) {
                if (kind[r] != k) {
                    return false;
                }
            }
            return true;
        }

        /** dK and dV rows of this shard's keys; the Gaussian's −(Σᵢ c·dSᵢⱼ)·kⱼ for the keys some query used. */
        void writeKeys(Tensor keys, Tensor dKeys, Tensor dValues) {
            Layout l = layout;
            float[] kRow = new float[l.d];
            float[] vRow = new float[l.dv];
            for (int key = from; key < to; key++) {
                int b = (key - from) / BLOCK;
                int j = (key - from) % BLOCK;
                if (dKeys != null) {
                    System.arraycopy(dk[b], j * l.dPad, kRow, 0, l.d);
                    float sum = l.gaussian ? dk[b][j * l.dPad + l.d] : 0f;
                    // A key no query used has a sum of 0 and is not read: it may be NaN.
                    if (sum != 0f) {
                        for (int c = 0; c < l.d; c++) {
                            kRow[c] -= sum * keys.get(key, c);
                        }
                    }
                    dKeys.copyRowFrom(key, kRow);
                }
                if (dValues != null) {
                    System.arraycopy(dv[b], j * l.dvPad, vRow, 0, l.dv);
                    dValues.copyRowFrom(key, vRow);
                }
            }
        }
    }

    /** A group of query rows (padded to whole tiles with rows of 0) and its blocks of scores, P and dS. */
    private static final class Group {
        final Layout layout;
        /** Rows of Q and dO, row after row, for the score tiles; row panels of both for dK and dV. */
        final float[] q;
        final float[] dO;
        final float[] qPanel;
        final float[] dOPanel;
        final float[] raw = new float[GROUP * BLOCK];
        final float[] p = new float[GROUP * BLOCK];
        final float[] dp = new float[GROUP * BLOCK];
        final float[] ds = new float[GROUP * BLOCK];
        final boolean[] used = new boolean[GROUP * BLOCK];
        final byte[] kind = new byte[GROUP];
        int first;
        int rows;
        int rowsPadded;

        Group(Layout layout, boolean wantK, boolean wantV) {
            this.layout = layout;
            this.q = new float[GROUP * layout.d];
            this.dO = new float[GROUP * layout.dv];
            this.qPanel = wantK ? new float[GROUP * layout.dPad] : null;
            this.dOPanel = wantV ? new float[GROUP * layout.dvPad] : null;
        }

        /** Queries and upstream gradients {@code [first, first + rows)}. */
        void load(Tensor queries, Tensor gradOut, int first, int rows) {
            Layout l = layout;
            this.first = first;
            this.rows = rows;
            this.rowsPadded = (rows + layout.rows - 1) / layout.rows * layout.rows;
            for (int r = 0; r < rows; r++) {
                MemorySegment.copy(queries.segment(), ValueLayout.JAVA_FLOAT_UNALIGNED, queries.rowOffset(first + r),
                        q, r * l.d, l.d);
                MemorySegment.copy(gradOut.segment(), ValueLayout.JAVA_FLOAT_UNALIGNED, gradOut.rowOffset(first + r),
                        dO, r * l.dv, l.dv);
            }
            Arrays.fill(q, rows * l.d, rowsPadded * l.d, 0f);
            Arrays.fill(dO, rows * l.dv, rowsPadded * l.dv, 0f);
            if (qPanel != null) {
                toPanel(q, l.d, rows, qPanel, GROUP, l.dPad, l.width, l.gaussian);
            }
            if (dOPanel != null) {
                toPanel(dO, l.dv, rows, dOPanel, GROUP, l.dvPad, l.width, false);
            }
        }
    }

    /**
     * Rows {@code [first, first + count)} of x, transposed into a panel of one block: element (t, j) at
     * {@code (j / w)·cols·w + t·w + j % w}, keys past count 0.
     */
    private static float[] transposed(Tensor x, int first, int count, int w) {
        int cols = x.cols();
        float[] panel = new float[BLOCK * cols];
        float[] row = new float[cols];
        for (int j = 0; j < count; j++) {
            MemorySegment.copy(x.segment(), ValueLayout.JAVA_FLOAT_UNALIGNED, x.rowOffset(first + j), row, 0, cols);
            int at = j / w * cols * w + j % w;
            for (int t = 0; t < cols; t++) {
                panel[at + t * w] = row[t];
            }
        }
        return panel;
    }

    /** Rows {@code [first, first + count)} of x into a row panel ({@link #toPanel}). */
    private static void packRows(Tensor x, int first, int count, float[] panel, int panelRows, int colsPad, int w,
            boolean ones) {
        int cols = x.cols();
        float[] rows = new float[count * cols];
        for (int j = 0; j < count; j++) {
            MemorySegment.copy(x.segment(), ValueLayout.JAVA_FLOAT_UNALIGNED, x.rowOffset(first + j), rows, j * cols,
                    cols);
        }
        toPanel(rows, cols, count, panel, panelRows, colsPad, w, ones);
    }

    /**
     * {@code count} rows of {@code cols} floats into a row panel of {@code panelRows} rows and colsPad columns:
     * element (k, c) at {@code (c / w)·panelRows·w + k·w + c % w}, each slab's part of a row one copy. Columns past
     * cols are 0, but for {@code ones}: column cols is 1 (for the Gaussian's Σ dS). Rows past count are left as
     * they are: the kernels never read them.
     */
    private static void toPanel(float[] rows, int cols, int count, float[] panel, int panelRows, int colsPad, int w,
            boolean ones) {
        for (int c = 0; c < colsPad; c += w) {
            int slab = c / w * panelRows * w;
            int n = Math.clamp(cols - c, 0, w);
            for (int k = 0; k < count; k++) {
                int at = slab + k * w;
                System.arraycopy(rows, k * cols + c, panel, at, n);
                Arrays.fill(panel, at + n, at + w, 0f);
                if (ones && cols >= c && cols < c + w) {
                    panel[at + cols - c] = 1f;
                }
            }
        }
    }
}
