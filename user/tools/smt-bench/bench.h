/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * smt-bench internals: the transports it compares (SMT, UDP, TCP, TLS 1.3
 * over TCP), the application framing they share, the buffered non-blocking
 * stream used by TCP and TLS on both sides, the client connection that runs
 * one workload over any transport, the result rows and the reports made from
 * them, and the XDP loss injector used in the head-of-line test.
 *
 * Every RPC carries the same 16-byte application header at the start of its
 * payload (struct bench_hdr): the request ID the client matches responses
 * with, and the size of the response the server must send. Requests and
 * responses are otherwise filled with a byte pattern. TCP and TLS prefix each
 * message with its 4-byte big-endian length; UDP carries one message per
 * datagram; SMT carries one message per SMT message.
 */
#ifndef SMT_BENCH_H
#define SMT_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <netinet/in.h>
#include <openssl/ssl.h>

/* TP_SMT is SMT natively on IP ("smt"), TP_SMTU SMT over UDP ("smt-udp",
 * docs/protocol.md 1.1); TP_UDP is the plain UDP baseline. */
enum bench_tp {
	TP_SMT = 0,
	TP_UDP = 1,
	TP_TCP = 2,
	TP_TLS = 3,
	TP_SMTU = 4,
	TP_QUIC = 5, /* QUIC (ngtcp2 + GnuTLS), user/tools/smt-bench/quic.c */
	TP_COUNT
};

const char *tp_name(enum bench_tp t);
/* The name in tables: "smt-ip" and "smt-udp" for the two SMTs. */
const char *tp_label(enum bench_tp t);
int tp_from_name(const char *s); /* enum bench_tp or -1 */

static inline bool tp_is_smt(enum bench_tp t)
{
	return t == TP_SMT || t == TP_SMTU;
}

/* Server ports: base + offset. */
enum {
	PORT_CTL = 0, /* TCP: line commands (cpu, ping) */
	PORT_UDP = 1,
	PORT_TCP = 2,
	PORT_TLS = 3,
	PORT_SMT_KEYS = 4, /* TLS 1.3 handshake that keys an SMT session */
	PORT_SMT = 5, /* the server's SMT port (native IP) */
	PORT_SMTU_KEYS = 6, /* the same, for a session over UDP */
	PORT_SMTU = 7, /* the server's SMT port over UDP (a UDP port) */
	PORT_QUIC = 8, /* QUIC (UDP) */
	PORT_TLS_MUTUAL = 9, /* TLS that requires a client certificate */
};
#define BENCH_BASE_PORT 7700
/* `server --threads N`: the multi-threaded service's ports are the usual
 * ones plus this (TCP, TLS, SMT keying, SMT over UDP) */
#define BENCH_MT_PORT_OFF 10
#define BENCH_MT_MAX 8

#define BENCH_HDR_LEN 16
#define BENCH_MAX_MSG (1u << 20) /* 1 MiB: the head-of-line test's size */
#define BENCH_UDP_MAX 65507 /* largest UDP payload over IPv4 */
#define BENCH_FRAME_LEN 4 /* TCP/TLS length prefix */

struct bench_hdr {
	uint64_t id; /* host order: both ends are this program */
	uint32_t resp_len;
	uint32_t zero;
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* CPU time (user + system) of this process or thread, in ns. */
uint64_t cpu_ns_self(void);
uint64_t cpu_ns_thread(void);
/* CPU time of process pid so far (ns; /proc/PID/schedstat, else the
 * clock ticks of /proc/PID/stat), 0 when it cannot be read. */
uint64_t cpu_ns_pid(int pid);

/* ---- growable byte buffer -------------------------------------------- */

struct bbuf {
	uint8_t *data;
	size_t cap, head, tail; /* bytes in [head, tail) */
};

static inline size_t bbuf_len(const struct bbuf *b)
{
	return b->tail - b->head;
}

/* Makes room for n more bytes at tail; 0 or -ENOMEM. */
int bbuf_reserve(struct bbuf *b, size_t n);
/* Appends n bytes (src may be NULL for "reserve and zero"). */
int bbuf_put(struct bbuf *b, const void *src, size_t n);
void bbuf_consume(struct bbuf *b, size_t n);
void bbuf_free(struct bbuf *b);

/* ---- TLS ---------------------------------------------------------------- */

/* TLS 1.3 only, TLS_AES_128_GCM_SHA256 only, kTLS asked for when ktls. */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, bool ktls, char *err,
			size_t err_len);
