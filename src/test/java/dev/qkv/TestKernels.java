package dev.qkv;

import dev.qkv.kernel.KernelProvider;
import dev.qkv.kernel.Kernels;
import java.util.List;
import org.junit.jupiter.api.Assumptions;

/**
 * The kernels a test JVM can run. Surefire runs the suite three times (see the pom): at the preferred vector
 * width, at 128 bits, and without module {@code jdk.incubator.vector}, where only the scalar kernels exist. A
 * test that pools with every kernel takes them from here; a test of the vector kernels alone carries
 * {@link NeedsVectorModule}.
 */
public final class TestKernels {

    private TestKernels() {}

    /** Whether module {@code jdk.incubator.vector} is in this JVM's boot layer. */
    public static boolean vectorModulePresent() {
        return KernelProvider.vectorModulePresent();
    }

    /** {@code "scalar"}, and {@code "vector"} when the module is present. */
    public static List<String> names() {
        return vectorModulePresent() ? List.of("scalar", "vector") : List.of("scalar");
    }

    /**
     * Skips the calling JUnit test (reported as skipped) when kernels {@code name} cannot run in this JVM: for the
     * parameterised tests whose parameters name the kernels.
     */
    public static void assumeAvailable(String name) {
        Assumptions.assumeTrue(names().contains(name), "kernels \"" + name + "\" need module jdk.incubator.vector");
    }

    /** The kernels of {@link #names()}. */
    public static List<Kernels> all() {
        return names().stream().map(KernelProvider::named).toList();
    }
}
