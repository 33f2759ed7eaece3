package dev.qkv.cli;

import com.sun.management.OperatingSystemMXBean;
import java.lang.management.ManagementFactory;
import java.math.BigDecimal;
import java.math.MathContext;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * Sizes in bytes, said to a user in gigabytes, and checked against what the JVM can allocate before a
 * command starts work that would end in an {@link OutOfMemoryError}. Sizes are doubles: a product of two
 * int dimensions times 4 bytes passes 2⁶³ only beyond any machine, and a double keeps it in range.
 */
final class Sizes {

    private Sizes() {}

    /** {@code bytes} in GB (10⁹ bytes), three significant digits: "0.00123 GB", "12.3 GB", "1.15E+9 GB". */
    static String gigabytes(double bytes) {
        double gb = bytes / 1e9;
        if (gb >= 1000) {
            return String.format(Locale.ROOT, "%.3g GB", gb);
        }
        return new BigDecimal(gb).round(new MathContext(3)).stripTrailingZeros().toPlainString() + " GB";
    }

    /** The machine's physical memory (a container's limit, where there is one), which bounds off-heap memory. */
    static long physicalMemory() {
        return ManagementFactory.getPlatformMXBean(OperatingSystemMXBean.class).getTotalMemorySize();
    }

    /**
     * Refuses (exit 2) {@code bytes} of Java heap for {@code what} when they exceed the JVM's limit
     * ({@link Runtime#maxMemory()}, set by -Xmx).
     */
    static void checkHeap(String what, double bytes) {
        long max = Runtime.getRuntime().maxMemory();
        if (bytes > max) {
            throw new CliException(what + " needs " + gigabytes(bytes) + " of Java heap, more than the " + gigabytes(max)
                    + " the JVM may use; raise it with JAVA_TOOL_OPTIONS=-Xmx<size>");
        }
    }

    /** Off-heap allocations a command is about to make, checked together against the machine's memory. */
    static final class Budget {

        private record Item(String what, double bytes, String detail) {}

        private final List<Item> items = new ArrayList<>();

        void add(String what, double bytes, String detail) {
            items.add(new Item(what, bytes, detail));
        }

        /** Refuses (exit 2) when the items together exceed the machine's memory, naming the largest. */
        void checkOffHeap() {
            checkOffHeap(physicalMemory());
        }

        void checkOffHeap(long available) {
            double total = items.stream().mapToDouble(Item::bytes).sum();
            if (total <= available) {
                return;
            }
            Item largest = items.stream().max(Comparator.comparingDouble(Item::bytes)).orElseThrow();
            throw new CliException("this run needs " + gigabytes(total) + " of memory (" + largest.what() + ": "
                    + largest.detail() + ", " + gigabytes(largest.bytes()) + "), more than the " + gigabytes(available)
                    + " this machine has");
        }
    }
}
