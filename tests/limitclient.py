#!/usr/bin/env python3
# Loopback clients for the limits suite: logins in a row or all at once, and
# connections from many source addresses.
#
#   limitclient.py login PORT SRC USER PASS [N]
#       N logins one after another from SRC (default 1); prints one line a
#       login: "denied" (Access Denied), "welcome", "refused" (the
#       connection ended before the Login: prompt), or "other: BYTES".
#   limitclient.py burst PORT SRC USER PASS N
#       N logins at once from SRC, each sending its password only when all N
#       have their Password: prompt, so that they fail together; prints the
#       lines as login does, sorted.
#   limitclient.py sources PORT FIRST N [SKIP]
#       one connection from each of N addresses from 127.FIRST.0.1 up (the
#       first SKIP left out), in turn, each sending "x\n" and reading to
#       EOF; prints how many got "x".
import socket
import sys
import threading


def connect(port, src):
    s = socket.create_connection(("127.0.0.1", port), timeout=20, source_address=(src, 0))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until(s, want, buf=b"", also=None):
    while want not in buf and (also is None or also not in buf):
        b = s.recv(4096)
        if not b:
            break
        buf += b
    return buf


def read_all(s, buf=b""):
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            buf += b
    except OSError:
        pass
    return buf


def verdict(buf):
    if b"Access Denied" in buf:
        return "denied"
    if b"Welcome" in buf:
        return "welcome"
    if b"Login:" not in buf:
        return "refused"
    return "other: %r" % buf


def login(port, src, user, pw, barrier=None):
    s = connect(port, src)
    try:
        buf = read_until(s, b"Login: ")
        if b"Login: " not in buf:
            return verdict(buf)
        s.sendall(user.encode() + b"\n")
        buf = read_until(s, b"Password: ", buf)
        if barrier:
            barrier.wait(timeout=20)
        s.sendall(pw.encode() + b"\n")
        buf = read_until(s, b"Access Denied", buf, also=b"who quit\n")
        if b"Welcome" in buf:
            s.sendall(b"quit\n")
        return verdict(buf)
    except OSError as e:
        return "refused" if not isinstance(e, socket.timeout) else "timeout"
    finally:
        s.close()


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "login":
        src, user, pw = sys.argv[3:6]
        n = int(sys.argv[6]) if len(sys.argv) > 6 else 1
        for _ in range(n):
            print(login(port, src, user, pw), flush=True)
    elif cmd == "burst":
        src, user, pw, n = sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
        barrier = threading.Barrier(n)
        out = []

        def one():
            out.append(login(port, src, user, pw, barrier))
        ts = [threading.Thread(target=one) for _ in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        print("\n".join(sorted(out)))
    elif cmd == "sources":
        first, n, ok = int(sys.argv[3]), int(sys.argv[4]), 0
        skip = int(sys.argv[5]) if len(sys.argv) > 5 else 0
        for i in range(skip, n):
            src = "127.%d.%d.%d" % (first + i // 65024, i // 254 % 256, i % 254 + 1)
            try:
                s = connect(port, src)
                s.sendall(b"x\n")
                s.shutdown(socket.SHUT_WR)
                ok += read_all(s) == b"x\n"
                s.close()
            except OSError:
                pass
        print(ok)


main()
