/*
 * jws.c - flattened JSON JWS (RFC 7515 §7.2.2) as ACME uses it (RFC 8555
 * §6.2): parsing with the header checks that need no state, and signature
 * verification with RS256, ES256, ES384, ES512 and EdDSA (Ed25519).
 *
 * Nothing here knows about nonces, URLs or accounts: the caller checks
 * "nonce" and "url" and looks "kid" up.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <openssl/evp.h>

#include "core/log.h"
#include "jose/jose.h"
#include "jose/jose_int.h"

/* Defence in depth: the HTTP layer bounds request bodies before this. */
#define JWS_MAX_LEN ((size_t)1024 * 1024)

static const struct jws_alg {
	const char *name;	/* JWS "alg" */
	enum jose_kty kty;	/* the one key type it fits */
	gnutls_sign_algorithm_t sign;
	size_t rs_size;		/* ECDSA: bytes of r and of s; else 0 */
	int md;			/* index into mds[]: OpenSSL verifies; -1: GnuTLS */
} jws_algs[] = {
	{ "RS256", JOSE_KTY_RSA, GNUTLS_SIGN_RSA_SHA256, 0, -1 },
	{ "ES256", JOSE_KTY_EC_P256, GNUTLS_SIGN_ECDSA_SHA256, 32, 0 },
	{ "ES384", JOSE_KTY_EC_P384, GNUTLS_SIGN_ECDSA_SHA384, 48, 1 },
	{ "ES512", JOSE_KTY_EC_P521, GNUTLS_SIGN_ECDSA_SHA512, 66, 2 },
	{ "EdDSA", JOSE_KTY_ED25519, GNUTLS_SIGN_EDDSA_ED25519, 0, -1 },
};

/* Digests fetched once per process: a fetch per call costs a lookup. */
static const char *const md_names[] = { "SHA256", "SHA384", "SHA512" };
static EVP_MD *mds[3];
#define N_JWS_ALGS (sizeof(jws_algs) / sizeof(jws_algs[0]))

json_t *
jose_algs_json(void)
{
	json_t *a;
	size_t i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < N_JWS_ALGS; i++)
		if (json_array_append_new(a, json_string(jws_algs[i].name))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static const char *const kty_names[] = {
	[JOSE_KTY_RSA] = "RSA",
	[JOSE_KTY_EC_P256] = "P-256",
	[JOSE_KTY_EC_P384] = "P-384",
	[JOSE_KTY_EC_P521] = "P-521",
	[JOSE_KTY_ED25519] = "Ed25519",
};

static const struct jws_alg *
alg_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < N_JWS_ALGS; i++)
		if (strcmp(jws_algs[i].name, name) == 0)
			return &jws_algs[i];
	return NULL;
}

static const char *
kty_name(enum jose_kty kty)
{
	if ((size_t)kty < sizeof(kty_names) / sizeof(kty_names[0]) &&
	    kty_names[kty] != NULL)
		return kty_names[kty];
	return "unknown";
}

/*
 * The optional string member name of the header: ANVIL_OK with *out NULL
 * when absent, ANVIL_ERR_MALFORMED when present but not a string.
 */
static anvil_err
opt_string(json_t *header, const char *name, const char **out, char *err,
    size_t errlen)
{
	json_t *v = json_object_get(header, name);

	*out = NULL;
	if (v == NULL)
		return ANVIL_OK;
	if (!json_is_string(v))
		return errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "JWS header \"%s\" is not a string", name);
	*out = json_string_value(v);
	return ANVIL_OK;
}

/* The checks on the decoded protected header, filling jws's borrowed fields. */
static anvil_err
check_header(struct jose_jws *jws, char *err, size_t errlen)
{
	json_t *h = jws->header, *alg = NULL, *jwk = NULL, *kid = NULL;
	anvil_err rc;

	if ((alg = json_object_get(h, "alg")) == NULL)
		return errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "JWS header has no \"alg\"");
	if (!json_is_string(alg))
		return errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "JWS header \"alg\" is not a string");
	if (alg_by_name(json_string_value(alg)) == NULL)
		return errf(err, errlen, ANVIL_ERR_BADSIGALG,
		    "JWS algorithm not supported; accepted: %s", JOSE_ALGS);
	jws->alg = json_string_value(alg);

	/* We understand no extension, so any "crit" is unsatisfiable. */
	if (json_object_get(h, "crit") != NULL)
		return errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "JWS header \"crit\" not supported");

	jwk = json_object_get(h, "jwk");
	kid = json_object_get(h, "kid");
	if ((jwk == NULL) == (kid == NULL))
		return errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "JWS header must have exactly one of \"jwk\" and \"kid\"");
	if ((rc = opt_string(h, "kid", &jws->kid, err, errlen)) != ANVIL_OK ||
	    (rc = opt_string(h, "nonce", &jws->nonce, err, errlen)) !=
	    ANVIL_OK ||
	    (rc = opt_string(h, "url", &jws->url, err, errlen)) != ANVIL_OK)
		return rc;
	if (jwk != NULL)
		return jose_jwk_import(jwk, &jws->jwk, err, errlen);
	return ANVIL_OK;
}

