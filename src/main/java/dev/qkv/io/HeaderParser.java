package dev.qkv.io;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses the header of a {@code .npy} file: the Python literal of a dict with string keys, whose values are
 * strings, {@code True}, {@code False}, {@code None}, integers, tuples and lists — the part of Python's
 * {@code ast.literal_eval} that NumPy headers use. Keys may come in any order, spaces are optional, commas
 * may trail, and integers may carry the {@code L} suffix of files written under Python 2. Strings with
 * escapes, floats and nested dicts are refused, as is nesting deeper than {@value #MAX_DEPTH} levels, so a
 * hostile header cannot exhaust the stack.
 *
 * <p>Tuples parse to {@link Tuple}, lists to {@link List}, integers to {@link Long}, {@code None} to null.
 */
final class HeaderParser {

    /** A Python tuple, kept apart from a list because a shape must be a tuple. */
    record Tuple(List<Object> items) {}

    private static final int MAX_DEPTH = 32;
    private static final int EXCERPT_CHARS = 100;

    private final Path file;
    private final String text;
    private int pos;

    private HeaderParser(Path file, String text) {
        this.file = file;
        this.text = text;
    }

    /** The dict that is {@code text}, keys in file order; only whitespace may surround it. */
    static Map<String, Object> parseDict(Path file, String text) throws NpyFormatException {
        HeaderParser parser = new HeaderParser(file, text);
        parser.skipSpace();
        Map<String, Object> dict = parser.dict();
        parser.skipSpace();
        if (parser.pos != text.length()) {
            throw parser.error("text after the closing '}'");
        }
        return dict;
    }

    /** A value as Python would print it, for messages. */
    static String repr(Object value) {
        return switch (value) {
            case null -> "None";
            case String s -> "'" + s + "'";
            case Boolean b -> b ? "True" : "False";
            case Tuple(List<Object> items) when items.size() == 1 -> "(" + repr(items.getFirst()) + ",)";
            case Tuple(List<Object> items) -> join("(", items, ")");
            case List<?> items -> join("[", items, "]");
            default -> value.toString();
        };
    }

    private static String join(String open, List<?> items, String close) {
        StringBuilder s = new StringBuilder(open);
        for (int i = 0; i < items.size(); i++) {
            s.append(i == 0 ? "" : ", ").append(repr(items.get(i)));
        }
        return s.append(close).toString();
    }

    private Map<String, Object> dict() throws NpyFormatException {
        expect('{');
        Map<String, Object> dict = new LinkedHashMap<>();
        while (true) {
            skipSpace();
            if (consume('}')) {
                return dict;
            }
            if (!at('\'') && !at('"')) {
                throw error(pos == text.length() ? "unexpected end of header" : "expected a string key");
            }
            int keyStart = pos;
            String key = string();
            skipSpace();
            expect(':');
            skipSpace();
            if (dict.putIfAbsent(key, value(1)) != null) {
                pos = keyStart;
                throw error("duplicate key '" + key + "'");
            }
            skipSpace();
            if (!consume(',')) {
                expectClose('}');
                return dict;
            }
        }
    }

    private Object value(int depth) throws NpyFormatException {
        if (depth > MAX_DEPTH) {
            throw error("nested deeper than " + MAX_DEPTH + " levels");
        }
        if (pos == text.length()) {
            throw error("unexpected end of header");
        }
        char c = text.charAt(pos);
        if (c == '\'' || c == '"') {
            return string();
        }
        if (c == '(' || c == '[') {
            return sequence(depth);
        }
        if (c == '-' || isDigit(c)) {
            return integer();
        }
        if (Character.isLetter(c)) {
            return name();
        }
        throw error("unexpected '" + c + "'");
    }

    /** A tuple or a list; {@code (x)} without a comma is just x, as in Python. */
    private Object sequence(int depth) throws NpyFormatException {
        char close = text.charAt(pos++) == '(' ? ')' : ']';
        List<Object> items = new ArrayList<>();
        boolean comma = false;
        while (true) {
            skipSpace();
            if (consume(close)) {
                break;
            }
            items.add(value(depth + 1));
            skipSpace();
            comma = consume(',');
            if (!comma) {
                expectClose(close);
                break;
            }
        }
        if (close == ']') {
            return items;
        }
        return items.size() == 1 && !comma ? items.getFirst() : new Tuple(items);
    }

    private String string() throws NpyFormatException {
        char quote = text.charAt(pos);
        int start = pos + 1;
        for (int i = start; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == quote) {
                pos = i + 1;
                return text.substring(start, i);
            }
            if (c == '\\' || c == '\n') {
                pos = i;
                throw error(c == '\\' ? "escapes in strings are not supported" : "line break in a string");
            }
        }
        throw error("unterminated string");
    }

    private Long integer() throws NpyFormatException {
        int start = pos;
        boolean negative = consume('-');
        if (pos == text.length() || !isDigit(text.charAt(pos))) {
            throw error("expected a digit");
        }
        long value = 0;
        try {
            while (pos < text.length() && isDigit(text.charAt(pos))) {
                value = Math.addExact(Math.multiplyExact(value, 10), text.charAt(pos++) - '0');
            }
        } catch (ArithmeticException e) {
            pos = start;
            throw error("integer too large");
        }
        if (!consume('L')) {
            consume('l');
        }
        return negative ? -value : value;
    }

    private Object name() throws NpyFormatException {
        int start = pos;
        while (pos < text.length() && (Character.isLetterOrDigit(text.charAt(pos)) || text.charAt(pos) == '_')) {
            pos++;
        }
        String name = text.substring(start, pos);
        return switch (name) {
            case "True" -> Boolean.TRUE;
            case "False" -> Boolean.FALSE;
            case "None" -> null;
            default -> {
                pos = start;
                throw error("unknown name '" + name + "'");
            }
        };
    }

    private void skipSpace() {
        while (pos < text.length() && " \t\n\r\f".indexOf(text.charAt(pos)) >= 0) {
            pos++;
        }
    }

    private boolean at(char c) {
        return pos < text.length() && text.charAt(pos) == c;
    }

    private boolean consume(char c) {
        if (at(c)) {
            pos++;
            return true;
        }
        return false;
    }

    private void expect(char c) throws NpyFormatException {
        if (!consume(c)) {
            throw error(pos == text.length() ? "unexpected end of header, expected '" + c + "'" : "expected '" + c + "'");
        }
    }

    /** The end of a dict, tuple or list, where a comma would also have done. */
    private void expectClose(char close) throws NpyFormatException {
        if (!consume(close)) {
            throw error(pos == text.length() ? "unexpected end of header" : "expected ',' or '" + close + "'");
        }
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private NpyFormatException error(String problem) {
        return new NpyFormatException(file, "malformed header (" + problem + " at character " + pos + "): "
                + excerpt());
    }

    /** The start of the header, one line of printable characters. */
    private String excerpt() {
        String head = text.strip();
        String cut = head.length() > EXCERPT_CHARS ? head.substring(0, EXCERPT_CHARS) + "..." : head;
        StringBuilder s = new StringBuilder(cut.length());
        cut.codePoints().forEach(c -> s.appendCodePoint(Character.isISOControl(c) ? '?' : c));
        return s.toString();
    }
}
