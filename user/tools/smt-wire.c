// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt-wire: make and read SMT packets in pcap files, for debugging and for
 * conformance checks between implementations (docs/man/smt-wire.1).
 *
 * `encode` turns one message into its packets with the deterministic sender
 * rule of docs/protocol.md section 3 (smt_msg_encode + smt_data_build) and
 * writes them as raw IPv4 or IPv6 packets. `decode` reads a capture, puts
 * every SMT packet through the stateless header rules (smt_pkt_parse) and,
 * per (flow, msg_id, epoch), through the stateful ones: with a keylog through
 * smt_rx_msg, which decrypts; without keys through a small layout tracker
 * here that checks what is visible in plaintext (msg_len, record starts and
 * headers, byte consistency of overlaps). Any drop, incomplete message or
 * failed authentication makes decode exit 1.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <pcap/pcap.h>

#include <smt/drop.h>
#include <smt/maps.h>
#include <smt/wire.h>

#include "codec.h"
#include "keys.h"
#include "libsmt.h"
#include "opts.h"
#include "pcap.h"
#include "record.h"
#include "util.h"

#define EXIT_VIOLATION 1
#define EXIT_USAGE 2

/* Default addresses of encode: RFC 5737 documentation prefixes. */
#define DEF_SRC "192.0.2.1:40000"
#define DEF_DST "192.0.2.2:7000"

static bool json_mode;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: smt-wire encode --key HEX --iv HEX [--cipher C] [--bits B]\n"
		"                       [--msg-id N] [--record-size R] [--mtu M]\n"
		"                       [--src A:P --dst A:P] [--encap ip|udp] [--proto N]\n"
		"                       [--epoch E] [--oneway] (--in FILE | --size N)\n"
		"                       --out PCAP\n"
		"       smt-wire encode --type T --key HEX --iv HEX [--msg-id N]\n"
		"                       [--ctl-seq S] [--offset O] [--length L] [--prio P]\n"
		"                       [--ids N,...] [--src A:P --dst A:P] [--encap E]\n"
		"                       --out PCAP\n"
		"       smt-wire decode PCAP|- [--keylog FILE] [-j] [--proto N]\n"
		"                       [--udp-ports RANGES|none] [--bits B]\n"
		"                       [--max-msg M] [--max-pad P] [--dump DIR]\n"
		"                       [-f|--filter EXPR]\n"
		"       smt-wire decode --live IFACE [--count N] [options of decode]\n"
		"       smt-wire help\n"
		"\n"
		"encode: write one message's SMT DATA packets (deterministic sender rule\n"
		"  of docs/protocol.md section 3) as raw IP packets into a pcap file.\n"
		"  --encap    ip: native, IP protocol --proto (default); udp: SMT over\n"
		"             UDP (section 1.1), UDP ports = SMT ports, checksum set\n"
		"  --cipher   TLS_AES_128_GCM_SHA256 (default), TLS_AES_256_GCM_SHA384,\n"
		"             TLS_CHACHA20_POLY1305_SHA256 (or aes128gcm, aes256gcm,\n"
		"             chacha20poly1305)\n"
		"  --key      direction key, hex (16 bytes for AES-128-GCM, else 32)\n"
		"  --iv       direction IV, hex, 12 bytes\n"
		"  --bits     message-ID width B, 40..56 (default 48)\n"
		"  --msg-id   message ID, 2 <= N < 2^(B-1) (default 2)\n"
		"  --record-size  content bytes per record, 4096..16384 (default 16384)\n"
		"  --mtu      IP MTU (default 1500; payload MTU - IP - 40, - 8 more\n"
		"             over UDP)\n"
		"  --src/--dst  A.B.C.D:PORT or [V6]:PORT (default " DEF_SRC
		" > " DEF_DST ")\n"
		"  --proto    native IP protocol number (default %d)\n"
		"  --epoch    key epoch, 0..255 (default 0)\n"
		"  --oneway   set the ONEWAY inner flag (even msg-id only)\n"
		"  --in       application bytes from FILE ('-' for stdin)\n"
		"  --size     N bytes (K/M suffix) where byte i is i mod 251\n"
		"  --type     data (default) or one control packet: grant, resend,\n"
		"             unknown, busy, need_ack, ack; with --ctl-seq (default 1),\n"
		"             --offset and --prio (grant, resend), --length (resend),\n"
		"             --ids (ack, 1..32 msg_ids)\n"
		"\n"
		"decode: check every SMT packet of a capture (pcap or pcapng, read\n"
		"  with libpcap; '-' for stdin), native and over UDP, against the\n"
		"  spec, print messages and drop reasons; exit 1 on any violation.\n"
		"  -f, --filter  a capture filter (pcap-filter(7), as tcpdump takes\n"
		"             it): only the packets it keeps are checked; the others\n"
		"             are counted as filtered\n"
		"  --live     capture on IFACE (any: all) instead of reading a file,\n"
		"             until --count N packets (after --filter) or SIGINT/SIGTERM;\n"
		"             then report as for a file\n"
		"  --udp-ports  SMT over UDP on these ports (7000,9000-9099): every\n"
		"             datagram from or to them is checked; default: any port,\n"
		"             datagrams of >= 40 payload bytes with doff_ver 0xA1;\n"
		"             none: native only\n"
		"  --keylog   SMT_SESSION lines (docs/protocol.md section 7): decrypt\n"
		"             and verify records and control packets\n"
		"  -j, --json JSON output\n"
		"  --bits, --max-msg, --max-pad  session limits when no keylog line\n"
		"             gives them (defaults 48, 1M, 0)\n"
		"  --dump     write each decrypted message to DIR\n",
		SMT_IPPROTO_DEFAULT);
}

/* Print a usage error (as JSON with -j) and return EXIT_USAGE. */
static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (json_mode) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "error", json_object_new_string(msg));
		printf("%s\n",
		       json_object_to_json_string_ext(
			       o, JSON_C_TO_STRING_PLAIN |
					  JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		fprintf(stderr, "smt-wire: %s\n", msg);
	}
	return EXIT_USAGE;
}

/*
 * Option callbacks (opts.h): each reports a bad value with die() and returns
 * EXIT_USAGE.
 */
static int opt_bits(const struct tool_opt *opt, char *arg, char *err,
		    size_t err_len)
{
	char why[UTIL_ERR_LEN];
	uint64_t v;

	if (util_parse_u64(arg, 0, UINT32_MAX, &v, why, sizeof(why)))
		return die("--bits: %s; give the message-ID width B in %d..%d",
			   why, SMT_B_MIN, SMT_B_MAX);
	if (v < SMT_B_MIN || v > SMT_B_MAX)
		return die(
			"--bits: B = %" PRIu64
			" is out of range; the message-ID width B must be in %d..%d (default %d)",
			v, SMT_B_MIN, SMT_B_MAX, SMT_B_DEFAULT);
	*(unsigned int *)opt->dst = (unsigned int)v;
	return 0;
}

static int opt_cipher(const struct tool_opt *opt, char *arg, char *err,
		      size_t err_len)
{
	enum smt_cipher *c = opt->dst;

	*c = smt_cipher_from_name(arg);
	if (*c == SMT_CIPHER_NONE)
		return die(
			"--cipher: unknown cipher '%s'; use TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 or TLS_CHACHA20_POLY1305_SHA256",
			arg);
	return 0;
}

/* A message size (--size, --max-msg): K/M suffixes, at most SMT_M_MAX. */
static int opt_msg_size(const struct tool_opt *opt, char *arg, char *err,
			size_t err_len)
{
	char why[UTIL_ERR_LEN];
	uint64_t v;

	if (util_parse_size(arg, SMT_M_MAX, &v, why, sizeof(why)))
		return die("--%s: %s (at most 64M)", opt->name, why);
	tool_opt_store(opt, v);
	return 0;
}

/*
 * Read the options of cmd (encode or decode) as opts says. True when cmd
 * is to end now with *exit_code: after --help (0) or a bad option.
 */
static bool read_opts(const char *cmd, const char *shortopts, int argc,
		      char **argv, const struct tool_opt *opts, size_t n,
		      int *exit_code)
{
	char err[TOOL_OPTS_ERR_LEN];
	int ret;

	optind = 1;
	ret = tool_opts_parse(argc, argv, shortopts, opts, n, err, sizeof(err));
	if (ret == TOOL_OPTS_HELP) {
		usage(stdout);
		*exit_code = 0;
	} else if (ret == TOOL_OPTS_UNKNOWN) {
		*exit_code = die(
			"%s: unknown or incomplete option; see 'smt-wire help'",
			cmd);
	} else if (ret) {
		*exit_code = *err ? die("%s", err) : EXIT_USAGE;
	}
	return ret != 0;
}

static const char *type_name(uint8_t t)
{
	switch (t) {
	case SMT_TYPE_DATA:
		return "DATA";
	case SMT_TYPE_GRANT:
		return "GRANT";
	case SMT_TYPE_RESEND:
		return "RESEND";
	case SMT_TYPE_UNKNOWN:
		return "UNKNOWN";
	case SMT_TYPE_BUSY:
		return "BUSY";
	case SMT_TYPE_NEED_ACK:
		return "NEED_ACK";
	case SMT_TYPE_ACK:
		return "ACK";
	}
	return "reserved";
}

/* ---- encode ---------------------------------------------------------- */

struct enc_opts {
	enum smt_cipher cipher;
	uint8_t key[SMT_KEY_MAX], iv[SMT_IV_LEN];
	const char *key_hex, *iv_hex;
	unsigned int B;
	uint64_t msg_id;
	uint32_t rec_size, mtu;
	struct sockaddr_storage src, dst;
	uint8_t proto, epoch;
	bool have_proto;
	enum smt_encap encap; /* SMT_ENCAP_IP or SMT_ENCAP_UDP */
	bool oneway;
	const char *in, *out;
	bool have_size;
	uint64_t size;
	/* --type other than data: one control packet (section 5) */
	struct smt_ctl ctl;
	bool have_msg_id;
};

