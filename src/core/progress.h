/*
 * progress.h - a progress line on a terminal for work that takes long
 * (anvil-admin renewal advise, db check, db backup over a large store):
 * "anvil-admin: db check: certs.db 3/12" rewritten in place at most four
 * times a second, on standard error, and only when standard error is a
 * terminal, so that cron mail and scripts see nothing of it.
 */
#ifndef ANVIL_CORE_PROGRESS_H
#define ANVIL_CORE_PROGRESS_H

#include <stddef.h>
#include <time.h>

struct progress {
	const char *what;	/* "anvil-admin: db check" (borrowed) */
	int on;			/* writing at all */
	int shown;		/* a line is on the terminal */
	struct timespec last;	/* when it was last written */
};

/*
 * Starts p for what (borrowed, must outlive p). With quiet, or when
 * standard error is not a terminal, every other call does nothing.
 */
void progress_begin(struct progress *p, const char *what, int quiet);

/*
 * Shows step (borrowed text, may be NULL) and done of total (total 0:
 * unknown, done alone is shown), at most every 250 ms unless force.
 * p may be NULL.
 */
void progress_show(struct progress *p, const char *step, size_t done,
    size_t total, int force);

/* Clears the line, so that what follows starts on a clean one. */
void progress_end(struct progress *p);

#endif
