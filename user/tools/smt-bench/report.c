// SPDX-License-Identifier: BSD-2-Clause
/*
 * What smt-bench writes: raw.csv (one row per test point, transport and
 * round, written as they complete), then the medians over rounds of every
 * metric (summary.csv, bench.json), the ratios of SMT (natively on IP and
 * over UDP, side by side) to each baseline and to each other, the
 * tables of summary.md (also printed on stdout) and the data files that
 * scripts/bench-plot.gp turns into PNGs. A failed point is kept in raw.csv
 * with its errors and left out of the medians.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bench.h"

static const char *const test_names[TEST_COUNT] = {"latency",
						   "throughput",
						   "hol",
						   "setup",
						   "goodput",
						   "setup-smtd",
						   "threads",
						   "setup-resume",
						   "setup-concurrent",
						   "setup-smtd-resumed",
						   "setup-smtd-0rtt",
						   "setup-smt-ticket",
						   "setup-tls-mutual"};

bool test_via_smtd(enum bench_test t)
{
	return t == TEST_SETUP_SMTD || t == TEST_SETUP_CONC ||
	       t == TEST_SETUP_SMTD_RES || t == TEST_SETUP_SMTD_0RTT ||
	       t == TEST_SETUP_SMTD_TKT;
}

const char *test_name(enum bench_test t)
{
	return t < TEST_COUNT ? test_names[t] : "?";
}

int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double pct_us(const uint64_t *sorted, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	/* Nearest rank: the smallest sample with at least q of them at or
	 * below it. */
	i = (size_t)ceil(q * n);
	if (i)
		i--;
	if (i >= n)
		i = n - 1;
	return sorted[i] / 1e3;
}

/* ---- metrics, by name, for every output --------------------------------- */

enum metric {
	M_N,
	M_RPS,
	M_MBPS,
	M_P50,
	M_P90,
	M_P99,
	M_P999,
	M_MEAN,
	M_CPU_CLI,
	M_CPU_SRV,
	M_RETRIES,
	M_ERRORS,
	M_LARGE,
	M_READY,
	M_FAILED,
	M_THREADS,
	M_SYSCALLS,
	M_GSO_SEGS,
	M_RX_PER_CALL,
	M_RTX,
	M_DUP_IN,
	M_SPURIOUS_IN,
	M_RTO,
	M_CPU_SMTD_CLI,
	M_CPU_SMTD_SRV,
	M_HOSTBPF,
	M_PKTS,
	M_SETUP_FAILED,
	M_PROBES,
	M_PROBES_SAVED,
	M_COUNT
};

static const char *const metric_names[M_COUNT] = {
	"n",
	"rps",
	"goodput_MBps",
	"p50_us",
	"p90_us",
	"p99_us",
	"p999_us",
	"mean_us",
	"cpu_client_us_per_rpc",
	"cpu_server_us_per_rpc",
	"retries",
	"errors",
	"large_rpcs",
	"ready_p50_us",
	"rpcs_failed",
	"threads",
	"syscalls_client_per_rpc",
	"gso_segments_per_send",
	"datagrams_per_rx_call",
	"smt_retransmits",
	"smt_dup_data_in",
	"smt_spurious_rtx_in",
	"smt_rto_us",
	"cpu_smtd_client_us_per_setup",
	"cpu_smtd_server_us_per_setup",
	"host_bpf",
	"packets_per_rpc",
	"setups_failed",
	"smt_probes",
	"smt_probes_saved"};

static double metric(const struct result *r, enum metric m)
{
	switch (m) {
	case M_N:
		return r->n;
	case M_RPS:
		return r->rps;
	case M_MBPS:
		return r->goodput_MBps;
	case M_P50:
		return r->p50;
	case M_P90:
		return r->p90;
	case M_P99:
		return r->p99;
	case M_P999:
		return r->p999;
	case M_MEAN:
		return r->mean;
	case M_CPU_CLI:
		return r->cpu_cli;
	case M_CPU_SRV:
		return r->cpu_srv;
	case M_RETRIES:
		return r->retries;
	case M_ERRORS:
		return r->errors;
	case M_LARGE:
		return r->large_n;
	case M_READY:
		return r->ready_p50;
	case M_FAILED:
		return r->rpc_failed;
	case M_SETUP_FAILED:
		return r->setup_failed;
	case M_THREADS:
		return r->threads ? r->threads : 1;
	case M_SYSCALLS:
		return r->io ? r->syscalls_cli : NAN;
	case M_GSO_SEGS:
		return r->io ? r->gso_segs : NAN;
	case M_RX_PER_CALL:
		return r->io ? r->rx_per_call : NAN;
	case M_RTX:
		return r->smt_rtx;
	case M_DUP_IN:
		return r->smt_dup_in;
	case M_SPURIOUS_IN:
		return r->smt_spurious_in;
	case M_RTO:
		return r->smt_rto_us;
	case M_PROBES:
		return r->smt_probes;
	case M_PROBES_SAVED:
		return r->smt_probes_saved;
	case M_CPU_SMTD_CLI:
		return test_via_smtd(r->test) ? r->cpu_smtd_cli : NAN;
	case M_CPU_SMTD_SRV:
		return test_via_smtd(r->test) ? r->cpu_smtd_srv : NAN;
	case M_HOSTBPF:
		return r->hostbpf;
	case M_PKTS:
		return r->pkts_rpc > 0 ? r->pkts_rpc : NAN;
	default:
		return 0;
	}
}

/* ---- raw rows ----------------------------------------------------------- */

static FILE *raw;

static void csv_key(FILE *f, const struct result *r)
{
	fprintf(f, "%s,%s,%u,%u,%u,%.2f", test_name(r->test), tp_name(r->tp),
		r->size, r->resp_size, r->load, r->loss_ppm / 1e4);
}

static void csv_metrics(FILE *f, const double *v)
{
	for (int m = 0; m < M_COUNT; m++)
		fprintf(f, ",%.3f", v[m]);
	fputc('\n', f);
}

static void csv_header(FILE *f, const char *first)
{
	fprintf(f, "%stest,transport,size,resp_size,outstanding,loss_pct",
		first);
	for (int m = 0; m < M_COUNT; m++)
		fprintf(f, ",%s", metric_names[m]);
	fputc('\n', f);
}

int report_raw_open(const char *out_dir)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/raw.csv", out_dir);
	raw = fopen(path, "w");
	if (!raw)
		return -errno;
	csv_header(raw, "round,");
	return 0;
}

void report_raw_row(const struct result *r)
{
	double v[M_COUNT];

	if (!raw)
		return;
	for (int m = 0; m < M_COUNT; m++)
		v[m] = metric(r, m);
	fprintf(raw, "%d,", r->round);
	csv_key(raw, r);
	csv_metrics(raw, v);
	fflush(raw);
}

void report_raw_close(void)
{
	if (raw)
		fclose(raw);
	raw = NULL;
}

/* ---- HOL samples, pooled over rounds ------------------------------------ */

#define MAX_LOSSES 16

static struct hol_pool {
	uint32_t loss_ppm;
	uint64_t *ns;
	size_t n, cap;
} hol[TP_COUNT][MAX_LOSSES];

