/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * smtd internals: configuration (config.c), logging and the main loop
 * (main.c), TLS 1.3 handshakes and the session-parameter exchange (tls.c,
 * params.c), the control socket and session table (ctl.c), and the optional
 * BPF attachment (bpf.c).
 */
#ifndef SMTD_H
#define SMTD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <syslog.h>
#include <json-c/json.h>
#include <openssl/ssl.h>

#include "ctlproto.h"
#include "libsmt.h"
#include "smt/wire.h"

/* ---- configuration ----------------------------------------------------- */

#define SMTD_MAX_SERVICES 64
#define SMTD_MAX_UIDS 32
#define SMTD_NAME_MAX 64

/* resumption = on | off | 0-rtt (docs/protocol.md 6.4) */
enum smtd_resume_policy {
	SMTD_RESUME_ON, /* tickets, 1-RTT resumption (the default) */
	SMTD_RESUME_OFF, /* no tickets: a full handshake every time */
	SMTD_RESUME_0RTT, /* resumption and early data */
};

#define SMTD_TICKET_LIFETIME_MAX (7u * 24 * 3600) /* RFC 8446 4.6.1 */

struct smtd_service {
	char name[SMTD_NAME_MAX]; /* also the TLS SNI and certificate name */
	uint16_t port; /* SMT port; 0 = whatever the serving app holds */
	bool any_uid;
	int nuids;
	uid_t uids[SMTD_MAX_UIDS];
	unsigned int encaps; /* SMTD_ENCAPS_*: encapsulations allowed */
	char ticket_key[256]; /* X25519 key of its SMT-tickets ("": none) */
	enum smtd_resume_policy resume; /* docs/protocol.md 6.4 policy */
	bool handover_accept; /* resumed_handover = accept: no IN_USE */
	int line; /* where it was defined, for messages */
};

/* Bit masks of encapsulations (enum smt_encap values as bits): what smt.conf
 * allows a service, what its serving applications use. */
#define SMTD_ENCAPS_IP (1u << SMT_ENCAP_IP)
#define SMTD_ENCAPS_UDP (1u << SMT_ENCAP_UDP)
#define SMTD_ENCAPS_ALL (SMTD_ENCAPS_IP | SMTD_ENCAPS_UDP)

enum smtd_client_auth {
	SMTD_CAUTH_NONE,
	SMTD_CAUTH_OPTIONAL,
	SMTD_CAUTH_REQUIRE
};

struct smtd_config {
	char path[256];
	/* [smtd] */
	char listen_addr[64];
	uint16_t listen_port;
	char ctl_path[108];
	unsigned int ipproto;
	unsigned int encaps; /* SMTD_ENCAPS_*: default of every service */
	int log_level; /* LOG_ERR .. LOG_DEBUG */
	unsigned int handshake_timeout_s;
	unsigned int max_sessions;
	unsigned int max_sessions_uid; /* per non-root uid */
	unsigned int max_ctl_clients; /* non-root control connections */
	unsigned int max_handshakes; /* inbound handshakes at once */
	bool tcp_fastopen; /* TCP Fast Open on handshake connections */
	/* [tls] */
	char cert[256], key[256], ca[256];
	enum smtd_client_auth client_auth;
	char ciphersuites[256];
	unsigned int tls_ticket_lifetime_s; /* <= SMTD_TICKET_LIFETIME_MAX */
	unsigned int tls_ticket_cache; /* client: tickets kept, 0: none */
	char tls_ticket_keys[256]; /* STEK file, "" for smtd's own keys */
	/* [defaults] */
	unsigned int B;
	uint32_t max_msg, max_pad, lifetime_s;
	unsigned int rekey_margin_s;
	/* [bpf] */
	char bpf_iface[32];
	char bpf_xdp_mode[16]; /* native, generic, auto */
	bool bpf_session_filter;
	char bpf_udp_ports[256]; /* SMT-over-UDP ranges besides the services' */
	/* [tickets] (SMT-tickets, docs/protocol.md 6.3) */
	unsigned int ticket_lifetime_s; /* of the tickets this smtd issues */
	unsigned int ticket_window_s; /* W: HELLO freshness */
	unsigned int ticket_replay_max; /* HELLO randoms remembered */
	char ticket_dir[256]; /* client: servers' tickets ("": none) */
	/* [metrics] */
	char metrics_listen[80]; /* "addr:port"; "" = no metrics endpoint */
	struct sockaddr_storage metrics_addr; /* metrics_listen, parsed */
	unsigned int metrics_max_sessions; /* per-session series limit */
	unsigned int metrics_max_clients; /* scrapes served at once */
	/* [service NAME] */
	int nservices;
	struct smtd_service services[SMTD_MAX_SERVICES];
};

/*
 * Parse and validate path into cfg. On failure returns -EINVAL (or -errno
 * when the file cannot be read) and writes "FILE:LINE: what is wrong; what
 * to do" messages, one per line, into err.
 */
