#!/usr/bin/env bats
# The daemon duties (common/daemon.c, Net::Server's user, group, chroot,
# pid_file, background, setsid), in the stand-alone accept loop (--listen)
# and, for the chroot and the privilege drop, in a process per connection.
# What the processes are is read where the kernel keeps it: the Uid, Gid,
# Groups and NoNewPrivs lines of /proc/PID/status, /proc/PID/root and
# /proc/PID/fd. A user and a supplementary group of the suite's own are
# made in setup_file and removed in teardown_file. Loopback only.

load helpers
bats_require_minimum_version 1.5.0

TUSER=inetkit-dtest
XGROUP=inetkit-dtest-x

setup_file() {
	getent group "$XGROUP" >/dev/null || groupadd --system "$XGROUP"
	getent passwd "$TUSER" >/dev/null ||
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
		    --user-group "$TUSER"
	usermod -a -G "$XGROUP" "$TUSER"
	# Reachable by every user (mktemp makes 0700, and the checkout may be a
	# 0700 home): the chroot and the copies of the programs another user runs.
	export D
	D=$(mktemp -d /tmp/inetkit-daemon.XXXXXX)
	chmod 755 "$D"
	mkdir -m 755 "$D/bin" "$D/run"
	install -m 755 "$BIN/echo" "$BIN/blockip" "$D/bin/"
}

teardown_file() {
	userdel "$TUSER" 2>/dev/null || true
	groupdel "$TUSER" 2>/dev/null || true
	groupdel "$XGROUP" 2>/dev/null || true
	rm -rf "$D"
}

setup() {
	LOG=$BATS_TEST_TMPDIR/server.log
	PIDF=$D/run/test.pid
	TUID=$(id -u "$TUSER")
	TGID=$(id -g "$TUSER")
	XGID=$(getent group "$XGROUP" | cut -d: -f3)
	DAEMONS=
	rm -f "$PIDF"
}

teardown() {
	local p
	for p in $DAEMONS; do
		kill "$p" 2>/dev/null || true
	done
	kill_bg
	for p in $DAEMONS; do
		wait_until 10 "daemon $p never ended" not kill -0 "$p" || true
	done
	rm -rf "${CHROOT:-/nonexistent}"
}

