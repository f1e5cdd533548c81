// SPDX-License-Identifier: GPL-2.0-only
/*
 * Device TLS TX offload (NETIF_F_HW_TLS_TX, as mlx5 offers): one device
 * offload context per in-flight message, as the SMT paper does, so that a
 * message's records, plaintext with room for the tag, are encrypted by the
 * NIC under their composite sequence numbers.
 *
 * Drivers find a TX context the way kTLS hands it to them: from the skb's
 * socket, tls_get_ctx(skb->sk) (the socket's icsk_ulp_data), whose
 * priv_ctx_tx is a tls_offload_context_tx holding the driver's state, and
 * they encrypt only when tls_is_sk_tx_device_offloaded(skb->sk), i.e. the
 * socket's sk_validate_xmit_skb is kTLS's tls_validate_xmit_skb. So each
 * message gets a carrier: a kernel TCP socket, never bound or connected,
 * that exists only to own the message's packets (skb_set_owner_w()) and
 * carry a tls_context this file fills in (no ULP is attached). The device
 * context is added with tls_dev_add() (the session's kTLS crypto_info,
 * rec_seq = sequence number of the message's record 0, TCP-shaped start
 * sequence = pkt_off 0), the carrier is released once the message was
 * handed to the IP stack, and its destructor, run when the last packet is
 * freed, schedules tls_dev_del(). The offload context has no record list:
 * should a packet reach another device, kTLS's software fallback finds no
 * record and drops it instead of sending plaintext.
 *
 * Without CONFIG_TLS_DEVICE every entry returns -EOPNOTSUPP or does
 * nothing. Unit-tested against a mock device only; never run on hardware
 * (docs/kmod.md says what that leaves open).
 */
#include "smt_impl.h"

#ifndef SMT_KMOD_MOCK
#include <linux/module.h>
#include <linux/net.h>
#include <linux/netdevice.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <net/sock.h>
#include <net/inet_connection_sock.h>
#include <net/tls.h>
#endif

/* Set by the tls_offload module parameter (smt_plumbing.c); off by default. */
bool smt_tls_offload_enabled;

#if IS_ENABLED(CONFIG_TLS_DEVICE)

/**
 * struct smt_tls_tx_ctx - one message's device TLS TX context.
 * @tls:         what the driver sees through tls_get_ctx(carrier): netdev,
 *               priv_ctx_tx (@otx), the key and start rec_seq in crypto_send
 * @otx:         offload context, room for the driver's state, no records
 * @carrier:     kernel TCP socket owning the message's packets; NULL once
 *               released by smt_tls_offload_end()
 * @dev:         the device holding the context (held)
 * @sk_destruct: the carrier's own destructor, chained
 * @del_work:    tls_dev_del() and freeing, after the last packet
 * @msg_id:      the message; record k has seq smt_record_seq(msg_id, B, k)
 * @B:           the session's message-ID width
 */
struct smt_tls_tx_ctx {
	struct tls_context tls;
	struct tls_offload_context_tx *otx;
	struct socket *carrier;
	struct net_device *dev;
	void (*sk_destruct)(struct sock *sk);
	struct work_struct del_work;
	u64 msg_id;
	unsigned int B;
};

/* Runs tls_dev_del(); destroyed at unload, when no context is left. */
static struct workqueue_struct *smt_tls_wq;

/**
 * smt_tls_offload_capable() - may messages to @dev use device offload?
 * @dev: egress device
 *
 * Return: true when the tls_offload parameter is on and @dev advertises TLS
 * TX offload with tlsdev_ops.
 */
bool smt_tls_offload_capable(const struct net_device *dev)
{
	return smt_tls_offload_enabled && smt_tls_wq && dev &&
	       (dev->features & NETIF_F_HW_TLS_TX) && dev->tlsdev_ops &&
	       dev->tlsdev_ops->tls_dev_add && dev->tlsdev_ops->tls_dev_del;
}

/* Wipe and free @c (NULL allowed); drop the tls.ko and module references
 * smt_tls_offload_begin() took. */
static void smt_tls_ctx_free(struct smt_tls_tx_ctx *c)
{
	if (c) {
		memzero_explicit(&c->tls.crypto_send,
				 sizeof(c->tls.crypto_send));
		kfree(c->otx);
		kfree_sensitive(c);
	}
	symbol_put(tls_validate_xmit_skb);
	module_put(THIS_MODULE);
}

static void smt_tls_del_work(struct work_struct *w)
{
	struct smt_tls_tx_ctx *c =
		container_of(w, struct smt_tls_tx_ctx, del_work);

	c->dev->tlsdev_ops->tls_dev_del(c->dev, &c->tls,
					TLS_OFFLOAD_CTX_DIR_TX);
	RCU_INIT_POINTER(c->tls.netdev, NULL);
	dev_put(c->dev);
	smt_stat_add(SMT_CNT_TLS_OFFLOAD_CTX_FREED, 1);
	smt_tls_ctx_free(c);
}

/* The carrier's destructor: its last packet is gone (it may be softirq),
 * so the device context goes, in process context. */
