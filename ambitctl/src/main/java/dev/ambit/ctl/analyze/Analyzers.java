package dev.ambit.ctl.analyze;

import java.util.List;

/** Every analyzer {@code ambitctl analyze} runs, in the order they report. */
final class Analyzers {

    static final List<Analyzer> ALL = List.of(new SchemaAnalyzer(), new RouteAnalyzer(), new WaypointAnalyzer(),
            new AuthorizationPolicyAnalyzer(), new PeerAuthenticationAnalyzer(), new GatewayCredentialAnalyzer());

    private Analyzers() {
    }
}
