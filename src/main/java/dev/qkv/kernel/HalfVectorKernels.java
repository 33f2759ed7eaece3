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
 * {@link VectorKernels#scores}, {@link VectorKernels#streamScores} and {@link VectorKernels#accumulate} for keys and
 * values stored as {@link ElementType#F16} or {@link ElementType#BF16}. Each load reads {@code L} halves (L the lanes
 * of {@link VectorKernels#SPECIES}), sign-extends them to ints ({@code vpmovsxwd}) and turns them into floats exactly.
 * Memory is read at two bytes an element.
 *
 * <ul>
 *   <li>{@link #streamScores} (keys from memory, one at a time) and {@link #accumulate} feed each widened vector
 *       straight to its FMA.
 *   <li>{@link #scores} (keys in cache, four at a time) widens a chunk of {@link #CHUNK} rows into a scratch block
 *       that stays in L1 (8 KiB at d = 128), which the float32 kernel then scores; the block costs a store and a load
 *       in L1 per element.
 * </ul>
 *
 * <p>Why the four-key kernel goes through a block: a loop with four widenings and their FMAs (one query load feeding
 * four keys, as the float32 kernel does) is more than C2 inlines ({@code NodeCountInliningCutoff}, "callee is too
 * large" for the widening): it then boxed every widened vector on the heap, 80 MB per call at m = 65536, d = 128, and
 * ran 70 times slower than bfloat16. A loop with one widening is inlined whole.
 *
 * <p>JDK 25's Vector API has no half-float lane type or conversion ({@code VectorOperators.S2F} converts the
 * integer value, not the bits; the {@code Float16Vector} of JDK-8370691 is not in 25), so the widening is integer
 * and float lane-wise operations that C2 compiles to single instructions: bfloat16 is the top half of a float32
 * ({@code bits << 16}); binary16 is described at {@link #f16}.
 *
 * <p>Scores and accumulations of a half tensor are bitwise those of {@code convertTo(arena, F32)} of it: through the
 * block, the float32 kernels run on the exact widening; straight from registers, the FMAs are those of the float32
 * kernels, in their order, and the lane sums {@link VectorKernels#laneSum}'s, fixed in every tier. Their error bounds
 * hold with the rounded halves as the exact inputs. Thread-safe: each thread widens into a block of its own.
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

    /** {@link #CHUNK} rows of {@code cols} floats, the same memory as a float32 tensor, and a chunk's scores. */
    private record Block(int cols, float[] rows, Tensor tensor, float[] scores) {
        Block(int cols) {
            this(cols, new float[CHUNK * cols]);
        }

        private Block(int cols, float[] rows) {
            this(cols, rows, Tensor.wrap(MemorySegment.ofArray(rows), 2, CHUNK, cols, cols), new float[CHUNK]);
        }
    }

    /** This thread's block of {@code blocks} for rows of {@code cols}. */
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

    /**
     * {@link Kernels#streamScores} for half keys, each vector of a key widened in registers and fed straight to its
     * FMA, with no block: two keys at a time when a row is whole vectors ({@link #bf16Dot}), else one at a time
     * ({@link #dotInOrder}). Each key's chain of FMAs and its lane sum are those of the float32
     * {@code streamScores}, so the same bits as it on the widened keys. Over 2²⁰ keys at d = 128 (AVX-512, a
     * throwaway probe) scoring one key at a time took 9–11 ms in bfloat16 from memory against 23–26 through the
     * block, and 17–19 for the float32 keys.
     */
    static void streamScores(Score score, Tensor queries, int query, Tensor keys, int from, int to, float[] scores) {
        int d = queries.cols();
        boolean dot = score.kind() == Score.Kind.DOT;
        float factor = dot ? score.factor() : -score.factor();
        MemorySegment q = queries.segment().asSlice(queries.rowOffset(query), 4L * d);
        boolean bf16 = keys.elementType() == ElementType.BF16;
        if (d % LANES != 0) {
            if (dot) {
                dotInOrder(q, keys, from, to, factor, bf16, scores);
            } else {
                distanceInOrder(q, keys, from, to, factor, bf16, scores);
            }
        } else if (dot && bf16) {
            bf16Dot(q, keys, from, to, factor, scores);
        } else if (dot) {
            f16Dot(q, keys, from, to, factor, scores);
        } else if (bf16) {
            bf16Distance(q, keys, from, to, factor, scores);
        } else {
            f16Distance(q, keys, from, to, factor, scores);
        }
    }

    /**
     * {@code scores[j − from] = factor · qᵀk_j} for bfloat16 keys of whole vectors, two keys at a time: keys j and
     * j + 1 share each query load, their chains of FMAs run side by side and their lane sums are taken together
     * ({@link VectorKernels#laneSums(FloatVector, FloatVector)}); with an odd count the last key is both of the last
     * pair (scored twice, stored once). One key's chain and lane sum are its latency: two at a time, scoring 2²⁰
     * keys at d = 128 from memory took 9.5 ms against 12.6 in bfloat16, 12.3 against 15.3 in binary16 (a throwaway
     * probe, BENCHMARKS.md "half kernels two keys at a time tried").
     *
     * <p>One method per element type and score, with only that type's widening and no masked tail, so that C2's
     * parse of it stays under {@code NodeCountInliningCutoff}: past it, C2 stops inlining the Vector API calls and
     * boxes every vector they return, gigabytes per call. The same loop with both widenings behind a flag (whose
     * branch profile has both in a JVM that met both types) passed it, and so did one binary16 method for both scores
     * or with the masked tail ({@code -XX:+PrintInlining}). {@link #f16Dot}, {@link #bf16Distance} and
     * {@link #f16Distance} are this loop with the other widening or {@code fma(q − k, q − k, a)}.
     */
    private static void bf16Dot(MemorySegment q, Tensor keys, int from, int to, float factor, float[] scores) {
        int d = keys.cols();
        for (int j = from; j < to; j += 2) {
            MemorySegment k0 = row(keys, j);
            MemorySegment k1 = row(keys, Math.min(j + 1, to - 1));
            FloatVector a0 = FloatVector.zero(SPECIES);
            FloatVector a1 = a0;
            for (int i = 0; i < d; i += LANES) {
                FloatVector x = query(q, i);
                a0 = x.fma(bf16(halves(k0, i)), a0);
                a1 = x.fma(bf16(halves(k1, i)), a1);
            }
            FloatVector sums = VectorKernels.laneSums(a0, a1);
            scores[j - from] = factor * sums.lane(0);
            if (j + 1 < to) {
                scores[j + 1 - from] = factor * sums.lane(LANES / 2);
            }
        }
    }

    private static void f16Dot(MemorySegment q, Tensor keys, int from, int to, float factor, float[] scores) {
        int d = keys.cols();
        for (int j = from; j < to; j += 2) {
            MemorySegment k0 = row(keys, j);
            MemorySegment k1 = row(keys, Math.min(j + 1, to - 1));
            FloatVector a0 = FloatVector.zero(SPECIES);
            FloatVector a1 = a0;
            for (int i = 0; i < d; i += LANES) {
                FloatVector x = query(q, i);
                a0 = x.fma(f16(halves(k0, i)), a0);
                a1 = x.fma(f16(halves(k1, i)), a1);
            }
            FloatVector sums = VectorKernels.laneSums(a0, a1);
            scores[j - from] = factor * sums.lane(0);
            if (j + 1 < to) {
                scores[j + 1 - from] = factor * sums.lane(LANES / 2);
            }
        }
    }

    private static void bf16Distance(MemorySegment q, Tensor keys, int from, int to, float factor, float[] scores) {
        int d = keys.cols();
        for (int j = from; j < to; j += 2) {
            MemorySegment k0 = row(keys, j);
            MemorySegment k1 = row(keys, Math.min(j + 1, to - 1));
            FloatVector a0 = FloatVector.zero(SPECIES);
            FloatVector a1 = a0;
            for (int i = 0; i < d; i += LANES) {
                FloatVector x = query(q, i);
                FloatVector e0 = x.sub(bf16(halves(k0, i)));
                FloatVector e1 = x.sub(bf16(halves(k1, i)));
                a0 = e0.fma(e0, a0);
                a1 = e1.fma(e1, a1);
            }
            FloatVector sums = VectorKernels.laneSums(a0, a1);
            scores[j - from] = factor * sums.lane(0);
            if (j + 1 < to) {
                scores[j + 1 - from] = factor * sums.lane(LANES / 2);
            }
        }
    }

    private static void f16Distance(MemorySegment q, Tensor keys, int from, int to, float factor, float[] scores) {
        int d = keys.cols();
        for (int j = from; j < to; j += 2) {
            MemorySegment k0 = row(keys, j);
            MemorySegment k1 = row(keys, Math.min(j + 1, to - 1));
            FloatVector a0 = FloatVector.zero(SPECIES);
            FloatVector a1 = a0;
            for (int i = 0; i < d; i += LANES) {
                FloatVector x = query(q, i);
                FloatVector e0 = x.sub(f16(halves(k0, i)));
                FloatVector e1 = x.sub(f16(halves(k1, i)));
                a0 = e0.fma(e0, a0);
                a1 = e1.fma(e1, a1);
            }
            FloatVector sums = VectorKernels.laneSums(a0, a1);
            scores[j - from] = factor * sums.lane(0);
            if (j + 1 < to) {
                scores[j + 1 - from] = factor * sums.lane(LANES / 2);
            }
        }
    }

    /** Row {@code i} of a half matrix as a slice of its {@code cols} halves. */
    private static MemorySegment row(Tensor t, int i) {
        return t.segment().asSlice(t.rowOffset(i), 2L * t.cols());
    }

    /**
     * {@code scores[j − from] = factor · qᵀk_j}, one key at a time: a slice of the row, whose length is known, so C2
     * drops the bounds check of every load (three times faster in cache than offsets into the whole segment). One
     * widening in the loop: the choice of element type is the same for every key, and C2 allocated nothing for it
     * ({@code -prof gc}, 2²⁰ keys in f16 and bf16).
     */
    private static void dotInOrder(MemorySegment q, Tensor keys, int from, int to, float factor, boolean bf16,
            float[] scores) {
        int d = keys.cols();
        int full = d - d % LANES;
        VectorMask<Float> tail = SPECIES.indexInRange(full, d);
        VectorMask<Short> halfTail = HALVES.indexInRange(full, d);
        for (int j = from; j < to; j++) {
            MemorySegment key = keys.segment().asSlice(keys.rowOffset(j), 2L * d);
            FloatVector a = FloatVector.zero(SPECIES);
            for (int i = 0; i < full; i += LANES) {
                a = query(q, i).fma(widen(halves(key, i), bf16), a);
            }
            if (full < d) {
                a = query(q, full, tail).fma(widen(halves(key, full, halfTail), bf16), a);
            }
            scores[j - from] = factor * VectorKernels.laneSum(a);
        }
    }

    /** {@link #dotInOrder} for {@code factor · ‖q − k_j‖²}, each difference squared by one FMA. */
    private static void distanceInOrder(MemorySegment q, Tensor keys, int from, int to, float factor, boolean bf16,
            float[] scores) {
        int d = keys.cols();
        int full = d - d % LANES;
        VectorMask<Float> tail = SPECIES.indexInRange(full, d);
        VectorMask<Short> halfTail = HALVES.indexInRange(full, d);
        for (int j = from; j < to; j++) {
            MemorySegment key = keys.segment().asSlice(keys.rowOffset(j), 2L * d);
            FloatVector a = FloatVector.zero(SPECIES);
            for (int i = 0; i < full; i += LANES) {
                FloatVector diff = query(q, i).sub(widen(halves(key, i), bf16));
                a = diff.fma(diff, a);
            }
            if (full < d) {
                FloatVector diff = query(q, full, tail).sub(widen(halves(key, full, halfTail), bf16));
                a = diff.fma(diff, a);
            }
            scores[j - from] = factor * VectorKernels.laneSum(a);
        }
    }

    /** The halves as floats: {@link #bf16} or {@link #f16}. */
    private static FloatVector widen(IntVector h, boolean bf16) {
        return bf16 ? bf16(h) : f16(h);
    }

    /** The query's floats from element {@code i}. */
    private static FloatVector query(MemorySegment q, int i) {
        return FloatVector.fromMemorySegment(SPECIES, q, 4L * i, ORDER);
    }

    private static FloatVector query(MemorySegment q, int i, VectorMask<Float> m) {
        return FloatVector.fromMemorySegment(SPECIES, q, 4L * i, ORDER, m);
    }

    /** {@link #LANES} halves of a row from element {@code i}, sign-extended to ints. */
    private static IntVector halves(MemorySegment row, int i) {
        return halves(ShortVector.fromMemorySegment(HALVES, row, 2L * i, ORDER));
    }

    private static IntVector halves(MemorySegment row, int i, VectorMask<Short> m) {
        return halves(ShortVector.fromMemorySegment(HALVES, row, 2L * i, ORDER, m));
    }

    /**
     * {@link Kernels#accumulate} for half values, each vector of a row widened in registers and fed to its FMA with
     * the row's weight, the sums loaded from and stored to {@code acc} (in L1) around it: two rows per load and store
     * of the sums when a row is whole vectors ({@link #bf16Accumulate}), else one ({@link #accumulateRows}). Every
     * column sums its rows in row order with one FMA each, as the float32 kernel does: the same bits as it on the
     * widened values.
     */
    static void accumulate(float[] weights, int at, Tensor values, int from, int to, float[] acc) {
        if (values.cols() % LANES != 0) {
            accumulateRows(weights, at, values, from, to, acc);
        } else if (values.elementType() == ElementType.BF16) {
            bf16Accumulate(weights, at, values, from, to, acc);
        } else {
            f16Accumulate(weights, at, values, from, to, acc);
        }
    }

    /**
     * {@link #accumulate} of bfloat16 rows of whole vectors, two rows per pass over {@code acc}: {@code acc[j] =
     * fma(v₁[j], w₁, fma(v₀[j], w₀, acc[j]))}, the FMAs of one row at a time, with a load and store of the sums
     * between them saved (over 2²⁰ rows at d = 128 from memory, 9.5 against 11.4 ms in bfloat16, 10.1 against 12.0
     * in binary16, a throwaway probe); an odd count's last row alone. One method per element type, with no masked
     * tail, for the reason given at {@link #bf16Dot}; {@link #f16Accumulate} is this one with the other widening.
     */
    private static void bf16Accumulate(float[] weights, int at, Tensor values, int from, int to, float[] acc) {
        int dv = values.cols();
        int shift = at - from; // row i's weight is weights[shift + i]
        int i = from;
        for (; i < to - 1; i += 2) {
            MemorySegment r0 = row(values, i);
            MemorySegment r1 = row(values, i + 1);
            FloatVector w0 = FloatVector.broadcast(SPECIES, weights[shift + i]);
            FloatVector w1 = FloatVector.broadcast(SPECIES, weights[shift + i + 1]);
            for (int j = 0; j < dv; j += LANES) {
                FloatVector a = bf16(halves(r0, j)).fma(w0, FloatVector.fromArray(SPECIES, acc, j));
                bf16(halves(r1, j)).fma(w1, a).intoArray(acc, j);
            }
        }
        if (i < to) {
            MemorySegment r0 = row(values, i);
            FloatVector w0 = FloatVector.broadcast(SPECIES, weights[shift + i]);
            for (int j = 0; j < dv; j += LANES) {
                bf16(halves(r0, j)).fma(w0, FloatVector.fromArray(SPECIES, acc, j)).intoArray(acc, j);
            }
        }
    }

    /** {@link #bf16Accumulate} for binary16 rows. */
    private static void f16Accumulate(float[] weights, int at, Tensor values, int from, int to, float[] acc) {
        int dv = values.cols();
        int shift = at - from; // row i's weight is weights[shift + i]
        int i = from;
        for (; i < to - 1; i += 2) {
            MemorySegment r0 = row(values, i);
            MemorySegment r1 = row(values, i + 1);
            FloatVector w0 = FloatVector.broadcast(SPECIES, weights[shift + i]);
            FloatVector w1 = FloatVector.broadcast(SPECIES, weights[shift + i + 1]);
            for (int j = 0; j < dv; j += LANES) {
                FloatVector a = f16(halves(r0, j)).fma(w0, FloatVector.fromArray(SPECIES, acc, j));
                f16(halves(r1, j)).fma(w1, a).intoArray(acc, j);
            }
        }
        if (i < to) {
            MemorySegment r0 = row(values, i);
            FloatVector w0 = FloatVector.broadcast(SPECIES, weights[shift + i]);
            for (int j = 0; j < dv; j += LANES) {
                f16(halves(r0, j)).fma(w0, FloatVector.fromArray(SPECIES, acc, j)).intoArray(acc, j);
            }
        }
    }

    /**
     * {@link #accumulate} one row at a time, any width: the last columns in a masked vector.
     *
     * <p>Not the float32 kernel's eight vectors of sums held in registers across rows: eight widenings in one loop
     * (four for binary16) are more than C2 inlines, and it boxed them, 136 bytes a row (285 MB per call over 2²⁰ rows
     * at dv = 128, binary16). With one widening in the loop over columns nothing is allocated.
     */
    private static void accumulateRows(float[] weights, int at, Tensor values, int from, int to, float[] acc) {
        int dv = values.cols();
        int full = dv - dv % LANES;
        VectorMask<Float> tail = SPECIES.indexInRange(full, dv);
        VectorMask<Short> halfTail = HALVES.indexInRange(full, dv);
        boolean bf16 = values.elementType() == ElementType.BF16;
        for (int i = from; i < to; i++) {
            MemorySegment row = values.segment().asSlice(values.rowOffset(i), 2L * dv); // no bounds check per load
            FloatVector w = FloatVector.broadcast(SPECIES, weights[at + i - from]);
            for (int j = 0; j < full; j += LANES) {
                widen(halves(row, j), bf16).fma(w, FloatVector.fromArray(SPECIES, acc, j)).intoArray(acc, j);
            }
            if (full < dv) {
                widen(halves(row, full, halfTail), bf16).fma(w, FloatVector.fromArray(SPECIES, acc, full, tail))
                        .intoArray(acc, full, tail);
            }
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
