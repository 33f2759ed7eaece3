package dev.qkv.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.qkv.TestKernels;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link Kernels#streamScores} gives the bits of {@link Kernels#scores}, so the row path may take either by the size
 * of K and V without the result depending on it: at dimensions that take each path of the vector kernels (full
 * vectors only, a masked tail, d below one vector, several vectors and a tail), key counts that are and are not
 * multiples of four (the four-key kernel scores its last four keys again), a range that starts past key 0, and keys
 * that are a view of the first d columns of a wider matrix.
 *
 * <p>Compared once both kernels run as C2 compiled them: each new shape can send a kernel back to the interpreter (an
 * uncommon trap on a path its compiled code had not seen), where the Vector API's Java fallback sums the lanes in
 * another order, one ulp off (seen in the suite's 128-bit run, after the warm-up: d = 128, m = 4 and d = 129, m = 300,
 * three attempts in a row, for the one-key kernel only). So the two are called again until they agree, for up to
 * {@link #PATIENCE} calls each, enough for C2 to compile them again; a sum in another order never agrees.
 */
class StreamScoresTest {

    /** Calls of each kernel per shape before a difference is reported (C2 compiles a hot loop after some thousands). */
    private static final int PATIENCE = 20_000;

    static List<Kernels> kernels() {
        return TestKernels.all();
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void streamScoresHasTheBitsOfScores(Kernels kernels) {
        SplittableRandom random = new SplittableRandom(29);
        int[] dims = {1, 7, 15, 16, 17, 33, 64, 100, 128, 129, 200};
        int[] counts = {1, 3, 4, 5, 17, 300};
        try (Arena arena = Arena.ofConfined()) {
            for (int d : dims) {
                for (int m : counts) {
                    Tensor query = Tensor.allocate(arena, 1, d);
                    int padding = random.nextInt(3);
                    Tensor wide = Tensor.allocate(arena, m + 2, d + padding);
                    for (int j = 0; j < d; j++) {
                        query.set(0, j, (float) random.nextGaussian());
                    }
                    for (int i = 0; i < m + 2; i++) {
                        for (int j = 0; j < d + padding; j++) {
                            wide.set(i, j, (float) random.nextGaussian());
                        }
                    }
                    Tensor keys = wide.columns(0, d);
                    for (Score score : new Score[] {Score.dot(0.3f), Score.negativeSquaredDistance(0.7f)}) {
                        eventuallySameBits(() -> {
                            float[] s = new float[m];
                            kernels.scores(score, query, 0, keys, 2, m + 2, s);
                            return s;
                        }, () -> {
                            float[] s = new float[m];
                            kernels.streamScores(score, query, 0, keys, 2, m + 2, s);
                            return s;
                        }, "streamScores, " + score.kind() + ", d = " + d + ", m = " + m + ", " + kernels.name());
                    }
                }
            }
        }
    }

    private static void eventuallySameBits(Supplier<float[]> reference, Supplier<float[]> other, String what) {
        float[] expected = reference.get();
        float[] actual = other.get();
        for (int call = 1; call < PATIENCE && !Arrays.equals(expected, actual); call++) {
            expected = reference.get();
            actual = other.get();
        }
        assertArrayEquals(expected, actual, what + " (after " + PATIENCE + " calls of each)");
    }
}