int report_add_hol_samples(enum bench_tp tp, uint32_t loss_ppm,
			   const uint64_t *ns, size_t n)
{
	struct hol_pool *p = NULL;

	for (int i = 0; i < MAX_LOSSES && !p; i++) {
		if (hol[tp][i].cap && hol[tp][i].loss_ppm == loss_ppm)
			p = &hol[tp][i];
		else if (!hol[tp][i].cap)
			p = &hol[tp][i];
	}
	if (!p)
		return -ENOSPC;
	p->loss_ppm = loss_ppm;
	if (p->n + n > p->cap) {
		size_t cap = (p->n + n) * 2;
		uint64_t *q = realloc(p->ns, cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		p->ns = q;
		p->cap = cap;
	}
	memcpy(p->ns + p->n, ns, n * sizeof(*ns));
	p->n += n;
	return 0;
}

static struct hol_pool *hol_find(int tp, uint32_t loss_ppm)
{
	for (int j = 0; j < MAX_LOSSES; j++)
		if (hol[tp][j].cap && hol[tp][j].loss_ppm == loss_ppm)
			return &hol[tp][j];
	return NULL;
}

/* ---- medians ------------------------------------------------------------ */

struct srow {
	struct result key; /* test, tp, size, resp_size, load, loss_ppm */
	int rounds;
	double med[M_COUNT];
};

static bool same_key(const struct result *a, const struct result *b)
{
	return a->test == b->test && a->tp == b->tp && a->size == b->size &&
	       a->resp_size == b->resp_size && a->load == b->load &&
	       a->loss_ppm == b->loss_ppm && a->threads == b->threads &&
	       a->hostbpf == b->hostbpf;
}

/* A point that ran: no hard error, and RPCs completed (or, in the
 * head-of-line test, small RPCs issued in the window finished after it). */
static bool ok_row(const struct result *r)
{
	return !r->errors && (r->n || r->p50 > 0);
}

static size_t summarize(const struct result *r, size_t n, struct srow *out)
{
	double *v = calloc(n ? n : 1, sizeof(*v));
	size_t ns = 0;

	for (size_t i = 0; v && i < n; i++) {
		bool seen = false;
		struct srow *s;

		for (size_t j = 0; j < ns && !seen; j++)
			seen = same_key(&out[j].key, &r[i]);
		if (seen)
			continue;
		s = &out[ns++];
		memset(s, 0, sizeof(*s));
		s->key = r[i];
		for (int m = 0; m < M_COUNT; m++) {
			size_t k = 0;

			for (size_t j = i; j < n; j++)
				if (same_key(&r[j], &r[i]) && ok_row(&r[j]))
					v[k++] = metric(&r[j], m);
			s->rounds = (int)k;
			if (!k) {
				s->med[m] = NAN;
				continue;
			}
			qsort(v, k, sizeof(*v), cmp_double);
			s->med[m] = k % 2 ? v[k / 2]
					  : (v[k / 2 - 1] + v[k / 2]) / 2;
		}
	}
	free(v);
	return ns;
}

static const struct srow *find(const struct srow *s, size_t n,
			       enum bench_test t, enum bench_tp tp,
			       uint32_t size, uint32_t load, uint32_t loss)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].key.test == t && s[i].key.tp == tp &&
		    s[i].key.size == size && s[i].key.load == load &&
		    s[i].key.loss_ppm == loss && s[i].rounds)
			return &s[i];
	return NULL;
}

static double get(const struct srow *s, size_t n, enum bench_test t,
		  enum bench_tp tp, uint32_t size, uint32_t load, uint32_t loss,
		  enum metric m)
{
	const struct srow *r = find(s, n, t, tp, size, load, loss);

	return r ? r->med[m] : NAN;
}

/* ---- text output -------------------------------------------------------- */

static FILE *md;

/* Prints to stdout and summary.md alike. */
static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (md) {
		va_start(ap, fmt);
		vfprintf(md, fmt, ap);
		va_end(ap);
	}
}

static void num(double v, int prec)
{
	if (isnan(v))
		out(" | -");
	else
		out(" | %.*f", prec, v);
}

/* "a / b" cell, "-" when a is missing. */
static void pair(double a, double b, int prec)
{
	if (isnan(a))
		out(" | -");
	else
		out(" | %.*f / %.*f", prec, a, prec, b);
}

static void ratio(double a, double b)
{
	if (isnan(a) || isnan(b) || b == 0)
		out(" | -");
	else
		out(" | %.2f", a / b);
}

static const enum bench_tp show[] = {TP_SMT, TP_SMTU, TP_QUIC,
				     TP_TLS, TP_TCP,  TP_UDP};
#define NSHOW 6

static bool have_tp(const struct srow *s, size_t n, enum bench_tp tp)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].key.tp == tp && s[i].rounds)
			return true;
	return false;
}

static const char *size_str(uint32_t v, char *buf)
{
	if (v >= 1048576 && !(v % 1048576))
		sprintf(buf, "%u MiB", v / 1048576);
	else if (v >= 1024 && !(v % 1024))
		sprintf(buf, "%u KiB", v / 1024);
	else
		sprintf(buf, "%u B", v);
	return buf;
}

/* Distinct values of a key field among rows of test t, in first-seen
 * order. */
static int distinct(const struct srow *s, size_t n, enum bench_test t,
		    int field, uint32_t *vals, int max)
{
	int k = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t v;
		bool dup = false;

		if (s[i].key.test != t)
			continue;
		v = field == 0	 ? s[i].key.size
		    : field == 1 ? s[i].key.load
				 : s[i].key.loss_ppm;
		for (int j = 0; j < k && !dup; j++)
			dup = vals[j] == v;
		if (!dup && k < max)
			vals[k++] = v;
	}
	return k;
}

/*
 * Columns: every transport, then the ratios of each SMT (smt-ip natively on
 * IP, smt-udp over UDP) to QUIC, TLS, TCP and (ratios_udp) the UDP
 * baseline, and of SMT over UDP to SMT natively on IP.
 */
static void head(const char *first, const char *per, bool ratios_udp)
{
	int cols = 0;

	out("| %s", first);
	for (int i = 0; i < NSHOW; i++, cols++)
		out(" | %s %s", tp_label(show[i]), per);
	out(" | smt-ip/quic | smt-udp/quic | smt-ip/tls | smt-udp/tls | "
	    "smt-ip/tcp | smt-udp/tcp%s | smt-udp/smt-ip |\n|---",
	    ratios_udp ? " | smt-ip/udp | smt-udp/udp" : "");
	for (int i = 0; i < cols + 7 + 2 * ratios_udp; i++)
		out("|---");
	out("|\n");
}

static void ratios(const double *v, bool udp)
{
	ratio(v[TP_SMT], v[TP_QUIC]);
	ratio(v[TP_SMTU], v[TP_QUIC]);
	ratio(v[TP_SMT], v[TP_TLS]);
	ratio(v[TP_SMTU], v[TP_TLS]);
	ratio(v[TP_SMT], v[TP_TCP]);
	ratio(v[TP_SMTU], v[TP_TCP]);
	if (udp) {
		ratio(v[TP_SMT], v[TP_UDP]);
		ratio(v[TP_SMTU], v[TP_UDP]);
	}
	ratio(v[TP_SMTU], v[TP_SMT]);
	out(" |\n");
}

/* One cell pair of the targets table: measured value, verdict. */
static void target_cell(double v, const char *op, double goal, char *verdict,
			size_t len)
{
	bool met = !strcmp(op, "<=")  ? v <= goal
		   : !strcmp(op, "<") ? v < goal
				      : v >= goal;

	if (isnan(v) || isinf(v)) {
		out(" | not measured");
		snprintf(verdict, len, "-");
		return;
	}
	out(" | %.*f", goal >= 100 ? 0 : 2, v);
	snprintf(verdict, len, "%s", met ? "met" : "MISSED");
}

/* One line of the targets table: the value SMT natively on IP and SMT over
 * UDP measured against the target. */
static void target(const char *what, double v, double vu, const char *op,
		   double goal)
{
	char a[16], b[16];

	out("| %s", what);
	target_cell(v, op, goal, a, sizeof(a));
	target_cell(vu, op, goal, b, sizeof(b));
	out(" | %s %.*f | %s | %s |\n", op, goal >= 100 ? 0 : 2, goal, a, b);
}

