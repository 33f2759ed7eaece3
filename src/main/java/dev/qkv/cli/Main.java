package dev.qkv.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code qkv} command line. Every subcommand reports a bad input as one line on stderr, with no stack
 * trace, and exits non-zero leaving no output file behind.
 */
@Command(
        name = "qkv",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "Attention pooling over .npy files: out(q) = sum_i softmax_i(a(q, k_i)) v_i.",
        subcommands = {PoolCommand.class, GradCommand.class, HeatmapCommand.class, DemoCommand.class,
            BenchCommand.class, ConvertCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    /** Exit status for input the command refuses: bad files, shapes, values or flags. */
    public static final int EXIT_BAD_INPUT = 2;
    /** Exit status for a failure that is not the input's fault (a full disk, say). */
    public static final int EXIT_FAILURE = 1;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the command line with the given streams and returns its exit status; for tests and embedding. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            err.println(commandLine.getCommandName() + ": " + message(e));
            if (debug()) {
                e.printStackTrace(err);
            }
            return e instanceof CliException c ? c.status() : isInputError(e) ? EXIT_BAD_INPUT : EXIT_FAILURE;
        });
        cli.setParameterExceptionHandler((e, args1) -> {
            err.println(e.getCommandLine().getCommandName() + ": " + parameterMessage(e) + " (see '"
                    + e.getCommandLine().getCommandSpec().qualifiedName() + " --help')");
            return EXIT_BAD_INPUT;
        });
        try {
            return cli.execute(args);
        } catch (OutOfMemoryError e) {
            CommandLine.ParseResult parsed = cli.getParseResult();
            String name = parsed != null && parsed.subcommand() != null ? parsed.subcommand().commandSpec().name()
                    : cli.getCommandName();
            return outOfMemory(name, e, err);
        }
    }

    /**
     * An {@link OutOfMemoryError} the size checks did not foresee (the commands refuse what cannot fit before
     * they start): one line, exit status 1.
     */
    static int outOfMemory(String command, OutOfMemoryError e, PrintWriter err) {
        err.println(command + ": out of memory (" + e.getMessage() + "); the JVM may use "
                + Sizes.gigabytes(Runtime.getRuntime().maxMemory()) + " of heap and the machine has "
                + Sizes.gigabytes(Sizes.physicalMemory()) + "; give the JVM more with JAVA_TOOL_OPTIONS=-Xmx<size>");
        if (debug()) {
            e.printStackTrace(err);
        }
        return EXIT_FAILURE;
    }

    private static boolean debug() {
        return System.getenv("QKV_DEBUG") != null;
    }

    /** picocli's message, but an unknown command or argument said as such. */
    private static String parameterMessage(CommandLine.ParameterException e) {
        if (e instanceof CommandLine.UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String first = u.getUnmatched().get(0);
            CommandLine c = e.getCommandLine();
            if (c.getParent() == null && !c.getSubcommands().isEmpty() && !first.startsWith("-")) {
                return "unknown command '" + first + "'; the commands are "
                        + String.join(", ", c.getSubcommands().keySet());
            }
            return (first.startsWith("-") ? "unknown option '" : "unexpected argument '") + first + "'";
        }
        return e.getMessage();
    }

    /** One line for the user: what was wrong, naming the file or value, never a stack trace. */
    static String message(Throwable e) {
        String m = e.getMessage();
        if (e instanceof NoSuchFileException) {
            return "no such file: " + m;
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied: " + m;
        }
        if (m == null || m.isBlank()) {
            return e.getClass().getSimpleName();
        }
        if (e instanceof CliException || isInputError(e)) {
            return m;
        }
        return e.getClass().getSimpleName() + ": " + m + (debug() ? "" : " (set QKV_DEBUG=1 for the stack trace)");
    }

    private static boolean isInputError(Throwable e) {
        return e instanceof CliException || e instanceof IllegalArgumentException || e instanceof IOException;
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is needed: pool, demo, ...");
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"qkv " + (v == null ? "(development build)" : v)};
        }
    }
}
