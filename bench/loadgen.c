/* SPDX-License-Identifier: MIT */
/*
 * loadgen: the inetkit benchmark's client. Loopback and UNIX sockets only,
 * and every loop is bounded in count and in time.
 *
 *   loadgen rtt  ADDR N            connect, send a line, read its echo, close; N times
 *   loadgen rate ADDR C SECS       C clients doing rtt sessions for SECS seconds; the
 *                                  client's CPU time over the wall time (client_util)
 *   loadgen burst ADDR C N         N rtt sessions, C at a time; every echo verified
 *   loadgen bulk ADDR BYTES [lc] [noshut]
 *                                  one connection, BYTES through, echo verified (lc: lowered);
 *                                  the end of the stream sent as a half-close, or (noshut) the
 *                                  connection closed once the whole echo is back; with the
 *                                  client's CPU time over the wall time (client_util)
 *   loadgen msgs ADDR N [SIZE]     one connection, N messages of SIZE bytes (default 64), each
 *                                  echoed and verified before the next is sent
 *   loadgen script ADDR N FILE     send FILE, read to EOF, N times (cmdserver sessions)
 *   loadgen rss  ADDR PID          peak RSS (VmHWM, KiB) of the process serving one connection:
 *                                  PID or the descendant of it that holds the server's end
 *
 * ADDR is 127.x.y.z:PORT, [::1]:PORT or a path to a UNIX socket. Prints
 * "key=value" figures on one line; exits 1 on any wrong byte.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RUNS_MAX 1000000
#define CLIENTS_MAX 256
#define SECS_MAX 600
#define LINE "The quick brown fox jumps over the lazy dog\n"

static void
fatal(const char *msg)
{
	fprintf(stderr, "loadgen: fatal: %s%s%s\n", msg, errno ? ": " : "",
	    errno ? strerror(errno) : "");
	exit(2);
}

#include "clock.h"
#include "target.h"

static int
dial(void)
{
	int one = 1, fd = socket(target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&target, target_len) < 0)
		fatal("connect");
	if (target.ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static void
send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			fatal("send");
		p += w;
		n -= (size_t)w;
	}
}

/* Reads exactly n bytes (or to EOF if n is 0); returns the count read. */
static size_t
recv_n(int fd, char *buf, size_t cap, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (n ? got < n : got < cap) {
		r = recv(fd, buf + got, (n ? n : cap) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* One session: connect, send a line, read the echo, close. Returns seconds. */
static double
rtt_once(void)
{
	char buf[sizeof LINE];
	double t0 = now();
	int fd = dial();

	send_all(fd, LINE, sizeof LINE - 1);
	if (recv_n(fd, buf, sizeof buf, sizeof LINE - 1) != sizeof LINE - 1
	    || strncasecmp(buf, LINE, sizeof LINE - 1) != 0) {
		errno = 0;
		fatal("wrong echo");
	}
	close(fd);
	return now() - t0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static long
bounded(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || v < lo || v > hi) {
		errno = 0;
		fprintf(stderr, "loadgen: %s must be %ld..%ld\n", what, lo, hi);
		exit(2);
	}
	return v;
}

static void
report_times(double *t, long n, double wall)
{
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	printf("runs=%ld median_us=%.1f p99_us=%.1f mean_rate=%.0f\n", n, t[n / 2] * 1e6,
	    t[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] * 1e6, (double)n / wall);
}

static int
cmd_rtt(long n)
{
	double *t = calloc((size_t)n, sizeof *t), t0 = now();
	long i;

	if (!t)
		fatal("calloc");
	for (i = 0; i < n && now() - t0 < SECS_MAX; i++)
		t[i] = rtt_once();
	report_times(t, i, now() - t0);
	free(t);
	return 0;
}

struct worker {
	pthread_t th;
	double until;
	long done;
};

static void *
work(void *arg)
{
	struct worker *w = arg;

	while (now() < w->until && w->done < RUNS_MAX)
		(void)rtt_once(), w->done++;
	return NULL;
}

static int
cmd_rate(long c, long secs)
{
	struct worker w[CLIENTS_MAX];
	double c0 = cpu_self(), t0 = now(), dt;
	long i, total = 0;

	for (i = 0; i < c; i++) {
		w[i].until = t0 + (double)secs;
		w[i].done = 0;
		if (pthread_create(&w[i].th, NULL, work, &w[i]) != 0)
			fatal("pthread_create");
	}
	for (i = 0; i < c; i++) {
		pthread_join(w[i].th, NULL);
		total += w[i].done;
	}
	dt = now() - t0;
	/* As bulk's: near 1.00, the client's core is full, and the client may be the bound. */
	printf("clients=%ld conns=%ld rate=%.0f client_util=%.2f\n", c, total, (double)total / dt,
	    (cpu_self() - c0) / dt);
	return 0;
}

/* burst: workers take sessions from one shared count until N are done. */
static pthread_mutex_t burst_lock = PTHREAD_MUTEX_INITIALIZER;
static long burst_left;
static double burst_until;

static void *
burst_work(void *arg)
{
	long *done = arg;

	for (;;) {
		pthread_mutex_lock(&burst_lock);
		if (burst_left == 0 || now() > burst_until) {
			pthread_mutex_unlock(&burst_lock);
			return NULL;
		}
		burst_left--;
		pthread_mutex_unlock(&burst_lock);
		(void)rtt_once();
		(*done)++;
	}
}

static int
cmd_burst(long c, long n)
{
	pthread_t th[CLIENTS_MAX];
	long done[CLIENTS_MAX] = { 0 }, total = 0, i;
	double t0 = now();

	burst_left = n;
	burst_until = t0 + SECS_MAX;
	for (i = 0; i < c; i++)
		if (pthread_create(&th[i], NULL, burst_work, &done[i]) != 0)
			fatal("pthread_create");
	for (i = 0; i < c; i++) {
		pthread_join(th[i], NULL);
		total += done[i];
	}
	printf("clients=%ld conns=%ld intact=%ld rate=%.0f\n", c, n, total,
	    (double)total / (now() - t0));
	return total == n ? 0 : 1;
}

struct bulk {
	int fd;
	long bytes;
	int lc;
	long bad;
};

/* The stream: pattern i % 95 over the printable range, lowered if lc. */
static char
pattern(long i, int lc)
{
	char ch = (char)(' ' + i % 95);

	if (ch == ' ' + 94)
		ch = '\n';	/* lines, so lcecho passes them at once; never a blank line */
	if (i % 95 == 0)
		ch = 'A';
	return lc && ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
}

/*
 * The pattern repeats every PERIOD bytes, so CHUNK + PERIOD bytes of it, made
 * once, hold every chunk of the stream at any offset: the writer sends from
 * them and the reader memcmps against them, and neither spends its time
 * making or checking the stream byte by byte (which capped the client near
 * 300 MiB/s). A chunk is 1 MiB, sent in one send and read in one recv: in
 * 64 KiB ones the client's system calls were most of its own cost, and it
 * was the bound of a server that does no work (bench/spliceecho.c).
 */
#define PERIOD 95
#define CHUNK (1 << 20)
static char stream[2][CHUNK + PERIOD];	/* as sent; as lcecho returns it */

static void
make_streams(void)
{
	long i;

	for (i = 0; i < CHUNK + PERIOD; i++)
		stream[0][i] = pattern(i, 0), stream[1][i] = pattern(i, 1);
}

/* The chunk of the stream that starts at offset off. */
static const char *
expected(long off, int lc)
{
	return stream[lc] + off % PERIOD;
}

/* The wrong bytes of a chunk that failed its memcmp. */
static long
count_wrong(const char *got, const char *want, size_t n)
{
	long bad = 0;
	size_t k;

	for (k = 0; k < n; k++)
		bad += got[k] != want[k];
	return bad;
}

static void *
bulk_reader(void *arg)
{
	struct bulk *b = arg;
	static char buf[CHUNK];
	long got = 0;
	ssize_t r;

	while (got < b->bytes) {
		r = recv(b->fd, buf, sizeof buf, 0);
		if (r <= 0)
			break;
		if (memcmp(buf, expected(got, b->lc), (size_t)r) != 0)
			b->bad += count_wrong(buf, expected(got, b->lc), (size_t)r);
		got += r;
	}
	b->bad += b->bytes - got;
	return NULL;
}

/*
 * noshut is for a relay that ends both ways at its client's first EOF
 * (systemd-socket-proxyd), where a half-close would cut the echo short.
 * client_util is the client's CPU time (both threads, the kernel's work on
 * its behalf included) over the wall time: below 1.00 its core had time to
 * spare, so the client was not the bound of what it measured.
 */
static int
cmd_bulk(long bytes, int lc, int noshut)
{
	struct timeval tv = { 10, 0 };
	struct bulk b;
	pthread_t th;
	long sent = 0, n;
	double c0, t0, dt;

	make_streams();
	b = (struct bulk){ dial(), bytes, lc, 0 };
	/* Without the half-close a server that waits for the end would never answer: bounded. */
	if (noshut)
		setsockopt(b.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	c0 = cpu_self();
	t0 = now();
	if (pthread_create(&th, NULL, bulk_reader, &b) != 0)
		fatal("pthread_create");
	while (sent < bytes) {
		n = bytes - sent < CHUNK ? bytes - sent : CHUNK;
		send_all(b.fd, expected(sent, 0), (size_t)n);
		sent += n;
	}
	if (!noshut)
		shutdown(b.fd, SHUT_WR);
	pthread_join(th, NULL);
	dt = now() - t0;
	close(b.fd);
	c0 = cpu_self() - c0;
	printf("bytes=%ld secs=%.3f mib_s=%.1f wrong=%ld client_cpu_s=%.3f client_util=%.2f\n",
	    bytes, dt, (double)bytes / dt / 1048576, b.bad, c0, c0 / dt);
	return b.bad ? 1 : 0;
}

/*
 * msgs: the round trip of a message on a connection already open (what a
 * relay adds to each exchange, its connect left out): a first message,
 * untimed, then N, each sent whole and its echo read back and checked
 * before the next.
 */
static int
cmd_msgs(long n, long size)
{
	static char buf[CHUNK];
	double *t = calloc((size_t)n, sizeof *t), t0, s;
	long i, off = 0;
	int fd;

	if (!t)
		fatal("calloc");
	make_streams();
	fd = dial();
	t0 = now();
	for (i = -1; i < n && now() - t0 < SECS_MAX; i++, off += size) {
		s = now();
		send_all(fd, expected(off, 0), (size_t)size);
		if (recv_n(fd, buf, sizeof buf, (size_t)size) != (size_t)size
		    || memcmp(buf, expected(off, 0), (size_t)size) != 0) {
			errno = 0;
			fatal("wrong echo");
		}
		if (i >= 0)
			t[i] = now() - s;
	}
	close(fd);
	report_times(t, i, now() - t0);
	free(t);
	return 0;
}

static int
cmd_script(long n, const char *path)
{
	static char script[65536], reply[1 << 20];
	double *t = calloc((size_t)n, sizeof *t), t0 = now(), s;
	size_t len;
	long i;
	FILE *f = fopen(path, "rb");

	if (!f || !t)
		fatal(path);
	len = fread(script, 1, sizeof script, f);
	fclose(f);
	for (i = 0; i < n && now() - t0 < SECS_MAX; i++) {
		int fd = dial();

		s = now();
		send_all(fd, script, len);
		if (recv_n(fd, reply, sizeof reply, 0) == 0) {
			errno = 0;
			fatal("empty reply");
		}
		close(fd);
		t[i] = now() - s;
	}
	report_times(t, i, now() - t0);
	free(t);
	return 0;
}

/*
 * The inode of the server's end of our connection fd: the socket in
 * /proc/net/tcp whose local address is fd's peer and whose remote one is
 * fd's own. 0 if there is none (IPv4 only).
 */
static unsigned long
server_inode(int fd)
{
	struct sockaddr_in me, peer;
	socklen_t ml = sizeof me, pl = sizeof peer;
	unsigned long v[4], ino, found = 0;
	char line[512], *p;
	int i;
	FILE *f;

	if (getsockname(fd, (struct sockaddr *)&me, &ml) < 0
	    || getpeername(fd, (struct sockaddr *)&peer, &pl) < 0 || me.sin_family != AF_INET
	    || !(f = fopen("/proc/net/tcp", "r")))
		return 0;
	/* "  sl: LOCAL_ADDR:PORT REM_ADDR:PORT st tx:rx tr:when retrnsmt uid timeout inode" */
	while (!found && fgets(line, sizeof line, f)) {
		if (!(p = strchr(line, ':')))
			continue;
		for (i = 0; i < 4; i++)
			v[i] = strtoul(p + 1, &p, 16);
		for (i = 0; i < 8; i++)		/* st tx:rx tr:when retrnsmt uid timeout */
			(void)strtoul(p + 1, &p, 16);
		ino = strtoul(p, NULL, 10);
		if (v[0] == peer.sin_addr.s_addr && v[1] == ntohs(peer.sin_port)
		    && v[2] == me.sin_addr.s_addr && v[3] == ntohs(me.sin_port))
			found = ino;
	}
	fclose(f);
	return found;
}

/* Whether process pid has the socket of inode ino open. */
static int
holds(long pid, unsigned long ino)
{
	char path[64], link[64], want[64];
	struct dirent *d;
	DIR *dir;
	ssize_t n;
	int yes = 0;

	snprintf(path, sizeof path, "/proc/%ld/fd", pid);
	snprintf(want, sizeof want, "socket:[%lu]", ino);
	if (!(dir = opendir(path)))
		return 0;
	while (!yes && (d = readdir(dir))) {
		n = readlinkat(dirfd(dir), d->d_name, link, sizeof link - 1);
		yes = n > 0 && (link[n] = '\0', strcmp(link, want) == 0);
	}
	closedir(dir);
	return yes;
}

#define TREE_MAX 4096

/*
 * The process serving our open connection fd, among ppid and its
 * descendants: the deepest one holding the server's end of it (an
 * activator's child, a prefork server's worker, Apache's), or, where that
 * cannot be told (not IPv4), ppid's newest child.
 */
static long
server_pid(long ppid, int fd)
{
	static long tree[TREE_MAX];
	unsigned long ino = server_inode(fd);
	long pid, child = 0, found = 0;
	size_t head = 0, n = 1;
	char path[96], line[4096], *p, *end;
	glob_t g;
	size_t i;
	FILE *f;

	tree[0] = ppid;
	for (; head < n; head++) {
		if (ino && holds(tree[head], ino))
			found = tree[head];
		snprintf(path, sizeof path, "/proc/%ld/task/*/children", tree[head]);
		if (glob(path, 0, NULL, &g) != 0)
			continue;
		for (i = 0; i < g.gl_pathc; i++)
			if ((f = fopen(g.gl_pathv[i], "r"))) {
				while (fgets(line, sizeof line, f))
					for (p = line; (pid = strtol(p, &end, 10)) > 0 && n < TREE_MAX;
					    p = end)
						tree[n++] = pid, child = head == 0 ? pid : child;
				fclose(f);
			}
		globfree(&g);
	}
	return ino ? found : child;
}

/* Peak RSS (VmHWM) of the process serving one connection of ours (server_pid). */
static int
cmd_rss(long ppid)
{
	char path[64], buf[4096], *p;
	long child = 0, hwm = -1;
	double t0 = now();
	struct timeval tv = { 0, 500 * 1000 };
	int fd = dial();
	FILE *f;

	/* Whatever the server answers within half a second: an echo, or a prompt. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	send_all(fd, LINE, sizeof LINE - 1);
	recv_n(fd, buf, sizeof buf, sizeof LINE - 1);
	while (!child && now() - t0 < 5)
		child = server_pid(ppid, fd);
	snprintf(path, sizeof path, "/proc/%ld/status", child);
	if (child && (f = fopen(path, "r"))) {
		while (fgets(buf, sizeof buf, f))
			if ((p = strstr(buf, "VmHWM:")))
				hwm = strtol(p + 6, NULL, 10);
		fclose(f);
	}
	close(fd);
	printf("pid=%ld vmhwm_kib=%ld\n", child, hwm);
	return hwm < 0;
}

/* Whether a word is among the arguments after the mode's numbers. */
static int
has_word(int argc, char **argv, const char *w)
{
	int i;

	for (i = 4; i < argc; i++)
		if (strcmp(argv[i], w) == 0)
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: loadgen rtt|rate|burst|bulk|msgs|script|rss ADDR ARGS... "
		    "(see source)\n");
		return 2;
	}
	parse_addr(argv[2]);
	if (strcmp(argv[1], "rtt") == 0)
		return cmd_rtt(bounded(argv[3], 1, RUNS_MAX, "N"));
	if (strcmp(argv[1], "rate") == 0 && argc >= 5)
		return cmd_rate(bounded(argv[3], 1, CLIENTS_MAX, "C"), bounded(argv[4], 1, SECS_MAX,
		    "SECS"));
	if (strcmp(argv[1], "burst") == 0 && argc >= 5)
		return cmd_burst(bounded(argv[3], 1, CLIENTS_MAX, "C"), bounded(argv[4], 1, RUNS_MAX,
		    "N"));
	if (strcmp(argv[1], "bulk") == 0)
		return cmd_bulk(bounded(argv[3], 1, 1L << 34, "BYTES"), has_word(argc, argv, "lc"),
		    has_word(argc, argv, "noshut"));
	if (strcmp(argv[1], "msgs") == 0)
		return cmd_msgs(bounded(argv[3], 1, RUNS_MAX, "N"), argc > 4 ? bounded(argv[4], 1,
		    CHUNK, "SIZE") : 64);
	if (strcmp(argv[1], "script") == 0 && argc >= 5)
		return cmd_script(bounded(argv[3], 1, RUNS_MAX, "N"), argv[4]);
	if (strcmp(argv[1], "rss") == 0)
		return cmd_rss(bounded(argv[3], 2, 1L << 22, "PID"));
	fprintf(stderr, "loadgen: unknown mode %s\n", argv[1]);
	return 2;
}
