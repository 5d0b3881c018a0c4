#!/usr/bin/env bats
# The PreFork personality (--prefork N, Net::Server's PreForkSimple): N
# workers, forked before any client, each accepting and serving connections
# one after another in its own process. What is checked here: a connection
# leaves nothing of its client to the next one in the same worker; the
# limits and penalties hold across workers; a worker is replaced after
# --max-requests and when it dies; TERM and QUIT drain; HUP re-execs with
# the sockets kept, the running sessions finishing in their old workers.

load helpers

setup() {
	LOG="$BATS_TEST_TMPDIR/server.log"
	loadgen_ready
}

teardown() {
	exec 4>&- 2>/dev/null || true
	kill_bg
}

# The server's workers (its direct children), one pid a line, sorted.
workers() {
	tr ' ' '\n' < "/proc/$SPID/task/$SPID/children" | sed '/^$/d' | sort -n
}

nworkers() {
	workers | wc -l
}

# wait_workers N: until the server has exactly N workers (10 s).
wait_workers() {
	wait_until 10 "never $1 workers" eval "[ \"\$(nworkers)\" -eq $1 ]" ||
		{ echo "workers: $(workers | tr '\n' ' ')" >&2; return 1; }
}

# The pids that logged a record whose line holds $1 ("served", "refused"), one a line, in order.
record_pids() {
	sed -n "s/.* inetkit-[a-z]*\[\([0-9]*\)\]: [a-z]*: $1 peer=.*/\1/p" "$LOG"
}

# Holds a session open from source $2 (default 127.0.0.1) to port $1: the
# test writes to fd 4 (a fifo) and the replies go to $HELD; sets HOLD_PID.
HELD=$BATS_TEST_TMPDIR/held.out
hold_session() {
	local fifo=$BATS_TEST_TMPDIR/held.in
	rm -f "$fifo"
	mkfifo "$fifo"
	socat -t 5 - "TCP:127.0.0.1:$1,bind=${2:-127.0.0.1}" <"$fifo" >"$HELD" 3>&- &
	HOLD_PID=$!
	BG_PIDS="${BG_PIDS:-} $HOLD_PID"
	exec 4>"$fifo"
}

# held_says TEXT: sends TEXT and a newline in the held session, and waits for its echo.
held_says() {
	printf '%s\n' "$1" >&4
	wait_log -F "$HELD" "$1" 5
}

# The one worker serves 20 connections, then 400 more, 4 at a time, every
# echo intact: it is still the same process, with no descriptor and no
# mapping (VmSize) more than after the first 20.
same_worker_after_400() {
	local w fds vm
	wait_workers 1
	w=$(workers)
	run "$LOADGEN" burst "127.0.0.1:$PORT" 1 20
	assert_output --partial "intact=20"
	fds=$(ls "/proc/$w/fd" | wc -l)
	vm=$(awk '/^VmSize/ { print $2 }' "/proc/$w/status")
	run "$LOADGEN" burst "127.0.0.1:$PORT" 4 400
	assert_output --partial "intact=400"
	[ "$(workers)" = "$w" ]
	[ "$(ls "/proc/$w/fd" | wc -l)" -eq "$fds" ]
	[ "$(awk '/^VmSize/ { print $2 }' "/proc/$w/status")" -eq "$vm" ]
}

@test "--prefork 2: two workers, forked before any client, each serving many connections in turn" {
	listen_on "$BIN/echo" --prefork 2
	wait_workers 2
	local before i
	before=$(workers)
	for i in $(seq 1 12); do
		run talk "$PORT" <<<"line $i"
		assert_output "line $i"
	done
	wait_count "$LOG" "served peer=127.0.0.1" 12
	# No fork a connection: the same two processes, and each record is one of theirs.
	[ "$(workers)" = "$before" ]
	record_pids served | sort -u > "$BATS_TEST_TMPDIR/pids"
	run comm -23 "$BATS_TEST_TMPDIR/pids" <(echo "$before")
	assert_output ""
	[ "$(record_pids served | sort | uniq -c | sort -rn | awk 'NR == 1 { print $1 }')" -ge 6 ]
}

@test "a clean state per connection: one client's verdict and rule are not the next one's" {
	listen_on "$BIN/echo" --prefork 1 --cidr-deny 127.0.0.2/32 --cidr-allow 127.0.0.1/32 \
	    --penalty 0
	run talk "$PORT" bind=127.0.0.2 <<<"refused"
	assert_output ""
	run talk "$PORT" <<<"allowed"
	assert_output "allowed"
	wait_log "$LOG" 'served peer=127\.0\.0\.1:[0-9]+ local=[^ ]+ rule="cidr-allow 127\.0\.0\.1/32"'
	run grep -c 'refused peer=127.0.0.2' "$LOG"
	assert_output 1
	# One worker served both: the second client was served after the first, in the same process.
	[ "$(record_pids '\(served\|refused\)' | sort -u | wc -l)" -eq 1 ]
}

