/*
 * curl_dl.c - libcurl through dlopen (see curl_dl.h).
 */
#include "config.h"

#include "core/dl.h"
#include "validate/curl_dl.h"

static struct val_curl_api api;
static int loaded;

anvil_err
val_curl_load(const struct val_curl_api **out, char *detail,
    size_t detaillen)
{
	const struct dl_sym syms[] = {
		{ &api.easy_init, "curl_easy_init" },
		{ &api.easy_setopt, "curl_easy_setopt" },
		{ &api.easy_perform, "curl_easy_perform" },
		{ &api.easy_getinfo, "curl_easy_getinfo" },
		{ &api.easy_cleanup, "curl_easy_cleanup" },
		{ &api.easy_strerror, "curl_easy_strerror" },
		{ &api.slist_append, "curl_slist_append" },
		{ &api.slist_free_all, "curl_slist_free_all" },
		{ &api.free, "curl_free" },
		{ &api.url, "curl_url" },
		{ &api.url_cleanup, "curl_url_cleanup" },
		{ &api.url_get, "curl_url_get" },
		{ &api.url_set, "curl_url_set" },
	};
	anvil_err rc;

	*out = NULL;
	if (!loaded) {
		if ((rc = dl_load(CURL_SONAME, syms, sizeof(syms) /
		    sizeof(syms[0]), detail, detaillen)) != ANVIL_OK)
			return rc;
		loaded = 1;
	}
	*out = &api;
	return ANVIL_OK;
}
