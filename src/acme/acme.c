/*
 * acme.c - the context and the router: one request path to one handler
 * (one file per endpoint), then the headers every reply carries:
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
	free(ctx);
}

const char *
acme_base_path(const struct acme_ctx *ctx)
{
	return ctx->base_path;
}

/* Splits "/a/b/c" into at most max segments (pointers into buf). */
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

static int
is(const char *method, const char *want)
{
	return strcmp(method, want) == 0;
}

static anvil_err
route(struct acme_req *r)
{
	const char *m = r->http->method;
	char *path = NULL, *seg[4] = { NULL, NULL, NULL, NULL };
	size_t n;
	anvil_err rc;

	if (r->http->path == NULL)
		return acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "no such resource");
	if ((path = strdup(r->http->path)) == NULL)
		return acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
	n = split(path, seg, 4);

	if (n == 1 && strcmp(seg[0], "directory") == 0) {
		if (is(m, "GET") || is(m, "HEAD"))
			rc = acme_directory(r);
		else
			rc = acme_fail(r, ANVIL_ERR_METHOD, "use GET");
		goto out;
	}
	if (n == 1 && strcmp(seg[0], "new-nonce") == 0) {
		if (is(m, "GET") || is(m, "HEAD"))
			rc = acme_new_nonce(r);
		else
			rc = acme_fail(r, ANVIL_ERR_METHOD, "use HEAD or GET");
		goto out;
	}
	if (n == 1 && strcmp(seg[0], "ca") == 0) {
		if (is(m, "GET") || is(m, "HEAD"))
			rc = acme_ca_cert(r);
		else
			rc = acme_fail(r, ANVIL_ERR_METHOD, "use GET");
		goto out;
	}
	if (!is(m, "POST")) {
		rc = acme_fail(r, (n == 0) ? ANVIL_ERR_HTTPNOTFOUND :
		    ANVIL_ERR_METHOD, "%s", n == 0 ? "no such resource" :
		    "use POST (POST-as-GET to fetch)");
		goto out;
	}
	if (n == 1 && strcmp(seg[0], "new-account") == 0)
		rc = acme_new_account(r);
	else if (n == 1 && strcmp(seg[0], "new-order") == 0)
		rc = acme_new_order(r);
	else if (n == 1 && strcmp(seg[0], "revoke-cert") == 0)
		rc = acme_revoke(r);
	else if (n == 1 && strcmp(seg[0], "key-change") == 0)
		rc = acme_key_change(r);
	else if (n == 2 && strcmp(seg[0], "acct") == 0)
		rc = acme_account(r, seg[1]);
	else if ((n == 3 || n == 4) && strcmp(seg[0], "acct") == 0 &&
	    strcmp(seg[2], "orders") == 0)
		rc = acme_account_orders(r, seg[1], n == 4 ? seg[3] : NULL);
	else if (n == 2 && strcmp(seg[0], "order") == 0)
		rc = acme_order(r, seg[1]);
	else if (n == 3 && strcmp(seg[0], "order") == 0 &&
	    strcmp(seg[2], "finalize") == 0)
		rc = acme_finalize(r, seg[1]);
	else if (n == 2 && strcmp(seg[0], "authz") == 0)
		rc = acme_authz(r, seg[1]);
	else if (n == 2 && strcmp(seg[0], "chall") == 0)
		rc = acme_challenge(r, seg[1]);
	else if (n == 2 && strcmp(seg[0], "cert") == 0)
		rc = acme_cert(r, seg[1]);
	else
		rc = acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "no such resource");
out:
	free(path);
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

	if (rc == ANVIL_ERR_TOOLARGE)
		acme_fail(&r, rc, "request body larger than %zu bytes",
		    ctx->cfg->max_body);
	else if (rc != ANVIL_OK)
		acme_fail(&r, rc == ANVIL_ERR_NOMEM ? rc : ANVIL_ERR_MALFORMED,
		    "request unreadable");
	else
		route(&r);

	if (is(req->method, "POST") || (req->path != NULL &&
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
	free(r.account_id);
	free(dir);
	free(nonce);
	log_set_request_id(NULL);
}
