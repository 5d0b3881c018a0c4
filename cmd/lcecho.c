/* SPDX-License-Identifier: MIT */
/*
 * inetkit-lcecho: mod_perl's EchoBB with its lowercase_filter. Echoes the
 * client's lines with ASCII letters lower-cased, until EOF or a line
 * holding only CR/LF, which is echoed before the close.
 */
#include "../common/conn.h"

/*
 * Whole buffers, not line by line: io_getlines gives every whole line the
 * input holds (a line longer than --max-line in pieces of it), which is
 * watched for the blank line, lower-cased in place and written from the
 * input buffer, with the bytes and the stop of EchoBB's line loop through
 * the lowercase filter (filter_lower is that filter's loop). A line is
 * blank when it holds only CR bytes before its LF, judged on the whole
 * line, across spans: the watch's state is "the line so far is CRs".
 */
static int
process(struct conn *c)
{
	struct io *io = &c->io;
	char *buf, *p, *end;
	const char *lf;
	ssize_t n;
	int blank = 1, stop = 0;

	while (!stop && (n = io_getlines(io, &buf)) > 0) {
		end = buf + n;
		for (p = buf; p < end; p = (char *)lf + 1) {
			if (blank) {
				while (p < end && *p == '\r')
					p++;
				if (p == end)
					break;
				if (*p == '\n') {
					end = p + 1;	/* the blank line, echoed; nothing after it */
					stop = 1;
					break;
				}
				blank = 0;
			}
			/* The next line that may be blank: one that starts with CR or LF. */
			if (!(lf = io_line_watch(p, (size_t)(end - p))))
				break;
			blank = 1;
		}
		filter_lower(buf, (size_t)(end - buf));
		if (io_write(io, buf, (size_t)(end - buf)) < 0)
			break;
	}
	return conn_served(c);
}

static const struct service lcecho = {
	.name = "lcecho",
	.prefork = 1,
	.summary = "Echo the client's lines lower-cased until EOF or a blank line "
	    "(mod_perl's EchoBB + lowercase_filter).",
	.process_connection = process,
};

int
main(int argc, char **argv)
{
	return conn_main(&lcecho, argc, argv);
}
