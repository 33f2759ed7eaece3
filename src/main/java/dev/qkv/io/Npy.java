package dev.qkv.io;

import static java.nio.file.StandardOpenOption.CREATE;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.TRUNCATE_EXISTING;
import static java.nio.file.StandardOpenOption.WRITE;

import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * Reads and writes NumPy {@code .npy} files: float arrays as {@link Tensor}s, int arrays as {@link IntArray}s.
 *
 * <p>Reading is strict. Any file that is malformed, truncated, longer than its shape needs (NumPy's
 * {@code np.load} ignores trailing bytes; qkv refuses them, since they mean a writer and a reader disagree),
 * Fortran-ordered, of rank 0, or of a dtype the reader does not take gets an {@link NpyFormatException}
 * naming the file and the problem. Nothing is allocated from a length in the file before it is checked
 * against the file's size, and headers over 1 MiB are refused. Format versions 1.0, 2.0 and 3.0 are read;
 * version 1.0 is written, laid out as NumPy lays it out, with the data at a multiple of 64 bytes.
 *
 * <p>Writing replaces {@code file} in place; a failure part way may leave it half written, so a caller who
 * needs all or nothing writes to a temporary file and renames it. The methods are stateless and thread-safe.
 */
public final class Npy {

    /** The size of the direct buffer data goes through on its way to a file. */
    private static final int STAGING_BYTES = 1 << 20;
    /** The largest int[] the JVM reliably allocates. */
    private static final int MAX_ARRAY_LENGTH = Integer.MAX_VALUE - 8;
    /** How a {@link Tensor} stores its floats: native order, no alignment assumed. */
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfFloat FLOAT_LE = FLOAT.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfShort HALF_LE = HALF.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Npy() {}

    /**
     * Reads a float array of any rank ≥ 1, keeping the header's shape, as the matrix of its rows (see
     * {@link NpyArray}). Little-endian {@code <f4} data is memory-mapped into {@code arena} without a copy,
     * read-only ({@code data().segment().isMapped()} and {@code isReadOnly()} hold), and so is {@code <f2}, as
     * an {@link ElementType#F16} tensor; {@code <f8}, {@code >f4} and {@code >f8} are converted, rounding to the
     * nearest float, into a new writable tensor in {@code arena} (a finite double beyond float range is
     * refused; NaN and infinities stay what they are), and {@code >f2} into a new float16 one. (On a
     * big-endian machine it is {@code >f4} and {@code >f2} that map.)
     *
     * <p>A mapped file must not be truncated or rewritten in place while the arena is open: the mapping shows
     * the file as it is now, and reading a page that no longer exists raises SIGBUS. The JVM turns that into
     * an {@link InternalError} ("a fault occurred in an unsafe memory access") where it can, but in code the
     * JIT compiled (the vector kernels, say) it may crash the JVM instead. Lucene's {@code MMapDirectory}
     * carries the same warning. Replacing the file by a rename, as qkv's own command line writes its
     * outputs, is safe: the mapping keeps the old file.
     *
     * @throws NpyFormatException if the file is not a readable float array, as listed in the class comment,
     *     or its row count {@code prod(shape[:-1])} exceeds {@link Integer#MAX_VALUE}
     */
    public static NpyArray read(Path file, Arena arena) throws IOException {
        Data data = readData(file, arena, NpyDtype.FLOATS, Integer.MAX_VALUE, "a float array");
        int rank = data.shape.length;
        long rows = rank == 1 ? 1 : NpyHeader.product(data.shape, 0, rank - 1);
        int[] matrix = rank == 1 ? data.shape : new int[] {(int) rows, data.shape[rank - 1]};
        return new NpyArray(data.shape, data.tensor(matrix));
    }

    /**
     * Like {@link #read}, for an array of rank 1 to 4, returned as a tensor of that rank: (cols), (rows, cols),
     * (batch, rows, cols) or (batch, heads, rows, cols).
     *
     * @throws NpyFormatException also if the array's rank is above 4
     */
    public static Tensor readTensor(Path file, Arena arena) throws IOException {
        Data data = readData(file, arena, NpyDtype.FLOATS, 4, "a float array");
        return data.tensor(data.shape);
    }

