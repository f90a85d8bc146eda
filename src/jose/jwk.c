/*
 * jwk.c - public JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037 §2):
 * import from JSON or from a GnuTLS public key, the RFC 7638 thumbprint,
 * the canonical JSON form, comparison.
 *
 * Every key, whatever its source, goes through one constructor per key
 * type that applies the policy (RSA 2048 to 8192 bits with a sane
 * exponent; P-256/P-384/P-521 points of the exact length and on the
 * curve; Ed25519) and records the canonical public members, re-encoded
 * from the numbers themselves (so a modulus sent with leading zero bytes
 * has the same thumbprint and compares equal to the same key without).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "core/log.h"
#include "jose/jose.h"
#include "jose/jose_int.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192
#define EC_MAX_COORD 66		/* P-521 */
#define ED25519_LEN 32

struct jose_jwk {
	enum jose_kty kty;
	gnutls_pubkey_t pub;
	json_t *canon;		/* the RFC 7638 required members only */
	unsigned int refs;	/* owners: callers and the import cache */
	/* EC only, for jose_jwk_ossl: */
	const struct ec_curve *curve;
	unsigned char point[1 + 2 * EC_MAX_COORD]; /* 04 || x || y, SEC 1 §2.3.3 */
	EVP_PKEY *ossl;		/* made on first use; NULL before */
	int ossl_failed;	/* OpenSSL refused it: GnuTLS verifies */
};

static const struct ec_curve {
	enum jose_kty kty;
	const char *crv;	/* JWK "crv" */
	gnutls_ecc_curve_t curve;
	const char *group;	/* OpenSSL's group name */
	size_t size;		/* bytes per coordinate */
} ec_curves[] = {
	{ JOSE_KTY_EC_P256, "P-256", GNUTLS_ECC_CURVE_SECP256R1, "prime256v1",
	  32 },
	{ JOSE_KTY_EC_P384, "P-384", GNUTLS_ECC_CURVE_SECP384R1, "secp384r1",
	  48 },
	{ JOSE_KTY_EC_P521, "P-521", GNUTLS_ECC_CURVE_SECP521R1, "secp521r1",
	  66 },
};
#define N_EC_CURVES (sizeof(ec_curves) / sizeof(ec_curves[0]))

/* Members that only a private (or symmetric) JWK has: RFC 7518 §6.2.2, §6.3.2, §6.4. */
static const char *const private_members[] = {
	"d", "p", "q", "dp", "dq", "qi", "oth", "k",
};

static const struct ec_curve *
ec_by_name(const char *crv)
{
	size_t i;

	for (i = 0; i < N_EC_CURVES; i++)
		if (strcmp(ec_curves[i].crv, crv) == 0)
			return &ec_curves[i];
	return NULL;
}

static const struct ec_curve *
ec_by_gnutls(gnutls_ecc_curve_t curve)
{
	size_t i;

	for (i = 0; i < N_EC_CURVES; i++)
		if (ec_curves[i].curve == curve)
			return &ec_curves[i];
	return NULL;
}

static void
strip_zeros(const unsigned char **p, size_t *len)
{
	while (*len > 0 && (*p)[0] == 0) {
		(*p)++;
		(*len)--;
	}
}

/* Bit length of a big-endian unsigned integer without leading zero bytes. */
static size_t
bit_length(const unsigned char *p, size_t len)
{
	size_t bits;
	unsigned char top;

	if (len == 0)
		return 0;
	bits = (len - 1) * 8;
	for (top = p[0]; top != 0; top >>= 1)
		bits++;
	return bits;
}

/* Adds name: base64url(p) to obj. */
static anvil_err
set_b64u(json_t *obj, const char *name, const unsigned char *p, size_t len)
{
	char *s = NULL;
	anvil_err rc;

	if ((rc = b64u_encode(p, len, &s)) != ANVIL_OK)
		return rc;
	rc = json_object_set_new(obj, name, json_string(s)) == 0 ?
	    ANVIL_OK : ANVIL_ERR_NOMEM;
	free(s);
	return rc;
}

/*
 * A failed GnuTLS call: its text goes to the log under the call's name,
 * err gets ours (why), since err may end up in a problem document
 * (src/acme/auth.c) and GnuTLS's wording is not for clients
 * (src/core/error.h).
 */
