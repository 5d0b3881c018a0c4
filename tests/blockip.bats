#!/usr/bin/env bats
# inetkit-blockip: block list decisions over pipes and real loopback sockets,
# list edge cases, the compiled index, --check, exec failures, tcpserver.

load helpers
load serve
bats_require_minimum_version 1.5.0

setup() {
	LIST="$BATS_TEST_TMPDIR/blocked"
	# The activator's log, with the programs' stderr (child_status reads it).
	LOG=$ACTIVATE_LOG
	: >"$LOG"
}

teardown() {
	kill_bg
}

@test "blockip exits 1 and sends nothing to a listed loopback client, serves the others" {
	printf '# test list\n127.0.0.2\n' >"$LIST"
	activate inetd "$BIN/blockip" "$LIST" "$BIN/echo"
	run client 127.0.0.2 <<<"hello"
	assert_output 0
	run child_status 1
	assert_output 1
	wait_log "$LOG" "blocked 127\.0\.0\.2 \($LIST line 2: 127\.0\.0\.2\)"
	run client 127.0.0.1 <<<"hello"
	assert_output 6
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "hello"
	run child_status 2
	assert_output 0
}

@test "blockip blocks and allows ::1 by IPv6 entries" {
	has_ipv6_loopback || skip "no IPv6 loopback"
	printf '::1/128\n' >"$LIST"
	activate inetd --host ::1 "$BIN/blockip" "$LIST" "$BIN/echo"
	run client ::1 ::1 <<<"hello"
	assert_output 0
	wait_log "$LOG" "blocked ::1 \($LIST line 1: ::1\)"
	printf '2001:db8::/32\n' >"$LIST.new"
	mv "$LIST.new" "$LIST"
	run client ::1 ::1 <<<"hello"
	assert_output 6
	run child_status 2
	assert_output 0
}

@test "blockip matches a v4-mapped client (IPv6 socket) by its IPv4 entry" {
	printf '127.0.0.2\n' >"$LIST"
	activate inetd --host ::ffff:127.0.0.1 "$BIN/blockip" "$LIST" env
	run client 127.0.0.2 </dev/null
	assert_output 0
	wait_log "$LOG" "blocked 127\.0\.0\.2 \("
	run client 127.0.0.3 </dev/null
	assert_output --regexp '^[1-9][0-9]*$'
	run grep -x 'TCPREMOTEIP=127.0.0.3' "$BATS_TEST_TMPDIR/out"
	assert_success
	run grep -x 'PROTO=TCP' "$BATS_TEST_TMPDIR/out"
	assert_success
}

@test "blockip reports the most specific of nested CIDR blocks over real sockets" {
	printf '127.0.0.0/8\n127.0.0.0/29\n127.0.0.2\n127.0.0.0/29\n' >"$LIST"
	activate inetd "$BIN/blockip" "$LIST" "$BIN/echo"
	run client 127.0.0.2 <<<"x"
	assert_output 0
	wait_log "$LOG" "blocked 127\.0\.0\.2 \($LIST line 3: 127\.0\.0\.2\)"
	run client 127.0.0.3 <<<"x"
	assert_output 0
	wait_log "$LOG" "blocked 127\.0\.0\.3 \($LIST line 2: 127\.0\.0\.0/29\)"
	run client 127.0.0.9 <<<"x"
	assert_output 0
	wait_log "$LOG" "blocked 127\.0\.0\.9 \($LIST line 1: 127\.0\.0\.0/8\)"
}

