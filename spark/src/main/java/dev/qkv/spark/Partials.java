package dev.qkv.spark;

import dev.qkv.Partial;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The one place qkv-spark touches {@link Partial}'s representation: its wire form between JVMs and its parts.
 *
 * <p>Until the library has a binary form of its own ({@code Partial.toBytes}/{@code fromBytes}), this class writes
 * one: a version byte, n and dv as little-endian ints, then n maxima, n sums and n·dv accumulators as little-endian
 * floats. Only this class changes when the library's form lands.
 */
final class Partials {

    static final byte VERSION = 1;
    private static final int HEADER = 1 + 2 * Integer.BYTES;

    private Partials() {}

    /** The partial's wire form. */
    static byte[] toBytes(Partial p) {
        int n = p.queries();
        int dv = p.valueDim();
        ByteBuffer out = ByteBuffer.allocate(size(n, dv)).order(ByteOrder.LITTLE_ENDIAN);
        out.put(VERSION).putInt(n).putInt(dv);
        for (int i = 0; i < n; i++) {
            out.putFloat(p.max(i));
        }
        for (int i = 0; i < n; i++) {
            out.putFloat(p.sum(i));
        }
        for (int i = 0; i < n; i++) {
            for (float a : p.acc(i)) {
                out.putFloat(a);
            }
        }
        return out.array();
    }

    /**
     * The partial {@link #toBytes} wrote.
     *
     * @throws IllegalArgumentException if the version byte is not this one's, the length does not match the shape
     *     the bytes give, or the parts are not a partial's ({@link Partial#of})
     */
    static Partial fromBytes(byte[] bytes) {
        if (bytes.length < HEADER) {
            throw new IllegalArgumentException("a partial needs at least " + HEADER + " bytes, got " + bytes.length);
        }
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        byte version = in.get();
        if (version != VERSION) {
            throw new IllegalArgumentException("partial of version " + version + ", this reads version " + VERSION);
        }
        int n = in.getInt();
        int dv = in.getInt();
        if (n < 0 || dv < 0 || size(n, dv) != bytes.length) {
            throw new IllegalArgumentException("a partial of " + n + " queries × dv " + dv + " cannot be "
                    + bytes.length + " bytes long");
        }
        float[] max = new float[n];
        float[] sum = new float[n];
        float[][] acc = new float[n][dv];
        for (int i = 0; i < n; i++) {
            max[i] = in.getFloat();
        }
        for (int i = 0; i < n; i++) {
            sum[i] = in.getFloat();
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < dv; j++) {
                acc[i][j] = in.getFloat();
            }
        }
        return Partial.of(max, sum, acc);
    }

    private static int size(long n, long dv) {
        long size = HEADER + Float.BYTES * (2 * n + n * dv);
        return size > Integer.MAX_VALUE - 8 ? -1 : (int) size;
    }
}
