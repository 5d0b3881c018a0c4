/* SPDX-License-Identifier: MIT */
/*
 * Net::Server's binding keys (ports.h): a port spec is parsed as
 * Net::Server::Proto parses it, from its end: keywords (IPv4, IPv6, IPv*,
 * tcp, udp, unix, sock_stream, sock_dgram) after a separator ("," "|" ":"
 * "/" or blanks) come off one by one, then what is left is "[host]:port",
 * "host:port" or "port" (or, for unix, the socket's path).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "exit.h"
#include "log.h"
#include "ports.h"
#include "serve.h"
#include "text.h"

#define SEPS ",| \t:/"
#define HOSTCHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:*%"
#define NADDR_MAX 16			/* addresses one port may bind */

static struct conf_list port_v, host_v, ipv_v, proto_v;

static int set_ipv(void *dest, const char *v, char *err, size_t len);
static int set_proto(void *dest, const char *v, char *err, size_t len);
static int set_port(void *dest, const char *v, char *err, size_t len);

const struct conf_opt ports_opts[] = {
	{ .name = "port", .type = CONF_FUNC, .dest = &port_v, .set = set_port, .arg = "PORT",
	    .help = "Net::Server: bind [HOST:]PORT[/PROTO][/IPV] with no activator (repeatable)" },
	{ .name = "host", .type = CONF_FUNC, .dest = &host_v, .set = set_port, .arg = "HOST",
	    .help = "Net::Server: the host of a port that names none (default *)" },
	{ .name = "ipv", .type = CONF_FUNC, .dest = &ipv_v, .set = set_ipv, .arg = "4|6|*",
	    .help = "Net::Server: the IP versions a host name binds (default *: those the host has)"
	    },
	{ .name = "proto", .type = CONF_FUNC, .dest = &proto_v, .set = set_proto,
	    .arg = "tcp|udp|unix", .help = "Net::Server: the protocol of a port that names none "
	    "(udp: datagrams, served by a process of their own)" },
	{ .name = NULL },
};

static int
add(struct conf_list *l, const char *v, char *err, size_t len)
{
	if (!*v) {
		snprintf(err, len, "empty value");
		return -1;
	}
	if (l->n == CONF_LIST_MAX) {
		snprintf(err, len, "more than %d values", CONF_LIST_MAX);
		return -1;
	}
	l->v[l->n++] = v;
	return 0;
}

/* "4", "6", "*", "IPv4", "IPv6", "IPv*", several with separators: a PORTS_IPV* mask, or 0. */
static int
ipv_token(const char *t, size_t n)
{
	if (n >= 3 && strncasecmp(t, "ipv", 3) == 0)
		t += 3, n -= 3;
	if (n != 1)
		return 0;
	return *t == '4' ? PORTS_IPV4 : *t == '6' ? PORTS_IPV6 : *t == '*' ? PORTS_IPV_ANY : 0;
}

static int
ipv_mask(const char *v)
{
	int m = 0, b;
	size_t n;

	while (*v) {
		v += strspn(v, SEPS);
		if (!*v)
			break;
		n = strcspn(v, SEPS);
		if (!(b = ipv_token(v, n)))
			return 0;
		m |= b;
		v += n;
	}
	return m;
}

static int
set_ipv(void *dest, const char *v, char *err, size_t len)
{
	if (!ipv_mask(v)) {
		snprintf(err, len, "\"%.64s\" is not 4, 6, * (or IPv4, IPv6, IPv*)", v);
		return -1;
	}
	return add(dest, v, err, len);
}

static int
proto_token(const char *t, size_t n)
{
	if (n == 3 && strncasecmp(t, "tcp", 3) == 0)
		return PORTS_TCP;
	if (n == 3 && strncasecmp(t, "udp", 3) == 0)
		return PORTS_UDP;
	if (n == 4 && strncasecmp(t, "unix", 4) == 0)
		return PORTS_UNIX;
	return 0;
}

