package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.Attention;
import dev.qkv.Gradients;
import dev.qkv.Mask;
import dev.qkv.Scoring;
import dev.qkv.io.Npy;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qkv grad} writes what {@link Attention#gradients} gives for the same inputs, bit for bit (the gradients
 * themselves are checked against a float64 reference in GradientProperties), and refuses bad input with one line,
 * exit status 2 and no file written.
 */
class GradCommandTest {

    @TempDir
    Path dir;

    private final Arena arena = Arena.ofShared();
    private Tensor q;
    private Tensor k;
    private Tensor v;
    private Tensor g;

    @BeforeEach
    void inputs() throws IOException {
        Random random = new Random(11);
        q = random(random, 5, 3);
        k = random(random, 7, 3);
        v = random(random, 7, 2);
        g = random(random, 5, 2);
        Npy.write(dir.resolve("Q.npy"), q);
        Npy.write(dir.resolve("K.npy"), k);
        Npy.write(dir.resolve("V.npy"), v);
        Npy.write(dir.resolve("G.npy"), g);
        Npy.writeInts(dir.resolve("L.npy"), new int[] {0, 1, 7, 3, 5}, 5);
    }

    @AfterEach
    void close() {
        arena.close();
    }

    private Tensor random(Random random, int rows, int cols) {
        Tensor t = Tensor.allocate(arena, rows, cols);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t.set(i, j, (float) random.nextGaussian());
            }
        }
        return t;
    }

    private String[] grad(String... more) {
        List<String> args = new ArrayList<>(List.of("grad", "--queries", path("Q.npy"), "--keys", path("K.npy"),
                "--values", path("V.npy"), "--grad-out", path("G.npy"), "--kernel", "scalar"));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    private String path(String name) {
        return dir.resolve(name).toString();
    }

    private float[] read(String name) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            return Npy.readTensor(dir.resolve(name), a).toFlatArray();
        }
    }

    private Set<String> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
    }

    @Test
    void writesWhatTheApiGivesUnderEveryMask() throws IOException {
        CliRun r = CliRun.of(grad("--dq", path("DQ.npy"), "--dk", path("DK.npy"), "--dv", path("DV.npy"), "--causal",
                "--valid-lens", path("L.npy"), "--scoring", "gaussian", "--sigma", "1.5", "--threads", "2"));
        assertEquals(0, r.status(), r.err());
        Gradients expected = Attention.builder().scoring(Scoring.gaussian(1.5)).kernels("scalar").build()
                .gradients(arena, q, k, v, Mask.validLengths(0, 1, 7, 3, 5).and(Mask.causal()), g);
        assertArrayEquals(expected.queries().toFlatArray(), read("DQ.npy"));
        assertArrayEquals(expected.keys().toFlatArray(), read("DK.npy"));
        assertArrayEquals(expected.values().toFlatArray(), read("DV.npy"));
        // Query 0 sees no key (length 0); keys 5 and 6 none (causal: query i sees keys j <= i + 2; lengths 3 and 5).
        assertArrayEquals(new float[3], java.util.Arrays.copyOfRange(read("DQ.npy"), 0, 3));
        assertArrayEquals(new float[4], java.util.Arrays.copyOfRange(read("DV.npy"), 10, 14));
    }

    @Test
    void writesOnlyTheGradientsAskedFor() throws IOException {
        CliRun r = CliRun.of(grad("--dv", path("DV.npy"), "--scoring", "dot"));
        assertEquals(0, r.status(), r.err());
        assertEquals(Set.of("Q.npy", "K.npy", "V.npy", "G.npy", "L.npy", "DV.npy"), files());
        Gradients expected = Attention.builder().scoring(Scoring.dot()).kernels("scalar").build()
                .gradients(arena, q, k, v, Mask.none(), g);
        assertArrayEquals(expected.values().toFlatArray(), read("DV.npy"));
    }

    @Test
    void aOneDimensionalQueryTakesAOneDimensionalGradient() throws IOException {
        Npy.write(dir.resolve("Q1.npy"), q.row(0));
        Npy.write(dir.resolve("G1.npy"), g.row(0));
        CliRun r = CliRun.of("grad", "--queries", path("Q1.npy"), "--keys", path("K.npy"), "--values", path("V.npy"),
                "--grad-out", path("G1.npy"), "--dq", path("DQ.npy"));
        assertEquals(0, r.status(), r.err());
        try (Arena a = Arena.ofConfined()) {
            assertEquals("(3,)", Npy.readTensor(dir.resolve("DQ.npy"), a).shapeString());
        }
    }

    @Test
    void noGradientAskedForIsOneLineAndExitTwo() throws IOException {
        CliRun r = CliRun.of(grad());
        assertEquals(2, r.status());
        assertEquals("grad: nothing to write: give at least one of --dq, --dk, --dv", r.err().strip());
        assertEquals(Set.of("Q.npy", "K.npy", "V.npy", "G.npy", "L.npy"), files());
    }

    @Test
    void aGradientOfTheWrongShapeLeavesNoFile() throws IOException {
        CliRun r = CliRun.of("grad", "--queries", path("Q.npy"), "--keys", path("K.npy"), "--values", path("V.npy"),
                "--grad-out", path("Q.npy"), "--dq", path("DQ.npy"), "--dk", path("DK.npy"));
        assertEquals(2, r.status());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("must have the output's shape (5, 2)") && r.err().contains("got (5, 3)"),
                r.err());
        assertEquals(Set.of("Q.npy", "K.npy", "V.npy", "G.npy", "L.npy"), files());
    }

    @Test
    void aNonFiniteGradientIsRefused() throws IOException {
        g.set(2, 1, Float.NaN);
        Npy.write(dir.resolve("G.npy"), g);
        CliRun r = CliRun.of(grad("--dq", path("DQ.npy")));
        assertEquals(2, r.status());
        assertTrue(r.err().contains("must be finite, got NaN at (2, 1)"), r.err());
        assertFalse(Files.exists(dir.resolve("DQ.npy")));
    }

    @Test
    void anOutputOnAnInputIsRefusedBeforeAnyWork() throws IOException {
        CliRun r = CliRun.of(grad("--dq", path("K.npy")));
        assertEquals(2, r.status());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertEquals(Set.of("Q.npy", "K.npy", "V.npy", "G.npy", "L.npy"), files());
    }

    @Test
    void sigmaWithoutTheGaussianIsRefused() {
        CliRun r = CliRun.of(grad("--dq", path("DQ.npy"), "--sigma", "2"));
        assertEquals(2, r.status());
        assertEquals("grad: --sigma applies to --scoring gaussian only", r.err().strip());
    }
}
