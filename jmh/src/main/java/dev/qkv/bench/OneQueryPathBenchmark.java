package dev.qkv.bench;

import dev.qkv.Attention;
import dev.qkv.Mask;
import dev.qkv.algorithm.Pooling;
import dev.qkv.kernel.KernelProvider;
import dev.qkv.kernel.Kernels;
import dev.qkv.kernel.Score;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Where one query's time goes above the kernels: {@code pool} is {@link Attention#pool} of one query (the algorithm
 * layer's shards, visibility step and merge), {@code loop} the same kernel calls in one plain loop over blocks of 256
 * keys, as 2e689bf's {@code VectorKernels.pool} made them (scores, the block maximum, a rescale, exp and sum, P·V),
 * with the scoring kernel the row path takes for this size ({@code streamScores} when K and V pass 16 MB, as they do
 * at the default m). Read as pool ÷ loop in one run; both read K and V once, 2·m·d·4 bytes.
 */
@State(Scope.Thread)
public class OneQueryPathBenchmark extends QkvBenchmark {

    @Param({"1048576"})
    int m;

    @Param({"128"})
    int d;

    private Arena arena;
    private Attention attention;
    private Kernels kernels;
    private Tensor query, keys, values, out;
    private final float[] block = new float[256];
    private float[] acc;
    /** The default scaled-dot scoring, and the query as the one row of a matrix, as the kernels take it. */
    private Score score;
    private Tensor queryRow;
    /** Whether the row path scores these keys one at a time, as read from memory. */
    private boolean fromMemory;

    @Setup
    public void setUp() {
        attention = attention("vector");
        kernels = KernelProvider.named("vector");
        arena = Arena.ofShared();
        query = Inputs.query(arena, d, PoolOneQueryBenchmark.QUERY_SEED);
        keys = Inputs.uniform(arena, m, d, PoolOneQueryBenchmark.KEY_SEED);
        values = Inputs.uniform(arena, m, d, PoolOneQueryBenchmark.VALUE_SEED);
        out = Tensor.allocate(arena, d);
        acc = new float[d];
        score = Score.dot((float) (1 / Math.sqrt(d)));
        queryRow = Tensor.wrap(query.segment(), 2, 1, d, d);
        fromMemory = Pooling.fromMemory(m, d, d);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Tensor pool() {
        attention.pool(query, keys, values, Mask.none(), out);
        return out;
    }

    @Benchmark
    public float loop() {
        float max = Float.NEGATIVE_INFINITY, sum = 0;
        java.util.Arrays.fill(acc, 0f);
        for (int start = 0; start < m; start += 256) {
            int end = Math.min(start + 256, m);
            int count = end - start;
            if (fromMemory) {
                kernels.streamScores(score, queryRow, 0, keys, start, end, block);
            } else {
                kernels.scores(score, queryRow, 0, keys, start, end, block);
            }
            float blockMax = kernels.max(block, 0, count);
            if (blockMax > max) {
                float rescale = (float) Math.exp(max - blockMax);
                kernels.scale(acc, 0, d, rescale);
                sum *= rescale;
                max = blockMax;
            }
            sum += kernels.expAndSum(block, 0, count, max);
            kernels.accumulate(block, values, start, end, acc);
        }
        return acc[0] / sum;
    }
}