static int
set_proto(void *dest, const char *v, char *err, size_t len)
{
	if (!proto_token(v, strlen(v))) {
		if (strncasecmp(v, "ssl", 3) == 0)
			snprintf(err, len, "\"%.64s\": TLS is inetkit-tls in front of the program "
			    "(inetkit-tls(8))", v);
		else
			snprintf(err, len, "\"%.64s\" is not tcp, udp or unix", v);
		return -1;
	}
	return add(dest, v, err, len);
}

/* A port or host is checked as a spec of its own, so that a typo stops the start. */
static int
set_port(void *dest, const char *v, char *err, size_t len)
{
	struct ports_spec s;

	/* A path is a UNIX socket's (with "proto unix"); resolve_spec reads it again with the proto. */
	if (dest == &port_v && ports_parse(&s, v, v[0] == '/', err, len) < 0)
		return -1;
	if (dest == &host_v && strlen(v) >= sizeof s.host) {
		snprintf(err, len, "host longer than %zu bytes", sizeof s.host - 1);
		return -1;
	}
	return add(dest, v, err, len);
}

static int
is_word(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return n > 0;
}

/* The last token of buf[0, len) starts at *t; the separators before it, at *j. */
static void
last_token(const char *buf, size_t len, size_t *t, size_t *j)
{
	*t = len;
	while (*t > 0 && !strchr(SEPS, buf[*t - 1]))
		(*t)--;
	*j = *t;
	while (*j > 0 && strchr(SEPS, buf[*j - 1]))
		(*j)--;
}

int
ports_parse(struct ports_spec *s, const char *spec, int unix_path, char *err, size_t errlen)
{
	char buf[384];
	size_t len = strlen(spec), t, j;
	int b;

	memset(s, 0, sizeof *s);
	if (len == 0 || len >= sizeof buf) {
		snprintf(err, errlen, "a port is 1 to %zu bytes", sizeof buf - 1);
		return -1;
	}
	memcpy(buf, spec, len + 1);
	/* Keywords off the end: each after a separator that follows a word, "*" or "]". */
	for (;;) {
		last_token(buf, len, &t, &j);
		if (t == 0 || j == 0 || t == len
		    || !(isalnum((unsigned char)buf[j - 1]) || strchr("_*]", buf[j - 1])))
			break;
		if ((b = ipv_token(buf + t, len - t)))
			s->ipv |= b;
		else if ((b = proto_token(buf + t, len - t)))
			s->proto = b;
		else if (!(len - t == 11 && strncasecmp(buf + t, "sock_stream", 11) == 0)
		    && !(len - t == 10 && strncasecmp(buf + t, "sock_dgram", 10) == 0))
			break;
		else if (len - t == 10) {
			snprintf(err, errlen, "\"%.64s\": UNIX datagram sockets are not served", spec);
			return -1;
		}
		len = j;
		buf[len] = '\0';
	}
	if ((s->proto ? s->proto : unix_path ? PORTS_UNIX : 0) == PORTS_UNIX) {
		if (buf[0] != '/' || len >= sizeof s->port) {
			snprintf(err, errlen, "\"%.64s\": a UNIX socket is an absolute path of at most "
			    "%zu bytes", spec, sizeof s->port - 1);
			return -1;
		}
		memcpy(s->port, buf, len + 1);
		return 0;
	}
	/* What is left: "[host]SEP port", "host SEP port" or "port". */
	last_token(buf, len, &t, &j);
	if (!is_word(buf + t, len - t) || len - t >= 64 || (t > 0 && j == 0)
	    || ipv_token(buf + t, len - t) || proto_token(buf + t, len - t)
	    || strncasecmp(buf + t, "sock_", 5) == 0) {
		snprintf(err, errlen, "\"%.64s\" is not [HOST:]PORT[/PROTO][/IPV] (a port is a "
		    "number or a service name)", spec);
		return -1;
	}
	memcpy(s->port, buf + t, len - t);
	s->port[len - t] = '\0';
	if (j == 0)
		return 0;
	if (j - (buf[0] == '[' ? 2 : 0) >= sizeof s->host) {
		snprintf(err, errlen, "\"%.64s\": a host is at most %zu bytes", spec,
		    sizeof s->host - 1);
		return -1;
	}
	if (buf[0] == '[') {
		if (buf[j - 1] != ']' || j < 3 || strspn(buf + 1, HOSTCHARS) != j - 2) {
			snprintf(err, errlen, "\"%.64s\": a bracketed host is \"[ADDRESS]:PORT\"", spec);
			return -1;
		}
		memcpy(s->host, buf + 1, j - 2);
		s->host[j - 2] = '\0';
		return 0;
	}
	if (strspn(buf, HOSTCHARS) < j) {
		snprintf(err, errlen, "\"%.64s\": a host is a name or an address", spec);
		return -1;
	}
	memcpy(s->host, buf, j);
	s->host[j] = '\0';
	return 0;
}

