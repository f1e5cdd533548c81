#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""A replaying man in the middle for test-smtd (docs/protocol.md 6.4):
forwards one TCP connection from 127.0.0.1:LPORT to HOST:PORT, recording
the client's bytes sent before the server's first answer (the ClientHello
and its early data), then sends those bytes again on a new connection to
the server, as an attacker with a capture would, and prints what the
server answered."""
import select
import socket
import sys
import time

lport, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport))
ls.listen(1)
print("replay_proxy: listening", flush=True)
c, _ = ls.accept()
s = socket.create_connection((host, port))
first, answered, done = b"", False, False
while not done:
    r, _, _ = select.select([c, s], [], [], 5)
    if not r:
        break
    for x in r:
        d = x.recv(65536)
        if not d:
            done = True
            break
        if x is c:
            if not answered:
                first += d
            s.sendall(d)
        else:
            answered = True
            c.sendall(d)
c.close()
s.close()
time.sleep(0.2)
s = socket.create_connection((host, port))
s.sendall(first)
s.settimeout(2)
got = 0
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += len(d)
except (socket.timeout, ConnectionResetError):
    pass
s.close()
print("replay_proxy: replayed %d bytes, the server answered %d bytes" %
      (len(first), got), flush=True)
