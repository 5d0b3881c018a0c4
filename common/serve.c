/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE		/* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "exit.h"
#include "io.h"
#include "log.h"
#include "serve.h"
#include "text.h"

struct child {
	pid_t pid;
	struct addr src;
	int has_src;			/* counted toward the per-source limits */
	int report;			/* proxied: the listener's end of the report pair, or -1 */
	long slot;			/* PreFork: the worker's slot, else -1 */
};

/* A child's report: the client its PROXY header named. */
struct report {
	int family;
	uint8_t bytes[16];
};

/* The listener's answer: a code, an index of limit_names[] (0: within the limits). */
static const char *const limit_names[] = { NULL, "max-per-source", "max-per-netblock" };

static volatile sig_atomic_t got_chld, got_term, got_hup;
/*
 * An accept that fails for want of descriptors or memory leaves the
 * connection queued and the socket readable: polled again at once, the loop
 * would spin, a warning each time, with the signals (blocked outside a
 * ppoll that returns at once) never taken. Accepting is paused instead.
 */
#define ACCEPT_PAUSE 0.1		/* seconds */
static double accept_resume;		/* mono() when accepting resumes */
static unsigned long accept_fails;	/* in a row */
static struct child *children;
/* The signals the loop handles, blocked but inside ppoll(). */
const int serve_signals[SERVE_NSIGNALS] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT };
static size_t nchildren;

/*
 * PreFork. The listener forks o->prefork workers and accepts nothing
 * itself: it replaces a worker that ends (its max_requests served, or
 * dead), reloads and drains. Each worker waits on the listening sockets
 * (EPOLLEXCLUSIVE: a connection wakes one worker, not every one), accepts,
 * serves the connection in its own process, and takes the next.
 *
 * What the Fork personality's listener counts for --max-per-source and
 * --max-per-netblock (its children's clients) is here a table in memory
 * shared before the first fork, a slot a worker, under a robust
 * process-shared mutex: a worker counts the others' clients and claims
 * its own in one step, so two workers cannot both admit the one client
 * too many. The table of sources (rates, penalties) is shared as it is
 * between the Fork personality's children.
 *
 * A worker is told to take no more connections by the end of a pipe: the
 * listener holds the only writing end, close-on-exec, so a drain, a
 * SIGHUP's re-exec or the listener's death wakes every idle worker, and a
 * busy one sees it when its connection ends. A drain also shuts the
 * sockets bound here, which busy workers still hold: a client that comes
 * then is refused, not left in a queue no one reads.
 *
 * A worker's SIGTERM is the session's (io_signals, installed once, for
 * the worker's whole life): one that comes during a session ends it, with
 * its record, as it ends a child's; one that comes between sessions is
 * seen by the loop (io_stopped). SIGQUIT and SIGINT let the session finish.
 */
struct pf_slot {
	pid_t pid;			/* the worker; 0: none (one is due) */
	int busy;			/* src is the client being served */
	struct addr src;
};

struct pf_shared {
	pthread_mutex_t lock;
	struct pf_slot slot[];
};

#define PF_CRASH_DELAY 1.0		/* seconds before a worker that died young is replaced */
static struct pf_shared *pf;
static size_t pf_n, pf_size;
static struct pf_time {		/* the listener's, a slot each, in mono() time: */
	double due;			/* when its next worker is due */
	double born;			/* when its worker was forked */
} *pf_time;
static long pf_me = -1;			/* in a worker: its slot */
static const struct serve_opts *pf_o;	/* in a worker: for serve_report */
static int pf_stop[2] = { -1, -1 };	/* workers watch [0]; only the listener holds [1] */
static sigset_t loop_signals;		/* serve_signals, as a set */

static void
on_signal(int sig)
{
	if (sig == SIGCHLD)
		got_chld = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = sig;
}

