# Helpers for the suites that run what make install install-units puts in
# place the way each activator runs it (deploy, tls-units): the installed
# units' ExecStart= as a command (exec_start) and under
# systemd-socket-activate as their sockets say (serve_unit), the installed
# xinetd entries under a real xinetd (xinetd_installed) and who serves their
# sessions (session_ids, assert_served_as, busy_session), and the replies
# (assert_reply, assert_cmdserver_session). A suite installs into $DEST (the
# DESTDIR) and keeps its fixtures in $FIX; what differs between the suites
# (which ${VAR} of an ExecStart= stand for what, which files of SYSCONFDIR
# the fixtures stand for, how an entry is enabled, TLS) is a parameter, or a
# function the suite defines (xinetd_enable, xinetd_fixtures). Load after
# helpers, activation_helpers (unitdir, le) and cmdserver_helpers (WELCOME):
#   load helpers
#   load activation_helpers
#   load cmdserver_helpers
#   load deploy_helpers

# The default paths of make install (Makefile PREFIX, LIBEXECDIR, SYSCONFDIR).
PKGDIR=/usr/local/libexec/inetkit
SYSCONF=/etc
# The TLS units and entries (tls in front of echo and cmdserver) make
# install-units ships: tests/tls-units.bats runs each of them, with a
# certificate and a TLS client; tests/deploy.bats counts them as installed.
TLS_SERVICE_UNITS="inetkit-tls-cmdserver-listen.service inetkit-tls-cmdserver@.service
inetkit-tls-echo-listen.service inetkit-tls-echo@.service"
TLS_XINETD_ENTRIES="inetkit-tls-cmdserver inetkit-tls-echo"
# A ctime(3) date, as cmdserver's date command sends it.
CTIME='[A-Z][a-z]{2} [A-Z][a-z]{2} [ 123][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}'

# The installed unit file $1.
unit() {
	echo "$DEST$(unitdir)/$1"
}

