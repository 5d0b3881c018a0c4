#!/usr/bin/env bats
# inetkit-echo: its protocol (inetkit-echo(8)), through pipes and over
# real sockets, and its faults (idle and session timeouts, client resets).

load helpers
load proto_helpers

teardown() {
	kill_bg
}

# --- echoing -------------------------------------------------------------

@test "echo echoes a line and exits 0 at EOF" {
	run feed 'hello world\n' "$BIN/echo"
	assert_success
	assert_out 'hello world\n'
}

@test "echo with no input sends nothing and exits 0" {
	run feed '' "$BIN/echo"
	assert_success
	assert_out_empty
}

@test "echo echoes a partial line at once over a pipe, before the rest arrives" {
	run dialog -x send:abc recv:3 send:'def\n' recv:4 send:'\n' eof exit -- "$BIN/echo"
	assert_success
	assert_output "recv b'abc'
recv b'def\\n'
eof
exit 0"
}

@test "echo echoes a partial line at once over a socket, before the rest arrives" {
	activate inetd "$BIN/echo"
	run dialog -c 127.0.0.1 "$PORT" send:abc recv:3 send:'de' recv:2 send:'f\r\n' recv:3 \
	    send:'\r\n' eof
	assert_success
	assert_output "recv b'abc'
recv b'de'
recv b'f\\r\\n'
eof"
	run child_status
	assert_output 0
}

# --- the blank line that ends the session ---------------------------------

@test "echo ends the session at an LF-only line and does not echo it" {
	run feed 'abc\n\nxyz\n' "$BIN/echo"
	assert_success
	assert_out 'abc\n'
}

@test "echo ends the session at a first line that is only LF, sending nothing" {
	run feed '\nabc\n' "$BIN/echo"
	assert_success
	assert_out_empty
}

@test "echo ends the session at a CR LF line and does not echo it" {
	run feed 'abc\r\n\r\nxyz\n' "$BIN/echo"
	assert_success
	assert_out 'abc\r\n'
}

@test "echo ends the session at a CR CR LF line and does not echo it" {
	run feed 'abc\n\r\r\nxyz\n' "$BIN/echo"
	assert_success
	assert_out 'abc\n'
}

@test "echo ends the session at a CR-only line of 100000 CRs and does not echo it" {
	python3 -c 'import sys; sys.stdout.buffer.write(b"a\n" + b"\r" * 100000 + b"\nzzz\n")' \
	    >"$BATS_TEST_TMPDIR/in"
	run feed_file "$BATS_TEST_TMPDIR/in" "$BIN/echo"
	assert_success
	assert_out 'a\n'
}

@test "echo ends the session at a blank line pipelined after other lines in one write" {
	run dialog -x send:'one\ntwo\r\n\r\nthree\n' recv:9 eof exit -- "$BIN/echo"
	assert_success
	assert_output "recv b'one\\ntwo\\r\\n'
eof
exit 0"
}

@test "echo ends the session at a CR CR LF line split across three reads" {
	run dialog -x send:'abc\n\r' recv:4 drained send:'\r' drained quiet:0.3 send:'\n' \
	    eof exit -- "$BIN/echo"
	assert_success
	assert_output "recv b'abc\\n'
quiet
eof
exit 0"
}

@test "echo ends the session at an LF that arrives in a read of its own" {
	run dialog -x send:'abc' recv:3 send:'\n' recv:1 send:'\n' eof exit -- "$BIN/echo"
	assert_success
	assert_output "recv b'abc'
recv b'\\n'
eof
exit 0"
}

@test "echo ends the session at a CR LF split across reads at the very start" {
	run dialog -x send:'\r' drained quiet:0.3 send:'\n' eof exit -- "$BIN/echo"
	assert_success
	assert_output "quiet
eof
exit 0"
}

@test "echo ends the session at a blank line split across reads over a socket" {
	activate inetd "$BIN/echo"
	run dialog -c 127.0.0.1 "$PORT" send:'abc\n\r' recv:4 quiet:0.3 send:'\r' quiet:0.3 \
	    send:'\n' eof
	assert_success
	assert_output "recv b'abc\\n'
quiet
quiet
eof"
	run child_status
	assert_output 0
}

