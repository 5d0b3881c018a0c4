# Helpers for the protocol suites (echo, lcecho, config, access, abuse, and
# cmdserver and auth through cmdserver_helpers): a program on pipes (feed,
# feed_file), what it wrote ($OUT: assert_out, assert_out_empty; its log in
# $ERR) and a scripted client over pipes or TCP (dialog). Bytes as hex,
# starting servers and reading the activator's log are in helpers.bash.
# Load after helpers:
#   load helpers
#   load proto_helpers

bats_require_minimum_version 1.5.0

OUT="$BATS_TEST_TMPDIR/out"
ERR="$BATS_TEST_TMPDIR/err"

# Feeds printf FORMAT to PROG ARGS through a pipe, stdout to $OUT and stderr
# (the log: stderr is a file) to $ERR. Use as: run feed 'abc\n' "$BIN/echo".
feed() {
	local fmt=$1
	shift
	# shellcheck disable=SC2059
	printf "$fmt" | timeout 10 "$@" >"$OUT" 2>"$ERR"
}

# As feed, with the input taken from FILE through a pipe (not a regular
# file on stdin: the programs must see what a client stream looks like).
feed_file() {
	local file=$1
	shift
	# shellcheck disable=SC2002
	cat "$file" | timeout 10 "$@" >"$OUT" 2>"$ERR"
}

# $OUT holds exactly the bytes of printf FORMAT.
assert_out() {
	assert_equal "$(hex "$OUT")" "$(hexf "$1")"
}

# $OUT holds no byte at all.
assert_out_empty() {
	[ -e "$OUT" ] || fail "$OUT missing"
	[ ! -s "$OUT" ] || fail "expected no output, got: $(od -An -c "$OUT" | head -5)"
}

# dialog: a scripted client, for what a pipe into the program cannot show
# (timing, reads split at chosen points, resets). Prints one line per event,
# so a test asserts the whole transcript.
#
#   dialog [-b BINDADDR] -c HOST PORT STEP...       over TCP (IPv6 if HOST has ':')
#   dialog -x STEP... -- PROG ARGS...                PROG on pipes, stderr to $ERR
#
# Steps (BYTES use Python escapes: 'abc\r\n', '\x00'):
#   send:BYTES      write BYTES
#   drained         (-x) wait until PROG has read everything written so far
#   recv:N          read exactly N bytes within 5 s; prints recv b'...'
#   quiet:SECS      nothing arrives for SECS; prints quiet
#   eof[:MIN:MAX]   the peer closes, with no further bytes (within MIN..MAX s
#                   of this step when given); prints eof
#   closed          the peer closes or resets, with no further bytes; prints closed
#   shut            close our sending side (EOF for the program)
#   flood           send without reading until the peer stops taking bytes
#   rst             abort the connection with a RST (SO_LINGER 0)
#   exit            (-x) wait for PROG; prints exit N
DIALOG_PY='
import codecs, fcntl, os, select, socket, struct, subprocess, sys, termios, time

def out(s):
    print(s, flush=True)

def die(s):
    out(s)
    if proc:
        proc.kill()
    sys.exit(1)

args = sys.argv[1:]
bind = None
sock = proc = None
if args[0] == "-b":
    bind = args[1]
    args = args[2:]
if args[0] == "-c":
    host, port = args[1], int(args[2])
    steps = args[3:]
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_STREAM)
    if bind:
        sock.bind((bind, 0))
    sock.settimeout(5)
    sock.connect((host, port))
    rfd = wfd = sock.fileno()
else:
    i = args.index("--")
    steps, cmd = args[1:i], args[i + 1:]
    err = open(os.environ["ERR"], "ab")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    rfd, wfd = proc.stdout.fileno(), proc.stdin.fileno()

def readable(t):
    return select.select([rfd], [], [], max(t, 0))[0]

def read(n):
    if sock:
        try:
            return sock.recv(n)
        except ConnectionResetError:
            return b"<reset>"
    return os.read(rfd, n)

for st in steps:
    op, _, arg = st.partition(":")
    if op == "send":
        data = codecs.escape_decode(arg.encode())[0]
        if sock:
            sock.sendall(data)
        else:
            os.write(wfd, data)
    elif op == "drained":
        end = time.monotonic() + 5
        while True:
            n = struct.unpack("i", fcntl.ioctl(wfd, termios.FIONREAD, b"\0" * 4))[0]
            if n == 0:
                break
            if time.monotonic() > end:
                die("not drained: %d bytes left" % n)
            time.sleep(0.01)
    elif op == "recv":
        want, got = int(arg), b""
        end = time.monotonic() + 5
        while len(got) < want:
            if not readable(end - time.monotonic()):
                die("recv %r then timeout" % got)
            b = read(want - len(got))
            if not b:
                die("recv %r then eof" % got)
            got += b
        out("recv %r" % got)
    elif op == "quiet":
        if readable(float(arg)):
            die("not quiet: %r" % read(65536))
        out("quiet")
    elif op == "eof":
        lo, hi = (float(x) for x in arg.split(":")) if arg else (0, 5)
        t0 = time.monotonic()
        if not readable(hi + 0.5):
            die("no eof within %g s" % hi)
        b = read(65536)
        dt = time.monotonic() - t0
        if b:
            die("bytes instead of eof: %r" % b)
        if not lo <= dt <= hi:
            die("eof after %.2f s, not within %g..%g s" % (dt, lo, hi))
        out("eof")
    elif op == "closed":
        if not readable(5.5):
            die("still open after 5 s")
        b = read(65536)
        if b and b != b"<reset>":
            die("bytes instead of a close: %r" % b)
        out("closed")
    elif op == "shut":
        if sock:
            sock.shutdown(socket.SHUT_WR)
        else:
            proc.stdin.close()
    elif op == "flood":
        sock.setblocking(False)
        chunk = b"y" * 65536
        while True:
            try:
                sock.send(chunk)
            except BlockingIOError:
                if not select.select([], [sock], [], 0.5)[1]:
                    break
        out("flooded")
    elif op == "rst":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        out("rst")
    elif op == "exit":
        try:
            out("exit %d" % proc.wait(timeout=5))
        except subprocess.TimeoutExpired:
            proc.kill()
            die("no exit within 5 s")
    else:
        die("bad step " + st)
'

dialog() {
	ERR="$ERR" timeout 20 python3 -c "$DIALOG_PY" "$@"
}