SSL_CTX *tls_client_ctx(const char *ca, bool ktls, char *err, size_t err_len);
/* Mutual authentication (--mtls-cert, --mtls-key, --mtls-ca), as smtd's
 * `client_cert = require`: both sides present cert (key) and check the
 * peer's against ca; the server requires one. */
SSL_CTX *tls_mutual_ctx(bool server, const char *cert, const char *key,
			const char *ca, char *err, size_t err_len);
/* "kTLS tx+rx", "kTLS tx", "no kTLS" for an established connection. */
const char *tls_ktls_state(SSL *ssl);
/* Whether this kernel accepts the "tls" ULP on a TCP socket. */
bool tls_kernel_has_ktls(void);
/* Last OpenSSL error as text (drains the queue). */
const char *tls_errstr(void);

/* ---- buffered non-blocking stream (TCP or TLS) ------------------------- */

struct stream {
	int fd;
	SSL *ssl; /* NULL for plaintext TCP */
	struct bbuf in, out;
	bool eof;
};

/* Reads everything available; 0, -EAGAIN never (returns 0), or -errno /
 * -EPROTO (TLS failure). Sets eof on orderly close. */
int stream_read(struct stream *s);
/* Writes out as far as possible; 0 when out is empty, -EAGAIN when data
 * remains, or another -errno. */
int stream_flush(struct stream *s);
/* Next complete frame in s->in: returns its payload length and points *p at
 * it, or -EAGAIN (incomplete) or -EPROTO (bad length). Consume with
 * bbuf_consume(&s->in, BENCH_FRAME_LEN + len). */
long stream_frame(struct stream *s, const uint8_t **p);
/* Appends one frame of len bytes: hdr (BENCH_HDR_LEN bytes) + pattern. */
int stream_put_msg(struct stream *s, const struct bench_hdr *h, size_t len);
void stream_close(struct stream *s);

/* Fills buf (len >= BENCH_HDR_LEN) with h and the pattern. */
void msg_fill(uint8_t *buf, size_t len, const struct bench_hdr *h);
/* Whether buf is exactly the response to RPC id of len bytes: its header
 * (id, len) and the pattern (client --verify). */
bool msg_check(const uint8_t *buf, size_t len, uint64_t id);
/* client --verify: every response is checked byte for byte (TCP, TLS,
 * UDP, QUIC); one that differs counts as a response of the wrong length */
extern bool bench_verify;
/* Parses the header; false when len < BENCH_HDR_LEN. */
bool msg_hdr(const uint8_t *buf, size_t len, struct bench_hdr *h);

/* ---- SMT (user/tools/smt-bench/smt.c) ---------------------------------- */

/* Whether this build of smt-bench carries the SMT transport. */
const char *smt_errstr(int err);
extern const bool bench_have_smt;
struct smt_endpoint;

/* "--smt-opt KEY=VALUE": endpoint options for both roles (rpc_timeouts,
 * resend_us, unsched, max_granted, mtu, busy_poll_us, xsk_tx); 0 or
 * -EINVAL. smt_opts_str() lists what is set, for the report. */
int smt_opt_parse(const char *kv);
const char *smt_opts_str(void);

/* "--encap LIST" (also "--smt-opt encap=LIST"): ip, udp or ip,udp: which
 * SMT encapsulations run (client: the transports smt and smt-udp; server:
 * the endpoints it opens). Sets on[TP_SMT] and on[TP_SMTU]; 0 or -EINVAL. */
int smt_encaps_parse(const char *list, bool on[TP_COUNT]);

/* Server side: the endpoint (udp: SMT over UDP), and one keying
 * connection's session. */
int smt_srv_open(uint16_t port, bool udp, struct smt_endpoint **ep, char *err,
		 size_t err_len);
/* After the TLS handshake on a keying connection: exchange ports, derive
 * keys, add the session. *sess receives the session id. */
int smt_srv_key(struct smt_endpoint *ep, SSL *ssl,
		const struct sockaddr_storage *peer, uint32_t *sess,
		const void *owner, char *err, size_t err_len);
/* --threads: n SMT-over-UDP endpoints sharing port (a reuseport group,
 * smt_endpoint_open_group), one per server thread. */
int smt_srv_open_group(uint16_t port, unsigned int n, struct smt_endpoint **eps,
		       char *err, size_t err_len);
/* smt_srv_key in two steps, for sessions every thread's endpoint holds:
 * the keys of a keying connection (NULL on failure, err filled), then one
 * smt_srv_add per endpoint (from the endpoint's thread). */
void *smt_srv_derive(SSL *ssl, const struct sockaddr_storage *peer, char *err,
		     size_t err_len);
int smt_srv_add(struct smt_endpoint *ep, const void *keys, uint32_t *sess,
		const void *owner, char *err, size_t err_len);
