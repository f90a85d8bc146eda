/*
 * cert.c - POST-as-GET <base>/cert/<serial>: the leaf then the CA
 * certificate, PEM, application/pem-certificate-chain, Link rel="up" to
 * the CA certificate; to the owning account only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"

anvil_err
acme_cert(struct acme_req *r, const char *serial)
{
	json_t *rec = NULL;
	const char *owner, *pem;
	char *chain = NULL, *up = NULL;
	anvil_err rc;

	rc = acme_record_load(r->ctx, STORE_CERT, serial, &rec);
	owner = json_string_value(json_object_get(rec, "account"));
	pem = json_string_value(json_object_get(rec, "pem"));
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID ||
	    (rc == ANVIL_OK && (owner == NULL || strcmp(owner,
	    r->account_id) != 0))) {
		rc = acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "no such certificate");
		goto out;
	}
	if (rc != ANVIL_OK || pem == NULL) {
		rc = acme_fail(r, rc ? rc : ANVIL_ERR_CORRUPT, "cannot read the "
		    "certificate");
		goto out;
	}
	if (asprintf(&chain, "%s%s", pem, ca_cert_pem_peek(r->ctx->ca)) < 0) {
		chain = NULL;
		rc = acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((up = acme_url(r->ctx, "/ca")) != NULL)
		acme_link(r, up, "up");
	r->resp->status = 200;
	http_resp_body(r->resp, chain, strlen(chain),
	    "application/pem-certificate-chain");
	chain = NULL;
	rc = ANVIL_OK;
out:
	free(chain);
	free(up);
	json_decref(rec);
	return rc;
}
