#!/usr/bin/env bats
# Moving a Net::Server service over: its configuration file and command line
# forms, its binding keys (port, host, ipv, proto, listen N), its syslog and
# double_reverse_lookups keys, and its signals (HUP re-reads the
# configuration, QUIT drains). The sample test.conf of Net::Server's own
# documentation is contrib/net-server/test.conf, kept as it is there.

load helpers
load proto_helpers
load activation_helpers

SAMPLE="$BATS_TEST_DIRNAME/../contrib/net-server/test.conf"

setup() {
	LOG="$BATS_TEST_TMPDIR/server.log"
	ACTIVATE_LOG="$BATS_TEST_TMPDIR/activate.log"
	OUT="$BATS_TEST_TMPDIR/out"
	ERR="$BATS_TEST_TMPDIR/err"
	: >"$LOG"
	: >"$ACTIVATE_LOG"
}

teardown() {
	kill_bg
	[ -z "${SAMPLE_SAVED:-}" ] || sample_restore
	remove_catchers
}

SAMPLE=$TOP/contrib/net-server/test.conf

# The stand-alone accept loop serves as root only when told so.
AS_ROOT=(--user root)

# Starts PROGRAM ARGS... stand-alone (stdin not a socket: no activator) and
# waits until it listens on TCP port $1 of 127.0.0.1.
standalone() {
	local port=$1
	shift
	bg "$@" </dev/null
	SPID=${BG_PIDS##* }
	wait_listen "$port" "$SPID"
}

@test "a conf file's lines may be key value, key=value, key: value or --key value" {
	local form conf=$BATS_TEST_TMPDIR/c.conf
	for form in 'deny .*|refusal_message no\r\n' 'deny=.*|refusal_message=no\r\n' \
	    'deny: .*|refusal_message: no\r\n' '--deny .*|--refusal-message no\r\n' \
	    'deny	.*|refusal_message	no\r\n'; do
		printf '%s\n' "${form%%|*}" "${form#*|}" >"$conf"
		PROTO=TCP TCPREMOTEIP=10.1.2.3 run feed 'a\n' "$BIN/echo" --conf-file "$conf"
		assert_equal "$status" 1
		assert_equal "$(cat "$OUT")" "$(printf 'no\r\n')" || fail "form: $form"
	done
	# A value keeps its own ':' and '=' (only the first separator is the key's).
	printf 'refusal_message: a=b: c\ndeny .*\n' >"$conf"
	PROTO=TCP TCPREMOTEIP=10.1.2.3 run feed 'a\n' "$BIN/echo" --conf-file "$conf"
	assert_equal "$(cat "$OUT")" "a=b: c"
}

@test "on the command line: --key value, --key=value and Net::Server's key=value" {
	PROTO=TCP TCPREMOTEIP=10.1.2.3 run feed 'a\n' "$BIN/echo" deny=10\\..* refusal_message=bare
	assert_equal "$status" 1
	assert_equal "$(cat "$OUT")" bare
	PROTO=TCP TCPREMOTEIP=10.1.2.3 run feed 'a\n' "$BIN/echo" --deny '10\..*' --refusal-message=dash
	assert_equal "$(cat "$OUT")" dash
	# An unknown key=value is not an option: it is the first operand (here, PROGRAM's argument).
	: >"$BATS_TEST_TMPDIR/list"
	PROTO=TCP TCPREMOTEIP=10.1.2.3 run feed '' "$BIN/blockip" log_level=2 "$BATS_TEST_TMPDIR/list" \
	    /usr/bin/env NOT_AN_OPTION=kept
	assert_success
	grep -qx NOT_AN_OPTION=kept "$OUT"
	# echo takes no operand, so an unknown key=value is a usage error.
	run --separate-stderr "$BIN/echo" bogus_key=1 </dev/null
	assert_equal "$status" 100
}

@test "unknown keys stay fatal; Perl-only keys are refused saying why; inert ones are noted" {
	local conf=$BATS_TEST_TMPDIR/c.conf k
	printf 'log_levle 3\n' >"$conf"
	run --separate-stderr "$BIN/echo" --conf-file "$conf" </dev/null
	assert_equal "$status" 100
	[[ $stderr == *'line 1: unknown key "log_levle"'* ]]
	printf 'log_function main::log\n' >"$conf"
	run --separate-stderr "$BIN/echo" --conf-file "$conf" </dev/null
	assert_equal "$status" 100
	[[ $stderr == *"log_function is Perl code"* ]]
	printf 'log_file Log::Log4perl\n' >"$conf"
	run --separate-stderr "$BIN/echo" --conf-file "$conf" </dev/null
	assert_equal "$status" 100
	for k in 'sig_passthrough USR1' 'tie_client_stdout 1' 'tied_stdin_callback x'; do
		printf '%s\n' "$k" >"$conf"
		run --separate-stderr "$BIN/echo" --conf-file "$conf" </dev/null
		assert_equal "$status" 100
		[[ $stderr == *"${k%% *}"*" here"* || $stderr == *"${k%% *} is Perl code"* ]]
	done
	printf 'ipv6_package IO::Socket::IP\nno_close_by_child 1\nleave_children_open_on_hup 1\n' >"$conf"
	printf 'no_client_stdout 1\n' >>"$conf"
	PROTO=TCP TCPREMOTEIP=10.1.2.3 run feed 'a\n' "$BIN/echo" --conf-file "$conf" --log-level 4
	assert_success
	assert_out 'a\n'
	grep -q 'ipv6_package: a Net::Server key that changes nothing here' "$ERR"
	grep -q 'no_close_by_child: a Net::Server key that changes nothing here' "$ERR"
	grep -q 'leave_children_open_on_hup: a Net::Server key that changes nothing here' "$ERR"
	grep -q 'no_client_stdout: a Net::Server key that changes nothing here' "$ERR"
	printf 'proto ssleay\n' >"$conf"
	run --separate-stderr "$BIN/echo" --conf-file "$conf" </dev/null
	assert_equal "$status" 100
	[[ $stderr == *'"ssleay": TLS is inetkit-tls'* ]]
}

@test "each of Net::Server's port forms binds what its documentation says" {
	local p1 p2 p3 p4 p5 p6
	p1=$(free_port) p2=$(free_port) p3=$(free_port) p4=$(free_port 6) p5=$(free_port) p6=$(free_port)
	standalone "$p6" "$BIN/echo" "${AS_ROOT[@]}" --log "$LOG" --log-level 3 \
	    --port "127.0.0.1:$p1" --port "localhost:$p2/IPv4" --port "127.0.0.1|$p3|tcp" \
	    --port "[::1]:$p4/tcp" --port "localhost, $p5, tcp, IPv4" --host 127.0.0.1 --port "$p6"
	for p in "$p1" "$p2" "$p3" "$p5" "$p6"; do
		assert_equal "$(printf 'x%s\n' "$p" | talk "$p")" "x$p"
		grep -q "bound TCP port $p on 127.0.0.1 (IPv4)" "$LOG"
	done
	assert_equal "$(printf 'v6\n' | socat -t 5 -T 10 - "TCP6:[::1]:$p4")" v6
	grep -q "bound TCP port $p4 on \[::1\] (IPv6)" "$LOG"
	# Each port bound exactly once: nothing else.
	assert_equal "$(grep -c 'bound TCP port' "$LOG")" 6
}

@test "a service name is a port, and a UNIX socket is PATH|unix" {
	local sock=$BATS_TEST_TMPDIR/s.sock p
	p=$(free_port)
	standalone "$p" "$BIN/echo" "${AS_ROOT[@]}" --log "$LOG" --log-level 3 --port "$sock|unix" \
	    --port "127.0.0.1:$p"
	assert_equal "$(printf 'over unix\n' | socat -t 5 -T 10 - "UNIX-CONNECT:$sock")" 'over unix'
	# A live socket is refused, not stolen.
	run --separate-stderr "$BIN/echo" "${AS_ROOT[@]}" --port "$sock|sock_stream|unix" </dev/null
	assert_equal "$status" 111
	[[ $stderr == *"is in use by a running server"* ]]
	kill_bg
	# One that cannot be checked (a live datagram socket) is left alone.
	local dg=$BATS_TEST_TMPDIR/d.sock
	python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); time.sleep(30)' "$dg" 3>&- &
	local dpid=$!
	wait_until 5 "no datagram socket" test -S "$dg"
	run --separate-stderr timeout 5 "$BIN/echo" "${AS_ROOT[@]}" --port "$dg|unix" </dev/null
	kill "$dpid"
	assert_equal "$status" 111
	[[ $stderr == *"exists and cannot be checked (Protocol wrong type for socket): left alone"* ]]
	[ -S "$dg" ]
	# A stale one (nobody answers) is replaced.
	p=$(free_port)
	standalone "$p" "$BIN/echo" "${AS_ROOT[@]}" --log "$LOG" --proto unix --port "$sock" \
	    --port "127.0.0.1:$p/tcp"
	assert_equal "$(printf 'again\n' | socat -t 5 -T 10 - "UNIX-CONNECT:$sock")" again
	grep -qw echo /etc/services || skip "no /etc/services"
	run --separate-stderr timeout 5 "$BIN/echo" "${AS_ROOT[@]}" --port "127.0.0.1:nosuchservice" \
	    </dev/null
	assert_equal "$status" 100
	[[ $stderr == *'"nosuchservice" is neither a port number nor a tcp service name'* ]]
}

