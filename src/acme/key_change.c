/*
 * key_change.c - POST <base>/key-change (RFC 8555 §7.3.5): the outer JWS
 * signed by the account, the inner one by the new key, naming the account
 * and its old key. A new key another account holds is 409 + Location.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"

struct rollover {
	const char *id;
	const char *thumb;
	json_t *jwk;		/* new key, borrowed */
	char *holder;		/* out: account already holding the key */
	json_t *rec;		/* out: updated account */
};

static anvil_err
rollover_fn(struct store_txn *txn, void *arg)
{
	struct rollover *k = arg;
	anvil_err rc;

	free(k->holder);
	k->holder = NULL;
	json_decref(k->rec);
	k->rec = NULL;
	rc = store_account_by_thumbprint(txn, k->thumb, &k->holder);
	if (rc == ANVIL_OK)
		return ANVIL_ERR_EXISTS;
	if (rc != ANVIL_ERR_NOTFOUND)
		return rc;
	if ((rc = store_get(txn, STORE_ACCOUNT, k->id, &k->rec)) != ANVIL_OK)
		return rc;
	json_object_set(k->rec, "jwk", k->jwk);
	json_object_set_new(k->rec, "thumbprint", json_string(k->thumb));
	return store_put(txn, STORE_ACCOUNT, k->id, k->rec, 0);
}

anvil_err
acme_key_change(struct acme_req *r)
{
	struct jose_jws *inner = NULL;
	struct jose_jwk *old = NULL;
	struct rollover k;
	json_t *ip = NULL, *newjwk = NULL;
	char err[512] = "", thumb[44];
	const char *acct;
	anvil_err rc;

	memset(&k, 0, sizeof(k));
	if (r->payload == NULL)
		return acme_fail(r, ANVIL_ERR_MALFORMED, "keyChange needs an "
		    "inner JWS as payload");
	rc = jose_jws_parse((const char *)r->jws->payload, r->jws->payload_len,
	    &inner, err, sizeof(err));
	if (rc != ANVIL_OK) {
		rc = acme_fail(r, (rc == ANVIL_ERR_BADSIGALG ||
		    rc == ANVIL_ERR_BADPUBKEY) ? rc : ANVIL_ERR_MALFORMED,
		    "inner JWS: %s", err);
		goto out;
	}
	/*
	 * RFC 8555 §7.3.5: "The inner JWS MUST NOT have a "nonce" header
	 * parameter." The outer JWS already carried the one nonce; an inner
	 * one would be a second anti-replay token nobody spends.
	 */
	if (inner->nonce != NULL) {
		rc = acme_fail(r, ANVIL_ERR_MALFORMED, "inner JWS must not "
		    "carry a \"nonce\" header parameter (RFC 8555 section "
		    "7.3.5)");
		goto out;
	}
	if (inner->jwk == NULL || inner->kid != NULL) {
		rc = acme_fail(r, ANVIL_ERR_MALFORMED, "inner JWS must carry "
		    "the new key as jwk");
		goto out;
	}
	if (inner->url == NULL || strcmp(inner->url, r->jws->url) != 0) {
		rc = acme_fail(r, ANVIL_ERR_MALFORMED, "inner JWS url must "
		    "equal the outer url");
		goto out;
	}
	if ((rc = jose_jws_verify(inner, inner->jwk, err, sizeof(err)))) {
		rc = acme_fail(r, rc, "inner JWS: %s", err);
		goto out;
	}
	ip = json_loadb((const char *)inner->payload, inner->payload_len,
	    JSON_REJECT_DUPLICATES, NULL);
	acct = json_string_value(json_object_get(ip, "account"));
	if (!json_is_object(ip) || acct == NULL || strcmp(acct,
	    r->jws->kid) != 0) {
		rc = acme_fail(r, ANVIL_ERR_MALFORMED, "inner payload must "
		    "name this account in \"account\"");
		goto out;
	}
	if (jose_jwk_import(json_object_get(ip, "oldKey"), &old, err,
	    sizeof(err)) != ANVIL_OK) {
		rc = acme_fail(r, ANVIL_ERR_MALFORMED, "inner payload oldKey: "
		    "%s", err);
		goto out;
	}
	{
		struct jose_jwk *cur = NULL;
		int same = jose_jwk_import(json_object_get(r->account, "jwk"),
		    &cur, err, sizeof(err)) == ANVIL_OK &&
		    jose_jwk_equal(cur, old);
		jose_jwk_free(cur);
		if (!same) {
			rc = acme_fail(r, ANVIL_ERR_UNAUTHORIZED, "oldKey is "
			    "not the account's current key");
			goto out;
		}
	}
	if (jose_jwk_equal(old, inner->jwk)) {
		rc = acme_fail(r, ANVIL_ERR_MALFORMED, "the new key is the old "
		    "key");
		goto out;
	}
	if (jose_jwk_thumbprint(inner->jwk, thumb) != ANVIL_OK ||
	    (newjwk = jose_jwk_to_json(inner->jwk)) == NULL) {
		rc = acme_fail(r, ANVIL_ERR_CRYPTO, "cannot read the new key");
		goto out;
	}
	k.id = r->account_id;
	k.thumb = thumb;
	k.jwk = newjwk;
	rc = store_run(r->ctx->st, 0, rollover_fn, &k, NULL, 0);
	if (rc == ANVIL_ERR_EXISTS) {
		char *url = acme_url(r->ctx, "/acct/%s", k.holder ?
		    k.holder : "");
		if (url != NULL)
			acme_location(r, url);
		free(url);
		rc = acme_fail(r, ANVIL_ERR_EXISTS, "the new key already "
		    "belongs to an account");
		goto out;
	}
	if (rc != ANVIL_OK) {
		rc = acme_fail(r, rc, "cannot store the new key");
		goto out;
	}
	audit_event(r->ctx->cfg, r->now, "account.key_changed", json_pack(
	    "{s:s, s:s, s:s}", "account", r->account_id, "thumbprint", thumb,
	    "request", r->http->id));
	rc = acme_reply_json(r, 200, acme_account_json(r->ctx, r->account_id,
	    k.rec));
out:
	free(k.holder);
	json_decref(k.rec);
	json_decref(newjwk);
	json_decref(ip);
	jose_jwk_free(old);
	jose_jws_free(inner);
	return rc;
}
