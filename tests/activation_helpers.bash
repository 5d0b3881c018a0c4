# Helpers for the suites about deployment (activation, units, blockip-units,
# deploy, cmdserver's xinetd case): make install into a DESTDIR
# (install_tree, install_units_for_verify), the units' figures
# (exposure_of, assert_exposure), the xinetd entries' users and a real
# xinetd (install_users, stage_programs, start_xinetd), and log catchers on
# /dev/log or the journal socket. systemd-socket-activate is started by
# activate, in helpers.bash. Load after helpers:
#   load helpers
#   load activation_helpers

# make's own build variables for the build under test (BUILD=build/san is SANITIZE=1).
make_vars() {
	echo "BUILD=$BUILD"
	case $BUILD in
	*/san) echo SANITIZE=1 ;;
	esac
}

# Installs programs, man pages, units and xinetd entries as `make install
# install-units` does, under $1 (a DESTDIR) with the default paths.
install_tree() {
	local dest=$1
	# shellcheck disable=SC2046
	make -s -C "$TOP" $(make_vars) install install-units DESTDIR="$dest" >/dev/null 2>&1 ||
		make -C "$TOP" $(make_vars) install install-units DESTDIR="$dest" >&2
}

# Generates the units again under $2, with ExecStart= pointing at the
# programs installed under the DESTDIR $1, so systemd-analyze verify, which
# checks that ExecStart= is executable on this machine, sees them.
install_units_for_verify() {
	local dest=$1 out=$2
	# shellcheck disable=SC2046
	make -s -C "$TOP" $(make_vars) install-units DESTDIR="$out" \
	    LIBEXECDIR="$dest/usr/local/libexec" >/dev/null
}

unitdir() {
	local d
	d=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null) || d=/lib/systemd/system
	echo "${d:-/lib/systemd/system}"
}

# The "Overall exposure level" figure of systemd-analyze security output on stdin.
exposure_of() {
	sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}

# le A B: true if the decimal number A is at most B.
le() {
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'
}

# A datagram catcher on the UNIX socket path $1, appending what it receives
# to the file $2; world-writable, since xinetd runs the programs as nobody.
# Remembers the path so that remove_catchers removes it again.
start_catcher() {
	local path=$1 out=$2
	: >"$out"
	(umask 0; exec socat -u "UNIX-RECV:$path" "OPEN:$out,creat,append") &
	BG_PIDS="${BG_PIDS:-} $!"
	CATCHERS="${CATCHERS:-} $path"
	wait_until 5 "$path never appeared" test -S "$path"
}

# catch_journal FILE: start_catcher on the journal's native socket, appending
# the records it receives to FILE; skips the test when the path is taken (a
# running journald's, not to be replaced).
catch_journal() {
	local j=/run/systemd/journal/socket
	[ ! -e "$j" ] || skip "$j belongs to a running journald; not replacing it"
	make_dirs /run/systemd/journal
	start_catcher "$j" "$1"
}

# Removes the socket paths made by start_catcher (after kill_bg) and the
# directories listed in MADE_DIRS, deepest first.
remove_catchers() {
	local p
	for p in ${CATCHERS:-}; do
		rm -f "$p"
	done
	CATCHERS=
	for p in ${MADE_DIRS:-}; do
		rmdir "$p" 2>/dev/null || true
	done
	MADE_DIRS=
}

# Makes directory $1 and its missing parents, remembering the ones it made
# (deepest first) in MADE_DIRS.
make_dirs() {
	local d=$1 made=
	while [ ! -d "$d" ]; do
		made="$made $d"
		d=$(dirname "$d")
	done
	mkdir -p "$1"
	MADE_DIRS="$made ${MADE_DIRS:-}"
}

# Creates the xinetd entries' users (make install-users: idempotent, and it
# changes nothing when they exist). They are left in place afterwards: a
# suite running at the same time may be using them.
install_users() {
	# shellcheck disable=SC2046
	make -s -C "$TOP" $(make_vars) install-users >/dev/null ||
		{ echo "make install-users failed" >&2; return 1; }
}

# True if every user can reach path $1: each directory on the way searchable
# by others (o+x), the last component too if it is a directory, and readable
# by others if it is a file. A checkout in root's 0700 home is not.
world_reachable() {
	local p d
	p=$(readlink -f -- "$1") || return 1
	[ -e "$p" ] || return 1
	if [ -d "$p" ]; then d=$p; else d=$(dirname "$p"); fi
	while :; do
		[ "$(( 0$(stat -c %a "$d") & 1 ))" = 1 ] || { echo "$d is not searchable by others" >&2; return 1; }
		[ "$d" != / ] || break
		d=$(dirname "$d")
	done
	[ -d "$p" ] || [ "$(( 0$(stat -c %a "$p") & 4 ))" = 4 ] || { echo "$p is not readable by others" >&2; return 1; }
}

