package dev.qkv.spark;

import dev.qkv.Scoring;
import dev.qkv.io.IntArray;
import dev.qkv.io.Npy;
import dev.qkv.io.NpyHeader;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code qkv-spark pool}: {@code qkv pool} over a store of keys and values that Spark reads. */
@Command(
        name = "pool",
        mixinStandardHelpOptions = true,
        description = {
            "Attention pooling of Q over every key of STORE: OUT[i] = sum_j softmax_j(a(Q[i], K[j])) V[j].",
            "STORE is a directory of keys-NNNN.npy (m_i,d) / values-NNNN.npy (m_i,dv) pairs, one Spark task each,",
            "or a Parquet path with numeric-array columns key and value. The global key order is shard order, then",
            "row order (Parquet: the order Spark reads the rows in; for one file, its row order); --valid-lens",
            "index it. Partials are merged on the driver in partition order: bitwise the same run after run."
        })
final class PoolJob implements Callable<Integer> {

    @Option(names = "--master", paramLabel = "URL", description = "Spark master, e.g. local[2] (default: spark-submit's)")
    String master;

    @Option(names = "--queries", required = true, paramLabel = "Q.npy", description = "queries, (n,d) or (d,)")
    Path queries;

    @Option(names = "--store", required = true, paramLabel = "STORE", description = "shard directory or Parquet path")
    String store;

    @Option(names = "--out", required = true, paramLabel = "OUT.npy", description = "where to write the output")
    Path out;

    @Option(names = "--lse", paramLabel = "LSE.npy",
            description = "also write each query's log-sum-exp, float32 (n,); -inf with no key")
    Path lse;

    @Option(names = "--scoring", paramLabel = "NAME", defaultValue = "scaled-dot",
            description = "scaled-dot (default), dot or gaussian")
    String scoring;

    @Option(names = "--scale", paramLabel = "X", description = "replaces the scoring's own factor")
    Double scale;

    @Option(names = "--sigma", paramLabel = "X", description = "the Gaussian width, > 0 (default 1)")
    Double sigma;

    @Option(names = "--valid-lens", paramLabel = "L.npy",
            description = "integers (n,): query i sees global keys 0 <= j < L[i]")
    Path validLens;

    @Option(names = "--partitions", paramLabel = "N",
            description = "Parquet store only: cut its rows, in order, into at most N partitions (one shuffle)")
    Integer partitions;

    @Option(names = "--kernel", paramLabel = "scalar|vector", description = "kernels of every task (default: each JVM's)")
    String kernel;

    @Override
    public Integer call() throws IOException {
        SparkAttention attention = configure();
        checkTarget(out);
        if (lse != null) {
            checkTarget(lse);
        }
        float[][] q;
        boolean single;
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Npy.readTensor(queries, arena);
            if (t.rows() == 0 || t.cols() == 0) {
                throw new IllegalArgumentException(queries + ": queries must have n >= 1 rows of d >= 1, got "
                        + t.shapeString());
            }
            single = t.rank() == 1;
            q = t.asMatrix().toArray();
        }
        int[] lens = validLens == null ? null : readValidLengths(q.length);
        if (!store.contains("://") && !Files.exists(Path.of(store))) {
            throw new IllegalArgumentException("no such store: " + store);
        }
        boolean shards = Shard.isShardDirectory(Path.of(store));
        List<Shard> shardList = shards ? Shard.inDirectory(Path.of(store)) : null;
        if (shards && partitions != null) {
            throw new IllegalArgumentException("--partitions applies to a Parquet store; " + store
                    + " is a shard directory, pooled one task per pair");
        }
        if (partitions != null && partitions < 1) {
            throw new IllegalArgumentException("--partitions must be at least 1, got " + partitions);
        }

