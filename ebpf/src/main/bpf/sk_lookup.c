// SPDX-License-Identifier: Apache-2.0
/*
 * sk_lookup: attached to each enrolled pod's network namespace. Inbound TCP for the
 * pod's own addresses goes to the agent's in-pod inbound listener (15006), whatever
 * the port, except the bypass ports (HBONE 15008 and the agent's).
 *
 * Connections the pod makes to itself (the agent, inside the pod, reaching the app
 * after it unwraps HBONE; the app calling its own address) are left alone: that is
 * what keeps the agent's connections from looping. They are recognised by their
 * source being one of the same pod's addresses. ingress_ifindex does not tell them
 * apart: for a connection to the pod's own address it is not lo's index. A remote
 * peer cannot pose as the pod: a packet from outside with a local source address is
 * a martian and never reaches the socket lookup.
 */
#include "ambit_maps.h"

SEC("sk_lookup")
int ambit_sk_lookup(struct bpf_sk_lookup *ctx)
{
	__u32 ip4 = ctx->local_ip4;
	__u32 src4 = ctx->remote_ip4;
	__u16 port = (__u16)ctx->local_port;
	struct ambit_pod_addr *dst_pod, *src_pod;
	struct bpf_sock *sk;
	long err;

	if (ctx->family != AF_INET || ctx->protocol != IPPROTO_TCP)
		return SK_PASS;
	dst_pod = bpf_map_lookup_elem(&ambit_pod_addrs, &ip4);
	if (!dst_pod)
		return SK_PASS;
	if (bpf_map_lookup_elem(&ambit_in_bypass, &port))
		return SK_PASS;
	if (src4 == ip4)
		return SK_PASS;
	src_pod = bpf_map_lookup_elem(&ambit_pod_addrs, &src4);
	if (src_pod && src_pod->netns_cookie == dst_pod->netns_cookie)
		return SK_PASS;

	sk = bpf_map_lookup_elem(&ambit_in_lsnr, &ip4);
	if (!sk)
		return SK_DROP; /* enrolled, but the agent's listener is gone: fail closed */
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err ? SK_DROP : SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
