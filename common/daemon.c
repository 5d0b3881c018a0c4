/* SPDX-License-Identifier: MIT */
/*
 * Net::Server's daemon duties (daemon.h): background, the pid file, the
 * chroot and the privilege drop, in that order, after the bind and before
 * the first client.
 */
#define _GNU_SOURCE		/* getresuid, setresuid, pipe2, mkostemp, getgrouplist */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "daemon.h"
#include "log.h"
#include "text.h"

#define KEEPER_ENV "INETKIT_PIDFILE_KEEPER"
#define NEEDS_MAX 8
#define DEFAULT_PATH "/bin:/usr/bin"	/* execvp's, when PATH is unset */

static struct {
	const char *user, *group, *chroot, *pid_file;
	int background, setsid;
} opt;

const struct conf_opt daemon_opts[] = {
	{ .name = "user", .type = CONF_STR, .dest = &opt.user, .arg = "USER",
	    .help = "serve as USER (name or uid) with its groups; as root, --user root to stay" },
	{ .name = "group", .type = CONF_STR, .dest = &opt.group, .arg = "GROUP",
	    .help = "serve with GROUP (name or gid) as the group (default USER's)" },
	{ .name = "chroot", .type = CONF_STR, .dest = &opt.chroot, .arg = "DIR",
	    .help = "serve inside DIR (chroot(2)), once the sockets and the log are open" },
	{ .name = "pid-file", .type = CONF_STR, .dest = &opt.pid_file, .arg = "FILE",
	    .help = "accept loop: its pid in FILE, removed at exit; refuse if that pid runs" },
	{ .name = "background", .type = CONF_FLAG, .dest = &opt.background,
	    .help = "accept loop: detach once started, stdio on /dev/null" },
	{ .name = "setsid", .type = CONF_FLAG, .dest = &opt.setsid,
	    .help = "accept loop: --background, in a session of its own" },
	{ .name = NULL },
};

/* What the program opens after the chroot (daemon_need). */
static struct {
	const char *what, *path;
	enum daemon_need how;
} needs[NEEDS_MAX];
static size_t nneeds;

/* The user and groups to become, resolved before any step. */
struct ids {
	int user, group;		/* --user, --group given */
	uid_t uid;
	gid_t gid;
	gid_t *groups;			/* the supplementary groups */
	int ngroups;
};

static char pid_path[PATH_MAX];		/* --pid-file, absolute */
static pid_t pid_owner;			/* the pid it holds, whose exit() removes it; 0: none */
static pid_t keeper;			/* the keeper's pid, or 0 */
static int ready_fd = -1;		/* --background: the waiting parent's pipe */
static int null_fd = -1;		/* /dev/null, opened before the chroot */

/* Logs "fatal: STEP: why" and returns status. */
static int __attribute__((format(printf, 3, 4)))
fail(int status, const char *step, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_msg(LOG_LVL_ERR, "fatal: %s: %s", step, msg);
	return status;
}

const char *
daemon_chroot_dir(void)
{
	return opt.chroot;
}

void
daemon_need(const char *what, const char *path, enum daemon_need how)
{
	if (nneeds < NEEDS_MAX && path) {
		needs[nneeds].what = what;
		needs[nneeds].path = path;
		needs[nneeds++].how = how;
	}
}

/* --- who to become ---------------------------------------------------------------- */

/* The step a privilege failure is reported under: "--user alice" or "--group staff". */
static const char *
id_step(char *buf, size_t len)
{
	if (opt.user)
		snprintf(buf, len, "--user %.64s", opt.user);
	else
		snprintf(buf, len, "--group %.64s", opt.group);
	return buf;
}

/*
 * The user database. A dynamically linked program asks the C library
 * (NSS: files, LDAP, systemd's users...). A static one cannot load the
 * system's NSS modules safely (they are built against the shared C
 * library; libnss_systemd crashes a static program), so it reads the
 * files, /etc/passwd and /etc/group, as nss_files would.
 */
static int
static_program(void)
{
	return getauxval(AT_BASE) == 0;	/* no program interpreter */
}

