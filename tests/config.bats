#!/usr/bin/env bats
# Options and conf files: inetkit.conf(5) (defaults < conf file <
# command line, underscore aliases, exit 100 naming the option).

load helpers
load proto_helpers

CONF="$BATS_TEST_TMPDIR/inetkit.conf"

teardown() {
	kill_bg
}

# A fatal configuration message on stderr, as log.c writes it for $1 (echo, lcecho).
fatal_re() {
	printf '^inetkit-%s\\[[0-9]+\\]: error: fatal: %s$' "$1" "$2"
}

# Runs PROG ARGS with no input; it must exit 100, print nothing on stdout and
# one fatal line on stderr matching ERE $1 (after "fatal: ").
assert_usage_error() {
	local re=$1 prog=$2
	shift 2
	run --separate-stderr timeout 10 "$BIN/$prog" "$@" </dev/null
	assert_equal "$status" 100
	assert_equal "$output" ""
	[[ "$stderr" =~ $(fatal_re "$prog" "$re") ]] ||
	    fail "stderr \"$stderr\" does not match \"$re\""
	assert_equal "$(printf '%s\n' "$stderr" | wc -l)" 1
}

# --- option syntax -------------------------------------------------------------

@test "--idle-timeout 1 (value as next argument) ends an idle session after a second" {
	run dialog -x send:a recv:1 eof:0.7:3 exit -- "$BIN/echo" --idle-timeout 1
	assert_success
	assert_output "recv b'a'
eof
exit 0"
}

@test "--idle-timeout=1 (inline value) ends an idle session after a second" {
	run dialog -x send:a recv:1 eof:0.7:3 exit -- "$BIN/echo" --idle-timeout=1
	assert_success
	assert_output "recv b'a'
eof
exit 0"
}

@test "--idle-timeout 30 and --idle-timeout=30 are accepted and echo serves normally" {
	run feed 'x\n' "$BIN/echo" --idle-timeout 30
	assert_success
	assert_out 'x\n'
	run feed 'y\n' "$BIN/echo" --idle-timeout=30
	assert_success
	assert_out 'y\n'
}

@test "underscore spellings work on the command line too (--idle_timeout=1)" {
	run dialog -x send:a recv:1 eof:0.7:3 exit -- "$BIN/echo" --idle_timeout=1
	assert_success
	assert_output "recv b'a'
eof
exit 0"
}

@test "a flag takes =yes/=no on the command line (--rfc862=yes echoes blank lines)" {
	run feed 'a\n\nb\n' "$BIN/echo" --rfc862=yes
	assert_success
	assert_out 'a\n\nb\n'
}

# --- conf file -----------------------------------------------------------------

@test "a conf file with comments, blank lines, indentation and CRLF ends is applied" {
	printf '# inetkit test\n\n   # indented comment\n\t\n\tidle-timeout 1\r\nrfc862\n' >"$CONF"
	run dialog -x send:'\n' recv:1 eof:0.7:3 exit -- "$BIN/echo" --conf-file "$CONF"
	assert_success
	assert_output "recv b'\\n'
eof
exit 0"
	run grep -c 'end=idle timeout' "$ERR"
	assert_output 1
}

@test "--conf-file=FILE (inline value) is read too" {
	printf 'rfc862 yes\n' >"$CONF"
	run feed 'a\n\nb\n' "$BIN/echo" --conf-file="$CONF"
	assert_success
	assert_out 'a\n\nb\n'
}

