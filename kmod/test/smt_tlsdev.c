// SPDX-License-Identifier: GPL-2.0-only
/*
 * smt_tlsdev: a TEST-ONLY pair of virtual Ethernet devices, tlsa and tlsb,
 * wired to each other like a veth pair, whose transmit side behaves like a
 * NIC with TLS TX offload: it advertises NETIF_F_HW_TLS_TX, implements
 * tlsdev_ops (tls_dev_add, tls_dev_del, tls_dev_resync) and encrypts, with
 * the kernel crypto API ("gcm(aes)"), the plaintext TLS 1.3 records of
 * packets marked skb->decrypted under the key and record sequence number
 * given at tls_dev_add(). The VM tier (tests/vm/init.sh) sends smt.ko's
 * offloaded messages through it to a libsmt receiver in another namespace.
 *
 * The "crypto engine" reads each packet the way a NIC's does, as TCP: the
 * sequence number (SMT's pkt_off) and the data offset (SMT's 40-byte
 * header) locate the payload in the context's byte stream, which starts at
 * start_offload_tcp_sn. Record boundaries come from the record headers in
 * that stream. Unlike a NIC, which streams GCM, it stores a record's
 * packets until the record is complete, seals the record in one piece,
 * writes the ciphertext and tag back into the packets and then forwards
 * them; it does not support a packet that spans two records (SMT never
 * sends one). A packet out of order, a bad record header or a crypto error
 * drops the packet and the rest of the context's stream, counted in
 * "errors". Optional behaviours for tests: refuse_add=1 refuses every
 * context with -EOPNOTSUPP; resync_test=1 makes the device forget its
 * stream position after each context's first record and ask for a TX
 * resync (tls_offload_tx_resync_request()), then check the position and
 * sequence number tls_dev_resync() gives it.
 *
 * Counters are in debugfs: /sys/kernel/debug/smt_tlsdev/stats (ctx_live_max:
 * most contexts alive at once). Never meant for anything but the VM tier;
 * no real NIC was involved.
 */
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/etherdevice.h>
#include <linux/skbuff.h>
#include <linux/tcp.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/slab.h>
#include <linux/scatterlist.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <asm/unaligned.h>
#include <crypto/aead.h>
#include <net/tls.h>

#if !IS_ENABLED(CONFIG_TLS_DEVICE)
#error "smt_tlsdev needs CONFIG_TLS_DEVICE"
#endif

#define TLSDEV_HDR_LEN 5
#define TLSDEV_TAG_LEN 16
/* Largest TLS 1.3 record: header + 2^14 + 256 bytes of ciphertext. */
#define TLSDEV_REC_MAX (TLSDEV_HDR_LEN + 16384 + 256)

static bool refuse_add;
module_param(refuse_add, bool, 0644);
MODULE_PARM_DESC(refuse_add, "tls_dev_add refuses every context (-EOPNOTSUPP)");
static bool resync_test;
module_param(resync_test, bool, 0644);
MODULE_PARM_DESC(
	resync_test,
	"after each context's first record, forget the stream position and ask for a TX resync");

#define TLSDEV_COUNTERS(X)   \
	X(ctx_added)         \
	X(ctx_deleted)       \
	X(ctx_refused)       \
	X(ctx_live_max)      \
	X(records)           \
	X(packets_encrypted) \
	X(packets_plain)     \
	X(resync_requests)   \
	X(resyncs)           \
	X(resync_bad)        \
	X(errors)

static struct {
#define TLSDEV_CNT_FIELD(n) atomic64_t n;
	TLSDEV_COUNTERS(TLSDEV_CNT_FIELD)
#undef TLSDEV_CNT_FIELD
} cnt;

#define CNT_INC(n) atomic64_inc(&cnt.n)

