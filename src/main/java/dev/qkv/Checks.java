package dev.qkv;

import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.IntPredicate;

/**
 * The argument checks shared by the public API ({@link Attention}, {@link KernelRegression}): each throws
 * {@link IllegalArgumentException} naming the offending shapes or value, or {@link IllegalStateException} for
 * a tensor whose arena is closed. The callers check for null first, so the order of their messages is theirs.
 */
final class Checks {

    /** A thread that owns no arena: a segment it may access is one that every thread may access. */
    private static final Thread NO_OWNER = Thread.ofPlatform().unstarted(() -> {});

    private Checks() {}

    /**
     * Refuses a tensor that helper threads cannot read, when a call may use {@code threads > 1}: a confined arena's
     * memory is readable by its owner thread alone. Decided by the tensor, never by whether helpers would start for
     * this shape, so a call is refused at n = 3 as at n = 3000. Copying it for the helpers would be a hidden cost of
     * the size of the input.
     */
    static void readableByThreads(String name, Tensor t, int threads) {
        if (threads > 1 && !t.segment().isAccessibleBy(NO_OWNER)) {
            throw new IllegalArgumentException(name + " " + t.shapeString() + " belong to a confined arena, which only"
                    + " its owner thread can read, and this Attention uses up to " + threads + " threads: allocate"
                    + " them in Arena.ofShared(), Arena.global() or Arena.ofAuto(), or use threads(1)");
        }
    }

    /** Queries n×d (or (d,)) and keys m×d, both alive and float32. */
    static void queriesAndKeys(Tensor queries, Tensor keys) {
        queriesAndKeys(queries, keys, false);
    }

    /**
     * Queries n×d (or (d,)) and keys m×d, both alive; of any element type when {@code halves} (the caller widens
     * half queries and has kernels that read half keys), else float32.
     */
    static void queriesAndKeys(Tensor queries, Tensor keys, boolean halves) {
        alive("queries", queries, halves);
        alive("keys", keys, halves);
        if (keys.rank() != 2) {
            throw new IllegalArgumentException("keys must be a matrix (m, d), got shape " + keys.shapeString());
        }
        if (queries.cols() != keys.cols()) {
            throw new IllegalArgumentException("queries " + queries.shapeString() + " and keys "
                    + keys.shapeString() + " differ in dimension d");
        }
    }

    /** Values m×dv, alive, float32, one row per key. */
    static void values(Tensor keys, Tensor values) {
        values(keys, values, false);
    }

    /** Values m×dv, alive, one row per key; of any element type when {@code halves}, else float32. */
    static void values(Tensor keys, Tensor values, boolean halves) {
        alive("values", values, halves);
        if (values.rank() != 2) {
            throw new IllegalArgumentException("values must be a matrix (m, dv), got shape " + values.shapeString());
        }
        if (values.rows() != keys.rows()) {
            throw new IllegalArgumentException("keys " + keys.shapeString() + " and values " + values.shapeString()
                    + " differ in the number of rows m");
        }
    }

    /**
     * A tensor the API writes, or reads where only float32 is supported: alive, and (until the algorithm layer
     * loops over batches and heads) a float32 vector or matrix.
     */
    static void alive(String name, Tensor t) {
        alive(name, t, false);
    }

    /**
     * A tensor the API reads: alive, a vector or a matrix, and float32 unless {@code halves}, where float16 and
     * bfloat16 are read too (the kernels widen them, exactly, as they load them).
     */
    static void alive(String name, Tensor t, boolean halves) {
        if (!t.isAlive()) {
            throw new IllegalStateException(name + ": the arena that owns this tensor is closed");
        }
        if (t.rank() > 2) {
            throw new IllegalArgumentException(name + " must be a vector or a matrix, got shape " + t.shapeString()
                    + "; pool the matrices of slice(b, h) one by one");
        }
        if (!halves && t.elementType() != ElementType.F32) {
            throw new IllegalArgumentException(name + " " + t.shapeString() + " is " + t.elementType().label()
                    + "; only float32 is read here (float16 and bfloat16 keys and values are read by"
                    + " Attention.pool, partial and weights): convertTo(arena, ElementType.F32) first");
        }
    }

    /** Refuses the first non-finite value, in the rows {@code only} accepts (all rows if null). */
    static void finite(String name, Tensor t, IntPredicate only) {
        MemorySegment s = t.segment();
        for (int i = 0; i < t.rows(); i++) {
            if (only != null && !only.test(i)) {
                continue;
            }
            long row = t.rowOffset(i);
            for (int j = 0; j < t.cols(); j++) {
                float x = switch (t.elementType()) {
                    case F32 -> s.get(ValueLayout.JAVA_FLOAT_UNALIGNED, row + 4L * j);
                    case F16 -> ElementType.f16ToFloat(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, row + 2L * j));
                    case BF16 -> ElementType.bf16ToFloat(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, row + 2L * j));
                };
                if (!Float.isFinite(x)) {
                    throw new IllegalArgumentException(name + " " + t.shapeString() + " has a non-finite value "
                            + x + " at " + (t.rank() == 1 ? "(" + j + ")" : "(" + i + ", " + j + ")"));
                }
            }
        }
    }
}
