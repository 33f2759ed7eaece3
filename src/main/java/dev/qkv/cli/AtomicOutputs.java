package dev.qkv.cli;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Output files written all or nothing: each is written to a temporary file beside its target, and only
 * {@link #commit()} renames them into place. Closing without committing deletes the temporaries, so a
 * failed command leaves no output file, half-written or otherwise.
 */
final class AtomicOutputs implements AutoCloseable {

    /** Writes one file's content to the path it is given. */
    @FunctionalInterface
    interface Writer {
        void write(Path path) throws IOException;
    }

    private record Pending(Path temporary, Path target) {}

    private final List<Pending> pending = new ArrayList<>();

    /** Writes {@code target}'s content into a temporary file in the same directory. */
    void write(Path target, Writer writer) throws IOException {
        Path absolute = target.toAbsolutePath();
        Path dir = absolute.getParent();
        if (dir != null && !Files.isDirectory(dir)) {
            throw new CliException("cannot write " + target + ": no such directory " + dir);
        }
        if (Files.isDirectory(absolute)) {
            throw new CliException("cannot write " + target + ": it is a directory");
        }
        Path temporary = Files.createTempFile(dir, "." + absolute.getFileName(), ".tmp");
        pending.add(new Pending(temporary, absolute));
        writer.write(temporary);
    }

    /** Renames every temporary file onto its target. */
    void commit() throws IOException {
        for (Pending p : pending) {
            try {
                Files.move(p.temporary(), p.target(), StandardCopyOption.REPLACE_EXISTING,
                        StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(p.temporary(), p.target(), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        pending.clear();
    }

    @Override
    public void close() throws IOException {
        for (Pending p : pending) {
            Files.deleteIfExists(p.temporary());
        }
        pending.clear();
    }
}
