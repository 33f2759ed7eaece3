package dev.qkv;

import dev.qkv.algorithm.Rows;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;

/**
 * What pooling a set of queries over one shard of keys leaves to finish or to merge: per query the largest
 * score {@code max}, {@code sum = Σ exp(sᵢ − max)} and the unnormalised output {@code acc = Σ exp(sᵢ − max)·vᵢ},
 * in double, so that merging many shards adds no rounding a float output would notice.
 *
 * <p>{@link #merge} combines the partials of two disjoint shards of keys into the partial of their union; it is
 * commutative and associative up to rounding, and a partial of no keys (every row empty: max −∞, sum 0) is its
 * identity. {@link #output} finishes: {@code acc / sum}, or 0 for a query that saw no key. So keys can be
 * split across threads, processes or machines, pooled shard by shard, and merged; {@link #toBytes} and
 * {@link #fromBytes} carry a partial between them.
 *
 * <p>Immutable; {@link #of} and the accessors copy.
 */
public final class Partial {

    /** The version of {@link #toBytes}' format, its first byte. */
    static final byte VERSION = 1;
    private static final int HEADER = 2 + 4 + 4;

    private final Rows rows;
    private final boolean single;

    /** {@code single}: the partial of one query given as a vector of shape (d,), finished as (dv,). */
    Partial(Rows rows, boolean single) {
        this.rows = rows;
        this.single = single;
    }

    /**
     * A partial from its parts, e.g. as received from another machine: {@code max[i]}, {@code sum[i]} and
     * {@code acc[i]} (all of one length dv) for each query i.
     *
     * @throws IllegalArgumentException if the arrays differ in length, a sum is negative or not finite, a row with a
     *     positive sum has max −∞ or NaN, or a row with sum 0 has a non-zero accumulator
     */
    public static Partial of(double[] max, double[] sum, double[][] acc) {
        if (max.length != sum.length || max.length != acc.length) {
            throw new IllegalArgumentException("max, sum and acc must have one entry per query, got " + max.length
                    + ", " + sum.length + " and " + acc.length);
        }
        int dv = acc.length == 0 ? 0 : acc[0].length;
        Rows rows = new Rows(max.length, dv);
        for (int i = 0; i < max.length; i++) {
            if (acc[i].length != dv) {
                throw new IllegalArgumentException("acc row " + i + " has " + acc[i].length + " values, row 0 has " + dv);
            }
            set(rows, i, max[i], sum[i], acc[i]);
        }
        return new Partial(rows, false);
    }

    private static void set(Rows rows, int i, double max, double sum, double[] acc) {
        if (!(sum >= 0) || Double.isInfinite(sum)) {
            throw new IllegalArgumentException("sum " + i + " must be finite and >= 0, got " + sum);
        }
        if (sum > 0 && !(max > Double.NEGATIVE_INFINITY)) {
            throw new IllegalArgumentException("max " + i + " must be finite when its sum is positive, got " + max);
        }
        for (double a : acc) {
            if (sum == 0 && a != 0) {
                throw new IllegalArgumentException("acc row " + i + " must be 0 when its sum is 0");
            }
        }
        rows.set(i, sum == 0 ? Double.NEGATIVE_INFINITY : max, sum, acc);
    }

    /** The partial of no keys for n queries and values of dimension dv: the identity of {@link #merge}. */
    public static Partial empty(int n, int dv) {
        if (n < 0 || dv < 0) {
            throw new IllegalArgumentException("n and dv must be >= 0, got " + n + " and " + dv);
        }
        return new Partial(new Rows(n, dv), false);
    }

    /** The number of queries. */
    public int queries() {
        return rows.queries();
    }

    /** The dimension of the values. */
    public int valueDim() {
        return rows.valueDim();
    }

    /** Query i's largest score, −∞ if it saw no key. */
    public double max(int i) {
        return rows.max(i);
    }

    /** Query i's {@code Σ exp(sⱼ − max)}, 0 if it saw no key. */
    public double sum(int i) {
        return rows.sum(i);
    }

    /** A copy of query i's unnormalised output {@code Σ exp(sⱼ − max)·vⱼ}. */
    public double[] acc(int i) {
        return rows.acc(i);
    }

    /**
     * The partial of both shards of keys together; finished as (dv,) if both are partials of one query of shape (d,).
     *
     * @throws IllegalArgumentException if the two differ in the number of queries or in dv
     */
    public Partial merge(Partial other) {
        if (other.queries() != queries() || other.valueDim() != valueDim()) {
            throw new IllegalArgumentException("cannot merge a partial of " + other.queries() + " queries × dv "
                    + other.valueDim() + " into one of " + queries() + " × " + valueDim());
        }
        Rows merged = new Rows(queries(), valueDim());
        for (int i = 0; i < queries(); i++) {
            merged.merge(i, rows, i);
            merged.merge(i, other.rows, i);
        }
        return new Partial(merged, single && other.single);
    }

