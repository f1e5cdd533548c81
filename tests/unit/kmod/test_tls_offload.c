// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmod/smt_outgoing.c's send path and smt_tls_offload.c against the mock IP
 * layer (mock_ip.c) and a mock TLS TX offload device: tlsdev_ops that record
 * every add, del and resync and keep driver state in the context as mlx5
 * does, and a check that does what such a NIC does with the packets it gets
 * (encrypts each plaintext record under the key and rec_seq it was given),
 * after which the message must be byte for byte libsmt's. Also: the software
 * path through smt_send_msg(), one context per in-flight message, contexts
 * released only after their last packet, and every error unwinding.
 */
#include <criterion/criterion.h>

#include "kmod_test.h"
#include "codec.h"

#define MD_MAX 16

/* The mock device's driver: what tls_dev_add/del/resync were given. */
static struct {
	int adds, dels, resyncs;
	int add_err, resync_err;
	struct sock *sk[MD_MAX];
	struct tls_context *ctx[MD_MAX];
	union smt_kmod_crypto ci[MD_MAX];
	u32 start_sn[MD_MAX];
	struct tls_context *del_ctx[MD_MAX];
	u32 rs_seq[MD_MAX];
	u64 rs_sn[MD_MAX];
} md;

static int md_add(struct net_device *dev, struct sock *sk,
		  enum tls_offload_ctx_dir dir, struct tls_crypto_info *ci,
		  u32 start_sn)
{
	struct tls_context *tc = tls_get_ctx(sk);
	int i = md.adds++;

	cr_assert_lt(i, MD_MAX);
	cr_expect_eq(dir, TLS_OFFLOAD_CTX_DIR_TX);
	cr_assert_not_null(tc, "the driver finds the context via the socket");
	cr_assert_not_null(tls_offload_ctx_tx(tc));
	cr_expect_eq(ci, &tc->crypto_send.info, "key from the context");
	if (md.add_err)
		return md.add_err;
	md.sk[i] = sk;
	md.ctx[i] = tc;
	memcpy(&md.ci[i], ci, sizeof(md.ci[i]));
	md.start_sn[i] = start_sn;
	/* Driver state in the room kTLS leaves for it, as mlx5 keeps its. */
	memcpy(tls_offload_ctx_tx(tc)->driver_state, &i, sizeof(i));
	return 0;
}

static void md_del(struct net_device *dev, struct tls_context *tc,
		   enum tls_offload_ctx_dir dir)
{
	int i;

	cr_expect_eq(dir, TLS_OFFLOAD_CTX_DIR_TX);
	memcpy(&i, tls_offload_ctx_tx(tc)->driver_state, sizeof(i));
	cr_assert(i >= 0 && i < md.adds);
	cr_expect_eq(md.ctx[i], tc, "driver state intact at del");
	md.del_ctx[md.dels++] = tc;
}

static int md_resync(struct net_device *dev, struct sock *sk, u32 seq,
		     u8 *rcd_sn, enum tls_offload_ctx_dir dir)
{
	int i = md.resyncs++;
	u64 sn;

	cr_assert_lt(i, MD_MAX);
	cr_expect_eq(dir, TLS_OFFLOAD_CTX_DIR_TX);
	memcpy(&sn, rcd_sn, 8);
	md.rs_seq[i] = seq;
	md.rs_sn[i] = be64toh(sn);
	return md.resync_err;
}

static const struct tlsdev_ops md_ops = {.tls_dev_add = md_add,
					 .tls_dev_del = md_del,
					 .tls_dev_resync = md_resync};

static struct net_device tls_dev = {.name = "mlx5mock",
				    .features = NETIF_F_HW_TLS_TX,
				    .tlsdev_ops = &md_ops};
static struct net_device plain_dev = {.name = "veth0"};

static void offload_init(void)
{
	memset(&md, 0, sizeof(md));
	tls_dev.refcnt = plain_dev.refcnt = 0;
	mock_warns = mock_tls_fallback_drops = 0;
	kt_ip_reset(&tls_dev, 1500);
	cr_assert_eq(smt_tls_offload_init(), 0);
	smt_tls_offload_enabled = true;
}

static void offload_fini(void)
{
	kt_wire_free();
	smt_tls_offload_exit();
	cr_expect_eq(tls_dev.refcnt, 0, "device references left");
	cr_expect_eq(md.adds, md.dels, "%d contexts added, %d removed", md.adds,
		     md.dels);
	kt_leak_check();
}

TestSuite(kmod_tls_offload, .init = offload_init, .fini = offload_fini);

