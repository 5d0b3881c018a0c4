#!/usr/bin/env bats
# The TLS units and xinetd entries (tls in front of echo, port 8014, and of
# cmdserver --require-tls, port 8086), as make install install-units puts
# them in place, run the way each activator runs them: every installed
# inetkit-tls-* service's ExecStart= through systemd-socket-activate as its
# socket would hand it connections (Accept=yes: --inetd -a; Accept=no: the
# listening socket), with what its LoadCredential= lines give it (a private
# copy of each file in $CREDENTIALS_DIRECTORY, owned by the service's
# unprivileged user, while the originals stay root-only), and every
# installed inetkit-tls-* xinetd entry through a real xinetd, as its own
# user, with the key copied as its header says. Real TLS clients (socat's
# OPENSSL: address, openssl s_client, Python's ssl) that verify the test's
# certificate. Loopback only; everything started here is killed in teardown.

load helpers
load activation_helpers
load cmdserver_helpers
load deploy_helpers

# Every TLS unit and entry make install-units ships (TLS_SERVICE_UNITS,
# TLS_XINETD_ENTRIES in deploy_helpers.bash) is run by a test below.
# The user the units' services run as here: an unused uid of systemd's
# dynamic range, as DynamicUser= would allocate (no passwd entry).
SVC_UID=61999

setup_file() {
	# Outside the checkout, reachable by every user (mktemp makes 0700): the
	# services run as an unprivileged uid or as the entries' users, who must
	# reach the installed programs and the fixtures.
	export DEST FIX
	DEST=$(mktemp -d /tmp/inetkit-tls-units.XXXXXX)
	FIX=$(mktemp -d /tmp/inetkit-tls-units-fix.XXXXXX)
	chmod 755 "$DEST" "$FIX"
	install_tree "$DEST"
	# The entries' users (make install-users, which skips those that exist).
	install_users
	# $FIX/inetkit stands for SYSCONFDIR/inetkit: the certificate (public),
	# its key and the users file, root-only as the units' headers allow.
	mkdir -m 755 "$FIX/inetkit"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	    -keyout "$FIX/inetkit/tls.key" -out "$FIX/inetkit/tls.crt" -subj /CN=localhost \
	    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >"$FIX/openssl.log" 2>&1 ||
		{ cat "$FIX/openssl.log" >&2; return 1; }
	htpasswd -cbB -C 5 "$FIX/inetkit/cmdserver.htpasswd" dougm foobar 2>/dev/null
	chown root:root "$FIX/inetkit/tls.key" "$FIX/inetkit/cmdserver.htpasswd"
	chmod 600 "$FIX/inetkit/tls.key" "$FIX/inetkit/cmdserver.htpasswd"
	chmod 644 "$FIX/inetkit/tls.crt"
	export CA=$FIX/inetkit/tls.crt
	world_reachable "$DEST$PKGDIR/tls" && world_reachable "$CA"
}

teardown_file() {
	rm -rf "$DEST" "$FIX"
}

teardown() {
	kill_bg
}

# --- helpers ---------------------------------------------------------------------

unit() {
	echo "$DEST$(unitdir)/$1"
}

