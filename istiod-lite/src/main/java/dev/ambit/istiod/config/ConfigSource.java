package dev.ambit.istiod.config;

import java.util.List;

/**
 * Where the mesh's configuration comes from. A source delivers complete snapshots; an
 * object that fails validation is reported and left out. A security object
 * (AuthorizationPolicy, PeerAuthentication) is replaced by its {@link FailClosed}
 * stand-in in {@link ConfigSnapshot#failClosed()}; for other kinds the last good version
 * (if any) stays in the snapshot until the input is fixed.
 */
public interface ConfigSource extends AutoCloseable {

    /** Receives snapshots and rejections, on the source's own thread. */
    interface Listener {
        /** The complete accepted configuration, after every change. */
        void onSnapshot(ConfigSnapshot snapshot);

        /**
         * The inputs currently rejected (empty once everything is fixed). Called when
         * the set changes, before the matching {@link #onSnapshot}.
         */
        void onRejected(List<ConfigError> errors);
    }

    /** Starts reading; the first snapshot is delivered before this returns. */
    void start(Listener listener) throws ConfigException;

    /** What this source reads, for logs: a folder path or a cluster URL. */
    String describe();

    @Override
    void close();
}
