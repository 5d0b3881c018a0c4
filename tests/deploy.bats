#!/usr/bin/env bats
# README "Deploy": what make install install-units puts in place, run the way
# each activator runs it. Every installed service unit's ExecStart= goes
# through systemd-socket-activate as its socket would hand it connections
# (Accept=yes: --inetd -a; Accept=no: the listening socket), every installed
# xinetd entry through a real xinetd, and the README's tcpserver, --listen,
# pipe and sed commands as written there (with loopback addresses and free
# ports). Loopback only; everything started here is killed in teardown.

load helpers
load activation_helpers
load cmdserver_helpers
load deploy_helpers

# Every service unit make install-units ships, each exercised by a test below.
SERVICE_UNITS="inetkit-cmdserver-listen.service inetkit-cmdserver-pam@.service
inetkit-cmdserver@.service inetkit-echo-guarded-listen.service inetkit-echo-guarded@.service
inetkit-echo-listen.service inetkit-echo@.service inetkit-lcecho-listen.service
inetkit-lcecho@.service inetkit-echo-udp.service inetkit-relay-listen.service inetkit-relay@.service"
# The entries of stream services, each run below and bounding a busy session.
XINETD_ENTRIES="inetkit-cmdserver inetkit-echo inetkit-echo-guarded inetkit-lcecho inetkit-relay"
# echo over UDP (wait = yes: one process for every datagram), run below.
UDP_XINETD_ENTRIES="inetkit-echo-udp"
# The TLS units and entries (TLS_SERVICE_UNITS, TLS_XINETD_ENTRIES in
# deploy_helpers.bash; tests/tls-units.bats runs each of them) count here as
# installed units and entries, and their users as the entries' users.
ALL_XINETD_ENTRIES="$XINETD_ENTRIES $UDP_XINETD_ENTRIES $TLS_XINETD_ENTRIES"
# The command each entry's header (and README Deploy) gives to create its
# user, and that make install-users runs, followed by the user's name.
USERADD="useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group"
# The session bound every entry's server_args carry (README Deploy).
SESSION_TIMEOUT=3600
# cmdserver's date is checked against this machine's clock (assert_cmdserver_session).
CMDSERVER_CLOCK=yes

setup_file() {
	# Outside the checkout, which may sit in a 0700 home, and reachable by
	# every user (mktemp makes 0700): xinetd runs the installed programs as
	# the entries' users, who must reach them and the fixtures.
	export DEST FIX
	DEST=$(mktemp -d /tmp/inetkit-deploy.XXXXXX)
	FIX=$(mktemp -d /tmp/inetkit-deploy-fix.XXXXXX)
	chmod 755 "$DEST" "$FIX"
	install_tree "$DEST"
	# The entries' users, as README Deploy says: make install-users (which
	# skips those that exist). They stay: another suite may run as them.
	install_users
	# The block list; as the xinetd entry says, root compiles its index,
	# which the service's user could not write beside it.
	printf '# test block list\n127.0.0.2\n' >"$FIX/blocked"
	chmod 644 "$FIX/blocked"
	"$DEST$PKGDIR/blockip" --check 127.0.0.2 "$FIX/blocked" && return 1
	chmod -R a+rX "$FIX"
	# The users file, as README Deploy and the xinetd entry say: bcrypt,
	# owned by root and readable by the group of cmdserver's user only, with
	# the README's own chown and chmod lines.
	htpasswd -cbB -C 5 "$FIX/htpasswd" dougm foobar 2>/dev/null
	local l w n=0
	while read -r l; do
		mapfile -t w < <(shell_words "${l//$SYSCONF\/inetkit\/cmdserver.htpasswd/$FIX/htpasswd}")
		"${w[@]}"
		n=$((n + 1))
	done < <(deploy_block | grep -E '^(chown|chmod) .*/cmdserver\.htpasswd$')
	[ "$n" = 2 ] || { echo "README Deploy: $n chown/chmod lines for the users file, not 2" >&2; return 1; }
	world_reachable "$DEST$PKGDIR/echo" && world_reachable "$FIX/blocked"
}

teardown_file() {
	rm -rf "$DEST" "$FIX"
}

teardown() {
	kill_bg
	[ -z "${DAEMON_PID:-}" ] || kill "$DAEMON_PID" 2>/dev/null || true
	[ -z "${SAMPLER:-}" ] || { kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null; } || true
}

# --- helpers ---------------------------------------------------------------------

# The value of KEY= in unit file $1 (the last one, as systemd takes it).
unit_value() {
	sed -n "s/^$2=//p" "$1" | tail -n 1
}

# serve UNIT [ENV...]: serve_unit UNIT as systemd would run it here:
# ${CREDENTIALS_DIRECTORY}/htpasswd is the test's users file (LoadCredential=
# copies it there), ${RUNTIME_DIRECTORY} a directory of the service's own
# (RuntimeDirectory=: one per service, shared by its instances, 0700), the
# block list in SYSCONFDIR the test's; ENV (VAR=VALUE) is passed with -E.
# Sets PORT, SPID, CMD.
serve() {
	local u=$1 rundir=$BATS_TEST_TMPDIR/run-$1 e envs=()
	shift
	for e in "$@"; do envs+=(-E "$e"); done
	mkdir -p -m 700 "$rundir"
	serve_unit "$u" "${envs[@]}" --sub '${CREDENTIALS_DIRECTORY}/htpasswd' "$FIX/htpasswd" \
	    --sub '${RUNTIME_DIRECTORY}' "$rundir" --sub "$SYSCONF/inetkit/blocked" "$FIX/blocked" \
	    --sub 127.0.0.1:8010 "127.0.0.1:${RELAY_BACKEND:-8010}"
}

# say PORT FORMAT [SOCAT-OPTIONS]: sends printf FORMAT to 127.0.0.1:PORT and
# leaves the reply in $REPLY_FILE; the status is socat's.
say() {
	REPLY_FILE=$BATS_TEST_TMPDIR/reply
	# shellcheck disable=SC2059
	printf -- "$2" | timeout 20 socat -t 5 -T 10 - "TCP:127.0.0.1:$1${3:+,$3}" >"$REPLY_FILE"
}

# udp_say PORT ITEM...: tests/udpclient.py's datagrams to 127.0.0.1:PORT, one
# line of output each ("reply LEN exact from ADDR PORT", or "none").
udp_say() {
	timeout 60 python3 "$TOP/tests/udpclient.py" 127.0.0.1 "$@"
}

# Fails when the process $1 is not running.
alive() {
	kill -0 "$1" 2>/dev/null || fail "process $1 ($2) is gone"
}

# The lines of the README's "Deploy" code block.
deploy_block() {
	sed -n '/^## Deploy/,/^## /p' "$TOP/README.md" | sed -n '/^```sh$/,/^```$/p'
}

# The one line of the Deploy block matching ERE $1; fails unless exactly one.
deploy_line() {
	local l
	l=$(deploy_block | grep -E -- "$1")
	[ -n "$l" ] && [ "$(printf '%s\n' "$l" | wc -l)" = 1 ] ||
		{ echo "README Deploy: not exactly one line matching $1: $l" >&2; return 1; }
	printf '%s\n' "$l"
}

