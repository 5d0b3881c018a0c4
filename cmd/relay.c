/* SPDX-License-Identifier: MIT */
/*
 * inetkit-relay: Apache::Backend::POE's persistent backend connections as
 * an inetd-world relay. After the common steps (PROXY header, rules, block
 * list, limits) it connects to one of its BACKENDs (or takes a connection
 * its accept loop kept ready, --pool), validates it with the seed's ping
 * if asked, and relays both ways until both directions are done.
 *
 * The bytes go through a pipe per direction with splice(2): from one
 * socket into the pipe and from the pipe into the other socket, never
 * through this process's memory. A descriptor splice refuses (EINVAL: a
 * tty, a file) is copied with read and write instead.
 */
#define _GNU_SOURCE		/* splice */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/backend.h"
#include "../common/conn.h"
#include "../common/proxy.h"

#define RELAY_BACKENDS_MAX 16
#define RELAY_POOL_MAX 64		/* --pool: kept connections per backend */
#define RELAY_CHUNK 65536		/* a pipe's default capacity: one splice's most */
#define RELAY_PIPE 262144		/* asked of each pipe (F_SETPIPE_SZ): one splice's most */
#define RELAY_TRIED_MAX 512		/* the record's tried= list, before escaping */

enum balance { BAL_ORDER, BAL_HASH, BAL_RR };
enum ping_rule { PING_ALWAYS = 0, PING_NEVER = -1 };	/* else: if idle more than N s */

static const char *const balance_choices[] = { "order", "hash", "round-robin", NULL };
static const char *const send_proxy_choices[] = { "no", "v1", "v2", NULL };

static int balance, send_proxy;
static unsigned long connect_timeout = 5, down_time = 10, pool_size;
static long ping_timeout = PING_ALWAYS;
static struct conn_msg ping_send, ping_expect, unavailable;

/* --ping-timeout: -1, 0 or a number of seconds, as setPingTimeOut takes it. */
static int
set_ping_timeout(void *dest, const char *v, char *err, size_t len)
{
	unsigned long u;

	if (strcmp(v, "-1") == 0) {
		*(long *)dest = PING_NEVER;
		return 0;
	}
	if (text_uint(v, 0, 86400, &u) == 0) {
		*(long *)dest = (long)u;
		return 0;
	}
	snprintf(err, len, "\"%.64s\" is not -1 (never ping), 0 (always) or 1 to 86400 seconds",
	    v);
	return -1;
}

static const struct conf_opt options[] = {
	{ .name = "balance", .type = CONF_CHOICE, .dest = &balance, .choices = balance_choices,
	    .arg = "MODE",
	    .help = "order (the first that answers; default), hash (by client address), round-robin" },
	{ .name = "connect-timeout", .type = CONF_UINT, .dest = &connect_timeout, .min = 1,
	    .max = 3600, .arg = "SECS",
	    .help = "each attempt's connect, and its ping, within SECS (default 5)" },
	{ .name = "down-time", .type = CONF_UINT, .dest = &down_time, .max = 86400,
	    .arg = "SECS",
	    .help = "accept loop: a backend that failed is tried last for SECS (default 10)" },
	{ .name = "ping-send", .type = CONF_FUNC, .dest = &ping_send, .set = conn_msg_set,
	    .arg = "BYTES", .help = "the ping validating a backend connection (C escapes)" },
	{ .name = "ping-expect", .type = CONF_FUNC, .dest = &ping_expect, .set = conn_msg_set,
	    .arg = "BYTES", .help = "the backend's answer to the ping, read and dropped" },
	{ .name = "ping-timeout", .type = CONF_FUNC, .dest = &ping_timeout,
	    .set = set_ping_timeout, .arg = "-1|0|SECS",
	    .help = "0 ping every connection (default), -1 never, N a kept one idle over N s" },
	{ .name = "pool", .type = CONF_UINT, .dest = &pool_size, .max = RELAY_POOL_MAX,
	    .arg = "N", .help = "accept loop: keep N connections to every backend ready (default 0)" },
	{ .name = "send-proxy", .type = CONF_CHOICE, .dest = &send_proxy,
	    .choices = send_proxy_choices, .arg = "v1|v2",
	    .help = "send the backend a PROXY header naming the client (default no)" },
	{ .name = "unavailable-message", .type = CONF_FUNC, .dest = &unavailable,
	    .set = conn_msg_set, .arg = "TEXT",
	    .help = "send TEXT to a client no backend could be had for (default none)" },
	{ .name = NULL },
};

static struct backend backends[RELAY_BACKENDS_MAX];
static size_t nbackends;

