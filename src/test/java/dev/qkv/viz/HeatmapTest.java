package dev.qkv.viz;

import static dev.qkv.viz.HeatmapPixels.centre;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeout;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.Tensor;
import java.awt.Rectangle;
import java.awt.image.BufferedImage;
import java.io.StringReader;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;
import org.xml.sax.InputSource;

/** Rendering loops must end: each test runs in a thread of its own, failed after a minute. */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HeatmapTest {

    private final Arena arena = Arena.ofShared();

    @TempDir
    Path dir;

    @AfterEach
    void close() {
        arena.close();
    }

    private Tensor eye(int n) {
        Tensor t = Tensor.allocate(arena, n, n);
        for (int i = 0; i < n; i++) {
            t.set(i, i, 1f);
        }
        return t;
    }

    private static Document parse(String svg) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        factory.setFeature("http://xml.org/sax/features/external-general-entities", false);
        factory.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
        factory.setAttribute(XMLConstants.ACCESS_EXTERNAL_DTD, "");
        factory.setAttribute(XMLConstants.ACCESS_EXTERNAL_SCHEMA, "");
        factory.setExpandEntityReferences(false);
        factory.setNamespaceAware(true);
        return factory.newDocumentBuilder().parse(new InputSource(new StringReader(svg)));
    }

    private static List<String> texts(Document svg) {
        NodeList nodes = svg.getElementsByTagNameNS("*", "text");
        List<String> texts = new ArrayList<>();
        for (int k = 0; k < nodes.getLength(); k++) {
            texts.add(nodes.item(k).getTextContent());
        }
        return texts;
    }

    private static List<Element> cellGroups(Document svg) {
        NodeList nodes = svg.getElementsByTagNameNS("*", "g");
        List<Element> groups = new ArrayList<>();
        for (int k = 0; k < nodes.getLength(); k++) {
            Element g = (Element) nodes.item(k);
            if (g.getAttribute("class").equals("cells")) {
                groups.add(g);
            }
        }
        return groups;
    }

    @Test
    void pngDecodesAtTheLayoutSize() throws Exception {
        Heatmap heatmap = Heatmap.fromWeights(eye(10));
        Path file = dir.resolve("eye.png");
        heatmap.writePng(file);
        BufferedImage image = ImageIO.read(file.toFile());
        assertNotNull(image, "ImageIO could not decode the PNG");
        Layout layout = heatmap.layout();
        assertEquals(layout.width(), image.getWidth());
        assertEquals(layout.height(), image.getHeight());
        assertEquals(250, layout.panel(0, 0).width);
        assertEquals(250, layout.panel(0, 0).height);
        assertTrue(image.getWidth() > 250 + 60 && image.getHeight() > 250 + 30, "room for ticks, labels and bar");
    }

    @Test
    void identityDrawsTheTopColourOnTheDiagonalAndTheBottomColourElsewhere() {
        Heatmap heatmap = Heatmap.grid(1, 1, 10, 10, eye(10));
        BufferedImage image = heatmap.toImage();
        Rectangle panel = heatmap.layout().panel(0, 0);
        for (int i = 0; i < 10; i++) {
            for (int j = 0; j < 10; j++) {
                int expected = ColorMap.REDS.rgb(i == j ? 1 : 0);
                assertEquals(expected, centre(image, panel, 10, 10, i, j), "cell (" + i + ", " + j + ")");
            }
        }
    }

    @Test
    void eachPanelOfAGridShowsItsOwnMatrix() {
        int rows = 2;
        int cols = 3;
        int n = 4;
        int m = 5;
        Tensor data = Tensor.allocate(arena, rows * cols * n, m);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                data.set((i * cols + j) * n + i, j, 1f);
            }
        }
        Heatmap heatmap = Heatmap.grid(rows, cols, n, m, data).withPanelSize(83, 61).withColorMap(ColorMap.VIRIDIS);
        BufferedImage image = heatmap.toImage();
        Layout layout = heatmap.layout();
        Rectangle bounds = new Rectangle(image.getWidth(), image.getHeight());
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                Rectangle framed = layout.panel(i, j);
                framed.grow(1, 1);
                assertTrue(bounds.contains(framed));
                assertTrue(framed.getMaxX() < layout.colorBar().x, "colour bar right of the panels");
                for (int k = i * cols + j + 1; k < rows * cols; k++) {
                    Rectangle other = layout.panel(k / cols, k % cols);
                    other.grow(1, 1);
                    assertFalse(framed.intersects(other), "panels and their frames do not overlap");
                }
                for (int q = 0; q < n; q++) {
                    for (int k = 0; k < m; k++) {
                        int expected = ColorMap.VIRIDIS.rgb(q == i && k == j ? 1 : 0);
                        assertEquals(expected, centre(image, layout.panel(i, j), n, m, q, k),
                                "panel (" + i + ", " + j + ") cell (" + q + ", " + k + ")");
                    }
                }
            }
        }
    }

    @Test
    void viewsWithARowStrideDrawTheirOwnColumns() {
        Tensor wide = Tensor.allocate(arena, 6, 12);
        wide.fill(0.25f);
        for (int i = 0; i < 6; i++) {
            wide.set(i, 6 + i, 1f);
            wide.set(i, i, 0f);
        }
        Heatmap heatmap = Heatmap.fromWeights(wide.columns(6, 12));
        BufferedImage image = heatmap.toImage();
        Rectangle panel = heatmap.layout().panel(0, 0);
        for (int i = 0; i < 6; i++) {
            for (int j = 0; j < 6; j++) {
                assertEquals(ColorMap.REDS.rgb(i == j ? 1 : 0), centre(image, panel, 6, 6, i, j),
                        "cell (" + i + ", " + j + ")");
            }
        }
    }

    @Test
    void allPanelsShareOneValueRange() {
        Tensor strong = eye(3);
        Tensor weak = Tensor.allocate(arena, 3, 3);
        weak.set(1, 1, 0.5f);
        Heatmap heatmap = Heatmap.of(new Tensor[][] {{strong, weak}});
        assertEquals(0.0, heatmap.min());
        assertEquals(1.0, heatmap.max());
        BufferedImage image = heatmap.toImage();
        assertEquals(ColorMap.REDS.rgb(0.5), centre(image, heatmap.layout().panel(0, 1), 3, 3, 1, 1));
    }

    @Test
    void equalValuesStillDrawInTheBottomColour() {
        Tensor flat = Tensor.allocate(arena, 4, 4);
        flat.fill(0.25f);
        Heatmap heatmap = Heatmap.fromWeights(flat);
        assertEquals(0.25, heatmap.min());
        assertEquals(1.25, heatmap.max());
        BufferedImage image = heatmap.toImage();
        assertEquals(ColorMap.REDS.rgb(0), centre(image, heatmap.layout().panel(0, 0), 4, 4, 2, 3));
    }

    @Test
    void anExplicitRangeClampsToTheEndColours() {
        Tensor t = Tensor.of(arena, new float[][] {{-1f, 0.5f, 2f}});
        Heatmap heatmap = Heatmap.fromWeights(t).withRange(0, 1);
        BufferedImage image = heatmap.toImage();
        Rectangle panel = heatmap.layout().panel(0, 0);
        assertEquals(ColorMap.REDS.rgb(0), centre(image, panel, 1, 3, 0, 0));
        assertEquals(ColorMap.REDS.rgb(0.5), centre(image, panel, 1, 3, 0, 1));
        assertEquals(ColorMap.REDS.rgb(1), centre(image, panel, 1, 3, 0, 2));
    }

    @Test
    void svgParsesAsXmlAndHoldsTitlesLabelsAndTicks() throws Exception {
        Heatmap heatmap = Heatmap.grid(1, 2, 10, 10, Tensor.allocate(arena, 20, 10))
                .withTitles(List.of("Head <1> & \"2\"", "Head 2\u0007"))
                .withXLabel("Key positions")
                .withYLabel("Query positions");
        Path file = dir.resolve("grid.svg");
        heatmap.writeSvg(file);
        Document svg = parse(Files.readString(file));
        assertEquals("svg", svg.getDocumentElement().getLocalName());
        assertEquals(Integer.toString(heatmap.layout().width()), svg.getDocumentElement().getAttribute("width"));
        List<String> texts = texts(svg);
        assertTrue(texts.contains("Head <1> & \"2\""), texts::toString);
        assertTrue(texts.contains("Head 2\uFFFD"), texts::toString);
        assertEquals(2, texts.stream().filter("Key positions"::equals).count(), "one x label per column");
        assertEquals(1, texts.stream().filter("Query positions"::equals).count(), "one y label per row");
        assertTrue(texts.containsAll(List.of("0", "2", "4", "6", "8")), texts::toString);
    }

    @Test
    void svgCellsHaveThePngColours() throws Exception {
        Tensor t = Tensor.allocate(arena, 7, 9);
        for (int i = 0; i < 7; i++) {
            for (int j = 0; j < 9; j++) {
                t.set(i, j, (float) Math.sin(i * 9 + j));
            }
        }
        assertSvgCellsMatchThePng(Heatmap.fromWeights(t).withColorMap(ColorMap.VIRIDIS).withPanelSize(120, 90));
    }

    @Test
    void svgMergesRunsOfEqualCellsInARow() throws Exception {
        // rows 0 and 9 are two runs (hot, cold), rows 1..8 three (cold, hot, cold)
        assertEquals(2 + 8 * 3 + 2, assertSvgCellsMatchThePng(Heatmap.fromWeights(eye(10)).withPanelSize(97, 103)));
    }

    /** Checks that the SVG's cell rects tile the panel in the PNG's colours; returns how many there are. */
    private static int assertSvgCellsMatchThePng(Heatmap heatmap) throws Exception {
        BufferedImage image = heatmap.toImage();
        Rectangle panel = heatmap.layout().panel(0, 0);
        List<Element> groups = cellGroups(parse(heatmap.toSvg()));
        assertEquals(1, groups.size());
        NodeList rects = groups.getFirst().getElementsByTagNameNS("*", "rect");
        int area = 0;
        for (int k = 0; k < rects.getLength(); k++) {
            Element r = (Element) rects.item(k);
            int x = Integer.parseInt(r.getAttribute("x"));
            int y = Integer.parseInt(r.getAttribute("y"));
            int w = Integer.parseInt(r.getAttribute("width"));
            int h = Integer.parseInt(r.getAttribute("height"));
            assertTrue(panel.contains(new Rectangle(x, y, w, h)), "rect inside the panel");
            area += w * h;
            for (int px = x; px < x + w; px++) {
                assertEquals(r.getAttribute("fill"), String.format("#%06x", image.getRGB(px, y + h / 2) & 0xffffff));
            }
        }
        assertEquals(panel.width * panel.height, area, "the rects tile the panel");
        return rects.getLength();
    }

    @Test
    void aLargeMatrixRendersQuicklyWithAtMostOneCellPerPixel() {
        int n = 2000;
        Tensor big = Tensor.allocate(arena, n, n);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                big.set(i, j, (float) ((i * 31 + j * 17) % 101) / 100);
            }
        }
        assertTimeout(Duration.ofSeconds(20), () -> {
            Heatmap heatmap = Heatmap.fromWeights(big).withPanelSize(150, 150);
            Document svg = parse(heatmap.toSvg());
            List<Element> groups = cellGroups(svg);
            assertEquals(1, groups.size());
            int rects = groups.getFirst().getElementsByTagNameNS("*", "rect").getLength();
            assertTrue(rects <= 150 * 150, rects + " rects");

            Heatmap large = Heatmap.fromWeights(big);
            Document embedded = parse(large.toSvg());
            assertEquals(0, cellGroups(embedded).size(), "250 × 250 cells are more than 200 × 200: an image");
            assertEquals(1, embedded.getElementsByTagNameNS("*", "image").getLength());
            BufferedImage image = large.toImage();
            assertEquals(large.layout().width(), image.getWidth());
        });
    }

    @Test
    void downsamplingKeepsASingleHotCellVisible() {
        int n = 2000;
        Tensor big = Tensor.allocate(arena, n, n);
        big.set(1234, 567, 1f);
        Heatmap heatmap = Heatmap.fromWeights(big);
        Rectangle panel = heatmap.layout().panel(0, 0);
        BufferedImage image = heatmap.toImage();
        int x = panel.x + Layout.edge(567 * 250 / n, 250, panel.width);
        int y = panel.y + Layout.edge(1234 * 250 / n, 250, panel.height);
        assertEquals(ColorMap.REDS.rgb(1), image.getRGB(x, y) & 0xffffff);
        assertEquals(ColorMap.REDS.rgb(0), image.getRGB(x + 1, y) & 0xffffff);

        Cells cells = Cells.maxOf(big, 250, 250);
        assertEquals(250, cells.rows());
        assertEquals(250, cells.cols());
        assertEquals(1f, cells.values()[154 * 250 + 70]);
    }

    @Test
    void cellsAreBlockMaximaOfNearlyEqualBlocks() {
        Tensor t = Tensor.allocate(arena, 5, 7);
        for (int i = 0; i < 5; i++) {
            for (int j = 0; j < 7; j++) {
                t.set(i, j, i * 10 + j);
            }
        }
        Cells cells = Cells.maxOf(t, 2, 3);
        // rows {0, 1, 2} {3, 4}; columns {0, 1, 2} {3, 4} {5, 6}
        assertArrayEquals(new float[] {22, 24, 26, 42, 44, 46}, cells.values());
        assertArrayEquals(t.toFlatArray(), Cells.maxOf(t, 5, 7).values(), "no downsampling when it fits");
    }

    @Test
    void colourMapsHaveMatplotlibsEndpoints() {
        assertEquals(0xfff5f0, ColorMap.REDS.rgb(0));
        assertEquals(0x67000d, ColorMap.REDS.rgb(1));
        assertEquals(0xfb6a4a, ColorMap.REDS.rgb(0.5), "the middle one of 9 stops");
        assertEquals(0x440154, ColorMap.VIRIDIS.rgb(0));
        assertEquals(0xfde725, ColorMap.VIRIDIS.rgb(1));
        assertClose(0x21918c, ColorMap.VIRIDIS.rgb(0.5), 1);
        assertClose(0x3b528b, ColorMap.VIRIDIS.rgb(0.25), 1);
        assertEquals(ColorMap.REDS.rgb(0), ColorMap.REDS.rgb(-3));
        assertEquals(ColorMap.VIRIDIS.rgb(1), ColorMap.VIRIDIS.rgb(7));
        assertThrows(IllegalArgumentException.class, () -> ColorMap.REDS.rgb(Double.NaN));
    }

    private static void assertClose(int expected, int actual, int tolerance) {
        for (int shift = 0; shift <= 16; shift += 8) {
            int e = expected >> shift & 0xff;
            int a = actual >> shift & 0xff;
            assertTrue(Math.abs(e - a) <= tolerance, String.format("expected #%06x, got #%06x", expected, actual));
        }
    }

    @Test
    void colourMapsParseByNameIgnoringCase() {
        assertEquals(ColorMap.REDS, ColorMap.parse("reds"));
        assertEquals(ColorMap.VIRIDIS, ColorMap.parse("Viridis"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ColorMap.parse("jet"));
        assertEquals("unknown colour map 'jet'; choose one of reds, viridis", e.getMessage());
    }

    @Test
    void ticksFallOnRoundSteps() {
        assertArrayEquals(new int[] {0, 2, 4, 6, 8}, Ticks.indices(10, 250, 40));
        assertArrayEquals(new int[] {0, 10, 20, 30, 40}, Ticks.indices(50, 250, 40));
        assertArrayEquals(new int[] {0, 500, 1000, 1500}, Ticks.indices(2000, 250, 40));
        assertArrayEquals(new int[] {0}, Ticks.indices(1, 250, 40));
        assertEquals(List.of("0.0", "0.2", "0.4", "0.6", "0.8", "1.0"),
                Ticks.values(0, 1, 6).stream().map(Ticks.ValueTick::label).toList());
        assertEquals(List.of("0.25", "0.50", "0.75", "1.00"),
                Ticks.values(0.2, 1.1, 4).stream().map(Ticks.ValueTick::label).toList());
        assertEquals(List.of("-20", "0", "20", "40"),
                Ticks.values(-25, 41, 5).stream().map(Ticks.ValueTick::label).toList());
        assertEquals(List.of("-0.5", "0.0", "0.5"),
                Ticks.values(-0.99, 0.99, 2).stream().map(Ticks.ValueTick::label).toList(), "never one tick alone");
    }

    @Test
    void badGridsAreRefusedNamingWhatIsWrong() {
        Tensor a = Tensor.allocate(arena, 3, 4);
        Tensor b = Tensor.allocate(arena, 4, 3);
        assertMessage("a heatmap needs at least one panel", () -> Heatmap.of(new Tensor[0][]));
        assertMessage("a heatmap needs at least one panel", () -> Heatmap.of(new Tensor[][] {{}}));
        assertMessage("row 1 of the grid has 1 panels; row 0 has 2", () -> Heatmap.of(new Tensor[][] {{a, a}, {a}}));
        assertMessage("panel (0, 1) has shape (4, 3), panel (0, 0) has shape (3, 4)",
                () -> Heatmap.of(new Tensor[][] {{a, b}}));
        assertMessage("panel (0, 0) has shape (0, 4); a heatmap needs a matrix of at least one query and one key",
                () -> Heatmap.fromWeights(Tensor.allocate(arena, 0, 4)));
        assertMessage("panel (0, 0) has shape (4,); a heatmap needs a matrix of at least one query and one key",
                () -> Heatmap.fromWeights(Tensor.allocate(arena, 4)));
        assertMessage("a grid of shape (2, 2, 3, 4) needs data of shape (12, 4), got (3, 4)",
                () -> Heatmap.grid(2, 2, 3, 4, a));
        assertMessage("cols must be positive, got 0", () -> Heatmap.grid(1, 0, 3, 4, a));
        assertMessage("2 titles for 1 columns of panels", () -> Heatmap.fromWeights(a).withTitles(List.of("x", "y")));
    }

    @Test
    void nonFiniteWeightsAreRefusedNamingTheirPlace() {
        Tensor data = Tensor.allocate(arena, 2 * 3 * 4, 5);
        data.set((1 * 3 + 2) * 4 + 3, 4, Float.NaN);
        assertMessage("weight NaN at panel (1, 2), query 3, key 4: a heatmap needs finite values",
                () -> Heatmap.grid(2, 3, 4, 5, data));
        data.set((1 * 3 + 2) * 4 + 3, 4, 0f);
        data.set(0, 1, Float.NEGATIVE_INFINITY);
        assertMessage("weight -Infinity at panel (0, 0), query 0, key 1: a heatmap needs finite values",
                () -> Heatmap.grid(2, 3, 4, 5, data));
    }

    @Test
    void badSizesAndRangesAreRefusedNamingTheValue() {
        Heatmap heatmap = Heatmap.fromWeights(eye(2));
        assertMessage("panel width must be 1..4096 pixels, got 0", () -> heatmap.withPanelSize(0, 10));
        assertMessage("panel height must be 1..4096 pixels, got -5", () -> heatmap.withPanelSize(10, -5));
        assertMessage("value range must be finite with min < max, got [1.0, 1.0]", () -> heatmap.withRange(1, 1));
        assertMessage("value range must be finite with min < max, got [0.0, NaN]",
                () -> heatmap.withRange(0, Double.NaN));
    }

    private static void assertMessage(String expected, org.junit.jupiter.api.function.Executable call) {
        assertEquals(expected, assertThrows(IllegalArgumentException.class, call).getMessage());
    }
}
