package dev.qkv.viz;

import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * The cells drawn for one n × m panel: at most {@code maxRows × maxCols} of them, each the maximum of the
 * block of matrix cells it covers. Drawn cell (r, c) of R × C covers the matrix cells (i, j) with
 * ⌊i·R/n⌋ = r and ⌊j·C/m⌋ = c; blocks differ in size by at most one row or column.
 */
record Cells(int rows, int cols, float[] values) {

    /** Reads {@code panel} one row at a time, never holding more than one of its rows. */
    static Cells maxOf(Tensor panel, int maxRows, int maxCols) {
        int n = panel.rows();
        int m = panel.cols();
        int rows = Math.min(n, maxRows);
        int cols = Math.min(m, maxCols);
        int[] block = new int[m];
        for (int j = 0; j < m; j++) {
            block[j] = (int) ((long) j * cols / m);
        }
        float[] values = new float[rows * cols];
        Arrays.fill(values, Float.NEGATIVE_INFINITY);
        float[] row = new float[m];
        for (int i = 0; i < n; i++) {
            readRow(panel, i, row);
            int base = (int) ((long) i * rows / n) * cols;
            for (int j = 0; j < m; j++) {
                int k = base + block[j];
                values[k] = Math.max(values[k], row[j]);
            }
        }
        return new Cells(rows, cols, values);
    }

    /** Copies row {@code i} of {@code tensor} into {@code row}, whose length is the tensor's columns. */
    static void readRow(Tensor tensor, int i, float[] row) {
        if (tensor.elementType() != ElementType.F32) {
            System.arraycopy(tensor.rowToArray(i), 0, row, 0, row.length);
            return;
        }
        MemorySegment.copy(tensor.segment(), ValueLayout.JAVA_FLOAT_UNALIGNED, tensor.rowOffset(i), row, 0, row.length);
    }
}
