package dev.qkv;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qkv.tensor.Tensor;
import java.io.IOException;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every Java snippet of README.md compiles and runs as printed, so none can rot again (they had: missing imports,
 * a variable declared twice, undefined names). The README's rule, which this test applies: the first snippet stands
 * alone; each later one continues it, using its {@code arena}, {@code queries}, {@code keys}, {@code values} and
 * {@code attention} and nothing else of it, and imports every type it names. A snippet becomes the body of a static
 * method whose parameters are those five variables, with its own import lines and no others; so a snippet that
 * declares one of them again, names a type it does not import, or uses a variable it does not declare fails to
 * compile, with the README's line number in the message.
 */
class ReadmeSnippetsTest {

    private static final Path README = Path.of("README.md");

    /** The first example's variables, in the README's words (the later snippets' parameters). */
    private static final String CONTEXT = "java.lang.foreign.Arena arena, dev.qkv.tensor.Tensor queries,"
            + " dev.qkv.tensor.Tensor keys, dev.qkv.tensor.Tensor values, dev.qkv.Attention attention";

    @TempDir
    Path dir;

    /** A ```java block of the README: its lines, and the README line of the first of them (1-based). */
    private record Snippet(int index, int firstLine, List<String> lines) {
        String className() {
            return "ReadmeSnippet" + index;
        }

        boolean standsAlone() {
            return index == 0;
        }

        /** The compilation unit: the snippet's imports, then a class whose method body is the rest. */
        String source() {
            StringBuilder imports = new StringBuilder();
            StringBuilder body = new StringBuilder();
            for (String line : lines) {
                // Kept line for line: the unit's lines 1..L hold the imports, L + 2 + k the body's line k.
                boolean isImport = line.startsWith("import ");
                imports.append(isImport ? line : "").append('\n');
                body.append(isImport ? "" : line).append('\n');
            }
            return imports + "public final class " + className() + " {\n"
                    + "public static void run(" + (standsAlone() ? "" : CONTEXT) + ") throws Exception {\n"
                    + body + "}\n}\n";
        }

        /** The README line of line {@code line} (1-based) of the compilation unit. */
        long readmeLine(long line) {
            int imports = lines.size();
            return firstLine - 1 + (line <= imports ? line : line - imports - 2);
        }
    }

    static List<Snippet> snippets() throws IOException {
        List<String> readme = Files.readAllLines(README, StandardCharsets.UTF_8);
        List<Snippet> snippets = new ArrayList<>();
        for (int i = 0; i < readme.size(); i++) {
            if (readme.get(i).strip().equals("```java")) {
                int first = i + 1;
                int end = first;
                while (!readme.get(end).strip().equals("```")) {
                    end++;
                }
                snippets.add(new Snippet(snippets.size(), first + 1, readme.subList(first, end)));
                i = end;
            }
        }
        return snippets;
    }

    @TestFactory
    List<DynamicTest> everyJavaSnippetCompilesAndRunsAsPrinted() throws IOException {
        List<Snippet> snippets = snippets();
        assertTrue(snippets.size() >= 6, "README.md's Java snippets: found " + snippets.size());
        return snippets.stream()
                .map(s -> DynamicTest.dynamicTest("README.md line " + s.firstLine(), () -> compileAndRun(s)))
                .toList();
    }

    private void compileAndRun(Snippet snippet) throws Exception {
        Path sources = Files.createDirectories(dir.resolve("src-" + snippet.index()));
        Path classes = Files.createDirectories(dir.resolve("classes-" + snippet.index()));
        Path file = sources.resolve(snippet.className() + ".java");
        Files.writeString(file, snippet.source());
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        boolean compiled;
        try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, Locale.ROOT, null)) {
            List<String> options = List.of("-classpath", System.getProperty("java.class.path"), "-d",
                    classes.toString(), "-proc:none", "-implicit:none");
            compiled = javac.getTask(new StringWriter(), files, diagnostics, options, null,
                    files.getJavaFileObjects(file)).call();
        }
        String errors = diagnostics.getDiagnostics().stream()
                .filter(d -> d.getKind() == Diagnostic.Kind.ERROR)
                .map(d -> "README.md line " + snippet.readmeLine(d.getLineNumber()) + ": "
                        + d.getMessage(Locale.ROOT))
                .collect(Collectors.joining("\n"));
        assertTrue(compiled, "the snippet at README.md line " + snippet.firstLine() + " does not compile:\n" + errors);
        try (URLClassLoader loader = new URLClassLoader(new URL[] {classes.toUri().toURL()},
                ReadmeSnippetsTest.class.getClassLoader()); Arena arena = Arena.ofShared()) {
            Class<?> type = loader.loadClass(snippet.className());
            Method run = type.getMethod("run", parameters(snippet));
            Object[] arguments = snippet.standsAlone() ? new Object[0] : firstExample(arena);
            try {
                run.invoke(null, arguments);
            } catch (InvocationTargetException e) {
                throw new AssertionError("the snippet at README.md line " + snippet.firstLine() + " throws", e.getCause());
            }
        }
    }

    private static Class<?>[] parameters(Snippet snippet) {
        return snippet.standsAlone() ? new Class<?>[0]
                : new Class<?>[] {Arena.class, Tensor.class, Tensor.class, Tensor.class, Attention.class};
    }

    /** The first snippet's arena, queries (2 × 2), keys (3 × 2), values (3 × 1) and attention, as it makes them. */
    private static Object[] firstExample(Arena arena) {
        Tensor queries = Tensor.of(arena, new float[][] {{1, 0}, {0, 1}});
        Tensor keys = Tensor.of(arena, new float[][] {{1, 0}, {0, 1}, {1, 1}});
        Tensor values = Tensor.of(arena, new float[][] {{1}, {2}, {3}});
        Attention attention = Attention.builder().scoring(Scoring.scaledDot()).build();
        return new Object[] {arena, queries, keys, values, attention};
    }
}
