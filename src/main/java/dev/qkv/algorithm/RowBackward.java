package dev.qkv.algorithm;

import dev.qkv.kernel.Kernels;
import dev.qkv.kernel.Score;
import dev.qkv.tensor.Tensor;
import java.util.Arrays;

/**
 * The backward pass of {@link Backward} for fewer queries than a micro tile, on the row kernels: for each query
 * and block of {@value #KEY_BLOCK} keys, its scores ({@link Kernels#scores}), {@link Visibility#apply}, P, dP and
 * dS as in {@link Backward}, then dQ, dK and dV by {@link Kernels#accumulate}. It packs nothing: for one query the
 * tiles' packing of Kᵀ, K and Vᵀ (3·m·d floats) costs more than the products (n = 1, m = 2048, d = 128, CPU time,
 * vector kernels on the AVX-512 machine: 1.05 ms tiled against 0.34 ms here).
 *
 * <p>Work and memory as in {@link Backward}: at most {@value #MAX_SHARDS} shards of keys fixed by the shapes, each a
 * task owning dK and dV of its keys and a partial dQ (n × d) summed in shard order, so the bits are the same for
 * any thread count; two {@value #QUERY_TILE} × {@value #KEY_BLOCK} blocks of P and dS per task. Masks as in
 * {@link Backward}: a key whose score {@link Visibility#apply} leaves at −∞ is not used, not even multiplied by 0.
 */
final class RowBackward {

    /** Queries per tile: the tile's rows of Q and dO (16 KB each at d = 128) stay in L1/L2 across a block. */
    static final int QUERY_TILE = 32;
    /** Keys per block: the block's P and dS columns (8 KB each) and its key and value rows stay in L2. */
    static final int KEY_BLOCK = 64;
    /** The fewest keys a shard gets when there are several. */
    static final int MIN_SHARD_KEYS = 256;
    /** The most shards, and so the most threads a call keeps busy: {@link Backward#MAX_SHARDS}, cut alike. */
    static final int MAX_SHARDS = Backward.MAX_SHARDS;

    private RowBackward() {}

    /**
     * Writes dQ, dK and dV (each may be null: not computed) and returns ∂L/∂f, for scores {@code score} (its
     * factor f, applied to raw scores as the forward's kernels apply it). {@code out} and {@code logSumExp} are the
     * forward's output (n × dv) and log-sum-exp (n entries); {@code visibility} says which keys each query sees.
     * Shapes are trusted.
     */
    static double run(Kernels kernels, Score score, Tensor queries, Tensor keys, Tensor values,
            Visibility visibility, Tensor gradOut, Tensor out, float[] logSumExp, Tensor dQueries, Tensor dKeys,
            Tensor dValues, Workers parallel) {
        int n = queries.rows();
        int m = keys.rows();
        int d = queries.cols();
        int shardKeys = Backward.shardKeys(n, m, d, MIN_SHARD_KEYS, KEY_BLOCK);
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