@test "blockip --check reports nested blocks, duplicates and v4-mapped addresses" {
	cat >"$LIST" <<-'EOF'
	10.0.0.0/8
	10.1.0.0/16   # a nested block
	10.1.2.3
	10.1.0.0/16
	::ffff:192.0.2.0/120
	2001:db8::/32
	2001:db8:1::/48
	EOF
	run "$BIN/blockip" --check 10.9.9.9 "$LIST"
	assert_failure 1
	assert_output "10.9.9.9: blocked by $LIST line 1: 10.0.0.0/8"
	run "$BIN/blockip" --check 10.1.9.9 "$LIST"
	assert_failure 1
	assert_output "10.1.9.9: blocked by $LIST line 2: 10.1.0.0/16"
	run "$BIN/blockip" --check 10.1.2.3 "$LIST"
	assert_failure 1
	assert_output "10.1.2.3: blocked by $LIST line 3: 10.1.2.3"
	run "$BIN/blockip" --check ::ffff:10.1.2.3 "$LIST"
	assert_failure 1
	assert_output "::ffff:10.1.2.3: blocked by $LIST line 3: 10.1.2.3"
	run "$BIN/blockip" --check 192.0.2.200 "$LIST"
	assert_failure 1
	assert_output "192.0.2.200: blocked by $LIST line 5: 192.0.2.0/24"
	run "$BIN/blockip" --check 2001:db8:1:2::3 "$LIST"
	assert_failure 1
	assert_output "2001:db8:1:2::3: blocked by $LIST line 7: 2001:db8:1::/48"
	run "$BIN/blockip" --check 2001:db8:2::1 "$LIST"
	assert_failure 1
	assert_output "2001:db8:2::1: blocked by $LIST line 6: 2001:db8::/32"
	run "$BIN/blockip" --check 11.0.0.1 "$LIST"
	assert_success
	assert_output "11.0.0.1: not blocked by $LIST"
	run "$BIN/blockip" --check 2001:db9::1 "$LIST"
	assert_success
	assert_output "2001:db9::1: not blocked by $LIST"
}

@test "blockip --check agrees with a brute-force reference on random nested lists" {
	run python3 - "$BIN/blockip" "$LIST" <<-'EOF'
	import ipaddress, random, subprocess, sys
	prog, path = sys.argv[1], sys.argv[2]
	r = random.Random(7)
	lines = []
	for i in range(300):
	    if r.random() < 0.5:
	        n = ipaddress.ip_network("10.0.%d.%d/%d" % (r.randint(0, 7), r.randint(0, 255), r.randint(20, 32)), strict=False)
	    else:
	        n = ipaddress.ip_network("2001:db8::%x/%d" % (r.getrandbits(11), r.randint(117, 128)), strict=False)
	    lines.append(str(n))
	open(path, "w").write("\n".join(lines) + "\n")
	ents = [(i + 1, ipaddress.ip_network(t)) for i, t in enumerate(lines)]
	bad = 0
	for q in range(150):
	    a = ipaddress.ip_address("10.0.%d.%d" % (r.randint(0, 8), r.randint(0, 255))) if q % 2 else ipaddress.ip_address("2001:db8::%x" % r.getrandbits(12))
	    best = None
	    for n, net in ents:
	        if net.version == a.version and a in net and (best is None or net.prefixlen > best[1].prefixlen):
	            best = (n, net)
	    p = subprocess.run([prog, "--check", str(a), path], capture_output=True, text=True)
	    if best:
	        text = str(best[1].network_address) if best[1].prefixlen == best[1].max_prefixlen else str(best[1])
	        want = (1, "%s: blocked by %s line %d: %s\n" % (a, path, best[0], text))
	    else:
	        want = (0, "%s: not blocked by %s\n" % (a, path))
	    if (p.returncode, p.stdout) != want:
	        bad += 1
	        print("mismatch", a, p.returncode, p.stdout, want)
	print("mismatches:", bad)
	EOF
	assert_success
	assert_output "mismatches: 0"
}

@test "blockip decides by TCPREMOTEIP for a pipe and execs PROGRAM with the UCSPI variables" {
	printf '192.0.2.0/24\n' >"$LIST"
	run env PROTO=TCP TCPREMOTEIP=192.0.2.7 TCPREMOTEPORT=4711 "$BIN/blockip" "$LIST" "$BIN/echo" <<<"hello"
	assert_failure 1
	assert_line --partial "blocked 192.0.2.7 ($LIST line 1: 192.0.2.0/24)"
	refute_line "hello"
	run env PROTO=TCP TCPREMOTEIP=198.51.100.7 TCPREMOTEPORT=4711 TCPLOCALIP=127.0.0.1 \
	    TCPLOCALPORT=8012 "$BIN/blockip" --log-level 0 "$LIST" env
	assert_success
	assert_line "PROTO=TCP"
	assert_line "TCPREMOTEIP=198.51.100.7"
	assert_line "TCPREMOTEPORT=4711"
	assert_line "TCPLOCALIP=127.0.0.1"
	assert_line "TCPLOCALPORT=8012"
	run env PROTO=TCP TCPREMOTEIP=::ffff:192.0.2.9 "$BIN/blockip" "$LIST" "$BIN/echo" <<<"hello"
	assert_failure 1
	assert_line --partial "blocked 192.0.2.9 ("
}

