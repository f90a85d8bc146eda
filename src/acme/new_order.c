/*
 * new_order.c - POST <base>/new-order (RFC 8555 §7.4; RFC 8738 for IP
 * identifiers): identifiers normalised, each failing one reported as a
 * subproblem; an authorization reused while it is valid for the same
 * account and identifier, else created with its challenges (dns-01 only
 * for a wildcard; no dns-01 for an IP address). 201 + Location.
 * The order expires with the earliest of its authorizations, never after.
 * A "profile" (draft-ietf-acme-profiles) must be one of meta.profiles and
 * admit the order's identifiers; no profile means the default one. The
 * order stores and shows the profile it will be finalized with.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"
#include "core/util.h"

struct ident {
	const char *type;
	const char *value;	/* as in the order: "*.example.org" */
	const char *base;	/* without "*.": the authorization's value */
	int wildcard;
};

struct neworder {
	const struct anvil_config *cfg;
	const char *account;
	time_t now;
	struct ident *ids;
	size_t n;
	const char *rep_certid;	/* "replaces" as sent, or NULL */
	const char *rep_serial;	/* the serial it names */
	const char *profile;	/* NULL: none stored */
	char order_id[23];
	json_t *order;		/* out */
	char why[200];		/* out: why replaces was refused */
};

static json_t *
new_challenge(struct store_txn *txn, const char *type, const char *authz,
    const char *account, anvil_err *rc)
{
	unsigned char rnd[32];
	char id[23], *token = NULL;
	json_t *rec;

	if (acme_new_id(id) != ANVIL_OK || util_random(rnd, sizeof(rnd)) !=
	    ANVIL_OK || b64u_encode(rnd, sizeof(rnd), &token) != ANVIL_OK) {
		*rc = ANVIL_ERR_CRYPTO;
		return NULL;
	}
	rec = rec_challenge_new(id, type, token, authz, account);
	free(token);
	if (rec == NULL) {
		*rc = ANVIL_ERR_NOMEM;
		return NULL;
	}
	if ((*rc = store_put(txn, STORE_CHALLENGE, id, rec, STORE_PUT_NEW))) {
		json_decref(rec);
		return NULL;
	}
	json_decref(rec);
	return json_string(id);
}

/* The id of a reusable authorization, or a new one; appends order_id to
 * its "orders". *valid set when it is already valid; its expiry into
 * *expires. */
static anvil_err
authz_for(struct neworder *o, struct store_txn *txn, const struct ident *id,
    char out[23], int *valid, json_int_t *expires)
{
	const char *acct = o->account;
	char **ids = NULL;
	size_t n = 0, i;
	json_t *rec = NULL, *chs, *orders;
	anvil_err rc;

	*valid = 0;
	rc = store_authz_by_identifier(txn, acct, id->type, id->base, &ids, &n);
	if (rc != ANVIL_OK)
		return rc;
	for (i = 0; i < n && rec == NULL; i++) {
		json_t *a = NULL;
		if (store_get(txn, STORE_AUTHZ, ids[i], &a) != ANVIL_OK)
			continue;
		if (rec_authz_status(a, o->now) == REC_VALID &&
		    json_is_true(json_object_get(a, "wildcard")) ==
		    (id->wildcard != 0) && json_integer_value(json_object_get(
		    a, "expires")) > (json_int_t)o->now + 86400) {
			rec = a;
			snprintf(out, 23, "%s", ids[i]);
			*valid = 1;
		} else
			json_decref(a);
	}
	store_ids_free(ids, n);

	if (rec == NULL) {
		/* Which types are offered is configuration (anvil.conf(5),
		 * [validation] challenges_*), in this fixed order. */
		static const struct {
			unsigned bit;
			const char *name;
		} all[] = {
			{ CONFIG_CHALL_HTTP01, "http-01" },
			{ CONFIG_CHALL_DNS01, "dns-01" },
			{ CONFIG_CHALL_TLSALPN01, "tls-alpn-01" },
			{ CONFIG_CHALL_DNSACCOUNT01, "dns-account-01" },
			{ CONFIG_CHALL_DNSPERSIST01, "dns-persist-01" },
		};
		const char *types[sizeof(all) / sizeof(all[0])];
		/* The order's profile says (it inherits [validation]'s);
		 * no config (unit tests): anvil.conf(5)'s defaults. */
		const struct config_profile *prof = o->cfg != NULL ?
		    config_profile_find(o->cfg, o->profile) : NULL;
		unsigned bits = prof != NULL ? prof->challenges_dns :
		    CONFIG_CHALL_HTTP01 | CONFIG_CHALL_DNS01 |
		    CONFIG_CHALL_TLSALPN01;
		size_t nt = 0;

		if (id->wildcard)
			bits = prof != NULL ? prof->challenges_wildcard :
			    CONFIG_CHALL_DNS01;
		else if (strcmp(id->type, "ip") == 0)
			bits = prof != NULL ? prof->challenges_ip :
			    CONFIG_CHALL_HTTP01 | CONFIG_CHALL_TLSALPN01;
		for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			if (bits & all[i].bit)
				types[nt++] = all[i].name;
		if (acme_new_id(out) != ANVIL_OK)
			return ANVIL_ERR_CRYPTO;
		rec = rec_authz_new(out, acct, id->type, id->base,
		    id->wildcard, o->now + ACME_AUTHZ_PENDING_LIFETIME);
		if (rec == NULL)
			return ANVIL_ERR_NOMEM;
		chs = json_object_get(rec, "challenges");
		for (i = 0; i < nt; i++) {
			json_t *cid = new_challenge(txn, types[i], out, acct,
			    &rc);
			if (cid == NULL) {
				json_decref(rec);
				return rc;
			}
			json_array_append_new(chs, cid);
		}
	}
	orders = json_object_get(rec, "orders");
	if (!json_is_array(orders)) {
		orders = json_array();
		json_object_set_new(rec, "orders", orders);
	}
	json_array_append_new(orders, json_string(o->order_id));
	*expires = json_integer_value(json_object_get(rec, "expires"));
	rc = store_put(txn, STORE_AUTHZ, out, rec, 0);
	json_decref(rec);
	return rc;
}

