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
	const char *owner, *st;
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
	st = acme_authz_status(rec, a->r->now);
	if (a->deactivate && (strcmp(st, "pending") == 0 ||
	    strcmp(st, "valid") == 0)) {
		json_object_set_new(rec, "status", json_string("deactivated"));
		if ((rc = store_put(txn, STORE_AUTHZ, a->id, rec, 0))) {
			json_decref(rec);
			return rc;
		}
		/* Orders waiting on it can no longer complete. */
		orders = json_object_get(rec, "orders");
		json_array_foreach(orders, i, v) {
			json_t *o = NULL;
			const char *oid = json_string_value(v), *os;
			if (oid == NULL || store_get(txn, STORE_ORDER, oid, &o))
				continue;
			os = acme_order_status(o, a->r->now);
			if (strcmp(os, "pending") == 0 || strcmp(os,
			    "ready") == 0) {
				json_object_set_new(o, "status",
				    json_string("invalid"));
				rc = store_put(txn, STORE_ORDER, oid, o, 0);
			}
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

	if (r->payload != NULL) {
		status = json_object_get(r->payload, "status");
		if (status != NULL) {
			if (!json_is_string(status) || strcmp(
			    json_string_value(status), "deactivated") != 0)
				return acme_fail(r, ANVIL_ERR_MALFORMED, "the "
				    "only status a client may set is "
				    "\"deactivated\"");
			a.deactivate = 1;
		}
	}
	rc = store_run(r->ctx->st, 0, authz_fn, &a, NULL, 0);
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID)
		return acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "no such "
		    "authorization");
	if (rc != ANVIL_OK)
		return acme_fail(r, rc, "cannot read the authorization");
	if (strcmp(json_string_value(json_object_get(a.out, "status")) ?: "",
	    "pending") == 0)
		http_resp_header(r->resp, "Retry-After", ACME_RETRY_AFTER);
	return acme_reply_json(r, 200, a.out);
}
