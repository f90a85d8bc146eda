/*
 * audit.c - anvil-admin audit: the events of [audit] file
 * (src/core/audit.c) that name a serial, an account, an event or fall in
 * a time range, as a table or (--json) an array of the events. Lines that
 * are not one JSON object (a disk that filled up mid-line, an edit by
 * hand) are counted and named on stderr, never fatal.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/admin.h"
#include "core/audit.h"
#include "core/conf.h"

#define AUDIT_USAGE "usage: anvil-admin audit [--serial S] [--account ID] " \
	"[--event NAME]\n" \
	"           [--since DATE] [--until DATE]\n" \
	"  DATE is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)\n"

struct filter {
	char serial[ADMIN_SERIAL_HEX_MAX + 1];	/* "" : any */
	const char *account, *event;
	time_t since, until;	/* 0: open */
};

/* "2026-12-04T10:11:12Z" as written by audit_event; 0 if not that. */
static time_t
event_time(const char *s)
{
	return s != NULL ? admin_parse_when(s, 1) : 0;
}

static int
matches(const struct filter *f, json_t *ev)
{
	const char *v;
	time_t t;

	if (f->serial[0] != '\0' && ((v = json_string_value(json_object_get(
	    ev, "serial"))) == NULL || strcmp(v, f->serial) != 0))
		return 0;
	if (f->account != NULL && ((v = json_string_value(json_object_get(
	    ev, "account"))) == NULL || strcmp(v, f->account) != 0))
		return 0;
	if (f->event != NULL && ((v = json_string_value(json_object_get(ev,
	    "event"))) == NULL || strcmp(v, f->event) != 0))
		return 0;
	if (f->since != 0 || f->until != 0) {
		t = event_time(json_string_value(json_object_get(ev, "time")));
		if (t == 0 || (f->since != 0 && t < f->since) ||
		    (f->until != 0 && t >= f->until))
			return 0;
	}
	return 1;
}

/* Reads path's events that match f into rows; counts bad lines. */
static int
read_events(const char *path, const struct filter *f, json_t *rows,
    size_t *bad)
{
	/* Bounded: a line longer than any event audit_event writes is read
	 * in pieces and skipped whole, never held in memory. */
	char line[AUDIT_LINE_MAX + 2];
	size_t lineno = 0, n;
	int longline = 0;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;	/* no event yet */
		fprintf(stderr, "anvil-admin: audit: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		json_t *ev = NULL;
		int whole;

		n = strlen(line);
		whole = n > 0 && line[n - 1] == '\n';
		if (longline) {		/* the rest of a line already counted */
			longline = !whole;
			continue;
		}
		lineno++;
		if (whole)
			line[--n] = '\0';
		else if (!feof(fp))
			longline = 1;
		if (!longline && n > 0)
			ev = json_loadb(line, n, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(ev)) {
			if (++*bad <= 5)
				fprintf(stderr, "anvil-admin: audit: %s:%zu: "
				    "not an event, skipped\n", path, lineno);
			json_decref(ev);
			continue;
		}
		if (matches(f, ev))
			json_array_append(rows, ev);
		json_decref(ev);
	}
	fclose(fp);
	return 0;
}

int
admin_audit(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "serial", required_argument, NULL, 's' },
		{ "account", required_argument, NULL, 'a' },
		{ "event", required_argument, NULL, 'e' },
		{ "since", required_argument, NULL, 'b' },
		{ "until", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const cols[] = { "time", "event", "account",
		"serial", NULL };
	struct filter f;
	json_t *rows = NULL;
	size_t bad = 0;
	int c, status = ADMIN_FAIL;

	memset(&f, 0, sizeof(f));
	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			ctx->json = 1;
			break;
		case 's':
			if (!admin_serial_norm(optarg, f.serial)) {
				fprintf(stderr, "anvil-admin: audit: \"%s\" is "
				    "not a serial\n", optarg);
				return ADMIN_USAGE;
			}
			break;
		case 'a':
			f.account = optarg;
			break;
		case 'e':
			f.event = optarg;
			break;
		case 'b':
		case 'u':
			if ((c == 'b' ? (f.since = admin_parse_when(optarg, 1)) :
			    (f.until = admin_parse_when(optarg, 1))) == 0) {
				fprintf(stderr, "anvil-admin: audit: \"%s\" is "
				    "not a date\n%s", optarg, AUDIT_USAGE);
				return ADMIN_USAGE;
			}
			break;
		default:
			fputs(AUDIT_USAGE, stderr);
			return ADMIN_USAGE;
		}
	}
	if (optind != argc) {
		fputs(AUDIT_USAGE, stderr);
		return ADMIN_USAGE;
	}
	if (!(ctx->cfg->audit_to & CONFIG_AUDIT_FILE))
		fprintf(stderr, "anvil-admin: audit: [audit] destination does "
		    "not include file; reading %s as it is\n",
		    ctx->cfg->audit_file);
	if ((rows = json_array()) == NULL ||
	    read_events(ctx->cfg->audit_file, &f, rows, &bad) != 0)
		goto out;
	if (bad > 0)
		fprintf(stderr, "anvil-admin: audit: %zu line%s of %s skipped\n",
		    bad, bad == 1 ? "" : "s", ctx->cfg->audit_file);
	admin_print_table(ctx, rows, cols);
	status = ADMIN_OK;
out:
	json_decref(rows);
	return status;
}
