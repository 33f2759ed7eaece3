package dev.qkv.spark;

import dev.qkv.Partial;
import dev.qkv.Scoring;
import dev.qkv.io.Npy;
import dev.qkv.io.NpyHeader;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;

/**
 * Attention pooling of a few queries over a key/value store partitioned across a Spark cluster.
 *
 * <p>The queries are broadcast; every partition (a {@link Dataset}'s) or shard ({@link Shard}, one task each) is
 * pooled by qkv's kernels into a {@link Partial}, which travels to the driver in a compact binary form; there the
 * partials are merged in partition order and finished. So a given partitioning gives bitwise the same answer run
 * after run (with the scalar kernels from the first run; with the vector ones once C2 has compiled them, see
 * {@link dev.qkv.Attention}), and any partitioning the same answer within rounding.
 *
 * <p>The global key order is partition order, then row order (for shards: the order of the list, then row order).
 * Valid lengths index it: query i sees the keys {@code 0 ≤ j < validLengths[i]}, wherever they are. With valid
 * lengths a {@code Dataset} is read twice (once to count each partition's rows), so its partitioning must be the
 * same both times, as a file scan's is; persist any other first.
 *
 * <p>Bad input gets an {@link IllegalArgumentException} naming what was wrong, also when an executor found it (a
 * key of the wrong length, a null row, a malformed .npy file): the driver unwraps Spark's report. Immutable and
 * thread-safe.
 */
public final class SparkAttention {

    private final Scoring scoring;
    private final String kernels;
    private final int threads;
    private final boolean checkFinite;

    private SparkAttention(Builder b) {
        this.scoring = b.scoring;
        this.kernels = b.kernels;
        this.threads = b.threads;
        this.checkFinite = b.checkFinite;
    }

    /** A builder with scaled-dot scoring, the executors' default kernels, one thread per task, no finiteness check. */
    public static Builder builder() {
        return new Builder();
    }

    /** Pools {@code queries} (n rows of d) over every row of {@code store}: float-array columns key (d) and value. */
    public Pooled pool(float[][] queries, Dataset<Row> store) {
        return pool(queries, null, store);
    }

    /**
     * Pools {@code queries} (n rows of d) over the rows of {@code store}, float-array columns {@code key} (d entries)
     * and {@code value} (dv, the same for all; other numeric arrays are cast to float), query i seeing the first
     * {@code validLengths[i]} keys of the global order, or all of them if {@code validLengths} is null.
     *
     * @throws IllegalArgumentException for bad queries or valid lengths, a store without those columns, a null or
     *     ill-sized row, or a store of no rows (whose dv is unknown)
     */
    public Pooled pool(float[][] queries, int[] validLengths, Dataset<Row> store) {
        int d = checkQueries(queries);
        checkValidLengths(validLengths, queries.length);
        Dataset<Row> kv;
        try {
            kv = store.select(functions.col("key").cast("array<float>"), functions.col("value").cast("array<float>"));
        } catch (Exception e) {
            if (e instanceof AnalysisException) {
                throw new IllegalArgumentException("the store must have numeric-array columns key and value, got "
                        + store.schema().simpleString(), e);
            }
            throw e;
        }
        JavaRDD<Row> rows = kv.javaRDD();
        long[] offsets = validLengths == null ? null : offsets(rows);
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(store.sparkSession().sparkContext());
        Broadcast<float[][]> q = jsc.broadcast(queries);
        Tasks.Config config = Tasks.Config.of(scoring, d, kernels, threads, checkFinite);
        int[] lens = validLengths == null ? null : validLengths.clone();
        try {
            List<Tasks.Piece> pieces = unwrapped(() -> rows.mapPartitionsWithIndex(
                    (index, it) -> Tasks.poolRows(config, q.value(), lens, offsets == null ? 0 : offsets[index], index,
                            it),
                    false).collect());
            int dv = -1;
            for (Tasks.Piece p : pieces) {
                if (p.partial() != null) {
                    dv = Partials.fromBytes(p.partial()).valueDim();
                    break;
                }
            }
            if (dv < 0) {
                throw new IllegalArgumentException("the store has no rows, so the values' dimension is unknown");
            }
            return finish(pieces, queries.length, dv);
        } finally {
            q.destroy();
        }
    }

    /** Pools {@code queries} over every key of {@code shards}. */
    public Pooled pool(SparkSession spark, float[][] queries, List<Shard> shards) {
        return pool(spark, queries, null, shards);
    }

    /**
     * Pools {@code queries} (n rows of d) over the keys and values of {@code shards}, one Spark task per shard, each
     * memory-mapping its two .npy files (paths the executors can read); query i sees the first
     * {@code validLengths[i]} keys of the global order (shard order, then row order), or all if it is null. The
     * driver reads the files' headers to check the shapes: keys (mᵢ, d), values (mᵢ, dv), one dv.
     *
     * @throws IllegalArgumentException for bad queries, valid lengths or shapes, no shard, or a malformed file
     * @throws UncheckedIOException if a header cannot be read
     */
    public Pooled pool(SparkSession spark, float[][] queries, int[] validLengths, List<Shard> shards) {
        int d = checkQueries(queries);
        checkValidLengths(validLengths, queries.length);
        if (shards.isEmpty()) {
            throw new IllegalArgumentException("no shards to pool over");
        }
        List<Tasks.ShardTask> tasks = new ArrayList<>();
        long offset = 0;
        int dv = -1;
        for (int i = 0; i < shards.size(); i++) {
            Shard s = shards.get(i);
            int[] k = shape(s.keys());
            int[] v = shape(s.values());
            if (k.length != 2 || k[1] != d) {
                throw new IllegalArgumentException(s.keys() + ": keys must be (m, " + d + ") for queries of d = " + d
                        + ", got " + NpyHeader.shapeString(k));
            }
            if (v.length != 2 || v[0] != k[0] || (dv >= 0 && v[1] != dv)) {
                throw new IllegalArgumentException(s.values() + ": values must be (" + k[0] + ", "
                        + (dv >= 0 ? dv : "dv") + ") beside keys " + NpyHeader.shapeString(k) + ", got "
                        + NpyHeader.shapeString(v));
            }
            dv = v[1];
            tasks.add(new Tasks.ShardTask(i, s, offset));
            offset += k[0];
        }
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Broadcast<float[][]> q = jsc.broadcast(queries);
        Tasks.Config config = Tasks.Config.of(scoring, d, kernels, threads, checkFinite);
        int[] lens = validLengths == null ? null : validLengths.clone();
        try {
            List<Tasks.Piece> pieces = unwrapped(() -> jsc.parallelize(tasks, tasks.size())
                    .map(t -> Tasks.poolShard(config, q.value(), lens, t))
                    .collect());
            return finish(pieces, queries.length, dv);
        } finally {
            q.destroy();
        }
    }