/*
 * What the accept loop's processes share, set up before the first fork:
 * until when each backend is down (CLOCK_MONOTONIC ms, the same clock in
 * every process). A child that finds a backend failed writes it here, and
 * the listener's pool and the next children read it. NULL outside the
 * accept loop: a process that serves one client tries in order.
 */
struct shared {
	int64_t down_until[RELAY_BACKENDS_MAX];
};
static struct shared *shared;

static int
is_down(size_t i, int64_t now)
{
	return shared && __atomic_load_n(&shared->down_until[i], __ATOMIC_RELAXED) > now;
}

static void
mark_down(size_t i)
{
	if (shared && down_time)
		__atomic_store_n(&shared->down_until[i], io_now_ms() + (int64_t)down_time * 1000,
		    __ATOMIC_RELAXED);
}

/* FNV-1a over the client's address: the same client, the same first backend. */
static size_t
hash_addr(const struct addr *a)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < addr_len(a); i++)
		h = (h ^ a->bytes[i]) * 16777619u;
	return h % nbackends;
}

/* A short word for why an attempt failed, for the record's tried= list. */
static const char *
why_word(int e)
{
	switch (e) {
	case ECONNREFUSED: return "refused";
	case ETIMEDOUT: return "timeout";
	case ENETUNREACH: case EHOSTUNREACH: return "unreachable";
	case ENOENT: return "missing";
	case EACCES: case EPERM: return "denied";
	case ECONNRESET: case EPIPE: return "reset";
	case EAGAIN: return "busy";		/* a UNIX socket's listener, its queue full */
	case EINTR: return "stopped";
	default: return "error";
	}
}

/*
 * Starts a non-blocking connect to backend i: the socket, or -1 with
 * errno. *done is set if it is connected already (a UNIX socket may be).
 */
static int
start_connect(size_t i, int *done)
{
	const struct backend *b = &backends[i];
	int one = 1, fd = socket(b->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	*done = 0;
	if (fd < 0)
		return -1;
	/* Bytes are passed on as they come: none waits for an ACK (Nagle). */
	if (b->ss.ss_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)&b->ss, b->len) == 0) {
		*done = 1;
		return fd;
	}
	/*
	 * Only EINPROGRESS is a connect under way. A UNIX socket's EAGAIN is
	 * its listener's queue full: that connect has failed, and never
	 * completes (poll would say POLLOUT on the unconnected socket).
	 */
	if (errno == EINPROGRESS)
		return fd;
	one = errno;
	close(fd);
	errno = one;
	return -1;
}

/* The error of a connect that poll said is over: 0 if connected. */
static int
connect_error(int fd)
{
	int e = 0;
	socklen_t len = sizeof e;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		return errno;
	return e;
}

/*
 * Waits for events on fd until the deadline (ms, CLOCK_MONOTONIC): 1
 * ready, 0 timed out, -1 the session was stopped (its timeout, SIGTERM).
 */
static int
wait_fd(int fd, short events, int64_t until)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = until - io_now_ms();
		int r;

		if (io_stopped())
			return -1;
		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return 1;	/* the next call on fd says what is wrong */
	}
}

/* A connection to backend i within --connect-timeout: the fd, or -1 with *why. */
static int
connect_to(size_t i, const char **why)
{
	int done, e, fd = start_connect(i, &done);

	if (fd < 0) {
		*why = why_word(errno);
		return -1;
	}
	if (done)
		return fd;
	switch (wait_fd(fd, POLLOUT, io_now_ms() + (int64_t)connect_timeout * 1000)) {
	case 1:
		if ((e = connect_error(fd)) == 0)
			return fd;
		*why = why_word(e);
		break;
	case 0:
		*why = "timeout";
		break;
	default:
		*why = "stopped";
		break;
	}
	close(fd);
	return -1;
}

/* All of buf[0..len) to fd before until: 0, or -1 with *why. */
static int
send_all(int fd, const void *buf, size_t len, int64_t until, const char **why)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n, len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			*why = why_word(errno);
			return -1;
		}
		if (wait_fd(fd, POLLOUT, until) <= 0) {
			*why = io_stopped() ? "stopped" : "timeout";
			return -1;
		}
	}
	return 0;
}

/*
 * The seed's ping: --ping-send, then exactly as many bytes as
 * --ping-expect has, read and compared within --connect-timeout; they
 * are the backend's answer to the ping, never the client's. 0 if the
 * connection answered, or -1 with *why.
 */
