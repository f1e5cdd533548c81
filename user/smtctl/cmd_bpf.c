// SPDX-License-Identifier: BSD-2-Clause
/*
 * smtctl objects read straight from the BPF programs and their maps, without
 * smtd: `prog` (show|attach|detach|udp-ports), `flow` (list|watch|stats),
 * `mtp` (attach|detach|config|udp-ports|stats|watch), and the "bpf" section of
 * `smtctl stats` (drop reasons by name and the XDP counters). Maps are found
 * by their pins under /sys/fs/bpf/smt/maps, or by name among loaded maps
 * when a program was loaded by ip or tc.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "smt_bpf.h"
#include "smtctl.h"
#include "util.h"

static volatile bool watch_stop;

static void on_signal(int sig)
{
	(void)sig;
	watch_stop = true;
}

static json_object *jstr(const char *s)
{
	return json_object_new_string(s);
}

static json_object *ju64(uint64_t v)
{
	return json_object_new_uint64(v);
}

static void jadd(json_object *o, const char *k, json_object *v)
{
	json_object_object_add(o, k, v);
}

static const char *fmt_addr(const uint8_t *a, uint8_t family, char *buf,
			    size_t len)
{
	if (!inet_ntop(family == SMT_FAM_IPV6 ? AF_INET6 : AF_INET, a, buf,
		       len))
		snprintf(buf, len, "?");
	return buf;
}

static int parse_u32(struct smtctl_ctx *ctx, const char *what, const char *s,
		     uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || !*s || v > UINT32_MAX)
		return smtctl_err(ctx, "%s: '%s' is not a number in 0..%u",
				  what, s, UINT32_MAX);
	*out = v;
	return 0;
}

/* A byte count with the tree's K/M/G suffixes (util_parse_size). */
static int parse_size32(struct smtctl_ctx *ctx, const char *what, const char *s,
			uint32_t *out)
{
	char err[UTIL_ERR_LEN];
	uint64_t v;

	if (util_parse_size(s, UINT32_MAX, &v, err, sizeof(err)))
		return smtctl_err(ctx, "%s: %s", what, err);
	*out = v;
	return 0;
}

static int parse_mode(struct smtctl_ctx *ctx, const char *s,
		      enum smt_bpf_xdp_mode *m)
{
	if (!s || smtctl_is_prefix(s, "auto"))
		*m = SMT_BPF_XDP_AUTO;
	else if (smtctl_is_prefix(s, "native") || !strcmp(s, "xdpdrv"))
		*m = SMT_BPF_XDP_NATIVE;
	else if (smtctl_is_prefix(s, "generic") || !strcmp(s, "skb") ||
		 !strcmp(s, "xdpgeneric"))
		*m = SMT_BPF_XDP_GENERIC;
	else
		return smtctl_err(
			ctx, "mode must be auto, native or generic, not '%s'",
			s);
	return 0;
}

/*
 * The UDP port ranges of SMT over UDP from a list (protocol.md 1.1), fitted
 * into the map's entries; says so on stderr when that had to widen them.
 */
static int parse_udp_ports(struct smtctl_ctx *ctx, const char *s,
			   struct smt_udp_port_range *r, unsigned int *n)
{
	struct smt_udp_port_range all[256];
	unsigned int added;
	int err;

	*n = 0;
	err = smt_bpf_udp_ports_parse(s, all, 256, n);
	if (err)
		return smtctl_err(
			ctx,
			"udp-ports: '%s' is not a list of ports and ranges like 7000-7999,49152-65535 (or none)%s",
			s, err == -E2BIG ? ": too many" : "");
	added = smt_bpf_udp_ports_fit(all, n);
	if (added)
		fprintf(stderr,
			"Note: more than %d ranges; joined the closest, which adds %u ports\n",
			SMT_UDP_PORT_RANGES, added);
	memcpy(r, all, *n * sizeof(*r));
	return 0;
}