static double
mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int
serve_is_listening(int fd)
{
	int on = 0;
	socklen_t len = sizeof on;

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

int
serve_is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/*
 * "[udp:]ADDRESS:PORT": "127.0.0.1:8010", "[::1]:8010", "0.0.0.0:8010",
 * "[::]:8010"; with "udp:" in front, a datagram socket (*dgram set). The
 * socket address into ss (*len its length), or SERVE_BADSPEC with err.
 */
int
serve_parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len, int *dgram,
    char *err, size_t errlen)
{
	char host[ADDR_STRMAX + 2], esc[TEXT_ESCBUF];
	const char *hp = spec, *colon;
	struct addr a;
	unsigned long port;
	size_t hl;

	*dgram = strncmp(spec, "udp:", 4) == 0;
	if (*dgram)
		hp += 4;
	colon = strrchr(hp, ':');
	memset(ss, 0, sizeof *ss);
	if (!colon || (hl = (size_t)(colon - hp)) == 0 || hl >= sizeof host
	    || text_uint(colon + 1, 1, 65535, &port) < 0) {
		snprintf(err, errlen, "\"%s\" is not [udp:]ADDRESS:PORT",
		    text_escape(esc, spec, strnlen(spec, 64)));
		return SERVE_BADSPEC;
	}
	memcpy(host, hp, hl);
	host[hl] = '\0';
	if (host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		memmove(host, host + 1, hl - 1);
	}
	/* A mapped address is not unmapped here: the socket family follows the spelling. */
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((unsigned short)port);
		*len = sizeof(struct sockaddr_in6);
	} else if (addr_parse(&a, host) == 0 && a.family == AF_INET) {
		ss->ss_family = AF_INET;
		memcpy(&((struct sockaddr_in *)ss)->sin_addr, a.bytes, 4);
		((struct sockaddr_in *)ss)->sin_port = htons((unsigned short)port);
		*len = sizeof(struct sockaddr_in);
	} else {
		snprintf(err, errlen, "\"%s\" is not an IP address",
		    text_escape(esc, host, strnlen(host, 64)));
		return SERVE_BADSPEC;
	}
	return 0;
}

/*
 * A socket of type (SOCK_STREAM, listening with backlog; or SOCK_DGRAM)
 * bound to sa. An IPv6 socket is IPv6 only: IPv4 has its own. A datagram
 * socket has no SO_REUSEADDR, so that a second server cannot share the
 * port's datagrams. 0, or -1 with err.
 */
int
serve_bind(const struct sockaddr *sa, socklen_t len, int type, unsigned long backlog, int *fd,
    char *err, size_t errlen)
{
	char a[ADDR_STRMAX + 2 + 8] = "";
	struct addr x;
	int one = 1, s = socket(sa->sa_family, type | SOCK_CLOEXEC, 0);

	if (sa->sa_family == AF_UNIX)
		snprintf(a, sizeof a, "%.*s", (int)sizeof a - 1, ((const struct sockaddr_un *)sa)->sun_path);
	else if (addr_from_sockaddr(&x, sa, len) == 0) {
		char h[ADDR_STRMAX];

		addr_format(&x, h);
		snprintf(a, sizeof a, sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", h,
		    ntohs(sa->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
		    : ((const struct sockaddr_in *)sa)->sin_port));
	}
	if (s < 0 || (type == SOCK_STREAM && sa->sa_family != AF_UNIX
		&& setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
	    || (sa->sa_family == AF_INET6
		&& setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
	    || bind(s, sa, len) < 0
	    || (type == SOCK_STREAM && listen(s, backlog > INT_MAX ? INT_MAX : (int)backlog) < 0)) {
		snprintf(err, errlen, "unable to %s %s: %s", type == SOCK_STREAM ? "listen on"
		    : sa->sa_family == AF_UNIX ? "bind" : "bind UDP", a, strerror(errno));
		if (s >= 0)
			close(s);
		return -1;
	}
	*fd = s;
	return 0;
}

/* A listening socket for spec, or with "udp:" a bound datagram socket (udp.c serves it). */
int
serve_listen(const char *spec, unsigned long backlog, int *fd, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int dgram;

	if (serve_parse_listen(spec, &ss, &len, &dgram, err, errlen) < 0)
		return SERVE_BADSPEC;
	return serve_bind((struct sockaddr *)&ss, len, dgram ? SOCK_DGRAM : SOCK_STREAM, backlog, fd,
	    err, errlen);
}

static int
same_addr(const struct addr *a, const struct addr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, addr_len(a)) == 0;
}

static int
same_net(const struct addr *a, const struct addr *b, const struct serve_opts *o)
{
	struct cidr c;

	c.prefix = (unsigned)(a->family == AF_INET ? o->lim->prefix4 : o->lim->prefix6);
	srctab_netblock(&c.net, a, c.prefix);
	return cidr_match(&c, b);
}

static void
pf_lock(void)
{
	/* A worker that died holding the lock left the slots as they were: each is whole. */
	if (pthread_mutex_lock(&pf->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&pf->lock);
}

static void
pf_unlock(void)
{
	pthread_mutex_unlock(&pf->lock);
}

/*
 * A worker has ended: its slot is free, and a new worker due at once, or
 * after PF_CRASH_DELAY if this one died (a signal, or an exit status
 * other than 0) within PF_CRASH_DELAY of its fork: a worker that cannot
 * live is not forked in a loop.
 */
static void
pf_ended(long i, pid_t pid, int st)
{
	double now = mono(), age = now - pf_time[i].born;

	pf_lock();
	memset(&pf->slot[i], 0, sizeof pf->slot[i]);
	pf_unlock();
	pf_time[i].due = now;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	if (age < PF_CRASH_DELAY)
		pf_time[i].due = now + PF_CRASH_DELAY;
	log_msg(LOG_LVL_ERR, "worker %ld %s %d after %.3f s: replaced%s", (long)pid,
	    WIFSIGNALED(st) ? "killed by signal" : "exited", WIFSIGNALED(st) ? WTERMSIG(st)
	    : WEXITSTATUS(st), age, pf_time[i].due > now ? " in 1 s" : "");
}

/* Penalties are the children's to give (conn.c): they know how a connection ended. */
static void
reap(void)
{
	size_t i;
	pid_t pid;
	int st;

	got_chld = 0;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < nchildren; i++) {
			if (children[i].pid != pid)
				continue;
			if (children[i].report >= 0)
				close(children[i].report);
			if (children[i].slot >= 0)
				pf_ended(children[i].slot, pid, st);
			children[i] = children[--nchildren];
			break;
		}
	}
}

