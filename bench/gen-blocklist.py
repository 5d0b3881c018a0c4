#!/usr/bin/env python3
# Writes a block list of N entries (default 1,000,000) to stdout: a mix of
# IPv4 and IPv6 addresses and CIDR blocks (the addresses often fall inside
# the blocks, so entries nest), never covering loopback, so benchmarks and
# tests can still connect from 127.0.0.0/8 and ::1. Usage: N [SEED]
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
r = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 4)
out = ["# generated block list: %d entries\n" % n]
w = out.append
for i in range(n):
    k = i % 8
    if k < 4:                       # IPv4 address in 11.0.0.0 - 126.255.255.255
        w("%d.%d.%d.%d\n" % (r.randint(11, 126), r.getrandbits(8), r.getrandbits(8),
                             r.getrandbits(8)))
    elif k == 4:                    # IPv4 block
        p = r.choice((16, 20, 24, 28))
        a = (r.randint(11, 126) << 24 | r.getrandbits(24)) & (0xffffffff << (32 - p))
        w("%d.%d.%d.%d/%d\n" % (a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255, p))
    elif k < 7:                     # IPv6 address in 2001:: - 2a0f::
        w("%x:%x:%x:%x::%x\n" % (0x2000 | r.randint(1, 0xa0f), r.getrandbits(16),
                                 r.getrandbits(16), r.getrandbits(16), r.getrandbits(16)))
    else:                           # IPv6 block: /32, /48, /56 or /64
        g = [0x2000 | r.randint(1, 0xa0f)] + [r.getrandbits(16) for _ in range(3)]
        p = r.choice((32, 48, 56, 64))
        if p == 56:
            g[3] &= 0xff00
        w("%s::/%d\n" % (":".join("%x" % x for x in g[:(p + 15) // 16]), p))
sys.stdout.write("".join(out))
