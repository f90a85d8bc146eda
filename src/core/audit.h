/*
 * audit.h - the audit log: one JSON line per security event (an account
 * created, its key changed, deactivated; an order finalized; a
 * certificate revoked; an EAB key used; a request refused by policy), to
 * [audit] file, opened O_APPEND for each event so that lines from several
 * processes never interleave, and/or to syslog (LOG_AUTHPRIV). Never a
 * secret, a private key or a JWS in it: callers pass identifiers only.
 */
#ifndef ANVIL_CORE_AUDIT_H
#define ANVIL_CORE_AUDIT_H

#include <time.h>

#include <jansson.h>

#include "core/conf.h"

/* Longest line written; an event that would be longer is cut to its
 * "time", "event" and "truncated": true. */
#define AUDIT_LINE_MAX 4000

/*
 * Writes event (e.g. "order.finalized") at now with the members of fields
 * (stolen; NULL: none) after "time" and "event". Call it after the
 * transaction that made the event durable has committed, so that a
 * retried transaction does not write it twice. A failure to write is
 * logged, not returned: the event has happened either way. cfg borrowed;
 * with [audit] destination none, does nothing.
 */
void audit_event(const struct anvil_config *cfg, time_t now,
    const char *event, json_t *fields);

#endif
