package dev.qkv.cli;

import dev.qkv.Attention;
import dev.qkv.Mask;
import dev.qkv.MultiHeadAttention;
import dev.qkv.io.Npy;
import dev.qkv.io.NpyHeader;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code qkv pool}: attention pooling of .npy queries over .npy keys and values. */
@Command(
        name = "pool",
        mixinStandardHelpOptions = true,
        description = {
            "Attention pooling: OUT[i] = sum_j softmax_j(a(Q[i], K[j])) V[j].",
            "Masks (--valid-lens, --causal, --mask) combine: a key is seen when every one lets it through.",
            "--bias adds a float B to the scores (after the scoring's scale, as PyTorch's float attn_mask), of a",
            "shape that broadcasts to W's as NumPy does; -inf hides a key. --alibi adds ALiBi's per-head bias.",
            "Q is (n,d) or (d,); K (m,d); V (m,dv); all float (<f4 is memory-mapped, <f8 and >f4 converted).",
            "OUT is float32 (n,dv), or (dv,) for a 1-D Q; W float32 (n,m), or (m,).",
            "Batches and heads: Q (B,n,d) or (B,H,n,d); K and V (m,.), (B,m,.) or (B,H_kv,m,.) with H a multiple",
            "of H_kv (grouped-query attention: query head h reads key head h/(H/H_kv)); batch 1 serves every batch.",
            "OUT (...,n,dv), W (...,n,m) and LSE (...,n) keep Q's leading dimensions; --valid-lens is then (B,) or",
            "(B,n) and --mask (n,m) or (m,) applies to every batch and head; --bias may be (B,H,n,m), (B,1,n,m),",
            "(1,H,n,m), (B,1,1,m), (n,m), ...",
            "A query with no key left (m = 0 or valid length 0) gets weights 0 and output 0."
        })
