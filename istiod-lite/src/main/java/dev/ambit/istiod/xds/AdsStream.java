package dev.ambit.istiod.xds;

import io.grpc.Status;

/** What the service needs of an open ADS stream, delta ({@link XdsStream}) or state of the world ({@link SotwStream}). */
interface AdsStream {

    long id();

    /** A new snapshot is current: send the client what changed for it. Returns at once. */
    void snapshotPublished();

    /** Ends the stream with {@code status}; the client is expected to reconnect. */
    void shutdown(Status status);

    XdsDebugView.ClientView view();
}
