package dev.qkv.bench;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The peer of {@link PoolOneQueryBenchmark}: ONNX Runtime's MultiHeadAttention, one head, one thread, on the
 * same query, keys and values. Each operation is one {@code session.run} and the closing of its result, the
 * cost of the API. Setup runs it once against qkv's scalar reference and fails the trial if they differ.
 */
@State(Scope.Thread)
public class OnnxPoolOneQueryBenchmark extends QkvBenchmark {

    @Param({"4096", "65536", "1048576"})
    int m;

    @Param({"64", "128"})
    int d;

    private OnnxAttention onnx;

    @Setup
    public void setUp() throws OrtException {
        onnx = new OnnxAttention(1, m, d, PoolOneQueryBenchmark.QUERY_SEED, PoolOneQueryBenchmark.KEY_SEED,
                PoolOneQueryBenchmark.VALUE_SEED);
        float difference = onnx.checkAgainstQkv();
        System.out.println("ONNX Runtime matches qkv's scalar reference: largest |difference| " + difference);
    }

    @TearDown
    public void tearDown() throws OrtException {
        onnx.close();
    }

    @Benchmark
    public void pool(Blackhole blackhole) throws OrtException {
        try (OrtSession.Result result = onnx.run()) {
            blackhole.consume(result.get(0));
        }
    }
}
