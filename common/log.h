/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_LOG_H
#define INETKIT_LOG_H

#include <stddef.h>

/* Net::Server's levels. */
enum { LOG_LVL_ERR, LOG_LVL_WARNING, LOG_LVL_NOTICE, LOG_LVL_INFO, LOG_LVL_DEBUG };

enum log_sink { LOG_SINK_AUTO, LOG_SINK_STDERR, LOG_SINK_SYSLOG, LOG_SINK_JOURNAL, LOG_SINK_FILE };

/* One structured field of a record: a journal field name and its value. */
struct log_field {
	const char *key;		/* e.g. "INETKIT_PEER" */
	const char *value;		/* already escaped (text_escape_field) */
};

void log_init(const char *ident);
int log_open(enum log_sink sink, const char *path);
/* The --log file kept across an exec (log_keep_file), and taken after it (log_adopt_file). */
enum log_keep { LOG_KEEP_OFF, LOG_KEEP_REEXEC, LOG_KEEP_PROGRAM };
void log_keep_file(enum log_keep k);
void log_adopt_file(int fd, const char *path);
void log_set_level(int level);
void log_set_syslog(const char *ident, int opts, int facility);
void log_connect(void);
int log_uses_stderr(void);
int log_level(void);
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_fields(int level, const struct log_field *f, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
