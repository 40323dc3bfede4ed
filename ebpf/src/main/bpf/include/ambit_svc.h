/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The socket-level Service load balancer (svc_connect4.c, svc_connect6.c): its maps,
 * declared once, and its one decision. For local mode, where no kube-proxy gives
 * pods outside the mesh a way to reach a Service's virtual IP.
 *
 * Only the svc_* objects include this header: the capture objects neither carry these
 * maps nor change (nor does their version digest) when the balancer does. Changing a
 * layout here changes the ABI with ambitctl/.../local/ServiceMaps.java: change
 * both together.
 *
 * A Service points at a backend set; a set is written once and never changed. The
 * agent replaces a Service's backends by writing a new set, then pointing the Service
 * at it (one map update: a new element takes the old one's place), then removing the
 * old set. A connect therefore picks among one version of the backends, never a mix.
 */
#ifndef AMBIT_SVC_H
#define AMBIT_SVC_H

#include "ambit_common.h"

/* A Service's virtual IP and port, both in network byte order. */
struct ambit_svc_key {
	__u32 vip;
	__u16 port;
	__u16 pad;
};

/* count 0: the Service has no backends and its connects are refused. */
struct ambit_svc {
	__u32 backend_set; /* set id, never 0 when count > 0 */
	__u32 count;       /* slots 0..count-1 of the set */
};

struct ambit_backend_key {
	__u32 backend_set;
	__u32 slot;
};

/* Address and port in network byte order. */
struct ambit_backend {
	__u32 ip4;
	__u16 port;
	__u16 pad;
};

/* Not preallocated: local mode has few Services, and the sizes only cap growth. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct ambit_svc_key);
	__type(value, struct ambit_svc);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_svc SEC(".maps");

/* Room for every backend twice over: an update holds the old and the new set at once. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 131072);
	__type(key, struct ambit_backend_key);
	__type(value, struct ambit_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_svc_be SEC(".maps");

enum ambit_svc_verdict {
	AMBIT_SVC_LEAVE,  /* not a Service: the connect goes where it was going */
	AMBIT_SVC_PICKED, /* rewrite the destination to the chosen backend */
	AMBIT_SVC_DENY,   /* a Service without backends: refuse, as kube-proxy does */
};

/*
 * Picks a backend, uniformly at random, for a TCP connect to vip:port_nbo.
 *
 * The second round is for a connect that read the Service just before the agent
 * replaced its set and looked the slot up just after the old set was removed: by
 * then the Service names the new set. Two rounds suffice unless the agent replaces
 * the same Service twice within one program run.
 */
static __always_inline enum ambit_svc_verdict ambit_svc_pick(__u32 vip, __u16 port_nbo, struct ambit_backend *out)
{
	struct ambit_svc_key key = {
		.vip = vip,
		.port = port_nbo,
	};
	struct ambit_backend_key slot = {};
	struct ambit_backend *be;
	struct ambit_svc *svc;
	union {
		struct ambit_svc svc;
		__u64 raw;
	} seen;
	int round;

	for (round = 0; round < 2; round++) {
		svc = bpf_map_lookup_elem(&ambit_svc, &key);
		if (!svc)
			return AMBIT_SVC_LEAVE; /* not a Service, or removed meanwhile */
		/* One 8-byte load, so count and set come from the same write even if the
		 * element is being recycled meanwhile (hash map elements are reused at once). */
		seen.raw = *(volatile __u64 *)svc;
		if (seen.svc.count == 0)
			return AMBIT_SVC_DENY;
		slot.backend_set = seen.svc.backend_set;
		slot.slot = bpf_get_prandom_u32() % seen.svc.count;
		be = bpf_map_lookup_elem(&ambit_svc_be, &slot);
		if (be) {
			*out = *be;
			return AMBIT_SVC_PICKED;
		}
	}
	/* The table contradicts itself: fail visibly rather than connect to the bare VIP. */
	return AMBIT_SVC_DENY;
}

#endif
