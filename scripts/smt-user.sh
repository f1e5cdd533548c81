#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Create the system user and group smtd runs as (smt), idempotently, and
# let group smt read the host keys in SYSCONFDIR/smt (0640 root:smt), never
# the CA's key. `make install` runs it as root when DESTDIR is empty;
# packagers run it from their postinst. See smtd(8) "PRIVILEGES".
# Usage: smt-user.sh [SYSCONFDIR]   (default /etc)
set -eu
etc=${1:-/etc}
if ! getent group smt >/dev/null; then
	groupadd --system smt
fi
if ! getent passwd smt >/dev/null; then
	useradd --system --gid smt --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --comment "SMT session daemon" smt
fi
for k in "$etc"/smt/*.key; do
	[ -e "$k" ] || continue
	case "$k" in */ca.key) continue ;; esac
	chgrp smt "$k"
	chmod 0640 "$k"
done
echo "smt-user: user and group smt ready; smtd.service runs smtd as smt"
