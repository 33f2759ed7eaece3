package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.io.Npy;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code qkv pool} over batches and heads against PyTorch's float64 {@code scaled_dot_product_attention} with
 * grouped-query heads (src/test/resources/cli/heads/make_fixtures.py), and {@code qkv heatmap} of its weights.
 */
class HeadsCommandTest {

    private static final double UNIT_ROUNDOFF = 0x1p-24;

    private static Path fixtures;

    @TempDir
    Path dir;

    @BeforeAll
    static void locateFixtures() throws URISyntaxException {
        fixtures = Path.of(HeadsCommandTest.class.getResource("/cli/heads/Q.npy").toURI()).getParent();
    }

    private record Run(int status, String err) {}

    private static Run run(List<String> args) {
        StringWriter err = new StringWriter();
        int status = Main.run(args.toArray(String[]::new), new PrintWriter(new StringWriter(), true),
                new PrintWriter(err, true));
        return new Run(status, err.toString());
    }

    private static String fixture(String name) {
        return fixtures.resolve(name).toString();
    }

    private List<String> pool(String queries, String keys, String values, String... more) {
        List<String> args = new ArrayList<>(List.of("pool", "--queries", fixture(queries), "--keys", fixture(keys),
                "--values", fixture(values), "--out", dir.resolve("out.npy").toString()));
        args.addAll(List.of(more));
        return args;
    }

    /**
     * The error bounds of PoolCommandTest, over every query row and key row of the files (a superset of the
     * (query head, key head) pairs compared, so an upper bound): a score {@code scale·qᵀk} is off by at most
     * δs = (d + 1)·u·scale·Σₜ|qₜkₜ|; a row of weights by Σ|Δw| ≤ 2·δs + (m + 4)·u (exp, the m-term sum, the
     * division, and the float64 reference rounded to float); an output by max|v| times that.
     */
    private static double weightsError(String queries) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Npy.readTensor(fixtures.resolve(queries), arena).asMatrix();
            Tensor k = Npy.readTensor(fixtures.resolve("K.npy"), arena).asMatrix();
            double scale = 1 / Math.sqrt(q.cols());
            double worst = 0;
            for (int i = 0; i < q.rows(); i++) {
                for (int j = 0; j < k.rows(); j++) {
                    double s = 0;
                    for (int t = 0; t < k.cols(); t++) {
                        s += Math.abs(q.get(i, t) * k.get(j, t));
                    }
                    worst = Math.max(worst, (k.cols() + 1) * UNIT_ROUNDOFF * s * scale);
                }
            }
            int m = Npy.readTensor(fixtures.resolve("K.npy"), arena).rows();
            return 2 * worst + (m + 4) * UNIT_ROUNDOFF;
        }
    }

    private static double outputBound(String queries) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            double maxV = 0;
            for (float x : Npy.readTensor(fixtures.resolve("V.npy"), arena).toFlatArray()) {
                maxV = Math.max(maxV, Math.abs(x));
            }
            return maxV * weightsError(queries);
        }
    }

    private static void assertMatches(String reference, Path actual, double bound) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor expected = Npy.readTensor(fixtures.resolve(reference), arena);
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

    @ParameterizedTest
    @MethodSource("dev.qkv.TestKernels#names")
    void groupedQueryHeadsPoolLikePyTorch(String kernel) throws IOException {
        Path weights = dir.resolve("w.npy");
        Path lse = dir.resolve("lse.npy");

        Run r = run(pool("Q.npy", "K.npy", "V.npy", "--weights", weights.toString(), "--lse", lse.toString(),
                "--kernel", kernel, "--threads", "3"));

        assertEquals(0, r.status(), r.err());
        assertMatches("ref_out.npy", dir.resolve("out.npy"), outputBound("Q.npy"));
        assertMatches("ref_weights.npy", weights, weightsError("Q.npy"));
        // log-sum-exp = max + log(sum): the score error δs, the sum's relative error (m + 2)·u carried through log
        // as an absolute one, and the rounding of the result and of the reference, |lse| < 16 here: 32·u.
        assertMatches("ref_lse.npy", lse, weightsError("Q.npy") / 2 + 32 * UNIT_ROUNDOFF);
    }

    @Test
    void masksPerBatchAndCausalMatchPyTorch() throws IOException {
        double bound = outputBound("Q.npy");
        Run b = run(pool("Q.npy", "K.npy", "V.npy", "--valid-lens", fixture("LB.npy")));
        assertEquals(0, b.status(), b.err());
        assertMatches("ref_lens_b.npy", dir.resolve("out.npy"), bound);
        Run bn = run(pool("Q.npy", "K.npy", "V.npy", "--valid-lens", fixture("LBN.npy"), "--threads", "2"));
        assertEquals(0, bn.status(), bn.err());
        assertMatches("ref_lens_bn.npy", dir.resolve("out.npy"), bound);
        Run causal = run(pool("QC.npy", "K.npy", "V.npy", "--causal"));
        assertEquals(0, causal.status(), causal.err());
        assertMatches("ref_causal.npy", dir.resolve("out.npy"), outputBound("QC.npy"));
        Run shared = run(pool("Q.npy", "K2.npy", "V2.npy"));
        assertEquals(0, shared.status(), shared.err());
        assertMatches("ref_shared.npy", dir.resolve("out.npy"), bound);
    }

    @Test
    void shapesThatDoNotFitAreRefusedInOneLineAndNothingIsWritten() {
        Run heads = run(pool("Q.npy", "QC.npy", "V.npy"));
        Run wrongLens = run(pool("QC.npy", "K.npy", "V.npy", "--valid-lens", fixture("LBN.npy")));

        assertEquals(Main.EXIT_BAD_INPUT, heads.status());
        assertTrue(heads.err().contains("values need the batches, heads and rows of the keys"), heads.err());
        assertEquals(Main.EXIT_BAD_INPUT, wrongLens.status());
        assertTrue(wrongLens.err().contains("valid lengths must have shape (2,) or (2, 7) for queries (2, 4, 7, 8), "
                + "got (2, 5)"), wrongLens.err());
        assertFalse(Files.exists(dir.resolve("out.npy")));
    }

    @Test
    void heatmapOfHeadsIsAGridWithAColumnPerHead() throws IOException {
        Path weights = dir.resolve("w.npy");
        assertEquals(0, run(pool("Q.npy", "K.npy", "V.npy", "--weights", weights.toString())).status());
        Path svg = dir.resolve("heads.svg");

        Run r = run(List.of("heatmap", "--weights", weights.toString(), "--out", svg.toString()));

        assertEquals(0, r.status(), r.err());
        String text = Files.readString(svg);
        for (int h = 0; h < 4; h++) {
            assertTrue(text.contains(">head " + h + "</text>"), "title of head " + h);
        }
        assertFalse(text.contains(">head 4</text>"));
    }
}
