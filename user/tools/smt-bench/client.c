// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt-bench client: runs the whole benchmark plan against a server in the
 * peer network namespace, every comparison interleaved: in each round,
 * every test point runs once per transport, the transports' order rotating
 * from round to round. Results go to raw.csv as they come and, at the end,
 * to the summary files made by report.c.
 *
 * One engine drives every workload: a set of request classes (size,
 * response size, how many kept outstanding), kept full on one connection;
 * the latency of every response is recorded once the warm-up is over.
 * Unloaded latency is one class with one outstanding RPC, throughput one
 * class with N, the head-of-line test a 64 B class and a 1 MiB class
 * sharing one connection or session. UDP has no retransmission of its own:
 * a request unanswered for UDP_RTO_MS is sent again (counted as a retry).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "bench.h"
#include "util.h"

#define SLOTS 1024 /* in-flight table, indexed by id % SLOTS */
#define MAX_CLASSES 2
#define MAX_POINTS 16
#define UDP_RTO_MS 50
#define STALL_NS (15ull * 1000000000ull) /* no response at all: give up */

struct plan {
	int rounds;
	uint32_t lat_sizes[MAX_POINTS];
	int n_lat_sizes;
	int lat_n, lat_warm;
	uint32_t tput_sizes[MAX_POINTS];
	int n_tput_sizes;
	uint32_t loads[MAX_POINTS];
	int n_loads;
	double tput_secs, warm_secs;
	uint32_t hol_loss_ppm[MAX_POINTS];
	int n_hol;
	double hol_secs;
	int setup_n;
	double setup_gap_ms; /* idle time before each set-up (not timed) */
	int conc_n; /* concurrent set-ups through smtd (0: not run) */
	double goodput_secs;
	int goodput_load;
	int threads; /* > 1: the threads test, 1 and this many per side */
	uint32_t mt_size, mt_load; /* its size and outstanding per thread */
	/* --threads-pair C:S (profiling): only C client threads against the
	 * S-threaded service (1: the single-threaded one) */
	int mt_cli, mt_srv;
	bool tp_on[TP_COUNT];
};

struct klass {
	uint32_t size, resp;
	int load, inflight;
	uint64_t done;
	uint64_t *lat; /* ns */
	size_t nlat, cap;
};

struct slot {
	uint64_t id, t0;
	int k; /* class, -1 when free */
	bool measured; /* issued inside the measured window */
};

struct run {
	struct cconn *c;
	struct klass cls[MAX_CLASSES];
	int ncls;
	struct slot slot[SLOTS];
	uint64_t next_id;
	bool measuring;
	bool no_cpu; /* set-up test: no control queries inside the timing */
	uint64_t retries, errors, last_done_ns;
	uint64_t failed, badlen; /* errors: RPCs failed, wrong length */
	int first_err;
	uint64_t warm_done; /* class 0 completions before the window */
	uint64_t all_done; /* every RPC answered (the threads test's CPU) */
	uint64_t min_n; /* a timed window also waits for this many RPCs */
	int err;
};

static int ctl_fd = -1;
/* --pkts-if: the client's interface whose packets (both ways) the
 * throughput and goodput points count per RPC */
static const char *pkts_if;
static const char *ktls_seen;
/* --smtd-pids: the client's and the server's smtd, whose CPU the set-up
 * test through smtd counts (0: not measured) */
static int smtd_pid[2];
/* --smtd-setups: smtd_kinds[] measured beside the full set-up (bits) */
static int smtd_setups;
/* After the last set-up through smtd, the smtds still send the CLOSEs of
 * the last sessions (smtd batches them, docs/smtd.md): wait this long
 * before their CPU is read, so that every set-up's close is counted. */
#define SMTD_SETTLE_MS 300

static uint64_t server_cpu_ns(void)
{
	char buf[64];
	size_t got = 0;

	if (ctl_fd < 0 || write(ctl_fd, "cpu\n", 4) != 4)
		return 0;
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(ctl_fd, buf + got, sizeof(buf) - 1 - got);

		if (n <= 0)
			return 0;
		got += n;
		if (memchr(buf, '\n', got))
			break;
	}
	buf[got] = 0;
	return strtoull(buf, NULL, 10);
}

static int klass_record(struct klass *k, uint64_t ns)
{
	if (k->nlat == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 4096;
		uint64_t *p = realloc(k->lat, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		k->lat = p;
		k->cap = cap;
	}
	k->lat[k->nlat++] = ns;
	return 0;
}

static int issue(struct run *r, int k)
{
	struct klass *kl = &r->cls[k];
	struct slot *s;
	uint64_t t0;
	int ret;

	/* Skip IDs whose slot is still taken (a slow UDP retry). */
	while (r->slot[r->next_id % SLOTS].k >= 0)
		r->next_id++;
	s = &r->slot[r->next_id % SLOTS];
	t0 = now_ns(); /* the send is part of the RPC's time */
	ret = cconn_send(r->c, r->next_id, kl->size, kl->resp);
	if (ret == -EAGAIN)
		return ret;
	if (ret)
		return ret;
	s->id = r->next_id++;
	s->t0 = t0;
	s->k = k;
	s->measured = r->measuring;
	kl->inflight++;
	return 0;
}

static void on_resp(void *ctx, uint64_t id, size_t len, int err)
{
	struct run *r = ctx;
	struct slot *s = &r->slot[id % SLOTS];
	struct klass *kl;
	uint64_t t = now_ns();

	if (s->k < 0 || s->id != id)
		return; /* a late duplicate (UDP retry) */
	kl = &r->cls[s->k];
	s->k = -1;
	kl->inflight--;
	r->last_done_ns = t;
	if (err < 0 || len != kl->resp) {
		if (!r->first_err)
			r->first_err = err < 0 ? err : -EBADMSG;
		if (err >= 0) {
			r->badlen++;
			r->errors++;
			return;
		}
		/* The transport gave up on it: count it, and count the time
		 * until it said so as its latency (a lower bound). */
		r->failed++;
		if (s->measured && kl == &r->cls[0] &&
		    klass_record(kl, t - s->t0))
			r->err = -ENOMEM;
		return;
	}
	r->all_done++;
	if (!r->measuring && kl == &r->cls[0])
		r->warm_done++;
	if (r->measuring)
		kl->done++;
	/* Latency of every RPC issued inside the window, also when it ends
	 * after the window closed: dropping the slow ones would flatter the
	 * transport that stalls. */
	if (s->measured && klass_record(kl, t - s->t0))
		r->err = -ENOMEM;
}

static void udp_retry(struct run *r, uint64_t now)
{
	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &r->slot[i];
		struct klass *kl;

		if (s->k < 0 || now - s->t0 < UDP_RTO_MS * 1000000ull)
			continue;
		kl = &r->cls[s->k];
		/* Same id again; the original send time stays, so the
		 * latency includes the loss. */
		if (!cconn_send(r->c, s->id, kl->size, kl->resp))
			r->retries++;
	}
}

/* The SMT client's system calls and offload use over a window of n RPCs. */
static void io_result(const struct bench_io *a, const struct bench_io *b,
		      uint64_t n, struct result *res)
{
	uint64_t gs = b->gso_sends - a->gso_sends;
	uint64_t rc = b->rx_calls - a->rx_calls;

	res->io = true;
	res->syscalls_cli =
		(double)(b->tx_calls - a->tx_calls + rc) / (double)n;
	res->gso_segs =
		gs ? (double)(b->gso_segments - a->gso_segments) / (double)gs
		   : 0;
	res->rx_per_call =
		rc ? (double)(b->rx_packets - a->rx_packets) / (double)rc : 0;
}

/* Packets the interface named pkts_if received plus sent so far
 * (/proc/net/dev of this network namespace); 0 or -ENOENT. */
static int if_packets(uint64_t *pk)
{
	FILE *f = fopen("/proc/net/dev", "r");
	size_t len = strlen(pkts_if);
	char line[512];
	int ret = -ENOENT;

	while (f && ret && fgets(line, sizeof(line), f)) {
		const char *p = line;
		unsigned long long v[10];

		while (*p == ' ')
			p++;
		if (strncmp(p, pkts_if, len) || p[len] != ':')
			continue;
		/* rx bytes, packets, 6 more; tx bytes, packets */
		if (sscanf(p + len + 1,
			   "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
			   &v[7], &v[8], &v[9]) == 10) {
			*pk = v[1] + v[9];
			ret = 0;
		}
	}
	if (f)
		fclose(f);
	return ret;
}

/* Runs until stop_ns (absolute) or until class 0 completed stop_n RPCs in
 * the measured window; the window opens after warm_ns or warm_n. */