/* udp-ports [LIST|none] on map: show the ranges, or replace them. */
static int udp_ports_cmd(struct smtctl_ctx *ctx, int argc, char **argv,
			 const char *map, const char *attach_hint)
{
	struct smt_udp_port_range r[SMT_UDP_PORT_RANGES];
	unsigned int n = 0;
	char buf[SMT_UDP_PORT_RANGES * 12 + 8];
	int err;

	if (argc > 1)
		return smtctl_err(ctx, "udp-ports: usage: [LIST|none]");
	if (argc && parse_udp_ports(ctx, argv[0], r, &n))
		return 1;
	err = argc ? smt_bpf_udp_ports_set(map, r, n)
		   : smt_bpf_udp_ports_get(map, r, &n);
	if (err)
		return smtctl_err(ctx, "cannot %s map %s: %s; %s",
				  argc ? "write" : "read", map, strerror(-err),
				  attach_hint);
	smt_bpf_udp_ports_format(r, n, buf, sizeof(buf));
	if (ctx->json) {
		json_object *o = json_object_new_object();

		jadd(o, "udp_ports", jstr(buf));
		smtctl_emit(ctx, o, NULL);
	} else {
		printf("%s\n", buf);
	}
	return 0;
}

/* ---- prog --------------------------------------------------------------- */

static int do_prog_show(struct smtctl_ctx *ctx, int argc, char **argv)
{
	static const char *const cols[] = {"dev", "ifindex", "attach",
					   "id",  "name",    NULL};
	struct smt_bpf_attached a[64];
	json_object *arr;
	int n, i;

	if (argc)
		return smtctl_err(ctx, "prog show takes no arguments");
	n = smt_bpf_list_attached(a, 64);
	if (n < 0)
		return smtctl_err(ctx, "cannot list interfaces: %s",
				  strerror(-n));
	arr = json_object_new_array();
	for (i = 0; i < n && i < 64; i++) {
		json_object *o = json_object_new_object();

		jadd(o, "dev", jstr(a[i].ifname));
		jadd(o, "ifindex", json_object_new_int(a[i].ifindex));
		jadd(o, "attach", jstr(a[i].kind));
		jadd(o, "id", ju64(a[i].prog_id));
		jadd(o, "name", jstr(a[i].prog_name));
		json_object_array_add(arr, o);
	}
	if (ctx->json) {
		smtctl_emit(ctx, arr, NULL);
	} else {
		if (!n)
			printf("no SMT programs attached\n");
		else
			smtctl_text_table(stdout, arr, cols);
		json_object_put(arr);
	}
	return 0;
}

static int do_prog_attach(struct smtctl_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = {"dev",   "mode",	  "filter",
					    "steer", "cpus",	  "proto",
					    "tc",    "udp-ports", NULL};
	const char *v[9] = {0};
	struct smt_udp_port_range ur[SMT_UDP_PORT_RANGES];
	struct smt_bpf_host_opts o = {0};
	char msg[SMT_BPF_MSG_LEN];
	uint32_t n;
	int err;

	if (smtctl_parse_kv(ctx, argc, argv, names, v))
		return 1;
	if (!v[0])
		return smtctl_err(
			ctx,
			"prog attach: usage: dev IF [mode auto|native|generic] [filter on|off] [steer pass|cpumap|xsk] [cpus N] [proto N] [tc on|off] [udp-ports LIST]");
	o.ifname = v[0];
	if (parse_mode(ctx, v[1], &o.mode))
		return 1;
	o.no_filter = v[2] && !strcmp(v[2], "off");
	if (!v[3] || smtctl_is_prefix(v[3], "pass"))
		o.steer = SMT_STEER_PASS;
	else if (smtctl_is_prefix(v[3], "cpumap"))
		o.steer = SMT_STEER_CPUMAP;
	else if (smtctl_is_prefix(v[3], "xsk"))
		o.steer = SMT_STEER_XSK;
	else
		return smtctl_err(ctx, "steer must be pass, cpumap or xsk");
	if (v[4]) {
		if (parse_u32(ctx, "cpus", v[4], &n))
			return 1;
		o.n_cpus = n;
	}
	if (v[5]) {
		if (parse_u32(ctx, "proto", v[5], &n) || n > 255 || !n)
			return smtctl_err(ctx, "proto must be 1..255");
		o.ipproto = n;
	}
	o.no_tc = v[6] && !strcmp(v[6], "off");
	if (v[7]) {
		if (parse_udp_ports(ctx, v[7], ur, &o.n_udp_ports))
			return 1;
		o.udp_ports = ur;
	}
	err = smt_bpf_host_attach(&o, msg, sizeof(msg));
	if (msg[0])
		fprintf(stderr, "Note: %s\n", msg);
	if (err)
		return smtctl_err(
			ctx, "cannot attach SMT programs to %s: %s%s", o.ifname,
			strerror(-err),
			o.mode == SMT_BPF_XDP_NATIVE ? "; try mode generic"
			: err == -EINVAL
				? "; if maps pinned by an older build differ, remove them (scripts/smt-bpf.sh purge)"
				: "");
	if (ctx->json) {
		json_object *r = json_object_new_object();

		jadd(r, "attached", jstr(o.ifname));
		jadd(r, "note", jstr(msg));
		smtctl_emit(ctx, r, NULL);
	}
	return 0;
}