@test "a clean state per connection: the client a PROXY header named is not the next one's" {
	listen_on "$BIN/echo" --prefork 1 --proxy-protocol --trusted-proxy 127.0.0.1/32
	run talk "$PORT" < <(printf 'PROXY TCP4 192.0.2.7 127.0.0.1 4321 7\r\nfirst\n')
	assert_output "first"
	# LOCAL (v1 UNKNOWN) names no client: the connection is the proxy's own.
	run talk "$PORT" < <(printf 'PROXY UNKNOWN\r\nsecond\n')
	assert_output "second"
	wait_count "$LOG" "served peer=" 2
	run grep -c 'served peer=192.0.2.7:4321 ' "$LOG"
	assert_output 1
	wait_log "$LOG" 'served peer=127\.0\.0\.1:[0-9]+ '
}

@test "a clean state per connection: a user name, a login and a filter's state are not the next one's" {
	htpasswd -bcB -C 5 "$BATS_TEST_TMPDIR/users" alice alice-pass 2>/dev/null
	listen_on "$BIN/cmdserver" --prefork 1 --htpasswd "$BATS_TEST_TMPDIR/users" --fail-delay 0 \
	    --penalty 0
	run talk "$PORT" < <(printf 'alice\nalice-pass\nquit\n')
	assert_output --partial "Welcome to inetkit cmdserver"
	# The next client, in the same worker, gives no password: not alice's session.
	run talk "$PORT" < <(printf 'date\n')
	refute_output --partial "Welcome"
	run talk "$PORT" < <(printf '')
	wait_count "$LOG" " peer=127.0.0.1" 3
	run grep -c 'user=alice ' "$LOG"
	assert_output 1
	wait_log "$LOG" 'login abandoned peer=[^ ]+ local=[^ ]+ rule="[^"]*" user=date '
	[ "$(record_pids '[a-z ]*' | sort -u | wc -l)" -eq 1 ]
}

@test "a clean state per connection: a session that timed out leaves no timer to the next" {
	listen_on "$BIN/echo" --prefork 1 --session-timeout 2 --timeout-message 'bye\n'
	run talk "$PORT" < <(sleep 3)
	assert_output "bye"
	wait_log "$LOG" "end=session"
	# The same worker: the next session has its own 2 s, from its own start.
	run talk "$PORT" < <(sleep 1; echo "in time")
	assert_output "in time"
	wait_count "$LOG" "served peer=" 2
	run grep -c "end=session" "$LOG"
	assert_output 1
}

@test "a clean state per connection: the bytes a client sent are wiped from its worker's memory" {
	listen_on "$BIN/echo" --prefork 1
	wait_workers 1
	local w marker
	w=$(workers)
	marker="secret-$RANDOM$RANDOM-of-the-first-client"
	run talk "$PORT" <<<"$marker"
	assert_output "$marker"
	wait_log "$LOG" "served peer="
	# Between its sessions the worker holds none of them (the kernel's socket buffers are gone too).
	run "$TOP/tests/memscan.py" "$w" "$marker"
	assert_success
	assert_output 0
	# The scan does see what a session holds: a session still running, in its buffers.
	hold_session "$PORT"
	held_says "$marker-held"
	run "$TOP/tests/memscan.py" "$w" "$marker-held"
	[ "$output" -ge 1 ]
}

@test "a clean state per connection: a password is not left in the worker that checked it" {
	htpasswd -bcB -C 5 "$BATS_TEST_TMPDIR/users" alice alice-pass 2>/dev/null
	local w
	listen_on "$BIN/cmdserver" --prefork 1 --htpasswd "$BATS_TEST_TMPDIR/users" --fail-delay 0 \
	    --penalty 0
	wait_workers 1
	w=$(workers)
	run talk "$PORT" < <(printf 'alice\nwrong-%s-password\nquit\n' "$w")
	assert_output --partial "Access Denied"
	wait_log "$LOG" "login failed"
	run "$TOP/tests/memscan.py" "$w" "wrong-$w-password"
	assert_success
	assert_output 0
}

@test "a clean state per connection: 400 connections leave a worker no descriptor and no memory more" {
	listen_on "$BIN/echo" --prefork 1 --max-per-source 0 --max-per-netblock 0
	same_worker_after_400
}

@test "a clean state per connection: echo --rfc862 too, after 400 connections" {
	listen_on "$BIN/echo" --rfc862 --prefork 1 --max-per-source 0 --max-per-netblock 0
	same_worker_after_400
}