/* 1 if certificate record cert names one of the order's identifiers. */
static int
shares_identifier(const struct neworder *o, json_t *cert)
{
	json_t *v;
	size_t i, j;

	json_array_foreach(json_object_get(cert, "identifiers"), i, v) {
		const char *t = json_string_value(json_object_get(v, "type"));
		const char *val = json_string_value(json_object_get(v,
		    "value"));
		for (j = 0; t != NULL && val != NULL && j < o->n; j++)
			if (strcmp(t, o->ids[j].type) == 0 &&
			    strcmp(val, o->ids[j].value) == 0)
				return 1;
	}
	return 0;
}

/*
 * RFC 9773 §5: the certificate an order replaces must be this account's,
 * share an identifier with the order, and not be held by another order
 * that is not invalid (one finalized, or one still under way; an order
 * that failed or expired lets go). The certificate is then marked as
 * held by this order, in the transaction that stores the order, so two
 * orders racing for it cannot both win. ANVIL_ERR_MALFORMED or
 * ANVIL_ERR_ALREADYREPLACED with o->why; a store error.
 */
static anvil_err
replaces_take(struct neworder *o, struct store_txn *txn)
{
	json_t *cert = NULL, *holder = NULL, *by;
	const char *owner, *hid;
	anvil_err rc;

	rc = store_get(txn, STORE_CERT, o->rep_serial, &cert);
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
		snprintf(o->why, sizeof(o->why), "replaces names no "
		    "certificate this CA issued");
		rc = ANVIL_ERR_MALFORMED;
		goto out;
	}
	if (rc != ANVIL_OK)
		goto out;
	owner = json_string_value(json_object_get(cert, "account"));
	/* Another account's certificate reads as unknown: its existence
	 * is not this account's business. */
	if (owner == NULL || strcmp(owner, o->account) != 0) {
		snprintf(o->why, sizeof(o->why), "replaces names no "
		    "certificate this CA issued");
		rc = ANVIL_ERR_MALFORMED;
		goto out;
	}
	if (!shares_identifier(o, cert)) {
		snprintf(o->why, sizeof(o->why), "the certificate replaces "
		    "names shares no identifier with this order");
		rc = ANVIL_ERR_MALFORMED;
		goto out;
	}
	by = rec_cert_replaced_by(cert);
	hid = json_string_value(json_object_get(by, "order"));
	if (hid != NULL) {
		if (json_object_get(by, "certificate") != NULL)
			rc = ANVIL_ERR_ALREADYREPLACED;
		else {
			rc = store_get(txn, STORE_ORDER, hid, &holder);
			if (rc == ANVIL_OK && rec_order_status(holder, o->now) !=
			    REC_INVALID)
				rc = ANVIL_ERR_ALREADYREPLACED;
			else if (rc == ANVIL_OK || rc == ANVIL_ERR_NOTFOUND ||
			    rc == ANVIL_ERR_INVALID)
				rc = ANVIL_OK;
		}
		if (rc == ANVIL_ERR_ALREADYREPLACED) {
			snprintf(o->why, sizeof(o->why), "the certificate is "
			    "already replaced by order %s", hid);
			goto out;
		}
		if (rc != ANVIL_OK)
			goto out;
	}
	if ((rc = rec_cert_replacing(cert, o->order_id, o->now)) != ANVIL_OK)
		goto out;
	rc = store_put(txn, STORE_CERT, o->rep_serial, cert, 0);