/* The string member name of the JWS object, or NULL if missing or not a string. */
static json_t *
jws_member(json_t *root, const char *name)
{
	json_t *v = json_object_get(root, name);

	return json_is_string(v) ? v : NULL;
}

anvil_err
jose_jws_parse(const char *body, size_t len, struct jose_jws **out, char *err,
    size_t errlen)
{
	static const char *const members[] = {
		"protected", "payload", "signature"
	};
	struct jose_jws *jws = NULL;
	json_t *root = NULL, *v = NULL, *prot = NULL, *payload = NULL;
	json_t *sig = NULL;
	json_error_t jerr;
	const char *key = NULL;
	unsigned char *raw = NULL;
	size_t rawlen = 0, plen = 0, ylen = 0, i;
	anvil_err rc = ANVIL_ERR_MALFORMED;

	*out = NULL;
	if (body == NULL && len > 0)
		return errf(err, errlen, ANVIL_ERR_MALFORMED, "no JWS");
	if (len > JWS_MAX_LEN)
		return errf(err, errlen, ANVIL_ERR_TOOLARGE,
		    "JWS larger than %zu bytes", JWS_MAX_LEN);
	if (len > 0 && memchr(body, '\0', len) != NULL)
		return errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "JWS contains a NUL byte");

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (json_error_code(&jerr) == json_error_duplicate_key)
			rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
			    "JWS has a duplicate member");
		else
			rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
			    "JWS is not valid JSON (line %d, column %d)",
			    jerr.line, jerr.column);
		goto out;
	}
	if (!json_is_object(root)) {
		rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "JWS is not a JSON object");
		goto out;
	}
	json_object_foreach(root, key, v) {
		for (i = 0; i < sizeof(members) / sizeof(members[0]); i++)
			if (strcmp(key, members[i]) == 0)
				break;
		if (i < sizeof(members) / sizeof(members[0]))
			continue;
		if (strcmp(key, "signatures") == 0)
			rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
			    "JWS general serialization not accepted: use "
			    "flattened JSON");
		else if (strcmp(key, "header") == 0)
			rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
			    "JWS unprotected header not accepted");
		else
			rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
			    "JWS has a member other than protected, payload "
			    "and signature");
		goto out;
	}
	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		if (jws_member(root, members[i]) == NULL) {
			rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
			    "JWS member \"%s\" missing or not a string",
			    members[i]);
			goto out;
		}
	prot = jws_member(root, "protected");
	payload = jws_member(root, "payload");
	sig = jws_member(root, "signature");

	if ((jws = calloc(1, sizeof(*jws))) == NULL) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}

	/* Protected header: base64url of a JSON object. */
	rc = b64u_decode(json_string_value(prot), json_string_length(prot),
	    &raw, &rawlen);
	if (rc != ANVIL_OK) {
		if (rc == ANVIL_ERR_MALFORMED)
			errf(err, errlen, rc,
			    "JWS protected header is not base64url");
		goto out;
	}
	if (memchr(raw, '\0', rawlen) != NULL) {
		rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "JWS protected header contains a NUL byte");
		goto out;
	}
	jws->header = json_loadb((const char *)raw, rawlen,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (jws->header == NULL) {
		if (json_error_code(&jerr) == json_error_duplicate_key)
			rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
			    "JWS protected header has a duplicate member");
		else
			rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
			    "JWS protected header is not valid JSON");
		goto out;
	}
	if (!json_is_object(jws->header)) {
		rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "JWS protected header is not a JSON object");
		goto out;
	}
	if ((rc = check_header(jws, err, errlen)) != ANVIL_OK)
		goto out;

	/* Payload: "" is POST-as-GET. */
	plen = json_string_length(payload);
	rc = b64u_decode(json_string_value(payload), plen, &jws->payload,
	    &jws->payload_len);
	if (rc != ANVIL_OK) {
		if (rc == ANVIL_ERR_MALFORMED)
			errf(err, errlen, rc, "JWS payload is not base64url");
		goto out;
	}

	rc = b64u_decode(json_string_value(sig), json_string_length(sig),
	    &jws->sig, &jws->sig_len);
	if (rc != ANVIL_OK) {
		if (rc == ANVIL_ERR_MALFORMED)
			errf(err, errlen, rc, "JWS signature is not base64url");
		goto out;
	}
	if (jws->sig_len == 0) {
		rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "JWS signature is empty");
		goto out;
	}

	/* The signing input is the encoded text exactly as received. */
	ylen = json_string_length(prot);
	if ((jws->signing_input = malloc(ylen + 1 + plen + 1)) == NULL) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	memcpy(jws->signing_input, json_string_value(prot), ylen);
	jws->signing_input[ylen] = '.';
	memcpy(jws->signing_input + ylen + 1, json_string_value(payload),
	    plen);
	jws->signing_input[ylen + 1 + plen] = '\0';

	*out = jws;
	jws = NULL;
	rc = ANVIL_OK;
