package dev.qkv.kernel;

import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The kernels in {@code jdk.incubator.vector}: {@link FloatVector}s of one species over the tensors'
 * {@link MemorySegment}s, at {@code long} byte offsets into one segment, FMA throughout, masked loads for the
 * tails so any dimension works. Results agree with {@link ScalarKernels} within the bounds the properties
 * state; they differ in the last bits because sums are split over lanes and accumulators, products are fused
 * into FMAs, and {@code exp} is the Vector API's.
 *
 * <p>The species is {@link #SPECIES}, a {@code static final} constant chosen once per JVM, as Lucene's
 * {@code PanamaVectorUtilSupport} does: C2 compiles a Vector API call to single instructions only when it
 * sees a constant species. (A virtual {@code species()} on one subclass per width lost the constant as soon as
 * a JVM had used two widths, and every vector operation then ran as Java fallback code: one query at
 * m = 4096, d = 128 went from 93 µs to 2.8 ms.) The tile micro-kernels use the same constant.
 *
 * <p>Only loaded when module {@code jdk.incubator.vector} is present: {@link KernelProvider} names this class
 * in a nested holder that only the vector path initialises. Stateless and thread-safe.
 */
public final class VectorKernels implements Kernels {

    /**
     * The species of every vector of qkv: the CPU's preferred one, or the width that system property
     * {@value KernelProvider#BITS_PROPERTY} names (128, 256 or 512), read once when this class is loaded. Another
     * width than the preferred one is for tests, in a JVM of their own.
     */
    static final VectorSpecies<Float> SPECIES = species(System.getProperty(KernelProvider.BITS_PROPERTY));

    /** The one instance. */
    static final VectorKernels INSTANCE = new VectorKernels();

    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    /** Value rows per pass of {@link #accumulate}'s column chunks: a pass's rows (128 KiB at dv = 128) stay in L2. */
    private static final int ROWS_PER_PASS = 256;

    /**
     * {@link VectorMath#exp}'s constants in an array, so that C2 broadcasts each once before {@link #expRows}' loop
     * rather than once per use (a {@code static final float} is a constant it re-materialises): log₂ e, the shifter,
     * −ln 2 high and low, P0–P5, 1, 2⁻⁶⁴ and the lowest input.
     */
    private static final float[] EXP_CONSTANTS = VectorMath.expConstants();

    private VectorKernels() {}

    /**
     * The species {@code bits} names, or the preferred one when it is null. {@link KernelProvider} refuses a bad
     * value before this class is loaded; should it be loaded another way, a bad value means the preferred species.
     */
    private static VectorSpecies<Float> species(String bits) {
        return switch (bits == null ? "" : bits.trim()) {
            case "128" -> FloatVector.SPECIES_128;
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            default -> FloatVector.SPECIES_PREFERRED;
        };
    }

    /** The width of {@link FloatVector#SPECIES_PREFERRED} on this CPU, in bits. */
    static int preferredBits() {
        return FloatVector.SPECIES_PREFERRED.vectorBitSize();
    }

    /** The vector width of this JVM, in bits. */
    public int bits() {
        return SPECIES.vectorBitSize();
    }

    @Override
    public String name() {
        return "vector";
    }

    @Override
    public String toString() {
        return "vector kernels, " + bits() + "-bit";
    }

    /**
     * Four accumulators, over slices of known length. Kept under C2's limit for inlining a hot callee (325 bytes of
     * bytecode) by the small steps {@link #dotStep} and {@link #distanceStep}, so that a caller's loop inlines it, and
     * C2 hoists the segments' type, liveness and slice checks out of that loop: at 393 bytes it was called every time
     * ("callee is too large" in {@code -XX:+PrintInlining}), and a throwaway loop of {@code dot}s at d = 128 took
     * 7.6–10 ns each against 4.3–4.5 inlined (AVX-512). Inside, C2 still compares each load with the slice's length.
     */
    @Override
    public float dot(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int length) {
        // Slices of known length: the loop over offsets into the whole segments measured 0.5-0.7x Lucene's over
        // float[] at d = 100 and 128.
        MemorySegment a = x.asSlice(xOffset, 4L * length);
        MemorySegment b = y.asSlice(yOffset, 4L * length);
        // Four accumulators: an FMA waits about 4 cycles for its previous result, so one chain would
        // use a quarter of one FMA pipe.
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        int step = SPECIES.length();
        int i = 0;
        for (; i <= length - 4 * step; i += 4 * step) {
            a0 = dotStep(a, b, i, a0);
            a1 = dotStep(a, b, i + step, a1);
            a2 = dotStep(a, b, i + 2 * step, a2);
            a3 = dotStep(a, b, i + 3 * step, a3);
        }
        // Fewer than four vectors left: each into an accumulator of its own, with no loop, then the rest (dotRest). (A
        // loop of one to three steps cost d = 100 a third more in a throwaway probe; JMH saw no difference.)
        if (i <= length - step) {
            a0 = dotStep(a, b, i, a0);
            i += step;
            if (i <= length - step) {
                a1 = dotStep(a, b, i, a1);
                i += step;
                if (i <= length - step) {
                    a2 = dotStep(a, b, i, a2);
                    i += step;
                }
            }
        }
        if (i < length) {
            a3 = dotRest(a, b, i, length, a3);
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }

    /** {@code acc + a[i..] · b[i..]}, one vector, lanewise. */
    private static FloatVector dotStep(MemorySegment a, MemorySegment b, int i, FloatVector acc) {
        return load(SPECIES, a, 4L * i).fma(load(SPECIES, b, 4L * i), acc);
    }

    /**
     * {@link #dotStep} for the last {@code length − i} elements, fewer than a vector: in a row of a vector or more,
     * the whole vector that ends at the row's last element, its lanes before element i zeroed in both operands
     * ({@link #fresh}); else masked loads. A masked load that reaches past the slice fails the Vector API's fast
     * bounds test and checks its mask lane by lane: at d = 100 (AVX-512, alternated A/B) 12.8–12.9 ns a call that
     * way, 11.4–11.7 this way.
     */
    private static FloatVector dotRest(MemorySegment a, MemorySegment b, int i, int length, FloatVector acc) {
        int last = length - SPECIES.length();
        if (last >= 0) { // both zeroed: 0 · ∞ would be NaN
            VectorMask<Float> fresh = fresh(length - i);
            FloatVector zero = FloatVector.zero(SPECIES);
            return zero.blend(load(SPECIES, a, 4L * last), fresh).fma(zero.blend(load(SPECIES, b, 4L * last), fresh),
                    acc);
        }
        VectorMask<Float> m = SPECIES.indexInRange(i, length);
        return load(SPECIES, a, 4L * i, m).fma(load(SPECIES, b, 4L * i, m), acc);
    }

    /** The last {@code rest} lanes of a vector, {@code 0 < rest < LANES}. */
    private static VectorMask<Float> fresh(int rest) {
        return VectorMask.fromLong(SPECIES, (-1L << (SPECIES.length() - rest)) & ((1L << SPECIES.length()) - 1));
    }

    /** As {@link #dot}, for {@code ‖x − y‖²}. */
    @Override
    public float squaredDistance(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int length) {
        MemorySegment a = x.asSlice(xOffset, 4L * length); // slices, as in dot
        MemorySegment b = y.asSlice(yOffset, 4L * length);
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        int step = SPECIES.length();
        int i = 0;
        for (; i <= length - 4 * step; i += 4 * step) {
            a0 = distanceStep(a, b, i, a0);
            a1 = distanceStep(a, b, i + step, a1);
            a2 = distanceStep(a, b, i + 2 * step, a2);
            a3 = distanceStep(a, b, i + 3 * step, a3);
        }
        if (i <= length - step) { // as in dot
            a0 = distanceStep(a, b, i, a0);
            i += step;
            if (i <= length - step) {
                a1 = distanceStep(a, b, i, a1);
                i += step;
                if (i <= length - step) {
                    a2 = distanceStep(a, b, i, a2);
                    i += step;
                }
            }
        }
        if (i < length) {
            a3 = distanceRest(a, b, i, length, a3);
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }

    /** {@code acc + (a[i..] − b[i..])²}, one vector, lanewise. */
    private static FloatVector distanceStep(MemorySegment a, MemorySegment b, int i, FloatVector acc) {
        FloatVector d = load(SPECIES, a, 4L * i).sub(load(SPECIES, b, 4L * i));
        return d.fma(d, acc);
    }

    /** {@link #distanceStep} for the last {@code length − i} elements, fewer than a vector, as {@link #dotRest}. */
    private static FloatVector distanceRest(MemorySegment a, MemorySegment b, int i, int length, FloatVector acc) {
        int last = length - SPECIES.length();
        if (last >= 0) {
            FloatVector d = FloatVector.zero(SPECIES).blend(load(SPECIES, a, 4L * last).sub(load(SPECIES, b,
                    4L * last)), fresh(length - i));
            return d.fma(d, acc);
        }
        VectorMask<Float> m = SPECIES.indexInRange(i, length);
        FloatVector d = load(SPECIES, a, 4L * i, m).sub(load(SPECIES, b, 4L * i, m));
        return d.fma(d, acc);
    }

    @Override
    public void scores(Score score, Tensor queries, int query, Tensor keys, int from, int to, float[] scores) {
        scores(score, queries, query, keys, from, to, scores, false);
    }

    /**
     * One key at a time, where {@link #scores} takes four: each key's vectors are loaded front to back, so the loads
     * walk K in the order it lies in memory, and each query vector is loaded again for every key (from L1). Each key's
     * sum is the same chain of FMAs, in the same order, as in the four-key kernel, with the same lane sum: the same
     * bits. Scoring 512 MB of keys from DRAM (m = 2²⁰, d = 128, AVX-512) took 17.5–20 ms this way against 27–33 for
     * four keys at a time, whose loads jump between four rows 512 bytes apart; with the keys in L2 it is the other
     * way round, 4.2 against 3.4 ms for 256 MB (a throwaway probe, CPU time, one JVM).
     */
    @Override
    public void streamScores(Score score, Tensor queries, int query, Tensor keys, int from, int to, float[] scores) {
        scores(score, queries, query, keys, from, to, scores, true);
    }

    /** {@link #scores}, or {@link #streamScores} when {@code inOrder}: one key at a time. */
    private void scores(Score score, Tensor queries, int query, Tensor keys, int from, int to, float[] scores,
            boolean inOrder) {
        if (keys.elementType() != ElementType.F32) {
            if (inOrder) {
                HalfVectorKernels.streamScores(score, queries, query, keys, from, to, scores);
            } else {
                HalfVectorKernels.scores(this, score, queries, query, keys, from, to, scores);
            }
            return;
        }
        MemorySegment q = queries.segment();
        MemorySegment k = keys.segment();
        long qOffset = queries.rowOffset(query);
        long stride = 4L * keys.rowStride();
        int d = queries.cols();
        boolean dot = score.kind() == Score.Kind.DOT;
        float factor = dot ? score.factor() : -score.factor();
        int count = to - from;
        if (inOrder) {
            if (dot) {
                dotScoresInOrder(q, qOffset, k, from * stride, stride, d, count, factor, scores);
            } else {
                distanceScoresInOrder(q, qOffset, k, from * stride, stride, d, count, factor, scores);
            }
            return;
        }
        int quads = count & ~3;
        scores4(dot, q, qOffset, k, from * stride, stride, d, quads, factor, scores, 0);
        if (quads == count) {
            return;
        }
        // Every key goes through the four-key kernel, so a key's score depends on the query and the key alone: a
        // kernel of its own for the last keys would be compiled by C2 at another time, and C2's reduceLanes(ADD)
        // sums the lanes in another order than the Java fallback before it, so identical keys could score
        // differently. The last four keys are scored again (the same bits for those already done).
        if (count >= 4) {
            scores4(dot, q, qOffset, k, (to - 4) * stride, stride, d, 4, factor, scores, count - 4);
        } else {
            float[] four = new float[4];
            for (int j = from; j < to; j++) {
                scores4(dot, q, qOffset, k, j * stride, 0, d, 4, factor, four, 0); // the same key four times
                scores[j - from] = four[0];
            }
        }
    }

    /** {@code scores[j] = factor · qᵀk_j} for the {@code count} keys from {@code kOffset}, one key at a time. */
    private void dotScoresInOrder(MemorySegment q, long qOffset, MemorySegment k, long kOffset, long stride, int d,
            int count, float factor, float[] scores) {
        VectorSpecies<Float> s = SPECIES;
        int step = s.length();
        int full = d - d % step;
        VectorMask<Float> tail = s.indexInRange(full, d);
        MemorySegment query = q.asSlice(qOffset, 4L * d);
        for (int j = 0; j < count; j++) {
            MemorySegment key = k.asSlice(kOffset + j * stride, 4L * d);
            FloatVector a = FloatVector.zero(s);
            for (int i = 0; i < full; i += step) {
                a = load(s, query, 4L * i).fma(load(s, key, 4L * i), a);
            }
            if (full < d) {
                a = load(s, query, 4L * full, tail).fma(load(s, key, 4L * full, tail), a);
            }
            scores[j] = factor * laneSum(a);
        }
    }

    /** {@link #dotScoresInOrder} for {@code factor · ‖q − k_j‖²}, each key's sum as in {@link #distanceScores}. */
    private void distanceScoresInOrder(MemorySegment q, long qOffset, MemorySegment k, long kOffset, long stride,
            int d, int count, float factor, float[] scores) {
        VectorSpecies<Float> s = SPECIES;
        int step = s.length();
        int full = d - d % step;
        VectorMask<Float> tail = s.indexInRange(full, d);
        MemorySegment query = q.asSlice(qOffset, 4L * d);
        for (int j = 0; j < count; j++) {
            MemorySegment key = k.asSlice(kOffset + j * stride, 4L * d);
            FloatVector a = FloatVector.zero(s);
            for (int i = 0; i < full; i += step) {
                FloatVector diff = load(s, query, 4L * i).sub(load(s, key, 4L * i));
                a = diff.fma(diff, a);
            }
            if (full < d) {
                FloatVector diff = load(s, query, 4L * full, tail).sub(load(s, key, 4L * full, tail));
                a = diff.fma(diff, a);
            }
            scores[j] = factor * laneSum(a);
        }
    }

    private void scores4(boolean dot, MemorySegment q, long qOffset, MemorySegment k, long kOffset, long stride,
            int d, int count, float factor, float[] scores, int at) {
        if (dot) {
            dotScores(q, qOffset, k, kOffset, stride, d, count, factor, scores, at);
        } else {
            distanceScores(q, qOffset, k, kOffset, stride, d, count, factor, scores, at);
        }
    }

    /**
     * {@code scores[at + j] = factor · qᵀk_j} for the {@code count} (a multiple of 4) keys from {@code kOffset},
     * four at a time: each query vector loaded feeds four FMAs, one per key, and the four sums are
     * independent chains. The pass over four keys is written inside the loop over keys rather than as a
     * method of its own: as a call per four keys it measured 12% slower (2 KB of keys per call). The offsets of a
     * group's keys are computed from j, not carried from the previous group, and the loop over whole vectors runs to
     * a bound computed once: scoring 512 MB of keys from memory then took 25–26 ms instead of 29–30 (m = 2²⁰,
     * d = 128, AVX-512; the same in L2), with the same loads and FMAs in the same order.
     */
    private void dotScores(MemorySegment q, long qOffset, MemorySegment k, long kOffset, long stride, int d,
            int count, float factor, float[] scores, int at) {
        VectorSpecies<Float> s = SPECIES;
        int step = s.length();
        int full = d - d % step;
        VectorMask<Float> tail = s.indexInRange(full, d);
        MemorySegment query = q.asSlice(qOffset, 4L * d);
        for (int j = 0; j < count; j += 4) {
            long key = kOffset + j * stride;
            // Slices of known length: C2 drops the bounds check of each load (see dotScoresInOrder).
            MemorySegment k0 = k.asSlice(key, 4L * d);
            MemorySegment k1 = k.asSlice(key + stride, 4L * d);
            MemorySegment k2 = k.asSlice(key + 2 * stride, 4L * d);
            MemorySegment k3 = k.asSlice(key + 3 * stride, 4L * d);
            FloatVector a0 = FloatVector.zero(s);
            FloatVector a1 = FloatVector.zero(s);
            FloatVector a2 = FloatVector.zero(s);
            FloatVector a3 = FloatVector.zero(s);
            for (int i = 0; i < full; i += step) {
                long b = 4L * i;
                FloatVector qv = load(s, query, b);
                a0 = qv.fma(load(s, k0, b), a0);
                a1 = qv.fma(load(s, k1, b), a1);
                a2 = qv.fma(load(s, k2, b), a2);
                a3 = qv.fma(load(s, k3, b), a3);
            }
            if (full < d) {
                long b = 4L * full;
                FloatVector qv = load(s, query, b, tail);
                a0 = qv.fma(load(s, k0, b, tail), a0);
                a1 = qv.fma(load(s, k1, b, tail), a1);
                a2 = qv.fma(load(s, k2, b, tail), a2);
                a3 = qv.fma(load(s, k3, b, tail), a3);
            }
            laneSums(a0, a1, a2, a3, factor, scores, at + j);
        }
    }

    /** {@link #dotScores} for {@code factor · ‖q − k_j‖²}: one query load, four differences, four FMAs. */
    private void distanceScores(MemorySegment q, long qOffset, MemorySegment k, long kOffset, long stride, int d,
            int count, float factor, float[] scores, int at) {
        VectorSpecies<Float> s = SPECIES;
        int step = s.length();
        VectorMask<Float> tail = s.indexInRange(d - d % step, d);
        MemorySegment query = q.asSlice(qOffset, 4L * d);
        for (int j = 0; j < count; j += 4) {
            long key = kOffset + j * stride;
            // Slices of known length, as in dotScores.
            MemorySegment k0 = k.asSlice(key, 4L * d);
            MemorySegment k1 = k.asSlice(key + stride, 4L * d);
            MemorySegment k2 = k.asSlice(key + 2 * stride, 4L * d);
            MemorySegment k3 = k.asSlice(key + 3 * stride, 4L * d);
            FloatVector a0 = FloatVector.zero(s);
            FloatVector a1 = FloatVector.zero(s);
            FloatVector a2 = FloatVector.zero(s);
            FloatVector a3 = FloatVector.zero(s);
            int i = 0;
            for (; i <= d - step; i += step) {
                long b = 4L * i;
                FloatVector qv = load(s, query, b);
                FloatVector d0 = qv.sub(load(s, k0, b));
                FloatVector d1 = qv.sub(load(s, k1, b));
                FloatVector d2 = qv.sub(load(s, k2, b));
                FloatVector d3 = qv.sub(load(s, k3, b));
                a0 = d0.fma(d0, a0);
                a1 = d1.fma(d1, a1);
                a2 = d2.fma(d2, a2);
                a3 = d3.fma(d3, a3);
            }
            if (i < d) {
                long b = 4L * i;
                FloatVector qv = load(s, query, b, tail);
                FloatVector d0 = qv.sub(load(s, k0, b, tail));
                FloatVector d1 = qv.sub(load(s, k1, b, tail));
                FloatVector d2 = qv.sub(load(s, k2, b, tail));
                FloatVector d3 = qv.sub(load(s, k3, b, tail));
                a0 = d0.fma(d0, a0);
                a1 = d1.fma(d1, a1);
                a2 = d2.fma(d2, a2);
                a3 = d3.fma(d3, a3);
            }
            laneSums(a0, a1, a2, a3, factor, scores, at + j);
        }
    }

    @Override
    public float max(float[] x, int from, int to) {
        VectorSpecies<Float> s = SPECIES;
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
     * Lane-wise maxima of the block, then one compare against {@code floor}: only a block that raises the running
     * maximum pays for the horizontal maximum ({@code reduceLanes(MAX)}, a tree of shuffles and blends for Java's
     * NaN and −0 rules). The lane-wise steps are those of {@link #max}, so a raised maximum is the same float.
     */
    @Override
    public float maxAbove(float[] x, int from, int to, float floor) {
        if (floor == Float.NEGATIVE_INFINITY) {
            return max(x, from, to);
        }
        VectorSpecies<Float> s = SPECIES;
        FloatVector max = FloatVector.broadcast(s, Float.NEGATIVE_INFINITY);
        int i = from;
        for (; i <= to - s.length(); i += s.length()) {
            max = max.max(FloatVector.fromArray(s, x, i));
        }
        if (i < to) {
            VectorMask<Float> m = s.indexInRange(i, to);
            max = max.lanewise(VectorOperators.MAX, FloatVector.fromArray(s, x, i, m), m);
        }
        return above(max, floor);
    }

    /**
     * {@link #maxAbove}'s last step from the lane-wise maxima of the scores: their maximum when some lane is above
     * {@code floor} (or {@code floor} is −∞), −∞ when every lane is −∞, otherwise {@code floor}.
     */
    private static float above(FloatVector lanes, float floor) {
        if (floor == Float.NEGATIVE_INFINITY || lanes.compare(VectorOperators.GT, floor).anyTrue()) {
            return lanes.reduceLanes(VectorOperators.MAX);
        }
        return lanes.compare(VectorOperators.EQ, Float.NEGATIVE_INFINITY).allTrue() ? Float.NEGATIVE_INFINITY : floor;
    }

    /**
     * {@code exp} is {@code lanewise(EXP)}, the JDK's SVML stub on x86: within 0.75 ulp of the exact e^x over
     * every float in [−105, 0] (subnormal results within 0.5 ulp), exactly 1 at 0 and 0 at −∞. It beat a
     * degree-6 polynomial of our own (1.01 ulp) on speed too: 0.47 against 0.6–0.8 ns a float in L1 on
     * 256-bit vectors, and far more before C2 compiles them (see the commit that dropped VectorExp). The tiles'
     * {@link #fold} uses {@link VectorMath#exp} all the same, written out with its constants held in registers:
     * 0.145 against 0.16–0.23 ns a float for the stub in a throwaway probe (AVX-512, 2026-12-03).
     */
    @Override
    public float expAndSum(float[] x, int from, int to, float shift) {
        VectorSpecies<Float> s = SPECIES;
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

    /**
     * {@link Kernels#fold} for the rows of a tile (contiguous rows, whole vectors): the maxima row by row, then the
     * exp and the sums of every row in one loop ({@link #expRows}). Other shapes (the row path's blocks) take the
     * default's steps.
     */
    @Override
    public boolean fold(float[] s, int from, int count, int stride, int rows, float[] max, float[] sum, float[] acc,
            int at, int dvPad) {
        if (stride != count || count % (2 * SPECIES.length()) != 0 || Integer.bitCount(count) != 1) {
            return Kernels.super.fold(s, from, count, stride, rows, max, sum, acc, at, dvPad);
        }
        float[] blockMax = maxima(s, from, count, rows, max, at);
        float[] shifts = new float[rows];
        boolean any = false;
        for (int r = 0; r < rows; r++) {
            boolean seen = OnlineMax.raise(this, blockMax[r], max, sum, acc, at + r, dvPad);
            any |= seen;
            // a row of −∞ scores gets the shift +∞: exp(−∞ − ∞) = 0 for each, and its sum gains exactly 0
            shifts[r] = seen ? max[at + r] : Float.POSITIVE_INFINITY;
        }
        expRows(s, from, count, rows, shifts, sum, at);
        return any;
    }

    /**
     * {@link #maxAbove} of each row of the tile against its running maximum {@code max[at + r]}, the same floats: the
     * lane-wise maxima of every row first, two chains a row and no branch, then each row's compare and, when the
     * row is raised, its horizontal maximum. Row by row, each row's chain of maxima (C2's {@code max} keeps Java's
     * NaN and −0 rules with a blend sequence, several cycles a step) and its branch held up the next row; a
     * throwaway probe (8 × 128 scores, AVX-512) took 150–250 ns a tile this way against 220–410 ns. Java's maximum
     * is associative and commutative (NaN absorbs, −0 below +0), so two chains give the same float as one.
     */
    private static float[] maxima(float[] s, int from, int count, int rows, float[] max, int at) {
        VectorSpecies<Float> sp = SPECIES;
        int step = sp.length();
        float[] lanes = new float[rows * step];
        for (int r = 0; r < rows; r++) {
            int lo = from + r * count;
            FloatVector m0 = FloatVector.fromArray(sp, s, lo);
            FloatVector m1 = FloatVector.fromArray(sp, s, lo + step);
            for (int i = 2 * step; i < count; i += 2 * step) {
                m0 = m0.max(FloatVector.fromArray(sp, s, lo + i));
                m1 = m1.max(FloatVector.fromArray(sp, s, lo + i + step));
            }
            m0.max(m1).intoArray(lanes, r * step);
        }
        float[] blockMax = new float[rows];
        for (int r = 0; r < rows; r++) {
            blockMax[r] = above(FloatVector.fromArray(sp, lanes, r * step), max[at + r]);
        }
        return blockMax;
    }

    /**
     * {@code s[i] = exp(s[i] − shifts[row of i])} over {@code rows} rows of {@code count} scores (a power of two, whole
     * pairs of vectors), then each row's sum added to {@code sum[at + r]}. The exp is
     * {@link VectorMath#exp}'s steps written out, with the constants broadcast once before the loop: called, it was
     * not inlined where C2 had spent its node budget (and boxed every vector); inlined, C2 reloaded each constant
     * from memory in every iteration. Kept above C2's inlining size for hot callees, so it is always compiled on its
     * own, with a budget of its own.
     */
    private static void expRows(float[] s, int from, int count, int rows, float[] shifts, float[] sum, int at) {
        VectorSpecies<Float> sp = SPECIES;
        FloatVector log2e = FloatVector.broadcast(sp, EXP_CONSTANTS[0]);
        FloatVector shifter = FloatVector.broadcast(sp, EXP_CONSTANTS[1]);
        FloatVector ln2Hi = FloatVector.broadcast(sp, EXP_CONSTANTS[2]);
        FloatVector ln2Lo = FloatVector.broadcast(sp, EXP_CONSTANTS[3]);
        FloatVector p0 = FloatVector.broadcast(sp, EXP_CONSTANTS[4]);
        FloatVector p1 = FloatVector.broadcast(sp, EXP_CONSTANTS[5]);
        FloatVector p2 = FloatVector.broadcast(sp, EXP_CONSTANTS[6]);
        FloatVector p3 = FloatVector.broadcast(sp, EXP_CONSTANTS[7]);
        FloatVector p4 = FloatVector.broadcast(sp, EXP_CONSTANTS[8]);
        FloatVector p5 = FloatVector.broadcast(sp, EXP_CONSTANTS[9]);
        FloatVector one = FloatVector.broadcast(sp, EXP_CONSTANTS[10]);
        FloatVector scaleDown = FloatVector.broadcast(sp, EXP_CONSTANTS[11]);
        FloatVector lowest = FloatVector.broadcast(sp, EXP_CONSTANTS[12]);
        int rowBits = Integer.numberOfTrailingZeros(count);
        int end = from + rows * count;
        for (int i = from; i < end; i += sp.length()) {
            FloatVector x = FloatVector.fromArray(sp, s, i).sub(shifts[(i - from) >>> rowBits]);
            FloatVector t = x.fma(log2e, shifter);
            FloatVector n = t.sub(shifter);
            FloatVector r = n.fma(ln2Hi, x);
            r = n.fma(ln2Lo, r);
            FloatVector p = r.fma(p0, p1);
            p = p.fma(r, p2);
            p = p.fma(r, p3);
            p = p.fma(r, p4);
            p = p.fma(r, p5);
            p = p.fma(r, one);
            FloatVector y = p.fma(r, one);
            FloatVector scale = t.reinterpretAsInts().add(VectorMath.SCALE_BIAS).lanewise(VectorOperators.LSHL, 23)
                    .reinterpretAsFloats();
            y.mul(scale).mul(scaleDown).blend(0f, x.compare(VectorOperators.LT, lowest)).intoArray(s, i);
        }
        int step = sp.length();
        for (int r = 0; r < rows; r++) {
            int lo = from + r * count;
            FloatVector t0 = FloatVector.fromArray(sp, s, lo);
            FloatVector t1 = FloatVector.fromArray(sp, s, lo + step);
            for (int i = 2 * step; i < count; i += 2 * step) {
                t0 = t0.add(FloatVector.fromArray(sp, s, lo + i));
                t1 = t1.add(FloatVector.fromArray(sp, s, lo + i + step));
            }
            sum[at + r] += t0.add(t1).reduceLanes(VectorOperators.ADD);
        }
    }

    @Override
    public void scale(float[] x, int from, int to, float factor) {
        VectorSpecies<Float> s = SPECIES;
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
     * Column chunks of eight vectors whose sums stay in registers while every value row streams past in
     * order (one load and one FMA per vector, no load or store of {@code acc}), then a chunk of four vectors
     * likewise; the columns left over, fewer than four vectors, four rows per pass through {@code acc}. Eight
     * because eight independent FMA chains of latency 4 keep both FMA pipes busy, and eight sums plus a weight
     * and a load fit the 16 registers of AVX2; on AVX-512, eight 16-lane vectors hold a whole 128-wide output row
     * and four a 64-wide one (which went four rows per pass through {@code acc} before: one query over 2²⁰ keys at
     * d = 64 took 19 ms in this method alone, now 8). Every column sums its rows in row order with one FMA each, in
     * every path, so which path a column takes does not change its bits. In a probe at m = 4096, dv = 128 (L3),
     * blocks of 256 rows, 256-bit vectors, the chunks read 56–59 GB/s at best against 34–36 for four rows per pass
     * over the row.
     */
    @Override
    public void accumulate(float[] weights, int at, Tensor values, int from, int to, float[] acc) {
        if (values.elementType() != ElementType.F32) {
            HalfVectorKernels.accumulate(weights, at, values, from, to, acc);
            return;
        }
        MemorySegment v = values.segment();
        long stride = 4L * values.rowStride();
        long first = from * stride;
        int dv = values.cols();
        int count = to - from;
        int wide = 8 * SPECIES.length();
        int half = 4 * SPECIES.length();
        // A block of rows at a time, so a row's later chunks come from L2 rather than again from memory.
        for (int i = 0; i < count; i += ROWS_PER_PASS) {
            int rows = Math.min(ROWS_PER_PASS, count - i);
            int j = 0;
            for (; j <= dv - wide; j += wide) {
                accumulate8(weights, at + i, v, first + i * stride + 4L * j, stride, rows, acc, j);
            }
            if (j <= dv - half) {
                accumulate4Wide(weights, at + i, v, first + i * stride + 4L * j, stride, rows, acc, j);
            }
        }
        int j = dv - dv % wide;
        if (dv - j >= half) {
            j += half;
        }
        if (j == dv) {
            return;
        }
        int i = 0;
        for (; i <= count - 4; i += 4) {
            accumulate4(weights[at + i], weights[at + i + 1], weights[at + i + 2], weights[at + i + 3], v,
                    first + i * stride, stride, j, dv, acc);
        }
        for (; i < count; i++) {
            accumulate1(weights[at + i], v, first + i * stride, j, dv, acc);
        }
    }

    /**
     * {@code acc[at + c] += Σᵢ weights[w + i]·vᵢ[c]} for c below eight vectors, rows i < count from
     * {@code row}.
     */
    private void accumulate8(float[] weights, int w, MemorySegment v, long row, long stride, int count, float[] acc,
            int at) {
        VectorSpecies<Float> s = SPECIES;
        int n = s.length();
        long bytes = 4L * n;
        FloatVector a0 = FloatVector.fromArray(s, acc, at);
        FloatVector a1 = FloatVector.fromArray(s, acc, at + n);
        FloatVector a2 = FloatVector.fromArray(s, acc, at + 2 * n);
        FloatVector a3 = FloatVector.fromArray(s, acc, at + 3 * n);
        FloatVector a4 = FloatVector.fromArray(s, acc, at + 4 * n);
        FloatVector a5 = FloatVector.fromArray(s, acc, at + 5 * n);
        FloatVector a6 = FloatVector.fromArray(s, acc, at + 6 * n);
        FloatVector a7 = FloatVector.fromArray(s, acc, at + 7 * n);
        for (int i = 0; i < count; i++, row += stride) {
            MemorySegment r = v.asSlice(row, 8 * bytes); // a slice of known length: no bounds check per load
            FloatVector weight = FloatVector.broadcast(s, weights[w + i]);
            a0 = load(s, r, 0).fma(weight, a0);
            a1 = load(s, r, bytes).fma(weight, a1);
            a2 = load(s, r, 2 * bytes).fma(weight, a2);
            a3 = load(s, r, 3 * bytes).fma(weight, a3);
            a4 = load(s, r, 4 * bytes).fma(weight, a4);
            a5 = load(s, r, 5 * bytes).fma(weight, a5);
            a6 = load(s, r, 6 * bytes).fma(weight, a6);
            a7 = load(s, r, 7 * bytes).fma(weight, a7);
        }
        a0.intoArray(acc, at);
        a1.intoArray(acc, at + n);
        a2.intoArray(acc, at + 2 * n);
        a3.intoArray(acc, at + 3 * n);
        a4.intoArray(acc, at + 4 * n);
        a5.intoArray(acc, at + 5 * n);
        a6.intoArray(acc, at + 6 * n);
        a7.intoArray(acc, at + 7 * n);
    }

    /** {@link #accumulate8} for a chunk of four vectors: at dv = 64 on 512-bit vectors, the whole row. */
    private void accumulate4Wide(float[] weights, int w, MemorySegment v, long row, long stride, int count,
            float[] acc, int at) {
        VectorSpecies<Float> s = SPECIES;
        int n = s.length();
        long bytes = 4L * n;
        FloatVector a0 = FloatVector.fromArray(s, acc, at);
        FloatVector a1 = FloatVector.fromArray(s, acc, at + n);
        FloatVector a2 = FloatVector.fromArray(s, acc, at + 2 * n);
        FloatVector a3 = FloatVector.fromArray(s, acc, at + 3 * n);
        for (int i = 0; i < count; i++, row += stride) {
            MemorySegment r = v.asSlice(row, 4 * bytes); // a slice of known length: no bounds check per load
            FloatVector weight = FloatVector.broadcast(s, weights[w + i]);
            a0 = load(s, r, 0).fma(weight, a0);
            a1 = load(s, r, bytes).fma(weight, a1);
            a2 = load(s, r, 2 * bytes).fma(weight, a2);
            a3 = load(s, r, 3 * bytes).fma(weight, a3);
        }
        a0.intoArray(acc, at);
        a1.intoArray(acc, at + n);
        a2.intoArray(acc, at + 2 * n);
        a3.intoArray(acc, at + 3 * n);
    }

    /** Columns [j, dv) of four rows at once: each load and store of an {@code acc} vector serves four FMAs. */
    private void accumulate4(float w0, float w1, float w2, float w3, MemorySegment v, long row, long stride, int j,
            int dv, float[] acc) {
        VectorSpecies<Float> s = SPECIES;
        FloatVector v0 = FloatVector.broadcast(s, w0);
        FloatVector v1 = FloatVector.broadcast(s, w1);
        FloatVector v2 = FloatVector.broadcast(s, w2);
        FloatVector v3 = FloatVector.broadcast(s, w3);
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

    /** Columns [j, dv) of one row. */
    private void accumulate1(float weight, MemorySegment v, long row, int j, int dv, float[] acc) {
        VectorSpecies<Float> s = SPECIES;
        FloatVector w = FloatVector.broadcast(s, weight);
        for (; j <= dv - s.length(); j += s.length()) {
            load(s, v, row + 4L * j).fma(w, FloatVector.fromArray(s, acc, j)).intoArray(acc, j);
        }
        if (j < dv) {
            VectorMask<Float> m = s.indexInRange(j, dv);
            load(s, v, row + 4L * j, m).fma(w, FloatVector.fromArray(s, acc, j, m)).intoArray(acc, j, m);
        }
    }

    /**
     * The width of a packed slab: two vectors, so a micro tile's row holds 2 accumulators. The micro-kernels read
     * plain arrays, which measured faster than segments for broadcasts.
     */
    private static final int LANES = SPECIES.length();
    private static final int WIDTH = 2 * LANES;

    /**
     * Query rows of a micro tile, from the registers the species implies: a row takes 2 accumulators, and each step
     * also holds the 2 vectors of Kᵀ (or V) it loaded and a broadcast. 512-bit vectors mean AVX-512 and its 32
     * registers: 8 rows, 16 accumulators, so each vector loaded feeds 8 FMAs. Otherwise (AVX2, or a narrower species
     * than this CPU's, as in tests) 16 registers: 4 rows, 8 accumulators, just the 2 FMA pipes × 4 cycles of latency;
     * 6 rows made C2 spill accumulators to the stack inside the loop (seen in the disassembly) and ran at half the
     * speed. A throwaway probe (n = m = 2048, d = 128, CPU time) measured 8 × 2 10–12 % faster than 4 × 2 on
     * 512-bit vectors and 7 % slower under {@code -XX:UseAVX=2}.
     */
    static final int ROWS = SPECIES.vectorBitSize() >= 512 ? 8 : 4;

    /** Yes: a block of K and V is loaded once per tile of {@link #ROWS} queries, not once per query. */
    @Override
    public boolean tilesPayOff() {
        return true;
    }

    @Override
    public int tileWidth() {
        return WIDTH;
    }

    @Override
    public int tileRows() {
        return ROWS;
    }

    /**
     * {@code s[r·TILE_BLOCK + j] = factor · Σₜ q[qOff + r·d + t] · kᵀ[t][j]} for the rows of a tile and a whole block,
     * whose packed keys start at {@code kT[panel]} (see {@code KeyChunk}).
     * Queries are broadcast, rows of Kᵀ loaded as vectors: no horizontal sums. {@link #ROWS} is a constant, so C2
     * keeps only one of the two branches.
     */
    @Override
    public void tileScores(float[] q, int qOff, int d, float factor, float[] kT, int panel, float[] s) {
        if (ROWS == 8) {
            tileScores8(q, qOff, d, factor, kT, panel, s);
        } else {
            tileScores4(q, qOff, d, factor, kT, panel, s);
        }
    }

    private static void tileScores4(float[] q, int qOff, int d, float factor, float[] kT, int panel, float[] s) {
        for (int c = 0; c < TILE_BLOCK; c += WIDTH) {
            FloatVector a00 = FloatVector.zero(SPECIES), a01 = FloatVector.zero(SPECIES);
            FloatVector a10 = FloatVector.zero(SPECIES), a11 = FloatVector.zero(SPECIES);
            FloatVector a20 = FloatVector.zero(SPECIES), a21 = FloatVector.zero(SPECIES);
            FloatVector a30 = FloatVector.zero(SPECIES), a31 = FloatVector.zero(SPECIES);
            int k = panel + c * d;
            for (int t = 0; t < d; t++, k += WIDTH) {
                FloatVector k0 = FloatVector.fromArray(SPECIES, kT, k);
                FloatVector k1 = FloatVector.fromArray(SPECIES, kT, k + LANES);
                FloatVector b = FloatVector.broadcast(SPECIES, q[qOff + t]);
                a00 = b.fma(k0, a00);
                a01 = b.fma(k1, a01);
                b = FloatVector.broadcast(SPECIES, q[qOff + d + t]);
                a10 = b.fma(k0, a10);
                a11 = b.fma(k1, a11);
                b = FloatVector.broadcast(SPECIES, q[qOff + 2 * d + t]);
                a20 = b.fma(k0, a20);
                a21 = b.fma(k1, a21);
                b = FloatVector.broadcast(SPECIES, q[qOff + 3 * d + t]);
                a30 = b.fma(k0, a30);
                a31 = b.fma(k1, a31);
            }
            a00.mul(factor).intoArray(s, c);
            a01.mul(factor).intoArray(s, c + LANES);
            a10.mul(factor).intoArray(s, TILE_BLOCK + c);
            a11.mul(factor).intoArray(s, TILE_BLOCK + c + LANES);
            a20.mul(factor).intoArray(s, 2 * TILE_BLOCK + c);
            a21.mul(factor).intoArray(s, 2 * TILE_BLOCK + c + LANES);
            a30.mul(factor).intoArray(s, 3 * TILE_BLOCK + c);
            a31.mul(factor).intoArray(s, 3 * TILE_BLOCK + c + LANES);
        }
    }

    /** {@link #tileScores4} for 8 rows: 16 accumulators, so each pair of Kᵀ vectors loaded feeds 16 FMAs. */
    private static void tileScores8(float[] q, int qOff, int d, float factor, float[] kT, int panel, float[] s) {
        for (int c = 0; c < TILE_BLOCK; c += WIDTH) {
            FloatVector a00 = FloatVector.zero(SPECIES), a01 = FloatVector.zero(SPECIES);
            FloatVector a10 = FloatVector.zero(SPECIES), a11 = FloatVector.zero(SPECIES);
            FloatVector a20 = FloatVector.zero(SPECIES), a21 = FloatVector.zero(SPECIES);
            FloatVector a30 = FloatVector.zero(SPECIES), a31 = FloatVector.zero(SPECIES);
            FloatVector a40 = FloatVector.zero(SPECIES), a41 = FloatVector.zero(SPECIES);
            FloatVector a50 = FloatVector.zero(SPECIES), a51 = FloatVector.zero(SPECIES);
            FloatVector a60 = FloatVector.zero(SPECIES), a61 = FloatVector.zero(SPECIES);
            FloatVector a70 = FloatVector.zero(SPECIES), a71 = FloatVector.zero(SPECIES);
            int k = panel + c * d;
            for (int t = 0; t < d; t++, k += WIDTH) {
                FloatVector k0 = FloatVector.fromArray(SPECIES, kT, k);
                FloatVector k1 = FloatVector.fromArray(SPECIES, kT, k + LANES);
                FloatVector b = FloatVector.broadcast(SPECIES, q[qOff + t]);
                a00 = b.fma(k0, a00);
                a01 = b.fma(k1, a01);
                b = FloatVector.broadcast(SPECIES, q[qOff + d + t]);
                a10 = b.fma(k0, a10);
                a11 = b.fma(k1, a11);
                b = FloatVector.broadcast(SPECIES, q[qOff + 2 * d + t]);
                a20 = b.fma(k0, a20);
                a21 = b.fma(k1, a21);
                b = FloatVector.broadcast(SPECIES, q[qOff + 3 * d + t]);
                a30 = b.fma(k0, a30);
                a31 = b.fma(k1, a31);
                b = FloatVector.broadcast(SPECIES, q[qOff + 4 * d + t]);
                a40 = b.fma(k0, a40);
                a41 = b.fma(k1, a41);
                b = FloatVector.broadcast(SPECIES, q[qOff + 5 * d + t]);
                a50 = b.fma(k0, a50);
                a51 = b.fma(k1, a51);
                b = FloatVector.broadcast(SPECIES, q[qOff + 6 * d + t]);
                a60 = b.fma(k0, a60);
                a61 = b.fma(k1, a61);
                b = FloatVector.broadcast(SPECIES, q[qOff + 7 * d + t]);
                a70 = b.fma(k0, a70);
                a71 = b.fma(k1, a71);
            }
            a00.mul(factor).intoArray(s, c);
            a01.mul(factor).intoArray(s, c + LANES);
            a10.mul(factor).intoArray(s, TILE_BLOCK + c);
            a11.mul(factor).intoArray(s, TILE_BLOCK + c + LANES);
            a20.mul(factor).intoArray(s, 2 * TILE_BLOCK + c);
            a21.mul(factor).intoArray(s, 2 * TILE_BLOCK + c + LANES);
            a30.mul(factor).intoArray(s, 3 * TILE_BLOCK + c);
            a31.mul(factor).intoArray(s, 3 * TILE_BLOCK + c + LANES);
            a40.mul(factor).intoArray(s, 4 * TILE_BLOCK + c);
            a41.mul(factor).intoArray(s, 4 * TILE_BLOCK + c + LANES);
            a50.mul(factor).intoArray(s, 5 * TILE_BLOCK + c);
            a51.mul(factor).intoArray(s, 5 * TILE_BLOCK + c + LANES);
            a60.mul(factor).intoArray(s, 6 * TILE_BLOCK + c);
            a61.mul(factor).intoArray(s, 6 * TILE_BLOCK + c + LANES);
            a70.mul(factor).intoArray(s, 7 * TILE_BLOCK + c);
            a71.mul(factor).intoArray(s, 7 * TILE_BLOCK + c + LANES);
        }
    }

    /**
     * {@code acc[aOff + r·dvPad + c] += Σ_{j ∈ [from, to)} p[r·TILE_BLOCK + j] · v[j0 + j][c]} for the rows of a
     * tile, from the block of packed values that starts at {@code v[j0·dvPad]} (see {@code KeyChunk}): weights
     * broadcast, value rows loaded as vectors, 2 accumulators per row for each pair of vectors.
     */
    @Override
    public void tileAccumulate(float[] p, int from, int to, float[] v, int j0, float[] acc, int aOff, int dvPad) {
        if (from >= to) {
            return;
        }
        if (ROWS == 8) {
            tileAccumulate8(p, from, to, v, j0, acc, aOff, dvPad);
        } else {
            tileAccumulate4(p, from, to, v, j0, acc, aOff, dvPad);
        }
    }

    private static void tileAccumulate4(float[] p, int from, int to, float[] v, int j0, float[] acc, int aOff,
            int dvPad) {
        for (int c = 0; c < dvPad; c += WIDTH) {
            int o0 = aOff + c;
            FloatVector a00 = FloatVector.fromArray(SPECIES, acc, o0);
            FloatVector a01 = FloatVector.fromArray(SPECIES, acc, o0 + LANES);
            FloatVector a10 = FloatVector.fromArray(SPECIES, acc, o0 + dvPad);
            FloatVector a11 = FloatVector.fromArray(SPECIES, acc, o0 + dvPad + LANES);
            FloatVector a20 = FloatVector.fromArray(SPECIES, acc, o0 + 2 * dvPad);
            FloatVector a21 = FloatVector.fromArray(SPECIES, acc, o0 + 2 * dvPad + LANES);
            FloatVector a30 = FloatVector.fromArray(SPECIES, acc, o0 + 3 * dvPad);
            FloatVector a31 = FloatVector.fromArray(SPECIES, acc, o0 + 3 * dvPad + LANES);
            int vOff = j0 * dvPad + c * TILE_BLOCK + from * WIDTH;
            for (int j = from; j < to; j++, vOff += WIDTH) {
                FloatVector v0 = FloatVector.fromArray(SPECIES, v, vOff);
                FloatVector v1 = FloatVector.fromArray(SPECIES, v, vOff + LANES);
                FloatVector b = FloatVector.broadcast(SPECIES, p[j]);
                a00 = b.fma(v0, a00);
                a01 = b.fma(v1, a01);
                b = FloatVector.broadcast(SPECIES, p[TILE_BLOCK + j]);
                a10 = b.fma(v0, a10);
                a11 = b.fma(v1, a11);
                b = FloatVector.broadcast(SPECIES, p[2 * TILE_BLOCK + j]);
                a20 = b.fma(v0, a20);
                a21 = b.fma(v1, a21);
                b = FloatVector.broadcast(SPECIES, p[3 * TILE_BLOCK + j]);
                a30 = b.fma(v0, a30);
                a31 = b.fma(v1, a31);
            }
            a00.intoArray(acc, o0);
            a01.intoArray(acc, o0 + LANES);
            a10.intoArray(acc, o0 + dvPad);
            a11.intoArray(acc, o0 + dvPad + LANES);
            a20.intoArray(acc, o0 + 2 * dvPad);
            a21.intoArray(acc, o0 + 2 * dvPad + LANES);
            a30.intoArray(acc, o0 + 3 * dvPad);
            a31.intoArray(acc, o0 + 3 * dvPad + LANES);
        }
    }

    /** {@link #tileAccumulate4} for 8 rows: 16 accumulators, each pair of value vectors loaded feeds 16 FMAs. */
    private static void tileAccumulate8(float[] p, int from, int to, float[] v, int j0, float[] acc, int aOff,
            int dvPad) {
        for (int c = 0; c < dvPad; c += WIDTH) {
            int o0 = aOff + c;
            FloatVector a00 = FloatVector.fromArray(SPECIES, acc, o0);
            FloatVector a01 = FloatVector.fromArray(SPECIES, acc, o0 + LANES);
            FloatVector a10 = FloatVector.fromArray(SPECIES, acc, o0 + dvPad);
            FloatVector a11 = FloatVector.fromArray(SPECIES, acc, o0 + dvPad + LANES);
            FloatVector a20 = FloatVector.fromArray(SPECIES, acc, o0 + 2 * dvPad);
            FloatVector a21 = FloatVector.fromArray(SPECIES, acc, o0 + 2 * dvPad + LANES);
            FloatVector a30 = FloatVector.fromArray(SPECIES, acc, o0 + 3 * dvPad);
            FloatVector a31 = FloatVector.fromArray(SPECIES, acc, o0 + 3 * dvPad + LANES);
            FloatVector a40 = FloatVector.fromArray(SPECIES, acc, o0 + 4 * dvPad);
            FloatVector a41 = FloatVector.fromArray(SPECIES, acc, o0 + 4 * dvPad + LANES);
            FloatVector a50 = FloatVector.fromArray(SPECIES, acc, o0 + 5 * dvPad);
            FloatVector a51 = FloatVector.fromArray(SPECIES, acc, o0 + 5 * dvPad + LANES);
            FloatVector a60 = FloatVector.fromArray(SPECIES, acc, o0 + 6 * dvPad);
            FloatVector a61 = FloatVector.fromArray(SPECIES, acc, o0 + 6 * dvPad + LANES);
            FloatVector a70 = FloatVector.fromArray(SPECIES, acc, o0 + 7 * dvPad);
            FloatVector a71 = FloatVector.fromArray(SPECIES, acc, o0 + 7 * dvPad + LANES);
            int vOff = j0 * dvPad + c * TILE_BLOCK + from * WIDTH;
            for (int j = from; j < to; j++, vOff += WIDTH) {
                FloatVector v0 = FloatVector.fromArray(SPECIES, v, vOff);
                FloatVector v1 = FloatVector.fromArray(SPECIES, v, vOff + LANES);
                FloatVector b = FloatVector.broadcast(SPECIES, p[j]);
                a00 = b.fma(v0, a00);
                a01 = b.fma(v1, a01);
                b = FloatVector.broadcast(SPECIES, p[TILE_BLOCK + j]);
                a10 = b.fma(v0, a10);
                a11 = b.fma(v1, a11);
                b = FloatVector.broadcast(SPECIES, p[2 * TILE_BLOCK + j]);
                a20 = b.fma(v0, a20);
                a21 = b.fma(v1, a21);
                b = FloatVector.broadcast(SPECIES, p[3 * TILE_BLOCK + j]);
                a30 = b.fma(v0, a30);
                a31 = b.fma(v1, a31);
                b = FloatVector.broadcast(SPECIES, p[4 * TILE_BLOCK + j]);
                a40 = b.fma(v0, a40);
                a41 = b.fma(v1, a41);
                b = FloatVector.broadcast(SPECIES, p[5 * TILE_BLOCK + j]);
                a50 = b.fma(v0, a50);
                a51 = b.fma(v1, a51);
                b = FloatVector.broadcast(SPECIES, p[6 * TILE_BLOCK + j]);
                a60 = b.fma(v0, a60);
                a61 = b.fma(v1, a61);
                b = FloatVector.broadcast(SPECIES, p[7 * TILE_BLOCK + j]);
                a70 = b.fma(v0, a70);
                a71 = b.fma(v1, a71);
            }
            a00.intoArray(acc, o0);
            a01.intoArray(acc, o0 + LANES);
            a10.intoArray(acc, o0 + dvPad);
            a11.intoArray(acc, o0 + dvPad + LANES);
            a20.intoArray(acc, o0 + 2 * dvPad);
            a21.intoArray(acc, o0 + 2 * dvPad + LANES);
            a30.intoArray(acc, o0 + 3 * dvPad);
            a31.intoArray(acc, o0 + 3 * dvPad + LANES);
            a40.intoArray(acc, o0 + 4 * dvPad);
            a41.intoArray(acc, o0 + 4 * dvPad + LANES);
            a50.intoArray(acc, o0 + 5 * dvPad);
            a51.intoArray(acc, o0 + 5 * dvPad + LANES);
            a60.intoArray(acc, o0 + 6 * dvPad);
            a61.intoArray(acc, o0 + 6 * dvPad + LANES);
            a70.intoArray(acc, o0 + 7 * dvPad);
            a71.intoArray(acc, o0 + 7 * dvPad + LANES);
        }
    }

    /**
     * The tail of a block for one row whose end falls inside it: keys {@code [from, to)} of the block, so a
     * value row the row must not see is never multiplied, not even by a weight of 0 (0 · NaN is NaN).
     */
    @Override
    public void tileAccumulateRow(float[] p, int pOff, int from, int to, float[] v, int j0, float[] acc, int aOff,
            int dvPad) {
        for (int c = 0; c < dvPad; c += WIDTH) {
            FloatVector a0 = FloatVector.fromArray(SPECIES, acc, aOff + c);
            FloatVector a1 = FloatVector.fromArray(SPECIES, acc, aOff + c + LANES);
            int vOff = j0 * dvPad + c * TILE_BLOCK + from * WIDTH;
            for (int j = from; j < to; j++, vOff += WIDTH) {
                FloatVector b = FloatVector.broadcast(SPECIES, p[pOff + j]);
                a0 = b.fma(FloatVector.fromArray(SPECIES, v, vOff), a0);
                a1 = b.fma(FloatVector.fromArray(SPECIES, v, vOff + LANES), a1);
            }
            a0.intoArray(acc, aOff + c);
            a1.intoArray(acc, aOff + c + LANES);
        }
    }

    /** Lane i to lane i xor w: halves, quarters, ... of a vector swapped (the identity where w is not below L). */
    private static final VectorShuffle<Float> FLIP_HALF = flip(LANES / 2);
    private static final VectorShuffle<Float> FLIP_QUARTER = flip(LANES / 4);
    private static final VectorShuffle<Float> FLIP_2 = flip(2);
    private static final VectorShuffle<Float> FLIP_1 = flip(1);
    /** The lanes of the upper half, and of the upper quarter of each half. */
    private static final VectorMask<Float> UPPER_HALF = lanesWith(LANES / 2);
    private static final VectorMask<Float> UPPER_QUARTER = lanesWith(LANES / 4);

    private static VectorShuffle<Float> flip(int w) {
        return VectorShuffle.fromOp(SPECIES, i -> w < LANES ? i ^ w : i);
    }

    private static VectorMask<Float> lanesWith(int bit) {
        boolean[] set = new boolean[LANES];
        for (int i = 0; i < LANES; i++) {
            set[i] = (i & bit) != 0;
        }
        return VectorMask.fromArray(SPECIES, set, 0);
    }

    /**
     * The sum of a score's lanes, in one fixed order: lane i plus lane i + L/2, then of those i plus i + L/4, and so
     * on down to one lane, by lane swaps and lane-wise adds, which give the same floats compiled or not. Not
     * {@code reduceLanes(ADD)}, whose order the Vector API leaves open: C2 compiled it in another order in one method
     * than in another, and than the Java fallback (one ulp apart at 128 bits, d = 3, for good, between the four-key
     * and the one-key kernel, once the one-key kernel read slices). Every score kernel, float32 or half, sums its
     * lanes here or in {@link #laneSums}, in this order, so a key's score depends on the query and the key alone.
     */
    static float laneSum(FloatVector a) {
        a = a.add(a.rearrange(FLIP_HALF));
        a = a.add(a.rearrange(FLIP_QUARTER));
        if (LANES >= 16) {
            a = a.add(a.rearrange(FLIP_2));
        }
        if (LANES >= 8) {
            a = a.add(a.rearrange(FLIP_1));
        }
        return a.lane(0);
    }

    /**
     * {@link #laneSum} of two keys' sums at once, with the same adds of the same lanes (a lane's add has the same
     * operands as in {@code laneSum}, at times in the other order: the same float): key 0's sum ends in lane 0, key
     * 1's in lane L/2. At 16 lanes 6 vector operations for two keys, where two {@code laneSum}s take 8, and one
     * chain of latency instead of two.
     */
    static FloatVector laneSums(FloatVector a0, FloatVector a1) {
        FloatVector c = a0.blend(a1, UPPER_HALF).add(a1.blend(a0, UPPER_HALF).rearrange(FLIP_HALF));
        c = c.add(c.rearrange(FLIP_QUARTER));
        if (LANES >= 16) {
            c = c.add(c.rearrange(FLIP_2));
        }
        if (LANES >= 8) {
            c = c.add(c.rearrange(FLIP_1));
        }
        return c;
    }

    /**
     * {@code factor ·} {@link #laneSum} of four keys' sums into {@code out[at]} to {@code out[at + 3]}, with the same
     * adds of the same lanes, two keys per vector in the first step and four in the rest: at 16 lanes, 20 vector
     * operations for four keys (lane reads included), where four {@code laneSum}s take 36. Key 0 ends in lane 0, key 1
     * in lane L/2, key 2 in L/4 and key 3 in 3L/4 (a lane's add has the same operands as in {@code laneSum}, at times
     * in the other order: the same float).
     */
    private static void laneSums(FloatVector a0, FloatVector a1, FloatVector a2, FloatVector a3, float factor,
            float[] out, int at) {
        FloatVector b01 = a0.blend(a1, UPPER_HALF).add(a1.blend(a0, UPPER_HALF).rearrange(FLIP_HALF));
        FloatVector b23 = a2.blend(a3, UPPER_HALF).add(a3.blend(a2, UPPER_HALF).rearrange(FLIP_HALF));
        FloatVector c = b01.blend(b23, UPPER_QUARTER).add(b23.blend(b01, UPPER_QUARTER).rearrange(FLIP_QUARTER));
        if (LANES >= 16) {
            c = c.add(c.rearrange(FLIP_2));
        }
        if (LANES >= 8) {
            c = c.add(c.rearrange(FLIP_1));
        }
        out[at] = factor * c.lane(0);
        out[at + 1] = factor * c.lane(LANES / 2);
        out[at + 2] = factor * c.lane(LANES / 4);
        out[at + 3] = factor * c.lane(LANES / 2 + LANES / 4);
    }

    private static FloatVector load(VectorSpecies<Float> s, MemorySegment segment, long offset) {
        return FloatVector.fromMemorySegment(s, segment, offset, ORDER);
    }

    private static FloatVector load(VectorSpecies<Float> s, MemorySegment segment, long offset, VectorMask<Float> m) {
        return FloatVector.fromMemorySegment(s, segment, offset, ORDER, m);
    }
}