@test "the wrapped program sees the UCSPI variables of a real socket client" {
	printf '192.0.2.1\n' >"$LIST"
	activate inetd "$BIN/blockip" "$LIST" env
	run client 127.0.0.2 </dev/null
	refute_output 0
	out="$BATS_TEST_TMPDIR/out"
	run grep -x -e 'PROTO=TCP' -e 'TCPREMOTEIP=127.0.0.2' -e 'TCPLOCALIP=127.0.0.1' \
	    -e "TCPLOCALPORT=$PORT" -e 'TCPREMOTEPORT=[0-9]*' "$out"
	assert_success
	assert_equal "${#lines[@]}" 5
	run grep -c '^LISTEN_' "$out"
	assert_output 0
}

@test "blockip hands a LISTEN_FDS connection (fd 3) to PROGRAM on fd 0 and 1" {
	printf '127.0.0.2\n' >"$LIST"
	activate fds "$BIN/blockip" "$LIST" "$BIN/echo"
	run client 127.0.0.1 <<<"through fd 3"
	assert_output 13
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "through fd 3"
	run client 127.0.0.2 <<<"through fd 3"
	assert_output 0
	wait_log "$LOG" "blocked 127\.0\.0\.2 "
}

@test "an empty list and a list of comments block nobody" {
	: >"$LIST"
	run "$BIN/blockip" --check 192.0.2.1 "$LIST"
	assert_success
	assert_output "192.0.2.1: not blocked by $LIST"
	printf '# nothing\n\n   # still nothing\n\t\n' >"$LIST"
	run env PROTO=TCP TCPREMOTEIP=192.0.2.1 "$BIN/blockip" "$LIST" "$BIN/echo" <<<"hi"
	assert_success
	assert_output "hi"
	run "$BIN/blockip" --check ::1 "$LIST"
	assert_success
}

@test "bad lines are reported with their numbers; deny refuses everyone, allow applies the rest" {
	printf '192.0.2.1\nnot-an-address\n10.0.0.0/33\n10.1.1.1 10.2.2.2\n192.0.2.0/24 # fine\n' >"$LIST"
	run env PROTO=TCP TCPREMOTEIP=198.51.100.1 "$BIN/blockip" "$LIST" "$BIN/echo" <<<"hi"
	assert_failure 1
	assert_line --partial "block list $LIST line 2: bad entry \"not-an-address\""
	assert_line --partial "block list $LIST line 3: bad entry \"10.0.0.0/33\""
	assert_line --partial "block list $LIST line 4: bad entry \"10.1.1.1 10.2.2.2\""
	assert_line --partial "malformed: 3 bad lines: refusing 198.51.100.1 (--block-list-on-error deny)"
	refute_line "hi"
	run env PROTO=TCP TCPREMOTEIP=198.51.100.1 "$BIN/blockip" --on-error allow "$LIST" "$BIN/echo" <<<"hi"
	assert_success
	assert_line "hi"
	assert_line --partial "allowing 198.51.100.1 (--block-list-on-error allow)"
	run env PROTO=TCP TCPREMOTEIP=192.0.2.9 "$BIN/blockip" --on-error allow "$LIST" "$BIN/echo" <<<"hi"
	assert_failure 1
	assert_line --partial "blocked 192.0.2.9 ($LIST line 5: 192.0.2.0/24)"
	run "$BIN/blockip" --check 198.51.100.1 "$LIST"
	assert_failure 1
	assert_line "198.51.100.1: blocked: block list $LIST malformed: 3 bad lines (--block-list-on-error deny)"
}

@test "a missing list refuses by default and allows with --on-error allow, logged both ways" {
	run env PROTO=TCP TCPREMOTEIP=192.0.2.1 "$BIN/blockip" "$LIST.none" "$BIN/echo" <<<"hi"
	assert_failure 1
	assert_line --partial "block list $LIST.none unusable: No such file or directory: refusing 192.0.2.1 (--block-list-on-error deny)"
	refute_line "hi"
	run env PROTO=TCP TCPREMOTEIP=192.0.2.1 "$BIN/blockip" --on-error allow "$LIST.none" "$BIN/echo" <<<"hi"
	assert_success
	assert_line "hi"
	assert_line --partial "block list $LIST.none unusable: No such file or directory: allowing 192.0.2.1 (--block-list-on-error allow)"
	run "$BIN/blockip" --check 192.0.2.1 "$LIST.none"
	assert_failure 1
	run "$BIN/blockip" --check 192.0.2.1 --on-error allow "$LIST.none"
	assert_success
	assert_output --partial "not blocked: block list $LIST.none unusable"
}

