package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

/** Checks {@link KernelWarmUp} in the surefire runs that enable it (the two with the vector kernels). */
class KernelWarmUpTest {

    @Test
    void theVectorKernelsWereC2CompiledBeforeTheSuite() {
        assumeTrue(System.getProperty(KernelWarmUp.REPORT_PROPERTY) != null, "no warm-up in this run");
        String result = System.getProperty(KernelWarmUp.RESULT_PROPERTY);
        assertNotNull(result, "the warm-up listener did not run: is it registered in META-INF/services?");
        assertTrue(result.startsWith("ok: "), result);
    }
}
