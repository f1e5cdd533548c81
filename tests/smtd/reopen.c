// SPDX-License-Identifier: BSD-2-Clause
/*
 * Test helper for test-smtd: opens an endpoint, gets a session from smtd
 * (smt_connect), runs one RPC against smt-echo, closes the endpoint, and
 * does it all again ROUNDS times, so that libsmt's smtd client meets
 * endpoints that reuse a closed one's memory. Prints "reopen: N rounds ok"
 * and exits 0 when every RPC got its echo.
 * Usage: reopen SERVICE ADDRESS PORT ROUNDS
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		fprintf(stderr, "reopen: %s\n", smt_strerror(err));
	smt_endpoint_close(ep);
	return got ? 0 : -1;
}

int main(int argc, char **argv)
{
	int rounds, i;

	if (argc != 5) {
		fprintf(stderr, "usage: reopen SERVICE ADDRESS PORT ROUNDS\n");
		return 2;
	}
	rounds = atoi(argv[4]);
	for (i = 0; i < rounds; i++)
		if (one_round(argv[1], argv[2], atoi(argv[3]))) {
			fprintf(stderr, "reopen: round %d failed\n", i + 1);
			return 1;
		}
	printf("reopen: %d rounds ok\n", rounds);
	return 0;
}