@test "a list replaced atomically takes effect at the next connection, no restart" {
	printf '127.0.0.2\n' >"$LIST"
	activate inetd "$BIN/blockip" "$LIST" "$BIN/echo"
	run client 127.0.0.2 <<<"one"
	assert_output 0
	run client 127.0.0.3 <<<"two"
	assert_output 4
	printf '# swapped\n127.0.0.3\n' >"$LIST.tmp"
	mv "$LIST.tmp" "$LIST"
	run client 127.0.0.2 <<<"three"
	assert_output 6
	run client 127.0.0.3 <<<"four"
	assert_output 0
	wait_log "$LOG" "blocked 127\.0\.0\.3 \($LIST line 2: 127\.0\.0\.3\)"
	# Edited in place (same inode, new size and mtime): also seen at once.
	printf '127.0.0.2\n127.0.0.3\n' >>"$LIST"
	run client 127.0.0.2 <<<"five"
	assert_output 0
	wait_log "$LOG" "blocked 127\.0\.0\.2 \($LIST line 3: 127\.0\.0\.2\)"
}

@test "the index is written atomically beside the list, reused, and rebuilt when stale or corrupt" {
	printf '192.0.2.1\n' >"$LIST"
	run "$BIN/blockip" --check 192.0.2.1 "$LIST"
	assert_failure 1
	[ -s "$LIST.idx" ]
	ino=$(stat -c %i "$LIST.idx")
	run "$BIN/blockip" --check 192.0.2.1 "$LIST"
	assert_failure 1
	assert_equal "$(stat -c %i "$LIST.idx")" "$ino"
	run ls "$BATS_TEST_TMPDIR"
	refute_output --partial "idx."	# no temporary file left behind
	head -c 100 /dev/urandom >"$LIST.idx"
	run "$BIN/blockip" --check 192.0.2.1 "$LIST"
	assert_failure 1
	assert_output "192.0.2.1: blocked by $LIST line 1: 192.0.2.1"
	printf 'garbage' >"$LIST.idx"
	run "$BIN/blockip" --check 192.0.2.1 "$LIST"
	assert_failure 1
	# A list older than its index but swapped in by rename is still seen.
	printf '192.0.2.2\n' >"$LIST.old"
	touch -d '2001-01-01' "$LIST.old"
	mv "$LIST.old" "$LIST"
	run "$BIN/blockip" --check 192.0.2.1 "$LIST"
	assert_success
}

@test "the index goes to --index, else \$CACHE_DIRECTORY; unwritable means parsing in memory, with a warning" {
	printf '192.0.2.1\n' >"$LIST"
	mkdir "$BATS_TEST_TMPDIR/cache"
	run "$BIN/blockip" --check 192.0.2.1 --index "$BATS_TEST_TMPDIR/my.idx" "$LIST"
	assert_failure 1
	[ -s "$BATS_TEST_TMPDIR/my.idx" ]
	[ ! -e "$LIST.idx" ]
	CACHE_DIRECTORY="$BATS_TEST_TMPDIR/cache" run "$BIN/blockip" --check 192.0.2.1 "$LIST"
	assert_failure 1
	run find "$BATS_TEST_TMPDIR/cache" -name 'blocked.*.idx'
	assert_output --regexp 'blocked\.[0-9a-f]{16}\.idx$'
	[ ! -e "$LIST.idx" ]
	run env PROTO=TCP TCPREMOTEIP=192.0.2.1 "$BIN/blockip" --index /proc/none/x.idx "$LIST" "$BIN/echo"
	assert_failure 1
	assert_line --partial "unable to write index /proc/none/x.idx: No such file or directory; using it from memory"
	assert_line --partial "blocked 192.0.2.1 ($LIST line 1: 192.0.2.1)"
}

