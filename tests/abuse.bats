#!/usr/bin/env bats
# Abuse and fault suite (issue 7): hostile and broken clients, missing or
# broken files, signals, and the limits at their boundaries. Every case is
# bounded in time (timeout, polling deadlines) and checks what the client saw
# AND what was logged. Servers run under systemd-socket-activate (the real
# activation path) or on pipes, with the log on stderr or in a file.

load helpers
load proto_helpers
load cmdserver_helpers

setup_file() {
	export FIX
	FIX=$(mktemp -d /tmp/inetkit-abuse.XXXXXX)
	htpasswd -cbm "$FIX/users" dougm foobar 2>/dev/null
}

teardown_file() {
	rm -rf "$FIX"
}

teardown() {
	kill_bg
}

# A client that sends BYTES one byte every INTERVAL seconds (or, with
# "stall", sends them all and then nothing), reads whatever comes back, and
# stops when the server closes or after LIMIT seconds. Prints
#   sent=N got=<python repr> end=eof|reset|open elapsed=SECS
DRIP_PY='
import socket, sys, time, codecs
port, mode, interval, limit = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
data = codecs.escape_decode(sys.argv[5].encode())[0]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
t0 = time.monotonic()
got, sent, end = b"", 0, "open"
if mode == "stall":
    s.sendall(data)
    sent = len(data)
next_send = t0
while time.monotonic() - t0 < limit:
    now = time.monotonic()
    if mode == "drip" and now >= next_send:
        try:
            s.send(data[sent % len(data):sent % len(data) + 1])
            sent += 1
        except (BrokenPipeError, ConnectionResetError):
            end = "reset"
            break
        next_send += interval
    s.settimeout(max(0.01, min(next_send - time.monotonic(), 0.2)) if mode == "drip" else 0.2)
    try:
        b = s.recv(65536)
    except socket.timeout:
        continue
    except ConnectionResetError:
        end = "reset"
        break
    if not b:
        end = "eof"
        break
    got += b
print("sent=%d got=%r end=%s elapsed=%.1f" % (sent, got, end, time.monotonic() - t0))
'

drip() {
	timeout 60 python3 -c "$DRIP_PY" "$@"
}

# Seconds from a drip transcript.
elapsed() {
	sed -n 's/.* elapsed=\([0-9.]*\)$/\1/p' <<<"$1"
}

# within A B X: A <= X <= B (decimals).
within() {
	awk -v a="$1" -v b="$2" -v x="$3" 'BEGIN { exit !(x + 0 >= a + 0 && x + 0 <= b + 0) }' ||
		fail "$3 is not within $1..$2"
}

# The log records (lines) of connection N under activate, as child_log,
# with no control byte in any of them.
record_of() {
	local log
	log=$(child_log "$@") || return 1
	if LC_ALL=C grep -q '[[:cntrl:]]' <<<"$log"; then
		echo "control bytes in the log: $(od -c <<<"$log" | head)" >&2
		return 1
	fi
	printf '%s\n' "$log"
}

# Peak resident size in KiB of PROG ARGS with stdin from FILE, stdout to $OUT;
# its exit status in $BATS_TEST_TMPDIR/rc.
peak_rss() {
	local file=$1
	shift
	local rc=0
	/usr/bin/time -f %M -o "$BATS_TEST_TMPDIR/rss" timeout 30 "$@" <"$file" >"$OUT" \
	    2>"$ERR" || rc=$?
	echo "$rc" >"$BATS_TEST_TMPDIR/rc"
	tail -1 "$BATS_TEST_TMPDIR/rss"
}

# --- slowloris --------------------------------------------------------------------

@test "echo: a 1 byte/s drip is echoed and ended by --session-timeout, exit 0, logged" {
	activate inetd "$BIN/echo" --session-timeout 3 --idle-timeout 60 --log-level 3
	run drip "$PORT" drip 1 15 'abcdefghijklmnop'
	assert_success
	# A byte that arrives as the timeout strikes is never read: the close is then a RST.
	assert_output --regexp "^sent=[3-5] got=b'abcd?e?' end=(eof|reset) elapsed="
	within 2.5 4.5 "$(elapsed "$output")"
	run child_status
	assert_output 0
	run record_of
	assert_success
	assert_output --regexp '^notice: served peer=127\.0\.0\.1:[0-9]+ .* in=[3-5] out=[3-5] duration=[34]\.[0-9]+s status=0 end=session timeout: Connection timed out$'
}

