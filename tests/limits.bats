#!/usr/bin/env bats
# Limits on a public port, in every activation mode (the security review's
# findings 1, 2, 7 and 9, and the table of sources): limits and penalties
# keyed on the client a PROXY header names, behind a real HAProxy in front of
# the accept loop; rates and penalties shared by one-process-per-connection
# instances through --state-dir; a burst of refusals raising a penalty once;
# the login timeout; the refusal and timeout messages; the accept loop's
# scrubbed environment; a non-blocking socket.

load helpers
load serve
bats_require_minimum_version 1.5.0

CLIENT="$TOP/tests/limitclient.py"

setup() {
	LOG="$BATS_TEST_TMPDIR/server.log"
	OUT="$BATS_TEST_TMPDIR/out"
	STATE="$BATS_TEST_TMPDIR/state"
	mkdir -m 700 "$STATE"
	: >"$LOG"
	htpasswd -cbB -C 4 "$BATS_TEST_TMPDIR/users" alice secret 2>/dev/null
}

teardown() {
	kill_bg
}

# Runs "$@" under systemd-socket-activate --inetd (Accept=yes: one process a
# connection), logging to $LOG; sets PORT. (listen_on, in helpers.bash, runs
# the accept loop the same way.)
inetd_on() {
	activate inetd "$@" --log "$LOG" --log-level 3
}

# Holds a connection from SRC to port $2 open for up to 30 s, sending nothing.
hold_from() {
	socat "TCP:127.0.0.1:$2,bind=$1" "EXEC:sleep 30" 2>/dev/null &
	BG_PIDS="${BG_PIDS:-} $!"
}

# One line of echo from SRC to port $2; prints the reply.
echo_from() {
	printf 'ping\n' | socat -t 5 -T 10 - "TCP:127.0.0.1:$2,bind=$1" 2>/dev/null || true
}

@test "behind HAProxy, --max-per-source counts the clients the headers name, not the proxy" {
	listen_on "$BIN/echo" --proxy-protocol --trusted-proxy 127.0.0.1 --max-per-source 1 \
	    --max-per-netblock 0
	haproxy_front send-proxy-v2
	hold_from 127.0.0.2 "$HPORT"
	sleep 0.5
	# Another client through the same proxy is served: the proxy's address counts for nothing.
	run echo_from 127.0.0.3 "$HPORT"
	assert_output ping
	# A second connection from the client already served is refused, and logged as its own.
	run echo_from 127.0.0.2 "$HPORT"
	assert_output ""
	wait_count "$LOG" 'refused peer=127\.0\.0\.2:[0-9]* .*rule="max-per-source"' 1
	run grep -c 'refused peer=127\.0\.0\.3' "$LOG"
	assert_output 0
}

@test "behind HAProxy, a refused client is penalized, and the proxy and its other clients are not" {
	listen_on "$BIN/echo" --proxy-protocol --trusted-proxy 127.0.0.1 --cidr-deny 127.0.0.2/32 \
	    --cidr-allow 0.0.0.0/0 --penalty 30
	haproxy_front send-proxy-v2
	run echo_from 127.0.0.2 "$HPORT"
	assert_output ""
	wait_count "$LOG" "penalized 127\.0\.0\.2 for 30s" 1
	run echo_from 127.0.0.3 "$HPORT"
	assert_output ping
	run echo_from 127.0.0.2 "$HPORT"
	assert_output ""
	wait_count "$LOG" 'refused peer=127\.0\.0\.2:[0-9]* .*rule="penalized (' 1
	run grep -c "penalized 127\.0\.0\.1" "$LOG"
	assert_output 0
}

@test "a trusted proxy whose header fails is refused but never penalized" {
	listen_on "$BIN/echo" --proxy-protocol --trusted-proxy 127.0.0.1 --proxy-timeout 1 \
	    --penalty 30
	# No header in time: refused, exit 1, which would penalize any other source.
	run python3 "$RAWCLIENT" 127.0.0.1 "$PORT" "" @hold
	wait_count "$LOG" 'rule="proxy: no complete header in time' 1
	printf 'GARBAGE\r\n' | socat -t 2 - TCP:127.0.0.1:"$PORT" >/dev/null 2>&1 || true
	wait_count "$LOG" 'rule="proxy: malformed header' 1
	# The proxy still gets through with a good header.
	run python3 "$RAWCLIENT" 127.0.0.1 "$PORT" "" '@v2=192.0.2.9,127.0.0.1,5555,80' 'ok\n'
	assert_output ok
	run grep -c "penalized" "$LOG"
	assert_output 0
}

