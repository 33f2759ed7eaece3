package dev.qkv;

import static dev.qkv.PropertyChecks.check;

import dev.qkv.Float64Gradients.Input;
import java.util.SplittableRandom;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The float64 gradient reference is the derivative of its own loss: for every entry of the queries, keys and values,
 * and for the factor, the central difference (L(x + h) − L(x − h))/(2h) of the reference's L = Σ dO∘out is within
 * {@link Float64Gradients#truncationBound} (h²/6 times a bound on L''') plus the rounding of the two L's divided by
 * 2h, of the reference's analytic gradient, itself within its {@link Float64Gradients#referenceError}. Entries are
 * multiples of 2⁻⁸ in [−4, 4] and h = 2⁻¹⁶, so x ± h is exact in double.
 */
class Float64GradientsProperties {

    private static final double H = 0x1p-16;

    @Provide
    Arbitrary<Case> cases() {
        Arbitrary<Scoring> scorings = Arbitraries.oneOf(Arbitraries.just(Scoring.dot()),
                Arbitraries.just(Scoring.scaledDot()), Arbitraries.doubles().between(0.5, 4).map(Scoring::gaussian),
                Arbitraries.integers().between(-64, 64).map(s -> Scoring.dot().withScale(s / 64.0)),
                Arbitraries.integers().between(1, 64).map(s -> Scoring.gaussian(1).withScale(s / 64.0)));
        return Combinators.combine(scorings, Arbitraries.integers().between(1, 4), Arbitraries.integers().between(0, 6),
                Arbitraries.integers().between(1, 5), Arbitraries.integers().between(1, 3), Arbitraries.longs())
                .as(Case::of);
    }

    @Property(tries = 60)
    void referenceIsTheDerivativeOfItsLoss(@ForAll("cases") Case c) {
        Float64Gradients g = c.gradients();
        for (Input input : Input.values()) {
            int rows = switch (input) {
                case QUERIES -> c.q.length;
                case KEYS, VALUES -> c.k.length;
                case FACTOR -> 1;
            };
            int cols = switch (input) {
                case QUERIES, KEYS -> c.q[0].length;
                case VALUES -> c.dv;
                case FACTOR -> 1;
            };
            if (input == Input.FACTOR && !c.shortFactor()) {
                continue; // f ± h would round: 1/√d and 1/(2σ²) have long mantissas
            }
            for (int r = 0; r < rows; r++) {
                for (int col = 0; col < cols; col++) {
                    Float64Gradients plus = g.moved(input, r, col, H);
                    Float64Gradients minus = g.moved(input, r, col, -H);
                    double difference = (plus.loss - minus.loss) / (2 * H);
                    double bound = g.truncationBound(input, r, col, H)
                            + (plus.lossError() + minus.lossError()) / (2 * H)
                            + 2 * ErrorBounds.U64 * Math.abs(difference)
                            + g.referenceError(input, r, col);
                    double analytic = g.gradient(input, r, col);
                    check(Math.abs(difference - analytic) <= bound,
                            "∂L/∂%s[%d][%d] = %s, central difference %s, off by %s, bound %s, %s", input, r, col,
                            analytic, difference, Math.abs(difference - analytic), bound, c);
                }
            }
        }
    }

    /** A small problem with entries on a grid of 2⁻⁸; each query sees each key with probability 3/4. */
    record Case(Scoring scoring, float[][] q, float[][] k, float[][] v, boolean[][] sees, float[][] dOut, int dv) {

        static Case of(Scoring scoring, int n, int m, int d, int dv, long seed) {
            SplittableRandom random = new SplittableRandom(seed);
            boolean[][] sees = new boolean[n][m];
            for (boolean[] row : sees) {
                for (int j = 0; j < m; j++) {
                    row[j] = random.nextInt(4) > 0;
                }
            }
            return new Case(scoring, grid(random, n, d), grid(random, m, d), grid(random, m, dv), sees,
                    grid(random, n, dv), dv);
        }

        Float64Gradients gradients() {
            return Float64Gradients.of(scoring, q, k, v, sees, dOut, dv);
        }

        boolean shortFactor() {
            double f = scoring.factor(q[0].length);
            return f + H - f == H && f - (f - H) == H;
        }

        private static float[][] grid(SplittableRandom random, int rows, int cols) {
            float[][] x = new float[rows][cols];
            for (float[] row : x) {
                for (int j = 0; j < cols; j++) {
                    row[j] = random.nextInt(-1024, 1025) / 256f;
                }
            }
            return x;
        }

        @Override
        public String toString() {
            return "Case[" + scoring + ", q " + java.util.Arrays.deepToString(q) + ", k "
                    + java.util.Arrays.deepToString(k) + ", v " + java.util.Arrays.deepToString(v) + ", sees "
                    + java.util.Arrays.deepToString(sees) + ", dOut " + java.util.Arrays.deepToString(dOut) + "]";
        }
    }
}
