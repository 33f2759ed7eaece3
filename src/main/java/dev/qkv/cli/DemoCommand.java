package dev.qkv.cli;

import dev.qkv.Attention;
import dev.qkv.Scoring;
import dev.qkv.tensor.Tensor;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code qkv demo}: the seed's worked examples of attention pooling, printed to the terminal. */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "A worked example of attention pooling: database lookup and average pooling.")
final class DemoCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        String[] names = {"Zhang", "Lipton", "Li", "Smola", "Hu", "Werness"};
        String[] answers = {"Aston", "Zachary", "Mu", "Alex", "Rachel", "Brent"};
        try (Arena arena = Arena.ofConfined()) {
            // One-hot key embeddings, scaled so a match outscores a miss by 121 under dot scoring:
            // exp(-121) is below half of float's smallest subnormal (exp(-103.9)), so every other weight
            // rounds to exactly 0 and the lookup weight to exactly 1.
            int m = names.length;
            Tensor keys = Tensor.allocate(arena, m, m);
            Tensor values = Tensor.allocate(arena, m, m);
            for (int i = 0; i < m; i++) {
                keys.set(i, i, 11f);
                values.set(i, i, 1f);
            }
            Tensor query = Tensor.allocate(arena, m);
            query.set(2, 11f);
            Attention lookup = Attention.builder().scoring(Scoring.dot()).build();
            Tensor answer = lookup.pool(arena, query, keys, values);
            out.println("Database D = {(Zhang, Aston), (Lipton, Zachary), (Li, Mu), (Smola, Alex), (Hu, Rachel),"
                    + " (Werness, Brent)}");
            out.printf("query \"Li\" -> weights %s -> \"%s\"%n",
                    format(lookup.weights(arena, query, keys)), decode(answer, values, answers));

            Tensor zero = Tensor.allocate(arena, m);
            Tensor average = lookup.pool(arena, zero, keys, values);
            out.printf("a zero query weighs every key equally -> average pooling: %s%n", format(average));
        }
        return 0;
    }

    /** The answer whose value row the output equals exactly, or a note that the output is a blend. */
    private static String decode(Tensor output, Tensor values, String[] answers) {
        for (int i = 0; i < values.rows(); i++) {
            if (output.contentEquals(values.row(i))) {
                return answers[i];
            }
        }
        return "(a blend of the values, no single answer)";
    }

    private static String format(Tensor t) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < t.cols(); i++) {
            b.append(i == 0 ? "" : ", ").append(String.format("%.3f", t.get(i)));
        }
        return b.append(']').toString();
    }
}
