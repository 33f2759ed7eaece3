package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/** Until the kernels read them, half-precision and rank-3/4 tensors are refused by name, never misread. */
class TensorInputsTest {

    @Test
    void batchedQueriesAndHalfPrecisionKeysAreRefusedNamingWhy() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor keys = Tensor.of(arena, new float[][] {{1, 2}, {3, 4}});
            Tensor batched = Tensor.allocate(arena, 2, 3, 2);
            Tensor half = keys.convertTo(arena, ElementType.F16);
            Attention attention = Attention.scaledDot();

            IllegalArgumentException rank = assertThrows(IllegalArgumentException.class,
                    () -> attention.pool(arena, batched, keys, keys));
            IllegalArgumentException f16 = assertThrows(IllegalArgumentException.class,
                    () -> attention.pool(arena, keys, half, keys));

            assertEquals("queries must be a vector or a matrix, got shape (2, 3, 2); pool the matrices of slice(b, h) "
                    + "one by one", rank.getMessage());
            assertEquals("keys (2, 2) is f16; the kernels read float32 only so far: convertTo(arena, ElementType.F32) "
                    + "first", f16.getMessage());
        }
    }
}
