#!/usr/bin/env bats
# The auth module through inetkit-cmdserver: htpasswd files made by Apache's
# own htpasswd, with htpasswd -vb as the oracle for every verdict, and PAM
# through pam_wrapper with private stacks (never the host's /etc/pam.d).

load helpers
load proto_helpers
load cmdserver_helpers

# The 72-byte bcrypt and 8-byte DES limits.
P72=0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789
COLON='pa:ss wo:rd '

setup_file() {
	local f=$BATS_FILE_TMPDIR/users
	export HT=$f
	htpasswd -cbm "$f" md5user 'apr1 secret' 2>/dev/null
	htpasswd -bB -C 5 "$f" bcuser 'bcrypt secret' 2>/dev/null
	htpasswd -bs "$f" shauser 'sha secret' 2>/dev/null
	htpasswd -bd "$f" desuser password 2>/dev/null
	htpasswd -b2 "$f" s256user 'sha256 secret' 2>/dev/null
	htpasswd -b5 "$f" s512user 'sha512 secret' 2>/dev/null
	htpasswd -b5 -r 20000 "$f" s512rounds 'rounds secret' 2>/dev/null
	htpasswd -bp "$f" plainuser 'plain secret' 2>/dev/null
	htpasswd -bB -C 5 "$f" bclong "$P72" 2>/dev/null
	htpasswd -bm "$f" 'with space' 'space secret' 2>/dev/null
	htpasswd -bm "$f" dot.name 'dot secret' 2>/dev/null
	htpasswd -bm "$f" 'üñíçødé' 'utf8 secret' 2>/dev/null
	htpasswd -bm "$f" colon "$COLON" 2>/dev/null
	htpasswd -bm "$f" CaseUser 'case secret' 2>/dev/null
	htpasswd -bm "$f" emptypass '' 2>/dev/null
	# yescrypt: htpasswd cannot write it; mkpasswd (whois) can, and htpasswd -v checks it through crypt(3).
	printf 'yuser:%s\n' "$(mkpasswd -m yescrypt 'yescrypt secret')" >>"$f"
	export PAMDIR=$BATS_FILE_TMPDIR/pam.d PDB=$BATS_FILE_TMPDIR/passdb
	mkdir -p "$PAMDIR"
}

# --- htpasswd: every format htpasswd writes, right and wrong --------------------

@test "htpasswd file holds one entry per format, made by htpasswd itself" {
	run grep -c '' "$HT"
	assert_output 16
	run cut -d: -f2 "$HT"
	assert_line --regexp '^\$apr1\$'
	assert_line --regexp '^\$2y\$05\$'
	assert_line --regexp '^\{SHA\}'
	assert_line --regexp '^[./0-9A-Za-z]{13}$'
	assert_line --regexp '^\$5\$'
	# A default-rounds $6$ entry and a rounds=20000 one (a salt may itself start "r").
	assert_line --regexp '^\$6\$rounds=20000\$'
	assert_equal "$(grep -c '^\$6\$' <<<"$output")" 2
	assert_equal "$(grep -c '^\$6\$rounds=' <<<"$output")" 1
	assert_line --regexp '^\$y\$'
	assert_line 'plain secret'
}

@test "htpasswd \$apr1\$ (htpasswd -m): right accepted, wrong refused" {
	check "$HT" md5user 'apr1 secret' accept
	check "$HT" md5user 'apr1 secreT' reject
	check "$HT" md5user '' reject
}

@test "htpasswd bcrypt (htpasswd -B -C 5): right accepted, wrong refused" {
	check "$HT" bcuser 'bcrypt secret' accept
	check "$HT" bcuser 'bcrypt secre' reject
}

@test "htpasswd {SHA} (htpasswd -s): right accepted, wrong refused" {
	check "$HT" shauser 'sha secret' accept
	check "$HT" shauser 'sha secret ' reject
}

@test "htpasswd DES (htpasswd -d): right accepted, wrong refused" {
	check "$HT" desuser password accept
	check "$HT" desuser Password reject
}

@test "htpasswd SHA-256 and SHA-512 crypt, with and without rounds" {
	check "$HT" s256user 'sha256 secret' accept
	check "$HT" s256user 'sha256 secrets' reject
	check "$HT" s512user 'sha512 secret' accept
	check "$HT" s512user 'sha512' reject
	check "$HT" s512rounds 'rounds secret' accept
	check "$HT" s512rounds 'rounds secre' reject
}

