package dev.qkv;

/**
 * The rounding-error model the properties state their bounds in, after Higham, <i>Accuracy and Stability of
 * Numerical Algorithms</i> (2nd ed., 2002), §2.2 and §3.1.
 *
 * <p>Every float operation the kernels do is {@code fl(x ∘ y) = (x ∘ y)(1 + δ)} with {@code |δ| ≤ u} while the result
 * is in the normal range; k such factors, each {@code (1 + δ)} or {@code 1/(1 + δ)}, multiply to {@code 1 + θ} with
 * {@code |θ| ≤ γₖ = k·u/(1 − k·u)} (Lemma 3.1), and {@code (1 + γⱼ)(1 + γₖ) ≤ 1 + γⱼ₊ₖ}. A sum of terms in any order
 * (left to right, in lanes, as a tree) puts at most one rounding per addition on each term: with L terms, at most
 * L − 1.
 */
final class ErrorBounds {

    /** The unit roundoff of float, 2⁻²⁴. */
    static final double U = 0x1p-24;

    /** The unit roundoff of double, 2⁻⁵³, for the reference the properties compute in double. */
    static final double U64 = 0x1p-53;

    /**
     * How far a kernel's exp may be from the true one, relatively: one float ulp, 2u. The scalar kernel rounds
     * {@link Math#exp} (within one double ulp, so 2⁻⁵² relative) to float (u more): u + 2⁻⁵² &lt; 2u. A vector exp
     * within one float ulp meets the same bound.
     */
    static final double EXP_ERROR = 2 * U;

    /** How far {@link Math#exp} may be from the true exp, relatively: one double ulp. */
    static final double EXP_ERROR_64 = 0x1p-52;

    /**
     * The absolute error allowed per rounding whose result falls below the normal range, where the relative model
     * fails: a float result below 2⁻¹²⁶ is within 2⁻¹⁵⁰ of the exact one; 2⁻¹²⁶ also admits kernels that flush
     * such results to zero.
     */
    static final double TINY = 0x1p-126;

    private ErrorBounds() {}

    /** γₖ for float, {@code k·u/(1 − k·u)}. */
    static double gamma(int k) {
        return gamma(k, U);
    }

    /** γₖ for unit roundoff {@code u}. */
    static double gamma(int k, double u) {
        double ku = k * u;
        if (ku >= 1) {
            throw new IllegalArgumentException("γ" + k + " is not defined for u = " + u);
        }
        return ku / (1 - ku);
    }
}
