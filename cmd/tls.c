/* SPDX-License-Identifier: MIT */
/*
 * inetkit-tls: a TLS server in front of any inetd program, in the
 * chain-loading style of blockip (and of s6-tlsserver, stunnel's inetd
 * mode). After the common steps (PROXY header, rules, block list, limits)
 * it performs the handshake on the client's connection, starts PROGRAM on
 * one end of a socket pair with the UCSPI and SSL_* variables, and relays
 * the plaintext between the two until both directions are done.
 *
 * The process that holds the client is the relay and PROGRAM is its
 * child: the activator waits for the relay, which ends after the last
 * byte of PROGRAM's answer is sent and its close_notify with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <tls.h>

#include "../common/conn.h"
#include "../common/daemon.h"
#include "../common/tlsname.h"

enum verify { VERIFY_NO, VERIFY_OPTIONAL, VERIFY_REQUIRE };

static const char *cert_file, *key_file, *ca_file, *protocols = "default", *ciphers = "secure";
static int verify_client;
static unsigned long handshake_timeout = 10;

static const char *const verify_choices[] = { "no", "optional", "require", NULL };

static const struct conf_opt options[] = {
	{ .name = "cert", .type = CONF_STR, .dest = &cert_file, .arg = "FILE",
	    .help = "the certificate chain, PEM (default $CREDENTIALS_DIRECTORY/tls.crt)" },
	{ .name = "key", .type = CONF_STR, .dest = &key_file, .arg = "FILE",
	    .help = "its private key, PEM (default $CREDENTIALS_DIRECTORY/tls.key)" },
	{ .name = "ca", .type = CONF_STR, .dest = &ca_file, .arg = "FILE",
	    .help = "the CA certificates client certificates are verified against" },
	{ .name = "verify-client", .type = CONF_CHOICE, .dest = &verify_client,
	    .choices = verify_choices, .arg = "no|optional|require",
	    .help = "ask for a client certificate; one given must verify (default no)" },
	{ .name = "protocols", .type = CONF_STR, .dest = &protocols, .arg = "LIST",
	    .help = "TLS versions, libtls syntax (default \"default\": TLSv1.2 and TLSv1.3)" },
	{ .name = "ciphers", .type = CONF_STR, .dest = &ciphers, .arg = "LIST",
	    .help = "cipher suites for TLSv1.2, libtls syntax (default \"secure\")" },
	{ .name = "handshake-timeout", .type = CONF_UINT, .dest = &handshake_timeout,
	    .min = 1, .max = 3600, .arg = "SECS",
	    .help = "refuse a client that has not finished its handshake in SECS (default 10)" },
	{ .name = NULL },
};

/* The server context, configured once per process; a failure is every connection's record. */
static struct tls *server;
static char load_error[512];


static const char *
default_file(const char *given, const char *name, char *buf, size_t cap)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");

	if (given)
		return given;
	if (!dir || !dir[0])
		return NULL;
	snprintf(buf, cap, "%s/%s", dir, name);
	return buf;
}

/*
 * Reads the certificate, the key and the CA, and configures the server
 * context: at the start of every process, so a renewed certificate is
 * taken by the next connection (in the accept loop, at the next start).
 * A file that cannot be used is fatal to the accept loop; to a
 * per-connection process it is that connection's record (pre_connection).
 */