@test "limits across workers: --max-per-source counts the clients of every worker" {
	listen_on "$BIN/echo" --prefork 3 --max-per-source 1 --refusal-message 'busy\n'
	wait_workers 3
	hold_session "$PORT"
	held_says "held"
	# Another worker takes the next connection: the one in session is counted all the same.
	run talk "$PORT" <<<"second"
	assert_output "busy"
	wait_log "$LOG" "refused 127.0.0.1: max-per-source"
	run talk "$PORT" bind=127.0.0.2 <<<"other source"
	assert_output "other source"
	# Once the held session ends, its worker's slot is free again.
	exec 4>&-
	wait_log "$LOG" "served peer=127.0.0.1"
	run talk "$PORT" <<<"third"
	assert_output "third"
	[ "$(record_pids refused | wc -l)" -eq 0 ]
	[ "$(sed -n 's/.*\[\([0-9]*\)\]: notice: refused 127.0.0.1: max-per-source/\1/p' "$LOG" |
	    sort -u | wc -l)" -ge 1 ]
}

@test "limits across workers: rates and penalties are one table for every worker" {
	listen_on "$BIN/echo" --prefork 2 --max-requests 1 --max-rate 3/60 \
	    --cidr-deny 127.0.0.2/32 --cidr-allow 127.0.0.1/32 --penalty 30
	local i
	for i in 1 2 3; do
		run talk "$PORT" <<<"ok $i"
		assert_output "ok $i"
	done
	run talk "$PORT" <<<"fourth"
	assert_output ""
	wait_log "$LOG" "refused 127.0.0.1: max-rate"
	# A source refused by a rule in one worker is penalized in the others.
	run talk "$PORT" bind=127.0.0.2 <<<"denied"
	wait_log "$LOG" "penalized 127.0.0.2 for 30s"
	run talk "$PORT" bind=127.0.0.2 <<<"again"
	wait_log "$LOG" "refused 127.0.0.2: penalized"
	# --max-requests 1: every connection was a worker of its own.
	[ "$(record_pids served | sort -u | wc -l)" -eq 3 ]
	[ "$(sed -n 's/.*\[\([0-9]*\)\]: notice: refused 127.0.0.[12]: .*/\1/p' "$LOG" |
	    sort -u | wc -l)" -eq 2 ]
}

@test "a worker is replaced after --max-requests connections, and when it dies" {
	listen_on "$BIN/echo" --prefork 2 --max-requests 3 --max-per-source 0
	wait_workers 2
	local i w
	for i in $(seq 1 9); do
		run talk "$PORT" <<<"n$i"
		assert_output "n$i"
	done
	wait_count "$LOG" "served peer=" 9
	[ "$(record_pids served | sort | uniq -c | awk '$1 > 3' | wc -l)" -eq 0 ]
	[ "$(record_pids served | sort -u | wc -l)" -ge 3 ]
	wait_workers 2
	w=$(workers | head -n 1)
	kill -KILL "$w"
	wait_log "$LOG" "worker $w killed by signal 9 after"
	wait_workers 2
	workers | grep -qvx "$w"
	run grep -c "^$w\$" <(workers)
	assert_output 0
	run talk "$PORT" <<<"after"
	assert_output "after"
}

@test "a worker that dies young is replaced after a second, not in a loop" {
	listen_on "$BIN/echo" --prefork 1
	wait_workers 1
	local w t0 t1
	w=$(workers)
	kill -KILL "$w"
	t0=${EPOCHREALTIME/./}
	wait_log "$LOG" "worker $w killed by signal 9 after 0\.[0-9]* s: replaced in 1 s"
	wait_until 5 "never replaced" eval '[ -n "$(workers)" ] && [ "$(workers)" != "$w" ]'
	t1=${EPOCHREALTIME/./}
	[ $(( (t1 - t0) / 1000 )) -ge 800 ]
}

@test "SIGTERM drains: idle workers leave at once, a running session finishes" {
	listen_on "$BIN/echo" --prefork 3 --drain-timeout 10
	wait_workers 3
	hold_session "$PORT"
	held_says "before"
	kill -TERM "$SPID"
	wait_log "$LOG" "stopping: 3 workers, 1 of them serving, to finish \(SIGTERM\)"
	wait_workers 1
	# Nothing is accepted any more, and the session is still served.
	held_says "during"
	exec 4>&-
	wait_log "$LOG" "served peer=127.0.0.1.* end=eof"
	wait_until 5 "the server did not exit" not kill -0 "$SPID"
}

@test "a drain shuts the sockets bound here: a client that comes during it is refused, not queued" {
	listen_on "$BIN/echo" --prefork 2 --drain-timeout 10
	wait_workers 2
	hold_session "$PORT"
	held_says "held"
	kill -TERM "$SPID"
	wait_log "$LOG" "stopping: 2 workers, 1 of them serving"
	wait_workers 1
	run timeout 5 socat -T 2 - "TCP:127.0.0.1:$PORT" <<<"too late"
	assert_failure
	assert_output --partial "Connection refused"
	held_says "still served"
}

