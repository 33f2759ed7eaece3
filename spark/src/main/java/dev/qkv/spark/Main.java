package dev.qkv.spark;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code qkv-spark}: the Spark job's command line, the main class for {@code spark-submit} and for ./qkv-spark. Like
 * {@code qkv}, a bad input is one line on stderr and exit status 2, with no output file left behind.
 */
@Command(
        name = "qkv-spark",
        mixinStandardHelpOptions = true,
        description = "Attention pooling over a key/value store partitioned across a Spark cluster.",
        subcommands = {PoolJob.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    /** Exit status for input the job refuses: bad files, shapes, values or flags. */
    public static final int EXIT_BAD_INPUT = 2;
    /** Exit status for a failure that is not the input's fault. */
    public static final int EXIT_FAILURE = 1;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the command line and returns its exit status; for tests and embedding. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            boolean input = isInputError(e);
            err.println(commandLine.getCommandName() + ": " + message(e, input));
            if (System.getenv("QKV_DEBUG") != null) {
                e.printStackTrace(err);
            }
            return input ? EXIT_BAD_INPUT : EXIT_FAILURE;
        });
        cli.setParameterExceptionHandler((e, ignored) -> {
            err.println(e.getCommandLine().getCommandName() + ": " + e.getMessage() + " (see '"
                    + e.getCommandLine().getCommandSpec().qualifiedName() + " --help')");
            return EXIT_BAD_INPUT;
        });
        return cli.execute(args);
    }

    private static String message(Throwable e, boolean input) {
        if (e instanceof NoSuchFileException) {
            return "no such file: " + e.getMessage();
        }
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().lines().findFirst().orElse("");
        return input ? m : e.getClass().getSimpleName() + ": " + m + " (set QKV_DEBUG=1 for the stack trace)";
    }

    private static boolean isInputError(Throwable e) {
        return e instanceof IllegalArgumentException || e instanceof IOException || e instanceof UncheckedIOException;
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is needed: pool");
    }
}
