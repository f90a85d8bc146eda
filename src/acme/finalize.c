/*
 * finalize.c - POST <base>/order/<id>/finalize (RFC 8555 §7.4): the ten
 * CSR checks, then issuance in the same transaction that makes the order
 * valid, so the reply already carries the certificate URL. The order's
 * authorizations are read again in that transaction: "ready" was true
 * when the last of them became valid, and one may have expired since.
 * The order's profile (the default for an order stored without one)
 * gives the certificate its lifetime, key usages and subject.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "acme/acme_int.h"
#include "core/log.h"
#include "publish/publish.h"
#include "validate/validate.h"

#define MAX_SERIAL_TRIES 4

struct fin {
	struct acme_req *r;
	const char *id;
	struct ca_csr *csr;
	struct ca_ident *ids;
	size_t nids;
	json_t *order;		/* out */
	char status[16];	/* out: status found when not ready */
	char err[512];
};

/*
 * RFC 8555 §7.1.6: an order is ready once all its authorizations are
 * valid, and §7.4 answers a finalize of an order that is not ready with
 * orderNotReady (403). An order whose authorization has expired is no
 * longer ready, so that is the answer here; "unauthorized" would tell the
 * client it never proved the name, when what it needs is a new order.
 * New orders expire with their earliest authorization (new_order.c), so
 * this catches orders stored before that, and any authorization whose
 * status changed under a ready order.
 */
anvil_err
acme_order_authzs_valid(struct store_txn *txn, json_t *order, time_t now,
    char *why, size_t whylen)
{
	json_t *ids = json_object_get(order, "authorizations"), *v;
	size_t i;

	json_array_foreach(ids, i, v) {
		const char *aid = json_string_value(v), *st = "missing";
		enum rec_status seen = REC_ST_NONE;
		json_t *a = NULL;
		anvil_err rc;

		if (aid != NULL) {
			rc = store_get(txn, STORE_AUTHZ, aid, &a);
			if (rc != ANVIL_OK && rc != ANVIL_ERR_NOTFOUND)
				return rc;
			if (a != NULL) {
				seen = rec_authz_status(a, now);
				st = rec_status_text(a, seen);
			}
		}
		if (seen != REC_VALID) {
			snprintf(why, whylen, "order is not ready: its "
			    "authorization for %.253s is %s; place a new order",
			    json_string_value(json_object_get(json_object_get(
			    a, "identifier"), "value")) ?: "?", st);
			json_decref(a);
			return ANVIL_ERR_ORDERNOTREADY;
		}
		json_decref(a);
	}
	return ANVIL_OK;
}

/*
 * RFC 9773 §5: the certificate this order replaces is replaced once the
 * order is finalized, in the transaction that issues its successor. A
 * certificate gone, or held by another order (only if this order lost it
 * while it could not be finalized anyway), is logged and left alone: the
 * new certificate is what the client asked for.
 */
static anvil_err
replaced_mark(struct fin *f, struct store_txn *txn, const char *serial)
{
	const char *old = rec_order_replaces_serial(f->order);
	json_t *cert = NULL;
	anvil_err rc;

	if (old == NULL)
		return ANVIL_OK;
	rc = store_get(txn, STORE_CERT, old, &cert);
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
		log_warn("order %s replaces %s, which is gone", f->id, old);
		return ANVIL_OK;
	}
	if (rc != ANVIL_OK)
		return rc;
	rc = rec_cert_replaced(cert, f->id, serial, f->r->now);
	if (rc == ANVIL_OK)
		rc = store_put(txn, STORE_CERT, old, cert, 0);
	else if (rc == ANVIL_ERR_ALREADYREPLACED) {
		log_warn("order %s replaces %s, held by another order", f->id,
		    old);
		rc = ANVIL_OK;
	}
	json_decref(cert);
	return rc;
}

