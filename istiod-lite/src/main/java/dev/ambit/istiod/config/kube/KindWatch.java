package dev.ambit.istiod.config.kube;

import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.util.concurrent.CompletableFuture;

/** One kind's informer, or none while the cluster does not serve the kind. Guarded by the source's lock. */
final class KindWatch {
    final Kind kind;
    final String version;
    /** Completes once the kind has been listed or found absent; never exceptionally. */
    final CompletableFuture<Void> ready = new CompletableFuture<>();
    SharedIndexInformer<? extends HasMetadata> informer;
    boolean absent;
    boolean probing;
    volatile String lastError;

    KindWatch(Kind kind, String version) {
        this.kind = kind;
        this.version = version;
    }

    String apiVersion() {
        return kind.group().isEmpty() ? version : kind.group() + "/" + version;
    }
}
