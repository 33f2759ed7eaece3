package dev.qkv.viz;

/**
 * One thing drawn on a heatmap figure, in pixels with the origin at the top left. A figure is a list of
 * marks painted in order, so the PNG and the SVG of one heatmap share every position.
 */
sealed interface Mark {

    /** A filled rectangle: frames and tick marks, kept on whole pixels so both outputs stay crisp. */
    record Box(int x, int y, int width, int height, int rgb) implements Mark {}

    /**
     * A grid of {@code rows × cols} cells filling the rectangle; cell (r, c) has colour
     * {@code rgb[r * cols + c]} and spans the pixels from {@link Layout#edge(int, int, int) edge}(c) to
     * edge(c + 1) across and likewise down.
     */
    record CellGrid(int x, int y, int width, int height, int rows, int cols, int[] rgb) implements Mark {}

    /** The colour map as a vertical bar: 0 at the bottom, 1 at the top. */
    record Gradient(int x, int y, int width, int height, ColorMap map) implements Mark {}

    /**
     * A line of text whose baseline passes through (x, y), anchored there at its start, middle or end;
     * a vertical label reads upwards, turned 90° counter-clockwise about (x, y).
     */
    record Label(String text, double x, double y, float size, Anchor anchor, boolean vertical) implements Mark {}

    /** Which point of a label's baseline its (x, y) is. */
    enum Anchor {
        START, MIDDLE, END
    }
}
