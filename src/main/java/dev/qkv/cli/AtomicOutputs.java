package dev.qkv.cli;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributeView;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Output files written all or nothing: each is written to a temporary file beside its target, and only
 * {@link #commit()} renames them into place. Closing without committing deletes the temporaries, so a
 * failed command leaves no output file, half-written or otherwise.
 *
 * <p>What is at a target path is respected: a symbolic link is followed and its target written (the link
 * stays, and a link to a file not yet there creates that file); an existing file keeps its permissions, and a new one gets what the umask gives, as a shell's
 * {@code >} would; a directory, device, FIFO or socket is refused, as are two outputs, or an output and an
 * input, that are the same file. A file with several hard links is replaced by a new file at the one path
 * named: writing it in place would not be all or nothing. A temporary file has a short hidden name
 * ({@code .qkv-<8 hex digits>.tmp}), so a target name that fits the file system's limit has a temporary
 * that fits too, and every failure message names the target, never the temporary.
 */
final class AtomicOutputs implements AutoCloseable {

    /** Writes one file's content to the path it is given. */
    @FunctionalInterface
    interface Writer {
        void write(Path path) throws IOException;
    }

    private record Pending(Path temporary, Path target) {}

    /** Each output as named on the command line, and the file it writes. */
    private final Map<Path, Path> targets = new LinkedHashMap<>();
    private final List<Pending> pending = new ArrayList<>();

    /**
     * Checks, before any work, every output that will be written: each must be writable as described in the
     * class comment, no two may be the same file, and none may be one of {@code inputs} (nulls are skipped in
     * both, for options not given).
     */
    void reserve(List<Path> inputs, Path... outputs) throws IOException {
        for (Path named : outputs) {
            if (named == null) {
                continue;
            }
            Path target = target(named);
            for (Map.Entry<Path, Path> other : targets.entrySet()) {
                if (sameFile(target, other.getValue())) {
                    throw new CliException("cannot write both " + other.getKey() + " and " + named
                            + ": they are the same file");
                }
            }
            for (Path input : inputs) {
                if (input != null && Files.exists(target) && Files.exists(input) && Files.isSameFile(input, target)) {
                    throw new CliException("cannot write " + named + ": it is the input " + input
                            + "; name another file for the output");
                }
            }
            targets.put(named, target);
        }
    }

    /** Writes {@code named}'s content into a temporary file in its target's directory. */
    void write(Path named, Writer writer) throws IOException {
        Path target = targets.get(named);
        if (target == null) {
            reserve(List.of(), named);
            target = targets.get(named);
        }
        for (Pending p : pending) {
            if (p.target().equals(target)) {
                throw new CliException("cannot write " + named + " twice");
            }
        }
        Path temporary = createTemporary(named, target);
        pending.add(new Pending(temporary, target));
        try {
            writer.write(temporary);
        } catch (IOException e) {
            throw failure(named, e);
        }
    }

    /** Renames every temporary file onto its target. */
    void commit() throws IOException {
        for (Pending p : pending) {
            try {
                try {
                    Files.move(p.temporary(), p.target(), StandardCopyOption.REPLACE_EXISTING,
                            StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(p.temporary(), p.target(), StandardCopyOption.REPLACE_EXISTING);
                }
            } catch (IOException e) {
                throw failure(p.target(), e);
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

    /**
     * The regular file {@code named} writes: itself, or where its symbolic links lead (a link to a file not
     * yet there included), as a real path.
     */
    private static Path target(Path named) throws IOException {
        Path path = named.toAbsolutePath();
        for (int links = 0; Files.isSymbolicLink(path); links++) {
            if (links == 40) {
                throw new CliException("cannot write " + named + ": too many levels of symbolic links");
            }
            path = path.resolveSibling(Files.readSymbolicLink(path));
        }
        if (Files.exists(path)) {
            BasicFileAttributes attributes = Files.readAttributes(path, BasicFileAttributes.class);
            if (attributes.isDirectory()) {
                throw new CliException("cannot write " + named + ": it is a directory");
            }
            if (!attributes.isRegularFile()) {
                throw new CliException("cannot write " + named + ": it is not a regular file (a device, FIFO or"
                        + " socket); qkv writes regular files only");
            }
            return path.toRealPath();
        }
        Path dir = path.getParent();
        if (dir == null || path.getFileName() == null || !Files.isDirectory(dir)) {
            throw new CliException("cannot write " + named + ": no such directory " + dir);
        }
        return dir.toRealPath().resolve(path.getFileName());
    }

    private static boolean sameFile(Path a, Path b) throws IOException {
        return a.equals(b) || (Files.exists(a) && Files.exists(b) && Files.isSameFile(a, b));
    }

    /**
     * A new empty file beside {@code target}: with the target's permissions if it exists, else with what the
     * umask gives a new file.
     */
    private static Path createTemporary(Path named, Path target) {
        Path dir = target.getParent();
        byte[] random = new byte[4];
        try {
            while (true) {
                ThreadLocalRandom.current().nextBytes(random);
                Path temporary = dir.resolve(".qkv-" + HexFormat.of().formatHex(random) + ".tmp");
                try {
                    Files.createFile(temporary);
                } catch (FileAlreadyExistsException e) {
                    continue;
                }
                PosixFileAttributeView view = Files.getFileAttributeView(target, PosixFileAttributeView.class);
                if (view != null && Files.exists(target)) {
                    try {
                        Files.setPosixFilePermissions(temporary, view.readAttributes().permissions());
                    } catch (IOException e) {
                        Files.deleteIfExists(temporary);
                        throw e;
                    }
                }
                return temporary;
            }
        } catch (NoSuchFileException e) {
            // What creating a file says where the directory takes none (/proc, /sys): no reason of its own.
            throw CliException.failure("cannot write " + named + ": " + dir + " does not take new files", e);
        } catch (IOException e) {
            throw failure(named, e);
        }
    }

    /** A failure to write {@code named}, in one line that names it, not the temporary file. */
    private static CliException failure(Path named, IOException e) {
        if (e instanceof AccessDeniedException) {
            return new CliException("cannot write " + named + ": permission denied", e);
        }
        String reason = e instanceof FileSystemException f
                ? Objects.requireNonNullElse(f.getReason(), e.getClass().getSimpleName())
                : Objects.requireNonNullElse(e.getMessage(), e.getClass().getSimpleName());
        return CliException.failure("cannot write " + named + ": " + reason, e);
    }
}