/**
 * struct tlsdev_ctx - one TX offload context (the "NIC's" state).
 * @link:       in tlsdev_priv.ctxs
 * @lock:       serializes transmit, resync and flush on this context
 * @aead:       "gcm(aes)" with the context's key
 * @req:        request for @aead, allocated once
 * @iv:         TLS 1.3 static IV, salt || iv
 * @rec_seq:    sequence number of the next record
 * @next_seq:   stream position (TCP-shaped sequence) of the next byte
 * @rec_start:  stream position of the current record
 * @rec_len:    its length with header and tag; 0 between records
 * @nrec:       records sealed so far
 * @lost:       position forgotten, waiting for tls_dev_resync()
 * @failed:     a stream error happened: drop everything after it
 * @want_seq:   position a resync must give (resync_test)
 * @want_rec:   record sequence number a resync must give (resync_test)
 * @pending:    packets of the current record, waiting for its end
 * @buf:        the current record
 */
struct tlsdev_ctx {
	struct list_head link;
	spinlock_t lock;
	struct crypto_aead *aead;
	struct aead_request *req;
	u8 iv[12];
	u64 rec_seq;
	u32 next_seq;
	u32 rec_start;
	u32 rec_len;
	u32 nrec;
	bool lost;
	bool failed;
	u32 want_seq;
	u64 want_rec;
	struct sk_buff_head pending;
	u8 *buf;
};

/* Per device: the other end and the contexts added on this device. */
struct tlsdev_priv {
	struct net_device *peer;
	spinlock_t lock;
	struct list_head ctxs;
};

/* Where a packet's payload sits, kept in skb->cb while it waits. */
struct tlsdev_cb {
	u32 seq;
	u32 poff;
};

static struct net_device *tlsdev_pair[2];
static struct dentry *tlsdev_dir;

static struct tlsdev_cb *tlsdev_cb(struct sk_buff *skb)
{
	BUILD_BUG_ON(sizeof(struct tlsdev_cb) > sizeof(skb->cb));
	return (struct tlsdev_cb *)skb->cb;
}

static struct tlsdev_ctx **tlsdev_ctx_slot(struct tls_context *tctx)
{
	BUILD_BUG_ON(sizeof(struct tlsdev_ctx *) > TLS_DRIVER_STATE_SIZE_TX);
	return __tls_driver_ctx(tctx, TLS_OFFLOAD_CTX_DIR_TX);
}

/* "The wire": hand the packet to the peer device as received. */
static void tlsdev_forward(struct sk_buff *skb, struct net_device *dev)
{
	struct tlsdev_priv *p = netdev_priv(dev);
	unsigned int len = skb->len;

	skb->decrypted = 0;
	skb_orphan(skb);
	if (__dev_forward_skb(p->peer, skb)) {
		dev->stats.tx_dropped++;
		return;
	}
	/* The stack resolves no neighbours here (IFF_NOARP), so packets
	 * carry the sender's own address as destination. */
	if (skb->pkt_type == PACKET_OTHERHOST)
		skb->pkt_type = PACKET_HOST;
	dev->stats.tx_packets++;
	dev->stats.tx_bytes += len;
	if (netif_rx(skb) == NET_RX_SUCCESS) {
		p->peer->stats.rx_packets++;
		p->peer->stats.rx_bytes += len;
	} else {
		p->peer->stats.rx_dropped++;
	}
}

/* Locate the payload as a NIC does: the L4 header read as TCP. */
static int tlsdev_parse(struct sk_buff *skb)
{
	unsigned int l4 = skb_network_offset(skb);
	const struct tcphdr *th;

	if (skb_ensure_writable(skb, skb->len))
		return -ENOMEM;
	if (skb->protocol == htons(ETH_P_IP)) {
		if (l4 + sizeof(struct iphdr) > skb->len)
			return -EINVAL;
		l4 += ip_hdr(skb)->ihl * 4;
	} else if (skb->protocol == htons(ETH_P_IPV6)) {
		l4 += sizeof(struct ipv6hdr);
	} else {
		return -EPROTONOSUPPORT;
	}
	if (l4 + sizeof(*th) > skb->len)
		return -EINVAL;
	th = (const struct tcphdr *)(skb->data + l4);
	if (l4 + th->doff * 4 > skb->len)
		return -EINVAL;
	tlsdev_cb(skb)->seq = ntohl(th->seq);
	tlsdev_cb(skb)->poff = l4 + th->doff * 4;
	return 0;
}

