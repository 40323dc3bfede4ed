package dev.ambit.ctl.local;

import java.util.List;
import java.util.Map;

/**
 * A Service with its VIP and endpoints, as one tick sees it ({@link ServiceRegistry}).
 *
 * @param vip its ClusterIP, or {@code "None"} for a headless Service
 * @param endpoints every ready pod's {@code ip:targetPort}, sorted and distinct
 * @param backends for each TCP {@code vip:port}, its pods' {@code ip:targetPort}, sorted: what
 *     the eBPF Service load balancer gets
 */
record ServiceView(KubeObject object, String vip, List<Services.ServicePort> ports, List<String> endpoints,
                   Map<String, List<String>> backends) {}
