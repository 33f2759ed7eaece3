package dev.qkv.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * A PNG of speed ratios, Java2D and ImageIO only: one row per benchmark point, a bar for vector ÷ scalar and
 * one for qkv ÷ peer, on a logarithmic axis around 1× (right of it qkv, or its vector kernels, is faster);
 * "n/a" where a ratio was not measured or has no peer.
 */
final class RatioChart {

    /** One row of the chart; a null ratio draws no bar. */
    record Row(String label, Double vectorOverScalar, Double qkvOverPeer) {}

    static final Color VECTOR = new Color(0x1f77b4);
    static final Color PEER = new Color(0xff7f0e);

    private static final int WIDTH = 1100;
    private static final int LEFT = 250;
    private static final int RIGHT = 70;
    private static final int TOP = 110;
    private static final int ROW = 38;
    private static final int BAR = 14;

    private RatioChart() {}

    /** Draws {@code rows} under {@code title} and {@code subtitle}, with the legend's names for the two bars. */
    static void write(Path png, String title, String subtitle, String vectorLegend, String peerLegend,
            List<Row> rows) throws IOException {
        double lo = 0.5;
        double hi = 2;
        for (Row r : rows) {
            for (Double x : new Double[] {r.vectorOverScalar(), r.qkvOverPeer()}) {
                if (x != null) {
                    lo = Math.min(lo, x);
                    hi = Math.max(hi, x);
                }
            }
        }
        int loExp = (int) Math.floor(Math.log10(lo));
        int hiExp = (int) Math.ceil(Math.log10(hi));
        int height = TOP + rows.size() * ROW + 50;
        BufferedImage image = new BufferedImage(WIDTH, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, WIDTH, height);
            Axis axis = new Axis(loExp, hiExp, LEFT, WIDTH - RIGHT);

            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
            g.drawString(title, 20, 30);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
            g.drawString(subtitle, 20, 52);
            legend(g, 20, 78, VECTOR, vectorLegend);
            legend(g, 20 + 30 + g.getFontMetrics().stringWidth(vectorLegend) + 40, 78, PEER, peerLegend);

            int bottom = TOP + rows.size() * ROW;
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            for (int e = loExp; e <= hiExp; e++) {
                for (int k = 1; k < 10; k++) {
                    double x = k * Math.pow(10, e);
                    if (x > Math.pow(10, hiExp)) {
                        break;
                    }
                    g.setColor(k == 1 ? new Color(0xbbbbbb) : new Color(0xeeeeee));
                    g.drawLine(axis.x(x), TOP - 8, axis.x(x), bottom);
                }
                String tick = times(Math.pow(10, e));
                g.setColor(Color.DARK_GRAY);
                g.drawString(tick, axis.x(Math.pow(10, e)) - g.getFontMetrics().stringWidth(tick) / 2, bottom + 18);
            }
            g.setColor(Color.BLACK);
            g.setStroke(new BasicStroke(1.5f));
            g.drawLine(axis.x(1), TOP - 8, axis.x(1), bottom);
            g.drawString("slower ←  1×  → faster", axis.x(1) - 70, bottom + 36);

            Font labelFont = new Font(Font.SANS_SERIF, Font.PLAIN, 13);
            FontMetrics fm = g.getFontMetrics(labelFont);
            for (int i = 0; i < rows.size(); i++) {
                Row r = rows.get(i);
                int y = TOP + i * ROW;
                g.setColor(Color.BLACK);
                g.setFont(labelFont);
                g.drawString(r.label(), LEFT - 12 - fm.stringWidth(r.label()), y + ROW / 2 + 5);
                bar(g, axis, y + 4, r.vectorOverScalar(), VECTOR);
                bar(g, axis, y + 4 + BAR + 2, r.qkvOverPeer(), PEER);
            }
        } finally {
            g.dispose();
        }
        ImageIO.write(image, "png", png.toFile());
    }

    private static void bar(Graphics2D g, Axis axis, int y, Double ratio, Color color) {
        int one = axis.x(1);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        if (ratio == null) {
            g.setColor(Color.GRAY);
            g.drawString("n/a", one + 4, y + BAR - 3);
            return;
        }
        int end = axis.x(ratio);
        g.setColor(color);
        g.fillRect(Math.min(one, end), y, Math.max(Math.abs(end - one), 1), BAR);
        g.setColor(Color.DARK_GRAY);
        String text = times(ratio);
        int width = g.getFontMetrics().stringWidth(text);
        g.drawString(text, end >= one ? end + 4 : end - 4 - width, y + BAR - 3);
    }

    private static void legend(Graphics2D g, int x, int y, Color color, String text) {
        g.setColor(color);
        g.fillRect(x, y - 11, 22, 12);
        g.setColor(Color.BLACK);
        g.drawString(text, x + 30, y);
    }

    static String times(double ratio) {
        return (ratio >= 10 ? String.format(Locale.ROOT, "%.0f", ratio)
                : ratio >= 1 ? String.format(Locale.ROOT, "%.1f", ratio)
                : String.format(Locale.ROOT, "%.2f", ratio)) + "×";
    }

    /** Log-scale positions between 10^loExp and 10^hiExp. */
    private record Axis(int loExp, int hiExp, int left, int right) {
        int x(double ratio) {
            double t = (Math.log10(ratio) - loExp) / (hiExp - loExp);
            return (int) Math.round(left + t * (right - left));
        }
    }
}
