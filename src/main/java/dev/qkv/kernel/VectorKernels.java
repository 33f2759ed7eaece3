package dev.qkv.kernel;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The kernels in {@code jdk.incubator.vector}: {@link FloatVector}s of one species (128, 256 or 512 bits)
 * over the tensors' {@link MemorySegment}s, at {@code long} byte offsets into one segment, FMA throughout,
 * masked loads for the tails so any dimension works. Results agree with {@link ScalarKernels} within the
 * bounds the properties state; they differ in the last bits because sums are split over lanes and
 * accumulators, products are fused into FMAs, and {@code exp} is the Vector API's.
 *
 * <p>Only loaded when module {@code jdk.incubator.vector} is present: {@link KernelProvider} reaches this
 * class by reflection. Stateless and thread-safe.
 */
public abstract sealed class VectorKernels implements Kernels
        permits VectorKernels.Bits128, VectorKernels.Bits256, VectorKernels.Bits512 {

    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private VectorKernels() {}

    /**
     * Kernels on vectors of {@code bits} bits.
     *
     * @throws IllegalArgumentException if bits is not 128, 256 or 512
     */
    public static Kernels of(int bits) {
        return switch (bits) {
            case 128 -> new Bits128();
            case 256 -> new Bits256();
            case 512 -> new Bits512();
            default -> throw new IllegalArgumentException("vector bits must be 128, 256 or 512, got " + bits);
        };
    }

    /** The width of {@link FloatVector#SPECIES_PREFERRED} on this CPU, in bits. */
    public static int preferredBits() {
        return FloatVector.SPECIES_PREFERRED.vectorBitSize();
    }

    /**
     * The species of every vector here. Each subclass returns a static final constant: C2 inlines this call
     * (one subclass loaded: by class hierarchy analysis; otherwise from the receiver profile) and then sees
     * a constant species, which the Vector API needs to compile its calls to single instructions. A species
     * in an instance field would not be constant, and every vector operation would fall back to Java code.
     */
    abstract VectorSpecies<Float> species();

    /** The vector width, in bits. */
    public final int bits() {
        return species().vectorBitSize();
    }

    @Override
    public final String name() {
        return "vector";
    }

    /**
     * Many queries as FlashAttention tiles ({@link FlashTiles}), at the CPU's preferred vector width whatever
     * width these kernels were made for: the tiles' species must be a compile-time constant too.
     */
    @Override
    public final boolean poolTiles(float factor, Tensor queries, Tensor keys, Tensor values, int[] ends,
            PartialRows out, Pooling.Parallel parallel) {
        TilePooling.pool(factor, queries, keys, values, ends, out, parallel);
        return true;
    }

    @Override
    public final String toString() {
        return "vector kernels, " + bits() + "-bit";
    }

    @Override
    public final float dot(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int length) {
        VectorSpecies<Float> s = species();
        int step = s.length();
        // Four accumulators: an FMA waits about 4 cycles for its previous result, so one chain would
        // use a quarter of one FMA pipe.
        FloatVector a0 = FloatVector.zero(s);
        FloatVector a1 = FloatVector.zero(s);
        FloatVector a2 = FloatVector.zero(s);
        FloatVector a3 = FloatVector.zero(s);
        int i = 0;
        for (; i <= length - 4 * step; i += 4 * step) {
            long b = 4L * i;
            long bytes = 4L * step;
            a0 = load(s, x, xOffset + b).fma(load(s, y, yOffset + b), a0);
            a1 = load(s, x, xOffset + b + bytes).fma(load(s, y, yOffset + b + bytes), a1);
            a2 = load(s, x, xOffset + b + 2 * bytes).fma(load(s, y, yOffset + b + 2 * bytes), a2);
            a3 = load(s, x, xOffset + b + 3 * bytes).fma(load(s, y, yOffset + b + 3 * bytes), a3);
        }
        for (; i <= length - step; i += step) {
            a0 = load(s, x, xOffset + 4L * i).fma(load(s, y, yOffset + 4L * i), a0);
        }
        if (i < length) {
            VectorMask<Float> m = s.indexInRange(i, length);
            a1 = load(s, x, xOffset + 4L * i, m).fma(load(s, y, yOffset + 4L * i, m), a1);
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }

    @Override
    public final float squaredDistance(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int length) {
        VectorSpecies<Float> s = species();
        int step = s.length();
        FloatVector a0 = FloatVector.zero(s);
        FloatVector a1 = FloatVector.zero(s);
        FloatVector a2 = FloatVector.zero(s);
        FloatVector a3 = FloatVector.zero(s);
        int i = 0;
        for (; i <= length - 4 * step; i += 4 * step) {
            long b = 4L * i;
            long bytes = 4L * step;
            FloatVector d0 = load(s, x, xOffset + b).sub(load(s, y, yOffset + b));
            FloatVector d1 = load(s, x, xOffset + b + bytes).sub(load(s, y, yOffset + b + bytes));
            FloatVector d2 = load(s, x, xOffset + b + 2 * bytes).sub(load(s, y, yOffset + b + 2 * bytes));
            FloatVector d3 = load(s, x, xOffset + b + 3 * bytes).sub(load(s, y, yOffset + b + 3 * bytes));
            a0 = d0.fma(d0, a0);
            a1 = d1.fma(d1, a1);
            a2 = d2.fma(d2, a2);
            a3 = d3.fma(d3, a3);
        }
        for (; i <= length - step; i += step) {
            FloatVector d0 = load(s, x, xOffset + 4L * i).sub(load(s, y, yOffset + 4L * i));
            a0 = d0.fma(d0, a0);
        }
        if (i < length) {
            VectorMask<Float> m = s.indexInRange(i, length);
            FloatVector d1 = load(s, x, xOffset + 4L * i, m).sub(load(s, y, yOffset + 4L * i, m));
            a1 = d1.fma(d1, a1);
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }

    @Override
    public final void scores(Score score, Tensor queries, int query, Tensor keys, int from, int to, float[] scores) {
        MemorySegment q = queries.segment();
        MemorySegment k = keys.segment();
        long qOffset = queries.rowOffset(query);
        long stride = 4L * keys.rowStride();
        int d = queries.cols();
        boolean dot = score.kind() == Score.Kind.DOT;
        float factor = dot ? score.factor() : -score.factor();
        int j = from;
        for (; j <= to - 4; j += 4) {
            score4(dot, q, qOffset, k, j * stride, stride, d, factor, scores, j - from);
        }
        if (j == to) {
            return;
        }
        // Every key goes through score4, so a key's score depends on the query and the key alone: a kernel of its
        // own for the last keys would be compiled by C2 at another time than score4, and C2's reduceLanes(ADD) sums
        // the lanes in another order than the Java fallback before it, so identical keys could score differently.
        if (to - from >= 4) {
            score4(dot, q, qOffset, k, (to - 4) * stride, stride, d, factor, scores, to - 4 - from);
        } else {
            float[] four = new float[4];
            for (; j < to; j++) {
                score4(dot, q, qOffset, k, j * stride, 0, d, factor, four, 0); // the same key four times
                scores[j - from] = four[0];
            }
        }
    }

    private void score4(boolean dot, MemorySegment q, long qOffset, MemorySegment k, long kOffset, long stride, int d,
            float factor, float[] scores, int at) {
        if (dot) {
            dot4(q, qOffset, k, kOffset, stride, d, factor, scores, at);
        } else {
            squaredDistance4(q, qOffset, k, kOffset, stride, d, factor, scores, at);
        }
    }

    /**
     * {@code scores[at + r] = factor · qᵀk_r} for the four keys at {@code kOffset + r·stride}: each query
     * vector loaded feeds four FMAs, one per key, and the four sums are independent chains.
     */
    private void dot4(MemorySegment q, long qOffset, MemorySegment k, long kOffset, long stride, int d,
            float factor, float[] scores, int at) {
        VectorSpecies<Float> s = species();
        int step = s.length();
        FloatVector a0 = FloatVector.zero(s);
        FloatVector a1 = FloatVector.zero(s);
        FloatVector a2 = FloatVector.zero(s);
        FloatVector a3 = FloatVector.zero(s);
        int i = 0;
        for (; i <= d - step; i += step) {
            long b = 4L * i;
            FloatVector qv = load(s, q, qOffset + b);
            a0 = qv.fma(load(s, k, kOffset + b), a0);
            a1 = qv.fma(load(s, k, kOffset + stride + b), a1);
            a2 = qv.fma(load(s, k, kOffset + 2 * stride + b), a2);
            a3 = qv.fma(load(s, k, kOffset + 3 * stride + b), a3);
        }
        if (i < d) {
            long b = 4L * i;
            VectorMask<Float> m = s.indexInRange(i, d);
            FloatVector qv = load(s, q, qOffset + b, m);
            a0 = qv.fma(load(s, k, kOffset + b, m), a0);
            a1 = qv.fma(load(s, k, kOffset + stride + b, m), a1);
            a2 = qv.fma(load(s, k, kOffset + 2 * stride + b, m), a2);
            a3 = qv.fma(load(s, k, kOffset + 3 * stride + b, m), a3);
        }
        scores[at] = factor * a0.reduceLanes(VectorOperators.ADD);
        scores[at + 1] = factor * a1.reduceLanes(VectorOperators.ADD);
        scores[at + 2] = factor * a2.reduceLanes(VectorOperators.ADD);
        scores[at + 3] = factor * a3.reduceLanes(VectorOperators.ADD);
    }

    /** {@link #dot4} for {@code −‖q − k_r‖²}: one query load, four differences, four FMAs. */
    private void squaredDistance4(MemorySegment q, long qOffset, MemorySegment k, long kOffset, long stride,
            int d, float factor, float[] scores, int at) {
        VectorSpecies<Float> s = species();
        int step = s.length();
        FloatVector a0 = FloatVector.zero(s);
        FloatVector a1 = FloatVector.zero(s);
        FloatVector a2 = FloatVector.zero(s);
        FloatVector a3 = FloatVector.zero(s);
        int i = 0;
        for (; i <= d - step; i += step) {
            long b = 4L * i;
            FloatVector qv = load(s, q, qOffset + b);
            FloatVector d0 = qv.sub(load(s, k, kOffset + b));
            FloatVector d1 = qv.sub(load(s, k, kOffset + stride + b));
            FloatVector d2 = qv.sub(load(s, k, kOffset + 2 * stride + b));
            FloatVector d3 = qv.sub(load(s, k, kOffset + 3 * stride + b));
            a0 = d0.fma(d0, a0);
            a1 = d1.fma(d1, a1);
            a2 = d2.fma(d2, a2);
            a3 = d3.fma(d3, a3);
        }
        if (i < d) {
            long b = 4L * i;
            VectorMask<Float> m = s.indexInRange(i, d);
            FloatVector qv = load(s, q, qOffset + b, m);
            FloatVector d0 = qv.sub(load(s, k, kOffset + b, m));
            FloatVector d1 = qv.sub(load(s, k, kOffset + stride + b, m));
            FloatVector d2 = qv.sub(load(s, k, kOffset + 2 * stride + b, m));
            FloatVector d3 = qv.sub(load(s, k, kOffset + 3 * stride + b, m));
            a0 = d0.fma(d0, a0);
            a1 = d1.fma(d1, a1);
            a2 = d2.fma(d2, a2);
            a3 = d3.fma(d3, a3);
        }
        scores[at] = factor * a0.reduceLanes(VectorOperators.ADD);
        scores[at + 1] = factor * a1.reduceLanes(VectorOperators.ADD);
        scores[at + 2] = factor * a2.reduceLanes(VectorOperators.ADD);
        scores[at + 3] = factor * a3.reduceLanes(VectorOperators.ADD);
    }

    @Override
    public final float max(float[] x, int from, int to) {
        VectorSpecies<Float> s = species();
        FloatVector max = FloatVector.broadcast(s, Float.NEGATIVE_INFINITY);
        int i = from;
        for (; i <= to - s.length(); i += s.length()) {
            max = max.max(FloatVector.fromArray(s, x, i));
        }
        if (i < to) {
            VectorMask<Float> m = s.indexInRange(i, to);
            max = max.lanewise(VectorOperators.MAX, FloatVector.fromArray(s, x, i, m), m);
        }
        return max.reduceLanes(VectorOperators.MAX);
    }

    /**
     * {@code exp} is {@code lanewise(EXP)}, the JDK's SVML stub on x86: within 0.75 ulp of the exact e^x over
     * every float in [−105, 0] (subnormal results within 0.5 ulp), exactly 1 at 0 and 0 at −∞. It beat a
     * degree-6 polynomial of our own (1.01 ulp) on speed too: 0.47 against 0.6–0.8 ns a float in L1 on
     * 256-bit vectors, and far more before C2 compiles them (see the commit that dropped VectorExp).
     */
    @Override
    public final float expAndSum(float[] x, int from, int to, float shift) {
        VectorSpecies<Float> s = species();
        FloatVector sum = FloatVector.zero(s);
        int i = from;
        for (; i <= to - s.length(); i += s.length()) {
            FloatVector e = FloatVector.fromArray(s, x, i).sub(shift).lanewise(VectorOperators.EXP);
            e.intoArray(x, i);
            sum = sum.add(e);
        }
        if (i < to) {
            VectorMask<Float> m = s.indexInRange(i, to);
            FloatVector e = FloatVector.fromArray(s, x, i, m).sub(shift).lanewise(VectorOperators.EXP);
            e.intoArray(x, i, m);
            sum = sum.add(e, m);
        }
        return sum.reduceLanes(VectorOperators.ADD);
    }

    @Override
    public final void scale(float[] x, int from, int to, float factor) {
        VectorSpecies<Float> s = species();
        int i = from;
        for (; i <= to - s.length(); i += s.length()) {
            FloatVector.fromArray(s, x, i).mul(factor).intoArray(x, i);
        }
        if (i < to) {
            VectorMask<Float> m = s.indexInRange(i, to);
            FloatVector.fromArray(s, x, i, m).mul(factor).intoArray(x, i, m);
        }
    }

    /**
     * Four value rows per pass over {@code acc}: each load and store of an output vector serves four FMAs,
     * and the four rows are read front to back, side by side, so the hardware prefetcher sees one stream.
     */
    @Override
    public final void accumulate(float[] weights, Tensor values, int from, int to, float[] acc) {
        MemorySegment v = values.segment();
        long stride = 4L * values.rowStride();
        long row = from * stride;
        int dv = values.cols();
        int i = from;
        for (; i <= to - 4; i += 4, row += 4 * stride) {
            int w = i - from;
            accumulate4(weights[w], weights[w + 1], weights[w + 2], weights[w + 3], v, row, stride, dv, acc);
        }
        for (; i < to; i++, row += stride) {
            accumulate1(weights[i - from], v, row, dv, acc);
        }
    }

    private void accumulate4(float w0, float w1, float w2, float w3, MemorySegment v, long row, long stride, int dv,
            float[] acc) {
        VectorSpecies<Float> s = species();
        FloatVector v0 = FloatVector.broadcast(s, w0);
        FloatVector v1 = FloatVector.broadcast(s, w1);
        FloatVector v2 = FloatVector.broadcast(s, w2);
        FloatVector v3 = FloatVector.broadcast(s, w3);
        int j = 0;
        for (; j <= dv - s.length(); j += s.length()) {
            long b = row + 4L * j;
            FloatVector a = FloatVector.fromArray(s, acc, j);
            a = load(s, v, b).fma(v0, a);
            a = load(s, v, b + stride).fma(v1, a);
            a = load(s, v, b + 2 * stride).fma(v2, a);
            a = load(s, v, b + 3 * stride).fma(v3, a);
            a.intoArray(acc, j);
        }
        if (j < dv) {
            long b = row + 4L * j;
            VectorMask<Float> m = s.indexInRange(j, dv);
            FloatVector a = FloatVector.fromArray(s, acc, j, m);
            a = load(s, v, b, m).fma(v0, a);
            a = load(s, v, b + stride, m).fma(v1, a);
            a = load(s, v, b + 2 * stride, m).fma(v2, a);
            a = load(s, v, b + 3 * stride, m).fma(v3, a);
            a.intoArray(acc, j, m);
        }
    }

    private void accumulate1(float weight, MemorySegment v, long row, int dv, float[] acc) {
        VectorSpecies<Float> s = species();
        FloatVector w = FloatVector.broadcast(s, weight);
        int j = 0;
        for (; j <= dv - s.length(); j += s.length()) {
            load(s, v, row + 4L * j).fma(w, FloatVector.fromArray(s, acc, j)).intoArray(acc, j);
        }
        if (j < dv) {
            VectorMask<Float> m = s.indexInRange(j, dv);
            load(s, v, row + 4L * j, m).fma(w, FloatVector.fromArray(s, acc, j, m)).intoArray(acc, j, m);
        }
    }

    /**
     * Online softmax over blocks of {@link #BLOCK} keys, as {@link ScalarKernels#pool}: score a block of
     * keys (streaming its key rows once), then stream the same block's value rows once, so K and V are each
     * read once in order.
     */
    @Override
    public final void pool(Score score, Tensor queries, int query, Tensor keys, Tensor values, int from, int to,
            RowState state) {
        float[] block = state.block;
        for (int start = from; start < to; start += BLOCK) {
            int end = Math.min(start + BLOCK, to);
            int count = end - start;
            scores(score, queries, query, keys, start, end, block);
            float blockMax = max(block, 0, count);
            if (blockMax == Float.NEGATIVE_INFINITY) {
                continue; // every weight in this block is exactly 0
            }
            if (blockMax > state.max) {
                float rescale = (float) Math.exp(state.max - blockMax);
                scale(state.acc, 0, state.acc.length, rescale);
                state.sum *= rescale;
                state.max = blockMax;
            }
            state.sum += expAndSum(block, 0, count, state.max);
            accumulate(block, values, start, end, state.acc);
        }
    }

    private static FloatVector load(VectorSpecies<Float> s, MemorySegment segment, long offset) {
        return FloatVector.fromMemorySegment(s, segment, offset, ORDER);
    }

    private static FloatVector load(VectorSpecies<Float> s, MemorySegment segment, long offset, VectorMask<Float> m) {
        return FloatVector.fromMemorySegment(s, segment, offset, ORDER, m);
    }

    static final class Bits128 extends VectorKernels {
        private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_128;

        @Override
        VectorSpecies<Float> species() {
            return SPECIES;
        }
    }

    static final class Bits256 extends VectorKernels {
        private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_256;

        @Override
        VectorSpecies<Float> species() {
            return SPECIES;
        }
    }

    static final class Bits512 extends VectorKernels {
        private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_512;

        @Override
        VectorSpecies<Float> species() {
            return SPECIES;
        }
    }
}
