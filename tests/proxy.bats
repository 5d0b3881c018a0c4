#!/usr/bin/env bats
# PROXY protocol v1/v2 receive in libio (--proxy-protocol, --trusted-proxy,
# --proxy-timeout), through blockip and echo, by hand-made headers and
# behind a real HAProxy.

load helpers
load serve
bats_require_minimum_version 1.5.0

setup() {
	LIST="$BATS_TEST_TMPDIR/blocked"
	# The activator's log, with the programs' stderr (child_status reads it).
	LOG=$ACTIVATE_LOG
	OUT="$BATS_TEST_TMPDIR/out"
	: >"$LOG"
	printf '192.0.2.1\n2001:db8::/32\n' >"$LIST"
	PP=(--proxy-protocol --trusted-proxy 127.0.0.1)
}

teardown() {
	kill_bg
}

# raw SRC ITEM...: sends to $PORT from SRC; reply in $OUT, its size printed.
raw() {
	local src=$1
	shift
	python3 "$RAWCLIENT" 127.0.0.1 "$PORT" "$src" "$@" >"$OUT"
	wc -c <"$OUT"
}

@test "a v1 header from a trusted proxy decides who is blocked; the bytes after it reach the program" {
	activate inetd "$BIN/blockip" "${PP[@]}" "$LIST" "$BIN/echo"
	run raw "" 'PROXY TCP4 192.0.2.1 198.51.100.1 5555 8012\r\nhello\n'
	assert_output 0
	wait_log "$LOG" "blocked 192\.0\.2\.1 \($LIST line 1: 192\.0\.2\.1\)"
	run child_status 1
	assert_output 1
	run raw "" 'PROXY TCP4 192.0.2.2 198.51.100.1 5555 8012\r\nhello\n'
	assert_output 6
	assert_equal "$(cat "$OUT")" "hello"
	run raw "" 'PROXY TCP6 2001:db8::7 2001:db8::1 5555 8012\r\nhello\n'
	assert_output 0
	wait_log "$LOG" "blocked 2001:db8::7 \($LIST line 2: 2001:db8::/32\)"
}

@test "a v2 header (with TLVs) from a trusted proxy decides who is blocked" {
	activate inetd "$BIN/blockip" "${PP[@]}" "$LIST" "$BIN/echo"
	run raw "" '@v2=192.0.2.1,198.51.100.1,5555,8012,40' 'hello\n'
	assert_output 0
	wait_log "$LOG" "blocked 192\.0\.2\.1 \("
	run raw "" '@v2=192.0.2.2,198.51.100.1,5555,8012,300' 'hello\n'
	assert_output 6
	assert_equal "$(cat "$OUT")" "hello"
	run raw "" '@v2=2001:db8::9,2001:db8::1,5555,8012' 'hello\n'
	assert_output 0
	wait_log "$LOG" "blocked 2001:db8::9 \($LIST line 2: 2001:db8::/32\)"
	run raw "" '@v2=2001:db9::9,2001:db8::1,5555,8012' 'hello\n'
	assert_output 6
	# A header split across many writes is read whole, and nothing more.
	run raw "" '\r\n\r\n' '@sleep=0.05' '\x00\r\nQUIT\n\x21' '@sleep=0.05' '\x11\x00\x0c' \
	    '@sleep=0.05' '\xc0\x00\x02\x02\xc6\x33\x64\x01\x15\xb3\x1f\x4c' '@sleep=0.05' 'split\n'
	assert_output 6
	assert_equal "$(cat "$OUT")" "split"
}

@test "the wrapped program sees the header's client in the UCSPI variables, and INETKIT_PROXIED" {
	activate inetd "$BIN/blockip" "${PP[@]}" "$LIST" env
	run raw "" 'PROXY TCP4 192.0.2.2 198.51.100.1 5555 8012\r\n'
	refute_output 0
	run grep -x -e PROTO=TCP -e TCPREMOTEIP=192.0.2.2 -e TCPREMOTEPORT=5555 \
	    -e TCPLOCALIP=198.51.100.1 -e TCPLOCALPORT=8012 -e INETKIT_PROXIED=1 "$OUT"
	assert_equal "${#lines[@]}" 6
	run raw "" '@v2=2001:db9::2,2001:db9::1,6666,8012'
	run grep -x -e PROTO=TCP6 -e TCP6REMOTEIP=2001:db9::2 -e TCP6REMOTEPORT=6666 \
	    -e TCP6LOCALIP=2001:db9::1 -e TCP6LOCALPORT=8012 -e INETKIT_PROXIED=1 "$OUT"
	assert_equal "${#lines[@]}" 6
	run grep -c '^TCPREMOTEIP=' "$OUT"
	assert_output 0
}

