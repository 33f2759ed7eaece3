package dev.qkv.viz;

import dev.qkv.tensor.Tensor;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import javax.imageio.ImageIO;

/**
 * Heatmaps of attention weights, the counterpart of d2l's {@code show_heatmaps}: a grid of panels, each a
 * queries × keys matrix with query 0 at the top and key 0 at the left, sharing their axes (x tick labels
 * and x label on the bottom row, y ones on the left column), an optional title above each column and one
 * colour bar on the right.
 *
 * <p><b>Colours.</b> All panels share one value range, so the single colour bar is true for every panel
 * (d2l autoscales each panel and shows the last one's bar). By default the range is the minimum to the
 * maximum over all panels; if every value is the same {@code v}, it is [v, v + max(1, |v|)], drawn in the
 * bottom colour. Values outside a range set by {@link #withRange} take the end colours.
 *
 * <p><b>Downsampling.</b> A panel is drawn at most as many cells across and down as it has pixels
 * ({@link #withPanelSize}, 250 × 250 by default); a larger matrix is split into that many blocks of nearly
 * equal size (see {@code Cells}) and each block is drawn with its <em>maximum</em>. The maximum, not the
 * mean, because attention weights are mostly near zero with a few peaks: a one-hot row stays visible at
 * any size, where a mean would dilute it by the block's area. Cells are stretched to fill the panel, like
 * matplotlib's {@code imshow(aspect='auto')}.
 *
 * <p><b>Outputs.</b> {@link #toImage()} paints with Java2D, antialiased text in the JDK's sans-serif font
 * (12–14 px); {@link #toSvg()} writes the same layout as SVG text, with one {@code <rect>} per run of
 * equal-coloured cells in a row when a panel draws at most {@value #SVG_MAX_RECT_CELLS} cells (200 × 200),
 * and otherwise one embedded PNG image per panel, one pixel per cell, so an SVG never holds more than that
 * many rectangles per panel. Both throw {@link IllegalArgumentException} for a figure of more than 2^28
 * pixels.
 *
 * <p>A heatmap is immutable and safe to share between threads. It reads its tensors, without copying
 * them, when it is built (to check the values and find the range) and again at each rendering, one row at
 * a time; they must stay open and unchanged meanwhile.
 */
public final class Heatmap {

    /** The default size of one panel, in pixels: matplotlib's figsize (2.5, 2.5) at 100 dpi. */
    public static final int DEFAULT_PANEL_SIZE = 250;
    /** The largest panel side accepted, in pixels. */
    public static final int MAX_PANEL_SIZE = 4096;
    /** A panel drawing at most this many cells is SVG rectangles; a larger one an embedded PNG. */
    public static final int SVG_MAX_RECT_CELLS = 200 * 200;

    private final Tensor[][] panels;
    private final int queries;
    private final int keys;
    private final String xLabel;
    private final String yLabel;
    private final List<String> titles;
    private final ColorMap colorMap;
    private final double min;
    private final double max;
    private final int panelWidth;
    private final int panelHeight;

    private Heatmap(Tensor[][] panels, int queries, int keys, String xLabel, String yLabel, List<String> titles,
            ColorMap colorMap, double min, double max, int panelWidth, int panelHeight) {
        this.panels = panels;
        this.queries = queries;
        this.keys = keys;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
        this.titles = titles;
        this.colorMap = colorMap;
        this.min = min;
        this.max = max;
        this.panelWidth = panelWidth;
        this.panelHeight = panelHeight;
    }

    /**
     * A heatmap of one queries × keys weight matrix, with the defaults: labels "Keys" and "Queries", no
     * title, {@link ColorMap#REDS}, the data's range, 250 × 250 pixels.
     *
     * @throws IllegalArgumentException if {@code weights} is not a matrix with at least one row and column,
     *     or holds a NaN or infinity (naming where)
     */
    public static Heatmap fromWeights(Tensor weights) {
        return of(new Tensor[][] {{weights}});
    }

