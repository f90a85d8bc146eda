/*
 * reply.c - the pieces of a successful reply: JSON bodies (one member per
 * line, for clients that read JSON with regular expressions), URLs built
 * from the configured base URL, Location and Link headers, ids, times.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"
#include "core/util.h"

anvil_err
acme_reply_json(struct acme_req *r, int status, json_t *body)
{
	char *text;

	if (body == NULL)
		return acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
	text = json_dumps(body, JSON_INDENT(2));
	json_decref(body);
	if (text == NULL)
		return acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
	r->resp->status = status;
	http_resp_body(r->resp, text, strlen(text), "application/json");
	return ANVIL_OK;
}

anvil_err
acme_location(struct acme_req *r, const char *url)
{
	return http_resp_header(r->resp, "Location", url);
}

anvil_err
acme_link(struct acme_req *r, const char *url, const char *rel)
{
	char buf[1200];

	snprintf(buf, sizeof(buf), "<%s>;rel=\"%s\"", url, rel);
	return http_resp_header(r->resp, "Link", buf);
}

char *
acme_url(struct acme_ctx *ctx, const char *fmt, ...)
{
	char path[512];
	char *url = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (asprintf(&url, "%s%s", ctx->cfg->base_url, path) < 0)
		return NULL;
	return url;
}

/*
 * 128 random bits, base64url: 22 characters. One that would start with
 * '-' or '_' is drawn again (1 in 32): an id is an argument of
 * anvil-admin's commands, where "-Pab..." reads as an option.
 */
anvil_err
acme_new_id(char out[23])
{
	unsigned char rnd[16];
	char *s = NULL;
	int tries;

	for (tries = 0; tries < 64; tries++) {
		if (util_random(rnd, sizeof(rnd)) != ANVIL_OK ||
		    b64u_encode(rnd, sizeof(rnd), &s) != ANVIL_OK ||
		    strlen(s) != 22) {
			free(s);
			return ANVIL_ERR_CRYPTO;
		}
		if (s[0] != '-' && s[0] != '_') {
			memcpy(out, s, 23);
			free(s);
			return ANVIL_OK;
		}
		free(s);
		s = NULL;
	}
	return ANVIL_ERR_CRYPTO;
}

void
acme_time(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
