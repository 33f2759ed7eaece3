package dev.qkv.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;

/**
 * A tensor of rank 1 to 4 in off-heap memory: (cols), (rows, cols), (batch, rows, cols) or (batch, heads, rows,
 * cols), with strides as given, of float32, or of float16 or bfloat16 for keys and values.
 *
 * <p>Each (batch, head) pair holds a rows × cols matrix, {@link #slice(int, int)}; its rows may lie further
 * apart than their length ({@link #rowStride()} ≥ cols: a view of some columns of a wider tensor), and the
 * matrices may lie anywhere ({@link #batchStride()}, {@link #headStride()}), so the heads of a (B, n, H·d)
 * projection are a (B, H, n, d) view of it ({@link #splitHeads}) without a copy. Within a row the elements
 * are contiguous. A rank-1 tensor of length {@code n} is one row of {@code n} columns: {@link #rows()} is 1;
 * a tensor of rank ≤ 2 has one batch and one head, a rank-3 tensor one head. The row-wise methods
 * ({@link #get(int, int)}, {@link #row}, {@link #toArray()}, ...) are those of a matrix: on a tensor of rank 3
 * or 4 they throw, and {@link #slice} gives the matrix they apply to.
 *
 * <p>Strides count elements, offsets count bytes: element (b, h, i, j) is at byte
 * {@code elementType().byteSize() * (b·batchStride + h·headStride + i·rowStride + j)} of {@link #segment()}.
 * An {@link ElementType#F16} or {@link ElementType#BF16} tensor is read-only through this API: it comes from
 * {@link #convertTo}, {@link #wrap(MemorySegment, ElementType, int[], long[])} or a {@code .npy} file, and
 * the getters widen its elements, exactly, to float.
 *
 * <p>Tensors allocated here are 64-byte aligned, contiguous and owned by the {@link Arena} given; they are
 * valid until it closes, after which every access throws {@link IllegalStateException}. A tensor is a view:
 * it never copies on its own, and two views of one segment see each other's writes. Reads from several
 * threads are safe; concurrent writes to the same elements are the caller's concern.
 */
public final class Tensor {

    /** The alignment of every tensor allocated here: one cache line, one 512-bit vector. */
    public static final long ALIGNMENT = 64;

    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;
    static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final MemorySegment segment;
    private final ElementType type;
    private final int rank;
    private final int batch;
    private final int heads;
    private final int rows;
    private final int cols;
    private final long batchStride;
    private final long headStride;
    private final long rowStride;

    private Tensor(MemorySegment segment, ElementType type, int rank, int batch, int heads, int rows, int cols,
            long batchStride, long headStride, long rowStride) {
        this.segment = segment;
        this.type = type;
        this.rank = rank;
        this.batch = batch;
        this.heads = heads;
        this.rows = rows;
        this.cols = cols;
        this.batchStride = batchStride;
        this.headStride = headStride;
        this.rowStride = rowStride;
    }

    /** A rank-1 or rank-2 tensor: one batch of one head. */
    private static Tensor matrix(MemorySegment segment, ElementType type, int rank, int rows, int cols, long rowStride) {
        long matrixStride = rows * rowStride;
        return new Tensor(segment, type, rank, 1, 1, rows, cols, matrixStride, matrixStride, rowStride);
    }

    // ---- allocation

    /** A new zero-filled rows × cols tensor owned by {@code arena}. */
    public static Tensor allocate(Arena arena, int rows, int cols) {
        return allocate(arena, ElementType.F32, new int[] {rows, cols});
    }

    /** A new zero-filled rank-1 tensor of {@code length} elements owned by {@code arena}. */
    public static Tensor allocate(Arena arena, int length) {
        return allocate(arena, ElementType.F32, new int[] {length});
    }

    /** A new zero-filled (batch, rows, cols) tensor owned by {@code arena}. */
    public static Tensor allocate(Arena arena, int batch, int rows, int cols) {
        return allocate(arena, ElementType.F32, new int[] {batch, rows, cols});
    }

