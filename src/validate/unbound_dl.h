/*
 * unbound_dl.h - libunbound, loaded when a validation first resolves.
 *
 * libunbound pulls in libevent and OpenSSL (libssl, libcrypto): linking
 * it made every start of the anvil program load and relocate them,
 * though only validations and CAA checks (src/validate/resolve.c) use
 * it. The programs are linked without it; val_unbound_load() opens it
 * (the soname configure found) once per process. Each member is named
 * after the function it holds.
 */
#ifndef ANVIL_VALIDATE_UNBOUND_DL_H
#define ANVIL_VALIDATE_UNBOUND_DL_H

#include <stddef.h>
#include <unbound.h>

#include "core/error.h"

struct val_unbound_api {
	struct ub_ctx *(*ub_ctx_create)(void);
	void (*ub_ctx_delete)(struct ub_ctx *);
	int (*ub_ctx_async)(struct ub_ctx *, int);
	int (*ub_ctx_set_option)(struct ub_ctx *, const char *, const char *);
	int (*ub_ctx_add_ta_file)(struct ub_ctx *, const char *);
	int (*ub_ctx_set_fwd)(struct ub_ctx *, const char *);
	int (*ub_ctx_resolvconf)(struct ub_ctx *, const char *);
	int (*ub_ctx_hosts)(struct ub_ctx *, const char *);
	const char *(*ub_strerror)(int);
	int (*ub_fd)(struct ub_ctx *);
	int (*ub_process)(struct ub_ctx *);
	int (*ub_resolve_async)(struct ub_ctx *, const char *, int, int,
	    void *, ub_callback_type, int *);
	int (*ub_cancel)(struct ub_ctx *, int);
	void (*ub_resolve_free)(struct ub_result *);
};

/*
 * The functions of libunbound (*out, borrowed for the life of the
 * process), loaded on first use. Errors: ANVIL_ERR_IO naming the library
 * and what it lacks in detail; the loader's reason is logged.
 */
anvil_err val_unbound_load(const struct val_unbound_api **out, char *detail,
    size_t detaillen);

#endif