@test "a header that never comes delays only its own connection, not the accept loop" {
	listen_on "$BIN/echo" --proxy-protocol --trusted-proxy 127.0.0.1 --proxy-timeout 20
	haproxy_front send-proxy-v2
	hold_from 127.0.0.1 "$PORT"	# trusted, and silent
	sleep 0.3
	t0=$(date +%s%N)
	run echo_from 127.0.0.4 "$HPORT"
	assert_output ping
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 2000 ]
}

@test "Accept=yes: a brute force from one address is refused by penalty after --penalty-after, while another address logs in" {
	inetd_on "$BIN/cmdserver" --htpasswd "$BATS_TEST_TMPDIR/users" --fail-delay 0 \
	    --state-dir "$STATE" --penalty-after 3 --penalty 60
	run python3 "$CLIENT" login "$PORT" 127.0.0.1 alice wrong 50
	assert_success
	# Three wrong passwords are answered; then the source is penalized, and
	# its other 47 connections end before any prompt.
	[ "$(grep -c '^denied$' <<<"$output")" -eq 3 ]
	[ "$(grep -c '^refused$' <<<"$output")" -eq 47 ]
	wait_count "$LOG" "penalized 127\.0\.0\.1 for 60s after 3 refusals" 1
	wait_count "$LOG" 'refused peer=127\.0\.0\.1:[0-9]* .*rule="penalized (' 47
	run python3 "$CLIENT" login "$PORT" 127.0.0.2 alice secret
	assert_output welcome
	# Every instance shared one table in --state-dir, owned by this user, mode 0600.
	run stat -c '%u %a' "$STATE/inetkit-cmdserver.sources"
	assert_output "$(id -u) 600"
}

@test "a failed login's penalty is recorded before its Access Denied can reach the client" {
	command -v strace >/dev/null || skip "strace not installed"
	# Every shutdown(2) waits 0.4 s: a penalty recorded only after the close
	# (the old order) would leave the client, which reconnects the moment it
	# reads "Access Denied", time to get another password prompt.
	inetd_on env ASAN_OPTIONS=detect_leaks=0 strace -qq -o /dev/null -e trace=shutdown \
	    -e inject=shutdown:delay_enter=400000 "$BIN/cmdserver" \
	    --htpasswd "$BATS_TEST_TMPDIR/users" --fail-delay 0 --state-dir "$STATE" \
	    --penalty-after 3 --penalty 60
	run python3 "$CLIENT" login "$PORT" 127.0.0.3 alice wrong 6
	assert_success
	[ "$(grep -c '^denied$' <<<"$output")" -eq 3 ]
	[ "$(grep -c '^refused$' <<<"$output")" -eq 3 ]
}

# burst_penalized_once SRC: 8 wrong passwords from SRC at once, failing together: one penalty.
burst_penalized_once() {
	run python3 "$CLIENT" burst "$PORT" "$1" alice wrong 8
	[ "$(grep -c '^denied$' <<<"$output")" -eq 8 ]
	wait_count "$LOG" "penalized ${1//./\\.} for 2s after 1 refusal" 1
	sleep 0.5
	run grep -c "penalized ${1//./\\.} for" "$LOG"
	assert_output 1
}

@test "a burst of failed logins that end together raises the penalty once (accept loop and Accept=yes)" {
	listen_on "$BIN/cmdserver" --htpasswd "$BATS_TEST_TMPDIR/users" --fail-delay 1 \
	    --penalty 2 --penalty-max 300
	burst_penalized_once 127.0.0.2
	kill_bg
	: >"$LOG"
	inetd_on "$BIN/cmdserver" --htpasswd "$BATS_TEST_TMPDIR/users" --fail-delay 1 \
	    --state-dir "$STATE" --penalty 2
	burst_penalized_once 127.0.0.3
}

