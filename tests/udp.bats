#!/usr/bin/env bats
# echo over UDP (RFC 862's datagram echo, Net::Server's proto udp, xinetd's
# internal UDP echo): under systemd-socket-activate --datagram (ListenDatagram=,
# Accept=no: the sockets on fd 3 and up), --datagram --inetd (inetd's and
# xinetd's wait = yes: the socket on fd 0), and --listen udp:ADDRESS:PORT.
# Every datagram meets the rules, the block list and the limits on its own;
# the process exits after its idle timeout with one record. The clients are
# tests/udpclient.py (Python sockets) and socat. The tests that need a
# wildcard-bound socket with several local addresses run it in a private
# network namespace, whose only interface is its own loopback.

bats_require_minimum_version 1.5.0

load helpers
load activation_helpers

setup_file() {
	export DEST="$BATS_FILE_TMPDIR/dest"
	install_tree "$DEST"
}

setup() {
	LOG=$BATS_TEST_TMPDIR/log
	: >"$LOG"
}

teardown() {
	kill_bg
	remove_catchers
	[ -z "${LOGDIR:-}" ] || rm -rf "$LOGDIR"
}

# client [--bind SRC] [--wait SECS] [--gap SECS] [--broadcast] HOST PORT ITEM...
# (tests/udpclient.py): one line a datagram, "reply LEN exact|other from
# ADDR PORT" or "none".
client() {
	timeout 60 python3 "$TOP/tests/udpclient.py" "$@"
}

# serve_udp [--host HOST] PROG [ARG...]: PROG --listen udp:HOST:PORT (a free UDP
# port; HOST 127.0.0.1, or ::1) --log $LOG --log-level 4 in the background;
# sets PORT and SPID once the socket is bound.
serve_udp() {
	local host=127.0.0.1 fam=4 spec
	if [ "$1" = --host ]; then
		host=$2
		shift 2
	fi
	case $host in *:*) fam=6 spec="udp:[$host]" ;; *) spec="udp:$host" ;; esac
	PORT=$(free_port "$fam" udp)
	bg "$@" --user root --listen "$spec:$PORT" --log "$LOG" --log-level 4
	SPID=${BG_PIDS##* }
	wait_udp "$PORT" "$SPID"
}

# exited PID [SECS]: once PID, a child of this shell, has exited (10 s at
# most), sets STATUS to its exit status. Never under run or $(...): only
# this shell can wait for its child.
exited() {
	local _pid=$1
	STATUS=
	# shellcheck disable=SC2016
	wait_until "${2:-10}" "process $_pid never exited" \
	    eval '[ ! -e /proc/$_pid ] || grep -q "^[0-9]* (.*) Z" /proc/$_pid/stat' || return 1
	STATUS=0
	wait "$_pid" || STATUS=$?
}

# stop PID: SIGTERM, and exited PID.
stop() {
	kill -TERM "$1"
	exited "$1"
}

# The process's one record in $LOG (waiting for it up to 10 s).
record() {
	wait_log -F "$LOG" "served proto=udp " 10 >/dev/null || return 1
	[ "$(grep -c 'served proto=udp ' "$LOG")" = 1 ] || { echo "not one record:" >&2; cat "$LOG" >&2; return 1; }
	sed -n 's/.*: info: \(served proto=udp .*\)$/\1/p' "$LOG"
}

# assert_record FIELD=VALUE...: each is a field of the record, as written.
assert_record() {
	local r f
	r=" $(record) " || fail "no record"
	for f in "$@"; do
		[[ $r == *" $f "* ]] || fail "no $f in the record: $r"
	done
}

