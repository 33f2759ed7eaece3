package dev.qkv.viz;

import dev.qkv.viz.Mark.Anchor;
import java.awt.Font;
import java.awt.Rectangle;
import java.awt.font.FontRenderContext;
import java.awt.font.LineMetrics;
import java.util.ArrayList;
import java.util.List;

/**
 * Where each part of a heatmap figure goes, in pixels, measured with the fonts both outputs use: margins,
 * panels, ticks, labels, titles and the colour bar. Panels are laid out left to right and top to bottom
 * with a small gap; the colour bar is 60% of the grid's height (matplotlib's {@code shrink=0.6}), centred
 * beside it.
 */
final class Layout {

    static final float TICK_FONT = 12f;
    static final float LABEL_FONT = 13f;
    static final float TITLE_FONT = 14f;
    /** Text is measured and drawn antialiased with fractional metrics, so widths agree across outputs. */
    static final FontRenderContext TEXT = new FontRenderContext(null, true, true);
    static final Font FONT = new Font(Font.SANS_SERIF, Font.PLAIN, 1);
    static final int INK = 0x000000;

    /** The largest figure drawn, in pixels: a 16384 × 16384 RGB image is already 1 GiB. */
    static final long MAX_PIXELS = 1L << 28;

    private static final int MARGIN = 10;
    private static final int GAP = 14;
    private static final int TICK = 4;
    private static final int TICK_PAD = 3;
    private static final int LABEL_PAD = 5;
    private static final int TITLE_PAD = 6;
    private static final int BAR_GAP = 20;
    private static final int BAR_WIDTH = 14;
    private static final double MIN_TICK_SPACING = 40;
    private static final double MIN_BAR_TICK_SPACING = 25;
    private static final int MAX_BAR_TICKS = 6;

    private final Heatmap heatmap;
    private final int[] xTicks;
    private final int[] yTicks;
    private final List<Ticks.ValueTick> barTicks;
    private final int left;
    private final int top;
    private final int width;
    private final int height;
    private final Rectangle colorBar;

    Layout(Heatmap heatmap) {
        this.heatmap = heatmap;
        int pw = heatmap.panelWidth();
        int ph = heatmap.panelHeight();
        double widestKey = textWidth(Integer.toString(heatmap.keys() - 1), TICK_FONT);
        xTicks = Ticks.indices(heatmap.keys(), pw, Math.max(MIN_TICK_SPACING, widestKey + 10));
        yTicks = Ticks.indices(heatmap.queries(), ph, MIN_TICK_SPACING);

        int gridWidth = heatmap.cols() * pw + (heatmap.cols() - 1) * GAP;
        int gridHeight = heatmap.rows() * ph + (heatmap.rows() - 1) * GAP;
        int barHeight = Math.max(1, (int) Math.round(0.6 * gridHeight));
        barTicks = Ticks.values(heatmap.min(), heatmap.max(),
                Math.clamp((int) (barHeight / MIN_BAR_TICK_SPACING), 2, MAX_BAR_TICKS));

        double widestQuery = 0;
        for (int q : yTicks) {
            widestQuery = Math.max(widestQuery, textWidth(Integer.toString(q), TICK_FONT));
        }
        double widestBarLabel = 0;
        for (Ticks.ValueTick t : barTicks) {
            widestBarLabel = Math.max(widestBarLabel, textWidth(t.label(), TICK_FONT));
        }
        left = MARGIN + (heatmap.yLabel().isEmpty() ? 0 : lineHeight(LABEL_FONT) + LABEL_PAD)
                + (int) Math.ceil(widestQuery) + TICK_PAD + TICK + 1;
        top = MARGIN + (heatmap.titles().isEmpty() ? 0 : lineHeight(TITLE_FONT) + TITLE_PAD) + 1;
        int bottom = 1 + TICK + TICK_PAD + lineHeight(TICK_FONT)
                + (heatmap.xLabel().isEmpty() ? 0 : LABEL_PAD + lineHeight(LABEL_FONT)) + MARGIN;
        int barX = left + gridWidth + BAR_GAP;
        colorBar = new Rectangle(barX, top + (gridHeight - barHeight) / 2, BAR_WIDTH, barHeight);
        width = barX + BAR_WIDTH + 1 + TICK + TICK_PAD + (int) Math.ceil(widestBarLabel) + MARGIN;
        height = top + gridHeight + bottom;
        if ((long) width * height > MAX_PIXELS) {
            throw new IllegalArgumentException("a figure of " + width + " × " + height + " pixels is too large"
                    + " (at most " + MAX_PIXELS + " pixels); draw fewer or smaller panels");
        }
    }

    int width() {
        return width;
    }

    int height() {
        return height;
    }

    /** The pixels of panel (row, col), inside its frame. */
    Rectangle panel(int row, int col) {
        int pw = heatmap.panelWidth();
        int ph = heatmap.panelHeight();
        return new Rectangle(left + col * (pw + GAP), top + row * (ph + GAP), pw, ph);
    }

    /** The pixels of the colour bar, inside its frame. */
    Rectangle colorBar() {
        return new Rectangle(colorBar);
    }

    /** Where cell boundary {@code index} of {@code count} cells across {@code length} pixels falls. */
    static int edge(int index, int count, int length) {
        return (int) ((long) index * length / count);
    }

