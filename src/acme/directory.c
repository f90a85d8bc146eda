/*
 * directory.c - GET <base>/directory: the URLs of every endpoint and meta
 * (RFC 8555 §7.1.1: termsOfService, website, caaIdentities,
 * externalAccountRequired; draft-ietf-acme-profiles: profiles), all from
 * anvil.conf.
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
	const struct anvil_config *cfg = r->ctx->cfg;
	json_t *dir = json_object(), *meta = json_object(), *profiles;
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
	if (cfg->website[0] != '\0')
		json_object_set_new(meta, "website", json_string(cfg->website));
	if (cfg->caa_identities.n > 0) {
		json_t *caa = json_array();
		for (i = 0; i < cfg->caa_identities.n; i++)
			json_array_append_new(caa, json_string(
			    cfg->caa_identities.v[i]));
		json_object_set_new(meta, "caaIdentities", caa);
	}
	/* draft-ietf-acme-profiles: a flat map of name to description,
	 * which shell clients read with a pattern. */
	profiles = json_object();
	for (i = 0; i < cfg->profiles.n; i++)
		json_object_set_new(profiles, cfg->profiles.v[i].name,
		    json_string(cfg->profiles.v[i].description));
	json_object_set_new(meta, "profiles", profiles);
	json_object_set_new(meta, "externalAccountRequired",
	    json_boolean(r->ctx->cfg->eab_required));
	json_object_set_new(dir, "meta", meta);
	return acme_reply_json(r, 200, dir);
}