@test "SIGTERM to a worker: between sessions it leaves and is replaced; during one it ends it, with its record" {
	listen_on "$BIN/echo" --prefork 1
	wait_workers 1
	local w
	w=$(workers)
	kill -TERM "$w"
	wait_until 5 "worker $w still there" eval "[ -n \"\$(workers)\" ] && [ \"\$(workers)\" != $w ]"
	run talk "$PORT" <<<"new worker"
	assert_output "new worker"
	# A normal exit (0): replaced at once, and no error said.
	run grep -c "worker $w " "$LOG"
	assert_output 0
	w=$(workers)
	hold_session "$PORT"
	held_says "held"
	kill -TERM "$w"
	wait_log "$LOG" "\[$w\]: .*served peer=127\.0\.0\.1.* end=term"
	wait_until 5 "worker $w still there" eval "[ -n \"\$(workers)\" ] && [ \"\$(workers)\" != $w ]"
	run talk "$PORT" <<<"next"
	assert_output "next"
}

@test "SIGQUIT drains too, and --drain-timeout ends a session that outlasts it, with its record" {
	listen_on "$BIN/echo" --prefork 2 --drain-timeout 1
	wait_workers 2
	hold_session "$PORT"
	held_says "before"
	kill -QUIT "$SPID"
	wait_log "$LOG" "stopping: 2 workers, 1 of them serving, to finish \(SIGQUIT\)"
	held_says "during"
	wait_log "$LOG" "served peer=127.0.0.1.* end=term" 5
	wait_until 5 "the server did not exit" not kill -0 "$SPID"
}

@test "SIGHUP: new workers with the new configuration; a running session finishes in its old one" {
	local conf=$BATS_TEST_TMPDIR/echo.conf old
	: > "$conf"
	listen_on "$BIN/echo" --prefork 2 --conf-file "$conf" --penalty 0
	wait_workers 2
	old=$(workers)
	hold_session "$PORT"
	held_says "old config"
	echo "cidr-deny 127.0.0.3/32" > "$conf"
	kill -HUP "$SPID"
	wait_log "$LOG" "SIGHUP: re-executing"
	# Two new workers, and the old one still serving; the idle old one is gone.
	wait_workers 3
	[ "$(comm -12 <(workers) <(echo "$old") | wc -l)" -eq 1 ]
	run talk "$PORT" bind=127.0.0.3 <<<"denied now"
	assert_output ""
	wait_log "$LOG" 'refused peer=127\.0\.0\.3:[0-9]+ local=[^ ]+ rule="cidr-deny 127\.0\.0\.3/32"'
	held_says "still served"
	exec 4>&-
	wait_workers 2
	[ "$(comm -12 <(workers) <(echo "$old") | wc -l)" -eq 0 ]
	kill -0 "$SPID"
}

@test "--prefork is refused where a connection needs a process of its own, or workers exceed --max-connections" {
	local port
	port=$(free_port)
	run "$BIN/relay" --prefork 2 --listen "127.0.0.1:$port" --user root --log stderr 127.0.0.1:1
	assert_failure 100
	assert_output --partial "option --prefork: inetkit-relay serves a connection in a process of its own"
	run "$BIN/blockip" --prefork 2 --listen "127.0.0.1:$port" --user root --log stderr \
	    "$BATS_TEST_TMPDIR/none" "$BIN/echo"
	assert_failure 100
	assert_output --partial "option --prefork: inetkit-blockip"
	run "$BIN/echo" --prefork 8 --max-connections 4 --listen "127.0.0.1:$port" --user root \
	    --log stderr
	assert_failure 100
	assert_output --partial "8 workers, more than --max-connections 4"
	# Net::Server's PreFork variant that grows and shrinks: refused, saying what there is.
	printf 'min_spare_servers 2\n' > "$BATS_TEST_TMPDIR/spare.conf"
	run "$BIN/echo" --conf-file "$BATS_TEST_TMPDIR/spare.conf" --log stderr <<<"x"
	assert_failure 100
	assert_output --partial "--prefork N keeps N workers (PreForkSimple)"
	# One connection handed over by an activator: --prefork has nothing to do, and is ignored.
	run "$BIN/echo" --prefork 4 --log stderr <<<"on a pipe"
	assert_success
	assert_output "on a pipe"
}

@test "systemd Accept=no: --prefork workers serve the socket systemd passed" {
	activate listen "$BIN/echo" --prefork 2 --log "$LOG" --log-level 3
	run talk "$PORT" <<<"first"
	assert_output "first"
	run talk "$PORT" <<<"second"
	assert_output "second"
	wait_count "$LOG" "served peer=127.0.0.1" 2
	wait_log "$LOG" "prefork: 2 workers"
}
