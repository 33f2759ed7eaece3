package dev.qkv;

import static dev.qkv.PropertyChecks.sameBits;

import dev.qkv.Problem.MaskKind;
import dev.qkv.kernel.Kernels;
import dev.qkv.algorithm.Pooling;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The thread count decides who computes what, never what is computed: keys are cut into shards of
 * {@link Pooling#SHARD} and queries into groups by the shapes alone, and the shards of a row are merged in key
 * order. So 1, 2 and 8 threads, and threads from a caller's executor, give bitwise the same output and log-sum-exp,
 * on every path: many queries in groups (the tiles, or row by row for other scorings and explicit masks), and few
 * queries over many keys, whose shards run in parallel (flash-decoding).
 */
class ThreadProperties {

    @Provide
    Arbitrary<Kernels> kernels() {
        return Arbitraries.of(TestKernels.all());
    }

    private static final Arbitrary<MaskKind> MASKS = Arbitraries.of(MaskKind.NONE, MaskKind.VALID_LENGTHS,
            MaskKind.CAUSAL, MaskKind.EXPLICIT);

    /** 4 to 300 queries, one to four of the tiles' groups of rows or rows in parallel, over one shard of keys. */
    @Provide
    Arbitrary<Problem> manyQueries() {
        return Problem.problems(Arbitraries.integers().between(4, 300), Arbitraries.integers().between(0, 600),
                Problem.dims(24), Problem.dims(24), MASKS);
    }

    /**
     * 90 to 200 queries, two or three of the tiles' groups of 96 rows, over three shards of keys, the last one
     * short: with more than two pieces the order of merging shows in the bits (two merge the same either way round).
     * Dot scorings and no explicit mask, so that the vector kernels take the tiles; the scalar kernels take the rows
     * in parallel. (The vector kernels' own row path is slow here once all three widths are loaded, and covered by
     * the other two properties.)
     */
    @Provide
    Arbitrary<Problem> manyQueriesOverShards() {
        return Problem.problems(Arbitraries.of(Scoring.dot(), Scoring.scaledDot()),
                Arbitraries.integers().between(90, 200),
                Arbitraries.integers().between(2 * Pooling.SHARD + 1, 2 * Pooling.SHARD + 2000), Problem.dims(16),
                Problem.dims(16), Arbitraries.of(MaskKind.NONE, MaskKind.VALID_LENGTHS, MaskKind.CAUSAL));
    }

    /** 1 to 3 queries over one shard of keys or over three to five, the shards of each query pooled in parallel. */
    @Provide
    Arbitrary<Problem> fewQueries() {
        return Problem.problems(Arbitraries.integers().between(1, 3),
                Arbitraries.oneOf(Arbitraries.integers().between(0, 600),
                        Arbitraries.integers().between(2 * Pooling.SHARD + 1, 5 * Pooling.SHARD)),
                Problem.dims(24), Problem.dims(24), MASKS);
    }

    @Property(tries = 40)
    void threadsChangeNoBitOfManyQueries(@ForAll("kernels") Kernels kernels, @ForAll("manyQueries") Problem p) {
        checkThreadsChangeNoBit(kernels, p);
    }

    @Property(tries = 5, edgeCases = EdgeCasesMode.NONE)
    void threadsChangeNoBitOfManyQueriesOverShards(@ForAll("kernels") Kernels kernels,
            @ForAll("manyQueriesOverShards") Problem p) {
        checkThreadsChangeNoBit(kernels, p);
    }

    @Property(tries = 25, edgeCases = EdgeCasesMode.NONE)
    void threadsChangeNoBitOfFewQueries(@ForAll("kernels") Kernels kernels, @ForAll("fewQueries") Problem p) {
        checkThreadsChangeNoBit(kernels, p);
    }

    /**
     * 1 thread is the reference; 2 and 8 take helpers from the shared pool; 4 take them from an executor that starts
     * each helper after a random pause of up to a millisecond, another legitimate schedule, in which a short last
     * shard can finish before the ones started earlier.
     */
    private static void checkThreadsChangeNoBit(Kernels kernels, Problem p) {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(3)) {
            Executor late = task -> pool.execute(() -> {
                LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(1_000_000));
                task.run();
            });
            Tensor queries = p.queries(arena);
            Tensor keys = p.keys(arena);
            Tensor values = p.values(arena);
            Mask mask = p.mask();
            Supplier<Object[]> one = () -> pool(builder(p, kernels).threads(1), queries, keys, values, mask, arena);
            Supplier<Object[]> two = () -> pool(builder(p, kernels).threads(2), queries, keys, values, mask, arena);
            Supplier<Object[]> eight = () -> pool(builder(p, kernels).threads(8), queries, keys, values, mask, arena);
            Supplier<Object[]> four = () -> pool(builder(p, kernels).threads(4).executor(late), queries, keys, values,
                    mask, arena);
            sameBits(one, List.of(two, eight, four, two, eight, four),
                    "2 (0, 3), 8 (1, 4) and 4 threads from an executor (2, 5) against 1 thread");
        }
    }

    private static Attention.Builder builder(Problem p, Kernels kernels) {
        return Attention.builder().scoring(p.scoring()).kernels(kernels.name());
    }

    /** Output and log-sum-exp. */
    private static Object[] pool(Attention.Builder builder, Tensor queries, Tensor keys, Tensor values, Mask mask,
            Arena arena) {
        Tensor out = Tensor.allocate(arena, queries.rows(), values.cols());
        Tensor lse = Tensor.allocate(arena, queries.rows());
        builder.build().pool(queries, keys, values, mask, out, lse);
        return new Object[] {out.toArray(), lse.toFlatArray()};
    }
}
