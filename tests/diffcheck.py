#!/usr/bin/env python3
# diffcheck.py echo|lcecho|rfc862 PROGRAM [ARG...]: a differential test of the
# programs that watch whole buffers for the blank line. Random and
# adversarial inputs (CR runs across reads and 16-byte vectors, blank lines
# at chunk and block boundaries, lines longer than --max-line, mixed case,
# NUL and high bytes) go to PROGRAM on a pipe, in chunks written with pauses
# so that its reads end where the chunks do; what comes back must be what
# the reference below says, byte for byte. Seeded (DIFFCHECK_SEED), so a
# failure repeats; it prints the case that failed and exits 1.
import os
import random
import subprocess
import sys
import threading
import time

ALPHABET = (b"ABCXYZ" b"abcxyz" b"@[`{" b"\r" * 6 + b"\n" * 5 + b"\0" + bytes([0x80, 0xc1, 0xda, 0xff]))


def blank_start(data):
    """The offset of the first line holding only CR bytes before its LF, or -1."""
    start = 0
    while True:
        lf = data.find(b"\n", start)
        if lf < 0:
            return -1
        if data[start:lf].strip(b"\r") == b"":
            return start
        start = lf + 1


def lower(data):
    return bytes(c + 32 if 65 <= c <= 90 else c for c in data)


def reference(mode, data):
    if mode == "rfc862":
        return data
    b = blank_start(data)
    if mode == "echo":
        return data if b < 0 else data[:b]  # the blank line is not echoed
    if b < 0:
        return lower(data)
    return lower(data[: data.index(b"\n", b) + 1])  # lcecho echoes it


def piece(r):
    k = r.randrange(10)
    if k == 0:
        return b"\r" * r.choice([1, 2, 15, 16, 17, 63, 64, 65, 200])  # a run of CRs
    if k == 1:
        return b"\n" + b"\r" * r.randrange(4) + r.choice([b"\n", b"x", b""])  # maybe blank
    if k == 2:
        return bytes(r.choice(ALPHABET) for _ in range(r.choice([1, 7, 64, 300, 9000])))
    if k == 3:
        return b"A" * r.choice([15, 16, 63, 64, 65]) + b"\n"  # lines at block sizes
    return bytes(r.choice(ALPHABET[:20]) for _ in range(r.randrange(1, 120))) + b"\n"


def make_case(r):
    data = b"".join(piece(r) for _ in range(r.randrange(1, 12)))
    if r.randrange(3) == 0:  # a blank line placed at a 64-byte block's edge
        at = r.choice([63, 64, 65, 127, 128]) if len(data) > 130 else len(data)
        data = data[:at].replace(b"\n\n", b"\nx").replace(b"\n\r", b"\nx") + b"\r" * r.randrange(3) + b"\n" + data[at:]
    return data


def cuts(r, data):
    """Chunk edges: random ones, and ones next to a CR or an LF."""
    marks = [i for i, c in enumerate(data) if c in (10, 13)]
    out = set()
    for _ in range(r.randrange(0, 6)):
        if marks and r.randrange(2):
            out.add(min(len(data), max(1, r.choice(marks) + r.choice([0, 1]))))
        elif len(data) > 1:
            out.add(r.randrange(1, len(data)))
    return sorted(out)


def run(argv, data, edges, pause):
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    # Read by a thread of its own: a large echo must not block the writer.
    got = []
    t = threading.Thread(target=lambda: got.append(p.stdout.read()))
    t.start()
    prev = 0
    try:
        for e in edges + [len(data)]:
            p.stdin.write(data[prev:e])
            p.stdin.flush()
            prev = e
            if pause:
                time.sleep(0.002)
        p.stdin.close()
    except BrokenPipeError:
        pass  # it stopped reading at the blank line
    t.join()
    p.wait()
    return got[0]


def main():
    mode, argv = sys.argv[1], sys.argv[2:]
    seed = int(os.environ.get("DIFFCHECK_SEED", "862"))
    n = int(os.environ.get("DIFFCHECK_CASES", "250"))
    r = random.Random(seed)
    for i in range(n):
        data = make_case(r)
        edges = cuts(r, data)
        out = run(argv, data, edges, pause=True)
        want = reference(mode, data)
        if out != want:
            print(f"case {i} (seed {seed}): input {data!r}\nchunks at {edges}\n"
                  f"want {want!r}\ngot  {out!r}")
            return 1
    # Bulk: a few MiB of short lines and CR runs, read as the pipe gives it.
    data = b"".join(piece(r) for _ in range(4000))
    while b"\n\n" in data or b"\n\r" in data:
        data = data.replace(b"\n\n", b"\nz\n").replace(b"\n\r", b"\nz")
    data = data * 8 + b"Tail\r\r\n\r\r\nAFTER\n"
    out = run(argv, data, [], pause=False)
    if out != reference(mode, data):
        print(f"bulk case (seed {seed}): {len(data)} bytes in, {len(out)} out, "
              f"{len(reference(mode, data))} wanted")
        return 1
    print(f"{n} cases and a {len(data)}-byte one matched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
