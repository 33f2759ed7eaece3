package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
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

    private static final double UNIT_ROUNDOFF = PoolingFixtures.UNIT_ROUNDOFF;

    private static PoolingFixtures fixtures;

    @TempDir
    Path dir;

    @BeforeAll
    static void locateFixtures() throws URISyntaxException {
        fixtures = PoolingFixtures.holding("/cli/heads/Q.npy");
    }

    private static String fixture(String name) {
        return fixtures.path(name);
    }

    private List<String> pool(String queries, String keys, String values, String... more) {
        List<String> args = new ArrayList<>(List.of("pool", "--queries", fixture(queries), "--keys", fixture(keys),
                "--values", fixture(values), "--out", dir.resolve("out.npy").toString()));
        args.addAll(List.of(more));
        return args;
    }

    /** PoolingFixtures' bounds for scaled-dot pooling of {@code queries} over K.npy and V.npy. */
    private static double weightsError(String queries) throws IOException {
        return fixtures.weightsError(queries, "K.npy", fixtures.scaledDot(queries));
    }

    private static double outputBound(String queries) throws IOException {
        return fixtures.outputBound(queries, "K.npy", "V.npy", fixtures.scaledDot(queries));
    }

    private static void assertMatches(String reference, Path actual, double bound) throws IOException {
        fixtures.assertMatches(reference, actual, bound);
    }

    @ParameterizedTest
    @MethodSource("dev.qkv.TestKernels#names")
    void groupedQueryHeadsPoolLikePyTorch(String kernel) throws IOException {
        Path weights = dir.resolve("w.npy");
        Path lse = dir.resolve("lse.npy");

        CliRun r = CliRun.of(pool("Q.npy", "K.npy", "V.npy", "--weights", weights.toString(), "--lse", lse.toString(),
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
        CliRun b = CliRun.of(pool("Q.npy", "K.npy", "V.npy", "--valid-lens", fixture("LB.npy")));
        assertEquals(0, b.status(), b.err());
        assertMatches("ref_lens_b.npy", dir.resolve("out.npy"), bound);
        CliRun bn = CliRun.of(pool("Q.npy", "K.npy", "V.npy", "--valid-lens", fixture("LBN.npy"), "--threads", "2"));
        assertEquals(0, bn.status(), bn.err());
        assertMatches("ref_lens_bn.npy", dir.resolve("out.npy"), bound);
        CliRun causal = CliRun.of(pool("QC.npy", "K.npy", "V.npy", "--causal"));
        assertEquals(0, causal.status(), causal.err());
        assertMatches("ref_causal.npy", dir.resolve("out.npy"), outputBound("QC.npy"));
        CliRun shared = CliRun.of(pool("Q.npy", "K2.npy", "V2.npy"));
        assertEquals(0, shared.status(), shared.err());
        assertMatches("ref_shared.npy", dir.resolve("out.npy"), bound);
    }

    @Test
    void shapesThatDoNotFitAreRefusedInOneLineAndNothingIsWritten() {
        CliRun heads = CliRun.of(pool("Q.npy", "QC.npy", "V.npy"));
        CliRun wrongLens = CliRun.of(pool("QC.npy", "K.npy", "V.npy", "--valid-lens", fixture("LBN.npy")));

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
        assertEquals(0, CliRun.of(pool("Q.npy", "K.npy", "V.npy", "--weights", weights.toString())).status());
        Path svg = dir.resolve("heads.svg");

        CliRun r = CliRun.of(List.of("heatmap", "--weights", weights.toString(), "--out", svg.toString()));

        assertEquals(0, r.status(), r.err());
        String text = Files.readString(svg);
        for (int h = 0; h < 4; h++) {
            assertTrue(text.contains(">head " + h + "</text>"), "title of head " + h);
        }
        assertFalse(text.contains(">head 4</text>"));
    }
}