/* "k of n sizes below[; not at ...]" and its verdict: SMT (tp) below TLS in
 * unloaded p50 at every size. */
static void below_tls(const struct srow *s, size_t n, enum bench_tp tp,
		      char *cell, size_t len, const char **verdict)
{
	uint32_t vals[64];
	int nv = distinct(s, n, TEST_LAT, 0, vals, 64);
	int slower = 0, measured = 0;
	char b[32], list[256] = "";

	for (int i = 0; i < nv; i++) {
		double a = get(s, n, TEST_LAT, tp, vals[i], 1, 0, M_P50);
		double t = get(s, n, TEST_LAT, TP_TLS, vals[i], 1, 0, M_P50);

		if (isnan(a) || isnan(t))
			continue;
		measured++;
		if (a >= t) {
			slower++;
			snprintf(list + strlen(list),
				 sizeof(list) - strlen(list), "%s%s",
				 slower > 1 ? ", " : "", size_str(vals[i], b));
		}
	}
	if (!measured) {
		snprintf(cell, len, "not measured");
		*verdict = "-";
		return;
	}
	snprintf(cell, len, "%d of %d sizes below%s%s", measured - slower,
		 measured, slower ? "; not at " : "", list);
	*verdict = slower ? "MISSED" : "met";
}

/* get() of tp divided by get() of base. */
static double rel(const struct srow *s, size_t n, enum bench_test t,
		  enum bench_tp tp, enum bench_tp base, uint32_t size,
		  uint32_t load, uint32_t loss, enum metric m)
{
	return get(s, n, t, tp, size, load, loss, m) /
	       get(s, n, t, base, size, load, loss, m);
}

/* p99 of the pooled HOL samples of tp over base's, at loss. */
static double hol_pool_ratio(enum bench_tp tp, enum bench_tp base,
			     uint32_t loss)
{
	struct hol_pool *ps = hol_find(tp, loss);
	struct hol_pool *pt = hol_find(base, loss);

	/* Pools are sorted by now (hol_pooled). */
	return ps && pt && ps->n && pt->n ? pct_us(ps->ns, ps->n, 0.99) /
						    pct_us(pt->ns, pt->n, 0.99)
					  : NAN;
}

/* Median 1 MiB goodput of tp (the goodput test's only point), NAN if none. */
static double goodput_of(const struct srow *s, size_t n, enum bench_tp tp)
{
	double gp = NAN;

	for (size_t i = 0; i < n; i++)
		if (s[i].key.test == TEST_GOODPUT && s[i].key.tp == tp &&
		    s[i].rounds)
			gp = s[i].med[M_MBPS];
	return gp;
}

static double goodput_core(const struct srow *s, size_t n, enum bench_tp tp,
			   const struct report_info *info)
{
	return info->aes_MBps > 0 ? goodput_of(s, n, tp) / info->aes_MBps : NAN;
}

static const struct srow *threads_row(const struct srow *s, size_t n,
				      enum bench_tp tp, uint32_t th);

/* CPU per RPC (client + server) of tp over TLS's, in the throughput test. */
static double cpu_rel_tls(const struct srow *s, size_t n, enum bench_tp tp,
			  uint32_t size, uint32_t load)
{
	const struct srow *a = find(s, n, TEST_TPUT, tp, size, load, 0);
	const struct srow *t = find(s, n, TEST_TPUT, TP_TLS, size, load, 0);

	return a && t ? (a->med[M_CPU_CLI] + a->med[M_CPU_SRV]) /
				(t->med[M_CPU_CLI] + t->med[M_CPU_SRV])
		      : NAN;
}

/* The pooled head-of-line p99 of tp at loss, in microseconds. */
static double hol_pool_p99(enum bench_tp tp, uint32_t loss)
{
	struct hol_pool *p = hol_find(tp, loss);

	/* Pools are sorted by now (hol_pooled). */
	return p && p->n ? pct_us(p->ns, p->n, 0.99) : NAN;
}

/* The threads test's rate with the most threads per side over its rate
 * with one (NAN when this run had no threads test). */
static double threads_gain(const struct srow *s, size_t n, enum bench_tp tp)
{
	const struct srow *a = threads_row(s, n, tp, 1), *b = NULL;

	for (size_t i = 0; i < n; i++)
		if (s[i].key.test == TEST_THREADS && s[i].key.tp == tp &&
		    s[i].rounds && s[i].key.threads > 1 &&
		    (!b || s[i].key.threads > b->key.threads))
			b = &s[i];
	return a && b ? b->med[M_RPS] / a->med[M_RPS] : NAN;
}

/* The targets of issue 12, judged from this run's medians (reported, not
 * asserted: the closing note judges them), for SMT natively on IP and SMT
 * over UDP side by side ("SMT" in a target is the column's SMT). The two
 * that need another pass or run, 2 threads per side (the threads pass of
 * a full run) and native IP against the previous docs/performance.md, are
 * rows that scripts/bench-targets.py fills in when this run has no
 * figure for them. */
static void targets(const struct srow *s, size_t n,
		    const struct report_info *info)
{
	static const uint32_t tput_sizes[] = {64, 1024, 8192};
	char cell[2][320], what[96], b[32];
	const char *verdict[2];

	out("\n### Targets (issue 12), from the medians above\n\n"
	    "| target | smt-ip | smt-udp | goal | verdict smt-ip | verdict "
	    "smt-udp |\n|---|---|---|---|---|---|\n");
	/* the goodput point's key is not (1 MiB, 1 outstanding): found by
	 * test and transport, as the AES row does */
	target("1 MiB goodput, SMT/TLS",
	       goodput_of(s, n, TP_SMT) / goodput_of(s, n, TP_TLS),
	       goodput_of(s, n, TP_SMTU) / goodput_of(s, n, TP_TLS), ">=", 1.4);
	target("1 MiB goodput, SMT / single-core AES-GCM",
	       goodput_core(s, n, TP_SMT, info),
	       goodput_core(s, n, TP_SMTU, info), ">=", 0.6);
	below_tls(s, n, TP_SMT, cell[0], sizeof(cell[0]), &verdict[0]);
	below_tls(s, n, TP_SMTU, cell[1], sizeof(cell[1]), &verdict[1]);
	out("| unloaded p50 SMT below TLS at every size | %s | %s | all | %s "
	    "| %s |\n",
	    cell[0], cell[1], verdict[0], verdict[1]);
	target("unloaded 64 B p50, SMT/UDP",
	       rel(s, n, TEST_LAT, TP_SMT, TP_UDP, 64, 1, 0, M_P50),
	       rel(s, n, TEST_LAT, TP_SMTU, TP_UDP, 64, 1, 0, M_P50),
	       "<=", 1.1);
	for (size_t i = 0; i < sizeof(tput_sizes) / sizeof(*tput_sizes); i++) {
		uint32_t sz = tput_sizes[i];

		snprintf(what, sizeof(what),
			 "%s, 32 outstanding: RPC rate SMT/TLS",
			 size_str(sz, b));
		target(what,
		       rel(s, n, TEST_TPUT, TP_SMT, TP_TLS, sz, 32, 0, M_RPS),
		       rel(s, n, TEST_TPUT, TP_SMTU, TP_TLS, sz, 32, 0, M_RPS),
		       ">=", 1.4);
		snprintf(what, sizeof(what),
			 "%s, 32 outstanding: CPU per RPC SMT/TLS",
			 size_str(sz, b));
		target(what, cpu_rel_tls(s, n, TP_SMT, sz, 32),
		       cpu_rel_tls(s, n, TP_SMTU, sz, 32), "<", 1.0);
	}
	target("head-of-line, 1 % loss: small-RPC p99, us",
	       get(s, n, TEST_HOL, TP_SMT, 64, 1, 10000, M_P99),
	       get(s, n, TEST_HOL, TP_SMTU, 64, 1, 10000, M_P99), "<=", 1000);
	target("head-of-line, 1 % loss, pooled rounds: p99, us",
	       hol_pool_p99(TP_SMT, 10000), hol_pool_p99(TP_SMTU, 10000),
	       "<=", 1000);
	target("head-of-line, 1 % loss: small-RPC p99 SMT/TLS",
	       rel(s, n, TEST_HOL, TP_SMT, TP_TLS, 64, 1, 10000, M_P99),
	       rel(s, n, TEST_HOL, TP_SMTU, TP_TLS, 64, 1, 10000, M_P99),
	       "<=", 0.1);
	target("head-of-line, 1 % loss, pooled rounds: p99 SMT/TLS",
	       hol_pool_ratio(TP_SMT, TP_TLS, 10000),
	       hol_pool_ratio(TP_SMTU, TP_TLS, 10000), "<=", 0.1);
	target("2 threads per side: 64 B x32 RPC rate, 2 threads / 1",
	       threads_gain(s, n, TP_SMT), threads_gain(s, n, TP_SMTU),
	       ">=", 1.6);
	out("| native IP (smt-ip): no regression against the previous "
	    "docs/performance.md | not judged by smt-bench | - | no "
	    "regression | - | - |\n");
}

