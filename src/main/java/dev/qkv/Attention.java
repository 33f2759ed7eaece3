package dev.qkv;

import dev.qkv.algorithm.Backward;
import dev.qkv.algorithm.PagedPooling;
import dev.qkv.algorithm.Pooling;
import dev.qkv.algorithm.Rows;
import dev.qkv.algorithm.Visibility;
import dev.qkv.algorithm.Workers;
import dev.qkv.kernel.KernelProvider;
import dev.qkv.kernel.Kernels;
import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Sizes;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.concurrent.Executor;

/**
 * Attention pooling: for each query q, {@code out(q) = Σᵢ α(q, kᵢ) vᵢ} with
 * {@code α(q, kᵢ) = exp(a(q, kᵢ) − M) / Σⱼ exp(a(q, kⱼ) − M)} and {@code M = maxⱼ a(q, kⱼ)}.
 *
 * <p>Shapes: queries n×d (or a single query of shape (d,)), keys m×d, values m×dv; the output is n×dv (or
 * (dv,)) and the weights n×m (or (m,)). Any m ≥ 0. Softmax is always max-subtracted, so exp is only taken
 * of non-positive numbers and scores as large as ±10³⁰ give exact one-hot weights, never NaN or ∞. Finite
 * inputs give a finite output and finite weights even where scores overflow float: such a query is computed again
 * in double and gets the softmax's limit (tied maxima share the weight, the nearest keys win under Gaussian
 * scoring); its log-sum-exp is ±∞ only where the true value is beyond float. A query
 * with no key left, because m = 0 or its mask hides every key, gets weights 0 and output 0.
 *
 * <p>Masks ({@link Mask}) hide keys per query and add score biases (a float tensor, ALiBi). Many queries under dot
 * scoring run as FlashAttention tiles (tiles of queries × blocks of keys) with the vector kernels; other cases run
 * query by query. Keys can be pooled shard by shard and merged ({@link #partial}, {@link Partial}). A call may use
 * several threads ({@link Builder#threads}); the output is bitwise the same whatever their number, because the work
 * is cut by the shapes alone and partial results are merged in a fixed order.
 *
 * <p>One caveat on bits, for the vector kernels only: until C2 has compiled them (the first few hundred to
 * few thousand calls of a JVM), the Vector API runs its Java fallback, whose {@code lanewise(EXP)} and
 * {@code reduceLanes(ADD)} round differently from the compiled code (Math.exp per lane and lanes summed in
 * order, against the SVML stub and C2's lane order; the row path's scores are the exception, their lanes summed in
 * one fixed order in every tier, and so is the tiles' exp, a polynomial of lane-wise steps). Results taken in that
 * window can differ from later ones in the last bits, always within the documented error bounds, and a multi-threaded call during it can
 * differ from a single-threaded one. Once compiled, the same inputs give the same bits for any thread
 * count. The scalar kernels give the same bits from the first call.
 *
 * <p>An {@code Attention} is immutable and thread-safe; build one with {@link #builder()} and reuse it.
 * Every method checks its arguments and throws {@link IllegalArgumentException} naming the offending shapes
 * or values, or {@link IllegalStateException} for a tensor whose arena is closed, before writing anything.
 */
public final class Attention {

    private final Scoring scoring;
    private final Kernels kernels;
    private final boolean checkFinite;
    private final int threads;
    private final Workers workers;

    private Attention(Builder b) {
        this.scoring = b.scoring;
        this.kernels = b.kernels != null ? KernelProvider.named(b.kernels) : KernelProvider.defaults();
        this.checkFinite = b.checkFinite;
        this.threads = b.threads;
        this.workers = new Workers(b.threads, b.executor);
    }

    /** A builder with scaled-dot scoring, the default kernels and no finiteness check. */
    public static Builder builder() {
        return new Builder();
    }

    /** Scaled-dot attention with the default kernels. */
    public static Attention scaledDot() {
        return builder().build();
    }

    /** The scoring function. */
    public Scoring scoring() {
        return scoring;
    }