@test "a later refusal doubles the penalty, up to --penalty-max" {
	inetd_on "$BIN/echo" --cidr-deny 127.0.0.2/32 --cidr-allow 0.0.0.0/0 --state-dir "$STATE" \
	    --penalty 1 --penalty-max 2
	echo_from 127.0.0.2 "$PORT"
	wait_count "$LOG" "penalized 127\.0\.0\.2 for 1s after 1 refusal" 1
	sleep 1.2
	echo_from 127.0.0.2 "$PORT"
	wait_count "$LOG" "penalized 127\.0\.0\.2 for 2s after 2 refusals" 1
	# Refused by the penalty itself: that raises nothing.
	echo_from 127.0.0.2 "$PORT"
	wait_count "$LOG" 'rule="penalized (' 1
	sleep 2.2
	echo_from 127.0.0.2 "$PORT"
	wait_count "$LOG" "penalized 127\.0\.0\.2 for 2s after 3 refusals" 1
	run grep -c "penalized 127\.0\.0\.2 for" "$LOG"
	assert_output 3
}

@test "Accept=yes: --max-rate and --max-netblock-rate hold across instances sharing --state-dir" {
	inetd_on "$BIN/echo" --state-dir "$STATE" --max-rate 3/60 --max-netblock-rate 5/60 \
	    --netblock-ipv4 24
	for i in 1 2 3 4; do echo_from 127.0.0.2 "$PORT" >>"$OUT"; done
	run grep -c ping "$OUT"
	assert_output 3
	wait_count "$LOG" 'refused peer=127\.0\.0\.2:[0-9]* .*rule="max-rate 3/60s"' 1
	# Its /24 has used 3 of 5; two more from a neighbour, then the netblock is full.
	: >"$OUT"
	for i in 1 2 3; do echo_from 127.0.0.3 "$PORT" >>"$OUT"; done
	run grep -c ping "$OUT"
	assert_output 2
	wait_count "$LOG" 'rule="max-netblock-rate 5/60s for 127\.0\.0\.0/24"' 1
	# Another /24 is untouched.
	run echo_from 127.0.1.2 "$PORT"
	assert_output ping
	# Refusals by a limit are the limit at work: they raise no penalty.
	run grep -c "penalized" "$LOG"
	assert_output 0
}

@test "--max-rate with one process a connection and no --state-dir is a configuration error (exit 100)" {
	run -100 sh -c 'printf "x\n" | "$1" --max-rate 3/60 --log stderr' sh "$BIN/echo"
	assert_output --partial "need --state-dir"
}

@test "the table of sources: a damaged file is made anew, another user's is refused" {
	inetd_on "$BIN/echo" --state-dir "$STATE" --max-rate 2/60
	head -c 300000 /dev/urandom >"$STATE/inetkit-echo.sources"
	chmod 600 "$STATE/inetkit-echo.sources"
	for i in 1 2 3; do echo_from 127.0.0.2 "$PORT" >>"$OUT"; done
	run grep -c ping "$OUT"
	assert_output 2
	run head -c 8 "$STATE/inetkit-echo.sources"
	assert_output INKSRCT1
	# Writable by others: not trusted, and a limit that vanished is worse than
	# none given: the connection is refused (exit 111), and the log says why.
	chmod 666 "$STATE/inetkit-echo.sources"
	run echo_from 127.0.0.4 "$PORT"
	assert_output ""
	wait_count "$LOG" "table of sources: .*writable by no one else; refusing the connection" 1
	rm "$STATE/inetkit-echo.sources"
	ln -s /etc/passwd "$STATE/inetkit-echo.sources"
	run echo_from 127.0.0.4 "$PORT"
	assert_output ""
	wait_count "$LOG" "table of sources: unable to open .*: Too many levels of symbolic links" 1
	# So is a directory another user may write.
	rm "$STATE/inetkit-echo.sources"
	chmod 777 "$STATE"
	run echo_from 127.0.0.4 "$PORT"
	assert_output ""
	wait_count "$LOG" "table of sources: $STATE is owned by uid [0-9]* with mode 0777" 1
	chmod 700 "$STATE"
	run echo_from 127.0.0.4 "$PORT"
	assert_output ping
}

