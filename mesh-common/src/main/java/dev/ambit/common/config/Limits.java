package dev.ambit.common.config;

/**
 * The size limits every stage of the configuration path enforces, defined once so that
 * nothing one stage accepts is dropped by a later one ({@code ambitctl local apply} → the
 * local controller → istiod-lite's folder or Kubernetes source → xDS → the proxies).
 *
 * <p>The figures follow Kubernetes: the API server refuses a request body over 3 MiB and
 * etcd an object over 1.5 MiB ({@code --max-request-bytes}), so a cluster never holds an
 * object larger than {@link #MAX_OBJECT_BYTES}. Each later stage allows at least as much
 * as the stage before it, so the only place an oversized object is refused is the first
 * one, with the limit named.
 */
public final class Limits {

    /** The largest single object (one YAML or JSON document) any stage accepts: 1.5 MiB, etcd's default. */
    public static final int MAX_OBJECT_BYTES = 1536 * 1024;

    /** The largest manifest file a folder reader parses: 3 MiB, the API server's request body limit. */
    public static final int MAX_FILE_BYTES = 3 * 1024 * 1024;

    /**
     * The largest gRPC message a control-plane client or server accepts (xDS responses,
     * ACK/NACK requests, CA calls): room for the largest objects translated together in
     * one delta response.
     */
    public static final int MAX_GRPC_MESSAGE_BYTES = 256 * 1024 * 1024;

    private Limits() {
    }

    /** {@code "<what> is N bytes, over the limit of M bytes (<why>)"}: the message every stage uses. */
    public static String overLimit(String what, long bytes, long limit, String why) {
        return what + " is " + bytes + " bytes, over the limit of " + limit + " bytes (" + why + ")";
    }
}
