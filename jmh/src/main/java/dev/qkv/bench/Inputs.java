package dev.qkv.bench;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Benchmark inputs: floats drawn uniformly from [−1, 1) with a fixed seed, so every fork, every kernel and
 * every peer sees the same numbers (uniform rather than Gaussian because a million-row tensor fills several
 * times faster). Queries are scaled by {@link #QUERY_SCALE} so that their scaled-dot scores against such
 * keys have a standard deviation of about 3, as in a trained model's attention: the weights then
 * concentrate on a few keys, and an engine that got the scale or the softmax wrong gives a visibly
 * different output, which {@link OnnxAttention#checkAgainstQkv()} relies on.
 */
final class Inputs {

    /** The queries' factor: scores qᵀk/√d of uniform rows have standard deviation QUERY_SCALE / 3. */
    static final float QUERY_SCALE = 9f;

    private Inputs() {}

    /** Queries: a rows × cols tensor of uniform floats times {@link #QUERY_SCALE}. */
    static Tensor queries(Arena arena, int rows, int cols, long seed) {
        Tensor t = Tensor.allocate(arena, rows, cols);
        fill(t.segment(), (long) rows * cols, seed, QUERY_SCALE);
        return t;
    }

    /** One query of {@code length} floats, as {@link #queries}. */
    static Tensor query(Arena arena, int length, long seed) {
        Tensor t = Tensor.allocate(arena, length);
        fill(t.segment(), length, seed, QUERY_SCALE);
        return t;
    }

    /** A rows × cols tensor owned by {@code arena}. */
    static Tensor uniform(Arena arena, int rows, int cols, long seed) {
        Tensor t = Tensor.allocate(arena, rows, cols);
        fill(t.segment(), (long) rows * cols, seed, 1f);
        return t;
    }

    /** A rank-1 tensor of {@code length} floats owned by {@code arena}. */
    static Tensor uniform(Arena arena, int length, long seed) {
        Tensor t = Tensor.allocate(arena, length);
        fill(t.segment(), length, seed, 1f);
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

    /** Writes {@code count} uniform floats times {@code scale} at the start of {@code segment}. */
    static void fill(MemorySegment segment, long count, long seed, float scale) {
        SplittableRandom random = new SplittableRandom(seed);
        for (long i = 0; i < count; i++) {
            segment.set(ValueLayout.JAVA_FLOAT_UNALIGNED, 4 * i, scale * next(random));
        }
    }

    private static float next(SplittableRandom random) {
        return (float) (2 * random.nextDouble() - 1);
    }
}
