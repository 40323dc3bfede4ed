// SPDX-License-Identifier: Apache-2.0
/*
 * cgroup/connect6: attached next to connect4. A dual-stack socket (Java's default,
 * among others) reaches IPv4 destinations through IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d); the kernel runs only this hook for them, never connect4, so
 * without it such clients would bypass capture. They are captured exactly like
 * connect4's, to ::ffff:127.0.0.1:15001. Native IPv6 destinations are left alone
 * until the mesh carries IPv6.
 */
#include "ambit_redirect.h"

SEC("cgroup/connect6")
int ambit_connect6(struct bpf_sock_addr *ctx)
{
	__u16 outbound_port = 0;

	if (ctx->type != SOCK_STREAM)
		return CGROUP_ALLOW;
	if (ctx->user_ip6[0] != 0 || ctx->user_ip6[1] != 0 || ctx->user_ip6[2] != bpf_htonl(0x0000ffff))
		return CGROUP_ALLOW;
	switch (ambit_capture(ctx->sk, ctx->user_ip6[3], (__u16)ctx->user_port, &outbound_port)) {
	case AMBIT_LEAVE:
		return CGROUP_ALLOW;
	case AMBIT_DENY:
		return CGROUP_DENY;
	default:
		ctx->user_ip6[3] = LOCALHOST_NBO;
		ctx->user_port = bpf_htons(outbound_port);
		return CGROUP_ALLOW;
	}
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
