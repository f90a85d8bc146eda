/*
 * directory.c - GET <base>/directory: the URLs of every endpoint and meta.
 */
#include "config.h"

#include <stdlib.h>

#include "acme/acme_int.h"

anvil_err
acme_directory(struct acme_req *r)
{
	static const struct {
		const char *name;
		const char *path;
	} eps[] = {
		{ "newNonce", "/new-nonce" },
		{ "newAccount", "/new-account" },
		{ "newOrder", "/new-order" },
		{ "revokeCert", "/revoke-cert" },
		{ "keyChange", "/key-change" },
		{ "renewalInfo", "/renewal-info" },	/* RFC 9773 §4 */
	};
	json_t *dir = json_object(), *meta = json_object();
	size_t i;

	if (dir == NULL || meta == NULL) {
		json_decref(dir);
		json_decref(meta);
		return acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		char *u = acme_url(r->ctx, "%s", eps[i].path);
		json_object_set_new(dir, eps[i].name, json_string(u ? u : ""));
		free(u);
	}
	if (r->ctx->cfg->terms_of_service[0] != '\0')
		json_object_set_new(meta, "termsOfService",
		    json_string(r->ctx->cfg->terms_of_service));
	json_object_set_new(meta, "externalAccountRequired",
	    json_boolean(r->ctx->cfg->eab_required));
	json_object_set_new(dir, "meta", meta);
	return acme_reply_json(r, 200, dir);
}
