# Helpers for the tls suite (tls.bats): a test PKI made at setup_file
# (make_pki), the server's options (TLS), and a TLS client of our own
# (tlsc), single-threaded over Python's ssl module with memory BIOs, that
# says how the connection ended. openssl s_client and socat's OPENSSL:
# address are used as they are. Starting servers and reading the
# activator's log are in helpers.bash. Load after helpers:
#   load helpers
#   load tls_helpers

# make_pki DIR: into DIR, EC P-256 keys and certificates:
#   ca            the test CA (client certificates are verified against it)
#   server        CN=localhost, by ca, serverAuth, SAN localhost and 127.0.0.1
#   client        CN=alice, by ca, clientAuth
#   tricky        CN="eve/CN=admin, OU=x" (a '/' and a ',' in the value), by ca
#   expired       CN=old, by ca, valid only on 2020-01-01 (openssl ca -startdate/-enddate)
#   rogue         another CA, trusted by nobody; stranger: CN=mallory, by rogue
#   other.key     a key that matches no certificate
make_pki() {
	local d=$1
	(
		set -e
		cd "$d"
		key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
		ca() {
			key "$1.key"
			openssl req -new -x509 -key "$1.key" -out "$1.crt" -days 3650 \
			    -subj "/O=inetkit tests/CN=$2" -addext basicConstraints=critical,CA:true \
			    -addext keyUsage=critical,keyCertSign,cRLSign
		}
		leaf() {
			key "$1.key"
			openssl req -new -key "$1.key" -subj "/O=inetkit tests/CN=$2" -out "$1.csr"
			printf '%b\n' "$4" >"$1.ext"
			openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial \
			    -days 365 -extfile "$1.ext" -out "$1.crt"
		}
		ca ca "Test CA"
		ca rogue "Rogue CA"
		leaf server localhost ca 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth'
		leaf client alice ca 'extendedKeyUsage=clientAuth'
		leaf tricky 'eve\/CN=admin, OU=x' ca 'extendedKeyUsage=clientAuth'
		leaf stranger mallory rogue 'extendedKeyUsage=clientAuth'
		key other.key
		# openssl 3.0's x509 has no -not_before: a minimal openssl ca dates it.
		key expired.key
		openssl req -new -key expired.key -subj "/O=inetkit tests/CN=old" -out expired.csr
		mkdir cadb
		: >cadb/index.txt
		echo 01 >cadb/serial
		cat >ca.cnf <<-EOF
		[ca]
		default_ca = test
		[test]
		dir = $d/cadb
		database = \$dir/index.txt
		serial = \$dir/serial
		new_certs_dir = \$dir
		default_md = sha256
		policy = anything
		x509_extensions = client
		unique_subject = no
		[anything]
		organizationName = optional
		commonName = supplied
		[client]
		extendedKeyUsage = clientAuth
		EOF
		openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr \
		    -out expired.crt -startdate 20200101000000Z -enddate 20200102000000Z -notext
		chmod 644 ./*.key
	) >"$d/make.log" 2>&1 || { cat "$d/make.log" >&2; return 1; }
}

# libtls's hash of a certificate: SHA256: and the hex digest of its DER form.
cert_hash() {
	echo "SHA256:$(openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1)"
}

# tlsc PORT [OPTION...] [ACTION...]: a TLS client on 127.0.0.1:PORT. What it
# receives goes to $OUT; what happens, one line per event, to stdout:
#   handshake VERSION CIPHER       the handshake completed
#   end close_notify | end eof     the server's close_notify; a TCP EOF without it
#   end reset | end error: REASON  a reset; any other TLS or socket failure
#   end timeout                    nothing ended within --timeout (exit 2)
# Options: --tls12, --tls13 (force the version), --sni NAME (default none),
# --cert FILE --key FILE (a client certificate), --verify CA (verify the
# server's certificate and name "localhost"), --timeout SECS (the whole
# connection, 10), --bind ADDR (the source address). Actions, in order
# (the handshake is made before the first that needs it):
#   raw:BYTES      plain bytes before the handshake (a PROXY header)
#   hello:N[:SECS] only the first N bytes of a real ClientHello (one byte
#                  every SECS when given), never the rest: no handshake, the
#                  client then waits for the server to end the connection
#   send:BYTES     BYTES (Python escapes), through TLS
#   file:PATH      the bytes of PATH, through TLS
#   recv:N         wait until N bytes in all have arrived
#   sleep:SECS     keep the connection pumping for SECS
#   notify         send close_notify (a TLS half-close), keep reading
#   fin            a TCP FIN without close_notify, keep reading
#   rst            a TCP reset (SO_LINGER 0, close), and the client exits
#   hold:SECS      read nothing for SECS (the kernel's buffers fill)
# After the actions it reads until the connection ends. One thread: the
# ssl object is driven over memory BIOs from one select loop.
TLSC_PY='
import codecs, os, select, socket, ssl, struct, sys, time

args = sys.argv[1:]
port = int(args.pop(0))
opts = {"timeout": "10"}
acts = []
while args:
    a = args.pop(0)
    if a in ("--tls12", "--tls13"):
        opts["tls"] = a
    elif a in ("--sni", "--cert", "--key", "--verify", "--timeout", "--bind"):
        opts[a[2:]] = args.pop(0)
    else:
        acts.append(a)
out = open(os.environ["OUT"], "wb")
deadline = time.monotonic() + float(opts["timeout"])

def say(s):
    print(s, flush=True)

def finish(s, rc=0):
    say("end " + s)
    out.close()
    sys.exit(rc)

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
if "verify" in opts:
    ctx.load_verify_locations(opts["verify"])
else:
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
if opts.get("tls") == "--tls12":
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
elif opts.get("tls") == "--tls13":
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
if "cert" in opts:
    ctx.load_cert_chain(opts["cert"], opts["key"])
name = opts.get("sni")
if "verify" in opts and not name:
    name = "localhost"
inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, outg, server_side=False, server_hostname=name)

sock = socket.create_connection(("127.0.0.1", port), timeout=5,
                                source_address=(opts["bind"], 0) if "bind" in opts else None)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
sock.setblocking(False)
wbuf = b""
tcp_eof = False
got = 0
shook = False

def pump(wait):
    """Moves bytes between the socket and the BIOs, waiting up to wait s."""
    global wbuf, tcp_eof
    if time.monotonic() > deadline:
        finish("timeout", 2)
    wbuf += outg.read()
    rd = [] if tcp_eof else [sock]
    wr = [sock] if wbuf else []
    r, w, _ = select.select(rd, wr, [], wait)
    if w:
        try:
            wbuf = wbuf[sock.send(wbuf):]
        except BlockingIOError:
            pass
        except OSError as e:
            finish("reset" if isinstance(e, (ConnectionResetError, BrokenPipeError)) else "error: %s" % e)
    if r:
        try:
            b = sock.recv(262144)
        except BlockingIOError:
            return
        except ConnectionResetError:
            finish("reset")
        if b:
            inc.write(b)
        else:
            tcp_eof = True
            inc.write_eof()

def drain():
    """Reads what the BIO holds: plaintext to the output, or the end."""
    global got
    while True:
        try:
            b = obj.read(262144)
        except ssl.SSLWantReadError:
            return
        except ssl.SSLZeroReturnError:
            finish("close_notify")
        except ssl.SSLEOFError:
            finish("eof")
        except ssl.SSLError as e:
            finish("error: %s" % (e.reason or e))
        if not b:
            # close_notify from the server: answered with ours, as a polite client does.
            try:
                obj.unwrap()
            except ssl.SSLError:
                pass
            wbuf_flush()
            finish("close_notify")
        out.write(b)
        got += len(b)

def handshake():
    global shook
    if shook:
        return
    while not shook:
        try:
            obj.do_handshake()
            shook = True
        except ssl.SSLWantReadError:
            if tcp_eof and not inc.pending:
                finish("eof")
            pump(0.05)
        except ssl.SSLError as e:
            # What was queued (an alert) goes out first.
            wbuf_flush()
            finish("error: %s" % (e.reason or e))
    say("handshake %s %s" % (obj.version(), obj.cipher()[0]))

def wbuf_flush():
    global wbuf
    wbuf += outg.read()
    while wbuf:
        pump(0.05)
        wbuf += outg.read()

def send(data):
    handshake()
    view = memoryview(data)
    while view:
        drain()
        if len(wbuf) + outg.pending < 1 << 20:
            obj.write(view[:16384])
            view = view[16384:]
        else:
            pump(0.05)
    wbuf_flush()

for a in acts:
    op, _, arg = a.partition(":")
    if op == "raw":
        wbuf += codecs.escape_decode(arg.encode())[0]
        wbuf_flush()
    elif op == "hello":
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outg.read()
        n, _, gap = arg.partition(":")
        for i in range(int(n)):
            if tcp_eof:
                finish("eof")
            wbuf += hello[i:i + 1]
            wbuf_flush()
            end = time.monotonic() + float(gap or 0)
            while time.monotonic() < end and not tcp_eof:
                pump(min(0.05, max(end - time.monotonic(), 0)))
        while True:
            pump(0.05)
            if tcp_eof:
                finish("eof")
    elif op == "send":
        send(codecs.escape_decode(arg.encode())[0])
    elif op == "file":
        send(open(arg, "rb").read())
    elif op == "recv":
        handshake()
        while got < int(arg):
            pump(0.05)
            drain()
    elif op == "sleep":
        end = time.monotonic() + float(arg)
        while time.monotonic() < end:
            pump(min(0.05, max(end - time.monotonic(), 0)))
            if shook:
                drain()
    elif op == "notify":
        handshake()
        drain()
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        wbuf_flush()
        say("sent close_notify")
    elif op == "fin":
        handshake()
        wbuf_flush()
        sock.shutdown(socket.SHUT_WR)
        say("sent fin")
    elif op == "rst":
        handshake()
        wbuf_flush()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        say("sent rst")
        out.close()
        sys.exit(0)
    elif op == "hold":
        time.sleep(float(arg))
    else:
        finish("bad action " + a, 1)
handshake()
while True:
    drain()
    pump(0.05)
'

tlsc() {
	OUT="$OUT" timeout 40 python3 -c "$TLSC_PY" "$@"
}

# tls's connection records in $LOG (one line each, whatever the verdict;
# stderr's lines, or a log file's after their time stamp).
records() {
	grep -aE '(^|[0-9] )inetkit-tls\[[0-9]+\]: [a-z]+: [a-z ]+ peer=' "$LOG"
}

# The number of those records.
nrecords() {
	records | wc -l
}
