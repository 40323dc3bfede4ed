package dev.ambit.ffi;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.libbpf.bpf_map_info;
import dev.ambit.ffi.libbpf.bpf_prog_info;
import dev.ambit.ffi.libbpf.libbpf_h;
import dev.ambit.ffi.linux.linux_h;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * libbpf by file descriptor: pins, links, program queries and feature probes. This is
 * what a restarted agent works with, since it re-opens pinned objects instead of
 * loading them again. Object files are in {@link BpfObject}, maps in {@link BpfMap}.
 */
public final class Bpf {

    private static final Availability AVAILABILITY = Availability.check("libbpf (" + libbpf_h.LIBRARY + ")", () -> {
        libbpf_h.ensureLinked();
        linux_h.ensureLinked();
        installLogger();
    });

    /** Identity of a loaded program: kernel id, type and (truncated to 15 chars) name. */
    public record ProgramInfo(int id, int type, String name) {}

    /** Identity of a map. */
    public record MapInfo(int id, int type, String name, int keySize, int valueSize, int maxEntries) {}

    private Bpf() {
    }

    public static boolean isAvailable() {
        return AVAILABILITY.isAvailable();
    }

    public static Throwable unavailabilityCause() {
        return AVAILABILITY.cause();
    }

    public static void ensureAvailability() {
        AVAILABILITY.ensure();
    }

    /** {@code "1.1"}. */
    public static String libbpfVersion() {
        ensureAvailability();
        return libbpf_h.libbpf_major_version() + "." + libbpf_h.libbpf_minor_version();
    }

    /** True when the running kernel can load programs of this {@code BPF_PROG_TYPE_*}. */
    public static boolean probeProgramType(int progType) {
        ensureAvailability();
        return libbpf_h.libbpf_probe_bpf_prog_type(progType, MemorySegment.NULL) > 0;
    }

    /** True when the running kernel can create maps of this {@code BPF_MAP_TYPE_*}. */
    public static boolean probeMapType(int mapType) {
        ensureAvailability();
        return libbpf_h.libbpf_probe_bpf_map_type(mapType, MemorySegment.NULL) > 0;
    }

    /** Opens a pinned object (program, map or link). */
    public static NativeFd open(Path pin) {
        requireNonNull(pin, "pin");
        ensureAvailability();
        try (Arena arena = Arena.ofConfined()) {
            int fd = libbpf_h.bpf_obj_get(arena.allocateFrom(pin.toString()));
            check(fd, "open pinned BPF object", pin.toString());
            return new NativeFd(fd, pin.toString());
        }
    }

    /** Pins {@code fd} at {@code path} on bpffs; the object lives on after the process exits. */
    public static void pin(NativeFd fd, Path path) {
        try (Arena arena = Arena.ofConfined()) {
            check(libbpf_h.bpf_obj_pin(fd.intValue(), arena.allocateFrom(path.toString())),
                    "pin " + fd.description() + " at", path.toString());
        }
    }

    /**
     * Attaches a program to a target ({@code target} is a cgroup directory or a network
     * namespace file) as a BPF link. The link stays attached while its descriptor or a
     * pin of it exists.
     */
    public static NativeFd createLink(NativeFd program, NativeFd target, int attachType) {
        int fd = check(libbpf_h.bpf_link_create(program.intValue(), target.intValue(), attachType, MemorySegment.NULL),
                "attach " + program.description() + " to", target.description());
        return new NativeFd(fd, "link of " + program.description() + " on " + target.description());
    }

    /** Detaches the link from its target now, whoever else holds it. */
    public static void detachLink(NativeFd link) {
        check(libbpf_h.bpf_link_detach(link.intValue()), "detach link", link.description());
    }

    /** Replaces the program a link runs, atomically. */
    public static void updateLink(NativeFd link, NativeFd program) {
        check(libbpf_h.bpf_link_update(link.intValue(), program.intValue(), MemorySegment.NULL),
                "update link " + link.description() + " to", program.description());
    }

