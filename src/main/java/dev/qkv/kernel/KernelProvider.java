package dev.qkv.kernel;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Picks the kernels, once per JVM, the way Lucene's {@code VectorizationProvider} does: the vector kernels
 * when module {@code jdk.incubator.vector} is in the boot layer, the VM is HotSpot compiling with C2, and the
 * CPU's preferred vector has at least 128 bits; otherwise the scalar kernels, with one warning through
 * {@link System.Logger} that says why (for the missing module: pass {@code --add-modules
 * jdk.incubator.vector}). The library keeps working either way, slower without the vector kernels.
 *
 * <p>Two system properties override the choice:
 * <ul>
 *   <li>{@value #KERNEL_PROPERTY}{@code =scalar|vector}: force one; {@code vector} still needs the module;
 *   <li>{@value #BITS_PROPERTY}{@code =128|256|512}: the vector width, instead of the CPU's preferred one,
 *       read once per JVM (a width for tests, in a JVM of their own).
 * </ul>
 *
 * <p>The vector classes are only loaded on the vector path (through a nested holder class that alone names
 * them), so the scalar path never touches {@code jdk.incubator.vector}. Thread-safe.
 */
public final class KernelProvider {

    /** System property that forces the kernels: {@code scalar} or {@code vector}. */
    public static final String KERNEL_PROPERTY = "qkv.kernel";
    /** System property that sets the vector width in bits: {@code 128}, {@code 256} or {@code 512}. */
    public static final String BITS_PROPERTY = "qkv.vectorBits";

    private static final String VECTOR_MODULE = "jdk.incubator.vector";
    private static final System.Logger LOG = System.getLogger(KernelProvider.class.getName());

    private KernelProvider() {}

    /**
     * The kernels chosen for this JVM, the same object on every call. The first call decides (and warns
     * once if it falls back to scalar).
     *
     * @throws IllegalArgumentException if {@value #KERNEL_PROPERTY} or {@value #BITS_PROPERTY} has a bad
     *     value, or forces the vector kernels without the module; naming the property and its value
     */
    public static Kernels defaults() {
        if (Selected.ERROR != null) {
            throw new IllegalArgumentException(Selected.ERROR.getMessage(), Selected.ERROR);
        }
        return Selected.KERNELS;
    }

    /**
     * The kernels called {@code name}: {@code "scalar"}, or {@code "vector"}, whose width is this JVM's (see
     * {@link VectorKernels#SPECIES}).
     *
     * @throws IllegalArgumentException if the name is neither, or for {@code "vector"} when module
     *     {@code jdk.incubator.vector} is not in the boot layer or {@value #BITS_PROPERTY} is bad
     */
    public static Kernels named(String name) {
        return switch (name) {
            case "scalar" -> ScalarKernels.INSTANCE;
            case "vector" -> vector(System.getProperty(BITS_PROPERTY), "kernels \"vector\"");
            default -> throw new IllegalArgumentException("kernels must be \"scalar\" or \"vector\", got \"" + name + "\"");
        };
    }

    /** Whether module {@code jdk.incubator.vector} is in the boot layer, so the vector kernels can run. */
    public static boolean vectorModulePresent() {
        return ModuleLayer.boot().findModule(VECTOR_MODULE).isPresent();
    }

    private static Kernels selectFromProperties() {
        String kernel = System.getProperty(KERNEL_PROPERTY);
        String bits = System.getProperty(BITS_PROPERTY);
        if (kernel == null) {
            String reason = whyNotVector();
            if (reason == null) {
                return vector(bits, KERNEL_PROPERTY + " unset");
            }
            LOG.log(System.Logger.Level.WARNING, "qkv uses its scalar kernels, slower: " + reason);
            return ScalarKernels.INSTANCE;
        }
        return switch (kernel.trim().toLowerCase(Locale.ROOT)) {
            case "scalar" -> ScalarKernels.INSTANCE;
            case "vector" -> vector(bits, KERNEL_PROPERTY + "=" + kernel);
            default -> throw new IllegalArgumentException(
                    KERNEL_PROPERTY + " must be \"scalar\" or \"vector\", got \"" + kernel + "\"");
        };
    }

    /**
     * The vector kernels, after checking that the module is there and that {@code bits}, the value of
     * {@value #BITS_PROPERTY} (null: the preferred width), is one {@link VectorKernels#SPECIES} can take; {@code
     * why} names the request. The width is read once per JVM, when {@link VectorKernels} is loaded.
     */
    private static Kernels vector(String bits, String why) {
        if (!vectorModulePresent()) {
            throw new IllegalArgumentException(why + " needs module " + VECTOR_MODULE
                    + ", which is not in the boot layer: pass '--add-modules " + VECTOR_MODULE + "' to java");
        }
        if (bits != null) {
            int width = switch (bits.trim()) {
                case "128" -> 128;
                case "256" -> 256;
                case "512" -> 512;
                default -> throw new IllegalArgumentException(
                        BITS_PROPERTY + " must be 128, 256 or 512, got \"" + bits + "\"");
            };
            int preferred = Vectors.preferredBits();
            if (width > preferred && Vectors.WIDER_WARNED.compareAndSet(false, true)) {
                LOG.log(System.Logger.Level.WARNING, BITS_PROPERTY + "=" + bits + " is wider than this CPU's "
                        + preferred + "-bit vectors: the Vector API emulates it in Java code, far slower than scalar");
            }
        }
        return Vectors.KERNELS;
    }

    /** Why the vector kernels should not be the default here, or null if they should. */
    private static String whyNotVector() {
        if (!vectorModulePresent()) {
            return "module " + VECTOR_MODULE + " is not in the boot layer; pass '--add-modules " + VECTOR_MODULE
                    + "' to java for the vector kernels";
        }
        String vm = System.getProperty("java.vm.name", "");
        if (!vm.contains("HotSpot") && !vm.contains("OpenJDK")) {
            return "the JVM is " + vm + ", not HotSpot, whose C2 compiler the Vector API needs";
        }
        String c2 = whyNoC2();
        if (c2 != null) {
            return c2 + "; the Vector API is only fast once C2 compiles it";
        }
        int preferred = Vectors.preferredBits();
        if (preferred < 128) {
            return "this CPU's vectors have only " + preferred + " bits";
        }
        return null;
    }

    /** Why C2 will not compile this JVM's hot code, or null if it will (or if the VM cannot say). */
    private static String whyNoC2() {
        if (System.getProperty("java.vm.info", "").contains("interpreted mode")) {
            return "the JVM runs interpreted (-Xint)";
        }
        try {
            HotSpotDiagnosticMXBean flags = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
            if ("false".equals(flags.getVMOption("UseCompiler").getValue())) {
                return "the JIT is off (-XX:-UseCompiler)";
            }
            if ("true".equals(flags.getVMOption("TieredCompilation").getValue())
                    && Integer.parseInt(flags.getVMOption("TieredStopAtLevel").getValue()) < 4) {
                return "tiered compilation stops before C2 (-XX:TieredStopAtLevel="
                        + flags.getVMOption("TieredStopAtLevel").getValue() + ")";
            }
        } catch (LinkageError | RuntimeException e) {
            // No jdk.management (a trimmed runtime image) or no such flag: nothing says C2 is off.
        }
        return null;
    }

    /** Computed on first use of {@link #defaults()}: the selection, or why the properties are bad. */
    private static final class Selected {
        static final Kernels KERNELS;
        static final IllegalArgumentException ERROR;

        static {
            Kernels kernels = null;
            IllegalArgumentException error = null;
            try {
                kernels = selectFromProperties();
            } catch (IllegalArgumentException e) {
                error = e;
            }
            KERNELS = kernels;
            ERROR = error;
        }
    }

    /** The only class here that names a vector class; loaded only once the module is known to be there. */
    private static final class Vectors {
        static final Kernels KERNELS = VectorKernels.INSTANCE;
        static final AtomicBoolean WIDER_WARNED = new AtomicBoolean();

        static int preferredBits() {
            return VectorKernels.preferredBits();
        }
    }
}