static anvil_err
lib_err(char *err, size_t errlen, anvil_err code, const char *call, int ret,
    const char *why)
{
	if (code == ANVIL_ERR_CRYPTO)
		log_warn("%s: %s", call, gnutls_strerror(ret));
	else
		log_info("%s: %s", call, gnutls_strerror(ret));
	return errf(err, errlen, code, "%s", why);
}

/* A new key with an empty pubkey and canonical object {"kty": kty}. */
static anvil_err
jwk_alloc(enum jose_kty kty, const char *kty_name, struct jose_jwk **out,
    char *err, size_t errlen)
{
	struct jose_jwk *k = NULL;
	int ret;

	*out = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return ANVIL_ERR_NOMEM;
	k->kty = kty;
	k->refs = 1;
	if ((ret = gnutls_pubkey_init(&k->pub)) < 0) {
		k->pub = NULL;
		jose_jwk_free(k);
		return lib_err(err, errlen, ANVIL_ERR_CRYPTO,
		    "gnutls_pubkey_init", ret, "cannot set up a public key");
	}
	if ((k->canon = json_object()) == NULL ||
	    json_object_set_new(k->canon, "kty", json_string(kty_name)) != 0) {
		jose_jwk_free(k);
		return ANVIL_ERR_NOMEM;
	}
	*out = k;
	return ANVIL_OK;
}

static anvil_err
jwk_new_rsa(const unsigned char *n, size_t nlen, const unsigned char *e,
    size_t elen, struct jose_jwk **out, char *err, size_t errlen)
{
	struct jose_jwk *k = NULL;
	gnutls_datum_t dn, de;
	size_t bits, i;
	unsigned long ev = 0;
	anvil_err rc;
	int ret;

	*out = NULL;
	strip_zeros(&n, &nlen);
	strip_zeros(&e, &elen);
	bits = bit_length(n, nlen);
	if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
		return errf(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "RSA key of %zu bits: %d to %d accepted", bits,
		    RSA_MIN_BITS, RSA_MAX_BITS);
	if ((n[nlen - 1] & 1) == 0)
		return errf(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "RSA modulus is even");
	/* Public exponents in use are 3 or 65537; refuse giant ones. */
	if (elen == 0 || elen > 4)
		return errf(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "RSA public exponent out of range");
	for (i = 0; i < elen; i++)
		ev = ev << 8 | e[i];
	if (ev < 3 || (ev & 1) == 0)
		return errf(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "RSA public exponent %lu refused", ev);

	if ((rc = jwk_alloc(JOSE_KTY_RSA, "RSA", &k, err, errlen)) != ANVIL_OK)
		return rc;
	dn.data = (unsigned char *)n;
	dn.size = (unsigned int)nlen;
	de.data = (unsigned char *)e;
	de.size = (unsigned int)elen;
	if ((ret = gnutls_pubkey_import_rsa_raw(k->pub, &dn, &de)) < 0) {
		rc = lib_err(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "gnutls_pubkey_import_rsa_raw", ret, "RSA key refused");
		goto out;
	}
	if ((rc = set_b64u(k->canon, "n", n, nlen)) != ANVIL_OK ||
	    (rc = set_b64u(k->canon, "e", e, elen)) != ANVIL_OK)
		goto out;
	*out = k;
	k = NULL;
	rc = ANVIL_OK;
out:
	jose_jwk_free(k);
	return rc;
}

/* x and y are exactly c->size bytes each. */
static anvil_err
jwk_new_ec(const struct ec_curve *c, const unsigned char *x,
    const unsigned char *y, struct jose_jwk **out, char *err, size_t errlen)
{
	struct jose_jwk *k = NULL;
	gnutls_datum_t dx, dy;
	anvil_err rc;
	int ret;

	*out = NULL;
	if ((rc = jwk_alloc(c->kty, "EC", &k, err, errlen)) != ANVIL_OK)
		return rc;
	dx.data = (unsigned char *)x;
	dx.size = (unsigned int)c->size;
	dy.data = (unsigned char *)y;
	dy.size = (unsigned int)c->size;
	if ((ret = gnutls_pubkey_import_ecc_raw(k->pub, c->curve, &dx,
	    &dy)) < 0) {
		rc = lib_err(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "gnutls_pubkey_import_ecc_raw", ret, "EC key refused");
		goto out;
	}
	/*
	 * GnuTLS 3.7 imports any pair of integers; this is what checks that
	 * they are below p and satisfy the curve equation.
	 */
	if ((ret = gnutls_pubkey_verify_params(k->pub)) < 0) {
		rc = errf(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "EC point is not on curve %s", c->crv);
		goto out;
	}
	k->curve = c;
	k->point[0] = 0x04;
	memcpy(k->point + 1, x, c->size);
	memcpy(k->point + 1 + c->size, y, c->size);
	if (json_object_set_new(k->canon, "crv", json_string(c->crv)) != 0) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if ((rc = set_b64u(k->canon, "x", x, c->size)) != ANVIL_OK ||
	    (rc = set_b64u(k->canon, "y", y, c->size)) != ANVIL_OK)
		goto out;
	*out = k;
	k = NULL;
	rc = ANVIL_OK;
out:
	jose_jwk_free(k);
	return rc;
}

