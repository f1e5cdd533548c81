// SPDX-License-Identifier: BSD-2-Clause
/*
 * The public libsmt API (libsmt.h) on top of the pure engine (engine.h):
 * an endpoint joins one engine, one backend port and an epoll set (the
 * backend's sockets, a CLOCK_MONOTONIC timerfd armed at the engine's next
 * deadline, the backend's wake-up eventfd and fds watched for ctl_client.c).
 * smt_process() reads packets into the engine, runs its timers and sends
 * what it produced; smt_recv() turns engine events into messages. This is
 * where the clock lives. Also: error strings, counters and the test-mode
 * key log helper.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <smt/drop.h>
#include <smt/wire.h>

#include "bufpool.h"
#include "ctlproto.h"
#include "endpoint.h"
#include "rpgroup.h"
#include "engine.h"
#include "keys.h"

#ifndef SMT_IPPROTO_BUILD
#define SMT_IPPROTO_BUILD SMT_IPPROTO_DEFAULT
#endif

_Static_assert(SMT_DROP_MAX <= SMT_STATS_DROP_SLOTS,
	       "grow SMT_STATS_DROP_SLOTS (ABI: append a second array)");

/* ctl_client.c's, once it was used (smt_ep_ctl_hooks) */
static const struct smt_ctl_hooks *_Atomic ctl_hooks;

void smt_ep_ctl_hooks(const struct smt_ctl_hooks *h)
{
	atomic_store(&ctl_hooks, h);
}

#define EP_MTU_DEFAULT 1500
#define EP_RCVBUF_DEFAULT (8u << 20)
#define EP_HOLD_PKTS 64 /* packets held before their session (8.10) */
#define EP_RX_BATCH 64 /* packets per recvmmsg round */
/*
 * Received packets wait in userspace queues, one per SMT priority, between
 * reading and processing: smt_process() first drains the socket (cheap:
 * a copy per packet), then processes the highest priority first, so a
 * small message's packets (and control packets) do not wait behind the
 * backlog of a large transfer in the socket's FIFO. Up to EP_RXQ_SLOTS
 * packets are held (bounded again by EP_RXQ_BYTES for large MTUs).
 */
#define EP_RXQ_SLOTS 512
#define EP_RXQ_BYTES (4u << 20)
#define EP_RXQ_MIN_SLOTS 64
#define EP_NPRIO (SMT_PRIO_MAX + 1)
/* Packets processed between two sends of what they produced (GRANTs,
 * answers); DATA packets sent from the engine's send queue per turn (the
 * engine runs with tx_pull); packets (both) per smt_process() call. */
#define EP_RX_CHUNK 16
#define EP_TX_CHUNK 16
/* chunks processed at most between two reads while a chunk waits queued:
 * a packet that outranks the queue waits behind at most this many */
#define EP_REREAD_CHUNKS 4
/* Over UDP a turn sends the unscheduled window's datagrams (a 64 KiB
 * message whole, 53 datagrams of 1432 bytes at MTU 1500 by default), at
 * most a send batch: the packets of a turn leave in one sendmmsg of GSO buffers. */
#define EP_TX_CHUNK_UDP_MAX 64
/* Over UDP a large message is granted EP_GRANT_WINDOW_UDP bytes ahead of
 * what arrived, a GRANT once EP_GRANT_STEP_UDP more can be allowed (the
 * engine's defaults: 60000 and 7500, about one GRANT per 16 packets
 * received). Each GRANT is a system call on the receiver and a wake-up of
 * the sender, whose GSO sends are as large as the grant: docs/engine.md
 * "Grants over UDP". max_granted stays 4 windows unless set. */
#define EP_GRANT_WINDOW_UDP 80000
#define EP_GRANT_STEP_UDP 40000
#define EP_WORK_MAX 512
#define EP_SESS_BUCKETS 256
/* Silent RESEND timeouts before an RPC fails. The engine's own default (10,
 * at least 20 ms) suits a simulator; real hosts see scheduling stalls and
 * neighbour discovery longer than that, so endpoints wait at least 100 ms
 * (more where the measured round trips raised the RESEND timeout). */
#define EP_RPC_TIMEOUTS_DEFAULT 50
#define EP_RESEND_US_DEFAULT 2000 /* the engine's resend_timeout_ns */

/* epoll tags: the low 32 bits carry the fd for watched fds */
#define TAG_TIMER 2ULL
#define TAG_BK (1ULL << 8) /* | bit i of the backend's fds[i] */
#define TAG_BK_BITS ((1u << SMT_BK_FDS) - 1)
#define TAG_WATCH (1ULL << 32)

struct ep_session {
	struct ep_session *next; /* hash chain */
	uint32_t id;
	struct smt_session_params p;
	struct smt_engine_share *share; /* reuseport group, else NULL */
};

struct ep_watch {
	int fd;
	smt_ep_watch_cb cb;
	void *arg;
};

struct ep_note { /* messages the library makes itself (SESSION_UP) */
	struct ep_note *next;
	struct smt_msg msg;
};

/* One received packet waiting to be processed. */
struct ep_pkt {
	int next; /* next in its priority list or the free list, -1 */
	int ipv4_id;
	uint32_t len;
	uint64_t at; /* when it was read */
	struct sockaddr_storage peer;
	uint8_t *data;
};

/* Received packets by priority (FIFO within one), see EP_RXQ_SLOTS. */
struct ep_rxq {
	struct ep_pkt *pkt;
	uint8_t *mem;
	unsigned int nslots, slot_sz, n;
	int free;
	int head[EP_NPRIO], tail[EP_NPRIO];
};

struct smt_endpoint {
	struct smt_endpoint_opts o;
	struct smt_engine *eng;
	struct smt_bk *bk;
	int epfd, tfd;
	uint16_t port;
	uint64_t armed; /* deadline the timerfd is set to, 0 = none */
	uint64_t armed_for; /* the engine's deadline it was set for */
	bool fired; /* the timerfd expired and was not reset since */
	bool fd_out; /* smt_fd() was asked for: the caller may poll it */
	/* smt_process calls left before ctl_hooks->later runs (at the end
	 * of the first that leaves the caller nothing to read), 0: none */
	unsigned int ctl_later;
	unsigned int rx_ready; /* backend sources worth reading (fd bits) */
	bool in_process; /* defer engine flushes to the end of the batch */
	bool draining; /* smt_recv() has more ready: hold sends for a batch */
	bool tx_held; /* packets held while draining (see ep_flush) */
	bool cork; /* a send of a burst: hold its packets (see send_common) */
	unsigned int sends; /* requests and oneways since smt_process */
	uint64_t tx_batched; /* of them held for a batch (smt_stats) */
	bool hold; /* smt_hold(): sends wait for smt_flush() */
	bool arm_held; /* a send's timer waits for its held packets to go */
	struct ep_session *sess[EP_SESS_BUCKETS];
	uint32_t nsess;
	struct ep_watch *watch;
	size_t nwatch, capwatch;
	struct ep_note *notes, **notes_tail;
	struct ep_rxq rxq;
	uint64_t timers_held; /* since when ep_timers() held them, 0 = not */
	uint64_t hold_max; /* the engine's resend_timeout_ns */
	uint64_t silent_max; /* how long an RPC may go unanswered */
	uint64_t spin_ns; /* busy-poll budget now (adaptive, see ep_spin) */
	unsigned int spin_pause; /* spins to skip: the CPU was contended */
	struct smt_rpg *g; /* reuseport group (smt_endpoint_open_group) */
	unsigned int lane; /* our member index in g */
	unsigned int tx_chunk; /* EP_TX_CHUNK, or a GSO buffer's worth */
	/* the sockets the last epoll_wait found readable, nothing else
	 * ready: read first next time (ep_spec_read) */
	unsigned int spec_bits, spec_run;
	uint64_t spec_skipped; /* epoll_waits it saved (smt_stats) */
	/* timerfd_settime calls; expiries seen, and of those the ones that
	 * found no timer due (smt_stats) */
	uint64_t timer_arms, timer_wakeups, timer_early;
};

/* Work ctl_client.c puts off past the caller's first answers: it runs
 * where the caller goes back to sleep (an smt_process that leaves nothing
 * to read), or after EP_CTL_LATER_MAX calls of a busy stretch. */
#define EP_CTL_LATER_MAX 16

void smt_ep_ctl_later(struct smt_endpoint *ep)
{
	ep->ctl_later = EP_CTL_LATER_MAX;
}

/* ---- errors ------------------------------------------------------------ */

static const char *const smt_errs[] = {
	[SMT_E_NOCAP - SMT_E_BASE] = "raw IP sockets need CAP_NET_RAW, or "
				     "smtd to hand them over (a uid that a "
				     "service with encap ip lists, root, or "
				     "cap_net_raw)",
	[SMT_E_NOSESSION - SMT_E_BASE] = "no such session on this endpoint",
	[SMT_E_TOOBIG - SMT_E_BASE] = "message larger than the session's "
				      "maximum message size",
	[SMT_E_LIMIT - SMT_E_BASE] = "a configured limit is full",
	[SMT_E_RPC_TIMEOUT - SMT_E_BASE] = "RPC timed out: the peer stayed "
					   "silent",
	[SMT_E_CANCELED - SMT_E_BASE] = "RPC canceled",
	[SMT_E_NORPC - SMT_E_BASE] = "no such outstanding RPC or request",
	[SMT_E_PORT_IN_USE - SMT_E_BASE] = "SMT port already in use",
	[SMT_E_BACKEND - SMT_E_BASE] = "backend not available in this build",
	[SMT_E_SESSION_GONE - SMT_E_BASE] = "the session was removed",
	[SMT_E_NOSMTD - SMT_E_BASE] = "cannot reach smtd's control socket "
				      "(is smtd running?)",
	[SMT_E_REFUSED - SMT_E_BASE] = "session refused by smtd or the peer",
	[SMT_E_UNREACHABLE - SMT_E_BASE] =
		"RPC timed out: ICMP reported the peer's SMT port (or host) "
		"unreachable; is its application running?",
};

