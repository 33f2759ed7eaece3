package dev.qkv.cli;

/**
 * A command's failure reported as one line, its message, with an exit status: {@link Main#EXIT_BAD_INPUT}
 * for input the command refuses, {@link Main#EXIT_FAILURE} for a failure that is not the input's fault.
 */
public final class CliException extends RuntimeException {

    private final int status;

    /** Input the command refuses (exit status 2). */
    public CliException(String message) {
        this(message, null, Main.EXIT_BAD_INPUT);
    }

    /** Input the command refuses (exit status 2). */
    public CliException(String message, Throwable cause) {
        this(message, cause, Main.EXIT_BAD_INPUT);
    }

    private CliException(String message, Throwable cause, int status) {
        super(message, cause);
        this.status = status;
    }

    /** A failure that is not the input's fault, such as a full disk (exit status 1). */
    public static CliException failure(String message, Throwable cause) {
        return new CliException(message, cause, Main.EXIT_FAILURE);
    }

    /** The exit status the command ends with. */
    public int status() {
        return status;
    }
}
