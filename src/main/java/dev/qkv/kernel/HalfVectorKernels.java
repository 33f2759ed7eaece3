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
 * {@link ElementType#F16} or {@link ElementType#BF16}: each load reads {@code L} halves (L the lanes of
 * {@link VectorKernels#SPECIES}), sign-extends them to {@code L} ints ({@code vpmovsxwd}) and widens them to
 * floats in registers, exactly; everything after the load is the float32 kernel's arithmetic.
 *
 * <p>JDK 25's Vector API has no half-float lane type or conversion ({@code VectorOperators.S2F} converts the
 * integer value, not the bits), so the widening is integer and float lane-wise operations that C2 compiles
 * to single instructions: bfloat16 is the top half of a float32 ({@code bits << 16}); binary16 moves its
 * exponent and mantissa 13 bits up and multiplies by 2¹¹² (exact, and it makes the subnormals normal), with
 * the exponent of infinities and NaNs set to 255 and the sign put back.
 *
 * <p>Every float a kernel here sees is the one {@code Tensor.convertTo(arena, F32)} would store, and the sums
 * are built as the float32 kernels build theirs (the same accumulators, the same order, the same lane sums):
 * scores and accumulations of a half tensor are bitwise those of its float32 widening, so the float32 error
 * bounds hold with the rounded halves as the exact inputs. Stateless and thread-safe.
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

    private HalfVectorKernels() {}

    /** {@link Kernels#scores} for half keys and float32 queries. */
    static void scores(Score score, Tensor queries, int query, Tensor keys, int from, int to, float[] scores) {
        boolean bf16 = keys.elementType() == ElementType.BF16;
        MemorySegment q = queries.segment();
        MemorySegment k = keys.segment();
        long qOffset = queries.rowOffset(query);
        long stride = 2L * keys.rowStride();
        int d = queries.cols();
        boolean dot = score.kind() == Score.Kind.DOT;
        float factor = dot ? score.factor() : -score.factor();
        int count = to - from;
        int quads = count & ~3;
        scores4(bf16, dot, q, qOffset, k, from * stride, stride, d, quads, factor, scores, 0);
        if (quads == count) {
            return;
        }
        // As in VectorKernels.scores: every key goes through the four-key kernel, the last four again.
        if (count >= 4) {
            scores4(bf16, dot, q, qOffset, k, (to - 4) * stride, stride, d, 4, factor, scores, count - 4);
        } else {
            float[] four = new float[4];
            for (int j = from; j < to; j++) {
                scores4(bf16, dot, q, qOffset, k, j * stride, 0, d, 4, factor, four, 0);
                scores[j - from] = four[0];
            }
        }
    }

    /**
     * {@code scores[at + j] = factor · a(q, k_j)} for the {@code count} (a multiple of 4) keys from {@code kOffset},
     * four at a time, as {@code VectorKernels.dotScores} and {@code distanceScores}: one query load feeds four
     * keys. The element type is a loop-invariant flag; C2 unswitches the loop on it.
     */
    private static void scores4(boolean bf16, boolean dot, MemorySegment q, long qOffset, MemorySegment k,
            long kOffset, long stride, int d, int count, float factor, float[] scores, int at) {
        VectorMask<Float> tail = SPECIES.indexInRange(d - d % LANES, d);
        VectorMask<Short> halfTail = HALVES.indexInRange(d - d % LANES, d);
        for (int j = 0; j < count; j += 4, kOffset += 4 * stride) {
            FloatVector a0 = FloatVector.zero(SPECIES);
            FloatVector a1 = FloatVector.zero(SPECIES);
            FloatVector a2 = FloatVector.zero(SPECIES);
            FloatVector a3 = FloatVector.zero(SPECIES);
            int i = 0;
            for (; i <= d - LANES; i += LANES) {
                long b = 2L * i;
                FloatVector qv = load(q, qOffset + 2 * b);
                FloatVector k0 = widen(bf16, k, kOffset + b);
                FloatVector k1 = widen(bf16, k, kOffset + stride + b);
                FloatVector k2 = widen(bf16, k, kOffset + 2 * stride + b);
                FloatVector k3 = widen(bf16, k, kOffset + 3 * stride + b);
                if (dot) {
                    a0 = qv.fma(k0, a0);
                    a1 = qv.fma(k1, a1);
                    a2 = qv.fma(k2, a2);
                    a3 = qv.fma(k3, a3);
                } else {
                    a0 = squareAdd(qv.sub(k0), a0);
                    a1 = squareAdd(qv.sub(k1), a1);
                    a2 = squareAdd(qv.sub(k2), a2);
                    a3 = squareAdd(qv.sub(k3), a3);
                }
            }
            if (i < d) {
                long b = 2L * i;
                FloatVector qv = load(q, qOffset + 2 * b, tail);
                FloatVector k0 = widen(bf16, k, kOffset + b, halfTail);
                FloatVector k1 = widen(bf16, k, kOffset + stride + b, halfTail);
                FloatVector k2 = widen(bf16, k, kOffset + 2 * stride + b, halfTail);
                FloatVector k3 = widen(bf16, k, kOffset + 3 * stride + b, halfTail);
                if (dot) {
                    a0 = qv.fma(k0, a0);
                    a1 = qv.fma(k1, a1);
                    a2 = qv.fma(k2, a2);
                    a3 = qv.fma(k3, a3);
                } else {
                    a0 = squareAdd(qv.sub(k0), a0);
                    a1 = squareAdd(qv.sub(k1), a1);
                    a2 = squareAdd(qv.sub(k2), a2);
                    a3 = squareAdd(qv.sub(k3), a3);
                }
            }
            scores[at + j] = factor * a0.reduceLanes(VectorOperators.ADD);
            scores[at + j + 1] = factor * a1.reduceLanes(VectorOperators.ADD);
            scores[at + j + 2] = factor * a2.reduceLanes(VectorOperators.ADD);
            scores[at + j + 3] = factor * a3.reduceLanes(VectorOperators.ADD);
        }
    }

    /** {@code diff² + acc} in one rounding, as the float32 distance kernel. */
    private static FloatVector squareAdd(FloatVector diff, FloatVector acc) {
        return diff.fma(diff, acc);
    }

    /**
     * {@link Kernels#accumulate} for half values. Every {@code acc[c]} takes one FMA per row, rows in order, as in
     * every float32 variant of {@code accumulate}, so the bits are theirs whatever the blocking. Columns go in
     * chunks of eight vectors (all of dv = 128 on AVX-512), then four, then one, whose sums stay in registers while
     * the rows stream past, each row read once per chunk.
     */
    static void accumulate(float[] weights, int at, Tensor values, int from, int to, float[] acc) {
        boolean bf16 = values.elementType() == ElementType.BF16;
        MemorySegment v = values.segment();
        long stride = 2L * values.rowStride();
        long first = from * stride;
        int dv = values.cols();
        int count = to - from;
        int j = 0;
        for (; j <= dv - 8 * LANES; j += 8 * LANES) {
            accumulate8(bf16, weights, at, v, first + 2L * j, stride, count, acc, j);
        }
        for (; j <= dv - 4 * LANES; j += 4 * LANES) {
            accumulate4(bf16, weights, at, v, first + 2L * j, stride, count, acc, j);
        }
        for (; j < dv; j += LANES) {
            accumulate1(bf16, weights, at, v, first + 2L * j, stride, count, acc, j, dv);
        }
    }

    /** Eight vectors of columns from {@code col}, every row in order: eight independent FMA chains. */
    private static void accumulate8(boolean bf16, float[] weights, int w, MemorySegment v, long row, long stride,
            int count, float[] acc, int col) {
        long bytes = 2L * LANES;
        FloatVector a0 = FloatVector.fromArray(SPECIES, acc, col);
        FloatVector a1 = FloatVector.fromArray(SPECIES, acc, col + LANES);
        FloatVector a2 = FloatVector.fromArray(SPECIES, acc, col + 2 * LANES);
        FloatVector a3 = FloatVector.fromArray(SPECIES, acc, col + 3 * LANES);
        FloatVector a4 = FloatVector.fromArray(SPECIES, acc, col + 4 * LANES);
        FloatVector a5 = FloatVector.fromArray(SPECIES, acc, col + 5 * LANES);
        FloatVector a6 = FloatVector.fromArray(SPECIES, acc, col + 6 * LANES);
        FloatVector a7 = FloatVector.fromArray(SPECIES, acc, col + 7 * LANES);
        for (int i = 0; i < count; i++, row += stride) {
            FloatVector weight = FloatVector.broadcast(SPECIES, weights[w + i]);
            a0 = widen(bf16, v, row).fma(weight, a0);
            a1 = widen(bf16, v, row + bytes).fma(weight, a1);
            a2 = widen(bf16, v, row + 2 * bytes).fma(weight, a2);
            a3 = widen(bf16, v, row + 3 * bytes).fma(weight, a3);
            a4 = widen(bf16, v, row + 4 * bytes).fma(weight, a4);
            a5 = widen(bf16, v, row + 5 * bytes).fma(weight, a5);
            a6 = widen(bf16, v, row + 6 * bytes).fma(weight, a6);
            a7 = widen(bf16, v, row + 7 * bytes).fma(weight, a7);
        }
        a0.intoArray(acc, col);
        a1.intoArray(acc, col + LANES);
        a2.intoArray(acc, col + 2 * LANES);
        a3.intoArray(acc, col + 3 * LANES);
        a4.intoArray(acc, col + 4 * LANES);
        a5.intoArray(acc, col + 5 * LANES);
        a6.intoArray(acc, col + 6 * LANES);
        a7.intoArray(acc, col + 7 * LANES);
    }

    /** Four vectors of columns from {@code col}, every row in order. */
    private static void accumulate4(boolean bf16, float[] weights, int w, MemorySegment v, long row, long stride,
            int count, float[] acc, int col) {
        long bytes = 2L * LANES;
        FloatVector a0 = FloatVector.fromArray(SPECIES, acc, col);
        FloatVector a1 = FloatVector.fromArray(SPECIES, acc, col + LANES);
        FloatVector a2 = FloatVector.fromArray(SPECIES, acc, col + 2 * LANES);
        FloatVector a3 = FloatVector.fromArray(SPECIES, acc, col + 3 * LANES);
        for (int i = 0; i < count; i++, row += stride) {
            FloatVector weight = FloatVector.broadcast(SPECIES, weights[w + i]);
            a0 = widen(bf16, v, row).fma(weight, a0);
            a1 = widen(bf16, v, row + bytes).fma(weight, a1);
            a2 = widen(bf16, v, row + 2 * bytes).fma(weight, a2);
            a3 = widen(bf16, v, row + 3 * bytes).fma(weight, a3);
        }
        a0.intoArray(acc, col);
        a1.intoArray(acc, col + LANES);
        a2.intoArray(acc, col + 2 * LANES);
        a3.intoArray(acc, col + 3 * LANES);
    }

    /** One vector of columns from {@code col} (masked past dv), every row in order. */
    private static void accumulate1(boolean bf16, float[] weights, int w, MemorySegment v, long row, long stride,
            int count, float[] acc, int col, int dv) {
        VectorMask<Float> m = SPECIES.indexInRange(col, dv);
        VectorMask<Short> hm = HALVES.indexInRange(col, dv);
        FloatVector a = FloatVector.fromArray(SPECIES, acc, col, m);
        for (int i = 0; i < count; i++, row += stride) {
            a = widen(bf16, v, row, hm).fma(FloatVector.broadcast(SPECIES, weights[w + i]), a);
        }
        a.intoArray(acc, col, m);
    }

    // ---- widening loads

    /** L halves of the given type from {@code offset}, widened exactly. */
    static FloatVector widen(boolean bf16, MemorySegment segment, long offset) {
        IntVector h = halves(ShortVector.fromMemorySegment(HALVES, segment, offset, ORDER));
        return bf16 ? bf16(h) : f16(h);
    }

    /** L halves of the given type from {@code offset}, widened exactly; 0 in lanes outside {@code m}. */
    static FloatVector widen(boolean bf16, MemorySegment segment, long offset, VectorMask<Short> m) {
        IntVector h = halves(ShortVector.fromMemorySegment(HALVES, segment, offset, ORDER, m));
        return bf16 ? bf16(h) : f16(h);
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
     * normals, and it normalises the subnormals. Exponent 31 (infinity, NaN) lands on 2¹⁶·1.m and gets exponent 255.
     */
    private static FloatVector f16(IntVector h) {
        FloatVector magnitude = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(F16_REBIAS);
        IntVector bits = magnitude.reinterpretAsInts();
        bits = bits.blend(bits.or(0x7F800000), h.and(0x7C00).compare(VectorOperators.EQ, 0x7C00));
        return bits.or(h.lanewise(VectorOperators.LSHL, 16).and(0x80000000)).reinterpretAsFloats();
    }

    private static FloatVector load(MemorySegment segment, long offset) {
        return FloatVector.fromMemorySegment(SPECIES, segment, offset, ORDER);
    }

    private static FloatVector load(MemorySegment segment, long offset, VectorMask<Float> m) {
        return FloatVector.fromMemorySegment(SPECIES, segment, offset, ORDER, m);
    }
}