static int do_prog_detach(struct smtctl_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = {"dev", NULL};
	const char *v[2] = {0};
	int err;

	if (smtctl_parse_kv(ctx, argc, argv, names, v))
		return 1;
	if (!v[0])
		return smtctl_err(ctx, "prog detach: usage: dev IF");
	err = smt_bpf_detach(v[0]);
	if (err)
		return smtctl_err(ctx, "cannot detach SMT programs from %s: %s",
				  v[0], strerror(-err));
	return 0;
}

static int do_prog_udp_ports(struct smtctl_ctx *ctx, int argc, char **argv)
{
	return udp_ports_cmd(
		ctx, argc, argv, SMT_MAP_UDP_PORTS,
		"attach the programs first (smtctl prog attach dev IF)");
}

static const struct smtctl_cmd prog_cmds[] = {
	{"show", do_prog_show, "", "SMT programs attached to interfaces"},
	{"attach", do_prog_attach,
	 "dev IF [mode auto|native|generic] [filter on|off] [steer pass|cpumap|xsk] [cpus N] [proto N] [tc on|off] [udp-ports LIST]",
	 "load smt_xdp (+ smt_tc egress) with pinned maps and attach"},
	{"detach", do_prog_detach, "dev IF",
	 "detach SMT XDP and TC programs (pinned maps stay)"},
	{"udp-ports", do_prog_udp_ports, "[LIST|none]",
	 "UDP port ranges carrying SMT over UDP (udp_ports): show or set"},
	{0}};
SMTCTL_OBJECT_DFLT(prog, "BPF programs of smt on this host", prog_cmds,
		   do_prog_show);

/* ---- events ------------------------------------------------------------- */

static const char *ev_kind(uint8_t k)
{
	switch (k) {
	case SMT_EV_COMPLETE:
		return "complete";
	case SMT_EV_EVICTED:
		return "evicted";
	case SMT_EV_MB_DONE:
		return "message";
	}
	return "unknown";
}

static const char *mb_verdict(uint8_t v)
{
	switch (v) {
	case SMT_MB_FORWARD:
		return "forward";
	case SMT_MB_DROP_SIZE:
		return "drop_size";
	case SMT_MB_DROP_RATE:
		return "drop_rate";
	}
	return "unknown";
}

static const char *encap_name(uint8_t e)
{
	return e == SMT_KEY_ENCAP_UDP  ? "udp"
	       : e == SMT_KEY_ENCAP_IP ? "ip"
				       : "?";
}

static json_object *event_json(const struct smt_msg_event *ev)
{
	json_object *o = json_object_new_object();
	char a[INET6_ADDRSTRLEN];

	jadd(o, "event", jstr(ev_kind(ev->kind)));
	jadd(o, "msg_id", ju64(ev->msg_id));
	jadd(o, "epoch", json_object_new_int(ev->epoch));
	jadd(o, "encap", jstr(encap_name(ev->encap)));
	if (ev->kind == SMT_EV_MB_DONE) {
		jadd(o, "src",
		     jstr(fmt_addr(ev->saddr, ev->family, a, sizeof(a))));
		jadd(o, "sport", json_object_new_int(ntohs(ev->sport)));
		jadd(o, "dst",
		     jstr(fmt_addr(ev->daddr, ev->family, a, sizeof(a))));
		jadd(o, "dport", json_object_new_int(ntohs(ev->dport)));
	} else {
		jadd(o, "session", ju64(ev->sess_id));
		jadd(o, "peer",
		     jstr(fmt_addr(ev->saddr, ev->family, a, sizeof(a))));
		jadd(o, "peer_port", json_object_new_int(ntohs(ev->sport)));
		jadd(o, "local_port", json_object_new_int(ntohs(ev->dport)));
	}
	jadd(o, "msg_len", ju64(ev->msg_len));
	jadd(o, "bytes", ju64(ev->bytes));
	jadd(o, "packets", ju64(ev->packets));
	jadd(o, "records", ju64(ev->records));
	jadd(o, "duration_us", ju64((ev->last_ns - ev->first_ns) / 1000));
	if (ev->kind == SMT_EV_MB_DONE) {
		jadd(o, "verdict", jstr(mb_verdict(ev->verdict)));
		jadd(o, "drops", ju64(ev->drops));
		jadd(o, "path", json_object_new_int(ev->path));
	} else {
		jadd(o, "steer", json_object_new_int(ev->path));
	}
	jadd(o, "cpu", ju64(ev->cpu));
	return o;
}

