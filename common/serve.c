/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE		/* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "serve.h"

#define EXIT_REFUSED 1
#define BACKLOG 128

struct child {
	pid_t pid;
	struct addr src;
	int has_src;
};

struct penalty {
	struct addr src;
	time_t until;
	unsigned long secs;		/* the last penalty given, doubled on the next */
	time_t last;			/* for choosing a slot to reuse */
};

static volatile sig_atomic_t got_chld, got_term;
static struct child *children;
static size_t nchildren;
static struct penalty penalties[SERVE_PENALTY_SLOTS];

static void
on_signal(int sig)
{
	if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_term = 1;
}

int
serve_is_listening(int fd)
{
	int on = 0;
	socklen_t len = sizeof on;

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

/* "127.0.0.1:8010", "[::1]:8010", "0.0.0.0:8010" or "[::]:8010". */
int
serve_listen(const char *spec, int *fd, char *err, size_t errlen)
{
	char host[ADDR_STRMAX + 2];
	const char *colon = strrchr(spec, ':');
	struct sockaddr_storage ss;
	struct addr a;
	unsigned long port;
	size_t hl;
	int one = 1, s;

	if (!colon || (hl = (size_t)(colon - spec)) == 0 || hl >= sizeof host
	    || conf_uint(colon + 1, 1, 65535, &port) < 0) {
		snprintf(err, errlen, "\"%.64s\" is not ADDRESS:PORT", spec);
		return SERVE_BADSPEC;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		memmove(host, host + 1, hl - 1);
	}
	memset(&ss, 0, sizeof ss);
	/* A mapped address is not unmapped here: the socket family follows the spelling. */
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((unsigned short)port);
	} else if (addr_parse(&a, host) == 0 && a.family == AF_INET) {
		ss.ss_family = AF_INET;
		memcpy(&((struct sockaddr_in *)&ss)->sin_addr, a.bytes, 4);
		((struct sockaddr_in *)&ss)->sin_port = htons((unsigned short)port);
	} else {
		snprintf(err, errlen, "\"%.64s\" is not an IP address", host);
		return SERVE_BADSPEC;
	}
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
	    || (ss.ss_family == AF_INET6
		&& setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
	    || bind(s, (struct sockaddr *)&ss, ss.ss_family == AF_INET
		? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) < 0
	    || listen(s, BACKLOG) < 0) {
		snprintf(err, errlen, "unable to listen on %s: %s", spec, strerror(errno));
		if (s >= 0)
			close(s);
		return -1;
	}
	*fd = s;
	return 0;
}

static int
same_addr(const struct addr *a, const struct addr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, addr_len(a)) == 0;
}

static int
same_net(const struct addr *a, const struct addr *b)
{
	struct cidr c = { *a, a->family == AF_INET ? 24 : 64 };
	size_t i, n = addr_len(a);

	for (i = c.prefix / 8; i < n; i++)
		c.net.bytes[i] = 0;
	return cidr_match(&c, b);
}

static struct penalty *
penalty_find(const struct addr *a)
{
	size_t i;

	for (i = 0; i < SERVE_PENALTY_SLOTS; i++)
		if (penalties[i].last && same_addr(&penalties[i].src, a))
			return &penalties[i];
	return NULL;
}

/*
 * A refusal or failed login from this source: it is refused for a growing
 * time (OpenSSH's PerSourcePenalties). The table is fixed; when full, the
 * entry idle longest is reused, so memory stays bounded under any flood.
 */
static void
penalize(const struct addr *a, const struct serve_opts *o, time_t now)
{
	struct penalty *p = penalty_find(a), *victim = &penalties[0];
	char s[ADDR_STRMAX];
	size_t i;

	if (!o->penalty)
		return;
	if (!p) {
		for (i = 0; i < SERVE_PENALTY_SLOTS; i++) {
			if (!penalties[i].last || penalties[i].last < victim->last)
				victim = &penalties[i];
			if (!penalties[i].last)
				break;
		}
		p = victim;
		memset(p, 0, sizeof *p);
		p->src = *a;
	}
	/* Forgotten after a quiet spell of twice the longest penalty. */
	if (p->secs && now - p->last > (time_t)(2 * o->penalty_max))
		p->secs = 0;
	p->secs = p->secs ? p->secs * 2 : o->penalty;
	if (p->secs > o->penalty_max)
		p->secs = o->penalty_max;
	p->until = now + (time_t)p->secs;
	p->last = now;
	addr_format(a, s);
	log_msg(LOG_LVL_NOTICE, "penalized %s for %lus after a refusal", s, p->secs);
}

