package dev.qkv.cli;

import dev.qkv.Attention;
import dev.qkv.Mask;
import dev.qkv.MultiHeadAttention;
import dev.qkv.Scoring;
import dev.qkv.io.IntArray;
import dev.qkv.io.Npy;
import dev.qkv.io.NpyHeader;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * The options that configure attention, shared by {@code qkv pool} and {@code qkv grad} (a picocli mixin):
 * scoring, its scale or Gaussian width, threads, kernels, and the masks, with the one-line refusals of each.
 */
final class AttentionOptions {

    @Option(names = "--scoring", paramLabel = "NAME", defaultValue = "scaled-dot",
            description = "scaled-dot (q.k/sqrt(d), default), dot (q.k) or gaussian (-|q-k|^2/(2 sigma^2))")
    String scoring;

    @Option(names = "--scale", paramLabel = "X",
            description = "replaces the scoring's own factor (1, 1/sqrt(d) or 1/(2 sigma^2))")
    Double scale;

    @Option(names = "--sigma", paramLabel = "X", description = "the Gaussian width, > 0 (default 1)")
    Double sigma;

    @Option(names = "--valid-lens", paramLabel = "L.npy",
            description = "integers of shape (n,): query i sees keys 0 <= j < L[i] (d2l's valid_lens); "
                    + "for batched Q, (B,) or (B,n)")
    Path validLens;

    @Option(names = "--causal", description = "query i of n sees key j of m when j <= i + (m - n) (bottom-right aligned)")
    boolean causal;

    @Option(names = "--mask", paramLabel = "M.npy",
            description = "bool or 0/1 integers, (n,m) or (m,): query i sees key j where M is true")
    Path maskFile;

    @Option(names = "--bias", paramLabel = "B.npy",
            description = "float, added to the scores (PyTorch's float attn_mask, ONNX Runtime's attention_bias): "
                    + "of a shape that broadcasts to the weights' (n,m), (B,n,m) or (B,H,n,m) as NumPy does, e.g. "
                    + "(n,m), (B,1,n,m), (1,H,n,m), (B,1,1,m); -inf hides a key")
    Path biasFile;

