package dev.qkv.cli;

import dev.qkv.Attention;
import dev.qkv.MultiHeadAttention;
import dev.qkv.Scoring;
import dev.qkv.cli.KernelRegressionDemo.Data;
import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import dev.qkv.viz.Heatmap;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * Multi-head attention over the Nadaraya–Watson data, for {@code qkv demo}: each of {@link #HEADS} heads
 * projects the inputs by its own random 1 × {@link #HEAD_DIM} matrix {@code w_h} (queries and keys alike) and
 * pools the training targets under Gaussian scoring with σ = 1. Since
 * {@code ‖x·w_h − x_i·w_h‖² = (x − x_i)²·‖w_h‖²}, head h is Nadaraya–Watson regression of width
 * {@code 1/‖w_h‖}: random projections give heads that look near or far, as d2l's multi-head weights do.
 *
 * <p>The queries and keys are the heads of one (1, n, H·d) projection each, seen as (1, H, n, d) without a
 * copy ({@link Tensor#splitHeads}); the values are one (m, 1) column that every head reads (a head stride of
 * 0). The projections come from {@code java.util.Random(}{@value #SEED}{@code )}: normal entries of standard
 * deviation {@value #SCALE}.
 */
final class HeadsDemo {

    static final int HEADS = 4;
    static final int HEAD_DIM = 2;
    static final long SEED = 3;
    /** The standard deviation of the projections' entries: widths 1/‖w_h‖ of about 0.1 to 1, as d2l compares. */
    static final double SCALE = 3;

    private HeadsDemo() {}

    /** The heads' projections' lengths ‖w_h‖, their predictions (H × n) and weights (1, H, n, m). */
    record Heads(double[] norms, double[][] predictions, double[] meanSquaredErrors, Tensor weights) {}

    static Heads run(Arena arena, Data data) {
        float[][] w = new float[HEADS][HEAD_DIM];
        double[] norms = new double[HEADS];
        Random random = new Random(SEED);
        for (int h = 0; h < HEADS; h++) {
            double squares = 0;
            for (int t = 0; t < HEAD_DIM; t++) {
                w[h][t] = (float) (SCALE * random.nextGaussian());
                squares += (double) w[h][t] * w[h][t];
            }
            norms[h] = Math.sqrt(squares);
        }
        Tensor queries = project(arena, data.inputs(), w).splitHeads(HEADS);
        Tensor keys = project(arena, data.trainingInputs(), w).splitHeads(HEADS);
        int m = data.trainingTargets().length;
        Tensor column = KernelRegressionDemo.column(arena, data.trainingTargets());
        Tensor values = Tensor.wrap(column.segment(), ElementType.F32, new int[] {1, HEADS, m, 1},
                new long[] {0, 0, 1, 1});
        MultiHeadAttention multi = MultiHeadAttention.of(Attention.builder().scoring(Scoring.gaussian(1)).build());
        Tensor out = multi.pool(arena, queries, keys, values);
        Tensor weights = multi.weights(arena, queries, keys, List.of(dev.qkv.Mask.none()));

        int n = data.inputs().length;
        double[][] predictions = new double[HEADS][n];
        double[] errors = new double[HEADS];
        for (int h = 0; h < HEADS; h++) {
            double squares = 0;
            for (int i = 0; i < n; i++) {
                predictions[h][i] = out.get(0, h, i, 0);
                double e = predictions[h][i] - data.truth()[i];
                squares += e * e;
            }
            errors[h] = squares / n;
        }
        return new Heads(norms, predictions, errors, weights);
    }

    /** The (1, n, H·d) projection: row i holds x_i·w_0, x_i·w_1, ... */
    private static Tensor project(Arena arena, double[] x, float[][] w) {
        Tensor p = Tensor.allocate(arena, 1, x.length, HEADS * HEAD_DIM);
        for (int i = 0; i < x.length; i++) {
            for (int h = 0; h < HEADS; h++) {
                for (int t = 0; t < HEAD_DIM; t++) {
                    p.set(0, 0, i, h * HEAD_DIM + t, (float) x[i] * w[h][t]);
                }
            }
        }
        return p;
    }

    /** The heads' weights as d2l draws multi-head attention: a row of panels, one per head. */
    static Heatmap heatmap(Heads heads) {
        Tensor w = heads.weights();
        return Heatmap.grid(1, HEADS, w.rows(), w.cols(), w.asMatrix())
                .withTitles(IntStream.range(0, HEADS).mapToObj(h -> "head " + h).toList())
                .withXLabel("training inputs")
                .withYLabel("validation inputs");
    }
}
