package dev.qkv.bench;

import dev.qkv.bench.JmhResults.Result;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.StringJoiner;
import java.util.TreeSet;
import java.util.function.ToDoubleFunction;

/**
 * Turns a JMH JSON result into the tables of BENCHMARKS.md and the PNG chart of the ratios, so neither is
 * typed by hand:
 *
 * <pre>
 *   java -cp target/benchmarks.jar dev.qkv.bench.BenchmarkReport result.json [torch.json] [chart.png [BENCHMARKS.md]]
 * </pre>
 *
 * Every leading argument ending in {@code .json} is a result file: JMH's first, then peers run right after it
 * in the same format ({@code jmh/torch/sdpa_bench.py}).
 * With a markdown file, the text between {@code <!-- report:begin -->} and {@code <!-- report:end -->} is
 * replaced; without one, the tables go to standard output. Families or points that did not run show "—".
 */
public final class BenchmarkReport {

    static final String BEGIN = "<!-- report:begin -->";
    static final String END = "<!-- report:end -->";

    /** Wall time, as JMH measures it: the thread table's. */
    private final JmhResults run;
    /** The one-thread tables': wall time, or CPU time per operation with {@code --cpu}. */
    private final JmhResults single;
    private final boolean cpu;
    private final List<RatioChart.Row> chartRows = new ArrayList<>();
    private final StringBuilder md = new StringBuilder();
    private final boolean vectorMeasured;

    private BenchmarkReport(JmhResults run, boolean cpu) {
        this.run = run;
        this.single = cpu ? run.cpu() : run;
        this.cpu = cpu;
        this.vectorMeasured = run.results().stream().anyMatch(r -> "vector".equals(r.params().get("kernel")));
    }

    public static void main(String[] args) throws IOException {
        List<Path> results = new ArrayList<>();
        int a = 0;
        boolean cpu = args.length > 0 && args[0].equals("--cpu");
        if (cpu) {
            a++;
        }
        while (a < args.length && args[a].endsWith(".json")) {
            results.add(Path.of(args[a++]));
        }
        if (results.isEmpty() || args.length - a > 2) {
            System.err.println("usage: BenchmarkReport [--cpu] result.json [peer.json ...] [chart.png [BENCHMARKS.md]]");
            System.exit(2);
        }
        BenchmarkReport report = new BenchmarkReport(JmhResults.read(results), cpu);
        String tables = report.tables();
        if (a < args.length) {
            report.chart(Path.of(args[a++]));
        }
        if (a < args.length) {
            Path file = Path.of(args[a]);
            String text = Files.readString(file);
            int begin = text.indexOf(BEGIN);
            int end = text.indexOf(END);
            if (begin < 0 || end < begin) {
                throw new IllegalArgumentException(file + " has no " + BEGIN + " … " + END + " region");
            }
            Files.writeString(file, text.substring(0, begin + BEGIN.length()) + "\n" + tables + text.substring(end));
        } else {
            System.out.print(tables);
        }
    }

    private String tables() {
        md.append("Measured with JMH ").append(run.jmhVersion()).append(" on JDK ").append(run.jdk()).append(" (")
                .append(run.vm()).append("): ").append(run.forks()).append(run.forks() == 1 ? " fork" : " forks")
                .append(", warm-up ").append(run.warmup()).append(", measurement ").append(run.measurement())
                .append(" per point; one thread except in the thread table. Times are JMH's mean ± its 99.9 % error")
                .append(cpu ? "; the one-thread tables give **CPU time** per operation (`-prof dev.qkv.bench.CpuTimeProfiler`, "
                        + "the process's CPU time over the iteration; PyTorch's: `time.process_time`), the thread table wall time"
                        : ", wall time")
                .append(". Ratios are of times: ")
                .append("vector ÷ scalar = t(scalar) / t(vector); qkv ÷ peer = t(peer) / t(qkv) with qkv's ")
                .append(vectorMeasured ? "vector kernels" : "**scalar** kernels (no vector result in this run)")
                .append("; above 1× qkv is faster.\n\n");
        dot();
        softmax();
        accumulate();
        poolOneQuery();
        poolManyQueries();
        threads();
        return md.toString();
    }

