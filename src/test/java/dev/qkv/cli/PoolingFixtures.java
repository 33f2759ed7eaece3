package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.io.Npy;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.URISyntaxException;
import java.nio.file.Path;

/**
 * A directory of {@code .npy} inputs with float64 references of their pooling (made by the script beside them), and
 * the error bounds of float32 pooling against those references: the CLI tests' one error analysis.
 */
final class PoolingFixtures {

    static final double UNIT_ROUNDOFF = 0x1p-24;

    private final Path dir;

    private PoolingFixtures(Path dir) {
        this.dir = dir;
    }

    /** The fixtures in the directory of the test resource {@code file}, e.g. {@code "/cli/Q.npy"}. */
    static PoolingFixtures holding(String file) throws URISyntaxException {
        return new PoolingFixtures(Path.of(PoolingFixtures.class.getResource(file).toURI()).getParent());
    }

    Path resolve(String name) {
        return dir.resolve(name);
    }

    String path(String name) {
        return resolve(name).toString();
    }

    /**
     * The largest rounding error of a score {@code scale·qᵀk} in float: d products and d − 1 sums, then the
     * scaling, so at most (d + 1)·u·scale·Σₜ|qₜkₜ| (u = 2⁻²⁴), taken over every query row and key row (of every
     * batch and head too: a superset of the pairs pooled, so an upper bound).
     */
    static double scoreError(Tensor q, Tensor k, double scale) {
        double worst = 0;
        Tensor qs = q.asMatrix();
        Tensor ks = k.asMatrix();
        for (int i = 0; i < qs.rows(); i++) {
            for (int j = 0; j < ks.rows(); j++) {
                double s = 0;
                for (int t = 0; t < ks.cols(); t++) {
                    s += Math.abs(qs.get(i, t) * ks.get(j, t));
                }
                worst = Math.max(worst, (ks.cols() + 1) * UNIT_ROUNDOFF * s * scale);
            }
        }
        return worst;
    }

    /**
     * The error of one row of weights, summed: each weight's relative error is at most twice the largest
     * score error δs (it enters the numerator and, through the sum, the denominator) plus (m + 3)·u from exp,
     * the m-term sum, the division and the product; the float64 reference rounded to float32 adds one u. The
     * weights add to 1, so Σ|Δw| ≤ 2·δs + (m + 4)·u, m the keys a query sees at most (a head's). A single weight
     * is off by at most that.
     */
    double weightsError(String queries, String keys, double scale) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Npy.readTensor(resolve(queries), arena);
            Tensor k = Npy.readTensor(resolve(keys), arena);
            return 2 * scoreError(q, k, scale) + (k.rows() + 4) * UNIT_ROUNDOFF;
        }
    }

    /** An output, a convex combination of value rows, is off by at most max|v| times {@link #weightsError}. */
    double outputBound(String queries, String keys, String values, double scale) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            double maxV = 0;
            for (float x : Npy.readTensor(resolve(values), arena).toFlatArray()) {
                maxV = Math.max(maxV, Math.abs(x));
            }
            return maxV * weightsError(queries, keys, scale);
        }
    }

    /** Scaled-dot scoring's factor, 1/√d, for the queries in {@code queries}. */
    double scaledDot(String queries) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            return 1 / Math.sqrt(Npy.readTensor(resolve(queries), arena).cols());
        }
    }

    /** {@code actual} has the shape of the fixture {@code reference} and each element within {@code bound} of it. */
    void assertMatches(String reference, Path actual, double bound) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor expected = Npy.readTensor(resolve(reference), arena);
            Tensor got = Npy.readTensor(actual, arena);
            assertEquals(expected.shapeString(), got.shapeString(), reference);
            float[] e = expected.toFlatArray();
            float[] g = got.toFlatArray();
            for (int i = 0; i < e.length; i++) {
                assertTrue(Math.abs(e[i] - g[i]) <= bound,
                        reference + "[" + i + "]: expected " + e[i] + ", got " + g[i] + ", bound " + bound);
            }
        }
    }
}
