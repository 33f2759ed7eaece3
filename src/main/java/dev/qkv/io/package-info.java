/**
 * NumPy {@code .npy} files: {@link dev.qkv.io.Npy} reads float arrays as tensors, memory-mapping
 * little-endian {@code float32} data without a copy, reads small int arrays (indices, lengths, masks), and
 * writes both. Malformed or unsupported files get an {@link dev.qkv.io.NpyFormatException} that names the
 * file. Uses {@code dev.qkv.tensor} and the JDK only.
 */
package dev.qkv.io;
