package dev.qkv.cli;

import dev.qkv.cli.SearchDemo.Digits;
import dev.qkv.cli.SearchDemo.Result;
import dev.qkv.viz.CurvePlot;
import dev.qkv.viz.ScatterPlot;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code qkv demo search}: a search engine over handwritten digits that learns its embedding through qkv's gradients. */
@Command(name = "search", mixinStandardHelpOptions = true,
        description = {"A differentiable search engine (the seed's exercise 3): attention pooling over 1,198 UCI"
                + " handwritten digits retrieves the labels of 599 held-out ones; a linear map W (64 -> r) is"
                + " learned through qkv's backward pass (NCA's leave-one-out loss), for r = 2, 3, 4, and compared"
                + " with PCA and scikit-learn's NCA. Draws the 2-D space before and after, and the training curve,"
                + " as PNGs in DIR."})
final class SearchDemoCommand implements Callable<Integer> {

    static final String SPACE = "search-space.png";
    static final String TRAINING = "search-training.png";
    static final int[] DIMENSIONS = {2, 3, 4};
    /**
     * scikit-learn 1.9.1's NeighborhoodComponentsAnalysis(n_components=r, random_state=0) + 1-NN on the same split,
     * run once by data/baselines.py (data/README.md): the anchor to beat, for r = 2, 3, 4.
     */
    static final double[] SKLEARN_NCA = {413 / 599.0, 496 / 599.0, 554 / 599.0};

    @Spec
    CommandSpec spec;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "qkv-demo",
            description = "directory for the pictures, created if missing (default: ${DEFAULT-VALUE})")
    Path dir;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        DemoCommand.prepare(dir);
        long start = System.nanoTime();
        Digits digits = SearchDemo.load();
        out.printf(Locale.ROOT, "qkv demo search: %d database digits (keys: W x, values: labels one-hot), %d held-out"
                + " queries%n", digits.database().length, digits.queries().length);
        out.printf(Locale.ROOT, "score -|Wq - Wk|^2; W starts at PCA and takes %d Adam steps (rate %.2f) on NCA's"
                + " leave-one-out cross-entropy,%nits gradient from qkv's backward pass. Held-out accuracy:%n%n",
                SearchDemo.STEPS, SearchDemo.LEARNING_RATE);
        out.println("  r   PCA+1-NN  PCA+pool  NCA+1-NN (sklearn)  learned+pool  learned+1-NN  loss before -> after");
        int threads = Runtime.getRuntime().availableProcessors();
        List<Result> results = new ArrayList<>();
        for (int k = 0; k < DIMENSIONS.length; k++) {
            Result r = SearchDemo.run(digits, DIMENSIONS[k], threads);
            results.add(r);
            out.printf(Locale.ROOT, "  %d   %.4f    %.4f    %.4f              %.4f        %.4f        %.3f -> %.3f%n",
                    r.r(), r.pcaNearest(), r.pcaPooled(), SKLEARN_NCA[k], r.learnedPooled(), r.learnedNearest(),
                    r.loss()[0], r.loss()[SearchDemo.STEPS]);
        }
        Result two = results.get(0);
        List<String> names = new ArrayList<>();
        for (int c = 0; c < SearchDemo.CLASSES; c++) {
            names.add("digit " + c);
        }
        ScatterPlot space = ScatterPlot.of(List.of(panel("before: PCA, r = 2", two.pcaDatabase(), two.pcaQueries(),
                digits), panel("after: learned W, r = 2", two.learnedDatabase(), two.learnedQueries(), digits)), names);
        double[] steps = new double[SearchDemo.STEPS + 1];
        for (int s = 0; s < steps.length; s++) {
            steps[s] = s;
        }
        List<CurvePlot.Curve> curves = new ArrayList<>();
        for (Result r : results) {
            curves.add(new CurvePlot.Curve("r = " + r.r(), r.loss()));
        }
        CurvePlot training = CurvePlot.of("NCA leave-one-out cross-entropy", steps, curves, "Adam step",
                "loss");
        try (AtomicOutputs outputs = new AtomicOutputs()) {
            outputs.write(dir.resolve(SPACE), space::writePng);
            outputs.write(dir.resolve(TRAINING), training::writePng);
            outputs.commit();
        }
        out.printf(Locale.ROOT, "%nwrote %s (database dots, query rings, by digit) and %s in %.1f s%n",
                dir.resolve(SPACE), dir.resolve(TRAINING), (System.nanoTime() - start) / 1e9);
        return 0;
    }

    private static ScatterPlot.Panel panel(String title, double[][] db, double[][] q, Digits digits) {
        int n = db.length + q.length;
        double[] x = new double[n];
        double[] y = new double[n];
        int[] category = new int[n];
        boolean[] query = new boolean[n];
        for (int i = 0; i < n; i++) {
            boolean isQuery = i >= db.length;
            double[] point = isQuery ? q[i - db.length] : db[i];
            x[i] = point[0];
            y[i] = point[1];
            category[i] = isQuery ? digits.queryLabels()[i - db.length] : digits.databaseLabels()[i];
            query[i] = isQuery;
        }
        return new ScatterPlot.Panel(title, x, y, category, query);
    }
}
