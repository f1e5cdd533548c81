// SPDX-License-Identifier: BSD-2-Clause
/*
 * Command-line helpers shared by the smt tools (see util.h): hex, address and
 * port, sizes and whole-file I/O. Nothing here prints; errors come back as a
 * sentence in a caller buffer.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "libsmt.h"
#include "util.h"

static int fail(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int util_parse_hex(const char *s, uint8_t *out, size_t max, size_t want,
		   size_t *len, char *err, size_t err_len)
{
	size_t n, i;

	if (!s)
		return fail(err, err_len, "missing hex value");
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	n = strlen(s);
	for (i = 0; i < n; i++)
		if (hex_val(s[i]) < 0)
			return fail(err, err_len,
				    "'%c' at position %zu is not a hex digit",
				    s[i], i + 1);
	if (n % 2)
		return fail(
			err, err_len,
			"odd number of hex digits (%zu); give two digits per byte",
			n);
	if (want && n / 2 != want)
		return fail(
			err, err_len,
			"%zu bytes given, %zu bytes (%zu hex digits) needed",
			n / 2, want, want * 2);
	if (n / 2 > max)
		return fail(err, err_len,
			    "%zu bytes given, at most %zu allowed", n / 2, max);
	for (i = 0; i < n / 2; i++)
		out[i] = (uint8_t)(hex_val(s[2 * i]) << 4 |
				   hex_val(s[2 * i + 1]));
	if (len)
		*len = n / 2;
	return 0;
}

static int parse_port(const char *p, uint16_t *port, char *err, size_t err_len)
{
	uint64_t v;

	if (util_parse_u64(p, 0, 65535, &v, NULL, 0))
		return fail(err, err_len,
			    "port '%s' is not a number in 0..65535", p);
	*port = (uint16_t)v;
	return 0;
}

int util_parse_addr_port(const char *s, struct sockaddr_storage *ss,
			 int port_optional, char *err, size_t err_len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_s = NULL, *h = s, *end;
	uint16_t port = 0;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (!s || !*s)
		return fail(err, err_len, "empty address");
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end)
			return fail(err, err_len,
				    "'%s' opens '[' without closing ']'", s);
		h = s + 1;
		hl = (size_t)(end - h);
		if (end[1] == ':')
			port_s = end + 2;
		else if (end[1])
			return fail(
				err, err_len,
				"unexpected '%s' after ']' (use [ADDR]:PORT)",
				end + 1);
	} else {
		end = strrchr(s, ':');
		/* Two colons or more: a bare IPv6 address, or a mistake. */
		if (end && strchr(s, ':') != end) {
			if (inet_pton(AF_INET6, s, &sin6->sin6_addr) != 1)
				return fail(
					err, err_len,
					"'%s' looks like IPv6; write it as [ADDR]:PORT",
					s);
			if (!port_optional) {
				memset(ss, 0, sizeof(*ss));
				return fail(
					err, err_len,
					"'%s' has no port; write IPv6 addresses with brackets: [ADDR]:PORT",
					s);
			}
			end = NULL;
		}
		hl = end ? (size_t)(end - s) : strlen(s);
		if (end)
			port_s = end + 1;
	}
	if (hl == 0 || hl >= sizeof(host))
		return fail(err, err_len, "'%s' has no valid address part", s);
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (port_s) {
		if (parse_port(port_s, &port, err, err_len))
			return -EINVAL;
	} else if (!port_optional) {
		return fail(err, err_len,
			    "'%s' has no port; use A.B.C.D:PORT or [V6]:PORT",
			    s);
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	return fail(err, err_len, "'%s' is not an IPv4 or IPv6 address", host);
}

uint16_t util_addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

const char *util_format_addr(const struct sockaddr_storage *ss, int with_port,
			     char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	const void *src;
	int v6 = ss->ss_family == AF_INET6;

	if (v6)
		src = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	else
		src = &((const struct sockaddr_in *)ss)->sin_addr;
	if (!inet_ntop(ss->ss_family, src, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	if (!with_port)
		snprintf(buf, len, "%s", a);
	else if (v6)
		snprintf(buf, len, "[%s]:%u", a, util_addr_port(ss));
	else
		snprintf(buf, len, "%s:%u", a, util_addr_port(ss));
	return buf;
}

int util_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out,
		   char *err, size_t err_len)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return fail(err, err_len, "'%s' is not a number", s ? s : "");
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return fail(err, err_len, "'%s' is not a number", s);
	if (v < lo || v > hi)
		return fail(err, err_len, "%llu is out of range %llu..%llu", v,
			    (unsigned long long)lo, (unsigned long long)hi);
	*out = v;
	return 0;
}

