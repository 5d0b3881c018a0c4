#!/usr/bin/env bats
# Access rules (inetkit.conf(5), "ACCESS RULES"; client identity): Net::Server's
# order -- no rule allows; a deny match refuses; otherwise an allow match is
# required, so deny rules alone refuse everyone. A refused client gets no byte
# and exit 1, and the log names the rule.

load helpers
load proto_helpers

setup() {
	# The suites must not inherit a client identity from the shell running them.
	unset PROTO TCPREMOTEIP TCPREMOTEPORT TCPLOCALIP TCPLOCALPORT TCP6REMOTEIP \
	    REMOTE_ADDR REMOTE_PORT REMOTE_HOST
}

teardown() {
	kill_bg
}

# as CLIENT PROG ARGS: feeds "ping\n" to PROG as the UCSPI client CLIENT.
as() {
	local ip=$1
	shift
	PROTO=TCP TCPREMOTEIP=$ip TCPREMOTEPORT=4711 feed 'ping\n' "$@"
}

# The client was served: exit 0, the line echoed.
assert_served() {
	assert_success
	assert_out 'ping\n'
}

# The client was refused: exit 1, no byte sent, and one log record for PEER
# naming RULE.
assert_refused() {
	local peer=$1 rule=$2
	assert_failure 1
	assert_out_empty
	run grep -c -F "notice: refused peer=$peer local=- rule=\"$rule\" " "$ERR"
	assert_output 1 || fail "log: $(cat "$ERR")"
}

# talk, with the reply in $OUT for exact comparison.
talk_out() {
	talk "$@" >"$OUT"
}

# --- the order of the rules --------------------------------------------------

@test "with no rules, a known client is served" {
	run as 10.1.2.3 "$BIN/echo"
	assert_served
}

@test "with no rules, an unknown client (a pipe, no environment) is served" {
	run feed 'ping\n' "$BIN/echo"
	assert_served
}

@test "a deny match refuses with exit 1 and no byte, and the log names the rule" {
	run as 10.1.2.3 "$BIN/echo" --deny '10\..*'
	assert_refused 10.1.2.3:4711 'deny 10\..*'
}

@test "deny rules alone refuse a client they do not match" {
	run as 192.0.2.1 "$BIN/echo" --deny '10\..*'
	assert_refused 192.0.2.1:4711 'no allow rule matched'
}

@test "cidr-deny rules alone refuse a client they do not match" {
	run as 192.0.2.1 "$BIN/echo" --cidr-deny 10.0.0.0/8
	assert_refused 192.0.2.1:4711 'no allow rule matched'
}

@test "an allow match serves the client" {
	run as 10.1.2.3 "$BIN/echo" --allow '10\.1\.2\.3' --log-level 3
	assert_served
	run grep -c -F 'info: served peer=10.1.2.3:4711 local=- rule="allow 10\.1\.2\.3" ' "$ERR"
	assert_output 1
}

@test "allow rules refuse a client none of them match" {
	run as 10.1.2.4 "$BIN/echo" --allow '10\.1\.2\.3' --allow '192\..*'
	assert_refused 10.1.2.4:4711 'no allow rule matched'
}

@test "a deny match wins over an allow match" {
	run as 10.1.2.3 "$BIN/echo" --allow '10\..*' --deny '10\.1\.2\.3'
	assert_refused 10.1.2.3:4711 'deny 10\.1\.2\.3'
	run as 10.1.2.4 "$BIN/echo" --allow '10\..*' --deny '10\.1\.2\.3'
	assert_served
}

@test "a cidr-deny match wins over a cidr-allow match" {
	run as 10.1.2.3 "$BIN/echo" --cidr-allow 10.0.0.0/8 --cidr-deny 10.1.2.0/24
	assert_refused 10.1.2.3:4711 'cidr-deny 10.1.2.0/24'
	run as 10.1.3.3 "$BIN/echo" --cidr-allow 10.0.0.0/8 --cidr-deny 10.1.2.0/24
	assert_served
}

