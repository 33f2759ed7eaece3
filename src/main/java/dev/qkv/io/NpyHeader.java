package dev.qkv.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The header of a {@code .npy} file: the dtype as NumPy writes it ({@code "<f4"}), whether the data is in
 * Fortran (column-major) order, the shape, and the byte offset of the data from the start of the file.
 *
 * <p>A header read by {@link Npy#readHeader} is well formed, but may describe an array the readers refuse:
 * another dtype, Fortran order, rank 0. The shape array is copied in and out, so a header never changes.
 */
public record NpyHeader(String dtype, boolean fortranOrder, int[] shape, long dataOffset) {

    /** Headers longer than this are refused before anything is allocated for them. */
    static final int MAX_HEADER_BYTES = 1 << 20;

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    /** The data of a file qkv writes starts at a multiple of this, as in NumPy. */
    private static final int ALIGNMENT = 64;
    /** NumPy leaves room in the header for the first dimension to grow to this many digits. */
    private static final int GROWTH_AXIS_MAX_DIGITS = 21;
    private static final Set<String> KEYS = Set.of("descr", "fortran_order", "shape");

    /** Copies the shape. */
    public NpyHeader {
        Objects.requireNonNull(dtype, "dtype");
        shape = shape.clone();
    }

    /** A copy of the shape. */
    @Override
    public int[] shape() {
        return shape.clone();
    }

    /** The number of elements, the product of the shape: 1 for rank 0. */
    public long elementCount() {
        return product(shape, 0, shape.length);
    }

    /** The shape as NumPy prints it: {@code (3, 4)}, {@code (3,)}, or {@code ()} for rank 0. */
    public String shapeString() {
        return shapeString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NpyHeader h && dtype.equals(h.dtype) && fortranOrder == h.fortranOrder
                && Arrays.equals(shape, h.shape) && dataOffset == h.dataOffset;
    }

    @Override
    public int hashCode() {
        return Objects.hash(dtype, fortranOrder, Arrays.hashCode(shape), dataOffset);
    }

    @Override
    public String toString() {
        return "NpyHeader[dtype=" + dtype + ", fortranOrder=" + fortranOrder + ", shape=" + shapeString()
                + ", dataOffset=" + dataOffset + "]";
    }

    /**
     * Reads and checks the header at the start of {@code channel}: magic, version 1.0, 2.0 or 3.0, a header
     * length that fits the file and {@link #MAX_HEADER_BYTES}, and a dict with exactly the keys NumPy writes.
     */
    static NpyHeader read(FileChannel channel, Path file) throws IOException {
        long size = channel.size();
        ByteBuffer preamble = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        readFully(channel, preamble, 0);
        preamble.flip();
        if (!startsWithMagic(preamble)) {
            throw new NpyFormatException(file, "not a .npy file: it does not start with \\x93NUMPY");
        }
        if (preamble.limit() < 8) {
            throw new NpyFormatException(file, "truncated header: the file ends after " + size + " bytes");
        }
        int major = Byte.toUnsignedInt(preamble.get(6));
        int minor = Byte.toUnsignedInt(preamble.get(7));
        if (minor != 0 || major < 1 || major > 3) {
            throw new NpyFormatException(file, "unsupported .npy format version " + major + "." + minor
                    + " (qkv reads 1.0, 2.0 and 3.0)");
        }
        int preambleBytes = major == 1 ? 10 : 12;
        if (size < preambleBytes) {
            throw new NpyFormatException(file, "truncated header: the file ends after " + size + " bytes");
        }
        long headerBytes = major == 1
                ? Short.toUnsignedInt(preamble.getShort(8))
                : Integer.toUnsignedLong(preamble.getInt(8));
        if (headerBytes > MAX_HEADER_BYTES) {
            throw new NpyFormatException(file, "header length " + headerBytes + " is over the limit of "
                    + MAX_HEADER_BYTES + " bytes");
        }
        if (headerBytes > size - preambleBytes) {
            throw new NpyFormatException(file, "truncated header: it claims " + headerBytes + " bytes, the file has "
                    + (size - preambleBytes) + " after the " + preambleBytes + "-byte preamble");
        }
        ByteBuffer bytes = ByteBuffer.allocate((int) headerBytes);
        readFully(channel, bytes, preambleBytes);
        if (bytes.hasRemaining()) {
            throw new NpyFormatException(file, "truncated header: the file shrank while it was read");
        }
        bytes.flip();
        String text = major == 3 ? decodeUtf8(bytes, file) : StandardCharsets.ISO_8859_1.decode(bytes).toString();
        return fromDict(HeaderParser.parseDict(file, text), file, preambleBytes + headerBytes);
    }

    /**
     * A version 1.0 header for a C-ordered array, laid out as NumPy writes it: the dict, room for the first
     * dimension to grow, then spaces and a newline up to a multiple of 64 bytes, so the data is aligned.
     *
     * @throws IllegalArgumentException if the shape is so long the header does not fit version 1.0
     */
    static ByteBuffer encode(String dtype, int[] shape) {
        String dict = "{'descr': '" + dtype + "', 'fortran_order': False, 'shape': " + shapeString(shape) + ", }"
                + " ".repeat(GROWTH_AXIS_MAX_DIGITS - Integer.toString(shape[0]).length());
        int unpadded = 10 + dict.length() + 1;
        int padding = ALIGNMENT - unpadded % ALIGNMENT;
        int headerBytes = dict.length() + padding + 1;
        if (headerBytes > 0xFFFF) {
            throw new IllegalArgumentException("a shape of rank " + shape.length
                    + " does not fit a version 1.0 .npy header");
        }
        ByteBuffer out = ByteBuffer.allocate(10 + headerBytes).order(ByteOrder.LITTLE_ENDIAN);
        out.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) headerBytes);
        out.put((dict + " ".repeat(padding) + "\n").getBytes(StandardCharsets.ISO_8859_1));
        return out.flip();
    }

    /** The product of {@code shape[from..to)}: 0 if any of them is 0, else exact. */
    static long product(int[] shape, int from, int to) {
        long product = 1;
        for (int i = from; i < to; i++) {
            if (shape[i] == 0) {
                return 0;
            }
        }
        for (int i = from; i < to; i++) {
            product = Math.multiplyExact(product, shape[i]);
        }
        return product;
    }

    /** A shape as NumPy prints it: {@code (3,)} or {@code (3, 4)}. */
    public static String shapeString(int[] shape) {
        if (shape.length == 1) {
            return "(" + shape[0] + ",)";
        }
        StringBuilder s = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            s.append(i == 0 ? "" : ", ").append(shape[i]);
        }
        return s.append(')').toString();
    }

    private static NpyHeader fromDict(Map<String, Object> dict, Path file, long dataOffset)
            throws NpyFormatException {
        for (String key : dict.keySet()) {
            if (!KEYS.contains(key)) {
                throw new NpyFormatException(file, "unexpected key '" + key + "' in the header");
            }
        }
        for (String key : KEYS) {
            if (!dict.containsKey(key)) {
                throw new NpyFormatException(file, "the header has no '" + key + "'");
            }
        }
        Object descr = dict.get("descr");
        if (descr instanceof List<?>) {
            throw new NpyFormatException(file, "structured dtypes are not supported: descr "
                    + HeaderParser.repr(descr));
        }
        if (!(descr instanceof String dtype)) {
            throw new NpyFormatException(file, "descr must be a dtype string, not " + HeaderParser.repr(descr));
        }
        if (!(dict.get("fortran_order") instanceof Boolean fortranOrder)) {
            throw new NpyFormatException(file, "fortran_order must be True or False, not "
                    + HeaderParser.repr(dict.get("fortran_order")));
        }
        return new NpyHeader(dtype, fortranOrder, shape(dict.get("shape"), file), dataOffset);
    }

    private static int[] shape(Object value, Path file) throws NpyFormatException {
        if (!(value instanceof HeaderParser.Tuple(List<Object> items))
                || !items.stream().allMatch(Long.class::isInstance)) {
            throw new NpyFormatException(file, "shape must be a tuple of integers, not " + HeaderParser.repr(value));
        }
        int[] shape = new int[items.size()];
        for (int i = 0; i < shape.length; i++) {
            long dim = (Long) items.get(i);
            if (dim < 0) {
                throw new NpyFormatException(file, "negative dimension " + dim + " in shape " + HeaderParser.repr(value));
            }
            if (dim > Integer.MAX_VALUE) {
                throw new NpyFormatException(file, "dimension " + dim + " in shape " + HeaderParser.repr(value)
                        + " is larger than " + Integer.MAX_VALUE);
            }
            shape[i] = (int) dim;
        }
        try {
            product(shape, 0, shape.length);
        } catch (ArithmeticException e) {
            throw new NpyFormatException(file, "shape " + shapeString(shape) + " has more elements than a long counts");
        }
        return shape;
    }

    private static boolean startsWithMagic(ByteBuffer preamble) {
        if (preamble.limit() < MAGIC.length) {
            return false;
        }
        for (int i = 0; i < MAGIC.length; i++) {
            if (preamble.get(i) != MAGIC[i]) {
                return false;
            }
        }
        return true;
    }

    private static String decodeUtf8(ByteBuffer bytes, Path file) throws NpyFormatException {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(bytes)
                    .toString();
        } catch (CharacterCodingException e) {
            throw new NpyFormatException(file, "the version 3.0 header is not valid UTF-8");
        }
    }

    /** Reads from {@code position} until {@code buffer} is full or the file ends. */
    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        long at = position;
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, at);
            if (n < 0) {
                return;
            }
            at += n;
        }
    }
}
