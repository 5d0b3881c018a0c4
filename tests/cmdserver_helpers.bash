# Helpers for the cmdserver suites (cmdserver, auth, timing, abuse, deploy):
# its prompts and replies (WELCOME, USAGE, DENIED), a login on a pipe (cmd,
# login_with), the htpasswd oracle (verdict, oracle, check), PAM through
# pam_wrapper (pam_env) and utmp fixtures. Load after helpers and
# proto_helpers (deploy.bats, which loads no proto_helpers, takes only the
# replies and pam_env).

WELCOME='Welcome to inetkit cmdserver\nAvailable commands: motd date who quit\n'
USAGE='Commands: motd date who quit\n'
DENIED='Access Denied\n'
PAMLIB=/usr/lib/x86_64-linux-gnu
PAM_MATRIX=$PAMLIB/pam_wrapper/pam_matrix.so
PAM_CHATTY=$PAMLIB/pam_wrapper/pam_chatty.so
PAM_MODULES=$PAMLIB/security

# Runs cmdserver on a pipe with printf FORMAT as input, as feed does; no
# fail delay and logs on stderr unless the arguments say otherwise.
# CMD_ENV holds extra environment (pam_env sets it).
CMD_ENV=()
cmd() {
	local fmt=$1
	shift
	feed "$fmt" env "${CMD_ENV[@]}" "$BIN/cmdserver" --fail-delay 0 --log stderr "$@"
}

# The same with the lines given as arguments: login USER PASS [LINE...] -- ARGS.
login_with() {
	local lines=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		lines+=("$1")
		shift
	done
	shift
	printf '%s\n' "${lines[@]}" | timeout -k 2 10 env "${CMD_ENV[@]}" "$BIN/cmdserver" \
	    --fail-delay 0 --log stderr "$@" >"$OUT" 2>"$ERR"
}

# What cmdserver made of USER and PASSWORD against htpasswd FILE: accept or
# reject, each with its exact bytes and exit status; anything else is "bad".
verdict() {
	local file=$1 user=$2 pass=$3 rc=0
	login_with "$user" "$pass" -- --htpasswd "$file" || rc=$?
	if [ "$rc" = 0 ] && [ "$(hex "$OUT")" = "$(hexf "Login: Password: $WELCOME")" ]; then
		echo accept
	elif [ "$rc" = 1 ] && [ "$(hex "$OUT")" = "$(hexf "Login: Password: $DENIED")" ]; then
		echo reject
	else
		echo "bad (exit $rc, output $(od -An -c "$OUT" | tr -s ' \n' ' '))"
	fi
}

# htpasswd -vb's verdict: accept or reject.
oracle() {
	if htpasswd -vb "$1" "$2" "$3" >/dev/null 2>&1; then echo accept; else echo reject; fi
}

# check FILE USER PASSWORD EXPECTED: Apache's htpasswd -vb gives EXPECTED
# (accept or reject), and cmdserver agrees with it.
check() {
	local file=$1 user=$2 pass=$3 want=$4 o v
	o=$(oracle "$file" "$user" "$pass")
	[ "$o" = "$want" ] ||
		fail "htpasswd -vb says $o for user '$user' password '$pass'; the test expects $want"
	v=$(verdict "$file" "$user" "$pass")
	[ "$v" = "$o" ] ||
		fail "cmdserver says $v for user '$user' password '$pass'; htpasswd -vb says $o"
}

# CMD_ENV for a PAM test: pam_wrapper reads the services in $PAMDIR, never
# /etc/pam.d. Under ASan (BUILD=build/san), libasan must be preloaded ahead
# of pam_wrapper, which then skips RTLD_DEEPBIND (the sanitizer forbids it);
# the leak checker stays on.
pam_env() {
	local pre=libpam_wrapper.so
	CMD_ENV=()
	if ldd "$BIN/cmdserver" | grep -q libasan; then
		pre="$(gcc -print-file-name=libasan.so) $pre"
		CMD_ENV+=(ASAN_OPTIONS=verify_asan_link_order=0)
	fi
	CMD_ENV+=("LD_PRELOAD=$pre" PAM_WRAPPER=1 "PAM_WRAPPER_SERVICE_DIR=$PAMDIR")
}

# A utmp fixture from utmpdump's text format (util-linux), as utmpdump -r makes it.
make_utmp() {
	utmpdump -r >"$1" 2>/dev/null
}
