package dev.qkv.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;

/**
 * A float32 tensor of rank 1 or 2 in off-heap memory: row-major, with a row stride that may exceed the
 * number of columns (a view of some columns of a wider tensor).
 *
 * <p>A rank-1 tensor of length {@code n} is one row of {@code n} columns: {@link #rows()} is 1 and
 * {@link #cols()} is {@code n}. Tensors allocated here are 64-byte aligned and owned by the {@link Arena}
 * given; they are valid until it closes, after which every access throws {@link IllegalStateException}.
 * A tensor is a view: it never copies on its own, and two views of one segment see each other's writes.
 * Reads from several threads are safe; concurrent writes to the same elements are the caller's concern.
 */
public final class Tensor {

    /** The alignment of every tensor allocated here: one cache line, one 512-bit vector. */
    public static final long ALIGNMENT = 64;

    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private final MemorySegment segment;
    private final int rank;
    private final int rows;
    private final int cols;
    private final long rowStride;

    private Tensor(MemorySegment segment, int rank, int rows, int cols, long rowStride) {
        this.segment = segment;
        this.rank = rank;
        this.rows = rows;
        this.cols = cols;
        this.rowStride = rowStride;
    }

    /** A new zero-filled rows × cols tensor owned by {@code arena}. */
    public static Tensor allocate(Arena arena, int rows, int cols) {
        checkDims(rows, cols);
        return new Tensor(arena.allocate(bytes(rows, cols), ALIGNMENT), 2, rows, cols, cols);
    }

    /** A new zero-filled rank-1 tensor of {@code length} elements owned by {@code arena}. */
    public static Tensor allocate(Arena arena, int length) {
        checkDims(1, length);
        return new Tensor(arena.allocate(bytes(1, length), ALIGNMENT), 1, 1, length, length);
    }

    /** A new rank-1 tensor holding a copy of {@code values}. */
    public static Tensor of(Arena arena, float[] values) {
        Tensor t = allocate(arena, values.length);
        MemorySegment.copy(values, 0, t.segment, FLOAT, 0, values.length);
        return t;
    }

    /**
     * A new rows × cols tensor holding a copy of {@code values}, whose rows must all have the same length.
     * An array with no rows gives a 0 × 0 tensor.
     */
    public static Tensor of(Arena arena, float[][] values) {
        int cols = values.length == 0 ? 0 : values[0].length;
        Tensor t = allocate(arena, values.length, cols);
        t.copyFrom(values);
        return t;
    }

    /** A new rows × cols tensor holding a copy of {@code rowMajor}, whose length must be rows·cols. */
    public static Tensor of(Arena arena, int rows, int cols, float[] rowMajor) {
        checkDims(rows, cols);
        if ((long) rows * cols != rowMajor.length) {
            throw new IllegalArgumentException("shape (" + rows + ", " + cols + ") needs " + (long) rows * cols
                    + " values, got " + rowMajor.length);
        }
        Tensor t = allocate(arena, rows, cols);
        MemorySegment.copy(rowMajor, 0, t.segment, FLOAT, 0, rowMajor.length);
        return t;
    }

    /**
     * A tensor over existing memory, without copying: element (i, j) is the float at byte offset
     * {@code 4 * (i * rowStride + j)} of {@code segment}. Use {@code rank} 1 with {@code rows} 1 for a vector.
     *
     * @throws IllegalArgumentException if the shape is negative, the stride shorter than a row, the rank
     *     not 1 or 2, or the segment too small for the shape
     */
    public static Tensor wrap(MemorySegment segment, int rank, int rows, int cols, long rowStride) {
        Objects.requireNonNull(segment, "segment");
        checkDims(rows, cols);
        if (rank != 1 && rank != 2) {
            throw new IllegalArgumentException("rank must be 1 or 2, got " + rank);
        }
        if (rank == 1 && rows != 1) {
            throw new IllegalArgumentException("a rank-1 tensor has one row, got " + rows);
        }
        if (rowStride < cols) {
            throw new IllegalArgumentException("row stride " + rowStride + " is shorter than a row of " + cols);
        }
        long needed = rows == 0 ? 0 : 4 * ((rows - 1) * rowStride + cols);
        if (segment.byteSize() < needed) {
            throw new IllegalArgumentException("segment of " + segment.byteSize() + " bytes is too small for shape "
                    + shapeString(rank, rows, cols) + " with row stride " + rowStride + " (" + needed + " bytes)");
        }
        return new Tensor(segment, rank, rows, cols, rowStride);
    }

