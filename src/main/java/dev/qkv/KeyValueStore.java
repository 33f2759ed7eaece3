package dev.qkv;

import dev.qkv.algorithm.PackedPages;
import dev.qkv.algorithm.Pooling;
import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;

/**
 * Keys and values held for repeated queries, and appendable: the seed's database (one store, many queries) and an
 * LLM's key/value cache (one key and value appended per token, one query per token). Pool from it with
 * {@link Attention#pool(Tensor, KeyValueStore, Tensor)} and {@link Attention#partial(Tensor, KeyValueStore)}; every
 * query sees every key (no mask: a cache holds only the past).
 *
 * <p>Layout: pages of {@value #PAGE} rows (one shard of the algorithm layer), keys and values each a contiguous
 * row-major matrix per page in the store's {@link ElementType} — the layout the row kernels read, packed once as rows
 * are appended. A full page is never written or moved again: appending allocates a new page when the last is full
 * and copies nothing that is there. Pooling from a store gives the same bits as pooling the same keys and values
 * as two tensors of that element type ({@link Attention#pool(Tensor, Tensor, Tensor, Mask, Tensor)}), for any thread
 * count; the one exception is a query whose scores overflow float, which both repair in double, the store page by
 * page. Many queries under dot scoring take the tiles, which read each page packed for them (keys transposed, in
 * float32): packed by the first call that takes the tiles, kept on the heap between calls (softly: the collector may
 * drop them under memory pressure, and the next call packs again), and extended by the rows appended since, so
 * repeated queries pack each key once, not once per call. See {@code dev.qkv.algorithm.PackedPages}.
 *
 * <p>Memory: the pages are allocated in the {@link Arena} given to {@link #create}, which owns them; once it is
 * closed, every method but the getters throws {@link IllegalStateException}. A store whose arena is confined can
 * only be appended to and read by that arena's thread, and only by an {@link Attention} of one thread.
 *
 * <p>Thread-safety: appends are serialised (synchronised on the store), and may run while other threads pool from
 * it. A pooling call reads the rows appended before it started (it reads {@link #size()} once, and every row below
 * that is complete): it never sees half a row.
 */
public final class KeyValueStore {

    /** Rows per page: {@link Pooling#SHARD}, so a page is exactly one shard of the algorithm layer. */
    public static final int PAGE = Pooling.SHARD;

    private final Arena arena;
    private final int d;
    private final int dv;
    private final ElementType type;
    /** The pages, republished (a longer copy of the references, never of the pages) when one is added. */
    private volatile Tensor[] keyPages = new Tensor[0];
    private volatile Tensor[] valuePages = new Tensor[0];
    /** Rows appended; written after the row, so a reader that sees it sees the row. */
    private volatile int size;
    /** The pages as the tiles read them, packed by the first call that takes the tiles over them. */
    private final PackedPages packed = new PackedPages();

    private KeyValueStore(Arena arena, int d, int dv, ElementType type) {
        this.arena = arena;
        this.d = d;
        this.dv = dv;
        this.type = type;
    }

    /**
     * An empty store for keys of dimension {@code d} and values of dimension {@code dv}, stored as {@code type},
     * its pages allocated in {@code arena}.
     *
     * @throws IllegalArgumentException if d or dv is less than 1
     */
    public static KeyValueStore create(Arena arena, int d, int dv, ElementType type) {
        Objects.requireNonNull(arena, "arena");
        Objects.requireNonNull(type, "type");
        if (d < 1 || dv < 1) {
            throw new IllegalArgumentException("a store needs d ≥ 1 and dv ≥ 1, got d = " + d + ", dv = " + dv);
        }
        return new KeyValueStore(arena, d, dv, type);
    }

    /** The number of key/value pairs appended so far. */
    public int size() {
        return size;
    }

    /** The dimension of the keys, d. */
    public int keyDim() {
        return d;
    }

    /** The dimension of the values, dv. */
    public int valueDim() {
        return dv;
    }

    /** How keys and values are stored. */
    public ElementType elementType() {
        return type;
    }

