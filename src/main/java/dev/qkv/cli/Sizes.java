package dev.qkv.cli;

import java.util.Locale;

/** Sizes in bytes, said to a user in gigabytes. */
final class Sizes {

    private Sizes() {}

    /** {@code bytes} in GB (10⁹ bytes), with three significant digits at least: "0.00123 GB", "12.3 GB". */
    static String gigabytes(double bytes) {
        double gb = bytes / 1e9;
        if (gb >= 100) {
            return String.format(Locale.ROOT, "%.0f GB", gb);
        }
        return new java.math.BigDecimal(gb).round(new java.math.MathContext(3)).stripTrailingZeros().toPlainString()
                + " GB";
    }
}
