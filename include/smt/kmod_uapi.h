/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * User interface of the smt kernel module (kmod/, docs/kmod.md): ioctls on
 * the misc character device /dev/smt. A session is added with its addresses,
 * ports, message-ID width B, IP protocol number and the sender's direction
 * key as one of Linux kTLS's own TLS 1.3 crypto_info structs; messages are
 * then sent on it by session id. Fixed-width fields and explicit padding only,
 * every size checked at build time, so the module and 64-bit userspace share
 * this file unchanged.
 */
#ifndef SMT_KMOD_UAPI_H
#define SMT_KMOD_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/tls.h>

#define SMT_KMOD_DEV_NAME "smt" /* /dev/smt */
#define SMT_KMOD_PROC_STAT "smt_stat" /* /proc/net/smt_stat */

/* Keys in kTLS's form; info.version must be TLS_1_3_VERSION and
 * info.cipher_type one of the three TLS 1.3 AEADs. The 12-byte TLS 1.3 IV is
 * salt || iv (AES-GCM) or iv (ChaCha20-Poly1305); rec_seq is ignored, since
 * SMT computes each record's sequence number from msg_id and k. */
union smt_kmod_crypto {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 aes_gcm_128;
	struct tls12_crypto_info_aes_gcm_256 aes_gcm_256;
	struct tls12_crypto_info_chacha20_poly1305 chacha20_poly1305;
};

/**
 * struct smt_kmod_session - SMT_IOC_SESSION_ADD argument.
 * @id:         out: session id for later calls (> 0)
 * @family:     AF_INET or AF_INET6
 * @ipproto:    IP protocol number of the session's packets (0: module's)
 * @B:          message-ID width, 40..56 (0: 48)
 * @epoch:      key epoch written in every packet
 * @local_port: SMT port of this side (host order)
 * @peer_port:  SMT port of the peer (host order)
 * @rec_size:   R, content bytes per record, 4096..16384 (0: 16384)
 * @mtu:        packet size cap incl. IP header (0: the route's MTU)
 * @local_addr: this side's address, network order: IPv4 in the first 4
 *              bytes, or 16 bytes of IPv6; all-zero lets the route choose
 * @peer_addr:  peer's address, same form
 * @crypto:     the sending direction's key
 */
struct smt_kmod_session {
	__u32 id;
	__u16 family;
	__u8 ipproto;
	__u8 B;
	__u8 epoch;
	__u8 pad0;
	__u16 local_port;
	__u16 peer_port;
	__u16 pad1;
	__u32 rec_size;
	__u32 mtu;
	__u8 local_addr[16];
	__u8 peer_addr[16];
	union smt_kmod_crypto crypto;
};

/**
 * struct smt_kmod_send - SMT_IOC_SEND argument.
 * @session:     session id from SMT_IOC_SESSION_ADD
 * @inner_flags: SMT_INNER_ONEWAY or 0
 * @msg_id:      2 <= msg_id < 2^(B-1), never reused under one key and epoch
 * @payload:     user pointer to the application bytes
 * @len:         number of application bytes (0 .. SMT_KMOD_MAX_MSG)
 * @pad:         0
 */
struct smt_kmod_send {
	__u32 session;
	__u32 inner_flags;
	__u64 msg_id;
	__u64 payload;
	__u32 len;
	__u32 pad;
};

#define SMT_KMOD_MAX_MSG (1u << 20) /* M of sessions added here: 1 MiB */

#define SMT_IOC_MAGIC 0xb5
#define SMT_IOC_SESSION_ADD _IOWR(SMT_IOC_MAGIC, 1, struct smt_kmod_session)
#define SMT_IOC_SESSION_DEL _IOW(SMT_IOC_MAGIC, 2, __u32)
#define SMT_IOC_SEND _IOW(SMT_IOC_MAGIC, 3, struct smt_kmod_send)

_Static_assert(sizeof(union smt_kmod_crypto) == 56, "crypto union is 56 bytes");
_Static_assert(sizeof(struct smt_kmod_session) == 112,
	       "smt_kmod_session is 112 bytes");
_Static_assert(__builtin_offsetof(struct smt_kmod_session, crypto) == 56,
	       "smt_kmod_session.crypto at 56");
_Static_assert(sizeof(struct smt_kmod_send) == 32, "smt_kmod_send is 32 bytes");

#endif /* SMT_KMOD_UAPI_H */
