# Generic helpers, loaded first by every suite (load helpers). This file holds
# what is not about one protocol or one kind of deployment:
#   - paths (TOP, BUILD, BIN), free ports (TCP or UDP), IPv6 loopback;
#   - waiting: wait_until, the one polling loop, and its named callers
#     (wait_file, wait_log, wait_count, wait_listen, wait_udp);
#   - background processes (bg, kill_bg);
#   - starting servers without a probe connection: activate (the one
#     launcher of systemd-socket-activate, in each of its modes), listen_on
#     (a program's own accept loop); wait_listen for any other server;
#   - the activator's log: child_pid, child_status, child_log, wait_exits;
#   - bytes: hex, hexf; a plain TCP client: talk.
# The domain helpers load after it, each saying what it holds:
# proto_helpers.bash (programs on pipes: feed, assert_out, dialog),
# cmdserver_helpers.bash (logins), activation_helpers.bash (installed trees,
# units, xinetd), serve.bash (loopback clients with a chosen source, HAProxy),
# deploy_helpers.bash (installed units and entries, run as they would be),
# tls_helpers.bash (a test PKI, a TLS client).
bats_load_library bats-support 2>/dev/null || load /usr/lib/bats/bats-support/load
bats_load_library bats-assert 2>/dev/null || load /usr/lib/bats/bats-assert/load

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
BUILD=${BUILD:-build}
BIN="$TOP/$BUILD"

# A free TCP port on loopback ($1: 4, the default, or 6 for ::1; $2: udp for
# a free UDP port instead), below the kernel's ephemeral range: a port from
# bind(0) is in that range, where the suites' own client connections
# (thousands, in the bursts) can take it before the server binds it.
# root_libs ROOT PROGRAM...: what a dynamically linked PROGRAM loads (a
# SANITIZE=1 build's are) copied into the new root ROOT at the same paths, so
# that it can be exec'd inside; nothing for a static one. A sanitized program
# gets leak detection off: LeakSanitizer needs /proc, which the root lacks.
root_libs() {
	local root=$1 lib
	shift
	for lib in $(ldd "$@" 2>/dev/null | grep -o '/[^ ]*\.so[^ ]*' | sort -u); do
		cp -L --parents "$lib" "$root"
		[[ $lib != */libasan.so* ]] || export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	done
	chmod -R go+rX "$root"
}

