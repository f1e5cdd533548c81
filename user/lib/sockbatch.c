// SPDX-License-Identifier: BSD-2-Clause
/*
 * Datagram batches for the socket backends (sockbatch.h): slot set-up for
 * recvmmsg, appending, priority order and sendmmsg for sending, and the
 * socket options the raw and UDP backends share.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "sockbatch.h"

int smt_batch_init(struct smt_sock_batch *b, uint32_t bufsz)
{
	unsigned int i;

	b->buf = malloc((size_t)SMT_BATCH * bufsz);
	if (!b->buf)
		return -ENOMEM;
	b->bufsz = bufsz;
	for (i = 0; i < SMT_BATCH; i++) {
		b->iov[i].iov_base = b->buf + (size_t)i * bufsz;
		b->iov[i].iov_len = bufsz;
	}
	b->n = 0;
	b->rx_set = 0;
	b->rx_used = 0;
	return 0;
}

void smt_batch_free(struct smt_sock_batch *b)
{
	free(b->buf);
	b->buf = NULL;
}

/* The fields of slot i that a recvmmsg writes back. */
static void rx_reset(struct smt_sock_batch *b, unsigned int i)
{
	b->msg[i].msg_hdr.msg_namelen = sizeof(b->name[i]);
	b->msg[i].msg_hdr.msg_controllen = sizeof(b->ctl[i].b);
	b->msg[i].msg_hdr.msg_flags = 0;
	b->msg[i].msg_len = 0;
}

void smt_batch_prepare_rx(struct smt_sock_batch *b, unsigned int n)
{
	unsigned int i;

	/* Only the slots a recvmmsg may have written are reset (all of
	 * them, also past n, so that none stays written for a later longer
	 * read): a busy-polling endpoint calls this for 64 slots before
	 * each read that mostly finds one datagram or none, and the 64
	 * slots' stores were 2.6 to 3.4 % of a 1 MiB receiver's CPU. */
	for (i = 0; i < b->rx_used && i < b->rx_set; i++)
		rx_reset(b, i);
	for (i = b->rx_set; i < n; i++) {
		b->iov[i].iov_len = b->bufsz;
		b->msg[i].msg_hdr.msg_iov = &b->iov[i];
		b->msg[i].msg_hdr.msg_iovlen = 1;
		b->msg[i].msg_hdr.msg_name = &b->name[i];
		/* room for one int-sized cmsg (UDP_GRO's segment size) */
		b->msg[i].msg_hdr.msg_control = b->ctl[i].b;
		rx_reset(b, i);
	}
	if (n > b->rx_set)
		b->rx_set = n;
	b->rx_used = n; /* all of them, unless told (smt_batch_rx_done) */
}

void smt_batch_rx_done(struct smt_sock_batch *b, int ret)
{
	/* the datagrams received, and the slot of one that failed after
	 * them; an error before the first wrote nothing but may have
	 * touched slot 0 */
	unsigned int used = ret < 0 ? 1 : (unsigned int)ret + 1;

	if (used < b->rx_used)
		b->rx_used = used;
}

void smt_batch_add(struct smt_sock_batch *b,
		   const struct sockaddr_storage *peer, bool keep_port,
		   const uint8_t *pkt, size_t len, uint8_t prio, bool prio_tos)
{
	smt_batch_addv(b, peer, keep_port, pkt, len, NULL, 0, prio, prio_tos);
}

size_t smt_batch_len(const struct msghdr *h)
{
	size_t n = 0, i;

	for (i = 0; i < h->msg_iovlen; i++)
		n += h->msg_iov[i].iov_len;
	return n;
}

void smt_batch_addv(struct smt_sock_batch *b,
		    const struct sockaddr_storage *peer, bool keep_port,
		    const uint8_t *pkt, size_t len, const uint8_t *payload,
		    size_t plen, uint8_t prio, bool prio_tos)
{
	unsigned int i = b->n++;
	struct msghdr *h = &b->msg[i].msg_hdr;
	struct iovec *v = b->tx_iov[i];
	bool v4 = peer->ss_family == AF_INET;

	b->rx_set = 0; /* a batch that sends is set up again to receive */
	if (pkt != b->iov[i].iov_base)
		memcpy(b->iov[i].iov_base, pkt, len);
	v[0].iov_base = b->iov[i].iov_base;
	v[0].iov_len = len;
	v[1].iov_base = (void *)payload;
	v[1].iov_len = plen;
	b->name[i] = *peer;
	/* raw sockets take no port: IPv4 ignores it, IPv6 wants 0 or proto */
	if (!keep_port && v4)
		((struct sockaddr_in *)&b->name[i])->sin_port = 0;
	else if (!keep_port)
		((struct sockaddr_in6 *)&b->name[i])->sin6_port = 0;
	memset(h, 0, sizeof(*h));
	h->msg_name = &b->name[i];
	h->msg_namelen = v4 ? sizeof(struct sockaddr_in)
			    : sizeof(struct sockaddr_in6);
	h->msg_iov = v;
	h->msg_iovlen = plen ? 2 : 1;
	b->prio[i] = prio;
	if (prio_tos) {
		struct cmsghdr *c = (struct cmsghdr *)b->ctl[i].b;
		int tos = (prio & 7) << 5; /* IP precedence = SMT priority */

		h->msg_control = b->ctl[i].b;
		h->msg_controllen = sizeof(b->ctl[i].b);
		c->cmsg_len = CMSG_LEN(sizeof(int));
		c->cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
		c->cmsg_type = v4 ? IP_TOS : IPV6_TCLASS;
		memcpy(CMSG_DATA(c), &tos, sizeof(tos));
	}
}

/* Insertion sort of at most SMT_BATCH entries: stable, so FIFO within one
 * priority. */
void smt_batch_sort(struct smt_sock_batch *b)
{
	unsigned int i, j;

	for (i = 1; i < b->n; i++) {
		struct mmsghdr m = b->msg[i];
		uint8_t pr = b->prio[i];

		for (j = i; j > 0 && b->prio[j - 1] < pr; j--) {
			b->msg[j] = b->msg[j - 1];
			b->prio[j] = b->prio[j - 1];
		}
		b->msg[j] = m;
		b->prio[j] = pr;
	}
}

int smt_batch_send(struct smt_sock_batch *b, int fd,
		   const struct smt_batch_tx_stats *st)
{
	unsigned int done = 0;
	int n, i, err = 0;

	while (done < b->n) {
		(*st->calls)++;
		n = sendmmsg(fd, b->msg + done, b->n - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			/* skip the packet that failed, keep the rest going */
			(*st->errors)++;
			done++;
			continue;
		}
		for (i = 0; i < n; i++) {
			(*st->packets)++;
			*st->bytes += b->msg[done + i].msg_len;
		}
		done += n;
	}
	b->n = 0;
	return err;
}

void smt_sock_setup(int fd, int family, uint32_t bufsz, uint8_t priority)
{
	int v = (int)bufsz;

	/* FORCE works past rmem_max with CAP_NET_ADMIN; else best effort. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	if (priority) {
		v = priority;
		setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &v, sizeof(v));
		v = priority << 5; /* IP precedence / traffic class */
		if (family == AF_INET)
			setsockopt(fd, IPPROTO_IP, IP_TOS, &v, sizeof(v));
		else
			setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &v,
				   sizeof(v));
	}
}
