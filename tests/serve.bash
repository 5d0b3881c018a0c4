# Helpers for the suites that serve over loopback and read the activator's
# log (blockip, proxy). Load after helpers: load serve

# Polls until FILE has a line matching the ERE, up to $3 seconds (default 10).
wait_log() {
	local f=$1 re=$2 deadline=$((SECONDS + ${3:-10}))
	until grep -Eq -- "$re" "$f" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "no line matching '$re' in $f:" >&2
			cat "$f" >&2
			return 1
		fi
		sleep 0.05
	done
}

# Serves "$@" under systemd-socket-activate --inetd on listen address $1
# ("127.0.0.1", "::1", "::ffff:127.0.0.1"); sets PORT. Its log (and the
# programs' stderr) goes to $LOG, where "died with code N" gives exit codes.
serve_on() {
	local host=$1
	shift
	PORT=$(free_port)
	case $host in
	*:*) bg systemd-socket-activate --inetd -a -l "[$host]:$PORT" "$@" 2>>"$LOG" ;;
	*) bg systemd-socket-activate --inetd -a -l "$host:$PORT" "$@" 2>>"$LOG" ;;
	esac
	wait_log "$LOG" "Listening on .*:$PORT"
}

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

# The Nth "died with code" in the activator's log.
child_status() {
	wait_log "$LOG" "died with code" || return 1
	local deadline=$((SECONDS + 10))
	while [ "$(grep -c 'died with code' "$LOG")" -lt "$1" ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
	grep 'died with code' "$LOG" | sed -n "${1}p" | sed 's/.*died with code //'
}

has_ipv6_loopback() {
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null
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
	wait_port "$HPORT"
}