static anvil_err
fin_fn(struct store_txn *txn, void *arg)
{
	struct fin *f = arg;
	struct ca_issue_params p;
	char issuers_url[1024];
	const struct config_profile *prof;
	struct ca_issued *c = NULL;
	json_t *cert = NULL;
	enum rec_status st;
	anvil_err rc;
	int tries;

	json_decref(f->order);
	f->order = NULL;
	f->status[0] = '\0';
	if ((rc = store_get(txn, STORE_ORDER, f->id, &f->order)) != ANVIL_OK)
		return rc;
	st = rec_order_status(f->order, f->r->now);
	if (st != REC_READY) {
		snprintf(f->status, sizeof(f->status), "%s",
		    rec_status_text(f->order, st));
		return ANVIL_ERR_ORDERNOTREADY;
	}
	if ((rc = acme_order_authzs_valid(txn, f->order, f->r->now, f->err,
	    sizeof(f->err))) != ANVIL_OK)
		return rc;
	prof = config_profile_find(f->r->ctx->cfg, json_string_value(
	    json_object_get(f->order, "profile")));
	if (prof == NULL) {
		/* The operator removed it since the order was placed. */
		snprintf(f->err, sizeof(f->err), "this server no longer "
		    "offers profile \"%.64s\"; place a new order",
		    json_string_value(json_object_get(f->order, "profile")));
		return ANVIL_ERR_INVALIDPROFILE;
	}
	ca_issue_params_from_profile(f->r->ctx->cfg, prof, &p);
	p.now = f->r->now;
	/* A later CA generation's certificates point at its own
	 * cross-certificate (publish_issuer_name: what anvil-crl writes);
	 * ca_issue names the generation's CRL (util_crl_url). */
	if (ca_generation(f->r->ctx->ca) > 1 && p.ca_issuers_url != NULL &&
	    *p.ca_issuers_url != '\0') {
		if (publish_issuer_name(p.ca_issuers_url,
		    ca_generation(f->r->ctx->ca), issuers_url,
		    sizeof(issuers_url)) != ANVIL_OK) {
			snprintf(f->err, sizeof(f->err), "[issuance] "
			    "ca_issuers_url has no name for CA generation %u",
			    ca_generation(f->r->ctx->ca));
			return ANVIL_ERR_CONFIG;
		}
		p.ca_issuers_url = issuers_url;
	}
	for (tries = 0; tries < MAX_SERIAL_TRIES; tries++) {
		ca_issued_free(c);
		c = NULL;
		json_decref(cert);
		cert = NULL;
		rc = ca_issue(f->r->ctx->ca, f->csr, f->ids, f->nids, &p, &c,
		    f->err, sizeof(f->err));
		if (rc != ANVIL_OK)
			goto out;
		cert = rec_cert_new(c->serial_hex, f->r->account_id, f->id,
		    c->pem, c->not_before, c->not_after, f->r->now,
		    json_object_get(f->order, "identifiers"), prof->name);
		/* Which generation signed it (its chains, CRL and OCSP
		 * signer, issue 20 part 3) and which CRL shard lists it
		 * (part 2). */
		if (cert == NULL || rec_cert_set_generation(cert,
		    ca_generation(f->r->ctx->ca)) != ANVIL_OK ||
		    (c->crl_shard != 0 && rec_cert_set_crl_shard(cert,
		    c->crl_shard) != ANVIL_OK)) {
			rc = ANVIL_ERR_NOMEM;
			goto out;
		}
		rc = store_put(txn, STORE_CERT, c->serial_hex, cert,
		    STORE_PUT_NEW);
		if (rc != ANVIL_ERR_EXISTS)
			break;
		log_warn("serial %s already issued: drawing another",
		    c->serial_hex);
	}
	if (rc != ANVIL_OK)
		goto out;
	if ((rc = replaced_mark(f, txn, c->serial_hex)) != ANVIL_OK)
		goto out;
	if ((rc = rec_status_set(f->order, REC_ORDER, REC_VALID)) != ANVIL_OK)
		goto out;
	json_object_set_new(f->order, "certificate",
	    json_string(c->serial_hex));
	rc = store_put(txn, STORE_ORDER, f->id, f->order, 0);
	if (rc == ANVIL_OK)
		log_info("issued %s for order %s", c->serial_hex, f->id);
out:
	json_decref(cert);
	ca_issued_free(c);
	return rc;
}