static int drive(struct run *r, uint64_t warm_ns, uint64_t warm_n,
		 uint64_t dur_ns, uint64_t stop_n, struct result *res)
{
	uint64_t t_start = now_ns(), t_meas = 0, cpu_c0 = 0, cpu_s0 = 0;
	uint64_t last_retry = t_start;
	struct bench_io io0 = {0}, io1;
	bool draining = false, io = false, pk = false;
	uint64_t pk0 = 0, pk1;

	for (int i = 0; i < SLOTS; i++)
		r->slot[i].k = -1;
	r->last_done_ns = t_start;
	for (;;) {
		uint64_t now = now_ns();
		int tmo, ret;

		if (!r->measuring && !draining &&
		    (now - t_start >= warm_ns && r->warm_done >= warm_n)) {
			r->measuring = true;
			t_meas = now;
			if (!r->no_cpu) {
				cpu_c0 = cpu_ns_thread();
				cpu_s0 = server_cpu_ns();
				io = !cconn_io(r->c, &io0);
				pk = pkts_if && !if_packets(&pk0);
			}
		}
		if (r->measuring && ((dur_ns && now - t_meas >= dur_ns &&
				      r->cls[0].done >= r->min_n) ||
				     (stop_n && r->cls[0].done >= stop_n))) {
			uint64_t n = r->cls[0].done;
			double secs = (now - t_meas) / 1e9;

			res->secs = secs;
			res->n = n;
			res->rps = n / secs;
			if (n && !r->no_cpu) {
				res->cpu_cli =
					(cpu_ns_thread() - cpu_c0) / 1e3 / n;
				res->cpu_srv =
					(server_cpu_ns() - cpu_s0) / 1e3 / n;
			}
			if (n && io && !cconn_io(r->c, &io1))
				io_result(&io0, &io1, n, res);
			if (n && pk && !if_packets(&pk1))
				res->pkts_rpc = (double)(pk1 - pk0) / (double)n;
			r->measuring = false;
			draining = true;
		}
		if (draining) {
			int left = 0;

			for (int k = 0; k < r->ncls; k++)
				left += r->cls[k].inflight;
			if (!left)
				return 0;
		} else {
			for (int k = 0; k < r->ncls; k++) {
				while (r->cls[k].inflight < r->cls[k].load) {
					ret = issue(r, k);
					if (ret == -EAGAIN)
						break;
					if (ret)
						return ret;
				}
			}
		}
		if (now - r->last_done_ns > STALL_NS)
			return -ETIMEDOUT;
		tmo = cconn_timeout_ms(r->c);
		if (r->c->tp == TP_UDP) {
			tmo = 10;
			if (now - last_retry > UDP_RTO_MS * 1000000ull) {
				udp_retry(r, now);
				last_retry = now;
			}
		}
		if (tmo < 0 || tmo > 100)
			tmo = 100;
		ret = cconn_wait(r->c, tmo);
		if (ret)
			return ret;
		ret = cconn_input(r->c, on_resp, r);
		if (ret)
			return ret;
		if (r->err)
			return r->err;
		/* a wrong response fails the point at once (a warm-up that
		 * counts only right ones would otherwise never end) */
		if (r->badlen)
			return -EBADMSG;
	}
}

static void fill_lat(struct result *res, struct klass *k)
{
	double sum = 0;

	if (!k->nlat)
		return;
	qsort(k->lat, k->nlat, sizeof(*k->lat), cmp_u64);
	res->p50 = pct_us(k->lat, k->nlat, 0.50);
	res->p90 = pct_us(k->lat, k->nlat, 0.90);
	res->p99 = pct_us(k->lat, k->nlat, 0.99);
	res->p999 = pct_us(k->lat, k->nlat, 0.999);
	for (size_t i = 0; i < k->nlat; i++)
		sum += k->lat[i];
	res->mean = sum / k->nlat / 1e3;
}

static void run_free(struct run *r)
{
	for (int k = 0; k < MAX_CLASSES; k++)
		free(r->cls[k].lat);
	free(r);
}

/* ---- the plan ---------------------------------------------------------- */

struct ctx {
	struct plan p;
	struct bench_target t;
	SSL_CTX *tls_mutual; /* --mtls-*: the "tls, mutual" set-up row */
	struct result *res;
	size_t nres, capres;
	int failures;
	bool verbose;
	bool strict; /* smoke: any failed RPC fails the point */
	const char *hostbpf_cmd; /* --hostbpf: "CMD on|off" */
	char **loss_if;
	int n_loss_if;
};

static void emit(struct ctx *x, const struct result *r)
{
	if (x->nres == x->capres) {
		size_t cap = x->capres ? x->capres * 2 : 256;
		struct result *p = realloc(x->res, cap * sizeof(*p));

		if (!p) {
			fprintf(stderr, "smt-bench: out of memory\n");
			exit(1);
		}
		x->res = p;
		x->capres = cap;
	}
	x->res[x->nres++] = *r;
	report_raw_row(r);
	if (x->verbose)
		fprintf(stderr,
			"  r%d %-7s %-3s size %7u load %2u loss %5.2f%%: "
			"%8.0f rps p50 %8.1f p99 %8.1f us cpu %.1f/%.1f us\n",
			r->round, test_name(r->test), tp_name(r->tp), r->size,
			r->load, r->loss_ppm / 1e4, r->rps, r->p50, r->p99,
			r->cpu_cli, r->cpu_srv);
}

static void fail(struct ctx *x, struct result *r, const char *what,
		 const char *why)
{
	fprintf(stderr,
		"smt-bench: %s over %s (size %u, load %u, loss %.2f%%) "
		"failed: %s\n",
		what, tp_name(r->tp), r->size, r->load, r->loss_ppm / 1e4, why);
	r->errors++;
	x->failures++;
}

/* One workload point on a fresh connection. */
static void point(struct ctx *x, struct result *res, const struct klass *cls,
		  int ncls, uint64_t warm_ns, uint64_t warm_n, uint64_t dur_ns,
		  uint64_t stop_n)
{
	struct run *r = calloc(1, sizeof(*r));
	struct cconn c;
	char err[256];
	int ret;

	if (!r) {
		fail(x, res, test_name(res->test), "out of memory");
		return;
	}
	ret = cconn_open(&c, res->tp, &x->t, err, sizeof(err));
	if (ret) {
		fail(x, res, test_name(res->test), err);
		free(r);
		emit(x, res);
		return;
	}
	if (res->tp == TP_TLS && !ktls_seen)
		ktls_seen = tls_ktls_state(c.st.ssl);
	r->c = &c;
	r->ncls = ncls;
	r->next_id = 1;
	memcpy(r->cls, cls, ncls * sizeof(*cls));
	/* 1 MiB RPCs may take longer than the window: wait for a few. */
	if (res->test == TEST_GOODPUT)
		r->min_n = 2 * (uint64_t)cls[0].load;
	ret = drive(r, warm_ns, warm_n, dur_ns, stop_n, res);
	if (ret) {
		fail(x, res, test_name(res->test),
		     ret == -ETIMEDOUT ? "no response for 15 s: stalled"
		     : ret == -EBADMSG
			     ? "a response of the wrong length or content"
			     : strerror(-ret));
	} else {
		fill_lat(res, &r->cls[0]);
		if (ncls > 1)
			res->large_n = r->cls[1].done;
		res->goodput_MBps = res->rps * res->size / 1e6;
		res->retries = r->retries;
		res->errors += r->errors;
		res->rpc_failed = r->failed;
		if (r->errors || (r->failed && x->strict)) {
			char why[200];

			snprintf(why, sizeof(why),
				 "%llu RPC(s) failed, %llu response(s) of the "
				 "wrong length; first: %s",
				 (unsigned long long)r->failed,
				 (unsigned long long)r->badlen,
				 r->first_err == -EBADMSG
					 ? "wrong length"
					 : smt_errstr(r->first_err));
			fail(x, res, test_name(res->test), why);
		}
		if (!res->n && !r->cls[0].nlat)
			fail(x, res, test_name(res->test),
			     "no RPC completed in the measured window");
		else if (r->failed && !x->strict)
			fprintf(stderr,
				"smt-bench: %s over %s (size %u, load %u, loss "
				"%.2f%%): %llu RPC(s) failed (%s); kept, with "
				"the time to failure as their latency\n",
				test_name(res->test), tp_name(res->tp),
				res->size, res->load, res->loss_ppm / 1e4,
				(unsigned long long)r->failed,
				smt_errstr(r->first_err));
	}
	if (res->test == TEST_HOL && x->verbose) {
		uint64_t seen, dropped;

		loss_counts(&seen, &dropped);
		fprintf(stderr,
			"  loss injector: %llu packets seen, %llu "
			"dropped\n",
			(unsigned long long)seen, (unsigned long long)dropped);
	}
	if (tp_is_smt(res->tp))
		smt_cli_counters(&c, res);
	if (tp_is_smt(res->tp) && x->verbose) {
		char st[2048];

		smt_cli_stats(&c, st, sizeof(st));
		fprintf(stderr, "  %s client: %s\n", tp_label(res->tp), st);
	}
	if (res->test == TEST_HOL && r->cls[0].nlat)
		report_add_hol_samples(res->tp, res->loss_ppm, r->cls[0].lat,
				       r->cls[0].nlat);
	cconn_close(&c);
	emit(x, res);
	run_free(r);
}