    /** The name of the kernels that do the work: {@code "scalar"} or {@code "vector"}. */
    public String kernels() {
        return kernels.name();
    }

    /** The most threads one call uses. */
    public int threads() {
        return threads;
    }

    private Attention(Attention other) {
        this.scoring = other.scoring;
        this.kernels = other.kernels;
        this.checkFinite = other.checkFinite;
        this.threads = 1;
        this.workers = new Workers(1, null);
    }

    /** This attention on one thread, for {@link MultiHeadAttention}, which spreads whole calls over threads. */
    Attention oneThread() {
        return threads == 1 ? this : new Attention(this);
    }

    /** The threads of one call: the caller's and up to {@link #threads()} − 1 helpers. */
    Workers workers() {
        return workers;
    }

    /** The pooled output, in a new tensor owned by {@code arena}. */
    public Tensor pool(Arena arena, Tensor queries, Tensor keys, Tensor values) {
        return pool(arena, queries, keys, values, Mask.none());
    }

    /** The pooled output under {@code mask}, in a new tensor owned by {@code arena}. */
    public Tensor pool(Arena arena, Tensor queries, Tensor keys, Tensor values, Mask mask) {
        Visibility visibility = checkInputs(queries, keys, values, mask);
        Tensor out = queries.rank() == 1 ? Tensor.allocate(arena, values.cols())
                : Tensor.allocate(arena, queries.rows(), values.cols());
        pool(queries.asMatrix(), keys, values, visibility, out, null);
        return out;
    }

    /** Writes the pooled output under {@code mask} into {@code out}, of shape n×dv (or (dv,)). */
    public void pool(Tensor queries, Tensor keys, Tensor values, Mask mask, Tensor out) {
        pool(queries, keys, values, mask, out, null);
    }

    /**
     * Writes the pooled output under {@code mask} into {@code out}, of shape n×dv (or (dv,)), and, unless
     * {@code logSumExp} is null, each query's {@code log Σⱼ exp(a(q, kⱼ))} over the keys it sees into
     * {@code logSumExp}, of shape (n,) (or (1,) for a single query); −∞ for a query with no key.
     */
    public void pool(Tensor queries, Tensor keys, Tensor values, Mask mask, Tensor out, Tensor logSumExp) {
        Visibility visibility = checkInputs(queries, keys, values, mask);
        checkOutput("output", out, queries.rows(), values.cols());
        if (logSumExp != null) {
            checkOutput("log-sum-exp", logSumExp, 1, queries.rows());
        }
        pool(queries.asMatrix(), keys, values, visibility, out, logSumExp);
    }

    private static void finish(Rows rows, Tensor out, Tensor logSumExp) {
        Pooling.finish(rows, out.asMatrix(), logSumExp == null ? null : logSumExp.asMatrix());
    }

    /** {@link #compute} and {@link #finish}, in one step: the algorithm layer may write each output as it is done. */
    private void pool(Tensor queries, Tensor keys, Tensor values, Visibility visibility, Tensor out,
            Tensor logSumExp) {
        Pooling.pool(kernels, scoring.resolve(queries.cols()), float32(queries), keys, values, visibility, workers,
                out.asMatrix(), logSumExp == null ? null : logSumExp.asMatrix());
    }

    /**
     * The partial state of pooling the queries over these keys and values only, to be merged with the
     * partials of other shards of keys (see {@link Partial}). Masks index the keys given here. For a single query of
     * shape (d,), the partial's {@link Partial#output(Arena)} has shape (dv,), as {@link #pool} would.
     */
    public Partial partial(Tensor queries, Tensor keys, Tensor values, Mask mask) {
        Visibility visibility = checkInputs(queries, keys, values, mask);
        return new Partial(compute(queries.asMatrix(), keys, values, visibility), queries.rank() == 1);
    }