@test "ipv * binds the versions the host has: both on loopback, IPv4 alone where IPv6 is off" {
	local p
	p=$(free_port)
	# In a network namespace of its own, so that "*" means only its loopback.
	run timeout 10 unshare -n sh -c '
		p=$1 log=$2 off=$3
		shift 3
		ip link set lo up
		"$@" --log-level 3 --port "$p" </dev/null 2>"$log" & pid=$!
		sleep 0.5; kill $pid
		sysctl -qw net.ipv6.conf.all.disable_ipv6=1
		"$@" --log-level 3 --port "$p" --ipv "*" </dev/null 2>"$off" & pid=$!
		sleep 0.5; kill $pid' sh "$p" "$LOG" "$LOG.off" "$BIN/echo" "${AS_ROOT[@]}"
	grep -q "bound TCP port $p on 0.0.0.0 (IPv4)" "$LOG"
	grep -q "bound TCP port $p on \[::\] (IPv6)" "$LOG"
	grep -q "bound TCP port $p on 0.0.0.0 (IPv4)" "$LOG.off"
	run grep -c "bound TCP" "$LOG.off"
	assert_output 1
	# ipv 6 alone, where there is none, is an error, not a silent IPv4.
	run timeout 10 unshare -n sh -c 'ip link set lo up; sysctl -qw net.ipv6.conf.all.disable_ipv6=1
		exec "$@" </dev/null' sh "$BIN/echo" "${AS_ROOT[@]}" --port "localhost:$p/IPv6"
	assert_equal "$status" 100
}

