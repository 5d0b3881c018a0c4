/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_SERVE_H
#define INETKIT_SERVE_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "srctab.h"

/*
 * Net::Server's Fork personality: for a listening socket (systemd
 * Accept=no, or --listen), accept connections and serve each in a forked
 * child, under limits. A full server stops accepting (the kernel queues new
 * connections); a source over its limits, or penalized or over its rate in
 * the table of sources, is closed at once (with the refusal message, if
 * any).
 *
 * Behind a trusted proxy the socket's peer is the proxy, and the client is
 * known only once the child has read the PROXY header: so then the child
 * reports the client to the listener over a socket pair of its own, and
 * the listener, which alone knows what every child serves, answers whether
 * that client is within its limits. A slow header delays only its child.
 */
#define SERVE_LISTEN_MAX 16
#define SERVE_CONN_MAX 4096		/* the highest --max-connections */
#define SERVE_REPORT_MS 2000		/* a child's wait for the listener's answer */
#define SERVE_PREFORK_MAX 1024		/* the most PreFork workers */

struct pollfd;

/* Where a fork is, for serve_opts' forking hook. */
enum serve_fork { SERVE_FORK_BEFORE, SERVE_FORK_CHILD, SERVE_FORK_PARENT };

struct serve_opts {
	unsigned long max_connections;	/* served at once */
	unsigned long max_per_source;	/* per address; 0 = no limit */
	unsigned long max_per_netblock;	/* per netblock (prefix4, prefix6); 0 = no limit */
	unsigned long drain_timeout;	/* after SIGTERM, seconds to let children finish */
	/*
	 * PreFork (Net::Server's PreForkSimple): this many workers, forked
	 * before any client, each accepting and serving connections one
	 * after another, at most max_requests (0: no limit) before it is
	 * replaced; 0: the Fork personality, a child a connection.
	 */
	unsigned long prefork;
	unsigned long max_requests;
	size_t nown;			/* the last nown listening sockets were bound here */
	int proxied;			/* clients are named by a PROXY header: children report */
	struct srctab *tab;		/* or NULL */
	const struct srctab_limits *lim;	/* rates, penalties, netblock prefixes */
	const char *refusal;		/* sent to a client refused here, or NULL */
	size_t refusal_len;
	/*
	 * SIGHUP: re-exec with the listening sockets kept and the children
	 * (pids) handed over; returns only if it did not (having logged why).
	 */
	void (*reload)(const int *fds, size_t nfds, const pid_t *pids, size_t npids, void *arg);
	void *reload_arg;
	const pid_t *adopt;		/* children of the process that exec'd this one */
	size_t nadopt;
	/*
	 * A program's own part in the loop (relay's pool of connections to
	 * its backends), NULL if none. poll_fds adds at most nextra fds to
	 * the loop's poll and may lower *timeout_ms (-1: none) for a timer of
	 * its own; polled gets them back after every wake-up, before any
	 * accept. forking is called around every child's fork: BEFORE with
	 * the client's socket address, then CHILD in the child (its
	 * listening sockets closed) or PARENT in the listener, after a failed
	 * fork too.
	 */
	size_t nextra;
	size_t (*poll_fds)(void *arg, struct pollfd *p, size_t cap, int *timeout_ms);
	void (*polled)(void *arg, const struct pollfd *p, size_t n);
	void (*forking)(void *arg, enum serve_fork stage, const struct sockaddr_storage *ss,
	    socklen_t len);
	void *hook_arg;
};

/* What serve_loop handles: SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT. */
#define SERVE_NSIGNALS 5
extern const int serve_signals[SERVE_NSIGNALS];

/* What a child is handed: its connection, and what the listener did for it. */
struct serve_conn {
	int fd;
	int admitted;			/* the table of sources was consulted by the listener */
	int report;			/* proxied: where to report the client, else -1 */
	int worker;			/* PreFork: the worker's slot of the shared counts, else -1 */
	int *stop;			/* PreFork: set by the child fn: take no other connection */
};

/* serve_listen: -1 with errno for a system error, or this for a malformed spec. */
#define SERVE_BADSPEC (-2)

/*
 * Serves one accepted connection in the child, or in a PreFork worker
 * (sc->worker >= 0), which serves the next one after it: then nothing of
 * this client may outlive the call. Returns its exit status.
 */
typedef int (*serve_child_fn)(const struct serve_conn *sc, void *arg);

int serve_parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len, int *dgram,
    char *err, size_t errlen);
int serve_listen(const char *spec, unsigned long backlog, int *fd, char *err, size_t errlen);
int serve_bind(const struct sockaddr *sa, socklen_t len, int type, unsigned long backlog, int *fd,
    char *err, size_t errlen);
int serve_is_listening(int fd);
int serve_is_socket(int fd);
int serve_loop(const int *fds, size_t nfds, const struct serve_opts *o, serve_child_fn child,
    void *arg);
int serve_report(const struct serve_conn *sc, const struct addr *a, const char **why);
void serve_table_note(const struct srctab_note *n);
void serve_netblock_str(char out[ADDR_STRMAX + 5], const struct addr *a, unsigned prefix);

#endif
