package dev.qkv.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The input files of a command, each stamped (size, modification time, file key) before it is read, so
 * that a file changed underneath a run is reported as that, in one line with exit status 1, rather than
 * as a wrong answer or an {@link InternalError}. Inputs are memory-mapped: a file truncated while mapped
 * makes a read of the lost pages fault, which the JVM reports as {@code InternalError} ("a fault occurred
 * in an unsafe memory access") where it can, and which in JIT-compiled vector code may crash the JVM
 * with SIGBUS before any of this runs (see {@link dev.qkv.io.Npy#read}).
 */
final class InputFiles {

    @FunctionalInterface
    interface Work<T> {
        T run() throws IOException;
    }

    private record Stamp(Path file, long size, FileTime modified, Object key) {
        static Stamp of(Path file) throws IOException {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            return new Stamp(file, a.size(), a.lastModifiedTime(), a.fileKey());
        }
    }

    private final List<Stamp> stamps = new ArrayList<>();

    /** Stamps {@code file} before it is read; returns it. */
    Path stamp(Path file) throws IOException {
        stamps.add(Stamp.of(file));
        return file;
    }

    /**
     * Runs {@code work}, which reads the stamped files; if it fails and a file has changed since it was
     * stamped, the failure is reported as that change.
     */
    <T> T read(Work<T> work) throws IOException {
        try {
            return work.run();
        } catch (RuntimeException | IOException | InternalError e) {
            checkUnchanged(e);
            throw e;
        }
    }

    /** Refuses to go on if a stamped file has changed (or gone) since it was stamped. */
    void checkUnchanged() {
        checkUnchanged(null);
    }

    private void checkUnchanged(Throwable cause) {
        for (Stamp s : stamps) {
            Stamp now;
            try {
                now = Stamp.of(s.file());
            } catch (IOException e) {
                now = null;
            }
            if (!Objects.equals(s, now)) {
                throw CliException.failure(s.file() + " changed while being read; run again once nothing writes"
                        + " to it", cause);
            }
        }
    }
}
