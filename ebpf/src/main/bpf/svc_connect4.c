// SPDX-License-Identifier: Apache-2.0
/*
 * cgroup/connect4 of the Service load balancer (local mode, no kube-proxy): attached
 * to the cgroup that holds every pod. A TCP connect to a Service's VIP:port goes to
 * one of its backends instead, chosen per connect; other connects are left alone.
 * Rewriting at connect means no per-packet NAT and no conntrack: the socket is simply
 * connected to the backend (and getpeername() shows the backend, not the VIP).
 *
 * Enrolled pods are not special-cased: their capture program is attached to the
 * pod's own cgroup, a descendant of this one, and the kernel runs a descendant's
 * programs before its ancestors'. Capture has already rewritten a meshed pod's
 * connect to 127.0.0.1:15001, which is no Service, so the agent still learns the VIP.
 * ServiceBalancerTest checks that order on the running kernel.
 */
#include "ambit_svc.h"

SEC("cgroup/connect4")
int ambit_svc_conn4(struct bpf_sock_addr *ctx)
{
	struct ambit_backend be = {};

	/* Services here are TCP: UDP would need sendmsg/recvmsg hooks and reverse translation. */
	if (ctx->type != SOCK_STREAM)
		return CGROUP_ALLOW;
	switch (ambit_svc_pick(ctx->user_ip4, (__u16)ctx->user_port, &be)) {
	case AMBIT_SVC_LEAVE:
		return CGROUP_ALLOW;
	case AMBIT_SVC_DENY:
		return CGROUP_DENY;
	default:
		ctx->user_ip4 = be.ip4;
		ctx->user_port = be.port;
		return CGROUP_ALLOW;
	}
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