    /** Every mark of the figure, in painting order; reads the panels' values, one row at a time. */
    List<Mark> marks() {
        List<Mark> marks = new ArrayList<>();
        int n = heatmap.queries();
        int m = heatmap.keys();
        double tickLabelBaseline = TICK + TICK_PAD + ascent(TICK_FONT);
        for (int i = 0; i < heatmap.rows(); i++) {
            for (int j = 0; j < heatmap.cols(); j++) {
                Rectangle p = panel(i, j);
                marks.add(cells(i, j, p));
                frame(marks, p);
                boolean bottomRow = i == heatmap.rows() - 1;
                boolean leftColumn = j == 0;
                for (int k : xTicks) {
                    int x = p.x + (int) ((k + 0.5) * p.width / m);
                    marks.add(new Mark.Box(x, p.y + p.height + 1, 1, TICK, INK));
                    if (bottomRow) {
                        marks.add(new Mark.Label(Integer.toString(k), x + 0.5,
                                p.y + p.height + 1 + tickLabelBaseline, TICK_FONT, Anchor.MIDDLE, false));
                    }
                }
                for (int k : yTicks) {
                    int y = p.y + (int) ((k + 0.5) * p.height / n);
                    marks.add(new Mark.Box(p.x - 1 - TICK, y, TICK, 1, INK));
                    if (leftColumn) {
                        marks.add(new Mark.Label(Integer.toString(k), p.x - 1 - TICK - TICK_PAD,
                                y + 0.5 + digitHeight(TICK_FONT) / 2, TICK_FONT, Anchor.END, false));
                    }
                }
                if (bottomRow && !heatmap.xLabel().isEmpty()) {
                    double baseline = p.y + p.height + 1 + TICK + TICK_PAD + lineHeight(TICK_FONT) + LABEL_PAD
                            + ascent(LABEL_FONT);
                    marks.add(new Mark.Label(heatmap.xLabel(), p.getCenterX(), baseline, LABEL_FONT, Anchor.MIDDLE,
                            false));
                }
                if (leftColumn && !heatmap.yLabel().isEmpty()) {
                    marks.add(new Mark.Label(heatmap.yLabel(), MARGIN + ascent(LABEL_FONT), p.getCenterY(),
                            LABEL_FONT, Anchor.MIDDLE, true));
                }
                if (i == 0 && !heatmap.titles().isEmpty()) {
                    marks.add(new Mark.Label(heatmap.titles().get(j), p.getCenterX(),
                            p.y - 1 - TITLE_PAD - descent(TITLE_FONT), TITLE_FONT, Anchor.MIDDLE, false));
                }
            }
        }
        marks.add(new Mark.Gradient(colorBar.x, colorBar.y, colorBar.width, colorBar.height, heatmap.colorMap()));
        frame(marks, colorBar);
        double lo = heatmap.min();
        double span = heatmap.max() - lo;
        for (Ticks.ValueTick t : barTicks) {
            int y = colorBar.y + (int) Math.min(colorBar.height - 1,
                    Math.floor((1 - (t.value() - lo) / span) * colorBar.height));
            int x = colorBar.x + colorBar.width + 1;
            marks.add(new Mark.Box(x, y, TICK, 1, INK));
            marks.add(new Mark.Label(t.label(), x + TICK + TICK_PAD, y + 0.5 + digitHeight(TICK_FONT) / 2,
                    TICK_FONT, Anchor.START, false));
        }
        return marks;
    }

    private Mark.CellGrid cells(int i, int j, Rectangle p) {
        Cells cells = Cells.maxOf(heatmap.panel(i, j), p.height, p.width);
        ColorMap map = heatmap.colorMap();
        double lo = heatmap.min();
        double span = heatmap.max() - lo;
        float[] values = cells.values();
        int[] rgb = new int[values.length];
        for (int k = 0; k < values.length; k++) {
            rgb[k] = map.rgb((values[k] - lo) / span);
        }
        return new Mark.CellGrid(p.x, p.y, p.width, p.height, cells.rows(), cells.cols(), rgb);
    }

    /** A one-pixel frame just outside {@code r}. */
    private static void frame(List<Mark> marks, Rectangle r) {
        marks.add(new Mark.Box(r.x - 1, r.y - 1, r.width + 2, 1, INK));
        marks.add(new Mark.Box(r.x - 1, r.y + r.height, r.width + 2, 1, INK));
        marks.add(new Mark.Box(r.x - 1, r.y, 1, r.height, INK));
        marks.add(new Mark.Box(r.x + r.width, r.y, 1, r.height, INK));
    }

    static double textWidth(String text, float size) {
        return FONT.deriveFont(size).getStringBounds(text, TEXT).getWidth();
    }

    private static LineMetrics metrics(float size) {
        return FONT.deriveFont(size).getLineMetrics("0Ag", TEXT);
    }

    private static double ascent(float size) {
        return metrics(size).getAscent();
    }

    private static double descent(float size) {
        return metrics(size).getDescent();
    }

    private static int lineHeight(float size) {
        LineMetrics lm = metrics(size);
        return (int) Math.ceil(lm.getAscent() + lm.getDescent());
    }

    /** The height of a digit above the baseline, to centre numbers on their tick. */
    private static double digitHeight(float size) {
        return FONT.deriveFont(size).createGlyphVector(TEXT, "0").getVisualBounds().getHeight();
    }
}
