package dev.qkv.io;

import static java.nio.file.StandardOpenOption.CREATE;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.TRUNCATE_EXISTING;
import static java.nio.file.StandardOpenOption.WRITE;

import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Arrays;
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
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Npy() {}

    /**
     * Reads a float array of any rank ≥ 1, keeping the header's shape. Little-endian {@code <f4} data is
     * memory-mapped into {@code arena} without a copy, read-only ({@code data().segment().isMapped()} and
     * {@code isReadOnly()} hold); {@code <f8}, {@code >f4} and {@code >f8} are converted, rounding to the
     * nearest float (doubles beyond float range become infinities), into a new writable tensor in {@code arena}.
     * (On a big-endian machine it is {@code >f4} that maps and {@code <f4} that is converted.) A mapped file
     * must not be truncated while the arena is open.
     *
     * @throws NpyFormatException if the file is not a readable float array, as listed in the class comment,
     *     or its row count {@code prod(shape[:-1])} exceeds {@link Integer#MAX_VALUE}
     */
    public static NpyArray read(Path file, Arena arena) throws IOException {
        return readFloats(file, arena, Integer.MAX_VALUE, "read");
    }

    /**
     * Like {@link #read}, for an array of rank 1 or 2, returned as a tensor of that rank.
     *
     * @throws NpyFormatException also if the array's rank is not 1 or 2
     */
    public static Tensor readTensor(Path file, Arena arena) throws IOException {
        return readFloats(file, arena, 2, "readTensor").data();
    }

    /**
     * Reads a 1-D or 2-D integer array of dtype {@code <i4}, {@code <i8}, {@code >i4}, {@code >i8},
     * {@code |u1}, {@code |i1} or {@code |b1} (a bool reads as 0 or 1) into a new {@code int[]}.
     *
     * @throws NpyFormatException if the file is not a readable 1-D or 2-D int array, or an 8-byte value does
     *     not fit an int (the message names the value and its index)
     */
    public static IntArray readInts(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, READ); Arena scratch = Arena.ofConfined()) {
            NpyHeader header = NpyHeader.read(channel, file);
            NpyDtype dtype = NpyDtype.require(file, header.dtype(), NpyDtype.INTS, "readInts");
            int[] shape = checkLayout(file, header, 2, "readInts");
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
        try (FileChannel channel = FileChannel.open(file, READ)) {
            return NpyHeader.read(channel, file);
        }
    }

    /**
     * Writes {@code tensor} as a little-endian {@code <f4} array of shape {@code (cols,)} for rank 1 or
     * {@code (rows, cols)} for rank 2; a strided view writes just its own elements.
     *
     * @throws IllegalStateException if the tensor's arena is closed; nothing is written then
     */
    public static void write(Path file, Tensor tensor) throws IOException {
        writeFloats(file, tensor, tensor.shape());
    }

    /**
     * Writes the elements of {@code data}, in row-major order, as a {@code <f4} array of the given shape,
     * e.g. 4-D. The tensor is normally contiguous; a strided view is written as if it were copied first.
     *
     * @throws IllegalArgumentException if the shape is empty or negative or its product is not
     *     {@code data.size()}; nothing is written then
     * @throws IllegalStateException if the tensor's arena is closed; nothing is written then
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

    private static NpyArray readFloats(Path file, Arena arena, int maxRank, String reader) throws IOException {
        Objects.requireNonNull(arena, "arena");
        try (FileChannel channel = FileChannel.open(file, READ)) {
            NpyHeader header = NpyHeader.read(channel, file);
            NpyDtype dtype = NpyDtype.require(file, header.dtype(), NpyDtype.FLOATS, reader);
            int[] shape = checkLayout(file, header, maxRank, reader);
            int rank = shape.length;
            long rows = rank == 1 ? 1 : NpyHeader.product(shape, 0, rank - 1);
            if (rows > Integer.MAX_VALUE) {
                throw new NpyFormatException(file, "shape " + header.shapeString() + " has " + rows + " rows of "
                        + shape[rank - 1] + ", more than " + Integer.MAX_VALUE);
            }
            int cols = shape[rank - 1];
            MemorySegment data;
            if (dtype.size == 4 && dtype.order == ByteOrder.nativeOrder()) {
                data = mapData(channel, file, header, dtype, arena);
            } else {
                try (Arena scratch = Arena.ofConfined()) {
                    data = toFloats(mapData(channel, file, header, dtype, scratch), dtype, header.elementCount(), arena);
                }
            }
            return new NpyArray(shape, Tensor.wrap(data, rank == 1 ? 1 : 2, (int) rows, cols, cols));
        }
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
                    + reader + " expects rank 1 or 2");
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
                    + " needs " + needed + " bytes after the header, the file has " + available);
        }
        if (available > needed) {
            throw new NpyFormatException(file, (available - needed) + " bytes of trailing data after the " + needed
                    + " bytes that shape " + header.shapeString() + " of " + dtype.descr + " needs");
        }
        return channel.map(FileChannel.MapMode.READ_ONLY, header.dataOffset(), needed, arena);
    }

    /** A new tensor segment in {@code arena} holding {@code source}'s floats or doubles as native floats. */
    private static MemorySegment toFloats(MemorySegment source, NpyDtype dtype, long count, Arena arena) {
        MemorySegment floats = arena.allocate(4 * count, Tensor.ALIGNMENT);
        if (dtype.size == 4) {
            MemorySegment.copy(source, FLOAT.withOrder(dtype.order), 0, floats, FLOAT, 0, count);
        } else {
            ValueLayout.OfDouble layout = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(dtype.order);
            for (long i = 0; i < count; i++) {
                floats.setAtIndex(FLOAT, i, (float) source.getAtIndex(layout, i));
            }
        }
        return floats;
    }

    private static void writeFloats(Path file, Tensor tensor, int[] shape) throws IOException {
        if (!tensor.isAlive()) {
            throw new IllegalStateException("cannot write " + file + ": the arena of tensor " + tensor.shapeString()
                    + " is closed");
        }
        try (FileChannel channel = FileChannel.open(file, WRITE, CREATE, TRUNCATE_EXISTING);
                Arena scratch = Arena.ofConfined()) {
            writeFully(channel, NpyHeader.encode("<f4", shape));
            MemorySegment staging = scratch.allocate(Math.min(STAGING_BYTES, 4 * tensor.size()));
            long filled = 0;
            for (int i = 0; i < tensor.rows(); i++) {
                long from = 4L * i * tensor.rowStride();
                long left = tensor.cols();
                while (left > 0) {
                    long n = Math.min(left, (staging.byteSize() - filled) / 4);
                    MemorySegment.copy(tensor.segment(), FLOAT, from, staging, FLOAT_LE, filled, n);
                    from += 4 * n;
                    filled += 4 * n;
                    left -= n;
                    if (filled == staging.byteSize()) {
                        writeFully(channel, staging.asByteBuffer());
                        filled = 0;
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

    /** The position of flat index {@code i} in an array of {@code shape}, as NumPy writes it. */
    private static String index(int[] shape, int i) {
        return shape.length == 1 ? Integer.toString(i) : "(" + i / shape[1] + ", " + i % shape[1] + ")";
    }
}