int smtd_config_load(const char *path, struct smtd_config *cfg, char *err,
		     size_t errlen);
/* The same for the file's text buf (len bytes; path names it in messages). */
int smtd_config_parse(const char *path, const char *buf, size_t len,
		      struct smtd_config *cfg, char *err, size_t errlen);
const struct smtd_service *smtd_service_find(const struct smtd_config *cfg,
					     const char *name);
bool smtd_service_uid_ok(const struct smtd_service *s, uid_t uid);
/* "ip", "udp" or "ip,udp" for a SMTD_ENCAPS_* mask ("none" for 0). */
const char *smtd_encaps_str(unsigned int m);

/*
 * [tls] ticket_keys: the shared ticket-key (STEK) file, current key first,
 * then at most one previous key (smt.conf(5)). Each key is a 16-byte name
 * (sent in clear in the tickets it makes), an AES-256-CBC key and an
 * HMAC-SHA256 key: one line of 160 hex digits.
 */
#define SMTD_STEK_KEYS 2
struct smtd_stek_key {
	uint8_t name[16];
	uint8_t aes[32];
	uint8_t hmac[32];
};

/* Read, check (a regular file of at most 4096 bytes that neither group nor
 * others may access) and parse path into keys ([0] the current one) and
 * *n. st (may be NULL) gets the file's fstat. 0, or -errno / -EINVAL with
 * "what is wrong; what to do" in err (never key material); keys are wiped
 * on failure. */
int smtd_stek_read(const char *path, struct smtd_stek_key *keys, int *n,
		   struct stat *st, char *err, size_t errlen);
/* The same for the file's text (len bytes). */
int smtd_stek_parse(const char *buf, size_t len, struct smtd_stek_key *keys,
		    int *n, char *err, size_t errlen);

/* ---- logging ----------------------------------------------------------- */

extern int smtd_log_level;
extern bool smtd_log_syslog;
extern bool smtd_log_tee; /* with syslog, to stderr too (until ready) */
void smtd_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define LOG_E(...) smtd_log(LOG_ERR, __VA_ARGS__)
#define LOG_W(...) smtd_log(LOG_WARNING, __VA_ARGS__)
#define LOG_I(...) smtd_log(LOG_INFO, __VA_ARGS__)
#define LOG_D(...) smtd_log(LOG_DEBUG, __VA_ARGS__)

/* ---- main loop (run by main.c; these in loop.c) ------------------------ */

struct smtd;
typedef void (*smtd_io_cb)(struct smtd *d, void *obj, uint32_t events);

/* Every fd in the epoll set carries one of these as its data.ptr. */
struct smtd_io {
	int fd;
	smtd_io_cb cb;
	void *obj;
	int64_t paused_until; /* listening socket: accept paused (ms) */
};

int smtd_io_add(struct smtd *d, struct smtd_io *io, uint32_t events);
int smtd_io_mod(struct smtd *d, struct smtd_io *io, uint32_t events);
void smtd_io_del(struct smtd *d, struct smtd_io *io);
int64_t smtd_now_ms(void);
/*
 * accept4() on the listening socket lio, non-blocking and close-on-exec;
 * ss (may be NULL) gets the peer. -1 when there is nothing (more) to take.
 * Out of file descriptors, the one waiting connection is taken with the
 * reserve descriptor and closed, and accepting pauses for 100 ms, so that
 * a full table never turns into a busy loop (smtd_accept_tick resumes).
 */
int smtd_accept(struct smtd *d, struct smtd_io *lio,
		struct sockaddr_storage *ss);
void smtd_accept_tick(struct smtd *d);

/* ---- counters (smtctl stats) ------------------------------------------- */