static void smt_tls_sk_destruct(struct sock *sk)
{
	struct smt_tls_tx_ctx *c =
		container_of(tls_get_ctx(sk), struct smt_tls_tx_ctx, tls);

	c->sk_destruct(sk);
	queue_work(smt_tls_wq, &c->del_work);
}

/* kTLS's view of a TLS 1.3 session with the session's key, rec_seq of
 * record 0 of the message, and the record layout of section 3. */
static void smt_tls_ctx_fill(struct smt_tls_tx_ctx *c, struct smt_ksession *s,
			     u64 msg_id, struct sock *sk)
{
	struct tls_prot_info *prot = &c->tls.prot_info;
	__be64 seq;
	u8 *rec_seq;

	BUILD_BUG_ON(sizeof(s->crypto) > sizeof(c->tls.crypto_send));
	memcpy(&c->tls.crypto_send, &s->crypto, sizeof(s->crypto));
	c->msg_id = msg_id;
	c->B = s->B;
	seq = cpu_to_be64(smt_record_seq(msg_id, s->B, 0));
	rec_seq = s->crypto.info.cipher_type == TLS_CIPHER_AES_GCM_128
			  ? c->tls.crypto_send.aes_gcm_128.rec_seq
			  : c->tls.crypto_send.aes_gcm_256.rec_seq;
	memcpy(rec_seq, &seq, sizeof(seq));

	prot->version = TLS_1_3_VERSION;
	prot->cipher_type = s->crypto.info.cipher_type;
	prot->prepend_size = SMT_REC_HDR_LEN; /* TLS 1.3: no explicit nonce */
	prot->tag_size = SMT_TAG_LEN;
	prot->tail_size = 1; /* the inner content type */
	prot->overhead_size = SMT_REC_OVERHEAD;
	prot->iv_size = 8;
	prot->salt_size = 4;
	prot->rec_seq_size = 8;
	prot->aad_size = SMT_REC_HDR_LEN;
	c->tls.tx_conf = TLS_HW;
	c->tls.sk = sk;
	c->tls.priv_ctx_tx = c->otx;
	spin_lock_init(&c->otx->lock);
	INIT_LIST_HEAD(&c->otx->records_list);
	c->otx->ctx = &c->tls;
	INIT_WORK(&c->del_work, smt_tls_del_work);
}

/**
 * smt_tls_offload_begin() - add a device TX context for one message.
 * @ctxp:   out: the context, for smt_tls_offload_own(), _resync() and _end()
 * @dev:    egress device (smt_tls_offload_capable() true)
 * @s:      session (its kTLS crypto_info goes to the device)
 * @msg_id: message id; record k has sequence number (msg_id << 64-B) | k
 *
 * Creates the carrier socket in @s's namespace, fills its tls_context and
 * calls tls_dev_add() with start_offload_tcp_sn 0: the device's TCP-shaped
 * sequence space is the message's wire offset, which packets carry in
 * pkt_off where TCP has its sequence number. Only AES-GCM is offered
 * (kTLS device offload knows no other cipher). A device that answers
 * -EOPNOTSUPP or -EINVAL (as drivers that know TLS 1.2 only do) turns the
 * tls_offload parameter off. Holds @dev, tls.ko and this module until the
 * context is freed.
 *
 * Return: 0, -EOPNOTSUPP (no offload: cipher, tls.ko not loaded, device),
 * -ENOMEM, the socket's or the driver's error; nothing is held on error.
 */
int smt_tls_offload_begin(struct smt_tls_tx_ctx **ctxp, struct net_device *dev,
			  struct smt_ksession *s, u64 msg_id)
{
	struct sk_buff *(*validate)(struct sock * sk, struct net_device * dev,
				    struct sk_buff * skb);
	struct smt_tls_tx_ctx *c;
	struct sock *sk;
	int err;

	*ctxp = NULL;
	if (!smt_tls_offload_capable(dev))
		return -EOPNOTSUPP;
	if (s->crypto.info.cipher_type != TLS_CIPHER_AES_GCM_128 &&
	    s->crypto.info.cipher_type != TLS_CIPHER_AES_GCM_256)
		return -EOPNOTSUPP;
	if (!try_module_get(THIS_MODULE))
		return -ENODEV;
	validate = symbol_get(tls_validate_xmit_skb);
	if (!validate) {
		module_put(THIS_MODULE);
		return -EOPNOTSUPP;
	}
	err = -ENOMEM;
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		goto fail;
	c->otx = kzalloc(TLS_OFFLOAD_CONTEXT_SIZE_TX, GFP_KERNEL);
	if (!c->otx)
		goto fail;
	err = sock_create_kern(s->net, s->family, SOCK_STREAM, IPPROTO_TCP,
			       &c->carrier);
	if (err)
		goto fail;
	sk = c->carrier->sk;
	smt_tls_ctx_fill(c, s, msg_id, sk);
	rcu_assign_pointer(inet_csk(sk)->icsk_ulp_data, &c->tls);

