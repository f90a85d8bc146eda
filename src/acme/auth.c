/*
 * auth.c - the checks every ACME POST passes before its handler runs:
 * content type, flattened JWS, url equal to the request URL (built from
 * the configured base URL), nonce, key (the account's, by kid, or the
 * embedded jwk), signature, and a JSON object payload (or none, for
 * POST-as-GET).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme/acme_int.h"
#include "core/log.h"

struct load_arg {
	enum store_kind kind;
	const char *id;
	json_t *rec;
};

static anvil_err
load_fn(struct store_txn *txn, void *arg)
{
	struct load_arg *a = arg;

	json_decref(a->rec);
	a->rec = NULL;
	return store_get(txn, a->kind, a->id, &a->rec);
}

anvil_err
acme_record_load(struct acme_ctx *ctx, enum store_kind kind, const char *id,
    json_t **out)
{
	struct load_arg a = { kind, id, NULL };
	anvil_err rc;

	*out = NULL;
	rc = store_run(ctx->st, 0, load_fn, &a, NULL, 0);
	if (rc == ANVIL_OK)
		*out = a.rec;
	else
		json_decref(a.rec);
	return rc;
}

static int
content_type_ok(const char *ct)
{
	static const char want[] = "application/jose+json";
	size_t n = sizeof(want) - 1;

	if (strncasecmp(ct, want, n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

anvil_err
acme_auth(struct acme_req *r, enum acme_auth_key how)
{
	struct acme_ctx *ctx = r->ctx;
	struct jose_jwk *acct_key = NULL;
	const struct jose_jwk *key = NULL;
	char *expect = NULL, *acct_prefix = NULL;
	char err[512] = "";
	anvil_err rc;

	if (!content_type_ok(r->http->content_type)) {
		rc = acme_fail(r, ANVIL_ERR_MEDIATYPE, "Content-Type must be "
		    "application/jose+json");
		goto out;
	}
	rc = jose_jws_parse((const char *)r->http->body, r->http->body_len,
	    &r->jws, err, sizeof(err));
	if (rc == ANVIL_ERR_BADSIGALG) {
		rc = acme_fail(r, rc, "%s; accepted algorithms: " JOSE_ALGS,
		    err);
		goto out;
	}
	if (rc != ANVIL_OK) {
		rc = acme_fail(r, rc, "%s", err);
		goto out;
	}
	if (r->jws->url == NULL) {
		rc = acme_fail(r, ANVIL_ERR_MALFORMED, "JWS header parameter "
		    "'url' required");
		goto out;
	}
	if ((expect = acme_url(ctx, "%s", r->http->path)) == NULL) {
		rc = acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (strcmp(r->jws->url, expect) != 0) {
		rc = acme_fail(r, ANVIL_ERR_UNAUTHORIZED, "JWS header parameter "
		    "'url' incorrect: expected %s", expect);
		goto out;
	}
	if (r->jws->nonce == NULL) {
		rc = acme_fail(r, ANVIL_ERR_BADNONCE, "JWS has no anti-replay "
		    "nonce");
		goto out;
	}
	if (acme_nonce_check(ctx, r->jws->nonce, 0) != ANVIL_OK) {
		rc = acme_fail(r, ANVIL_ERR_BADNONCE, "JWS has an invalid "
		    "anti-replay nonce: \"%.64s\"", r->jws->nonce);
		goto out;
	}

	if (r->jws->kid != NULL) {
		const char *id;
		json_t *jwk;

		if (how == ACME_AUTH_JWK) {
			rc = acme_fail(r, ANVIL_ERR_MALFORMED, "this request "
			    "must be signed with a JWK, not a key ID");
			goto out;
		}
		if ((acct_prefix = acme_url(ctx, "/acct/")) == NULL) {
			rc = acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (strncmp(r->jws->kid, acct_prefix, strlen(acct_prefix)) !=
		    0) {
			rc = acme_fail(r, ANVIL_ERR_MALFORMED, "kid is not an "
			    "account URL of this server");
			goto out;
		}
		id = r->jws->kid + strlen(acct_prefix);
		rc = acme_record_load(ctx, STORE_ACCOUNT, id, &r->account);
		if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
			rc = acme_fail(r, ANVIL_ERR_NOACCOUNT, "account %.64s "
			    "does not exist", id);
			goto out;
		}
		if (rc != ANVIL_OK) {
			rc = acme_fail(r, rc, "cannot read the account");
			goto out;
		}
		if (rec_status_get(r->account) != REC_VALID) {
			rc = acme_fail(r, ANVIL_ERR_UNAUTHORIZED, "account is "
			    "not valid, it is %s", json_string_value(
			    json_object_get(r->account, "status")) ?: "?");
			goto out;
		}
		jwk = json_object_get(r->account, "jwk");
		if (jose_jwk_import(jwk, &acct_key, err, sizeof(err)) !=
		    ANVIL_OK) {
			/* A damaged record is ours to fix, not the client's
			 * to read about: the why goes to the log only. */
			log_err("account %s: jose_jwk_import: %s", id, err);
			rc = acme_fail(r, ANVIL_ERR_STORE, "stored account key "
			    "unreadable");
			goto out;
		}
		if ((r->account_id = strdup(id)) == NULL) {
			rc = acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
			goto out;
		}
		key = acct_key;
	} else {
		if (how == ACME_AUTH_KID) {
			rc = acme_fail(r, ANVIL_ERR_MALFORMED, "this request "
			    "must be signed with an account key ID (kid), not "
			    "a JWK");
			goto out;
		}
		key = r->jws->jwk;
	}

	if ((rc = jose_jws_verify(r->jws, key, err, sizeof(err))) !=
	    ANVIL_OK) {
		if (rc == ANVIL_ERR_BADSIGALG)
			rc = acme_fail(r, rc, "%s; accepted algorithms: "
			    JOSE_ALGS, err);
		else
			rc = acme_fail(r, rc, "%s", err);
		goto out;
	}
	/* Spend the nonce last: only a request that would be served uses one
	 * up, and two copies of it never both get here. */
	if ((rc = acme_nonce_check(ctx, r->jws->nonce, 1)) != ANVIL_OK) {
		rc = acme_fail(r, ANVIL_ERR_BADNONCE, "JWS has an invalid "
		    "anti-replay nonce: \"%.64s\" was already used",
		    r->jws->nonce);
		goto out;
	}
	if (r->jws->payload_len > 0) {
		json_error_t jerr;
		r->payload = json_loadb((const char *)r->jws->payload,
		    r->jws->payload_len, JSON_REJECT_DUPLICATES, &jerr);
		if (r->payload == NULL) {
			/* jansson's text names its parser's state: log it,
			 * and tell the client where in its own bytes. */
			log_info("json_loadb (payload): %s", jerr.text);
			if (json_error_code(&jerr) == json_error_duplicate_key)
				rc = acme_fail(r, ANVIL_ERR_MALFORMED,
				    "payload has a duplicate member");
			else
				rc = acme_fail(r, ANVIL_ERR_MALFORMED,
				    "payload is not valid JSON (line %d, "
				    "column %d)", jerr.line, jerr.column);
			goto out;
		}
		if (!json_is_object(r->payload)) {
			rc = acme_fail(r, ANVIL_ERR_MALFORMED, "payload is not "
			    "a JSON object");
			goto out;
		}
	}
	rc = ANVIL_OK;
out:
	jose_jwk_free(acct_key);
	free(expect);
	free(acct_prefix);
	return rc;
}