/*
 * Whether the clients already served from a's address or netblock (by the
 * children, or by the other PreFork workers) leave room: a limit_names[]
 * code. A worker holds pf_lock.
 */
static int
over_limit(const struct addr *a, const struct serve_opts *o)
{
	unsigned long same = 0, net = 0;
	size_t i;

	for (i = 0; pf_me >= 0 && i < pf_n; i++) {
		const struct pf_slot *w = &pf->slot[i];

		if ((long)i == pf_me || !w->busy || w->src.family != a->family)
			continue;
		same += same_addr(&w->src, a);
		net += same_net(&w->src, a, o);
	}
	for (i = 0; pf_me < 0 && i < nchildren; i++) {
		if (!children[i].has_src || children[i].src.family != a->family)
			continue;
		same += same_addr(&children[i].src, a);
		net += same_net(&children[i].src, a, o);
	}
	if (o->max_per_source && same >= o->max_per_source)
		return 1;
	if (o->max_per_netblock && net >= o->max_per_netblock)
		return 2;
	return 0;
}

/* The netblock of a, for the log: "192.0.2.0/24". */
void
serve_netblock_str(char out[ADDR_STRMAX + 5], const struct addr *a, unsigned prefix)
{
	struct addr net;
	size_t n;

	srctab_netblock(&net, a, prefix);
	addr_format(&net, out);
	n = strlen(out);
	snprintf(out + n, ADDR_STRMAX + 5 - n, "/%u", prefix);
}

/*
 * The table of sources had to forget an entry still in use: said at the
 * 1st, 2nd, 4th, 8th ... time and then every 1024th, so that a flood of
 * new sources cannot flood the log too.
 */
void
serve_table_note(const struct srctab_note *n)
{
	char s[ADDR_STRMAX + 5];

	if (!n->forgot || (n->forgotten & (n->forgotten - 1) && n->forgotten % 1024))
		return;
	serve_netblock_str(s, &n->forgot_addr, n->forgot_prefix);
	log_msg(LOG_LVL_WARNING, "table of sources full: forgot %s, seen least lately "
	    "(%llu forgotten so far)", s, (unsigned long long)n->forgotten);
}

/* In a worker: a's limits, and if within them a claimed as this worker's client, in one step. */
static int
pf_claim(const struct addr *a, const struct serve_opts *o)
{
	int code;

	pf_lock();
	if (!(code = over_limit(a, o))) {
		pf->slot[pf_me].src = *a;
		pf->slot[pf_me].busy = 1;
	}
	pf_unlock();
	return code;
}

