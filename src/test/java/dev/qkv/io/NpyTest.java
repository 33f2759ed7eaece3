package dev.qkv.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Fixtures come from src/test/resources/npy/make_fixtures.py, which asserts the values hard-coded here. */
class NpyTest {

    @TempDir
    Path dir;

    private Arena arena;

    @BeforeEach
    void openArena() {
        arena = Arena.ofConfined();
    }

    @AfterEach
    void closeArena() {
        arena.close();
    }

    // ---- fixtures written by NumPy ----

    @Test
    void oneDimensionalF4IsARankOneTensor() throws IOException {
        NpyArray a = Npy.read(fixture("f4_1d.npy"), arena);
        assertArrayEquals(new int[] {5}, a.shape());
        assertEquals(1, a.rank());
        assertEquals(1, a.data().rank());
        assertArrayEquals(new float[] {0f, 0.5f, 1f, 1.5f, 2f}, a.data().toFlatArray());
        assertEquals(1, Npy.readTensor(fixture("f4_1d.npy"), arena).rank());
    }

    @Test
    void twoDimensionalF4KeepsRowsAndColumns() throws IOException {
        Tensor t = Npy.readTensor(fixture("f4_2d.npy"), arena);
        assertEquals(2, t.rank());
        assertEquals(3, t.rows());
        assertEquals(4, t.cols());
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 4; j++) {
                assertEquals(4 * i + j - 5.5f, t.get(i, j));
            }
        }
    }

    @Test
    void littleEndianF4IsMappedWithoutACopy() throws IOException {
        Tensor t = Npy.readTensor(fixture("f4_2d.npy"), arena);
        assertTrue(t.segment().isMapped());
        assertTrue(t.segment().isReadOnly());
    }

    @Test
    void mappedTensorLivesAsLongAsItsArena() throws IOException {
        Tensor t;
        try (Arena scoped = Arena.ofConfined()) {
            t = Npy.readTensor(fixture("f4_1d.npy"), scoped);
            assertTrue(t.isAlive());
        }
        assertFalse(t.isAlive());
        assertThrows(IllegalStateException.class, () -> t.get(0));
    }

    @Test
    void f8IsRoundedToTheNearestFloatInANewTensor() throws IOException {
        Tensor t = Npy.readTensor(fixture("f8_2d.npy"), arena);
        assertFalse(t.segment().isMapped());
        assertFalse(t.segment().isReadOnly());
        assertEquals(0, t.segment().address() % Tensor.ALIGNMENT);
        assertArrayEquals(new int[] {2, 3}, t.shape());
        for (int k = 0; k < 6; k++) {
            assertEquals((float) (k / 3.0), t.get(k / 3, k % 3));
        }
    }

    @Test
    void bigEndianF4IsConverted() throws IOException {
        Tensor t = Npy.readTensor(fixture("f4_be.npy"), arena);
        assertFalse(t.segment().isMapped());
        assertArrayEquals(new float[] {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f}, t.toFlatArray());
        assertArrayEquals(new int[] {2, 3}, t.shape());
    }

    @Test
    void bigEndianF8BeyondFloatRangeIsRefused() {
        NpyFormatException e = assertThrows(NpyFormatException.class, () -> Npy.readTensor(fixture("f8_be.npy"), arena));
        assertMessage(e, fixture("f8_be.npy"), "value 1.0E300 at index 1 overflows float32");
    }

    @Test
    void threeDimensionalArrayIsRowsOfItsLastAxis() throws IOException {
        NpyArray a = Npy.read(fixture("f4_3d.npy"), arena);
        assertArrayEquals(new int[] {2, 3, 4}, a.shape());
        assertEquals(3, a.rank());
        assertArrayEquals(new int[] {6, 4}, a.data().shape());
        assertArrayEquals(arange(24, 1), a.data().toFlatArray());
        assertTrue(a.data().segment().isMapped());
    }

    @Test
    void fourDimensionalArrayIsRowsOfItsLastAxis() throws IOException {
        NpyArray a = Npy.read(fixture("f4_4d.npy"), arena);
        assertArrayEquals(new int[] {2, 3, 1, 2}, a.shape());
        assertArrayEquals(new int[] {6, 2}, a.data().shape());
        assertArrayEquals(arange(12, -1), a.data().toFlatArray());
    }

    @Test
    void emptyArrayKeepsItsColumns() throws IOException {
        Tensor t = Npy.readTensor(fixture("f4_empty_0x3.npy"), arena);
        assertArrayEquals(new int[] {0, 3}, t.shape());
        assertEquals(0, t.size());
    }

    @Test
    void version2HeaderIsRead() throws IOException {
        assertEquals(2, Files.readAllBytes(fixture("f4_v2.npy"))[6]);
        Tensor t = Npy.readTensor(fixture("f4_v2.npy"), arena);
        assertArrayEquals(new int[] {2, 3}, t.shape());
        assertArrayEquals(new float[] {0.25f, 1.25f, 2.25f, 3.25f, 4.25f, 5.25f}, t.toFlatArray());
    }

    @Test
    void version3HeaderIsRead() throws IOException {
        assertEquals(3, Files.readAllBytes(fixture("f4_v3.npy"))[6]);
        Tensor t = Npy.readTensor(fixture("f4_v3.npy"), arena);
        assertArrayEquals(new int[] {3, 2}, t.shape());
        assertArrayEquals(new float[] {0, -1, -2, -3, -4, -5}, t.toFlatArray());
    }

    @Test
    void headerIsReadAsNumPyWroteIt() throws IOException {
        NpyHeader h = Npy.readHeader(fixture("f4_2d.npy"));
        assertEquals(new NpyHeader("<f4", false, new int[] {3, 4}, 128), h);
        assertEquals(12, h.elementCount());
        assertEquals("(3, 4)", h.shapeString());
        assertEquals("(5,)", Npy.readHeader(fixture("f4_1d.npy")).shapeString());
    }

    @Test
    void headerOfAnArrayTheReadersRefuseIsStillReported() throws IOException {
        assertTrue(Npy.readHeader(fixture("bad_fortran.npy")).fortranOrder());
        assertEquals("<c8", Npy.readHeader(fixture("bad_complex.npy")).dtype());
        NpyHeader scalar = Npy.readHeader(fixture("bad_scalar.npy"));
        assertEquals("()", scalar.shapeString());
        assertEquals(1, scalar.elementCount());
    }

    @Test
    void intsOfEveryDtypeAreRead() throws IOException {
        int[] edges = {Integer.MIN_VALUE, -1, 0, 1, Integer.MAX_VALUE, 7};
        assertEquals(new IntArray(new int[] {2, 3}, new int[] {-3, -2, -1, 0, 1, 2}), Npy.readInts(fixture("i4.npy")));
        assertEquals(new IntArray(new int[] {6}, edges), Npy.readInts(fixture("i4_be.npy")));
        assertEquals(new IntArray(new int[] {2, 3}, edges), Npy.readInts(fixture("i8.npy")));
        assertEquals(new IntArray(new int[] {6}, edges), Npy.readInts(fixture("i8_be.npy")));
        assertEquals(new IntArray(new int[] {5}, new int[] {0, 1, 127, 128, 255}), Npy.readInts(fixture("u1.npy")));
        assertEquals(new IntArray(new int[] {5}, new int[] {-128, -1, 0, 1, 127}), Npy.readInts(fixture("i1.npy")));
        IntArray bools = Npy.readInts(fixture("b1.npy"));
        assertEquals(new IntArray(new int[] {2, 3}, new int[] {1, 0, 1, 0, 0, 1}), bools);
        assertEquals(2, bools.rank());
    }

    @Test
    void anyNonZeroBoolByteIsOneAsInNumPy() throws IOException {
        Path file = dir.resolve("bools.npy");
        Files.write(file, concat(header("{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }"),
                new byte[] {0, 1, 2, (byte) 255}));
        assertArrayEquals(new int[] {0, 1, 1, 1}, Npy.readInts(file).values());
    }

    @Test
    void f8BeyondFloatRangeIsRefusedNamingValueAndIndexButInfinityIsKept() throws IOException {
        ByteBuffer data = ByteBuffer.allocate(48).order(ByteOrder.LITTLE_ENDIAN);
        data.putDouble(1).putDouble(Double.POSITIVE_INFINITY).putDouble(Double.NaN).putDouble(-3e38)
                .putDouble(-1e300).putDouble(0);
        Path file = dir.resolve("big.npy");
        Files.write(file, concat(header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"), data.array()));
        NpyFormatException e = assertThrows(NpyFormatException.class, () -> Npy.readTensor(file, arena));
        assertMessage(e, file, "value -1.0E300 at index (1, 1) overflows float32 (largest finite 3.4028235E38)");
        data.putDouble(32, -1e38);
        Files.write(file, concat(header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"), data.array()));
        assertArrayEquals(new float[] {1, Float.POSITIVE_INFINITY, Float.NaN, -3e38f, -1e38f, 0},
                Npy.readTensor(file, arena).toFlatArray());
    }

    @Test
    void aDirectoryOrFifoIsRefusedBeforeItIsOpened() throws IOException, InterruptedException {
        Path sub = Files.createDirectory(dir.resolve("sub.npy"));
        assertMessage(assertThrows(NpyFormatException.class, () -> Npy.read(sub, arena)), sub,
                "is a directory, not a .npy file");
        Path fifo = dir.resolve("fifo.npy");
        Process p = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        org.junit.jupiter.api.Assumptions.assumeTrue(p.waitFor() == 0, "mkfifo is needed for this test");
        // Opening the FIFO would block this thread until a writer came; the check must come before.
        assertMessage(assertThrows(NpyFormatException.class, () -> Npy.readInts(fifo)), fifo,
                "is not a regular file (a FIFO, device or socket)");
        assertMessage(assertThrows(NpyFormatException.class, () -> Npy.readHeader(fifo)), fifo,
                "is not a regular file");
    }

    @Test
    void i8ValueBeyondIntIsNamedWithItsIndex() {
        NpyFormatException e = assertThrows(NpyFormatException.class, () -> Npy.readInts(fixture("i8_overflow.npy")));
        assertMessage(e, fixture("i8_overflow.npy"), "value 2147483648 at index 2");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '#', textBlock = """
            bad_fortran.npy   # Fortran-ordered
            bad_complex.npy   # unsupported dtype '<c8'; a float array is expected, of dtype <f2, >f2, <f4, <f8, >f4, >f8
            bad_object.npy    # unsupported dtype '|O'
            bad_unicode.npy   # unsupported dtype '<U5'
            i4.npy            # unsupported dtype '<i4'
            bad_scalar.npy    # rank 0 not supported
            bad_truncated.npy # truncated data: shape (3, 4) of <f4 needs 48 bytes after the header, the file has 43
            bad_trailing.npy  # 4 bytes of trailing data after the 48 bytes
            bad_magic.npy     # not a .npy file
            bad_header.npy    # malformed header (expected ',' or ')' at character 55)
            """)
    void badFixtureIsRefusedNamingFileAndProblem(String name, String problem) {
        NpyFormatException e = assertThrows(NpyFormatException.class, () -> Npy.read(fixture(name), arena));
        assertMessage(e, fixture(name), problem);
        assertEquals(fixture(name).toString(), e.file());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '#', textBlock = """
            f4_2d.npy     # unsupported dtype '<f4'; an integer or bool array is expected, of dtype <i4, <i8, |u1, |i1, |b1, >i4, >i8
            bad_magic.npy # not a .npy file
            """)
    void badIntFixtureIsRefusedNamingFileAndProblem(String name, String problem) {
        NpyFormatException e = assertThrows(NpyFormatException.class, () -> Npy.readInts(fixture(name)));
        assertMessage(e, fixture(name), problem);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '#', textBlock = """
            {'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }          # 24 # Fortran-ordered
            {'descr': '<i4', 'fortran_order': False, 'shape': (), }             # 4  # rank 0 not supported
            {'descr': '<i4', 'fortran_order': False, 'shape': (1, 2, 3), }      # 24 # shape (1, 2, 3) has rank 3; an integer or bool array of rank 1 or 2 is expected
            {'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }         # 47 # truncated data: shape (2, 3) of <i8 needs 48 bytes
            {'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }         # 7  # 1 bytes of trailing data after the 6 bytes
            {'descr': '|b1', 'fortran_order': False, 'shape': (65536, 65536), } # 0  # shape (65536, 65536) has 4294967296 elements, more than an int[] holds
            """)
    void badIntFileIsRefusedNamingFileAndProblem(String dict, int dataBytes, String problem) throws IOException {
        Path file = npy(dict, dataBytes);
        NpyFormatException e = assertThrows(NpyFormatException.class, () -> Npy.readInts(file));
        assertMessage(e, file, problem);
    }

    @Test
    void readTensorRefusesRankAboveFourNamingTheShape() {
        Path file = fixture("f4_5d.npy");
        NpyFormatException e = assertThrows(NpyFormatException.class, () -> Npy.readTensor(file, arena));
        assertMessage(e, file, "shape (1, 1, 1, 2, 3) has rank 5; a float array of rank 1 to 4 is expected");
    }

    @Test
    void readHeaderRefusesWhatIsNotAHeader() {
        for (String name : new String[] {"bad_magic.npy", "bad_header.npy"}) {
            NpyFormatException e = assertThrows(NpyFormatException.class, () -> Npy.readHeader(fixture(name)));
            assertMessage(e, fixture(name), name.equals("bad_magic.npy") ? "not a .npy file" : "malformed header");
        }
    }

    // ---- headers written here, to reach every branch of the parser ----

    @ParameterizedTest
    @ValueSource(strings = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<f4\"}",
        "{ 'shape' : ( 2 , 3 , ) ,\t'descr':'<f4' , 'fortran_order':False , }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
        "  {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}\n\n  ",
    })
    void headerKeysComeInAnyOrderWithOptionalSpacesAndCommas(String dict) throws IOException {
        Path file = npy(dict, 24);
        assertArrayEquals(new int[] {2, 3}, Npy.readHeader(file).shape());
        assertArrayEquals(new int[] {2, 3}, Npy.readTensor(file, arena).shape());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '#', quoteCharacter = '`', textBlock = """
            {'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }          # negative dimension -1 in shape (-1, 3)
            {'descr': '<f4', 'fortran_order': False, 'shape': (3000000000, 1), }  # dimension 3000000000 in shape (3000000000, 1) is larger than 2147483647
            {'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), } # integer too large
            {'descr': '<f8', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647), } # more elements than a long counts
            {'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, 4), } # has 4294967296 rows of 4, more than 2147483647
            {'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647), } # needs more bytes than a long counts
            {'descr': '<f4', 'fortran_order': False, 'shape': (536870912, 536870912), } # truncated data: shape (536870912, 536870912) of <f4 needs 1152921504606846976 bytes (1.15e+09 GB) after the header, the file has 24 bytes
            {'descr': '<f4', 'fortran_order': False, 'shape': (3), }              # shape must be a tuple of integers, not 3
            {'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }           # shape must be a tuple of integers, not [2, 3]
            {'descr': '<f4', 'fortran_order': False, 'shape': (2, None), }        # shape must be a tuple of integers, not (2, None)
            {'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }               # fortran_order must be True or False, not 0
            {'descr': 4, 'fortran_order': False, 'shape': (2, 3), }               # descr must be a dtype string, not 4
            {'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,), }    # structured dtypes are not supported: descr [('x', '<f4')]
            {'descr': '<f4', 'shape': (2, 3), }                                   # the header has no 'fortran_order'
            {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1, }   # unexpected key 'x'
            {'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } # duplicate key 'descr' at character 17
            {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } }         # text after the closing '}'
            {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3),             # unexpected end of header
            {'descr': '<f4', 'fortran_order': Nope, 'shape': (2, 3), }            # unknown name 'Nope'
            {'descr': '<f4, 'fortran_order': False, 'shape': (2, 3), }            # expected ',' or '}' at character 17
            {'descr': '<f\\x34', 'fortran_order': False, 'shape': (2, 3), }       # escapes in strings are not supported
            {'descr': '<f4', 'fortran_order': False, 'shape': (2.0, 3), }         # expected ',' or ')'
            {'descr': '<f4', 'fortran_order': False, 'shape': {2: 3}, }           # unexpected '{'
            {'descr': '<f4', 'fortran_order': False, 'shape': (-, 3), }           # expected a digit
            {descr: '<f4'}                                                        # expected a string key
            [1, 2]                                                                # expected '{'
            ``                                                                    # unexpected end of header, expected '{'
            """)
    void malformedHeaderIsRefusedNamingTheProblem(String dict, String problem) throws IOException {
        Path file = npy(dict, 24);
        NpyFormatException e = assertThrows(NpyFormatException.class, () -> Npy.read(file, arena));
        assertMessage(e, file, problem);
    }

    @Test
    void deeplyNestedHeaderIsRefusedWithoutOverflowingTheStack() throws IOException {
        Path file = npy("{'descr': " + "(".repeat(100_000), 0);
        NpyFormatException e = assertThrows(NpyFormatException.class, () -> Npy.readHeader(file));
        assertMessage(e, file, "nested deeper than 32 levels");
    }

    @Test
    void headerLongerThanTheFileIsRefusedBeforeAllocating() throws IOException {
        Path v1 = bytes(preamble(1, 0xFFFF, 2), "{}");
        assertMessage(assertThrows(NpyFormatException.class, () -> Npy.readHeader(v1)), v1,
                "truncated header: it claims 65535 bytes, the file has 2 after the 10-byte preamble");
        Path v2 = bytes(preamble(2, 1_000_000, 4), "{}");
        assertMessage(assertThrows(NpyFormatException.class, () -> Npy.readHeader(v2)), v2, "truncated header");
    }

    @Test
    void headerOverOneMebibyteIsRefused() throws IOException {
        Path file = bytes(preamble(2, 0xFFFF_FFFF, 4), "{}");
        assertMessage(assertThrows(NpyFormatException.class, () -> Npy.readHeader(file)), file,
                "header length 4294967295 is over the limit of 1048576 bytes");
    }

    @Test
    void unknownVersionIsRefused() throws IOException {
        Path file = bytes(preamble(4, 2, 4), "{}");
        assertMessage(assertThrows(NpyFormatException.class, () -> Npy.readHeader(file)), file,
                "unsupported .npy format version 4.0 (qkv reads 1.0, 2.0 and 3.0)");
    }

    @Test
    void version3HeaderMustBeUtf8() throws IOException {
        byte[] header = "{'descr': '<f4\u00ff', 'fortran_order': False, 'shape': (1,), }\n"
                .getBytes(StandardCharsets.ISO_8859_1);
        Path file = dir.resolve("latin1.npy");
        Files.write(file, concat(preamble(3, header.length, 4), header));
        assertMessage(assertThrows(NpyFormatException.class, () -> Npy.readHeader(file)), file,
                "the version 3.0 header is not valid UTF-8");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 3, 6, 7, 9, 11})
    void fileCutInsideThePreambleIsRefused(int length) throws IOException {
        byte[] whole = Files.readAllBytes(fixture("f4_v2.npy"));
        Path file = dir.resolve("cut" + length + ".npy");
        Files.write(file, Arrays.copyOf(whole, length));
        NpyFormatException e = assertThrows(NpyFormatException.class, () -> Npy.readHeader(file));
        assertMessage(e, file, length < 6 ? "not a .npy file" : "truncated header: the file ends after " + length);
    }

    @Test
    void mappedArrayMayHoldMoreThanIntMaxValueElements() throws IOException {
        int cols = 715_827_883;
        Path file = dir.resolve("sparse.npy");
        Files.write(file, header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, " + cols + "), }"));
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.seek(raf.length() + 4L * 3 * cols - 4);
            raf.write(new byte[] {0, 0, (byte) 0x80, 0x3f});
        }
        Tensor t = Npy.readTensor(file, arena);
        assertTrue(t.size() > Integer.MAX_VALUE);
        assertTrue(t.segment().isMapped());
        assertEquals(1f, t.get(2, cols - 1));
        assertEquals(0f, t.get(0, 0));
    }

    // ---- writing ----

    @Test
    void rankOneTensorRoundTrips() throws IOException {
        Tensor t = Tensor.of(arena, new float[] {1.5f, -2f, Float.NaN, Float.MIN_VALUE, -0f});
        Path file = dir.resolve("v.npy");
        Npy.write(file, t);
        assertEquals("(5,)", Npy.readHeader(file).shapeString());
        assertTrue(Npy.readTensor(file, arena).contentEquals(t));
    }

    @Test
    void rankTwoTensorRoundTrips() throws IOException {
        Tensor t = Tensor.of(arena, 3, 4, arange(12, 0.5f));
        Path file = dir.resolve("m.npy");
        Npy.write(file, t);
        assertTrue(Npy.readTensor(file, arena).contentEquals(t));
    }

    @Test
    void stridedViewWritesOnlyItsOwnColumns() throws IOException {
        Tensor wide = Tensor.of(arena, 4, 5, arange(20, 1));
        Tensor view = wide.columns(1, 3);
        Path file = dir.resolve("view.npy");
        Npy.write(file, view);
        Tensor back = Npy.readTensor(file, arena);
        assertArrayEquals(new int[] {4, 2}, back.shape());
        assertArrayEquals(new float[] {1, 2, 6, 7, 11, 12, 16, 17}, back.toFlatArray());
    }

    @Test
    void tensorsLargerThanTheStagingBufferRoundTrip() throws IOException {
        Tensor wide = Tensor.of(arena, 700, 501, arange(700 * 501, 1));
        Tensor view = wide.columns(1, 500);
        Path matrix = dir.resolve("big.npy");
        Npy.write(matrix, view);
        assertTrue(Npy.readTensor(matrix, arena).contentEquals(view));

        Tensor longRow = Tensor.of(arena, arange(600_000, -1));
        Path vector = dir.resolve("long.npy");
        Npy.write(vector, longRow);
        assertTrue(Npy.readTensor(vector, arena).contentEquals(longRow));
    }

    @Test
    void explicitShapeRoundTripsAsFourDimensional() throws IOException {
        Tensor t = Tensor.of(arena, 6, 2, arange(12, -1));
        Path file = dir.resolve("4d.npy");
        Npy.write(file, t, 2, 3, 1, 2);
        NpyArray back = Npy.read(file, arena);
        assertArrayEquals(new int[] {2, 3, 1, 2}, back.shape());
        assertTrue(back.data().contentEquals(t));
    }

    @Test
    void writtenFilesAreByteForByteWhatNumPyWrites() throws IOException {
        Path floats = dir.resolve("f4_2d.npy");
        Npy.write(floats, Tensor.of(arena, 3, 4, arange(12, 1)), 3, 4);
        Npy.write(floats, Tensor.of(arena, 3, 4, shift(arange(12, 1), -5.5f)));
        assertArrayEquals(Files.readAllBytes(fixture("f4_2d.npy")), Files.readAllBytes(floats));
        Path ints = dir.resolve("i4.npy");
        Npy.writeInts(ints, new int[] {-3, -2, -1, 0, 1, 2}, 2, 3);
        assertArrayEquals(Files.readAllBytes(fixture("i4.npy")), Files.readAllBytes(ints));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 9, 10, 99_999, 1_000_000_000})
    void writtenDataStartsAtAMultipleOf64(int rows) throws IOException {
        Path file = dir.resolve("aligned.npy");
        Npy.write(file, Tensor.allocate(arena, 0, 3), rows == 0 ? new int[] {0, 3} : new int[] {rows, 0, 3});
        NpyHeader header = Npy.readHeader(file);
        assertEquals(0, header.dataOffset() % 64);
        assertEquals(header.dataOffset(), Files.size(file));
        assertEquals('\n', Files.readAllBytes(file)[(int) header.dataOffset() - 1]);
    }

    @Test
    void mappedDataOfAWrittenFileIs64ByteAligned() throws IOException {
        Path file = dir.resolve("a.npy");
        Npy.write(file, Tensor.of(arena, 2, 3, arange(6, 1)));
        assertEquals(0, Npy.readTensor(file, arena).segment().address() % 64);
    }

    @Test
    void intsRoundTripInOneAndTwoDimensions() throws IOException {
        int[] values = {Integer.MIN_VALUE, -1, 0, 1, Integer.MAX_VALUE, 7};
        Path file = dir.resolve("ints.npy");
        Npy.writeInts(file, values);
        assertEquals(new IntArray(new int[] {6}, values), Npy.readInts(file));
        Npy.writeInts(file, values, 3, 2);
        assertEquals(new IntArray(new int[] {3, 2}, values), Npy.readInts(file));
        Npy.writeInts(file, new int[0], 0, 4);
        assertEquals(new IntArray(new int[] {0, 4}, new int[0]), Npy.readInts(file));
    }

    @Test
    void writeRefusesAShapeThatDoesNotHoldTheTensorAndWritesNothing() {
        Tensor t = Tensor.allocate(arena, 2, 3);
        Path file = dir.resolve("no.npy");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Npy.write(file, t, 4, 2));
        assertTrue(e.getMessage().contains("shape (4, 2) does not hold the 6 elements of tensor (2, 3)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Npy.write(file, t, new int[0]));
        assertThrows(IllegalArgumentException.class, () -> Npy.write(file, t, -2, -3));
        assertThrows(IllegalArgumentException.class, () -> Npy.writeInts(file, new int[6], 1, 2, 3));
        assertThrows(IllegalArgumentException.class, () -> Npy.writeInts(file, new int[6], 4));
        assertFalse(Files.exists(file));
    }

    @Test
    void writeRefusesATensorWhoseArenaIsClosedAndWritesNothing() {
        Tensor t;
        try (Arena closed = Arena.ofConfined()) {
            t = Tensor.allocate(closed, 2, 3);
        }
        Path file = dir.resolve("closed.npy");
        assertThrows(IllegalStateException.class, () -> Npy.write(file, t));
        assertFalse(Files.exists(file));
    }

    // ---- ranks 3 and 4, float16, bfloat16 ----

    @Test
    void threeAndFourDimensionalArraysAreTensorsOfTheirRank() throws IOException {
        Tensor three = Npy.readTensor(fixture("f4_3d.npy"), arena);
        Tensor four = Npy.readTensor(fixture("f4_4d.npy"), arena);

        assertArrayEquals(new int[] {2, 3, 4}, three.shape());
        assertEquals(23, three.get(1, 0, 2, 3));
        assertTrue(three.segment().isMapped());
        assertArrayEquals(new int[] {2, 3, 1, 2}, four.shape());
        assertEquals(-9, four.get(1, 1, 0, 1));
        assertArrayEquals(arange(12, -1), four.toFlatArray());
    }

    /** The values make_fixtures.py writes into f2_1d.npy and f2_be.npy, already float16. */
    private static final float[] F2_EDGES = {0f, -0f, 1f, -2.5f, 65504f, 0x1p-14f, 0x1p-24f,
        Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 0.333251953125f, 1000.5f};

    @Test
    void littleEndianF2IsMappedAsFloat16WithoutACopy() throws IOException {
        Tensor t = Npy.readTensor(fixture("f2_1d.npy"), arena);

        assertEquals(ElementType.F16, t.elementType());
        assertTrue(t.segment().isMapped());
        assertTrue(t.segment().isReadOnly());
        assertEquals(2L * F2_EDGES.length, t.segment().byteSize());
        assertArrayEquals(F2_EDGES, t.toFlatArray());
        assertEquals(ElementType.F16, Npy.read(fixture("f2_1d.npy"), arena).data().elementType());
    }

    @Test
    void bigEndianF2IsSwappedIntoANewFloat16Tensor() throws IOException {
        Tensor t = Npy.readTensor(fixture("f2_be.npy"), arena);

        assertEquals(ElementType.F16, t.elementType());
        assertFalse(t.segment().isMapped());
        assertTrue(t.contentEquals(Npy.readTensor(fixture("f2_1d.npy"), arena)));
    }

    @Test
    void float16TensorsRoundTripByteForByteWithNumPy() throws IOException {
        Tensor t = Npy.readTensor(fixture("f2_4d.npy"), arena);
        Path file = dir.resolve("f2_4d.npy");

        Npy.write(file, t);

        assertArrayEquals(new int[] {2, 3, 2, 2}, t.shape());
        assertEquals(5.75f, t.get(1, 2, 1, 1));
        assertArrayEquals(Files.readAllBytes(fixture("f2_4d.npy")), Files.readAllBytes(file));
    }

    @Test
    void bfloat16IsReadFromItsBitPatternsByName() throws IOException {
        float[] expected = {1f, -2f, 3.140625f, Float.POSITIVE_INFINITY, 0x1p-130f, 65536f};

        Tensor t = Npy.readBf16(fixture("bf16_bits_2d.npy"), arena);
        Tensor swapped = Npy.readBf16(fixture("bf16_bits_be.npy"), arena);

        assertEquals(ElementType.BF16, t.elementType());
        assertTrue(t.segment().isMapped());
        assertArrayEquals(new int[] {2, 3}, t.shape());
        assertArrayEquals(expected, t.toFlatArray());
        assertArrayEquals(expected, swapped.toFlatArray());
        assertFalse(swapped.segment().isMapped());
    }

    @Test
    void bfloat16BitsAreNotTakenForFloats() {
        Path file = fixture("bf16_bits_2d.npy");
        NpyFormatException e = assertThrows(NpyFormatException.class, () -> Npy.readTensor(file, arena));
        assertMessage(e, file, "dtype '<u2' is not a float; if it holds bfloat16 bit patterns, read it as bf16");
        Path floats = fixture("f4_2d.npy");
        assertMessage(assertThrows(NpyFormatException.class, () -> Npy.readBf16(floats, arena)), floats,
                "unsupported dtype '<f4'; a bfloat16 array is expected, of dtype <u2, >u2");
    }

    @Test
    void bfloat16TensorsRoundTripAsU2() throws IOException {
        Tensor t = Tensor.of(arena, new int[] {2, 1, 3}, new float[] {1.5f, -0f, 3e38f, Float.NaN, 1e-30f, 7})
                .convertTo(arena, ElementType.BF16);
        Path file = dir.resolve("bf16.npy");

        Npy.write(file, t);

        assertEquals("<u2", Npy.readHeader(file).dtype());
        assertTrue(Npy.readBf16(file, arena).contentEquals(t));
    }

    @Test
    void headsOfAProjectionWriteAsARankFourArray() throws IOException {
        // (B, n, H·d) = (2, 3, 2·2); head h of row i is columns [2h, 2h + 2).
        Tensor projection = Tensor.of(arena, new int[] {2, 3, 4}, arange(24, 1));
        Path file = dir.resolve("heads.npy");

        Npy.write(file, projection.splitHeads(2));
        Tensor back = Npy.readTensor(file, arena);

        assertArrayEquals(new int[] {2, 2, 3, 2}, back.shape());
        for (int b = 0; b < 2; b++) {
            for (int h = 0; h < 2; h++) {
                for (int i = 0; i < 3; i++) {
                    for (int j = 0; j < 2; j++) {
                        assertEquals(12 * b + 4 * i + 2 * h + j, back.get(b, h, i, j));
                    }
                }
            }
        }
    }

    // ---- helpers ----

    private static Path fixture(String name) {
        try {
            return Path.of(NpyTest.class.getResource("/npy/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void assertMessage(NpyFormatException e, Path file, String problem) {
        assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(problem), () -> "expected '" + problem + "' in: " + e.getMessage());
    }

    /** A version 1.0 file with header {@code dict} followed by {@code dataBytes} zero bytes. */
    private Path npy(String dict, int dataBytes) throws IOException {
        Path file = Files.createTempFile(dir, "crafted", ".npy");
        Files.write(file, concat(header(dict), new byte[dataBytes]));
        return file;
    }

    private Path bytes(byte[] preamble, String rest) throws IOException {
        Path file = Files.createTempFile(dir, "crafted", ".npy");
        Files.write(file, concat(preamble, rest.getBytes(StandardCharsets.ISO_8859_1)));
        return file;
    }

    /** A version 1.0 preamble and header holding {@code dict}, padded to 64 bytes. */
    private static byte[] header(String dict) {
        int length = dict.length() + 1 + (64 - (10 + dict.length() + 1) % 64) % 64;
        String padded = dict + " ".repeat(length - dict.length() - 1) + "\n";
        return concat(preamble(1, length, 2), padded.getBytes(StandardCharsets.ISO_8859_1));
    }

    private static byte[] preamble(int major, long headerLength, int lengthBytes) {
        ByteBuffer b = ByteBuffer.allocate(8 + lengthBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
        if (lengthBytes == 2) {
            b.putShort((short) headerLength);
        } else {
            b.putInt((int) headerLength);
        }
        return b.array();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** 0, step, 2·step, ... as floats. */
    private static float[] arange(int n, float step) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = i * step;
        }
        return out;
    }

    private static float[] shift(float[] values, float by) {
        float[] out = values.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] += by;
        }
        return out;
    }
}
