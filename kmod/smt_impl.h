/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel-only internal interface of the smt module: the session, AEAD and
 * layout structures shared by its files, the counters of /proc/net/smt_stat
 * and the functions each file offers the others. Built against the kernel's
 * headers, or against the userspace mock in tests/unit/kmod/ when
 * SMT_KMOD_MOCK is defined (the unit tests compile the module's own .c
 * files).
 */
#ifndef SMT_IMPL_H
#define SMT_IMPL_H

#ifdef SMT_KMOD_MOCK
#include "mock_kernel.h"
#else
#include <linux/types.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/atomic.h>
#include <linux/skbuff.h>
#include <linux/netdevice.h>
#include <linux/in6.h>
#include <crypto/aead.h>
#include <net/net_namespace.h>
#include <net/flow.h>
#endif

#include <smt/wire.h>
#include <smt/drop.h>
#include <smt/rules.h>
#include <smt/kmod_uapi.h>

/* Counters of /proc/net/smt_stat besides the drop reasons of drop.h. */
#define SMT_KMOD_COUNTERS(X)                              \
	X(SESSIONS_ADDED, "sessions_added")               \
	X(SESSIONS_REMOVED, "sessions_removed")           \
	X(MSGS_SENT, "msgs_sent")                         \
	X(RECORDS_SENT, "records_sent")                   \
	X(WIRE_BYTES_SENT, "wire_bytes_sent")             \
	X(SKBS_SENT, "skbs_sent")                         \
	X(GSO_SKBS, "gso_skbs")                           \
	X(GSO_SEGMENTS, "gso_segments")                   \
	X(SEND_ERRORS, "send_errors")                     \
	X(ROUTE_ERRORS, "route_errors")                   \
	X(CRYPTO_ERRORS, "crypto_errors")                 \
	X(TLS_OFFLOAD_CTX_ADDED, "tls_offload_ctx_added") \
	X(TLS_OFFLOAD_CTX_FREED, "tls_offload_ctx_freed") \
	X(TLS_OFFLOAD_RECORDS, "tls_offload_records")     \
	X(TLS_OFFLOAD_FALLBACKS, "tls_offload_fallbacks") \
	X(TLS_OFFLOAD_RESYNCS, "tls_offload_resyncs")     \
	X(RX_PACKETS, "rx_packets")                       \
	X(RX_BYTES, "rx_bytes")

enum smt_kmod_counter {
#define SMT_KMOD_CNT_ENUM(name, str) SMT_CNT_##name,
	SMT_KMOD_COUNTERS(SMT_KMOD_CNT_ENUM)
#undef SMT_KMOD_CNT_ENUM
		SMT_CNT_MAX
};

/* ---- smt_stats.c ------------------------------------------------------ */
void smt_stat_add(enum smt_kmod_counter c, u64 n);
void smt_stat_drop(enum smt_drop_reason r);
u64 smt_stat_get(enum smt_kmod_counter c);
u64 smt_stat_drop_get(enum smt_drop_reason r);
void smt_stat_reset(void);
int smt_stats_format(char *buf, size_t len);
int smt_stats_init(void);
void smt_stats_exit(void);

/* ---- smt_rx.c --------------------------------------------------------- */
int smt_rx_verdict(const u8 *smt, u32 avail, u32 len, int ipv4_id);

/* ---- smt_crypto.c ----------------------------------------------------- */

#define SMT_AEAD_IV_LEN 12

/**
 * struct smt_kaead - one direction key in the kernel crypto API.
 * @tfm:     "gcm(aes)" or "rfc7539(chacha20,poly1305)", tag 16 bytes
 * @iv:      TLS 1.3 static IV (salt || iv for AES-GCM)
 * @cipher:  TLS_CIPHER_* of linux/tls.h
 * @key_len: 16 or 32
 */
struct smt_kaead {
	struct crypto_aead *tfm;
	u8 iv[SMT_AEAD_IV_LEN];
	u16 cipher;
	u8 key_len;
};

int smt_crypto_info_check(const union smt_kmod_crypto *ci, const u8 **key,
			  u8 *key_len, u8 iv[SMT_AEAD_IV_LEN]);
int smt_kaead_init(struct smt_kaead *a, const union smt_kmod_crypto *ci);
void smt_kaead_destroy(struct smt_kaead *a);
void smt_krecord_frame(u8 *rec, u32 clen);
int smt_krecord_seal(struct smt_kaead *a, u64 seq, u8 *rec, u32 clen);

/* ---- smt_session.c ---------------------------------------------------- */

/**
 * struct smt_ksession - one session added through /dev/smt.
 * @link:     in its file's list
 * @id:       handle given to userspace
 * @net:      network namespace of the process that added it (held)
 * @ipproto:  IP protocol number
 * @B:        message-ID width
 * @epoch:    key epoch written in packets
 * @sport:    local SMT port (host order)
 * @dport:    peer SMT port (host order)
 * @rec_size: R
 * @mtu:      packet size cap, 0 = route MTU
 * @family:   AF_INET or AF_INET6
 * @saddr:    local IPv4 address or 0
 * @daddr:    peer IPv4 address
 * @saddr6:   local IPv6 address or ::
 * @daddr6:   peer IPv6 address
 * @tx:       sending key
 * @crypto:   the key as given, kept for device offload contexts (wiped)
 */
