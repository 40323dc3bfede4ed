/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every map Ambit's programs share, declared once. Each object that includes this
 * header gets the same definitions; the loader pins them by name under
 * <bpffs-root>/maps, so the second object (and a restarted agent) reuses the first's.
 * Changing a key or value layout here changes the ABI with
 * node-agent/.../redirect/RedirectMaps.java: change both together.
 */
#ifndef AMBIT_MAPS_H
#define AMBIT_MAPS_H

#include "ambit_common.h"

/* Original destination of a redirected connect; address and port in network byte order. */
struct ambit_dst {
	__u32 ip4;
	__u16 port;
	__u16 pad;
};

/* Identifies the client end of a redirected connection inside one pod. The netns
 * cookie keeps pods apart: every pod has its own 127.0.0.1 and its own ports. */
struct ambit_conn_key {
	__u64 netns_cookie;
	__u32 client_ip4;  /* network byte order */
	__u16 client_port; /* host byte order */
	__u16 pad;
};

/* Agent-wide settings, written by the loader into slot 0. */
struct ambit_config {
	__u32 agent_mark;     /* sockets carrying this SO_MARK are the agent's own */
	__u16 outbound_port;  /* in-pod outbound capture listener, 15001 */
	__u16 pad;
};

/* An excluded outbound destination: a CIDR (prefixlen <= 32, any port) or one
 * address and port (prefixlen 48). Address and port in network byte order. */
struct ambit_excl_key {
	__u32 prefixlen; /* LPM trie: bits that follow, 32 for the address + 16 for the port */
	__u32 ip4;
	__u16 port;
	__u16 pad;
};

/* Pod address -> netns cookie of the pod that owns it. An address in this map is
 * enrolled: inbound TCP to it goes to the pod's inbound listener or nowhere. */
struct ambit_pod_addr {
	__u64 netns_cookie;
};

/* connect4 -> sockops hand-off. Socket-local storage dies with the socket, so an
 * abandoned connect never leaves an entry behind. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ambit_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_sk_dst SEC(".maps");

/* What the agent reads after accept on 15001: one entry per live redirected
 * connection, removed when the client socket closes. LRU only as a backstop. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ambit_conn_key);
	__type(value, struct ambit_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_orig_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ambit_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024);
	__type(key, struct ambit_excl_key);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_excl_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct ambit_pod_addr);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_pod_addrs SEC(".maps");

/* Pod address -> the agent's inbound (15006) listener inside that pod. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_in_lsnr SEC(".maps");

/* Enrolled pods, for the agent only (no program reads it): pod UID -> what
 * unenrollment must undo, so it works after an agent restart and after the pod's
 * network namespace is gone. */
#define AMBIT_POD_UID_LEN 64
#define AMBIT_POD_MAX_ADDRS 8
struct ambit_pod {
	__u64 netns_cookie;
	__u32 addr_count;
	__u32 addrs[AMBIT_POD_MAX_ADDRS]; /* network byte order */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, char[AMBIT_POD_UID_LEN]);
	__type(value, struct ambit_pod);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_pods SEC(".maps");

/* Destination ports that inbound steering leaves alone (HBONE 15008, the agent's). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_in_bypass SEC(".maps");

#endif