/* Removals queued by freed packets run (the work queue is flushed). */
static void flush_removals(void)
{
	smt_tls_offload_exit();
	cr_assert_eq(smt_tls_offload_init(), 0);
}

struct sess {
	struct smt_ksession s;
	struct net net;
};

static void sess_init(struct sess *x, u16 cipher, u16 family)
{
	memset(x, 0, sizeof(*x));
	kt_crypto(&x->s.crypto, cipher, 21);
	cr_assert_eq(smt_kaead_init(&x->s.tx, &x->s.crypto), 0);
	x->s.net = &x->net;
	x->s.family = family;
	x->s.ipproto = 253;
	x->s.B = 48;
	x->s.sport = 4001;
	x->s.dport = 4002;
	x->s.epoch = 2;
	x->s.rec_size = 16384;
}

static void sess_fini(struct sess *x)
{
	smt_kaead_destroy(&x->s.tx);
	memzero_explicit(&x->s.crypto, sizeof(x->s.crypto));
}

static u8 *content_new(u32 len, u8 salt)
{
	u8 *c = malloc(8 + len + 1);

	for (u32 i = 0; i < len; i++)
		c[8 + i] = (u8)(i * 7 + salt);
	return c;
}

static const u8 *rec_seq_of(const union smt_kmod_crypto *ci)
{
	return ci->info.cipher_type == TLS_CIPHER_AES_GCM_128
		       ? ci->aes_gcm_128.rec_seq
		       : ci->aes_gcm_256.rec_seq;
}

/*
 * Check the packets on kt_ip.wire against libsmt's encoding of the same
 * message. Software path (dev_ctx < 0): each packet equals libsmt's. Offload
 * (dev_ctx = index of the device's add): each packet is plaintext, owned by
 * that context's socket, with libsmt's header; each record is framed for
 * the device (header, inner type, zero tag room) and, encrypted as the
 * device does with what tls_dev_add gave it, the stream is libsmt's.
 * Frees the packets it checked.
 */
static void check_wire(struct sess *x, const u8 *content, u32 len, u64 msg_id,
		       u32 mss, int dev_ctx)
{
	u32 iphlen = x->s.family == AF_INET6 ? 40 : 20, covered = 0;
	struct smt_data_tmpl t = {.sport = 4001, .dport = 4002, .epoch = 2};
	struct smt_aead *ref = kt_libsmt_aead(x->s.crypto.info.cipher_type, 21);
	struct smt_wire_msg m;
	struct sk_buff *skb;
	u8 *stream, pkt[1500];

	cr_assert_not_null(ref);
	cr_assert_eq(
		smt_msg_encode(ref, 48, msg_id, content + 8, len, 0, 16384, &m),
		0);
	t.granted = m.wire_len;
	stream = calloc(1, m.wire_len);
	cr_assert_gt(kt_ip.nwire, 0);
	for (skb = kt_ip.wire; skb; skb = skb->next) {
		const struct smt_hdr *h = (const void *)(skb->data + iphlen);
		u32 off = be32toh(h->pkt_off), n;

		cr_assert_gt(skb->len, iphlen + 40);
		cr_expect_eq(skb->data[iphlen == 20 ? 9 : 6], 253);
		cr_expect_not(skb_is_gso(skb));
		n = smt_data_build(&m, off, mss, &t, pkt);
		cr_assert_eq(skb->len - iphlen - 40, n, "packet at %u", off);
		cr_expect_arr_eq(skb->data + iphlen, pkt, 40, "header at %u",
				 off);
		if (dev_ctx < 0) {
			cr_expect_not(skb->decrypted);
			cr_expect_null(skb->sk);
			cr_expect_arr_eq(skb->data + iphlen + 40, pkt + 40, n,
					 "sealed payload at %u", off);
		} else {
			cr_expect(skb->decrypted, "marked plaintext");
			cr_expect_eq(skb->sk, md.sk[dev_ctx],
				     "owned by carrier");
			memcpy(stream + off, skb->data + iphlen + 40, n);
		}
		covered += n;
	}
	cr_expect_eq(covered, m.wire_len, "every byte sent once");

	if (dev_ctx >= 0) {
		struct smt_kaead a;
		u64 seq0;

		memcpy(&seq0, rec_seq_of(&md.ci[dev_ctx]), 8);
		seq0 = be64toh(seq0);
		cr_expect_eq(seq0, msg_id << 16, "rec_seq = record 0's");
		cr_expect_eq(md.start_sn[dev_ctx], 0, "pkt_off of record 0");
		cr_assert_eq(smt_kaead_init(&a, &md.ci[dev_ctx]), 0);
		for (u32 k = 0; k < m.nrec; k++) {
			u8 *rec = stream + m.rec_off[k];
			u32 clen = m.rec_off[k + 1] - m.rec_off[k] - 22;
			static const u8 zero[16];

			cr_expect_eq(rec[0], 0x17);
			cr_expect_eq(rec[1], 0x03);
			cr_expect_eq(rec[2], 0x03);
			cr_expect_eq((rec[3] << 8) | rec[4], clen + 17);
			cr_expect_arr_eq(rec + 5, content + 16384 * k, clen,
					 "plaintext of record %u", k);
			cr_expect_eq(rec[5 + clen], 0x17, "inner type");
			cr_expect_arr_eq(rec + 6 + clen, zero, 16, "tag room");
			cr_assert_eq(smt_krecord_seal(&a, seq0 + k, rec, clen),
				     0);
		}
		smt_kaead_destroy(&a);
		cr_expect_arr_eq(stream, m.wire, m.wire_len,
				 "device-encrypted stream is libsmt's");
	}
	free(stream);
	smt_wire_msg_free(&m);
	smt_aead_free(ref);
	kt_wire_free();
}