@test "htpasswd yescrypt (\$y\$, via libxcrypt): right accepted, wrong refused" {
	check "$HT" yuser 'yescrypt secret' accept
	check "$HT" yuser 'yescrypt' reject
}

@test "htpasswd passwords are case-sensitive, and a prefix or an extension is wrong" {
	check "$HT" md5user 'APR1 SECRET' reject
	check "$HT" md5user 'apr1' reject
	check "$HT" md5user 'apr1 secret2' reject
	check "$HT" s256user 'SHA256 secret' reject
	check "$HT" shauser 'sha secre' reject
}

@test "htpasswd user names are case-sensitive" {
	check "$HT" CaseUser 'case secret' accept
	check "$HT" caseuser 'case secret' reject
	check "$HT" CASEUSER 'case secret' reject
	check "$HT" MD5USER 'apr1 secret' reject
}

@test "htpasswd DES uses only the first 8 bytes of the password, as Apache does" {
	check "$HT" desuser password123 accept
	check "$HT" desuser passwordXYZ accept
	check "$HT" desuser passwor reject
}

@test "htpasswd bcrypt uses only the first 72 bytes of the password, as Apache does" {
	check "$HT" bclong "$P72" accept
	check "$HT" bclong "${P72}more" accept
	check "$HT" bclong "${P72%?}" reject
}

@test "htpasswd plain-text entry (htpasswd -p) is refused, and the log names its line" {
	check "$HT" plainuser 'plain secret' reject
	run grep -F 'line 8: hash in no supported format' "$ERR"
	assert_success
}

@test "htpasswd entries over the work limits are never computed: refused at once, logged" {
	local f=$BATS_TEST_TMPDIR/costly bc body
	bc=$(htpasswd -nbB -C 5 slow 'slow secret' 2>/dev/null | head -n 1)
	body=$(head -c 86 /dev/zero | tr '\0' A)
	{
		# htpasswd stops at -C 17; a hand-edited cost of 31 would take about a day.
		echo "${bc/\$2y\$05\$/\$2y\$31\$}"
		# htpasswd -5 -r 999999999 writes such an entry (in minutes); a check costs as much.
		echo "huge:\$6\$rounds=999999999\$saltsalt\$$body"
		echo "over:\$5\$rounds=10000001\$saltsalt\$$body"
		htpasswd -nbB -C 5 good 'good secret' 2>/dev/null | head -n 1
	} >"$f"
	# login_with's timeout (10 s) turns any attempt to compute them into "bad".
	run verdict "$f" slow 'slow secret'
	assert_output reject
	run grep -F 'login failed' "$ERR"
	assert_output --partial "line 1: bcrypt cost 31 over the limit of 17"
	run grep -F 'warning: htpasswd file' "$ERR"
	assert_line --partial "line 1: bcrypt cost 31 over the limit of 17; line skipped"
	assert_line --partial "line 2: 999999999 rounds over the limit of 10000000; line skipped"
	assert_line --partial "line 3: 10000001 rounds over the limit of 10000000; line skipped"
	run verdict "$f" huge 'x'
	assert_output reject
	run verdict "$f" over 'x'
	assert_output reject
	# The dummy an unknown user pays for is the first entry within the limits.
	run verdict "$f" nobody 'x'
	assert_output reject
	run grep -F 'unknown user' "$ERR"
	assert_success
	check "$f" good 'good secret' accept
}

@test "htpasswd an entry at the rounds limit (htpasswd -5 -r 10000000) is computed" {
	local f=$BATS_TEST_TMPDIR/limit
	htpasswd -cb5 -r 10000000 "$f" edge 'edge secret' 2>/dev/null
	run verdict "$f" edge 'edge secret'
	assert_output accept
	run grep -F 'over the limit' "$ERR"
	assert_failure
}

# fast_reject FILE USER: cmdserver refuses USER (any password) within 1 s.
# Every over-limit entry below would take from 1.7 s (BSDi's largest count)
# to days to compute; a login that computes none takes a few milliseconds.
# A hash in progress ignores SIGTERM, so the run is cut at 3 s by SIGKILL.
fast_reject() {
	local t0=${EPOCHREALTIME/./} rc=0 ms
	printf '%s\n' "$2" 'not the password' | timeout -s KILL 3 "$BIN/cmdserver" --fail-delay 0 \
	    --log stderr --htpasswd "$1" >"$OUT" 2>"$ERR" || rc=$?
	ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	[ "$rc" = 1 ] && [ "$(hex "$OUT")" = "$(hexf "Login: Password: $DENIED")" ] ||
		fail "user $2: exit $rc after $ms ms, output $(od -An -c "$OUT" | tr -s ' \n' ' ')"
	[ "$ms" -lt 1000 ] || fail "user $2: refused after $ms ms: an entry over the limits was computed"
}