# The fixture standing for file $1 of SYSCONFDIR/inetkit; fails for another path.
fixture() {
	case $1 in
	"$SYSCONF"/inetkit/*) echo "$FIX/inetkit/${1#"$SYSCONF"/inetkit/}" ;;
	*) echo "$1 is not in $SYSCONF/inetkit" >&2; return 1 ;;
	esac
}

# load_credentials UNIT DIR: what systemd's LoadCredential=ID:PATH lines of
# UNIT give the service: DIR holding a copy of each PATH (its fixture)
# named ID, mode 0400, DIR 0500, both the service user's. Nothing else.
load_credentials() {
	local u=$1 dir=$2 l id path n=0
	mkdir -p "$dir"
	while read -r l; do
		id=${l%%:*} path=${l#*:}
		[ -f "$(fixture "$path")" ] || { echo "$u: LoadCredential=$l: no such file" >&2; return 1; }
		install -m 400 -o "$SVC_UID" -g "$SVC_UID" "$(fixture "$path")" "$dir/$id"
		n=$((n + 1))
	done < <(sed -n 's/^LoadCredential=//p' "$u")
	chown "$SVC_UID:$SVC_UID" "$dir"
	chmod 500 "$dir"
	[ "$n" -gt 0 ] || { echo "$u: no LoadCredential=" >&2; return 1; }
}

# serve UNIT [EXTRA-ARG...]: serve_unit UNIT (with EXTRA-ARG appended) as
# the unprivileged SVC_UID, with CREDENTIALS_DIRECTORY and RUNTIME_DIRECTORY
# made as systemd makes them, and ${CREDENTIALS_DIRECTORY} and
# ${RUNTIME_DIRECTORY} in its ExecStart= standing for them.
# Sets PORT, SPID, CMD, CRED, RUN.
serve() {
	local u=$1 d
	shift
	# Where the service's user can reach them (the test's own directory is 0700).
	d=$(mktemp -d "$DEST/svc.XXXXXX")
	chmod 755 "$d"
	CRED=$d/credentials RUN=$d/run
	load_credentials "$(unit "$u")" "$CRED" || fail "cannot load $u's credentials"
	install -d -m 700 -o "$SVC_UID" -g "$SVC_UID" "$RUN"
	ACTIVATE_WRAP=(setpriv "--reuid=$SVC_UID" "--regid=$SVC_UID" --clear-groups)
	serve_unit "$u" --sub '${CREDENTIALS_DIRECTORY}' "$CRED" --sub '${RUNTIME_DIRECTORY}' "$RUN" \
	    -E "CREDENTIALS_DIRECTORY=$CRED" -E "RUNTIME_DIRECTORY=$RUN" -- "$@"
	ACTIVATE_WRAP=()
}

# tls_say PORT FORMAT [SOCAT-OPTIONS]: sends printf FORMAT over TLS (socat's
# OPENSSL: address, verifying the server's certificate against $CA and its
# name 127.0.0.1) to 127.0.0.1:PORT, and leaves the reply in $REPLY_FILE.
tls_say() {
	REPLY_FILE=$BATS_TEST_TMPDIR/reply
	# shellcheck disable=SC2059
	printf -- "$2" | timeout 20 socat -t 5 -T 10 - \
	    "OPENSSL:127.0.0.1:$1,cafile=$CA,verify=1${3:+,$3}" >"$REPLY_FILE" 2>"$BATS_TEST_TMPDIR/socat.err"
}

# The same with openssl s_client (verifying certificate and IP address),
# which reads until the server closes (-quiet: stdin's end ends nothing).
s_client_say() {
	REPLY_FILE=$BATS_TEST_TMPDIR/reply
	# shellcheck disable=SC2059
	printf -- "$2" | timeout 20 openssl s_client -quiet -connect "127.0.0.1:$1" \
	    -CAfile "$CA" -verify_return_error -verify_ip 127.0.0.1 >"$REPLY_FILE" \
	    2>"$BATS_TEST_TMPDIR/s_client.err"
}

# The same in clear, plain TCP.
plain_say() {
	REPLY_FILE=$BATS_TEST_TMPDIR/reply
	# shellcheck disable=SC2059
	printf -- "$2" | timeout 20 socat -t 5 -T 10 - "TCP:127.0.0.1:$1" >"$REPLY_FILE" 2>/dev/null
}

# A plain TCP client gets no echo and no prompt in clear: tls wants a handshake.
assert_no_clear_text() {
	plain_say "$1" 'dougm\nfoobar\nhello\n' || true
	run grep -a -e hello -e Login -e Password "$REPLY_FILE"
	assert_failure 1
}

# header_line ENTRY ERE: the one command line ("#   COMMAND") of the
# installed entry's header matching ERE, with SYSCONFDIR/inetkit moved to
# the fixtures; fails unless exactly one.
header_line() {
	local l
	l=$(sed -n 's/^#   //p' "$DEST/etc/xinetd.d/$1" | grep -E -- "$2")
	[ -n "$l" ] && [ "$(printf '%s\n' "$l" | wc -l)" = 1 ] ||
		{ echo "$1: not exactly one header line matching $2: $l" >&2; return 1; }
	printf '%s\n' "${l//$SYSCONF\/inetkit\//$FIX/inetkit/}"
}

# Runs header command $2 (an ERE) of entry $1, as root, as an admin would.
run_header_line() {
	local l w
	l=$(header_line "$1" "$2") || return 1
	read -ra w <<<"$l"
	"${w[@]}"
}

# xinetd_installed (deploy_helpers.bash) enables an entry, its copy $1, by
# its disable line.
xinetd_enable() {
	sed -i 's/^\([[:space:]]*disable[[:space:]]*=[[:space:]]*\)yes$/\1no/' "$1"
}

# SYSCONFDIR/inetkit, in the entry's copy $1, is the fixtures.
xinetd_fixtures() {
	sed -i "s|$SYSCONF/inetkit/|$FIX/inetkit/|g" "$1"
}

# The key copy an entry's header makes, and who may read it: root, and the
# entry's own user; no other service's user, nor nobody.
assert_key_for() {
	local e=$1 key=$2 u
	assert_equal "$(stat -c '%U:%G %a' "$key")" "root:$e 640"
	run runuser -u "$e" -- head -c 1 "$key"
	assert_success
	for u in inetkit-echo inetkit-cmdserver $TLS_XINETD_ENTRIES nobody; do
		[ "$u" != "$e" ] || continue
		run runuser -u "$u" -- head -c 1 "$key"
		assert_failure
	done
}

# --- what make install-units puts in place -----------------------------------------

@test "install-units ships the TLS units and entries, and this suite runs each" {
	local f got=
	for f in "$DEST$(unitdir)"/inetkit-tls-*.service; do got="$got ${f##*/}"; done
	assert_equal "$(echo $got | tr ' ' '\n' | sort)" "$(echo $TLS_SERVICE_UNITS | tr ' ' '\n' | sort)"
	got=
	for f in "$DEST/etc/xinetd.d"/inetkit-tls-*; do got="$got ${f##*/}"; done
	assert_equal "$(echo $got | tr ' ' '\n' | sort)" "$(echo $TLS_XINETD_ENTRIES | tr ' ' '\n' | sort)"
	for f in $TLS_SERVICE_UNITS; do
		run grep -c '@[A-Z]*@' "$(unit "$f")"
		assert_output 0
	done
	for f in $TLS_XINETD_ENTRIES; do
		run grep -c '@[A-Z]*@' "$DEST/etc/xinetd.d/$f"
		assert_output 0
	done
}

