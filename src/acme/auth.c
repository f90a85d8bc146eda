/*
 * auth.c - the checks every ACME POST passes before its handler runs:
 * content type, flattened JWS, url equal to the request URL (built from
 * the configured base URL), nonce, key (the account's, by kid, or the
 * embedded jwk), signature, and a JSON object payload (or none, for
 * POST-as-GET). Each check is a named step; acme_auth runs them in order
 * from one table.
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

/* What the steps of acme_auth share. */
struct auth {
	struct acme_req *r;
	enum acme_auth_key how;
	struct jose_jwk *acct_key;	/* owned: the kid's account key */
	const struct jose_jwk *key;	/* the key that must have signed */
	int done;			/* auth_kid checked the signature and
					 * spent the nonce */
	char err[512];
};

/* The media type RFC 8555 §6.2 requires of every POST. */
static anvil_err
auth_content_type(struct auth *a)
{
	if (!content_type_ok(a->r->http->content_type))
		return acme_fail(a->r, ANVIL_ERR_MEDIATYPE, "Content-Type "
		    "must be application/jose+json");
	return ANVIL_OK;
}

/* A flattened JWS whose protected header names an algorithm we take. */
static anvil_err
auth_parse(struct auth *a)
{
	struct acme_req *r = a->r;
	anvil_err rc;

	rc = jose_jws_parse((const char *)r->http->body, r->http->body_len,
	    &r->jws, a->err, sizeof(a->err));
	if (rc == ANVIL_ERR_BADSIGALG)
		return acme_fail(r, rc, "%s; accepted algorithms: " JOSE_ALGS,
		    a->err);
	if (rc != ANVIL_OK)
		return acme_fail(r, rc, "%s", a->err);
	return ANVIL_OK;
}

/* The url header is exactly the URL the request came to (§6.4). */
static anvil_err
auth_url(struct auth *a)
{
	struct acme_req *r = a->r;
	char *expect = NULL;
	anvil_err rc;

	if (r->jws->url == NULL)
		return acme_fail(r, ANVIL_ERR_MALFORMED, "JWS header "
		    "parameter 'url' required");
	if ((expect = acme_url(r->ctx, "%s", r->http->path)) == NULL)
		return acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
	if (strcmp(r->jws->url, expect) != 0)
		rc = acme_fail(r, ANVIL_ERR_UNAUTHORIZED, "JWS header "
		    "parameter 'url' incorrect: expected %s", expect);
	else
		rc = ANVIL_OK;
	free(expect);
	return rc;
}

/* A nonce of ours, unexpired and unspent; spent later (auth_spend). */
static anvil_err
auth_nonce(struct auth *a)
{
	struct acme_req *r = a->r;

	if (r->jws->nonce == NULL)
		return acme_fail(r, ANVIL_ERR_BADNONCE, "JWS has no "
		    "anti-replay nonce");
	if (acme_nonce_check(r->ctx, r->jws->nonce, 0) != ANVIL_OK)
		return acme_fail(r, ANVIL_ERR_BADNONCE, "JWS has an invalid "
		    "anti-replay nonce: \"%.64s\"", r->jws->nonce);
	return ANVIL_OK;
}

/* A signature check that failed, as the client reads it. */
static anvil_err
signature_fail(struct auth *a, anvil_err rc)
{
	if (rc == ANVIL_ERR_BADSIGALG)
		return acme_fail(a->r, rc, "%s; accepted algorithms: "
		    JOSE_ALGS, a->err);
	return acme_fail(a->r, rc, "%s", a->err);
}

/* A nonce spend that failed, as the client reads it. */
static anvil_err
spend_fail(struct auth *a, anvil_err rc)
{
	struct acme_req *r = a->r;

	if (rc == ANVIL_ERR_EXISTS)
		return acme_fail(r, ANVIL_ERR_BADNONCE, "JWS has an invalid "
		    "anti-replay nonce: \"%.64s\" was already used",
		    r->jws->nonce);
	if (rc == ANVIL_ERR_BADNONCE)
		return acme_fail(r, rc, "JWS has an invalid anti-replay "
		    "nonce: \"%.64s\" is older than the store's last "
		    "recovery; use the one in this reply", r->jws->nonce);
	/* The store could not record the spend: a 503 to retry, not a
	 * verdict on the nonce. */
	return acme_fail(r, rc, "cannot record the nonce");
}

