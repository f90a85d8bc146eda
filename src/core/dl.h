/*
 * dl.h - a shared library loaded with dlopen when a request first needs
 * it, not at every start of a program.
 *
 * A CGI request starts the anvil program anew; each shared object it is
 * linked with costs loading and relocation before main() runs (issue 22,
 * bench/cgi.sh). libcurl (src/validate/curl_dl.h), libunbound
 * (src/validate/unbound_dl.h) and libpq (src/store/pq_dl.h) are used by
 * validations and by the PostgreSQL store only, so they are loaded here.
 */
#ifndef ANVIL_CORE_DL_H
#define ANVIL_CORE_DL_H

#include <stddef.h>

#include "core/error.h"

/* One function to look up: where the pointer goes and its symbol. */
struct dl_sym {
	void *slot;		/* address of a function pointer */
	const char *name;
};

/*
 * Opens soname (kept open for the life of the process) and fills every
 * slot of syms[0..n). Errors: ANVIL_ERR_IO naming the library and what it
 * lacks in err; the loader's reason is logged. A failure may leave some
 * slots filled: the caller uses none of them then.
 */
anvil_err dl_load(const char *soname, const struct dl_sym *syms, size_t n,
    char *err, size_t errlen);

#endif
