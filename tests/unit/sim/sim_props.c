// SPDX-License-Identifier: BSD-2-Clause
/*
 * Properties the simulator checks on the wire as it runs (sim.c calls
 * these), besides delivery:
 *   - the grant window, per message: a GRANT that host g sends for
 *     message msg_id of peer s never offers more than the engine's
 *     grant_window beyond the bytes of that message g has been handed
 *     (the highest DATA end delivered to g; docs/engine.md: the grant is
 *     bytes received + window, never granted offset + window);
 *   - caps on packets sent and on the process's resident memory, so that
 *     a run-away scenario fails with a reason instead of exhausting the
 *     machine (a broken control check once drove a run past 2.6 GB).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <smt/wire.h>

#include "sim_props.h"

struct gw_ent {
	uint64_t msg_id; /* 0: free slot (DATA never has msg_id 0) */
	uint32_t end; /* highest DATA end delivered */
	uint8_t granter, sender, used;
};

struct sim_props {
	struct gw_ent *t;
	size_t cap, n; /* cap: a power of two */
};

struct sim_props *sim_props_new(void)
{
	struct sim_props *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cap = 1024;
	p->t = calloc(p->cap, sizeof(*p->t));
	if (!p->t) {
		free(p);
		return NULL;
	}
	return p;
}

void sim_props_free(struct sim_props *p)
{
	if (!p)
		return;
	free(p->t);
	free(p);
}

static size_t gw_hash(uint64_t id, int g, int s, size_t cap)
{
	uint64_t x = id * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(g * 8 + s);

	return (size_t)(x ^ x >> 29) & (cap - 1);
}

static struct gw_ent *gw_find(struct sim_props *p, uint64_t id, int g, int s,
			      int add)
{
	size_t i = gw_hash(id, g, s, p->cap);

	for (;; i = (i + 1) & (p->cap - 1)) {
		struct gw_ent *e = &p->t[i];

		if (e->used && e->msg_id == id && e->granter == g &&
		    e->sender == s)
			return e;
		if (!e->used)
			break;
	}
	if (!add)
		return NULL;
	if (2 * (p->n + 1) > p->cap) { /* grow: keep the load under 1/2 */
		struct gw_ent *old = p->t;
		size_t oc = p->cap, j;

		p->t = calloc(2 * oc, sizeof(*p->t));
		if (!p->t) {
			p->t = old;
			return NULL;
		}
		p->cap = 2 * oc;
		p->n = 0;
		for (j = 0; j < oc; j++)
			if (old[j].used)
				*gw_find(p, old[j].msg_id, old[j].granter,
					 old[j].sender, 1) = old[j];
		free(old);
		return gw_find(p, id, g, s, 1);
	}
	p->t[i] = (struct gw_ent){
		.msg_id = id, .granter = (uint8_t)g, .sender = (uint8_t)s};
	p->t[i].used = 1;
	p->n++;
	return &p->t[i];
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
}

static uint64_t be64(const uint8_t *b)
{
	return (uint64_t)be32(b) << 32 | be32(b + 4);
}

void sim_props_data_in(struct sim_props *p, int src, int dst,
		       const uint8_t *pkt, size_t len)
{
	const struct smt_hdr *h = (const struct smt_hdr *)pkt;
	struct gw_ent *e;
	uint64_t end;

	if (!p || len <= SMT_HDR_LEN || h->type != SMT_TYPE_DATA)
		return;
	/* IPID_OFF is never set by libsmt: pkt_off is the real offset. */
	end = (uint64_t)be32(pkt + 4) + (len - SMT_HDR_LEN);
	e = gw_find(p, be64(pkt + 20), dst, src, 1);
	if (e && end > e->end)
		e->end = end > UINT32_MAX ? UINT32_MAX : (uint32_t)end;
}

int sim_props_ctl_out(struct sim_props *p, int src, int dst, const uint8_t *pkt,
		      size_t len, uint32_t window, char *err, size_t errlen)
{
	const struct smt_hdr *h = (const struct smt_hdr *)pkt;
	struct gw_ent *e;
	uint64_t id;
	uint32_t off, have;

	if (!p || len != SMT_GRANT_LEN || h->type != SMT_TYPE_GRANT)
		return 0;
	id = be64(pkt + 20);
	off = be32(pkt + SMT_HDR_LEN);
	e = gw_find(p, id, src, dst, 0);
	have = e ? e->end : 0;
	if ((uint64_t)off <= (uint64_t)have + window)
		return 0;
	snprintf(err, errlen,
		 "grant window: host %d granted msg_id %" PRIu64
		 " of host %d up to %u with %u bytes delivered (window %u)",
		 src, id, dst, off, have, window);
	return -1;
}

/* Resident set of this process in bytes, 0 if unknown. */
static uint64_t rss_bytes(void)
{
	unsigned long long size, res;
	FILE *f = fopen("/proc/self/statm", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%llu %llu", &size, &res);
	fclose(f);
	return n == 2 ? res * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

int sim_props_caps(uint64_t steps, uint64_t pkts, uint64_t max_pkts,
		   uint64_t max_rss, char *err, size_t errlen)
{
	uint64_t rss;

	if (pkts > max_pkts) {
		snprintf(err, errlen,
			 "packet cap: %" PRIu64 " packets sent (cap %" PRIu64
			 ")",
			 pkts, max_pkts);
		return -1;
	}
	if (steps % 4096)
		return 0;
	rss = rss_bytes();
	if (rss > max_rss) {
		snprintf(err, errlen,
			 "memory cap: resident %" PRIu64 " MiB (cap %" PRIu64
			 " MiB)",
			 rss >> 20, max_rss >> 20);
		return -1;
	}
	return 0;
}
