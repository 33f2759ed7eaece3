package dev.qkv;

import dev.qkv.kernel.Score;

/**
 * The scoring function {@code a(q, k)} of attention pooling:
 *
 * <ul>
 *   <li>{@link #dot()}: {@code qᵀk};
 *   <li>{@link #scaledDot()}: {@code qᵀk / √d}, the Transformer's, and the default;
 *   <li>{@link #gaussian(double)}: {@code −‖q − k‖² / (2σ²)}, the Gaussian kernel of Nadaraya–Watson
 *       regression.
 * </ul>
 *
 * {@link #withScale(double)} replaces a scoring's own factor ({@code 1}, {@code 1/√d} or {@code 1/(2σ²)})
 * by an explicit one. Immutable.
 */
public final class Scoring {

    private enum Kind { DOT, SCALED_DOT, GAUSSIAN }

    private final Kind kind;
    private final double sigma;
    private final Double scale;

    private Scoring(Kind kind, double sigma, Double scale) {
        this.kind = kind;
        this.sigma = sigma;
        this.scale = scale;
    }

    /** {@code a(q, k) = qᵀk}. */
    public static Scoring dot() {
        return new Scoring(Kind.DOT, 0, null);
    }

    /** {@code a(q, k) = qᵀk / √d}. */
    public static Scoring scaledDot() {
        return new Scoring(Kind.SCALED_DOT, 0, null);
    }

    /**
     * {@code a(q, k) = −‖q − k‖² / (2σ²)}.
     *
     * @throws IllegalArgumentException if sigma is not finite and positive, or so small that 1/(2σ²) does not fit
     *     in a float
     */
    public static Scoring gaussian(double sigma) {
        if (!(sigma > 0) || !Double.isFinite(sigma)) {
            throw new IllegalArgumentException("gaussian sigma must be finite and > 0, got " + sigma);
        }
        if (1 / (2 * sigma * sigma) > Float.MAX_VALUE) {
            throw new IllegalArgumentException("gaussian sigma " + sigma
                    + " is too small: 1/(2σ²) does not fit in a float");
        }
        return new Scoring(Kind.GAUSSIAN, sigma, null);
    }

    /**
     * This scoring with {@code scale} in place of its own factor: {@code scale · qᵀk} for the dot scorings,
     * {@code −scale · ‖q − k‖²} for the Gaussian.
     *
     * @throws IllegalArgumentException if scale is not finite, or not positive for the Gaussian
     */
    public Scoring withScale(double scale) {
        if (!Double.isFinite(scale) || (kind == Kind.GAUSSIAN && !(scale > 0))) {
            throw new IllegalArgumentException("scale must be finite" + (kind == Kind.GAUSSIAN ? " and > 0" : "")
                    + ", got " + scale);
        }
        if (Math.abs(scale) > Float.MAX_VALUE) {
            throw new IllegalArgumentException("scale " + scale + " does not fit in a float");
        }
        return new Scoring(kind, sigma, scale);
    }

    /** The factor applied for queries and keys of dimension {@code d}. */
    public double factor(int d) {
        if (scale != null) {
            return scale;
        }
        return switch (kind) {
            case DOT -> 1.0;
            case SCALED_DOT -> d == 0 ? 1.0 : 1.0 / Math.sqrt(d);
            case GAUSSIAN -> 1.0 / (2 * sigma * sigma);
        };
    }

    /** Whether this is the Gaussian scoring, {@code −factor · ‖q − k‖²}. */
    public boolean isGaussian() {
        return kind == Kind.GAUSSIAN;
    }

    /** σ of a Gaussian scoring whose factor is its own 1/(2σ²), else NaN: what ∂L/∂σ is taken for. */
    double ownSigma() {
        return kind == Kind.GAUSSIAN && scale == null ? sigma : Double.NaN;
    }

    /** The kernels' form of this scoring for dimension {@code d}. */
    Score resolve(int d) {
        float factor = (float) factor(d);
        return isGaussian() ? Score.negativeSquaredDistance(factor) : Score.dot(factor);
    }

    @Override
    public String toString() {
        String name = switch (kind) {
            case DOT -> "dot";
            case SCALED_DOT -> "scaledDot";
            case GAUSSIAN -> "gaussian(sigma=" + sigma + ")";
        };
        return scale == null ? name : name + ".withScale(" + scale + ")";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Scoring s && s.kind == kind && Double.compare(s.sigma, sigma) == 0
                && java.util.Objects.equals(s.scale, scale);
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(kind, sigma, scale);
    }
}
