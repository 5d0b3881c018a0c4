/* SPDX-License-Identifier: MIT */
/*
 * The one address a bench client dials, for loadgen.c and tlsload.c:
 * HOST:PORT on loopback, [::1]:PORT, or a UNIX socket's path. Include it
 * after the client's fatal(const char *).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

static struct sockaddr_storage target;
static socklen_t target_len;

/* Only loopback or a UNIX socket: this tool is never pointed at another host. */
static void
parse_addr(const char *s)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&target;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&target;
	struct sockaddr_un *su = (struct sockaddr_un *)&target;
	char host[64];
	const char *colon = strrchr(s, ':');
	size_t hl;

	memset(&target, 0, sizeof target);
	if (s[0] == '/') {
		if (strlen(s) >= sizeof su->sun_path)
			fatal("socket path too long");
		su->sun_family = AF_UNIX;
		strcpy(su->sun_path, s);
		target_len = sizeof *su;
		return;
	}
	if (!colon || (hl = (size_t)(colon - s)) >= sizeof host)
		fatal("address must be HOST:PORT or /path");
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1
		    || !IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			fatal("only [::1] is allowed for IPv6");
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)atoi(colon + 1));
		target_len = sizeof *s6;
		return;
	}
	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1
	    || (ntohl(s4->sin_addr.s_addr) >> 24) != 127)
		fatal("only 127.0.0.0/8 is allowed for IPv4");
	s4->sin_family = AF_INET;
	s4->sin_port = htons((unsigned short)atoi(colon + 1));
	target_len = sizeof *s4;
}
