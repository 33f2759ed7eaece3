package dev.qkv.io;

import java.io.IOException;
import java.io.Serial;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A {@code .npy} file that qkv cannot read: malformed, truncated, or holding what a reader does not support
 * (a dtype, Fortran order, a rank). The message starts with the file name, then states the problem.
 */
public final class NpyFormatException extends IOException {

    /** Serialization's version of this class. */
    @Serial
    private static final long serialVersionUID = 1L;

    /** The file, as named when the exception was made (serialized with it). */
    private final String file;

    /** An exception for {@code file} whose message is {@code "<file>: <problem>"}. */
    public NpyFormatException(Path file, String problem) {
        super(Objects.requireNonNull(file, "file") + ": " + problem);
        this.file = file.toString();
    }

    /** The file refused, as it was named to the reader. */
    public String file() {
        return file;
    }
}