# serve PROG [ARG...]: PROG --listen 127.0.0.1:PORT --log $LOG --log-level 4
# ARG... in the background; sets PORT and SPID, once it listens.
serve() {
	local prog=$1
	shift
	PORT=$(free_port)
	bg "$prog" --listen "127.0.0.1:$PORT" --log "$LOG" --log-level 4 "$@"
	SPID=${BG_PIDS##* }
	wait_listen "$PORT" "$SPID" || { cat "$LOG" >&2; return 1; }
}

# start PROG [ARG...]: the same in the foreground, for a start that fails
# (timeout 10): status and output (its log, on stderr) as run sets them.
start() {
	local prog=$1
	shift
	run timeout 10 "$prog" --listen "127.0.0.1:$(free_port)" --log stderr "$@"
}

# Holds an idle connection to port $1 for up to 30 s.
hold() {
	socat "TCP:127.0.0.1:$1" "EXEC:sleep 30" 2>/dev/null &
	BG_PIDS="${BG_PIDS:-} $!"
}

# The accept loop's child that serves a connection (not the pid file's keeper).
conn_child() {
	local c
	for c in $(cat "/proc/$SPID/task/$SPID/children" 2>/dev/null); do
		[ "$(cat "/proc/$c/comm" 2>/dev/null)" = inetkit-pidfile ] || { echo "$c"; return 0; }
	done
	return 1
}

has_conn_child() {
	conn_child >/dev/null
}

# Holds a connection to the accept loop on $PORT; CHILD: the child serving it.
hold_child() {
	hold "$PORT"
	wait_until 10 "no child serves the connection" has_conn_child
	CHILD=$(conn_child)
}

# PROG [ARG...] under the activator, one process a connection (inetd), with
# one connection held; CHILD: its process.
hold_inetd() {
	activate inetd "$@" --log "$LOG" --log-level 4
	hold "$PORT"
	CHILD=$(child_pid 1)
}

# The accept loop's keeper of the pid file, if any.
keeper_of() {
	local c
	for c in $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
		[ "$(cat "/proc/$c/comm" 2>/dev/null)" != inetkit-pidfile ] || { echo "$c"; return 0; }
	done
	return 1
}

# status_field PID NAME: the values of NAME: in /proc/PID/status, one space apart.
status_field() {
	sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" | tr -s ' \t' '  ' | sed 's/ *$//'
}

# The supplementary groups of PID, sorted, one space apart.
groups_of() {
	status_field "$1" Groups | tr ' ' '\n' | sort -n | xargs
}

# Asserts PID runs as uid $2 and gid $3 (real, effective, saved, fs), with
# the groups $4 (sorted) and no new privileges.
assert_ids() {
	assert_equal "$(status_field "$1" Uid)" "$2 $2 $2 $2"
	assert_equal "$(status_field "$1" Gid)" "$3 $3 $3 $3"
	assert_equal "$(groups_of "$1")" "$4"
	assert_equal "$(status_field "$1" NoNewPrivs)" 1
}

sorted() {
	printf '%s\n' "$@" | sort -n | xargs
}

# Until $PIDF holds pid $1.
wait_pidfile() {
	local want=$1
	# shellcheck disable=SC2016
	wait_until 5 "$PIDF never held $want" eval '[ "$(cat "$PIDF")" = "$want" ]' ||
		{ cat "$PIDF" >&2; return 1; }
}

# echo ARG... --pid-file $PIDF, until it accepts (every step taken).
serve_with_pid_file() {
	serve "$BIN/echo" "$@" --pid-file "$PIDF"
	wait_pidfile "$SPID"
	wait_log -F "$LOG" "accepting on 1 socket"
}

# Sends the server signal $1; it ends, and then its pid file is gone.
stopped_and_removed() {
	kill "-$1" "$SPID"
	wait_until 10 "the server never ended" not kill -0 "$SPID"
	wait_until 5 "$PIDF was not removed" not test -e "$PIDF"
}

has_keeper() {
	keeper_of "$1" >/dev/null
}

# DPID: the pid --background left in $PIDF, remembered for teardown. (A
# detached server is started with 3>&-: bats waits for whoever holds fd 3.)
daemon_pid() {
	wait_file "$PIDF" || return 1
	DPID=$(cat "$PIDF")
	DAEMONS="$DAEMONS $DPID"
}

# --- the privilege drop ------------------------------------------------------------

@test "--user: the listener and the child serving a connection run as the user, with its groups, no new privileges" {
	serve "$BIN/echo" --user "$TUSER"
	run talk "$PORT" <<<"as $TUSER"
	assert_output "as $TUSER"
	hold_child
	assert_ids "$CHILD" "$TUID" "$TGID" "$(sorted "$TGID" "$XGID")"
	assert_ids "$SPID" "$TUID" "$TGID" "$(sorted "$TGID" "$XGID")"
	wait_log -F "$LOG" "info: --user $TUSER: running as uid $TUID, gid $TGID, groups "
}

@test "--user in a dynamically linked program (cmdserver, through NSS): the same user and groups" {
	serve "$BIN/cmdserver" --user "$TUSER" --htpasswd /nonexistent
	hold_child
	assert_ids "$CHILD" "$TUID" "$TGID" "$(sorted "$TGID" "$XGID")"
	start "$BIN/cmdserver" --user no-such-user-here --htpasswd /nonexistent
	assert_failure 111
	assert_output --partial "fatal: --user no-such-user-here: no such user"
}

@test "--user by uid and --group by name: the group replaces the user's, with its supplementary groups" {
	serve "$BIN/echo" --user "$TUID" --group nogroup
	hold_child
	# initgroups(user, group): the group given, and every group naming the user.
	assert_ids "$CHILD" "$TUID" 65534 "$(sorted 65534 "$XGID")"
}

@test "--group alone, in a process per connection as root: only the group changes, and the log says so" {
	hold_inetd "$BIN/echo" --group "$XGROUP"
	wait_log -F "$LOG" "the user stays uid 0 (no --user)"
	assert_ids "$CHILD" 0 "$XGID" "$XGID"
}

@test "--user in a process per connection (inetd-style, as root): served as the user" {
	hold_inetd "$BIN/echo" --user "$TUSER"
	wait_log -F "$LOG" "running as uid $TUID"
	assert_ids "$CHILD" "$TUID" "$TGID" "$(sorted "$TGID" "$XGID")"
	run talk "$PORT" <<<"per connection"
	assert_output "per connection"
}

@test "not root: --user of the same user is a no-op; another user exits 111, naming the step" {
	run --separate-stderr bash -c 'printf "same\n" | setpriv --reuid=nobody --regid=nogroup \
	    --clear-groups "$1" --user nobody --group nogroup --log stderr --log-level 4' _ "$D/bin/echo"
	assert_success
	assert_output same
	[[ $stderr == *"debug: --user nobody: already uid 65534, gid 65534: nothing to change"* ]] ||
		fail "no no-op line: $stderr"
	run bash -c 'printf "x\n" | setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$1" --user root --log stderr 2>&1' _ "$D/bin/echo"
	assert_failure 111
	assert_output --partial "fatal: --user root: not root (uid 65534), so this process cannot become uid 0"
}

# --- root without --user ---------------------------------------------------------------

@test "the stand-alone accept loop started as root without --user refuses (111); --user root serves" {
	start "$BIN/echo"
	assert_failure 111
	assert_output --partial "fatal: --user: started as root, the accept loop on its own sockets does not serve as root unless told: use --user USER, or --user root to serve as root"
	serve "$BIN/echo" --user root
	run talk "$PORT" <<<"root, as told"
	assert_output "root, as told"
}

@test "handed sockets (systemd Accept=no) and a process per connection serve as root without --user" {
	activate listen "$BIN/echo" --log "$LOG"
	run talk "$PORT" <<<"Accept=no"
	assert_output "Accept=no"
	run bash -c 'printf "pipe\n" | "$1" --log stderr' _ "$BIN/echo"
	assert_success
	assert_output pipe
}

# --- the pid file ---------------------------------------------------------------------------

@test "--pid-file: our pid, mode 644; removed at exit after SIGTERM (no privilege change)" {
	serve_with_pid_file --user root
	assert_equal "$(stat -c '%U %a' "$PIDF")" "root 644"
	# No temporary file is left beside it.
	assert_equal "$(ls -A "$D/run")" test.pid
	stopped_and_removed TERM
}

@test "--pid-file with --user: removed at exit, from a directory the user cannot write; never chowned" {
	serve_with_pid_file --user "$TUSER"
	# The file and its directory stay root's: the user could not remove it.
	assert_equal "$(stat -c '%U %a' "$PIDF")" "root 644"
	assert_equal "$(stat -c '%U %a' "$D/run")" "root 755"
	assert_equal "$(status_field "$SPID" Uid)" "$TUID $TUID $TUID $TUID"
	stopped_and_removed TERM
}

@test "--pid-file with --user: removed even when the server is killed (SIGKILL)" {
	serve_with_pid_file --user "$TUSER"
	stopped_and_removed KILL
}

@test "--pid-file with --user: its keeper stays root, holds no listening socket, and ends with the server" {
	serve "$BIN/echo" --user "$TUSER" --pid-file "$PIDF"
	wait_log -F "$LOG" "accepting on 1 socket"
	local k
	wait_until 5 "no keeper" has_keeper "$SPID"
	k=$(keeper_of "$SPID")
	assert_equal "$(status_field "$k" Uid)" "0 0 0 0"
	assert_equal "$(listeners "$PORT" "$k")" 0
	assert_equal "$(readlink "/proc/$k/fd/0") $(readlink "/proc/$k/fd/1") $(readlink "/proc/$k/fd/2")" \
	    "/dev/null /dev/null /dev/null"
	kill -TERM "$SPID"
	wait_until 5 "the keeper never ended" not kill -0 "$k"
}

@test "--pid-file: a stale file is replaced (pid gone, pid of another program, no pid)" {
	local gone other
	sleep 0 &
	gone=$!
	wait "$gone"
	echo "$gone" >"$PIDF"
	serve "$BIN/echo" --user root --pid-file "$PIDF"
	wait_log -F "$LOG" "notice: --pid-file $PIDF: stale: pid $gone is gone; replaced"
	wait_pidfile "$SPID"
	kill_bg
	wait_until 5 "$PIDF was not removed" not test -e "$PIDF"

	sleep 30 &
	other=$!
	BG_PIDS="$BG_PIDS $other"
	echo "$other" >"$PIDF"
	: >"$LOG"
	serve "$BIN/echo" --user root --pid-file "$PIDF"
	wait_log -F "$LOG" "stale: pid $other is now another program's (sleep); replaced"
	wait_pidfile "$SPID"
	kill_bg

	printf 'not a pid\n' >"$PIDF"
	: >"$LOG"
	serve "$BIN/echo" --user "$TUSER" --pid-file "$PIDF"
	wait_log -F "$LOG" "stale: it holds no pid; replaced"
	wait_pidfile "$SPID"
}

@test "--pid-file: a running server's file refuses a second one (111, the pid named), and stays" {
	serve "$BIN/echo" --user "$TUSER" --pid-file "$PIDF"
	wait_pidfile "$SPID"
	local first=$SPID
	start "$BIN/echo" --user "$TUSER" --pid-file "$PIDF"
	assert_failure 111
	assert_output --partial "fatal: --pid-file $PIDF: pid $first is running (echo): refusing to start a second server"
	assert_equal "$(cat "$PIDF")" "$first"
	kill -0 "$first"
}

@test "--pid-file: a symbolic link is never followed (111)" {
	ln -s /etc/passwd "$PIDF"
	start "$BIN/echo" --user root --pid-file "$PIDF"
	assert_failure 111
	assert_output --partial "fatal: --pid-file $PIDF: a symbolic link (not followed)"
	rm -f "$PIDF"
}

@test "a process per connection ignores --pid-file, --background and --setsid, with a debug line" {
	run --separate-stderr bash -c 'printf "one\n" | "$1" --pid-file "$2" --background --setsid \
	    --log stderr --log-level 4' _ "$BIN/echo" "$PIDF"
	assert_success
	assert_output one
	[ ! -e "$PIDF" ]
	[[ $stderr == *"debug: --pid-file, --background and --setsid are the accept loop's: ignored when serving one connection"* ]] ||
		fail "no debug line: $stderr"
}

# --- background ------------------------------------------------------------------------------

@test "--background: the command returns 0 once the server is ready; it answers, stdio on /dev/null" {
	local port p
	port=$(free_port)
	run timeout 10 "$BIN/echo" --listen "127.0.0.1:$port" --log "$LOG" --log-level 3 \
	    --user "$TUSER" --background --pid-file "$PIDF" 3>&-
	assert_success
	assert_output ""
	daemon_pid
	p=$DPID
	run talk "$port" <<<"detached"
	assert_output "detached"
	assert_equal "$(readlink "/proc/$p/fd/0") $(readlink "/proc/$p/fd/1") $(readlink "/proc/$p/fd/2")" \
	    "/dev/null /dev/null /dev/null"
	assert_equal "$(status_field "$p" Uid)" "$TUID $TUID $TUID $TUID"
	wait_log -F "$LOG" "info: started in the background as pid $p, in --pid-file $PIDF"
}

@test "--setsid: a session of its own; a log on stderr keeps stderr where it pointed" {
	local port p err=$BATS_TEST_TMPDIR/stderr
	port=$(free_port)
	run timeout 10 bash -c '"$1" --listen "127.0.0.1:$2" --log stderr --log-level 3 --user root \
	    --setsid --pid-file "$3" 2>>"$4"' _ "$BIN/echo" "$port" "$PIDF" "$err" 3>&-
	assert_success
	daemon_pid
	p=$DPID
	assert_equal "$(ps -o sid= -p "$p" | tr -d ' ')" "$p"
	assert_equal "$(readlink "/proc/$p/fd/0") $(readlink "/proc/$p/fd/1")" "/dev/null /dev/null"
	assert_equal "$(readlink "/proc/$p/fd/2")" "$err"
	run talk "$port" <<<"setsid"
	assert_output "setsid"
	wait_log "$err" "info: served peer=127\.0\.0\.1:"
}

@test "--background: a step failing after the fork is still the command's status (111) and logged" {
	serve "$BIN/echo" --user root --pid-file "$PIDF"
	wait_pidfile "$SPID"
	run timeout 10 bash -c '"$1" --listen "127.0.0.1:$2" --log stderr --user root --background \
	    --pid-file "$3" 2>&1' _ "$BIN/echo" "$(free_port)" "$PIDF" 3>&-
	assert_failure 111
	assert_output --partial "fatal: --pid-file $PIDF: pid $SPID is running"
}

# --- chroot -------------------------------------------------------------------------------------

# A new root holding echo (and what it loads, if it is dynamic: root_libs) and a block
# list, reachable by every user.
make_root() {
	CHROOT=$(mktemp -d /tmp/inetkit-root.XXXXXX)
	chmod 755 "$CHROOT"
	install -m 755 "$BIN/echo" "$CHROOT/echo"
	printf '127.0.0.2\n' >"$CHROOT/blocked"
	chmod 644 "$CHROOT/blocked"
	root_libs "$CHROOT" "$BIN/echo"
}

@test "--chroot: the child serves inside the new root, as the user, and PROGRAM is found there" {
	make_root
	serve "$BIN/blockip" --user "$TUSER" --chroot "$CHROOT" /blocked /echo --rfc862
	run talk "$PORT" <<<"inside"
	assert_output "inside"
	hold_child
	assert_equal "$(readlink "/proc/$CHILD/root")" "$CHROOT"
	assert_equal "$(readlink "/proc/$CHILD/cwd")" "$CHROOT"
	assert_equal "$(readlink "/proc/$SPID/root")" "$CHROOT"
	assert_ids "$CHILD" "$TUID" "$TGID" "$(sorted "$TGID" "$XGID")"
	# The block list is read inside it too: 127.0.0.2 is dropped.
	run talk "$PORT" bind=127.0.0.2 <<<"blocked"
	assert_output ""
}

@test "--chroot: the log file, opened before, gets the children's records" {
	make_root
	serve "$BIN/echo" --user "$TUSER" --chroot "$CHROOT"
	run talk "$PORT" <<<"logged"
	assert_output "logged"
	wait_log "$LOG" "info: served peer=127\.0\.0\.1:"
	wait_log -F "$LOG" "info: --chroot $CHROOT: serving inside it"
}

# Runs "$@" in a private mount namespace with its own /dev (an overlay) and
# /run (a tmpfs), where catchers listen on /dev/log and on the journal's
# socket, writing $1/syslog and $1/journal (their pids in $1/catchers).
with_log_catchers() {
	local d=$1
	shift
	mkdir -p "$d/up" "$d/work"
	# shellcheck disable=SC2016
	exec unshare -m sh -c '
		d=$1; shift
		mount -t overlay overlay -o "lowerdir=/dev,upperdir=$d/up,workdir=$d/work" /dev || exit 1
		mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal || exit 1
		socat -u UNIX-RECV:/dev/log "OPEN:$d/syslog,creat,append" 3>&- &
		echo $! >>"$d/catchers"
		socat -u UNIX-RECV:/run/systemd/journal/socket "OPEN:$d/journal,creat,append" 3>&- &
		echo $! >>"$d/catchers"
		i=0
		while { [ ! -S /dev/log ] || [ ! -S /run/systemd/journal/socket ]; } && [ $i -lt 200 ]; do
			sleep 0.05; i=$((i + 1))
		done
		exec "$@"' _ "$d" "$@"
}

@test "--chroot: syslog and the journal are connected before it, and get the records from inside" {
	unshare -m true 2>/dev/null || skip "no private mount namespace here (unshare -m)"
	make_root
	local d=$BATS_TEST_TMPDIR/catch sink
	for sink in syslog journal; do
		mkdir -p "$d"
		PORT=$(free_port)
		bg with_log_catchers "$d" "$BIN/echo" --listen "127.0.0.1:$PORT" --log "$sink" \
		    --log-level 3 --user "$TUSER" --chroot "$CHROOT"
		wait_listen "$PORT"
		run talk "$PORT" <<<"to $sink"
		assert_output "to $sink"
		wait_log "$d/$sink" "served peer=127\.0\.0\.1:"
		kill_bg
		kill $(cat "$d/catchers")
		rm -rf "$d"
	done
}

@test "--chroot refuses what cannot work inside it: --pam (100), --reverse-lookups (100)" {
	make_root
	start "$BIN/cmdserver" --user "$TUSER" --chroot "$CHROOT" --pam login
	assert_failure 100
	assert_output --partial "fatal: --pam cannot work inside --chroot"
	start "$BIN/echo" --user "$TUSER" --chroot "$CHROOT" --reverse-lookups
	assert_failure 100
	assert_output --partial "fatal: --chroot: --reverse-lookups needs the system's name service"
}

@test "--chroot: what is opened later must be inside it: PROGRAM, its loader, cmdserver's --htpasswd (111)" {
	make_root
	start "$BIN/blockip" --user "$TUSER" --chroot "$CHROOT" /blocked /bin/echo
	assert_failure 111
	assert_output --partial "fatal: --chroot $CHROOT: PROGRAM /bin/echo: No such file or directory inside the new root"
	# A dynamically linked PROGRAM without its loader in the new root (a SANITIZE=1
	# build's own loader, which root_libs put there, taken out).
	install -m 755 "$(type -P true)" "$CHROOT/true"
	rm -f "$CHROOT"/lib*/ld-linux*
	start "$BIN/blockip" --user "$TUSER" --chroot "$CHROOT" /blocked /true
	assert_failure 111
	assert_output --regexp "fatal: --chroot $CHROOT: PROGRAM /true needs /[^ ]*ld-linux[^ ]*: No such file or directory inside the new root"
	# Found through PATH, as execvp finds it.
	mkdir -m 755 "$CHROOT/bin"
	install -m 755 "$BIN/echo" "$CHROOT/bin/echo"
	root_libs "$CHROOT" "$BIN/echo"
	run timeout 10 env PATH=/bin "$BIN/blockip" --listen "127.0.0.1:$(free_port)" --log "$LOG" \
	    --user "$TUSER" --chroot "$CHROOT" --pid-file "$PIDF" --background /blocked echo 3>&-
	assert_success
	daemon_pid
	start "$BIN/cmdserver" --user "$TUSER" --chroot "$CHROOT" --htpasswd /etc/inetkit/users
	assert_failure 111
	assert_output --partial "fatal: --chroot $CHROOT: --htpasswd /etc/inetkit/users: No such file or directory inside the new root"
}

# --- every failure names its step -----------------------------------------------------------

@test "every step that fails exits 111 before any client, and the log names the step" {
	start "$BIN/echo" --user no-such-user-here
	assert_failure 111
	assert_output --partial "fatal: --user no-such-user-here: no such user"
	start "$BIN/echo" --user "$TUSER" --group no-such-group-here
	assert_failure 111
	assert_output --partial "fatal: --group no-such-group-here: no such group"
	start "$BIN/echo" --user 54321
	assert_failure 111
	assert_output --partial "fatal: --user 54321: no passwd entry for uid 54321, so no group: give --group too"
	start "$BIN/echo" --user "$TUSER" --chroot "$D/no-such-dir"
	assert_failure 111
	assert_output --partial "fatal: --chroot $D/no-such-dir: No such file or directory"
	start "$BIN/echo" --user "$TUSER" --pid-file "$D/no-such-dir/x.pid"
	assert_failure 111
	assert_output --partial "fatal: --pid-file $D/no-such-dir/x.pid: unable to write it: No such file or directory"
}

@test "Net::Server's keys in a conf file: user, group, pid_file, background" {
	local port p conf=$BATS_TEST_TMPDIR/echo.conf
	port=$(free_port)
	printf 'listen 127.0.0.1:%s\nuser %s\ngroup %s\npid_file %s\nbackground 1\nlog %s\n' \
	    "$port" "$TUSER" "$XGROUP" "$PIDF" "$LOG" >"$conf"
	run timeout 10 "$BIN/echo" --conf-file "$conf" 3>&-
	assert_success
	daemon_pid
	p=$DPID
	run talk "$port" <<<"from a conf file"
	assert_output "from a conf file"
	assert_equal "$(status_field "$p" Uid)" "$TUID $TUID $TUID $TUID"
	assert_equal "$(status_field "$p" Gid)" "$XGID $XGID $XGID $XGID"
}
