// SPDX-License-Identifier: BSD-2-Clause
/*
 * smtctl objects answered by smtd over the control socket: session
 * (list|show|del), peer list, service list and stats (smtd's counters, plus
 * whatever stats providers such as the BPF one add).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctlproto.h"
#include "smtctl.h"

struct smtctl_stats_provider *smtctl_stats_providers(void);

static json_object *op(const char *name)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "op", json_object_new_string(name));
	return o;
}

/* Take field key out of resp (keeping it alive), then drop resp. */
static json_object *take(json_object *resp, const char *key)
{
	json_object *v = NULL;

	if (json_object_object_get_ex(resp, key, &v))
		json_object_get(v);
	json_object_put(resp);
	return v ? v : json_object_new_array();
}

static int parse_sid(struct smtctl_ctx *ctx, int argc, char **argv,
		     uint32_t *sid)
{
	char *end;
	unsigned long v;

	if (argc == 2 && smtctl_is_prefix(argv[0], "id")) {
		argc--;
		argv++;
	}
	if (argc != 1)
		return smtctl_err(ctx, "session: expected [id] SID");
	v = strtoul(argv[0], &end, 0);
	if (*end || !*argv[0] || v > UINT32_MAX)
		return smtctl_err(ctx, "session: bad session id '%s'", argv[0]);
	*sid = v;
	return 0;
}

static void session_table(FILE *f, json_object *arr)
{
	static const char *const cols[] = {
		"sid",	     "service",	  "role",  "local.addr", "local.port",
		"peer.addr", "peer.port", "encap", "cipher",	 "epoch",
		"age",	     "owner_pid", NULL};
	size_t i, n = json_object_array_length(arr);
	time_t now = time(NULL);

	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		int64_t c = smt_ctl_int(e, "created", 0);

		json_object_object_add(e, "age",
				       json_object_new_int64(c ? now - c : 0));
	}
	smtctl_text_table(f, arr, cols);
}

static int do_session_list(struct smtctl_ctx *ctx, int argc, char **argv)
{
	json_object *resp, *all = json_object_new_array(), *page, *req;
	int64_t from = 0;
	size_t i;

	if (argc) {
		json_object_put(all);
		return smtctl_err(ctx, "session list takes no arguments");
	}
	/* smtd answers in pages that each fit in one control line */
	do {
		req = op("session_list");
		json_object_object_add(req, "from",
				       json_object_new_int64(from));
		if (smtctl_request(ctx, req, &resp)) {
			json_object_put(all);
			return 1;
		}
		from = smt_ctl_int(resp, "next", -1);
		page = take(resp, "sessions");
		for (i = 0; i < json_object_array_length(page); i++)
			json_object_array_add(
				all, json_object_get(json_object_array_get_idx(
					     page, i)));
		json_object_put(page);
	} while (from > 0);
	smtctl_emit(ctx, all, session_table);
	return 0;
}

static int do_session_show(struct smtctl_ctx *ctx, int argc, char **argv)
{
	json_object *req, *resp;
	uint32_t sid;

	if (parse_sid(ctx, argc, argv, &sid))
		return 1;
	req = op("session_show");
	json_object_object_add(req, "sid", json_object_new_int64(sid));
	if (smtctl_request(ctx, req, &resp))
		return 1;
	smtctl_emit(ctx, take(resp, "session"), NULL);
	return 0;
}

static int do_session_del(struct smtctl_ctx *ctx, int argc, char **argv)
{
	json_object *req, *resp;
	uint32_t sid;

	if (parse_sid(ctx, argc, argv, &sid))
		return 1;
	req = op("session_del");
	json_object_object_add(req, "sid", json_object_new_int64(sid));
	if (smtctl_request(ctx, req, &resp))
		return 1;
	if (ctx->json)
		smtctl_emit(ctx, resp, NULL);
	else
		json_object_put(resp);
	return 0;
}

static const struct smtctl_cmd session_cmds[] = {
	{"list", do_session_list, "", "list the sessions smtd knows"},
	{"show", do_session_show, "[id] SID", "show one session (no keys)"},
	{"del", do_session_del, "[id] SID",
	 "end a session: its application is told to close it"},
	{0}};
SMTCTL_OBJECT_DFLT(session, "sessions set up by smtd", session_cmds,
		   do_session_list);

static void peer_table(FILE *f, json_object *arr)
{
	static const char *const cols[] = {"addr", "sessions", "services",
					   NULL};

	smtctl_text_table(f, arr, cols);
}

static int do_peer_list(struct smtctl_ctx *ctx, int argc, char **argv)
{
	json_object *resp;

	if (argc)
		return smtctl_err(ctx, "peer list takes no arguments");
	if (smtctl_request(ctx, op("peer_list"), &resp))
		return 1;
	smtctl_emit(ctx, take(resp, "peers"), peer_table);
	return 0;
}