# A private network namespace of this test, its loopback up (127.0.0.0/8 and
# ::1 its only addresses); in_ns runs a command in it. Sets NS_PID.
netns() {
	bg unshare -n sleep 600
	NS_PID=${BG_PIDS##* }
	wait_until 5 "no network namespace" eval '[ "$(readlink /proc/$NS_PID/ns/net)" != "$(readlink /proc/self/ns/net)" ]'
	in_ns ip link set lo up
}

in_ns() {
	nsenter --net="/proc/$NS_PID/ns/net" "$@"
}

# ns_serve PROG [ARG...]: PROG in the namespace, in the background, with
# --log $LOG; sets SPID once its UDP port 8010 is bound (the namespace's
# ports are all free).
ns_serve() {
	bg nsenter --net="/proc/$NS_PID/ns/net" "$@" --user root --log "$LOG" 2>>"$ACTIVATE_LOG"
	SPID=${BG_PIDS##* }
	# shellcheck disable=SC2016
	wait_until 10 "nothing bound to UDP port 8010 in the namespace" \
	    eval '[ "$(in_ns ss -Hlunp "sport = :8010" | grep -c "pid=$SPID,")" -ge 1 ]'
}

# ns_client ARG...: client ARG... (tests/udpclient.py) in the namespace.
ns_client() {
	in_ns timeout 30 python3 "$TOP/tests/udpclient.py" "$@"
}

# --- RFC 862 over UDP, under each activator ------------------------------------------

# The datagrams every activator's test sends: 1, 1472 (an Ethernet MTU's worth),
# 65507 (the largest IPv4 datagram) bytes, every byte value, text, and empty.
ITEMS=(size=1 size=1472 size=65507 allbytes 'text=Hello\r\n\x00\xff' hex=)
EXPECT="reply 1 exact from 127.0.0.1 PORT
reply 1472 exact from 127.0.0.1 PORT
reply 65507 exact from 127.0.0.1 PORT
reply 256 exact from 127.0.0.1 PORT
reply 9 exact from 127.0.0.1 PORT
reply 0 exact from 127.0.0.1 PORT"

@test "systemd ListenDatagram= (--datagram, fd 3): each datagram answered byte for byte, the empty one empty; the idle exit's record" {
	activate dgram "$BIN/echo" --idle-timeout 1 --log "$LOG" --log-level 3
	run client 127.0.0.1 "$PORT" "${ITEMS[@]}"
	assert_success
	assert_output "${EXPECT//PORT/$PORT}"
	exited "$SPID"
	assert_equal "$STATUS" 0
	assert_record datagrams_in=6 datagrams_out=6 in=67245 out=67245 sources=1 drop_rule=0 \
	    drop_loop=0 drop_truncated=0 drop_error=0 status=0 "end=idle timeout" "local=127.0.0.1:$PORT"
	# The activator exec'd the program: one process served every datagram.
	run grep -c "Execing $BIN/echo" "$ACTIVATE_LOG"
	assert_output 1
}

@test "inetd's wait = yes (--datagram --inetd, fd 0): each datagram answered byte for byte" {
	activate dgram-inetd "$BIN/echo" --idle-timeout 1 --log "$LOG" --log-level 3
	run client 127.0.0.1 "$PORT" "${ITEMS[@]}"
	assert_success
	assert_output "${EXPECT//PORT/$PORT}"
	exited "$SPID"
	assert_equal "$STATUS" 0
	assert_record datagrams_in=6 datagrams_out=6 status=0 "end=idle timeout"
}

@test "--listen udp:127.0.0.1:PORT answers byte for byte, does not idle out, and SIGTERM ends it with its record" {
	serve_udp "$BIN/echo" --idle-timeout 1
	run client 127.0.0.1 "$PORT" "${ITEMS[@]}"
	assert_success
	assert_output "${EXPECT//PORT/$PORT}"
	# Nothing would start it again: no idle exit.
	sleep 2
	run client 127.0.0.1 "$PORT" text=later
	assert_output "reply 5 exact from 127.0.0.1 $PORT"
	stop "$SPID"
	assert_equal "$STATUS" 0
	assert_record datagrams_in=7 datagrams_out=7 status=0 end=terminated
	assert_log_line "info: serving datagrams on 1 socket"
}

@test "socat's UDP client (a connected socket: only the server's own address is read) gets the echo" {
	serve_udp "$BIN/echo"
	run bash -c "printf 'Hello socat\n\001\377' | timeout 10 socat -t 2 - UDP:127.0.0.1:$PORT | od -An -tx1 | tr -d ' \n'"
	assert_success
	assert_output "$(hexf 'Hello socat\n\001\377')"
	run bash -c "printf 'datagram' | timeout 10 socat -t 2 - UDP-DATAGRAM:127.0.0.1:$PORT,bind=127.0.0.3"
	assert_output datagram
}

@test "IPv6: ::1 under --listen udp:[::1]:PORT and under ListenDatagram=, up to the largest IPv6 datagram" {
	has_ipv6_loopback || skip "no ::1 here"
	serve_udp --host ::1 "$BIN/echo"
	run client ::1 "$PORT" size=1 size=65527 'text=six\n' hex=
	assert_output "reply 1 exact from ::1 $PORT
reply 65527 exact from ::1 $PORT
reply 4 exact from ::1 $PORT
reply 0 exact from ::1 $PORT"
	stop "$SPID"
	assert_equal "$STATUS" 0
	assert_record "local=[::1]:$PORT" datagrams_in=4 datagrams_out=4
	activate dgram --host ::1 "$BIN/echo" --idle-timeout 1
	run client ::1 "$PORT" size=1472
	assert_output "reply 1472 exact from ::1 $PORT"
}

@test "under a real xinetd, from the installed entry (dgram, wait = yes): answered, the record in the log, started again after the idle exit" {
	getent passwd inetkit-echo-udp >/dev/null || install_users
	# A log the entry's user can write, outside this test's private directory.
	LOGDIR=$(mktemp -d /tmp/inetkit-udp-log.XXXXXX)
	chmod 755 "$LOGDIR"
	install -m 640 -o inetkit-echo-udp /dev/null "$LOGDIR/log"
	start_xinetd "$DEST/etc/xinetd.d/inetkit-echo-udp" --log "$LOGDIR/log" --log-level 3 \
	    --idle-timeout 1
	run client 127.0.0.1 "$PORT" "${ITEMS[@]}"
	assert_output "${EXPECT//PORT/$PORT}"
	# The loop guard holds under xinetd too.
	run client --bind 127.0.0.1:19 --wait 0.5 127.0.0.1 "$PORT" text=chargen
	assert_output none
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-echo-udp status=0" 10
	LOG=$LOGDIR/log
	# xinetd binds [::] for both families: a dual-stack socket.
	assert_record datagrams_in=7 datagrams_out=6 drop_loop=1 "end=idle timeout" status=0 \
	    "local=[::]:$PORT"
	# xinetd takes the socket back, and starts a new process at the next datagram.
	run client 127.0.0.1 "$PORT" 'text=second process'
	assert_output "reply 14 exact from 127.0.0.1 $PORT"
	wait_count "$LOGDIR/log" "served proto=udp .* end=idle timeout" 2
	run grep -c "START: inetkit-echo-udp" "$XINETD_LOG"
	assert_output 2
}

# --- answered from the address it was sent to -----------------------------------------

@test "a wildcard socket (0.0.0.0) answers each datagram from the address it was sent to: 127.0.0.1, 127.0.0.2, 127.9.8.7" {
	netns
	ns_serve "$BIN/echo" --listen udp:0.0.0.0:8010 --log-level 3
	run ns_client --bind 127.0.0.1 127.0.0.2 8010 text=two
	assert_output "reply 3 exact from 127.0.0.2 8010"
	run ns_client --bind 127.0.0.1 127.0.0.1 8010 text=one
	assert_output "reply 3 exact from 127.0.0.1 8010"
	run ns_client --bind 127.0.0.1 127.9.8.7 8010 text=other
	assert_output "reply 5 exact from 127.9.8.7 8010"
	# socat's connected client reads only what comes from the address it sent to.
	run in_ns bash -c "printf 'connected' | timeout 10 socat -t 2 - UDP:127.0.0.2:8010,bind=127.0.0.1"
	assert_output connected
	stop "$SPID"
	assert_equal "$STATUS" 0
	assert_record local=0.0.0.0:8010 datagrams_in=4 datagrams_out=4 sources=1
}

@test "a dual-stack socket ([::], as ListenDatagram= binds it) answers IPv4 and IPv6 each from its address, the first datagram too" {
	netns
	has_ipv6_loopback || skip "no ::1 here"
	# The activator binds [::] for both families, and execs echo at the first datagram,
	# which was queued before echo asked for the datagrams' destinations.
	ns_serve systemd-socket-activate --datagram -l '[::]:8010' "$BIN/echo" --log-level 3 \
	    --idle-timeout 2
	run ns_client --bind 127.0.0.1 127.0.0.2 8010 text=first
	assert_output "reply 5 exact from 127.0.0.2 8010"
	run ns_client --bind 127.0.0.1 127.0.0.3 8010 text=v4
	assert_output "reply 2 exact from 127.0.0.3 8010"
	run ns_client ::1 8010 text=v6
	assert_output "reply 2 exact from ::1 8010"
	exited "$SPID"
	assert_equal "$STATUS" 0
	assert_record "local=[::]:8010" datagrams_in=3 datagrams_out=3 sources=2 "end=idle timeout"
}

@test "a datagram sent to a broadcast address gets no reply, counted" {
	netns
	ns_serve "$BIN/echo" --listen udp:0.0.0.0:8010 --log-level 4
	run ns_client --broadcast --bind 127.0.0.1 127.255.255.255 8010 text=everyone
	assert_output none
	run ns_client --bind 127.0.0.1 127.0.0.1 8010 text=me
	assert_output "reply 2 exact from 127.0.0.1 8010"
	stop "$SPID"
	assert_record datagrams_in=2 datagrams_out=1 drop_broadcast=1
	assert_log_line "a broadcast or multicast address"
}

# --- the loop guard ----------------------------------------------------------------

@test "loop guard: datagrams from ports 7, 13, 19, 37 and from the server's own port get nothing, counted; port 7007 is answered" {
	local p
	serve_udp "$BIN/echo"
	for p in 7 13 19 37; do
		run client --bind "127.0.0.1:$p" --wait 0.5 127.0.0.1 "$PORT" text=loop
		assert_success
		assert_output none
	done
	# The server's own port, from another address (its socket is 127.0.0.1's).
	run client --bind "127.0.0.2:$PORT" --wait 0.5 127.0.0.1 "$PORT" text=loop
	assert_output none
	run client --bind 127.0.0.1:7007 127.0.0.1 "$PORT" text=fine
	assert_output "reply 4 exact from 127.0.0.1 $PORT"
	stop "$SPID"
	assert_record datagrams_in=6 datagrams_out=1 drop_loop=5 drop_rule=0
	assert_log_line "dropped a datagram from 127.0.0.1:7: its source port answers datagrams (loop)"
}

# --- rules, block list and limits, per datagram -------------------------------------------

@test "per-datagram rules: --cidr-deny 127.0.0.2 refuses its datagrams, 127.0.0.1 is answered, in one process" {
	serve_udp "$BIN/echo" --cidr-deny 127.0.0.2/32 --cidr-allow 127.0.0.0/8
	run client --bind 127.0.0.2 --wait 0.5 127.0.0.1 "$PORT" text=denied text=again
	assert_output "none
none"
	run client --bind 127.0.0.1 127.0.0.1 "$PORT" text=allowed
	assert_output "reply 7 exact from 127.0.0.1 $PORT"
	run client --bind 127.0.0.2 --wait 0.5 127.0.0.1 "$PORT" text=still
	assert_output none
	stop "$SPID"
	assert_record datagrams_in=4 datagrams_out=1 drop_rule=3 sources=2
	assert_log_line 'dropped a datagram from 127.0.0.2:[0-9]*: cidr-deny 127.0.0.2/32'
}

@test "per-datagram rules: a --deny pattern, and --allow alone refusing the rest" {
	serve_udp "$BIN/echo" --deny '127\.0\.0\.2' --allow '127\..*'
	run client --bind 127.0.0.2 --wait 0.5 127.0.0.1 "$PORT" text=x
	assert_output none
	run client --bind 127.0.0.5 127.0.0.1 "$PORT" text=y
	assert_output "reply 1 exact from 127.0.0.1 $PORT"
	stop "$SPID"
	assert_record drop_rule=1 datagrams_out=1
	: >"$LOG"
	serve_udp "$BIN/echo" --cidr-allow 127.0.0.1/32
	run client --bind 127.0.0.4 --wait 0.5 127.0.0.1 "$PORT" text=x
	assert_output none
	run client --bind 127.0.0.1 127.0.0.1 "$PORT" text=y
	assert_output "reply 1 exact from 127.0.0.1 $PORT"
}

@test "the block list, per datagram: a listed source gets nothing, and a change to the list holds within seconds" {
	local list=$BATS_TEST_TMPDIR/blocked
	printf '# test\n127.0.0.2\n' >"$list"
	serve_udp "$BIN/echo" --block-list "$list"
	run client --bind 127.0.0.2 --wait 0.5 127.0.0.1 "$PORT" text=listed
	assert_output none
	run client --bind 127.0.0.1 127.0.0.1 "$PORT" text=fine
	assert_output "reply 4 exact from 127.0.0.1 $PORT"
	# Listed now: looked at again at most a second later.
	printf '127.0.0.1\n' >>"$list"
	# shellcheck disable=SC2016
	wait_until 5 "127.0.0.1 still answered" \
	    eval '[ "$(client --bind 127.0.0.1 --wait 0.3 127.0.0.1 "$PORT" text=now)" = none ]'
	run client --bind 127.0.0.3 127.0.0.1 "$PORT" text=other
	assert_output "reply 5 exact from 127.0.0.1 $PORT"
	stop "$SPID"
	assert_equal "$STATUS" 0
	run record
	[[ $output =~ drop_blocklist=([0-9]+) ]] || fail "$output"
	[ "${BASH_REMATCH[1]}" -ge 2 ] || fail "$output"
	assert_log_line 'dropped a datagram from 127.0.0.2:[0-9]*: 127.0.0.2'
}

@test "the block list unusable: refuses every datagram (--block-list-on-error deny), said once, not per datagram" {
	serve_udp "$BIN/echo" --block-list "$BATS_TEST_TMPDIR/missing"
	run client --wait 0.3 127.0.0.1 "$PORT" 3*text=x
	assert_output "none
none
none"
	stop "$SPID"
	assert_record drop_blocklist=3
	run grep -c "unusable: No such file or directory: refusing every datagram's source" "$LOG"
	assert_output 1
}

@test "--max-rate 3/60 per source: the fourth datagram on gets nothing, another source is still answered" {
	serve_udp "$BIN/echo" --max-rate 3/60
	run client --bind 127.0.0.1 --wait 0.5 127.0.0.1 "$PORT" 5*text=r
	assert_output "reply 1 exact from 127.0.0.1 $PORT
reply 1 exact from 127.0.0.1 $PORT
reply 1 exact from 127.0.0.1 $PORT
none
none"
	run client --bind 127.0.0.3 127.0.0.1 "$PORT" text=other
	assert_output "reply 5 exact from 127.0.0.1 $PORT"
	stop "$SPID"
	assert_record datagrams_in=6 datagrams_out=4 drop_rate=2 sources=2
}

@test "--max-rate with --state-dir holds across the processes an activator starts one after the other" {
	local state=$BATS_TEST_TMPDIR/state
	mkdir -m 700 "$state"
	activate dgram "$BIN/echo" --max-rate 2/60 --state-dir "$state" --idle-timeout 1 \
	    --log "$LOG" --log-level 3
	run client --bind 127.0.0.1 --wait 0.5 127.0.0.1 "$PORT" 2*text=a
	assert_output "reply 1 exact from 127.0.0.1 $PORT
reply 1 exact from 127.0.0.1 $PORT"
	exited "$SPID"
	assert_equal "$STATUS" 0
	[ -f "$state/inetkit-echo.sources" ]
	: >"$LOG"
	activate dgram "$BIN/echo" --max-rate 2/60 --state-dir "$state" --idle-timeout 1 \
	    --log "$LOG" --log-level 3
	run client --bind 127.0.0.1 --wait 0.5 127.0.0.1 "$PORT" text=b
	assert_output none
	exited "$SPID"
	assert_record datagrams_in=1 datagrams_out=0 drop_rate=1
}

@test "--reverse-lookups: a --deny pattern on the host name refuses the datagrams of that host, said at the start" {
	grep -Eq '^127\.0\.0\.1[[:space:]]+localhost' /etc/hosts || skip "no localhost line in /etc/hosts"
	serve_udp "$BIN/echo" --reverse-lookups --deny 'localhost' --allow '.*'
	run client --bind 127.0.0.1 --wait 0.5 127.0.0.1 "$PORT" text=named
	assert_output none
	stop "$SPID"
	assert_record drop_rule=1
	assert_log_line "reverse-lookups: a lookup for every datagram that reaches the rules"
}

# --- the process's end, and its record ----------------------------------------------

@test "the idle exit: --idle-timeout 1 ends the process a second after its last datagram, exit 0, one record" {
	local t0 t1 ms
	activate dgram "$BIN/echo" --idle-timeout 1 --log "$LOG" --log-level 3
	run client --gap 0.4 127.0.0.1 "$PORT" 4*text=tick
	assert_output "$(printf 'reply 4 exact from 127.0.0.1 %s\n' "$PORT" "$PORT" "$PORT" "$PORT")"
	t0=${EPOCHREALTIME//[!0-9]/}
	exited "$SPID"
	t1=${EPOCHREALTIME//[!0-9]/}
	assert_equal "$STATUS" 0
	ms=$(( (t1 - t0) / 1000 ))
	[ "$ms" -ge 700 ] && [ "$ms" -le 2500 ] || fail "exited $ms ms after the last datagram"
	assert_record datagrams_in=4 datagrams_out=4 "end=idle timeout" status=0
	run record
	[[ $output =~ duration=([0-9]+)\.[0-9]{3}s ]] || fail "$output"
	[ "${BASH_REMATCH[1]}" -ge 2 ] && [ "${BASH_REMATCH[1]}" -le 4 ] || fail "duration: $output"
}

@test "--idle-timeout 0 never idles out; --session-timeout 2 ends a busy process at 2 s" {
	activate dgram "$BIN/echo" --idle-timeout 0 --log "$LOG" --log-level 3
	run client 127.0.0.1 "$PORT" text=a
	sleep 2
	kill -0 "$SPID" || fail "exited with --idle-timeout 0"
	run client 127.0.0.1 "$PORT" text=b
	assert_output "reply 1 exact from 127.0.0.1 $PORT"
	stop "$SPID"
	assert_record end=terminated datagrams_in=2
	: >"$LOG"
	activate dgram "$BIN/echo" --session-timeout 2 --log "$LOG" --log-level 3
	# A datagram every 0.25 s for 4 s, far inside the idle timeout (60 s).
	run client --gap 0.25 --wait 0.2 127.0.0.1 "$PORT" 16*text=busy
	exited "$SPID"
	assert_equal "$STATUS" 0
	assert_record "end=session timeout" status=0
	run record
	[[ $output =~ duration=([0-9.]+)s ]] || fail "$output"
	le 1.9 "${BASH_REMATCH[1]}" && le "${BASH_REMATCH[1]}" 3 || fail "ended after ${BASH_REMATCH[1]} s"
}

@test "the record counts distinct sources, and every drop by its reason; fields no client can forge" {
	local s
	serve_udp "$BIN/echo" --cidr-deny 127.0.0.9/32 --cidr-allow 127.0.0.0/8
	for s in 127.0.0.1 127.0.0.2 127.0.0.3; do
		run client --bind "$s" 127.0.0.1 "$PORT" 'text=x status=1 end=forged'
		assert_output "reply 21 exact from 127.0.0.1 $PORT"
	done
	run client --bind 127.0.0.9 --wait 0.3 127.0.0.1 "$PORT" text=no
	run client --bind 127.0.0.1:13 --wait 0.3 127.0.0.1 "$PORT" text=no
	stop "$SPID"
	run record
	assert_output --regexp "^served proto=udp local=127\.0\.0\.1:$PORT datagrams_in=5 datagrams_out=3 in=67 out=63 sources=4 drop_rule=1 drop_blocklist=0 drop_rate=0 drop_loop=1 drop_truncated=0 drop_broadcast=0 drop_full=0 drop_error=0 duration=[0-9]+\.[0-9]{3}s status=0 end=terminated\$"
}

@test "the count of sources is bounded: 4200 sources are counted up to 4096 at most, and the record says there were more" {
	serve_udp "$BIN/echo" --log-level 3
	# One datagram from each of 127.1.0.1 on, each waiting for its echo.
	run timeout 120 python3 - "$PORT" <<'EOF'
import socket, sys
port, got = int(sys.argv[1]), 0
for i in range(1, 4201):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.1.%d.%d" % (i >> 8, i & 255), 0))
    s.settimeout(2)
    s.sendto(b"s", ("127.0.0.1", port))
    try:
        got += s.recvfrom(16)[0] == b"s"
    except socket.timeout:
        pass
    s.close()
print(got)
EOF
	assert_output 4200
	stop "$SPID"
	run record
	[[ $output =~ \ sources=([0-9]+)\+\  ]] || fail "no capped count: $output"
	[ "${BASH_REMATCH[1]}" -le 4096 ] && [ "${BASH_REMATCH[1]}" -ge 4000 ] || fail "$output"
	assert_output --partial "datagrams_in=4200 datagrams_out=4200 "
}

@test "with JOURNAL_STREAM naming fd 2 the record goes to the journal with INETKIT_ fields" {
	local got=$BATS_TEST_TMPDIR/journal err=$BATS_TEST_TMPDIR/stderr
	catch_journal "$got"
	: >"$err"
	PORT=$(free_port 4 udp)
	bg bash -c 'JOURNAL_STREAM=$(stat -c %d:%i "$1") exec "$2" --user root --listen "udp:127.0.0.1:$3" \
	    --log-level 3 2>"$1"' _ "$err" "$BIN/echo" "$PORT"
	SPID=${BG_PIDS##* }
	wait_udp "$PORT" "$SPID"
	run client 127.0.0.1 "$PORT" text=journal
	assert_output "reply 7 exact from 127.0.0.1 $PORT"
	stop "$SPID"
	assert_equal "$STATUS" 0
	wait_log -F "$got" "INETKIT_END=" 5
	run cat -v "$got"
	assert_line "INETKIT_PROTO=udp"
	assert_line "INETKIT_LOCAL=127.0.0.1:$PORT"
	assert_line "INETKIT_DATAGRAMS_IN=1"
	assert_line "INETKIT_DATAGRAMS_OUT=1"
	assert_line "INETKIT_BYTES_IN=7"
	assert_line "INETKIT_SOURCES=1"
	assert_line "INETKIT_DROP_LOOP=0"
	assert_line "INETKIT_END=terminated"
	assert_line "SYSLOG_IDENTIFIER=inetkit-echo"
	assert_equal "$(cat "$err")" ""
}

# --- what is refused at the start -------------------------------------------------

@test "a program without a datagram service (lcecho) refuses a UDP socket: exit 100, said why" {
	PORT=$(free_port 4 udp)
	run --separate-stderr "$BIN/lcecho" --listen "udp:127.0.0.1:$PORT"
	assert_failure 100
	[[ $stderr == *"fatal: handed a datagram (UDP) socket, which inetkit-lcecho does not serve"* ]] ||
		fail "stderr: $stderr"
	activate dgram "$BIN/lcecho" --log "$LOG"
	run client --wait 0.5 127.0.0.1 "$PORT" text=x
	assert_output none
	exited "$SPID"
	assert_equal "$STATUS" 100
	assert_log_line "handed a datagram (UDP) socket, which inetkit-lcecho does not serve"
}

@test "datagram and stream sockets in one process are refused (exit 100); so are --proxy-protocol and a bad udp: spec; a taken port is 111" {
	local p q
	p=$(free_port 4 udp) q=$(free_port)
	run --separate-stderr "$BIN/echo" --listen "udp:127.0.0.1:$p" --listen "127.0.0.1:$q"
	assert_failure 100
	[[ $stderr == *"datagram and listening sockets together"* ]] || fail "stderr: $stderr"
	run --separate-stderr "$BIN/echo" --listen "udp:127.0.0.1:$p" --proxy-protocol \
	    --trusted-proxy 127.0.0.1
	assert_failure 100
	[[ $stderr == *"option --proxy-protocol: a PROXY header comes ahead of a stream"* ]] ||
		fail "stderr: $stderr"
	run --separate-stderr "$BIN/echo" --listen "udp:nowhere:$p"
	assert_failure 100
	[[ $stderr == *'option --listen: "nowhere" is not an IP address'* ]] || fail "stderr: $stderr"
	run --separate-stderr "$BIN/echo" --listen "udp:127.0.0.1"
	assert_failure 100
	[[ $stderr == *'"udp:127.0.0.1" is not [udp:]ADDRESS:PORT'* ]] || fail "stderr: $stderr"
	serve_udp "$BIN/echo"
	# No SO_REUSEADDR: a second server cannot share the port's datagrams.
	run --separate-stderr "$BIN/echo" --listen "udp:127.0.0.1:$PORT"
	assert_failure 111
	[[ $stderr == *"unable to bind UDP 127.0.0.1:$PORT: Address already in use"* ]] || fail "stderr: $stderr"
}

# A line of the program's log matching the basic regular expression $1.
assert_log_line() {
	grep -q -- "$1" "$LOG" || fail "no line matching '$1' in the log: $(cat "$LOG")"
}