    /**
     * The pooled output of the queries over every key and value of {@code store} (those appended before this call),
     * in a new tensor owned by {@code arena}: n×dv, or (dv,) for a single query of shape (d,).
     */
    public Tensor pool(Arena arena, Tensor queries, KeyValueStore store) {
        Objects.requireNonNull(arena, "arena");
        KeyValueStore.Snapshot snapshot = checked(queries, store);
        Tensor out = queries.rank() == 1 ? Tensor.allocate(arena, store.valueDim())
                : Tensor.allocate(arena, queries.rows(), store.valueDim());
        pool(queries, store, snapshot, out);
        return out;
    }

    /**
     * Writes the pooled output of the queries over every key and value of {@code store} into {@code out}, of shape
     * n×dv (or (dv,)): bitwise what {@link #pool(Tensor, Tensor, Tensor, Mask, Tensor)} gives for the same keys
     * and values as two tensors of the store's element type (see {@link KeyValueStore}).
     */
    public void pool(Tensor queries, KeyValueStore store, Tensor out) {
        Objects.requireNonNull(queries, "queries");
        Objects.requireNonNull(store, "store");
        checkOutput("output", out, queries.rows(), store.valueDim());
        pool(queries, store, checked(queries, store), out);
    }

    private void pool(Tensor queries, KeyValueStore store, KeyValueStore.Snapshot snapshot, Tensor out) {
        Tensor q = float32(queries.asMatrix());
        PagedPooling.pool(kernels, scoring.resolve(q.cols()), q, snapshot.keys(), snapshot.values(), snapshot.size(),
                store.valueDim(), snapshot.packed(), workers, out.asMatrix());
    }

    /** The partial state of the queries over every key and value of {@code store}, to merge with others. */
    public Partial partial(Tensor queries, KeyValueStore store) {
        return new Partial(compute(queries, store), queries.rank() == 1);
    }

    private Rows compute(Tensor queries, KeyValueStore store) {
        KeyValueStore.Snapshot snapshot = checked(queries, store);
        Tensor q = float32(queries.asMatrix());
        return PagedPooling.pool(kernels, scoring.resolve(q.cols()), q, snapshot.keys(), snapshot.values(),
                snapshot.size(), store.valueDim(), snapshot.packed(), workers);
    }

    /** The store's rows appended so far, after checking the queries and them for a call. */
    private KeyValueStore.Snapshot checked(Tensor queries, KeyValueStore store) {
        Objects.requireNonNull(queries, "queries");
        Objects.requireNonNull(store, "store");
        Checks.alive("queries", queries, true);
        if (queries.cols() != store.keyDim()) {
            throw new IllegalArgumentException("queries " + queries.shapeString() + " and " + store
                    + " differ in dimension d");
        }
        if (!store.isAlive()) {
            throw new IllegalStateException(store + ": the arena that owns this store is closed");
        }
        Sizes.checkHeapArray("the partial state of " + queries.rows() + " queries × " + store.valueDim() + " values",
                (long) queries.rows() * store.valueDim(), Double.BYTES);
        Checks.readableByThreads("queries", queries, threads);
        KeyValueStore.Snapshot snapshot = store.snapshot();
        for (int p = 0; p < snapshot.keys().length; p++) {
            Checks.readableByThreads("the pages of " + store, snapshot.keys()[p], threads);
            if (checkFinite) {
                int rows = Math.min(KeyValueStore.PAGE, snapshot.size() - p * KeyValueStore.PAGE);
                Checks.finite("keys of " + store, snapshot.keys()[p].rows(0, rows), null);
                Checks.finite("values of " + store, snapshot.values()[p].rows(0, rows), null);
            }
        }
        scoring.resolve(queries.cols());
        if (checkFinite) {
            Checks.finite("queries", queries, null);
        }
        return snapshot;
    }

    /** Every query's state, by the algorithm layer. */
    private Rows compute(Tensor queries, Tensor keys, Tensor values, Visibility visibility) {
        return Pooling.pool(kernels, scoring.resolve(queries.cols()), float32(queries), keys, values, visibility,
                workers);
    }