@test "the TLS sockets: echo on 8014, cmdserver on 8086, each Accept=yes (bounded) or Accept=no (conflicting)" {
	local s port name max per
	for s in "tls-echo 8014 64 8" "tls-cmdserver 8086 32 4"; do
		read -r name port max per <<<"$s"
		run grep -x -e "ListenStream=$port" -e 'Accept=yes' -e 'TriggerLimitIntervalSec=0' \
		    -e "MaxConnections=$max" -e "MaxConnectionsPerSource=$per" "$(unit "inetkit-$name.socket")"
		assert_equal "${#lines[@]}" 5
		run grep -x -e "ListenStream=$port" -e 'Accept=no' -e "Conflicts=inetkit-$name.socket" \
		    "$(unit "inetkit-$name-listen.socket")"
		assert_equal "${#lines[@]}" 3
	done
}

@test "each TLS service runs the installed tls in front of echo or cmdserver --require-tls, key and certificate as credentials" {
	local f prog want
	for f in $TLS_SERVICE_UNITS; do
		case $f in
		*echo*) prog="$PKGDIR/echo" want='' ;;
		*) prog="$PKGDIR/cmdserver --require-tls --htpasswd \${CREDENTIALS_DIRECTORY}/htpasswd --state-dir \${RUNTIME_DIRECTORY}"
		   want="htpasswd:$SYSCONF/inetkit/cmdserver.htpasswd" ;;
		esac
		run grep -E '^ExecStart=' "$(unit "$f")"
		case $f in
		*@.service) assert_output "ExecStart=$PKGDIR/tls --session-timeout 3600 --state-dir \${RUNTIME_DIRECTORY} $prog" ;;
		*) assert_output "ExecStart=$PKGDIR/tls --session-timeout 3600 $prog" ;;
		esac
		run sed -n 's/^LoadCredential=//p' "$(unit "$f")"
		assert_output "$(printf '%s\n' $want "tls.crt:$SYSCONF/inetkit/tls.crt" "tls.key:$SYSCONF/inetkit/tls.key")"
	done
}

