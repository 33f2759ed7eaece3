package dev.qkv;

import dev.qkv.kernel.PartialRows;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;

/**
 * What pooling a set of queries over one shard of keys leaves to finish or to merge: per query the largest
 * score {@code max}, {@code sum = Σ exp(sᵢ − max)} and the unnormalised output {@code acc = Σ exp(sᵢ − max)·vᵢ}.
 *
 * <p>{@link #merge} combines the partials of two disjoint shards of keys into the partial of their union; it is
 * commutative and associative up to rounding, and a partial of no keys (every row empty: max −∞, sum 0) is its
 * identity. {@link #output} finishes: {@code acc / sum}, or 0 for a query that saw no key. So keys can be
 * split across threads, processes or machines, pooled shard by shard, and merged.
 *
 * <p>Immutable; {@link #of} and the accessors copy.
 */
public final class Partial {

    private final PartialRows rows;

    Partial(PartialRows rows) {
        this.rows = rows;
    }

    /**
     * A partial from its parts, e.g. as received from another machine: {@code max[i]}, {@code sum[i]} and
     * {@code acc[i]} (all of one length dv) for each query i.
     *
     * @throws IllegalArgumentException if the arrays differ in length, a sum is negative or not finite, or a
     *     row with sum 0 has a non-zero accumulator
     */
    public static Partial of(float[] max, float[] sum, float[][] acc) {
        if (max.length != sum.length || max.length != acc.length) {
            throw new IllegalArgumentException("max, sum and acc must have one entry per query, got " + max.length
                    + ", " + sum.length + " and " + acc.length);
        }
        int dv = acc.length == 0 ? 0 : acc[0].length;
        PartialRows rows = new PartialRows(max.length, dv);
        for (int i = 0; i < max.length; i++) {
            if (acc[i].length != dv) {
                throw new IllegalArgumentException("acc row " + i + " has " + acc[i].length + " values, row 0 has " + dv);
            }
            if (!(sum[i] >= 0) || Float.isInfinite(sum[i])) {
                throw new IllegalArgumentException("sum " + i + " must be finite and >= 0, got " + sum[i]);
            }
            if (sum[i] > 0 && !(max[i] > Float.NEGATIVE_INFINITY)) {
                throw new IllegalArgumentException("max " + i + " must be finite when its sum is positive, got " + max[i]);
            }
            rows.set(i, sum[i] == 0 ? Float.NEGATIVE_INFINITY : max[i], sum[i], acc[i]);
            if (sum[i] == 0) {
                for (float a : acc[i]) {
                    if (a != 0) {
                        throw new IllegalArgumentException("acc row " + i + " must be 0 when its sum is 0");
                    }
                }
            }
        }
        return new Partial(rows);
    }

    /** The partial of no keys for n queries and values of dimension dv: the identity of {@link #merge}. */
    public static Partial empty(int n, int dv) {
        return new Partial(new PartialRows(n, dv));
    }

    /** The number of queries. */
    public int queries() {
        return rows.rows();
    }

    /** The dimension of the values. */
    public int valueDim() {
        return rows.dv();
    }

    /** Query i's largest score, −∞ if it saw no key. */
    public float max(int i) {
        return rows.max(i);
    }

    /** Query i's {@code Σ exp(sⱼ − max)}, 0 if it saw no key. */
    public float sum(int i) {
        return rows.sum(i);
    }

    /** A copy of query i's unnormalised output {@code Σ exp(sⱼ − max)·vⱼ}. */
    public float[] acc(int i) {
        return rows.acc(i);
    }

    /**
     * The partial of both shards of keys together.
     *
     * @throws IllegalArgumentException if the two differ in the number of queries or in dv
     */
    public Partial merge(Partial other) {
        if (other.queries() != queries() || other.valueDim() != valueDim()) {
            throw new IllegalArgumentException("cannot merge a partial of " + other.queries() + " queries × dv "
                    + other.valueDim() + " into one of " + queries() + " × " + valueDim());
        }
        PartialRows merged = new PartialRows(queries(), valueDim());
        for (int i = 0; i < queries(); i++) {
            merged.merge(i, rows, i);
            merged.merge(i, other.rows, i);
        }
        return new Partial(merged);
    }

    /** The finished output, n × dv, in a new tensor owned by {@code arena}. */
    public Tensor output(Arena arena) {
        Tensor out = Tensor.allocate(arena, queries(), valueDim());
        output(out);
        return out;
    }

    /** Writes the finished output into {@code out}, of shape n × dv (or (dv,) for one query). */
    public void output(Tensor out) {
        if (out.rows() != queries() || out.cols() != valueDim()) {
            throw new IllegalArgumentException("output has shape " + out.shapeString() + ", expected (" + queries()
                    + ", " + valueDim() + ")");
        }
        for (int i = 0; i < queries(); i++) {
            rows.finish(i, out, i);
        }
    }

    /** Query i's log-sum-exp of the scores, {@code max + log(sum)}, or −∞ if it saw no key. */
    public float logSumExp(int i) {
        return rows.logSumExp(i);
    }

    PartialRows rows() {
        return rows;
    }
}
