#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Test certificates for smtd (tests and demo), made with the openssl CLI.
# Usage: scripts/mkcerts.sh DIR NAME...
#   DIR/ca.crt ca.key          test CA (kept when it exists already)
#   DIR/$CERT.crt $CERT.key    host certificate, SAN DNS = every NAME
#                              (CERT defaults to "host"; run again with
#                              CERT=other-host for a second host)
#   DIR/expired.crt .key       same names, valid only in 2020 (expired)
#   DIR/other-ca.crt .key      a second, unrelated CA
#   DIR/other.crt .key         same names, signed by the second CA
# Keys are EC P-256. Never use these outside tests.
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 DIR NAME..." >&2
	exit 2
fi
dir=$1
shift
cert=${CERT:-host}
mkdir -p "$dir"
cd "$dir"

san=""
for n in "$@"; do
	san="${san:+$san,}DNS:$n"
done
cn=$1

newkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1" 2>/dev/null
	chmod 600 "$1"
}

mkca() { # NAME SUBJECT
	[ -s "$1.crt" ] && [ -s "$1.key" ] && return 0
	newkey "$1.key"
	openssl req -x509 -new -key "$1.key" -subj "$2" -days 3650 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$1.crt"
}

ext=$(mktemp)
trap 'rm -f "$ext"' EXIT
cat >"$ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$san
EOF

leaf() { # OUT CA
	newkey "$1.key"
	openssl req -new -key "$1.key" -subj "/CN=$cn" -out "$1.csr"
	openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" \
		-CAcreateserial -days 825 -extfile "$ext" -out "$1.crt" \
		2>/dev/null
	rm -f "$1.csr"
}

mkca ca "/CN=smt test CA"
mkca other-ca "/CN=smt other test CA"
leaf "$cert" ca
leaf other other-ca

# An expired certificate needs explicit dates: `openssl ca` takes them.
newkey expired.key
openssl req -new -key expired.key -subj "/CN=$cn" -out expired.csr
db=$(mktemp -d)
: >"$db/index.txt"
echo 01 >"$db/serial"
cat >"$db/ca.cnf" <<EOF
[ca]
default_ca = c
[c]
database = $db/index.txt
serial = $db/serial
new_certs_dir = $db
default_md = sha256
policy = p
copy_extensions = none
[p]
commonName = supplied
[x]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$san
EOF
openssl ca -batch -config "$db/ca.cnf" -cert ca.crt -keyfile ca.key \
	-startdate 20200101000000Z -enddate 20200102000000Z -extensions x \
	-in expired.csr -out expired.crt -notext 2>/dev/null
rm -rf "$db" expired.csr
echo "certificates for $* in $(pwd): ca.crt $cert.crt expired.crt other.crt"