@test "Net::Server underscore keys work in a conf file: idle_timeout, cidr_allow, log_level, log_file" {
	local log="$BATS_TEST_TMPDIR/echo.log"
	printf 'idle_timeout 1\ncidr_allow 10.0.0.0/8\nlog_level 3\nlog_file %s\n' "$log" >"$CONF"
	PROTO=TCP TCPREMOTEIP=10.1.2.3 run dialog -x send:a recv:1 eof:0.7:3 exit \
	    -- "$BIN/echo" --conf-file "$CONF"
	assert_success
	assert_output "recv b'a'
eof
exit 0"
	# log_file: the record went to the file, with a time stamp, not to stderr.
	[ ! -s "$ERR" ] || fail "stderr: $(cat "$ERR")"
	run grep -Ec '^[0-9-]+T[0-9:+-]+ inetkit-echo\[[0-9]+\]: notice: served peer=10\.1\.2\.3 .*rule="cidr-allow 10\.0\.0\.0/8" .*status=0 end=idle timeout' "$log"
	assert_output 1
	# cidr_allow: a client outside the block is refused; log_level 3: info records too.
	PROTO=TCP TCPREMOTEIP=192.0.2.1 run feed 'a\n' "$BIN/echo" --conf-file "$CONF"
	assert_failure 1
	assert_out_empty
	run grep -c 'notice: refused peer=192\.0\.2\.1 .*rule="no allow rule matched"' "$log"
	assert_output 1
	PROTO=TCP TCPREMOTEIP=10.9.9.9 run feed 'a\n' "$BIN/echo" --conf-file "$CONF"
	assert_success
	assert_out 'a\n'
	run grep -c 'info: served peer=10\.9\.9\.9 .*status=0 end=eof' "$log"
	assert_output 1
}

@test "without log_level 3 in the conf file, a normal session is not logged" {
	run feed 'a\n' "$BIN/echo"
	assert_success
	assert_out 'a\n'
	[ ! -s "$ERR" ] || fail "stderr: $(cat "$ERR")"
}

# --- precedence ----------------------------------------------------------------

@test "the command line wins over the conf file: --idle-timeout 1 over idle-timeout 30" {
	printf 'idle-timeout 30\n' >"$CONF"
	run dialog -x send:a recv:1 eof:0.7:3 exit -- "$BIN/echo" --conf-file "$CONF" --idle-timeout 1
	assert_success
	assert_output "recv b'a'
eof
exit 0"
}

@test "the command line wins even when it comes before --conf-file" {
	printf 'idle-timeout 30\n' >"$CONF"
	run dialog -x send:a recv:1 eof:0.7:3 exit -- "$BIN/echo" --idle-timeout 1 --conf-file "$CONF"
	assert_success
	assert_output "recv b'a'
eof
exit 0"
}

@test "the command line wins over the conf file: --idle-timeout 0 keeps the session open" {
	printf 'idle-timeout 1\n' >"$CONF"
	run dialog -x send:a recv:1 quiet:1.5 shut eof exit -- "$BIN/echo" --conf-file "$CONF" \
	    --idle-timeout 0
	assert_success
	assert_output "recv b'a'
quiet
eof
exit 0"
}

@test "the command line wins over the conf file: --rfc862=no over rfc862" {
	printf 'rfc862\n' >"$CONF"
	run feed 'a\n\nb\n' "$BIN/echo" --conf-file "$CONF"
	assert_success
	assert_out 'a\n\nb\n'
	run feed 'a\n\nb\n' "$BIN/echo" --conf-file "$CONF" --rfc862=no
	assert_success
	assert_out 'a\n'
}

@test "the command line wins over the conf file: --log-level 3 over log_level 0" {
	printf 'log_level 0\n' >"$CONF"
	run feed 'a\n' "$BIN/echo" --conf-file "$CONF" --log-level 3
	assert_success
	assert_out 'a\n'
	run grep -c 'info: served peer=unknown .*status=0 end=eof' "$ERR"
	assert_output 1
}

@test "list options accumulate from the conf file and the command line" {
	printf 'allow 10\\.0\\.0\\.1\n' >"$CONF"
	local ip
	for ip in 10.0.0.1 10.0.0.2; do
		PROTO=TCP TCPREMOTEIP=$ip run feed 'ok\n' "$BIN/echo" --conf-file "$CONF" \
		    --allow '10\.0\.0\.2'
		assert_success
		assert_out 'ok\n'
	done
	PROTO=TCP TCPREMOTEIP=10.0.0.3 run feed 'ok\n' "$BIN/echo" --conf-file "$CONF" \
	    --allow '10\.0\.0\.2'
	assert_failure 1
	assert_out_empty
}