# The shell words of $1, one a line (the README's quoting, as sh reads it).
shell_words() {
	python3 -c 'import shlex, sys; print("\n".join(shlex.split(sys.argv[1])))' "$1"
}

# xinetd_installed (deploy_helpers.bash) enables an entry with the README's
# own sed command, its last word (the file) the entry's copy $1.
xinetd_enable() {
	local sedline w
	sedline=$(deploy_line '^sed -i ') || fail "no sed line"
	mapfile -t w < <(shell_words "$sedline")
	"${w[@]:0:$((${#w[@]} - 1))}" "$1" || fail "README sed failed"
}

# The entry's files in SYSCONFDIR, in its copy $1, replaced by the test's.
xinetd_fixtures() {
	sed -i -e "s|$SYSCONF/inetkit/cmdserver.htpasswd|$FIX/htpasswd|g" \
	    -e "s|$SYSCONF/inetkit/blocked|$FIX/blocked|g" \
	    -e "s| 127\.0\.0\.1:8010\$| 127.0.0.1:${RELAY_BACKEND:-8010}|" "$1"
}

# The relay's units and entry name echo on 127.0.0.1:8010 as their BACKEND:
# an echo in its accept loop on a free port stands in (RELAY_BACKEND, put in
# place of 8010 by serve and xinetd_fixtures).
relay_backend() {
	RELAY_BACKEND=$(free_port)
	bg "$BIN/echo" --listen "127.0.0.1:$RELAY_BACKEND" --user root --log-level 3 \
	    --log "$BATS_TEST_TMPDIR/echo.log"
	wait_listen "$RELAY_BACKEND" "${BG_PIDS##* }"
}

# Checks that the paths in the units and xinetd entries under $1 (a DESTDIR
# made with PKGDIR $2, SYSCONFDIR $3, XINETDDIR $4) point at what make install put there.
check_installed_paths() {
	local d=$1 pkg=$2 etc=$3 xdir=$4 u f p n=0 src b
	u=$d$(unitdir)
	# Every unit and entry in the source tree is installed, no placeholder left.
	for src in "$TOP"/units/*.socket "$TOP"/units/*.service.in "$TOP"/xinetd.d/*.in; do
		b=${src##*/}
		b=${b%.in}
		case $src in */xinetd.d/*) f=$d$xdir/$b ;; *) f=$u/$b ;; esac
		[ -f "$f" ] || fail "$b not installed at $f"
		run grep -n '@[A-Z]*@' "$f"
		assert_failure 1
	done
	# Every program a unit or entry runs (ExecStart=, server=, and the programs
	# in server_args=) is installed there; every file it names is in SYSCONFDIR.
	for f in "$u"/*.service "$d$xdir"/inetkit-*; do
		for p in $(sed -n -e 's/^ExecStart=//p' -e 's/^LoadCredential=[^:]*://p' \
		    -e 's/^[[:space:]]*server\(_args\)\{0,1\}[[:space:]]*=//p' "$f"); do
			case $p in
			"$pkg"/*)
				[ -x "$d$p" ] && [ -f "$d$p" ] || fail "${f##*/} runs $p, which make install did not install"
				n=$((n + 1)) ;;
'${CREDENTIALS_DIRECTORY}'/*|'${RUNTIME_DIRECTORY}') ;;
			# An xinetd entry's state directory (make install-users makes it).
			/var/lib/inetkit-*) [[ $f == "$d$xdir"/* ]] || fail "${f##*/} names $p" ;;
			/*)
				[ "${p#"$etc"/inetkit/}" != "$p" ] || fail "${f##*/} names $p, outside $pkg and $etc/inetkit"
				;;
			esac
		done
		# Each runs one of the installed programs.
		grep -qE "^(ExecStart=|[[:space:]]*server[[:space:]]*=[[:space:]]*)$pkg/[a-z]+( |\$)" "$f" ||
			fail "${f##*/}: no program under $pkg"
	done
	# 9 services + 4 entries, blockip's two wrapping echo and entry's too.
	[ "$n" -ge 16 ] || fail "only $n program paths checked"
}

# --- make install ----------------------------------------------------------------

@test "make install install-units (default paths): units and xinetd entries run the installed programs" {
	local d=$BATS_TEST_TMPDIR/dest
	# shellcheck disable=SC2046
	run make -s -C "$TOP" $(make_vars) install install-units DESTDIR="$d"
	assert_success
	check_installed_paths "$d" /usr/local/libexec/inetkit /etc /etc/xinetd.d
	run grep -x 'LoadCredential=htpasswd:/etc/inetkit/cmdserver.htpasswd' \
	    "$d$(unitdir)/inetkit-cmdserver@.service" "$d$(unitdir)/inetkit-cmdserver-listen.service"
	assert_success
	assert_equal "${#lines[@]}" 2
	run grep -E '^[[:space:]]*server_args[[:space:]]*=' "$d/etc/xinetd.d/inetkit-echo-guarded"
	assert_output --regexp "= --state-dir /var/lib/inetkit-echo-guarded /etc/inetkit/blocked /usr/local/libexec/inetkit/echo --session-timeout $SESSION_TIMEOUT\$"
}

@test "make install install-units with PREFIX=/opt/inetkit SYSCONFDIR=/opt/etc: the paths follow" {
	local d=$BATS_TEST_TMPDIR/dest
	# shellcheck disable=SC2046
	run make -s -C "$TOP" $(make_vars) install install-units DESTDIR="$d" \
	    PREFIX=/opt/inetkit SYSCONFDIR=/opt/etc
	assert_success
	[ -x "$d/opt/inetkit/libexec/inetkit/echo" ]
	[ -f "$d/opt/inetkit/share/man/man8/inetkit-echo.8" ]
	[ ! -e "$d/usr/local" ] || fail "something went to /usr/local: $(find "$d/usr/local")"
	[ ! -e "$d/etc" ] || fail "something went to /etc: $(find "$d/etc")"
	check_installed_paths "$d" /opt/inetkit/libexec/inetkit /opt/etc /opt/etc/xinetd.d
	run grep -x 'LoadCredential=htpasswd:/opt/etc/inetkit/cmdserver.htpasswd' \
	    "$d$(unitdir)/inetkit-cmdserver@.service" "$d$(unitdir)/inetkit-cmdserver-listen.service"
	assert_equal "${#lines[@]}" 2
	run grep -E '^[[:space:]]*server_args[[:space:]]*=' "$d/opt/etc/xinetd.d/inetkit-echo-guarded" \
	    "$d/opt/etc/xinetd.d/inetkit-cmdserver"
	assert_line --regexp "inetkit-echo-guarded:[[:space:]]*server_args[[:space:]]*= --state-dir /var/lib/inetkit-echo-guarded /opt/etc/inetkit/blocked /opt/inetkit/libexec/inetkit/echo --session-timeout $SESSION_TIMEOUT\$"
	assert_line --regexp "inetkit-cmdserver:[[:space:]]*server_args[[:space:]]*= --state-dir /var/lib/inetkit-cmdserver --htpasswd /opt/etc/inetkit/cmdserver.htpasswd --session-timeout $SESSION_TIMEOUT\$"
	# The man pages show the installed paths, and only those.
	run grep -c -F /opt/inetkit/libexec/inetkit/echo "$d/opt/inetkit/share/man/man8/inetkit-echo.8"
	[ "$output" -gt 0 ] || fail "inetkit-echo.8 never names the installed echo"
	run grep -c -F /opt/etc/inetkit/blocked "$d/opt/inetkit/share/man/man5/inetkit-blocklist.5"
	[ "$output" -gt 0 ] || fail "inetkit-blocklist.5 never names the installed list"
	run grep -rn -E '(^|[^a-z])(/usr/local/|/etc/(inetkit|xinetd\.d))' "$d/opt/inetkit/share/man"
	assert_failure 1
	# No line that systemd or xinetd reads keeps a default path.
	run grep -rn -E '^[^#]*[=:[:space:]](/usr/local|/etc)/' "$d$(unitdir)" "$d/opt/etc/xinetd.d"
	assert_failure 1
	assert_output ""
}

