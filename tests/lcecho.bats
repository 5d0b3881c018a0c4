#!/usr/bin/env bats
# inetkit-lcecho: its protocol (inetkit-lcecho(8); EchoBB + lowercase_filter).

load helpers
load proto_helpers

teardown() {
	kill_bg
}

# Writes python expression $1 (bytes) to $BATS_TEST_TMPDIR/in.
mkinput() {
	python3 -c "import sys; sys.stdout.buffer.write($1)" >"$BATS_TEST_TMPDIR/in"
}

# What lcecho should send for $BATS_TEST_TMPDIR/in: ASCII A-Z lowered, nothing else.
expect_lowered() {
	# shellcheck disable=SC2018,SC2019
	LC_ALL=C tr 'A-Z' 'a-z' <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/want"
}

@test "lcecho lower-cases ASCII A-Z and leaves the bytes around them alone" {
	run feed 'Hello WORLD 123 @[`{ AZaz\n' "$BIN/lcecho"
	assert_success
	assert_out 'hello world 123 @[`{ azaz\n'
}

@test "lcecho passes UTF-8 through unchanged" {
	run feed 'ÄÖÜ É ß STRAẞE Ωmega\n' "$BIN/lcecho"
	assert_success
	assert_out 'ÄÖÜ É ß straẞe Ωmega\n'
}

@test "lcecho passes every non-ASCII and non-letter byte unchanged" {
	mkinput 'bytes(range(256)) * 3'
	expect_lowered
	run feed_file "$BATS_TEST_TMPDIR/in" "$BIN/lcecho"
	assert_success
	cmp "$BATS_TEST_TMPDIR/want" "$OUT"
	# Only the 26 capitals changed, 3 times each.
	run cmp -l "$BATS_TEST_TMPDIR/in" "$OUT"
	assert_equal "${#lines[@]}" 78
}

@test "lcecho round-trips NUL bytes, and a NUL-only line does not end the session" {
	run feed 'A\000B\n\000\nC\n' "$BIN/lcecho"
	assert_success
	assert_out 'a\000b\n\000\nc\n'
}

@test "lcecho writes a line when its LF arrives, not before" {
	run dialog -x send:'ABC' drained quiet:0.3 send:'D\n' recv:5 send:'\n' recv:1 eof exit \
	    -- "$BIN/lcecho"
	assert_success
	assert_output "quiet
recv b'abcd\\n'
recv b'\\n'
eof
exit 0"
}

# --- the line that ends the session --------------------------------------------

@test "lcecho echoes an LF-only line and then ends the session" {
	run feed 'ONE\n\nTWO\n' "$BIN/lcecho"
	assert_success
	assert_out 'one\n\n'
}

@test "lcecho echoes a CR LF line and then ends the session" {
	run feed 'ONE\r\n\r\nTWO\r\n' "$BIN/lcecho"
	assert_success
	assert_out 'one\r\n\r\n'
}

@test "lcecho echoes a CR CR LF line and then ends the session" {
	run feed 'ONE\n\r\r\nTWO\n' "$BIN/lcecho"
	assert_success
	assert_out 'one\n\r\r\n'
}

@test "lcecho discards input pipelined after the ending line in the same write" {
	run dialog -x send:'ONE\n\r\nTWO\nTHREE\n' recv:6 eof exit -- "$BIN/lcecho"
	assert_success
	assert_output "recv b'one\\n\\r\\n'
eof
exit 0"
}

@test "lcecho does not end the session at a line of CRs followed by other bytes" {
	run feed '\r\rX\n\r \nY\n\n' "$BIN/lcecho"
	assert_success
	assert_out '\r\rx\n\r \ny\n\n'
}

@test "lcecho ends the session at a blank line over a socket and discards what follows" {
	activate inetd "$BIN/lcecho"
	run dialog -c 127.0.0.1 "$PORT" send:'HeLLo\r\n' recv:7 send:'\r\nMORE\n' recv:2 eof
	assert_success
	assert_output "recv b'hello\\r\\n'
recv b'\\r\\n'
eof"
	run child_status
	assert_output 0
}

# --- EOF -----------------------------------------------------------------------

@test "lcecho echoes an unterminated last line at EOF" {
	run feed 'ABC\nXYZ' "$BIN/lcecho"
	assert_success
	assert_out 'abc\nxyz'
}

@test "lcecho echoes input with no LF at all at EOF" {
	run feed 'XYZ' "$BIN/lcecho"
	assert_success
	assert_out 'xyz'
}

@test "lcecho echoes an unterminated tail of CRs at EOF" {
	run feed 'A\n\r\r' "$BIN/lcecho"
	assert_success
	assert_out 'a\n\r\r'
}

@test "lcecho echoes the tail when the client half-closes a socket" {
	activate inetd "$BIN/lcecho"
	run dialog -c 127.0.0.1 "$PORT" send:'A\nTAIL' recv:2 shut recv:4 eof
	assert_success
	assert_output "recv b'a\\n'
recv b'tail'
eof"
	run child_status
	assert_output 0
}

# --- long lines --------------------------------------------------------------