#define SMTD_COUNTERS(X)                                                     \
	X(handshakes_ok, "TLS handshakes and parameter exchanges completed") \
	X(handshakes_failed, "handshakes that failed (see refusals)")        \
	X(handshakes_in, "handshakes accepted on the listen port")           \
	X(handshakes_out, "handshakes started for smt_connect")              \
	X(sessions_added, "sessions handed to applications")                 \
	X(sessions_reregistered, "sessions re-registered after a restart")   \
	X(sessions_removed, "sessions removed")                              \
	X(ctl_requests, "control-socket requests")                           \
	X(ctl_bad_requests, "malformed control-socket requests")             \
	X(ctl_denied, "control requests refused by uid policy")              \
	X(rekeys_due, "sessions that reached lifetime - rekey_margin")       \
	X(rekeys_ok, "re-keys completed (new epoch handed over)")            \
	X(rekeys_failed, "re-keys that failed (retried every 5 s)")          \
	X(reloads, "configuration reloads (SIGHUP)")                         \
	X(closes_sent, "sessions ended here and told to the peer smtd")      \
	X(closes_received, "sessions the peer smtd ended (CLOSE)")           \
	X(closes_failed, "CLOSEs not delivered or refused by the peer")      \
	X(close_conns, "TLS connections opened to send CLOSEs")              \
	X(sessions_replaced, "stale sessions replaced by a new set-up")      \
	X(ctl_overflows, "control clients dropped: answers not read")        \
	X(ctl_conns_refused, "control connections over the limits")          \
	X(hs_conns_refused, "handshake connections over the limits")         \
	X(accept_paused, "accepts paused: out of file descriptors")          \
	X(sessions_denied, "sessions refused: limits, ports, BPF map")       \
	X(bpf_reconciled, "stale BPF session entries removed at start")      \
	X(tickets_out, "SMT-ticket set-ups started (0-RTT)")                 \
	X(tickets_in, "SMT-ticket HELLOs received")                          \
	X(tickets_ok, "SMT-ticket set-ups confirmed (epoch 1)")              \
	X(tickets_failed, "SMT-ticket set-ups that failed")                  \
	X(tickets_refused, "SMT-ticket HELLOs refused")                      \
	X(tickets_bad_finished, "ticket ACCEPTs whose finished failed")      \
	X(metrics_scrapes, "metrics requests answered with 200")             \
	X(metrics_bad_requests, "metrics requests refused (4xx, timeout)")   \
	X(metrics_conns_refused, "metrics connections over max_clients")     \
	X(raw_sockets_handed, "raw IP sockets handed to applications")       \
	X(handshakes_resumed, "handshakes resumed with a ticket (PSK+DHE)")  \
	X(tfo_syn_data, "client handshake connections, SYN with data (TFO)") \
	X(closes_resumed, "CLOSE connections resumed with a ticket")         \
	X(tickets_cached, "tickets put in the client cache")                 \
	X(tickets_expired, "cached tickets found expired when wanted")       \
	X(tickets_taken, "server: stateful tickets resumed (single use)")    \
	X(early_sent, "0-RTT set-ups: PROPOSE sent as early data")           \
	X(early_prebuilt, "0-RTT set-ups with a ClientHello built ahead")    \
	X(resume_prebuilt, "resumed set-ups with a ClientHello built ahead") \
	X(resume_in_use, "resumed set-ups handed over at the Finished")      \
	X(resume_in_use_failed, "of those, ended: no matching ACCEPT came")  \
	X(full_prebuilt, "full set-ups with a ClientHello built ahead")      \
	X(hellos_built, "ClientHellos built ahead, while idle")              \
	X(early_accepted, "0-RTT set-ups whose early data was accepted")     \
	X(early_rejected, "0-RTT set-ups retried in 1-RTT (EARLY_KEYS)")     \
	X(early_refused_policy, "early data refused: service not 0-rtt")     \
	X(early_replays, "early data refused: ClientHello random seen")      \
	X(early_record_full, "early data refused: replay record full")       \
	X(stek_current, "tickets decrypted with the current shared key")     \
	X(stek_previous, "tickets decrypted with the previous key")          \
	X(stek_unknown, "tickets of a ticket key not loaded (rotated out)")  \
	X(stek_loads, "ticket-key file loads (start, SIGHUP, change)")       \
	X(stek_load_failed, "ticket-key file changes refused, keys kept")    \
	X(verify_full, "peer certificate chains verified in full")           \
	X(verify_cached, "peer chains known verified (verification cache)")  \
	X(x25519_pooled, "SMT-ticket key pairs made ahead, while idle")      \
	X(x25519_made, "SMT-ticket key pairs made during a set-up")          \
	X(sig_nonce_pooled, "SMT-ticket HELLO signatures, nonce made ahead") \
	X(sig_nonce_made, "SMT-ticket HELLO signatures, nonce made then")

#define SMTD_REFUSALS(X)                                                 \
	X(tls_failed, "TLS handshake failed (certificate, CA, version)") \
	X(alpn, "peer did not offer ALPN smt/1")                         \
	X(unknown_service, "SNI names no configured service")            \
	X(not_served, "no application serves the service")               \
	X(params, "parameter exchange refused")                          \
	X(timeout, "handshake timed out")                                \
	X(connect_failed, "TCP connection to the peer smtd failed")      \
	X(app_refused, "the serving application refused the session")    \
	X(cert_name, "server certificate does not name the service")

struct smtd_stats {
#define X(n, d) uint64_t n;
	SMTD_COUNTERS(X)
#undef X
	struct {
#define X(n, d) uint64_t n;
		SMTD_REFUSALS(X)
#undef X
	} refused;
};

/* ---- sessions and control connections ----------------------------------- */

struct smtd_ctl_conn;

struct smtd_session {
	struct smtd_session *next;
	struct smt_ctl_session s; /* no keys: smtd keeps none after hand-off */
	struct smtd_ctl_conn *owner;
	pid_t owner_pid;
	uid_t owner_uid;
	bool reregistered;
	bool rekey_busy; /* a re-key handshake is running */
	int64_t rekey_retry; /* unix time of the next attempt */
};

struct smtd_hs; /* one handshake in progress (tls.c) */
struct smtd_close; /* one CLOSE waiting to be sent (tls.c) */