# over_limits FILE WHY1 WHY2 PASS: FILE's lines 1 (user big) and 2 (long) are
# over the work limits, for reasons WHY1 and WHY2; line 3 (good) is within
# them, with password PASS.
over_limits() {
	local f=$1 why1=$2 why2=$3 pass=$4
	# An unknown user is checked against line 3, the first entry within the limits.
	fast_reject "$f" nobody
	run grep -F 'warning: htpasswd file' "$ERR"
	assert_line --partial "htpasswd file $f line 1: $why1; line skipped"
	assert_line --partial "htpasswd file $f line 2: $why2; line skipped"
	assert_equal "${#lines[@]}" 2
	run grep -F 'login failed for user nobody from unknown: unknown user' "$ERR"
	assert_success
	# An over-limit entry of the user's own: refused at once, with its line and reason.
	fast_reject "$f" big
	run grep -F "login failed for user big from unknown: htpasswd file $f line 1: $why1" "$ERR"
	assert_success
	fast_reject "$f" long
	run grep -F "login failed for user long from unknown: htpasswd file $f line 2: $why2" "$ERR"
	assert_success
	# The entry within the limits logs in, as htpasswd -vb (through crypt(3)) agrees.
	check "$f" good "$pass" accept
}

# yescrypt_over_limits METHOD PREFIX: an entry of mkpasswd's METHOD (whose
# settings begin PREFIX) with N raised, one with t raised, and one as made.
yescrypt_over_limits() {
	local m=$1 p=$2 f=$BATS_TEST_TMPDIR/$1 y
	# mkpasswd's default, -R 5: N = 2^12 blocks of r = 32 x 128 bytes (16 MiB).
	y=$(mkpasswd -m "$m" 'good secret')
	{
		# N raised to 2^19 (j9T to jGT; mkpasswd writes up to 2^18, at -R 11): 2 GiB.
		echo "big:${y/\$$p\$j9T\$/\$$p\$jGT\$}"
		# t = 2^20 ("/" says t follows, "y/vrD" is 2^20): that many passes over the 16 MiB.
		echo "long:${y/\$$p\$j9T\$/\$$p\$j9T\/y\/vrD\$}"
		echo "good:$y"
	} >"$f"
	over_limits "$f" "$m needs 2049 MiB of memory, over the limit of 257 MiB" \
	    "$m mixes 16777217 MiB of memory, over the limit of 4096 MiB" 'good secret'
}

@test "htpasswd yescrypt over the limits: never computed, reported; within them: logs in" {
	yescrypt_over_limits yescrypt y
}

@test "htpasswd gost-yescrypt over the limits: never computed, reported; within them: logs in" {
	yescrypt_over_limits gost-yescrypt gy
}

@test "htpasswd scrypt over the limits: never computed, reported; within them: logs in" {
	local f=$BATS_TEST_TMPDIR/scrypt s
	# mkpasswd's default, -R 7: "C" is log2 N = 14, "U...." r = 32, "/...." p = 1 (64 MiB).
	s=$(mkpasswd -m scrypt 'good secret')
	{
		# log2 N = 19 ("H"): 2 GiB.
		echo "big:${s/\$7\$CU/\$7\$HU}"
		# r = 1 and p = 2^20 ("...2."): a million passes, one after the other, over 2 MiB.
		echo "long:${s/\$7\$CU....\/..../\$7\$C\/.......2.}"
		echo "good:$s"
	} >"$f"
	over_limits "$f" 'scrypt needs 2049 MiB of memory, over the limit of 257 MiB' \
	    'scrypt mixes 4195840 MiB of memory, over the limit of 4096 MiB' 'good secret'
}