/* The threads test: res->threads client threads, each with a connection
 * (session) of its own and the class's load, run at once against the
 * server's single-threaded service (1 thread) or its multi-threaded one
 * (`server --threads`, ports + BENCH_MT_PORT_OFF). Rates add up,
 * latencies are pooled; CPU is the processes' over the whole run (warm-up
 * included) per RPC answered. */
struct mt_run {
	struct run *r;
	struct cconn c;
	const struct klass *cls;
	uint64_t warm_ns, dur_ns;
	pthread_barrier_t *go;
	struct result res;
	int ret;
	bool open;
};

static void *mt_main(void *arg)
{
	struct mt_run *m = arg;

	pthread_barrier_wait(m->go);
	m->ret = drive(m->r, m->warm_ns, 0, m->dur_ns, 0, &m->res);
	return NULL;
}

static void point_mt(struct ctx *x, struct result *res, const struct klass *cls,
		     uint64_t warm_ns, uint64_t dur_ns, bool mt_service)
{
	unsigned int n = res->threads, i, ok = 0;
	struct bench_target t = x->t;
	struct mt_run m[BENCH_MT_MAX] = {0};
	pthread_t th[BENCH_MT_MAX];
	pthread_barrier_t go;
	uint64_t cpu_c0, cpu_s0, all = 0, lat_n = 0;
	struct klass pool = *cls;
	char err[256];
	int ret = 0;

	if (mt_service)
		t.base_port += BENCH_MT_PORT_OFF;
	for (i = 0; i < n && !ret; i++) {
		m[i].r = calloc(1, sizeof(*m[i].r));
		if (!m[i].r) {
			ret = -ENOMEM;
			snprintf(err, sizeof(err), "out of memory");
			break;
		}
		t.quic_lane = i + 1; /* QUIC: connection i to server thread i */
		ret = cconn_open(&m[i].c, res->tp, &t, err, sizeof(err));
		m[i].open = !ret;
		if (!ret && res->tp == TP_TLS && !ktls_seen)
			ktls_seen = tls_ktls_state(m[i].c.st.ssl);
		m[i].r->c = &m[i].c;
		m[i].r->ncls = 1;
		m[i].r->next_id = 1;
		m[i].r->no_cpu = true;
		m[i].r->cls[0] = *cls;
		m[i].warm_ns = warm_ns;
		m[i].dur_ns = dur_ns;
		m[i].go = &go;
		m[i].res = *res;
	}
	if (!ret) {
		pthread_barrier_init(&go, NULL, n + 1);
		for (i = 0; i < n; i++)
			pthread_create(&th[i], NULL, mt_main, &m[i]);
		cpu_c0 = cpu_ns_self();
		cpu_s0 = server_cpu_ns();
		pthread_barrier_wait(&go);
		for (i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		res->cpu_cli = (double)(cpu_ns_self() - cpu_c0);
		res->cpu_srv = (double)(server_cpu_ns() - cpu_s0);
		pthread_barrier_destroy(&go);
		pool.lat = NULL;
		pool.nlat = pool.cap = 0;
		for (i = 0; i < n; i++) {
			struct klass *k = &m[i].r->cls[0];

			if (m[i].ret) {
				ret = m[i].ret;
				snprintf(err, sizeof(err), "%s",
					 ret == -ETIMEDOUT
						 ? "no response for 15 s: "
						   "stalled"
						 : strerror(-ret));
				continue;
			}
			ok++;
			res->n += m[i].res.n;
			res->rps += m[i].res.rps;
			if (m[i].res.secs > res->secs)
				res->secs = m[i].res.secs;
			res->rpc_failed += m[i].r->failed;
			res->errors += m[i].r->errors;
			all += m[i].r->all_done;
			for (size_t j = 0;
			     j < k->nlat && !klass_record(&pool, k->lat[j]);
			     j++)
				lat_n++;
		}
		fill_lat(res, &pool);
		free(pool.lat);
		if (getenv("SMT_BENCH_STATS")) /* per RPC, for profiling */
			fprintf(stderr,
				"smt-bench: threads %u against the %s service: "
				"%llu RPCs answered, cpu %.0f / %.0f ns\n",
				n, mt_service ? "multi-threaded" : "single",
				(unsigned long long)all, res->cpu_cli,
				res->cpu_srv);
		res->cpu_cli = all ? res->cpu_cli / 1e3 / all : 0;
		res->cpu_srv = all ? res->cpu_srv / 1e3 / all : 0;
		res->goodput_MBps = res->rps * res->size / 1e6;
	}
	if (ret || ok < n || !lat_n)
		fail(x, res, test_name(res->test), ret ? err : "no RPC");
	else if (x->strict && res->rpc_failed)
		fail(x, res, test_name(res->test), "RPCs failed");
	for (i = 0; i < n; i++) {
		if (m[i].open && tp_is_smt(res->tp) &&
		    getenv("SMT_BENCH_STATS")) {
			char st[2048];

			smt_cli_stats(&m[i].c, st, sizeof(st));
			fprintf(stderr,
				"smt-bench: threads %u, client %u: %s\n", n, i,
				st);
		}
		if (m[i].open)
			cconn_close(&m[i].c);
		if (m[i].r)
			run_free(m[i].r);
	}
	emit(x, res);
}

static void setup_point(struct ctx *x, const struct bench_target *t,
			struct result *res, int n)
{
	uint64_t *tot = calloc(n, sizeof(*tot)), *rdy = calloc(n, sizeof(*rdy));
	bool sd = t->via_smtd && smtd_pid[0] && smtd_pid[1];
	uint64_t sd0[2] = {sd ? cpu_ns_pid(smtd_pid[0]) : 0,
			   sd ? cpu_ns_pid(smtd_pid[1]) : 0};
	uint64_t cpu0 = cpu_ns_thread(), scpu0 = server_cpu_ns();
	uint64_t t_all = now_ns();
	char err[256];
	/* resumption: one untimed full set-up first, for the ticket */
	bool warm = t->quic_resume || t->setup_warm;
	int i = warm ? -1 : 0;
	uint64_t rtx = 0; /* SMT: DATA the clients sent twice */
	uint64_t idle = 0; /* ns of --setup-gap-ms, left out of res->secs */

	for (; tot && rdy && i < n; i++) {
		struct run *r = calloc(1, sizeof(*r));
		struct result tmp = {0};
		struct cconn c;
		uint64_t t0;
		int ret;

		if (!r)
			break;
		if (!i && warm) {
			cpu0 = cpu_ns_thread();
			scpu0 = server_cpu_ns();
			t_all = now_ns();
			if (sd) { /* the warm-up's CLOSE is not counted */
				poll(NULL, 0, SMTD_SETTLE_MS);
				sd0[0] = cpu_ns_pid(smtd_pid[0]);
				sd0[1] = cpu_ns_pid(smtd_pid[1]);
			}
		}
		if (x->p.setup_gap_ms > 0) {
			/* each set-up alone: whatever the previous one left
			 * (closes, the daemons' idle work) runs before it */
			uint64_t gap = (uint64_t)(x->p.setup_gap_ms * 1e6);
			struct timespec ts = {.tv_sec = gap / 1000000000,
					      .tv_nsec = gap % 1000000000};

			t0 = now_ns();
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
			idle += i >= 0 ? now_ns() - t0 : 0;
		}
		t0 = now_ns();
		ret = cconn_open(&c, res->tp, t, err, sizeof(err));
		if (ret) {
			fail(x, res, "set-up", err);
			free(r);
			break;
		}
		r->c = &c;
		r->ncls = 1;
		r->next_id = 1;
		r->no_cpu = true;
		r->cls[0] = (struct klass){.size = 64, .resp = 64, .load = 1};
		ret = drive(r, 0, 0, 0, 1, &tmp);
		if (i >= 0) {
			rdy[i] = c.t_ready - t0;
			tot[i] = now_ns() - t0;
			if (tp_is_smt(res->tp)) {
				smt_cli_counters(&c, &tmp);
				rtx += tmp.smt_rtx;
			}
		}
		cconn_close(&c);
		if (ret || r->errors || !r->cls[0].done) {
			fail(x, res, "set-up",
			     ret	    ? strerror(-ret)
			     : r->first_err ? smt_errstr(r->first_err)
					    : "first RPC failed");
			run_free(r);
			break;
		}
		run_free(r);
	}
	if (i == n) {
		double secs = (now_ns() - t_all - idle) / 1e9;

		res->n = n;
		res->secs = secs;
		res->rps = n / secs;
		res->cpu_cli = (cpu_ns_thread() - cpu0) / 1e3 / n;
		if (sd) /* the closes of the last sessions too */
			poll(NULL, 0, SMTD_SETTLE_MS);
		res->cpu_srv = (server_cpu_ns() - scpu0) / 1e3 / n;
		res->cpu_smtd_cli = NAN;
		res->cpu_smtd_srv = NAN;
		if (sd) {
			res->cpu_smtd_cli =
				(cpu_ns_pid(smtd_pid[0]) - sd0[0]) / 1e3 / n;
			res->cpu_smtd_srv =
				(cpu_ns_pid(smtd_pid[1]) - sd0[1]) / 1e3 / n;
		}
		qsort(tot, n, sizeof(*tot), cmp_u64);
		qsort(rdy, n, sizeof(*rdy), cmp_u64);
		res->p50 = pct_us(tot, n, 0.5);
		res->p90 = pct_us(tot, n, 0.9);
		res->p99 = pct_us(tot, n, 0.99);
		res->p999 = pct_us(tot, n, 0.999);
		res->ready_p50 = pct_us(rdy, n, 0.5);
		res->smt_rtx = rtx;
	}
	free(tot);
	free(rdy);
	if (t->quic_resume) {
		uint64_t ok;

		quic_resume_stats(t->quic_resume, &ok, &res->retries);
	}
	emit(x, res);
}

/* QUIC's set-up again, resuming the previous connection's session: a
 * session ticket and 0-RTT, the first request in the first flight.
 * retries: the set-ups whose 0-RTT the server rejected (answered after
 * the handshake instead). */
static void setup_resume(struct ctx *x, const struct result *base, int n)
{
	struct bench_target t = x->t;
	struct result res = *base;
	uint64_t ok, rejected;

	res.test = TEST_SETUP_RESUME;
	t.quic_resume = quic_resume_new();
	if (!t.quic_resume) {
		fail(x, &res, "set-up", "out of memory");
		emit(x, &res);
		return;
	}
	setup_point(x, &t, &res, n);
	quic_resume_stats(t.quic_resume, &ok, &rejected);
	if (x->verbose || ok != (uint64_t)n)
		fprintf(stderr,
			"  %s resumed set-ups: 0-RTT accepted %llu, rejected "
			"%llu of %d\n",
			tp_label(res.tp), (unsigned long long)ok,
			(unsigned long long)rejected, n);
	quic_resume_free(t.quic_resume);
}

/* One of the concurrent set-ups: its own endpoint and thread. */
struct conc_arg {
	const struct bench_target *t;
	enum bench_tp tp;
	pthread_barrier_t *go, *hold;
	atomic_int *done; /* threads past their set-up and first RPC */
	int n; /* threads in all */
	uint64_t setup_ns, done_ns;
	int err;
	bool rpc_err; /* set up, but its first RPC failed */
	char msg[200];
};

static void conc_ignore(void *ctx, uint64_t id, size_t len, int err)
{
	(void)ctx;
	(void)id;
	(void)len;
	(void)err;
}

/* Counts this thread done, then serves c until all n threads are (seen
 * within CONC_LOOK_MS: a thousand threads waking more often would take
 * the CPU the set-ups still running need) and c's ACK of its first
 * response left: a control packet sent since ctl0, taken before the RPC.
 * False when none left within CONC_ACK_WAIT_NS after all were done. */
#define CONC_LOOK_MS 250
#define CONC_ACK_WAIT_NS 2000000000ull
static bool conc_serve(struct cconn *c, atomic_int *done, int n, uint64_t ctl0)
{
	uint64_t give_up = 0;
	struct bench_io io;
	bool acked = false;

	atomic_fetch_add(done, 1);
	for (;;) {
		int tmo = cconn_timeout_ms(c);

		if (!acked && !cconn_io(c, &io) && io.tx_ctl > ctl0)
			acked = true;
		if (atomic_load(done) >= n) {
			if (acked)
				break;
			if (!give_up)
				give_up = now_ns() + CONC_ACK_WAIT_NS;
			else if (now_ns() > give_up)
				break;
		}
		if (tmo < 0 || tmo > CONC_LOOK_MS)
			tmo = CONC_LOOK_MS;
		if (cconn_wait(c, tmo) || cconn_input(c, conc_ignore, NULL))
			break;
	}
	return acked;
}

static void *conc_thread(void *p)
{
	struct conc_arg *a = p;
	struct run *r = calloc(1, sizeof(*r));
	struct result tmp = {0};
	struct bench_io io0;
	struct cconn c;
	uint64_t t0;
	int ret;

	pthread_barrier_wait(a->go);
	t0 = now_ns();
	ret = r ? cconn_open(&c, a->tp, a->t, a->msg, sizeof(a->msg)) : -ENOMEM;
	if (ret) {
		a->err = ret;
		free(r);
		atomic_fetch_add(a->done, 1);
		pthread_barrier_wait(a->hold);
		return NULL;
	}
	a->setup_ns = c.t_ready - t0;
	/* control packets so far: the ACK of the first response comes on
	 * top (or a probe during the RPC: then the check below is weaker) */
	if (cconn_io(&c, &io0))
		io0.tx_ctl = UINT64_MAX; /* not counted: nothing to check */
	r->c = &c;
	r->ncls = 1;
	r->next_id = 1;
	r->no_cpu = true;
	r->cls[0] = (struct klass){.size = 64, .resp = 64, .load = 1};
	ret = drive(r, 0, 0, 0, 1, &tmp);
	a->done_ns = now_ns();
	if (ret || r->errors || !r->cls[0].done) {
		a->err = ret ? ret : -EIO;
		a->rpc_err = true;
		snprintf(a->msg, sizeof(a->msg), "first RPC failed: %s",
			 ret ? strerror(-ret) : "no answer");
	}
	/* every session lives until all are set up: the server smtd and
	 * application hold all of them at once. Meanwhile the endpoint is
	 * served, as an application serves the sessions it holds: its ACK of
	 * the response leaves (after the ACK delay) and the server's NEED_ACKs
	 * are answered. A thread that went to sleep here instead left each
	 * server response unacknowledged, probed every RESEND timeout (2 ms)
	 * for the whole burst: thousands of NEED_ACKs a second that the
	 * client process read off its shared raw socket on the CPU the client
	 * smtd needed for the set-ups still running. */
	if (!conc_serve(&c, a->done, a->n, io0.tx_ctl) &&
	    io0.tx_ctl != UINT64_MAX && !a->rpc_err) {
		a->err = -EIO;
		a->rpc_err = true;
		snprintf(a->msg, sizeof(a->msg),
			 "first response never acknowledged (no ACK left the "
			 "endpoint within %llu s)",
			 CONC_ACK_WAIT_NS / 1000000000ull);
	}
	pthread_barrier_wait(a->hold);
	cconn_close(&c);
	run_free(r);
	return NULL;
}

/*
 * n clients call smt_connect() at once through the local smtd, each from
 * its own thread and endpoint, against the one server smtd; each answers
 * a 64 B RPC. Set-ups per second over the burst, p50/p99 of the set-up
 * (smt_connect), failed set-ups.
 */
static void setup_conc_point(struct ctx *x, const struct bench_target *t,
			     struct result *res, int n)
{
	struct conc_arg *a = calloc(n, sizeof(*a));
	pthread_t *th = calloc(n, sizeof(*th));
	uint64_t *lat = calloc(n, sizeof(*lat));
	bool sd = smtd_pid[0] && smtd_pid[1];
	uint64_t sd0[2] = {sd ? cpu_ns_pid(smtd_pid[0]) : 0,
			   sd ? cpu_ns_pid(smtd_pid[1]) : 0};
	pthread_barrier_t go, hold;
	atomic_int done = 0;
	pthread_attr_t attr;
	struct rlimit rl;
	uint64_t t0, end = 0;
	int i, started = 0, failed = 0, rpc_failed = 0, ok = 0;
	char first[256] = "", first_rpc[256] = "";

	/* an endpoint and its control connection take ~8 descriptors */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!a || !th || !lat) {
		fail(x, res, "set-up", "out of memory");
		goto out;
	}
	pthread_barrier_init(&go, NULL, n + 1);
	pthread_barrier_init(&hold, NULL, n);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (i = 0; i < n; i++) {
		a[i] = (struct conc_arg){.t = t,
					 .tp = res->tp,
					 .go = &go,
					 .hold = &hold,
					 .done = &done,
					 .n = n};
		if (pthread_create(&th[i], &attr, conc_thread, &a[i]))
			break;
		started++;
	}
	pthread_attr_destroy(&attr);
	if (started < n) {
		/* the barriers cannot open: the run cannot be measured */
		fprintf(stderr,
			"smt-bench: only %d of %d set-up threads started\n",
			started, n);
		exit(1);
	}
	t0 = now_ns();
	pthread_barrier_wait(&go);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < n; i++) {
		if (a[i].err && !a[i].rpc_err) {
			if (!failed++)
				snprintf(first, sizeof(first), "%s",
					 a[i].msg[0] ? a[i].msg
						     : strerror(-a[i].err));
			continue;
		}
		if (a[i].err && !rpc_failed++)
			snprintf(first_rpc, sizeof(first_rpc), "%s", a[i].msg);
		/* a set-up whose first RPC failed was a set-up all the same */
		lat[ok++] = a[i].setup_ns;
		if (a[i].done_ns > end)
			end = a[i].done_ns;
	}
	pthread_barrier_destroy(&go);
	pthread_barrier_destroy(&hold);
	res->n = ok;
	res->setup_failed = failed;
	res->rpc_failed = rpc_failed;
	if (ok) {
		res->secs = (end - t0) / 1e9;
		res->rps = ok / res->secs;
		qsort(lat, ok, sizeof(*lat), cmp_u64);
		res->p50 = pct_us(lat, ok, 0.5);
		res->p90 = pct_us(lat, ok, 0.9);
		res->p99 = pct_us(lat, ok, 0.99);
		res->p999 = pct_us(lat, ok, 0.999);
	}
	res->cpu_smtd_cli = res->cpu_smtd_srv = NAN;
	if (sd) {
		poll(NULL, 0, SMTD_SETTLE_MS);
		res->cpu_smtd_cli =
			(cpu_ns_pid(smtd_pid[0]) - sd0[0]) / 1e3 / n;
		res->cpu_smtd_srv =
			(cpu_ns_pid(smtd_pid[1]) - sd0[1]) / 1e3 / n;
	}
	if (failed || rpc_failed) {
		char why[600];

		snprintf(
			why, sizeof(why),
			"%d of %d set-ups failed%s%s; %d first RPCs failed%s%s",
			failed, n, failed ? ", the first: " : "", first,
			rpc_failed, rpc_failed ? ", the first: " : "",
			first_rpc);
		fail(x, res, "concurrent set-up", why);
	}
