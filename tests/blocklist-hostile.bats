#!/usr/bin/env bats
# Block lists under a hostile local user: a lock held on the list, an index
# directory the service cannot write, a forged or symlinked index, and a
# list truncated while it is compiled. Through the real programs, under
# systemd-socket-activate; the hostile user and the unprivileged service
# are nobody (setpriv); the list lives in a directory nobody may read, not write.

load helpers
load serve
bats_require_minimum_version 1.5.0

# How long a connection may wait for another's lock (LOCK_WAIT_MS in
# common/blocklist.c), and what a decision under a held lock may take in
# all: the wait, a process start and a small compile, on a busy VM.
LOCK_WAIT_MS=500
DECIDED_MS=1500

setup() {
	# Not BATS_TEST_TMPDIR: nobody must be able to reach the list.
	D=$(mktemp -d /tmp/inetkit-hostile.XXXXXX)
	chmod 755 "$D"
	LIST="$D/blocked"
	# What nobody runs must be reachable by nobody from any checkout (a 0700 home too).
	NBIN=$D/bin
	mkdir -m 755 "$NBIN"
	install -m 755 "$BIN/blockip" "$BIN/echo" "$NBIN/"
	# The activator's log, with the programs' stderr (child_status reads it).
	LOG=$ACTIVATE_LOG
	: >"$LOG"
}

teardown() {
	kill_bg
	rm -rf "$D"
}

# strace holds a program at a chosen system call, and counts its flock calls.
need_strace() {
	command -v strace >/dev/null || skip "strace not installed"
}

as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

# nobody takes an exclusive flock(1) on $1 and keeps it until teardown: one
# process, holding the locked descriptor, so kill_bg's kill ends the lock
# (flock's own child would outlive it, holding bats's descriptors open).
hold_lock() {
	bg setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    bash -c 'exec 9<"$1" && flock -x 9 && exec sleep 600' hold "$1" >/dev/null 2>&1 3>&-
	wait_until 10 "nobody never took the lock" not flock -n -x "$1" true
}

# Milliseconds the command takes; its output is dropped.
ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	echo $(( (t1 - t0) / 1000000 ))
}

# An index for list $1 claiming what list $2 says: $2's index, compiled to
# $3, with $1's stamp (device, inode, size, mtime, ctime: what stat(1)
# shows anyone) written over its own. struct blocklist_hdr: 8 bytes of
# magic, two uint32, then those seven 64-bit numbers, in host order.
forge() {
	"$BIN/blockip" --check 192.0.2.1 --index "$3" "$2" >/dev/null
	python3 - "$1" "$3" <<-'EOF'
	import os, struct, sys
	st = os.stat(sys.argv[1])
	f = open(sys.argv[2], "r+b")
	f.seek(16)
	f.write(struct.pack("=QQQqqqq", st.st_dev, st.st_ino, st.st_size,
	    st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9, st.st_ctime_ns // 10**9,
	    st.st_ctime_ns % 10**9))
	EOF
}

# A list blocking 127.0.0.2, and $1: a forged index for it that does not.
forged_setup() {
	printf '# hostile\n127.0.0.2\n' >"$LIST"
	printf '# decoy\n192.0.2.99\n' >"$D/decoy"
	chmod 644 "$LIST" "$D/decoy"
	forge "$LIST" "$D/decoy" "$1"
	chmod 644 "$1"
	# The forgery is sound: as root's own index it would be believed.
	run "$BIN/blockip" --check 127.0.0.2 --index "$1" "$LIST"
	assert_success
	assert_output "127.0.0.2: not blocked by $LIST"
}

# --- a lock held by another user ------------------------------------------------

# The first connection, from the listed 127.0.0.2, got no byte and blockip's exit 1.
dropped_by_blockip() {
	run client 127.0.0.2 <<<"hello"
	assert_output 0
	run child_status 1
	assert_output 1
	wait_log "$LOG" "blocked 127\.0\.0\.2 \($LIST line 2: 127\.0\.0\.2\)"
}

