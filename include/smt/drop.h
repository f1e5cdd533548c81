/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Drop reasons and counters: one X-macro list shared by the BPF programs,
 * libsmt, the kernel module, smt-wire and smtctl, so every component prints
 * the same names. Numbers are stable and never reused; append only.
 *
 * X(NAME, number, "printable_name", "what it means")
 */
#ifndef SMT_DROP_H
#define SMT_DROP_H

/* clang-format off */
#define SMT_DROP_REASONS(X)                                                   \
	X(NONE, 0, "none", "not dropped")                                    \
	X(SHORT_HEADER, 1, "short_header", "IP payload shorter than 40 bytes") \
	X(BAD_VERSION, 2, "bad_doff_ver", "doff_ver is not 0xA1")            \
	X(UNKNOWN_TYPE, 3, "unknown_type", "reserved packet type")          \
	X(BAD_MSG_ID, 4, "bad_msg_id", "DATA msg_id < 2 or >= 2^(B-1)")      \
	X(MSG_TOO_LONG, 5, "msg_len_over_max", "DATA msg_len > max_wire")    \
	X(EMPTY_PAYLOAD, 6, "empty_payload", "DATA without payload")         \
	X(PAST_MSG_LEN, 7, "past_msg_len", "DATA runs past msg_len")         \
	X(PAST_RECORD, 8, "past_record", "DATA runs past the end of its record") \
	X(SEG_AFTER_PKT, 9, "seg_off_after_pkt_off", "DATA seg_off > pkt_off") \
	X(SHORT_REC_START, 10, "short_record_start",                         \
	  "record-starting DATA with fewer than 5 bytes")                    \
	X(MSG_LEN_MISMATCH, 11, "msg_len_mismatch",                          \
	  "DATA msg_len differs from what is held")                          \
	X(SEG_OFF_MISMATCH, 12, "seg_off_mismatch",                          \
	  "DATA seg_off differs for the same rec_idx")                       \
	X(BYTES_MISMATCH, 13, "bytes_mismatch",                              \
	  "DATA bytes differ at an offset already received")                 \
	X(BAD_CTL_LEN, 14, "bad_control_length",                             \
	  "control packet length is not its type's")                         \
	X(NO_EPOCH_KEYS, 15, "no_epoch_keys", "epoch has no keys")          \
	X(UNKNOWN_SESSION, 16, "unknown_session",                            \
	  "no session for (peer address, peer port, local port)")            \
	X(BAD_RECORD_HDR, 17, "bad_record_header",                           \
	  "record header not 17 03 03 or length out of range")               \
	X(RECORD_AUTH, 18, "record_auth_failed", "record tag did not verify") \
	X(CTL_AUTH, 19, "control_auth_failed", "control tag did not verify") \
	X(CTL_REPLAY, 20, "control_replay",                                  \
	  "ctl_seq out of range or already accepted")                        \
	X(REQ_REPLAY, 21, "request_replay",                                  \
	  "request below the window or already delivered")                   \
	X(TRUNCATED, 22, "truncated", "app_len does not match the content")  \
	X(BAD_INNER, 23, "bad_inner",                                        \
	  "unknown inner flags, inner type or ONEWAY response")              \
	X(DUPLICATE, 24, "duplicate", "late duplicate of a delivered message") \
	X(IPID_OFF_V6, 25, "ipid_off_on_ipv6", "IPID_OFF set on IPv6")       \
	X(UNEXPECTED_RESPONSE, 26, "unexpected_response",                    \
	  "response to no outstanding request")                              \
	X(REASSEMBLY_TIMEOUT, 27, "reassembly_timeout",                      \
	  "message freed by the reassembly timeout")                         \
	X(RECORD_FAILED, 28, "record_failed_3x",                             \
	  "a record failed three times; message state freed")                \
	X(LIMIT, 29, "over_limit", "reassembly limit reached; refused")      \
	X(BAD_ACK_COUNT, 30, "bad_ack_count", "ACK count not in 1..32")      \
	X(BAD_REC_IDX, 31, "bad_rec_idx", "rec_idx beyond the record limit")  \
	X(IP_FRAGMENT, 32, "ip_fragment", "fragmented IP packet")            \
	X(BAD_IP, 33, "bad_ip_header", "malformed IP header")                \
	X(MB_OVERSIZE, 34, "mb_oversize",                                    \
	  "middlebox: message over the size limit")                          \
	X(MB_RATE, 35, "mb_rate_limit", "middlebox: flow message rate limit") \
	X(FAULT, 36, "fault_injected", "dropped by the fault injector")      \
	X(BAD_CTL_FIELDS, 37, "bad_control_fields",                          \
	  "control packet with a bad body (reserved bytes, ranges)")         \
	X(NO_MEMORY, 38, "no_memory", "no memory to hold the packet")      \
	X(UDP_PORT_MISMATCH, 39, "udp_port_mismatch",                        \
	  "SMT over UDP: SMT header ports differ from the UDP ports")

enum smt_drop_reason {
#define SMT_DROP_ENUM(name, num, str, desc) SMT_DROP_##name = num,
	SMT_DROP_REASONS(SMT_DROP_ENUM)
#undef SMT_DROP_ENUM
	SMT_DROP_MAX /* one past the highest number; arrays are this long */
};
/* clang-format on */

#ifndef __BPF__
/* Printable name of a drop reason, or "unknown" for a number not listed. */
static inline const char *smt_drop_name(unsigned int reason)
{
	switch (reason) {
#define SMT_DROP_CASE(name, num, str, desc) \
	case num:                           \
		return str;
		SMT_DROP_REASONS(SMT_DROP_CASE)
#undef SMT_DROP_CASE
	}
	return "unknown";
}

/* One-line description of a drop reason. */
static inline const char *smt_drop_desc(unsigned int reason)
{
	switch (reason) {
#define SMT_DROP_CASE(name, num, str, desc) \
	case num:                           \
		return desc;
		SMT_DROP_REASONS(SMT_DROP_CASE)
#undef SMT_DROP_CASE
	}
	return "unknown drop reason";
}
#endif

#endif /* SMT_DROP_H */