@test "echo over a socket closes with a FIN, not a RST, when input follows the blank line" {
	activate inetd "$BIN/echo"
	run dialog -c 127.0.0.1 "$PORT" send:"abc\\n\\r\\n$(printf 'z%.0s' {1..4000})" recv:4 eof
	assert_success
	assert_output "recv b'abc\\n'
eof"
	run child_status
	assert_output 0
}

# --- CR handling ----------------------------------------------------------

@test "echo echoes held CRs when a line goes on with other bytes" {
	run feed '\r\rabc\n\rx\n\n' "$BIN/echo"
	assert_success
	assert_out '\r\rabc\n\rx\n'
}

@test "echo holds leading CRs back and echoes them with the next byte" {
	run dialog -x send:'\r\r' drained quiet:0.3 send:x recv:3 send:'\n\n' recv:1 eof exit \
	    -- "$BIN/echo"
	assert_success
	assert_output "quiet
recv b'\\r\\rx'
recv b'\\n'
eof
exit 0"
}

@test "echo leaves CRs in the middle and at the end of a line untouched" {
	run feed 'a\rb\r\rc\r\nd\r\r\n\n' "$BIN/echo"
	assert_success
	assert_out 'a\rb\r\rc\r\nd\r\r\n'
}

@test "echo echoes a final unterminated line at EOF" {
	run feed 'abc\nxyz' "$BIN/echo"
	assert_success
	assert_out 'abc\nxyz'
}

@test "echo echoes held CRs of a final unterminated line at EOF" {
	run feed 'abc\n\r\r' "$BIN/echo"
	assert_success
	assert_out 'abc\n\r\r'
}

@test "echo echoes a lone CR at EOF" {
	run feed '\r' "$BIN/echo"
	assert_success
	assert_out '\r'
}

# --- any byte value, any length -----------------------------------------

@test "echo round-trips NUL bytes, also at the start of a line" {
	run feed 'a\000b\n\000\n\000\000' "$BIN/echo"
	assert_success
	assert_out 'a\000b\n\000\n\000\000'
}

@test "echo round-trips all 256 byte values" {
	python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4)' >"$BATS_TEST_TMPDIR/in"
	run feed_file "$BATS_TEST_TMPDIR/in" "$BIN/echo"
	assert_success
	cmp "$BATS_TEST_TMPDIR/in" "$OUT"
}

@test "echo round-trips a 1 MiB line without LF exactly" {
	head -c 1048576 /dev/urandom | tr '\n' 'x' >"$BATS_TEST_TMPDIR/in"
	run feed_file "$BATS_TEST_TMPDIR/in" "$BIN/echo"
	assert_success
	assert_equal "$(stat -c %s "$OUT")" 1048576
	cmp "$BATS_TEST_TMPDIR/in" "$OUT"
}

@test "echo round-trips a 1 MiB line over a socket" {
	head -c 1048576 /dev/urandom | tr '\n\r' 'xy' >"$BATS_TEST_TMPDIR/in"
	activate inetd "$BIN/echo"
	talk "$PORT" <"$BATS_TEST_TMPDIR/in" >"$OUT"
	cmp "$BATS_TEST_TMPDIR/in" "$OUT"
	run child_status
	assert_output 0
}

@test "echo ignores --max-line: a line far longer than it comes back whole" {
	python3 -c 'import sys; sys.stdout.buffer.write(b"A" * 100000 + b"\nb\n")' \
	    >"$BATS_TEST_TMPDIR/in"
	run feed_file "$BATS_TEST_TMPDIR/in" "$BIN/echo" --max-line 10
	assert_success
	cmp "$BATS_TEST_TMPDIR/in" "$OUT"
}

@test "echo ignores --max-line: a CR-only line longer than it still ends the session" {
	run feed 'ab\n\r\r\r\r\r\nxyz\n' "$BIN/echo" --max-line 2
	assert_success
	assert_out 'ab\n'
}

# --- --rfc862 --------------------------------------------------------------

@test "echo --rfc862 echoes blank lines and ends only at EOF" {
	run feed 'a\n\n\r\n\r\r\nb\n\n' "$BIN/echo" --rfc862
	assert_success
	assert_out 'a\n\n\r\n\r\r\nb\n\n'
}

