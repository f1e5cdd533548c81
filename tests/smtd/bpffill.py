#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
#
# Fill a pinned BPF hash map (the sessions map of tests/smtd/run.sh) with
# made-up entries until the kernel refuses (E2BIG: full). Prints how many
# were added. Usage: bpffill.py PIN KEY_SIZE VALUE_SIZE
import ctypes
import errno
import os
import platform
import struct
import sys

NR_BPF = {"x86_64": 321, "aarch64": 280}[platform.machine()]
BPF_MAP_UPDATE_ELEM, BPF_OBJ_GET = 2, 7
libc = ctypes.CDLL(None, use_errno=True)


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    r = libc.syscall(NR_BPF, cmd, buf, 128)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


path = ctypes.create_string_buffer(sys.argv[1].encode())
ksize, vsize = int(sys.argv[2]), int(sys.argv[3])
fd = bpf(BPF_OBJ_GET, struct.pack("QII", ctypes.addressof(path), 0, 0))
val = ctypes.create_string_buffer(vsize)
n = 0
for i in range(1 << 20):
    # peer 10.200.x.y port 1, local port 1: no real session looks like it
    k = bytes([10, 200, (i >> 8) & 255, i & 255]) + bytes(12)
    k += bytes([4, 0]) + struct.pack(">HH", 1, 1 + (i >> 16))
    key = ctypes.create_string_buffer(k.ljust(ksize, b"\0"), ksize)
    try:
        bpf(BPF_MAP_UPDATE_ELEM,
            struct.pack("IIQQQ", fd, 0, ctypes.addressof(key),
                        ctypes.addressof(val), 0))
    except OSError as e:
        if e.errno == errno.E2BIG:
            break
        raise
    n += 1
print(n)
