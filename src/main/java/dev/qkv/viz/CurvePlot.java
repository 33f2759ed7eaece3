package dev.qkv.viz;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Point2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import javax.imageio.ImageIO;

/**
 * Named curves over one x axis in one panel, such as training losses against the step: solid lines in matplotlib's
 * tab10 colours, a legend on the right, axis labels, limits the data's range with 5% margins, ticks on round steps.
 *
 * <p>Immutable and safe to share between threads; the arrays given are copied.
 */
public final class CurvePlot {

    /**
     * One curve: y[i] at the plot's x[i]. Throws {@link IllegalArgumentException} if a value is not finite.
     */
    public record Curve(String name, double[] y) {
        /** Copies {@code y}. */
        public Curve {
            Objects.requireNonNull(name, "name");
            for (int i = 0; i < y.length; i++) {
                if (!Double.isFinite(y[i])) {
                    throw new IllegalArgumentException("curve '" + name + "' has a non-finite value " + y[i] + " at "
                            + i);
                }
            }
            y = y.clone();
        }
    }

    private static final int MARGIN = 10;
    private static final int TICK = 4;
    private static final int TICK_PAD = 3;
    private static final int LABEL_PAD = 5;
    private static final int TITLE_PAD = 6;
    private static final int LEGEND_GAP = 16;
    private static final int LEGEND_PAD = 8;
    private static final int LEGEND_SAMPLE = 28;
    private static final int LEGEND_ROW = 20;
    private static final double MIN_TICK_SPACING = 50;
    private static final int WIDTH = 420;
    private static final int HEIGHT = 260;

    private final String title;
    private final double[] x;
    private final List<Curve> curves;
    private final String xLabel;
    private final String yLabel;

    private CurvePlot(String title, double[] x, List<Curve> curves, String xLabel, String yLabel) {
        this.title = title;
        this.x = x;
        this.curves = curves;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
    }

    /**
     * The curves over {@code x}, in a 420 × 260 pixel panel titled {@code title}.
     *
     * @throws IllegalArgumentException if there is no curve or no x, a curve's length differs from x's, or an x is
     *     not finite
     */
    public static CurvePlot of(String title, double[] x, List<Curve> curves, String xLabel, String yLabel) {
        List<Curve> copy = List.copyOf(curves);
        if (copy.isEmpty() || x.length == 0) {
            throw new IllegalArgumentException("a curve plot needs at least one curve and one x");
        }
        for (double v : x) {
            if (!Double.isFinite(v)) {
                throw new IllegalArgumentException("x has a non-finite value " + v);
            }
        }
        for (Curve c : copy) {
            if (c.y.length != x.length) {
                throw new IllegalArgumentException("curve '" + c.name() + "' has " + c.y.length + " values, x has "
                        + x.length);
            }
        }
        return new CurvePlot(Objects.requireNonNull(title, "title"), x.clone(), copy,
                Objects.requireNonNull(xLabel, "xLabel"), Objects.requireNonNull(yLabel, "yLabel"));
    }

