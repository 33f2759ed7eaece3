package dev.qkv.algorithm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.Float64Reference;
import dev.qkv.Scoring;
import dev.qkv.kernel.KernelProvider;
import dev.qkv.kernel.Kernels;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The many-query tiles ({@link TilePooling} over the tile micro-kernels of both kernels), called directly, against the
 * float64 reference of every query row: output within {@link Float64Reference#outputBound}, log-sum-exp within
 * {@link Float64Reference#logSumExpBound}, for the passes the tiles make (blocks of {@link Kernels#TILE_BLOCK} keys
 * within shards of {@link Pooling#SHARD}, merged in order). Shapes cross every size the tiles cut by: micro tiles of
 * {@link Kernels#tileRows()} rows (8 with 512-bit vectors, 4 with narrower ones and the scalar kernels, so the suite's
 * runs at the preferred width and at 128 bits check both shapes), 64-key blocks, 96-row groups, 8192-key shards, and
 * dv around the micro tile's width of two vectors; each
 * row has its own end, so a tile mixes rows that stop in different blocks.
 */
class TilePoolingProperties {

    /**
     * The reference counts blocks of {@link Float64Reference#FINEST_BLOCK} keys, within shards it cuts where the
     * library does: its bounds cover a path only if that path's blocks are no smaller, and start afresh at each shard.
     */
    @Example
    void theReferenceCountsTheBlocksOfEveryPath() {
        assertTrue(Float64Reference.FINEST_BLOCK <= Kernels.TILE_BLOCK
                && Float64Reference.FINEST_BLOCK <= RowPooling.BLOCK);
        assertEquals(0, Pooling.SHARD % Kernels.TILE_BLOCK);
        assertEquals(0, Pooling.SHARD % RowPooling.BLOCK);
    }

    /** A group holds whole micro tiles, whichever kernels run. */
    @Example
    void groupsHoldWholeTiles() {
        assertEquals(0, TilePooling.GROUP % KernelProvider.named("scalar").tileRows());
        if (KernelProvider.vectorModulePresent()) {
            assertEquals(0, TilePooling.GROUP % KernelProvider.named("vector").tileRows());
        }
    }

    @Provide
    Arbitrary<Shape> shapes() {
        Arbitrary<Integer> n = Arbitraries.oneOf(Arbitraries.of(1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 95, 96, 97),
                Arbitraries.integers().between(1, 200));
        Arbitrary<Integer> m = Arbitraries.oneOf(Arbitraries.of(0, 1, 63, 64, 65, 127, 128, 129, 255, 256, 257),
                Arbitraries.integers().between(0, 700));
        return shapes(n, m);
    }

    @Provide
    Arbitrary<Shape> severalShards() {
        Arbitrary<Integer> n = Arbitraries.oneOf(Arbitraries.of(4, 96, 97), Arbitraries.integers().between(1, 130));
        Arbitrary<Integer> m = Arbitraries.oneOf(Arbitraries.of(Pooling.SHARD, Pooling.SHARD + 1),
                Arbitraries.integers().between(Pooling.SHARD - 64, 2 * Pooling.SHARD + 100));
        return shapes(n, m);
    }

    /**
     * d and dv on either side of one and two micro-tile widths (16 and 32 floats on 256-bit vectors, the scalar
     * kernels' 16) and of 64; the scalar and the vector kernels.
     */
    private static Arbitrary<Shape> shapes(Arbitrary<Integer> n, Arbitrary<Integer> m) {
        Arbitrary<Integer> dims = Arbitraries.oneOf(Arbitraries.of(1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65),
                Arbitraries.integers().between(1, 70));
        Arbitrary<String> kernels = KernelProvider.vectorModulePresent() ? Arbitraries.of("scalar", "vector")
                : Arbitraries.of("scalar");
        return Combinators.combine(n, m, dims, dims, kernels, Arbitraries.longs()).as(Shape::new);
    }

    @Property(tries = 60)
    void tilesMatchAFloat64Reference(@ForAll("shapes") Shape shape) {
        checkAgainstTheReference(shape);
    }

    @Property(tries = 4, edgeCases = EdgeCasesMode.NONE)
    void tilesOverSeveralShardsMatchAFloat64Reference(@ForAll("severalShards") Shape shape) {
        checkAgainstTheReference(shape);
    }

    /**
     * Entries uniform in [−2, 2], each row's end all m keys, none, or any between, and the factor 1/√d or any in
     * [−1, 2] (as a float, so the reference's f is exactly the kernel's).
     */
    private static void checkAgainstTheReference(Shape shape) {
        SplittableRandom random = new SplittableRandom(shape.seed());
        int n = shape.n();
        int m = shape.m();
        float[][] q = matrix(random, n, shape.d());
        float[][] k = matrix(random, m, shape.d());
        float[][] v = matrix(random, m, shape.dv());
        int[] ends = new int[n];
        for (int i = 0; i < n; i++) {
            int kind = random.nextInt(4);
            ends[i] = kind == 0 ? m : kind == 1 ? 0 : random.nextInt(m + 1);
        }
        float factor = random.nextBoolean() ? (float) (1 / Math.sqrt(shape.d())) : (float) (3 * random.nextDouble() - 1);
        Scoring scoring = Scoring.dot().withScale(factor);
        try (Arena arena = Arena.ofConfined()) {
            Rows rows = new Rows(n, shape.dv());
            TilePooling.pool(KernelProvider.named(shape.kernels()), factor, tensor(arena, q, shape.d()),
                    tensor(arena, k, shape.d()), tensor(arena, v, shape.dv()), Visibility.of(ends, null), rows,
                    Workers.SERIAL);
            Tensor out = Tensor.allocate(arena, n, shape.dv());
            float[] finished = new float[shape.dv()];
            for (int i = 0; i < n; i++) {
                rows.finish(i, finished);
                out.asMatrix().copyRowFrom(i, finished);
                Float64Reference ref = Float64Reference.of(scoring, q[i], k, v, shape.dv(), ends[i]);
                Float64Reference.Passes passes = Float64Reference.Passes.prefix(ends[i]);
                double[] bound = ref.outputBound(passes);
                for (int j = 0; j < shape.dv(); j++) {
                    double error = Math.abs(out.get(i, j) - ref.output[j]);
                    int row = i;
                    int column = j;
                    assertTrue(error <= bound[j], () -> "row " + row + " of " + shape + ", ends " + ends[row]
                            + ", column " + column + ": " + out.get(row, column) + ", reference " + ref.output[column]
                            + ", off by " + error + " > " + bound[column]);
                }
                float lse = (float) rows.logSumExp(i);
                if (ends[i] == 0) {
                    assertEquals(Float.NEGATIVE_INFINITY, lse, "log-sum-exp of row " + i + ", which sees no key");
                } else {
                    double error = Math.abs(lse - ref.logSumExp);
                    double lseBound = ref.logSumExpBound(passes);
                    int row = i;
                    assertTrue(error <= lseBound, () -> "log-sum-exp of row " + row + " of " + shape + ": " + lse
                            + ", reference " + ref.logSumExp + ", off by " + error + " > " + lseBound);
                }
            }
        }
    }

    private static float[][] matrix(SplittableRandom random, int rows, int cols) {
        float[][] x = new float[rows][cols];
        for (float[] row : x) {
            for (int j = 0; j < cols; j++) {
                row[j] = (float) (4 * random.nextDouble() - 2);
            }
        }
        return x;
    }

    private static Tensor tensor(Arena arena, float[][] rows, int cols) {
        Tensor t = Tensor.allocate(arena, rows.length, cols);
        t.copyFrom(rows);
        return t;
    }

    /** n queries of d over m keys with values of dv, entries drawn from {@code seed}, pooled by {@code kernels}. */
    record Shape(int n, int m, int d, int dv, String kernels, long seed) {}
}
