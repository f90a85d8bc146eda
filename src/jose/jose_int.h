/*
 * jose_int.h - what jwk.c, jws.c and ossl.c share beyond jose.h: OpenSSL's
 * libcrypto, loaded by jose_ossl_enable, which verifies ES256/384/512 in
 * well under half of GnuTLS's instructions (RS256 in about as many, so
 * RSA and Ed25519 stay with GnuTLS; GnuTLS stays the CA's library).
 */
#ifndef ANVIL_JOSE_JOSE_INT_H
#define ANVIL_JOSE_JOSE_INT_H

#include <openssl/err.h>
#include <openssl/evp.h>

#include "jose/jose.h"

/* The libcrypto functions used, with their own prototypes' types. */
struct jose_ossl_api {
	__typeof__(&EVP_PKEY_CTX_new_from_name) pkey_ctx_new_from_name;
	__typeof__(&EVP_PKEY_fromdata_init) pkey_fromdata_init;
	__typeof__(&EVP_PKEY_fromdata) pkey_fromdata;
	__typeof__(&EVP_PKEY_CTX_free) pkey_ctx_free;
	__typeof__(&EVP_PKEY_free) pkey_free;
	__typeof__(&EVP_MD_fetch) md_fetch;
	__typeof__(&EVP_MD_CTX_new) md_ctx_new;
	__typeof__(&EVP_MD_CTX_free) md_ctx_free;
	__typeof__(&EVP_DigestVerifyInit) verify_init;
	__typeof__(&EVP_DigestVerify) verify;
	__typeof__(&ERR_get_error) err_get;
	__typeof__(&ERR_error_string_n) err_string;
	__typeof__(&ERR_clear_error) err_clear;
};

/* The loaded functions, or NULL when jose_ossl_enable has not succeeded. */
const struct jose_ossl_api *jose_ossl(void);

/*
 * The OpenSSL form of an EC JWK, made on first use and kept with the key
 * (borrowed). NULL for RSA and Ed25519, without libcrypto, or when
 * OpenSSL refuses the point (logged): GnuTLS verifies then.
 */
EVP_PKEY *jose_jwk_ossl(const struct jose_jwk *k);

#endif