void smt_srv_keys_free(void *keys);
/* Removes ep's session keyed by owner (whatever its id). */
void smt_srv_drop_owner(struct smt_endpoint *ep, const void *owner);
uint16_t smt_ep_port(struct smt_endpoint *ep);
/* Serves every ready message of ep (echo). */
int smt_srv_process(struct smt_endpoint *ep);
/* Removes the session keyed by owner, unless a newer set-up from the same
 * peer replaced it. */
void smt_srv_drop(struct smt_endpoint *ep, uint32_t sess, const void *owner);
int smt_ep_fd(struct smt_endpoint *ep);
/* --smt-opt caller_timers=1: the endpoints set no timerfd; every wait on
 * them ends at smt_ep_timeout_ns() (nanoseconds, -1 none, 0 due) and is
 * followed by their processing */
bool smt_bench_caller_timers(void);
int64_t smt_ep_timeout_ns(const struct smt_endpoint *ep);
void smt_ep_close(struct smt_endpoint *ep);

/* ---- client connection: one transport to one server --------------------- */

struct bench_target {
	struct sockaddr_in addr; /* server address, port 0 */
	uint16_t base_port;
	SSL_CTX *tls; /* client context for TLS and SMT keying */
	/* TLS to PORT_TLS_MUTUAL, whose server requires a certificate:
	 * tls is then tls_mutual_ctx()'s, with this client's */
	bool mutual;
	const char *smtd_service; /* SMT sessions through smtd, if set */
	const char *smtd_service_udp; /* the same for SMT over UDP */
	bool via_smtd; /* this connection's SMT session comes from smtd */
	/* through smtd: a set-up kind's service (the service name with
	 * "-SUFFIX", smtd_kinds[]), NULL for the plain (full) one */
	const char *smtd_kind;
	/* one untimed set-up first (resumption needs a ticket from it) */
	bool setup_warm;
	const char *ca_file; /* the CA (QUIC: GnuTLS loads it itself) */
	struct quic_resume *quic_resume; /* QUIC: resume with its ticket */
	/* QUIC, the threads test: 1 + the server thread (member of the
	 * server's reuseport group) the first byte of the client's first
	 * DCID steers the connection to; 0: that byte is random too */
	unsigned int quic_lane;
};

struct cconn {
	enum bench_tp tp;
	int fd; /* socket, or smt_fd for SMT */
	struct stream st; /* TCP, TLS, SMT keying connection */
	struct smt_endpoint *ep;
	uint32_t sess;
	uint8_t *txbuf, *rxbuf; /* UDP and SMT message buffers */
	uint64_t t_ready; /* when the session became usable (set-up test) */
	struct quic_conn *q; /* QUIC */
};

/* Opens the connection (TCP connect, TLS handshake, SMT keying). Blocking
 * until ready; returns 0 or -errno with err filled. */
int cconn_open(struct cconn *c, enum bench_tp tp, const struct bench_target *t,
	       char *err, size_t err_len);
void cconn_close(struct cconn *c);
/* Sends one request of len bytes asking for resp_len bytes back. */
int cconn_send(struct cconn *c, uint64_t id, size_t len, size_t resp_len);
/* poll() events the connection waits for. */
short cconn_events(const struct cconn *c);
/* Waits up to timeout_ms for cconn_events() on c->fd: 0 or -errno. */
int cconn_wait(const struct cconn *c, int timeout_ms);
/* Upper bound for the poll timeout (ms), -1 for none. */
int cconn_timeout_ms(const struct cconn *c);
/* A response of len bytes, or (err < 0) the RPC failed with err. */
typedef void (*resp_fn)(void *ctx, uint64_t id, size_t len, int err);
/* Handles readiness: reads responses and calls fn for each; flushes. */
int cconn_input(struct cconn *c, resp_fn fn, void *ctx);
/* SMT (c->tp TP_SMT or TP_SMTU): sends the client SMT port and reads the
 * server's (set-up). */
int smt_cli_open(struct cconn *c, const struct bench_target *t, char *err,
		 size_t err_len);
/* SMT session from the local smtd (smt_connect to t->smtd_service, or
 * t->smtd_service_udp over UDP). */
int smt_cli_open_smtd(struct cconn *c, const struct bench_target *t, char *err,
		      size_t err_len);
/* Server: register the endpoint with the local smtd for service. */
int smt_srv_serve(struct smt_endpoint *ep, const char *service, char *err,
		  size_t err_len);