@test "echo --rfc862 keeps the session open after a blank line" {
	run dialog -x send:'\n' recv:1 send:'\r\n' recv:2 send:'x' recv:1 shut eof exit \
	    -- "$BIN/echo" --rfc862
	assert_success
	assert_output "recv b'\\n'
recv b'\\r\\n'
recv b'x'
eof
exit 0"
}

# Over a socket, --rfc862 writes back each read as large as it came: the same bytes, counts and ends.
@test "echo --rfc862 over a socket: 64 MiB byte-exact, the half-close passed on, in= and out= counted" {
	activate inetd "$BIN/echo" --rfc862 --log-level 3
	run python3 -c 'import os, socket, sys, threading
data = os.urandom(1 << 20) * 64
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
got = []
def reader():
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        got.append(b)
t = threading.Thread(target=reader); t.start()
s.sendall(data); s.shutdown(socket.SHUT_WR); t.join()
print("same" if b"".join(got) == data else "differ %d" % len(b"".join(got)))' "$PORT"
	assert_success
	assert_output same
	run child_log
	assert_output --regexp ' in=67108864 out=67108864 duration=[0-9.]+s status=0 end=eof$'
}

@test "echo --rfc862 over a socket ends an idle session after --idle-timeout 1 (the read is timed)" {
	activate inetd "$BIN/echo" --rfc862 --idle-timeout 1
	run dialog -c 127.0.0.1 "$PORT" send:'abc\n\n' recv:5 eof:0.7:3
	assert_success
	assert_output "recv b'abc\\n\\n'
eof"
	run child_log
	assert_output --regexp ' in=5 out=5 duration=1\.[0-9]+s status=0 end=idle timeout: .+$'
}

@test "echo --rfc862 over a socket ends after --idle-timeout 1 when the client sends and never reads" {
	activate inetd "$BIN/echo" --rfc862 --idle-timeout 1
	run timeout 20 python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.settimeout(8)
t0 = time.time()
try:
    while True:
        s.sendall(b"x" * 65536)
except OSError as e:
    print("send stopped" if time.time() - t0 < 8 else "timed out")' "$PORT"
	assert_success
	assert_output "send stopped"
	run child_status
	assert_output 0
	run child_log
	assert_output --regexp ' status=0 end=idle timeout: .+$'
}

@test "echo --rfc862 over a socket ends a chatty session after --session-timeout 1" {
	activate inetd "$BIN/echo" --rfc862 --session-timeout 1
	run dialog -c 127.0.0.1 "$PORT" send:'a\n' recv:2 send:'\n' recv:1 eof:0.3:3
	assert_success
	assert_output "recv b'a\\n'
recv b'\\n'
eof"
	run child_log
	assert_output --regexp ' in=3 out=3 duration=1\.[0-9]+s status=0 end=session timeout: .+$'
}

@test "echo --rfc862 over a socket: SIGTERM mid-stream ends the session with its record" {
	local pid
	activate inetd "$BIN/echo" --rfc862 --log-level 3
	bg dialog -c 127.0.0.1 "$PORT" send:'abc\n' recv:4 closed >"$BATS_TEST_TMPDIR/client"
	pid=$(child_pid 1)
	wait_file "$BATS_TEST_TMPDIR/client"
	kill -TERM "$pid"
	wait_log "$BATS_TEST_TMPDIR/client" '^closed$' 10
	run child_status 1
	assert_output 0
	run child_log 1
	assert_output --regexp " in=4 out=4 .* status=0 end=terminated\$"
}

@test "echo --rfc862=no keeps the blank-line end" {
	run feed 'a\n\nb\n' "$BIN/echo" --rfc862=no
	assert_success
	assert_out 'a\n'
}

@test "echo and echo --rfc862 match a reference on random and adversarial inputs" {
	run python3 "$TOP/tests/diffcheck.py" echo "$BIN/echo"
	assert_success
	assert_output --regexp '^250 cases and a [0-9]+-byte one matched$'
	run python3 "$TOP/tests/diffcheck.py" rfc862 "$BIN/echo" --rfc862
	assert_success
	assert_output --regexp '^250 cases and a [0-9]+-byte one matched$'
}

# --- faults -----------------------------------------------------------------