@test "repeated list options accumulate within the conf file" {
	printf 'cidr-deny 10.0.0.1\ncidr-deny 10.0.0.2\ncidr-allow 10.0.0.0/8\n' >"$CONF"
	PROTO=TCP TCPREMOTEIP=10.0.0.2 run feed 'no\n' "$BIN/echo" --conf-file "$CONF"
	assert_failure 1
	assert_out_empty
	PROTO=TCP TCPREMOTEIP=10.0.0.3 run feed 'ok\n' "$BIN/echo" --conf-file "$CONF"
	assert_success
	assert_out 'ok\n'
}

# --- command-line errors: exit 100, the option named ------------------------------

@test "an unknown option exits 100 naming it" {
	assert_usage_error 'unknown option "--bogus"' echo --bogus
}

@test "an unknown option with an inline value exits 100 naming it without the value" {
	assert_usage_error 'unknown option "--bogus"' echo --bogus=1
}

@test "a short option exits 100 saying options are long" {
	assert_usage_error 'unknown option "-x" \(options are long: --name\)' echo -x
}

@test "lcecho has no --rfc862: exit 100 naming it" {
	assert_usage_error 'unknown option "--rfc862"' lcecho --rfc862
}

@test "a missing value exits 100 naming the option" {
	assert_usage_error 'option --idle-timeout: missing value' echo --idle-timeout
}

@test "an empty value exits 100 naming the option" {
	assert_usage_error 'option --log: empty value' echo --log=
}

@test "a non-number exits 100 naming the option" {
	local v
	for v in abc 1x -1 ' 1' '' 99999999999999999999999; do
		assert_usage_error "option --idle-timeout: \"$v\" is not a whole number from 0 to 86400" \
		    echo --idle-timeout="$v"
	done
}

@test "--max-line 0 is out of range: exit 100 naming the option" {
	assert_usage_error 'option --max-line: "0" is not a whole number from 1 to 1048576' \
	    lcecho --max-line 0
}

@test "--max-line 1048577 is out of range: exit 100 naming the option" {
	assert_usage_error 'option --max-line: "1048577" is not a whole number from 1 to 1048576' \
	    lcecho --max-line 1048577
}

@test "--log-level 5 is out of range: exit 100 naming the option" {
	assert_usage_error 'option --log-level: "5" is not a whole number from 0 to 4' echo --log-level 5
}

@test "--idle-timeout 86401 is out of range: exit 100 naming the option" {
	assert_usage_error 'option --idle-timeout: "86401" is not a whole number from 0 to 86400' \
	    echo --idle-timeout 86401
}

@test "--session-timeout 604801 is out of range: exit 100 naming the option" {
	assert_usage_error 'option --session-timeout: "604801" is not a whole number from 0 to 604800' \
	    echo --session-timeout 604801
}

@test "a flag with a value other than yes or no exits 100 naming it" {
	assert_usage_error 'option --rfc862: "maybe" is not yes or no' echo --rfc862=maybe
}

@test "--reverse-lookups=maybe exits 100 naming the option and its choices" {
	assert_usage_error 'option --reverse-lookups: "maybe" is not one of: no, yes, double, double-detail, double-autofail, double-debug' \
	    echo --reverse-lookups=maybe
}

@test "a bad regex exits 100 naming the option, with PCRE2's reason and offset" {
	assert_usage_error 'option --allow: bad pattern "\(": missing closing parenthesis at offset 1' \
	    echo --allow '('
	assert_usage_error 'option --deny: bad pattern "a\{3,1\}": numbers out of order in \{\} quantifier at offset 5' \
	    echo --deny 'a{3,1}'
	assert_usage_error 'option --deny: bad pattern "a\)\|\(b": unmatched closing parenthesis at offset 1' \
	    echo --deny 'a)|(b'
	assert_usage_error "option --allow: pattern longer than 1024 bytes" \
	    echo --allow "$(printf 'a%.0s' {1..1025})"
}

