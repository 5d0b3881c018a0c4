/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE		/* struct ucred */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "peer.h"
#include "text.h"

static void
set_port(char out[PEER_PORTMAX], const char *s)
{
	unsigned long port;

	if (s && text_uint(s, 0, 65535, &port) == 0)
		snprintf(out, PEER_PORTMAX, "%lu", port);
	else
		out[0] = '\0';
}

static int
set_addr(struct addr *a, char out[ADDR_STRMAX], const char *s)
{
	if (!s || addr_parse(a, s) < 0) {
		out[0] = '\0';
		return 0;
	}
	addr_format(a, out);	/* normalised: ::ffff:a.b.c.d becomes a.b.c.d */
	return 1;
}

/*
 * UCSPI: PROTO names the prefix of the other variables (TCP, TCP6, ...),
 * set by tcpserver, s6-tcpserver or our own blockip before it execs.
 */
static int
from_ucspi(struct peer *p)
{
	const char *proto = getenv("PROTO");
	char name[32];

	if (!proto || strlen(proto) > 8)
		return 0;
	snprintf(name, sizeof name, "%sREMOTEIP", proto);
	p->has_remote = set_addr(&p->remote, p->remote_ip, getenv(name));
	if (!p->has_remote)
		return 0;
	snprintf(name, sizeof name, "%sREMOTEPORT", proto);
	set_port(p->remote_port, getenv(name));
	snprintf(name, sizeof name, "%sLOCALIP", proto);
	p->has_local = set_addr(&p->local, p->local_ip, getenv(name));
	snprintf(name, sizeof name, "%sLOCALPORT", proto);
	set_port(p->local_port, getenv(name));
	p->family = p->remote.family;
	return 1;
}

static void
sockaddr_port(const struct sockaddr_storage *ss, char out[PEER_PORTMAX])
{
	unsigned port = ss->ss_family == AF_INET
	    ? ntohs(((const struct sockaddr_in *)ss)->sin_port)
	    : ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);

	snprintf(out, PEER_PORTMAX, "%u", port);
}

static int
from_socket(struct peer *p, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	memset(&ss, 0, sizeof ss);	/* what a short address leaves out reads as 0 */
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return errno == ENOTSOCK ? 0 : -1;
	p->family = ss.ss_family;
	if (ss.ss_family == AF_UNIX) {
		struct ucred cred;
		socklen_t clen = sizeof cred;

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
			p->has_cred = 1;
			p->uid = cred.uid;
			p->gid = cred.gid;
			p->pid = cred.pid;
		}
		return 1;
	}
	if (addr_from_sockaddr(&p->remote, &ss, len) < 0)
		return 1;
	p->has_remote = 1;
	addr_format(&p->remote, p->remote_ip);
	sockaddr_port(&ss, p->remote_port);
	p->family = p->remote.family;
	len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0
	    && addr_from_sockaddr(&p->local, &ss, len) == 0) {
		p->has_local = 1;
		addr_format(&p->local, p->local_ip);
		sockaddr_port(&ss, p->local_port);
	}
	return 1;
}

/* systemd sets REMOTE_ADDR/REMOTE_PORT, xinetd REMOTE_HOST (an address). */
static int
from_env(struct peer *p)
{
	const char *a = getenv("REMOTE_ADDR");

	if (!a)
		a = getenv("REMOTE_HOST");
	p->has_remote = set_addr(&p->remote, p->remote_ip, a);
	if (!p->has_remote)
		return 0;
	set_port(p->remote_port, getenv("REMOTE_PORT"));
	p->family = p->remote.family;
	return 1;
}

/*
 * Who is the client, in peer.h's order. PROXY headers are read by
 * the connection cycle before this, since they come off the stream itself.
 * Returns 0, or -1 if the socket could not be asked.
 */
int
peer_identify(struct peer *p, int fd)
{
	int r;

	memset(p, 0, sizeof *p);
	p->family = AF_UNSPEC;
	if (from_ucspi(p))
		return 0;
	r = from_socket(p, fd);
	if (r != 0)
		return r < 0 ? -1 : 0;
	from_env(p);
	return 0;
}

/* Only the socket's own view (for the trusted-proxy check): 1, 0 not a socket, -1. */
int
peer_socket(struct peer *p, int fd)
{
	memset(p, 0, sizeof *p);
	p->family = AF_UNSPEC;
	return from_socket(p, fd);
}

