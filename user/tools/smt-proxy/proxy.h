/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * smt-proxy: carries the requests of unmodified TCP applications as SMT
 * messages (docs/man/smt-proxy.8). Shared declarations.
 */
#ifndef SMT_PROXY_H
#define SMT_PROXY_H

#include <stdint.h>
#include <sys/socket.h>

#include "framer.h"
#include "libsmt.h"

enum proxy_role { ROLE_CLIENT = 1, ROLE_SERVER = 2 };

#define PROXY_NAME_MAX 64
#define PROXY_PATH_MAX 256

struct proxy_cfg {
	char name[PROXY_NAME_MAX];
	enum proxy_role role;
	char service[PROXY_NAME_MAX];
	char connect[PROXY_PATH_MAX]; /* client: the server host's smtd */
	char listen[PROXY_PATH_MAX]; /* client: TCP address:port */
	char unix_path[PROXY_PATH_MAX]; /* client: Unix socket path */
	char backend[PROXY_PATH_MAX]; /* server: the application address */
	char smtd_socket[PROXY_PATH_MAX]; /* "" = $SMT_CTL_SOCKET / default */
	char stats_file[PROXY_PATH_MAX];
	char control_socket[PROXY_PATH_MAX]; /* "none": no socket */
	uint16_t port; /* SMT port (server: the service's) */
	enum smt_encap encap;
	enum framer_kind framer;
	uint64_t max_frame; /* request or response bytes */
	uint64_t max_conns; /* client connections / backend connections */
	uint64_t max_pipeline; /* outstanding requests per connection */
	uint64_t batch; /* client: request bytes one message may carry when a
			   connection's read held several (0: one each) */
	uint64_t send_window; /* SMT requests in flight before a send waits
				 (libsmt's max_tx_msgs; 0: its default) */
	uint64_t idle_timeout; /* server: seconds before an idle backend
				  connection of a silent client closes */
	uint64_t drain_timeout; /* seconds SIGTERM waits for answers */
	struct sockaddr_storage listen_addr, backend_addr;
};

#define PROXY_MAX 16

/* Reads path; fills cfg[] (at most PROXY_MAX) and *n. 0, or -1 with a
 * message "path:line: ..." in err. */
int proxy_config_load(const char *path, struct proxy_cfg *cfg, unsigned int *n,
		      char *err, size_t err_len);

/* Wire header of a request message (docs/man/smt-proxy.8, PROTOCOL). */
#define PROXY_HDR_LEN 12
#define PROXY_REQ_DATA 0
#define PROXY_REQ_CLOSE 1
#define PROXY_REQ_BATCH 2 /* bytes 1..3: how many requests follow */
#define PROXY_REQ_MORE 3 /* the rest of a batch's replies (after PART) */
#define PROXY_RESP_OK 0
#define PROXY_RESP_ERROR 1
/* bytes 1..3: how many replies follow; the rest answer a MORE request */
#define PROXY_RESP_PART 2
#define PROXY_RESP_HDR_PART 4
/* Default and largest batch (request bytes per message): one packet's
 * worth, so a lost packet delays only requests that wait for each other
 * anyway (one connection's, in its order). */
#define PROXY_BATCH_DEFAULT 1200
#define PROXY_BATCH_MAX 65536
/* A batch's replies go in parts of about this many bytes (MORE). */
#define PROXY_PART_BYTES 65536

#endif
