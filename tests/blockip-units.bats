#!/usr/bin/env bats
# The echo-behind-blockip units and xinetd entry, as make install-units
# generates them: content, systemd-analyze verify and security, and a real
# xinetd serving through the generated entry.

load helpers
load activation_helpers

MAX_EXPOSURE=1.5

setup_file() {
	export DEST="$BATS_FILE_TMPDIR/dest" VERIFY="$BATS_FILE_TMPDIR/verify"
	install_tree "$DEST"
	install_units_for_verify "$DEST" "$VERIFY"
}

teardown() {
	kill_bg
	[ -z "${PUBDIR:-}" ] || rm -rf "$PUBDIR"
}

@test "install-units generates inetkit-echo-guarded: blockip on /etc/inetkit/blocked in front of echo" {
	local u=$DEST$(unitdir)
	[ -f "$u/inetkit-echo-guarded.socket" ]
	[ -f "$u/inetkit-echo-guarded@.service" ]
	run grep -c '@[A-Z]*@' "$u/inetkit-echo-guarded@.service"
	assert_failure 1
	assert_output 0
	run grep -x 'ExecStart=/usr/local/libexec/inetkit/blockip --state-dir ${RUNTIME_DIRECTORY} /etc/inetkit/blocked /usr/local/libexec/inetkit/echo --session-timeout 3600' \
	    "$u/inetkit-echo-guarded@.service"
	assert_success
	run grep -E '^Standard(Input|Output|Error)=' "$u/inetkit-echo-guarded@.service"
	assert_output "StandardInput=socket
StandardOutput=socket
StandardError=journal"
	run grep -E '^(DynamicUser|User|CacheDirectory)=' "$u/inetkit-echo-guarded@.service"
	assert_output "DynamicUser=yes
User=inetkit-echo-guarded
CacheDirectory=inetkit-echo-guarded"
	[ -x "$DEST/usr/local/libexec/inetkit/blockip" ]
	[ -f "$DEST/usr/local/share/man/man8/inetkit-blockip.8" ]
	[ -f "$DEST/usr/local/share/man/man5/inetkit-blocklist.5" ]
}

@test "the guarded socket listens on 8012 with Accept=yes, bounded, no trigger limit" {
	local s=$DEST$(unitdir)/inetkit-echo-guarded.socket
	run grep -x -e 'ListenStream=8012' -e 'Accept=yes' -e 'TriggerLimitIntervalSec=0' "$s"
	assert_equal "${#lines[@]}" 3
	run grep -E '^MaxConnections(PerSource)?=[1-9][0-9]*$' "$s"
	assert_equal "${#lines[@]}" 2
}

@test "systemd-analyze verify is clean for the guarded units (Documentation= pages included)" {
	local f u=$VERIFY$(unitdir)
	cd "$u"
	for f in inetkit-echo-guarded.socket inetkit-echo-guarded@.service; do
		MANPATH="$DEST/usr/local/share/man" run timeout 60 systemd-analyze verify --man=yes "$f"
		assert_success
		assert_output ""
	done
}

@test "systemd-analyze security rates inetkit-echo-guarded@.service at 1.5 or less" {
	assert_exposure "$VERIFY$(unitdir)/inetkit-echo-guarded@.service" "$MAX_EXPOSURE"
}

@test "the xinetd entry is disabled, carries the installed paths and the limits" {
	local x=$DEST/etc/xinetd.d/inetkit-echo-guarded
	[ -f "$x" ]
	run grep -c '@[A-Z]*@' "$x"
	assert_failure 1
	run grep -E '^[[:space:]]*(disable|server|server_args|port|per_source|cps|instances|user|wait)[[:space:]]*=' "$x"
	assert_line --regexp 'disable[[:space:]]*= yes$'
	assert_line --regexp 'server[[:space:]]*= /usr/local/libexec/inetkit/blockip$'
	assert_line --regexp 'server_args[[:space:]]*= --state-dir /var/lib/inetkit-echo-guarded /etc/inetkit/blocked /usr/local/libexec/inetkit/echo --session-timeout 3600$'
	assert_line --regexp 'port[[:space:]]*= 8012$'
	assert_line --regexp 'per_source[[:space:]]*= [0-9]+$'
	assert_line --regexp 'cps[[:space:]]*= [0-9]+ [0-9]+$'
	assert_line --regexp 'instances[[:space:]]*= [0-9]+$'
	assert_line --regexp 'user[[:space:]]*= inetkit-echo-guarded$'
	assert_line --regexp 'wait[[:space:]]*= no$'
}

@test "under xinetd (as nobody) the generated entry drops a listed client and echoes for others" {
	local entry
	# Readable by nobody, unlike the test's own temporary directory.
	PUBDIR=$(mktemp -d /tmp/inetkit-blockip.XXXXXX)
	chmod 755 "$PUBDIR"
	printf '127.0.0.2\n' >"$PUBDIR/blocked"
	chmod 644 "$PUBDIR/blocked"
	# As the entry says: root refreshes the index nobody may not write.
	run "$BIN/blockip" --check 127.0.0.2 "$PUBDIR/blocked"
	assert_failure 1
	entry=$BATS_TEST_TMPDIR/inetkit-echo-guarded
	grep -v server_args "$DEST/etc/xinetd.d/inetkit-echo-guarded" >"$entry"
	start_xinetd "$entry" "$PUBDIR/blocked" "$BIN/echo"
	run sh -c "printf 'hello\n' | timeout 15 socat -t 5 -T 10 - TCP:127.0.0.1:$PORT,bind=127.0.0.3"
	assert_success
	assert_output "hello"
	run sh -c "printf 'hello\n' | timeout 15 socat -t 5 -T 10 - TCP:127.0.0.1:$PORT,bind=127.0.0.2 2>/dev/null"
	assert_output ""
	wait_log -F "$XINETD_LOG" "EXIT: inetkit-echo-guarded status=1" 10
}