@test "echo: a 1 byte/s drip is progress: a 3 s --idle-timeout does not end it" {
	# 1 byte/s is progress for a 3 s idle timeout: that is what the session timeout is for.
	activate inetd "$BIN/echo" --idle-timeout 3 --log-level 3
	run drip "$PORT" drip 1 5.5 'abcdef'
	assert_success
	assert_output --regexp "^sent=[56] got=b'abcdef?' end=open"
	run record_of
	assert_output --regexp '^info: served peer=127\.0\.0\.1:[0-9]+ .* in=[56] out=[56] duration=5\.[0-9]+s status=0 end=eof$'
}

@test "echo: a client that stalls is ended by --idle-timeout, exit 0, logged" {
	activate inetd "$BIN/echo" --idle-timeout 2 --log-level 3
	run drip "$PORT" stall 0 15 'abc'
	assert_success
	assert_output --regexp "^sent=3 got=b'abc' end=eof elapsed="
	within 1.8 3.5 "$(elapsed "$output")"
	run record_of
	assert_output --regexp '^notice: served peer=127\.0\.0\.1:[0-9]+ .* in=3 out=3 duration=2\.[0-9]+s status=0 end=idle timeout: Connection timed out$'
}

@test "cmdserver: a drip at the Login: prompt is cut by --session-timeout, silently, exit 1" {
	activate inetd "$BIN/cmdserver" --htpasswd "$FIX/users" --fail-delay 0 --session-timeout 3
	run drip "$PORT" drip 1 15 'dougmdougmdougm'
	assert_success
	assert_output --regexp "^sent=[3-5] got=b'Login: ' end=(eof|reset) elapsed="
	within 2.5 4.5 "$(elapsed "$output")"
	run child_status
	assert_output 1
	run record_of
	assert_output --partial 'notice: login abandoned by 127.0.0.1:'
	assert_output --partial 'at the Login: prompt: session timeout'
	assert_output --regexp 'notice: login timeout peer=127\.0\.0\.1:[0-9]+ .* user=- in=[3-5] out=7 .* status=1 end=session timeout'
}

@test "cmdserver: a client that stalls at the Login: prompt is cut by --idle-timeout, exit 1" {
	activate inetd "$BIN/cmdserver" --htpasswd "$FIX/users" --fail-delay 0 --idle-timeout 2
	run drip "$PORT" stall 0 15 'doug'
	assert_success
	assert_output --regexp "^sent=4 got=b'Login: ' end=eof elapsed="
	within 1.8 3.5 "$(elapsed "$output")"
	run child_status
	assert_output 1
	run record_of
	assert_output --partial 'at the Login: prompt: idle timeout'
	assert_output --regexp 'login timeout peer=127\.0\.0\.1:[0-9]+ .* in=4 out=7 .* status=1 end=idle timeout'
}

@test "cmdserver: a client that stalls at the Password: prompt is cut by --idle-timeout" {
	activate inetd "$BIN/cmdserver" --htpasswd "$FIX/users" --fail-delay 0 --idle-timeout 2
	run drip "$PORT" stall 0 15 'dougm\nfoo'
	assert_success
	assert_output --regexp "^sent=9 got=b'Login: Password: ' end=eof elapsed="
	within 1.8 3.5 "$(elapsed "$output")"
	run record_of
	assert_output --partial 'login abandoned by 127.0.0.1'
	assert_output --partial '(user dougm) at a password prompt: idle timeout'
	assert_output --regexp 'login timeout .* user=dougm in=9 out=17 .* status=1 end=idle timeout'
}

# --- a 1 MiB line without LF ------------------------------------------------------

@test "lcecho: a 1 MiB line without LF comes back whole, lowered, in bounded memory" {
	local small big
	head -c 1 /dev/zero | tr '\0' A >"$BATS_TEST_TMPDIR/small"
	head -c 1048576 /dev/zero | tr '\0' A >"$BATS_TEST_TMPDIR/big"
	small=$(peak_rss "$BATS_TEST_TMPDIR/small" "$BIN/lcecho" --log-level 3)
	big=$(peak_rss "$BATS_TEST_TMPDIR/big" "$BIN/lcecho" --log-level 3)
	[ "$(wc -c <"$OUT")" -eq 1048576 ] || fail "got $(wc -c <"$OUT") bytes back"
	[ -z "$(tr -d a <"$OUT" | head -c 1)" ] || fail "not all 'a'"
	# The line is passed on in --max-line pieces, never held whole.
	[ $((big - small)) -lt 512 ] || fail "peak RSS grew from $small KiB to $big KiB"
	run cat "$ERR"
	assert_output --regexp '^inetkit-lcecho\[[0-9]+\]: info: served peer=unknown .* in=1048576 out=1048576 .* status=0 end=eof$'
}

