package dev.qkv.kernel;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The backward micro-kernels in {@code jdk.incubator.vector}, on {@link VectorKernels#SPECIES} (the one
 * {@code static final} species of the JVM). GEMM-shaped: one operand broadcast, rows of the packed panel loaded as
 * vectors, 8 rows (on 512-bit vectors; 4 on narrower ones) × 2 vectors = 16 (8) independent FMA chains per slab,
 * no horizontal sums. A slab is two vectors wide, as in the forward's tile kernels.
 *
 * <p>Only loaded when module {@code jdk.incubator.vector} is present ({@link BackwardKernels#matching}).
 */
public final class VectorBackwardKernels implements BackwardKernels {

    static final VectorBackwardKernels INSTANCE = new VectorBackwardKernels();

    private static final VectorSpecies<Float> SPECIES = VectorKernels.SPECIES;
    /** Doubles in a vector of the same size, for ∂L/∂f's sum in double. */
    private static final VectorSpecies<Double> DOUBLES = VectorSpecies.of(double.class, SPECIES.vectorShape());
    private static final int LANES = SPECIES.length();
    private static final int WIDTH = 2 * LANES;
    /**
     * Eight rows a tile on 512-bit vectors: 16 accumulators, 2 loads and a broadcast fit AVX-512's 32 registers,
     * and each vector of the packed operand loaded feeds 8 FMAs instead of 4. Four rows otherwise: with AVX2's 16
     * registers more accumulators spill.
     */
    private static final boolean EIGHT = LANES >= 16;

    private VectorBackwardKernels() {}

    @Override
    public String name() {
        return "vector";
    }

    @Override
    public int width() {
        return WIDTH;
    }

    @Override
    public int rows() {
        return EIGHT ? 8 : 4;
    }

    @Override
    public void rawScores(boolean distance, float[] a, int aOff, int d, float[] bT, float[] s, int sOff) {
        if (EIGHT) {
            if (distance) {
                distances8(a, aOff, d, bT, s, sOff);
            } else {
                dots8(a, aOff, d, bT, s, sOff);
            }
        } else if (distance) {
            distances(a, aOff, d, bT, s, sOff);
        } else {
            dots(a, aOff, d, bT, s, sOff);
        }
    }

    /** Four rows of {@link #rawScores} for {@code Σₜ a·bT}. */
    private static void dots(float[] a, int aOff, int d, float[] bT, float[] s, int sOff) {
        for (int c = 0; c < BLOCK; c += WIDTH) {
            FloatVector a00 = FloatVector.zero(SPECIES), a01 = FloatVector.zero(SPECIES);
            FloatVector a10 = FloatVector.zero(SPECIES), a11 = FloatVector.zero(SPECIES);
            FloatVector a20 = FloatVector.zero(SPECIES), a21 = FloatVector.zero(SPECIES);
            FloatVector a30 = FloatVector.zero(SPECIES), a31 = FloatVector.zero(SPECIES);
            int k = c * d;
            for (int t = 0; t < d; t++, k += WIDTH) {
                FloatVector k0 = FloatVector.fromArray(SPECIES, bT, k);
                FloatVector k1 = FloatVector.fromArray(SPECIES, bT, k + LANES);
                FloatVector b = FloatVector.broadcast(SPECIES, a[aOff + t]);
                a00 = b.fma(k0, a00);
                a01 = b.fma(k1, a01);
                b = FloatVector.broadcast(SPECIES, a[aOff + d + t]);
                a10 = b.fma(k0, a10);
                a11 = b.fma(k1, a11);
                b = FloatVector.broadcast(SPECIES, a[aOff + 2 * d + t]);
                a20 = b.fma(k0, a20);
                a21 = b.fma(k1, a21);
                b = FloatVector.broadcast(SPECIES, a[aOff + 3 * d + t]);
                a30 = b.fma(k0, a30);
                a31 = b.fma(k1, a31);
            }
            int o = sOff + c;
            a00.intoArray(s, o);
            a01.intoArray(s, o + LANES);
            a10.intoArray(s, o + BLOCK);
            a11.intoArray(s, o + BLOCK + LANES);
            a20.intoArray(s, o + 2 * BLOCK);
            a21.intoArray(s, o + 2 * BLOCK + LANES);
            a30.intoArray(s, o + 3 * BLOCK);
            a31.intoArray(s, o + 3 * BLOCK + LANES);
        }
    }

    /** Four rows of {@link #rawScores} for {@code −‖a − b‖²}: one subtraction and one FMA per element. */
    private static void distances(float[] a, int aOff, int d, float[] bT, float[] s, int sOff) {
        for (int c = 0; c < BLOCK; c += WIDTH) {
            FloatVector a00 = FloatVector.zero(SPECIES), a01 = FloatVector.zero(SPECIES);
            FloatVector a10 = FloatVector.zero(SPECIES), a11 = FloatVector.zero(SPECIES);
            FloatVector a20 = FloatVector.zero(SPECIES), a21 = FloatVector.zero(SPECIES);
            FloatVector a30 = FloatVector.zero(SPECIES), a31 = FloatVector.zero(SPECIES);
            int k = c * d;
            for (int t = 0; t < d; t++, k += WIDTH) {
                FloatVector k0 = FloatVector.fromArray(SPECIES, bT, k);
                FloatVector k1 = FloatVector.fromArray(SPECIES, bT, k + LANES);
                FloatVector b = FloatVector.broadcast(SPECIES, a[aOff + t]);
                FloatVector x0 = b.sub(k0);
                FloatVector x1 = b.sub(k1);
                a00 = x0.fma(x0, a00);
                a01 = x1.fma(x1, a01);
                b = FloatVector.broadcast(SPECIES, a[aOff + d + t]);
                x0 = b.sub(k0);
                x1 = b.sub(k1);
                a10 = x0.fma(x0, a10);
                a11 = x1.fma(x1, a11);
                b = FloatVector.broadcast(SPECIES, a[aOff + 2 * d + t]);
                x0 = b.sub(k0);
                x1 = b.sub(k1);
                a20 = x0.fma(x0, a20);
                a21 = x1.fma(x1, a21);
                b = FloatVector.broadcast(SPECIES, a[aOff + 3 * d + t]);
                x0 = b.sub(k0);
                x1 = b.sub(k1);
                a30 = x0.fma(x0, a30);
                a31 = x1.fma(x1, a31);
            }
            int o = sOff + c;
            a00.neg().intoArray(s, o);
            a01.neg().intoArray(s, o + LANES);
            a10.neg().intoArray(s, o + BLOCK);
            a11.neg().intoArray(s, o + BLOCK + LANES);
            a20.neg().intoArray(s, o + 2 * BLOCK);
            a21.neg().intoArray(s, o + 2 * BLOCK + LANES);
            a30.neg().intoArray(s, o + 3 * BLOCK);
            a31.neg().intoArray(s, o + 3 * BLOCK + LANES);
        }
    }

    @Override
    public int shift(float[] s, int from, int to, float lse) {
        int used = 0;
        int x = from;
        for (; x <= to - LANES; x += LANES) {
            FloatVector v = FloatVector.fromArray(SPECIES, s, x);
            used += v.compare(VectorOperators.NE, Float.NEGATIVE_INFINITY).trueCount();
            v.sub(lse).min(0f).intoArray(s, x);
        }
        for (; x < to; x++) {
            used += s[x] != Float.NEGATIVE_INFINITY ? 1 : 0;
            s[x] = Math.min(s[x] - lse, 0f);
        }
        return used;
    }

    /** Separate product and difference, not an FMA: the same roundings as a scaling pass and then {@link #shift}. */
    @Override
    public int exponents(float[] raw, int at, int rows, float f, float[] lse, int lseOff, float[] p) {
        int used = 0;
        for (int r = 0; r < rows; r++) {
            float l = lse[lseOff + r];
            for (int x = at + r * BLOCK, end = x + BLOCK; x < end; x += LANES) {
                FloatVector s = FloatVector.fromArray(SPECIES, raw, x).mul(f);
                used += s.compare(VectorOperators.NE, Float.NEGATIVE_INFINITY).trueCount();
                s.sub(l).min(0f).intoArray(p, x);
            }
        }
        return used;
    }

    /**
     * Lanes where p is 0 get dS = 0 by a blend, not a product, so a NaN in their dp or raw score goes nowhere. The
     * products dS·raw are exact in double (24-bit by 24-bit significands), so widening first and fusing is the
     * same as the scalar kernel's product; only the order of the double sum differs. A row is whole vectors
     * ({@link #BLOCK} is a multiple of the lanes), so there is no tail.
     */
    @Override
    public double scoreGradients(float[] p, float[] dp, float[] raw, int at, int rows, float[] bigD, int dOff,
            float c, float[] ds) {
        DoubleVector sum0 = DoubleVector.zero(DOUBLES);
        DoubleVector sum1 = DoubleVector.zero(DOUBLES);
        FloatVector zero = FloatVector.zero(SPECIES);
        for (int r = 0; r < rows; r++) {
            float d = bigD[dOff + r];
            for (int x = at + r * BLOCK, end = x + BLOCK; x < end; x += LANES) {
                FloatVector pv = FloatVector.fromArray(SPECIES, p, x);
                VectorMask<Float> used = pv.compare(VectorOperators.NE, 0f);
                FloatVector dS = zero.blend(pv.mul(FloatVector.fromArray(SPECIES, dp, x).sub(d)), used);
                FloatVector s = zero.blend(FloatVector.fromArray(SPECIES, raw, x), used);
                dS.mul(c).intoArray(ds, x);
                sum0 = widen(dS, 0).fma(widen(s, 0), sum0);
                sum1 = widen(dS, 1).fma(widen(s, 1), sum1);
            }
        }
        // Lane by lane in a fixed order, not reduceLanes(ADD): its order differs between C2 and the Java fallback.
        double total = 0;
        for (double lane : sum0.add(sum1).toArray()) {
            total += lane;
        }
        return total;
    }

    /** Half {@code part} of the lanes of x, in double. */
    private static DoubleVector widen(FloatVector x, int part) {
        return (DoubleVector) x.convertShape(VectorOperators.F2D, DOUBLES, part);
    }

    @Override
    public void accumulate(float[] w, int wOff, int wRow, int wCol, int from, int to, float[] b, int slab,
            float[] acc, int aOff, int aRow, int cols) {
        if (from >= to) {
            return;
        }
        // The two shapes the backward pass uses get methods of their own with constant strides: C2 hoists the range
        // checks on w out of the loop only for a constant scale of the loop variable.
        boolean byColumn = wRow == 1 && wCol == BLOCK;
        boolean byRow = wRow == BLOCK && wCol == 1;
        if (EIGHT) {
            if (byColumn) {
                accumulate8ByColumn(w, wOff, from, to, b, slab, acc, aOff, aRow, cols);
            } else if (byRow) {
                accumulate8ByRow(w, wOff, from, to, b, slab, acc, aOff, aRow, cols);
            } else {
                accumulate8(w, wOff, wRow, wCol, from, to, b, slab, acc, aOff, aRow, cols);
            }
        } else if (byColumn) {
            accumulate4ByColumn(w, wOff, from, to, b, slab, acc, aOff, aRow, cols);
        } else if (byRow) {
            accumulate4ByRow(w, wOff, from, to, b, slab, acc, aOff, aRow, cols);
        } else {
            accumulate4(w, wOff, wRow, wCol, from, to, b, slab, acc, aOff, aRow, cols);
        }
    }

    /** {@link #accumulate} with w read down columns (wRow = 1, wCol = BLOCK), strides constant for C2's range checks. */
    private static void accumulate8ByColumn(float[] w, int wOff, int from, int to, float[] b, int slab, float[] acc,
            int aOff, int aRow, int cols) {
        for (int c = 0; c < cols; c += WIDTH) {
            int o0 = aOff + c;
            int o1 = o0 + aRow;
            int o2 = o1 + aRow;
            int o3 = o2 + aRow;
            int o4 = o3 + aRow;
            int o5 = o4 + aRow;
            int o6 = o5 + aRow;
            int o7 = o6 + aRow;
            FloatVector a00 = FloatVector.fromArray(SPECIES, acc, o0);
            FloatVector a01 = FloatVector.fromArray(SPECIES, acc, o0 + LANES);
            FloatVector a10 = FloatVector.fromArray(SPECIES, acc, o1);
            FloatVector a11 = FloatVector.fromArray(SPECIES, acc, o1 + LANES);
            FloatVector a20 = FloatVector.fromArray(SPECIES, acc, o2);
            FloatVector a21 = FloatVector.fromArray(SPECIES, acc, o2 + LANES);
            FloatVector a30 = FloatVector.fromArray(SPECIES, acc, o3);
            FloatVector a31 = FloatVector.fromArray(SPECIES, acc, o3 + LANES);
            FloatVector a40 = FloatVector.fromArray(SPECIES, acc, o4);
            FloatVector a41 = FloatVector.fromArray(SPECIES, acc, o4 + LANES);
            FloatVector a50 = FloatVector.fromArray(SPECIES, acc, o5);
            FloatVector a51 = FloatVector.fromArray(SPECIES, acc, o5 + LANES);
            FloatVector a60 = FloatVector.fromArray(SPECIES, acc, o6);
            FloatVector a61 = FloatVector.fromArray(SPECIES, acc, o6 + LANES);
            FloatVector a70 = FloatVector.fromArray(SPECIES, acc, o7);
            FloatVector a71 = FloatVector.fromArray(SPECIES, acc, o7 + LANES);
            int base = c / WIDTH * slab;
            for (int k = from; k < to; k++) {
                int bOff = base + k * WIDTH;
                FloatVector v0 = FloatVector.fromArray(SPECIES, b, bOff);
                FloatVector v1 = FloatVector.fromArray(SPECIES, b, bOff + LANES);
                FloatVector x = FloatVector.broadcast(SPECIES, w[wOff + k * BLOCK]);
                a00 = x.fma(v0, a00);
                a01 = x.fma(v1, a01);
                x = FloatVector.broadcast(SPECIES, w[wOff + k * BLOCK + 1]);
                a10 = x.fma(v0, a10);
                a11 = x.fma(v1, a11);
                x = FloatVector.broadcast(SPECIES, w[wOff + k * BLOCK + 2]);
                a20 = x.fma(v0, a20);
                a21 = x.fma(v1, a21);
                x = FloatVector.broadcast(SPECIES, w[wOff + k * BLOCK + 3]);
                a30 = x.fma(v0, a30);
                a31 = x.fma(v1, a31);
                x = FloatVector.broadcast(SPECIES, w[wOff + k * BLOCK + 4]);
                a40 = x.fma(v0, a40);
                a41 = x.fma(v1, a41);
                x = FloatVector.broadcast(SPECIES, w[wOff + k * BLOCK + 5]);
                a50 = x.fma(v0, a50);
                a51 = x.fma(v1, a51);
                x = FloatVector.broadcast(SPECIES, w[wOff + k * BLOCK + 6]);
                a60 = x.fma(v0, a60);
                a61 = x.fma(v1, a61);
                x = FloatVector.broadcast(SPECIES, w[wOff + k * BLOCK + 7]);
                a70 = x.fma(v0, a70);
                a71 = x.fma(v1, a71);
            }
            a00.intoArray(acc, o0);
            a01.intoArray(acc, o0 + LANES);
            a10.intoArray(acc, o1);
            a11.intoArray(acc, o1 + LANES);
            a20.intoArray(acc, o2);
            a21.intoArray(acc, o2 + LANES);
            a30.intoArray(acc, o3);
            a31.intoArray(acc, o3 + LANES);
            a40.intoArray(acc, o4);
            a41.intoArray(acc, o4 + LANES);
            a50.intoArray(acc, o5);
            a51.intoArray(acc, o5 + LANES);
            a60.intoArray(acc, o6);
            a61.intoArray(acc, o6 + LANES);
            a70.intoArray(acc, o7);
            a71.intoArray(acc, o7 + LANES);
        }
    }

    /** {@link #accumulate} with w read along rows (wRow = BLOCK, wCol = 1). */
    private static void accumulate8ByRow(float[] w, int wOff, int from, int to, float[] b, int slab, float[] acc,
            int aOff, int aRow, int cols) {
        for (int c = 0; c < cols; c += WIDTH) {
            int o0 = aOff + c;
            int o1 = o0 + aRow;
            int o2 = o1 + aRow;
            int o3 = o2 + aRow;
            int o4 = o3 + aRow;
            int o5 = o4 + aRow;
            int o6 = o5 + aRow;
            int o7 = o6 + aRow;
            FloatVector a00 = FloatVector.fromArray(SPECIES, acc, o0);
            FloatVector a01 = FloatVector.fromArray(SPECIES, acc, o0 + LANES);
            FloatVector a10 = FloatVector.fromArray(SPECIES, acc, o1);
            FloatVector a11 = FloatVector.fromArray(SPECIES, acc, o1 + LANES);
            FloatVector a20 = FloatVector.fromArray(SPECIES, acc, o2);
            FloatVector a21 = FloatVector.fromArray(SPECIES, acc, o2 + LANES);
            FloatVector a30 = FloatVector.fromArray(SPECIES, acc, o3);
            FloatVector a31 = FloatVector.fromArray(SPECIES, acc, o3 + LANES);
            FloatVector a40 = FloatVector.fromArray(SPECIES, acc, o4);
            FloatVector a41 = FloatVector.fromArray(SPECIES, acc, o4 + LANES);
            FloatVector a50 = FloatVector.fromArray(SPECIES, acc, o5);
            FloatVector a51 = FloatVector.fromArray(SPECIES, acc, o5 + LANES);
            FloatVector a60 = FloatVector.fromArray(SPECIES, acc, o6);
            FloatVector a61 = FloatVector.fromArray(SPECIES, acc, o6 + LANES);
            FloatVector a70 = FloatVector.fromArray(SPECIES, acc, o7);
            FloatVector a71 = FloatVector.fromArray(SPECIES, acc, o7 + LANES);
            int base = c / WIDTH * slab;
            for (int k = from; k < to; k++) {
                int bOff = base + k * WIDTH;
                FloatVector v0 = FloatVector.fromArray(SPECIES, b, bOff);
                FloatVector v1 = FloatVector.fromArray(SPECIES, b, bOff + LANES);
                FloatVector x = FloatVector.broadcast(SPECIES, w[wOff + k]);
                a00 = x.fma(v0, a00);
                a01 = x.fma(v1, a01);
                x = FloatVector.broadcast(SPECIES, w[wOff + BLOCK + k]);
                a10 = x.fma(v0, a10);
                a11 = x.fma(v1, a11);
                x = FloatVector.broadcast(SPECIES, w[wOff + 2 * BLOCK + k]);
                a20 = x.fma(v0, a20);
                a21 = x.fma(v1, a21);
                x = FloatVector.broadcast(SPECIES, w[wOff + 3 * BLOCK + k]);
                a30 = x.fma(v0, a30);
                a31 = x.fma(v1, a31);
                x = FloatVector.broadcast(SPECIES, w[wOff + 4 * BLOCK + k]);
                a40 = x.fma(v0, a40);
                a41 = x.fma(v1, a41);
                x = FloatVector.broadcast(SPECIES, w[wOff + 5 * BLOCK + k]);
                a50 = x.fma(v0, a50);
                a51 = x.fma(v1, a51);
                x = FloatVector.broadcast(SPECIES, w[wOff + 6 * BLOCK + k]);
                a60 = x.fma(v0, a60);
                a61 = x.fma(v1, a61);
                x = FloatVector.broadcast(SPECIES, w[wOff + 7 * BLOCK + k]);
                a70 = x.fma(v0, a70);
                a71 = x.fma(v1, a71);
            }
            a00.intoArray(acc, o0);
            a01.intoArray(acc, o0 + LANES);
            a10.intoArray(acc, o1);
            a11.intoArray(acc, o1 + LANES);
            a20.intoArray(acc, o2);
            a21.intoArray(acc, o2 + LANES);
            a30.intoArray(acc, o3);
            a31.intoArray(acc, o3 + LANES);
            a40.intoArray(acc, o4);
            a41.intoArray(acc, o4 + LANES);
            a50.intoArray(acc, o5);
            a51.intoArray(acc, o5 + LANES);
            a60.intoArray(acc, o6);
            a61.intoArray(acc, o6 + LANES);
            a70.intoArray(acc, o7);
            a71.intoArray(acc, o7 + LANES);
        }
    }

    /** Four rows of {@link #accumulate8ByColumn}. */
    private static void accumulate4ByColumn(float[] w, int wOff, int from, int to, float[] b, int slab, float[] acc,
            int aOff, int aRow, int cols) {
        for (int c = 0; c < cols; c += WIDTH) {
            int o0 = aOff + c;
            int o1 = o0 + aRow;
            int o2 = o1 + aRow;
            int o3 = o2 + aRow;
            FloatVector a00 = FloatVector.fromArray(SPECIES, acc, o0);
            FloatVector a01 = FloatVector.fromArray(SPECIES, acc, o0 + LANES);
            FloatVector a10 = FloatVector.fromArray(SPECIES, acc, o1);
            FloatVector a11 = FloatVector.fromArray(SPECIES, acc, o1 + LANES);
            FloatVector a20 = FloatVector.fromArray(SPECIES, acc, o2);
            FloatVector a21 = FloatVector.fromArray(SPECIES, acc, o2 + LANES);
            FloatVector a30 = FloatVector.fromArray(SPECIES, acc, o3);
            FloatVector a31 = FloatVector.fromArray(SPECIES, acc, o3 + LANES);
            int base = c / WIDTH * slab;
            for (int k = from; k < to; k++) {
                int bOff = base + k * WIDTH;
                FloatVector v0 = FloatVector.fromArray(SPECIES, b, bOff);
                FloatVector v1 = FloatVector.fromArray(SPECIES, b, bOff + LANES);
                FloatVector x = FloatVector.broadcast(SPECIES, w[wOff + k * BLOCK]);
                a00 = x.fma(v0, a00);
                a01 = x.fma(v1, a01);
                x = FloatVector.broadcast(SPECIES, w[wOff + k * BLOCK + 1]);
                a10 = x.fma(v0, a10);
                a11 = x.fma(v1, a11);
                x = FloatVector.broadcast(SPECIES, w[wOff + k * BLOCK + 2]);
                a20 = x.fma(v0, a20);
                a21 = x.fma(v1, a21);
                x = FloatVector.broadcast(SPECIES, w[wOff + k * BLOCK + 3]);
                a30 = x.fma(v0, a30);
                a31 = x.fma(v1, a31);
            }
            a00.intoArray(acc, o0);
            a01.intoArray(acc, o0 + LANES);
            a10.intoArray(acc, o1);
            a11.intoArray(acc, o1 + LANES);
            a20.intoArray(acc, o2);
            a21.intoArray(acc, o2 + LANES);
            a30.intoArray(acc, o3);
            a31.intoArray(acc, o3 + LANES);
        }
    }

    /** Four rows of {@link #accumulate8ByRow}. */
    private static void accumulate4ByRow(float[] w, int wOff, int from, int to, float[] b, int slab, float[] acc,
            int aOff, int aRow, int cols) {
        for (int c = 0; c < cols; c += WIDTH) {
            int o0 = aOff + c;
            int o1 = o0 + aRow;
            int o2 = o1 + aRow;
            int o3 = o2 + aRow;
            FloatVector a00 = FloatVector.fromArray(SPECIES, acc, o0);
            FloatVector a01 = FloatVector.fromArray(SPECIES, acc, o0 + LANES);
            FloatVector a10 = FloatVector.fromArray(SPECIES, acc, o1);
            FloatVector a11 = FloatVector.fromArray(SPECIES, acc, o1 + LANES);
            FloatVector a20 = FloatVector.fromArray(SPECIES, acc, o2);
            FloatVector a21 = FloatVector.fromArray(SPECIES, acc, o2 + LANES);
            FloatVector a30 = FloatVector.fromArray(SPECIES, acc, o3);
            FloatVector a31 = FloatVector.fromArray(SPECIES, acc, o3 + LANES);
            int base = c / WIDTH * slab;
            for (int k = from; k < to; k++) {
                int bOff = base + k * WIDTH;
                FloatVector v0 = FloatVector.fromArray(SPECIES, b, bOff);
                FloatVector v1 = FloatVector.fromArray(SPECIES, b, bOff + LANES);
                FloatVector x = FloatVector.broadcast(SPECIES, w[wOff + k]);
                a00 = x.fma(v0, a00);
                a01 = x.fma(v1, a01);
                x = FloatVector.broadcast(SPECIES, w[wOff + BLOCK + k]);
                a10 = x.fma(v0, a10);
                a11 = x.fma(v1, a11);
                x = FloatVector.broadcast(SPECIES, w[wOff + 2 * BLOCK + k]);
                a20 = x.fma(v0, a20);
                a21 = x.fma(v1, a21);
                x = FloatVector.broadcast(SPECIES, w[wOff + 3 * BLOCK + k]);
                a30 = x.fma(v0, a30);
                a31 = x.fma(v1, a31);
            }
            a00.intoArray(acc, o0);
            a01.intoArray(acc, o0 + LANES);
            a10.intoArray(acc, o1);
            a11.intoArray(acc, o1 + LANES);
            a20.intoArray(acc, o2);
            a21.intoArray(acc, o2 + LANES);
            a30.intoArray(acc, o3);
            a31.intoArray(acc, o3 + LANES);
        }
    }


    /** Four rows of {@link #accumulate}. */
    private static void accumulate4(float[] w, int wOff, int wRow, int wCol, int from, int to, float[] b, int slab,
            float[] acc, int aOff, int aRow, int cols) {
        for (int c = 0; c < cols; c += WIDTH) {
            int o0 = aOff + c;
            int o1 = o0 + aRow;
            int o2 = o1 + aRow;
            int o3 = o2 + aRow;
            FloatVector a00 = FloatVector.fromArray(SPECIES, acc, o0);
            FloatVector a01 = FloatVector.fromArray(SPECIES, acc, o0 + LANES);
            FloatVector a10 = FloatVector.fromArray(SPECIES, acc, o1);
            FloatVector a11 = FloatVector.fromArray(SPECIES, acc, o1 + LANES);
            FloatVector a20 = FloatVector.fromArray(SPECIES, acc, o2);
            FloatVector a21 = FloatVector.fromArray(SPECIES, acc, o2 + LANES);
            FloatVector a30 = FloatVector.fromArray(SPECIES, acc, o3);
            FloatVector a31 = FloatVector.fromArray(SPECIES, acc, o3 + LANES);
            int bOff = c / WIDTH * slab + from * WIDTH;
            int wk = wOff + from * wCol;
            for (int k = from; k < to; k++, bOff += WIDTH, wk += wCol) {
                FloatVector v0 = FloatVector.fromArray(SPECIES, b, bOff);
                FloatVector v1 = FloatVector.fromArray(SPECIES, b, bOff + LANES);
                FloatVector x = FloatVector.broadcast(SPECIES, w[wk]);
                a00 = x.fma(v0, a00);
                a01 = x.fma(v1, a01);
                x = FloatVector.broadcast(SPECIES, w[wk + wRow]);
                a10 = x.fma(v0, a10);
                a11 = x.fma(v1, a11);
                x = FloatVector.broadcast(SPECIES, w[wk + 2 * wRow]);
                a20 = x.fma(v0, a20);
                a21 = x.fma(v1, a21);
                x = FloatVector.broadcast(SPECIES, w[wk + 3 * wRow]);
                a30 = x.fma(v0, a30);
                a31 = x.fma(v1, a31);
            }
            a00.intoArray(acc, o0);
            a01.intoArray(acc, o0 + LANES);
            a10.intoArray(acc, o1);
            a11.intoArray(acc, o1 + LANES);
            a20.intoArray(acc, o2);
            a21.intoArray(acc, o2 + LANES);
            a30.intoArray(acc, o3);
            a31.intoArray(acc, o3 + LANES);
        }
    }

    /** Eight rows of {@link #rawScores} for {@code Σₜ a·bT}. */
    private static void dots8(float[] a, int aOff, int d, float[] bT, float[] s, int sOff) {
        for (int c = 0; c < BLOCK; c += WIDTH) {
            FloatVector a00 = FloatVector.zero(SPECIES), a01 = FloatVector.zero(SPECIES);
            FloatVector a10 = FloatVector.zero(SPECIES), a11 = FloatVector.zero(SPECIES);
            FloatVector a20 = FloatVector.zero(SPECIES), a21 = FloatVector.zero(SPECIES);
            FloatVector a30 = FloatVector.zero(SPECIES), a31 = FloatVector.zero(SPECIES);
            FloatVector a40 = FloatVector.zero(SPECIES), a41 = FloatVector.zero(SPECIES);
            FloatVector a50 = FloatVector.zero(SPECIES), a51 = FloatVector.zero(SPECIES);
            FloatVector a60 = FloatVector.zero(SPECIES), a61 = FloatVector.zero(SPECIES);
            FloatVector a70 = FloatVector.zero(SPECIES), a71 = FloatVector.zero(SPECIES);
            int k = c * d;
            for (int t = 0; t < d; t++, k += WIDTH) {
                FloatVector k0 = FloatVector.fromArray(SPECIES, bT, k);
                FloatVector k1 = FloatVector.fromArray(SPECIES, bT, k + LANES);
                FloatVector b = FloatVector.broadcast(SPECIES, a[aOff + t]);
                a00 = b.fma(k0, a00);
                a01 = b.fma(k1, a01);
                b = FloatVector.broadcast(SPECIES, a[aOff + d + t]);
                a10 = b.fma(k0, a10);
                a11 = b.fma(k1, a11);
                b = FloatVector.broadcast(SPECIES, a[aOff + 2 * d + t]);
                a20 = b.fma(k0, a20);
                a21 = b.fma(k1, a21);
                b = FloatVector.broadcast(SPECIES, a[aOff + 3 * d + t]);
                a30 = b.fma(k0, a30);
                a31 = b.fma(k1, a31);
                b = FloatVector.broadcast(SPECIES, a[aOff + 4 * d + t]);
                a40 = b.fma(k0, a40);
                a41 = b.fma(k1, a41);
                b = FloatVector.broadcast(SPECIES, a[aOff + 5 * d + t]);
                a50 = b.fma(k0, a50);
                a51 = b.fma(k1, a51);
                b = FloatVector.broadcast(SPECIES, a[aOff + 6 * d + t]);
                a60 = b.fma(k0, a60);
                a61 = b.fma(k1, a61);
                b = FloatVector.broadcast(SPECIES, a[aOff + 7 * d + t]);
                a70 = b.fma(k0, a70);
                a71 = b.fma(k1, a71);
            }
            int o = sOff + c;
            a00.intoArray(s, o);
            a01.intoArray(s, o + LANES);
            a10.intoArray(s, o + BLOCK);
            a11.intoArray(s, o + BLOCK + LANES);
            a20.intoArray(s, o + 2 * BLOCK);
            a21.intoArray(s, o + 2 * BLOCK + LANES);
            a30.intoArray(s, o + 3 * BLOCK);
            a31.intoArray(s, o + 3 * BLOCK + LANES);
            a40.intoArray(s, o + 4 * BLOCK);
            a41.intoArray(s, o + 4 * BLOCK + LANES);
            a50.intoArray(s, o + 5 * BLOCK);
            a51.intoArray(s, o + 5 * BLOCK + LANES);
            a60.intoArray(s, o + 6 * BLOCK);
            a61.intoArray(s, o + 6 * BLOCK + LANES);
            a70.intoArray(s, o + 7 * BLOCK);
            a71.intoArray(s, o + 7 * BLOCK + LANES);
        }
    }

    /** Eight rows of {@link #rawScores} for {@code −‖a − b‖²}. */
    private static void distances8(float[] a, int aOff, int d, float[] bT, float[] s, int sOff) {
        for (int c = 0; c < BLOCK; c += WIDTH) {
            FloatVector a00 = FloatVector.zero(SPECIES), a01 = FloatVector.zero(SPECIES);
            FloatVector a10 = FloatVector.zero(SPECIES), a11 = FloatVector.zero(SPECIES);
            FloatVector a20 = FloatVector.zero(SPECIES), a21 = FloatVector.zero(SPECIES);
            FloatVector a30 = FloatVector.zero(SPECIES), a31 = FloatVector.zero(SPECIES);
            FloatVector a40 = FloatVector.zero(SPECIES), a41 = FloatVector.zero(SPECIES);
            FloatVector a50 = FloatVector.zero(SPECIES), a51 = FloatVector.zero(SPECIES);
            FloatVector a60 = FloatVector.zero(SPECIES), a61 = FloatVector.zero(SPECIES);
            FloatVector a70 = FloatVector.zero(SPECIES), a71 = FloatVector.zero(SPECIES);
            int k = c * d;
            for (int t = 0; t < d; t++, k += WIDTH) {
                FloatVector k0 = FloatVector.fromArray(SPECIES, bT, k);
                FloatVector k1 = FloatVector.fromArray(SPECIES, bT, k + LANES);
                FloatVector b = FloatVector.broadcast(SPECIES, a[aOff + t]);
                FloatVector x0 = b.sub(k0);
                FloatVector x1 = b.sub(k1);
                a00 = x0.fma(x0, a00);
                a01 = x1.fma(x1, a01);
                b = FloatVector.broadcast(SPECIES, a[aOff + d + t]);
                x0 = b.sub(k0);
                x1 = b.sub(k1);
                a10 = x0.fma(x0, a10);
                a11 = x1.fma(x1, a11);
                b = FloatVector.broadcast(SPECIES, a[aOff + 2 * d + t]);
                x0 = b.sub(k0);
                x1 = b.sub(k1);
                a20 = x0.fma(x0, a20);
                a21 = x1.fma(x1, a21);
                b = FloatVector.broadcast(SPECIES, a[aOff + 3 * d + t]);
                x0 = b.sub(k0);
                x1 = b.sub(k1);
                a30 = x0.fma(x0, a30);
                a31 = x1.fma(x1, a31);
                b = FloatVector.broadcast(SPECIES, a[aOff + 4 * d + t]);
                x0 = b.sub(k0);
                x1 = b.sub(k1);
                a40 = x0.fma(x0, a40);
                a41 = x1.fma(x1, a41);
                b = FloatVector.broadcast(SPECIES, a[aOff + 5 * d + t]);
                x0 = b.sub(k0);
                x1 = b.sub(k1);
                a50 = x0.fma(x0, a50);
                a51 = x1.fma(x1, a51);
                b = FloatVector.broadcast(SPECIES, a[aOff + 6 * d + t]);
                x0 = b.sub(k0);
                x1 = b.sub(k1);
                a60 = x0.fma(x0, a60);
                a61 = x1.fma(x1, a61);
                b = FloatVector.broadcast(SPECIES, a[aOff + 7 * d + t]);
                x0 = b.sub(k0);
                x1 = b.sub(k1);
                a70 = x0.fma(x0, a70);
                a71 = x1.fma(x1, a71);
            }
            int o = sOff + c;
            a00.neg().intoArray(s, o);
            a01.neg().intoArray(s, o + LANES);
            a10.neg().intoArray(s, o + BLOCK);
            a11.neg().intoArray(s, o + BLOCK + LANES);
            a20.neg().intoArray(s, o + 2 * BLOCK);
            a21.neg().intoArray(s, o + 2 * BLOCK + LANES);
            a30.neg().intoArray(s, o + 3 * BLOCK);
            a31.neg().intoArray(s, o + 3 * BLOCK + LANES);
            a40.neg().intoArray(s, o + 4 * BLOCK);
            a41.neg().intoArray(s, o + 4 * BLOCK + LANES);
            a50.neg().intoArray(s, o + 5 * BLOCK);
            a51.neg().intoArray(s, o + 5 * BLOCK + LANES);
            a60.neg().intoArray(s, o + 6 * BLOCK);
            a61.neg().intoArray(s, o + 6 * BLOCK + LANES);
            a70.neg().intoArray(s, o + 7 * BLOCK);
            a71.neg().intoArray(s, o + 7 * BLOCK + LANES);
        }
    }

    /** Eight rows of {@link #accumulate}. */
    private static void accumulate8(float[] w, int wOff, int wRow, int wCol, int from, int to, float[] b,
            int slab, float[] acc, int aOff, int aRow, int cols) {
        for (int c = 0; c < cols; c += WIDTH) {
            int o0 = aOff + c;
            int o1 = o0 + aRow;
            int o2 = o1 + aRow;
            int o3 = o2 + aRow;
            int o4 = o3 + aRow;
            int o5 = o4 + aRow;
            int o6 = o5 + aRow;
            int o7 = o6 + aRow;
            FloatVector a00 = FloatVector.fromArray(SPECIES, acc, o0);
            FloatVector a01 = FloatVector.fromArray(SPECIES, acc, o0 + LANES);
            FloatVector a10 = FloatVector.fromArray(SPECIES, acc, o1);
            FloatVector a11 = FloatVector.fromArray(SPECIES, acc, o1 + LANES);
            FloatVector a20 = FloatVector.fromArray(SPECIES, acc, o2);
            FloatVector a21 = FloatVector.fromArray(SPECIES, acc, o2 + LANES);
            FloatVector a30 = FloatVector.fromArray(SPECIES, acc, o3);
            FloatVector a31 = FloatVector.fromArray(SPECIES, acc, o3 + LANES);
            FloatVector a40 = FloatVector.fromArray(SPECIES, acc, o4);
            FloatVector a41 = FloatVector.fromArray(SPECIES, acc, o4 + LANES);
            FloatVector a50 = FloatVector.fromArray(SPECIES, acc, o5);
            FloatVector a51 = FloatVector.fromArray(SPECIES, acc, o5 + LANES);
            FloatVector a60 = FloatVector.fromArray(SPECIES, acc, o6);
            FloatVector a61 = FloatVector.fromArray(SPECIES, acc, o6 + LANES);
            FloatVector a70 = FloatVector.fromArray(SPECIES, acc, o7);
            FloatVector a71 = FloatVector.fromArray(SPECIES, acc, o7 + LANES);
            int bOff = c / WIDTH * slab + from * WIDTH;
            int wk = wOff + from * wCol;
            for (int k = from; k < to; k++, bOff += WIDTH, wk += wCol) {
                FloatVector v0 = FloatVector.fromArray(SPECIES, b, bOff);
                FloatVector v1 = FloatVector.fromArray(SPECIES, b, bOff + LANES);
                FloatVector x = FloatVector.broadcast(SPECIES, w[wk]);
                a00 = x.fma(v0, a00);
                a01 = x.fma(v1, a01);
                x = FloatVector.broadcast(SPECIES, w[wk + wRow]);
                a10 = x.fma(v0, a10);
                a11 = x.fma(v1, a11);
                x = FloatVector.broadcast(SPECIES, w[wk + 2 * wRow]);
                a20 = x.fma(v0, a20);
                a21 = x.fma(v1, a21);
                x = FloatVector.broadcast(SPECIES, w[wk + 3 * wRow]);
                a30 = x.fma(v0, a30);
                a31 = x.fma(v1, a31);
                x = FloatVector.broadcast(SPECIES, w[wk + 4 * wRow]);
                a40 = x.fma(v0, a40);
                a41 = x.fma(v1, a41);
                x = FloatVector.broadcast(SPECIES, w[wk + 5 * wRow]);
                a50 = x.fma(v0, a50);
                a51 = x.fma(v1, a51);
                x = FloatVector.broadcast(SPECIES, w[wk + 6 * wRow]);
                a60 = x.fma(v0, a60);
                a61 = x.fma(v1, a61);
                x = FloatVector.broadcast(SPECIES, w[wk + 7 * wRow]);
                a70 = x.fma(v0, a70);
                a71 = x.fma(v1, a71);
            }
            a00.intoArray(acc, o0);
            a01.intoArray(acc, o0 + LANES);
            a10.intoArray(acc, o1);
            a11.intoArray(acc, o1 + LANES);
            a20.intoArray(acc, o2);
            a21.intoArray(acc, o2 + LANES);
            a30.intoArray(acc, o3);
            a31.intoArray(acc, o3 + LANES);
            a40.intoArray(acc, o4);
            a41.intoArray(acc, o4 + LANES);
            a50.intoArray(acc, o5);
            a51.intoArray(acc, o5 + LANES);
            a60.intoArray(acc, o6);
            a61.intoArray(acc, o6 + LANES);
            a70.intoArray(acc, o7);
            a71.intoArray(acc, o7 + LANES);
        }
    }

    @Override
    public void accumulateRow(float[] w, int wOff, int wCol, int from, int to, float[] b, int slab, float[] acc,
            int aOff, int cols) {
        if (from >= to) {
            return;
        }
        for (int c = 0; c < cols; c += WIDTH) {
            FloatVector a0 = FloatVector.fromArray(SPECIES, acc, aOff + c);
            FloatVector a1 = FloatVector.fromArray(SPECIES, acc, aOff + c + LANES);
            int bOff = c / WIDTH * slab + from * WIDTH;
            int wk = wOff + from * wCol;
            for (int k = from; k < to; k++, bOff += WIDTH, wk += wCol) {
                FloatVector x = FloatVector.broadcast(SPECIES, w[wk]);
                a0 = x.fma(FloatVector.fromArray(SPECIES, b, bOff), a0);
                a1 = x.fma(FloatVector.fromArray(SPECIES, b, bOff + LANES), a1);
            }
            a0.intoArray(acc, aOff + c);
            a1.intoArray(acc, aOff + c + LANES);
        }
    }
}
