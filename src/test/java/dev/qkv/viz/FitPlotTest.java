package dev.qkv.viz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Rectangle;
import java.awt.geom.Point2D;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FitPlotTest {

    @TempDir
    Path dir;

    private static final double[] INPUTS = {0, 1, 2, 3, 4};
    private static final double[] TRUTH = {0, 1, 2, 3, 4};
    private static final double[] TRAINING_INPUTS = {0.5, 3.5};
    private static final double[] TRAINING_TARGETS = {0.5, 3.5};

    /** Flat fits at heights 3.5 and 1, away from the truth's diagonal where they are looked at. */
    private static FitPlot twoFlatFits() {
        return FitPlot.of(INPUTS, TRUTH, TRAINING_INPUTS, TRAINING_TARGETS, List.of(
                new FitPlot.Fit("high", new double[] {3.5, 3.5, 3.5, 3.5, 3.5}),
                new FitPlot.Fit("low", new double[] {1, 1, 1, 1, 1})));
    }

    @Test
    void pngDecodesAtThePlotsSizeWithRoomForEveryPanel() throws Exception {
        FitPlot plot = twoFlatFits().withPanelSize(180, 120);
        Path file = dir.resolve("fits.png");
        plot.writePng(file);
        BufferedImage image = ImageIO.read(file.toFile());
        assertNotNull(image, "ImageIO could not decode the PNG");
        assertEquals(plot.width(), image.getWidth());
        assertEquals(plot.height(), image.getHeight());
        Rectangle bounds = new Rectangle(image.getWidth(), image.getHeight());
        Rectangle first = plot.plotArea(0);
        Rectangle second = plot.plotArea(1);
        assertEquals(new Rectangle(first.x, first.y, 180, 120), first);
        assertTrue(bounds.contains(first) && bounds.contains(second));
        assertFalse(first.intersects(second), "panels do not overlap");
        assertTrue(image.getWidth() > 2 * 180 + 100 && image.getHeight() > 120 + 40,
                "room for ticks, labels, titles and the legend");
    }

    @Test
    void eachPanelDrawsItsOwnFitAtItsHeight() {
        FitPlot plot = twoFlatFits();
        BufferedImage image = plot.toImage();
        double[] heights = {3.5, 1};
        for (int k = 0; k < 2; k++) {
            for (int other = 0; other < 2; other++) {
                Point2D p = plot.pixel(k, 2.5, heights[other]);
                int rgb = image.getRGB((int) p.getX(), (int) p.getY()) & 0xffffff;
                if (other == k) {
                    assertEquals(FitPlot.FIT_RGB, rgb, "panel " + k + " draws its fit, 2 pixels thick, at y = " + heights[k]);
                } else {
                    assertEquals(0xffffff, rgb, "panel " + k + " leaves y = " + heights[other] + " blank");
                }
            }
        }
    }

    @Test
    void badDataIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FitPlot.of(INPUTS,
                new double[] {0, 1}, TRAINING_INPUTS, TRAINING_TARGETS, List.of(new FitPlot.Fit("a", TRUTH))));
        assertTrue(e.getMessage().contains("truth has 2 values, inputs has 5"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FitPlot.of(INPUTS, TRUTH, TRAINING_INPUTS,
                TRAINING_TARGETS, List.of(new FitPlot.Fit("wild", new double[] {0, 1, Double.NaN, 3, 4}))));
        assertTrue(e.getMessage().contains("'wild'") && e.getMessage().contains("NaN at 2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FitPlot.of(INPUTS, TRUTH, TRAINING_INPUTS, TRAINING_TARGETS, List.of()));
        assertTrue(e.getMessage().contains("at least one fit"), e.getMessage());
    }
}
