// SPDX-License-Identifier: BSD-2-Clause
/*
 * Reuseport groups (rpgroup.h): the kernel steering program, the software
 * steering queues between members, and the per-session counters their
 * engines share.
 *
 * The program is classic BPF (SO_ATTACH_REUSEPORT_CBPF): it needs no
 * privilege, so an unprivileged application sets up its own group. For a
 * UDP socket the kernel runs it with the UDP payload (the SMT header) at
 * offset 0, and a result at or past the group's size makes the kernel pick
 * a socket by its hash of addresses and ports.
 */
#include <errno.h>
#include <linux/filter.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <smt/wire.h>

#include "rpgroup.h"

#define RPG_QUEUE 512 /* datagrams queued per member and turn */
#define RPG_SHARE_BUCKETS 64

/* One member's queue: datagrams other members steered to it. Two sets:
 * forwarders fill one while the member empties the other. */
struct rpg_set {
	uint8_t *buf; /* RPG_QUEUE slots of max_dgram bytes */
	uint32_t len[RPG_QUEUE];
	struct sockaddr_storage peer[RPG_QUEUE];
	unsigned int n;
};

struct rpg_member {
	pthread_mutex_t lock;
	bool alive;
	_Atomic bool ctl; /* smt_rpg_ctl_kick: the control hook has work */
	int kick_fd;
	struct rpg_set set[2];
	unsigned int fill; /* set[fill] takes new datagrams */
};

struct rpg_share {
	struct rpg_share *next;
	struct sockaddr_storage peer;
	unsigned int refs;
	struct smt_engine_share sh;
};

struct smt_rpg {
	unsigned int n;
	size_t max_dgram;
	_Atomic unsigned int refs;
	pthread_mutex_t lock; /* the share table */
	struct rpg_share *shares[RPG_SHARE_BUCKETS];
	struct rpg_member m[];
};

struct smt_rpg *smt_rpg_new(unsigned int n, size_t max_dgram)
{
	struct smt_rpg *g;
	unsigned int i, k;

	if (n < 2 || n > SMT_ENGINE_LANES_MAX || !max_dgram) {
		errno = EINVAL;
		return NULL;
	}
	g = calloc(1, sizeof(*g) + n * sizeof(g->m[0]));
	if (!g)
		return NULL;
	g->n = n;
	g->max_dgram = max_dgram;
	atomic_init(&g->refs, 1);
	pthread_mutex_init(&g->lock, NULL);
	for (i = 0; i < n; i++) {
		pthread_mutex_init(&g->m[i].lock, NULL);
		g->m[i].kick_fd = -1;
		for (k = 0; k < 2; k++) {
			g->m[i].set[k].buf = malloc(RPG_QUEUE * max_dgram);
			if (!g->m[i].set[k].buf) {
				g->n = i + 1;
				smt_rpg_put(g);
				errno = ENOMEM;
				return NULL;
			}
		}
	}
	return g;
}

void smt_rpg_get(struct smt_rpg *g)
{
	atomic_fetch_add(&g->refs, 1);
}

void smt_rpg_put(struct smt_rpg *g)
{
	struct rpg_share *s, *next;
	unsigned int i;

	if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	for (i = 0; i < g->n; i++) {
		free(g->m[i].set[0].buf);
		free(g->m[i].set[1].buf);
		pthread_mutex_destroy(&g->m[i].lock);
	}
	for (i = 0; i < RPG_SHARE_BUCKETS; i++) {
		for (s = g->shares[i]; s; s = next) {
			next = s->next;
			free(s);
		}
	}
	pthread_mutex_destroy(&g->lock);
	free(g);
}

unsigned int smt_rpg_size(const struct smt_rpg *g)
{
	return g->n;
}