static void
reap(const struct serve_opts *o)
{
	size_t i;
	pid_t pid;
	int st;

	got_chld = 0;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < nchildren; i++) {
			if (children[i].pid != pid)
				continue;
			if (children[i].has_src && WIFEXITED(st) && WEXITSTATUS(st) == EXIT_REFUSED)
				penalize(&children[i].src, o, time(NULL));
			children[i] = children[--nchildren];
			break;
		}
	}
}

/* Why this source may not be served now, or NULL. */
static const char *
over_limit(const struct addr *a, const struct serve_opts *o, time_t now)
{
	struct penalty *p = penalty_find(a);
	unsigned long same = 0, net = 0;
	size_t i;

	if (p && p->until > now)
		return "penalized";
	for (i = 0; i < nchildren; i++) {
		if (!children[i].has_src || children[i].src.family != a->family)
			continue;
		same += same_addr(&children[i].src, a);
		net += same_net(&children[i].src, a);
	}
	if (o->max_per_source && same >= o->max_per_source)
		return "max-per-source";
	if (o->max_per_netblock && net >= o->max_per_netblock)
		return "max-per-netblock";
	return NULL;
}

static void
accept_one(int lfd, const int *fds, size_t nfds, const struct serve_opts *o,
    serve_child_fn child, void *arg, const sigset_t *orig)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	struct child c = { 0 };
	const char *why;
	char s[ADDR_STRMAX];
	size_t i;
	int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_msg(LOG_LVL_WARNING, "unable to accept: %s", strerror(errno));
		return;
	}
	c.has_src = addr_from_sockaddr(&c.src, &ss, len) == 0;
	if (c.has_src && (why = over_limit(&c.src, o, time(NULL)))) {
		addr_format(&c.src, s);
		log_msg(LOG_LVL_NOTICE, "refused %s: %s", s, why);
		close(fd);
		return;
	}
	c.pid = fork();
	if (c.pid < 0) {
		log_msg(LOG_LVL_ERR, "unable to fork: %s", strerror(errno));
		close(fd);
		return;
	}
	if (c.pid == 0) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		sigprocmask(SIG_SETMASK, orig, NULL);
		_exit(child(fd, arg));
	}
	close(fd);
	children[nchildren++] = c;
}

static double
mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* After SIGTERM: no new connections; children get drain_timeout, then SIGTERM. */
static void
drain(const struct serve_opts *o, const sigset_t *orig)
{
	double deadline = mono() + (double)o->drain_timeout;
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	size_t i;

	log_msg(LOG_LVL_NOTICE, "stopping: %zu connections to finish", nchildren);
	while (nchildren && mono() < deadline) {
		ppoll(NULL, 0, &ts, orig);
		reap(o);
	}
	for (i = 0; i < nchildren; i++)
		kill(children[i].pid, SIGTERM);
	while (nchildren) {
		ppoll(NULL, 0, &ts, orig);
		reap(o);
	}
}

/*
 * Runs until SIGTERM or SIGINT. Signals are blocked except inside ppoll(),
 * so a SIGCHLD can never slip in between the check and the wait.
 */
int
serve_loop(const int *fds, size_t nfds, const struct serve_opts *o, serve_child_fn child,
    void *arg)
{
	struct pollfd p[SERVE_LISTEN_MAX];
	struct sigaction sa;
	sigset_t block, orig;
	size_t i;
	int r;

	if (nfds == 0 || nfds > SERVE_LISTEN_MAX || o->max_connections == 0
	    || o->max_connections > SERVE_CONN_MAX) {
		errno = EINVAL;
		return -1;
	}
	children = calloc(o->max_connections, sizeof *children);
	if (!children)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	for (i = 0; i < nfds; i++) {
		p[i].fd = fds[i];
		p[i].events = POLLIN;
	}
	while (!got_term) {
		if (got_chld)
			reap(o);
		/* Full: stop accepting, and the kernel's backlog holds the rest. */
		r = ppoll(p, nchildren < o->max_connections ? nfds : 0, NULL, &orig);
		if (r < 0 && errno != EINTR) {
			log_msg(LOG_LVL_ERR, "unable to poll: %s", strerror(errno));
			break;
		}
		for (i = 0; r > 0 && i < nfds && nchildren < o->max_connections; i++)
			if (p[i].revents & POLLIN)
				accept_one(fds[i], fds, nfds, o, child, arg, &orig);
	}
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	drain(o, &orig);
	free(children);
	children = NULL;
	sigprocmask(SIG_SETMASK, &orig, NULL);
	return 0;
}