static void
pf_release(void)
{
	pf_lock();
	pf->slot[pf_me].busy = 0;
	memset(&pf->slot[pf_me].src, 0, sizeof pf->slot[pf_me].src);
	pf_unlock();
}

/*
 * Why a may not be served now (its concurrency, then the table of
 * sources), or NULL; in a worker, a is then its claimed client.
 */
static const char *
refusal_reason(const struct addr *a, const struct serve_opts *o, char *buf, size_t len)
{
	struct srctab_note note;
	enum srctab_verdict v;
	int code = pf_me >= 0 ? pf_claim(a, o) : over_limit(a, o);

	if (code)
		return limit_names[code];
	if (!o->tab)
		return NULL;
	v = srctab_admit(o->tab, a, o->lim, srctab_now(), &note);
	serve_table_note(&note);
	if (v == SRCTAB_BUSY)
		log_msg(LOG_LVL_WARNING, "table of sources busy: serving without its limits");
	if (v == SRCTAB_PASS || v == SRCTAB_BUSY)
		return NULL;
	if (v == SRCTAB_PENALIZED)
		snprintf(buf, len, "penalized (%lus more)", note.secs);
	else
		snprintf(buf, len, "%s", srctab_verdict_name(v));
	return buf;
}

/* A refused client gets the refusal message, if any, without the listener ever waiting. */
static void
refuse(int fd, const struct serve_opts *o)
{
	if (o->refusal_len)
		(void)send(fd, o->refusal, o->refusal_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/*
 * A child's report of the client behind the proxy: counted from now on if
 * within the limits, and answered either way. One report a child.
 */
static void
take_report(struct child *c, const struct serve_opts *o)
{
	struct report r;
	struct addr a;
	ssize_t n = recv(c->report, &r, sizeof r, MSG_DONTWAIT);
	unsigned char code;

	if (n == (ssize_t)sizeof r && (r.family == AF_INET || r.family == AF_INET6)) {
		a.family = r.family;
		memcpy(a.bytes, r.bytes, sizeof a.bytes);
		code = (unsigned char)over_limit(&a, o);
		if (code == 0) {
			c->src = a;
			c->has_src = 1;
		}
		(void)send(c->report, &code, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	close(c->report);
	c->report = -1;
}

/*
 * In the child: reports the client a PROXY header named and waits for the
 * listener's answer. 1 with *why if it is over a limit, 0 if not, -1 if the
 * listener did not answer in time (the connection is then served). A
 * PreFork worker counts and claims the client itself.
 */
int
serve_report(const struct serve_conn *sc, const struct addr *a, const char **why)
{
	struct report r;
	struct pollfd p = { .fd = sc->report, .events = POLLIN };
	unsigned char code;

	if (sc->worker >= 0) {
		code = (unsigned char)pf_claim(a, pf_o);
		*why = limit_names[code];
		return code != 0;
	}
	memset(&r, 0, sizeof r);
	r.family = a->family;
	memcpy(r.bytes, a->bytes, addr_len(a));
	if (send(sc->report, &r, sizeof r, MSG_NOSIGNAL) != (ssize_t)sizeof r
	    || poll(&p, 1, SERVE_REPORT_MS) != 1 || recv(sc->report, &code, 1, 0) != 1
	    || code >= sizeof limit_names / sizeof limit_names[0])
		return -1;
	*why = limit_names[code];
	return code != 0;
}

/* A failed accept: said, and for want of descriptors or memory, accepting paused. */
static void
accept_failed(void)
{
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
		accept_resume = mono() + ACCEPT_PAUSE;
		accept_fails++;
		/* Said at the 1st, 2nd, 4th ... failure in a row, then every 1024th. */
		if (!(accept_fails & (accept_fails - 1)) || accept_fails % 1024 == 0)
			log_msg(LOG_LVL_WARNING, "unable to accept: %s: paused for %.0f ms "
			    "(%lu in a row)", strerror(errno), ACCEPT_PAUSE * 1000, accept_fails);
	} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
		log_msg(LOG_LVL_WARNING, "unable to accept: %s", strerror(errno));
}

static void
accept_one(int lfd, const int *fds, size_t nfds, const struct serve_opts *o,
    serve_child_fn child, void *arg, const sigset_t *orig)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	struct child c = { .report = -1, .slot = -1 };
	struct serve_conn sc = { .report = -1, .worker = -1 };
	const char *why;
	char s[ADDR_STRMAX], buf[64];
	int pair[2] = { -1, -1 };
	size_t i;
	int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);

	if (fd < 0) {
		accept_failed();
		return;
	}
	accept_fails = 0;
	sc.fd = fd;
	/* Behind a proxy the socket's peer is the proxy: the child names the client. */
	if (o->proxied) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
			log_msg(LOG_LVL_ERR, "unable to make a report channel: %s",
			    strerror(errno));
			close(fd);
			return;
		}
		c.report = pair[0];
		sc.report = pair[1];
	} else if (addr_from_sockaddr(&c.src, &ss, len) == 0) {
		c.has_src = 1;
		if ((why = refusal_reason(&c.src, o, buf, sizeof buf))) {
			addr_format(&c.src, s);
			log_msg(LOG_LVL_NOTICE, "refused %s: %s", s, why);
			refuse(fd, o);
			return;
		}
		sc.admitted = o->tab != NULL;
	}
	if (o->forking)
		o->forking(o->hook_arg, SERVE_FORK_BEFORE, &ss, len);
	c.pid = fork();
	if (c.pid != 0 && o->forking)
		o->forking(o->hook_arg, SERVE_FORK_PARENT, &ss, len);
	if (c.pid < 0) {
		log_msg(LOG_LVL_ERR, "unable to fork: %s", strerror(errno));
		close(fd);
		if (o->proxied) {
			close(pair[0]);
			close(pair[1]);
		}
		return;
	}
	if (c.pid == 0) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		for (i = 0; i < nchildren; i++)
			if (children[i].report >= 0)
				close(children[i].report);
		if (pair[0] >= 0)
			close(pair[0]);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		sigprocmask(SIG_SETMASK, orig, NULL);
		if (o->forking)
			o->forking(o->hook_arg, SERVE_FORK_CHILD, &ss, len);
		_exit(child(&sc, arg));
	}
	close(fd);
	if (pair[1] >= 0)
		close(pair[1]);
	children[nchildren++] = c;
}

