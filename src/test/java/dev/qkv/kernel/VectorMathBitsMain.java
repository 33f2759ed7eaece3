package dev.qkv.kernel;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Prints a digest of the bits of {@link VectorMath#exp} and {@link VectorMath#sum} over fixed inputs, after
 * computing it {@code args[0]} times; run by {@link VectorMathTest} in JVMs that interpret (-Xint) or compile with
 * C2 (-XX:-TieredCompilation -Xbatch and enough repetitions), whose digests must agree.
 */
public final class VectorMathBitsMain {

    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private VectorMathBitsMain() {}

    public static void main(String[] args) {
        int repeat = Integer.parseInt(args[0]);
        float[] x = inputs();
        long digest = 0;
        for (int i = 0; i < repeat; i++) {
            digest = digest(x);
        }
        System.out.println(Long.toHexString(digest));
    }

    /** The lanes of this JVM's preferred species. */
    static int lanes() {
        return SPECIES.length();
    }

    /** {@link VectorMath#exp} of every element; the length a multiple of {@link #lanes()}. */
    static float[] exp(float[] x) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i += SPECIES.length()) {
            VectorMath.exp(FloatVector.fromArray(SPECIES, x, i)).intoArray(y, i);
        }
        return y;
    }

    /** {@link VectorMath#sum} of {@link #lanes()} floats. */
    static float sum(float[] lanes) {
        return VectorMath.sum(FloatVector.fromArray(SPECIES, lanes, 0));
    }

    /** Scores as softmax sees them: 0, −∞, tiny, around −1, down to the subnormal range, one of each bit pattern. */
    static float[] inputs() {
        int lanes = SPECIES.length();
        float[] x = new float[64 * lanes * 16];
        SplittableRandom random = new SplittableRandom(42);
        int lowest = Float.floatToRawIntBits(-105f);
        for (int i = 0; i < x.length; i++) {
            x[i] = Float.intBitsToFloat(random.nextInt(Integer.MIN_VALUE, lowest + 1));
        }
        x[0] = 0f;
        x[1] = Float.NEGATIVE_INFINITY;
        x[2] = -1e-30f;
        x[3] = -87.5f;
        return x;
    }

    /** A hash of the bits of exp of every input and of the lane sums of those results, a vector at a time. */
    static long digest(float[] x) {
        long h = 17;
        float[] lanes = new float[SPECIES.length()];
        for (int i = 0; i < x.length; i += SPECIES.length()) {
            FloatVector e = VectorMath.exp(FloatVector.fromArray(SPECIES, x, i));
            e.intoArray(lanes, 0);
            for (float f : lanes) {
                h = 31 * h + Float.floatToRawIntBits(f);
            }
            h = 31 * h + Float.floatToRawIntBits(VectorMath.sum(e.mul(1e3f).sub(7f)));
        }
        return h;
    }
}
