/*
 * acme.c - the context and the router: a table of resources (path
 * pattern, methods, who signs, handler; one file per endpoint) matched
 * against the request path, then the headers every reply carries:
 * Replay-Nonce on POST replies (errors included) and on newNonce, and
 * Link rel="index" to the directory.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/acme_int.h"
#include "core/log.h"
#include "core/util.h"

/* The 405 detail of the signed resources. */
#define ROUTE_USE_POST "use POST (POST-as-GET to fetch)"

anvil_err
acme_ctx_new(const struct anvil_config *cfg, struct ca *ca, struct store *st,
    struct acme_ctx **out, char *err, size_t errlen)
{
	struct acme_ctx *ctx;
	const char *p;
	anvil_err rc;

	*out = NULL;
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	ctx->cfg = cfg;
	ctx->ca = ca;
	ctx->st = st;
	/* The path of base_url: after "scheme://host[:port]". */
	p = strstr(cfg->base_url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	snprintf(ctx->base_path, sizeof(ctx->base_path), "%s", p ? p : "");
	if ((rc = acme_nonce_key_load(ctx, err, errlen)) != ANVIL_OK) {
		free(ctx);
		return rc;
	}
	*out = ctx;
	return ANVIL_OK;
}

void
acme_ctx_free(struct acme_ctx *ctx)
{
	if (ctx == NULL)
		return;
	util_wipe(ctx->nonce_key, sizeof(ctx->nonce_key));
	ca_ocsp_signer_free(ctx->ocsp);
	free(ctx);
}

void
acme_ctx_set_ca(struct acme_ctx *ctx, struct ca *ca)
{
	ca_ocsp_signer_free(ctx->ocsp);
	ctx->ocsp = NULL;
	ctx->ocsp_mtime = 0;
	ctx->ocsp_ino = 0;
	ctx->ca = ca;
}

const char *
acme_base_path(const struct acme_ctx *ctx)
{
	return ctx->base_path;
}

/* The most segments a route's pattern has. */
#define ROUTE_MAX_SEGS 4

/*
 * Every resource, one row each: the path below the base URL as segments
 * ("*" takes any one segment, even an empty one, and hands it to the
 * handler), the methods it answers, the key that must sign it
 * (src/acme/auth.c; acme_route checks it before the handler runs), what
 * its payload may be, its handler, and the detail of the 405 for any
 * other method. A resource whose only meaning is its content takes
 * ACME_PAYLOAD_EMPTY: RFC 8555 §6.3 makes the fetch a POST-as-GET, whose
 * payload is the empty string, so "{}" there is a request the resource
 * does not define and is refused rather than read as a fetch. No two
 * patterns match the same path, so the order is only for the reader.
 * Exactly one of run0, run1, run2 is set: the handler takes no, one or
 * two captured segments. The OCSP responder (<base_url>/ocsp, not ACME:
 * no JWS, no nonce, a base64 request with '/' in it as the path) is
 * answered before this table by acme_handle (src/acme/ocsp.c).
 */
static const struct acme_route routes[] = {
	{ "directory", "directory", ACME_ROUTE_GET, ACME_AUTH_NONE,
	  ACME_PAYLOAD_ANY, acme_directory, NULL, NULL, "use GET" },
	{ "new-nonce", "new-nonce", ACME_ROUTE_GET, ACME_AUTH_NONE,
	  ACME_PAYLOAD_ANY, acme_new_nonce, NULL, NULL, "use HEAD or GET" },
	{ "ca", "ca", ACME_ROUTE_GET_POST, ACME_AUTH_KID,
	  ACME_PAYLOAD_EMPTY, acme_ca_cert, NULL, NULL,
	  "use GET or POST-as-GET" },
	{ "new-account", "new-account", ACME_ROUTE_POST, ACME_AUTH_JWK,
	  ACME_PAYLOAD_ANY, acme_new_account, NULL, NULL, ROUTE_USE_POST },
	{ "new-order", "new-order", ACME_ROUTE_POST, ACME_AUTH_KID,
	  ACME_PAYLOAD_ANY, acme_new_order, NULL, NULL, ROUTE_USE_POST },
	{ "revoke-cert", "revoke-cert", ACME_ROUTE_POST, ACME_AUTH_EITHER,
	  ACME_PAYLOAD_ANY, acme_revoke, NULL, NULL, ROUTE_USE_POST },
	{ "key-change", "key-change", ACME_ROUTE_POST, ACME_AUTH_KID,
	  ACME_PAYLOAD_ANY, acme_key_change, NULL, NULL, ROUTE_USE_POST },
	{ "account", "acct/*", ACME_ROUTE_POST, ACME_AUTH_KID,
	  ACME_PAYLOAD_ANY, NULL, acme_account, NULL, ROUTE_USE_POST },
	{ "orders", "acct/*/orders", ACME_ROUTE_POST, ACME_AUTH_KID,
	  ACME_PAYLOAD_EMPTY, NULL, NULL, acme_account_orders,
	  ROUTE_USE_POST },
	{ "orders-page", "acct/*/orders/*", ACME_ROUTE_POST, ACME_AUTH_KID,
	  ACME_PAYLOAD_EMPTY, NULL, NULL, acme_account_orders,
	  ROUTE_USE_POST },
	{ "order", "order/*", ACME_ROUTE_POST, ACME_AUTH_KID,
	  ACME_PAYLOAD_EMPTY, NULL, acme_order, NULL, ROUTE_USE_POST },
	{ "finalize", "order/*/finalize", ACME_ROUTE_POST, ACME_AUTH_KID,
	  ACME_PAYLOAD_ANY, NULL, acme_finalize, NULL, ROUTE_USE_POST },
	{ "authz", "authz/*", ACME_ROUTE_POST, ACME_AUTH_KID,
	  ACME_PAYLOAD_ANY, NULL, acme_authz, NULL, ROUTE_USE_POST },
	{ "challenge", "chall/*", ACME_ROUTE_POST, ACME_AUTH_KID,
	  ACME_PAYLOAD_ANY, NULL, acme_challenge, NULL, ROUTE_USE_POST },
	{ "cert", "cert/*", ACME_ROUTE_POST, ACME_AUTH_KID,
	  ACME_PAYLOAD_EMPTY, NULL, acme_cert, NULL, ROUTE_USE_POST },
	/* RFC 8555 §7.4.2: an alternate chain, by its Link. */
	{ "cert-alternate", "cert/*/*", ACME_ROUTE_POST, ACME_AUTH_KID,
	  ACME_PAYLOAD_EMPTY, NULL, NULL, acme_cert_alt, ROUTE_USE_POST },
	/* RFC 9773 §4: an unsigned GET, or a POST-as-GET by an account. */
	{ "renewal-info", "renewal-info/*", ACME_ROUTE_GET_POST,
	  ACME_AUTH_KID, ACME_PAYLOAD_EMPTY, NULL, acme_renewal_info, NULL,
	  "use GET or POST-as-GET" },
};

const struct acme_route *
acme_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

/*
 * Splits "/a/b/c" in place into segments (pointers into buf); leading
 * slashes are skipped and one trailing slash ends the path. Returns how
 * many there are, counting at most max + 1: a path longer than any
 * pattern needs only to be known as such.
 */
static size_t
split(char *buf, char **seg, size_t max)
{
	size_t n = 0;
	char *p = buf;

	while (*p == '/')
		p++;
	while (*p != '\0' && n < max + 1) {
		seg[n < max ? n : max - 1] = p;
		n++;
		p = strchr(p, '/');
		if (p == NULL)
			break;
		*p++ = '\0';
	}
	return n;
}

/* 1 if the n segments fit pattern; its "*" segments go to cap[0..1]. */
static int
pattern_matches(const char *pattern, char *const *seg, size_t n,
    const char **cap)
{
	size_t i = 0, k = 0, len;
	const char *p = pattern, *slash;

	cap[0] = cap[1] = NULL;
	for (;;) {
		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		if (i == n)
			return 0;
		if (len == 1 && *p == '*') {
			if (k < 2)
				cap[k++] = seg[i];
		} else if (strlen(seg[i]) != len || strncmp(seg[i], p, len) != 0)
			return 0;
		i++;
		if (slash == NULL)
			return i == n;
		p = slash + 1;
	}
}

static int
method_allowed(const struct acme_route *rt, const char *method)
{
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int post = strcmp(method, "POST") == 0;

	if (rt->methods == ACME_ROUTE_GET)
		return get;
	if (rt->methods == ACME_ROUTE_GET_POST)
		return get || post;
	return post;
}

anvil_err
acme_route_match(const char *method, const char *path,
    struct acme_route_match *m)
{
	char *seg[ROUTE_MAX_SEGS];
	size_t i, n;