@test "a 1,000,000-entry list: exact answers, the first connection after a change under 1 s, later ones fast" {
	python3 "$TOP/bench/gen-blocklist.py" 1000000 >"$LIST"
	printf '127.0.0.2\n' >>"$LIST"
	# Entries the generator wrote, looked up by their own text.
	v4=$(sed -n '2p' "$LIST")
	v6=$(sed -n '7p' "$LIST")
	run "$BIN/blockip" --check "$v4" "$LIST"
	assert_failure 1
	assert_output --regexp "^$v4: blocked by $LIST line [0-9]+: "
	run "$BIN/blockip" --check "$v6" "$LIST"
	assert_failure 1
	run "$BIN/blockip" --check 127.0.0.2 "$LIST"
	assert_failure 1
	assert_output "127.0.0.2: blocked by $LIST line 1000002: 127.0.0.2"
	activate inetd "$BIN/blockip" "$LIST" "$BIN/echo"
	# Changed list: the first connection compiles it again.
	printf '127.0.0.3\n' >>"$LIST"
	t0=$(date +%s%N)
	run client 127.0.0.1 <<<"hello"
	t1=$(date +%s%N)
	assert_output 6
	# The bound is the release build's; ASan+UBSan (build/san) roughly double the compile.
	limit=1000
	[ "$BUILD" != build/san ] || limit=2500
	echo "first connection after the change: $(( (t1 - t0) / 1000000 )) ms (bound $limit ms)" >&3
	[ $(( (t1 - t0) / 1000000 )) -lt "$limit" ]
	run client 127.0.0.3 <<<"hello"
	assert_output 0
	wait_log "$LOG" "blocked 127\.0\.0\.3 \($LIST line 1000003: 127\.0\.0\.3\)"
	t0=$(date +%s%N)
	for i in 1 2 3 4 5 6 7 8 9 10; do
		run client 127.0.0.1 <<<"x"
		assert_output 2
	done
	t1=$(date +%s%N)
	echo "10 connections with a fresh index: $(( (t1 - t0) / 1000000 )) ms" >&3
	[ $(( (t1 - t0) / 1000000 )) -lt 2000 ]
}

@test "exec failure: 127 for a missing PROGRAM, 126 for one that cannot run, logged" {
	: >"$LIST"
	run -127 env PROTO=TCP TCPREMOTEIP=192.0.2.1 "$BIN/blockip" "$LIST" "$BATS_TEST_TMPDIR/nonexistent"
	assert_line --partial "unable to exec $BATS_TEST_TMPDIR/nonexistent: No such file or directory"
	printf 'not executable\n' >"$BATS_TEST_TMPDIR/plain"
	run -126 env PROTO=TCP TCPREMOTEIP=192.0.2.1 "$BIN/blockip" "$LIST" "$BATS_TEST_TMPDIR/plain"
	assert_line --partial "unable to exec $BATS_TEST_TMPDIR/plain: Permission denied"
	activate inetd "$BIN/blockip" "$LIST" "$BATS_TEST_TMPDIR/nonexistent"
	run client 127.0.0.1 <<<"hi"
	assert_output 0
	run child_status 1
	assert_output 127
}

@test "usage errors exit 100: no PROGRAM, bad --check address, bad --on-error" {
	: >"$LIST"
	run "$BIN/blockip" "$LIST" </dev/null
	assert_failure 100
	run "$BIN/blockip" --check 300.1.1.1 "$LIST"
	assert_failure 100
	assert_output --partial "is not an IPv4 or IPv6 address"
	run "$BIN/blockip" --check 192.0.2.1
	assert_failure 100
	run "$BIN/blockip" --on-error maybe "$LIST" "$BIN/echo" </dev/null
	assert_failure 100
	assert_output --partial "on-error"
}

@test "runs unchanged under ucspi-tcp's tcpserver" {
	command -v tcpserver >/dev/null || skip "tcpserver (ucspi-tcp-ipv6) not installed"
	printf '127.0.0.2\n' >"$LIST"
	PORT=$(free_port)
	bg tcpserver -HR 127.0.0.1 "$PORT" "$BIN/blockip" "$LIST" "$BIN/echo" 2>>"$LOG"
	wait_listen "$PORT" "${BG_PIDS##* }"
	run client 127.0.0.1 <<<"via tcpserver"
	assert_output 14
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "via tcpserver"
	run client 127.0.0.2 <<<"via tcpserver"
	assert_output 0
	wait_log "$LOG" "blocked 127\.0\.0\.2 \($LIST line 1: 127\.0\.0\.2\)"
}

# --- --block-list: the same check inside any program, without blockip's exec ---

