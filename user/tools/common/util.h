/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Small command-line helpers shared by every smt tool: hex strings, address
 * and port pairs, sizes with K/M/G suffixes, whole-file reads. Each parser
 * returns 0 or -EINVAL and, on error, fills a caller buffer with a sentence
 * that says what is wrong with the value, so that the tool can prefix the
 * option name and print it.
 */
#ifndef SMT_TOOLS_UTIL_H
#define SMT_TOOLS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UTIL_ERR_LEN 160

/*
 * Parse an even-length hex string (optional "0x" prefix, either case) into
 * out. When want != 0 the string must decode to exactly want bytes; else to
 * at most max bytes. *len receives the byte count.
 */
int util_parse_hex(const char *s, uint8_t *out, size_t max, size_t want,
		   size_t *len, char *err, size_t err_len);

/*
 * Parse "A.B.C.D:PORT", "[V6]:PORT" or, when port_optional is set, a bare
 * address (port 0). IPv6 addresses need the brackets when a port follows.
 */
int util_parse_addr_port(const char *s, struct sockaddr_storage *ss,
			 int port_optional, char *err, size_t err_len);

/* Port of an AF_INET/AF_INET6 address, host order. */
uint16_t util_addr_port(const struct sockaddr_storage *ss);

/*
 * Format an address as "A.B.C.D:PORT" or "[V6]:PORT" (with_port) or bare.
 * buf should hold UTIL_ADDR_LEN bytes.
 */
#define UTIL_ADDR_LEN 64
const char *util_format_addr(const struct sockaddr_storage *ss, int with_port,
			     char *buf, size_t len);

/*
 * UDP port ranges "P" or "LO-HI", separated by commas ("7000,9000-9099"),
 * ports 1..65535, at most max ranges; *n receives the count. The same
 * shape as the BPF map udp_ports (include/smt/maps.h) so callers can copy
 * the ranges into it.
 */
struct util_port_range {
	uint16_t lo, hi;
};
int util_parse_port_ranges(const char *s, struct util_port_range *out,
			   size_t max, size_t *n, char *err, size_t err_len);
/* True when port lies in one of the n ranges. */
int util_port_in_ranges(const struct util_port_range *r, size_t n,
			uint16_t port);

/* Unsigned decimal (or 0x hex) in lo..hi. */
int util_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out,
		   char *err, size_t err_len);

/*
 * Size in bytes with an optional K, M or G suffix (powers of 1024, then an
 * optional B or iB) and an optional fraction that comes to whole bytes
 * ("1.5K" is 1536, "0.1K" is refused), <= max; nothing wraps. The one size
 * parser of the tree: smt.conf (smtd), smtctl and the tools use it.
 */
int util_parse_size(const char *s, uint64_t max, uint64_t *out, char *err,
		    size_t err_len);

/*
 * Read a whole file ("-" for stdin) into a malloc'd buffer of at most max
 * bytes. Returns 0 or -errno (-EFBIG when larger than max).
 */
int util_read_file(const char *path, size_t max, uint8_t **buf, size_t *len);

/* Write all of buf to path (created or truncated, mode 0644); 0 or -errno. */
int util_write_file(const char *path, const void *buf, size_t len);

/*
 * Every program's --version (or -V) as its first argument: prints
 * "PROG (smt) VERSION" with libsmt's smt_version() and returns 1, so that
 * main() returns 0; returns 0 for any other command line.
 */
int util_version_arg(int argc, char **argv, const char *prog);

struct epoll_event;

/*
 * epoll_wait with a timeout in nanoseconds (ns < 0: none): epoll_pwait2, so
 * that a 100 us timer does not wait for epoll_wait's next whole millisecond;
 * before Linux 5.11 (ENOSYS) epoll_wait with the timeout rounded up to whole
 * milliseconds. Returns what they return (-1 and errno on error).
 */
int util_epoll_wait_ns(int epfd, struct epoll_event *ev, int max, int64_t ns);

#endif /* SMT_TOOLS_UTIL_H */