@test "bad port specs, hosts, ipv and proto values are usage errors, exit 100" {
	local v
	for v in '--port=' '--port=:' '--port=localhost:' '--port=[::1]' '--port=a:b:IPv4' \
	    '--port=host:70000' '--port=[::1:80' '--port=relative.sock|unix' '--port=/x|sock_dgram|unix' \
	    '--port=127.0.0.1:1/udp --port=127.0.0.1:2' '--ipv=5' '--ipv=IPv7' '--proto=sctp' '--proto=ssl' '--listen=0' '--listen=99999' \
	    '--host=bad!host' 'port=x y'; do
		# shellcheck disable=SC2086
		run --separate-stderr timeout 5 "$BIN/echo" "${AS_ROOT[@]}" $v </dev/null
		assert_equal "$status" 100 || fail "$v: $stderr"
		[[ $stderr == *fatal:* ]] || fail "$v: $stderr"
	done
}

@test "listen N is the backlog of the sockets bound here" {
	local p
	p=$(free_port)
	standalone "$p" "$BIN/echo" "${AS_ROOT[@]}" --log "$LOG" listen=7 --port "127.0.0.1:$p"
	# ss shows a listening socket's backlog as its Send-Q.
	run ss -Hltn "sport = :$p"
	assert_output --regexp "^LISTEN +0 +7 "
}

@test "under an activator the binding keys are ignored, with one debug note" {
	local conf=$BATS_TEST_TMPDIR/c.conf
	printf 'port 1\nhost 192.0.2.1\nipv 6\nproto tcp\nlisten 5\n' >"$conf"
	activate inetd "$BIN/echo" --conf-file "$conf" --log-level 4
	assert_equal "$(printf 'served\n' | talk "$PORT")" served
	wait_log "$ACTIVATE_LOG" 'the binding keys \(port, host, ipv, proto, listen N\) are ignored'
	run grep -c 'binding keys' "$ACTIVATE_LOG"
	assert_output 1
	kill_bg
	: >"$ACTIVATE_LOG"
	activate listen "$BIN/echo" --conf-file "$conf" --log-level 4
	assert_equal "$(printf 'accept loop\n' | talk "$PORT")" 'accept loop'
	wait_log "$ACTIVATE_LOG" 'handed the listening sockets over: the binding keys'
}

