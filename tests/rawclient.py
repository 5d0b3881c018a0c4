#!/usr/bin/env python3
# A loopback test client that sends exact bytes, in pieces, then prints what
# the server sent back until it closes. For the PROXY protocol suites.
#
#   rawclient.py HOST PORT SRC ITEM...
#
# SRC is the local address to bind ("" for any). Each ITEM is sent as its own
# write, in order:
#   TEXT                  bytes, with Python escapes (\r \n \x00 ...)
#   @sleep=SECS           pause between pieces
#   @v2=SRC,DST,SP,DP     a PROXY v2 PROXY-command header (IPv4 or IPv6), then
#      [,TLVBYTES]        optionally TLVBYTES bytes of a NOOP TLV
#   @v2local              a PROXY v2 LOCAL-command header
#   @v2raw=HEX            any bytes given in hex
#   @hold                 do not half-close at the end (the server must end it)
# After the last item the client half-closes and reads to EOF, 10 s at most.
# Output: the reply bytes on stdout; exit 0 (a reset counts as an end).
import ipaddress
import socket
import struct
import sys
import time

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(spec):
    parts = spec.split(",")
    src, dst = ipaddress.ip_address(parts[0]), ipaddress.ip_address(parts[1])
    sp, dp = int(parts[2]), int(parts[3])
    tlv = int(parts[4]) if len(parts) > 4 else 0
    body = src.packed + dst.packed + struct.pack("!HH", sp, dp)
    fam = 0x11 if src.version == 4 else 0x21
    if tlv:
        body += struct.pack("!BH", 0x04, tlv - 3) + b"\x00" * (tlv - 3)   # PP2_TYPE_NOOP
    return SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def main():
    host, port, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if src:
        s.bind((src, 0))
    s.settimeout(10)
    s.connect((host, port))
    hold = False
    try:
        for item in sys.argv[4:]:
            if item.startswith("@sleep="):
                time.sleep(float(item[7:]))
            elif item == "@hold":
                hold = True
            elif item.startswith("@v2="):
                s.sendall(v2(item[4:]))
            elif item == "@v2local":
                s.sendall(SIG + bytes([0x20, 0x00, 0, 0]))
            elif item.startswith("@v2raw="):
                s.sendall(bytes.fromhex(item[7:]))
            else:
                s.sendall(item.encode("latin-1").decode("unicode_escape").encode("latin-1"))
        if not hold:
            s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except OSError:
        pass
    sys.stdout.buffer.write(out)


main()
