#!/usr/bin/env python3
# Backends for tests/relay.bats that inetkit echo cannot play, each a real
# server on loopback (or a UNIX socket) that logs what happened to it.
#
#   relay_backend.py ADDR MODE LOG
#
# ADDR is 127.0.0.1:PORT or unix:PATH. LOG gets one line per event:
# "accept", "ping" (a connection's first bytes were PING\n), "close". MODE:
#   echo     answers PING\n with PONG\n (once, first), then echoes to EOF
#   silent   accepts and never answers, nor closes
#   wrong    answers PING\n with NOPE\n, then echoes
#   banner   answers PING\n with PONG\n and hello\n in one write, then echoes
#   die      echoes the first read, then resets the connection (RST)
#   rst      echo, but every connection is reset (RST), not closed, when
#            the backend is killed
#   stale    echo, but a ping that comes over 1 s after its connection was
#            accepted is never answered (a kept connection gone stale
#            without being closed)
#   backlog  listens with a backlog of 0 and never accepts: the kernel's
#            queue fills and a connect then waits (the test fills it)
# It prints "ready" on stdout once it listens, and runs until killed.
import os
import socket
import struct
import sys
import threading
import time

addr, mode, logpath = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock()


def log(what):
    with lock, open(logpath, "a") as f:
        f.write(what + "\n")


def serve(c):
    accepted = time.monotonic()
    log("accept")
    if mode == "rst":
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if mode == "silent":
        while c.recv(65536):
            pass
        log("close")
        return
    first = True
    while True:
        try:
            b = c.recv(65536)
        except OSError:
            break
        if not b:
            break
        if first and b == b"PING\n" and mode == "stale" and time.monotonic() - accepted > 1:
            log("stale-ping")
            first = False
            continue
        if first and b == b"PING\n":
            log("ping")
            c.sendall({"wrong": b"NOPE\n", "banner": b"PONG\nhello\n"}.get(mode, b"PONG\n"))
            first = False
            continue
        first = False
        c.sendall(b)
        if mode == "die":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            break
    try:
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    c.close()
    log("close")


if addr.startswith("unix:"):
    path = addr[5:]
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
else:
    host, port = addr.rsplit(":", 1)
    s = socket.socket(socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
s.listen(0 if mode == "backlog" else 64)
print("ready", flush=True)
if mode == "backlog":
    threading.Event().wait()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
