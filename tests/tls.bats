#!/usr/bin/env bats
# inetkit-tls: the TLS server in front of an inetd program, through real
# clients (openssl s_client, socat's OPENSSL: address, Python's ssl module
# in tlsc) and real activators: versions, byte-exact sessions, bulk,
# half-close, SNI, client certificates, bad input and bad keys, cmdserver
# behind it (--require-tls), the UCSPI variables and the PROXY protocol.
# Every certificate is made at setup_file (tls_helpers.bash, make_pki).

# PROGRAMs are sh -c scripts in single quotes on purpose; bats runs each test in a subshell.
# shellcheck disable=SC2016,SC2030,SC2031
load helpers
load proto_helpers
load cmdserver_helpers
load serve
load tls_helpers
bats_require_minimum_version 1.5.0

setup_file() {
	export PKI USERS
	# World-readable (and a spool world-writable) for the test that runs tls as nobody.
	PKI=$(mktemp -d /tmp/inetkit-tls.XXXXXX)
	chmod 755 "$PKI"
	make_pki "$PKI"
	mkdir -m 1777 "$PKI/spool"
	USERS=$PKI/users
	htpasswd -cbB "$USERS" dougm foobar 2>/dev/null
}

teardown_file() {
	rm -rf "$PKI"
}

setup() {
	# The activator's log, with tls's records and PROGRAM's stderr.
	LOG=$ACTIVATE_LOG
	: >"$LOG"
	TLS=(--log-level 3 --cert "$PKI/server.crt" --key "$PKI/server.key")
	# A PROGRAM that leaves a mark when it starts, then echoes.
	MARK=$BATS_TEST_TMPDIR/started
	TOUCH=(sh -c 'touch "$0"; exec cat' "$MARK")
}

teardown() {
	kill_bg
	# Under SANITIZE=1 a sanitizer's report fails the test, also where its
	# exit status (1) is the status the test expects (a refusal).
	if grep -qaE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG"; then
		grep -aE -A4 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG" | head -20 >&2
		return 1
	fi
}

# openssl s_client on $PORT, quiet (it reads until the server closes); stdin
# is what it sends; its chatter goes to $BATS_TEST_TMPDIR/sclient.err.
sclient() {
	timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -quiet "$@" \
	    2>"$BATS_TEST_TMPDIR/sclient.err"
}

# PROGRAM never started: the mark was never made.
assert_not_started() {
	[ ! -e "$MARK" ] || fail "PROGRAM was started"
}

# assert_refused_once ERE [END]: connection 1 exited 1 and tls logged
# exactly one record, a refusal matching ERE that ends end=END (an ERE,
# "error" by default); PROGRAM never started. A client that closes the
# moment it reads the server's alert may end it as eof instead: whichever
# tls saw first.
assert_refused_once() {
	run child_status 1
	assert_output 1
	run records
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "notice: refused peer=127\.0\.0\.1:[0-9]+ .*$1"
	assert_output --regexp " status=1 end=${2:-error}\$"
	assert_not_started
}

# assert_duration MIN MAX: the only record's duration is MIN to MAX ms.
# (The clocks count whole milliseconds: a 1 s timeout may show as 0.999s.)
# A copy of tls that nobody can run: the checkout may be private (root's home, 0700).
nobody_tls() {
	install -m 755 "$BIN/tls" "$PKI/spool/tls" && echo "$PKI/spool/tls"
}

assert_duration() {
	local ms
	ms=$(records | sed -n 's/.* duration=\([0-9]*\)\.\([0-9]*\)s .*/\1\2/p' | sed 's/^0*//;s/^$/0/')
	if [ "$ms" -lt "$1" ] || [ "$ms" -gt "$2" ]; then
		fail "duration $ms ms, not within $1..$2 ms"
	fi
}

# --- versions and sessions --------------------------------------------------------

@test "TLS 1.2 and TLS 1.3, forced by openssl s_client: echo sessions, byte-exact, the version in the record" {
	activate inetd "$BIN/tls" "${TLS[@]}" "$BIN/echo"
	printf 'Hello, TLS 1.2\r\n\n' | sclient -tls1_2 -servername one.example >"$OUT"
	assert_out 'Hello, TLS 1.2\r\n'
	printf 'Hello, TLS 1.3\r\n\n' | sclient -tls1_3 -servername two.example >"$OUT"
	assert_out 'Hello, TLS 1.3\r\n'
	wait_exits 2
	run records
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp ' served .* in=17 out=16 .* status=0 tls=TLSv1\.2 cipher=ECDHE-ECDSA-[A-Z0-9-]+ sni=one\.example '
	assert_line --index 1 --regexp ' served .* in=17 out=16 .* status=0 tls=TLSv1\.3 cipher=TLS_[A-Z0-9_]+ sni=two\.example '
}

