#!/usr/bin/env bats
# Accept=no mode (Net::Server's Fork personality): the program gets a
# LISTENING socket, from systemd (Accept=no) or --listen, accepts itself and
# serves each connection in a forked child, under limits.

load helpers

setup() {
	LOG="$BATS_TEST_TMPDIR/server.log"
	loadgen_ready
}

teardown() {
	kill_bg
}

# Holds an idle connection open from source $2 (default 127.0.0.1) to port
# $1 for up to 30 s; sets HOLD_PID (kill it to close the connection).
hold() {
	socat "TCP:127.0.0.1:$1,bind=${2:-127.0.0.1}" "EXEC:sleep 30" 2>/dev/null &
	HOLD_PID=$!
	BG_PIDS="${BG_PIDS:-} $HOLD_PID"
}

# Waits until the server has N children serving (with "down": N at most), up to 10 s.
wait_children() {
	local n=$1
	if [ "${2:-}" = down ]; then
		wait_until 10 "never $n children" eval '[ "$(children)" -le "$n" ]'
	else
		wait_until 10 "never $n children" eval '[ "$(children)" -ge "$n" ]'
	fi
}

# Direct children of the server that are zombies.
zombies() {
	local c n=0
	for c in $(cat "/proc/$SPID/task/$SPID/children" 2>/dev/null); do
		grep -q '^State:.*Z' "/proc/$c/status" 2>/dev/null && n=$((n + 1))
	done
	echo "$n"
}

children() {
	wc -w < "/proc/$SPID/task/$SPID/children"
}

@test "echo --listen serves each connection in a child, bytes intact" {
	listen_on "$BIN/echo"
	run talk "$PORT" <<<"hello"
	assert_success
	assert_output "hello"
	run talk "$PORT" <<<"again"
	assert_output "again"
	wait_count "$LOG" "served peer=127.0.0.1" 2
}

@test "lcecho --listen lower-cases through its filter in the child" {
	listen_on "$BIN/lcecho"
	run talk "$PORT" <<<"fOo BaR"
	assert_output "foo bar"
}

@test "systemd Accept=no: a listening socket on fd 3 starts the accept loop" {
	activate listen "$BIN/echo" --log "$LOG" --log-level 3
	run talk "$PORT" <<<"via fd 3"
	assert_output "via fd 3"
	run talk "$PORT" <<<"second"
	assert_output "second"
	# One process served both: both records carry the same parent's children.
	wait_count "$LOG" "served peer=127.0.0.1" 2
}

@test "a burst of 2000 connections, 50 at a time, gets every echo intact and leaves no zombie" {
	listen_on "$BIN/echo" --max-connections 64 --max-per-source 0 --max-per-netblock 0
	run timeout 120 "$LOADGEN" burst "127.0.0.1:$PORT" 50 2000
	assert_success
	assert_output --partial "conns=2000 intact=2000"
	wait_children 0 down
	[ "$(children)" -eq 0 ]
	[ "$(zombies)" -eq 0 ]
}

@test "--max-connections queues the next client instead of dropping it" {
	listen_on "$BIN/echo" --max-connections 2 --max-per-source 0 --max-per-netblock 0
	hold "$PORT"
	local first=$HOLD_PID
	hold "$PORT"
	wait_children 2
	# The third client connects (the kernel queues it) but is not served yet.
	printf 'third\n' | socat -t 20 -T 30 - "TCP:127.0.0.1:$PORT" >"$BATS_TEST_TMPDIR/third" &
	BG_PIDS="$BG_PIDS $!"
	sleep 1
	[ ! -s "$BATS_TEST_TMPDIR/third" ]
	[ "$(children)" -eq 2 ]
	# A slot frees: the queued client is served.
	kill "$first"
	wait_file "$BATS_TEST_TMPDIR/third"
	run cat "$BATS_TEST_TMPDIR/third"
	assert_output "third"
}

@test "--max-per-source closes a second connection from one address, not from another" {
	listen_on "$BIN/echo" --max-per-source 1 --max-per-netblock 0
	hold "$PORT" 127.0.0.1
	wait_children 1
	run talk "$PORT" <<<"refused"
	assert_output ""
	wait_count "$LOG" "refused 127.0.0.1: max-per-source" 1
	run talk "$PORT" bind=127.0.0.2 <<<"other source"
	assert_output "other source"
}

@test "--max-per-netblock counts a /24 together" {
	listen_on "$BIN/echo" --max-per-source 0 --max-per-netblock 2
	hold "$PORT" 127.0.0.1
	hold "$PORT" 127.0.0.2
	wait_children 2
	run talk "$PORT" bind=127.0.0.3 <<<"same /24"
	assert_output ""
	wait_count "$LOG" "refused 127.0.0.3: max-per-netblock" 1
	run talk "$PORT" bind=127.0.1.3 <<<"next /24"
	assert_output "next /24"
}

