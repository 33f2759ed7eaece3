package dev.qkv.bench;

import dev.qkv.Attention;
import dev.qkv.kernel.KernelProvider;
import dev.qkv.kernel.Kernels;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What every benchmark here shares, inherited by JMH from this class: each fork runs JDK 25 with the Vector
 * API module (qkv's vector kernels and Lucene's Panama path need it) and native access (ONNX Runtime loads
 * a JNI library); JMH's own use of sun.misc.Unsafe is allowed so its warning does not fill every fork's log.
 * Time per operation is measured, one thread. The counts below are the full mode of
 * BENCHMARKS.md; the command line overrides them.
 */
@Fork(value = 2, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "--sun-misc-unsafe-memory-access=allow"})
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public abstract class QkvBenchmark {

    /**
     * The attention pooling of a benchmark's {@code kernel} parameter, with the default scaled-dot scoring.
     *
     * @throws IllegalStateException if this build or JVM cannot run those kernels, so JMH fails that
     *     parameter at once and goes on with the next
     */
    static Attention attention(String kernel) {
        try {
            return Attention.builder().kernels(kernel).build();
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("kernel=" + kernel + " cannot run here: " + e.getMessage()
                    + " (select the others with -p kernel=scalar)", e);
        }
    }

    /** The kernels of a benchmark's {@code kernel} parameter; see {@link #attention(String)}. */
    static Kernels kernels(String kernel) {
        attention(kernel);
        return KernelProvider.named(kernel);
    }
}