/*
 * After SIGTERM, SIGINT or SIGQUIT: no new connections; children get
 * drain_timeout, then SIGTERM. PreFork: the listening sockets fds (still
 * open) are the workers' too.
 */
static void
drain(const struct serve_opts *o, const sigset_t *orig, const int *fds, size_t nfds)
{
	double deadline = mono() + (double)o->drain_timeout;
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	size_t i;

	const char *sig = got_term == SIGQUIT ? "SIGQUIT" : got_term == SIGINT ? "SIGINT"
	    : "SIGTERM";
	size_t busy = 0;

	reap();		/* a child that has ended is not one to wait for */
	if (pf) {
		pf_lock();
		for (i = 0; i < pf_n; i++)
			busy += pf->slot[i].busy != 0;
		pf_unlock();
		log_msg(LOG_LVL_NOTICE, "stopping: %zu workers, %zu of them serving, to finish (%s)",
		    nchildren, busy, sig);
		/* The pipe's end tells the idle workers at once, the busy ones when they are done. */
		close(pf_stop[1]);
		pf_stop[1] = -1;
		/* Bound here, the sockets are ours to shut: a systemd socket queues for the next start. */
		for (i = nfds - (o->nown < nfds ? o->nown : nfds); i < nfds; i++)
			shutdown(fds[i], SHUT_RD);
	} else
		log_msg(LOG_LVL_NOTICE, "stopping: %zu connections to finish (%s)", nchildren, sig);
	while (nchildren && mono() < deadline) {
		ppoll(NULL, 0, &ts, orig);
		reap();
	}
	for (i = 0; i < nchildren; i++)
		kill(children[i].pid, SIGTERM);
	while (nchildren) {
		ppoll(NULL, 0, &ts, orig);
		reap();
	}
}