@test "echo closes an idle pipe session after --idle-timeout 1 and logs idle timeout" {
	run dialog -x send:abc recv:3 eof:0.7:3 exit -- "$BIN/echo" --idle-timeout 1
	assert_success
	assert_output "recv b'abc'
eof
exit 0"
	run grep -c 'end=idle timeout' "$ERR"
	assert_output 1
}

@test "echo with sleep 5 upstream ends after --idle-timeout 1, not at EOF" {
	local t0=$SECONDS
	run bash -c 'sleep 5 | timeout 10 "$1" --idle-timeout 1 >"$2" 2>"$3"; s=${PIPESTATUS[1]};
	    echo "status $s after $((SECONDS)) s"' _ "$BIN/echo" "$OUT" "$ERR"
	assert_success
	# The pipeline as a whole waits for sleep; the log tells when echo ended.
	assert_output --regexp '^status 0 after [5-6] s$'
	assert_out_empty
	run grep -E 'duration=1\.[0-9]+s status=0 end=idle timeout' "$ERR"
	assert_success
	[ $((SECONDS - t0)) -lt 9 ]
}

@test "echo with --idle-timeout 0 keeps an idle session open" {
	run dialog -x send:abc recv:3 quiet:1.5 send:'\n\n' recv:1 eof exit \
	    -- "$BIN/echo" --idle-timeout 0
	assert_success
	assert_output "recv b'abc'
quiet
recv b'\\n'
eof
exit 0"
	run grep 'idle timeout' "$ERR"
	assert_failure
}

@test "echo closes an idle socket session after --idle-timeout 1 and logs idle timeout" {
	activate inetd "$BIN/echo" --idle-timeout 1
	run dialog -c 127.0.0.1 "$PORT" send:abc recv:3 eof:0.7:3
	assert_success
	assert_output "recv b'abc'
eof"
	run child_status
	assert_output 0
	run child_log
	assert_output --regexp '^notice: served peer=127\.0\.0\.1:[0-9]+ local=127\.0\.0\.1:[0-9]+ rule="no rules" user=- in=3 out=3 duration=1\.[0-9]+s status=0 end=idle timeout: .+$'
}

@test "echo ends a chatty session after --session-timeout 1 and logs session timeout" {
	run bash -c 't0=$(date +%s%N)
	    (while :; do printf "hi\n"; sleep 0.1; done) | timeout 10 "$1" --session-timeout 1 \
	        >"$2" 2>"$3"
	    s=${PIPESTATUS[1]}
	    echo "status $s ms $(( ($(date +%s%N) - t0) / 1000000 ))"' _ "$BIN/echo" "$OUT" "$ERR"
	assert_success
	assert_output --regexp '^status 0 ms [0-9]+$'
	local ms=${output##* }
	[ "$ms" -ge 900 ] && [ "$ms" -lt 3000 ]
	# Only whole "hi\n" lines came back, at least a few of them.
	run bash -c 'tr -d "\n" <"$1" | sed "s/hi//g" | wc -c; grep -c "^hi$" "$1"' _ "$OUT"
	assert_line --index 0 0
	[ "${lines[1]}" -ge 3 ]
	run grep -c 'status=0 end=session timeout' "$ERR"
	assert_output 1
}

@test "echo ends a chatty socket session after --session-timeout 1" {
	activate inetd "$BIN/echo" --session-timeout 1
	run dialog -c 127.0.0.1 "$PORT" send:'a\n' recv:2 send:'b\n' recv:2 eof:0.3:3
	assert_success
	assert_output "recv b'a\\n'
recv b'b\\n'
eof"
	run child_status
	assert_output 0
	run child_log
	assert_output --regexp '^notice: served peer=127\.0\.0\.1:[0-9]+ .* in=4 out=4 duration=1\.[0-9]+s status=0 end=session timeout: .+$'
}

@test "echo exits 0 with nothing alarming logged when the client resets mid-echo" {
	activate inetd "$BIN/echo" --log-level 3
	run dialog -c 127.0.0.1 "$PORT" send:'start\n' recv:6 flood rst
	assert_success
	assert_output "recv b'start\\n'
flooded
rst"
	run child_status
	assert_output 0
	# One info record and nothing else: no error, warning or fatal line.
	run child_log
	assert_output --regexp '^info: served peer=127\.0\.0\.1:[0-9]+ .* status=0 end=reset(: (Connection reset by peer|Broken pipe))?$'
}
