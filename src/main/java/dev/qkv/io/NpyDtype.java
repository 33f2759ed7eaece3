package dev.qkv.io;

import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import java.util.stream.Collectors;

/** The dtypes qkv reads, named as NumPy writes them in a header's {@code descr}. */
enum NpyDtype {
    FLOAT16_LE("<f2"),
    FLOAT16_BE(">f2"),
    FLOAT32_LE("<f4"),
    FLOAT64_LE("<f8"),
    FLOAT32_BE(">f4"),
    FLOAT64_BE(">f8"),
    INT32_LE("<i4"),
    INT64_LE("<i8"),
    UINT8("|u1"),
    INT8("|i1"),
    BOOL("|b1"),
    INT32_BE(">i4"),
    INT64_BE(">i8"),
    /** Unsigned 16-bit: how qkv stores bfloat16 bit patterns, since NumPy has no bfloat16 dtype. */
    UINT16_LE("<u2"),
    UINT16_BE(">u2");

    static final Set<NpyDtype> FLOATS = EnumSet.of(FLOAT16_LE, FLOAT16_BE, FLOAT32_LE, FLOAT64_LE, FLOAT32_BE,
            FLOAT64_BE);
    static final Set<NpyDtype> INTS = EnumSet.of(INT32_LE, INT64_LE, UINT8, INT8, BOOL, INT32_BE, INT64_BE);
    static final Set<NpyDtype> BF16_BITS = EnumSet.of(UINT16_LE, UINT16_BE);

    final String descr;
    /** Bytes per element. */
    final int size;
    /** The byte order of the elements; irrelevant, and little-endian here, for one-byte dtypes. */
    final ByteOrder order;

    NpyDtype(String descr) {
        this.descr = descr;
        this.size = descr.charAt(2) - '0';
        this.order = descr.charAt(0) == '>' ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;
    }

    /**
     * The dtype {@code descr} names, if it is one of {@code accepted}; else an error naming what is, for
     * {@code what} the reader expects ("a float array").
     */
    static NpyDtype require(Path file, String descr, Set<NpyDtype> accepted, String what)
            throws NpyFormatException {
        for (NpyDtype dtype : accepted) {
            if (dtype.descr.equals(descr)) {
                return dtype;
            }
        }
        String names = Arrays.stream(values()).filter(accepted::contains).map(d -> d.descr)
                .collect(Collectors.joining(", "));
        throw new NpyFormatException(file, "unsupported dtype '" + descr + "'; " + what + " is expected, of dtype "
                + names);
    }
}