/* Net::Server's HUP: o->reload re-execs, or returns having said why not. */
static void
hup(const int *fds, size_t nfds, const struct serve_opts *o)
{
	pid_t *pids;
	size_t i;

	got_hup = 0;
	if (!o->reload) {
		log_msg(LOG_LVL_WARNING, "SIGHUP: this accept loop cannot reload; restart it");
		return;
	}
	if (!(pids = calloc(nchildren + 1, sizeof *pids))) {
		log_msg(LOG_LVL_ERR, "SIGHUP: out of memory: still serving");
		return;
	}
	for (i = 0; i < nchildren; i++)
		pids[i] = children[i].pid;
	o->reload(fds, nfds, pids, nchildren, o->reload_arg);
	free(pids);
}

/*
 * One connection in a worker: the limits the listener would apply, then
 * the child fn, in the session's signal mask as a child's.
 */
static void
pf_serve(int fd, const struct sockaddr_storage *ss, socklen_t len, const struct serve_opts *o,
    serve_child_fn child, void *arg, const sigset_t *orig, int *stop)
{
	struct serve_conn sc = { .fd = fd, .report = -1, .worker = (int)pf_me, .stop = stop };
	struct addr a;
	const char *why;
	char s[ADDR_STRMAX], buf[64];

	if (!o->proxied && addr_from_sockaddr(&a, ss, len) == 0) {
		if ((why = refusal_reason(&a, o, buf, sizeof buf))) {
			addr_format(&a, s);
			log_msg(LOG_LVL_NOTICE, "refused %s: %s", s, why);
			refuse(fd, o);
			pf_release();
			return;
		}
		sc.admitted = o->tab != NULL;
	}
	/* A SIGTERM held since the wait is the session's to take: it ends it at once. */
	sigprocmask(SIG_SETMASK, orig, NULL);
	(void)child(&sc, arg);
	sigprocmask(SIG_BLOCK, &loop_signals, NULL);
	close(fd);
	pf_release();
}

/*
 * A worker: until the listener's pipe ends (a drain, a re-exec, its
 * death), a SIGTERM, SIGINT or SIGQUIT, or max_requests served, it waits
 * for a connection on any listening socket and serves it. Never returns.
 */
static void
pf_worker(const int *fds, size_t nfds, const struct serve_opts *o, serve_child_fn child,
    void *arg, const sigset_t *orig)
{
	struct epoll_event ev[SERVE_LISTEN_MAX + 1];
	struct sockaddr_storage ss;
	struct timespec pause = { 0, (long)(ACCEPT_PAUSE * 1e9) };
	unsigned long served = 0;
	socklen_t len;
	size_t i;
	int ep, n, k, fd, lfd, stop = 0;

	close(pf_stop[1]);
	pf_o = o;
	signal(SIGCHLD, SIG_DFL);
	signal(SIGHUP, SIG_IGN);	/* the listener's to take */
	io_signals();			/* SIGTERM: the session's, or the loop's between sessions */
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		log_msg(LOG_LVL_ERR, "worker: unable to make an epoll instance: %s",
		    strerror(errno));
		_exit(EXIT_TEMP);
	}
	for (i = 0; i <= nfds; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		if (i < nfds)
			e.events |= EPOLLEXCLUSIVE;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, i < nfds ? fds[i] : pf_stop[0], &e) < 0) {
			log_msg(LOG_LVL_ERR, "worker: unable to watch a socket: %s",
			    strerror(errno));
			_exit(EXIT_TEMP);
		}
	}
	while (!got_term && !stop && io_stopped() != IO_TERM
	    && (!o->max_requests || served < o->max_requests)) {
		n = epoll_pwait(ep, ev, (int)nfds + 1, -1, orig);
		/*
		 * One connection a wake-up, on the first socket ready (the others
		 * stay ready: epoll reports them the next time), so that the pipe
		 * and the signals are looked at between any two.
		 */
		for (k = 0, lfd = -1; k < n; k++)
			if (ev[k].data.u32 == nfds)
				stop = 1;	/* the listener is stopping, or gone */
			else if (lfd < 0)
				lfd = fds[ev[k].data.u32];
		if (stop || lfd < 0)
			continue;
		len = sizeof ss;
		if ((fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC)) < 0) {
			if (errno == EINVAL)
				stop = 1;	/* a drain shut the socket */
			else {
				accept_failed();
				if (accept_resume > mono())
					nanosleep(&pause, NULL);
			}
			continue;
		}
		accept_fails = 0;
		pf_serve(fd, &ss, len, o, child, arg, orig, &stop);
		served++;
	}
	_exit(EXIT_SERVED);
}

