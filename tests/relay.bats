#!/usr/bin/env bats
# inetkit-relay: the client relayed to a backend, with real backends only:
# inetkit echo in its accept loop (also behind --proxy-protocol), and
# tests/relay_backend.py for what echo cannot be (a backend that answers
# the ping, never answers, answers wrong, dies mid-session, or never
# accepts), on TCP and on a UNIX socket; real activators and the relay's
# own accept loop. Closed ports are found free on loopback.

# shellcheck disable=SC2030,SC2031
load helpers
load serve
bats_require_minimum_version 1.5.0

setup() {
	LOG=$ACTIVATE_LOG
	: >"$LOG"
	OUT=$BATS_TEST_TMPDIR/out
	PYBACKEND=$TOP/tests/relay_backend.py
}

teardown() {
	kill_bg
	if grep -qaE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG" "$BATS_TEST_TMPDIR"/*.log \
	    2>/dev/null; then
		grep -haE -A4 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG" \
		    "$BATS_TEST_TMPDIR"/*.log | head -20 >&2
		return 1
	fi
}

# echo_backend NAME [ARG...]: inetkit echo (RFC 862: until EOF) in its accept
# loop on a free port, its log in $BATS_TEST_TMPDIR/NAME.log; sets NAME to the port.
echo_backend() {
	local name=$1 port
	shift
	port=$(free_port)
	bg "$BIN/echo" --rfc862 --listen "127.0.0.1:$port" --user root --log-level 3 \
	    --log "$BATS_TEST_TMPDIR/$name.log" "$@"
	wait_listen "$port" "${BG_PIDS##* }"
	printf -v "$name" %s "$port"
}

# py_backend NAME MODE [ADDR]: relay_backend.py in MODE on a free port (or
# ADDR), its events in $BATS_TEST_TMPDIR/NAME.log; sets NAME to the port and
# NAME_PID to its process.
py_backend() {
	local name=$1 mode=$2 port addr
	port=$(free_port)
	addr=${3:-127.0.0.1:$port}
	: >"$BATS_TEST_TMPDIR/$name.log"
	bg python3 "$PYBACKEND" "$addr" "$mode" "$BATS_TEST_TMPDIR/$name.log" >/dev/null
	case $addr in
	unix:*) wait_until 10 "no socket ${addr#unix:}" test -S "${addr#unix:}" ;;
	*) wait_listen "$port" "${BG_PIDS##* }" ;;
	esac
	printf -v "$name" %s "$port"
	printf -v "${name}_PID" %s "${BG_PIDS##* }"
}

# relay_loop [OPTION...] BACKEND...: the relay's own accept loop on a free port
# (PORT, SPID), its log and its stderr (a sanitizer's report) in $LOG.
relay_loop() {
	PORT=$(free_port)
	bg "$BIN/relay" --listen "127.0.0.1:$PORT" --user root --log "$LOG" --log-level 4 "$@" 2>>"$LOG"
	SPID=${BG_PIDS##* }
	wait_listen "$PORT" "$SPID"
}

# The relay's connection records (served, failed, refused), in order.
records() {
	grep -aE 'inetkit-relay\[[0-9]+\]: [a-z]+: (served|failed|refused) ' "$LOG"
}

# nth_record N: the Nth record, once it is written.
nth_record() {
	wait_count "$LOG" 'inetkit-relay\[[0-9]*\]: [a-z]*: \(served\|failed\|refused\) ' "$1" >/dev/null &&
		records | sed -n "${1}p"
}

# count FILE WORD: lines of FILE that are WORD.
count() {
	grep -cx "$2" "$1" || true
}

# closed_port NAME: a port nothing listens on, held so for the test (bound,
# never listening: a connect is refused, and no other process can take it);
# sets NAME to it and NAME_PID to the holder.
closed_port() {
	local f=$BATS_TEST_TMPDIR/closed.$1
	python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0))
open(sys.argv[1], "w").write("%d" % s.getsockname()[1]); time.sleep(600)' "$f" </dev/null \
	    >/dev/null 2>&1 3>&- &
	BG_PIDS="${BG_PIDS:-} $!"
	printf -v "$1_PID" %s "$!"
	wait_file "$f"
	printf -v "$1" %s "$(cat "$f")"
}

