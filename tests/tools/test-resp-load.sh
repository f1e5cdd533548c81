#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# smt-resp-load against a real redis-server started here (a Unix socket in
# a temporary directory, TCP and TLS on free loopback ports): requests and
# replies counted right (against Redis's own INFO commandstats), GET values
# checked (a changed value is "bad", a missing key "nil"), -ERR replies
# counted as errors, the rate kept, latency timed from the schedule (Redis
# paused by DEBUG SLEEP: the requests scheduled behind the pause carry it,
# and those held by the per-connection cap count as late), a lost
# connection reported with exit status 1, bad arguments refused with
# exit status 2 and a message. make test-proxy runs it.
# Usage: test-resp-load.sh SMT_RESP_LOAD
set -u
BIN=${1:?usage: test-resp-load.sh SMT_RESP_LOAD}
REPORT_OK_WORD="ok  "
. "$(dirname "${BASH_SOURCE[0]}")/../lib/report.sh"

for b in redis-server redis-cli python3 openssl; do
	command -v $b >/dev/null || {
		echo "test-resp-load: $b missing (scripts/setup-deps.sh)" >&2
		exit 1
	}
done
T=$(mktemp -d)
RPID=""
cleanup() {
	[ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
read -r PORT TPORT <<<"$(python3 -c 'import socket
s, t = socket.socket(), socket.socket()
s.bind(("127.0.0.1", 0)); t.bind(("127.0.0.1", 0))
print(s.getsockname()[1], t.getsockname()[1])')"
SOCK=$T/redis.sock
# a self-signed certificate for kv.smt (the TLS checks' CA as well)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=kv.smt -addext subjectAltName=DNS:kv.smt -keyout "$T/kv.key" \
	-out "$T/kv.crt" >/dev/null 2>&1 || {
	echo "test-resp-load: openssl req could not make a certificate" >&2
	exit 1
}
redis-server --port "$PORT" --bind 127.0.0.1 --unixsocket "$SOCK" --save '' \
	--appendonly no --enable-debug-command yes --tls-port "$TPORT" \
	--tls-cert-file "$T/kv.crt" --tls-key-file "$T/kv.key" \
	--tls-ca-cert-file "$T/kv.crt" --tls-auth-clients no >"$T/redis.log" 2>&1 &
RPID=$!
for i in $(seq 50); do
	redis-cli -s "$SOCK" ping >/dev/null 2>&1 && break
	sleep 0.1
done
rc() { redis-cli -s "$SOCK" "$@"; }
rc ping >/dev/null || {
	echo "test-resp-load: redis-server did not start: $(tail -3 "$T/redis.log")" >&2
	exit 1
}

# run OUT ARGS...: the tool's line into $T/OUT, its stderr into $T/OUT.err,
# exit status into $RC
run() {
	local out=$1
	shift
	"$BIN" "$@" >"$T/$out" 2>"$T/$out.err"
	RC=$?
}
# field OUT KEY: the value of KEY= in the tool's line
field() { tr ' ' '\n' <"$T/$1" | sed -n "s/^$2=//p"; }
# want NAME OUT "KEY=V KEY=V ...": every KEY equals V in the line, exit 0
want() {
	local name=$1 out=$2 kv got miss=""
	for kv in $3; do
		got=$(field "$out" "${kv%%=*}")
		[ "$got" = "${kv#*=}" ] || miss="$miss ${kv%%=*}=${got:-?} (want ${kv#*=})"
	done
	[ "$RC" = 0 ] || miss="$miss exit $RC"
	if [ -z "$miss" ]; then
		ok "$name"
	else
		bad "$name" "$miss; $(cat "$T/$out.err" | head -2)"
	fi
}
# calls CMD: calls of Redis command CMD since the last CONFIG RESETSTAT
calls() { rc info commandstats | tr -d '\r' | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p"; }

# ---- counting against Redis's own count ----------------------------------
rc config resetstat >/dev/null
run get -s "$SOCK" -c 4 -r 2000 -n 600 -w 0.2 --keys 50
want get_counts get "op=GET sched=600 sent=600 answered=600 unanswered=0 errors=0 bad=0 nil=0 closed=0"
w=$(field get warmup)
if [ "$(calls get)" = $((w + 600)) ] && [ "$(calls set)" = 50 ]; then
	ok get_counts_match_redis
else
	bad get_counts_match_redis "Redis saw $(calls get) GETs and $(calls set) SETs; the tool sent $w + 600 GETs after 50 SETs (the fill)"
fi

rc flushall >/dev/null
run set -H "127.0.0.1:$PORT" -t set -d 100 -c 3 -r 1000 -n 300 -w 0.1 --keys 20
want set_counts_tcp set "op=SET sched=300 sent=300 answered=300 errors=0 bad=0 closed=0"
if [ "$(rc strlen key:000000000007)" = 100 ] && [ "$(rc dbsize)" = 20 ]; then
	ok set_values_stored
else
	bad set_values_stored "strlen $(rc strlen key:000000000007), dbsize $(rc dbsize)"
fi
# what the SETs wrote is what a GET without its own fill checks
run getback -s "$SOCK" -d 100 -c 2 -r 1000 -n 200 -w 0 --keys 20 --no-fill
want get_checks_set_values getback "answered=200 bad=0 nil=0 errors=0"

# over TLS: values larger than one TLS record, every one checked
run tls -H "127.0.0.1:$TPORT" --tls --cacert "$T/kv.crt" --sni kv.smt \
	-d 40K --keys 20 -c 4 -r 1000 -n 400 -w 0.1
want tls_get_checked tls "op=GET sched=400 answered=400 errors=0 bad=0 nil=0 closed=0"
run tlsname -H "127.0.0.1:$TPORT" --tls --cacert "$T/kv.crt" --sni other.smt -r 10 -D 1
if [ "$RC" = 1 ] && grep -q 'TLS handshake with .* failed: certificate verify failed' "$T/tlsname.err"; then
	ok tls_wrong_name_refused
else
	bad tls_wrong_name_refused "exit $RC: $(head -2 "$T/tlsname.err")"
fi

# ---- replies checked ----------------------------------------------------------
rc set key:000000000000 xyz >/dev/null
run changed -s "$SOCK" -c 1 -r 1000 -n 50 -w 0 --keys 1 --no-fill
want get_wrong_value_is_bad changed "answered=50 bad=50 nil=0 errors=0"
rc del key:000000000000 >/dev/null
run missing -s "$SOCK" -c 1 -r 1000 -n 50 -w 0 --keys 1 --no-fill
want get_missing_key_is_nil missing "answered=50 bad=0 nil=50 errors=0"
# Redis refuses every SET past maxmemory (-OOM ...): errors, still answered
rc config set maxmemory 1 >/dev/null
run oom -s "$SOCK" -t set -c 2 -r 1000 -n 100 -w 0
rc config set maxmemory 0 >/dev/null
want err_replies_are_errors oom "answered=100 errors=100 bad=0"

# ---- the schedule ---------------------------------------------------------------
run rate -s "$SOCK" -c 1 -r 1000 -D 2 -w 0.2
a=$(field rate achieved)
if [ "$(field rate sched)" = 2000 ] && awk -v a="${a:-0}" 'BEGIN { exit !(a > 950 && a < 1050) }'; then
	ok rate_kept "$a req/s"
else
	bad rate_kept "sched $(field rate sched), achieved ${a:-?} req/s, want 2000 at about 1000/s"
fi
run poisson -s "$SOCK" -c 8 -r 2000 -D 2 -w 0.2 --poisson
a=$(field poisson achieved)
if awk -v a="${a:-0}" 'BEGIN { exit !(a > 1800 && a < 2200) }' &&
	[ "$(field poisson unanswered)" = 0 ]; then
	ok poisson_rate "$a req/s"
else
	bad poisson_rate "achieved ${a:-?} req/s, want about 2000"
fi

# Redis stops for 300 ms in the middle of the counted window. 2 connections,
# one request outstanding on each, 200 req/s: about 60 requests are
# scheduled during the pause and each is timed from its schedule, the first
# about 300 ms, so p99 (the 6th slowest of 600) is over 150 ms and max near
# 300; a generator timing from its send would see 2 slow requests.
(sleep 1.5 && rc debug sleep 0.3 >/dev/null) &
bgp=$!
run pause -s "$SOCK" -c 2 -r 200 -D 3 -w 0.5 -P 1
wait $bgp
p99=$(field pause p99_ms) max=$(field pause max_ms) late=$(field pause late)
if awk -v p="${p99:-0}" -v m="${max:-0}" -v l="${late:-0}" \
	'BEGIN { exit !(p >= 150 && m >= 250 && l >= 20) }' &&
	[ "$(field pause unanswered)" = 0 ]; then
	ok latency_from_schedule "p99 $p99 ms, max $max ms, $late late"
else
	bad latency_from_schedule "p99 ${p99:-?} ms, max ${max:-?} ms, late ${late:-?}: want p99 >= 150, max >= 250, late >= 20; $(cat "$T/pause")"
fi

# ---- a lost connection ---------------------------------------------------------------
(sleep 1 && rc client kill type normal skipme yes >/dev/null) &
bgp=$!
run killed -s "$SOCK" -c 4 -r 500 -D 3 -w 0
wait $bgp
if [ "$RC" = 1 ] && grep -q 'connection .*: the server closed it' "$T/killed.err" &&
	grep -q 'every connection was lost' "$T/killed.err" &&
	[ "$(field killed closed)" = 4 ]; then
	ok lost_connections_reported
else
	bad lost_connections_reported "exit $RC, closed=$(field killed closed): $(head -2 "$T/killed.err")"
fi
run refused -s "$T/nothing.sock" -r 10 -D 1
if [ "$RC" = 1 ] && grep -q "cannot connect to $T/nothing.sock" "$T/refused.err"; then
	ok connect_refused
else
	bad connect_refused "exit $RC: $(head -2 "$T/refused.err")"
fi

# ---- bad arguments: exit status 2 and what is wrong ----------------------------
# refused NAME PATTERN ARGS...
refused() {
	local name=$1 pat=$2 out rc
	shift 2
	out=$("$BIN" "$@" 2>&1)
	rc=$?
	if [ $rc = 2 ] && printf '%s' "$out" | grep -Eq -- "$pat"; then
		ok "$name"
	else
		bad "$name" "exit $rc: $(printf '%s' "$out" | head -2)"
	fi
}
refused no_server 'one of --host ADDR:PORT or --unix PATH' -r 10
refused two_servers 'one of --host ADDR:PORT or --unix PATH' -s "$SOCK" -H 127.0.0.1:1
refused bad_host '^smt-resp-load: --host: ' -H nohost
refused rate_zero '^smt-resp-load: --rate: ' -s "$SOCK" -r 0
refused bad_op "--op: 'del' is not get or set" -s "$SOCK" -t del
refused size_too_big '^smt-resp-load: --size: .*at most 1M' -s "$SOCK" -d 2M
refused bad_duration "--duration: 'x' is not a number of seconds" -s "$SOCK" -D x
refused duration_and_requests '--duration and --requests: give one' -s "$SOCK" -D 1 -n 10
refused conns_zero '^smt-resp-load: --conns: ' -s "$SOCK" -c 0
refused operand "unexpected argument 'extra'" -s "$SOCK" extra
refused sni_without_tls '--cacert and --sni need --tls' -s "$SOCK" --sni kv.smt

echo "test-resp-load: $pass passed, $fail failed${FAILED:+:$FAILED}"
[ "$fail" = 0 ]
