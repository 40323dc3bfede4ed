package dev.ambit.ffi;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.libbpf.libbpf_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A BPF map by descriptor. Keys and values are memory segments laid out as the C
 * structs in {@code ebpf/}; their sizes are checked against the kernel's map so a
 * layout drift fails loudly instead of corrupting entries. Safe for concurrent use:
 * the kernel serialises map operations.
 */
public final class BpfMap implements AutoCloseable {

    private final NativeFd fd;
    private final Bpf.MapInfo info;

    private BpfMap(NativeFd fd, Bpf.MapInfo info) {
        this.fd = fd;
        this.info = info;
    }

    /** Opens the map pinned at {@code pin}. */
    public static BpfMap open(Path pin) {
        NativeFd fd = Bpf.open(pin);
        try {
            return new BpfMap(fd, Bpf.mapInfo(fd));
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    public Bpf.MapInfo info() {
        return info;
    }

    public NativeFd fd() {
        return fd;
    }

    /** Copies the value for {@code key} into {@code value}; false when there is no entry. */
    public boolean lookup(MemorySegment key, MemorySegment value) {
        return lookup(key, value, false);
    }

    /** Copies the value for {@code key} into {@code value} and removes the entry, atomically; false when absent. */
    public boolean lookupAndDelete(MemorySegment key, MemorySegment value) {
        return lookup(key, value, true);
    }

    private boolean lookup(MemorySegment key, MemorySegment value, boolean delete) {
        checkSizes(key, value);
        int rc = delete ? libbpf_h.bpf_map_lookup_and_delete_elem(fd.intValue(), key, value)
                : libbpf_h.bpf_map_lookup_elem(fd.intValue(), key, value);
        if (rc == -linux_h_ENOENT) {
            return false;
        }
        Bpf.check(rc, delete ? "look up and delete in map" : "look up in map", info.name());
        return true;
    }

    /** Sets {@code key} to {@code value}; {@code flags} is {@code BPF_ANY}, {@code BPF_NOEXIST} or {@code BPF_EXIST}. */
    public void update(MemorySegment key, MemorySegment value, int flags) {
        checkSizes(key, value);
        Bpf.check(libbpf_h.bpf_map_update_elem(fd.intValue(), key, value, flags), "update map", info.name());
    }

    /** Removes {@code key}; false when it was not there. */
    public boolean delete(MemorySegment key) {
        checkKey(key);
        int rc = libbpf_h.bpf_map_delete_elem(fd.intValue(), key);
        if (rc == -linux_h_ENOENT) {
            return false;
        }
        Bpf.check(rc, "delete from map", info.name());
        return true;
    }

    /** Every key, copied out. Entries changing meanwhile may be missed or seen twice, as with any BPF map walk. */
    public List<MemorySegment> keys(Arena arena) {
        requireNonNull(arena, "arena");
        List<MemorySegment> keys = new ArrayList<>();
        MemorySegment previous = MemorySegment.NULL;
        while (true) {
            MemorySegment next = arena.allocate(info.keySize(), 8);
            int rc = libbpf_h.bpf_map_get_next_key(fd.intValue(), previous, next);
            if (rc == -linux_h_ENOENT) {
                return keys;
            }
            Bpf.check(rc, "iterate map", info.name());
            keys.add(next);
            previous = next;
        }
    }

    private void checkKey(MemorySegment key) {
        if (key.byteSize() != info.keySize()) {
            throw new IllegalArgumentException("key size: " + key.byteSize() + " (expected: " + info.keySize()
                    + " for map " + info.name() + ")");
        }
    }

    private void checkSizes(MemorySegment key, MemorySegment value) {
        checkKey(key);
        if (value.byteSize() != info.valueSize()) {
            throw new IllegalArgumentException("value size: " + value.byteSize() + " (expected: " + info.valueSize()
                    + " for map " + info.name() + ")");
        }
    }

    @Override
    public void close() {
        fd.close();
    }

    @Override
    public String toString() {
        return "BpfMap{" + info.name() + ", id " + info.id() + '}';
    }

    private static final int linux_h_ENOENT = dev.ambit.ffi.linux.linux_h.ENOENT;
}