    /**
     * Appends one key and its value, rounded to the store's element type (nearest, ties to even).
     *
     * @throws IllegalArgumentException if the lengths are not d and dv, or a finite number would round to an
     *     infinity in the store's type (float16 ends at 65504), naming it; nothing is appended then
     * @throws IllegalStateException if the arena is closed, or the store holds 2³¹ − 1 pairs
     */
    public synchronized void append(float[] key, float[] value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        if (key.length != d || value.length != dv) {
            throw new IllegalArgumentException("key of length " + key.length + " and value of length " + value.length
                    + " do not fit a store of d = " + d + ", dv = " + dv);
        }
        checkRepresentable("key", key);
        checkRepresentable("value", value);
        int row = size;
        if (row == Integer.MAX_VALUE) {
            throw new IllegalStateException("the store holds 2³¹ − 1 pairs, the most it can");
        }
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException("the arena that owns this store is closed");
        }
        if (row % PAGE == 0 && row / PAGE == keyPages.length) {
            addPage();
        }
        write(keyPages[row / PAGE], row % PAGE, key);
        write(valuePages[row / PAGE], row % PAGE, value);
        size = row + 1;
    }

    /**
     * Appends the rows of {@code keys} (m × d) and {@code values} (m × dv), of any element type, in order, as
     * {@link #append(float[], float[])} does one by one (a prefill).
     *
     * @throws IllegalArgumentException if the shapes do not fit, before anything is appended
     */
    public synchronized void append(Tensor keys, Tensor values) {
        Objects.requireNonNull(keys, "keys");
        Objects.requireNonNull(values, "values");
        Checks.alive("keys", keys, true);
        Checks.alive("values", values, true);
        if (keys.rows() != values.rows() || keys.cols() != d || values.cols() != dv) {
            throw new IllegalArgumentException("keys " + keys.shapeString() + " and values " + values.shapeString()
                    + " do not fit a store of d = " + d + ", dv = " + dv);
        }
        for (int i = 0; i < keys.rows(); i++) {
            checkRepresentable("key", keys.rowToArray(i));
            checkRepresentable("value", values.rowToArray(i));
        }
        for (int i = 0; i < keys.rows(); i++) {
            append(keys.rowToArray(i), values.rowToArray(i));
        }
    }

    private void checkRepresentable(String name, float[] x) {
        for (int j = 0; j < x.length; j++) {
            if (Float.isFinite(x[j]) && !Float.isFinite(type.round(x[j]))) {
                throw new IllegalArgumentException(name + " element " + j + " = " + x[j] + " overflows "
                        + type.label() + " (it would be stored as an infinity)");
            }
        }
    }

    private void addPage() {
        Tensor[] k = Arrays.copyOf(keyPages, keyPages.length + 1);
        Tensor[] v = Arrays.copyOf(valuePages, valuePages.length + 1);
        k[k.length - 1] = page(d);
        v[v.length - 1] = page(dv);
        keyPages = k;
        valuePages = v;
    }

    private Tensor page(int cols) {
        MemorySegment s = arena.allocate((long) type.byteSize() * PAGE * cols, Tensor.ALIGNMENT);
        return Tensor.wrap(s, type, new int[] {PAGE, cols}, new long[] {cols, 1});
    }

    private void write(Tensor page, int row, float[] x) {
        MemorySegment s = page.segment();
        long at = page.rowOffset(row);
        switch (type) {
            case F32 -> MemorySegment.copy(x, 0, s, ValueLayout.JAVA_FLOAT_UNALIGNED, at, x.length);
            case F16 -> {
                for (int j = 0; j < x.length; j++) {
                    s.set(ValueLayout.JAVA_SHORT_UNALIGNED, at + 2L * j, ElementType.floatToF16(x[j]));
                }
            }
            case BF16 -> {
                for (int j = 0; j < x.length; j++) {
                    s.set(ValueLayout.JAVA_SHORT_UNALIGNED, at + 2L * j, ElementType.floatToBf16(x[j]));
                }
            }
        }
    }

    /** What a pooling call reads: the rows appended before it, their pages, and the pages packed for the tiles. */
    record Snapshot(int size, Tensor[] keys, Tensor[] values, PackedPages packed) {}

    /** The rows appended so far and their pages, read in that order (see the class comment). */
    Snapshot snapshot() {
        int m = size;
        return new Snapshot(m, keyPages, valuePages, packed);
    }

    /** Whether the arena that owns the pages is open. */
    boolean isAlive() {
        return arena.scope().isAlive();
    }

    @Override
    public String toString() {
        return "KeyValueStore[" + size + " × (" + d + ", " + dv + "), " + type.label() + "]";
    }
}
