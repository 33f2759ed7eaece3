package dev.qkv.bench;

import java.lang.management.ManagementFactory;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.profile.InternalProfiler;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

/**
 * CPU time per operation, next to JMH's wall time: {@code -prof dev.qkv.bench.CpuTimeProfiler} adds a secondary
 * result {@code ·cpu} in the benchmark's time unit per operation. It is the fork's process CPU time over an
 * iteration divided by every operation run in it (including the few JMH runs while it synchronises the
 * iteration's start and end), so it also holds what the JVM spends beside the benchmark thread: GC, and JIT
 * compilation if any is left after warm-up.
 *
 * <p>Why: the development machines have 2 cores shared by several engineers building at once, and a
 * benchmark thread waiting for a core counts in wall time but not in CPU time. CPU time is the measure of
 * the one-thread tables of {@code BenchmarkReport --cpu}; on more threads it adds up the threads, so the
 * thread table always reads wall time.
 */
public final class CpuTimeProfiler implements InternalProfiler {

    private final com.sun.management.OperatingSystemMXBean os =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    private long start;

    @Override
    public String getDescription() {
        return "process CPU time per operation (secondary result ·cpu)";
    }

    @Override
    public void beforeIteration(BenchmarkParams benchmarkParams, IterationParams iterationParams) {
        start = os.getProcessCpuTime();
    }

    @Override
    public Collection<? extends Result> afterIteration(BenchmarkParams benchmarkParams, IterationParams iterationParams,
            IterationResult result) {
        long nanos = os.getProcessCpuTime() - start;
        long ops = result.getMetadata().getAllOps();
        if (ops <= 0 || nanos < 0) {
            return List.of();
        }
        TimeUnit unit = benchmarkParams.getTimeUnit();
        double perOp = (double) nanos / ops / TimeUnit.NANOSECONDS.convert(1, unit);
        return List.of(new ScalarResult("·cpu", perOp, result.getScoreUnit(), AggregationPolicy.AVG));
    }
}
