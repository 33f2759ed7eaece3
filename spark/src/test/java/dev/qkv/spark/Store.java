package dev.qkv.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.Attention;
import dev.qkv.Float64Reference;
import dev.qkv.Float64Reference.Passes;
import dev.qkv.Mask;
import dev.qkv.Scoring;
import dev.qkv.io.Npy;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random queries, keys and values for the tests, the single-machine result over them, and the bound that relates
 * it to a distributed one.
 *
 * <p>The bound: both results are within the library's error model of the exact pooling of these float inputs
 * ({@link Float64Reference}, derived in its comment): single-machine qkv pooled query i's visible keys in
 * {@code Passes.of(sees, 0, m)} (blocks of online softmax within the library's shards of keys), the distributed job
 * in the sum of that over every piece it pooled apart (each partition's chunks of {@link Tasks#CHUNK} rows, or each
 * shard), all merged. So |distributed − single| ≤ kernelOutputBound(distributed passes) + kernelOutputBound(single
 * passes) per column, by the triangle inequality through the exact result; the same for the log-sum-exp. A
 * wrong offset, a dropped or doubled partition moves the output by a weight's share of a value, orders of magnitude
 * beyond it.
 */
record Store(float[][] queries, float[][] keys, float[][] values) {

    static Store random(long seed, int n, int d, int dv, int m) {
        SplittableRandom r = new SplittableRandom(seed);
        return new Store(matrix(r, n, d), matrix(r, m, d), matrix(r, m, dv));
    }

    int m() {
        return keys.length;
    }

    int dv() {
        return values[0].length;
    }

    /** Keys and values [from, to) as .npy files keys-NNNN.npy / values-NNNN.npy in {@code dir}. */
    void writeShard(Path dir, int number, int from, int to) throws IOException {
        String name = String.format("%04d.npy", number);
        try (Arena arena = Arena.ofConfined()) {
            Npy.write(dir.resolve("keys-" + name), rows(arena, keys, from, to, keys.length == 0 ? 0 : keys[0].length));
            Npy.write(dir.resolve("values-" + name), rows(arena, values, from, to, dv()));
        }
    }

    /** Writes the shards of these sizes, in order, into {@code dir}. */
    List<Shard> writeShards(Path dir, int... sizes) throws IOException {
        int from = 0;
        for (int s = 0; s < sizes.length; s++) {
            writeShard(dir, s, from, from + sizes[s]);
            from += sizes[s];
        }
        assertEquals(m(), from, "the shard sizes must add up to m");
        return Shard.inDirectory(dir);
    }

    /** Single-machine qkv over every key, in one call. */
    Pooled single(Attention attention, int[] validLengths) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.of(arena, queries);
            Tensor out = Tensor.allocate(arena, queries.length, dv());
            Tensor lse = Tensor.allocate(arena, queries.length);
            attention.pool(q, Tensor.of(arena, keys), Tensor.of(arena, values),
                    validLengths == null ? Mask.none() : Mask.validLengths(validLengths), out, lse);
            return new Pooled(out.toArray(), lse.toFlatArray());
        }
    }

    /**
     * Checks {@code distributed}, pooled in pieces of these sizes (partitions or shards, in the global order), against
     * {@code single} within the bound of the class comment.
     */
    void assertWithinBound(Scoring scoring, int[] validLengths, int[] pieceSizes, Pooled distributed, Pooled single) {
        assertWithinBound(scoring, validLengths, pieceSizes, 0, distributed, single);
    }

    /**
     * As above, for pieces of sizes unknown but at most {@code cuts} + 1 of them, each at most {@link Tasks#CHUNK}
     * keys: each cut adds at most one block (a block split in two) and one piece to one call over all keys.
     */
    void assertWithinBound(Scoring scoring, int[] validLengths, int cuts, Pooled distributed, Pooled single) {
        assertWithinBound(scoring, validLengths, new int[] {m()}, cuts, distributed, single);
    }

    private void assertWithinBound(Scoring scoring, int[] validLengths, int[] pieceSizes, int cuts, Pooled distributed,
            Pooled single) {
        int m = m();
        for (int i = 0; i < queries.length; i++) {
            int visible = validLengths == null ? m : Math.min(validLengths[i], m);
            boolean[] sees = new boolean[m];
            Arrays.fill(sees, 0, visible, true);
            Passes whole = Passes.of(sees, 0, m);
            Passes pieces = new Passes(0, 0);
            int from = 0;
            for (int size : pieceSizes) {
                for (int c = from; c < from + size; c += Tasks.CHUNK) {
                    pieces = pieces.plus(Passes.of(sees, c, Math.min(from + size, c + Tasks.CHUNK)));
                }
                from += size;
            }
            pieces = pieces.plus(new Passes(cuts, cuts));
            Float64Reference ref = Float64Reference.of(scoring, queries[i], keys, values, dv(), visible);
            double[] a = ref.kernelOutputBound(pieces);
            double[] b = ref.kernelOutputBound(whole);
            for (int j = 0; j < dv(); j++) {
                double diff = Math.abs((double) distributed.output()[i][j] - single.output()[i][j]);
                assertTrue(diff <= a[j] + b[j], "query " + i + " column " + j + ": |" + distributed.output()[i][j]
                        + " - " + single.output()[i][j] + "| = " + diff + " > " + (a[j] + b[j]));
            }
            double lseDist = distributed.logSumExp()[i];
            double lseSingle = single.logSumExp()[i];
            if (visible == 0) {
                assertEquals(Float.NEGATIVE_INFINITY, distributed.logSumExp()[i], "query " + i + " sees no key");
            } else {
                double bound = ref.kernelLogSumExpBound(pieces) + ref.kernelLogSumExpBound(whole);
                assertTrue(Math.abs(lseDist - lseSingle) <= bound, "query " + i + " log-sum-exp: |" + lseDist + " - "
                        + lseSingle + "| > " + bound);
            }
        }
    }

    static void assertBitwiseEqual(Pooled expected, Pooled actual) {
        assertEquals(expected.output().length, actual.output().length);
        for (int i = 0; i < expected.output().length; i++) {
            int row = i;
            assertTrue(Arrays.equals(expected.output()[i], actual.output()[i]),
                    () -> "output row " + row + ": " + Arrays.toString(expected.output()[row]) + " vs "
                            + Arrays.toString(actual.output()[row]));
        }
        assertTrue(Arrays.equals(expected.logSumExp(), actual.logSumExp()),
                () -> Arrays.toString(expected.logSumExp()) + " vs " + Arrays.toString(actual.logSumExp()));
    }

    private static Tensor rows(Arena arena, float[][] a, int from, int to, int cols) {
        Tensor t = Tensor.allocate(arena, to - from, cols);
        for (int i = from; i < to; i++) {
            t.copyRowFrom(i - from, a[i]);
        }
        return t;
    }

    private static float[][] matrix(SplittableRandom r, int rows, int cols) {
        float[][] a = new float[rows][cols];
        for (float[] row : a) {
            for (int j = 0; j < cols; j++) {
                row[j] = (float) (2 * r.nextDouble() - 1);
            }
        }
        return a;
    }

    /** The sizes of {@code parts} pieces of m keys cut evenly, as Spark's parallelize cuts. */
    static int[] even(int m, int parts) {
        int[] sizes = new int[parts];
        for (int p = 0; p < parts; p++) {
            sizes[p] = (int) ((long) (p + 1) * m / parts - (long) p * m / parts);
        }
        return sizes;
    }

    static List<Integer> list(int... a) {
        List<Integer> l = new ArrayList<>();
        for (int x : a) {
            l.add(x);
        }
        return l;
    }
}
