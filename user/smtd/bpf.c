// SPDX-License-Identifier: BSD-2-Clause
/*
 * smtd's BPF hooks ([bpf] in smt.conf): attach the host programs (smt_xdp,
 * smt_tc) on start, keep the pinned `sessions` map in step with the session
 * table so that the XDP session filter passes exactly the sessions smtd set
 * up, and detach on stop. The pinned maps stay across restarts; re-registered
 * sessions are written again. The UDP port ranges on which the programs
 * recognise SMT over UDP (`udp_ports`) are every configured service port
 * plus [bpf] udp_ports (default: libsmt's ephemeral ports), and a session
 * over UDP (ipproto 17) gets a key of its own encapsulation, so that the
 * filter never lets a native packet through for it, nor the reverse. The
 * programs' counters reach `smtctl stats`
 * through smtctl's own BPF provider, not through smtd. Built on
 * user/tools/common/smt_bpf.h; a tree without it gets no-ops.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "smtd.h"

#if __has_include("smt_bpf.h")
#include "smt_bpf.h"
#include <smt/rules.h>
#include <bpf/bpf.h>
#include <time.h>
#include <unistd.h>

struct smtd_bpf {
	char ifname[32];
	int sess_fd; /* the pinned sessions map, open while attached */
	time_t reconcile_at; /* 0 when done */
};

/* Applications reconnect within about 1 s of smtd's start (libsmt's
 * back-off) and register their sessions again; entries nobody registered
 * by then belong to applications that died while smtd was down. */
#define RECONCILE_AFTER_S 4

/* Room for every service port plus a long [bpf] udp_ports list. */
#define UDP_LIST_MAX (SMTD_MAX_SERVICES + 64)

int smtd_bpf_check_udp_ports(const char *list, char *err, size_t errlen)
{
	struct smt_udp_port_range r[UDP_LIST_MAX - SMTD_MAX_SERVICES];
	unsigned int n = 0;
	int e = smt_bpf_udp_ports_parse(list, r,
					UDP_LIST_MAX - SMTD_MAX_SERVICES, &n);

	if (e)
		snprintf(err, errlen,
			 "'%s' is not a list of ports and ranges like "
			 "7000-7999,49152-65535 (or none)%s",
			 list, e == -E2BIG ? ": too many" : "");
	return e ? -EINVAL : 0;
}

/* The services' ports and [bpf] udp_ports, fitted into the map. */
static void udp_ranges(const struct smtd_config *c,
		       struct smt_udp_port_range *r, unsigned int *n)
{
	unsigned int i, added;
	char buf[SMT_UDP_PORT_RANGES * 12 + 8];

	*n = 0;
	for (i = 0; i < (unsigned int)c->nservices; i++) {
		if (!c->services[i].port)
			continue;
		r[*n].lo = c->services[i].port;
		r[*n].hi = c->services[i].port;
		(*n)++;
	}
	/* Checked when the configuration was loaded. */
	smt_bpf_udp_ports_parse(c->bpf_udp_ports, r, UDP_LIST_MAX, n);
	added = smt_bpf_udp_ports_fit(r, n);
	smt_bpf_udp_ports_format(r, *n, buf, sizeof(buf));
	if (added)
		LOG_W("BPF: more than %d UDP port ranges; joined the closest, "
		      "so %u ports more are taken for SMT over UDP: %s",
		      SMT_UDP_PORT_RANGES, added, buf);
	else
		LOG_I("BPF: SMT over UDP recognised on UDP ports %s", buf);
}

