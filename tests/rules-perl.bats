#!/usr/bin/env bats
# Perl as the oracle for the access rules (inetkit.conf(5), --allow): the
# same patterns go through Perl, as Net::Server's own expression
# ($peerhost =~ /^$_$/ and $peeraddr =~ /^$_$/), and through echo
# --reverse-lookups, its own accept loop serving clients from chosen
# loopback addresses, whose names a hosts file of the test's own gives them
# (bind-mounted over /etc/hosts in a private mount namespace). The verdicts
# must agree, client by client. One server a pattern, all started at once,
# then one client process for every connection of the test.

load helpers

# The clients: a loopback source address and the name its reverse lookup finds.
CLIENTS='127.0.0.1 localhost
127.0.0.2 mail.example.com
127.0.0.3 www.domain.com
127.0.0.4 domain.com
127.0.0.5 a1.example.net
127.0.0.6 ns.example.org
127.0.0.10 Web-01.Example.COM
127.0.0.11 aaa.example.net
127.0.0.12 b.example.co
127.0.0.13 x
127.0.0.14 mail.example.comx
127.1.2.3 host3.example.net'
CLIENTS6='::1 ip6-localhost'

setup() {
	unshare -m true 2>/dev/null || skip "no private mount namespace here (unshare -m)"
	command -v perl >/dev/null || skip "perl not installed"
	CL=$CLIENTS
	LISTEN6=
	if has_ipv6_loopback; then
		CL="$CLIENTS
$CLIENTS6"
		LISTEN6=1
	fi
	printf '%s\n' "$CL" >"$BATS_TEST_TMPDIR/hosts"
	WITH_HOSTS=(unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$BATS_TEST_TMPDIR/hosts")
}

teardown() {
	kill_bg
}

# serve_each ARGS...: one echo per pattern in PATS, as "ARGS... PATTERN" (so
# ARGS ends with --allow or --deny), each on a free port of 127.0.0.1 (and
# ::1); PORTS[i] is pattern i's. Returns once every one listens.
serve_each() {
	local i pids=() n=1
	[ -z "$LISTEN6" ] || n=2
	PORTS=()
	for i in "${!PATS[@]}"; do
		PORTS[i]=$(free_port)
		bg "${WITH_HOSTS[@]}" "$BIN/echo" --user root --reverse-lookups "$@" "${PATS[i]}" \
		    --listen "127.0.0.1:${PORTS[i]}" ${LISTEN6:+--listen "[::1]:${PORTS[i]}"} \
		    --log "$BATS_TEST_TMPDIR/log.$i" --log-level 3
		pids[i]=${BG_PIDS##* }
	done
	for i in "${!PATS[@]}"; do
		wait_listen "${PORTS[i]}" "${pids[i]}" "$n" || { cat "$BATS_TEST_TMPDIR/log.$i" >&2; return 1; }
	done
}

# The verdicts of the servers, "PATTERN<TAB>ADDRESS<TAB>Y" (served) or "n"
# (refused: the connection closed with no byte), for every pattern and client.
served() {
	local i
	for i in "${!PATS[@]}"; do
		printf '%s\t%s\n' "${PORTS[i]}" "${PATS[i]}"
	done | python3 -c '
import socket, sys
clients = [l.split()[0] for l in sys.argv[1].splitlines()]
for line in sys.stdin:
    port, pat = line.rstrip("\n").split("\t", 1)
    for src in clients:
        fam, dst = (socket.AF_INET6, "::1") if ":" in src else (socket.AF_INET, "127.0.0.1")
        s = socket.socket(fam)
        s.settimeout(10)
        s.bind((src, 0))
        s.connect((dst, int(port)))
        s.sendall(b"ping\n")
        s.shutdown(socket.SHUT_WR)
        got = b""
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                got += b
        except ConnectionResetError:
            pass
        s.close()
        print("%s\t%s\t%s" % (pat, src, "Y" if got == b"ping\n" else "n"))
' "$CL"
}

# The verdicts Perl gives, in the same form: allow rules alone (Y if the host
# name or the address matches one), or, with "rules", Net::Server's whole
# allow_deny over the patterns in PATS, each "allow PATTERN" or "deny PATTERN".
perl_says() {
	printf '%s\n' "${PATS[@]}" | perl -e '
		my ($mode, $clients) = @ARGV;
		my @pats = <STDIN>;
		chomp @pats;
		my @cl = map { [split / /] } split /\n/, $clients;
		for my $p (@pats) {
			for my $c (@cl) {
				my ($peeraddr, $peerhost) = @$c;
				my $v = 0;
				if ($mode eq "allow") {
					# Net::Server::allow_deny, for one allow rule.
					foreach ($p) {
						$v = 1 if $peerhost =~ /^$_$/;
						$v = 1 if $peeraddr =~ /^$_$/;
					}
				} else {
					my (@allow, @deny);
					for (split /\x01/, $p) {
						my ($k, $r) = split / /, $_, 2;
						push @{ $k eq "allow" ? \@allow : \@deny }, $r;
					}
					$v = 1;
					DENY: foreach (@deny) {
						if ($peerhost =~ /^$_$/ || $peeraddr =~ /^$_$/) { $v = 0; last DENY }
					}
					if ($v) {
						$v = 0;
						foreach (@allow) {
							if ($peerhost =~ /^$_$/ || $peeraddr =~ /^$_$/) { $v = 1; last }
						}
					}
				}
				printf "%s\t%s\t%s\n", ($mode eq "allow" ? $p : join(" ; ", split /\x01/, $p)),
				    $peeraddr, $v ? "Y" : "n";
			}
		}' "$1" "$CL"
}

# agree: the servers' verdicts are Perl's, or the test fails with the differences.
agree() {
	perl_says allow >"$BATS_TEST_TMPDIR/perl"
	served >"$BATS_TEST_TMPDIR/inetkit"
	[ -s "$BATS_TEST_TMPDIR/perl" ] || fail "perl said nothing"
	diff "$BATS_TEST_TMPDIR/perl" "$BATS_TEST_TMPDIR/inetkit" >"$BATS_TEST_TMPDIR/diff" ||
		fail "inetkit (>) and Perl (<) disagree:
$(cat "$BATS_TEST_TMPDIR/diff")"
}

@test "the patterns Net::Server users write: inetkit's verdicts are Perl's" {
	PATS=('127\.0\.0\.\d+' '127\.0\.0\.\d' '\d+\.\d+\.\d+\.\d+' '127\.0\.0\.[0-9]{1,3}'
	    '127\.0\.0\.[0-9]{2}' '127\.1\.\d+\.\d+' '\w+' 'local\w+' '\w+\.example\.(?:com|net)'
	    '(?:mail|www)\.(?:example|domain)\.com' '.+\.(net|com)' 'domain\.com' 'a.+'
	    '.*\.example\.net' '[a-z0-9-]+\.example\.org' 'ip6-\w+' '::1' '::\d' '.*' 'localhost'
	    'mail\.example\.com' '127\.0\.0\.1')
	serve_each --allow
	agree
}

@test "alternations, top-level and grouped: inetkit anchors them as Perl's /^A|B\$/ does" {
	PATS=('127\.0\.0\.1|127\.0\.0\.2' '(?:127\.0\.0\.1|127\.0\.0\.2)' 'local|host' '(?:local|host)'
	    'x|.*\.net' '(x|.*\.net)' 'mail|domain\.com' '127\.0\.0\.1|ns\..*|.*\.co'
	    '(?:127\.0\.0\.1|ns\..*|.*\.co)' 'a|b|c')
	serve_each --allow
	agree
	# The servers said so at their start, once each, for the top-level ones only.
	run grep -l 'its "|" is outside any group' "$BATS_TEST_TMPDIR"/log.*
	assert_equal "$(printf '%s\n' "$output" | sed 's/.*log\.//' | sort -n | tr '\n' ' ')" '0 2 4 6 7 9 '
}

@test "what ERE and Perl read differently (\\d, \\s, [\\d], (?i), lazy quantifiers, look-arounds): inetkit reads it as Perl" {
	PATS=('\d' '127\.0\.0\.\d{1,2}' '\s*localhost' 'x\s?' '[\d.]+' '[\w.-]+\.net' '(?i)LOCALHOST'
	    '(?i)web-\d+\.example\.com' 'Web-\d+\.Example\.COM' '.+?\.com' '.*?net' '127\.0\.0\.1+?'
	    '\bdomain\.com' '(?:ns|mail)\..+' '\Aloc.*' 'local(?=host)host' '(?!127)\S+' '(\w)\1.*'
	    '[[:alpha:]]+' '\x6c\x6fcalhost' 'a{0,3}.*' '.*\.example\.co\z' 'x\Z' '[^.]+')
	serve_each --allow
	agree
}

@test "Net::Server's sample rules, allow .+\\.(net|com), allow domain\\.com, deny a.+: the verdicts are Perl's" {
	local conf=$BATS_TEST_TMPDIR/sample.conf
	printf 'allow .+\\.(net|com)\nallow domain\\.com\ndeny a.+\n' >"$conf"
	PATS=("$conf")
	serve_each --conf-file
	PATS=("$(printf 'allow .+\\.(net|com)\001allow domain\\.com\001deny a.+')")
	perl_says rules | cut -f2,3 >"$BATS_TEST_TMPDIR/perl"
	PATS=("$conf")
	served | cut -f2,3 >"$BATS_TEST_TMPDIR/inetkit"
	diff "$BATS_TEST_TMPDIR/perl" "$BATS_TEST_TMPDIR/inetkit" ||
		fail "inetkit (>) and Perl (<) disagree"
	# Not vacuous: the sample serves some of these clients and refuses others.
	run grep -c 'Y$' "$BATS_TEST_TMPDIR/perl"
	[ "$output" -ge 3 ]
	run grep -c 'n$' "$BATS_TEST_TMPDIR/perl"
	[ "$output" -ge 3 ]
}

@test "the table is not vacuous: Perl serves some clients and refuses others for most patterns" {
	# A check on the oracle itself, so that an agreement above means something.
	PATS=('127\.0\.0\.\d+' '.+\.(net|com)' '127\.0\.0\.1|127\.0\.0\.2' '(?i)LOCALHOST' '\d')
	run perl_says allow
	assert_line -p $'127\\.0\\.0\\.\\d+\t127.0.0.10\tY'
	assert_line -p $'127\\.0\\.0\\.1|127\\.0\\.0\\.2\t127.0.0.10\tY'
	assert_line -p $'127\\.0\\.0\\.1|127\\.0\\.0\\.2\t127.0.0.3\tn'
	assert_line -p $'(?i)LOCALHOST\t127.0.0.1\tY'
	assert_line -p $'.+\\.(net|com)\t127.0.0.13\tn'
	assert_line -p $'\\d\t127.0.0.13\tn'
}

@test "what this PCRE2 would read otherwise than Perl ({,n}, blanks in braces, \\Q) is refused at the start, not misread" {
	local p
	if "$BIN/echo" --allow 'a{,3}' --help >/dev/null 2>&1; then
		skip "this PCRE2 reads {,n} as Perl does"
	fi
	for p in 'a{,3}.*' 'loca{,2}lhost' '127\.0\.0\.1{ 1,2 }' '\Qlocalhost\E'; do
		# Perl takes each of them (and reads it as its own syntax, not as text) ...
		run perl -e 'my $p = shift; "" =~ /^$p$/; print "ok\n"' "$p"
		assert_output ok
		# ... and inetkit refuses to start with it, rather than match it otherwise.
		run "$BIN/echo" --allow "$p" </dev/null
		assert_failure 100
	done
	run perl -e 'print "localhost" =~ /^loca{,2}lhost$/ ? "Y\n" : "n\n"'
	assert_output Y
}
