/*
 * revoke.c - POST <base>/revoke-cert (RFC 8555 §7.6): signed by the
 * account that holds the certificate (kid) or by the certificate's own key
 * (jwk); reason codes checked; alreadyRevoked when it is.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "acme/acme_int.h"
#include "publish/publish.h"
#include "core/log.h"
#include "core/util.h"

struct rv {
	struct acme_req *r;
	const char *serial;
	const unsigned char *der;
	size_t derlen;
	int reason;
	int by_key;		/* signed by the certificate key */
	char why[128];
	json_t *done;		/* the record as revoked (for OCSP) */
};

/* 1 if the stored PEM is the DER the client sent. */
static int
same_cert(const char *pem, const unsigned char *der, size_t derlen)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t in = { (unsigned char *)pem, (unsigned)strlen(pem) };
	gnutls_datum_t out = { NULL, 0 };
	int same = 0;

	if (gnutls_x509_crt_init(&crt) >= 0 &&
	    gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM) >= 0 &&
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &out) >= 0)
		same = out.size == derlen && memcmp(out.data, der, derlen) == 0;
	gnutls_free(out.data);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	return same;
}

static anvil_err
revoke_fn(struct store_txn *txn, void *arg)
{
	struct rv *v = arg;
	json_t *rec = NULL;
	const char *owner, *pem;
	anvil_err rc;

	v->why[0] = '\0';
	json_decref(v->done);	/* from a try that lost a deadlock */
	v->done = NULL;
	if ((rc = store_get(txn, STORE_CERT, v->serial, &rec)) != ANVIL_OK)
		return rc == ANVIL_ERR_INVALID ? ANVIL_ERR_NOTFOUND : rc;
	owner = json_string_value(json_object_get(rec, "account"));
	pem = json_string_value(json_object_get(rec, "pem"));
	if (pem == NULL || !same_cert(pem, v->der, v->derlen)) {
		rc = ANVIL_ERR_NOTFOUND;
		goto out;
	}
	if (!v->by_key && (owner == NULL || strcmp(owner,
	    v->r->account_id) != 0)) {
		rc = ANVIL_ERR_UNAUTHORIZED;
		goto out;
	}
	if ((rc = rec_cert_revoke(rec, v->r->now, v->reason, v->by_key ?
	    "certificate key" : "account")) != ANVIL_OK)
		goto out;
	if ((rc = store_put(txn, STORE_CERT, v->serial, rec, 0)) == ANVIL_OK)
		v->done = json_incref(rec);
out:
	json_decref(rec);
	return rc;
}

anvil_err
acme_revoke(struct acme_req *r)
{
	struct rv v;
	gnutls_x509_crt_t crt = NULL;
	gnutls_pubkey_t pub = NULL;
	struct jose_jwk *certkey = NULL;
	unsigned char *der = NULL, serial[64];
	size_t derlen = 0, slen = sizeof(serial);
	char hex[129];
	const char *c64;
	json_t *reason;
	anvil_err rc;

	memset(&v, 0, sizeof(v));
	v.r = r;
	c64 = r->payload ? json_string_value(json_object_get(r->payload,
	    "certificate")) : NULL;
	if (c64 == NULL || b64u_decode(c64, strlen(c64), &der, &derlen)) {
		rc = acme_fail(r, ANVIL_ERR_MALFORMED, "payload must hold "
		    "\"certificate\": the base64url DER certificate");
		goto out;
	}
	reason = json_object_get(r->payload, "reason");
	if (reason != NULL) {
		if (!json_is_integer(reason) ||
		    !ca_crl_reason_valid((int)json_integer_value(reason)) ||
		    json_integer_value(reason) == CA_REASON_REMOVE_FROM_CRL ||
		    json_integer_value(reason) == CA_REASON_CA_COMPROMISE ||
		    json_integer_value(reason) == CA_REASON_AA_COMPROMISE) {
			rc = acme_fail(r, ANVIL_ERR_BADREVREASON, "reason must "
			    "be one of 0 (unspecified), 1 (keyCompromise), 3 "
			    "(affiliationChanged), 4 (superseded), 5 "
			    "(cessationOfOperation), 6 (certificateHold), 9 "
			    "(privilegeWithdrawn)");
			goto out;
		}
		v.reason = (int)json_integer_value(reason);
	}
	{
		gnutls_datum_t d = { der, (unsigned)derlen };
		if (gnutls_x509_crt_init(&crt) < 0 || gnutls_x509_crt_import(
		    crt, &d, GNUTLS_X509_FMT_DER) < 0 ||
		    gnutls_x509_crt_get_serial(crt, serial, &slen) < 0 ||
		    slen == 0 || slen > 20) {
			rc = acme_fail(r, ANVIL_ERR_MALFORMED, "certificate "
			    "unreadable");
			goto out;
		}
	}
	util_hex(serial, slen, hex);
	v.serial = hex;
	v.der = der;
	v.derlen = derlen;
	if (r->jws->jwk != NULL) {
		char err[256];
		if (gnutls_pubkey_init(&pub) < 0 || gnutls_pubkey_import_x509(
		    pub, crt, 0) < 0 || jose_jwk_from_pubkey(pub, &certkey, err,
		    sizeof(err)) != ANVIL_OK || !jose_jwk_equal(certkey,
		    r->jws->jwk)) {
			rc = acme_fail(r, ANVIL_ERR_UNAUTHORIZED, "the JWS key "
			    "is not the certificate's key");
			goto out;
		}
		v.by_key = 1;
	}
	rc = store_run(r->ctx->st, 0, revoke_fn, &v, NULL, 0);
	switch (rc) {
	case ANVIL_OK:
		log_info("revoked %s, reason %d", hex, v.reason);
		/* The pre-signed "good" answer must not outlive this. */
		(void)publish_ocsp_refresh(r->ctx->cfg, r->ctx->ca, v.serial,
		    v.done, r->now);
		audit_event(r->ctx->cfg, r->now, "certificate.revoked",
		    json_pack("{s:s, s:i, s:s, s:s?, s:s}", "serial", hex,
		    "reason", v.reason, "by", v.by_key ? "certificate key" :
		    "account", "account", v.by_key ? NULL : r->account_id,
		    "request", r->http->id));
		r->resp->status = 200;
		break;
	case ANVIL_ERR_NOTFOUND:
		rc = acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "this server did not "
		    "issue that certificate");
		break;
	case ANVIL_ERR_UNAUTHORIZED:
		rc = acme_fail(r, rc, "this account does not hold that "
		    "certificate");
		break;
	case ANVIL_ERR_ALREADYREVOKED:
		rc = acme_fail(r, rc, "certificate is already revoked");
		break;
	default:
		rc = acme_fail(r, rc, "cannot revoke");
	}
out:
	json_decref(v.done);
	jose_jwk_free(certkey);
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	free(der);
	return rc;
}