out:
	json_decref(holder);
	json_decref(cert);
	return rc;
}

/* One transaction: the order, its authorizations reused or created. */
static anvil_err
neworder_fn(struct store_txn *txn, void *arg)
{
	struct neworder *o = arg;
	json_t *authzs, *idents;
	size_t i;
	int all_valid = 1, valid;
	json_int_t expires = (json_int_t)o->now + ACME_ORDER_LIFETIME, ae = 0;
	anvil_err rc;

	json_decref(o->order);
	o->order = NULL;
	o->why[0] = '\0';
	if (acme_new_id(o->order_id) != ANVIL_OK)
		return ANVIL_ERR_CRYPTO;
	if (o->rep_serial != NULL && (rc = replaces_take(o, txn)) != ANVIL_OK)
		return rc;
	authzs = json_array();
	idents = json_array();
	for (i = 0; authzs && idents && i < o->n; i++) {
		char aid[23];
		if ((rc = authz_for(o, txn, &o->ids[i], aid, &valid, &ae))) {
			json_decref(authzs);
			json_decref(idents);
			return rc;
		}
		/* The order ends no later than any authorization it rests on
		 * (a reused one may have as little as a day left): an order
		 * past that would be "ready" on an expired authorization. */
		if (ae > 0 && ae < expires)
			expires = ae;
		all_valid &= valid;
		json_array_append_new(authzs, json_string(aid));
		json_array_append_new(idents, json_pack("{s:s, s:s}", "type",
		    o->ids[i].type, "value", o->ids[i].value));
	}
	o->order = rec_order_new(o->order_id, o->account, all_valid,
	    (time_t)expires, o->now, idents, authzs, o->profile);
	if (o->order == NULL)
		return ANVIL_ERR_NOMEM;
	if (o->rep_serial != NULL && rec_order_set_replaces(o->order,
	    o->rep_certid, o->rep_serial) != ANVIL_OK)
		return ANVIL_ERR_NOMEM;
	return store_put(txn, STORE_ORDER, o->order_id, o->order,
	    STORE_PUT_NEW);
}

anvil_err
acme_order_create(struct store *st, const char *account, time_t now,
    const struct acme_order_ident *ids, size_t n, const char *profile,
    char order_id[23], json_t **order)
{
	return acme_order_create_replacing(st, account, now, ids, n, profile,
	    NULL, NULL, order_id, order, NULL, 0);
}

static anvil_err
order_create(const struct anvil_config *cfg, struct store *st,
    const char *account, time_t now, const struct acme_order_ident *ids,
    size_t n, const char *profile, const char *certid, const char *serial,
    char order_id[23], json_t **order, char *why, size_t whylen)
{
	struct neworder o;
	size_t i;
	anvil_err rc;

	*order = NULL;
	memset(&o, 0, sizeof(o));
	o.cfg = cfg;
	o.account = account;
	o.now = now;
	o.n = n;
	o.rep_certid = certid;
	o.rep_serial = certid != NULL ? serial : NULL;
	o.profile = profile;
	if ((o.ids = calloc(n ? n : 1, sizeof(*o.ids))) == NULL)
		return ANVIL_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		o.ids[i].type = ids[i].type;
		o.ids[i].value = ids[i].value;
		o.ids[i].wildcard = strcmp(ids[i].type, "dns") == 0 &&
		    strncmp(ids[i].value, "*.", 2) == 0;
		o.ids[i].base = ids[i].value + (o.ids[i].wildcard ? 2 : 0);
	}
	rc = store_run(st, 0, neworder_fn, &o, NULL, 0);
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", o.why);
	if (rc == ANVIL_OK) {
		snprintf(order_id, 23, "%s", o.order_id);
		*order = o.order;
		o.order = NULL;
	}
	json_decref(o.order);
	free(o.ids);
	return rc;
}

