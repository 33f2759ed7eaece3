package dev.qkv.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.NeedsVectorModule;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The exp inside {@link VectorKernels#expAndSum} (with shift 0 it is e^x of every element) over its whole
 * domain [−∞, 0]: within {@value #MAX_ULPS} ulp of the exact e^x, subnormal results included, and exact at
 * the points softmax depends on. An exhaustive sweep of every float in [−105, −0] measured 0.749 ulp at
 * most on 256-bit vectors (0.500 for subnormal results); the bound leaves room for other stubs. At this JVM's
 * width ({@code -Dqkv.vectorBits} picks another for a whole JVM).
 */
@NeedsVectorModule
class VectorKernelsExpTest {

    static final double MAX_ULPS = 1.0;

    /** Lowest x whose e^x does not round to 0: below ln(2⁻¹⁵⁰) ≈ −103.97 the result must be 0. */
    private static final float LOWEST = (float) (-150 * Math.log(2));

    @Test
    void expIsWithinOneUlpOnADenseGrid() {
        int n = 1 << 19;
        float[] x = new float[n + 1];
        for (int i = 0; i <= n; i++) {
            x[i] = -105f * i / n;
        }
        assertWithinBound(x);
    }

    @Test
    void expIsWithinOneUlpOnRandomFloats() {
        SplittableRandom random = new SplittableRandom(7);
        float[] x = new float[1 << 19];
        int lowestBits = Float.floatToRawIntBits(-105f);
        for (int i = 0; i < x.length; i++) {
            // Uniform over the bit patterns of [−105, −0]: as many tiny |x| as large ones.
            x[i] = Float.intBitsToFloat(random.nextInt(Integer.MIN_VALUE, lowestBits + 1));
        }
        assertWithinBound(x);
    }

    @Test
    void expOfSubnormalResultsIsWithinOneUlp() {
        float[] x = new float[1 << 16];
        for (int i = 0; i < x.length; i++) {
            x[i] = -87.33f - (103.98f - 87.33f) * i / (x.length - 1);
        }
        assertWithinBound(x);
    }

    @Test
    void expIsExactAtSpecialPoints() {
        float[] x = {0f, -0f, Float.NEGATIVE_INFINITY, Float.NaN, -Float.MAX_VALUE, -1e30f, -104f, -103.98f,
            -Float.MIN_VALUE, -0x1p-30f};
        float[] y = x.clone();
        VectorKernels.INSTANCE.expAndSum(y, 0, y.length, 0f);
        assertEquals(1f, y[0], "e^0");
        assertEquals(1f, y[1], "e^-0");
        assertEquals(0f, y[2], "e^-inf");
        assertTrue(Float.isNaN(y[3]), "e^NaN");
        assertEquals(0f, y[4], "e^-MAX_VALUE");
        assertEquals(0f, y[5], "e^-1e30");
        assertEquals(0f, y[6], "e^-104");
        assertEquals(0f, y[7], "e^-103.98");
        assertEquals(1f, y[8], "e^-MIN_VALUE");
        assertEquals(1f, y[9], "e^-2^-30");
    }

    private static void assertWithinBound(float[] x) {
        float[] y = x.clone();
        VectorKernels.INSTANCE.expAndSum(y, 0, y.length, 0f);
        double worst = 0;
        float worstX = 0;
        for (int i = 0; i < x.length; i++) {
            double exact = Math.exp(x[i]);
            double ulps = Math.abs(y[i] - exact) / ulp(exact);
            if (ulps > worst) {
                worst = ulps;
                worstX = x[i];
            }
            if (x[i] < LOWEST) {
                assertEquals(0f, y[i], "e^" + x[i] + " is below half the least subnormal");
            }
        }
        assertTrue(worst <= MAX_ULPS, "e^" + worstX + " is " + worst + " ulp off (" + VectorKernels.INSTANCE.bits() + " bits)");
    }

    /** The spacing of the floats in the binade of {@code exact} > 0; 2⁻¹⁴⁹ below the normal range. */
    private static double ulp(double exact) {
        return Math.scalb(1.0, Math.max(Math.getExponent(exact) - 23, -149));
    }
}
