package dev.qkv.spark;

import dev.qkv.Attention;
import dev.qkv.Mask;
import dev.qkv.Partial;
import dev.qkv.Scoring;
import dev.qkv.io.Npy;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.io.Serializable;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.sql.Row;

/** What runs in a Spark task: one partition's or one shard's partial, in the wire form of {@link Partials}. */
final class Tasks {

    /**
     * Rows of a {@code Dataset} are copied into tensors of this many keys and pooled one such chunk at a time, so
     * a task holds at most one chunk of rows, whatever the size of its partition. The library's own shards of keys
     * ({@code Pooling.SHARD}) are as long, so a chunk adds no piece the library would not cut anyway.
     */
    static final int CHUNK = 8192;

    private Tasks() {}

    /** How every task pools: the scoring as kind and factor (a {@link Scoring} is not serializable), the kernels. */
    record Config(boolean gaussian, double factor, String kernels, int threads, boolean checkFinite)
            implements Serializable {

        static Config of(Scoring scoring, int d, String kernels, int threads, boolean checkFinite) {
            return new Config(scoring.isGaussian(), scoring.factor(d), kernels, threads, checkFinite);
        }

        /** The same kernels' scoring: {@code (float) factor} is what {@code scoring} resolves to for this d. */
        Attention attention() {
            Scoring scoring = (gaussian ? Scoring.gaussian(1) : Scoring.dot()).withScale(factor);
            Attention.Builder b = Attention.builder().scoring(scoring).threads(threads).checkFinite(checkFinite);
            if (kernels != null) {
                b.kernels(kernels);
            }
            return b.build();
        }
    }

    /** One shard of a store and where its keys start in the global key order. */
    record ShardTask(int index, Shard shard, long offset) implements Serializable {}

    /** Partition {@code index}'s partial in wire form, or null for a partition with no rows. */
    record Piece(int index, byte[] partial) implements Serializable {}

    /** Pools the queries over one shard, memory-mapped (a shared arena: the task's threads all read it). */
    static Piece poolShard(Config config, float[][] queries, int[] validLengths, ShardTask task) throws IOException {
        try (Arena arena = Arena.ofShared()) {
            Tensor q = Tensor.of(arena, queries);
            Tensor k = Npy.readTensor(Path.of(task.shard().keys()), arena);
            Tensor v = Npy.readTensor(Path.of(task.shard().values()), arena);
            if (k.rank() != 2 || v.rank() != 2 || k.rows() != v.rows() || k.cols() != q.cols()) {
                throw new IllegalArgumentException(task.shard().keys() + " " + k.shapeString() + " and "
                        + task.shard().values() + " " + v.shapeString() + " are not keys (m, " + q.cols()
                        + ") and values (m, dv)");
            }
            Mask mask = mask(validLengths, task.offset(), k.rows());
            return new Piece(task.index(), Partials.toBytes(config.attention().partial(q, k, v, mask)));
        }
    }

    /** Pools the queries over the rows of one partition, columns 0 (key) and 1 (value), chunk by chunk. */
    static Iterator<Piece> poolRows(Config config, float[][] queries, int[] validLengths, long offset, int index,
            Iterator<Row> rows) {
        Attention attention = config.attention();
        int d = queries[0].length;
        Partial total = null;
        try (Arena arena = Arena.ofShared()) {
            Tensor q = Tensor.of(arena, queries);
            Tensor keys = null;
            Tensor values = null;
            int count = 0;
            long start = offset;
            while (rows.hasNext()) {
                Row row = rows.next();
                long at = start + count;
                float[] key = floats(row, 0, "key", at);
                float[] value = floats(row, 1, "value", at);
                if (key.length != d) {
                    throw new IllegalArgumentException("key " + at + " has " + key.length + " entries, the queries "
                            + d);
                }
                if (values == null) {
                    keys = Tensor.allocate(arena, CHUNK, d);
                    values = Tensor.allocate(arena, CHUNK, value.length);
                } else if (value.length != values.cols()) {
                    throw new IllegalArgumentException("value " + at + " has " + value.length + " entries, value "
                            + offset + " has " + values.cols());
                }
                keys.copyRowFrom(count, key);
                values.copyRowFrom(count, value);
                if (++count == CHUNK) {
                    total = merge(total, attention.partial(q, keys, values, mask(validLengths, start, count)));
                    start += count;
                    count = 0;
                }
            }
            if (count > 0) {
                total = merge(total, attention.partial(q, keys.rows(0, count), values.rows(0, count),
                        mask(validLengths, start, count)));
            }
        }
        return List.of(new Piece(index, total == null ? null : Partials.toBytes(total))).iterator();
    }

    /** The number of rows of a partition, for the global key index of the next. */
    static Iterator<Long> count(Iterator<Row> rows) {
        long count = 0;
        for (; rows.hasNext(); rows.next()) {
            count++;
        }
        return List.of(count).iterator();
    }

    /**
     * The mask of keys {@code [start, start + m)} of the global order: a query of valid length L sees the local
     * keys {@code [0, clamp(L − start, 0, m))}.
     */
    static Mask mask(int[] validLengths, long start, int m) {
        if (validLengths == null) {
            return Mask.none();
        }
        int[] local = new int[validLengths.length];
        for (int i = 0; i < local.length; i++) {
            local[i] = (int) Math.clamp(validLengths[i] - start, 0, m);
        }
        return Mask.validLengths(local);
    }

    private static Partial merge(Partial total, Partial next) {
        return total == null ? next : total.merge(next);
    }

    private static float[] floats(Row row, int column, String name, long at) {
        if (row.isNullAt(column)) {
            throw new IllegalArgumentException(name + " " + at + " is null");
        }
        List<Float> list = row.getList(column);
        float[] out = new float[list.size()];
        for (int j = 0; j < out.length; j++) {
            Float x = list.get(j);
            if (x == null) {
                throw new IllegalArgumentException(name + " " + at + " has a null at " + j);
            }
            out[j] = x;
        }
        return out;
    }
}
