/*
 * unbound_dl.c - libunbound through dlopen (see unbound_dl.h).
 */
#include "config.h"

#include "core/dl.h"
#include "validate/unbound_dl.h"

static struct val_unbound_api api;
static int loaded;

anvil_err
val_unbound_load(const struct val_unbound_api **out, char *detail,
    size_t detaillen)
{
	const struct dl_sym syms[] = {
		{ &api.ub_ctx_create, "ub_ctx_create" },
		{ &api.ub_ctx_delete, "ub_ctx_delete" },
		{ &api.ub_ctx_async, "ub_ctx_async" },
		{ &api.ub_ctx_set_option, "ub_ctx_set_option" },
		{ &api.ub_ctx_add_ta_file, "ub_ctx_add_ta_file" },
		{ &api.ub_ctx_set_fwd, "ub_ctx_set_fwd" },
		{ &api.ub_ctx_resolvconf, "ub_ctx_resolvconf" },
		{ &api.ub_ctx_hosts, "ub_ctx_hosts" },
		{ &api.ub_strerror, "ub_strerror" },
		{ &api.ub_fd, "ub_fd" },
		{ &api.ub_process, "ub_process" },
		{ &api.ub_resolve_async, "ub_resolve_async" },
		{ &api.ub_cancel, "ub_cancel" },
		{ &api.ub_resolve_free, "ub_resolve_free" },
	};
	anvil_err rc;

	*out = NULL;
	if (!loaded) {
		if ((rc = dl_load(UNBOUND_SONAME, syms, sizeof(syms) /
		    sizeof(syms[0]), detail, detaillen)) != ANVIL_OK)
			return rc;
		loaded = 1;
	}
	*out = &api;
	return ANVIL_OK;
}