/*
 * The set-up side (tls.c, tkt.c) as the control socket (ctl.c) sees it.
 * main.c puts smtd_setup_ops (tls.c) in struct smtd, so that ctl.c, which
 * the set-up modules call for the session table and pushes, calls none of
 * them directly.
 */
struct smtd_setup_ops {
	/* a connect request of c: an SMT-ticket set-up when a ticket
	 * applies, else TLS; 0 (answered later) or -errno with err */
	int (*connect)(struct smtd *d, struct smtd_ctl_conn *c, int64_t req_id,
		       const char *service, const char *address,
		       uint16_t local_port, uint8_t ipproto, char *err,
		       size_t errlen);
	/* tell the peer smtd that session s ended here (smtd_hs_close) */
	int (*close)(struct smtd *d, const struct smt_ctl_session *s);
	/* start the epoch + 1 handshake of a client-role session */
	int (*rekey)(struct smtd *d, struct smtd_session *s);
	/* a control connection went away */
	void (*conn_gone)(struct smtd *d, struct smtd_ctl_conn *c);
	/* the text of a new SMT-ticket of service (smtd_tkt_export) */
	int (*ticket_export)(struct smtd *d, const char *service, char *out,
			     size_t cap, char *err, size_t errlen);
};

struct smtd {
	struct smtd_config cfg;
	const char *cfg_path;
	int epfd;
	bool stop, reload;
	SSL_CTX *srv_ctx, *cli_ctx;
	SSL *srv_spare; /* of srv_ctx, made while idle (tls.c hs_new) */
	struct smtd_io listen_io, ctl_io, sig_io;
	struct smtd_ctl_conn *conns;
	unsigned int nconns;
	int reserve_fd; /* spent to take one connection at EMFILE */
	struct smtd_session *sessions;
	unsigned int nsessions;
	struct smtd_hs *hs_list;
	/* client set-ups whose application has its session, freed after the
	 * loop's next wait (tls.c hs_end, smtd_hs_reap) */
	struct smtd_hs *hs_reap;
	struct smtd_close *close_q; /* CLOSEs waiting to be sent (tls.c) */
	struct smtd_hs *hs_wait; /* outbound set-ups waiting for a slot */
	unsigned int nhs_in; /* inbound handshakes in hs_list */
	struct smtd_stats st;
	FILE *keylog;
	void *bpf; /* bpf.c state, NULL when not attached */
	void *tkt; /* tkt.c: SMT-ticket set-ups and replay record */
	struct smtd_tkt_cfg *tkt_cfg; /* tkt.c: keys and tickets loaded */
	struct smtd_io metrics_io; /* [metrics] listen; fd -1 when off */
	void *metrics; /* metrics.c state */
	int64_t started; /* unix time smtd started */
	struct smtd_resume *resume; /* resume.c: tickets, replay record */
	struct smtd_hello *hellos; /* tls.c: full set-ups' ClientHellos ahead */
	const struct smtd_setup_ops *setup; /* &smtd_setup_ops (tls.c) */
};

/* ctl.c */
int smtd_ctl_listen(struct smtd *d);
void smtd_ctl_close_all(struct smtd *d);
/* Find a connection that serves service in encap (first registered). */
struct smtd_ctl_conn *smtd_ctl_server_for(struct smtd *d, const char *service,
					  enum smt_encap encap, uint16_t *port);
/* SMTD_ENCAPS_* mask of what the applications serving service use (0:
 * none serves it). */
unsigned int smtd_ctl_served_encaps(struct smtd *d, const char *service);
/*
 * What a pushed session or epoch waits for: done(d, arg, ok, msg) runs
 * once, when the application acknowledged it (ok) or refused it (msg).
 * arg is the pusher's (a handshake of tls.c, a set-up of tkt.c); one that
 * goes away before calls smtd_ctl_push_cancel(d, arg).
 */
typedef void (*smtd_push_done)(struct smtd *d, void *arg, bool ok,
			       const char *msg);
/* Push a new server-side session to its serving application c; done runs
 * with arg at its ack. 0 or -errno (done will not run). */
int smtd_ctl_push_session(struct smtd *d, struct smtd_ctl_conn *c,
			  smtd_push_done done, void *arg,
			  const struct smt_ctl_session *s);
/* Finish a connect request: reply to the application with s (keys
 * included) or with an error. */
void smtd_ctl_connect_done(struct smtd *d, struct smtd_ctl_conn *c,
			   int64_t req_id, const struct smt_ctl_session *s,
			   int err, const char *msg);
/* Push new epoch keys of session s->sid to its owner; done runs with arg
 * at its ack, as for a pushed session. 0 or -errno (done will not run). */
int smtd_ctl_push_rekey(struct smtd *d, smtd_push_done done, void *arg,
			const struct smt_ctl_session *s);
