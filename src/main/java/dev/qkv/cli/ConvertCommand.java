package dev.qkv.cli;

import dev.qkv.io.Npy;
import dev.qkv.tensor.ElementType;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code qkv convert}: a float .npy file to float32, float16 or bfloat16, rounding to nearest even. */
@Command(
        name = "convert",
        mixinStandardHelpOptions = true,
        description = {
            "Converts a float .npy array of rank 1 to 4 to another element type, rounding to nearest, ties to even.",
            "f16 is written as <f2 (numpy.float16). NumPy has no bfloat16: bf16 is written as the <u2 array of",
            "its bit patterns, as torch.bfloat16 and ml_dtypes.bfloat16 store them (in PyTorch:",
            "torch.from_numpy(a.view(numpy.int16)).view(torch.bfloat16)); convert reads such a file with --from bf16.",
            "A finite value that the type cannot hold (above 65504 for f16) is refused, naming it; nothing is written.",
            "<f8 input is rounded to float32 first, then to f16/bf16 (a second rounding, which can differ from a",
            "direct one in the last bit when the first lands on a tie)."
        })
final class ConvertCommand implements Callable<Integer> {

    @Option(names = "--to", required = true, paramLabel = "f32|f16|bf16", description = "the element type to write")
    String to;

    @Option(names = "--from", paramLabel = "bf16",
            description = "read IN as bfloat16 bit patterns (<u2), as --to bf16 writes them")
    String from;

    @Parameters(index = "0", paramLabel = "IN", description = "a float .npy file: <f4, <f8, >f4, >f8, <f2, >f2")
    Path in;

    @Parameters(index = "1", paramLabel = "OUT", description = "the .npy file to write")
    Path out;

    @Override
    public Integer call() throws IOException {
        ElementType target = type("--to", to);
        if (from != null && type("--from", from) != ElementType.BF16) {
            throw new CliException("--from takes only bf16 (other types are known from the file), not " + from);
        }
        try (Arena arena = Arena.ofConfined(); AtomicOutputs outputs = new AtomicOutputs()) {
            Tensor input = from == null ? Npy.readTensor(in, arena) : Npy.readBf16(in, arena);
            Tensor converted;
            try {
                converted = input.convertTo(arena, target);
            } catch (IllegalArgumentException e) {
                throw new CliException(in + ": " + e.getMessage());
            }
            outputs.write(out, path -> Npy.write(path, converted));
            outputs.commit();
        }
        return 0;
    }

    private static ElementType type(String option, String name) {
        for (ElementType type : ElementType.values()) {
            if (type.label().equals(name.toLowerCase(Locale.ROOT))) {
                return type;
            }
        }
        throw new CliException(option + " must be f32, f16 or bf16, not '" + name + "'");
    }
}