out:
	free(a);
	free(th);
	free(lat);
	emit(x, res);
}

/* The throughput points of a round (hostbpf: the host programs' state,
 * 1 attached, for the hostbpf pass). */
static void tput_points(struct ctx *x, int round, const enum bench_tp *tps,
			int ntp, uint32_t hostbpf)
{
	const struct plan *p = &x->p;
	uint64_t warm_ns = (uint64_t)(p->warm_secs * 1e9);

	for (int s = 0; s < p->n_tput_sizes; s++) {
		for (int l = 0; l < p->n_loads; l++) {
			for (int i = 0; i < ntp; i++) {
				struct result res = {.round = round,
						     .test = TEST_TPUT,
						     .tp = tps[i],
						     .size = p->tput_sizes[s],
						     .resp_size =
							     p->tput_sizes[s],
						     .load = p->loads[l],
						     .hostbpf = hostbpf};
				struct klass k = {.size = res.size,
						  .resp = res.size,
						  .load = res.load};

				if (tps[i] == TP_UDP &&
				    res.size > BENCH_UDP_MAX)
					continue;
				point(x, &res, &k, 1, warm_ns, 0,
				      (uint64_t)(p->tput_secs * 1e9), 0);
			}
		}
	}
}

/* The 1 MiB goodput points of a round. */
static void goodput_points(struct ctx *x, int round, const enum bench_tp *tps,
			   int ntp, uint32_t hostbpf)
{
	const struct plan *p = &x->p;
	uint64_t warm_ns = (uint64_t)(p->warm_secs * 1e9);

	for (int i = 0; p->goodput_secs > 0 && i < ntp; i++) {
		struct result res = {.round = round,
				     .test = TEST_GOODPUT,
				     .tp = tps[i],
				     .size = BENCH_MAX_MSG,
				     .resp_size = 64,
				     .load = p->goodput_load,
				     .hostbpf = hostbpf};
		struct klass k = {.size = BENCH_MAX_MSG,
				  .resp = 64,
				  .load = p->goodput_load};

		if (tps[i] == TP_UDP)
			continue;
		point(x, &res, &k, 1, warm_ns, 0,
		      (uint64_t)(p->goodput_secs * 1e9), 0);
	}
}

