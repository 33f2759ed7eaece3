package dev.qkv.viz;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;

/** Paints a {@link Layout}'s marks with Java2D: shapes on whole pixels, text antialiased. */
final class PngPainter {

    private PngPainter() {}

    static BufferedImage paint(Layout layout) {
        BufferedImage image = new BufferedImage(layout.width(), layout.height(), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_FRACTIONALMETRICS, RenderingHints.VALUE_FRACTIONALMETRICS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, layout.width(), layout.height());
            for (Mark mark : layout.marks()) {
                switch (mark) {
                    case Mark.Box b -> {
                        g.setColor(new Color(b.rgb()));
                        g.fillRect(b.x(), b.y(), b.width(), b.height());
                    }
                    case Mark.CellGrid c -> paintCells(g, c);
                    case Mark.Gradient gr -> {
                        for (int y = 0; y < gr.height(); y++) {
                            g.setColor(new Color(gr.map().rgb(1 - (y + 0.5) / gr.height())));
                            g.fillRect(gr.x(), gr.y() + y, gr.width(), 1);
                        }
                    }
                    case Mark.Label l -> paintLabel(g, l);
                }
            }
        } finally {
            g.dispose();
        }
        return image;
    }

    private static void paintCells(Graphics2D g, Mark.CellGrid c) {
        for (int r = 0; r < c.rows(); r++) {
            int y0 = Layout.edge(r, c.rows(), c.height());
            int y1 = Layout.edge(r + 1, c.rows(), c.height());
            for (int k = 0; k < c.cols(); k++) {
                int x0 = Layout.edge(k, c.cols(), c.width());
                int x1 = Layout.edge(k + 1, c.cols(), c.width());
                g.setColor(new Color(c.rgb()[r * c.cols() + k]));
                g.fillRect(c.x() + x0, c.y() + y0, x1 - x0, y1 - y0);
            }
        }
    }

    private static void paintLabel(Graphics2D g, Mark.Label l) {
        Font font = Layout.FONT.deriveFont(l.size());
        double shift = switch (l.anchor()) {
            case START -> 0;
            case MIDDLE -> Layout.textWidth(l.text(), l.size()) / 2;
            case END -> Layout.textWidth(l.text(), l.size());
        };
        Graphics2D t = (Graphics2D) g.create();
        try {
            t.setFont(font);
            t.setColor(new Color(Layout.INK));
            t.translate(l.x(), l.y());
            if (l.vertical()) {
                t.rotate(-Math.PI / 2);
            }
            t.drawString(l.text(), (float) -shift, 0f);
        } finally {
            t.dispose();
        }
    }
}