static int
ping(int fd, const char **why)
{
	int64_t until = io_now_ms() + (int64_t)connect_timeout * 1000;
	char got[CONN_MSG_MAX];
	size_t have = 0;
	ssize_t n;

	if (ping_send.len && send_all(fd, ping_send.s, ping_send.len, until, why) < 0) {
		*why = strcmp(*why, "timeout") == 0 ? "ping-timeout" : *why;
		return -1;
	}
	while (have < ping_expect.len) {
		n = recv(fd, got + have, ping_expect.len - have, MSG_DONTWAIT);
		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		if (n == 0) {
			*why = "ping-eof";
			return -1;
		}
		if (errno != EAGAIN && errno != EINTR) {
			*why = why_word(errno);
			return -1;
		}
		if (wait_fd(fd, POLLIN, until) <= 0) {
			*why = io_stopped() ? "stopped" : "ping-timeout";
			return -1;
		}
	}
	if (memcmp(got, ping_expect.s, ping_expect.len) != 0) {
		*why = "ping-mismatch";
		return -1;
	}
	return 0;
}

/*
 * setPingTimeOut's rule, for a connection last used (made, or validated)
 * idle_ms ago: 0 pings every connection, -1 none, N one idle for more
 * than N seconds. A fresh connection was used just now: under N it is
 * not pinged.
 */
static int
wants_ping(int64_t idle_ms)
{
	if (!ping_send.len && !ping_expect.len)
		return 0;
	if (ping_timeout == PING_NEVER)
		return 0;
	return ping_timeout == PING_ALWAYS || idle_ms > (int64_t)ping_timeout * 1000;
}

/*
 * --pool: the accept loop keeps pool_size connections to every backend,
 * opened at the start and refilled as they are used, each handed to one
 * child across its fork. An idle kept connection that becomes readable
 * (its backend closed it, or sent what no client asked for) is dropped
 * and replaced. Connects run without blocking the loop.
 */
enum slot_state { SLOT_EMPTY, SLOT_CONNECTING, SLOT_READY };

struct slot {
	int fd;
	enum slot_state state;
	size_t backend;
	int64_t since;			/* connecting: its start; ready: when it was made */
	int64_t retry_at;		/* empty: not before */
};

static struct slot *slots;
static size_t nslots;
static size_t *polled_slot;		/* which slot each of the loop's extra fds is */
static size_t first_backend;		/* the start of this client's order, set before its fork */
static long handed = -1;		/* the slot being handed to the child being forked */
static size_t rr_next;			/* round-robin: the listener's counter */

/* In a child: the kept connection it was handed, if any. */
static int pooled_fd = -1;
static size_t pooled_backend;
static int64_t pooled_since;

#define POOL_RETRY_MS 1000		/* the least wait before a slot is filled again */