@test "cmdserver: a 1 MiB line without LF at Login:, Password: and as a command, bounded" {
	local small big
	printf 'x' >"$BATS_TEST_TMPDIR/small"
	head -c 1048576 /dev/zero | tr '\0' u >"$BATS_TEST_TMPDIR/user"
	small=$(peak_rss "$BATS_TEST_TMPDIR/small" "$BIN/cmdserver" --htpasswd "$FIX/users" \
	    --fail-delay 0 --log stderr)
	big=$(peak_rss "$BATS_TEST_TMPDIR/user" "$BIN/cmdserver" --htpasswd "$FIX/users" \
	    --fail-delay 0 --log stderr)
	assert_equal "$(cat "$BATS_TEST_TMPDIR/rc")" 1
	assert_out "Login: Password: $DENIED"
	[ $((big - small)) -lt 512 ] || fail "peak RSS grew from $small KiB to $big KiB"
	run grep -c 'login abandoned peer=unknown .* user=- in=1048576 .* status=1 end=eof$' "$ERR"
	assert_output 1

	{ printf 'dougm\n'; head -c 1048576 /dev/zero | tr '\0' p; printf '\n'; } \
	    >"$BATS_TEST_TMPDIR/pass"
	big=$(peak_rss "$BATS_TEST_TMPDIR/pass" "$BIN/cmdserver" --htpasswd "$FIX/users" \
	    --fail-delay 0 --log stderr)
	assert_equal "$(cat "$BATS_TEST_TMPDIR/rc")" 1
	assert_out "Login: Password: $DENIED"
	[ $((big - small)) -lt 512 ] || fail "peak RSS grew from $small KiB to $big KiB"
	run grep -F 'login failed for user dougm from unknown: password over 512 bytes' "$ERR"
	assert_success

	{ printf 'dougm\nfoobar\n'; head -c 1048576 /dev/zero | tr '\0' c; } >"$BATS_TEST_TMPDIR/cmd"
	big=$(peak_rss "$BATS_TEST_TMPDIR/cmd" "$BIN/cmdserver" --htpasswd "$FIX/users" \
	    --fail-delay 0 --log stderr --log-level 3)
	assert_equal "$(cat "$BATS_TEST_TMPDIR/rc")" 0
	assert_out "Login: Password: $WELCOME$USAGE"
	[ $((big - small)) -lt 512 ] || fail "peak RSS grew from $small KiB to $big KiB"
	run grep -c 'served peer=unknown .* user=dougm in=1048589 .* status=0 end=eof$' "$ERR"
	assert_output 1
}

# --- NUL, high and control bytes ----------------------------------------------------

@test "cmdserver: NUL and high bytes in the user name fail the login, escaped in the log" {
	run cmd 'dou\0gm\nfoobar\n' --htpasswd "$FIX/users"
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	run grep -c 'login failed peer=unknown .* user=dou%00gm .* status=1 end=ok$' "$ERR"
	assert_output 1
	run cmd 'd\377\200\376gm\nfoobar\n' --htpasswd "$FIX/users"
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	run grep -F 'login failed for user d%FF%80%FEgm from unknown: unknown user' "$ERR"
	assert_success
}

@test "cmdserver: NUL and high bytes in the password fail the login, never logged" {
	run cmd 'dougm\nfoo\0bar\n' --htpasswd "$FIX/users"
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	run grep -F 'login failed for user dougm from unknown: password over 512 bytes or with a NUL byte' "$ERR"
	assert_success
	run cmd 'dougm\nfoobar\0\n' --htpasswd "$FIX/users"
	assert_failure 1
	run cmd 'dougm\nfoob\377r\n' --htpasswd "$FIX/users"
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	run grep -F 'wrong password' "$ERR"
	assert_success
	run grep -aE 'foob|%FF' "$ERR"
	assert_failure
}

@test "cmdserver: NUL and high bytes in a command get the usage line; the session goes on" {
	run cmd 'dougm\nfoobar\nda\0te\n\377\376\nwho\0\n\0\nquit\nmotd\n' --htpasswd "$FIX/users" \
	    --log-level 3 --utmp /nonexistent
	assert_success
	assert_out "Login: Password: $WELCOME$USAGE$USAGE$USAGE$USAGE"
	run grep -c 'served peer=unknown .* user=dougm .* status=0 end=ok$' "$ERR"
	assert_output 1
}

