package dev.qkv.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The roof of the memory-bound cases, measured in the same run: a sum of {@code megabytes} of off-heap floats with
 * four independent vector accumulators, on 1 or 2 threads, each thread summing its half. 64 MB is the size of K + V
 * at m = 65536, d = 128, 1024 MB that at m = 1,048,576: each one-query case is read against the roof of its own size,
 * because a machine can keep part of 64 MB read again and again in its caches (on the AVX-512 machine, a Zen 5, one
 * thread read 64 MB at 41–53 GB/s and 1 GB at 35–37 in the same run) and no part of 1 GB. Nothing but loads and adds: what one or two cores of this
 * machine stream at the moment, the number the fused pooling of one query is to be read against. Not qkv's code.
 */
@State(Scope.Thread)
public class StreamReadBenchmark extends QkvBenchmark {

    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    /** The sizes of the read, in MB: K + V at d = 128 for m = 65536 and m = 1,048,576. */
    @Param({"64", "1024"})
    int megabytes;

    @Param({"1", "2"})
    int threads;

    private Arena arena;
    private MemorySegment data;
    private long bytes;
    private ExecutorService helper;

    @Setup
    public void setUp() {
        arena = Arena.ofShared();
        bytes = (long) megabytes << 20;
        data = arena.allocate(bytes, 64);
        Inputs.fill(data, bytes / 4, 1, 1f);
        helper = Executors.newSingleThreadExecutor();
    }

    @TearDown
    public void tearDown() {
        helper.shutdownNow();
        arena.close();
    }

    @Benchmark
    public float read() throws InterruptedException, ExecutionException {
        if (threads == 1) {
            return sum(data, 0, bytes);
        }
        Future<Float> other = helper.submit(() -> sum(data, bytes / 2, bytes));
        return sum(data, 0, bytes / 2) + other.get();
    }

    private static float sum(MemorySegment segment, long from, long to) {
        long step = SPECIES.vectorByteSize();
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = FloatVector.zero(SPECIES);
        FloatVector a2 = FloatVector.zero(SPECIES);
        FloatVector a3 = FloatVector.zero(SPECIES);
        for (long o = from; o < to; o += 4 * step) {
            a0 = a0.add(FloatVector.fromMemorySegment(SPECIES, segment, o, ByteOrder.nativeOrder()));
            a1 = a1.add(FloatVector.fromMemorySegment(SPECIES, segment, o + step, ByteOrder.nativeOrder()));
            a2 = a2.add(FloatVector.fromMemorySegment(SPECIES, segment, o + 2 * step, ByteOrder.nativeOrder()));
            a3 = a3.add(FloatVector.fromMemorySegment(SPECIES, segment, o + 3 * step, ByteOrder.nativeOrder()));
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }
}
