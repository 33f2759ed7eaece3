package dev.qkv.algorithm;

import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntConsumer;

/**
 * Runs the tasks of one call on up to {@code threads} threads: the calling thread and {@code threads − 1}
 * helpers from an executor take task indexes in order from a shared counter until none is left.
 *
 * <p>The caller never waits for a helper to start: it takes tasks itself until none is left to take, and then
 * waits only for the tasks helpers took and have not finished. A helper that the executor runs late (its only
 * thread is the caller, or all its threads are busy) or never (it rejects the task) takes nothing and is not
 * waited for, so no executor can deadlock a call; at worst the caller does all the work.
 */
public final class Workers {

    /** Everything on the calling thread. */
    public static final Workers SERIAL = new Workers(1, null);

    /** Daemon threads shared by every Attention that was given a thread count but no executor. */
    private static final class Shared {
        static final ExecutorService POOL = Executors.newCachedThreadPool(Thread.ofPlatform().daemon()
                .name("qkv-worker-", 0).factory());
    }

    private final int threads;
    private final Executor executor;

    /** Up to {@code threads} threads: the caller and helpers from {@code executor} (a shared daemon pool if null). */
    public Workers(int threads, Executor executor) {
        this.threads = threads;
        this.executor = executor;
    }

    /** The most threads a call runs on, the caller's included. */
    public int threads() {
        return Math.max(1, threads);
    }

    /** Whether every task runs on the calling thread. */
    public boolean serial() {
        return threads <= 1;
    }

    /** Runs tasks {@code 0 … count−1}, started in that order, on as many threads as it has; returns when all are done. */
    public void forEach(int count, IntConsumer task) {
        int helpers = Math.min(threads, count) - 1;
        if (helpers <= 0) {
            for (int i = 0; i < count; i++) {
                task.accept(i);
            }
            return;
        }
        Call call = new Call(count, task);
        Executor pool = executor != null ? executor : Shared.POOL;
        try {
            for (int h = 0; h < helpers; h++) {
                pool.execute(call::work);
            }
        } catch (RejectedExecutionException refused) {
            // fewer helpers: the caller takes what they would have taken
        }
        call.work();
        call.awaitTaken();
        call.rethrow();
    }

    /** The tasks of one call: a counter to take them from, and how many of the taken ones are still running. */
    private static final class Call {
        private final int count;
        private final IntConsumer task;
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private int next;
        private int running;

        Call(int count, IntConsumer task) {
            this.count = count;
            this.task = task;
        }

        /** Takes and runs tasks until none is left; after a failure the rest are taken and skipped. */
        void work() {
            for (int i; (i = take()) < count; ) {
                try {
                    if (failure.get() == null) {
                        task.accept(i);
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                } finally {
                    done();
                }
            }
        }

        private synchronized int take() {
            if (next == count) {
                return count;
            }
            running++;
            return next++;
        }

        private synchronized void done() {
            if (--running == 0) {
                notifyAll();
            }
        }

        /**
         * Once the caller found no task left: waits until every taken task has finished. Uninterruptibly, since a
         * helper still running reads the caller's tensors and writes its results; the interrupt is kept.
         */
        synchronized void awaitTaken() {
            boolean interrupted = false;
            while (running > 0) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }

        void rethrow() {
            Throwable e = failure.get();
            if (e instanceof RuntimeException r) {
                throw r;
            }
            if (e instanceof Error err) {
                throw err;
            }
        }
    }
}
