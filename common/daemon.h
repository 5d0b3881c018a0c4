/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_DAEMON_H
#define INETKIT_DAEMON_H

#include <stddef.h>

#include "conf.h"

/*
 * Net::Server's daemon duties, once the sockets are bound, the log and the
 * table of sources are open, and before the first client, in its order:
 * background (--background, --setsid), the pid file (--pid-file), the
 * chroot (--chroot), then the privilege drop (--user, --group). Every
 * failure logs "fatal: --STEP VALUE: why" and is the process's exit status
 * (111, or 100 for options that cannot go together), before any client.
 *
 * The accept loop takes every step, except that on sockets an activator
 * handed over (systemd's Accept=no) it does not background (--background,
 * --setsid: a debug line): its activator watches its pid. A process that
 * serves one connection (inetd, xinetd, tcpserver, Accept=yes, a pipe)
 * takes only the chroot and the privilege drop, and ignores the other
 * three with a debug line, as Net::Server::INET does. The stand-alone accept loop (sockets the program
 * bound itself: --listen) started as root refuses to serve without
 * --user, so that serving as root is said in so many words (--user root).
 *
 * The pid file holds the accept loop's pid (after backgrounding), and is
 * removed at exit if it still holds that pid: at exit() when the process
 * never changes its user, group or root; otherwise by a keeper, a child
 * forked before the chroot that keeps the old root and user (root, who may
 * unlink where the service's user may not), holds none of the listening
 * sockets, has its stdio on /dev/null, and waits for the server's end on a
 * pidfd (so a re-exec, which keeps the pid, does not end it). The file is
 * never chowned to the user: a compromised service could otherwise write
 * any pid into a file that root trusts.
 */

/* The options of this table: --user, --group, --chroot, --pid-file, --background, --setsid. */
extern const struct conf_opt daemon_opts[];

struct conn;

/* daemon_start's flags. */
#define DAEMON_REEXEC 1	/* the process that exec'd us took the steps (re-exec on SIGHUP) */

/*
 * The one entry point, for conn_main: c its settings and operands, lfds
 * the nl listening sockets (none: one connection), of which nbound the
 * program bound itself (the stand-alone loop when nbound > 0; the others
 * were handed over by systemd or xinetd). Returns 0 (EXIT_SERVED) or an
 * exit status; with --background only the detached child returns, and the
 * parent exits 0 once the child is past every step, or with the child's
 * status if a step failed.
 *
 * With DAEMON_REEXEC the process was exec'd by a running accept loop, its
 * listening sockets kept: background, pid file, chroot and the drop are
 * not taken again (they hold across exec). The current uid and gid are
 * checked against --user and --group, with a warning if the configuration
 * now says otherwise (a restart applies it; so does a changed --chroot,
 * which is not checked). A keeper, if any, goes on watching the same pid
 * (exec keeps it), so nothing needs to survive the exec but the
 * environment variable daemon_before_reexec sets; without a keeper the pid
 * file's removal at exit is registered again.
 */
int daemon_start(const struct conn *c, const int *lfds, size_t nl, size_t nbound, int flags);

/*
 * For the SIGHUP re-exec, just before execve (environ passed on): sets
 * INETKIT_PIDFILE_KEEPER=PID, the keeper's pid, when there is one, which
 * daemon_start(..., DAEMON_REEXEC) reads and removes. Mind that after
 * --chroot the program to exec must be found inside the new root (or
 * opened before daemon_start).
 */
void daemon_before_reexec(void);

/*
 * For a program's configure (it runs before daemon_start): --chroot DIR,
 * or NULL; and the files it opens later, per connection, which are then
 * paths inside DIR. Each is checked once the privileges are dropped (for
 * DAEMON_NEED_EXEC, found as execvp finds it, and its interpreter too:
 * the "#!" line's, or an ELF program's dynamic loader), and a missing one
 * is fatal. "what" names it in the message: "--htpasswd", "PROGRAM".
 * path must stay valid (an operand, an option's value).
 */
enum daemon_need { DAEMON_NEED_READ, DAEMON_NEED_EXEC };

const char *daemon_chroot_dir(void);
void daemon_need(const char *what, const char *path, enum daemon_need how);

#endif