/*
 * CAA again at finalize for an authorization whose CAA check is older
 * than [validation] caa_max_age (RFC 8659 §3 wants CAA checked close to
 * issuance), with the account and method of
 * its validation (RFC 8657). An authorization validated while CAA was
 * off has no check at all and is checked now. Runs before the issuing
 * transaction: DNS lookups never hold the store. ANVIL_ERR_CAA with
 * detail when forbidden or the lookup fails.
 */
static anvil_err
caa_recheck(struct acme_req *r, json_t *order, char *detail,
    size_t detaillen)
{
	const struct anvil_config *cfg = r->ctx->cfg;
	json_t *v, *a = NULL, *c = NULL, *cid;
	char *url = NULL;
	size_t i, j;
	anvil_err rc = ANVIL_OK;

	if (cfg->caa_identities.n == 0)
		return ANVIL_OK;
	if ((url = acme_url(r->ctx, "/acct/%s", r->account_id)) == NULL)
		return ANVIL_ERR_NOMEM;
	json_array_foreach(json_object_get(order, "authorizations"), i, v) {
		json_t *ident;
		const char *type = NULL;
		json_int_t checked = 0;
		struct val_caa_req q;

		json_decref(a);
		a = NULL;
		if (acme_record_load(r->ctx, STORE_AUTHZ, json_string_value(v) ?:
		    "", &a) != ANVIL_OK)
			continue;	/* fin_fn says what is missing */
		ident = json_object_get(a, "identifier");
		if (strcmp(json_string_value(json_object_get(ident, "type")) ?:
		    "", "dns") != 0)
			continue;
		json_array_foreach(json_object_get(a, "challenges"), j, cid) {
			json_decref(c);
			c = NULL;
			if (acme_record_load(r->ctx, STORE_CHALLENGE,
			    json_string_value(cid) ?: "", &c) != ANVIL_OK ||
			    rec_status_get(c) != REC_VALID)
				continue;
			type = json_string_value(json_object_get(c, "type"));
			checked = json_integer_value(json_object_get(c,
			    "caa_checked"));
			break;
		}
		/* caa_max_age 0: every finalize checks again. */
		if (type != NULL && checked > 0 && (json_int_t)r->now -
		    checked < (json_int_t)cfg->caa_max_age)
			continue;
		memset(&q, 0, sizeof(q));
		q.identities = (const char *const *)cfg->caa_identities.v;
		q.nidentities = cfg->caa_identities.n;
		q.account_uri = url;
		q.method = type;
		q.wildcard = json_is_true(json_object_get(a, "wildcard"));
		rc = val_caa_check(cfg, json_string_value(json_object_get(ident,
		    "value")) ?: "", &q, detail, detaillen);
		if (rc != ANVIL_OK) {
			log_info("finalize: %s", detail);
			rc = ANVIL_ERR_CAA;
			goto out;
		}
	}
out:
	json_decref(a);
	json_decref(c);
	free(url);
	return rc;
}