@test "echo and lcecho pass every byte value 0..255 through unchanged (lcecho lowers A-Z only)" {
	python3 -c 'import sys; sys.stdout.buffer.write(bytes(b for b in range(256) if b != 10) + b"\n")' \
	    >"$BATS_TEST_TMPDIR/all"
	run feed_file "$BATS_TEST_TMPDIR/all" "$BIN/echo" --rfc862
	assert_success
	assert_equal "$(hex "$OUT")" "$(hex "$BATS_TEST_TMPDIR/all")"
	run feed_file "$BATS_TEST_TMPDIR/all" "$BIN/lcecho"
	assert_success
	assert_equal "$(hex "$OUT")" \
	    "$(python3 -c 'print(bytes((b + 32 if 65 <= b <= 90 else b) for b in range(256) if b != 10).hex() + "0a")')"
}

@test "log injection: CR, ESC and a forged %XX in a user name are escaped, one line per record" {
	run cmd 'ev\ril\033[31m%%0Aroot\nx\n' --htpasswd "$FIX/users"
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	run grep -F 'login failed for user ev%0Dil%1B[31m%250Aroot from unknown' "$ERR"
	assert_success
	run grep -c 'user=ev%0Dil%1B\[31m%250Aroot in=' "$ERR"
	assert_output 1
	# No raw CR or ESC anywhere in the log, and no line that does not start as a record.
	run grep -c $'[\r\033]' "$ERR"
	assert_output 0
	run grep -vc '^inetkit-cmdserver\[[0-9]*\]: ' "$ERR"
	assert_output 0
}

@test "log injection: an LF ends the name (it is the line end), it never splits a record" {
	run cmd 'ev\r\nil forged: record\n' --htpasswd "$FIX/users"
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	run grep -c 'user=ev in=' "$ERR"
	assert_output 1
	run grep -c 'forged' "$ERR"
	assert_output 0
}

# --- resets and SIGPIPE -------------------------------------------------------------

@test "echo: a client that resets while the server writes a big echo: exit 0, quiet log" {
	activate inetd "$BIN/echo" --rfc862 --log-level 3
	run dialog -c 127.0.0.1 "$PORT" flood rst
	assert_success
	assert_output "flooded
rst"
	run child_status
	assert_output 0
	run record_of
	assert_success
	# One info record, nothing at warning or error.
	assert_output --regexp '^info: served peer=127\.0\.0\.1:[0-9]+ .* status=0 end=reset(: Connection reset by peer|: Broken pipe)?$'
	[ "${#lines[@]}" -eq 1 ] || fail "more than the record: $output"
}

@test "lcecho: SIGPIPE: the reader of its output goes away mid-write: exit 0, end=reset" {
	head -c 4194304 /dev/zero | tr '\0' 'A' | fold -w 100 >"$BATS_TEST_TMPDIR/big"
	{
		timeout 20 "$BIN/lcecho" --log-level 3 <"$BATS_TEST_TMPDIR/big" 2>"$ERR"
		echo $? >"$BATS_TEST_TMPDIR/rc"
	} | head -c 10 >"$OUT"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/rc")" 0
	assert_out 'aaaaaaaaaa'
	run cat "$ERR"
	assert_output --regexp '^inetkit-lcecho\[[0-9]+\]: info: served peer=unknown .* status=0 end=reset: Broken pipe$'
}

@test "cmdserver: a client that resets after the password, during the fail delay: exit 1" {
	activate inetd "$BIN/cmdserver" --htpasswd "$FIX/users" --fail-delay 1
	run dialog -c 127.0.0.1 "$PORT" recv:7 send:'dougm\nwrong\n' recv:10 rst
	assert_success
	run child_status
	assert_output 1
	run record_of
	assert_output --regexp 'login failed peer=127\.0\.0\.1:[0-9]+ .* user=dougm .* status=1 end=reset'
}

# --- EOF at every cmdserver step ----------------------------------------------------

@test "cmdserver: EOF at Login:, inside the name, at Password:, inside it: Access Denied, exit 1" {
	local input want where
	while IFS='|' read -r input want where; do
		run cmd "$input" --htpasswd "$FIX/users"
		[ "$status" -eq 1 ] || fail "input '$input': exit $status"
		assert_out "$want"
		grep -qF "login abandoned by unknown (user $where" "$ERR" ||
			fail "input '$input': $(cat "$ERR")"
		grep -q 'login abandoned peer=unknown .* status=1 end=eof$' "$ERR" ||
			fail "input '$input': $(cat "$ERR")"
	done <<'EOF'
|Login: Access Denied\n|-) at the Login: prompt: eof
dou|Login: Password: Access Denied\n|dou) at a password prompt: eof
dougm\n|Login: Password: Access Denied\n|dougm) at a password prompt: eof
dougm\r\n|Login: Password: Access Denied\n|dougm) at a password prompt: eof
EOF
	# A password cut by EOF is still a password: checked, and here wrong.
	run cmd 'dougm\nfoob' --htpasswd "$FIX/users"
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	grep -qF 'login failed for user dougm from unknown: wrong password' "$ERR"
}