    /**
     * Reads bfloat16 keys or values, rank 1 to 4, from the {@code <u2} array of their bit patterns that
     * {@link #write} writes for an {@link ElementType#BF16} tensor (NumPy has no bfloat16 dtype; the bits are
     * those of {@code torch.bfloat16} and {@code ml_dtypes.bfloat16}, e.g. {@code t.view(torch.int16)}). The
     * file cannot say it holds bfloat16, so this reader is asked for by name. {@code <u2} data is mapped
     * without a copy, read-only; {@code >u2} is converted into a new tensor in {@code arena}.
     *
     * @throws NpyFormatException if the file is not a readable {@code <u2} or {@code >u2} array of rank 1 to 4
     */
    public static Tensor readBf16(Path file, Arena arena) throws IOException {
        Data data = readData(file, arena, NpyDtype.BF16_BITS, 4, "a bfloat16 array");
        return data.tensor(data.shape);
    }

    /** Elements of {@code type} laid out contiguously in {@code segment} for an array of {@code shape}. */
    private record Data(int[] shape, MemorySegment segment, ElementType type) {

        Tensor tensor(int[] as) {
            long[] strides = new long[as.length];
            long stride = 1;
            for (int k = as.length - 1; k >= 0; k--) {
                strides[k] = stride;
                stride *= Math.max(as[k], 1);
            }
            return Tensor.wrap(segment, type, as, strides);
        }
    }

    /**
     * Reads a 1-D or 2-D integer array of dtype {@code <i4}, {@code <i8}, {@code >i4}, {@code >i8},
     * {@code |u1}, {@code |i1} or {@code |b1} (a bool reads as 0 or 1) into a new {@code int[]}.
     *
     * @throws NpyFormatException if the file is not a readable 1-D or 2-D int array, or an 8-byte value does
     *     not fit an int (the message names the value and its index)
     */
    public static IntArray readInts(Path file) throws IOException {
        try (FileChannel channel = open(file); Arena scratch = Arena.ofConfined()) {
            NpyHeader header = NpyHeader.read(channel, file);
            NpyDtype dtype = NpyDtype.require(file, header.dtype(), NpyDtype.INTS, "an integer or bool array");
            int[] shape = checkLayout(file, header, 2, "an integer or bool array");
            long count = header.elementCount();
            if (count > MAX_ARRAY_LENGTH) {
                throw new NpyFormatException(file, "shape " + header.shapeString() + " has " + count
                        + " elements, more than an int[] holds");
            }
            MemorySegment data = mapData(channel, file, header, dtype, scratch);
            int[] values = new int[(int) count];
            switch (dtype) {
                case INT32_LE, INT32_BE -> MemorySegment.copy(data, ValueLayout.JAVA_INT_UNALIGNED.withOrder(dtype.order),
                        0, values, 0, values.length);
                case INT64_LE, INT64_BE -> {
                    ValueLayout.OfLong layout = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(dtype.order);
                    for (int i = 0; i < values.length; i++) {
                        long value = data.getAtIndex(layout, i);
                        if (value != (int) value) {
                            throw new NpyFormatException(file, "value " + value + " at index " + index(shape, i)
                                    + " does not fit in an int");
                        }
                        values[i] = (int) value;
                    }
                }
                case UINT8 -> {
                    for (int i = 0; i < values.length; i++) {
                        values[i] = Byte.toUnsignedInt(data.get(ValueLayout.JAVA_BYTE, i));
                    }
                }
                case INT8 -> {
                    for (int i = 0; i < values.length; i++) {
                        values[i] = data.get(ValueLayout.JAVA_BYTE, i);
                    }
                }
                case BOOL -> {
                    for (int i = 0; i < values.length; i++) {
                        values[i] = data.get(ValueLayout.JAVA_BYTE, i) != 0 ? 1 : 0;
                    }
                }
                default -> throw new AssertionError(dtype);
            }
            return new IntArray(shape, values);
        }
    }

    /**
     * Reads and checks the header only. It may describe an array the readers refuse (another dtype, Fortran
     * order, rank 0); the data is not looked at.
     *
     * @throws NpyFormatException if the magic, version, header length or header dict is malformed
     */
    public static NpyHeader readHeader(Path file) throws IOException {
        try (FileChannel channel = open(file)) {
            return NpyHeader.read(channel, file);
        }
    }

