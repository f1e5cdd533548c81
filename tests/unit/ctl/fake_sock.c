// SPDX-License-Identifier: BSD-2-Clause
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "ctlproto.h"
#include "fake_sock.h"

int fake_listen(const char *tag, char *path, size_t len)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	snprintf(path, len, "/tmp/smt-%s-%d-%d.sock", tag, (int)getpid(),
		 rand());
	unlink(path);
	cr_assert_lt(strlen(path), sizeof(sun.sun_path));
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	setenv(SMT_CTL_SOCK_ENV, path, 1);
	return fd;
}
