#!/usr/bin/env bats
# inetkit-cmdserver: its protocol (inetkit-cmdserver(8)), through pipes,
# systemd-socket-activate and xinetd, and its units. Logins use an htpasswd
# file made by htpasswd; the formats themselves are in auth.bats.

load helpers
load proto_helpers
load cmdserver_helpers
load activation_helpers

CTIME='[A-Z][a-z]{2} [A-Z][a-z]{2} [ 123][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}'

setup_file() {
	# World-readable, for xinetd's children that run as nobody.
	export FIX
	FIX=$(mktemp -d /tmp/inetkit-cmdserver.XXXXXX)
	chmod 755 "$FIX"
	htpasswd -cbm "$FIX/users" dougm foobar 2>/dev/null
	htpasswd -bm "$FIX/users" alice 'alice pw' 2>/dev/null
	chmod 644 "$FIX/users"
	export U=$FIX/users
}

teardown_file() {
	rm -rf "$FIX"
}

teardown() {
	kill_bg
}

# --- login ----------------------------------------------------------------------

@test "cmdserver pipelined user, password, date and quit in one write" {
	local now
	run cmd 'dougm\r\nfoobar\r\ndate\r\nquit\r\nmotd\r\n' --htpasswd "$U"
	assert_success
	now=$(date +%s)
	run sed -n 1,2p "$OUT"
	assert_output "$(printf "Login: Password: $WELCOME")"
	run sed -n '3,$p' "$OUT"
	assert_output --regexp "^$CTIME\$"
	# The time is now, in ctime's format.
	[ $(( $(date -d "$(sed -n 3p "$OUT")" +%s) - now )) -le 2 ] &&
		[ $(( now - $(date -d "$(sed -n 3p "$OUT")" +%s) )) -le 2 ] ||
		fail "date sent $(sed -n 3p "$OUT"), now is $(date)"
}

@test "cmdserver date is ctime's format in the local time zone (TZ)" {
	CMD_ENV=(TZ=UTC)
	local before after
	before=$(TZ=UTC python3 -c 'import time; print(time.ctime())')
	run cmd 'dougm\nfoobar\ndate\n' --htpasswd "$U"
	assert_success
	after=$(TZ=UTC python3 -c 'import time; print(time.ctime())')
	# The second may tick during the session: the reply is one of the two.
	run sed -n 3p "$OUT"
	[ "$output" = "$before" ] || assert_output "$after"
}

@test "cmdserver unknown user and wrong password get byte-identical replies, exit 1" {
	local a b
	run cmd 'nosuchuser\nfoobar\n' --htpasswd "$U"
	assert_failure 1
	a=$(hex "$OUT")
	run cmd 'dougm\nwrongpass\n' --htpasswd "$U"
	assert_failure 1
	b=$(hex "$OUT")
	assert_equal "$a" "$b"
	assert_out "Login: Password: $DENIED"
}

@test "cmdserver failed login is logged at notice with the address, user and reason" {
	CMD_ENV=(PROTO=TCP TCPREMOTEIP=192.0.2.9 TCPREMOTEPORT=4000)
	run cmd 'dougm\nwrongpass\n' --htpasswd "$U"
	assert_failure 1
	run grep -F 'notice: login failed for user dougm from 192.0.2.9' "$ERR"
	assert_success
	assert_output --partial 'wrong password'
	# One record for the connection, with the user and the verdict.
	run grep -c 'login failed peer=192.0.2.9:4000 .* user=dougm .*status=1' "$ERR"
	assert_output 1
}

@test "cmdserver user names are escaped in the log" {
	run cmd 'bad\033[2Jname\nfoobar\n' --htpasswd "$U"
	assert_failure 1
	run grep -F 'user bad%1B[2Jname' "$ERR"
	assert_success
	run grep -c $'\033' "$ERR"
	assert_output 0
}

@test "cmdserver 2000-byte user name: still a password prompt, then Access Denied" {
	local u
	u=$(head -c 2000 /dev/zero | tr '\0' d)
	run cmd "$u\nfoobar\ndate\n" --htpasswd "$U"
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	run grep -F 'user name over 256 bytes' "$ERR"
	assert_success
}