/* Forks the workers that are due; returns in how many ms the next is due, or -1. */
static int
pf_spawn(const int *fds, size_t nfds, const struct serve_opts *o, serve_child_fn child,
    void *arg, const sigset_t *orig)
{
	double now = mono(), next = -1;
	size_t i;
	pid_t pid;

	for (i = 0; i < pf_n; i++) {
		if (pf->slot[i].pid)
			continue;
		if (pf_time[i].due <= now) {
			if ((pid = fork()) == 0) {
				pf_me = (long)i;
				pf_worker(fds, nfds, o, child, arg, orig);
			}
			if (pid > 0) {
				pf->slot[i].pid = pid;
				pf_time[i].born = now;
				children[nchildren++] = (struct child){ .pid = pid, .report = -1,
				    .slot = (long)i };
				continue;
			}
			log_msg(LOG_LVL_ERR, "unable to fork a worker: %s: trying again in 1 s",
			    strerror(errno));
			pf_time[i].due = now + 1;
		}
		if (next < 0 || pf_time[i].due < next)
			next = pf_time[i].due;
	}
	return next < 0 ? -1 : (int)((next - now) * 1000) + 1;
}

/* The shared slots, the pipe, the listening sockets made non-blocking: 0, or -1 with errno. */
static int
pf_setup(const int *fds, size_t nfds, const struct serve_opts *o)
{
	pthread_mutexattr_t ma;
	size_t i;
	int fl;

	pf_n = o->prefork;
	pf_size = sizeof *pf + pf_n * sizeof pf->slot[0];
	pf = mmap(NULL, pf_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pf == MAP_FAILED) {
		pf = NULL;
		return -1;
	}
	pf_time = calloc(pf_n, sizeof *pf_time);
	if (!pf_time || pthread_mutexattr_init(&ma) != 0
	    || pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) != 0
	    || pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) != 0
	    || pthread_mutex_init(&pf->lock, &ma) != 0 || pipe2(pf_stop, O_CLOEXEC) < 0)
		return -1;
	pthread_mutexattr_destroy(&ma);
	/* Every worker is woken by a connection it may not win: its accept must not wait. */
	for (i = 0; i < nfds; i++)
		if ((fl = fcntl(fds[i], F_GETFL)) < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0)
			return -1;
	return 0;
}

static void
pf_teardown(void)
{
	if (pf_stop[1] >= 0)
		close(pf_stop[1]);
	if (pf_stop[0] >= 0)
		close(pf_stop[0]);
	pf_stop[0] = pf_stop[1] = -1;
	if (pf)
		munmap(pf, pf_size);
	free(pf_time);
	pf = NULL;
	pf_time = NULL;
}

/* The PreFork listener: keeps o->prefork workers, reloads, and at the end drains. */
static int
pf_loop(const int *fds, size_t nfds, const struct serve_opts *o, serve_child_fn child,
    void *arg, const sigset_t *orig)
{
	struct timespec ts;
	size_t i;
	int timeout;

	if (pf_setup(fds, nfds, o) < 0) {
		pf_teardown();
		return -1;
	}
	log_msg(LOG_LVL_INFO, "prefork: %zu workers, each serving %s", pf_n, o->max_requests
	    ? "at most --max-requests connections" : "connections until it is stopped");
	while (!got_term) {
		if (got_chld)
			reap();
		if (got_hup)
			hup(fds, nfds, o);
		timeout = pf_spawn(fds, nfds, o, child, arg, orig);
		ts.tv_sec = timeout / 1000;
		ts.tv_nsec = (long)(timeout % 1000) * 1000000;
		if (ppoll(NULL, 0, timeout < 0 ? NULL : &ts, orig) < 0 && errno != EINTR) {
			log_msg(LOG_LVL_ERR, "unable to wait: %s", strerror(errno));
			break;
		}
	}
	drain(o, orig, fds, nfds);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	pf_teardown();
	return 0;
}

/*
 * Runs until SIGTERM, SIGINT or SIGQUIT (each a graceful stop: drain);
 * SIGHUP reloads. Signals are blocked except inside ppoll(), so a SIGCHLD
 * can never slip in between the check and the wait.
 */