/* arg goes away: no push waits for it any more (its done will not run). */
void smtd_ctl_push_cancel(struct smtd *d, const void *arg);
struct smtd_session *smtd_table_find(struct smtd *d, uint32_t sid);
struct smtd_ctl_conn *smtd_session_owner(struct smtd *d, uint32_t sid);
/* The session re-keyed: new epoch, lifetime and creation time. */
void smtd_table_rekeyed(struct smtd *d, const struct smt_ctl_session *s);
/* Server side: the table entry a REKEY proposal names (service NULL: any
 * service, as a new set-up on those ports conflicts whatever its service),
 * or NULL. */
struct smtd_session *smtd_table_match(struct smtd *d, const char *service,
				      const struct sockaddr_storage *local,
				      const struct sockaddr_storage *peer);
/* Add the hand-off result to the table, owned by c, and to the BPF
 * sessions map. 0 and *out (may be NULL), or -errno of the map (nothing
 * added). */
int smtd_table_add(struct smtd *d, struct smtd_ctl_conn *c,
		   const struct smt_ctl_session *s, struct smtd_session **out);
/* May c (NULL: nobody in particular) hold one more session (max_sessions,
 * max_sessions_per_uid)? 0, or -SMT_E_LIMIT and why. */
int smtd_ctl_room(struct smtd *d, struct smtd_ctl_conn *c, char *why,
		  size_t len);
/*
 * Client role, 0-RTT set-up (TLS or SMT-ticket) or a resumed one handed
 * over before its ACCEPT (IN_USE): the session tag that a CLOSE names s
 * by is known now, or the server has the session now (s: sid, service,
 * tag, handshake, ports).
 * It goes into s's table entry, so that its end is told to the peer smtd;
 * false when s is gone already (its application removed it or went away
 * while the tag was unknown, and no CLOSE could go then): the CLOSE is
 * queued now, and the set-up ends there.
 */
bool smtd_early_tag(struct smtd *d, const struct smt_ctl_session *s);
/*
 * Remove s from the table and the BPF sessions map. tell_owner: push
 * session_del to its application; tell_peer: send the peer smtd a CLOSE
 * (not while smtd stops: sessions outlive smtd). why goes to the log.
 */
void smtd_table_remove(struct smtd *d, struct smtd_session *s, bool tell_owner,
		       bool tell_peer, const char *why);
void smtd_table_tick(struct smtd *d);
uint32_t smtd_new_sid(struct smtd *d);

/* tls.c */
extern const struct smtd_setup_ops smtd_setup_ops;
int smtd_tls_init(struct smtd *d, char *err, size_t errlen);
void smtd_tls_free(struct smtd *d);
/* SIGHUP: take from's contexts and tickets (smtd_tls_init'ed on a
 * temporary struct) into d, pointing their callbacks at d. */
void smtd_tls_adopt(struct smtd *d, struct smtd *from);
/* The loaded host certificate against the configuration: expired, not yet
 * valid, services it does not name. The number of problems, each a line
 * "FILE[:LINE]: ..." in err. */
int smtd_tls_check_cert(struct smtd *d, char *err, size_t errlen);
/* vcache.c: the verification cache of ctx, and its counters' smtd after
 * a reload */
int smtd_vcache_ctx(struct smtd *d, SSL_CTX *ctx);
void smtd_vcache_attach(struct smtd *d, SSL_CTX *ctx);
/* The leaf of an encoded chain (an SMT-ticket HELLO's, docs/protocol.md
 * 6.3) verified against ctx's store for purpose, through ctx's cache.
 * Caller frees. NULL with *why. */
X509 *smtd_vcache_der(SSL_CTX *ctx, const uint8_t *chain, size_t len,
		      int purpose, const char **why);
int smtd_tls_listen(struct smtd *d);
/* Milliseconds until smtd_hs_tick has queued work due, at most max. */
int smtd_hs_next_ms(struct smtd *d, int max);
void smtd_hs_tick(struct smtd *d);
/* Frees the set-ups hs_end left for after the loop's wait. */
void smtd_hs_reap(struct smtd *d);
void smtd_hs_free_all(struct smtd *d);

/*
 * The set-up timeline (docs/smtd.md, "Where the time of a set-up goes"):
 * CLOCK_MONOTONIC microseconds of each step of one set-up (TLS in tls.c,
 * SMT-ticket in tkt.c), logged as one line at log_level debug when it
 * ends. Both smtds of a host pair read the same clock when they run on one
 * machine, so their lines can be laid side by side
 * (scripts/setup-timeline.py).
 */
