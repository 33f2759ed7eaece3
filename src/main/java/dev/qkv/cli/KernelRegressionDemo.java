package dev.qkv.cli;

import dev.qkv.KernelRegression;
import dev.qkv.SmoothingKernel;
import dev.qkv.tensor.Tensor;
import dev.qkv.viz.FitPlot;
import dev.qkv.viz.Heatmap;
import java.lang.foreign.Arena;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * The Nadaraya–Watson regression of d2l's "Attention Pooling by Similarity", for {@code qkv demo}: its data,
 * the fits of the four kernels and of four Gaussian widths, and their pictures.
 *
 * <p>The data: {@code y = 2·sin(x) + x + ε} with ε standard normal, at 40 training inputs drawn uniformly
 * from [0, 5) and sorted; the validation inputs are 0, 0.1, …, 4.9. d2l draws them with {@code torch.rand}
 * and {@code torch.randn}; here they come from {@code java.util.Random(0)}: 40 {@code nextDouble} for the
 * inputs, then 40 {@code nextGaussian} for the noise, in the order of the sorted inputs. Inputs and targets
 * are rounded to float, as pooling sees them, before anything is computed from them.
 */
final class KernelRegressionDemo {

    static final long SEED = 0;
    static final int TRAINING = 40;
    static final int VALIDATION = 50;
    /** The Gaussian widths compared, as in d2l. */
    static final double[] WIDTHS = {0.1, 0.2, 0.5, 1};

    private KernelRegressionDemo() {}

    /** Training inputs and targets, validation inputs and the truth there. */
    record Data(double[] trainingInputs, double[] trainingTargets, double[] inputs, double[] truth) {}

    /** One fit: its regression, its weights (validation × training inputs), predictions and their error. */
    record Fit(String title, KernelRegression regression, Tensor weights, double[] predictions, double meanSquaredError) {}

    /** The true function, {@code 2·sin(x) + x}. */
    static double truth(double x) {
        return 2 * Math.sin(x) + x;
    }

    /** The data, always the same: drawn from {@code java.util.Random(}{@value #SEED}{@code )}. */
    static Data data() {
        Random random = new Random(SEED);
        double[] x = new double[TRAINING];
        for (int i = 0; i < TRAINING; i++) {
            x[i] = (float) (5 * random.nextDouble());
        }
        Arrays.sort(x);
        double[] y = new double[TRAINING];
        for (int i = 0; i < TRAINING; i++) {
            y[i] = (float) (truth(x[i]) + random.nextGaussian());
        }
        double[] inputs = new double[VALIDATION];
        double[] truth = new double[VALIDATION];
        for (int i = 0; i < VALIDATION; i++) {
            inputs[i] = (float) (i / 10.0);
            truth[i] = truth(inputs[i]);
        }
        return new Data(x, y, inputs, truth);
    }

    /** d2l's four kernels at σ = 1. */
    static List<Fit> kernels(Arena arena, Data data) {
        List<Fit> fits = new ArrayList<>();
        for (SmoothingKernel kernel : SmoothingKernel.values()) {
            fits.add(fit(arena, data, new KernelRegression(kernel, 1), kernel.displayName()));
        }
        return fits;
    }

    /** The Gaussian kernel at each of {@link #WIDTHS}. */
    static List<Fit> widths(Arena arena, Data data) {
        List<Fit> fits = new ArrayList<>();
        for (double sigma : WIDTHS) {
            fits.add(fit(arena, data, new KernelRegression(SmoothingKernel.GAUSSIAN, sigma), "σ = " + number(sigma)));
        }
        return fits;
    }

    /** Pools the training targets at the validation inputs: queries, keys and values of one dimension. */
    static Fit fit(Arena arena, Data data, KernelRegression regression, String title) {
        Tensor queries = column(arena, data.inputs());
        Tensor keys = column(arena, data.trainingInputs());
        Tensor values = column(arena, data.trainingTargets());
        Tensor weights = regression.weights(arena, queries, keys);
        float[] out = regression.pool(arena, queries, keys, values).toFlatArray();
        double[] predictions = new double[out.length];
        double squares = 0;
        for (int i = 0; i < out.length; i++) {
            predictions[i] = out[i];
            double error = out[i] - data.truth()[i];
            squares += error * error;
        }
        return new Fit(title, regression, weights, predictions, squares / out.length);
    }

    /** The fits against the truth and the training points, a panel each. */
    static FitPlot plot(Data data, List<Fit> fits) {
        return FitPlot.of(data.inputs(), data.truth(), data.trainingInputs(), data.trainingTargets(),
                fits.stream().map(f -> new FitPlot.Fit(f.title(), f.predictions())).toList());
    }

    /** The fits' weights, validation inputs × training inputs, a panel each. */
    static Heatmap weights(List<Fit> fits) {
        Tensor[][] panels = {fits.stream().map(Fit::weights).toArray(Tensor[]::new)};
        return Heatmap.of(panels)
                .withTitles(fits.stream().map(Fit::title).toList())
                .withXLabel("training inputs")
                .withYLabel("validation inputs");
    }

    /** A width as written: 0.1, 1. */
    static String number(double x) {
        return BigDecimal.valueOf(x).stripTrailingZeros().toPlainString();
    }

    /** The values as an n × 1 tensor of floats. */
    static Tensor column(Arena arena, double[] values) {
        Tensor t = Tensor.allocate(arena, values.length, 1);
        for (int i = 0; i < values.length; i++) {
            t.set(i, 0, (float) values[i]);
        }
        return t;
    }
}
