package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Supplier;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What a call with threads promises whatever the executor and whatever arena its tensors come from: the caller
 * takes tasks itself and waits only for helpers that started one, so no executor can deadlock a call; and tensors a
 * helper cannot read (a confined arena's) are refused up front, for every shape, never half way through.
 *
 * <p>Shapes: (3, 7) runs one task; (300, 512) runs query groups in parallel; (1, 20000) runs shards of one query in
 * parallel (m > {@link dev.qkv.algorithm.Pooling#SHARD}). Those are the shapes where helpers start.
 */
class ThreadsContractTest {

    private static final Duration LIMIT = Duration.ofSeconds(60);

    /** Standard normal floats, row after row from {@code new Random(seed)}; also the inputs of OutputPathsTest. */
    static Tensor random(Arena arena, int rows, int cols, long seed) {
        Random r = new Random(seed);
        float[] x = new float[rows * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return Tensor.of(arena, rows, cols, x);
    }

    private static float[][] pool(Attention attention, Arena arena, int n, int m) {
        Tensor q = random(arena, n, 16, 1);
        Tensor k = random(arena, m, 16, 2);
        Tensor v = random(arena, m, 8, 3);
        try (Arena out = Arena.ofConfined()) {
            return attention.pool(out, q, k, v).toArray();
        }
    }

    private static float[][] serial(String kernels, int n, int m) {
        try (Arena arena = Arena.ofConfined()) {
            return pool(Attention.builder().kernels(kernels).build(), arena, n, m);
        }
    }

    /**
     * The threaded call gives bitwise the single-threaded output. The vector kernels' bits also depend on the JIT
     * until C2 has compiled them (see {@link Attention}), so the single-threaded output is taken before and after,
     * and the comparison taken again while those two differ; the scalar kernels' hold still from the first call.
     * A helper thread can also meet code the single thread has not compiled yet (a shard's tail) and run it once in
     * the Java fallback, so a difference must be seen in 3 attempts to fail, as in the properties' {@code sameBits}
     * (a race between the threads, such as a shared scratch block, differs in every attempt).
     */
    private static void assertSameAsSerial(String kernels, int n, int m, Supplier<float[][]> threaded) {
        int differing = 0;
        for (int attempt = 1; attempt <= 10; attempt++) {
            float[][] before = serial(kernels, n, m);
            float[][] out = threaded.get();
            if (Arrays.deepEquals(before, serial(kernels, n, m))) {
                if (Arrays.deepEquals(before, out) || ++differing == 3) {
                    assertArrayEquals(before, out);
                    return;
                }
            }
        }
        throw new AssertionError("in 10 attempts the threaded output differed from a steady single-threaded one "
                + differing + " times, and the single-threaded output changed bits in the others");
    }

    // ---- executors: none can deadlock a call

    /** A single-thread executor called from its own thread: the helper can only start once the call has returned. */
    @ParameterizedTest
    @CsvSource({"scalar, 300, 512", "scalar, 1, 20000", "vector, 300, 512", "vector, 1, 20000"})
    void aCallFromTheExecutorsOwnThreadFinishes(String kernels, int n, int m) throws Exception {
        TestKernels.assumeAvailable(kernels);
        ExecutorService single = Executors.newSingleThreadExecutor();
        try {
            Attention attention = Attention.builder().kernels(kernels).threads(2).executor(single).build();
            assertSameAsSerial(kernels, n, m, () -> assertTimeoutPreemptively(LIMIT, () -> single.submit(() -> {
                try (Arena arena = Arena.ofShared()) {
                    return pool(attention, arena, n, m);
                }
            }).get()));
        } finally {
            single.shutdownNow();
        }
    }

    /** Every thread of the executor is busy until the call returns: the caller does all the work itself. */
    @ParameterizedTest
    @CsvSource({"scalar, 300, 512", "scalar, 1, 20000", "vector, 300, 512", "vector, 1, 20000"})
    void aCallOnASaturatedExecutorFinishes(String kernels, int n, int m) {
        TestKernels.assumeAvailable(kernels);
        ExecutorService busy = Executors.newFixedThreadPool(2);
        CountDownLatch release = new CountDownLatch(1);
        try {
            for (int t = 0; t < 2; t++) {
                busy.execute(() -> {
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
            }
            Attention attention = Attention.builder().kernels(kernels).threads(4).executor(busy).build();
            assertSameAsSerial(kernels, n, m, () -> assertTimeoutPreemptively(LIMIT, () -> {
                try (Arena arena = Arena.ofShared()) {
                    return pool(attention, arena, n, m);
                }
            }));
        } finally {
            release.countDown();
            busy.shutdownNow();
        }
    }

    /** An executor that refuses every task (shut down, or a full bounded queue): the caller does all the work. */
    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void aCallOnAnExecutorThatRejectsFinishes(String kernels) {
        TestKernels.assumeAvailable(kernels);
        Attention attention = Attention.builder().kernels(kernels).threads(3).executor(r -> {
            throw new RejectedExecutionException("full");
        }).build();
        assertSameAsSerial(kernels, 300, 512, () -> assertTimeoutPreemptively(LIMIT, () -> {
            try (Arena arena = Arena.ofShared()) {
                return pool(attention, arena, 300, 512);
            }
        }));
    }

    // ---- arenas: readable by every thread, or refused for every shape

    private static Supplier<Arena> arena(String kind) {
        return switch (kind) {
            case "shared" -> Arena::ofShared;
            case "global" -> Arena::global;
            case "auto" -> Arena::ofAuto;
            case "confined" -> Arena::ofConfined;
            default -> throw new IllegalArgumentException(kind);
        };
    }

    /** Shared, global and automatic arenas can be read by the helpers: the output is the single-threaded one. */
    @ParameterizedTest
    @CsvSource({"scalar, shared, 3, 7", "scalar, shared, 300, 512", "scalar, shared, 1, 20000",
            "scalar, global, 3, 7", "scalar, global, 300, 512", "scalar, global, 1, 20000",
            "scalar, auto, 3, 7", "scalar, auto, 300, 512", "scalar, auto, 1, 20000",
            "vector, shared, 3, 7", "vector, shared, 300, 512", "vector, shared, 1, 20000",
            "vector, global, 3, 7", "vector, global, 300, 512", "vector, global, 1, 20000",
            "vector, auto, 3, 7", "vector, auto, 300, 512", "vector, auto, 1, 20000"})
    void threadsReadTensorsOfSharedGlobalAndAutomaticArenas(String kernels, String kind, int n, int m) {
        TestKernels.assumeAvailable(kernels);
        Attention attention = Attention.builder().kernels(kernels).threads(2).build();
        assertSameAsSerial(kernels, n, m, () -> {
            Arena arena = arena(kind).get();
            float[][] out = pool(attention, arena, n, m);
            if (kind.equals("shared")) {
                arena.close();
            }
            return out;
        });
    }

    /**
     * A confined arena's tensors cannot be read by another thread at all, so a call that may use helpers refuses
     * them before any work, at every shape: the answer depends on the inputs, never on whether helpers happen to
     * start. The message names the tensor and the arenas that work.
     */
    @ParameterizedTest
    @CsvSource({"scalar, 3, 7", "scalar, 300, 512", "scalar, 1, 20000",
            "vector, 3, 7", "vector, 300, 512", "vector, 1, 20000"})
    void threadsRefuseTensorsOfAConfinedArenaAtEveryShape(String kernels, int n, int m) {
        TestKernels.assumeAvailable(kernels);
        Attention attention = Attention.builder().kernels(kernels).threads(2).build();
        try (Arena confined = Arena.ofConfined(); Arena shared = Arena.ofShared()) {
            Tensor q = random(shared, n, 16, 1);
            Tensor k = random(shared, m, 16, 2);
            Tensor v = random(shared, m, 8, 3);
            Tensor kc = random(confined, m, 16, 2);
            Tensor vc = random(confined, m, 8, 3);
            Tensor qc = random(confined, n, 16, 1);
            assertRefused("keys", () -> attention.pool(shared, q, kc, v));
            assertRefused("values", () -> attention.pool(shared, q, k, vc));
            assertRefused("queries", () -> attention.pool(shared, qc, k, v));
            assertRefused("keys", () -> attention.partial(q, kc, v, Mask.none()));
            assertRefused("keys", () -> attention.weights(shared, q, kc));
            // one thread still reads a confined arena from its owner thread
            assertDoesNotThrow(() -> Attention.builder().kernels(kernels).build().pool(shared, qc, kc, vc));
        }
    }

    private static void assertRefused(String tensor, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        String message = e.getMessage();
        assertTrue(message.startsWith(tensor + " "), message);
        assertTrue(message.contains("Arena.ofShared()") && message.contains("Arena.global()")
                && message.contains("Arena.ofAuto()"), message);
    }
}
