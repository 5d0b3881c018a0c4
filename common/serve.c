/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE		/* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "serve.h"
#include "text.h"

struct child {
	pid_t pid;
	struct addr src;
	int has_src;			/* counted toward the per-source limits */
	int report;			/* proxied: the listener's end of the report pair, or -1 */
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
			children[i] = children[--nchildren];
			break;
		}
	}
}

/* Whether the children already serving a's address or netblock leave room: a limit_names[] code. */
static int
over_limit(const struct addr *a, const struct serve_opts *o)
{
	unsigned long same = 0, net = 0;
	size_t i;

	for (i = 0; i < nchildren; i++) {
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

/* Why a may not be served now (its concurrency, then the table of sources), or NULL. */
static const char *
refusal_reason(const struct addr *a, const struct serve_opts *o, char *buf, size_t len)
{
	struct srctab_note note;
	enum srctab_verdict v;
	int code = over_limit(a, o);

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
 * listener did not answer in time (the connection is then served).
 */
int
serve_report(const struct serve_conn *sc, const struct addr *a, const char **why)
{
	struct report r;
	struct pollfd p = { .fd = sc->report, .events = POLLIN };
	unsigned char code;

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

static void
accept_one(int lfd, const int *fds, size_t nfds, const struct serve_opts *o,
    serve_child_fn child, void *arg, const sigset_t *orig)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	struct child c = { .report = -1 };
	struct serve_conn sc = { .report = -1 };
	const char *why;
	char s[ADDR_STRMAX], buf[64];
	int pair[2] = { -1, -1 };
	size_t i;
	int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			accept_resume = mono() + ACCEPT_PAUSE;
			accept_fails++;
			/* Said at the 1st, 2nd, 4th ... failure in a row, then every 1024th. */
			if (!(accept_fails & (accept_fails - 1)) || accept_fails % 1024 == 0)
				log_msg(LOG_LVL_WARNING, "unable to accept: %s: paused for %.0f ms "
				    "(%lu in a row)", strerror(errno), ACCEPT_PAUSE * 1000,
				    accept_fails);
		} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_msg(LOG_LVL_WARNING, "unable to accept: %s", strerror(errno));
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

/* After SIGTERM, SIGINT or SIGQUIT: no new connections; children get drain_timeout, then SIGTERM. */
static void
drain(const struct serve_opts *o, const sigset_t *orig)
{
	double deadline = mono() + (double)o->drain_timeout;
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	size_t i;

	reap();		/* a child that has ended is not one to wait for */
	log_msg(LOG_LVL_NOTICE, "stopping: %zu connections to finish (%s)", nchildren,
	    got_term == SIGQUIT ? "SIGQUIT" : got_term == SIGINT ? "SIGINT" : "SIGTERM");
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
	    || o->max_connections > SERVE_CONN_MAX) {
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
			children[nchildren++] = (struct child){ .pid = o->adopt[i], .report = -1 };
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (i = 0; i < sizeof serve_signals / sizeof serve_signals[0]; i++) {
		sigaction(serve_signals[i], &sa, NULL);
		sigaddset(&block, serve_signals[i]);
	}
	sigprocmask(SIG_BLOCK, &block, &orig);
	/*
	 * After a SIGHUP's re-exec they arrive blocked: unblocked only inside
	 * ppoll() (and in the children), never before the handlers are set.
	 */
	for (i = 0; i < sizeof serve_signals / sizeof serve_signals[0]; i++)
		sigdelset(&orig, serve_signals[i]);
	got_chld = 1;		/* an adopted child may have ended before the handler was set */
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
	drain(o, &orig);
	free(children);
	free(p);
	free(who);
	children = NULL;
	sigprocmask(SIG_SETMASK, &orig, NULL);
	return 0;
}