    /**
     * The finished output in a new tensor owned by {@code arena}: n × dv, or (dv,) for the partial of a single query
     * given as a vector of shape (d,), as {@link Attention#pool} returns it.
     */
    public Tensor output(Arena arena) {
        Tensor out = single ? Tensor.allocate(arena, valueDim()) : Tensor.allocate(arena, queries(), valueDim());
        output(out);
        return out;
    }

    /**
     * Writes the finished output, {@code acc / sum} rounded to float (0 for a query that saw no key), into
     * {@code out}, of shape n × dv (or (dv,) for one query).
     *
     * @throws IllegalArgumentException if out has another shape
     */
    public void output(Tensor out) {
        Checks.alive("output", out);
        if (out.rows() != queries() || out.cols() != valueDim()) {
            throw new IllegalArgumentException("output has shape " + out.shapeString() + ", expected (" + queries()
                    + ", " + valueDim() + ")");
        }
        Tensor o = out.asMatrix();
        float[] row = new float[valueDim()];
        for (int i = 0; i < queries(); i++) {
            rows.finish(i, row);
            o.copyRowFrom(i, row);
        }
    }

    /** Query i's log-sum-exp of the scores, {@code max + log(sum)}, or −∞ if it saw no key. */
    public double logSumExp(int i) {
        return rows.logSumExp(i);
    }

    /**
     * This partial in a compact binary form, read back by {@link #fromBytes}: byte 0 the format's version (1),
     * byte 1 flags (bit 0: the partial of a single query of shape (d,)), then n and dv as big-endian ints, then per
     * query its max, its sum and its dv acc values as big-endian doubles: {@code 10 + 8·n·(dv + 2)} bytes.
     *
     * @throws IllegalStateException if that is more than an array holds
     */
    public byte[] toBytes() {
        long length = HEADER + 8L * queries() * (valueDim() + 2L);
        if (length > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("a partial of " + queries() + " × " + valueDim() + " takes " + length
                    + " bytes, more than an array holds");
        }
        ByteBuffer b = ByteBuffer.allocate((int) length);
        b.put(VERSION).put((byte) (single ? 1 : 0)).putInt(queries()).putInt(valueDim());
        for (int i = 0; i < queries(); i++) {
            b.putDouble(max(i)).putDouble(sum(i));
            for (double a : acc(i)) {
                b.putDouble(a);
            }
        }
        return b.array();
    }

    /**
     * The partial that {@link #toBytes} wrote.
     *
     * @throws IllegalArgumentException if the version is not 1, the flags are unknown, the length is not the one n
     *     and dv call for, or a value breaks the rules of {@link #of}; naming what is wrong
     */
    public static Partial fromBytes(byte[] bytes) {
        if (bytes.length < HEADER) {
            throw new IllegalArgumentException("a partial's bytes start with a " + HEADER + "-byte header, got "
                    + bytes.length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(bytes);
        byte version = b.get();
        if (version != VERSION) {
            throw new IllegalArgumentException("a partial's bytes have format version " + version + ", this qkv reads "
                    + "version " + VERSION);
        }
        byte flags = b.get();
        if ((flags & ~1) != 0) {
            throw new IllegalArgumentException("a partial's bytes have unknown flags " + flags);
        }
        int n = b.getInt();
        int dv = b.getInt();
        if (n < 0 || dv < 0) {
            throw new IllegalArgumentException("a partial's bytes declare n = " + n + " and dv = " + dv);
        }
        long expected = HEADER + 8L * n * (dv + 2L);
        if (bytes.length != expected) {
            throw new IllegalArgumentException("a partial of " + n + " queries × dv " + dv + " takes " + expected
                    + " bytes, got " + bytes.length);
        }
        if ((flags & 1) != 0 && n != 1) {
            throw new IllegalArgumentException("a partial's bytes mark a single query but hold " + n);
        }
        Rows rows = new Rows(n, dv);
        double[] acc = new double[dv];
        try {
            for (int i = 0; i < n; i++) {
                double max = b.getDouble();
                double sum = b.getDouble();
                for (int c = 0; c < dv; c++) {
                    acc[c] = b.getDouble();
                }
                set(rows, i, max, sum, acc);
            }
        } catch (BufferUnderflowException e) {
            throw new IllegalArgumentException("a partial's bytes end early", e);
        }
        return new Partial(rows, (flags & 1) != 0);
    }
}