    private void dot() {
        md.append("### Dot product, `Kernels.dot` vs Lucene `VectorUtil.dotProduct`\n\n");
        header("d", "qkv scalar", "qkv vector", "Lucene", "vector ÷ scalar", "qkv ÷ Lucene");
        List<String> met = new ArrayList<>();
        List<String> missed = new ArrayList<>();
        for (String d : values("DotBenchmark", "d")) {
            Optional<Result> scalar = single.find("DotBenchmark", Map.of("d", d, "kernel", "scalar"));
            Optional<Result> vector = single.find("DotBenchmark", Map.of("d", d, "kernel", "vector"));
            Optional<Result> lucene = single.find("LuceneDotBenchmark", Map.of("d", d));
            Double speedup = ratio(scalar, vector);
            Double peer = ratio(lucene, vector.isPresent() ? vector : scalar);
            row(d, time(scalar), time(vector), time(lucene), times(speedup), times(peer));
            chartRows.add(new RatioChart.Row("dot d = " + d, speedup, peer));
            if (vector.isPresent() && peer != null) {
                (peer >= 1 ? met : missed).add("d = " + d + " (" + RatioChart.times(peer) + ")");
            }
        }
        md.append('\n');
        target("qkv's vector dot ≥ Lucene's at every d", met, missed);
    }

    private void softmax() {
        md.append("### Softmax, `max` + `expAndSum` + `scale` (plus an arraycopy restoring the scores)\n\n");
        header("m", "qkv scalar", "qkv vector", "scalar ns/score", "vector ns/score", "vector ÷ scalar");
        for (String m : values("SoftmaxBenchmark", "m")) {
            Optional<Result> scalar = single.find("SoftmaxBenchmark", Map.of("m", m, "kernel", "scalar"));
            Optional<Result> vector = single.find("SoftmaxBenchmark", Map.of("m", m, "kernel", "vector"));
            double count = Double.parseDouble(m);
            Double speedup = ratio(scalar, vector);
            row(m, time(scalar), time(vector), rate(scalar, r -> r.seconds() * 1e9 / count),
                    rate(vector, r -> r.seconds() * 1e9 / count), times(speedup));
            chartRows.add(new RatioChart.Row("softmax m = " + m, speedup, null));
        }
        md.append('\n');
    }

    private void accumulate() {
        md.append("### Accumulation, `Kernels.accumulate` (acc += Σ wᵢ·vᵢ); GB/s of V read\n\n");
        header("m", "dv", "qkv scalar", "qkv vector", "scalar GB/s", "vector GB/s", "vector ÷ scalar");
        for (String m : values("AccumulateBenchmark", "m")) {
            for (String dv : values("AccumulateBenchmark", "dv")) {
                Optional<Result> scalar = single.find("AccumulateBenchmark", Map.of("m", m, "dv", dv, "kernel", "scalar"));
                Optional<Result> vector = single.find("AccumulateBenchmark", Map.of("m", m, "dv", dv, "kernel", "vector"));
                double bytes = 4.0 * Double.parseDouble(m) * Double.parseDouble(dv);
                Double speedup = ratio(scalar, vector);
                row(m, dv, time(scalar), time(vector), rate(scalar, r -> bytes / r.seconds() / 1e9),
                        rate(vector, r -> bytes / r.seconds() / 1e9), times(speedup));
                chartRows.add(new RatioChart.Row("accumulate m = " + m + ", dv = " + dv, speedup, null));
            }
        }
        md.append('\n');
    }

    /** The faster of ONNX Runtime and PyTorch at a point, if either ran. */
    private static Optional<Result> faster(Optional<Result> onnx, Optional<Result> torch) {
        if (onnx.isEmpty() || torch.isEmpty()) {
            return onnx.isPresent() ? onnx : torch;
        }
        return onnx.get().seconds() <= torch.get().seconds() ? onnx : torch;
    }