    /** A new zero-filled (batch, heads, rows, cols) tensor owned by {@code arena}. */
    public static Tensor allocate(Arena arena, int batch, int heads, int rows, int cols) {
        return allocate(arena, ElementType.F32, new int[] {batch, heads, rows, cols});
    }

    /** A new zero-filled tensor of {@code shape}, rank 1 to 4 as NumPy orders it, owned by {@code arena}. */
    public static Tensor allocate(Arena arena, int[] shape) {
        return allocate(arena, ElementType.F32, shape.clone());
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
        return of(arena, new int[] {rows, cols}, rowMajor);
    }

    /**
     * A new tensor of {@code shape} (rank 1 to 4, as NumPy orders it) holding a copy of {@code rowMajor},
     * whose length must be the product of the shape.
     */
    public static Tensor of(Arena arena, int[] shape, float[] rowMajor) {
        checkShape(shape);
        long size = product(shape);
        if (size != rowMajor.length) {
            throw new IllegalArgumentException("shape " + shapeString(shape) + " needs " + size + " values, got "
                    + rowMajor.length);
        }
        Tensor t = allocate(arena, ElementType.F32, shape);
        MemorySegment.copy(rowMajor, 0, t.segment, FLOAT, 0, rowMajor.length);
        return t;
    }

    private static Tensor allocate(Arena arena, ElementType type, int[] shape) {
        checkShape(shape);
        long bytes = Math.multiplyExact(product(shape), (long) type.byteSize());
        return contiguous(arena.allocate(bytes, ALIGNMENT), type, shape);
    }

    /** A contiguous row-major tensor of {@code shape} over {@code segment}. */
    private static Tensor contiguous(MemorySegment segment, ElementType type, int[] shape) {
        int rank = shape.length;
        int cols = shape[rank - 1];
        int rows = rank >= 2 ? shape[rank - 2] : 1;
        int heads = rank == 4 ? shape[1] : 1;
        int batch = rank >= 3 ? shape[0] : 1;
        long headStride = (long) rows * cols;
        return new Tensor(segment, type, rank, batch, heads, rows, cols, heads * headStride, headStride, cols);
    }

    // ---- wrapping existing memory

    /**
     * A float32 tensor over existing memory, without copying: element (i, j) is the float at byte offset
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
        Tensor t = matrix(segment, ElementType.F32, rank, rows, cols, rowStride);
        checkFits(segment, t, " with row stride " + rowStride);
        return t;
    }

    /**
     * A tensor over existing memory, without copying: {@code shape} of rank 1 to 4 as NumPy orders it, and
     * {@code strides} in elements, one per dimension, the last 1 (the elements of a row are contiguous) and a
     * row stride of at least the row's length. Batch and head strides may be anything ≥ 0: 0 repeats one
     * matrix over a dimension; overlapping matrices are fine to read, and the caller's concern to write.
     * This is how bfloat16 keys and values enter qkv, since {@code .npy} has no bfloat16.
     *
     * @throws IllegalArgumentException if the shape's rank is not 1 to 4, a dimension is negative, the strides
     *     are not as above, or the segment is too small for the shape and strides
     */
    public static Tensor wrap(MemorySegment segment, ElementType type, int[] shape, long[] strides) {
        Objects.requireNonNull(segment, "segment");
        Objects.requireNonNull(type, "type");
        checkShape(shape);
        int rank = shape.length;
        if (strides.length != rank) {
            throw new IllegalArgumentException("shape " + shapeString(shape) + " needs " + rank + " strides, got "
                    + strides.length);
        }
        if (strides[rank - 1] != 1) {
            throw new IllegalArgumentException("the elements of a row must be contiguous: the last stride must be 1, not "
                    + strides[rank - 1]);
        }
        if (Arrays.stream(strides).anyMatch(s -> s < 0)) {
            throw new IllegalArgumentException("strides must not be negative: " + Arrays.toString(strides));
        }
        Tensor c = contiguous(segment, type, shape);
        long rowStride = rank >= 2 ? strides[rank - 2] : c.cols;
        if (rank >= 2 && rowStride < c.cols) {
            throw new IllegalArgumentException("row stride " + rowStride + " is shorter than a row of " + c.cols);
        }
        long headStride = rank == 4 ? strides[1] : c.rows * rowStride;
        long batchStride = rank >= 3 ? strides[0] : c.rows * rowStride;
        Tensor t = new Tensor(segment, type, rank, c.batch, c.heads, c.rows, c.cols, batchStride, headStride, rowStride);
        checkFits(segment, t, " with strides " + Arrays.toString(strides));
        return t;
    }

