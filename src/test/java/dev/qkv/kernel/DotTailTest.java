package dev.qkv.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qkv.TestKernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link Kernels#dot} and {@link Kernels#squaredDistance} with one infinite or NaN element at every position, at
 * lengths below a vector, of whole vectors, and with a last partial vector (which the vector kernels read as the
 * whole vector ending at the last element, the lanes summed already zeroed in both operands): the one term decides
 * the result, wherever its lane falls. A lane zeroed in one operand only would make 0 · ∞ = NaN of an infinite
 * element summed before.
 */
class DotTailTest {

    static List<Kernels> kernels() {
        return TestKernels.all();
    }

    /** 20 rounds, about 32,000 calls: the first in the interpreter and C1, the last compiled by C2. */
    @ParameterizedTest
    @MethodSource("kernels")
    void oneNonFiniteElementDecidesTheResultWhereverItIs(Kernels kernels) {
        int[] dims = {3, 16, 17, 31, 100, 101, 131};
        try (Arena arena = Arena.ofConfined()) {
            for (int round = 0; round < 20; round++) {
                for (int d : dims) {
                    MemorySegment x = filled(arena, d, 1.5f);
                    MemorySegment y = filled(arena, d, 0.5f);
                    for (int k = 0; k < d; k++) {
                        String where = "d = " + d + ", round " + round + ", element " + k;
                        y.setAtIndex(ValueLayout.JAVA_FLOAT, k, Float.POSITIVE_INFINITY);
                        assertEquals(Float.POSITIVE_INFINITY, kernels.dot(x, 0, y, 0, d), "∞ in y, " + where);
                        y.setAtIndex(ValueLayout.JAVA_FLOAT, k, 0.5f);
                        x.setAtIndex(ValueLayout.JAVA_FLOAT, k, Float.POSITIVE_INFINITY);
                        assertEquals(Float.POSITIVE_INFINITY, kernels.dot(x, 0, y, 0, d), "∞ in x, " + where);
                        assertEquals(Float.POSITIVE_INFINITY, kernels.squaredDistance(x, 0, y, 0, d), where);
                        x.setAtIndex(ValueLayout.JAVA_FLOAT, k, Float.NaN);
                        assertEquals(Float.NaN, kernels.dot(x, 0, y, 0, d), "NaN in x, " + where);
                        x.setAtIndex(ValueLayout.JAVA_FLOAT, k, 1.5f);
                    }
                }
            }
        }
    }

    private static MemorySegment filled(Arena arena, int d, float value) {
        MemorySegment s = arena.allocate(4L * d, 64);
        for (int i = 0; i < d; i++) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT, i, value);
        }
        return s;
    }
}
