package dev.qkv.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.qkv.TestKernels;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link Kernels#streamScores} gives the bits of {@link Kernels#scores}, so the row path may take either by the size
 * of K and V without the result depending on it: at dimensions that take each path of the vector kernels (full
 * vectors only, a masked tail, d below one vector, several vectors and a tail), key counts that are and are not
 * multiples of four (the four-key kernel scores its last four keys again), a range that starts past key 0, and keys
 * that are a view of the first d columns of a wider matrix.
 *
 * <p>Compared from the first call: both sum a key's lanes in {@code VectorKernels.laneSum}'s fixed order, the same
 * floats in the interpreter, C1 and C2. (With {@code reduceLanes(ADD)} the order was C2's choice: the Java fallback
 * summed in another, and C2 compiled the four-key and the one-key kernel in two orders, one ulp apart, for good, at 128
 * bits and d = 3; this test then had to wait thousands of calls for C2, and failed on that.)
 */
class StreamScoresTest {

    static List<Kernels> kernels() {
        return TestKernels.all();
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void streamScoresHasTheBitsOfScores(Kernels kernels) {
        SplittableRandom random = new SplittableRandom(29);
        int[] dims = {1, 3, 7, 15, 16, 17, 33, 64, 100, 128, 129, 200};
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
                        float[] expected = new float[m];
                        float[] actual = new float[m];
                        kernels.scores(score, query, 0, keys, 2, m + 2, expected);
                        kernels.streamScores(score, query, 0, keys, 2, m + 2, actual);
                        assertArrayEquals(expected, actual, "streamScores, " + score.kind() + ", d = " + d + ", m = "
                                + m + ", " + kernels.name());
                    }
                }
            }
        }
    }
}