    private static void checkFits(MemorySegment segment, Tensor t, String how) {
        long needed = t.spanBytes();
        if (segment.byteSize() < needed) {
            throw new IllegalArgumentException("segment of " + segment.byteSize() + " bytes is too small for "
                    + (t.type == ElementType.F32 ? "" : t.type.label() + " ") + "shape " + t.shapeString() + how
                    + " (" + needed + " bytes)");
        }
    }

    // ---- shape

    /** 1 for a vector, 2 for a matrix, 3 for (batch, rows, cols), 4 for (batch, heads, rows, cols). */
    public int rank() {
        return rank;
    }

    /** How the elements are stored. */
    public ElementType elementType() {
        return type;
    }

    /** The number of batches; 1 for rank ≤ 2. */
    public int batch() {
        return batch;
    }

    /** The number of heads; 1 for rank ≤ 3. */
    public int heads() {
        return heads;
    }

    /** The number of rows of each matrix; 1 for a rank-1 tensor. */
    public int rows() {
        return rows;
    }

    /** The number of columns; the length of a rank-1 tensor. */
    public int cols() {
        return cols;
    }

    /** The number of elements: batch · heads · rows · cols. */
    public long size() {
        return (long) batch * heads * rows * cols;
    }

    /** The distance between the starts of two consecutive rows, in elements. */
    public long rowStride() {
        return rowStride;
    }

    /** The distance between the starts of the matrices of two consecutive heads, in elements. */
    public long headStride() {
        return headStride;
    }

    /** The distance between the starts of two consecutive batches, in elements. */
    public long batchStride() {
        return batchStride;
    }

    /** The strides in elements, one per dimension as {@link #shape()} lists them; the last is 1. */
    public long[] strides() {
        return switch (rank) {
            case 1 -> new long[] {1};
            case 2 -> new long[] {rowStride, 1};
            case 3 -> new long[] {batchStride, rowStride, 1};
            default -> new long[] {batchStride, headStride, rowStride, 1};
        };
    }

    /** Whether the elements lie back to back in row-major order, with no gap and no overlap. */
    public boolean isContiguous() {
        boolean rowsAdjacent = rowStride == cols || rows <= 1;
        boolean headsAdjacent = headStride == (long) rows * cols || heads <= 1;
        boolean batchesAdjacent = batchStride == (long) heads * rows * cols || batch <= 1;
        return rowsAdjacent && headsAdjacent && batchesAdjacent;
    }

    /** The memory behind this tensor; element (b, h, i, j) is at byte {@link #offset(int, int, int)} + size · j. */
    public MemorySegment segment() {
        return segment;
    }

    /**
     * The byte offset in {@link #segment()} of row {@code i} of the (first) matrix: of a tensor of rank 3 or 4,
     * use {@link #offset(int, int, int)}. Unchecked, for kernels.
     */
    public long rowOffset(int i) {
        return (long) type.byteSize() * i * rowStride;
    }

    /** The byte offset in {@link #segment()} of row {@code i} of the matrix of batch {@code b}, head {@code h}. */
    public long offset(int b, int h, int i) {
        Objects.checkIndex(b, batch);
        Objects.checkIndex(h, heads);
        Objects.checkIndex(i, rows);
        return offsetUnchecked(b, h, i);
    }

    private long offsetUnchecked(int b, int h, int i) {
        return type.byteSize() * (b * batchStride + h * headStride + i * rowStride);
    }

