package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

class MaskTest {

    /** Query 0 sees keys 0, 1; query 1 sees key 1 only: the n × m mask and a row for all, combined key by key. */
    @Test
    void twoExplicitMasksCombineKeyByKey() {
        Mask matrix = Mask.explicit(new boolean[][] {{true, true, false}, {true, true, true}});
        Mask row = Mask.explicit(new boolean[] {false, true, true});
        Mask both = Mask.explicit(new boolean[][] {{false, true, false}, {false, true, true}});
        try (Arena arena = Arena.ofConfined()) {
            Tensor queries = Tensor.of(arena, new float[][] {{1, 0}, {0, 1}});
            Tensor keys = Tensor.of(arena, new float[][] {{1, 0}, {0, 1}, {1, 1}});
            Attention attention = Attention.builder().kernels("scalar").build();
            float[] expected = attention.weights(arena, queries, keys, both).toFlatArray();
            assertArrayEquals(expected, attention.weights(arena, queries, keys, matrix.and(row)).toFlatArray());
            assertArrayEquals(expected, attention.weights(arena, queries, keys, row.and(matrix)).toFlatArray());
            float[] weights = attention.weights(arena, queries, keys, matrix.and(row)).toFlatArray();
            assertArrayEquals(new float[] {0, 1, 0}, new float[] {weights[0], weights[1], weights[2]});
        }
    }

    @Test
    void explicitMasksOfDifferentShapesAreRefusedNamingBoth() {
        Mask a = Mask.explicit(new boolean[2][3]);
        Mask b = Mask.explicit(new boolean[3][3]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.and(b));
        assertTrue(e.getMessage().contains("(2, 3)") && e.getMessage().contains("(3, 3)"), e.getMessage());
        Mask c = Mask.explicit(new boolean[4]);
        e = assertThrows(IllegalArgumentException.class, () -> a.and(c));
        assertTrue(e.getMessage().contains("(1, 4)"), e.getMessage());
    }

    @Test
    void aMaskOfTheWrongShapeNamesEachShapeItCouldHaveHadOnce() {
        try (Arena arena = Arena.ofConfined()) {
            Attention attention = Attention.builder().build();
            Tensor one = Tensor.allocate(arena, 1, 2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> attention.weights(arena, one, one, Mask.explicit(new boolean[1][2])));
            assertEquals("mask has shape (1, 2), expected (1, 1) for 1 query and 1 key", e.getMessage());
            Tensor three = Tensor.allocate(arena, 3, 2);
            e = assertThrows(IllegalArgumentException.class,
                    () -> attention.weights(arena, three, three, Mask.explicit(new boolean[2][3])));
            assertEquals("mask has shape (2, 3), expected (3, 3) or (1, 3) for 3 queries and 3 keys", e.getMessage());
        }
    }
}
