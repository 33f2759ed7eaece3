package dev.qkv.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.Attention;
import dev.qkv.Scoring;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The job in {@code local[2]} (driver and two executor threads in this JVM, on 127.0.0.1 with no UI: see the POM)
 * against single-machine qkv over the same keys, for several partitionings.
 */
class SparkAttentionTest {

    private static final StructType SCHEMA = new StructType()
            .add("key", DataTypes.createArrayType(DataTypes.FloatType, false), false)
            .add("value", DataTypes.createArrayType(DataTypes.FloatType, false), false);

    private static SparkSession spark;
    private static JavaSparkContext jsc;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[2]").appName("SparkAttentionTest").getOrCreate();
        jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    /** m = 20000 keys, more than two chunks of 8192, cut several ways; empty partitions first, between and last. */
    static Stream<Arguments> partitionings() {
        return Stream.of(
                Arguments.of("one partition", new int[] {20000}),
                Arguments.of("two", new int[] {12000, 8000}),
                Arguments.of("empty ones around", new int[] {0, 7000, 0, 0, 9000, 4000, 0}),
                Arguments.of("seven even", Store.even(20000, 7)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("partitionings")
    void distributedEqualsSingleMachineWithinTheBound(String name, int[] sizes) {
        Store store = Store.random(12, 6, 16, 8, 20000);
        int[] lens = {0, 1, 6999, 7000, 13500, 20005};
        Scoring scoring = Scoring.scaledDot();
        SparkAttention distributed = SparkAttention.builder().scoring(scoring).build();
        Attention single = Attention.builder().scoring(scoring).build();

        store.assertWithinBound(scoring, null, sizes, distributed.pool(store.queries(), rows(store, sizes)),
                store.single(single, null));
        store.assertWithinBound(scoring, lens, sizes, distributed.pool(store.queries(), lens, rows(store, sizes)),
                store.single(single, lens));
    }

    @Test
    void onePartitionPerKeyEqualsSingleMachineWithinTheBound() {
        Store store = Store.random(13, 5, 8, 3, 48);
        int[] sizes = new int[48];
        java.util.Arrays.fill(sizes, 1);
        int[] lens = {0, 1, 17, 47, 100};
        Scoring scoring = Scoring.gaussian(1.5);
        SparkAttention distributed = SparkAttention.builder().scoring(scoring).build();
        Attention single = Attention.builder().scoring(scoring).build();

        store.assertWithinBound(scoring, lens, sizes, distributed.pool(store.queries(), lens, rows(store, sizes)),
                store.single(single, lens));
    }

    @Test
    void aPartitioningGivesTheSameBitsRunAfterRun() {
        Store store = Store.random(14, 4, 16, 8, 3000);
        int[] sizes = {0, 1000, 0, 1500, 500};
        int[] lens = {10, 1000, 2222, 3000};
        SparkAttention distributed = SparkAttention.builder().kernels("scalar").build();
        Pooled first = distributed.pool(store.queries(), lens, rows(store, sizes));
        for (int run = 0; run < 2; run++) {
            Store.assertBitwiseEqual(first, distributed.pool(store.queries(), lens, rows(store, sizes)));
        }
    }

    @Test
    void threadsPerTaskChangeNoBit() {
        Store store = Store.random(20, 3, 16, 8, 20000);
        int[] sizes = {11000, 0, 9000};
        int[] lens = {100, 12000, 20000};
        Pooled one = SparkAttention.builder().kernels("scalar").build().pool(store.queries(), lens, rows(store, sizes));
        Store.assertBitwiseEqual(one, SparkAttention.builder().kernels("scalar").threadsPerTask(2).build()
                .pool(store.queries(), lens, rows(store, sizes)));
    }

    @Test
    void onePartitionGivesTheSingleMachineBits() {
        Store store = Store.random(15, 4, 16, 8, 3000);
        int[] lens = {0, 1000, 2222, 3000};
        Pooled distributed = SparkAttention.builder().kernels("scalar").build()
                .pool(store.queries(), lens, rows(store, new int[] {3000}));
        Store.assertBitwiseEqual(store.single(Attention.builder().kernels("scalar").build(), lens), distributed);
    }

    @Test
    void shardFilesAndRowsOfOnePartitioningGiveTheSameBits(@TempDir Path dir) throws IOException {
        Store store = Store.random(16, 5, 16, 8, 12000);
        int[] sizes = {0, 5000, 0, 4000, 3000};
        int[] lens = {0, 4999, 5000, 9001, 12000};
        List<Shard> shards = store.writeShards(dir, sizes);
        assertEquals(5, shards.size());
        SparkAttention distributed = SparkAttention.builder().kernels("scalar").build();

        Pooled fromFiles = distributed.pool(spark, store.queries(), lens, shards);
        Store.assertBitwiseEqual(distributed.pool(store.queries(), lens, rows(store, sizes)), fromFiles);
        store.assertWithinBound(Scoring.scaledDot(), lens, sizes, fromFiles,
                store.single(Attention.builder().kernels("scalar").build(), lens));
    }

    @Test
    void aParquetStoreWrittenAndReadBackPools(@TempDir Path dir) {
        Store store = Store.random(17, 3, 32, 16, 9000);
        String path = dir.resolve("store.parquet").toString();
        // Several files and row groups, so the read-back has partitions of its own.
        rows(store, Store.even(9000, 3)).write().option("parquet.block.size", 64 * 1024).parquet(path);

        Dataset<Row> readBack = spark.read().parquet(path);
        int[] sizes = partitionSizes(readBack);
        // The global key order is the order Spark reads the rows in (it packs files into partitions by size).
        List<Row> inOrder = readBack.collectAsList();
        float[][] keys = new float[inOrder.size()][];
        float[][] values = new float[inOrder.size()][];
        for (int j = 0; j < keys.length; j++) {
            keys[j] = unboxed(inOrder.get(j).getList(0));
            values[j] = unboxed(inOrder.get(j).getList(1));
        }
        Store asRead = new Store(store.queries(), keys, values);
        int[] lens = {5, 4500, 9000};
        Scoring scoring = Scoring.dot().withScale(0.2);
        Pooled pooled = SparkAttention.builder().scoring(scoring).build().pool(store.queries(), lens, readBack);
        asRead.assertWithinBound(scoring, lens, sizes, pooled,
                asRead.single(Attention.builder().scoring(scoring).build(), lens));
    }

    @Test
    void keysOfTheWrongLengthAreNamed() {
        Store store = Store.random(18, 2, 16, 4, 100);
        float[][] queries = {new float[15], new float[15]};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SparkAttention.builder().build().pool(queries, rows(store, new int[] {50, 50})));
        assertTrue(e.getMessage().contains("key 0 has 16 entries, the queries 15"), e.getMessage());
    }

    @Test
    void aStoreWithoutKeyAndValueColumnsIsRefused() {
        Dataset<Row> wrong = rows(Store.random(19, 1, 4, 4, 10), new int[] {10}).withColumnRenamed("key", "k");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SparkAttention.builder().build().pool(new float[][] {new float[4]}, wrong));
        assertTrue(e.getMessage().contains("columns key and value"), e.getMessage());
    }

    /** The store's rows in partitions of these sizes, in order (a size of 0 is an empty partition). */
    private static Dataset<Row> rows(Store store, int[] sizes) {
        JavaRDD<Row> all = null;
        int from = 0;
        for (int size : sizes) {
            List<Row> part = new ArrayList<>();
            for (int j = from; j < from + size; j++) {
                part.add(RowFactory.create(boxed(store.keys()[j]), boxed(store.values()[j])));
            }
            JavaRDD<Row> rdd = jsc.parallelize(part, 1);
            all = all == null ? rdd : all.union(rdd);
            from += size;
        }
        assertEquals(sizes.length, all.getNumPartitions());
        return spark.createDataFrame(all, SCHEMA);
    }

    private static int[] partitionSizes(Dataset<Row> rows) {
        return rows.javaRDD().mapPartitions(it -> {
            int count = 0;
            for (; it.hasNext(); it.next()) {
                count++;
            }
            return List.of(count).iterator();
        }).collect().stream().mapToInt(Integer::intValue).toArray();
    }

    private static float[] unboxed(List<Float> a) {
        float[] b = new float[a.size()];
        for (int i = 0; i < b.length; i++) {
            b[i] = a.get(i);
        }
        return b;
    }

    private static Float[] boxed(float[] a) {
        Float[] b = new Float[a.length];
        for (int i = 0; i < a.length; i++) {
            b[i] = a[i];
        }
        return b;
    }
}
