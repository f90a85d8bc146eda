/*
 * new_nonce.c - HEAD <base>/new-nonce (200) and GET (204, which uacme
 * insists on); the nonce itself is added by the router.
 */
#include "config.h"

#include "acme/acme_int.h"

anvil_err
acme_new_nonce(struct acme_req *r)
{
	r->resp->status = (r->http->method[0] == 'H') ? 200 : 204;
	http_resp_header(r->resp, "Cache-Control", "no-store");
	return ANVIL_OK;
}