@test "the sample test.conf's syslog lines, uncommented, log to syslog as they say" {
	local conf=$BATS_TEST_TMPDIR/syslog.conf syslog=$BATS_TEST_TMPDIR/syslog
	[ ! -e /dev/log ] || skip "/dev/log belongs to a running syslog daemon; not replacing it"
	sed 's/^#\(log_file\|syslog_\)/\1/' "$SAMPLE" | grep -v '^\(user\|group\|pid_file\|background\|port\|host\|ipv\)' \
	    >"$conf"
	printf 'syslog_facility local3\n' >>"$conf"
	grep -qx 'log_file       Sys::Syslog' "$conf"
	start_catcher /dev/log "$syslog"
	PROTO=TCP TCPREMOTEIP=127.0.0.1 run feed 'a\n' "$BIN/echo" --conf-file "$conf"
	assert_success
	assert_out 'a\n'
	# local3 (19) * 8 + info (6) = 158; the ident and pid as syslog_ident and syslog_logopt say.
	wait_log "$syslog" '^<158>.* myserver\[[0-9]+\]: served peer=127\.0\.0\.1'
	[ ! -s "$ERR" ]
	# The facility reaches the journal's field too; a bad one is an error.
	run --separate-stderr "$BIN/echo" syslog_facility=locl3 </dev/null
	assert_equal "$status" 100
	run --separate-stderr "$BIN/echo" syslog_logsock=inet </dev/null
	assert_equal "$status" 100
	run --separate-stderr "$BIN/echo" syslog_logopt='pid|nope' </dev/null
	assert_equal "$status" 100
}

@test "double_reverse_lookups refuses a client with no name that resolves back; debug only logs" {
	# 127.0.0.1 is localhost, which resolves back; 127.0.0.2 has no name here.
	getent hosts 127.0.0.2 >/dev/null && skip "127.0.0.2 has a name on this machine"
	getent hosts 127.0.0.1 | grep -qw localhost || skip "127.0.0.1 is not localhost here"
	PROTO=TCP TCPREMOTEIP=127.0.0.1 run feed 'a\n' "$BIN/echo" double_reverse_lookups=1 --log-level 3
	assert_success
	assert_out 'a\n'
	PROTO=TCP TCPREMOTEIP=127.0.0.2 run feed 'a\n' "$BIN/echo" --double-reverse-lookups
	assert_equal "$status" 1
	assert_out_empty
	grep -q 'rule="double-reverse-lookups: 127.0.0.2 has no host name"' "$ERR"
	# Before any rule: an allow for the address does not let it through.
	PROTO=TCP TCPREMOTEIP=127.0.0.2 run feed 'a\n' "$BIN/echo" --reverse-lookups double \
	    --cidr-allow 127.0.0.0/8
	assert_equal "$status" 1
	# autofail refuses even a good name, saying it would have passed; debug refuses nobody.
	PROTO=TCP TCPREMOTEIP=127.0.0.1 run feed 'a\n' "$BIN/echo" --reverse-lookups double-autofail
	assert_equal "$status" 1
	grep -q 'rule="double-reverse-lookups autofail: localhost (of 127.0.0.1) resolves back"' "$ERR"
	PROTO=TCP TCPREMOTEIP=127.0.0.2 run feed 'a\n' "$BIN/echo" --double-reverse-lookups=debug \
	    --log-level 4
	assert_success
	assert_out 'a\n'
	grep -q 'double reverse: 127.0.0.2: host "" has no host name' "$ERR"
	# A later double_reverse_lookups no undoes reverse_lookups double (a conf file's, say).
	PROTO=TCP TCPREMOTEIP=127.0.0.2 run feed 'a\n' "$BIN/echo" --reverse-lookups double \
	    --double-reverse-lookups no
	assert_success
	assert_out 'a\n'
}

# An accept loop (Accept=no) reading conf file $1, started by its first connection.
reloadable() {
	printf 'log_level 3\n' >"$1"
	activate listen "$BIN/echo" --conf-file "$1"
	assert_equal "$(printf 'first\n' | talk "$PORT")" first
}

# Holds a connection to port $1 open: sends "one", waits for $2 to exist,
# sends "two"; what it read is in $3.
held_session() {
	python3 - "$1" "$2" "$3" <<'EOF' &
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
out = open(sys.argv[3], "wb")
s.sendall(b"one\n"); out.write(s.recv(100)); out.flush()
for _ in range(200):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.05)
s.sendall(b"two\n"); out.write(s.recv(100)); out.close()
EOF
	HELD=$!
}

