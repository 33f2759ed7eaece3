package dev.qkv.cli;

import dev.qkv.Attention;
import dev.qkv.Scoring;
import dev.qkv.SmoothingKernel;
import dev.qkv.cli.KernelRegressionDemo.Data;
import dev.qkv.cli.KernelRegressionDemo.Fit;
import dev.qkv.tensor.Tensor;
import dev.qkv.viz.Heatmap;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code qkv demo}: the seed's story of attention pooling, told in the terminal and in pictures: a database
 * lookup, average pooling, the identity heatmap, and d2l's Nadaraya–Watson kernel regression with its four
 * kernels and four Gaussian widths. The pictures go into a directory through {@link AtomicOutputs}, all or
 * none.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, subcommands = SearchDemoCommand.class,
        description = {"The seed's story of attention pooling: a database lookup, average pooling, the identity"
                + " heatmap and Nadaraya-Watson kernel regression, printed here and drawn as PNGs in DIR."})
final class DemoCommand implements Callable<Integer> {

    static final String[] SURNAMES = {"Zhang", "Lipton", "Li", "Smola", "Hu", "Werness"};
    static final String[] FIRST_NAMES = {"Aston", "Zachary", "Mu", "Alex", "Rachel", "Brent"};
    /** Another database: four of the surnames, in another order, with other first names. */
    static final String[] OTHER_SURNAMES = {"Hu", "Li", "Smola", "Zhang"};
    static final String[] OTHER_FIRST_NAMES = {"Yan", "Lin", "Max", "Wei"};

    /**
     * The scale of the one-hot key and query embeddings: under dot scoring a match scores 11² = 121 and a
     * miss 0, and exp(−121) is below half of float's smallest subnormal (2⁻¹⁴⁹ = exp(−103.3), rounding to 0
     * below exp(−103.9)), so a miss weighs exactly 0 and the match exactly 1.
     */
    static final float EMBEDDING_SCALE = 11f;

    static final String IDENTITY = "identity.png";
    static final String KERNEL_FITS = "kernel-fits.png";
    static final String KERNEL_WEIGHTS = "kernel-weights.png";
    static final String WIDTH_FITS = "width-fits.png";
    static final String WIDTH_WEIGHTS = "width-weights.png";
    static final String HEAD_WEIGHTS = "head-weights.png";