@test "relay: bytes both ways under inetd, the record names the backend, the connect time and four counts" {
	echo_backend E
	activate inetd "$BIN/relay" --log-level 3 "127.0.0.1:$E"
	run talk "$PORT" <<<"hello relay"
	assert_output "hello relay"
	run nth_record 1
	assert_output --regexp "info: served peer=127\.0\.0\.1:[0-9]+ .* in=12 out=12 .* status=0 backend=127\.0\.0\.1:$E connect_ms=connect:[0-9]+ backend_in=12 backend_out=12 end=eof$"
	run child_status 1
	assert_output 0
}

@test "relay: failover in order; the record's tried= says why each one before failed" {
	local dead dead_PID
	closed_port dead
	echo_backend E
	activate fds "$BIN/relay" --log-level 3 "127.0.0.1:$dead" "127.0.0.1:$E"
	run talk "$PORT" <<<"second one"
	assert_output "second one"
	run nth_record 1
	assert_output --partial " tried=127.0.0.1:$dead:refused backend=127.0.0.1:$E "
	# The order holds: a backend that answers first is the one used.
	echo_backend F
	: >"$LOG"
	activate inetd "$BIN/relay" --log-level 3 "127.0.0.1:$F" "127.0.0.1:$E"
	run talk "$PORT" <<<x
	run nth_record 1
	assert_output --partial " backend=127.0.0.1:$F "
	refute_output --partial "tried="
}

@test "relay: no backend: exit 111, --unavailable-message to the client, tried= names each failure" {
	local d1 d2 d1_PID d2_PID
	closed_port d1
	closed_port d2
	activate inetd "$BIN/relay" --log-level 3 --unavailable-message 'busy, try later\n' \
	    "127.0.0.1:$d1" "unix:$BATS_TEST_TMPDIR/none.sock" "127.0.0.1:$d2"
	run talk "$PORT" </dev/null
	assert_output "busy, try later"
	run child_status 1
	assert_output 111
	run nth_record 1
	assert_output --regexp "error: failed .* rule=\"no backend available\" .* out=16 .* status=111 tried=127\.0\.0\.1:$d1:refused,unix:$BATS_TEST_TMPDIR/none\.sock:missing,127\.0\.0\.1:$d2:refused end="
}

@test "relay: a backend that accepts slowly (its queue full) times out after --connect-timeout; the next serves" {
	local i
	py_backend S backlog
	# Fill the backend's accept queue: then the kernel drops the next SYNs.
	for i in 1 2 3; do
		bg python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
time.sleep(60)' "$S" 2>/dev/null
	done
	sleep 0.5
	echo_backend E
	activate inetd "$BIN/relay" --log-level 3 --connect-timeout 1 "127.0.0.1:$S" "127.0.0.1:$E"
	run talk "$PORT" <<<patient
	assert_output patient
	run nth_record 1
	assert_output --partial " tried=127.0.0.1:$S:timeout backend=127.0.0.1:$E "
	assert_output --regexp "duration=1\.[0-9]+s"
}

@test "relay: a UNIX-socket backend whose queue is full fails at once (busy), and the next serves" {
	local sock=$BATS_TEST_TMPDIR/full.sock
	py_backend S backlog "unix:$sock"
	# Fill its queue: a UNIX socket's connect then fails with EAGAIN, and
	# never completes later (it is not a connect in progress).
	bg python3 -c 'import socket, sys, time
held = []
while True:
    s = socket.socket(socket.AF_UNIX)
    s.setblocking(False)
    try:
        s.connect(sys.argv[1])
    except BlockingIOError:
        break
    held.append(s)
print("full", flush=True)
time.sleep(60)' "$sock" >"$BATS_TEST_TMPDIR/full"
	wait_log "$BATS_TEST_TMPDIR/full" full
	echo_backend E
	activate inetd "$BIN/relay" --log-level 3 "unix:$sock" "127.0.0.1:$E"
	run talk "$PORT" <<<"not lost"
	assert_output "not lost"
	run nth_record 1
	assert_output --regexp " status=0 tried=unix:$sock:busy backend=127\.0\.0\.1:$E .* end=eof$"
}