@test "SSL_PROTOCOL and SSL_CIPHER follow the version the client forced; --protocols tlsv1.3 refuses TLS 1.2" {
	activate inetd "$BIN/tls" "${TLS[@]}" env
	run tlsc "$PORT" --tls12
	assert_line --regexp '^handshake TLSv1\.2 ECDHE-ECDSA-'
	cipher=${lines[0]##* }
	run grep -x -e SSL_PROTOCOL=TLSv1.2 -e "SSL_CIPHER=$cipher" "$OUT"
	assert_equal "${#lines[@]}" 2
	run tlsc "$PORT" --tls13
	assert_line --regexp '^handshake TLSv1\.3 TLS_'
	cipher=${lines[0]##* }
	run grep -x -e SSL_PROTOCOL=TLSv1.3 -e "SSL_CIPHER=$cipher" "$OUT"
	assert_equal "${#lines[@]}" 2
	kill_bg
	: >"$LOG"
	activate inetd "$BIN/tls" "${TLS[@]}" --protocols tlsv1.3 "${TOUCH[@]}"
	run tlsc "$PORT" --tls12 send:'never\n'
	refute_line --partial handshake
	assert_line --partial 'PROTOCOL_VERSION'
	assert_refused_once 'rule="tls: handshake: handshake failed: .*unsupported protocol"' '(error|eof)'
}

@test "every byte value, both ways, byte-exact through echo --rfc862 on TLS 1.2 and 1.3 (Python)" {
	python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 96 + b"\r\n\n\n\x00")' \
	    >"$BATS_TEST_TMPDIR/in"
	activate inetd "$BIN/tls" "${TLS[@]}" "$BIN/echo" --rfc862
	for v in --tls12 --tls13; do
		run tlsc "$PORT" "$v" --verify "$PKI/ca.crt" file:"$BATS_TEST_TMPDIR/in" notify
		assert_line 'sent close_notify'
		assert_line 'end close_notify'
		cmp "$BATS_TEST_TMPDIR/in" "$OUT"
	done
	wait_exits 2
	run records
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp ' served .* in=24581 out=24581 .*status=0 tls=TLSv1\.2 .*end=eof$'
	assert_line --index 1 --regexp ' served .* in=24581 out=24581 .*status=0 tls=TLSv1\.3 .*end=eof$'
}

@test "lcecho behind tls (socat OPENSSL:, verifying the server): lines lower-cased, byte-exact" {
	activate inetd "$BIN/tls" "${TLS[@]}" "$BIN/lcecho"
	printf 'Hello WORLD\r\nMiXeD 123 ABC\n' |
	    timeout 20 socat -t 5 -T 10 - "OPENSSL:127.0.0.1:$PORT,cafile=$PKI/ca.crt" >"$OUT"
	assert_out 'hello world\r\nmixed 123 abc\n'
	run child_status 1
	assert_output 0
	run records
	assert_output --regexp ' served .* in=27 out=27 .*status=0 tls=TLSv1\.3 '
}

@test "64 MiB both ways, byte-exact, through echo --rfc862 (socat OPENSSL:, 64 KiB blocks)" {
	head -c 64M /dev/urandom >"$BATS_TEST_TMPDIR/big"
	activate inetd "$BIN/tls" "${TLS[@]}" "$BIN/echo" --rfc862
	SECONDS=0
	timeout 30 socat -b 65536 -t 10 -T 10 "OPENSSL:127.0.0.1:$PORT,verify=0" - \
	    <"$BATS_TEST_TMPDIR/big" >"$OUT"
	cmp "$BATS_TEST_TMPDIR/big" "$OUT"
	[ "$SECONDS" -le 15 ] || fail "64 MiB took $SECONDS s"
	run child_status 1
	assert_output 0
	run records
	assert_output --regexp ' served .* in=67108864 out=67108864 .*status=0 tls=TLSv1\.3 '
	refute_output --partial close=truncated
	rm -f "$BATS_TEST_TMPDIR/big" "$OUT"
}

# --- half-close -----------------------------------------------------------------------

@test "half-close: socat's close_notify after its data is PROGRAM's EOF, and PROGRAM's late answer arrives whole" {
	activate inetd "$BIN/tls" "${TLS[@]}" \
	    sh -c 'n=$(wc -c); sleep 0.5; echo "got $n bytes"; sleep 0.3; echo done'
	printf 'hello world\n' |
	    timeout 20 socat -t 5 -T 5 - "OPENSSL:127.0.0.1:$PORT,verify=0" >"$OUT"
	assert_out 'got 12 bytes\ndone\n'
	run child_status 1
	assert_output 0
	run records
	assert_output --regexp ' served .* in=12 out=18 .*status=0 tls=TLSv1\.3 .*end=eof$'
	# The client ended with close_notify, not a bare FIN.
	refute_output --partial close=truncated
}

@test "half-close on TLS 1.2 and 1.3 (Python): a slow responder's every answer after the client's close_notify" {
	activate inetd "$BIN/tls" "${TLS[@]}" \
	    sh -c 'while read -r l; do sleep 0.2; echo "re: $l"; done; sleep 0.3; echo bye'
	for v in --tls12 --tls13; do
		run tlsc "$PORT" "$v" send:'one\ntwo\n' send:'three\n' notify
		assert_equal "${lines[1]}" 'sent close_notify'
		assert_equal "${lines[2]}" 'end close_notify'
		assert_out 're: one\nre: two\nre: three\nbye\n'
	done
	wait_exits 2
	run records
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp ' served .* in=14 out=30 .*status=0 tls=TLSv1\.2 .*end=eof$'
	assert_line --index 1 --regexp ' served .* in=14 out=30 .*status=0 tls=TLSv1\.3 .*end=eof$'
}

@test "a TCP FIN without close_notify ends the connection: close=truncated in the record" {
	activate inetd "$BIN/tls" "${TLS[@]}" sh -c 'n=$(wc -c); echo "got $n bytes" >&2'
	run tlsc "$PORT" send:'abc' fin
	assert_line 'sent fin'
	run child_status 1
	assert_output 0
	run records
	assert_output --regexp ' served .* in=3 .*status=0 tls=TLSv1\.3 .* close=truncated end=eof$'
	# PROGRAM was told the end of its input all the same.
	run grep -Fx 'got 3 bytes' "$LOG"
	assert_success
}

# --- SNI ------------------------------------------------------------------------------------

@test "SNI: a host name is exported as SSL_TLS_SNI; a name that is not one is logged escaped, never exported" {
	# A stale value in tls's own environment must never pass for the client's.
	activate inetd -E SSL_TLS_SNI=stale.example "$BIN/tls" "${TLS[@]}" env
	run tlsc "$PORT" --sni foo.example
	assert_line 'end close_notify'
	run grep '^SSL_TLS_SNI=' "$OUT"
	assert_output 'SSL_TLS_SNI=foo.example'
	sclient -servername Bar-1.Example.ORG </dev/null >"$OUT"
	run grep '^SSL_TLS_SNI=' "$OUT"
	assert_output 'SSL_TLS_SNI=Bar-1.Example.ORG'
	for bad in bad_name.example 'a b.example' -x.example x.example. \
	    "$(printf 'x.example\nSSL_CLIENT_VERIFY=SUCCESS')"; do
		run tlsc "$PORT" --sni "$bad"
		assert_line 'end close_notify'
		run grep -c '^SSL_TLS_SNI=' "$OUT"
		assert_output 0
		run grep -c '^SSL_CLIENT_VERIFY=' "$OUT"
		assert_output 1
		run grep -c '^SSL_PROTOCOL=TLSv1.3$' "$OUT"
		assert_output 1
	done
	run tlsc "$PORT"
	run grep -c '^SSL_TLS_SNI=' "$OUT"
	assert_output 0
	wait_exits 8
	run records
	assert_equal "${#lines[@]}" 8
	assert_line --index 0 --partial ' sni=foo.example '
	assert_line --index 1 --partial ' sni=Bar-1.Example.ORG '
	assert_line --index 2 --partial ' sni=bad_name.example '
	assert_line --index 3 --partial ' sni=a%20b.example '
	assert_line --index 6 --partial ' sni=x.example%0ASSL_CLIENT_VERIFY%3DSUCCESS '
	refute_line --index 7 --partial ' sni='
}

# --- client certificates -----------------------------------------------------------------

@test "--verify-client require: a valid client certificate is accepted, its DN, issuer and hash exported" {
	activate inetd -E SSL_CLIENT_S_DN=/CN=stale -E SSL_CLIENT_CERT=stale "$BIN/tls" "${TLS[@]}" \
	    --ca "$PKI/ca.crt" --verify-client require env
	run tlsc "$PORT" --tls13 --cert "$PKI/client.crt" --key "$PKI/client.key"
	assert_line 'end close_notify'
	run grep '^SSL_CLIENT_' "$OUT"
	assert_equal "${#lines[@]}" 4
	assert_line 'SSL_CLIENT_VERIFY=SUCCESS'
	assert_line 'SSL_CLIENT_S_DN=CN=alice,O=inetkit tests'
	assert_line 'SSL_CLIENT_I_DN=CN=Test CA,O=inetkit tests'
	assert_line "SSL_CLIENT_HASH=$(cert_hash "$PKI/client.crt")"
	# openssl s_client, on TLS 1.2.
	sclient -tls1_2 -cert "$PKI/client.crt" -key "$PKI/client.key" </dev/null >"$OUT"
	run grep -x -e SSL_PROTOCOL=TLSv1.2 -e SSL_CLIENT_VERIFY=SUCCESS \
	    -e 'SSL_CLIENT_S_DN=CN=alice,O=inetkit tests' "$OUT"
	assert_equal "${#lines[@]}" 3
	wait_exits 2
	run records
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp ' served .*status=0 tls=TLSv1\.3 .*client=CN%3Dalice,O%3Dinetkit%20tests '
	assert_line --index 1 --regexp ' served .*status=0 tls=TLSv1\.2 .*client=CN%3Dalice,O%3Dinetkit%20tests '
}

@test "a client certificate's names are RFC 2253's: a '/' or ',' inside a value cannot pass for a field" {
	activate inetd "$BIN/tls" "${TLS[@]}" --ca "$PKI/ca.crt" --verify-client require env
	run tlsc "$PORT" --cert "$PKI/tricky.crt" --key "$PKI/tricky.key"
	assert_line 'end close_notify'
	run grep '^SSL_CLIENT_S_DN=' "$OUT"
	assert_output 'SSL_CLIENT_S_DN=CN=eve/CN=admin\, OU=x,O=inetkit tests'
}

@test "--verify-client require: no client certificate is refused, PROGRAM never started" {
	activate inetd "$BIN/tls" "${TLS[@]}" --ca "$PKI/ca.crt" --verify-client require "${TOUCH[@]}"
	run tlsc "$PORT"
	assert_line --regexp '^end (error|reset|eof)'
	assert_refused_once 'rule="tls: handshake: handshake failed: .*peer did not return a certificate"' \
	    '(error|eof)'
}

@test "--verify-client require: an expired certificate and one from an untrusted CA are refused, on TLS 1.2 and 1.3" {
	activate inetd "$BIN/tls" "${TLS[@]}" --ca "$PKI/ca.crt" --verify-client require "${TOUCH[@]}"
	for v in --tls12 --tls13; do
		run tlsc "$PORT" "$v" --cert "$PKI/expired.crt" --key "$PKI/expired.key"
		# What the server found is what it told the client.
		assert_line 'end error: SSLV3_ALERT_CERTIFICATE_EXPIRED'
		run tlsc "$PORT" "$v" --cert "$PKI/stranger.crt" --key "$PKI/stranger.key"
		assert_line 'end error: TLSV1_ALERT_UNKNOWN_CA'
	done
	wait_exits 4
	run records
	assert_equal "${#lines[@]}" 4
	for i in 0 1 2 3; do
		assert_line --index "$i" --regexp 'notice: refused .*rule="tls: handshake: handshake failed: .*certificate verify failed" .*status=1 end=(error|eof)$'
	done
	for i in 1 2 3 4; do
		run child_status "$i"
		assert_output 1
	done
	assert_not_started
}

@test "--verify-client optional: no certificate accepted (NONE), a valid one verified, an untrusted one refused" {
	activate inetd -E SSL_CLIENT_VERIFY=SUCCESS -E SSL_CLIENT_S_DN=/CN=stale -E SSL_CLIENT_HASH=stale \
	    "$BIN/tls" "${TLS[@]}" --ca "$PKI/ca.crt" --verify-client optional env
	run tlsc "$PORT"
	assert_line 'end close_notify'
	run grep '^SSL_CLIENT_' "$OUT"
	assert_output 'SSL_CLIENT_VERIFY=NONE'
	run tlsc "$PORT" --cert "$PKI/client.crt" --key "$PKI/client.key"
	run grep '^SSL_CLIENT_' "$OUT"
	assert_equal "${#lines[@]}" 4
	assert_line 'SSL_CLIENT_VERIFY=SUCCESS'
	assert_line "SSL_CLIENT_HASH=$(cert_hash "$PKI/client.crt")"
	run tlsc "$PORT" --cert "$PKI/stranger.crt" --key "$PKI/stranger.key"
	assert_line 'end error: TLSV1_ALERT_UNKNOWN_CA'
	wait_exits 3
	run records
	assert_line --index 0 --regexp ' served .*status=0 tls=TLSv1\.3 '
	refute_line --index 0 --partial ' client='
	assert_line --index 1 --regexp ' served .*status=0 tls=TLSv1\.3 .*client=CN%3Dalice,O%3Dinetkit%20tests '
	assert_line --index 2 --regexp 'refused .*certificate verify failed.* status=1 end=(error|eof)$'
}

@test "--verify-client no (the default): a client certificate is never asked for, SSL_CLIENT_VERIFY=NONE" {
	activate inetd "$BIN/tls" "${TLS[@]}" --ca "$PKI/ca.crt" env
	run tlsc "$PORT" --cert "$PKI/stranger.crt" --key "$PKI/stranger.key"
	assert_line 'end close_notify'
	run grep '^SSL_CLIENT_' "$OUT"
	assert_output 'SSL_CLIENT_VERIFY=NONE'
	run "$BIN/tls" "${TLS[@]}" --verify-client require cat </dev/null
	assert_failure 100
	assert_output --partial 'option --verify-client require needs --ca FILE'
}

# --- bad input: one record, PROGRAM never started ------------------------------------

@test "a plaintext client (GET / HTTP/1.0) is refused with one record, nothing started" {
	activate inetd "$BIN/tls" "${TLS[@]}" "${TOUCH[@]}"
	# The client stays connected: tls ends it.
	run dialog -c 127.0.0.1 "$PORT" 'send:GET / HTTP/1.0\r\n\r\n' closed
	assert_output closed
	assert_refused_once 'rule="tls: handshake: handshake failed: error:0A00009C:SSL routines::http request"'
}

@test "garbage bytes are refused with one record, nothing started" {
	activate inetd "$BIN/tls" "${TLS[@]}" "${TOUCH[@]}"
	run dialog -c 127.0.0.1 "$PORT" 'send:\xde\xad\xbe\xef\x00\x01\x02\x03\xff\xfe\x16\x03garbage garbage\r\n' closed
	assert_output closed
	assert_refused_once 'rule="tls: handshake: handshake failed: error:[0-9A-F]+:SSL routines::[a-z ]+"'
}

@test "a truncated ClientHello, then a stall or a trickle: refused at --handshake-timeout, the duration bounded" {
	activate inetd "$BIN/tls" "${TLS[@]}" --handshake-timeout 1 "${TOUCH[@]}"
	SECONDS=0
	run tlsc "$PORT" --timeout 8 hello:60
	assert_output 'end eof'
	[ "$SECONDS" -le 3 ] || fail "the server ended it after $SECONDS s"
	assert_refused_once 'rule="tls: handshake timed out after 1s" .* duration=[01]\.[0-9]+s '
	assert_duration 950 1500
	# One byte of the ClientHello every 0.2 s: the timeout is for the whole handshake.
	: >"$LOG"
	SECONDS=0
	run tlsc "$PORT" --timeout 8 hello:200:0.2
	assert_output 'end eof'
	[ "$SECONDS" -le 3 ] || fail "a trickling client held the server $SECONDS s"
	run records
	assert_equal "${#lines[@]}" 1
	assert_output --regexp 'refused .*rule="tls: handshake timed out after 1s" .* duration=[01]\.[0-9]+s .*status=1 end=error$'
	assert_duration 950 1500
	assert_not_started
}

@test "a client that connects and sends nothing is refused at --handshake-timeout; one that closes at once too" {
	activate inetd "$BIN/tls" "${TLS[@]}" --handshake-timeout 1 "${TOUCH[@]}"
	run dialog -c 127.0.0.1 "$PORT" eof:0.8:2
	assert_output eof
	assert_refused_once 'rule="tls: handshake timed out after 1s" .* duration=[01]\.[0-9]+s '
	assert_duration 950 1500
	# (It gets OpenSSL's decode_error alert, the one record tls sends.)
	run talk "$PORT" </dev/null
	wait_exits 2
	run records
	assert_equal "${#lines[@]}" 2
	assert_line --index 1 --regexp 'refused .*rule="tls: handshake: handshake failed: .*unexpected eof while reading" .*status=1 end=eof$'
	run child_status 2
	assert_output 1
	assert_not_started
}

@test "a probe that connects and closes is not penalized; a malformed ClientHello is, half-closed after it or not" {
	mkdir "$BATS_TEST_TMPDIR/state"
	activate inetd "$BIN/tls" "${TLS[@]}" --state-dir "$BATS_TEST_TMPDIR/state" --penalty 30 \
	    --penalty-after 1 "${TOUCH[@]}"
	run talk "$PORT" </dev/null
	run tlsc "$PORT" send:'still welcome\n' recv:14 notify
	assert_out 'still welcome\n'
	run grep -c 'penalized 127\.0\.0\.1' "$LOG"
	assert_output 0
	# A ClientHello record of 4 bytes (a bogus empty body), then a FIN.
	# It gets a fatal decode_error alert, then the end.
	run dialog -c 127.0.0.1 "$PORT" 'send:\x16\x03\x01\x00\x04\x01\x00\x00\x00' shut recv:7 closed
	assert_output "recv b'\\x15\\x03\\x03\\x00\\x02\\x022'
closed"
	wait_exits 3
	run tlsc "$PORT" --timeout 5 send:'x\n' notify
	refute_line --partial handshake
	wait_exits 4
	run records
	assert_equal "${#lines[@]}" 4
	assert_line --index 0 --regexp 'refused .*unexpected eof while reading" .*status=1 end=eof$'
	assert_line --index 1 --regexp ' served .*status=0 tls=TLSv1\.3 '
	assert_line --index 2 --regexp 'refused .*rule="tls: handshake: handshake failed: [^"]+" .*status=1 '
	assert_line --index 3 --regexp 'refused .*rule="penalized \([0-9]+s more\)" .*status=1 '
	run grep -c 'penalized 127\.0\.0\.1 for 30s' "$LOG"
	assert_output 1
}

# --- keys and certificates -------------------------------------------------------------------

@test "a key that does not match the certificate: the connection fails (111) with one record, nothing started" {
	activate inetd "$BIN/tls" "${TLS[@]}" --key "$PKI/other.key" "${TOUCH[@]}"
	run tlsc "$PORT" send:'hello\n'
	refute_line --partial handshake
	run child_status 1
	assert_output 111
	run records
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "error: failed peer=127\.0\.0\.1:[0-9]+ .*rule=\"tls: $PKI/server\.crt, $PKI/other\.key: failed to load private key\" .*status=111 "
	assert_not_started
	# The same PROGRAM with the right key starts: the mark is a real witness.
	kill_bg
	activate inetd "$BIN/tls" "${TLS[@]}" "${TOUCH[@]}"
	run tlsc "$PORT" send:'hello\n' recv:6 notify
	assert_line 'end close_notify'
	assert_out 'hello\n'
	[ -e "$MARK" ]
}

@test "a missing key file and an unreadable one: the connection fails (111) with one record, nothing started" {
	activate inetd "$BIN/tls" "${TLS[@]}" --key "$PKI/nonexistent.key" "${TOUCH[@]}"
	run tlsc "$PORT" send:'hello\n'
	refute_line --partial handshake
	run child_status 1
	assert_output 111
	run records
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "failed .*rule=\"tls: $PKI/nonexistent\.key: failed to open key file .*No such file or directory\" .*status=111 "
	assert_not_started
	kill_bg
	: >"$LOG"
	# Unreadable: root reads any file, so tls runs as nobody for this one.
	install -m 600 "$PKI/server.key" "$PKI/spool/unreadable.key"
	# shellcheck disable=SC2034 # activate runs the activator under it
	[ "$(id -u)" != 0 ] || ACTIVATE_WRAP=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	MARK=$PKI/spool/started
	activate inetd "$(nobody_tls)" "${TLS[@]}" --key "$PKI/spool/unreadable.key" \
	    sh -c 'touch "$0"; exec cat' "$MARK"
	run tlsc "$PORT" send:'hello\n'
	refute_line --partial handshake
	run child_status 1
	assert_output 111
	run records
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "failed .*rule=\"tls: $PKI/spool/unreadable\.key: failed to open key file .*Permission denied\" .*status=111 "
	assert_not_started
}

@test "--listen and systemd Accept=no: a bad key is fatal at the start (111), before any client" {
	local port
	port=$(free_port)
	run timeout 5 "$BIN/tls" "${TLS[@]}" --log stderr --listen "127.0.0.1:$port" --user root \
	    --key "$PKI/other.key" "${TOUCH[@]}"
	assert_failure 111
	assert_output --regexp "error: fatal: $PKI/server\.crt, $PKI/other\.key: failed to load private key"
	run timeout 5 "$BIN/tls" "${TLS[@]}" --log stderr --listen "127.0.0.1:$port" --user root \
	    --key "$PKI/nonexistent.key" "${TOUCH[@]}"
	assert_failure 111
	assert_output --partial "fatal: $PKI/nonexistent.key: failed to open key file"
	run listeners "$port"
	assert_output 0
	# Accept=no: the first connection starts the accept loop (the activator
	# execs it), which stops at once.
	activate listen "$BIN/tls" "${TLS[@]}" --key "$PKI/other.key" "${TOUCH[@]}"
	run tlsc "$PORT" send:'hello\n'
	refute_line --partial handshake
	local rc=0
	wait "$SPID" || rc=$?
	assert_equal "$rc" 111
	run grep -c 'fatal: .*failed to load private key' "$LOG"
	assert_output 1
	run nrecords
	assert_output 0
	assert_not_started
}

# --- cmdserver behind tls -------------------------------------------------------------------

@test "cmdserver behind tls: a login over TLS (htpasswd -B), and a wrong password denied" {
	activate inetd "$BIN/tls" "${TLS[@]}" "$BIN/cmdserver" --htpasswd "$USERS" --fail-delay 0 \
	    --log-level 3
	run tlsc "$PORT" send:'dougm\r\nfoobar\r\nquit\r\n'
	assert_line 'end close_notify'
	assert_out "Login: Password: $WELCOME"
	run child_status 1
	assert_output 0
	run tlsc "$PORT" send:'dougm\nwrongpass\n'
	assert_out "Login: Password: $DENIED"
	run child_status 2
	assert_output 1
	# cmdserver knows the client, through the UCSPI variables.
	run grep -E '^inetkit-cmdserver\[[0-9]+\]: [a-z]+: (served|login failed) peer=127\.0\.0\.1:' "$LOG"
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp 'info: served peer=.* user=dougm .*status=0 '
	assert_line --index 1 --regexp 'notice: login failed peer=.* user=dougm .*status=1 '
	run records
	assert_line --index 0 --regexp ' served .*status=0 tls=TLSv1\.3 '
	assert_line --index 1 --regexp ' served .*status=1 tls=TLSv1\.3 '
}

@test "cmdserver --require-tls: a plaintext login is refused, even with SSL_PROTOCOL set; behind tls it logs in" {
	local args=(--htpasswd "$USERS" --fail-delay 0 --log-level 3 --require-tls)
	activate inetd "$BIN/cmdserver" "${args[@]}"
	run talk "$PORT" <<<$'dougm\nfoobar\nquit'
	assert_output --partial 'requires TLS'
	refute_output --partial 'Password:'
	refute_output --partial 'Welcome'
	run child_status 1
	assert_output 1
	run grep -c 'refused peer=127\.0\.0\.1:[0-9]* .*rule="[^"]*--require-tls[^"]*" .*status=1 ' "$LOG"
	assert_output 1
	kill_bg
	# A variable planted in its environment does not make a TCP socket TLS.
	: >"$LOG"
	activate inetd -E SSL_PROTOCOL=TLSv1.3 -E SSL_CIPHER=TLS_AES_256_GCM_SHA384 \
	    "$BIN/cmdserver" "${args[@]}"
	run talk "$PORT" <<<$'dougm\nfoobar\nquit'
	assert_output --partial 'requires TLS'
	refute_output --partial 'Welcome'
	run child_status 1
	assert_output 1
	kill_bg
	: >"$LOG"
	activate inetd "$BIN/tls" "${TLS[@]}" "$BIN/cmdserver" "${args[@]}"
	run tlsc "$PORT" send:'dougm\nfoobar\nquit\n'
	assert_line 'end close_notify'
	assert_out "Login: Password: $WELCOME"
	run child_status 1
	assert_output 0
	run grep -c 'info: served peer=127\.0\.0\.1:[0-9]* .*user=dougm .*status=0 ' "$LOG"
	assert_output 1
}

# --- who the client is ---------------------------------------------------------------------

@test "PROGRAM gets the UCSPI variables of the real client, and no LISTEN_ variables" {
	activate inetd "$BIN/tls" "${TLS[@]}" env
	run tlsc "$PORT"
	assert_line 'end close_notify'
	run grep -E '^(PROTO|TCP[A-Z]+|LISTEN_[A-Z]+)=' "$OUT"
	assert_equal "${#lines[@]}" 5
	assert_line PROTO=TCP
	assert_line TCPREMOTEIP=127.0.0.1
	assert_line --regexp '^TCPREMOTEPORT=[0-9]+$'
	assert_line TCPLOCALIP=127.0.0.1
	assert_line "TCPLOCALPORT=$PORT"
	rport=$(sed -n 's/^TCPREMOTEPORT=//p' "$OUT")
	run records
	assert_output --regexp " served peer=127\.0\.0\.1:$rport local=127\.0\.0\.1:$PORT "
	# From another source address, under Accept=yes on fd 3 too.
	kill_bg
	activate fds "$BIN/tls" "${TLS[@]}" env
	run tlsc "$PORT" --bind 127.0.0.3
	run grep -x -e PROTO=TCP -e TCPREMOTEIP=127.0.0.3 -e "TCPLOCALPORT=$PORT" "$OUT"
	assert_equal "${#lines[@]}" 3
	run grep -c '^LISTEN_' "$OUT"
	assert_output 0
}

@test "--proxy-protocol from a trusted proxy: PROGRAM and the record see the proxied client; an untrusted peer is refused" {
	activate inetd "$BIN/tls" "${TLS[@]}" --proxy-protocol --trusted-proxy 127.0.0.1/32 env
	run tlsc "$PORT" raw:'PROXY TCP4 192.0.2.7 198.51.100.1 5555 443\r\n'
	assert_line 'end close_notify'
	run grep -E '^(PROTO|TCP[A-Z]+)=' "$OUT"
	assert_equal "${#lines[@]}" 5
	assert_line TCPREMOTEIP=192.0.2.7
	assert_line TCPREMOTEPORT=5555
	assert_line TCPLOCALIP=198.51.100.1
	assert_line TCPLOCALPORT=443
	run records
	assert_output --regexp ' served peer=192\.0\.2\.7:5555 local=198\.51\.100\.1:443 .*tls=TLSv1\.3 '
	# Behind a real HAProxy (send-proxy-v2).
	haproxy_front send-proxy-v2
	# shellcheck disable=SC2153 # haproxy_front sets HPORT
	run tlsc "$HPORT" --bind 127.0.0.3
	assert_line 'end close_notify'
	run grep -x -e TCPREMOTEIP=127.0.0.3 -e "TCPLOCALPORT=$HPORT" "$OUT"
	assert_equal "${#lines[@]}" 2
	kill_bg
	: >"$LOG"
	activate inetd "$BIN/tls" "${TLS[@]}" --proxy-protocol --trusted-proxy 127.0.0.1/32 "${TOUCH[@]}"
	run tlsc "$PORT" --bind 127.0.0.2 raw:'PROXY TCP4 192.0.2.7 198.51.100.1 5555 443\r\n'
	refute_line --partial handshake
	run child_status 1
	assert_output 1
	run records
	assert_equal "${#lines[@]}" 1
	assert_output --regexp 'refused peer=127\.0\.0\.2:[0-9]+ .*rule="proxy: peer is not a --trusted-proxy"'
	assert_not_started
}

@test "the rules and the block list refuse before the handshake; PROGRAM never starts for them" {
	printf '127.0.0.4\n' >"$BATS_TEST_TMPDIR/blocked"
	activate inetd "$BIN/tls" "${TLS[@]}" --cidr-allow 127.0.0.0/8 --cidr-deny 127.0.0.2/32 \
	    --block-list "$BATS_TEST_TMPDIR/blocked" "${TOUCH[@]}"
	run tlsc "$PORT" --bind 127.0.0.2 send:'x\n'
	refute_line --partial handshake
	run tlsc "$PORT" --bind 127.0.0.4 send:'x\n'
	refute_line --partial handshake
	wait_exits 2
	assert_not_started
	run records
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp 'refused peer=127\.0\.0\.2:[0-9]+ .*rule="[^"]*127\.0\.0\.2/32[^"]*" .*status=1 '
	assert_line --index 1 --regexp 'refused peer=127\.0\.0\.4:[0-9]+ .*status=1 '
	refute_output --partial 'tls='
	run tlsc "$PORT" --bind 127.0.0.3 send:'x\n' recv:2 notify
	assert_out 'x\n'
	[ -e "$MARK" ]
}

# --- activators, PROGRAM's status and descriptors ------------------------------------------

@test "every activator: Accept=yes on fd 3, Accept=no, and tls's own --listen loop" {
	activate fds "$BIN/tls" "${TLS[@]}" "$BIN/lcecho"
	run tlsc "$PORT" send:'Accept=YES\n' notify
	assert_out 'accept=yes\n'
	kill_bg
	activate listen "$BIN/tls" "${TLS[@]}" "$BIN/lcecho"
	run tlsc "$PORT" send:'Accept=NO one\n' notify
	assert_out 'accept=no one\n'
	run tlsc "$PORT" send:'Accept=NO two\n' notify
	assert_out 'accept=no two\n'
	kill_bg
	# (listen_on would give its options to PROGRAM: they go after the operands.)
	PORT=$(free_port)
	bg "$BIN/tls" "${TLS[@]}" --listen "127.0.0.1:$PORT" --log "$LOG" --user root "$BIN/lcecho"
	SPID=${BG_PIDS##* }
	wait_listen "$PORT" "$SPID"
	run tlsc "$PORT" send:'--LISTEN\n' notify
	assert_out '--listen\n'
	wait_count "$LOG" 'info: served peer=127\.0\.0\.1:.* in=9 out=9 .*tls=TLSv1\.3 ' 1
	run grep -c 'info: served .*tls=TLSv1\.3 .*end=eof$' "$LOG"
	assert_output 4
}

@test "tls exits with PROGRAM's status; 127 for a PROGRAM not found, 126 for one not executable" {
	activate inetd "$BIN/tls" "${TLS[@]}" sh -c 'echo bye; exit 7'
	run tlsc "$PORT"
	assert_out 'bye\n'
	run child_status 1
	assert_output 7
	kill_bg
	: >"$LOG"
	activate inetd "$BIN/tls" "${TLS[@]}" "$BATS_TEST_TMPDIR/no-such-program"
	run tlsc "$PORT"
	run child_status 1
	assert_output 127
	run records
	assert_output --regexp "failed .*rule=\"exec $BATS_TEST_TMPDIR/no-such-program failed\" .*status=127 "
	kill_bg
	: >"$LOG"
	activate inetd "$BIN/tls" "${TLS[@]}" "$PKI/ca.crt"
	run tlsc "$PORT"
	run child_status 1
	assert_output 126
}

@test "the idle timeout ends a session with --timeout-message sent through TLS, then close_notify" {
	activate inetd "$BIN/tls" "${TLS[@]}" --idle-timeout 1 --timeout-message 'Timed Out.\r\n' cat
	SECONDS=0
	run tlsc "$PORT" send:'hi\n'
	assert_line 'end close_notify'
	assert_out 'hi\nTimed Out.\r\n'
	[ "$SECONDS" -le 4 ] || fail "took $SECONDS s"
	run child_status 1
	assert_output --regexp '^[0-9]+$'
	run records
	assert_equal "${#lines[@]}" 1
	assert_output --regexp ' in=3 out=15 .*tls=TLSv1\.3 .*end=idle'
}

@test "the session timeout and SIGTERM end a session through TLS: the message, close_notify, their end in the record" {
	local client pid
	activate inetd "$BIN/tls" "${TLS[@]}" --session-timeout 2 --timeout-message 'Timed Out.\r\n' cat
	SECONDS=0
	run tlsc "$PORT" send:'hi\n' sleep:6
	assert_line 'end close_notify'
	assert_out 'hi\nTimed Out.\r\n'
	[ "$SECONDS" -le 4 ] || fail "took $SECONDS s"
	# SIGTERM (the service stopping): close_notify, no timeout message.
	OUT=$BATS_TEST_TMPDIR/term.out tlsc "$PORT" send:'hi\n' sleep:6 >"$BATS_TEST_TMPDIR/term" &
	client=$!
	pid=$(child_pid 2)
	sleep 1
	kill -TERM "$pid"
	wait "$client"
	run cat "$BATS_TEST_TMPDIR/term"
	assert_line 'end close_notify'
	OUT=$BATS_TEST_TMPDIR/term.out assert_out 'hi\n'
	wait_exits 2
	run records
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp ' in=3 out=15 .*tls=TLSv1\.3 .*end=session timeout$'
	assert_line --index 1 --regexp ' in=3 out=3 .*tls=TLSv1\.3 .*end=terminated$'
}

@test "a client's reset while PROGRAM is silent ends the relay at once, without spinning; PROGRAM is stopped after 5 s" {
	local pid ticks
	activate inetd "$BIN/tls" "${TLS[@]}" --idle-timeout 30 sh -c 'exec sleep 30'
	run tlsc "$PORT" notify sleep:0.3 rst
	assert_line 'sent rst'
	pid=$(child_pid 1)
	sleep 1
	# utime + stime, in clock ticks (100 a second): a spinning relay would use them all.
	ticks=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	[ "$ticks" -le 20 ] || fail "tls used $ticks ticks of CPU in a second, waiting"
	run child_status 1
	assert_output 143
	run records
	assert_equal "${#lines[@]}" 1
	assert_output --regexp ' served .*status=143 .*end=reset$'
	assert_duration 5000 7000
}

@test "PROGRAM that stops reading and answers: its whole answer arrives while the client still sends" {
	head -c 20000000 /dev/zero >"$BATS_TEST_TMPDIR/in"
	activate inetd "$BIN/tls" "${TLS[@]}" sh -c 'head -c 5 >/dev/null; head -c 4000000 /dev/zero'
	run tlsc "$PORT" file:"$BATS_TEST_TMPDIR/in"
	assert_line 'end close_notify'
	run stat -c %s "$OUT"
	assert_output 4000000
	run child_status 1
	assert_output 0
	run records
	assert_output --regexp ' served .* out=4000000 .*status=0 .*end=(eof|reset)$'
}

@test "tls is not dumpable: PROGRAM, run as the same user, cannot read tls's memory (the key, other bytes)" {
	[ "$(id -u)" = 0 ] || skip "runs the service as nobody, which needs root"
	install -m 600 -o nobody "$PKI/server.key" "$PKI/spool/nobody.key"
	# shellcheck disable=SC2034 # activate runs the activator under it
	ACTIVATE_WRAP=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	activate inetd "$(nobody_tls)" "${TLS[@]}" --key "$PKI/spool/nobody.key" python3 -c '
import os
try:
    open("/proc/%d/mem" % os.getppid(), "rb").close()
    print("readable by uid", os.getuid())
except OSError as e:
    print("refused", e.errno, "uid", os.getuid())'
	run tlsc "$PORT"
	assert_line 'end close_notify'
	run cat "$OUT"
	assert_output "refused 13 uid $(id -u nobody)"
}

@test "PROGRAM holds no descriptor of the client's TCP connection (Accept=yes on fd 3)" {
	# shellcheck disable=SC2016
	local lsfd='import os, socket
for n in sorted(int(x) for x in os.listdir("/proc/self/fd")):
    try:
        s = socket.socket(fileno=os.dup(n))
    except OSError:
        continue
    print(n, s.family.name)'
	activate fds "$BIN/tls" "${TLS[@]}" python3 -c "$lsfd"
	run tlsc "$PORT"
	assert_line 'end close_notify'
	run cat "$OUT"
	assert_line '0 AF_UNIX'
	assert_line '1 AF_UNIX'
	refute_output --partial AF_INET
}

@test "PROGRAM's stderr never reaches the client in clear, when the activator put the socket on fd 2 too (inetd)" {
	# inetd and xinetd give the connection as fds 0, 1 and 2: PROGRAM's
	# stderr is then the client's too, as inetd meant, but through TLS.
	activate inetd sh -c 'exec 2>&1; exec "$0" "$@"' "$BIN/tls" "${TLS[@]}" \
	    --log "$BATS_TEST_TMPDIR/tls.log" sh -c 'echo "a warning" >&2; echo answer'
	run tlsc "$PORT"
	assert_line 'end close_notify'
	assert_out 'a warning\nanswer\n'
	run grep -c ' served .*status=0 tls=TLSv1\.3 ' "$BATS_TEST_TMPDIR/tls.log"
	assert_output 1
}
