package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicOutputsTest {

    @TempDir
    Path dir;

    @Test
    void aFullDiskIsAFailureNamingTheTargetNotTheTemporary() throws IOException {
        Path target = dir.resolve("out.npy");
        CliException e;
        try (AtomicOutputs outputs = new AtomicOutputs()) {
            e = assertThrows(CliException.class, () -> outputs.write(target, path -> {
                Files.write(path, new byte[] {1});
                throw new IOException("No space left on device");
            }));
        }
        assertEquals("cannot write " + target + ": No space left on device", e.getMessage());
        assertEquals(Main.EXIT_FAILURE, e.status());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(), files.toList(), "the temporary file is gone");
        }
    }

    /**
     * Checked through {@code reserve}, which writes nothing: a command run as root that wrote to /dev/null
     * by mistake would replace the machine's /dev/null with a regular file (seen once, with the old code).
     */
    @Test
    void aDeviceIsRefusedBeforeAnythingIsWritten() throws IOException {
        Path link = Files.createSymbolicLink(dir.resolve("null.npy"), Path.of("/dev/null"));
        try (AtomicOutputs outputs = new AtomicOutputs()) {
            for (Path device : new Path[] {Path.of("/dev/null"), link}) {
                CliException e = assertThrows(CliException.class, () -> outputs.reserve(List.of(), device));
                assertEquals("cannot write " + device + ": it is not a regular file (a device, FIFO or socket); qkv"
                        + " writes regular files only", e.getMessage());
            }
        }
    }

    @Test
    void theTemporaryFileHasAShortHiddenNameBesideTheTarget() throws IOException {
        Path target = dir.resolve("x".repeat(200) + ".npy");
        try (AtomicOutputs outputs = new AtomicOutputs()) {
            outputs.write(target, path -> {
                assertEquals(dir.toRealPath(), path.getParent());
                assertEquals(17, path.getFileName().toString().length(), path.toString());
                Files.write(path, new byte[] {7});
            });
            outputs.commit();
        }
        assertEquals(1, Files.size(target));
    }
}
