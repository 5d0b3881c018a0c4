#!/usr/bin/env python3
"""Login cost of inetkit-cmdserver per htpasswd format, and the timing of an
unknown user against a wrong password (user enumeration). A benchmark, not a
test: prints medians of whole-process logins over a pipe, --fail-delay 0.

usage: bench/cmdserver-login.py [BUILD_DIR] [TRIES]"""
import os, statistics, subprocess, sys, tempfile, time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
tries = int(sys.argv[2]) if len(sys.argv) > 2 else 60
prog = os.path.join(build, "cmdserver")
tmp = tempfile.mkdtemp()

def users_file(name, flags, n=1):
    f = os.path.join(tmp, name)
    for i in range(n):
        subprocess.run(["htpasswd", "-b"] + (["-c"] if i == 0 else []) + flags
                       + [f, "user%d" % i, "secret%d" % i], check=True,
                       stderr=subprocess.DEVNULL)
    return f

def login(f, user, pw, eof=False):
    t0 = time.perf_counter()
    p = subprocess.run([prog, "--htpasswd", f, "--fail-delay", "0", "--log", "stderr"],
                       input=b"" if eof else ("%s\n%s\nquit\n" % (user, pw)).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, p.returncode, p.stdout

def median_ms(f, user, pw, want, n, eof=False):
    ts = []
    for _ in range(n):
        t, rc, out = login(f, user, pw, eof)
        assert rc == want, (f, user, rc, out)
        ts.append(t)
    return statistics.median(ts) * 1000, statistics.quantiles(ts, n=10)

formats = [("apr1 (-m)", ["-m"]), ("bcrypt (-B -C 5)", ["-B", "-C", "5"]),
           ("bcrypt (-B -C 10)", ["-B", "-C", "10"]), ("{SHA} (-s)", ["-s"]),
           ("DES (-d)", ["-d"]), ("SHA-256 (-2)", ["-2"]), ("SHA-512 (-5)", ["-5"]),
           ("SHA-512 (-5 -r 50000)", ["-5", "-r", "50000"])]
base = users_file("base", ["-m"])
floor = median_ms(base, "", "", 1, tries, eof=True)[0]
print("floor: process start and EOF at Login:, no hash computed: %.2f ms" % floor)
print("%-24s %10s %10s %12s" % ("format", "ok ms", "wrong ms", "hash ms"))
for name, flags in formats:
    f = users_file(name.split()[0].strip("{}"), flags)
    n = tries if "50000" not in name and "10)" not in name else max(10, tries // 4)
    ok = median_ms(f, "user0", "secret0", 0, n)[0]
    bad = median_ms(f, "user0", "wrong", 1, n)[0]
    print("%-24s %10.2f %10.2f %12.2f" % (name, ok, bad, (ok + bad) / 2 - floor))

print("\nuser enumeration: medians over %d tries each, alternating" % tries)
for name, flags in [("apr1 (-m)", ["-m"]), ("bcrypt (-B -C 5)", ["-B", "-C", "5"]),
                    ("SHA-512 (-5)", ["-5"])]:
    f = users_file("enum" + flags[0] + flags[-1], flags, n=20)
    unk, wrong = [], []
    for i in range(tries):
        unk.append(login(f, "nosuchuser%d" % i, "secret0")[0])
        wrong.append(login(f, "user%d" % (i % 20), "wrong")[0])
    mu, mw = statistics.median(unk) * 1000, statistics.median(wrong) * 1000
    print("%-18s unknown user %.2f ms   wrong password %.2f ms   difference %+.2f ms (%+.1f%%)"
          % (name, mu, mw, mu - mw, (mu - mw) / mw * 100))