/* Send through smt_send_msg() and check the wire; returns its result. */
static int send_check(struct sess *x, u32 len, u64 msg_id, int dev_ctx)
{
	u32 mss = x->s.family == AF_INET6 ? 1420 : 1440;
	u8 *c = content_new(len, (u8)msg_id);
	int err = smt_send_msg(&x->s, msg_id, 0, c, len);

	if (!err)
		check_wire(x, c, len, msg_id, mss, dev_ctx);
	free(c);
	return err;
}

Test(kmod_tls_offload, smt_tls_offload_capable__needs_feature_ops_and_param)
{
	struct net_device dev = {.features = NETIF_F_HW_TLS_TX,
				 .tlsdev_ops = &md_ops};

	cr_expect(smt_tls_offload_capable(&dev));
	smt_tls_offload_enabled = false;
	cr_expect_not(smt_tls_offload_capable(&dev), "param off");
	smt_tls_offload_enabled = true;
	dev.features = 0;
	cr_expect_not(smt_tls_offload_capable(&dev), "no NETIF_F_HW_TLS_TX");
	dev.features = NETIF_F_HW_TLS_TX;
	dev.tlsdev_ops = NULL;
	cr_expect_not(smt_tls_offload_capable(&dev), "no tlsdev_ops");
	cr_expect_not(smt_tls_offload_capable(NULL));
}

Test(kmod_tls_offload, smt_send_msg__software_path_packets_are_libsmt_s)
{
	static const u32 lens[] = {0, 1431, 16377, 50000};
	struct sess x;

	kt_ip_reset(&plain_dev, 1500);
	for (unsigned int c = 0; c < 3; c++) {
		sess_init(&x, kt_ciphers[c], AF_INET);
		for (unsigned int i = 0; i < 4; i++)
			cr_expect_eq(send_check(&x, lens[i], 100 + i, -1), 0);
		sess_fini(&x);
	}
	cr_expect_eq(smt_stat_get(SMT_CNT_MSGS_SENT), 12);
	cr_expect_eq(md.adds, 0);
	/* IPv6, and records segmented in the module. */
	sess_init(&x, TLS_CIPHER_AES_GCM_256, AF_INET6);
	cr_expect_eq(send_check(&x, 40000, 7, -1), 0);
	smt_gso_in_module = true;
	kt_ip.segmented = 0;
	cr_expect_eq(send_check(&x, 40000, 8, -1), 0);
	cr_expect_eq(kt_ip.segmented, 3, "three GSO records cut here");
	smt_gso_in_module = false;
	sess_fini(&x);
}

Test(kmod_tls_offload, smt_send_msg__route_and_mtu_errors_hold_nothing)
{
	struct sess x;
	u8 *c = content_new(10, 0);

	sess_init(&x, TLS_CIPHER_AES_GCM_128, AF_INET);
	kt_ip.route_err = -ENETUNREACH;
	cr_expect_eq(smt_send_msg(&x.s, 5, 0, c, 10), -ENETUNREACH);
	cr_expect_eq(smt_stat_get(SMT_CNT_ROUTE_ERRORS), 1);
	kt_ip.route_err = 0;
	kt_ip.mtu = 20 + 40 + SMT_REC_START_MIN - 1;
	cr_expect_eq(smt_send_msg(&x.s, 5, 0, c, 10), -EMSGSIZE);
	cr_expect_eq(kt_ip.nwire, 0);
	cr_expect_eq(md.adds, 0, "no context before the MTU is known good");
	free(c);
	sess_fini(&x);
}

