package dev.qkv.spark;

/**
 * What pooling n queries over a distributed store gives: {@code output[i]}, query i's pooled value row (dv floats;
 * zeros for a query that saw no key), and {@code logSumExp[i]}, the log-sum-exp of its scores (−∞ with no key).
 * The arrays are the caller's.
 */
public record Pooled(float[][] output, float[] logSumExp) {}