/* The client and local address as given: a datagram's (udp.c), nothing else about it. */
void
peer_set(struct peer *p, const struct addr *remote, unsigned remote_port,
    const struct addr *local, unsigned local_port)
{
	memset(p, 0, sizeof *p);
	p->remote = *remote;
	p->local = *local;
	p->has_remote = p->has_local = 1;
	p->family = remote->family;
	addr_format(remote, p->remote_ip);
	addr_format(local, p->local_ip);
	snprintf(p->remote_port, PEER_PORTMAX, "%u", remote_port);
	snprintf(p->local_port, PEER_PORTMAX, "%u", local_port);
}

/* The client and local address a PROXY header gave. */
void
peer_set_proxy(struct peer *p, const struct addr *remote, unsigned remote_port,
    const struct addr *local, unsigned local_port)
{
	peer_set(p, remote, remote_port, local, local_port);
	p->proxied = 1;
}

/*
 * Reverse lookup; with doublecheck the name must resolve back to the
 * address (Net::Server's "double"), or it is not used. Returns 0, -1 for
 * no name, or -2 for a name that does not resolve back (in name, for the
 * log: escape it, it is the DNS's).
 */
int
peer_lookup_host(struct peer *p, int doublecheck, char *name, size_t namelen)
{
	struct addrinfo hints, *res, *ai;
	struct sockaddr_storage ss;
	socklen_t len;
	int ok = 0;

	if (!p->has_remote)
		return -1;
	memset(&ss, 0, sizeof ss);
	if (p->remote.family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, p->remote.bytes, 4);
		len = sizeof *s4;
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, p->remote.bytes, 16);
		len = sizeof *s6;
	}
	if (getnameinfo((struct sockaddr *)&ss, len, p->host, sizeof p->host, NULL, 0,
	    NI_NAMEREQD) != 0) {
		p->host[0] = '\0';
		return -1;
	}
	if (!doublecheck)
		return 0;
	snprintf(name, namelen, "%s", p->host);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = p->remote.family;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(p->host, NULL, &hints, &res) == 0) {
		for (ai = res; ai && !ok; ai = ai->ai_next) {
			struct addr a;

			ok = addr_from_sockaddr(&a, ai->ai_addr, ai->ai_addrlen) == 0
			    && a.family == p->remote.family
			    && memcmp(a.bytes, p->remote.bytes, addr_len(&a)) == 0;
		}
		freeaddrinfo(res);
	}
	if (!ok)
		p->host[0] = '\0';
	return ok ? 0 : -2;
}

/*
 * Sets the UCSPI variables for a program we exec, so it sees the same client.
 * INETKIT_PROXIED=1 tells it the PROXY header is already off the stream, so
 * a --proxy-protocol there does not wait for a second one.
 */
int
peer_export(const struct peer *p)
{
	static const char *const suffixes[] = { "REMOTEIP", "REMOTEPORT", "LOCALIP", "LOCALPORT",
	    "REMOTEHOST" };
	const char *proto = p->family == AF_INET6 ? "TCP6" : "TCP";
	char name[32];
	size_t i;

	if (p->proxied && setenv("INETKIT_PROXIED", "1", 1) < 0)
		return -1;
	if (!p->has_remote)
		return 0;
	if (setenv("PROTO", proto, 1) < 0)
		return -1;
#define EXPORT(suffix, val) do { \
	snprintf(name, sizeof name, "%s" suffix, proto); \
	if ((val)[0] ? setenv(name, (val), 1) : unsetenv(name)) \
		return -1; \
} while (0)
	EXPORT("REMOTEIP", p->remote_ip);
	EXPORT("REMOTEPORT", p->remote_port);
	EXPORT("LOCALIP", p->local_ip);
	EXPORT("LOCALPORT", p->local_port);
	EXPORT("REMOTEHOST", p->host);
#undef EXPORT
	/* Stale values under the other prefix (an upstream tcpserver's view of a proxy) go. */
	for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		snprintf(name, sizeof name, "%s%s", proto[3] ? "TCP" : "TCP6", suffixes[i]);
		unsetenv(name);
	}
	return 0;
}

/* "192.0.2.1:4711", "[2001:db8::1]:4711", "unix uid 1000" or "unknown", for logs. */
const char *
peer_str(const struct peer *p)
{
	static char buf[ADDR_STRMAX + PEER_PORTMAX + 64];

	if (p->has_remote)
		snprintf(buf, sizeof buf, p->remote.family == AF_INET6 ? "[%s]%s%s" : "%s%s%s",
		    p->remote_ip, p->remote_port[0] ? ":" : "", p->remote_port);
	else if (p->has_cred)
		snprintf(buf, sizeof buf, "unix uid %u pid %ld", (unsigned)p->uid, (long)p->pid);
	else if (p->family == AF_UNIX)
		snprintf(buf, sizeof buf, "unix");
	else
		snprintf(buf, sizeof buf, "unknown");
	return buf;
}
