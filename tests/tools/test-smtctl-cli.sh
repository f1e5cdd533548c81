#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# smtctl's command line without smtd or BPF: options after the object and
# the verb (as bpftool takes them), -h at every level, ambiguous prefixes
# that name their candidates, size suffixes in `mtp config max`, and the
# bash completion script against this binary.
# Usage: test-smtctl-cli.sh SMTCTL
set -u
C=${1:?usage: test-smtctl-cli.sh SMTCTL}
C=$(realpath "$C")
REPORT_OK_WORD="ok  "
. "$(dirname "${BASH_SOURCE[0]}")/../lib/report.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
S=$T/none.sock # no smtd there: requests fail, with -j as JSON

expect json_after_verb '^\{"error":"cannot connect to smtd at .*none.sock' \
	"$C" session list -j -s "$S"
expect json_before_object '^\{"error":"cannot connect to smtd at ' \
	"$C" -j -s "$S" session list
expect help_after_object '^Usage: smtctl \[OPTIONS\] session' "$C" session -h
expect help_after_verb '^Usage: smtctl session list' "$C" session list -h
expect help_alone '^OBJECT := \{' "$C" -h
# (no object has two commands that share a prefix today; the command
# error goes through the same candidates() list)
expect ambiguous_object_names_candidates \
	"object 's' is ambiguous \(service, session, stats\)" "$C" s
expect ambiguous_object_json '^\{"error":"object .se. is ambiguous \(service, session\)' \
	"$C" se -j
expect proxy_show_no_socket_json '^\{"error":"proxy: cannot connect to .*/nope.sock: No such file' \
	"$C" -j proxy show "$T/nope.sock"
expect proxy_show_name_in_dir 'cannot connect to '"$T"'/smt-proxy-web.sock' \
	env SMT_PROXY_DIR="$T" "$C" proxy show web
expect mtp_max_size_suffix_rejected "max: '1Q' is not a size" \
	"$C" mtp config max 1Q
expect mtp_max_too_large "max: .8G. is more than the limit 4294967295" "$C" mtp config max 8G

# completion, through bash's own machinery
comp() { # WORDS...: prints COMPREPLY for the last word
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
		_smtctl; printf "%s\n" "${COMPREPLY[@]}"' _ \
		scripts/smtctl.bash-completion "$@"
}
PATH=$(dirname "$C"):$PATH
got=$(comp smtctl se | sort | tr '\n' ' ')
[ "$got" = "service session " ] && ok completion_objects ||
	bad completion_objects "'$got'"
got=$(comp smtctl -j prog a | tr '\n' ' ')
[ "$got" = "attach " ] && ok completion_commands_after_option ||
	bad completion_commands_after_option "'$got'"
got=$(comp smtctl --ve | tr '\n' ' ')
[ "$got" = "--version " ] && ok completion_options ||
	bad completion_options "'$got'"

: >"$T/smt-proxy-redis.sock"
: >"$T/smt-proxy-web.sock"
got=$(SMT_PROXY_DIR=$T comp smtctl proxy show r | tr '\n' ' ')
[ "$got" = "redis " ] && ok completion_proxy_names ||
	bad completion_proxy_names "'$got'"

echo "test-smtctl-cli: $fail failed"
[ "$fail" -eq 0 ]