    /**
     * Writes {@code tensor} with its shape, of any rank: float32 as little-endian {@code <f4}, float16 as
     * {@code <f2}, bfloat16 as the {@code <u2} array of its bit patterns that {@link #readBf16} reads (NumPy has
     * no bfloat16; {@code torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)} reads it in PyTorch). A
     * strided view writes just its own elements.
     *
     * @throws IllegalStateException if the tensor's arena is closed; nothing is written then
     * @throws IOException if the file cannot be written
     */
    public static void write(Path file, Tensor tensor) throws IOException {
        writeFloats(file, tensor, tensor.shape());
    }

    /**
     * Writes the elements of {@code data}, in row-major order, as an array of the given shape, e.g. 4-D, of
     * the dtype {@link #write(Path, Tensor)} uses for its element type. The tensor is normally contiguous; a
     * strided view is written as if it were copied first.
     *
     * @throws IllegalArgumentException if the shape is empty or negative or its product is not
     *     {@code data.size()}; nothing is written then
     * @throws IllegalStateException if the tensor's arena is closed; nothing is written then
     * @throws IOException if the file cannot be written
     */
    public static void write(Path file, Tensor data, int... shape) throws IOException {
        int[] copy = shape.clone();
        checkShape(file, copy, data.size(), "tensor " + data.shapeString());
        writeFloats(file, data, copy);
    }

    /**
     * Writes {@code values} as a little-endian {@code <i4} array of the given 1-D or 2-D shape; no shape
     * means {@code (values.length,)}.
     *
     * @throws IllegalArgumentException if the shape has more than 2 dimensions, a negative one, or a product
     *     other than {@code values.length}; nothing is written then
     * @throws IOException if the file cannot be written
     */
    public static void writeInts(Path file, int[] values, int... shape) throws IOException {
        int[] copy = shape.length == 0 ? new int[] {values.length} : shape.clone();
        if (copy.length > 2) {
            throw new IllegalArgumentException("cannot write " + file + ": writeInts writes 1-D or 2-D arrays, not shape "
                    + NpyHeader.shapeString(copy));
        }
        checkShape(file, copy, values.length, values.length + " values");
        try (FileChannel channel = FileChannel.open(file, WRITE, CREATE, TRUNCATE_EXISTING);
                Arena scratch = Arena.ofConfined()) {
            writeFully(channel, NpyHeader.encode("<i4", copy));
            MemorySegment staging = scratch.allocate(Math.min(STAGING_BYTES, 4L * values.length));
            int chunk = (int) (staging.byteSize() / 4);
            for (int from = 0; from < values.length; from += chunk) {
                int n = Math.min(chunk, values.length - from);
                MemorySegment.copy(values, from, staging, INT_LE, 0, n);
                writeFully(channel, staging.asSlice(0, 4L * n).asByteBuffer());
            }
        }
    }

    private static Data readData(Path file, Arena arena, Set<NpyDtype> accepted, int maxRank, String reader)
            throws IOException {
        Objects.requireNonNull(arena, "arena");
        try (FileChannel channel = open(file)) {
            NpyHeader header = NpyHeader.read(channel, file);
            if (accepted == NpyDtype.FLOATS && header.dtype().endsWith("u2")) {
                throw new NpyFormatException(file, "dtype '" + header.dtype() + "' is not a float; if it holds "
                        + "bfloat16 bit patterns, read it as bf16 (Npy.readBf16)");
            }
            NpyDtype dtype = NpyDtype.require(file, header.dtype(), accepted, reader);
            int[] shape = checkLayout(file, header, maxRank, reader);
            long rows = shape.length == 1 ? 1 : NpyHeader.product(shape, 0, shape.length - 1);
            if (rows > Integer.MAX_VALUE) {
                throw new NpyFormatException(file, "shape " + header.shapeString() + " has " + rows + " rows of "
                        + shape[shape.length - 1] + ", more than " + Integer.MAX_VALUE);
            }
            ElementType type = switch (dtype) {
                case FLOAT16_LE, FLOAT16_BE -> ElementType.F16;
                case UINT16_LE, UINT16_BE -> ElementType.BF16;
                default -> ElementType.F32;
            };
            MemorySegment data;
            if (dtype.size == type.byteSize() && dtype.order == ByteOrder.nativeOrder()) {
                data = mapData(channel, file, header, dtype, arena);
            } else {
                try (Arena scratch = Arena.ofConfined()) {
                    MemorySegment source = mapData(channel, file, header, dtype, scratch);
                    data = type == ElementType.F32
                            ? toFloats(file, shape, source, dtype, arena)
                            : swapHalves(source, header.elementCount(), arena);
                }
            }
            return new Data(shape, data, type);
        }
    }

