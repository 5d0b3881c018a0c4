#!/usr/bin/env bats
# echo and lcecho under real activators: systemd-socket-activate with and
# without --inetd, and xinetd with our generated entries; where the logs go.

load helpers
load activation_helpers

setup_file() {
	export DEST="$BATS_FILE_TMPDIR/dest"
	install_tree "$DEST"
}

teardown() {
	kill_bg
	remove_catchers
}

# talk_hex PORT BYTES [SOCAT-OPTS]: sends printf-escaped BYTES, prints the reply as hex.
talk_hex() {
	# shellcheck disable=SC2059
	printf "$2" | timeout 15 socat -t 5 -T 10 - "TCP:127.0.0.1:$1${3:+,$3}" | hex
}

@test "echo under systemd-socket-activate --inetd echoes the exact bytes and stops at a blank line" {
	activate inetd "$BIN/echo"
	run talk_hex "$PORT" 'Hello\r\n\000\377 x\r\n\r\nnot echoed\n'
	assert_success
	assert_output "$(hexf 'Hello\r\n\000\377 x\r\n')"
}

@test "lcecho under systemd-socket-activate --inetd lower-cases lines and echoes the blank line" {
	activate inetd "$BIN/lcecho"
	run talk_hex "$PORT" 'Hello, WORLD \303\204\r\n\r\nAFTER\n'
	assert_success
	assert_output "$(hexf 'hello, world \303\204\r\n\r\n')"
}

@test "echo with LISTEN_FDS=1 serves the connection on fd 3" {
	activate fds "$BIN/echo"
	run talk_hex "$PORT" 'Hello\r\n\r\n'
	assert_success
	assert_output "$(hexf 'Hello\r\n')"
	run talk_hex "$PORT" 'ABC'
	assert_success
	assert_output "$(hexf 'ABC')"
}

@test "lcecho with LISTEN_FDS=1 serves the connection on fd 3" {
	activate fds "$BIN/lcecho"
	run talk_hex "$PORT" 'ONE\nTwo\n\nthree\n'
	assert_success
	assert_output "$(hexf 'one\ntwo\n\n')"
}

@test "with LISTEN_FDS=1 the peer is the fd 3 socket's: an allow rule for it lets it in" {
	activate fds "$BIN/echo" --cidr-allow 127.0.0.1/32
	run talk_hex "$PORT" 'in\n'
	assert_success
	assert_output "$(hexf 'in\n')"
}

@test "with LISTEN_FDS=1 a denied peer gets zero bytes and is logged with its address" {
	local cport
	activate fds "$BIN/echo" --cidr-deny 127.0.0.1/32
	cport=$(free_port)
	run talk_hex "$PORT" 'Hello\n' "sourceport=$cport"
	assert_success
	assert_output ""
	wait_log -F "$ACTIVATE_LOG" "refused peer=127.0.0.1:$cport " 5
	run grep -F "refused peer=127.0.0.1:$cport " "$ACTIVATE_LOG"
	assert_success
	assert_output --partial 'rule="cidr-deny 127.0.0.1/32"'
	assert_output --partial 'status=1'
	run child_status 1
	assert_output 1
}

@test "with --inetd a denied peer gets zero bytes and exits 1" {
	local cport
	activate inetd "$BIN/lcecho" --cidr-deny 127.0.0.1/32
	cport=$(free_port)
	run talk_hex "$PORT" 'Hello\n' "sourceport=$cport"
	assert_success
	assert_output ""
	wait_log -F "$ACTIVATE_LOG" "refused peer=127.0.0.1:$cport " 5
	run child_status 1
	assert_output 1
}

@test "LISTEN_FDS=2 with fds that are not listening sockets is a configuration error (exit 100), nothing served" {
	# LISTEN_PID is the inner shell's pid, which exec keeps.
	run bash -c 'LISTEN_PID=$$ LISTEN_FDS=2 exec "$0" </dev/null' "$BIN/echo"
	assert_failure 100
	assert_output --partial "LISTEN_FDS=2"
}

