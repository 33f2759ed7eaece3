package dev.qkv.tensor;

import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * Checks of a request's size against what the JVM and the machine can hold, made before any work so that a
 * request too large for them is one {@link IllegalArgumentException} naming the size in GB, never an
 * {@link OutOfMemoryError} half way through (or, for off-heap memory the kernel overcommits, the OOM killer).
 */
public final class Sizes {

    /** The longest Java array HotSpot allocates: a few elements short of {@code Integer.MAX_VALUE}. */
    public static final int MAX_ARRAY_LENGTH = Integer.MAX_VALUE - 8;

    /** Below this many bytes no machine that runs a JVM is asked: loading the management beans costs time. */
    private static final long SMALL = 1L << 30;

    /** The machine's physical memory in bytes, or Long.MAX_VALUE where the JVM does not tell; read when first needed. */
    private static final class Machine {
        static final long MEMORY = physicalMemory();
    }

    private Sizes() {}

    /** {@code bytes} in GB (10⁹ bytes) with one decimal, e.g. "4398.0 GB". */
    public static String gigabytes(long bytes) {
        return String.format(Locale.ROOT, "%.1f GB", bytes / 1e9);
    }

    /** {@code count · elementBytes}, or Long.MAX_VALUE where the product passes it. */
    public static long bytes(long count, long elementBytes) {
        long high = Math.multiplyHigh(count, elementBytes);
        long low = count * elementBytes;
        return high != 0 || low < 0 ? Long.MAX_VALUE : low;
    }

    /**
     * Refuses {@code bytes} of off-heap memory (an {@link java.lang.foreign.Arena} allocation) that exceed the
     * machine's physical memory: "{@code what} need 4398.0 GB, more than the 24.6 GB of memory this machine has".
     */
    public static void checkOffHeap(String what, long bytes) {
        if (bytes > SMALL && bytes > Machine.MEMORY) {
            throw new IllegalArgumentException(what + " need " + gigabytes(bytes) + ", more than the "
                    + gigabytes(Machine.MEMORY) + " of memory this machine has");
        }
    }

    /**
     * Refuses a Java array of {@code length} elements of {@code elementBytes} each that no JVM array can hold
     * or that exceeds the heap's limit ({@code -Xmx}): "{@code what} need 8.6 GB of Java heap, more than ...".
     */
    public static void checkHeapArray(String what, long length, int elementBytes) {
        long bytes = bytes(length, elementBytes);
        long heap = Runtime.getRuntime().maxMemory();
        if (length > MAX_ARRAY_LENGTH) {
            throw new IllegalArgumentException(what + " need " + gigabytes(bytes) + " in one Java array of " + length
                    + " elements, more than the " + MAX_ARRAY_LENGTH + " one array holds");
        }
        if (bytes > heap) {
            throw new IllegalArgumentException(what + " need " + gigabytes(bytes) + " of Java heap, more than the "
                    + gigabytes(heap) + " this JVM may use (-Xmx)");
        }
    }

    private static long physicalMemory() {
        try {
            if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
                long total = os.getTotalMemorySize();
                return total > 0 ? total : Long.MAX_VALUE;
            }
        } catch (LinkageError | RuntimeException e) {
            // java.management or jdk.management not in the boot layer: no limit known
        }
        return Long.MAX_VALUE;
    }
}