@test "the patterns the C library was slow to compile are compiled at once, or refused by PCRE2 at once" {
	local p args=()
	SECONDS=0
	# Each of these took glibc seconds or more to compile (the fuzzer found them).
	for p in "$(printf '(a*)*%.0s' {1..20})" '(a|)+' "^(a$(printf '|%.0s' {1..140})b)+\$" \
	    '(^a?)+' '((a*)*)*' 'a??' '(a*){2}' '((a{1,99}){1,99})' 'a{1,4096}' 'a{1,4097}' \
	    '((((a)+b)+c)+d)+' "$(printf '([a-z]{1,20}\\.)*%.0s' {1..20})" '(a)\1'; do
		args+=(--allow "$p")
	done
	run feed 'hi\n' env REMOTE_ADDR=127.0.0.1 "$BIN/echo" "${args[@]}" --allow '127\.0\.0\.\d{1,3}' \
	    --log-level 3
	assert_success
	assert_out 'hi\n'
	# The first one backtracks through every way (a*)* can match nothing: it is stopped at its
	# match limit, and does not match; the others are answered within theirs.
	run grep -c 'warning: allow rule "(a\*)\*(a\*)\*.*" could not be matched on the address of 127\.0\.0\.1 (match limit): it does not match$' "$ERR"
	assert_output 1
	run grep -c -F 'info: served peer=127.0.0.1 local=- rule="allow 127\.0\.0\.\d{1,3}" ' "$ERR"
	assert_output 1
	# PCRE2 refuses these, as Perl does, with its own reason.
	assert_usage_error "option --allow: bad pattern \"a\\*{63}\": quantifier does not follow a repeatable item at offset 2" \
	    echo --allow "a$(printf '*%.0s' {1..160})"
	assert_usage_error "option --allow: bad pattern \"\\(a-\\+{43}\\)\": quantifier does not follow a repeatable item at offset 5" \
	    echo --allow "(a-$(printf '+%.0s' {1..43}))"
	assert_usage_error 'option --deny: bad pattern "-\?\?\?\?\+\+\+": quantifier does not follow a repeatable item at offset 3' \
	    echo --deny '-????+++'
	assert_usage_error 'option --allow: bad pattern "\(\(a\{99\}\)\{99\}\)\{99\}": regular expression is too large at offset 17' \
	    echo --allow '((a{99}){99}){99}'
	[ "$SECONDS" -le 5 ] || fail "took ${SECONDS}s"
}

@test "patterns Perl reads otherwise than this PCRE2 exit 100 saying what to write" {
	local brace='Perl reads \{,n\} as \{0,n\} and allows blanks in \{m, n\}, where this PCRE2 reads the braces as text \(write \{0,n\} or \{m,n\}; \\\{ for a brace\)'
	local qe='\\Q and \\E quote in PCRE2 but are the letters Q and E to Perl in a pattern from a configuration \(escape each character instead: \\\.\)'
	if "$BIN/echo" --allow 'a{,3}' --help >/dev/null 2>&1; then
		skip "this PCRE2 reads {,n} as Perl does"
	fi
	assert_usage_error "option --allow: bad pattern \"a\\{,3\\}\": $brace" echo --allow 'a{,3}'
	assert_usage_error "option --deny: bad pattern \"\\\\d\\{1, 3\\}\": $brace" echo --deny '\d{1, 3}'
	assert_usage_error "option --deny: bad pattern \"x\\{ 2 \\}\": $brace" echo --deny 'x{ 2 }'
	assert_usage_error "option --allow: bad pattern \"\\\\Q10\\.1\": $qe" echo --allow '\Q10.1'
	assert_usage_error "option --allow: bad pattern \"a\\\\E\": $qe" echo --allow 'a\E'
	assert_usage_error "option --allow: bad pattern \"\\[\\\\Qa\\\\E\\]\": $qe" echo --allow '[\Qa\E]'
	# Read alike: the braces a quantifier cannot be, escaped, in a class, or after \x.
	run feed 'hi\n' env REMOTE_ADDR=127.0.0.1 "$BIN/echo" --allow 'a{,}' --allow '\{,3}' \
	    --allow '[{,3}]' --allow '\x{41}' --allow 'a{1,3}' --allow '127\.0\.0\.1'
	assert_success
	assert_out 'hi\n'
}

