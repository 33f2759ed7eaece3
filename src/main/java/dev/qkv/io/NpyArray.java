package dev.qkv.io;

import dev.qkv.tensor.Tensor;
import java.util.Arrays;
import java.util.Objects;

/**
 * A float array of any rank ≥ 1 read from a {@code .npy} file: its shape, and its elements as a tensor. A
 * 1-D array is a rank-1 tensor; an array of rank ≥ 2 is a rank-2 tensor of {@code prod(shape[:-1])} rows of
 * {@code shape[-1]} columns, the row-major order NumPy stores. The shape array is copied in and out.
 */
public record NpyArray(int[] shape, Tensor data) {

    /**
     * Checks that {@code data} holds an array of this shape, and copies the shape.
     *
     * @throws IllegalArgumentException if the shape is empty or negative, or {@code data} is not the tensor
     *     described above
     */
    public NpyArray {
        Objects.requireNonNull(data, "data");
        shape = shape.clone();
        if (shape.length == 0 || Arrays.stream(shape).anyMatch(d -> d < 0)) {
            throw new IllegalArgumentException("shape must have rank ≥ 1 and no negative dimension, got "
                    + NpyHeader.shapeString(shape));
        }
        int last = shape[shape.length - 1];
        boolean matches = shape.length == 1
                ? data.rank() == 1 && data.cols() == last
                : data.rank() == 2 && data.cols() == last && data.rows() == NpyHeader.product(shape, 0, shape.length - 1);
        if (!matches) {
            throw new IllegalArgumentException("tensor " + data.shapeString() + " (rank " + data.rank()
                    + ") does not hold an array of shape " + NpyHeader.shapeString(shape));
        }
    }

    /** A copy of the shape. */
    @Override
    public int[] shape() {
        return shape.clone();
    }

    /** The number of dimensions of the array, which may exceed the tensor's rank. */
    public int rank() {
        return shape.length;
    }

    @Override
    public String toString() {
        return "NpyArray" + NpyHeader.shapeString(shape) + " as " + data;
    }
}