int smt_cli_send(struct cconn *c, uint64_t id, size_t len, size_t resp_len);
int smt_cli_input(struct cconn *c, resp_fn fn, void *ctx);
int smt_cli_timeout_ms(const struct cconn *c);
void smt_cli_close(struct cconn *c);
/* One line of the endpoint's counters (retransmits, drops by reason). */
void smt_cli_stats(struct cconn *c, char *buf, size_t len);
/* The retransmission counters of the point into res (smt_* fields). */
struct result;
void smt_cli_counters(struct cconn *c, struct result *res);

/* System calls and offload counters of an SMT client endpoint. */
struct bench_io {
	uint64_t tx_calls, rx_calls; /* sendmmsg / recvmmsg */
	uint64_t gso_sends, gso_segments; /* UDP GSO messages, datagrams */
	uint64_t rx_packets; /* datagrams received */
	uint64_t tx_ctl; /* SMT control packets sent (ACK, RESEND, ...) */
};
/* 0, or -ENOTSUP when c is no SMT connection. */
int smt_cli_io(const struct cconn *c, struct bench_io *io);
/* The same for any connection: SMT and QUIC count, others -ENOTSUP. */
int cconn_io(const struct cconn *c, struct bench_io *io);

/* ---- QUIC (user/tools/smt-bench/quic.c) -------------------------------- */

struct quic_conn;
struct quic_server;
/* Session tickets and server transport parameters kept from one QUIC
 * connection to the next (resumption with 0-RTT), and how 0-RTT fared. */
struct quic_resume;

/* Client: the handshake (blocking), or with a ticket in t->quic_resume
 * nothing yet: the first flush sends the Initial with 0-RTT requests. */
int quic_cli_open(struct cconn *c, const struct bench_target *t, char *err,
		  size_t err_len);
void quic_cli_close(struct cconn *c);
/* One RPC on a new stream; -EAGAIN when the server's stream limit is
 * reached (MAX_STREAMS raises it). */
int quic_cli_send(struct cconn *c, uint64_t id, size_t len, size_t resp_len);
short quic_cli_events(const struct cconn *c);
int quic_cli_timeout_ms(const struct cconn *c);
int quic_cli_input(struct cconn *c, resp_fn fn, void *ctx);
struct bench_io;
int quic_cli_io(const struct cconn *c, struct bench_io *io);
struct quic_resume *quic_resume_new(void);
void quic_resume_stats(const struct quic_resume *r, uint64_t *early_ok,
		       uint64_t *early_rejected);
void quic_resume_free(struct quic_resume *r);

/* Server: one UDP socket at addr (its port) and a timerfd; both go into
 * the server's epoll set, quic_srv_input / quic_srv_timer serve them. */
int quic_srv_open(const struct sockaddr_in *addr, const char *cert,
		  const char *key, struct quic_server **qs, char *err,
		  size_t err_len);
/* `server --threads n`: n servers, one per thread, whose sockets form a
 * reuseport group at addr steered by connection ID (quic.c says how);
 * out[i] is member i. */
int quic_srv_open_group(const struct sockaddr_in *addr, const char *cert,
			const char *key, unsigned int n,
			struct quic_server **out, char *err, size_t err_len);
int quic_srv_fd(const struct quic_server *qs);
int quic_srv_timer_fd(const struct quic_server *qs);
void quic_srv_input(struct quic_server *qs);
void quic_srv_timer(struct quic_server *qs);

/* ---- results ------------------------------------------------------------ */

enum bench_test {
	TEST_LAT = 0, /* unloaded latency by size */
	TEST_TPUT, /* throughput by outstanding RPCs */
	TEST_HOL, /* small RPCs beside 1 MiB RPCs, with loss */
	TEST_SETUP, /* session / connection set-up */
	TEST_GOODPUT, /* 1 MiB requests, small responses */
	TEST_SETUP_SMTD, /* SMT session set-up through smtd */
	TEST_THREADS, /* throughput with N client and N server threads */
	TEST_SETUP_RESUME, /* set-up resuming a session (QUIC: 0-RTT) */
	TEST_SETUP_CONC, /* many clients setting up sessions through smtd */
	TEST_SETUP_SMTD_RES, /* through smtd, TLS 1.3 resumption */
	TEST_SETUP_SMTD_0RTT, /* through smtd, resumption and early data */
	TEST_SETUP_SMTD_TKT, /* through smtd, an SMT-ticket (0-RTT) */
	TEST_SETUP_MTLS, /* TLS with client certificates (--mtls-*) */
	TEST_COUNT
};
const char *test_name(enum bench_test t);
/* Set-up through smtd (the smtds' CPU is measured). */
bool test_via_smtd(enum bench_test t);