    /** The figure as an RGB image. */
    public BufferedImage toImage() {
        double[] lx = FitPlot.limits(x);
        double[][] ys = new double[curves.size()][];
        for (int k = 0; k < ys.length; k++) {
            ys[k] = curves.get(k).y;
        }
        double[] ly = FitPlot.limits(ys);
        List<Ticks.ValueTick> xTicks = Ticks.values(lx[0], lx[1], (int) (WIDTH / MIN_TICK_SPACING));
        List<Ticks.ValueTick> yTicks = Ticks.values(ly[0], ly[1], (int) (HEIGHT / MIN_TICK_SPACING));
        double widestY = 0;
        for (Ticks.ValueTick t : yTicks) {
            widestY = Math.max(widestY, Layout.textWidth(t.label(), Layout.TICK_FONT));
        }
        double widestEntry = 0;
        for (Curve c : curves) {
            widestEntry = Math.max(widestEntry, Layout.textWidth(c.name(), Layout.TICK_FONT));
        }
        int left = MARGIN + FitPlot.lineHeight(Layout.LABEL_FONT) + LABEL_PAD + (int) Math.ceil(widestY) + TICK_PAD
                + TICK + 1;
        int top = MARGIN + FitPlot.lineHeight(Layout.TITLE_FONT) + TITLE_PAD + 1;
        Rectangle area = new Rectangle(left, top, WIDTH, HEIGHT);
        Rectangle legend = new Rectangle(left + WIDTH + 1 + LEGEND_GAP, top,
                2 * LEGEND_PAD + LEGEND_SAMPLE + LEGEND_PAD + (int) Math.ceil(widestEntry),
                2 * LEGEND_PAD + curves.size() * LEGEND_ROW);
        int width = legend.x + legend.width + 1 + MARGIN;
        int height = top + Math.max(HEIGHT, legend.height) + 1 + TICK + TICK_PAD + FitPlot.lineHeight(Layout.TICK_FONT)
                + LABEL_PAD + FitPlot.lineHeight(Layout.LABEL_FONT) + MARGIN;
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            Graphics2D clipped = (Graphics2D) g.create();
            try {
                clipped.clip(area);
                clipped.setStroke(FitPlot.solid());
                for (int k = 0; k < curves.size(); k++) {
                    Path2D.Double path = new Path2D.Double();
                    for (int i = 0; i < x.length; i++) {
                        Point2D p = pixel(area, lx, ly, x[i], curves.get(k).y[i]);
                        if (i == 0) {
                            path.moveTo(p.getX(), p.getY());
                        } else {
                            path.lineTo(p.getX(), p.getY());
                        }
                    }
                    clipped.setColor(new Color(ScatterPlot.TAB10[k % ScatterPlot.TAB10.length]));
                    clipped.draw(path);
                }
            } finally {
                clipped.dispose();
            }
            FitPlot.frame(g, area);
            for (Ticks.ValueTick t : xTicks) {
                int px = (int) Math.min(area.x + area.width - 1, Math.floor(pixel(area, lx, ly, t.value(), ly[0]).getX()));
                FitPlot.box(g, px, area.y + area.height + 1, 1, TICK);
                FitPlot.label(g, t.label(), px + 0.5, area.y + area.height + 1 + TICK + TICK_PAD
                        + FitPlot.ascent(Layout.TICK_FONT), Layout.TICK_FONT, 0.5, false);
            }
            for (Ticks.ValueTick t : yTicks) {
                int py = (int) Math.min(area.y + area.height - 1, Math.floor(pixel(area, lx, ly, lx[0], t.value()).getY()));
                FitPlot.box(g, area.x - 1 - TICK, py, TICK, 1);
                FitPlot.label(g, t.label(), area.x - 1 - TICK - TICK_PAD, py + 0.5 + FitPlot.digitHeight() / 2,
                        Layout.TICK_FONT, 1, false);
            }
            double baseline = area.y + area.height + 1 + TICK + TICK_PAD + FitPlot.lineHeight(Layout.TICK_FONT)
                    + LABEL_PAD + FitPlot.ascent(Layout.LABEL_FONT);
            FitPlot.label(g, xLabel, area.getCenterX(), baseline, Layout.LABEL_FONT, 0.5, false);
            FitPlot.label(g, yLabel, MARGIN + FitPlot.ascent(Layout.LABEL_FONT), area.getCenterY(), Layout.LABEL_FONT,
                    0.5, true);
            FitPlot.label(g, title, area.getCenterX(), area.y - 1 - TITLE_PAD - FitPlot.descent(Layout.TITLE_FONT),
                    Layout.TITLE_FONT, 0.5, false);
            g.setColor(new Color(0xcccccc));
            g.drawRect(legend.x, legend.y, legend.width, legend.height);
            for (int k = 0; k < curves.size(); k++) {
                double centre = legend.y + LEGEND_PAD + (k + 0.5) * LEGEND_ROW;
                Graphics2D s = (Graphics2D) g.create();
                try {
                    s.setColor(new Color(ScatterPlot.TAB10[k % ScatterPlot.TAB10.length]));
                    s.setStroke(FitPlot.solid());
                    s.draw(new Line2D.Double(legend.x + LEGEND_PAD, centre, legend.x + LEGEND_PAD + LEGEND_SAMPLE,
                            centre));
                } finally {
                    s.dispose();
                }
                FitPlot.label(g, curves.get(k).name(), legend.x + LEGEND_PAD + LEGEND_SAMPLE + LEGEND_PAD,
                        centre + FitPlot.digitHeight() / 2, Layout.TICK_FONT, 0, false);
            }
        } finally {
            g.dispose();
        }
        return image;
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

    private static Point2D pixel(Rectangle area, double[] lx, double[] ly, double x, double y) {
        return new Point2D.Double(area.x + (x - lx[0]) / (lx[1] - lx[0]) * area.width,
                area.y + (ly[1] - y) / (ly[1] - ly[0]) * area.height);
    }
}