const char *smt_strerror(int err)
{
	int e = err < 0 ? -err : err;

	if (e > SMT_E_BASE && e < SMT_E_MAX && smt_errs[e - SMT_E_BASE])
		return smt_errs[e - SMT_E_BASE];
	if (e == 0)
		return "success";
	return strerror(e);
}

const char *smt_drop_reason_name(unsigned int i)
{
	return i < SMT_DROP_MAX ? smt_drop_name(i) : NULL;
}

/* ---- time ---------------------------------------------------------------- */

#define EP_BUSY_POLL_MAX_US 100000 /* a tenth of a second of spinning */
/* A gap this long between two polls of one spin: the thread was
 * descheduled, the CPU is contended; the next EP_SPIN_PAUSE spins are
 * skipped. */
#define EP_SPIN_STALL_NS 50000
#define EP_SPIN_PAUSE 64
/* smt_process() calls in a row that may read without epoll_wait */
#define EP_SPEC_RUN 8

/*
 * Keeps the timerfd within the lateness allowed for the engine's next
 * deadline d (absolute, monotonic): it may fire from d up to twice as far
 * from now as d is (a timer asked for T from now fires between T and 2T;
 * timers are timeouts, this bounds how late). When it has to be set, it
 * is set half a T late (T/2, at most EP_TIMER_SLACK_MAX), or a whole T
 * when the deadline moved past it, so that a deadline that moves later
 * with every RPC (each request's tail-loss probe, about 100 us ahead)
 * stays inside the window for the next RPC or two. A system call is spent only when the armed expiry is more than
 * twice as far as d, when it fired (timerfd_settime also resets its
 * expiry count, so the timerfd is never read; an expiry the clock shows
 * counts too, so an expired timerfd never wakes the caller at once), or
 * when it would fire before d and the deadline it was set for has passed
 * (that timer ran by the clock, in a call made before the timerfd's
 * slack was over), or, when `sent` (after a send, before the caller
 * sleeps: a request's probe moved past it) with fewer than
 * EP_TIMERS_BUSY timers in the engine, when it would fire before d: it
 * would wake the caller for nothing. Otherwise (the end of smt_process,
 * where the response's ACK timer, 1 ms ahead, replaces its request's
 * probe until the next request is sent; a send while other messages are
 * in flight) an expiry before d stays: it fires early at most once and is
 * set again, and no deadline left leaves it to fire once for nothing.
 * Under load the deadline moves later with nearly every send; setting it
 * again each time cost 0.05 sets per RPC on the client and 0.8 on the
 * server, each 7 to 19 us here (docs/engine.md "Timers" and "Timer sets
 * at 32 outstanding").
 */
#define EP_TIMER_SLACK_MAX 1000000 /* 1 ms */
/* Timers in the engine (one per message in flight) from which a send
 * leaves an armed expiry before its deadline: answers to the others wake
 * the caller first, and under load the deadline moves with every send */
#define EP_TIMERS_BUSY 4

/*
 * Whether the caller keeps the endpoint's time at its own waits: it said
 * so (caller_timers: it sleeps at most until smt_next_timeout_ns()), or
 * it never asked for smt_fd(), so every sleep on the endpoint is
 * smt_wait()'s. Such an endpoint sets its timerfd only while it is not
 * busy (ep_wait_keeps_time); a busy one leaves the timer to the wait's
 * timeout, which the kernel arms only when the wait really sleeps
 * (docs/engine.md "Timers at the wait").
 */
static bool ep_caller_waits(const struct smt_endpoint *ep)
{
	return ep->o.caller_timers || !ep->fd_out;
}

/*
 * With 32 RPCs outstanding a caller rarely sleeps, but a timerfd kept
 * within its window is set about once per timer period (the oldest
 * request's probe, 100 to 300 us ahead) and fires in between: each set
 * under a few ms ahead and each expiry reprograms the clock event device
 * (10 us or more on these VMs), a third of the CPU per small RPC. So with
 * EP_TIMERS_BUSY timers or more, an endpoint whose caller waits
 * (ep_caller_waits) sets none. An unloaded exchange keeps the timerfd: a
 * wait's own timeout is the CPU's earliest hrtimer then, cancelled (and
 * the device reprogrammed) on the path of every wake-up, 5 to 10 us of
 * each small RPC's latency, where the timerfd is set after the send, off
 * that path.
 */
static bool ep_wait_keeps_time(const struct smt_endpoint *ep)
{
	return ep_caller_waits(ep) &&
	       smt_engine_timers_armed(ep->eng) >= EP_TIMERS_BUSY;
}

/* The armed timerfd wakes a sleeping caller in time for deadline d (by
 * 2 d - now at the latest; earlier is a wake-up for nothing), or was set
 * for d itself (armed_for): ep_arm put it within d's window when it was
 * asked, a whole T late when deadlines move later, which a check against
 * the shrinking window from a later now would no longer accept. Without
 * that, every such set left the caller's next sleep with a timeout of its
 * own (docs/engine.md "The unloaded 64 B RPC's path"). */
static bool ep_tfd_covers(const struct smt_endpoint *ep, uint64_t d,
			  uint64_t now)
{
	return ep->armed && !ep->fired && ep->armed > now && d > now &&
	       (ep->armed_for == d || ep->armed - now <= 2 * (d - now));
}

static int ep_epoll_add(struct smt_endpoint *ep, int fd, uint64_t tag,
			bool shared);

/*
 * The timerfd is made when it is first set (after the first send): an
 * endpoint opened for smt_connect() has two system calls fewer before its
 * request can leave. When it cannot be made (no file descriptors left),
 * the wake-up eventfd keeps smt_fd readable instead, so that the caller
 * comes back and the timers run by the clock; the next arm tries again.
 */
static int ep_tfd(struct smt_endpoint *ep)
{
	if (ep->tfd >= 0)
		return 0;
	ep->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ep->tfd >= 0 && !ep_epoll_add(ep, ep->tfd, TAG_TIMER, false))
		return 0;
	if (ep->tfd >= 0)
		close(ep->tfd);
	ep->tfd = -1;
	ep->bk->ops->kick(ep->bk);
	return -1;
}

