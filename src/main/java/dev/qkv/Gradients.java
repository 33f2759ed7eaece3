package dev.qkv;

import dev.qkv.tensor.Tensor;

/**
 * The gradients of a scalar {@code L = Σ dO∘out} through attention pooling {@code out = pool(queries, keys, values)},
 * for an upstream gradient dO of the output's shape: what {@link Attention#gradients} returns.
 *
 * <p>With dot scoring and keys equal to values, the Jacobian of one query's output is the covariance of the keys
 * under its attention weights: {@code ∂out/∂q = Σᵢ pᵢkᵢkᵢᵀ − μμᵀ}, μ = out (see the README).
 *
 * @param queries ∂L/∂queries, the queries' shape; null if not asked for
 * @param keys ∂L/∂keys, the keys' shape; null if not asked for; exactly 0 for a key no query sees
 * @param values ∂L/∂values, the values' shape; null if not asked for; exactly 0 for a key no query sees
 * @param factor ∂L/∂f for the scoring's factor f: 1 for dot, 1/√d for scaled dot, 1/(2σ²) for the Gaussian, or the
 *     scale given with {@link Scoring#withScale}
 * @param sigma ∂L/∂σ for {@link Scoring#gaussian(double)} without a scale of its own; NaN for any other scoring
 */
public record Gradients(Tensor queries, Tensor keys, Tensor values, double factor, double sigma) {}