# --- every installed unit under systemd-socket-activate --------------------------

@test "every installed service unit is one this suite runs, each with its socket" {
	local f got=
	for f in "$DEST$(unitdir)"/*.service; do
		got="$got ${f##*/}"
	done
	assert_equal "$(echo $got | tr ' ' '\n' | sort)" "$(echo $SERVICE_UNITS $TLS_SERVICE_UNITS | tr ' ' '\n' | sort)"
	for f in $SERVICE_UNITS $TLS_SERVICE_UNITS; do
		case $f in
		*@.service) [ -f "$(unit "${f%@.service}.socket")" ] ;;
		*) [ -f "$(unit "${f%.service}.socket")" ] ;;
		esac || fail "no socket for $f"
	done
}

@test "inetkit-echo@.service (Accept=yes) echoes through systemd-socket-activate --inetd -a" {
	serve inetkit-echo@.service
	say "$PORT" 'Hello World\n\001\377 bytes\r\n'
	assert_reply 'Hello World\n\001\377 bytes\r\n'
	# A blank line ends the session and is not echoed.
	say "$PORT" 'one\n\r\nnot this\n'
	assert_reply 'one\n'
	alive "$SPID" systemd-socket-activate
}

@test "inetkit-echo-listen.service (Accept=no) runs its own accept loop on the passed socket and echoes" {
	serve inetkit-echo-listen.service
	say "$PORT" 'Hello World\n'
	assert_reply 'Hello World\n'
	say "$PORT" 'second\n'
	assert_reply 'second\n'
	# One process, the installed program itself, accepted both.
	run readlink "/proc/$SPID/exe"
	assert_output "$DEST$PKGDIR/echo"
}

@test "inetkit-lcecho@.service (Accept=yes) lower-cases through systemd-socket-activate --inetd -a" {
	serve inetkit-lcecho@.service
	say "$PORT" 'Hello WORLD\nGRÜSSE ÄÖÜ\n'
	assert_reply 'hello world\ngrÜsse ÄÖÜ\n'
}

@test "inetkit-lcecho-listen.service (Accept=no) lower-cases in its accept loop" {
	serve inetkit-lcecho-listen.service
	say "$PORT" 'Hello WORLD\n'
	assert_reply 'hello world\n'
	say "$PORT" 'AGAIN\n'
	assert_reply 'again\n'
	run readlink "/proc/$SPID/exe"
	assert_output "$DEST$PKGDIR/lcecho"
}

@test "inetkit-cmdserver@.service (Accept=yes) logs in from the htpasswd credential, answers date and quit" {
	serve inetkit-cmdserver@.service
	say "$PORT" 'dougm\r\nfoobar\r\ndate\r\nquit\r\nmotd\r\n'
	assert_cmdserver_session
}

@test "inetkit-cmdserver-listen.service (Accept=no) logs in, answers date and quit, twice" {
	serve inetkit-cmdserver-listen.service
	say "$PORT" 'dougm\nfoobar\ndate\nquit\n'
	assert_cmdserver_session
	say "$PORT" 'dougm\nfoobar\ndate\nquit\n'
	assert_cmdserver_session
	run readlink "/proc/$SPID/exe"
	assert_output "$DEST$PKGDIR/cmdserver"
}

@test "inetkit-cmdserver-pam@.service (Accept=yes) logs in through its PAM service, denies a bad password" {
	local svc
	# The ExecStart= names the PAM service; pam_wrapper reads it from PAMDIR, never /etc/pam.d.
	svc=$(sed -n 's/^ExecStart=.* --pam \([^ ]*\).*$/\1/p' "$(unit inetkit-cmdserver-pam@.service)")
	assert_equal "$svc" inetkit-cmdserver
	PAMDIR=$BATS_TEST_TMPDIR/pam.d
	mkdir -p "$PAMDIR"
	printf 'dougm:pam secret:%s\n' "$svc" >"$BATS_TEST_TMPDIR/passdb"
	printf '%s\n' "auth required $PAM_MATRIX passdb=$BATS_TEST_TMPDIR/passdb" \
	    "account required $PAM_MATRIX passdb=$BATS_TEST_TMPDIR/passdb" >"$PAMDIR/$svc"
	pam_env
	serve inetkit-cmdserver-pam@.service "${CMD_ENV[@]}"
	say "$PORT" 'dougm\npam secret\ndate\nquit\n'
	assert_cmdserver_session
	say "$PORT" 'dougm\nwrong\n'
	assert_reply "Login: Password: $DENIED"
}

@test "inetkit-echo-udp.service (ListenDatagram=, Accept=no) answers datagrams, one process for all, through systemd-socket-activate --datagram" {
	local n
	serve inetkit-echo-udp.service
	run udp_say "$PORT" 'text=Hello UDP\n' size=1472 hex=
	assert_output "reply 10 exact from 127.0.0.1 $PORT
reply 1472 exact from 127.0.0.1 $PORT
reply 0 exact from 127.0.0.1 $PORT"
	# The activator exec'd the installed echo, which answers the next datagram too.
	run readlink "/proc/$SPID/exe"
	assert_output "$DEST$PKGDIR/echo"
	run udp_say "$PORT" text=again
	assert_output "reply 5 exact from 127.0.0.1 $PORT"
	# Its --max-rate (a burst of 100, then one every 0.1 s, from one address)
	# holds, in its table of sources.
	run timeout 60 python3 "$TOP/tests/udpclient.py" --wait 0.01 127.0.0.1 "$PORT" 130*text=r
	n=$(grep -c '^reply ' <<<"$output") || true
	[ "$n" -ge 96 ] && [ "$n" -le 115 ] || fail "$n of 130 answered"
	[ -f "$BATS_TEST_TMPDIR/run-inetkit-echo-udp.service/inetkit-echo.sources" ]
}

# Echo for an unlisted client, zero bytes for 127.0.0.2 (listed), echo again after.
assert_guarded() {
	say "$PORT" 'hello\n' bind=127.0.0.3
	assert_reply 'hello\n'
	say "$PORT" 'hello\n' bind=127.0.0.2 2>/dev/null || true
	assert_reply ''
	wait_log -F "$ACTIVATE_LOG" "127.0.0.2" 10
	say "$PORT" 'after\n' bind=127.0.0.1
	assert_reply 'after\n'
}

