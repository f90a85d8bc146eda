/*
 * cert.c - POST-as-GET <base>/cert/<serial>: the leaf then the CA
 * certificate, PEM, application/pem-certificate-chain; to the owning
 * account only. No Link rel="up": the chain already ends with the CA
 * certificate, and a client that follows "up" to complete the chain
 * (Apache mod_md, tests/integration/conformance.py) would store the CA
 * twice. The CA certificate stays at <base>/ca (ca_cert.c).
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
	char *chain = NULL;
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
	r->resp->status = 200;
	http_resp_body(r->resp, chain, strlen(chain),
	    "application/pem-certificate-chain");
	chain = NULL;
	rc = ANVIL_OK;
out:
	free(chain);
	json_decref(rec);
	return rc;
}
