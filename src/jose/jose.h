/*
 * jose.h - JSON Web Signature for ACME (RFC 7515, RFC 8555 §6.2):
 * base64url, JWK import and thumbprint (RFC 7638), flattened JWS parsing
 * and verification.
 *
 * Built on GnuTLS (keys, signatures), OpenSSL's libcrypto (ES256/384/512
 * verification only, after jose_ossl_enable), nettle (base64url, through GnuTLS's
 * dependency) and jansson. Nothing here touches the store or the network.
 */
#ifndef ANVIL_JOSE_JOSE_H
#define ANVIL_JOSE_JOSE_H

#include <stddef.h>

#include <gnutls/abstract.h>
#include <jansson.h>

#include "core/error.h"

/* ---------------------------------------------------------------- base64url */

/*
 * Encodes len bytes as base64url without padding into a new string
 * (*out, caller frees). ANVIL_ERR_NOMEM on allocation failure.
 */
anvil_err b64u_encode(const unsigned char *in, size_t len, char **out);

/*
 * Decodes base64url without padding: any character outside [A-Za-z0-9_-],
 * any '=', a length of 1 mod 4, or non-zero unused trailing bits is
 * ANVIL_ERR_MALFORMED. *out is new (caller frees; NUL-terminated for
 * convenience, not counted in *outlen).
 */
anvil_err b64u_decode(const char *in, size_t len, unsigned char **out,
    size_t *outlen);

/* ---------------------------------------------------------------- JWK */

enum jose_kty {
	JOSE_KTY_RSA = 0,
	JOSE_KTY_EC_P256,
	JOSE_KTY_EC_P384,
	JOSE_KTY_EC_P521,
	JOSE_KTY_ED25519
};

struct jose_jwk;

/*
 * Imports a public JWK (borrowed). Accepts kty RSA (n, e; 2048 to 8192
 * bits), EC (crv P-256/P-384/P-521, x, y of the curve's exact length, point
 * on the curve) and OKP (crv Ed25519, x). Private members ("d", "p", ...)
 * are ANVIL_ERR_MALFORMED. RSA under 2048 bits, other curves and key types
 * are ANVIL_ERR_BADPUBKEY. err says why. Caller owns *out (a reference:
 * a key imported before from the same JSON comes from a per-process cache
 * of 32 keys; jose_jwk_free releases either way; keys are never changed).
 */
anvil_err jose_jwk_import(json_t *jwk, struct jose_jwk **out, char *err,
    size_t errlen);

/* Empties jose_jwk_import's cache (tests, leak checks). */
void jose_jwk_cache_flush(void);

/*
 * The same for a GnuTLS public key (e.g. from a certificate, for
 * revocation signed by the certificate key). Caller owns *out.
 */
anvil_err jose_jwk_from_pubkey(gnutls_pubkey_t pub, struct jose_jwk **out,
    char *err, size_t errlen);

/* Frees a JWK; NULL is a no-op. */
void jose_jwk_free(struct jose_jwk *k);

enum jose_kty jose_jwk_kty(const struct jose_jwk *k);

/* Borrowed GnuTLS public key. */
gnutls_pubkey_t jose_jwk_pubkey(const struct jose_jwk *k);

/*
 * The RFC 7638 SHA-256 thumbprint, base64url (43 characters + NUL) into
 * out.
 */
anvil_err jose_jwk_thumbprint(const struct jose_jwk *k, char out[44]);

/* The canonical public JWK as JSON (new reference: json_decref). */
json_t *jose_jwk_to_json(const struct jose_jwk *k);

/* DER SubjectPublicKeyInfo (*der new, gnutls_free). */
anvil_err jose_jwk_spki(const struct jose_jwk *k, gnutls_datum_t *der);

/* 1 if a and b are the same public key, 0 otherwise. */
int jose_jwk_equal(const struct jose_jwk *a, const struct jose_jwk *b);

/* ---------------------------------------------------------------- JWS */

/* Accepted "alg" values, for badSignatureAlgorithm's detail. */
#define JOSE_ALGS "RS256, ES256, ES384, ES512, EdDSA"

/* The accepted "alg" values as a JSON array of strings, in JOSE_ALGS's
 * order (new reference; NULL when out of memory). */
json_t *jose_algs_json(void);

struct jose_jws {
	json_t *header;		/* decoded protected header */
	const char *alg;	/* borrowed from header */
	const char *nonce;	/* NULL when absent */
	const char *url;	/* NULL when absent */
	const char *kid;	/* NULL when absent */
	struct jose_jwk *jwk;	/* imported "jwk", NULL when absent */
	unsigned char *payload;	/* decoded payload, NUL-terminated */
	size_t payload_len;	/* 0 for POST-as-GET ("payload": "") */
	char *signing_input;	/* protected "." payload, as received */
	unsigned char *sig;	/* decoded signature */
	size_t sig_len;
};

/*
 * Parses a flattened JSON JWS (body, len bytes; not NUL-terminated
 * necessarily). Refuses: not JSON or duplicate members, members other than
 * "protected", "payload", "signature" (general JSON serialization and
 * unprotected "header" included), a protected header that is not a JSON
 * object, "alg" missing (malformed), "alg" not one of JOSE_ALGS
 * (ANVIL_ERR_BADSIGALG, "none" and HS* included), both or neither of
 * "jwk" and "kid", a bad "jwk" (ANVIL_ERR_BADPUBKEY / MALFORMED), "crit"
 * present, non-string nonce/url/kid. Does not verify the signature and
 * does not check nonce or url (the caller does). Caller owns *out.
 */
anvil_err jose_jws_parse(const char *body, size_t len, struct jose_jws **out,
    char *err, size_t errlen);

/*
 * Verifies jws's signature with key: "alg" must fit the key (RS256 for
 * RSA, ES256/ES384/ES512 for P-256/P-384/P-521 with r||s of the exact
 * length, EdDSA for Ed25519), else ANVIL_ERR_BADSIGALG; a bad signature
 * is ANVIL_ERR_MALFORMED ("JWS verification error").
 */
anvil_err jose_jws_verify(const struct jose_jws *jws,
    const struct jose_jwk *key, char *err, size_t errlen);

/* Frees a JWS; NULL is a no-op. */
void jose_jws_free(struct jose_jws *jws);

/*
 * From now on, verifies ES256/384/512 with OpenSSL's libcrypto, loaded
 * with dlopen (about 2.3 times fewer instructions than GnuTLS; the same
 * checks). For long-lived processes: loading costs more than one CGI
 * request's verification saves. ANVIL_ERR_IO (logged) when it cannot be
 * loaded; GnuTLS keeps verifying then.
 */
anvil_err jose_ossl_enable(void);

#endif