static const struct passwd *
find_user(const char *name, uid_t uid)
{
	const struct passwd *pw = NULL;
	FILE *f;

	if (!static_program())
		return name ? getpwnam(name) : getpwuid(uid);
	if (!(f = fopen("/etc/passwd", "re")))
		return NULL;
	while ((pw = fgetpwent(f)) && (name ? strcmp(pw->pw_name, name) != 0 : pw->pw_uid != uid))
		;
	fclose(f);
	return pw;
}

static const struct group *
find_group(const char *name)
{
	const struct group *gr = NULL;
	FILE *f;

	if (!static_program())
		return getgrnam(name);
	if (!(f = fopen("/etc/group", "re")))
		return NULL;
	while ((gr = fgetgrent(f)) && strcmp(gr->gr_name, name) != 0)
		;
	fclose(f);
	return gr;
}

/* initgroups' list: gid, then every group that names user as a member; -1 if over cap. */
static int
user_groups(const char *user, gid_t gid, gid_t *out, int cap)
{
	const struct group *gr;
	char *const *m;
	int n = 0, i;
	FILE *f;

	if (!static_program())
		return getgrouplist(user, gid, out, &cap) < 0 ? -1 : cap;
	out[n++] = gid;
	if (!(f = fopen("/etc/group", "re")))
		return n;
	while ((gr = fgetgrent(f))) {
		for (m = gr->gr_mem; *m && strcmp(*m, user) != 0; m++)
			;
		for (i = 0; *m && i < n && out[i] != gr->gr_gid; i++)
			;
		if (!*m || i < n)
			continue;
		if (n == cap) {
			fclose(f);
			return -1;
		}
		out[n++] = gr->gr_gid;
	}
	fclose(f);
	return n;
}

/*
 * --user and --group, names or numbers, into ids and the supplementary
 * groups (initgroups' list: the user's groups and the group), read now,
 * while the system's user database is still in reach. -1 with why
 * ("--user x: no such user").
 */
static int
resolve(struct ids *id, char *why, size_t len)
{
	const struct passwd *pw = NULL;
	const struct group *gr;
	/* The most the kernel takes; untouched pages of it cost nothing. */
	static gid_t groups[NGROUPS_MAX + 1];
	char name[256];
	unsigned long n;
	long max;
	int ng;

	memset(id, 0, sizeof *id);
	if (opt.group) {
		errno = 0;
		if (text_uint(opt.group, 0, (gid_t)-2, &n) == 0)
			id->gid = (gid_t)n;
		else if ((gr = find_group(opt.group)))
			id->gid = gr->gr_gid;
		else
			return snprintf(why, len, "--group %.64s: %s", opt.group, errno && errno != ENOENT
			    ? strerror(errno) : "no such group"), -1;
		id->group = 1;
	}
	if (!opt.user) {
		if (id->group) {
			id->groups = &id->gid;
			id->ngroups = 1;
		}
		return 0;
	}
	errno = 0;
	if (text_uint(opt.user, 0, (uid_t)-2, &n) == 0) {
		id->uid = (uid_t)n;
		pw = find_user(NULL, id->uid);
	} else if ((pw = find_user(opt.user, 0))) {
		id->uid = pw->pw_uid;
	} else {
		return snprintf(why, len, "--user %.64s: %s", opt.user, errno && errno != ENOENT
		    ? strerror(errno) : "no such user"), -1;
	}
	id->user = 1;
	if (!pw) {
		/* A bare uid, in no passwd entry: no groups of its own. */
		if (!id->group)
			return snprintf(why, len, "--user %.64s: no passwd entry for uid %lu, so no "
			    "group: give --group too", opt.user, n), -1;
		id->groups = &id->gid;
		id->ngroups = 1;
		return 0;
	}
	if (!id->group)
		id->gid = pw->pw_gid;
	snprintf(name, sizeof name, "%s", pw->pw_name);
	/* Asked only here: sysconf reads it from /proc, three system calls a connection. */
	max = sysconf(_SC_NGROUPS_MAX);
	ng = max > 0 && max < NGROUPS_MAX ? (int)max + 1 : NGROUPS_MAX + 1;
	id->groups = groups;
	if ((id->ngroups = user_groups(name, id->gid, id->groups, ng)) < 0)
		return snprintf(why, len, "--user %.64s: in more groups than the system allows",
		    opt.user), -1;
	return 0;
}