@test "a program behind blockip given --proxy-protocol too does not wait for a second header" {
	activate inetd "$BIN/blockip" "${PP[@]}" "$LIST" "$BIN/echo" "${PP[@]}" --log-level 3
	run raw "" 'PROXY TCP4 192.0.2.2 198.51.100.1 5555 8012\r\nhello\n'
	assert_output 6
	assert_equal "$(cat "$OUT")" "hello"
	wait_log "$LOG" "inetkit-echo.*served peer=192\.0\.2\.2:5555 local=198\.51\.100\.1:8012"
}

@test "the same header from a peer outside --trusted-proxy is refused with nothing sent" {
	activate inetd "$BIN/blockip" --proxy-protocol --trusted-proxy 127.0.0.1/32 "$LIST" "$BIN/echo"
	run raw 127.0.0.2 'PROXY TCP4 192.0.2.2 198.51.100.1 5555 8012\r\nhello\n'
	assert_output 0
	wait_log "$LOG" 'refused peer=127\.0\.0\.2:[0-9]+ .*rule="proxy: peer is not a --trusted-proxy"'
	run child_status 1
	assert_output 1
	run raw 127.0.0.2 '@v2=192.0.2.2,198.51.100.1,5555,8012' 'hello\n'
	assert_output 0
	run child_status 2
	assert_output 1
}

@test "without --proxy-protocol a header is never believed: it is just data" {
	activate inetd "$BIN/blockip" "$LIST" "$BIN/echo" --rfc862
	run raw "" 'PROXY TCP4 192.0.2.1 198.51.100.1 5555 8012\r\nhello\n'
	assert_output 51
	assert_equal "$(od -An -c "$OUT")" \
	    "$(printf 'PROXY TCP4 192.0.2.1 198.51.100.1 5555 8012\r\nhello\n' | od -An -c)"
	run grep -c "notice: blocked" "$LOG"
	assert_output 0
}

@test "garbage, over-long and broken headers end the connection with 100 and a log line" {
	activate inetd "$BIN/echo" "${PP[@]}"
	n=0
	for h in 'GET / HTTP/1.0\r\n\r\n' \
	    'PROXY TCP4 192.0.2.1 198.51.100.1 5555 65536\r\nx\n' \
	    'PROXY TCP4 192.0.2.1 198.51.100.1 05555 80\r\nx\n' \
	    'PROXY TCP4 2001:db8::1 198.51.100.1 5555 80\r\nx\n' \
	    'PROXY TCP6 192.0.2.1 2001:db8::1 5555 80\r\nx\n' \
	    'PROXY TCP4 192.0.2.1  198.51.100.1 5555 80\r\nx\n' \
	    'PROXY TCP4 192.0.2.1 198.51.100.1 5555 80\nx\n' \
	    'PROXY UDP4 192.0.2.1 198.51.100.1 5555 80\r\nx\n' \
	    "PROXY UNKNOWN $(printf 'x%.0s' $(seq 100))\\r\\n" \
	    '@v2raw=0d0a0d0a000d0a515549540a31110000' \
	    '@v2raw=0d0a0d0a000d0a515549540a21110004c0000201' \
	    '@v2raw=0d0a0d0a000d0a515549540a2112000cc0000201c633640115b31f4c' \
	    '@v2raw=0d0a0d0a000d0a51554954' ; do
		n=$((n + 1))
		run raw "" "$h"
		assert_output 0
		run child_status "$n"
		assert_output 100
	done
	run grep -c 'rule="proxy: malformed header' "$LOG"
	assert_output 12
	# The last one: EOF inside the v2 signature.
	run grep -c 'rule="proxy: connection closed inside the header' "$LOG"
	assert_output 1
}

@test "a truncated header (EOF inside it) ends the connection with 100" {
	activate inetd "$BIN/echo" "${PP[@]}"
	run raw "" 'PROXY TCP4 192.0.2.1 198.51'
	assert_output 0
	# The client's bytes are one field: escaped, no space or quote of their own.
	wait_log "$LOG" 'rule="proxy: connection closed inside the header, got PROXY%20TCP4%20192\.0\.2\.1%20198\.51" '
	run child_status 1
	assert_output 100
}

