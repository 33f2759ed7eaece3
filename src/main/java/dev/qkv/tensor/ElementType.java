package dev.qkv.tensor;

/**
 * How a tensor stores its elements. Arithmetic is always float32: a half-precision element is widened
 * exactly to float when read, and a float is rounded to the nearest half, ties to even, when a tensor is
 * converted ({@link Tensor#convertTo}).
 *
 * <ul>
 *   <li>{@link #F32}: IEEE 754 binary32, the type of queries, outputs, weights and every writable tensor.
 *   <li>{@link #F16}: IEEE 754 binary16 (NumPy {@code float16}, {@code <f2}): 11 significant bits, finite
 *       up to 65504, subnormals down to 2<sup>−24</sup>. For keys and values: half the bytes to read.
 *   <li>{@link #BF16}: bfloat16, the top 16 bits of a binary32: 8 significant bits, float32's range. NumPy has
 *       no such dtype; qkv keeps its bits in {@code <u2} files (see {@code Npy.readBf16}).
 * </ul>
 */
public enum ElementType {
    /** IEEE 754 binary32, Java's {@code float}. */
    F32(4),
    /** IEEE 754 binary16. */
    F16(2),
    /** bfloat16, the top half of a binary32. */
    BF16(2);

    private final int byteSize;

    ElementType(int byteSize) {
        this.byteSize = byteSize;
    }

    /** The bytes one element takes: 4 or 2. */
    public int byteSize() {
        return byteSize;
    }

    /** The name used in messages and on the command line: {@code f32}, {@code f16}, {@code bf16}. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The float32 a bfloat16 bit pattern stands for; exact, since bfloat16 is a truncated float32. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    /**
     * The bfloat16 nearest to {@code value}, ties to even, as its bit pattern. Finite values from 3.3961775e38
     * on (half-way between bfloat16's largest finite value and 2<sup>128</sup>) round to infinity;
     * a NaN stays a NaN (made quiet, so dropping the low bits cannot turn it into an infinity).
     */
    public static short floatToBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        // Round to nearest even: add just under half of the dropped unit, plus the kept lowest bit.
        bits += 0x7FFF + ((bits >>> 16) & 1);
        return (short) (bits >>> 16);
    }

    /** The float32 a binary16 bit pattern stands for; exact. */
    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /**
     * The binary16 nearest to {@code value}, ties to even, as its bit pattern ({@link Float#floatToFloat16}):
     * finite values of magnitude 65520 or more round to infinity, values below 2<sup>−25</sup> to zero.
     */
    public static short floatToF16(float value) {
        return Float.floatToFloat16(value);
    }

    /** The element of this type nearest to {@code value}, as a float: what a conversion stores, widened. */
    public float round(float value) {
        return switch (this) {
            case F32 -> value;
            case F16 -> f16ToFloat(floatToF16(value));
            case BF16 -> bf16ToFloat(floatToBf16(value));
        };
    }
}