	err = dev->tlsdev_ops->tls_dev_add(dev, sk, TLS_OFFLOAD_CTX_DIR_TX,
					   &c->tls.crypto_send.info, 0);
	if (err) {
		RCU_INIT_POINTER(inet_csk(sk)->icsk_ulp_data, NULL);
		sock_release(c->carrier);
		if (err == -EOPNOTSUPP || err == -EINVAL) {
			smt_tls_offload_enabled = false;
			pr_warn("smt: %s refused a TLS 1.3 TX offload context (%d); tls_offload turned off, records are encrypted in software\n",
				dev->name, err);
		}
		goto fail;
	}
	dev_hold(dev);
	c->dev = dev;
	rcu_assign_pointer(c->tls.netdev, dev);
	c->sk_destruct = sk->sk_destruct;
	sk->sk_destruct = smt_tls_sk_destruct;
	smp_store_release(&sk->sk_validate_xmit_skb, validate);
	smt_stat_add(SMT_CNT_TLS_OFFLOAD_CTX_ADDED, 1);
	*ctxp = c;
	return 0;

fail:
	smt_tls_ctx_free(c);
	return err;
}

/**
 * smt_tls_offload_own() - give one plaintext packet to the message context.
 * @c:   context from smt_tls_offload_begin(), not yet ended
 * @skb: one packet of the message (not GSO), with its IP header
 *
 * The carrier owns the packet, so the driver finds the context through
 * skb->sk and the context outlives the packet; skb->decrypted marks it
 * plaintext, so the core drops it should it lose its socket on the way.
 */
void smt_tls_offload_own(struct smt_tls_tx_ctx *c, struct sk_buff *skb)
{
	skb_set_owner_w(skb, c->carrier->sk);
	skb->decrypted = 1;
}

/**
 * smt_tls_offload_resync() - serve a driver's TX resync request before a
 * record.
 * @c:       context
 * @rec_off: wire offset (pkt_off) where record @k starts
 * @k:       record index
 *
 * A driver that lost track asks with tls_offload_tx_resync_request(), which
 * sets TLS_TX_SYNC_SCHED on the context; as kTLS does at a record boundary,
 * the next record's start and sequence number go to tls_dev_resync().
 *
 * Return: 1 when a resync was done, 0 when none was asked, or the driver's
 * error (the request stays pending).
 */
int smt_tls_offload_resync(struct smt_tls_tx_ctx *c, u32 rec_off, u32 k)
{
	const struct tlsdev_ops *ops = c->dev->tlsdev_ops;
	__be64 rcd_sn;
	int err;

	if (!test_bit(TLS_TX_SYNC_SCHED, &c->tls.flags))
		return 0;
	if (!ops->tls_dev_resync)
		return -EOPNOTSUPP;
	rcd_sn = cpu_to_be64(smt_record_seq(c->msg_id, c->B, k));
	err = ops->tls_dev_resync(c->dev, c->carrier->sk, rec_off,
				  (u8 *)&rcd_sn, TLS_OFFLOAD_CTX_DIR_TX);
	if (err)
		return err;
	clear_bit_unlock(TLS_TX_SYNC_SCHED, &c->tls.flags);
	return 1;
}

/**
 * smt_tls_offload_end() - the message was handed to the IP stack.
 * @c: context from smt_tls_offload_begin(); not to be used afterwards
 *
 * Releases the carrier. Packets still queued keep its socket, and so the
 * device context, alive; tls_dev_del() runs from a work item once the
 * last one is freed.
 */
void smt_tls_offload_end(struct smt_tls_tx_ctx *c)
{
	struct socket *carrier = c->carrier;

	c->carrier = NULL;
	sock_release(carrier);
}

/**
 * smt_tls_offload_init() - create the work queue of context removals.
 *
 * Return: 0 or -ENOMEM.
 */
int smt_tls_offload_init(void)
{
	smt_tls_wq = alloc_workqueue("smt_tls", 0, 0);
	return smt_tls_wq ? 0 : -ENOMEM;
}

/**
 * smt_tls_offload_exit() - destroy it; every context held a module
 * reference, so none is left, and removals still running finish first.
 */
void smt_tls_offload_exit(void)
{
	destroy_workqueue(smt_tls_wq);
	smt_tls_wq = NULL;
}
#else
bool smt_tls_offload_capable(const struct net_device *dev)
{
	return false;
}

int smt_tls_offload_begin(struct smt_tls_tx_ctx **ctxp, struct net_device *dev,
			  struct smt_ksession *s, u64 msg_id)
{
	*ctxp = NULL;
	return -EOPNOTSUPP;
}

void smt_tls_offload_own(struct smt_tls_tx_ctx *c, struct sk_buff *skb)
{
}

int smt_tls_offload_resync(struct smt_tls_tx_ctx *c, u32 rec_off, u32 k)
{
	return 0;
}

void smt_tls_offload_end(struct smt_tls_tx_ctx *c)
{
}

int smt_tls_offload_init(void)
{
	return 0;
}

void smt_tls_offload_exit(void)
{
}
#endif
