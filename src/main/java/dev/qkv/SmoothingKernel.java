package dev.qkv;

/**
 * A kernel {@code K(u)} of Nadaraya–Watson regression ({@link KernelRegression}), evaluated at the scaled
 * distance {@code u = ‖q − k‖ / σ ≥ 0}: the four of d2l's "Attention Pooling by Similarity".
 */
public enum SmoothingKernel {

    /** {@code K(u) = exp(−u²/2)}: every key gets some weight, nearer keys exponentially more. */
    GAUSSIAN("Gaussian") {
        @Override
        public double at(double u) {
            return Math.exp(-u * u / 2);
        }
    },

    /** {@code K(u) = 1} if {@code |u| < 1}, else 0: the plain average of the keys within σ. */
    BOXCAR("Boxcar") {
        @Override
        public double at(double u) {
            return Math.abs(u) < 1 ? 1 : 0;
        }
    },

    /** {@code K(u) = 1}: every key weighs the same, so pooling gives the average of all values. */
    CONSTANT("Constant") {
        @Override
        public double at(double u) {
            return 1;
        }
    },

    /** {@code K(u) = max(1 − |u|, 0)}: weights falling linearly to 0 at distance σ. */
    EPANECHIKOV("Epanechikov") {
        @Override
        public double at(double u) {
            return Math.max(1 - Math.abs(u), 0);
        }
    };

    private final String displayName;

    SmoothingKernel(String displayName) {
        this.displayName = displayName;
    }

    /** {@code K(u)}, in [0, 1]. */
    public abstract double at(double u);

    /** The name d2l gives it: {@code Gaussian}, {@code Boxcar}, {@code Constant}, {@code Epanechikov}. */
    public String displayName() {
        return displayName;
    }
}
