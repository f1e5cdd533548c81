#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# One version string per build: every program's --version, libsmt's
# smt_version() and libsmt.pc agree; `make install PREFIX=/usr` after a plain
# build installs a libsmt.pc that says /usr, and a program built with
# `pkg-config --cflags --libs libsmt` against that install links and runs.
# Usage: test-version.sh BUILD_DIR
set -u
B=${1:?usage: test-version.sh BUILD_DIR}
REPORT_OK_WORD="ok  "
. "$(dirname "${BASH_SOURCE[0]}")/../lib/report.sh"

want=$(sed -n 's/^Version: //p' "$B/lib/libsmt.pc")
[ -n "$want" ] || bad pc_version "no Version: line in $B/lib/libsmt.pc"
n=0
for p in "$B"/bin/*; do
	[ -x "$p" ] || continue
	name=$(basename "$p")
	got=$("$p" --version 2>&1)
	case "$got" in
	"$name (smt) $want" | "$name (smt) $want, "*) n=$((n + 1)) ;;
	*) bad "version_$name" "'$got', want '$name (smt) $want'" ;;
	esac
done
[ "$n" -ge 6 ] && ok "version_every_program ($n programs say $want)" ||
	bad version_every_program "only $n programs checked"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if make -s --no-print-directory BUILD="$B" DESTDIR="$T" PREFIX=/usr install \
	>"$T/install.log" 2>&1; then
	pc=$T/usr/lib/pkgconfig/libsmt.pc
	if grep -qx 'prefix=/usr' "$pc"; then
		ok pc_follows_prefix
	else
		bad pc_follows_prefix "$(head -1 "$pc")"
	fi
	cat >"$T/v.c" <<'C'
#include <stdio.h>
#include <libsmt.h>
int main(void)
{
	puts(smt_version());
	return 0;
}
C
	flags=$(PKG_CONFIG_SYSROOT_DIR=$T PKG_CONFIG_PATH=$T/usr/lib/pkgconfig \
		pkg-config --cflags --libs libsmt)
	# shellcheck disable=SC2086 # flags are words
	if cc -o "$T/v" "$T/v.c" $flags 2>"$T/cc.log" &&
		[ "$(LD_LIBRARY_PATH=$T/usr/lib "$T/v")" = "$want" ]; then
		ok pkg_config_app_links_and_runs
	else
		bad pkg_config_app_links_and_runs "flags '$flags': $(head -3 "$T/cc.log")"
	fi
else
	bad install_destdir "$(tail -3 "$T/install.log")"
fi
# put the build's own libsmt.pc back to the default prefix
make -s --no-print-directory BUILD="$B" "$B/lib/libsmt.pc" >/dev/null

echo "test-version: $fail failed"
[ "$fail" -eq 0 ]