@test "cmdserver user name of 257 bytes fails; the rest of a line longer than --max-line too" {
	local u
	u=$(head -c 257 /dev/zero | tr '\0' d)
	run cmd "$u\nfoobar\n" --htpasswd "$U"
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	# With --max-line 64 a long name comes in pieces: all of it is read and discarded.
	u=$(head -c 300 /dev/zero | tr '\0' d)
	run cmd "$u\nfoobar\n" --htpasswd "$U" --max-line 64
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	# A right login whose lines are longer than --max-line still works.
	run cmd 'dougm\nfoobar\nquit\n' --htpasswd "$U" --max-line 5
	assert_success
	assert_out "Login: Password: $WELCOME"
}

@test "cmdserver empty user name: a password prompt, then Access Denied" {
	run cmd '\nfoobar\n' --htpasswd "$U"
	assert_failure 1
	assert_out "Login: Password: $DENIED"
}

@test "cmdserver EOF at the Login: prompt: Access Denied at once" {
	SECONDS=0
	run feed '' "$BIN/cmdserver" --htpasswd "$U" --fail-delay 5 --log stderr
	assert_failure 1
	assert_out "Login: $DENIED"
	[ "$SECONDS" -lt 3 ] || fail "took $SECONDS s"
}

@test "cmdserver EOF at the Password: prompt: Access Denied at once" {
	SECONDS=0
	run feed 'dougm\n' "$BIN/cmdserver" --htpasswd "$U" --fail-delay 5 --log stderr
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	[ "$SECONDS" -lt 3 ] || fail "took $SECONDS s"
	run grep -F 'login abandoned' "$ERR"
	assert_success
}

@test "cmdserver EOF after a partial user name: Access Denied at the Password: prompt" {
	run cmd 'doug' --htpasswd "$U"
	assert_failure 1
	assert_out "Login: Password: $DENIED"
}

@test "cmdserver a failed login waits --fail-delay before Access Denied" {
	SECONDS=0
	run feed 'dougm\nwrong\n' "$BIN/cmdserver" --htpasswd "$U" --fail-delay 2 --log stderr
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	[ "$SECONDS" -ge 2 ] || fail "answered after $SECONDS s, before the 2 s delay"
	[ "$SECONDS" -lt 6 ] || fail "took $SECONDS s"
}

@test "cmdserver --require-user lets only the named users in" {
	run cmd 'alice\nalice pw\nquit\n' --htpasswd "$U" --require-user dougm
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	run grep -F 'not a --require-user' "$ERR"
	assert_success
	run cmd 'dougm\nfoobar\nquit\n' --htpasswd "$U" --require-user dougm
	assert_success
	assert_out "Login: Password: $WELCOME"
	run cmd 'alice\nalice pw\nquit\n' --htpasswd "$U" --require-user dougm --require-user alice
	assert_success
	assert_out "Login: Password: $WELCOME"
}

@test "cmdserver needs exactly one of --htpasswd and --pam (exit 100)" {
	run cmd 'dougm\nfoobar\n'
	assert_failure 100
	assert_out_empty
	run grep -F 'exactly one of --htpasswd FILE and --pam SERVICE' "$ERR"
	assert_success
	run cmd 'dougm\nfoobar\n' --htpasswd "$U" --pam login
	assert_failure 100
	run cmd '' --htpasswd "$U" --satisfy some
	assert_failure 100
	run cmd '' --htpasswd "$U" --fail-delay 61
	assert_failure 100
}

# --- address rules and --satisfy ---------------------------------------------------

@test "cmdserver satisfy all: a refused address gets Access Denied at once, no prompt" {
	CMD_ENV=(PROTO=TCP TCPREMOTEIP=192.0.2.1)
	SECONDS=0
	run feed 'dougm\nfoobar\n' env "${CMD_ENV[@]}" "$BIN/cmdserver" --htpasswd "$U" \
	    --cidr-allow 127.0.0.1/32 --fail-delay 5 --log stderr
	assert_failure 1
	assert_out "$DENIED"
	[ "$SECONDS" -lt 3 ] || fail "took $SECONDS s"
}

