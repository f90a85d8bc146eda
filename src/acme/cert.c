/*
 * cert.c - POST-as-GET <base>/cert/<serial>: the leaf then the default
 * chain above it, PEM, application/pem-certificate-chain; to the owning
 * account only. The chains are those of the CA generation that issued
 * it (its record's "ca_gen"): after a rollover the default one runs
 * through the cross-certificate to generation 1, and each other chain is
 * <base>/cert/<serial>/<n>, announced as Link rel="alternate" (RFC 8555
 * §7.4.2), answering the same way with the same Links. No Link rel="up":
 * the chain already ends with a CA certificate, and a client that follows
 * "up" to complete the chain (Apache mod_md,
 * tests/integration/conformance.py) would store the CA twice. The CA
 * certificate stays at <base>/ca (ca_cert.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"

/* Chain which of certificate serial; which 0 is the default one. */
static anvil_err
cert_chain(struct acme_req *r, const char *serial, unsigned which)
{
	json_t *rec = NULL;
	const char *owner, *pem, *above;
	struct ca *gen;
	char *chain = NULL, *url;
	unsigned g, i, n;
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
	g = rec_cert_generation(rec);
	if ((gen = ca_generation_get(r->ctx->ca, g)) == NULL) {
		rc = acme_fail(r, ANVIL_ERR_CORRUPT, "the certificate names CA "
		    "generation %u, which this server does not have", g);
		goto out;
	}
	n = ca_chain_count(gen);
	if (which >= n) {
		rc = acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "no such chain");
		goto out;
	}
	above = ca_chain_pem_peek(gen, which);
	if (asprintf(&chain, "%s%s", pem, above) < 0) {
		chain = NULL;
		rc = acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* RFC 8555 §7.4.2: every other chain, from each of them. */
	for (i = 0; i < n; i++) {
		if (i == which)
			continue;
		url = i == 0 ? acme_url(r->ctx, "/cert/%s", serial) :
		    acme_url(r->ctx, "/cert/%s/%u", serial, i);
		rc = url != NULL ? acme_link(r, url, "alternate") :
		    ANVIL_ERR_NOMEM;
		free(url);
		if (rc != ANVIL_OK) {
			rc = acme_fail(r, rc, "out of memory");
			goto out;
		}
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

anvil_err
acme_cert(struct acme_req *r, const char *serial)
{
	return cert_chain(r, serial, 0);
}

anvil_err
acme_cert_alt(struct acme_req *r, const char *serial, const char *which)
{
	/* Only "1".."9": the path segment is the client's to choose. */
	if (strlen(which) != 1 || which[0] < '1' || which[0] > '9')
		return acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "no such chain");
	return cert_chain(r, serial, (unsigned)(which[0] - '0'));
}