/* "k of n rows ahead[; not at ...]": SMT (tp) against QUIC at every row
 * of the loaded tests (throughput with more than one RPC outstanding) and
 * the large-message one (1 MiB goodput). */
static void ahead_of_quic(const struct srow *s, size_t n, enum bench_tp tp,
			  char *cell, size_t len, const char **verdict)
{
	int behind = 0, measured = 0;
	char list[256] = "", b[32];

	for (size_t i = 0; i < n; i++) {
		const struct result *k = &s[i].key;
		enum metric m = k->test == TEST_GOODPUT ? M_MBPS : M_RPS;
		double a, q;

		if (k->tp != TP_QUIC || !s[i].rounds ||
		    !((k->test == TEST_TPUT && k->load > 1) ||
		      k->test == TEST_GOODPUT))
			continue;
		a = get(s, n, k->test, tp, k->size, k->load, 0, m);
		q = s[i].med[m];
		if (isnan(a) || isnan(q))
			continue;
		measured++;
		if (a > q)
			continue;
		if (behind++ < 6)
			snprintf(list + strlen(list),
				 sizeof(list) - strlen(list), "%s%s%s x%u",
				 behind > 1 ? ", " : "",
				 k->test == TEST_GOODPUT ? "goodput " : "",
				 size_str(k->size, b), k->load);
	}
	if (!measured) {
		snprintf(cell, len, "not measured");
		*verdict = "-";
		return;
	}
	snprintf(cell, len, "%d of %d rows ahead%s%s%s", measured - behind,
		 measured, behind ? "; not at " : "", list,
		 behind > 6 ? ", ..." : "");
	*verdict = behind ? "MISSED" : "met";
}

/* The goals of issue 15: SMT against the QUIC baseline. */
static void targets_quic(const struct srow *s, size_t n)
{
	char cell[2][320];
	const char *verdict[2];

	if (!have_tp(s, n, TP_QUIC))
		return;
	out("\n### Against QUIC (issue 15), from the medians above\n\n"
	    "| goal | smt-ip | smt-udp | goal | verdict smt-ip | verdict "
	    "smt-udp |\n|---|---|---|---|---|---|\n");
	ahead_of_quic(s, n, TP_SMT, cell[0], sizeof(cell[0]), &verdict[0]);
	ahead_of_quic(s, n, TP_SMTU, cell[1], sizeof(cell[1]), &verdict[1]);
	out("| loaded and 1 MiB rows: SMT ahead of QUIC | %s | %s | all | %s "
	    "| %s |\n",
	    cell[0], cell[1], verdict[0], verdict[1]);
	target("head-of-line, 1 % loss: small-RPC p99 SMT/QUIC",
	       rel(s, n, TEST_HOL, TP_SMT, TP_QUIC, 64, 1, 10000, M_P99),
	       rel(s, n, TEST_HOL, TP_SMTU, TP_QUIC, 64, 1, 10000, M_P99),
	       "<=", 1.5);
	target("head-of-line, 1 % loss, pooled rounds: p99 SMT/QUIC",
	       hol_pool_ratio(TP_SMT, TP_QUIC, 10000),
	       hol_pool_ratio(TP_SMTU, TP_QUIC, 10000), "<=", 1.5);
}

/* The head-of-line samples of all rounds together: a round has a few
 * hundred small RPCs, so its p99 is nearly its maximum; pooled, the tail
 * is better resolved. Sorts the pools (the CDF files need them sorted). */
static void hol_pooled(const uint32_t *loss, int nloss)
{
	double v[TP_COUNT];

	out("\nPooled over all rounds: p99 / p99.9 in microseconds "
	    "(samples); ratios of p99.\n\n");
	head("loss", "p99 / p99.9 (n)", false);
	for (int i = 0; i < nloss; i++) {
		out("| %.0f %%", loss[i] / 1e4);
		for (int t = 0; t < NSHOW; t++) {
			struct hol_pool *p = hol_find(show[t], loss[i]);

			v[show[t]] = NAN;
			if (!p || !p->n) {
				out(" | -");
				continue;
			}
			qsort(p->ns, p->n, sizeof(*p->ns), cmp_u64);
			v[show[t]] = pct_us(p->ns, p->n, 0.99);
			out(" | %.0f / %.0f (%zu)", v[show[t]],
			    pct_us(p->ns, p->n, 0.999), p->n);
		}
		ratios(v, false);
	}
}

/* Whether the run measured test at all: a section without rows is left
 * out rather than printed empty. */
static bool measured(const struct srow *s, size_t n, enum bench_test test)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].key.test == test && s[i].rounds)
			return true;
	return false;
}

/* The threads test's row of transport tp with th threads per side. */
static const struct srow *threads_row(const struct srow *s, size_t n,
				      enum bench_tp tp, uint32_t th)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].key.test == TEST_THREADS && s[i].key.tp == tp &&
		    s[i].rounds && s[i].key.threads == th)
			return &s[i];
	return NULL;
}

/* CPUs kept busy by a threads-test row: its rate times the CPU per RPC
 * of both processes (NAN when the row is missing). */
static double cores_busy(const struct srow *r)
{
	return r ? r->med[M_RPS] * (r->med[M_CPU_CLI] + r->med[M_CPU_SRV]) / 1e6
		 : NAN;
}

/* The most that nth threads per side can gain over one on a machine of
 * ncpu CPUs if the CPU per RPC stays that of one thread: nth times the
 * CPUs one thread per side keeps busy, but at most ncpu, over those. */
static double threads_ceiling(const struct srow *a, uint32_t nth, long ncpu)
{
	double one = cores_busy(a);

	if (isnan(one) || one <= 0 || ncpu < 1)
		return NAN;
	return fmin(one * nth, (double)ncpu) / one;
}

/* The threads test: total RPC rate with 1 and with N threads per side,
 * their ratio, CPU per RPC, the CPUs kept busy and the ratio this
 * machine's CPUs allow, and each rate against QUIC's. */
