package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/**
 * Rank-3/4 tensors, and half-precision ones where only float32 is read (gradients), are refused by name, never
 * misread; half-precision keys and values are pooled.
 */
class TensorInputsTest {

    @Test
    void batchedQueriesAndHalfPrecisionGradientsAreRefusedNamingWhy() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor keys = Tensor.of(arena, new float[][] {{1, 2}, {3, 4}});
            Tensor batched = Tensor.allocate(arena, 2, 3, 2);
            Tensor half = keys.convertTo(arena, ElementType.F16);
            Attention attention = Attention.scaledDot();

            IllegalArgumentException rank = assertThrows(IllegalArgumentException.class,
                    () -> attention.pool(arena, batched, keys, keys));
            IllegalArgumentException f16 = assertThrows(IllegalArgumentException.class,
                    () -> attention.gradients(arena, keys, half, keys, Mask.none(), keys));

            assertEquals("queries must be a vector or a matrix, got shape (2, 3, 2); pool the matrices of slice(b, h) "
                    + "one by one", rank.getMessage());
            assertEquals("keys (2, 2) is f16; only float32 is read here (float16 and bfloat16 keys and values are read"
                    + " by Attention.pool, partial and weights): convertTo(arena, ElementType.F32) first", f16.getMessage());
            assertEquals(attention.pool(arena, keys, keys.convertTo(arena, ElementType.F32), keys).get(0, 0),
                    attention.pool(arena, keys, half, keys).get(0, 0), "f16 keys (1, 2, 3, 4 are exact) are pooled");
        }
    }
}
