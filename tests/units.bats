#!/usr/bin/env bats
# The systemd units and xinetd entries, as make install-units generates them.

load helpers
load activation_helpers

SERVICES="echo lcecho"
# tls in front of echo and cmdserver (tests/tls-units.bats runs them): held
# to the same exposure bound.
TLS_SERVICES="tls-echo tls-cmdserver"
# relay in front of echo (8013 to 8010): the network allowed to loopback, held
# to the same exposure bound.
RELAY_SERVICES="relay"
MAX_EXPOSURE=1.5

setup_file() {
	export DEST="$BATS_FILE_TMPDIR/dest" VERIFY="$BATS_FILE_TMPDIR/verify"
	install_tree "$DEST"
	install_units_for_verify "$DEST" "$VERIFY"
}

@test "install-units generates a socket and a service template for echo and lcecho" {
	local s u=$DEST$(unitdir)
	for s in $SERVICES; do
		[ -f "$u/inetkit-$s.socket" ] || fail "no inetkit-$s.socket in $u"
		[ -f "$u/inetkit-$s@.service" ] || fail "no inetkit-$s@.service in $u"
		run grep -c '@[A-Z]*@' "$u/inetkit-$s@.service"
		assert_failure 1
		assert_output 0
		run grep -x "ExecStart=/usr/local/libexec/inetkit/$s --session-timeout 3600 --state-dir \${RUNTIME_DIRECTORY}" \
		    "$u/inetkit-$s@.service"
		assert_success
	done
}