/* One line per event: "key=value ..." in field order. */
static void event_line(FILE *f, json_object *o)
{
	const char *sep = "";

	json_object_object_foreach(o, k, v)
	{
		fprintf(f, "%s%s=%s", sep, k, json_object_get_string(v));
		sep = " ";
	}
	fputc('\n', f);
	fflush(f);
}

struct watch_state {
	struct smtctl_ctx *ctx;
	uint32_t count, seen;
};

static int emit_event(const struct smt_msg_event *ev, void *p)
{
	struct watch_state *w = p;

	/* One poll may hand over several events: print no more than asked. */
	if (w->count && w->seen >= w->count)
		return 0;
	smtctl_emit(w->ctx, event_json(ev), event_line);
	fflush(stdout);
	w->seen++;
	if (w->count && w->seen >= w->count)
		watch_stop = true;
	return 0;
}

/*
 * watch [count N] [timeout SECS] [evict MS]: ring-buffer events until N
 * events, the timeout or Ctrl-C. With evict (host only), incomplete
 * messages idle for MS are swept from `messages` and shown as evicted.
 */
static int watch(struct smtctl_ctx *ctx, int argc, char **argv, const char *map,
		 bool host)
{
	static const char *const names[] = {"count", "timeout", "evict", NULL};
	const char *v[4] = {0};
	struct watch_state w = {.ctx = ctx};
	uint32_t timeout = 0, evict = 0;
	struct timespec t0, t;
	int err;

	if (smtctl_parse_kv(ctx, argc, argv, names, v))
		return 1;
	if ((v[0] && parse_u32(ctx, "count", v[0], &w.count)) ||
	    (v[1] && parse_u32(ctx, "timeout", v[1], &timeout)) ||
	    (v[2] && parse_u32(ctx, "evict", v[2], &evict)))
		return 1;
	if (evict && !host)
		return smtctl_err(ctx, "evict applies to flow watch only");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	watch_stop = false;
	while (!watch_stop) {
		/* Poll in slices so that the sweep and timeout run. */
		err = smt_bpf_watch(map, emit_event, &w, 200, &watch_stop);
		if (err)
			return smtctl_err(
				ctx, "cannot read events from map %s: %s (%s)",
				map, strerror(-err),
				host ? "no smt_xdp on this host: smtd attaches "
				       "it only when smt.conf's [bpf] sets "
				       "interface=IF; or run smtctl prog "
				       "attach dev IF"
				     : "no mtp_inspect here: attach it with "
				       "scripts/smt-bpf.sh (see smtctl(8), "
				       "mtp)");
		if (evict)
			smt_bpf_sweep_messages((uint64_t)evict * 1000000ull,
					       emit_event, &w);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (timeout && t.tv_sec - t0.tv_sec >= (time_t)timeout)
			break;
	}
	return 0;
}

/* ---- flow --------------------------------------------------------------- */

struct list_ctx {
	json_object *arr;
	const char *dir;
};

static int sess_to_json(const struct smt_session_key *k,
			const struct smt_sess_stats *s, void *p)
{
	struct list_ctx *l = p;
	json_object *o = json_object_new_object();
	char a[INET6_ADDRSTRLEN];

	jadd(o, "dir", jstr(l->dir));
	jadd(o, "encap", jstr(encap_name(k->encap)));
	jadd(o, "peer", jstr(fmt_addr(k->addr, k->family, a, sizeof(a))));
	jadd(o, "peer_port", json_object_new_int(ntohs(k->peer_port)));
	jadd(o, "local_port", json_object_new_int(ntohs(k->local_port)));
	jadd(o, "packets", ju64(s->packets));
	jadd(o, "bytes", ju64(s->bytes));
	jadd(o, "control", ju64(s->ctl_packets));
	jadd(o, "msgs_started", ju64(s->msgs_started));
	jadd(o, "msgs_completed", ju64(s->msgs_completed));
	jadd(o, "drops", ju64(s->drops));
	jadd(o, "dups", ju64(s->dup_packets));
	json_object_array_add(l->arr, o);
	return 0;
}

