package dev.qkv;

import dev.qkv.kernel.Pooling;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntConsumer;

/**
 * Runs the tasks of one call on up to {@code threads} threads: the calling thread and {@code threads − 1}
 * helpers from an executor take task indexes in order from a shared counter until none is left.
 */
final class Workers implements Pooling.Parallel {

    /** Daemon threads shared by every Attention that was given a thread count but no executor. */
    private static final class Shared {
        static final ExecutorService POOL = Executors.newCachedThreadPool(Thread.ofPlatform().daemon()
                .name("qkv-worker-", 0).factory());
    }

    private final int threads;
    private final Executor executor;

    Workers(int threads, Executor executor) {
        this.threads = threads;
        this.executor = executor;
    }

    @Override
    public void forEach(int count, IntConsumer task) {
        int helpers = Math.min(threads, count) - 1;
        if (helpers <= 0) {
            SERIAL.forEach(count, task);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Runnable work = () -> {
            for (int i; failure.get() == null && (i = next.getAndIncrement()) < count; ) {
                try {
                    task.accept(i);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }
        };
        CountDownLatch done = new CountDownLatch(helpers);
        Executor pool = executor != null ? executor : Shared.POOL;
        for (int h = 0; h < helpers; h++) {
            pool.execute(() -> {
                try {
                    work.run();
                } finally {
                    done.countDown();
                }
            });
        }
        work.run();
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for pooling threads", e);
        }
        Throwable e = failure.get();
        if (e instanceof RuntimeException r) {
            throw r;
        }
        if (e instanceof Error err) {
            throw err;
        }
    }
}