@test "every Accept=yes unit bounds its session and shares one table of sources across its instances" {
	local f n=0 u=$DEST$(unitdir) name
	for f in "$u"/inetkit-*@.service; do
		name=${f##*/}
		name=${name%@.service}
		n=$((n + 1))
		grep -Eq '^ExecStart=.* --session-timeout [0-9]+( |$)' "$f" || fail "$f: no --session-timeout"
		grep -q '^ExecStart=.* --state-dir \${RUNTIME_DIRECTORY}' "$f" || fail "$f: no --state-dir"
		# One user for every instance (a named dynamic user, or root for PAM), one
		# directory, kept between instances.
		grep -Eqx "User=($name|root)" "$f" || fail "$f: no User=$name"
		grep -qx "RuntimeDirectory=$name" "$f" || fail "$f: no RuntimeDirectory=$name"
		grep -qx 'RuntimeDirectoryMode=0700' "$f" || fail "$f: RuntimeDirectory not 0700"
		grep -qx 'RuntimeDirectoryPreserve=yes' "$f" || fail "$f: RuntimeDirectory not preserved"
	done
	[ "$n" -ge 5 ]
	for f in "$u"/inetkit-*-listen.service; do
		grep -Eq '^ExecStart=.* --session-timeout [0-9]+' "$f" || fail "$f: no --session-timeout"
	done
}

@test "systemd-analyze verify is clean for every generated unit" {
	local f n=0 u=$VERIFY$(unitdir)
	cd "$u"
	for f in *.socket *.service; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		# --man checks Documentation=, against the pages make install put in DEST.
		MANPATH="$DEST/usr/local/share/man" run timeout 60 systemd-analyze verify --man=yes "$f"
		assert_success
		assert_output ""
	done
	[ "$n" -ge 4 ] || fail "only $n units generated"
}

@test "the sockets listen on 8010 and 8011 with Accept=yes and bounded connections" {
	local u=$DEST$(unitdir) s port
	for s in "echo 8010" "lcecho 8011"; do
		port=${s#* } s=${s% *}
		run grep -x "ListenStream=$port" "$u/inetkit-$s.socket"
		assert_success
		run grep -x "Accept=yes" "$u/inetkit-$s.socket"
		assert_success
		run grep -E '^MaxConnections=[1-9][0-9]*$' "$u/inetkit-$s.socket"
		assert_success
		run grep -E '^MaxConnectionsPerSource=[1-9][0-9]*$' "$u/inetkit-$s.socket"
		assert_success
		# 0 disables the trigger limit that would fail the socket under a flood.
		run grep -E '^(TriggerLimitIntervalSec|TriggerLimitBurst)=0$' "$u/inetkit-$s.socket"
		assert_success
	done
}

@test "the services never log to the client's socket" {
	local u=$DEST$(unitdir) s
	for s in $SERVICES $RELAY_SERVICES; do
		run grep -E '^Standard(Input|Output|Error)=' "$u/inetkit-$s@.service"
		assert_success
		assert_output "StandardInput=socket
StandardOutput=socket
StandardError=journal"
	done
}

@test "systemd-analyze security rates each service at exposure 1.5 or less" {
	local s e u=$VERIFY$(unitdir)
	for s in $SERVICES $TLS_SERVICES $RELAY_SERVICES; do
		run timeout 60 systemd-analyze security --offline=true --no-pager \
		    "$u/inetkit-$s@.service"
		assert_success
		e=$(printf '%s\n' "$output" | exposure_of)
		[ -n "$e" ] || fail "no overall exposure level in: $output"
		echo "# inetkit-$s@.service: exposure $e" >&3
		le "$e" "$MAX_EXPOSURE" || fail "inetkit-$s@.service: exposure $e > $MAX_EXPOSURE"
		run timeout 60 systemd-analyze security --offline=true --no-pager \
		    --threshold=15 "$u/inetkit-$s@.service"
		assert_success
	done
}

@test "xinetd entries carry the installed path and are disabled" {
	local s x=$DEST/etc/xinetd.d
	for s in echo lcecho $RELAY_SERVICES; do
		[ -f "$x/inetkit-$s" ] || fail "no $x/inetkit-$s"
		run grep -E '^[[:space:]]*server[[:space:]]*=' "$x/inetkit-$s"
		assert_success
		assert_output --regexp "= /usr/local/libexec/inetkit/$s\$"
		run grep -E '^[[:space:]]*disable[[:space:]]*=' "$x/inetkit-$s"
		assert_success
		assert_output --regexp '= yes$'
		run grep -c '@[A-Z]*@' "$x/inetkit-$s"
		assert_failure 1
		assert_output 0
		run grep -E '^[[:space:]]*(per_source|cps|instances|type|wait|user|socket_type)[[:space:]]*=' \
		    "$x/inetkit-$s"
		assert_success
		assert_line --regexp 'per_source[[:space:]]*= [0-9]+$'
		assert_line --regexp 'cps[[:space:]]*= [0-9]+ [0-9]+$'
		assert_line --regexp 'instances[[:space:]]*= [0-9]+$'
		assert_line --regexp 'type[[:space:]]*= UNLISTED$'
		assert_line --regexp 'wait[[:space:]]*= no$'
		assert_line --regexp "user[[:space:]]*= inetkit-$s\$"
		assert_line --regexp 'socket_type[[:space:]]*= stream$'
	done
}

@test "xinetd reads the generated entries without a complaint once enabled" {
	local s
	for s in echo lcecho $RELAY_SERVICES; do
		start_xinetd "$DEST/etc/xinetd.d/inetkit-$s"
		run grep -E 'ERROR|WARNING|bad' "$XINETD_OWN"
		assert_failure 1
		assert_output ""
		run grep -c 'Started working: 1 available service' "$XINETD_OWN"
		assert_success
		assert_output 1
		kill_bg
	done
}

teardown() {
	kill_bg
}

@test "make uninstall removes what install and install-units put in place" {
	local d=$BATS_TEST_TMPDIR/u
	install_tree "$d"
	# shellcheck disable=SC2046
	run make -s -C "$TOP" $(make_vars) uninstall DESTDIR="$d"
	assert_success
	run find "$d" -type f
	assert_success
	assert_output ""
}

@test "every service also ships an Accept=no variant: listening socket, bounded, reloadable, exposure 1.5 or less" {
	local u=$VERIFY$(unitdir) s n=0
	for s in echo lcecho cmdserver echo-guarded $TLS_SERVICES $RELAY_SERVICES; do
		n=$((n + 1))
		run grep -x "Accept=no" "$DEST$(unitdir)/inetkit-$s-listen.socket"
		assert_success
		# The Accept=yes socket of the same service is the alternative, never both.
		run grep -x "Conflicts=inetkit-$s.socket" "$DEST$(unitdir)/inetkit-$s-listen.socket"
		assert_success
		run grep -E '^(StandardInput=socket|RuntimeMaxSec=)' "$DEST$(unitdir)/inetkit-$s-listen.service"
		assert_failure
		run grep -x "KillMode=mixed" "$DEST$(unitdir)/inetkit-$s-listen.service"
		assert_success
		# systemctl reload: SIGHUP to the listener, which re-reads its configuration.
		run grep -x 'ExecReload=/bin/kill -HUP $MAINPID' "$DEST$(unitdir)/inetkit-$s-listen.service"
		assert_success
		run grep -E '^TasksMax=([7-9][0-9]|[1-9][0-9]{2,})$' "$DEST$(unitdir)/inetkit-$s-listen.service"
		assert_success
		assert_exposure "$u/inetkit-$s-listen.service" 1.5
	done
	[ "$n" -eq 7 ]
}

@test "relay's units: 8013 in front of echo on 8010, both kinds; the network, to loopback only" {
	local u=$DEST$(unitdir) f
	run grep -x 'ExecStart=/usr/local/libexec/inetkit/relay --session-timeout 3600 --state-dir ${RUNTIME_DIRECTORY} 127.0.0.1:8010' \
	    "$u/inetkit-relay@.service"
	assert_success
	run grep -x 'ExecStart=/usr/local/libexec/inetkit/relay --session-timeout 3600 127.0.0.1:8010' \
	    "$u/inetkit-relay-listen.service"
	assert_success
	run grep -E '^(ListenStream|Accept)=' "$u/inetkit-relay.socket" "$u/inetkit-relay-listen.socket"
	assert_output "$u/inetkit-relay.socket:ListenStream=8013
$u/inetkit-relay.socket:Accept=yes
$u/inetkit-relay-listen.socket:ListenStream=8013
$u/inetkit-relay-listen.socket:Accept=no"
	for f in "$u/inetkit-relay@.service" "$u/inetkit-relay-listen.service"; do
		# It connects out: no PrivateNetwork=, IP to loopback only, TCP and UNIX sockets.
		run grep -E '^(PrivateNetwork|IPAddressDeny|IPAddressAllow|RestrictAddressFamilies)=' "$f"
		assert_output "IPAddressDeny=any
IPAddressAllow=localhost
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"
		# Every other hardening line is echo's.
		run diff <(grep -E '^[A-Z][A-Za-z]*=' "${f/relay/echo}" |
		    grep -Ev '^(Description|Documentation|ExecStart|User|RuntimeDirectory|PrivateNetwork|IPAddress[A-Za-z]*|RestrictAddressFamilies)=' | sort) \
		    <(grep -E '^[A-Z][A-Za-z]*=' "$f" |
		    grep -Ev '^(Description|Documentation|ExecStart|User|RuntimeDirectory|PrivateNetwork|IPAddress[A-Za-z]*|RestrictAddressFamilies)=' | sort)
		assert_success
	done
}

@test "echo over UDP: a datagram socket on 8010 with Accept=no, its service as hardened as inetkit-echo-listen's" {
	local u=$DEST$(unitdir) v=$VERIFY$(unitdir) e listen
	run grep -E '^(Listen[A-Za-z]*|Accept)=' "$u/inetkit-echo-udp.socket"
	assert_output "ListenDatagram=8010
Accept=no"
	# The TCP echo's port: the same number, as RFC 862's 7 is both.
	run grep -x 'ListenStream=8010' "$u/inetkit-echo.socket" "$u/inetkit-echo-listen.socket"
	assert_equal "${#lines[@]}" 2
	run grep -x 'ExecStart=/usr/local/libexec/inetkit/echo --session-timeout 3600 --max-rate 100/10 --state-dir ${RUNTIME_DIRECTORY}' \
	    "$u/inetkit-echo-udp.service"
	assert_success
	run grep -E '^(User|RuntimeDirectory|RuntimeDirectoryMode|RuntimeDirectoryPreserve|DynamicUser|Standard[A-Za-z]*|TasksMax)=' \
	    "$u/inetkit-echo-udp.service"
	assert_output "StandardOutput=journal
StandardError=journal
DynamicUser=yes
User=inetkit-echo-udp
RuntimeDirectory=inetkit-echo-udp
RuntimeDirectoryMode=0700
RuntimeDirectoryPreserve=yes
TasksMax=2"
	# Every hardening line of the Accept=no echo, but its TasksMax and KillMode (one process).
	run diff <(grep -E '^[A-Z][A-Za-z]*=' "$u/inetkit-echo-listen.service" |
	    grep -Ev '^(Description|ExecStart|Standard[A-Za-z]*|KillMode|TimeoutStopSec|TasksMax|LimitNOFILE)=' | sort) \
	    <(grep -E '^[A-Z][A-Za-z]*=' "$u/inetkit-echo-udp.service" |
	    grep -Ev '^(Description|ExecStart|Standard[A-Za-z]*|User|RuntimeDirectory[A-Za-z]*|TasksMax|LimitNOFILE)=' | sort)
	assert_success
	run timeout 60 systemd-analyze security --offline=true --no-pager "$v/inetkit-echo-listen.service"
	listen=$(printf '%s\n' "$output" | exposure_of)
	[ -n "$listen" ] || fail "no exposure for inetkit-echo-listen.service"
	assert_exposure "$v/inetkit-echo-udp.service" "$listen"
}

@test "the UDP xinetd entry: dgram, udp, wait = yes, its own user, disabled, the installed echo" {
	local x=$DEST/etc/xinetd.d/inetkit-echo-udp
	run grep -E '^[[:space:]]*(disable|socket_type|protocol|port|wait|user|group|server|cps)[[:space:]]*=' "$x"
	assert_output "$(printf '\t%s\n' 'disable		= yes' 'socket_type	= dgram' 'protocol	= udp' \
	    'port		= 8010' 'wait		= yes' 'user		= inetkit-echo-udp' \
	    'group		= inetkit-echo-udp' 'server		= /usr/local/libexec/inetkit/echo' \
	    'cps		= 10 30')"
	run grep -c '@[A-Z]*@' "$x"
	assert_output 0
	start_xinetd "$x"
	run grep -E 'ERROR|WARNING|bad' "$XINETD_OWN"
	assert_failure 1
	run grep -c 'Started working: 1 available service' "$XINETD_OWN"
	assert_output 1
}