@test "htpasswd BSDi extended DES over the rounds limit: never computed, reported; within it: logs in" {
	local f=$BATS_TEST_TMPDIR/bsdi b
	# mkpasswd's default count, 725 ("J9..").
	b=$(mkpasswd -m bsdicrypt 'good secret')
	{
		# "_", the count in four characters, least significant first, the salt, the hash.
		echo 'big:_zzzzsaltAAAAAAAAAAA'	# 16777215, the most the count holds: 1.7 s
		echo 'long:_/O7asaltAAAAAAAAAAA'	# 10000001
		echo "good:$b"
	} >"$f"
	over_limits "$f" '16777215 rounds over the limit of 10000000' \
	    '10000001 rounds over the limit of 10000000' 'good secret'
}

@test "htpasswd yescrypt at the memory limit: mkpasswd -R 9 (256 MiB) logs in, -R 10 is refused" {
	local f=$BATS_TEST_TMPDIR/ylimit
	{
		printf 'edge:%s\n' "$(mkpasswd -m yescrypt -R 9 'edge secret')"
		printf 'over:%s\n' "$(mkpasswd -m yescrypt -R 10 'over secret')"
	} >"$f"
	run verdict "$f" edge 'edge secret'
	assert_output accept
	run grep -F 'warning: htpasswd file' "$ERR"
	assert_output --partial "line 2: yescrypt needs 513 MiB of memory, over the limit of 257 MiB; line skipped"
	refute_output --partial 'line 1:'
	run verdict "$f" over 'over secret'
	assert_output reject
}

@test "htpasswd settings libxcrypt would read as more than they say, or cannot be costed, are never computed" {
	local f=$BATS_TEST_TMPDIR/misread
	{
		# strtoul() takes a sign: libxcrypt would run 2^64 - 1 iterations.
		echo 'neg:$sha1$-1$saltsalt$AAAAAAAAAAAAAAAAAAAAAAAAAAAA'
		# SunMD5's bug-compatible "$md5$rounds=", as costly as "$md5,rounds=".
		echo 'md5:$md5$rounds=999999999$saltsalt$AAAAAAAAAAAAAAAAAAAAAA'
		# yescrypt's NROM (a ROM, never given) and a format with no row at all.
		echo 'rom:$y$j9T5.$saltsaltsaltsaltsaltsa$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
		echo 'argon:$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA'
		htpasswd -nbB -C 5 good 'good secret' 2>/dev/null | head -n 1
	} >"$f"
	fast_reject "$f" nobody
	run grep -F 'warning: htpasswd file' "$ERR"
	assert_line --partial "line 1: sha1crypt cost unreadable; line skipped"
	assert_line --partial "line 2: 999999999 rounds over the limit of 5000000; line skipped"
	assert_line --partial "line 3: yescrypt upgrade or ROM parameter, never computed; line skipped"
	assert_line --partial "line 4: hash format not in the table of work limits; line skipped"
	fast_reject "$f" neg
	fast_reject "$f" md5
	run grep -F "login failed for user md5 from unknown: htpasswd file $f line 2: 999999999 rounds" "$ERR"
	assert_success
	fast_reject "$f" argon
	check "$f" good 'good secret' accept
}

@test "htpasswd user names with spaces, dots and UTF-8" {
	check "$HT" 'with space' 'space secret' accept
	check "$HT" 'with' 'space secret' reject
	check "$HT" dot.name 'dot secret' accept
	check "$HT" dotxname 'dot secret' reject
	check "$HT" 'üñíçødé' 'utf8 secret' accept
	check "$HT" 'uñíçødé' 'utf8 secret' reject
}

@test "htpasswd passwords with colons and spaces, trailing space included" {
	check "$HT" colon "$COLON" accept
	check "$HT" colon "${COLON% }" reject
	check "$HT" colon 'pa' reject
}

@test "htpasswd an entry with an empty password takes only the empty password" {
	check "$HT" emptypass '' accept
	check "$HT" emptypass ' ' reject
}

@test "htpasswd unknown user is refused, as htpasswd -vb refuses it" {
	check "$HT" nosuchuser 'apr1 secret' reject
	check "$HT" '' '' reject
}

@test "htpasswd the name ends at the first colon: a name with a colon never matches" {
	check "$HT" 'md5user:' 'apr1 secret' reject
}

