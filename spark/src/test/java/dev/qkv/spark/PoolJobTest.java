package dev.qkv.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.Attention;
import dev.qkv.Scoring;
import dev.qkv.io.Npy;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code qkv-spark pool}: files in, files out, and {@code qkv pool}'s conventions for bad input. */
class PoolJobTest {

    @TempDir
    Path dir;

    private String err;

    @Test
    void poolsAShardDirectoryLikeSingleMachineQkv() throws IOException {
        Store store = Store.random(21, 4, 16, 8, 5000);
        Path shards = Files.createDirectory(dir.resolve("store"));
        int[] sizes = {2000, 0, 3000};
        store.writeShards(shards, sizes);
        int[] lens = {0, 1999, 2500, 9999};
        Path q = writeQueries(store);
        Npy.writeInts(dir.resolve("L.npy"), lens, lens.length);

        assertEquals(0, run("pool", "--master", "local[2]", "--queries", q.toString(), "--store", shards.toString(),
                "--out", dir.resolve("out.npy").toString(), "--lse", dir.resolve("lse.npy").toString(),
                "--valid-lens", dir.resolve("L.npy").toString()), err);
        store.assertWithinBound(Scoring.scaledDot(), lens, sizes, read("out.npy", "lse.npy"),
                store.single(Attention.scaledDot(), lens));
    }

    @Test
    void poolsAParquetStoreCutIntoPartitionsInOrder() throws IOException {
        Store store = Store.random(22, 3, 8, 4, 3000);
        String parquet = dir.resolve("store.parquet").toString();
        SparkSession spark = SparkSession.builder().master("local[1]").appName("PoolJobTest").getOrCreate();
        try {
            StructType schema = new StructType()
                    .add("key", DataTypes.createArrayType(DataTypes.FloatType, false), false)
                    .add("value", DataTypes.createArrayType(DataTypes.FloatType, false), false);
            List<Row> rows = new ArrayList<>();
            for (int j = 0; j < store.m(); j++) {
                rows.add(RowFactory.create(boxed(store.keys()[j]), boxed(store.values()[j])));
            }
            spark.createDataFrame(rows, schema).coalesce(1).write().parquet(parquet); // one file: its row order
        } finally {
            spark.stop();
        }
        int[] lens = {1, 1500, 3000};
        Npy.writeInts(dir.resolve("L.npy"), lens, lens.length);
        Path q = writeQueries(store);

        assertEquals(0, run("pool", "--master", "local[2]", "--queries", q.toString(), "--store", parquet,
                "--out", dir.resolve("out.npy").toString(), "--lse", dir.resolve("lse.npy").toString(),
                "--valid-lens", dir.resolve("L.npy").toString(), "--partitions", "3", "--scoring", "gaussian",
                "--sigma", "2"), err);
        // Range partitioning cuts the 3000 rows, in order, into at most 3 partitions: at most 2 cuts.
        Scoring scoring = Scoring.gaussian(2);
        store.assertWithinBound(scoring, lens, 2, read("out.npy", "lse.npy"),
                store.single(Attention.builder().scoring(scoring).build(), lens));
    }

    @Test
    void badInputIsOneLineWithExitTwoAndNoFile() throws IOException {
        Store store = Store.random(23, 2, 8, 4, 100);
        Path shards = Files.createDirectory(dir.resolve("store"));
        store.writeShards(shards, 60, 40);
        Path q = writeQueries(store);
        String out = dir.resolve("out.npy").toString();
        String[] base = {"pool", "--master", "local[2]", "--queries", q.toString(), "--out", out};

        assertRefused(concat(base, "--store", shards.toString(), "--partitions", "2"), "--partitions applies to a Parquet");
        assertRefused(concat(base, "--store", shards.toString(), "--scoring", "cosine"), "--scoring must be");
        assertRefused(concat(base, "--store", dir.resolve("nothing").toString()), "nothing");

        // Keys of the wrong width, found by the driver in the header; values of the wrong dtype, found by a task.
        try (Arena arena = Arena.ofConfined()) {
            Npy.write(shards.resolve("keys-0002.npy"), Tensor.allocate(arena, 5, 7));
        }
        Npy.writeInts(shards.resolve("values-0002.npy"), new int[20], 5, 4);
        assertRefused(concat(base, "--store", shards.toString()), "keys must be (m, 8)");
        try (Arena arena = Arena.ofConfined()) {
            Npy.write(shards.resolve("keys-0002.npy"), Tensor.allocate(arena, 5, 8));
        }
        assertRefused(concat(base, "--store", shards.toString()), "values-0002.npy");
    }

    private void assertRefused(String[] args, String expected) throws IOException {
        assertEquals(Main.EXIT_BAD_INPUT, run(args), err);
        assertEquals(1, err.lines().filter(l -> !l.startsWith("WARNING")).count(), err);
        assertTrue(err.contains(expected), err);
        try (Stream<Path> files = Files.list(dir)) {
            assertFalse(files.anyMatch(p -> p.getFileName().toString().contains("out.npy")), "an output was left");
        }
    }

    private int run(String... args) {
        StringWriter e = new StringWriter();
        int status = Main.run(args, new PrintWriter(new StringWriter(), true), new PrintWriter(e, true));
        err = e.toString();
        return status;
    }

    private Path writeQueries(Store store) throws IOException {
        Path q = dir.resolve("Q.npy");
        try (Arena arena = Arena.ofConfined()) {
            Npy.write(q, Tensor.of(arena, store.queries()));
        }
        return q;
    }

    private Pooled read(String out, String lse) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            return new Pooled(Npy.readTensor(dir.resolve(out), arena).toArray(),
                    Npy.readTensor(dir.resolve(lse), arena).toFlatArray());
        }
    }

    private static String[] concat(String[] a, String... b) {
        return Stream.concat(Stream.of(a), Stream.of(b)).toArray(String[]::new);
    }

    private static Float[] boxed(float[] a) {
        Float[] b = new Float[a.length];
        for (int i = 0; i < a.length; i++) {
            b[i] = a[i];
        }
        return b;
    }
}
