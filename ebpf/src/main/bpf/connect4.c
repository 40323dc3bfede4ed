// SPDX-License-Identifier: Apache-2.0
/*
 * cgroup/connect4: attached to each enrolled pod's cgroup. Rewrites outbound TCP
 * connects to the in-pod capture listener (127.0.0.1:15001) and remembers where the
 * connect was going in the socket's local storage; sockops.c publishes it once the
 * source port is known.
 */
#include "ambit_maps.h"

/* An exclusion is a CIDR (prefix <= 32: every port) or one address and port
 * (prefix 48); one longest-prefix lookup answers both. */
static __always_inline int ambit_excluded(__u32 ip4, __u16 port_nbo)
{
	struct ambit_excl_key key = {
		.prefixlen = 48,
		.ip4 = ip4,
		.port = port_nbo,
	};
	return bpf_map_lookup_elem(&ambit_excl_dst, &key) != NULL;
}

SEC("cgroup/connect4")
int ambit_connect4(struct bpf_sock_addr *ctx)
{
	__u32 zero = 0;
	struct ambit_config *cfg;
	struct ambit_dst *dst;
	struct bpf_sock *sk;
	__u32 ip4 = ctx->user_ip4;
	__u16 port = (__u16)ctx->user_port;

	if (ctx->type != SOCK_STREAM)
		return CGROUP_ALLOW;
	if (ambit_is_loopback4(ip4))
		return CGROUP_ALLOW;
	cfg = bpf_map_lookup_elem(&ambit_config, &zero);
	if (!cfg || cfg->outbound_port == 0)
		return CGROUP_DENY; /* not configured: never let traffic bypass the proxy */
	sk = ctx->sk;
	if (!sk)
		return CGROUP_DENY;
	if (cfg->agent_mark && sk->mark == cfg->agent_mark)
		return CGROUP_ALLOW;
	if (ambit_excluded(ip4, port))
		return CGROUP_ALLOW;

	dst = bpf_sk_storage_get(&ambit_sk_dst, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!dst)
		return CGROUP_DENY;
	dst->ip4 = ip4;
	dst->port = port;

	ctx->user_ip4 = LOCALHOST_NBO;
	ctx->user_port = bpf_htons(cfg->outbound_port);
	return CGROUP_ALLOW;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
