package dev.qkv.viz;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Where ticks go, as matplotlib places them: at round steps of 1, 2 or 5 (2.5 too for values) times 10^k. */
final class Ticks {

    /** A tick on the colour bar: its value and the label shown beside it. */
    record ValueTick(double value, String label) {}

    private static final int[] INDEX_STEPS = {1, 2, 5};
    private static final BigDecimal[] VALUE_STEPS = {
        BigDecimal.ONE, BigDecimal.TWO, new BigDecimal("2.5"), BigDecimal.valueOf(5)
    };

    private Ticks() {}

    /**
     * Ticks on an axis of {@code count} matrix cells drawn {@code lengthPx} long: 0 and every multiple of the
     * smallest round step that puts ticks at least {@code minSpacingPx} apart.
     */
    static int[] indices(int count, int lengthPx, double minSpacingPx) {
        for (long scale = 1; ; scale *= 10) {
            for (int mantissa : INDEX_STEPS) {
                long step = mantissa * scale;
                if (step >= count || (double) step * lengthPx / count >= minSpacingPx) {
                    int[] ticks = new int[(int) ((count - 1) / step) + 1];
                    for (int k = 0; k < ticks.length; k++) {
                        ticks[k] = (int) (k * step);
                    }
                    return ticks;
                }
            }
        }
    }

    /**
     * Ticks on the colour bar for values {@code lo < hi}: the multiples in [lo, hi] of the smallest round
     * step giving at most {@code maxTicks} of them; if that step gives only one, the step before it, so the
     * bar always has at least two. All are labelled with the same number of decimals.
     */
    static List<ValueTick> values(double lo, double hi, int maxTicks) {
        // A hair of slack, so an end that is a round number in decimal (0.2f) still gets its tick.
        double slack = 1e-9 * (hi - lo);
        BigDecimal low = new BigDecimal(lo - slack);
        BigDecimal high = new BigDecimal(hi + slack);
        double magnitude = Math.max(Math.abs(lo), Math.abs(hi));
        // Starts a factor of ten below the step that would give maxTicks, where ticks are plenty.
        int exponent = (int) Math.floor(Math.log10((hi - lo) / maxTicks)) - 1;
        BigDecimal previous = null;
        for (; ; exponent++) {
            for (BigDecimal mantissa : VALUE_STEPS) {
                BigDecimal step = mantissa.scaleByPowerOfTen(exponent);
                long count = last(high, step) - first(low, step) + 1;
                if (count <= maxTicks) {
                    return values(count >= 2 || previous == null ? step : previous, low, high, magnitude);
                }
                previous = step;
            }
        }
    }

    private static long first(BigDecimal low, BigDecimal step) {
        return low.divide(step, 0, RoundingMode.CEILING).longValueExact();
    }

    private static long last(BigDecimal high, BigDecimal step) {
        return high.divide(step, 0, RoundingMode.FLOOR).longValueExact();
    }

    private static List<ValueTick> values(BigDecimal step, BigDecimal low, BigDecimal high, double magnitude) {
        int decimals = Math.max(0, step.stripTrailingZeros().scale());
        boolean scientific = decimals > 5 || magnitude >= 1e6;
        List<ValueTick> ticks = new ArrayList<>();
        long last = last(high, step);
        for (long k = first(low, step); k <= last; k++) {
            BigDecimal value = step.multiply(BigDecimal.valueOf(k));
            String label = scientific
                    ? String.format(Locale.ROOT, "%.2e", value.doubleValue())
                    : value.setScale(decimals, RoundingMode.HALF_EVEN).toPlainString();
            ticks.add(new ValueTick(value.doubleValue(), label));
        }
        return ticks;
    }
}