static int msg_to_json(const struct smt_msg_key *k,
		       const struct smt_msg_state *m, void *p)
{
	struct list_ctx *l = p;
	json_object *o;
	char a[INET6_ADDRSTRLEN];

	if (m->state == SMT_MSG_DONE)
		return 0; /* in flight only */
	o = json_object_new_object();
	jadd(o, "dir", jstr(l->dir));
	jadd(o, "encap", jstr(encap_name(k->sess.encap)));
	jadd(o, "peer",
	     jstr(fmt_addr(k->sess.addr, k->sess.family, a, sizeof(a))));
	jadd(o, "peer_port", json_object_new_int(ntohs(k->sess.peer_port)));
	jadd(o, "local_port", json_object_new_int(ntohs(k->sess.local_port)));
	jadd(o, "msg_id", ju64(k->msg_id));
	jadd(o, "epoch", json_object_new_int(k->epoch));
	jadd(o, "msg_len", ju64(m->msg_len));
	jadd(o, "bytes", ju64(m->bytes));
	jadd(o, "packets", ju64(m->packets));
	jadd(o, "records", ju64(m->records));
	json_object_array_add(l->arr, o);
	return 0;
}

static int do_flow_list(struct smtctl_ctx *ctx, int argc, char **argv)
{
	static const char *const scols[] = {
		"dir",		"encap",	  "peer",  "peer_port",
		"local_port",	"packets",	  "bytes", "control",
		"msgs_started", "msgs_completed", "drops", NULL};
	static const char *const mcols[] = {
		"dir",	   "encap", "peer",    "peer_port", "msg_id", "epoch",
		"msg_len", "bytes", "packets", "records",   NULL};
	struct list_ctx ls = {json_object_new_array(), "rx"};
	struct list_ctx lm = {json_object_new_array(), "rx"};
	json_object *r;
	int e1, e2;

	if (argc) {
		json_object_put(ls.arr);
		json_object_put(lm.arr);
		return smtctl_err(ctx, "flow list takes no arguments");
	}
	e1 = smt_bpf_walk_sess_stats(SMT_MAP_SESS_STATS, sess_to_json, &ls);
	smt_bpf_walk_messages(SMT_MAP_MESSAGES, msg_to_json, &lm);
	ls.dir = lm.dir = "tx";
	e2 = smt_bpf_walk_sess_stats(SMT_MAP_TX_STATS, sess_to_json, &ls);
	smt_bpf_walk_messages(SMT_MAP_TX_MESSAGES, msg_to_json, &lm);
	if (e1 && e2) {
		json_object_put(ls.arr);
		json_object_put(lm.arr);
		return smtctl_err(
			ctx,
			"no SMT flow maps found (%s); attach the programs first (smtctl prog attach dev IF)",
			strerror(-e1));
	}
	if (!ctx->json) {
		printf("sessions:\n");
		smtctl_text_table(stdout, ls.arr, scols);
		printf("messages in flight:\n");
		smtctl_text_table(stdout, lm.arr, mcols);
		json_object_put(ls.arr);
		json_object_put(lm.arr);
		return 0;
	}
	r = json_object_new_object();
	jadd(r, "sessions", ls.arr);
	jadd(r, "messages", lm.arr);
	smtctl_emit(ctx, r, NULL);
	return 0;
}

static int do_flow_watch(struct smtctl_ctx *ctx, int argc, char **argv)
{
	return watch(ctx, argc, argv, SMT_MAP_EVENTS, true);
}

/* Counters of a per-CPU array by name into o; zeros left out. */
static int add_counters(json_object *o, const char *map, unsigned int n,
			const char *(*name)(unsigned int), bool per_cpu)
{
	uint64_t v[64], pc[64 * 256];
	unsigned int i, ncpu = 0, c;
	int err;

	if (n > 64)
		n = 64;
	err = smt_bpf_read_counters(map, v, n, per_cpu ? pc : NULL, &ncpu);
	if (err)
		return err;
	if (per_cpu && ncpu > 256)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		if (!v[i])
			continue;
		if (per_cpu) {
			json_object *arr = json_object_new_array();

			for (c = 0; c < ncpu; c++)
				json_object_array_add(arr,
						      ju64(pc[i * ncpu + c]));
			json_object_object_add(o, name(i), arr);
		} else {
			json_object_object_add(o, name(i), ju64(v[i]));
		}
	}
	return 0;
}

static const char *drop_name(unsigned int i)
{
	return smt_drop_name(i);
}

