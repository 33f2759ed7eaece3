package dev.qkv.cli;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import javax.management.JMException;
import javax.management.ObjectName;

/**
 * How {@code qkv bench} times an op: a warm-up at full size, then batches of calls, both through one loop
 * ({@link #batch}), so the measured loop is the code the warm-up compiled, not a new one for C2 to compile (or an
 * interpreted one calling into compiled kernels) while the clock runs.
 *
 * <p>The warm-up runs the op in windows of about 20 ms until the JIT has been quiet for {@value #QUIET_WINDOWS}
 * windows in a row — no compile finished during the window, none running or queued at its end — and none of those
 * windows ran 2% faster than the best before it.
 *
 * <p>A time per call that merely stops dropping is not enough: on a busy machine a C2 compile waits in its queue
 * or runs for hundreds of ms while the interpreted time stays flat, which is how the warm-up that stopped after five
 * flat windows (or a third of {@code --seconds}) reported kernels still running as Java fallback. Nor is the JIT's
 * total compilation time alone: it grows when a compile ends, so a long one in progress looks quiet (seen: softmax
 * at m = 4096 reported at 4.6 ms instead of ~3 µs). The queue comes from HotSpot's {@code Compiler.queue}
 * diagnostic command (what {@code jcmd PID Compiler.queue} prints); a JVM without it is judged by the total time.
 */
final class OpTimer {

    static final int QUIET_WINDOWS = 5;
    static final long WINDOW_NANOS = 20_000_000;

    /** How a warm-up ended: the best and the last window's time per call, and whether it settled in time. */
    record Outcome(double bestNanosPerCall, double lastNanosPerCall, boolean settled) {}

    private final LongSupplier clock;
    private final LongSupplier compiledMillis;
    private final BooleanSupplier compiling;

    /** A warm-up on this JVM's clock and its JIT's total compilation time and compile queue. */
    OpTimer() {
        this(System::nanoTime, compilationTime(ManagementFactory.getCompilationMXBean()), OpTimer::compiling);
    }

    /**
     * {@code clock} in ns, as {@link System#nanoTime}; {@code compiledMillis} grows as the JIT completes compiles;
     * {@code compiling} tells whether a compile is running or queued.
     */
    OpTimer(LongSupplier clock, LongSupplier compiledMillis, BooleanSupplier compiling) {
        this.clock = clock;
        this.compiledMillis = compiledMillis;
        this.compiling = compiling;
    }

    private static LongSupplier compilationTime(CompilationMXBean jit) {
        return jit != null && jit.isCompilationTimeMonitoringSupported() ? jit::getTotalCompilationTime : () -> 0;
    }

    /**
     * Whether HotSpot's JIT has a compile running or queued: a task line of {@code Compiler.queue} names its method
     * as {@code Class::method}, its headers never do. False where the command is missing (another JVM).
     */
    private static boolean compiling() {
        try {
            Object queue = ManagementFactory.getPlatformMBeanServer().invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"), "compilerQueue",
                    new Object[] {null}, new String[] {String[].class.getName()});
            return queue.toString().contains("::");
        } catch (JMException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Runs {@code body} until it settles or the clock passes {@code limit}, a value of the clock. A window is a batch
     * of calls sized from the one before to last about {@value #WINDOW_NANOS} ns; shorter ones only size the next.
     */
    Outcome warmUp(Runnable body, long limit) {
        double best = Double.MAX_VALUE;
        double last = Double.NaN;
        long compiled = compiledMillis.getAsLong();
        int quiet = 0;
        long calls = 1;
        while (quiet < QUIET_WINDOWS) {
            if (clock.getAsLong() - limit > 0) {
                return new Outcome(best, last, false);
            }
            long elapsed = Math.max(1, batch(body, calls));
            double perCall = (double) elapsed / calls;
            long next = (long) Math.ceil(WINDOW_NANOS / perCall);
            if (elapsed < WINDOW_NANOS / 2) {
                calls = Math.max(next, 2 * calls);
                continue;
            }
            calls = Math.max(1, next);
            last = perCall;
            long compiledNow = compiledMillis.getAsLong();
            boolean jitQuiet = compiledNow == compiled && !compiling.getAsBoolean();
            quiet = last < 0.98 * best || !jitQuiet ? 0 : quiet + 1;
            best = Math.min(best, last);
            compiled = compiledNow;
        }
        return new Outcome(best, last, true);
    }

    /**
     * The time per call of batches of {@code calls} calls, one after another until the clock passes {@code end} and
     * at least three have run, in the order run.
     */
    double[] measure(Runnable body, long calls, long end) {
        List<Double> batches = new ArrayList<>();
        do {
            batches.add((double) batch(body, calls) / calls);
        } while (clock.getAsLong() - end < 0 || batches.size() < 3);
        return batches.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** The one loop that runs an op, in the warm-up and in the measurement alike: ns for {@code calls} calls. */
    private long batch(Runnable body, long calls) {
        long start = clock.getAsLong();
        for (long i = 0; i < calls; i++) {
            body.run();
        }
        return clock.getAsLong() - start;
    }
}
