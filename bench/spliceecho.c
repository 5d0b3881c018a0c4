/* SPDX-License-Identifier: MIT */
/*
 * The zero-work echo: an inetd-style server (the connection on fd 0, also
 * written through fd 1) that moves every byte socket -> pipe -> socket with
 * splice(2), never into its own memory, through a pipe of 1 MiB. What the
 * bulk client moves through it is the client's own capacity, not a server's.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#define PIPE_BYTES (1 << 20)

int
main(void)
{
	int p[2];
	ssize_t n, w;

	if (pipe(p) < 0)
		return 1;
	(void)fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES);	/* what it gets, if less */
	while ((n = splice(0, NULL, p[1], NULL, PIPE_BYTES, SPLICE_F_MOVE)) > 0)
		for (; n > 0; n -= w)
			if ((w = splice(p[0], NULL, 1, NULL, (size_t)n, SPLICE_F_MOVE)) <= 0)
				return 1;
	shutdown(1, SHUT_WR);
	return n < 0;
}
