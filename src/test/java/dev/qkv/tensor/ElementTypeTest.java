package dev.qkv.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/** Rounding float32 to float16 and bfloat16: nearest, ties to even; subnormals, overflow, NaN. */
class ElementTypeTest {

    /**
     * bfloat16 rounding against a reference written from the definition, for every bfloat16 value v: v itself,
     * the midpoint to the next value up (a tie), and the floats just either side of it. The distances are
     * exact in double: lo, x and hi are floats within a factor of two of each other.
     */
    @Test
    void bfloat16RoundsToNearestEvenAroundEveryValue() {
        for (int high = 0; high < 0x10000; high++) {
            float lo = ElementType.bf16ToFloat((short) high);
            if (!Float.isFinite(lo)) {
                continue;
            }
            int loBits = Float.floatToRawIntBits(lo);
            int mid = loBits + 0x8000;
            for (int bits : new int[] {loBits, mid - 1, mid, mid + 1}) {
                float x = Float.intBitsToFloat(bits);
                assertEquals(reference(x), Float.floatToRawIntBits(ElementType.BF16.round(x)),
                        () -> "bf16 of " + x + " (0x" + Integer.toHexString(bits) + ")");
            }
        }
    }

    /** The bits of the bfloat16 nearest x, ties to the even one, from the two candidates around x. */
    private static int reference(float x) {
        int bits = Float.floatToRawIntBits(x);
        int down = bits & 0xFFFF0000;
        int up = down + 0x10000;
        double dDown = Math.abs((double) x - Float.intBitsToFloat(down));
        double dUp = Math.abs(Float.intBitsToFloat(up) - (double) x);
        if (Float.isInfinite(Float.intBitsToFloat(up))) {
            // Past the largest finite value: IEEE 754 rounds to infinity from the midpoint on.
            dUp = Math.abs(Math.scalb(1.0, 128) - Math.abs((double) x));
        }
        if (dDown < dUp || (dDown == dUp && (down & 0x10000) == 0)) {
            return down;
        }
        return up;
    }

    @Test
    void tiesGoToTheEvenNeighbour() {
        // float16 has 10 fraction bits: the spacing at 1 is 2^-10.
        assertEquals(1f, ElementType.F16.round(1 + 0x1p-11f));
        assertEquals(1 + 0x1p-9f, ElementType.F16.round(1 + 3 * 0x1p-11f));
        assertEquals(1 + 0x1p-10f, ElementType.F16.round(1 + 0x1p-11f + 0x1p-20f));
        // bfloat16 has 7: the spacing at 1 is 2^-7.
        assertEquals(1f, ElementType.BF16.round(1 + 0x1p-8f));
        assertEquals(1 + 0x1p-6f, ElementType.BF16.round(1 + 3 * 0x1p-8f));
        assertEquals(-1f, ElementType.BF16.round(-1 - 0x1p-8f));
    }

    @Test
    void subnormalsRoundOnTheirOwnGrid() {
        // float16's smallest subnormal is 2^-24; half of it is a tie with zero, which is even.
        assertEquals(0x1p-24f, ElementType.F16.round(0x1p-24f));
        assertEquals(0f, ElementType.F16.round(0x1p-25f));
        assertEquals(0x1p-24f, ElementType.F16.round(0x1p-25f + 0x1p-40f));
        assertEquals(2 * 0x1p-24f, ElementType.F16.round(3 * 0x1p-25f));
        assertEquals(-0f, ElementType.F16.round(-0x1p-26f));
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(ElementType.F16.round(-0x1p-26f)));
        // bfloat16 keeps float32's exponent range: 2^-133 is a subnormal with bits 0x00010000.
        assertEquals(0x1p-133f, ElementType.BF16.round(0x1p-133f));
        assertEquals(0f, ElementType.BF16.round(Float.MIN_VALUE));
    }

    @Test
    void largeFiniteValuesRoundToInfinityPastTheMidpoint() {
        assertEquals(65504f, ElementType.F16.round(65519.996f));
        assertEquals(Float.POSITIVE_INFINITY, ElementType.F16.round(65520f));
        // bfloat16's midpoint between its largest finite value and 2^128 is a float: the tie goes to 2^128, even.
        assertEquals(ElementType.bf16ToFloat((short) 0x7F7F), ElementType.BF16.round(3.3961773e38f));
        assertEquals(Float.POSITIVE_INFINITY, ElementType.BF16.round(3.3961775e38f));
        assertEquals(Float.NEGATIVE_INFINITY, ElementType.BF16.round(-Float.MAX_VALUE));
    }

    @Test
    void nanStaysNanAndInfinitiesStay() {
        for (ElementType type : ElementType.values()) {
            assertTrue(Float.isNaN(type.round(Float.NaN)), type.label());
            assertTrue(Float.isNaN(type.round(Float.intBitsToFloat(0x7F800001))), type + " of a low-payload NaN");
            assertTrue(Float.isNaN(type.round(Float.intBitsToFloat(0xFF800001))), type + " of a negative NaN");
            assertEquals(Float.POSITIVE_INFINITY, type.round(Float.POSITIVE_INFINITY), type.label());
            assertEquals(Float.NEGATIVE_INFINITY, type.round(Float.NEGATIVE_INFINITY), type.label());
        }
    }

    @Test
    void conversionRefusesAFiniteValueThatWouldOverflow() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.of(arena, new float[][] {{1, 2}, {3, 70000}});
            IllegalArgumentException f16 = assertThrows(IllegalArgumentException.class,
                    () -> t.convertTo(arena, ElementType.F16));
            Tensor big = Tensor.of(arena, new int[] {1, 1, 1, 2}, new float[] {0, -Float.MAX_VALUE});
            IllegalArgumentException bf16 = assertThrows(IllegalArgumentException.class,
                    () -> big.convertTo(arena, ElementType.BF16));

            assertEquals("value 70000.0 at (1, 1) is finite but overflows f16 (65504.0 is its largest finite value)",
                    f16.getMessage());
            assertEquals("value -3.4028235E38 at (0, 0, 0, 1) is finite but overflows bf16 (3.3895314E38 is its "
                    + "largest finite value)", bf16.getMessage());
        }
    }

    @Test
    void conversionKeepsInfinitiesNansAndSignedZeros() {
        try (Arena arena = Arena.ofConfined()) {
            float[] values = {Float.POSITIVE_INFINITY, Float.NaN, -0f, 0x1p-30f, 65504f, 1 / 3f};
            Tensor t = Tensor.of(arena, values);
            for (ElementType type : ElementType.values()) {
                Tensor converted = t.convertTo(arena, type);
                float[] back = converted.toFlatArray();
                assertEquals(type, converted.elementType());
                for (int j = 0; j < values.length; j++) {
                    assertEquals(Float.floatToIntBits(type.round(values[j])), Float.floatToIntBits(back[j]),
                            type + " element " + j);
                }
                assertTrue(converted.convertTo(arena, ElementType.F32).convertTo(arena, type).contentEquals(converted),
                        "widening and narrowing again is the identity for " + type);
            }
        }
    }
}
