package dev.qkv.spark;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One shard of a key/value store: a keys file (m, d) and a values file (m, dv), both {@code .npy}, at paths every
 * executor can read (a shared file system). Each shard is pooled by one Spark task, memory-mapped.
 */
public record Shard(String keys, String values) implements Serializable {

    private static final Pattern KEYS = Pattern.compile("keys-(\\d+)\\.npy");
    private static final Pattern VALUES = Pattern.compile("values-(\\d+)\\.npy");

    /**
     * The pairs {@code keys-NNNN.npy} / {@code values-NNNN.npy} of a directory, in the numeric order of NNNN: the
     * store's global key order is this order, then row order.
     *
     * @throws IllegalArgumentException if the directory holds no pair, a keys file without its values file or the
     *     other way round, or two files of one number (e.g. keys-1.npy and keys-0001.npy)
     * @throws UncheckedIOException if the directory cannot be listed
     */
    public static List<Shard> inDirectory(Path dir) {
        Map<Long, Path> keys = new TreeMap<>();
        Map<Long, Path> values = new TreeMap<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                collect(KEYS.matcher(name), file, keys, dir);
                collect(VALUES.matcher(name), file, values, dir);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        for (Long k : keys.keySet()) {
            if (!values.containsKey(k)) {
                throw new IllegalArgumentException(dir + ": " + keys.get(k).getFileName() + " has no values file");
            }
        }
        for (Long v : values.keySet()) {
            if (!keys.containsKey(v)) {
                throw new IllegalArgumentException(dir + ": " + values.get(v).getFileName() + " has no keys file");
            }
        }
        if (keys.isEmpty()) {
            throw new IllegalArgumentException(dir + ": no shard pairs keys-NNNN.npy / values-NNNN.npy");
        }
        List<Shard> shards = new ArrayList<>();
        for (Long k : keys.keySet()) {
            shards.add(new Shard(keys.get(k).toAbsolutePath().toString(), values.get(k).toAbsolutePath().toString()));
        }
        return shards;
    }

    /** Whether {@code dir} holds at least one {@code keys-NNNN.npy}. */
    static boolean isShardDirectory(Path dir) {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path file : files) {
                if (KEYS.matcher(file.getFileName().toString()).matches()) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    private static void collect(Matcher m, Path file, Map<Long, Path> into, Path dir) {
        if (!m.matches()) {
            return;
        }
        long number;
        try {
            number = Long.parseLong(m.group(1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(dir + ": shard number too large in " + file.getFileName(), e);
        }
        Path before = into.put(number, file);
        if (before != null) {
            throw new IllegalArgumentException(dir + ": " + before.getFileName() + " and " + file.getFileName()
                    + " have the same number");
        }
    }
}
