/*
 * authz.c - POST <base>/authz/<id>: fetch (POST-as-GET) or deactivate
 * (RFC 8555 §7.5, §7.5.2). Fetching never starts a validation.
 */
#include "config.h"

#include <string.h>

#include "acme/acme_int.h"

struct az {
	struct acme_req *r;
	const char *id;
	int deactivate;
	json_t *out;		/* the authorization as JSON */
	int notmine;
};

static anvil_err
authz_fn(struct store_txn *txn, void *arg)
{
	struct az *a = arg;
	json_t *rec = NULL, *orders, *v;
	const char *owner;
	enum rec_status st;
	size_t i;
	anvil_err rc;

	json_decref(a->out);
	a->out = NULL;
	a->notmine = 0;
	if ((rc = store_get(txn, STORE_AUTHZ, a->id, &rec)) != ANVIL_OK)
		return rc;
	owner = json_string_value(json_object_get(rec, "account"));
	if (owner == NULL || strcmp(owner, a->r->account_id) != 0) {
		a->notmine = 1;
		json_decref(rec);
		return ANVIL_ERR_NOTFOUND;
	}
	st = rec_authz_status(rec, a->r->now);
	if (a->deactivate && (st == REC_PENDING || st == REC_VALID)) {
		if ((rc = rec_status_set(rec, REC_AUTHZ, REC_DEACTIVATED)) ||
		    (rc = store_put(txn, STORE_AUTHZ, a->id, rec, 0))) {
			json_decref(rec);
			return rc;
		}
		/* Orders waiting on it can no longer complete. */
		orders = json_object_get(rec, "orders");
		json_array_foreach(orders, i, v) {
			json_t *o = NULL;
			const char *oid = json_string_value(v);
			enum rec_status os;
			if (oid == NULL || store_get(txn, STORE_ORDER, oid, &o))
				continue;
			os = rec_order_status(o, a->r->now);
			if ((os == REC_PENDING || os == REC_READY) &&
			    (rc = rec_status_set(o, REC_ORDER,
			    REC_INVALID)) == ANVIL_OK)
				rc = store_put(txn, STORE_ORDER, oid, o, 0);
			json_decref(o);
			if (rc != ANVIL_OK) {
				json_decref(rec);
				return rc;
			}
		}
	}
	a->out = acme_authz_json(a->r->ctx, txn, a->id, rec, a->r->now);
	json_decref(rec);
	return a->out ? ANVIL_OK : ANVIL_ERR_NOMEM;
}

anvil_err
acme_authz(struct acme_req *r, const char *id)
{
	struct az a = { r, id, 0, NULL, 0 };
	json_t *status;
	anvil_err rc;

	/* RFC 8555 §7.5.2 gives a payload one meaning, deactivation; a
	 * fetch is a POST-as-GET (§6.3), whose payload is empty. */
	if (r->payload != NULL) {
		status = json_object_get(r->payload, "status");
		if (status == NULL)
			return acme_fail(r, ANVIL_ERR_MALFORMED, "an "
			    "authorization is fetched with an empty payload "
			    "(POST-as-GET) and updated only with "
			    "{\"status\": \"deactivated\"}");
		if (rec_status_parse(json_string_value(status)) !=
		    REC_DEACTIVATED)
			return acme_fail(r, ANVIL_ERR_MALFORMED, "the only "
			    "status a client may set is \"deactivated\"");
		a.deactivate = 1;
	}
	rc = store_run(r->ctx->st, 0, authz_fn, &a, NULL, 0);
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID)
		return acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "no such "
		    "authorization");
	if (rc != ANVIL_OK)
		return acme_fail(r, rc, "cannot read the authorization");
	if (rec_status_get(a.out) == REC_PENDING)
		http_resp_header(r->resp, "Retry-After", ACME_RETRY_AFTER);
	return acme_reply_json(r, 200, a.out);
}