int
ports_given(void)
{
	return port_v.n || host_v.n || ipv_v.n || proto_v.n;
}

/* The i-th value of a key, or its last one, or NULL. */
static const char *
nth(const struct conf_list *l, size_t i)
{
	return l->n == 0 ? NULL : l->v[i < l->n ? i : l->n - 1];
}

/* Whether the host has IPv6: ipv "*" binds only the versions it has. */
static int
have_ipv6(void)
{
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	FILE *f;
	char v[8] = "";

	if (s < 0)
		return 0;
	close(s);
	if ((f = fopen("/proc/sys/net/ipv6/conf/all/disable_ipv6", "re"))) {
		if (!fgets(v, sizeof v, f))
			v[0] = '\0';
		fclose(f);
	}
	return v[0] != '1';
}

/* One port with its defaults filled in: the spec, and the host's own "/IPv*" if any. */
static int
resolve_spec(size_t i, struct ports_spec *s, char *err, size_t errlen)
{
	const char *p = port_v.n ? port_v.v[i] : NULL, *h = nth(&host_v, i), *v = nth(&ipv_v, i),
	    *pr = nth(&proto_v, i);
	int dproto = pr ? proto_token(pr, strlen(pr)) : PORTS_TCP;
	struct ports_spec hs;
	char portbuf[16];

	if (!p) {
		snprintf(portbuf, sizeof portbuf, "%d", PORTS_DEFAULT);
		p = portbuf;
	}
	if (ports_parse(s, p, dproto == PORTS_UNIX, err, errlen) < 0)
		return -1;
	if (!s->proto)
		s->proto = dproto;
	if (s->proto == PORTS_UNIX)
		return 0;
	if (!s->host[0] && h) {
		/* "localhost/IPv*", "localhost IPv4 IPv6": the host key's own versions. */
		char hb[sizeof hs.host + 8];

		snprintf(hb, sizeof hb, "%s:0", h);
		if (ports_parse(&hs, hb, 0, err, errlen) < 0 || !hs.host[0]) {
			snprintf(err, errlen, "host \"%.64s\" is not a host name or address", h);
			return -1;
		}
		memcpy(s->host, hs.host, sizeof s->host);
		if (!s->ipv)
			s->ipv = hs.ipv;
	}
	if (!s->host[0])
		strcpy(s->host, "*");
	if (!s->ipv)
		s->ipv = v ? ipv_mask(v) : PORTS_IPV_ANY;
	return 0;
}

static int
port_number(const struct ports_spec *s, unsigned short *port, char *err, size_t errlen)
{
	unsigned long u;
	struct servent *se;

	if (text_uint(s->port, 0, 65535, &u) == 0) {
		*port = (unsigned short)u;
		return 0;
	}
	se = getservbyname(s->port, s->proto == PORTS_UDP ? "udp" : "tcp");
	if (!se) {
		snprintf(err, errlen, "\"%.64s\" is neither a port number nor a %s service name",
		    s->port, s->proto == PORTS_UDP ? "udp" : "tcp");
		return -1;
	}
	*port = ntohs((unsigned short)se->s_port);
	return 0;
}