    /** The shape as NumPy gives it: {@code {cols}}, {@code {rows, cols}}, {@code {batch, rows, cols}}, ... */
    public int[] shape() {
        return switch (rank) {
            case 1 -> new int[] {cols};
            case 2 -> new int[] {rows, cols};
            case 3 -> new int[] {batch, rows, cols};
            default -> new int[] {batch, heads, rows, cols};
        };
    }

    /** The shape as NumPy prints it: {@code (3,)}, {@code (3, 4)} or {@code (2, 8, 3, 4)}. */
    public String shapeString() {
        return shapeString(shape());
    }

    /** Whether the arena that owns this tensor's memory is still open. */
    public boolean isAlive() {
        return segment.scope().isAlive();
    }

    // ---- elements

    /** Element (i, j) of a matrix or vector, widened to float. */
    public float get(int i, int j) {
        checkMatrix("get(i, j)");
        Objects.checkIndex(i, rows);
        Objects.checkIndex(j, cols);
        return read(rowOffset(i) + (long) type.byteSize() * j);
    }

    /** Element i of a rank-1 tensor, or of a one-row matrix, widened to float. */
    public float get(int i) {
        checkOneRow("get(i)");
        Objects.checkIndex(i, cols);
        return read((long) type.byteSize() * i);
    }

    /** Element (i, j) of the matrix of batch {@code b}, head {@code h}, widened to float; any rank. */
    public float get(int b, int h, int i, int j) {
        long row = offset(b, h, i);
        Objects.checkIndex(j, cols);
        return read(row + (long) type.byteSize() * j);
    }

    /** Sets element (i, j) of a float32 matrix or vector. */
    public void set(int i, int j, float value) {
        checkMatrix("set(i, j, value)");
        checkWritable();
        Objects.checkIndex(i, rows);
        Objects.checkIndex(j, cols);
        segment.set(FLOAT, rowOffset(i) + 4L * j, value);
    }

    /** Sets element i of a float32 rank-1 tensor, or of a one-row matrix. */
    public void set(int i, float value) {
        checkOneRow("set(i, value)");
        checkWritable();
        Objects.checkIndex(i, cols);
        segment.set(FLOAT, 4L * i, value);
    }

    /** Sets element (i, j) of the matrix of batch {@code b}, head {@code h} of a float32 tensor; any rank. */
    public void set(int b, int h, int i, int j, float value) {
        checkWritable();
        long row = offset(b, h, i);
        Objects.checkIndex(j, cols);
        segment.set(FLOAT, row + 4L * j, value);
    }

    private float read(long byteOffset) {
        return switch (type) {
            case F32 -> segment.get(FLOAT, byteOffset);
            case F16 -> ElementType.f16ToFloat(segment.get(HALF, byteOffset));
            case BF16 -> ElementType.bf16ToFloat(segment.get(HALF, byteOffset));
        };
    }

    /** Copies {@code n} elements from {@code byteOffset}, widened, into {@code out} from {@code at}. */
    private void readInto(long byteOffset, float[] out, int at, int n) {
        if (type == ElementType.F32) {
            MemorySegment.copy(segment, FLOAT, byteOffset, out, at, n);
        } else {
            for (int j = 0; j < n; j++) {
                out[at + j] = read(byteOffset + 2L * j);
            }
        }
    }

    // ---- views

    /** Row {@code i} of a matrix as a rank-1 view, without copying. */
    public Tensor row(int i) {
        checkMatrix("row(i)");
        Objects.checkIndex(i, rows);
        return matrix(segment.asSlice(rowOffset(i), (long) type.byteSize() * cols), type, 1, 1, cols, cols);
    }

    /**
     * The matrix of batch {@code b}, head {@code h}: a rows × cols view, without copying. Of a rank-3
     * tensor, {@code h} is 0; of a tensor of rank ≤ 2, both are 0 and the view is {@link #asMatrix()}.
     */
    public Tensor slice(int b, int h) {
        Objects.checkIndex(b, batch);
        Objects.checkIndex(h, heads);
        if (rank <= 2) {
            return asMatrix();
        }
        Tensor m = matrix(segment, type, 2, rows, cols, rowStride);
        if (m.spanBytes() == 0) {
            return matrix(segment.asSlice(0, 0), type, 2, rows, cols, rowStride);
        }
        return matrix(segment.asSlice(offsetUnchecked(b, h, 0), m.spanBytes()), type, 2, rows, cols, rowStride);
    }

