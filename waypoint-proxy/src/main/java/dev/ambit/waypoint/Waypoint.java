package dev.ambit.waypoint;

/** The waypoint process: the one wiring class (flags, certificates, xDS, listeners, admin). */
public final class Waypoint {
    private Waypoint() {}

    public static void main(String[] args) {
        throw new UnsupportedOperationException("waypoint: not wired yet");
    }
}
