/*
 * log.c - one line per event to stderr (which a web server puts in its
 * error log) or to syslog.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "core/log.h"

static const char *log_prog = "anvil";
static enum log_level log_max = LOG_LVL_INFO;
static int log_syslog;
static char log_reqid[64];

static const char *const level_names[] = { "err", "warn", "info", "debug" };
static const int level_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void
log_init(const char *progname, enum log_level level, int use_syslog)
{
	if (progname != NULL)
		log_prog = progname;
	log_max = level;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(log_prog, LOG_PID, LOG_DAEMON);
}

void
log_set_level(enum log_level level)
{
	log_max = level;
}

enum log_level
log_level_get(void)
{
	return log_max;
}

int
log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

void
log_set_request_id(const char *id)
{
	if (id == NULL)
		log_reqid[0] = '\0';
	else
		snprintf(log_reqid, sizeof(log_reqid), "%s", id);
}

static void
log_v(enum log_level lvl, const char *fmt, va_list ap)
{
	char msg[2048];
	size_t i;

	if (lvl > log_max)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One event, one line: control characters never reach the log. */
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = ' ';
	if (log_syslog) {
		syslog(level_prio[lvl], "%s%s%s%s", log_reqid[0] ? "[" : "",
		    log_reqid, log_reqid[0] ? "] " : "", msg);
		return;
	}
	fprintf(stderr, "%s[%ld] %s %s%s%s%s\n", log_prog, (long)getpid(),
	    level_names[lvl], log_reqid[0] ? "[" : "", log_reqid,
	    log_reqid[0] ? "] " : "", msg);
}

#define LOG_FN(name, lvl)                                                      \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_v(lvl, fmt, ap);                                           \
		va_end(ap);                                                    \
	}

LOG_FN(log_err, LOG_LVL_ERR)
LOG_FN(log_warn, LOG_LVL_WARN)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)