@test "inetkit-echo-guarded@.service (Accept=yes) echoes for an unlisted client, drops a listed one without a byte" {
	serve inetkit-echo-guarded@.service
	assert_guarded
}

@test "inetkit-echo-guarded-listen.service (Accept=no) echoes for an unlisted client, drops a listed one without a byte" {
	serve inetkit-echo-guarded-listen.service
	assert_guarded
	alive "$SPID" "the accept loop"
}

@test "inetkit-relay@.service (Accept=yes) relays to echo through systemd-socket-activate --inetd -a" {
	relay_backend
	serve inetkit-relay@.service
	say "$PORT" 'Hello relay\n'
	assert_reply 'Hello relay\n'
	wait_log "$BATS_TEST_TMPDIR/echo.log" 'served peer=127\.0\.0\.1:'
}

@test "inetkit-relay-listen.service (Accept=no) relays to echo from its accept loop" {
	relay_backend
	serve inetkit-relay-listen.service
	say "$PORT" 'one\n'
	assert_reply 'one\n'
	say "$PORT" 'two\n'
	assert_reply 'two\n'
	run readlink "/proc/$SPID/exe"
	assert_output "$DEST$PKGDIR/relay"
}

# --- every installed xinetd entry under a real xinetd ----------------------------

@test "every installed xinetd entry runs as its own user and group, made as its header says, and bounds its session" {
	local f e user n=0 args pat uid gid home shell
	for f in "$DEST/etc/xinetd.d"/*; do
		e=${f##*/}
		n=$((n + 1))
		[[ " $(echo $ALL_XINETD_ENTRIES) " == *" $e "* ]] || fail "$e: an entry this suite does not run"
		# The user and group are the service's own, named after it: no two
		# entries share one, none is nobody or root.
		user=$(entry_value "$f" user)
		assert_equal "$user" "$e"
		assert_equal "$(entry_value "$f" group)" "$e"
		# The header says how to create it, with the command make install-users runs.
		run grep -x -F "#   $USERADD $e" "$f"
		assert_success
		# The user exists as that command makes it: a system account, no
		# home, no shell, its own group as its primary group.
		run getent passwd "$user"
		assert_success
		IFS=: read -r _ _ uid gid _ home shell <<<"$output"
		assert_equal "$home:$shell" /nonexistent:/usr/sbin/nologin
		[ "$uid" -lt 1000 ] && [ "$uid" -gt 0 ] || fail "$user: uid $uid is not a system uid"
		assert_equal "$gid" "$(getent group "$user" | cut -d: -f3)"
		# The session bound, as one option of the program that serves the
		# session: for echo-guarded, echo's (after it), not blockip's; for
		# the TLS entries, tls's (before its PROGRAM): it holds the connection.
		args=" $(entry_value "$f" server_args) "
		case $e in
		inetkit-echo-guarded) pat=" $PKGDIR/echo .*--session-timeout $SESSION_TIMEOUT " ;;
		inetkit-tls-*) pat=" --session-timeout $SESSION_TIMEOUT .* $PKGDIR/[a-z]+ " ;;
		*) pat=" --session-timeout $SESSION_TIMEOUT " ;;
		esac
		[[ $args =~ $pat ]] || fail "$e: server_args '$args' do not carry --session-timeout $SESSION_TIMEOUT"
		[ "$(grep -o -e '--session-timeout' <<<"$args" | wc -l)" = 1 ] || fail "$e: more than one session bound"
		# One table of sources for every instance, in the user's own state
		# directory, which make install-users makes 0700.
		[[ $args == *" --state-dir /var/lib/$user "* ]] || fail "$e: no --state-dir /var/lib/$user"
		run stat -c '%U:%G %a' "/var/lib/$user"
		assert_output "$user:$user 700"
	done
	assert_equal "$n" "$(echo $ALL_XINETD_ENTRIES | wc -w)"
}

@test "the installed inetkit-echo xinetd entry echoes under xinetd, as inetkit-echo" {
	xinetd_installed inetkit-echo
	say "$PORT" 'Hello xinetd\n'
	assert_reply 'Hello xinetd\n'
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-echo status=0" 10
	assert_served_as inetkit-echo echo 'held\n' 'held\n'
}

@test "the installed inetkit-relay xinetd entry relays to echo under xinetd, as inetkit-relay" {
	relay_backend
	xinetd_installed inetkit-relay
	say "$PORT" 'Hello relay\n'
	assert_reply 'Hello relay\n'
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-relay status=0" 10
	assert_served_as inetkit-relay relay 'held\n' 'held\n'
}

@test "the installed inetkit-lcecho xinetd entry lower-cases under xinetd, as inetkit-lcecho" {
	xinetd_installed inetkit-lcecho
	say "$PORT" 'Hello XINETD\n'
	assert_reply 'hello xinetd\n'
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-lcecho status=0" 10
	assert_served_as inetkit-lcecho lcecho 'HELD\n' 'held\n'
}

@test "the installed inetkit-cmdserver xinetd entry logs in from its htpasswd file under xinetd, as inetkit-cmdserver" {
	local u
	# The users file as the entry says: root's, readable by the group of
	# cmdserver's user, by no other service's user nor nobody.
	assert_equal "$(stat -c '%U:%G %a' "$FIX/htpasswd")" "root:inetkit-cmdserver 640"
	for u in $XINETD_ENTRIES nobody; do
		[ "$u" != inetkit-cmdserver ] || continue
		run runuser -u "$u" -- cat "$FIX/htpasswd"
		assert_failure
	done
	xinetd_installed inetkit-cmdserver
	say "$PORT" 'dougm\nfoobar\ndate\nquit\n'
	assert_cmdserver_session
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-cmdserver status=0" 10
	# The process that reads the password being typed runs as inetkit-cmdserver.
	assert_served_as inetkit-cmdserver cmdserver 'dougm\n' 'Password: '
}

@test "the installed inetkit-echo-guarded xinetd entry echoes for others and drops a listed client, as inetkit-echo-guarded" {
	xinetd_installed inetkit-echo-guarded
	say "$PORT" 'hello\n' bind=127.0.0.3
	assert_reply 'hello\n'
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-echo-guarded status=0" 10
	say "$PORT" 'hello\n' bind=127.0.0.2 2>/dev/null || true
	assert_reply ''
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-echo-guarded status=1" 10
	# blockip has exec'd echo, which serves the session as the entry's user.
	assert_served_as inetkit-echo-guarded echo 'held\n' 'held\n'
}

