// SPDX-License-Identifier: BSD-2-Clause
/*
 * The session-parameter message (docs/protocol.md section 6.1), exchanged
 * over the TLS connection right after the handshake: the client PROPOSEs,
 * the server ACCEPTs (with its SMT port and the values it agreed to) or
 * REFUSEs with a code and a reason. Later, either smtd may end the session
 * with a CLOSE over a new TLS connection. All integers big-endian.
 *
 *  PROPOSE / ACCEPT (24 bytes)              REFUSE (6 + n bytes, n <= 200)
 *   0 version (1)   1 type (1)               0 version  1 type = 3
 *   2 length (2) = 24                        2 length (2) = 6 + n
 *   4 client_port (2)  6 server_port (2)     4 code (2)
 *   8 B (1)   9 epoch (1)                    6 reason (n bytes, UTF-8)
 *  10 ipproto (1)  11 flags (1): REKEY 0x01, EARLY 0x02, EARLY_KEYS 0x04,
 *                                 IN_USE 0x08
 *  (a PROPOSE with EARLY_KEYS: E0, 32 or 48 bytes, from 24 on)
 *  12 max_msg M (4)                         CLOSE (24 bytes)
 *  16 max_pad P (2)  18 hs_port (2)          0 version  1 type = 4
 *  20 lifetime seconds (4)                   2 length (2) = 24
 *                                            4 client_port  6 server_port
 *                                            8 tag (8)  16 reserved (8) = 0
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "smt/wire.h"
#include "smt/rules.h"
#include "smtd.h"

/* "ip", "udp" or "ip,udp" for a SMTD_ENCAPS_* mask (here: the fuzzer
 * links params.c without the config parser). */