@test "cmdserver: EOF after login, mid-command and after a command ends the session, exit 0" {
	local input want
	while IFS='|' read -r input want; do
		run cmd "$input" --htpasswd "$FIX/users" --log-level 3 --motd "$FIX/users"
		[ "$status" -eq 0 ] || fail "input '$input': exit $status"
		assert_out "$want"
		grep -q 'served peer=unknown .* user=dougm .* status=0 end=eof$' "$ERR" ||
			fail "input '$input': $(cat "$ERR")"
	done <<'EOF'
dougm\nfoobar\n|Login: Password: Welcome to inetkit cmdserver\nAvailable commands: motd date who quit\n
dougm\nfoobar|Login: Password: Welcome to inetkit cmdserver\nAvailable commands: motd date who quit\n
dougm\nfoobar\nmo|Login: Password: Welcome to inetkit cmdserver\nAvailable commands: motd date who quit\nCommands: motd date who quit\n
dougm\nfoobar\nbogus\n|Login: Password: Welcome to inetkit cmdserver\nAvailable commands: motd date who quit\nCommands: motd date who quit\n
EOF
}

# --- a burst of 10,000 connections -----------------------------------------------

BURST_PY='
import asyncio, sys
port, n, conc = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
bad = []
async def one(i, sem):
    async with sem:
        line = b"burst %06d %s\n" % (i, b"x" * (i % 97))
        for attempt in range(3):
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
                break
            except (ConnectionRefusedError, ConnectionResetError, asyncio.TimeoutError):
                await asyncio.sleep(0.1)
        else:
            bad.append((i, "no connect"))
            return
        w.write(line)
        w.write_eof()
        try:
            got = await asyncio.wait_for(r.read(), 10)
        except Exception as e:
            got = repr(e).encode()
        w.close()
        if got != line:
            bad.append((i, got[:60]))
async def main():
    sem = asyncio.Semaphore(conc)
    await asyncio.gather(*(one(i, sem) for i in range(n)))
asyncio.run(main())
print("ok=%d bad=%d %s" % (n - len(bad), len(bad), bad[:3]))
'

@test "echo: a burst of 10,000 connections, 20 at a time: every echo intact, nothing left" {
	local copy
	copy="$BATS_TEST_TMPDIR/burst-echo"
	cp "$BIN/echo" "$copy"
	activate inetd "$copy" --log-level 3
	run timeout 300 python3 -c "$BURST_PY" "$PORT" 10000 20
	assert_success
	assert_output 'ok=10000 bad=0 []'
	# Every child ends; none is left running once the clients are done.
	wait_until 20 "processes of $copy left" eval '[ "$(pgrep -xf "$copy( .*)?" | wc -l)" -eq 0 ]' ||
		fail "$(pgrep -xf "$copy( .*)?" | wc -l) processes of $copy left"
	# 10,000 children: every one spawned died with code 0.
	run grep -c '^Spawned ' "$ACTIVATE_LOG"
	assert_output 10000
	run grep -c '^Child [0-9]* died with code 0$' "$ACTIVATE_LOG"
	assert_output 10000
	run grep -c 'served peer=127\.0\.0\.1:[0-9]* .* status=0 end=eof$' "$ACTIVATE_LOG"
	assert_output 10000
	run grep -Ec ': (warning|error): ' "$ACTIVATE_LOG"
	assert_output 0
}

# --- the log sink is missing ------------------------------------------------------

@test "echo --log syslog with no /dev/log: serving goes on, bytes intact, nothing on stderr" {
	local wrap=()
	if [ -e /dev/log ]; then
		# Hide the socket in a private mount namespace: a plain file in its place.
		: >"$BATS_TEST_TMPDIR/notasocket"
		# shellcheck disable=SC2016
		wrap=(unshare -m sh -c 'mount --bind "$0" /dev/log && exec "$@"' \
		    "$BATS_TEST_TMPDIR/notasocket")
	fi
	activate inetd "${wrap[@]}" "$BIN/echo" --log syslog --log-level 4
	run dialog -c 127.0.0.1 "$PORT" send:'hello\r\n' recv:7 send:'\x00\xff\n' recv:3 \
	    send:'\r\n' eof
	assert_success
	assert_output "recv b'hello\\r\\n'
recv b'\\x00\\xff\\n'
eof"
	run child_status
	assert_output 0
	# The record had nowhere to go: not to the client, not to stderr (a
	# program's line starts "inetkit-NAME[PID]:"; the activator's own lines
	# name the program's path, which may hold "inetkit" too).
	run grep -cE 'inetkit-[a-z]+\[[0-9]+\]:' "$ACTIVATE_LOG"
	assert_output 0
	run feed 'abc\n' "${wrap[@]}" "$BIN/lcecho" --log syslog --log-level 4
	assert_success
	assert_out 'abc\n'
	[ ! -s "$ERR" ] || fail "stderr: $(cat "$ERR")"
}

