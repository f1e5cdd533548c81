// SPDX-License-Identifier: BSD-2-Clause
/*
 * Test helper for test-smtd: opens an endpoint, gets a session from smtd
 * (smt_connect), runs one RPC against smt-echo, closes the endpoint, and
 * does it all again ROUNDS times, so that libsmt's smtd client meets
 * endpoints that reuse a closed one's memory. Prints "reopen: N rounds ok"
 * and exits 0 when every RPC got its echo.
 * "spread": round i uses port PORT + i (many sessions, each closed in turn).
 * "hold": opens ROUNDS endpoints on ports PORT .. PORT + ROUNDS - 1, gets a
 * session for each, prints "hold: N sessions" and waits to be killed (the
 * server then holds N sessions that nobody will close).
 * Usage: reopen SERVICE ADDRESS PORT ROUNDS [spread|hold]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "libsmt.h"

static int one_round(const char *svc, const char *addr, uint16_t port)
{
	struct smt_endpoint_opts o = {.sz = sizeof(o), .port = port};
	struct smt_endpoint *ep;
	uint8_t req[100];
	struct smt_msg m;
	uint32_t sid;
	int err, i, got = 0;

	err = smt_endpoint_open(&o, &ep);
	if (err) {
		fprintf(stderr, "reopen: endpoint: %s\n", smt_strerror(err));
		return -1;
	}
	err = smt_connect(ep, svc, addr, &sid);
	if (!err) {
		memset(req, 0x3c, sizeof(req));
		err = smt_send_request(ep, sid, req, sizeof(req), 7, NULL);
	}
	for (i = 0; !err && i < 500 && !got; i++) {
		smt_wait(ep, 10);
		while (smt_recv(ep, &m) == 0) {
			if (m.kind == SMT_MSG_RESPONSE && m.cookie == 7 &&
			    m.len == sizeof(req) && m.data[0] == (0x3c ^ 0xA5))
				got = 1;
			else if (m.kind == SMT_MSG_FAILED)
				err = m.error;
			smt_msg_release(&m);
		}
	}
	if (err)
		fprintf(stderr, "reopen: port %u: %s: %s\n", port,
			smt_strerror(err), smt_last_error(ep));
	smt_endpoint_close(ep);
	return got ? 0 : -1;
}

static int hold(const char *svc, const char *addr, uint16_t port, int n)
{
	struct rlimit rl;
	int i, err;

	/* a few descriptors per endpoint */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (i = 0; i < n; i++) {
		struct smt_endpoint_opts o = {.sz = sizeof(o),
					      .port = port + i};
		struct smt_endpoint *ep = NULL;
		uint32_t sid;

		err = smt_endpoint_open(&o, &ep);
		if (!err)
			err = smt_connect(ep, svc, addr, &sid);
		if (err) {
			fprintf(stderr, "reopen: hold %d (port %u): %s: %s\n",
				i, port + i, smt_strerror(err),
				smt_last_error(ep));
			return 1;
		}
	}
	printf("hold: %d sessions\n", n);
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	int rounds, i;
	bool spread = argc == 6 && !strcmp(argv[5], "spread");

	if (argc != 5 && !(argc == 6 && (spread || !strcmp(argv[5], "hold")))) {
		fprintf(stderr, "usage: reopen SERVICE ADDRESS PORT ROUNDS "
				"[spread|hold]\n");
		return 2;
	}
	rounds = atoi(argv[4]);
	if (argc == 6 && !spread)
		return hold(argv[1], argv[2], atoi(argv[3]), rounds);
	for (i = 0; i < rounds; i++)
		if (one_round(argv[1], argv[2],
			      atoi(argv[3]) + (spread ? i : 0))) {
			fprintf(stderr, "reopen: round %d failed\n", i + 1);
			return 1;
		}
	printf("reopen: %d rounds ok\n", rounds);
	return 0;
}