@test "relay: a UNIX-socket backend" {
	py_backend U echo "unix:$BATS_TEST_TMPDIR/b.sock"
	activate inetd "$BIN/relay" --log-level 3 --ping-timeout -1 "unix:$BATS_TEST_TMPDIR/b.sock"
	run talk "$PORT" <<<"over a unix socket"
	assert_output "over a unix socket"
	run nth_record 1
	assert_output --partial " backend=unix:$BATS_TEST_TMPDIR/b.sock "
}

@test "relay: an IPv6 backend, [::1]:PORT" {
	local e6
	has_ipv6_loopback || skip "no IPv6 loopback"
	e6=$(free_port 6)
	bg "$BIN/echo" --rfc862 --listen "[::1]:$e6" --user root --log "$BATS_TEST_TMPDIR/e6.log"
	wait_listen "$e6" "${BG_PIDS##* }"
	activate inetd "$BIN/relay" --log-level 3 "[::1]:$e6"
	run talk "$PORT" <<<"over six"
	assert_output "over six"
	run nth_record 1
	assert_output --partial " backend=[::1]:$e6 "
}

@test "relay: the common steps come first: a client the rules deny never reaches a backend" {
	py_backend P echo
	activate inetd "$BIN/relay" --log-level 3 --cidr-allow 127.0.0.0/8 --cidr-deny 127.0.0.2/32 \
	    --refusal-message 'no\n' "127.0.0.1:$P"
	client 127.0.0.2 <<<x >/dev/null
	run cat "$OUT"
	assert_output no
	run child_status 1
	assert_output 1
	client 127.0.0.3 <<<allowed >/dev/null
	run cat "$OUT"
	assert_output allowed
	run count "$BATS_TEST_TMPDIR/P.log" accept
	assert_output 1
}

@test "relay: every bad BACKEND spelling, unknown options and a bad --balance: a clear error and exit 100" {
	local long spec
	long=unix:/$(printf 'x%.0s' {1..120})
	for spec in 127.0.0.1 127.0.0.1: 127.0.0.1:0 127.0.0.1:65536 127.0.0.1:-1 :8010 "[]:8010" \
	    "[::1:8010" "::1]:8010" "::1:8010" "[::1]8010" "[127.0.0.1]:8010" localhost:8010 \
	    unix: "$long" "127.0.0.1:80x" "[::1]:"; do
		run -100 "$BIN/relay" "$spec" </dev/null
		assert_output --regexp "fatal: backend 1: \".*\" is not HOST:PORT, \[V6ADDR\]:PORT or unix:PATH: "
	done
	run -100 "$BIN/relay" 127.0.0.1:1 "[::1]:" </dev/null
	assert_output --partial "fatal: backend 2: "
	run -100 "$BIN/relay" --no-such-option 127.0.0.1:1 </dev/null
	assert_output --partial "no-such-option"
	run -100 "$BIN/relay" --balance random 127.0.0.1:1 </dev/null
	assert_output --partial "random"
	run -100 "$BIN/relay" --ping-timeout -2 127.0.0.1:1 </dev/null
	assert_output --partial "is not -1 (never ping), 0 (always) or 1 to 86400 seconds"
	run -100 "$BIN/relay" </dev/null
	assert_output --partial "usage:"
	# --pool is the accept loop's: a process that serves one client keeps nothing.
	run -100 "$BIN/relay" --pool 2 127.0.0.1:1 </dev/null
	assert_output --partial "option --pool needs the accept loop"
}

