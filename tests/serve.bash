# Helpers for the suites that serve over loopback from chosen source
# addresses (blockip, blocklist-hostile, proxy, limits, fail2ban): a client
# bound to a source address (client), the PROXY-protocol client (RAWCLIENT)
# and a real HAProxy in front of the service (haproxy_front). Starting the
# service (activate, listen_on) and reading the activator's log
# (child_status, wait_log) are in helpers.bash. Load after helpers:
#   load helpers
#   load serve

# Sends stdin to the service from source address $1 (to $2, default
# 127.0.0.1); the reply goes to $BATS_TEST_TMPDIR/out, its size to stdout.
client() {
	local src=$1 dst=${2:-127.0.0.1} out="$BATS_TEST_TMPDIR/out"
	case $dst in
	*:*) socat -t 5 -T 10 - "TCP6:[$dst]:$PORT${src:+,bind=[$src]}" >"$out" 2>/dev/null || true ;;
	*) socat -t 5 -T 10 - "TCP4:$dst:$PORT${src:+,bind=$src}" >"$out" 2>/dev/null || true ;;
	esac
	wc -c <"$out"
}

RAWCLIENT="$TOP/tests/rawclient.py"

# haproxy_front MODE: HAProxy in the foreground on a free loopback port
# (HPORT) relaying to $PORT with "send-proxy" or "send-proxy-v2".
haproxy_front() {
	command -v haproxy >/dev/null || skip "haproxy not installed"
	HPORT=$(free_port)
	cat >"$BATS_TEST_TMPDIR/haproxy.cfg" <<-EOF
	global
	    maxconn 64
	defaults
	    mode tcp
	    timeout connect 5s
	    timeout client 10s
	    timeout server 10s
	frontend fe
	    bind 127.0.0.1:$HPORT
	    default_backend be
	backend be
	    server echo 127.0.0.1:$PORT $1
	EOF
	bg haproxy -f "$BATS_TEST_TMPDIR/haproxy.cfg" -db 2>>"$BATS_TEST_TMPDIR/haproxy.log"
	# No probe: HAProxy would pass it on, a connection to the service.
	wait_listen "$HPORT" "${BG_PIDS##* }"
}
