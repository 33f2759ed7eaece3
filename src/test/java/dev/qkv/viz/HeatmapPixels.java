package dev.qkv.viz;

import java.awt.Rectangle;
import java.awt.image.BufferedImage;

/** For tests, here and in other packages: the colour a heatmap's image has at the centre of a matrix cell. */
public final class HeatmapPixels {

    private HeatmapPixels() {}

    /** The colour ({@code 0xRRGGBB}) at the centre of cell (i, j) of panel (row, col), located by the layout. */
    public static int cell(BufferedImage image, Heatmap heatmap, int row, int col, int i, int j) {
        return centre(image, heatmap.layout().panel(row, col), heatmap.queries(), heatmap.keys(), i, j);
    }

    /** The centre pixel of matrix cell (i, j) of an n × m panel, from the layout's panel rectangle. */
    static int centre(BufferedImage image, Rectangle panel, int n, int m, int i, int j) {
        int x = panel.x + (int) ((j + 0.5) * panel.width / m);
        int y = panel.y + (int) ((i + 0.5) * panel.height / n);
        return image.getRGB(x, y) & 0xffffff;
    }
}