static void fill_pattern(uint8_t *p, size_t n)
{
	size_t i;

	/* 251 is prime, so the pattern does not line up with records. */
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i % 251);
}

/* Bytes in front of the SMT header: IP, and UDP over UDP. */
static size_t enc_hdr_len(const struct enc_opts *o)
{
	return ip_hdr_len(o->src.ss_family) +
	       (o->encap == SMT_ENCAP_UDP ? UDP_HDR_LEN : 0);
}

/*
 * Put the IP header (and the UDP header over UDP) in front of the smt_len
 * SMT bytes at pkt + enc_hdr_len(); returns the packet's length.
 */
static size_t enc_frame(const struct enc_opts *o, uint8_t *pkt, size_t smt_len)
{
	size_t iph = ip_hdr_len(o->src.ss_family);

	if (o->encap != SMT_ENCAP_UDP) {
		ip_build(pkt, &o->src, &o->dst, o->proto, smt_len, 0);
		return iph + smt_len;
	}
	udp_build(pkt + iph, &o->src, &o->dst, smt_len);
	ip_build(pkt, &o->src, &o->dst, SMT_IPPROTO_UDP, UDP_HDR_LEN + smt_len,
		 0);
	return iph + UDP_HDR_LEN + smt_len;
}

static int encode_write(const struct enc_opts *o, const uint8_t *app,
			size_t len)
{
	struct smt_wire_msg wm = {0};
	struct pcap_writer w = {0};
	struct smt_data_tmpl t = {0};
	struct smt_aead *tx = NULL;
	size_t hl = enc_hdr_len(o), plen;
	/* section 3.3: MTU - IP header - (8 over UDP) - 40 */
	uint32_t max_payload = SMT_PKT_PAYLOAD(o->mtu,
					       o->src.ss_family == AF_INET6,
					       o->encap == SMT_ENCAP_UDP);
	uint32_t off = 0, n, npkt = 0;
	uint8_t *pkt = NULL;
	int ret, rc = EXIT_USAGE;

	tx = smt_aead_new(o->cipher, o->key, smt_cipher_key_len(o->cipher),
			  o->iv);
	if (!tx) {
		die("cannot set up %s with the given key: %s",
		    smt_cipher_name(o->cipher), strerror(errno));
		goto out;
	}
	ret = smt_msg_encode(tx, o->B, o->msg_id, app, (uint32_t)len,
			     o->oneway ? SMT_INNER_ONEWAY : 0, o->rec_size,
			     &wm);
	if (ret) {
		die("cannot encode the message: %s", strerror(-ret));
		goto out;
	}
	pkt = malloc(hl + SMT_HDR_LEN + max_payload);
	if (!pkt) {
		die("out of memory");
		goto out;
	}
	ret = pcap_writer_open(&w, o->out);
	if (ret) {
		die("--out: cannot create '%s': %s", o->out, strerror(-ret));
		goto out;
	}
	t.sport = util_addr_port(&o->src);
	t.dport = util_addr_port(&o->dst);
	t.granted = wm.wire_len;
	t.epoch = o->epoch;
	while (off < wm.wire_len) {
		n = smt_data_build(&wm, off, max_payload, &t, pkt + hl);
		if (!n) {
			die("internal error: no packet at wire offset %u", off);
			goto out;
		}
		plen = enc_frame(o, pkt, SMT_HDR_LEN + n);
		ret = pcap_write(&w, pkt, plen, npkt / 1000000, npkt % 1000000);
		if (ret) {
			die("--out: cannot write '%s': %s", o->out,
			    strerror(-ret));
			goto out;
		}
		off += n;
		npkt++;
	}
	ret = pcap_writer_close(&w);
	if (ret) {
		die("--out: cannot write '%s': %s", o->out, strerror(-ret));
		goto out;
	}
	if (!json_mode)
		fprintf(stderr,
			"smt-wire: wrote %u packets, msg_id %" PRIu64
			", app %zu bytes, wire %u bytes in %u records to %s\n",
			npkt, o->msg_id, len, wm.wire_len, wm.nrec, o->out);
	rc = 0;
out:
	if (w.f)
		pcap_writer_close(&w);
	free(pkt);
	smt_wire_msg_free(&wm);
	smt_aead_free(tx);
	return rc;
}

/* One control packet (section 5), tagged under the given key. */
static int encode_control(struct enc_opts *o)
{
	uint8_t pkt[40 + UDP_HDR_LEN + SMT_ACK_LEN(SMT_ACK_MAX)];
	size_t hl = enc_hdr_len(o), plen;
	struct pcap_writer w = {0};
	struct smt_aead *tx;
	int n, ret;

	tx = smt_aead_new(o->cipher, o->key, smt_cipher_key_len(o->cipher),
			  o->iv);
	if (!tx)
		return die("cannot set up %s with the given key: %s",
			   smt_cipher_name(o->cipher), strerror(errno));
	o->ctl.sport = util_addr_port(&o->src);
	o->ctl.dport = util_addr_port(&o->dst);
	o->ctl.epoch = o->epoch;
	o->ctl.msg_id = o->msg_id;
	n = smt_ctl_build(tx, &o->ctl, pkt + hl, sizeof(pkt) - hl);
	smt_aead_free(tx);
	if (n < 0)
		return die(
			"cannot build the %s packet: %s (check --ctl-seq, --ids)",
			type_name(o->ctl.type), strerror(-n));
	plen = enc_frame(o, pkt, (size_t)n);
	ret = pcap_writer_open(&w, o->out);
	if (ret)
		return die("--out: cannot create '%s': %s", o->out,
			   strerror(-ret));
	ret = pcap_write(&w, pkt, plen, 0, 0);
	if (!ret)
		ret = pcap_writer_close(&w);
	else
		pcap_writer_close(&w);
	if (ret)
		return die("--out: cannot write '%s': %s", o->out,
			   strerror(-ret));
	if (!json_mode)
		fprintf(stderr,
			"smt-wire: wrote one %s packet of %d bytes to %s\n",
			type_name(o->ctl.type), n, o->out);
	return 0;
}

/* --encap ip|udp; not taken from $SMT_ENCAP: the same arguments must
 * give the same bytes everywhere. */
static int opt_encap(const struct tool_opt *opt, char *arg, char *err,
		     size_t err_len)
{
	if (smt_encap_parse(arg, opt->dst))
		return die(
			"--encap: '%s' is not an encapsulation; use ip (native, the default) or udp",
			arg);
	return 0;
}

static int opt_type(const struct tool_opt *opt, char *arg, char *err,
		    size_t err_len)
{
	uint8_t *type = opt->dst;
	static const struct {
		const char *name;
		uint8_t type;
	} t[] = {
		{"data", SMT_TYPE_DATA},
		{"grant", SMT_TYPE_GRANT},
		{"resend", SMT_TYPE_RESEND},
		{"unknown", SMT_TYPE_UNKNOWN},
		{"busy", SMT_TYPE_BUSY},
		{"need_ack", SMT_TYPE_NEED_ACK},
		{"need-ack", SMT_TYPE_NEED_ACK},
		{"ack", SMT_TYPE_ACK},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcasecmp(arg, t[i].name)) {
			*type = t[i].type;
			return 0;
		}
	return die(
		"--type: unknown packet type '%s'; use data, grant, resend, unknown, busy, need_ack or ack",
		arg);
}

/* --ids N,...: the msg_ids of an ACK, into the struct smt_ctl at dst */
static int opt_ids(const struct tool_opt *opt, char *arg, char *err,
		   size_t err_len)
{
	char buf[1024], *tok, *save, why[UTIL_ERR_LEN];
	struct smt_ctl *c = opt->dst;
	uint64_t v;

	snprintf(buf, sizeof(buf), "%s", arg);
	c->count = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (c->count == SMT_ACK_MAX)
			return die("--ids: at most %d msg_ids fit in one ACK",
				   SMT_ACK_MAX);
		if (util_parse_u64(tok, 0, UINT64_MAX, &v, why, sizeof(why)))
			return die(
				"--ids: %s; give msg_ids separated by commas",
				why);
		c->ids[c->count++] = v;
	}
	return 0;
}

