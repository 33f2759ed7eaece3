package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.Test;

/**
 * The warm-up of {@code qkv bench} ends only once the JIT is quiet and the op has stopped getting faster, on a
 * simulated clock and JIT: each call of the op advances the clock by the op's current cost.
 */
class OpTimerTest {

    private static final long WINDOW = OpTimer.WINDOW_NANOS;

    /** A clock the op advances, and a JIT that compiles (its total time grows) until a given window. */
    private static final class Simulation {
        long now;
        long calls;
        long nanosPerCall;
        long compilingUntilWindow;
        long compileRunningUntilWindow;

        long window() {
            return now / WINDOW;
        }

        LongSupplier clock() {
            return () -> now;
        }

        LongSupplier compiledMillis() {
            return () -> Math.min(window(), compilingUntilWindow);
        }

        BooleanSupplier compiling() {
            return () -> window() < compileRunningUntilWindow;
        }

        Runnable op() {
            return () -> {
                now += nanosPerCall;
                calls++;
            };
        }
    }

    @Test
    void aFlatTimeWhileTheJitCompilesDoesNotEndTheWarmUp() {
        Simulation s = new Simulation();
        s.nanosPerCall = 1_000_000;  // the same slow time throughout, as an op waiting for a queued C2 compile
        s.compilingUntilWindow = 40;
        OpTimer.Outcome outcome = new OpTimer(s.clock(), s.compiledMillis(), s.compiling()).warmUp(s.op(), Long.MAX_VALUE);
        assertTrue(outcome.settled());
        assertTrue(s.window() >= 40 + OpTimer.QUIET_WINDOWS, "ended at window " + s.window());
    }

    @Test
    void aLongCompileInProgressDoesNotEndTheWarmUp() {
        Simulation s = new Simulation();
        s.nanosPerCall = 1_000_000;
        s.compileRunningUntilWindow = 30;  // one compile, running or queued, whose time is counted only at its end
        OpTimer.Outcome outcome = new OpTimer(s.clock(), s.compiledMillis(), s.compiling()).warmUp(s.op(), Long.MAX_VALUE);
        assertTrue(outcome.settled());
        // The first quiet window is the one that ends at window 30, when the compile is over.
        assertTrue(s.window() >= 30 + OpTimer.QUIET_WINDOWS - 1, "ended at window " + s.window());
    }

    @Test
    void aQuietJitAndAFlatTimeEndTheWarmUpAfterFiveWindows() {
        Simulation s = new Simulation();
        s.nanosPerCall = 1_000_000;
        OpTimer.Outcome outcome = new OpTimer(s.clock(), s.compiledMillis(), s.compiling()).warmUp(s.op(), Long.MAX_VALUE);
        assertTrue(outcome.settled());
        assertEquals(1 + OpTimer.QUIET_WINDOWS, s.window());
        assertEquals(1_000_000, outcome.bestNanosPerCall());
    }

    @Test
    void aFasterWindowStartsTheCountAgainAndTheBestIsReturned() {
        Simulation s = new Simulation();
        s.nanosPerCall = 1_000_000;
        Runnable slow = s.op();
        Runnable speedsUp = () -> {
            slow.run();
            if (s.window() == 3) {
                s.nanosPerCall = 10_000;  // compiled code, with no trace in the JIT's clock
            }
        };
        OpTimer.Outcome outcome = new OpTimer(s.clock(), s.compiledMillis(), s.compiling()).warmUp(speedsUp, Long.MAX_VALUE);
        assertTrue(outcome.settled());
        assertEquals(10_000, outcome.bestNanosPerCall());
        assertEquals(10_000, outcome.lastNanosPerCall());
        assertTrue(s.window() >= 4 + OpTimer.QUIET_WINDOWS, "ended at window " + s.window());
    }

    @Test
    void aJitThatNeverSettlesEndsAtTheLimitUnsettled() {
        Simulation s = new Simulation();
        s.nanosPerCall = 1_000_000;
        s.compilingUntilWindow = Long.MAX_VALUE;
        long limit = 100 * WINDOW;
        OpTimer.Outcome outcome = new OpTimer(s.clock(), s.compiledMillis(), s.compiling()).warmUp(s.op(), limit);
        assertFalse(outcome.settled());
        assertEquals(1_000_000, outcome.lastNanosPerCall());
        assertTrue(s.now > limit && s.now <= limit + WINDOW, "stopped at " + s.now);
    }
}
