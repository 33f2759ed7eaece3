package dev.qkv;

import static dev.qkv.PropertyChecks.checkLogSumExp;
import static dev.qkv.PropertyChecks.checkWithin;
import static dev.qkv.PropertyChecks.sameBitsOnOtherInputs;

import dev.qkv.AttentionProperties.Case;
import dev.qkv.kernel.Kernels;
import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Keys and values in float16 and bfloat16, the arithmetic in float32. The error analysis: a half element is
 * widened to float exactly (float16 and bfloat16 are subsets of float32), and the kernels then do the float32
 * operations of the float32 path in the same order. So the only new error is the rounding of the inputs to half,
 * which happens once, when the tensor is made ({@code convertTo}); with the rounded numbers taken as the exact
 * inputs, every bound of {@link Float64Reference} holds as it is, and nothing is added. The laws below check that
 * reading: against a float64 reference computed on the rounded numbers, and bitwise against the float32 path on
 * the widened tensors.
 */
class HalfPrecisionProperties {

    @Provide
    Arbitrary<Kernels> kernels() {
        return Arbitraries.of(TestKernels.all());
    }

    @Provide
    Arbitrary<ElementType> halves() {
        return Arbitraries.of(ElementType.F16, ElementType.BF16);
    }

    @Provide
    Arbitrary<Case> referenceCases() {
        return new AttentionProperties().referenceCases();
    }

    /**
     * Output, weights and log-sum-exp from half keys and values agree with the float64 pooling of the rounded keys and
     * values within the float32 bounds of {@link Float64Reference}: the same bounds, no widening of them.
     */
    @Property
    void halfKeysAndValuesMatchAFloat64ReferenceOnTheirRoundedValues(@ForAll("kernels") Kernels kernels,
            @ForAll("halves") ElementType type, @ForAll("referenceCases") Case original) {
        Case c = original.withKeys(rounded(original.keys(), type)).withValues(rounded(original.values(), type));
        try (Arena arena = Arena.ofConfined()) {
            Attention attention = Attention.builder().scoring(c.scoring()).kernels(kernels.name()).build();
            Tensor keys = c.keys(arena).convertTo(arena, type);
            Tensor values = c.values(arena).convertTo(arena, type);
            Tensor outTensor = Tensor.allocate(arena, c.n(), c.dv());
            Tensor lseTensor = Tensor.allocate(arena, c.n());
            attention.pool(c.queries(arena), keys, values, c.mask(), outTensor, lseTensor);
            float[][] out = outTensor.toArray();
            float[] lse = lseTensor.toFlatArray();
            float[][] w = attention.weights(arena, c.queries(arena), keys, c.mask()).toArray();
            for (int i = 0; i < c.n(); i++) {
                Float64Reference ref = c.reference(i);
                for (int j = 0; j < c.m(); j++) {
                    checkWithin(w[i][j], ref.weights[j], ref.weightBound[j], "%s weight (%d, %d)", type, i, j);
                }
                double[] bound = ref.outputBound(c.passes(i));
                for (int j = 0; j < c.dv(); j++) {
                    checkWithin(out[i][j], ref.output[j], bound[j], "%s output (%d, %d)", type, i, j);
                }
                checkLogSumExp(lse[i], ref.logSumExp, ref.logSumExpBound(c.passes(i)), "%s log-sum-exp %d", type, i);
            }
        }
    }

    /** Pooling half keys and values gives bitwise the output of pooling their float32 widening. */
    @Property
    void halfKeysAndValuesPoolAsTheirFloat32Widening(@ForAll("kernels") Kernels kernels,
            @ForAll("halves") ElementType type, @ForAll("referenceCases") Case c) {
        try (Arena arena = Arena.ofConfined()) {
            Attention attention = Attention.builder().scoring(c.scoring()).kernels(kernels.name()).build();
            Tensor queries = c.queries(arena);
            Tensor keys = c.keys(arena).convertTo(arena, type);
            Tensor values = c.values(arena).convertTo(arena, type);
            Tensor keys32 = keys.convertTo(arena, ElementType.F32);
            Tensor values32 = values.convertTo(arena, ElementType.F32);
            // The half path calls the float32 kernels from another place, which C2 compiles at another time, and
            // the vector kernels' lane sums round differently before and after (Attention's caveat on bits): a
            // difference counts when it persists through every attempt.
            sameBitsOnOtherInputs(() -> attention.pool(arena, queries, keys32, values32, c.mask()).toArray(),
                    List.of(() -> attention.pool(arena, queries, keys, values, c.mask()).toArray()),
                    "%s pooled as its widening", type);
        }
    }

    private static float[][] rounded(float[][] rows, ElementType type) {
        float[][] out = new float[rows.length][];
        for (int i = 0; i < rows.length; i++) {
            out[i] = new float[rows[i].length];
            for (int j = 0; j < rows[i].length; j++) {
                out[i][j] = type.round(rows[i][j]);
            }
        }
        return out;
    }
}