/*
 * Set-up kinds through smtd beside the full handshake (--smtd-setups):
 * each uses the services named SERVICE-SUFFIX (and SERVICE_UDP-SUFFIX),
 * which scripts/bench.sh configures with that policy on both smtds.
 */
struct smtd_kind {
	const char *suffix;
	enum bench_test test;
	bool warm; /* needs a ticket from an earlier set-up */
};
#define SMTD_KINDS 3
extern const struct smtd_kind smtd_kinds[SMTD_KINDS];
/* "resumed,0rtt,ticket" (any of them, or "all") as a bit per
 * smtd_kinds[] entry; -1 when a name is unknown. */
int smtd_kinds_parse(const char *list);
/* Serves SERVICE and SERVICE-SUFFIX of every kind in mask on ep. */
int smt_srv_serve_kinds(struct smt_endpoint *ep, const char *service, int mask,
			char *err, size_t err_len);

struct result {
	int round;
	enum bench_test test;
	enum bench_tp tp;
	uint32_t size, resp_size, load;
	uint32_t loss_ppm;
	uint64_t n; /* RPCs measured */
	double secs;
	double rps, goodput_MBps;
	double p50, p90, p99, p999, mean; /* microseconds */
	double cpu_cli, cpu_srv; /* microseconds of CPU per RPC */
	uint64_t retries, errors; /* errors: the point failed */
	uint64_t rpc_failed; /* RPCs the transport gave up on */
	uint64_t setup_failed; /* concurrent set-up: set-ups that failed */
	uint64_t large_n; /* HOL: 1 MiB RPCs completed */
	double ready_p50; /* set-up: us until the session was usable */
	/* set-up through smtd: CPU of the client's and the server's smtd
	 * per set-up (us; NAN when not measured: no --smtd-pids) */
	double cpu_smtd_cli, cpu_smtd_srv;
	uint32_t threads; /* threads per side (TEST_THREADS; else 1) */
	/* client --hostbpf: 1 with smt_xdp and smt_tc attached on both
	 * hosts, 0 without (and in every other run) */
	uint32_t hostbpf;
	/* client --pkts-if: the interface's packets, both ways, per RPC in
	 * the measured window (0: not measured) */
	double pkts_rpc;
	/* SMT client endpoint, over the measured window (io set): send and
	 * receive system calls per RPC, datagrams per UDP GSO send,
	 * datagrams per receive call */
	bool io;
	double syscalls_cli, gso_segs, rx_per_call;
	/* SMT, the client's endpoint over the point: DATA it sent again,
	 * DATA it received twice, of those the server's spurious
	 * retransmissions; its session's RESEND timeout at the end (us);
	 * its probes for responses (RESEND 0/0) and the tail-loss probes
	 * the server's receipts saved (docs/engine.md Timers) */
	uint64_t smt_rtx, smt_dup_in, smt_spurious_in;
	uint64_t smt_probes, smt_probes_saved;
	double smt_rto_us;
};

/* Percentile q (0..1) of sorted samples (ns), in us. */
double pct_us(const uint64_t *sorted, size_t n, double q);
int cmp_u64(const void *a, const void *b);
int cmp_double(const void *a, const void *b);

struct report_info {
	const char *out_dir;
	double aes_MBps; /* openssl speed, single core; 0 if unknown */
	const char *ktls; /* what the TLS runs used */
	int rounds;
	double setup_gap_ms; /* --setup-gap-ms */
	bool tp_on[TP_COUNT]; /* transports asked for (--transports) */
};

/* Writes summary.csv, bench.json, summary.md, plot data files and prints
 * the summary table; returns 0 or -errno. */
int report_write(const struct result *r, size_t n,
		 const struct report_info *info);
/* HOL latency samples of one run, pooled per (transport, loss). */
int report_add_hol_samples(enum bench_tp tp, uint32_t loss_ppm,
			   const uint64_t *ns, size_t n);
/* Raw rows as they come (crash-safe). */
int report_raw_open(const char *out_dir);
void report_raw_row(const struct result *r);
void report_raw_close(void);

/* ---- loss injection (loss.c) ------------------------------------------- */

/* iface is "NAME" (this netns) or "NAME@/var/run/netns/NS". */
int loss_attach(char *const *ifaces, int n, char *err, size_t err_len);
int loss_set(uint32_t ppm);
void loss_counts(uint64_t *seen, uint64_t *dropped);
void loss_detach(void);

/* ---- entry points ------------------------------------------------------- */

int server_main(int argc, char **argv);
int client_main(int argc, char **argv);

#endif /* SMT_BENCH_H */