    /** Ids of the programs attached to {@code target} for {@code attachType}. */
    public static int[] attachedPrograms(NativeFd target, int attachType) {
        try (Arena arena = Arena.ofConfined()) {
            int capacity = 64;
            MemorySegment flags = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment ids = arena.allocate(ValueLayout.JAVA_INT, capacity);
            MemorySegment count = arena.allocateFrom(ValueLayout.JAVA_INT, capacity);
            check(libbpf_h.bpf_prog_query(target.intValue(), attachType, 0, flags, ids, count),
                    "query programs attached to", target.description());
            return ids.asSlice(0, 4L * count.get(ValueLayout.JAVA_INT, 0)).toArray(ValueLayout.JAVA_INT);
        }
    }

    public static ProgramInfo programInfo(NativeFd program) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = bpf_prog_info.allocate(arena);
            info(program, info, bpf_prog_info.SIZEOF, arena);
            return new ProgramInfo(bpf_prog_info.id(info), bpf_prog_info.type(info),
                    bpf_prog_info.name(info).getString(0));
        }
    }

    public static MapInfo mapInfo(NativeFd map) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = bpf_map_info.allocate(arena);
            info(map, info, bpf_map_info.SIZEOF, arena);
            return new MapInfo(bpf_map_info.id(info), bpf_map_info.type(info), bpf_map_info.name(info).getString(0),
                    bpf_map_info.key_size(info), bpf_map_info.value_size(info), bpf_map_info.max_entries(info));
        }
    }

    /** Every program loaded in the kernel whose name starts with {@code prefix}. */
    public static List<ProgramInfo> loadedPrograms(String prefix) {
        ensureAvailability();
        List<ProgramInfo> found = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment next = arena.allocate(ValueLayout.JAVA_INT);
            int id = 0;
            while (libbpf_h.bpf_prog_get_next_id(id, next) == 0) {
                id = next.get(ValueLayout.JAVA_INT, 0);
                int fd = libbpf_h.bpf_prog_get_fd_by_id(id);
                if (fd < 0) {
                    continue; // unloaded meanwhile
                }
                try (NativeFd prog = new NativeFd(fd, "program " + id)) {
                    ProgramInfo p = programInfo(prog);
                    if (p.name().startsWith(prefix)) {
                        found.add(p);
                    }
                }
            }
        }
        return found;
    }

    private static void info(NativeFd fd, MemorySegment info, long size, Arena arena) {
        MemorySegment len = arena.allocateFrom(ValueLayout.JAVA_INT, (int) size);
        check(libbpf_h.bpf_obj_get_info_by_fd(fd.intValue(), info, len), "read info of", fd.description());
    }

    /**
     * libbpf 1.x returns {@code -errno} from int functions: turn that into an exception
     * naming the step and object, or return the non-negative result.
     */
    static int check(int rc, String operation, String object) {
        if (rc < 0) {
            throw new NativeException(operation, object, -rc, LibbpfLog.recentWarnings());
        }
        LibbpfLog.clear(); // what libbpf said belongs to this successful call: attach it to no later failure
        return rc;
    }

    // libbpf prints through a callback; send it to System.Logger and keep the last
    // warnings of this thread so that a load failure can show what the verifier said.
    private static void installLogger() {
        if (!"amd64".equals(System.getProperty("os.arch")) && !"x86_64".equals(System.getProperty("os.arch"))) {
            return; // va_list is a pointer only on x86_64; elsewhere keep libbpf's stderr output
        }
        try {
            MemorySegment stub = Linker.nativeLinker().upcallStub(
                    MethodHandles.lookup().findStatic(LibbpfLog.class, "print",
                            MethodType.methodType(int.class, int.class, MemorySegment.class, MemorySegment.class)),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                            ValueLayout.ADDRESS),
                    Arena.global());
            libbpf_h.libbpf_set_print(stub);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }
}
