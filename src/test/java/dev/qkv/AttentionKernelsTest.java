package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.kernel.KernelProvider;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

class AttentionKernelsTest {

    @Test
    void theDefaultKernelsAreTheSelectedOnes() {
        assertEquals(KernelProvider.defaults().name(), Attention.scaledDot().kernels());
    }

    @Test
    @NeedsVectorModule
    void kernelsCanBeChosenByName() {
        assertEquals("scalar", Attention.builder().kernels("scalar").build().kernels());
        assertEquals("vector", Attention.builder().kernels("vector").build().kernels());
    }

    @Test
    void anUnknownKernelNameIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Attention.builder().kernels("gpu"));
        assertTrue(e.getMessage().contains("gpu"), e.getMessage());
    }

    @Test
    void identicalKeysAverageTheValuesWithEitherKernels() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor query = Tensor.of(arena, new float[] {0.3f, -1.2f, 2f});
            float[] key = {1f, 0.5f, -0.25f};
            Tensor keys = Tensor.of(arena, new float[][] {key, key, key, key});
            Tensor values = Tensor.of(arena, new float[][] {{1, 10}, {2, 20}, {3, 30}, {6, 60}});
            for (String name : TestKernels.names()) {
                float[] out = Attention.builder().kernels(name).build().pool(arena, query, keys, values).toFlatArray();
                assertArrayEquals(new float[] {3f, 30f}, out, 1e-6f, name);
            }
        }
    }
}