@test "echo under xinetd, from our generated entry, echoes the exact bytes" {
	start_xinetd "$DEST/etc/xinetd.d/inetkit-echo"
	run talk_hex "$PORT" 'Hello\r\nsecond \001\n\r\nnot echoed\n'
	assert_success
	assert_output "$(hexf 'Hello\r\nsecond \001\n')"
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-echo status=0" 5
}

# A checkout cloned into root's 0700 home: xinetd's service users cannot
# reach the programs built there, so start_xinetd serves a staged copy.
@test "under xinetd, programs built inside a 0700 directory are served from a world-reachable staged copy" {
	local home=$BATS_TEST_TMPDIR/home stage kid
	mkdir -m 700 "$home"
	cp -a "$BIN" "$home/build"
	run runuser -u inetkit-echo -- test -x "$home/build/echo"
	assert_failure
	BIN=$home/build start_xinetd "$DEST/etc/xinetd.d/inetkit-echo"
	stage=$STAGE
	[[ $stage != "$home"/* && $stage != "$TOP"/* ]] || fail "staged at $stage"
	world_reachable "$stage/echo"
	run bash -c "{ printf 'staged\n'; sleep 1; } | timeout 15 socat -t 5 -T 10 - TCP:127.0.0.1:$PORT"
	assert_success
	assert_output staged
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-echo status=0" 5
	# The directories the programs came from were left as they were.
	assert_equal "$(stat -c %a "$home")" 700
	# Gone with the test's background processes.
	kill_bg
	[ ! -e "$stage" ] || fail "$stage left behind"
}

@test "lcecho under xinetd, from our generated entry, lower-cases the exact bytes" {
	start_xinetd "$DEST/etc/xinetd.d/inetkit-lcecho"
	run talk_hex "$PORT" 'MiXeD\r\n\r\nAFTER\n'
	assert_success
	assert_output "$(hexf 'mixed\r\n\r\n')"
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-lcecho status=0" 5
}

@test "under xinetd a refused client gets zero bytes although fd 2 is its socket" {
	start_xinetd "$DEST/etc/xinetd.d/inetkit-echo" --log-level 4 --cidr-deny 127.0.0.1/32
	run talk_hex "$PORT" 'Hello\n'
	assert_success
	assert_output ""
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-echo status=1" 5
}

@test "under xinetd an idle timeout closes with only the echo, no log bytes" {
	start_xinetd "$DEST/etc/xinetd.d/inetkit-echo" --log-level 4 --idle-timeout 1
	run bash -c "{ printf 'hi\n'; sleep 8; } | timeout 15 socat -t 1 - TCP:127.0.0.1:$PORT | od -An -v -tx1 | tr -d ' \n'"
	assert_success
	assert_output "$(hexf 'hi\n')"
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-echo status=0" 5
}

@test "under xinetd --log stderr and --log journal still send the client no log bytes" {
	[ ! -e /run/systemd/journal/socket ] ||
		skip "a journal socket exists here: --log journal would reach it"
	start_xinetd "$DEST/etc/xinetd.d/inetkit-echo" --log stderr --log-level 4 --cidr-deny 127.0.0.1/32
	run talk_hex "$PORT" 'Hello\n'
	assert_success
	assert_output ""
	kill_bg
	start_xinetd "$DEST/etc/xinetd.d/inetkit-echo" --log journal --log-level 4 --idle-timeout 1
	run bash -c "{ printf 'hi\n'; sleep 8; } | timeout 15 socat -t 1 - TCP:127.0.0.1:$PORT | od -An -v -tx1 | tr -d ' \n'"
	assert_success
	assert_output "$(hexf 'hi\n')"
}

@test "under xinetd the connection record goes to syslog" {
	local cport log=$BATS_TEST_TMPDIR/syslog
	[ ! -e /dev/log ] || skip "/dev/log belongs to a running syslog daemon; not replacing it"
	start_catcher /dev/log "$log"
	start_xinetd "$DEST/etc/xinetd.d/inetkit-echo" --log-level 4 --cidr-deny 127.0.0.1/32
	cport=$(free_port)
	run talk_hex "$PORT" 'Hello\n' "sourceport=$cport"
	assert_success
	assert_output ""
	wait_log -F "$log" "refused peer=127.0.0.1:$cport " 5
	run grep -aoF "inetkit-echo[" "$log"
	assert_success
	run grep -aF "refused peer=127.0.0.1:$cport " "$log"
	assert_output --partial 'rule="cidr-deny 127.0.0.1/32"'
	assert_output --partial 'status=1'
}

@test "with JOURNAL_STREAM naming fd 2 the record goes to the journal socket with INETKIT_ fields" {
	local got=$BATS_TEST_TMPDIR/journal err=$BATS_TEST_TMPDIR/stderr
	catch_journal "$got"
	: >"$err"
	run bash -c 'JOURNAL_STREAM=$(stat -c %d:%i "$1") REMOTE_ADDR=192.0.2.7 REMOTE_PORT=4711 \
	    exec timeout 10 "$2" --log-level 3 2>"$1" <<<"Hello"' _ "$err" "$BIN/echo"
	assert_success
	assert_output "Hello"
	wait_log -F "$got" "INETKIT_STATUS=" 5
	run cat -v "$got"
	assert_line "MESSAGE=served peer=192.0.2.7:4711 local=- rule=\"no rules\" user=- in=6 out=6 $(
	    grep -ao 'duration=[0-9.]*s' "$got") status=0 end=eof"
	assert_line "PRIORITY=6"
	assert_line "SYSLOG_IDENTIFIER=inetkit-echo"
	assert_line "INETKIT_PEER=192.0.2.7:4711"
	assert_line "INETKIT_VERDICT=served"
	assert_line "INETKIT_BYTES_IN=6"
	assert_line "INETKIT_STATUS=0"
	# Nothing fell back to stderr.
	run cat "$err"
	assert_output ""
}

@test "a JOURNAL_STREAM that is not exactly DEV:INODE of fd 2 leaves the record on stderr" {
	local got=$BATS_TEST_TMPDIR/journal err=$BATS_TEST_TMPDIR/stderr
	local js bad
	catch_journal "$got"
	: >"$err"
	js=$(stat -c %d:%i "$err")
	for bad in "${js}x" " $js" "+$js" "${js%%:*}" "${js%%:*}:" ":${js#*:}" "${js/:/ : }"; do
		run bash -c 'JOURNAL_STREAM=$3 REMOTE_ADDR=192.0.2.7 \
		    exec timeout 10 "$2" --log-level 3 2>"$1" <<<"Hello"' _ "$err" "$BIN/echo" "$bad"
		assert_success
		assert_output "Hello"
		grep -q '^inetkit-echo\[[0-9]*\]: info: served peer=192.0.2.7 ' "$err" ||
			fail "JOURNAL_STREAM='$bad': stderr has no record: $(cat "$err")"
	done
	# The well-formed value, last, goes to the journal: the catcher works.
	run bash -c 'JOURNAL_STREAM=$3 REMOTE_ADDR=192.0.2.7 \
	    exec timeout 10 "$2" --log-level 3 2>"$1" <<<"Hello"' _ "$err" "$BIN/echo" "$js"
	assert_success
	wait_log -F "$got" "INETKIT_STATUS=" 5
	run grep -c '^MESSAGE=' "$got"
	assert_output 1
}

@test "without JOURNAL_STREAM a stderr file gets the record and no datagram is sent" {
	local err=$BATS_TEST_TMPDIR/stderr
	run bash -c 'REMOTE_ADDR=192.0.2.7 exec timeout 10 "$2" --log-level 3 2>"$1" <<<"Hello"' \
	    _ "$err" "$BIN/echo"
	assert_success
	assert_output "Hello"
	run cat "$err"
	assert_output --regexp '^inetkit-echo\[[0-9]+\]: info: served peer=192.0.2.7 '
}