@test "--max-per-netblock serves one IPv6 client of a /64 and refuses the second" {
	has_ipv6_loopback || skip "::1 is not available here"
	PORT=$(free_port 6)
	"$BIN/echo" --listen "[::1]:$PORT" --max-per-source 0 --max-per-netblock 1 \
		--log "$LOG" --log-level 3 --user root &
	SPID=$!
	BG_PIDS="${BG_PIDS:-} $SPID"
	wait_listen "$PORT" "$SPID"
	run sh -c "printf 'v6\n' | socat -t 5 -T 10 - TCP6:[::1]:$PORT"
	assert_output "v6"
	socat "TCP6:[::1]:$PORT" "EXEC:sleep 30" 2>/dev/null &
	BG_PIDS="${BG_PIDS:-} $!"
	wait_children 1
	run sh -c "printf 'second\n' | socat -t 5 -T 10 - TCP6:[::1]:$PORT"
	assert_output ""
	wait_count "$LOG" "refused ::1: max-per-netblock" 1
}

# True once 127.0.0.2's penalty has doubled to 6 s; else connects from
# 127.0.0.2 once more, about 0.2 s apart.
doubled_or_knock() {
	grep -q "penalized 127.0.0.2 for 6s" "$LOG" && return 0
	talk "$PORT" bind=127.0.0.2 <<<"x" >/dev/null || true
	sleep 0.15
	return 1
}

@test "a source refused by the rules is penalized, with the penalty doubling" {
	listen_on "$BIN/echo" --cidr-deny 127.0.0.2/32 --cidr-allow 0.0.0.0/0 --penalty 3 \
		--penalty-max 60 --max-per-source 0
	run talk "$PORT" bind=127.0.0.2 <<<"x"
	assert_output ""
	wait_count "$LOG" "penalized 127.0.0.2 for 3s" 1
	run talk "$PORT" bind=127.0.0.2 <<<"x"
	assert_output ""
	wait_count "$LOG" "refused 127.0.0.2: penalized" 1
	# Other sources are untouched.
	run talk "$PORT" bind=127.0.0.1 <<<"fine"
	assert_output "fine"
	# Once the penalty is over the rules refuse it again, and the next penalty is twice as long.
	wait_until 10 "never penalized for 6s" doubled_or_knock || { cat "$LOG"; false; }
}

@test "--penalty 0 turns penalties off" {
	listen_on "$BIN/echo" --cidr-deny 127.0.0.2/32 --cidr-allow 0.0.0.0/0 --penalty 0
	run talk "$PORT" bind=127.0.0.2 <<<"x"
	run talk "$PORT" bind=127.0.0.2 <<<"x"
	wait_count "$LOG" "refused peer=127.0.0.2" 2
	run grep -c "penalized" "$LOG"
	assert_output "0"
}

@test "SIGTERM stops accepting, lets a running session finish, then exits 0" {
	listen_on "$BIN/echo" --drain-timeout 20
	mkfifo "$BATS_TEST_TMPDIR/in"
	socat -T 30 - "TCP:127.0.0.1:$PORT" <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" &
	BG_PIDS="$BG_PIDS $!"
	exec {w}>"$BATS_TEST_TMPDIR/in"
	wait_children 1
	kill -TERM "$SPID"
	wait_count "$LOG" "stopping: 1 connections to finish" 1
	# New clients are turned away: the listening socket is closed.
	run socat -T 2 /dev/null "TCP:127.0.0.1:$PORT"
	assert_failure
	# The running session still works, and the server exits when it ends.
	printf 'still here\n' >&"$w"
	wait_file "$BATS_TEST_TMPDIR/out"
	run cat "$BATS_TEST_TMPDIR/out"
	assert_output "still here"
	exec {w}>&-
	run timeout 10 tail --pid="$SPID" -f /dev/null
	assert_success
	run wait "$SPID"
	assert_success
}

@test "SIGTERM ends sessions still running after --drain-timeout" {
	listen_on "$BIN/echo" --drain-timeout 1 --idle-timeout 0
	hold "$PORT"
	wait_children 1
	kill -TERM "$SPID"
	run timeout 10 tail --pid="$SPID" -f /dev/null
	assert_success
}

@test "--listen with a bad address or a taken port exits 100 or 111 with the option named" {
	run "$BIN/echo" --listen nonsense
	assert_equal "$status" 100
	assert_output --partial "listen"
	PORT=$(free_port)
	listen_on "$BIN/echo"
	run "$BIN/echo" --listen "127.0.0.1:$PORT"
	assert_equal "$status" 111
	assert_output --partial "unable to listen on 127.0.0.1:$PORT"
}

@test "limits out of range exit 100" {
	run "$BIN/echo" --max-connections 0
	assert_equal "$status" 100
	assert_output --partial "max-connections"
	run "$BIN/echo" --max-connections 5000
	assert_equal "$status" 100
}