@test "relay: --balance hash: the same client, the same backend, under inetd and in the accept loop" {
	local i src n1 n2 mode
	echo_backend E
	echo_backend F
	for mode in inetd loop; do
		: >"$LOG"
		if [ $mode = inetd ]; then
			activate inetd "$BIN/relay" --log-level 3 --balance hash "127.0.0.1:$E" "127.0.0.1:$F"
		else
			relay_loop --balance hash "127.0.0.1:$E" "127.0.0.1:$F"
		fi
		for i in 2 3 4 5 6 7 8 9; do
			client "127.0.0.$i" <<<x >/dev/null
			client "127.0.0.$i" <<<x >/dev/null
		done
		nth_record 16 >/dev/null
		for i in 2 3 4 5 6 7 8 9; do
			run sh -c "grep -aE 'served peer=127\.0\.0\.$i:' '$LOG' | grep -o 'backend=[^ ]*' | sort -u | wc -l"
			assert_output 1
		done
		n1=$(records | grep -c "backend=127.0.0.1:$E ")
		n2=$(records | grep -c "backend=127.0.0.1:$F ")
		[ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] || fail "hash put every client on one backend ($n1, $n2)"
		[ $mode = loop ] || kill "$SPID"
	done
}

@test "relay: --balance round-robin with a process per connection: no counter to keep, by address as hash" {
	local i
	echo_backend E
	echo_backend F
	activate inetd "$BIN/relay" --log-level 3 --balance round-robin "127.0.0.1:$E" "127.0.0.1:$F"
	for i in 1 2 3 4; do
		client 127.0.0.5 <<<x >/dev/null
	done
	nth_record 4 >/dev/null
	run sh -c "grep -ao 'backend=[^ ]*' '$LOG' | sort -u | wc -l"
	assert_output 1
}

@test "relay: --balance round-robin in the accept loop: each backend in turn" {
	local i
	echo_backend E
	echo_backend F
	echo_backend G
	relay_loop --balance round-robin "127.0.0.1:$E" "127.0.0.1:$F" "127.0.0.1:$G"
	for i in 1 2 3 4 5 6; do
		talk "$PORT" <<<x >/dev/null
	done
	nth_record 6 >/dev/null
	run sh -c "grep -ao 'backend=[^ ]*' '$LOG' | tr '\n' ' '"
	assert_output "backend=127.0.0.1:$E backend=127.0.0.1:$F backend=127.0.0.1:$G backend=127.0.0.1:$E backend=127.0.0.1:$F backend=127.0.0.1:$G "
}

@test "relay: --down-time: in the accept loop a failed backend is skipped, then tried again" {
	local a a_PID
	closed_port a
	echo_backend E
	relay_loop --down-time 3 "127.0.0.1:$a" "127.0.0.1:$E"
	talk "$PORT" <<<1 >/dev/null
	run nth_record 1
	assert_output --partial "tried=127.0.0.1:$a:refused backend=127.0.0.1:$E "
	# The first comes back, but is down for 3 s: not even tried.
	kill "$a_PID"
	wait_until 5 "port $a still held" not kill -0 "$a_PID"
	bg "$BIN/echo" --rfc862 --listen "127.0.0.1:$a" --user root --log "$BATS_TEST_TMPDIR/a.log"
	wait_listen "$a" "${BG_PIDS##* }"
	talk "$PORT" <<<2 >/dev/null
	run nth_record 2
	assert_output --partial " backend=127.0.0.1:$E "
	refute_output --partial "tried="
	sleep 3.2
	talk "$PORT" <<<3 >/dev/null
	run nth_record 3
	assert_output --partial " backend=127.0.0.1:$a "
}

@test "relay: --pool keeps connections ready, refilled as used; a backend that goes away empties its pool unnoticed" {
	py_backend P echo
	echo_backend E
	relay_loop --pool 2 --ping-timeout -1 "127.0.0.1:$P" "127.0.0.1:$E"
	# Opened at the start: two connections to each backend.
	wait_count "$BATS_TEST_TMPDIR/P.log" '^accept$' 2
	run talk "$PORT" <<<pooled
	assert_output pooled
	run nth_record 1
	assert_output --regexp " backend=127\.0\.0\.1:$P connect_ms=pool:[0-9]+ "
	# The one used is replaced: a third accept, and no more.
	wait_count "$BATS_TEST_TMPDIR/P.log" '^accept$' 3
	sleep 0.5
	run count "$BATS_TEST_TMPDIR/P.log" accept
	assert_output 3
	# The first backend goes away: its kept connections are dropped, and the
	# next client is served by the second, from its pool, with nothing tried.
	kill "$P_PID"
	wait_log "$LOG" "pool: 127\.0\.0\.1:$P closed a kept connection: replacing it"
	wait_log "$LOG" "pool: 127\.0\.0\.1:$P: Connection refused"
	run talk "$PORT" <<<unnoticed
	assert_output unnoticed
	run nth_record 2
	assert_output --regexp " backend=127\.0\.0\.1:$E connect_ms=pool:[0-9]+ "
}