static void threads_table(const struct srow *s, size_t n)
{
	uint32_t nth = 1, size = 0, load = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	const struct srow *qa, *qb;

	for (size_t i = 0; i < n; i++) {
		if (s[i].key.test != TEST_THREADS || !s[i].rounds)
			continue;
		size = s[i].key.size;
		load = s[i].key.load;
		if (s[i].key.threads > nth)
			nth = s[i].key.threads;
	}
	if (nth < 2)
		return;
	out("\n### Threads: %u B RPCs, %u outstanding per client thread, "
	    "median of rounds\n\n"
	    "1 thread per side: one client thread against the server's "
	    "single-threaded service; %u: %u client threads (a connection or "
	    "session each) against %u server threads (SMT over UDP: a "
	    "reuseport group of %u endpoints on one port; QUIC: a reuseport "
	    "group of %u sockets steered by connection ID, a connection per "
	    "thread). Total thousands of RPCs per second; CPU per RPC of both "
	    "processes, warm-up included; CPUs busy: the rate times the CPU "
	    "per RPC of both processes; ceiling: the %u / 1 ratio this "
	    "machine's %ld CPUs allow if the CPU per RPC stays that of one "
	    "thread per side (%u times the CPUs busy with one, at most %ld, "
	    "over those); the rate against QUIC's.\n\n"
	    "| transport | 1 thread kRPC/s | %u threads kRPC/s | %u / 1 | "
	    "cpu cli / srv us, 1 | cpu cli / srv us, %u | CPUs busy, 1 / %u "
	    "| ceiling %u / 1 | /quic, 1 | /quic, %u |\n"
	    "|---|---|---|---|---|---|---|---|---|---|\n",
	    size, load, nth, nth, nth, nth, nth, nth, ncpu, nth, ncpu, nth, nth,
	    nth, nth, nth, nth);
	qa = threads_row(s, n, TP_QUIC, 1);
	qb = threads_row(s, n, TP_QUIC, nth);
	for (int t = 0; t < NSHOW; t++) {
		const struct srow *a = threads_row(s, n, show[t], 1);
		const struct srow *b = threads_row(s, n, show[t], nth);

		if (!a && !b)
			continue;
		out("| %s", tp_label(show[t]));
		num(a ? a->med[M_RPS] / 1e3 : NAN, 1);
		num(b ? b->med[M_RPS] / 1e3 : NAN, 1);
		ratio(b ? b->med[M_RPS] : NAN, a ? a->med[M_RPS] : NAN);
		pair(a ? a->med[M_CPU_CLI] : NAN, a ? a->med[M_CPU_SRV] : NAN,
		     1);
		pair(b ? b->med[M_CPU_CLI] : NAN, b ? b->med[M_CPU_SRV] : NAN,
		     1);
		pair(cores_busy(a), cores_busy(b), 2);
		num(threads_ceiling(a, nth, ncpu), 2);
		ratio(a ? a->med[M_RPS] : NAN, qa ? qa->med[M_RPS] : NAN);
		ratio(b ? b->med[M_RPS] : NAN, qb ? qb->med[M_RPS] : NAN);
		out(" |\n");
	}
}

/* The set-up cases through smtd (smt-bench --smtd-setups). */
static const struct {
	enum bench_test test;
	const char *name;
} setup_cases[] = {
	{TEST_SETUP_SMTD, "smtd full"},
	{TEST_SETUP_SMTD_RES, "smtd resumed"},
	{TEST_SETUP_SMTD_0RTT, "smtd 0-RTT"},
	{TEST_SETUP_SMTD_TKT, "SMT-ticket 0-RTT"},
};

/* CPU per set-up, client + server, smtds included (NAN: not measured). */
static double setup_cpu_total(const struct srow *r)
{
	double c = r->med[M_CPU_CLI] + r->med[M_CPU_SRV];

	if (test_via_smtd(r->key.test))
		c += r->med[M_CPU_SMTD_CLI] + r->med[M_CPU_SMTD_SRV];
	return c;
}

/* SMT DATA sent again per set-up (the clients'), median of rounds. */
static double setup_rtx(const struct srow *r)
{
	return r->med[M_N] > 0 ? r->med[M_RTX] / r->med[M_N] : NAN;
}

static void setup_table(const struct srow *s, size_t n,
			const enum bench_tp *tps, double gap_ms)
{
	const size_t ncases = sizeof(setup_cases) / sizeof(setup_cases[0]);
	double tls = get(s, n, TEST_SETUP, TP_TLS, 64, 1, 0, M_P50);
	const struct srow *tr = find(s, n, TEST_SETUP, TP_TLS, 64, 1, 0);
	const struct srow *mr = find(s, n, TEST_SETUP_MTLS, TP_TLS, 64, 1, 0);
	double v[TP_COUNT];

	out("\n### Session set-up, median of rounds\n\n"
	    "Microseconds from nothing to a usable session (TCP connect; "
	    "TLS: connect + TLS 1.3 handshake; SMT: connect + TLS 1.3 "
	    "handshake + exporter keys + SMT session on both sides) and to "
	    "the first 64 B RPC answered, with CPU per set-up in "
	    "microseconds. \"smtd full\": smt_connect() asks the local "
	    "smtd, which runs a full TLS 1.3 handshake (mutual "
	    "certificates) with the server's smtd and hands both endpoints "
	    "the keys; \"smtd cpu\" is the two smtds' CPU per set-up "
	    "(/proc/PID/schedstat deltas), the closes of the sessions "
	    "included; \"cpu total\" adds the applications' and the smtds' "
	    "of both sides. \"smtd resumed\": a TLS 1.3 resumption with "
	    "the ticket of the previous set-up (PSK with ECDHE); \"smtd "
	    "0-RTT\": the same with the parameters in early data and the "
	    "session handed to the application at once (docs/protocol.md "
	    "6.4); \"SMT-ticket 0-RTT\": the client smtd holds the "
	    "server's SMT-ticket and hands the session over at once "
	    "(docs/protocol.md 6.3); in both 0-RTT cases the first request "
	    "usually reaches the server before its session and is held for "
	    "it there (docs/protocol.md 8.10). "
	    "The other rows key SMT in the benchmark itself "
	    "(no smtd); QUIC: the 1-RTT handshake; quic resumed: a session "
	    "ticket from the previous connection and 0-RTT, usable at once, "
	    "the first request in 0-RTT packets beside the Initial. "
	    "\"tls, mutual\": TLS/TCP full where the server also requires "
	    "and verifies the client's certificate (both issued by one CA, "
	    "leaves sent alone), the authentication of \"smtd full\"; the "
	    "targets are against tls.\n\n"
	    "\"rtx\": SMT DATA packets the clients sent again, per "
	    "set-up (a first request lost to the hand-over costs one).\n\n");
	if (gap_ms > 0)
		out("Each set-up starts %g ms after the previous one ended "
		    "(--setup-gap-ms, not timed): one client's set-ups one at "
		    "a time, each with the hosts idle, as a new client, a "
		    "failover or a scale-out meets them; the concurrent test "
		    "below loads the server.\n\n",
		    gap_ms);
	else
		out("The set-ups follow each other back to back: each "
		    "starts while the previous one's close may still be "
		    "running on both hosts.\n\n");
	out("| transport | ready p50 | first RPC p50 | first RPC p99 | "
	    "cpu cli / srv | smtd cpu cli / srv | cpu total | rtx |\n"
	    "|---|---|---|---|---|---|---|---|\n");
	for (size_t c = 0; c < ncases; c++)
		for (int u = 0; u < 2; u++) {
			const struct srow *r = find(s, n, setup_cases[c].test,
						    u ? TP_SMTU : TP_SMT, 64, 1,
						    0);

			if (!r)
				continue;
			out("| %s, %s | %.0f | %.0f | %.0f | %.0f / %.0f | "
			    "%.0f / %.0f | %.0f | %.2f |\n",
			    tp_label(u ? TP_SMTU : TP_SMT), setup_cases[c].name,
			    r->med[M_READY], r->med[M_P50], r->med[M_P99],
			    r->med[M_CPU_CLI], r->med[M_CPU_SRV],
			    r->med[M_CPU_SMTD_CLI], r->med[M_CPU_SMTD_SRV],
			    setup_cpu_total(r), setup_rtx(r));
		}
	for (int t = 0; t < NSHOW; t++) {
		const struct srow *r = find(s, n, TEST_SETUP, tps[t], 64, 1, 0);
		char rtx[16] = "-";

		if (r && tp_is_smt(tps[t]))
			snprintf(rtx, sizeof(rtx), "%.2f", setup_rtx(r));
		if (r)
			out("| %s | %.0f | %.0f | %.0f | %.0f / %.0f | - | "
			    "%.0f | %s |\n",
			    tp_label(tps[t]), r->med[M_READY], r->med[M_P50],
			    r->med[M_P99], r->med[M_CPU_CLI], r->med[M_CPU_SRV],
			    setup_cpu_total(r), rtx);
	}
	if (mr)
		out("| tls, mutual (client certificate) | %.0f | %.0f | %.0f | "
		    "%.0f / %.0f | - | %.0f | - |\n",
		    mr->med[M_READY], mr->med[M_P50], mr->med[M_P99],
		    mr->med[M_CPU_CLI], mr->med[M_CPU_SRV],
		    setup_cpu_total(mr));
	{
		const struct srow *r =
			find(s, n, TEST_SETUP_RESUME, TP_QUIC, 64, 1, 0);

		if (r)
			out("| quic resumed, 0-RTT (rejected: %.0f of %.0f) | "
			    "%.0f | %.0f | %.0f | %.0f / %.0f | - | %.0f | - "
			    "|\n",
			    r->med[M_RETRIES], r->med[M_N], r->med[M_READY],
			    r->med[M_P50], r->med[M_P99], r->med[M_CPU_CLI],
			    r->med[M_CPU_SRV], setup_cpu_total(r));
	}
	for (int t = 0; t < TP_COUNT; t++)
		v[t] = get(s, n, TEST_SETUP, t, 64, 1, 0, M_P50);
	for (int u = 0; u < 2; u++) {
		enum bench_tp tp = u ? TP_SMTU : TP_SMT;

		if (!isnan(v[tp]) && v[TP_TLS] > 0 && v[TP_TCP] > 0)
			out("%sRatios of first-RPC p50: %s/tls %.2f, "
			    "%s/tcp %.2f",
			    u ? "" : "\n", tp_label(tp), v[tp] / v[TP_TLS],
			    tp_label(tp), v[tp] / v[TP_TCP]);
		if (!isnan(v[tp]) && v[TP_QUIC] > 0)
			out(", %s/quic %.2f", tp_label(tp), v[tp] / v[TP_QUIC]);
		if (!isnan(v[tp]))
			out("\n");
	}
	for (size_t c = 0; c < ncases; c++)
		for (int u = 0; u < 2; u++) {
			const struct srow *r = find(s, n, setup_cases[c].test,
						    u ? TP_SMTU : TP_SMT, 64, 1,
						    0);

			if (!r || !(tls > 0))
				continue;
			out("%s, %s / TLS: first RPC p50 %.2f",
			    tp_label(u ? TP_SMTU : TP_SMT), setup_cases[c].name,
			    r->med[M_P50] / tls);
			if (tr && !isnan(setup_cpu_total(r)) &&
			    setup_cpu_total(tr) > 0)
				out(", CPU per set-up (both sides, smtds "
				    "included) %.2f",
				    setup_cpu_total(r) / setup_cpu_total(tr));
			if (mr && mr->med[M_P50] > 0)
				out("; / TLS mutual: first RPC p50 %.2f",
				    r->med[M_P50] / mr->med[M_P50]);
			out("\n");
		}
}