@test "escaped, or in a class, a parenthesis is a plain byte; a back-reference is Perl's" {
	run feed 'hi\n' env REMOTE_ADDR=127.0.0.1 "$BIN/echo" --allow '\(a|[)(]|127\.0\.0\.1'
	assert_success
	assert_out 'hi\n'
	run feed 'hi\n' env REMOTE_ADDR=127.0.0.1 "$BIN/echo" --allow '(127)\.0\.0\.1|(1)\1\.0\.0\.1'
	assert_success
	assert_out 'hi\n'
}

@test "an option error quotes the value escaped: no control byte reaches the log" {
	assert_usage_error 'unknown option "--bogus%01%1B\[2J"' echo "$(printf -- '--bogus\001\033[2J')"
	assert_usage_error 'option --idle-timeout: "1%0D%FF" is not a whole number from 0 to 86400' \
	    echo --idle-timeout "$(printf '1\r\377')"
	printf 'idle-timeout 5\nbogus%%\001key 1\n' >"$BATS_TEST_TMPDIR/c.conf"
	assert_usage_error "conf file $BATS_TEST_TMPDIR/c.conf line 2: unknown key \"bogus%25%01key\"" \
	    echo --conf-file "$BATS_TEST_TMPDIR/c.conf"
	run --separate-stderr "$BIN/blockip" --check "$(printf '1.2\033')" /dev/null
	assert_equal "$status" 100
	[[ "$stderr" == *'option --check: "1.2%1B" is not an IPv4 or IPv6 address'* ]] || fail "$stderr"
}

@test "a bad CIDR block exits 100 naming the option" {
	local c
	for c in 10.0.0.0/33 300.1.1.1 10.0.0.0/ ::1/129 ::ffff:10.0.0.0/95 /8 10.0.0.0/8x host.example; do
		assert_usage_error "option --cidr-allow: \"$c\" is not an address or CIDR block" \
		    echo --cidr-allow "$c"
	done
	assert_usage_error 'option --cidr-deny: "1.2.3.4/40" is not an address or CIDR block' \
	    echo --cidr-deny 1.2.3.4/40
}

@test "a bad --log value exits 100 naming the option" {
	assert_usage_error 'option --log: "relative" is not syslog \(or Sys::Syslog\), journal, stderr or an absolute file path' \
	    echo --log relative
}

@test "an unwritable --log file exits 100 naming the option" {
	assert_usage_error "option --log: unable to open $BATS_TEST_TMPDIR/none/x.log: No such file or directory" \
	    echo --log "$BATS_TEST_TMPDIR/none/x.log"
}

@test "--log FILE writes the record there and nothing to stderr" {
	run feed 'a\n' "$BIN/echo" --log "$BATS_TEST_TMPDIR/x.log" --log-level 3
	assert_success
	assert_out 'a\n'
	[ ! -s "$ERR" ]
	run grep -c 'inetkit-echo\[[0-9]*\]: info: served peer=unknown' "$BATS_TEST_TMPDIR/x.log"
	assert_output 1
}

@test "an unexpected operand exits 100 with a usage line" {
	# The usage line names the program as it was invoked.
	assert_usage_error "usage: $BIN/echo \\[OPTION\\.\\.\\.\\] \\(see --help\\)" echo foo
	assert_usage_error "usage: $BIN/lcecho \\[OPTION\\.\\.\\.\\] \\(see --help\\)" lcecho -- --idle-timeout
}

