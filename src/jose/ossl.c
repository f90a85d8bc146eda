/*
 * ossl.c - OpenSSL's libcrypto through dlopen, for ES256/384/512 JWS
 * verification (jose_int.h).
 *
 * Loaded only by processes that call jose_ossl_enable (FastCGI workers):
 * linking it would add its load and relocations to every CGI request,
 * more than a CGI request's one verification saves (bench/README.md).
 */
#include "config.h"

#include <string.h>

#include <openssl/opensslv.h>

#include "core/dl.h"
#include "core/log.h"
#include "jose/jose.h"
#include "jose/jose_int.h"

#define CRYPTO_SONAME "libcrypto.so." OPENSSL_MSTR(OPENSSL_SHLIB_VERSION)

static struct jose_ossl_api api;
static enum { OSSL_OFF, OSSL_ON, OSSL_FAILED } state;

anvil_err
jose_ossl_enable(void)
{
	const struct dl_sym syms[] = {
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
	char err[256];

	if (state == OSSL_ON)
		return ANVIL_OK;
	if (state == OSSL_FAILED)
		return ANVIL_ERR_IO;
	state = OSSL_FAILED;
	if (dl_load(CRYPTO_SONAME, syms, sizeof(syms) / sizeof(syms[0]), err,
	    sizeof(err)) != ANVIL_OK) {
		log_warn("%s; GnuTLS verifies JWS", err);
		memset(&api, 0, sizeof(api));
		return ANVIL_ERR_IO;
	}
	state = OSSL_ON;
	return ANVIL_OK;
}

const struct jose_ossl_api *
jose_ossl(void)
{
	return state == OSSL_ON ? &api : NULL;
}