@test "echo --log FILE that cannot be opened: exit 100 before any byte, message on stderr" {
	run feed 'abc\n' "$BIN/echo" --log "$BATS_TEST_TMPDIR/no/such/dir/log"
	assert_failure 100
	assert_out_empty
	run cat "$ERR"
	assert_output --partial "fatal: option --log: unable to open $BATS_TEST_TMPDIR/no/such/dir/log: No such file or directory"
}

# --- unreadable and garbled htpasswd files ----------------------------------------

@test "cmdserver: an unreadable htpasswd (missing, a directory, under a file): exit 111, logged" {
	local f why
	while IFS='|' read -r f why; do
		run cmd 'dougm\nfoobar\n' --htpasswd "$f"
		[ "$status" -eq 111 ] || fail "--htpasswd $f: exit $status"
		assert_out "Login: Password: $DENIED"
		grep -qF "error: login refused for user dougm from unknown: unable to read htpasswd file $f: $why" "$ERR" ||
			fail "--htpasswd $f: $(cat "$ERR")"
		grep -q "error: login failed peer=unknown .* user=dougm .* status=111 " "$ERR" ||
			fail "--htpasswd $f: $(cat "$ERR")"
	done <<EOF
$FIX/missing|No such file or directory
$FIX|Is a directory
$FIX/users/x|Not a directory
EOF
}

@test "cmdserver: a garbled htpasswd (binary, long lines, no colon) refuses, logs skipped lines" {
	python3 - "$FIX/garbled" <<'EOF'
import random, sys
r = random.Random(7)
with open(sys.argv[1], "wb") as f:
    f.write(bytes(r.randrange(256) for _ in range(65536)))
    f.write(b"\n" + b"L" * 20000 + b"\n")
    f.write(b"no colon at all\n\x00dougm:x\n:nameless\ndougm:\n")
EOF
	run cmd 'dougm\nfoobar\n' --htpasswd "$FIX/garbled"
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	run grep -F 'login failed for user dougm from unknown' "$ERR"
	assert_success
	# The first eight bad lines, then their count: the log of a login is bounded.
	run grep -c 'warning: htpasswd file .* line [0-9]*: .*; line skipped$' "$ERR"
	assert_output 8
	run grep -E "warning: htpasswd file $FIX/garbled: [0-9]+ more bad lines skipped$" "$ERR"
	assert_success
	# The garbage is escaped before it reaches the log: no control byte.
	run grep -c $'[\001-\010\016-\037\r\033\177-\377]' "$ERR"
	assert_output 0
	# Without the random bytes, each kind of bad line is reported by number.
	{ printf 'L%.0s' {1..20000}; printf '\nno colon at all\n\000dougm:x\n:nameless\ndougm:\n'; } \
	    >"$FIX/garbled.plain"
	run cmd 'dougm\nfoobar\n' --htpasswd "$FIX/garbled.plain"
	assert_failure 1
	run cat "$ERR"
	assert_line --partial "line 1: longer than 8192 bytes; line skipped"
	assert_line --partial "line 2: no colon after the user name; line skipped"
	assert_line --partial "line 3: NUL byte; line skipped"
	assert_line --partial "line 4: empty user name; line skipped"
	assert_line --partial "line 5: empty hash; line skipped"
	refute_line --partial "more bad lines"

	# A good entry after the garbage still works.
	htpasswd -nbm dougm foobar >>"$FIX/garbled"
	run cmd 'dougm\nfoobar\nquit\n' --htpasswd "$FIX/garbled"
	assert_success
	assert_out "Login: Password: $WELCOME"
}

# --- unreadable and garbled block lists --------------------------------------------

@test "blockip and --block-list: an unreadable list (missing, a directory, under a file) drops the client, logged" {
	local f why
	printf '192.0.2.1\n' >"$FIX/list"
	while IFS='|' read -r f why; do
		run feed 'hi\n' env PROTO=TCP TCPREMOTEIP=198.51.100.1 "$BIN/blockip" "$f" "$BIN/echo"
		[ "$status" -eq 1 ] || fail "blockip $f: exit $status"
		assert_out_empty
		grep -qF "error: block list $f unusable: $why: refusing 198.51.100.1 (--block-list-on-error deny)" "$ERR" ||
			fail "blockip $f: $(cat "$ERR")"
		run feed 'hi\n' env PROTO=TCP TCPREMOTEIP=198.51.100.1 "$BIN/echo" --block-list "$f"
		[ "$status" -eq 1 ] || fail "echo --block-list $f: exit $status"
		assert_out_empty
		grep -qF "refused peer=198.51.100.1 local=- rule=\"block list $f unusable: $why\"" "$ERR" ||
			fail "echo --block-list $f: $(cat "$ERR")"
	done <<EOF
$FIX/missing|No such file or directory
$FIX|Is a directory
$FIX/list/x|Not a directory
EOF
}

