package dev.qkv.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtSession.SessionOptions;
import dev.qkv.Attention;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Map;

/**
 * The peer of the pooling benchmarks: ONNX Runtime's CPU {@code com.microsoft.MultiHeadAttention} with one
 * head (so the head size is d and the scale 1/√d, qkv's scaled dot), from the models that
 * {@code jmh/onnx/make_mha_model.py} writes. One intra-op and one inter-op thread and sequential execution:
 * one core, as qkv's benchmarks use.
 *
 * <p>Queries (1, n, d), keys and values (1, m, d) are {@link OnnxTensor}s over direct buffers, filled as the
 * qkv benchmarks fill theirs (same seeds, same numbers); qkv {@link Tensor} views of the same memory let
 * {@link #checkAgainstQkv()} compare the two engines on exactly these inputs.
 */
final class OnnxAttention implements AutoCloseable {

    /** The largest |ONNX Runtime − qkv| accepted per output element; the values lie in [−1, 1). */
    static final float TOLERANCE = 1e-4f;

    private final SessionOptions options;
    private final OrtSession session;
    private final OnnxTensor query;
    private final OnnxTensor key;
    private final OnnxTensor value;
    private final Map<String, OnnxTensor> inputs;
    private final Tensor queries;
    private final Tensor keys;
    private final Tensor values;

    /** A session for dimension d (64 or 128) and inputs of n queries and m keys, from the given seeds. */
    OnnxAttention(int n, int m, int d, long querySeed, long keySeed, long valueSeed) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        options = new SessionOptions();
        options.setIntraOpNumThreads(1);
        options.setInterOpNumThreads(1);
        options.setExecutionMode(SessionOptions.ExecutionMode.SEQUENTIAL);
        session = env.createSession(model(d), options);

        ByteBuffer q = direct(n, d);
        ByteBuffer k = direct(m, d);
        ByteBuffer v = direct(m, d);
        queries = fill(q, n, d, querySeed, Inputs.QUERY_SCALE);
        keys = fill(k, m, d, keySeed, 1f);
        values = fill(v, m, d, valueSeed, 1f);
        query = OnnxTensor.createTensor(env, q.asFloatBuffer(), new long[] {1, n, d});
        key = OnnxTensor.createTensor(env, k.asFloatBuffer(), new long[] {1, m, d});
        value = OnnxTensor.createTensor(env, v.asFloatBuffer(), new long[] {1, m, d});
        inputs = Map.of("query", query, "key", key, "value", value);
    }

    /** One inference; the caller closes the result. */
    OrtSession.Result run() throws OrtException {
        return session.run(inputs);
    }

    /**
     * Runs ONNX Runtime once and compares its output with qkv's scalar reference, scaled dot, on the same
     * inputs.
     *
     * @return the largest absolute difference
     * @throws IllegalStateException if an element differs by more than {@link #TOLERANCE}
     */
    float checkAgainstQkv() throws OrtException {
        return checkAgainst(Attention.builder().kernels("scalar").build());
    }

    /** {@link #checkAgainstQkv()} against the given attention, for a test to show the check can fail. */
    float checkAgainst(Attention reference) throws OrtException {
        try (Arena arena = Arena.ofConfined(); OrtSession.Result result = run()) {
            float[][] expected = reference.pool(arena, queries, keys, values).toArray();
            FloatBuffer actual = ((OnnxTensor) result.get(0)).getFloatBuffer();
            int d = values.cols();
            float worst = 0f;
            for (int i = 0; i < expected.length; i++) {
                for (int j = 0; j < d; j++) {
                    float difference = Math.abs(actual.get(i * d + j) - expected[i][j]);
                    if (!(difference <= TOLERANCE)) {
                        throw new IllegalStateException("ONNX Runtime and qkv (" + reference.scoring() + ", "
                                + reference.kernels() + ") differ at (" + i + ", " + j + "): "
                                + actual.get(i * d + j) + " vs " + expected[i][j] + ", more than " + TOLERANCE);
                    }
                    worst = Math.max(worst, difference);
                }
            }
            return worst;
        }
    }

    @Override
    public void close() throws OrtException {
        query.close();
        key.close();
        value.close();
        session.close();
        options.close();
    }

    private static byte[] model(int d) {
        String name = "/onnx/mha_d" + d + ".onnx";
        try (InputStream in = OnnxAttention.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalArgumentException("no ONNX model for d = " + d + " (" + name
                        + "; jmh/onnx/make_mha_model.py writes d = 64 and 128)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static ByteBuffer direct(int rows, int cols) {
        return ByteBuffer.allocateDirect(Math.multiplyExact(4 * rows, cols)).order(ByteOrder.nativeOrder());
    }

    private static Tensor fill(ByteBuffer buffer, int rows, int cols, long seed, float scale) {
        MemorySegment segment = MemorySegment.ofBuffer(buffer);
        Inputs.fill(segment, (long) rows * cols, seed, scale);
        return Tensor.wrap(segment, 2, rows, cols, cols);
    }
}
