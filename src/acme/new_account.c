/*
 * new_account.c - POST <base>/new-account (RFC 8555 §7.3): a new account
 * for the JWS key (201), the existing one for a known key (200), or
 * accountDoesNotExist for onlyReturnExisting.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"
#include "acme/contact.h"

struct newacct {
	const char *thumb;
	json_t *rec;		/* new record to create, or NULL to look up */
	const char *id;		/* its id */
	char *found;		/* id of the account holding the key */
	json_t *found_rec;
	struct acme_req *r;
	json_t *eab;		/* externalAccountBinding, borrowed */
	char eab_kid[160];	/* out: the key id bound */
	char why[256];		/* out: why the binding was refused */
};

static anvil_err
newacct_fn(struct store_txn *txn, void *arg)
{
	struct newacct *a = arg;
	anvil_err rc;

	free(a->found);
	a->found = NULL;
	json_decref(a->found_rec);
	a->found_rec = NULL;
	rc = store_account_by_thumbprint(txn, a->thumb, &a->found);
	if (rc == ANVIL_OK)
		return store_get(txn, STORE_ACCOUNT, a->found, &a->found_rec);
	if (rc != ANVIL_ERR_NOTFOUND || a->rec == NULL)
		return rc;
	if (a->eab == NULL && a->r->ctx->cfg->eab_required)
		return ANVIL_ERR_EABREQUIRED;
	if (a->eab != NULL) {
		/* Binding and account commit together, or neither does. */
		rc = acme_eab_bind(a->r, txn, a->eab, a->id, a->eab_kid,
		    sizeof(a->eab_kid), a->why, sizeof(a->why));
		if (rc != ANVIL_OK)
			return rc;
		json_object_set_new(a->rec, "eab_kid", json_string(a->eab_kid));
	}
	return store_put(txn, STORE_ACCOUNT, a->id, a->rec, STORE_PUT_NEW);
}

anvil_err
acme_new_account(struct acme_req *r)
{
	struct newacct a;
	char thumb[44], id[23];
	json_t *contact, *tos, *only;
	char *url = NULL;
	anvil_err rc;

	memset(&a, 0, sizeof(a));
	a.r = r;
	if (r->payload == NULL)
		return acme_fail(r, ANVIL_ERR_MALFORMED, "newAccount needs a "
		    "payload");
	contact = json_object_get(r->payload, "contact");
	tos = json_object_get(r->payload, "termsOfServiceAgreed");
	only = json_object_get(r->payload, "onlyReturnExisting");
	if ((tos != NULL && !json_is_boolean(tos)) ||
	    (only != NULL && !json_is_boolean(only)))
		return acme_fail(r, ANVIL_ERR_MALFORMED, "termsOfServiceAgreed "
		    "and onlyReturnExisting must be booleans");
	if (jose_jwk_thumbprint(r->jws->jwk, thumb) != ANVIL_OK)
		return acme_fail(r, ANVIL_ERR_CRYPTO, "thumbprint failed");
	a.thumb = thumb;

	if (json_is_true(only)) {
		rc = store_run(r->ctx->st, 0, newacct_fn, &a, NULL, 0);
		if (rc == ANVIL_ERR_NOTFOUND) {
			rc = acme_fail(r, ANVIL_ERR_NOACCOUNT, "no account "
			    "exists for this key");
			goto out;
		}
	} else {
		if (contact != NULL && (rc = acme_contact_check(r, contact)))
			goto out;
		if (r->ctx->cfg->terms_of_service[0] != '\0' &&
		    !json_is_true(tos)) {
			/* Only for a new account: look first. */
			rc = store_run(r->ctx->st, 0, newacct_fn, &a, NULL, 0);
			if (rc == ANVIL_ERR_NOTFOUND) {
				rc = acme_fail(r, ANVIL_ERR_MALFORMED, "you "
				    "must agree to the terms of service (%s)",
				    r->ctx->cfg->terms_of_service);
				goto out;
			}
		} else {
			if (acme_new_id(id) != ANVIL_OK) {
				rc = acme_fail(r, ANVIL_ERR_CRYPTO, "no id");
				goto out;
			}
			a.id = id;
			a.rec = rec_account_new(id, thumb, json_is_true(tos),
			    r->now);
			if (a.rec == NULL) {
				rc = acme_fail(r, ANVIL_ERR_NOMEM, "no memory");
				goto out;
			}
			json_object_set_new(a.rec, "jwk",
			    jose_jwk_to_json(r->jws->jwk));
			json_object_set_new(a.rec, "contact", contact ?
			    json_deep_copy(contact) : json_array());
			a.eab = json_object_get(r->payload,
			    "externalAccountBinding");
			rc = store_run(r->ctx->st, 0, newacct_fn, &a, NULL, 0);
			if (rc == ANVIL_ERR_EABREQUIRED) {
				rc = acme_fail(r, rc, "this server requires "
				    "external account binding: ask the "
				    "operator for a key id and HMAC key");
				goto out;
			}
			if ((rc == ANVIL_ERR_MALFORMED ||
			    rc == ANVIL_ERR_UNAUTHORIZED) && a.why[0]) {
				rc = acme_fail(r, rc, "%s", a.why);
				goto out;
			}
		}
	}
	if (rc != ANVIL_OK) {
		rc = acme_fail(r, rc, "cannot store the account");
		goto out;
	}
	if (a.found != NULL && rec_status_get(a.found_rec) != REC_VALID) {
		/* RFC 8555 7.3.6: no further requests authorized by the key
		 * of a deactivated account (Let's Encrypt's wording). */
		rc = acme_fail(r, ANVIL_ERR_UNAUTHORIZED, "An account with the "
		    "provided public key exists but is deactivated");
		goto out;
	}
	if (a.found != NULL) {
		/* The key has an account: 200 + Location, as RFC 8555 says. */
		url = acme_url(r->ctx, "/acct/%s", a.found);
		if (url == NULL || acme_location(r, url) != ANVIL_OK) {
			rc = acme_fail(r, ANVIL_ERR_NOMEM, "no memory");
			goto out;
		}
		rc = acme_reply_json(r, 200, acme_account_json(r->ctx, a.found,
		    a.found_rec));
		goto out;
	}
	audit_event(r->ctx->cfg, r->now, "account.created", json_pack(
	    "{s:s, s:s, s:s}", "account", id, "thumbprint", thumb, "request",
	    r->http->id));
	if (a.eab_kid[0] != '\0')
		audit_event(r->ctx->cfg, r->now, "eab.used", json_pack(
		    "{s:s, s:s, s:s}", "kid", a.eab_kid, "account", id,
		    "request", r->http->id));
	url = acme_url(r->ctx, "/acct/%s", id);
	if (url == NULL || acme_location(r, url) != ANVIL_OK) {
		rc = acme_fail(r, ANVIL_ERR_NOMEM, "no memory");
		goto out;
	}
	rc = acme_reply_json(r, 201, acme_account_json(r->ctx, id, a.rec));
out:
	free(url);
	free(a.found);
	json_decref(a.found_rec);
	json_decref(a.rec);
	return rc;
}
