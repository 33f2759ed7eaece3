/**
 * qkv: attention pooling over off-heap float32 tensors, with Vector API kernels beside scalar references.
 *
 * <p>Exported: {@code dev.qkv} (the facade: {@code Attention}, scorings, masks, partials), {@code dev.qkv.tensor},
 * {@code dev.qkv.io} ({@code .npy} files) and {@code dev.qkv.viz} (heatmaps). The kernels, the algorithm layer and
 * the command line are internal.
 *
 * <p>{@code jdk.incubator.vector} is optional: without it (no {@code --add-modules jdk.incubator.vector}) qkv runs
 * its scalar kernels and logs one warning. {@code java.desktop} is required, transitively, because
 * {@code dev.qkv.viz} returns {@link java.awt.image.BufferedImage}s and writes PNGs through ImageIO.
 */
module dev.qkv {
    // Optional: the vector kernels are loaded only when this module is in the boot layer.
    requires static jdk.incubator.vector;
    // The command line's alone (dev.qkv.cli, not exported); shaded into the CLI jar, never a library dependency.
    requires static info.picocli;
    // Exported API (viz) names java.awt types.
    requires transitive java.desktop;
    // HotSpotDiagnosticMXBean: whether C2 will compile the vector kernels (kernel selection). Small, in every JDK.
    requires jdk.management;

    exports dev.qkv;
    exports dev.qkv.tensor;
    exports dev.qkv.io;
    exports dev.qkv.viz;

    // picocli reads the commands' annotated fields by reflection.
    opens dev.qkv.cli to info.picocli;
}