@test "a regex deny wins over a cidr allow, and a cidr deny over a regex allow" {
	run as 10.1.2.3 "$BIN/echo" --cidr-allow 10.0.0.0/8 --deny '10\.1\..*'
	assert_refused 10.1.2.3:4711 'deny 10\.1\..*'
	run as 10.1.2.3 "$BIN/echo" --allow '10\..*' --cidr-deny 10.1.2.3
	assert_refused 10.1.2.3:4711 'cidr-deny 10.1.2.3'
}

@test "regex and CIDR allow rules each suffice" {
	run as 10.1.2.3 "$BIN/echo" --allow '192\..*' --cidr-allow 10.1.2.3/32
	assert_served
	run as 192.0.2.1 "$BIN/echo" --allow '192\..*' --cidr-allow 10.1.2.3/32
	assert_served
}

@test "lcecho refuses by the same rules, with exit 1 and no byte" {
	run as 10.1.2.3 "$BIN/lcecho" --cidr-deny 10.1.2.3
	assert_refused 10.1.2.3:4711 'cidr-deny 10.1.2.3'
}

# --- regex anchoring -------------------------------------------------------------

@test "regexes are anchored: --allow 10\\.1 does not match 10.1.2.3" {
	run as 10.1.2.3 "$BIN/echo" --allow '10\.1'
	assert_refused 10.1.2.3:4711 'no allow rule matched'
}

@test "regexes are anchored at the start: --allow 1\\.2\\.3 does not match 10.1.2.3" {
	run as 10.1.2.3 "$BIN/echo" --allow '1\.2\.3'
	assert_refused 10.1.2.3:4711 'no allow rule matched'
}

@test "a top-level | is anchored as Net::Server anchors it: --deny '10\\.1|9' is /^10\\.1|9\$/, and matches 10.1.2.3" {
	run as 10.1.2.3 "$BIN/echo" --deny '10\.1|9' --allow '.*'
	assert_refused 10.1.2.3:4711 'deny 10\.1|9'
	# Said once, at the start, with the pattern that anchors every alternative.
	run grep -c -F 'warning: deny rule "10\.1|9": its "|" is outside any group, and Net::Server anchors it as /^10\.1|9$/: the first alternative must match at the start and the last at the end, the others anywhere; to match the whole address or host name with any of them, write (?:10\.1|9)' "$ERR"
	assert_output 1
	# The footgun it warns of: 10.0.0.10 starts with 10.0.0.1.
	run as 10.0.0.10 "$BIN/echo" --allow '10\.0\.0\.1|10\.0\.0\.2'
	assert_served
}

@test "a | inside a group, a class or escaped draws no warning, and (?:A|B) anchors both" {
	run as 10.1.2.3 "$BIN/echo" --deny '(?:10\.1|9)' --deny '[|]' --deny '\|' --allow '.*'
	assert_served
	run grep -c warning "$ERR"
	assert_output 0
	run as 10.0.0.10 "$BIN/echo" --allow '(?:10\.0\.0\.1|10\.0\.0\.2)'
	assert_refused 10.0.0.10:4711 'no allow rule matched'
}

@test "patterns are Perl's: --allow '10\\.1\\.\\d+\\.3' matches 10.1.2.3, as the ERE [0-9]+ did" {
	run as 10.1.2.3 "$BIN/echo" --allow '10\.1\.\d+\.3'
	assert_served
	run as 10.1.2.3 "$BIN/echo" --allow '10\.1\.[0-9]+\.3'
	assert_served
	run as 10.1.2.3 "$BIN/echo" --allow '(?i)10\.1\.\d+?\.[\d]'
	assert_served
}

# --- what a pattern may cost ---------------------------------------------------------

# A 39-byte IPv6 address, only ever named in the UCSPI variables, and a
# pattern that backtracks exponentially on it.
V6=aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaab
V6_EVIL='([0-9a-f:]+)+:'