/* x is ED25519_LEN bytes. */
static anvil_err
jwk_new_ed25519(const unsigned char *x, struct jose_jwk **out, char *err,
    size_t errlen)
{
	struct jose_jwk *k = NULL;
	gnutls_datum_t dx;
	anvil_err rc;
	int ret;

	*out = NULL;
	if ((rc = jwk_alloc(JOSE_KTY_ED25519, "OKP", &k, err, errlen)) !=
	    ANVIL_OK)
		return rc;
	dx.data = (unsigned char *)x;
	dx.size = ED25519_LEN;
	if ((ret = gnutls_pubkey_import_ecc_raw(k->pub,
	    GNUTLS_ECC_CURVE_ED25519, &dx, NULL)) < 0) {
		rc = lib_err(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "gnutls_pubkey_import_ecc_raw", ret, "Ed25519 key refused");
		goto out;
	}
	if (json_object_set_new(k->canon, "crv", json_string("Ed25519")) != 0) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if ((rc = set_b64u(k->canon, "x", x, ED25519_LEN)) != ANVIL_OK)
		goto out;
	*out = k;
	k = NULL;
	rc = ANVIL_OK;
out:
	jose_jwk_free(k);
	return rc;
}

/* The string member name of jwk, or NULL (and err) if absent or not a string. */
static const char *
get_string(json_t *jwk, const char *name, char *err, size_t errlen)
{
	json_t *v = json_object_get(jwk, name);

	if (!json_is_string(v)) {
		errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "jwk member \"%s\" missing or not a string", name);
		return NULL;
	}
	return json_string_value(v);
}

/* Decodes the base64url string member name of jwk into *out (caller frees). */
static anvil_err
get_b64u(json_t *jwk, const char *name, unsigned char **out, size_t *outlen,
    char *err, size_t errlen)
{
	json_t *v = json_object_get(jwk, name);
	anvil_err rc;

	*out = NULL;
	*outlen = 0;
	if (!json_is_string(v))
		return errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "jwk member \"%s\" missing or not a string", name);
	rc = b64u_decode(json_string_value(v), json_string_length(v), out,
	    outlen);
	if (rc == ANVIL_ERR_MALFORMED)
		return errf(err, errlen, rc,
		    "jwk member \"%s\" is not base64url", name);
	return rc;
}

static anvil_err
import_rsa(json_t *jwk, struct jose_jwk **out, char *err, size_t errlen)
{
	unsigned char *n = NULL, *e = NULL;
	size_t nlen = 0, elen = 0;
	anvil_err rc;

	if ((rc = get_b64u(jwk, "n", &n, &nlen, err, errlen)) != ANVIL_OK ||
	    (rc = get_b64u(jwk, "e", &e, &elen, err, errlen)) != ANVIL_OK)
		goto out;
	rc = jwk_new_rsa(n, nlen, e, elen, out, err, errlen);
out:
	free(n);
	free(e);
	return rc;
}

static anvil_err
import_ec(json_t *jwk, struct jose_jwk **out, char *err, size_t errlen)
{
	const struct ec_curve *c = NULL;
	const char *crv = NULL;
	unsigned char *x = NULL, *y = NULL;
	size_t xlen = 0, ylen = 0;
	anvil_err rc;

	if ((crv = get_string(jwk, "crv", err, errlen)) == NULL)
		return ANVIL_ERR_MALFORMED;
	if ((rc = get_b64u(jwk, "x", &x, &xlen, err, errlen)) != ANVIL_OK ||
	    (rc = get_b64u(jwk, "y", &y, &ylen, err, errlen)) != ANVIL_OK)
		goto out;
	if ((c = ec_by_name(crv)) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "EC curve not supported: P-256, P-384, P-521 accepted");
		goto out;
	}
	if (xlen != c->size || ylen != c->size) {
		rc = errf(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "%s coordinates must be %zu bytes each", c->crv, c->size);
		goto out;
	}
	rc = jwk_new_ec(c, x, y, out, err, errlen);
