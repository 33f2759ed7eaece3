package dev.qkv.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Tensors of rank 3 and 4, their strides and views, and tensors of half-precision elements. */
class TensorRanksTest {

    private Arena arena;

    @BeforeEach
    void openArena() {
        arena = Arena.ofConfined();
    }

    @AfterEach
    void closeArena() {
        arena.close();
    }

    private static float[] arange(int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = i;
        }
        return out;
    }

    @Test
    void allocateGivesContiguousAlignedTensorsOfEveryRank() {
        Tensor three = Tensor.allocate(arena, 2, 3, 4);
        Tensor four = Tensor.allocate(arena, 2, 5, 3, 4);

        assertArrayEquals(new int[] {2, 3, 4}, three.shape());
        assertArrayEquals(new long[] {12, 4, 1}, three.strides());
        assertEquals(1, three.heads());
        assertArrayEquals(new int[] {2, 5, 3, 4}, four.shape());
        assertArrayEquals(new long[] {60, 12, 4, 1}, four.strides());
        assertEquals("(2, 5, 3, 4)", four.shapeString());
        assertEquals(120, four.size());
        assertTrue(four.isContiguous());
        assertEquals(0, four.segment().address() % Tensor.ALIGNMENT);
        assertEquals(4L * 120, four.segment().byteSize());
        assertEquals(ElementType.F32, four.elementType());
    }

    @Test
    void elementsAreAddressedByBatchHeadRowAndColumn() {
        Tensor t = Tensor.of(arena, new int[] {2, 3, 2, 4}, arange(48));

        assertEquals(1 * 24 + 2 * 8 + 1 * 4 + 3, t.get(1, 2, 1, 3));
        assertEquals(4L * (24 + 16 + 4), t.offset(1, 2, 1));
        t.set(1, 2, 1, 3, -1);
        assertEquals(-1, t.toFlatArray()[47]);
        assertThrows(IndexOutOfBoundsException.class, () -> t.get(2, 0, 0, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> t.offset(0, 3, 0));
    }

    @Test
    void aSliceIsTheMatrixOfOneBatchAndHeadSharingMemory() {
        Tensor t = Tensor.of(arena, new int[] {2, 3, 2, 4}, arange(48));

        Tensor m = t.slice(1, 2);
        m.set(0, 1, 100);

        assertEquals(2, m.rank());
        assertArrayEquals(new float[][] {{40, 100, 42, 43}, {44, 45, 46, 47}}, m.toArray());
        assertEquals(100, t.get(1, 2, 0, 1));
        assertEquals(t.segment().address() + t.offset(1, 2, 0), m.segment().address());
        assertArrayEquals(new float[][] {{8, 9, 10, 11}}, Tensor.of(arena, new int[] {3, 1, 4}, arange(12)).slice(2, 0)
                .toArray());
    }

    @Test
    void splitHeadsSeesAProjectionAsHeadsWithoutACopy() {
        int batch = 2;
        int n = 3;
        int heads = 4;
        int d = 5;
        Tensor projection = Tensor.of(arena, new int[] {batch, n, heads * d}, arange(batch * n * heads * d));

        Tensor split = projection.splitHeads(heads);

        assertArrayEquals(new int[] {batch, heads, n, d}, split.shape());
        assertArrayEquals(new long[] {n * heads * d, d, heads * d, 1}, split.strides());
        assertFalse(split.isContiguous());
        assertEquals(projection.segment().address(), split.segment().address());
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                Tensor head = split.slice(b, h);
                assertEquals(heads * d, head.rowStride());
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < d; j++) {
                        assertEquals(projection.get(b, 0, i, h * d + j), head.get(i, j));
                    }
                }
            }
        }
        Tensor matrixHeads = Tensor.of(arena, n, heads * d, arange(n * heads * d)).splitHeads(heads);
        assertArrayEquals(new int[] {1, heads, n, d}, matrixHeads.shape());
        assertEquals(2 * d + 1, matrixHeads.get(0, 2, 0, 1));
    }

    @Test
    void splitHeadsRefusesColumnsThatDoNotDivide() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.allocate(arena, 2, 3, 10).splitHeads(4));

        assertEquals("cannot split 10 columns of shape (2, 3, 10) into 4 heads", e.getMessage());
    }

    @Test
    void viewReshapesWhereTheStridesAllow() {
        Tensor t = Tensor.of(arena, new int[] {2, 3, 4}, arange(24));

        assertArrayEquals(arange(24), t.view(6, 4).toFlatArray());
        assertArrayEquals(arange(24), t.view(24).toFlatArray());
        assertArrayEquals(new int[] {2, 3, 1, 4}, t.view(2, 3, 1, 4).shape());
        assertEquals(13, t.view(2, 3, 1, 4).get(1, 0, 0, 1));
        assertArrayEquals(new int[] {6, 4}, t.asMatrix().shape());
        // Columns of a contiguous tensor: rows cannot merge with the batch unless they are evenly spaced.
        Tensor firstColumns = t.columns(0, 2);
        assertArrayEquals(new float[] {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21}, firstColumns.view(6, 2).toFlatArray());
        assertEquals(4, firstColumns.view(6, 2).rowStride());
        // (B, n, H, d) back to (B, n, H·d): the split dimensions are adjacent and evenly laid out.
        Tensor split = Tensor.of(arena, new int[] {2, 3, 2, 2}, arange(24));
        assertArrayEquals(arange(24), split.view(2, 3, 4).toFlatArray());
    }

    @Test
    void viewRefusesWhatNeedsACopyNamingShapesAndStrides() {
        Tensor heads = Tensor.of(arena, new int[] {2, 3, 8}, arange(48)).splitHeads(2);

        IllegalArgumentException strided = assertThrows(IllegalArgumentException.class, () -> heads.view(2, 6, 4));
        IllegalArgumentException size = assertThrows(IllegalArgumentException.class, () -> heads.view(5, 5));

        assertEquals("cannot view a tensor of shape (2, 2, 3, 4) with strides [24, 4, 8, 1] as (2, 6, 4) without a copy",
                strided.getMessage());
        assertEquals("cannot view a tensor of shape (2, 2, 3, 4) as (5, 5): the sizes differ", size.getMessage());
        assertThrows(IllegalArgumentException.class, heads::asMatrix);
    }

    @Test
    void rowsAndColumnsCutEveryMatrix() {
        Tensor t = Tensor.of(arena, new int[] {2, 2, 3, 4}, arange(48));

        Tensor cut = t.rows(1, 3).columns(1, 3);

        assertArrayEquals(new int[] {2, 2, 2, 2}, cut.shape());
        assertArrayEquals(new float[][] {{41, 42}, {45, 46}}, cut.slice(1, 1).toArray());
        assertArrayEquals(new float[] {5, 6, 9, 10, 17, 18, 21, 22, 29, 30, 33, 34, 41, 42, 45, 46},
                cut.toFlatArray());
    }

    @Test
    void matrixMethodsOnRankThreeAndFourNameTheWayOut() {
        Tensor t = Tensor.allocate(arena, 2, 3, 4);

        IllegalStateException e = assertThrows(IllegalStateException.class, () -> t.get(0, 0));

        assertEquals("get(i, j) needs a vector or a matrix, not shape (2, 3, 4); take slice(b, h) first", e.getMessage());
        assertThrows(IllegalStateException.class, () -> t.row(0));
        assertThrows(IllegalStateException.class, t::toArray);
    }

    @Test
    void wrapTakesStridesIncludingABroadcastBatch() {
        Tensor backing = Tensor.of(arena, arange(8));

        Tensor repeated = Tensor.wrap(backing.segment(), ElementType.F32, new int[] {3, 2, 4}, new long[] {0, 4, 1});

        assertEquals(7, repeated.get(2, 0, 1, 3));
        assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7},
                repeated.toFlatArray());
        assertEquals("the elements of a row must be contiguous: the last stride must be 1, not 2",
                assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(backing.segment(), ElementType.F32,
                        new int[] {2, 2}, new long[] {4, 2})).getMessage());
        assertEquals("segment of 32 bytes is too small for shape (2, 2, 4) with strides [8, 4, 1] (64 bytes)",
                assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(backing.segment(), ElementType.F32,
                        new int[] {2, 2, 4}, new long[] {8, 4, 1})).getMessage());
        assertEquals("segment of 32 bytes is too small for f16 shape (5, 4) with strides [4, 1] (40 bytes)",
                assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(backing.segment(), ElementType.F16,
                        new int[] {5, 4}, new long[] {4, 1})).getMessage());
    }

    @Test
    void halfPrecisionTensorsAreReadOnlyAndWidenWhenRead() {
        Tensor f32 = Tensor.of(arena, new int[] {2, 1, 3}, new float[] {1, 2.5f, -3, 0.1f, 65504, -0f});
        Tensor f16 = f32.convertTo(arena, ElementType.F16);

        assertEquals(ElementType.F16, f16.elementType());
        assertEquals(2L * 6, f16.segment().byteSize());
        assertEquals(0.0999755859375f, f16.get(1, 0, 0, 0));
        assertEquals(2L * 3, f16.offset(1, 0, 0));
        assertEquals("Tensor(2, 1, 3) f16", f16.toString());
        assertThrows(UnsupportedOperationException.class, () -> f16.set(0, 0, 0, 0, 1));
        assertThrows(UnsupportedOperationException.class, () -> f16.fill(0));
        Tensor widened = Tensor.allocate(arena, 2, 1, 3);
        widened.copyFrom(f16);
        assertTrue(widened.contentEquals(f16.convertTo(arena, ElementType.F32)));
        assertFalse(widened.contentEquals(f16), "the element types differ");
        assertArrayEquals(new float[] {1, 2.5f, -3}, f16.slice(0, 0).rowToArray(0));
        assertArrayEquals(new float[] {2.5f, -3}, f16.columns(1, 3).slice(0, 0).toFlatArray());
    }

    @Test
    void emptyDimensionsGiveEmptyViews() {
        Tensor t = Tensor.allocate(arena, 2, 0, 3, 4);

        assertEquals(0, t.size());
        assertEquals(0, t.toFlatArray().length);
        assertArrayEquals(new int[] {0, 4}, t.view(0, 4).shape());
        Tensor noRows = Tensor.allocate(arena, 2, 2, 3, 4).rows(1, 1);
        assertArrayEquals(new int[] {2, 2, 0, 4}, noRows.shape());
        assertArrayEquals(new int[] {0, 4}, noRows.slice(1, 1).shape());
    }
}
