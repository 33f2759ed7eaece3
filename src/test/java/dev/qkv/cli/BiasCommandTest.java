package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.Float64Gradients;
import dev.qkv.Float64Reference;
import dev.qkv.Scoring;
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
 * {@code qkv pool --bias/--alibi} and {@code qkv grad --bias/--alibi} over batches, grouped-query heads and a causal
 * mask, against PyTorch's float64 {@code scaled_dot_product_attention} with a float {@code attn_mask} and its
 * autograd gradients (src/test/resources/cli/bias/make_fixtures.py).
 *
 * <p>The tolerances come from the float64 references' derived bounds, per (b, h) and entry: {@link Float64Reference}
 * and {@link Float64Gradients} with the bias bound |qkv − exact| + |reference − exact|. PyTorch's float64 result
 * is held to the same double-arithmetic share as this reference's own (a float64 computation of the same sums), so
 * the bound is counted twice; then the fixture's rounding to float32, half an ulp. A key head shared by two query
 * heads gets the sum of their bounds and the float addition's rounding, u·|sum|.
 */
class BiasCommandTest {

    private static final double U = 0x1p-24;
    private static final Scoring SCORING = Scoring.scaledDot();

    private static Path fixtures;

    @TempDir
    Path dir;

    @BeforeAll
    static void locateFixtures() throws URISyntaxException {
        fixtures = Path.of(BiasCommandTest.class.getResource("/cli/bias/Q.npy").toURI()).getParent();
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

    private List<String> grad(String queries, String gradOut, String... more) {
        List<String> args = new ArrayList<>(List.of("grad", "--queries", fixture(queries), "--keys", fixture("K.npy"),
                "--values", fixture("V.npy"), "--grad-out", fixture(gradOut), "--dq", dir.resolve("dq.npy").toString(),
                "--dk", dir.resolve("dk.npy").toString(), "--dv", dir.resolve("dv.npy").toString()));
        args.addAll(List.of(more));
        return args;
    }

    /** A (rank 2 to 4) tensor read whole as (B, H, rows, cols) float arrays. */
    private static float[][][][] read(Path file) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Npy.readTensor(file, arena);
            float[][][][] x = new float[t.batch()][t.heads()][][];
            for (int b = 0; b < t.batch(); b++) {
                for (int h = 0; h < t.heads(); h++) {
                    x[b][h] = t.slice(b, h).toArray();
                }
            }
            return x;
        }
    }

    private static float[][][][] fixtureArray(String name) throws IOException {
        return read(fixtures.resolve(name));
    }

    /** Entry (i, j) of a bias of shape (B|1, 1, n|1, m) for batch b, as NumPy broadcasts it; null for none. */
    private static float[][] biasOf(float[][][][] bias, int b, int n, int m) {
        float[][] rows = bias[bias.length == 1 ? 0 : b][0];
        float[][] out = new float[n][m];
        for (int i = 0; i < n; i++) {
            out[i] = rows[rows.length == 1 ? 0 : i].clone();
        }
        return out;
    }

    /** ALiBi's float values for head h of H: −2^(−8(h+1)/H)·|i + (m − n) − j|, as qkv computes them. */
    private static float[][] alibi(int h, int heads, int n, int m) {
        double slope = Math.pow(2, -8.0 * (h + 1) / heads);
        float[][] out = new float[n][m];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                out[i][j] = (float) (-slope * Math.abs(i + (m - n) - j));
            }
        }
        return out;
    }

    private static boolean[][] sees(int n, int m, boolean causal) {
        boolean[][] sees = new boolean[n][m];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                sees[i][j] = !causal || j <= i + (m - n);
            }
        }
        return sees;
    }

    private static boolean[] effective(boolean[] sees, float[] bias) {
        boolean[] out = sees.clone();
        for (int j = 0; j < out.length; j++) {
            out[j] &= bias[j] != Float.NEGATIVE_INFINITY;
        }
        return out;
    }

    /** One (b, h) of the fixtures: its matrices, bias and mask. */
    private record Head(float[][] q, float[][] k, float[][] v, float[][] bias, boolean[][] sees) {}

    private static void assertWithin(String what, float actual, float pytorch, double bound) {
        double tolerance = 2 * bound + Math.ulp(pytorch) / 2;
        assertTrue(Math.abs(actual - pytorch) <= tolerance,
                what + ": qkv " + actual + ", PyTorch " + pytorch + ", tolerance " + tolerance);
    }

    /** Every output row of every (b, h) within the float64 reference's bound of PyTorch's. */
    private void assertOutputs(float[][][][] q, float[][][][] k, float[][][][] v, Head[][] heads, String reference,
            Path actual) throws IOException {
        float[][][][] expected = fixtureArray(reference);
        float[][][][] got = read(actual);
        int group = q[0].length / k[0].length;
        for (int b = 0; b < q.length; b++) {
            for (int h = 0; h < q[0].length; h++) {
                Head head = heads[b][h];
                for (int i = 0; i < head.q.length; i++) {
                    Float64Reference ref = Float64Reference.of(SCORING, head.q[i], head.k, head.v, head.v[0].length,
                            head.sees[i], head.bias[i]);
                    double[] bound = ref.outputBound(Float64Reference.Passes.of(effective(head.sees[i], head.bias[i]),
                            0, head.k.length));
                    for (int c = 0; c < bound.length; c++) {
                        assertWithin(reference + " (" + b + ", " + h + ", " + i + ", " + c + ")", got[b][h][i][c],
                                expected[b][h][i][c], bound[c]);
                    }
                }
            }
        }
        assertEquals(group * k[0].length, q[0].length);
    }

    private static Head[][] heads(float[][][][] q, float[][][][] k, float[][][][] v, float[][][][] bias, boolean alibi,
            boolean causal) {
        int batch = q.length;
        int heads = q[0].length;
        int group = heads / k[0].length;
        Head[][] out = new Head[batch][heads];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                int n = q[b][h].length;
                int m = k[b][h / group].length;
                float[][] biasRows = alibi ? alibi(h, heads, n, m) : biasOf(bias, b, n, m);
                out[b][h] = new Head(q[b][h], k[b][h / group], v[b][h / group], biasRows, sees(n, m, causal));
            }
        }
        return out;
    }

    @ParameterizedTest
    @MethodSource("dev.qkv.TestKernels#names")
    void aFloatBiasPerBatchPoolsLikePyTorch(String kernel) throws IOException {
        Path weights = dir.resolve("w.npy");
        Run r = run(pool("Q.npy", "K.npy", "V.npy", "--bias", fixture("BIAS.npy"), "--weights", weights.toString(),
                "--kernel", kernel, "--threads", "3"));
        assertEquals(0, r.status(), r.err());
        float[][][][] q = fixtureArray("Q.npy");
        float[][][][] k = fixtureArray("K.npy");
        float[][][][] v = fixtureArray("V.npy");
        assertOutputs(q, k, v, heads(q, k, v, fixtureArray("BIAS.npy"), false, false), "ref_bias_out.npy",
                dir.resolve("out.npy"));
        float[][][][] w = read(weights);
        for (int h = 0; h < 4; h++) {
            assertEquals(0f, w[0][h][1][0]); // hidden by -inf in batch 0, every head
            assertEquals(0f, w[0][h][1][3]);
            assertEquals(0f, w[1][h][4][6]);
        }
    }

    @Test
    void keyPaddingAndSharedBiasesBroadcastLikePyTorch() throws IOException {
        float[][][][] q = fixtureArray("Q.npy");
        float[][][][] k = fixtureArray("K.npy");
        float[][][][] v = fixtureArray("V.npy");
        Run pad = run(pool("Q.npy", "K.npy", "V.npy", "--bias", fixture("PAD.npy")));
        assertEquals(0, pad.status(), pad.err());
        assertOutputs(q, k, v, heads(q, k, v, fixtureArray("PAD.npy"), false, false), "ref_pad_out.npy",
                dir.resolve("out.npy"));

        Run shared = run(pool("Q.npy", "K.npy", "V.npy", "--bias", fixture("BIAS2.npy")));
        assertEquals(0, shared.status(), shared.err());
        assertOutputs(q, k, v, heads(q, k, v, fixtureArray("BIAS2.npy"), false, false), "ref_bias2_out.npy",
                dir.resolve("out.npy"));

        Run matrices = run(pool("Q2.npy", "K2.npy", "V2.npy", "--bias", fixture("BIAS2.npy")));
        assertEquals(0, matrices.status(), matrices.err());
        float[][][][] q2 = fixtureArray("Q2.npy");
        float[][][][] k2 = fixtureArray("K2.npy");
        float[][][][] v2 = fixtureArray("V2.npy");
        assertOutputs(q2, k2, v2, heads(q2, k2, v2, fixtureArray("BIAS2.npy"), false, false), "ref_2d_out.npy",
                dir.resolve("out.npy"));
    }

    @Test
    void alibiWithTheCausalMaskPoolsLikePyTorch() throws IOException {
        Run r = run(pool("QC.npy", "K.npy", "V.npy", "--alibi", "--causal"));
        assertEquals(0, r.status(), r.err());
        float[][][][] q = fixtureArray("QC.npy");
        float[][][][] k = fixtureArray("K.npy");
        float[][][][] v = fixtureArray("V.npy");
        assertOutputs(q, k, v, heads(q, k, v, null, true, true), "ref_alibi_out.npy", dir.resolve("out.npy"));
    }

    @Test
    void biasedGradientsOfGroupedHeadsMatchPyTorch() throws IOException {
        Run r = run(grad("Q.npy", "G.npy", "--bias", fixture("BIAS.npy"), "--threads", "2"));
        assertEquals(0, r.status(), r.err());
        float[][][][] q = fixtureArray("Q.npy");
        float[][][][] k = fixtureArray("K.npy");
        float[][][][] v = fixtureArray("V.npy");
        assertGradients(q, k, v, fixtureArray("G.npy"), heads(q, k, v, fixtureArray("BIAS.npy"), false, false),
                "ref_bias_");
    }

    @Test
    void alibiCausalGradientsMatchPyTorch() throws IOException {
        Run r = run(grad("QC.npy", "GC.npy", "--alibi", "--causal"));
        assertEquals(0, r.status(), r.err());
        float[][][][] q = fixtureArray("QC.npy");
        float[][][][] k = fixtureArray("K.npy");
        float[][][][] v = fixtureArray("V.npy");
        assertGradients(q, k, v, fixtureArray("GC.npy"), heads(q, k, v, null, true, true), "ref_alibi_");
    }

    /**
     * dQ of each (b, h) within its Float64Gradients bound of PyTorch's; dK and dV of each key head within the sum of
     * the bounds of the query heads that share it, plus the float sum's rounding.
     */
    private void assertGradients(float[][][][] q, float[][][][] k, float[][][][] v, float[][][][] g, Head[][] heads,
            String prefix) throws IOException {
        float[][][][] dq = read(dir.resolve("dq.npy"));
        float[][][][] dk = read(dir.resolve("dk.npy"));
        float[][][][] dv = read(dir.resolve("dv.npy"));
        float[][][][] refDq = fixtureArray(prefix + "dq.npy");
        float[][][][] refDk = fixtureArray(prefix + "dk.npy");
        float[][][][] refDv = fixtureArray(prefix + "dv.npy");
        int group = q[0].length / k[0].length;
        for (int b = 0; b < q.length; b++) {
            for (int kv = 0; kv < k[0].length; kv++) {
                int m = k[b][kv].length;
                double[][] boundK = new double[m][k[b][kv][0].length];
                double[][] boundV = new double[m][v[b][kv][0].length];
                for (int h = kv * group; h < (kv + 1) * group; h++) {
                    Head head = heads[b][h];
                    int n = head.q.length;
                    double[] lseBound = new double[n];
                    double[][] outBound = new double[n][];
                    for (int i = 0; i < n; i++) {
                        Float64Reference ref = Float64Reference.of(SCORING, head.q[i], head.k, head.v,
                                head.v[0].length, head.sees[i], head.bias[i]);
                        Float64Reference.Passes passes = Float64Reference.Passes.of(
                                effective(head.sees[i], head.bias[i]), 0, m);
                        lseBound[i] = ref.kernelLogSumExpBound(passes);
                        outBound[i] = ref.kernelOutputBound(passes);
                    }
                    Float64Gradients.Bounds bounds = Float64Gradients.of(SCORING, head.q, head.k, head.v, head.sees,
                            g[b][h], head.v[0].length, head.bias).kernelBounds(lseBound, outBound);
                    for (int i = 0; i < n; i++) {
                        for (int l = 0; l < head.q[0].length; l++) {
                            assertWithin("dQ (" + b + ", " + h + ", " + i + ", " + l + ")", dq[b][h][i][l],
                                    refDq[b][h][i][l], bounds.dQueries()[i][l]);
                        }
                    }
                    add(boundK, bounds.dKeys());
                    add(boundV, bounds.dValues());
                }
                for (int j = 0; j < m; j++) {
                    for (int l = 0; l < boundK[j].length; l++) {
                        assertWithin("dK (" + b + ", " + kv + ", " + j + ", " + l + ")", dk[b][kv][j][l],
                                refDk[b][kv][j][l], boundK[j][l] + U * Math.abs(dk[b][kv][j][l]));
                    }
                    for (int c = 0; c < boundV[j].length; c++) {
                        assertWithin("dV (" + b + ", " + kv + ", " + j + ", " + c + ")", dv[b][kv][j][c],
                                refDv[b][kv][j][c], boundV[j][c] + U * Math.abs(dv[b][kv][j][c]));
                    }
                }
            }
        }
    }

    private static void add(double[][] sum, double[][] term) {
        for (int j = 0; j < sum.length; j++) {
            for (int l = 0; l < sum[j].length; l++) {
                sum[j][l] += term[j][l];
            }
        }
    }

    @Test
    void aBadBiasIsOneLineExitTwoAndNoFile() throws IOException {
        Path out = dir.resolve("out.npy");
        Run shape = run(pool("Q.npy", "K.npy", "V.npy", "--bias", fixture("QC.npy")));
        assertEquals(Main.EXIT_BAD_INPUT, shape.status());
        assertEquals(fixture("QC.npy") + ": bias must broadcast to the weights' shape (2, 4, 5, 7) (each dimension "
                + "equal or 1, aligned from the right), got (2, 4, 7, 8)", firstLine(shape.err()));
        assertEquals(1, shape.err().strip().lines().count(), shape.err());

        try (Arena arena = Arena.ofConfined()) {
            Tensor nan = Tensor.allocate(arena, 5, 7);
            nan.set(2, 3, Float.NaN);
            Npy.write(dir.resolve("nan.npy"), nan);
        }
        Run bad = run(grad("Q.npy", "G.npy", "--bias", dir.resolve("nan.npy").toString()));
        assertEquals(Main.EXIT_BAD_INPUT, bad.status());
        assertEquals(dir.resolve("nan.npy") + ": bias entries must be finite or -inf (hidden), got NaN at flat index 17",
                firstLine(bad.err()));
        assertFalse(Files.exists(out));
        assertFalse(Files.exists(dir.resolve("dq.npy")));
    }

    /** qkv grad on batched shapes: G must have the output's shape (…, n, dv); one line, exit 2, no file. */
    @Test
    void batchedGradRefusesAGradientOfTheWrongShape() {
        Run r = run(grad("Q.npy", "GC.npy"));
        assertEquals(Main.EXIT_BAD_INPUT, r.status());
        assertEquals(fixture("GC.npy") + ": the output's gradient must have the output's shape (2, 4, 5, 3) for queries "
                + "(2, 4, 5, 8) and values (2, 2, 7, 3), got (2, 4, 7, 3)", firstLine(r.err()));
        assertFalse(Files.exists(dir.resolve("dq.npy")));
        assertFalse(Files.exists(dir.resolve("dk.npy")));
    }

    /** A single query (d,) takes a bias of its keys, (m,): the 2-D call's one row. */
    @Test
    void aSingleQueryTakesABiasOfItsKeys() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.of(arena, new float[] {1, 0});
            Tensor k = Tensor.of(arena, new float[][] {{1, 0}, {1, 0}, {0, 1}});
            Tensor v = Tensor.of(arena, new float[][] {{10}, {20}, {30}});
            Tensor bias = Tensor.of(arena, new float[] {Float.NEGATIVE_INFINITY, 0, -100});
            Npy.write(dir.resolve("q.npy"), q);
            Npy.write(dir.resolve("k.npy"), k);
            Npy.write(dir.resolve("v.npy"), v);
            Npy.write(dir.resolve("b.npy"), bias);
        }
        Run r = run(List.of("pool", "--queries", dir.resolve("q.npy").toString(), "--keys",
                dir.resolve("k.npy").toString(), "--values", dir.resolve("v.npy").toString(), "--out",
                dir.resolve("out.npy").toString(), "--bias", dir.resolve("b.npy").toString(), "--scoring", "dot"));
        assertEquals(0, r.status(), r.err());
        // key 0 hidden; key 2's weight e^-101 (about 1e-44) is lost against key 1's 1 in float: exactly 20
        assertEquals(20f, read(dir.resolve("out.npy"))[0][0][0][0]);
    }

    private static String firstLine(String err) {
        return err.strip().lines().findFirst().orElse("").replaceFirst("^(pool|grad): ", "");
    }
}