    /**
     * Float32 queries as they are; half ones widened, exactly, into a copy on the heap (n×d floats, small beside
     * the keys): the kernels read float32 queries against keys of any element type.
     */
    private static Tensor float32(Tensor queries) {
        if (queries.elementType() == ElementType.F32) {
            return queries;
        }
        return Tensor.wrap(MemorySegment.ofArray(queries.toFlatArray()), 2, queries.rows(), queries.cols(),
                queries.cols());
    }

    /** The attention weights, n×m (or (m,)), in a new tensor owned by {@code arena}. */
    public Tensor weights(Arena arena, Tensor queries, Tensor keys) {
        return weights(arena, queries, keys, Mask.none());
    }

    /** The attention weights under {@code mask}, n×m (or (m,)), in a new tensor owned by {@code arena}. */
    public Tensor weights(Arena arena, Tensor queries, Tensor keys, Mask mask) {
        checkQueriesAndKeys(queries, keys, mask);
        Sizes.checkOffHeap("weights " + (queries.rank() == 1 ? "(" + keys.rows() + ")"
                : "(" + queries.rows() + ", " + keys.rows() + ")"), Sizes.bytes((long) queries.rows() * keys.rows(), 4));
        Tensor w = queries.rank() == 1 ? Tensor.allocate(arena, keys.rows())
                : Tensor.allocate(arena, queries.rows(), keys.rows());
        weights(queries, keys, mask, w);
        return w;
    }

    /**
     * Writes the attention weights under {@code mask} into {@code weights}, of shape n×m (or (m,)): the
     * max-subtracted softmax of each query's scores, 0 for masked keys; a row with no key left is all 0.
     */
    public void weights(Tensor queries, Tensor keys, Mask mask, Tensor weights) {
        Visibility visibility = checkQueriesAndKeys(queries, keys, mask);
        checkOutput("weights", weights, queries.rows(), keys.rows());
        Sizes.checkHeapArray("a row of " + keys.rows() + " scores", keys.rows(), Float.BYTES);
        Tensor q = float32(queries.asMatrix());
        Pooling.weights(kernels, scoring.resolve(q.cols()), q, keys, visibility, weights.asMatrix());
    }

    /**
     * The gradients of {@code L = Σ gradOut∘pool(queries, keys, values, mask)} with respect to the queries, keys and
     * values, and the scoring's factor (and σ of a Gaussian), in new tensors owned by {@code arena}: the forward
     * pooling, then {@link #gradients(Tensor, Tensor, Tensor, Mask, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)}.
     * {@code gradOut} has the output's shape, n×dv (or (dv,)).
     */
    public Gradients gradients(Arena arena, Tensor queries, Tensor keys, Tensor values, Mask mask, Tensor gradOut) {
        Visibility visibility = checkInputs(queries, keys, values, mask);
        checkFloat32ForGradients(queries, keys, values);
        checkOutput("gradient of the output", gradOut, queries.rows(), values.cols());
        try (Arena scratch = Arena.ofConfined()) {
            Tensor out = Tensor.allocate(scratch, queries.rows(), values.cols());
            Tensor logSumExp = Tensor.allocate(scratch, queries.rows());
            pool(queries.asMatrix(), keys, values, visibility, out, logSumExp);
            Tensor dQueries = queries.rank() == 1 ? Tensor.allocate(arena, queries.cols())
                    : Tensor.allocate(arena, queries.rows(), queries.cols());
            Tensor dKeys = Tensor.allocate(arena, keys.rows(), keys.cols());
            Tensor dValues = Tensor.allocate(arena, values.rows(), values.cols());
            return backward(queries, keys, values, visibility, gradOut, out, logSumExp, dQueries, dKeys, dValues);
        }
    }