static int
configure(struct conn *c, struct conn_settings *s)
{
	static char certbuf[4096], keybuf[4096];
	const char *cert = default_file(cert_file, "tls.crt", certbuf, sizeof certbuf);
	const char *key = default_file(key_file, "tls.key", keybuf, sizeof keybuf);
	struct tls_config *cfg;
	uint32_t protos;
	const char *what = NULL;

	(void)s;
	/*
	 * The key, and every client's plaintext, are in this process: no core
	 * file, and no /proc/PID/mem or ptrace for other processes of the same
	 * user, PROGRAM among them (its exec makes it dumpable again).
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		log_msg(LOG_LVL_ERR, "fatal: unable to make the process non-dumpable: %s",
		    strerror(errno));
		return EXIT_TEMP;
	}
	if (!cert || !key) {
		log_msg(LOG_LVL_ERR, "fatal: no %s: give --%s FILE, or set CREDENTIALS_DIRECTORY "
		    "(systemd's LoadCredential=)", cert ? "key" : "certificate", cert ? "key" : "cert");
		return EXIT_USAGE;
	}
	if (verify_client != VERIFY_NO && !ca_file) {
		log_msg(LOG_LVL_ERR, "fatal: option --verify-client %s needs --ca FILE",
		    verify_choices[verify_client]);
		return EXIT_USAGE;
	}
	if (tls_config_parse_protocols(&protos, protocols) < 0) {
		log_msg(LOG_LVL_ERR, "fatal: option --protocols: \"%.64s\" is not a libtls protocol "
		    "list (e.g. \"tlsv1.3\", \"default\")", protocols);
		return EXIT_USAGE;
	}
	if (tls_init() < 0 || !(cfg = tls_config_new()) || !(server = tls_server())) {
		log_msg(LOG_LVL_ERR, "fatal: unable to start libtls");
		return EXIT_TEMP;
	}
	if (tls_config_set_protocols(cfg, protos) < 0)
		what = "--protocols";
	else if (tls_config_set_ciphers(cfg, ciphers) < 0) {
		log_msg(LOG_LVL_ERR, "fatal: option --ciphers: %s", tls_config_error(cfg));
		return EXIT_USAGE;
	} else if (tls_config_set_cert_file(cfg, cert) < 0)
		what = cert;
	else if (tls_config_set_key_file(cfg, key) < 0)
		what = key;
	else if (ca_file && tls_config_set_ca_file(cfg, ca_file) < 0)
		what = ca_file;
	if (what)
		snprintf(load_error, sizeof load_error, "%.160s: %.300s", what,
		    tls_config_error(cfg));
	else {
		if (verify_client == VERIFY_REQUIRE)
			tls_config_verify_client(cfg);
		else if (verify_client == VERIFY_OPTIONAL)
			tls_config_verify_client_optional(cfg);
		if (tls_configure(server, cfg) < 0)
			snprintf(load_error, sizeof load_error, "%.100s, %.100s: %.300s", cert, key,
			    tls_error(server));
	}
	/* The key stays in the server context only. */
	tls_config_clear_keys(cfg);
	tls_config_free(cfg);
	if (load_error[0] && c->accept_loop) {
		log_msg(LOG_LVL_ERR, "fatal: %s", load_error);
		return EXIT_TEMP;
	}
	/* Started for every client: with --chroot, found inside the new root. */
	daemon_need("PROGRAM", c->argv[0], DAEMON_NEED_EXEC);
	return EXIT_SERVED;
}

static enum conn_verdict
pre_connection(struct conn *c)
{
	if (load_error[0]) {
		conn_end(c, EXIT_TEMP, "failed", "tls: %s", load_error);
		return CONN_REFUSE;
	}
	return acl_refused(c->access) ? CONN_REFUSE : CONN_ACCEPT;
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * TLS writes whole records, and the last of an answer must not wait for
 * the client's delayed ACK (Nagle's algorithm would hold it about 40 ms).
 * Not a TCP socket (a pipe, a UNIX socket): nothing to do.
 */
static void
set_nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* How a read or write on the TLS stream ended, for the stream's end in the record. */
static int
ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), k = strlen(tail);

	return n >= k && strcmp(s + n - k, tail) == 0;
}

/*
 * A reset or a broken pipe is how a client that leaves may end; any other
 * failure (a bad record) is an error, with libtls's reason in the record.
 * libtls reports a socket's error as "... failed: strerror(errno)" and
 * need not leave errno as it found it.
 */
static int
was_reset(struct tls *t, int e)
{
	const char *msg = tls_error(t);

	return e == ECONNRESET || e == EPIPE || (msg && (ends_with(msg, strerror(ECONNRESET))
	    || ends_with(msg, strerror(EPIPE))));
}

static enum io_end
tls_failed(struct conn *c, struct tls *t, const char *op)
{
	const char *msg = tls_error(t);

	if (was_reset(t, errno))
		return IO_RESET;
	snprintf(c->out.rule, sizeof c->out.rule, "tls: %s: %.140s", op, msg ? msg : "failed");
	return IO_ERROR;
}

/*
 * After a failed read: whether the TCP stream had simply ended, a FIN
 * without TLS's close_notify (a client killed, or one that never sends
 * it), rather than a broken record.
 */
