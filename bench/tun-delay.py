#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/tun-delay.py TUN MS: a link of MS milliseconds each way, for make bench's pool rows.

Meant for a network namespace of the benchmark's own (unshare -n), never the machine's. Every
IPv4 packet the kernel routes to TUN (a tun device made with "ip tuntap") is handed back to it
MS ms later with its source and destination addresses swapped, which leaves the IP and TCP
checksums as they were (a one's complement sum does not care in which order the two addresses
are added). So a connect from A, TUN's own address, to B, another address of its network,
reaches a socket listening on A as if from B, and every packet each way waits MS ms: a backend
one round trip of 2 * MS away, its TCP handshake included, which the kernel completes at once
on loopback whatever the server does (and this kernel has no netem qdisc).
"""
import fcntl
import heapq
import os
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

name, delay = sys.argv[1], float(sys.argv[2]) / 1000
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
due = []    # (when, sequence, packet): in order of arrival, as a link keeps them
seq = 0
while True:
    wait = max(0.0, due[0][0] - time.monotonic()) if due else None
    if select.select([tun], [], [], wait)[0]:
        p = os.read(tun, 65536)
        if len(p) >= 20 and p[0] >> 4 == 4:
            heapq.heappush(due, (time.monotonic() + delay, seq, p[:12] + p[16:20] + p[12:16] + p[20:]))
            seq += 1
    now = time.monotonic()
    while due and due[0][0] <= now:
        os.write(tun, heapq.heappop(due)[2])
