package dev.qkv.viz;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Base64;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * Writes a {@link Layout}'s marks as an SVG document. Cells are {@code <rect>}s, one per run of equal
 * colours in a row, when a panel draws at most {@link Heatmap#SVG_MAX_RECT_CELLS} of them, and otherwise an
 * embedded PNG with one pixel per cell, scaled up without smoothing.
 */
final class SvgWriter {

    private static final int GRADIENT_STOPS = 65;

    private SvgWriter() {}

    static String write(Layout layout) {
        StringBuilder svg = new StringBuilder(1 << 14);
        svg.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
                .append("<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\"")
                .append(" version=\"1.1\" width=\"").append(layout.width()).append("\" height=\"")
                .append(layout.height()).append("\" viewBox=\"0 0 ").append(layout.width()).append(' ')
                .append(layout.height()).append("\"")
                .append(" font-family=\"DejaVu Sans, Bitstream Vera Sans, Arial, Helvetica, sans-serif\">\n")
                .append("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
        for (Mark mark : layout.marks()) {
            switch (mark) {
                case Mark.Box b -> rect(svg, b.x(), b.y(), b.width(), b.height(), b.rgb()).append('\n');
                case Mark.CellGrid c -> {
                    if ((long) c.rows() * c.cols() <= Heatmap.SVG_MAX_RECT_CELLS) {
                        cellRects(svg, c);
                    } else {
                        cellImage(svg, c);
                    }
                }
                case Mark.Gradient g -> gradient(svg, g);
                case Mark.Label l -> label(svg, l);
            }
        }
        return svg.append("</svg>\n").toString();
    }

    private static void cellRects(StringBuilder svg, Mark.CellGrid c) {
        svg.append("<g class=\"cells\" shape-rendering=\"crispEdges\">\n");
        int[] rgb = c.rgb();
        for (int r = 0; r < c.rows(); r++) {
            int y0 = Layout.edge(r, c.rows(), c.height());
            int y1 = Layout.edge(r + 1, c.rows(), c.height());
            int k = 0;
            while (k < c.cols()) {
                int colour = rgb[r * c.cols() + k];
                int end = k + 1;
                while (end < c.cols() && rgb[r * c.cols() + end] == colour) {
                    end++;
                }
                int x0 = Layout.edge(k, c.cols(), c.width());
                int x1 = Layout.edge(end, c.cols(), c.width());
                rect(svg, c.x() + x0, c.y() + y0, x1 - x0, y1 - y0, colour).append('\n');
                k = end;
            }
        }
        svg.append("</g>\n");
    }

    private static void cellImage(StringBuilder svg, Mark.CellGrid c) {
        BufferedImage image = new BufferedImage(c.cols(), c.rows(), BufferedImage.TYPE_INT_RGB);
        image.setRGB(0, 0, c.cols(), c.rows(), c.rgb(), 0, c.cols());
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        try {
            ImageIO.write(image, "png", png);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode a panel's cells as PNG", e);
        }
        svg.append("<image class=\"cells\" x=\"").append(c.x()).append("\" y=\"").append(c.y())
                .append("\" width=\"").append(c.width()).append("\" height=\"").append(c.height())
                .append("\" preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\"")
                .append(" xlink:href=\"data:image/png;base64,")
                .append(Base64.getEncoder().encodeToString(png.toByteArray())).append("\"/>\n");
    }

    private static void gradient(StringBuilder svg, Mark.Gradient g) {
        svg.append("<defs><linearGradient id=\"colorbar\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n");
        for (int s = 0; s < GRADIENT_STOPS; s++) {
            double t = (double) s / (GRADIENT_STOPS - 1);
            svg.append("<stop offset=\"").append(number(t)).append("\" stop-color=\"")
                    .append(hex(g.map().rgb(t))).append("\"/>\n");
        }
        svg.append("</linearGradient></defs>\n")
                .append("<rect x=\"").append(g.x()).append("\" y=\"").append(g.y()).append("\" width=\"")
                .append(g.width()).append("\" height=\"").append(g.height()).append("\" fill=\"url(#colorbar)\"/>\n");
    }

    private static void label(StringBuilder svg, Mark.Label l) {
        svg.append("<text x=\"").append(number(l.x())).append("\" y=\"").append(number(l.y()))
                .append("\" font-size=\"").append(number(l.size())).append('"');
        switch (l.anchor()) {
            case START -> { }
            case MIDDLE -> svg.append(" text-anchor=\"middle\"");
            case END -> svg.append(" text-anchor=\"end\"");
        }
        if (l.vertical()) {
            svg.append(" transform=\"rotate(-90 ").append(number(l.x())).append(' ').append(number(l.y()))
                    .append(")\"");
        }
        svg.append('>').append(escape(l.text())).append("</text>\n");
    }

    private static StringBuilder rect(StringBuilder svg, int x, int y, int width, int height, int rgb) {
        return svg.append("<rect x=\"").append(x).append("\" y=\"").append(y).append("\" width=\"").append(width)
                .append("\" height=\"").append(height).append("\" fill=\"").append(hex(rgb)).append("\"/>");
    }

    private static String hex(int rgb) {
        return String.format(Locale.ROOT, "#%06x", rgb & 0xffffff);
    }

    private static String number(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : String.format(Locale.ROOT, "%.2f", v);
    }

    /**
     * {@code text} as XML character data: markup characters escaped, and characters XML 1.0 cannot hold
     * (controls other than tab, newline and return; lone surrogates) replaced by U+FFFD.
     */
    static String escape(String text) {
        StringBuilder out = new StringBuilder(text.length());
        text.codePoints().forEach(cp -> {
            switch (cp) {
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '&' -> out.append("&amp;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&apos;");
                default -> {
                    boolean allowed = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF)
                            || (cp >= 0xE000 && cp <= 0xFFFD) || cp >= 0x10000;
                    out.appendCodePoint(allowed ? cp : 0xFFFD);
                }
            }
        });
        return out.toString();
    }
}
