package dev.qkv.viz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.util.List;
import org.junit.jupiter.api.Test;

class ScatterPlotTest {

    @Test
    void refusesPointsItCannotDraw() {
        assertThrows(IllegalArgumentException.class, () -> new ScatterPlot.Panel("p", new double[] {1, 2},
                new double[] {1}, new int[] {0, 0}, new boolean[2]));
        assertThrows(IllegalArgumentException.class, () -> new ScatterPlot.Panel("p", new double[] {Double.NaN},
                new double[] {1}, new int[] {0}, new boolean[1]));
        ScatterPlot.Panel panel = new ScatterPlot.Panel("p", new double[] {0}, new double[] {0}, new int[] {3},
                new boolean[1]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ScatterPlot.of(List.of(panel), List.of("a", "b")));
        assertTrue(e.getMessage().contains("category 3 but only 2 are named"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CurvePlot.of("t", new double[] {0, 1},
                List.of(new CurvePlot.Curve("c", new double[] {1})), "x", "y"));
    }

    /**
     * A database point of category 3 is a filled dot of tab10's red (#d62728) at 150/255 opacity over white, about
     * (231, 128, 128), in the panel (x below 370: the panel is 320 pixels wide after some 40 of margin and ticks, the
     * legend, which has a red sample too, starts after it); the queries are rings of category 0's blue.
     */
    @Test
    void aDatabasePointIsAFilledDotOfItsCategorysColour() {
        ScatterPlot.Panel panel = new ScatterPlot.Panel("p", new double[] {-1, 0, 1}, new double[] {-1, 0, 1},
                new int[] {0, 3, 0}, new boolean[] {true, false, true});
        BufferedImage image = ScatterPlot.of(List.of(panel), List.of("a", "b", "c", "d")).toImage();
        int red = 0;
        for (int y = 0; y < image.getHeight(); y++) {
            for (int x = 0; x < 370; x++) {
                int rgb = image.getRGB(x, y) & 0xffffff;
                int r = rgb >> 16;
                int g = rgb >> 8 & 0xff;
                int b = rgb & 0xff;
                red += r > 200 && r - g > 60 && r - b > 60 ? 1 : 0;
            }
        }
        // The disc has radius 2.5 px, about 20 pixels, a few of them blended at its edge.
        assertTrue(red >= 8, "red pixels in the panel: " + red);
        assertEquals(BufferedImage.TYPE_INT_RGB, image.getType());
    }
}
