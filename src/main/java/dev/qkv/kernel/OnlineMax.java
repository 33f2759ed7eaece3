package dev.qkv.kernel;

/**
 * The first step of {@link Kernels#fold} for one row, written once for the default and for the vector kernels'
 * fused version: raise the row's running maximum to the block's, rescaling what was summed under the old one.
 */
final class OnlineMax {

    private OnlineMax() {}

    /**
     * Raises {@code max[row]} to {@code blockMax}, the block's maximum as {@link Kernels#maxAbove} gives it against
     * {@code max[row]}, multiplying {@code sum[row]} and the row's acc by {@code exp(old − new)} unless the old maximum
     * is −∞ (the row has seen no key: its sum and acc are 0). Returns false, with the state untouched, when every
     * score of the block is −∞; otherwise {@code max[row]} is then the shift for the block's exps.
     */
    static boolean raise(Kernels kernels, float blockMax, float[] max, float[] sum, float[] acc, int row, int dvPad) {
        if (blockMax == Float.NEGATIVE_INFINITY) {
            return false;
        }
        if (blockMax > max[row]) {
            if (max[row] != Float.NEGATIVE_INFINITY) {
                float rescale = (float) Math.exp(max[row] - blockMax);
                kernels.scale(acc, row * dvPad, (row + 1) * dvPad, rescale);
                sum[row] *= rescale;
            }
            max[row] = blockMax;
        }
        return true;
    }
}