int smtd_bpf_start(struct smtd *d)
{
	struct smt_udp_port_range ranges[UDP_LIST_MAX];
	struct smt_bpf_host_opts o = {0};
	char msg[SMT_BPF_MSG_LEN] = "";
	struct smtd_bpf *b;
	int err;

	if (!d->cfg.bpf_iface[0])
		return 0;
	udp_ranges(&d->cfg, ranges, &o.n_udp_ports);
	o.udp_ports = ranges;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	snprintf(b->ifname, sizeof(b->ifname), "%s", d->cfg.bpf_iface);
	o.ifname = b->ifname;
	o.mode = !strcmp(d->cfg.bpf_xdp_mode, "native")	   ? SMT_BPF_XDP_NATIVE
		 : !strcmp(d->cfg.bpf_xdp_mode, "generic") ? SMT_BPF_XDP_GENERIC
							   : SMT_BPF_XDP_AUTO;
	o.ipproto = d->cfg.ipproto;
	o.no_filter = !d->cfg.bpf_session_filter;
	/* a 0-RTT request that outruns the session's map entry passes on
	 * to the application's hold (docs/protocol.md 8.10) */
	o.hs_port = d->cfg.listen_port;
	err = smt_bpf_mount();
	if (!err)
		err = smt_bpf_host_attach(&o, msg, sizeof(msg));
	if (err) {
		LOG_E("cannot attach the SMT BPF programs to %s: %s%s%s; "
		      "running without them (fix [bpf] in %s)",
		      b->ifname, strerror(-err), *msg ? ": " : "", msg,
		      d->cfg.path);
		free(b);
		return err;
	}
	b->sess_fd = smt_bpf_map_fd(SMT_MAP_SESSIONS);
	if (b->sess_fd < 0) {
		LOG_E("BPF: cannot open the sessions map: %s; running without "
		      "the programs",
		      strerror(-b->sess_fd));
		smt_bpf_detach(b->ifname);
		free(b);
		return -EIO;
	}
	b->reconcile_at = time(NULL) + RECONCILE_AFTER_S;
	if (*msg)
		LOG_W("%s", msg);
	LOG_I("BPF: smt_xdp and smt_tc attached to %s (%s mode), session "
	      "filter %s",
	      b->ifname, d->cfg.bpf_xdp_mode,
	      d->cfg.bpf_session_filter ? "on" : "off");
	d->bpf = b;
	return 0;
}

void smtd_bpf_stop(struct smtd *d)
{
	struct smtd_bpf *b = d->bpf;

	if (!b)
		return;
	smt_bpf_detach(b->ifname);
	LOG_I("BPF: programs detached from %s; pinned maps kept", b->ifname);
	close(b->sess_fd);
	free(b);
	d->bpf = NULL;
}

static void session_key(const struct smt_ctl_session *s,
			struct smt_session_key *k)
{
	memset(k, 0, sizeof(*k));
	if (s->peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&s->peer;

		memcpy(k->addr, &a->sin6_addr, 16);
		k->family = SMT_FAM_IPV6;
	} else {
		const struct sockaddr_in *a = (const void *)&s->peer;

		memcpy(k->addr, &a->sin_addr, 4);
		k->family = SMT_FAM_IPV4;
	}
	k->encap = s->ipproto == SMT_IPPROTO_UDP ? SMT_KEY_ENCAP_UDP
						 : SMT_KEY_ENCAP_IP;
	k->peer_port = htons(smt_ctl_port(&s->peer));
	k->local_port = htons(smt_ctl_port(&s->local));
}

int smtd_bpf_session(struct smtd *d, const struct smt_ctl_session *s, bool add,
		     int prev_epoch)
{
	struct smtd_bpf *b = d->bpf;
	struct smt_session_key k;
	struct smt_session_val v = {0};
	uint64_t recs = ((uint64_t)s->max_msg + 8 + 4095) / 4096;
	int err;

	if (!b)
		return 0;
	session_key(s, &k);
	if (!add) {
		err = bpf_map_delete_elem(b->sess_fd, &k) ? -errno : 0;
		return err == -ENOENT ? 0 : err;
	}
	v.sess_id = s->sid;
	/* max_wire of protocol.md section 7 */
	v.max_wire = s->max_msg + 8 + 22 * recs + s->max_pad * recs;
	v.b = s->B;
	v.flags = SMT_SESS_F_EPOCHS;
	smt_epoch_set(v.epochs, s->epoch);
	if (prev_epoch >= 0 && prev_epoch < 256)
		smt_epoch_set(v.epochs, prev_epoch);
	err = bpf_map_update_elem(b->sess_fd, &k, &v, BPF_ANY) ? -errno : 0;
	if (err)
		LOG_W("session %u: cannot add it to the BPF sessions map: %s%s",
		      s->sid, strerror(-err),
		      err == -E2BIG ? " (the map is full)" : "");
	return err;
}

bool smtd_bpf_same_key(const struct smt_ctl_session *a,
		       const struct smt_ctl_session *b)
{
	struct smt_session_key x, y;

	session_key(a, &x);
	session_key(b, &y);
	return !memcmp(&x, &y, sizeof(x));
}

