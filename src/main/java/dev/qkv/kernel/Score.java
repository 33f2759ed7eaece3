package dev.qkv.kernel;

/**
 * How a kernel turns a query and a key into a score: {@code factor · qᵀk} for {@link Kind#DOT}, or
 * {@code −factor · ‖q − k‖²} for {@link Kind#NEGATIVE_SQUARED_DISTANCE}. The public scorings of
 * {@code dev.qkv.Scoring} resolve to one of these once the dimension d is known.
 */
public record Score(Kind kind, float factor) {

    /** The two shapes of score a kernel computes. */
    public enum Kind { DOT, NEGATIVE_SQUARED_DISTANCE }

    public Score {
        if (kind == null) {
            throw new NullPointerException("kind");
        }
        if (!Float.isFinite(factor)) {
            throw new IllegalArgumentException("score factor must be finite, got " + factor);
        }
    }

    /** {@code factor · qᵀk}. */
    public static Score dot(float factor) {
        return new Score(Kind.DOT, factor);
    }

    /** {@code −factor · ‖q − k‖²}. */
    public static Score negativeSquaredDistance(float factor) {
        return new Score(Kind.NEGATIVE_SQUARED_DISTANCE, factor);
    }
}
