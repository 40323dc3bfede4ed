package dev.ambit.agent.redirect;

import dev.ambit.ffi.Bpf;

/**
 * What the kernel can do, asked before anything is loaded so that a missing feature is
 * reported by name and leaves nothing behind.
 */
interface KernelFeatures {

    boolean supportsProgramType(int bpfProgType);

    boolean supportsMapType(int bpfMapType);

    /** Asks the running kernel (libbpf's probes). */
    static KernelFeatures running() {
        return new KernelFeatures() {
            @Override
            public boolean supportsProgramType(int bpfProgType) {
                return Bpf.probeProgramType(bpfProgType);
            }

            @Override
            public boolean supportsMapType(int bpfMapType) {
                return Bpf.probeMapType(bpfMapType);
            }
        };
    }
}