@test "cmdserver satisfy all: an allowed address must still log in" {
	CMD_ENV=(PROTO=TCP TCPREMOTEIP=127.0.0.1)
	run cmd 'date\n' --htpasswd "$U" --cidr-allow 127.0.0.1/32
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	run cmd 'dougm\nfoobar\nquit\n' --htpasswd "$U" --cidr-allow 127.0.0.1/32 --satisfy all
	assert_success
	assert_out "Login: Password: $WELCOME"
}

@test "cmdserver satisfy any: an explicitly allowed address is let in without login" {
	CMD_ENV=(PROTO=TCP TCPREMOTEIP=127.0.0.1)
	run cmd 'date\nquit\n' --htpasswd "$U" --cidr-allow 127.0.0.1/32 --satisfy any
	assert_success
	run sed -n 1,2p "$OUT"
	assert_output "$(printf "$WELCOME")"
	run sed -n 3p "$OUT"
	assert_output --regexp "^$CTIME\$"
	run cmd 'quit\n' --htpasswd "$U" --allow '127\.0\.0\.1' --satisfy any
	assert_success
	assert_out "$WELCOME"
}

@test "cmdserver satisfy any: the default allow (no rules) never skips the login" {
	CMD_ENV=(PROTO=TCP TCPREMOTEIP=127.0.0.1)
	run cmd 'date\n' --htpasswd "$U" --satisfy any
	assert_failure 1
	assert_out "Login: Password: $DENIED"
}

@test "cmdserver satisfy any: an address the rules refuse may log in instead" {
	CMD_ENV=(PROTO=TCP TCPREMOTEIP=192.0.2.1)
	run cmd 'dougm\nfoobar\nquit\n' --htpasswd "$U" --cidr-allow 127.0.0.1/32 --satisfy any
	assert_success
	assert_out "Login: Password: $WELCOME"
	run cmd 'dougm\nfoobar\nquit\n' --htpasswd "$U" --cidr-deny 192.0.2.0/24 --satisfy any
	assert_success
	assert_out "Login: Password: $WELCOME"
	run cmd 'dougm\nbad\n' --htpasswd "$U" --cidr-allow 127.0.0.1/32 --satisfy any
	assert_failure 1
	assert_out "Login: Password: $DENIED"
}

@test "cmdserver satisfy any: a client the rules deny and the block list lists never gets to log in" {
	printf '192.0.2.0/24\n' >"$BATS_TEST_TMPDIR/blocked"
	CMD_ENV=(PROTO=TCP TCPREMOTEIP=192.0.2.1)
	run cmd 'dougm\nfoobar\nquit\n' --htpasswd "$U" --cidr-deny 192.0.2.0/24 --satisfy any \
	    --block-list "$BATS_TEST_TMPDIR/blocked" --block-list-index "$BATS_TEST_TMPDIR/blocked.idx"
	assert_failure 1
	assert_out_empty
	grep -q 'refused peer=192\.0\.2\.1 .*rule="block list [^"]* line 1: 192\.0\.2\.0/24"' "$ERR"
	# Not listed: the rules' deny still lets it log in under satisfy any.
	CMD_ENV=(PROTO=TCP TCPREMOTEIP=198.51.100.1)
	run cmd 'dougm\nfoobar\nquit\n' --htpasswd "$U" --cidr-deny 198.51.100.0/24 \
	    --satisfy any --block-list "$BATS_TEST_TMPDIR/blocked" \
	    --block-list-index "$BATS_TEST_TMPDIR/blocked.idx"
	assert_success
	assert_out "Login: Password: $WELCOME"
}

@test "cmdserver satisfy any over real sockets: 127.0.0.2 allowed skips login, 127.0.0.1 logs in" {
	activate inetd "$BIN/cmdserver" --htpasswd "$U" --fail-delay 0 --satisfy any \
	    --cidr-allow 127.0.0.2/32
	run bash -c "printf 'quit\n' | socat -t 5 -T 10 - TCP:127.0.0.1:$PORT,bind=127.0.0.2"
	assert_success
	assert_output "$(printf "$WELCOME")"
	run bash -c "printf 'quit\n' | socat -t 5 -T 10 - TCP:127.0.0.1:$PORT,bind=127.0.0.1"
	assert_success
	assert_output "Login: Password: Access Denied"
}

