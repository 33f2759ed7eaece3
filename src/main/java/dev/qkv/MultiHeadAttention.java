package dev.qkv;

import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Attention over batches and heads, as models call it: queries (n, d), (B, n, d) or (B, H, n, d); keys (m, d),
 * (B, m, d) or (B, H_kv, m, d) and values of the same leading shape with dv columns. Each (b, h) is the 2-D call
 * of {@link Attention} on the matrices {@link Tensor#slice(int, int) slice(b, h)} of the tensors given, strided
 * views as they are (the heads of a (B, n, H·d) projection are {@link Tensor#splitHeads} of it), so the results
 * are bitwise those of the loop over (b, h) of the 2-D call, whatever the number of threads.
 *
 * <p>Grouped-query attention: H must be a multiple of H_kv, and query head h reads key and value head
 * {@code h / (H / H_kv)}, without a copy (H_kv = 1 is multi-query attention). Keys and values of batch 1 serve
 * every batch of queries; so do keys of rank 2, to every head.
 *
 * <p>Outputs keep the queries' leading dimensions: output (…, n, dv), weights (…, n, m), log-sum-exp (…, n),
 * where … is (), (B) or (B, H). Masks are given per batch (one {@link Mask} for all, or B of them), each applying
 * to every head of its batch: {@link #validLengths(int[], int)} and {@link #validLengths(int[][])} make them from
 * d2l's {@code valid_lens} of shape (B,) or (B, n). A mask's bias ({@link Mask#bias}) broadcasts against the
 * weights' shape (…, n, m) as NumPy and PyTorch's {@code attn_mask} do — (n, m), (B, 1, n, m), (1, H, n, m),
 * (B, 1, 1, m) for key padding, … — and head h takes ALiBi slope h ({@link Mask#alibi}, one slope per query head
 * or one for all); each (b, h) then gets its slice of the bias.
 *
 * <p>Threads go across the (b, h) pairs first: with at least as many pairs as the {@link Attention}'s threads,
 * each pair runs on one thread; with fewer, the pairs run one after another, each on all the threads. Since the
 * 2-D call gives the same bits for any thread count, so does this. Immutable and thread-safe.
 *
 * <p>Shapes, masks, closed arenas and element types are checked before anything is written. With
 * {@link Attention.Builder#checkFinite}, a non-finite value is found by the call of the (b, h) that reads it,
 * and the outputs of other pairs may have been written by then.
 */
public final class MultiHeadAttention {

    private final Attention attention;
    private final Attention oneThread;

    private MultiHeadAttention(Attention attention) {
        this.attention = attention;
        this.oneThread = attention.oneThread();
    }

    /** Multi-head attention with {@code attention}'s scoring, kernels, checks and threads. */
    public static MultiHeadAttention of(Attention attention) {
        return new MultiHeadAttention(Objects.requireNonNull(attention, "attention"));
    }

    /** The 2-D attention each (b, h) runs. */
    public Attention attention() {
        return attention;
    }

    /**
     * One mask per batch from d2l's {@code valid_lens} of shape (B,): every query of batch b sees keys
     * {@code 0 ≤ j < lengths[b]}.
     */
    public static List<Mask> validLengths(int[] lengths, int n) {
        Mask[] masks = new Mask[lengths.length];
        for (int b = 0; b < lengths.length; b++) {
            int[] row = new int[n];
            Arrays.fill(row, lengths[b]);
            if (lengths[b] < 0) {
                throw new IllegalArgumentException("valid length of batch " + b + " is negative: " + lengths[b]);
            }
            masks[b] = Mask.validLengths(row);
        }
        return List.of(masks);
    }

    /** One mask per batch from d2l's {@code valid_lens} of shape (B, n): query i of batch b sees keys j &lt; lengths[b][i]. */
    public static List<Mask> validLengths(int[][] lengths) {
        Mask[] masks = new Mask[lengths.length];
        for (int b = 0; b < lengths.length; b++) {
            try {
                masks[b] = Mask.validLengths(lengths[b]);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("batch " + b + ": " + e.getMessage(), e);
            }
        }
        return List.of(masks);
    }

    /** The pooled output, of shape (…, n, dv), in a new tensor owned by {@code arena}. */
    public Tensor pool(Arena arena, Tensor queries, Tensor keys, Tensor values) {
        return pool(arena, queries, keys, values, List.of(Mask.none()));
    }

    /**
     * The pooled output under {@code masks} (one for every batch, or one per batch), of shape (…, n, dv), in a
     * new tensor owned by {@code arena}.
     */
    public Tensor pool(Arena arena, Tensor queries, Tensor keys, Tensor values, List<Mask> masks) {
        Shapes s = Shapes.of(queries, keys, values, masks);
        Tensor out = allocate(arena, queries, s.dv);
        pool(queries, keys, values, masks, out, null);
        return out;
    }

    /**
     * Writes the pooled output under {@code masks} into {@code out}, of shape (…, n, dv), and, unless
     * {@code logSumExp} is null, each query's log-sum-exp into {@code logSumExp}, of shape (…, n).
     *
     * @throws IllegalArgumentException naming the shapes, if they do not fit together as described in the class
     *     comment, or a mask does not fit its batch; nothing is written then
     */
    public void pool(Tensor queries, Tensor keys, Tensor values, List<Mask> masks, Tensor out, Tensor logSumExp) {
        Shapes s = Shapes.of(queries, keys, values, masks);
        Tensor out4 = s.output("output", out, s.dv);
        Tensor lse4 = logSumExp == null ? null : s.logSumExp(logSumExp);
        forEachHead(s, (a, b, h) -> a.pool(s.q.slice(b, h), s.keys(b, h), s.values(b, h), s.mask(b, h),
                out4.slice(b, h), lse4 == null ? null : lse4.slice(b, h)));
    }

    /** The attention weights under {@code masks}, of shape (…, n, m), in a new tensor owned by {@code arena}. */
    public Tensor weights(Arena arena, Tensor queries, Tensor keys, List<Mask> masks) {
        Shapes s = Shapes.of(queries, keys, null, masks);
        Tensor w = allocate(arena, queries, s.m);
        weights(queries, keys, masks, w);
        return w;
    }

    /** Writes the attention weights under {@code masks} into {@code weights}, of shape (…, n, m). */
    public void weights(Tensor queries, Tensor keys, List<Mask> masks, Tensor weights) {
        Shapes s = Shapes.of(queries, keys, null, masks);
        Tensor w4 = s.output("weights", weights, s.m);
        forEachHead(s, (a, b, h) -> a.weights(s.q.slice(b, h), s.keys(b, h), s.mask(b, h), w4.slice(b, h)));
    }

    /**
     * The partial state of every (b, h) over these keys and values under {@code masks}: B·H partials in (b, h)
     * order, {@code b·H + h}, each {@link Attention#partial} of the 2-D call of (b, h). Pooled shard by shard of the
     * keys, the partials of the same (b, h) merge ({@link Partial#merge}) into that of all keys, and
     * {@link Partial#output(Tensor)} finishes each into {@code out.slice(b, h)}. Masks (and biases) index the keys
     * given here.
     */
    public List<Partial> partials(Tensor queries, Tensor keys, Tensor values, List<Mask> masks) {
        Shapes s = Shapes.of(queries, keys, values, masks);
        Partial[] partials = new Partial[s.batch * s.heads];
        forEachHead(s, (a, b, h) -> partials[b * s.heads + h] = a.partial(s.q.slice(b, h), s.keys(b, h),
                s.values(b, h), s.mask(b, h)));
        return List.of(partials);
    }

    /**
     * The gradients of {@code L = Σ gradOut∘pool(queries, keys, values, masks)} with respect to the queries, keys and
     * values, in new tensors of their shapes owned by {@code arena}, and with respect to the scoring's factor (and σ
     * of a Gaussian), summed over the heads. {@code gradOut} has the output's shape (…, n, dv). Each (b, h) is
     * {@link Attention#gradients(Arena, Tensor, Tensor, Tensor, Mask, Tensor)} of its 2-D call, on the attention's
     * threads; the pairs run one after another. A key and value head shared by a group of query heads (or by every
     * batch) gets the sum of their gradients, added in (b, h) order, so the result is bitwise the same for any
     * thread count. No gradient is taken with respect to a bias.
     *
     * @throws IllegalArgumentException naming the shapes, as {@link #pool} does, or if {@code gradOut} does not have
     *     the output's shape; nothing is computed then
     */
    public Gradients gradients(Arena arena, Tensor queries, Tensor keys, Tensor values, List<Mask> masks,
            Tensor gradOut) {
        Shapes s = Shapes.of(queries, keys, values, masks);
        Tensor g4 = s.output("gradient of the output", gradOut, s.dv);
        checkBiasThreads(s);
        Tensor dq = Tensor.allocate(arena, queries.shape());
        Tensor dk = Tensor.allocate(arena, keys.shape());
        Tensor dv = Tensor.allocate(arena, values.shape());
        Tensor dq4 = Shapes.fourD("dQueries", dq);
        Tensor dk4 = Shapes.fourD("dKeys", dk);
        Tensor dv4 = Shapes.fourD("dValues", dv);
        double factor = 0;
        double sigma = 0;
        for (int b = 0; b < s.batch; b++) {
            for (int h = 0; h < s.heads; h++) {
                try (Arena scratch = Arena.ofConfined()) {
                    Gradients g = attention.gradients(scratch, s.q.slice(b, h), s.keys(b, h), s.values(b, h),
                            s.mask(b, h), g4.slice(b, h));
                    dq4.slice(b, h).copyFrom(g.queries());
                    add(g.keys(), dk4.slice(s.k.batch() == 1 ? 0 : b, h / s.group));
                    add(g.values(), dv4.slice(s.v.batch() == 1 ? 0 : b, h / s.group));
                    factor += g.factor();
                    sigma += g.sigma();
                }
            }
        }
        return new Gradients(dq, dk, dv, factor, sigma);
    }

    /** {@code to += from}, element by element, for two matrices of one shape. */
    private static void add(Tensor from, Tensor to) {
        for (int i = 0; i < from.rows(); i++) {
            for (int j = 0; j < from.cols(); j++) {
                to.set(i, j, to.get(i, j) + from.get(i, j));
            }
        }
    }

    private interface HeadCall {
        void run(Attention attention, int b, int h);
    }

    /** Helper threads read the bias of a (b, h) they run: refuse a confined one before any is written. */
    private void checkBiasThreads(Shapes s) {
        for (Mask mask : s.masks) {
            if (mask.biasTensor() != null) {
                Checks.readableByThreads("bias", mask.biasTensor(), attention.threads());
            }
        }
    }

    private void forEachHead(Shapes s, HeadCall call) {
        checkBiasThreads(s);
        int pairs = s.batch * s.heads;
        if (attention.threads() > 1 && pairs >= attention.threads()) {
            attention.workers().forEach(pairs, p -> call.run(oneThread, p / s.heads, p % s.heads));
        } else {
            for (int p = 0; p < pairs; p++) {
                call.run(attention, p / s.heads, p % s.heads);
            }
        }
    }

    /** A new tensor with the leading dimensions of {@code queries}, then (n, cols). */
    private static Tensor allocate(Arena arena, Tensor queries, int cols) {
        int n = queries.rows();
        return switch (queries.rank()) {
            case 2 -> Tensor.allocate(arena, n, cols);
            case 3 -> Tensor.allocate(arena, queries.batch(), n, cols);
            default -> Tensor.allocate(arena, queries.batch(), queries.heads(), n, cols);
        };
    }

    /** The inputs seen as (B, H, rows, cols), checked against each other before anything is computed. */
    private record Shapes(Tensor queries, Tensor q, Tensor k, Tensor v, List<Mask> masks, int batch, int heads,
            int group, int m, int dv) {

        static Shapes of(Tensor queries, Tensor keys, Tensor values, List<Mask> masks) {
            Objects.requireNonNull(queries, "queries");
            Objects.requireNonNull(keys, "keys");
            Objects.requireNonNull(masks, "masks");
            Tensor q = fourD("queries", queries);
            Tensor k = fourD("keys", keys);
            Tensor v = values == null ? null : fourD("values", values);
            if (k.batch() != q.batch() && k.batch() != 1) {
                throw new IllegalArgumentException(shapes(queries, keys, values) + ": keys need batch " + q.batch()
                        + " or 1, not " + k.batch());
            }
            if (k.heads() == 0 || q.heads() % k.heads() != 0) {
                throw new IllegalArgumentException(shapes(queries, keys, values) + ": the query heads " + q.heads()
                        + " must be a multiple of the key heads " + k.heads());
            }
            if (k.cols() != q.cols()) {
                throw new IllegalArgumentException(shapes(queries, keys, values)
                        + ": queries and keys differ in dimension d");
            }
            if (v != null && (v.batch() != k.batch() || v.heads() != k.heads() || v.rows() != k.rows())) {
                throw new IllegalArgumentException(shapes(queries, keys, values)
                        + ": values need the batches, heads and rows of the keys");
            }
            if (masks.size() != 1 && masks.size() != q.batch()) {
                throw new IllegalArgumentException(masks.size() + " masks for " + q.batch()
                        + " batches: give one for all or one per batch");
            }
            for (int b = 0; b < masks.size(); b++) {
                Mask mask = Objects.requireNonNull(masks.get(b), "mask");
                try {
                    mask.checkHeads(queries.rank(), q.batch(), q.heads(), q.rows(), k.rows());
                    mask.head(0, 0, queries.rank()).check(q.rows(), k.rows());
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException((masks.size() == 1 ? "mask: " : "mask of batch " + b + ": ")
                            + e.getMessage(), e);
                }
            }
            return new Shapes(queries, q, k, v, masks, q.batch(), q.heads(), q.heads() / k.heads(), k.rows(),
                    v == null ? 0 : v.cols());
        }

        /** The shapes for a message, built only when one is thrown: every call would pay for it otherwise. */
        private static String shapes(Tensor queries, Tensor keys, Tensor values) {
            return "queries " + queries.shapeString() + ", keys " + keys.shapeString()
                    + (values == null ? "" : ", values " + values.shapeString());
        }

        /** Rank 2, 3 and 4 as (B, H, rows, cols) views; rank 1 and half precision are the 2-D API's to refuse. */
        private static Tensor fourD(String name, Tensor t) {
            Tensor four = switch (t.rank()) {
                case 2 -> t.view(1, 1, t.rows(), t.cols());
                case 3 -> t.view(t.batch(), 1, t.rows(), t.cols());
                case 4 -> t;
                default -> throw new IllegalArgumentException(name + " must have rank 2, 3 or 4, got shape "
                        + t.shapeString() + "; a single query is Attention's");
            };
            if (four.batch() > 0 && four.heads() > 0) {
                Checks.alive(name, four.slice(0, 0)); // before any thread writes: closed arenas, element types
            }
            return four;
        }

        Tensor keys(int b, int h) {
            return k.slice(k.batch() == 1 ? 0 : b, h / group);
        }

        Tensor values(int b, int h) {
            return v.slice(v.batch() == 1 ? 0 : b, h / group);
        }

        /** The 2-D mask of (b, h): its batch's, with the bias and ALiBi slope of (b, h). */
        Mask mask(int b, int h) {
            return masks.get(masks.size() == 1 ? 0 : b).head(b, h, queries.rank());
        }

        /** {@code out}, which must have the queries' leading dimensions and (n, cols), as (B, H, n, cols). */
        Tensor output(String name, Tensor out, int cols) {
            Objects.requireNonNull(out, name);
            int[] expected = queries.shape();
            expected[expected.length - 1] = cols;
            if (!Arrays.equals(out.shape(), expected)) {
                throw new IllegalArgumentException(name + " has shape " + out.shapeString() + ", expected "
                        + shapeString(expected));
            }
            return fourD(name, out);
        }

        /** {@code lse}, of the queries' leading dimensions and (n), as (B, H, 1, n). */
        Tensor logSumExp(Tensor lse) {
            int[] shape = queries.shape();
            int[] expected = Arrays.copyOf(shape, shape.length - 1);
            if (!Arrays.equals(lse.shape(), expected)) {
                throw new IllegalArgumentException("log-sum-exp has shape " + lse.shapeString() + ", expected "
                        + shapeString(expected));
            }
            return lse.view(batch, heads, 1, q.rows());
        }

        private static String shapeString(int[] shape) {
            StringBuilder s = new StringBuilder("(");
            for (int i = 0; i < shape.length; i++) {
                s.append(i == 0 ? "" : ", ").append(shape[i]);
            }
            return s.append(shape.length == 1 ? ",)" : ")").toString();
        }
    }
}