/* The "bpf" section of `smtctl stats`: drops by reason, XDP counters. */
static int smtctl_bpf_stats(struct smtctl_ctx *ctx, json_object *stats)
{
	json_object *b = json_object_new_object();
	json_object *d = json_object_new_object();
	json_object *x = json_object_new_object();
	int err;

	(void)ctx;
	err = add_counters(d, SMT_MAP_DROPS, SMT_DROP_MAX, drop_name, false);
	if (!err)
		err = add_counters(x, SMT_MAP_XDP_STATS, SMT_XS_MAX,
				   smt_bpf_stat_name, false);
	if (err) {
		json_object_put(b);
		json_object_put(d);
		json_object_put(x);
		return err;
	}
	jadd(b, "drops", d);
	jadd(b, "xdp", x);
	jadd(stats, "bpf", b);
	return 0;
}
SMTCTL_STATS_PROVIDER(bpf, smtctl_bpf_stats);

/* flow stats [percpu]: the BPF section alone, without smtd. */
static int do_flow_stats(struct smtctl_ctx *ctx, int argc, char **argv)
{
	json_object *o = json_object_new_object(), *x;
	bool pc = argc == 1 && smtctl_is_prefix(argv[0], "percpu");
	int err;

	if (argc && !pc) {
		json_object_put(o);
		return smtctl_err(ctx, "flow stats: usage: [percpu]");
	}
	if (!pc) {
		err = smtctl_bpf_stats(ctx, o);
	} else {
		x = json_object_new_object();
		err = add_counters(x, SMT_MAP_XDP_STATS, SMT_XS_MAX,
				   smt_bpf_stat_name, true);
		if (!err) {
			jadd(o, "xdp_percpu", x);
			x = json_object_new_object();
			err = add_counters(x, SMT_MAP_DROPS, SMT_DROP_MAX,
					   drop_name, true);
			jadd(o, "drops_percpu", x);
		} else {
			json_object_put(x);
		}
	}
	if (err) {
		json_object_put(o);
		return smtctl_err(
			ctx, "cannot read BPF counters: %s; is smt_xdp loaded?",
			strerror(-err));
	}
	smtctl_emit(ctx, o, NULL);
	return 0;
}

static const struct smtctl_cmd flow_cmds[] = {
	{"list", do_flow_list, "",
	 "sessions and in-flight messages from the BPF maps"},
	{"watch", do_flow_watch, "[count N] [timeout SECS] [evict MS]",
	 "message completion (and eviction) events as they happen"},
	{"stats", do_flow_stats, "[percpu]",
	 "BPF drop reasons and XDP counters (per CPU with percpu)"},
	{0}};
SMTCTL_OBJECT_DFLT(flow, "message flows seen by the host BPF programs",
		   flow_cmds, do_flow_list);

/* ---- mtp (middlebox) ---------------------------------------------------- */

static int do_mtp_attach(struct smtctl_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = {"dev", "mode", "proto", "udp-ports",
					    NULL};
	const char *v[5] = {0};
	struct smt_udp_port_range r[SMT_UDP_PORT_RANGES];
	enum smt_bpf_xdp_mode mode;
	char msg[SMT_BPF_MSG_LEN];
	uint32_t proto = 0;
	unsigned int n = 0;
	int err;

	if (smtctl_parse_kv(ctx, argc, argv, names, v))
		return 1;
	if (!v[0])
		return smtctl_err(
			ctx,
			"mtp attach: usage: dev IF [mode auto|native|generic] [proto N] [udp-ports LIST]");
	if (parse_mode(ctx, v[1], &mode))
		return 1;
	if (v[2] && (parse_u32(ctx, "proto", v[2], &proto) || proto > 255))
		return 1;
	if (v[3] && parse_udp_ports(ctx, v[3], r, &n))
		return 1;
	err = smt_bpf_mb_attach(v[0], mode, proto, msg, sizeof(msg));
	if (msg[0])
		fprintf(stderr, "Note: %s\n", msg);
	if (err)
		return smtctl_err(ctx, "cannot attach mtp_inspect to %s: %s",
				  v[0], strerror(-err));
	if (v[3]) {
		err = smt_bpf_udp_ports_set(SMT_MAP_MTP_UDP_PORTS, r, n);
		if (err)
			return smtctl_err(ctx, "cannot write %s: %s",
					  SMT_MAP_MTP_UDP_PORTS,
					  strerror(-err));
	}
	return 0;
}

