/*
 * curl_dl.c - libcurl through dlopen (see curl_dl.h).
 */
#include "config.h"

#include <dlfcn.h>
#include <string.h>

#include "validate/curl_dl.h"
#include "core/log.h"
#include "validate/val_int.h"

static struct val_curl_api api;
static int loaded;

/* One entry: where the pointer goes and the symbol that fills it. */
struct sym {
	void *slot;		/* address of a function pointer in api */
	const char *name;
};

anvil_err
val_curl_load(const struct val_curl_api **out, char *detail,
    size_t detaillen)
{
	const struct sym syms[] = {
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
	void *h, *f;
	size_t i;

	*out = NULL;
	if (!loaded) {
		/* Kept open for the life of the process. */
		if ((h = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
			const char *why = dlerror();

			log_err("dlopen %s: %s", CURL_SONAME,
			    why != NULL ? why : "unknown reason");
			return errf(detail, detaillen, ANVIL_ERR_IO,
			    "cannot load %s", CURL_SONAME);
		}
		for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
			if ((f = dlsym(h, syms[i].name)) == NULL)
				return errf(detail, detaillen,
				    ANVIL_ERR_IO, "%s has no %s",
				    CURL_SONAME, syms[i].name);
			/* POSIX: a data pointer from dlsym holds a function. */
			memcpy(syms[i].slot, &f, sizeof(f));
		}
		loaded = 1;
	}
	*out = &api;
	return ANVIL_OK;
}
