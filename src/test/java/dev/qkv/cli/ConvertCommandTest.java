package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.io.Npy;
import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code qkv convert}: float files to f16 ({@code <f2}) and bf16 ({@code <u2} bit patterns) and back. */
class ConvertCommandTest {

    @TempDir
    Path dir;

    private record Run(int status, String err) {}

    private static Run run(String... args) {
        StringWriter err = new StringWriter();
        int status = Main.run(args, new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
        return new Run(status, err.toString());
    }

    private Path write(String name, int[] shape, float[] values) throws IOException {
        Path file = dir.resolve(name);
        try (Arena arena = Arena.ofConfined()) {
            Npy.write(file, Tensor.of(arena, shape, values));
        }
        return file;
    }

    private static final float[] VALUES = {1 / 3f, -2.5f, 1e-7f, 65504f, Float.NaN, Float.NEGATIVE_INFINITY, 1e30f / 1e30f,
        0x1p-20f};

    @Test
    void toF16WritesF2RoundedToNearestEvenKeepingTheShape() throws IOException {
        Path in = write("in.npy", new int[] {2, 2, 1, 2}, VALUES);
        Path out = dir.resolve("out.npy");

        Run r = run("convert", "--to", "f16", in.toString(), out.toString());

        assertEquals(0, r.status(), r.err());
        assertEquals("<f2", Npy.readHeader(out).dtype());
        try (Arena arena = Arena.ofConfined()) {
            Tensor back = Npy.readTensor(out, arena);
            assertArrayEquals(new int[] {2, 2, 1, 2}, back.shape());
            float[] got = back.toFlatArray();
            for (int k = 0; k < VALUES.length; k++) {
                assertEquals(Float.floatToIntBits(ElementType.F16.round(VALUES[k])), Float.floatToIntBits(got[k]),
                        "element " + k);
            }
        }
    }

    @Test
    void toBf16WritesBitPatternsThatFromBf16ReadsBack() throws IOException {
        Path in = write("in.npy", new int[] {8}, VALUES);
        Path bf16 = dir.resolve("bf16.npy");
        Path f32 = dir.resolve("f32.npy");

        assertEquals(0, run("convert", "--to", "bf16", in.toString(), bf16.toString()).status());
        Run refused = run("convert", "--to", "f32", bf16.toString(), f32.toString());
        Run back = run("convert", "--from", "bf16", "--to", "f32", bf16.toString(), f32.toString());

        assertEquals("<u2", Npy.readHeader(bf16).dtype());
        assertEquals(2, refused.status());
        assertTrue(refused.err().contains("dtype '<u2' is not a float; if it holds bfloat16 bit patterns"),
                refused.err());
        assertEquals(0, back.status(), back.err());
        try (Arena arena = Arena.ofConfined()) {
            float[] got = Npy.readTensor(f32, arena).toFlatArray();
            for (int k = 0; k < VALUES.length; k++) {
                assertEquals(Float.floatToIntBits(ElementType.BF16.round(VALUES[k])), Float.floatToIntBits(got[k]),
                        "element " + k);
            }
        }
    }

    @Test
    void aFiniteValueTooLargeForF16IsRefusedAndNothingIsWritten() throws IOException {
        Path in = write("in.npy", new int[] {2, 3}, new float[] {0, 1, 2, 3, 65520, 5});
        Path out = dir.resolve("out.npy");

        Run r = run("convert", "--to", "f16", in.toString(), out.toString());

        assertEquals(Main.EXIT_BAD_INPUT, r.status());
        assertEquals("convert: " + in + ": value 65520.0 at (1, 1) is finite but overflows f16 (65504.0 is its largest "
                + "finite value)", r.err().strip());
        assertFalse(Files.exists(out));
    }

    @Test
    void anUnknownTypeIsRefused() throws IOException {
        Path in = write("in.npy", new int[] {1}, new float[] {1});
        Run to = run("convert", "--to", "f8", in.toString(), dir.resolve("o.npy").toString());
        Run from = run("convert", "--from", "f16", "--to", "f32", in.toString(), dir.resolve("o.npy").toString());

        assertEquals(Main.EXIT_BAD_INPUT, to.status());
        assertEquals("convert: --to must be f32, f16 or bf16, not 'f8'", to.err().strip());
        assertEquals(Main.EXIT_BAD_INPUT, from.status());
        assertTrue(from.err().contains("--from takes only bf16"), from.err());
    }
}
