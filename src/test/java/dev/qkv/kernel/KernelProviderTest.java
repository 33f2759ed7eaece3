package dev.qkv.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class KernelProviderTest {

    /** The output KernelSelectionMain prints for q = (1, 0), keys I, values [[1, 2], [3, 4]], dot scoring. */
    private static final double E = Math.E;
    private static final double[] EXPECTED = {(E * 1 + 3) / (E + 1), (E * 2 + 4) / (E + 1)};

    @Test
    void namedScalarIsTheReference() {
        assertSame(ScalarKernels.INSTANCE, KernelProvider.named("scalar"));
    }

    @Test
    void namedVectorIsTheVectorKernelsWhenTheModuleIsThere() {
        assumeTrue(KernelProvider.vectorModulePresent(), "this JVM runs without module jdk.incubator.vector");
        assertEquals("vector", KernelProvider.named("vector").name());
    }

    @Test
    void namedVectorIsRefusedNamingTheFlagWithoutTheModule() {
        assumeFalse(KernelProvider.vectorModulePresent(), "this JVM runs with module jdk.incubator.vector");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KernelProvider.named("vector"));
        assertTrue(e.getMessage().contains("--add-modules jdk.incubator.vector"), e.getMessage());
    }

    @Test
    void anUnknownNameIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KernelProvider.named("simd"));
        assertTrue(e.getMessage().contains("\"simd\""), e.getMessage());
    }

    @Test
    void defaultsAreWhatThePropertyAndTheModuleCallFor() {
        String forced = System.getProperty(KernelProvider.KERNEL_PROPERTY);
        boolean vector = forced == null ? KernelProvider.vectorModulePresent() : forced.equals("vector");
        assertEquals(vector ? "vector" : "scalar", KernelProvider.defaults().name(), "qkv.kernel=" + forced);
        assertSame(KernelProvider.named(vector ? "vector" : "scalar"), KernelProvider.defaults());
    }

    @Test
    void withoutTheWidthPropertyTheVectorsHaveThePreferredWidth() throws Exception {
        assumeTrue(KernelProvider.vectorModulePresent(), "this JVM runs without module jdk.incubator.vector");
        Run run = fork(true);
        assertEquals(0, run.status, run.toString());
        assertTrue(run.out.contains("vector kernels, " + VectorKernels.preferredBits() + "-bit"), run.toString());
    }

    @Test
    void theWidthPropertySetsTheWidthOfTheWholeJvm() throws Exception {
        Run run = fork(true, "-Dqkv.vectorBits=128");
        assertEquals(0, run.status, run.toString());
        assertTrue(run.out.contains("kernels=vector") && run.out.contains("vector kernels, 128-bit"), run.toString());
        assertOutput(run);
    }

    @Test
    void withoutTheModuleTheScalarKernelsPoolCorrectlyAfterOneWarning() throws Exception {
        Run run = fork(false);
        assertEquals(0, run.status, run.toString());
        assertTrue(run.out.contains("kernels=scalar"), run.toString());
        assertOutput(run);
        assertEquals(1, count(run.err, "--add-modules jdk.incubator.vector"), "one warning naming the flag: " + run);
        assertEquals(1, count(run.err, "WARNING"), "one warning: " + run);
    }

    @Test
    void withTheModuleTheVectorKernelsAreTheDefault() throws Exception {
        Run run = fork(true);
        assertEquals(0, run.status, run.toString());
        assertTrue(run.out.contains("kernels=vector"), run.toString());
        assertOutput(run);
    }

    @Test
    void thePropertyForcesTheScalarKernelsWithoutAWarning() throws Exception {
        Run run = fork(true, "-Dqkv.kernel=scalar");
        assertEquals(0, run.status, run.toString());
        assertTrue(run.out.contains("kernels=scalar"), run.toString());
        assertOutput(run);
        assertEquals(0, count(run.err, "qkv"), run.toString());
    }

    @Test
    void aBadKernelPropertyIsNamedInTheError() throws Exception {
        Run run = fork(true, "-Dqkv.kernel=simd");
        assertEquals(3, run.status, run.toString());
        assertTrue(run.out.contains("qkv.kernel") && run.out.contains("simd"), run.toString());
    }

    @Test
    void aBadWidthPropertyIsNamedInTheError() throws Exception {
        Run run = fork(true, "-Dqkv.vectorBits=100");
        assertEquals(3, run.status, run.toString());
        assertTrue(run.out.contains("qkv.vectorBits") && run.out.contains("100"), run.toString());
    }

    @Test
    void forcingTheVectorKernelsWithoutTheModuleIsRefusedNamingTheFlag() throws Exception {
        Run run = fork(false, "-Dqkv.kernel=vector");
        assertEquals(3, run.status, run.toString());
        assertTrue(run.out.contains("--add-modules jdk.incubator.vector"), run.toString());
    }

    private static void assertOutput(Run run) {
        String line = run.out.lines().filter(l -> l.startsWith("out=")).findFirst().orElseThrow();
        String[] parts = line.substring("out=[".length(), line.length() - 1).split(", ");
        for (int j = 0; j < EXPECTED.length; j++) {
            assertEquals(EXPECTED[j], Float.parseFloat(parts[j]), 1e-6, run.toString());
        }
    }

    private record Run(int status, String out, String err) {
        @Override
        public String toString() {
            return "status " + status + "\nstdout:\n" + out + "\nstderr:\n" + err;
        }
    }

    /** KernelSelectionMain in a new JVM, the same java and class path, with or without the module. */
    private static Run fork(boolean withModule, String... properties) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElseThrow());
        if (withModule) {
            command.add("--add-modules");
            command.add("jdk.incubator.vector");
        }
        command.addAll(List.of(properties));
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(KernelSelectionMain.class.getName());
        Process process = new ProcessBuilder(command).start();
        process.getOutputStream().close();
        var out = process.getInputStream().readAllBytes();
        var err = process.getErrorStream().readAllBytes();
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the forked JVM did not finish");
        return new Run(process.exitValue(), new String(out, StandardCharsets.UTF_8),
                new String(err, StandardCharsets.UTF_8));
    }

    private static int count(String text, String part) {
        int n = 0;
        for (int at = text.indexOf(part); at >= 0; at = text.indexOf(part, at + 1)) {
            n++;
        }
        return n;
    }
}