@test "echo --block-list drops a listed client without a byte and serves the others" {
	printf '# test list\n10.0.0.0/8\n127.0.0.2\n' >"$LIST"
	activate inetd "$BIN/echo" --block-list "$LIST" --block-list-index "$LIST.idx"
	run client 127.0.0.2 <<<"hello"
	assert_output 0
	run child_status 1
	assert_output 1
	wait_log "$LOG" "blocked 127\.0\.0\.2 \($LIST line 3: 127\.0\.0\.2\)"
	wait_log "$LOG" "refused peer=127\.0\.0\.2:[0-9]+ .*rule=\"block list $LIST line 3: 127\.0\.0\.2\""
	run client 127.0.0.1 <<<"hello"
	assert_output 6
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "hello"
}

@test "--block-list matches v4-mapped and nested entries over a pipe, most specific line reported" {
	printf '10.0.0.0/8\n10.1.0.0/16\n' >"$LIST"
	PROTO=TCP6 TCP6REMOTEIP=::ffff:10.1.2.3 run --separate-stderr "$BIN/lcecho" \
		--block-list "$LIST" --block-list-index "$LIST.idx" --log stderr <<<"HELLO"
	assert_equal "$status" 1
	assert_output ""
	[[ "$stderr" == *"blocked 10.1.2.3 ($LIST line 2: 10.1.0.0/16)"* ]]
	PROTO=TCP TCPREMOTEIP=192.0.2.1 run --separate-stderr "$BIN/lcecho" \
		--block-list "$LIST" --block-list-index "$LIST.idx" <<<"HELLO"
	assert_success
	assert_output "hello"
}

@test "cmdserver --block-list drops a listed client before any prompt, without Access Denied" {
	printf '192.0.2.0/24\n' >"$LIST"
	htpasswd -cbB -C 5 "$BATS_TEST_TMPDIR/users" u p 2>/dev/null
	PROTO=TCP TCPREMOTEIP=192.0.2.9 run "$BIN/cmdserver" --htpasswd "$BATS_TEST_TMPDIR/users" \
		--block-list "$LIST" --block-list-index "$LIST.idx" --log "$BATS_TEST_TMPDIR/log" \
		<<<"u"
	assert_equal "$status" 1
	assert_output ""
	run grep -c "blocked 192.0.2.9" "$BATS_TEST_TMPDIR/log"
	assert_output 1
}

@test "--block-list missing: refused by default, served with --block-list-on-error allow, logged both ways" {
	PROTO=TCP TCPREMOTEIP=192.0.2.1 run --separate-stderr "$BIN/echo" \
		--block-list "$BATS_TEST_TMPDIR/nope" --log stderr <<<"hi"
	assert_equal "$status" 1
	assert_output ""
	[[ "$stderr" == *"block list $BATS_TEST_TMPDIR/nope unusable: No such file or directory: refusing 192.0.2.1 (--block-list-on-error deny)"* ]]
	PROTO=TCP TCPREMOTEIP=192.0.2.1 run --separate-stderr "$BIN/echo" \
		--block-list "$BATS_TEST_TMPDIR/nope" --block-list-on-error allow --log stderr <<<"hi"
	assert_success
	assert_output "hi"
	[[ "$stderr" == *"allowing 192.0.2.1 (--block-list-on-error allow)"* ]]
}

@test "--block-list: a list replaced between connections applies at the next one" {
	printf '192.0.2.1\n' >"$LIST"
	PROTO=TCP TCPREMOTEIP=198.51.100.7 run "$BIN/echo" --block-list "$LIST" \
		--block-list-index "$LIST.idx" <<<"hi"
	assert_success
	printf '192.0.2.1\n198.51.100.0/24\n' >"$LIST.new"
	mv "$LIST.new" "$LIST"
	PROTO=TCP TCPREMOTEIP=198.51.100.7 run --separate-stderr "$BIN/echo" --block-list "$LIST" \
		--block-list-index "$LIST.idx" --log stderr <<<"hi"
	assert_equal "$status" 1
	assert_output ""
	[[ "$stderr" == *"blocked 198.51.100.7 ($LIST line 2: 198.51.100.0/24)"* ]]
}

@test "--block-list works in the accept loop too" {
	printf '127.0.0.2\n' >"$LIST"
	PORT=$(free_port)
	bg "$BIN/echo" --listen "127.0.0.1:$PORT" --block-list "$LIST" --block-list-index "$LIST.idx" \
		--penalty 0 --log "$LOG" --user root
	wait_listen "$PORT" "${BG_PIDS##* }"
	run client 127.0.0.2 <<<"hello"
	assert_output 0
	run client 127.0.0.1 <<<"hello"
	assert_output 6
	wait_log "$LOG" "blocked 127\.0\.0\.2"
}
