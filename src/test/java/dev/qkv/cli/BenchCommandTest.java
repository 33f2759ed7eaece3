package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.TestKernels;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class BenchCommandTest {

    private static final Pattern LINE = Pattern.compile("\\{\"op\":\"(\\w+)\",\"kernel\":\"(\\w+)\",\"n\":1,\"m\":64,"
            + "\"d\":8,\"ns_per_op\":([0-9.]+),\"gbps\":([0-9.]+),\"gflops\":([0-9.]+)}");

    @Test
    void jsonHasOneLinePerOpAndKernel() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int status = Main.run(new String[] {"bench", "--m", "64", "--d", "8", "--seconds", "0.05", "--json"},
                new PrintWriter(out), new PrintWriter(err));
        assertEquals(0, status, err.toString());
        List<String> lines = out.toString().lines().toList();
        Set<String> seen = new HashSet<>();
        for (String line : lines) {
            Matcher m = LINE.matcher(line);
            assertTrue(m.matches(), "not a result line: " + line);
            assertTrue(Double.parseDouble(m.group(3)) > 0, line);
            assertTrue(Double.parseDouble(m.group(4)) > 0, line);
            assertTrue(Double.parseDouble(m.group(5)) > 0, line);
            seen.add(m.group(1) + "/" + m.group(2));
        }
        Set<String> expected = new HashSet<>();
        for (String kernel : TestKernels.names()) {
            for (String op : List.of("score", "softmax", "accumulate", "pool")) {
                expected.add(op + "/" + kernel);
            }
        }
        assertEquals(expected, seen);
        assertEquals(expected.size(), lines.size());
        assertTrue(err.toString().contains("\r"), "a progress line on stderr");
    }

    @Test
    void aBadSizeIsOneLineAndStatus2() {
        StringWriter err = new StringWriter();
        int status = Main.run(new String[] {"bench", "--m", "0"}, new PrintWriter(new StringWriter()),
                new PrintWriter(err));
        assertEquals(Main.EXIT_BAD_INPUT, status);
        assertEquals("bench: --n, --m and --d must be at least 1, got 1, 0, 128", err.toString().strip());
    }

    @Test
    void anUnknownKernelIsRefused() {
        StringWriter err = new StringWriter();
        int status = Main.run(new String[] {"bench", "--kernel", "gpu"}, new PrintWriter(new StringWriter()),
                new PrintWriter(err));
        assertEquals(Main.EXIT_BAD_INPUT, status);
        assertTrue(err.toString().contains("gpu"), err.toString());
    }
}