/* Seal the record in c->buf in place: header as AAD, content || type
 * encrypted, tag into the 16 bytes of room at the end. */
static int tlsdev_seal(struct tlsdev_ctx *c)
{
	struct scatterlist sg;
	u8 nonce[12];
	int i;

	memcpy(nonce, c->iv, sizeof(nonce));
	for (i = 0; i < 8; i++)
		nonce[4 + i] ^= (u8)(c->rec_seq >> (56 - 8 * i));
	sg_init_one(&sg, c->buf, c->rec_len);
	aead_request_set_callback(c->req, 0, NULL, NULL);
	aead_request_set_ad(c->req, TLSDEV_HDR_LEN);
	aead_request_set_crypt(c->req, &sg, &sg,
			       c->rec_len - TLSDEV_HDR_LEN - TLSDEV_TAG_LEN,
			       nonce);
	return crypto_aead_encrypt(c->req);
}

/*
 * Add one plaintext packet to @c's current record; when it completes the
 * record, seal it, write the ciphertext back and move the record's packets
 * to @done. Called with c->lock held. Returns 0 or a stream error (the
 * caller drops the packet and what is pending).
 */
static int tlsdev_take(struct tlsdev_ctx *c, struct sk_buff *skb,
		       struct sk_buff_head *done, struct sock *sk)
{
	u32 seq = tlsdev_cb(skb)->seq, poff = tlsdev_cb(skb)->poff;
	u32 plen = skb->len - poff, off;
	const u8 *pl = skb->data + poff;
	struct sk_buff *p;
	int err;

	if (c->failed || c->lost || seq != c->next_seq)
		return -EPROTO;
	if (!c->rec_len) {
		if (plen < TLSDEV_HDR_LEN || pl[0] != 0x17 || pl[1] != 3 ||
		    pl[2] != 3)
			return -EBADMSG;
		c->rec_len = TLSDEV_HDR_LEN + ((pl[3] << 8) | pl[4]);
		c->rec_start = seq;
		if (c->rec_len > TLSDEV_REC_MAX ||
		    c->rec_len < TLSDEV_HDR_LEN + 1 + TLSDEV_TAG_LEN)
			return -EBADMSG;
	}
	off = seq - c->rec_start;
	if (off + plen > c->rec_len)
		return -EMSGSIZE; /* spans two records: not supported */
	memcpy(c->buf + off, pl, plen);
	c->next_seq = seq + plen;
	__skb_queue_tail(&c->pending, skb);
	if (off + plen < c->rec_len)
		return 0;

	err = tlsdev_seal(c);
	if (err) {
		__skb_unlink(skb, &c->pending);
		return err;
	}
	skb_queue_walk(&c->pending, p)
	{
		struct tlsdev_cb *cb = tlsdev_cb(p);

		memcpy(p->data + cb->poff, c->buf + (cb->seq - c->rec_start),
		       p->len - cb->poff);
	}
	skb_queue_splice_tail_init(&c->pending, done);
	c->rec_seq++;
	c->rec_len = 0;
	c->nrec++;
	CNT_INC(records);
	if (resync_test && c->nrec == 1) {
		/* Forget where we are and ask the stack to tell us. */
		c->want_seq = c->next_seq;
		c->want_rec = c->rec_seq;
		c->next_seq = 0;
		c->rec_seq = 0;
		c->lost = true;
		CNT_INC(resync_requests);
		tls_offload_tx_resync_request(sk, 0, c->want_seq);
	}
	return 0;
}