/* Is k the key of a session in the table? */
static bool key_live(struct smtd *d, const struct smt_session_key *k)
{
	struct smt_session_key x;
	struct smtd_session *s;

	for (s = d->sessions; s; s = s->next) {
		session_key(&s->s, &x);
		if (!memcmp(&x, k, sizeof(x)))
			return true;
	}
	return false;
}

void smtd_bpf_tick(struct smtd *d)
{
	struct smtd_bpf *b = d->bpf;
	struct smt_session_key *keys, *prev = NULL;
	unsigned int n = 0, i, removed = 0;

	if (!b || !b->reconcile_at || time(NULL) < b->reconcile_at)
		return;
	b->reconcile_at = 0;
	keys = calloc(SMT_MAX_SESSIONS, sizeof(*keys));
	if (!keys)
		return;
	/* all keys first: deleting while walking restarts the walk */
	while (n < SMT_MAX_SESSIONS &&
	       !bpf_map_get_next_key(b->sess_fd, prev, &keys[n])) {
		prev = &keys[n];
		n++;
	}
	for (i = 0; i < n; i++)
		if (!key_live(d, &keys[i]) &&
		    !bpf_map_delete_elem(b->sess_fd, &keys[i]))
			removed++;
	free(keys);
	d->st.bpf_reconciled += removed;
	LOG_I("BPF: sessions map reconciled with the table: %u entries of "
	      "sessions no application registered again removed, %u kept",
	      removed, n - removed);
}

void smtd_bpf_stats(struct smtd *d, json_object *stats)
{
	struct smtd_bpf *b = d->bpf;

	json_object_object_add(stats, "bpf_attached",
			       b ? json_object_new_string(b->ifname)
				 : json_object_new_boolean(false));
}

int smtd_bpf_counters(struct smtd *d, uint64_t *drops, uint64_t *xdp)
{
	int e;

	if (!d->bpf)
		return -ENODEV;
	e = smt_bpf_read_counters(SMT_MAP_DROPS, drops, SMT_DROP_MAX, NULL,
				  NULL);
	return e ? e
		 : smt_bpf_read_counters(SMT_MAP_XDP_STATS, xdp, SMT_XS_MAX,
					 NULL, NULL);
}

int smtd_bpf_sess_counters(struct smtd *d, const struct smt_ctl_session *s,
			   struct smt_sess_stats *rx, struct smt_sess_stats *tx)
{
	struct smt_session_key k;
	int e;

	if (!d->bpf)
		return -ENODEV;
	session_key(s, &k);
	/* no entry yet: no packet seen, zeros */
	e = smt_bpf_sess_stats_get(SMT_MAP_SESS_STATS, &k, rx);
	if (e && e != -ENOENT)
		return e;
	e = smt_bpf_sess_stats_get(SMT_MAP_TX_STATS, &k, tx);
	return e == -ENOENT ? 0 : e;
}

#else /* no smt_bpf.h in this tree */

int smtd_bpf_counters(struct smtd *d, uint64_t *drops, uint64_t *xdp)
{
	return -ENODEV;
}

int smtd_bpf_sess_counters(struct smtd *d, const struct smt_ctl_session *s,
			   struct smt_sess_stats *rx, struct smt_sess_stats *tx)
{
	return -ENODEV;
}

int smtd_bpf_start(struct smtd *d)
{
	if (d->cfg.bpf_iface[0])
		LOG_W("[bpf] interface = %s: this smtd was built without BPF "
		      "support; running without it",
		      d->cfg.bpf_iface);
	return 0;
}

void smtd_bpf_stop(struct smtd *d)
{
}

int smtd_bpf_session(struct smtd *d, const struct smt_ctl_session *s, bool add,
		     int prev_epoch)
{
	return 0;
}

bool smtd_bpf_same_key(const struct smt_ctl_session *a,
		       const struct smt_ctl_session *b)
{
	return false;
}

void smtd_bpf_tick(struct smtd *d)
{
}

void smtd_bpf_stats(struct smtd *d, json_object *stats)
{
}

int smtd_bpf_check_udp_ports(const char *list, char *err, size_t errlen)
{
	return 0; /* nothing uses it without BPF support */
}

#endif