    @Option(names = "--alibi", description = "ALiBi: adds -slope_h * |i + (m - n) - j| to head h's scores, with the "
            + "paper's slopes 2^(-8(h+1)/H) for H query heads (H = 1 for Q of rank 1 to 3)")
    boolean alibi;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "1",
            description = "threads to use (default 1); the results are bitwise the same for any N")
    int threads;

    @Option(names = "--kernel", paramLabel = "scalar|vector",
            description = "which kernels to run (default: what the library selected for this JVM)")
    String kernel;

    /** The command's own {@code files} and the mask files given here: the inputs no output may overwrite. */
    List<Path> inputs(Path... files) {
        List<Path> inputs = new ArrayList<>(Arrays.asList(files));
        inputs.add(validLens);
        inputs.add(maskFile);
        inputs.add(biasFile);
        return inputs;
    }

    /** The attention these options describe, validating inputs; a bad option is one {@link CliException}. */
    Attention attention() {
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

    /** Refuses, before any work, an explicit mask larger than the heap can hold (six bytes an entry: see below). */
    void checkMaskSize() throws IOException {
        if (maskFile != null) {
            NpyHeader mh = Npy.readHeader(maskFile);
            // The file's ints, the boolean matrix, and the mask's own copy of it.
            Sizes.checkHeap(maskFile + ": a mask of shape " + mh.shapeString(), 6.0 * mh.elementCount());
        }
    }

    /**
     * The mask of queries {@code q} (n,d) or (d,) over keys {@code k} (m,d): every given mask, and-ed, with the bias
     * (read into {@code arena}) and ALiBi.
     */
    Mask mask(Tensor q, Tensor k, Arena arena) throws IOException {
        Mask mask = validLens == null ? Mask.none() : readValidLengths(q);
        return mask.and(sharedMask(q, k, arena));
    }

    /**
     * One mask per batch of batched queries {@code q} (B,n,d) or (B,H,n,d) over keys {@code k}: valid lengths
     * (B,) or (B,n) differ by batch; --causal and --mask apply to every batch and head.
     */
    List<Mask> batchMasks(Tensor q, Tensor k, Arena arena) throws IOException {
        List<Mask> masks = List.of(Mask.none());
        if (validLens != null) {
            masks = q.rank() == 2 ? List.of(readValidLengths(q)) : readBatchValidLengths(q);
        }
        Mask shared = sharedMask(q, k, arena);
        return masks.stream().map(mask -> mask.and(shared)).toList();
    }

    /** --causal, --mask, --bias and --alibi: the same for every batch and head. */
    private Mask sharedMask(Tensor q, Tensor k, Arena arena) throws IOException {
        Mask shared = causal ? Mask.causal() : Mask.none();
        if (maskFile != null) {
            shared = shared.and(readExplicitMask(q, k));
        }
        if (biasFile != null) {
            shared = shared.and(readBias(q, k, arena));
        }
        if (alibi) {
            shared = shared.and(Mask.alibi(Mask.alibiSlopes(q.rank() == 4 ? q.heads() : 1)));
        }
        return shared;
    }

    /**
     * The bias file, copied into {@code arena} (so a file changed while the command runs cannot change it), refused
     * in one line when its shape does not broadcast to the weights' or an entry is NaN or +inf.
     */
    private Mask readBias(Tensor q, Tensor k, Arena arena) throws IOException {
        Tensor read = Npy.readTensor(biasFile, arena);
        int[] shape = read.shape();
        int[] target = Arrays.copyOf(q.shape(), q.rank());
        target[target.length - 1] = k.rows();
        boolean fits = true;
        for (int x = 1; x <= shape.length; x++) {
            int want = x <= target.length ? target[target.length - x] : 1;
            fits &= shape[shape.length - x] == want || shape[shape.length - x] == 1;
        }
        if (!fits) {
            throw new CliException(biasFile + ": bias must broadcast to the weights' shape "
                    + NpyHeader.shapeString(target) + " (each dimension equal or 1, aligned from the right), got "
                    + read.shapeString());
        }
        Tensor bias = Tensor.allocate(arena, shape);
        bias.copyFrom(read);
        MemorySegment entries = bias.segment();
        for (long i = 0; i < bias.size(); i++) {
            float x = entries.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            if (Float.isNaN(x) || x == Float.POSITIVE_INFINITY) {
                throw new CliException(biasFile + ": bias entries must be finite or -inf (hidden), got " + x
                        + " at flat index " + i);
            }
        }
        return Mask.bias(bias);
    }

    private Mask readValidLengths(Tensor q) throws IOException {
        IntArray lens = Npy.readInts(validLens);
        if (lens.rank() != 1 || lens.values().length != q.rows()) {
            throw new CliException(validLens + ": valid lengths must have shape (" + q.rows() + ",) for queries "
                    + q.shapeString() + ", got " + NpyHeader.shapeString(lens.shape()));
        }
        requireNonNegative(lens.values(), "of query ");
        return Mask.validLengths(lens.values());
    }

    private List<Mask> readBatchValidLengths(Tensor q) throws IOException {
        IntArray lens = Npy.readInts(validLens);
        int[] shape = lens.shape();
        int batch = q.batch();
        int n = q.rows();
        boolean perBatch = lens.rank() == 1 && shape[0] == batch;
        if (!perBatch && !(lens.rank() == 2 && shape[0] == batch && shape[1] == n)) {
            throw new CliException(validLens + ": valid lengths must have shape (" + batch + ",) or (" + batch + ", "
                    + n + ") for queries " + q.shapeString() + ", got " + NpyHeader.shapeString(shape));
        }
        int[] values = lens.values();
        requireNonNegative(values, "at index ");
        if (perBatch) {
            return MultiHeadAttention.validLengths(values, n);
        }
        int[][] rows = new int[batch][];
        for (int b = 0; b < batch; b++) {
            rows[b] = Arrays.copyOfRange(values, b * n, (b + 1) * n);
        }
        return MultiHeadAttention.validLengths(rows);
    }

    private void requireNonNegative(int[] lengths, String where) {
        for (int i = 0; i < lengths.length; i++) {
            if (lengths[i] < 0) {
                throw new CliException(validLens + ": the valid length " + where + i + " is " + lengths[i]
                        + "; it must be 0 or more");
            }
        }
    }

    private Mask readExplicitMask(Tensor q, Tensor k) throws IOException {
        IntArray m = Npy.readInts(maskFile);
        int[] shape = m.shape();
        int keys = k.rows();
        boolean oneRow = m.rank() == 1 && shape[0] == keys;
        if (!oneRow && !(m.rank() == 2 && shape[0] == q.rows() && shape[1] == keys)) {
            throw new CliException(maskFile + ": mask must have shape (" + q.rows() + ", " + keys + ") or (" + keys
                    + ",) for queries " + q.shapeString() + " and keys " + k.shapeString() + ", got "
                    + NpyHeader.shapeString(shape));
        }
        int[] values = m.values();
        boolean[][] visible = new boolean[oneRow ? 1 : q.rows()][keys];
        for (int i = 0; i < values.length; i++) {
            if (values[i] != 0 && values[i] != 1) {
                throw new CliException(maskFile + ": mask entries must be 0 or 1 (or bool), got " + values[i]
                        + " at flat index " + i);
            }
            // values is non-empty, so keys > 0 here.
            visible[i / keys][i % keys] = values[i] == 1;
        }
        return oneRow ? Mask.explicit(visible[0]) : Mask.explicit(visible);
    }
}
