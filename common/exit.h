/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_EXIT_H
#define INETKIT_EXIT_H

/*
 * The exit status of every inetkit program, one per outcome. Only the
 * upper layer (program, conn, serve) and the programs in cmd/ pick one and
 * include this header; the lower layer returns a result and a reason.
 * Every man page, --help and the README list these same codes.
 */
enum {
	EXIT_SERVED = 0,	/* the client was served (or --help, --version) */
	EXIT_REFUSED = 1,	/* refused: rules, limits, block list, failed login */
	EXIT_USAGE = 100,	/* usage, bad configuration, or malformed input from a peer */
	EXIT_TEMP = 111,	/* system or temporary failure, or an internal inconsistency */
	EXIT_EXEC = 126,	/* a wrapper could not exec its program */
	EXIT_NOTFOUND = 127,	/* a wrapper's program does not exist */
};

#endif
