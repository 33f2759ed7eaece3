package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link KeyValueStore}: pooling from it gives the bits of pooling the same keys and values as tensors, at sizes
 * within one page, at a page's edge and over several pages, one query (the row path, a KV cache) and many (tiles
 * with the vector kernels), one and two threads; appends never move what is there; appends and pooling may run on
 * different threads at once; bad input is refused naming what is wrong.
 */
class KeyValueStoreTest {

    private static final int D = 24;
    private static final int DV = 20;

    static Stream<Arguments> cases() {
        List<Arguments> all = new ArrayList<>();
        for (String kernel : TestKernels.names()) {
            for (ElementType type : ElementType.values()) {
                for (int m : new int[] {0, 1, 5, KeyValueStore.PAGE, KeyValueStore.PAGE + 3, 2 * KeyValueStore.PAGE + 100}) {
                    for (int n : new int[] {1, 5, 40}) { // 5: rows by the cost model, 40: tiles
                        all.add(Arguments.of(kernel, type, m, n));
                    }
                }
            }
        }
        return all.stream();
    }

    @ParameterizedTest
    @MethodSource("cases")
    void poolsAsTheSameKeysAndValuesAsTensors(String kernel, ElementType type, int m, int n) {
        SplittableRandom random = new SplittableRandom(m * 31L + n);
        try (Arena arena = Arena.ofShared()) {
            Tensor keys = random(arena, random, m, D, 1f).convertTo(arena, type);
            Tensor values = random(arena, random, m, DV, 1f).convertTo(arena, type);
            Tensor queries = random(arena, random, n, D, 2f);
            KeyValueStore store = KeyValueStore.create(arena, D, DV, type);
            int bulk = m / 3;
            store.append(keys.rows(0, bulk), values.rows(0, bulk));
            for (int i = bulk; i < m; i++) {
                store.append(keys.rowToArray(i), values.rowToArray(i)); // already rounded: stored as they are
            }
            assertEquals(m, store.size());
            for (int threads : new int[] {1, 2}) {
                Attention attention = Attention.builder().kernels(kernel).threads(threads).build();
                sameBits(() -> attention.pool(arena, queries, keys, values, Mask.none()).toArray(),
                        () -> attention.pool(arena, queries, store).toArray(), kernel + ", " + type + ", m = " + m
                                + ", n = " + n + ", threads " + threads);
                sameBits(() -> logSumExps(attention.partial(queries, keys, values, Mask.none()), n),
                        () -> logSumExps(attention.partial(queries, store), n), "log-sum-exp of the partials, "
                                + kernel + ", " + type + ", m = " + m + ", n = " + n + ", threads " + threads);
            }
        }
    }

    static Stream<Arguments> kernelsAndTypes() {
        List<Arguments> all = new ArrayList<>();
        for (String kernel : TestKernels.names()) {
            for (ElementType type : ElementType.values()) {
                all.add(Arguments.of(kernel, type));
            }
        }
        return all.stream();
    }

    /**
     * Many queries take the tiles (with the vector kernels), which keep each page packed between calls and extend it
     * by the rows appended since ({@code PackedPages}): appending 1, 7, 130 and 1000 rows at a time, over a page's
     * edge, each call still gives the bits of the same keys and values as tensors.
     */
    @ParameterizedTest
    @MethodSource("kernelsAndTypes")
    void poolsAsTensorsWhileTheStoreGrows(String kernel, ElementType type) {
        SplittableRandom random = new SplittableRandom(7);
        int total = KeyValueStore.PAGE + 700;
        int n = 40;
        try (Arena arena = Arena.ofShared()) {
            Tensor keys = random(arena, random, total, D, 1f).convertTo(arena, type);
            Tensor values = random(arena, random, total, DV, 1f).convertTo(arena, type);
            Tensor queries = random(arena, random, n, D, 2f);
            KeyValueStore store = KeyValueStore.create(arena, D, DV, type);
            Attention attention = Attention.builder().kernels(kernel).threads(2).build();
            int[] steps = {1, 7, 130, 1000};
            for (int m = 0, i = 0; m < total; i++) {
                int to = Math.min(total, m + steps[i % steps.length]);
                store.append(keys.rows(m, to), values.rows(m, to));
                m = to;
                int seen = m;
                sameBits(() -> attention.pool(arena, queries, keys.rows(0, seen), values.rows(0, seen), Mask.none())
                        .toArray(), () -> attention.pool(arena, queries, store).toArray(), kernel + ", " + type
                                + ", m = " + seen);
            }
        }
    }

    @Test
    void appendingNeverMovesThePagesThatAreThere() {
        try (Arena arena = Arena.ofShared()) {
            KeyValueStore store = KeyValueStore.create(arena, 4, 2, ElementType.F16);
            store.append(new float[] {1, 2, 3, 4}, new float[] {5, 6});
            KeyValueStore.Snapshot before = store.snapshot();
            for (int i = 1; i < 3 * KeyValueStore.PAGE; i++) {
                store.append(new float[] {i, 0, 0, 0}, new float[] {0, i});
            }
            KeyValueStore.Snapshot after = store.snapshot();
            assertEquals(3, after.keys().length);
            assertSame(before.keys()[0], after.keys()[0]);
            assertEquals(before.keys()[0].segment().address(), after.keys()[0].segment().address());
            assertEquals(1f, after.keys()[0].get(0, 0));
            assertEquals(ElementType.f16ToFloat(ElementType.floatToF16(8191f)), after.keys()[0].get(8191, 0));
        }
    }

