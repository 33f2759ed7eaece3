package dev.qkv.viz;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Point2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import javax.imageio.ImageIO;

/**
 * Fits of a regression against the truth, the figures of d2l's "Attention Pooling by Similarity": a row of
 * panels, one per fit, each drawing the true function as a dashed curve, the training points as dots and
 * the fit as a solid curve over the same inputs, with one legend on the right. The panels share their axes
 * (like matplotlib's {@code sharey=True}: y tick labels on the left panel only); each has x ticks, an x
 * label and its fit's title above it. Axis limits are the data's range over every panel with 5% margins,
 * matplotlib's default; ticks fall on round steps.
 *
 * <p>Colours are matplotlib's: the fit in its first cycle colour (#1f77b4), the truth in {@code 'm'}
 * (#bf00bf), the training points in its second cycle colour (#ff7f0e) at half opacity, as d2l draws them.
 * Text is the JDK's sans-serif font, 12–14 px, antialiased.
 *
 * <p>Immutable and safe to share between threads; the arrays given are copied.
 */
public final class FitPlot {

    /** One panel: a fit's values at the plot's inputs, and the title drawn above it. */
    public record Fit(String title, double[] predictions) {
        /** Copies {@code predictions}. */
        public Fit {
            Objects.requireNonNull(title, "title");
            predictions = predictions.clone();
        }

        /** A copy of the predictions. */
        @Override
        public double[] predictions() {
            return predictions.clone();
        }
    }

    /** The default size of one panel's plotting area, in pixels: d2l's figsize (12, 3) over 4 panels. */
    public static final int DEFAULT_PANEL_WIDTH = 250;
    /** See {@link #DEFAULT_PANEL_WIDTH}. */
    public static final int DEFAULT_PANEL_HEIGHT = 200;

    static final int FIT_RGB = 0x1f77b4;
    static final int TRUTH_RGB = 0xbf00bf;
    static final int POINT_RGB = 0xff7f0e;

    private static final int MARGIN = 10;
    private static final int GAP = 24;
    private static final int TICK = 4;
    private static final int TICK_PAD = 3;
    private static final int LABEL_PAD = 5;
    private static final int TITLE_PAD = 6;
    private static final int LEGEND_GAP = 16;
    private static final int LEGEND_PAD = 8;
    private static final int LEGEND_SAMPLE = 28;
    private static final int LEGEND_ROW = 20;
    private static final double MIN_TICK_SPACING = 40;
    private static final double MARGIN_FRACTION = 0.05;
    private static final double POINT_RADIUS = 3.5;
    private static final List<String> LEGEND = List.of("prediction", "truth", "training data");

    private final double[] inputs;
    private final double[] truth;
    private final double[] trainingInputs;
    private final double[] trainingTargets;
    private final List<Fit> fits;
    private final String xLabel;
    private final String yLabel;
    private final int panelWidth;
    private final int panelHeight;

    private FitPlot(double[] inputs, double[] truth, double[] trainingInputs, double[] trainingTargets,
            List<Fit> fits, String xLabel, String yLabel, int panelWidth, int panelHeight) {
        this.inputs = inputs;
        this.truth = truth;
        this.trainingInputs = trainingInputs;
        this.trainingTargets = trainingTargets;
        this.fits = fits;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
        this.panelWidth = panelWidth;
        this.panelHeight = panelHeight;
    }

    /**
     * A row of panels, one per fit: the truth {@code truth[i]} and each fit's {@code predictions[i]} at
     * {@code inputs[i]}, drawn as curves in the order of the inputs, and the training points
     * ({@code trainingInputs[j]}, {@code trainingTargets[j]}) as dots. Labels "x" and "y", 250 × 200 pixel
     * panels.
     *
     * @throws IllegalArgumentException if there is no fit or no input, the arrays differ in length (naming
     *     both), or a value is NaN or infinite
     */
    public static FitPlot of(double[] inputs, double[] truth, double[] trainingInputs, double[] trainingTargets,
            List<Fit> fits) {
        List<Fit> copy = List.copyOf(fits);
        if (copy.isEmpty()) {
            throw new IllegalArgumentException("a fit plot needs at least one fit");
        }
        if (inputs.length == 0) {
            throw new IllegalArgumentException("a fit plot needs at least one input");
        }
        checkLengths("truth", truth.length, "inputs", inputs.length);
        checkLengths("training targets", trainingTargets.length, "training inputs", trainingInputs.length);
        checkFinite("inputs", inputs);
        checkFinite("truth", truth);
        checkFinite("training inputs", trainingInputs);
        checkFinite("training targets", trainingTargets);
        for (Fit fit : copy) {
            checkLengths("predictions of fit '" + fit.title() + "'", fit.predictions.length, "inputs", inputs.length);
            checkFinite("predictions of fit '" + fit.title() + "'", fit.predictions);
        }
        return new FitPlot(inputs.clone(), truth.clone(), trainingInputs.clone(), trainingTargets.clone(), copy,
                "x", "y", DEFAULT_PANEL_WIDTH, DEFAULT_PANEL_HEIGHT);
    }

