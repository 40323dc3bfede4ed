/* SPDX-License-Identifier: Apache-2.0 */
/* The outbound capture decision, shared by connect4.c and connect6.c. */
#ifndef AMBIT_REDIRECT_H
#define AMBIT_REDIRECT_H

#include "ambit_maps.h"

enum ambit_verdict {
	AMBIT_LEAVE,    /* not captured: connect goes where it was going */
	AMBIT_REDIRECT, /* rewrite the destination to 127.0.0.1:cfg->outbound_port */
	AMBIT_DENY,     /* fail the connect: capture cannot be guaranteed */
};

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

/*
 * Decides for a TCP connect to ip4:port_nbo from an enrolled pod and, when it
 * redirects, remembers the destination in the socket's storage. *outbound_port gets
 * the port to rewrite to (host byte order).
 */
static __always_inline enum ambit_verdict ambit_capture(struct bpf_sock *sk, __u32 ip4, __u16 port_nbo,
							__u16 *outbound_port)
{
	__u32 zero = 0;
	struct ambit_config *cfg;
	struct ambit_dst *dst;

	if (ambit_is_loopback4(ip4))
		return AMBIT_LEAVE;
	cfg = bpf_map_lookup_elem(&ambit_config, &zero);
	if (!cfg || cfg->outbound_port == 0)
		return AMBIT_DENY; /* not configured: never let traffic bypass the proxy */
	if (!sk)
		return AMBIT_DENY;
	/* The agent's own sockets are not in pod cgroups; the mark is a second guard (as
	 * ztunnel's). Trade-off, as in Istio: a pod granted CAP_NET_ADMIN can set it. */
	if (cfg->agent_mark && sk->mark == cfg->agent_mark)
		return AMBIT_LEAVE;
	if (ambit_excluded(ip4, port_nbo))
		return AMBIT_LEAVE;

	dst = bpf_sk_storage_get(&ambit_sk_dst, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!dst)
		return AMBIT_DENY;
	dst->ip4 = ip4;
	dst->port = port_nbo;
	*outbound_port = cfg->outbound_port;
	return AMBIT_REDIRECT;
}

#endif