    /**
     * GB/s of the plain read on {@code threads} threads that a case reading {@code bytes} is judged against: the
     * smallest read of this run of at least that size, else the largest (a case is never judged against a read its
     * size could not keep in cache). Runs made before the read had a size read 64 MB.
     */
    private static Optional<Double> roof(JmhResults results, String threads, double bytes) {
        return reads(results, threads).stream()
                .reduce((best, next) -> readBytes(best) >= bytes ? best : next)
                .map(BenchmarkReport::readRate);
    }

    private static Optional<Result> read(JmhResults results, String threads, long bytes) {
        return reads(results, threads).stream().filter(r -> readBytes(r) == bytes).findFirst();
    }

    /** The {@code StreamReadBenchmark} results of this run on {@code threads} threads, the smallest read first. */
    private static List<Result> reads(JmhResults results, String threads) {
        return results.results().stream()
                .filter(r -> r.benchmark().equals("StreamReadBenchmark") && threads.equals(r.params().get("threads")))
                .sorted(Comparator.comparingLong(BenchmarkReport::readBytes))
                .toList();
    }

    /** GB/s of a {@code StreamReadBenchmark} result. */
    private static double readRate(Result read) {
        return readBytes(read) / read.seconds() / 1e9;
    }

    /**
     * Bytes of a {@code StreamReadBenchmark} result, from its {@code megabytes} parameter; parsed here rather than by
     * that class, whose loading would load the Vector API the report runs without.
     */
    private static long readBytes(Result read) {
        return Long.parseLong(read.params().getOrDefault("megabytes", "64")) << 20;
    }

    private static String percent(double x) {
        return String.format(Locale.ROOT, "%.0f %%", 100 * x);
    }

    private void poolOneQuery() {
        md.append("### Fused pooling of one query (`Attention.pool`) vs ONNX Runtime MultiHeadAttention and PyTorch "
                + "`scaled_dot_product_attention`; GB/s of K + V read, 2·m·d·4 bytes, against the one-thread roof\n\n");
        header("m", "d", "qkv scalar", "qkv vector", "ONNX Runtime", "PyTorch", "vector GB/s", "of the roof",
                "vector ÷ scalar", "qkv ÷ ORT", "qkv ÷ PyTorch");
        List<String> cacheMet = new ArrayList<>();
        List<String> cacheMissed = new ArrayList<>();
        List<String> dramMet = new ArrayList<>();
        List<String> dramMissed = new ArrayList<>();
        for (String m : values("PoolOneQueryBenchmark", "m")) {
            for (String d : values("PoolOneQueryBenchmark", "d")) {
                Optional<Result> scalar = single.find("PoolOneQueryBenchmark", Map.of("m", m, "d", d, "kernel", "scalar"));
                Optional<Result> vector = single.find("PoolOneQueryBenchmark", Map.of("m", m, "d", d, "kernel", "vector"));
                Optional<Result> onnx = single.find("OnnxPoolOneQueryBenchmark", Map.of("m", m, "d", d));
                Optional<Result> torch = single.find("TorchPoolOneQueryBenchmark", Map.of("m", m, "d", d));
                double bytes = 2 * 4.0 * Double.parseDouble(m) * Double.parseDouble(d);
                Optional<Double> roof = roof(single, "1", bytes);
                ToDoubleFunction<Result> gbs = r -> bytes / r.seconds() / 1e9;
                Optional<Result> qkv = vector.isPresent() ? vector : scalar;
                Double speedup = ratio(scalar, vector);
                String ofRoof = vector.isPresent() && roof.isPresent()
                        ? percent(gbs.applyAsDouble(vector.get()) / roof.get()) : "—";
                row(m, d, time(scalar), time(vector), time(onnx), time(torch), rate(vector, gbs), ofRoof,
                        times(speedup), times(ratio(onnx, qkv)), times(ratio(torch, qkv)));
                chartRows.add(new RatioChart.Row("pool 1 query, m = " + m + ", d = " + d, speedup,
                        ratio(faster(onnx, torch), qkv)));
                String point = "m = " + m + ", d = " + d;
                if (m.equals("4096") && speedup != null) {
                    (speedup >= 8 ? cacheMet : cacheMissed).add(point + " (" + RatioChart.times(speedup) + ")");
                }
                if (!m.equals("4096") && vector.isPresent() && roof.isPresent()) {
                    double share = gbs.applyAsDouble(vector.get()) / roof.get();
                    (share >= 0.85 ? dramMet : dramMissed).add(point + " (" + percent(share) + ")");
                }
            }
        }
        md.append('\n');
        StringJoiner reads = new StringJoiner(", ");
        reads(single, "1").forEach(r -> reads.add((readBytes(r) >> 20) + " MB at " + format(readRate(r)) + " GB/s"));
        if (reads.length() > 0) {
            md.append("The roof: `StreamReadBenchmark` read ").append(reads).append(" on one thread in this run; ")
                    .append("each case is judged against the smallest read at least its size.\n\n");
        }
        target("in cache (m = 4096), vector ≥ 8× scalar", cacheMet, cacheMissed);
        target("from DRAM (m = 65536 and 1,048,576), vector ≥ 85 % of the one-thread roof of this run", dramMet,
                dramMissed);
    }

