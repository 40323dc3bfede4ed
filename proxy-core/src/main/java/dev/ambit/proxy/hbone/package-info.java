/**
 * HBONE, Istio's tunnel protocol: TCP connections carried as HTTP/2 {@code CONNECT}
 * streams over mutual TLS (port 15008).
 *
 * <ul>
 *   <li>{@link dev.ambit.proxy.hbone.HboneServer}: the receiving end; validates each
 *       {@code CONNECT}, asks an {@link dev.ambit.proxy.hbone.HboneDecider}, connects the
 *       upstream and relays.</li>
 *   <li>{@link dev.ambit.proxy.hbone.HboneClient}: opens a tunnel on an existing HTTP/2
 *       connection.</li>
 *   <li>{@link dev.ambit.proxy.net.HbonePool}: pooled client connections, one
 *       {@code CONNECT} stream per tunnel.</li>
 * </ul>
 *
 * The bytes of a tunnel are moved by {@link dev.ambit.proxy.net.Relay} (in {@code net}, next
 * to the TCP-to-TCP {@link dev.ambit.proxy.net.TcpRelay}).
 *
 * TLS, connection pooling and policy are the caller's; everything here runs on the
 * connection's event loop and never blocks.
 */
package dev.ambit.proxy.hbone;