# --- commands ---------------------------------------------------------------------

@test "cmdserver who prints what who(1) prints for the same utmp file" {
	local ut=$BATS_TEST_TMPDIR/utmp
	make_utmp "$ut" <<'EOF'
[2] [00000] [~~  ] [reboot  ] [~           ] [6.1.0-13-amd64      ] [0.0.0.0        ] [2026-11-20T08:00:00,000000+00:00]
[7] [01234] [ts/0] [alice   ] [pts/0       ] [192.0.2.7           ] [192.0.2.7      ] [2026-11-21T09:05:00,000000+00:00]
[7] [01235] [tty1] [bob     ] [tty1        ] [                    ] [0.0.0.0        ] [2026-03-02T17:09:00,000000+00:00]
[7] [01236] [ts/1] [averyveryverylongusername] [pts/1       ] [host.example:0.0    ] [0.0.0.0        ] [2026-11-22T03:32:09,000000+00:00]
[8] [01237] [ts/2] [carol   ] [pts/2       ] [gone.example        ] [0.0.0.0        ] [2026-11-22T01:00:00,000000+00:00]
[6] [01238] [tty2] [LOGIN   ] [tty2        ] [                    ] [0.0.0.0        ] [2026-11-22T01:00:00,000000+00:00]
[7] [01239] [ts/3] [dave    ] [pts/12345678901234] [:1                  ] [0.0.0.0        ] [2026-01-05T23:59:00,000000+00:00]
EOF
	[ -s "$ut" ] || fail "utmpdump -r made no file"
	local loc
	for loc in C C.UTF-8; do
		CMD_ENV=(TZ=UTC LC_ALL=$loc)
		run cmd 'dougm\nfoobar\nwho\nquit\n' --htpasswd "$U" --utmp "$ut"
		assert_success
		tail -n +3 "$OUT" >"$BATS_TEST_TMPDIR/mine"
		TZ=UTC LC_ALL=$loc who "$ut" >"$BATS_TEST_TMPDIR/theirs"
		[ "$(wc -l <"$BATS_TEST_TMPDIR/theirs")" -eq 4 ] || fail "who(1) printed: $(cat "$BATS_TEST_TMPDIR/theirs")"
		assert_equal "$(hex "$BATS_TEST_TMPDIR/mine")" "$(hex "$BATS_TEST_TMPDIR/theirs")"
	done
}

@test "cmdserver who with a missing utmp file sends nothing" {
	run cmd 'dougm\nfoobar\nwho\nquit\n' --htpasswd "$U" --utmp "$BATS_TEST_TMPDIR/none"
	assert_success
	assert_out "Login: Password: $WELCOME"
}

@test "cmdserver motd sends the file as it is, and nothing when it is missing" {
	printf 'Have a lot of fun...\n\tline two\x01\n' >"$BATS_TEST_TMPDIR/motd"
	run cmd 'dougm\nfoobar\nmotd\nquit\n' --htpasswd "$U" --motd "$BATS_TEST_TMPDIR/motd"
	assert_success
	assert_out "Login: Password: ${WELCOME}Have a lot of fun...\n\tline two\x01\n"
	run cmd 'dougm\nfoobar\nmotd\nquit\n' --htpasswd "$U" --motd "$BATS_TEST_TMPDIR/nomotd"
	assert_success
	assert_out "Login: Password: $WELCOME"
	run grep -c warning "$ERR"
	assert_output 0
}

@test "cmdserver unknown commands get the usage line; empty lines are ignored" {
	run cmd 'dougm\nfoobar\n\n\r\nhelp\nDATE\n date\nquit now\nquit\nmotd\n' --htpasswd "$U"
	assert_success
	assert_out "Login: Password: $WELCOME$USAGE$USAGE$USAGE$USAGE"
}