static int encode_check(struct enc_opts *o)
{
	char err[UTIL_ERR_LEN];
	size_t klen = smt_cipher_key_len(o->cipher), got;

	if (!o->key_hex)
		return die(
			"encode: --key is required (%zu bytes as hex for %s)",
			klen, smt_cipher_name(o->cipher));
	if (!o->iv_hex)
		return die("encode: --iv is required (12 bytes as hex)");
	if (util_parse_hex(o->key_hex, o->key, sizeof(o->key), 0, &got, err,
			   sizeof(err)))
		return die("--key: %s; give %zu bytes as %zu hex digits for %s",
			   err, klen, 2 * klen, smt_cipher_name(o->cipher));
	if (got != klen)
		return die(
			"--key: %zu bytes given, but %s needs a %zu-byte key (%zu hex digits)",
			got, smt_cipher_name(o->cipher), klen, 2 * klen);
	if (util_parse_hex(o->iv_hex, o->iv, sizeof(o->iv), SMT_IV_LEN, NULL,
			   err, sizeof(err)))
		return die("--iv: %s; the IV is 12 bytes (24 hex digits)", err);
	if (o->ctl.type == SMT_TYPE_ACK) {
		if (!o->ctl.count)
			return die(
				"--ids: an ACK lists 1..32 msg_ids; give --ids N[,N...]");
		if (o->have_msg_id && o->msg_id)
			return die(
				"--msg-id: an ACK carries msg_id 0; list the acknowledged messages with --ids");
		o->msg_id = 0;
	} else if (!smt_msg_id_ok(o->msg_id, o->B))
		return die("--msg-id: %" PRIu64
			   " is out of range for B = %u; use 2 <= N < 2^%u",
			   o->msg_id, o->B, o->B - 1);
	if (o->oneway && (o->msg_id & 1))
		return die(
			"--oneway: msg_id %" PRIu64
			" is odd (a response), and responses are never ONEWAY; use an even --msg-id",
			o->msg_id);
	if (!o->out)
		return die("encode: --out PCAP is required");
	if (o->ctl.type != SMT_TYPE_DATA && (o->in || o->have_size))
		return die(
			"--in/--size: a %s packet carries no message bytes; drop them or use --type data",
			type_name(o->ctl.type));
	if (o->ctl.type == SMT_TYPE_DATA && !o->in == !o->have_size)
		return die(
			"encode: give exactly one of --in FILE and --size N");
	if (o->src.ss_family != o->dst.ss_family)
		return die(
			"--src/--dst: both addresses must be IPv4 or both IPv6");
	if (o->encap == SMT_ENCAP_UDP && o->have_proto)
		return die(
			"--proto: SMT over UDP is always IP protocol 17; give --proto only with --encap ip");
	if (o->proto == SMT_IPPROTO_UDP)
		return die(
			"--proto: 17 is UDP; for SMT over UDP use --encap udp");
	if (o->mtu < enc_hdr_len(o) + SMT_HDR_LEN + SMT_REC_START_MIN)
		return die(
			"--mtu: %u is too small: an IP header,%s the 40-byte SMT header and at least 5 payload bytes must fit",
			o->mtu,
			o->encap == SMT_ENCAP_UDP ? " the 8-byte UDP header,"
						  : "");
	return 0;
}

/* Records for len application bytes and their limit for B (section 3). */
static int encode_check_records(const struct enc_opts *o, uint64_t len)
{
	uint64_t recs =
		(len + SMT_INNER_HDR_LEN + o->rec_size - 1) / o->rec_size;
	uint64_t lim = smt_rec_idx_limit(o->B);

	if (recs > lim)
		return die(
			"message of %" PRIu64 " bytes needs %" PRIu64
			" records of %u bytes, more than the %" PRIu64
			" that B = %u allows; use a smaller --bits or a larger --record-size",
			len, recs, o->rec_size, lim, o->B);
	return 0;
}

static int opt_rec_size(const struct tool_opt *opt, char *arg, char *err,
			size_t err_len)
{
	char why[UTIL_ERR_LEN];
	uint64_t v;

	if (util_parse_size(arg, UINT32_MAX, &v, why, sizeof(why)) ||
	    v < SMT_REC_MIN_CONTENT || v > SMT_REC_MAX_CONTENT)
		return die(
			"--record-size: '%s' is not in 4096..16384 content bytes per record",
			arg);
	*(uint32_t *)opt->dst = (uint32_t)v;
	return 0;
}

static int cmd_encode(int argc, char **argv)
{
	struct enc_opts o = {
		.cipher = SMT_CIPHER_AES_128_GCM,
		.B = SMT_B_DEFAULT,
		.msg_id = 2,
		.rec_size = SMT_REC_MAX_CONTENT,
		.mtu = 1500,
		.proto = SMT_IPPROTO_DEFAULT,
		.encap = SMT_ENCAP_IP,
		.ctl = {.type = SMT_TYPE_DATA, .ctl_seq = 1},
	};
	const char *src_s = NULL, *dst_s = NULL;
	const struct tool_opt opts[] = {
		OPT_FN("cipher", 'c', &o.cipher, opt_cipher),
		OPT_STR("key", 'k', &o.key_hex),
		OPT_STR("iv", 'i', &o.iv_hex),
		OPT_FN("bits", 'b', &o.B, opt_bits),
		OPT_U64("msg-id", 'm', &o.msg_id, 0, UINT64_MAX,
			.seen = &o.have_msg_id),
		OPT_FN("record-size", 'r', &o.rec_size, opt_rec_size),
		OPT_U64("mtu", 'M', &o.mtu, 1, 65535),
		OPT_STR("src", 's', &src_s),
		OPT_STR("dst", 'd', &dst_s),
		OPT_U64("proto", 'p', &o.proto, 0, 255, .seen = &o.have_proto),
		OPT_FN("encap", 'E', &o.encap, opt_encap),
		OPT_U64("epoch", 'e', &o.epoch, 0, 255),
		OPT_FLAG("oneway", 'O', &o.oneway),
		OPT_STR("in", 'I', &o.in),
		OPT_FN("size", 'S', &o.size, opt_msg_size,
		       .seen = &o.have_size),
		OPT_STR("out", 'o', &o.out),
		OPT_FN("type", 'T', &o.ctl.type, opt_type),
		OPT_U64("ctl-seq", 'Q', &o.ctl.ctl_seq, 0, UINT64_MAX),
		OPT_U64("offset", 'F', &o.ctl.offset, 0, UINT32_MAX),
		OPT_U64("length", 'L', &o.ctl.length, 0, UINT32_MAX),
		OPT_U64("prio", 'R', &o.ctl.prio, 0, SMT_PRIO_MAX),
		OPT_FN("ids", 'A', &o.ctl, opt_ids),
		OPT_FLAG("json", 'j', &json_mode),
		OPT_HELP("help", 'h'),
	};
	char err[UTIL_ERR_LEN];
	uint8_t *app = NULL;
	size_t len = 0;
	int ret;

	if (read_opts("encode", "jh", argc, argv, opts, TOOL_OPTS_N(opts),
		      &ret))
		return ret;
	if (optind < argc)
		return die(
			"encode: unexpected argument '%s'; see 'smt-wire help'",
			argv[optind]);
	if (!src_s != !dst_s)
		return die("--src/--dst: give both or neither");
	if (util_parse_addr_port(src_s ? src_s : DEF_SRC, &o.src, 0, err,
				 sizeof(err)))
		return die("--src: %s", err);
	if (util_parse_addr_port(dst_s ? dst_s : DEF_DST, &o.dst, 0, err,
				 sizeof(err)))
		return die("--dst: %s", err);
	ret = encode_check(&o);
	if (ret)
		goto out;
	if (o.ctl.type != SMT_TYPE_DATA) {
		ret = encode_control(&o);
		goto out;
	}
	if (o.in) {
		ret = util_read_file(o.in, SMT_M_MAX, &app, &len);
		if (ret == -EFBIG) {
			ret = die(
				"--in: '%s' is larger than the 64 MiB message limit",
				o.in);
			goto out;
		}
		if (ret) {
			ret = die("--in: cannot read '%s': %s", o.in,
				  strerror(-ret));
			goto out;
		}
	} else {
		len = o.size;
		app = malloc(len ? len : 1);
		if (!app) {
			ret = die("out of memory for %zu bytes", len);
			goto out;
		}
		fill_pattern(app, len);
	}
	ret = encode_check_records(&o, len);
	if (!ret)
		ret = encode_write(&o, app, len);
out:
	free(app);
	OPENSSL_cleanse(o.key, sizeof(o.key));
	OPENSSL_cleanse(o.iv, sizeof(o.iv));
	return ret;
}

/* ---- decode: state --------------------------------------------------- */

struct session {
	struct smt_keylog kl;
	struct smt_aead *c_aead, *s_aead; /* created on first use */
	unsigned int line;
};

/* One direction of traffic: sender, receiver, epoch. */
struct dir {
	struct dir *next;
	struct sockaddr_storage src, dst; /* with ports */
	unsigned int epoch;
	enum smt_encap encap; /* a session keeps one for its life (1.1) */
	struct session *sess; /* NULL without keys */
	struct smt_aead *rx; /* the sender's direction key */
	struct smt_limits lim;
	struct smt_req_window req;
	struct smt_ctl_window ctl;
	char name[2 * UTIL_ADDR_LEN + 4];
};

enum msg_status { MSG_OPEN, MSG_OK, MSG_COMPLETE, MSG_FAILED };

struct rec_info {
	uint32_t seg_off;
	bool seen;
};

struct msg {
	struct msg *hnext, *next;
	struct dir *dir;
	uint64_t msg_id;
	enum msg_status status;
	int reason; /* last drop reason that hit this message */
	uint64_t first_pkt, packets, dups, drops;
	uint32_t msg_len; /* 0 until the first DATA packet sets it */
	bool len_known;
	struct rec_info *recs; /* by rec_idx: layout seen in packets */
	uint32_t nrecs_cap, nrecs;
	/* without keys: the wire stream as received */
	uint8_t *bytes, *have;
	uint32_t received;
	/* with keys */
	struct smt_rx_msg *rx;
	uint32_t app_len, inner_flags;
};

#define MSG_HASH 4096

/* Which UDP datagrams decode takes for SMT (docs/protocol.md 8.6). */
enum udp_mode {
	UDP_AUTO, /* any port: UDP payload >= 40 bytes, doff_ver 0xA1 */
	UDP_RANGES, /* every datagram from or to a port of --udp-ports */
	UDP_OFF, /* --udp-ports none */
};

struct decoder {
	/* options */
	const char *pcap, *keylog, *dump, *filter;
	const char *live; /* interface to capture on, or NULL */
	uint64_t count; /* --live: stop after this many packets kept */
	uint8_t proto;
	struct smt_limits lim;
	enum udp_mode udp_mode;
	struct util_port_range udp_ports[SMT_UDP_PORT_RANGES];
	size_t n_udp_ports;
	/* state */
	struct session *sess;
	size_t nsess;
	struct dir *dirs;
	struct msg *hash[MSG_HASH];
	struct msg *msgs, **msgs_tail;
	uint64_t pkt_no; /* 1-based record number in the file */
	uint64_t packets, smt_packets, ignored, control, truncated;
	uint64_t filtered; /* packets --filter rejected */
	char read_error[PCAP_ERRBUF_SIZE + 80]; /* why reading stopped early */
	uint64_t smt_ip, smt_udp; /* SMT packets per encapsulation */
	uint64_t csum_bad, csum_absent, csum_partial; /* UDP checksums */
	uint64_t drops[SMT_DROP_MAX];
	uint64_t violations;
	enum smt_encap cur_encap; /* of the packet being checked */
	json_object *jdrops, *jctl; /* arrays, JSON mode */
};

