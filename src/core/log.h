/*
 * log.h - logging to stderr (the web server's error log) or syslog.
 *
 * Each line: "anvil[pid] LEVEL [request-id] message". Keys, JWS payloads
 * and EAB secrets are never logged above LOG_LVL_DEBUG.
 */
#ifndef ANVIL_CORE_LOG_H
#define ANVIL_CORE_LOG_H

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG
};

/* Sets the program name shown on each line (borrowed, must outlive use). */
void log_init(const char *progname, enum log_level level, int use_syslog);
enum log_level log_level_get(void);
void log_set_level(enum log_level level);
/* Parses "err", "warn", "info", "debug"; returns -1 if unknown. */
int log_level_parse(const char *s);
/* Sets the request id printed on each line; NULL clears it. Copied. */
void log_set_request_id(const char *id);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
