package dev.qkv.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.Attention;
import dev.qkv.Partial;
import dev.qkv.Scoring;
import dev.qkv.io.Npy;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The job on a real multi-process cluster on 127.0.0.1: a Spark standalone Master and two Workers, each its own JVM,
 * run from a SPARK_HOME assembled from the Maven-resolved jars (target/spark-classpath.txt); the Workers launch the
 * executors as JVMs of their own, and the driver is a fourth JVM started by {@code SparkSubmit} with
 * target/qkv-spark.jar, as {@code spark-submit} would. Runs after {@code package} (failsafe), which builds both.
 */
class StandaloneClusterIT {

    private static final String LOOPBACK = "127.0.0.1";
    private static final Duration START = Duration.ofSeconds(180);

    @TempDir
    Path dir;

    private final List<Process> started = new ArrayList<>();

    @AfterEach
    void stopCluster() throws InterruptedException {
        for (Process p : started.reversed()) {
            p.destroy(); // SIGTERM: a Worker's shutdown hook ends the executors it launched
        }
        for (Process p : started) {
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void aMasterAndTwoWorkersPoolTheShardsAsTheirPartialsMergedInOrder() throws Exception {
        Path sparkHome = sparkHome();
        int masterPort = freePort();
        int masterUi = freePort();
        start("master", sparkHome, "org.apache.spark.deploy.master.Master", "--host", LOOPBACK, "--port",
                String.valueOf(masterPort), "--webui-port", String.valueOf(masterUi));
        String master = "spark://" + LOOPBACK + ":" + masterPort;
        List<Path> workDirs = new ArrayList<>();
        for (int w = 0; w < 2; w++) {
            Path work = Files.createDirectory(dir.resolve("work-" + w));
            workDirs.add(work);
            start("worker-" + w, sparkHome, "org.apache.spark.deploy.worker.Worker", "--host", LOOPBACK, "--port",
                    String.valueOf(freePort()), "--webui-port", String.valueOf(freePort()), "--cores", "1",
                    "--memory", "1g", "--work-dir", work.toString(), master);
        }
        awaitWorkers(masterUi, 2);

        Store store = Store.random(31, 4, 32, 16, 10000);
        Path shards = Files.createDirectory(dir.resolve("store"));
        int[] sizes = {4000, 0, 3500, 2500};
        List<Shard> shardList = store.writeShards(shards, sizes);
        int[] lens = {0, 3999, 7000, 10000};
        Path q = dir.resolve("Q.npy");
        try (Arena arena = Arena.ofConfined()) {
            Npy.write(q, Tensor.of(arena, store.queries()));
        }
        Npy.writeInts(dir.resolve("L.npy"), lens, lens.length);
        Path out = dir.resolve("out.npy");
        Path lse = dir.resolve("lse.npy");

        Process driver = start("driver", sparkHome, "org.apache.spark.deploy.SparkSubmit", "--master", master,
                "--conf", "spark.driver.host=" + LOOPBACK, "--conf", "spark.driver.bindAddress=" + LOOPBACK,
                "--conf", "spark.ui.enabled=false", "--conf", "spark.executor.memory=512m",
                "--conf", "spark.cores.max=2", "--class", "dev.qkv.spark.Main",
                Path.of("target/qkv-spark.jar").toAbsolutePath().toString(),
                "pool", "--queries", q.toString(), "--store", shards.toString(), "--out", out.toString(),
                "--lse", lse.toString(), "--valid-lens", dir.resolve("L.npy").toString(), "--kernel", "scalar");
        assertTrue(driver.waitFor(5, TimeUnit.MINUTES), "the job did not finish in 5 minutes; " + tails());
        assertEquals(0, driver.exitValue(), "the job failed; " + tails());

        Pooled cluster;
        try (Arena arena = Arena.ofConfined()) {
            cluster = new Pooled(Npy.readTensor(out, arena).toArray(), Npy.readTensor(lse, arena).toFlatArray());
        }
        // With the scalar kernels the bits are fixed by the arithmetic: each shard's partial, merged in shard order.
        Store.assertBitwiseEqual(shardsMergedInOrder(store, shardList, lens), cluster);
        store.assertWithinBound(Scoring.scaledDot(), lens, sizes, cluster,
                store.single(Attention.builder().kernels("scalar").build(), lens));
        for (Path work : workDirs) {
            try (Stream<Path> apps = Files.list(work)) {
                assertTrue(apps.anyMatch(a -> a.getFileName().toString().startsWith("app-")),
                        work + " has no executor of the job: both Workers should have run one");
            }
        }
    }

    /** What the job computes, without Spark: each shard's partial under its local mask, merged in order. */
    private static Pooled shardsMergedInOrder(Store store, List<Shard> shards, int[] lens) throws IOException {
        Attention attention = Attention.builder().kernels("scalar").build();
        int n = store.queries().length;
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.of(arena, store.queries());
            Partial total = Partial.empty(n, store.dv());
            long offset = 0;
            for (Shard s : shards) {
                Tensor k = Npy.readTensor(Path.of(s.keys()), arena);
                Tensor v = Npy.readTensor(Path.of(s.values()), arena);
                total = total.merge(attention.partial(q, k, v, Tasks.mask(lens, offset, k.rows())));
                offset += k.rows();
            }
            float[] l = new float[n];
            for (int i = 0; i < n; i++) {
                l[i] = (float) total.logSumExp(i);
            }
            return new Pooled(total.output(arena).toArray(), l);
        }
    }

    /**
     * A SPARK_HOME whose jars/ links to every jar of Spark's Maven-resolved class path; in target/, not in the
     * temporary directory, whose clean-up would warn of every link.
     */
    private static Path sparkHome() throws IOException {
        Path home = Files.createDirectories(Path.of("target/standalone/spark-home").toAbsolutePath());
        Path jars = Files.createDirectories(home.resolve("jars"));
        Files.createDirectories(home.resolve("conf"));
        String classpath = Files.readString(Path.of("target/spark-classpath.txt")).strip();
        for (String jar : classpath.split(java.io.File.pathSeparator)) {
            Path target = Path.of(jar);
            Path link = jars.resolve(target.getFileName());
            if (!Files.exists(link)) {
                Files.createSymbolicLink(link, target);
            }
        }
        return home;
    }

    private Process start(String name, Path sparkHome, String mainClass, String... args) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(List.of(System.getProperty("qkv.jvm.flags").trim().split("\\s+")));
        command.add("-Xmx512m");
        command.add("-cp");
        command.add(sparkHome.resolve("jars") + "/*");
        command.add(mainClass);
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile())
                .redirectErrorStream(true).redirectOutput(dir.resolve(name + ".log").toFile());
        pb.environment().put("SPARK_HOME", sparkHome.toString());
        pb.environment().put("SPARK_SCALA_VERSION", "2.13");
        pb.environment().put("SPARK_LOCAL_IP", LOOPBACK);
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        started.add(p);
        return p;
    }

    /** Polls the Master's status page (on 127.0.0.1) until it lists this many alive Workers. */
    private void awaitWorkers(int masterUi, int workers) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://" + LOOPBACK + ":" + masterUi + "/json/"))
                .timeout(Duration.ofSeconds(5)).build();
        long deadline = System.nanoTime() + START.toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            for (Process p : started) {
                assertTrue(p.isAlive(), "a cluster JVM exited; " + tails());
            }
            try {
                last = http.send(request, HttpResponse.BodyHandlers.ofString()).body();
                if (last.replace(" ", "").contains("\"aliveworkers\":" + workers)) {
                    return;
                }
            } catch (IOException notYet) {
                last = notYet.toString();
            }
            Thread.sleep(1000);
        }
        throw new AssertionError("no " + workers + " alive Workers after " + START + ": " + last + "; " + tails());
    }

    private String tails() {
        StringBuilder b = new StringBuilder("log tails:");
        try (Stream<Path> logs = Files.list(dir)) {
            for (Path log : logs.filter(p -> p.toString().endsWith(".log")).sorted().toList()) {
                List<String> lines = Files.readAllLines(log);
                b.append("\n== ").append(log.getFileName()).append('\n')
                        .append(String.join("\n", lines.subList(Math.max(0, lines.size() - 15), lines.size())));
            }
        } catch (IOException e) {
            b.append(' ').append(e);
        }
        return b.toString();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK))) {
            return s.getLocalPort();
        }
    }
}