anvil_err
acme_order_create_replacing(struct store *st, const char *account,
    time_t now, const struct acme_order_ident *ids, size_t n,
    const char *profile, const char *certid, const char *serial,
    char order_id[23],
    json_t **order, char *why, size_t whylen)
{
	return order_create(NULL, st, account, now, ids, n, profile, certid,
	    serial, order_id, order, why, whylen);
}

/*
 * The payload's "replaces" (RFC 9773 §5), if any, into *certid (borrowed
 * from the payload) and the serial it names. A certID that is malformed
 * or names another CA's key is refused here, before any store access;
 * the rest is checked in the order's transaction (replaces_take).
 */
static anvil_err
replaces_parse(struct acme_req *r, const char **certid,
    char serial[2 * REC_SERIAL_MAX + 1])
{
	json_t *v = json_object_get(r->payload, "replaces");
	unsigned char kid[REC_KEYID_MAX];
	size_t kidlen = 0;
	char why[160] = "";

	*certid = NULL;
	serial[0] = '\0';
	if (v == NULL)
		return ANVIL_OK;
	if (!json_is_string(v))
		return acme_fail(r, ANVIL_ERR_MALFORMED, "replaces must be a "
		    "certID string");
	if (rec_certid_parse(json_string_value(v), kid, &kidlen, serial, why,
	    sizeof(why)) != ANVIL_OK)
		return acme_fail(r, ANVIL_ERR_MALFORMED, "replaces: %s", why);
	/* A certificate of any generation may be replaced. */
	if (ca_generation_by_key_id(r->ctx->ca, kid, kidlen) == NULL)
		return acme_fail(r, ANVIL_ERR_MALFORMED, "replaces names a "
		    "certificate of another CA");
	*certid = json_string_value(v);
	return ANVIL_OK;
}