static int parse_mac(const char *s, uint8_t *mac)
{
	unsigned int b[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4],
		   &b[5]) != 6)
		return -1;
	for (i = 0; i < 6; i++) {
		if (b[i] > 255)
			return -1;
		mac[i] = b[i];
	}
	return 0;
}

/* An interface's MAC (ioctl: sysfs may belong to another netns). */
static int if_mac(const char *ifname, uint8_t *mac)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), err;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	err = ioctl(fd, SIOCGIFHWADDR, &ifr);
	close(fd);
	if (err)
		return -1;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

/*
 * mtp config [max SIZE] [rate N] [burst N] [nexthop IF MAC]...
 * Each nexthop names an egress interface and the MAC of the next hop.
 */
static int do_mtp_config(struct smtctl_ctx *ctx, int argc, char **argv)
{
	struct smt_mtp_config c = {.flags = SMT_MTP_CFG_VALID};
	int i, err;

	for (i = 0; i < argc; i++) {
		if (smtctl_is_prefix(argv[i], "nexthop") && i + 2 < argc) {
			struct smt_mtp_nexthop *nh = &c.nh[c.n_nh];

			if (c.n_nh >= SMT_MTP_MAX_NH)
				return smtctl_err(ctx, "at most %d next hops",
						  SMT_MTP_MAX_NH);
			nh->ifindex = if_nametoindex(argv[i + 1]);
			if (!nh->ifindex || if_mac(argv[i + 1], nh->smac))
				return smtctl_err(ctx,
						  "nexthop: no interface '%s'",
						  argv[i + 1]);
			if (parse_mac(argv[i + 2], nh->dmac))
				return smtctl_err(ctx, "nexthop: bad MAC '%s'",
						  argv[i + 2]);
			c.n_nh++;
			i += 2;
		} else if (i + 1 < argc && smtctl_is_prefix(argv[i], "max")) {
			if (parse_size32(ctx, "max", argv[++i], &c.max_msg_len))
				return 1;
		} else if (i + 1 < argc && smtctl_is_prefix(argv[i], "rate")) {
			if (parse_u32(ctx, "rate", argv[++i], &c.rate))
				return 1;
		} else if (i + 1 < argc && smtctl_is_prefix(argv[i], "burst")) {
			if (parse_u32(ctx, "burst", argv[++i], &c.burst))
				return 1;
		} else {
			return smtctl_err(
				ctx,
				"mtp config: usage: [max SIZE (bytes, K, M, G)] [rate MSGS_PER_SEC] [burst MSGS] [nexthop IF MAC]...");
		}
	}
	if (c.rate && !c.burst)
		c.burst = 1;
	err = smt_bpf_mb_configure(&c);
	if (err)
		return smtctl_err(
			ctx,
			"cannot configure mtp_inspect: %s; attach it first (smtctl mtp attach dev IF)",
			strerror(-err));
	return 0;
}

static int flow_to_json(json_object *arr, const struct smt_flow_key *k,
			const struct smt_mtp_flow *f)
{
	json_object *o = json_object_new_object();
	char a[INET6_ADDRSTRLEN];

	jadd(o, "encap", jstr(encap_name(k->encap)));
	jadd(o, "src", jstr(fmt_addr(k->saddr, k->family, a, sizeof(a))));
	jadd(o, "sport", json_object_new_int(ntohs(k->sport)));
	jadd(o, "dst", jstr(fmt_addr(k->daddr, k->family, a, sizeof(a))));
	jadd(o, "dport", json_object_new_int(ntohs(k->dport)));
	jadd(o, "packets", ju64(f->packets));
	jadd(o, "bytes", ju64(f->bytes));
	jadd(o, "msgs", ju64(f->msgs));
	jadd(o, "msgs_done", ju64(f->msgs_done));
	jadd(o, "msgs_dropped", ju64(f->msgs_dropped));
	jadd(o, "pkts_dropped", ju64(f->pkts_dropped));
	jadd(o, "records", ju64(f->records));
	json_object_array_add(arr, o);
	return 0;
}

