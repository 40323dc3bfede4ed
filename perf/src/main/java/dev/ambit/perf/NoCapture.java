package dev.ambit.perf;

import static java.util.Objects.requireNonNull;

import dev.ambit.testing.TestNetwork.Node;


/** The baseline: nothing attached, the client connects straight to the server. */
record NoCapture(Node pod) implements Capture {

    NoCapture {
        requireNonNull(pod, "pod");
    }

    @Override
    public String name() {
        return "none";
    }

    @Override
    public boolean intercepts() {
        return false;
    }

    @Override
    public void start() {
        // nothing to attach
    }

    @Override
    public Mismatches stop() {
        return Mismatches.NONE; // nothing attached, nothing resolved
    }
}
