package dev.qkv;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.LifecycleContext;
import net.jqwik.api.lifecycle.SkipExecutionHook;
import org.junit.jupiter.api.condition.EnabledIf;

/**
 * A test class or method of the vector kernels alone: skipped (and reported as skipped) in the surefire run
 * without module {@code jdk.incubator.vector}, where those classes cannot even load. Works for JUnit Jupiter
 * tests ({@link EnabledIf}) and for jqwik properties (a {@link SkipExecutionHook}).
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@EnabledIf(value = "dev.qkv.TestKernels#vectorModulePresent",
        disabledReason = "needs module jdk.incubator.vector, absent in this run")
@AddLifecycleHook(NeedsVectorModule.Skip.class)
public @interface NeedsVectorModule {

    /** jqwik's side: skips the container or property when the module is absent. */
    final class Skip implements SkipExecutionHook {
        @Override
        public SkipResult shouldBeSkipped(LifecycleContext context) {
            return TestKernels.vectorModulePresent() ? SkipResult.doNotSkip()
                    : SkipResult.skip("needs module jdk.incubator.vector, absent in this run");
        }
    }
}