    /**
     * Rows {@code from} (inclusive) to {@code to} (exclusive) of every matrix, as a view of the same rank; of
     * a vector, as a matrix of 0 or 1 rows.
     */
    public Tensor rows(int from, int to) {
        Objects.checkFromToIndex(from, to, rows);
        return (rank == 1 ? asMatrix() : this).subView(rowOffset(from), to - from, cols);
    }

    /** Columns {@code from} (inclusive) to {@code to} (exclusive) as a view with this tensor's strides. */
    public Tensor columns(int from, int to) {
        Objects.checkFromToIndex(from, to, cols);
        return subView((long) type.byteSize() * from, rows, to - from);
    }

    /** This tensor's strides over {@code newRows} × {@code newCols} matrices starting at {@code start}. */
    private Tensor subView(long start, int newRows, int newCols) {
        Tensor t = new Tensor(segment, type, rank, batch, heads, newRows, newCols, batchStride, headStride, rowStride);
        long bytes = t.spanBytes();
        MemorySegment s = bytes == 0 ? segment.asSlice(0, 0) : segment.asSlice(start, bytes);
        return new Tensor(s, type, rank, batch, heads, newRows, newCols, batchStride, headStride, rowStride);
    }

    /**
     * This tensor seen as a rows × cols matrix: a rank-1 tensor of n becomes 1 × n; a matrix is itself; a
     * tensor of rank 3 or 4 becomes the (batch · heads · rows) × cols matrix of all its rows, in order, if its
     * strides allow that without a copy (see {@link #view}).
     */
    public Tensor asMatrix() {
        if (rank == 2) {
            return this;
        }
        if (rank == 1) {
            return matrix(segment, type, 2, rows, cols, rowStride);
        }
        long allRows = (long) batch * heads * rows;
        if (allRows > Integer.MAX_VALUE) {
            throw new IllegalStateException("a tensor of shape " + shapeString() + " has more rows than an int counts");
        }
        return view((int) allRows, cols);
    }

    /**
     * The same elements in row-major order seen with another shape (rank 1 to 4), without copying: NumPy's
     * {@code reshape} when it returns a view. Possible when each run of dimensions merged or split is
     * laid out evenly, e.g. any shape of a contiguous tensor, or (B, n, H·d) of a (B, n, H, d) one.
     *
     * @throws IllegalArgumentException if the shape holds another number of elements, or the strides do not
     *     allow the view (copy into a new tensor first)
     */
    public Tensor view(int... shape) {
        checkShape(shape);
        int[] old = shape();
        if (product(shape) != size()) {
            throw new IllegalArgumentException("cannot view a tensor of shape " + shapeString() + " as "
                    + shapeString(shape) + ": the sizes differ");
        }
        long[] strides = size() == 0 ? contiguousStrides(shape) : viewStrides(old, strides(), shape);
        if (strides == null) {
            throw new IllegalArgumentException("cannot view a tensor of shape " + shapeString() + " with strides "
                    + Arrays.toString(strides()) + " as " + shapeString(shape) + " without a copy");
        }
        Tensor c = contiguous(segment, type, shape);
        int n = shape.length;
        long newRowStride = n >= 2 ? strides[n - 2] : c.cols;
        long newHeadStride = n == 4 ? strides[1] : c.rows * newRowStride;
        long newBatchStride = n >= 3 ? strides[0] : c.rows * newRowStride;
        return new Tensor(segment, type, n, c.batch, c.heads, c.rows, c.cols, newBatchStride, newHeadStride,
                newRowStride);
    }

