// SPDX-License-Identifier: Apache-2.0
/*
 * sockops: attached to each enrolled pod's cgroup next to connect4. When a
 * redirected socket sends its SYN its source port is known: publish
 * (pod netns, client address, client port) -> original destination for the agent.
 *
 * The agent consumes the entry when it looks it up (lookup-and-delete). It is not
 * removed when the client closes: a client that writes and closes at once reaches
 * TCP_CLOSE (its FIN_WAIT2 turns into a timewait socket) possibly before the agent
 * accepts, and would lose its destination. Only a handshake that failed (SYN_SENT ->
 * CLOSE: refused, agent down) removes it here; unenrollment removes a pod's entries and
 * the LRU bounds what an agent crash can leave.
 */
#include "ambit_maps.h"

static __always_inline void ambit_conn_key_of(struct bpf_sock_ops *ctx, struct ambit_conn_key *key)
{
	key->netns_cookie = bpf_get_netns_cookie(ctx);
	key->client_ip4 = ctx->local_ip4;
	key->client_port = (__u16)ctx->local_port;
	key->pad = 0;
}

static __always_inline void ambit_publish(struct bpf_sock_ops *ctx)
{
	struct ambit_conn_key key = {};
	struct ambit_config *cfg;
	struct ambit_dst *dst;
	struct bpf_sock *sk = ctx->sk;
	__u32 zero = 0;

	if (!sk)
		return;
	/* Only sockets connect4/connect6 redirected have storage; for a dual-stack socket
	 * talking IPv4, local_ip4 and local_port hold the IPv4 source as for AF_INET. */
	dst = bpf_sk_storage_get(&ambit_sk_dst, sk, NULL, 0);
	if (!dst)
		return;
	/* Storage from an earlier connect of this socket (one that failed, then a retry
	 * the hooks left alone) must not publish: only a connect to the listener counts. */
	cfg = bpf_map_lookup_elem(&ambit_config, &zero);
	/* remote_port holds the port in network order in its upper 16 bits. */
	if (!cfg || ctx->remote_ip4 != LOCALHOST_NBO || (bpf_ntohl(ctx->remote_port) & 0xffff) != cfg->outbound_port) {
		bpf_sk_storage_delete(&ambit_sk_dst, sk);
		return;
	}
	ambit_conn_key_of(ctx, &key);
	if (bpf_map_update_elem(&ambit_orig_dst, &key, dst, BPF_ANY) == 0)
		bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	bpf_sk_storage_delete(&ambit_sk_dst, sk); /* published: the socket needs it no more */
}

static __always_inline void ambit_forget(struct bpf_sock_ops *ctx)
{
	struct ambit_conn_key key = {};

	ambit_conn_key_of(ctx, &key);
	bpf_map_delete_elem(&ambit_orig_dst, &key);
}

SEC("sockops")
int ambit_sockops(struct bpf_sock_ops *ctx)
{
	switch (ctx->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		ambit_publish(ctx);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (ctx->args[0] == BPF_TCP_SYN_SENT && ctx->args[1] == BPF_TCP_CLOSE)
			ambit_forget(ctx);
		break;
	}
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
