package dev.qkv.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.IntStream;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

class FlashTilesTest {

    @Test
    void tilesMatchTheScalarPool() {
        Random random = new Random(7);
        for (int[] shape : new int[][] {{50, 300, 37, 19}, {7, 64, 128, 128}, {200, 20000, 16, 64}, {13, 1, 3, 1}}) {
            int n = shape[0], m = shape[1], d = shape[2], dv = shape[3];
            try (Arena arena = Arena.ofConfined()) {
                Tensor q = random(arena, n, d, random);
                Tensor k = random(arena, m, d, random);
                Tensor v = random(arena, m, dv, random);
                int[] ends = IntStream.range(0, n).map(i -> i % 3 == 0 ? m : random.nextInt(m + 1)).toArray();
                PartialRows out = new PartialRows(n, dv);
                float factor = (float) (1 / Math.sqrt(d));
                TilePooling.pool(factor, q, k, v, ends, out, Pooling.Parallel.SERIAL);
                RowState state = new RowState(dv);
                float[] expected = new float[dv];
                for (int i = 0; i < n; i++) {
                    state.reset();
                    ScalarKernels.INSTANCE.pool(Score.dot(factor), q, i, k, v, 0, ends[i], state);
                    state.finish(expected);
                    float[] actual = new float[dv];
                    for (int c = 0; c < dv; c++) {
                        actual[c] = out.sum(i) == 0 ? 0 : out.acc(i)[c] / out.sum(i);
                    }
                    for (int c = 0; c < dv; c++) {
                        assertTrue(Math.abs(expected[c] - actual[c]) <= 1e-5f,
                                "row " + i + " col " + c + ": " + expected[c] + " vs " + actual[c] + " " + shape[0]);
                    }
                    assertTrue(Math.abs(state.logSumExp() - out.logSumExp(i)) <= 1e-4f * Math.max(1, Math.abs(state.logSumExp()))
                            || state.logSumExp() == out.logSumExp(i), "lse row " + i);
                }
            }
        }
    }

    private static Tensor random(Arena arena, int rows, int cols, Random random) {
        Tensor t = Tensor.allocate(arena, rows, cols);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t.set(i, j, (float) random.nextGaussian());
            }
        }
        return t;
    }
}
