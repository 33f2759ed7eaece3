package dev.qkv.cli;

import dev.qkv.Attention;
import dev.qkv.Gradients;
import dev.qkv.Mask;
import dev.qkv.Scoring;
import dev.qkv.io.IntArray;
import dev.qkv.io.Npy;
import dev.qkv.io.NpyHeader;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
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

    @Option(names = "--scoring", paramLabel = "NAME", defaultValue = "scaled-dot",
            description = "scaled-dot (q.k/sqrt(d), default), dot (q.k) or gaussian (-|q-k|^2/(2 sigma^2))")
    String scoring;

    @Option(names = "--scale", paramLabel = "X",
            description = "replaces the scoring's own factor (1, 1/sqrt(d) or 1/(2 sigma^2))")
    Double scale;

    @Option(names = "--sigma", paramLabel = "X", description = "the Gaussian width, > 0 (default 1)")
    Double sigma;

    @Option(names = "--valid-lens", paramLabel = "L.npy",
            description = "integers of shape (n,): query i sees keys 0 <= j < L[i] (d2l's valid_lens)")
    Path validLens;

    @Option(names = "--causal", description = "query i of n sees key j of m when j <= i + (m - n) (bottom-right aligned)")
    boolean causal;

    @Option(names = "--mask", paramLabel = "M.npy",
            description = "bool or 0/1 integers, (n,m) or (m,): query i sees key j where M is true")
    Path maskFile;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "1",
            description = "threads to use (default 1); the gradients are bitwise the same for any N")
    int threads;

    @Option(names = "--kernel", paramLabel = "scalar|vector",
            description = "which kernels to run (default: what the library selected for this JVM)")
    String kernel;

    @Override
    public Integer call() throws IOException {
        if (dq == null && dk == null && dv == null) {
            throw new CliException("nothing to write: give at least one of --dq, --dk, --dv");
        }
        Attention attention = configure();
        // Shared: with --threads, helper threads read the mapped inputs.
        try (Arena arena = Arena.ofShared(); AtomicOutputs outputs = new AtomicOutputs()) {
            outputs.reserve(Arrays.asList(queries, keys, values, gradOut, validLens, maskFile), dq, dk, dv);
            Tensor q = Npy.readTensor(queries, arena);
            Tensor k = Npy.readTensor(keys, arena);
            Tensor v = Npy.readTensor(values, arena);
            Tensor g = Npy.readTensor(gradOut, arena);
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
            Mask mask = readMask(q, k);
            Gradients grads = attention.gradients(arena, q, k, v, mask, g);
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

    private Attention configure() {
        Scoring s = switch (scoring) {
            case "scaled-dot" -> Scoring.scaledDot();
            case "dot" -> Scoring.dot();
            case "gaussian" -> Scoring.gaussian(sigma == null ? 1.0 : sigma);
            default -> throw new CliException("--scoring must be scaled-dot, dot or gaussian, got '" + scoring + "'");
        };
        if (sigma != null && !s.isGaussian()) {
            throw new CliException("--sigma applies to --scoring gaussian only");
        }
        if (scale != null) {
            s = s.withScale(scale);
        }
        if (threads < 1) {
            throw new CliException("--threads must be at least 1, got " + threads);
        }
        Attention.Builder builder = Attention.builder().scoring(s).checkFinite(true).threads(threads);
        if (kernel != null) {
            builder.kernels(kernel);
        }
        return builder.build();
    }

    private Mask readMask(Tensor q, Tensor k) throws IOException {
        Mask mask = Mask.none();
        if (validLens != null) {
            IntArray lens = Npy.readInts(validLens);
            if (lens.rank() != 1 || lens.values().length != q.rows()) {
                throw new CliException(validLens + ": valid lengths must have shape (" + q.rows() + ",) for queries "
                        + q.shapeString() + ", got " + NpyHeader.shapeString(lens.shape()));
            }
            for (int i = 0; i < lens.values().length; i++) {
                if (lens.values()[i] < 0) {
                    throw new CliException(validLens + ": the valid length of query " + i + " is "
                            + lens.values()[i] + "; it must be 0 or more");
                }
            }
            mask = Mask.validLengths(lens.values());
        }
        if (causal) {
            mask = mask.and(Mask.causal());
        }
        if (maskFile != null) {
            mask = mask.and(readExplicitMask(q, k));
        }
        return mask;
    }

    private Mask readExplicitMask(Tensor q, Tensor k) throws IOException {
        IntArray m = Npy.readInts(maskFile);
        int[] shape = m.shape();
        int keyCount = k.rows();
        boolean oneRow = m.rank() == 1 && shape[0] == keyCount;
        if (!oneRow && !(m.rank() == 2 && shape[0] == q.rows() && shape[1] == keyCount)) {
            throw new CliException(maskFile + ": mask must have shape (" + q.rows() + ", " + keyCount + ") or ("
                    + keyCount + ",) for queries " + q.shapeString() + " and keys " + k.shapeString() + ", got "
                    + NpyHeader.shapeString(shape));
        }
        int[] entries = m.values();
        boolean[][] visible = new boolean[oneRow ? 1 : q.rows()][keyCount];
        for (int i = 0; i < entries.length; i++) {
            if (entries[i] != 0 && entries[i] != 1) {
                throw new CliException(maskFile + ": mask entries must be 0 or 1 (or bool), got " + entries[i]
                        + " at flat index " + i);
            }
            visible[i / keyCount][i % keyCount] = entries[i] == 1;
        }
        return oneRow ? Mask.explicit(visible[0]) : Mask.explicit(visible);
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