@test "lcecho passes a 100000-byte line through --max-line 100 intact and once" {
	mkinput 'b"".join(b"%05d:ABCDEFGHI|" % i for i in range(6250)) + b"\nEND\n"'
	assert_equal "$(head -1 "$BATS_TEST_TMPDIR/in" | tr -d '\n' | wc -c)" 100000
	expect_lowered
	run feed_file "$BATS_TEST_TMPDIR/in" "$BIN/lcecho" --max-line 100
	assert_success
	cmp "$BATS_TEST_TMPDIR/want" "$OUT"
}

@test "lcecho passes 8191, 8192 and 8193-byte lines intact and once by default" {
	local n
	for n in 8191 8192 8193; do
		mkinput "b\"\".join(b\"%07d\" % i for i in range(1200))[:$n] + b\"\\nEND\\n\""
		expect_lowered
		run feed_file "$BATS_TEST_TMPDIR/in" "$BIN/lcecho"
		assert_success
		cmp "$BATS_TEST_TMPDIR/want" "$OUT"
		assert_equal "$(stat -c %s "$OUT")" $((n + 5))
	done
}

@test "lcecho passes lines around the seed's 8000-byte reads and 16 KiB intact" {
	mkinput 'b"".join((b"L%d-" % n + b"X" * n)[:n] + b"\n" for n in (7999, 8000, 8001, 16383, 16384, 16385, 65536, 65537))'
	expect_lowered
	run feed_file "$BATS_TEST_TMPDIR/in" "$BIN/lcecho"
	assert_success
	cmp "$BATS_TEST_TMPDIR/want" "$OUT"
}

@test "lcecho does not take the LF after a line of exactly --max-line bytes for a blank line" {
	run feed 'ABCD\nEFGH\n\nX\n' "$BIN/lcecho" --max-line 4
	assert_success
	assert_out 'abcd\nefgh\n\n'
}

@test "lcecho ends the session at a CR-only line longer than --max-line, echoing it whole" {
	mkinput 'b"A\n" + b"\r" * 10 + b"\nZZZ\n"'
	run feed_file "$BATS_TEST_TMPDIR/in" "$BIN/lcecho" --max-line 4
	assert_success
	assert_equal "$(hex "$OUT")" "610a$(printf '0d%.0s' {1..10})0a"
}

@test "lcecho ends the session at a 100000-CR line with the default --max-line" {
	mkinput 'b"A\n" + b"\r" * 100000 + b"\nZZZ\n"'
	python3 -c 'import sys; sys.stdout.buffer.write(b"a\n" + b"\r" * 100000 + b"\n")' \
	    >"$BATS_TEST_TMPDIR/want"
	run feed_file "$BATS_TEST_TMPDIR/in" "$BIN/lcecho"
	assert_success
	cmp "$BATS_TEST_TMPDIR/want" "$OUT"
}

@test "lcecho does not end the session at CRs longer than --max-line followed by a byte" {
	run feed '\r\r\r\r\r\rX\nB\n\n' "$BIN/lcecho" --max-line 4
	assert_success
	assert_out '\r\r\r\r\r\rx\nb\n\n'
}

@test "lcecho works byte by byte with --max-line 1" {
	run feed 'AB\nC\r\n\r\nD\n' "$BIN/lcecho" --max-line 1
	assert_success
	assert_out 'ab\nc\r\n\r\n'
}

@test "lcecho round-trips a 1 MiB line without LF" {
	head -c 1048576 /dev/urandom | tr '\n' 'x' >"$BATS_TEST_TMPDIR/in"
	expect_lowered
	run feed_file "$BATS_TEST_TMPDIR/in" "$BIN/lcecho"
	assert_success
	assert_equal "$(stat -c %s "$OUT")" 1048576
	cmp "$BATS_TEST_TMPDIR/want" "$OUT"
}

@test "lcecho round-trips a 1 MiB line without LF over a socket" {
	head -c 1048576 /dev/urandom | tr '\n' 'x' >"$BATS_TEST_TMPDIR/in"
	expect_lowered
	activate inetd "$BIN/lcecho"
	talk "$PORT" <"$BATS_TEST_TMPDIR/in" >"$OUT"
	cmp "$BATS_TEST_TMPDIR/want" "$OUT"
	run child_status
	assert_output 0
}

@test "lcecho closes an idle session after --idle-timeout 1 and logs idle timeout" {
	run dialog -x send:'AB\n' recv:3 eof:0.7:3 exit -- "$BIN/lcecho" --idle-timeout 1
	assert_success
	assert_output "recv b'ab\\n'
eof
exit 0"
	run grep -c 'status=0 end=idle timeout' "$ERR"
	assert_output 1
}

# --- against a reference -----------------------------------------------------

@test "lcecho matches a reference on random and adversarial inputs, with any --max-line" {
	local ml
	for ml in 8192 64 3 1; do
		run python3 "$TOP/tests/diffcheck.py" lcecho "$BIN/lcecho" --max-line "$ml"
		assert_success
		assert_output --regexp '^250 cases and a [0-9]+-byte one matched$'
	done
}
