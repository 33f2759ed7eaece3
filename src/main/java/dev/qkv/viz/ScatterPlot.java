package dev.qkv.viz;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Point2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import javax.imageio.ImageIO;

/**
 * Points in the plane coloured by category, in a row of panels with axes of their own: database items as filled
 * dots, queries as rings, one legend of the categories' colours and the two markers on the right. Colours are
 * matplotlib's {@code tab10} cycle; axis limits the panel's data range with 5% margins; ticks on round steps.
 *
 * <p>Immutable and safe to share between threads; the arrays given are copied.
 */
public final class ScatterPlot {

    /** matplotlib's tab10 colours, category k in colour k mod 10. */
    static final int[] TAB10 = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f,
        0xbcbd22, 0x17becf};

    /**
     * One panel: points (x[i], y[i]) of category {@code category[i]}, drawn as a ring where {@code query[i]}.
     * Throws {@link IllegalArgumentException} if the arrays differ in length, a coordinate is not finite or a
     * category is negative.
     */
    public record Panel(String title, double[] x, double[] y, int[] category, boolean[] query) {
        /** Checks the panel as above, and copies its arrays. */
        public Panel {
            Objects.requireNonNull(title, "title");
            if (y.length != x.length || category.length != x.length || query.length != x.length) {
                throw new IllegalArgumentException("panel '" + title + "': x has " + x.length + " points, y "
                        + y.length + ", categories " + category.length + ", query flags " + query.length);
            }
            for (int i = 0; i < x.length; i++) {
                if (!Double.isFinite(x[i]) || !Double.isFinite(y[i])) {
                    throw new IllegalArgumentException("panel '" + title + "': point " + i + " is (" + x[i] + ", "
                            + y[i] + ")");
                }
                if (category[i] < 0) {
                    throw new IllegalArgumentException("panel '" + title + "': point " + i + " has category "
                            + category[i]);
                }
            }
            x = x.clone();
            y = y.clone();
            category = category.clone();
            query = query.clone();
        }
    }

    private static final int MARGIN = 10;
    private static final int GAP = 50;
    private static final int TICK = 4;
    private static final int TICK_PAD = 3;
    private static final int TITLE_PAD = 6;
    private static final int LEGEND_GAP = 16;
    private static final int LEGEND_PAD = 8;
    private static final int LEGEND_ROW = 18;
    private static final int LEGEND_SAMPLE = 16;
    private static final double MIN_TICK_SPACING = 50;
    private static final double RADIUS = 2.5;
    private static final int SIDE = 320;

    private final List<Panel> panels;
    private final List<String> categories;

    private ScatterPlot(List<Panel> panels, List<String> categories) {
        this.panels = panels;
        this.categories = categories;
    }

    /**
     * Panels side by side, each 320 × 320 pixels; {@code categories} names the categories in the legend.
     *
     * @throws IllegalArgumentException if there is no panel, or a point's category has no name
     */
    public static ScatterPlot of(List<Panel> panels, List<String> categories) {
        List<Panel> p = List.copyOf(panels);
        List<String> c = List.copyOf(categories);
        if (p.isEmpty()) {
            throw new IllegalArgumentException("a scatter plot needs at least one panel");
        }
        for (Panel panel : p) {
            for (int k : panel.category) {
                if (k >= c.size()) {
                    throw new IllegalArgumentException("panel '" + panel.title() + "' has category " + k + " but only "
                            + c.size() + " are named");
                }
            }
        }
        return new ScatterPlot(p, c);
    }

    /** The figure as an RGB image. */
    public BufferedImage toImage() {
        double widestY = 0;
        List<double[]> limits = new ArrayList<>();
        for (Panel panel : panels) {
            double[] lx = FitPlot.limits(panel.x);
            double[] ly = FitPlot.limits(panel.y);
            limits.add(new double[] {lx[0], lx[1], ly[0], ly[1]});
            for (Ticks.ValueTick t : Ticks.values(ly[0], ly[1], (int) (SIDE / MIN_TICK_SPACING))) {
                widestY = Math.max(widestY, Layout.textWidth(t.label(), Layout.TICK_FONT));
            }
        }
        int yTickSpace = (int) Math.ceil(widestY) + TICK_PAD + TICK + 1;
        int left = MARGIN + yTickSpace;
        int top = MARGIN + FitPlot.lineHeight(Layout.TITLE_FONT) + TITLE_PAD + 1;
        int legendRows = categories.size() + 2;
        double widestEntry = Layout.textWidth("database", Layout.TICK_FONT);
        for (String c : categories) {
            widestEntry = Math.max(widestEntry, Layout.textWidth(c, Layout.TICK_FONT));
        }
        int rowWidth = panels.size() * SIDE + (panels.size() - 1) * (GAP + yTickSpace);
        Rectangle legend = new Rectangle(left + rowWidth + 1 + LEGEND_GAP, top,
                2 * LEGEND_PAD + LEGEND_SAMPLE + LEGEND_PAD + (int) Math.ceil(widestEntry),
                2 * LEGEND_PAD + legendRows * LEGEND_ROW);
        int width = legend.x + legend.width + 1 + MARGIN;
        int height = top + Math.max(SIDE, legend.height) + 1 + TICK + TICK_PAD
                + FitPlot.lineHeight(Layout.TICK_FONT) + MARGIN;
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            for (int k = 0; k < panels.size(); k++) {
                Rectangle area = new Rectangle(left + k * (SIDE + GAP + yTickSpace), top, SIDE, SIDE);
                panel(g, panels.get(k), area, limits.get(k));
            }
            legend(g, legend);
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

    private static Point2D pixel(Rectangle area, double[] lim, double x, double y) {
        return new Point2D.Double(area.x + (x - lim[0]) / (lim[1] - lim[0]) * area.width,
                area.y + (lim[3] - y) / (lim[3] - lim[2]) * area.height);
    }

    private static void panel(Graphics2D g, Panel panel, Rectangle area, double[] lim) {
        Graphics2D clipped = (Graphics2D) g.create();
        try {
            clipped.clip(area);
            clipped.setStroke(new BasicStroke(1.2f));
            for (int pass = 0; pass < 2; pass++) { // the database first, the queries on top
                for (int i = 0; i < panel.x.length; i++) {
                    if (panel.query[i] != (pass == 1)) {
                        continue;
                    }
                    Shape dot = dot(pixel(area, lim, panel.x[i], panel.y[i]), panel.query[i] ? RADIUS + 1 : RADIUS);
                    int rgb = TAB10[panel.category[i] % TAB10.length];
                    if (panel.query[i]) {
                        clipped.setColor(new Color(rgb));
                        clipped.draw(dot);
                    } else {
                        clipped.setColor(new Color(rgb >> 16, rgb >> 8 & 0xff, rgb & 0xff, 150));
                        clipped.fill(dot);
                    }
                }
            }
        } finally {
            clipped.dispose();
        }
        FitPlot.frame(g, area);
        for (Ticks.ValueTick t : Ticks.values(lim[0], lim[1], (int) (SIDE / MIN_TICK_SPACING))) {
            int x = (int) Math.min(area.x + area.width - 1, Math.floor(pixel(area, lim, t.value(), lim[2]).getX()));
            FitPlot.box(g, x, area.y + area.height + 1, 1, TICK);
            FitPlot.label(g, t.label(), x + 0.5, area.y + area.height + 1 + TICK + TICK_PAD
                    + FitPlot.ascent(Layout.TICK_FONT), Layout.TICK_FONT, 0.5, false);
        }
        for (Ticks.ValueTick t : Ticks.values(lim[2], lim[3], (int) (SIDE / MIN_TICK_SPACING))) {
            int y = (int) Math.min(area.y + area.height - 1, Math.floor(pixel(area, lim, lim[0], t.value()).getY()));
            FitPlot.box(g, area.x - 1 - TICK, y, TICK, 1);
            FitPlot.label(g, t.label(), area.x - 1 - TICK - TICK_PAD, y + 0.5 + FitPlot.digitHeight() / 2,
                    Layout.TICK_FONT, 1, false);
        }
        FitPlot.label(g, panel.title(), area.getCenterX(), area.y - 1 - TITLE_PAD - FitPlot.descent(Layout.TITLE_FONT),
                Layout.TITLE_FONT, 0.5, false);
    }

    private void legend(Graphics2D g, Rectangle legend) {
        g.setColor(new Color(0xcccccc));
        g.drawRect(legend.x, legend.y, legend.width, legend.height);
        double sampleX = legend.x + LEGEND_PAD + LEGEND_SAMPLE / 2.0;
        Graphics2D s = (Graphics2D) g.create();
        try {
            s.setStroke(new BasicStroke(1.2f));
            for (int k = 0; k < categories.size() + 2; k++) {
                double centre = legend.y + LEGEND_PAD + (k + 0.5) * LEGEND_ROW;
                String text;
                if (k < categories.size()) {
                    s.setColor(new Color(TAB10[k % TAB10.length]));
                    s.fill(dot(new Point2D.Double(sampleX, centre), RADIUS + 1));
                    text = categories.get(k);
                } else {
                    s.setColor(new Color(0x555555));
                    Shape marker = dot(new Point2D.Double(sampleX, centre), RADIUS + 1);
                    if (k == categories.size()) {
                        s.fill(marker);
                        text = "database";
                    } else {
                        s.draw(marker);
                        text = "query";
                    }
                }
                FitPlot.label(g, text, legend.x + LEGEND_PAD + LEGEND_SAMPLE + LEGEND_PAD,
                        centre + FitPlot.digitHeight() / 2, Layout.TICK_FONT, 0, false);
            }
        } finally {
            s.dispose();
        }
    }

    private static Shape dot(Point2D centre, double radius) {
        return new Ellipse2D.Double(centre.getX() - radius, centre.getY() - radius, 2 * radius, 2 * radius);
    }
}
