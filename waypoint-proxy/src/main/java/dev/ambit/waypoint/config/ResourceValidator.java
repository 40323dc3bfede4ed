package dev.ambit.waypoint.config;

import com.google.protobuf.Any;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Duration;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.CidrRange;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.route.v3.DirectResponseAction;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.QueryParameterMatcher;
import io.envoyproxy.envoy.config.route.v3.RedirectAction;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.envoyproxy.envoy.extensions.filters.common.fault.v3.FaultDelay;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.FaultAbort;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatchAndSubstitute;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Validates one xDS resource for the waypoint: every set field, walked with protobuf
 * reflection (inside {@code Any} typed configs too), must be one {@link FieldTable} lists,
 * and the values must make sense (regexes compile as RE2, weights, percentages, status
 * codes and ports in range, required parts present: Envoy's own constraints, which a
 * control plane that is not Envoy's may break). Unknown fields (a newer Envoy's) are
 * rejected too: protobuf would keep them aside and the waypoint would ignore them.
 *
 * <p>A problem reads {@code <Kind> <name>: <field path>: <reason>}, for example
 * {@code RouteConfiguration r: virtual_hosts[0].routes[2].route.hash_policy: not supported by this waypoint};
 * it is what the NACK's {@code error_detail} carries back to istiod-lite. Names referring to
 * other resources (an RDS name, a cluster) are not checked here: they may arrive later
 * (see {@link WaypointConfig}).
 */
public final class ResourceValidator {

    /** Enough to fix a resource in one round; a NACK listing a thousand fields helps nobody. */
    static final int MAX_PROBLEMS = 10;

    private final String resource;
    private final List<String> problems = new ArrayList<>();

    private ResourceValidator(String resource) {
        this.resource = resource;
    }

    /**
     * The problems of {@code message}, the resource named {@code name}; empty when the waypoint
     * can honour all of it.
     */
    public static List<String> validate(String name, Message message) {
        ResourceValidator v = new ResourceValidator(message.getDescriptorForType().getName() + " " + name);
        String own = ownName(message);
        if (own != null && !own.equals(name)) {
            v.problem(message instanceof io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment
                    ? "cluster_name" : "name", "\"" + own + "\" (expected: the resource name \"" + name + "\")");
        }
        v.walk(message, "");
        return List.copyOf(v.problems);
    }

    private static String ownName(Message m) {
        FieldDescriptor f = m.getDescriptorForType().findFieldByName("name");
        if (f == null) {
            f = m.getDescriptorForType().findFieldByName("cluster_name");
        }
        return f == null || f.getType() != FieldDescriptor.Type.STRING ? null : (String) m.getField(f);
    }

    // ---------------------------------------------------------------- the walk

