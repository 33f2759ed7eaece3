package dev.qkv.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TensorTest {

    private Arena arena;

    @BeforeEach
    void openArena() {
        arena = Arena.ofConfined();
    }

    @AfterEach
    void closeArena() {
        arena.close();
    }

    // ---- allocation and copies

    @Test
    void allocateGivesAZeroFilledContiguousMatrix() {
        Tensor t = Tensor.allocate(arena, 3, 4);

        assertEquals(2, t.rank());
        assertArrayEquals(new int[] {3, 4}, t.shape());
        assertEquals("(3, 4)", t.shapeString());
        assertEquals(12, t.size());
        assertEquals(4, t.rowStride());
        assertTrue(t.isContiguous());
        assertArrayEquals(new float[3][4], t.toArray());
    }

    @Test
    void aVectorIsOneRow() {
        Tensor t = Tensor.allocate(arena, 5);

        assertEquals(1, t.rank());
        assertEquals(1, t.rows());
        assertEquals(5, t.cols());
        assertArrayEquals(new int[] {5}, t.shape());
        assertEquals("(5,)", t.shapeString());
        assertEquals(2, t.asMatrix().rank());
        assertArrayEquals(new int[] {1, 5}, t.asMatrix().shape());
    }

    @Test
    void allocatedSegmentsAreAlignedTo64Bytes() {
        for (int cols = 1; cols <= 17; cols++) {
            Tensor.allocate(arena, 1); // a small allocation in between, to unalign a naive bump allocator
            assertEquals(0, Tensor.allocate(arena, 3, cols).segment().address() % Tensor.ALIGNMENT, "3 × " + cols);
            assertEquals(0, Tensor.allocate(arena, cols).segment().address() % 64, "vector of " + cols);
            assertEquals(0, Tensor.of(arena, new float[cols]).segment().address() % 64, "copy of " + cols);
        }
    }

    @Test
    void ofAndToArrayRoundTrip() {
        float[][] rows = {{1, 2, 3}, {4, 5, 6}};

        assertArrayEquals(rows, Tensor.of(arena, rows).toArray());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, Tensor.of(arena, rows).toFlatArray());
        assertArrayEquals(rows, Tensor.of(arena, 2, 3, new float[] {1, 2, 3, 4, 5, 6}).toArray());
        assertArrayEquals(new float[] {7, -8, 9.5f}, Tensor.of(arena, new float[] {7, -8, 9.5f}).toFlatArray());
        assertArrayEquals(new float[] {Float.NaN, -0f}, Tensor.of(arena, new float[] {Float.NaN, -0f}).toFlatArray());
    }

    @Test
    void anArrayWithNoRowsIsZeroByZero() {
        assertArrayEquals(new int[] {0, 0}, Tensor.of(arena, new float[0][]).shape());
    }

    @Test
    void ofChecksTheNumberOfValuesAgainstTheShape() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.of(arena, 2, 3, new float[5]));

        assertEquals("shape (2, 3) needs 6 values, got 5", e.getMessage());
    }

    @Test
    void raggedRowsAreRefusedNamingTheRow() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.of(arena, new float[][] {{1, 2, 3}, {4, 5}}));

        assertEquals("row 1 has 2 values; a tensor of shape (2, 3) needs 3", e.getMessage());
    }

    @Test
    void aNegativeShapeIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(arena, -1, 3));
        assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(arena, -3));
    }

    @Test
    void copyFromATensorOfAnotherShapeNamesBothShapes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.allocate(arena, 2, 3).copyFrom(Tensor.allocate(arena, 3, 2)));

        assertEquals("cannot copy a tensor of shape (3, 2) into one of shape (2, 3)", e.getMessage());
    }

    @Test
    void copyFromATensorCopiesAcrossRanksAndStrides() {
        Tensor wide = Tensor.of(arena, new float[][] {{1, 2, 3, 4}, {5, 6, 7, 8}});
        Tensor target = Tensor.allocate(arena, 2, 2);

        target.copyFrom(wide.columns(1, 3));
        Tensor vector = Tensor.allocate(arena, 4);
        vector.copyFrom(wide.rows(1, 2));

        assertArrayEquals(new float[][] {{2, 3}, {6, 7}}, target.toArray());
        assertArrayEquals(new float[] {5, 6, 7, 8}, vector.toFlatArray());
    }

    @Test
    void fillSetsEveryElementOfAViewAndNoOther() {
        Tensor t = Tensor.allocate(arena, 2, 3);

        t.columns(1, 2).fill(5);
        t.rows(0, 1).columns(2, 3).fill(-1);

        assertArrayEquals(new float[][] {{0, 5, -1}, {0, 5, 0}}, t.toArray());
    }

    // ---- views

    @Test
    void aRowViewSharesMemoryBothWays() {
        Tensor t = Tensor.of(arena, new float[][] {{1, 2, 3}, {4, 5, 6}});
        Tensor row = t.row(1);

        row.set(2, 60);
        t.set(1, 0, 40);

        assertEquals(1, row.rank());
        assertEquals(60, t.get(1, 2));
        assertArrayEquals(new float[] {40, 5, 60}, row.toFlatArray());
    }

    @Test
    void rowsIsAViewWithTheSameStride() {
        Tensor t = Tensor.of(arena, 4, 3, new float[] {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32});
        Tensor middle = t.rows(1, 3);

        middle.set(1, 1, -21);

        assertArrayEquals(new int[] {2, 3}, middle.shape());
        assertEquals(3, middle.rowStride());
        assertArrayEquals(new float[][] {{10, 11, 12}, {20, -21, 22}}, middle.toArray());
        assertEquals(-21, t.get(2, 1));
    }

    @Test
    void columnsIsAStridedViewSharingMemory() {
        Tensor t = Tensor.of(arena, 3, 5, new float[] {0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 20, 21, 22, 23, 24});
        Tensor middle = t.columns(1, 4);

        middle.set(2, 0, -21);

        assertArrayEquals(new int[] {3, 3}, middle.shape());
        assertEquals(5, middle.rowStride());
        assertFalse(middle.isContiguous());
        assertEquals("Tensor(3, 3) stride 5", middle.toString());
        assertArrayEquals(new float[][] {{1, 2, 3}, {11, 12, 13}, {-21, 22, 23}}, middle.toArray());
        assertArrayEquals(new float[] {1, 2, 3, 11, 12, 13, -21, 22, 23}, middle.toFlatArray());
        assertEquals(-21, t.get(2, 1));
        assertEquals(4L * 2 * 5, middle.rowOffset(2));
    }

    @Test
    void viewsOfViewsCompose() {
        Tensor t = Tensor.of(arena, 3, 5, new float[] {0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 20, 21, 22, 23, 24});

        Tensor inner = t.columns(1, 4).rows(1, 3).columns(1, 2);

        assertArrayEquals(new float[][] {{12}, {22}}, inner.toArray());
        assertEquals(5, inner.rowStride());
        assertArrayEquals(new float[] {21, 22, 23}, t.columns(1, 4).row(2).toFlatArray());
    }

    @Test
    void anEmptyViewBelongsToTheArenaOfItsTensor() {
        Tensor noRows;
        Tensor noColumns;
        try (Arena closed = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(closed, 3, 4);
            noRows = t.rows(1, 1);
            noColumns = t.columns(2, 2);
            assertTrue(noRows.isAlive());
            assertArrayEquals(new int[] {0, 4}, noRows.shape());
            assertArrayEquals(new int[] {3, 0}, noColumns.shape());
        }

        assertFalse(noRows.isAlive());
        assertFalse(noColumns.isAlive());
    }

    @Test
    void aVectorsColumnsAreAVector() {
        Tensor v = Tensor.of(arena, new float[] {1, 2, 3, 4});

        Tensor middle = v.columns(1, 3);

        assertArrayEquals(new int[] {2}, middle.shape());
        assertEquals(3, middle.get(1));
    }

    @Test
    void copyFromArraysIntoAStridedViewLeavesTheOtherColumns() {
        Tensor t = Tensor.allocate(arena, 2, 4);

        t.columns(1, 3).copyFrom(new float[][] {{1, 2}, {3, 4}});
        t.columns(0, 1).copyRowFrom(1, new float[] {9});

        assertArrayEquals(new float[][] {{0, 1, 2, 0}, {9, 3, 4, 0}}, t.toArray());
    }

    @Test
    void wrapSeesExistingMemoryWithTheGivenStride() {
        Tensor backing = Tensor.of(arena, new float[] {0, 1, 2, 3, 4, 5, 6, 7});

        Tensor wrapped = Tensor.wrap(backing.segment(), 2, 3, 2, 3);

        assertArrayEquals(new float[][] {{0, 1}, {3, 4}, {6, 7}}, wrapped.toArray());
    }

    @Test
    void wrapRefusesAShapeThatDoesNotFit() {
        Tensor backing = Tensor.allocate(arena, 8);

        IllegalArgumentException tooSmall = assertThrows(IllegalArgumentException.class,
                () -> Tensor.wrap(backing.segment(), 2, 3, 3, 3));
        IllegalArgumentException shortStride = assertThrows(IllegalArgumentException.class,
                () -> Tensor.wrap(backing.segment(), 2, 2, 3, 2));
        IllegalArgumentException badRank = assertThrows(IllegalArgumentException.class,
                () -> Tensor.wrap(backing.segment(), 3, 1, 2, 2));

        assertEquals("segment of 32 bytes is too small for shape (3, 3) with row stride 3 (36 bytes)",
                tooSmall.getMessage());
        assertEquals("row stride 2 is shorter than a row of 3", shortStride.getMessage());
        assertEquals("rank must be 1 or 2, got 3", badRank.getMessage());
    }

    @Test
    void contentEqualsComparesShapesAndElements() {
        Tensor a = Tensor.of(arena, new float[][] {{1, Float.NaN}});

        assertTrue(a.contentEquals(Tensor.of(arena, new float[][] {{1, Float.NaN}})));
        assertFalse(a.contentEquals(Tensor.of(arena, new float[] {1, Float.NaN})));
        assertFalse(a.contentEquals(Tensor.of(arena, new float[][] {{1, 2}})));
    }

    /**
     * A tensor past 2 GiB: 2²⁹ + 1 rows of one float. The memory is a mapped sparse file, so only the page written
     * takes room.
     */
    @Test
    void rowOffsetsPastTwoGibibytesDoNotOverflow(@TempDir Path dir) throws IOException {
        int rows = (1 << 29) + 1;
        MemorySegment segment;
        try (FileChannel file = FileChannel.open(dir.resolve("big.f32"), StandardOpenOption.CREATE_NEW,
                StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            segment = file.map(FileChannel.MapMode.READ_WRITE, 0, 4L * rows, arena);
        }
        Tensor t = Tensor.wrap(segment, 2, rows, 1, 1);

        t.set(rows - 1, 0, 7);

        assertEquals(4L * (rows - 1), t.rowOffset(rows - 1));
        assertEquals(7, t.row(rows - 1).get(0));
        assertArrayEquals(new float[] {7}, t.rowToArray(rows - 1));
        assertArrayEquals(new float[][] {{7}}, t.rows(rows - 1, rows).toArray());
    }

    // ---- errors

    @Test
    void indexErrorsNameTheIndex() {
        Tensor t = Tensor.allocate(arena, 3, 4);

        assertTrue(assertThrows(IndexOutOfBoundsException.class, () -> t.get(3, 0)).getMessage().contains("3"));
        assertTrue(assertThrows(IndexOutOfBoundsException.class, () -> t.get(0, 7)).getMessage().contains("7"));
        assertTrue(assertThrows(IndexOutOfBoundsException.class, () -> t.set(-1, 0, 1)).getMessage().contains("-1"));
        assertTrue(assertThrows(IndexOutOfBoundsException.class, () -> t.row(5)).getMessage().contains("5"));
        assertTrue(assertThrows(IndexOutOfBoundsException.class, () -> t.rowToArray(6)).getMessage().contains("6"));
        IndexOutOfBoundsException range = assertThrows(IndexOutOfBoundsException.class, () -> t.rows(2, 1));
        assertTrue(range.getMessage().contains("[2, 1)"), range.getMessage());
        range = assertThrows(IndexOutOfBoundsException.class, () -> t.columns(1, 5));
        assertTrue(range.getMessage().contains("[1, 5)"), range.getMessage());
        IndexOutOfBoundsException vector = assertThrows(IndexOutOfBoundsException.class,
                () -> Tensor.allocate(arena, 4).get(4));
        assertTrue(vector.getMessage().contains("4"), vector.getMessage());
    }

    @Test
    void oneIndexNeedsOneRow() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Tensor.allocate(arena, 2, 3).get(1));

        assertEquals("get(i) needs a vector or a one-row matrix, not shape (2, 3)", e.getMessage());
    }

    @Test
    void aTensorOfAClosedArenaIsDeadAndRefusesAccess() {
        Tensor t;
        try (Arena closed = Arena.ofConfined()) {
            t = Tensor.allocate(closed, 2, 2);
            assertTrue(t.isAlive());
        }

        assertFalse(t.isAlive());
        assertThrows(IllegalStateException.class, () -> t.get(0, 0));
        assertThrows(IllegalStateException.class, t::toArray);
    }
}