/* --hostbpf CMD: the throughput and goodput points twice per round, with
 * the host programs detached ("CMD off") and attached ("CMD on"), the
 * order alternating from round to round; they end detached. */
static void hostbpf_points(struct ctx *x, int round, const enum bench_tp *tps,
			   int ntp)
{
	for (int pass = 0; pass < 2; pass++) {
		uint32_t on = (uint32_t)((round + pass) % 2);
		char cmd[4200];
		int rc;

		snprintf(cmd, sizeof(cmd), "%s %s", x->hostbpf_cmd,
			 on ? "on" : "off");
		rc = system(cmd);
		if (rc) {
			struct result res = {.round = round,
					     .test = TEST_TPUT,
					     .hostbpf = on};

			fail(x, &res, "host programs", cmd);
			continue;
		}
		tput_points(x, round, tps, ntp, on);
		goodput_points(x, round, tps, ntp, on);
	}
	if (round % 2 == 0) { /* the last pass had them attached */
		char cmd[4200];

		snprintf(cmd, sizeof(cmd), "%s off", x->hostbpf_cmd);
		if (system(cmd))
			fprintf(stderr, "smt-bench: %s failed\n", cmd);
	}
}

/* The transports of this run in round r's order. */
static int order(const struct ctx *x, int round, enum bench_tp *out)
{
	int n = 0;

	for (int i = 0; i < TP_COUNT; i++) {
		int t = (i + round) % TP_COUNT;

		if (x->p.tp_on[t])
			out[n++] = t;
	}
	return n;
}

static void run_round(struct ctx *x, int round)
{
	const struct plan *p = &x->p;
	enum bench_tp tps[TP_COUNT];
	int ntp = order(x, round, tps);
	uint64_t warm_ns = (uint64_t)(p->warm_secs * 1e9);

	fprintf(stderr, "smt-bench: round %d of %d\n", round + 1, p->rounds);
	for (int s = 0; s < p->n_lat_sizes; s++) {
		for (int i = 0; i < ntp; i++) {
			struct result res = {.round = round,
					     .test = TEST_LAT,
					     .tp = tps[i],
					     .size = p->lat_sizes[s],
					     .resp_size = p->lat_sizes[s],
					     .load = 1};
			struct klass k = {
				.size = res.size, .resp = res.size, .load = 1};

			if (tps[i] == TP_UDP && res.size > BENCH_UDP_MAX)
				continue;
			point(x, &res, &k, 1, 0, p->lat_warm, 0, p->lat_n);
		}
	}
	if (x->hostbpf_cmd)
		hostbpf_points(x, round, tps, ntp);
	else
		tput_points(x, round, tps, ntp, 0);
	if (p->n_hol) {
		char err[256];

		if (loss_attach(x->loss_if, x->n_loss_if, err, sizeof(err))) {
			struct result res = {.round = round, .test = TEST_HOL};

			fail(x, &res, "loss injector", err);
		} else {
			for (int h = 0; h < p->n_hol; h++) {
				loss_set(p->hol_loss_ppm[h]);
				for (int i = 0; i < ntp; i++) {
					struct result res = {
						.round = round,
						.test = TEST_HOL,
						.tp = tps[i],
						.size = 64,
						.resp_size = 64,
						.load = 1,
						.loss_ppm = p->hol_loss_ppm[h]};
					struct klass k[2] = {
						{.size = 64,
						 .resp = 64,
						 .load = 1},
						{.size = BENCH_MAX_MSG,
						 .resp = BENCH_MAX_MSG,
						 .load = 1},
					};

					if (tps[i] == TP_UDP)
						continue; /* no reliability */
					point(x, &res, k, 2, warm_ns, 0,
					      (uint64_t)(p->hol_secs * 1e9), 0);
				}
			}
			loss_set(0);
			loss_detach();
		}
	}
	for (int i = 0; p->setup_n && i < ntp; i++) {
		const struct result base = {.round = round,
					    .test = TEST_SETUP,
					    .tp = tps[i],
					    .size = 64,
					    .resp_size = 64,
					    .load = 1};
		struct bench_target via = x->t;
		struct result res = base, rs = base;
		bool smtd = (tps[i] == TP_SMT && x->t.smtd_service) ||
			    (tps[i] == TP_SMTU && x->t.smtd_service_udp);

		if (tps[i] == TP_UDP)
			continue; /* connectionless: nothing to set up */
		/* SMT keyed by the benchmark and SMT through smtd take
		 * turns going first. */
		via.via_smtd = true;
		rs.test = TEST_SETUP_SMTD;
		if (smtd && round % 2)
			setup_point(x, &via, &rs, p->setup_n);
		setup_point(x, &x->t, &res, p->setup_n);
		if (tps[i] == TP_TLS && x->tls_mutual) {
			struct bench_target m = x->t;
			struct result rm = base;

			m.tls = x->tls_mutual;
			m.mutual = true;
			rm.test = TEST_SETUP_MTLS;
			setup_point(x, &m, &rm, p->setup_n);
		}
		if (smtd && !(round % 2))
			setup_point(x, &via, &rs, p->setup_n);
		/* resumption, 0-RTT and SMT-tickets through smtd */
		for (int k = 0; smtd && k < SMTD_KINDS; k++) {
			struct bench_target vk = via;
			struct result rk = base;

			if (!(smtd_setups & 1 << k))
				continue;
			vk.smtd_kind = smtd_kinds[k].suffix;
			vk.setup_warm = smtd_kinds[k].warm;
			rk.test = smtd_kinds[k].test;
			setup_point(x, &vk, &rk, p->setup_n);
		}
		if (tps[i] == TP_QUIC)
			setup_resume(x, &base, p->setup_n);
	}
	for (int i = 0; p->conc_n && i < ntp; i++) {
		struct result res = {.round = round,
				     .test = TEST_SETUP_CONC,
				     .tp = tps[i],
				     .size = 64,
				     .resp_size = 64,
				     .load = (uint32_t)p->conc_n};
		struct bench_target via = x->t;

		if (!((tps[i] == TP_SMT && x->t.smtd_service) ||
		      (tps[i] == TP_SMTU && x->t.smtd_service_udp)))
			continue;
		via.via_smtd = true;
		setup_conc_point(x, &via, &res, p->conc_n);
	}
	for (int th = p->mt_cli ? p->mt_cli : 1;
	     (p->threads > 1 || p->mt_cli) && th <= p->threads;
	     th = th < p->threads && !p->mt_cli ? p->threads : p->threads + 1) {
		for (int i = 0; i < ntp; i++) {
			struct result res = {.round = round,
					     .test = TEST_THREADS,
					     .tp = tps[i],
					     .size = p->mt_size,
					     .resp_size = p->mt_size,
					     .load = p->mt_load,
					     .threads = (uint32_t)th};
			struct klass k = {.size = p->mt_size,
					  .resp = p->mt_size,
					  .load = (int)p->mt_load};

			if (tps[i] == TP_UDP)
				continue; /* no multi-threaded server */
			point_mt(x, &res, &k, warm_ns,
				 (uint64_t)(p->tput_secs * 1e9),
				 p->mt_cli ? p->mt_srv > 1 : th > 1);
		}
	}
	if (!x->hostbpf_cmd)
		goodput_points(x, round, tps, ntp, 0);
}