@test "blockip and --block-list: a garbled list (binary, a 20,000-byte line, NUL, ESC) is reported escaped and capped" {
	python3 - "$FIX/garbled" <<'EOF'
import random, sys
r = random.Random(11)
with open(sys.argv[1], "wb") as f:
    f.write(bytes(r.randrange(256) for _ in range(65536)))
    f.write(b"\n" + b"1" * 20000 + b"\n192.0.2.1\x00\n\x1b[31m10.0.0.1\n192.0.2.7\n")
EOF
	# Fail closed: nothing reaches the client, the record names the cause.
	run feed 'hi\n' env PROTO=TCP TCPREMOTEIP=198.51.100.1 "$BIN/blockip" "$FIX/garbled" "$BIN/echo"
	assert_failure 1
	assert_out_empty
	run grep -c 'warning: block list .* line [0-9]*: bad entry ' "$ERR"
	assert_output 8				# the first eight, then a count
	run grep -E "warning: block list $FIX/garbled: [0-9]+ more bad lines$" "$ERR"
	assert_success
	run grep -E "notice: refused peer=198\.51\.100\.1 .*rule=\"block list $FIX/garbled malformed: [0-9]+ bad lines\"" "$ERR"
	assert_success
	run grep -c $'[\001-\010\016-\037\r\033\177-\377]' "$ERR"
	assert_output 0
	# Fail open: the good lines still block.
	run feed 'hi\n' env PROTO=TCP TCPREMOTEIP=192.0.2.7 "$BIN/echo" --block-list "$FIX/garbled" \
	    --block-list-on-error allow
	assert_failure 1
	assert_out_empty
	run grep -F "refused peer=192.0.2.7 local=- rule=\"block list $FIX/garbled line " "$ERR"
	assert_success
	# Without the random bytes, the three bad lines are reported as they are:
	# cut at 63 bytes, the NUL and the ESC escaped.
	printf '%s\n' "$(printf '1%.0s' {1..20000})" >"$FIX/garbled"
	printf '192.0.2.1\000\n\033[31m10.0.0.1\n192.0.2.7\n' >>"$FIX/garbled"
	run feed 'hi\n' env PROTO=TCP TCPREMOTEIP=198.51.100.1 "$BIN/blockip" --on-error allow \
	    "$FIX/garbled" "$BIN/echo"
	assert_success
	assert_out 'hi\n'
	run cat "$ERR"
	assert_line --partial "line 1: bad entry \"$(printf '1%.0s' {1..63})\" (the first 63 of 20000 bytes)"
	assert_line --partial 'line 2: bad entry "192.0.2.1%00"'
	assert_line --partial 'line 3: bad entry "%1B[31m10.0.0.1"'
	assert_line --partial "block list $FIX/garbled malformed: 3 bad lines: allowing 198.51.100.1 (--block-list-on-error allow)"
}

# --- signals ---------------------------------------------------------------------

@test "SIGTERM mid-session: the session ends cleanly, exit 0, with its record (end=terminated)" {
	local pid
	activate inetd "$BIN/echo" --log-level 3
	bg dialog -c 127.0.0.1 "$PORT" send:'abc\n' recv:4 closed >"$BATS_TEST_TMPDIR/client"
	pid=$(child_pid 1)
	wait_file "$BATS_TEST_TMPDIR/client"
	kill -TERM "$pid"
	wait_log "$BATS_TEST_TMPDIR/client" '^closed$' 10
	run cat "$BATS_TEST_TMPDIR/client"
	assert_output "recv b'abc\\n'
closed"
	run child_status 1
	assert_output 0
	run grep "inetkit-echo\[$pid\]" "$ACTIVATE_LOG"
	assert_output --regexp "notice: served peer=127\.0\.0\.1:[0-9]+ .* in=4 out=4 .* status=0 end=terminated\$"
}

