package dev.ambit.proxy.admin;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.json.JsonWriter;
import dev.ambit.proxy.admin.AdminServer.Section;
import dev.ambit.proxy.health.EndpointHealth;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.xds.XdsClient;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * The {@code /config_dump} sections of what proxy-core holds, for any proxy to register on
 * its {@link AdminServer} under the names it likes (the node agent's: {@code generation},
 * {@code workloads}, {@code services}, {@code policies}, {@code certificates},
 * {@code endpoints}, {@code xds}). Each reads the live object on every request.
 *
 * <p>Resources are printed as their protobuf JSON (camelCase fields, enum names, bytes fields
 * such as addresses in base64, fields at their default included) in maps sorted by key, so
 * two dumps of the same state diff cleanly.
 *
 * <pre>{@code
 * AdminServer.builder()
 *         .section("workloads", ConfigDumpSections.workloads(state))
 *         .section("certificates", ConfigDumpSections.certificates(manager))
 *         .section("xds", ConfigDumpSections.xds(xdsClient));
 * }</pre>
 */
public final class ConfigDumpSections {

    /**
     * Prints default values too: without them enum zeros (scope GLOBAL, status HEALTHY) and
     * empty lists vanish from the dump, which reads as "not set" to whoever is debugging.
     */
    private static final JsonFormat.Printer PROTO_JSON =
            JsonFormat.printer().alwaysPrintFieldsWithNoPresence().omittingInsignificantWhitespace();

    /** What the {@link #xds} section shows of the xDS client; a snapshot. */
    public record XdsStatus(boolean connected, boolean synced, String lastNack) {
        public XdsStatus {
            requireNonNull(lastNack, "lastNack");
        }

        /** The current status of {@code client}. */
        public static XdsStatus of(XdsClient client) {
            return new XdsStatus(client.isConnected(), client.isSynced(), client.lastNack());
        }
    }

    private ConfigDumpSections() {}

    /** The state's generation (a number that grows with every applied change). */
    public static Section generation(ProxyState state) {
        requireNonNull(state, "state");
        return json -> json.value(state.generation());
    }

    /** The workloads by uid. */
    public static Section workloads(ProxyState state) {
        requireNonNull(state, "state");
        return json -> {
            TreeMap<String, Workload> workloads = new TreeMap<>();
            state.workloads().forEach(w -> workloads.put(w.getUid(), w));
            protoMap(json, workloads);
        };
    }

    /** The services by {@code <namespace>/<hostname>}. */
    public static Section services(ProxyState state) {
        requireNonNull(state, "state");
        return json -> {
            TreeMap<String, Service> services = new TreeMap<>();
            state.services().forEach(s -> services.put(ProxyState.serviceKey(s), s));
            protoMap(json, services);
        };
    }

    /** The authorization policies by {@code <namespace>/<name>}. */
    public static Section policies(ProxyState state) {
        requireNonNull(state, "state");
        return json -> {
            TreeMap<String, Authorization> policies = new TreeMap<>();
            state.policies().forEach(p -> policies.put(p.getNamespace() + "/" + p.getName(), p));
            protoMap(json, policies);
        };
    }

    /** {@link #certificates(CertificateManager, Clock)} on the system clock. */
    public static Section certificates(CertificateManager manager) {
        return certificates(manager, Clock.systemUTC());
    }

    /**
     * One object per identity {@code manager} tracks, sorted by SPIFFE URI: its
     * {@code identity} and {@code state}, {@code pending} while it has no valid certificate
     * (first fetch or renewal still failing) or {@code valid} with the certificate's
     * {@code serial} (hex), {@code notBefore}, {@code notAfter}, {@code secondsToExpiry} (by
     * {@code clock}) and {@code chainLength}.
     */
    public static Section certificates(CertificateManager manager, Clock clock) {
        requireNonNull(manager, "manager");
        requireNonNull(clock, "clock");
        return json -> {
            json.open('[');
            List<SpiffeId> ids = new ArrayList<>(manager.identities());
            ids.sort(Comparator.comparing(SpiffeId::uri));
            for (SpiffeId id : ids) {
                json.open('{').key("identity").value(id.uri());
                Optional<WorkloadCertificate> current = manager.current(id);
                if (current.isEmpty()) {
                    json.key("state").value("pending");
                } else {
                    WorkloadCertificate c = current.get();
                    json.key("state").value("valid")
                            .key("serial").value(c.serialNumber().toString(16))
                            .key("notBefore").value(c.notBefore().toString())
                            .key("notAfter").value(c.notAfter().toString())
                            .key("secondsToExpiry").value(
                                    Math.max(0, Duration.between(clock.instant(), c.notAfter()).toSeconds()))
                            .key("chainLength").value(c.chain().size());
                }
                json.close('}');
            }
            json.close(']');
        };
    }

    /** {@code client}'s connection state ({@link #xds(Supplier)}). */
    public static Section xds(XdsClient client) {
        requireNonNull(client, "client");
        return xds(() -> XdsStatus.of(client));
    }

    /** The xDS connection state {@code status} reports: {@code connected}, {@code synced}, {@code lastNack}. */
    public static Section xds(Supplier<XdsStatus> status) {
        requireNonNull(status, "status");
        return json -> {
            XdsStatus s = status.get();
            json.open('{')
                    .key("connected").value(s.connected())
                    .key("synced").value(s.synced())
                    .key("lastNack").value(s.lastNack())
                    .close('}');
        };
    }

    /**
     * The passive health of the outbound endpoints: each tracked endpoint's {@code address},
     * {@code workload}, {@code state} ({@code healthy} or {@code ejected}) and counts
     * ({@link EndpointHealth#writeJson}).
     */
    public static Section endpoints(EndpointHealth health) {
        requireNonNull(health, "health");
        return health::writeJson;
    }

    private static void protoMap(JsonWriter json, Map<String, ? extends MessageOrBuilder> resources)
            throws InvalidProtocolBufferException {
        json.open('{');
        for (Map.Entry<String, ? extends MessageOrBuilder> e : resources.entrySet()) {
            json.key(e.getKey()).raw(PROTO_JSON.print(e.getValue()));
        }
        json.close('}');
    }
}
