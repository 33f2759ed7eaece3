package dev.qkv.cli;

import dev.qkv.io.Npy;
import dev.qkv.io.NpyArray;
import dev.qkv.viz.ColorMap;
import dev.qkv.viz.Heatmap;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code qkv heatmap}: draws attention weights from a {@code .npy} file as a heatmap, PNG or SVG by the
 * output's extension. A 2-D array (queries, keys) is one panel; a 4-D array (rows, cols, queries, keys) a
 * grid of them, as d2l's {@code show_heatmaps} draws: (batch, heads, ...) weights of {@code qkv pool}, one
 * column per head titled "head h"; a 3-D array (batch, queries, keys) one panel per batch.
 */
@Command(
        name = "heatmap",
        description = "Draws attention weights (queries x keys) as a heatmap with a colour bar.")
final class HeatmapCommand implements Callable<Integer> {

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Option(names = "--weights", required = true, paramLabel = "W.npy",
            description = "float weights, 2-D (queries, keys), 3-D (batch, queries, keys: one row of panels per "
                    + "batch) or 4-D (batch, heads, queries, keys: a grid, columns titled 'head h' unless --title)")
    Path weights;

    @Option(names = "--out", required = true, paramLabel = "FILE.png|FILE.svg",
            description = "the picture to write; its extension picks the format")
    Path out;

    @Option(names = "--xlabel", defaultValue = "Keys", paramLabel = "TEXT",
            description = "label under the panels (default: ${DEFAULT-VALUE})")
    String xLabel;

    @Option(names = "--ylabel", defaultValue = "Queries", paramLabel = "TEXT",
            description = "label left of the panels (default: ${DEFAULT-VALUE})")
    String yLabel;

    @Option(names = "--title", paramLabel = "TEXT", description = "a title above each column of panels, in order")
    List<String> titles = new ArrayList<>();

    @Option(names = "--cmap", defaultValue = "reds", paramLabel = "reds|viridis",
            description = "colour map (default: ${DEFAULT-VALUE})")
    String colorMap;

    private enum Format { PNG, SVG }

    @Override
    public Integer call() throws IOException {
        Format format = format(out);
        ColorMap map = ColorMap.parse(colorMap);
        try (Arena arena = Arena.ofConfined(); AtomicOutputs outputs = new AtomicOutputs()) {
            NpyArray array = Npy.read(weights, arena);
            int[] s = array.shape();
            Heatmap heatmap = switch (array.rank()) {
                case 2 -> Heatmap.fromWeights(array.data());
                case 3 -> Heatmap.grid(s[0], 1, s[1], s[2], array.data());
                case 4 -> Heatmap.grid(s[0], s[1], s[2], s[3], array.data());
                default -> throw new CliException(weights + ": weights must be 2-D (queries, keys), 3-D (batch,"
                        + " queries, keys) or 4-D (batch, heads, queries, keys), got shape " + shape(s));
            };
            List<String> columnTitles = titles;
            if (titles.isEmpty() && array.rank() == 4) {
                columnTitles = IntStream.range(0, s[1]).mapToObj(h -> "head " + h).toList();
            }
            Heatmap drawn = heatmap.withXLabel(xLabel).withYLabel(yLabel).withTitles(columnTitles)
                    .withColorMap(map);
            outputs.write(out, format == Format.PNG ? drawn::writePng : drawn::writeSvg);
            outputs.commit();
        }
        return 0;
    }

    private static Format format(Path out) {
        String name = out.getFileName() == null ? "" : out.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".png")) {
            return Format.PNG;
        }
        if (name.endsWith(".svg")) {
            return Format.SVG;
        }
        throw new CliException("cannot tell the format of " + out + ": name it .png or .svg");
    }

    private static String shape(int[] shape) {
        return Arrays.stream(shape).mapToObj(Integer::toString)
                .collect(Collectors.joining(", ", "(", shape.length == 1 ? ",)" : ")"));
    }
}