anvil_err
acme_new_order(struct acme_req *r)
{
	struct acme_order_ident *ids = NULL;
	json_t *list, *v, *order = NULL;
	anvil_err rc, first = ANVIL_OK;
	char first_why[640] = "", order_id[23];
	char *url = NULL, rep_serial[2 * REC_SERIAL_MAX + 1], rep_why[200];
	const char *rep = NULL;
	json_t *gpol = NULL, *kpol = NULL, *pv;
	const struct config_profile *prof;
	size_t i, j, n = 0;

	if (r->payload == NULL)
		return acme_fail(r, ANVIL_ERR_MALFORMED, "newOrder needs a "
		    "payload");
	if ((rc = replaces_parse(r, &rep, rep_serial)) != ANVIL_OK)
		return rc;
	if (json_object_get(r->payload, "notBefore") != NULL ||
	    json_object_get(r->payload, "notAfter") != NULL)
		return acme_fail(r, ANVIL_ERR_MALFORMED, "notBefore and "
		    "notAfter are not supported");
	/* A profile the directory does not offer is refused before anything
	 * is looked up or stored. */
	pv = json_object_get(r->payload, "profile");
	if (pv != NULL && !json_is_string(pv))
		return acme_fail(r, ANVIL_ERR_MALFORMED, "profile must be a "
		    "string");
	if (config_profile_find(r->ctx->cfg, json_string_value(pv)) == NULL)
		return acme_fail(r, ANVIL_ERR_INVALIDPROFILE, "no profile "
		    "\"%.64s\": see meta.profiles in the directory",
		    json_string_value(pv));
	list = json_object_get(r->payload, "identifiers");
	if (!json_is_array(list) || json_array_size(list) == 0)
		return acme_fail(r, ANVIL_ERR_MALFORMED, "identifiers must be a "
		    "non-empty array");
	if (json_array_size(list) > ACME_MAX_IDENTIFIERS)
		return acme_fail(r, ANVIL_ERR_REJECTEDID, "at most %d "
		    "identifiers in one order", ACME_MAX_IDENTIFIERS);
	if ((ids = calloc(json_array_size(list), sizeof(*ids))) == NULL)
		return acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
	/* Name policy: the server's, and that of the account's EAB key. */
	/* Only a policy that is not there is no policy: a store that failed
	 * (a database away) must not let an order past it. */
	if ((rc = acme_record_load(r->ctx, STORE_POLICY, "global", &gpol)) !=
	    ANVIL_OK) {
		gpol = NULL;
		if (rc != ANVIL_ERR_NOTFOUND) {
			rc = acme_fail(r, rc, "cannot read the name policy");
			goto out;
		}
	}
	{
		const char *kid = json_string_value(json_object_get(r->account,
		    "eab_kid"));
		char pid[200];
		if (kid != NULL) {
			snprintf(pid, sizeof(pid), "eab:%s", kid);
			if ((rc = acme_record_load(r->ctx, STORE_POLICY, pid,
			    &kpol)) != ANVIL_OK) {
				kpol = NULL;
				if (rc != ANVIL_ERR_NOTFOUND) {
					rc = acme_fail(r, rc, "cannot read "
					    "the name policy");
					goto out;
				}
			}
		}
	}

	/* The EAB key's policy may narrow the profiles its accounts get. */
	prof = acme_policy_profile(r->ctx->cfg, kpol, json_string_value(pv),
	    &rc, first_why, sizeof(first_why));
	if (prof == NULL) {
		if (kpol != NULL)
			audit_event(r->ctx->cfg, r->now, "policy.refused",
			    json_pack("{s:s, s:s?, s:s, s:s}", "account",
			    r->account_id, "profile", json_string_value(pv),
			    "reason", first_why, "request", r->http->id));
		rc = acme_fail(r, rc, "%s", first_why);
		goto out;
	}
	first_why[0] = '\0';

	json_array_foreach(list, i, v) {
		struct acme_order_ident *id = &ids[n];
		char why[300];
		anvil_err e = acme_ident_normalise(v, id->type, id->value, why,
		    sizeof(why));
		if (e == ANVIL_OK &&
		    (e = acme_policy_check(gpol, kpol, id->type, id->value,
		    why, sizeof(why))) != ANVIL_OK)
			audit_event(r->ctx->cfg, r->now, "policy.refused",
			    json_pack("{s:s, s:{s:s, s:s}, s:s, s:s}",
			    "account", r->account_id, "identifier", "type",
			    id->type, "value", id->value, "reason", why,
			    "request", r->http->id));
		if (e != ANVIL_OK) {
			json_t *sub = rec_problem(e, why);
			const char *val = json_string_value(json_object_get(v,
			    "value"));
			const char *t = json_string_value(json_object_get(v,
			    "type"));
			if (r->subproblems == NULL)
				r->subproblems = json_array();
			if (sub != NULL)
				json_object_set_new(sub, "identifier",
				    json_pack("{s:s, s:s}", "type", t ? t : "",
				    "value", val ? val : ""));
			json_array_append_new(r->subproblems, sub);
			if (first == ANVIL_OK) {
				first = e;
				snprintf(first_why, sizeof(first_why), "%s: %s",
				    val ? val : "?", why);
			}
			continue;
		}
		for (j = 0; j < n; j++)
			if (strcmp(ids[j].type, id->type) == 0 &&
			    strcmp(ids[j].value, id->value) == 0)
				break;
		if (j == n)
			n++;
	}
	if (first != ANVIL_OK) {
		size_t nsub = json_array_size(r->subproblems);
		rc = acme_fail(r, first, "%s%s", nsub > 1 ?
		    "several identifiers refused, first: " : "", first_why);
		goto out;
	}
	/* Once the identifiers are normalised and distinct. */
	if ((rc = acme_policy_profile_admits(prof, ids, n, first_why,
	    sizeof(first_why))) != ANVIL_OK) {
		rc = acme_fail(r, rc, "%s", first_why);
		goto out;
	}
	rc = order_create(r->ctx->cfg, r->ctx->st, r->account_id, r->now,
	    ids, n, prof->name, rep, rep_serial, order_id, &order, rep_why,
	    sizeof(rep_why));
	if (rc == ANVIL_ERR_MALFORMED || rc == ANVIL_ERR_ALREADYREPLACED) {
		rc = acme_fail(r, rc, "%s", rep_why);
		goto out;
	}
	if (rc != ANVIL_OK) {
		rc = acme_fail(r, rc, "cannot create the order");
		goto out;
	}
	if ((url = acme_url(r->ctx, "/order/%s", order_id)) == NULL ||
	    acme_location(r, url) != ANVIL_OK) {
		rc = acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = acme_reply_json(r, 201, acme_order_json(r->ctx, order_id, order,
	    r->now));
out:
	json_decref(gpol);
	json_decref(kpol);
	free(url);
	free(ids);
	json_decref(order);
	return rc;
}
