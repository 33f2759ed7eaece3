package dev.qkv.consumer;

import dev.qkv.Attention;
import dev.qkv.io.Npy;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * qkv as a dependency: maps {@code .npy} keys and values, pools queries from several threads that share one
 * {@link Attention}, and checks every output against NumPy's float64 result ({@code data/make_fixtures.py}).
 * Prints one line and exits 0 when all agree, or names the first disagreement and exits 1.
 *
 * <p>Arguments: the directory of the fixtures, and the kernels this JVM must have picked ({@code vector} with
 * {@code --add-modules jdk.incubator.vector}, {@code scalar} without).
 */
public final class Consumer {

    private static final double U = 0x1p-24;  // float32 unit roundoff

    private Consumer() {}

    public static void main(String[] args) throws Exception {
        Path data = Path.of(args[0]);
        String expectedKernels = args[1];
        // Shared: the mapped tensors are read from the worker threads (a confined arena's only from its owner's).
        try (Arena arena = Arena.ofShared()) {
            Tensor queries = Npy.readTensor(data.resolve("queries.npy"), arena);  // n × d, <f4: mapped, no copy
            Tensor keys = Npy.readTensor(data.resolve("keys.npy"), arena);        // m × d
            Tensor values = Npy.readTensor(data.resolve("values.npy"), arena);    // m × dv
            Tensor expected = Npy.readTensor(data.resolve("expected_out.npy"), arena);  // n × dv, float64 rounded

            Attention attention = Attention.scaledDot();  // immutable: one instance serves every thread
            String kernels = String.valueOf(attention.kernels());
            if (!kernels.toLowerCase().contains(expectedKernels)) {
                fail("expected the " + expectedKernels + " kernels, got " + kernels);
            }

            // Each task pools a band of queries into an output of its own arena.
            int n = queries.rows();
            int bands = 8;
            List<Future<String>> checks = new ArrayList<>();
            try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
                for (int b = 0; b < bands; b++) {
                    int from = n * b / bands;
                    int to = n * (b + 1) / bands;
                    checks.add(pool.submit(() -> {
                        try (Arena local = Arena.ofConfined()) {
                            Tensor out = attention.pool(local, queries.rows(from, to), keys, values);
                            return check(out, from, queries, keys, values, expected);
                        }
                    }));
                }
                for (Future<String> check : checks) {
                    if (check.get() != null) {
                        fail(check.get());
                    }
                }
            }
            // The same Attention with helper threads of its own, on the whole batch.
            Tensor all = Attention.builder().threads(2).build().pool(arena, queries, keys, values);
            String whole = check(all, 0, queries, keys, values, expected);
            if (whole != null) {
                fail(whole);
            }
            System.out.println("consumer ok: " + n + " queries over " + keys.rows() + " keys from " + bands
                    + " tasks on 4 threads and on threads(2), " + kernels + ", module "
                    + Attention.class.getModule().getName());
        }
    }

    /**
     * Null if every output row {@code out[r]} (query {@code from + r}) is within its bound of the reference, else
     * what differs. The bound, for a query q over m keys of width d, values bounded by V = max|v|, u = 2⁻²⁴:
     * each score qᵀk/√d is a float sum of d products, off by at most δ = (d + 2)·u·Σ|qⱼkⱼ|/√d; the softmax of
     * scores each off by at most Δ = max δ has weights off by a factor within e^{2Δ} − 1; exp, the sum of m
     * weights and the division add (m + 6)·u relative to each weight, and accumulating m weighted values
     * m·u·V; the float64 reference rounded to float adds u·V. So |out − ref| ≤ V·(e^{2Δ} − 1 + (2m + 8)·u).
     */
    private static String check(Tensor out, int from, Tensor queries, Tensor keys, Tensor values, Tensor expected) {
        int m = keys.rows();
        int d = keys.cols();
        double maxV = 0;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < values.cols(); j++) {
                maxV = Math.max(maxV, Math.abs(values.get(i, j)));
            }
        }
        for (int r = 0; r < out.rows(); r++) {
            int q = from + r;
            double delta = 0;
            for (int i = 0; i < m; i++) {
                double sum = 0;
                for (int j = 0; j < d; j++) {
                    sum += Math.abs((double) queries.get(q, j) * keys.get(i, j));
                }
                delta = Math.max(delta, (d + 2) * U * sum / Math.sqrt(d));
            }
            double bound = maxV * (Math.expm1(2 * delta) + (2.0 * m + 8) * U);
            for (int j = 0; j < out.cols(); j++) {
                double error = Math.abs(out.get(r, j) - expected.get(q, j));
                if (!(error <= bound)) {
                    return "query " + q + ", output " + j + ": got " + out.get(r, j) + ", NumPy " + expected.get(q, j)
                            + ", off by " + error + " > bound " + bound;
                }
            }
        }
        return null;
    }

    private static void fail(String message) {
        System.err.println("consumer FAILED: " + message);
        System.exit(1);
    }
}
