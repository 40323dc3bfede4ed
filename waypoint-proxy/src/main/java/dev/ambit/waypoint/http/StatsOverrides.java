package dev.ambit.waypoint.http;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.ambit.api.telemetry.MetricConfig;
import dev.ambit.api.telemetry.StatsConfig;
import dev.ambit.common.expr.Attributes;
import dev.ambit.common.expr.Expression;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import dev.ambit.proxy.telemetry.TcpTelemetry;
import io.envoyproxy.envoy.config.accesslog.v3.AccessLog;
import io.envoyproxy.envoy.extensions.access_loggers.file.v3.FileAccessLog;
import io.envoyproxy.envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * One HTTP connection manager's telemetry settings (issue 19, CONTRACT seam T2), compiled once
 * per HCM: the {@code istio.stats} filter's {@link StatsConfig} (a metric dropped; standard labels
 * removed or given the value of an attribute expression) and the {@code access_log} entries with
 * their expression filters. A removed label is reported with an empty value, which Prometheus
 * treats as the label being absent; a label Istio's metrics do not have is added after theirs
 * (as Istio's {@code tagOverrides} add one, e.g. {@code custom_label}). A TCP chain's
 * {@code istio.stats} network filter is compiled the same way ({@link #of(StatsConfig)}) and applied
 * to Istio's TCP metrics per connection ({@link #tcp}). Immutable.
 */
public final class StatsOverrides {

    /** The HTTP filter name of the stats configuration. */
    static final String FILTER = "istio.stats";

    /** Istio's standard metrics as the stats filter names them (no {@code istio_} prefix). */
    static final Set<String> METRICS = Set.of("requests_total", "request_duration_milliseconds", "request_bytes",
            "response_bytes", "tcp_connections_opened_total", "tcp_connections_closed_total", "tcp_sent_bytes_total",
            "tcp_received_bytes_total", "request_messages_total", "response_messages_total");

    /** Settings of an HCM without telemetry configuration: Istio's metrics unchanged, no access log. */
    static final StatsOverrides NONE = new StatsOverrides(Map.of(), List.of());

    /** What changes for one metric: standard labels by index (null = removed), labels added by name. */
    private record Change(boolean drop, Map<Integer, Expression> dimensions, Map<String, Expression> added) {
        boolean relabels() {
            return !dimensions.isEmpty() || !added.isEmpty();
        }
    }

    /** A metric's label values: the standard ones and the added ones (names sorted). */
    record Labels(String[] values, String[] extraNames, String[] extraValues) {
    }

    private static final String[] NO_NAMES = new String[0];
    private static final java.util.regex.Pattern LABEL = java.util.regex.Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");

    private final Map<String, Change> changes; // metric → change; "" = all metrics
    private final List<LogEntry> accessLogs; // one per access_log entry

    /**
     * One {@code access_log} entry: its filter ({@code null} = every request) and its
     * {@code log_format} ({@code null} = the proxy's own JSON line).
     */
    record LogEntry(Expression filter, AccessLogFormat format) {
    }

    private StatsOverrides(Map<String, Change> changes, List<LogEntry> accessLogs) {
        this.changes = changes;
        this.accessLogs = accessLogs;
    }

    /**
     * Problems of one {@link MetricConfig} (validation: the waypoint NACKs them): an unknown metric
     * name, a label that is not one of Istio's standard ones, an expression that does not parse.
     */
    public static void check(MetricConfig m, String path, BiConsumer<String, String> problems) {
        if (!m.getName().isEmpty() && !METRICS.contains(m.getName())) {
            problems.accept(path + ".name", "\"" + m.getName() + "\" (expected: \"\" for all, or one of "
                    + new java.util.TreeSet<>(METRICS) + ")");
        }
        for (String tag : m.getTagsToRemoveList()) {
            if (!ConnectionLabels.HTTP_NAMES.contains(tag)) {
                problems.accept(path + ".tags_to_remove", "\"" + tag + "\" is not a label of Istio's metrics");
            }
        }
        m.getDimensionsMap().forEach((tag, text) -> {
            String field = path + ".dimensions[\"" + tag + "\"]";
            if (!LABEL.matcher(tag).matches() || tag.startsWith("__")) {
                problems.accept(field, "\"" + tag + "\" is not a Prometheus label name (expected: "
                        + "[a-zA-Z_][a-zA-Z0-9_]*, not starting with __)");
                return;
            }
            try {
                Expression.parse(text, field);
            } catch (IllegalArgumentException e) {
                problems.accept(field, e.getMessage().substring(field.length() + 2));
            }
        });
    }

    /** Compiles {@code hcm}'s settings; the HCM was validated, so what does not parse is left out. */
    static StatsOverrides of(HttpConnectionManager hcm) {
        Map<String, Change> changes = new HashMap<>();
        for (var f : hcm.getHttpFiltersList()) {
            if (!f.getName().equals(FILTER)) {
                continue;
            }
            try {
                add(changes, f.getTypedConfig().unpack(StatsConfig.class));
            } catch (InvalidProtocolBufferException | IllegalArgumentException e) {
                // Validated before it got here; nothing to apply.
            }
        }
        List<LogEntry> logs = new ArrayList<>();
        for (AccessLog log : hcm.getAccessLogList()) {
            Expression filter = null;
            AccessLogFormat format;
            try {
                format = log.hasTypedConfig() && log.getTypedConfig().is(FileAccessLog.class)
                        ? AccessLogFormat.of(log.getTypedConfig().unpack(FileAccessLog.class)) : null;
            } catch (InvalidProtocolBufferException | IllegalArgumentException e) {
                continue; // validated before it got here
            }
            if (log.hasFilter() && log.getFilter().hasExtensionFilter()) {
                try {
                    filter = Expression.parse(log.getFilter().getExtensionFilter().getTypedConfig()
                            .unpack(ExpressionFilter.class).getExpression(), "access_log.filter");
                } catch (InvalidProtocolBufferException | IllegalArgumentException e) {
                    continue;
                }
            }
            logs.add(new LogEntry(filter, format));
        }
        if (changes.isEmpty() && logs.isEmpty()) {
            return NONE;
        }
        return new StatsOverrides(Map.copyOf(changes), java.util.Collections.unmodifiableList(logs));
    }

    /** Adds {@code stats}' metric entries to {@code changes}: a later entry for a metric adds to an earlier one. */
    private static void add(Map<String, Change> changes, StatsConfig stats) {
        for (MetricConfig m : stats.getMetricsList()) {
            Map<Integer, Expression> dims = new HashMap<>();
            Map<String, Expression> added = new java.util.TreeMap<>();
            Change before = changes.get(m.getName());
            if (before != null) {
                dims.putAll(before.dimensions());
                added.putAll(before.added());
            }
            for (String tag : m.getTagsToRemoveList()) {
                int i = ConnectionLabels.HTTP_NAMES.indexOf(tag);
                if (i >= 0) {
                    dims.put(i, null);
                }
                added.remove(tag);
            }
            m.getDimensionsMap().forEach((tag, text) -> {
                int i = ConnectionLabels.HTTP_NAMES.indexOf(tag);
                Expression e = Expression.parse(text, "dimensions[\"" + tag + "\"]");
                if (i >= 0) {
                    dims.put(i, e);
                } else {
                    added.put(tag, e);
                }
            });
            changes.put(m.getName(), new Change(m.getDrop() || (before != null && before.drop()),
                    java.util.Collections.unmodifiableMap(dims), java.util.Collections.unmodifiableMap(added)));
        }
    }

    private static final Map<StatsConfig, StatsOverrides> TCP = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * The settings of a TCP chain's {@code istio.stats} network filter (issue 19), compiled once per
     * configuration; {@link #NONE} for the default instance (no filter).
     */
    static StatsOverrides of(StatsConfig stats) {
        if (stats.getMetricsCount() == 0) {
            return NONE;
        }
        StatsOverrides o = TCP.get(stats);
        if (o == null) {
            if (TCP.size() > 256) {
                TCP.clear(); // old configs' entries; the live ones compile again
            }
            Map<String, Change> changes = new HashMap<>();
            try {
                add(changes, stats);
            } catch (IllegalArgumentException e) {
                // Validated before it got here.
            }
            o = changes.isEmpty() ? NONE : new StatsOverrides(Map.copyOf(changes), List.of());
            TCP.put(stats, o);
        }
        return o;
    }

    /**
     * The TCP metrics' overrides of one connection of {@code chain} (its {@code istio.stats}
     * network filter) whose attributes are {@code attributes}.
     */
    public static TcpTelemetry.Overrides tcp(dev.ambit.waypoint.config.FilterChain chain, Attributes attributes) {
        return of(chain.tcpStats()).tcp(attributes);
    }

    /**
     * The TCP metrics' overrides of one connection whose attributes are {@code attributes}:
     * {@link TcpTelemetry.Overrides#NONE} when nothing changes.
     */
    TcpTelemetry.Overrides tcp(Attributes attributes) {
        if (changes.isEmpty()) {
            return TcpTelemetry.Overrides.NONE;
        }
        return (metric, values) -> {
            if (dropped(metric)) {
                return null;
            }
            Labels l = labels(metric, values, attributes);
            return new TcpTelemetry.Labels(l.values(), l.extraNames(), l.extraValues());
        };
    }

    /** Whether {@code metric} is not reported. */
    boolean dropped(String metric) {
        Change c = changes.get(metric);
        Change all = changes.get("");
        return (c != null && c.drop()) || (all != null && all.drop());
    }

    /** Whether any label value is computed from attributes. */
    boolean changesLabels() {
        return changes.values().stream().anyMatch(Change::relabels);
    }

    /**
     * {@code values} (in the order of {@link ConnectionLabels#HTTP_NAMES}) as {@code metric} reports
     * them: the all-metrics entry applied first, then the metric's own; a removed label is empty, an
     * expression without value gives {@code unknown} (Istio's stats plugin).
     */
    Labels labels(String metric, String[] values, Attributes attributes) {
        Change all = changes.get("");
        Change own = changes.get(metric);
        if ((all == null || !all.relabels()) && (own == null || !own.relabels())) {
            return new Labels(values, NO_NAMES, NO_NAMES);
        }
        String[] out = values.clone();
        Map<String, String> extra = new java.util.TreeMap<>();
        for (Change c : new Change[] {all, own}) {
            if (c == null) {
                continue;
            }
            c.dimensions().forEach((i, e) -> {
                if (i < out.length) {
                    out[i] = e == null ? "" : value(e, attributes);
                } else if (e != null) { // an HTTP-only label on a TCP metric: added, as Istio adds it
                    extra.put(ConnectionLabels.HTTP_NAMES.get(i), value(e, attributes));
                }
            });
            c.added().forEach((tag, e) -> extra.put(tag, value(e, attributes)));
        }
        return new Labels(out, extra.keySet().toArray(NO_NAMES), extra.values().toArray(NO_NAMES));
    }

    /** An expression's label value; {@code unknown} when it has none (Istio's stats plugin). */
    private static String value(Expression e, Attributes attributes) {
        String v = e.evaluateString(attributes);
        return v == null ? "unknown" : v;
    }

    /** How many access log lines this request writes: one per entry whose filter passes. */
    int accessLogLines(Attributes attributes) {
        return accessLogsPassing(attributes).size();
    }

    /** The access log entries whose filter passes this request, in the HCM's order. */
    List<LogEntry> accessLogsPassing(Attributes attributes) {
        List<LogEntry> out = new ArrayList<>(accessLogs.size());
        for (LogEntry e : accessLogs) {
            if (e.filter() == null || e.filter().test(attributes)) {
                out.add(e);
            }
        }
        return out;
    }

    /** Whether the HCM has access log entries. */
    boolean logs() {
        return !accessLogs.isEmpty();
    }
}