anvil_err
acme_finalize(struct acme_req *r, const char *id)
{
	struct fin f;
	json_t *o = NULL, *idents, *v;
	unsigned char *der = NULL;
	size_t derlen = 0, i;
	const char *csr64, *owner;
	struct jose_jwk *acct = NULL;
	gnutls_datum_t spki = { NULL, 0 };
	char *url = NULL;
	anvil_err rc;

	memset(&f, 0, sizeof(f));
	f.r = r;
	f.id = id;
	/* Read the order once outside to check its owner and identifiers. */
	rc = acme_record_load(r->ctx, STORE_ORDER, id, &o);
	owner = json_string_value(json_object_get(o, "account"));
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID ||
	    (rc == ANVIL_OK && (owner == NULL || strcmp(owner,
	    r->account_id) != 0))) {
		rc = acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "no such order");
		goto out;
	}
	/* A store that failed (a database away: 503) is not a 404. */
	if (rc != ANVIL_OK) {
		rc = acme_fail(r, rc, "cannot read the order");
		goto out;
	}
	csr64 = r->payload ? json_string_value(json_object_get(r->payload,
	    "csr")) : NULL;
	if (csr64 == NULL || b64u_decode(csr64, strlen(csr64), &der, &derlen)) {
		rc = acme_fail(r, ANVIL_ERR_MALFORMED, "payload must hold "
		    "\"csr\": the base64url DER of a PKCS#10 request");
		goto out;
	}
	idents = json_object_get(o, "identifiers");
	f.nids = json_array_size(idents);
	if ((f.ids = calloc(f.nids ? f.nids : 1, sizeof(*f.ids))) == NULL) {
		rc = acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(idents, i, v) {
		const char *t = json_string_value(json_object_get(v, "type"));
		f.ids[i].type = (t && strcmp(t, "ip") == 0) ? CA_IDENT_IP :
		    CA_IDENT_DNS;
		f.ids[i].value = json_string_value(json_object_get(v, "value"));
		if (f.ids[i].value == NULL)
			f.ids[i].value = "";
	}
	if (jose_jwk_import(json_object_get(r->account, "jwk"), &acct, f.err,
	    sizeof(f.err)) != ANVIL_OK || jose_jwk_spki(acct, &spki) !=
	    ANVIL_OK) {
		rc = acme_fail(r, ANVIL_ERR_STORE, "account key unreadable");
		goto out;
	}
	rc = ca_csr_check(der, derlen, f.ids, f.nids, spki.data, spki.size,
	    &f.csr, NULL, f.err, sizeof(f.err));
	if (rc != ANVIL_OK) {
		rc = acme_fail(r, ANVIL_ERR_BADCSR, "%s", f.err);
		goto out;
	}
	f.err[0] = '\0';
	if (rec_order_status(o, r->now) == REC_READY &&
	    caa_recheck(r, o, f.err, sizeof(f.err)) != ANVIL_OK) {
		rc = acme_fail(r, ANVIL_ERR_CAA, "%s", f.err);
		goto out;
	}
	f.err[0] = '\0';
	rc = store_run(r->ctx->st, 0, fin_fn, &f, NULL, 0);
	if (rc == ANVIL_ERR_ORDERNOTREADY && f.status[0] == '\0') {
		rc = acme_fail(r, rc, "%s", f.err);
		goto out;
	}
	if (rc == ANVIL_ERR_ORDERNOTREADY) {
		rc = acme_fail(r, rc, "order is %s, not ready", f.status);
		goto out;
	}
	if (rc == ANVIL_ERR_INVALIDPROFILE) {
		rc = acme_fail(r, rc, "%s", f.err);
		goto out;
	}
	if (rc != ANVIL_OK) {
		/* f.err may hold GnuTLS's text (ca_gnutls_err): log only. */
		if (f.err[0] != '\0')
			log_warn("order %s: ca_issue: %s", id, f.err);
		rc = acme_fail(r, rc, "issuance failed");
		goto out;
	}
	audit_event(r->ctx->cfg, r->now, "order.finalized", json_pack(
	    "{s:s, s:s, s:O?, s:O?, s:O?, s:O?, s:s}", "order", id, "account",
	    r->account_id, "serial", json_object_get(f.order, "certificate"),
	    "identifiers", json_object_get(f.order, "identifiers"), "profile",
	    json_object_get(f.order, "profile"), "replaces", json_object_get(
	    f.order, "replaces_serial"), "request", r->http->id));
	if ((url = acme_url(r->ctx, "/order/%s", id)) != NULL)
		acme_location(r, url);
	rc = acme_reply_json(r, 200, acme_order_json(r->ctx, id, f.order,
	    r->now));
out:
	free(url);
	free(der);
	free(f.ids);
	gnutls_free(spki.data);
	jose_jwk_free(acct);
	ca_csr_free(f.csr);
	json_decref(f.order);
	json_decref(o);
	return rc;
}
