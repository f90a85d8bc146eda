/*
 * ca_cert.c - <base>/ca: the CA certificate (PEM), to an unsigned GET or
 * HEAD and to a POST-as-GET (RFC 8555 §6.3: a client may fetch every
 * resource that way, and Apache mod_md does so for a certificate's
 * issuer). After a CA rollover it stays generation 1's certificate
 * (ca.pem), the root every default chain ends at.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"

anvil_err
acme_ca_cert(struct acme_req *r)
{
	const struct ca *g1 = ca_generation_get(r->ctx->ca, 1);
	const char *pem = ca_cert_pem_peek(g1 != NULL ? g1 : r->ctx->ca);
	char *copy = strdup(pem);

	if (copy == NULL)
		return acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
	r->resp->status = 200;
	http_resp_body(r->resp, copy, strlen(copy),
	    "application/pem-certificate-chain");
	return ANVIL_OK;
}
