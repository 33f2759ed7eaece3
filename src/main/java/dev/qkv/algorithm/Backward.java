package dev.qkv.algorithm;

import dev.qkv.kernel.Kernels;
import dev.qkv.kernel.Score;
import dev.qkv.tensor.Tensor;
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
 * c = 2f, ∂ⱼ = kⱼ − qᵢ, ∂'ᵢ = qᵢ − kⱼ for the Gaussian (summed as Σ dS·k − (Σ dS)·q).
 *
 * <p>Work and memory. The keys are cut into at most {@value #MAX_SHARDS} shards (of at least {@value #MIN_SHARD_KEYS}
 * keys, fewer shards when n·d is large), fixed by the shapes alone. A shard is one task: it walks tiles of
 * {@value #QUERY_TILE} queries × blocks of {@value #KEY_BLOCK} keys, owns dK and dV of its keys, and adds into its
 * own partial dQ (n × d), which are summed afterwards in shard order. So the result is bitwise the same whatever
 * the number of threads. Memory besides the outputs: the partial dQ, at most {@value #MAX_PARTIAL_FLOATS} floats
 * (16 MB) with more than one shard, n·d with one; dK and dV of the keys (m·(d + dv) floats) while they are summed;
 * two {@value #QUERY_TILE} × {@value #KEY_BLOCK} blocks of P and dS per task. Never an n × m matrix.
 *
 * <p>Masks: the scores go through {@link Visibility#apply}, the forward's one masking step, before the softmax; a key
 * whose score it leaves at −∞ is not used: its P and dS are set to 0, not computed from it, and dQ sums only over
 * the keys used, so a NaN in a hidden key or value cannot reach a gradient. A key no query sees gets dK = dV = 0
 * exactly, a query that sees no key (ℓ = −∞) dQ = 0.
 */
public final class Backward {

    /** Queries per tile: the tile's rows of Q and dO (16 KB each at d = 128) stay in L1/L2 across a block. */
    static final int QUERY_TILE = 32;
    /** Keys per block: the block's P and dS columns (8 KB each) and its key and value rows stay in L2. */
    static final int KEY_BLOCK = 64;
    /** The fewest keys a shard gets when there are several. */
    static final int MIN_SHARD_KEYS = 256;
    /** The most shards, and so the most threads a call keeps busy. */
    static final int MAX_SHARDS = 8;
    /** The most floats of partial dQ: shards are fewer when n·d is large. */
    static final long MAX_PARTIAL_FLOATS = 1L << 22;

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
        int m = keys.rows();
        int d = queries.cols();
        int shardKeys = shardKeys(n, m, d);
        int shards = shardKeys == 0 ? 0 : (m + shardKeys - 1) / shardKeys;
        float[] bigD = new float[n];
        for (int i = 0; i < n; i++) {
            bigD[i] = kernels.dot(gradOut.segment(), gradOut.rowOffset(i), out.segment(), out.rowOffset(i),
                    gradOut.cols());
        }
        Shard[] parts = new Shard[shards];
        boolean wantQ = dQueries != null;
        parallel.forEach(shards, s -> {
            int to = (int) Math.min(m, (long) (s + 1) * shardKeys);
            Shard shard = new Shard(s * shardKeys, to, n, d, values.cols(), wantQ, dKeys != null, dValues != null);
            shard.run(kernels, score, queries, keys, values, visibility, gradOut, logSumExp, bigD);
            parts[s] = shard;
        });
        // Written here, on the calling thread: the outputs may belong to a confined arena.
        for (Shard part : parts) {
            part.writeKeys(score, keys, dKeys, dValues);
        }
        if (dQueries != null) {
            float[] row = new float[d];
            boolean gaussian = score.kind() == Score.Kind.NEGATIVE_SQUARED_DISTANCE;
            for (int i = 0; i < n; i++) {
                Arrays.fill(row, 0f);
                float sum = 0f;
                for (Shard part : parts) {
                    float[] partial = part.dq[i];
                    for (int l = 0; l < d; l++) {
                        row[l] += partial[l];
                    }
                    sum += part.dqSum[i];
                }
                if (gaussian && sum != 0f) {
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
     * Keys per shard for n queries over m keys of dimension d, by the shapes alone: m over at most
     * {@value #MAX_SHARDS} shards of at least {@value #MIN_SHARD_KEYS} (fewer when n·d is large), rounded up to
     * whole blocks; the last shard takes what is left, so ⌈m / shardKeys⌉ shards, none empty. 0 when m = 0.
     */
    static int shardKeys(int n, int m, int d) {
        if (m == 0) {
            return 0;
        }
        int byKeys = Math.clamp((m + MIN_SHARD_KEYS - 1) / MIN_SHARD_KEYS, 1, MAX_SHARDS);
        long byMemory = Math.max(1, MAX_PARTIAL_FLOATS / Math.max(1, (long) n * d));
        int shards = (int) Math.min(byKeys, byMemory);
        return roundUp((m + shards - 1) / shards, KEY_BLOCK);
    }

    private static int roundUp(int x, int multiple) {
        return (x + multiple - 1) / multiple * multiple;
    }

    /** One task: keys {@code [from, to)} against every query. */
    private static final class Shard {
        final int from;
        final int to;
        /** Partial dQ of every query, and the Gaussian's Σⱼ c·dSᵢⱼ; dK and dV of this shard's keys. */
        final float[][] dq;
        final float[] dqSum;
        final float[][] dk;
        final float[][] dv;
        final float[] dkSum;
        final boolean[] seen;
        final boolean wantQ;
        double dFactor;

        Shard(int from, int to, int n, int d, int dvCols, boolean wantQ, boolean wantK, boolean wantV) {
            this.from = from;
            this.to = to;
            this.wantQ = wantQ;
            int keys = to - from;
            this.dq = wantQ ? new float[n][d] : new float[n][0];
            this.dqSum = new float[n];
            this.dk = wantK ? new float[keys][d] : null;
            this.dv = wantV ? new float[keys][dvCols] : null;
            this.dkSum = new float[keys];
            this.seen = new boolean[keys];
        }

        void run(Kernels kernels, Score score, Tensor queries, Tensor keys, Tensor values, Visibility visibility,
                Tensor gradOut, float[] logSumExp, float[] bigD) {
            int n = queries.rows();
            float f = score.factor();
            boolean gaussian = score.kind() == Score.Kind.NEGATIVE_SQUARED_DISTANCE;
            float c = gaussian ? 2 * f : f;
            Score raw = gaussian ? Score.negativeSquaredDistance(1f) : Score.dot(1f);
            Score plainDot = Score.dot(1f);
            float[] rawScores = new float[KEY_BLOCK];
            float[] p = new float[KEY_BLOCK];
            float[] dp = new float[KEY_BLOCK];
            float[] ds = new float[KEY_BLOCK];
            float[] run = new float[KEY_BLOCK];
            boolean[] used = new boolean[KEY_BLOCK];
            float[][] pColumns = new float[KEY_BLOCK][QUERY_TILE];
            float[][] dsColumns = new float[KEY_BLOCK][QUERY_TILE];
            boolean[] columnSeen = new boolean[KEY_BLOCK];
            for (int i0 = 0; i0 < n; i0 += QUERY_TILE) {
                int i1 = Math.min(n, i0 + QUERY_TILE);
                int tileEnd = 0;
                for (int i = i0; i < i1; i++) {
                    tileEnd = Math.max(tileEnd,
                            logSumExp[i] == Float.NEGATIVE_INFINITY ? 0 : Math.min(visibility.end(i), to));
                }
                for (int j0 = from; j0 < tileEnd; j0 += KEY_BLOCK) {
                    int j1 = Math.min(tileEnd, j0 + KEY_BLOCK);
                    for (int jj = 0; jj < j1 - j0; jj++) {
                        Arrays.fill(pColumns[jj], 0f);
                        Arrays.fill(dsColumns[jj], 0f);
                        columnSeen[jj] = false;
                    }
                    for (int i = i0; i < i1; i++) {
                        int end = Math.min(visibility.end(i), j1);
                        float lse = logSumExp[i];
                        if (end <= j0 || lse == Float.NEGATIVE_INFINITY) {
                            continue;
                        }
                        int count = end - j0;
                        kernels.scores(raw, queries, i, keys, j0, end, rawScores);
                        kernels.scores(plainDot, gradOut, i, values, j0, end, dp);
                        for (int jj = 0; jj < count; jj++) {
                            p[jj] = f * rawScores[jj];
                        }
                        // The forward's masking step: a key the query does not see scores −∞ and is not used.
                        visibility.apply(i, j0, count, p, 0);
                        for (int jj = 0; jj < count; jj++) {
                            used[jj] = p[jj] != Float.NEGATIVE_INFINITY;
                            // Clamped at 0: the float score may exceed ℓ by its rounding, the exact one cannot.
                            p[jj] = Math.min(p[jj] - lse, 0f);
                        }
                        kernels.expAndSum(p, 0, count, 0f);
                        float di = bigD[i];
                        double factorSum = 0;
                        for (int jj = 0; jj < count; jj++) {
                            if (!used[jj]) {
                                p[jj] = 0f;
                                ds[jj] = 0f;
                                continue;
                            }
                            float dS = p[jj] * (dp[jj] - di);
                            factorSum += (double) dS * rawScores[jj];
                            ds[jj] = c * dS;
                            pColumns[jj][i - i0] = p[jj];
                            dsColumns[jj][i - i0] = ds[jj];
                            columnSeen[jj] = true;
                            dqSum[i] += ds[jj];
                        }
                        dFactor += factorSum;
                        if (wantQ) {
                            accumulateUsed(kernels, ds, keys, j0, end, used, run, dq[i]);
                        }
                    }
                    for (int jj = 0; jj < j1 - j0 && (dk != null || dv != null); jj++) {
                        if (!columnSeen[jj]) {
                            continue;
                        }
                        int key = j0 + jj - from;
                        seen[key] = true;
                        if (dv != null) {
                            kernels.accumulate(pColumns[jj], gradOut, i0, i1, dv[key]);
                        }
                        if (dk != null) {
                            kernels.accumulate(dsColumns[jj], queries, i0, i1, dk[key]);
                            for (int ii = 0; ii < i1 - i0; ii++) {
                                dkSum[key] += dsColumns[jj][ii];
                            }
                        }
                    }
                }
            }
        }

        /**
         * {@code acc += Σ weights[j − from]·keys[j]} over the keys of {@code [from, to)} with {@code used[j − from]}
         * only: a key the query does not see is not multiplied, not even by 0 (0 · NaN is NaN).
         */
        private static void accumulateUsed(Kernels kernels, float[] weights, Tensor keys, int from, int to,
                boolean[] used, float[] run, float[] acc) {
            int j = from;
            while (j < to) {
                while (j < to && !used[j - from]) {
                    j++;
                }
                int start = j;
                while (j < to && used[j - from]) {
                    j++;
                }
                if (start == from && j == to) {
                    kernels.accumulate(weights, keys, from, to, acc);
                } else if (start < j) {
                    System.arraycopy(weights, start - from, run, 0, j - start);
                    kernels.accumulate(run, keys, start, j, acc);
                }
            }
        }

        /** dK and dV rows of this shard's keys; the Gaussian's −(Σᵢ c·dSᵢⱼ)·kⱼ for the keys some query sees. */
        void writeKeys(Score score, Tensor keys, Tensor dKeys, Tensor dValues) {
            boolean gaussian = score.kind() == Score.Kind.NEGATIVE_SQUARED_DISTANCE;
            for (int key = 0; key < to - from; key++) {
                if (dk != null && gaussian && seen[key] && dkSum[key] != 0f) {
                    float sum = dkSum[key];
                    float[] row = dk[key];
                    for (int l = 0; l < row.length; l++) {
                        row[l] -= sum * keys.get(from + key, l);
                    }
                }
                if (dKeys != null) {
                    dKeys.copyRowFrom(from + key, dk[key]);
                }
                if (dValues != null) {
                    dValues.copyRowFrom(from + key, dv[key]);
                }
            }
        }
    }
}
