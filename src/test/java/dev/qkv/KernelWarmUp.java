package dev.qkv;

import dev.qkv.kernel.KernelProvider;
import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.CodeModel;
import java.lang.classfile.MethodModel;
import java.lang.classfile.instruction.InvokeInstruction;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.security.CodeSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedMethod;
import jdk.jfr.consumer.RecordedObject;
import jdk.jfr.consumer.RecordingFile;
import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Runs the vector kernels hot before the suite, until C2 has compiled them, so the tests and properties check
 * the SIMD code users run, not the Vector API's Java fallback that the interpreter and C1 execute (it rounds
 * {@code exp} and lane sums differently, and is 35× slower).
 *
 * <p>Enabled by system property {@value #REPORT_PROPERTY}, the path of a report to write (the pom sets it for
 * the two surefire runs with the vector kernels). The proof comes from the JVM itself: a JFR recording of
 * {@code jdk.Compilation} and {@code jdk.CompilerInlining} events during the warm-up. The watched methods are
 * the library's methods that call a vector operation (read from their bytecode with {@link ClassFile}) and
 * that the warm-up made hot enough for a profiled C1 compile (tier 2 or 3); the warm-up repeats its rounds until
 * every one of them is compiled by C2 (tier 4), standalone or inlined into a tier-4 compile, and none of them
 * was deoptimized (jdk.Deoptimization) during the last batch of rounds, or {@link #BUDGET} is spent.
 * Methods C1 compiled at tier 1 are trivial ones (C2 inlines them into their callers) and are only listed.
 * The outcome goes into system property {@value #RESULT_PROPERTY}, which {@code KernelWarmUpTest} checks, and,
 * with every watched method's tier, into the report. A second recording through the suite counts the watched
 * methods' deoptimizations and recompilations, added to the report when the session closes.
 */
public final class KernelWarmUp implements LauncherSessionListener {

    /** System property: where to write the report; the warm-up runs only when it is set. */
    public static final String REPORT_PROPERTY = "qkv.test.warmUp";
    /** System property the warm-up sets: {@code ok ...} or {@code failed ...}. */
    public static final String RESULT_PROPERTY = "qkv.test.warmUp.result";

    /** The most the warm-up may take; on the loaded 2-core build machine it takes a few seconds. */
    private static final Duration BUDGET = Duration.ofSeconds(120);

    /** Keys of one shard of the flash-decoding split (dev.qkv's 8192), to warm up the merge of shards too. */
    private static final int SHARD = 8192;

    private Path report;
    private Recording suite;
    private Instant suiteStart;

    @Override
    public void launcherSessionOpened(LauncherSession session) {
        String path = System.getProperty(REPORT_PROPERTY);
        if (path == null) {
            return;
        }
        report = Path.of(path);
        try {
            List<String> lines = warmUp();
            Files.createDirectories(report.toAbsolutePath().getParent());
            Files.write(report, lines, StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            System.setProperty(RESULT_PROPERTY, "failed: " + e);
            return;
        }
        suite = new Recording();
        suite.enable("jdk.Compilation").withThreshold(Duration.ZERO);
        suite.enable("jdk.Deoptimization");
        suite.setToDisk(true);
        suiteStart = Instant.now();
        suite.start();
    }

    @Override
    public void launcherSessionClosed(LauncherSession session) {
        if (suite == null) {
            return;
        }
        try {
            Path jfr = Files.createTempFile("qkv-suite", ".jfr");
            suite.dump(jfr);
            suite.close();
            Map<String, int[]> counts = new TreeMap<>();  // method -> {deoptimizations, tier-4 compiles}
            Map<String, Set<String>> reasons = new TreeMap<>();  // method -> reason/action line bytecode
            for (RecordedEvent e : RecordingFile.readAllEvents(jfr)) {
                RecordedMethod m = e.getValue("method");
                if (m == null || !Watched.is(m.getType().getName(), m.getName() + m.getDescriptor())) {
                    continue;
                }
                String name = m.getType().getName() + "." + m.getName() + m.getDescriptor();
                if (e.getEventType().getName().equals("jdk.Deoptimization")) {
                    counts.computeIfAbsent(name, k -> new int[2])[0]++;
                    reasons.computeIfAbsent(name, k -> new TreeSet<>()).add(e.getString("reason") + "/"
                            + e.getString("action") + " line " + e.getInt("lineNumber") + " " + e.getString("instruction"));
                } else if (e.getInt("compileLevel") == 4 && e.getBoolean("succeded")) {
                    counts.computeIfAbsent(name, k -> new int[2])[1]++;
                }
            }
            Files.delete(jfr);
            List<String> lines = new ArrayList<>();
            lines.add("");
            lines.add("During the suite (" + Duration.between(suiteStart, Instant.now()).toSeconds()
                    + " s): deoptimizations and tier-4 (re)compilations of watched methods");
            counts.forEach((name, c) -> lines.add("  deopt " + c[0] + "  tier-4 compiles " + c[1] + "  " + name
                    + (reasons.containsKey(name) ? "  " + reasons.get(name) : "")));
            Files.write(report, lines, StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Warms up until every watched method is C2's; returns the report's lines. */
    private static List<String> warmUp() throws IOException {
        String kernels = KernelProvider.named("vector").toString();
        Instant start = Instant.now();
        Path jfr = Files.createTempFile("qkv-warm-up", ".jfr");
        Tiers tiers = null;
        boolean stable = false;  // no watched method deoptimized in the last batch of rounds
        int rounds = 0;
        long roundNanos = 0;
        long checkNanos = 0;
        try (Recording recording = new Recording()) {
            recording.enable("jdk.Compilation").withThreshold(Duration.ZERO);
            recording.enable("jdk.CompilerInlining");
            recording.enable("jdk.Deoptimization");
            recording.setToDisk(true);
            recording.start();
            Random random = new Random(42);
            do {
                long t0 = System.nanoTime();
                for (int i = 0; i < 5; i++, rounds++) {
                    round(random);
                }
                long t1 = System.nanoTime();
                recording.dump(jfr);
                int deoptsBefore = tiers == null ? -1 : tiers.deopts();
                tiers = Tiers.of(jfr);
                stable = tiers.deopts() == deoptsBefore;
                roundNanos += t1 - t0;
                checkNanos += System.nanoTime() - t1;
            } while (!(tiers.done() && stable) && Duration.between(start, Instant.now()).compareTo(BUDGET) < 0);
        } finally {
            Files.deleteIfExists(jfr);
        }
        double seconds = Duration.between(start, Instant.now()).toMillis() / 1000.0;
        String outcome = (tiers.done() && stable ? "ok" : "failed") + ": " + tiers.c2.size()
                + " watched methods C2-compiled, " + tiers.pending().size() + " not, " + tiers.deopts()
                + " deoptimizations of them, none in the last 5 rounds: " + stable + "; after " + rounds + " rounds, " + seconds + " s (" + roundNanos / 1_000_000 + " ms in rounds, " + checkNanos / 1_000_000
                + " ms reading JFR), " + kernels;
        System.setProperty(RESULT_PROPERTY, outcome);
        List<String> lines = new ArrayList<>();
        lines.add("qkv warm-up " + outcome);
        lines.add("Evidence: JFR jdk.Compilation and jdk.CompilerInlining events of this JVM, before the first test.");
        lines.add("Watched: methods of the library that call a vector operation (jdk.incubator.vector, not VectorSpecies).");
        Tiers last = tiers;
        last.c2.forEach((name, how) -> lines.add("  tier 4 (" + how + ")  " + name));
        last.pending().forEach(name -> lines.add("  NOT tier 4, tiers " + last.levels.get(name) + "  " + name));
        last.trivial().forEach(name -> lines.add("  tier 1 only (trivial)  " + name));
        Watched.all().stream().filter(name -> !last.levels.containsKey(name) && !last.c2.containsKey(name))
                .forEach(name -> lines.add("  not compiled in the warm-up (not hot)  " + name));
        return lines;
    }

    /**
     * Pools, weights, masks and partials under every scoring, on 1 and 2 threads, with the vector kernels, at
     * shapes drawn anew each round: every loop of the kernels runs with and without a tail, zero times and many,
     * so C2's profile-based traps (a loop predicate, an untaken branch) fire here and not in the middle of a
     * property that compares bits across calls.
     */
    private static void round(Random random) {
        Scoring[] scorings = {Scoring.dot(), Scoring.scaledDot(), Scoring.gaussian(2)};
        try (Arena arena = Arena.ofShared()) {
            for (int shape = 0; shape < 8; shape++) {
                // Shape 0: few queries over 2-3 shards; 1: one query with dv = 128 (the 8-row P·V) and any d, over
                // more than the 16 MB of K and V the row path reads as from memory (streamScores); the rest random.
                int n = shape == 0 ? 1 + random.nextInt(3) : shape == 1 ? 1 : 1 + random.nextInt(shape < 4 ? 4 : 40);
                int d = 1 + random.nextInt(shape == 0 ? 24 : shape == 1 ? 200 : 140);
                int dv = shape == 1 ? 128 : 1 + random.nextInt(shape == 0 ? 24 : 70);
                int m = shape == 0 ? 2 * SHARD + random.nextInt(SHARD)
                        : shape == 1 ? (4 << 20) / (d + dv) + 1 + random.nextInt(SHARD)
                        : random.nextInt(shape < 4 ? 40 : 700);
                Tensor queries = random(arena, random, n, d);
                Tensor keys = random(arena, random, m, d);
                Tensor values = random(arena, random, m, dv);
                Tensor out = Tensor.allocate(arena, n, dv);
                Tensor lse = Tensor.allocate(arena, n);
                int[] lengths = random.ints(n, 0, m + 1).toArray();
                for (Scoring scoring : scorings) {
                    Attention attention = Attention.builder().scoring(scoring).kernels("vector")
                            .threads(1 + random.nextInt(2)).build();
                    attention.pool(queries, keys, values, Mask.none(), out, lse);
                    attention.pool(queries, keys, values, Mask.causal(), out, lse);
                    attention.pool(queries, keys, values, Mask.validLengths(lengths), out, lse);
                    if ((long) n * m <= 16384) {
                        attention.weights(arena, queries, keys);
                    }
                    int h = m / 2;
                    attention.partial(queries, keys.rows(0, h), values.rows(0, h), Mask.none())
                            .merge(attention.partial(queries, keys.rows(h, m), values.rows(h, m), Mask.none()))
                            .output(out);
                }
            }
            for (ElementType type : new ElementType[] {ElementType.F16, ElementType.BF16}) {
                halves(arena, random, type, scorings);
            }
        }
    }

    /**
     * One query over half keys and values of {@code type}, more than the row path reads as from cache, so it
     * streams them: rows of whole vectors (a multiple of 16 floats, whole at every width), which the half kernels
     * take two at a time, or of any width, one at a time; then over their first keys, which it reads as from cache
     * (the widened blocks).
     */
    private static void halves(Arena arena, Random random, ElementType type, Scoring[] scorings) {
        int d = random.nextBoolean() ? 16 * (1 + random.nextInt(8)) : 1 + random.nextInt(140);
        int dv = random.nextBoolean() ? 16 * (1 + random.nextInt(8)) : 1 + random.nextInt(140);
        int m = (4 << 20) / (d + dv) + 1 + random.nextInt(SHARD);
        Tensor query = random(arena, random, 1, d);
        Tensor keys = random(arena, random, m, d).convertTo(arena, type);
        Tensor values = random(arena, random, m, dv).convertTo(arena, type);
        Tensor out = Tensor.allocate(arena, 1, dv);
        int[] length = {random.nextInt(m + 1)};
        for (Scoring scoring : scorings) {
            Attention attention = Attention.builder().scoring(scoring).kernels("vector")
                    .threads(1 + random.nextInt(2)).build();
            attention.pool(query, keys, values, Mask.none(), out);
            attention.pool(query, keys, values, Mask.validLengths(length), out);
            int cached = 1 + random.nextInt(700);
            attention.pool(query, keys.rows(0, cached), values.rows(0, cached), Mask.none(), out);
        }
    }

    private static Tensor random(Arena arena, Random random, int rows, int cols) {
        float[] values = new float[rows * cols];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return Tensor.of(arena, rows, cols, values);
    }

    /**
     * The methods to watch: those of the library's own classes (not the tests') that call a vector operation,
     * a method of {@code jdk.incubator.vector} other than {@code VectorSpecies}' (the SIMD code, where the
     * Java fallback would compute the results). Set-up code that only picks a species is not watched.
     */
    private static final class Watched {
        private static final Map<String, Set<String>> CACHE = new HashMap<>();
        /** Where the library's classes come from (target/classes, or its jar). */
        private static final CodeSource MAIN = Attention.class.getProtectionDomain().getCodeSource();

        /** Whether {@code method} (name and descriptor) of class {@code className} is watched. */
        static synchronized boolean is(String className, String method) {
            return className.startsWith("dev.qkv.")
                    && CACHE.computeIfAbsent(className, Watched::simdMethods).contains(method);
        }

        /** Every watched method of the classes seen so far, as class.nameDescriptor. */
        static synchronized Set<String> all() {
            Set<String> all = new TreeSet<>();
            CACHE.forEach((c, methods) -> methods.forEach(m -> all.add(c + "." + m)));
            return all;
        }

        private static Set<String> simdMethods(String className) {
            Class<?> c;
            try {
                c = Class.forName(className, false, KernelWarmUp.class.getClassLoader());
            } catch (ClassNotFoundException e) {
                return Set.of();  // a hidden class (a lambda's)
            }
            if (!c.getProtectionDomain().getCodeSource().equals(MAIN)) {
                return Set.of();  // a test class
            }
            byte[] bytes;
            try (InputStream in = c.getResourceAsStream(className.substring(className.lastIndexOf('.') + 1) + ".class")) {
                bytes = in.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Set<String> methods = new HashSet<>();
            for (MethodModel method : ClassFile.of().parse(bytes).methods()) {
                boolean simd = method.code().stream().flatMap(CodeModel::elementStream)
                        .filter(e -> e instanceof InvokeInstruction)
                        .map(e -> ((InvokeInstruction) e).owner().asInternalName())
                        .anyMatch(owner -> owner.startsWith("jdk/incubator/vector/")
                                && !owner.equals("jdk/incubator/vector/VectorSpecies"));
                if (simd) {
                    methods.add(method.methodName().stringValue() + method.methodType().stringValue());
                }
            }
            return methods;
        }
    }

    /** The tiers the watched methods reached, from one JFR file. */
    private record Tiers(Map<String, Set<Integer>> levels, Map<String, String> c2, int deopts) {

        static Tiers of(Path jfr) throws IOException {
            Map<String, Set<Integer>> levels = new TreeMap<>();
            Map<String, String> c2 = new TreeMap<>();
            Set<Long> tier4 = new HashSet<>();
            List<RecordedEvent> inlinings = new ArrayList<>();
            int deopts = 0;
            for (RecordedEvent e : RecordingFile.readAllEvents(jfr)) {
                if (e.getEventType().getName().equals("jdk.CompilerInlining")) {
                    inlinings.add(e);
                    continue;
                }
                if (e.getEventType().getName().equals("jdk.Deoptimization")) {
                    RecordedMethod m = e.getValue("method");
                    if (m != null && Watched.is(m.getType().getName(), m.getName() + m.getDescriptor())) {
                        deopts++;
                    }
                    continue;
                }
                if (!e.getBoolean("succeded")) {
                    continue;
                }
                int level = e.getInt("compileLevel");
                if (level == 4) {
                    tier4.add(e.getLong("compileId"));
                }
                RecordedMethod m = e.getValue("method");
                if (Watched.is(m.getType().getName(), m.getName() + m.getDescriptor())) {
                    String name = m.getType().getName() + "." + m.getName() + m.getDescriptor();
                    levels.computeIfAbsent(name, k -> new TreeSet<>()).add(level);
                    if (level == 4) {
                        c2.put(name, e.getBoolean("isOsr") ? "compiled, OSR" : "compiled");
                    }
                }
            }
            for (RecordedEvent e : inlinings) {
                RecordedObject callee = e.getValue("callee");
                String type = callee.getString("type").replace('/', '.');
                if (e.getBoolean("succeeded") && tier4.contains(e.getLong("compileId"))
                        && Watched.is(type, callee.getString("name") + callee.getString("descriptor"))) {
                    c2.putIfAbsent(type + "." + callee.getString("name") + callee.getString("descriptor"),
                            "inlined into a tier-4 compile");
                }
            }
            return new Tiers(levels, c2, deopts);
        }

        /** Methods C1 compiled with profiles (tiers 2, 3) that C2 has not compiled. */
        List<String> pending() {
            return levels.entrySet().stream()
                    .filter(e -> (e.getValue().contains(2) || e.getValue().contains(3)) && !c2.containsKey(e.getKey()))
                    .map(Map.Entry::getKey).toList();
        }

        /** Methods only ever compiled at tier 1 and not seen by C2. */
        List<String> trivial() {
            return levels.entrySet().stream()
                    .filter(e -> e.getValue().equals(Set.of(1)) && !c2.containsKey(e.getKey()))
                    .map(Map.Entry::getKey).toList();
        }

        boolean done() {
            return !c2.isEmpty() && pending().isEmpty();
        }
    }
}