    /** A new segment in {@code arena} holding the 16-bit elements of {@code source} in the other byte order. */
    private static MemorySegment swapHalves(MemorySegment source, long count, Arena arena) {
        MemorySegment halves = arena.allocate(2 * count, Tensor.ALIGNMENT);
        ByteOrder other = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN ? ByteOrder.BIG_ENDIAN
                : ByteOrder.LITTLE_ENDIAN;
        MemorySegment.copy(source, HALF.withOrder(other), 0, halves, HALF, 0, count);
        return halves;
    }

    /**
     * The file opened for reading, if it is a regular file (or a link to one). Anything else is refused
     * before it is opened: opening a FIFO blocks until something writes to it, and a directory or device
     * holds no .npy data to map.
     */
    private static FileChannel open(Path file) throws IOException {
        BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
        if (attributes.isDirectory()) {
            throw new NpyFormatException(file, "is a directory, not a .npy file");
        }
        if (!attributes.isRegularFile()) {
            throw new NpyFormatException(file, "is not a regular file (a FIFO, device or socket); .npy files are"
                    + " read from regular files only");
        }
        return FileChannel.open(file, READ);
    }

    /** The shape, if the header describes a C-ordered array of rank 1 to {@code maxRank}. */
    private static int[] checkLayout(Path file, NpyHeader header, int maxRank, String reader)
            throws NpyFormatException {
        if (header.fortranOrder()) {
            throw new NpyFormatException(file, "Fortran-ordered (column-major) data is not supported; "
                    + "save np.ascontiguousarray(a) instead");
        }
        int[] shape = header.shape();
        if (shape.length == 0) {
            throw new NpyFormatException(file, "rank 0 not supported: shape () is a scalar");
        }
        if (shape.length > maxRank) {
            throw new NpyFormatException(file, "shape " + header.shapeString() + " has rank " + shape.length + "; "
                    + reader + " of rank 1 " + (maxRank == 2 ? "or 2" : "to " + maxRank) + " is expected");
        }
        return shape;
    }

    /** The data of the file, mapped read-only into {@code arena}, after checking it has the length the shape needs. */
    private static MemorySegment mapData(FileChannel channel, Path file, NpyHeader header, NpyDtype dtype, Arena arena)
            throws IOException {
        long needed;
        try {
            needed = Math.multiplyExact(header.elementCount(), (long) dtype.size);
        } catch (ArithmeticException e) {
            throw new NpyFormatException(file, "shape " + header.shapeString() + " of " + dtype.descr
                    + " needs more bytes than a long counts");
        }
        long available = channel.size() - header.dataOffset();
        if (available < needed) {
            throw new NpyFormatException(file, "truncated data: shape " + header.shapeString() + " of " + dtype.descr
                    + " needs " + bytes(needed) + " after the header, the file has " + bytes(available));
        }
        if (available > needed) {
            throw new NpyFormatException(file, (available - needed) + " bytes of trailing data after the " + needed
                    + " bytes that shape " + header.shapeString() + " of " + dtype.descr + " needs");
        }
        return channel.map(FileChannel.MapMode.READ_ONLY, header.dataOffset(), needed, arena);
    }