@test "HUP: running sessions finish under the old settings, new ones get the new configuration" {
	local conf=$BATS_TEST_TMPDIR/c.conf pid
	reloadable "$conf"
	pid=$SPID
	held_session "$PORT" "$BATS_TEST_TMPDIR/go" "$BATS_TEST_TMPDIR/held"
	wait_until 5 "the held session got no answer" test -s "$BATS_TEST_TMPDIR/held"
	printf 'deny 127\\.0\\.0\\.1\nrefusal_message reloaded\\n\n' >>"$conf"
	kill -HUP "$pid"
	wait_log "$ACTIVATE_LOG" 'SIGHUP: re-executing with the new configuration \(running sessions, 1,'
	wait_count "$ACTIVATE_LOG" 'accepting on 1 socket' 2
	# The same process (systemd's MainPID stays right), the new rules.
	assert_equal "$(printf 'new\n' | talk "$PORT")" reloaded
	kill -0 "$pid"
	# The new image knows the old session is running: a graceful stop waits for it.
	kill -QUIT "$pid"
	wait_log "$ACTIVATE_LOG" 'stopping: 1 connections to finish \(SIGQUIT\)'
	touch "$BATS_TEST_TMPDIR/go"
	wait_until 10 "the held session never ended" not kill -0 "$HELD"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/held")" "$(printf 'one\ntwo')"
	# Recorded as served under the old rules, and reaped by the new image, which then ends.
	wait_log "$ACTIVATE_LOG" 'served peer=127\.0\.0\.1:[0-9]+ .*rule="no rules" .*in=8 out=8'
	wait_until 10 "the server never ended" not kill -0 "$pid"
}

@test "five HUPs 20 ms apart: one process goes on serving, the last configuration in force" {
	local conf=$BATS_TEST_TMPDIR/c.conf pid i
	reloadable "$conf"
	pid=$SPID
	printf 'deny 127\\.0\\.0\\.1\nrefusal_message reloaded\\n\n' >>"$conf"
	for i in 1 2 3 4 5; do
		kill -HUP "$pid"
		sleep 0.02
	done
	# Each HUP either starts a reload or lands in one (pending across its exec): at least one
	# re-exec, at most five, and the process is the same one, serving.
	wait_log "$ACTIVATE_LOG" 'SIGHUP: re-executing'
	wait_until 20 "the HUPs never settled" eval '[ "$(grep -c "accepting on 1 socket" "$ACTIVATE_LOG")" -eq \
	    "$(( $(grep -c "SIGHUP: re-executing" "$ACTIVATE_LOG") + 1 ))" ]'
	assert_equal "$(printf 'new\n' | talk "$PORT")" reloaded
	kill -0 "$pid"
	run grep -c 'SIGHUP: re-executing' "$ACTIVATE_LOG"
	[ "$output" -ge 1 ] && [ "$output" -le 5 ]
	run grep -E 'error|fatal' "$ACTIVATE_LOG"
	assert_output ''
}

@test "HUP with a broken configuration keeps the old one serving, and the log says why" {
	local conf=$BATS_TEST_TMPDIR/c.conf pid
	reloadable "$conf"
	pid=$SPID
	printf 'deny 127\\.0\\.0\\.1\nallow (unclosed\n' >>"$conf"
	kill -HUP "$pid"
	wait_log "$ACTIVATE_LOG" 'SIGHUP: the new configuration fails \(exit 100\): still serving the old one'
	grep -q 'SIGHUP: the check said: .*line 3: allow: bad pattern' "$ACTIVATE_LOG"
	assert_equal "$(printf 'still\n' | talk "$PORT")" still
	run grep -c 'accepting on 1 socket' "$ACTIVATE_LOG"
	assert_output 1
	# A key the new file misspells is as bad.
	printf 'log_level 3\nlog_levle 4\n' >"$conf"
	kill -HUP "$pid"
	wait_log "$ACTIVATE_LOG" 'the check said: .*unknown key "log_levle"'
	assert_equal "$(printf 'and still\n' | talk "$PORT")" 'and still'
}

@test "a handed-over pid that is not a child holds up no stop and gets no signal" {
	local p pid other
	sleep 60 3>&- &
	other=$!
	p=$(free_port)
	# As a HUP's re-exec hands over its children: one is (a session, here a sleep the
	# shell started before its exec), one is not this process's child.
	systemd-socket-activate -l "127.0.0.1:$p" sh -c 'sleep 30 & exec env \
	    INETKIT_REEXEC="$$:3;$!,'"$other"'" "$0" --log-level 3 --drain-timeout 1' \
	    "$BIN/echo" 2>"$LOG" 3>&- &
	pid=$!
	wait_listen "$p" "$pid"
	assert_equal "$(printf 'one\n' | talk "$p")" one
	wait_log "$LOG" 'served peer='
	kill -TERM "$pid"
	wait_log "$LOG" 'stopping: 1 connections to finish'
	wait_until 5 "the accept loop waited for a pid that is not its child" not kill -0 "$pid"
	# Alive, not a zombie that bats has yet to reap.
	[[ $(ps -o stat= -p "$other") == S* ]] || fail "SIGTERM sent to a process that is not a child"
	kill "$other"
}

