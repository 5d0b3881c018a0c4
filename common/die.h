/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_DIE_H
#define INETKIT_DIE_H

/*
 * For programs in cmd/ only: the library never exits. Messages go to the
 * log (never to the client) as "fatal: ...".
 */
void die(int code, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));
void die_sys(int code, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

#endif