static netdev_tx_t tlsdev_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct sk_buff_head done, drop;
	struct tls_context *tctx;
	struct tlsdev_ctx *c;
	struct sk_buff *p;
	struct sock *sk = skb->sk;

	if (!skb->decrypted) {
		CNT_INC(packets_plain);
		tlsdev_forward(skb, dev);
		return NETDEV_TX_OK;
	}
	/* Plaintext: it must belong to a context of this device. */
	if (!sk || !tls_is_sk_tx_device_offloaded(sk) ||
	    rcu_access_pointer(tls_get_ctx(sk)->netdev) != dev ||
	    tlsdev_parse(skb)) {
		CNT_INC(errors);
		dev->stats.tx_dropped++;
		kfree_skb(skb);
		return NETDEV_TX_OK;
	}
	tctx = tls_get_ctx(sk);
	c = *tlsdev_ctx_slot(tctx);
	__skb_queue_head_init(&done);
	__skb_queue_head_init(&drop);
	spin_lock_bh(&c->lock);
	if (tlsdev_take(c, skb, &done, sk)) {
		/* The stream is broken: nothing more of it goes out. */
		c->failed = true;
		c->rec_len = 0;
		skb_queue_splice_init(&c->pending, &drop);
		__skb_queue_tail(&drop, skb);
	}
	spin_unlock_bh(&c->lock);
	/* The last packet's socket may take the context with it: @c is not
	 * touched after this point. */
	while ((p = __skb_dequeue(&drop))) {
		CNT_INC(errors);
		dev->stats.tx_dropped++;
		kfree_skb(p);
	}
	while ((p = __skb_dequeue(&done))) {
		CNT_INC(packets_encrypted);
		tlsdev_forward(p, dev);
	}
	return NETDEV_TX_OK;
}

/* Highest number of contexts alive at once so far. */
static void tlsdev_live_max(void)
{
	s64 live =
		atomic64_read(&cnt.ctx_added) - atomic64_read(&cnt.ctx_deleted);
	s64 max = atomic64_read(&cnt.ctx_live_max);

	while (live > max) {
		s64 old = atomic64_cmpxchg(&cnt.ctx_live_max, max, live);

		if (old == max)
			break;
		max = old;
	}
}

static int tlsdev_add(struct net_device *dev, struct sock *sk,
		      enum tls_offload_ctx_dir dir, struct tls_crypto_info *ci,
		      u32 start_offload_tcp_sn)
{
	struct tlsdev_priv *p = netdev_priv(dev);
	const u8 *key, *salt, *iv, *rec_seq;
	struct tlsdev_ctx *c;
	unsigned int klen;
	int err;

	if (refuse_add || dir != TLS_OFFLOAD_CTX_DIR_TX ||
	    ci->version != TLS_1_3_VERSION)
		goto refuse;
	if (ci->cipher_type == TLS_CIPHER_AES_GCM_128) {
		struct tls12_crypto_info_aes_gcm_128 *g =
			container_of(ci, typeof(*g), info);

		key = g->key, salt = g->salt, iv = g->iv, rec_seq = g->rec_seq;
		klen = sizeof(g->key);
	} else if (ci->cipher_type == TLS_CIPHER_AES_GCM_256) {
		struct tls12_crypto_info_aes_gcm_256 *g =
			container_of(ci, typeof(*g), info);

		key = g->key, salt = g->salt, iv = g->iv, rec_seq = g->rec_seq;
		klen = sizeof(g->key);
	} else {
		goto refuse;
	}

	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	err = -ENOMEM;
	c->buf = kmalloc(TLSDEV_REC_MAX, GFP_KERNEL);
	if (!c->buf)
		goto fail;
	c->aead = crypto_alloc_aead("gcm(aes)", 0, CRYPTO_ALG_ASYNC);
	if (IS_ERR(c->aead)) {
		err = PTR_ERR(c->aead);
		c->aead = NULL;
		goto fail;
	}
	err = crypto_aead_setkey(c->aead, key, klen);
	if (!err)
		err = crypto_aead_setauthsize(c->aead, TLSDEV_TAG_LEN);
	if (err)
		goto fail;
	err = -ENOMEM;
	c->req = aead_request_alloc(c->aead, GFP_KERNEL);
	if (!c->req)
		goto fail;
	memcpy(c->iv, salt, 4);
	memcpy(c->iv + 4, iv, 8);
	c->rec_seq = get_unaligned_be64(rec_seq);
	c->next_seq = start_offload_tcp_sn;
	spin_lock_init(&c->lock);
	__skb_queue_head_init(&c->pending);
	*tlsdev_ctx_slot(tls_get_ctx(sk)) = c;
	spin_lock_bh(&p->lock);
	list_add(&c->link, &p->ctxs);
	spin_unlock_bh(&p->lock);
	CNT_INC(ctx_added);
	tlsdev_live_max();
	return 0;

fail:
	if (c->aead)
		crypto_free_aead(c->aead);
	kfree(c->buf);
	kfree(c);
	return err;

refuse:
	CNT_INC(ctx_refused);
	return -EOPNOTSUPP;
}