    /** This plot with {@code label} under each panel; an empty label draws none. */
    public FitPlot withXLabel(String label) {
        return new FitPlot(inputs, truth, trainingInputs, trainingTargets, fits,
                Objects.requireNonNull(label, "label"), yLabel, panelWidth, panelHeight);
    }

    /** This plot with {@code label} left of the first panel; an empty label draws none. */
    public FitPlot withYLabel(String label) {
        return new FitPlot(inputs, truth, trainingInputs, trainingTargets, fits, xLabel,
                Objects.requireNonNull(label, "label"), panelWidth, panelHeight);
    }

    /**
     * This plot with each panel's plotting area {@code width × height} pixels.
     *
     * @throws IllegalArgumentException if either is not in 1..{@value Heatmap#MAX_PANEL_SIZE}
     */
    public FitPlot withPanelSize(int width, int height) {
        checkPanelSide("width", width);
        checkPanelSide("height", height);
        return new FitPlot(inputs, truth, trainingInputs, trainingTargets, fits, xLabel, yLabel, width, height);
    }

    /** The number of panels, one per fit. */
    public int panels() {
        return fits.size();
    }

    /** The width of the whole figure, in pixels. */
    public int width() {
        return new Frame().width;
    }

    /** The height of the whole figure, in pixels. */
    public int height() {
        return new Frame().height;
    }