static bool addr_eq(const struct sockaddr_storage *a,
		    const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a;
		const struct sockaddr_in *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a;
		const struct sockaddr_in6 *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
	}
	return false;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static int load_keylog(struct decoder *d)
{
	FILE *f = fopen(d->keylog, "re");
	struct session *ns;
	char *line = NULL;
	size_t cap = 0;
	unsigned int no = 0;
	const char *err;
	int ret = 0;

	if (!f)
		return die("--keylog: cannot read '%s': %s", d->keylog,
			   strerror(errno));
	while (getline(&line, &cap, f) > 0) {
		no++;
		/* Other key logs (SSLKEYLOGFILE) may share the file. */
		if (strncmp(line, "SMT_SESSION ", 12))
			continue;
		ns = realloc(d->sess, (d->nsess + 1) * sizeof(*ns));
		if (!ns) {
			ret = die("out of memory reading the keylog");
			break;
		}
		d->sess = ns;
		memset(&ns[d->nsess], 0, sizeof(*ns));
		err = NULL;
		if (smt_keylog_parse(line, &ns[d->nsess].kl, &err)) {
			smt_keys_wipe(&ns[d->nsess].kl.keys);
			ret = die(
				"--keylog: %s line %u: bad %s; expected 'SMT_SESSION <client ip> <client port> <server ip> <server port> <cipher> <B> <epoch> <M> <P> <c_key> <c_iv> <s_key> <s_iv>' (docs/protocol.md section 7)",
				d->keylog, no, err ? err : "line");
			break;
		}
		ns[d->nsess].line = no;
		d->nsess++;
	}
	if (line) {
		OPENSSL_cleanse(line, cap);
		free(line);
	}
	fclose(f);
	if (!ret && !d->nsess)
		ret = die("--keylog: '%s' has no SMT_SESSION line", d->keylog);
	return ret;
}

/*
 * Find the keys for a packet from src to dst in epoch. Returns 0 with *s and
 * *from_client, or SMT_DROP_UNKNOWN_SESSION / SMT_DROP_NO_EPOCH_KEYS.
 */
static int find_session(struct decoder *d, const struct sockaddr_storage *src,
			const struct sockaddr_storage *dst, int epoch,
			struct session **s, bool *from_client)
{
	bool known = false;
	size_t i;

	for (i = 0; i < d->nsess; i++) {
		struct smt_keylog *kl = &d->sess[i].kl;
		bool fc = addr_eq(src, &kl->client) &&
			  addr_eq(dst, &kl->server);
		bool fs = addr_eq(src, &kl->server) &&
			  addr_eq(dst, &kl->client);

		if (!fc && !fs)
			continue;
		known = true;
		if (epoch >= 0 && kl->epoch != (unsigned int)epoch)
			continue;
		*s = &d->sess[i];
		*from_client = fc;
		return 0;
	}
	return known ? SMT_DROP_NO_EPOCH_KEYS : SMT_DROP_UNKNOWN_SESSION;
}

static struct smt_aead *session_aead(struct session *s, bool from_client)
{
	struct smt_keys *k = &s->kl.keys;
	struct smt_aead **a = from_client ? &s->c_aead : &s->s_aead;

	if (!*a)
		*a = smt_aead_new(k->cipher, from_client ? k->c_key : k->s_key,
				  k->key_len, from_client ? k->c_iv : k->s_iv);
	return *a;
}

static struct dir *get_dir(struct decoder *d,
			   const struct sockaddr_storage *src,
			   const struct sockaddr_storage *dst,
			   unsigned int epoch, enum smt_encap encap,
			   struct session *s, bool from_client)
{
	char a[UTIL_ADDR_LEN], b[UTIL_ADDR_LEN];
	struct dir *x;

	for (x = d->dirs; x; x = x->next)
		if (x->epoch == epoch && x->encap == encap &&
		    addr_eq(&x->src, src) && addr_eq(&x->dst, dst))
			return x;
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->src = *src;
	x->dst = *dst;
	x->epoch = epoch;
	x->encap = encap;
	x->sess = s;
	x->lim = d->lim;
	if (s) {
		x->rx = session_aead(s, from_client);
		if (!x->rx) {
			free(x);
			return NULL;
		}
		x->lim.B = s->kl.B;
		x->lim.max_msg = s->kl.max_msg;
		x->lim.max_pad = s->kl.max_pad;
	}
	snprintf(x->name, sizeof(x->name), "%s > %s",
		 util_format_addr(src, 1, a, sizeof(a)),
		 util_format_addr(dst, 1, b, sizeof(b)));
	x->next = d->dirs;
	d->dirs = x;
	return x;
}

static unsigned int msg_hash(const struct dir *dir, uint64_t msg_id)
{
	uint64_t h = (uint64_t)(uintptr_t)dir * 0x9e3779b97f4a7c15ULL ^
		     msg_id * 0xff51afd7ed558ccdULL;

	return (unsigned int)(h >> 40) % MSG_HASH;
}

static struct msg *find_msg(struct decoder *d, struct dir *dir, uint64_t msg_id,
			    bool create)
{
	unsigned int h = msg_hash(dir, msg_id);
	struct msg *m;

	for (m = d->hash[h]; m; m = m->hnext)
		if (m->dir == dir && m->msg_id == msg_id)
			return m;
	if (!create)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->dir = dir;
	m->msg_id = msg_id;
	m->first_pkt = d->pkt_no;
	m->hnext = d->hash[h];
	d->hash[h] = m;
	*d->msgs_tail = m;
	d->msgs_tail = &m->next;
	return m;
}

static void msg_free(struct msg *m)
{
	if (m->rx)
		smt_rx_msg_free(m->rx);
	free(m->recs);
	free(m->bytes);
	free(m->have);
	free(m);
}

/* ---- decode: reporting ----------------------------------------------- */

/* Count a drop of the current packet, as a violation unless benign. */
static void report_drop(struct decoder *d, const char *flow, uint64_t msg_id,
			bool has_id, int reason, bool violation,
			const char *detail)
{
	if (reason > 0 && reason < SMT_DROP_MAX)
		d->drops[reason]++;
	if (violation)
		d->violations++;
	if (json_mode) {
		json_object *o = json_object_new_object();

		json_object_object_add(
			o, "packet", json_object_new_int64((int64_t)d->pkt_no));
		if (flow) {
			json_object_object_add(o, "flow",
					       json_object_new_string(flow));
			json_object_object_add(
				o, "encap",
				json_object_new_string(
					smt_encap_name(d->cur_encap)));
		}
		if (has_id)
			json_object_object_add(o, "msg_id",
					       json_object_new_uint64(msg_id));
		json_object_object_add(o, "reason",
				       json_object_new_string(smt_drop_name(
					       (unsigned)reason)));
		json_object_object_add(o, "violation",
				       json_object_new_boolean(violation));
		if (detail)
			json_object_object_add(o, "detail",
					       json_object_new_string(detail));
		json_object_array_add(d->jdrops, o);
		return;
	}
	printf("drop packet %" PRIu64 "%s%s", d->pkt_no, flow ? " " : "",
	       flow ? flow : "");
	if (flow)
		printf(" encap %s", smt_encap_name(d->cur_encap));
	if (has_id)
		printf(" msg_id %" PRIu64, msg_id);
	printf(": %s (%s)%s%s\n", smt_drop_name((unsigned)reason),
	       detail ? detail : smt_drop_desc((unsigned)reason),
	       violation ? "" : ", not a violation", "");
}

static void msg_drop(struct decoder *d, struct msg *m, int reason,
		     const char *detail)
{
	m->drops++;
	m->reason = reason;
	report_drop(d, m->dir->name, m->msg_id, true, reason, true, detail);
}

static const char *status_name(const struct msg *m)
{
	switch (m->status) {
	case MSG_OK:
		return "ok";
	case MSG_COMPLETE:
		return "complete";
	case MSG_FAILED:
		return "failed";
	default:
		return "incomplete";
	}
}

/* ---- decode: layout tracking (plaintext rules, with or without keys) -- */

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Note rec_idx -> seg_off; SMT_DROP_SEG_OFF_MISMATCH when it differs. */
static int track_record(struct msg *m, const struct smt_pkt *p)
{
	struct rec_info *r;
	uint32_t cap;

	if (p->rec_idx >= m->nrecs_cap) {
		cap = m->nrecs_cap ? m->nrecs_cap : 8;
		while (cap <= p->rec_idx)
			cap *= 2;
		r = realloc(m->recs, cap * sizeof(*r));
		if (!r)
			return SMT_DROP_NO_MEMORY;
		memset(r + m->nrecs_cap, 0, (cap - m->nrecs_cap) * sizeof(*r));
		m->recs = r;
		m->nrecs_cap = cap;
	}
	r = &m->recs[p->rec_idx];
	if (r->seen && r->seg_off != p->seg_off)
		return SMT_DROP_SEG_OFF_MISMATCH;
	if (!r->seen) {
		r->seen = true;
		r->seg_off = p->seg_off;
		m->nrecs++;
	}
	return 0;
}

static bool have_range(const struct msg *m, uint32_t off, uint32_t len)
{
	uint32_t i;

	for (i = off; i < off + len; i++)
		if (!m->have[i])
			return false;
	return true;
}

/*
 * The keyless receive rules for one DATA packet: msg_len and record layout
 * agree with what is held, bytes agree where they overlap, the packet stays
 * inside its record when the record header is known.
 */