static int
truncated(int fd)
{
	char b;

	return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/*
 * A TCP client that has sent no byte at all before its FIN (fin) or reset.
 * Linux's TCP_INFO counts what came in, the FIN as one.
 */
static int
sent_nothing(int fd, int fin)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0
	    && len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received
	    && ti.tcpi_bytes_received <= (fin ? 1 : 0);
}

/*
 * The handshake, within --handshake-timeout, under the session deadline
 * too. Returns 0, or -1 with the connection ended (refused: PROGRAM never
 * starts for it).
 */
static int
handshake(struct conn *c, struct tls *t, int fd, int wfd)
{
	int64_t until = io_now_ms() + (int64_t)handshake_timeout * 1000;
	char why[256];
	int r;

	while ((r = tls_handshake(t)) == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
		struct pollfd p = { .fd = r == TLS_WANT_POLLIN ? fd : wfd,
		    .events = r == TLS_WANT_POLLIN ? POLLIN : POLLOUT };
		int64_t left = until - io_now_ms();
		int stop = io_stopped();

		if (stop) {
			/*
			 * The session timeout, or the service stopping (no
			 * fault of the client's: no penalty). Nothing is sent
			 * in clear in place of TLS.
			 */
			c->io.end = (enum io_end)stop;
			c->told = 1;
			c->out.blameless = stop == IO_TERM;
			return conn_end(c, EXIT_REFUSED, "refused", "tls: handshake: %s",
			    io_end_name((enum io_end)stop)), -1;
		}
		if (left <= 0 || (poll(&p, 1, (int)left) == 0 && io_now_ms() >= until)) {
			c->io.end = IO_ERROR;
			return conn_end(c, EXIT_REFUSED, "refused", "tls: handshake timed out "
			    "after %lus", handshake_timeout), -1;
		}
	}
	if (r == 0)
		return 0;
	snprintf(why, sizeof why, "%s", tls_error(t) ? tls_error(t) : "failed");
	c->io.end = tls_failed(c, t, "handshake");
	if (c->io.end != IO_RESET && truncated(fd))
		c->io.end = IO_EOF;
	/* A probe that connects and leaves without a byte is not an attack: no penalty. */
	if ((c->io.end == IO_RESET || c->io.end == IO_EOF) && sent_nothing(fd, c->io.end == IO_EOF))
		c->out.blameless = 1;
	return conn_end(c, EXIT_REFUSED, "refused", "tls: handshake: %.200s", why), -1;
}

/*
 * Every SSL_* variable goes before PROGRAM is told about this client, so
 * that no stale value (an upstream wrapper's, mod_ssl's others such as
 * SSL_CLIENT_CERT) passes for this connection's.
 */
static void
unset_ssl_vars(void)
{
	extern char **environ;
	char name[128];
	size_t i = 0, n;

	while (environ[i]) {
		const char *eq = strchr(environ[i], '=');

		n = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		if (strncmp(environ[i], "SSL_", 4) == 0 && n < sizeof name) {
			memcpy(name, environ[i], n);
			name[n] = '\0';
			unsetenv(name);		/* environ shifts down: look at i again */
			continue;
		}
		i++;
	}
}

/* name in RFC 2253's form, as mod_ssl writes it (CN first); bytes past ASCII as \XX. */
static void
dn_string(const X509_NAME *name, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	out[0] = '\0';
	if (!b)
		return;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0
	    && (n = BIO_get_mem_data(b, &p)) > 0) {
		long i;

		/* Printable ASCII already (RFC 2253's escapes kept); checked all the same. */
		for (i = 0; i < n && p[i] >= 0x20 && p[i] < 0x7f; i++)
			;
		if (i == n && (size_t)n < cap) {
			memcpy(out, p, (size_t)n);
			out[n] = '\0';
		} else {
			tlsname_env(out, cap, p, (size_t)n);
		}
	}
	BIO_free(b);
}

/*
 * The client certificate's subject and issuer (the leaf, the first in the
 * chain libtls hands out). libtls's own tls_peer_cert_subject is OpenSSL's
 * "/C=../CN=.." one-line form, where a '/' inside a value reads as a new
 * field; RFC 2253's escapes it. Returns 0, or -1 if there is none.
 */
