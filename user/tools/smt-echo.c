// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt-echo: an SMT RPC echo server and a load-generating client that checks
 * every response byte for byte and reports latency percentiles and
 * throughput (text or JSON). The server answers each request with the
 * request's bytes XOR 0xA5, so a response depends on its request's content
 * and differs from it; the client regenerates what it sent from the seed in
 * the first 8 bytes and checks the answer. Sessions come from an
 * SMT_SESSION key log line (test mode, docs/protocol.md section 7), made by
 * `smt-echo keygen`, or from smtd (--service). Packets travel natively on IP
 * (raw sockets, CAP_NET_RAW) or over UDP (--encap udp, no capability; docs/
 * protocol.md section 1.1). See smt-echo(1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "libsmt.h"
#include "codec.h"
#include "ctlproto.h"
#include "keys.h"
#include "opts.h"
#include "util.h"

#define RESP_XOR 0xA5
#define MAX_SIZES 64
#define MAX_LINES 64
#define DEFAULT_COUNT 1000
#define MAX_GROUP 16 /* --group */

struct opts {
	const char *keylog;
	const char *session_line;
	const char *service, *connect;
	int line;
	uint16_t port;
	uint8_t ipproto;
	enum smt_encap encap; /* SMT_ENCAP_DEFAULT: $SMT_ENCAP, else ip */
	uint32_t mtu;
	uint32_t sizes[MAX_SIZES];
	int nsizes;
	uint32_t bg_size;
	unsigned int bg_conc;
	uint64_t count;
	unsigned int conc;
	double duration;
	bool oneway, json, stats, quiet, prio_tos, xsk_tx, no_offload;
	uint32_t rpc_timeouts, resend_us;
	uint32_t hold_ms; /* opts.hold_ms: early requests held this long */
	uint64_t seed;
	uint64_t corrupt; /* server: flip a bit in every Nth response */
	unsigned int group; /* server: endpoints sharing the port (--group) */
	double group_exit; /* server: the last member exits after this */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---- payload pattern --------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Byte pos of the pattern of seed: bytes 0..7 are the seed itself (little
 * endian, so the receiver can regenerate the rest), then the bytes of a
 * splitmix64 stream started at seed.
 */
static void pattern_fill(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t s = seed, v = 0;
	size_t i;

	for (i = 0; i < len && i < 8; i++)
		buf[i] = (uint8_t)(seed >> (8 * i));
	for (; i < len; i++) {
		if ((i - 8) % 8 == 0)
			v = splitmix(&s);
		buf[i] = (uint8_t)(v >> (8 * ((i - 8) % 8)));
	}
}

/* True when buf is the pattern of seed with every byte XOR x. */
static bool pattern_check(const uint8_t *buf, size_t len, uint64_t seed,
			  uint8_t x)
{
	uint64_t s = seed, v = 0;
	size_t i;

	for (i = 0; i < len && i < 8; i++)
		if (buf[i] != (uint8_t)((seed >> (8 * i)) ^ x))
			return false;
	for (; i < len; i++) {
		if ((i - 8) % 8 == 0)
			v = splitmix(&s);
		if (buf[i] != (uint8_t)((v >> (8 * ((i - 8) % 8))) ^ x))
			return false;
	}
	return true;
}

/* ---- options ------------------------------------------------------------ */

/* One size (64, 4K, 1.5M: util_parse_size, the tree's size parser). */
static int parse_size(const char *s, uint32_t *out)
{
	char err[160];
	uint64_t v;

	if (util_parse_size(s, UINT32_MAX, &v, err, sizeof(err)))
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* --size LIST: comma-separated sizes, used in turn; dst is the opts. */
static int opt_sizes(const struct tool_opt *opt, char *arg, char *err,
		     size_t err_len)
{
	struct opts *o = opt->dst;
	char *tok, *save = NULL;

	o->nsizes = 0;
	for (tok = strtok_r(arg, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (o->nsizes == MAX_SIZES ||
		    parse_size(tok, &o->sizes[o->nsizes]) < 0)
			break;
		o->nsizes++;
	}
	if (tok || !o->nsizes) {
		snprintf(err, err_len, "bad --size list (e.g. 0,64,4K,1M)");
		return -1;
	}
	return 0;
}

/* --encap ip|udp into the enum smt_encap at dst. */
static int opt_encap(const struct tool_opt *opt, char *arg, char *err,
		     size_t err_len)
{
	if (smt_encap_parse(arg, opt->dst)) {
		snprintf(err, err_len,
			 "--encap %s: want ip (native IP, raw sockets) or udp "
			 "(SMT over UDP, no capability)",
			 arg);
		return -1;
	}
	return 0;
}

/* One size into the uint32_t at dst; a bad one fails without a message. */
static int opt_size(const struct tool_opt *opt, char *arg, char *err,
		    size_t err_len)
{
	return parse_size(arg, opt->dst);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: smt-echo server [OPTIONS]\n"
		"       smt-echo client [OPTIONS]\n"
		"       smt-echo keygen --client IP:PORT --server IP:PORT "
		"[--cipher C] [--max-msg N]\n"
		"session (test mode: keys from a key log, see smt-echo(1)):\n"
		"  --keylog FILE      SMT_SESSION lines (server: every line; "
		"client: --line N, default 1)\n"
		"  --session LINE     one SMT_SESSION line given directly\n"
		"  --service NAME [--connect ADDR]   session through smtd\n"
		"endpoint: --encap ip|udp (default $SMT_ENCAP, else ip: native "
		"IP needs CAP_NET_RAW,\n"
		"          udp needs no capability)  --port N  --ipproto N  "
		"--mtu N\n"
		"          --rpc-timeouts N --resend-us N --prio-tos\n"
		"          --hold-ms N (DATA of sessions not added yet held this "
		"long)\n"
		"          --xsk-tx (send IPv4 through AF_XDP, docs/api.md)\n"
		"          --no-udp-offload (encap udp: no UDP GSO/GRO)\n"
		"server:   --corrupt-every N (flip a bit in every Nth response: "
		"tests the client's check)\n"
		"          --group N (2..16 endpoints share the port, a thread "
		"each; --service,\n"
		"          --encap udp)  --group-exit SEC (the last member "
		"closes after SEC)\n"
		"client:   --size LIST (e.g. 64,4K,1M: used in turn) --count N "
		"--concurrency C\n"
		"          --duration SEC --oneway --bg-size SIZE "
		"--bg-concurrency N --seed N\n"
		"output:   -j (JSON summary)  --stats (counters, drops by "
		"name)  -q\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	const struct tool_opt opts[] = {
		OPT_STR("keylog", 'k', &o->keylog),
		OPT_STR("session", 'S', &o->session_line),
		OPT_ATOI("line", 'L', &o->line),
		OPT_STR("service", 'V', &o->service),
		OPT_STR("connect", 'C', &o->connect),
		OPT_ATOI("port", 'p', &o->port),
		OPT_ATOI("ipproto", 'P', &o->ipproto),
		OPT_FN("encap", 'E', &o->encap, opt_encap),
		OPT_ATOI("mtu", 'M', &o->mtu),
		OPT_FN("size", 's', o, opt_sizes),
		OPT_FN("sizes", 's', o, opt_sizes),
		OPT_STRTOU("count", 'n', &o->count),
		OPT_ATOI("concurrency", 'c', &o->conc),
		OPT_DOUBLE("duration", 'd', &o->duration),
		OPT_FLAG("oneway", 'o', &o->oneway),
		OPT_FN("bg-size", 'b', &o->bg_size, opt_size),
		OPT_ATOI("bg-concurrency", 'B', &o->bg_conc),
		OPT_STRTOU("seed", 'e', &o->seed),
		OPT_ATOI("rpc-timeouts", 'T', &o->rpc_timeouts),
		OPT_ATOI("resend-us", 'R', &o->resend_us),
		OPT_ATOI("hold-ms", 'H', &o->hold_ms),
		OPT_FLAG("prio-tos", 'Q', &o->prio_tos),
		OPT_FLAG("xsk-tx", 'x', &o->xsk_tx),
		OPT_FLAG("no-udp-offload", 'O', &o->no_offload),
		OPT_STRTOU("corrupt-every", 'X', &o->corrupt),
		OPT_ATOI("group", 'G', &o->group),
		OPT_DOUBLE("group-exit", 'Y', &o->group_exit),
		OPT_FLAG("json", 'j', &o->json),
		OPT_FLAG("stats", 't', &o->stats),
		OPT_FLAG("quiet", 'q', &o->quiet),
		OPT_HELP("help", 'h'),
	};
	char err[TOOL_OPTS_ERR_LEN];
	int ret;

	ret = tool_opts_parse(argc, argv, "k:p:s:n:c:d:jqh", opts,
			      TOOL_OPTS_N(opts), err, sizeof(err));
	if (ret == TOOL_OPTS_HELP) {
		usage(stdout);
		exit(0);
	}
	if (ret) {
		if (*err)
			fprintf(stderr, "smt-echo: %s\n", err);
		return -1;
	}
	if (optind != argc) {
		fprintf(stderr, "smt-echo: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	if (o->group > MAX_GROUP) {
		fprintf(stderr, "smt-echo: --group %u: want 1..%d\n", o->group,
			MAX_GROUP);
		return -1;
	}
	return 0;
}

/* ---- sessions ------------------------------------------------------------ */

static int read_lines(const char *path, char lines[][1024], int max)
{
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f) {
		fprintf(stderr, "smt-echo: cannot open key log %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	while (n < max && fgets(lines[n], sizeof(lines[n]), f))
		if (!strncmp(lines[n], "SMT_SESSION ", 12))
			n++;
	fclose(f);
	if (!n)
		fprintf(stderr, "smt-echo: no SMT_SESSION line in %s\n", path);
	return n ? n : -1;
}

/* Opens n endpoints (n > 1: a group sharing the port) on port with the
 * endpoint options of o. */
static int open_endpoints(const struct opts *o, uint16_t port, unsigned int n,
			  struct smt_endpoint **ep)
{
	struct smt_endpoint_opts eo = {.sz = sizeof(eo)};
	int err;

	eo.port = port;
	eo.ipproto = o->ipproto;
	eo.mtu = o->mtu;
	eo.rpc_timeouts = o->rpc_timeouts;
	eo.resend_timeout_us = o->resend_us;
	eo.hold_ms = o->hold_ms;
	eo.prio_tos = o->prio_tos;
	eo.xsk_tx = o->xsk_tx;
	eo.no_udp_offload = o->no_offload;
	eo.encap = o->encap;
	err = smt_endpoint_open_group(&eo, n, ep);
	if (err) {
		/* the encapsulation asked for: --encap, else $SMT_ENCAP */
		const char *e = o->encap ? smt_encap_name(o->encap)
					 : getenv("SMT_ENCAP");
		const char *hint = "";

		if (!e || !*e)
			e = "ip";
		if (err == -SMT_E_NOCAP)
			hint = "; or use --encap udp, which needs no "
			       "capability";
		else if (err == -EINVAL && n > 1 && strcmp(e, "udp"))
			hint = "; an endpoint group (--group) needs --encap udp";
		else if (err == -EINVAL && o->xsk_tx && strcmp(e, "ip"))
			hint = "; --xsk-tx sends native IP packets, not SMT "
			       "over UDP";
		fprintf(stderr,
			"smt-echo: cannot open SMT endpoint on port "
			"%u (encap %s): %s%s\n",
			eo.port, e, smt_strerror(err), hint);
		return -1;
	}
	return 0;
}

static int open_endpoint(const struct opts *o, uint16_t port,
			 struct smt_endpoint **ep)
{
	return open_endpoints(o, port, 1, ep);
}

/* "ip" or "udp": the encapsulation the endpoint resolved to. */
static const char *ep_encap(const struct smt_endpoint *ep)
{
	const char *n = smt_encap_name(smt_endpoint_encap(ep));

	return n ? n : "?";
}

/*
 * Opens the endpoint and adds the test-mode sessions. The client uses one
 * line (its local port is the line's client port); the server adds every
 * line (its port is the first line's server port).
 */
static int open_keylog(const struct opts *o, bool client,
		       struct smt_endpoint **ep, uint32_t *sid)
{
	static char lines[MAX_LINES][1024];
	struct smt_session_params p;
	struct smt_keylog kl;
	const char *what = NULL;
	int n, i, first, last, err;
	uint16_t port;

	if (o->session_line) {
		snprintf(lines[0], sizeof(lines[0]), "%s", o->session_line);
		n = 1;
	} else {
		n = read_lines(o->keylog, lines, MAX_LINES);
		if (n < 0)
			return -1;
	}
	first = 0;
	last = n - 1;
	if (client) {
		first = last = o->line > 0 ? o->line - 1 : 0;
		if (first >= n) {
			fprintf(stderr,
				"smt-echo: key log has %d lines, no "
				"line %d\n",
				n, o->line);
			return -1;
		}
	}
	if (smt_keylog_parse(lines[first], &kl, &what)) {
		fprintf(stderr, "smt-echo: bad SMT_SESSION line (field %s)\n",
			what ? what : "?");
		return -1;
	}
	smt_keys_wipe(&kl.keys);
	port = o->port ? o->port
		       : util_addr_port(client ? &kl.client : &kl.server);
	if (open_endpoint(o, port, ep) < 0)
		return -1;
	for (i = first; i <= last; i++) {
		char buf[80];

		err = smt_session_params_from_keylog(lines[i], client, &p,
						     &what);
		if (!err)
			err = smt_session_add(*ep, &p, sid);
		if (err) {
			fprintf(stderr,
				"smt-echo: cannot add session of key log "
				"line %d (%s): %s\n",
				i + 1, what ? what : "-", smt_strerror(err));
			smt_session_params_wipe(&p);
			return -1;
		}
		if (!o->quiet && !o->json)
			fprintf(stderr,
				"smt-echo: session %u with %s, encap %s\n",
				*sid,
				util_format_addr(&p.peer, 1, buf, sizeof(buf)),
				ep_encap(*ep));
		smt_session_params_wipe(&p);
	}
	explicit_bzero(lines, sizeof(lines));
	return 0;
}

/*
 * smtd mode: the client asks the local smtd for a session with the smtd at
 * --connect (smt_connect); the server registers for --service (smt_serve)
 * and gets a session per client as SMT_MSG_SESSION_UP.
 */
static int open_smtd(const struct opts *o, bool client,
		     struct smt_endpoint **ep, uint32_t *sid)
{
	const char *why;
	int err;

	if (client && !o->connect) {
		fprintf(stderr, "smt-echo: client with --service needs "
				"--connect ADDR (the server host's smtd)\n");
		return -1;
	}
	if (open_endpoint(o, o->port, ep) < 0)
		return -1;
	if (client)
		err = smt_connect(*ep, o->service, o->connect, sid);
	else
		err = smt_serve(*ep, o->service);
	if (err) {
		why = smt_ctl_last_error();
		fprintf(stderr, "smt-echo: %s %s through smtd failed: %s%s%s\n",
			client ? "connecting to" : "serving", o->service,
			smt_strerror(err), *why ? ": " : "", why);
		smt_endpoint_close(*ep);
		*ep = NULL;
		return -1;
	}
	if (!o->quiet && !o->json)
		fprintf(stderr, "smt-echo: %s %s through smtd, encap %s\n",
			client ? "session for" : "serving", o->service,
			ep_encap(*ep));
	return 0;
}

static int open_session(const struct opts *o, bool client,
			struct smt_endpoint **ep, uint32_t *sid)
{
	if (o->service)
		return open_smtd(o, client, ep, sid);
	if (!o->keylog && !o->session_line) {
		fprintf(stderr, "smt-echo: no session: give --keylog FILE "
				"(test mode) or --service NAME (smtd)\n");
		return -1;
	}
	return open_keylog(o, client, ep, sid);
}

/* JSON output goes through json-c: one object per report, one line. */
static json_object *jdbl(double v, const char *fmt)
{
	char b[64];

	snprintf(b, sizeof(b), fmt, v);
	return json_object_new_double_s(v, b);
}

static void jadd(json_object *o, const char *k, json_object *v)
{
	json_object_object_add(o, k, v);
}

static void jadd_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void jprint(json_object *o)
{
	puts(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* The endpoint's counters as a "stats" member of o: what libsmt reports
 * to smtd, and the send-side errors and AF_XDP counters. */
static void stats_json(struct smt_endpoint *ep, json_object *o)
{
	struct smt_stats st = {.sz = sizeof(st)};
	json_object *s = smt_ctl_stats_json(ep);

	if (!s || smt_stats_get(ep, 0, &st)) {
		json_object_put(s);
		return;
	}
	jadd_u64(s, "rx_no_endpoint", st.rx_no_endpoint);
	jadd_u64(s, "tx_errors", st.tx_errors);
	jadd_u64(s, "tx_xsk_packets", st.tx_xsk_packets);
	jadd_u64(s, "tx_xsk_fallback", st.tx_xsk_fallback);
	jadd(o, "stats", s);
}

static void print_stats(struct smt_endpoint *ep)
{
	struct smt_stats st = {.sz = sizeof(st)};
	unsigned int i;

	if (smt_stats_get(ep, 0, &st))
		return;
	printf("smt-echo: packets tx %" PRIu64 " rx %" PRIu64
	       ", retransmits %" PRIu64 ", ctl tx %" PRIu64 " rx %" PRIu64
	       ", not ours %" PRIu64 ", tx errors %" PRIu64
	       ", ICMP errors %" PRIu64 ", drops %" PRIu64 "\n",
	       st.tx_packets, st.rx_packets, st.tx_retransmits, st.tx_ctl,
	       st.rx_ctl, st.rx_no_endpoint, st.tx_errors, st.rx_icmp_errors,
	       st.drops_total);
	for (i = 0; smt_drop_reason_name(i); i++)
		if (st.drops[i])
			printf("smt-echo:   drop %-24s %" PRIu64 "\n",
			       smt_drop_reason_name(i), st.drops[i]);
	printf("smt-echo: system calls tx %" PRIu64 " rx %" PRIu64 "\n",
	       st.tx_calls, st.rx_calls);
	if (st.rx_held || st.rx_held_overflow)
		printf("smt-echo: early DATA held %" PRIu64
		       ", replayed %" PRIu64 ", expired %" PRIu64
		       ", over the bounds %" PRIu64 "\n",
		       st.rx_held, st.rx_held_replayed, st.rx_held_expired,
		       st.rx_held_overflow);
	if (st.udp_gso || st.udp_gro || st.tx_gso_fallback)
		printf("smt-echo: UDP GSO %s: %" PRIu64 " sends of %" PRIu64
		       " datagrams%s; GRO %s: %" PRIu64 " buffers of %" PRIu64
		       " datagrams\n",
		       st.udp_gso ? "on" : "off", st.tx_gso_sends,
		       st.tx_gso_segments,
		       st.tx_gso_fallback ? " (refused by the device: "
					    "sending one by one)"
					  : "",
		       st.udp_gro ? "on" : "off", st.rx_gro_bufs,
		       st.rx_gro_segments);
	if (st.tx_xsk_packets || st.tx_xsk_fallback)
		printf("smt-echo: xsk tx %" PRIu64 ", raw fallback %" PRIu64
		       "\n",
		       st.tx_xsk_packets, st.tx_xsk_fallback);
}

/* ---- server -------------------------------------------------------------- */

/* One endpoint's serving loop (a thread per member with --group). */
struct srv {
	const struct opts *o;
	struct smt_endpoint *ep;
	unsigned int member;
	uint64_t deadline, exit_at; /* exit_at: --group-exit, 0: none */
	uint64_t reqs, oneways, bad_oneways, bytes, reply_err;
	pthread_t thread;
};

static void *serve_loop(void *arg)
{
	struct srv *v = arg;
	const struct opts *o = v->o;
	struct smt_endpoint *ep = v->ep;
	struct smt_msg m;
	uint64_t deadline;
	int err;

	while (!stop && (!v->deadline || now_ns() < v->deadline) &&
	       (!v->exit_at || now_ns() < v->exit_at) &&
	       (!o->count || v->reqs + v->oneways < o->count)) {
		err = smt_wait(ep, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "smt-echo: event loop: %s\n",
				smt_strerror(err));
			break;
		}
		while (smt_recv(ep, &m) == 0) {
			if (m.kind == SMT_MSG_REQUEST) {
				for (size_t i = 0; i < m.len; i++)
					m.data[i] ^= RESP_XOR;
				/* --corrupt-every: a test of the client's check */
				if (o->corrupt && m.len &&
				    (v->reqs + 1) % o->corrupt == 0)
					m.data[m.len / 2] ^= 1;
				err = smt_reply(ep, m.session, m.id, m.data,
						m.len);
				if (err) {
					v->reply_err++;
					if (!o->quiet)
						fprintf(stderr,
							"smt-echo: reply: %s\n",
							smt_strerror(err));
				}
				v->reqs++;
				v->bytes += m.len;
			} else if (m.kind == SMT_MSG_ONEWAY) {
				uint64_t seed = 0;

				memcpy(&seed, m.data, m.len < 8 ? m.len : 8);
				if (m.len >= 8 &&
				    !pattern_check(m.data, m.len, seed, 0))
					v->bad_oneways++;
				v->oneways++;
				v->bytes += m.len;
			}
			smt_msg_release(&m);
		}
	}
	if (v->exit_at && now_ns() >= v->exit_at) {
		/* --group-exit: this member goes, the others serve on */
		fprintf(stderr,
			"smt-echo: member %u exits after %" PRIu64
			" requests\n",
			v->member, v->reqs);
		smt_endpoint_close(ep);
		v->ep = NULL;
		return NULL;
	}
	/* let the last responses reach the client (ACKs, resends) */
	deadline = now_ns() + 200000000ULL;
	while (!stop && now_ns() < deadline)
		smt_wait(ep, 10);
	return NULL;
}

/* --group N: N endpoints on one SMT-over-UDP port, a thread each; the
 * group serves --service through smtd, every member gets its sessions. */
static int open_group(const struct opts *o, struct smt_endpoint **eps)
{
	const char *why;
	int err;

	if (!o->service) {
		fprintf(stderr, "smt-echo: --group serves through smtd: give "
				"--service NAME\n");
		return -1;
	}
	if (open_endpoints(o, o->port, o->group, eps) < 0)
		return -1;
	err = smt_serve(eps[0], o->service);
	if (err) {
		why = smt_ctl_last_error();
		fprintf(stderr,
			"smt-echo: serving %s through smtd failed: %s%s%s\n",
			o->service, smt_strerror(err), *why ? ": " : "", why);
		for (unsigned int i = 0; i < o->group; i++)
			smt_endpoint_close(eps[i]);
		return -1;
	}
	if (!o->quiet && !o->json)
		fprintf(stderr,
			"smt-echo: serving %s through smtd with %u endpoints, "
			"encap %s\n",
			o->service, o->group, ep_encap(eps[0]));
	return 0;
}

static int run_server(const struct opts *o)
{
	struct smt_endpoint *eps[MAX_GROUP] = {NULL};
	struct srv v[MAX_GROUP];
	struct srv sum = {0};
	unsigned int n = o->group > 1 ? o->group : 1, i;
	const char *encap;
	uint32_t sid;
	int ret = 0;

	if (n > 1 ? open_group(o, eps) < 0
		  : open_session(o, false, &eps[0], &sid) < 0)
		return 1;
	encap = ep_encap(eps[0]);
	printf("smt-echo: server on SMT port %u, encap %s\n",
	       smt_endpoint_port(eps[0]), encap);
	fflush(stdout);
	for (i = 0; i < n; i++) {
		v[i] = (struct srv){.o = o, .ep = eps[i], .member = i};
		if (o->duration > 0)
			v[i].deadline =
				now_ns() + (uint64_t)(o->duration * 1e9);
		if (n > 1 && i == n - 1 && o->group_exit > 0)
			v[i].exit_at =
				now_ns() + (uint64_t)(o->group_exit * 1e9);
	}
	if (n == 1) {
		serve_loop(&v[0]);
	} else {
		for (i = 0; i < n; i++)
			if (pthread_create(&v[i].thread, NULL, serve_loop,
					   &v[i])) {
				fprintf(stderr, "smt-echo: cannot start a "
						"thread\n");
				exit(1);
			}
		for (i = 0; i < n; i++)
			pthread_join(v[i].thread, NULL);
	}
	for (i = 0; i < n; i++) {
		sum.reqs += v[i].reqs;
		sum.oneways += v[i].oneways;
		sum.bad_oneways += v[i].bad_oneways;
		sum.bytes += v[i].bytes;
		sum.reply_err += v[i].reply_err;
	}
	if (o->json) {
		json_object *j = json_object_new_object(), *mem;

		jadd(j, "role", json_object_new_string("server"));
		jadd(j, "encap", json_object_new_string(encap));
		jadd_u64(j, "requests", sum.reqs);
		jadd_u64(j, "oneways", sum.oneways);
		jadd_u64(j, "bad_oneways", sum.bad_oneways);
		jadd_u64(j, "bytes", sum.bytes);
		jadd_u64(j, "reply_errors", sum.reply_err);
		if (n > 1) {
			mem = json_object_new_array();
			for (i = 0; i < n; i++)
				json_object_array_add(
					mem, json_object_new_uint64(
						     v[i].reqs + v[i].oneways));
			jadd(j, "members", mem);
		}
		if (o->stats && v[0].ep)
			stats_json(v[0].ep, j);
		jprint(j);
	} else {
		printf("smt-echo: server handled %" PRIu64 " requests, %" PRIu64
		       " oneways (%" PRIu64 " bad), %" PRIu64
		       " bytes, encap %s\n",
		       sum.reqs, sum.oneways, sum.bad_oneways, sum.bytes,
		       encap);
		for (i = 0; n > 1 && i < n; i++)
			printf("smt-echo: member %u handled %" PRIu64
			       " requests, %" PRIu64 " oneways%s\n",
			       i, v[i].reqs, v[i].oneways,
			       v[i].ep ? "" : " (exited early)");
		if (o->stats && v[0].ep)
			print_stats(v[0].ep);
	}
	for (i = 0; i < n; i++)
		smt_endpoint_close(v[i].ep);
	if (sum.bad_oneways || sum.reply_err)
		ret = 1;
	return ret;
}

/* ---- client -------------------------------------------------------------- */

struct slot {
	uint64_t id, seed, start;
	uint32_t size;
	bool busy, bg;
};

struct lat {
	uint64_t *v;
	size_t n, cap;
};

static void lat_add(struct lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		uint64_t *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values, in microseconds. */
static double pct_us(const struct lat *l, double p)
{
	size_t k;

	if (!l->n)
		return 0;
	k = (size_t)ceil(p / 100.0 * l->n);
	if (k < 1)
		k = 1;
	return l->v[k - 1] / 1000.0;
}

/* Percentiles of l (sorted here) as member "lat_us" of o. */
static void lat_json(struct lat *l, json_object *o)
{
	json_object *j = json_object_new_object();

	if (l->n) /* no RPC: v may be NULL, which qsort may not get */
		qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
	jadd_u64(j, "n", l->n);
	jadd(j, "p50", jdbl(pct_us(l, 50), "%.1f"));
	jadd(j, "p90", jdbl(pct_us(l, 90), "%.1f"));
	jadd(j, "p99", jdbl(pct_us(l, 99), "%.1f"));
	jadd(j, "p999", jdbl(pct_us(l, 99.9), "%.1f"));
	jadd(j, "max", jdbl(pct_us(l, 100), "%.1f"));
	jadd(o, "lat_us", j);
}

static void lat_print(const char *name, struct lat *l)
{
	if (l->n) /* no RPC: v may be NULL, which qsort may not get */
		qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
	printf("  %-10s n %-8zu p50 %9.1f  p90 %9.1f  p99 %9.1f  p99.9 "
	       "%9.1f  max %9.1f us\n",
	       name, l->n, pct_us(l, 50), pct_us(l, 90), pct_us(l, 99),
	       pct_us(l, 99.9), pct_us(l, 100));
}

struct client {
	const struct opts *o;
	struct smt_endpoint *ep;
	uint32_t sid;
	struct slot *slots;
	unsigned int nslots, busy_fg, busy_bg;
	uint8_t *buf;
	uint64_t sent, ok, failed, bad, bytes, bg_ok, bg_failed, bg_bad;
	uint64_t next_seed;
	struct lat all, per[MAX_SIZES], bg;
	int last_err;
	int first_fail; /* error of the first failed RPC, 0 if none */
	uint64_t first_fail_ns; /* how long that RPC lived */
};

static int client_send(struct client *c, unsigned int si, bool bg)
{
	struct slot *s = &c->slots[si];
	uint32_t size;
	int err;

	size = bg ? c->o->bg_size : c->o->sizes[c->sent % c->o->nsizes];
	s->seed = c->next_seed;
	pattern_fill(c->buf, size, s->seed);
	s->start = now_ns();
	if (c->o->oneway && !bg)
		err = smt_send_oneway(c->ep, c->sid, c->buf, size, si, &s->id);
	else
		err = smt_send_request(c->ep, c->sid, c->buf, size, si, &s->id);
	if (err) {
		c->last_err = err;
		return err;
	}
	c->next_seed++;
	s->size = size;
	s->busy = true;
	s->bg = bg;
	if (bg) {
		c->busy_bg++;
	} else {
		c->busy_fg++;
		c->sent++;
	}
	return 0;
}

static int size_index(const struct opts *o, uint32_t size)
{
	int i;

	for (i = 0; i < o->nsizes; i++)
		if (o->sizes[i] == size)
			return i;
	return 0;
}

static void client_complete(struct client *c, struct smt_msg *m)
{
	struct slot *s;
	uint64_t lat;
	bool good;

	if (m->cookie >= c->nslots)
		return;
	s = &c->slots[m->cookie];
	if (!s->busy || s->id != m->id)
		return;
	lat = now_ns() - s->start;
	s->busy = false;
	if (s->bg)
		c->busy_bg--;
	else
		c->busy_fg--;
	if (m->kind == SMT_MSG_FAILED ||
	    (m->kind == SMT_MSG_SENT && m->error)) {
		if (m->error == -SMT_E_CANCELED && s->bg)
			return; /* background stopped at the end */
		if (s->bg)
			c->bg_failed++;
		else
			c->failed++;
		if (!c->first_fail) {
			c->first_fail = m->error ? m->error : -EIO;
			c->first_fail_ns = lat;
		}
		if (!c->o->quiet)
			fprintf(stderr,
				"smt-echo: RPC %#" PRIx64
				" (%u bytes) failed: %s\n",
				m->id, s->size, smt_strerror(m->error));
		return;
	}
	good = m->kind == SMT_MSG_SENT ||
	       (m->len == s->size &&
		pattern_check(m->data, m->len, s->seed, RESP_XOR));
	if (!good) {
		if (s->bg)
			c->bg_bad++;
		else
			c->bad++;
		if (!c->o->quiet)
			fprintf(stderr,
				"smt-echo: response to RPC %#" PRIx64
				" does not match its request (%zu bytes for "
				"%u)\n",
				m->id, m->len, s->size);
		return;
	}
	if (s->bg) {
		c->bg_ok++;
		lat_add(&c->bg, lat);
		return;
	}
	c->ok++;
	c->bytes += (uint64_t)s->size * (m->kind == SMT_MSG_SENT ? 1 : 2);
	lat_add(&c->all, lat);
	lat_add(&c->per[size_index(c->o, s->size)], lat);
}

/* Completes the RPCs of every message the endpoint has for us. */
static void client_recv(struct client *c)
{
	struct smt_msg m;

	while (smt_recv(c->ep, &m) == 0) {
		if (m.kind == SMT_MSG_RESPONSE || m.kind == SMT_MSG_FAILED ||
		    m.kind == SMT_MSG_SENT)
			client_complete(c, &m);
		smt_msg_release(&m);
	}
}

static void client_report(struct client *c, double secs)
{
	const struct opts *o = c->o;
	double rate = secs > 0 ? c->ok / secs : 0;
	double mbps = secs > 0 ? c->bytes * 8 / secs / 1e6 : 0;
	char name[32];
	int i;

	if (o->json) {
		json_object *j = json_object_new_object(), *arr, *e;

		jadd(j, "role", json_object_new_string("client"));
		jadd(j, "mode",
		     json_object_new_string(o->oneway ? "oneway" : "rpc"));
		jadd(j, "encap", json_object_new_string(ep_encap(c->ep)));
		jadd_u64(j, "sent", c->sent);
		jadd_u64(j, "ok", c->ok);
		jadd_u64(j, "failed", c->failed);
		jadd_u64(j, "bad", c->bad);
		jadd(j, "seconds", jdbl(secs, "%.3f"));
		jadd(j, "rpc_per_s", jdbl(rate, "%.1f"));
		jadd(j, "mbit_per_s", jdbl(mbps, "%.2f"));
		jadd_u64(j, "concurrency", o->conc);
		/* the first failure: its code (positive: errno or SMT_E_*),
		 * text and how long the RPC lived until it failed */
		if (c->first_fail) {
			jadd(j, "first_error",
			     json_object_new_int(-c->first_fail));
			jadd(j, "first_error_str",
			     json_object_new_string(
				     smt_strerror(c->first_fail)));
			jadd(j, "first_error_ms",
			     jdbl(c->first_fail_ns / 1e6, "%.1f"));
		}
		lat_json(&c->all, j);
		arr = json_object_new_array();
		for (i = 0; i < o->nsizes; i++) {
			e = json_object_new_object();
			jadd_u64(e, "size", o->sizes[i]);
			lat_json(&c->per[i], e);
			json_object_array_add(arr, e);
		}
		jadd(j, "sizes", arr);
		if (o->bg_conc) {
			e = json_object_new_object();
			jadd_u64(e, "size", o->bg_size);
			jadd_u64(e, "concurrency", o->bg_conc);
			jadd_u64(e, "ok", c->bg_ok);
			jadd_u64(e, "failed", c->bg_failed);
			jadd_u64(e, "bad", c->bg_bad);
			lat_json(&c->bg, e);
			jadd(j, "bg", e);
		}
		if (o->stats)
			stats_json(c->ep, j);
		jprint(j);
		return;
	}
	printf("smt-echo: %" PRIu64 " %s ok, %" PRIu64 " failed, %" PRIu64
	       " bad, %.3f s, %.0f msg/s, %.1f Mbit/s (application bytes, "
	       "both directions), concurrency %u, encap %s\n",
	       c->ok, o->oneway ? "oneways" : "RPCs", c->failed, c->bad, secs,
	       rate, mbps, o->conc, ep_encap(c->ep));
	if (c->first_fail)
		printf("smt-echo: first failure after %.1f ms: %s\n",
		       c->first_fail_ns / 1e6, smt_strerror(c->first_fail));
	lat_print("all", &c->all);
	if (o->nsizes > 1) {
		for (i = 0; i < o->nsizes; i++) {
			snprintf(name, sizeof(name), "%uB", o->sizes[i]);
			lat_print(name, &c->per[i]);
		}
	}
	if (o->bg_conc) {
		printf("smt-echo: background %u x %u B: %" PRIu64
		       " ok, %" PRIu64 " failed, %" PRIu64 " bad\n",
		       o->bg_conc, o->bg_size, c->bg_ok, c->bg_failed,
		       c->bg_bad);
		lat_print("background", &c->bg);
	}
	if (o->stats)
		print_stats(c->ep);
}

static int run_client(struct opts *o)
{
	struct client c = {.o = o};
	uint64_t t0, deadline = 0, drain_end;
	uint32_t maxsz = o->bg_size;
	unsigned int i;
	bool more;
	double secs;
	int rc;

	if (!o->nsizes) {
		o->sizes[0] = 64;
		o->nsizes = 1;
	}
	if (!o->conc)
		o->conc = 1;
	if (!o->count && o->duration <= 0)
		o->count = DEFAULT_COUNT;
	for (i = 0; i < (unsigned int)o->nsizes; i++)
		if (o->sizes[i] > maxsz)
			maxsz = o->sizes[i];
	c.nslots = o->conc + o->bg_conc;
	c.slots = calloc(c.nslots, sizeof(*c.slots));
	c.buf = malloc(maxsz ? maxsz : 1);
	if (!c.slots || !c.buf) {
		fprintf(stderr, "smt-echo: out of memory\n");
		free(c.slots);
		free(c.buf);
		return 1;
	}
	if (!o->seed && getrandom(&o->seed, sizeof(o->seed), 0) < 0)
		o->seed = (uint64_t)time(NULL);
	c.next_seed = o->seed;
	if (open_session(o, true, &c.ep, &c.sid) < 0) {
		free(c.slots);
		free(c.buf);
		return 1;
	}

	t0 = now_ns();
	if (o->duration > 0)
		deadline = t0 + (uint64_t)(o->duration * 1e9);
	while (!stop) {
		more = (!o->count || c.sent < o->count) &&
		       (!deadline || now_ns() < deadline);
		if (!more && !c.busy_fg)
			break;
		for (i = 0; i < c.nslots; i++) {
			bool bg = i >= o->conc;

			if (c.slots[i].busy || (!bg && !more))
				continue;
			if (bg && !more)
				continue;
			if (client_send(&c, i, bg) == -EAGAIN)
				break;
			if (c.last_err && c.last_err != -EAGAIN) {
				fprintf(stderr, "smt-echo: send: %s\n",
					smt_strerror(c.last_err));
				stop = 1;
				break;
			}
			if (!bg && o->count && c.sent >= o->count)
				more = false;
		}
		rc = smt_wait(c.ep, 50);
		if (rc < 0 && rc != -EINTR) {
			fprintf(stderr, "smt-echo: event loop: %s\n",
				smt_strerror(rc));
			break;
		}
		client_recv(&c);
	}
	secs = (now_ns() - t0) / 1e9;
	/* stop the background transfers; give ACKs a moment to go out */
	for (i = 0; i < c.nslots; i++)
		if (c.slots[i].busy && c.slots[i].bg)
			smt_cancel(c.ep, c.sid, c.slots[i].id);
	drain_end = now_ns() + 50000000ULL;
	while (now_ns() < drain_end) {
		smt_wait(c.ep, 5);
		client_recv(&c);
	}
	client_report(&c, secs);
	rc = (c.failed || c.bad || c.bg_bad || c.busy_fg ||
	      (o->count && c.ok != o->count) || stop == 2)
		     ? 1
		     : 0;
	smt_endpoint_close(c.ep);
	free(c.all.v);
	free(c.bg.v);
	for (i = 0; i < MAX_SIZES; i++)
		free(c.per[i].v);
	free(c.slots);
	free(c.buf);
	return rc;
}

/* ---- keygen -------------------------------------------------------------- */

static int parse_hostport(const char *s, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	size_t hl;
	long port;

	if (!colon)
		return -1;
	hl = (size_t)(colon - s);
	if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = 0;
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr)) {
		ss->ss_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host,
		      &((struct sockaddr_in6 *)ss)->sin6_addr)) {
		ss->ss_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -1;
}

static int run_keygen(int argc, char **argv)
{
	struct smt_keylog kl = {.B = 48, .max_msg = 1u << 20};
	const char *client = NULL, *server = NULL, *cipher_s = NULL;
	const struct tool_opt opts[] = {
		OPT_STR("client", 'c', &client),
		OPT_STR("server", 's', &server),
		OPT_STR("cipher", 'C', &cipher_s),
		OPT_FN("max-msg", 'M', &kl.max_msg, opt_size),
		OPT_ATOI("b", 'B', &kl.B),
		OPT_ATOI("epoch", 'e', &kl.epoch),
	};
	enum smt_cipher cipher = SMT_CIPHER_AES_128_GCM;
	bool have_c, have_s;
	char line[1024], err[TOOL_OPTS_ERR_LEN];
	int n;

	n = tool_opts_parse(argc, argv, "", opts, TOOL_OPTS_N(opts), err,
			    sizeof(err));
	if (n == TOOL_OPTS_BAD)
		return 2;
	if (n) {
		usage(stderr);
		return 2;
	}
	if (cipher_s)
		cipher = smt_cipher_from_name(cipher_s);
	have_c = client && parse_hostport(client, &kl.client) == 0;
	have_s = server && parse_hostport(server, &kl.server) == 0;
	if (!have_c || !have_s || cipher == SMT_CIPHER_NONE) {
		fprintf(stderr, "smt-echo keygen: need --client IP:PORT and "
				"--server IP:PORT (and a known --cipher)\n");
		return 2;
	}
	/* the limits a receiver checks when it reads the line
	 * (docs/protocol.md 6.1 and 7): refused here, not by the server */
	if (kl.max_msg < 1 || kl.max_msg > SMT_M_MAX) {
		fprintf(stderr,
			"smt-echo keygen: --max-msg %" PRIu32
			": M must be 1 .. %u bytes (64 MiB, the protocol's "
			"largest message)\n",
			kl.max_msg, SMT_M_MAX);
		return 2;
	}
	if (kl.B < SMT_B_MIN || kl.B > SMT_B_MAX || kl.epoch > 255) {
		fprintf(stderr,
			"smt-echo keygen: --b must be %u .. %u and "
			"--epoch 0 .. 255\n",
			(unsigned int)SMT_B_MIN, (unsigned int)SMT_B_MAX);
		return 2;
	}
	if (smt_limits_check(&(struct smt_limits){kl.B, kl.max_msg, 0})) {
		fprintf(stderr,
			"smt-echo keygen: --max-msg %" PRIu32
			": a message of M bytes needs more records than "
			"B = %u can number (docs/protocol.md 6)\n",
			kl.max_msg, kl.B);
		return 2;
	}
	kl.keys.cipher = cipher;
	kl.keys.key_len = smt_cipher_key_len(cipher);
	if (getrandom(kl.keys.c_key, sizeof(kl.keys.c_key), 0) < 0 ||
	    getrandom(kl.keys.s_key, sizeof(kl.keys.s_key), 0) < 0 ||
	    getrandom(kl.keys.c_iv, sizeof(kl.keys.c_iv), 0) < 0 ||
	    getrandom(kl.keys.s_iv, sizeof(kl.keys.s_iv), 0) < 0) {
		fprintf(stderr, "smt-echo keygen: getrandom: %s\n",
			strerror(errno));
		return 1;
	}
	n = smt_keylog_format(&kl, line, sizeof(line));
	smt_keys_wipe(&kl.keys);
	if (n < 0) {
		fprintf(stderr, "smt-echo keygen: cannot format the line\n");
		return 1;
	}
	fputs(line, stdout);
	explicit_bzero(line, sizeof(line));
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct sigaction sa = {.sa_handler = on_signal};
	const char *mode;

	if (util_version_arg(argc, argv, "smt-echo"))
		return 0;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	mode = argv[1];
	if (!strcmp(mode, "-h") || !strcmp(mode, "--help") ||
	    !strcmp(mode, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(mode, "keygen"))
		return run_keygen(argc - 1, argv + 1);
	if (strcmp(mode, "server") && strcmp(mode, "client")) {
		fprintf(stderr,
			"smt-echo: unknown mode '%s' (server, client, "
			"keygen)\n",
			mode);
		return 2;
	}
	if (parse_opts(argc - 1, argv + 1, &o) < 0) {
		usage(stderr);
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return !strcmp(mode, "server") ? run_server(&o) : run_client(&o);
}