@test "the TLS services keep every sandbox setting of the plain ones, and rate no worse in systemd-analyze security" {
	local f plain e ep l v=$BATS_FILE_TMPDIR/verify
	install_units_for_verify "$DEST" "$v"
	for f in $TLS_SERVICE_UNITS; do
		plain=${f/tls-/}
		# Every [Service] setting of the plain unit but what differs by design:
		# the command, its credentials, the user and directory names, the tasks.
		while read -r l; do
			grep -qxF -- "$l" "$(unit "$f")" || fail "$f lacks $plain's $l"
		done < <(sed -n '/^\[Service\]/,$p' "$(unit "$plain")" | grep -E '^[A-Za-z]+=' |
		    grep -vE '^(ExecStart|LoadCredential|User|RuntimeDirectory|TasksMax)=')
		run timeout 60 systemd-analyze security --offline=true --no-pager "$v$(unitdir)/$plain"
		assert_success
		ep=$(printf '%s\n' "$output" | exposure_of)
		run timeout 60 systemd-analyze security --offline=true --no-pager "$v$(unitdir)/$f"
		assert_success
		e=$(printf '%s\n' "$output" | exposure_of)
		[ -n "$e" ] && [ -n "$ep" ] || fail "no exposure figure for $f or $plain"
		echo "# $f: exposure $e ($plain: $ep)" >&3
		le "$e" "$ep" || fail "$f: exposure $e > $plain's $ep"
	done
}

# --- the units under systemd-socket-activate -------------------------------------

@test "inetkit-tls-echo@.service (Accept=yes) echoes over TLS through systemd-socket-activate --inetd -a" {
	serve inetkit-tls-echo@.service
	# The service's user cannot read the key itself: only its credential copy.
	run setpriv "--reuid=$SVC_UID" "--regid=$SVC_UID" --clear-groups head -c 1 "$FIX/inetkit/tls.key"
	assert_failure
	tls_say "$PORT" 'Hello TLS\n\001\377 bytes\r\n' || fail "socat: $(cat "$BATS_TEST_TMPDIR/socat.err")"
	assert_reply 'Hello TLS\n\001\377 bytes\r\n'
	assert_equal "$(child_status 1)" 0
	# A blank line ends echo's session; tls ends with it.
	tls_say "$PORT" 'one\n\r\nnot this\n'
	assert_reply 'one\n'
	assert_equal "$(child_status 2)" 0
	assert_no_clear_text "$PORT"
	kill -0 "$SPID"
}