# The value of attribute $2 in xinetd entry $1 (the one line "NAME = VALUE").
entry_value() {
	local v
	v=$(sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1")
	[ -n "$v" ] && [ "$(printf '%s\n' "$v" | wc -l)" = 1 ] ||
		{ echo "${1##*/}: not exactly one $2 line" >&2; return 1; }
	printf '%s\n' "$v"
}

# --- the units under systemd-socket-activate --------------------------------------

# exec_start UNIT [FROM TO]...: prints, one a line, the words of the one
# ExecStart= of installed unit file UNIT as systemd would run them here: each
# string FROM (such as '${RUNTIME_DIRECTORY}', or a file in SYSCONFDIR)
# replaced by TO, pair after pair, and the programs the ones installed under
# $DEST. Fails for what plain word splitting does not parse as systemd
# does, for a $ left (a variable the suite does not provide), and unless the
# first word is an installed program.
exec_start() {
	local u=$1 line w out=()
	shift
	[ "$(grep -c '^ExecStart=' "$u")" = 1 ] || { echo "$u: not exactly one ExecStart=" >&2; return 1; }
	line=$(sed -n 's/^ExecStart=//p' "$u")
	# Only what plain word splitting parses as systemd does: no prefix
	# (@ - + ! :), no quoting, escape or specifier.
	case $line in
	[-@+!:]* | *[\"\'\\%]*)
		echo "$u: ExecStart= needs systemd's own parser: $line" >&2
		return 1 ;;
	esac
	while [ $# -ge 2 ]; do
		line=${line//"$1"/"$2"}
		shift 2
	done
	[ $# -eq 0 ] || { echo "exec_start: $1 has no replacement" >&2; return 1; }
	case $line in
	*'$'*) echo "$u: a variable this test does not provide: $line" >&2; return 1 ;;
	esac
	read -ra w <<<"$line"
	for line in "${w[@]}"; do
		case $line in
		"$PKGDIR"/*) out+=("$DEST$line") ;;
		*) out+=("$line") ;;
		esac
	done
	[ -x "${out[0]}" ] || { echo "$u: ${out[0]} is not an installed program" >&2; return 1; }
	printf '%s\n' "${out[@]}"
}

# serve_unit UNIT [--sub FROM TO]... [-E VAR=VALUE]... [-- ARG...]: runs the
# installed service UNIT's ExecStart= (exec_start with each FROM TO, then
# ARG... appended) through systemd-socket-activate on a free loopback port,
# as its socket would: an @ unit (Accept=yes) gets one process per
# connection with the connection on fd 0 and 1 (--inetd -a), a -listen unit
# (Accept=no) the listening socket (no -a), a -udp unit its datagram socket
# (--datagram, a free UDP port; the activator execs the service at the
# first datagram); first checks that the socket unit says so. -E passes VAR=VALUE to the service; ACTIVATE_WRAP, if set,
# is honoured as activate does. Sets PORT, SPID, CMD (the command's words).
serve_unit() {
	local u=$1 sock mode cmd subs=() envs=()
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--sub) subs+=("$2" "$3"); shift 3 ;;
		-E) envs+=(-E "$2"); shift 2 ;;
		--) shift; break ;;
		*) fail "serve_unit: $1 is no option" ;;
		esac
	done
	case $u in
	*@.service) sock=$(unit "${u%@.service}.socket") mode=inetd ;;
	*-listen.service) sock=$(unit "${u%.service}.socket") mode=listen ;;
	*-udp.service) sock=$(unit "${u%.service}.socket") mode=dgram ;;
	*) fail "no socket style for $u" ;;
	esac
	# A datagram socket (ListenDatagram=) is passed as it is: Accept=no.
	[ "$mode" != dgram ] || grep -q '^ListenDatagram=' "$sock" || fail "$sock: no ListenDatagram="
	# The socket unit that hands this service its connections says so.
	if [ "$mode" = inetd ]; then
		run grep -x 'Accept=yes' "$sock"
	else
		run grep -x 'Accept=no' "$sock"
	fi
	assert_success
	cmd=$(exec_start "$(unit "$u")" "${subs[@]}") || fail "cannot run $u"
	mapfile -t CMD <<<"$cmd"
	activate "$mode" "${envs[@]}" "${CMD[@]}" "$@"
}

# --- replies ---------------------------------------------------------------------

# A suite's client (say, tls_say...) leaves the reply in $REPLY_FILE.
REPLY_FILE=

# The reply is exactly printf FORMAT.
assert_reply() {
	local got want
	got=$(hex "$REPLY_FILE") want=$(hexf "$1")
	[ "$got" = "$want" ] || fail "reply $(od -An -c "$REPLY_FILE" | tr -s ' \n' ' ')
expected $(printf -- "$1" | od -An -c | tr -s ' \n' ' ')"
}

# cmdserver's reply to a login, date and quit: the welcome, one ctime line,
# nothing else (three lines). Where the suite sets CMDSERVER_CLOCK=yes, also
# that the reply ends with its newline and that the date is this machine's
# (at most 2 s ahead of it, 5 s behind).
assert_cmdserver_session() {
	local date
	run sed -n 1,2p "$REPLY_FILE"
	assert_output "$(printf "Login: Password: $WELCOME")"
	[ "$(wc -l <"$REPLY_FILE")" = 3 ] || fail "not three lines: $(cat "$REPLY_FILE")"
	[ "${CMDSERVER_CLOCK:-}" != yes ] ||
		[ "$(tail -c 1 "$REPLY_FILE" | od -An -c | tr -d ' ')" = '\n' ] ||
		fail "not three lines: $(cat "$REPLY_FILE")"
	date=$(sed -n 3p "$REPLY_FILE")
	[[ $date =~ ^$CTIME$ ]] || fail "date sent '$date'"
	[ "${CMDSERVER_CLOCK:-}" != yes ] ||
		{ [ $(( $(date -d "$date" +%s) - $(date +%s) )) -le 2 ] &&
		  [ $(( $(date +%s) - $(date -d "$date" +%s) )) -le 5 ]; } ||
		fail "date sent $date, now is $(date)"
}

# --- the xinetd entries under a real xinetd ----------------------------------------

# xinetd_installed NAME: runs the installed xinetd entry NAME (a name in
# $DEST/etc/xinetd.d) in a real xinetd in the foreground: enabled by the
# suite's xinetd_enable FILE (which edits the entry's copy FILE in place),
# on a free port (a UDP one for a datagram entry), its programs those under
# $DEST, its files in SYSCONFDIR the suite's fixtures (xinetd_fixtures FILE,
# likewise), its state directory a fresh one of its user's, as make
# install-users makes it; every other line
# (its own user, its limits, its session bound) as installed, unless
# XINETD_EDIT, a sed expression, says otherwise (it must change the entry).
# First checks that the entry's user can execute the installed program.
# Sets PORT, XINETD_LOG (the services' log), XINETD_OWN (xinetd's own) and
# XINETD_PID.
xinetd_installed() {
	local name=$1 dir f user prog state proto
	user=$(entry_value "$DEST/etc/xinetd.d/$name" user)
	prog=$(entry_value "$DEST/etc/xinetd.d/$name" server)
	runuser -u "$user" -- test -x "$DEST$prog" ||
		fail "$name: its user $user cannot execute $DEST$prog"
	proto=$(entry_proto "$DEST/etc/xinetd.d/$name")
	# A free port can be taken by another process before xinetd binds it:
	# then xinetd deactivates the service, and a new port is tried.
	for _ in 1 2 3 4 5; do
		dir=$(mktemp -d "$BATS_TEST_TMPDIR/xinetd.XXXXXX")
		mkdir "$dir/xinetd.d"
		f=$dir/xinetd.d/$name
		cp "$DEST/etc/xinetd.d/$name" "$f"
		xinetd_enable "$f" || fail "$name: cannot enable it"
		if [ "$proto" = u ]; then PORT=$(free_port 4 udp); else PORT=$(free_port); fi
		# A state directory of its own: a penalty one test earns must not
		# refuse the next test's client.
		state=$(mktemp -d "$DEST/state.XXXXXX")
		chmod 755 "$state"
		install -d -m 700 -o "$user" -g "$user" "$state/s"
		sed -i -e "s|^\([[:space:]]*port[[:space:]]*=[[:space:]]*\).*|\1$PORT|" \
		    -e "s|--state-dir /var/lib/$user |--state-dir $state/s |g" \
		    -e "s|$PKGDIR/|$DEST$PKGDIR/|g" "$f"
		xinetd_fixtures "$f" || fail "$name: cannot put the fixtures in"
		if [ -n "${XINETD_EDIT:-}" ]; then
			cp "$f" "$dir/before-edit"
			sed -i -e "$XINETD_EDIT" "$f"
			! cmp -s "$dir/before-edit" "$f" ||
				fail "$name: XINETD_EDIT '$XINETD_EDIT' changed nothing"
			rm "$dir/before-edit"
		fi
		chmod -R a+rX "$dir"
		XINETD_LOG=$dir/xinetd.log XINETD_OWN=$dir/xinetd.own
		: >"$XINETD_LOG"
		: >"$XINETD_OWN"
		printf 'defaults\n{\n\tlog_type = FILE %s\n}\nincludedir %s\n' \
		    "$XINETD_LOG" "$dir/xinetd.d" >"$dir/xinetd.conf"
		bg timeout 60 xinetd -dontfork -filelog "$XINETD_OWN" -f "$dir/xinetd.conf" \
		    -pidfile "$dir/xinetd.pid" 2>>"$dir/xinetd.stderr"
		wait_log -F "$XINETD_OWN" "Started working: " 30 || { cat "$XINETD_OWN" >&2; return 1; }
		grep -q 'bind failed (Address already in use' "$XINETD_OWN" || break
		kill_bg
	done
	grep -q "Started working: 1 available service" "$XINETD_OWN" &&
		LISTEN_PROTO=$proto wait_listen "$PORT" || { cat "$XINETD_OWN" >&2; return 1; }
	XINETD_PID=$(cat "$dir/xinetd.pid")
	[ -d "/proc/$XINETD_PID" ] || fail "xinetd's pid file names no process: $XINETD_PID"
	# xinetd took the entry without a complaint.
	run grep -E 'ERROR|WARNING' "$XINETD_OWN"
	assert_failure 1
	assert_output ""
}

# session_ids [--tls] SEND EXPECT [WHO...]: opens a session to the xinetd on
# 127.0.0.1:$PORT (with --tls, over TLS, verifying the certificate against
# $CA and the name localhost), sends printf SEND, reads until the reply holds
# EXPECT and then, the session still open, prints for the one process
# xinetd ($XINETD_PID) runs for it, and for that process's one child and so
# on, one process for each WHO, "WHO exe=PATH" and the Uid:, Gid: and
# Groups: lines of its /proc/PID/status, each after "WHO " (no WHO: the one
# process xinetd runs, its lines as they are).
session_ids() {
	local ca=
	if [ "$1" = --tls ]; then
		ca=$CA
		shift
	fi
	# Each printf'd with an x after it, which $(...) keeps its newlines before.
	# shellcheck disable=SC2059
	timeout 30 python3 - "$PORT" "$XINETD_PID" "$ca" "$(printf -- "$1"; echo x)" \
	    "$(printf -- "$2"; echo x)" "${@:3}" <<'EOF'
import os, socket, ssl, sys
port, xpid, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
send, expect = sys.argv[4][:-1].encode(), sys.argv[5][:-1].encode()
s = socket.create_connection(("127.0.0.1", port), timeout=10)
if ca:
    s = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="localhost")
s.sendall(send)
got = b""
while expect not in got:
    b = s.recv(4096)
    if not b:
        sys.exit("EOF before %r; got %r" % (expect, got))
    got += b
parent = xpid
for who in sys.argv[6:] or [""]:
    kids = open("/proc/%s/task/%s/children" % (parent, parent)).read().split()
    if len(kids) != 1:
        sys.exit("%s runs %d processes, not 1: %r" % ("xinetd" if parent == xpid else parent, len(kids), kids))
    parent = kids[0]
    pre = who + " " if who else ""
    print(pre + "exe=" + os.readlink("/proc/%s/exe" % parent))
    for l in open("/proc/%s/status" % parent):
        if l.split(":")[0] in ("Uid", "Gid", "Groups"):
            print(pre + l.rstrip())
s.close()
EOF
}

# assert_served_as [--tls] USER PROGRAM SEND EXPECT: the process serving a
# session (session_ids SEND EXPECT) is the installed PROGRAM, running as USER
# and its group (real, effective, saved and file-system ids alike), with no
# supplementary group, and USER is not nobody. With --tls, the session is
# over TLS and served by the installed tls and, as its child, PROGRAM, both so.
assert_served_as() {
	local tls= user uid gid who pre=()
	if [ "$1" = --tls ]; then
		tls=yes
		shift
	fi
	user=$1
	uid=$(id -u "$user") gid=$(getent group "$user" | cut -d: -f3)
	[ -n "$gid" ] || fail "no group $user"
	[ "$uid" != "$(id -u nobody)" ] || fail "$user is nobody"
	if [ -n "$tls" ]; then
		run session_ids --tls "$3" "$4" tls program
		assert_success
		assert_line "tls exe=$DEST$PKGDIR/tls"
		assert_line "program exe=$DEST$PKGDIR/$2"
		pre=("tls " "program ")
	else
		run session_ids "$3" "$4"
		assert_success
		assert_line "exe=$DEST$PKGDIR/$2"
		pre=("")
	fi
	for who in "${pre[@]}"; do
		assert_line "${who}Uid:	$uid	$uid	$uid	$uid"
		assert_line "${who}Gid:	$gid	$gid	$gid	$gid"
		assert_line --regexp "^${who}Groups:[[:space:]]*\$"
	done
}

# busy_session [--tls] LOGIN [LINE]: a session to 127.0.0.1:$PORT (with
# --tls, over TLS, verifying $CA) that is never idle: it sends printf LOGIN
# (may be empty), then LINE ("date\n") every 0.2 s for up to 10 s, reading
# what comes back. Prints "eof after SECS s, REPLIES replies" when the
# server closes, or "still open after 10 s".
busy_session() {
	local ca= line='date\n'
	if [ "$1" = --tls ]; then
		ca=$CA
		shift
	fi
	[ -z "${2:-}" ] || line=$2
	# shellcheck disable=SC2059
	timeout 30 python3 - "$PORT" "$ca" "$(printf -- "$1"; echo x)" "$(printf -- "$line"; echo x)" <<'EOF'
import select, socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
login, line = sys.argv[3][:-1].encode(), sys.argv[4][:-1].encode()
t0 = time.monotonic()
s = socket.create_connection(("127.0.0.1", port), timeout=10)
if ca:
    s = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="localhost")
if login:
    s.sendall(login)
n = 0
nxt = t0
while time.monotonic() - t0 < 10:
    now = time.monotonic()
    if now >= nxt:
        try:
            s.sendall(line)
        except OSError:
            break
        nxt = now + 0.2
    r, _, _ = select.select([s], [], [], max(0.0, nxt - time.monotonic()))
    # A TLS socket may hold decrypted bytes that select does not see.
    if r or (ca and s.pending()):
        try:
            b = s.recv(4096)
        except OSError:
            b = b""
        if not b:
            print("eof after %.1f s, %d replies" % (time.monotonic() - t0, n))
            sys.exit(0)
        n += b.count(b"\n")
print("still open after 10 s")
EOF
}
