/*
 * problem.c - RFC 7807 problem documents: the function every handler
 * calls to fail. The table from the project error enum to the ACME error
 * type and HTTP status is src/record/record.c's.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"
#include "core/log.h"

/* The Allow of a 405: the resources served to GET and HEAD (the router's
 * list) must not advertise POST unless they take POST-as-GET as well. */
static const char *
allow_of(const char *path)
{
	static const struct {
		const char *name;
		const char *allow;
	} names[] = {
		{ "directory", "GET, HEAD" },
		{ "new-nonce", "GET, HEAD" },
		{ "ca", "GET, HEAD, POST" },
	};
	size_t i, n;

	if (path == NULL)
		return "POST";
	while (*path == '/')
		path++;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = strlen(names[i].name);
		if (strncmp(path, names[i].name, n) == 0 &&
		    path[n + strspn(path + n, "/")] == '\0')
			return names[i].allow;
	}
	return "POST";
}

/*
 * The members RFC 8555 requires beside type, detail and status: §6.2 has
 * badSignatureAlgorithm list the accepted "alg" values in "algorithms",
 * whichever step refused the algorithm, so it is added here rather than by
 * each caller. Then the caller's r->problem_extra; members already in doc
 * are kept.
 */
static void
problem_members(struct acme_req *r, anvil_err e, json_t *doc)
{
	json_t *algs;

	if (e == ANVIL_ERR_BADSIGALG &&
	    json_object_get(doc, "algorithms") == NULL &&
	    (algs = jose_algs_json()) != NULL)
		json_object_set_new(doc, "algorithms", algs);
	if (json_is_object(r->problem_extra))
		json_object_update_missing(doc, r->problem_extra);
}

/*
 * Makes s valid UTF-8 in place: a byte that neither starts nor continues
 * a well-formed sequence (overlong forms and surrogates included) becomes
 * '?'. A detail quoting a client's value through "%.64s", or cut at the
 * end of the buffer, can split a character, and jansson refuses a string
 * that is not UTF-8: the reply would have had no problem document.
 */
static void
utf8_scrub(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			n = 1;
		else if (*p >= 0xe0 && *p <= 0xef)
			n = 2;
		else if (*p >= 0xf0 && *p <= 0xf4)
			n = 3;
		else {
			*p++ = '?';
			continue;
		}
		for (i = 1; i <= n; i++)
			if ((p[i] & 0xc0) != 0x80)
				break;
		if (i <= n || (p[0] == 0xe0 && p[1] < 0xa0) ||
		    (p[0] == 0xed && p[1] >= 0xa0) ||
		    (p[0] == 0xf0 && p[1] < 0x90) ||
		    (p[0] == 0xf4 && p[1] >= 0x90)) {
			*p++ = '?';
			continue;
		}
		p += n + 1;
	}
}

anvil_err
acme_fail(struct acme_req *r, anvil_err e, const char *fmt, ...)
{
	char detail[1024];
	char type[128];
	json_t *doc;
	int status = rec_problem_status(e);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	utf8_scrub(detail);
	snprintf(type, sizeof(type), REC_PROBLEM_PREFIX "%s",
	    rec_problem_type(e));
	if (status == 500)
		log_err("%s %s: %s (%s)", r->http->method,
		    r->http->path ? r->http->path : "?", detail,
		    anvil_strerror(e));
	else
		log_info("%s %s: %d %s: %s", r->http->method,
		    r->http->path ? r->http->path : "?", status,
		    rec_problem_type(e), detail);
	doc = rec_problem(e, detail);
	if (doc != NULL && r->subproblems != NULL)
		json_object_set(doc, "subproblems", r->subproblems);
	if (doc != NULL)
		problem_members(r, e, doc);
	if (doc != NULL) {
		char *body = json_dumps(doc, JSON_INDENT(2));
		if (body != NULL) {
			http_resp_body(r->resp, body, strlen(body),
			    "application/problem+json");
		}
		json_decref(doc);
	}
	if (r->resp->body == NULL) {
		/* Out of memory above: a document without the detail. */
		char *body = NULL;

		if (asprintf(&body, "{\n  \"type\": \"%s\",\n  \"status\": "
		    "%d\n}", type, status) >= 0)
			http_resp_body(r->resp, body, strlen(body),
			    "application/problem+json");
	}
	r->resp->status = status;
	/* A database that is away (ANVIL_ERR_UNAVAILABLE): RFC 9110
	 * §10.2.3, the client may come back. */
	if (status == 503)
		http_resp_header(r->resp, "Retry-After", ACME_RETRY_AFTER);
	if (e == ANVIL_ERR_METHOD)
		http_resp_header(r->resp, "Allow", allow_of(r->http->path));
	return e;
}