    /**
     * One thread appends while another pools, one query (rows) and 40 (tiles): every pooling sees a whole prefix (its
     * output is the average of the values of the keys it saw, all equal, so a torn row would show) and none throws.
     */
    @Test
    void poolingWhileAnotherThreadAppendsSeesWholeRows() throws InterruptedException {
        try (Arena arena = Arena.ofShared()) {
            KeyValueStore store = KeyValueStore.create(arena, 8, 8, ElementType.F32);
            int total = 2 * KeyValueStore.PAGE + 10;
            float[] key = new float[8];
            float[] value = new float[8];
            java.util.Arrays.fill(value, 3f);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread writer = Thread.ofPlatform().start(() -> {
                for (int i = 0; i < total; i++) {
                    store.append(key, value);
                }
            });
            Attention attention = Attention.builder().threads(2).build();
            Tensor query = Tensor.allocate(arena, 8);
            Tensor queries = Tensor.allocate(arena, 40, 8); // many: the tiles, packing the pages as they grow
            while (writer.isAlive()) {
                for (Tensor q : new Tensor[] {query, queries}) {
                    float[] out = attention.pool(arena, q, store).toFlatArray();
                    for (float x : out) {
                        if (x != 3f && x != 0f) {
                            failure.set(new AssertionError("pooled " + x + " from identical rows of 3"));
                        }
                    }
                }
            }
            writer.join();
            assertEquals(null, failure.get());
            assertEquals(total, store.size());
            assertArrayEquals(value, attention.pool(arena, query, store).toFlatArray());
        }
    }

    @Test
    void concurrentAppendsKeepEachKeyWithItsValue() throws InterruptedException {
        try (Arena arena = Arena.ofShared()) {
            KeyValueStore store = KeyValueStore.create(arena, 1, 1, ElementType.F32);
            Thread[] writers = new Thread[2];
            for (int w = 0; w < 2; w++) {
                int offset = w * 100_000 + 1; // from 1: −0 and 0 compare unequal
                writers[w] = Thread.ofPlatform().start(() -> {
                    for (int i = 0; i < 10_000; i++) {
                        store.append(new float[] {offset + i}, new float[] {-(offset + i)});
                    }
                });
            }
            for (Thread t : writers) {
                t.join();
            }
            KeyValueStore.Snapshot s = store.snapshot();
            assertEquals(20_000, s.size());
            for (int i = 0; i < s.size(); i++) {
                Tensor k = s.keys()[i / KeyValueStore.PAGE];
                Tensor v = s.values()[i / KeyValueStore.PAGE];
                assertEquals(-k.get(i % KeyValueStore.PAGE, 0), v.get(i % KeyValueStore.PAGE, 0), "row " + i);
            }
        }
    }

    @Test
    void badInputIsRefusedNamingIt() {
        Arena confined = Arena.ofConfined();
        KeyValueStore store = KeyValueStore.create(confined, 4, 2, ElementType.F16);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> store.append(new float[3], new float[2]));
        assertTrue(e.getMessage().contains("length 3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> store.append(new float[] {0, 70000f, 0, 0},
                new float[2]));
        assertTrue(e.getMessage().contains("70000") && e.getMessage().contains("f16"), e.getMessage());
        assertEquals(0, store.size());
        store.append(new float[4], new float[2]);
        e = assertThrows(IllegalArgumentException.class,
                () -> Attention.builder().threads(2).build().pool(confined, Tensor.allocate(confined, 4), store));
        assertTrue(e.getMessage().contains("confined"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Attention.scaledDot().pool(confined, Tensor.allocate(confined, 5), store));
        assertTrue(e.getMessage().contains("dimension d"), e.getMessage());
        confined.close();
        assertThrows(IllegalStateException.class, () -> store.append(new float[4], new float[2]));
        assertThrows(IllegalStateException.class,
                () -> Attention.scaledDot().partial(Tensor.allocate(Arena.ofAuto(), 4), store));
    }

    /** The partial's log-sum-exps. */
    private static double[] logSumExps(Partial partial, int n) {
        double[] lse = new double[n];
        for (int i = 0; i < n; i++) {
            lse[i] = partial.logSumExp(i);
        }
        return lse;
    }

    private static Tensor random(Arena arena, SplittableRandom random, int rows, int cols, float scale) {
        Tensor t = Tensor.allocate(arena, rows, cols);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t.set(i, j, scale * (float) random.nextGaussian());
            }
        }
        return t;
    }

    /**
     * The vector kernels' lane sums may change bits while C2 compiles them (see PropertyChecks.sameBits), and the
     * store's path reaches them from other call sites, compiled at other times: a difference counts only when it
     * persists through 10 attempts in which the reference held still.
     */
    private static void sameBits(Supplier<?> reference, Supplier<?> other, String what) {
        for (int attempt = 0; attempt < 10; attempt++) {
            Object before = reference.get();
            Object result = other.get();
            Object after = reference.get();
            boolean same = java.util.Objects.deepEquals(before, result);
            if (java.util.Objects.deepEquals(before, after) && (same || attempt == 9)) {
                assertTrue(same, what + ": " + java.util.Arrays.deepToString(new Object[] {result}) + ", not "
                        + java.util.Arrays.deepToString(new Object[] {before}) + " (in each of 10 attempts)");
                return;
            }
        }
        throw new AssertionError(what + ": the reference never held still");
    }
}