enum smtd_mark {
	HM_START, /* client: connect request; server: accepted */
	HM_TCP, /* client: TCP connected */
	HM_FLIGHT, /* our first TLS flight written, waiting for the peer */
	HM_TLS, /* TLS handshake complete */
	HM_KEYS, /* exporter and SMT keys derived */
	HM_SENT, /* our parameter message (PROPOSE / ACCEPT) written */
	HM_RECV, /* the peer's parameter message decoded */
	HM_PUSH, /* server: session pushed to the application */
	HM_ACK, /* server: the application acknowledged */
	HM_DONE, /* keys handed over (client: connect answered) */
	HM_HELLO, /* SMT-ticket: client: HELLO written; server: HELLO in */
	HM_CHECKED, /* SMT-ticket server: HELLO checked, epoch 0 keys */
	HM_EPOCH1, /* SMT-ticket: epoch 1 with the application (its ack) */
	HM_COUNT
};
/* Step m reached now (the first time only), in mark[HM_COUNT]. */
void smtd_mark(int64_t *mark, enum smtd_mark m);
/* "timeline client|server PEER SERVICE t0=ABS step=+us ..." */
void smtd_timeline_log(const int64_t *mark, bool server, const char *peer,
		       const char *service);
/* session.c: what tls.c and tkt.c share */
struct smt_params;
/* A numeric "host", "host:port" or "[v6]:port" (default_port when none)
 * into *ss. 0, or -EINVAL with what is wrong in err. */
int smtd_address_parse(const char *address, uint16_t default_port,
		       struct sockaddr_storage *ss, socklen_t *sslen, char *err,
		       size_t errlen);
/* A non-blocking, close-on-exec TCP socket with TCP_NODELAY (and
 * TCP_FASTOPEN_CONNECT if tfo), to connect to a peer smtd. The fd, or
 * -errno with err. */
int smtd_connect_socket(int family, bool tfo, char *err, size_t errlen);
/* client: count fd's set-up in tfo_syn_data if its SYN carried data */
void smtd_tfo_count(struct smtd *d, int fd);
/* at start: a warning when net.ipv4.tcp_fastopen does not allow it */
void smtd_tfo_check(const struct smtd *d);
void smtd_addr_set_port(struct sockaddr_storage *ss, uint16_t port);
/* An IPv4 address seen through an IPv6 socket becomes plain IPv4. */
void smtd_addr_unmap_v4(struct sockaddr_storage *ss);
/* fd's local or peer address, IPv4-mapped as plain IPv4. 0 or -1. */
int smtd_sock_addr(int fd, bool peer, struct sockaddr_storage *ss);
/* "addr:port" or "[v6]:port" of ss's address with port. */
void smtd_addr_port_str(const struct sockaddr_storage *ss, uint16_t port,
			char *out, size_t len);
/* A session set up over connection fd (server: the accepting side) with
 * ACCEPT p: addresses with p's SMT ports, role, encapsulation, B, epoch,
 * M, P, lifetime, creation time. The caller adds service, sid, keys,
 * peer certificate and tag. */
void smtd_session_fill(struct smt_ctl_session *s, int fd, bool server,
		       const struct smt_params *p);
/*
 * Server, a PROPOSE p for a new session of service (docs/protocol.md 6.1):
 * 0 with the ACCEPT in *a (each limit the minimum of p's and this host's)
 * and the serving application in *srv, or the REFUSE code (2: not served,
 * 3: encapsulation, client port, parameters) with the reason in why.
 * rekey: only whether service is served and the client port (a re-key
 * keeps its session's encapsulation and parameters; *a, *srv untouched).
 */
int smtd_propose_check(struct smtd *d, const char *service,
		       const struct smt_params *p, bool rekey,
		       struct smt_params *a, struct smtd_ctl_conn **srv,
		       char *why, size_t len);
/*
 * Server, then the session s of that ACCEPT (filled, its service and peer
 * certificate set): a session of the same address and ports from the same
 * identity is replaced, one of another identity refuses (3); then its sid,
 * room for it (max_sessions, srv's uid limit) and its BPF sessions-map
 * entry (2 when either fails). 0, or the REFUSE code with why.
 */
int smtd_session_admit(struct smtd *d, struct smtd_ctl_conn *srv,
		       struct smt_ctl_session *s, char *why, size_t len);

/* tkt.c: SMT-tickets (docs/protocol.md 6.3) */
struct smtd_tkt_cfg;
/* Load the services' ticket keys and [tickets] dir (bad tickets are
 * skipped with a warning). 0, or -errno with err. */
int smtd_tkt_load(struct smtd *d, char *err, size_t errlen);
void smtd_tkt_cfg_free(struct smtd *d);
/* The text of a new ticket for service into out. 0 or -errno with err. */
int smtd_tkt_export(struct smtd *d, const char *service, char *out, size_t cap,
		    char *err, size_t errlen);
/* smt_connect with a ticket: 1 when none applies (use TLS), 0 when
 * started (the request is answered), -errno with err. */
int smtd_tkt_connect(struct smtd *d, struct smtd_ctl_conn *c, int64_t req_id,
		     const char *service, const char *address,
		     uint16_t local_port, uint8_t ipproto, char *err,
		     size_t errlen);
/* An accepted connection that starts with "SMT0": a ticket HELLO. */
void smtd_tkt_take(struct smtd *d, int fd, const char *peer_str);
void smtd_tkt_conn_gone(struct smtd *d, struct smtd_ctl_conn *c);
void smtd_tkt_tick(struct smtd *d);
/* Make one ephemeral key pair ahead for SMT-ticket set-ups when smtd has
 * nothing else to do; true while the pool wants more. */