    @Spec
    CommandSpec spec;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "qkv-demo",
            description = "directory for the pictures, created if missing (default: ${DEFAULT-VALUE})")
    Path dir;

    private record Picture(String name, String caption, AtomicOutputs.Writer writer) {}

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        prepare(dir);
        List<Picture> pictures = new ArrayList<>();
        try (Arena arena = Arena.ofConfined(); AtomicOutputs outputs = new AtomicOutputs()) {
            out.println("qkv demo: attention pooling, out(q) = sum_i softmax_i(a(q, k_i)) v_i");
            lookup(out, arena);
            average(out, arena);
            pictures.add(new Picture(IDENTITY, "eye(10) as weights: each query attends to its own key only",
                    identity(arena)::writePng));
            regression(out, arena, pictures);
            heads(out, arena, pictures);
            for (Picture p : pictures) {
                outputs.write(dir.resolve(p.name()), p.writer());
            }
            outputs.commit();
        }
        out.println();
        out.println("Pictures:");
        int width = pictures.stream().mapToInt(p -> dir.resolve(p.name()).toString().length()).max().orElse(0);
        for (Picture p : pictures) {
            out.printf("  %-" + width + "s  %s%n", dir.resolve(p.name()), p.caption());
        }
        return 0;
    }

    /** Creates DIR if missing; refuses a DIR that is a file or cannot be created or written. */
    static void prepare(Path dir) {
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new CliException("cannot write the pictures into " + dir + ": it is a file, not a directory");
        }
        try {
            Files.createDirectories(dir);
        } catch (FileSystemException e) {
            String reason = e instanceof AccessDeniedException ? "permission denied"
                    : e.getReason() != null ? e.getReason() : e.getClass().getSimpleName();
            throw new CliException("cannot create directory " + dir + ": " + reason, e);
        } catch (IOException e) {
            throw new CliException("cannot create directory " + dir + ": " + Main.message(e), e);
        }
        if (!Files.isWritable(dir)) {
            throw new CliException("cannot write the pictures into " + dir + ": permission denied");
        }
    }

    /** The query "Li" against the database D, then against another database, by attention pooling. */
    private static void lookup(PrintWriter out, Arena arena) {
        out.println();
        out.println("1. A database lookup is attention pooling");
        out.println("   D = " + database(SURNAMES, FIRST_NAMES));
        out.printf(Locale.ROOT, "   keys: the surnames one-hot times %.0f; values: the first names one-hot; dot"
                + " scoring%n", EMBEDDING_SCALE);
        out.printf(Locale.ROOT, "   (a match scores %.0f, a miss 0: exp(-%.0f) rounds to 0 in float, so a miss"
                + " weighs exactly 0)%n", EMBEDDING_SCALE * EMBEDDING_SCALE, EMBEDDING_SCALE * EMBEDDING_SCALE);
        out.println("   " + lookup(arena, "Li", SURNAMES, FIRST_NAMES));
        out.println("   the same query against another database, of another size and order:");
        out.println("   D' = " + database(OTHER_SURNAMES, OTHER_FIRST_NAMES));
        out.println("   " + lookup(arena, "Li", OTHER_SURNAMES, OTHER_FIRST_NAMES));
    }

    /** One line: the query, its weights over the database, and the answer its output decodes to. */
    static String lookup(Arena arena, String surname, String[] surnames, String[] firstNames) {
        Tensor query = embed(arena, surname);
        Tensor keys = keys(arena, surnames);
        Tensor values = oneHotRows(arena, surnames.length);
        Attention attention = Attention.builder().scoring(Scoring.dot()).build();
        Tensor weights = attention.weights(arena, query, keys);
        Tensor output = attention.pool(arena, query, keys, values);
        return String.format(Locale.ROOT, "query \"%s\" -> weights %s -> %s", surname, format(weights),
                decode(output, values, firstNames));
    }

    /** Equal weights: a zero query under dot scoring, or identical keys, give the mean of the values. */
    private static void average(PrintWriter out, Arena arena) {
        out.println();
        out.println("2. Equal weights are average pooling");
        int m = SURNAMES.length;
        Tensor values = oneHotRows(arena, m);
        Attention attention = Attention.builder().scoring(Scoring.dot()).build();
        Tensor zero = Tensor.allocate(arena, m);
        Tensor keys = keys(arena, SURNAMES);
        out.printf("   a zero query scores every key 0 -> weights %s%n", format(attention.weights(arena, zero, keys)));
        Tensor mean = mean(arena, values);
        Tensor averaged = attention.pool(arena, zero, keys, values);
        out.printf("   -> output %s: the mean of the values (1/%d of each first name), %s%n", format(averaged), m,
                difference(averaged, mean));
        Tensor query = embed(arena, "Li");
        Tensor same = Tensor.allocate(arena, m, m);
        for (int i = 0; i < m; i++) {
            same.copyRowFrom(i, query.toFlatArray());
        }
        Tensor pooled = attention.pool(arena, query, same, values);
        out.printf("   identical keys (each the key of \"Li\"): query \"Li\" -> output %s, the mean again, %s%n",
                format(pooled), difference(pooled, mean));
    }

    /** The identity weights of the seed, eye(10) as one 10 × 10 panel, keys across and queries down. */
    static Heatmap identity(Arena arena) {
        Tensor eye = Tensor.allocate(arena, 10, 10);
        for (int i = 0; i < 10; i++) {
            eye.set(i, i, 1f);
        }
        return Heatmap.grid(1, 1, 10, 10, eye);
    }

    /** d2l's Nadaraya–Watson regression: the data, the fits' errors, and their pictures. */
    private static void regression(PrintWriter out, Arena arena, List<Picture> pictures) {
        Data data = KernelRegressionDemo.data();
        List<Fit> kernels = KernelRegressionDemo.kernels(arena, data);
        List<Fit> widths = KernelRegressionDemo.widths(arena, data);
        out.println();
        out.println("3. Nadaraya-Watson kernel regression: attention pooling by similarity (d2l)");
        out.printf(Locale.ROOT, "   y = 2 sin(x) + x + eps, eps ~ N(0, 1): %d training points, x uniform on"
                + " [0, 5), sorted; java.util.Random(%d)%n", KernelRegressionDemo.TRAINING, KernelRegressionDemo.SEED);
        out.printf(Locale.ROOT, "   queries: the %d validation inputs 0, 0.1, ..., 4.9; keys: the training inputs;"
                + " values: their y%n", KernelRegressionDemo.VALIDATION);
        out.println("   weights w_i(x) = K(|x - x_i| / sigma) / sum_j K(|x - x_j| / sigma), prediction sum_i w_i y_i");
        out.println("   mean squared error of the prediction against the truth at the validation inputs:");
        out.println("     kernel        sigma   MSE");
        for (Fit fit : kernels) {
            out.println(row(fit));
        }
        for (Fit fit : widths) {
            out.println(row(fit));
        }
        double mean = 0;
        for (double y : data.trainingTargets()) {
            mean += y;
        }
        out.printf(Locale.ROOT, "   The constant kernel predicts the mean of the training y, %.3f, everywhere."
                + " A narrow Gaussian%n   weighs only the nearest training points and follows their noise; a wide"
                + " one averages%n   many, smooth but pulled towards the mean where the truth bends and at the"
                + " ends.%n", mean / data.trainingTargets().length);
        out.printf(Locale.ROOT, "   The Gaussian kernel is softmax attention with Scoring.gaussian(sigma): at"
                + " sigma = 1 their weights%n   differ by at most %.1e.%n", softmaxDifference(arena, data, kernels));

        String sigmas = String.join(", ", Arrays.stream(KernelRegressionDemo.WIDTHS)
                .mapToObj(KernelRegressionDemo::number).toList());
        pictures.add(new Picture(KERNEL_FITS, "the four kernels' fits at sigma = 1, against the truth",
                KernelRegressionDemo.plot(data, kernels)::writePng));
        pictures.add(new Picture(KERNEL_WEIGHTS, "their weights, validation inputs x training inputs",
                KernelRegressionDemo.weights(kernels)::writePng));
        pictures.add(new Picture(WIDTH_FITS, "the Gaussian's fits at sigma = " + sigmas,
                KernelRegressionDemo.plot(data, widths)::writePng));
        pictures.add(new Picture(WIDTH_WEIGHTS, "their weights, validation inputs x training inputs",
                KernelRegressionDemo.weights(widths)::writePng));
    }

    /** Four heads of random projections over the same data: Nadaraya–Watson at four widths at once. */
    private static void heads(PrintWriter out, Arena arena, List<Picture> pictures) {
        HeadsDemo.Heads heads = HeadsDemo.run(arena, KernelRegressionDemo.data());
        out.println();
        out.printf(Locale.ROOT, "4. Multi-head attention: %d heads, each projecting x by its own random 1 x %d matrix"
                + " w_h (N(0, %.0f^2))%n", HeadsDemo.HEADS, HeadsDemo.HEAD_DIM, HeadsDemo.SCALE);
        out.println("   (queries and keys alike), Gaussian scoring with sigma = 1: |x w_h - x_i w_h|^2 = (x - x_i)^2"
                + " |w_h|^2, so");
        out.println("   head h is Nadaraya-Watson regression of width 1/|w_h|. The heads are views into one (1, n, H*d)");
        out.println("   projection (Tensor.splitHeads), the values one column every head reads; one MultiHeadAttention"
                + " call.");
        out.println("     head  |w_h|   width   MSE");
        for (int h = 0; h < HeadsDemo.HEADS; h++) {
            out.printf(Locale.ROOT, "     %-5d %-7.3f %-7.3f %.3f%n", h, heads.norms()[h], 1 / heads.norms()[h],
                    heads.meanSquaredErrors()[h]);
        }
        pictures.add(new Picture(HEAD_WEIGHTS, "the four heads' weights, validation inputs x training inputs",
                HeadsDemo.heatmap(heads)::writePng));
    }

    private static String row(Fit fit) {
        return String.format(Locale.ROOT, "     %-13s %-7s %.3f", fit.regression().kernel().displayName(),
                KernelRegressionDemo.number(fit.regression().sigma()), fit.meanSquaredError());
    }

    /** The largest difference between the Gaussian kernel's weights and softmax attention's. */
    private static double softmaxDifference(Arena arena, Data data, List<Fit> kernels) {
        Fit gaussian = kernels.stream().filter(f -> f.regression().kernel() == SmoothingKernel.GAUSSIAN)
                .findFirst().orElseThrow();
        Tensor queries = KernelRegressionDemo.column(arena, data.inputs());
        Tensor keys = KernelRegressionDemo.column(arena, data.trainingInputs());
        Attention attention = Attention.builder().scoring(Scoring.gaussian(gaussian.regression().sigma())).build();
        float[] softmax = attention.weights(arena, queries, keys).toFlatArray();
        float[] kernel = gaussian.weights().toFlatArray();
        double largest = 0;
        for (int i = 0; i < softmax.length; i++) {
            largest = Math.max(largest, Math.abs(softmax[i] - kernel[i]));
        }
        return largest;
    }

    private static String database(String[] surnames, String[] firstNames) {
        StringBuilder b = new StringBuilder("{");
        for (int i = 0; i < surnames.length; i++) {
            b.append(i == 0 ? "" : ", ").append('(').append(surnames[i]).append(", ").append(firstNames[i]).append(')');
        }
        return b.append('}').toString();
    }

    /** A surname's embedding: one-hot over {@link #SURNAMES}, times {@link #EMBEDDING_SCALE}. */
    private static Tensor embed(Arena arena, String surname) {
        Tensor e = Tensor.allocate(arena, SURNAMES.length);
        e.set(List.of(SURNAMES).indexOf(surname), EMBEDDING_SCALE);
        return e;
    }

    private static Tensor keys(Arena arena, String[] surnames) {
        Tensor keys = Tensor.allocate(arena, surnames.length, SURNAMES.length);
        for (int i = 0; i < surnames.length; i++) {
            keys.copyRowFrom(i, embed(arena, surnames[i]).toFlatArray());
        }
        return keys;
    }

    /** Row i one-hot at i: the embedding of the i-th answer. */
    private static Tensor oneHotRows(Arena arena, int m) {
        Tensor values = Tensor.allocate(arena, m, m);
        for (int i = 0; i < m; i++) {
            values.set(i, i, 1f);
        }
        return values;
    }

    private static Tensor mean(Arena arena, Tensor values) {
        Tensor mean = Tensor.allocate(arena, values.cols());
        for (int j = 0; j < values.cols(); j++) {
            double sum = 0;
            for (int i = 0; i < values.rows(); i++) {
                sum += values.get(i, j);
            }
            mean.set(j, (float) (sum / values.rows()));
        }
        return mean;
    }

    private static String difference(Tensor a, Tensor b) {
        double largest = 0;
        for (int j = 0; j < a.cols(); j++) {
            largest = Math.max(largest, Math.abs(a.get(j) - b.get(j)));
        }
        return largest == 0 ? "exactly" : String.format(Locale.ROOT, "within %.1e", largest);
    }

    /** The answer whose value row the output equals exactly, or a note that the output is a blend. */
    private static String decode(Tensor output, Tensor values, String[] answers) {
        for (int i = 0; i < values.rows(); i++) {
            if (output.contentEquals(values.row(i))) {
                return "\"" + answers[i] + "\" (the output is value row " + i + " exactly)";
            }
        }
        return "(a blend of the values, no single answer)";
    }

    private static String format(Tensor t) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < t.cols(); i++) {
            b.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.3f", t.get(i)));
        }
        return b.append(']').toString();
    }
}
