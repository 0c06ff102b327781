// SPDX-License-Identifier: (MIT OR GPL-2.0)
//
// The Charter's kernel enforcer: which destinations the telemetry exporter's cgroup may
// reach. Built by ebpf/build.rs (clang -O2 -g -target bpf) and loaded by src/kernel.rs.
//
// Allow-list: two LPM tries (IPv4, IPv6) keyed by {prefixlen, port, address}, port and
// address in network byte order, the port first. An entry for CIDR a/n and port p has
// prefixlen 16 + n: it matches a lookup whose port is exactly p and whose address is in
// a/n. Port 0 in an entry means any port, so a destination is looked up with its real
// port and then with port 0. The layout is mirrored by src/destination.rs.
//
// Programs:
//   cgroup/connect4, connect6, sendmsg4, sendmsg6: refuse (return 0, the caller gets
//       EPERM) a destination outside the allow-list; count refusals per hook.
//   cgroup_skb/egress: count the bytes sent to each destination address; always allows.
//   classifier (TC egress): drop packets whose socket belongs to the enforced cgroup (its
//       id written by the loader into `config`) and whose destination is not allowed.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define DESTINATIONS_MAX 256
#define EGRESS_TRACKED_MAX 1024

// Indices into `counters` (src/kernel.rs reads the same indices).
#define DENIED_CONNECT4 0
#define DENIED_CONNECT6 1
#define DENIED_SENDMSG4 2
#define DENIED_SENDMSG6 3
#define DENIED_TC_EGRESS 4
#define EGRESS_UNTRACKED_BYTES 5
#define COUNTERS_LEN 8

#define CONFIG_CGROUP_ID 0
#define CONFIG_LEN 1

#define V4_DATA_LEN 6   // port (2) + address (4)
#define V6_DATA_LEN 18  // port (2) + address (16)

struct v4_key {
    __u32 prefixlen;
    __u8 data[V4_DATA_LEN];
} __attribute__((packed));

struct v6_key {
    __u32 prefixlen;
    __u8 data[V6_DATA_LEN];
} __attribute__((packed));

// Destination of counted egress bytes: family 4 (address in addr[0..4], rest zero) or 6.
struct egress_key {
    __u32 family;
    __u8 addr[16];
};

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, DESTINATIONS_MAX);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct v4_key);
    __type(value, __u32);
} allow_v4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, DESTINATIONS_MAX);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct v6_key);
    __type(value, __u32);
} allow_v6 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, COUNTERS_LEN);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, EGRESS_TRACKED_MAX);
    __type(key, struct egress_key);
    __type(value, __u64);
} egress_bytes SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, CONFIG_LEN);
    __type(key, __u32);
    __type(value, __u64);
} config SEC(".maps");

static __always_inline void count(__u32 index, __u64 amount)
{
    __u64 *value = bpf_map_lookup_elem(&counters, &index);
    if (value)
        __sync_fetch_and_add(value, amount);
}

// port_be and the address bytes are in network byte order.
static __always_inline int allowed_v4(__u32 addr_be, __u16 port_be)
{
    struct v4_key key = {};
    key.prefixlen = 8 * V4_DATA_LEN;
    __builtin_memcpy(&key.data[0], &port_be, 2);
    __builtin_memcpy(&key.data[2], &addr_be, 4);
    if (bpf_map_lookup_elem(&allow_v4, &key))
        return 1;
    key.data[0] = 0;
    key.data[1] = 0;
    return bpf_map_lookup_elem(&allow_v4, &key) != 0;
}

static __always_inline int allowed_v6(const __u32 addr_be[4], __u16 port_be)
{
    struct v6_key key = {};
    key.prefixlen = 8 * V6_DATA_LEN;
    __builtin_memcpy(&key.data[0], &port_be, 2);
    __builtin_memcpy(&key.data[2], addr_be, 16);
    if (bpf_map_lookup_elem(&allow_v6, &key))
        return 1;
    key.data[0] = 0;
    key.data[1] = 0;
    return bpf_map_lookup_elem(&allow_v6, &key) != 0;
}

// An IPv6 socket may reach an IPv4 destination through a v4-mapped address
// (::ffff:a.b.c.d): judge it by the IPv4 allow-list.
static __always_inline int allowed_v6_or_mapped(const __u32 addr_be[4], __u16 port_be)
{
    if (addr_be[0] == 0 && addr_be[1] == 0 && addr_be[2] == bpf_htonl(0x0000ffff))
        return allowed_v4(addr_be[3], port_be);
    return allowed_v6(addr_be, port_be);
}

static __always_inline int sock_addr_allowed4(struct bpf_sock_addr *ctx)
{
    __u32 addr = ctx->user_ip4;
    __u16 port = (__u16)ctx->user_port;
    return allowed_v4(addr, port);
}

