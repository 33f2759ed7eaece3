package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qkv.TestKernels;
import dev.qkv.io.Npy;
import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code qkv pool} on {@code <f2} keys and values: they are memory-mapped as float16 and pooled by the kernels that
 * widen them, on one query over shards of keys and on many queries (tiles), two threads.
 */
class PoolHalfPrecisionTest {

    private static final double U = 0x1p-24;

    @TempDir
    Path dir;

    /**
     * The output is within the float32 bound of the float64 pooling of the float16 numbers themselves (the rounded
     * inputs are the exact ones, and the arithmetic is float32's): the bound {@code PoolCommandTest} derives, max|v|
     * times 2·δs + (m + 4)·u, with δs the largest rounding error of a score, (d + 1)·u·scale·Σₜ|qₜkₜ|.
     */
    @ParameterizedTest
    @CsvSource({"300, 5000, scalar", "300, 5000, vector", "1, 20000, scalar", "1, 20000, vector"})
    void float16KeysAndValuesPoolLikeFloat64OnTheirValues(int n, int m, String kernel) throws IOException {
        TestKernels.assumeAvailable(kernel);
        Path q = dir.resolve("q.npy");
        Path k = dir.resolve("k16.npy");
        Path v = dir.resolve("v16.npy");
        Path out = dir.resolve("out.npy");
        int d = 64;
        int dv = 16;
        double scale = 1 / Math.sqrt(d);
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom random = new SplittableRandom(n + m);
            Tensor qs = random(arena, random, n, d);
            Tensor ks = random(arena, random, m, d).convertTo(arena, ElementType.F16);
            Tensor vs = random(arena, random, m, dv).convertTo(arena, ElementType.F16);
            Npy.write(q, qs);
            Npy.write(k, ks);
            Npy.write(v, vs);
            StringWriter err = new StringWriter();
            int status = Main.run(new String[] {"pool", "--queries", q.toString(), "--keys", k.toString(), "--values",
                v.toString(), "--out", out.toString(), "--threads", "2", "--kernel", kernel},
                    new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
            assertEquals(0, status, err.toString());
            assertEquals(ElementType.F16, Npy.readTensor(k, arena).elementType(), "<f2 is read as float16");
            double maxV = 0;
            for (float x : vs.toFlatArray()) {
                maxV = Math.max(maxV, Math.abs(x));
            }
            double[] scoreError = new double[1];
            double[][] expected = reference(qs, ks, vs, scale, scoreError);
            double bound = maxV * (2 * scoreError[0] + (m + 4) * U);
            Tensor got = Npy.readTensor(out, arena);
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < dv; j++) {
                    assertEquals(expected[i][j], got.get(i, j), bound, "[" + i + ", " + j + "]");
                }
            }
        }
    }

    /** The float64 pooling of the given numbers; {@code scoreError[0]} gets the largest score rounding bound. */
    private static double[][] reference(Tensor q, Tensor k, Tensor v, double scale, double[] scoreError) {
        double[][] out = new double[q.rows()][v.cols()];
        double[] scores = new double[k.rows()];
        float[] kf = k.toFlatArray();
        float[] vf = v.toFlatArray();
        int d = k.cols();
        for (int i = 0; i < q.rows(); i++) {
            float[] qi = q.rowToArray(i);
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < k.rows(); j++) {
                double s = 0;
                double magnitude = 0;
                for (int t = 0; t < d; t++) {
                    double p = (double) qi[t] * kf[j * d + t];
                    s += p;
                    magnitude += Math.abs(p);
                }
                scoreError[0] = Math.max(scoreError[0], (d + 1) * U * magnitude * scale);
                scores[j] = s * scale;
                max = Math.max(max, scores[j]);
            }
            double sum = 0;
            for (int j = 0; j < k.rows(); j++) {
                scores[j] = Math.exp(scores[j] - max);
                sum += scores[j];
            }
            for (int j = 0; j < k.rows(); j++) {
                for (int t = 0; t < v.cols(); t++) {
                    out[i][t] += scores[j] / sum * vf[j * v.cols() + t];
                }
            }
        }
        return out;
    }

    private static Tensor random(Arena arena, SplittableRandom random, int rows, int cols) {
        float[] values = new float[rows * cols];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return Tensor.of(arena, rows, cols, values);
    }
}