        SparkSession.Builder builder = SparkSession.builder().appName("qkv-spark pool");
        if (master != null) {
            builder.master(master);
        }
        if (System.getProperty("spark.ui.enabled") == null) {
            builder.config("spark.ui.enabled", false);
        }
        SparkSession spark = builder.getOrCreate();
        Pooled pooled;
        try {
            pooled = shards ? attention.pool(spark, q, lens, shardList) : attention.pool(q, lens, parquet(spark));
        } finally {
            spark.stop();
        }
        write(pooled, single);
        return 0;
    }

    private Dataset<Row> parquet(SparkSession spark) {
        Dataset<Row> rows;
        try {
            rows = spark.read().parquet(store);
        } catch (Exception e) {
            if (e instanceof AnalysisException) {
                throw new IllegalArgumentException(store + ": neither a directory of keys-NNNN.npy / values-NNNN.npy"
                        + " nor a readable Parquet store (" + e.getMessage().lines().findFirst().orElse("") + ")", e);
            }
            throw e;
        }
        if (partitions == null) {
            return rows;
        }
        String row = "_qkv_row";
        return rows.withColumn(row, functions.monotonically_increasing_id())
                .repartitionByRange(partitions, functions.col(row))
                .sortWithinPartitions(row);
    }

    private SparkAttention configure() {
        Scoring s = switch (scoring) {
            case "scaled-dot" -> Scoring.scaledDot();
            case "dot" -> Scoring.dot();
            case "gaussian" -> Scoring.gaussian(sigma == null ? 1.0 : sigma);
            default -> throw new IllegalArgumentException("--scoring must be scaled-dot, dot or gaussian, got '"
                    + scoring + "'");
        };
        if (sigma != null && !s.isGaussian()) {
            throw new IllegalArgumentException("--sigma applies to --scoring gaussian only");
        }
        if (scale != null) {
            s = s.withScale(scale);
        }
        SparkAttention.Builder b = SparkAttention.builder().scoring(s).checkFinite(true);
        if (kernel != null) {
            b.kernels(kernel);
        }
        return b.build();
    }

    private int[] readValidLengths(int n) throws IOException {
        IntArray l = Npy.readInts(validLens);
        if (l.rank() != 1 || l.values().length != n) {
            throw new IllegalArgumentException(validLens + ": valid lengths must have shape (" + n + ",), got "
                    + NpyHeader.shapeString(l.shape()));
        }
        int[] values = l.values();
        for (int i = 0; i < n; i++) {
            if (values[i] < 0) {
                throw new IllegalArgumentException(validLens + ": valid length " + i + " is negative: " + values[i]);
            }
        }
        return values;
    }

    private static void checkTarget(Path target) {
        Path dir = target.toAbsolutePath().getParent();
        if (dir != null && !Files.isDirectory(dir)) {
            throw new IllegalArgumentException("cannot write " + target + ": no such directory " + dir);
        }
        if (Files.isDirectory(target)) {
            throw new IllegalArgumentException("cannot write " + target + ": it is a directory");
        }
    }

    /** Writes OUT (and LSE) to temporaries beside them, then renames both: all or nothing. */
    private void write(Pooled pooled, boolean single) throws IOException {
        List<Path[]> moves = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            Tensor o = single ? Tensor.of(arena, pooled.output()[0]) : Tensor.of(arena, pooled.output());
            moves.add(new Path[] {temporary(out), out});
            Npy.write(moves.getLast()[0], o);
            if (lse != null) {
                moves.add(new Path[] {temporary(lse), lse});
                Npy.write(moves.getLast()[0], Tensor.of(arena, pooled.logSumExp()));
            }
            for (Path[] m : moves) {
                try {
                    Files.move(m[0], m[1], StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(m[0], m[1], StandardCopyOption.REPLACE_EXISTING);
                }
            }
            moves.clear();
        } finally {
            for (Path[] m : moves) {
                Files.deleteIfExists(m[0]);
            }
        }
    }

    private static Path temporary(Path target) throws IOException {
        Path absolute = target.toAbsolutePath();
        return Files.createTempFile(absolute.getParent(), "." + absolute.getFileName(), ".tmp");
    }
}