    /**
     * The backward pass of FlashAttention-2 from the forward's {@code out} and {@code logSumExp} (as
     * {@link #pool(Tensor, Tensor, Tensor, Mask, Tensor, Tensor)} writes them): writes ∂L/∂queries, ∂L/∂keys and
     * ∂L/∂values for {@code L = Σ gradOut∘out} into those of {@code dQueries}, {@code dKeys}, {@code dValues} that
     * are not null (at least one must be), of the shapes of queries, keys and values, and returns them with ∂L/∂f.
     *
     * <p>Weights are recomputed block by block from the log-sum-exp, {@code D = rowsum(gradOut∘out)} and
     * {@code dS = P∘(dP − D)}; no n×m matrix is ever held. The keys are cut into at most 8 shards by the shapes
     * alone, each a task that owns its keys' dK and dV and keeps a partial dQ (n×d floats, at most 16 MB in all),
     * summed in shard order: the result is bitwise the same for any thread count. A running task also holds its
     * keys and values packed for the micro-kernels (about 3·d floats a key) from 8 queries on. A hidden key or value is never
     * used, so NaN there cannot reach a gradient; a key no query sees gets dK = dV = 0 exactly.
     */
    public Gradients gradients(Tensor queries, Tensor keys, Tensor values, Mask mask, Tensor gradOut, Tensor out,
            Tensor logSumExp, Tensor dQueries, Tensor dKeys, Tensor dValues) {
        Visibility visibility = checkInputs(queries, keys, values, mask);
        checkFloat32ForGradients(queries, keys, values);
        checkOutput("gradient of the output", gradOut, queries.rows(), values.cols());
        checkOutput("output", out, queries.rows(), values.cols());
        checkOutput("log-sum-exp", logSumExp, 1, queries.rows());
        if (dQueries == null && dKeys == null && dValues == null) {
            throw new IllegalArgumentException("no gradient asked for: dQueries, dKeys and dValues are all null");
        }
        if (dQueries != null) {
            checkOutput("dQueries", dQueries, queries.rows(), queries.cols());
        }
        if (dKeys != null) {
            checkOutput("dKeys", dKeys, keys.rows(), keys.cols());
        }
        if (dValues != null) {
            checkOutput("dValues", dValues, values.rows(), values.cols());
        }
        return backward(queries, keys, values, visibility, gradOut, out, logSumExp, dQueries, dKeys, dValues);
    }

    private Gradients backward(Tensor queries, Tensor keys, Tensor values, Visibility visibility, Tensor gradOut,
            Tensor out,
            Tensor logSumExp, Tensor dQueries, Tensor dKeys, Tensor dValues) {
        int n = queries.rows();
        float[] lse = new float[n];
        Tensor lseRow = logSumExp.asMatrix();
        for (int i = 0; i < n; i++) {
            lse[i] = lseRow.get(0, i);
        }
        double dFactor = Backward.run(kernels, scoring.resolve(queries.cols()), queries.asMatrix(), keys, values,
                visibility, gradOut.asMatrix(),
                out.asMatrix(), lse, dQueries == null ? null : dQueries.asMatrix(), dKeys, dValues, workers);
        double sigma = scoring.ownSigma();
        // f = 1/(2σ²): ∂f/∂σ = −1/σ³.
        double dSigma = Double.isNaN(sigma) ? Double.NaN : -dFactor / (sigma * sigma * sigma);
        return new Gradients(dQueries, dKeys, dValues, dFactor, dSigma);
    }

    /** Checks queries, keys and mask, and returns the mask's visibility for them (checking the bias's entries). */
    private Visibility checkQueriesAndKeys(Tensor queries, Tensor keys, Mask mask) {
        Objects.requireNonNull(queries, "queries");
        Objects.requireNonNull(keys, "keys");
        Objects.requireNonNull(mask, "mask");
        Checks.queriesAndKeys(queries, keys, true);
        Checks.readableByThreads("queries", queries, threads);
        Checks.readableByThreads("keys", keys, threads);
        mask.check(queries.rows(), keys.rows());
        if (mask.biasTensor() != null) {
            Checks.readableByThreads("bias", mask.biasTensor(), threads);
        }
        scoring.resolve(queries.cols());
        Visibility visibility = mask.visibility(queries.rows(), keys.rows());
        if (checkFinite) {
            Checks.finite("queries", queries, null);
            Checks.finite("keys", keys, visibility.seen());
        }
        return visibility;
    }

