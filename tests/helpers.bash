# Shared helpers for the bats suites. Load with: load helpers
bats_load_library bats-support 2>/dev/null || load /usr/lib/bats/bats-support/load
bats_load_library bats-assert 2>/dev/null || load /usr/lib/bats/bats-assert/load

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
BUILD=${BUILD:-build}
BIN="$TOP/$BUILD"

# A free TCP port on loopback ($1: 4, the default, or 6 for ::1), below the
# kernel's ephemeral range: a port from bind(0) is in that range, where the
# suites' own client connections (thousands, in the bursts) can take it
# before the server binds it.
free_port() {
	python3 - "${1:-4}" <<'EOF'
import random, socket, sys
fam, host = (socket.AF_INET6, "::1") if sys.argv[1] == "6" else (socket.AF_INET, "127.0.0.1")
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    port = random.randrange(10000, max(lo, 10001))
    s = socket.socket(fam)
    try:
        s.bind((host, port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    sys.exit(0)
sys.exit(1)
EOF
}

# Polls until host:port accepts connections, up to $2 seconds (default 10).
wait_port() {
	local port=$1 deadline=$((SECONDS + ${2:-10}))
	while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || { echo "port $port never opened" >&2; return 1; }
		sleep 0.05
	done
}

# Polls until the file exists and is non-empty, up to $2 seconds.
wait_file() {
	local f=$1 deadline=$((SECONDS + ${2:-10}))
	while [ ! -s "$f" ]; do
		[ "$SECONDS" -lt "$deadline" ] || { echo "$f never appeared" >&2; return 1; }
		sleep 0.05
	done
}

# Runs a command in the background and remembers it for teardown.
bg() {
	"$@" &
	BG_PIDS="${BG_PIDS:-} $!"
}

kill_bg() {
	local p
	for p in ${BG_PIDS:-}; do
		kill "$p" 2>/dev/null || true
	done
	for p in ${BG_PIDS:-}; do
		wait "$p" 2>/dev/null || true
	done
	BG_PIDS=
}

# Serves "$@" on a free loopback port through systemd-socket-activate
# (inetd fd passing, one process per connection); sets PORT.
activate_inetd() {
	PORT=$(free_port)
	bg systemd-socket-activate --inetd -a -l "127.0.0.1:$PORT" "$@" 2>>"$BATS_TEST_TMPDIR/activate.log"
	wait_port "$PORT"
}

# Sends stdin to 127.0.0.1:$1 and prints the reply; extra socat address options in $2.
talk() {
	socat -t 5 -T 10 - "TCP:127.0.0.1:$1${2:+,$2}"
}