@test "inetkit-tls-echo-listen.service (Accept=no) runs tls's accept loop on the passed socket, the certificate read once at its start" {
	serve inetkit-tls-echo-listen.service
	# A blank line ends echo's session, and tls closes.
	s_client_say "$PORT" 'Hello s_client\n\r\n' || fail "s_client: $(cat "$BATS_TEST_TMPDIR/s_client.err")"
	assert_reply 'Hello s_client\n'
	# The listener read its credentials at start: their copies may go.
	chmod 700 "$CRED"
	rm -f "$CRED"/*
	tls_say "$PORT" 'second\n' || fail "socat: $(cat "$BATS_TEST_TMPDIR/socat.err")"
	assert_reply 'second\n'
	# One process, the installed tls itself, accepted both, as the service's user.
	run readlink "/proc/$SPID/exe"
	assert_output "$DEST$PKGDIR/tls"
	run stat -c %u "/proc/$SPID"
	assert_output "$SVC_UID"
	assert_no_clear_text "$PORT"
}

@test "inetkit-tls-cmdserver@.service (Accept=yes) logs in over TLS from the htpasswd credential; its cmdserver alone refuses a login in clear" {
	serve inetkit-tls-cmdserver@.service --fail-delay 0
	tls_say "$PORT" 'dougm\r\nfoobar\r\ndate\r\nquit\r\nmotd\r\n' || fail "socat: $(cat "$BATS_TEST_TMPDIR/socat.err")"
	assert_cmdserver_session
	tls_say "$PORT" 'dougm\nwrong\n'
	assert_reply "Login: Password: $DENIED"
	assert_no_clear_text "$PORT"
	kill_bg
	# The unit's cmdserver, with tls taken out of its ExecStart=, on a plain
	# socket: --require-tls, so no password is asked. (A runtime directory of
	# its own: the failed login above left a penalty in the service's.)
	local i a args=()
	for i in "${!CMD[@]}"; do [ "${CMD[$i]}" != "$DEST$PKGDIR/cmdserver" ] || break; done
	[ "${CMD[$i]}" = "$DEST$PKGDIR/cmdserver" ] || fail "no cmdserver in ${CMD[*]}"
	install -d -m 700 -o "$SVC_UID" -g "$SVC_UID" "$RUN-plain"
	for a in "${CMD[@]:$i}"; do args+=("${a/#$RUN/$RUN-plain}"); done
	: >"$ACTIVATE_LOG"
	ACTIVATE_WRAP=(setpriv "--reuid=$SVC_UID" "--regid=$SVC_UID" --clear-groups)
	activate inetd -E "CREDENTIALS_DIRECTORY=$CRED" "${args[@]}"
	ACTIVATE_WRAP=()
	plain_say "$PORT" 'dougm\nfoobar\ndate\n' || true
	run grep -a -e Password -e Welcome "$REPLY_FILE"
	assert_failure 1
	grep -q 'requires TLS' "$REPLY_FILE" || fail "reply: $(cat "$REPLY_FILE")"
	assert_equal "$(child_status 1)" 1
}

@test "inetkit-tls-cmdserver-listen.service (Accept=no) logs in over TLS twice; a failed login's penalty refuses the next connection" {
	serve inetkit-tls-cmdserver-listen.service --fail-delay 0 --penalty 5
	tls_say "$PORT" 'dougm\nfoobar\ndate\nquit\n' || fail "socat: $(cat "$BATS_TEST_TMPDIR/socat.err")"
	assert_cmdserver_session
	tls_say "$PORT" 'dougm\nfoobar\ndate\nquit\n'
	assert_cmdserver_session
	run readlink "/proc/$SPID/exe"
	assert_output "$DEST$PKGDIR/tls"
	# cmdserver runs per connection here: its table of sources is the file
	# in the runtime directory, so a failed login counts for the next one.
	tls_say "$PORT" 'dougm\nwrong\n'
	assert_reply "Login: Password: $DENIED"
	[ -s "$RUN/inetkit-cmdserver.sources" ] || fail "no table of sources in $RUN: $(ls -la "$RUN")"
	tls_say "$PORT" 'dougm\nfoobar\ndate\nquit\n' || true
	run grep -a -e Password -e Welcome "$REPLY_FILE"
	assert_failure 1
}

# --- the xinetd entries under a real xinetd ----------------------------------------

@test "every TLS xinetd entry runs tls as its own user, reads a key copy its header makes, and bounds its session" {
	local e f args
	for e in $TLS_XINETD_ENTRIES; do
		f=$DEST/etc/xinetd.d/$e
		assert_equal "$(entry_value "$f" user)" "$e"
		assert_equal "$(entry_value "$f" group)" "$e"
		assert_equal "$(entry_value "$f" server)" "$PKGDIR/tls"
		assert_equal "$(entry_value "$f" disable)" yes
		args=$(entry_value "$f" server_args)
		case $e in
		*echo) assert_equal "$args" "--state-dir /var/lib/$e --session-timeout 3600 --cert $SYSCONF/inetkit/tls.crt --key $SYSCONF/inetkit/${e#inetkit-}.key $PKGDIR/echo" ;;
		*) assert_equal "$args" "--state-dir /var/lib/$e --session-timeout 3600 --cert $SYSCONF/inetkit/tls.crt --key $SYSCONF/inetkit/${e#inetkit-}.key $PKGDIR/cmdserver --require-tls --state-dir /var/lib/$e --htpasswd $SYSCONF/inetkit/${e#inetkit-}.htpasswd" ;;
		esac
		# The header: how to make the user, and the key's copy for its group.
		run grep -x -F "#   useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group $e" "$f"
		assert_success
		run header_line "$e" "^install .* $SYSCONF/inetkit/${e#inetkit-}\\.key\$"
		assert_success
		assert_output "install -m 640 -o root -g $e $FIX/inetkit/tls.key $FIX/inetkit/${e#inetkit-}.key"
		run stat -c '%U:%G %a' "/var/lib/$e"
		assert_output "$e:$e 700"
	done
}

@test "the installed inetkit-tls-echo xinetd entry echoes over TLS under xinetd, as inetkit-tls-echo, with the key copy its header makes" {
	run_header_line inetkit-tls-echo "^install .*/tls-echo\\.key\$"
	assert_key_for inetkit-tls-echo "$FIX/inetkit/tls-echo.key"
	xinetd_installed inetkit-tls-echo
	tls_say "$PORT" 'Hello xinetd TLS\n' || fail "socat: $(cat "$BATS_TEST_TMPDIR/socat.err")"
	assert_reply 'Hello xinetd TLS\n'
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-tls-echo status=0" 10
	assert_served_as --tls inetkit-tls-echo echo 'held\n' 'held\n'
	# Last: a failed handshake penalizes the source.
	assert_no_clear_text "$PORT"
}

