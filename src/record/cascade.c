/*
 * cascade.c - the end of a validation carried from the challenge to its
 * authorization and orders in one store transaction (record.h,
 * rec_challenge_result). Apart from record.c so that the status and
 * problem tables link without the store.
 */
#include "config.h"

#include "record/record.h"

/* Reads record id of kind in txn; a missing one (or a malformed id) is
 * *out NULL and ANVIL_OK. */
static anvil_err
get_opt(struct store_txn *txn, enum store_kind kind, const char *id,
    json_t **out)
{
	anvil_err rc;

	*out = NULL;
	if (id == NULL)
		return ANVIL_OK;
	rc = store_get(txn, kind, id, out);
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
		*out = NULL;
		return ANVIL_OK;
	}
	return rc;
}

/* 1 if every authorization order (borrowed) lists is valid at now. */
static anvil_err
all_valid(struct store_txn *txn, json_t *order, time_t now, int *all)
{
	json_t *x;
	size_t i;
	anvil_err rc;

	*all = 1;
	json_array_foreach(json_object_get(order, "authorizations"), i, x) {
		json_t *a = NULL;

		if ((rc = get_opt(txn, STORE_AUTHZ, json_string_value(x),
		    &a)) != ANVIL_OK)
			return rc;
		if (a == NULL || rec_authz_status(a, now) != REC_VALID)
			*all = 0;
		json_decref(a);
		if (!*all)
			break;
	}
	return ANVIL_OK;
}

/* One order of the authorization: ready when all of its authorizations
 * are valid (problem NULL), or invalid with problem; pending ones only. */
static anvil_err
order_result(struct store_txn *txn, const char *oid, json_t *problem,
    time_t now, json_t *changed)
{
	json_t *o = NULL;
	int all = 0;
	anvil_err rc;

	if ((rc = get_opt(txn, STORE_ORDER, oid, &o)) != ANVIL_OK || o == NULL)
		return rc;
	if (rec_order_status(o, now) != REC_PENDING)
		goto out;
	if (problem != NULL) {
		if ((rc = rec_status_set(o, REC_ORDER, REC_INVALID)) != ANVIL_OK)
			goto out;
		json_object_set(o, "error", problem);
	} else {
		if ((rc = all_valid(txn, o, now, &all)) != ANVIL_OK || !all)
			goto out;
		if ((rc = rec_status_set(o, REC_ORDER, REC_READY)) != ANVIL_OK)
			goto out;
	}
	if ((rc = store_put(txn, STORE_ORDER, oid, o, 0)) != ANVIL_OK)
		goto out;
	if (changed != NULL && json_array_append_new(json_object_get(changed,
	    "orders"), json_string(oid)) != 0)
		rc = ANVIL_ERR_NOMEM;
out:
	json_decref(o);
	return rc;
}

anvil_err
rec_challenge_result(struct store_txn *txn, const char *id, json_t *chall,
    json_t *problem, time_t now, json_t **changed)
{
	json_t *a = NULL, *ch = NULL, *x;
	const char *aid;
	size_t i;
	int moved = 0;
	anvil_err rc;

	if (changed != NULL)
		*changed = NULL;
	if ((ch = json_pack("{s:n, s:n, s:[]}", "identifier", "authz",
	    "orders")) == NULL)
		return ANVIL_ERR_NOMEM;
	if (problem == NULL) {
		rc = rec_status_set(chall, REC_CHALLENGE, REC_VALID);
		if (rc == ANVIL_OK)
			json_object_set_new(chall, "validated",
			    json_integer(now));
	} else {
		rc = rec_status_set(chall, REC_CHALLENGE, REC_INVALID);
		if (rc == ANVIL_OK)
			json_object_set(chall, "error", problem);
	}
	if (rc != ANVIL_OK ||
	    (rc = store_put(txn, STORE_CHALLENGE, id, chall, 0)) != ANVIL_OK)
		goto out;
	aid = json_string_value(json_object_get(chall, "authz"));
	if ((rc = get_opt(txn, STORE_AUTHZ, aid, &a)) != ANVIL_OK || a == NULL)
		goto out;
	if (json_object_get(a, "identifier") != NULL)
		json_object_set(ch, "identifier", json_object_get(a,
		    "identifier"));
	if (rec_authz_status(a, now) == REC_PENDING) {
		if ((rc = rec_status_set(a, REC_AUTHZ, problem == NULL ?
		    REC_VALID : REC_INVALID)) != ANVIL_OK)
			goto out;
		if (problem == NULL)
			json_object_set_new(a, "expires", json_integer(now +
			    REC_AUTHZ_VALID_LIFETIME));
		if ((rc = store_put(txn, STORE_AUTHZ, aid, a, 0)) != ANVIL_OK)
			goto out;
		json_object_set_new(ch, "authz", json_string(aid));
		moved = 1;
	}
	/* A failure reaches the orders only through an authorization it made
	 * invalid: one made valid by another challenge keeps its orders
	 * going (RFC 8555 §7.1.6). */
	if (problem != NULL && !moved)
		goto out;
	json_array_foreach(json_object_get(a, "orders"), i, x) {
		const char *oid = json_string_value(x);

		if (oid != NULL && (rc = order_result(txn, oid, problem, now,
		    ch)) != ANVIL_OK)
			goto out;
	}
out:
	if (rc == ANVIL_OK && changed != NULL) {
		*changed = ch;
		ch = NULL;
	}
	json_decref(ch);
	json_decref(a);
	return rc;
}
