package dev.qkv.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * {@code exp} of every lane, for the non-positive inputs softmax gives it: x = k·ln 2 + r with
 * |r| ≤ ln 2 / 2, e^r by a polynomial of degree 6, and 2^k put together from exponent bits.
 *
 * <p>Contract, for x ≤ 0: within {@value #MAX_ULPS} ulp of the exact e^x, normal and subnormal results
 * alike; exactly 1 for ±0; exactly 0 for −∞ and wherever e^x is below half the smallest subnormal
 * (x < −103.97); NaN for NaN. Positive inputs are not supported (2^k overflows the exponent field).
 *
 * <p>Measured against {@code lanewise(VectorOperators.EXP)} (the JDK's SVML stub) in {@code qkv bench}'s
 * softmax and pool, see VectorKernels for why this one is used.
 */
final class VectorExp {

    /** The largest error of {@link #exp} against the exact e^x, in ulps of the float result. */
    static final float MAX_ULPS = 1.5f;

    /** Below this e^x < 2^-150, which rounds to 0; clamping here keeps k a small int and sends −∞ to 0. */
    private static final float LOWEST = -104f;
    private static final float LOG2_E = 1.44269504f;
    /** ln 2 split in two so k·LN2_HI + k·LN2_LO carries about 48 bits: r stays accurate for |k| ≤ 150. */
    private static final float LN2_HI = 0.693145751953125f;
    private static final float LN2_LO = 1.428606765330187e-06f;
    /**
     * 1.5·2²³: adding it to |y| < 2²² rounds y to an integer held in the low mantissa bits, so k comes
     * both as a float (subtract it again) and as an int (subtract its bits) without a rounding op.
     */
    private static final float SHIFTER = 12582912f;
    /** Added to t's bits, leaves k + 64 + 127, the biased exponent of 2^(k+64), in the low bits. */
    private static final int EXPONENT_BITS = 64 + 127 - Float.floatToRawIntBits(SHIFTER);
    private static final float TWO_TO_MINUS_64 = 0x1p-64f;

    /*
     * e^r ≈ 1 + r + r²·(C2 + C3·r + C4·r² + C5·r³ + C6·r⁴) on [−ln2/2, ln2/2]: a relative minimax fit
     * (Lawson's iteration in double over 4000 Chebyshev points) with the first two terms fixed to 1 so that
     * e^0 is exactly 1. Its approximation error is 3.1e-9 relative (0.05 ulp); the rest of the error budget
     * is float rounding in the evaluation.
     */
    private static final float C2 = 0.49999993451647695f;
    private static final float C3 = 0.16666520688957423f;
    private static final float C4 = 0.04166838737028515f;
    private static final float C5 = 0.008368709928112627f;
    private static final float C6 = 0.001381461318312481f;

    private VectorExp() {}

    /** e^x in every lane of {@code x}; see the class comment for the contract (x ≤ 0 or NaN). */
    static FloatVector exp(FloatVector x) {
        var species = x.species();
        FloatVector xc = x.max(LOWEST); // NaN stays NaN: MAX follows Math.max
        FloatVector t = xc.fma(LOG2_E, SHIFTER);
        FloatVector k = t.sub(SHIFTER);
        FloatVector r = k.fma(FloatVector.broadcast(species, -LN2_HI), xc);
        r = k.fma(FloatVector.broadcast(species, -LN2_LO), r);
        FloatVector q = r.fma(C6, C5);
        q = q.fma(r, FloatVector.broadcast(species, C4));
        q = q.fma(r, FloatVector.broadcast(species, C3));
        q = q.fma(r, FloatVector.broadcast(species, C2));
        FloatVector p = r.mul(r).fma(q, r).add(1f);
        // 2^k as 2^(k+64) · 2^-64: 2^(k+64) is a normal float for every k ≥ −150 the clamp allows, p·2^(k+64)
        // is exact, so a subnormal result is rounded once, by the last multiply.
        FloatVector twoKPlus64 = t.reinterpretAsInts().add(EXPONENT_BITS).lanewise(VectorOperators.LSHL, 23)
                .reinterpretAsFloats();
        return p.mul(twoKPlus64).mul(TWO_TO_MINUS_64);
    }
}