# within_2s START: fails unless less than 2 s went by since START (${EPOCHREALTIME/./}).
within_2s() {
	local us=$(( ${EPOCHREALTIME/./} - $1 ))
	[ "$us" -lt 2000000 ] || fail "took $(( us / 1000 )) ms"
}

@test "a deny pattern stopped at its match limit refuses at once (fail closed), and the record says so" {
	local t0=${EPOCHREALTIME/./}
	run as "$V6" "$BIN/echo" --deny "$V6_EVIL" --cidr-allow ::/0
	within_2s "$t0"
	assert_refused "[$V6]:4711" "deny $V6_EVIL (match limit on the address)"
	run grep -c -F "warning: deny rule \"$V6_EVIL\" could not be matched on the address of [$V6]:4711 (match limit): the client is refused" "$ERR"
	assert_output 1
}

@test "an allow pattern stopped at its match limit does not match; a later rule decides; one warning" {
	run as "$V6" "$BIN/echo" --allow "$V6_EVIL" --allow "${V6_EVIL}(?:)" --cidr-allow aaaa::/16 \
	    --log-level 3
	assert_served
	run grep -c -F "info: served peer=[$V6]:4711 local=- rule=\"cidr-allow aaaa::/16\" " "$ERR"
	assert_output 1
	run grep -c warning "$ERR"
	assert_output 1
	run grep -c -F "warning: allow rule \"$V6_EVIL\" could not be matched on the address of [$V6]:4711 (match limit): it does not match (2 matches of this client hit a limit)" "$ERR"
	assert_output 1
}

# A 253-byte host name, on which the catastrophic patterns backtrack.
LONG=$(printf 'a%.0s' {1..250})xb-

