/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_UDP_H
#define INETKIT_UDP_H

#include <stddef.h>
#include <sys/types.h>

#include "conn.h"

/*
 * Datagram services (udp.c): one process serves every datagram of its
 * sockets, as inetd's "wait = yes" runs a UDP service. The sockets are the
 * one inetd or xinetd hands over on fd 0, those systemd passes
 * (ListenDatagram=, Accept=no), or --listen udp:ADDRESS:PORT. A program
 * serves datagrams if its struct service has the datagram hook (conn.h).
 */
#define UDP_MAX 65535			/* the largest datagram read (a longer one is dropped) */
#define UDP_SOURCES_MAX 4096		/* distinct sources counted for the record */
#define UDP_BATCH 64			/* datagrams read from one socket before the next's turn */

/* An IPv4 or IPv6 datagram socket: 1, else 0 (a stream, a pipe, a UNIX socket). */
int udp_is_datagram(int fd);

/*
 * Whether the process serves datagrams: with no other socket, fd (inetd's
 * wait = yes: fd 0) is moved into fds when it is a datagram socket; then
 * *dgram is 1 if the fds[0..*n) are datagram sockets, 0 if none is.
 * Returns 0, or an exit status: a program without the datagram hook
 * handed one, and a mix of datagram and listening sockets, are usage
 * errors.
 */
int udp_sockets(const struct service *svc, int fd, int *fds, size_t *n, int *dgram);

/* The accept loop's reload (serve_opts.reload), called with no children. */
typedef void (*udp_reload_fn)(const int *fds, size_t nfds, const pid_t *pids, size_t npids,
    void *arg);

/*
 * Serves the datagrams of fds[0..n) until SIGTERM, SIGINT or SIGQUIT, the
 * session timeout, or, when the sockets came from an activator
 * (activated), the idle timeout; then logs the one record. SIGHUP logs
 * the record so far (end=reload) and calls reload, which re-execs or
 * returns having said why not. Returns the exit status.
 */
int udp_serve(struct conn *c, const int *fds, size_t n, int activated, udp_reload_fn reload);

#endif