    /**
     * A heatmap of a rows × cols grid of panels, from a 4-D array (rows, cols, n, m) flattened as
     * {@code .npy} files are read: {@code data} is (rows·cols·n) × m, and panel (i, j) is its rows
     * {@code (i·cols + j)·n} to {@code (i·cols + j + 1)·n}, viewed without copying.
     *
     * @throws IllegalArgumentException if a dimension is not positive, {@code data} has another shape, or
     *     holds a NaN or infinity
     */
    public static Heatmap grid(int rows, int cols, int n, int m, Tensor data) {
        Objects.requireNonNull(data, "data");
        checkPositive("rows", rows);
        checkPositive("cols", cols);
        checkPositive("n", n);
        checkPositive("m", m);
        long needed = (long) rows * cols * n;
        if (data.rank() != 2 || data.rows() != needed || data.cols() != m) {
            throw new IllegalArgumentException("a grid of shape (" + rows + ", " + cols + ", " + n + ", " + m
                    + ") needs data of shape (" + needed + ", " + m + "), got " + data.shapeString());
        }
        Tensor[][] panels = new Tensor[rows][cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                int first = (i * cols + j) * n;
                panels[i][j] = data.rows(first, first + n);
            }
        }
        return of(panels);
    }

    /**
     * A heatmap of a grid of panels: {@code panels[i][j]} is the matrix in row i, column j. The grid is
     * copied; the tensors are not.
     *
     * @throws IllegalArgumentException if the grid is empty or ragged, a panel is not a matrix of at least
     *     one row and column, panels differ in shape (naming both), or a value is NaN or infinite
     */
    public static Heatmap of(Tensor[][] panels) {
        Objects.requireNonNull(panels, "panels");
        if (panels.length == 0 || panels[0] == null || panels[0].length == 0) {
            throw new IllegalArgumentException("a heatmap needs at least one panel");
        }
        int cols = panels[0].length;
        Tensor[][] grid = new Tensor[panels.length][];
        for (int i = 0; i < panels.length; i++) {
            if (panels[i] == null || panels[i].length != cols) {
                throw new IllegalArgumentException("row " + i + " of the grid has "
                        + (panels[i] == null ? "no array" : panels[i].length + " panels") + "; row 0 has " + cols);
            }
            grid[i] = panels[i].clone();
        }
        Tensor first = checkMatrix(grid, 0, 0);
        float dataMin = Float.POSITIVE_INFINITY;
        float dataMax = Float.NEGATIVE_INFINITY;
        float[] row = new float[first.cols()];
        for (int i = 0; i < grid.length; i++) {
            for (int j = 0; j < cols; j++) {
                Tensor panel = checkMatrix(grid, i, j);
                if (panel.rows() != first.rows() || panel.cols() != first.cols()) {
                    throw new IllegalArgumentException("panel (" + i + ", " + j + ") has shape "
                            + panel.shapeString() + ", panel (0, 0) has shape " + first.shapeString());
                }
                for (int q = 0; q < panel.rows(); q++) {
                    Cells.readRow(panel, q, row);
                    for (int k = 0; k < row.length; k++) {
                        float v = row[k];
                        if (!Float.isFinite(v)) {
                            throw new IllegalArgumentException("weight " + v + " at panel (" + i + ", " + j
                                    + "), query " + q + ", key " + k + ": a heatmap needs finite values");
                        }
                        dataMin = Math.min(dataMin, v);
                        dataMax = Math.max(dataMax, v);
                    }
                }
            }
        }
        double[] range = autoRange(dataMin, dataMax);
        return new Heatmap(grid, first.rows(), first.cols(), "Keys", "Queries", List.of(),
                ColorMap.REDS, range[0], range[1], DEFAULT_PANEL_SIZE, DEFAULT_PANEL_SIZE);
    }

    /** This heatmap with {@code label} under the bottom row of panels; an empty label draws none. */
    public Heatmap withXLabel(String label) {
        return new Heatmap(panels, queries, keys, Objects.requireNonNull(label, "label"), yLabel,
                titles, colorMap, min, max, panelWidth, panelHeight);
    }

    /** This heatmap with {@code label} beside the left column of panels; an empty label draws none. */
    public Heatmap withYLabel(String label) {
        return new Heatmap(panels, queries, keys, xLabel, Objects.requireNonNull(label, "label"),
                titles, colorMap, min, max, panelWidth, panelHeight);
    }

    /**
     * This heatmap with a title above each column of panels; an empty list draws none.
     *
     * @throws IllegalArgumentException if the list is neither empty nor one title per column
     */
    public Heatmap withTitles(List<String> titles) {
        List<String> copy = List.copyOf(titles);
        if (!copy.isEmpty() && copy.size() != cols()) {
            throw new IllegalArgumentException(copy.size() + " titles for " + cols() + " columns of panels");
        }
        return new Heatmap(panels, queries, keys, xLabel, yLabel, copy, colorMap, min, max,
                panelWidth, panelHeight);
    }

    /** This heatmap drawn with {@code map}. */
    public Heatmap withColorMap(ColorMap map) {
        return new Heatmap(panels, queries, keys, xLabel, yLabel, titles,
                Objects.requireNonNull(map, "map"), min, max, panelWidth, panelHeight);
    }

    /**
     * This heatmap with values from {@code min} (bottom colour) to {@code max} (top colour).
     *
     * @throws IllegalArgumentException if either is not finite or {@code min >= max}
     */
    public Heatmap withRange(double min, double max) {
        if (!Double.isFinite(min) || !Double.isFinite(max) || !(min < max) || !Double.isFinite(max - min)) {
            throw new IllegalArgumentException("value range must be finite with min < max, got [" + min + ", "
                    + max + "]");
        }
        return new Heatmap(panels, queries, keys, xLabel, yLabel, titles, colorMap, min, max,
                panelWidth, panelHeight);
    }

    /**
     * This heatmap with each panel {@code width × height} pixels.
     *
     * @throws IllegalArgumentException if either is not in 1..{@value #MAX_PANEL_SIZE}
     */
    public Heatmap withPanelSize(int width, int height) {
        checkPanelSide("width", width);
        checkPanelSide("height", height);
        return new Heatmap(panels, queries, keys, xLabel, yLabel, titles, colorMap, min, max,
                width, height);
    }

    /** The number of rows of panels. */
    public int rows() {
        return panels.length;
    }

    /** The number of columns of panels. */
    public int cols() {
        return panels[0].length;
    }

    /** The matrix drawn in panel (row, col). */
    public Tensor panel(int row, int col) {
        return panels[Objects.checkIndex(row, rows())][Objects.checkIndex(col, cols())];
    }

    /** The number of queries: rows of each panel's matrix. */
    public int queries() {
        return queries;
    }

    /** The number of keys: columns of each panel's matrix. */
    public int keys() {
        return keys;
    }

    /** The label under the bottom row; empty for none. */
    public String xLabel() {
        return xLabel;
    }

    /** The label beside the left column; empty for none. */
    public String yLabel() {
        return yLabel;
    }

    /** The column titles, or an empty list. */
    public List<String> titles() {
        return titles;
    }

    /** The colour map the cells are drawn with. */
    public ColorMap colorMap() {
        return colorMap;
    }

    /** The value drawn in the bottom colour. */
    public double min() {
        return min;
    }

    /** The value drawn in the top colour. */
    public double max() {
        return max;
    }

    /** The width of one panel, in pixels. */
    public int panelWidth() {
        return panelWidth;
    }

    /** The height of one panel, in pixels. */
    public int panelHeight() {
        return panelHeight;
    }

    /** The figure as an RGB image. */
    public BufferedImage toImage() {
        return PngPainter.paint(layout());
    }

    /**
     * Writes the figure to {@code file} as PNG, replacing it if it exists.
     *
     * @throws IOException if the file cannot be written
     */
    public void writePng(Path file) throws IOException {
        BufferedImage image = toImage();
        try (OutputStream out = Files.newOutputStream(file)) {
            if (!ImageIO.write(image, "png", out)) {
                throw new IOException("this JDK has no PNG writer");
            }
        }
    }

    /** The figure as an SVG document. */
    public String toSvg() {
        return SvgWriter.write(layout());
    }

    /**
     * Writes the figure to {@code file} as SVG in UTF-8, replacing it if it exists.
     *
     * @throws IOException if the file cannot be written
     */
    public void writeSvg(Path file) throws IOException {
        Files.writeString(file, toSvg(), StandardCharsets.UTF_8);
    }

    /** Where everything goes; package-private so tests can find the pixels of a cell. */
    Layout layout() {
        return new Layout(this);
    }

    private static Tensor checkMatrix(Tensor[][] grid, int i, int j) {
        Tensor panel = grid[i][j];
        if (panel == null) {
            throw new IllegalArgumentException("panel (" + i + ", " + j + ") is null");
        }
        if (panel.rank() != 2 || panel.rows() == 0 || panel.cols() == 0) {
            throw new IllegalArgumentException("panel (" + i + ", " + j + ") has shape " + panel.shapeString()
                    + "; a heatmap needs a matrix of at least one query and one key");
        }
        return panel;
    }

    private static double[] autoRange(float lo, float hi) {
        return lo < hi ? new double[] {lo, hi} : new double[] {lo, lo + Math.max(1.0, Math.abs((double) lo))};
    }

    private static void checkPositive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + " must be positive, got " + value);
        }
    }

    private static void checkPanelSide(String name, int value) {
        if (value <= 0 || value > MAX_PANEL_SIZE) {
            throw new IllegalArgumentException("panel " + name + " must be 1.." + MAX_PANEL_SIZE + " pixels, got "
                    + value);
        }
    }
}
