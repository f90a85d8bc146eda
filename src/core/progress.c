/*
 * progress.c - the progress line (progress.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/progress.h"

#define PROGRESS_EVERY_NS 250000000L
#define PROGRESS_WIDTH 78

void
progress_begin(struct progress *p, const char *what, int quiet)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->on = !quiet && isatty(STDERR_FILENO);
}

void
progress_show(struct progress *p, const char *step, size_t done,
    size_t total, int force)
{
	struct timespec now;
	char line[PROGRESS_WIDTH + 1];
	int n;

	if (p == NULL || !p->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && p->shown && (now.tv_sec - p->last.tv_sec) * 1000000000L +
	    (now.tv_nsec - p->last.tv_nsec) < PROGRESS_EVERY_NS)
		return;
	p->last = now;
	if (total > 0)
		n = snprintf(line, sizeof(line), "%s: %s%s%zu/%zu (%zu%%)",
		    p->what, step ? step : "", step ? " " : "", done, total,
		    done * 100 / total);
	else if (done > 0)
		n = snprintf(line, sizeof(line), "%s: %s%s%zu", p->what,
		    step ? step : "", step ? " " : "", done);
	else
		n = snprintf(line, sizeof(line), "%s: %s", p->what,
		    step ? step : "");
	if (n < 0)
		return;
	/* Padded to the width, so a shorter line covers a longer one. */
	fprintf(stderr, "\r%-*s", PROGRESS_WIDTH, line);
	fflush(stderr);
	p->shown = 1;
}

void
progress_end(struct progress *p)
{
	if (p == NULL || !p->on || !p->shown)
		return;
	fprintf(stderr, "\r%*s\r", PROGRESS_WIDTH, "");
	fflush(stderr);
	p->shown = 0;
}
