package dev.qkv.cli;

import dev.qkv.Attention;
import dev.qkv.Gradients;
import dev.qkv.Mask;
import dev.qkv.Scoring;
import dev.qkv.io.IntArray;
import dev.qkv.io.Npy;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * A differentiable search engine that learns (the seed's exercise 3), on the 1,797 UCI handwritten digits of
 * {@code data/}: every image with index % 3 == 0 is a query, the rest the database, whose keys are the images
 * and whose values their labels one-hot. Retrieval is attention pooling under the Gaussian score
 * {@code −‖Wq − Wk‖²}: a query's label is the argmax of its pooled values. The linear map W (64 → r) is learned
 * by gradient descent through qkv's backward pass on Neighbourhood Components Analysis' loss: each database item
 * queries all the others (leave-one-out, an explicit mask), and the loss is the mean cross-entropy
 * {@code −log out[a][label a]} of the pooled label distributions. It starts from PCA, the "before".
 */
final class SearchDemo {

    static final int SIDE = 8;
    static final int PIXELS = SIDE * SIDE;
    static final int CLASSES = 10;

    /**
     * Adam's step size, and how many full-batch steps. Tried in NumPy on the same loss: 0.05 gave held-out pooled
     * accuracies of 0.766, 0.863, 0.928 (r = 2, 3, 4) at 50 steps and 0.790, 0.873, 0.922 at 100, and r = 4 then
     * overfits; 0.1 did worse at r = 3 and 4. 50 steps keep the demo to seconds.
     */
    static final double LEARNING_RATE = 0.05;
    static final int STEPS = 50;
    /** The smallest probability the loss takes the log of, as NCA implementations guard it. */
    static final double FLOOR = 1e-12;

    /** Images scaled to [0, 1] and centred on the database's mean, and labels, split by index. */
    record Digits(double[][] database, int[] databaseLabels, double[][] queries, int[] queryLabels) {}

    /** One dimension's result: accuracies on the held-out queries, the loss per step, and the 2-D points. */
    record Result(int r, double pcaNearest, double pcaPooled, double learnedNearest, double learnedPooled,
            double[] loss, double[][] pcaDatabase, double[][] pcaQueries, double[][] learnedDatabase,
            double[][] learnedQueries) {}

    private SearchDemo() {}

    /** The digits bundled with qkv (data/digits-*.npy, copied into the jar by the build). */
    static Digits load() throws IOException {
        IntArray images = readBundled("digits-images.npy");
        IntArray labels = readBundled("digits-labels.npy");
        int n = labels.values().length;
        if (images.shape()[0] != n || images.shape()[1] != PIXELS) {
            throw new IOException("bundled digits have shapes " + java.util.Arrays.toString(images.shape()) + " and ("
                    + n + ",)");
        }
        int queries = (n + 2) / 3;
        double[][] db = new double[n - queries][PIXELS];
        double[][] q = new double[queries][PIXELS];
        int[] dbLabels = new int[n - queries];
        int[] qLabels = new int[queries];
        for (int i = 0, a = 0, b = 0; i < n; i++) {
            double[] row = i % 3 == 0 ? q[a] : db[b];
            for (int p = 0; p < PIXELS; p++) {
                row[p] = images.values()[i * PIXELS + p] / 16.0;
            }
            if (i % 3 == 0) {
                qLabels[a++] = labels.values()[i];
            } else {
                dbLabels[b++] = labels.values()[i];
            }
        }
        double[] mean = new double[PIXELS];
        for (double[] row : db) {
            for (int p = 0; p < PIXELS; p++) {
                mean[p] += row[p] / db.length;
            }
        }
        for (double[][] rows : new double[][][] {db, q}) {
            for (double[] row : rows) {
                for (int p = 0; p < PIXELS; p++) {
                    row[p] -= mean[p];
                }
            }
        }
        return new Digits(db, dbLabels, q, qLabels);
    }

    private static IntArray readBundled(String name) throws IOException {
        Path file = Files.createTempFile("qkv-", "-" + name);
        try (InputStream in = SearchDemo.class.getResourceAsStream("/dev/qkv/data/" + name)) {
            if (in == null) {
                throw new IOException("the digits are not bundled in this build: /dev/qkv/data/" + name);
            }
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            return Npy.readInts(file);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** PCA to r dimensions, then W learned for {@link #STEPS} steps, on {@code threads} threads. */
    static Result run(Digits digits, int r, int threads) {
        double[][] pca = pca(digits.database(), r);
        double[][] w = copy(pca);
        Attention attention = Attention.builder().scoring(Scoring.gaussian(1).withScale(1)).threads(threads).build();
        int n = digits.database().length;
        boolean[][] others = new boolean[n][n];
        for (int a = 0; a < n; a++) {
            java.util.Arrays.fill(others[a], true);
            others[a][a] = false;
        }
        Mask leaveOneOut = Mask.explicit(others);
        double[] loss = new double[STEPS + 1];
        Adam adam = new Adam(PIXELS, r);
        try (Arena arena = Arena.ofShared()) {
            Tensor values = oneHot(arena, digits.databaseLabels());
            Tensor out = Tensor.allocate(arena, n, CLASSES);
            Tensor lse = Tensor.allocate(arena, n);
            Tensor gradOut = Tensor.allocate(arena, n, CLASSES);
            Tensor dq = Tensor.allocate(arena, n, r);
            Tensor dk = Tensor.allocate(arena, n, r);
            for (int step = 0; step <= STEPS; step++) {
                Tensor z = embed(arena, digits.database(), w);
                attention.pool(z, z, values, leaveOneOut, out, lse);
                // L = −(1/n) Σₐ log out[a][yₐ]: ∂L/∂out[a][yₐ] = −1/(n·out[a][yₐ]), 0 elsewhere.
                gradOut.fill(0f);
                double total = 0;
                for (int a = 0; a < n; a++) {
                    int label = digits.databaseLabels()[a];
                    double p = Math.max(out.get(a, label), FLOOR);
                    total -= Math.log(p);
                    gradOut.set(a, label, (float) (-1 / (n * p)));
                }
                loss[step] = total / n;
                if (step == STEPS) {
                    break;
                }
                attention.gradients(z, z, values, leaveOneOut, gradOut, out, lse, dq, dk, null);
                // Queries and keys are both XW: ∂L/∂W = Xᵀ(dQ + dK).
                double[][] dw = new double[PIXELS][r];
                for (int a = 0; a < n; a++) {
                    double[] x = digits.database()[a];
                    for (int c = 0; c < r; c++) {
                        double dz = (double) dq.get(a, c) + dk.get(a, c);
                        for (int p = 0; p < PIXELS; p++) {
                            dw[p][c] += x[p] * dz;
                        }
                    }
                }
                adam.step(w, dw, LEARNING_RATE);
            }
            double[][] pcaDb = project(digits.database(), pca);
            double[][] pcaQ = project(digits.queries(), pca);
            double[][] learnedDb = project(digits.database(), w);
            double[][] learnedQ = project(digits.queries(), w);
            return new Result(r, nearest(pcaDb, digits.databaseLabels(), pcaQ, digits.queryLabels()),
                    pooled(arena, attention, pcaDb, values, pcaQ, digits.queryLabels()),
                    nearest(learnedDb, digits.databaseLabels(), learnedQ, digits.queryLabels()),
                    pooled(arena, attention, learnedDb, values, learnedQ, digits.queryLabels()), loss, pcaDb, pcaQ,
                    learnedDb, learnedQ);
        }
    }

    /** The top r principal directions of the (centred) rows, as the columns of a 64 × r matrix. */
    static double[][] pca(double[][] rows, int r) {
        double[][] cov = new double[PIXELS][PIXELS];
        for (double[] x : rows) {
            for (int i = 0; i < PIXELS; i++) {
                for (int j = 0; j < PIXELS; j++) {
                    cov[i][j] += x[i] * x[j];
                }
            }
        }
        double[][] vectors = new double[PIXELS][PIXELS];
        double[] values = jacobi(cov, vectors);
        Integer[] order = new Integer[PIXELS];
        for (int i = 0; i < PIXELS; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Double.compare(values[b], values[a]));
        double[][] w = new double[PIXELS][r];
        for (int c = 0; c < r; c++) {
            for (int p = 0; p < PIXELS; p++) {
                w[p][c] = vectors[p][order[c]];
            }
        }
        return w;
    }

    /**
     * The eigenvalues of the symmetric matrix {@code a} (destroyed) by cyclic Jacobi rotations, its eigenvectors
     * into the columns of {@code v}; sweeps until the off-diagonal mass is below 10⁻²² of the total.
     */
    private static double[] jacobi(double[][] a, double[][] v) {
        int n = a.length;
        for (int i = 0; i < n; i++) {
            v[i][i] = 1;
        }
        double total = 0;
        for (double[] row : a) {
            for (double x : row) {
                total += x * x;
            }
        }
        for (int sweep = 0; sweep < 100; sweep++) {
            double off = 0;
            for (int p = 0; p < n; p++) {
                for (int q = p + 1; q < n; q++) {
                    off += a[p][q] * a[p][q];
                }
            }
            if (off <= 1e-22 * total) {
                break;
            }
            for (int p = 0; p < n; p++) {
                for (int q = p + 1; q < n; q++) {
                    if (a[p][q] == 0) {
                        continue;
                    }
                    double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                    double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) {
                        t = 1;
                    }
                    double c = 1 / Math.sqrt(t * t + 1);
                    double s = t * c;
                    for (int k = 0; k < n; k++) {
                        double akp = a[k][p];
                        double akq = a[k][q];
                        a[k][p] = c * akp - s * akq;
                        a[k][q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++) {
                        double apk = a[p][k];
                        double aqk = a[q][k];
                        a[p][k] = c * apk - s * aqk;
                        a[q][k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < n; k++) {
                        double vkp = v[k][p];
                        double vkq = v[k][q];
                        v[k][p] = c * vkp - s * vkq;
                        v[k][q] = s * vkp + c * vkq;
                    }
                }
            }
        }
        double[] values = new double[n];
        for (int i = 0; i < n; i++) {
            values[i] = a[i][i];
        }
        return values;
    }

    /** The fraction of queries whose nearest database item (Euclidean) has their label. */
    static double nearest(double[][] db, int[] dbLabels, double[][] q, int[] qLabels) {
        int right = 0;
        for (int i = 0; i < q.length; i++) {
            double best = Double.POSITIVE_INFINITY;
            int label = -1;
            for (int j = 0; j < db.length; j++) {
                double dist = 0;
                for (int c = 0; c < q[i].length; c++) {
                    double diff = q[i][c] - db[j][c];
                    dist += diff * diff;
                }
                if (dist < best) {
                    best = dist;
                    label = dbLabels[j];
                }
            }
            right += label == qLabels[i] ? 1 : 0;
        }
        return (double) right / q.length;
    }

    /** The fraction of queries whose pooled label distribution peaks at their label: the search engine's answer. */
    private static double pooled(Arena arena, Attention attention, double[][] db, Tensor values, double[][] q,
            int[] qLabels) {
        Tensor out = attention.pool(arena, tensor(arena, q), tensor(arena, db), values);
        int right = 0;
        for (int i = 0; i < q.length; i++) {
            int best = 0;
            for (int c = 1; c < CLASSES; c++) {
                if (out.get(i, c) > out.get(i, best)) {
                    best = c;
                }
            }
            right += best == qLabels[i] ? 1 : 0;
        }
        return (double) right / q.length;
    }

    private static Tensor embed(Arena arena, double[][] x, double[][] w) {
        return tensor(arena, project(x, w));
    }

    static double[][] project(double[][] x, double[][] w) {
        int r = w[0].length;
        double[][] z = new double[x.length][r];
        for (int i = 0; i < x.length; i++) {
            for (int c = 0; c < r; c++) {
                double sum = 0;
                for (int p = 0; p < PIXELS; p++) {
                    sum += x[i][p] * w[p][c];
                }
                z[i][c] = sum;
            }
        }
        return z;
    }

    private static Tensor tensor(Arena arena, double[][] rows) {
        Tensor t = Tensor.allocate(arena, rows.length, rows[0].length);
        for (int i = 0; i < rows.length; i++) {
            for (int c = 0; c < rows[i].length; c++) {
                t.set(i, c, (float) rows[i][c]);
            }
        }
        return t;
    }

    private static Tensor oneHot(Arena arena, int[] labels) {
        Tensor t = Tensor.allocate(arena, labels.length, CLASSES);
        for (int i = 0; i < labels.length; i++) {
            t.set(i, labels[i], 1f);
        }
        return t;
    }

    private static double[][] copy(double[][] x) {
        double[][] y = new double[x.length][];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i].clone();
        }
        return y;
    }

    /** Adam (Kingma and Ba, 2015) with its usual β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸. */
    private static final class Adam {
        private final double[][] m;
        private final double[][] v;
        private int t;

        Adam(int rows, int cols) {
            m = new double[rows][cols];
            v = new double[rows][cols];
        }

        void step(double[][] w, double[][] g, double rate) {
            t++;
            double c1 = 1 - Math.pow(0.9, t);
            double c2 = 1 - Math.pow(0.999, t);
            for (int i = 0; i < w.length; i++) {
                for (int j = 0; j < w[i].length; j++) {
                    m[i][j] = 0.9 * m[i][j] + 0.1 * g[i][j];
                    v[i][j] = 0.999 * v[i][j] + 0.001 * g[i][j] * g[i][j];
                    w[i][j] -= rate * (m[i][j] / c1) / (Math.sqrt(v[i][j] / c2) + 1e-8);
                }
            }
        }
    }
}