/* Out of descriptors or memory: this process's trouble, not the backend's. */
static int
local_error(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

/* A backend's name for a log line: a unix: path is the operator's bytes, escaped as a field. */
static const char *
bname(size_t i, char buf[TEXT_ESCBUF])
{
	return text_escape_field(buf, backends[i].name, strlen(backends[i].name));
}

static void
slot_failed(struct slot *s, int e)
{
	char esc[TEXT_ESCBUF];

	log_msg(local_error(e) ? LOG_LVL_WARNING : LOG_LVL_INFO, "pool: %s: %s",
	    bname(s->backend, esc), strerror(e));
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->state = SLOT_EMPTY;
	if (!local_error(e))
		mark_down(s->backend);
	s->retry_at = io_now_ms() + (down_time ? (int64_t)down_time * 1000 : POOL_RETRY_MS);
}

static void
slot_fill(struct slot *s, int64_t now)
{
	int done;

	s->fd = start_connect(s->backend, &done);
	if (s->fd < 0) {
		slot_failed(s, errno);
		return;
	}
	s->state = done ? SLOT_READY : SLOT_CONNECTING;
	s->since = now;
}

static size_t
pool_poll_fds(void *arg, struct pollfd *p, size_t cap, int *timeout_ms)
{
	int64_t now = io_now_ms(), next = -1;
	size_t i, n = 0;

	(void)arg;
	for (i = 0; i < nslots && n < cap; i++) {
		struct slot *s = &slots[i];
		int64_t at = -1;

		if (s->state == SLOT_EMPTY && now >= s->retry_at && !is_down(s->backend, now))
			slot_fill(s, now);
		if (s->state == SLOT_CONNECTING && now >= s->since + (int64_t)connect_timeout * 1000)
			slot_failed(s, ETIMEDOUT);
		if (s->state == SLOT_EMPTY)
			at = s->retry_at > now ? s->retry_at : now + POOL_RETRY_MS;
		else if (s->state == SLOT_CONNECTING)
			at = s->since + (int64_t)connect_timeout * 1000;
		if (at >= 0 && (next < 0 || at < next))
			next = at;
		if (s->state == SLOT_EMPTY)
			continue;
		p[n] = (struct pollfd){ .fd = s->fd,
		    .events = s->state == SLOT_CONNECTING ? POLLOUT : POLLIN };
		polled_slot[n++] = i;
	}
	if (next >= 0)
		*timeout_ms = next - now < 1 ? 1 : (int)(next - now);
	return n;
}

static void
pool_polled(void *arg, const struct pollfd *p, size_t n)
{
	char esc[TEXT_ESCBUF];
	size_t i;
	int e;

	(void)arg;
	for (i = 0; i < n; i++) {
		struct slot *s = &slots[polled_slot[i]];

		if (!p[i].revents || s->fd != p[i].fd)
			continue;
		if (s->state == SLOT_CONNECTING) {
			if ((e = connect_error(s->fd)) != 0) {
				slot_failed(s, e);
				continue;
			}
			s->state = SLOT_READY;
			s->since = io_now_ms();
			log_msg(LOG_LVL_DEBUG, "pool: connected to %s", bname(s->backend, esc));
		} else {
			/* Readable while idle: closed by the backend, or unasked bytes. Replaced. */
			log_msg(LOG_LVL_INFO, "pool: %s closed a kept connection: replacing it",
			    bname(s->backend, esc));
			close(s->fd);
			s->fd = -1;
			s->state = SLOT_EMPTY;
			s->retry_at = io_now_ms() - s->since < POOL_RETRY_MS ? io_now_ms() + POOL_RETRY_MS : 0;
		}
	}
}

/*
 * Before the fork: where the client's order starts (the listener's
 * counter for round-robin; its address for hash), and the kept connection
 * to the first backend of that order that is not down, if one is ready.
 * The child inherits both; the listener then closes its copy and refills.
 */
static void
pool_forking(void *arg, enum serve_fork stage, const struct sockaddr_storage *ss, socklen_t len)
{
	struct addr a;
	int64_t now = io_now_ms();
	size_t i, k, b;

	(void)arg;
	if (stage == SERVE_FORK_BEFORE) {
		first_backend = 0;
		if (balance == BAL_RR)
			first_backend = rr_next++ % nbackends;
		else if (balance == BAL_HASH && addr_from_sockaddr(&a, ss, len) == 0)
			first_backend = hash_addr(&a);
		handed = -1;
		for (k = 0; k < nbackends; k++)
			if (!is_down(b = (first_backend + k) % nbackends, now))
				break;
		if (k == nbackends)
			return;
		for (i = 0; i < nslots; i++)
			if (slots[i].backend == b && slots[i].state == SLOT_READY) {
				handed = (long)i;
				break;
			}
		return;
	}
	for (i = 0; i < nslots; i++) {
		if (slots[i].fd < 0 || (long)i != handed) {
			if (stage == SERVE_FORK_CHILD && slots[i].fd >= 0)
				close(slots[i].fd);
			continue;
		}
		if (stage == SERVE_FORK_CHILD) {
			pooled_fd = slots[i].fd;
			pooled_backend = slots[i].backend;
			pooled_since = slots[i].since;
			continue;
		}
		close(slots[i].fd);
		slots[i] = (struct slot){ .fd = -1, .state = SLOT_EMPTY, .backend = slots[i].backend };
	}
	handed = -1;
}

/*
 * The listener's own descriptors, besides its kept connections: the
 * standard three, the log, the table of sources, its own program file,
 * up to SERVE_LISTEN_MAX listening sockets, and the connection being
 * accepted with its report pair. Behind a proxy, one report per child too.
 */
#define RELAY_LISTENER_FDS (8 + SERVE_LISTEN_MAX + 3)

/*
 * The kept connections must leave the listener room: at its descriptor
 * limit its accept fails (EMFILE) while the connection waits, readable,
 * so the loop would wake at once, forever, and no client would ever be
 * served, nor a kept connection handed and freed. Checked, and the soft
 * limit raised to what is needed if the hard one allows, before any.
 */
static int
pool_fds(const struct conn_settings *s)
{
	size_t need = nslots + RELAY_LISTENER_FDS + (s->proxy_protocol ? s->serve.max_connections : 0);
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return EXIT_SERVED;
	if (rl.rlim_max >= need) {
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			return EXIT_SERVED;
	}
	log_msg(LOG_LVL_ERR, "fatal: option --pool: %lu to each of %zu backends, with the accept "
	    "loop's own, needs %zu descriptors, over the limit of %llu (ulimit -n, LimitNOFILE=)",
	    pool_size, nbackends, need, (unsigned long long)rl.rlim_max);
	return EXIT_USAGE;
}

static int
pool_setup(struct conn_settings *s)
{
	size_t i;
	int r;

	nslots = nbackends * pool_size;
	if ((r = pool_fds(s)) != EXIT_SERVED)
		return r;
	slots = calloc(nslots, sizeof *slots);
	polled_slot = calloc(nslots, sizeof *polled_slot);
	if (!slots || !polled_slot) {
		log_msg(LOG_LVL_ERR, "fatal: out of memory for --pool");
		return EXIT_TEMP;
	}
	for (i = 0; i < nslots; i++)
		slots[i] = (struct slot){ .fd = -1, .state = SLOT_EMPTY, .backend = i / pool_size };
	s->serve.nextra = nslots;
	s->serve.poll_fds = pool_poll_fds;
	s->serve.polled = pool_polled;
	return EXIT_SERVED;
}

/* The BACKENDs, parsed once; in the accept loop, the shared area and the pool. */
static int
configure(struct conn *c, struct conn_settings *s)
{
	char err[256];
	int i;

	if (c->argc > RELAY_BACKENDS_MAX) {
		log_msg(LOG_LVL_ERR, "fatal: more than %d backends", RELAY_BACKENDS_MAX);
		return EXIT_USAGE;
	}
	for (i = 0; i < c->argc; i++)
		if (backend_parse(c->argv[i], &backends[i], err, sizeof err) < 0) {
			log_msg(LOG_LVL_ERR, "fatal: backend %d: %s", i + 1, err);
			return EXIT_USAGE;
		}
	nbackends = (size_t)c->argc;
	if (ping_expect.len && !ping_send.len)
		log_msg(LOG_LVL_DEBUG, "--ping-expect without --ping-send: the backend speaks first");
	if (pool_size && !c->accept_loop) {
		log_msg(LOG_LVL_ERR, "fatal: option --pool needs the accept loop (--listen, or "
		    "systemd's Accept=no): a process that serves one client keeps nothing");
		return EXIT_USAGE;
	}
	if (!c->accept_loop)
		return EXIT_SERVED;
	shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (shared == MAP_FAILED) {
		log_msg(LOG_LVL_ERR, "fatal: unable to map the backends' state: %s",
		    strerror(errno));
		return EXIT_TEMP;
	}
	/* The hook also sets round-robin's start and hash's, so it runs without a pool too. */
	s->serve.forking = pool_forking;
	return pool_size ? pool_setup(s) : EXIT_SERVED;
}

/* One direction of the relay: from one descriptor, through a pipe, to the other. */
struct dir {
	int from, to;
	int pipe[2];
	size_t inpipe;			/* bytes in the pipe */
	size_t cap;			/* the pipe's capacity */
	int copy;			/* splice refused one of the fds: through buf */
	char buf[RELAY_CHUNK];
	size_t off, len;
	int eof, shut;			/* its source ended; its end was passed on */
	int rwait, wwait;		/* waiting for from to be readable, to writable */
	uint64_t in, out;
};

/* How a direction failed: the side that reset, in *reset (0 source, 1 destination). */
static int
failed(int e, int side, int *reset)
{
	*reset = side;
	return e == ECONNRESET || e == EPIPE ? IO_RESET : IO_ERROR;
}

/* Moves what can move now in d, without waiting: 1 if anything moved, 0, or -end. */
static int
move(struct dir *d, int *side, int *err)
{
	ssize_t n;
	int moved = 0;

	d->rwait = d->wwait = 0;
	if (!d->eof && d->inpipe == 0 && d->len == 0) {
		n = -1;
		if (!d->copy) {
			n = splice(d->from, NULL, d->pipe[1], NULL, d->cap,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0 && errno == EINVAL)
				d->copy = 1;
			else if (n > 0)
				d->inpipe = (size_t)n;
		}
		if (d->copy && (n = read(d->from, d->buf, sizeof d->buf)) > 0)
			d->off = 0, d->len = (size_t)n;
		if (n > 0)
			d->in += (uint64_t)n, moved = 1;
		else if (n == 0)
			d->eof = 1, moved = 1;
		else if (errno == EAGAIN)
			d->rwait = 1;
		else if (errno != EINTR)
			return *err = errno, -failed(errno, 0, side);
	}
	/* What a splice left in the pipe when the other fd refused splice: through buf. */
	if (d->copy && d->len == 0 && d->inpipe
	    && (n = read(d->pipe[0], d->buf, d->inpipe < sizeof d->buf ? d->inpipe : sizeof d->buf))
	    > 0)
		d->off = 0, d->len = (size_t)n, d->inpipe -= (size_t)n;
	n = 0;
	if (!d->copy && d->inpipe) {
		n = splice(d->pipe[0], NULL, d->to, NULL, d->inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0 && errno == EINVAL) {
			d->copy = 1;
			return 1;
		}
		if (n > 0)
			d->inpipe -= (size_t)n;
	} else if (d->len) {
		n = write(d->to, d->buf + d->off, d->len);
		if (n > 0)
			d->off += (size_t)n, d->len -= (size_t)n;
	}
	if (n > 0)
		d->out += (uint64_t)n, moved = 1;
	else if (n < 0 && errno == EAGAIN)
		d->wwait = 1;
	else if (n < 0 && errno != EINTR)
		return *err = errno, -failed(errno, 1, side);
	if (d->eof && !d->inpipe && !d->len && !d->shut) {
		/* Half-close passed on; a pipe (stdout) has no half: it is closed. */
		if (shutdown(d->to, SHUT_WR) < 0 && errno == ENOTSOCK) {
			close(d->to);
			d->to = -1;
		}
		d->shut = 1, moved = 1;
	}
	return moved;
}

struct relay {
	struct dir up, down;		/* client to backend, backend to client */
	int crfd, cwfd, bfd;
	int ufd_to, dfd_to;		/* where each direction writes (a dir's to may close) */
	int bhup, chup;			/* the backend, the client hung up (POLLHUP) */
	enum io_end end;
	int reset_by_backend;
	int err;
};

/* A reset of either side ends both: the other is reset too, not closed as if done. */
static void
reset_both(struct relay *r)
{
	static const struct linger now = { 1, 0 };

	(void)setsockopt(r->bfd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
	(void)setsockopt(r->cwfd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
}

static int
step(struct relay *r)
{
	int moved = 0, m, side;

	if ((m = move(&r->up, &side, &r->err)) < 0) {
		r->end = (enum io_end)-m;
		r->reset_by_backend = side == 1;
		return 1;
	}
	moved |= m;
	if ((m = move(&r->down, &side, &r->err)) < 0) {
		r->end = (enum io_end)-m;
		r->reset_by_backend = side == 0;
		return 1;
	}
	return moved | m;
}

/*
 * The poll entry for fd: what the directions wait for on it; -1 (left
 * out) once it is done both ways, read to its end and its end passed on,
 * or hung up with nothing asked of it (what it still holds is read when
 * its reader's turn comes).
 */
static void
want(struct pollfd *p, int fd, const struct relay *r)
{
	int rdone = (fd != r->up.from || r->up.eof) && (fd != r->down.from || r->down.eof);
	int wdone = (fd != r->ufd_to || r->up.shut) && (fd != r->dfd_to || r->down.shut);

	p->fd = fd;
	p->events = 0;
	if ((fd == r->up.from && r->up.rwait) || (fd == r->down.from && r->down.rwait))
		p->events |= POLLIN;
	if ((fd == r->ufd_to && r->up.wwait) || (fd == r->dfd_to && r->down.wwait))
		p->events |= POLLOUT;
	/* Hung up (its peer closed both ways) and nothing asked: poll would only say so again. */
	if ((rdone && wdone) || (!p->events && ((fd == r->bfd && r->bhup) || (fd != r->bfd
	    && r->chup))))
		p->fd = -1;
}

/*
 * Relays until both directions are passed on, or either side resets, or
 * nothing moved for the idle timeout, or the session was stopped. An fd
 * stays in the poll for its errors until it is done both ways: a reset
 * while the other side thinks ends the relay, and never spins.
 */
static void
relay(struct relay *r, unsigned idle)
{
	int64_t last = io_now_ms();

	for (;;) {
		struct pollfd p[3];
		int n = 0, i, pr, stop, timeout = -1;

		/*
		 * The stop (--session-timeout, SIGTERM) is a flag its signal sets:
		 * looked at every step, since a pair whose sides are never behind
		 * (they drain and answer at once) moves bytes at every step and
		 * never reaches the poll below.
		 */
		while (!r->end && !io_stopped() && step(r))
			last = io_now_ms();
		if (r->end)
			return;
		if (r->up.shut && r->down.shut) {
			r->end = IO_EOF;
			return;
		}
		if ((stop = io_stopped())) {
			r->end = (enum io_end)stop;
			return;
		}
		want(&p[n++], r->crfd, r);
		if (r->cwfd != r->crfd)
			want(&p[n++], r->cwfd, r);
		want(&p[n++], r->bfd, r);
		if (idle) {
			int64_t left = last + (int64_t)idle * 1000 - io_now_ms();

			if (left <= 0) {
				r->end = IO_IDLE;
				return;
			}
			timeout = (int)left;
		}
		pr = poll(p, (nfds_t)n, timeout);
		if (pr <= 0)
			continue;	/* a signal (io_stopped decides), or the idle check */
		for (i = 0; i < n; i++) {
			if (p[i].fd < 0 || p[i].events)
				continue;
			if (p[i].revents & (POLLERR | POLLNVAL)) {
				/* Nothing was asked of it, and it failed: a reset. */
				r->end = IO_RESET;
				r->err = connect_error(p[i].fd);
				r->reset_by_backend = p[i].fd == r->bfd;
				return;
			}
			if (p[i].revents & POLLHUP)
				*(p[i].fd == r->bfd ? &r->bhup : &r->chup) = 1;
		}
	}
}

/* A larger pipe, if the system allows it (pipe-max-size): fewer splices, fewer wakeups. */
static size_t
pipe_cap(int fd)
{
	int n;

	(void)fcntl(fd, F_SETPIPE_SZ, RELAY_PIPE);
	n = fcntl(fd, F_GETPIPE_SZ);
	return n > 0 ? (size_t)n : RELAY_CHUNK;
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* The PROXY header naming the client (the one a received header named, if any). */
static int
proxy_header(struct conn *c, int fd, const char **why)
{
	char buf[PROXY_V1_MAX + 64];
	struct proxy_hdr h;
	unsigned long sp = 0, dp = 0;
	ssize_t n;

	memset(&h, 0, sizeof h);
	h.local = !c->peer.has_remote || !c->peer.has_local
	    || text_uint(c->peer.remote_port, 0, 65535, &sp) < 0
	    || text_uint(c->peer.local_port, 0, 65535, &dp) < 0;
	h.src = c->peer.remote;
	h.dst = c->peer.local;
	h.sport = (unsigned)sp;
	h.dport = (unsigned)dp;
	if ((n = proxy_format(send_proxy, &h, buf, sizeof buf)) < 0) {
		*why = "proxy-header";
		return -1;
	}
	return send_all(fd, buf, (size_t)n, io_now_ms() + (int64_t)connect_timeout * 1000, why);
}

/* Adds "NAME:WHY" to the tried= list. */
static void
tried_add(char *tried, size_t *at, size_t i, const char *why)
{
	int n = snprintf(tried + *at, RELAY_TRIED_MAX - *at, "%s%s:%s", *at ? "," : "",
	    backends[i].name, why);

	if (n > 0)
		*at = *at + (size_t)n < RELAY_TRIED_MAX ? *at + (size_t)n : RELAY_TRIED_MAX - 1;
}

/* The PROXY header, and the ping if one is due, on fd: 0, or -1 with *why and fd closed. */
static int
validate(struct conn *c, int fd, int64_t idle_ms, const char **why)
{
	if ((send_proxy && proxy_header(c, fd, why) < 0) || (wants_ping(idle_ms) && ping(fd, why) < 0)) {
		close(fd);
		return -1;
	}
	return 0;
}

/*
 * A validated connection to backend i: the kept one if this child was
 * handed it, else a new one. The fd, or -1 with *why; *pooled says which.
 *
 * The backend may have closed or reset the kept one since the listener
 * last looked (it waited for this client's PROXY header, or raced the
 * fork): then it is readable (EOF, bytes no client asked for) or has an
 * error (ECONNRESET); only nothing to read yet is a live idle connection.
 * A kept one that fails, there or at its ping, says nothing of its
 * backend, which a new connection is then asked: the client notices
 * nothing, and the backend is not marked down for an old connection.
 */
static int
open_backend(struct conn *c, size_t i, const char **why, int *pooled)
{
	char esc[TEXT_ESCBUF], b;
	ssize_t n;
	int fd;

	*pooled = 0;
	if (pooled_fd >= 0 && pooled_backend == i) {
		fd = pooled_fd;
		pooled_fd = -1;
		if ((n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT)) >= 0 || errno != EAGAIN) {
			*why = n == 0 ? "closed" : n > 0 ? "unasked bytes" : why_word(errno);
			close(fd);
		} else if (validate(c, fd, io_now_ms() - pooled_since, why) == 0) {
			*pooled = 1;
			return fd;
		}
		log_msg(LOG_LVL_INFO, "pool: a kept connection to %s failed (%s): a new one",
		    bname(i, esc), *why);
		if (io_stopped())
			return -1;
	}
	if ((fd = connect_to(i, why)) < 0)
		return -1;
	/* A new connection was used just now: under --ping-timeout N it is not pinged. */
	return validate(c, fd, 0, why) < 0 ? -1 : fd;
}

/*
 * The backends in this client's order: from first, the ones not down
 * first, the ones down after them (a last resort, rather than no backend
 * at all). The fd of the first that answers, or -1 with tried filled.
 */
static int
choose(struct conn *c, size_t first, size_t *chosen, int *pooled, char *tried, size_t *at)
{
	int64_t now = io_now_ms();
	const char *why = "error";
	size_t k, pass, i;
	int fd;

	for (pass = 0; pass < 2; pass++)
		for (k = 0; k < nbackends; k++) {
			i = (first + k) % nbackends;
			if (is_down(i, now) != (int)pass)
				continue;
			if ((fd = open_backend(c, i, &why, pooled)) >= 0) {
				*chosen = i;
				return fd;
			}
			tried_add(tried, at, i, why);
			if (io_stopped())
				return -1;
			mark_down(i);
		}
	return -1;
}

static int
process(struct conn *c)
{
	static struct relay r;
	char tried[RELAY_TRIED_MAX] = "", num[24], esc[TEXT_ESCBUF];
	size_t first = 0, at = 0, chosen = 0;
	int pooled, fd, wfd = c->conn_fd == 0 ? 1 : c->conn_fd;
	int64_t t0 = io_now_ms();

	/* Hash: by the client itself (a PROXY header's), in every mode; round-robin: the counter. */
	if (balance == BAL_RR && shared)
		first = first_backend;
	else if (balance != BAL_ORDER && c->peer.has_remote)
		first = hash_addr(&c->peer.remote);
	fd = choose(c, first, &chosen, &pooled, tried, &at);
	if (at)
		conn_add_field(c, "tried", "INETKIT_RELAY_TRIED", tried, at);
	if (pooled_fd >= 0)
		close(pooled_fd);	/* handed, but another backend came first */
	if (fd < 0) {
		if (io_stopped()) {
			c->io.end = (enum io_end)io_stopped();
			return conn_served(c);
		}
		if (unavailable.len)
			(void)io_write(&c->io, unavailable.s, unavailable.len);
		(void)io_flush(&c->io);
		return conn_end(c, EXIT_TEMP, "failed", "no backend available");
	}
	conn_add_field(c, "backend", "INETKIT_RELAY_BACKEND", backends[chosen].name,
	    strlen(backends[chosen].name));
	snprintf(num, sizeof num, "%s:%lld", pooled ? "pool" : "connect", (long long)(io_now_ms() - t0));
	conn_add_field(c, "connect_ms", "INETKIT_RELAY_CONNECT_MS", num, strlen(num));
	r = (struct relay){ .crfd = c->conn_fd, .cwfd = wfd, .bfd = fd, .ufd_to = fd, .dfd_to = wfd,
	    .up = { .from = c->conn_fd, .to = fd, .pipe = { -1, -1 } },
	    .down = { .from = fd, .to = wfd, .pipe = { -1, -1 } } };
	if (pipe2(r.up.pipe, O_CLOEXEC | O_NONBLOCK) < 0
	    || pipe2(r.down.pipe, O_CLOEXEC | O_NONBLOCK) < 0 || set_nonblock(c->conn_fd) < 0
	    || set_nonblock(wfd) < 0) {
		close(fd);
		return conn_end(c, EXIT_TEMP, "failed", "unable to set up the relay: %s",
		    strerror(errno));
	}
	r.up.cap = pipe_cap(r.up.pipe[1]);
	r.down.cap = pipe_cap(r.down.pipe[1]);
	relay(&r, (unsigned)c->set->idle_timeout);
	if (r.end == IO_RESET)
		reset_both(&r);
	close(fd);
	c->io.bytes_in = r.up.in;
	c->io.bytes_out += r.down.out;
	snprintf(num, sizeof num, "%llu", (unsigned long long)r.down.in);
	conn_add_field(c, "backend_in", "INETKIT_RELAY_BACKEND_IN", num, strlen(num));
	snprintf(num, sizeof num, "%llu", (unsigned long long)r.up.out);
	conn_add_field(c, "backend_out", "INETKIT_RELAY_BACKEND_OUT", num, strlen(num));
	c->io.end = r.end;
	if (r.end == IO_RESET && r.reset_by_backend)
		return conn_end(c, EXIT_TEMP, "served", "backend %s reset the connection",
		    bname(chosen, esc));
	if (r.end == IO_ERROR)
		c->io.err = r.err;
	return conn_served(c);
}

static const struct service relay_svc = {
	.name = "relay",
	.no_prefork = "its kept backend connections are handed over at the fork",
	.operands = "BACKEND...",
	.summary = "Relay the client to the first BACKEND that answers (HOST:PORT, [V6ADDR]:PORT, "
	    "unix:PATH), both ways.",
	.options = options,
	.min_operands = 1,
	.exit_extra = "111 also when no backend could be had or the backend reset the connection",
	.configure = configure,
	.process_connection = process,
};

int
main(int argc, char **argv)
{
	return conn_main(&relay_svc, argc, argv);
}
