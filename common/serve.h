/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_SERVE_H
#define INETKIT_SERVE_H

#include <stddef.h>

/*
 * Net::Server's Fork personality: for a listening socket (systemd
 * Accept=no, or --listen), accept connections and serve each in a forked
 * child, under limits. A full server stops accepting (the kernel queues new
 * connections); a source over its limits, or penalized for recent
 * refusals, is closed at once without a byte.
 */
#define SERVE_LISTEN_MAX 16
#define SERVE_CONN_MAX 4096		/* the highest --max-connections */
#define SERVE_PENALTY_SLOTS 1024	/* sources remembered for penalties */

struct serve_opts {
	unsigned long max_connections;	/* served at once */
	unsigned long max_per_source;	/* per address; 0 = no limit */
	unsigned long max_per_netblock;	/* per /24 (IPv4) or /64 (IPv6); 0 = no limit */
	unsigned long penalty;		/* seconds for the first refusal; 0 = none */
	unsigned long penalty_max;	/* doubling stops here */
	unsigned long drain_timeout;	/* after SIGTERM, seconds to let children finish */
};

/* serve_listen: -1 with errno for a system error, or this for a malformed spec. */
#define SERVE_BADSPEC (-2)

/* Serves one accepted connection in the child; returns its exit status. */
typedef int (*serve_child_fn)(int fd, void *arg);

int serve_listen(const char *spec, int *fd, char *err, size_t errlen);
int serve_is_listening(int fd);
int serve_loop(const int *fds, size_t nfds, const struct serve_opts *o, serve_child_fn child,
    void *arg);

#endif