    /**
     * A new tensor segment in {@code arena} holding {@code source}'s floats or doubles as native floats; a
     * finite double that rounds to an infinite float is refused.
     */
    private static MemorySegment toFloats(Path file, int[] shape, MemorySegment source, NpyDtype dtype, Arena arena)
            throws NpyFormatException {
        long count = NpyHeader.product(shape, 0, shape.length);
        MemorySegment floats = arena.allocate(4 * count, Tensor.ALIGNMENT);
        if (dtype.size == 4) {
            MemorySegment.copy(source, FLOAT.withOrder(dtype.order), 0, floats, FLOAT, 0, count);
        } else {
            ValueLayout.OfDouble layout = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(dtype.order);
            for (long i = 0; i < count; i++) {
                double value = source.getAtIndex(layout, i);
                float rounded = (float) value;
                if (Float.isInfinite(rounded) && Double.isFinite(value)) {
                    throw new NpyFormatException(file, "value " + value + " at index " + index(shape, i)
                            + " overflows float32 (largest finite " + Float.MAX_VALUE + "); qkv computes in float32");
                }
                floats.setAtIndex(FLOAT, i, rounded);
            }
        }
        return floats;
    }

    private static void writeFloats(Path file, Tensor tensor, int[] shape) throws IOException {
        if (!tensor.isAlive()) {
            throw new IllegalStateException("cannot write " + file + ": the arena of tensor " + tensor.shapeString()
                    + " is closed");
        }
        ElementType type = tensor.elementType();
        int size = type.byteSize();
        ValueLayout from = type == ElementType.F32 ? FLOAT : HALF;
        ValueLayout to = type == ElementType.F32 ? FLOAT_LE : HALF_LE;
        String descr = switch (type) {
            case F32 -> "<f4";
            case F16 -> "<f2";
            case BF16 -> "<u2";
        };
        try (FileChannel channel = FileChannel.open(file, WRITE, CREATE, TRUNCATE_EXISTING);
                Arena scratch = Arena.ofConfined()) {
            writeFully(channel, NpyHeader.encode(descr, shape));
            MemorySegment staging = scratch.allocate(Math.min(STAGING_BYTES, size * tensor.size()));
            long filled = 0;
            for (int b = 0; b < tensor.batch(); b++) {
                for (int h = 0; h < tensor.heads(); h++) {
                    for (int i = 0; i < tensor.rows(); i++) {
                        long at = tensor.offset(b, h, i);
                        long left = tensor.cols();
                        while (left > 0) {
                            long n = Math.min(left, (staging.byteSize() - filled) / size);
                            MemorySegment.copy(tensor.segment(), from, at, staging, to, filled, n);
                            at += size * n;
                            filled += size * n;
                            left -= n;
                            if (filled == staging.byteSize()) {
                                writeFully(channel, staging.asByteBuffer());
                                filled = 0;
                            }
                        }
                    }
                }
            }
            writeFully(channel, staging.asSlice(0, filled).asByteBuffer());
        }
    }

    private static void checkShape(Path file, int[] shape, long size, String source) {
        if (shape.length == 0) {
            throw new IllegalArgumentException("cannot write " + file + ": rank 0 not supported");
        }
        if (Arrays.stream(shape).anyMatch(d -> d < 0)) {
            throw new IllegalArgumentException("cannot write " + file + ": negative dimension in shape "
                    + NpyHeader.shapeString(shape));
        }
        long count;
        try {
            count = NpyHeader.product(shape, 0, shape.length);
        } catch (ArithmeticException e) {
            count = -1;
        }
        if (count != size) {
            throw new IllegalArgumentException("cannot write " + file + ": shape " + NpyHeader.shapeString(shape)
                    + " does not hold the " + size + " elements of " + source);
        }
    }

    private static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    /** A byte count, and in GB too when that is easier to read. */
    private static String bytes(long n) {
        return n < 100_000_000 ? n + " bytes" : n + " bytes (" + String.format(Locale.ROOT, "%.3g", n / 1e9) + " GB)";
    }

    /** The position of flat index {@code i} in an array of {@code shape}, as NumPy writes it. */
    private static String index(int[] shape, long i) {
        if (shape.length == 1) {
            return Long.toString(i);
        }
        long[] position = new long[shape.length];
        for (int axis = shape.length - 1; axis >= 0; axis--) {
            position[axis] = shape[axis] == 0 ? 0 : i % shape[axis];
            i = shape[axis] == 0 ? 0 : i / shape[axis];
        }
        return Arrays.toString(position).replace('[', '(').replace(']', ')');
    }
}