static int track_bytes(struct msg *m, const struct smt_pkt *p, bool *dup)
{
	const uint8_t *rh;
	uint32_t i, rlen;
	bool fresh = false;

	*dup = false;
	if (!m->bytes) {
		m->bytes = malloc(m->msg_len ? m->msg_len : 1);
		m->have = calloc(1, m->msg_len ? m->msg_len : 1);
		if (!m->bytes || !m->have)
			return SMT_DROP_NO_MEMORY;
	}
	for (i = 0; i < p->payload_len; i++) {
		uint32_t o = p->pkt_off + i;

		if (m->have[o] && m->bytes[o] != p->payload[i])
			return SMT_DROP_BYTES_MISMATCH;
	}
	/* The record header, once known, bounds its record. */
	if (p->pkt_off == p->seg_off || have_range(m, p->seg_off, 5)) {
		rh = p->pkt_off == p->seg_off ? p->payload
					      : m->bytes + p->seg_off;
		if (rh[0] != SMT_REC_TYPE || rh[1] != SMT_REC_VER_HI ||
		    rh[2] != SMT_REC_VER_LO)
			return SMT_DROP_BAD_RECORD_HDR;
		rlen = (uint32_t)rh[3] << 8 | rh[4];
		if (rlen < SMT_REC_MIN_LEN || rlen > SMT_REC_MAX_LEN ||
		    (uint64_t)p->seg_off + 5 + rlen > m->msg_len)
			return SMT_DROP_BAD_RECORD_HDR;
		if ((uint64_t)p->pkt_off + p->payload_len >
		    (uint64_t)p->seg_off + 5 + rlen)
			return SMT_DROP_PAST_RECORD;
	}
	for (i = 0; i < p->payload_len; i++) {
		uint32_t o = p->pkt_off + i;

		if (!m->have[o]) {
			m->have[o] = 1;
			m->bytes[o] = p->payload[i];
			m->received++;
			fresh = true;
		}
	}
	*dup = !fresh;
	return 0;
}

/*
 * After the capture, without keys: the records must tile the stream as
 * section 3 says (record k+1 where record k ends, the last one at msg_len,
 * every record but the last with at least 4096 content bytes), and each
 * rec_idx seen in packets must name the record at its seg_off.
 */
static int check_layout(const struct msg *m, uint32_t *nrec)
{
	uint32_t off = 0, k = 0, rlen;

	while (off < m->msg_len) {
		if (!have_range(m, off, 5))
			return SMT_DROP_BAD_RECORD_HDR;
		rlen = (uint32_t)m->bytes[off + 3] << 8 | m->bytes[off + 4];
		if (k < m->nrecs_cap && m->recs[k].seen &&
		    m->recs[k].seg_off != off)
			return SMT_DROP_SEG_OFF_MISMATCH;
		off += 5 + rlen;
		if (off < m->msg_len &&
		    rlen < SMT_REC_MIN_CONTENT + 1 + SMT_TAG_LEN)
			return SMT_DROP_BAD_RECORD_HDR;
		k++;
	}
	if (off != m->msg_len)
		return SMT_DROP_BAD_RECORD_HDR;
	/* A rec_idx beyond the last record names no record. */
	if (m->nrecs_cap > k) {
		uint32_t i;

		for (i = k; i < m->nrecs_cap; i++)
			if (m->recs[i].seen)
				return SMT_DROP_SEG_OFF_MISMATCH;
	}
	*nrec = k;
	return 0;
}

/* ---- decode: packets ------------------------------------------------- */

static void dump_msg(struct decoder *d, struct msg *m, const uint8_t *app,
		     uint32_t len)
{
	char path[4096], a[UTIL_ADDR_LEN], b[UTIL_ADDR_LEN];
	int ret;

	snprintf(path, sizeof(path), "%s/%s-%u_%s-%u_e%u_m%" PRIu64 ".bin",
		 d->dump, util_format_addr(&m->dir->src, 0, a, sizeof(a)),
		 util_addr_port(&m->dir->src),
		 util_format_addr(&m->dir->dst, 0, b, sizeof(b)),
		 util_addr_port(&m->dir->dst), m->dir->epoch, m->msg_id);
	ret = util_write_file(path, app, len);
	if (ret) {
		fprintf(stderr, "smt-wire: --dump: cannot write '%s': %s\n",
			path, strerror(-ret));
		d->violations++;
	}
}

/* A message verified completely: inner header, replay window, dump. */
static void msg_done(struct decoder *d, struct msg *m)
{
	uint8_t *app = NULL;
	uint32_t len = 0, flags = 0;
	int r;

	r = smt_rx_msg_take(m->rx, &app, &len, &flags);
	if (!r && (m->msg_id & 1) && (flags & SMT_INNER_ONEWAY))
		r = SMT_DROP_BAD_INNER; /* a response is never ONEWAY */
	smt_rx_msg_free(m->rx);
	m->rx = NULL;
	if (r) {
		m->status = MSG_FAILED;
		msg_drop(d, m, r, NULL);
		goto out;
	}
	m->status = MSG_OK;
	m->app_len = len;
	m->inner_flags = flags;
	if (!(m->msg_id & 1))
		smt_req_window_mark(&m->dir->req, m->msg_id);
	if (d->dump)
		dump_msg(d, m, app, len);
out:
	if (app) {
		OPENSSL_cleanse(app, len);
		free(app);
	}
}

static void data_packet(struct decoder *d, struct dir *dir,
			const struct smt_pkt *p)
{
	struct msg *m = find_msg(d, dir, p->msg_id, true);
	bool progress = false, dup = false;
	int r;

	if (!m) {
		report_drop(d, dir->name, p->msg_id, true, SMT_DROP_NO_MEMORY,
			    true, NULL);
		return;
	}
	m->packets++;
	if (m->status == MSG_OK) {
		/* Section 3: late duplicates are counted, not replays. */
		m->dups++;
		report_drop(d, dir->name, p->msg_id, true, SMT_DROP_DUPLICATE,
			    false, "late duplicate of a delivered message");
		return;
	}
	if (!(p->msg_id & 1) && smt_req_window_check(&dir->req, p->msg_id)) {
		msg_drop(d, m, SMT_DROP_REQ_REPLAY, NULL);
		return;
	}
	if (dir->rx) {
		/* With keys the codec is the judge: what it holds stays
		 * provisional until a record verifies (section 3). */
		if (!m->rx) {
			m->rx = smt_rx_msg_new(p->msg_id, &dir->lim);
			if (!m->rx) {
				msg_drop(d, m, SMT_DROP_NO_MEMORY, NULL);
				return;
			}
		}
		r = smt_rx_msg_add(m->rx, p, dir->rx, &progress);
		if (r > 0) {
			msg_drop(d, m, r, NULL);
			return;
		}
		m->msg_len = p->msg_len;
		m->len_known = true;
		track_record(m, p); /* for the record count only */
		if (r == SMT_RX_DONE)
			msg_done(d, m);
		else if (!progress)
			m->dups++;
		return;
	}
	if (m->len_known && m->msg_len != p->msg_len) {
		msg_drop(d, m, SMT_DROP_MSG_LEN_MISMATCH, NULL);
		return;
	}
	if (!m->len_known) {
		m->msg_len = p->msg_len;
		m->len_known = true;
	}
	r = track_record(m, p);
	if (!r)
		r = track_bytes(m, p, &dup);
	if (r)
		msg_drop(d, m, r, NULL);
	else if (dup)
		m->dups++;
}

static void control_packet(struct decoder *d, struct dir *dir,
			   const struct smt_pkt *p)
{
	struct smt_ctl c = {0};
	const char *status = "unverified";
	uint64_t seq;
	int r = 0;
	uint16_t i;

	d->control++;
	c.type = p->type;
	c.msg_id = p->msg_id;
	seq = (uint64_t)be32_at(p->raw + p->raw_len - 24) << 32 |
	      be32_at(p->raw + p->raw_len - 20);
	c.ctl_seq = seq;
	if (dir->rx) {
		/* As the engine does: window, then tag; mark only verified. */
		r = smt_ctl_window_check(&dir->ctl, seq);
		if (!r)
			r = smt_ctl_verify(dir->rx, p, &c);
		if (!r) {
			smt_ctl_window_mark(&dir->ctl, seq);
			status = "ok";
		} else if (r == SMT_DROP_CTL_REPLAY &&
			   !smt_ctl_verify(dir->rx, p, &c)) {
			/* The sender's own packet again (its tag covers all
			 * but csum, and a ctl_seq is never reused): a
			 * network duplicate, counted like a late DATA
			 * duplicate, not a violation (protocol.md 3.4). */
			r = SMT_DROP_DUPLICATE;
			status = smt_drop_name((unsigned)r);
			report_drop(d, dir->name, p->msg_id, true, r, false,
				    "duplicate of an accepted control packet");
		} else {
			status = smt_drop_name((unsigned)r);
			report_drop(d, dir->name, p->msg_id, true, r, true,
				    NULL);
		}
	}
	if (json_mode) {
		json_object *o = json_object_new_object();

		json_object_object_add(
			o, "packet", json_object_new_int64((int64_t)d->pkt_no));
		json_object_object_add(o, "flow",
				       json_object_new_string(dir->name));
		json_object_object_add(o, "epoch",
				       json_object_new_int((int)dir->epoch));
		json_object_object_add(
			o, "encap",
			json_object_new_string(smt_encap_name(dir->encap)));
		json_object_object_add(
			o, "type", json_object_new_string(type_name(p->type)));
		json_object_object_add(o, "msg_id",
				       json_object_new_uint64(p->msg_id));
		json_object_object_add(o, "ctl_seq",
				       json_object_new_uint64(seq));
		if (!r && dir->rx &&
		    (c.type == SMT_TYPE_GRANT || c.type == SMT_TYPE_RESEND)) {
			json_object_object_add(o, "offset",
					       json_object_new_int64(c.offset));
			if (c.type == SMT_TYPE_RESEND)
				json_object_object_add(
					o, "length",
					json_object_new_int64(c.length));
			json_object_object_add(o, "prio",
					       json_object_new_int(c.prio));
		}
		if (!r && dir->rx && c.type == SMT_TYPE_ACK) {
			json_object *ids = json_object_new_array();

			for (i = 0; i < c.count && i < SMT_ACK_MAX; i++)
				json_object_array_add(
					ids, json_object_new_uint64(c.ids[i]));
			json_object_object_add(o, "ids", ids);
		}
		json_object_object_add(o, "status",
				       json_object_new_string(status));
		json_object_array_add(d->jctl, o);
		return;
	}
	printf("ctl %s epoch %u encap %s %s msg_id %" PRIu64
	       " ctl_seq %" PRIu64,
	       dir->name, dir->epoch, smt_encap_name(dir->encap),
	       type_name(p->type), p->msg_id, seq);
	if (!r && dir->rx &&
	    (c.type == SMT_TYPE_GRANT || c.type == SMT_TYPE_RESEND))
		printf(" offset %u prio %u", c.offset, c.prio);
	if (!r && dir->rx && c.type == SMT_TYPE_RESEND)
		printf(" length %u", c.length);
	if (!r && dir->rx && c.type == SMT_TYPE_ACK)
		for (i = 0; i < c.count && i < SMT_ACK_MAX; i++)
			printf("%s%" PRIu64, i ? "," : " ids ", c.ids[i]);
	printf(" status %s\n", status);
}