out:
	free(raw);
	json_decref(root);
	jose_jws_free(jws);
	return rc;
}

/*
 * Verifies with OpenSSL: ANVIL_OK, ANVIL_ERR_MALFORMED for a signature
 * that does not verify, ANVIL_ERR_CRYPTO or ANVIL_ERR_NOMEM when it could
 * not be checked.
 */
static anvil_err
verify_ossl(const struct jws_alg *a, EVP_PKEY *pkey,
    const unsigned char *data, size_t len, const gnutls_datum_t *der,
    char *err, size_t errlen)
{
	const struct jose_ossl_api *o = jose_ossl();
	EVP_MD_CTX *mctx = NULL;
	anvil_err rc = ANVIL_ERR_CRYPTO;
	int ret;

	if (mds[a->md] == NULL &&
	    (mds[a->md] = o->md_fetch(NULL, md_names[a->md], NULL)) == NULL) {
		log_warn("EVP_MD_fetch %s failed", md_names[a->md]);
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "JWS verification "
		    "error: no %s digest", md_names[a->md]);
		goto out;
	}
	if ((mctx = o->md_ctx_new()) == NULL) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if (o->verify_init(mctx, NULL, mds[a->md], NULL, pkey) != 1) {
		log_warn("EVP_DigestVerifyInit %s failed", a->name);
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "JWS verification "
		    "error: cannot verify %s", a->name);
		goto out;
	}
	ret = o->verify(mctx, der->data, der->size, data, len);
	rc = ret == 1 ? ANVIL_OK : errf(err, errlen, ANVIL_ERR_MALFORMED,
	    "JWS verification error");
out:
	/* A refused signature leaves reasons queued; they are not errors of
	 * this process and must not show up under a later call. */
	o->err_clear();
	o->md_ctx_free(mctx);
	return rc;
}

anvil_err
jose_jws_verify(const struct jose_jws *jws, const struct jose_jwk *key,
    char *err, size_t errlen)
{
	const struct jws_alg *a = NULL;
	gnutls_datum_t data, sig, r, s, der = { NULL, 0 };
	EVP_PKEY *pkey = NULL;
	anvil_err rc = ANVIL_ERR_MALFORMED;
	int ret;

	if (jws == NULL || key == NULL || jws->alg == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "no JWS or no key");
	if ((a = alg_by_name(jws->alg)) == NULL)
		return errf(err, errlen, ANVIL_ERR_BADSIGALG,
		    "JWS algorithm not supported; accepted: %s", JOSE_ALGS);
	if (a->kty != jose_jwk_kty(key))
		return errf(err, errlen, ANVIL_ERR_BADSIGALG,
		    "JWS algorithm %s does not fit a %s key", a->name,
		    kty_name(jose_jwk_kty(key)));

	data.data = (unsigned char *)jws->signing_input;
	data.size = (unsigned int)strlen(jws->signing_input);
	sig.data = jws->sig;
	sig.size = (unsigned int)jws->sig_len;
	if (a->rs_size > 0) {
		/* JWS carries ECDSA as r || s (RFC 7518 §3.4); GnuTLS wants DER. */
		if (jws->sig_len != 2 * a->rs_size) {
			rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
			    "JWS verification error: %s signature must be "
			    "%zu bytes", a->name, 2 * a->rs_size);
			goto out;
		}
		r.data = jws->sig;
		r.size = (unsigned int)a->rs_size;
		s.data = jws->sig + a->rs_size;
		s.size = (unsigned int)a->rs_size;
		if ((ret = gnutls_encode_rs_value(&der, &r, &s)) < 0) {
			/* err may reach a client: GnuTLS's text goes to the
			 * log only (src/core/error.h). */
			log_warn("gnutls_encode_rs_value: %s",
			    gnutls_strerror(ret));
			rc = errf(err, errlen, ANVIL_ERR_CRYPTO,
			    "JWS verification error: cannot encode the %s "
			    "signature", a->name);
			goto out;
		}
		sig = der;
	}
	if (a->md >= 0 && (pkey = jose_jwk_ossl(key)) != NULL) {
		rc = verify_ossl(a, pkey, data.data, data.size, &sig, err,
		    errlen);
		goto out;
	}
	ret = gnutls_pubkey_verify_data2(jose_jwk_pubkey(key), a->sign, 0,
	    &data, &sig);
	if (ret < 0) {
		rc = errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "JWS verification error");
		goto out;
	}
	rc = ANVIL_OK;
out:
	gnutls_free(der.data);
	return rc;
}

void
jose_jws_free(struct jose_jws *jws)
{
	if (jws == NULL)
		return;
	json_decref(jws->header);
	jose_jwk_free(jws->jwk);
	free(jws->payload);
	free(jws->signing_input);
	free(jws->sig);
	free(jws);
}
