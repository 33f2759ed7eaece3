package dev.qkv.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * {@code exp} and lane sums whose bits do not depend on the JIT. The Vector API runs a method in Java code
 * (one lane at a time) until C2 compiles it to SIMD instructions, and the two round differently for
 * {@code lanewise(EXP)} ({@link StrictMath#exp} per lane against the SVML stub) and {@code reduceLanes(ADD)} (lane
 * order against a tree): two threads at different stages of compilation then give different bits, and pooling is
 * no longer bitwise the same for any thread count. Here every step is a lane-wise add, multiply, fused
 * multiply-add ({@link Math#fma} per lane in Java code, {@code vfmadd} in C2: both exact before one rounding),
 * compare, blend, integer op or fixed slice, so each lane gets the same bits in every tier.
 *
 * <p>Works on vectors of any species; callers pass vectors of a {@code static final} species so C2 compiles it.
 */
final class VectorMath {

    /** Below this, e^x (under 2⁻¹⁵⁰) rounds to 0. */
    private static final float LOWEST = -104f;
    private static final float LOG2E = 1.44269504088896341f;
    /** ln 2 split as Cephes' expf does: the high part has 9 significant bits, so n·LN2_HI is exact for |n| < 2¹⁵. */
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** 1.5·2²³: x·log2(e) + SHIFTER rounds to the nearest integer n, held in the low bits of the float. */
    private static final float SHIFTER = 0x1.8p23f;
    private static final int SHIFTER_BITS = Float.floatToRawIntBits(SHIFTER);
    /** The biased exponent of 2⁶⁴: 2ⁿ⁺⁶⁴ has the bits {@code (n + BIASED_64) << 23}. */
    private static final int BIASED_64 = 127 + 64;
    /** Added to the bits of t = x·log₂ e + SHIFTER (whose low bits hold n), then shifted left by 23: 2ⁿ⁺⁶⁴. */
    static final int SCALE_BIAS = BIASED_64 - SHIFTER_BITS;
    private static final float TWO_TO_MINUS_64 = 0x1p-64f;
    // Cephes expf: e^r ≈ 1 + r + r²·P(r) for |r| ≤ ln(2)/2, here in Horner form 1 + r(1 + r·P(r)), one rounding last.
    private static final float P0 = 1.9875691500e-4f;
    private static final float P1 = 1.3981999507e-3f;
    private static final float P2 = 8.3334519073e-3f;
    private static final float P3 = 4.1665795894e-2f;
    private static final float P4 = 1.6666665459e-1f;
    private static final float P5 = 5.0000001201e-1f;

    private VectorMath() {}

    /** The constants of {@link #exp}, in the order {@code VectorKernels.expRows} reads them. */
    static float[] expConstants() {
        return new float[] {LOG2E, SHIFTER, -LN2_HI, -LN2_LO, P0, P1, P2, P3, P4, P5, 1f, TWO_TO_MINUS_64, LOWEST};
    }

    /**
     * e^x in each lane, for x ≤ 0 (the online softmax takes exp of scores minus their maximum only): exactly 1 at 0,
     * exactly 0 at −∞ and below −104, NaN for NaN. Within one float ulp of e^x where the result is normal
     * (VectorMathTest measures the largest error over a sweep of [−87.3, 0]), within one subnormal step below.
     *
     * <p>x = n·ln 2 + r with n = round(x·log₂ e), |r| ≤ ln(2)/2; e^r by Cephes' polynomial in Horner form with
     * fused multiply-adds, the last one adding the 1; then × 2ⁿ as 2ⁿ⁺⁶⁴ (a normal float for every n down to
     * −151, so that product is exact) × 2⁻⁶⁴, so a subnormal result is rounded once. No clamp before: a lane below
     * −104 (n past the range, or NaN from −∞ − −∞ inside) is replaced by 0 at the end, so the steps need no
     * {@code max}, whose NaN and −0 rules cost a blend.
     */
    static FloatVector exp(FloatVector x) {
        FloatVector t = x.fma(LOG2E, SHIFTER);
        FloatVector n = t.sub(SHIFTER);
        FloatVector r = n.fma(n.broadcast(-LN2_HI), x);
        r = n.fma(n.broadcast(-LN2_LO), r);
        FloatVector p = r.fma(P0, P1);
        p = p.fma(r, r.broadcast(P2));
        p = p.fma(r, r.broadcast(P3));
        p = p.fma(r, r.broadcast(P4));
        p = p.fma(r, r.broadcast(P5));
        p = p.fma(r, r.broadcast(1f));
        FloatVector y = p.fma(r, r.broadcast(1f));
        FloatVector scale = t.reinterpretAsInts().add(SCALE_BIAS).lanewise(VectorOperators.LSHL, 23)
                .reinterpretAsFloats();
        FloatVector e = y.mul(scale).mul(TWO_TO_MINUS_64);
        return e.blend(0f, x.compare(VectorOperators.LT, LOWEST));
    }

    /**
     * The sum of the lanes in a fixed order: halves added lane-wise until one lane is left (for 16 lanes,
     * lane i + lane i+8, then +4, +2, +1). The same bits in Java code and in C2, unlike {@code reduceLanes(ADD)}.
     */
    static float sum(FloatVector v) {
        for (int half = v.length() / 2; half > 0; half /= 2) {
            v = v.add(v.slice(half));
        }
        return v.lane(0);
    }
}