@test "more than 64 values of a list option exit 100 naming the option" {
	local args=() i
	for i in $(seq 1 65); do
		args+=(--allow "10\\.0\\.0\\.$i")
	done
	assert_usage_error 'option --allow: more than 64 values' echo "${args[@]}"
}

@test "64 list values from a conf file plus one on the command line overflow too" {
	local i
	for i in $(seq 1 64); do
		printf 'cidr_allow 10.0.0.%d\n' "$i"
	done >"$CONF"
	PROTO=TCP TCPREMOTEIP=10.0.0.64 run feed 'ok\n' "$BIN/echo" --conf-file "$CONF"
	assert_success
	assert_out 'ok\n'
	assert_usage_error 'option --cidr-allow: more than 64 values' echo --conf-file "$CONF" \
	    --cidr-allow 10.0.0.65
}

# --- conf file errors: file and line named ------------------------------------------

@test "an unknown key in a conf file exits 100 naming file and line" {
	printf '# comment\n\nbogus 1\n' >"$CONF"
	assert_usage_error "conf file $CONF line 3: unknown key \"bogus\"" echo --conf-file "$CONF"
}

@test "a missing value in a conf file exits 100 naming file, line and option" {
	printf 'rfc862\nidle-timeout\n' >"$CONF"
	assert_usage_error "conf file $CONF line 2: idle-timeout: missing value" echo --conf-file "$CONF"
}

@test "an out-of-range value in a conf file exits 100 naming file, line and option" {
	printf 'idle_timeout 30\nmax_line 0\n' >"$CONF"
	assert_usage_error "conf file $CONF line 2: max-line: \"0\" is not a whole number from 1 to 1048576" \
	    lcecho --conf-file "$CONF"
	printf '\n\n\n\nlog_level 5\n' >"$CONF"
	assert_usage_error "conf file $CONF line 5: log-level: \"5\" is not a whole number from 0 to 4" \
	    echo --conf-file "$CONF"
}

@test "a non-number in a conf file exits 100 naming file, line and option" {
	printf 'idle-timeout thirty\n' >"$CONF"
	assert_usage_error "conf file $CONF line 1: idle-timeout: \"thirty\" is not a whole number from 0 to 86400" \
	    echo --conf-file "$CONF"
}

@test "a nested conf-file key exits 100 naming file and line" {
	printf 'conf-file /dev/null\n' >"$CONF"
	assert_usage_error "conf file $CONF line 1: conf-file cannot be nested" echo --conf-file "$CONF"
}

@test "a conf file line over 4096 bytes exits 100 naming file and line" {
	{ printf 'rfc862\n'; python3 -c 'print("allow " + "x" * 5000)'; } >"$CONF"
	assert_usage_error "conf file $CONF line 2: line longer than 4096 bytes" echo --conf-file "$CONF"
}

@test "a bad regex or CIDR on the command line exits 100 naming the option" {
	assert_usage_error 'option --allow: bad pattern "\(": .+' echo --allow '('
	assert_usage_error 'option --cidr-deny: "10.0.0.0/33" is not an address or CIDR block' \
	    echo --cidr-deny 10.0.0.0/33
	assert_usage_error 'option --trusted-proxy: "nonsense" is not an address or CIDR block' \
	    echo --trusted-proxy nonsense
}

@test "a bad regex, CIDR or log sink in a conf file names file, line and key" {
	printf 'rfc862\ncidr_deny 10.0.0.0/33\n' >"$CONF"
	assert_usage_error "conf file $CONF line 2: cidr-deny: \"10.0.0.0/33\" is not an address or CIDR block" \
	    echo --conf-file "$CONF"
	printf 'allow (\n' >"$CONF"
	assert_usage_error "conf file $CONF line 1: allow: bad pattern \"\\(\": .+" echo --conf-file "$CONF"
	printf '# sink\n\nlog sylog\n' >"$CONF"
	assert_usage_error "conf file $CONF line 3: log: \"sylog\" is not syslog \\(or Sys::Syslog\\), journal, stderr or an absolute file path" \
	    echo --conf-file "$CONF"
}