/*
 * One SMT packet, native or the payload of a UDP datagram: the stateless
 * rules of section 2.1 through libsmt, then the session, then the message.
 * src and dst carry the ports (the SMT ones natively, the UDP ones over UDP).
 */
static void smt_packet(struct decoder *d, const struct sockaddr_storage *src,
		       const struct sockaddr_storage *dst, const char *flow,
		       const uint8_t *smt, size_t len, int ipv4_id)
{
	struct smt_limits lim = d->lim;
	struct session *s = NULL;
	bool from_client = false;
	struct smt_pkt p;
	struct dir *dir;
	int r;

	/* The session's limits apply to its packets; any epoch's line has
	 * them, and the epoch is only known after parsing. */
	if (d->nsess && !find_session(d, src, dst, -1, &s, &from_client)) {
		lim.B = s->kl.B;
		lim.max_msg = s->kl.max_msg;
		lim.max_pad = s->kl.max_pad;
	}
	r = smt_pkt_parse(smt, len, &lim, ipv4_id, &p);
	if (r) {
		report_drop(d, flow, 0, false, r, true, NULL);
		return;
	}
	s = NULL;
	if (d->nsess) {
		r = find_session(d, src, dst, p.epoch, &s, &from_client);
		if (r) {
			report_drop(d, flow, p.msg_id, true, r, true, NULL);
			return;
		}
	}
	dir = get_dir(d, src, dst, p.epoch, d->cur_encap, s, from_client);
	if (!dir) {
		report_drop(d, flow, p.msg_id, true, SMT_DROP_NO_MEMORY, true,
			    "cannot set up the direction's keys");
		return;
	}
	if (p.type == SMT_TYPE_DATA)
		data_packet(d, dir, &p);
	else
		control_packet(d, dir, &p);
}

static void flow_name(const struct sockaddr_storage *src,
		      const struct sockaddr_storage *dst, char *flow,
		      size_t len)
{
	char a[UTIL_ADDR_LEN], b[UTIL_ADDR_LEN];

	snprintf(flow, len, "%s > %s", util_format_addr(src, 1, a, sizeof(a)),
		 util_format_addr(dst, 1, b, sizeof(b)));
}

/* A packet of IP protocol --proto: native SMT (section 1). */
static void native_packet(struct decoder *d, const struct ip_info *ip)
{
	struct sockaddr_storage src = ip->src, dst = ip->dst;
	char flow[2 * UTIL_ADDR_LEN + 4];

	d->smt_packets++;
	d->smt_ip++;
	d->cur_encap = SMT_ENCAP_IP;
	if (ip->fragment) {
		report_drop(d, NULL, 0, false, SMT_DROP_IP_FRAGMENT, true,
			    NULL);
		return;
	}
	if (ip->l4_len >= 4) {
		set_port(&src, (uint16_t)(ip->l4[0] << 8 | ip->l4[1]));
		set_port(&dst, (uint16_t)(ip->l4[2] << 8 | ip->l4[3]));
	}
	flow_name(&src, &dst, flow, sizeof(flow));
	smt_packet(d, &src, &dst, flow, ip->l4, ip->l4_len, ip->ipv4_id);
}

static uint16_t be16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Is this UDP datagram SMT? By its ports when --udp-ports gave ranges (as an
 * endpoint on those ports sees it: everything is checked), else by the
 * first 40 bytes after the UDP header (section 1.1 checks 3 and 4), so that
 * other UDP traffic in a capture is left alone. A later fragment has no
 * UDP header to look at and is never SMT.
 */
static bool udp_is_smt(const struct decoder *d, const struct ip_info *ip)
{
	const uint8_t *u = ip->l4;

	if (d->udp_mode == UDP_OFF || ip->frag_off || ip->l4_len < 4)
		return false;
	if (d->udp_mode == UDP_RANGES)
		return util_port_in_ranges(d->udp_ports, d->n_udp_ports,
					   be16_at(u)) ||
		       util_port_in_ranges(d->udp_ports, d->n_udp_ports,
					   be16_at(u + 2));
	return ip->l4_len >= UDP_HDR_LEN + SMT_HDR_LEN &&
	       u[UDP_HDR_LEN + 12] == SMT_DOFF_VER;
}

/* A datagram whose UDP checksum does not verify: its receiver's UDP stack
 * discards it before SMT sees it, so it is no SMT drop reason. */
static void report_bad_csum(struct decoder *d, const char *flow,
			    const struct udp_info *u)
{
	char detail[96];

	d->csum_bad++;
	d->violations++;
	snprintf(
		detail, sizeof(detail),
		"UDP checksum 0x%04x, computed 0x%04x; the receiver's UDP stack discards it",
		u->csum, u->want);
	if (json_mode) {
		json_object *o = json_object_new_object();

		json_object_object_add(
			o, "packet", json_object_new_int64((int64_t)d->pkt_no));
		json_object_object_add(o, "flow", json_object_new_string(flow));
		json_object_object_add(o, "encap",
				       json_object_new_string("udp"));
		json_object_object_add(
			o, "reason",
			json_object_new_string("bad_udp_checksum"));
		json_object_object_add(o, "violation",
				       json_object_new_boolean(true));
		json_object_object_add(o, "detail",
				       json_object_new_string(detail));
		json_object_array_add(d->jdrops, o);
		return;
	}
	printf("drop packet %" PRIu64 " %s encap udp: bad_udp_checksum (%s)\n",
	       d->pkt_no, flow, detail);
}

/* A UDP datagram that udp_is_smt() took: section 1.1, then smt_packet(). */
static void udp_packet(struct decoder *d, const struct ip_info *ip)
{
	struct sockaddr_storage src = ip->src, dst = ip->dst;
	char flow[2 * UTIL_ADDR_LEN + 4], detail[96];
	const uint8_t *smt;
	struct udp_info u;

	d->smt_packets++;
	d->smt_udp++;
	d->cur_encap = SMT_ENCAP_UDP;
	set_port(&src, be16_at(ip->l4));
	set_port(&dst, be16_at(ip->l4 + 2));
	flow_name(&src, &dst, flow, sizeof(flow));
	if (ip->fragment) {
		report_drop(d, flow, 0, false, SMT_DROP_IP_FRAGMENT, true,
			    NULL);
		return;
	}
	if (udp_parse(ip, &u)) {
		snprintf(
			detail, sizeof(detail),
			"malformed UDP header: length field %u, %zu bytes after the IP header",
			ip->l4_len >= 6 ? (unsigned int)be16_at(ip->l4 + 4)
					: 0u,
			ip->l4_len);
		report_drop(d, flow, 0, false, SMT_DROP_BAD_IP, true, detail);
		return;
	}
	if (u.csum_state == UDP_CSUM_BAD) {
		report_bad_csum(d, flow, &u);
		return;
	}
	if (u.csum_state == UDP_CSUM_PARTIAL)
		d->csum_partial++; /* captured on the sender, before offload */
	if (u.csum_state == UDP_CSUM_ABSENT) {
		/* Receivers take it; section 1.1 forbids sending it. */
		d->csum_absent++;
		d->violations++;
		if (!json_mode)
			printf("packet %" PRIu64
			       " %s encap udp: UDP checksum 0 (not computed); section 1.1 requires senders to compute it\n",
			       d->pkt_no, flow);
	}
	/* Section 1.1: right after rule 1, the SMT ports must be the UDP
	 * ones. */
	smt = u.payload;
	if (u.payload_len >= SMT_HDR_LEN &&
	    (be16_at(smt) != u.sport || be16_at(smt + 2) != u.dport)) {
		snprintf(detail, sizeof(detail),
			 "SMT ports %u > %u, UDP ports %u > %u", be16_at(smt),
			 be16_at(smt + 2), u.sport, u.dport);
		report_drop(d, flow, 0, false, SMT_DROP_UDP_PORT_MISMATCH, true,
			    detail);
		return;
	}
	/* No IPv4 ID over UDP: IPID_OFF is dropped as on IPv6 (1.1). */
	smt_packet(d, &src, &dst, flow, smt, u.payload_len, -1);
}

/*
 * pcap.h's link type (LINKTYPE_ number) of what libpcap calls dlt: libpcap
 * turns LINKTYPE_RAW into DLT_RAW, whose value differs between systems; the
 * other link types smt-wire reads keep their number.
 */