# setup_hosts: "${WITH_HOSTS[@]}" PROG [ARG...] runs PROG with a hosts file of
# the test's own over /etc/hosts, in a private mount namespace, so that
# reverse lookups of loopback addresses find the names the test gives them
# (and the machine's file is never touched).
setup_hosts() {
	unshare -m true 2>/dev/null || skip "no private mount namespace here (unshare -m)"
	printf '127.0.0.1 localhost\n127.0.0.7 %s\n' "$LONG" >"$BATS_TEST_TMPDIR/hosts"
	WITH_HOSTS=(unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$BATS_TEST_TMPDIR/hosts")
}

@test "over a 253-byte host name, each catastrophic deny pattern refuses within 2 s, naming itself" {
	setup_hosts
	local p t0
	for p in '(a+)+b' '(a|aa)+$' '(.*)*x' '((a*)*)*' '(a|a)+b' '(\w|\w\w)+b'; do
		t0=${EPOCHREALTIME/./}
		run as 127.0.0.7 "${WITH_HOSTS[@]}" "$BIN/echo" --reverse-lookups --deny "$p" --cidr-allow 127.0.0.0/8
		within_2s "$t0"
		assert_refused 127.0.0.7:4711 "deny $p (match limit on the host name)"
	done
}

@test "over a 253-byte host name, 64 catastrophic allow and 64 costly deny patterns answer within 2 s" {
	setup_hosts
	local i args=() t0
	for i in {1..64}; do
		args+=(--allow "(a+)+b$(printf '(?:)%.0s' $(seq "$i"))"
		    --deny "x|(?:a|a){0,5}c$(printf '(?:)%.0s' $(seq "$i"))")
	done
	t0=${EPOCHREALTIME/./}
	run as 127.0.0.7 "${WITH_HOSTS[@]}" "$BIN/echo" --reverse-lookups "${args[@]}" --cidr-allow 127.0.0.7 \
	    --log-level 3
	within_2s "$t0"
	assert_served
	run grep -c -F 'info: served peer=127.0.0.7:4711 local=- rule="cidr-allow 127.0.0.7" ' "$ERR"
	assert_output 1
	run grep -c -F 'warning: allow rule "(a+)+b(?:)" could not be matched on the host name of 127.0.0.7:4711 (match limit): it does not match (64 matches of this client hit a limit)' "$ERR"
	assert_output 1
}

@test "over reverse lookups, a host pattern matches the name: --allow 'local\\w+' serves 127.0.0.1 (localhost)" {
	setup_hosts
	run as 127.0.0.1 "${WITH_HOSTS[@]}" "$BIN/echo" --reverse-lookups --allow 'local\w+'
	assert_served
	run as 127.0.0.1 "${WITH_HOSTS[@]}" "$BIN/echo" --reverse-lookups --allow 'local'
	assert_refused 127.0.0.1:4711 'no allow rule matched'
}

# --- IPv6 and IPv4-mapped addresses ----------------------------------------------------

@test "an IPv6 client is matched by an IPv6 CIDR block and refused outside it" {
	run as 2001:db8::5 "$BIN/echo" --cidr-allow 2001:db8::/32
	assert_served
	run as 2001:db9::5 "$BIN/echo" --cidr-allow 2001:db8::/32
	assert_refused '[2001:db9::5]:4711' 'no allow rule matched'
}

@test "an IPv6 client is matched by regex on its normalised spelling" {
	run as 2001:DB8:0:0:0:0:0:5 "$BIN/echo" --deny '2001:db8::5'
	assert_refused '[2001:db8::5]:4711' 'deny 2001:db8::5'
}

@test "IPv6 clients are found under PROTO=TCP6 too" {
	PROTO=TCP6 TCP6REMOTEIP=2001:db8::7 run feed 'ping\n' "$BIN/echo" --cidr-deny 2001:db8::7/128
	assert_refused '[2001:db8::7]' 'cidr-deny 2001:db8::7/128'
}

@test "an IPv4 rule does not match an IPv6 client, nor an IPv6 rule an IPv4 client" {
	run as 2001:db8::a01:203 "$BIN/echo" --cidr-allow 0.0.0.0/0
	assert_refused '[2001:db8::a01:203]:4711' 'no allow rule matched'
	run as 10.1.2.3 "$BIN/echo" --cidr-allow ::/0
	assert_refused 10.1.2.3:4711 'no allow rule matched'
}

@test "a v4-mapped client ::ffff:10.1.2.3 is matched by --cidr-allow 10.0.0.0/8" {
	run as ::ffff:10.1.2.3 "$BIN/echo" --cidr-allow 10.0.0.0/8 --log-level 3
	assert_served
	run grep -c -F 'info: served peer=10.1.2.3:4711 local=- rule="cidr-allow 10.0.0.0/8" ' "$ERR"
	assert_output 1
}

@test "a v4-mapped client ::ffff:10.1.2.3 is matched by regex on 10.1.2.3" {
	run as ::ffff:10.1.2.3 "$BIN/echo" --deny '10\.1\.2\.3'
	assert_refused 10.1.2.3:4711 'deny 10\.1\.2\.3'
}

@test "a v4-mapped CIDR block ::ffff:10.0.0.0/104 matches the IPv4 client 10.1.2.3" {
	run as 10.1.2.3 "$BIN/echo" --cidr-deny ::ffff:10.0.0.0/104
	assert_refused 10.1.2.3:4711 'cidr-deny ::ffff:10.0.0.0/104'
}

# --- unknown clients and the environment fallbacks ----------------------------------------

@test "an unknown client matches no allow rule, not even .*" {
	run feed 'ping\n' "$BIN/echo" --allow '.*'
	assert_refused unknown 'no allow rule matched'
}

@test "an unknown client matches no CIDR rule, not even 0.0.0.0/0" {
	run feed 'ping\n' "$BIN/echo" --cidr-allow 0.0.0.0/0 --cidr-allow ::/0
	assert_refused unknown 'no allow rule matched'
}

@test "an unknown client matches no deny rule: it is refused for want of an allow" {
	run feed 'ping\n' "$BIN/echo" --deny '.*' --cidr-deny 0.0.0.0/0
	assert_refused unknown 'no allow rule matched'
}

@test "a pipe falls back to REMOTE_ADDR and REMOTE_PORT" {
	REMOTE_ADDR=10.1.2.3 REMOTE_PORT=999 run feed 'ping\n' "$BIN/echo" --cidr-deny 10.1.2.3
	assert_refused 10.1.2.3:999 'cidr-deny 10.1.2.3'
	REMOTE_ADDR=10.1.2.3 run feed 'ping\n' "$BIN/echo" --cidr-allow 10.1.2.3
	assert_served
}

@test "a pipe falls back to xinetd's REMOTE_HOST" {
	REMOTE_HOST=10.1.2.3 run feed 'ping\n' "$BIN/echo" --deny '10\.1\.2\.3'
	assert_refused 10.1.2.3 'deny 10\.1\.2\.3'
}

@test "the UCSPI variables win over REMOTE_ADDR" {
	PROTO=TCP TCPREMOTEIP=192.0.2.1 REMOTE_ADDR=10.1.2.3 run feed 'ping\n' "$BIN/echo" \
	    --cidr-allow 10.0.0.0/8
	assert_refused 192.0.2.1 'no allow rule matched'
}

@test "an unparsable REMOTE_ADDR leaves the client unknown" {
	REMOTE_ADDR=not-an-address run feed 'ping\n' "$BIN/echo" --allow '.*'
	assert_refused unknown 'no allow rule matched'
}

# --- real sockets -------------------------------------------------------------------

@test "over a socket, --cidr-allow 127.0.0.2/32 serves a client from 127.0.0.2" {
	activate inetd "$BIN/echo" --cidr-allow 127.0.0.2/32 --log-level 3
	run talk_out "$PORT" bind=127.0.0.2 <<<"ping"
	assert_success
	assert_out 'ping\n'
	run child_status
	assert_output 0
	run child_log
	assert_output --regexp "^info: served peer=127\.0\.0\.2:[0-9]+ local=127\.0\.0\.1:$PORT rule=\"cidr-allow 127\.0\.0\.2/32\" user=- in=5 out=5 duration=[0-9.]+s status=0 end=eof\$"
}

@test "over a socket, --cidr-allow 127.0.0.2/32 refuses 127.0.0.1 with no byte and exit 1" {
	activate inetd "$BIN/echo" --cidr-allow 127.0.0.2/32
	run dialog -c 127.0.0.1 "$PORT" eof
	assert_success
	assert_output eof
	run child_status
	assert_output 1
	run child_log
	assert_output --regexp "^notice: refused peer=127\.0\.0\.1:[0-9]+ local=127\.0\.0\.1:$PORT rule=\"no allow rule matched\" user=- in=0 out=0 duration=[0-9.]+s status=1 end=ok\$"
}

@test "over a socket, a refused client that sends first still gets no byte" {
	activate inetd "$BIN/echo" --cidr-allow 127.0.0.2/32
	run dialog -c 127.0.0.1 "$PORT" send:'ping\n' closed
	assert_success
	assert_output closed
	run child_status
	assert_output 1
}

@test "over a socket, --cidr-deny 127.0.0.2 refuses 127.0.0.2 and serves 127.0.0.1" {
	activate inetd "$BIN/echo" --cidr-deny 127.0.0.2 --cidr-allow 127.0.0.0/8
	run dialog -b 127.0.0.2 -c 127.0.0.1 "$PORT" eof
	assert_success
	assert_output eof
	run child_status 1
	assert_output 1
	run child_log 1
	assert_output --regexp '^notice: refused peer=127\.0\.0\.2:[0-9]+ .* rule="cidr-deny 127\.0\.0\.2" .* status=1 end=ok$'
	run dialog -c 127.0.0.1 "$PORT" send:'ping\n' recv:5 send:'\n' eof
	assert_success
	assert_output "recv b'ping\\n'
eof"
	run child_status 2
	assert_output 0
}

@test "over a socket, an anchored --allow regex tells 127.0.0.2 from 127.0.0.20" {
	activate inetd "$BIN/echo" --allow '127\.0\.0\.2'
	run dialog -b 127.0.0.20 -c 127.0.0.1 "$PORT" eof
	assert_success
	assert_output eof
	run child_status 1
	assert_output 1
	run dialog -b 127.0.0.2 -c 127.0.0.1 "$PORT" send:'ping\n' recv:5 send:'\n' eof
	assert_success
	assert_output "recv b'ping\\n'
eof"
	run child_status 2
	assert_output 0
}

@test "over a v4-mapped socket, the client 127.0.0.1 is matched as IPv4" {
	activate inetd --host ::ffff:127.0.0.1 "$BIN/echo" \
	    --cidr-allow 127.0.0.0/8 --deny '127\.0\.0\.2' --log-level 3
	run talk_out "$PORT" <<<"mapped"
	assert_success
	assert_out 'mapped\n'
	run child_status
	assert_output 0
	run child_log
	assert_output --regexp "^info: served peer=127\.0\.0\.1:[0-9]+ local=127\.0\.0\.1:$PORT rule=\"cidr-allow 127\.0\.0\.0/8\" .* status=0 end=eof\$"
}

@test "over IPv6, --cidr-allow ::1/128 serves a client from ::1" {
	has_ipv6_loopback || skip "::1 is not available here"
	activate inetd --host ::1 "$BIN/echo" --cidr-allow ::1/128 --log-level 3
	run dialog -c ::1 "$PORT" send:'ping\n' recv:5 send:'\n' eof
	assert_success
	assert_output "recv b'ping\\n'
eof"
	run child_status
	assert_output 0
	run child_log
	assert_output --regexp "^info: served peer=\[::1\]:[0-9]+ local=\[::1\]:$PORT rule=\"cidr-allow ::1/128\" user=- in=6 out=5 .* status=0 end=ok\$"
}

@test "over IPv6, --deny ::1 refuses a client from ::1 with no byte and exit 1" {
	has_ipv6_loopback || skip "::1 is not available here"
	activate inetd --host ::1 "$BIN/echo" --deny '::1'
	run dialog -c ::1 "$PORT" send:'ping\n' closed
	assert_success
	assert_output closed
	run child_status
	assert_output 1
	run child_log
	assert_output --regexp '^notice: refused peer=\[::1\]:[0-9]+ .* rule="deny ::1" .* status=1 end=ok$'
}

@test "over IPv6, an IPv4 block does not admit ::1" {
	has_ipv6_loopback || skip "::1 is not available here"
	activate inetd --host ::1 "$BIN/echo" --cidr-allow 127.0.0.0/8
	run dialog -c ::1 "$PORT" eof
	assert_success
	assert_output eof
	run child_status
	assert_output 1
	run child_log
	assert_output --regexp '^notice: refused peer=\[::1\]:[0-9]+ .* rule="no allow rule matched" .* status=1 end=ok$'
}

# closed_how PORT: sends 1200 bytes the server will never read, then reads:
# "eof" for a clean close, "reset" if the kernel answered the unread input with a RST.
closed_how() {
	python3 - "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"x" * 1200)
try:
    while s.recv(4096):
        pass
    print("eof")
except ConnectionResetError:
    print("reset")
PY
}

@test "a client the rules refuse gets a clean close, not a reset, however much it sent unread" {
	activate inetd "$BIN/echo" --deny '.*'
	run closed_how "$PORT"
	assert_output eof
	run child_status 1
	assert_output 1
	activate inetd "$BIN/cmdserver" --htpasswd /dev/null --deny '.*'
	run closed_how "$PORT"
	assert_output eof
}
