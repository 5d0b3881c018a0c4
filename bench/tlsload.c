/* SPDX-License-Identifier: MIT */
/*
 * tlsload: the inetkit benchmark's TLS client (OpenSSL's libssl), for TLS
 * servers in front of an echo (inetkit tls, stunnel). Loopback only, and
 * every loop is bounded in count and in time.
 *
 *   tlsload hs   ADDR C SECS [PID]  C clients, each connecting again and again
 *                                   for SECS: a full TLS 1.3 handshake (never
 *                                   resumed), one line echoed and checked,
 *                                   close_notify both ways, close
 *   tlsload bulk ADDR BYTES [PID]   one connection: BYTES sent and the echo
 *                                   read back at once (one thread, poll), the
 *                                   stream made once in memory, its echo
 *                                   checked with memcmp
 *   tlsload reaper CMD [ARG...]     runs CMD (the activator) as a child
 *                                   subreaper: a server's child that outlives
 *                                   its parent (stunnel does not wait for its
 *                                   exec'd program) is reaped by the
 *                                   activator, so its CPU time is counted
 *
 * PID, if given, is the activator's (systemd-socket-activate): the servers'
 * CPU time is read from its /proc/PID/stat, its own and that of the
 * children it reaped (the per-connection servers, what each reaped, and,
 * under "reaper", their orphans), so the client can show which side was
 * the bound: client_util and server_util are each side's CPU seconds over
 * the wall time (1.00 = one core kept busy), client_ceiling what the client
 * alone could do on its core (the work done over its own CPU time), and
 * client_wait_s the time its threads waited, runnable, for their CPU.
 *
 * ADDR is 127.x.y.z:PORT or [::1]:PORT. Prints "key=value" figures on one
 * line (the cipher suite and key exchange group negotiated among them);
 * exits 1 on any wrong byte, a resumed session or a failed connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define CLIENTS_MAX 64
#define SECS_MAX 600
#define RUNS_MAX 1000000
#define BULK_MAX (1L << 30)
#define LINE "The quick brown fox jumps over the lazy dog\n"

static SSL_CTX *ctx;
static long server_pid;
static char cipher[64] = "unknown", group[32] = "unknown";
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void
fatal(const char *msg)
{
	unsigned long e = ERR_get_error();
	char ebuf[256] = "";

	if (e)
		ERR_error_string_n(e, ebuf, sizeof ebuf);
	fprintf(stderr, "tlsload: fatal: %s%s%s%s%s\n", msg, errno ? ": " : "",
	    errno ? strerror(errno) : "", e ? ": " : "", ebuf);
	exit(1);
}

#include "clock.h"
#include "target.h"

/* Seconds this thread has waited, runnable, for a CPU (/proc/thread-self/schedstat). */
static double
wait_self(void)
{
	unsigned long long run, wait;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	int ok = f && fscanf(f, "%llu %llu", &run, &wait) == 2;

	if (f)
		fclose(f);
	return ok ? (double)wait / 1e9 : 0;
}

/* The activator's CPU time, its own and its reaped children's (utime stime cutime cstime). */
static double
cpu_server(void)
{
	char path[64], buf[1024], *p;
	unsigned long long v[4];
	FILE *f;
	size_t n;

	if (!server_pid)
		return 0;
	snprintf(path, sizeof path, "/proc/%ld/stat", server_pid);
	if (!(f = fopen(path, "r")))
		fatal(path);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields 14-17, counted after the command name's closing parenthesis (field 2). */
	if (!(p = strrchr(buf, ')')) || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3]) != 4) {
		errno = 0;
		fatal("cannot read the activator's /proc/PID/stat");
	}
	return (double)(v[0] + v[1] + v[2] + v[3]) / (double)sysconf(_SC_CLK_TCK);
}

/* Waits (at most 5 s) until the activator has reaped every child, so their times are counted. */
static void
servers_gone(void)
{
	char path[80], b[16];
	double t0 = now();
	FILE *f;

	if (!server_pid)
		return;
	snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", server_pid, server_pid);
	while (now() - t0 < 5) {
		size_t n = 0;

		if ((f = fopen(path, "r"))) {
			n = fread(b, 1, sizeof b, f);
			fclose(f);
		}
		if (n == 0 || (n == 1 && b[0] == ' '))
			return;
		usleep(2000);
	}
	fprintf(stderr, "tlsload: the servers' processes outlived the wait; their CPU is undercounted\n");
}


