package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.qkv.Float64Reference;
import dev.qkv.Scoring;
import dev.qkv.TestKernels;
import dev.qkv.io.Npy;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/** {@code qkv pool} against float64 NumPy references (src/test/resources/cli/make_fixtures.py), and its refusals. */
class PoolCommandTest {

    private static final double UNIT_ROUNDOFF = PoolingFixtures.UNIT_ROUNDOFF;

    private static PoolingFixtures fixtures;

    @TempDir
    Path dir;

    @BeforeAll
    static void locateFixtures() throws URISyntaxException {
        fixtures = PoolingFixtures.holding("/cli/Q.npy");
    }

    private static String fixture(String name) {
        return fixtures.path(name);
    }

    private String[] pool(String queries, String keys, String... more) {
        List<String> args = new ArrayList<>(List.of("pool", "--queries", fixture(queries), "--keys", fixture(keys),
                "--values", fixture("V.npy"), "--out", dir.resolve("out.npy").toString()));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    /** PoolingFixtures' bounds for pooling Q.npy over K.npy and V.npy with this scale. */
    private double weightsError(double scale) throws IOException {
        return fixtures.weightsError("Q.npy", "K.npy", scale);
    }

    private double outputBound(double scale) throws IOException {
        return fixtures.outputBound("Q.npy", "K.npy", "V.npy", scale);
    }

    private void assertMatches(String reference, Path actual, double bound) throws IOException {
        fixtures.assertMatches(reference, actual, bound);
    }

    @ParameterizedTest
    @MethodSource("dev.qkv.TestKernels#names")
    void poolsLikeNumPy(String kernel) throws IOException {
        Path weights = dir.resolve("w.npy");
        Path lse = dir.resolve("lse.npy");
        CliRun r = CliRun.of(pool("Q.npy", "K.npy", "--weights", weights.toString(), "--lse", lse.toString(), "--kernel", kernel));
        assertEquals(0, r.status(), r.err());
        double scale = 1 / Math.sqrt(5);
        assertMatches("ref_out.npy", dir.resolve("out.npy"), outputBound(scale));
        assertMatches("ref_weights.npy", weights, weightsError(scale));
        // log-sum-exp = max + log(sum): the score error, plus the sum's relative error (m + 2)·u carried
        // through log as an absolute one, plus the rounding of the result (|lse| < 4 here, so 4·u).
        assertMatches("ref_lse.npy", lse, weightsError(scale) / 2 + 8 * UNIT_ROUNDOFF);
    }

    @Test
    void masksMatchNumPy() throws IOException {
        double bound = outputBound(1 / Math.sqrt(5));
        assertEquals(0, CliRun.of(pool("Q.npy", "K.npy", "--valid-lens", fixture("L.npy"))).status());
        assertMatches("ref_valid_lens.npy", dir.resolve("out.npy"), bound);
        assertEquals(0, CliRun.of(pool("Q.npy", "K.npy", "--causal", "--threads", "2")).status());
        assertMatches("ref_causal.npy", dir.resolve("out.npy"), bound);
        assertEquals(0, CliRun.of(pool("Q.npy", "K.npy", "--mask", fixture("M.npy"))).status());
        assertMatches("ref_mask.npy", dir.resolve("out.npy"), bound);
    }

    @Test
    void explicitScaleAndDoubleInputs() throws IOException {
        assertEquals(0, CliRun.of(pool("Q.npy", "K8.npy", "--scoring", "dot", "--scale", "0.7")).status());
        assertMatches("ref_dot_scale.npy", dir.resolve("out.npy"), outputBound(0.7));
    }

    /**
     * One query over 16,400 keys at d = dv = 128, 16.8 MB of memory-mapped K and V: more than the 16 MB the row path
     * reads as from memory (one key at a time, {@code Kernels.streamScores}), cut into three shards; against the
     * float64 reference and its bound for one call ({@code Float64Reference}).
     */
    @ParameterizedTest
    @MethodSource("dev.qkv.TestKernels#names")
    void oneQueryOverKeysFromMemoryMatchesTheFloat64Reference(String kernel) throws IOException {
        int m = 16_400;
        int d = 128;
        SplittableRandom random = new SplittableRandom(41);
        float[] q = new float[d];
        float[][] k = new float[m][d];
        float[][] v = new float[m][d];
        // Entries in ±4, as AttentionProperties draws them: scores spread over tens, so the weights, and the output,
        // move with any error in the scores. Scores 1 % too large in the streamed pass fail this test (2.3 times the
        // bound); 0.1 % does not (0.23 times): the bound is a worst case over 16,400 keys, 2,500 times the error the
        // kernels make here. StreamScoresTest checks the streamed scores bit for bit.
        for (int j = 0; j < d; j++) {
            q[j] = (float) random.nextDouble(-4, 4);
        }
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < d; j++) {
                k[i][j] = (float) random.nextDouble(-4, 4);
                v[i][j] = (float) random.nextDouble(-4, 4);
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            Npy.write(dir.resolve("q.npy"), Tensor.of(arena, q));
            Npy.write(dir.resolve("k.npy"), Tensor.of(arena, k));
            Npy.write(dir.resolve("v.npy"), Tensor.of(arena, v));
        }
        CliRun r = CliRun.of("pool", "--queries", dir.resolve("q.npy").toString(), "--keys",
                dir.resolve("k.npy").toString(), "--values", dir.resolve("v.npy").toString(), "--out",
                dir.resolve("out.npy").toString(), "--kernel", kernel);
        assertEquals(0, r.status(), r.err());
        Float64Reference ref = Float64Reference.of(Scoring.scaledDot(), q, k, v, d, m);
        double[] bound = ref.outputBound(Float64Reference.Passes.prefix(m));
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = Npy.readTensor(dir.resolve("out.npy"), arena);
            assertEquals("(128,)", out.shapeString());
            for (int j = 0; j < d; j++) {
                assertEquals(ref.output[j], out.get(j), bound[j], "output " + j);
            }
        }
    }

    @Test
    void oneDimensionalQueryGivesOneDimensionalOutput() throws IOException {
        CliRun r = CliRun.of(pool("Q1.npy", "K.npy"));
        assertEquals(0, r.status(), r.err());
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = Npy.readTensor(dir.resolve("out.npy"), arena);
            Tensor expected = Npy.readTensor(fixtures.resolve("ref_out.npy"), arena).row(0);
            assertEquals("(4,)", out.shapeString());
            for (int j = 0; j < 4; j++) {
                assertEquals(expected.get(j), out.get(j), outputBound(1 / Math.sqrt(5)));
            }
        }
    }

    private void assertRefused(String expectedInMessage, String... args) throws IOException {
        List<Path> before = listing();
        CliRun r = CliRun.of(args);
        assertEquals(Main.EXIT_BAD_INPUT, r.status(), r.err());
        String[] lines = r.err().strip().split("\n");
        assertEquals(1, lines.length, "one line on stderr: " + r.err());
        assertTrue(lines[0].startsWith("pool: ") && lines[0].contains(expectedInMessage),
                "expected '" + expectedInMessage + "' in: " + lines[0]);
        assertEquals(before, listing(), "no output and no temporary file left behind");
    }

    private List<Path> listing() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.sorted().toList();
        }
    }

    @Test
    void refusesBadInputWithOneLineAndNoOutput() throws IOException {
        Files.createDirectories(dir);
        Path nan = dir.resolve("../nan-values.npy").normalize();
        try (Arena arena = Arena.ofConfined()) {
            Tensor v = Npy.readTensor(fixtures.resolve("V.npy"), arena);
            Tensor bad = Tensor.allocate(arena, v.rows(), v.cols());
            bad.copyFrom(v);
            bad.set(3, 1, Float.NaN);
            Npy.write(nan, bad);
        }
        assertRefused("no such file", pool("missing.npy", "K.npy"));
        assertRefused("(3, 5)", pool("Q.npy", "V.npy"));
        assertRefused("(7, 4)", pool("Q.npy", "V.npy"));
        assertRefused("dtype", pool("Q.npy", "L.npy"));
        assertRefused("non-finite", "pool", "--queries", fixture("Q.npy"), "--keys", fixture("K.npy"), "--values",
                nan.toString(), "--out", dir.resolve("out.npy").toString());
        assertRefused("scoring", pool("Q.npy", "K.npy", "--scoring", "cosine"));
        assertRefused("--sigma", pool("Q.npy", "K.npy", "--sigma", "2"));
        assertRefused("sigma", pool("Q.npy", "K.npy", "--scoring", "gaussian", "--sigma", "0"));
        assertRefused("valid lengths", pool("Q.npy", "K.npy", "--valid-lens", fixture("M.npy")));
        assertRefused("mask", pool("Q.npy", "K.npy", "--mask", fixture("L.npy")));
        assertRefused("--threads", pool("Q.npy", "K.npy", "--threads", "0"));
        assertRefused("kernels", pool("Q.npy", "K.npy", "--kernel", "gpu"));
        assertRefused("no such directory", "pool", "--queries", fixture("Q.npy"), "--keys", fixture("K.npy"),
                "--values", fixture("V.npy"), "--out", dir.resolve("nowhere/out.npy").toString());
        assertRefused("--out", "pool", "--queries", fixture("Q.npy"), "--keys", fixture("K.npy"));
    }

    /**
     * Shapes at which the pooling hands work to helper threads: many queries (n ≥ 128, tiles of queries split
     * across threads) and one query over many keys (m > 8192, shards of keys). The command maps its inputs,
     * so the helpers read them from another thread than the one that mapped them. Each run's output must be
     * within {@link #weightsError}'s bound (times max|v|) of the float64 reference.
     */
    @ParameterizedTest
    @CsvSource({"300, 5000, scalar", "300, 5000, vector", "1, 20000, scalar", "1, 20000, vector"})
    void twoThreadsOnShapesThatSpawnHelpersPoolLikeFloat64(int n, int m, String kernel) throws IOException {
        TestKernels.assumeAvailable(kernel);
        Path q = dir.resolve("q.npy");
        Path k = dir.resolve("k.npy");
        Path v = dir.resolve("v.npy");
        double scale = 1 / Math.sqrt(64);
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom random = new SplittableRandom(n + m);
            Tensor qs = random(arena, random, n, 64);
            Tensor ks = random(arena, random, m, 64);
            Tensor vs = random(arena, random, m, 16);
            Npy.write(q, qs);
            Npy.write(k, ks);
            Npy.write(v, vs);
            double maxV = 0;
            for (float x : vs.toFlatArray()) {
                maxV = Math.max(maxV, Math.abs(x));
            }
            double bound = maxV * (2 * PoolingFixtures.scoreError(qs, ks, scale) + (m + 4) * UNIT_ROUNDOFF);
            double[][] expected = reference(qs, ks, vs, scale);
            for (String threads : new String[] {"1", "2"}) {
                Path out = dir.resolve("out" + threads + ".npy");
                CliRun r = CliRun.of("pool", "--queries", q.toString(), "--keys", k.toString(), "--values", v.toString(),
                        "--out", out.toString(), "--threads", threads, "--kernel", kernel);
                assertEquals(0, r.status(), r.err());
                Tensor got = Npy.readTensor(out, arena);
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < 16; j++) {
                        assertEquals(expected[i][j], got.get(i, j), bound, "threads " + threads + ", [" + i + ", " + j + "]");
                    }
                }
            }
        }
    }

    /** Attention pooling in float64, max-subtracted. */
    private static double[][] reference(Tensor q, Tensor k, Tensor v, double scale) {
        double[][] out = new double[q.rows()][v.cols()];
        double[] scores = new double[k.rows()];
        for (int i = 0; i < q.rows(); i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < k.rows(); j++) {
                double s = 0;
                for (int t = 0; t < k.cols(); t++) {
                    s += (double) q.get(i, t) * k.get(j, t);
                }
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
                    out[i][t] += scores[j] / sum * v.get(j, t);
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

    private String[] poolTo(Path out, String... more) {
        List<String> args = new ArrayList<>(List.of("pool", "--queries", fixture("Q.npy"), "--keys", fixture("K.npy"),
                "--values", fixture("V.npy"), "--out", out.toString()));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    private static void mkfifo(Path path) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("mkfifo", path.toString()).inheritIO().start();
        assumeTrue(p.waitFor() == 0, "mkfifo is needed for this test");
    }

    @Test
    void anOutputThatIsASymbolicLinkIsWrittenThroughTheLink() throws IOException {
        Path real = dir.resolve("real.npy");
        Files.write(real, new byte[] {1, 2, 3});
        Path link = Files.createSymbolicLink(dir.resolve("link.npy"), Path.of("real.npy"));
        CliRun r = CliRun.of(poolTo(link));
        assertEquals(0, r.status(), r.err());
        assertTrue(Files.isSymbolicLink(link), "the link stays a link");
        assertMatches("ref_out.npy", real, outputBound(1 / Math.sqrt(5)));
        Files.delete(link);
        Files.createSymbolicLink(link, Path.of("new.npy"));
        assertEquals(0, CliRun.of(poolTo(link)).status());
        assertTrue(Files.isSymbolicLink(link), "the link stays a link");
        assertMatches("ref_out.npy", dir.resolve("new.npy"), outputBound(1 / Math.sqrt(5)));
    }

    @Test
    void anExistingOutputKeepsItsPermissionsAndANewOneGetsTheUmasks() throws IOException {
        Path existing = dir.resolve("existing.npy");
        Files.write(existing, new byte[] {1});
        Files.setPosixFilePermissions(existing, PosixFilePermissions.fromString("rw-r-----"));
        assertEquals(0, CliRun.of(poolTo(existing)).status());
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(existing)));

        Path plain = Files.createFile(dir.resolve("plain"));
        Path fresh = dir.resolve("fresh.npy");
        assertEquals(0, CliRun.of(poolTo(fresh)).status());
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(fresh),
                "what the umask gives a new file");
    }

    @Test
    void anOutputThatIsNotARegularFileIsRefused() throws IOException, InterruptedException {
        Path sub = Files.createDirectory(dir.resolve("sub"));
        assertRefused("cannot write " + sub + ": it is a directory", poolTo(sub));
        Files.delete(sub);
        Path fifo = dir.resolve("fifo");
        mkfifo(fifo);
        CliRun r = CliRun.of(poolTo(fifo));
        assertEquals(Main.EXIT_BAD_INPUT, r.status());
        assertEquals("pool: cannot write " + fifo + ": it is not a regular file (a device, FIFO or socket); qkv"
                + " writes regular files only", r.err().strip());
        assertTrue(Files.readAttributes(fifo, java.nio.file.attribute.BasicFileAttributes.class).isOther(),
                "the FIFO is still a FIFO");
    }

    /** /proc refuses new files with ENOENT, which Java reports with no reason: the message must still say why. */
    @Test
    void anOutputInADirectoryThatTakesNoFilesSaysSo() {
        Path out = Path.of("/proc/qkv-out.npy");
        assumeTrue(Files.isDirectory(out.getParent()), "Linux's /proc");
        CliRun r = CliRun.of(poolTo(out));
        assertEquals(Main.EXIT_FAILURE, r.status(), r.err());
        assertEquals("pool: cannot write " + out + ": /proc does not take new files", r.err().strip());
    }

    @Test
    void twoOutputsThatAreTheSameFileAreRefused() throws IOException {
        Path out = dir.resolve("out.npy");
        assertRefused("they are the same file", poolTo(out, "--weights", out.toString()));
        assertRefused("they are the same file", poolTo(out, "--lse", dir.resolve(".").resolve("out.npy").toString()));
        Path link = Files.createSymbolicLink(dir.resolve("link.npy"), Path.of("out.npy"));
        try {
            assertRefused("they are the same file", poolTo(out, "--weights", link.toString()));
        } finally {
            Files.delete(link);
        }
    }

    @Test
    void anOutputThatIsAnInputIsRefused() throws IOException {
        Path keys = dir.resolve("keep.npy");
        Files.copy(fixtures.resolve("K.npy"), keys);
        byte[] before = Files.readAllBytes(keys);
        Path hardLink = Files.createLink(dir.resolve("hard.npy"), keys);
        for (Path out : new Path[] {keys, hardLink}) {
            CliRun r = CliRun.of("pool", "--queries", fixture("Q.npy"), "--keys", keys.toString(), "--values", fixture("V.npy"),
                    "--out", dir.resolve("o.npy").toString(), "--weights", out.toString());
            assertEquals(Main.EXIT_BAD_INPUT, r.status(), r.err());
            assertEquals("pool: cannot write " + out + ": it is the input " + keys + "; name another file for the"
                    + " output", r.err().strip());
        }
        assertArrayEquals(before, Files.readAllBytes(keys));
        assertFalse(Files.exists(dir.resolve("o.npy")));
    }

    @Test
    void anOutputNameAtTheFileSystemsLimitIsWritten() throws IOException {
        Path out = dir.resolve("o".repeat(251) + ".npy");
        CliRun r = CliRun.of(poolTo(out));
        assertEquals(0, r.status(), r.err());
        assertMatches("ref_out.npy", out, outputBound(1 / Math.sqrt(5)));
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void anInputThatIsNotARegularFileIsRefusedWithoutOpeningIt() throws IOException, InterruptedException {
        Path fifo = dir.resolve("K.fifo");
        mkfifo(fifo);
        CliRun r = CliRun.of("pool", "--queries", fixture("Q.npy"), "--keys", fifo.toString(), "--values", fixture("V.npy"),
                "--out", dir.resolve("o.npy").toString());
        assertEquals(Main.EXIT_BAD_INPUT, r.status());
        assertEquals("pool: " + fifo + ": is not a regular file (a FIFO, device or socket); .npy files are read from"
                + " regular files only", r.err().strip());
        Files.delete(fifo);
        Path sub = Files.createDirectory(dir.resolve("V.npy"));
        r = CliRun.of("pool", "--queries", fixture("Q.npy"), "--keys", fixture("K.npy"), "--values", sub.toString(),
                "--out", dir.resolve("o.npy").toString());
        assertEquals(Main.EXIT_BAD_INPUT, r.status());
        assertEquals("pool: " + sub + ": is a directory, not a .npy file", r.err().strip());
        Files.delete(sub);
        assertRefused("mask.npy: is a directory", pool("Q.npy", "K.npy", "--mask",
                Files.createDirectory(dir.resolve("mask.npy")).toString()));
    }

    @Test
    void aNegativeValidLengthIsNamedByItsQuery() throws IOException {
        Path lens = dir.resolve("../lens.npy").normalize();
        Npy.writeInts(lens, new int[] {2, -1, 0});
        assertRefused(lens + ": the valid length of query 1 is -1; it must be 0 or more",
                pool("Q.npy", "K.npy", "--valid-lens", lens.toString()));
    }

    /** A version 1.0 .npy file of {@code dtype} and {@code shape} holding {@code dataBytes} zero bytes. */
    private Path npy(String name, String dtype, String shape, int dataBytes) throws IOException {
        String dict = "{'descr': '" + dtype + "', 'fortran_order': False, 'shape': " + shape + ", }";
        int length = dict.length() + 1 + (64 - (10 + dict.length() + 1) % 64) % 64;
        String header = dict + " ".repeat(length - dict.length() - 1) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) length);
        b.put(header.getBytes(StandardCharsets.ISO_8859_1));
        Path file = dir.resolve("../" + name).normalize();
        Files.write(file, b.array());
        return file;
    }

    /**
     * Shapes whose files are a header alone (d = 0 or m = 0 need no data) but whose outputs no machine holds:
     * refused at once, naming the size, before any work (the --weights case used to pool for 27 s first).
     */
    @Test
    void outputsLargerThanTheMachineAreRefusedBeforeAnyWork() throws IOException {
        int big = Integer.MAX_VALUE;
        Path q = npy("q0.npy", "<f4", "(" + big + ", 0)", 0);
        Path k = npy("k0.npy", "<f4", "(" + big + ", 0)", 0);
        Path v = npy("v0.npy", "<f4", "(" + big + ", 0)", 0);
        assertRefused("this run needs 1.84e+10 GB of memory (--weights: 2147483647 × 2147483647 floats, 1.84e+10 GB),"
                + " more than the ", "pool", "--queries", q.toString(), "--keys", k.toString(), "--values",
                v.toString(), "--out", dir.resolve("o.npy").toString(), "--weights", dir.resolve("w.npy").toString());

        Path q1000 = npy("q1000.npy", "<f4", "(1000, 0)", 0);
        Path kEmpty = npy("kEmpty.npy", "<f4", "(0, 0)", 0);
        Path vWide = npy("vWide.npy", "<f4", "(0, 2147483639)", 0);
        assertRefused("this run needs 8.59e+03 GB of memory (--out: 1000 × 2147483639 floats, 8.59e+03 GB)", "pool",
                "--queries", q1000.toString(), "--keys", kEmpty.toString(), "--values", vWide.toString(), "--out",
                dir.resolve("o.npy").toString());

        Path mask = npy("mask.npy", "|b1", "(" + big + ", " + big + ")", 0);
        assertRefused(mask + ": a mask of shape (2147483647, 2147483647) needs 2.77e+10 GB of Java heap, more than"
                + " the ", pool("Q.npy", "K.npy", "--mask", mask.toString()));
    }

    @Test
    void aFailedRunLeavesAnExistingOutputAlone() throws IOException {
        Path keep = dir.resolve("keep.npy");
        Files.write(keep, new byte[] {1, 2, 3});
        CliRun r = CliRun.of("pool", "--queries", fixture("Q.npy"), "--keys", fixture("V.npy"), "--values", fixture("V.npy"),
                "--out", keep.toString(), "--weights", dir.resolve("w.npy").toString());
        assertEquals(Main.EXIT_BAD_INPUT, r.status());
        assertEquals(3, Files.size(keep));
        assertFalse(Files.exists(dir.resolve("w.npy")));
    }
}