out:
	free(x);
	free(y);
	return rc;
}

static anvil_err
import_okp(json_t *jwk, struct jose_jwk **out, char *err, size_t errlen)
{
	const char *crv = NULL;
	unsigned char *x = NULL;
	size_t xlen = 0;
	anvil_err rc;

	if ((crv = get_string(jwk, "crv", err, errlen)) == NULL)
		return ANVIL_ERR_MALFORMED;
	if ((rc = get_b64u(jwk, "x", &x, &xlen, err, errlen)) != ANVIL_OK)
		goto out;
	if (strcmp(crv, "Ed25519") != 0) {
		rc = errf(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "OKP curve not supported: Ed25519 accepted");
		goto out;
	}
	if (xlen != ED25519_LEN) {
		rc = errf(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "Ed25519 key must be %d bytes", ED25519_LEN);
		goto out;
	}
	rc = jwk_new_ed25519(x, out, err, errlen);
out:
	free(x);
	return rc;
}

static anvil_err
import_uncached(json_t *jwk, struct jose_jwk **out, char *err, size_t errlen)
{
	const char *kty = NULL;
	size_t i;

	*out = NULL;
	if (!json_is_object(jwk))
		return errf(err, errlen, ANVIL_ERR_MALFORMED,
		    "jwk is not a JSON object");
	if ((kty = get_string(jwk, "kty", err, errlen)) == NULL)
		return ANVIL_ERR_MALFORMED;
	/* Symmetric keys ("oct") and the rest: a kind of key we refuse. */
	if (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0 &&
	    strcmp(kty, "OKP") != 0)
		return errf(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "jwk key type not supported: RSA, EC, OKP accepted");
	for (i = 0; i < sizeof(private_members) / sizeof(private_members[0]);
	    i++)
		if (json_object_get(jwk, private_members[i]) != NULL)
			return errf(err, errlen, ANVIL_ERR_MALFORMED,
			    "jwk has private key member \"%s\"",
			    private_members[i]);
	if (strcmp(kty, "RSA") == 0)
		return import_rsa(jwk, out, err, errlen);
	if (strcmp(kty, "EC") == 0)
		return import_ec(jwk, out, err, errlen);
	return import_okp(jwk, out, err, errlen);
}

/*
 * The import cache: every request signed with a kid imports the account's
 * stored JWK again, and a FastCGI worker serves the same few accounts over
 * and over. A slot is keyed by the whole JWK as compact JSON with sorted
 * members, so a hit is a key imported from the very same members and
 * values, with every check above already passed; a key that failed is
 * never stored. Per process: workers are single-threaded
 * (architecture.md), and keys are never changed after import.
 */
#define JWK_CACHE_SLOTS 32
#define JWK_CACHE_MAX_TEXT 4096	/* an RSA-8192 JWK is about 1,400 bytes */

static struct jwk_slot {
	char *text;		/* the JWK as json_dumps wrote it */
	size_t len;
	struct jose_jwk *k;	/* holds one reference */
	unsigned long used;	/* jwk_clock at the last hit */
} jwk_cache[JWK_CACHE_SLOTS];
static unsigned long jwk_clock;

static void
slot_clear(struct jwk_slot *s)
{
	free(s->text);
	jose_jwk_free(s->k);
	memset(s, 0, sizeof(*s));
}

void
jose_jwk_cache_flush(void)
{
	size_t i;

	for (i = 0; i < JWK_CACHE_SLOTS; i++)
		slot_clear(&jwk_cache[i]);
	jwk_clock = 0;
}

/* Takes text (the caller's copy is gone) and a new reference to k. */
static void
cache_put(char *text, size_t len, struct jose_jwk *k)
{
	struct jwk_slot *victim = &jwk_cache[0];
	size_t i;

	for (i = 0; i < JWK_CACHE_SLOTS; i++) {
		if (jwk_cache[i].k == NULL) {
			victim = &jwk_cache[i];
			break;
		}
		if (jwk_cache[i].used < victim->used)
			victim = &jwk_cache[i];
	}
	slot_clear(victim);
	victim->text = text;
	victim->len = len;
	victim->k = k;
	victim->used = ++jwk_clock;
	k->refs++;
}

