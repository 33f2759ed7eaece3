package dev.qkv.spark;

import dev.qkv.Partial;

/**
 * The one place qkv-spark touches {@link Partial}'s representation: its wire form between JVMs, the library's own
 * ({@link Partial#toBytes}, a version byte first, checked by {@link Partial#fromBytes}).
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
     * @throws IllegalArgumentException for a wrong version or length
     */
    static Partial fromBytes(byte[] bytes) {
        return Partial.fromBytes(bytes);
    }
}
