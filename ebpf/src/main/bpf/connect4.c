// SPDX-License-Identifier: Apache-2.0
/*
 * cgroup/connect4: attached to each enrolled pod's cgroup. Rewrites outbound TCP
 * connects to the in-pod capture listener (127.0.0.1:15001) and remembers where the
 * connect was going in the socket's local storage; sockops.c publishes it once the
 * source port is known.
 */
#include "ambit_redirect.h"

SEC("cgroup/connect4")
int ambit_connect4(struct bpf_sock_addr *ctx)
{
	__u16 outbound_port = 0;

	if (ctx->type != SOCK_STREAM)
		return CGROUP_ALLOW;
	switch (ambit_capture(ctx->sk, ctx->user_ip4, (__u16)ctx->user_port, &outbound_port)) {
	case AMBIT_LEAVE:
		return CGROUP_ALLOW;
	case AMBIT_DENY:
		return CGROUP_DENY;
	default:
		ctx->user_ip4 = LOCALHOST_NBO;
		ctx->user_port = bpf_htons(outbound_port);
		return CGROUP_ALLOW;
	}
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