/* The addresses a host names for the versions asked: *n of them, or -1 with err. */
static int
host_addrs(const struct ports_spec *s, struct sockaddr_storage *out, size_t *n, char *err,
    size_t errlen)
{
	int want4 = s->ipv & (PORTS_IPV4 | PORTS_IPV_ANY), want6 = s->ipv & (PORTS_IPV6 | PORTS_IPV_ANY);
	int any = s->ipv & PORTS_IPV_ANY, got4 = 0, got6 = 0, r;
	struct addrinfo hints, *res, *ai;
	struct addr a;
	size_t k;

	*n = 0;
	if (any && !(s->ipv & PORTS_IPV6) && !have_ipv6())
		want6 = 0;
	if (strcmp(s->host, "*") == 0) {
		if (want4) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&out[(*n)++];

			memset(s4, 0, sizeof *s4);
			s4->sin_family = AF_INET;
		}
		if (want6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out[(*n)++];

			memset(s6, 0, sizeof *s6);
			s6->sin6_family = AF_INET6;
		}
		return 0;
	}
	/* A literal address is bound as written, whatever ipv says (Net::Server's sample). */
	if (addr_parse(&a, s->host) == 0) {
		memset(&out[0], 0, sizeof out[0]);
		if (a.family == AF_INET) {
			((struct sockaddr_in *)&out[0])->sin_family = AF_INET;
			memcpy(&((struct sockaddr_in *)&out[0])->sin_addr, a.bytes, 4);
		} else {
			((struct sockaddr_in6 *)&out[0])->sin6_family = AF_INET6;
			memcpy(&((struct sockaddr_in6 *)&out[0])->sin6_addr, a.bytes, 16);
		}
		if (!(a.family == AF_INET ? want4 : want6))
			log_msg(LOG_LVL_DEBUG, "port on %s: an address is bound as written, "
			    "whatever ipv says", s->host);
		*n = 1;
		return 0;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = want4 && want6 ? AF_UNSPEC : want4 ? AF_INET : AF_INET6;
	hints.ai_socktype = s->proto == PORTS_UDP ? SOCK_DGRAM : SOCK_STREAM;
	if ((r = getaddrinfo(s->host, NULL, &hints, &res)) != 0) {
		snprintf(err, errlen, "host \"%.64s\" does not resolve (%s)", s->host,
		    gai_strerror(r));
		return -1;
	}
	for (ai = res; ai && *n < NADDR_MAX; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET6 ? !want6 : ai->ai_family != AF_INET || !want4)
			continue;
		for (k = 0; k < *n; k++)
			if (memcmp(&out[k], ai->ai_addr, ai->ai_addrlen) == 0)
				break;
		if (k < *n)
			continue;
		memset(&out[*n], 0, sizeof out[*n]);
		memcpy(&out[(*n)++], ai->ai_addr, ai->ai_addrlen);
		got4 |= ai->ai_family == AF_INET;
		got6 |= ai->ai_family == AF_INET6;
	}
	freeaddrinfo(res);
	/* "IPv4 IPv6": both are required. */
	if ((!any && (s->ipv & PORTS_IPV4) && !got4) || (!any && (s->ipv & PORTS_IPV6) && !got6)
	    || *n == 0) {
		snprintf(err, errlen, "host \"%.64s\" has no %s address", s->host,
		    (s->ipv & PORTS_IPV4) && !got4 ? "IPv4" : (s->ipv & PORTS_IPV6) && !got6
		    ? "IPv6" : "usable");
		return -1;
	}
	return 0;
}

/*
 * A UNIX socket: a stale one (a connect is refused: nobody listens) is
 * replaced; a live one, or one that cannot be checked (a full backlog, no
 * permission, another type), is left alone and refused.
 */
static int
bind_unix(const char *path, unsigned long backlog, int *fd, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int s, r, e;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return EXIT_USAGE;
		}
		if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
			snprintf(err, errlen, "unable to check %s: %s", path, strerror(errno));
			return EXIT_TEMP;
		}
		r = connect(s, (struct sockaddr *)&sa, sizeof sa);
		e = errno;
		close(s);
		if (r == 0 || e == EAGAIN || e == EINPROGRESS) {
			snprintf(err, errlen, "%s is in use by a running server", path);
			return EXIT_TEMP;
		}
		if (e != ECONNREFUSED) {
			snprintf(err, errlen, "%s exists and cannot be checked (%s): left alone",
			    path, strerror(e));
			return EXIT_TEMP;
		}
		if (unlink(path) < 0) {
			snprintf(err, errlen, "unable to remove the stale socket %s: %s", path,
			    strerror(errno));
			return EXIT_TEMP;
		}
	}
	if (serve_bind((struct sockaddr *)&sa, sizeof sa, SOCK_STREAM, backlog, fd, err,
	    errlen) < 0)
		return EXIT_TEMP;
	return 0;
}