@test "a missing conf file exits 100 naming it" {
	assert_usage_error "unable to read conf file $BATS_TEST_TMPDIR/nope.conf: No such file or directory" \
	    echo --conf-file "$BATS_TEST_TMPDIR/nope.conf"
}

@test "a directory as conf file exits 100 naming it" {
	assert_usage_error "unable to read conf file $BATS_TEST_TMPDIR: Is a directory" \
	    echo --conf-file "$BATS_TEST_TMPDIR"
}

@test "an unreadable conf file exits 100 naming it" {
	command -v setpriv >/dev/null || skip "setpriv (util-linux) not installed"
	[ "$(id -u)" = 0 ] || skip "needs root to run as nobody"
	local dir
	dir=$(mktemp -d /tmp/inetkit-conf.XXXXXX)
	printf 'idle-timeout 1\n' >"$dir/secret.conf"
	chmod 711 "$dir"
	chmod 000 "$dir/secret.conf"
	cp "$BIN/echo" "$dir/echo"
	chmod 755 "$dir/echo"
	run --separate-stderr timeout 10 setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$dir/echo" --conf-file "$dir/secret.conf" </dev/null
	rm -rf "$dir"
	assert_equal "$status" 100
	assert_equal "$output" ""
	[[ "$stderr" =~ $(fatal_re echo "unable to read conf file $dir/secret.conf: Permission denied") ]] ||
	    fail "stderr: $stderr"
}

# --- help and version ---------------------------------------------------------------

# Every option inetkit.conf(5) names for every program, as --help shows it.
COMMON_OPTS=('--conf-file FILE' '--log SINK' '--log-level N' '--allow REGEX' '--deny REGEX'
    '--cidr-allow CIDR' '--cidr-deny CIDR' '--reverse-lookups \[MODE\]' '--idle-timeout SECS'
    '--session-timeout SECS' '--max-line BYTES' '--proxy-protocol' '--trusted-proxy CIDR'
    '--state-dir DIR' '--max-rate N/SECS' '--max-netblock-rate N/SECS' '--netblock-ipv4 BITS'
    '--netblock-ipv6 BITS' '--penalty SECS' '--penalty-max SECS' '--penalty-after N'
    '--refusal-message TEXT' '--timeout-message TEXT' '--user USER' '--group GROUP'
    '--chroot DIR' '--pid-file FILE' '--background' '--setsid' '--help' '--version')

@test "echo --help exits 0 and lists every option on stdout" {
	run --separate-stderr "$BIN/echo" --help </dev/null
	assert_success
	assert_equal "$stderr" ""
	assert_line --index 0 "usage: $BIN/echo [OPTION...]"
	local o
	for o in "${COMMON_OPTS[@]}" '--rfc862'; do
		assert_line --regexp "^  $o +[^ ]"
	done
	assert_output --partial 'Exit status: 0 served, 1 refused, 100 usage, bad configuration or malformed'
	assert_output --partial 'input, 111 system or temporary failure.'
}

@test "lcecho --help exits 0 and lists every option, without --rfc862" {
	run --separate-stderr "$BIN/lcecho" --help </dev/null
	assert_success
	assert_equal "$stderr" ""
	assert_line --index 0 "usage: $BIN/lcecho [OPTION...]"
	local o
	for o in "${COMMON_OPTS[@]}"; do
		assert_line --regexp "^  $o +[^ ]"
	done
	refute_output --partial rfc862
}