/* Drop what @c still holds; returns how many packets that was. */
static unsigned int tlsdev_ctx_flush(struct tlsdev_ctx *c)
{
	struct sk_buff_head drop;
	unsigned int n;

	__skb_queue_head_init(&drop);
	spin_lock_bh(&c->lock);
	skb_queue_splice_init(&c->pending, &drop);
	c->rec_len = 0;
	c->failed = true;
	spin_unlock_bh(&c->lock);
	n = skb_queue_len(&drop);
	__skb_queue_purge(&drop);
	return n;
}

static void tlsdev_del(struct net_device *dev, struct tls_context *tctx,
		       enum tls_offload_ctx_dir dir)
{
	struct tlsdev_priv *p = netdev_priv(dev);
	struct tlsdev_ctx *c = *tlsdev_ctx_slot(tctx);

	if (dir != TLS_OFFLOAD_CTX_DIR_TX || !c)
		return;
	spin_lock_bh(&p->lock);
	list_del(&c->link);
	spin_unlock_bh(&p->lock);
	/* Pending packets hold the socket: none can be left here. */
	if (tlsdev_ctx_flush(c))
		CNT_INC(errors);
	*tlsdev_ctx_slot(tctx) = NULL;
	aead_request_free(c->req);
	crypto_free_aead(c->aead);
	kfree_sensitive(c->buf);
	kfree_sensitive(c);
	CNT_INC(ctx_deleted);
}

static int tlsdev_resync(struct net_device *dev, struct sock *sk, u32 seq,
			 u8 *rcd_sn, enum tls_offload_ctx_dir dir)
{
	struct tlsdev_ctx *c = *tlsdev_ctx_slot(tls_get_ctx(sk));
	u64 sn = get_unaligned_be64(rcd_sn);

	if (dir != TLS_OFFLOAD_CTX_DIR_TX || !c)
		return -EINVAL;
	spin_lock_bh(&c->lock);
	if (c->lost && seq == c->want_seq && sn == c->want_rec)
		CNT_INC(resyncs);
	else
		CNT_INC(resync_bad);
	c->next_seq = seq;
	c->rec_seq = sn;
	c->rec_len = 0;
	c->lost = false;
	spin_unlock_bh(&c->lock);
	return 0;
}

static const struct tlsdev_ops tlsdev_tls_ops = {
	.tls_dev_add = tlsdev_add,
	.tls_dev_del = tlsdev_del,
	.tls_dev_resync = tlsdev_resync,
};

static int tlsdev_open(struct net_device *dev)
{
	netif_carrier_on(dev);
	return 0;
}

