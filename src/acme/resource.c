/*
 * resource.c - the JSON clients see for accounts, orders, authorizations
 * and challenges, built from the stored records; expiry applied on read.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"

static const char *
str(json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));
	return s ? s : "";
}

static void
set_url(json_t *obj, const char *key, char *url)
{
	json_object_set_new(obj, key, json_string(url ? url : ""));
	free(url);
}

static void
set_time(json_t *obj, const char *key, json_t *rec, const char *rkey)
{
	json_t *t = json_object_get(rec, rkey);
	char buf[32];

	if (json_is_integer(t)) {
		acme_time((time_t)json_integer_value(t), buf);
		json_object_set_new(obj, key, json_string(buf));
	}
}

json_t *
acme_account_json(struct acme_ctx *ctx, const char *id, json_t *rec)
{
	json_t *a = json_object();
	json_t *contact = json_object_get(rec, "contact");

	if (a == NULL)
		return NULL;
	json_object_set_new(a, "status", json_string(str(rec, "status")));
	json_object_set(a, "contact", json_is_array(contact) ? contact :
	    json_array());
	if (json_is_true(json_object_get(rec, "termsOfServiceAgreed")))
		json_object_set_new(a, "termsOfServiceAgreed", json_true());
	set_url(a, "orders", acme_url(ctx, "/acct/%s/orders", id));
	if (json_object_get(rec, "jwk") != NULL)
		json_object_set(a, "key", json_object_get(rec, "jwk"));
	set_time(a, "createdAt", rec, "created");
	return a;
}

json_t *
acme_order_json(struct acme_ctx *ctx, const char *id, json_t *rec, time_t now)
{
	json_t *o = json_object(), *authzs = json_array();
	json_t *ids = json_object_get(rec, "authorizations"), *v;
	enum rec_status status = rec_order_status(rec, now);
	size_t i;

	if (o == NULL || authzs == NULL) {
		json_decref(o);
		json_decref(authzs);
		return NULL;
	}
	json_object_set_new(o, "status", json_string(rec_status_text(rec,
	    status)));
	set_time(o, "expires", rec, "expires");
	json_object_set(o, "identifiers", json_object_get(rec,
	    "identifiers"));
	json_array_foreach(ids, i, v) {
		char *u = acme_url(ctx, "/authz/%s", json_string_value(v));
		json_array_append_new(authzs, json_string(u ? u : ""));
		free(u);
	}
	json_object_set_new(o, "authorizations", authzs);
	/* draft-ietf-acme-profiles: the profile the order will be (or was)
	 * finalized with; orders stored before profiles have none. */
	if (json_is_string(json_object_get(rec, "profile")))
		json_object_set(o, "profile", json_object_get(rec, "profile"));
	set_url(o, "finalize", acme_url(ctx, "/order/%s/finalize", id));
	if (status == REC_VALID && json_is_string(json_object_get(rec,
	    "certificate")))
		set_url(o, "certificate", acme_url(ctx, "/cert/%s",
		    str(rec, "certificate")));
	if (json_is_object(json_object_get(rec, "error")))
		json_object_set(o, "error", json_object_get(rec, "error"));
	/* RFC 9773 §5: the order echoes the certificate it replaces. */
	if (rec_order_replaces(rec) != NULL)
		json_object_set_new(o, "replaces", json_string(
		    rec_order_replaces(rec)));
	return o;
}

json_t *
acme_chall_json(struct acme_ctx *ctx, const char *id, json_t *rec)
{
	json_t *c = json_object();

	if (c == NULL)
		return NULL;
	json_object_set_new(c, "type", json_string(str(rec, "type")));
	set_url(c, "url", acme_url(ctx, "/chall/%s", id));
	json_object_set_new(c, "token", json_string(str(rec, "token")));
	json_object_set_new(c, "status", json_string(str(rec, "status")));
	set_time(c, "validated", rec, "validated");
	/* draft-ietf-acme-dns-persist §4: the names the TXT record may give
	 * as the issuer; they are this CA's CAA identities. */
	if (strcmp(str(rec, "type"), "dns-persist-01") == 0) {
		json_t *names = json_array();
		size_t i;

		for (i = 0; names != NULL && i < ctx->cfg->caa_identities.n;
		    i++)
			json_array_append_new(names, json_string(
			    ctx->cfg->caa_identities.v[i]));
		json_object_set_new(c, "issuer-domain-names", names);
	}
	if (json_is_object(json_object_get(rec, "error")))
		json_object_set(c, "error", json_object_get(rec, "error"));
	return c;
}

json_t *
acme_authz_json(struct acme_ctx *ctx, struct store_txn *txn, const char *id,
    json_t *rec, time_t now)
{
	json_t *a = json_object(), *chs = json_array();
	json_t *ids = json_object_get(rec, "challenges"), *v;
	size_t i;

	if (a == NULL || chs == NULL) {
		json_decref(a);
		json_decref(chs);
		return NULL;
	}
	json_object_set(a, "identifier", json_object_get(rec, "identifier"));
	json_object_set_new(a, "status", json_string(rec_status_text(rec,
	    rec_authz_status(rec, now))));
	set_time(a, "expires", rec, "expires");
	json_array_foreach(ids, i, v) {
		json_t *crec = NULL;
		const char *cid = json_string_value(v);
		if (cid == NULL || store_get(txn, STORE_CHALLENGE, cid, &crec) !=
		    ANVIL_OK)
			continue;
		json_array_append_new(chs, acme_chall_json(ctx, cid, crec));
		json_decref(crec);
	}
	json_object_set_new(a, "challenges", chs);
	if (json_is_true(json_object_get(rec, "wildcard")))
		json_object_set_new(a, "wildcard", json_true());
	return a;
}