@test "QUIT stops accepting and lets running sessions finish" {
	local pid
	activate listen "$BIN/echo" --log-level 3 --drain-timeout 10
	assert_equal "$(printf 'first\n' | talk "$PORT")" first
	pid=$SPID
	held_session "$PORT" "$BATS_TEST_TMPDIR/go" "$BATS_TEST_TMPDIR/held"
	wait_until 5 "the held session got no answer" test -s "$BATS_TEST_TMPDIR/held"
	kill -QUIT "$pid"
	wait_log "$ACTIVATE_LOG" 'stopping: 1 connections to finish \(SIGQUIT\)'
	run socat -t 1 -T 2 - "TCP:127.0.0.1:$PORT" </dev/null
	assert_failure
	kill -0 "$pid"
	touch "$BATS_TEST_TMPDIR/go"
	wait_until 10 "QUIT never ended the server" not kill -0 "$pid"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/held")" "$(printf 'one\ntwo')"
}

# udp LINE... (tests/udpclient.py) against 127.0.0.1:$PORT.
udp() {
	timeout 60 python3 "$TOP/tests/udpclient.py" 127.0.0.1 "$PORT" "$@"
}

@test "proto udp: the port is a UDP socket, served by the datagram loop; with stream ports, exit 100" {
	local conf=$BATS_TEST_TMPDIR/c.conf
	PORT=$(free_port 4 udp)
	printf 'proto udp\nport 127.0.0.1:%s\nlog_level 4\n' "$PORT" >"$conf"
	bg "$BIN/echo" "${AS_ROOT[@]}" --conf-file "$conf" --log "$LOG" </dev/null
	SPID=${BG_PIDS##* }
	wait_udp "$PORT" "$SPID"
	run udp 'text=Hello UDP\n'
	assert_output "reply 10 exact from 127.0.0.1 $PORT"
	grep -q "bound UDP port $PORT on 127.0.0.1" "$LOG"
	# Net::Server's /udp suffix is the same; lcecho serves no datagrams.
	run --separate-stderr timeout 5 "$BIN/lcecho" "${AS_ROOT[@]}" --port "127.0.0.1:$(free_port 4 udp)/udp" </dev/null
	assert_failure 100
	[[ $stderr == *"which inetkit-lcecho does not serve"* ]] || fail "$stderr"
	run --separate-stderr timeout 5 "$BIN/echo" "${AS_ROOT[@]}" --port "127.0.0.1:1/udp" --port "127.0.0.1:2" </dev/null
	assert_failure 100
	[[ $stderr == *"proto udp and stream ports in one process"* ]] || fail "$stderr"
}

@test "HUP in the datagram loop: the record so far (end=reload), the same pid, the new rules; a bad file keeps the old; QUIT ends it" {
	local conf=$BATS_TEST_TMPDIR/c.conf pid
	PORT=$(free_port 4 udp)
	printf 'port 127.0.0.1:%s/udp\nlog_level 3\n' "$PORT" >"$conf"
	bg "$BIN/echo" "${AS_ROOT[@]}" --conf-file "$conf" --log "$LOG" </dev/null
	pid=${BG_PIDS##* }
	wait_udp "$PORT" "$pid"
	run udp 'text=before\n'
	assert_output "reply 7 exact from 127.0.0.1 $PORT"
	printf 'cidr_deny 127.0.0.1/32\n' >>"$conf"
	kill -HUP "$pid"
	wait_log "$LOG" 'served proto=udp .*datagrams_in=1 datagrams_out=1 .*end=reload'
	wait_count "$LOG" 'serving datagrams on 1 socket' 2
	kill -0 "$pid"
	run udp 'text=after\n'
	assert_output none
	# A broken file: the old configuration (and its denial) stays.
	printf 'cidr_deny not-an-address\n' >>"$conf"
	kill -HUP "$pid"
	wait_log "$LOG" 'SIGHUP: the new configuration fails \(exit 100\): still serving the old one'
	run udp 'text=still denied\n'
	assert_output none
	run grep -c 'serving datagrams on 1 socket' "$LOG"
	assert_output 2
	kill -QUIT "$pid"
	wait_until 10 "QUIT never ended the datagram loop" not kill -0 "$pid"
	wait_log "$LOG" 'served proto=udp .*drop_rule=1 .*end=term'
}

@test "HUP under --chroot and --user: run again from the file it started from, the conf file read inside the root, the log file kept" {
	local root=$BATS_TEST_TMPDIR/root conf=$BATS_TEST_TMPDIR/etc/c.conf pid
	# The conf file's path names the same file outside the root (at the start) and inside it
	# (at a reload): a hard link at that path inside the root.
	mkdir -p "$BATS_TEST_TMPDIR/etc" "$root$BATS_TEST_TMPDIR/etc"
	chmod -R go+rX "$BATS_TEST_TMPDIR"
	printf 'log_level 3\n' >"$conf"
	chmod 644 "$conf"
	ln "$conf" "$root$conf"
	root_libs "$root" "$BIN/echo"
	# A SANITIZE=1 build, run again inside the root at the HUP, reads its options and does
	# its leak check through /proc: there it gets one, in a mount namespace of its own.
	local pre=()
	if ldd "$BIN/echo" 2>/dev/null | grep -q libasan; then
		mkdir -p "$root/proc"
		pre=(unshare -m sh -c 'mount --bind /proc "$0/proc" && exec "$@"' "$root")
	fi
	PORT=$(free_port)
	standalone "$PORT" "${pre[@]}" "$BIN/echo" --user nobody --chroot "$root" --conf-file "$conf" \
	    --listen "127.0.0.1:$PORT" --log "$LOG"
	pid=$SPID
	assert_equal "$(printf 'first\n' | talk "$PORT")" first
	printf 'deny 127\\.0\\.0\\.1\nrefusal_message reloaded\\n\n' >>"$conf"
	kill -HUP "$pid"
	# The log file, which nobody could open (and which is outside the root), still gets the lines.
	wait_count "$LOG" 'accepting on 1 socket' 2
	assert_equal "$(printf 'new\n' | talk "$PORT")" reloaded
	kill -0 "$pid"
	run sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status"
	assert_output "$(id -u nobody)"
	assert_equal "$(readlink "/proc/$pid/root")" "$root"
	wait_log "$LOG" 'refused peer=127\.0\.0\.1'
}

# Net::Server's sample, as it stands, names the user somebody and the group
# everybody: made here if missing (we are root), kept after (idempotent).
sample_accounts() {
	getent group everybody >/dev/null || groupadd -r everybody
	id somebody >/dev/null 2>&1 || useradd -r -M -d /nonexistent -s /usr/sbin/nologin somebody
}

# Copies of the programs where somebody may run them (a private checkout is not).
sample_copies() {
	SHARED=$(mktemp -d /tmp/inetkit-sample.XXXXXX)
	chmod 755 "$SHARED"
	cp "$BIN/echo" "$BIN/lcecho" "$BIN/cmdserver" "$BIN/blockip" "$BIN/tls" "$BIN/relay" "$SHARED/"
	: >"$SHARED/empty.list"
	: >"$SHARED/empty.htpasswd"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
	    -days 2 -keyout "$SHARED/k.pem" -out "$SHARED/c.pem" 2>/dev/null
	chmod 644 "$SHARED"/*
	chmod 755 "$SHARED/echo" "$SHARED/lcecho" "$SHARED/cmdserver" "$SHARED/blockip" "$SHARED/tls" \
	    "$SHARED/relay"
}

# What the sample writes outside the test's own directory, put back as it was.
sample_save() {
	[ ! -e /var/log/server.log ] || mv /var/log/server.log "$BATS_TEST_TMPDIR/server.log.saved"
	[ ! -e /tmp/server.pid ] || { echo "/tmp/server.pid exists: another server?" >&2; return 1; }
	SAMPLE_SAVED=1
}
sample_restore() {
	local pid
	if [ -s /tmp/server.pid ]; then
		pid=$(cat /tmp/server.pid)
		kill "$pid" 2>/dev/null || true
	fi
	rm -f /tmp/server.pid /var/log/server.log
	[ ! -e "$BATS_TEST_TMPDIR/server.log.saved" ] || mv "$BATS_TEST_TMPDIR/server.log.saved" /var/log/server.log
	[ -z "${SHARED:-}" ] || rm -rf "$SHARED"
}

# $1 of the program under test answers on both ports as the program does.
sample_answers() {
	local prog=$1 port
	for port in 20205 20204; do
		case $prog in
		echo|blockip|relay) assert_equal "$(printf 'Hi %s\n' "$port" | talk "$port")" "Hi $port" ;;
		lcecho) assert_equal "$(printf 'Hi %s\n' "$port" | talk "$port")" "hi $port" ;;
		# A login given up is a refusal, and its penalty (1 s) would refuse the next port.
		cmdserver) printf '' | talk "$port" | grep -q 'Login:' || fail "no Login: on $port"
		    sleep 1.2 ;;
		tls) assert_equal "$(printf 'Tls %s\n' "$port" | timeout 10 openssl s_client -quiet \
		    -connect "127.0.0.1:$port" 2>/dev/null)" "Tls $port" ;;
		esac
	done
}

@test "Net::Server's sample test.conf, as it stands, through every program, stand-alone" {
	local prog pid args bport
	sample_accounts
	sample_copies
	sample_save
	# relay's backend: an echo of its own, in its accept loop.
	bport=$(free_port)
	bg "$SHARED/echo" --listen "127.0.0.1:$bport" --user root </dev/null 3>&-
	wait_listen "$bport"
	for prog in echo lcecho cmdserver blockip tls relay; do
		case $prog in
		relay) args=("127.0.0.1:$bport") ;;
		# PROGRAM writes its record in blockip's log file, at a level of its own.
		blockip) args=("$SHARED/empty.list" "$SHARED/echo" --log-level 3) ;;
		tls) args=(--cert "$SHARED/c.pem" --key "$SHARED/k.pem" "$SHARED/echo") ;;
		cmdserver) args=(--htpasswd "$SHARED/empty.htpasswd") ;;
		*) args=() ;;
		esac
		# background 1: the command returns once the server is up (3>&-: bats waits for fd 3).
		run timeout 20 "$SHARED/$prog" --conf-file "$SAMPLE" "${args[@]}" </dev/null 3>&-
		assert_success || fail "$prog: $output"
		wait_file /tmp/server.pid
		pid=$(cat /tmp/server.pid)
		wait_listen 20205 "$pid"
		wait_listen 20204 "$pid"
		# Bound as the comment in the sample says: 127.0.0.1, both ports, nothing else.
		assert_equal "$(ss -Hltn 'sport = :20205 or sport = :20204' | awk '{print $4}' | sort | tr '\n' ' ')" \
		    "127.0.0.1:20204 127.0.0.1:20205 "
		# The server runs as somebody, in the group everybody.
		assert_equal "$(ps -o user= -p "$pid")" somebody
		assert_equal "$(ps -o group= -p "$pid")" everybody
		sample_answers "$prog"
		# log_file and log_level 3: the records are in /var/log/server.log.
		wait_log /var/log/server.log "inetkit-${prog/blockip/echo}\\[[0-9]+\\]: (info|notice): (served|refused|login) "
		kill -TERM "$pid"
		wait_until 20 "$prog never stopped" not kill -0 "$pid"
		wait_until 5 "$prog left its pid file" not test -e /tmp/server.pid
		rm -f /var/log/server.log
	done
	sample_restore
}

@test "Net::Server's sample test.conf under an activator: served as somebody, binding keys ignored" {
	sample_accounts
	sample_copies
	sample_save
	activate inetd "$SHARED/echo" --conf-file "$SAMPLE" --log-level 4
	assert_equal "$(printf 'via inetd\n' | talk "$PORT")" 'via inetd'
	wait_log /var/log/server.log 'user somebody: running as uid'
	wait_log /var/log/server.log 'the binding keys \(port, host, ipv, proto, listen N\) are ignored'
	wait_log /var/log/server.log 'served peer=127\.0\.0\.1'
	[ ! -e /tmp/server.pid ]
	run ss -Hltn 'sport = :20205 or sport = :20204'
	assert_output ''
	kill_bg
	# Accept=no: the accept loop on systemd's socket, as somebody, not detached (systemd
	# watches its pid), its pid in the pid file; the ports of the sample are not bound.
	activate listen "$SHARED/echo" --conf-file "$SAMPLE" --log-level 4
	assert_equal "$(printf 'via Accept=no\n' | talk "$PORT")" 'via Accept=no'
	assert_equal "$(ps -o user= -p "$SPID")" somebody
	wait_file /tmp/server.pid
	assert_equal "$(cat /tmp/server.pid)" "$SPID"
	wait_log /var/log/server.log '\-\-background and \-\-setsid are the stand-alone loop.s: ignored'
	run ss -Hltn 'sport = :20205 or sport = :20204'
	assert_output ''
	kill "$SPID"
	wait_until 10 "the accept loop never ended" not kill -0 "$SPID"
	wait_until 5 "its pid file stayed" not test -e /tmp/server.pid
	sample_restore
}