@test "relay: --pool: a kept connection its backend reset after the fork is dropped, unnoticed by the client" {
	py_backend P rst
	echo_backend E
	# --down-time 0: P is tried first, whatever the pool saw of it meanwhile.
	relay_loop --pool 1 --down-time 0 --ping-timeout -1 --proxy-protocol --trusted-proxy 127.0.0.1 \
	    "127.0.0.1:$P" "127.0.0.1:$E"
	wait_count "$BATS_TEST_TMPDIR/P.log" '^accept$' 1
	# The child gets P's kept connection at its fork and waits for the PROXY
	# header; meanwhile P dies, resetting that connection (RST, not FIN).
	run python3 - "$PORT" "$P_PID" <<-'EOF'
	import os, signal, socket, sys, time
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
	time.sleep(0.3)
	os.kill(int(sys.argv[2]), signal.SIGTERM)
	time.sleep(0.3)
	s.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 4000 80\r\nunnoticed\n")
	s.shutdown(socket.SHUT_WR)
	print(s.recv(100).decode().strip())
	EOF
	assert_output unnoticed
	run nth_record 1
	assert_output --regexp " status=0 tried=127\.0\.0\.1:$P:refused backend=127\.0\.0\.1:$E "
}

@test "relay: --pool: a kept connection that fails its ping is replaced by a new one to the same backend, not marked down" {
	py_backend P stale
	py_backend Q echo
	relay_loop --pool 1 --connect-timeout 1 --ping-send 'PING\n' --ping-expect 'PONG\n' \
	    --ping-timeout 1 "127.0.0.1:$P" "127.0.0.1:$Q"
	wait_count "$BATS_TEST_TMPDIR/P.log" '^accept$' 1
	# Idle over --ping-timeout: pinged, and P no longer answers on it.
	sleep 1.5
	run talk "$PORT" <<<stale
	assert_output stale
	run count "$BATS_TEST_TMPDIR/P.log" stale-ping
	assert_output 1
	run nth_record 1
	assert_output --regexp " backend=127\.0\.0\.1:$P connect_ms=connect:[0-9]+ "
	refute_output --partial "tried="
	wait_log "$LOG" "pool: a kept connection to 127\.0\.0\.1:$P failed \(ping-timeout\): a new one"
	# P is not down: the next client is P's too.
	run talk "$PORT" <<<again
	assert_output again
	run nth_record 2
	assert_output --partial " backend=127.0.0.1:$P "
}

@test "relay: a backend's name in a log line is escaped: a unix: path cannot forge a field" {
	local sock="$BATS_TEST_TMPDIR/a \" rule=\"x.sock"
	echo_backend E
	relay_loop --pool 1 --down-time 0 "unix:$sock" "127.0.0.1:$E"
	wait_log -F "$LOG" "pool: unix:${BATS_TEST_TMPDIR// /%20}/a%20%22%20rule%3D%22x.sock: No such file or directory"
	run grep -F 'rule="x.sock' "$LOG"
	assert_output ''
}

@test "relay: --pool over the descriptors the accept loop may have is refused at the start" {
	local port
	echo_backend E
	port=$(free_port)
	# 2 x 20 kept connections and the listener's own do not fit in 48: it
	# would fill them, and then spin on an accept that fails (EMFILE).
	run -100 timeout -k 1 5 sh -c 'ulimit -n 48 && exec "$@"' sh "$BIN/relay" \
	    --listen "127.0.0.1:$port" --user root --pool 20 "127.0.0.1:$E" "127.0.0.1:$E"
	assert_output --partial "fatal: option --pool: 20 to each of 2 backends, with the accept loop's own, needs 67 descriptors, over the limit of 48 (ulimit -n, LimitNOFILE=)"
	# A soft limit under what is needed is raised to it, within the hard one.
	bg sh -c 'ulimit -S -n 48 && exec "$@"' sh "$BIN/relay" --listen "127.0.0.1:$port" --user root \
	    --log "$LOG" --log-level 4 --pool 20 "127.0.0.1:$E" "127.0.0.1:$E"
	wait_listen "$port" "${BG_PIDS##* }"
	wait_count "$LOG" 'pool: connected to' 40
	run talk "$port" <<<fits
	assert_output fits
	run nth_record 1
	assert_output --regexp " backend=127\.0\.0\.1:$E connect_ms=pool:[0-9]+ "
}

