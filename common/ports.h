/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_PORTS_H
#define INETKIT_PORTS_H

#include <stddef.h>

#include "conf.h"

/*
 * Net::Server's binding keys: port, host, ipv and proto (and listen N, the
 * backlog, which program.c's --listen takes when its value is a number).
 * Under an activator that hands over a connection or a listening socket
 * they are accepted and ignored, as Net::Server::INET ignores them; with
 * no activator, they bind sockets as --listen does and as Net::Server's
 * documentation says (inetkit.conf(5), "NET::SERVER KEYS"); udp ports
 * are datagram sockets, for the datagram loop (udp.c), and ports_check
 * refuses them mixed with stream ports.
 *
 * A port is "20205", "http", "localhost:20204/IPv4", "*:20203",
 * "[::1]:20203", "host:port/proto/ipv", "host, port, proto, ipv" or
 * "host | port | proto"; "PATH|unix" (or with "|sock_stream|") is a UNIX
 * socket. What a port leaves out comes from the host, ipv and proto keys
 * (the i-th value for the i-th port, the last one for the rest), else "*",
 * "*" and tcp. A port with no port key at all is Net::Server's 20203.
 */
#define PORTS_DEFAULT 20203
#define PORTS_BACKLOG 128		/* when no "listen N" says otherwise */

extern const struct conf_opt ports_opts[];

/* Whether any binding key was given. */
int ports_given(void);

/* Every value well-formed (with what can be checked before binding): 0, or -1 with err. */
int ports_check(char *err, size_t errlen);

/*
 * Binds every socket the keys name into fds[*n...max). Returns 0, or an
 * exit status with the failing step logged: EXIT_USAGE for what cannot
 * be bound as written (a name that does not resolve, an address family
 * the host does not have), EXIT_TEMP for the system's refusal (in use).
 */
int ports_bind(int *fds, size_t *n, size_t max, unsigned long backlog);

/* A Net::Server spec's parts, for fuzz_addr and the tests: 0, or -1 with err. */
struct ports_spec {
	char host[256];
	char port[108];			/* the port, or a UNIX socket's path */
	int ipv;			/* PORTS_IPV4 | PORTS_IPV6, or PORTS_IPV_ANY; 0 unset */
	int proto;			/* enum ports_proto; 0 unset */
};
enum { PORTS_IPV4 = 1, PORTS_IPV6 = 2, PORTS_IPV_ANY = 4 };
enum ports_proto { PORTS_TCP = 1, PORTS_UDP, PORTS_UNIX };
int ports_parse(struct ports_spec *s, const char *spec, int unix_path, char *err, size_t errlen);

#endif