@test "a lock held on the list by another user delays a decision by the bound at most, never hangs it" {
	printf '127.0.0.2\n' >"$LIST"
	chmod 644 "$LIST"
	hold_lock "$LIST"
	activate inetd "$BIN/blockip" "$LIST" "$BIN/echo"
	t=$(ms client 127.0.0.2 <<<"hello")
	echo "blockip, listed client, lock held: $t ms (wait bound $LOCK_WAIT_MS ms)" >&3
	assert_equal "$(wc -c <"$BATS_TEST_TMPDIR/out")" 0
	[ "$t" -lt "$DECIDED_MS" ] || fail "decided in $t ms, bound $DECIDED_MS"
	run child_status 1
	assert_output 1
	wait_log "$LOG" "blocked 127\.0\.0\.2 \($LIST line 1: 127\.0\.0\.2\)"
	# It still wrote the index (a rename needs no lock), so later ones do not wait.
	[ -s "$LIST.idx" ]
	# Edited in place, same inode (the lock stays held): --block-list waits no longer either.
	printf '127.0.0.3\n' >>"$LIST"
	activate inetd "$BIN/echo" --block-list "$LIST"
	t=$(ms client 127.0.0.3 <<<"hello")
	echo "echo --block-list, listed client, lock held: $t ms" >&3
	assert_equal "$(wc -c <"$BATS_TEST_TMPDIR/out")" 0
	[ "$t" -lt "$DECIDED_MS" ] || fail "decided in $t ms, bound $DECIDED_MS"
	wait_log "$LOG" "blocked 127\.0\.0\.3 \($LIST line 2: 127\.0\.0\.3\)"
	run client 127.0.0.1 <<<"hello"
	assert_output 6
	flock -n -x "$LIST" true && fail "the lock was not held throughout"
	true
}

# --- an index directory the service cannot write -----------------------------------

@test "with an unwritable index directory, concurrent connections on a large list take no lock and run side by side" {
	need_strace
	python3 "$TOP/bench/gen-blocklist.py" 300000 >"$LIST"
	printf '127.0.0.2\n' >>"$LIST"
	chmod 644 "$LIST"
	# nobody cannot write $D, where the index would go; strace counts every flock.
	activate inetd env ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=flock -ff -o "$D/trace" \
	    setpriv --reuid=nobody --regid=nogroup --clear-groups "$NBIN/blockip" "$LIST" "$NBIN/echo"
	t1=$(ms client 127.0.0.1 <<<"x")
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "x"
	n=4 pids=
	t0=$(date +%s%N)
	for i in $(seq $n); do
		socat -t 5 -T 10 - "TCP4:127.0.0.1:$PORT" <<<"c$i" >"$D/out.$i" 2>/dev/null &
		pids="$pids $!"
	done
	socat -t 5 -T 10 - "TCP4:127.0.0.1:$PORT,bind=127.0.0.2" <<<"no" >"$D/out.blocked" 2>/dev/null &
	# shellcheck disable=SC2086
	wait $pids $!
	tn=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "one connection: $t1 ms; $n at once, and a listed one: $tn ms" >&3
	for i in $(seq $n); do
		assert_equal "$(cat "$D/out.$i")" "c$i"
	done
	[ ! -s "$D/out.blocked" ]
	# Every one of the n + 2 connections has ended, and so has logged.
	wait_exits $((n + 2))
	wait_log "$LOG" "blocked 127\.0\.0\.2 \($LIST line 300002: 127\.0\.0\.2\)"
	run grep -c "unable to write index $LIST.idx: Permission denied; using it from memory" "$LOG"
	assert_output $((n + 2))
	# Every connection was traced (one file per process), and none took a lock.
	run sh -c "ls '$D' | grep -c '^trace\.'"
	[ "$output" -ge $((n + 2)) ] || fail "only $output traced processes"
	run grep -h 'flock(' "$D"/trace.*
	assert_output ""
	[ ! -e "$LIST.idx" ]
}

# --- forged and symlinked indexes --------------------------------------------------

@test "a forged index owned by another user is refused and replaced; the listed client is dropped" {
	mkdir "$D/cache"
	chown nobody "$D/cache"
	forged_setup "$D/forged"
	# nobody may write the index directory, and plants the forgery there.
	as_nobody cp "$D/forged" "$D/cache/blocked.idx"
	assert_equal "$(stat -c %U "$D/cache/blocked.idx")" nobody
	activate inetd "$BIN/echo" --block-list "$LIST" --block-list-index "$D/cache/blocked.idx"
	dropped_by_blockip
	# Replaced by one of root's, which the next connection believes.
	assert_equal "$(stat -c %U "$D/cache/blocked.idx")" root
	run client 127.0.0.1 <<<"hello"
	assert_output 6
	run "$BIN/blockip" --check 127.0.0.2 --index "$D/cache/blocked.idx" "$LIST"
	assert_failure 1
}