@test "the installed inetkit-echo-udp xinetd entry answers datagrams under xinetd (wait = yes), as inetkit-echo-udp, started again after its idle exit" {
	local kids kid uid gid
	# A second's idle timeout, so that the process is seen to go and come back.
	XINETD_EDIT='s/--session-timeout 3600 /--session-timeout 3600 --idle-timeout 1 /' \
	    xinetd_installed inetkit-echo-udp
	run udp_say "$PORT" 'text=Hello xinetd\n' size=1472 hex=
	assert_output "reply 13 exact from 127.0.0.1 $PORT
reply 1472 exact from 127.0.0.1 $PORT
reply 0 exact from 127.0.0.1 $PORT"
	# While it runs, the one process xinetd started holds the socket: the
	# installed echo, as the entry's user and group, no other group.
	kids=$(cat "/proc/$XINETD_PID/task/$XINETD_PID/children")
	[ "$(wc -w <<<"$kids")" = 1 ] || fail "xinetd runs: $kids"
	kid=${kids// /}
	run readlink "/proc/$kid/exe"
	assert_output "$DEST$PKGDIR/echo"
	uid=$(id -u inetkit-echo-udp) gid=$(getent group inetkit-echo-udp | cut -d: -f3)
	run grep -E '^(Uid|Gid|Groups):' "/proc/$kid/status"
	assert_line "Uid:	$uid	$uid	$uid	$uid"
	assert_line "Gid:	$gid	$gid	$gid	$gid"
	assert_line --regexp '^Groups:[[:space:]]*$'
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-echo-udp status=0" 10
	# xinetd listens again, and starts a new process for the next datagram.
	run udp_say "$PORT" text=again
	assert_output "reply 5 exact from 127.0.0.1 $PORT"
	wait_count "$XINETD_LOG" "EXIT: inetkit-echo-udp status=0" 2
	run grep -c "START: inetkit-echo-udp" "$XINETD_LOG"
	assert_output 2
}

@test "every installed xinetd entry ends a busy session at its --session-timeout (2 s put in place of $SESSION_TIMEOUT)" {
	local e login secs
	for e in $XINETD_ENTRIES; do
		login=
		[ "$e" != inetkit-cmdserver ] || login='dougm\nfoobar\n'
		[ "$e" != inetkit-relay ] || relay_backend
		XINETD_EDIT="s/--session-timeout $SESSION_TIMEOUT\\([[:space:]]\\|\$\\)/--session-timeout 2\\1/" \
		    xinetd_installed "$e"
		# A line every 0.2 s, far inside the idle timeout: only the session bound ends it.
		run busy_session "$login"
		assert_success
		[[ $output =~ ^eof\ after\ ([0-9.]+)\ s,\ ([0-9]+)\ replies$ ]] || fail "$e: $output"
		secs=${BASH_REMATCH[1]}
		[ "${BASH_REMATCH[2]}" -ge 5 ] || fail "$e: only ${BASH_REMATCH[2]} replies before the end: not served"
		le 1.5 "$secs" && le "$secs" 4 || fail "$e: session ended after $secs s, not at its 2 s bound"
		# An ordinary end for the service: exit 0, after about 2 s.
		wait_log -F "$XINETD_LOG" "EXIT: $e status=0" 10
		run grep -E "EXIT: $e status=0 .*duration=[23]\\(sec\\)" "$XINETD_LOG"
		assert_success
		kill_bg
	done
}

# A fake getent, useradd, groupadd and id in $1: users and groups named
# inetkit-* exist only once made (recorded in $1/state), each call to
# useradd or groupadd is logged in $1/calls, the first useradd fails as a
# held /etc/passwd lock does, and id -u prints $2.
fake_accounts() {
	local d=$1
	mkdir -p "$d"
	: >"$d/state"
	: >"$d/calls"
	cat >"$d/getent" <<EOF
#!/bin/sh
case \$2 in
inetkit-*) grep -qx "\$1 \$2" "$d/state" ;;
*) exec /usr/bin/getent "\$@" ;;
esac
EOF
	cat >"$d/useradd" <<EOF
#!/bin/sh
echo "useradd \$*" >>"$d/calls"
if [ ! -e "$d/locked-once" ]; then
	: >"$d/locked-once"
	echo "useradd: cannot lock /etc/passwd; try again later." >&2
	exit 1
fi
for u; do :; done
echo "passwd \$u" >>"$d/state"
case " \$* " in *" --user-group "*) echo "group \$u" >>"$d/state" ;; esac
EOF
	cat >"$d/groupadd" <<EOF
#!/bin/sh
echo "groupadd \$*" >>"$d/calls"
for g; do :; done
echo "group \$g" >>"$d/state"
EOF
	cat >"$d/id" <<EOF
#!/bin/sh
[ "\$1" = -u ] && { echo $2; exit 0; }
echo "id of \$1"
EOF
	printf '#!/bin/sh\nexit 0\n' >"$d/chown"
	chmod 755 "$d/getent" "$d/useradd" "$d/groupadd" "$d/id" "$d/chown"
}

install_users_with() {
	local d=$1
	shift
	# shellcheck disable=SC2046
	PATH="$d:$PATH" make -s -C "$TOP" $(make_vars) install-users STATEDIR="$d/lib" "$@"
}

@test "make install-users creates each entry's missing user and group with the documented command, once" {
	local d=$BATS_TEST_TMPDIR/fake e want=
	fake_accounts "$d" 0
	run install_users_with "$d"
	assert_success
	# The first useradd met a held lock and was tried again.
	assert_output --partial "useradd: cannot lock /etc/passwd"
	for e in $(echo $ALL_XINETD_ENTRIES | tr ' ' '\n' | sort); do
		assert_line "install-users: $USERADD $e"
		assert_line "install-users: $e: present (id of $e)"
		want="$want$USERADD $e
"
	done
	assert_equal "$(cat "$d/calls")" "$(printf '%s' "$USERADD $(echo $ALL_XINETD_ENTRIES | tr ' ' '\n' | sort | head -n 1)
$want")"
	# Again: nothing to do, nothing run.
	: >"$d/calls"
	run install_users_with "$d"
	assert_success
	refute_output --partial useradd
	assert_equal "$(grep -c ': present (' <<<"$output")" "$(echo $ALL_XINETD_ENTRIES | wc -w)"
	assert_equal "$(cat "$d/calls")" ""
	# A group left without its user, a user without its group: each gets what it lacks.
	grep -v -x -e 'passwd inetkit-echo' -e 'group inetkit-lcecho' "$d/state" >"$d/state.new"
	mv "$d/state.new" "$d/state"
	run install_users_with "$d"
	assert_success
	assert_equal "$(cat "$d/calls")" "${USERADD% --user-group} --gid inetkit-echo inetkit-echo
groupadd --system inetkit-lcecho"
	assert_line "install-users: ${USERADD% --user-group} --gid inetkit-echo inetkit-echo"
	assert_line "install-users: groupadd --system inetkit-lcecho"
}

@test "make install-users creates nothing with a DESTDIR, and fails for a missing user when not root" {
	local d=$BATS_TEST_TMPDIR/fake
	fake_accounts "$d" 0
	run install_users_with "$d" DESTDIR="$BATS_TEST_TMPDIR/stage"
	assert_success
	assert_output --partial "DESTDIR is set"
	assert_equal "$(cat "$d/calls")" ""
	[ ! -e "$BATS_TEST_TMPDIR/stage" ]
	fake_accounts "$d" 1000
	run install_users_with "$d"
	assert_failure
	assert_output --partial "is missing; run as root"
	assert_equal "$(cat "$d/calls")" ""
}