    /**
     * The heads of a projection: a (batch, rows, heads · d) tensor, or a (rows, heads · d) matrix as one batch,
     * seen as (batch, heads, rows, d), without copying. Head h of row i is columns [h·d, (h+1)·d) of row i,
     * as in a model's {@code x.view(B, n, H, d).transpose(1, 2)}.
     *
     * @throws IllegalArgumentException if the rank is not 2 or 3 or {@code heads} does not divide the columns
     */
    public Tensor splitHeads(int heads) {
        if (rank != 2 && rank != 3) {
            throw new IllegalArgumentException("splitHeads needs a (rows, heads·d) or (batch, rows, heads·d) tensor, "
                    + "not shape " + shapeString());
        }
        if (heads <= 0 || cols % heads != 0) {
            throw new IllegalArgumentException("cannot split " + cols + " columns of shape " + shapeString()
                    + " into " + heads + " heads");
        }
        int d = cols / heads;
        long newBatchStride = rank == 3 ? batchStride : (long) rows * rowStride;
        return new Tensor(segment, type, 4, batch, heads, rows, d, newBatchStride, d, rowStride);
    }

    /**
     * NumPy's no-copy reshape: the strides for {@code to} over the elements of a tensor of shape {@code from}
     * and {@code strides} (no dimension 0), or null if there are none. Runs of old and new dimensions with
     * equal products are matched; a run of old dimensions must be laid out evenly to be regrouped.
     */
    private static long[] viewStrides(int[] from, long[] strides, int[] to) {
        int[] oldDims = Arrays.stream(from).filter(d -> d != 1).toArray();
        long[] oldStrides = new long[oldDims.length];
        for (int i = 0, k = 0; i < from.length; i++) {
            if (from[i] != 1) {
                oldStrides[k++] = strides[i];
            }
        }
        long[] out = new long[to.length];
        int oi = 0;
        int oj = 1;
        int ni = 0;
        int nj = 1;
        while (ni < to.length && oi < oldDims.length) {
            long np = to[ni];
            long op = oldDims[oi];
            while (np != op) {
                if (np < op) {
                    np *= to[nj++];
                } else {
                    op *= oldDims[oj++];
                }
            }
            for (int ok = oi; ok < oj - 1; ok++) {
                if (oldStrides[ok] != oldDims[ok + 1] * oldStrides[ok + 1]) {
                    return null;
                }
            }
            out[nj - 1] = oldStrides[oj - 1];
            for (int nk = nj - 1; nk > ni; nk--) {
                out[nk - 1] = out[nk] * to[nk];
            }
            ni = nj++;
            oi = oj++;
        }
        // Dimensions of 1 left at the end: any stride serves; give the contiguous one.
        for (int k = to.length - 1; k >= ni; k--) {
            out[k] = k == to.length - 1 ? 1 : out[k + 1] * to[k + 1];
        }
        // A dimension of 1 has no real stride; keep the invariant row stride ≥ cols for it.
        for (int k = to.length - 2; k >= 0; k--) {
            if (to[k] == 1) {
                out[k] = out[k + 1] * to[k + 1];
            }
        }
        return out;
    }

    private static long[] contiguousStrides(int[] shape) {
        long[] out = new long[shape.length];
        long s = 1;
        for (int k = shape.length - 1; k >= 0; k--) {
            out[k] = s;
            s *= Math.max(shape[k], 1);
        }
        return out;
    }

    // ---- copies

