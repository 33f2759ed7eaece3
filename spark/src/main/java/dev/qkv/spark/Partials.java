package dev.qkv.spark;

import dev.qkv.Partial;

/**
 * The one place qkv-spark touches {@link Partial}'s representation: its wire form between JVMs, which is the
 * library's own ({@link Partial#toBytes}, {@link Partial#fromBytes}: a checked version byte, then doubles, so
 * merging the partials of many executors loses nothing).
 */
final class Partials {

    private Partials() {}

    /** The partial's wire form. */
    static byte[] toBytes(Partial p) {
        return p.toBytes();
    }

    /**
     * The partial {@link #toBytes} wrote.
     *
     * @throws IllegalArgumentException if the version byte is not the library's, the length does not match the shape
     *     the bytes give, or the parts are not a partial's
     */
    static Partial fromBytes(byte[] bytes) {
        return Partial.fromBytes(bytes);
    }
}