@test "tls --help lists the common options and its own, and PROGRAM's exit status" {
	run --separate-stderr "$BIN/tls" --help </dev/null
	assert_success
	assert_equal "$stderr" ""
	assert_line --index 0 "usage: $BIN/tls [OPTION...] PROGRAM [ARG...]"
	local o
	for o in "${COMMON_OPTS[@]}" '--cert FILE' '--key FILE' '--ca FILE' \
	    '--verify-client no\|optional\|require' '--protocols LIST' '--ciphers LIST' \
	    '--handshake-timeout SECS'; do
		assert_line --regexp "^  $o +[^ ]"
	done
	assert_output --partial "otherwise PROGRAM's; 126 PROGRAM could not be run, 127 PROGRAM not found"
}

@test "every option --help lists is accepted on the command line" {
	local o v extra
	for o in $("$BIN/echo" --help | sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p'); do
		extra=--log-level=2
		case $o in
		# --listen turns the program into a server on a socket, not this pipe: tests/accept.bats.
		# So do Net::Server's binding keys (tests/netserver.bats); its keys for Perl code, and
		# sig_passthrough, are refused (tests/netserver.bats).
		--help|--version|--listen|--port|--host|--ipv|--proto|--log-function) continue ;;
		--sig-passthrough|--tie-client-stdout|--tied-stdin-callback|--tied-stdout-callback) continue ;;
		# The PreFork variant that grows and shrinks is refused (tests/prefork.bats).
		--min-servers|--min-spare-servers|--max-spare-servers) continue ;;
		--conf-file) v=/dev/null ;;
		--log) v=stderr ;;
		--allow) v='10\..*' ;;
		--deny) v='192\..*' extra='--allow=.*' ;;
		--cidr-allow|--trusted-proxy) v=10.0.0.0/8 ;;
		--cidr-deny) v=192.0.2.0/24 extra='--allow=.*' ;;
		--reverse-lookups|--double-reverse-lookups) v=no ;;
		--syslog-logopt) v='pid|ndelay' ;;
		--syslog-facility) v=local3 ;;
		--syslog-logsock) v=unix ;;
		--block-list) : >"$BATS_TEST_TMPDIR/empty-list"; v=$BATS_TEST_TMPDIR/empty-list ;;
		--block-list-index) v=$BATS_TEST_TMPDIR/list.idx ;;
		--block-list-on-error) v=allow ;;
		--rfc862|--proxy-protocol) v=no ;;
		--netblock-ipv4) v=24 ;;
		--netblock-ipv6) v=48 ;;
		--state-dir) mkdir -p -m 700 "$BATS_TEST_TMPDIR/state"; v=$BATS_TEST_TMPDIR/state ;;
		--max-rate|--max-netblock-rate) v=10/60 extra=--state-dir=$BATS_TEST_TMPDIR/state ;;
		--refusal-message|--timeout-message) v='421 busy\r\n' ;;
		# On a pipe: the chroot and the drop are taken, the accept loop's steps ignored.
		--user) v=nobody ;;
		--group) v=nogroup ;;
		--chroot) v=/ ;;
		--pid-file) v=$BATS_TEST_TMPDIR/never.pid ;;
		*) v=1 ;;
		esac
		PROTO=TCP TCPREMOTEIP=10.1.2.3 run feed 'a\n' "$BIN/echo" "$o=$v" "$extra"
		assert_success || fail "$o=$v: $(cat "$ERR")"
		assert_out 'a\n'
	done
}

@test "a bad option exits 100 even after --help" {
	assert_usage_error 'unknown option "--bogus"' echo --help --bogus
}

@test "--version exits 0 and prints the program and version" {
	run --separate-stderr "$BIN/echo" --version </dev/null
	assert_success
	assert_equal "$stderr" ""
	assert_output --regexp '^inetkit-echo [0-9]+\.[0-9]+\.[0-9]+$'
	run --separate-stderr "$BIN/lcecho" --version </dev/null
	assert_success
	assert_output --regexp '^inetkit-lcecho [0-9]+\.[0-9]+\.[0-9]+$'
}