    private void poolManyQueries() {
        md.append("### Pooling of n = m queries (`Attention.pool`, one thread) vs ONNX Runtime MultiHeadAttention and "
                + "PyTorch `scaled_dot_product_attention`; GFLOP/s, 4·n·m·d flops\n\n");
        md.append("\"qkv vector, store\": the same queries against the same keys and values held in a float32 "
                + "`KeyValueStore` (`PoolManyQueriesStoreBenchmark`), whose pages stay packed for the tiles between "
                + "calls.\n\n");
        header("n = m", "d", "qkv scalar", "qkv vector", "qkv vector, store", "ONNX Runtime", "PyTorch",
                "vector GFLOP/s", "vector ÷ scalar", "qkv ÷ ORT", "qkv ÷ PyTorch", "qkv ÷ faster peer",
                "store ÷ faster peer");
        List<String> met = new ArrayList<>();
        List<String> missed = new ArrayList<>();
        List<String> storeMet = new ArrayList<>();
        List<String> storeMissed = new ArrayList<>();
        for (String n : values("PoolManyQueriesBenchmark", "n")) {
            for (String d : values("PoolManyQueriesBenchmark", "d")) {
                Map<String, String> point = Map.of("n", n, "d", d);
                Optional<Result> scalar = single.find("PoolManyQueriesBenchmark", Map.of("n", n, "d", d, "kernel", "scalar"));
                Optional<Result> vector = single.find("PoolManyQueriesBenchmark", Map.of("n", n, "d", d, "kernel", "vector"));
                Optional<Result> onnx = single.find("OnnxPoolManyQueriesBenchmark", point);
                Optional<Result> torch = single.find("TorchPoolManyQueriesBenchmark", point);
                Optional<Result> store = single.find("PoolManyQueriesStoreBenchmark", point);
                double size = Double.parseDouble(n);
                double flops = 4 * size * size * Double.parseDouble(d);
                ToDoubleFunction<Result> gflops = r -> flops / r.seconds() / 1e9;
                Optional<Result> qkv = vector.isPresent() ? vector : scalar;
                Double speedup = ratio(scalar, vector);
                Double peer = ratio(faster(onnx, torch), qkv);
                Double storePeer = ratio(faster(onnx, torch), store);
                row(n, d, time(scalar), time(vector), time(store), time(onnx), time(torch), rate(vector, gflops),
                        times(speedup), times(ratio(onnx, qkv)), times(ratio(torch, qkv)), times(peer),
                        times(storePeer));
                chartRows.add(new RatioChart.Row("pool n = m = " + n + ", d = " + d, speedup, peer));
                if (vector.isPresent() && peer != null) {
                    (peer >= 1 ? met : missed).add("n = m = " + n + ", d = " + d + " (" + RatioChart.times(peer) + ")");
                }
                if (storePeer != null) {
                    (storePeer >= 1 ? storeMet : storeMissed).add("n = m = " + n + ", d = " + d + " ("
                            + RatioChart.times(storePeer) + ")");
                }
            }
        }
        md.append('\n');
        target("many queries, vector ≥ the faster of ONNX Runtime and PyTorch on one core", met, missed);
        if (!storeMet.isEmpty() || !storeMissed.isEmpty()) {
            target("many queries from a prepared store, vector ≥ the faster peer on one core", storeMet, storeMissed);
        }
    }

