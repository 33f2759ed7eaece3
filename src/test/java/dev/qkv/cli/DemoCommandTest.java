package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.SmoothingKernel;
import dev.qkv.cli.KernelRegressionDemo.Data;
import dev.qkv.cli.KernelRegressionDemo.Fit;
import dev.qkv.viz.Heatmap;
import dev.qkv.viz.HeatmapPixels;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DemoCommandTest {

    @TempDir
    Path dir;

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();
    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void close() {
        arena.close();
    }

    private int run(String... args) {
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    private static BufferedImage read(Path file) throws IOException {
        assertTrue(Files.isRegularFile(file), file + " was written");
        BufferedImage image = ImageIO.read(file.toFile());
        assertNotNull(image, "ImageIO decodes " + file);
        return image;
    }

    private static void assertSameSize(BufferedImage expected, BufferedImage actual, String name) {
        assertEquals(expected.getWidth(), actual.getWidth(), name + " width");
        assertEquals(expected.getHeight(), actual.getHeight(), name + " height");
    }

    @Test
    void theLookupDecodesTheAnswerFromTheDatabaseByPooling() {
        assertEquals("query \"Li\" -> weights [0.000, 0.000, 1.000, 0.000, 0.000, 0.000] -> \"Mu\" (the output is"
                + " value row 2 exactly)", DemoCommand.lookup(arena, "Li", DemoCommand.SURNAMES, DemoCommand.FIRST_NAMES));
        assertEquals("query \"Li\" -> weights [0.000, 1.000, 0.000, 0.000] -> \"Lin\" (the output is value row 1"
                + " exactly)", DemoCommand.lookup(arena, "Li", DemoCommand.OTHER_SURNAMES, DemoCommand.OTHER_FIRST_NAMES));
    }

    @Test
    void demoTellsTheStoryAndWritesEveryPicture() throws IOException {
        int status = run("demo", "--out", dir.toString());
        assertEquals(0, status, err::toString);
        assertEquals("", err.toString());
        String story = out.toString();
        assertTrue(story.contains("query \"Li\" -> weights [0.000, 0.000, 1.000, 0.000, 0.000, 0.000] -> \"Mu\""),
                story);
        assertTrue(story.contains("query \"Li\" -> weights [0.000, 1.000, 0.000, 0.000] -> \"Lin\""), story);
        assertTrue(story.contains("the mean of the values (1/6 of each first name), exactly"), story);
        assertTrue(story.contains("4. Multi-head attention: 4 heads"), story);

        Data data = KernelRegressionDemo.data();
        List<Fit> kernels = KernelRegressionDemo.kernels(arena, data);
        List<Fit> widths = KernelRegressionDemo.widths(arena, data);
        Heatmap identity = DemoCommand.identity(arena);
        Map<String, BufferedImage> expected = Map.of(
                DemoCommand.IDENTITY, identity.toImage(),
                DemoCommand.KERNEL_FITS, KernelRegressionDemo.plot(data, kernels).toImage(),
                DemoCommand.KERNEL_WEIGHTS, KernelRegressionDemo.weights(kernels).toImage(),
                DemoCommand.WIDTH_FITS, KernelRegressionDemo.plot(data, widths).toImage(),
                DemoCommand.WIDTH_WEIGHTS, KernelRegressionDemo.weights(widths).toImage(),
                DemoCommand.HEAD_WEIGHTS, HeadsDemo.heatmap(HeadsDemo.run(arena, data)).toImage());
        for (Map.Entry<String, BufferedImage> e : expected.entrySet()) {
            Path file = dir.resolve(e.getKey());
            assertSameSize(e.getValue(), read(file), e.getKey());
            assertTrue(story.contains(file.toString()), "the story names " + file);
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(expected.keySet(), files.map(p -> p.getFileName().toString())
                    .collect(Collectors.toSet()), "the pictures and nothing else");
        }

        BufferedImage eye = read(dir.resolve(DemoCommand.IDENTITY));
        for (int i = 0; i < 10; i++) {
            for (int j = 0; j < 10; j++) {
                int colour = identity.colorMap().rgb(i == j ? 1 : 0);
                assertEquals(colour, HeatmapPixels.cell(eye, identity, 0, 0, i, j), "identity cell (" + i + ", " + j + ")");
            }
        }
    }

    @Test
    void theStoryPrintsEachFitsErrorAgainstTheTruth() {
        assertEquals(0, run("demo", "--out", dir.toString()), err::toString);
        Data data = KernelRegressionDemo.data();
        for (Fit fit : Stream.concat(KernelRegressionDemo.kernels(arena, data).stream(),
                KernelRegressionDemo.widths(arena, data).stream()).toList()) {
            String row = String.format(Locale.ROOT, "%-13s %-7s %.3f", fit.regression().kernel().displayName(),
                    KernelRegressionDemo.number(fit.regression().sigma()), fit.meanSquaredError());
            assertTrue(out.toString().contains(row), "the story shows " + row);
        }
    }

    /** The constant kernel predicts the mean of the training targets everywhere; σ = 1 does better than that. */
    @Test
    void theGaussianFitBeatsTheConstantKernelsMean() {
        Data data = KernelRegressionDemo.data();
        Map<SmoothingKernel, Fit> fits = KernelRegressionDemo.kernels(arena, data).stream()
                .collect(Collectors.toMap(f -> f.regression().kernel(), Function.identity()));
        double mean = 0;
        for (double y : data.trainingTargets()) {
            mean += y / data.trainingTargets().length;
        }
        for (double p : fits.get(SmoothingKernel.CONSTANT).predictions()) {
            assertEquals(mean, p, 1e-5, "the constant kernel predicts the mean");
        }
        assertTrue(fits.get(SmoothingKernel.GAUSSIAN).meanSquaredError()
                < fits.get(SmoothingKernel.CONSTANT).meanSquaredError());
    }

    @Test
    void aDirThatIsAFileIsRefusedWithOneLine() throws IOException {
        Path file = Files.writeString(dir.resolve("not-a-dir"), "x");
        assertEquals(Main.EXIT_BAD_INPUT, run("demo", "--out", file.toString()));
        String stderr = err.toString().strip();
        assertFalse(stderr.contains("\n"), "one line: " + stderr);
        assertTrue(stderr.contains("it is a file, not a directory"), stderr);
        assertEquals("", out.toString(), "nothing told before the refusal");
        assertEquals(Main.EXIT_BAD_INPUT, run("demo", "--out", file.resolve("sub").toString()));
        assertTrue(err.toString().strip().lines().skip(1).findFirst().orElseThrow().contains("cannot create directory"),
                err.toString());
    }

    @Test
    void aMissingDirIsCreatedWithItsParents() throws IOException {
        Path nested = dir.resolve("a").resolve("b");
        assertEquals(0, run("demo", "--out", nested.toString()), err::toString);
        read(nested.resolve(DemoCommand.IDENTITY));
    }
}