bool smtd_tkt_idle(struct smtd *d);
void smtd_tkt_free_all(struct smtd *d);

/* params.c: the session-parameter message (docs/protocol.md 6.1) */
#define SMT_PARAMS_VERSION 1
#define SMT_PARAMS_PROPOSE 1
#define SMT_PARAMS_ACCEPT 2
#define SMT_PARAMS_REFUSE 3
#define SMT_PARAMS_CLOSE 4 /* end the session of these ports and tag */
#define SMT_PARAMS_LEN 24
#define SMT_PARAMS_F_REKEY 0x01 /* new epoch for the session of these ports */
#define SMT_PARAMS_F_EARLY 0x02 /* 0-RTT set-up (docs/protocol.md 6.4) */
#define SMT_PARAMS_F_EARLY_KEYS 0x04 /* E0 follows: early data rejected */
/* resumed: the last ACCEPT's values, already in use (protocol.md 6.4) */
#define SMT_PARAMS_F_IN_USE 0x08
#define SMT_PARAMS_F_ALL                                                     \
	(SMT_PARAMS_F_REKEY | SMT_PARAMS_F_EARLY | SMT_PARAMS_F_EARLY_KEYS | \
	 SMT_PARAMS_F_IN_USE)
#define SMT_PARAMS_REFUSE_MAX (6 + 200)

struct smt_params {
	uint8_t type;
	uint16_t client_port, server_port;
	uint8_t B, epoch, ipproto, flags;
	uint32_t max_msg;
	uint16_t max_pad;
	uint16_t hs_port; /* the sender smtd's handshake port, 0: none */
	uint32_t lifetime_s;
	/* PROPOSE with EARLY_KEYS: the early exporter's E0 (wiped) */
	uint8_t e0[48];
	uint8_t e0_len; /* 32 or 48 */
	/* CLOSE */
	uint8_t tag[8];
	/* REFUSE */
	uint16_t code;
	char reason[201];
};

#define SMT_PREFUSE_VERSION 1 /* unknown parameter-message version */
#define SMT_PREFUSE_SERVICE 2 /* service not served */
#define SMT_PREFUSE_PARAMS 3 /* parameters out of range */
#define SMT_PREFUSE_APP 4 /* the serving application refused */

/* Encode into buf (>= SMT_PARAMS_REFUSE_MAX); returns length. */
size_t smt_params_encode(const struct smt_params *p, uint8_t *buf);
/* Decode len bytes; 0, -EAGAIN (need more bytes), -EPROTO with *why. */
int smt_params_decode(const uint8_t *buf, size_t len, struct smt_params *p,
		      size_t *used, const char **why);
/* The set-up rule of section 6: 0, or -ERANGE with *why. */
int smt_params_check(unsigned int B, uint32_t max_msg, uint32_t max_pad,
		     const char **why);
/*
 * Server side, "Encapsulation" of section 6.1: may a new session of service
 * in the encapsulation a PROPOSE's ipproto names be accepted? native is
 * this host's native protocol number, allowed the service's encap setting
 * and served the encapsulations its serving applications use (SMTD_ENCAPS_*
 * masks). 0 and *encap, or -EPROTONOSUPPORT with a reason for REFUSE 3 that
 * names what this host does serve the service in.
 */
int smtd_encap_check(const char *service, uint8_t ipproto, unsigned int native,
		     unsigned int allowed, unsigned int served,
		     enum smt_encap *encap, char *why, size_t len);
/* The encapsulation a session's ipproto means. */
static inline enum smt_encap smtd_encap_of(unsigned int ipproto)
{
	return ipproto == SMT_IPPROTO_UDP ? SMT_ENCAP_UDP : SMT_ENCAP_IP;
}

/* bpf.c (compiled to stubs without user/tools/common/smt_bpf.h) */
int smtd_bpf_start(struct smtd *d);
void smtd_bpf_stop(struct smtd *d);
/* prev_epoch >= 0 keeps that epoch valid too (drain after a re-key).
 * 0, or -errno of the map update (logged). */
int smtd_bpf_session(struct smtd *d, const struct smt_ctl_session *s, bool add,
		     int prev_epoch);
/* Do a and b have the same sessions-map key (peer, ports, encap)? */
bool smtd_bpf_same_key(const struct smt_ctl_session *a,
		       const struct smt_ctl_session *b);
/* Once, a few seconds after start: remove the map entries of sessions
 * that no application registered again (they died while smtd was down). */
void smtd_bpf_tick(struct smtd *d);
void smtd_bpf_stats(struct smtd *d, json_object *stats);
/* [bpf] udp_ports: 0, or -EINVAL with what is wrong in err. */
int smtd_bpf_check_udp_ports(const char *list, char *err, size_t errlen);