Test(kmod_tls_offload,
     smt_send_msg__device_gets_plaintext_it_encrypts_to_libsmt)
{
	static const u32 lens[] = {0, 1, 1431, 16377, 50000};
	struct sess x;
	int n = 0;

	for (unsigned int c = 0; c < 2; c++) {
		sess_init(&x, kt_ciphers[c], AF_INET);
		for (unsigned int i = 0; i < 5; i++, n++) {
			cr_assert_eq(smt_send_msg(&x.s, 0, 0, NULL, 0),
				     -EINVAL);
			cr_expect_eq(send_check(&x, lens[i], 0x1000 + n, n), 0);
			cr_expect_eq(md.adds, n + 1, "one context per message");
		}
		sess_fini(&x);
	}
	cr_expect_eq(smt_stat_get(SMT_CNT_TLS_OFFLOAD_RECORDS),
		     2 * (1 + 1 + 1 + 2 + 4));
	flush_removals();
	cr_expect_eq(md.dels, n);
	for (int i = 0; i < n; i++)
		cr_expect_eq(md.del_ctx[i], md.ctx[i], "removed in order");
	cr_expect_eq(smt_stat_get(SMT_CNT_TLS_OFFLOAD_CTX_ADDED), n);
	cr_expect_eq(smt_stat_get(SMT_CNT_TLS_OFFLOAD_CTX_FREED), n);
	cr_expect_eq(smt_stat_get(SMT_CNT_TLS_OFFLOAD_FALLBACKS), 0);
}

Test(kmod_tls_offload, smt_send_msg__ipv6_offload)
{
	struct sess x;

	sess_init(&x, TLS_CIPHER_AES_GCM_128, AF_INET6);
	cr_expect_eq(send_check(&x, 40000, 9, 0), 0);
	sess_fini(&x);
	flush_removals();
	cr_expect_eq(md.dels, 1);
}

/* Unhook the packets on the wire (they stay in flight). */
static struct sk_buff *wire_take(void)
{
	struct sk_buff *l = kt_ip.wire;

	kt_ip.wire = NULL;
	kt_ip.wire_tail = &kt_ip.wire;
	kt_ip.nwire = 0;
	return l;
}

Test(kmod_tls_offload, smt_send_msg__context_lives_while_its_packets_do)
{
	struct sk_buff *a, *b;
	struct sess x;
	u8 *c = content_new(20000, 1);
	u64 s0, s1;

	sess_init(&x, TLS_CIPHER_AES_GCM_128, AF_INET);
	cr_assert_eq(smt_send_msg(&x.s, 40, 0, c, 20000), 0);
	a = wire_take();
	cr_assert_eq(smt_send_msg(&x.s, 41, 0, c, 20000), 0);
	b = wire_take();
	cr_expect_eq(md.adds, 2, "two messages in flight, two contexts");
	cr_expect_neq(md.sk[0], md.sk[1]);
	memcpy(&s0, rec_seq_of(&md.ci[0]), 8);
	memcpy(&s1, rec_seq_of(&md.ci[1]), 8);
	cr_expect_eq(be64toh(s0), 40ull << 16);
	cr_expect_eq(be64toh(s1), 41ull << 16);
	cr_expect_eq(tls_dev.refcnt, 2);
	cr_expect_eq(mock_socks, 2, "carriers live while packets do");
	flush_removals();
	cr_expect_eq(md.dels, 0, "nothing removed with packets in flight");

	kfree_skb_list(b);
	flush_removals();
	cr_expect_eq(md.dels, 1);
	cr_expect_eq(md.del_ctx[0], md.ctx[1], "the second message's context");
	cr_expect_eq(tls_dev.refcnt, 1);
	kfree_skb_list(a);
	cr_expect_eq(md.dels, 1, "removal runs from the work queue");
	flush_removals();
	cr_expect_eq(md.dels, 2);
	cr_expect_eq(mock_socks, 0);
	free(c);
	sess_fini(&x);
}

Test(kmod_tls_offload, smt_send_msg__driver_refusal_falls_back_to_software)
{
	struct sess x;

	sess_init(&x, TLS_CIPHER_AES_GCM_256, AF_INET);
	md.add_err = -ENOSPC; /* out of contexts: this message only */
	cr_expect_eq(send_check(&x, 20000, 50, -1), 0);
	cr_expect_eq(md.adds, 1);
	cr_expect(smt_tls_offload_enabled);
	cr_expect_eq(mock_socks, 0, "the carrier is gone");
	md.add_err = -EOPNOTSUPP; /* e.g. a driver that knows TLS 1.2 only */
	cr_expect_eq(send_check(&x, 20000, 51, -1), 0);
	cr_expect_not(smt_tls_offload_enabled, "offload turned off");
	cr_expect_eq(mock_warns, 1);
	cr_expect_eq(send_check(&x, 20000, 52, -1), 0);
	cr_expect_eq(md.adds, 2, "not asked again");
	cr_expect_eq(smt_stat_get(SMT_CNT_TLS_OFFLOAD_FALLBACKS), 2);
	cr_expect_eq(tls_dev.refcnt, 0);
	md.adds = md.dels = 0;
	sess_fini(&x);
}

