package dev.qkv.bench;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtException;
import dev.qkv.Attention;
import dev.qkv.Scoring;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The ONNX Runtime peer computes what qkv computes, so comparing their speed is fair; and the comparison the
 * benchmarks run in setup would notice if it did not. Runs with {@code ./mvnw -Pjmh verify}.
 */
class OnnxAttentionTest {

    @ParameterizedTest
    @CsvSource({"1, 300, 64", "1, 300, 128", "5, 700, 64", "5, 700, 128"})
    void onnxRuntimeMatchesQkvScaledDot(int n, int m, int d) throws OrtException {
        try (OnnxAttention onnx = new OnnxAttention(n, m, d, 1, 2, 3)) {
            assertTrue(onnx.checkAgainstQkv() <= OnnxAttention.TOLERANCE);
        }
    }

    @ParameterizedTest
    @CsvSource({"1, 300, 64", "5, 700, 128"})
    void checkCatchesAnotherScale(int n, int m, int d) throws OrtException {
        Attention unscaled = Attention.builder().scoring(Scoring.dot()).kernels("scalar").build();
        try (OnnxAttention onnx = new OnnxAttention(n, m, d, 1, 2, 3)) {
            assertThrows(IllegalStateException.class, () -> onnx.checkAgainst(unscaled));
        }
    }
}