/* Whether the process is already what id says (then a drop is a no-op). */
static int
already(const struct ids *id)
{
	return (!id->user || id->uid == geteuid()) && (!id->group || id->gid == getegid());
}

/*
 * setgroups, setgid, setuid; then the checks that they hold (every one of
 * the real, effective and saved ids, and no way back to root), and no new
 * privileges for this process or anything it execs. Not root: only
 * already being that user and group is allowed (checked before), and the
 * supplementary groups stay as they are.
 */
static int
drop(const struct ids *id)
{
	char step[96], list[256];
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	size_t o = 0;
	int i;

	if (!id->user && !id->group)
		return 0;
	id_step(step, sizeof step);
	if (geteuid() != 0) {
		/* Already that user and group (checked before): nothing to change. */
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			return fail(EXIT_TEMP, step, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		log_msg(LOG_LVL_DEBUG, "%s: already uid %lu, gid %lu: nothing to change", step,
		    (unsigned long)geteuid(), (unsigned long)getegid());
		return 0;
	}
	if (setgroups((size_t)id->ngroups, id->groups) < 0)
		return fail(EXIT_TEMP, step, "setgroups: %s", strerror(errno));
	if (setresgid(id->gid, id->gid, id->gid) < 0)
		return fail(EXIT_TEMP, step, "setgid %lu: %s", (unsigned long)id->gid,
		    strerror(errno));
	if (id->user && setresuid(id->uid, id->uid, id->uid) < 0)
		return fail(EXIT_TEMP, step, "setuid %lu: %s", (unsigned long)id->uid,
		    strerror(errno));
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return fail(EXIT_TEMP, step, "unable to read the ids back: %s", strerror(errno));
	if (id->user && (ru != id->uid || eu != id->uid || su != id->uid))
		return fail(EXIT_TEMP, step, "uid %lu, not %lu", (unsigned long)eu,
		    (unsigned long)id->uid);
	if (rg != id->gid || eg != id->gid || sg != id->gid)
		return fail(EXIT_TEMP, step, "gid %lu, not %lu", (unsigned long)eg,
		    (unsigned long)id->gid);
	if (id->user && id->uid != 0 && (setuid(0) == 0 || (id->gid != 0 && setgid(0) == 0)))
		return fail(EXIT_TEMP, step, "the change can be undone (setuid(0) succeeded)");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(EXIT_TEMP, step, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	/* A change of ids resets the dumpable flag: a program that cleared it (a password) keeps it so. */
	if (dumpable == 0 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return fail(EXIT_TEMP, step, "unable to stay non-dumpable: %s", strerror(errno));
	list[0] = '\0';
	for (i = 0; i < id->ngroups && o < sizeof list - 16; i++)
		o += (size_t)snprintf(list + o, sizeof list - o, "%s%lu", i ? "," : "",
		    (unsigned long)id->groups[i]);
	if (id->user)
		log_msg(LOG_LVL_INFO, "%s: running as uid %lu, gid %lu, groups %s", step,
		    (unsigned long)id->uid, (unsigned long)id->gid, list);
	else
		log_msg(LOG_LVL_INFO, "%s: running as gid %lu with groups %s; the user stays uid %lu "
		    "(no --user)", step, (unsigned long)id->gid, list, (unsigned long)geteuid());
	return 0;
}

/* --- the pid file ------------------------------------------------------------------- */

/*
 * The pid a pid file holds: 1 with *pid; 0 if it holds no pid; -1 with
 * errno if it cannot be read (ENOENT: there is none; ELOOP: a symbolic
 * link, never followed; EINVAL: not a regular file).
 */
static int
read_pid(const char *path, pid_t *pid)
{
	char buf[32];
	struct stat st;
	unsigned long v;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY), e;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		e = S_ISREG(st.st_mode) ? errno : EINVAL;
		close(fd);
		errno = e;
		return -1;
	}
	n = read(fd, buf, sizeof buf - 1);
	e = errno;
	close(fd);
	if (n < 0) {
		errno = e;
		return -1;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (text_uint(buf, 1, INT_MAX, &v) < 0)
		return 0;
	*pid = (pid_t)v;
	return 1;
}

/* The first line of a small file, into buf. */
static int
read_line(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/*
 * Whether a running pid is this program (its command name, as ps shows
 * it): a pid the system gave to another program since is stale. When that
 * cannot be told, it is taken to be this program: never two servers.
 */
static int
same_program(pid_t pid, char *comm, size_t cap)
{
	char path[64], self[32];

	snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
	if (read_line("/proc/self/comm", self, sizeof self) < 0 || read_line(path, comm, cap) < 0)
		return 1;
	return strcmp(self, comm) == 0;
}

/* Removes the pid file if it still holds pid. */
static void
remove_pid(pid_t pid)
{
	pid_t held;

	if (read_pid(pid_path, &held) == 1 && held == pid && unlink(pid_path) < 0
	    && errno != ENOENT)
		log_msg(LOG_LVL_WARNING, "--pid-file %s: unable to remove it: %s", pid_path,
		    strerror(errno));
}

static void
remove_at_exit(void)
{
	if (pid_owner && getpid() == pid_owner)
		remove_pid(pid_owner);
}

/*
 * Writes our pid into a temporary file beside it, then puts it in place in
 * one step: link(2) where there was none (so that of two starting at once
 * only one succeeds), rename(2) over a stale one. 1 if a pid file appeared
 * in the meantime (check it again), 0 done, -1 with errno.
 */
static int
write_pid(const char *path, int replace)
{
	const char *slash = strrchr(path, '/');
	char tmp[PATH_MAX + 16], buf[32];
	int fd, n, r, e;

	if (snprintf(tmp, sizeof tmp, "%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1)
	    >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return -1;
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (fchmod(fd, 0644) < 0 || write(fd, buf, (size_t)n) != n) {
		e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	if (close(fd) < 0) {
		e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	r = replace ? rename(tmp, path) : link(tmp, path);
	e = errno;
	unlink(tmp);
	if (r < 0 && !replace && e == EEXIST)
		return 1;
	errno = e;
	return r;
}

/*
 * A pid file that names a running copy of this program refuses the start;
 * one whose pid is gone, or is now another program's, or that holds no
 * pid, is stale and replaced.
 */
static int
pid_file(void)
{
	char step[PATH_MAX + 16], comm[32], cwd[PATH_MAX];
	pid_t old;
	int tries, r;

	snprintf(step, sizeof step, "--pid-file %s", opt.pid_file);
	if (opt.pid_file[0] == '/')
		r = snprintf(pid_path, sizeof pid_path, "%s", opt.pid_file);
	else if (getcwd(cwd, sizeof cwd))
		r = snprintf(pid_path, sizeof pid_path, "%s/%s", cwd, opt.pid_file);
	else
		return fail(EXIT_TEMP, step, "unable to name the current directory: %s",
		    strerror(errno));
	if (r < 0 || (size_t)r >= sizeof pid_path)
		return fail(EXIT_TEMP, step, "%s", strerror(ENAMETOOLONG));
	for (tries = 0; tries < 3; tries++) {
		r = read_pid(pid_path, &old);
		if (r < 0 && errno != ENOENT)
			return fail(EXIT_TEMP, step, "%s", errno == ELOOP
			    ? "a symbolic link (not followed)" : errno == EINVAL
			    ? "not a regular file" : strerror(errno));
		if (r == 1 && old != getpid() && (kill(old, 0) == 0 || errno == EPERM)) {
			if (same_program(old, comm, sizeof comm))
				return fail(EXIT_TEMP, step, "pid %ld is running (%s): refusing to "
				    "start a second server", (long)old, comm);
			log_msg(LOG_LVL_NOTICE, "%s: stale: pid %ld is now another program's (%s); "
			    "replaced", step, (long)old, comm);
		} else if (r == 1) {
			log_msg(LOG_LVL_NOTICE, "%s: stale: pid %ld is gone; replaced", step,
			    (long)old);
		} else if (r == 0) {
			log_msg(LOG_LVL_NOTICE, "%s: stale: it holds no pid; replaced", step);
		}
		if ((r = write_pid(pid_path, r >= 0)) == 0)
			return 0;
		if (r < 0)
			return fail(EXIT_TEMP, step, "unable to write it: %s", strerror(errno));
	}
	return fail(EXIT_TEMP, step, "another server keeps writing it");
}

/*
 * The keeper: a child that keeps this process's root and user, and
 * removes the pid file once this process has ended (its pidfd readable),
 * however it ended, if the file still holds its pid. It closes the
 * listening sockets and the background pipe, puts its stdio on /dev/null
 * (keeping the log, for a file it cannot remove), and ignores the signals
 * a terminal or a stop sends the whole group.
 */
static int
start_keeper(const int *lfds, size_t nl)
{
	static const int ignored[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
	    SIGPIPE };
	struct pollfd p = { .events = POLLIN };
	pid_t server = getpid();
	char step[PATH_MAX + 16];
	size_t i;

	snprintf(step, sizeof step, "--pid-file %s", opt.pid_file);
	if ((p.fd = pidfd_open(server, 0)) < 0)
		return fail(EXIT_TEMP, step, "unable to watch the server (pidfd_open): %s",
		    strerror(errno));
	if ((keeper = fork()) < 0)
		return fail(EXIT_TEMP, step, "unable to fork its keeper: %s", strerror(errno));
	if (keeper > 0) {
		close(p.fd);
		return 0;
	}
	for (i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		signal(ignored[i], SIG_IGN);
	for (i = 0; i < nl; i++)
		close(lfds[i]);
	if (ready_fd >= 0)
		close(ready_fd);
	if (null_fd >= 0 || (null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0)
		for (i = 0; i < 3; i++)
			dup2(null_fd, (int)i);
	prctl(PR_SET_NAME, "inetkit-pidfile", 0, 0, 0);
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	remove_pid(server);
	_exit(0);
}

/* --- background ------------------------------------------------------------------- */

/*
 * Forks; the parent waits for the child's word that every step is done
 * (then exits 0), or for its end (then exits with its status, 111 if it
 * had none), so a failure after the fork is still the command's status.
 */
static int
background(void)
{
	int p[2], st = 0;
	pid_t pid;
	ssize_t n;
	char b;

	if ((null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		return fail(EXIT_TEMP, "--background", "/dev/null: %s", strerror(errno));
	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0)
		return fail(EXIT_TEMP, "--background", "%s", strerror(errno));
	if (pid > 0) {
		close(p[1]);
		while ((n = read(p[0], &b, 1)) < 0 && errno == EINTR)
			;
		if (n == 1)
			_exit(EXIT_SERVED);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		_exit(WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : EXIT_TEMP);
	}
	close(p[0]);
	ready_fd = p[1];
	if (opt.setsid && setsid() < 0)
		return fail(EXIT_TEMP, "--setsid", "%s", strerror(errno));
	return 0;
}

/*
 * Every step done: stdin and stdout on /dev/null, stderr too unless the
 * log writes there (then it stays where it was pointed, as 2>>FILE), and
 * the waiting parent told.
 */
static void
detached(void)
{
	if (ready_fd < 0)
		return;
	dup2(null_fd, 0);
	dup2(null_fd, 1);
	if (!log_uses_stderr())
		dup2(null_fd, 2);
	close(null_fd);
	null_fd = -1;
	if (write(ready_fd, "r", 1) != 1)
		log_msg(LOG_LVL_WARNING, "--background: unable to tell the parent: %s",
		    strerror(errno));
	close(ready_fd);
	ready_fd = -1;
}

/* --- the chroot ---------------------------------------------------------------------- */

/* Whether path exists (as a file to run: X_OK) inside the new root; into found for PATH's. */
static int
find_program(const char *name, char *found, size_t cap)
{
	const char *path = getenv("PATH"), *p, *end;
	size_t len;

	if (strchr(name, '/')) {
		snprintf(found, cap, "%s", name);
		return access(name, X_OK);
	}
	if (!path || !*path)
		path = DEFAULT_PATH;
	for (p = path; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		len = (size_t)(end - p);
		if (snprintf(found, cap, "%.*s%s%s", (int)len, p, len ? "/" : "", name) < (int)cap
		    && access(found, X_OK) == 0)
			return 0;
	}
	errno = ENOENT;
	return -1;
}

/*
 * The interpreter an executable needs: a "#!" line's, or an ELF program's
 * dynamic loader (PT_INTERP). 1 with it in buf, 0 none (a static program,
 * or one this process may not read).
 */
static int
interpreter(const char *path, char *buf, size_t cap)
{
	unsigned char h[256];
	Elf64_Phdr ph;
	Elf64_Ehdr eh;
	ssize_t n;
	size_t i, k;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return 0;
	n = pread(fd, h, sizeof h - 1, 0);
	if (n > 2 && h[0] == '#' && h[1] == '!') {
		h[n] = '\0';
		for (i = 2; h[i] == ' ' || h[i] == '\t'; i++)
			;
		k = strcspn((char *)h + i, " \t\r\n");
		r = k > 0 && k < cap;
		if (r)
			snprintf(buf, cap, "%.*s", (int)k, (char *)h + i);
	} else if (n >= (ssize_t)sizeof eh && memcmp(h, ELFMAG, SELFMAG) == 0
	    && h[EI_CLASS] == ELFCLASS64) {
		memcpy(&eh, h, sizeof eh);
		for (i = 0; i < eh.e_phnum && !r; i++) {
			if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * eh.e_phentsize))
			    != (ssize_t)sizeof ph)
				break;
			if (ph.p_type != PT_INTERP || ph.p_filesz == 0 || ph.p_filesz >= cap)
				continue;
			r = pread(fd, buf, ph.p_filesz, (off_t)ph.p_offset) == (ssize_t)ph.p_filesz;
			if (r)
				buf[ph.p_filesz - 1] = '\0';
		}
	}
	close(fd);
	return r;
}

/*
 * What the program opens after the chroot, checked from inside it as the
 * user it now is. The block list is a warning only: its
 * --block-list-on-error says what a missing one means.
 */
static int
check_needs(const struct conn *c)
{
	char step[PATH_MAX + 16], found[PATH_MAX], interp[PATH_MAX];
	size_t i;

	snprintf(step, sizeof step, "--chroot %s", opt.chroot);
	for (i = 0; i < nneeds; i++) {
		if (needs[i].how == DAEMON_NEED_READ) {
			if (access(needs[i].path, R_OK) < 0)
				return fail(EXIT_TEMP, step, "%s %s: %s inside the new root (paths "
				    "are read inside it)", needs[i].what, needs[i].path,
				    strerror(errno));
			continue;
		}
		if (find_program(needs[i].path, found, sizeof found) < 0)
			return fail(EXIT_TEMP, step, "%s %s: %s inside the new root (it must be "
			    "there, with what it needs)", needs[i].what, needs[i].path,
			    strerror(errno));
		if (interpreter(found, interp, sizeof interp) && access(interp, X_OK) < 0)
			return fail(EXIT_TEMP, step, "%s %s needs %s: %s inside the new root",
			    needs[i].what, found, interp, strerror(errno));
	}
	if (c->set->block_list && access(c->set->block_list, R_OK) < 0)
		log_msg(LOG_LVL_WARNING, "%s: --block-list %s: %s inside the new root", step,
		    c->set->block_list, strerror(errno));
	return 0;
}

/*
 * Into the new root, with what must be reached afterwards prepared: the
 * log's sockets connected, the time zone read. The user database was read
 * already (resolve).
 */
static int
enter_chroot(void)
{
	char step[PATH_MAX + 16];

	snprintf(step, sizeof step, "--chroot %s", opt.chroot);
	log_connect();
	tzset();
	if (chroot(opt.chroot) < 0 || chdir("/") < 0)
		return fail(EXIT_TEMP, step, "%s", strerror(errno));
	log_msg(LOG_LVL_INFO, "%s: serving inside it", step);
	return 0;
}

/* --- re-exec -------------------------------------------------------------------------- */

void
daemon_before_reexec(void)
{
	char v[24];

	if (keeper > 0) {
		snprintf(v, sizeof v, "%ld", (long)keeper);
		setenv(KEEPER_ENV, v, 1);
	}
}

/*
 * Exec'd by our own accept loop: the steps hold already. The keeper, if
 * the variable names one, still watches; without one, the removal at
 * exit is registered again. The ids are checked against the options.
 */
static int
reexec(const struct ids *id)
{
	const char *k = getenv(KEEPER_ENV);
	unsigned long v;
	pid_t held;

	if (k && text_uint(k, 1, INT_MAX, &v) == 0 && (kill((pid_t)v, 0) == 0 || errno == EPERM))
		keeper = (pid_t)v;
	unsetenv(KEEPER_ENV);
	if (opt.pid_file && !keeper) {
		if (snprintf(pid_path, sizeof pid_path, "%s", opt.pid_file) < (int)sizeof pid_path
		    && read_pid(pid_path, &held) == 1 && held == getpid()) {
			pid_owner = held;
			atexit(remove_at_exit);
		} else {
			log_msg(LOG_LVL_WARNING, "--pid-file %s does not hold pid %ld: the configuration "
			    "changed? It applies at the next start", opt.pid_file, (long)getpid());
		}
	}
	if (!already(id))
		log_msg(LOG_LVL_WARNING, "%s%s%s%s: this process runs as uid %lu, gid %lu: the "
		    "configuration changed, and applies only at the next start (a restart)",
		    opt.user ? "--user " : "", opt.user ? opt.user : "", opt.group ? " --group " : "",
		    opt.group ? opt.group : "", (unsigned long)geteuid(), (unsigned long)getegid());
	return EXIT_SERVED;
}

/* --- the entry point ---------------------------------------------------------------- */

int
daemon_start(const struct conn *c, const int *lfds, size_t nl, size_t nbound, int flags)
{
	struct ids id;
	char step[96], why[320];
	int r;

	if (opt.chroot && c->set->reverse_lookups)
		return fail(EXIT_USAGE, "--chroot", "--reverse-lookups needs the system's name "
		    "service (its modules, /etc/nsswitch.conf, /etc/hosts, /etc/resolv.conf), "
		    "which a chroot lacks: not both");
	if (resolve(&id, why, sizeof why) < 0) {
		if (!(flags & DAEMON_REEXEC)) {
			log_msg(LOG_LVL_ERR, "fatal: %s", why);
			return EXIT_TEMP;
		}
		log_msg(LOG_LVL_WARNING, "%s: the ids in force are not checked", why);
		memset(&id, 0, sizeof id);
	}
	if (flags & DAEMON_REEXEC)
		return reexec(&id);
	if (nbound > 0 && geteuid() == 0 && !opt.user)
		return fail(EXIT_TEMP, "--user", "started as root, the accept loop on its own "
		    "sockets does not serve as root unless told: use --user USER, or --user root "
		    "to serve as root");
	if (geteuid() != 0 && (id.user || id.group) && !already(&id))
		return fail(EXIT_TEMP, id_step(step, sizeof step), "not root (uid %lu), so this "
		    "process cannot become uid %lu, gid %lu", (unsigned long)geteuid(),
		    (unsigned long)(id.user ? id.uid : geteuid()),
		    (unsigned long)(id.group || id.user ? id.gid : getegid()));
	if (nl == 0 && (opt.pid_file || opt.background || opt.setsid))
		log_msg(LOG_LVL_DEBUG, "--pid-file, --background and --setsid are the accept "
		    "loop's: ignored when serving one connection");
	/* Handed its sockets, the loop belongs to its activator (systemd waits on this pid). */
	if (nl > 0 && nbound == 0 && (opt.background || opt.setsid))
		log_msg(LOG_LVL_DEBUG, "--background and --setsid are the stand-alone loop's: "
		    "ignored with sockets an activator handed over");
	else if (nl > 0 && (opt.background || opt.setsid) && (r = background()) != 0)
		return r;
	if (nl > 0 && opt.pid_file) {
		if ((r = pid_file()) != 0)
			return r;
		/* Once the root or the ids change, only a keeper can still remove the file. */
		if (opt.chroot || ((id.user || id.group) && !already(&id))) {
			if ((r = start_keeper(lfds, nl)) != 0) {
				remove_pid(getpid());
				return r;
			}
		} else {
			pid_owner = getpid();
			atexit(remove_at_exit);
		}
	}
	if (opt.chroot && (r = enter_chroot()) != 0)
		return r;
	if ((r = drop(&id)) != 0)
		return r;
	if (opt.chroot && (r = check_needs(c)) != 0)
		return r;
	detached();
	if (nl > 0 && (opt.pid_file || opt.background || opt.setsid))
		log_msg(LOG_LVL_INFO, "started%s as pid %ld%s%s", nbound && (opt.background
		    || opt.setsid) ? " in the background" : "", (long)getpid(),
		    opt.pid_file ? ", in --pid-file " : "", opt.pid_file ? pid_path : "");
	return EXIT_SERVED;
}
