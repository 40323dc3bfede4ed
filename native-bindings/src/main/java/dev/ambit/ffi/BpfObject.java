package dev.ambit.ffi;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.libbpf.libbpf_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A BPF ELF object opened from memory with libbpf: its programs and maps, loaded into
 * the kernel on {@link #load()}. Programs and maps belong to the object and go away on
 * {@link #close()} unless pinned. Not thread-safe.
 */
public final class BpfObject implements AutoCloseable {

    private final String name;
    private final Arena arena;
    private MemorySegment obj;

    private BpfObject(String name, Arena arena, MemorySegment obj) {
        this.name = name;
        this.arena = arena;
        this.obj = obj;
    }

    /** Parses {@code elf} (a CO-RE object built by clang); nothing reaches the kernel yet. */
    public static BpfObject open(String name, byte[] elf) {
        requireNonNull(name, "name");
        requireNonNull(elf, "elf");
        Bpf.ensureAvailability();
        // libbpf reads the ELF in place until load, so the copy lives as long as the object.
        Arena arena = Arena.ofShared();
        try {
            MemorySegment buf = arena.allocate(elf.length, 8);
            buf.copyFrom(MemorySegment.ofArray(elf));
            MemorySegment state = arena.allocate(libbpf_h.CALL_STATE);
            MemorySegment obj = libbpf_h.bpf_object__open_mem(state, buf, elf.length, MemorySegment.NULL);
            if (obj.equals(MemorySegment.NULL)) {
                throw new NativeException("open BPF object", name, libbpf_h.errno(state), LibbpfLog.recentWarnings());
            }
            return new BpfObject(name, arena, obj);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    public String name() {
        return name;
    }

    /** Names of the programs in the object, in ELF order. */
    public List<String> programNames() {
        List<String> names = new ArrayList<>();
        for (MemorySegment p = libbpf_h.bpf_object__next_program(obj(), MemorySegment.NULL);
             !p.equals(MemorySegment.NULL); p = libbpf_h.bpf_object__next_program(obj(), p)) {
            names.add(libbpf_h.bpf_program__name(p).getString(0));
        }
        return names;
    }

    /** Names of the maps the object defines (including libbpf's internal .rodata/.bss maps). */
    public List<String> mapNames() {
        List<String> names = new ArrayList<>();
        for (MemorySegment m = libbpf_h.bpf_object__next_map(obj(), MemorySegment.NULL);
             !m.equals(MemorySegment.NULL); m = libbpf_h.bpf_object__next_map(obj(), m)) {
            names.add(libbpf_h.bpf_map__name(m).getString(0));
        }
        return names;
    }

    /** The {@code BPF_PROG_TYPE_*} of a program, from its ELF section. */
    public int programType(String program) {
        return libbpf_h.bpf_program__type(program(program));
    }

    /**
     * Makes {@link #load()} reuse the map pinned at {@code pin} if there is one (and it
     * is compatible), or create and pin it there.
     */
    public void setPinPath(String map, Path pin) {
        try (Arena a = Arena.ofConfined()) {
            Bpf.check(libbpf_h.bpf_map__set_pin_path(map(map), a.allocateFrom(pin.toString())),
                    "set pin path " + pin + " of map", map);
        }
    }

    /** Creates the maps and loads every program into the kernel (the verifier runs here). */
    public void load() {
        LibbpfLog.recentWarnings(); // drop unrelated messages, keep only this load's
        Bpf.check(libbpf_h.bpf_object__load(obj()), "load BPF object", name);
    }

    /** Pins a loaded program; it stays loaded after this object and process are gone. */
    public void pinProgram(String program, Path pin) {
        try (Arena a = Arena.ofConfined()) {
            Bpf.check(libbpf_h.bpf_program__pin(program(program), a.allocateFrom(pin.toString())),
                    "pin program " + program + " of " + name + " at", pin.toString());
        }
    }

    /** The loaded program's descriptor, owned by this object (do not close it). */
    public int programFd(String program) {
        return Bpf.check(libbpf_h.bpf_program__fd(program(program)), "get fd of program", program);
    }

    private MemorySegment program(String program) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = libbpf_h.bpf_object__find_program_by_name(obj(), a.allocateFrom(program));
            if (p.equals(MemorySegment.NULL)) {
                throw new IllegalArgumentException("program: " + program + " (expected one of " + programNames()
                        + " in " + name + ")");
            }
            return p;
        }
    }

    private MemorySegment map(String map) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = libbpf_h.bpf_object__find_map_by_name(obj(), a.allocateFrom(map));
            if (m.equals(MemorySegment.NULL)) {
                throw new IllegalArgumentException("map: " + map + " (expected one of " + mapNames() + " in "
                        + name + ")");
            }
            return m;
        }
    }

    private MemorySegment obj() {
        if (obj == null) {
            throw new IllegalStateException("BPF object " + name + " is closed");
        }
        return obj;
    }

    /** Closes the object: unpinned programs and maps are unloaded. */
    @Override
    public void close() {
        if (obj != null) {
            libbpf_h.bpf_object__close(obj);
            obj = null;
            arena.close();
        }
    }
}