	memset(m, 0, sizeof(*m));
	m->detail = "no such resource";
	if (path == NULL)
		return ANVIL_ERR_HTTPNOTFOUND;
	if ((m->buf = strdup(path)) == NULL) {
		m->detail = "out of memory";
		return ANVIL_ERR_NOMEM;
	}
	n = split(m->buf, seg, ROUTE_MAX_SEGS);
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (pattern_matches(routes[i].pattern, seg, n, m->cap))
			break;
	if (i == sizeof(routes) / sizeof(routes[0])) {
		/* Unknown below the root: a fetch with the wrong method is
		 * the likelier mistake, and POST-as-GET is the cure. */
		if (n == 0 || strcmp(method, "POST") == 0)
			return ANVIL_ERR_HTTPNOTFOUND;
		m->detail = ROUTE_USE_POST;
		return ANVIL_ERR_METHOD;
	}
	m->route = &routes[i];
	if (!method_allowed(m->route, method)) {
		m->detail = m->route->wrong_method;
		return ANVIL_ERR_METHOD;
	}
	m->detail = NULL;
	return ANVIL_OK;
}

anvil_err
acme_route_refused(const char *refused, const char **detail)
{
	static const char ari[] = "/renewal-info/";

	*detail = "no such resource";
	if (refused == NULL || strncmp(refused, ari, sizeof(ari) - 1) != 0 ||
	    refused[sizeof(ari) - 1] == '\0' ||
	    strchr(refused + sizeof(ari) - 1, '/') != NULL)
		return ANVIL_ERR_HTTPNOTFOUND;
	*detail = "certID must be two unpadded base64url parts joined by "
	    "'.' (RFC 9773 §4.1)";
	return ANVIL_ERR_MALFORMED;
}

void
acme_route_match_clear(struct acme_route_match *m)
{
	free(m->buf);
	memset(m, 0, sizeof(*m));
}

anvil_err
acme_route(struct acme_req *r)
{
	struct acme_route_match m = { 0 };
	const struct acme_route *rt;
	anvil_err rc;

	if (r->http->path == NULL && r->http->refused != NULL) {
		const char *detail;
		rc = acme_route_refused(r->http->refused, &detail);
		rc = acme_fail(r, rc, "%s", detail);
		goto out;
	}
	if ((rc = acme_route_match(r->http->method, r->http->path, &m)) !=
	    ANVIL_OK) {
		rc = acme_fail(r, rc, "%s", m.detail);
		goto out;
	}
	rt = m.route;
	/* Every POST checks its JWS here, before its handler; a GET of a
	 * resource that takes both is unsigned. */
	if (strcmp(r->http->method, "POST") == 0) {
		if ((rc = acme_auth(r, rt->auth)) != ANVIL_OK)
			goto out;
		if (rt->payload == ACME_PAYLOAD_EMPTY && r->payload != NULL) {
			rc = acme_fail(r, ANVIL_ERR_MALFORMED, "this resource "
			    "is fetched by POST-as-GET: the payload must be "
			    "empty, not a JSON object");
			goto out;
		}
	}
	if (rt->run2 != NULL)
		rc = rt->run2(r, m.cap[0], m.cap[1]);
	else if (rt->run1 != NULL)
		rc = rt->run1(r, m.cap[0]);
	else
		rc = rt->run0(r);
out:
	acme_route_match_clear(&m);
	return rc;
}

void
acme_handle(struct acme_ctx *ctx, anvil_err rc, const struct http_req *req,
    struct http_resp *resp, char **validate)
{
	struct acme_req r;
	char *dir = NULL, *nonce = NULL;

