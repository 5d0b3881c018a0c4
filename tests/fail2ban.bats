#!/usr/bin/env bats
# contrib/fail2ban: the filter (filter.d/inetkit-cmdserver.conf) and the example
# jails (jail.d/inetkit-cmdserver.conf), run by the real fail2ban-regex and
# fail2ban-server against the lines that real cmdserver sessions log: cmdserver
# under systemd-socket-activate with an htpasswd file made by Apache's
# htpasswd, clients on 127.0.0.1, 127.0.0.2 and ::1 (when IPv6 loopback
# exists), through each log sink: --log FILE, stderr, syslog as rsyslogd
# writes it, and the journal as systemd-journald stores it. Client names try
# to plant an address (10.9.9.9) or a field in the line; fail2ban must count
# exactly the real client addresses, never one from a name.
#
# rsyslogd (rsyslog) and systemd-journald with python3-systemd are run for
# real, each in a private mount namespace (its own /dev/log, its own /run), so
# nothing outside the test sees them; without those packages their tests
# skip: no syslog or journal line here is written by hand.

load helpers
load serve
bats_require_minimum_version 1.5.0

FILTER="$TOP/contrib/fail2ban/filter.d/inetkit-cmdserver.conf"
JAIL="$TOP/contrib/fail2ban/jail.d/inetkit-cmdserver.conf"
RAWCLIENT="$TOP/tests/rawclient.py"
LONGNAME=$(printf 'n%.0s' $(seq 300))

setup_file() {
	export FIX
	FIX=$(mktemp -d /tmp/inetkit-fail2ban.XXXXXX)
	chmod 755 "$FIX"
	htpasswd -cbm "$FIX/users" dougm foobar 2>/dev/null
	htpasswd -bB "$FIX/users" alice 'alice pw' 2>/dev/null
	# A plain-text entry: cmdserver cannot use it, whatever the password.
	htpasswd -bp "$FIX/users" bob plain 2>/dev/null
	grep -q '^bob:plain$' "$FIX/users"
	chmod 644 "$FIX/users"
	export HAVE6=
	if has_ipv6_loopback; then HAVE6=1; fi
	# The main log: every kind of session, through the file sink, at info level
	# so that the successful logins are in it too.
	export FLOG="$FIX/cmdserver.log"
	LOG="$FIX/activate.log"
	serve "$BIN/cmdserver" --htpasswd "$FIX/users" --fail-delay 0 --log "$FLOG" --log-level 3
	play
	kill_bg
	serve "$BIN/cmdserver" --htpasswd "$FIX/users" --fail-delay 0 --log "$FLOG" --log-level 3 \
	    --login-timeout 1
	play_timeouts
	kill_bg
	serve "$BIN/cmdserver" --htpasswd "$FIX/no-such-users" --fail-delay 0 --log "$FLOG" \
	    --log-level 3
	say 127.0.0.1 dougm wrong
	kill_bg
	wait_records "$FLOG" "$SESSIONS"
}

teardown_file() {
	kill_bg
	rm -rf "$FIX"
}

setup() {
	LOG="$BATS_TEST_TMPDIR/activate.log"
	: >"$LOG"
	SESSIONS=0
}