static long
bounded(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || v < lo || v > hi) {
		fprintf(stderr, "tlsload: %s must be %ld..%ld\n", what, lo, hi);
		exit(2);
	}
	return v;
}

/* A TLS 1.3 client that never resumes and does not check the certificate chain. */
static void
setup(void)
{
	if (!(ctx = SSL_CTX_new(TLS_client_method())))
		fatal("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* Bulk: records read several at a time, written in part when the socket is full. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, 4 * 16384 + 4 * 256);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

/* A connection with its handshake done, on a blocking socket. */
static SSL *
open_tls(void)
{
	int one = 1, fd = socket(target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	SSL *s;

	if (fd < 0)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&target, target_len) < 0)
		fatal("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (!(s = SSL_new(ctx)) || !SSL_set_fd(s, fd))
		fatal("SSL_new");
	errno = 0;
	if (SSL_connect(s) != 1)
		fatal("handshake");
	if (SSL_session_reused(s)) {
		errno = 0;
		fatal("a session was resumed");
	}
	return s;
}

static void
describe(SSL *s)
{
	const char *g = SSL_group_to_name(s, SSL_get_negotiated_group(s));

	pthread_mutex_lock(&lock);
	snprintf(cipher, sizeof cipher, "%s", SSL_get_cipher_name(s));
	snprintf(group, sizeof group, "%s", g ? g : "unknown");
	pthread_mutex_unlock(&lock);
}

/* close_notify, then the server's close_notify (or its FIN), then close. */
static void
close_tls(SSL *s)
{
	char b[256];
	int fd = SSL_get_fd(s);

	if (SSL_shutdown(s) == 0)
		while (SSL_read(s, b, sizeof b) > 0)
			;
	SSL_free(s);
	close(fd);
}

/* One session: handshake, a line and its echo, both close_notify. Returns seconds. */
static double
hs_once(int first)
{
	char buf[sizeof LINE];
	double t0 = now();
	size_t got = 0;
	int n;
	SSL *s = open_tls();

	if (first)
		describe(s);
	if (SSL_write(s, LINE, sizeof LINE - 1) != (int)sizeof LINE - 1)
		fatal("write");
	while (got < sizeof LINE - 1 && (n = SSL_read(s, buf + got, (int)(sizeof LINE - 1 - got)))
	    > 0)
		got += (size_t)n;
	if (got != sizeof LINE - 1 || memcmp(buf, LINE, got) != 0) {
		errno = 0;
		fatal("wrong echo");
	}
	close_tls(s);
	return now() - t0;
}

struct worker {
	pthread_t th;
	double until;
	long done;
	double *t;
	double waited;
};

static void *
hs_work(void *arg)
{
	struct worker *w = arg;
	double w0 = wait_self();

	while (now() < w->until && w->done < RUNS_MAX / CLIENTS_MAX) {
		w->t[w->done] = hs_once(w->done == 0);
		w->done++;
	}
	w->waited = wait_self() - w0;
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The client's side of the evidence: its CPU, the time its threads waited
 * runnable for a CPU (another tenant's load on its core), and its ceiling.
 */
static void
report_cpu(double wall, double ccpu, double cwait, double scpu, double work)
{
	printf(" cipher=%s group=%s client_cpu_s=%.3f client_wait_s=%.3f server_cpu_s=%.3f "
	    "client_util=%.2f server_util=%.2f client_ceiling=%.1f\n", cipher, group, ccpu, cwait,
	    scpu, ccpu / wall, server_pid ? scpu / wall : 0.0, ccpu > 0 ? work / ccpu : 0.0);
}

static int
cmd_hs(long c, long secs)
{
	struct worker w[CLIENTS_MAX];
	double *all = calloc(RUNS_MAX, sizeof *all), c0, s0, t0, wall, waited = 0;
	long i, total = 0;

	if (!all)
		fatal("calloc");
	s0 = cpu_server();
	c0 = cpu_self();
	t0 = now();
	for (i = 0; i < c; i++) {
		w[i] = (struct worker){ .until = t0 + (double)secs, .t = all + i * (RUNS_MAX / CLIENTS_MAX) };
		if (pthread_create(&w[i].th, NULL, hs_work, &w[i]) != 0)
			fatal("pthread_create");
	}
	for (i = 0; i < c; i++)
		pthread_join(w[i].th, NULL);
	wall = now() - t0;
	c0 = cpu_self() - c0;
	servers_gone();
	s0 = cpu_server() - s0;
	/* The latencies, gathered into one list. */
	for (i = 0; i < c; i++) {
		memmove(all + total, w[i].t, (size_t)w[i].done * sizeof *all);
		total += w[i].done;
		waited += w[i].waited;
	}
	qsort(all, (size_t)total, sizeof *all, cmp_double);
	printf("clients=%ld conns=%ld rate=%.1f median_us=%.1f", c, total, (double)total / wall,
	    total ? all[total / 2] * 1e6 : 0.0);
	report_cpu(wall, c0, waited, s0, (double)total);
	free(all);
	return total ? 0 : 1;
}

/* The stream: xorshift words, made once, before the clock starts. */
static char *
make_stream(long bytes)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL, *p;
	char *s = malloc((size_t)bytes + 8);
	long i;

	if (!s)
		fatal("malloc");
	for (i = 0, p = (uint64_t *)s; i < bytes; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		*p++ = x;
	}
	return s;
}

static int
cmd_bulk(long bytes)
{
	static char buf[65536];
	char *src = make_stream(bytes);
	long sent = 0, got = 0, wrong = 0;
	double c0, s0, t0, w0, wall;
	int fd, err;
	size_t n;
	SSL *s;

	s0 = cpu_server();
	c0 = cpu_self();
	w0 = wait_self();
	t0 = now();
	s = open_tls();
	describe(s);
	fd = SSL_get_fd(s);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (got < bytes && now() - t0 < SECS_MAX) {
		short ev = POLLIN;
		struct pollfd p = { .fd = fd };

		/* Read what has come (checking it), then write what fits, then wait for either. */
		for (;;) {
			if (SSL_read_ex(s, buf, sizeof buf, &n)) {
				if (n > (size_t)(bytes - got) || memcmp(buf, src + got, n) != 0)
					wrong++;
				got += (long)n;
				continue;
			}
			err = SSL_get_error(s, 0);
			if (err == SSL_ERROR_WANT_WRITE)
				ev |= POLLOUT;
			else if (err != SSL_ERROR_WANT_READ) {
				errno = 0;
				fatal("read: the stream ended early");
			}
			break;
		}
		while (sent < bytes) {
			size_t len = bytes - sent < 262144 ? (size_t)(bytes - sent) : 262144;

			if (SSL_write_ex(s, src + sent, len, &n)) {
				sent += (long)n;
				continue;
			}
			err = SSL_get_error(s, 0);
			if (err == SSL_ERROR_WANT_WRITE)
				ev |= POLLOUT;
			else if (err != SSL_ERROR_WANT_READ)
				fatal("write");
			break;
		}
		if (got < bytes && !SSL_has_pending(s)) {
			p.events = ev;
			if (poll(&p, 1, 10000) == 0) {
				errno = 0;
				fatal("no progress in 10 s");
			}
		}
	}
	wall = now() - t0;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	close_tls(s);
	c0 = cpu_self() - c0;
	w0 = wait_self() - w0;
	servers_gone();
	s0 = cpu_server() - s0;
	free(src);
	if (got != bytes)
		wrong++;
	printf("bytes=%ld secs=%.3f mib_s=%.1f wrong=%ld", bytes, wall, (double)bytes / wall / 1048576,
	    wrong);
	report_cpu(wall, c0, w0, s0, (double)bytes / 1048576);
	return wrong ? 1 : 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "reaper") == 0) {
		/* The attribute stays across execve (it is the process's, not the image's). */
		if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
			fatal("prctl");
		execvp(argv[2], argv + 2);
		fatal(argv[2]);
	}
	if (argc < 4) {
		fprintf(stderr, "usage: tlsload hs ADDR C SECS [PID] | bulk ADDR BYTES [PID] | "
		    "reaper CMD [ARG...]\n");
		return 2;
	}
	parse_addr(argv[2]);
	setup();
	if (strcmp(argv[1], "hs") == 0 && argc >= 5) {
		if (argc > 5)
			server_pid = bounded(argv[5], 2, 1L << 22, "PID");
		return cmd_hs(bounded(argv[3], 1, CLIENTS_MAX, "C"), bounded(argv[4], 1, SECS_MAX,
		    "SECS"));
	}
	if (strcmp(argv[1], "bulk") == 0) {
		if (argc > 4)
			server_pid = bounded(argv[4], 2, 1L << 22, "PID");
		return cmd_bulk(bounded(argv[3], 1, BULK_MAX, "BYTES"));
	}
	fprintf(stderr, "tlsload: unknown mode %s\n", argv[1]);
	return 2;
}
