/*
 * challenge.c - POST <base>/chall/<id> (RFC 8555 §7.5.1): "{}" asks for
 * validation: a pending challenge of a pending authorization becomes
 * "processing" and is queued in the same transaction, the reply goes out,
 * and only then is a validation runner kicked (the router hands the id
 * back to the program's loop; runner.c). A challenge already processing,
 * valid or invalid is returned as it is; POST-as-GET only reads. A full
 * queue is rateLimited and changes nothing.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"

struct ch {
	struct acme_req *r;
	const char *id;
	int start;		/* payload {}: start validation */
	json_t *rec;		/* out */
	char authz[64];		/* out */
	int started;		/* out */
};

static anvil_err
chall_fn(struct store_txn *txn, void *arg)
{
	struct ch *c = arg;
	json_t *az = NULL;
	const char *owner, *aid;
	anvil_err rc;

	json_decref(c->rec);
	c->rec = NULL;
	c->started = 0;
	if ((rc = store_get(txn, STORE_CHALLENGE, c->id, &c->rec)))
		return rc;
	owner = json_string_value(json_object_get(c->rec, "account"));
	aid = json_string_value(json_object_get(c->rec, "authz"));
	if (owner == NULL || aid == NULL || strcmp(owner,
	    c->r->account_id) != 0)
		return ANVIL_ERR_NOTFOUND;
	snprintf(c->authz, sizeof(c->authz), "%s", aid);
	if (!c->start)
		return ANVIL_OK;
	/* Processing: queued, or in a runner's hands. The kick after the
	 * reply nudges the runners; an entry lost with an old process (none
	 * in the queue, started long ago) is queued again. */
	if (rec_status_get(c->rec) == REC_PROCESSING) {
		json_t *q = NULL;
		c->started = 1;
		rc = store_get(txn, STORE_VALQ, c->id, &q);
		json_decref(q);
		if (rc != ANVIL_ERR_NOTFOUND)
			return rc;
		if (json_integer_value(json_object_get(c->rec, "started")) +
		    3 * (json_int_t)c->r->ctx->cfg->timeout >=
		    (json_int_t)c->r->now)
			return ANVIL_OK;
		json_object_set_new(c->rec, "started", json_integer(c->r->now));
		if ((rc = store_put(txn, STORE_CHALLENGE, c->id, c->rec, 0)))
			return rc;
		return acme_valq_add(txn, c->r->ctx->cfg, c->id, c->r->now);
	}
	if (rec_status_get(c->rec) != REC_PENDING)
		return ANVIL_OK;
	if ((rc = store_get(txn, STORE_AUTHZ, aid, &az)) != ANVIL_OK)
		return rc;
	if (rec_authz_status(az, c->r->now) != REC_PENDING) {
		json_decref(az);
		return ANVIL_OK;
	}
	json_decref(az);
	if ((rc = rec_status_set(c->rec, REC_CHALLENGE, REC_PROCESSING)))
		return rc;
	json_object_set_new(c->rec, "started", json_integer(c->r->now));
	if ((rc = store_put(txn, STORE_CHALLENGE, c->id, c->rec, 0)) ||
	    (rc = acme_valq_add(txn, c->r->ctx->cfg, c->id, c->r->now)))
		return rc;
	c->started = 1;
	return ANVIL_OK;
}

anvil_err
acme_challenge(struct acme_req *r, const char *id)
{
	struct ch c;
	char *up = NULL;
	anvil_err rc;

	memset(&c, 0, sizeof(c));
	c.r = r;
	c.id = id;
	c.start = r->payload != NULL;
	rc = store_run(r->ctx->st, 0, chall_fn, &c, NULL, 0);
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
		json_decref(c.rec);
		return acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "no such challenge");
	}
	if (rc == ANVIL_ERR_RATELIMITED) {
		json_decref(c.rec);
		http_resp_header(r->resp, "Retry-After", ACME_RETRY_AFTER);
		return acme_fail(r, rc, "%u validations are waiting already; "
		    "try again later", r->ctx->cfg->queue_max);
	}
	if (rc != ANVIL_OK) {
		json_decref(c.rec);
		return acme_fail(r, rc, "cannot update the challenge");
	}
	if (c.started && (r->validate = strdup(id)) == NULL) {
		json_decref(c.rec);
		return acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
	}
	if ((up = acme_url(r->ctx, "/authz/%s", c.authz)) != NULL)
		acme_link(r, up, "up");
	free(up);
	if (rec_status_get(c.rec) == REC_PROCESSING)
		http_resp_header(r->resp, "Retry-After", ACME_RETRY_AFTER);
	rc = acme_reply_json(r, 200, acme_chall_json(r->ctx, id, c.rec));
	json_decref(c.rec);
	return rc;
}