teardown() {
	[ -z "${F2B_CONF:-}" ] || fail2ban-client -c "$F2B_CONF" stop >/dev/null 2>&1 || true
	kill_bg
	local p
	for p in "$BATS_TEST_TMPDIR"/*.pid; do
		[ -e "$p" ] || continue
		kill "$(cat "$p")" 2>/dev/null || true
	done
}

# Serves "$@" under systemd-socket-activate, one process per connection, on
# 127.0.0.1 and (with IPv6 loopback) [::1], the same free port, its log in
# $LOG; sets PORT. The activator runs under the command in the array
# ACTIVATE_WRAP, if any. activate makes no probe connection, which would log
# an abandoned login of its own.
serve() {
	local hosts=(--host 127.0.0.1)
	[ -z "$HAVE6" ] || hosts+=(--host ::1)
	ACTIVATE_LOG=$LOG activate inetd "${hosts[@]}" "$@"
}

# say SRC [LINE...]: one session from source address SRC to $PORT, each LINE
# sent with CRLF, then the client's side closed; the reply is thrown away.
SESSIONS=0
say() {
	local src=$1 a
	shift
	case $src in
	*:*) a="TCP6:[::1]:$PORT,bind=[$src]" ;;
	*) a="TCP4:127.0.0.1:$PORT,bind=$src" ;;
	esac
	{ [ $# -eq 0 ] || printf '%s\r\n' "$@"; } | socat -t 5 -T 10 - "$a" >/dev/null 2>&1 || true
	SESSIONS=$((SESSIONS + 1))
}

# hold SRC [TEXT]: a session that sends TEXT (Python escapes) and then keeps
# the connection open, silent, until the server ends it.
hold() {
	python3 "$RAWCLIENT" 127.0.0.1 "$PORT" "$1" ${2:+"$2"} @hold >/dev/null 2>&1 || true
	SESSIONS=$((SESSIONS + 1))
}

# The sessions. Failed logins (what mode normal counts): 127.0.0.1 9,
# 127.0.0.2 3, ::1 3. Not counted: two successful logins, an unusable
# htpasswd entry (bob), and the closed connections (mode aggressive counts
# those: 127.0.0.1 1, 127.0.0.2 1).
play() {
	say 127.0.0.1 dougm wrong
	say 127.0.0.1 nosuchuser wrong
	say 127.0.0.1 'x from 10.9.9.9' wrong
	say 127.0.0.1 'a" status=0 from 10.9.9.9' wrong
	say 127.0.0.1 'u: from 10.9.9.9:1' wrong
	say 127.0.0.1 'v from 10.9.9.9: wrong password' wrong
	say 127.0.0.1 "sp ace=eq\"dq'sq%25pct\\bs from 10.9.9.9 port 22" wrong
	say 127.0.0.1 "$(printf 't\tab\rcr from 10.9.9.9')" wrong
	say 127.0.0.1 "$LONGNAME from 10.9.9.9" wrong
	say 127.0.0.1 alice 'alice pw' date quit
	say 127.0.0.2 dougm wrong
	say 127.0.0.2 'x from [::1]:2' wrong
	say 127.0.0.2 '' wrong
	say 127.0.0.2 bob plain
	say 127.0.0.2 dougm foobar date quit
	if [ -n "$HAVE6" ]; then
		say ::1 dougm wrong
		say ::1 'y from 10.9.9.9 port 22' wrong
		say ::1 'login failed for user v from 10.9.9.9: wrong password' wrong
	fi
	say 127.0.0.1
	say 127.0.0.2 'z from 10.9.9.9'
}

# Against a server with --login-timeout 1: one login that times out at each
# prompt (modes ddos and aggressive count them: 127.0.0.1 1, 127.0.0.2 1).
play_timeouts() {
	hold 127.0.0.1
	hold 127.0.0.2 't from 10.9.9.9\r\n'
}

# What each mode must count, as "ADDRESS COUNT" lines, sorted.
expect() {
	local a=9 b=3
	case $1 in
	ddos) a=10 b=4 ;;
	aggressive) a=11 b=5 ;;
	esac
	printf '127.0.0.1 %s\n127.0.0.2 %s\n' "$a" "$b"
	[ -z "$HAVE6" ] || printf '::1 3\n'
}

# The same as what play alone gives (no timeouts).
expect_play() {
	case $1 in
	aggressive) printf '127.0.0.1 10\n127.0.0.2 4\n' ;;
	*) printf '127.0.0.1 9\n127.0.0.2 3\n' ;;
	esac
	[ -z "$HAVE6" ] || printf '::1 3\n'
}

# Polls until FILE holds N connection records (" peer="), up to 15 seconds.
wait_records() {
	wait_count "$1" ' peer=' "$2" 15
}

# f2b [OPTION...] LOG [FILTER-PARAMS]: the addresses fail2ban-regex finds in
# LOG with the filter (FILTER-PARAMS as "mode=aggressive"), as sorted
# "ADDRESS COUNT" lines.
f2b() {
	local params=${*: -1} log
	if [[ $params == *=* ]]; then
		set -- "${@:1:$#-1}"
	else
		params=
	fi
	log=${*: -1}
	set -- "${@:1:$#-1}"
	fail2ban-regex "$@" -o ip "$log" "$FILTER${params:+[$params]}" |
	    sort | uniq -c | awk '{ print $2, $1 }' | sort
}

# The "Lines: ..." summary of fail2ban-regex.
f2b_summary() {
	fail2ban-regex "$@" | grep '^Lines: '
}

# --- the file sink ----------------------------------------------------------------

@test "fail2ban: the --log FILE log holds every kind of line the filter must tell apart" {
	# A filter check is only as good as its log: each shape is there, for real.
	run grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[+-][0-9]{4} inetkit-cmdserver\[[0-9]+\]: ' "$FLOG"
	assert_output "$(wc -l <"$FLOG")"
	run grep -c ': notice: login failed for user ' "$FLOG"
	assert_output "$([ -n "$HAVE6" ] && echo 16 || echo 13)"
	run grep -c ': notice: login failed peer=' "$FLOG"
	assert_output "$([ -n "$HAVE6" ] && echo 16 || echo 13)"
	grep -q ': info: login: user alice from 127\.0\.0\.1:[0-9]*$' "$FLOG"
	grep -q ': info: login: user dougm from 127\.0\.0\.2:[0-9]*$' "$FLOG"
	grep -q ': info: served peer=127\.0\.0\.2:[0-9]* .* user=dougm .* status=0 ' "$FLOG"
	grep -q 'login failed for user bob from 127\.0\.0\.2:[0-9]*: htpasswd file .* line 3: ' "$FLOG"
	grep -q 'login abandoned by 127\.0\.0\.1:[0-9]* (user -) at the Login: prompt: eof$' "$FLOG"
	grep -q 'login abandoned by 127\.0\.0\.2:[0-9]* (user z%20from%2010\.9\.9\.9) at a password prompt: eof$' "$FLOG"
	grep -q 'login abandoned by 127\.0\.0\.1:[0-9]* (user -) at the Login: prompt: login timeout$' "$FLOG"
	grep -q 'login abandoned by 127\.0\.0\.2:[0-9]* (user t%20from%2010\.9\.9\.9) at a password prompt: login timeout$' "$FLOG"
	grep -q ': error: login refused for user dougm from 127\.0\.0\.1:[0-9]*: unable to read htpasswd file ' "$FLOG"
	grep -q 'login failed for user (too-long) from 127\.0\.0\.1:' "$FLOG"
	grep -q 'login failed for user - from 127\.0\.0\.2:[0-9]*: empty user name$' "$FLOG"
	[ -z "$HAVE6" ] || grep -q 'login failed for user dougm from \[::1\]:[0-9]*: wrong password$' "$FLOG"
	# The forged names, escaped, so "10.9.9.9" is there only inside them.
	grep -qF 'user x%20from%2010.9.9.9 from 127.0.0.1:' "$FLOG"
	grep -qF 'user a%22%20status%3D0%20from%2010.9.9.9 from 127.0.0.1:' "$FLOG"
	grep -qF 'user u:%20from%2010.9.9.9:1 from 127.0.0.1:' "$FLOG"
	grep -qF 'user v%20from%2010.9.9.9:%20wrong%20password from 127.0.0.1:' "$FLOG"
	grep -qF 'user sp%20ace%3Deq%22dq%27sq%2525pct%5Cbs%20from%2010.9.9.9%20port%2022 from 127.0.0.1:' "$FLOG"
	grep -qF 'user t%09ab%0Dcr%20from%2010.9.9.9 from 127.0.0.1:' "$FLOG"
	grep -qF 'user x%20from%20[::1]:2 from 127.0.0.2:' "$FLOG"
	run grep -c '10\.9\.9\.9' "$FLOG"
	[ "$output" -ge 16 ] || fail "only $output lines mention 10.9.9.9"
}

@test "fail2ban: mode normal counts exactly each real client's failed logins in a --log FILE" {
	run f2b "$FLOG"
	assert_success
	assert_output "$(expect normal)"
	# The default is normal.
	run f2b "$FLOG" mode=normal
	assert_output "$(expect normal)"
	run f2b_summary "$FLOG" "$FILTER"
	assert_output --regexp "^Lines: $(wc -l <"$FLOG") lines, 0 ignored, $([ -n "$HAVE6" ] && echo 15 || echo 12) matched, "
}

@test "fail2ban: forged user names plant no address and no field, in any mode" {
	local mode
	for mode in normal ddos aggressive; do
		run fail2ban-regex -o ip "$FLOG" "${FILTER}[mode=$mode]"
		assert_success
		refute_output --partial 10.9.9.9
		# Only the three client addresses, never one out of a name ([::1] from 127.0.0.2).
		run bash -c 'fail2ban-regex -o ip "$1" "${2}[mode=$3]" | sort -u' _ "$FLOG" "$FILTER" "$mode"
		assert_output "$(expect "$mode" | cut -d' ' -f1)"
	done
	# Each failure is taken with its whole escaped name, and the address after it.
	run fail2ban-regex -o '<ip> <F-USER>' "$FLOG" "$FILTER"
	assert_line '127.0.0.1 x%20from%2010.9.9.9'
	assert_line '127.0.0.1 a%22%20status%3D0%20from%2010.9.9.9'
	assert_line '127.0.0.1 u:%20from%2010.9.9.9:1'
	assert_line '127.0.0.1 v%20from%2010.9.9.9:%20wrong%20password'
	assert_line '127.0.0.1 sp%20ace%3Deq%22dq%27sq%2525pct%5Cbs%20from%2010.9.9.9%20port%2022'
	assert_line '127.0.0.1 t%09ab%0Dcr%20from%2010.9.9.9'
	assert_line '127.0.0.1 (too-long)'
	assert_line '127.0.0.2 x%20from%20[::1]:2'
	assert_line '127.0.0.2 -'
	[ -z "$HAVE6" ] || assert_line '::1 login%20failed%20for%20user%20v%20from%2010.9.9.9:%20wrong%20password'
}

@test "fail2ban: successful logins, records, backend failures and unusable entries match nothing" {
	local pids ok=$BATS_TEST_TMPDIR/ok.log rest=$BATS_TEST_TMPDIR/rest.log
	# Every line of the two successful sessions: the login and the served record.
	pids=$(sed -n 's/.*inetkit-cmdserver\[\([0-9]*\)\]: info: login: user .*/\1/p' "$FLOG" | paste -sd'|')
	[ -n "$pids" ] || fail "no successful login in $FLOG"
	grep -E "inetkit-cmdserver\[($pids)\]: " "$FLOG" >"$ok"
	[ "$(wc -l <"$ok")" -eq 4 ] || fail "the successful sessions logged: $(cat "$ok")"
	# And every line that is neither a failed login nor an abandoned one.
	grep -vE ': notice: login (failed for user|abandoned by) ' "$FLOG" >"$rest"
	grep -q 'login refused for user' "$rest"
	grep -q 'login failed peer=' "$rest"
	grep -q 'login abandoned peer=' "$rest"
	grep -q 'login timeout peer=' "$rest"
	grep 'login failed for user bob ' "$FLOG" >>"$rest"
	local mode
	for mode in normal ddos aggressive; do
		run f2b_summary "$ok" "${FILTER}[mode=$mode]"
		assert_output --regexp '^Lines: 4 lines, 0 ignored, 0 matched, 4 missed'
		run f2b_summary "$rest" "${FILTER}[mode=$mode]"
		assert_output --regexp "^Lines: $(wc -l <"$rest") lines, 0 ignored, 0 matched, "
	done
}

