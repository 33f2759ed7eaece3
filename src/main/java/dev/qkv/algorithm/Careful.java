package dev.qkv.algorithm;

import dev.qkv.kernel.Score;
import dev.qkv.tensor.Tensor;

/**
 * Finite in, finite out: the query rows whose float result is not finite are computed again here, in double.
 *
 * <p>The float paths stay as they are. From finite inputs they can fail only where a score overflows float: a dot
 * product of 1e20s is +∞ and {@code exp(∞ − ∞)} NaN; a distance of 3e19s is +∞ for every key, so every score is −∞
 * and the query looks as if it saw no key; an accumulator of large values can pass 3.4e38. Such a row (NaN or ∞ in
 * its state, or an empty state for a query that sees keys) is recomputed by a plain scalar loop in double: for float
 * inputs {@code |qᵀk| ≤ d·(3.4e38)²} and {@code ‖q − k‖² ≤ d·(6.8e38)²} stay far below double's 1.8e308, so every
 * score is finite and the max-subtracted softmax takes its limit: keys tied at the largest score share the weight,
 * and under Gaussian scoring the nearest keys win. Rare by construction, so written for clarity, not speed.
 */
final class Careful {

    private Careful() {}

    /** Recomputes each query of {@code rows} whose state is not finite, or empty although it sees a key. */
    static void repair(Score score, Tensor queries, Tensor keys, Tensor values, Visibility visibility, Rows rows) {
        for (int i = 0; i < rows.queries(); i++) {
            if (!finite(rows, i) || rows.sum(i) == 0 && seesAny(visibility, i, keys.rows())) {
                pool(score, queries, i, keys, values, visibility, rows);
            }
        }
    }

    /**
     * Recomputes query i's weights {@code row[0, end)} when the float softmax left a NaN or ∞ in them, or left them
     * all 0 although the query sees a key.
     */
    static void repairWeights(Score score, Tensor queries, int i, Tensor keys, Visibility visibility, float[] row,
            int end) {
        boolean allZero = true;
        for (int j = 0; j < end; j++) {
            if (!Float.isFinite(row[j])) {
                weights(score, queries, i, keys, visibility, row, end);
                return;
            }
            allZero &= row[j] == 0f;
        }
        if (allZero && seesAny(visibility, i, end)) {
            weights(score, queries, i, keys, visibility, row, end);
        }
    }

    /**
     * {@link #repair}'s test on row r of a float state that holds all of query i's keys, before any merge: a
     * {@link Rows} that merged it would be empty where its sum is 0, and would hold the same values otherwise.
     */
    static boolean needed(Running state, int r, int dv, Visibility visibility, int i, int m) {
        if (state.sum[r] == 0f) {
            return seesAny(visibility, i, m);
        }
        if (!Float.isFinite(state.sum[r]) || !Float.isFinite(state.max[r])) {
            return true;
        }
        for (int c = r * state.dvPad; c < r * state.dvPad + dv; c++) {
            if (!Float.isFinite(state.acc[c])) {
                return true;
            }
        }
        return false;
    }

    private static boolean finite(Rows rows, int i) {
        return rows.sum(i) == 0 || rows.finite(i);
    }

    private static boolean seesAny(Visibility visibility, int i, int m) {
        int end = Math.min(visibility.end(i), m);
        return visibility.nextVisible(i, 0, end) < end;
    }

    /** Query i's state over the keys it sees, in double: max, then Σ exp(sⱼ − max) and Σ exp(sⱼ − max)·vⱼ. */
    static void pool(Score score, Tensor queries, int i, Tensor keys, Tensor values, Visibility visibility,
            Rows rows) {
        int end = Math.min(visibility.end(i), keys.rows());
        double max = max(score, queries, i, keys, visibility, end);
        int dv = values.cols();
        double sum = 0;
        double[] acc = new double[dv];
        for (int j = visibility.nextVisible(i, 0, end); j < end; j = visibility.nextVisible(i, j + 1, end)) {
            double w = Math.exp(score(score, queries, i, keys, visibility, j) - max);
            sum += w;
            for (int c = 0; c < dv; c++) {
                acc[c] += w * values.get(j, c);
            }
        }
        if (sum == 0) {
            rows.set(i, Double.NEGATIVE_INFINITY, 0, acc);
        } else {
            rows.set(i, max, sum, acc);
        }
    }

    /** Query i's weights over keys {@code [0, end)} in double, rounded to float once; 0 for keys it does not see. */
    private static void weights(Score score, Tensor queries, int i, Tensor keys, Visibility visibility, float[] row,
            int end) {
        double max = max(score, queries, i, keys, visibility, end);
        double sum = 0;
        for (int j = visibility.nextVisible(i, 0, end); j < end; j = visibility.nextVisible(i, j + 1, end)) {
            sum += Math.exp(score(score, queries, i, keys, visibility, j) - max);
        }
        java.util.Arrays.fill(row, 0, end, 0f);
        for (int j = visibility.nextVisible(i, 0, end); j < end; j = visibility.nextVisible(i, j + 1, end)) {
            row[j] = (float) (Math.exp(score(score, queries, i, keys, visibility, j) - max) / sum);
        }
    }

    private static double max(Score score, Tensor queries, int i, Tensor keys, Visibility visibility, int end) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = visibility.nextVisible(i, 0, end); j < end; j = visibility.nextVisible(i, j + 1, end)) {
            max = Math.max(max, score(score, queries, i, keys, visibility, j));
        }
        return max;
    }

    /**
     * The score of query i and key j in double, with its bias: finite for any finite float inputs and a finite bias
     * (a visible key's bias is finite).
     */
    private static double score(Score score, Tensor queries, int i, Tensor keys, Visibility visibility, int j) {
        return raw(score, queries, i, keys, j) + visibility.bias(i, j);
    }

    private static double raw(Score score, Tensor queries, int i, Tensor keys, int j) {
        double a = 0;
        int d = queries.cols();
        if (score.kind() == Score.Kind.DOT) {
            for (int t = 0; t < d; t++) {
                a += (double) queries.get(i, t) * keys.get(j, t);
            }
            return score.factor() * a;
        }
        for (int t = 0; t < d; t++) {
            double diff = (double) queries.get(i, t) - keys.get(j, t);
            a += diff * diff;
        }
        return -(double) score.factor() * a;
    }
}