@test "htpasswd over-long password (513 bytes) is refused; 512 bytes is accepted" {
	local p512 f=$BATS_TEST_TMPDIR/long
	p512=$(head -c 512 /dev/zero | tr '\0' 'p')
	# htpasswd refuses passwords over 255 bytes, so it can neither make the
	# entry nor be the oracle; nor can openssl passwd (it cuts at 256) or
	# libxcrypt (511). This {SHA} entry is what htpasswd -s would write.
	python3 -c 'import base64, hashlib, sys
print("longpw:{SHA}" + base64.b64encode(hashlib.sha1(sys.argv[1].encode()).digest()).decode())' \
	    "$p512" >"$f"
	run verdict "$f" longpw "$p512"
	assert_output accept
	run verdict "$f" longpw "${p512%?}"
	assert_output reject
	# inetkit caps passwords at 512 bytes (AUTH_PASS_MAX).
	run verdict "$f" longpw "${p512}p"
	assert_output reject
	run grep -F 'password over 512 bytes' "$ERR"
	assert_success
}

@test "htpasswd 255-byte passwords, htpasswd's own limit, agree with htpasswd -vb" {
	local p f=$BATS_TEST_TMPDIR/p255
	p=$(head -c 255 /dev/zero | tr '\0' 'q')
	htpasswd -cb5 "$f" u255 "$p" 2>/dev/null
	htpasswd -bm "$f" m255 "$p" 2>/dev/null
	htpasswd -bs "$f" s255 "$p" 2>/dev/null
	check "$f" u255 "$p" accept
	check "$f" u255 "${p%?}" reject
	check "$f" m255 "$p" accept
	check "$f" m255 "${p%?}x" reject
	check "$f" s255 "$p" accept
}

# --- htpasswd: the file ----------------------------------------------------------

@test "htpasswd malformed lines are skipped and logged with their line numbers" {
	local f=$BATS_TEST_TMPDIR/mixed
	{
		echo '# a comment'
		echo 'no colon here'
		echo ':emptyname'
		echo 'emptyhash:'
		echo ''
		htpasswd -nbm good 'good secret' 2>/dev/null | head -n 1
		printf 'long:%s\n' "$(head -c 9000 /dev/zero | tr '\0' x)"
	} >"$f"
	# htpasswd -v gives up on such a file; Apache's server (mod_authn_file) skips the lines.
	run verdict "$f" good 'good secret'
	assert_output accept
	run grep -F 'warning: htpasswd file' "$ERR"
	assert_line --partial "line 2: no colon after the user name; line skipped"
	assert_line --partial "line 3: empty user name; line skipped"
	assert_line --partial "line 4: empty hash; line skipped"
	assert_line --partial "line 7: longer than 8192 bytes; line skipped"
	assert_equal "${#lines[@]}" 4
}

@test "htpasswd file with CRLF line ends still works" {
	local f=$BATS_TEST_TMPDIR/crlf
	htpasswd -nbB -C 4 crlf 'crlf secret' 2>/dev/null | head -n 1 | sed 's/$/\r/' >"$f"
	run verdict "$f" crlf 'crlf secret'
	assert_output accept
}

@test "htpasswd file is read per connection: an edit takes effect at the next login" {
	local f=$BATS_TEST_TMPDIR/edit
	htpasswd -cbm "$f" alice first 2>/dev/null
	run verdict "$f" alice first
	assert_output accept
	htpasswd -bm "$f" alice second 2>/dev/null
	run verdict "$f" alice first
	assert_output reject
	run verdict "$f" alice second
	assert_output accept
}

@test "htpasswd missing file: Access Denied, the reason logged, exit 111" {
	run login_with alice pw -- --htpasswd "$BATS_TEST_TMPDIR/nonexistent"
	assert_equal "$status" 111
	assert_out "Login: Password: $DENIED"
	run grep -F "unable to read htpasswd file $BATS_TEST_TMPDIR/nonexistent: No such file" "$ERR"
	assert_success
}

@test "htpasswd unreadable file (a directory): Access Denied, the reason logged, exit 111" {
	mkdir "$BATS_TEST_TMPDIR/dir"
	run login_with alice pw -- --htpasswd "$BATS_TEST_TMPDIR/dir"
	assert_equal "$status" 111
	assert_out "Login: Password: $DENIED"
	run grep -F "unable to read htpasswd file $BATS_TEST_TMPDIR/dir: Is a directory" "$ERR"
	assert_success
}

@test "htpasswd empty file refuses everyone" {
	: >"$BATS_TEST_TMPDIR/empty"
	run verdict "$BATS_TEST_TMPDIR/empty" alice pw
	assert_output reject
}

# --- PAM through pam_wrapper ---------------------------------------------------------

# pam SERVICE LINES: writes $PAMDIR/SERVICE.
pam_service() {
	printf '%s\n' "${@:2}" >"$PAMDIR/$1"
}