int
ports_check(char *err, size_t errlen)
{
	struct ports_spec s;
	size_t i, n = port_v.n ? port_v.n : 1, udp = 0;

	if (!ports_given())
		return 0;
	for (i = 0; i < n; i++) {
		if (resolve_spec(i, &s, err, errlen) < 0)
			return -1;
		udp += s.proto == PORTS_UDP;
	}
	/* Streams are the accept loop's, datagrams the datagram loop's: one process each. */
	if (udp && udp < n) {
		snprintf(err, errlen, "proto udp and stream ports in one process: the accept loop "
		    "serves streams and the datagram loop datagrams; run one process for each");
		return -1;
	}
	return 0;
}

int
ports_bind(int *fds, size_t *n, size_t max, unsigned long backlog)
{
	struct sockaddr_storage addrs[NADDR_MAX];
	struct ports_spec s;
	char err[256], a[ADDR_STRMAX];
	unsigned short port;
	size_t i, k, na, nports = port_v.n ? port_v.n : 1;
	int r;

	for (i = 0; i < nports; i++) {
		if (resolve_spec(i, &s, err, sizeof err) < 0)
			goto usage;
		if (s.proto == PORTS_UNIX) {
			if (*n == max)
				goto full;
			if ((r = bind_unix(s.port, backlog, &fds[*n], err, sizeof err))) {
				log_msg(LOG_LVL_ERR, "fatal: port %s: %s", s.port, err);
				return r;
			}
			log_msg(LOG_LVL_INFO, "bound UNIX socket %s", s.port);
			(*n)++;
			continue;
		}
		if (port_number(&s, &port, err, sizeof err) < 0
		    || host_addrs(&s, addrs, &na, err, sizeof err) < 0)
			goto usage;
		for (k = 0; k < na; k++) {
			struct addr x;

			if (*n == max)
				goto full;
			if (addrs[k].ss_family == AF_INET)
				((struct sockaddr_in *)&addrs[k])->sin_port = htons(port);
			else
				((struct sockaddr_in6 *)&addrs[k])->sin6_port = htons(port);
			if (addr_from_sockaddr(&x, &addrs[k], sizeof addrs[k]) == 0)
				addr_format(&x, a);
			else
				snprintf(a, sizeof a, "?");
			if (serve_bind((struct sockaddr *)&addrs[k], addrs[k].ss_family == AF_INET
			    ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6),
			    s.proto == PORTS_UDP ? SOCK_DGRAM : SOCK_STREAM, backlog, &fds[*n], err,
			    sizeof err) < 0) {
				log_msg(LOG_LVL_ERR, "fatal: port %s: %s", port_v.n ? port_v.v[i]
				    : "(default)", err);
				return EXIT_TEMP;
			}
			log_msg(LOG_LVL_INFO, "bound %s port %u on %s%s%s (IPv%c)", s.proto == PORTS_UDP
			    ? "UDP" : "TCP", port, addrs[k].ss_family == AF_INET6 ? "[" : "", a,
			    addrs[k].ss_family == AF_INET6 ? "]" : "",
			    addrs[k].ss_family == AF_INET6 ? '6' : '4');
			(*n)++;
		}
	}
	return 0;
usage:
	log_msg(LOG_LVL_ERR, "fatal: port %s: %s", i < port_v.n ? port_v.v[i] : "(default)", err);
	return EXIT_USAGE;
full:
	log_msg(LOG_LVL_ERR, "fatal: more than %zu listening sockets", max);
	return EXIT_USAGE;
}