/* Going down: packets waiting for the rest of their record are dropped
 * (they hold their sockets, and so the contexts and this device). */
static int tlsdev_stop(struct net_device *dev)
{
	struct tlsdev_priv *p = netdev_priv(dev);
	struct tlsdev_ctx *c;
	unsigned int n = 0;

	spin_lock_bh(&p->lock);
	list_for_each_entry (c, &p->ctxs, link)
		n += tlsdev_ctx_flush(c);
	spin_unlock_bh(&p->lock);
	atomic64_add(n, &cnt.errors);
	return 0;
}

static const struct net_device_ops tlsdev_netdev_ops = {
	.ndo_open = tlsdev_open,
	.ndo_stop = tlsdev_stop,
	.ndo_start_xmit = tlsdev_xmit,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

static void tlsdev_setup(struct net_device *dev)
{
	struct tlsdev_priv *p = netdev_priv(dev);

	ether_setup(dev);
	dev->netdev_ops = &tlsdev_netdev_ops;
	dev->tlsdev_ops = &tlsdev_tls_ops;
	dev->flags |= IFF_NOARP;
	dev->priv_flags |= IFF_NO_QUEUE;
	/* The core drops TLS TX offload from a device without checksum
	 * offload (netdev_fix_features()); checksums of other traffic are
	 * left to the receiver, as on veth. */
	dev->features |= NETIF_F_HW_TLS_TX | NETIF_F_HW_CSUM;
	dev->hw_features |= NETIF_F_HW_TLS_TX | NETIF_F_HW_CSUM;
	eth_hw_addr_random(dev);
	spin_lock_init(&p->lock);
	INIT_LIST_HEAD(&p->ctxs);
}

static int tlsdev_stats_show(struct seq_file *m, void *v)
{
#define TLSDEV_CNT_SHOW(n) \
	seq_printf(m, "%s %lld\n", #n, (long long)atomic64_read(&cnt.n));
	TLSDEV_COUNTERS(TLSDEV_CNT_SHOW)
#undef TLSDEV_CNT_SHOW
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(tlsdev_stats);

static int __init tlsdev_init(void)
{
	static const char *const names[2] = {"tlsa", "tlsb"};
	int i, err;

	for (i = 0; i < 2; i++) {
		tlsdev_pair[i] = alloc_netdev(sizeof(struct tlsdev_priv),
					      names[i], NET_NAME_USER,
					      tlsdev_setup);
		if (!tlsdev_pair[i]) {
			err = -ENOMEM;
			goto free;
		}
	}
	((struct tlsdev_priv *)netdev_priv(tlsdev_pair[0]))->peer =
		tlsdev_pair[1];
	((struct tlsdev_priv *)netdev_priv(tlsdev_pair[1]))->peer =
		tlsdev_pair[0];
	err = register_netdev(tlsdev_pair[0]);
	if (err)
		goto free;
	err = register_netdev(tlsdev_pair[1]);
	if (err) {
		unregister_netdev(tlsdev_pair[0]);
		goto free;
	}
	tlsdev_dir = debugfs_create_dir("smt_tlsdev", NULL);
	debugfs_create_file("stats", 0444, tlsdev_dir, NULL,
			    &tlsdev_stats_fops);
	return 0;

free:
	for (i = 0; i < 2; i++)
		if (tlsdev_pair[i])
			free_netdev(tlsdev_pair[i]);
	return err;
}

static void __exit tlsdev_exit(void)
{
	debugfs_remove_recursive(tlsdev_dir);
	/* Both down before either is freed: each forwards to the other. */
	unregister_netdev(tlsdev_pair[0]);
	unregister_netdev(tlsdev_pair[1]);
	free_netdev(tlsdev_pair[0]);
	free_netdev(tlsdev_pair[1]);
}

module_init(tlsdev_init);
module_exit(tlsdev_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION(
	"smt test-only: virtual device pair with software TLS TX offload");