@test "pam success: the module's prompt, then the welcome" {
	printf 'alice:secret:plain\n' >"$PDB"
	pam_service plain "auth required $PAM_MATRIX passdb=$PDB" \
	    "account required $PAM_MATRIX passdb=$PDB"
	pam_env
	run cmd 'alice\r\nsecret\r\ndate\r\nquit\r\n' --pam plain --log-level 3
	assert_success
	run sed -n 1,2p "$OUT"
	assert_output "$(printf "Login: Password: $WELCOME")"
	run sed -n '3,$p' "$OUT"
	assert_output --regexp '^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 123][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}$'
	run grep -F 'login: user alice' "$ERR"
	assert_success
}

@test "pam failure: wrong password and unknown user get the same bytes, exit 1" {
	printf 'alice:secret:plain\n' >"$PDB"
	pam_service plain "auth required $PAM_MATRIX passdb=$PDB" \
	    "account required $PAM_MATRIX passdb=$PDB"
	pam_env
	run cmd 'alice\nwrong\n' --pam plain
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	run cmd 'nobodyhere\nsecret\n' --pam plain
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	run grep -F 'login failed for user nobodyhere from unknown: pam_authenticate' "$ERR"
	assert_success
}

@test "pam info and error messages become lines (pam_matrix verbose)" {
	printf 'alice:secret:verbose\n' >"$PDB"
	pam_service verbose "auth required $PAM_MATRIX passdb=$PDB verbose" \
	    "account required $PAM_MATRIX passdb=$PDB"
	pam_env
	run cmd 'alice\nsecret\nquit\n' --pam verbose
	assert_success
	assert_out "Login: Password: Authentication succeeded\n$WELCOME"
	run cmd 'alice\nwrong\n' --pam verbose
	assert_failure 1
	assert_out "Login: Password: Authentication failed\n$DENIED"
}

@test "pam two-prompt stack: both answers are asked for and both must be right" {
	local otp=$BATS_TEST_TMPDIR/otp
	printf 'alice:secret:two\n' >"$PDB"
	printf 'alice:123456:two\n' >"$otp"
	# The second pam_matrix is a one-time-password step, with an ECHO_ON prompt.
	pam_service two "auth required $PAM_MATRIX passdb=$PDB" \
	    "auth required $PAM_MATRIX passdb=$otp echo" "account required $PAM_MATRIX passdb=$PDB"
	pam_env
	run cmd 'alice\nsecret\n123456\nquit\n' --pam two
	assert_success
	assert_out "Login: Password: Password: $WELCOME"
	run cmd 'alice\nsecret\n654321\n' --pam two
	assert_failure 1
	assert_out "Login: Password: Password: $DENIED"
	# End of input at the second prompt: Access Denied at once, even with a fail delay.
	SECONDS=0
	run feed 'alice\nsecret\n' env "${CMD_ENV[@]}" "$BIN/cmdserver" --pam two --fail-delay 5 \
	    --log stderr
	assert_failure 1
	assert_out "Login: Password: Password: $DENIED"
	[ "$SECONDS" -lt 4 ] || fail "took $SECONDS s: the fail delay was applied to an EOF"
}

@test "pam_acct_mgmt refusal after a right password: a clear line, then Access Denied" {
	printf 'bob:bobpw:otherservice\n' >"$PDB"
	pam_service acct "auth required $PAM_MATRIX passdb=$PDB" \
	    "account required $PAM_MATRIX passdb=$PDB"
	pam_env
	run cmd 'bob\nbobpw\ndate\n' --pam acct
	assert_failure 1
	assert_out "Login: Password: Account locked or not permitted\n$DENIED"
	run grep -F 'pam_acct_mgmt: Permission denied' "$ERR"
	assert_success
}

# pam_unix itself, against a passwd and shadow database of the test's own,
# bind-mounted over /etc/passwd and /etc/shadow in a private mount namespace
# (so the host's stay untouched): ok is current, ex expired two days ago,
# chg must change its password (last change 0).
shadow_db() {
	local d=$BATS_TEST_TMPDIR h today
	unshare -m true 2>/dev/null || skip "no private mount namespace here (unshare -m)"
	h=$(mkpasswd -m sha-512 'unix secret')
	today=$(($(date +%s) / 86400))
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'ok:x:2001:2001::/nonexistent:/bin/false' \
	    'ex:x:2002:2002::/nonexistent:/bin/false' 'chg:x:2003:2003::/nonexistent:/bin/false' \
	    >"$d/passwd"
	printf '%s\n' "root:*:$today:0:99999:7:::" "ok:$h:$today:0:99999:7:::" \
	    "ex:$h:$today:0:99999:7::$((today - 2)):" "chg:$h:0:0:99999:7:::" >"$d/shadow"
	pam_service unixdb 'auth required pam_unix.so' 'account required pam_unix.so'
	pam_env
}

