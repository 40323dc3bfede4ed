package dev.ambit.proxy.net;

import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.identity.WorkloadCertificate;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.concurrent.Promise;

/**
 * A tunnel asked of an {@link HbonePool}: from {@code network}'s pod, presenting
 * {@code certificate}, for {@code request}; {@code promise} receives the stream.
 */
record Waiter(SocketFactory network, WorkloadCertificate certificate, HboneRequest request,
              Promise<Http2StreamChannel> promise) {}