int
serve_loop(const int *fds, size_t nfds, const struct serve_opts *o, serve_child_fn child,
    void *arg)
{
	struct pollfd *p;
	struct sigaction sa;
	siginfo_t si;
	sigset_t block, orig;
	struct timespec ts;
	size_t i, n, ne, nrep, *who;
	double paused;
	int r, timeout;

	if (nfds == 0 || nfds > SERVE_LISTEN_MAX || o->max_connections == 0
	    || o->max_connections > SERVE_CONN_MAX || o->prefork > o->max_connections
	    || o->prefork > SERVE_PREFORK_MAX) {
		errno = EINVAL;
		return -1;
	}
	/* The children of the process that exec'd this one on SIGHUP are ours to wait for. */
	children = calloc(o->max_connections + o->nadopt, sizeof *children);
	/* Reports first, then the listening sockets, which a full server leaves out, then the hook's. */
	p = calloc(o->max_connections + nfds + o->nextra, sizeof *p);
	who = calloc(o->max_connections, sizeof *who);
	if (!children || !p || !who) {
		free(children);
		free(p);
		free(who);
		return -1;
	}
	/* Only a pid that is this process's child (waitid does not say ECHILD) is one to wait for. */
	for (i = 0; i < o->nadopt; i++)
		if (waitid(P_PID, (id_t)o->adopt[i], &si, WEXITED | WNOHANG | WNOWAIT) == 0
		    || errno != ECHILD)
			children[nchildren++] = (struct child){ .pid = o->adopt[i], .report = -1,
			    .slot = -1 };
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (i = 0; i < sizeof serve_signals / sizeof serve_signals[0]; i++) {
		sigaction(serve_signals[i], &sa, NULL);
		sigaddset(&block, serve_signals[i]);
	}
	sigprocmask(SIG_BLOCK, &block, &orig);
	loop_signals = block;
	/*
	 * After a SIGHUP's re-exec they arrive blocked: unblocked only inside
	 * ppoll() (and in the children), never before the handlers are set.
	 */
	for (i = 0; i < sizeof serve_signals / sizeof serve_signals[0]; i++)
		sigdelset(&orig, serve_signals[i]);
	got_chld = 1;		/* an adopted child may have ended before the handler was set */
	if (o->prefork) {
		r = pf_loop(fds, nfds, o, child, arg, &orig);
		goto done;
	}
	while (!got_term) {
		if (got_chld)
			reap();
		if (got_hup)
			hup(fds, nfds, o);
		for (i = nrep = 0; i < nchildren; i++) {
			if (children[i].report < 0)
				continue;
			p[nrep].fd = children[i].report;
			p[nrep].events = POLLIN;
			who[nrep++] = i;
		}
		for (i = 0; i < nfds; i++) {
			p[nrep + i].fd = fds[i];
			p[nrep + i].events = POLLIN;
		}
		/* Full, or paused: stop accepting, and the kernel's backlog holds the rest. */
		paused = accept_resume - mono();
		n = nrep + (nchildren < o->max_connections && paused <= 0 ? nfds : 0);
		timeout = -1;
		ne = o->poll_fds ? o->poll_fds(o->hook_arg, p + n, o->nextra, &timeout) : 0;
		if (paused > 0 && (timeout < 0 || timeout > (int)(paused * 1000) + 1))
			timeout = (int)(paused * 1000) + 1;
		ts.tv_sec = timeout / 1000;
		ts.tv_nsec = (long)(timeout % 1000) * 1000000;
		r = ppoll(p, n + ne, timeout < 0 ? NULL : &ts, &orig);
		if (r < 0 && errno != EINTR) {
			log_msg(LOG_LVL_ERR, "unable to poll: %s", strerror(errno));
			break;
		}
		if (r >= 0 && o->polled)
			o->polled(o->hook_arg, p + n, ne);
		if (r <= 0)
			continue;
		for (i = 0; i < nrep; i++)
			if (p[i].revents)
				take_report(&children[who[i]], o);
		for (i = nrep; i < n && nchildren < o->max_connections; i++)
			if (p[i].revents & POLLIN)
				accept_one(p[i].fd, fds, nfds, o, child, arg, &orig);
	}
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	drain(o, &orig, NULL, 0);
	r = 0;
done:
	free(children);
	free(p);
	free(who);
	children = NULL;
	sigprocmask(SIG_SETMASK, &orig, NULL);
	return r;
}
