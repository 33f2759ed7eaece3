package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
        assertEquals("qkv: unknown command 'pol'; the commands are pool, grad, heatmap, demo, bench, convert, help (see 'qkv --help')",
                errorOf("pol"));
    }

    @Test
    void anUnknownOptionIsCalledThat() {
        assertEquals("bench: unknown option '--fast' (see 'qkv bench --help')", errorOf("bench", "--fast"));
    }
}