/* check.c: for --check-config, can a start take the handshake port, the
 * metrics address and the control socket? The number of problems, each a
 * line "FILE: what; what to do" in err. */
int smtd_check_ports(const struct smtd_config *c, char *err, size_t len);

/* metrics.c: the OpenMetrics / Prometheus text endpoint (docs/metrics.md) */
int smtd_metrics_listen(struct smtd *d);
void smtd_metrics_tick(struct smtd *d);
void smtd_metrics_close(struct smtd *d);
/*
 * Look at the len bytes of an HTTP request received so far. 0: incomplete,
 * read more; else the status to answer: 200 (GET or HEAD of /metrics), 400,
 * 404, 405, 431 (headers over SMTD_METRICS_REQ_MAX), 505. *om: the client
 * accepts OpenMetrics text; *head: HEAD (no body).
 */
#define SMTD_METRICS_REQ_MAX 4096
int smtd_metrics_request(const char *buf, size_t len, bool *om, bool *head);
/* The exposition of d into a malloc'd buffer (*len bytes), NULL if out of
 * memory. om: OpenMetrics 1.0 text, else Prometheus text 0.0.4. */
char *smtd_metrics_render(struct smtd *d, bool om, size_t *len);
/* ctl.c: the sum of the counters applications reported (caller puts it). */
json_object *smtd_ctl_apps_stats(struct smtd *d);
/* bpf.c: the drops (SMT_DROP_MAX) and xdp_stats (SMT_XS_MAX) counters,
 * and one session's rx (sess_stats) and tx (tx_sess_stats) sums. 0 or
 * -errno (-ENODEV when not attached). */
struct smt_sess_stats;
int smtd_bpf_counters(struct smtd *d, uint64_t *drops, uint64_t *xdp);
int smtd_bpf_sess_counters(struct smtd *d, const struct smt_ctl_session *s,
			   struct smt_sess_stats *rx,
			   struct smt_sess_stats *tx);

/* keylog (keylog.c): one SMT_SESSION line when SMT_KEYLOGFILE is set */
void smtd_keylog(struct smtd *d, const struct smt_ctl_session *s);
/* Opens SMT_KEYLOGFILE, if set, with a warning (start and reload). */
void smtd_keylog_open(struct smtd *d);

/* resume.c (docs/protocol.md 6.4) */
#define SMTD_EARLY_MAX 64 /* early data a ticket allows: one PROPOSE */
/*
 * Tickets a server sends per handshake, and a client keeps per (service,
 * server address): a set-up that starts while the previous one to that
 * server is still in flight (its ticket taken, the new one not yet in)
 * takes the spare one instead of falling back to a full handshake.
 */
#define SMTD_TICKETS_PER_PEER 2
/* Server contexts with [tls] ticket_keys also get the shared ticket keys
 * (loaded here; 0, or -errno with err). */
int smtd_resume_ctx(struct smtd *d, SSL_CTX *ctx, bool server,
		    int (*new_ticket)(SSL *, SSL_SESSION *), char *err,
		    size_t errlen);
void smtd_resume_attach(struct smtd *d);
/* From the main loop: count a new load, and reload the ticket-key file
 * when it changed (checked every second). */
void smtd_resume_tick(struct smtd *d);
void smtd_resume_sni(struct smtd *d, SSL *ssl, const struct smtd_service *svc);
/* Server, ClientHello with its PSK parsed: a stateful ticket is single use. */
void smtd_resume_taken(struct smtd *d, SSL *ssl);
/* The newest ticket of (service, address), out of the cache; with pre, the
 * ClientHello built ahead with it if there is one still fresh (else NULL)
 * and in *pre_early whether it carries early data. */
/* Frees a ClientHello built ahead and never sent (its key share unused),
 * marked shut down so that its ticket stays resumable; NULL is fine. */
void smtd_pre_free(SSL *pre);
SSL_SESSION *smtd_ticket_take(struct smtd *d, const char *service,
			      const char *address, struct smt_params *accept,
			      bool *has_accept, SSL **pre, bool *pre_early);
/* A prepared ClientHello is used within this many ms (its ticket age). */
#define SMTD_PRE_HELLO_MS 2000
bool smtd_ticket_prepare(struct smtd *d,
			 SSL *(*prepare)(struct smtd *, const char *,
					 SSL_SESSION *, bool early));
/* While idle: ClientHellos with tickets built ahead (tls.c). True: more
 * to do. */
bool smtd_hs_idle(struct smtd *d);
void smtd_ticket_put(struct smtd *d, const char *service, const char *address,
		     SSL_SESSION *sess, const struct smt_params *accept);
/* The ACCEPT values kept with the tickets of (service, address) are
 * forgotten (the server refused a PROPOSE made of them); the tickets
 * stay. */
void smtd_ticket_forget_accept(struct smtd *d, const char *service,
			       const char *address);
unsigned int smtd_tickets_held(const struct smtd *d);
void smtd_resume_free(struct smtd *d);

#endif /* SMTD_H */
