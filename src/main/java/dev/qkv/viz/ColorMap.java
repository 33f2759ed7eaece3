package dev.qkv.viz;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * A colour map from [0, 1] to colours: matplotlib's {@code Reds} and {@code viridis}, interpolated linearly
 * in RGB between equally spaced stops.
 */
public enum ColorMap {

    /** matplotlib's {@code Reds}: its 9 ColorBrewer stops, from #fff5f0 at 0 to #67000d at 1. */
    REDS(0xfff5f0, 0xfee0d2, 0xfcbba1, 0xfc9272, 0xfb6a4a, 0xef3b2c, 0xcb181d, 0xa50f15, 0x67000d),

    /**
     * matplotlib's {@code viridis}, from #440154 at 0 to #fde725 at 1: every fifth entry of its 256-entry
     * table, which interpolated reproduces the table within 1/255 per channel.
     */
    VIRIDIS(0x440154, 0x46085c, 0x471063, 0x481769, 0x481d6f, 0x482475, 0x472a7a, 0x46307e,
            0x453781, 0x433d84, 0x414287, 0x3f4889, 0x3d4e8a, 0x3a538b, 0x38598c, 0x355e8d,
            0x33638d, 0x31688e, 0x2e6d8e, 0x2c718e, 0x2a768e, 0x297b8e, 0x27808e, 0x25848e,
            0x23898e, 0x218e8d, 0x20928c, 0x1f978b, 0x1e9c89, 0x1fa188, 0x21a585, 0x24aa83,
            0x28ae80, 0x2eb37c, 0x35b779, 0x3dbc74, 0x46c06f, 0x50c46a, 0x5ac864, 0x65cb5e,
            0x70cf57, 0x7cd250, 0x89d548, 0x95d840, 0xa2da37, 0xb0dd2f, 0xbddf26, 0xcae11f,
            0xd8e219, 0xe5e419, 0xf1e51d, 0xfde725);

    private final int[] stops;

    ColorMap(int... stops) {
        this.stops = stops;
    }

    /**
     * The colour at {@code t} as {@code 0xRRGGBB}; {@code t} is clamped to [0, 1].
     *
     * @throws IllegalArgumentException if {@code t} is NaN
     */
    public int rgb(double t) {
        if (Double.isNaN(t)) {
            throw new IllegalArgumentException("colour map position is NaN");
        }
        double position = Math.clamp(t, 0.0, 1.0) * (stops.length - 1);
        int i = Math.min((int) position, stops.length - 2);
        double f = position - i;
        int a = stops[i];
        int b = stops[i + 1];
        return channel(a, b, 16, f) << 16 | channel(a, b, 8, f) << 8 | channel(a, b, 0, f);
    }

    /** The lowercase name matplotlib uses: {@code reds}, {@code viridis}. */
    public String displayName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * The colour map called {@code name}, ignoring case.
     *
     * @throws IllegalArgumentException naming the choices if there is none by that name
     */
    public static ColorMap parse(String name) {
        for (ColorMap map : values()) {
            if (map.name().equalsIgnoreCase(name.strip())) {
                return map;
            }
        }
        throw new IllegalArgumentException("unknown colour map '" + name + "'; choose one of "
                + Arrays.stream(values()).map(ColorMap::displayName).collect(Collectors.joining(", ")));
    }

    private static int channel(int a, int b, int shift, double f) {
        int x = a >> shift & 0xff;
        int y = b >> shift & 0xff;
        return (int) Math.round(x + (y - x) * f);
    }
}
