// SPDX-License-Identifier: GPL-2.0-only
/*
 * Device TLS TX offload (NETIF_F_HW_TLS_TX, as mlx5 offers): one device
 * offload context per in-flight message, as the SMT paper does, so that a
 * message's records, keyed by their composite sequence numbers, can be
 * encrypted by the NIC. This file holds the context lifecycle: whether a
 * device qualifies, adding a TX context through its tlsdev_ops with the
 * session's kTLS crypto_info and the message's first record sequence number,
 * and removing it. Without CONFIG_TLS_DEVICE every entry returns
 * -EOPNOTSUPP. It is unit-tested against a mock device only and has never
 * run on hardware here; the send path does not yet hand plaintext records to
 * a device (docs/kmod.md).
 */
#include "smt_impl.h"

#ifndef SMT_KMOD_MOCK
#include <linux/netdevice.h>
#include <net/tls.h>
#endif

/* Set by the tls_offload module parameter (smt_plumbing.c); off by default. */
bool smt_tls_offload_enabled;

#if IS_ENABLED(CONFIG_TLS_DEVICE)
/**
 * smt_tls_offload_capable() - may messages to @dev use device offload?
 * @dev: egress device
 *
 * Return: true when offload is enabled and @dev advertises TLS TX offload
 * with tlsdev_ops.
 */
bool smt_tls_offload_capable(const struct net_device *dev)
{
	return smt_tls_offload_enabled && dev &&
	       (dev->features & NETIF_F_HW_TLS_TX) && dev->tlsdev_ops &&
	       dev->tlsdev_ops->tls_dev_add && dev->tlsdev_ops->tls_dev_del;
}

/**
 * smt_tls_offload_begin() - add a device TX context for one message.
 * @ctx:     out: the context, to pass to smt_tls_offload_end()
 * @dev:     egress device (smt_tls_offload_capable() true)
 * @carrier: socket the device keys its state by
 * @s:       session (its kTLS crypto_info goes to the device)
 * @msg_id:  message id; the device starts at record seq (msg_id << 64-B)
 *
 * The start sequence number passed as start_offload_tcp_sn is the wire
 * offset 0 of the message, where the device's TCP-shaped view of pkt_off
 * starts. Holds a reference on @dev until smt_tls_offload_end().
 *
 * Return: 0, -EOPNOTSUPP when @dev cannot, or the driver's error.
 */
int smt_tls_offload_begin(struct smt_tls_tx_ctx *ctx, struct net_device *dev,
			  struct sock *carrier, struct smt_ksession *s,
			  u64 msg_id)
{
	union smt_kmod_crypto ci;
	u64 seq = msg_id << (64 - s->B);
	unsigned char *rec_seq;
	int err, i;

	if (!smt_tls_offload_capable(dev))
		return -EOPNOTSUPP;
	memcpy(&ci, &s->crypto, sizeof(ci));
	switch (ci.info.cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		rec_seq = ci.aes_gcm_128.rec_seq;
		break;
	case TLS_CIPHER_AES_GCM_256:
		rec_seq = ci.aes_gcm_256.rec_seq;
		break;
	default:
		rec_seq = ci.chacha20_poly1305.rec_seq;
		break;
	}
	for (i = 0; i < 8; i++) /* record k of the message has seq | k */
		rec_seq[7 - i] = (u8)(seq >> (8 * i));
	err = dev->tlsdev_ops->tls_dev_add(dev, carrier, TLS_OFFLOAD_CTX_DIR_TX,
					   &ci.info, 0);
	memzero_explicit(&ci, sizeof(ci));
	if (err)
		return err;
	dev_hold(dev);
	ctx->dev = dev;
	ctx->sk = carrier;
	ctx->msg_id = msg_id;
	smt_stat_add(SMT_CNT_TLS_OFFLOAD_CTX_ADDED, 1);
	return 0;
}

/**
 * smt_tls_offload_end() - release a message's device context.
 * @ctx: context from smt_tls_offload_begin(); cleared on return
 */
void smt_tls_offload_end(struct smt_tls_tx_ctx *ctx)
{
	if (!ctx->dev)
		return;
	ctx->dev->tlsdev_ops->tls_dev_del(ctx->dev, tls_get_ctx(ctx->sk),
					  TLS_OFFLOAD_CTX_DIR_TX);
	dev_put(ctx->dev);
	smt_stat_add(SMT_CNT_TLS_OFFLOAD_CTX_FREED, 1);
	ctx->dev = NULL;
	ctx->sk = NULL;
}
#else
bool smt_tls_offload_capable(const struct net_device *dev)
{
	return false;
}

int smt_tls_offload_begin(struct smt_tls_tx_ctx *ctx, struct net_device *dev,
			  struct sock *carrier, struct smt_ksession *s,
			  u64 msg_id)
{
	return -EOPNOTSUPP;
}

void smt_tls_offload_end(struct smt_tls_tx_ctx *ctx)
{
}
#endif