struct smt_ksession {
	struct list_head link;
	u32 id;
	struct net *net;
	u8 ipproto;
	u8 B;
	u8 epoch;
	u16 sport;
	u16 dport;
	u32 rec_size;
	u32 mtu;
	u16 family;
	__be32 saddr;
	__be32 daddr;
	struct in6_addr saddr6;
	struct in6_addr daddr6;
	struct smt_kaead tx;
	union smt_kmod_crypto crypto;
};

/* Sessions of one open /dev/smt file. */
struct smt_ksession_table {
	struct mutex lock;
	struct list_head sessions;
	u32 next_id;
	unsigned int count;
};

#define SMT_KMOD_MAX_SESSIONS 1024 /* per open file */

int smt_ksession_params_check(const struct smt_kmod_session *p,
			      u8 default_proto);
void smt_ksession_table_init(struct smt_ksession_table *t);
int smt_ksession_add(struct smt_ksession_table *t, struct net *net,
		     const struct smt_kmod_session *p, u8 default_proto);
int smt_ksession_del(struct smt_ksession_table *t, u32 id);
struct smt_ksession *smt_ksession_find(struct smt_ksession_table *t, u32 id);
void smt_ksession_table_destroy(struct smt_ksession_table *t);

/* ---- smt_outgoing.c --------------------------------------------------- */

/* The module sends IP headers without options or extension headers. */
#define SMT_IPV4_HDR_LEN 20
#define SMT_IPV6_HDR_LEN 40

/**
 * struct smt_layout - a message's records under the deterministic rule.
 * @content_len: 8 + application bytes
 * @rec_size:    R
 * @nrec:        number of records
 * @wire_len:    msg_len, content_len + 22 * nrec
 */
struct smt_layout {
	u32 content_len;
	u32 rec_size;
	u32 nrec;
	u32 wire_len;
};

int smt_layout_init(struct smt_layout *l, u32 app_len, u32 rec_size,
		    unsigned int B);
u32 smt_layout_rec_clen(const struct smt_layout *l, u32 k);
u32 smt_layout_rec_off(const struct smt_layout *l, u32 k);
void smt_data_hdr_init(struct smt_hdr *h, const struct smt_ksession *s,
		       const struct smt_layout *l, u64 msg_id, u32 k);
u32 smt_max_payload(u32 mtu, u32 iphlen);
struct sk_buff *smt_record_skb(struct smt_ksession *s,
			       const struct smt_layout *l, u64 msg_id, u32 k,
			       const u8 *content, u32 mss, bool plain);
bool smt_segment_here(const struct sk_buff *skb, netdev_features_t features);
extern bool smt_gso_in_module;
int smt_send_msg(struct smt_ksession *s, u64 msg_id, u32 inner_flags,
		 u8 *content, u32 len);

/* ---- smt_ip.c (kernel only; tests/unit/kmod/mock_ip.c in the tests) --- */

/**
 * struct smt_route - a route to a session's peer, either family.
 * @dst: the route (held until smt_route_put())
 * @dev: its egress device
 * @mtu: the route's MTU
 * @fl4: IPv4 flow (addresses chosen by the lookup)
 * @fl6: IPv6 flow
 */
struct smt_route {
	struct dst_entry *dst;
	struct net_device *dev;
	u32 mtu;
	union {
		struct flowi4 fl4;
		struct flowi6 fl6;
	};
};

int smt_route_lookup(struct smt_ksession *s, struct smt_route *r);
void smt_route_put(struct smt_route *r);
void smt_ip_push(struct smt_ksession *s, struct sk_buff *skb,
		 const struct smt_route *r);
struct sk_buff *smt_ip_segment(struct sk_buff *skb);
int smt_ip_local_out(struct smt_ksession *s, struct sk_buff *skb);

/* ---- smt_offload.c ---------------------------------------------------- */

/* GSO type marking SMT record super-packets for software segmentation: a
 * type that no software device (veth, loopback, virtio) claims to segment,
 * so validate_xmit_skb() calls our handler. */
#define SMT_GSO_TYPE SKB_GSO_ESP

/* A plaintext record packet for a TLS offload device (skb->decrypted). */
static inline bool smt_skb_plaintext(const struct sk_buff *skb)
{
#if IS_ENABLED(CONFIG_TLS_DEVICE)
	return skb->decrypted;
#else
	return false;
#endif
}

void smt_gso_fix_hdr(struct smt_hdr *h, u32 idx, u32 mss);
struct sk_buff *smt_gso_segment(struct sk_buff *skb,
				netdev_features_t features);
int smt_offload_init(u8 proto);
void smt_offload_exit(u8 proto);

/* ---- smt_tls_offload.c ------------------------------------------------ */

/* One message's device TLS TX context; defined in smt_tls_offload.c. */
struct smt_tls_tx_ctx;

bool smt_tls_offload_capable(const struct net_device *dev);
int smt_tls_offload_begin(struct smt_tls_tx_ctx **ctx, struct net_device *dev,
			  struct smt_ksession *s, u64 msg_id);
void smt_tls_offload_own(struct smt_tls_tx_ctx *ctx, struct sk_buff *skb);
int smt_tls_offload_resync(struct smt_tls_tx_ctx *ctx, u32 rec_off, u32 k);
void smt_tls_offload_end(struct smt_tls_tx_ctx *ctx);
int smt_tls_offload_init(void);
void smt_tls_offload_exit(void);
extern bool smt_tls_offload_enabled;

#endif /* SMT_IMPL_H */
