package dev.qkv.spark;

import dev.qkv.Attention;
import dev.qkv.Mask;
import dev.qkv.io.Npy;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.SparkSession;

/**
 * BENCHMARKS.md's figures for qkv-spark: GB/s of K + V pooled by the Spark job in {@code local[2]} over a shard
 * directory, against single-machine qkv with 2 threads over the same keys and values as one file pair, in one JVM,
 * with the files in the page cache. Not a test; run by hand (command in BENCHMARKS.md):
 * {@code PoolThroughput DIR RUNS}, DIR holding Q.npy, K.npy, V.npy and shards/ (keys-NNNN.npy, values-NNNN.npy).
 */
public final class PoolThroughput {

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        int runs = Integer.parseInt(args[1]);
        List<Shard> shards = Shard.inDirectory(dir.resolve("shards"));
        try (Arena arena = Arena.ofShared()) {
            Tensor q = Npy.readTensor(dir.resolve("Q.npy"), arena);
            Tensor k = Npy.readTensor(dir.resolve("K.npy"), arena);
            Tensor v = Npy.readTensor(dir.resolve("V.npy"), arena);
            double gigabytes = 4.0 * k.rows() * (k.cols() + v.cols()) / 1e9;
            float[][] queries = q.toArray();
            System.out.printf("n = %d, m = %d, d = %d, dv = %d: %.3f GB of K + V, %d shards%n", q.rows(), k.rows(),
                    k.cols(), v.cols(), gigabytes, shards.size());

            Attention two = Attention.builder().threads(2).build();
            Tensor out = Tensor.allocate(arena, q.rows(), v.cols());
            double[] single = time(runs, () -> two.pool(q, k, v, Mask.none(), out));
            report("single-machine qkv, 2 threads", gigabytes, single);

            SparkSession spark = SparkSession.builder().master("local[2]").appName("PoolThroughput")
                    .config("spark.ui.enabled", false).getOrCreate();
            spark.sparkContext().setLogLevel("WARN");
            SparkAttention job = SparkAttention.builder().build();
            double[] distributed = time(runs, () -> job.pool(spark, queries, shards));
            report("Spark job, local[2], one task per shard", gigabytes, distributed);
            spark.stop();
        }
    }

    private static double[] time(int runs, Runnable r) {
        for (int w = 0; w < 3; w++) {
            r.run(); // warm-up: C2 compiles the kernels, Spark loads its classes
        }
        double[] seconds = new double[runs];
        for (int i = 0; i < runs; i++) {
            long t = System.nanoTime();
            r.run();
            seconds[i] = (System.nanoTime() - t) / 1e9;
        }
        Arrays.sort(seconds);
        return seconds;
    }

    private static void report(String what, double gigabytes, double[] sorted) {
        double median = sorted[sorted.length / 2];
        System.out.printf("%-42s median %.3f s (min %.3f, max %.3f): %.2f GB/s (best %.2f)%n", what, median,
                sorted[0], sorted[sorted.length - 1], gigabytes / median, gigabytes / sorted[0]);
    }
}
