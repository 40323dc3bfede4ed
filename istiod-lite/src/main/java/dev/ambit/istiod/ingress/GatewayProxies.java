package dev.ambit.istiod.ingress;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.l7.GatewayContext;
import java.util.List;

/**
 * A source of gateway proxies: Istio {@code Gateway}s ({@link IstioGateways}), Gateway API
 * gateways of class {@code istio}. {@code L7Translator} asks each registered source once per
 * translation and turns every proxy into Envoy resources with {@link GatewayTranslator}.
 * Implementations are stateless or thread-safe; they report problems through {@code context}
 * and never throw on user input.
 */
@FunctionalInterface
public interface GatewayProxies {

    /** The proxies {@code config} defines; keys unique across sources (see {@link GatewayModel.Proxy#key()}). */
    List<GatewayModel.Proxy> proxies(ConfigSnapshot config, GatewayContext context);
}
