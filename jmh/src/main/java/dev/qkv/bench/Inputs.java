package dev.qkv.bench;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Benchmark inputs: floats drawn uniformly from [−1, 1) with a fixed seed, so every fork and every kernel
 * sees the same numbers. Uniform rather than Gaussian because a million-row tensor fills several times
 * faster, and the scaled-dot scores of such rows still spread over a few units, as real ones do.
 */
final class Inputs {

    private Inputs() {}

    /** A rows × cols tensor owned by {@code arena}. */
    static Tensor uniform(Arena arena, int rows, int cols, long seed) {
        Tensor t = Tensor.allocate(arena, rows, cols);
        fill(t.segment(), (long) rows * cols, seed);
        return t;
    }

    /** A rank-1 tensor of {@code length} floats owned by {@code arena}. */
    static Tensor uniform(Arena arena, int length, long seed) {
        Tensor t = Tensor.allocate(arena, length);
        fill(t.segment(), length, seed);
        return t;
    }

    /** An array of {@code length} floats. */
    static float[] uniform(int length, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] x = new float[length];
        for (int i = 0; i < length; i++) {
            x[i] = next(random);
        }
        return x;
    }

    /** Writes {@code count} floats at the start of {@code segment}. */
    static void fill(MemorySegment segment, long count, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (long i = 0; i < count; i++) {
            segment.set(ValueLayout.JAVA_FLOAT_UNALIGNED, 4 * i, next(random));
        }
    }

    private static float next(SplittableRandom random) {
        return (float) (2 * random.nextDouble() - 1);
    }
}