final class PoolCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--queries", required = true, paramLabel = "Q.npy", description = "queries, (n,d) or (d,)")
    Path queries;

    @Option(names = "--keys", required = true, paramLabel = "K.npy", description = "keys, (m,d)")
    Path keys;

    @Option(names = "--values", required = true, paramLabel = "V.npy", description = "values, (m,dv)")
    Path values;

    @Option(names = "--out", required = true, paramLabel = "OUT.npy", description = "where to write the output")
    Path out;

    @Option(names = "--weights", paramLabel = "W.npy", description = "also write the attention weights here")
    Path weights;

    @Option(names = "--lse", paramLabel = "L.npy",
            description = "also write each query's log-sum-exp of its scores, float32 (n,); -inf with no key")
    Path lse;

    @Mixin
    AttentionOptions options;

    @Override
    public Integer call() throws IOException {
        Attention attention = options.attention();
        // Shared: with --threads, helper threads read the mapped inputs and write the outputs.
        try (Arena arena = Arena.ofShared(); AtomicOutputs outputs = new AtomicOutputs()) {
            outputs.reserve(options.inputs(queries, keys, values), out, lse, weights);
            checkSizes();
            InputFiles inputs = new InputFiles();
            Tensor q = Npy.readTensor(inputs.stamp(queries), arena);
            Tensor k = Npy.readTensor(inputs.stamp(keys), arena);
            Tensor v = Npy.readTensor(inputs.stamp(values), arena);
            if (q.rank() > 2 || k.rank() > 2 || v.rank() > 2) {
                inputs.read(() -> {
                    poolBatched(attention, arena, outputs, q, k, v);
                    return null;
                });
                inputs.checkUnchanged();
                outputs.commit();
                return 0;
            }
            if (q.rank() != 1 && q.rank() != 2) {
                throw new CliException(queries + ": queries must be (n,d) or (d,), got " + q.shapeString());
            }
            requireMatrix(keys, "keys", k, "(m,d)");
            requireMatrix(values, "values", v, "(m,dv)");
            Mask mask = options.mask(q, k, arena);

            Tensor o = q.rank() == 1 ? Tensor.allocate(arena, v.cols()) : Tensor.allocate(arena, q.rows(), v.cols());
            Tensor l = lse == null ? null : Tensor.allocate(arena, q.rows());
            Tensor w = inputs.read(() -> {
                attention.pool(q, k, v, mask, o, l);
                return weights == null ? null : attention.weights(arena, q, k, mask);
            });
            inputs.checkUnchanged();
            outputs.write(out, path -> Npy.write(path, o));
            if (l != null) {
                outputs.write(lse, path -> Npy.write(path, l));
            }
            if (w != null) {
                outputs.write(weights, path -> Npy.write(path, w));
            }
            outputs.commit();
        }
        return 0;
    }

    /** Batches and heads: {@link MultiHeadAttention}, with one mask per batch. */
    private void poolBatched(Attention attention, Arena arena, AtomicOutputs outputs, Tensor q, Tensor k, Tensor v)
            throws IOException {
        if (q.rank() == 1) {
            throw new CliException(queries + ": queries must be (n,d), (B,n,d) or (B,H,n,d) for keys "
                    + k.shapeString() + ", got " + q.shapeString());
        }
        List<Mask> masks = options.batchMasks(q, k, arena);
        MultiHeadAttention multi = MultiHeadAttention.of(attention);
        int[] outShape = q.shape();
        outShape[outShape.length - 1] = v.cols();
        Tensor o = Tensor.allocate(arena, outShape);
        Tensor logSumExp = lse == null ? null : Tensor.allocate(arena, Arrays.copyOf(q.shape(), q.rank() - 1));
        multi.pool(q, k, v, masks, o, logSumExp);
        outputs.write(out, path -> Npy.write(path, o));
        if (logSumExp != null) {
            outputs.write(lse, path -> Npy.write(path, logSumExp));
        }
        if (weights != null) {
            Tensor w = multi.weights(arena, q, k, masks);
            outputs.write(weights, path -> Npy.write(path, w));
        }
    }

    /**
     * Refuses, before any work, a run that cannot fit in memory: its outputs and the inputs that are
     * converted rather than mapped (all off the Java heap, so bounded by the machine's memory), and an
     * explicit mask (on the heap: the file's ints, the boolean matrix, and the mask's own copy of it, so
     * six bytes an entry, bounded by the JVM's -Xmx). The output has a row for every query of every batch and
     * head, {@code prod(Q.shape[:-1])}; shapes of the wrong rank are left for the reading to refuse.
     */
    private void checkSizes() throws IOException {
        NpyHeader qh = Npy.readHeader(queries);
        NpyHeader kh = Npy.readHeader(keys);
        NpyHeader vh = Npy.readHeader(values);
        int[] qs = qh.shape();
        int[] ks = kh.shape();
        int[] vs = vh.shape();
        if (qs.length < 1 || ks.length < 2 || vs.length < 2) {
            return;
        }
        double n = 1;
        for (int i = 0; i < qs.length - 1; i++) {
            n *= qs[i];
        }
        long m = ks[ks.length - 2];
        long dv = vs[vs.length - 1];
        Sizes.Budget budget = new Sizes.Budget();
        String rows = String.format(Locale.ROOT, "%.0f", n);
        budget.add("--out", 4 * n * dv, rows + " × " + dv + " floats");
        if (lse != null) {
            budget.add("--lse", 4 * n, rows + " floats");
        }
        if (weights != null) {
            budget.add("--weights", 4 * n * m, rows + " × " + m + " floats");
        }
        for (Map.Entry<Path, NpyHeader> input : List.of(Map.entry(queries, qh), Map.entry(keys, kh), Map.entry(values, vh))) {
            String dtype = input.getValue().dtype();
            if (!dtype.equals("<f4") && !dtype.equals("<f2")) {
                budget.add(input.getKey() + " (" + dtype + ", converted)", 4.0 * input.getValue().elementCount(),
                        input.getValue().shapeString() + " as floats");
            }
        }
        if (options.biasFile != null) {
            NpyHeader bh = Npy.readHeader(options.biasFile);
            budget.add(options.biasFile + " (copied)", 4.0 * bh.elementCount(), bh.shapeString() + " as floats");
        }
        budget.checkOffHeap();
        options.checkMaskSize();
    }

    private static void requireMatrix(Path file, String what, Tensor t, String expected) {
        if (t.rank() != 2) {
            throw new CliException(file + ": " + what + " must be " + expected + ", got " + t.shapeString());
        }
    }
}