static __always_inline int sock_addr_allowed6(struct bpf_sock_addr *ctx)
{
    __u32 addr[4];
    addr[0] = ctx->user_ip6[0];
    addr[1] = ctx->user_ip6[1];
    addr[2] = ctx->user_ip6[2];
    addr[3] = ctx->user_ip6[3];
    __u16 port = (__u16)ctx->user_port;
    return allowed_v6_or_mapped(addr, port);
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
    if (sock_addr_allowed4(ctx))
        return 1;
    count(DENIED_CONNECT4, 1);
    return 0;
}

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx)
{
    if (sock_addr_allowed6(ctx))
        return 1;
    count(DENIED_CONNECT6, 1);
    return 0;
}

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx)
{
    if (sock_addr_allowed4(ctx))
        return 1;
    count(DENIED_SENDMSG4, 1);
    return 0;
}

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx)
{
    if (sock_addr_allowed6(ctx))
        return 1;
    count(DENIED_SENDMSG6, 1);
    return 0;
}

SEC("cgroup_skb/egress")
int skb_egress(struct __sk_buff *skb)
{
    struct egress_key key = {};
    __u8 first;
    if (bpf_skb_load_bytes_relative(skb, 0, &first, 1, BPF_HDR_START_NET) < 0)
        return 1;
    if ((first >> 4) == 4) {
        key.family = 4;
        if (bpf_skb_load_bytes_relative(skb, 16, &key.addr[0], 4, BPF_HDR_START_NET) < 0)
            return 1;
    } else if ((first >> 4) == 6) {
        key.family = 6;
        if (bpf_skb_load_bytes_relative(skb, 24, &key.addr[0], 16, BPF_HDR_START_NET) < 0)
            return 1;
    } else {
        return 1;
    }
    __u64 len = skb->len;
    __u64 *bytes = bpf_map_lookup_elem(&egress_bytes, &key);
    if (bytes) {
        __sync_fetch_and_add(bytes, len);
        return 1;
    }
    if (bpf_map_update_elem(&egress_bytes, &key, &len, BPF_NOEXIST) == 0)
        return 1;
    // Another CPU may have inserted the same key meanwhile; otherwise the map is full.
    bytes = bpf_map_lookup_elem(&egress_bytes, &key);
    if (bytes) {
        __sync_fetch_and_add(bytes, len);
        return 1;
    }
    count(EGRESS_UNTRACKED_BYTES, len);
    return 1;
}

static __always_inline int has_ports(__u8 protocol)
{
    return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_SCTP ||
           protocol == IPPROTO_UDPLITE;
}

// Whether a packet's destination is allowed. Transports with ports (TCP, UDP, SCTP,
// UDP-Lite) are judged by address and port; anything else (and IPv4 fragments after the
// first, IPv6 behind extension headers) by address alone, against any-port entries only.
static __always_inline int packet_allowed(struct __sk_buff *skb)
{
    if (skb->protocol == bpf_htons(ETH_P_IP)) {
        __u8 header[20];
        if (bpf_skb_load_bytes_relative(skb, 0, header, sizeof(header), BPF_HDR_START_NET) < 0)
            return 0;
        __u32 ihl = (header[0] & 0x0f) * 4;
        if (ihl < 20)
            return 0;
        __u16 fragment_offset = ((__u16)(header[6] & 0x1f) << 8) | header[7];
        __u32 daddr;
        __builtin_memcpy(&daddr, &header[16], 4);
        __u16 port = 0;
        if (has_ports(header[9]) && fragment_offset == 0 &&
            bpf_skb_load_bytes_relative(skb, ihl + 2, &port, 2, BPF_HDR_START_NET) < 0)
            return 0;
        return allowed_v4(daddr, port);
    }
    if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
        __u8 header[40];
        if (bpf_skb_load_bytes_relative(skb, 0, header, sizeof(header), BPF_HDR_START_NET) < 0)
            return 0;
        __u32 daddr[4];
        __builtin_memcpy(daddr, &header[24], 16);
        __u16 port = 0;
        if (has_ports(header[6]) &&
            bpf_skb_load_bytes_relative(skb, 40 + 2, &port, 2, BPF_HDR_START_NET) < 0)
            return 0;
        return allowed_v6_or_mapped(daddr, port);
    }
    // Not IP (ARP, ...): not a destination the Charter speaks of.
    return 1;
}

SEC("classifier")
int tc_egress(struct __sk_buff *skb)
{
    __u32 index = CONFIG_CGROUP_ID;
    __u64 *enforced = bpf_map_lookup_elem(&config, &index);
    if (!enforced || *enforced == 0)
        return TC_ACT_UNSPEC;
    if (bpf_skb_cgroup_id(skb) != *enforced)
        return TC_ACT_UNSPEC;
    if (packet_allowed(skb))
        return TC_ACT_UNSPEC;
    count(DENIED_TC_EGRESS, 1);
    return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