@test "SIGTERM to cmdserver at the Password: prompt: no byte more, exit 1, the record says terminated" {
	local pid rc=0
	"$BIN/cmdserver" --htpasswd "$FIX/users" --log stderr < <(printf 'dougm\n'; sleep 10) \
	    >"$OUT" 2>"$ERR" &
	pid=$!
	BG_PIDS="$BG_PIDS $pid"
	wait_until 10 "no Password: prompt" eval '[ "$(cat "$OUT")" = "Login: Password: " ]' ||
		fail "no Password: prompt: $(cat "$OUT")"
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	assert_equal "$rc" 1
	assert_out 'Login: Password: '
	run cat "$ERR"
	assert_line --regexp "login abandoned by .* \(user dougm\) at a password prompt: terminated\$"
	assert_line --regexp "notice: login abandoned peer=.* user=dougm .* status=1 end=terminated\$"
}

# --- limits at their boundaries -------------------------------------------------

@test "--max-line 1: lcecho passes every byte once, in order; cmdserver still logs in" {
	run feed 'AbC\n\r\nignored\n' "$BIN/lcecho" --max-line 1
	assert_success
	assert_out 'abc\n\r\n'
	# Login answers are read whole across pieces; a command is a line over
	# --max-line (its LF counts), so each gets the usage line.
	run cmd 'dougm\r\nfoobar\r\ndate\nquit\n' --htpasswd "$FIX/users" --max-line 1 --log-level 3
	assert_success
	assert_out "Login: Password: $WELCOME$USAGE$USAGE"
	run grep -c 'served .* user=dougm in=25 .* status=0 end=eof$' "$ERR"
	assert_output 1
	run cmd 'dougm\r\nfoobar\r\nquit\nmotd\n' --htpasswd "$FIX/users" --max-line 5 --log-level 3
	assert_success
	assert_out "Login: Password: $WELCOME"
}

@test "--max-line 1048576: a 1 MiB line is held whole and echoed once; 1048577 is refused" {
	{ head -c 1048575 /dev/zero | tr '\0' Q; printf '\n'; } >"$BATS_TEST_TMPDIR/line"
	run feed_file "$BATS_TEST_TMPDIR/line" "$BIN/lcecho" --max-line 1048576 --log-level 3
	assert_success
	[ "$(wc -c <"$OUT")" -eq 1048576 ] || fail "got $(wc -c <"$OUT") bytes"
	[ "$(tr -d q <"$OUT")" = '' ] || fail "not lowered q"
	grep -q 'served .* in=1048576 out=1048576 .* status=0 end=eof$' "$ERR"
	run feed '' "$BIN/lcecho" --max-line 1048577
	assert_failure 100
	run cat "$ERR"
	assert_output --partial 'max-line'
	run feed '' "$BIN/lcecho" --max-line 0
	assert_failure 100
}

@test "timeouts at their bounds: idle 86400 and session 604800 accepted, one more refused" {
	run feed 'a\n' "$BIN/echo" --idle-timeout 86400 --session-timeout 604800
	assert_success
	assert_out 'a\n'
	run feed 'a\n' "$BIN/echo" --idle-timeout 86401
	assert_failure 100
	assert_out_empty
	run grep -F 'idle-timeout' "$ERR"
	assert_success
	run feed 'a\n' "$BIN/echo" --session-timeout 604801
	assert_failure 100
	run grep -F 'session-timeout' "$ERR"
	assert_success
	run feed 'a\n' "$BIN/echo" --idle-timeout -1
	assert_failure 100
}

@test "--idle-timeout 1 ends a silent client within about a second, logged" {
	activate inetd "$BIN/echo" --idle-timeout 1 --log-level 3
	run dialog -c 127.0.0.1 "$PORT" send:'a' recv:1 eof:0.5:2.5
	assert_success
	run record_of
	assert_output --regexp 'notice: served .* in=1 out=1 duration=1\.[0-9]+s status=0 end=idle timeout: Connection timed out$'
}

@test "--idle-timeout 0 never times out: silent for 4 s, still serving until we kill it" {
	local pid
	activate inetd "$BIN/echo" --idle-timeout 0 --log-level 3
	run dialog -c 127.0.0.1 "$PORT" send:'a' recv:1 quiet:4 send:'b\n' recv:2 rst
	assert_success
	assert_output "recv b'a'
quiet
recv b'b\\n'
rst"
	run child_status 1
	assert_output 0
	# A client that just sits there keeps its server: it is still there after
	# 3 s (tail --pid polls), and we end it ourselves.
	bg dialog -c 127.0.0.1 "$PORT" quiet:30
	pid=$(child_pid 2)
	run timeout 3 tail --pid="$pid" -f /dev/null
	assert_failure 124
	kill -TERM "$pid"
	run child_status 2
	assert_output 0
	wait_log "$ACTIVATE_LOG" "inetkit-echo\[$pid\]: notice: served .* end=terminated$" 5
}
