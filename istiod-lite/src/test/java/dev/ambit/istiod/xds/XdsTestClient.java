package dev.ambit.istiod.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.Resource;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One delta ADS stream from the test's side, over the async stub: requests are sent from
 * the test thread, responses are queued and taken with bounded waits.
 */
public final class XdsTestClient implements AutoCloseable {

    /** Bound on every wait for something that should happen. */
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final Node node;
    private final BlockingQueue<DeltaDiscoveryResponse> responses = new LinkedBlockingQueue<>();
    private final CompletableFuture<Status> closed = new CompletableFuture<>();
    private final ClientCallStreamObserver<DeltaDiscoveryRequest> requests;
    private boolean nodeSent;

    private XdsTestClient(Channel channel, Node node, boolean reading) {
        this.node = node;
        requests = (ClientCallStreamObserver<DeltaDiscoveryRequest>) AggregatedDiscoveryServiceGrpc.newStub(channel)
                .deltaAggregatedResources(new ClientResponseObserver<DeltaDiscoveryRequest, DeltaDiscoveryResponse>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<DeltaDiscoveryRequest> stream) {
                        if (!reading) {
                            // Request no message: gRPC stops returning HTTP/2 window to the
                            // server, which then sees the call as not ready.
                            stream.disableAutoRequestWithInitial(0);
                        }
                    }

                    @Override
                    public void onNext(DeltaDiscoveryResponse response) {
                        responses.add(response);
                    }

                    @Override
                    public void onError(Throwable t) {
                        closed.complete(Status.fromThrowable(t));
                    }

                    @Override
                    public void onCompleted() {
                        closed.complete(Status.OK);
                    }
                });
    }

    /** A client that reads every response as it comes. */
    public static XdsTestClient connect(Channel channel, String nodeId) {
        return new XdsTestClient(channel, Node.newBuilder().setId(nodeId).setCluster("test").build(), true);
    }

    /** A client that reads every response and sends {@code node} (metadata and all) first. */
    public static XdsTestClient connect(Channel channel, Node node) {
        return new XdsTestClient(channel, node, true);
    }

    /** A client that reads nothing until {@link #startReading()}. */
    public static XdsTestClient connectWithoutReading(Channel channel, String nodeId) {
        return new XdsTestClient(channel, Node.newBuilder().setId(nodeId).setCluster("test").build(), false);
    }

    public void startReading() {
        requests.request(Integer.MAX_VALUE);
    }

    // ---- requests ----

    /** Sends a request; the first one of the stream carries the node. */
    public synchronized void send(DeltaDiscoveryRequest.Builder request) {
        if (!nodeSent) {
            request.setNode(node);
            nodeSent = true;
        }
        requests.onNext(request.build());
    }

    /** First request of a type naming nothing: the legacy wildcard. */
    public void subscribeAll(String typeUrl) {
        send(DeltaDiscoveryRequest.newBuilder().setTypeUrl(typeUrl));
    }

    public void subscribe(String typeUrl, String... names) {
        send(DeltaDiscoveryRequest.newBuilder().setTypeUrl(typeUrl).addAllResourceNamesSubscribe(List.of(names)));
    }

    public void unsubscribe(String typeUrl, String... names) {
        send(DeltaDiscoveryRequest.newBuilder().setTypeUrl(typeUrl).addAllResourceNamesUnsubscribe(List.of(names)));
    }

    /** First request of a new stream: wildcard, declaring what the client already holds. */
    public void resumeAll(String typeUrl, Map<String, String> held) {
        send(DeltaDiscoveryRequest.newBuilder().setTypeUrl(typeUrl).putAllInitialResourceVersions(held));
    }

    public void resume(String typeUrl, Map<String, String> held, String... names) {
        send(DeltaDiscoveryRequest.newBuilder().setTypeUrl(typeUrl)
                .addAllResourceNamesSubscribe(List.of(names))
                .putAllInitialResourceVersions(held));
    }

    public void ack(DeltaDiscoveryResponse response) {
        send(DeltaDiscoveryRequest.newBuilder().setTypeUrl(response.getTypeUrl())
                .setResponseNonce(response.getNonce()));
    }

    public void nack(DeltaDiscoveryResponse response, String message) {
        send(DeltaDiscoveryRequest.newBuilder().setTypeUrl(response.getTypeUrl())
                .setResponseNonce(response.getNonce())
                .setErrorDetail(com.google.rpc.Status.newBuilder()
                        .setCode(Status.Code.INVALID_ARGUMENT.value())
                        .setMessage(message)));
    }

    // ---- responses ----

    /** The next response; fails the test if none comes within {@link #TIMEOUT}. */
    public DeltaDiscoveryResponse next() {
        return next(TIMEOUT);
    }

    public DeltaDiscoveryResponse next(Duration timeout) {
        DeltaDiscoveryResponse response;
        try {
            response = responses.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted waiting for a response", e);
        }
        if (response == null) {
            fail("no response from the xDS server within " + timeout
                    + (closed.isDone() ? "; the stream ended with " + closed.join() : "; the stream is open"));
        }
        return response;
    }

    /** The next {@code count} responses, by type URL; fails on two of the same type. */
    public Map<String, DeltaDiscoveryResponse> nextByType(int count) {
        Map<String, DeltaDiscoveryResponse> byType = new TreeMap<>();
        for (int i = 0; i < count; i++) {
            DeltaDiscoveryResponse r = next();
            assertThat(byType.put(r.getTypeUrl(), r)).as("a second %s response", r.getTypeUrl()).isNull();
        }
        return byType;
    }

    /**
     * Asserts that nothing arrives for {@code quiet}. A negative can only be shown by
     * waiting; callers pair it with an ordering check where they can.
     */
    public void expectNothing(Duration quiet) {
        try {
            DeltaDiscoveryResponse unexpected = responses.poll(quiet.toNanos(), TimeUnit.NANOSECONDS);
            if (unexpected != null) {
                fail("expected no response for " + quiet + ", got " + describe(unexpected));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    /** How the stream ended; fails if it is still open after {@link #TIMEOUT}. */
    public Status awaitClosed() {
        try {
            return closed.get(TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError("stream still open after " + TIMEOUT);
        } catch (ExecutionException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    public boolean isClosed() {
        return closed.isDone();
    }

    @Override
    public void close() {
        if (!closed.isDone()) {
            requests.cancel("test done", null);
        }
    }

    // ---- reading responses ----

    /** Name → version of the resources in a response. */
    public static Map<String, String> versions(DeltaDiscoveryResponse response) {
        Map<String, String> versions = new TreeMap<>();
        for (Resource r : response.getResourcesList()) {
            assertThat(versions.put(r.getName(), r.getVersion())).as("resource %s twice in one response", r.getName())
                    .isNull();
        }
        return versions;
    }

    public static List<String> names(DeltaDiscoveryResponse response) {
        return new ArrayList<>(versions(response).keySet());
    }

    public static String describe(DeltaDiscoveryResponse r) {
        return r.getTypeUrl() + " nonce " + r.getNonce() + " resources " + versions(r).keySet() + " removed "
                + r.getRemovedResourcesList();
    }
}
