// SPDX-License-Identifier: Apache-2.0
/*
 * cgroup/connect6 of the Service load balancer: a dual-stack socket (Java's default,
 * among others) reaches an IPv4 Service through its IPv4-mapped address
 * (::ffff:a.b.c.d), and for it the kernel runs only this hook, never connect4. Such
 * connects are balanced exactly as svc_connect4.c's, to the mapped backend address.
 * Native IPv6 destinations are left alone: Services are IPv4 only for now.
 */
#include "ambit_svc.h"

SEC("cgroup/connect6")
int ambit_svc_conn6(struct bpf_sock_addr *ctx)
{
	struct ambit_backend be = {};

	if (ctx->type != SOCK_STREAM)
		return CGROUP_ALLOW;
	if (ctx->user_ip6[0] != 0 || ctx->user_ip6[1] != 0 || ctx->user_ip6[2] != bpf_htonl(0x0000ffff))
		return CGROUP_ALLOW;
	switch (ambit_svc_pick(ctx->user_ip6[3], (__u16)ctx->user_port, &be)) {
	case AMBIT_SVC_LEAVE:
		return CGROUP_ALLOW;
	case AMBIT_SVC_DENY:
		return CGROUP_DENY;
	default:
		ctx->user_ip6[3] = be.ip4;
		ctx->user_port = be.port;
		return CGROUP_ALLOW;
	}
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