int smt_rpg_sock_prebind(int fd)
{
	int one = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

/* Offsets the program reads (the SMT header is at 0). */
#define RPG_OFF_DOFF 12
#define RPG_OFF_TYPE 13
#define RPG_OFF_ID_LO 24 /* msg_id (at 20): its low word */
#define RPG_OFF_ACK_ID_LO (SMT_HDR_LEN + 2 + 4) /* ACK: first ID, low */
#define RPG_NO_LANE 0xffffffffu /* past the group: the kernel's hash */

int smt_rpg_sock_attach(const struct smt_rpg *g, int fd)
{
	/*
	 * A = len; if (A < 40) hash; if (byte[12] != 0xA1) hash;
	 * if (byte[13] == ACK) { if (len < 50) hash; A = word[46]; }
	 * else A = word[24];
	 * return (A >> 1) % n;
	 */
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, SMT_HDR_LEN, 0, 13),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, RPG_OFF_DOFF),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SMT_DOFF_VER, 0, 11),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, RPG_OFF_TYPE),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SMT_TYPE_ACK, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JA, 2, 0, 0),
		BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, RPG_OFF_ACK_ID_LO + 4, 2,
			 6),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, RPG_OFF_ID_LO),
		BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, RPG_OFF_ACK_ID_LO),
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 1),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, g->n),
		BPF_STMT(BPF_RET | BPF_A, 0),
		BPF_STMT(BPF_RET | BPF_K, RPG_NO_LANE),
	};
	struct sock_fprog p = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &p,
		       sizeof(p)) < 0)
		return -errno;
	return 0;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

int smt_rpg_lane(const uint8_t *smt, size_t len, unsigned int n)
{
	size_t off = RPG_OFF_ID_LO;

	if (len < SMT_HDR_LEN || smt[RPG_OFF_DOFF] != SMT_DOFF_VER)
		return -1;
	if (smt[RPG_OFF_TYPE] == SMT_TYPE_ACK) {
		if (len < RPG_OFF_ACK_ID_LO + 4)
			return -1;
		off = RPG_OFF_ACK_ID_LO;
	}
	return (int)((get32(smt + off) >> 1) % n);
}

void smt_rpg_join(struct smt_rpg *g, unsigned int lane, int kick_fd)
{
	struct rpg_member *m = &g->m[lane];

	pthread_mutex_lock(&m->lock);
	m->alive = true;
	m->kick_fd = kick_fd;
	pthread_mutex_unlock(&m->lock);
}

void smt_rpg_leave(struct smt_rpg *g, unsigned int lane)
{
	struct rpg_member *m = &g->m[lane];

	pthread_mutex_lock(&m->lock);
	m->alive = false;
	m->kick_fd = -1;
	m->set[0].n = m->set[1].n = 0;
	pthread_mutex_unlock(&m->lock);
}

bool smt_rpg_alive(struct smt_rpg *g, unsigned int lane)
{
	return lane < g->n &&
	       __atomic_load_n(&g->m[lane].alive, __ATOMIC_RELAXED);
}

void smt_rpg_ctl_kick(struct smt_rpg *g, unsigned int lane)
{
	static const uint64_t one = 1;
	struct rpg_member *m = &g->m[lane];
	int fd;

	atomic_store(&m->ctl, true);
	pthread_mutex_lock(&m->lock);
	fd = m->kick_fd;
	pthread_mutex_unlock(&m->lock);
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* counter saturated: readable anyway */
	}
}

bool smt_rpg_ctl_take(struct smt_rpg *g, unsigned int lane)
{
	return atomic_load_explicit(&g->m[lane].ctl, memory_order_relaxed) &&
	       atomic_exchange(&g->m[lane].ctl, false);
}

static unsigned int rpg_owner(struct smt_rpg *g, unsigned int to)
{
	unsigned int i;

	if (__atomic_load_n(&g->m[to].alive, __ATOMIC_RELAXED))
		return to;
	for (i = 0; i < g->n; i++)
		if (__atomic_load_n(&g->m[i].alive, __ATOMIC_RELAXED))
			return i;
	return to;
}

unsigned int smt_rpg_targets(struct smt_rpg *g, const uint8_t *smt, size_t len,
			     unsigned int *out)
{
	int lane = smt_rpg_lane(smt, len, g->n);
	unsigned int k = 0, i, j, to, count;

	if (lane < 0)
		return 0;
	out[k++] = rpg_owner(g, (unsigned int)lane);
	if (smt[RPG_OFF_TYPE] != SMT_TYPE_ACK)
		return k;
	/* the engine drops an ACK whose count disagrees with its length */
	count = (unsigned int)smt[SMT_HDR_LEN] << 8 | smt[SMT_HDR_LEN + 1];
	if (count > SMT_ACK_MAX || len < SMT_ACK_LEN(count))
		return k;
	for (i = 1; i < count; i++) {
		to = rpg_owner(g, (get32(smt + RPG_OFF_ACK_ID_LO + 8 * i) >>
				   1) % g->n);
		for (j = 0; j < k && out[j] != to; j++)
			;
		if (j == k)
			out[k++] = to;
	}
	return k;
}

