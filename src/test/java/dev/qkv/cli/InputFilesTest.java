package dev.qkv.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.qkv.io.Npy;
import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InputFilesTest {

    @TempDir
    Path dir;

    private Path keys() throws IOException {
        Path file = dir.resolve("K.npy");
        try (Arena arena = Arena.ofConfined()) {
            Npy.write(file, Tensor.of(arena, 1024, 16, new float[1024 * 16]));
        }
        return file;
    }

    @Test
    void aMappedFileTruncatedWhileReadIsReportedAsChanged() throws IOException {
        Path file = keys();
        InputFiles inputs = new InputFiles();
        try (Arena arena = Arena.ofShared()) {
            Tensor k = Npy.readTensor(inputs.stamp(file), arena);
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
                channel.truncate(64);
            }
            CliException e = assertThrows(CliException.class, () -> inputs.read(() -> k.get(1023, 15)));
            assertEquals(file + " changed while being read; run again once nothing writes to it", e.getMessage());
            assertEquals(Main.EXIT_FAILURE, e.status());
            assertEquals(InternalError.class, e.getCause().getClass(), "the JVM's report of the fault");
        }
    }

    @Test
    void aFileRewrittenInPlaceIsReportedAsChangedThoughReadingWorked() throws IOException {
        Path file = keys();
        InputFiles inputs = new InputFiles();
        inputs.stamp(file);
        inputs.checkUnchanged();
        Files.setLastModifiedTime(file, FileTime.fromMillis(Files.getLastModifiedTime(file).toMillis() + 1000));
        CliException e = assertThrows(CliException.class, inputs::checkUnchanged);
        assertEquals(file + " changed while being read; run again once nothing writes to it", e.getMessage());
    }

    @Test
    void aFailureWithTheFilesUnchangedIsLeftAsItIs() throws IOException {
        InputFiles inputs = new InputFiles();
        inputs.stamp(keys());
        IllegalStateException e = new IllegalStateException("not about the files");
        assertEquals(e, assertThrows(IllegalStateException.class, () -> inputs.read(() -> {
            throw e;
        })));
    }
}
