package dev.ambit.istiod.config;

import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;

/** A listener that queues what a source delivers: snapshots and rejections apart, for the tests to poll. */
final class Deliveries implements ConfigSource.Listener {

    final LinkedBlockingQueue<ConfigSnapshot> snapshots = new LinkedBlockingQueue<>();
    final LinkedBlockingQueue<List<ConfigError>> rejections = new LinkedBlockingQueue<>();

    @Override
    public void onSnapshot(ConfigSnapshot snapshot) {
        snapshots.add(snapshot);
    }

    @Override
    public void onRejected(List<ConfigError> errors) {
        rejections.add(errors);
    }
}