@test "the installed inetkit-tls-cmdserver xinetd entry logs in over TLS under xinetd, as inetkit-tls-cmdserver" {
	run_header_line inetkit-tls-cmdserver "^install .*/tls-cmdserver\\.key\$"
	run_header_line inetkit-tls-cmdserver "^install .*/tls-cmdserver\\.htpasswd\$"
	assert_key_for inetkit-tls-cmdserver "$FIX/inetkit/tls-cmdserver.key"
	assert_key_for inetkit-tls-cmdserver "$FIX/inetkit/tls-cmdserver.htpasswd"
	xinetd_installed inetkit-tls-cmdserver
	tls_say "$PORT" 'dougm\nfoobar\ndate\nquit\n' || fail "socat: $(cat "$BATS_TEST_TMPDIR/socat.err")"
	assert_cmdserver_session
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-tls-cmdserver status=0" 10
	# The process that reads the password being typed runs as the entry's user.
	assert_served_as --tls inetkit-tls-cmdserver cmdserver 'dougm\n' 'Password: '
	# Last: a failed handshake penalizes the source.
	assert_no_clear_text "$PORT"
}

@test "under xinetd, the units' root-only key (not the header's copy) fails every handshake: the copy is what serves" {
	XINETD_EDIT="s|--key $FIX/inetkit/tls-echo.key|--key $FIX/inetkit/tls.key|" \
	    xinetd_installed inetkit-tls-echo
	! tls_say "$PORT" 'Hello\n' || fail "a handshake with a key tls cannot read"
	assert_reply ''
	wait_log "$XINETD_LOG" "EXIT: inetkit-tls-echo status=(1|111) " 10
}

@test "the inetkit-tls-echo xinetd entry ends a busy TLS session at tls's --session-timeout (2 s put in place of 3600)" {
	run_header_line inetkit-tls-echo "^install .*/tls-echo\\.key\$"
	XINETD_EDIT='s/--session-timeout 3600 /--session-timeout 2 /' xinetd_installed inetkit-tls-echo
	# A line every 0.2 s, far inside the idle timeout: only the session bound ends it.
	run busy_session --tls '' 'busy\n'
	assert_success
	[[ $output =~ ^eof\ after\ ([0-9.]+)\ s,\ ([0-9]+)\ replies$ ]] || fail "$output"
	[ "${BASH_REMATCH[2]}" -ge 5 ] || fail "only ${BASH_REMATCH[2]} replies: not served"
	le 1.5 "${BASH_REMATCH[1]}" && le "${BASH_REMATCH[1]}" 4 || fail "ended after ${BASH_REMATCH[1]} s, not at 2 s"
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-tls-echo status=0" 10
}
