package dev.qkv.kernel;

import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link VectorKernels#scores} and {@link VectorKernels#accumulate} for keys and values stored as
 * {@link ElementType#F16} or {@link ElementType#BF16}. A chunk of {@link #CHUNK} rows at a time is widened in
 * registers — each load reads {@code L} halves (L the lanes of {@link VectorKernels#SPECIES}), sign-extends them to
 * ints ({@code vpmovsxwd}) and turns them into floats exactly — and stored to a scratch block that stays in L1
 * (8 KiB at d = 128), which the float32 kernels then score or accumulate. Memory is read at two bytes an element;
 * the block costs a store and a load in L1 per element.
 *
 * <p>Why not FMA straight from the widened registers: a loop with four widenings and their FMAs (one query load
 * feeding four keys, as the float32 kernel does) is more than C2 inlines ({@code NodeCountInliningCutoff}, "callee
 * is too large" for the widening): it then boxed every widened vector on the heap, 80 MB per call at m = 65536,
 * d = 128, and ran 70 times slower than bfloat16. A loop with one widening and one store is inlined whole.
 *
 * <p>JDK 25's Vector API has no half-float lane type or conversion ({@code VectorOperators.S2F} converts the
 * integer value, not the bits; the {@code Float16Vector} of JDK-8370691 is not in 25), so the widening is integer
 * and float lane-wise operations that C2 compiles to single instructions: bfloat16 is the top half of a float32
 * ({@code bits << 16}); binary16 is described at {@link #f16}.
 *
 * <p>Since the float32 kernels run on the exact widening, scores and accumulations of a half tensor are bitwise
 * those of {@code convertTo(arena, F32)} of it, whatever those kernels do, and their error bounds hold with the
 * rounded halves as the exact inputs. Thread-safe: each thread widens into a block of its own.
 */
final class HalfVectorKernels {

    private static final VectorSpecies<Float> SPECIES = VectorKernels.SPECIES;
    private static final int LANES = SPECIES.length();
    /** As many shorts as floats: half the bits. */
    private static final VectorSpecies<Short> HALVES =
            VectorSpecies.of(short.class, VectorShape.forBitSize(SPECIES.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> INTS = SPECIES.withLanes(int.class);
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    /** 2¹¹²: multiplies a binary16 exponent (bias 15), placed in a float's exponent field (bias 127), into place. */
    private static final float F16_REBIAS = 0x1p112f;
    /**
     * Rows widened per chunk: a multiple of 4, so the float32 kernel scores whole groups of four, and small enough
     * for the block (16 rows of d floats, 8 KiB at d = 128) to stay in L1 between its store and its loads.
     */
    static final int CHUNK = 16;

    private HalfVectorKernels() {}

    /**
     * Each thread's block, kept between calls: a block allocated per call (8 KiB per 256 keys) is fresh memory each
     * time, written through the cache instead of reused in L1, and garbage.
     */
    private static final ThreadLocal<Block> KEY_BLOCKS = ThreadLocal.withInitial(() -> new Block(1));
    private static final ThreadLocal<Block> VALUE_BLOCKS = ThreadLocal.withInitial(() -> new Block(1));

    /** {@link #CHUNK} rows of {@code cols} floats, the same memory as a float32 tensor, and a chunk's scores. */
    private record Block(int cols, float[] rows, Tensor tensor, float[] scores) {
        Block(int cols) {
            this(cols, new float[CHUNK * cols]);
        }

        private Block(int cols, float[] rows) {
            this(cols, rows, Tensor.wrap(MemorySegment.ofArray(rows), 2, CHUNK, cols, cols), new float[CHUNK]);
        }
    }

    /** This thread's block of {@code blocks} for rows of {@code cols}: one for keys, one for values (d ≠ dv). */
    private static Block block(ThreadLocal<Block> blocks, int cols) {
        Block b = blocks.get();
        if (b.cols() != cols) {
            b = new Block(cols);
            blocks.set(b);
        }
        return b;
    }

    /** {@link Kernels#scores} for half keys and float32 queries, chunk by chunk through {@code f32}. */
    static void scores(VectorKernels f32, Score score, Tensor queries, int query, Tensor keys, int from, int to,
            float[] scores) {
        Block block = block(KEY_BLOCKS, keys.cols());
        for (int start = from; start < to; start += CHUNK) {
            int rows = Math.min(CHUNK, to - start);
            widen(keys, start, rows, block.rows());
            f32.scores(score, queries, query, block.tensor(), 0, rows, block.scores());
            System.arraycopy(block.scores(), 0, scores, start - from, rows);
        }
    }

    /** {@link Kernels#accumulate} for half values, chunk by chunk through {@code f32}. */
    static void accumulate(VectorKernels f32, float[] weights, int at, Tensor values, int from, int to, float[] acc) {
        Block block = block(VALUE_BLOCKS, values.cols());
        for (int start = from; start < to; start += CHUNK) {
            int rows = Math.min(CHUNK, to - start);
            widen(values, start, rows, block.rows());
            f32.accumulate(weights, at + start - from, block.tensor(), 0, rows, acc);
        }
    }

    /** Rows {@code [from, from + rows)} of a half matrix, widened, into {@code block} (row r at {@code r·cols}). */
    static void widen(Tensor t, int from, int rows, float[] block) {
        MemorySegment s = t.segment();
        int cols = t.cols();
        boolean bf16 = t.elementType() == ElementType.BF16;
        for (int r = 0; r < rows; r++) {
            long row = t.rowOffset(from + r);
            if (bf16) {
                widenBf16(s, row, cols, block, r * cols);
            } else {
                widenF16(s, row, cols, block, r * cols);
            }
        }
    }

    private static void widenF16(MemorySegment s, long row, int cols, float[] out, int at) {
        int j = 0;
        for (; j <= cols - LANES; j += LANES) {
            f16(halves(ShortVector.fromMemorySegment(HALVES, s, row + 2L * j, ORDER))).intoArray(out, at + j);
        }
        if (j < cols) {
            VectorMask<Short> m = HALVES.indexInRange(j, cols);
            f16(halves(ShortVector.fromMemorySegment(HALVES, s, row + 2L * j, ORDER, m)))
                    .intoArray(out, at + j, SPECIES.indexInRange(j, cols));
        }
    }

    private static void widenBf16(MemorySegment s, long row, int cols, float[] out, int at) {
        int j = 0;
        for (; j <= cols - LANES; j += LANES) {
            bf16(halves(ShortVector.fromMemorySegment(HALVES, s, row + 2L * j, ORDER))).intoArray(out, at + j);
        }
        if (j < cols) {
            VectorMask<Short> m = HALVES.indexInRange(j, cols);
            bf16(halves(ShortVector.fromMemorySegment(HALVES, s, row + 2L * j, ORDER, m)))
                    .intoArray(out, at + j, SPECIES.indexInRange(j, cols));
        }
    }

    /** The 16-bit patterns, sign-extended to ints. */
    private static IntVector halves(ShortVector bits) {
        return (IntVector) bits.convertShape(VectorOperators.S2I, INTS, 0);
    }

    /** bfloat16 is a float32 with the low 16 bits dropped: shift them back in as zeros. */
    private static FloatVector bf16(IntVector h) {
        return h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /**
     * binary16 to float32, as {@link Float#float16ToFloat}: exponent and mantissa (15 bits) move up 13 bits into a
     * float's, read as a float that is 2¹¹² too small (the biases differ by 112), and multiplied by 2¹¹² — exact for
     * normals, and it normalises the subnormals. Exponent 31 (infinity, NaN) lands on [2¹⁶, 2¹⁷), above every
     * finite half (65504): adding 0x38800000 to those bit patterns, and only to those, carries into the sign bit,
     * which an arithmetic shift spreads over the exponent field, set to 255 then. The sign is bit 31 already, since
     * the halves were sign-extended. Integer and float lane-wise operations only, no compare or blend.
     */
    private static FloatVector f16(IntVector h) {
        IntVector bits = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(F16_REBIAS)
                .reinterpretAsInts();
        IntVector special = bits.add(0x38800000).lanewise(VectorOperators.ASHR, 8).and(0x7F800000);
        return bits.or(special).or(h.and(0x80000000)).reinterpretAsFloats();
    }
}