free_port() {
	python3 - "${1:-4}" "${2:-tcp}" <<'EOF'
import random, socket, sys
fam, host = (socket.AF_INET6, "::1") if sys.argv[1] == "6" else (socket.AF_INET, "127.0.0.1")
kind = socket.SOCK_DGRAM if sys.argv[2] == "udp" else socket.SOCK_STREAM
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    port = random.randrange(10000, max(lo, 10001))
    s = socket.socket(fam, kind)
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

has_ipv6_loopback() {
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null
}

# --- waiting ---------------------------------------------------------------------

# wait_until SECS MESSAGE COMMAND [ARG...]: runs COMMAND every 0.05 s until it
# succeeds, for at most SECS seconds (decimals allowed); then prints MESSAGE
# on stderr and fails. COMMAND's stderr is dropped (a condition polled before
# its file exists complains), its stdout is not. COMMAND is a command, not a
# pipeline: for a compound condition pass a function, `not COMMAND...`, or
# `eval '...'` (single-quoted, so that it is expanded at each poll).
wait_until() {
	local _wu_s=${1%.*} _wu_f='' _wu_msg=$2 _wu_end
	[[ $1 != *.* ]] || _wu_f=${1#*.}
	_wu_f=${_wu_f}000000
	_wu_end=$(( ${EPOCHREALTIME//[!0-9]/} + 10#${_wu_s:-0} * 1000000 + 10#${_wu_f:0:6} ))
	shift 2
	until "$@" 2>/dev/null; do
		if [ "${EPOCHREALTIME//[!0-9]/}" -ge "$_wu_end" ]; then
			echo "$_wu_msg" >&2
			return 1
		fi
		sleep 0.05
	done
}

# not COMMAND [ARG...]: true when COMMAND fails (a condition for wait_until).
not() {
	! "$@"
}

# wait_file FILE [SECS]: until FILE exists and is not empty (10 s).
wait_file() {
	wait_until "${2:-10}" "$1 never appeared" test -s "$1"
}

# wait_log [-F] FILE PATTERN [SECS]: until FILE has a line matching the
# extended regular expression PATTERN (with -F, holding the fixed string
# PATTERN), up to SECS seconds (10); prints FILE on failure.
wait_log() {
	local how=-E
	if [ "$1" = -F ]; then
		how=-F
		shift
	fi
	wait_until "${3:-10}" "no line matching '$2' in $1:" grep -qa "$how" -- "$2" "$1" ||
		{ cat "$1" >&2; return 1; }
}

# wait_count FILE PATTERN N [SECS]: until FILE has N lines matching the basic
# regular expression PATTERN (grep -c), up to SECS seconds (10); prints FILE
# on failure.
wait_count() {
	local f=$1 pat=$2 n=$3
	# shellcheck disable=SC2016
	wait_until "${4:-10}" "never $n x '$pat' in $f:" eval '[ "$(grep -c -- "$pat" "$f")" -ge "$n" ]' ||
		{ cat "$f" >&2; return 1; }
}

# The number of TCP sockets listening on port $1 (any address), only those of
# process $2 when given; with LISTEN_PROTO=u, of UDP sockets bound there.
listeners() {
	if [ -n "${2:-}" ]; then
		ss -Hl"${LISTEN_PROTO:-t}"np "sport = :$1" | grep -c "pid=$2,"
	else
		ss -Hl"${LISTEN_PROTO:-t}"n "sport = :$1" | wc -l
	fi
}

# wait_listen PORT [PID [N]]: until N sockets (1) listen on TCP PORT, those of
# process PID when given (and then fails at once if PID exits first), up to
# 10 s. It never connects: a probe connection would be a client of the
# program under test (a child of its own, a log record, a failed login).
wait_listen() {
	local port=$1 pid=${2:-} n=${3:-1}
	# shellcheck disable=SC2016
	wait_until 10 "nothing listens on port $port${pid:+ (process $pid)}" \
	    eval '[ "$(listeners "$port" "$pid")" -ge "$n" ] || { [ -n "$pid" ] && not kill -0 "$pid"; }' ||
		return 1
	[ -z "$pid" ] || kill -0 "$pid" 2>/dev/null ||
		{ echo "process $pid exited before listening on port $port" >&2; return 1; }
}

# wait_udp PORT [PID [N]]: wait_listen for UDP: until N sockets (1) are bound
# to UDP PORT. It never sends: a probe datagram would be served.
wait_udp() {
	LISTEN_PROTO=u wait_listen "$@"
}

# --- background processes -----------------------------------------------------------

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

# loadgen_ready: LOADGEN, the benchmark's client (bench/loadgen.c), built if need be.
loadgen_ready() {
	LOADGEN="$TOP/$BUILD/bench/loadgen"
	[ -x "$LOADGEN" ] || make -C "$TOP" -s "$BUILD/bench/loadgen" >/dev/null
}

# --- starting servers ------------------------------------------------------------

# activate MODE [--host HOST]... [-E VAR=VALUE]... PROG [ARG...]: serves PROG
# through systemd-socket-activate on a free port, as a systemd socket would:
#   inetd    Accept=yes with StandardInput=socket (--inetd -a): one process a
#            connection, the connection on fd 0 and 1
#   fds      Accept=yes (-a): one process a connection, the connection on
#            fd 3 with LISTEN_PID/LISTEN_FDS=1
#   listen   Accept=no: PROG gets the listening socket(s) on fd 3 and up, and
#            is started at the first connection
#   dgram    ListenDatagram= (--datagram): PROG gets the UDP socket(s) on fd
#            3 and up, and the activator execs it at the first datagram (PROG
#            then has the activator's PID, SPID)
#   dgram-inetd  --datagram --inetd: the UDP socket on fd 0 and 1, as inetd
#            and xinetd hand it to a "wait = yes" service, likewise
# on each HOST (127.0.0.1 by default; "::1", "::ffff:127.0.0.1"), the same
# port; -E passes VAR=VALUE to PROG. The activator's log and PROG's stderr
# go to $ACTIVATE_LOG; the activator runs under the command in the array
# ACTIVATE_WRAP, if any (one that execs it). Sets PORT and SPID (the
# activator). Returns once the activator listens on every HOST, seen in
# ss(8): no probe connection, so connection 1 is the test's own first client.
ACTIVATE_LOG=$BATS_TEST_TMPDIR/activate.log
ACTIVATE_WRAP=()
activate() {
	local mode=() hosts=() opts=() listen=() h proto=tcp
	case $1 in
	inetd) mode=(--inetd -a) ;;
	fds) mode=(-a) ;;
	listen) ;;
	dgram) mode=(--datagram) proto=udp ;;
	dgram-inetd) mode=(--datagram --inetd) proto=udp ;;
	*) echo "activate: mode $1 is not inetd, fds, listen, dgram or dgram-inetd" >&2; return 1 ;;
	esac
	shift
	while :; do
		case $1 in
		--host) hosts+=("$2"); shift 2 ;;
		-E) opts+=(-E "$2"); shift 2 ;;
		*) break ;;
		esac
	done
	[ ${#hosts[@]} -gt 0 ] || hosts=(127.0.0.1)
	case ${hosts[0]} in
	::ffff:* | *.*) PORT=$(free_port 4 "$proto") ;;
	*) PORT=$(free_port 6 "$proto") ;;
	esac || { echo "no free port" >&2; return 1; }
	for h in "${hosts[@]}"; do
		case $h in
		*:*) listen+=(-l "[$h]:$PORT") ;;
		*) listen+=(-l "$h:$PORT") ;;
		esac
	done
	bg "${ACTIVATE_WRAP[@]}" systemd-socket-activate "${mode[@]}" "${opts[@]}" "${listen[@]}" "$@" \
	    2>>"$ACTIVATE_LOG"
	SPID=${BG_PIDS##* }
	LISTEN_PROTO=${proto:0:1} wait_listen "$PORT" "$SPID" "${#hosts[@]}" ||
		{ cat "$ACTIVATE_LOG" >&2; return 1; }
}

