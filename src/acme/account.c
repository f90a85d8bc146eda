/*
 * account.c - POST <base>/acct/<id>: fetch (POST-as-GET), update contacts,
 * deactivate (RFC 8555 §7.3.2, §7.3.6); and POST <base>/acct/<id>/orders
 * (§7.1.2.1), the account's orders, 50 a page with Link rel="next".
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"
#include "acme/contact.h"

struct upd {
	const char *id;
	json_t *contact;	/* borrowed; NULL: unchanged */
	int deactivate;
	json_t *rec;		/* out */
};

static anvil_err
update_fn(struct store_txn *txn, void *arg)
{
	struct upd *u = arg;
	anvil_err rc;

	json_decref(u->rec);
	u->rec = NULL;
	if ((rc = store_get(txn, STORE_ACCOUNT, u->id, &u->rec)) != ANVIL_OK)
		return rc;
	if (u->contact != NULL)
		json_object_set_new(u->rec, "contact",
		    json_deep_copy(u->contact));
	if (u->deactivate &&
	    (rc = rec_status_set(u->rec, REC_ACCOUNT, REC_DEACTIVATED)))
		return rc;
	if (u->contact == NULL && !u->deactivate)
		return ANVIL_OK;
	return store_put(txn, STORE_ACCOUNT, u->id, u->rec, 0);
}

anvil_err
acme_account(struct acme_req *r, const char *id)
{
	struct upd u = { id, NULL, 0, NULL };
	json_t *status;
	anvil_err rc;

	if (strcmp(r->account_id, id) != 0)
		return acme_fail(r, ANVIL_ERR_UNAUTHORIZED, "this is not your "
		    "account");
	if (r->payload != NULL) {
		status = json_object_get(r->payload, "status");
		u.contact = json_object_get(r->payload, "contact");
		if (status != NULL) {
			if (rec_status_parse(json_string_value(status)) !=
			    REC_DEACTIVATED)
				return acme_fail(r, ANVIL_ERR_MALFORMED, "the "
				    "only status a client may set is "
				    "\"deactivated\"");
			u.deactivate = 1;
		}
		if (u.contact != NULL &&
		    (rc = acme_contact_check(r, u.contact)) != ANVIL_OK)
			return rc;
	}
	rc = store_run(r->ctx->st, 0, update_fn, &u, NULL, 0);
	if (rc != ANVIL_OK) {
		json_decref(u.rec);
		return acme_fail(r, rc, "cannot update the account");
	}
	if (u.deactivate)
		audit_event(r->ctx->cfg, r->now, "account.deactivated",
		    json_pack("{s:s, s:s, s:s}", "account", id, "by", "account",
		    "request", r->http->id));
	rc = acme_reply_json(r, 200, acme_account_json(r->ctx, id, u.rec));
	json_decref(u.rec);
	return rc;
}

struct list {
	const char *id;
	const char *after;
	char **ids;
	size_t n;
};

static anvil_err
list_fn(struct store_txn *txn, void *arg)
{
	struct list *l = arg;

	store_ids_free(l->ids, l->n);
	l->ids = NULL;
	l->n = 0;
	return store_list_by_account(txn, STORE_ORDER, l->id, l->after,
	    ACME_ORDERS_PAGE + 1, &l->ids, &l->n);
}

anvil_err
acme_account_orders(struct acme_req *r, const char *id, const char *after)
{
	struct list l = { id, after, NULL, 0 };
	json_t *urls, *body;
	size_t i, shown;
	anvil_err rc;

	if (strcmp(r->account_id, id) != 0)
		return acme_fail(r, ANVIL_ERR_UNAUTHORIZED, "this is not your "
		    "account");
	rc = store_run(r->ctx->st, 0, list_fn, &l, NULL, 0);
	if (rc != ANVIL_OK)
		return acme_fail(r, rc, "cannot list orders");
	shown = l.n > ACME_ORDERS_PAGE ? ACME_ORDERS_PAGE : l.n;
	urls = json_array();
	for (i = 0; urls != NULL && i < shown; i++) {
		char *u = acme_url(r->ctx, "/order/%s", l.ids[i]);
		json_array_append_new(urls, json_string(u ? u : ""));
		free(u);
	}
	if (l.n > ACME_ORDERS_PAGE) {
		char *next = acme_url(r->ctx, "/acct/%s/orders/%s", id,
		    l.ids[shown - 1]);
		if (next != NULL)
			acme_link(r, next, "next");
		free(next);
	}
	store_ids_free(l.ids, l.n);
	body = json_object();
	if (body != NULL)
		json_object_set_new(body, "orders", urls);
	else
		json_decref(urls);
	return acme_reply_json(r, 200, body);
}
