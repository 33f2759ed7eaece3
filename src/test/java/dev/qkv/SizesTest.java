package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Sizes at the edge of int: index arithmetic that passes 2³¹ is done in long, and a request for more memory than
 * there is is refused before any work, naming the size in GB. Zero-width tensors (d = dv = 0) give shapes of 2³¹
 * rows that take no memory, so the counting itself is what is tested.
 */
class SizesTest {

    /** The most keys a tensor can have: the last shard of 8192 ends at 2³¹ − 1, where {@code start + 8192} overflows. */
    private static final int M = Integer.MAX_VALUE;

    /**
     * Every score is 0 (d = 0), so each of the M keys has weight 1/M and the log-sum-exp is ln M ≈ 21.49. The sum of
     * ones is exact in float until it passes 2²⁴ within a shard, which it never does (a shard has 8192 keys), and
     * shards add multiples of 8192, exact below 2³⁷; only the last addition rounds (to 2³¹), changing the log by
     * under 10⁻⁹. The log rounds to float within half an ulp at 21.5 (9.5·10⁻⁷): tolerance 2·10⁻⁶.
     *
     * <p>Paths: one query (shards in parallel) and four queries (rows in parallel). Measured here: the scalar kernels
     * take 40 s per query over 2³¹ keys, so they run one query only; the tiles (dot scoring, many queries) take over
     * three minutes to pack 2³¹ keys and are not run: their shard count is {@link dev.qkv.kernel.Pooling#shards},
     * which this test checks through the other paths.
     */
    @ParameterizedTest
    @CsvSource({"scalar, gaussian, 1", "vector, gaussian, 1", "vector, gaussian, 4"})
    void poolingOverTwoToTheThirtyOneKeysTerminates(String kernels, String scoring, int n) {
        TestKernels.assumeAvailable(kernels);
        Attention attention = Attention.builder().kernels(kernels)
                .scoring(scoring.equals("dot") ? Scoring.dot() : Scoring.gaussian(1)).build();
        try (Arena arena = Arena.ofShared()) {
            Tensor q = Tensor.allocate(arena, n, 0);
            Tensor k = Tensor.allocate(arena, M, 0);
            Tensor v = Tensor.allocate(arena, M, 0);
            Tensor out = Tensor.allocate(arena, n, 0);
            Tensor lse = Tensor.allocate(arena, n);
            assertTimeoutPreemptively(Duration.ofMinutes(3), () -> attention.pool(q, k, v, Mask.none(), out, lse));
            for (int i = 0; i < n; i++) {
                assertEquals(Math.log(M), lse.get(0, i), 2e-6, "log-sum-exp of query " + i);
            }
        }
    }

    /** 2²⁰ × 2²⁰ weights are 4398 GB: refused before the arena is asked, naming the size. */
    @Test
    void weightsLargerThanMemoryAreRefusedNamingTheSize() {
        Attention attention = Attention.builder().build();
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.allocate(arena, 1 << 20, 0);
            Tensor k = Tensor.allocate(arena, 1 << 20, 0);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> attention.weights(arena, q, k));
            assertTrue(e.getMessage().startsWith("weights (1048576, 1048576) need 4398.0 GB"), e.getMessage());
        }
    }

    /**
     * A row of 2³¹ − 1 scores is longer than any Java array: refused before any work. The output tensor is a view of
     * 8.6 GB at address 0 that is never touched (a call that got as far as writing it would crash the test).
     */
    @Test
    void aRowOfScoresLongerThanAJavaArrayIsRefused() {
        Attention attention = Attention.builder().build();
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.allocate(arena, 1, 0);
            Tensor k = Tensor.allocate(arena, M, 0);
            Tensor out = Tensor.wrap(MemorySegment.NULL.reinterpret(4L * M), 2, 1, M, M);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> attention.weights(q, k, Mask.none(), out));
            assertTrue(e.getMessage().startsWith("a row of 2147483647 scores need 8.6 GB in one Java array"),
                    e.getMessage());
        }
    }

    /** 2²⁰ queries × 4096 values is 2³² accumulators, which as an int product is 0: refused, naming 17.2 GB. */
    @Test
    void aPartialStateLargerThanAJavaArrayIsRefused() {
        Attention attention = Attention.builder().build();
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.allocate(arena, 1 << 20, 0);
            Tensor k = Tensor.allocate(arena, 1, 0);
            Tensor v = Tensor.allocate(arena, 1, 4096);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> attention.partial(q, k, v, Mask.none()));
            assertTrue(e.getMessage().startsWith("the partial state of 1048576 queries × 4096 values need 17.2 GB"),
                    e.getMessage());
        }
    }
}
