package dev.qkv;

import java.util.Arrays;

/**
 * Which keys each query may attend to. A masked key is never read: neither its key row nor its value row
 * is loaded, so a NaN there cannot reach the output. A query left with no key gets weights 0, output 0 and
 * log-sum-exp −∞ (the convention of PyTorch's scaled-dot-product attention and FlashAttention; d2l instead
 * fills masked scores with −10⁶, which gives such a query the plain average of the values).
 *
 * <ul>
 *   <li>{@link #none()}: every key;
 *   <li>{@link #validLengths(int...)}: d2l's {@code valid_lens}, query i sees keys {@code 0 ≤ j < lengths[i]};
 *       a length ≥ m keeps every key.
 * </ul>
 *
 * Immutable; the arrays given are copied.
 */
public final class Mask {

    private static final Mask NONE = new Mask(null);

    private final int[] validLengths;

    private Mask(int[] validLengths) {
        this.validLengths = validLengths;
    }

    /** Every query sees every key. */
    public static Mask none() {
        return NONE;
    }

    /**
     * Query {@code i} sees keys {@code 0 ≤ j < lengths[i]}; one length per query.
     *
     * @throws IllegalArgumentException if a length is negative, naming its index
     */
    public static Mask validLengths(int... lengths) {
        for (int i = 0; i < lengths.length; i++) {
            if (lengths[i] < 0) {
                throw new IllegalArgumentException("valid length " + i + " is negative: " + lengths[i]);
            }
        }
        return new Mask(lengths.clone());
    }

    /** Whether every query sees every key. */
    public boolean isNone() {
        return validLengths == null;
    }

    /** Checks that this mask fits n queries and m keys. */
    void check(int n, int m) {
        if (validLengths != null && validLengths.length != n) {
            throw new IllegalArgumentException("valid lengths has " + validLengths.length + " entries for "
                    + n + " queries");
        }
    }

    /** How many leading keys query {@code i} sees, out of {@code m}. */
    int end(int i, int m) {
        return validLengths == null ? m : Math.min(validLengths[i], m);
    }

    @Override
    public String toString() {
        return validLengths == null ? "Mask.none()" : "Mask.validLengths(" + Arrays.toString(validLengths) + ")";
    }
}
