/*
 * Generates FFM bindings in jextract's shape from a small declaration file, because
 * jextract itself is not available here. Constant values, struct sizes and field
 * offsets are not typed in by hand: the generator compiles a probe against the real
 * headers with the system C compiler and reads them from its output, and it refuses
 * a struct field whose declared width differs from the header's.
 *
 * Usage (what `make bindings` runs):
 *   java native-bindings/gen/Jextractish.java DECL_FILE OUTPUT_SOURCE_ROOT
 */
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class Jextractish {

    record Param(String type, String name) {}

    record Fn(String ret, String name, List<Param> params, boolean errno, int firstVariadic) {}

    record Field(String type, int arrayLength, String name) {}

    record Struct(String name, List<Field> fields) {}

    static final Pattern FN = Pattern.compile(
            "fn\\s+(\\w+)\\s+(\\w+)\\s*\\(([^)]*)\\)\\s*(.*)");

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: java Jextractish.java DECL_FILE OUTPUT_SOURCE_ROOT");
            System.exit(2);
        }
        Path decl = Path.of(args[0]);
        Path outRoot = Path.of(args[1]);
        String pkg = null;
        String cls = null;
        String library = null;
        List<String> includes = new ArrayList<>();
        List<String> defines = new ArrayList<>();
        List<Fn> fns = new ArrayList<>();
        List<String> consts = new ArrayList<>();
        List<Struct> structs = new ArrayList<>();
        int lineNo = 0;
        for (String raw : Files.readAllLines(decl)) {
            lineNo++;
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] words = line.split("\\s+");
            switch (words[0]) {
                case "package" -> pkg = words[1];
                case "class" -> cls = words[1];
                case "library" -> library = words[1];
                case "include" -> includes.add(words[1]);
                case "define" -> defines.add(words[1]);
                case "const" -> consts.add(words[1]);
                case "struct" -> structs.add(parseStruct(words, decl, lineNo));
                case "fn" -> fns.add(parseFn(line, decl, lineNo));
                default -> throw new IllegalArgumentException(
                        decl + ":" + lineNo + ": unknown directive '" + words[0] + "'");
            }
        }
        if (pkg == null || cls == null || library == null) {
            throw new IllegalArgumentException(decl + ": needs package, class and library lines");
        }
        Map<String, String> probed = probe(defines, includes, consts, structs);
        Path dir = outRoot.resolve(pkg.replace('.', '/'));
        Files.createDirectories(dir);
        String source = decl.getFileName().toString();
        Files.writeString(dir.resolve(cls + ".java"),
                header(pkg, cls, library, fns, consts, probed, source));
        for (Struct s : structs) {
            Files.writeString(dir.resolve(s.name() + ".java"), struct(pkg, cls, s, probed, source));
        }
        System.out.println("wrote " + (1 + structs.size()) + " files to " + dir);
    }

    static Fn parseFn(String line, Path decl, int lineNo) {
        Matcher m = FN.matcher(line);
        if (!m.matches()) {
            throw new IllegalArgumentException(decl + ":" + lineNo + ": cannot parse '" + line + "'");
        }
        List<Param> params = new ArrayList<>();
        String list = m.group(3).strip();
        if (!list.isEmpty()) {
            for (String p : list.split(",")) {
                String[] tn = p.strip().split("\\s+");
                params.add(new Param(checkType(tn[0], decl, lineNo), tn[1]));
            }
        }
        boolean errno = false;
        int variadic = -1;
        for (String opt : m.group(4).strip().split("\\s+")) {
            if (opt.equals("errno")) {
                errno = true;
            } else if (opt.startsWith("variadic=")) {
                variadic = Integer.parseInt(opt.substring("variadic=".length()));
            } else if (!opt.isEmpty()) {
                throw new IllegalArgumentException(decl + ":" + lineNo + ": unknown option '" + opt + "'");
            }
        }
        return new Fn(checkType(m.group(1), decl, lineNo), m.group(2), params, errno, variadic);
    }

    static Struct parseStruct(String[] words, Path decl, int lineNo) {
        List<Field> fields = new ArrayList<>();
        for (int i = 2; i < words.length; i++) {
            String[] tf = words[i].split(":");
            String type = tf[0];
            int len = 0;
            int bracket = type.indexOf('[');
            if (bracket > 0) {
                len = Integer.parseInt(type.substring(bracket + 1, type.length() - 1));
                type = type.substring(0, bracket);
            }
            fields.add(new Field(checkType(type, decl, lineNo), len, tf[1]));
        }
        return new Struct(words[1], fields);
    }

    static String checkType(String t, Path decl, int lineNo) {
        return switch (t) {
            case "int", "long", "short", "byte", "ptr", "void" -> t;
            default -> throw new IllegalArgumentException(decl + ":" + lineNo + ": unknown type '" + t + "'");
        };
    }

    /** Compiles and runs a C program that prints every value the bindings need. */
    static Map<String, String> probe(List<String> defines, List<String> includes, List<String> consts, List<Struct> structs)
            throws IOException, InterruptedException {
        StringBuilder c = new StringBuilder();
        for (String d : defines) {
            c.append("#define ").append(d).append('\n');
        }
        for (String inc : includes) {
            c.append("#include ").append(inc).append('\n');
        }
        c.append("#include <stdio.h>\n#include <stddef.h>\nint main(void) {\n");
        for (String k : consts) {
            c.append("  printf(\"const.").append(k).append("=%lld\\n\", (long long)(").append(k).append("));\n");
        }
        for (Struct s : structs) {
            c.append("  printf(\"sizeof.").append(s.name()).append("=%zu\\n\", sizeof(struct ")
                    .append(s.name()).append("));\n");
            for (Field f : s.fields()) {
                String ref = "((struct " + s.name() + " *)0)->" + f.name();
                c.append("  printf(\"offset.").append(s.name()).append('.').append(f.name())
                        .append("=%zu\\n\", offsetof(struct ").append(s.name()).append(", ").append(f.name())
                        .append("));\n");
                c.append("  printf(\"width.").append(s.name()).append('.').append(f.name())
                        .append("=%zu\\n\", sizeof(").append(ref).append("));\n");
            }
        }
        c.append("  return 0;\n}\n");
        Path work = Files.createTempDirectory("jextractish");
        try {
            Path src = work.resolve("probe.c");
            Path exe = work.resolve("probe");
            Files.writeString(src, c);
            run(List.of(System.getenv().getOrDefault("CC", "cc"), "-o", exe.toString(), src.toString()));
            String out = run(List.of(exe.toString()));
            Map<String, String> values = new LinkedHashMap<>();
            for (String l : out.split("\n")) {
                int eq = l.indexOf('=');
                if (eq > 0) {
                    values.put(l.substring(0, eq), l.substring(eq + 1));
                }
            }
            for (Struct s : structs) {
                for (Field f : s.fields()) {
                    long width = Long.parseLong(values.get("width." + s.name() + "." + f.name()));
                    long declared = byteSize(f.type()) * Math.max(1, f.arrayLength());
                    if (width != declared) {
                        throw new IllegalStateException("struct " + s.name() + "." + f.name() + " is " + width
                                + " bytes in the headers but declared " + declared + ": fix the .decl file");
                    }
                }
            }
            return values;
        } finally {
            try (var files = Files.walk(work)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    static String run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed:\n" + out);
        }
        return out;
    }

    static long byteSize(String type) {
        return switch (type) {
            case "byte" -> 1;
            case "short" -> 2;
            case "int" -> 4;
            case "long", "ptr" -> 8;
            default -> throw new IllegalArgumentException(type);
        };
    }

    static String javaType(String t) {
        return switch (t) {
            case "int" -> "int";
            case "long" -> "long";
            case "short" -> "short";
            case "byte" -> "byte";
            case "ptr" -> "MemorySegment";
            case "void" -> "void";
            default -> throw new IllegalArgumentException(t);
        };
    }

    static String layout(String cls, String t) {
        return switch (t) {
            case "int" -> cls + ".C_INT";
            case "long" -> cls + ".C_LONG";
            case "short" -> cls + ".C_SHORT";
            case "byte" -> cls + ".C_CHAR";
            case "ptr" -> cls + ".C_POINTER";
            default -> throw new IllegalArgumentException(t);
        };
    }

    static String header(String pkg, String cls, String library, List<Fn> fns, List<String> consts,
                         Map<String, String> probed, String source) {
        StringBuilder j = new StringBuilder();
        j.append("// Generated by native-bindings/gen/Jextractish.java from ").append(source)
                .append(". Do not edit: run `make bindings`.\n");
        j.append("package ").append(pkg).append(";\n\n");
        j.append("import java.lang.foreign.AddressLayout;\n");
        j.append("import java.lang.foreign.Arena;\n");
        j.append("import java.lang.foreign.FunctionDescriptor;\n");
        j.append("import java.lang.foreign.Linker;\n");
        j.append("import java.lang.foreign.MemoryLayout;\n");
        j.append("import java.lang.foreign.MemorySegment;\n");
        j.append("import java.lang.foreign.StructLayout;\n");
        j.append("import java.lang.foreign.SymbolLookup;\n");
        j.append("import java.lang.foreign.ValueLayout;\n");
        j.append("import java.lang.invoke.MethodHandle;\n");
        j.append("import java.lang.invoke.VarHandle;\n\n");
        j.append("@SuppressWarnings(\"unused\")\n");
        j.append("public final class ").append(cls).append(" {\n\n");
        j.append("    private ").append(cls).append("() {\n    }\n\n");
        j.append("    public static final ValueLayout.OfByte C_CHAR = ValueLayout.JAVA_BYTE;\n");
        j.append("    public static final ValueLayout.OfShort C_SHORT = ValueLayout.JAVA_SHORT;\n");
        j.append("    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;\n");
        j.append("    public static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;\n");
        j.append("    public static final AddressLayout C_POINTER = ValueLayout.ADDRESS\n");
        j.append("            .withTargetLayout(MemoryLayout.sequenceLayout(Long.MAX_VALUE, ValueLayout.JAVA_BYTE));\n\n");
        j.append("    /** Layout of the state captured after a call marked errno; read it with {@link #errno}. */\n");
        j.append("    public static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();\n");
        j.append("    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement(\"errno\"));\n\n");
        j.append("    /** The errno a call stored in {@code callState}. */\n");
        j.append("    public static int errno(MemorySegment callState) {\n");
        j.append("        return (int) ERRNO.get(callState, 0L);\n    }\n\n");
        j.append("    /** Library name the symbols are looked up in (\"default\": the C library). */\n");
        j.append("    public static final String LIBRARY = \"").append(library).append("\";\n\n");
        j.append("    // Loaded on first use so that a missing library is an error the caller can report,\n");
        j.append("    // not a failed class initialisation.\n");
        j.append("    private static final class Lookup {\n");
        if (library.equals("default")) {
            j.append("        static final SymbolLookup SYMBOLS = Linker.nativeLinker().defaultLookup();\n");
        } else {
            j.append("        static final SymbolLookup SYMBOLS = SymbolLookup.libraryLookup(LIBRARY, Arena.global());\n");
        }
        j.append("    }\n\n");
        j.append("    static MemorySegment findOrThrow(String symbol) {\n");
        j.append("        return Lookup.SYMBOLS.find(symbol)\n");
        j.append("                .orElseThrow(() -> new UnsatisfiedLinkError(\"unresolved symbol: \" + symbol + \" in \" + LIBRARY));\n");
        j.append("    }\n\n");
        j.append("    /** Loads the library and resolves every symbol now; throws what a first call would. */\n");
        j.append("    public static void ensureLinked() {\n");
        for (Fn f : fns) {
            j.append("        ").append(f.name()).append("$handle();\n");
        }
        j.append("    }\n\n");
        for (String k : consts) {
            long v = Long.parseLong(probed.get("const." + k));
            if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
                j.append("    public static final int ").append(k).append(" = ").append(v).append(";\n");
            } else {
                j.append("    public static final long ").append(k).append(" = ").append(v).append("L;\n");
            }
        }
        j.append('\n');
        for (Fn f : fns) {
            function(j, cls, f);
        }
        j.append("}\n");
        return j.toString();
    }

    static void function(StringBuilder j, String cls, Fn f) {
        StringBuilder desc = new StringBuilder();
        if (f.ret().equals("void")) {
            desc.append("FunctionDescriptor.ofVoid(");
        } else {
            desc.append("FunctionDescriptor.of(").append(layout(cls, f.ret()));
            if (!f.params().isEmpty()) {
                desc.append(", ");
            }
        }
        for (int i = 0; i < f.params().size(); i++) {
            desc.append(i > 0 ? ", " : "").append(layout(cls, f.params().get(i).type()));
        }
        desc.append(')');
        List<String> options = new ArrayList<>();
        if (f.firstVariadic() >= 0) {
            options.add("Linker.Option.firstVariadicArg(" + f.firstVariadic() + ")");
        }
        if (f.errno()) {
            options.add("Linker.Option.captureCallState(\"errno\")");
        }
        String n = f.name();
        j.append("    private static final class ").append(n).append(" {\n");
        j.append("        static final FunctionDescriptor DESC = ").append(desc).append(";\n");
        j.append("        static final MemorySegment ADDR = ").append(cls).append(".findOrThrow(\"").append(n).append("\");\n");
        j.append("        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC");
        for (String o : options) {
            j.append(", ").append(o);
        }
        j.append(");\n    }\n\n");
        j.append("    public static FunctionDescriptor ").append(n).append("$descriptor() {\n        return ")
                .append(n).append(".DESC;\n    }\n\n");
        j.append("    public static MethodHandle ").append(n).append("$handle() {\n        return ")
                .append(n).append(".HANDLE;\n    }\n\n");
        j.append("    public static MemorySegment ").append(n).append("$address() {\n        return ")
                .append(n).append(".ADDR;\n    }\n\n");
        StringBuilder sig = new StringBuilder();
        StringBuilder call = new StringBuilder();
        if (f.errno()) {
            sig.append("MemorySegment callState");
            call.append("callState");
        }
        for (Param p : f.params()) {
            if (!sig.isEmpty()) {
                sig.append(", ");
                call.append(", ");
            }
            sig.append(javaType(p.type())).append(' ').append(p.name());
            call.append(p.name());
        }
        String ret = javaType(f.ret());
        j.append("    /**\n     * {@snippet lang=c : ").append(f.ret()).append(' ').append(n).append("(");
        for (int i = 0; i < f.params().size(); i++) {
            j.append(i > 0 ? ", " : "").append(f.params().get(i).type()).append(' ').append(f.params().get(i).name());
        }
        j.append(") }\n");
        if (f.errno()) {
            j.append("     * {@code callState} is allocated with {@link #CALL_STATE}; read errno with {@link #errno}.\n");
        }
        j.append("     */\n");
        j.append("    public static ").append(ret).append(' ').append(n).append('(').append(sig).append(") {\n");
        j.append("        var mh$ = ").append(n).append(".HANDLE;\n");
        j.append("        try {\n");
        if (ret.equals("void")) {
            j.append("            mh$.invokeExact(").append(call).append(");\n");
        } else {
            j.append("            return (").append(ret).append(") mh$.invokeExact(").append(call).append(");\n");
        }
        j.append("        } catch (Throwable ex$) {\n");
        j.append("            throw new AssertionError(\"should not reach here\", ex$);\n");
        j.append("        }\n    }\n\n");
    }

    static String struct(String pkg, String cls, Struct s, Map<String, String> probed, String source) {
        StringBuilder j = new StringBuilder();
        j.append("// Generated by native-bindings/gen/Jextractish.java from ").append(source)
                .append(". Do not edit: run `make bindings`.\n");
        j.append("package ").append(pkg).append(";\n\n");
        j.append("import java.lang.foreign.MemorySegment;\n");
        j.append("import java.lang.foreign.SegmentAllocator;\n");
        j.append("import java.lang.foreign.ValueLayout;\n\n");
        j.append("/** {@code struct ").append(s.name()).append("}: the fields Ambit reads; offsets from the headers. */\n");
        j.append("@SuppressWarnings(\"unused\")\n");
        j.append("public final class ").append(s.name()).append(" {\n\n");
        j.append("    private ").append(s.name()).append("() {\n    }\n\n");
        j.append("    public static final long SIZEOF = ").append(probed.get("sizeof." + s.name())).append("L;\n\n");
        j.append("    /** A zeroed struct. */\n");
        j.append("    public static MemorySegment allocate(SegmentAllocator allocator) {\n");
        j.append("        return allocator.allocate(SIZEOF, 8);\n    }\n\n");
        for (Field f : s.fields()) {
            String off = f.name() + "$OFFSET";
            j.append("    public static final long ").append(off).append(" = ")
                    .append(probed.get("offset." + s.name() + "." + f.name())).append("L;\n\n");
            if (f.arrayLength() > 0) {
                j.append("    public static MemorySegment ").append(f.name()).append("(MemorySegment struct) {\n");
                j.append("        return struct.asSlice(").append(off).append(", ").append(f.arrayLength()).append(");\n    }\n\n");
                continue;
            }
            String jt = javaType(f.type());
            String vl = switch (f.type()) {
                case "int" -> "ValueLayout.JAVA_INT_UNALIGNED";
                case "long" -> "ValueLayout.JAVA_LONG_UNALIGNED";
                case "short" -> "ValueLayout.JAVA_SHORT_UNALIGNED";
                case "byte" -> "ValueLayout.JAVA_BYTE";
                default -> throw new IllegalArgumentException("field type " + f.type());
            };
            j.append("    public static ").append(jt).append(' ').append(f.name()).append("(MemorySegment struct) {\n");
            j.append("        return struct.get(").append(vl).append(", ").append(off).append(");\n    }\n\n");
            j.append("    public static void ").append(f.name()).append("(MemorySegment struct, ").append(jt).append(" value) {\n");
            j.append("        struct.set(").append(vl).append(", ").append(off).append(", value);\n    }\n\n");
        }
        j.append("}\n");
        return j.toString();
    }
}
