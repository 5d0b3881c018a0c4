/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_PEER_H
#define INETKIT_PEER_H

#include <sys/types.h>

#include "addr.h"

#define PEER_PORTMAX 6
#define PEER_HOSTMAX 256

struct peer {
	int family;			/* AF_INET, AF_INET6, AF_UNIX or AF_UNSPEC */
	struct addr remote, local;	/* valid when has_remote / has_local */
	int has_remote, has_local;
	char remote_ip[ADDR_STRMAX], local_ip[ADDR_STRMAX];	/* "" if unknown */
	char remote_port[PEER_PORTMAX], local_port[PEER_PORTMAX];
	char host[PEER_HOSTMAX];	/* reverse lookup result, "" if none */
	int has_cred;			/* AF_UNIX peer credentials */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int proxied;			/* a PROXY header was taken off the stream */
};

int peer_identify(struct peer *p, int fd);
int peer_socket(struct peer *p, int fd);
void peer_set(struct peer *p, const struct addr *remote, unsigned remote_port,
    const struct addr *local, unsigned local_port);
void peer_set_proxy(struct peer *p, const struct addr *remote, unsigned remote_port,
    const struct addr *local, unsigned local_port);
int peer_lookup_host(struct peer *p, int doublecheck, char *name, size_t namelen);
int peer_export(const struct peer *p);
const char *peer_str(const struct peer *p);

#endif