# listen_on PROG [ARG...]: runs PROG ARGS --listen 127.0.0.1:PORT (a free
# port) --log "$LOG" --log-level 3 --user root, its own accept loop, in the
# background; sets PORT and SPID; returns once it listens (no probe
# connection). The suites run as root, and the stand-alone accept loop
# serves as root only when told so (--user root); tests/daemon.bats drops
# to other users.
listen_on() {
	PORT=$(free_port)
	bg "$@" --listen "127.0.0.1:$PORT" --log "$LOG" --log-level 3 --user root
	SPID=${BG_PIDS##* }
	wait_listen "$PORT" "$SPID"
}

# --- the activator's log ------------------------------------------------------------

# Connection N (1, the default, is the first client: activate makes no probe)
# is "Spawned ... as PID P" in $ACTIVATE_LOG, in the order the activator
# accepted them; it ends as "Child P died with code C" (for a death by
# signal, C is the signal's number). Each polls up to 10 s.

# The PID of connection $1, if it has been spawned yet.
spawned_pid() {
	sed -n 's/^Spawned .* as PID \([0-9]*\)\.*$/\1/p' "$ACTIVATE_LOG" | sed -n "${1}p"
}

# child_pid [N]: the PID of connection N, once spawned.
child_pid() {
	local n=${1:-1}
	# shellcheck disable=SC2016
	wait_until 10 "no connection $n in $ACTIVATE_LOG" eval '[ -n "$(spawned_pid "$n")" ]' ||
		return 1
	spawned_pid "$n"
}

# child_status [N]: the exit status of connection N's process, once it has exited.
child_status() {
	local pid
	pid=$(child_pid "$@") || return 1
	wait_until 10 "child $pid never died" grep -q "^Child $pid died with code " "$ACTIVATE_LOG" ||
		return 1
	sed -n "s/^Child $pid died with code \([0-9]*\).*/\1/p" "$ACTIVATE_LOG"
}

# child_log [N]: what connection N's process logged on stderr, once it has
# exited, without the "inetkit-PROG[PID]: " prefix.
child_log() {
	local pid
	child_status "$@" >/dev/null || return 1
	pid=$(child_pid "$@")
	sed -n "s/^inetkit-[a-z0-9]*\[$pid\]: //p" "$ACTIVATE_LOG"
}

# wait_exits N: until N of the activator's children have exited, whichever
# they are and however they ended.
wait_exits() {
	wait_count "$ACTIVATE_LOG" '^Child [0-9]* died with code ' "$1"
}

# --- bytes, and a client -------------------------------------------------------------

# hex [FILE]: the bytes of FILE (or of stdin) as hex, one line, no spaces.
# shellcheck disable=SC2120
hex() {
	od -An -tx1 -v "$@" | tr -d ' \n'
}

# hexf FORMAT: the bytes of printf FORMAT as hex.
hexf() {
	# shellcheck disable=SC2059,SC2119
	printf -- "$1" | hex
}

# Sends stdin to 127.0.0.1:$1 and prints the reply; extra socat address options in $2.
talk() {
	socat -t 5 -T 10 - "TCP:127.0.0.1:$1${2:+,$2}"
}
