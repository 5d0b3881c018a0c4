#!/bin/sh
# Benchmarks inetkit-blockip (issue 4). Not a test: prints figures.
#   bench/blockip.sh     BUILD=build (default) or build/san; N connections
#                        per round (default 2000), ROUNDS rounds (default 7),
#                        ENTRIES list entries (default 1000000)
# 1. Per connection, side by side in one run under systemd-socket-activate
#    --inetd: echo alone vs blockip + echo with a 1,000,000-entry list (mixed
#    IPv4/IPv6, addresses and CIDR blocks) whose index is fresh. The rounds
#    alternate between the two so drift hits both; medians are reported.
# 2. The first connection after the list changes (atomic replace): compile.
# 3. tcpdmatch -d over the same list as hosts.deny vs blockip --check.
# Only loopback traffic.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
BIN="$TOP/${BUILD:-build}"
N=${N:-2000}
ROUNDS=${ROUNDS:-7}
ENTRIES=${ENTRIES:-1000000}
tmp=$(mktemp -d)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# The client side, in Python: "conn PORT" one timed connection (ms);
# "bench ECHO BLOCKIP_1M BLOCKIP_EMPTY N ROUNDS" alternating rounds; "wait PORT".
cat >"$tmp/client.py" <<'PYEOF'
import socket, statistics, sys, time

def one(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"hello\n")
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        b = s.recv(64)
        if not b:
            break
        got += b
    s.close()
    if got != b"hello\n":
        sys.exit("bad reply %r on port %d" % (got, port))

def rnd(port, n):
    t = time.perf_counter()
    for _ in range(n):
        one(port)
    return (time.perf_counter() - t) / n * 1e6

cmd = sys.argv[1]
if cmd == "wait":
    end = time.time() + 10
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", int(sys.argv[2])), 1).close()
            sys.exit(0)
        except OSError:
            time.sleep(0.05)
    sys.exit("port never opened")
elif cmd == "conn":
    t = time.perf_counter()
    one(int(sys.argv[2]))
    a = (time.perf_counter() - t) * 1e3
    t = time.perf_counter()
    one(int(sys.argv[2]))
    print("  first %.0f ms, next %.2f ms" % (a, (time.perf_counter() - t) * 1e3))
elif cmd == "bench":
    pe, pb, p0, n, rounds = (int(x) for x in sys.argv[2:7])
    for p in (pe, pb, p0):
        rnd(p, 50)
    e, b, z = [], [], []
    for _ in range(rounds):
        e.append(rnd(pe, n))
        b.append(rnd(pb, n))
        z.append(rnd(p0, n))
    me, mb, mz = statistics.median(e), statistics.median(b), statistics.median(z)
    show = lambda name, m, v: print("  %-34s median %7.1f us/conn (rounds: %s)" % (name, m, " ".join("%.0f" % x for x in v)))
    show("echo alone:", me, e)
    show("blockip + echo, 1,000,000 entries:", mb, b)
    show("blockip + echo, empty list:", mz, z)
    print("  RATIO blockip+echo (1M list) / echo alone = %.3f  (%.0f vs %.0f connections/s)" % (mb / me, 1e6 / mb, 1e6 / me))
    print("  of which the second exec (empty list / echo) = %.3f, the 1M-entry lookup (1M / empty) = %.3f" % (mz / me, mb / mz))
PYEOF

# The same list as tcp_wrappers' hosts.deny (netmask form for IPv4 blocks).
cat >"$tmp/hostsdeny.py" <<'PYEOF'
import ipaddress, sys
for line in open(sys.argv[1]):
    t = line.split("#")[0].strip()
    if not t:
        continue
    n = ipaddress.ip_network(t, strict=False)
    if n.version == 4:
        print("ALL: %s" % (n.network_address if n.prefixlen == 32 else "%s/%s" % (n.network_address, n.netmask)))
    else:
        print("ALL: [%s]%s" % (n.network_address, "" if n.prefixlen == 128 else "/%d" % n.prefixlen))
PYEOF

cat >"$tmp/tcpd.py" <<'PYEOF'
import subprocess, sys, time
d, blockip, lst = sys.argv[1:4]
def timeit(argv, k, want):
    t = time.perf_counter()
    for _ in range(k):
        p = subprocess.run(argv, cwd=d, capture_output=True, text=True)
        if want not in p.stdout:
            sys.exit("unexpected answer from %s: %s" % (argv[0], p.stdout + p.stderr))
    return (time.perf_counter() - t) / k * 1e3
for addr, what, tw_want in (("192.0.2.1", "listed (last line)", "access:   denied"),
                            ("127.0.0.1", "not listed", "access:   granted")):
    tw = timeit(["tcpdmatch", "-d", "in.echo", addr], 3, tw_want)
    tb = timeit([blockip, "--check", addr, lst], 30, addr)
    print("  %-19s tcpdmatch %8.1f ms   blockip --check %6.2f ms   RATIO tcpdmatch / blockip = %.0f"
          % (what, tw, tb, tw / tb))
PYEOF

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
serve() {	# serve PORT PROGRAM...: one process per connection, as inetd does
	port=$1
	shift
	systemd-socket-activate --inetd -a -l "127.0.0.1:$port" "$@" 2>>"$tmp/activate.log" &
	pids="$pids $!"
	python3 "$tmp/client.py" wait "$port"
}

echo "generating a $ENTRIES-entry list..."
python3 "$TOP/bench/gen-blocklist.py" "$ENTRIES" >"$tmp/blocked"
printf '192.0.2.0/24\n' >>"$tmp/blocked"
t0=$(date +%s%N)
"$BIN/blockip" --check 127.0.0.1 "$tmp/blocked" >/dev/null
t1=$(date +%s%N)
echo "compile: $ENTRIES entries in $(( (t1 - t0) / 1000000 )) ms (blockip --check, no index)," \
    "index $(( $(stat -c %s "$tmp/blocked.idx") / 1048576 )) MiB"

PE=$(free_port)
serve "$PE" "$BIN/echo"
PB=$(free_port)
serve "$PB" "$BIN/blockip" "$tmp/blocked" "$BIN/echo"
: >"$tmp/empty"
P0=$(free_port)
serve "$P0" "$BIN/blockip" "$tmp/empty" "$BIN/echo"

echo "per connection under systemd-socket-activate --inetd ($N connections x $ROUNDS rounds each," \
    "alternating; connect, send a line, read it back, close):"
python3 "$tmp/client.py" bench "$PE" "$PB" "$P0" "$N" "$ROUNDS"

echo "first connection after the list changes (a new file renamed over it), then the next:"
for i in 1 2 3; do
	cp "$tmp/blocked" "$tmp/blocked.new"
	printf '198.51.100.%d\n' "$i" >>"$tmp/blocked.new"
	mv "$tmp/blocked.new" "$tmp/blocked"
	python3 "$tmp/client.py" conn "$PB"
done

if command -v tcpdmatch >/dev/null 2>&1; then
	echo "one lookup, process start included: tcpdmatch -d (the list as hosts.deny," \
	    "scanned line by line) vs blockip --check (fresh index):"
	mkdir "$tmp/tcpd"
	python3 "$tmp/hostsdeny.py" "$tmp/blocked" >"$tmp/tcpd/hosts.deny"
	: >"$tmp/tcpd/hosts.allow"
	"$BIN/blockip" --check 127.0.0.1 "$tmp/blocked" >/dev/null
	python3 "$tmp/tcpd.py" "$tmp/tcpd" "$BIN/blockip" "$tmp/blocked"
else
	echo "tcpdmatch not installed (Debian package tcpd): no tcp_wrappers comparison"
fi