bool smt_rpg_forward(struct smt_rpg *g, unsigned int to, const uint8_t *smt,
		     size_t len, const struct sockaddr_storage *peer)
{
	struct rpg_member *m = &g->m[to];
	struct rpg_set *s;
	bool kick = false, ok = false;
	int fd = -1;

	if (len > g->max_dgram)
		return false;
	pthread_mutex_lock(&m->lock);
	s = &m->set[m->fill];
	if (m->alive && s->n < RPG_QUEUE) {
		memcpy(s->buf + s->n * g->max_dgram, smt, len);
		s->len[s->n] = (uint32_t)len;
		s->peer[s->n] = *peer;
		kick = s->n++ == 0;
		fd = m->kick_fd;
		ok = true;
	}
	pthread_mutex_unlock(&m->lock);
	if (kick && fd >= 0) {
		static const uint64_t one = 1;

		if (write(fd, &one, sizeof(one)) < 0) {
			/* counter saturated: readable anyway */
		}
	}
	return ok;
}

unsigned int smt_rpg_drain(struct smt_rpg *g, unsigned int lane,
			   smt_rpg_rx_cb cb, void *arg)
{
	struct rpg_member *m = &g->m[lane];
	struct rpg_set *s;
	unsigned int i, n;

	pthread_mutex_lock(&m->lock);
	s = &m->set[m->fill];
	m->fill ^= 1;
	pthread_mutex_unlock(&m->lock);
	/* only this member's thread drains, so nobody fills s now */
	n = s->n;
	for (i = 0; i < n; i++)
		cb(arg, s->buf + i * g->max_dgram, s->len[i], &s->peer[i]);
	s->n = 0;
	return n;
}

static bool peer_equal(const struct sockaddr_storage *a,
		       const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a,
					 *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return x->sin6_port == y->sin6_port &&
	       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
}

static unsigned int peer_bucket(const struct sockaddr_storage *p)
{
	const uint8_t *b = (const uint8_t *)p;
	size_t len = p->ss_family == AF_INET ? sizeof(struct sockaddr_in)
					     : sizeof(struct sockaddr_in6);
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ b[i]) * 16777619u;
	return h % RPG_SHARE_BUCKETS;
}

struct smt_engine_share *smt_rpg_share_get(struct smt_rpg *g,
					   const struct sockaddr_storage *peer)
{
	struct sockaddr_storage key = {.ss_family = peer->ss_family};
	struct rpg_share *s;
	unsigned int b;

	/* only family, address and port count */
	if (peer->ss_family == AF_INET)
		memcpy(&key, peer, sizeof(struct sockaddr_in));
	else
		memcpy(&key, peer, sizeof(struct sockaddr_in6));
	if (key.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&key)->sin6_flowinfo = 0;
	b = peer_bucket(&key);
	pthread_mutex_lock(&g->lock);
	for (s = g->shares[b]; s; s = s->next)
		if (peer_equal(&s->peer, &key))
			break;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (s) {
			s->peer = key;
			s->next = g->shares[b];
			g->shares[b] = s;
		}
	}
	if (s)
		s->refs++;
	pthread_mutex_unlock(&g->lock);
	return s ? &s->sh : NULL;
}

void smt_rpg_share_put(struct smt_rpg *g, struct smt_engine_share *sh)
{
	struct rpg_share *s, **pp;
	unsigned int b;

	if (!sh)
		return;
	s = (struct rpg_share *)((uint8_t *)sh -
				 offsetof(struct rpg_share, sh));
	b = peer_bucket(&s->peer);
	pthread_mutex_lock(&g->lock);
	if (--s->refs == 0) {
		for (pp = &g->shares[b]; *pp; pp = &(*pp)->next) {
			if (*pp == s) {
				*pp = s->next;
				break;
			}
		}
		free(s);
	} else {
		s = NULL;
	}
	pthread_mutex_unlock(&g->lock);
}
