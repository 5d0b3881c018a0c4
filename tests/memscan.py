#!/usr/bin/env python3
"""memscan.py PID MARKER: counts MARKER's occurrences in the writable
memory of process PID (its heap, stack and anonymous mappings up to 1 GiB
each, read through /proc/PID/mem, which needs root or the same user and ptrace
rights). Prints the count; exits 0.

tests/prefork.bats runs it on a PreFork worker between two sessions: what
a client sent must not be left in the process that serves the next one."""
import re
import sys

pid, marker = sys.argv[1], sys.argv[2].encode()
count = 0
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)", line)
        start, end, perms, name = int(m[1], 16), int(m[2], 16), m[3], m[4]
        # Writable and private: where a process keeps what it read (not its text, not vsyscalls).
        if not perms.startswith("rw") or perms[3] != "p" or name.startswith("[v"):
            continue
        # A sanitizer's shadow memory is terabytes reserved, none of it the program's data.
        if end - start > 1 << 30:
            continue
        try:
            mem.seek(start)
            data = mem.read(end - start)
        except (OSError, ValueError, OverflowError):
            continue
        count += data.count(marker)
print(count)
