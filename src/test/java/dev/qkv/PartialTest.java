package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class PartialTest {

    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void close() {
        arena.close();
    }

    private Partial sample() {
        return Partial.of(new double[] {1.5, Double.NEGATIVE_INFINITY, -3},
                new double[] {2.25, 0, 1e-300},
                new double[][] {{1, -2}, {0, 0}, {Math.PI, 1e300}});
    }

    @Test
    void bytesGiveBackTheSamePartialBitForBit() {
        Partial p = sample();
        byte[] bytes = p.toBytes();
        assertEquals(10 + 8 * 3 * (2 + 2), bytes.length);
        assertEquals(1, bytes[0], "the version byte");
        Partial back = Partial.fromBytes(bytes);
        assertEquals(p.queries(), back.queries());
        assertEquals(p.valueDim(), back.valueDim());
        for (int i = 0; i < p.queries(); i++) {
            assertEquals(Double.doubleToRawLongBits(p.max(i)), Double.doubleToRawLongBits(back.max(i)));
            assertEquals(Double.doubleToRawLongBits(p.sum(i)), Double.doubleToRawLongBits(back.sum(i)));
            assertArrayEquals(p.acc(i), back.acc(i));
        }
        assertArrayEquals(bytes, back.toBytes());
    }

    @Test
    void aPartialOfOneVectorQueryFinishesAsAVectorAfterMergesAndBytes() {
        Tensor query = Tensor.of(arena, new float[] {1, 0});
        Tensor keys = Tensor.of(arena, new float[][] {{1, 0}, {0, 1}, {1, 1}});
        Tensor values = Tensor.of(arena, new float[][] {{1}, {2}, {3}});
        Attention attention = Attention.builder().kernels("scalar").build();
        Partial left = attention.partial(query, keys.rows(0, 1), values.rows(0, 1), Mask.none());
        Partial right = attention.partial(query, keys.rows(1, 3), values.rows(1, 3), Mask.none());
        Tensor pooled = attention.pool(arena, query, keys, values);
        Tensor merged = Partial.fromBytes(left.merge(right).toBytes()).output(arena);
        assertArrayEquals(new int[] {1}, merged.shape());
        assertArrayEquals(pooled.toFlatArray(), merged.toFlatArray(), 1e-6f);
        assertArrayEquals(new int[] {3, 2}, sample().merge(sample()).output(arena).shape(), "of(...) is n × dv");
    }

    @Test
    void aWrongVersionIsNamed() {
        byte[] bytes = sample().toBytes();
        bytes[0] = 7;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Partial.fromBytes(bytes));
        assertTrue(e.getMessage().contains("version 7") && e.getMessage().contains("version 1"), e.getMessage());
    }

    @Test
    void aWrongLengthIsNamed() {
        byte[] bytes = sample().toBytes();
        for (int length : new int[] {0, 5, 10, bytes.length - 1}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Partial.fromBytes(Arrays.copyOf(bytes, length)));
            assertTrue(e.getMessage().contains(String.valueOf(length)), e.getMessage());
        }
        byte[] longer = Arrays.copyOf(bytes, bytes.length + 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Partial.fromBytes(longer));
        assertTrue(e.getMessage().contains(bytes.length + " bytes, got " + longer.length), e.getMessage());
    }

    @Test
    void bytesThatBreakThePartialsRulesAreRefused() {
        byte[] bytes = Partial.of(new double[] {1}, new double[] {2}, new double[][] {{3}}).toBytes();
        bytes[10 + 8] = (byte) 0xBF; // sum becomes negative
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Partial.fromBytes(bytes));
        assertTrue(e.getMessage().contains("sum 0"), e.getMessage());
    }

    @Test
    void ofRefusesMismatchedAndInconsistentParts() {
        assertThrows(IllegalArgumentException.class,
                () -> Partial.of(new double[] {0}, new double[] {1, 1}, new double[][] {{1}}));
        assertThrows(IllegalArgumentException.class,
                () -> Partial.of(new double[] {Double.NEGATIVE_INFINITY}, new double[] {1}, new double[][] {{1}}));
        assertThrows(IllegalArgumentException.class,
                () -> Partial.of(new double[] {0}, new double[] {0}, new double[][] {{1}}));
    }

    /**
     * Merging many shards loses nothing a float output notices: 10000 partials of one key each, merged one by one,
     * give the mean of the values as closely as a float holds it (the partials and merges are double).
     */
    @Test
    void manyMergesKeepDoublePrecision() {
        Partial merged = Partial.empty(1, 1);
        double exact = 0;
        for (int k = 0; k < 10000; k++) {
            double v = 1 + k * 1e-4;
            exact += v;
            merged = merged.merge(Partial.of(new double[] {0}, new double[] {1}, new double[][] {{v}}));
        }
        exact /= 10000;
        float out = merged.output(arena).get(0, 0);
        assertEquals((float) exact, out, Math.ulp((float) exact));
        assertEquals(Math.log(10000), merged.logSumExp(0), 1e-12);
    }
}