    private Visibility checkInputs(Tensor queries, Tensor keys, Tensor values, Mask mask) {
        Objects.requireNonNull(values, "values");
        Visibility visibility = checkQueriesAndKeys(queries, keys, mask);
        Checks.values(keys, values, true);
        Checks.readableByThreads("values", values, threads);
        Sizes.checkHeapArray("the partial state of " + queries.rows() + " queries × " + values.cols() + " values",
                (long) queries.rows() * values.cols(), Double.BYTES);
        if (checkFinite) {
            Checks.finite("values", values, visibility.seen());
        }
        return visibility;
    }

    /** The backward pass reads float32 only: half inputs are refused with the way out named. */
    private static void checkFloat32ForGradients(Tensor queries, Tensor keys, Tensor values) {
        Checks.alive("queries", queries);
        Checks.alive("keys", keys);
        Checks.alive("values", values);
    }

    private static void checkOutput(String name, Tensor out, int rows, int cols) {
        Objects.requireNonNull(out, name);
        Checks.alive(name, out);
        if (out.rows() != rows || out.cols() != cols) {
            throw new IllegalArgumentException(name + " has shape " + out.shapeString() + ", expected ("
                    + rows + ", " + cols + ")");
        }
    }

    /** Configures an {@link Attention}. Not thread-safe; the built object is. */
    public static final class Builder {
        private Scoring scoring = Scoring.scaledDot();
        private String kernels;
        private boolean checkFinite;
        private int threads = 1;
        private Executor executor;

        private Builder() {}

        /**
         * The most threads one call may use, 1 by default: the calling thread and up to {@code threads − 1}
         * helpers, from the {@link #executor} if one is given, else from a shared pool of daemon threads. The
         * output is bitwise the same for any thread count.
         *
         * <p>With more than one thread, every call needs queries, keys and values that any thread can read:
         * tensors of {@link Arena#ofShared()}, {@link Arena#global()} or {@link Arena#ofAuto()}, or of heap
         * segments. Tensors of a confined arena are refused with an {@link IllegalArgumentException} naming them,
         * whatever the shapes. The caller takes tasks itself and waits only for helpers that started one, so an
         * executor whose threads are busy, or one called from its own only thread, cannot deadlock a call.
         *
         * @throws IllegalArgumentException if threads is less than 1
         */
        public Builder threads(int threads) {
            if (threads < 1) {
                throw new IllegalArgumentException("threads must be at least 1, got " + threads);
            }
            this.threads = threads;
            return this;
        }

        /** Where the helper threads of {@link #threads} come from; a shared pool of daemon threads if not set. */
        public Builder executor(Executor executor) {
            this.executor = Objects.requireNonNull(executor, "executor");
            return this;
        }

        /** The scoring function; scaled dot by default. */
        public Builder scoring(Scoring scoring) {
            this.scoring = Objects.requireNonNull(scoring, "scoring");
            return this;
        }

        /**
         * The kernels called {@code name}, {@code "scalar"} or {@code "vector"}; unless set, the vector kernels when
         * the JVM can run them well, else the scalar ones (system property {@code qkv.kernel} overrides the choice).
         *
         * @throws IllegalArgumentException for any other name, or for {@code "vector"} when module
         *     {@code jdk.incubator.vector} is not in the boot layer
         */
        public Builder kernels(String name) {
            KernelProvider.named(Objects.requireNonNull(name, "name"));
            this.kernels = name;
            return this;
        }

        /**
         * Whether to refuse non-finite queries, keys and values with an exception naming the first one; off
         * by default, since it costs a pass over the inputs.
         */
        public Builder checkFinite(boolean checkFinite) {
            this.checkFinite = checkFinite;
            return this;
        }

        /** The configured {@link Attention}; the builder can go on to build others. */
        public Attention build() {
            return new Attention(this);
        }
    }
}