/* Many clients setting up sessions through one server smtd at once. */
static void setup_conc_table(const struct srow *s, size_t n)
{
	out("\n### Concurrent set-ups through one server smtd, median of "
	    "rounds\n\n"
	    "N client endpoints (one client smtd) call smt_connect() at "
	    "once against one server smtd; each then answers a 64 B RPC. "
	    "Set-ups per second over the whole burst, and the set-up time "
	    "(smt_connect) of each client in microseconds; failed: set-ups "
	    "that failed, and first RPCs (on a session that was set up) "
	    "that failed or whose response was never acknowledged.\n\n"
	    "| transport | clients | set-ups/s | p50 | p99 | failed set-ups "
	    "| failed first RPCs | smtd cpu cli / srv per set-up |\n"
	    "|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < n; i++) {
		const struct srow *r = &s[i];

		if (r->key.test != TEST_SETUP_CONC || !r->rounds)
			continue;
		out("| %s | %u | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f / "
		    "%.0f |\n",
		    tp_label(r->key.tp), r->key.load, r->med[M_RPS],
		    r->med[M_P50], r->med[M_P99], r->med[M_SETUP_FAILED],
		    r->med[M_FAILED], r->med[M_CPU_SMTD_CLI],
		    r->med[M_CPU_SMTD_SRV]);
	}
}

/* The row of the hostbpf pass that matches k with the programs in state
 * on (1 attached). */
static const struct srow *hostbpf_row(const struct srow *s, size_t n,
				      const struct result *k, uint32_t on)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].key.test == k->test && s[i].key.tp == k->tp &&
		    s[i].key.size == k->size && s[i].key.load == k->load &&
		    s[i].key.hostbpf == on && s[i].rounds)
			return &s[i];
	return NULL;
}

/* client --hostbpf: each throughput and goodput point without and with
 * smt_xdp and smt_tc on both hosts; what the programs cost per RPC and
 * per packet. */
static void hostbpf_table(const struct srow *s, size_t n)
{
	char b[32];

	out("### Host programs: smt_xdp and smt_tc attached on both hosts, "
	    "against none, median of rounds\n\n"
	    "Each point runs twice per round, the programs detached (off) "
	    "and attached (on), the order alternating by round. Rate: "
	    "thousands of RPCs per second (1 MiB: MB/s of requests). CPU: "
	    "client plus server process, us per RPC (1 MiB: per MiB). "
	    "Packets: both ways on the client's veth per RPC. Added per "
	    "packet: the CPU the programs add per RPC over the packets per "
	    "RPC with them attached.\n\n"
	    "| transport | point | rate off | rate on | on / off | cpu off | "
	    "cpu on | added us per RPC | packets per RPC off / on | added ns "
	    "per packet |\n|---|---|---|---|---|---|---|---|---|---|\n");
	for (int t = 0; t < NSHOW; t++) {
		for (size_t i = 0; i < n; i++) {
			const struct result *k = &s[i].key;
			const struct srow *a, *o;
			enum metric m = k->test == TEST_GOODPUT ? M_MBPS
								: M_RPS;
			double div = k->test == TEST_GOODPUT ? 1 : 1e3;
			double ca, co;

			if (k->tp != show[t] || k->hostbpf ||
			    (k->test != TEST_TPUT && k->test != TEST_GOODPUT))
				continue;
			a = hostbpf_row(s, n, k, 0);
			o = hostbpf_row(s, n, k, 1);
			ca = a ? a->med[M_CPU_CLI] + a->med[M_CPU_SRV] : NAN;
			co = o ? o->med[M_CPU_CLI] + o->med[M_CPU_SRV] : NAN;
			out("| %s | %s x%u%s", tp_label(show[t]),
			    size_str(k->size, b), k->load,
			    k->test == TEST_GOODPUT ? " (MB/s)" : "");
			num(a ? a->med[m] / div : NAN, 1);
			num(o ? o->med[m] / div : NAN, 1);
			ratio(o ? o->med[m] : NAN, a ? a->med[m] : NAN);
			num(ca, 1);
			num(co, 1);
			num(co - ca, 2);
			pair(a ? a->med[M_PKTS] : NAN, o ? o->med[M_PKTS] : NAN,
			     1);
			num(o && o->med[M_PKTS] > 0
				    ? (co - ca) * 1e3 / o->med[M_PKTS]
				    : NAN,
			    0);
			out(" |\n");
		}
	}
}