# cmd, inside the namespace that shadow_db's files are mounted in.
cmd_shadow() {
	local fmt=$1 d=$BATS_TEST_TMPDIR
	shift
	feed "$fmt" unshare -m sh -c 'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/shadow &&
	    shift 2 && exec "$@"' sh "$d/passwd" "$d/shadow" \
	    env "${CMD_ENV[@]}" "$BIN/cmdserver" --fail-delay 0 --log stderr "$@"
}

@test "pam_unix: a current account logs in from a real shadow database" {
	shadow_db
	run cmd_shadow 'ok\nunix secret\nquit\n' --pam unixdb
	assert_success
	assert_out "Login: Password: $WELCOME"
}

@test "pam_unix: an expired account gets the module's line and Account expired, logged" {
	shadow_db
	run cmd_shadow 'ex\nunix secret\ndate\n' --pam unixdb
	assert_failure 1
	assert_out "Login: Password: Your account has expired; please contact your system administrator.\nAccount expired\n$DENIED"
	run grep -F 'login failed for user ex from unknown: pam_acct_mgmt: User account has expired' "$ERR"
	assert_success
}

@test "pam_unix: a password that must be changed gets Password expired, logged" {
	shadow_db
	run cmd_shadow 'chg\nunix secret\ndate\n' --pam unixdb
	assert_failure 1
	assert_out "Login: Password: You are required to change your password immediately (administrator enforced).\nPassword expired\n$DENIED"
	run grep -F 'login failed for user chg from unknown: pam_acct_mgmt: Authentication token is no longer valid; new one required' "$ERR"
	assert_success
}

@test "pam_unix: without the right password an expired account looks like any failure" {
	local u
	shadow_db
	for u in ex chg ok nosuchuser; do
		run cmd_shadow "$u\\nwrong\\n" --pam unixdb
		assert_failure 1
		assert_out "Login: Password: $DENIED"
	done
}

@test "pam_acct_mgmt refusal relays the module's message (pam_nologin)" {
	printf 'nobody:nopw:nologin\n' >"$PDB"
	printf 'Closed for maintenance\n' >"$BATS_TEST_TMPDIR/nologin"
	pam_service nologin "auth required $PAM_MATRIX passdb=$PDB" \
	    "account required $PAM_MODULES/pam_nologin.so file=$BATS_TEST_TMPDIR/nologin"
	pam_env
	run cmd 'nobody\nnopw\n' --pam nologin
	assert_failure 1
	assert_out "Login: Password: Closed for maintenance\nAccount locked or not permitted\n$DENIED"
}

@test "pam PAM_RHOST is the client address and PAM_TTY is inetkit-cmdserver (pam_access)" {
	printf 'nobody:nopw:access\n' >"$PDB"
	printf -- '-:ALL:127.0.0.2\n-:ALL:inetkit-cmdserver\n+:ALL:ALL\n' >"$BATS_TEST_TMPDIR/access.conf"
	pam_service access "auth required $PAM_MATRIX passdb=$PDB" \
	    "account required $PAM_MODULES/pam_access.so accessfile=$BATS_TEST_TMPDIR/access.conf"
	pam_env
	CMD_ENV+=(PROTO=TCP TCPREMOTEIP=127.0.0.1)
	run cmd 'nobody\nnopw\nquit\n' --pam access
	assert_success
	assert_out "Login: Password: $WELCOME"
	CMD_ENV[-1]=TCPREMOTEIP=127.0.0.2
	run cmd 'nobody\nnopw\nquit\n' --pam access
	assert_failure 1
	assert_out "Login: Password: Account locked or not permitted\n$DENIED"
	# No client address (a pipe): pam_access matches the tty instead.
	pam_env
	run cmd 'nobody\nnopw\nquit\n' --pam access
	assert_failure 1
	assert_out "Login: Password: Account locked or not permitted\n$DENIED"
}