/* What kid_fn got to: the check that refused, or KID_SPEND past all. */
enum kid_step { KID_LOAD, KID_STATUS, KID_KEY, KID_SIGNATURE, KID_SPEND };

struct kid_txn {
	struct auth *a;
	const char *id;		/* the account's, from the kid URL */
	json_t *rec;		/* the account record */
	enum kid_step step;
};

/*
 * The account by kid, its status, its key's signature on the request and
 * the nonce's spend, in one transaction (issue 22, lever 2): a request
 * that fails a check writes nothing, and the spend costs no transaction
 * of its own. Its only write is the spend, so it runs as
 * store_nonce_spend's own transaction does (store.h).
 */
static anvil_err
kid_fn(struct store_txn *txn, void *arg)
{
	struct kid_txn *k = arg;
	struct auth *a = k->a;
	anvil_err rc;

	/* An attempt store_run repeats starts over. */
	json_decref(k->rec);
	k->rec = NULL;
	jose_jwk_free(a->acct_key);
	a->acct_key = NULL;
	k->step = KID_LOAD;
	if ((rc = store_get(txn, STORE_ACCOUNT, k->id, &k->rec)) != ANVIL_OK)
		return rc;
	k->step = KID_STATUS;
	if (rec_status_get(k->rec) != REC_VALID)
		return ANVIL_ERR_UNAUTHORIZED;
	k->step = KID_KEY;
	if ((rc = jose_jwk_import(json_object_get(k->rec, "jwk"),
	    &a->acct_key, a->err, sizeof(a->err))) != ANVIL_OK)
		return rc;
	k->step = KID_SIGNATURE;
	if ((rc = jose_jws_verify(a->r->jws, a->acct_key, a->err,
	    sizeof(a->err))) != ANVIL_OK)
		return rc;
	k->step = KID_SPEND;
	return acme_nonce_spend_txn(a->r->ctx, txn, a->r->jws->nonce);
}

/*
 * kid: a valid account of this server, whose key must have signed; the
 * nonce is spent here too (kid_fn), and auth_signature and auth_spend
 * have nothing left to do.
 */