	*validate = NULL;
	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.http = req;
	r.resp = resp;
	r.now = time(NULL);
	log_set_request_id(req->id);
	if (acme_ocsp_path(req->path)) {
		acme_ocsp_handle(ctx, rc, req, resp);
		if (resp->status == 0)
			resp->status = 500;
		log_set_request_id(NULL);
		return;
	}

	if (rc == ANVIL_ERR_TOOLARGE)
		acme_fail(&r, rc, "request body larger than %zu bytes",
		    ctx->cfg->max_body);
	else if (rc != ANVIL_OK)
		acme_fail(&r, rc == ANVIL_ERR_NOMEM ? rc : ANVIL_ERR_MALFORMED,
		    "request unreadable");
	else
		acme_route(&r);

	if (strcmp(req->method, "POST") == 0 || (req->path != NULL &&
	    strcmp(req->path, "/new-nonce") == 0)) {
		if ((nonce = acme_nonce_new(ctx)) != NULL)
			http_resp_header(resp, "Replay-Nonce", nonce);
	}
	if ((dir = acme_url(ctx, "/directory")) != NULL)
		acme_link(&r, dir, "index");
	if (resp->status == 0)
		resp->status = 500;

	*validate = r.validate;
	jose_jws_free(r.jws);
	json_decref(r.payload);
	json_decref(r.account);
	json_decref(r.subproblems);
	json_decref(r.problem_extra);
	free(r.account_id);
	free(dir);
	free(nonce);
	log_set_request_id(NULL);
}
