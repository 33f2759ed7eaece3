package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

class MainTest {

    private static String errorOf(String... args) {
        StringWriter err = new StringWriter();
        int status = Main.run(args, new PrintWriter(new StringWriter()), new PrintWriter(err, true));
        assertEquals(Main.EXIT_BAD_INPUT, status, err.toString());
        return err.toString().strip();
    }

    @Test
    void anUnknownCommandIsCalledThatAndTheCommandsAreListed() {
        String commands = String.join(", ", new picocli.CommandLine(new Main()).getSubcommands().keySet());
        assertTrue(commands.startsWith("pool, ") && commands.endsWith(", help"), commands);
        assertEquals("qkv: unknown command 'pol'; the commands are " + commands + " (see 'qkv --help')", errorOf("pol"));
    }

    @Test
    void anUnknownOptionIsCalledThat() {
        assertEquals("bench: unknown option '--fast' (see 'qkv bench --help')", errorOf("bench", "--fast"));
    }

    @Test
    void anOutOfMemoryErrorIsOneLineAndStatus1() {
        StringWriter err = new StringWriter();
        int status = Main.outOfMemory("pool", new OutOfMemoryError("Java heap space"), new PrintWriter(err, true));
        assertEquals(Main.EXIT_FAILURE, status);
        String[] lines = err.toString().strip().split("\n");
        assertEquals(1, lines.length, err.toString());
        assertTrue(lines[0].startsWith("pool: out of memory (Java heap space); the JVM may use "), lines[0]);
        assertTrue(lines[0].endsWith(" GB; give the JVM more with JAVA_TOOL_OPTIONS=-Xmx<size>"), lines[0]);
    }
}
