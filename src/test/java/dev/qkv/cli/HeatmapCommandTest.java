package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HeatmapCommandTest {

    @TempDir
    Path dir;

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    /** Writes a version 1.0 {@code .npy} file of little-endian float32 values in C order. */
    private Path npy(String name, float[] values, int... shape) throws IOException {
        String dims = Arrays.stream(shape).mapToObj(Integer::toString)
                .collect(Collectors.joining(", ", "(", shape.length == 1 ? ",)" : ")"));
        StringBuilder header = new StringBuilder("{'descr': '<f4', 'fortran_order': False, 'shape': " + dims + ", }");
        while ((10 + header.length() + 1) % 64 != 0) {
            header.append(' ');
        }
        header.append('\n');
        ByteBuffer buffer = ByteBuffer.allocate(10 + header.length() + 4 * values.length)
                .order(ByteOrder.LITTLE_ENDIAN);
        buffer.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        buffer.putShort((short) header.length()).put(header.toString().getBytes(StandardCharsets.US_ASCII));
        for (float v : values) {
            buffer.putFloat(v);
        }
        Path file = dir.resolve(name);
        Files.write(file, buffer.array());
        return file;
    }

    private static float[] identity(int panels, int n) {
        float[] values = new float[panels * n * n];
        for (int p = 0; p < panels; p++) {
            for (int i = 0; i < n; i++) {
                values[(p * n + i) * n + i] = 1f;
            }
        }
        return values;
    }

    private List<String> files() throws IOException {
        try (Stream<Path> list = Files.list(dir)) {
            return list.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private void assertRefused(int status, String message) throws IOException {
        assertEquals(Main.EXIT_BAD_INPUT, status, err::toString);
        String stderr = err.toString().strip();
        assertFalse(stderr.contains("\n"), "one line on stderr: " + stderr);
        assertTrue(stderr.contains(message), stderr);
        assertEquals(List.of("w.npy"), files(), "no output and no temporary file left");
    }

    @Test
    void twoDimensionalWeightsBecomeAPng() throws IOException {
        Path weights = npy("w.npy", identity(1, 10), 10, 10);
        Path png = dir.resolve("w.png");
        assertEquals(0, run("heatmap", "--weights", weights.toString(), "--out", png.toString()), err::toString);
        BufferedImage image = ImageIO.read(png.toFile());
        assertNotNull(image);
        assertTrue(image.getWidth() > 250 && image.getHeight() > 250);
        assertEquals("", err.toString());
    }

    @Test
    void fourDimensionalWeightsBecomeAGridWithTitlesInSvg() throws IOException {
        Path weights = npy("w.npy", identity(6, 4), 2, 3, 4, 4);
        Path svg = dir.resolve("w.SVG");
        int status = run("heatmap", "--weights", weights.toString(), "--out", svg.toString(), "--title", "Head 1",
                "--title", "Head 2", "--title", "Head <3>", "--xlabel", "Key positions", "--cmap", "Viridis");
        assertEquals(0, status, err::toString);
        String text = Files.readString(svg);
        assertTrue(text.contains(">Head &lt;3&gt;</text>"), text);
        assertTrue(text.contains(">Key positions</text>"));
        assertTrue(text.contains(">Queries</text>"));
        assertTrue(text.contains("#fde725"), "viridis' top colour");
    }

    @Test
    void anUnknownExtensionIsRefused() throws IOException {
        Path weights = npy("w.npy", identity(1, 3), 3, 3);
        assertRefused(run("heatmap", "--weights", weights.toString(), "--out", dir.resolve("w.jpg").toString()),
                "cannot tell the format of");
    }

    @Test
    void weightsOfOtherRanksAreRefused() throws IOException {
        Path weights = npy("w.npy", new float[24], 1, 2, 3, 1, 4);
        assertRefused(run("heatmap", "--weights", weights.toString(), "--out", dir.resolve("w.png").toString()),
                "weights must be 2-D (queries, keys), 3-D (batch, queries, keys) or 4-D (batch, heads, queries, keys),"
                + " got shape (1, 2, 3, 1, 4)");
        err.getBuffer().setLength(0);
        npy("w.npy", new float[5], 5);
        assertRefused(run("heatmap", "--weights", weights.toString(), "--out", dir.resolve("w.png").toString()),
                "got shape (5,)");
    }

    @Test
    void aMissingFileIsRefused() throws IOException {
        npy("w.npy", identity(1, 3), 3, 3);
        assertRefused(run("heatmap", "--weights", dir.resolve("nope.npy").toString(), "--out",
                dir.resolve("w.png").toString()), "no such file");
    }

    @Test
    void anUnknownColourMapIsRefusedListingTheChoices() throws IOException {
        Path weights = npy("w.npy", identity(1, 3), 3, 3);
        assertRefused(run("heatmap", "--weights", weights.toString(), "--out", dir.resolve("w.png").toString(),
                "--cmap", "jet"), "unknown colour map 'jet'; choose one of reds, viridis");
    }

    @Test
    void aWrongNumberOfTitlesIsRefused() throws IOException {
        Path weights = npy("w.npy", identity(2, 3), 1, 2, 3, 3);
        assertRefused(run("heatmap", "--weights", weights.toString(), "--out", dir.resolve("w.svg").toString(),
                "--title", "only one"), "1 titles for 2 columns of panels");
    }

    @Test
    void aFailedRunKeepsAnExistingOutput() throws IOException {
        float[] values = identity(1, 3);
        values[4] = Float.NaN;
        Path weights = npy("w.npy", values, 3, 3);
        Path png = dir.resolve("w.png");
        Files.writeString(png, "old");
        int status = run("heatmap", "--weights", weights.toString(), "--out", png.toString());
        assertEquals(Main.EXIT_BAD_INPUT, status);
        assertTrue(err.toString().contains("weight NaN at panel (0, 0), query 1, key 1"), err::toString);
        assertEquals("old", Files.readString(png));
        assertEquals(List.of("w.npy", "w.png"), files());
    }
}
