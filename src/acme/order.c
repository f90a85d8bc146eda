/*
 * order.c - POST-as-GET <base>/order/<id>: the order, to its own account
 * only (another account's order is 404, never its data).
 */
#include "config.h"

#include <string.h>

#include "acme/acme_int.h"

anvil_err
acme_order(struct acme_req *r, const char *id)
{
	json_t *rec = NULL;
	const char *owner;
	anvil_err rc;

	rc = acme_record_load(r->ctx, STORE_ORDER, id, &rec);
	owner = json_string_value(json_object_get(rec, "account"));
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID ||
	    (rc == ANVIL_OK && (owner == NULL || strcmp(owner,
	    r->account_id) != 0))) {
		json_decref(rec);
		return acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "no such order");
	}
	if (rc != ANVIL_OK)
		return acme_fail(r, rc, "cannot read the order");
	if (rec_order_status(rec, r->now) == REC_PROCESSING)
		http_resp_header(r->resp, "Retry-After", ACME_RETRY_AFTER);
	rc = acme_reply_json(r, 200, acme_order_json(r->ctx, id, rec,
	    r->now));
	json_decref(rec);
	return rc;
}