@test "make install-users on this machine: every entry's user in place, and a second run changes nothing" {
	local before after
	before=$(getent passwd; getent group)
	# shellcheck disable=SC2046
	run make -s -C "$TOP" $(make_vars) install-users
	assert_success
	refute_output --partial useradd
	refute_output --partial groupadd
	assert_equal "$(grep -c ': present (uid=' <<<"$output")" "$(echo $ALL_XINETD_ENTRIES | wc -w)"
	after=$(getent passwd; getent group)
	assert_equal "$after" "$before"
}

# The xinetd cases of this suite and of activation.bats, run from a copy of
# the tree inside a 0700 directory (as a clone in root's home is): whatever a
# service's user must exec or read has to be staged outside the checkout.
@test "the xinetd tests pass from a checkout inside a 0700 directory" {
	[ -z "${INETKIT_NESTED:-}" ] || skip "already the copy"
	local home=$BATS_TEST_TMPDIR/home copy
	copy=$home/inetkit
	mkdir -p "$copy/$BUILD"
	chmod 700 "$home"
	tar -C "$TOP" --exclude=./build --exclude=./.git -cf - . | tar -C "$copy" -xf -
	cp -a "$TOP/$BUILD/." "$copy/$BUILD/"
	# The service users cannot reach the copy: the case is real.
	for u in $XINETD_ENTRIES nobody; do
		run runuser -u "$u" -- test -x "$copy/$BUILD/echo"
		assert_failure
	done
	run env INETKIT_NESTED=1 BUILD="$BUILD" timeout 300 bats --formatter tap \
	    -f 'under xinetd, from our generated entry' "$copy/tests/activation.bats" </dev/null
	assert_success
	[ "$(grep -c '^ok ' <<<"$output")" -ge 2 ] || fail "too few xinetd tests ran: $output"
	run env INETKIT_NESTED=1 BUILD="$BUILD" timeout 300 bats --formatter tap \
	    -f 'installed inetkit-[a-z-]* xinetd entry' "$copy/tests/deploy.bats" </dev/null
	assert_success
	[ "$(grep -c '^ok ' <<<"$output")" -ge 4 ] || fail "too few xinetd tests ran: $output"
}

# --- the README's Deploy commands ------------------------------------------------

@test "README Deploy: make install-users, the useradd command it runs, the users file's owner and mode" {
	local e
	run deploy_line '^make install-users( |$)'
	assert_success
	run deploy_line '^useradd '
	assert_success
	assert_output "$USERADD inetkit-cmdserver"
	for e in $XINETD_ENTRIES $UDP_XINETD_ENTRIES; do
		sed -n '/^## Deploy/,/^## /p' "$TOP/README.md" | grep -q -F "\`$e\`" ||
			fail "README Deploy does not name the user $e"
	done
	run deploy_line '^chown '
	assert_output "chown root:inetkit-cmdserver $SYSCONF/inetkit/cmdserver.htpasswd"
	run deploy_line '^chmod '
	assert_output "chmod 640 $SYSCONF/inetkit/cmdserver.htpasswd"
	# The entry's header says the same.
	run grep -x -F -e "#   chown root:inetkit-cmdserver $SYSCONF/inetkit/cmdserver.htpasswd" \
	    -e "#   chmod 640 $SYSCONF/inetkit/cmdserver.htpasswd" "$DEST/etc/xinetd.d/inetkit-cmdserver"
	assert_equal "${#lines[@]}" 2
}