static const struct smtctl_cmd peer_cmds[] = {
	{"list", do_peer_list, "", "hosts this host has sessions with"}, {0}};
SMTCTL_OBJECT_DFLT(peer, "remote hosts with sessions", peer_cmds, do_peer_list);

static void service_table(FILE *f, json_object *arr)
{
	static const char *const cols[] = {"name",	   "port",     "uids",
					   "servers",	   "sessions", "encap",
					   "served_encap", NULL};

	smtctl_text_table(f, arr, cols);
}

static int do_service_list(struct smtctl_ctx *ctx, int argc, char **argv)
{
	json_object *resp;

	if (argc)
		return smtctl_err(ctx, "service list takes no arguments");
	if (smtctl_request(ctx, op("service_list"), &resp))
		return 1;
	smtctl_emit(ctx, take(resp, "services"), service_table);
	return 0;
}

static const struct smtctl_cmd service_cmds[] = {
	{"list", do_service_list, "",
	 "configured services, their SMT ports, allowed uids, servers, "
	 "encapsulations allowed and served"},
	{0}};
SMTCTL_OBJECT_DFLT(service, "services configured in smtd", service_cmds,
		   do_service_list);

/* smtctl ticket export SERVICE: the ticket text on stdout, for a file that
 * clients put in their [tickets] dir (docs/protocol.md 6.3) */
static int do_ticket_export(struct smtctl_ctx *ctx, int argc, char **argv)
{
	json_object *req, *resp;

	if (argc != 1)
		return smtctl_err(ctx, "usage: ticket export SERVICE");
	req = op("ticket_export");
	json_object_object_add(req, "service", json_object_new_string(argv[0]));
	if (smtctl_request(ctx, req, &resp))
		return 1;
	if (ctx->json)
		smtctl_emit(ctx, resp, NULL);
	else {
		fputs(smt_ctl_str(resp, "ticket", ""), stdout);
		json_object_put(resp);
	}
	return 0;
}

static const struct smtctl_cmd ticket_cmds[] = {
	{"export", do_ticket_export, "SERVICE",
	 "print a new SMT-ticket of SERVICE (0-RTT for clients that hold it)"},
	{0}};
SMTCTL_OBJECT(ticket, "SMT-tickets this smtd issues", ticket_cmds);

/* a / b of two counters of o, or nothing when b is 0 */
static void ratio(json_object *o, const char *name, const char *a,
		  const char *b)
{
	json_object *va, *vb;
	double den;

	if (!json_object_object_get_ex(o, a, &va) ||
	    !json_object_object_get_ex(o, b, &vb))
		return;
	den = (double)json_object_get_int64(vb);
	if (den > 0)
		json_object_object_add(
			o, name,
			json_object_new_double(
				(double)json_object_get_int64(va) / den));
}

/* What the applications' counters say about the cost of their I/O:
 * datagrams per UDP GSO send and per receive call, and send plus receive
 * system calls per message received (an RPC's worth on either side). */
static void apps_ratios(json_object *stats)
{
	json_object *apps, *calls;

	if (!json_object_object_get_ex(stats, "apps", &apps) ||
	    !json_object_object_get_ex(apps, "tx_calls", &calls))
		return;
	ratio(apps, "gso_segments_per_send", "tx_gso_segments", "tx_gso_sends");
	ratio(apps, "datagrams_per_rx_call", "rx_packets", "rx_calls");
	json_object_object_add(
		apps, "syscalls",
		json_object_new_int64(json_object_get_int64(calls) +
				      smt_ctl_int(apps, "rx_calls", 0)));
	ratio(apps, "syscalls_per_rpc", "syscalls", "rx_msgs");
}

static int do_stats_show(struct smtctl_ctx *ctx, int argc, char **argv)
{
	struct smtctl_stats_provider *p;
	json_object *resp, *stats, *notes = json_object_new_array();
	char buf[256];

	if (argc)
		return smtctl_err(ctx, "stats takes no arguments");
	if (smtctl_request(ctx, op("stats"), &resp)) {
		json_object_put(notes);
		return 1;
	}
	stats = take(resp, "stats");
	apps_ratios(stats);
	for (p = smtctl_stats_providers(); p; p = p->next) {
		int err = p->fn(ctx, stats);

		if (err) {
			snprintf(buf, sizeof(buf), "%s: unavailable (%s)",
				 p->name, strerror(-err));
			json_object_array_add(notes,
					      json_object_new_string(buf));
		}
	}
	if (json_object_array_length(notes))
		json_object_object_add(stats, "notes", notes);
	else
		json_object_put(notes);
	smtctl_emit(ctx, stats, NULL);
	return 0;
}

static const struct smtctl_cmd stats_cmds[] = {
	{"show", do_stats_show, "",
	 "counters and drop reasons by name (smtd, applications, BPF)"},
	{0}};
SMTCTL_OBJECT_DFLT(stats, "counters and drop reasons", stats_cmds,
		   do_stats_show);