static int
cert_names(struct tls *t, char *sdn, size_t scap, char *idn, size_t icap)
{
	const uint8_t *pem;
	size_t len;
	BIO *b;
	X509 *x;

	if (!(pem = tls_peer_cert_chain_pem(t, &len)) || len > INT_MAX
	    || !(b = BIO_new_mem_buf(pem, (int)len)))
		return -1;
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!x)
		return -1;
	dn_string(X509_get_subject_name(x), sdn, scap);
	dn_string(X509_get_issuer_name(x), idn, icap);
	X509_free(x);
	return 0;
}

/* What the handshake established: into the record and PROGRAM's environment. */
static int
describe(struct conn *c, struct tls *t)
{
	const char *v = tls_conn_version(t), *ci = tls_conn_cipher(t), *sni = tls_conn_servername(t);
	char env[1024], idn[1024];

	unset_ssl_vars();
	v = v ? v : "unknown";
	ci = ci ? ci : "unknown";
	conn_add_field(c, "tls", "INETKIT_TLS", v, strlen(v));
	conn_add_field(c, "cipher", "INETKIT_TLS_CIPHER", ci, strlen(ci));
	if (setenv("SSL_PROTOCOL", v, 1) < 0 || setenv("SSL_CIPHER", ci, 1) < 0)
		return -1;
	if (sni) {
		/* Logged whatever it is (escaped); passed on only if it is a host name. */
		conn_add_field(c, "sni", "INETKIT_TLS_SNI", sni, strlen(sni));
		if (tlsname_host(sni, strlen(sni)) && setenv("SSL_TLS_SNI", sni, 1) < 0)
			return -1;
	}
	if (!tls_peer_cert_provided(t))
		return setenv("SSL_CLIENT_VERIFY", "NONE", 1);
	/* libtls only completes a handshake with a client certificate that verified. */
	if (setenv("SSL_CLIENT_VERIFY", "SUCCESS", 1) < 0)
		return -1;
	if (cert_names(t, env, sizeof env, idn, sizeof idn) == 0) {
		conn_add_field(c, "client", "INETKIT_TLS_CLIENT", env, strlen(env));
		if (setenv("SSL_CLIENT_S_DN", env, 1) < 0 || setenv("SSL_CLIENT_I_DN", idn, 1) < 0)
			return -1;
	}
	if ((v = tls_peer_cert_hash(t)) && setenv("SSL_CLIENT_HASH", v, 1) < 0)
		return -1;
	return 0;
}

/*
 * PROGRAM, on the other end of the socket pair, with the identity and the
 * TLS variables set. Returns its pid, or -1 with the connection ended
 * (exec failures come back through a close-on-exec pipe).
 */
static pid_t
start(struct conn *c, int local)
{
	int pfd[2], e = 0;
	pid_t pid;
	ssize_t n;

	if (pipe(pfd) < 0 || fcntl(pfd[0], F_SETFD, FD_CLOEXEC) < 0
	    || fcntl(pfd[1], F_SETFD, FD_CLOEXEC) < 0 || (pid = fork()) < 0) {
		conn_end(c, EXIT_TEMP, "failed", "unable to start %s: %s", c->argv[0],
		    strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/*
		 * PROGRAM gets the connection as inetd gives it: on 0 and 1,
		 * and on 2 too if that was the client's socket (inetd's
		 * arrangement: its stderr then goes to the client, through
		 * TLS). The client's own socket is never PROGRAM's.
		 */
		struct stat s2, sc;
		int err_is_client = fstat(2, &s2) == 0 && fstat(c->conn_fd, &sc) == 0
		    && s2.st_dev == sc.st_dev && s2.st_ino == sc.st_ino;

		close(pfd[0]);
		if (dup2(local, 0) < 0 || dup2(local, 1) < 0
		    || (err_is_client && dup2(local, 2) < 0))
			e = errno;
		else {
			if (c->conn_fd > 2)
				close(c->conn_fd);
			signal(SIGPIPE, SIG_DFL);
			log_keep_file(LOG_KEEP_PROGRAM);
			execvp(c->argv[0], c->argv);
			e = errno;
		}
		(void)!write(pfd[1], &e, sizeof e);
		_exit(e == ENOENT ? EXIT_NOTFOUND : EXIT_EXEC);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], &e, sizeof e)) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (n == (ssize_t)sizeof e) {
		(void)waitpid(pid, NULL, 0);
		log_msg(LOG_LVL_ERR, "unable to exec %s: %s", c->argv[0], strerror(e));
		conn_end(c, e == ENOENT ? EXIT_NOTFOUND : EXIT_EXEC, "failed", "exec %s failed",
		    c->argv[0]);
		return -1;
	}
	return pid;
}