const char *smtd_encaps_str(unsigned int m)
{
	switch (m & SMTD_ENCAPS_ALL) {
	case SMTD_ENCAPS_IP:
		return "ip";
	case SMTD_ENCAPS_UDP:
		return "udp";
	case SMTD_ENCAPS_ALL:
		return "ip,udp";
	default:
		return "none";
	}
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

size_t smt_params_encode(const struct smt_params *p, uint8_t *buf)
{
	size_t n;

	buf[0] = SMT_PARAMS_VERSION;
	buf[1] = p->type;
	if (p->type == SMT_PARAMS_REFUSE) {
		n = strnlen(p->reason, 200);
		put16(buf + 2, 6 + n);
		put16(buf + 4, p->code);
		memcpy(buf + 6, p->reason, n);
		return 6 + n;
	}
	put16(buf + 2, SMT_PARAMS_LEN);
	put16(buf + 4, p->client_port);
	put16(buf + 6, p->server_port);
	if (p->type == SMT_PARAMS_CLOSE) {
		memcpy(buf + 8, p->tag, sizeof(p->tag));
		memset(buf + 16, 0, 8);
		return SMT_PARAMS_LEN;
	}
	buf[8] = p->B;
	buf[9] = p->epoch;
	buf[10] = p->ipproto;
	buf[11] = p->flags;
	put32(buf + 12, p->max_msg);
	put16(buf + 16, p->max_pad);
	put16(buf + 18, p->hs_port);
	put32(buf + 20, p->lifetime_s);
	if (p->type == SMT_PARAMS_PROPOSE &&
	    (p->flags & SMT_PARAMS_F_EARLY_KEYS)) {
		put16(buf + 2, SMT_PARAMS_LEN + p->e0_len);
		memcpy(buf + SMT_PARAMS_LEN, p->e0, p->e0_len);
		return SMT_PARAMS_LEN + p->e0_len;
	}
	return SMT_PARAMS_LEN;
}

int smt_params_decode(const uint8_t *buf, size_t len, struct smt_params *p,
		      size_t *used, const char **why)
{
	size_t mlen, n;

	memset(p, 0, sizeof(*p));
	if (len < 4)
		return -EAGAIN;
	if (buf[0] != SMT_PARAMS_VERSION) {
		*why = "unknown parameter-message version";
		return -EPROTO;
	}
	mlen = get16(buf + 2);
	p->type = buf[1];
	if (p->type == SMT_PARAMS_REFUSE) {
		if (mlen < 6 || mlen > SMT_PARAMS_REFUSE_MAX) {
			*why = "bad REFUSE length";
			return -EPROTO;
		}
	} else if (p->type == SMT_PARAMS_PROPOSE &&
		   (mlen == SMT_PARAMS_LEN + 32 ||
		    mlen == SMT_PARAMS_LEN + 48)) {
		/* EARLY_KEYS: checked against the flags below */
	} else if (p->type == SMT_PARAMS_PROPOSE ||
		   p->type == SMT_PARAMS_ACCEPT ||
		   p->type == SMT_PARAMS_CLOSE) {
		if (mlen != SMT_PARAMS_LEN) {
			*why = "bad PROPOSE/ACCEPT/CLOSE length";
			return -EPROTO;
		}
	} else {
		*why = "unknown parameter-message type";
		return -EPROTO;
	}
	if (len < mlen)
		return -EAGAIN;
	*used = mlen;
	if (p->type == SMT_PARAMS_REFUSE) {
		p->code = get16(buf + 4);
		n = mlen - 6;
		memcpy(p->reason, buf + 6, n);
		p->reason[n] = 0;
		/* The peer's words reach our logs and applications: control
		 * bytes (a NUL, a newline forging a log line, a terminal
		 * escape) become '?'; UTF-8 passes. */
		for (size_t i = 0; i < n; i++)
			if ((uint8_t)p->reason[i] < 0x20 ||
			    (uint8_t)p->reason[i] == 0x7f)
				p->reason[i] = '?';
		return 0;
	}
	p->client_port = get16(buf + 4);
	p->server_port = get16(buf + 6);
	if (p->type == SMT_PARAMS_CLOSE) {
		static const uint8_t zero[8];

		memcpy(p->tag, buf + 8, sizeof(p->tag));
		if (memcmp(buf + 16, zero, 8)) {
			*why = "reserved bytes set";
			return -EPROTO;
		}
		return 0;
	}
	p->B = buf[8];
	p->epoch = buf[9];
	p->ipproto = buf[10];
	p->flags = buf[11];
	p->max_msg = get32(buf + 12);
	p->max_pad = get16(buf + 16);
	p->hs_port = get16(buf + 18);
	p->lifetime_s = get32(buf + 20);
	if (p->flags & ~SMT_PARAMS_F_ALL ||
	    (p->type != SMT_PARAMS_PROPOSE &&
	     p->flags & SMT_PARAMS_F_EARLY_KEYS)) {
		*why = "reserved bits set";
		return -EPROTO;
	}
	if (!(p->flags & SMT_PARAMS_F_EARLY_KEYS) != (mlen == SMT_PARAMS_LEN)) {
		*why = "EARLY_KEYS and the PROPOSE length disagree";
		return -EPROTO;
	}
	if (mlen > SMT_PARAMS_LEN) {
		p->e0_len = mlen - SMT_PARAMS_LEN;
		memcpy(p->e0, buf + SMT_PARAMS_LEN, p->e0_len);
	}
	return 0;
}

int smt_params_check(unsigned int B, uint32_t max_msg, uint32_t max_pad,
		     const char **why)
{
	uint64_t records, klimit;

	if (B < SMT_B_MIN || B > SMT_B_MAX) {
		*why = "B must be 40..56";
		return -ERANGE;
	}
	if (max_msg < 1 || max_msg > 64u << 20) {
		*why = "M must be 1 .. 64 MiB";
		return -ERANGE;
	}
	if (max_pad > 16383) {
		*why = "P must be 0..16383";
		return -ERANGE;
	}
	records = ((uint64_t)max_msg + 8 + 4095) / 4096;
	klimit = smt_rec_idx_limit(B);
	if (records > klimit) {
		*why = "a message of M bytes could need more records than "
		       "k < min(2^(64-B), 2^16) allows; lower M or B";
		return -ERANGE;
	}
	return 0;
}

/* "native IP (protocol 253)" or "UDP", for REFUSE reasons. */
static const char *encap_words(enum smt_encap e, unsigned int native, char *buf,
			       size_t len)
{
	if (e == SMT_ENCAP_UDP)
		return "UDP";
	snprintf(buf, len, "native IP (protocol %u)", native);
	return buf;
}

int smtd_encap_check(const char *service, uint8_t ipproto, unsigned int native,
		     unsigned int allowed, unsigned int served,
		     enum smt_encap *encap, char *why, size_t len)
{
	unsigned int usable = allowed & served;
	enum smt_encap want;
	char w[40];

	/* the client's application opened its endpoint in one encapsulation:
	 * never accept it in another, say what is served instead */
	if (ipproto != SMT_IPPROTO_UDP && ipproto != native) {
		snprintf(why, len,
			 "IP protocol %u is neither this host's native "
			 "protocol %u nor 17 (SMT over UDP)",
			 ipproto, native);
		return -EPROTONOSUPPORT;
	}
	want = smtd_encap_of(ipproto);
	*encap = want;
	if (!(allowed & (1u << want))) {
		snprintf(why, len,
			 "service %s is not served over %s: smt.conf "
			 "allows %s",
			 service, encap_words(want, native, w, sizeof(w)),
			 smtd_encaps_str(allowed));
		return -EPROTONOSUPPORT;
	}
	if (served & (1u << want))
		return 0;
	if (usable == SMTD_ENCAPS_IP)
		snprintf(why, len,
			 "service %s is served over native IP (protocol %u) "
			 "only",
			 service, native);
	else if (usable == SMTD_ENCAPS_UDP)
		snprintf(why, len, "service %s is served over UDP only",
			 service);
	else
		snprintf(why, len,
			 "service %s is not served over %s: its applications "
			 "use %s, which smt.conf does not allow",
			 service, encap_words(want, native, w, sizeof(w)),
			 smtd_encaps_str(served));
	return -EPROTONOSUPPORT;
}