@test "a login already under way when its source is penalized never succeeds" {
	inetd_on "$BIN/cmdserver" --htpasswd "$BATS_TEST_TMPDIR/users" --fail-delay 0 \
	    --state-dir "$STATE" --penalty 60
	run python3 - "$PORT" <<'PY'
import socket, sys
def at_password():
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    b = b""
    while b"Login: " not in b: b += s.recv(100)
    s.sendall(b"alice\n")
    while b"Password: " not in b: b += s.recv(100)
    return s
a, b = at_password(), at_password()
a.sendall(b"wrong\n"); print("a", a.recv(100)); a.close()
import time; time.sleep(0.5)
b.sendall(b"secret\n"); print("b", b.recv(100))
PY
	assert_line "a b'Access Denied\\n'"
	assert_line "b b'Access Denied\\n'"
	wait_count "$LOG" "login failed for user alice from 127\.0\.0\.1:[0-9]*: source penalized during the login" 1
}

@test "a refusal that is the service's fault (a broken block list) raises no penalty" {
	inetd_on "$BIN/echo" --block-list "$BATS_TEST_TMPDIR/missing" --state-dir "$STATE"
	echo_from 127.0.0.2 "$PORT"
	echo_from 127.0.0.2 "$PORT"
	wait_count "$LOG" 'rule="block list .*missing unusable' 2
	run grep -c "penalized" "$LOG"
	assert_output 0
}

@test "the table of sources, full, forgets the entries seen least lately and says so" {
	# One connection an hour from each address: a remembered address is refused.
	listen_on "$BIN/echo" --max-rate 1/3600 --max-per-source 0 --max-per-netblock 0
	run python3 "$CLIENT" sources "$PORT" 1 4600
	assert_output 4600
	# The 300 seen last are still remembered: what was forgotten was seen before them.
	run python3 "$CLIENT" sources "$PORT" 1 4600 4300
	assert_output 0
	wait_count "$LOG" "table of sources full: forgot 127\.[0-9.]*/32, seen least lately (1 forgotten so far)" 1
	# Said at the 1st, 2nd, 4th ... time, not at every one.
	n=$(grep -c "table of sources full" "$LOG")
	[ "$n" -ge 2 ] && [ "$n" -le 12 ]
}

@test "--login-timeout ends a login that trickles, however active the client" {
	inetd_on "$BIN/cmdserver" --htpasswd "$BATS_TEST_TMPDIR/users" --login-timeout 2 \
	    --idle-timeout 60 --timeout-message 'Timed Out.\r\n'
	t0=$SECONDS
	run python3 "$RAWCLIENT" 127.0.0.1 "$PORT" "" a @sleep=0.7 l @sleep=0.7 i @sleep=0.7 \
	    c @sleep=0.7 e @sleep=0.7 x @sleep=0.7 y @hold
	[ $((SECONDS - t0)) -le 4 ]
	assert_output "$(printf 'Login: Timed Out.\r\n')"
	wait_count "$LOG" 'login timeout peer=127\.0\.0\.1:.* status=1 end=login timeout' 1
}

@test "--login-timeout does not apply to a client --satisfy any lets in by address" {
	inetd_on "$BIN/cmdserver" --htpasswd "$BATS_TEST_TMPDIR/users" --login-timeout 1 \
	    --satisfy any --cidr-allow 127.0.0.2/32
	# Let in without a login, it may idle past the login timeout and still be served.
	run python3 "$RAWCLIENT" 127.0.0.1 "$PORT" 127.0.0.2 @sleep=2.5 'date\n' 'quit\n'
	assert_output --partial 'Welcome to inetkit cmdserver'
	assert_output --regexp '[0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}'
	wait_count "$LOG" 'served peer=127\.0\.0\.2:.* status=0 end=' 1
}