    /** 1 for a vector, 2 for a matrix. */
    public int rank() {
        return rank;
    }

    /** The number of rows; 1 for a rank-1 tensor. */
    public int rows() {
        return rows;
    }

    /** The number of columns; the length of a rank-1 tensor. */
    public int cols() {
        return cols;
    }

    /** The number of elements, rows · cols. */
    public long size() {
        return (long) rows * cols;
    }

    /** The distance between the starts of two consecutive rows, in floats. */
    public long rowStride() {
        return rowStride;
    }

    /** Whether the rows lie back to back, with no gap between them. */
    public boolean isContiguous() {
        return rowStride == cols || rows <= 1;
    }

    /** The memory behind this tensor; element (i, j) is at byte {@code 4 * (i * rowStride() + j)}. */
    public MemorySegment segment() {
        return segment;
    }

    /** The byte offset of row {@code i} in {@link #segment()}. */
    public long rowOffset(int i) {
        return 4L * i * rowStride;
    }

    /** The shape as an array: {@code {cols}} for rank 1, {@code {rows, cols}} for rank 2. */
    public int[] shape() {
        return rank == 1 ? new int[] {cols} : new int[] {rows, cols};
    }

    /** The shape as NumPy prints it: {@code (3,)} or {@code (3, 4)}. */
    public String shapeString() {
        return shapeString(rank, rows, cols);
    }

    /** Whether the arena that owns this tensor's memory is still open. */
    public boolean isAlive() {
        return segment.scope().isAlive();
    }

    /** Element (i, j). */
    public float get(int i, int j) {
        Objects.checkIndex(i, rows);
        Objects.checkIndex(j, cols);
        return segment.get(FLOAT, 4 * (i * rowStride + j));
    }

    /** Element i of a rank-1 tensor, or of a one-row matrix. */
    public float get(int i) {
        checkOneRow("get(i)");
        Objects.checkIndex(i, cols);
        return segment.get(FLOAT, 4L * i);
    }

    /** Sets element (i, j). */
    public void set(int i, int j, float value) {
        Objects.checkIndex(i, rows);
        Objects.checkIndex(j, cols);
        segment.set(FLOAT, 4 * (i * rowStride + j), value);
    }

    /** Sets element i of a rank-1 tensor, or of a one-row matrix. */
    public void set(int i, float value) {
        checkOneRow("set(i, value)");
        Objects.checkIndex(i, cols);
        segment.set(FLOAT, 4L * i, value);
    }

    /** Row {@code i} as a rank-1 view, without copying. */
    public Tensor row(int i) {
        Objects.checkIndex(i, rows);
        return new Tensor(segment.asSlice(rowOffset(i), 4L * cols), 1, 1, cols, cols);
    }

    /** Rows {@code from} (inclusive) to {@code to} (exclusive) as a rank-2 view, without copying. */
    public Tensor rows(int from, int to) {
        Objects.checkFromToIndex(from, to, rows);
        if (from == to) {
            return new Tensor(segment.asSlice(0, 0), 2, 0, cols, rowStride);
        }
        long bytes = 4 * ((to - from - 1) * rowStride + cols);
        return new Tensor(segment.asSlice(rowOffset(from), bytes), 2, to - from, cols, rowStride);
    }

    /** Columns {@code from} (inclusive) to {@code to} (exclusive) as a view with this tensor's row stride. */
    public Tensor columns(int from, int to) {
        Objects.checkFromToIndex(from, to, cols);
        if (rows == 0 || from == to) {
            return new Tensor(segment.asSlice(0, 0), rank, rows, to - from, Math.max(rowStride, 0));
        }
        long bytes = 4 * ((rows - 1) * rowStride + (to - from));
        return new Tensor(segment.asSlice(4L * from, bytes), rank, rows, to - from, rowStride);
    }

