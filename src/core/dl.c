/*
 * dl.c - loading a shared library on first use (see dl.h).
 */
#include "config.h"

#include <dlfcn.h>
#include <string.h>

#include "core/dl.h"
#include "core/log.h"

anvil_err
dl_load(const char *soname, const struct dl_sym *syms, size_t n,
    char *err, size_t errlen)
{
	void *h, *f;
	size_t i;

	if ((h = dlopen(soname, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		const char *why = dlerror();

		log_err("dlopen %s: %s", soname,
		    why != NULL ? why : "unknown reason");
		return errf(err, errlen, ANVIL_ERR_IO, "cannot load %s",
		    soname);
	}
	for (i = 0; i < n; i++) {
		if ((f = dlsym(h, syms[i].name)) == NULL)
			return errf(err, errlen, ANVIL_ERR_IO, "%s has no %s",
			    soname, syms[i].name);
		/* POSIX: a data pointer from dlsym holds a function. */
		memcpy(syms[i].slot, &f, sizeof(f));
	}
	return ANVIL_OK;
}