@test "fail2ban: mode ddos adds logins timed out at a prompt, aggressive also closed ones" {
	run f2b "$FLOG" mode=ddos
	assert_output "$(expect ddos)"
	run f2b "$FLOG" mode=aggressive
	assert_output "$(expect aggressive)"
	# The user of an abandoned login is its escaped name too.
	run fail2ban-regex -o '<ip> <F-USER>' "$FLOG" "${FILTER}[mode=ddos]"
	assert_line '127.0.0.2 t%20from%2010.9.9.9'
	run fail2ban-regex -o '<ip> <F-USER>' "$FLOG" "${FILTER}[mode=aggressive]"
	assert_line '127.0.0.2 z%20from%2010.9.9.9'
}

# --- the other sinks ----------------------------------------------------------------

@test "fail2ban: the stderr sink (no date) with datepattern {NONE}, mixed with the activator's lines" {
	# stderr goes to the activator's log file, as it is: no date, and
	# systemd-socket-activate's own lines ("Connection from [::1]:...") between.
	serve "$BIN/cmdserver" --htpasswd "$FIX/users" --fail-delay 0 --log stderr --log-level 3
	play
	wait_records "$LOG" "$SESSIONS"
	grep -q '^inetkit-cmdserver\[[0-9]*\]: notice: login failed for user x%20from%2010\.9\.9\.9 from 127\.0\.0\.1:' "$LOG"
	grep -q '^Connection from ' "$LOG"
	run f2b -d '{NONE}' "$LOG"
	assert_output "$(expect_play normal)"
	run f2b -d '{NONE}' "$LOG" mode=aggressive
	assert_output "$(expect_play aggressive)"
	run fail2ban-regex -d '{NONE}' -o ip "$LOG" "${FILTER}[mode=aggressive]"
	refute_output --partial 10.9.9.9
}