@test "no header within --proxy-timeout: the connection ends (exit 1), logged" {
	activate inetd "$BIN/echo" "${PP[@]}" --proxy-timeout 1
	t0=$SECONDS
	run raw "" 'PROXY TCP4 ' @hold
	assert_output 0
	[ $((SECONDS - t0)) -le 4 ]
	wait_log "$LOG" 'rule="proxy: no complete header in time, got PROXY%20TCP4%20" '
	run child_status 1
	assert_output 1
	run raw "" @hold
	assert_output 0
	run child_status 2
	assert_output 1
}

@test "LOCAL (v2) and UNKNOWN (v1) headers leave the socket's own identity" {
	activate inetd "$BIN/blockip" "${PP[@]}" "$LIST" env
	run raw "" '@v2local'
	run grep -x -e TCPREMOTEIP=127.0.0.1 -e INETKIT_PROXIED=1 "$OUT"
	assert_equal "${#lines[@]}" 2
	run raw "" 'PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n'
	run grep -x -e TCPREMOTEIP=127.0.0.1 -e INETKIT_PROXIED=1 "$OUT"
	assert_equal "${#lines[@]}" 2
}

@test "--proxy-protocol needs a --trusted-proxy, and a valid one (exit 100)" {
	run "$BIN/echo" --proxy-protocol </dev/null
	assert_failure 100
	assert_output --partial "--proxy-protocol needs at least one --trusted-proxy"
	run "$BIN/echo" --proxy-protocol --trusted-proxy 10.0.0.0/40 </dev/null
	assert_failure 100
	assert_output --partial '"10.0.0.0/40" is not an address or CIDR block'
	run "$BIN/echo" --proxy-protocol --trusted-proxy 127.0.0.1 --proxy-timeout 0 </dev/null
	assert_failure 100
}

@test "--proxy-protocol on a connection that is not a TCP socket refuses it (exit 1)" {
	run "$BIN/echo" "${PP[@]}" <<<"PROXY TCP4 192.0.2.2 198.51.100.1 5555 8012"
	assert_failure 1
	assert_output --partial 'rule="proxy: not a TCP connection"'
	refute_line "PROXY TCP4 192.0.2.2 198.51.100.1 5555 8012"
}

# via_haproxy SRC ITEM...: as raw, through HAProxy from source address SRC.
via_haproxy() {
	local src=$1
	shift
	python3 "$RAWCLIENT" 127.0.0.1 "$HPORT" "$src" "$@" >"$OUT"
	wc -c <"$OUT"
}

@test "behind a real HAProxy (send-proxy-v2): the client's address, not HAProxy's, decides" {
	printf '127.0.0.2\n' >"$LIST"
	activate inetd "$BIN/blockip" "${PP[@]}" "$LIST" "$BIN/echo"
	haproxy_front send-proxy-v2
	run via_haproxy 127.0.0.3 'through haproxy\n'
	assert_output 16
	assert_equal "$(cat "$OUT")" "through haproxy"
	run via_haproxy 127.0.0.2 'through haproxy\n'
	assert_output 0
	wait_log "$LOG" "blocked 127\.0\.0\.2 \($LIST line 1: 127\.0\.0\.2\)"
}

@test "behind a real HAProxy (send-proxy, v1): the same" {
	printf '127.0.0.2\n' >"$LIST"
	activate inetd "$BIN/blockip" "${PP[@]}" "$LIST" "$BIN/echo"
	haproxy_front send-proxy
	run via_haproxy 127.0.0.3 'v1\n'
	assert_output 3
	assert_equal "$(cat "$OUT")" "v1"
	run via_haproxy 127.0.0.2 'v1\n'
	assert_output 0
	wait_log "$LOG" "blocked 127\.0\.0\.2 \($LIST line 1: 127\.0\.0\.2\)"
}

@test "behind HAProxy, the wrapped program sees the real client in TCPREMOTEIP" {
	activate inetd "$BIN/blockip" "${PP[@]}" "$LIST" env
	haproxy_front send-proxy-v2
	# No data and no FIN from the client: it waits for env to write and close.
	run via_haproxy 127.0.0.3 @hold
	refute_output 0
	run grep -x -e TCPREMOTEIP=127.0.0.3 -e "TCPLOCALPORT=$HPORT" -e INETKIT_PROXIED=1 "$OUT"
	assert_equal "${#lines[@]}" 3
}