@test "--refusal-message reaches clients refused by a rule, a limit or the block list; cmdserver's stays Access Denied" {
	printf '127.0.0.3\n' >"$BATS_TEST_TMPDIR/blocked"
	inetd_on "$BIN/echo" --cidr-deny 127.0.0.2/32 --cidr-allow 0.0.0.0/0 \
	    --block-list "$BATS_TEST_TMPDIR/blocked" --refusal-message '421 go away\r\n'
	run echo_from 127.0.0.2 "$PORT"
	assert_output "$(printf '421 go away\r')"
	run echo_from 127.0.0.3 "$PORT"
	assert_output "$(printf '421 go away\r')"
	wait_count "$LOG" 'refused peer=127\.0\.0\.3:.* out=13 ' 1
	run echo_from 127.0.0.4 "$PORT"
	assert_output ping
	kill_bg
	listen_on "$BIN/echo" --max-per-source 1 --refusal-message 'busy\n'
	hold_from 127.0.0.5 "$PORT"
	sleep 0.3
	run echo_from 127.0.0.5 "$PORT"
	assert_output busy
	kill_bg
	inetd_on "$BIN/cmdserver" --htpasswd "$BATS_TEST_TMPDIR/users" --cidr-deny 127.0.0.2/32 \
	    --cidr-allow 0.0.0.0/0
	run echo_from 127.0.0.2 "$PORT"
	assert_output "Access Denied"
}

@test "--timeout-message is sent when the idle timeout ends a session, and counted" {
	inetd_on "$BIN/echo" --idle-timeout 1 --timeout-message 'Timed Out.\r\n'
	run python3 "$RAWCLIENT" 127.0.0.1 "$PORT" "" 'hi\n' @hold
	assert_output "$(printf 'hi\nTimed Out.\r\n')"
	wait_count "$LOG" 'in=3 out=15 .*end=idle timeout' 1
}

@test "message options: C escapes, a length cap, clear errors (exit 100)" {
	run -100 "$BIN/echo" --refusal-message 'a\qb'
	assert_output --partial 'option --refusal-message: unknown escape'
	run -100 "$BIN/echo" --timeout-message "$(head -c 300 /dev/zero | tr '\0' x)"
	assert_output --partial 'longer than 256 bytes'
	run -100 "$BIN/echo" --max-rate 3
	assert_output --partial 'is not N/SECS'
	run -100 "$BIN/echo" --max-rate 0/10
	assert_output --partial 'is not N/SECS'
}

@test "the accept loop ignores a client identity in its own environment" {
	PORT=$(free_port)
	bg env PROTO=TCP TCPREMOTEIP=10.9.9.9 REMOTE_ADDR=10.9.9.8 REMOTE_HOST=10.9.9.7 \
	    INETKIT_PROXIED=1 "$BIN/echo" --listen "127.0.0.1:$PORT" --log "$LOG" --log-level 3 \
	    --cidr-deny 10.0.0.0/8 --cidr-allow 0.0.0.0/0 --user root
	wait_log "$LOG" "accepting on 1 socket"
	run echo_from 127.0.0.2 "$PORT"
	assert_output ping
	wait_count "$LOG" 'served peer=127\.0\.0\.2:' 1
	run grep -c '10\.9\.9' "$LOG"
	assert_output 0
	kill_bg
	# INETKIT_PROXIED must not skip the trusted-proxy check either.
	: >"$LOG"
	PORT=$(free_port)
	bg env INETKIT_PROXIED=1 "$BIN/echo" --listen "127.0.0.1:$PORT" --log "$LOG" \
	    --log-level 3 --proxy-protocol --trusted-proxy 192.0.2.1 --user root
	wait_log "$LOG" "accepting on 1 socket"
	run echo_from 127.0.0.2 "$PORT"
	assert_output ""
	wait_count "$LOG" 'rule="proxy: peer is not a --trusted-proxy"' 1
}

@test "a non-blocking socket is served as a blocking one" {
	PORT=$(free_port)
	# A parent that hands over an O_NONBLOCK socket, as systemd's NonBlocking=yes does.
	bg python3 -c '
import os, socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(1)
open(sys.argv[4], "w").write("ready")
c, _ = l.accept(); c.setblocking(False)
os.dup2(c.fileno(), 0); os.dup2(c.fileno(), 1)
os.execv(sys.argv[2], [sys.argv[2], "--log", sys.argv[3]])' "$PORT" "$BIN/echo" "$LOG" \
	    "$BATS_TEST_TMPDIR/ready"
	wait_file "$BATS_TEST_TMPDIR/ready"
	run python3 "$RAWCLIENT" 127.0.0.1 "$PORT" "" @sleep=0.5 'late\n'
	assert_output late
}