@test "cmdserver a command line over --max-line gets one usage line and is discarded" {
	local long
	long=$(head -c 100 /dev/zero | tr '\0' x)
	run cmd "dougm\nfoobar\n${long}\nquit\n" --htpasswd "$U" --max-line 16
	assert_success
	assert_out "Login: Password: $WELCOME$USAGE"
	# The tail of the long line is not taken for a command, even when it says quit.
	run cmd "dougm\nfoobar\n$(head -c 16 /dev/zero | tr '\0' x)quit\ndate\nquit\n" \
	    --htpasswd "$U" --max-line 16
	assert_success
	run sed -n 3p "$OUT"
	assert_output "$(printf "$USAGE")"
	run sed -n 4p "$OUT"
	assert_output --regexp "^$CTIME\$"
}

@test "cmdserver EOF after login ends the session with exit 0" {
	run cmd 'dougm\nfoobar\ndate' --htpasswd "$U"
	assert_success
	run sed -n 3p "$OUT"
	assert_output --regexp "^$CTIME\$"
}

# --- over real sockets ------------------------------------------------------------

@test "cmdserver under systemd-socket-activate: login, date, quit, exit 0" {
	activate inetd "$BIN/cmdserver" --htpasswd "$U" --fail-delay 0
	run bash -c "printf 'dougm\r\nfoobar\r\ndate\r\nquit\r\n' | socat -t 5 -T 10 - TCP:127.0.0.1:$PORT"
	assert_success
	assert_line -n 0 "Login: Password: Welcome to inetkit cmdserver"
	assert_line -n 1 "Available commands: motd date who quit"
	assert_line -n 2 --regexp "^$CTIME\$"
	run child_status
	assert_output 0
}

@test "cmdserver under systemd-socket-activate: a failed login exits 1" {
	activate inetd "$BIN/cmdserver" --htpasswd "$U" --fail-delay 0
	run bash -c "printf 'dougm\r\nnope\r\n' | socat -t 5 -T 10 - TCP:127.0.0.1:$PORT"
	assert_output "Login: Password: Access Denied"
	run child_status
	assert_output 1
}

@test "cmdserver idle at the Login: prompt: closed without a byte more, exit 1" {
	activate inetd "$BIN/cmdserver" --htpasswd "$U" --idle-timeout 1
	run dialog -c 127.0.0.1 "$PORT" recv:7 eof:0.5:4
	assert_success
	assert_output "recv b'Login: '
eof"
	run child_status
	assert_output 1
	run child_log
	assert_output --partial 'login timeout'
}

@test "cmdserver idle after login: the session ends, exit 0" {
	activate inetd "$BIN/cmdserver" --htpasswd "$U" --idle-timeout 1
	run dialog -c 127.0.0.1 "$PORT" recv:7 send:'dougm\r\n' recv:10 send:'foobar\r\n' recv:68 \
	    eof:0.5:4
	assert_success
	assert_output "recv b'Login: '
recv b'Password: '
recv b'Welcome to inetkit cmdserver\\nAvailable commands: motd date who quit\\n'
eof"
	run child_status
	assert_output 0
}

@test "cmdserver under xinetd, from our generated entry" {
	local entry=$BATS_TEST_TMPDIR/inetkit-cmdserver
	install_tree "$BATS_TEST_TMPDIR/dest"
	# The entry's server_args name the installed users file; this one names the fixture.
	grep -v '^[[:space:]]*server_args' "$BATS_TEST_TMPDIR/dest/etc/xinetd.d/inetkit-cmdserver" >"$entry"
	start_xinetd "$entry" --htpasswd "$U" --fail-delay 0
	run bash -c "printf 'dougm\r\nfoobar\r\nquit\r\n' | socat -t 5 -T 10 - TCP:127.0.0.1:$PORT"
	assert_success
	assert_output "$(printf "Login: Password: $WELCOME")"
	run bash -c "printf 'dougm\r\nwrong\r\n' | socat -t 5 -T 10 - TCP:127.0.0.1:$PORT"
	assert_output "Login: Password: Access Denied"
}

# --- units ------------------------------------------------------------------------

