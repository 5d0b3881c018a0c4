/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_LOG_H
#define INETKIT_LOG_H

#include <stddef.h>

#include "text.h"

/* Net::Server's levels. */
enum { LOG_LVL_ERR, LOG_LVL_WARNING, LOG_LVL_NOTICE, LOG_LVL_INFO, LOG_LVL_DEBUG };

enum log_sink { LOG_SINK_AUTO, LOG_SINK_STDERR, LOG_SINK_SYSLOG, LOG_SINK_JOURNAL, LOG_SINK_FILE };

/* One structured field of a record: a journal field name and its value. */
struct log_field {
	const char *key;		/* e.g. "INETKIT_PEER" */
	const char *value;		/* already escaped */
};

/* The escapes are text.h's: this name stays until every caller uses text_escape*. */
#define LOG_ESCBUF TEXT_ESCBUF

void log_init(const char *ident);
int log_open(enum log_sink sink, const char *path, int conn_fd);
void log_set_level(int level);
int log_level(void);
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_fields(int level, const struct log_field *f, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Wrappers of text_escape, text_escape_to, text_escape_field, for the same while. */
const char *log_escape(char out[LOG_ESCBUF], const char *s, size_t len);
const char *log_escape_to(char *out, size_t cap, const char *s, size_t len);
const char *log_escape_field(char out[LOG_ESCBUF], const char *s, size_t len);

#endif