    private void walk(Message m, String path) {
        Descriptor d = m.getDescriptorForType();
        if (d.getFullName().equals("google.protobuf.Duration")) {
            checkDuration((Duration) m, path);
            return;
        }
        if (FieldTable.LEAVES.contains(d.getFullName())) {
            return;
        }
        Set<String> honoured = FieldTable.FIELDS.get(d.getFullName());
        if (honoured == null) {
            problem(path, "type " + d.getFullName() + " not supported by this waypoint");
            return;
        }
        if (!m.getUnknownFields().asMap().isEmpty()) {
            problem(path, "unknown field number(s) " + m.getUnknownFields().asMap().keySet()
                    + " of " + d.getFullName() + " (newer than this waypoint)");
        }
        for (Map.Entry<FieldDescriptor, Object> e : m.getAllFields().entrySet()) {
            FieldDescriptor f = e.getKey();
            String fp = join(path, f.getName());
            if (!honoured.contains(f.getName())) {
                problem(fp, "not supported by this waypoint");
                continue;
            }
            if (f.getType() == FieldDescriptor.Type.ENUM) {
                List<?> values = f.isRepeated() ? (List<?>) e.getValue() : List.of(e.getValue());
                for (Object v : values) {
                    checkEnum(d, f, (EnumValueDescriptor) v, fp);
                }
            } else if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                if (f.isMapField()) {
                    for (Object o : (List<?>) e.getValue()) {
                        Message entry = (Message) o;
                        Descriptor ed = entry.getDescriptorForType();
                        String key = String.valueOf(entry.getField(ed.findFieldByName("key")));
                        Object value = entry.getField(ed.findFieldByName("value"));
                        if (value instanceof Message vm) {
                            child(m, f, key, vm, fp + "[\"" + key + "\"]");
                        }
                    }
                } else if (f.isRepeated()) {
                    List<?> list = (List<?>) e.getValue();
                    for (int i = 0; i < list.size(); i++) {
                        child(m, f, null, (Message) list.get(i), fp + "[" + i + "]");
                    }
                } else {
                    child(m, f, null, (Message) e.getValue(), fp);
                }
            }
            if (problems.size() >= MAX_PROBLEMS) {
                return;
            }
        }
        semantics(m, path);
    }

    private void child(Message parent, FieldDescriptor f, String key, Message value, String path) {
        if (value instanceof Any any) {
            typed(parent, f, key, any, path);
        } else {
            walk(value, path);
        }
    }

    /** An {@code Any}: its name (map key or the parent's {@code name}) chooses the one type it may hold. */
    private void typed(Message parent, FieldDescriptor f, String key, Any any, String path) {
        String site = parent.getDescriptorForType().getFullName() + "." + f.getName();
        Map<String, Message> known = FieldTable.ANY_SITES.get(site);
        if (known == null) {
            problem(path, "typed config not supported here by this waypoint");
            return;
        }
        String selector = key != null ? key : ownName(parent);
        Message type = known.get(selector);
        if (type == null) {
            problem(key != null ? path : join(parent(path), "name"), "\"" + selector
                    + "\" not supported by this waypoint (expected one of " + known.keySet() + ")");
            return;
        }
        String expected = FieldTable.typeUrl(type.getDescriptorForType());
        if (!any.getTypeUrl().equals(expected)) {
            problem(path, "@type " + any.getTypeUrl() + " not supported for \"" + selector + "\" (expected: "
                    + expected + ")");
            return;
        }
        try {
            walk(type.getParserForType().parseFrom(any.getValue()), path);
        } catch (InvalidProtocolBufferException e) {
            problem(path, "cannot parse " + expected + ": " + e.getMessage());
        }
    }

    private void checkEnum(Descriptor d, FieldDescriptor f, EnumValueDescriptor v, String path) {
        if (f.getEnumType().findValueByNumber(v.getNumber()) == null) {
            problem(path, "unknown value " + v.getNumber() + " of " + f.getEnumType().getFullName());
            return;
        }
        Set<String> allowed = FieldTable.ENUM_VALUES.get(d.getFullName() + "." + f.getName());
        if (allowed != null && !allowed.contains(v.getName())) {
            problem(path, v.getName() + " not supported by this waypoint (expected one of "
                    + new java.util.TreeSet<>(allowed) + ")");
        }
    }

    // ---------------------------------------------------------------- semantics

    /** Envoy's constraints (its protoc-gen-validate rules and config checks) on the fields honoured. */
    private void semantics(Message m, String path) {
        switch (m) {
            case io.envoyproxy.envoy.config.listener.v3.FilterChain c -> {
                // One terminal filter; a tcp_proxy may follow istio.stats (issue 19: TCP metric overrides).
                boolean stats = c.getFiltersCount() == 2 && c.getFilters(0).getName().equals("istio.stats")
                        && c.getFilters(1).getName().equals("envoy.filters.network.tcp_proxy");
                if (!stats && c.getFiltersCount() != 1) {
                    problem(join(path, "filters"), c.getFiltersCount() + " network filters (expected: exactly one of "
                            + "http_connection_manager, tcp_proxy; or istio.stats then tcp_proxy)");
                } else if (!stats && c.getFilters(0).getName().equals("istio.stats")) {
                    problem(join(path, "filters[0].name"), "istio.stats alone (expected: followed by "
                            + "envoy.filters.network.tcp_proxy)");
                }
            }
            case Filter f -> require(f.hasTypedConfig(), path, "typed_config");
            // jwt: a requirement naming no provider would fail every request at run time.
            case io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication j ->
                    dev.ambit.waypoint.http.jwt.JwtConfigChecks.check(j, path, this::problem);
            case SocketAddress a -> {
                if (Cidrs.literal(a.getAddress()) == null) {
                    problem(join(path, "address"), "\"" + a.getAddress() + "\" (expected: an IP address)");
                }
                if (a.getPortValue() < 1 || a.getPortValue() > 65535) {
                    problem(join(path, "port_value"), a.getPortValue() + " (expected: 1-65535)");
                }
            }
            case CidrRange r -> {
                InetAddress a = Cidrs.literal(r.getAddressPrefix());
                if (a == null) {
                    problem(join(path, "address_prefix"), "\"" + r.getAddressPrefix() + "\" (expected: an IP address)");
                } else if (r.hasPrefixLen() && r.getPrefixLen().getValue() > a.getAddress().length * 8) {
                    problem(join(path, "prefix_len"), r.getPrefixLen().getValue() + " (expected: 0-"
                            + a.getAddress().length * 8 + ")");
                }
            }
            case HttpConnectionManager h -> httpConnectionManager(h, path);
            // authz (issue 15): Envoy's required oneofs of the RBAC and ext_authz types.
            case io.envoyproxy.envoy.config.rbac.v3.Permission p -> require(
                    p.getRuleCase() != io.envoyproxy.envoy.config.rbac.v3.Permission.RuleCase.RULE_NOT_SET, path, "rule");
            case io.envoyproxy.envoy.config.rbac.v3.Principal p -> require(p.getIdentifierCase()
                    != io.envoyproxy.envoy.config.rbac.v3.Principal.IdentifierCase.IDENTIFIER_NOT_SET, path, "identifier");
            case io.envoyproxy.envoy.type.matcher.v3.PathMatcher p -> require(p.hasPath(), path, "path");
            case io.envoyproxy.envoy.type.matcher.v3.MetadataMatcher mm -> {
                notEmpty(mm.getFilter(), path, "filter");
                require(mm.getPathCount() > 0, path, "path");
                require(mm.hasValue(), path, "value");
            }
            case io.envoyproxy.envoy.type.matcher.v3.ValueMatcher v -> require(v.getMatchPatternCase()
                    != io.envoyproxy.envoy.type.matcher.v3.ValueMatcher.MatchPatternCase.MATCHPATTERN_NOT_SET, path,
                    "match_pattern");
            case io.envoyproxy.envoy.type.matcher.v3.ListMatcher l -> require(l.hasOneOf(), path, "one_of");
            case io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.ExtAuthz e ->
                    require(e.hasHttpService(), path, "http_service");
            case io.envoyproxy.envoy.config.core.v3.HttpUri u -> {
                notEmpty(u.getCluster(), path, "cluster");
                require(u.hasTimeout(), path, "timeout");
            }
            case Rds r -> {
                notEmpty(r.getRouteConfigName(), path, "route_config_name");
                require(r.hasConfigSource(), path, "config_source");
            }
            case io.envoyproxy.envoy.config.core.v3.ConfigSource s -> require(s.hasAds(), path, "ads");
            case HttpFilter f -> require(f.hasTypedConfig(), path, "typed_config");
            case TcpProxy t -> {
                notEmpty(t.getStatPrefix(), path, "stat_prefix");
                notEmpty(t.getCluster(), path, "cluster");
            }
            case FaultDelay fd -> require(fd.hasFixedDelay(), path, "fixed_delay");
            case FaultAbort fa -> {
                if (fa.getHttpStatus() < 200 || fa.getHttpStatus() > 599) {
                    problem(join(path, "http_status"), fa.getHttpStatus() + " (expected: 200-599)");
                }
            }
            case FractionalPercent p -> {
                long max = switch (p.getDenominator()) {
                    case HUNDRED -> 100;
                    case TEN_THOUSAND -> 10_000;
                    case MILLION -> 1_000_000;
                    default -> Long.MAX_VALUE;
                };
                if (Integer.toUnsignedLong(p.getNumerator()) > max) {
                    problem(join(path, "numerator"), Integer.toUnsignedLong(p.getNumerator()) + " (expected: 0-" + max
                            + " for denominator " + p.getDenominator() + ")");
                }
            }
            case io.envoyproxy.envoy.config.core.v3.RuntimeFractionalPercent r ->
                    require(r.hasDefaultValue(), path, "default_value");
            case RouteConfiguration rc -> uniqueDomains(rc);
            case VirtualHost vh -> {
                notEmpty(vh.getName(), path, "name");
                if (vh.getDomainsCount() == 0) {
                    problem(join(path, "domains"), "empty (expected: at least one, e.g. \"*\")");
                }
            }
            case Route r -> route(r, path);
            case RouteMatch rm -> {
                if (rm.getPathSpecifierCase() == RouteMatch.PathSpecifierCase.PATHSPECIFIER_NOT_SET) {
                    problem(path, "no path match (expected: prefix, path or safe_regex)");
                }
            }
            case HeaderMatcher h -> notEmpty(h.getName(), path, "name");
            case QueryParameterMatcher q -> notEmpty(q.getName(), path, "name");
            case StringMatcher s -> stringMatcher(s, path);
            case RegexMatcher r -> {
                String error = Regexes.check(r.getRegex());
                if (error != null) {
                    problem(join(path, "regex"), "\"" + r.getRegex() + "\" is not a valid RE2 regex: " + error);
                }
            }
            case RegexMatchAndSubstitute r -> require(r.hasPattern(), path, "pattern");
            case RouteAction a -> {
                if (a.getClusterSpecifierCase() == RouteAction.ClusterSpecifierCase.CLUSTERSPECIFIER_NOT_SET) {
                    problem(path, "no cluster (expected: cluster or weighted_clusters)");
                } else if (a.getClusterSpecifierCase() == RouteAction.ClusterSpecifierCase.CLUSTER) {
                    notEmpty(a.getCluster(), path, "cluster");
                }
            }
            case WeightedCluster w -> weightedClusters(w, path);
            case RetryPolicy r -> retryPolicy(r, path);
            case RouteAction.RequestMirrorPolicy mp -> notEmpty(mp.getCluster(), path, "cluster");
            case RedirectAction r -> {
                if (r.getPortRedirect() > 65535) {
                    problem(join(path, "port_redirect"), r.getPortRedirect() + " (expected: 1-65535)");
                }
            }
            case DirectResponseAction d -> {
                if (d.getStatus() < 200 || d.getStatus() > 599) {
                    problem(join(path, "status"), d.getStatus() + " (expected: 200-599)");
                }
            }
            case HeaderValueOption h -> {
                require(h.hasHeader(), path, "header");
                if (h.hasHeader()) {
                    notEmpty(h.getHeader().getKey(), join(path, "header"), "key");
                }
            }
            case Cluster c -> cluster(c, path);
            case Cluster.EdsClusterConfig e -> require(e.hasEdsConfig(), path, "eds_config");
            case Cluster.RingHashLbConfig r -> LbValidation.ringHash(r, path, this::problem); // lb
            case Cluster.MaglevLbConfig ml -> LbValidation.maglev(ml, path, this::problem); // lb
            case RouteAction.HashPolicy h -> LbValidation.hashPolicy(h, path, this::problem); // lb
            case HttpProtocolOptions o -> {
                if (o.getUpstreamProtocolOptionsCase()
                        == HttpProtocolOptions.UpstreamProtocolOptionsCase.UPSTREAMPROTOCOLOPTIONS_NOT_SET) {
                    problem(path, "no upstream protocol (expected: explicit_http_config or use_downstream_protocol_config)");
                }
            }
            case LbEndpoint e -> require(e.hasEndpoint(), path, "endpoint");
            case io.envoyproxy.envoy.config.endpoint.v3.Endpoint e -> require(e.hasAddress(), path, "address");
            case io.envoyproxy.envoy.config.core.v3.Address a -> require(a.hasSocketAddress(), path, "socket_address");
            case Metadata md -> endpointMetadata(md, path);
            // Gateway mode (issue 16): TLS termination, SNI inspection, SDS secrets.
            case io.envoyproxy.envoy.config.core.v3.TransportSocket t -> require(t.hasTypedConfig(), path, "typed_config");
            case io.envoyproxy.envoy.config.listener.v3.ListenerFilter f -> {
                if (!FieldTable.Gateway.LISTENER_FILTERS.containsKey(f.getName())) {
                    problem(join(path, "name"), "\"" + f.getName() + "\" not supported by this waypoint (expected one of "
                            + FieldTable.Gateway.LISTENER_FILTERS.keySet() + ")");
                }
            }
            case io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext t ->
                    GatewayChecks.downstreamTls(t, path, this::problem);
            case io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig c -> {
                notEmpty(c.getName(), path, "name");
                require(c.hasSdsConfig(), path, "sds_config");
            }
            case io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret sec ->
                    GatewayChecks.secret(sec, path, this::problem);
            default -> TelemetryChecks.check(m, path, this::problem); // issue 19; else nothing beyond the field table
        }
    }

    private void httpConnectionManager(HttpConnectionManager h, String path) {
        notEmpty(h.getStatPrefix(), path, "stat_prefix");
        if (h.getXffNumTrustedHops() != 0) {
            // Gateway mode: the client is the TCP peer (Istio's default gatewayTopology); trusted hops are not implemented.
            problem(join(path, "xff_num_trusted_hops"), h.getXffNumTrustedHops() + " not supported by this waypoint "
                    + "(expected: 0)");
        }
        require(h.hasRds(), path, "rds");
        TelemetryChecks.connectionManager(h, path, this::problem); // issue 19: istio.stats, tracing
        if (h.getHttpFiltersCount() == 0) {
            problem(join(path, "http_filters"), "empty (expected: ending with envoy.filters.http.router)");
            return;
        }
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < h.getHttpFiltersCount(); i++) {
            String name = h.getHttpFilters(i).getName();
            boolean last = i == h.getHttpFiltersCount() - 1;
            // authz (issue 15): Istio lists envoy.filters.http.rbac once per action (DENY, ALLOW, AUDIT).
            if (!seen.add(name) && !name.equals("envoy.filters.http.rbac")) {
                problem(join(path, "http_filters[" + i + "].name"), name + " listed twice");
            }
            if (last != name.equals("envoy.filters.http.router")) {
                problem(join(path, "http_filters[" + i + "].name"), name + (last
                        ? " is last (expected: envoy.filters.http.router, the terminal filter)"
                        : " before the end (expected: envoy.filters.http.router only last)"));
            }
        }
    }

    private void route(Route r, String path) {
        require(r.hasMatch(), path, "match");
        if (r.getActionCase() == Route.ActionCase.ACTION_NOT_SET) {
            problem(path, "no action (expected: route, redirect or direct_response)");
        }
        // Envoy refuses these too: the router would rewrite pseudo-headers or the Host behind its back.
        checkHeaderNames(r.getRequestHeadersToAddList().stream().map(h -> h.getHeader().getKey()).toList(),
                join(path, "request_headers_to_add"), true);
        checkHeaderNames(r.getRequestHeadersToRemoveList(), join(path, "request_headers_to_remove"), true);
        checkHeaderNames(r.getResponseHeadersToAddList().stream().map(h -> h.getHeader().getKey()).toList(),
                join(path, "response_headers_to_add"), false);
        checkHeaderNames(r.getResponseHeadersToRemoveList(), join(path, "response_headers_to_remove"), false);
    }

    private void checkHeaderNames(List<String> names, String path, boolean request) {
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            if (n.isEmpty() || n.startsWith(":") || (request && n.equalsIgnoreCase("host"))) {
                problem(path + "[" + i + "]", "\"" + n + "\" cannot be changed (pseudo-headers and Host are the "
                        + "router's; use host_rewrite_literal)");
            }
        }
    }

    private void stringMatcher(StringMatcher s, String path) {
        switch (s.getMatchPatternCase()) {
            case MATCHPATTERN_NOT_SET -> problem(path, "no pattern (expected: exact, prefix, suffix or safe_regex)");
            case PREFIX -> notEmpty(s.getPrefix(), path, "prefix");
            case SUFFIX -> notEmpty(s.getSuffix(), path, "suffix");
            default -> {
                // exact may be empty (matches an empty value); safe_regex is checked as a RegexMatcher.
            }
        }
    }

    private void weightedClusters(WeightedCluster w, String path) {
        if (w.getClustersCount() == 0) {
            problem(join(path, "clusters"), "empty (expected: at least one cluster)");
            return;
        }
        long total = 0;
        for (int i = 0; i < w.getClustersCount(); i++) {
            WeightedCluster.ClusterWeight c = w.getClusters(i);
            notEmpty(c.getName(), path + ".clusters[" + i + "]", "name");
            total += Integer.toUnsignedLong(c.getWeight().getValue());
        }
        if (total == 0 || total > 0xFFFF_FFFFL) {
            problem(join(path, "clusters"), "weights sum to " + total + " (expected: 1-4294967295)");
        }
    }

    private void retryPolicy(RetryPolicy r, String path) {
        for (String condition : r.getRetryOn().split(",")) {
            String c = condition.strip();
            if (!c.isEmpty() && !FieldTable.RETRY_ON.contains(c)) {
                problem(join(path, "retry_on"), "\"" + c + "\" not supported by this waypoint (expected some of "
                        + new java.util.TreeSet<>(FieldTable.RETRY_ON) + ")");
            }
        }
        for (int i = 0; i < r.getRetriableStatusCodesCount(); i++) {
            int code = r.getRetriableStatusCodes(i);
            if (code < 100 || code > 599) {
                problem(join(path, "retriable_status_codes[" + i + "]"), code + " (expected: 100-599)");
            }
        }
        if (r.getHostSelectionRetryMaxAttempts() < 0) {
            problem(join(path, "host_selection_retry_max_attempts"), r.getHostSelectionRetryMaxAttempts()
                    + " (expected: >= 0)");
        }
    }

    private void cluster(Cluster c, String path) {
        Cluster.DiscoveryType type = c.getType();
        Cluster.LbPolicy lb = c.getLbPolicy();
        if (c.getClusterDiscoveryTypeCase() == Cluster.ClusterDiscoveryTypeCase.CLUSTERDISCOVERYTYPE_NOT_SET) {
            type = Cluster.DiscoveryType.STATIC; // Envoy's default, not one the waypoint has
        }
        if (type == Cluster.DiscoveryType.EDS) {
            require(c.hasEdsClusterConfig(), path, "eds_cluster_config");
            if (lb == Cluster.LbPolicy.CLUSTER_PROVIDED) {
                problem(join(path, "lb_policy"), "CLUSTER_PROVIDED (expected: ROUND_ROBIN or LEAST_REQUEST for EDS)");
            }
        } else if (type == Cluster.DiscoveryType.ORIGINAL_DST) {
            if (lb != Cluster.LbPolicy.CLUSTER_PROVIDED) {
                problem(join(path, "lb_policy"), lb + " (expected: CLUSTER_PROVIDED for ORIGINAL_DST)");
            }
            if (c.hasEdsClusterConfig()) {
                problem(join(path, "eds_cluster_config"), "set on an ORIGINAL_DST cluster (expected: only with EDS)");
            }
        } else if (c.getClusterDiscoveryTypeCase() == Cluster.ClusterDiscoveryTypeCase.CLUSTERDISCOVERYTYPE_NOT_SET) {
            problem(join(path, "type"), "not set, i.e. STATIC (expected: EDS or ORIGINAL_DST)");
        }
        if (c.hasConnectTimeout() && c.getConnectTimeout().getSeconds() == 0 && c.getConnectTimeout().getNanos() == 0) {
            problem(join(path, "connect_timeout"), "0s (expected: positive)");
        }
    }

    private void uniqueDomains(RouteConfiguration rc) {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < rc.getVirtualHostsCount(); i++) {
            VirtualHost vh = rc.getVirtualHosts(i);
            for (int j = 0; j < vh.getDomainsCount(); j++) {
                if (!seen.add(vh.getDomains(j).toLowerCase(java.util.Locale.ROOT))) {
                    problem("virtual_hosts[" + i + "].domains[" + j + "]", "\"" + vh.getDomains(j)
                            + "\" also in an earlier virtual host (expected: each domain once per route configuration)");
                }
            }
        }
    }

    private void endpointMetadata(Metadata md, String path) {
        var tunnel = md.getFilterMetadataMap().get("envoy.transport_socket_match");
        if (md.getFilterMetadataMap().containsKey("envoy.filters.listener.original_dst") && (tunnel == null
                || !"http".equals(tunnel.getFieldsMap().getOrDefault("tunnel", Value.getDefaultInstance())
                .getStringValue()))) {
            problem(join(path, "filter_metadata") + "[\"envoy.filters.listener.original_dst\"]", "a tunnel destination "
                    + "without envoy.transport_socket_match tunnel: http (expected: only on HBONE endpoints)");
        }
        for (Map.Entry<String, Struct> e : md.getFilterMetadataMap().entrySet()) {
            String p = join(path, "filter_metadata") + "[\"" + e.getKey() + "\"]";
            Set<String> keys = FieldTable.ENDPOINT_METADATA.get(e.getKey());
            if (keys == null) {
                problem(p, "not supported by this waypoint (expected some of "
                        + new java.util.TreeSet<>(FieldTable.ENDPOINT_METADATA.keySet()) + ")");
                continue;
            }
            for (Map.Entry<String, Value> f : e.getValue().getFieldsMap().entrySet()) {
                if (!keys.contains(f.getKey())) {
                    problem(p + "." + f.getKey(), "not supported by this waypoint (expected some of " + keys + ")");
                } else if (f.getValue().getKindCase() != Value.KindCase.STRING_VALUE) {
                    problem(p + "." + f.getKey(), "not a string");
                } else if (f.getKey().equals("tunnel") && !f.getValue().getStringValue().equals("http")) {
                    problem(p + ".tunnel", "\"" + f.getValue().getStringValue() + "\" (expected: \"http\", HBONE)");
                } else if ((f.getKey().equals("local") || f.getKey().equals("waypoint"))
                        && dev.ambit.waypoint.upstream.UpstreamEndpoint.socketAddress(f.getValue().getStringValue())
                        == null) {
                    problem(p + "." + f.getKey(), "\"" + f.getValue().getStringValue()
                            + "\" (expected: IP:port, the tunnel's destination)");
                }
            }
        }
    }

    private void checkDuration(Duration d, String path) {
        if (d.getSeconds() < 0 || d.getNanos() < 0 || d.getNanos() > 999_999_999
                || d.getSeconds() > 315_576_000_000L) {
            problem(path, d.getSeconds() + "s " + d.getNanos() + "ns (expected: a non-negative duration)");
        }
    }

    // ---------------------------------------------------------------- helpers

    private void require(boolean present, String path, String field) {
        if (!present) {
            problem(join(path, field), "missing");
        }
    }

    private void notEmpty(String value, String path, String field) {
        if (value.isEmpty()) {
            problem(join(path, field), "empty (expected: a value)");
        }
    }

    private void problem(String path, String reason) {
        if (problems.size() < MAX_PROBLEMS) {
            problems.add(resource + ": " + (path.isEmpty() ? "(resource)" : path) + ": " + reason);
        }
    }

    static String join(String path, String field) {
        return path.isEmpty() ? field : path + "." + field;
    }

    /** The path of the message holding the last element of {@code path} ({@code a.b[0].c} → {@code a.b[0]}). */
    private static String parent(String path) {
        int dot = path.lastIndexOf('.');
        return dot < 0 ? "" : path.substring(0, dot);
    }
}