anvil_err
jose_jwk_import(json_t *jwk, struct jose_jwk **out, char *err, size_t errlen)
{
	char *text = NULL;
	size_t i, len = 0;
	anvil_err rc;

	*out = NULL;
	if (json_is_object(jwk) &&
	    (text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS)) != NULL) {
		len = strlen(text);
		for (i = 0; i < JWK_CACHE_SLOTS; i++) {
			if (jwk_cache[i].k == NULL || jwk_cache[i].len != len ||
			    memcmp(jwk_cache[i].text, text, len) != 0)
				continue;
			jwk_cache[i].used = ++jwk_clock;
			jwk_cache[i].k->refs++;
			*out = jwk_cache[i].k;
			free(text);
			return ANVIL_OK;
		}
	}
	rc = import_uncached(jwk, out, err, errlen);
	if (rc == ANVIL_OK && text != NULL && len <= JWK_CACHE_MAX_TEXT) {
		cache_put(text, len, *out);
		text = NULL;
	}
	free(text);
	return rc;
}

/*
 * Copies the big-endian integer in (any leading zeros) right-aligned into
 * out[size]; -1 if it does not fit.
 */
static int
fit_coord(const gnutls_datum_t *in, unsigned char *out, size_t size)
{
	const unsigned char *p = in->data;
	size_t len = in->size;

	strip_zeros(&p, &len);
	if (len > size)
		return -1;
	memset(out, 0, size - len);
	if (len > 0)
		memcpy(out + size - len, p, len);
	return 0;
}

anvil_err
jose_jwk_from_pubkey(gnutls_pubkey_t pub, struct jose_jwk **out, char *err,
    size_t errlen)
{
	gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 };
	gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
	const struct ec_curve *c = NULL;
	unsigned char x[EC_MAX_COORD], y[EC_MAX_COORD];
	anvil_err rc = ANVIL_ERR_BADPUBKEY;
	int ret, alg;

	*out = NULL;
	if (pub == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID, "no public key");
	alg = gnutls_pubkey_get_pk_algorithm(pub, NULL);
	switch (alg) {
	case GNUTLS_PK_RSA:
		if ((ret = gnutls_pubkey_export_rsa_raw2(pub, &a, &b, 0)) < 0) {
			rc = lib_err(err, errlen, ANVIL_ERR_CRYPTO,
			    "gnutls_pubkey_export_rsa_raw2", ret,
			    "RSA key unreadable");
			goto out;
		}
		rc = jwk_new_rsa(a.data, a.size, b.data, b.size, out, err,
		    errlen);
		break;
	case GNUTLS_PK_ECDSA:
		if ((ret = gnutls_pubkey_export_ecc_raw2(pub, &curve, &a, &b,
		    0)) < 0) {
			rc = lib_err(err, errlen, ANVIL_ERR_CRYPTO,
			    "gnutls_pubkey_export_ecc_raw2", ret,
			    "EC key unreadable");
			goto out;
		}
		if ((c = ec_by_gnutls(curve)) == NULL) {
			rc = errf(err, errlen, ANVIL_ERR_BADPUBKEY,
			    "EC curve not supported: P-256, P-384, P-521 "
			    "accepted");
			goto out;
		}
		if (fit_coord(&a, x, c->size) < 0 ||
		    fit_coord(&b, y, c->size) < 0) {
			rc = errf(err, errlen, ANVIL_ERR_BADPUBKEY,
			    "EC coordinate too long for %s", c->crv);
			goto out;
		}
		rc = jwk_new_ec(c, x, y, out, err, errlen);
		break;
	case GNUTLS_PK_EDDSA_ED25519:
		if ((ret = gnutls_pubkey_export_ecc_raw2(pub, &curve, &a, &b,
		    0)) < 0) {
			rc = lib_err(err, errlen, ANVIL_ERR_CRYPTO,
			    "gnutls_pubkey_export_ecc_raw2", ret,
			    "Ed25519 key unreadable");
			goto out;
		}
		if (a.size != ED25519_LEN) {
			rc = errf(err, errlen, ANVIL_ERR_BADPUBKEY,
			    "Ed25519 key must be %d bytes", ED25519_LEN);
			goto out;
		}
		rc = jwk_new_ed25519(a.data, out, err, errlen);
		break;
	default:
		rc = errf(err, errlen, ANVIL_ERR_BADPUBKEY,
		    "public key algorithm %s not supported",
		    alg < 0 ? "(unknown)" :
		    gnutls_pk_algorithm_get_name((gnutls_pk_algorithm_t)alg));
		break;
	}