static int do_mtp_stats(struct smtctl_ctx *ctx, int argc, char **argv)
{
	static const char *const cols[] = {
		"encap",	"src",		"sport",   "dst",
		"dport",	"packets",	"msgs",	   "msgs_done",
		"msgs_dropped", "pkts_dropped", "records", NULL};
	json_object *r, *flows = json_object_new_array();
	json_object *d = json_object_new_object(), *x, *nh;
	struct smt_flow_key k, *prev = NULL;
	struct smt_mtp_flow f;
	int fd, err, nc = libbpf_num_possible_cpus();
	uint32_t i;

	(void)argv;
	if (argc) {
		json_object_put(flows);
		json_object_put(d);
		return smtctl_err(ctx, "mtp stats takes no arguments");
	}
	fd = smt_bpf_map_fd(SMT_MAP_MTP_FLOWS);
	if (fd < 0) {
		json_object_put(flows);
		json_object_put(d);
		return smtctl_err(
			ctx,
			"mtp_inspect maps not found (%s); attach it first (smtctl mtp attach dev IF)",
			strerror(-fd));
	}
	while (!bpf_map_get_next_key(fd, prev, &k)) {
		prev = &k;
		if (!bpf_map_lookup_elem(fd, &k, &f))
			flow_to_json(flows, &k, &f);
	}
	close(fd);
	add_counters(d, SMT_MAP_MTP_DROPS, SMT_DROP_MAX, drop_name, false);
	x = json_object_new_object();
	err = add_counters(x, "mtp_stats", SMT_XS_MAX, smt_bpf_stat_name,
			   false);
	nh = json_object_new_array();
	fd = smt_bpf_map_fd(SMT_MAP_MTP_NH);
	for (i = 0; fd >= 0 && nc > 0 && i < SMT_MTP_MAX_NH; i++) {
		struct smt_mtp_nh_stats v[256];
		uint64_t p = 0, m = 0;
		int c;
		json_object *o;

		if (nc > 256 || bpf_map_lookup_elem(fd, &i, v))
			break;
		for (c = 0; c < nc; c++) {
			p += v[c].packets;
			m += v[c].msgs;
		}
		o = json_object_new_object();
		jadd(o, "nexthop", json_object_new_int(i));
		jadd(o, "packets", ju64(p));
		jadd(o, "msgs", ju64(m));
		json_object_array_add(nh, o);
	}
	if (fd >= 0)
		close(fd);
	(void)err;
	if (!ctx->json) {
		printf("flows:\n");
		smtctl_text_table(stdout, flows, cols);
		printf("counters:\n");
		smtctl_text_generic(stdout, x);
		printf("drops:\n");
		smtctl_text_generic(stdout, d);
		printf("next hops:\n");
		smtctl_text_table(stdout, nh,
				  (const char *const[]){"nexthop", "packets",
							"msgs", NULL});
		json_object_put(flows);
		json_object_put(d);
		json_object_put(x);
		json_object_put(nh);
		return 0;
	}
	r = json_object_new_object();
	jadd(r, "flows", flows);
	jadd(r, "counters", x);
	jadd(r, "drops", d);
	jadd(r, "nexthops", nh);
	smtctl_emit(ctx, r, NULL);
	return 0;
}

static int do_mtp_watch(struct smtctl_ctx *ctx, int argc, char **argv)
{
	return watch(ctx, argc, argv, SMT_MAP_MTP_EVENTS, false);
}

static int do_mtp_detach(struct smtctl_ctx *ctx, int argc, char **argv)
{
	return do_prog_detach(ctx, argc, argv);
}

static int do_mtp_udp_ports(struct smtctl_ctx *ctx, int argc, char **argv)
{
	return udp_ports_cmd(ctx, argc, argv, SMT_MAP_MTP_UDP_PORTS,
			     "attach it first (smtctl mtp attach dev IF)");
}

static const struct smtctl_cmd mtp_cmds[] = {
	{"attach", do_mtp_attach,
	 "dev IF [mode auto|native|generic] [proto N] [udp-ports LIST]",
	 "attach the keyless middlebox inspector"},
	{"detach", do_mtp_detach, "dev IF", "detach it"},
	{"config", do_mtp_config,
	 "[max SIZE] [rate MSGS_PER_SEC] [burst MSGS] [nexthop IF MAC]...",
	 "whole-message size/rate limits and per-message path choice"},
	{"udp-ports", do_mtp_udp_ports, "[LIST|none]",
	 "UDP port ranges carrying SMT over UDP through the box: show or set"},
	{"stats", do_mtp_stats, "", "flows, counters, drops, next hops"},
	{"watch", do_mtp_watch, "[count N] [timeout SECS]",
	 "one event per message seen start to end"},
	{0}};
SMTCTL_OBJECT_DFLT(mtp, "middlebox message inspection (mtp_inspect)", mtp_cmds,
		   do_mtp_stats);