static void tables(const struct srow *s, size_t n,
		   const struct report_info *info)
{
	uint32_t vals[64], loads[64];
	char b[32];
	int nv, nl;
	double v[TP_COUNT];

	for (size_t i = 0; i < n; i++) {
		if (s[i].key.hostbpf) { /* the hostbpf pass: its table only */
			hostbpf_table(s, n);
			return;
		}
	}
	if (measured(s, n, TEST_LAT)) {
		out("### Unloaded latency (one RPC outstanding), median of rounds\n\n"
		    "p50 and p99 in microseconds; ratios of p50 (below 1: SMT "
		    "faster).\n\n");
		head("size", "p50 / p99", true);
		nv = distinct(s, n, TEST_LAT, 0, vals, 64);
		for (int i = 0; i < nv; i++) {
			out("| %s", size_str(vals[i], b));
			for (int t = 0; t < NSHOW; t++) {
				double p50 = get(s, n, TEST_LAT, show[t],
						 vals[i], 1, 0, M_P50);
				double p99 = get(s, n, TEST_LAT, show[t],
						 vals[i], 1, 0, M_P99);

				pair(p50, p99, 1);
				v[show[t]] = p50;
			}
			ratios(v, true);
		}
	}
	if (measured(s, n, TEST_TPUT)) {
		out("\n### Throughput by outstanding RPCs, median of rounds\n\n"
		    "Thousands of RPCs per second (request and response of the "
		    "size); ratios above 1: SMT faster.\n\n");
		head("size, outstanding", "kRPC/s", true);
		nv = distinct(s, n, TEST_TPUT, 0, vals, 64);
		nl = distinct(s, n, TEST_TPUT, 1, loads, 64);
		for (int i = 0; i < nv; i++) {
			for (int l = 0; l < nl; l++) {
				out("| %s, %u", size_str(vals[i], b), loads[l]);
				for (int t = 0; t < NSHOW; t++) {
					v[show[t]] = get(s, n, TEST_TPUT,
							 show[t], vals[i],
							 loads[l], 0, M_RPS);
					num(v[show[t]] / 1e3, 1);
				}
				ratios(v, true);
			}
		}

		out("\n### CPU time per RPC (throughput test), median of rounds\n\n"
		    "Microseconds of CPU (user + system) per RPC, client / server "
		    "process; softirq work is charged to whichever process the "
		    "kernel ran it in. Ratios of the sum.\n\n");
		head("size, outstanding", "cli / srv", true);
		for (int i = 0; i < nv; i++) {
			for (int l = 0; l < nl; l++) {
				if (loads[l] != 1 && loads[l] != 32 && nl > 2)
					continue;
				out("| %s, %u", size_str(vals[i], b), loads[l]);
				for (int t = 0; t < NSHOW; t++) {
					double c = get(s, n, TEST_TPUT, show[t],
						       vals[i], loads[l], 0,
						       M_CPU_CLI);
					double sv = get(s, n, TEST_TPUT,
							show[t], vals[i],
							loads[l], 0, M_CPU_SRV);

					pair(c, sv, 1);
					v[show[t]] = c + sv;
				}
				ratios(v, true);
			}
		}
	}
	if (measured(s, n, TEST_HOL)) {
		out("\n### Head-of-line blocking: 64 B RPCs sharing one "
		    "connection or session with 1 MiB RPCs, median of rounds\n\n"
		    "Small-RPC p50 / p99 in microseconds under random loss on "
		    "both hosts (UDP has no reliability and does not run); "
		    "ratios of p99.\n\n");
		head("loss", "p50 / p99", false);
		nv = distinct(s, n, TEST_HOL, 2, vals, 64);
		for (int i = 0; i < nv; i++) {
			out("| %.0f %%", vals[i] / 1e4);
			for (int t = 0; t < NSHOW; t++) {
				double p50 = get(s, n, TEST_HOL, show[t], 64, 1,
						 vals[i], M_P50);
				double p99 = get(s, n, TEST_HOL, show[t], 64, 1,
						 vals[i], M_P99);

				pair(p50, p99, 0);
				v[show[t]] = p99;
			}
			ratios(v, false);
		}
		hol_pooled(vals, nv);
		out("\n1 MiB RPCs completed per head-of-line point (median): ");
		for (int i = 0; i < nv; i++)
			for (int t = 0; t < NSHOW; t++) {
				double l = get(s, n, TEST_HOL, show[t], 64, 1,
					       vals[i], M_LARGE);

				if (!isnan(l))
					out("%s %.0f%% %.0f; ",
					    tp_label(show[t]), vals[i] / 1e4,
					    l);
			}
		out("\n");
	}
	if (measured(s, n, TEST_SETUP) || measured(s, n, TEST_SETUP_SMTD))
		setup_table(s, n, show, info->setup_gap_ms);
	if (measured(s, n, TEST_SETUP_CONC))
		setup_conc_table(s, n);
	if (measured(s, n, TEST_GOODPUT)) {
		out("\n### 1 MiB requests (64 B responses), median of rounds\n\n");
		if (info->aes_MBps > 0)
			out("Single-core AES-128-GCM (openssl speed, 16 KiB blocks): "
			    "%.0f MB/s.\n\n",
			    info->aes_MBps);
		double q = NAN; /* QUIC's goodput, for the ratios */

		for (size_t i = 0; i < n; i++)
			if (s[i].key.test == TEST_GOODPUT &&
			    s[i].key.tp == TP_QUIC && s[i].rounds)
				q = s[i].med[M_MBPS];

		out("| transport | goodput MB/s | vs AES-GCM core | p50 us | "
		    "cpu cli / srv us per MiB | /quic |\n"
		    "|---|---|---|---|---|---|\n");
		for (int t = 0; t < NSHOW; t++) {
			const struct srow *r;

			for (size_t i = 0; i < n; i++) {
				r = &s[i];
				if (r->key.test != TEST_GOODPUT ||
				    r->key.tp != show[t] || !r->rounds)
					continue;
				out("| %s | %.0f", tp_label(show[t]),
				    r->med[M_MBPS]);
				if (info->aes_MBps > 0)
					out(" | %.2f",
					    r->med[M_MBPS] / info->aes_MBps);
				else
					out(" | -");
				out(" | %.0f | %.0f / %.0f", r->med[M_P50],
				    r->med[M_CPU_CLI], r->med[M_CPU_SRV]);
				ratio(r->med[M_MBPS], q);
				out(" |\n");
			}
		}
	}
	threads_table(s, n);
	targets(s, n, info);
	targets_quic(s, n);
	out("\nTLS: %s. SMT endpoint options: %s. Rounds: %d.\n", info->ktls,
	    smt_opts_str(), info->rounds);
}

/* ---- machine-readable output ------------------------------------------- */

/* A number with 3 decimals, or null when there is none (NaN, inf). */
static json_object *json_num(double v)
{
	char b[64];

	if (isnan(v) || isinf(v))
		return NULL;
	snprintf(b, sizeof(b), "%.3f", v);
	return json_object_new_double_s(v, b);
}

