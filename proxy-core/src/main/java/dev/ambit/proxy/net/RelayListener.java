package dev.ambit.proxy.net;

/** Told once how a {@link Relay} ended; runs on the relay's event loop, so keep it short. */
@FunctionalInterface
public interface RelayListener {

    RelayListener NOOP = result -> {};

    void relayEnded(RelayResult result);
}
