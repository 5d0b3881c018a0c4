#!/usr/bin/env python3
# A loopback UDP test client: sends datagrams one at a time and prints, for
# each, the reply it got (or that none came). For tests/udp.bats.
#
#   udpclient.py [--bind ADDR[:PORT]] [--wait SECS] [--gap SECS] [--broadcast]
#                HOST PORT ITEM...
#
# --bind: the source address (and port: 7 needs root) to send from; IPv6 in
# brackets, [::1]:7. --wait: how long to wait for each reply (1 s). --gap: a
# pause before each datagram after the first (0). --broadcast: SO_BROADCAST,
# to send to a broadcast address. HOST is the address the datagrams are sent
# to. Each ITEM is one datagram:
#   size=N        N bytes, byte i being i mod 251 (a pattern no shift of 256 repeats)
#   allbytes      the 256 byte values, 0 to 255
#   hex=HEX       these bytes (hex=  is the empty datagram)
#   text=TEXT     these bytes, with Python escapes (\r \n \x00 ...)
#   N*ITEM        ITEM sent N times
# Output, one line per datagram sent:
#   reply LEN exact from ADDR PORT    the reply is the datagram's own bytes
#   reply LEN other from ADDR PORT    a reply, not those bytes
#   none                              no reply within --wait
# Exit 0; 2 for a usage error.
import socket
import sys
import time


def payload(item):
    if item == "allbytes":
        return bytes(range(256))
    if item.startswith("size="):
        return bytes(i % 251 for i in range(int(item[5:])))
    if item.startswith("hex="):
        return bytes.fromhex(item[4:])
    if item.startswith("text="):
        return item[5:].encode("latin-1").decode("unicode_escape").encode("latin-1")
    sys.exit("udpclient: bad item %r" % item)


def hostport(spec):
    if spec.startswith("["):
        host, _, port = spec[1:].partition("]")
        port = port[1:]
    elif spec.count(":") == 1:
        host, _, port = spec.partition(":")
    else:
        host, port = spec, ""
    return host, int(port) if port else 0


def main():
    args = sys.argv[1:]
    bind, wait, gap, bcast = None, 1.0, 0.0, False
    while args and args[0].startswith("--"):
        if args[0] == "--broadcast":
            bcast = True
            args = args[1:]
            continue
        if args[0] == "--bind":
            bind = hostport(args[1])
        elif args[0] == "--wait":
            wait = float(args[1])
        elif args[0] == "--gap":
            gap = float(args[1])
        else:
            sys.exit(2)
        args = args[2:]
    if len(args) < 3:
        sys.exit(2)
    host, port = args[0], int(args[1])
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if bcast:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    if bind:
        s.bind(bind)
    s.settimeout(wait)
    first = True
    for item in args[2:]:
        n = 1
        if "*" in item.split("=", 1)[0]:
            count, item = item.split("*", 1)
            n = int(count)
        data = payload(item)
        for _ in range(n):
            if gap and not first:
                time.sleep(gap)
            first = False
            s.sendto(data, (host, port))
            try:
                got, src = s.recvfrom(70000)
            except socket.timeout:
                print("none", flush=True)
                continue
            print("reply %d %s from %s %d" % (len(got), "exact" if got == data else "other",
                                              src[0], src[1]), flush=True)


main()
