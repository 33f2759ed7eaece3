package dev.qkv.kernel;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The FlashAttention forward pass on the CPU, for many queries under dot scoring: tiles of {@link #ROWS}
 * queries × blocks of {@link #BLOCK} keys. For each tile and block: a register-blocked tile of scores
 * {@code S = Q·Kᵀ}, online softmax per row (running max, running sum, rescale of the accumulator when the
 * max grows), then {@code O += P·V}. A block of K and V (32 KB each at d = dv = 128) is reused by every tile
 * of a task while it sits in L1/L2.
 *
 * <p>Both products are GEMM-shaped micro-kernels with broadcast operands: a {@link #ROWS} × 2-vector tile
 * keeps its accumulators in registers while it walks packed panels of K and V ({@link KeyChunk}). They read
 * plain arrays, which measured faster than segments for broadcasts.
 *
 * <p>Each {@link Rows} holds the online-softmax state of a group of query rows over one shard of keys;
 * {@link TilePooling} merges the shards. A row's arithmetic depends only on the rows of its micro tile
 * and the shard, never on the thread that runs it.
 */
final class FlashTiles {

    /**
     * Query rows per micro tile: 4 broadcasts × 2 vectors = 8 accumulators, 8 independent FMAs to cover
     * their latency on two pipes. With AVX2's 16 vector registers, 6 rows (12 accumulators) made C2 spill
     * accumulators to the stack inside the loop (seen in the disassembly) and ran at half the speed.
     */
    static final int ROWS = 4;
    /** Keys per block: a multiple of the widest micro tile (2 × 16 LANES), small enough that K and V stay in L1/L2. */
    static final int BLOCK = 64;

    // C2 compiles Vector API calls to SIMD instructions only when the species is a constant: a species in an
    // instance field leaves every operation as a boxed Java fallback, hundreds of times slower. The row kernels'.
    private static final VectorSpecies<Float> SPECIES = VectorKernels.SPECIES;
    private static final int LANES = SPECIES.length();
    static final int WIDTH = 2 * LANES;

    static final FlashTiles INSTANCE = new FlashTiles();

    private FlashTiles() {}

    /** dv rounded up to whole micro-tile widths, so the P·V kernel needs no tail. */
    int dvPad(int dv) {
        return Math.max(WIDTH, (dv + WIDTH - 1) / WIDTH * WIDTH);
    }

    /**
     * A group of query rows, padded to whole micro tiles, with their state over one shard of keys. The queries are
     * kept as given and {@code factor} applied to each finished qᵀk, as {@link Score} defines: a query scaled first
     * could overflow where the score does not (f·q = ∞, then ∞ − ∞ = NaN), and its rounding would make a key's
     * score differ from the row kernels' beyond the order of the sum.
     */
    static final class Rows {
        final int first;
        final int count;
        final int padded;
        final int d;
        final int dvPad;
        final float factor;
        final float[] queries;
        final float[] max;
        final float[] sum;
        final float[] acc;
        final int[] ends;

        Rows(Tensor queries, int first, int count, float factor, int dvPad, int[] ends) {
            this.first = first;
            this.count = count;
            this.padded = (count + ROWS - 1) / ROWS * ROWS;
            this.d = queries.cols();
            this.dvPad = dvPad;
            this.factor = factor;
            this.queries = new float[padded * d];
            this.max = new float[padded];
            this.sum = new float[padded];
            this.acc = new float[padded * dvPad];
            this.ends = new int[padded];
            Arrays.fill(max, Float.NEGATIVE_INFINITY);
            MemorySegment q = queries.segment();
            for (int r = 0; r < count; r++) {
                MemorySegment.copy(q, ValueLayout.JAVA_FLOAT_UNALIGNED, queries.rowOffset(first + r), this.queries,
                        r * d, d);
                this.ends[r] = ends[first + r];
            }
        }
    }

    /**
     * Folds the keys of {@code chunk} into every row of {@code rows}, each row seeing keys before its end. Blocks
     * outside, tiles inside: a block's packed K and V (32 KB each at d = dv = 128) are read by every tile of the
     * group while they sit in L1/L2; tiles outside would stream the whole chunk from L3 once per tile. Each
     * row still meets the blocks in order, so its arithmetic is the same either way.
     */
    void pool(Rows rows, KeyChunk chunk) {
        float[] scores = new float[ROWS * BLOCK];
        int tiles = rows.padded / ROWS;
        int[] minEnd = new int[tiles];
        int[] last = new int[tiles];
        int lastOfAll = 0;
        for (int t = 0; t < tiles; t++) {
            int lo = Integer.MAX_VALUE;
            int hi = 0;
            for (int r = t * ROWS; r < t * ROWS + ROWS && r < rows.count; r++) {
                lo = Math.min(lo, rows.ends[r]);
                hi = Math.max(hi, rows.ends[r]);
            }
            minEnd[t] = lo;
            last[t] = Math.min(chunk.count, Math.max(0, hi - chunk.start));
            lastOfAll = Math.max(lastOfAll, last[t]);
        }
        for (int j0 = 0; j0 < lastOfAll; j0 += BLOCK) {
            for (int t = 0; t < tiles; t++) {
                if (j0 < last[t]) {
                    tile(rows, t * ROWS, chunk, j0, Math.min(BLOCK, last[t] - j0), minEnd[t] - chunk.start - j0, scores);
                }
            }
        }
    }

    /**
     * One micro tile × one block: rows {@code [tile, tile + ROWS)}, keys {@code chunk.start + j0 + [0, n)}.
     * {@code shared} of those keys are seen by every row of the tile; past it, each row stops at its end.
     */
    private void tile(Rows rows, int tile, KeyChunk chunk, int j0, int n, int shared, float[] scores) {
        scores(rows.queries, tile * rows.d, rows.d, rows.factor, chunk.keysT, j0 * rows.d, scores);
        int common = Math.clamp(shared, 0, n);
        for (int r = 0; r < ROWS; r++) {
            int row = tile + r;
            int seen = row < rows.count ? Math.clamp(rows.ends[row] - chunk.start - j0, 0, n) : 0;
            Arrays.fill(scores, r * BLOCK + seen, r * BLOCK + BLOCK, Float.NEGATIVE_INFINITY);
            softmaxRow(rows, row, scores, r * BLOCK);
        }
        accumulate(scores, 0, common, chunk.values, j0, rows.acc, tile * rows.dvPad, rows.dvPad);
        if (common < n) {
            for (int r = 0; r < ROWS; r++) {
                int row = tile + r;
                int seen = row < rows.count ? Math.clamp(rows.ends[row] - chunk.start - j0, 0, n) : 0;
                accumulateRow(scores, r * BLOCK, common, seen, chunk.values, j0, rows.acc, row * rows.dvPad,
                        rows.dvPad);
            }
        }
    }

    /**
     * {@code s[r·BLOCK + j] = factor · Σₜ q[qOff + r·d + t] · kᵀ[t][j]} for the 4 rows of a tile and a whole block,
     * whose packed keys start at {@code kT[panel]} (see {@link KeyChunk}).
     * Queries are broadcast, rows of Kᵀ loaded as vectors: no horizontal sums.
     */
    void scores(float[] q, int qOff, int d, float factor, float[] kT, int panel, float[] s) {
        for (int c = 0; c < BLOCK; c += WIDTH) {
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
            a10.mul(factor).intoArray(s, BLOCK + c);
            a11.mul(factor).intoArray(s, BLOCK + c + LANES);
            a20.mul(factor).intoArray(s, 2 * BLOCK + c);
            a21.mul(factor).intoArray(s, 2 * BLOCK + c + LANES);
            a30.mul(factor).intoArray(s, 3 * BLOCK + c);
            a31.mul(factor).intoArray(s, 3 * BLOCK + c + LANES);
        }
    }

    /**
     * Online softmax of one row of a block: bring the running max up to the block's (rescaling what was
     * accumulated), then replace the scores by {@code exp(s − max)} and add them to the running sum.
     */
    private void softmaxRow(Rows rows, int row, float[] s, int from) {
        FloatVector m = FloatVector.broadcast(SPECIES, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < BLOCK; j += LANES) {
            m = m.max(FloatVector.fromArray(SPECIES, s, from + j));
        }
        float blockMax = m.reduceLanes(VectorOperators.MAX);
        float max = Math.max(rows.max[row], blockMax);
        if (max == Float.NEGATIVE_INFINITY) {
            Arrays.fill(s, from, from + BLOCK, 0f);
            return;
        }
        if (max > rows.max[row]) {
            float rescale = (float) Math.exp(rows.max[row] - max);
            FloatVector f = FloatVector.broadcast(SPECIES, rescale);
            int a = row * rows.dvPad;
            for (int c = 0; c < rows.dvPad; c += LANES) {
                FloatVector.fromArray(SPECIES, rows.acc, a + c).mul(f).intoArray(rows.acc, a + c);
            }
            rows.sum[row] *= rescale;
            rows.max[row] = max;
        }
        FloatVector shift = FloatVector.broadcast(SPECIES, max);
        FloatVector total = FloatVector.zero(SPECIES);
        for (int j = 0; j < BLOCK; j += LANES) {
            FloatVector p = FloatVector.fromArray(SPECIES, s, from + j).sub(shift).lanewise(VectorOperators.EXP);
            p.intoArray(s, from + j);
            total = total.add(p);
        }
        rows.sum[row] += total.reduceLanes(VectorOperators.ADD);
    }

    /**
     * {@code acc[aOff + r·dvPad + c] += Σ_{j ∈ [from, to)} p[r·BLOCK + j] · v[j0 + j][c]} for the 4 rows of a
     * tile, from the block of packed values that starts at {@code v[j0·dvPad]} (see {@link KeyChunk}): weights
     * broadcast, value rows loaded as vectors, 8 accumulators per pair of vectors.
     */
    void accumulate(float[] p, int from, int to, float[] v, int j0, float[] acc, int aOff, int dvPad) {
        if (from >= to) {
            return;
        }
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
            int vOff = j0 * dvPad + c * BLOCK + from * WIDTH;
            for (int j = from; j < to; j++, vOff += WIDTH) {
                FloatVector v0 = FloatVector.fromArray(SPECIES, v, vOff);
                FloatVector v1 = FloatVector.fromArray(SPECIES, v, vOff + LANES);
                FloatVector b = FloatVector.broadcast(SPECIES, p[j]);
                a00 = b.fma(v0, a00);
                a01 = b.fma(v1, a01);
                b = FloatVector.broadcast(SPECIES, p[BLOCK + j]);
                a10 = b.fma(v0, a10);
                a11 = b.fma(v1, a11);
                b = FloatVector.broadcast(SPECIES, p[2 * BLOCK + j]);
                a20 = b.fma(v0, a20);
                a21 = b.fma(v1, a21);
                b = FloatVector.broadcast(SPECIES, p[3 * BLOCK + j]);
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

    /**
     * The tail of a block for one row whose end falls inside it: keys {@code [from, to)} of the block, so a
     * value row the row must not see is never multiplied, not even by a weight of 0 (0 · NaN is NaN).
     */
    private void accumulateRow(float[] p, int pOff, int from, int to, float[] v, int j0, float[] acc, int aOff,
            int dvPad) {
        for (int c = 0; c < dvPad; c += WIDTH) {
            FloatVector a0 = FloatVector.fromArray(SPECIES, acc, aOff + c);
            FloatVector a1 = FloatVector.fromArray(SPECIES, acc, aOff + c + LANES);
            int vOff = j0 * dvPad + c * BLOCK + from * WIDTH;
            for (int j = from; j < to; j++, vOff += WIDTH) {
                FloatVector b = FloatVector.broadcast(SPECIES, p[pOff + j]);
                a0 = b.fma(FloatVector.fromArray(SPECIES, v, vOff), a0);
                a1 = b.fma(FloatVector.fromArray(SPECIES, v, vOff + LANES), a1);
            }
            a0.intoArray(acc, aOff + c);
            a1.intoArray(acc, aOff + c + LANES);
        }
    }
}
