package dev.qkv.cli;

import dev.qkv.Attention;
import dev.qkv.Gradients;
import dev.qkv.Mask;
import dev.qkv.MultiHeadAttention;
import dev.qkv.io.Npy;
import dev.qkv.io.NpyHeader;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code qkv grad}: the backward pass of attention pooling on .npy files. */
@Command(
        name = "grad",
        mixinStandardHelpOptions = true,
        description = {
            "Gradients of L = sum(G * OUT), OUT = pool(Q, K, V), with respect to Q, K and V: FlashAttention-2's"
                    + " backward pass, the weights recomputed block by block from the log-sum-exp, never an n x m"
                    + " matrix.",
            "G has OUT's shape, (n,dv) or (dv,) for a 1-D Q. DQ, DK, DV are float32 of the shapes of Q, K, V;"
                    + " ask for any of them, at least one.",
            "Batches and heads as for 'qkv pool': Q (B,n,d) or (B,H,n,d), K and V of rank 2 to 4, G (...,n,dv); a"
                    + " key head shared by a group of query heads (or by every batch) gets the sum of their"
                    + " gradients. --bias and --alibi as for 'qkv pool'; no gradient is taken with respect to them.",
            "Scorings and masks as for 'qkv pool'. A key no query sees gets DK = DV = 0, a query with no key"
                    + " DQ = 0."
        })
final class GradCommand implements Callable<Integer> {

    @Option(names = "--queries", required = true, paramLabel = "Q.npy", description = "queries, (n,d) or (d,)")
    Path queries;

    @Option(names = "--keys", required = true, paramLabel = "K.npy", description = "keys, (m,d)")
    Path keys;

    @Option(names = "--values", required = true, paramLabel = "V.npy", description = "values, (m,dv)")
    Path values;

    @Option(names = "--grad-out", required = true, paramLabel = "G.npy",
            description = "the gradient of L with respect to the output, of the output's shape")
    Path gradOut;

    @Option(names = "--dq", paramLabel = "DQ.npy", description = "where to write dL/dQ")
    Path dq;

    @Option(names = "--dk", paramLabel = "DK.npy", description = "where to write dL/dK")
    Path dk;

    @Option(names = "--dv", paramLabel = "DV.npy", description = "where to write dL/dV")
    Path dv;

    @Mixin
    AttentionOptions options;

    @Override
    public Integer call() throws IOException {
        if (dq == null && dk == null && dv == null) {
            throw new CliException("nothing to write: give at least one of --dq, --dk, --dv");
        }
        Attention attention = options.attention();
        // Shared: with --threads, helper threads read the mapped inputs.
        try (Arena arena = Arena.ofShared(); AtomicOutputs outputs = new AtomicOutputs()) {
            outputs.reserve(options.inputs(queries, keys, values, gradOut), dq, dk, dv);
            options.checkMaskSize();
            Tensor q = Npy.readTensor(queries, arena);
            Tensor k = Npy.readTensor(keys, arena);
            Tensor v = Npy.readTensor(values, arena);
            Tensor g = Npy.readTensor(gradOut, arena);
            Gradients grads;
            if (q.rank() > 2 || k.rank() > 2 || v.rank() > 2) {
                grads = batched(attention, arena, q, k, v, g);
            } else {
                if (q.rank() != 1 && q.rank() != 2) {
                    throw new CliException(queries + ": queries must be (n,d) or (d,), got " + q.shapeString());
                }
                requireMatrix(keys, "keys", k, "(m,d)");
                requireMatrix(values, "values", v, "(m,dv)");
                if (q.rank() == 1 ? g.rank() != 1 || g.cols() != v.cols()
                        : g.rank() != 2 || g.rows() != q.rows() || g.cols() != v.cols()) {
                    String expected = q.rank() == 1 ? "(" + v.cols() + ",)" : "(" + q.rows() + ", " + v.cols() + ")";
                    throw new CliException(gradOut + ": the output's gradient must have the output's shape " + expected
                            + " for queries " + q.shapeString() + " and values " + v.shapeString() + ", got "
                            + g.shapeString());
                }
                requireFinite(gradOut, g);
                Mask mask = options.mask(q, k, arena);
                grads = attention.gradients(arena, q, k, v, mask, g);
            }
            if (dq != null) {
                outputs.write(dq, path -> Npy.write(path, grads.queries()));
            }
            if (dk != null) {
                outputs.write(dk, path -> Npy.write(path, grads.keys()));
            }
            if (dv != null) {
                outputs.write(dv, path -> Npy.write(path, grads.values()));
            }
            outputs.commit();
        }
        return 0;
    }

    /** Batches and heads: {@link MultiHeadAttention#gradients}, with one mask per batch. */
    private Gradients batched(Attention attention, Arena arena, Tensor q, Tensor k, Tensor v, Tensor g)
            throws IOException {
        if (q.rank() == 1) {
            throw new CliException(queries + ": queries must be (n,d), (B,n,d) or (B,H,n,d) for keys "
                    + k.shapeString() + ", got " + q.shapeString());
        }
        int[] outShape = q.shape();
        outShape[outShape.length - 1] = v.cols();
        if (!Arrays.equals(g.shape(), outShape)) {
            throw new CliException(gradOut + ": the output's gradient must have the output's shape "
                    + NpyHeader.shapeString(outShape) + " for queries " + q.shapeString() + " and values "
                    + v.shapeString() + ", got " + g.shapeString());
        }
        requireFinite(gradOut, g);
        return MultiHeadAttention.of(attention).gradients(arena, q, k, v, options.batchMasks(q, k, arena), g);
    }

    private static void requireMatrix(Path file, String what, Tensor t, String expected) {
        if (t.rank() != 2) {
            throw new CliException(file + ": " + what + " must be " + expected + ", got " + t.shapeString());
        }
    }

    private static void requireFinite(Path file, Tensor t) {
        Tensor x = t.asMatrix();
        for (int i = 0; i < x.rows(); i++) {
            for (int j = 0; j < x.cols(); j++) {
                if (!Float.isFinite(x.get(i, j))) {
                    throw new CliException(file + ": the output's gradient must be finite, got " + x.get(i, j)
                            + " at (" + i + ", " + j + ")");
                }
            }
        }
    }
}