static anvil_err
auth_kid(struct auth *a)
{
	struct acme_req *r = a->r;
	struct kid_txn k = { 0 };
	char *acct_prefix = NULL;
	anvil_err rc;

	if (a->how == ACME_AUTH_JWK)
		return acme_fail(r, ANVIL_ERR_MALFORMED, "this request must "
		    "be signed with a JWK, not a key ID");
	if ((acct_prefix = acme_url(r->ctx, "/acct/")) == NULL)
		return acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
	if (strncmp(r->jws->kid, acct_prefix, strlen(acct_prefix)) != 0) {
		rc = acme_fail(r, ANVIL_ERR_MALFORMED, "kid is not an account "
		    "URL of this server");
		goto out;
	}
	k.a = a;
	k.id = r->jws->kid + strlen(acct_prefix);
	rc = store_run(r->ctx->st, STORE_TXN_NOSYNC |
	    STORE_TXN_READ_COMMITTED, kid_fn, &k, NULL, 0);
	if (rc == ANVIL_OK) {
		/* The floor the spend read (acme_nonce_spend_txn). */
		rc = acme_nonce_check(r->ctx, r->jws->nonce, 0);
		if (rc != ANVIL_OK) {
			rc = spend_fail(a, rc);
			goto out;
		}
	} else if (k.step == KID_LOAD && (rc == ANVIL_ERR_NOTFOUND ||
	    rc == ANVIL_ERR_INVALID)) {
		rc = acme_fail(r, ANVIL_ERR_NOACCOUNT, "account %.64s does "
		    "not exist", k.id);
		goto out;
	} else if (k.step == KID_LOAD) {
		rc = acme_fail(r, rc, "cannot read the account");
		goto out;
	} else if (k.step == KID_STATUS) {
		rc = acme_fail(r, ANVIL_ERR_UNAUTHORIZED, "account is "
		    "not valid, it is %s", json_string_value(
		    json_object_get(k.rec, "status")) ?: "?");
		goto out;
	} else if (k.step == KID_KEY) {
		/* A damaged record is ours to fix, not the client's to read
		 * about: the why goes to the log only. */
		log_err("account %s: jose_jwk_import: %s", k.id, a->err);
		rc = acme_fail(r, ANVIL_ERR_STORE, "stored account key "
		    "unreadable");
		goto out;
	} else if (k.step == KID_SIGNATURE) {
		rc = signature_fail(a, rc);
		goto out;
	} else {
		rc = spend_fail(a, rc);
		goto out;
	}
	if ((r->account_id = strdup(k.id)) == NULL) {
		rc = acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	r->account = k.rec;
	k.rec = NULL;
	a->key = a->acct_key;
	a->done = 1;
out:
	json_decref(k.rec);
	free(acct_prefix);
	return rc;
}

/* The key that must have signed: the kid's account key or the jwk. */
static anvil_err
auth_key(struct auth *a)
{
	if (a->r->jws->kid != NULL)
		return auth_kid(a);
	if (a->how == ACME_AUTH_KID)
		return acme_fail(a->r, ANVIL_ERR_MALFORMED, "this request "
		    "must be signed with an account key ID (kid), not a JWK");
	a->key = a->r->jws->jwk;
	return ANVIL_OK;
}

static anvil_err
auth_signature(struct auth *a)
{
	anvil_err rc;

	if (a->done)
		return ANVIL_OK;
	if ((rc = jose_jws_verify(a->r->jws, a->key, a->err,
	    sizeof(a->err))) == ANVIL_OK)
		return ANVIL_OK;
	return signature_fail(a, rc);
}

/*
 * Spend the nonce last: only a request that would be served uses one up,
 * and two copies of it never both get here.
 */
static anvil_err
auth_spend(struct auth *a)
{
	anvil_err rc;

	if (a->done)
		return ANVIL_OK;
	if ((rc = acme_nonce_check(a->r->ctx, a->r->jws->nonce, 1)) ==
	    ANVIL_OK)
		return ANVIL_OK;
	return spend_fail(a, rc);
}

/* A JSON object payload, or none at all (POST-as-GET, §6.3). */
static anvil_err
auth_payload(struct auth *a)
{
	struct acme_req *r = a->r;
	json_error_t jerr;

	if (r->jws->payload_len == 0)
		return ANVIL_OK;
	r->payload = json_loadb((const char *)r->jws->payload,
	    r->jws->payload_len, JSON_REJECT_DUPLICATES, &jerr);
	if (r->payload == NULL) {
		/* jansson's text names its parser's state: log it, and tell
		 * the client where in its own bytes. */
		log_info("json_loadb (payload): %s", jerr.text);
		if (json_error_code(&jerr) == json_error_duplicate_key)
			return acme_fail(r, ANVIL_ERR_MALFORMED, "payload has "
			    "a duplicate member");
		return acme_fail(r, ANVIL_ERR_MALFORMED, "payload is not "
		    "valid JSON (line %d, column %d)", jerr.line, jerr.column);
	}
	if (!json_is_object(r->payload))
		return acme_fail(r, ANVIL_ERR_MALFORMED, "payload is not a "
		    "JSON object");
	return ANVIL_OK;
}

/* The steps of acme_auth in the order they run; the first refusal ends. */
static anvil_err (*const auth_steps[])(struct auth *) = {
	auth_content_type,
	auth_parse,
	auth_url,
	auth_nonce,
	auth_key,
	auth_signature,
	auth_spend,
	auth_payload,
};

anvil_err
acme_auth(struct acme_req *r, enum acme_auth_key how)
{
	struct auth a;
	size_t i;
	anvil_err rc = ANVIL_OK;

	memset(&a, 0, sizeof(a));
	a.r = r;
	a.how = how;
	for (i = 0; i < sizeof(auth_steps) / sizeof(auth_steps[0]); i++)
		if ((rc = auth_steps[i](&a)) != ANVIL_OK)
			break;
	jose_jwk_free(a.acct_key);
	return rc;
}