# Copies the built programs ($BIN/*, executables only) into a new staging
# directory outside the checkout that every user can reach, and sets STAGE to
# it: xinetd runs them as a service user, who may not reach the checkout
# (cloned into root's 0700 home, say). The directory is 0755 under /tmp (or
# /var/tmp), each directory on its path checked; the checkout's own
# permissions are never touched. A keeper process in BG_PIDS removes it when
# kill_bg (teardown) stops it, or after 10 minutes.
stage_programs() {
	local base p
	STAGE=
	for base in /tmp /var/tmp; do
		world_reachable "$base" 2>/dev/null || continue
		STAGE=$(mktemp -d "$base/inetkit-stage.XXXXXX") && break
	done
	[ -n "$STAGE" ] || { echo "no world-reachable /tmp or /var/tmp to stage in" >&2; return 1; }
	chmod 755 "$STAGE"
	# fd 3 closed: bats waits for whatever holds it.
	bash -c 'trap '\''kill "$s" 2>/dev/null; rm -rf -- "$0"; exit 0'\'' TERM
	    sleep 600 & s=$!; wait "$s"; rm -rf -- "$0"' "$STAGE" </dev/null >/dev/null 2>&1 3>&- &
	BG_PIDS="${BG_PIDS:-} $!"
	for p in "$BIN"/*; do
		[ -f "$p" ] && [ -x "$p" ] || continue
		install -m 755 "$p" "$STAGE/${p##*/}"
	done
	world_reachable "$STAGE" || return 1
}

# The ss(8) letter of the sockets xinetd entry $1 makes: u for a datagram
# (UDP) service, t for a stream one.
entry_proto() {
	if grep -Eq '^[[:space:]]*socket_type[[:space:]]*=[[:space:]]*dgram[[:space:]]*$' "$1"; then
		echo u
	else
		echo t
	fi
}

# Starts xinetd in the foreground on a private configuration holding the
# generated entry $1 (a file), enabled, on a free port, with server set to
# the built program and the rest of the arguments appended to server_args
# (so the entry's own, such as its session bound, stay). The programs run
# from a staging copy (stage_programs), as the entry's user, whom the
# function creates (install_users) if missing and checks can execute them;
# an argument naming a built program ($BIN/...) names its staged copy.
# Sets PORT (a UDP one for a datagram entry), STAGE, XINETD_LOG (the
# services' log) and XINETD_OWN (xinetd's own messages).
start_xinetd() {
	local entry=$1 prog dir user a args=() own proto
	shift
	dir=$(mktemp -d "$BATS_TEST_TMPDIR/xinetd.XXXXXX")
	proto=$(entry_proto "$entry")
	if [ "$proto" = u ]; then PORT=$(free_port 4 udp); else PORT=$(free_port); fi
	prog=$(sed -n 's|^[[:space:]]*server[[:space:]]*=[[:space:]]*.*/\([^/]*\)$|\1|p' "$entry")
	user=$(sed -n 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*\([^[:space:]]*\).*/\1/p' "$entry")
	own=$(sed -n 's/^[[:space:]]*server_args[[:space:]]*=[[:space:]]*//p' "$entry")
	getent passwd "$user" >/dev/null || install_users || return 1
	stage_programs || return 1
	runuser -u "$user" -- test -x "$STAGE/$prog" ||
		{ echo "$user cannot execute the staged $STAGE/$prog" >&2; return 1; }
	# A state directory of its own, as make install-users makes it: a penalty
	# one test earns must not refuse the next test's client.
	install -d -m 700 -o "$user" -g "$user" "$STAGE/state"
	own=${own/--state-dir \/var\/lib\/$user /--state-dir $STAGE/state }
	for a in "$@"; do
		case $a in
		"$BIN"/*) args+=("$STAGE/${a#"$BIN"/}") ;;
		*) args+=("$a") ;;
		esac
	done
	mkdir -p "$dir/xinetd.d"
	XINETD_LOG=$dir/xinetd.log XINETD_OWN=$dir/xinetd.own
	: >"$XINETD_LOG"
	: >"$XINETD_OWN"
	{
		sed -e 's/^\([[:space:]]*disable[[:space:]]*=[[:space:]]*\)yes/\1no/' \
		    -e "s|^\([[:space:]]*port[[:space:]]*=[[:space:]]*\).*|\1$PORT|" \
		    -e "s|^\([[:space:]]*server[[:space:]]*=[[:space:]]*\).*|\1$STAGE/$prog|" \
		    -e '/^[[:space:]]*server_args[[:space:]]*=/d' \
		    -e '/^[[:space:]]*}/d' "$entry"
		[ ${#args[@]} -eq 0 ] || own="${own:+$own }${args[*]}"
		[ -z "$own" ] || printf '\tserver_args\t= %s\n' "$own"
		echo "}"
	} >"$dir/xinetd.d/${entry##*/}"
	printf 'defaults\n{\n\tlog_type = FILE %s\n}\nincludedir %s\n' \
	    "$XINETD_LOG" "$dir/xinetd.d" >"$dir/xinetd.conf"
	bg timeout 60 xinetd -dontfork -filelog "$XINETD_OWN" -f "$dir/xinetd.conf" \
	    -pidfile "$dir/xinetd.pid" 2>>"$dir/xinetd.stderr"
	# No probe connection: it would be a session of its own, with its own
	# EXIT record in the log the tests read.
	wait_log -F "$XINETD_OWN" "Started working" 10 &&
		LISTEN_PROTO=$proto wait_listen "$PORT" || { cat "$XINETD_OWN" >&2; return 1; }
}

# Asserts systemd-analyze security rates unit file $1 at exposure $2 or less,
# and reports the figure on fd 3.
assert_exposure() {
	local e
	run timeout 60 systemd-analyze security --offline=true --no-pager "$1"
	assert_success
	e=$(printf '%s\n' "$output" | exposure_of)
	[ -n "$e" ] || fail "no overall exposure level in: $output"
	echo "# ${1##*/}: exposure $e" >&3
	le "$e" "$2" || fail "${1##*/}: exposure $e > $2"
}