int util_parse_port_ranges(const char *s, struct util_port_range *out,
			   size_t max, size_t *n, char *err, size_t err_len)
{
	char buf[1024], *tok, *save, *dash;
	uint64_t lo, hi;

	*n = 0;
	if (!s || !*s)
		return fail(err, err_len, "no port range given");
	if (strlen(s) >= sizeof(buf))
		return fail(err, err_len, "port range list too long");
	memcpy(buf, s, strlen(s) + 1);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		dash = strchr(tok, '-');
		if (dash)
			*dash = '\0';
		if (util_parse_u64(tok, 1, 65535, &lo, NULL, 0) ||
		    util_parse_u64(dash ? dash + 1 : tok, 1, 65535, &hi, NULL,
				   0))
			return fail(
				err, err_len,
				"'%s%s%s' is not a port or LO-HI range in 1..65535",
				tok, dash ? "-" : "", dash ? dash + 1 : "");
		if (lo > hi)
			return fail(err, err_len,
				    "range %llu-%llu ends before it starts",
				    (unsigned long long)lo,
				    (unsigned long long)hi);
		if (*n == max)
			return fail(err, err_len, "more than %zu port ranges",
				    max);
		out[*n].lo = (uint16_t)lo;
		out[*n].hi = (uint16_t)hi;
		(*n)++;
	}
	if (!*n)
		return fail(err, err_len, "no port range in '%s'", s);
	return 0;
}

int util_port_in_ranges(const struct util_port_range *r, size_t n,
			uint16_t port)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (port >= r[i].lo && port <= r[i].hi)
			return 1;
	return 0;
}

int util_parse_size(const char *s, uint64_t max, uint64_t *out, char *err,
		    size_t err_len)
{
	static const char what[] =
		"'%s' is not a size (bytes, or with K, M, G suffix: 64, 4K, "
		"1.5M)";
	uint64_t frac = 0, scale = 1, fbytes = 0;
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || !*s || *s == '-' || !isdigit((unsigned char)*s))
		return fail(err, err_len, what, s ? s : "");
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return fail(err, err_len, "'%s' is too large", s);
	if (*end == '.') {
		/* a fraction: at most 9 digits, so frac << 30 fits */
		for (end++; isdigit((unsigned char)*end); end++) {
			if (scale == 1000000000)
				return fail(err, err_len,
					    "'%s': at most 9 digits after "
					    "the point",
					    s);
			frac = frac * 10 + (*end - '0');
			scale *= 10;
		}
		if (scale == 1)
			return fail(err, err_len, what, s);
	}
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case '\0':
		break;
	default:
		return fail(err, err_len, what, s);
	}
	if (*end && end[1] && strcmp(end + 1, "B") && strcmp(end + 1, "iB"))
		return fail(err, err_len, "'%s' has junk after the suffix", s);
	/* the fraction must come to whole bytes: 1.5K, not 0.1K */
	if (frac) {
		fbytes = (frac << shift) / scale;
		if (fbytes * scale != frac << shift)
			return fail(err, err_len,
				    "'%s' is not a whole number of bytes", s);
	}
	/* compare before shifting: v << shift must not wrap */
	if (v > (max >> shift) || fbytes > max ||
	    ((uint64_t)v << shift) > max - fbytes)
		return fail(err, err_len, "'%s' is more than the limit %llu", s,
			    (unsigned long long)max);
	*out = ((uint64_t)v << shift) + fbytes;
	return 0;
}

int util_read_file(const char *path, size_t max, uint8_t **buf, size_t *len)
{
	size_t cap = 65536, n = 0;
	uint8_t *b = NULL, *nb;
	int fd, ret = 0;
	ssize_t r;

	fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0)
		return -errno;
	b = malloc(cap);
	if (!b) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				ret = -EFBIG;
				goto out;
			}
			cap *= 2;
			nb = realloc(b, cap);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			b = nb;
		}
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max)
		ret = -EFBIG;
out:
	if (fd > 0)
		close(fd);
	if (ret) {
		free(b);
		return ret;
	}
	*buf = b;
	*len = n;
	return 0;
}

int util_write_file(const char *path, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int fd, ret = 0;
	ssize_t w;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (len) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			ret = -errno;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

int util_version_arg(int argc, char **argv, const char *prog)
{
	if (argc < 2 || (strcmp(argv[1], "--version") && strcmp(argv[1], "-V")))
		return 0;
	printf("%s (smt) %s\n", prog, smt_version());
	return 1;
}

int util_epoll_wait_ns(int epfd, struct epoll_event *ev, int max, int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000,
			      .tv_nsec = ns % 1000000000};
	int n = epoll_pwait2(epfd, ev, max, ns < 0 ? NULL : &ts, NULL);

	if (n < 0 && errno == ENOSYS)
		n = epoll_wait(epfd, ev, max,
			       ns < 0 ? -1
			       : ns > (int64_t)INT_MAX * 1000000
				       ? INT_MAX
				       : (int)((ns + 999999) / 1000000));
	return n;
}
