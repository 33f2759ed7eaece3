package dev.qkv.kernel;

import dev.qkv.Attention;
import dev.qkv.Scoring;
import dev.qkv.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;

/**
 * Run by {@link KernelProviderTest} in a JVM of its own: pools one query with the default kernels and
 * prints {@code kernels=NAME}, {@code describe=} the kernels' toString (with the vector width), and {@code out=[...]}; a refused selection prints {@code error=MESSAGE} and
 * exits with status 3.
 */
public final class KernelSelectionMain {

    private KernelSelectionMain() {}

    public static void main(String[] args) {
        try (Arena arena = Arena.ofConfined()) {
            Attention attention = Attention.builder().scoring(Scoring.dot()).build();
            Tensor query = Tensor.of(arena, new float[] {1, 0});
            Tensor keys = Tensor.of(arena, new float[][] {{1, 0}, {0, 1}});
            Tensor values = Tensor.of(arena, new float[][] {{1, 2}, {3, 4}});
            float[] out = attention.pool(arena, query, keys, values).toFlatArray();
            System.out.println("kernels=" + attention.kernels());
            System.out.println("describe=" + KernelProvider.defaults());
            System.out.println("out=" + Arrays.toString(out));
        } catch (IllegalArgumentException e) {
            System.out.println("error=" + e.getMessage());
            System.exit(3);
        }
    }
}
