package dev.qkv.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The results of one JMH run, read from its JSON file ({@code -rf json -rff result.json}), with every score
 * converted to seconds per operation, plus those of peers measured right after it in the same format (the
 * PyTorch script {@code jmh/torch/sdpa_bench.py} writes one). The run's description (JMH, JDK, forks) is
 * the first file's.
 */
record JmhResults(List<Result> results, String jmhVersion, String jdk, String vm, int forks, String warmup,
        String measurement) {

    /**
     * One benchmark at one point of its parameters: the simple class name, the parameters, seconds/op of wall
     * time and JMH's error, and of CPU time if {@link CpuTimeProfiler} measured it (else NaN).
     */
    record Result(String benchmark, Map<String, String> params, double seconds, double error, double cpuSeconds,
            double cpuError) {}

    /**
     * The same run with CPU time per operation in place of wall time, for the results that have it; the others
     * are left out, so wall and CPU times are never compared.
     */
    JmhResults cpu() {
        List<Result> cpu = results.stream().filter(r -> !Double.isNaN(r.cpuSeconds()))
                .map(r -> new Result(r.benchmark(), r.params(), r.cpuSeconds(), r.cpuError(), r.cpuSeconds(), r.cpuError()))
                .toList();
        return new JmhResults(cpu, jmhVersion, jdk, vm, forks, warmup, measurement);
    }

    /** The results of every file, in order; the description of the run is the first file's. */
    static JmhResults read(List<Path> files) throws IOException {
        List<Result> results = new ArrayList<>();
        JmhResults first = null;
        for (Path file : files) {
            JmhResults one = read(file);
            results.addAll(one.results());
            first = first == null ? one : first;
        }
        if (first == null) {
            throw new IllegalArgumentException("no result file given");
        }
        return new JmhResults(results, first.jmhVersion(), first.jdk(), first.vm(), first.forks(), first.warmup(),
                first.measurement());
    }

    @SuppressWarnings("unchecked")
    static JmhResults read(Path json) throws IOException {
        List<Object> runs = (List<Object>) Json.parse(Files.readString(json));
        if (runs.isEmpty()) {
            throw new IllegalArgumentException(json + " holds no result");
        }
        List<Result> results = new ArrayList<>();
        for (Object o : runs) {
            Map<String, Object> run = (Map<String, Object>) o;
            String benchmark = (String) run.get("benchmark");
            String[] parts = benchmark.split("\\.");
            Map<String, String> params = new LinkedHashMap<>();
            if (run.get("params") instanceof Map<?, ?> p) {
                p.forEach((k, v) -> params.put((String) k, (String) v));
            }
            Map<String, Object> metric = (Map<String, Object>) run.get("primaryMetric");
            String unit = (String) metric.get("scoreUnit");
            if (!"avgt".equals(run.get("mode"))) {
                throw new IllegalArgumentException(benchmark + ": mode " + run.get("mode")
                        + ", this report reads average time (the benchmarks' mode)");
            }
            double perSecond = secondsPer(unit);
            double error = metric.get("scoreError") instanceof Double e ? e : Double.NaN;
            double cpu = Double.NaN;
            double cpuError = Double.NaN;
            if (run.get("secondaryMetrics") instanceof Map<?, ?> secondary
                    && secondary.get("·cpu") instanceof Map<?, ?> c) {
                double cpuPerSecond = secondsPer((String) c.get("scoreUnit"));
                cpu = (Double) c.get("score") * cpuPerSecond;
                cpuError = (c.get("scoreError") instanceof Double e ? e : Double.NaN) * cpuPerSecond;
            }
            results.add(new Result(parts[parts.length - 2], params, (Double) metric.get("score") * perSecond,
                    error * perSecond, cpu, cpuError));
        }
        Map<String, Object> first = (Map<String, Object>) runs.getFirst();
        return new JmhResults(results, (String) first.get("jmhVersion"), (String) first.get("jdkVersion"),
                first.get("vmName") + " " + first.get("vmVersion"), ((Double) first.get("forks")).intValue(),
                iterations(first, "warmup"), iterations(first, "measurement"));
    }

    /** The result of {@code benchmark} whose parameters include all of {@code params}, if it ran. */
    Optional<Result> find(String benchmark, Map<String, String> params) {
        return results.stream()
                .filter(r -> r.benchmark().equals(benchmark))
                .filter(r -> params.entrySet().stream().allMatch(e -> e.getValue().equals(r.params().get(e.getKey()))))
                .findFirst();
    }

    /** Whether any result of {@code benchmark} is there. */
    boolean has(String benchmark) {
        return results.stream().anyMatch(r -> r.benchmark().equals(benchmark));
    }

    private static String iterations(Map<String, Object> run, String phase) {
        return ((Double) run.get(phase + "Iterations")).intValue() + " × " + run.get(phase + "Time");
    }

    private static double secondsPer(String unit) {
        return switch (unit) {
            case "s/op" -> 1;
            case "ms/op" -> 1e-3;
            case "us/op" -> 1e-6;
            case "ns/op" -> 1e-9;
            default -> throw new IllegalArgumentException("unit " + unit + ": this report reads time per operation");
        };
    }
}