static uint32_t capture_linktype(int dlt)
{
	return dlt == DLT_RAW ? PCAP_LINKTYPE_RAW : (uint32_t)dlt;
}

/* The capture's link type is one decode reads; --filter compiles for it. */
static int check_capture(struct decoder *d, pcap_t *p, pcap_t **pp,
			 struct bpf_program *prog)
{
	const char *lt_name;
	uint32_t lt;
	int ret;

	lt = capture_linktype(pcap_datalink(p));
	if (!pcap_linktype_known(lt)) {
		lt_name = pcap_datalink_val_to_name(pcap_datalink(p));
		ret = die(
			"'%s' has link type %s (%u), which this tool does not read; capture raw IP, Ethernet or 'tcpdump -i any'",
			d->pcap, lt_name ? lt_name : "unknown", lt);
		goto err;
	}
	if (d->filter &&
	    pcap_compile(p, prog, d->filter, 1, PCAP_NETMASK_UNKNOWN)) {
		ret = die("--filter: '%s': %s", d->filter, pcap_geterr(p));
		goto err;
	}
	*pp = p;
	return 0;
err:
	pcap_close(p);
	return ret;
}

/*
 * --live IFACE: capture whole packets until --count or a signal. --filter
 * runs in the kernel, so the packets it rejects are not counted.
 */
static pcap_t *live_pcap;
#define LIVE_SNAPLEN (65535 + 64)
#define LIVE_BUFFER (32 << 20)

static void live_stop(int sig)
{
	if (live_pcap)
		pcap_breakloop(live_pcap);
}

static int open_live(struct decoder *d, pcap_t **pp, struct bpf_program *prog)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	struct sigaction sa = {.sa_handler = live_stop};
	pcap_t *p;
	int ret;

	p = pcap_create(d->live, errbuf);
	if (!p)
		return die("--live: '%s': %s", d->live, errbuf);
	/* Whole IP packets behind any link header decode reads; immediate
	 * mode makes each ring slot that large: room for bursts. */
	pcap_set_snaplen(p, LIVE_SNAPLEN);
	pcap_set_buffer_size(p, LIVE_BUFFER);
	pcap_set_timeout(p, 100);
	pcap_set_immediate_mode(p, 1);
	ret = pcap_activate(p);
	if (ret < 0) {
		ret = die("--live: '%s': %s (%s)", d->live,
			  pcap_statustostr(ret), pcap_geterr(p));
		pcap_close(p);
		return ret;
	}
	ret = check_capture(d, p, pp, prog);
	if (ret)
		return ret;
	/* In the kernel: what it rejects never reaches the ring buffer. */
	if (d->filter && pcap_setfilter(p, prog)) {
		ret = die("--filter: '%s': %s", d->filter, pcap_geterr(p));
		pcap_freecode(prog);
		pcap_close(p);
		return ret;
	}
	live_pcap = p;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "smt-wire: capturing on %s%s%s\n", d->live,
		d->filter ? ", filter " : "", d->filter ? d->filter : "");
	return 0;
}

/*
 * Open the capture (a pcap or pcapng file, stdin for "-", or --live) and
 * compile --filter against its link type. 0, or die()'s exit code.
 */
static int open_capture(struct decoder *d, pcap_t **pp,
			struct bpf_program *prog)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	FILE *f = stdin;
	pcap_t *p;

	if (d->live)
		return open_live(d, pp, prog);
	if (strcmp(d->pcap, "-")) {
		f = fopen(d->pcap, "rbe");
		if (!f)
			return die("cannot read '%s': %s", d->pcap,
				   strerror(errno));
	}
	p = pcap_fopen_offline(f, errbuf);
	if (!p) {
		if (f != stdin)
			fclose(f);
		return die("'%s' is not a pcap or pcapng file (%s)", d->pcap,
			   errbuf);
	}
	return check_capture(d, p, pp, prog);
}

/* --live: restore the signals; say what the kernel dropped. */
static void live_end(struct decoder *d, pcap_t *p)
{
	struct pcap_stat st;

	live_pcap = NULL;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (!pcap_stats(p, &st) && (st.ps_drop || st.ps_ifdrop))
		fprintf(stderr,
			"smt-wire: %s: %u packets dropped by the kernel, %u by the interface: the capture is incomplete\n",
			d->live, st.ps_drop, st.ps_ifdrop);
}

static int read_pcap(struct decoder *d)
{
	struct bpf_program prog = {0};
	struct pcap_pkthdr *h;
	struct ip_info ip;
	const uint8_t *pkt, *frame;
	uint32_t linktype;
	size_t len;
	pcap_t *p = NULL;
	bool udp;
	int ret;

	ret = open_capture(d, &p, &prog);
	if (ret)
		return ret;
	linktype = capture_linktype(pcap_datalink(p));
	while ((ret = pcap_next_ex(p, &h, &frame)) >= 0) {
		if (!ret) /* --live: no packet within the timeout */
			continue;
		d->pkt_no++;
		d->packets++;
		if (d->filter && !pcap_offline_filter(&prog, h, frame)) {
			d->filtered++;
			continue;
		}
		if (d->count && d->packets - d->filtered >= d->count)
			pcap_breakloop(p); /* after this one */
		ret = pcap_frame_ip(linktype, frame, h->caplen, &pkt, &len);
		if (ret == -ENOENT) { /* not IP */
			d->ignored++;
			continue;
		}
		if (!ret)
			ret = ip_parse(pkt, len, &ip);
		if (ret) {
			if (h->caplen < h->len)
				goto truncated;
			report_drop(d, NULL, 0, false, SMT_DROP_BAD_IP, true,
				    NULL);
			continue;
		}
		udp = ip.proto == SMT_IPPROTO_UDP && udp_is_smt(d, &ip);
		if (ip.proto != d->proto && !udp) {
			d->ignored++;
			continue;
		}
		if (h->caplen < h->len)
			goto truncated;
		if (udp)
			udp_packet(d, &ip);
		else
			native_packet(d, &ip);
		continue;
	truncated:
		/* Cannot check what was not captured: fail loudly. */
		d->truncated++;
		d->violations++;
		if (!json_mode)
			printf("packet %" PRIu64
			       ": truncated by the capture (%u of %u bytes); capture with -s 0\n",
			       d->pkt_no, h->caplen, h->len);
	}
	if (ret == PCAP_ERROR) {
		/* A capture cut off mid-record (tcpdump killed), or a pcapng
		 * block libpcap refuses: report what was read, and fail. */
		snprintf(d->read_error, sizeof(d->read_error),
			 "cannot read past packet %" PRIu64
			 ": %s; checked the packets before it",
			 d->pkt_no, pcap_geterr(p));
		d->truncated++;
		d->violations++;
		fprintf(stderr, "smt-wire: '%s': %s\n", d->pcap, d->read_error);
	}
	if (d->live)
		live_end(d, p);
	pcap_freecode(&prog);
	pcap_close(p);
	return 0;
}

/* ---- decode: end of capture ------------------------------------------ */

static void finish_msg(struct decoder *d, struct msg *m, uint32_t *nrec)
{
	int r;

	*nrec = m->nrecs;
	if (m->status == MSG_OK || m->status == MSG_FAILED)
		return;
	if (m->dir->rx || !m->len_known || m->received < m->msg_len) {
		/* Never verified (keys) or bytes missing (no keys). */
		m->status = m->reason ? MSG_FAILED : MSG_OPEN;
		d->violations++;
		return;
	}
	r = check_layout(m, nrec);
	if (r) {
		m->status = MSG_FAILED;
		m->reason = r;
		d->drops[r]++;
		d->violations++;
		if (!json_mode)
			printf("layout %s msg_id %" PRIu64 ": %s (%s)\n",
			       m->dir->name, m->msg_id,
			       smt_drop_name((unsigned)r),
			       "records do not tile the wire stream");
		return;
	}
	/* Drops of its packets were counted as violations already. */
	m->status = m->reason ? MSG_FAILED : MSG_COMPLETE;
}

static json_object *msg_json(const struct msg *m, uint32_t nrec)
{
	char a[UTIL_ADDR_LEN];
	json_object *o = json_object_new_object();

	json_object_object_add(o, "flow", json_object_new_string(m->dir->name));
	json_object_object_add(o, "src",
			       json_object_new_string(util_format_addr(
				       &m->dir->src, 0, a, sizeof(a))));
	json_object_object_add(
		o, "sport", json_object_new_int(util_addr_port(&m->dir->src)));
	json_object_object_add(o, "dst",
			       json_object_new_string(util_format_addr(
				       &m->dir->dst, 0, a, sizeof(a))));
	json_object_object_add(
		o, "dport", json_object_new_int(util_addr_port(&m->dir->dst)));
	json_object_object_add(o, "msg_id", json_object_new_uint64(m->msg_id));
	json_object_object_add(o, "epoch",
			       json_object_new_int((int)m->dir->epoch));
	json_object_object_add(
		o, "encap",
		json_object_new_string(smt_encap_name(m->dir->encap)));
	json_object_object_add(o, "msg_len", json_object_new_int64(m->msg_len));
	json_object_object_add(o, "records", json_object_new_int64(nrec));
	json_object_object_add(o, "packets",
			       json_object_new_int64((int64_t)m->packets));
	json_object_object_add(o, "duplicates",
			       json_object_new_int64((int64_t)m->dups));
	json_object_object_add(o, "status",
			       json_object_new_string(status_name(m)));
	if (m->reason)
		json_object_object_add(o, "reason",
				       json_object_new_string(smt_drop_name(
					       (unsigned)m->reason)));
	if (m->status == MSG_OK) {
		json_object_object_add(o, "app_len",
				       json_object_new_int64(m->app_len));
		json_object_object_add(
			o, "oneway",
			json_object_new_boolean(m->inner_flags &
						SMT_INNER_ONEWAY));
	}
	return o;
}