static void ep_arm(struct smt_endpoint *ep, bool sent)
{
	uint64_t d = smt_engine_next_deadline(ep->eng), now = smt_mono_ns();
	uint64_t a = 0;
	struct itimerspec its = {0};
	bool later;

	if (d == UINT64_MAX)
		d = 0;
	if (ep->armed && now >= ep->armed) { /* expired: readable now */
		ep->fired = true;
		ep->armed = 0;
	}
	if (ep_wait_keeps_time(ep)) {
		/* an expired timerfd would keep smt_fd readable: disarm it
		 * (no hrtimer to move, it has fired); one still armed stays
		 * and may fire early once */
		if (ep->fired) {
			ep->fired = false;
			ep->timer_arms++;
			timerfd_settime(ep->tfd, 0, &its, NULL);
		}
		return;
	}
	later = !ep->fired && ep->armed && d > ep->armed;
	if (!ep->fired && ep->armed && d && d <= ep->armed && d > now &&
	    ep->armed - now <= 2 * (d - now)) {
		ep->armed_for = d; /* the armed expiry serves d now */
		return;
	}
	if (!ep->fired && (!d || (later && ep->armed_for > now &&
				  (!sent || smt_engine_timers_armed(ep->eng) >=
						    EP_TIMERS_BUSY))))
		return;
	if (d) {
		a = d;
		if (d > now) {
			/* the whole window when deadlines move later */
			uint64_t slack = later ? d - now : (d - now) / 2;

			a += slack < EP_TIMER_SLACK_MAX ? slack
							: EP_TIMER_SLACK_MAX;
		}
		if (ep_tfd(ep))
			return;
		its.it_value.tv_sec = a / 1000000000ULL;
		its.it_value.tv_nsec = a % 1000000000ULL;
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	ep->fired = false;
	ep->armed = a;
	ep->armed_for = d;
	ep->timer_arms++;
	timerfd_settime(ep->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* epoll_wait reported the timerfd expired: ep_arm() sets it again, which
 * resets it. Counted, and counted as early when no timer of the engine is
 * due (a wake-up for nothing: a deadline moved later meanwhile). */
static void ep_timer_fired(struct smt_endpoint *ep, uint64_t now)
{
	ep->fired = true;
	ep->armed = 0;
	ep->timer_wakeups++;
	if (smt_engine_next_deadline(ep->eng) > now)
		ep->timer_early++;
}

/* ---- engine glue --------------------------------------------------------- */

/* Sends the backend's batch; the DATA payloads it pointed into (the
 * engine's wire streams) may go from then on. */
static void ep_bk_flush(struct smt_endpoint *ep)
{
	ep->bk->ops->flush(ep->bk);
	smt_engine_tx_done(ep->eng);
}

/* Sends what ep_flush() held (and anything else queued). */
static void ep_tx_release(struct smt_endpoint *ep)
{
	ep->tx_held = false;
	ep_bk_flush(ep);
	if (ep->arm_held) { /* the timer of a send held for this (ep_sent) */
		ep->arm_held = false;
		ep_arm(ep, true);
	}
}

static int ep_send(void *ctx, const struct smt_engine_tx *tx)
{
	struct smt_endpoint *ep = ctx;

	if (tx->payload_len) /* only with ep_pkt_buf: the backend has txv */
		return ep->bk->ops->txv(ep->bk, tx->peer, tx->pkt, tx->len,
					tx->payload, tx->payload_len, tx->prio);
	return ep->bk->ops->tx(ep->bk, tx->peer, tx->pkt, tx->len, tx->prio);
}

static void ep_flush(void *ctx)
{
	struct smt_endpoint *ep = ctx;

	/* inside smt_process, what a whole batch of input produced goes out
	 * in one sendmmsg at its end */
	if (ep->in_process)
		return;
	/* While the application drains a batch of ready messages (smt_recv
	 * has more), what it sends in answer waits for the batch's end: one
	 * sendmmsg for all the replies instead of one per reply. They leave
	 * with the answer to the batch's last message, at the smt_recv that
	 * finds no more, or at the next smt_process (smt_wait and
	 * smt_next_timeout_ms do not wait while any are held). */
	if (ep->draining || ep->hold) {
		ep->tx_held = true;
		return;
	}
	/* A request or oneway of a burst (see send_common) waits for the
	 * next smt_process(). The wake-up eventfd makes smt_fd readable at
	 * once, so a loop that polls it without smt_next_timeout_ms() does
	 * not sleep on held packets. */
	if (ep->cork) {
		if (!ep->tx_held)
			ep->bk->ops->kick(ep->bk);
		ep->tx_held = true;
		return;
	}
	ep_tx_release(ep);
}

/* The caller sends many messages in a row (a proxy cutting one read into
 * requests, the replies of one event batch): they wait for smt_flush()
 * and leave in one sendmmsg. A full send batch still goes by itself. */
void smt_hold(struct smt_endpoint *ep)
{
	ep->hold = true;
}

void smt_flush(struct smt_endpoint *ep)
{
	ep->hold = false;
	if (ep->tx_held && !ep->draining)
		ep_tx_release(ep);
}

/* DATA packets' headers are built in the backend's send batch, their
 * payloads sent from the wire stream by iovec (no copy there). */
static uint8_t *ep_pkt_buf(void *ctx, const struct sockaddr_storage *peer,
			   size_t len)
{
	struct smt_endpoint *ep = ctx;

	if (!ep->bk->ops->tx_buf || !ep->bk->ops->txv)
		return NULL;
	return ep->bk->ops->tx_buf(ep->bk, peer, len);
}

static const struct smt_engine_ops ep_ops = {
	.send = ep_send,
	.flush = ep_flush,
	.pkt_buf = ep_pkt_buf,
};

/* ---- receive queues ------------------------------------------------------ */

static int rxq_init(struct ep_rxq *q, uint32_t mtu)
{
	unsigned int i;

	q->slot_sz = mtu;
	q->nslots = EP_RXQ_BYTES / mtu;
	if (q->nslots > EP_RXQ_SLOTS)
		q->nslots = EP_RXQ_SLOTS;
	if (q->nslots < EP_RXQ_MIN_SLOTS)
		q->nslots = EP_RXQ_MIN_SLOTS;
	q->pkt = calloc(q->nslots, sizeof(*q->pkt));
	q->mem = malloc((size_t)q->nslots * q->slot_sz);
	if (!q->pkt || !q->mem)
		return -ENOMEM;
	for (i = 0; i < q->nslots; i++) {
		q->pkt[i].data = q->mem + (size_t)i * q->slot_sz;
		q->pkt[i].next = i + 1 < q->nslots ? (int)i + 1 : -1;
	}
	q->free = 0;
	for (i = 0; i < EP_NPRIO; i++)
		q->head[i] = q->tail[i] = -1;
	return 0;
}

static void rxq_fini(struct ep_rxq *q)
{
	free(q->pkt);
	free(q->mem);
	memset(q, 0, sizeof(*q));
}

static unsigned int rxq_room(const struct ep_rxq *q)
{
	return q->nslots - q->n;
}

/* Highest priority with a packet queued, -1 when empty. */
static int rxq_top(const struct ep_rxq *q)
{
	int p;

	for (p = EP_NPRIO - 1; p >= 0; p--)
		if (q->head[p] >= 0)
			return p;
	return -1;
}

/* Takes the oldest packet of the highest priority, -1 when empty. */
static int rxq_pop(struct ep_rxq *q)
{
	int p, i;

	for (p = EP_NPRIO - 1; p >= 0; p--) {
		i = q->head[p];
		if (i < 0)
			continue;
		q->head[p] = q->pkt[i].next;
		if (q->head[p] < 0)
			q->tail[p] = -1;
		q->n--;
		return i;
	}
	return -1;
}

static void rxq_release(struct ep_rxq *q, int i)
{
	q->pkt[i].next = q->free;
	q->free = i;
}

struct rx_ctx {
	struct smt_endpoint *ep;
	uint64_t now; /* when this read started */
};

/* Backend callback: queue the packet by the priority in its header (the
 * engine checks everything else), or process it at once when full. */
static void ep_rx(void *arg, const uint8_t *smt, size_t len,
		  const struct sockaddr_storage *peer, int ipv4_id)
{
	struct smt_endpoint *ep = ((struct rx_ctx *)arg)->ep;
	struct ep_rxq *q = &ep->rxq;
	struct ep_pkt *k;
	unsigned int prio;
	int i = q->free;

	if (i < 0 || len > q->slot_sz) {
		smt_engine_input(ep->eng, (const struct sockaddr *)peer, smt,
				 len, ipv4_id, smt_mono_ns());
		return;
	}
	k = &q->pkt[i];
	q->free = k->next;
	memcpy(k->data, smt, len);
	k->len = (uint32_t)len;
	k->peer = *peer;
	k->ipv4_id = ipv4_id;
	k->at = ((struct rx_ctx *)arg)->now;
	k->next = -1;
	prio = len >= SMT_HDR_LEN ? ((const struct smt_hdr *)smt)->prio : 0;
	if (prio > SMT_PRIO_MAX)
		prio = 0;
	if (q->tail[prio] >= 0)
		q->pkt[q->tail[prio]].next = i;
	else
		q->head[prio] = i;
	q->tail[prio] = i;
	q->n++;
}

/* Normalises an extensible struct: copies min(sz, ours) bytes; the rest of
 * a newer caller's struct must be zero. */
static int copy_ext(void *dst, size_t dst_sz, const void *src, size_t src_sz)
{
	const uint8_t *s = src;
	size_t i;

	memset(dst, 0, dst_sz);
	if (!src)
		return 0;
	if (src_sz < sizeof(size_t))
		return -EINVAL;
	for (i = dst_sz; i < src_sz; i++)
		if (s[i])
			return -E2BIG;
	memcpy(dst, src, src_sz < dst_sz ? src_sz : dst_sz);
	return 0;
}

static uint8_t default_ipproto(void)
{
	const char *env = getenv("SMT_IPPROTO");
	long v;

	if (env && *env) {
		v = strtol(env, NULL, 10);
		if (v > 0 && v < 256)
			return (uint8_t)v;
	}
	return SMT_IPPROTO_BUILD;
}

const char *smt_encap_name(enum smt_encap e)
{
	switch (e) {
	case SMT_ENCAP_IP:
		return "ip";
	case SMT_ENCAP_UDP:
		return "udp";
	default:
		return NULL;
	}
}

int smt_encap_parse(const char *s, enum smt_encap *out)
{
	if (s && !strcmp(s, "ip"))
		*out = SMT_ENCAP_IP;
	else if (s && !strcmp(s, "udp"))
		*out = SMT_ENCAP_UDP;
	else
		return -EINVAL;
	return 0;
}

/* $SMT_ENCAP, then the build default (native IP). */
static int default_encap(enum smt_encap *out)
{
	const char *env = getenv("SMT_ENCAP");

	if (env && *env)
		return smt_encap_parse(env, out);
	*out = SMT_ENCAP_IP;
	return 0;
}

static int ep_epoll_add(struct smt_endpoint *ep, int fd, uint64_t tag,
			bool shared)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};

	/* a socket every endpoint of the process polls: one waiter wakes */
	if (shared)
		ev.events |= EPOLLEXCLUSIVE;

	if (fd < 0)
		return 0;
	return epoll_ctl(ep->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Checks and completes the options (defaults filled in). */
static int ep_opts(struct smt_endpoint *ep,
		   const struct smt_endpoint_opts *opts)
{
	int err;

	err = copy_ext(&ep->o, sizeof(ep->o), opts, opts ? opts->sz : 0);
	if (err)
		return err;
	ep->o.sz = sizeof(ep->o);
	if (!ep->o.encap && default_encap(&ep->o.encap))
		return -EINVAL;
	if (!smt_encap_name(ep->o.encap))
		return -EINVAL;
	if (ep->o.backend == SMT_BACKEND_DEFAULT)
		ep->o.backend = ep->o.encap == SMT_ENCAP_UDP ? SMT_BACKEND_UDP
							     : SMT_BACKEND_RAW;
	if (ep->o.backend != SMT_BACKEND_RAW &&
	    ep->o.backend != SMT_BACKEND_UDP)
		return -SMT_E_BACKEND;
	/* a backend carries one encapsulation */
	if ((ep->o.backend == SMT_BACKEND_UDP) !=
	    (ep->o.encap == SMT_ENCAP_UDP))
		return -EINVAL;
	if (!ep->o.ipproto)
		ep->o.ipproto = default_ipproto();
	if (!ep->o.mtu)
		ep->o.mtu = EP_MTU_DEFAULT;
	if (!ep->o.rcvbuf)
		ep->o.rcvbuf = EP_RCVBUF_DEFAULT;
	if (!ep->o.rpc_timeouts)
		ep->o.rpc_timeouts = EP_RPC_TIMEOUTS_DEFAULT;
	/* a native number that is another transport's would mix SMT into
	 * its traffic (protocol.md section 1) */
	if (ep->o.ipproto == IPPROTO_UDP || ep->o.ipproto == IPPROTO_TCP)
		return -EINVAL;
	if (ep->o.priority > SMT_PRIO_MAX || ep->o.mtu < 1280 ||
	    ep->o.mtu > 65535 || ep->o.busy_poll_us > EP_BUSY_POLL_MAX_US)
		return -EINVAL;
	if (ep->o.xsk_tx && ep->o.backend != SMT_BACKEND_RAW)
		return -EINVAL;
	return 0;
}

/* The engine, queues and epoll set around backend ep->bk. */
static int ep_setup(struct smt_endpoint *ep)
{
	struct smt_engine_cfg cfg = {0};
	int fds[SMT_BK_FDS], err = 0, i;

	ep->port = ep->bk->port;
	cfg.rec_size = ep->o.rec_size;
	cfg.unsched_bytes = ep->o.unsched_bytes;
	cfg.max_granted = ep->o.max_granted;
	cfg.resend_timeout_ns = (uint64_t)ep->o.resend_timeout_us * 1000;
	cfg.rto_min_ns = (uint64_t)ep->o.rto_min_us * 1000;
	cfg.max_silent_timeouts = ep->o.rpc_timeouts;
	/* the same patience for a peer's message as for its answers: a
	 * stalled host must not lose a half-received request (the client
	 * would only start it again) */
	cfg.reasm_timeouts = ep->o.rpc_timeouts;
	cfg.rpc_timeout_ns = (uint64_t)ep->o.rpc_timeout_ms * 1000000;
	/* The ACK of a response waits for the next request to the peer (it
	 * rides in the same sendmmsg) for half the RESEND timeout (the
	 * least the peer's NEED_ACK timeout can be; with ep_arm()'s slack it
	 * leaves within one): an RPC costs no ACK packet and no timer
	 * system call while RPCs keep coming. */
	cfg.ack_delay_ns = (uint64_t)(ep->o.resend_timeout_us
					      ? ep->o.resend_timeout_us
					      : EP_RESEND_US_DEFAULT) *
			   1000 / 2;
	cfg.max_sessions = ep->o.max_sessions;
	cfg.max_tx_msgs = ep->o.max_tx_msgs;
	cfg.max_tx_bytes = ep->o.max_tx_bytes;
	cfg.max_rx_msgs = ep->o.max_rx_msgs;
	cfg.max_rx_bytes = ep->o.max_rx_bytes;
	cfg.tx_pull = 1; /* smt_process() interleaves sending and reading */
	/* a 0-RTT request that arrives before its session is held for it
	 * (docs/protocol.md 8.10) */
	if (ep->o.hold_ms != SMT_HOLD_OFF) {
		cfg.hold_pkts = EP_HOLD_PKTS;
		cfg.hold_ns = (uint64_t)ep->o.hold_ms * 1000000;
	}
	if (ep->g) {
		cfg.lane = (uint16_t)ep->lane;
		cfg.lanes = (uint16_t)smt_rpg_size(ep->g);
	}
	/* over UDP, records end on packet boundaries unless the application
	 * sized them (docs/protocol.md 8.5): one GSO run per message */
	cfg.rec_align = ep->o.encap == SMT_ENCAP_UDP && !ep->o.rec_size;
	if (ep->o.encap == SMT_ENCAP_UDP) {
		cfg.grant_window = EP_GRANT_WINDOW_UDP;
		cfg.grant_step = EP_GRANT_STEP_UDP;
	}
	ep->eng = smt_engine_new(&cfg, &ep_ops, ep);
	if (!ep->eng)
		return -errno;
	smt_engine_get_cfg(ep->eng, &cfg);
	/* a message the unscheduled window covers leaves in the send's own
	 * turn: without it, the last 2 datagrams of a 64 KiB message (46)
	 * waited for a second turn (an eventfd kick, epoll_wait, one more
	 * sendmmsg) on both sides of an RPC */
	ep->tx_chunk = EP_TX_CHUNK;
	if (ep->o.encap == SMT_ENCAP_UDP) {
		uint32_t per = SMT_PKT_PAYLOAD(ep->o.mtu, false, true);

		ep->tx_chunk = (cfg.unsched_bytes + per - 1) / per;
		if (ep->tx_chunk > EP_TX_CHUNK_UDP_MAX)
			ep->tx_chunk = EP_TX_CHUNK_UDP_MAX;
		if (ep->tx_chunk < EP_TX_CHUNK)
			ep->tx_chunk = EP_TX_CHUNK;
	}
	ep->hold_max = cfg.resend_timeout_ns;
	/* how long an RPC may stay silent before it fails: the window in
	 * which an ICMP error explains its failure */
	ep->silent_max = cfg.resend_timeout_ns * cfg.max_silent_timeouts;

	err = rxq_init(&ep->rxq, ep->o.mtu);
	if (err)
		return err;
	ep->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ep->epfd < 0)
		return -errno;
	ep->bk->ops->fds(ep->bk, fds);
	for (i = 0; i < SMT_BK_FDS && !err; i++)
		err = ep_epoll_add(ep, fds[i], TAG_BK | 1u << i,
				   ep->bk->ops->shared_fds & 1u << i);
	return err; /* the timerfd comes with the first timer (ep_tfd) */
}

static struct smt_endpoint *ep_alloc(void)
{
	struct smt_endpoint *ep = calloc(1, sizeof(*ep));

	if (ep) {
		ep->epfd = ep->tfd = -1;
		ep->notes_tail = &ep->notes;
	}
	return ep;
}

/* Opens an endpoint; with g, member lane of that reuseport group on port
 * (0: opts' port). */
static int ep_open(const struct smt_endpoint_opts *opts, struct smt_rpg *g,
		   unsigned int lane, uint16_t port, struct smt_endpoint **out)
{
	struct smt_bk_cfg bc = {0};
	struct smt_endpoint *ep;
	int err;

	ep = ep_alloc();
	if (!ep)
		return -ENOMEM;
	err = ep_opts(ep, opts);
	if (err)
		goto fail;
	bc.ipproto = ep->o.ipproto;
	bc.port = port ? port : ep->o.port;
	bc.mtu = ep->o.mtu;
	bc.rcvbuf = ep->o.rcvbuf;
	bc.priority = ep->o.priority;
	bc.prio_tos = ep->o.prio_tos;
	bc.xsk_tx = ep->o.xsk_tx;
	bc.no_offload = ep->o.no_udp_offload;
	if (g) {
		smt_rpg_get(g);
		ep->g = g;
		ep->lane = lane;
		bc.group = g;
		bc.lane = lane;
	}
	if (ep->o.backend == SMT_BACKEND_UDP)
		err = smt_udp_open(&bc, &ep->bk);
	else
		err = g ? -EINVAL : smt_raw_open(&bc, &ep->bk);
	err = err ?: ep_setup(ep);
	if (err)
		goto fail;
	*out = ep;
	return 0;
fail:
	smt_endpoint_close(ep);
	return err;
}

int smt_endpoint_open(const struct smt_endpoint_opts *opts,
		      struct smt_endpoint **out)
{
	return ep_open(opts, NULL, 0, 0, out);
}

int smt_endpoint_open_group(const struct smt_endpoint_opts *opts,
			    unsigned int n, struct smt_endpoint **eps)
{
	struct smt_endpoint *probe;
	struct smt_rpg *g;
	unsigned int i;
	uint16_t port = 0;
	int err;

	if (!eps || n < 1 || n > SMT_GROUP_MAX)
		return -EINVAL;
	if (n == 1)
		return smt_endpoint_open(opts, eps);
	/* the options as the members will have them: encapsulation, MTU */
	probe = ep_alloc();
	if (!probe)
		return -ENOMEM;
	err = ep_opts(probe, opts);
	if (!err && probe->o.backend != SMT_BACKEND_UDP)
		err = -EINVAL; /* only UDP ports have reuseport groups */
	g = err ? NULL : smt_rpg_new(n, probe->o.mtu);
	if (!err && !g)
		err = -errno;
	free(probe);
	if (err)
		return err;
	for (i = 0; i < n && !err; i++) {
		err = ep_open(opts, g, i, port, &eps[i]);
		if (!err)
			port = eps[i]->port;
	}
	smt_rpg_put(g); /* the members hold it */
	if (err) {
		while (i-- > 1)
			smt_endpoint_close(eps[i - 1]);
		return err;
	}
	return 0;
}

int smt_endpoint_open_on(const struct smt_endpoint_opts *opts, struct smt_bk *b,
			 struct smt_endpoint **out)
{
	struct smt_endpoint *ep = ep_alloc();
	int err;

	if (!ep) {
		b->ops->close(b);
		return -ENOMEM;
	}
	ep->bk = b;
	err = ep_opts(ep, opts);
	err = err ?: ep_setup(ep);
	if (err) {
		smt_endpoint_close(ep);
		return err;
	}
	*out = ep;
	return 0;
}

static void sess_free(struct smt_endpoint *ep, struct ep_session *s)
{
	if (s->share)
		smt_rpg_share_put(ep->g, s->share);
	smt_session_params_wipe(&s->p);
	free(s);
}

void smt_endpoint_close(struct smt_endpoint *ep)
{
	const struct smt_ctl_hooks *hooks;
	struct ep_session *s, *n;
	struct ep_note *no;
	unsigned int b;

	if (!ep)
		return;
	ep->arm_held = false; /* no timer to set: closing */
	if (ep->tx_held) /* replies the application made: they still go */
		ep_tx_release(ep);
	/* smtd client state (smt_connect/smt_serve) of this endpoint */
	hooks = atomic_load(&ctl_hooks);
	if (hooks)
		hooks->endpoint_closed(ep);
	/* the batch leaves before the wire streams it points into go */
	if (ep->bk && ep->eng)
		ep_bk_flush(ep);
	if (ep->eng)
		smt_engine_free(ep->eng);
	if (ep->bk)
		ep->bk->ops->close(ep->bk);
	rxq_fini(&ep->rxq);
	for (b = 0; b < EP_SESS_BUCKETS; b++) {
		for (s = ep->sess[b]; s; s = n) {
			n = s->next;
			sess_free(ep, s);
		}
	}
	while ((no = ep->notes)) {
		ep->notes = no->next;
		free(no);
	}
	if (ep->epfd >= 0)
		close(ep->epfd);
	if (ep->tfd >= 0)
		close(ep->tfd);
	smt_rpg_put(ep->g);
	free(ep->watch);
	free(ep);
}

uint16_t smt_endpoint_port(const struct smt_endpoint *ep)
{
	return ep->port;
}

unsigned int smt_ep_lanes(const struct smt_endpoint *ep)
{
	return ep->g ? smt_rpg_size(ep->g) : 1;
}

struct smt_rpg *smt_ep_group(const struct smt_endpoint *ep)
{
	return ep->g;
}

unsigned int smt_ep_lane(const struct smt_endpoint *ep)
{
	return ep->lane;
}

uint8_t smt_ep_ipproto(const struct smt_endpoint *ep)
{
	return ep->o.encap == SMT_ENCAP_UDP ? SMT_IPPROTO_UDP : ep->o.ipproto;
}

enum smt_encap smt_endpoint_encap(const struct smt_endpoint *ep)
{
	return ep->o.encap;
}

/* ---- sessions ------------------------------------------------------------ */

static struct ep_session *sess_find(const struct smt_endpoint *ep, uint32_t id)
{
	struct ep_session *s;

	for (s = ep->sess[id % EP_SESS_BUCKETS]; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

void smt_session_params_wipe(struct smt_session_params *p)
{
	explicit_bzero(p->c_key, sizeof(p->c_key));
	explicit_bzero(p->c_iv, sizeof(p->c_iv));
	explicit_bzero(p->s_key, sizeof(p->s_key));
	explicit_bzero(p->s_iv, sizeof(p->s_iv));
}

static enum smt_cipher suite_cipher(uint16_t suite)
{
	switch (suite) {
	case 0:
	case SMT_TLS_AES_128_GCM_SHA256:
		return SMT_CIPHER_AES_128_GCM;
	case SMT_TLS_AES_256_GCM_SHA384:
		return SMT_CIPHER_AES_256_GCM;
	case SMT_TLS_CHACHA20_POLY1305_SHA256:
		return SMT_CIPHER_CHACHA20_POLY1305;
	}
	return SMT_CIPHER_NONE;
}

static uint16_t cipher_suite(enum smt_cipher c)
{
	switch (c) {
	case SMT_CIPHER_AES_128_GCM:
		return SMT_TLS_AES_128_GCM_SHA256;
	case SMT_CIPHER_AES_256_GCM:
		return SMT_TLS_AES_256_GCM_SHA384;
	case SMT_CIPHER_CHACHA20_POLY1305:
		return SMT_TLS_CHACHA20_POLY1305_SHA256;
	default:
		return 0;
	}
}

static uint16_t sa_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* Fills an engine key set from p's suite and key/IV values. */
static int keys_from(const struct smt_session_params *p, struct smt_keys *k)
{
	memset(k, 0, sizeof(*k));
	k->cipher = suite_cipher(p->suite);
	if (k->cipher == SMT_CIPHER_NONE)
		return -EINVAL;
	k->key_len = p->key_len ? p->key_len : smt_cipher_key_len(k->cipher);
	if (k->key_len != smt_cipher_key_len(k->cipher))
		return -EINVAL;
	memcpy(k->c_key, p->c_key, k->key_len);
	memcpy(k->s_key, p->s_key, k->key_len);
	memcpy(k->c_iv, p->c_iv, SMT_IV_LEN);
	memcpy(k->s_iv, p->s_iv, SMT_IV_LEN);
	return 0;
}

int smt_session_add(struct smt_endpoint *ep, const struct smt_session_params *p,
		    uint32_t *id)
{
	struct smt_engine_session es = {0};
	struct ep_session *s;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	err = copy_ext(&s->p, sizeof(s->p), p, p ? p->sz : 0);
	if (err || !p)
		goto fail;
	s->p.sz = sizeof(s->p);
	err = -EINVAL;
	if (s->p.peer.ss_family != AF_INET && s->p.peer.ss_family != AF_INET6)
		goto fail;
	err = keys_from(&s->p, &es.keys);
	if (err || !sa_port(&s->p.peer))
		goto fail;
	if (!s->p.suite)
		s->p.suite = SMT_TLS_AES_128_GCM_SHA256;
	s->p.key_len = es.keys.key_len;
	es.peer = s->p.peer;
	es.local_port = ep->port;
	es.peer_port = sa_port(&s->p.peer);
	es.tls_client = s->p.tls_client;
	es.epoch = s->p.epoch;
	es.limits.B = s->p.B;
	es.limits.max_msg = s->p.max_msg;
	es.limits.max_pad = s->p.max_pad;
	/* protocol.md 1.1 and 3.3: what fits the MTU in this encapsulation */
	es.max_payload =
		SMT_PKT_PAYLOAD(ep->o.mtu, s->p.peer.ss_family == AF_INET6, 0) -
		ep->bk->ops->encap_hdr;
	es.user = s;
	es.now_ns = smt_mono_ns(); /* for the packets held for it */
	if (ep->g) { /* nonce and ordering counters of the whole group */
		s->share = smt_rpg_share_get(ep->g, &s->p.peer);
		es.share = s->share;
		err = -ENOMEM;
		if (!s->share)
			goto fail;
	}
	err = smt_engine_session_add(ep->eng, &es, &s->id);
	smt_keys_wipe(&es.keys);
	if (err == -EAGAIN)
		err = -SMT_E_LIMIT;
	if (err)
		goto fail;
	if (!s->p.B)
		s->p.B = SMT_B_DEFAULT;
	if (!s->p.max_msg)
		s->p.max_msg = SMT_M_DEFAULT;
	if (ep->bk->ops->peer_added)
		ep->bk->ops->peer_added(ep->bk, &s->p.peer);
	s->next = ep->sess[s->id % EP_SESS_BUCKETS];
	ep->sess[s->id % EP_SESS_BUCKETS] = s;
	ep->nsess++;
	if (id)
		*id = s->id;
	return 0;
fail:
	smt_keys_wipe(&es.keys);
	sess_free(ep, s);
	return err ? err : -EINVAL;
}

int smt_session_rekey(struct smt_endpoint *ep, uint32_t id,
		      const struct smt_session_params *p)
{
	struct smt_session_params np;
	struct ep_session *s = sess_find(ep, id);
	struct smt_keys k;
	int err;

	if (!s)
		return -SMT_E_NOSESSION;
	err = copy_ext(&np, sizeof(np), p, p ? p->sz : 0);
	if (err || !p)
		return err ? err : -EINVAL;
	err = keys_from(&np, &k);
	if (!err)
		err = smt_engine_session_rekey(ep->eng, id, np.epoch, &k,
					       smt_mono_ns());
	smt_keys_wipe(&k);
	if (!err) {
		/* what smt_ep_session_params reports from now on */
		s->p.suite = np.suite ? np.suite : SMT_TLS_AES_128_GCM_SHA256;
		s->p.epoch = np.epoch;
		s->p.key_len = smt_cipher_key_len(suite_cipher(s->p.suite));
		memcpy(s->p.c_key, np.c_key, sizeof(s->p.c_key));
		memcpy(s->p.s_key, np.s_key, sizeof(s->p.s_key));
		memcpy(s->p.c_iv, np.c_iv, sizeof(s->p.c_iv));
		memcpy(s->p.s_iv, np.s_iv, sizeof(s->p.s_iv));
	}
	smt_session_params_wipe(&np);
	ep_arm(ep, false);
	return err == -ENOENT ? -SMT_E_NOSESSION : err;
}

int smt_ep_session_rekey(struct smt_endpoint *ep, uint32_t id,
			 const struct smt_session_params *p)
{
	return smt_session_rekey(ep, id, p);
}

int smt_session_remove(struct smt_endpoint *ep, uint32_t id)
{
	struct ep_session **pp, *s;

	for (pp = &ep->sess[id % EP_SESS_BUCKETS]; *pp; pp = &(*pp)->next) {
		if ((*pp)->id != id)
			continue;
		s = *pp;
		/* events of this session are made now; they find no peer */
		*pp = s->next;
		ep->nsess--;
		smt_engine_session_del(ep->eng, id);
		sess_free(ep, s);
		ep_arm(ep, false);
		return 0;
	}
	return -SMT_E_NOSESSION;
}

int smt_session_params_from_keylog(const char *line, bool tls_client,
				   struct smt_session_params *p,
				   const char **err)
{
	struct smt_keylog kl;
	int rc;

	rc = smt_keylog_parse(line, &kl, err);
	if (rc)
		return rc;
	memset(p, 0, sizeof(*p));
	p->sz = sizeof(*p);
	p->peer = tls_client ? kl.server : kl.client;
	p->suite = cipher_suite(kl.keys.cipher);
	p->tls_client = tls_client;
	p->epoch = kl.epoch;
	p->B = kl.B;
	p->max_msg = kl.max_msg;
	p->max_pad = kl.max_pad;
	p->key_len = kl.keys.key_len;
	memcpy(p->c_key, kl.keys.c_key, kl.keys.key_len);
	memcpy(p->s_key, kl.keys.s_key, kl.keys.key_len);
	memcpy(p->c_iv, kl.keys.c_iv, SMT_IV_LEN);
	memcpy(p->s_iv, kl.keys.s_iv, SMT_IV_LEN);
	smt_keys_wipe(&kl.keys);
	if (!p->suite) {
		if (err)
			*err = "cipher";
		smt_session_params_wipe(p);
		return -EINVAL;
	}
	return 0;
}

int smt_ep_sessions(struct smt_endpoint *ep, uint32_t *ids, size_t max)
{
	struct ep_session *s;
	unsigned int b;
	size_t n = 0;

	for (b = 0; b < EP_SESS_BUCKETS; b++)
		for (s = ep->sess[b]; s; s = s->next, n++)
			if (n < max)
				ids[n] = s->id;
	return (int)n;
}

int smt_ep_session_params(struct smt_endpoint *ep, uint32_t id,
			  struct smt_session_params *out)
{
	struct ep_session *s = sess_find(ep, id);

	if (!s)
		return -SMT_E_NOSESSION;
	*out = s->p;
	return 0;
}

int smt_ep_notify_session_up(struct smt_endpoint *ep, uint32_t id)
{
	struct ep_session *s = sess_find(ep, id);
	struct ep_note *n;

	if (!s)
		return -SMT_E_NOSESSION;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->msg.kind = SMT_MSG_SESSION_UP;
	n->msg.session = id;
	n->msg.peer = s->p.peer;
	*ep->notes_tail = n;
	ep->notes_tail = &n->next;
	return 0;
}

/* ---- messages ------------------------------------------------------------ */

static int map_send_err(int err)
{
	switch (err) {
	case -ENOENT:
		return -SMT_E_NOSESSION;
	case -EMSGSIZE:
		return -SMT_E_TOOBIG;
	default:
		return err;
	}
}

/* After a send or reply: the first chunk of the send queue (all of a
 * small message, which comes first) goes out now, the rest from
 * smt_process(). The timer is set only if the caller may sleep next:
 * while the wake-up eventfd keeps smt_fd readable (packets left to send,
 * or a send of a burst held for the next smt_process) the caller calls
 * smt_process() first, which runs due timers by the clock and sets the
 * timer at its end (see ep_process). */
static void ep_sent(struct smt_endpoint *ep)
{
	smt_engine_pull(ep->eng, ep->tx_chunk);
	if (smt_engine_tx_pending(ep->eng)) {
		ep->bk->ops->kick(ep->bk);
		return;
	}
	if (ep->cork && ep->tx_held)
		return;
	/* Held for smt_flush() or the end of a drain: the timer is set when
	 * the packets have left (ep_tx_release), not before them. A
	 * timerfd_settime is 7 to 19 us on these VMs, and before the
	 * sendmmsg it was on the RPC's path: smt-proxy, one request at a
	 * time, set it before 0.57 of its requests and 0.26 of its
	 * responses */
	if (ep->tx_held && (ep->hold || ep->draining)) {
		ep->arm_held = true;
		return;
	}
	ep_arm(ep, true);
}

static int send_common(struct smt_endpoint *ep, uint32_t session,
		       const void *buf, size_t len, uint32_t flags,
		       uint64_t cookie, uint64_t *id)
{
	uint64_t tmp;
	int err;

	if (len > UINT32_MAX)
		return -SMT_E_TOOBIG;
	if (len && !buf)
		return -EINVAL;
	/*
	 * Batching under load: the first request or oneway after
	 * smt_process() leaves at once (an unloaded RPC waits for nothing);
	 * the ones sent after it before the next smt_process() are held and
	 * leave together in that call's first sendmmsg, equal-size packets
	 * to one peer in one UDP GSO buffer (docs/api.md "Event loop").
	 */
	ep->cork = ep->sends++ > 0;
	ep->tx_batched += ep->cork;
	err = smt_engine_send(ep->eng, session, buf, (uint32_t)len, flags,
			      cookie, id ? id : &tmp, smt_mono_ns());
	ep_sent(ep);
	ep->cork = false;
	return map_send_err(err);
}

int smt_send_request(struct smt_endpoint *ep, uint32_t session, const void *buf,
		     size_t len, uint64_t cookie, uint64_t *id)
{
	return send_common(ep, session, buf, len, 0, cookie, id);
}

int smt_send_oneway(struct smt_endpoint *ep, uint32_t session, const void *buf,
		    size_t len, uint64_t cookie, uint64_t *id)
{
	return send_common(ep, session, buf, len, SMT_ENGINE_ONEWAY, cookie,
			   id);
}

int smt_reply(struct smt_endpoint *ep, uint32_t session, uint64_t id,
	      const void *buf, size_t len)
{
	int err;

	if (!sess_find(ep, session))
		return -SMT_E_NOSESSION;
	if (len > UINT32_MAX)
		return -SMT_E_TOOBIG;
	if (len && !buf)
		return -EINVAL;
	err = smt_engine_reply(ep->eng, session, id, buf, (uint32_t)len,
			       smt_mono_ns());
	ep_sent(ep);
	return err == -ENOENT ? -SMT_E_NORPC : map_send_err(err);
}

int smt_cancel(struct smt_endpoint *ep, uint32_t session, uint64_t id)
{
	int err;

	if (!sess_find(ep, session))
		return -SMT_E_NOSESSION;
	err = smt_engine_cancel(ep->eng, session, id, smt_mono_ns());
	ep_arm(ep, false);
	return err == -ENOENT ? -SMT_E_NORPC : err;
}

/* Start of the window in which an RPC that failed now stayed silent. */
static uint64_t ep_since(const struct smt_endpoint *ep)
{
	uint64_t now = smt_mono_ns();

	return now > ep->silent_max ? now - ep->silent_max : 0;
}

static int map_ev_err(int err)
{
	switch (err) {
	case -ETIMEDOUT:
		return -SMT_E_RPC_TIMEOUT;
	case -ECANCELED:
		return -SMT_E_CANCELED;
	case -ECONNABORTED:
		return -SMT_E_SESSION_GONE;
	default:
		return err;
	}
}

int smt_recv(struct smt_endpoint *ep, struct smt_msg *msg)
{
	struct smt_engine_event ev;
	struct ep_session *s;
	struct ep_note *n;

	memset(msg, 0, sizeof(*msg));
	/* replies to this message wait if more are ready (see ep_flush);
	 * replies held so far go with those to the last one, or now */
	ep->draining =
		smt_engine_events_pending(ep->eng) + (ep->notes ? 1 : 0) > 1;
	n = ep->notes;
	if (n) {
		ep->notes = n->next;
		if (!ep->notes)
			ep->notes_tail = &ep->notes;
		*msg = n->msg;
		free(n);
		return 0;
	}
	if (smt_engine_next_event(ep->eng, &ev) != 1) {
		if (ep->tx_held && !ep->hold)
			ep_tx_release(ep);
		return -EAGAIN;
	}
	switch (ev.type) {
	case SMT_ENGINE_EV_REQUEST:
		msg->kind = SMT_MSG_REQUEST;
		break;
	case SMT_ENGINE_EV_ONEWAY:
		msg->kind = SMT_MSG_ONEWAY;
		break;
	case SMT_ENGINE_EV_RESPONSE:
		msg->kind = SMT_MSG_RESPONSE;
		break;
	case SMT_ENGINE_EV_FAILED:
		msg->kind = SMT_MSG_FAILED;
		break;
	case SMT_ENGINE_EV_SENT:
	default:
		msg->kind = SMT_MSG_SENT;
		break;
	}
	msg->session = ev.session;
	msg->id = ev.id;
	msg->cookie = ev.cookie;
	msg->error = map_ev_err(ev.error);
	/* ownership of the bytes passes to the caller: both sides use free() */
	msg->data = ev.data;
	msg->len = ev.len;
	s = sess_find(ep, ev.session);
	if (s)
		msg->peer = s->p.peer;
	/* a silent peer whose host said "port unreachable" while the message
	 * was out: say so (the RPC still ran its whole timeout; ICMP can be
	 * forged). The window is the message's life: its silence limit grows
	 * with the round trip and its size, and the first probes that drew
	 * the ICMP errors may have gone out just after it was sent. */
	if (s && msg->error == -SMT_E_RPC_TIMEOUT && ep->bk->ops->unreachable &&
	    ep->bk->ops->unreachable(ep->bk, &s->p.peer,
				     ev.since ? ev.since : ep_since(ep)))
		msg->error = -SMT_E_UNREACHABLE;
	return 0;
}

void smt_msg_release(struct smt_msg *msg)
{
	smt_pool_free(msg->data);
	memset(msg, 0, sizeof(*msg));
}

/* ---- event loop ---------------------------------------------------------- */

int smt_fd(const struct smt_endpoint *ep)
{
	/* the caller may poll it from now on, not only sleep in smt_wait()
	 * (ep_caller_waits): the timerfd must cover the next timer. The
	 * endpoint itself is not const. */
	if (!ep->fd_out) {
		struct smt_endpoint *e = (struct smt_endpoint *)ep;

		e->fd_out = true;
		ep_arm(e, false);
	}
	return ep->epfd;
}

static struct ep_watch *watch_find(struct smt_endpoint *ep, int fd)
{
	size_t i;

	for (i = 0; i < ep->nwatch; i++)
		if (ep->watch[i].fd == fd)
			return &ep->watch[i];
	return NULL;
}

int smt_ep_watch_fd(struct smt_endpoint *ep, int fd, smt_ep_watch_cb cb,
		    void *arg)
{
	struct ep_watch *w;
	int err;

	if (fd < 0 || !cb)
		return -EINVAL;
	if (watch_find(ep, fd))
		return -EEXIST;
	if (ep->nwatch == ep->capwatch) {
		size_t cap = ep->capwatch ? ep->capwatch * 2 : 4;

		w = realloc(ep->watch, cap * sizeof(*w));
		if (!w)
			return -ENOMEM;
		ep->watch = w;
		ep->capwatch = cap;
	}
	err = ep_epoll_add(ep, fd, TAG_WATCH | (uint32_t)fd, false);
	if (err)
		return err;
	ep->watch[ep->nwatch++] = (struct ep_watch){fd, cb, arg};
	return 0;
}

int smt_ep_unwatch_fd(struct smt_endpoint *ep, int fd)
{
	struct ep_watch *w = watch_find(ep, fd);

	if (!w)
		return -ENOENT;
	epoll_ctl(ep->epfd, EPOLL_CTL_DEL, fd, NULL);
	*w = ep->watch[--ep->nwatch];
	return 0;
}

/*
 * Runs the engine's timers, but while received packets wait to be
 * processed (the work bound of one call was reached, or a ready message
 * returned the call before packets of lower priority) only those due
 * before the oldest of them was read: a later one would fire for silence
 * that is only ours (a process that did not run for a while finds every
 * timer due and its socket full of the answers), and would ask the peer
 * for what is already here, feeding a retransmission storm on a loaded
 * host. Timers wait at most one base RESEND timeout that way, so a flood
 * cannot stop them.
 */
static void ep_timers(struct smt_endpoint *ep)
{
	uint64_t now = smt_mono_ns(), oldest = now;
	struct ep_rxq *q = &ep->rxq;
	int p;

	for (p = 0; q->n && p < EP_NPRIO; p++)
		if (q->head[p] >= 0 && q->pkt[q->head[p]].at < oldest)
			oldest = q->pkt[q->head[p]].at;
	if (q->n && !ep->timers_held)
		ep->timers_held = now;
	if (!q->n || now - ep->timers_held >= ep->hold_max) {
		ep->timers_held = 0;
		oldest = now;
	}
	smt_engine_advance_due(ep->eng, now, oldest);
}

/* Drains the sockets into the receive queues while they have room; the
 * backend's result (packets or -errno) of the last read. */
static int ep_read(struct smt_endpoint *ep, struct rx_ctx *c)
{
	unsigned int room, total = 0;
	int r = 0;

	c->now = smt_mono_ns();
	while ((room = rxq_room(&ep->rxq)) > 0 && total < ep->rxq.nslots) {
		if (room > EP_RX_BATCH)
			room = EP_RX_BATCH;
		r = ep->bk->ops->rx(ep->bk, ep_rx, c, room, &ep->rx_ready);
		if (r <= 0)
			break;
		total += (unsigned int)r;
		if ((unsigned int)r < room)
			break;
	}
	return r;
}

/* Processes up to EP_RX_CHUNK queued packets of the highest priority
 * queued (*prio, -1 when none), and sends what they produced. Returns how
 * many. */
static unsigned int ep_run_chunk(struct smt_endpoint *ep, int *prio)
{
	struct ep_rxq *q = &ep->rxq;
	uint64_t now = smt_mono_ns();
	unsigned int n;
	int i;

	*prio = rxq_top(q);
	smt_engine_batch_begin(ep->eng);
	for (n = 0;
	     n < EP_RX_CHUNK && rxq_top(q) == *prio && (i = rxq_pop(q)) >= 0;
	     n++) {
		struct ep_pkt *k = &q->pkt[i];

		/* others wait behind it (for at most one base timeout, as
		 * timers do: ep_timers) */
		smt_engine_set_backlog(
			ep->eng,
			q->n && !(ep->timers_held &&
				  now - ep->timers_held >= ep->hold_max));
		smt_engine_input(ep->eng, (const struct sockaddr *)&k->peer,
				 k->data, k->len, k->ipv4_id, now);
		rxq_release(q, i);
	}
	smt_engine_batch_end(ep->eng);
	ep_bk_flush(ep);
	return n;
}

/*
 * Busy polling (opts.busy_poll_us): while a message is arriving and nothing
 * new is ready for the caller, waits for its next packet by polling the
 * sockets instead of returning to sleep. Every packet of a message that
 * spans many packets would otherwise cost a sleep and a wake-up on this
 * side and a cross-CPU wake-up on the sender's. true when packets came.
 * Only where it pays: a spin that found nothing halves the next one's
 * budget (down to a sixteenth of busy_poll_us) and one that did restores
 * it; a spin that sees it was descheduled (another task wants this CPU)
 * stops, and the next EP_SPIN_PAUSE spins are skipped.
 */
static bool ep_spin(struct smt_endpoint *ep, struct rx_ctx *c, size_t ev0)
{
	uint64_t max = (uint64_t)ep->o.busy_poll_us * 1000, now, prev, until;
	unsigned int had = ep->rxq.n;

	if (!max || ep->notes || smt_engine_events_pending(ep->eng) != ev0 ||
	    !smt_engine_rx_active(ep->eng))
		return false;
	if (ep->spin_pause) {
		ep->spin_pause--;
		return false;
	}
	if (!ep->spin_ns || ep->spin_ns > max)
		ep->spin_ns = max;
	prev = smt_mono_ns();
	until = prev + ep->spin_ns;
	do {
		ep->rx_ready |= ep->bk->sock_bits;
		if (ep_read(ep, c) < 0)
			return false;
		if (ep->rxq.n > had) {
			/* it paid: the full budget again */
			ep->spin_ns = ep->spin_ns * 2 < max ? ep->spin_ns * 2
							    : max;
			return true;
		}
		now = smt_mono_ns();
		if (now - prev > EP_SPIN_STALL_NS) {
			/* another task ran on this CPU meanwhile: spinning
			 * only takes its time (and the peer's, when it
			 * shares the CPU); sleep for the next few */
			ep->spin_pause = EP_SPIN_PAUSE;
			return false;
		}
		prev = now;
	} while (now < until);
	/* nothing came: spin half as long next time (down to a sixteenth) */
	ep->spin_ns = ep->spin_ns / 2 > max / 16 ? ep->spin_ns / 2 : max / 16;
	return false;
}

/*
 * Saves smt_process() its epoll_wait, a system call of 1 to 1.5 us on
 * these VMs, paid twice per small RPC (once per side), while packets keep
 * coming: when the last epoll_wait found only the backend's own sockets
 * readable (no timer, watched fd, error or group hand-over), those are
 * read first, and when that brought packets the epoll_wait is skipped.
 * At most EP_SPEC_RUN calls in a row, so the timer and the watched fds
 * are still asked for under a steady stream; a timer that expired
 * meanwhile is noticed by the clock (ep_arm sets it again). A read that
 * brings nothing costs the one system call the epoll_wait would have.
 * Only where the backend's sockets are this endpoint's alone
 * (smt_bk.spec_rx): not in a reuseport group, not on the raw sockets
 * that a process's endpoints share. true when skipped.
 */
static bool ep_spec_read(struct smt_endpoint *ep, struct rx_ctx *c)
{
	unsigned int had = ep->rxq.n;
	uint64_t now;

	if (!ep->spec_bits || ep->spec_run >= EP_SPEC_RUN)
		return false;
	ep->rx_ready |= ep->spec_bits;
	if (ep_read(ep, c) < 0 || ep->rxq.n == had) {
		/* not again before an epoll_wait finds the sockets ready:
		 * an application that calls smt_process() while idle pays
		 * this read once */
		ep->spec_bits = 0;
		return false;
	}
	ep->spec_run++;
	ep->spec_skipped++;
	now = smt_mono_ns();
	if (ep->armed && now >= ep->armed) {
		ep->fired = true;
		ep->armed = 0;
	}
	return true;
}

/*
 * After a chunk of `got` received packets was processed (and what it
 * produced sent): whether ep_process reads the sockets again now, and
 * which (rx_ready). One rule, two cases:
 * - a chunk or more still queued: not before EP_REREAD_CHUNKS chunks
 *   (*unread counts them). A read after every chunk of a stream of 8 KiB
 *   messages found about 8 datagrams, one recvmmsg per RPC and side
 *   (docs/engine.md "Reads per RPC at 32 outstanding").
 * - otherwise, or at that count: what arrived meanwhile may outrank what
 *   is queued. While a transfer keeps us busy (a whole chunk processed
 *   with packets left, or packets of ours left to send) every socket is
 *   asked (epoll was not); else only those known to hold more (rx_ready:
 *   an earlier read stopped at the queue's room). An idle exchange saw
 *   its sockets empty, and so did one whose short chunk took a few us:
 *   an ACK ahead of a request's packets cost the server a recvmmsg per
 *   socket before it saw the request (docs/engine.md "Unloaded 4 KiB to
 *   64 KiB RPCs").
 */
static bool ep_reread(struct smt_endpoint *ep, unsigned int got,
		      unsigned int *unread)
{
	if (ep->rxq.n >= EP_RX_CHUNK && ++*unread < EP_REREAD_CHUNKS)
		return false;
	*unread = 0;
	if ((ep->rxq.n && got == EP_RX_CHUNK) || smt_engine_tx_pending(ep->eng))
		ep->rx_ready |= ep->bk->sock_bits;
	return ep->rx_ready != 0;
}

/* What epoll_wait reported (n events; none when ep_spec_read read
 * instead), then the work of smt_process(). */
static int ep_process(struct smt_endpoint *ep, struct rx_ctx *c,
		      const struct epoll_event *evs, int n);

/* A burst of sends held for this call (send_common, smt_wait's or
 * smt_process's) leaves first, before anything is read or processed:
 * the peer works on it while we process what came meanwhile (on a
 * pipelined stream of small RPCs, a chunk's processing earlier). */
static void ep_burst_release(struct smt_endpoint *ep)
{
	if (ep->tx_held && !ep->hold && !ep->draining)
		ep_tx_release(ep);
}

int smt_process(struct smt_endpoint *ep)
{
	struct epoll_event evs[16];
	struct rx_ctx c = {.ep = ep};
	int n = 0;

	ep_burst_release(ep);
	if (!ep_spec_read(ep, &c))
		n = epoll_wait(ep->epfd, evs, 16, 0);
	return ep_process(ep, &c, evs, n);
}

static int ep_process(struct smt_endpoint *ep, struct rx_ctx *c,
		      const struct epoll_event *evs, int n)
{
	unsigned int work, spec = 0, unread = 0;
	bool other = n < 0;
	size_t ev0;
	int i, r;

	if (n > 0)
		ep->spec_run = 0;
	for (i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;
		struct ep_watch *w;

		if (tag == TAG_TIMER) {
			/* ep_arm() below resets it: no read needed */
			ep_timer_fired(ep, smt_mono_ns());
		} else if (tag & TAG_WATCH) {
			/* look up again: an earlier callback may unwatch */
			w = watch_find(ep, (int)(uint32_t)tag);
			if (w)
				w->cb(ep, w->fd, w->arg);
		} else if (tag & TAG_BK) {
			unsigned int bit = (unsigned int)tag & TAG_BK_BITS;

			ep->rx_ready |= bit;
			if (evs[i].events & EPOLLERR) /* see smt_bk_ops */
				ep->rx_ready |= bit << SMT_BK_FDS;
			if ((bit & ep->bk->sock_bits) &&
			    !(evs[i].events & EPOLLERR))
				spec |= bit;
			else
				other = true;
		}
		if (tag == TAG_TIMER || (tag & TAG_WATCH))
			other = true;
	}
	if (n)
		ep->spec_bits = ep->bk->spec_rx && !ep->g && !other ? spec : 0;
	/* sessions smtd handed the group: this member's share (ctl_client) */
	if (ep->g && smt_rpg_ctl_take(ep->g, ep->lane)) {
		const struct smt_ctl_hooks *hooks = atomic_load(&ctl_hooks);

		if (hooks) /* always: only ctl_client.c kicks */
			hooks->group_work(ep);
	}
	/*
	 * Bounded work: under a packet storm or a long transfer the caller
	 * still gets control back (the fd stays readable for the rest).
	 * First the socket is drained into the priority queues (as far as
	 * they have room); then, in turns, a chunk of received packets is
	 * processed (highest priority first) and a chunk of the engine's
	 * send queue (fewest unsent bytes first) goes out, and the socket is
	 * read again. Once a message is ready for the application and no
	 * more packets of its priority are queued, the call returns, leaving
	 * the rest queued (the wake-up eventfd keeps
	 * smt_fd() readable): a small RPC's reply does not wait for a large
	 * transfer's backlog to be decrypted or its burst to be sent.
	 */
	ep_burst_release(ep);
	ep->in_process = true;
	r = ep_read(ep, c);
	work = 0;
	ev0 = smt_engine_events_pending(ep->eng);
spin:
	while (work < EP_WORK_MAX) {
		int prio;
		unsigned int did = ep_run_chunk(ep, &prio), got = did;

		/* Ready messages wait only for packets of their priority,
		 * and only until EP_RX_CHUNK of them are ready: those go to
		 * the caller now, the rest waits queued (smt_fd stays
		 * readable). What the caller sends in answer then leaves
		 * while the rest is processed, and the peer works on it
		 * meanwhile: 32 outstanding small RPCs no longer cross as one
		 * batch that each side processes whole while the other
		 * sleeps (docs/engine.md "The pipeline bubble at 32
		 * outstanding"). Counted in messages, not packets: 8 KiB
		 * messages keep their batches (and GSO sends) of 16. */
		if (smt_engine_events_pending(ep->eng) >= ev0 + EP_RX_CHUNK ||
		    (smt_engine_events_pending(ep->eng) > ev0 &&
		     rxq_top(&ep->rxq) < prio))
			break;
		did += smt_engine_pull(ep->eng, ep->tx_chunk);
		ep_bk_flush(ep);
		if (!did)
			break;
		work += did;
		if (ep_reread(ep, got, &unread) && ep_read(ep, c) < 0)
			break;
	}
	if (work < EP_WORK_MAX && ep_spin(ep, c, ev0))
		goto spin;
	ep_timers(ep);
	if (smt_engine_events_pending(ep->eng) == ev0)
		smt_engine_pull(ep->eng, ep->tx_chunk);
	ep->in_process = false;
	ep->arm_held = false; /* set below, or kicked: work is left */
	ep_tx_release(ep);
	ep->sends = 0;
	/* Work left (received packets queued, packets to send) keeps smt_fd
	 * readable, so the caller comes back before it sleeps: the timer is
	 * set by the call that leaves nothing, not by each call of a busy
	 * stretch. A timerfd_settime whose expiry is under a few ms ahead
	 * moves the CPU's next hrtimer, which on these VMs reprograms the
	 * clock event device through the hypervisor: 7 to 19 us a call
	 * (docs/engine.md "The pipeline bubble at 32 outstanding"). */
	if (ep->rxq.n || smt_engine_tx_pending(ep->eng))
		ep->bk->ops->kick(ep->bk);
	else
		ep_arm(ep, false);
	if (r < 0)
		return r;
	r = (int)smt_engine_events_pending(ep->eng) + (ep->notes ? 1 : 0);
	if (ep->ctl_later && (!r || !--ep->ctl_later)) {
		const struct smt_ctl_hooks *hooks = atomic_load(&ctl_hooks);

		ep->ctl_later = 0;
		if (hooks) /* always: only ctl_client.c asks */
			hooks->later(ep);
	}
	return r;
}

int64_t smt_next_timeout_ns(const struct smt_endpoint *ep)
{
	uint64_t d = smt_engine_next_deadline(ep->eng), now = smt_mono_ns();

	/* work left for smt_process() (what smt_wait() does not sleep on) */
	if (ep->tx_held || ep->rxq.n || smt_engine_tx_pending(ep->eng) ||
	    d <= now)
		return 0;
	/* the timerfd in smt_fd's set wakes the caller in time: a wait
	 * without a timeout of its own is cheaper (ep_wait_keeps_time) */
	if (d == UINT64_MAX ||
	    (ep_caller_waits(ep) && ep_tfd_covers(ep, d, now)))
		return -1;
	return d - now > INT64_MAX ? INT64_MAX : (int64_t)(d - now);
}

int smt_next_timeout_ms(const struct smt_endpoint *ep)
{
	int64_t ns = smt_next_timeout_ns(ep);

	if (ns < 0)
		return -1;
	if (ns > (int64_t)INT32_MAX * 1000000)
		return INT32_MAX;
	return (int)((ns + 999999) / 1000000);
}

int smt_wait(struct smt_endpoint *ep, int timeout_ms)
{
	struct epoll_event evs[16];
	struct rx_ctx c = {.ep = ep};
	int64_t ns = timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000;
	int n;

	if (ep->notes || smt_engine_events_pending(ep->eng) || ep->rxq.n ||
	    smt_engine_tx_pending(ep->eng) || ep->tx_held)
		ns = 0;
	if (ep_caller_waits(ep)) { /* the wait keeps time (ep_arm) */
		int64_t t = smt_next_timeout_ns(ep);

		if (t >= 0 && (ns < 0 || t < ns))
			ns = t;
	}
	/* the events it waited for are the ones smt_process() would ask
	 * for at once: one system call, not two. epoll_wait, not poll: only
	 * a thread waiting in the endpoint's own epoll set counts for
	 * EPOLLEXCLUSIVE on the process's shared raw sockets; one in poll()
	 * is woken by every packet (docs/api.md). epoll_pwait2 takes the
	 * timeout in nanoseconds: with caller_timers a 100 us RESEND timeout
	 * must not wait for epoll_wait's next whole millisecond */
	if (ns < 0) {
		n = epoll_pwait2(ep->epfd, evs, 16, NULL, NULL);
	} else {
		struct timespec ts = {.tv_sec = ns / 1000000000,
				      .tv_nsec = ns % 1000000000};

		n = epoll_pwait2(ep->epfd, evs, 16, &ts, NULL);
	}
	if (n < 0 && errno == ENOSYS) /* before Linux 5.11: whole ms, up */
		n = epoll_wait(ep->epfd, evs, 16,
			       ns < 0 ? -1
			       : ns > (int64_t)INT32_MAX * 1000000
				       ? INT32_MAX
				       : (int)((ns + 999999) / 1000000));
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	return ep_process(ep, &c, evs, n);
}

/* ---- counters ------------------------------------------------------------ */

int smt_stats_get(struct smt_endpoint *ep, uint32_t session,
		  struct smt_stats *stats)
{
	struct smt_engine_stats es;
	struct smt_bk_stats bs;
	struct smt_stats st = {.sz = sizeof(st)};
	size_t sz = stats->sz;
	unsigned int i;

	if (sz < sizeof(size_t))
		return -EINVAL;
	if (smt_engine_get_stats(ep->eng, session, &es))
		return -SMT_E_NOSESSION;
	st.tx_packets = es.pkts_out;
	st.tx_bytes = es.bytes_out;
	st.rx_packets = es.pkts_in;
	st.rx_bytes = es.bytes_in;
	st.tx_msgs = es.msgs_out;
	st.rx_msgs = es.msgs_delivered;
	st.tx_retransmits = es.retransmits;
	st.tx_ctl = es.ctl_out;
	st.rx_ctl = es.ctl_in;
	st.rpcs_ok = es.rpcs_ok;
	st.rpcs_failed = es.rpcs_failed;
	st.tx_errors = es.tx_errors;
	st.rx_dup_data = es.dup_data_in;
	st.rx_spurious_rtx = es.spurious_rtx_in;
	st.rtt_samples = es.rtt_samples;
	st.tx_rcpts = es.rcpts_out;
	st.rx_rcpts = es.rcpts_in;
	st.probes_saved = es.probes_saved;
	st.tx_probes = es.resends_response;
	st.srtt_us = es.srtt_ns / 1000;
	st.rto_us = es.rto_ns / 1000;
	st.drops_total = es.drops_total;
	for (i = 0; i < SMT_DROP_MAX; i++)
		st.drops[i] = es.drops[i];
	if (!session) {
		ep->bk->ops->stats(ep->bk, &bs);
		st.rx_no_endpoint = bs.rx_no_endpoint;
		st.tx_errors += bs.tx_errors;
		st.tx_xsk_packets = bs.tx_xsk_packets;
		st.tx_xsk_fallback = bs.tx_xsk_fallback;
		st.rx_icmp_errors = bs.rx_icmp_errors;
		st.tx_batched = ep->tx_batched;
		st.rx_epoll_skipped = ep->spec_skipped;
		st.timer_arms = ep->timer_arms;
		st.timer_wakeups = ep->timer_wakeups;
		st.timer_early = ep->timer_early;
		st.tx_calls = bs.tx_calls;
		st.rx_calls = bs.rx_calls;
		st.tx_gso_sends = bs.tx_gso_sends;
		st.tx_gso_segments = bs.tx_gso_segments;
		st.tx_gso_fallback = bs.tx_gso_fallback;
		st.rx_gro_bufs = bs.rx_gro_bufs;
		st.rx_gro_segments = bs.rx_gro_segments;
		st.udp_gso = bs.udp_gso;
		st.udp_gro = bs.udp_gro;
		st.rx_steered_out = bs.rx_steered_out;
		st.rx_steered_in = bs.rx_steered_in;
		st.rx_steer_drops = bs.rx_steer_drops;
		st.rx_ack_copies = bs.rx_ack_copies;
		st.rx_held = es.held;
		st.rx_held_replayed = es.hold_replayed;
		st.rx_held_expired = es.hold_expired;
		st.rx_held_overflow = es.hold_overflow;
		st.drops[SMT_DROP_BAD_IP] += bs.rx_bad_ip;
		st.drops[SMT_DROP_NO_MEMORY] +=
			bs.rx_queue_full + bs.rx_steer_drops;
		st.drops[SMT_DROP_UDP_PORT_MISMATCH] += bs.rx_port_mismatch;
		st.drops_total += bs.rx_bad_ip + bs.rx_queue_full +
				  bs.rx_port_mismatch + bs.rx_steer_drops;
	}
	memcpy(stats, &st, sz < sizeof(st) ? sz : sizeof(st));
	stats->sz = sz;
	return 0;
}