@test "cmdserver units: verify clean, htpasswd unit exposure 2.5 or less, PAM unit documented" {
	local d=$BATS_TEST_TMPDIR/dest v=$BATS_TEST_TMPDIR/verify u f e
	install_tree "$d"
	install_units_for_verify "$d" "$v"
	u=$v$(unitdir)
	run grep -x 'ListenStream=8085' "$u/inetkit-cmdserver.socket" "$u/inetkit-cmdserver-pam.socket"
	assert_success
	assert_equal "${#lines[@]}" 2
	run grep -E '^(ExecStart|LoadCredential)=' "$u/inetkit-cmdserver@.service"
	assert_line "ExecStart=$d/usr/local/libexec/inetkit/cmdserver --htpasswd \${CREDENTIALS_DIRECTORY}/htpasswd --session-timeout 3600 --state-dir \${RUNTIME_DIRECTORY}"
	assert_line "LoadCredential=htpasswd:/etc/inetkit/cmdserver.htpasswd"
	for f in inetkit-cmdserver.socket inetkit-cmdserver@.service inetkit-cmdserver-pam.socket \
	    inetkit-cmdserver-pam@.service; do
		cd "$u"
		MANPATH="$d/usr/local/share/man" run timeout 60 systemd-analyze verify --man=yes "$f"
		assert_success
		assert_output ""
	done
	run timeout 60 systemd-analyze security --offline=true --no-pager "$u/inetkit-cmdserver@.service"
	assert_success
	e=$(printf '%s\n' "$output" | exposure_of)
	echo "# inetkit-cmdserver@.service: exposure $e" >&3
	le "$e" 2.5 || fail "exposure $e > 2.5"
	run timeout 60 systemd-analyze security --offline=true --no-pager "$u/inetkit-cmdserver-pam@.service"
	e=$(printf '%s\n' "$output" | exposure_of)
	echo "# inetkit-cmdserver-pam@.service: exposure $e" >&3
	[ -n "$e" ] || fail "no exposure figure"
	run grep -c 'pam_unix' "$u/inetkit-cmdserver-pam@.service"
	refute_output 0
}

@test "cmdserver man pages pass mandoc -T lint" {
	run mandoc -T lint -W warning "$TOP/man/inetkit-cmdserver.8" "$TOP/man/inetkit-htpasswd.5"
	assert_success
	assert_output ""
}

# --- memory of a session ----------------------------------------------------------

@test "cmdserver at its Password: prompt is not dumpable: a process of its own user cannot read its memory" {
	local stage pid
	# Run as nobody, from a copy nobody can reach whatever the checkout's mode.
	stage=$(mktemp -d /tmp/inetkit-dumpable.XXXXXX)
	chmod 755 "$stage"
	install -m 755 "$BIN/cmdserver" "$stage/"
	install -m 644 "$U" "$stage/users"
	activate inetd setpriv --reuid=nobody --regid=nogroup --clear-groups "$stage/cmdserver" \
	    --htpasswd "$stage/users" --fail-delay 0 --log stderr
	run python3 - "$PORT" "$stage/cmdserver" <<'PY'
import socket, subprocess, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
buf = b""
while b"Login: " not in buf:
    buf += s.recv(100)
s.sendall(b"dougm\n")
while b"Password: " not in buf:
    buf += s.recv(100)
pid = subprocess.run(["pgrep", "-n", "-f", sys.argv[2]], capture_output=True, text=True).stdout.split()[0]
uid = [l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("Uid:")][0]
owner = subprocess.run(["stat", "-c", "%U:%G", "/proc/%s/mem" % pid], capture_output=True, text=True).stdout.strip()
peek = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
    "head", "-c", "1", "/proc/%s/environ" % pid], capture_output=True, text=True)
print("uid", uid)
print("proc", owner)
print("peek", "refused" if peek.returncode else "read")
s.sendall(b"foobar\nquit\n")
PY
	rm -rf "$stage"
	assert_success
	# The session runs as nobody, yet its /proc files are root's, and nobody reads none of them.
	assert_line "uid $(id -u nobody)"
	assert_line "proc root:root"
	assert_line "peek refused"
}
