package dev.qkv.algorithm;

import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Sizes;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A run of keys and values packed for the tile micro-kernels ({@code Kernels.tileScores} and
 * {@code tileAccumulate}), the way GEMM libraries pack panels.
 * Keys are transposed, so a query element broadcast against a row of Kᵀ scores {@code width} keys at once;
 * values stay rows. Both are cut into slabs of one block of keys × {@code width} columns, and each slab is
 * stored contiguously ({@code width} floats per key or per dimension), so a micro-kernel reads one slab
 * front to back. Unpacked, the rows a micro-kernel walks lie a power of two apart and fight over a few L1
 * sets. Keys past {@code count} and columns past dv are zero. Built once per run of keys and then only read, by any
 * number of threads.
 */
final class KeyChunk {

    final int start;
    final int count;
    /** count rounded up to a whole number of blocks. */
    final int stride;
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

    private KeyChunk(int start, int count, int stride, int block, int width, int d, int dvPad) {
        this.start = start;
        this.count = count;
        this.stride = stride;
        this.block = block;
        this.width = width;
        this.d = d;
        this.dvPad = dvPad;
        this.keysT = new float[Math.toIntExact((long) d * stride)];
        this.values = new float[Math.toIntExact((long) stride * dvPad)];
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
        int stride = (count + block - 1) / block * block;
        KeyChunk chunk = new KeyChunk(start, count, stride, block, width, keys.cols(), dvPad);
        int d = keys.cols();
        int dv = values.cols();
        float[] row = new float[Math.max(d, dv)];
        for (int j = 0; j < count; j++) {
            int panel = j / block * block;
            int inBlock = j % block;
            readRow(keys, start + j, row);
            int keySlab = panel * d + inBlock / width * d * width + inBlock % width;
            for (int t = 0; t < d; t++) {
                chunk.keysT[keySlab + t * width] = row[t];
            }
            readRow(values, start + j, row);
            int valueRow = panel * dvPad + inBlock * width;
            for (int c = 0; c < dv; c += width) { // columns [c, c + width): one run, in slab c / width (c · block on)
                System.arraycopy(row, c, chunk.values, valueRow + c * block, Math.min(width, dv - c));
            }
        }
        return chunk;
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
