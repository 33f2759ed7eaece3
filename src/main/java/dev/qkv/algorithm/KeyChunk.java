package dev.qkv.algorithm;

import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Sizes;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A run of keys and values packed for the tile micro-kernels ({@code Kernels.tileScores} and
 * {@code tileAccumulate}), the way GEMM libraries pack panels.
 * Keys are transposed, so a query element broadcast against a row of Kᵀ scores {@code width} keys at once;
 * values stay rows. Both are cut into slabs of one block of keys × {@code width} columns, and each slab is
 * stored contiguously ({@code width} floats per key or per dimension), so a micro-kernel reads one slab
 * front to back. Unpacked, the rows a micro-kernel walks lie a power of two apart and fight over a few L1
 * sets. Columns past dv are zero, and so are keys past {@code count} (or rows that a longer chunk sharing the arrays
 * packed since, {@link #extend}). Built once per run of keys and then only read, by any number of threads; the pages
 * of a store ({@link PackedPages}) are extended as rows are appended.
 */
final class KeyChunk {

    final int start;
    final int count;
    final int block;
    final int width;
    final int d;
    final int dvPad;
    /**
     * Element t of key {@code start + j}: at {@code (j / block) * d * block + (j % block / width) * d * width
     * + t * width + j % width}.
     */
    final float[] keysT;
    /**
     * Element c of value {@code start + j}: at {@code (j / block) * block * dvPad + (c / width) * block * width
     * + (j % block) * width + c % width}.
     */
    final float[] values;

    /**
     * The arrays hold whole blocks, at least {@code count} keys' worth: past count they are zero, or hold rows packed
     * since by {@link #extend} for a longer chunk that shares them (nothing computed through this one depends on
     * them).
     */
    private KeyChunk(int start, int count, int block, int width, int d, int dvPad, float[] keysT, float[] values) {
        this.start = start;
        this.count = count;
        this.block = block;
        this.width = width;
        this.d = d;
        this.dvPad = dvPad;
        this.keysT = keysT;
        this.values = values;
    }

    /**
     * Whether a chunk of {@code count} keys of dimension d and values padded to dvPad is worth packing: each part
     * must be one Java array (d = 262144 at 8192 keys is 2³¹ floats, one too many), and the whole at most an
     * eighth of the heap's limit, since a chunk per thread can be alive at once. Otherwise the caller pools row
     * by row, which packs nothing.
     */
    static boolean fits(int count, int block, int d, int dvPad) {
        long stride = ((long) count + block - 1) / block * block;
        long keys = stride * d;
        long values = stride * dvPad;
        return keys <= Sizes.MAX_ARRAY_LENGTH && values <= Sizes.MAX_ARRAY_LENGTH
                && 4 * (keys + values) <= Runtime.getRuntime().maxMemory() / 8;
    }

    /** Keys and values {@code [start, start + count)}, in slabs of {@code block} keys × {@code width} columns. */
    static KeyChunk of(Tensor keys, Tensor values, int start, int count, int block, int width, int dvPad) {
        int blocks = (count + block - 1) / block;
        KeyChunk empty = new KeyChunk(start, 0, block, width, keys.cols(), dvPad, new float[0], new float[0]);
        return empty.grow(keys, values, count, blocks);
    }

    /**
     * This chunk followed by rows {@code [start + this.count, start + count)} of the same keys and values: those rows
     * are packed behind the ones already there, which are not packed again. Into this chunk's arrays when they have
     * room (then the two chunks share them, and rows may be written behind this one's count while another thread
     * pools with it: none of its results depends on them, since {@code TilePooling.tile} sets the scores of keys past
     * the count to −∞ and multiplies no value row past it), else into copies of them grown to twice this chunk's
     * blocks (at most {@code capacity} keys' worth), or to {@code count}'s blocks if more. A store's pages grow this
     * way, a token at a time.
     */
    KeyChunk extend(Tensor keys, Tensor values, int count, int capacity) {
        int most = (capacity + block - 1) / block;
        return grow(keys, values, count, Math.min(most, 2 * (keysT.length / (d * block))));
    }

    /** The first {@code count} keys and values of this chunk, sharing its arrays. */
    KeyChunk first(int count) {
        return new KeyChunk(start, count, block, width, d, dvPad, keysT, values);
    }

    /** {@link #extend}, into arrays of at least {@code blocks} blocks if these have no room for count keys. */
    private KeyChunk grow(Tensor keys, Tensor values, int count, int blocks) {
        float[] k = keysT;
        float[] v = this.values;
        if ((long) count > (long) keysT.length / d) { // in whole blocks, as the arrays always are
            int fit = Math.max(blocks, (count + block - 1) / block);
            k = Arrays.copyOf(k, Math.toIntExact((long) fit * block * d));
            v = Arrays.copyOf(v, Math.toIntExact((long) fit * block * dvPad));
        }
        KeyChunk chunk = new KeyChunk(start, count, block, width, d, dvPad, k, v);
        chunk.pack(keys, values, this.count, count);
        return chunk;
    }

    /** Packs keys and values {@code start + [from, to)} where the layout comments put them. */
    private void pack(Tensor keys, Tensor values, int from, int to) {
        int dv = values.cols();
        float[] row = new float[Math.max(d, dv)];
        for (int j = from; j < to; j++) {
            int panel = j / block * block;
            int inBlock = j % block;
            readRow(keys, start + j, row);
            int keySlab = panel * d + inBlock / width * d * width + inBlock % width;
            for (int t = 0; t < d; t++) {
                keysT[keySlab + t * width] = row[t];
            }
            readRow(values, start + j, row);
            int valueRow = panel * dvPad + inBlock * width;
            for (int c = 0; c < dv; c += width) { // columns [c, c + width): one run, in slab c / width (c · block on)
                System.arraycopy(row, c, this.values, valueRow + c * block, Math.min(width, dv - c));
            }
        }
    }

    /** Row i of a matrix into {@code row}, widened exactly from float16 or bfloat16: packed panels are float32. */
    private static void readRow(Tensor t, int i, float[] row) {
        MemorySegment s = t.segment();
        long at = t.rowOffset(i);
        switch (t.elementType()) {
            case F32 -> MemorySegment.copy(s, ValueLayout.JAVA_FLOAT_UNALIGNED, at, row, 0, t.cols());
            case F16 -> {
                for (int c = 0; c < t.cols(); c++) {
                    row[c] = ElementType.f16ToFloat(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, at + 2L * c));
                }
            }
            case BF16 -> {
                for (int c = 0; c < t.cols(); c++) {
                    row[c] = ElementType.bf16ToFloat(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, at + 2L * c));
                }
            }
        }
    }
}