    /** Merges the pieces in partition order and finishes. */
    private static Pooled finish(List<Tasks.Piece> pieces, int n, int dv) {
        List<Tasks.Piece> ordered = new ArrayList<>(pieces);
        ordered.sort(Comparator.comparingInt(Tasks.Piece::index));
        Partial total = Partial.empty(n, dv);
        for (Tasks.Piece p : ordered) {
            if (p.partial() != null) {
                total = total.merge(Partials.fromBytes(p.partial()));
            }
        }
        float[] lse = new float[n];
        try (Arena arena = Arena.ofConfined()) {
            Tensor out = total.output(arena);
            for (int i = 0; i < n; i++) {
                lse[i] = (float) total.logSumExp(i);
            }
            return new Pooled(out.toArray(), lse);
        }
    }

    /** Each partition's first key in the global order: a job that counts the rows. */
    private static long[] offsets(JavaRDD<Row> rows) {
        List<Long> counts = unwrapped(() -> rows.mapPartitions(Tasks::count).collect());
        long[] offsets = new long[counts.size()];
        for (int i = 1; i < offsets.length; i++) {
            offsets[i] = offsets[i - 1] + counts.get(i - 1);
        }
        return offsets;
    }

    private static int[] shape(String file) {
        try {
            return Npy.readHeader(Path.of(file)).shape();
        } catch (IOException e) {
            if (e instanceof java.nio.file.NoSuchFileException) {
                throw new IllegalArgumentException("no such file: " + file, e);
            }
            throw new UncheckedIOException(e);
        }
    }

    private static int checkQueries(float[][] queries) {
        Objects.requireNonNull(queries, "queries");
        if (queries.length == 0) {
            throw new IllegalArgumentException("no queries");
        }
        int d = queries[0].length;
        for (int i = 0; i < queries.length; i++) {
            if (queries[i].length != d) {
                throw new IllegalArgumentException("query " + i + " has " + queries[i].length + " entries, query 0 has "
                        + d);
            }
        }
        return d;
    }

    private static void checkValidLengths(int[] validLengths, int n) {
        if (validLengths == null) {
            return;
        }
        if (validLengths.length != n) {
            throw new IllegalArgumentException("valid lengths has " + validLengths.length + " entries for " + n
                    + " queries");
        }
        for (int i = 0; i < n; i++) {
            if (validLengths[i] < 0) {
                throw new IllegalArgumentException("valid length " + i + " is negative: " + validLengths[i]);
            }
        }
    }

    /**
     * Runs a Spark job; a task's bad-input failure (an {@link IllegalArgumentException} or {@link IOException} in
     * the cause chain of Spark's report) comes back as an {@link IllegalArgumentException} with its message.
     */
    private static <T> T unwrapped(java.util.function.Supplier<T> job) {
        try {
            return job.get();
        } catch (Exception e) { // Spark's report, a SparkException, is a checked exception thrown unchecked
            for (Throwable c = e; c != null; c = c.getCause()) {
                if (c instanceof IllegalArgumentException || c instanceof IOException) {
                    throw new IllegalArgumentException(c.getMessage(), e);
                }
            }
            throw e;
        }
    }

    /** Configures a {@link SparkAttention}. */
    public static final class Builder {
        private Scoring scoring = Scoring.scaledDot();
        private String kernels;
        private int threads = 1;
        private boolean checkFinite;

        private Builder() {}

        /** The scoring function (default scaled dot). */
        public Builder scoring(Scoring scoring) {
            this.scoring = Objects.requireNonNull(scoring, "scoring");
            return this;
        }

        /** "scalar" or "vector": the kernels every task uses (default: what each executor's JVM selects). */
        public Builder kernels(String name) {
            if (!"scalar".equals(name) && !"vector".equals(name)) {
                throw new IllegalArgumentException("kernels must be scalar or vector, got '" + name + "'");
            }
            this.kernels = name;
            return this;
        }

        /** Threads each task pools with (default 1: Spark runs tasks side by side). */
        public Builder threadsPerTask(int threads) {
            if (threads < 1) {
                throw new IllegalArgumentException("threads per task must be at least 1, got " + threads);
            }
            this.threads = threads;
            return this;
        }

        /** Whether each task checks its keys and values for NaN and ∞ first (default false). */
        public Builder checkFinite(boolean checkFinite) {
            this.checkFinite = checkFinite;
            return this;
        }

        public SparkAttention build() {
            return new SparkAttention(this);
        }
    }
}