    private void threads() {
        md.append("### Threads, vector kernels (`Attention.builder().threads(t)`), and the memory roof\n\n");
        md.append("One query: GB/s of K + V and its share of the roof measured on as many threads. Many queries: "
                + "GFLOP/s, and two threads' speed over the faster peer's on one thread (the one-thread tables).\n\n");
        header("case", "1 thread", "2 threads", "1 thread rate", "2 threads rate", "2 ÷ 1", "1 thread vs", "2 threads vs");
        List<String> readMet = new ArrayList<>();
        List<String> readMissed = new ArrayList<>();
        List<String> peerMet = new ArrayList<>();
        List<String> peerMissed = new ArrayList<>();
        for (String shape : values("PoolThreadsBenchmark", "shape", BenchmarkReport::byShape)) {
            String[] nmd = shape.split("x");
            double n = Double.parseDouble(nmd[0]);
            double m = Double.parseDouble(nmd[1]);
            double d = Double.parseDouble(nmd[2]);
            boolean one = n == 1;
            Optional<Double> roof1 = roof(run, "1", 2 * 4 * m * d);
            Optional<Double> roof2 = roof(run, "2", 2 * 4 * m * d);
            ToDoubleFunction<Result> rate = one ? r -> 2 * 4 * m * d / r.seconds() / 1e9 : r -> 4 * n * m * d / r.seconds() / 1e9;
            String unit = one ? " GB/s" : " GFLOP/s";
            Optional<Result> t1 = run.find("PoolThreadsBenchmark", Map.of("shape", shape, "threads", "1"));
            Optional<Result> t2 = run.find("PoolThreadsBenchmark", Map.of("shape", shape, "threads", "2"));
            String label = (one ? "1 query, m = " : "n = m = ") + nmd[1] + ", d = " + nmd[2];
            String vs1 = "—";
            String vs2 = "—";
            if (one) {
                if (t1.isPresent() && roof1.isPresent()) {
                    double share = rate.applyAsDouble(t1.get()) / roof1.get();
                    vs1 = percent(share) + " of roof";
                    check(100 * share, 85, label + ", 1 thread", " %", readMet, readMissed);
                }
                if (t2.isPresent() && roof2.isPresent()) {
                    double share = rate.applyAsDouble(t2.get()) / roof2.get();
                    vs2 = percent(share) + " of roof";
                    check(100 * share, 85, label + ", 2 threads", " %", readMet, readMissed);
                }
            } else {
                Map<String, String> point = Map.of("n", nmd[0], "d", nmd[2]);
                Optional<Result> peer = faster(run.find("OnnxPoolManyQueriesBenchmark", point),
                        run.find("TorchPoolManyQueriesBenchmark", point));
                if (peer.isPresent()) {
                    Double r1 = ratio(peer, t1);
                    Double r2 = ratio(peer, t2);
                    vs1 = times(r1) + " peer";
                    vs2 = times(r2) + " peer";
                    if (r2 != null) {
                        check(r2, 1.85, label, "×", peerMet, peerMissed);
                    }
                }
            }
            row(label, time(t1), time(t2), rate(t1, rate) + unit, rate(t2, rate) + unit, times(ratio(t1, t2)), vs1, vs2);
        }
        long[] sizes = run.results().stream().filter(r -> r.benchmark().equals("StreamReadBenchmark"))
                .mapToLong(BenchmarkReport::readBytes).distinct().sorted().toArray();
        for (long size : sizes) {
            Optional<Result> s1 = read(run, "1", size);
            Optional<Result> s2 = read(run, "2", size);
            row("roof: sum of " + (size >> 20) + " MB (no pooling)", time(s1), time(s2), rate(s1, BenchmarkReport::readRate) + " GB/s",
                    rate(s2, BenchmarkReport::readRate) + " GB/s", times(ratio(s1, s2)), "100 %", "100 %");
        }
        md.append('\n');
        target("one query from DRAM at ≥ 85 % of the roof on as many threads", readMet, readMissed);
        target("many queries on 2 threads ≥ 1.85× the faster peer on one", peerMet, peerMissed);
    }