@test "relay: an accept loop out of descriptors pauses accepting, and serves the waiting client once it has them" {
	local n t0 t1 soft
	echo_backend E
	relay_loop "127.0.0.1:$E"
	# Its limit lowered to its lowest free descriptor: its accept fails
	# (EMFILE), and the client waits in the queue, its listening socket readable.
	n=$(python3 -c 'import os, sys
fds = {int(f) for f in os.listdir("/proc/%s/fd" % sys.argv[1])}
print(min(set(range(len(fds) + 1)) - fds))' "$SPID")
	soft=$(prlimit --pid "$SPID" --nofile --output SOFT --noheadings)
	prlimit --pid "$SPID" --nofile="$n:"
	bg python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(b"waited\n")
s.shutdown(socket.SHUT_WR)
print(s.recv(100).decode().strip(), flush=True)' "$PORT" >"$OUT"
	wait_log "$LOG" "unable to accept: Too many open files"
	# Paused, not spinning: little CPU, a few warnings, and SIGTERM still heard.
	t0=$(awk '{print $14 + $15}' "/proc/$SPID/stat")
	sleep 1
	t1=$(awk '{print $14 + $15}' "/proc/$SPID/stat")
	# (A spinning loop never takes its SIGTERM: killed, or the teardown would wait on it.)
	[ $((t1 - t0)) -lt 20 ] || { kill -KILL "$SPID"; fail "the accept loop took $((t1 - t0)) ticks in 1 s"; }
	run grep -c "unable to accept: Too many open files: paused for 100 ms ([0-9]* in a row)$" "$LOG"
	[ "$output" -ge 1 ] && [ "$output" -le 6 ] || fail "$output warnings"
	prlimit --pid "$SPID" --nofile="$soft:"
	wait_log "$OUT" '^waited$'
	kill -TERM "$SPID"
	wait_until 5 "the accept loop did not stop" not kill -0 "$SPID"
}

@test "relay: --ping-timeout 0 (the default) pings every connection; the answer never reaches the client" {
	py_backend P echo
	activate inetd "$BIN/relay" --log-level 3 --ping-send 'PING\n' --ping-expect 'PONG\n' \
	    "127.0.0.1:$P"
	run talk "$PORT" <<<one
	assert_output one
	run talk "$PORT" <<<two
	assert_output two
	run count "$BATS_TEST_TMPDIR/P.log" ping
	assert_output 2
	# Exactly the answer's bytes are taken: what the backend sent after it is the client's.
	py_backend H banner
	kill "$SPID"
	activate inetd "$BIN/relay" --log-level 3 --ping-send 'PING\n' --ping-expect 'PONG\n' \
	    "127.0.0.1:$H"
	run talk "$PORT" <<<three
	assert_output "hello
three"
}

@test "relay: --ping-timeout -1 never pings; N pings a fresh connection never, a kept one idle over N s" {
	py_backend P echo
	activate inetd "$BIN/relay" --log-level 3 --ping-send 'PING\n' --ping-expect 'PONG\n' \
	    --ping-timeout -1 "127.0.0.1:$P"
	run talk "$PORT" <<<never
	assert_output never
	kill "$SPID"
	activate inetd "$BIN/relay" --log-level 3 --ping-send 'PING\n' --ping-expect 'PONG\n' \
	    --ping-timeout 5 "127.0.0.1:$P"
	run talk "$PORT" <<<fresh
	assert_output fresh
	run count "$BATS_TEST_TMPDIR/P.log" ping
	assert_output 0
	# Kept: the pool's connection, used at once (no ping), then one idle 3 s (pinged).
	relay_loop --pool 1 --ping-send 'PING\n' --ping-expect 'PONG\n' --ping-timeout 2 "127.0.0.1:$P"
	wait_count "$BATS_TEST_TMPDIR/P.log" '^accept$' 3
	run talk "$PORT" <<<young
	assert_output young
	run count "$BATS_TEST_TMPDIR/P.log" ping
	assert_output 0
	wait_count "$BATS_TEST_TMPDIR/P.log" '^accept$' 4
	sleep 3
	run talk "$PORT" <<<old
	assert_output old
	run count "$BATS_TEST_TMPDIR/P.log" ping
	assert_output 1
}

@test "relay: a failed ping (no answer, a wrong one) closes that connection and tries the next backend" {
	py_backend S silent
	py_backend W wrong
	py_backend P echo
	activate inetd "$BIN/relay" --log-level 3 --connect-timeout 1 --ping-send 'PING\n' \
	    --ping-expect 'PONG\n' "127.0.0.1:$S" "127.0.0.1:$W" "127.0.0.1:$P"
	run talk "$PORT" <<<validated
	assert_output validated
	run nth_record 1
	assert_output --partial " tried=127.0.0.1:$S:ping-timeout,127.0.0.1:$W:ping-mismatch backend=127.0.0.1:$P "
	wait_count "$BATS_TEST_TMPDIR/S.log" '^close$' 1
}

@test "relay: --send-proxy v1 and v2: echo --proxy-protocol behind the relay sees the client's own address" {
	local v
	echo_backend E --proxy-protocol --trusted-proxy 127.0.0.1
	for v in v1 v2; do
		: >"$LOG"
		activate inetd "$BIN/relay" --log-level 3 --send-proxy "$v" "127.0.0.1:$E"
		client 127.0.0.2 <<<"from two" >/dev/null
		run cat "$OUT"
		assert_output "from two"
		kill "$SPID"
	done
	run grep -c 'served peer=127\.0\.0\.2:[0-9]* local=127\.0\.0\.1:' "$BATS_TEST_TMPDIR/E.log"
	assert_output 2
	# The relay behind a proxy itself: the client its own header named is passed on.
	: >"$LOG"
	activate inetd "$BIN/relay" --log-level 3 --proxy-protocol --trusted-proxy 127.0.0.1 \
	    --send-proxy v2 "127.0.0.1:$E"
	run python3 "$RAWCLIENT" 127.0.0.1 "$PORT" "" "@v2=192.0.2.7,127.0.0.1,4000,80" "proxied\n"
	assert_output "proxied"
	wait_log "$BATS_TEST_TMPDIR/E.log" 'served peer=192\.0\.2\.7:4000 '
}

@test "relay: 256 MiB both ways byte-exact, with half-close passed on (splice)" {
	echo_backend E
	activate inetd "$BIN/relay" --log-level 3 "127.0.0.1:$E"
	run python3 - "$PORT" <<-'EOF'
	import hashlib, os, socket, sys, threading
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
	block = os.urandom(1 << 20)
	sent = hashlib.sha256()
	def send():
	    for i in range(256):
	        b = block[i:] + block[:i]
	        s.sendall(b)
	        sent.update(b)
	    s.shutdown(socket.SHUT_WR)
	t = threading.Thread(target=send)
	t.start()
	got, n = hashlib.sha256(), 0
	while True:
	    b = s.recv(1 << 20)
	    if not b:
	        break
	    got.update(b)
	    n += len(b)
	t.join()
	print(n, got.hexdigest() == sent.hexdigest())
	EOF
	assert_output "268435456 True"
	run nth_record 1
	assert_output --regexp " in=268435456 out=268435456 .* backend_in=268435456 backend_out=268435456 end=eof$"
}

@test "relay: where splice is refused (an O_APPEND file: EINVAL), read and write, byte-exact" {
	echo_backend E
	head -c 3000000 /dev/urandom >"$BATS_TEST_TMPDIR/in"
	: >"$BATS_TEST_TMPDIR/got"
	run -0 sh -c 'exec "$0" --log-level 3 "$1" <"$2" >>"$3"' "$BIN/relay" "127.0.0.1:$E" \
	    "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got"
	assert_output --regexp " in=3000000 out=3000000 .* backend_in=3000000 backend_out=3000000 end=eof$"
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got"
}

@test "relay: a backend that dies mid-session ends both sides: exit 111, end=reset" {
	py_backend D die
	activate inetd "$BIN/relay" --log-level 3 --ping-timeout -1 "127.0.0.1:$D"
	run python3 - "$PORT" <<-'EOF'
	import socket, sys, time
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
	s.sendall(b"first\n")
	print(s.recv(100).decode().strip())
	time.sleep(0.3)
	try:
	    s.sendall(b"second\n" * 1000)
	    time.sleep(0.3)
	    s.sendall(b"third\n" * 1000)
	    print("end", repr(s.recv(100)))
	except OSError as e:
	    print("end", type(e).__name__)
	EOF
	assert_line --index 0 first
	assert_line --index 1 --regexp "^end (b''|ConnectionResetError|BrokenPipeError)$"
	run child_status 1
	assert_output 111
	run nth_record 1
	assert_output --regexp "rule=\"backend 127\.0\.0\.1:$D reset the connection\" .* end=reset"
}

@test "relay: --idle-timeout ends a silent pair, with the timeout message" {
	echo_backend E
	activate inetd "$BIN/relay" --log-level 3 --idle-timeout 1 --timeout-message 'idle\n' \
	    "127.0.0.1:$E"
	run timeout 10 socat -t 5 - "TCP:127.0.0.1:$PORT" < <(sleep 3)
	assert_output idle
	run nth_record 1
	assert_output --regexp " status=0 .*end=idle timeout$"
}

@test "relay: --session-timeout ends a busy pair at its bound" {
	echo_backend E
	activate inetd "$BIN/relay" --log-level 3 --session-timeout 1 "127.0.0.1:$E"
	run timeout 10 socat -t 5 - "TCP:127.0.0.1:$PORT" < <(for i in $(seq 15); do echo "$i"; sleep 0.2; done)
	assert_line 1
	refute_line 15
	run nth_record 1
	assert_output --regexp " duration=1\.[0-9]+s status=0 .*end=session timeout$"
}

@test "relay: a pair that never pauses still ends at --session-timeout, and at SIGTERM" {
	local cpu port pid
	# One CPU for the relay and its backend, the relay at the lowest priority:
	# the backend then drains and answers at once whatever the relay moves, so
	# every step of the relay moves bytes and it never waits in poll.
	cpu=$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')
	port=$(free_port)
	bg taskset -c "$cpu" "$BIN/echo" --rfc862 --listen "127.0.0.1:$port" --user root \
	    --log "$BATS_TEST_TMPDIR/E.log"
	wait_listen "$port" "${BG_PIDS##* }"
	timeout -k 1 5 taskset -c "$cpu" nice -n 19 "$BIN/relay" --log-level 3 --session-timeout 1 \
	    "127.0.0.1:$port" </dev/zero >/dev/null 2>>"$LOG" || fail "not ended in 5 s (status $?)"
	run nth_record 1
	assert_output --regexp " duration=1\.[0-9]+s status=0 .*end=session timeout$"
	# SIGTERM (a service being stopped, the accept loop's drain) ends it as soon.
	timeout -k 1 5 taskset -c "$cpu" nice -n 19 "$BIN/relay" --log-level 3 "127.0.0.1:$port" \
	    </dev/zero >/dev/null 2>>"$LOG" &
	pid=$!
	sleep 0.5
	kill -TERM "$pid"
	wait "$pid" || fail "not ended in 5 s (status $?)"
	run nth_record 2
	assert_output --regexp " duration=0\.[0-9]+s status=0 .*end=terminated$"
}

@test "relay: --help names every relay option" {
	run -0 "$BIN/relay" --help
	for o in balance connect-timeout down-time ping-send ping-expect ping-timeout pool send-proxy \
	    unavailable-message; do
		assert_output --partial "--$o "
	done
	assert_output --partial "BACKEND..."
}