Test(kmod_tls_offload, smt_send_msg__chacha_missing_tls_or_socket_use_software)
{
	struct sess x;

	sess_init(&x, TLS_CIPHER_CHACHA20_POLY1305, AF_INET);
	cr_expect_eq(send_check(&x, 3000, 60, -1), 0);
	sess_fini(&x);
	cr_expect_eq(md.adds, 0, "no device offers ChaCha20 to kTLS");

	sess_init(&x, TLS_CIPHER_AES_GCM_128, AF_INET);
	mock_tls_module_loaded = false;
	cr_expect_eq(send_check(&x, 3000, 61, -1), 0);
	mock_tls_module_loaded = true;
	mock_fail_sock_create = true;
	cr_expect_eq(send_check(&x, 3000, 62, -1), 0);
	mock_fail_sock_create = false;
	cr_expect_eq(md.adds, 0);
	cr_expect_eq(smt_stat_get(SMT_CNT_TLS_OFFLOAD_FALLBACKS), 3);
	cr_expect_eq(mock_module_refs, 0);
	cr_expect_eq(mock_symbol_refs, 0);
	sess_fini(&x);
}

Test(kmod_tls_offload, smt_send_msg__transmit_error_releases_the_context)
{
	struct sess x;
	u8 *c = content_new(50000, 3);

	sess_init(&x, TLS_CIPHER_AES_GCM_128, AF_INET);
	kt_ip.xmit_err = -ENOBUFS;
	kt_ip.xmit_ok = 13; /* fails inside the second record */
	cr_expect_eq(smt_send_msg(&x.s, 70, 0, c, 50000), -ENOBUFS);
	cr_expect_eq(kt_ip.nwire, 13);
	cr_expect_eq(smt_stat_get(SMT_CNT_SEND_ERRORS), 1);
	cr_expect_eq(md.adds, 1);
	kt_wire_free();
	flush_removals();
	cr_expect_eq(md.dels, 1);
	free(c);
	sess_fini(&x);
}

Test(kmod_tls_offload, smt_send_msg__packets_on_another_device_never_go_plain)
{
	struct net_device other = {.name = "eth1"};
	struct sess x;
	u8 *c = content_new(20000, 4);

	sess_init(&x, TLS_CIPHER_AES_GCM_128, AF_INET);
	kt_ip.xmit_dev = &other; /* rerouted after the lookup */
	cr_expect_eq(smt_send_msg(&x.s, 80, 0, c, 20000), 0);
	cr_expect_eq(kt_ip.nwire, 0, "nothing reached a device");
	cr_expect_eq(mock_tls_fallback_drops, 15);
	flush_removals();
	cr_expect_eq(md.dels, 1);
	free(c);
	sess_fini(&x);
}

/* What tls_offload_tx_resync_request() does: ask at the first packet. */
static void ask_resync(struct sk_buff *skb)
{
	if (kt_ip.nwire == 1)
		set_bit(TLS_TX_SYNC_SCHED, &tls_get_ctx(skb->sk)->flags);
}

Test(kmod_tls_offload,
     smt_send_msg__driver_resync_request_served_at_record_start)
{
	struct sess x;

	sess_init(&x, TLS_CIPHER_AES_GCM_128, AF_INET);
	kt_ip.on_xmit = ask_resync;
	md.resync_err = -EBUSY; /* first attempt fails, kept pending */
	cr_expect_eq(send_check(&x, 20000, 90, 0), 0);
	cr_expect_eq(md.resyncs, 1);
	cr_expect_eq(md.rs_seq[0], 16406, "record 1's pkt_off");
	cr_expect_eq(md.rs_sn[0], (90ull << 16) | 1);
	md.resync_err = 0;
	cr_expect_eq(send_check(&x, 40000, 91, 1), 0);
	cr_expect_eq(md.resyncs, 2);
	cr_expect_eq(md.rs_sn[1], (91ull << 16) | 1);
	cr_expect_eq(smt_stat_get(SMT_CNT_TLS_OFFLOAD_RESYNCS), 1);
	cr_expect_eq(md.resyncs, 2, "none after it succeeded");
	sess_fini(&x);
}