@test "README Deploy: the units and the xinetd entry its commands name are installed" {
	local l n=0
	while read -r l; do
		n=$((n + 1))
		[ -f "$(unit "$l")" ] || fail "README enables $l; make install-units did not install it"
		run grep -x 'Accept=\(yes\|no\)' "$(unit "$l")"
		assert_success
	done < <(deploy_block | sed -n 's/^systemctl enable --now \([^ ]*\)$/\1/p')
	assert_equal "$n" 3
	l=$(deploy_line '^sed -i ')
	l=${l##* }
	[ -f "$DEST$l" ] || fail "README edits $l; make install-units did not install it"
}

@test "README Deploy: the sed command flips disable to no in the installed entry and changes nothing else" {
	local l w e n orig
	l=$(deploy_line '^sed -i ')
	mapfile -t w < <(shell_words "$l")
	for e in $XINETD_ENTRIES; do
		cp "$DEST/etc/xinetd.d/$e" "$BATS_TEST_TMPDIR/$e"
		run "${w[@]:0:$((${#w[@]} - 1))}" "$BATS_TEST_TMPDIR/$e"
		assert_success
		assert_output ""
		# The one disable line, "disable = yes" with the entry's own spacing.
		run grep -n '^[[:space:]]*disable[[:space:]]*=' "$DEST/etc/xinetd.d/$e"
		assert_success
		assert_equal "${#lines[@]}" 1
		n=${output%%:*} orig=${output#*:}
		[[ $orig =~ ^[[:space:]]*disable[[:space:]]*=[[:space:]]*yes$ ]] || fail "$e: $orig"
		run diff "$DEST/etc/xinetd.d/$e" "$BATS_TEST_TMPDIR/$e"
		assert_failure 1
		assert_output "${n}c${n}
< $orig
---
> ${orig%yes}no"
		# Run again, it changes nothing more.
		cp "$BATS_TEST_TMPDIR/$e" "$BATS_TEST_TMPDIR/$e.once"
		run "${w[@]:0:$((${#w[@]} - 1))}" "$BATS_TEST_TMPDIR/$e"
		assert_success
		run cmp "$BATS_TEST_TMPDIR/$e.once" "$BATS_TEST_TMPDIR/$e"
		assert_success
	done
}

@test "README Deploy: the tcpserver command serves echo (on 127.0.0.1 and a free port)" {
	local l w i
	l=$(deploy_line '^tcpserver ')
	assert_equal "$l" "tcpserver -v 0 8010 $PKGDIR/echo"
	PORT=$(free_port)
	mapfile -t w < <(shell_words "$l")
	for i in "${!w[@]}"; do
		case ${w[$i]} in
		0) w[$i]=127.0.0.1 ;;
		8010) w[$i]=$PORT ;;
		"$PKGDIR"/*) w[$i]=$DEST${w[$i]} ;;
		esac
	done
	bg timeout 60 "${w[@]}" 2>"$BATS_TEST_TMPDIR/tcpserver.log"
	wait_listen "$PORT"
	say "$PORT" 'Hello tcpserver\n'
	assert_reply 'Hello tcpserver\n'
	# tcpserver -v: the program ended with status 0.
	wait_log -F "$BATS_TEST_TMPDIR/tcpserver.log" " status 0" 10
	run grep -c ' status ' "$BATS_TEST_TMPDIR/tcpserver.log"
	assert_output 1
}

@test "README Deploy: the --listen command serves echo on IPv4 and IPv6 as its user (loopback, free ports)" {
	local l w i p4 p6 v6=yes
	l=$(deploy_line " --listen '\[::\]:8010' ")
	mapfile -t w < <(shell_words "$l")
	assert_equal "${w[*]}" "$PKGDIR/echo --listen 0.0.0.0:8010 --listen [::]:8010 --user inetkit-echo"
	p4=$(free_port)
	p6=$(free_port 6 2>/dev/null) || v6=
	for i in "${!w[@]}"; do
		case ${w[$i]} in
		0.0.0.0:8010) w[$i]=127.0.0.1:$p4 ;;
		'[::]:8010') w[$i]="[::1]:$p6" ;;
		"$PKGDIR"/*) w[$i]=$DEST${w[$i]} ;;
		esac
	done
	if [ -z "$v6" ]; then
		# Drop the IPv6 pair: this machine has no ::1.
		w=("${w[@]:0:3}" "${w[@]:5}")
	fi
	bg timeout 60 "${w[@]}" 2>"$BATS_TEST_TMPDIR/listen.log"
	SPID=${BG_PIDS##* }
	wait_listen "$p4"
	say "$p4" 'Hello v4\n'
	assert_reply 'Hello v4\n'
	# timeout's child, the accept loop, serves as the user the command names.
	run sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$(pgrep -P "$SPID")/status"
	assert_output "$(id -u inetkit-echo)"
	[ -n "$v6" ] || skip "::1 is not available here; IPv4 served, IPv6 not tried"
	wait_listen "$p6"
	run sh -c "printf 'Hello v6\n' | timeout 20 socat -t 5 -T 10 - 'TCP6:[::1]:$p6'"
	assert_success
	assert_output 'Hello v6'
}

@test "README Deploy: the daemon command detaches, serves as its user, and keeps its pid file while it runs" {
	local l w i port p pidf=$BATS_TEST_TMPDIR/run/inetkit-echo.pid
	l=$(deploy_line ' --setsid ')
	mapfile -t w < <(shell_words "$l")
	assert_equal "${w[*]}" "$PKGDIR/echo --listen 0.0.0.0:8010 --user inetkit-echo --setsid --pid-file /run/inetkit-echo.pid --log syslog"
	port=$(free_port)
	mkdir -m 755 "$BATS_TEST_TMPDIR/run"
	for i in "${!w[@]}"; do
		case ${w[$i]} in
		0.0.0.0:8010) w[$i]=127.0.0.1:$port ;;
		/run/inetkit-echo.pid) w[$i]=$pidf ;;
		"$PKGDIR"/*) w[$i]=$DEST${w[$i]} ;;
		esac
	done
	# The command returns once the daemon is ready (3>&-: bats waits for fd 3's holders).
	run timeout 20 "${w[@]}" 3>&-
	assert_success
	wait_file "$pidf"
	p=$(cat "$pidf")
	DAEMON_PID=$p
	wait_listen "$port" "$p"
	say "$port" 'Hello daemon\n'
	assert_reply 'Hello daemon\n'
	run sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$p/status"
	assert_output "$(id -u inetkit-echo)"
	assert_equal "$(ps -o sid= -p "$p" | tr -d ' ')" "$p"
	kill "$p"
	wait_until 10 "the daemon never ended" not kill -0 "$p"
	wait_until 5 "$pidf was not removed" not test -e "$pidf"
}

@test "README Deploy: the --prefork command serves echo from 8 workers, as its user (loopback, a free port)" {
	local l w i port c n=0
	l=$(deploy_line ' --prefork ')
	mapfile -t w < <(shell_words "$l")
	assert_equal "${w[*]}" "$PKGDIR/echo --listen 0.0.0.0:8010 --prefork 8 --max-per-source 2 --user inetkit-echo"
	port=$(free_port)
	for i in "${!w[@]}"; do
		case ${w[$i]} in
		0.0.0.0:8010) w[$i]=127.0.0.1:$port ;;
		"$PKGDIR"/*) w[$i]=$DEST${w[$i]} ;;
		esac
	done
	bg timeout 60 "${w[@]}" 2>"$BATS_TEST_TMPDIR/prefork.log"
	wait_until 10 "no accept loop" pgrep -P "${BG_PIDS##* }" >/dev/null
	SPID=$(pgrep -P "${BG_PIDS##* }")
	wait_listen "$port"
	for i in 1 2 3; do
		say "$port" "Hello worker $i\n"
		assert_reply "Hello worker $i\n"
	done
	# Eight workers, every one running as the command's user.
	wait_until 10 "never 8 workers" eval "[ \"\$(pgrep -c -P $SPID)\" -eq 8 ]"
	for c in $(pgrep -P "$SPID"); do
		run sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$c/status"
		assert_output "$(id -u inetkit-echo)"
		n=$((n + 1))
	done
	assert_equal "$n" 8
}

@test "README Deploy: the --listen udp: command answers datagrams on IPv4 and IPv6 (loopback, free ports)" {
	local l w i p4 p6 v6=yes
	l=$(deploy_line ' --listen udp:')
	mapfile -t w < <(shell_words "$l")
	assert_equal "${w[*]}" "$PKGDIR/echo --listen udp:0.0.0.0:8010 --listen udp:[::]:8010 --user inetkit-echo"
	p4=$(free_port 4 udp)
	p6=$(free_port 6 udp 2>/dev/null) || v6=
	for i in "${!w[@]}"; do
		case ${w[$i]} in
		udp:0.0.0.0:8010) w[$i]=udp:127.0.0.1:$p4 ;;
		'udp:[::]:8010') w[$i]="udp:[::1]:$p6" ;;
		"$PKGDIR"/*) w[$i]=$DEST${w[$i]} ;;
		esac
	done
	[ -n "$v6" ] || w=("${w[@]:0:3}" "${w[@]:5}")
	bg timeout 60 "${w[@]}" 2>"$BATS_TEST_TMPDIR/listen.log"
	SPID=${BG_PIDS##* }
	wait_udp "$p4"
	run udp_say "$p4" 'text=Hello v4\n'
	assert_output "reply 9 exact from 127.0.0.1 $p4"
	[ -n "$v6" ] || skip "::1 is not available here; IPv4 served, IPv6 not tried"
	run timeout 60 python3 "$TOP/tests/udpclient.py" ::1 "$p6" 'text=Hello v6\n'
	assert_output "reply 9 exact from ::1 $p6"
}

@test "README Deploy: the pipe command prints hello through the installed lcecho, exit 0" {
	local l
	l=$(deploy_line '^printf .*\| ')
	assert_equal "$l" "printf 'Hello\\n' | $PKGDIR/lcecho"
	l=${l//$PKGDIR\//$DEST$PKGDIR/}
	run timeout 10 bash -c "set -o pipefail; $l >'$BATS_TEST_TMPDIR/out'"
	assert_success
	assert_output ""
	REPLY_FILE=$BATS_TEST_TMPDIR/out
	assert_reply 'hello\n'
}

# --- a connection flood against the socket settings ------------------------------
#
# What this simulates, and what it cannot. PID 1 here is not systemd, so no
# .socket unit can be started; systemd-socket-activate is systemd's own
# activator for one command, and it passes connections exactly as PID 1 does
# (--inetd -a: each connection on fd 0 and 1 of a new process, as Accept=yes
# with StandardInput=socket; without -a: the listening socket on fd 3 with
# LISTEN_PID/LISTEN_FDS, as Accept=no). It has NONE of systemd's socket
# accounting: no MaxConnections=, no MaxConnectionsPerSource= and no trigger
# limit. So for Accept=yes the test
#   - reads MaxConnections=, MaxConnectionsPerSource= and
#     TriggerLimitIntervalSec= from the installed inetkit-echo.socket and
#     requires TriggerLimitIntervalSec=0. On systemd 252 the trigger limit is
#     the one thing that fails an Accept=yes socket under a flood (more than
#     TriggerLimitBurst=, default 200, triggers in TriggerLimitIntervalSec=,
#     default 2 s, and the socket stops listening until restarted by hand);
#     0 turns it off, so that outcome is excluded by the setting itself.
#     MaxConnections= and MaxConnectionsPerSource= only ever close single
#     connections, never the socket;
#   - floods echo, run from the unit's ExecStart=, with more than MaxConnections=
#     clients at a time and at a rate that would have tripped the default
#     trigger limit (over 100 connections a second, so 200 in some 2 s), and
#     shows every session intact and the service answering afterwards: what a
#     flood does to the program and the activation path.
# It cannot show systemd's own bookkeeping: that PID 1 closes connections
# over MaxConnections=/MaxConnectionsPerSource= (systemd-socket-activate
# serves them all), the socket unit's state, or the transient units' cost.
# For Accept=no the limits are the program's own, so they are tested for real:
# --max-connections set to the Accept=yes socket's MaxConnections=, children
# sampled from /proc during the flood.

@test "a flood of 3000 connections, 100 at a time, against the Accept=yes settings leaves echo answering" {
	local s max per trig rate
	s=$(unit inetkit-echo.socket)
	max=$(unit_value "$s" MaxConnections)
	per=$(unit_value "$s" MaxConnectionsPerSource)
	trig=$(unit_value "$s" TriggerLimitIntervalSec)
	assert_equal "$(unit_value "$s" Accept)" yes
	assert_equal "$trig" 0
	[[ $max =~ ^[1-9][0-9]*$ ]] && [[ $per =~ ^[1-9][0-9]*$ ]] && [ "$per" -le "$max" ] ||
		fail "MaxConnections=$max MaxConnectionsPerSource=$per"
	[ "$max" -lt 100 ] || fail "the flood (100 at a time) must exceed MaxConnections=$max"
	LOADGEN=$TOP/$BUILD/bench/loadgen
	[ -x "$LOADGEN" ] || make -C "$TOP" -s "$BUILD/bench/loadgen" >/dev/null
	serve inetkit-echo@.service
	run timeout 180 "$LOADGEN" burst "127.0.0.1:$PORT" 100 3000
	assert_success
	assert_output --regexp '^clients=100 conns=3000 intact=3000 rate=[0-9]+$'
	rate=${output##*rate=}
	echo "# Accept=yes flood: $rate connections/s" >&3
	[ "$rate" -gt 100 ] || fail "$rate/s would not have tripped the default trigger limit: not a flood"
	# The activator still listens and the service answers correctly.
	alive "$SPID" systemd-socket-activate
	say "$PORT" 'after the flood\n'
	assert_reply 'after the flood\n'
}

# A flood client: $3 sessions, $2 at a time, to 127.0.0.1:$1; thread i
# connects from 127.0.i.1, so that each source holds one connection and only
# --max-connections, not the per-source or per-/24 limits, meets the flood.
# Each session sends a line, reads its echo, holds the connection $4 seconds,
# closes its side and expects EOF with no more byte. Prints
# "conns=N intact=M" and exits 1 unless every session was intact.
flood() {
	timeout 180 python3 - "$@" <<'EOF'
import socket, sys, threading, time
port, c, n, hold = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
line = b"The quick brown fox jumps over the lazy dog\n"
lock = threading.Lock()
left = [n]
intact = [0]
bad = []
def session(src):
    s = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(src, 0))
    try:
        s.sendall(line)
        got = b""
        while len(got) < len(line):
            b = s.recv(len(line) - len(got))
            if not b:
                break
            got += b
        time.sleep(hold)
        s.shutdown(socket.SHUT_WR)
        rest = s.recv(1)
        return got == line and rest == b"", got + rest
    finally:
        s.close()
def worker(i):
    src = "127.0.%d.1" % i
    while True:
        with lock:
            if left[0] == 0:
                return
            left[0] -= 1
        try:
            ok, got = session(src)
        except OSError as e:
            ok, got = False, repr(e).encode()
        with lock:
            if ok:
                intact[0] += 1
            elif len(bad) < 5:
                bad.append((src, got))
ts = [threading.Thread(target=worker, args=(i,)) for i in range(c)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("conns=%d intact=%d" % (n, intact[0]))
for b in bad:
    print("bad:", b)
sys.exit(0 if intact[0] == n else 1)
EOF
}

@test "Accept=no under the same flood: never more children than MaxConnections, every echo intact, the listener answers after" {
	local s max cmd most
	s=$(unit inetkit-echo.socket)
	max=$(unit_value "$s" MaxConnections)
	[[ $max =~ ^[1-9][0-9]*$ ]] || fail "MaxConnections=$max"
	[ "$max" -lt 100 ] || fail "the flood (100 at a time) must exceed MaxConnections=$max"
	cmd=$(exec_start "$(unit inetkit-echo-listen.service)") || fail "cannot run inetkit-echo-listen.service"
	mapfile -t CMD <<<"$cmd"
	activate listen "${CMD[@]}" --max-connections "$max"
	# Sample the listener's children every 5 ms while the flood runs.
	: >"$BATS_TEST_TMPDIR/samples"
	(
		while [ -e "/proc/$SPID" ]; do
			wc -w <"/proc/$SPID/task/$SPID/children" 2>/dev/null
			sleep 0.005
		done
	) >>"$BATS_TEST_TMPDIR/samples" &
	SAMPLER=$!
	# Each session held 50 ms: 100 clients at a time must meet the limit.
	run flood "$PORT" 100 3000 0.05
	kill "$SAMPLER"
	wait "$SAMPLER" 2>/dev/null || true
	SAMPLER=
	assert_success
	assert_output "conns=3000 intact=3000"
	most=$(sort -n "$BATS_TEST_TMPDIR/samples" | tail -n 1)
	echo "# Accept=no flood: at most $most children (limit $max), $(wc -l <"$BATS_TEST_TMPDIR/samples") samples" >&3
	[ "$most" -le "$max" ] || fail "$most children, over --max-connections $max"
	# The flood did reach the limit, so the limit is what held it.
	[ "$most" -eq "$max" ] || fail "at most $most children: the flood never reached the limit $max"
	# Afterwards: the same listener answers, all children reaped.
	alive "$SPID" "the accept loop"
	say "$PORT" 'after the flood\n'
	assert_reply 'after the flood\n'
	wait_until 10 "children left" eval '[ "$(wc -w <"/proc/$SPID/task/$SPID/children")" -eq 0 ]' ||
		fail "children left: $(cat "/proc/$SPID/task/$SPID/children")"
}
