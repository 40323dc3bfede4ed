/* SPDX-License-Identifier: Apache-2.0 */
/* Constants and small helpers shared by every Ambit BPF program. */
#ifndef AMBIT_COMMON_H
#define AMBIT_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define LOCALHOST_NBO bpf_htonl(0x7f000001)

/* Return codes of cgroup sock_addr programs. */
#define CGROUP_ALLOW 1
#define CGROUP_DENY 0

static __always_inline int ambit_is_loopback4(__u32 addr_nbo)
{
	return (bpf_ntohl(addr_nbo) >> 24) == 127;
}

#endif