#define RELAY_BUF 65536
#define TLS_RECORD 16384		/* the largest TLS record's plaintext */

/* One direction of the relay: bytes read from one side, not yet written to the other. */
struct dir {
	char buf[RELAY_BUF];
	size_t off, len;
	int open;			/* its source can still give bytes */
	int shut;			/* its end was passed on (EOF or close_notify) */
	int discard;			/* its reader is gone: what comes is read and dropped */
	int want;			/* a TLS call's poll event, or 0 */
	uint64_t bytes;
};

struct relay {
	struct tls *t;
	int net, wnet, local;		/* the client's fds, and PROGRAM's end of the pair */
	struct dir up, down;		/* client to PROGRAM, PROGRAM to client */
	enum io_end end;		/* set: the relay is over */
	struct conn *c;
};

static int
tls_want(ssize_t r)
{
	return r == TLS_WANT_POLLIN ? POLLIN : r == TLS_WANT_POLLOUT ? POLLOUT : 0;
}

/*
 * A failed tls_read: a reset (the client is gone), a FIN without
 * close_notify (OpenSSL takes the stream as cut, both ways, so what
 * PROGRAM has not sent yet cannot be; the record says so), or a broken
 * record. The reset first: the failed read took its error, and the socket
 * then reads as at its end.
 */
static enum io_end
read_failed(struct relay *r)
{
	if (was_reset(r->t, errno))
		return IO_RESET;
	if (truncated(r->net)) {
		conn_add_field(r->c, "close", "INETKIT_TLS_CLOSE", "truncated", 9);
		return IO_EOF;
	}
	return tls_failed(r->c, r->t, "read");
}

/* Moves what can move now, without waiting. Returns 1 if anything moved. */
static int
step(struct relay *r)
{
	struct dir *up = &r->up, *dn = &r->down;
	int moved = 0;
	ssize_t n;

	if (up->open && up->len == 0) {
		n = tls_read(r->t, up->buf, sizeof up->buf);
		if (n > 0) {
			up->off = 0, up->len = up->discard ? 0 : (size_t)n, up->want = 0, moved = 1;
			up->bytes += (uint64_t)n;
		} else if (n == 0) {
			up->open = 0, up->want = 0, moved = 1;
		} else if (!(up->want = tls_want(n))) {
			r->end = read_failed(r);
			return 1;
		}
	}
	if (up->len) {
		n = send(r->local, up->buf + up->off, up->len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			up->off += (size_t)n, up->len -= (size_t)n, moved = 1;
		} else if (errno != EAGAIN && errno != EINTR) {
			/*
			 * PROGRAM stopped reading. The client's bytes are
			 * still read (and dropped), so that it never stalls,
			 * and the connection never closes on unread input,
			 * which would reset it and lose PROGRAM's answer.
			 */
			up->len = 0, up->discard = 1, up->shut = 1, moved = 1;
		}
	}
	if (!up->open && !up->len && !up->shut) {
		(void)shutdown(r->local, SHUT_WR);
		up->shut = 1, moved = 1;
	}
	if (dn->open && dn->len == 0) {
		n = recv(r->local, dn->buf, sizeof dn->buf, MSG_DONTWAIT);
		if (n > 0) {
			dn->off = 0, dn->len = (size_t)n, moved = 1;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			dn->open = 0, moved = 1;
		}
	}
	if (dn->len) {
		n = tls_write(r->t, dn->buf + dn->off, dn->len < TLS_RECORD ? dn->len : TLS_RECORD);
		if (n > 0) {
			dn->off += (size_t)n, dn->len -= (size_t)n, dn->want = 0, moved = 1;
			dn->bytes += (uint64_t)n;
		} else if (!(dn->want = tls_want(n))) {
			r->end = tls_failed(r->c, r->t, "write");
			return 1;
		}
	}
	if (!dn->open && !dn->len && !dn->shut) {
		/* PROGRAM is done talking: close_notify, then the FIN after it. */
		n = tls_close(r->t);
		if ((dn->want = tls_want(n)))
			return moved;
		(void)shutdown(r->wnet, SHUT_WR);
		dn->shut = 1, moved = 1;
	}
	return moved;
}

