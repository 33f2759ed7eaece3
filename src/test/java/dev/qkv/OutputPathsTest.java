package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.algorithm.Pooling;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code pool} into an output tensor writes each query's output as soon as a task has computed it when the tiles take
 * every key in one shard, without the double state ({@code Rows}) the partials keep: it must give bitwise what that
 * state gives ({@link Attention#partial}, then {@link Partial#output}), for every row, with and without helper
 * threads, under masks, for a query that sees no key (zeros, log-sum-exp −∞) and for a query whose float scores
 * overflow (computed again in double). And since outputs are then written while other tasks still read the inputs,
 * an output that is one of the inputs must give what a separate output gives.
 *
 * <p>Shapes: 300 queries over 512 keys is one shard of tiles (the new path); over {@code SHARD + 300} keys it is two
 * (the merge's path), as a check that both agree.
 */
class OutputPathsTest {

    private static final int D = 32;

    /**
     * Gaussian queries (n × D), keys and values (m × D), with query 5 at 1e38 in every element: its float dot
     * products pass 3.4e38 (±∞, then NaN), so its row is computed again in double, at the end, from the inputs.
     */
    private record Inputs(Tensor q, Tensor k, Tensor v) {
        Inputs(Arena arena, int n, int m) {
            this(ThreadsContractTest.random(arena, n, D, 1), ThreadsContractTest.random(arena, m, D, 2),
                    ThreadsContractTest.random(arena, m, D, 3));
            for (int c = 0; c < D; c++) {
                q.set(5, c, 1e38f);
            }
        }
    }

    private static Mask mask(String name, int n) {
        return switch (name) {
            case "none" -> Mask.none();
            case "causal" -> Mask.causal();
            case "lengths" -> {
                int[] lengths = new int[n];
                for (int i = 0; i < n; i++) {
                    lengths[i] = i % 7 == 3 ? 0 : 1 + i * 5 % 400; // some queries see no key
                }
                yield Mask.validLengths(lengths);
            }
            default -> throw new IllegalArgumentException(name);
        };
    }

    @ParameterizedTest(name = "{0} keys, mask {1}, {2} thread(s), {3}")
    @CsvSource({"512, none, 1, vector", "512, none, 2, vector", "512, causal, 2, vector", "512, lengths, 2, vector",
            "8492, none, 2, vector", "512, none, 2, scalar", "512, lengths, 1, scalar"})
    void outputsAreThoseOfTheDoubleState(int m, String maskName, int threads, String kernels) {
        TestKernels.assumeAvailable(kernels);
        int n = 300;
        Attention attention = Attention.builder().kernels(kernels).threads(threads).build();
        try (Arena arena = Arena.ofShared()) {
            Inputs in = new Inputs(arena, n, m);
            Tensor q = in.q();
            Tensor k = in.k();
            Tensor v = in.v();
            Mask mask = mask(maskName, n);
            Tensor out = Tensor.allocate(arena, n, D);
            Tensor logSumExp = Tensor.allocate(arena, n);
            attention.pool(q, k, v, mask, out, logSumExp);
            Partial partial = attention.partial(q, k, v, mask);
            float[][] expected = partial.output(arena).toArray();
            float[][] actual = out.toArray();
            for (int i = 0; i < n; i++) {
                assertArrayEquals(expected[i], actual[i], "query " + i);
                assertEquals((float) partial.logSumExp(i), logSumExp.get(i), "log-sum-exp of query " + i);
            }
            for (float x : actual[5]) {
                assertTrue(Float.isFinite(x), "the overflowing query's output " + Arrays.toString(actual[5]));
            }
            if (maskName.equals("lengths")) {
                assertArrayEquals(new float[D], actual[3], "a query that sees no key");
                assertEquals(Float.NEGATIVE_INFINITY, logSumExp.get(3));
            }
        }
    }

    /**
     * A store of one page: its groups of queries run on the helper threads and write their outputs (where the pages
     * are otherwise one task each): bitwise the store's partial, and the same keys and values as tensors.
     */
    @ParameterizedTest(name = "{0} rows, {1} thread(s)")
    @CsvSource({"512, 1", "512, 2", "8192, 2", "8492, 2"})
    void aStoreOfOnePageGivesItsPartialsOutputs(int m, int threads) {
        TestKernels.assumeAvailable("vector");
        int n = 300;
        Attention attention = Attention.builder().kernels("vector").threads(threads).build();
        try (Arena arena = Arena.ofShared()) {
            Inputs in = new Inputs(arena, n, m);
            Tensor q = in.q();
            Tensor k = in.k();
            Tensor v = in.v();
            KeyValueStore store = KeyValueStore.create(arena, D, D, dev.qkv.tensor.ElementType.F32);
            store.append(k, v);
            Tensor out = Tensor.allocate(arena, n, D);
            attention.pool(q, store, out);
            float[][] fromPartial = attention.partial(q, store).output(arena).toArray();
            float[][] fromTensors = attention.pool(arena, q, k, v).toArray();
            float[][] actual = out.toArray();
            for (int i = 0; i < n; i++) {
                assertArrayEquals(fromPartial[i], actual[i], "query " + i + ", against the partial");
                assertArrayEquals(fromTensors[i], actual[i], "query " + i + ", against the tensors");
            }
        }
    }

    @ParameterizedTest(name = "output is the {0}, {1} keys, {2} thread(s)")
    @CsvSource({"queries, 300, 2", "keys, 300, 2", "values, 300, 2", "queries, 300, 1", "values, 300, 1",
            "keys, " + (Pooling.SHARD + 300) + ", 2"})
    void anOutputThatIsAnInputGivesWhatASeparateOneGives(String which, int m, int threads) {
        TestKernels.assumeAvailable("vector");
        int n = 300;
        Attention attention = Attention.builder().kernels("vector").threads(threads).build();
        try (Arena arena = Arena.ofShared()) {
            Inputs in = new Inputs(arena, n, m);
            Tensor q = in.q();
            Tensor k = in.k();
            Tensor v = in.v();
            float[][] expected = attention.pool(arena, q, k, v).toArray();
            Tensor target = switch (which) {
                case "queries" -> q;
                case "keys" -> k;
                default -> v;
            };
            Tensor out = target.rows(0, n); // its first n rows: all of the queries, the first keys or values
            attention.pool(q, k, v, Mask.none(), out);
            float[][] actual = out.toArray();
            for (int i = 0; i < n; i++) {
                assertArrayEquals(expected[i], actual[i], "query " + i);
            }
        }
    }
}