out:
	gnutls_free(a.data);
	gnutls_free(b.data);
	return rc;
}

void
jose_jwk_free(struct jose_jwk *k)
{
	if (k == NULL || --k->refs > 0)
		return;
	if (k->pub != NULL)
		gnutls_pubkey_deinit(k->pub);
	if (k->ossl != NULL)
		jose_ossl()->pkey_free(k->ossl);
	json_decref(k->canon);
	free(k);
}

enum jose_kty
jose_jwk_kty(const struct jose_jwk *k)
{
	return k->kty;
}

gnutls_pubkey_t
jose_jwk_pubkey(const struct jose_jwk *k)
{
	return k->pub;
}

EVP_PKEY *
jose_jwk_ossl(const struct jose_jwk *ck)
{
	/* Not part of the key's value: a form of it made once, the way a
	 * cache is filled behind a const pointer. */
	struct jose_jwk *k = (struct jose_jwk *)ck;
	const struct jose_ossl_api *o = jose_ossl();
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
		OSSL_PARAM_END
	};
	char text[256];

	if (k->ossl != NULL || k->curve == NULL || k->ossl_failed || o == NULL)
		return k->ossl;
	params[0].data = (char *)k->curve->group;
	params[0].data_size = strlen(k->curve->group);
	params[1].data = k->point;
	params[1].data_size = 1 + 2 * k->curve->size;
	if ((ctx = o->pkey_ctx_new_from_name(NULL, "EC", NULL)) == NULL ||
	    o->pkey_fromdata_init(ctx) != 1 ||
	    o->pkey_fromdata(ctx, &k->ossl, EVP_PKEY_PUBLIC_KEY,
	    params) != 1) {
		/* GnuTLS accepted this point (jwk_new_ec): not the client's
		 * fault, and GnuTLS can still verify. */
		o->err_string(o->err_get(), text, sizeof(text));
		log_warn("EVP_PKEY_fromdata (%s): %s; GnuTLS verifies",
		    k->curve->crv, text);
		o->err_clear();
		k->ossl = NULL;
		k->ossl_failed = 1;
	}
	o->pkey_ctx_free(ctx);
	return k->ossl;
}

anvil_err
jose_jwk_thumbprint(const struct jose_jwk *k, char out[44])
{
	unsigned char digest[32];
	char *json = NULL, *b64 = NULL;
	anvil_err rc = ANVIL_ERR_NOMEM;

	out[0] = '\0';
	/*
	 * RFC 7638 §3.2: required members only, sorted, no whitespace. The
	 * values are base64url or fixed names, so there is nothing to escape.
	 */
	json = json_dumps(k->canon, JSON_COMPACT | JSON_SORT_KEYS);
	if (json == NULL)
		goto out;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, json, strlen(json), digest) <
	    0) {
		rc = ANVIL_ERR_CRYPTO;
		goto out;
	}
	if ((rc = b64u_encode(digest, sizeof(digest), &b64)) != ANVIL_OK)
		goto out;
	if (strlen(b64) != 43) {
		rc = ANVIL_ERR_CRYPTO;
		goto out;
	}
	memcpy(out, b64, 44);
	rc = ANVIL_OK;
out:
	free(json);
	free(b64);
	return rc;
}

json_t *
jose_jwk_to_json(const struct jose_jwk *k)
{
	return json_deep_copy(k->canon);
}

anvil_err
jose_jwk_spki(const struct jose_jwk *k, gnutls_datum_t *der)
{
	der->data = NULL;
	der->size = 0;
	if (gnutls_pubkey_export2(k->pub, GNUTLS_X509_FMT_DER, der) < 0)
		return ANVIL_ERR_CRYPTO;
	return ANVIL_OK;
}

int
jose_jwk_equal(const struct jose_jwk *a, const struct jose_jwk *b)
{
	if (a == NULL || b == NULL)
		return 0;
	return a->kty == b->kty && json_equal(a->canon, b->canon);
}