/* ---- options ----------------------------------------------------------- */

static int parse_list(const char *s, uint32_t *out, int max, bool sizes,
		      uint64_t lo, const char *opt)
{
	char *dup = strdup(s), *save = NULL, *tok;
	int n = 0;

	for (tok = strtok_r(dup, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char err[UTIL_ERR_LEN];
		uint64_t v;
		int ret = sizes ? util_parse_size(tok, BENCH_MAX_MSG, &v, err,
						  sizeof(err))
				: util_parse_u64(tok, lo, 1024, &v, err,
						 sizeof(err));

		if (ret || n == max || (sizes && v < BENCH_HDR_LEN)) {
			fprintf(stderr, "smt-bench: %s %s: %s\n", opt, tok,
				ret	   ? err
				: n == max ? "too many values"
					   : "sizes start at 16 bytes");
			free(dup);
			return -1;
		}
		out[n++] = (uint32_t)v;
	}
	free(dup);
	return n;
}

static void plan_defaults(struct plan *p, int mode)
{
	static const uint32_t lat[] = {64, 256, 1024, 4096, 16384, 65536};
	static const uint32_t tput[] = {64, 1024, 8192};
	static const uint32_t loads[] = {1, 2, 4, 8, 16, 32, 64};
	static const uint32_t qloads[] = {1, 8, 32};
	static const uint32_t hol[] = {0, 10000, 20000};

	memset(p, 0, sizeof(*p));
	for (int i = 0; i < TP_COUNT; i++)
		p->tp_on[i] = true;
	memcpy(p->lat_sizes, lat, sizeof(lat));
	p->n_lat_sizes = 6;
	memcpy(p->tput_sizes, tput, sizeof(tput));
	p->n_tput_sizes = 3;
	memcpy(p->loads, loads, sizeof(loads));
	p->n_loads = 7;
	memcpy(p->hol_loss_ppm, hol, sizeof(hol));
	p->n_hol = 3;
	p->goodput_load = 4;
	p->mt_size = 64;
	p->mt_load = 32;
	if (mode == 0) { /* full */
		p->rounds = 5;
		p->lat_n = 1000;
		p->lat_warm = 50;
		p->tput_secs = 0.4;
		p->warm_secs = 0.1;
		p->hol_secs = 3.0;
		p->setup_n = 100;
		p->conc_n = 1000;
		p->goodput_secs = 1.0;
	} else if (mode == 1) { /* quick */
		p->rounds = 1;
		p->lat_n = 200;
		p->lat_warm = 20;
		memcpy(p->loads, qloads, sizeof(qloads));
		p->n_loads = 3;
		p->tput_secs = 0.2;
		p->warm_secs = 0.05;
		p->hol_secs = 1.0;
		p->setup_n = 20;
		p->goodput_secs = 0.5;
	} else { /* smoke: every transport, a few RPCs each */
		p->rounds = 1;
		/* no payload after the header, one packet's, 1 MiB */
		p->lat_sizes[0] = BENCH_HDR_LEN;
		p->lat_sizes[1] = 1400;
		p->lat_sizes[2] = 8192;
		p->lat_sizes[3] = BENCH_MAX_MSG;
		p->n_lat_sizes = 4;
		p->lat_n = 20;
		p->lat_warm = 2;
		p->tput_sizes[0] = 1024;
		p->n_tput_sizes = 1;
		p->loads[0] = 4;
		p->n_loads = 1;
		p->tput_secs = 0.1;
		p->warm_secs = 0.02;
		p->n_hol = 2; /* 0 and 1 % */
		p->hol_secs = 0.3;
		p->setup_n = 3;
		/* endpoints in threads of one process (raw: shared sockets) */
		p->conc_n = 16;
		p->goodput_secs = 0.2;
		p->goodput_load = 1;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: smt-bench client --server ADDR --ca FILE [options]\n"
		"  --out DIR            write raw.csv, summary.csv, bench.json, summary.md\n"
		"                       and plot data there (default .)\n"
		"  --quick | --smoke    shorter plans (development; harness check)\n"
		"  --rounds N           repetitions of the whole plan (default 5)\n"
		"  --transports LIST    subset of smt,smt-udp,udp,tcp,tls,quic (default\n"
		"                       all; smt is SMT natively on IP, also smt-ip)\n"
		"  --encap LIST         ip, udp or ip,udp: the encapsulations SMT runs in\n"
		"                       when --transports has SMT (smt, smt-ip or smt-udp)\n"
		"  --lat-sizes LIST     unloaded latency sizes (64,256,1K,4K,16K,64K)\n"
		"  --lat-count N        RPCs per latency point (1000)\n"
		"  --tput-sizes LIST    throughput sizes (64,1K,8K)\n"
		"  --loads LIST         outstanding RPCs (1,2,4,8,16,32,64)\n"
		"  --tput-secs S        seconds per throughput point (0.4)\n"
		"  --hol-loss LIST      loss in %% for the head-of-line test (0,1,2);\n"
		"                       \"none\" skips the test\n"
		"  --hol-secs S         seconds per head-of-line point (3)\n"
		"  --setup-count N      set-ups per transport and round (100; 0 skips)\n"
		"  --setup-gap-ms MS    idle time before each set-up, not timed (0:\n"
		"                       back to back)\n"
		"  --goodput-secs S     seconds of 1 MiB requests (1; 0 skips)\n"
		"  --threads N          also the threads test: 64 B RPCs, 32 outstanding\n"
		"                       per thread, with 1 and with N (2..8) client threads\n"
		"                       against a server started with --threads N\n"
		"  --threads-size S     its RPC size (64); --threads-load N per thread (32)\n"
		"  --threads-only       run the threads test alone\n"
		"  --threads-pair C:S   profiling: the threads test at C client threads\n"
		"                       against the S-threaded service alone (S 1: the\n"
		"                       single-threaded one; C and S at most --threads)\n"
		"  --setup-only         run the set-up tests alone\n"
		"  --concurrent N       clients setting up sessions through smtd at\n"
		"                       once (full plan 1000; 0 skips)\n"
		"  --loss-if IF[@NETNS] interface for the XDP loss injector; repeat it for\n"
		"                       both hosts (NETNS: a path like /var/run/netns/X)\n"
		"  --aes-MBps X         single-core AES-128-GCM speed (openssl speed) for\n"
		"                       the goodput ratio\n"
		"  --ktls               ask OpenSSL for kTLS (used when the kernel has it)\n"
		"  --smtd-service NAME  also time SMT sessions set up through smtd (local\n"
		"                       smtd at $SMT_CTL_SOCKET) for service NAME\n"
		"  --smtd-service-udp NAME  the same for SMT over UDP\n"
		"  --smtd-setups LIST   also set up through smtd with resumed, 0rtt,\n"
		"                       ticket (or all): services NAME-resumed,\n"
		"                       NAME-0rtt, NAME-ticket of each --smtd-service\n"
		"  --smtd-pids CLI,SRV  the client's and the server's smtd: their CPU\n"
		"                       per set-up is counted (from /proc)\n"
		"  --mtls-cert FILE --mtls-key FILE --mtls-ca FILE  the set-up test\n"
		"                       also times TLS with client certificates (this\n"
		"                       certificate; the server's checked against the\n"
		"                       CA) against a server given the same options\n"
		"  --smt-opt K=V        SMT endpoint option: rpc_timeouts, resend_us, unsched,\n"
		"                       max_granted, mtu, busy_poll_us, xsk_tx, rto_min_us,\n"
		"                       max_pad (session padding P; the server\n"
		"                       takes the same option), hold_ms (4294967295:\n"
		"                       packets before their session dropped),\n"
		"                       caller_timers (default 1: the loops keep\n"
		"                       the SMT timers, the timerfd only when\n"
		"                       unloaded; 0: the timerfd alone);\n"
		"                       encap=LIST as --encap\n"
		"  --smtd-sessions      every SMT session from smtd (with --smtd-service\n"
		"                       and --smtd-service-udp), not keyed by smt-bench\n"
		"  --hostbpf CMD        the host programs pass: only the throughput and\n"
		"                       goodput points, each twice per round, after\n"
		"                       \"CMD off\" and after \"CMD on\" (smt_xdp and\n"
		"                       smt_tc detached, attached), order alternating\n"
		"  --pkts-if IF         count IF's packets (both ways, /proc/net/dev) per\n"
		"                       RPC in the throughput and goodput points\n"
		"  --verify             check every response byte for byte (TCP, TLS,\n"
		"                       UDP, QUIC); one that differs fails the point\n"
		"  -v                   print every point as it completes\n");
}

int client_main(int argc, char **argv)
{
	enum {
		O_SERVER = 256,
		O_CA,
		O_OUT,
		O_QUICK,
		O_SMOKE,
		O_ROUNDS,
		O_TPS,
		O_LATS,
		O_LATN,
		O_TPUTS,
		O_LOADS,
		O_TPUTSECS,
		O_HOL,
		O_HOLSECS,
		O_SETUP,
		O_SETUPGAP,
		O_GOODPUT,
		O_LOSSIF,
		O_AES,
		O_KTLS,
		O_SMTOPT,
		O_SMTD,
		O_SMTDU,
		O_ENCAP,
		O_THREADS,
		O_MTSIZE,
		O_MTLOAD,
		O_MTONLY,
		O_MTPAIR,
		O_VERIFY,
		O_SMTDALL,
		O_HOSTBPF,
		O_PKTSIF,
		O_SETUPONLY,
		O_SMTDPIDS,
		O_MTLS_CERT,
		O_MTLS_KEY,
		O_MTLS_CA,
		O_SMTDSETUPS,
		O_CONC
	};
	static const struct option opts[] = {
		{"server", required_argument, NULL, O_SERVER},
		{"ca", required_argument, NULL, O_CA},
		{"out", required_argument, NULL, O_OUT},
		{"quick", no_argument, NULL, O_QUICK},
		{"smoke", no_argument, NULL, O_SMOKE},
		{"rounds", required_argument, NULL, O_ROUNDS},
		{"transports", required_argument, NULL, O_TPS},
		{"lat-sizes", required_argument, NULL, O_LATS},
		{"lat-count", required_argument, NULL, O_LATN},
		{"tput-sizes", required_argument, NULL, O_TPUTS},
		{"loads", required_argument, NULL, O_LOADS},
		{"tput-secs", required_argument, NULL, O_TPUTSECS},
		{"hol-loss", required_argument, NULL, O_HOL},
		{"hol-secs", required_argument, NULL, O_HOLSECS},
		{"setup-count", required_argument, NULL, O_SETUP},
		{"setup-gap-ms", required_argument, NULL, O_SETUPGAP},
		{"goodput-secs", required_argument, NULL, O_GOODPUT},
		{"threads", required_argument, NULL, O_THREADS},
		{"smtd-sessions", no_argument, NULL, O_SMTDALL},
		{"hostbpf", required_argument, NULL, O_HOSTBPF},
		{"pkts-if", required_argument, NULL, O_PKTSIF},
		{"threads-size", required_argument, NULL, O_MTSIZE},
		{"threads-load", required_argument, NULL, O_MTLOAD},
		{"threads-only", no_argument, NULL, O_MTONLY},
		{"threads-pair", required_argument, NULL, O_MTPAIR},
		{"setup-only", no_argument, NULL, O_SETUPONLY},
		{"loss-if", required_argument, NULL, O_LOSSIF},
		{"verify", no_argument, NULL, O_VERIFY},
		{"aes-MBps", required_argument, NULL, O_AES},
		{"ktls", no_argument, NULL, O_KTLS},
		{"smt-opt", required_argument, NULL, O_SMTOPT},
		{"smtd-service", required_argument, NULL, O_SMTD},
		{"smtd-service-udp", required_argument, NULL, O_SMTDU},
		{"smtd-pids", required_argument, NULL, O_SMTDPIDS},
		{"mtls-cert", required_argument, NULL, O_MTLS_CERT},
		{"mtls-key", required_argument, NULL, O_MTLS_KEY},
		{"mtls-ca", required_argument, NULL, O_MTLS_CA},
		{"smtd-setups", required_argument, NULL, O_SMTDSETUPS},
		{"concurrent", required_argument, NULL, O_CONC},
		{"encap", required_argument, NULL, O_ENCAP},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{}};
	struct ctx *x = calloc(1, sizeof(*x));
	const char *server = NULL, *ca = NULL, *out = ".";
	const char *mcert = NULL, *mkey = NULL, *mca = NULL;
	struct report_info info = {0};
	bool ktls = false, encaps[TP_COUNT] = {0}, encaps_set = false;
	char err[256];
	int mode = 0, o, ret;

	if (!x)
		return 1;
	/* The mode sets defaults that later options refine: find it first. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			mode = 1;
		else if (!strcmp(argv[i], "--smoke"))
			mode = 2;
	}
	plan_defaults(&x->p, mode);
	x->strict = mode == 2;
	x->loss_if = calloc(argc, sizeof(char *));
	while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		struct plan *p = &x->p;
		uint32_t tmp[MAX_POINTS];
		int n;

		switch (o) {
		case O_SERVER:
			server = optarg;
			break;
		case O_CA:
			ca = optarg;
			break;
		case O_MTLS_CERT:
			mcert = optarg;
			break;
		case O_MTLS_KEY:
			mkey = optarg;
			break;
		case O_MTLS_CA:
			mca = optarg;
			break;
		case O_OUT:
			out = optarg;
			break;
		case O_QUICK:
		case O_SMOKE:
			break;
		case O_ROUNDS:
			p->rounds = atoi(optarg);
			break;
		case O_TPS: {
			char *dup = strdup(optarg), *save = NULL, *tok;

			memset(p->tp_on, 0, sizeof(p->tp_on));
			for (tok = strtok_r(dup, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				int t = tp_from_name(tok);

				if (t < 0) {
					fprintf(stderr,
						"smt-bench: --transports: "
						"unknown transport %s "
						"(smt, smt-udp, udp, tcp, "
						"tls, quic)\n",
						tok);
					return 2;
				}
				p->tp_on[t] = true;
			}
			free(dup);
			break;
		}
		case O_LATS:
			n = parse_list(optarg, p->lat_sizes, MAX_POINTS, true,
				       0, "--lat-sizes");
			if (n < 0)
				return 2;
			p->n_lat_sizes = n;
			break;
		case O_LATN:
			p->lat_n = atoi(optarg);
			break;
		case O_TPUTS:
			n = parse_list(optarg, p->tput_sizes, MAX_POINTS, true,
				       0, "--tput-sizes");
			if (n < 0)
				return 2;
			p->n_tput_sizes = n;
			break;
		case O_LOADS:
			n = parse_list(optarg, p->loads, MAX_POINTS, false, 1,
				       "--loads");
			if (n < 0)
				return 2;
			p->n_loads = n;
			break;
		case O_TPUTSECS:
			p->tput_secs = atof(optarg);
			break;
		case O_HOL:
			if (!strcmp(optarg, "none")) {
				p->n_hol = 0;
				break;
			}
			n = parse_list(optarg, tmp, MAX_POINTS, false, 0,
				       "--hol-loss");
			if (n < 0)
				return 2;
			for (int i = 0; i < n; i++)
				p->hol_loss_ppm[i] = tmp[i] * 10000;
			p->n_hol = n;
			break;
		case O_HOLSECS:
			p->hol_secs = atof(optarg);
			break;
		case O_SETUP:
			p->setup_n = atoi(optarg);
			break;
		case O_SETUPGAP:
			p->setup_gap_ms = atof(optarg);
			if (!(p->setup_gap_ms >= 0 &&
			      p->setup_gap_ms <= 10000)) {
				fprintf(stderr,
					"smt-bench: --setup-gap-ms %s: want 0 to "
					"10000 milliseconds\n",
					optarg);
				return 2;
			}
			break;
		case O_CONC:
			p->conc_n = atoi(optarg);
			if (p->conc_n < 0 || p->conc_n > 10000) {
				fprintf(stderr,
					"smt-bench: --concurrent %s: want "
					"0..10000\n",
					optarg);
				return 2;
			}
			break;
		case O_GOODPUT:
			p->goodput_secs = atof(optarg);
			break;
		case O_THREADS:
			p->threads = atoi(optarg);
			if (p->threads < 1 || p->threads > BENCH_MT_MAX) {
				fprintf(stderr,
					"smt-bench: --threads %s: want 1..%d\n",
					optarg, BENCH_MT_MAX);
				return 2;
			}
			break;
		case O_MTSIZE:
			if (parse_list(optarg, tmp, 1, true, BENCH_HDR_LEN,
				       "--threads-size") != 1)
				return 2;
			p->mt_size = tmp[0];
			break;
		case O_MTONLY: /* the threads test alone */
			p->n_lat_sizes = p->n_tput_sizes = p->n_hol = 0;
			p->setup_n = 0;
			p->conc_n = 0;
			p->goodput_secs = 0;
			break;
		case O_MTPAIR:
			if (sscanf(optarg, "%d:%d", &p->mt_cli, &p->mt_srv) !=
				    2 ||
			    p->mt_cli < 1 || p->mt_srv < 1 ||
			    p->mt_cli > BENCH_MT_MAX ||
			    p->mt_srv > BENCH_MT_MAX) {
				fprintf(stderr,
					"smt-bench: --threads-pair %s: want "
					"C:S, 1..%d each\n",
					optarg, BENCH_MT_MAX);
				return 2;
			}
			break;
		case O_SETUPONLY: /* the set-up test alone */
			p->n_lat_sizes = p->n_tput_sizes = p->n_hol = 0;
			p->goodput_secs = 0;
			p->threads = 0;
			break;
		case O_MTLOAD:
			p->mt_load = (uint32_t)atoi(optarg);
			if (p->mt_load < 1 || p->mt_load > SLOTS / 2)
				return 2;
			break;
		case O_LOSSIF:
			x->loss_if[x->n_loss_if++] = optarg;
			break;
		case O_VERIFY:
			bench_verify = true;
			break;
		case O_SMTDALL:
			x->t.via_smtd = true;
			break;
		case O_HOSTBPF: /* throughput and goodput only */
			x->hostbpf_cmd = optarg;
			p->n_lat_sizes = p->n_hol = 0;
			p->setup_n = 0;
			p->conc_n = 0;
			p->threads = 0;
			break;
		case O_PKTSIF:
			pkts_if = optarg;
			break;
		case O_AES:
			info.aes_MBps = atof(optarg);
			break;
		case O_KTLS:
			ktls = true;
			break;
		case O_SMTD:
			x->t.smtd_service = optarg;
			break;
		case O_SMTDU:
			x->t.smtd_service_udp = optarg;
			break;
		case O_SMTDSETUPS:
			smtd_setups = smtd_kinds_parse(optarg);
			if (smtd_setups < 0) {
				fprintf(stderr,
					"smt-bench: --smtd-setups %s: want a "
					"list of resumed, 0rtt, ticket, all\n",
					optarg);
				return 2;
			}
			break;
		case O_SMTDPIDS:
			if (sscanf(optarg, "%d,%d", &smtd_pid[0],
				   &smtd_pid[1]) != 2 ||
			    !cpu_ns_pid(smtd_pid[0]) ||
			    !cpu_ns_pid(smtd_pid[1])) {
				fprintf(stderr,
					"smt-bench: --smtd-pids %s: want "
					"CLIENT_PID,SERVER_PID of running "
					"smtds\n",
					optarg);
				return 2;
			}
			break;
		case O_ENCAP:
			if (smt_encaps_parse(optarg, encaps)) {
				fprintf(stderr,
					"smt-bench: --encap %s: want ip, udp "
					"or ip,udp\n",
					optarg);
				return 2;
			}
			encaps_set = true;
			break;
		case O_SMTOPT:
			if (!strncmp(optarg, "encap=", 6)) {
				if (smt_encaps_parse(optarg + 6, encaps)) {
					fprintf(stderr,
						"smt-bench: --smt-opt %s: "
						"want encap=ip, udp or "
						"ip,udp\n",
						optarg);
					return 2;
				}
				encaps_set = true;
			} else if (smt_opt_parse(optarg)) {
				fprintf(stderr,
					"smt-bench: --smt-opt %s: want "
					"rpc_timeouts, resend_us, unsched, "
					"max_granted, mtu, busy_poll_us, "
					"xsk_tx, rto_min_us, max_pad or hold_ms "
					"=NUMBER, or "
					"encap=LIST\n",
					optarg);
				return 2;
			}
			break;
		case 'v':
			x->verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!server || !ca || x->p.rounds < 1) {
		usage(stderr);
		return 2;
	}
	if (x->p.mt_cli &&
	    (x->p.mt_cli > x->p.threads || x->p.mt_srv > x->p.threads)) {
		fprintf(stderr,
			"smt-bench: --threads-pair %d:%d: both at most "
			"--threads (%d)\n",
			x->p.mt_cli, x->p.mt_srv, x->p.threads);
		return 2;
	}
	/* With --encap, SMT in --transports (smt or smt-udp) runs in the
	 * encapsulations --encap names: --transports smt,tls --encap udp is
	 * SMT over UDP against TLS. */
	if (encaps_set) {
		bool smt = x->p.tp_on[TP_SMT] || x->p.tp_on[TP_SMTU];

		x->p.tp_on[TP_SMT] = smt && encaps[TP_SMT];
		x->p.tp_on[TP_SMTU] = smt && encaps[TP_SMTU];
	}
	if ((x->p.tp_on[TP_SMT] || x->p.tp_on[TP_SMTU]) && !bench_have_smt) {
		fprintf(stderr,
			"smt-bench: SMT requested but this build has no SMT "
			"(libsmt's engine missing); use --transports "
			"udp,tcp,tls or rebuild\n");
		return 2;
	}
	if (x->p.n_hol && !x->n_loss_if) {
		fprintf(stderr, "smt-bench: the head-of-line test needs "
				"--loss-if (or --hol-loss none)\n");
		return 2;
	}
	x->t.addr.sin_family = AF_INET;
	if (inet_pton(AF_INET, server, &x->t.addr.sin_addr) != 1) {
		fprintf(stderr, "smt-bench: --server %s: not an IPv4 address\n",
			server);
		return 2;
	}
	x->t.base_port = BENCH_BASE_PORT;
	x->t.ca_file = ca;
	x->t.tls = tls_client_ctx(ca, ktls, err, sizeof(err));
	if (!x->t.tls) {
		fprintf(stderr, "smt-bench: %s\n", err);
		return 1;
	}
	if ((mcert || mkey || mca) && !(mcert && mkey && mca)) {
		fprintf(stderr, "smt-bench: --mtls-cert, --mtls-key and "
				"--mtls-ca go together\n");
		return 2;
	}
	if (mcert) {
		x->tls_mutual = tls_mutual_ctx(false, mcert, mkey, mca, err,
					       sizeof(err));
		if (!x->tls_mutual) {
			fprintf(stderr, "smt-bench: %s\n", err);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	ret = -1;
	for (int i = 0; i < 50 && ret < 0; i++) {
		ret = -1;
		if (i)
			usleep(100000);
		ctl_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = x->t.addr;

		a.sin_port = htons(BENCH_BASE_PORT + PORT_CTL);
		if (ctl_fd >= 0 &&
		    !connect(ctl_fd, (struct sockaddr *)&a, sizeof(a)))
			ret = 0;
		else if (ctl_fd >= 0)
			close(ctl_fd);
	}
	if (ret) {
		fprintf(stderr,
			"smt-bench: cannot reach the server's control port "
			"%s:%d: %s (start `smt-bench server` first)\n",
			server, BENCH_BASE_PORT + PORT_CTL, strerror(errno));
		return 1;
	}
	ret = report_raw_open(out);
	if (ret) {
		fprintf(stderr, "smt-bench: cannot write %s/raw.csv: %s\n", out,
			strerror(-ret));
		return 1;
	}
	for (int r = 0; r < x->p.rounds; r++)
		run_round(x, r);
	report_raw_close();
	info.out_dir = out;
	info.rounds = x->p.rounds;
	info.setup_gap_ms = x->p.setup_gap_ms;
	memcpy(info.tp_on, x->p.tp_on, sizeof(info.tp_on));
	info.ktls = ktls_seen ? ktls_seen : "not measured (no TLS run)";
	ret = report_write(x->res, x->nres, &info);
	if (ret)
		fprintf(stderr,
			"smt-bench: cannot write the reports in %s: "
			"%s\n",
			out, strerror(-ret));
	if (x->failures) {
		fprintf(stderr,
			"smt-bench: %d test point(s) FAILED (see "
			"above)\n",
			x->failures);
		return 1;
	}
	return ret ? 1 : 0;
}
