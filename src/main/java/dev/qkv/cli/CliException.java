package dev.qkv.cli;

/** Input the command refuses; its message is the one line the user sees. */
public final class CliException extends RuntimeException {
    public CliException(String message) {
        super(message);
    }

    public CliException(String message, Throwable cause) {
        super(message, cause);
    }
}
