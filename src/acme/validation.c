/*
 * validation.c - runs one challenge's validation after its reply is out,
 * and records the result in one transaction: the challenge, its
 * authorization, and every order waiting on that authorization (ready once
 * all of its authorizations are valid; invalid when one fails).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/acme_int.h"
#include "core/log.h"
#include "validate/validate.h"

struct vinfo {
	const char *id;
	char type[16];
	char token[128];
	char thumb[64];
	char ident_type[8];
	char ident_value[256];
	int wildcard;
	int skip;		/* not processing: nothing to do */
};

static anvil_err
read_fn(struct store_txn *txn, void *arg)
{
	struct vinfo *v = arg;
	json_t *c = NULL, *a = NULL, *acct = NULL, *ident;
	anvil_err rc;

	v->skip = 0;
	if ((rc = store_get(txn, STORE_CHALLENGE, v->id, &c)) != ANVIL_OK)
		goto out;
	if (strcmp(json_string_value(json_object_get(c, "status")) ?: "",
	    "processing") != 0) {
		v->skip = 1;
		goto out;
	}
	if ((rc = store_get(txn, STORE_AUTHZ, json_string_value(
	    json_object_get(c, "authz")) ?: "", &a)) != ANVIL_OK)
		goto out;
	if ((rc = store_get(txn, STORE_ACCOUNT, json_string_value(
	    json_object_get(c, "account")) ?: "", &acct)) != ANVIL_OK)
		goto out;
	ident = json_object_get(a, "identifier");
	snprintf(v->type, sizeof(v->type), "%s", json_string_value(
	    json_object_get(c, "type")) ?: "");
	snprintf(v->token, sizeof(v->token), "%s", json_string_value(
	    json_object_get(c, "token")) ?: "");
	snprintf(v->thumb, sizeof(v->thumb), "%s", json_string_value(
	    json_object_get(acct, "thumbprint")) ?: "");
	snprintf(v->ident_type, sizeof(v->ident_type), "%s",
	    json_string_value(json_object_get(ident, "type")) ?: "");
	snprintf(v->ident_value, sizeof(v->ident_value), "%s",
	    json_string_value(json_object_get(ident, "value")) ?: "");
	v->wildcard = json_is_true(json_object_get(a, "wildcard"));
out:
	json_decref(c);
	json_decref(a);
	json_decref(acct);
	return rc;
}

struct vresult {
	struct acme_ctx *ctx;
	const char *id;
	anvil_err result;
	const char *detail;
	time_t now;
};

/* The order becomes ready when each of its authorizations is valid. */
static anvil_err
update_order(struct store_txn *txn, struct vresult *v, const char *oid,
    json_t *problem)
{
	json_t *o = NULL, *ids, *x;
	const char *st;
	size_t i;
	int all = 1;
	anvil_err rc;

	if ((rc = store_get(txn, STORE_ORDER, oid, &o)) != ANVIL_OK)
		return rc == ANVIL_ERR_NOTFOUND ? ANVIL_OK : rc;
	st = acme_order_status(o, v->now);
	if (strcmp(st, "pending") != 0) {
		json_decref(o);
		return ANVIL_OK;
	}
	if (problem != NULL) {
		json_object_set_new(o, "status", json_string("invalid"));
		json_object_set(o, "error", problem);
	} else {
		ids = json_object_get(o, "authorizations");
		json_array_foreach(ids, i, x) {
			json_t *a = NULL;
			if (store_get(txn, STORE_AUTHZ, json_string_value(x) ?:
			    "", &a) != ANVIL_OK || strcmp(acme_authz_status(a,
			    v->now), "valid") != 0)
				all = 0;
			json_decref(a);
		}
		if (!all) {
			json_decref(o);
			return ANVIL_OK;
		}
		json_object_set_new(o, "status", json_string("ready"));
	}
	rc = store_put(txn, STORE_ORDER, oid, o, 0);
	json_decref(o);
	return rc;
}

static anvil_err
write_fn(struct store_txn *txn, void *arg)
{
	struct vresult *v = arg;
	json_t *c = NULL, *a = NULL, *problem = NULL, *orders, *x;
	const char *aid;
	size_t i;
	anvil_err rc;

	if ((rc = store_get(txn, STORE_CHALLENGE, v->id, &c)) != ANVIL_OK)
		goto out;
	if (strcmp(json_string_value(json_object_get(c, "status")) ?: "",
	    "processing") != 0)
		goto out;	/* someone else finished it */
	aid = json_string_value(json_object_get(c, "authz"));
	if ((rc = store_get(txn, STORE_AUTHZ, aid ?: "", &a)) != ANVIL_OK)
		goto out;
	if (v->result == ANVIL_OK) {
		json_object_set_new(c, "status", json_string("valid"));
		json_object_set_new(c, "validated", json_integer(v->now));
		if (strcmp(acme_authz_status(a, v->now), "pending") == 0) {
			json_object_set_new(a, "status", json_string("valid"));
			json_object_set_new(a, "expires", json_integer(v->now +
			    ACME_AUTHZ_VALID_LIFETIME));
		}
	} else {
		char type[96];
		snprintf(type, sizeof(type), "urn:ietf:params:acme:error:%s",
		    acme_problem_type(v->result));
		problem = json_pack("{s:s, s:s, s:i}", "type", type, "detail",
		    v->detail, "status", acme_problem_status(v->result));
		json_object_set_new(c, "status", json_string("invalid"));
		json_object_set(c, "error", problem);
		if (strcmp(acme_authz_status(a, v->now), "pending") == 0)
			json_object_set_new(a, "status",
			    json_string("invalid"));
	}
	if ((rc = store_put(txn, STORE_CHALLENGE, v->id, c, 0)) ||
	    (rc = store_put(txn, STORE_AUTHZ, aid, a, 0)))
		goto out;
	orders = json_object_get(a, "orders");
	json_array_foreach(orders, i, x) {
		if ((rc = update_order(txn, v, json_string_value(x) ?: "",
		    problem)) != ANVIL_OK)
			goto out;
	}
out:
	json_decref(problem);
	json_decref(c);
	json_decref(a);
	return rc;
}

anvil_err
acme_validate(struct acme_ctx *ctx, const char *chall_id)
{
	struct vinfo vi;
	struct vresult vr;
	struct val_ident id;
	char keyauth[256], detail[512] = "";
	int t;
	anvil_err rc;

	memset(&vi, 0, sizeof(vi));
	vi.id = chall_id;
	rc = store_run(ctx->st, 0, read_fn, &vi, NULL, 0);
	if (rc != ANVIL_OK || vi.skip)
		return rc;
	snprintf(keyauth, sizeof(keyauth), "%s.%s", vi.token, vi.thumb);
	id.type = vi.ident_type;
	id.value = vi.ident_value;
	t = val_type_parse(vi.type);
	if (t < 0) {
		rc = ANVIL_ERR_MALFORMED;
		snprintf(detail, sizeof(detail), "unknown challenge type %s",
		    vi.type);
	} else
		rc = val_check(ctx->cfg, (enum val_type)t, &id, vi.token,
		    keyauth, detail, sizeof(detail));
	log_info("validation %s of %s %s:%s: %s%s%s", chall_id, vi.type,
	    vi.ident_type, vi.ident_value, rc == ANVIL_OK ? "valid" :
	    acme_problem_type(rc), detail[0] ? ": " : "", detail);
	vr.ctx = ctx;
	vr.id = chall_id;
	vr.result = rc;
	vr.detail = detail;
	vr.now = time(NULL);
	return store_run(ctx->st, 0, write_fn, &vr, NULL, 0);
}