    /** Shapes n x m x d: one query first, then by n, m, d. */
    private static int byShape(String a, String b) {
        long[] x = Arrays.stream(a.split("x")).mapToLong(Long::parseLong).toArray();
        long[] y = Arrays.stream(b.split("x")).mapToLong(Long::parseLong).toArray();
        return Arrays.compare(x, y);
    }

    private static void check(double value, double goal, String point, String unit, List<String> met,
            List<String> missed) {
        (value >= goal ? met : missed).add(point + " (" + format(value) + unit + ")");
    }

    private void chart(Path png) throws IOException {
        String kernels = vectorMeasured ? "qkv vector" : "qkv scalar (no vector result)";
        RatioChart.write(png, "qkv: speed ratios (log scale; above 1× qkv is faster)",
                "JMH " + run.jmhVersion() + ", JDK " + run.jdk() + ", " + run.forks() + " fork(s), warm-up "
                        + run.warmup() + ", measurement " + run.measurement() + ", one thread",
                "vector ÷ scalar", kernels + " ÷ peer (Lucene for dot; for pooling the faster of ONNX Runtime and PyTorch)",
                chartRows);
    }

    private void target(String what, List<String> met, List<String> missed) {
        md.append("**Target**: ").append(what).append(": ");
        if (met.isEmpty() && missed.isEmpty()) {
            md.append("not measured (no vector result in this run).\n\n");
            return;
        }
        md.append(missed.isEmpty() ? "met at every point measured" : "met at " + (met.isEmpty() ? "none" : String.join(", ", met))
                + "; **missed** at " + String.join(", ", missed)).append(".\n\n");
    }

    private TreeSet<String> values(String benchmark, String param) {
        return values(benchmark, param, (a, b) -> Double.compare(Double.parseDouble(a), Double.parseDouble(b)));
    }

    private TreeSet<String> values(String benchmark, String param, Comparator<String> order) {
        TreeSet<String> values = new TreeSet<>(order);
        run.results().stream().filter(r -> r.benchmark().equals(benchmark))
                .map(r -> r.params().get(param)).forEach(values::add);
        return values;
    }

    private void header(String... columns) {
        row(columns);
        StringJoiner rule = new StringJoiner(" | ", "| ", " |\n");
        for (int i = 0; i < columns.length; i++) {
            rule.add(i == 0 ? "---" : "---:");
        }
        md.append(rule);
    }

    private void row(String... cells) {
        StringJoiner row = new StringJoiner(" | ", "| ", " |\n");
        for (String cell : cells) {
            row.add(cell);
        }
        md.append(row);
    }

    /** t(slow) / t(fast), or null if either is missing. */
    private static Double ratio(Optional<Result> slow, Optional<Result> fast) {
        return slow.isPresent() && fast.isPresent() ? slow.get().seconds() / fast.get().seconds() : null;
    }

    private static String times(Double ratio) {
        return ratio == null ? "—" : RatioChart.times(ratio);
    }

    private static String rate(Optional<Result> r, ToDoubleFunction<Result> f) {
        return r.map(x -> format(f.applyAsDouble(x))).orElse("—");
    }

    private static String time(Optional<Result> r) {
        if (r.isEmpty()) {
            return "—";
        }
        double t = r.get().seconds();
        double e = r.get().error();
        String[] units = {"s", "ms", "µs", "ns"};
        double scale = 1;
        int u = 0;
        while (u < units.length - 1 && t * scale < 1) {
            scale *= 1000;
            u++;
        }
        return format(t * scale) + (Double.isNaN(e) ? "" : " ± " + format(e * scale)) + " " + units[u];
    }

    /** Three significant digits, no exponent. */
    private static String format(double x) {
        double a = Math.abs(x);
        return String.format(Locale.ROOT, a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.3f", x);
    }
}