    /** The figure as an RGB image. */
    public BufferedImage toImage() {
        return new Frame().paint();
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

    /** The plotting area of panel {@code index}, inside its frame; package-private for tests. */
    Rectangle plotArea(int index) {
        return new Frame().area(Objects.checkIndex(index, fits.size()));
    }

    /** Where the data point (x, y) falls in panel {@code index}; package-private for tests. */
    Point2D pixel(int index, double x, double y) {
        Frame frame = new Frame();
        return frame.pixel(frame.area(Objects.checkIndex(index, fits.size())), x, y);
    }

    /** The pixel geometry of the figure: axis limits, ticks, where the panels and the legend go. */
    private final class Frame {
        final double xLo;
        final double xHi;
        final double yLo;
        final double yHi;
        final List<Ticks.ValueTick> xTicks;
        final List<Ticks.ValueTick> yTicks;
        final int left;
        final int top;
        final int width;
        final int height;
        final Rectangle legend;

        Frame() {
            double[] x = limits(inputs, trainingInputs);
            double[][] ys = new double[fits.size() + 2][];
            ys[0] = truth;
            ys[1] = trainingTargets;
            for (int k = 0; k < fits.size(); k++) {
                ys[k + 2] = fits.get(k).predictions;
            }
            double[] y = limits(ys);
            xLo = x[0];
            xHi = x[1];
            yLo = y[0];
            yHi = y[1];
            xTicks = Ticks.values(xLo, xHi, Math.max(2, (int) (panelWidth / MIN_TICK_SPACING)));
            yTicks = Ticks.values(yLo, yHi, Math.max(2, (int) (panelHeight / MIN_TICK_SPACING)));

            double widestYTick = 0;
            for (Ticks.ValueTick t : yTicks) {
                widestYTick = Math.max(widestYTick, Layout.textWidth(t.label(), Layout.TICK_FONT));
            }
            double widestEntry = 0;
            for (String entry : LEGEND) {
                widestEntry = Math.max(widestEntry, Layout.textWidth(entry, Layout.TICK_FONT));
            }
            left = MARGIN + (yLabel.isEmpty() ? 0 : lineHeight(Layout.LABEL_FONT) + LABEL_PAD)
                    + (int) Math.ceil(widestYTick) + TICK_PAD + TICK + 1;
            top = MARGIN + lineHeight(Layout.TITLE_FONT) + TITLE_PAD + 1;
            int rowWidth = fits.size() * panelWidth + (fits.size() - 1) * GAP;
            int legendWidth = 2 * LEGEND_PAD + LEGEND_SAMPLE + LEGEND_PAD + (int) Math.ceil(widestEntry);
            int legendHeight = 2 * LEGEND_PAD + LEGEND.size() * LEGEND_ROW;
            legend = new Rectangle(left + rowWidth + 1 + LEGEND_GAP, top, legendWidth, legendHeight);
            width = legend.x + legend.width + 1 + MARGIN;
            int bottom = 1 + TICK + TICK_PAD + lineHeight(Layout.TICK_FONT)
                    + (xLabel.isEmpty() ? 0 : LABEL_PAD + lineHeight(Layout.LABEL_FONT)) + MARGIN;
            height = top + Math.max(panelHeight, legendHeight) + bottom;
            if ((long) width * height > Layout.MAX_PIXELS) {
                throw new IllegalArgumentException("a figure of " + width + " × " + height + " pixels is too"
                        + " large (at most " + Layout.MAX_PIXELS + " pixels); draw fewer or smaller panels");
            }
        }

        Rectangle area(int index) {
            return new Rectangle(left + index * (panelWidth + GAP), top, panelWidth, panelHeight);
        }

        Point2D pixel(Rectangle area, double x, double y) {
            return new Point2D.Double(area.x + (x - xLo) / (xHi - xLo) * area.width,
                    area.y + (yHi - y) / (yHi - yLo) * area.height);
        }

        BufferedImage paint() {
            BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = image.createGraphics();
            try {
                g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
                g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
                g.setRenderingHint(RenderingHints.KEY_FRACTIONALMETRICS, RenderingHints.VALUE_FRACTIONALMETRICS_ON);
                g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
                g.setColor(Color.WHITE);
                g.fillRect(0, 0, width, height);
                for (int k = 0; k < fits.size(); k++) {
                    panel(g, k);
                }
                legend(g);
            } finally {
                g.dispose();
            }
            return image;
        }

        private void panel(Graphics2D g, int index) {
            Rectangle area = area(index);
            Graphics2D clipped = (Graphics2D) g.create();
            try {
                clipped.clip(area);
                clipped.setColor(new Color(TRUTH_RGB));
                clipped.setStroke(dashed());
                clipped.draw(curve(area, truth));
                clipped.setColor(new Color(POINT_RGB >> 16, POINT_RGB >> 8 & 0xff, POINT_RGB & 0xff, 128));
                for (int j = 0; j < trainingInputs.length; j++) {
                    clipped.fill(dot(pixel(area, trainingInputs[j], trainingTargets[j])));
                }
                clipped.setColor(new Color(FIT_RGB));
                clipped.setStroke(solid());
                clipped.draw(curve(area, fits.get(index).predictions));
            } finally {
                clipped.dispose();
            }
            frame(g, area);
            for (Ticks.ValueTick t : xTicks) {
                int x = (int) Math.min(area.x + area.width - 1, Math.floor(pixel(area, t.value(), yLo).getX()));
                box(g, x, area.y + area.height + 1, 1, TICK);
                label(g, t.label(), x + 0.5, area.y + area.height + 1 + TICK + TICK_PAD + ascent(Layout.TICK_FONT),
                        Layout.TICK_FONT, 0.5, false);
            }
            for (Ticks.ValueTick t : yTicks) {
                int y = (int) Math.min(area.y + area.height - 1, Math.floor(pixel(area, xLo, t.value()).getY()));
                box(g, area.x - 1 - TICK, y, TICK, 1);
                if (index == 0) {
                    label(g, t.label(), area.x - 1 - TICK - TICK_PAD, y + 0.5 + digitHeight() / 2,
                            Layout.TICK_FONT, 1, false);
                }
            }
            if (!xLabel.isEmpty()) {
                double baseline = area.y + area.height + 1 + TICK + TICK_PAD + lineHeight(Layout.TICK_FONT)
                        + LABEL_PAD + ascent(Layout.LABEL_FONT);
                label(g, xLabel, area.getCenterX(), baseline, Layout.LABEL_FONT, 0.5, false);
            }
            if (index == 0 && !yLabel.isEmpty()) {
                label(g, yLabel, MARGIN + ascent(Layout.LABEL_FONT), area.getCenterY(), Layout.LABEL_FONT, 0.5, true);
            }
            label(g, fits.get(index).title(), area.getCenterX(),
                    area.y - 1 - TITLE_PAD - descent(Layout.TITLE_FONT), Layout.TITLE_FONT, 0.5, false);
        }

        private void legend(Graphics2D g) {
            g.setColor(new Color(0xcccccc));
            g.drawRect(legend.x, legend.y, legend.width, legend.height);
            double sampleX = legend.x + LEGEND_PAD;
            for (int k = 0; k < LEGEND.size(); k++) {
                double centre = legend.y + LEGEND_PAD + (k + 0.5) * LEGEND_ROW;
                Graphics2D sample = (Graphics2D) g.create();
                try {
                    switch (k) {
                        case 0 -> {
                            sample.setColor(new Color(FIT_RGB));
                            sample.setStroke(solid());
                            sample.draw(new Line2D.Double(sampleX, centre, sampleX + LEGEND_SAMPLE, centre));
                        }
                        case 1 -> {
                            sample.setColor(new Color(TRUTH_RGB));
                            sample.setStroke(dashed());
                            sample.draw(new Line2D.Double(sampleX, centre, sampleX + LEGEND_SAMPLE, centre));
                        }
                        default -> {
                            sample.setColor(new Color(POINT_RGB >> 16, POINT_RGB >> 8 & 0xff, POINT_RGB & 0xff, 128));
                            sample.fill(dot(new Point2D.Double(sampleX + LEGEND_SAMPLE / 2.0, centre)));
                        }
                    }
                } finally {
                    sample.dispose();
                }
                label(g, LEGEND.get(k), sampleX + LEGEND_SAMPLE + LEGEND_PAD, centre + digitHeight() / 2,
                        Layout.TICK_FONT, 0, false);
            }
        }

        private Shape curve(Rectangle area, double[] ys) {
            Integer[] order = new Integer[inputs.length];
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> Double.compare(inputs[a], inputs[b]));
            Path2D.Double path = new Path2D.Double();
            for (int k = 0; k < order.length; k++) {
                Point2D p = pixel(area, inputs[order[k]], ys[order[k]]);
                if (k == 0) {
                    path.moveTo(p.getX(), p.getY());
                } else {
                    path.lineTo(p.getX(), p.getY());
                }
            }
            return path;
        }
    }