@test "a forged index writable by group or others is refused: replaced where writable, else the list compiled in memory" {
	forged_setup "$D/forged"
	cp "$D/forged" "$LIST.idx"
	chmod 666 "$LIST.idx"
	activate inetd "$BIN/blockip" "$LIST" "$BIN/echo"
	dropped_by_blockip
	assert_equal "$(stat -c %a "$LIST.idx")" 644
	# Group-writable, and the service (nobody) cannot replace it: refused all the same.
	cp "$D/forged" "$LIST.idx"
	chmod 664 "$LIST.idx"
	activate inetd setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$NBIN/echo" --block-list "$LIST"
	run client 127.0.0.2 <<<"hello"
	assert_output 0
	run child_status 2
	assert_output 1
	wait_log "$LOG" "block list $LIST: index $LIST.idx refused: writable by group or others \(mode 664\); unable to write index $LIST.idx: Permission denied; using it from memory"
	wait_log "$LOG" "refused peer=127\.0\.0\.2:[0-9]+ .*rule=\"block list $LIST line 2: 127\.0\.0\.2\""
	cmp "$D/forged" "$LIST.idx"
	run client 127.0.0.1 <<<"hello"
	assert_output 6
}

@test "a symlinked index is not followed: the link is replaced, its target left alone" {
	forged_setup "$D/forged"
	cp "$D/forged" "$D/forged.orig"
	ln -s "$D/forged" "$LIST.idx"
	activate inetd "$BIN/blockip" "$LIST" "$BIN/echo"
	dropped_by_blockip
	[ ! -L "$LIST.idx" ] && [ -f "$LIST.idx" ]
	cmp "$D/forged" "$D/forged.orig"
	# Where it cannot be replaced, the link is refused and the list compiled in memory.
	rm "$LIST.idx"
	ln -s "$D/forged" "$LIST.idx"
	activate inetd setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$NBIN/echo" --block-list "$LIST"
	run client 127.0.0.2 <<<"hello"
	assert_output 0
	run child_status 2
	assert_output 1
	wait_log "$LOG" "index $LIST.idx refused: a symbolic link; unable to write index $LIST.idx: Permission denied"
	[ -L "$LIST.idx" ]
}

# --- a list truncated in place while it is compiled ----------------------------------

# The activator logs a child's exit code as "died with code N", and a death
# by signal as the signal's number there: 7 for the SIGBUS of a mapped list.
#
# Serves "$@" under strace, which holds the first fstat of the list for
# 1.5 s; a client connects from 127.0.0.1, and the list is truncated in
# place while the program is held between its fstat and its read. The
# client's reply size is in $BATS_TEST_TMPDIR/size.
truncated_during_compile() {
	local trace="$D/trace.$RANDOM"
	need_strace
	python3 "$TOP/bench/gen-blocklist.py" 20000 >"$LIST"
	printf '127.0.0.1\n' >>"$LIST"
	# LeakSanitizer cannot work under ptrace: in the ASan build its failure
	# would be the exit status; the other checks stay on.
	activate inetd env ASAN_OPTIONS=detect_leaks=0 strace -qq -o "$trace" -P "$LIST" \
	    -e trace=%fstat \
	    -e inject=%fstat:delay_exit=1500000:when=1 "$@"
	client 127.0.0.1 <<<"hello" >"$BATS_TEST_TMPDIR/size" &
	local pid=$!
	wait_log "$trace" "DELAYED"
	: >"$LIST"
	wait "$pid"
}

# Nothing was written: no index, and no temporary file left behind.
no_index_written() {
	run ls "$D"
	refute_output --partial "idx"
}

@test "a list truncated during a compile: a clear error and --on-error, never a signal (blockip)" {
	truncated_during_compile "$BIN/blockip" "$LIST" "$BIN/echo"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/size")" 0
	run child_status 1
	assert_output 1
	wait_log "$LOG" "error: block list $LIST changed while being read: refusing 127\.0\.0\.1 \(--block-list-on-error deny\)"
	no_index_written
	truncated_during_compile "$BIN/blockip" --on-error allow "$LIST" "$BIN/echo"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/size")" 6
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "hello"
	run child_status 2
	assert_output 0
	wait_log "$LOG" "warning: block list $LIST changed while being read: allowing 127\.0\.0\.1 \(--block-list-on-error allow\)"
	run grep -c "died with code" "$LOG"
	assert_output 2
	no_index_written
}

@test "a list truncated during a compile: a clear error and --block-list-on-error, never a signal (echo --block-list)" {
	truncated_during_compile "$BIN/echo" --block-list "$LIST"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/size")" 0
	run child_status 1
	assert_output 1
	wait_log "$LOG" "refused peer=127\.0\.0\.1:[0-9]+ .*rule=\"block list $LIST changed while being read\""
	wait_log "$LOG" "changed while being read: refusing 127\.0\.0\.1 \(--block-list-on-error deny\)"
	no_index_written
	truncated_during_compile "$BIN/echo" --block-list "$LIST" --block-list-on-error allow
	assert_equal "$(cat "$BATS_TEST_TMPDIR/size")" 6
	run child_status 2
	assert_output 0
	wait_log "$LOG" "changed while being read: allowing 127\.0\.0\.1 \(--block-list-on-error allow\)"
	no_index_written
}