/* bench.json through json-c (names and strings escaped by it). */
static int write_json(const char *dir, const struct srow *s, size_t n,
		      const struct report_info *info)
{
	json_object *o = json_object_new_object(), *arr, *e;
	char path[4096];
	char b[32];
	int ret;

	json_object_object_add(o, "rounds", json_object_new_int(info->rounds));
	json_object_object_add(o, "tls", json_object_new_string(info->ktls));
	json_object_object_add(
		o, "aes_128_gcm_MBps",
		json_num(info->aes_MBps > 0 ? info->aes_MBps : NAN));
	arr = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		const struct result *k = &s[i].key;

		e = json_object_new_object();
		json_object_object_add(
			e, "test", json_object_new_string(test_name(k->test)));
		json_object_object_add(e, "transport",
				       json_object_new_string(tp_name(k->tp)));
		json_object_object_add(e, "size",
				       json_object_new_int64(k->size));
		json_object_object_add(e, "resp_size",
				       json_object_new_int64(k->resp_size));
		json_object_object_add(e, "outstanding",
				       json_object_new_int64(k->load));
		snprintf(b, sizeof(b), "%.2f", k->loss_ppm / 1e4);
		json_object_object_add(
			e, "loss_pct",
			json_object_new_double_s(k->loss_ppm / 1e4, b));
		json_object_object_add(e, "rounds_ok",
				       json_object_new_int(s[i].rounds));
		for (int m = 0; m < M_COUNT; m++)
			json_object_object_add(e, metric_names[m],
					       json_num(s[i].med[m]));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "medians", arr);
	snprintf(path, sizeof(path), "%s/bench.json", dir);
	ret = json_object_to_file_ext(path, o,
				      JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_SPACED |
					      JSON_C_TO_STRING_NOSLASHESCAPE)
		      ? -EIO
		      : 0;
	json_object_put(o);
	return ret;
}

static int write_summary_csv(const char *dir, const struct srow *s, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/summary.csv", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	csv_header(f, "rounds_ok,");
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%d,", s[i].rounds);
		csv_key(f, &s[i].key);
		csv_metrics(f, s[i].med);
	}
	return fclose(f) ? -errno : 0;
}

/* Columns: x, then p50 and p99 (or one value) per transport in tp order;
 * "?" marks a missing value for gnuplot. */
static void dat_val(FILE *f, double v)
{
	if (isnan(v))
		fputs(" ?", f);
	else
		fprintf(f, " %.3f", v);
}

static int write_plot_data(const char *dir, const struct srow *s, size_t n)
{
	uint32_t vals[64], loads[64];
	char path[4096];
	int nv, nl;
	FILE *f;

	snprintf(path, sizeof(path), "%s/latency.dat", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "# size smt_p50 smt_p99 udp_p50 udp_p99 tcp_p50 tcp_p99 "
		   "tls_p50 tls_p99 smt-udp_p50 smt-udp_p99 quic_p50 quic_p99 "
		   "(us)\n");
	nv = distinct(s, n, TEST_LAT, 0, vals, 64);
	for (int i = 0; i < nv; i++) {
		fprintf(f, "%u", vals[i]);
		for (int t = 0; t < TP_COUNT; t++) {
			dat_val(f,
				get(s, n, TEST_LAT, t, vals[i], 1, 0, M_P50));
			dat_val(f,
				get(s, n, TEST_LAT, t, vals[i], 1, 0, M_P99));
		}
		fputc('\n', f);
	}
	fclose(f);

	nv = distinct(s, n, TEST_TPUT, 0, vals, 64);
	nl = distinct(s, n, TEST_TPUT, 1, loads, 64);
	snprintf(path, sizeof(path), "%s/throughput.dat", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "# blocks by size (index 0, 1, ...): outstanding smt udp "
		   "tcp tls smt-udp quic (kRPC/s)\n");
	for (int i = 0; i < nv; i++) {
		fprintf(f, "# size %u\n", vals[i]);
		for (int l = 0; l < nl; l++) {
			fprintf(f, "%u", loads[l]);
			for (int t = 0; t < TP_COUNT; t++)
				dat_val(f, get(s, n, TEST_TPUT, t, vals[i],
					       loads[l], 0, M_RPS) /
						   1e3);
			fputc('\n', f);
		}
		fprintf(f, "\n\n");
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/throughput.sizes", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	for (int i = 0; i < nv; i++)
		fprintf(f, "%u\n", vals[i]);
	fclose(f);

	/* CDF of the small RPCs in the HOL test, one file per loss, blocks
	 * per transport in tp order (empty block when absent). */
	for (int li = 0; li < MAX_LOSSES; li++) {
		uint32_t loss = UINT32_MAX;

		for (int t = 0; t < TP_COUNT && loss == UINT32_MAX; t++)
			if (hol[t][li].cap)
				loss = hol[t][li].loss_ppm;
		if (loss == UINT32_MAX)
			break;
		snprintf(path, sizeof(path), "%s/hol_cdf_%u.dat", dir,
			 loss / 10000);
		f = fopen(path, "w");
		if (!f)
			return -errno;
		for (int t = 0; t < TP_COUNT; t++) {
			struct hol_pool *p = hol_find(t, loss);

			fprintf(f, "# %s\n", tp_name(t));
			if (p && p->n) {
				size_t step = p->n / 2000 + 1;

				qsort(p->ns, p->n, sizeof(*p->ns), cmp_u64);
				for (size_t i = 0; i < p->n; i += step)
					fprintf(f, "%.3f %.5f\n",
						p->ns[i] / 1e3,
						(double)(i + 1) / p->n);
				fprintf(f, "%.3f 1\n", p->ns[p->n - 1] / 1e3);
			} else {
				fprintf(f, "? ?\n");
			}
			fprintf(f, "\n\n");
		}
		fclose(f);
	}
	return 0;
}

/* Failed RPCs and failed points, summed over rounds, so that no median
 * hides them. */
static void failures(const struct result *r, size_t n)
{
	bool any = false;
	char b[32];

	for (size_t i = 0; i < n; i++) {
		bool first = true;
		uint64_t failed = 0, setups = 0, points = 0;

		for (size_t j = 0; j < i && first; j++)
			first = !same_key(&r[j], &r[i]);
		if (!first)
			continue;
		for (size_t j = i; j < n; j++) {
			if (!same_key(&r[j], &r[i]))
				continue;
			failed += r[j].rpc_failed;
			setups += r[j].setup_failed;
			points += !ok_row(&r[j]);
		}
		if (!failed && !setups && !points)
			continue;
		if (!any)
			out("\n### Failures (summed over rounds)\n\n"
			    "RPCs a transport gave up on are kept in the "
			    "latencies at their time to failure; failed "
			    "points are left out of the medians. Set-ups "
			    "failed: the concurrent set-up test's (its RPCs "
			    "failed are first RPCs on sessions that were set "
			    "up).\n\n"
			    "| test | transport | size | outstanding | loss | "
			    "RPCs failed | set-ups failed | points failed |\n"
			    "|---|---|---|---|---|---|---|---|\n");
		any = true;
		out("| %s | %s | %s | %u | %.0f %% | %llu | %llu | %llu |\n",
		    test_name(r[i].test), tp_name(r[i].tp),
		    size_str(r[i].size, b), r[i].load, r[i].loss_ppm / 1e4,
		    (unsigned long long)failed, (unsigned long long)setups,
		    (unsigned long long)points);
	}
}

int report_write(const struct result *r, size_t n,
		 const struct report_info *info)
{
	struct srow *s = calloc(n ? n : 1, sizeof(*s));
	char path[4096];
	size_t ns;
	int ret;

	if (!s)
		return -ENOMEM;
	ns = summarize(r, n, s);
	snprintf(path, sizeof(path), "%s/summary.md", info->out_dir);
	md = fopen(path, "w");
	out("\n");
	for (int t = 0; t < NSHOW; t++)
		if (info->tp_on[show[t]] && !have_tp(s, ns, show[t]))
			out("(%s: no successful run)\n", tp_label(show[t]));
	tables(s, ns, info);
	failures(r, n);
	if (md)
		fclose(md);
	md = NULL;
	ret = write_summary_csv(info->out_dir, s, ns);
	if (!ret)
		ret = write_json(info->out_dir, s, ns, info);
	if (!ret)
		ret = write_plot_data(info->out_dir, s, ns);
	free(s);
	return ret;
}