    private static Shape dot(Point2D centre) {
        return new Ellipse2D.Double(centre.getX() - POINT_RADIUS, centre.getY() - POINT_RADIUS, 2 * POINT_RADIUS,
                2 * POINT_RADIUS);
    }

    /** matplotlib's default line width, 1.5 pt at 100 dpi: 2 pixels, so a flat line covers a whole row. */
    static BasicStroke solid() {
        return new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND);
    }

    /** matplotlib's {@code '--'}: dashes of 3.7 and gaps of 1.6 line widths. */
    private static BasicStroke dashed() {
        return new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, new float[] {7.4f, 3.2f}, 0f);
    }

    /** A one-pixel frame just outside {@code r}. */
    static void frame(Graphics2D g, Rectangle r) {
        box(g, r.x - 1, r.y - 1, r.width + 2, 1);
        box(g, r.x - 1, r.y + r.height, r.width + 2, 1);
        box(g, r.x - 1, r.y, 1, r.height);
        box(g, r.x + r.width, r.y, 1, r.height);
    }

    static void box(Graphics2D g, int x, int y, int w, int h) {
        g.setColor(new Color(Layout.INK));
        g.fillRect(x, y, w, h);
    }

    /** Text whose baseline passes through (x, y), {@code anchor} of the way along it (0 start, 1 end). */
    static void label(Graphics2D g, String text, double x, double y, float size, double anchor,
            boolean vertical) {
        Graphics2D t = (Graphics2D) g.create();
        try {
            t.setFont(Layout.FONT.deriveFont(size));
            t.setColor(new Color(Layout.INK));
            t.translate(x, y);
            if (vertical) {
                t.rotate(-Math.PI / 2);
            }
            t.drawString(text, (float) (-anchor * Layout.textWidth(text, size)), 0f);
        } finally {
            t.dispose();
        }
    }

    /** The smallest and largest of every array, widened by 5% of the span on each side. */
    static double[] limits(double[]... arrays) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (double[] a : arrays) {
            for (double v : a) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
        }
        double span = hi > lo ? hi - lo : Math.max(1, Math.abs(lo));
        return new double[] {lo - MARGIN_FRACTION * span, hi + MARGIN_FRACTION * span};
    }

    static double ascent(float size) {
        return Layout.FONT.deriveFont(size).getLineMetrics("0Ag", Layout.TEXT).getAscent();
    }

    static double descent(float size) {
        return Layout.FONT.deriveFont(size).getLineMetrics("0Ag", Layout.TEXT).getDescent();
    }

    static int lineHeight(float size) {
        return (int) Math.ceil(ascent(size) + descent(size));
    }

    static double digitHeight() {
        return Layout.FONT.deriveFont(Layout.TICK_FONT).createGlyphVector(Layout.TEXT, "0").getVisualBounds()
                .getHeight();
    }

    private static void checkLengths(String name, int length, String otherName, int otherLength) {
        if (length != otherLength) {
            throw new IllegalArgumentException(name + " has " + length + " values, " + otherName + " has "
                    + otherLength);
        }
    }

    private static void checkFinite(String name, double[] values) {
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                throw new IllegalArgumentException(name + " has a non-finite value " + values[i] + " at " + i);
            }
        }
    }

    private static void checkPanelSide(String name, int value) {
        if (value <= 0 || value > Heatmap.MAX_PANEL_SIZE) {
            throw new IllegalArgumentException("panel " + name + " must be 1.." + Heatmap.MAX_PANEL_SIZE
                    + " pixels, got " + value);
        }
    }
}