    /** Copies {@code values} into this float32 matrix; its shape must be rows × cols. */
    public void copyFrom(float[][] values) {
        checkMatrix("copyFrom(float[][])");
        checkWritable();
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

    /** Copies {@code values}, of length cols, into row {@code i} of this float32 matrix. */
    public void copyRowFrom(int i, float[] values) {
        checkMatrix("copyRowFrom(i, values)");
        checkWritable();
        Objects.checkIndex(i, rows);
        if (values.length != cols) {
            throw new IllegalArgumentException("cannot copy " + values.length + " values into a row of "
                    + cols + " (shape " + shapeString() + ")");
        }
        MemorySegment.copy(values, 0, segment, FLOAT, rowOffset(i), cols);
    }

    /**
     * Copies {@code source}, widened to float, into this float32 tensor; they must have the same batches,
     * heads, rows and cols (ranks may differ: a vector of n and a 1 × n matrix).
     */
    public void copyFrom(Tensor source) {
        checkWritable();
        if (source.batch != batch || source.heads != heads || source.rows != rows || source.cols != cols) {
            throw new IllegalArgumentException("cannot copy a tensor of shape " + source.shapeString()
                    + " into one of shape " + shapeString());
        }
        float[] row = source.type == ElementType.F32 ? null : new float[cols];
        forEachRow((b, h, i) -> {
            if (row == null) {
                MemorySegment.copy(source.segment, source.offsetUnchecked(b, h, i), segment, offsetUnchecked(b, h, i),
                        4L * cols);
            } else {
                source.readInto(source.offsetUnchecked(b, h, i), row, 0, cols);
                MemorySegment.copy(row, 0, segment, FLOAT, offsetUnchecked(b, h, i), cols);
            }
        });
    }

    /**
     * A new contiguous tensor of this shape in {@code arena} holding the elements stored as {@code target}:
     * rounded to the nearest, ties to even, when it is narrower, widened exactly otherwise. Infinities and
     * NaNs stay what they are; zeros, subnormals and underflow follow IEEE 754.
     *
     * @throws IllegalArgumentException if a finite element is too large for {@code target}, which would make
     *     it infinite (above 65504 in magnitude, or rounding to 65520, for float16); the message names the
     *     first such element and its index, and nothing is allocated
     */
    public Tensor convertTo(Arena arena, ElementType target) {
        Objects.requireNonNull(arena, "arena");
        Objects.requireNonNull(target, "target");
        forEachRow((b, h, i) -> {
            long row = offsetUnchecked(b, h, i);
            for (int j = 0; j < cols; j++) {
                float x = read(row + (long) type.byteSize() * j);
                if (Float.isFinite(x) && !Float.isFinite(target.round(x))) {
                    throw new IllegalArgumentException("value " + x + " at " + index(b, h, i, j)
                            + " is finite but overflows " + target.label() + " (" + largestFinite(target)
                            + " is its largest finite value)");
                }
            }
        });
        Tensor out = allocate(arena, target, shape());
        float[] row = new float[cols];
        forEachRow((b, h, i) -> {
            readInto(offsetUnchecked(b, h, i), row, 0, cols);
            long at = out.offsetUnchecked(b, h, i);
            switch (target) {
                case F32 -> MemorySegment.copy(row, 0, out.segment, FLOAT, at, cols);
                case F16 -> {
                    for (int j = 0; j < cols; j++) {
                        out.segment.set(HALF, at + 2L * j, ElementType.floatToF16(row[j]));
                    }
                }
                case BF16 -> {
                    for (int j = 0; j < cols; j++) {
                        out.segment.set(HALF, at + 2L * j, ElementType.floatToBf16(row[j]));
                    }
                }
            }
        });
        return out;
    }

    private static float largestFinite(ElementType type) {
        return switch (type) {
            case F32 -> Float.MAX_VALUE;
            case F16 -> 65504f;
            case BF16 -> ElementType.bf16ToFloat((short) 0x7F7F);
        };
    }

    /** A copy of the elements of a matrix or vector as rows, widened to float. */
    public float[][] toArray() {
        checkMatrix("toArray()");
        float[][] out = new float[rows][];
        for (int i = 0; i < rows; i++) {
            out[i] = rowToArray(i);
        }
        return out;
    }

    /** A copy of row {@code i} of a matrix or vector, widened to float. */
    public float[] rowToArray(int i) {
        checkMatrix("rowToArray(i)");
        Objects.checkIndex(i, rows);
        float[] out = new float[cols];
        readInto(rowOffset(i), out, 0, cols);
        return out;
    }

    /** A copy of all the elements in row-major order, widened to float: size() long. */
    public float[] toFlatArray() {
        if (size() > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("a tensor of shape " + shapeString() + " does not fit in one array");
        }
        float[] out = new float[(int) size()];
        int[] at = {0};
        forEachRow((b, h, i) -> {
            readInto(offsetUnchecked(b, h, i), out, at[0], cols);
            at[0] += cols;
        });
        return out;
    }

    /** Sets every element of this float32 tensor to {@code value}. */
    public void fill(float value) {
        checkWritable();
        forEachRow((b, h, i) -> {
            long row = offsetUnchecked(b, h, i);
            if (value == 0f) {
                segment.asSlice(row, 4L * cols).fill((byte) 0);
            } else {
                for (int j = 0; j < cols; j++) {
                    segment.set(FLOAT, row + 4L * j, value);
                }
            }
        });
    }

    @Override
    public String toString() {
        return "Tensor" + shapeString() + (type == ElementType.F32 ? "" : " " + type.label())
                + (isContiguous() ? "" : rank <= 2 ? " stride " + rowStride : " strides " + Arrays.toString(strides()));
    }

    /**
     * Compares element types, shapes and elements; NaN equals NaN, as in {@link Arrays#equals(float[], float[])}.
     */
    public boolean contentEquals(Tensor other) {
        if (type != other.type || !Arrays.equals(shape(), other.shape())) {
            return false;
        }
        float[] mine = new float[cols];
        float[] theirs = new float[cols];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < rows; i++) {
                    readInto(offsetUnchecked(b, h, i), mine, 0, cols);
                    other.readInto(other.offsetUnchecked(b, h, i), theirs, 0, cols);
                    if (!Arrays.equals(mine, theirs)) {
                        return false;
                    }
                }
            }
        }
        return true;
    }

    // ---- helpers

    private interface RowAction {
        void at(int b, int h, int i);
    }

    private void forEachRow(RowAction action) {
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < rows; i++) {
                    action.at(b, h, i);
                }
            }
        }
    }

    /** The bytes from element (0, 0, 0, 0) to the end of the last one; 0 if there are no elements. */
    private long spanBytes() {
        if (size() == 0) {
            return 0;
        }
        return type.byteSize() * ((batch - 1) * batchStride + (heads - 1) * headStride + (rows - 1) * rowStride + cols);
    }

    private String index(int b, int h, int i, int j) {
        return switch (rank) {
            case 1 -> "(" + j + ")";
            case 2 -> "(" + i + ", " + j + ")";
            case 3 -> "(" + b + ", " + i + ", " + j + ")";
            default -> "(" + b + ", " + h + ", " + i + ", " + j + ")";
        };
    }

    /** A shape as NumPy prints it: {@code (3,)} or {@code (3, 4)}. */
    static String shapeString(int[] shape) {
        if (shape.length == 1) {
            return "(" + shape[0] + ",)";
        }
        StringBuilder s = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            s.append(i == 0 ? "" : ", ").append(shape[i]);
        }
        return s.append(')').toString();
    }

    private void checkMatrix(String method) {
        if (rank > 2) {
            throw new IllegalStateException(method + " needs a vector or a matrix, not shape " + shapeString()
                    + "; take slice(b, h) first");
        }
    }

    private void checkOneRow(String method) {
        checkMatrix(method);
        if (rows != 1) {
            throw new IllegalStateException(method + " needs a vector or a one-row matrix, not shape "
                    + shapeString());
        }
    }

    private void checkWritable() {
        if (type != ElementType.F32) {
            throw new UnsupportedOperationException("a " + type.label() + " tensor is read-only through this API; "
                    + "write float32 and convertTo(arena, " + type + ")");
        }
    }

    private static void checkShape(int[] shape) {
        if (shape.length < 1 || shape.length > 4) {
            throw new IllegalArgumentException("a tensor has rank 1 to 4, not " + shape.length + " (shape "
                    + Arrays.toString(shape) + ")");
        }
        if (Arrays.stream(shape).anyMatch(d -> d < 0)) {
            throw new IllegalArgumentException("shape must not be negative: " + shapeString(shape));
        }
    }

    private static void checkDims(int rows, int cols) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("shape must not be negative: (" + rows + ", " + cols + ")");
        }
    }

    private static long product(int[] shape) {
        long p = 1;
        for (int d : shape) {
            p = Math.multiplyExact(p, (long) d);
        }
        return p;
    }
}