/*
 * Relays until both directions are passed on, or the client's stream
 * fails, or PROGRAM is gone with its output sent (a client that goes on
 * sending to a finished PROGRAM has no one to read it), or nothing moved
 * for the idle timeout, or the session was stopped. The client's socket
 * is polled only for what a TLS call waits for, and always for its
 * errors: a reset while PROGRAM thinks ends the relay, and never spins.
 */
#define RELAY_DRAIN_MS 2000		/* what a client sends after PROGRAM exited: read this long */
static void
relay(struct relay *r, int pidfd, unsigned idle)
{
	int64_t last = io_now_ms(), drain_until = 0;

	for (;;) {
		struct pollfd p[4];
		short ne = 0, we = 0;
		int n = 0, pr, stop, i, k, timeout = -1;

		while (!r->end && !io_stopped() && step(r))	/* a stop is seen even if never idle */
			last = io_now_ms();
		if (r->end)
			return;
		/* Done both ways (a direction whose reader is gone: once its client is done too). */
		if (r->down.shut && r->up.shut && (!r->up.discard || !r->up.open)) {
			r->end = IO_EOF;
			return;
		}
		if ((stop = io_stopped())) {
			r->end = (enum io_end)stop;
			return;
		}
		if (r->up.want)
			*(r->up.want == POLLOUT ? &we : &ne) |= (short)r->up.want;
		if (r->down.want)
			*(r->down.want == POLLOUT ? &we : &ne) |= (short)r->down.want;
		if (r->net == r->wnet)
			p[n++] = (struct pollfd){ .fd = r->net, .events = ne | we };
		else {
			p[n++] = (struct pollfd){ .fd = r->net, .events = ne };
			p[n++] = (struct pollfd){ .fd = r->wnet, .events = we };
		}
		k = n;
		p[n] = (struct pollfd){ .fd = r->local, .events = 0 };
		if (r->up.len)
			p[n].events |= POLLOUT;
		if (r->down.open && !r->down.len)
			p[n].events |= POLLIN;
		if (p[n].events)
			n++;
		if (pidfd >= 0 && r->down.shut && !drain_until)
			p[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		if (drain_until) {
			int64_t left = drain_until - io_now_ms();

			if (left <= 0) {
				r->end = IO_OK;
				return;
			}
			timeout = (int)left;
		}
		if (idle) {
			int64_t left = last + (int64_t)idle * 1000 - io_now_ms();

			if (left <= 0) {
				r->end = IO_IDLE;
				return;
			}
			if (timeout < 0 || left < timeout)
				timeout = (int)left;
		}
		pr = poll(p, (nfds_t)n, timeout);
		if (pr <= 0)
			continue;	/* a signal (io_stopped decides), or the idle check */
		for (i = 0; i < k; i++)
			if (!p[i].events && (p[i].revents & (POLLERR | POLLHUP | POLLNVAL))) {
				/* The client is gone while nothing was asked of it. */
				r->end = p[i].revents & POLLERR ? IO_RESET : IO_EOF;
				return;
			}
		if (pidfd >= 0 && r->down.shut && !drain_until && p[n - 1].fd == pidfd
		    && p[n - 1].revents) {
			/*
			 * PROGRAM exited and its output is sent: what the
			 * client still sends has no reader. It is read and
			 * dropped for a moment, while the client takes the
			 * answer and the close_notify, so that the close does
			 * not reset the connection under them.
			 */
			if (!r->up.open) {
				r->end = IO_EOF;
				return;
			}
			r->up.discard = 1, r->up.shut = 1, r->up.len = 0;
			drain_until = io_now_ms() + RELAY_DRAIN_MS;
		}
	}
}

/*
 * Waits for PROGRAM, which has seen the end of its stream: up to
 * REAP_GRACE_MS, then SIGTERM, as long again, then SIGKILL. Returns its
 * exit status (128 + the signal's number, if one ended it).
 */
#define REAP_GRACE_MS 5000
static int
reap(pid_t pid, int pidfd)
{
	int64_t t0 = io_now_ms();
	int st, sig = 0;
	pid_t w;

	while ((w = waitpid(pid, &st, WNOHANG)) == 0 || (w < 0 && errno == EINTR)) {
		int64_t waited = io_now_ms() - t0;

		if (w == 0 && sig == 0 && waited >= REAP_GRACE_MS)
			kill(pid, sig = SIGTERM);
		else if (w == 0 && sig == SIGTERM && waited >= 2 * REAP_GRACE_MS)
			kill(pid, sig = SIGKILL);
		if (pidfd >= 0) {
			struct pollfd p = { .fd = pidfd, .events = POLLIN };

			(void)poll(&p, 1, 100);
		} else {
			(void)poll(NULL, 0, 10);
		}
	}
	if (w < 0)
		return EXIT_TEMP;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* After the handshake: PROGRAM, the relay, and how they ended. */
static int
session(struct conn *c, struct tls *t, int fd, int wfd)
{
	static struct relay r;
	int sp[2], pidfd, status;
	pid_t pid;

	if (describe(c, t) < 0 || peer_export(&c->peer) < 0)
		return conn_end(c, EXIT_TEMP, "failed", "unable to set PROGRAM's environment");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return conn_end(c, EXIT_TEMP, "failed", "socketpair: %s", strerror(errno));
	pid = start(c, sp[1]);
	close(sp[1]);
	if (pid < 0) {
		close(sp[0]);
		return c->out.status;
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	set_nonblock(sp[0]);
	r = (struct relay){ .t = t, .net = fd, .wnet = wfd, .local = sp[0], .c = c,
	    .up = { .open = 1 }, .down = { .open = 1 } };
	relay(&r, pidfd, (unsigned)c->set->idle_timeout);
	if (r.end == IO_IDLE || r.end == IO_SESSION || r.end == IO_TERM) {
		/*
		 * A timeout's message goes through TLS (unless a record is
		 * still half written), then close_notify, which a SIGTERM
		 * gets too; the cycle sends nothing in clear.
		 */
		const struct conn_msg *m = &c->set->timeout_msg;

		if (r.end != IO_TERM && m->len && !r.down.len && tls_write(t, m->s, m->len) > 0)
			r.down.bytes += m->len;
		c->told = 1;
		(void)tls_close(t);
	}
	/* PROGRAM sees the end of its stream, and has a moment to finish. */
	close(sp[0]);
	status = reap(pid, pidfd);
	if (pidfd >= 0)
		close(pidfd);
	c->io.bytes_in = r.up.bytes;
	c->io.bytes_out = r.down.bytes;
	/* IO_OK: the client may still be sending; the cycle's close drains it (io_linger). */
	c->io.end = r.end;
	if (r.end == IO_ERROR) {
		/* A broken record from the client: malformed input, its fault, not ours. */
		return conn_end(c, EXIT_USAGE, "served", NULL);
	}
	/*
	 * PROGRAM's status is the connection's, but its refusals are its own
	 * to count (cmdserver's table of sources knows which were the
	 * client's fault): tls penalizes only what it refused itself.
	 */
	c->out.blameless = 1;
	return conn_end(c, status, "served", NULL);
}

static int
process(struct conn *c)
{
	int fd = c->conn_fd, wfd = fd == 0 ? 1 : fd, status;
	struct tls *t = NULL;

	set_nonblock(fd);
	set_nodelay(fd);
	if (wfd != fd) {
		set_nonblock(wfd);
		set_nodelay(wfd);
	}
	if ((fd == wfd ? tls_accept_socket(server, &t, fd) : tls_accept_fds(server, &t, fd, wfd))
	    < 0)
		return conn_end(c, EXIT_TEMP, "failed", "tls: %.200s", tls_error(server));
	status = handshake(c, t, fd, wfd) < 0 ? c->out.status : session(c, t, fd, wfd);
	tls_free(t);
	return status;
}

static const struct service tls = {
	.name = "tls",
	.no_prefork = "PROGRAM is a child of the connection, its TLS state the session's own",
	.operands = "PROGRAM [ARG...]",
	.summary = "TLS server in front of PROGRAM: the handshake on the client's connection, "
	    "then PROGRAM on the plaintext.",
	.options = options,
	.min_operands = 1,
	.exit_extra = "otherwise PROGRAM's; 126 PROGRAM could not be run, 127 PROGRAM not found",
	.configure = configure,
	.pre_connection = pre_connection,
	.process_connection = process,
};

int
main(int argc, char **argv)
{
	return conn_main(&tls, argc, argv);
}