static void print_msg(const struct msg *m, uint32_t nrec)
{
	printf("msg %s msg_id %" PRIu64
	       " epoch %u encap %s msg_len %u records %u packets %" PRIu64,
	       m->dir->name, m->msg_id, m->dir->epoch,
	       smt_encap_name(m->dir->encap), m->msg_len, nrec, m->packets);
	if (m->dups)
		printf(" duplicates %" PRIu64, m->dups);
	printf(" status %s", status_name(m));
	if (m->reason)
		printf(" reason %s", smt_drop_name((unsigned)m->reason));
	if (m->status == MSG_OK)
		printf(" app_len %u%s", m->app_len,
		       m->inner_flags & SMT_INNER_ONEWAY ? " oneway" : "");
	printf("\n");
}

static void jadd_count(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

static int report(struct decoder *d)
{
	uint64_t n_ok = 0, n_complete = 0, n_bad = 0, total_drops = 0;
	json_object *root = NULL, *jm = NULL, *jc = NULL, *jc2;
	struct msg *m;
	uint32_t nrec;
	int i;

	if (json_mode) {
		root = json_object_new_object();
		jm = json_object_new_array();
	}
	for (m = d->msgs; m; m = m->next) {
		finish_msg(d, m, &nrec);
		if (m->status == MSG_OK)
			n_ok++;
		else if (m->status == MSG_COMPLETE)
			n_complete++;
		else
			n_bad++;
		if (json_mode)
			json_object_array_add(jm, msg_json(m, nrec));
		else
			print_msg(m, nrec);
	}
	for (i = 1; i < SMT_DROP_MAX; i++)
		total_drops += d->drops[i];
	if (json_mode) {
		jc = json_object_new_object();
		for (i = 1; i < SMT_DROP_MAX; i++)
			if (d->drops[i])
				json_object_object_add(
					jc, smt_drop_name((unsigned)i),
					json_object_new_int64(
						(int64_t)d->drops[i]));
		json_object_object_add(root, "file",
				       json_object_new_string(d->pcap));
		json_object_object_add(root, "decrypted",
				       json_object_new_boolean(d->nsess > 0));
		jadd_count(root, "packets", d->packets);
		jadd_count(root, "smt_packets", d->smt_packets);
		jadd_count(root, "ignored", d->ignored);
		jadd_count(root, "filtered", d->filtered);
		jadd_count(root, "truncated", d->truncated);
		if (d->filter)
			json_object_object_add(
				root, "filter",
				json_object_new_string(d->filter));
		if (d->read_error[0])
			json_object_object_add(
				root, "read_error",
				json_object_new_string(d->read_error));
		jc2 = json_object_new_object();
		jadd_count(jc2, "ip", d->smt_ip);
		jadd_count(jc2, "udp", d->smt_udp);
		json_object_object_add(root, "encap", jc2);
		jc2 = json_object_new_object();
		jadd_count(jc2, "bad", d->csum_bad);
		jadd_count(jc2, "absent", d->csum_absent);
		jadd_count(jc2, "offloaded", d->csum_partial);
		json_object_object_add(root, "udp_checksum", jc2);
		json_object_object_add(root, "messages", jm);
		json_object_object_add(root, "control", d->jctl);
		json_object_object_add(root, "drops", d->jdrops);
		json_object_object_add(root, "drop_counts", jc);
		json_object_object_add(
			root, "violations",
			json_object_new_int64((int64_t)d->violations));
		json_object_object_add(root, "ok",
				       json_object_new_boolean(!d->violations));
		d->jctl = d->jdrops = NULL;
		printf("%s\n",
		       json_object_to_json_string_ext(
			       root, JSON_C_TO_STRING_PRETTY |
					     JSON_C_TO_STRING_SPACED |
					     JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(root);
	} else {
		printf("summary: packets %" PRIu64 " smt %" PRIu64
		       " ignored %" PRIu64 " filtered %" PRIu64
		       " control %" PRIu64 " messages %" PRIu64 " ok %" PRIu64
		       " complete %" PRIu64 " bad %" PRIu64 " drops %" PRIu64
		       " violations %" PRIu64 "%s\n",
		       d->packets, d->smt_packets, d->ignored, d->filtered,
		       d->control, n_ok + n_complete + n_bad, n_ok, n_complete,
		       n_bad, total_drops, d->violations,
		       d->nsess ? "" : " (no keylog: records not decrypted)");
		printf("encap: ip %" PRIu64 " udp %" PRIu64
		       " udp_checksum bad %" PRIu64 " absent %" PRIu64
		       " offloaded %" PRIu64 "\n",
		       d->smt_ip, d->smt_udp, d->csum_bad, d->csum_absent,
		       d->csum_partial);
		for (i = 1; i < SMT_DROP_MAX; i++)
			if (d->drops[i])
				printf("drops %s %" PRIu64 "\n",
				       smt_drop_name((unsigned)i), d->drops[i]);
	}
	return d->violations ? EXIT_VIOLATION : 0;
}

static void decoder_free(struct decoder *d)
{
	struct msg *m, *mn;
	struct dir *x, *xn;
	size_t i;

	for (m = d->msgs; m; m = mn) {
		mn = m->next;
		msg_free(m);
	}
	for (x = d->dirs; x; x = xn) {
		xn = x->next;
		free(x);
	}
	for (i = 0; i < d->nsess; i++) {
		smt_aead_free(d->sess[i].c_aead);
		smt_aead_free(d->sess[i].s_aead);
		smt_keys_wipe(&d->sess[i].kl.keys);
	}
	free(d->sess);
	if (d->jctl)
		json_object_put(d->jctl);
	if (d->jdrops)
		json_object_put(d->jdrops);
}

/* --udp-ports RANGES | none */
static int opt_udp_ports(const struct tool_opt *opt, char *arg, char *err,
			 size_t err_len)
{
	struct decoder *d = opt->dst;
	char why[UTIL_ERR_LEN];

	if (!strcmp(arg, "none")) {
		d->udp_mode = UDP_OFF;
		d->n_udp_ports = 0;
		return 0;
	}
	if (util_parse_port_ranges(arg, d->udp_ports, SMT_UDP_PORT_RANGES,
				   &d->n_udp_ports, why, sizeof(why)))
		return die(
			"--udp-ports: %s; give ports and LO-HI ranges separated by commas (at most %d), or none",
			why, SMT_UDP_PORT_RANGES);
	d->udp_mode = UDP_RANGES;
	return 0;
}

static int cmd_decode(int argc, char **argv)
{
	struct decoder d = {
		.proto = SMT_IPPROTO_DEFAULT,
		.lim = {.B = SMT_B_DEFAULT, .max_msg = SMT_M_DEFAULT},
	};
	const struct tool_opt opts[] = {
		OPT_STR("keylog", 'k', &d.keylog),
		OPT_FLAG("json", 'j', &json_mode),
		OPT_U64("proto", 'p', &d.proto, 0, 255),
		OPT_FN("udp-ports", 'U', &d, opt_udp_ports),
		OPT_FN("bits", 'b', &d.lim.B, opt_bits),
		OPT_FN("max-msg", 'M', &d.lim.max_msg, opt_msg_size),
		OPT_U64("max-pad", 'P', &d.lim.max_pad, 0, SMT_PAD_MAX),
		OPT_STR("dump", 'D', &d.dump),
		OPT_STR("filter", 'f', &d.filter),
		OPT_STR("live", 'L', &d.live),
		OPT_U64("count", 'c', &d.count, 1, UINT64_MAX),
		OPT_HELP("help", 'h'),
	};
	struct stat st;
	int ret;

	d.msgs_tail = &d.msgs;
	if (read_opts("decode", "jhf:", argc, argv, opts, TOOL_OPTS_N(opts),
		      &ret))
		return ret;
	if (d.live && optind < argc)
		return die(
			"decode: --live %s captures; '%s' is extra (give a pcap file or --live, not both)",
			d.live, argv[optind]);
	if (!d.live && optind >= argc)
		return die(
			"decode: give the pcap file to read: smt-wire decode PCAP");
	if (optind + 1 < argc)
		return die("decode: one pcap file at a time ('%s' is extra)",
			   argv[optind + 1]);
	if (d.count && !d.live)
		return die("--count: only with --live");
	d.pcap = d.live ? d.live : argv[optind];
	if (d.proto == SMT_IPPROTO_UDP)
		return die(
			"--proto: 17 is UDP; SMT over UDP is decoded by default, and --udp-ports says on which ports");
	if (smt_limits_check(&d.lim))
		return die(
			"--bits/--max-msg/--max-pad: a message of %u bytes needs more records than B = %u allows; lower --max-msg or --bits",
			d.lim.max_msg, d.lim.B);
	if (d.dump && (stat(d.dump, &st) || !S_ISDIR(st.st_mode)))
		return die("--dump: '%s' is not a directory; create it first",
			   d.dump);
	if (d.keylog) {
		ret = load_keylog(&d);
		if (ret)
			goto out;
	}
	if (json_mode) {
		d.jdrops = json_object_new_array();
		d.jctl = json_object_new_array();
	}
	ret = read_pcap(&d);
	if (!ret)
		ret = report(&d);
out:
	decoder_free(&d);
	return ret;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	size_t n;

	if (util_version_arg(argc, argv, "smt-wire"))
		return 0;
	if (!cmd) {
		usage(stderr);
		return EXIT_USAGE;
	}
	n = strlen(cmd);
	/* Prefix matching, as bpftool and ip do. */
	if (n && !strncmp(cmd, "encode", n))
		return cmd_encode(argc - 1, argv + 1);
	if (n && !strncmp(cmd, "decode", n))
		return cmd_decode(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") ||
	    !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	return die("unknown command '%s'; use 'smt-wire help'", cmd);
}
