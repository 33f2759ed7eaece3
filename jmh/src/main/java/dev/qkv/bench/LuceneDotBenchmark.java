package dev.qkv.bench;

import java.util.concurrent.TimeUnit;
import org.apache.lucene.util.VectorUtil;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The peer of {@link DotBenchmark}: Lucene's {@code VectorUtil.dotProduct} on two float arrays of length d,
 * the same numbers. With {@code jdk.incubator.vector} resolved (every fork here), Lucene logs at start which
 * implementation it picked ("Java vector incubator API enabled; uses preferredBitSize=…").
 */
@State(Scope.Thread)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class LuceneDotBenchmark extends QkvBenchmark {

    @Param({"16", "100", "128", "768", "1024"})
    int d;

    private float[] x;
    private float[] y;

    @Setup
    public void setUp() {
        x = Inputs.uniform(d, 1);
        y = Inputs.uniform(d, 2);
    }

    @Benchmark
    public float dot() {
        return VectorUtil.dotProduct(x, y);
    }
}
