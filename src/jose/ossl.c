/*
 * ossl.c - OpenSSL's libcrypto through dlopen, for ES256/384/512 JWS
 * verification (jose_int.h).
 *
 * Loaded only by processes that call jose_ossl_enable (FastCGI workers):
 * linking it would add its load and relocations to every CGI request,
 * more than a CGI request's one verification saves (bench/README.md).
 */
#include "config.h"

#include <dlfcn.h>
#include <string.h>

#include <openssl/opensslv.h>

#include "core/log.h"
#include "jose/jose.h"
#include "jose/jose_int.h"

#define CRYPTO_SONAME "libcrypto.so." OPENSSL_MSTR(OPENSSL_SHLIB_VERSION)

static struct jose_ossl_api api;
static enum { OSSL_OFF, OSSL_ON, OSSL_FAILED } state;

/* One entry: where the pointer goes and the symbol that fills it. */
struct sym {
	void *slot;		/* address of a function pointer in api */
	const char *name;
};

anvil_err
jose_ossl_enable(void)
{
	const struct sym syms[] = {
		{ &api.pkey_ctx_new_from_name, "EVP_PKEY_CTX_new_from_name" },
		{ &api.pkey_fromdata_init, "EVP_PKEY_fromdata_init" },
		{ &api.pkey_fromdata, "EVP_PKEY_fromdata" },
		{ &api.pkey_ctx_free, "EVP_PKEY_CTX_free" },
		{ &api.pkey_free, "EVP_PKEY_free" },
		{ &api.md_fetch, "EVP_MD_fetch" },
		{ &api.md_ctx_new, "EVP_MD_CTX_new" },
		{ &api.md_ctx_free, "EVP_MD_CTX_free" },
		{ &api.verify_init, "EVP_DigestVerifyInit" },
		{ &api.verify, "EVP_DigestVerify" },
		{ &api.err_get, "ERR_get_error" },
		{ &api.err_string, "ERR_error_string_n" },
		{ &api.err_clear, "ERR_clear_error" },
	};
	void *h, *f;
	size_t i;

	if (state == OSSL_ON)
		return ANVIL_OK;
	if (state == OSSL_FAILED)
		return ANVIL_ERR_IO;
	state = OSSL_FAILED;
	/* Kept open for the life of the process. */
	if ((h = dlopen(CRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		const char *why = dlerror();

		log_warn("dlopen %s: %s; GnuTLS verifies JWS", CRYPTO_SONAME,
		    why != NULL ? why : "unknown reason");
		return ANVIL_ERR_IO;
	}
	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		if ((f = dlsym(h, syms[i].name)) == NULL) {
			log_warn("%s has no %s; GnuTLS verifies JWS",
			    CRYPTO_SONAME, syms[i].name);
			memset(&api, 0, sizeof(api));
			return ANVIL_ERR_IO;
		}
		/* POSIX: a data pointer from dlsym holds a function. */
		memcpy(syms[i].slot, &f, sizeof(f));
	}
	state = OSSL_ON;
	return ANVIL_OK;
}

const struct jose_ossl_api *
jose_ossl(void)
{
	return state == OSSL_ON ? &api : NULL;
}
