/* SPDX-License-Identifier: MIT */
/*
 * The cmdserver login and command loop, in-process: cmd/cmdserver.c itself
 * is compiled in, and its process step reads the input as the client's byte
 * stream from a memfd and writes its replies to another. The first input
 * byte picks --max-line (low 5 bits: 1..31, 0 for the default 8192) and
 * --require-user fuzz (bit 5). The login must succeed exactly when the first
 * two lines are a user and password that the fixture accepts, as Apache
 * would: never for the plain-text entry or an unknown user.
 */
#define _GNU_SOURCE
#include <crypt.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sha1.h>

#define main cmdserver_main
#include "../cmd/cmdserver.c"
#undef main

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GREETING "Login: Password: " WELCOME

static char dir[] = "/tmp/inetkit-fuzz-cmdserver.XXXXXX";
static char users_path[64], motd_path[64], utmp_path[64];

static void
cleanup(void)
{
	unlink(users_path);
	unlink(motd_path);
	rmdir(dir);
}

/* {SHA} as Apache's htpasswd -s writes it, computed here with libmd. */
static void
sha_entry(FILE *f, const char *user, const char *pw)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t d[SHA1_DIGEST_LENGTH + 1] = { 0 };
	SHA1_CTX ctx;
	size_t i;

	SHA1Init(&ctx);
	SHA1Update(&ctx, (const uint8_t *)pw, strlen(pw));
	SHA1Final(d, &ctx);
	fprintf(f, "%s:{SHA}", user);
	for (i = 0; i < SHA1_DIGEST_LENGTH; i += 3) {
		unsigned long v = (unsigned long)d[i] << 16 | (unsigned long)d[i + 1] << 8
		    | d[i + 2];

		fputc(b64[v >> 18 & 63], f);
		fputc(b64[v >> 12 & 63], f);
		fputc(b64[v >> 6 & 63], f);
		fputc(i + 2 < SHA1_DIGEST_LENGTH ? b64[v & 63] : '=', f);
	}
	fputc('\n', f);
}

/*
 * The fixture: the first verifiable entry is the cheap {SHA} one, so the
 * hash an unknown user costs is cheap too; DES (libxcrypt's) keeps the
 * 8-byte, 7-bit rule; the plain-text entry must never let anyone in.
 */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct crypt_data cd;
	FILE *f;

	(void)argc, (void)argv;
	if (!mkdtemp(dir))
		abort();
	snprintf(users_path, sizeof users_path, "%s/users", dir);
	snprintf(motd_path, sizeof motd_path, "%s/motd", dir);
	snprintf(utmp_path, sizeof utmp_path, "%s/no-utmp", dir);
	atexit(cleanup);
	if (!(f = fopen(users_path, "w")))
		abort();
	fputs("# fixture\n\nnocolon\n:nouser\n", f);
	sha_entry(f, "fuzz", "pw");
	memset(&cd, 0, sizeof cd);
	fprintf(f, "plain:pw\ndes:%s\n", crypt_r("abcdefgh", "ab", &cd));
	if (fclose(f) != 0 || !(f = fopen(motd_path, "w")))
		abort();
	fputs("motd line\n", f);
	if (fclose(f) != 0)
		abort();
	htpasswd_file = users_path;
	motd_file = motd_path;
	utmp_file = utmp_path;
	fail_delay = 0;
	log_open(LOG_SINK_FILE, "/dev/null");
	log_set_level(LOG_LVL_DEBUG);
	return 0;
}

/* Line n (0-based) as cmdserver reads it: up to LF or EOF, trailing CR/LF cut. */
static int
nth_line(const uint8_t *d, size_t n, int which, const uint8_t **line, size_t *len)
{
	const uint8_t *p = d, *end = d + n, *lf;

	for (;;) {
		if (p >= end)
			return 0;
		lf = memchr(p, '\n', (size_t)(end - p));
		if (which-- == 0)
			break;
		if (!lf)
			return 0;
		p = lf + 1;
	}
	*line = p;
	*len = (size_t)((lf ? lf : end) - p);
	while (*len && (p[*len - 1] == '\r' || p[*len - 1] == '\n'))
		(*len)--;
	return 1;
}

static int
accepts(const uint8_t *d, size_t n, int only_fuzz)
{
	const uint8_t *u, *p;
	size_t ul, pl, i;

	if (!nth_line(d, n, 0, &u, &ul) || !nth_line(d, n, 1, &p, &pl))
		return 0;
	if (ul > AUTH_USER_MAX || pl > AUTH_PASS_MAX || memchr(p, '\0', pl))
		return 0;
	if (ul == 4 && memcmp(u, "fuzz", 4) == 0)
		return pl == 2 && memcmp(p, "pw", 2) == 0;
	if (ul != 3 || memcmp(u, "des", 3) != 0 || only_fuzz)
		return 0;
	/* DES: the first 8 bytes, 7 bits each; libxcrypt takes under 512 bytes. */
	if (pl < 8 || pl >= CRYPT_MAX_PASSPHRASE_SIZE)
		return 0;
	for (i = 0; i < 8; i++)
		if ((p[i] & 0x7f) != (uint8_t)"abcdefgh"[i])
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conn c;
	static const char *const fuzz_only[] = { "fuzz" };
	char got[sizeof GREETING - 1];
	size_t max_line;
	int in, out, status, welcomed, want;

	if (size < 1)
		return 0;
	max_line = data[0] & 31 ? data[0] & 31 : 8192;
	require_user.n = data[0] & 32 ? 1 : 0;
	require_user.v[0] = fuzz_only[0];
	data++, size--;
	in = memfd_create("in", MFD_CLOEXEC);
	out = memfd_create("out", MFD_CLOEXEC);
	if (in < 0 || out < 0 || write(in, data, size) != (ssize_t)size)
		abort();
	lseek(in, 0, SEEK_SET);

	memset(&c, 0, sizeof c);
	c.conn_fd = in;
	if (io_init(&c.io, in, out, max_line, 0) < 0)
		abort();
	status = process(&c);
	io_close(&c.io);
	io_free(&c.io);

	memset(got, 0, sizeof got);
	if (pread(out, got, sizeof got, 0) < 0)
		abort();
	welcomed = memcmp(got, GREETING, sizeof got) == 0;
	want = accepts(data, size, require_user.n != 0);
	if (welcomed != want || (status != EXIT_SERVED && status != EXIT_REFUSED)
	    || (welcomed && status != EXIT_SERVED) || strnlen(c.user, sizeof c.user) == sizeof c.user)
		abort();
	close(in);
	close(out);
	return 0;
}