# Runs "$@" in a private mount namespace whose /dev is an overlay of the real
# one (so /dev/log made there is seen by nothing else), with rsyslogd
# listening on that /dev/log and writing $1/syslog (rsyslog's default format,
# Debian 12's) and $1/syslog.trad (RSYSLOG_TraditionalFileFormat).
with_rsyslog() {
	local d=$1
	shift
	mkdir -p "$d/up" "$d/work" "$d/spool"
	cat >"$d/rsyslog.conf" <<-EOF
		global(workDirectory="$d/spool")
		module(load="imuxsock")
		*.* action(type="omfile" file="$d/syslog")
		*.* action(type="omfile" file="$d/syslog.trad" template="RSYSLOG_TraditionalFileFormat")
	EOF
	# exec: bg's kill must reach the activator (the namespace's sh execs it).
	# shellcheck disable=SC2016
	exec unshare -m sh -c '
		d=$1; shift
		mount -t overlay overlay -o "lowerdir=/dev,upperdir=$d/up,workdir=$d/work" /dev || exit 1
		rsyslogd -n -f "$d/rsyslog.conf" -i "$d/rsyslogd.run" 2>>"$d/rsyslogd.err" &
		echo $! >"$d/rsyslogd.pid"
		i=0
		while [ ! -S /dev/log ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
		exec "$@"' _ "$d" "$@"
}

@test "fail2ban: the syslog sink, as rsyslogd writes it (both of its file formats)" {
	command -v rsyslogd >/dev/null || skip "rsyslogd (Debian package rsyslog) is not installed"
	local d=$BATS_TEST_TMPDIR/rsyslog f
	mkdir -p "$d"
	ACTIVATE_WRAP=(with_rsyslog "$d")
	serve "$BIN/cmdserver" --htpasswd "$FIX/users" --fail-delay 0 --log syslog --log-level 3
	# rsyslogd's pid, for teardown.
	cp "$d/rsyslogd.pid" "$BATS_TEST_TMPDIR/rsyslogd.pid"
	play
	# Another program's lines in the same file, saying what cmdserver says,
	# even with cmdserver's tag inside the message: not counted.
	local apid=${BG_PIDS##* }
	nsenter -t "$apid" -m logger -t other-prog 'login failed for user x from 10.9.9.9:1: wrong password'
	nsenter -t "$apid" -m logger -t other-prog \
	    'inetkit-cmdserver[1]: login failed for user x from 10.9.9.9:1: wrong password'
	wait_records "$d/syslog" "$SESSIONS"
	wait_records "$d/syslog.trad" "$SESSIONS"
	wait_log "$d/syslog" 'other-prog: inetkit-cmdserver'
	wait_log "$d/syslog.trad" 'other-prog: inetkit-cmdserver'
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+[+-][0-9]{2}:[0-9]{2} \S+ inetkit-cmdserver\[[0-9]+\]: login failed for user x%20from%2010\.9\.9\.9 from 127\.0\.0\.1:' "$d/syslog"
	grep -qE '^[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} \S+ inetkit-cmdserver\[[0-9]+\]: login failed for user x%20from%2010\.9\.9\.9 from 127\.0\.0\.1:' "$d/syslog.trad"
	for f in "$d/syslog" "$d/syslog.trad"; do
		run f2b "$f"
		assert_output "$(expect_play normal)"
		run f2b "$f" mode=aggressive
		assert_output "$(expect_play aggressive)"
		# Each line's date was found (none fell back to "now").
		run fail2ban-regex "$f" "$FILTER"
		assert_output --regexp "\[$(wc -l <"$f")\] \{\^LN-BEG\}"
	done
}

# True once the journal of the namespace of process $1 holds $SESSIONS
# records of cmdserver's and the line other-prog logged.
journal_has_all() {
	[ "$(nsenter -t "$1" -m journalctl -q --no-pager SYSLOG_IDENTIFIER=inetkit-cmdserver |
	    grep -c ' peer=')" -ge "$SESSIONS" ] &&
	    nsenter -t "$1" -m journalctl -q --no-pager SYSLOG_IDENTIFIER=other-prog | grep -q 10.9.9.9
}

@test "fail2ban: the journal, read by fail2ban's systemd backend through the filter's journalmatch" {
	[ -x /lib/systemd/systemd-journald ] || skip "systemd-journald is not installed"
	/usr/bin/python3 -c 'import systemd.journal' 2>/dev/null ||
		skip "fail2ban's journal backend needs python3-systemd, not installed"
	local d=$BATS_TEST_TMPDIR/journal pid
	mkdir -p "$d/run"
	# A private /run (in $d/run) for a journald of the test's own, volatile storage only.
	# shellcheck disable=SC2016
	bg unshare -m sh -c '
		d=$1; shift
		mount --bind "$d/run" /run || exit 1
		mkdir -p /run/systemd/journald.conf.d
		printf "[Journal]\nStorage=volatile\nReadKMSG=no\nForwardToSyslog=no\nForwardToWall=no\nForwardToConsole=no\nRateLimitBurst=0\n" \
		    >/run/systemd/journald.conf.d/test.conf
		/lib/systemd/systemd-journald >>"$d/journald.log" 2>&1 &
		echo $! >"$d/journald.pid"
		i=0
		while [ ! -S /run/systemd/journal/socket ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
		exec "$@"' _ "$d" sleep 600
	pid=${BG_PIDS##* }
	wait_file "$d/journald.pid"
	cp "$d/journald.pid" "$BATS_TEST_TMPDIR/journald.pid"
	wait_until 10 "journald made no socket" test -S "$d/run/systemd/journal/socket" ||
		fail "journald made no socket: $(cat "$d/journald.log")"
	serve nsenter -t "$pid" -m "$BIN/cmdserver" --htpasswd "$FIX/users" --fail-delay 0 \
	    --log journal --log-level 3
	play
	# Another program's entry saying what cmdserver says: not counted.
	nsenter -t "$pid" -m systemd-cat -t other-prog \
	    echo 'login failed for user x from 10.9.9.9:1: wrong password'
	wait_until 15 "the journal lacks records" journal_has_all "$pid" ||
		fail "the journal has: $(nsenter -t "$pid" -m journalctl -q --no-pager)"
	# Nothing fell back to stderr: every line went to the journal.
	run grep -c 'inetkit-cmdserver\[' "$LOG"
	assert_output 0
	# fail2ban-regex reads the journal where a fail2ban on this host would
	# (inside the namespace: /run is the test's), selected by journalmatch only.
	run bash -c 'nsenter -t "$1" -m fail2ban-regex -o ip systemd-journal "$2" |
	    sort | uniq -c | awk "{ print \$2, \$1 }" | sort' _ "$pid" "$FILTER"
	assert_output "$(expect_play normal)"
	run bash -c 'nsenter -t "$1" -m fail2ban-regex -o ip systemd-journal "${2}[mode=aggressive]" |
	    sort | uniq -c | awk "{ print \$2, \$1 }" | sort' _ "$pid" "$FILTER"
	assert_output "$(expect_play aggressive)"
}

# --- the example jails, in a real fail2ban-server --------------------------------------

@test "fail2ban: the example jails parse, pass mode to the filter and take datepattern" {
	local c=$BATS_TEST_TMPDIR/f2b
	mkdir -p "$c"
	cp -r /etc/fail2ban/. "$c/"
	rm -f "$c"/jail.d/* "$c"/jail.local
	cp "$FILTER" "$c/filter.d/"
	cp "$JAIL" "$c/jail.d/"
	# As shipped: both jails off.
	run fail2ban-client -c "$c" -d
	assert_success
	refute_output --partial "'add', 'inetkit-cmdserver"
	printf '[inetkit-cmdserver]\nenabled = true\n[inetkit-cmdserver-log]\nenabled = true\nlogpath = %s\nmode = aggressive\ndatepattern = {NONE}\n' \
	    "$FLOG" >"$c/jail.local"
	run fail2ban-client -c "$c" -d
	assert_success
	assert_line "['add', 'inetkit-cmdserver', 'systemd']"
	assert_line "['set', 'inetkit-cmdserver', 'addjournalmatch', 'SYSLOG_IDENTIFIER=inetkit-cmdserver']"
	assert_line "['set', 'inetkit-cmdserver', 'maxretry', 5]"
	assert_line "['set', 'inetkit-cmdserver', 'datepattern', '{^LN-BEG}']"
	assert_line --regexp "^\['set', 'inetkit-cmdserver', 'addfailregex', '\^login failed for user "
	assert_line "['add', 'inetkit-cmdserver-log', 'auto']"
	assert_line "['set', 'inetkit-cmdserver-log', 'addlogpath', '$FLOG', 'head']"
	assert_line "['set', 'inetkit-cmdserver-log', 'datepattern', '{NONE}']"
	assert_line --regexp "^\['multi-set', 'inetkit-cmdserver-log', 'addfailregex', \[.*'\^login abandoned by .*\(\?:eof\|reset\)\\$'\]\]$"
	assert_line --partial "['port', '8085']"
}

# jail_done CONF JAIL N: the fail2ban-server of CONF has read N failures in
# JAIL and banned someone.
jail_done() {
	local out
	out=$(fail2ban-client -c "$1" status "$2") &&
	    grep -q "Total failed:[[:space:]]*$3\$" <<<"$out" &&
	    grep -q "Total banned:[[:space:]]*[1-9]" <<<"$out"
}

@test "fail2ban: a real fail2ban-server with the example jail bans 127.0.0.1 (9 failures), not the others" {
	local c=$BATS_TEST_TMPDIR/f2b flog=$BATS_TEST_TMPDIR/cmdserver.log
	local slog=$BATS_TEST_TMPDIR/stderr.log total out jail
	mkdir -p "$c"
	cp -r /etc/fail2ban/. "$c/"
	rm -f "$c"/jail.d/* "$c"/jail.local "$c"/fail2ban.local
	cp "$FILTER" "$c/filter.d/"
	cp "$JAIL" "$c/jail.d/"
	: >"$flog"
	: >"$slog"
	# A server of the test's own: its socket, no database, its log; the ban action
	# is dummy (a file), never a firewall rule; loopback is not ignored here.
	cat >"$c/fail2ban.local" <<-EOF
		[Definition]
		logtarget = $c/fail2ban.log
		socket = $c/fail2ban.sock
		pidfile = $c/fail2ban.pid
		dbfile = :memory:
	EOF
	cat >"$c/jail.local" <<-EOF
		[DEFAULT]
		ignoreself = false
		ignoreip =
		banaction = dummy
		banaction_allports = dummy
		backend = polling

		[inetkit-cmdserver-log]
		enabled = true
		logpath = $flog
		action = dummy[target="$c/banned.log"]

		[inetkit-cmdserver-stderr]
		enabled = true
		filter = inetkit-cmdserver[mode=%(mode)s]
		mode = normal
		port = 8085
		logpath = $slog
		datepattern = {NONE}
		maxretry = 5
		findtime = 10m
		bantime = 1h
		action = dummy[target="$c/banned.stderr"]
	EOF
	F2B_CONF=$c
	fail2ban-server -c "$c" -xf start >"$c/server.out" 2>&1 &
	echo $! >"$BATS_TEST_TMPDIR/fail2ban-server.pid"
	wait_until 20 "fail2ban-server did not start" eval \
	    'fail2ban-client -c "$c" status inetkit-cmdserver-stderr >/dev/null' ||
		fail "fail2ban-server did not start: $(cat "$c/fail2ban.log")"
	# One cmdserver on the file sink, one on stderr (into the activator's log,
	# as it is), the same sessions.
	serve "$BIN/cmdserver" --htpasswd "$FIX/users" --fail-delay 0 --log "$flog"
	play
	kill_bg
	LOG=$slog
	serve "$BIN/cmdserver" --htpasswd "$FIX/users" --fail-delay 0 --log stderr
	play
	total=$([ -n "$HAVE6" ] && echo 15 || echo 12)
	for jail in inetkit-cmdserver-log inetkit-cmdserver-stderr; do
		# Every failure read, and the ban carried out (by fail2ban's actions
		# thread, a moment after the failure that reached maxretry).
		wait_until 20 "$jail: not every failure read and banned" jail_done "$c" "$jail" "$total" ||
			fail "$jail: $(fail2ban-client -c "$c" status "$jail") $(cat "$c/fail2ban.log")"
		out=$(fail2ban-client -c "$c" status "$jail")
		grep -q "Banned IP list:[[:space:]]*127\.0\.0\.1\$" <<<"$out" || fail "$jail: $out"
		grep -q "Total banned:[[:space:]]*1\$" <<<"$out" || fail "$jail: $out"
	done
	run cat "$c/banned.log"
	assert_line '+127.0.0.1'
	refute_line --partial '10.9.9.9'
	run cat "$c/banned.stderr"
	assert_line '+127.0.0.1'
	refute_line --partial '127.0.0.2'
}
