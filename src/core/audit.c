/*
 * audit.c - the audit log (audit.h). Each event is one write(2) of one
 * line to a descriptor opened with O_APPEND: the kernel moves the offset
 * to the end and writes in one step, so two FastCGI workers appending at
 * once give two whole lines. The file is opened for each event rather
 * than kept, so that logrotate may move it without a signal to anvil.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "core/audit.h"
#include "core/log.h"

static char *
line_of(time_t now, const char *event, json_t *fields)
{
	char when[32];
	struct tm tm;
	json_t *o;
	char *text = NULL;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((o = json_pack("{s:s, s:s}", "time", when, "event", event)) ==
	    NULL)
		return NULL;
	if (fields != NULL)
		(void)json_object_update_missing(o, fields);
	text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (text != NULL && strlen(text) > AUDIT_LINE_MAX) {
		free(text);
		json_object_clear(o);
		if (json_object_set_new(o, "time", json_string(when)) == 0 &&
		    json_object_set_new(o, "event", json_string(event)) == 0 &&
		    json_object_set_new(o, "truncated", json_true()) == 0)
			text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
		else
			text = NULL;
	}
	json_decref(o);
	return text;
}

void
audit_event(const struct anvil_config *cfg, time_t now, const char *event,
    json_t *fields)
{
	char *text = NULL;
	size_t len;
	int fd = -1;

	if (cfg == NULL || cfg->audit_to == 0)
		goto out;
	if ((text = line_of(now, event, fields)) == NULL) {
		log_err("audit: cannot format event %s", event);
		goto out;
	}
	if (cfg->audit_to & CONFIG_AUDIT_SYSLOG)
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "anvil-audit %s", text);
	if (!(cfg->audit_to & CONFIG_AUDIT_FILE))
		goto out;
	len = strlen(text);
	text[len++] = '\n';	/* over the NUL: the line is written alone */
	/* 0600: account ids and names are the operator's, not the world's. */
	fd = open(cfg->audit_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_err("audit: open %s: %s", cfg->audit_file, strerror(errno));
		goto out;
	}
	errno = 0;
	if (write(fd, text, len) != (ssize_t)len)
		log_err("audit: write %s: %s", cfg->audit_file, errno != 0 ?
		    strerror(errno) : "short write");
out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(fields);
}
