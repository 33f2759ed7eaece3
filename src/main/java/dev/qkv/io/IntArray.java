package dev.qkv.io;

import java.util.Arrays;
import java.util.Objects;

/**
 * A 1-D or 2-D int array: its shape and its values in row-major order. The shape array is copied in and
 * out; {@code values} is not copied, since it may be large, and belongs to the record once given.
 */
public record IntArray(int[] shape, int[] values) {

    /** How many values {@link #toString()} shows. */
    private static final int SHOWN = 16;

    /**
     * Checks the shape against the values, and copies the shape.
     *
     * @throws IllegalArgumentException if the rank is not 1 or 2, a dimension is negative, or the number of
     *     values is not the product of the shape
     */
    public IntArray {
        Objects.requireNonNull(values, "values");
        shape = shape.clone();
        if (shape.length < 1 || shape.length > 2 || Arrays.stream(shape).anyMatch(d -> d < 0)) {
            throw new IllegalArgumentException("an IntArray is 1-D or 2-D with no negative dimension, not shape "
                    + NpyHeader.shapeString(shape));
        }
        if (NpyHeader.product(shape, 0, shape.length) != values.length) {
            throw new IllegalArgumentException("shape " + NpyHeader.shapeString(shape) + " needs "
                    + NpyHeader.product(shape, 0, shape.length) + " values, got " + values.length);
        }
    }

    /** A copy of the shape. */
    @Override
    public int[] shape() {
        return shape.clone();
    }

    /** 1 or 2. */
    public int rank() {
        return shape.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof IntArray a && Arrays.equals(shape, a.shape) && Arrays.equals(values, a.values);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(shape) + Arrays.hashCode(values);
    }

    @Override
    public String toString() {
        String head = Arrays.toString(Arrays.copyOf(values, Math.min(values.length, SHOWN)));
        return "IntArray" + NpyHeader.shapeString(shape) + " "
                + (values.length > SHOWN ? head.substring(0, head.length() - 1) + ", ...]" : head);
    }
}