    /** This tensor seen as a rows × cols matrix: a rank-1 tensor of n becomes 1 × n; a matrix is itself. */
    public Tensor asMatrix() {
        return rank == 2 ? this : new Tensor(segment, 2, rows, cols, rowStride);
    }

    /** Copies {@code values} into this tensor; its shape must be rows × cols. */
    public void copyFrom(float[][] values) {
        if (values.length != rows) {
            throw new IllegalArgumentException("cannot copy " + values.length + " rows into a tensor of shape "
                    + shapeString());
        }
        for (int i = 0; i < rows; i++) {
            if (values[i].length != cols) {
                throw new IllegalArgumentException("row " + i + " has " + values[i].length
                        + " values; a tensor of shape " + shapeString() + " needs " + cols);
            }
            MemorySegment.copy(values[i], 0, segment, FLOAT, rowOffset(i), cols);
        }
    }

    /** Copies {@code values}, of length cols, into row {@code i}. */
    public void copyRowFrom(int i, float[] values) {
        Objects.checkIndex(i, rows);
        if (values.length != cols) {
            throw new IllegalArgumentException("cannot copy " + values.length + " values into a row of "
                    + cols + " (shape " + shapeString() + ")");
        }
        MemorySegment.copy(values, 0, segment, FLOAT, rowOffset(i), cols);
    }

    /** Copies {@code source}, which must have this tensor's rows and cols (ranks may differ), into this one. */
    public void copyFrom(Tensor source) {
        if (source.rows != rows || source.cols != cols) {
            throw new IllegalArgumentException("cannot copy a tensor of shape " + source.shapeString()
                    + " into one of shape " + shapeString());
        }
        for (int i = 0; i < rows; i++) {
            MemorySegment.copy(source.segment, source.rowOffset(i), segment, rowOffset(i), 4L * cols);
        }
    }

    /** A copy of the elements as rows. */
    public float[][] toArray() {
        float[][] out = new float[rows][];
        for (int i = 0; i < rows; i++) {
            out[i] = rowToArray(i);
        }
        return out;
    }

    /** A copy of row {@code i}. */
    public float[] rowToArray(int i) {
        Objects.checkIndex(i, rows);
        float[] out = new float[cols];
        MemorySegment.copy(segment, FLOAT, rowOffset(i), out, 0, cols);
        return out;
    }

    /** A copy of the elements in row-major order, rows · cols long. */
    public float[] toFlatArray() {
        if (size() > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("a tensor of shape " + shapeString() + " does not fit in one array");
        }
        float[] out = new float[(int) size()];
        for (int i = 0; i < rows; i++) {
            MemorySegment.copy(segment, FLOAT, rowOffset(i), out, i * cols, cols);
        }
        return out;
    }

    /** Sets every element to {@code value}. */
    public void fill(float value) {
        for (int i = 0; i < rows; i++) {
            if (value == 0f) {
                segment.asSlice(rowOffset(i), 4L * cols).fill((byte) 0);
            } else {
                for (int j = 0; j < cols; j++) {
                    segment.set(FLOAT, rowOffset(i) + 4L * j, value);
                }
            }
        }
    }

    @Override
    public String toString() {
        return "Tensor" + shapeString() + (isContiguous() ? "" : " stride " + rowStride);
    }

    /** Compares shapes and elements; NaN equals NaN, as in {@link Arrays#equals(float[], float[])}. */
    public boolean contentEquals(Tensor other) {
        if (rank != other.rank || rows != other.rows || cols != other.cols) {
            return false;
        }
        for (int i = 0; i < rows; i++) {
            if (!Arrays.equals(rowToArray(i), other.rowToArray(i))) {
                return false;
            }
        }
        return true;
    }

    static String shapeString(int rank, int rows, int cols) {
        return rank == 1 ? "(" + cols + ",)" : "(" + rows + ", " + cols + ")";
    }

    private void checkOneRow(String method) {
        if (rows != 1) {
            throw new IllegalStateException(method + " needs a vector or a one-row matrix, not shape "
                    + shapeString());
        }
    }

    private static void checkDims(int rows, int cols) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("shape must not be negative: (" + rows + ", " + cols + ")");
        }
    }

    private static long bytes(int rows, int cols) {
        return Math.max(4L * rows * cols, 0);
    }
}