@test "pam messages are bounded: a module sending more than 16 fails the login" {
	printf 'alice:secret:chatty\n' >"$PDB"
	pam_service chatty "auth required $PAM_CHATTY num_lines=20 info" \
	    "auth required $PAM_MATRIX passdb=$PDB" "account required $PAM_MATRIX passdb=$PDB"
	pam_env
	run cmd 'alice\nsecret\n' --pam chatty
	assert_failure 1
	run grep -c 'Authentication succeeded$' "$OUT"
	assert_output 16
	run tail -c 14 "$OUT"
	assert_output 'Access Denied'
	run grep -F 'more than 16 PAM messages' "$ERR"
	assert_success
}

@test "pam a few module messages pass, in order, before the password prompt" {
	printf 'alice:secret:chatty\n' >"$PDB"
	pam_service chatty "auth required $PAM_CHATTY num_lines=3 info error" \
	    "auth required $PAM_MATRIX passdb=$PDB" "account required $PAM_MATRIX passdb=$PDB"
	pam_env
	run cmd 'alice\nsecret\nquit\n' --pam chatty
	assert_success
	assert_out "Login: Authentication succeeded\nAuthentication succeeded\nAuthentication succeeded\nAuthentication generated an error\nAuthentication generated an error\nAuthentication generated an error\nPassword: $WELCOME"
}

@test "pam over-long answer (600 bytes) fails the login" {
	local p
	printf 'alice:secret:plain\n' >"$PDB"
	pam_service plain "auth required $PAM_MATRIX passdb=$PDB" \
	    "account required $PAM_MATRIX passdb=$PDB"
	pam_env
	p=$(head -c 600 /dev/zero | tr '\0' s)
	run cmd "alice\n$p\n" --pam plain
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	run grep -F 'answer over 512 bytes' "$ERR"
	assert_success
}

@test "pam an empty or over-long name still gets a password prompt, and never reaches PAM" {
	local u
	printf 'alice:secret:plain\n' >"$PDB"
	pam_service plain "auth required $PAM_MATRIX passdb=$PDB verbose" \
	    "account required $PAM_MATRIX passdb=$PDB"
	pam_env
	run cmd '\nsecret\n' --pam plain
	assert_failure 1
	assert_out "Login: Password: $DENIED"
	u=$(head -c 2000 /dev/zero | tr '\0' u)
	run cmd "$u\nsecret\n" --pam plain
	assert_failure 1
	assert_out "Login: Password: $DENIED"
}

@test "pam unknown service file: Access Denied and exit 111 or 1, never a crash" {
	pam_env
	run cmd 'alice\nsecret\n' --pam no-such-service
	[ "$status" = 1 ] || [ "$status" = 111 ] || fail "exit $status"
	run tail -c 14 "$OUT"
	assert_output 'Access Denied'
}

@test "a name no backend may see: a password prompt, the same bytes, and its reason logged, htpasswd and PAM alike" {
	local u b
	u=$(head -c 2000 /dev/zero | tr '\0' u)
	printf 'alice:secret:plain\n' >"$PDB"
	pam_service plain "auth required $PAM_MATRIX passdb=$PDB verbose" \
	    "account required $PAM_MATRIX passdb=$PDB"
	for b in "--htpasswd $HT" "--pam plain"; do
		[ "${b%% *}" = --pam ] && pam_env
		# shellcheck disable=SC2086
		run cmd '\nsecret\n' $b
		assert_failure 1
		assert_out "Login: Password: $DENIED"
		grep -qF 'login failed for user - from unknown: empty user name' "$ERR" || fail "$b: $(cat "$ERR")"
		# shellcheck disable=SC2086
		run cmd "$u\nsecret\n" $b
		assert_failure 1
		assert_out "Login: Password: $DENIED"
		grep -qF 'login failed for user (too-long) from unknown: user name over 256 bytes' "$ERR" ||
			fail "$b: $(cat "$ERR")"
		# shellcheck disable=SC2086
		run cmd 'al\0ice\nsecret\n' $b
		assert_failure 1
		assert_out "Login: Password: $DENIED"
		grep -qF ': NUL byte in the user name' "$ERR" || fail "$b: $(cat "$ERR")"
		# A client that leaves at that prompt abandons the login, as with any name.
		# shellcheck disable=SC2086
		run cmd 'al\0ice\n' $b
		assert_failure 1
		assert_out "Login: Password: $DENIED"
		grep -qF 'at a password prompt: eof' "$ERR" || fail "$b: $(cat "$ERR")"
	done
}
