/*
 * ocsp.c - OCSP (RFC 6960, RFC 5019 profile): the delegated responder
 * (its key and certificate), reading requests, building and signing
 * BasicOCSPResponses.
 *
 * GnuTLS reads OCSP requests (gnutls_ocsp_req_import) but cannot write a
 * response, so the response is built here with libtasn1 from the RFC 6960
 * types in pkix.asn and signed with gnutls_privkey_sign_data2.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/ocsp.h>
#include <libtasn1.h>

#include "ca/ca_int.h"
#include "core/log.h"
#include "core/util.h"

#define OID_PKIX_OCSP_BASIC "1.3.6.1.5.5.7.48.1.1"
#define OID_PKIX_OCSP_NONCE "1.3.6.1.5.5.7.48.1.2"
#define OID_PKIX_OCSP_NOCHECK "1.3.6.1.5.5.7.48.1.5"
#define OID_SHA1 "1.3.14.3.2.26"
#define OID_SHA256 "2.16.840.1.101.3.4.2.1"

#define OCSP_MAX_FILE (256 * 1024)

/* The CA's half of a CertID, per hash: what a request for us carries. */
struct issuer_hashes {
	gnutls_digest_algorithm_t dig;
	unsigned char name[64], key[64];
	size_t name_len, key_len;
};

struct ca_ocsp_signer {
	gnutls_privkey_t key;		/* borrowed from the CA when by_ca */
	gnutls_x509_crt_t cert;		/* idem */
	gnutls_datum_t cert_der;	/* the certificate for "certs" */
	int by_ca;
	unsigned char key_hash[20];	/* RFC 6960 4.2.1 ResponderID byKey */
	gnutls_sign_algorithm_t sigalg;
	char sig_oid[64];
	int sig_null_params;		/* RSA: parameters NULL */
	time_t not_after;
	unsigned gen;			/* the CA generation it answers for */
	struct issuer_hashes ih[2];	/* SHA-1, SHA-256 */
};

/* ---------------------------------------------------------- helpers */

static anvil_err
asn1_err(char *err, size_t errlen, const char *call, int ret,
    const char *what)
{
	log_err("%s: %s (%s)", call, asn1_strerror(ret), what);
	return errf(err, errlen, ANVIL_ERR_CRYPTO, "%s: %s (%s)", call,
	    asn1_strerror(ret), what);
}

/* GeneralizedTime text of t (RFC 5280 4.1.2.5.2: Z, no fraction). */
static void
gtime(time_t t, char out[16])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y%m%d%H%M%SZ", &tm);
}

/*
 * The issuer name and key hashes of the CA for dig, computed by GnuTLS
 * itself (a request for the CA certificate, read back), so they are the
 * very bytes a GnuTLS client sends.
 */
static anvil_err
issuer_hashes(gnutls_x509_crt_t cacert, gnutls_digest_algorithm_t dig,
    struct issuer_hashes *h)
{
	gnutls_ocsp_req_t req = NULL;
	gnutls_datum_t n = { NULL, 0 }, k = { NULL, 0 };
	anvil_err rc = ANVIL_ERR_CRYPTO;
	int ret;

	h->dig = dig;
	if ((ret = gnutls_ocsp_req_init(&req)) < 0 ||
	    (ret = gnutls_ocsp_req_add_cert(req, dig, cacert, cacert)) < 0 ||
	    (ret = gnutls_ocsp_req_get_cert_id(req, 0, NULL, &n, &k, NULL)) <
	    0) {
		log_err("issuer hashes: %s", gnutls_strerror(ret));
		goto out;
	}
	if (n.size > sizeof(h->name) || k.size > sizeof(h->key))
		goto out;
	memcpy(h->name, n.data, n.size);
	h->name_len = n.size;
	memcpy(h->key, k.data, k.size);
	h->key_len = k.size;
	rc = ANVIL_OK;
out:
	gnutls_free(n.data);
	gnutls_free(k.data);
	if (req != NULL)
		gnutls_ocsp_req_deinit(req);
	return rc;
}

/* Reads one DER header at p (n bytes left); sets *hl and *len. */
static int
der_head(const unsigned char *p, size_t n, size_t *hl, size_t *len)
{
	size_t k, nb;

	if (n < 2)
		return -1;
	*len = p[1];
	*hl = 2;
	if (p[1] & 0x80) {
		nb = p[1] & 0x7f;
		if (nb == 0 || nb > 3 || n < 2 + nb)
			return -1;
		for (*len = 0, k = 0; k < nb; k++)
			*len = (*len << 8) | p[2 + k];
		*hl += nb;
	}
	return *len <= n - *hl ? 0 : -1;
}

/*
 * RFC 6960 4.2.1 KeyHash: SHA-1 of the subjectPublicKey BIT STRING's
 * value (without tag, length and unused-bits octet). GnuTLS's key id
 * hashes the whole SubjectPublicKeyInfo instead, so it is taken apart
 * here.
 */
static anvil_err
key_hash(gnutls_pubkey_t pub, unsigned char out[20])
{
	gnutls_datum_t spki = { NULL, 0 };
	const unsigned char *p;
	size_t n, hl, len;
	anvil_err rc = ANVIL_ERR_CRYPTO;

	if (gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0)
		return ANVIL_ERR_CRYPTO;
	p = spki.data;
	n = spki.size;
	/* SEQUENCE { AlgorithmIdentifier, BIT STRING } */
	if (der_head(p, n, &hl, &len) != 0 || p[0] != 0x30)
		goto out;
	p += hl;
	n = len;
	if (der_head(p, n, &hl, &len) != 0 || p[0] != 0x30)
		goto out;
	p += hl + len;
	n -= hl + len;
	if (der_head(p, n, &hl, &len) != 0 || p[0] != 0x03 || len < 1)
		goto out;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA1, p + hl + 1, len - 1, out) < 0)
		goto out;
	rc = ANVIL_OK;
out:
	gnutls_free(spki.data);
	return rc;
}

/* Fills the signature facts of s from its key and certificate. */
static anvil_err
signer_facts(struct ca_ocsp_signer *s, char *err, size_t errlen)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_digest_algorithm_t dig = GNUTLS_DIG_SHA256;
	const char *oid;
	unsigned mand = 0;
	int pk, ret;
	anvil_err rc = ANVIL_ERR_CRYPTO;

	CA_TRY(gnutls_pubkey_init, &pub);
	CA_TRY(gnutls_pubkey_import_x509, pub, s->cert, 0);
	CA_TRY(gnutls_pubkey_get_preferred_hash_algorithm, pub, &dig, &mand);
	if (key_hash(pub, s->key_hash) != ANVIL_OK) {
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "responder key hash");
		goto out;
	}
	pk = gnutls_pubkey_get_pk_algorithm(pub, NULL);
	s->sigalg = gnutls_pk_to_sign((gnutls_pk_algorithm_t)pk, dig);
	if (s->sigalg == GNUTLS_SIGN_UNKNOWN ||
	    (oid = gnutls_sign_get_oid(s->sigalg)) == NULL ||
	    strlen(oid) >= sizeof(s->sig_oid)) {
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "no signature "
		    "algorithm for the responder key");
		goto out;
	}
	snprintf(s->sig_oid, sizeof(s->sig_oid), "%s", oid);
	/* RFC 4055 5: RSA PKCS#1 v1.5 signatures carry NULL parameters;
	 * ECDSA and EdDSA none (RFC 5758 3.2, RFC 8410 3). */
	s->sig_null_params = pk == GNUTLS_PK_RSA;
	s->not_after = gnutls_x509_crt_get_expiration_time(s->cert);
	CA_TRY(gnutls_x509_crt_export2, s->cert, GNUTLS_X509_FMT_DER,
	    &s->cert_der);
	rc = ANVIL_OK;
out:
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	return rc;
}

void
ca_ocsp_signer_free(struct ca_ocsp_signer *s)
{
	if (s == NULL)
		return;
	if (!s->by_ca) {
		if (s->key != NULL)
			gnutls_privkey_deinit(s->key);
		if (s->cert != NULL)
			gnutls_x509_crt_deinit(s->cert);
	}
	gnutls_free(s->cert_der.data);
	free(s);
}

time_t
ca_ocsp_signer_not_after(const struct ca_ocsp_signer *s)
{
	return s->not_after;
}

int
ca_ocsp_signer_by_ca(const struct ca_ocsp_signer *s)
{
	return s->by_ca;
}

unsigned
ca_ocsp_signer_gen(const struct ca_ocsp_signer *s)
{
	return s->gen;
}

/* ------------------------------------------------ responder certificate */

/*
 * A new responder key of the CA's key type (or the token's key for a
 * pkcs11: URL) and a certificate for it signed by the CA: RFC 6960 4.2.2.2
 * id-kp-OCSPSigning, 4.2.2.2.1 id-pkix-ocsp-nocheck. Writes the key (0600)
 * then the certificate, each by temporary file and rename, under the CA
 * lock so that a loader never reads one without the other.
 */
anvil_err
ca_ocsp_responder_issue(const struct anvil_config *cfg, struct ca *ca,
    time_t now, char *err, size_t errlen)
{
	gnutls_x509_privkey_t k = NULL;
	gnutls_privkey_t tok = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	unsigned char serial[16], kid[64];
	size_t kidlen = 0;
	enum keytype kt;
	int pkcs11 = strncmp(cfg->ocsp_responder_key, "pkcs11:", 7) == 0;
	int lockfd = -1, ret;
	char cn[128];
	anvil_err rc = ANVIL_ERR_CRYPTO;

	if (keytype_parse(cfg->key_type, &kt) != ANVIL_OK)
		return errf(err, errlen, ANVIL_ERR_INVALID, "[ca] key_type");
	if ((lockfd = ca_lock(cfg, err, errlen)) < 0)
		return ANVIL_ERR_IO;
	CA_TRY(gnutls_pubkey_init, &pub);
	if (pkcs11) {
		CA_TRY(gnutls_privkey_init, &tok);
		if ((ret = gnutls_privkey_import_url(tok,
		    cfg->ocsp_responder_key, 0)) < 0) {
			log_err("gnutls_privkey_import_url: %s",
			    gnutls_strerror(ret));
			rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "[ocsp] "
			    "responder_key: cannot open the PKCS#11 key (%s)",
			    gnutls_strerror(ret));
			goto out;
		}
		CA_TRY(gnutls_pubkey_import_privkey, pub, tok, 0, 0);
	} else {
		if ((rc = ca_key_generate(kt, &k, err, errlen)) != ANVIL_OK)
			goto out;
		rc = ANVIL_ERR_CRYPTO;
		CA_TRY(gnutls_privkey_init, &tok);
		CA_TRY(gnutls_privkey_import_x509, tok, k, 0);
		CA_TRY(gnutls_pubkey_import_privkey, pub, tok, 0, 0);
	}
	if (util_random(serial, sizeof(serial)) != ANVIL_OK) {
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "random failed");
		goto out;
	}
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x01);
	snprintf(cn, sizeof(cn), "%.64s OCSP Responder", cfg->common_name);
	CA_TRY(gnutls_x509_crt_init, &crt);
	CA_TRY(gnutls_x509_crt_set_version, crt, 3);
	CA_TRY(gnutls_x509_crt_set_serial, crt, serial, sizeof(serial));
	if (cfg->organization[0] != '\0')
		CA_TRY(gnutls_x509_crt_set_dn_by_oid, crt,
		    GNUTLS_OID_X520_ORGANIZATION_NAME, 0, cfg->organization,
		    strlen(cfg->organization));
	CA_TRY(gnutls_x509_crt_set_dn_by_oid, crt, GNUTLS_OID_X520_COMMON_NAME,
	    0, cn, strlen(cn));
	/* An hour back: a client whose clock is behind still accepts it. */
	CA_TRY(gnutls_x509_crt_set_activation_time, crt, now - 3600);
	CA_TRY(gnutls_x509_crt_set_expiration_time, crt,
	    now + (time_t)cfg->ocsp_responder_days * 86400);
	CA_TRY(gnutls_x509_crt_set_pubkey, crt, pub);
	CA_TRY(gnutls_x509_crt_set_basic_constraints, crt, 0, -1);
	CA_TRY(gnutls_x509_crt_set_key_usage, crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
	CA_TRY(gnutls_x509_crt_set_key_purpose_oid, crt, GNUTLS_KP_OCSP_SIGNING,
	    1);
	CA_TRY(gnutls_x509_crt_set_extension_by_oid, crt, OID_PKIX_OCSP_NOCHECK,
	    "\x05\x00", 2, 0);
	if ((rc = ca_key_id(pub, kid, &kidlen)) != ANVIL_OK)
		goto out;
	rc = ANVIL_ERR_CRYPTO;
	CA_TRY(gnutls_x509_crt_set_subject_key_id, crt, kid, kidlen);
	CA_TRY(gnutls_x509_crt_set_authority_key_id, crt, ca->key_id,
	    ca->key_id_len);
	CA_TRY(gnutls_x509_crt_privkey_sign, crt, ca->cert, ca->key, ca->dig, 0);
	CA_TRY(gnutls_x509_crt_export2, crt, GNUTLS_X509_FMT_PEM, &pem);
	/* Key first: a crash in between leaves a pair the loader refuses
	 * and ca_ocsp_signer_load issues again. */
	if (k != NULL && (rc = ca_write_key_file(k, cfg->ocsp_responder_key,
	    err, errlen)) != ANVIL_OK)
		goto out;
	if ((rc = util_write_file_atomic(cfg->ocsp_responder_cert, pem.data,
	    pem.size, 0644, err, errlen)) != ANVIL_OK)
		goto out;
	{
		const char *made[] = { cfg->ocsp_responder_cert,
			k != NULL ? cfg->ocsp_responder_key : NULL, NULL };
		ca_own_like_data_dir(cfg, made);
	}
	log_info("issued OCSP responder certificate %s", cfg->ocsp_responder_cert);
	rc = ANVIL_OK;
out:
	gnutls_free(pem.data);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	if (tok != NULL)
		gnutls_privkey_deinit(tok);
	if (k != NULL)
		gnutls_x509_privkey_deinit(k);
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}

/* Loads the responder key and certificate named by cfg into s. */
static anvil_err
load_responder(const struct anvil_config *cfg, struct ca *ca,
    struct ca_ocsp_signer *s, char *err, size_t errlen)
{
	gnutls_datum_t d = { NULL, 0 };
	gnutls_pubkey_t pub = NULL;
	char *buf = NULL;
	size_t len = 0;
	unsigned vout = 0;
	int lockfd = -1, ret;
	anvil_err rc;

	if ((lockfd = ca_lock(cfg, err, errlen)) < 0)
		return ANVIL_ERR_IO;
	rc = ANVIL_ERR_CRYPTO;
	CA_TRY(gnutls_privkey_init, &s->key);
	if (strncmp(cfg->ocsp_responder_key, "pkcs11:", 7) == 0) {
		if ((ret = gnutls_privkey_import_url(s->key,
		    cfg->ocsp_responder_key, 0)) < 0) {
			log_err("gnutls_privkey_import_url: %s",
			    gnutls_strerror(ret));
			rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "[ocsp] "
			    "responder_key: cannot open the PKCS#11 key");
			goto out;
		}
	} else {
		if ((rc = util_read_file(cfg->ocsp_responder_key, OCSP_MAX_FILE,
		    &buf, &len, err, errlen)) != ANVIL_OK)
			goto out;
		rc = ANVIL_ERR_CRYPTO;
		d.data = (unsigned char *)buf;
		d.size = (unsigned)len;
		if ((ret = gnutls_privkey_import_x509_raw(s->key, &d,
		    GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
			rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "%s: not a PEM "
			    "private key (%s)", cfg->ocsp_responder_key,
			    gnutls_strerror(ret));
			goto out;
		}
		util_wipe(buf, len);
		free(buf);
		buf = NULL;
	}
	if ((rc = util_read_file(cfg->ocsp_responder_cert, OCSP_MAX_FILE, &buf,
	    &len, err, errlen)) != ANVIL_OK)
		goto out;
	rc = ANVIL_ERR_CRYPTO;
	d.data = (unsigned char *)buf;
	d.size = (unsigned)len;
	CA_TRY(gnutls_x509_crt_init, &s->cert);
	if ((ret = gnutls_x509_crt_import(s->cert, &d, GNUTLS_X509_FMT_PEM)) <
	    0) {
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "%s: not a PEM "
		    "certificate (%s)", cfg->ocsp_responder_cert,
		    gnutls_strerror(ret));
		goto out;
	}
	CA_TRY(gnutls_pubkey_init, &pub);
	CA_TRY(gnutls_pubkey_import_privkey, pub, s->key, 0, 0);
	if (!ca_cert_has_key(s->cert, pub)) {
		rc = errf(err, errlen, ANVIL_ERR_MISMATCH, "OCSP responder "
		    "certificate %s does not belong to its key",
		    cfg->ocsp_responder_cert);
		goto out;
	}
	/* RFC 6960 4.2.2.2: issued directly by the CA it answers for. */
	if ((ret = gnutls_x509_crt_verify(s->cert, &ca->cert, 1,
	    GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &vout)) < 0 || vout != 0) {
		rc = errf(err, errlen, ANVIL_ERR_MISMATCH, "OCSP responder "
		    "certificate %s is not issued by this CA",
		    cfg->ocsp_responder_cert);
		goto out;
	}
	rc = ANVIL_OK;
out:
	if (buf != NULL) {
		util_wipe(buf, len);
		free(buf);
	}
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}

anvil_err
ca_ocsp_signer_load(const struct anvil_config *cfg, struct ca *ca,
    time_t now, struct ca_ocsp_signer **out, char *err, size_t errlen)
{
	struct ca_ocsp_signer *s = NULL;
	int pkcs11, have_key, have_cert;
	anvil_err rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	s->gen = ca->gen;
	/* [ocsp] responder_cert is generation 1's (issued by [ca] key_file);
	 * a later generation signs with its own key (RFC 6960 4.2.2.2: the
	 * CA that issued the certificate may sign). */
	if (cfg->ocsp_sign_with_ca || ca->gen > 1) {
		s->by_ca = 1;
		s->key = ca->key;
		s->cert = ca->cert;
	} else {
		pkcs11 = strncmp(cfg->ocsp_responder_key, "pkcs11:", 7) == 0;
		have_key = pkcs11 || util_exists(cfg->ocsp_responder_key);
		have_cert = util_exists(cfg->ocsp_responder_cert);
		if (have_key != have_cert && !pkcs11) {
			rc = errf(err, errlen, ANVIL_ERR_PARTIAL, "OCSP "
			    "responder %s exists but %s is missing: restore it, "
			    "or run anvil-admin ocsp rotate",
			    have_key ? cfg->ocsp_responder_key :
			    cfg->ocsp_responder_cert, have_key ?
			    cfg->ocsp_responder_cert : cfg->ocsp_responder_key);
			goto out;
		}
		/* First use: a responder of its own, as the CA itself is made
		 * on first use (architecture.md 3). */
		if (!have_cert && (rc = ca_ocsp_responder_issue(cfg, ca, now,
		    err, errlen)) != ANVIL_OK)
			goto out;
		if ((rc = load_responder(cfg, ca, s, err, errlen)) != ANVIL_OK)
			goto out;
	}
	if ((rc = signer_facts(s, err, errlen)) != ANVIL_OK)
		goto out;
	if ((rc = issuer_hashes(ca->cert, GNUTLS_DIG_SHA1, &s->ih[0])) !=
	    ANVIL_OK || (rc = issuer_hashes(ca->cert, GNUTLS_DIG_SHA256,
	    &s->ih[1])) != ANVIL_OK) {
		errf(err, errlen, rc, "cannot hash the CA name and key");
		goto out;
	}
	*out = s;
	s = NULL;
	rc = ANVIL_OK;
out:
	ca_ocsp_signer_free(s);
	return rc;
}

/* ------------------------------------------------------------ requests */

/*
 * One request extension: the nonce (RFC 8954 2.1: an OCTET STRING of 1 to
 * 32 octets, once) is kept in r as its extnValue; another critical one is
 * not understood (RFC 5280 4.2). Returns the request's status so far.
 */
static int
one_extension(const gnutls_datum_t *oid, unsigned crit,
    const gnutls_datum_t *data, struct ca_ocsp_req *r)
{
	size_t inner;

	if (oid->size != strlen(OID_PKIX_OCSP_NONCE) ||
	    memcmp(oid->data, OID_PKIX_OCSP_NONCE, oid->size) != 0)
		return crit ? CA_OCSP_MALFORMED : CA_OCSP_SUCCESSFUL;
	if (r->nonce_len != 0 || data->size < 3 || data->data[0] != 0x04 ||
	    data->data[1] > 0x7f)
		return CA_OCSP_MALFORMED;
	inner = data->data[1];
	if (inner < 1 || inner > CA_OCSP_MAX_NONCE || inner + 2 != data->size ||
	    data->size > sizeof(r->nonce))
		return CA_OCSP_MALFORMED;
	memcpy(r->nonce, data->data, data->size);
	r->nonce_len = data->size;
	return CA_OCSP_SUCCESSFUL;
}

/* Reads the request extensions into r, at most CA_OCSP_MAX_EXTENSIONS. */
static int
read_nonce(gnutls_ocsp_req_t req, struct ca_ocsp_req *r)
{
	gnutls_datum_t oid = { NULL, 0 }, data = { NULL, 0 };
	unsigned crit = 0, i;
	int ret, status = CA_OCSP_SUCCESSFUL;

	for (i = 0; status == CA_OCSP_SUCCESSFUL; i++) {
		ret = gnutls_ocsp_req_get_extension(req, i, &oid, &crit, &data);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (ret < 0 || i == CA_OCSP_MAX_EXTENSIONS)
			status = CA_OCSP_MALFORMED;
		else
			status = one_extension(&oid, crit, &data, r);
		gnutls_free(oid.data);
		gnutls_free(data.data);
		oid.data = data.data = NULL;
	}
	return status;
}

int
ca_ocsp_req_parse(const struct ca_ocsp_signer *s, const unsigned char *der,
    size_t len, struct ca_ocsp_req *r)
{
	gnutls_ocsp_req_t req = NULL;
	gnutls_datum_t in = { (unsigned char *)der, (unsigned)len };
	gnutls_datum_t nh = { NULL, 0 }, kh = { NULL, 0 }, sn = { NULL, 0 };
	gnutls_digest_algorithm_t dig;
	const struct issuer_hashes *ih;
	int status = CA_OCSP_MALFORMED, ret;
	unsigned i;
	size_t k;

	memset(r, 0, sizeof(*r));
	if (der == NULL || len == 0 || len > CA_OCSP_MAX_REQUEST)
		return CA_OCSP_MALFORMED;
	if (gnutls_ocsp_req_init(&req) < 0)
		return CA_OCSP_INTERNAL;
	if ((ret = gnutls_ocsp_req_import(req, &in)) < 0) {
		log_info("OCSP request: %s", gnutls_strerror(ret));
		goto out;
	}
	/* RFC 6960 4.1.1: v1 (0) is the only version. */
	if (gnutls_ocsp_req_get_version(req) != 1)
		goto out;
	for (i = 0; i <= CA_OCSP_MAX_CERTIDS; i++) {
		ret = gnutls_ocsp_req_get_cert_id(req, i, &dig, &nh, &kh, &sn);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (i == CA_OCSP_MAX_CERTIDS) {
			status = CA_OCSP_MALFORMED;
			gnutls_free(nh.data);
			gnutls_free(kh.data);
			gnutls_free(sn.data);
			goto out;
		}
		if (ret < 0) {
			/* An unknown hash algorithm: not a CertID of ours. */
			status = ret == GNUTLS_E_UNKNOWN_HASH_ALGORITHM ||
			    ret == GNUTLS_E_UNKNOWN_ALGORITHM ?
			    CA_OCSP_UNAUTHORIZED : CA_OCSP_MALFORMED;
			goto out;
		}
		ih = NULL;
		for (k = 0; k < 2; k++)
			if (s->ih[k].dig == dig)
				ih = &s->ih[k];
		status = CA_OCSP_UNAUTHORIZED;
		if (ih != NULL && nh.size == ih->name_len &&
		    kh.size == ih->key_len &&
		    memcmp(nh.data, ih->name, nh.size) == 0 &&
		    memcmp(kh.data, ih->key, kh.size) == 0)
			status = CA_OCSP_SUCCESSFUL;
		if (status == CA_OCSP_SUCCESSFUL && (sn.size == 0 ||
		    sn.size > sizeof(r->ids[0].serial)))
			status = CA_OCSP_MALFORMED;
		if (status == CA_OCSP_SUCCESSFUL) {
			r->ids[i].dig = dig;
			memcpy(r->ids[i].serial, sn.data, sn.size);
			r->ids[i].serial_len = sn.size;
			r->n++;
		}
		gnutls_free(nh.data);
		gnutls_free(kh.data);
		gnutls_free(sn.data);
		nh.data = kh.data = sn.data = NULL;
		if (status != CA_OCSP_SUCCESSFUL)
			goto out;
	}
	if (r->n == 0) {
		status = CA_OCSP_MALFORMED;
		goto out;
	}
	status = read_nonce(req, r);
out:
	gnutls_ocsp_req_deinit(req);
	if (status != CA_OCSP_SUCCESSFUL)
		r->n = 0;
	return status;
}

void
ca_ocsp_serial_hex(const struct ca_ocsp_certid *id, char *out, size_t outlen)
{
	const unsigned char *p = id->serial;
	size_t n = id->serial_len;

	/* The INTEGER's content: a leading 0x00 only keeps it positive. */
	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	if (outlen < 2 * n + 1) {
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	util_hex(p, n, out);
}

anvil_err
ca_ocsp_req_for(gnutls_x509_crt_t issuer, const char *cert_pem,
    gnutls_digest_algorithm_t dig, unsigned char **der, size_t *len)
{
	gnutls_ocsp_req_t req = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t in = { (unsigned char *)cert_pem,
		(unsigned)strlen(cert_pem) }, out = { NULL, 0 };
	anvil_err rc = ANVIL_ERR_CRYPTO;
	int ret;

	*der = NULL;
	if ((ret = gnutls_x509_crt_init(&crt)) < 0 ||
	    (ret = gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM)) < 0 ||
	    (ret = gnutls_ocsp_req_init(&req)) < 0 ||
	    (ret = gnutls_ocsp_req_add_cert(req, dig, issuer, crt)) < 0 ||
	    (ret = gnutls_ocsp_req_export(req, &out)) < 0) {
		log_err("OCSP request for a certificate: %s",
		    gnutls_strerror(ret));
		goto out;
	}
	if ((*der = malloc(out.size)) == NULL) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	memcpy(*der, out.data, out.size);
	*len = out.size;
	rc = ANVIL_OK;
out:
	gnutls_free(out.data);
	if (req != NULL)
		gnutls_ocsp_req_deinit(req);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	return rc;
}

/* ----------------------------------------------------------- responses */

anvil_err
ca_ocsp_resp_error(int status, unsigned char **der, size_t *len)
{
	/* RFC 6960 4.2.1: OCSPResponse with responseStatus alone. */
	if ((*der = malloc(5)) == NULL)
		return ANVIL_ERR_NOMEM;
	(*der)[0] = 0x30;
	(*der)[1] = 0x03;
	(*der)[2] = 0x0a;
	(*der)[3] = 0x01;
	(*der)[4] = (unsigned char)status;
	*len = 5;
	return ANVIL_OK;
}

/* Encodes element name of node into *out (malloc'ed). */
static anvil_err
encode(asn1_node node, const char *name, unsigned char **out, int *len,
    char *err, size_t errlen)
{
	char msg[ASN1_MAX_ERROR_DESCRIPTION_SIZE] = "";
	int ret;

	*len = 0;
	*out = NULL;
	ret = asn1_der_coding(node, name, NULL, len, msg);
	if (ret != ASN1_MEM_ERROR)
		return asn1_err(err, errlen, "asn1_der_coding", ret, msg);
	if ((*out = malloc((size_t)*len)) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	ret = asn1_der_coding(node, name, *out, len, msg);
	if (ret != ASN1_SUCCESS) {
		free(*out);
		*out = NULL;
		return asn1_err(err, errlen, "asn1_der_coding", ret, msg);
	}
	return ANVIL_OK;
}

#define W(name, val, len)                                                      \
	do {                                                                   \
		if ((ret = asn1_write_value(node, (name), (val), (len))) !=    \
		    ASN1_SUCCESS) {                                            \
			rc = asn1_err(err, errlen, "asn1_write_value", ret,    \
			    (name));                                           \
			goto out;                                              \
		}                                                              \
	} while (0)

#define SR "tbsResponseData.responses.?LAST"

/* Appends one SingleResponse (RFC 6960 4.2.1) for v to node. */
static anvil_err
add_single(asn1_node node, const struct ca_ocsp_signer *s,
    const struct ca_ocsp_single *v, const char *this_up, const char *next_up,
    char *err, size_t errlen)
{
	const struct issuer_hashes *ih = NULL;
	const char *oid;
	char t[16];
	unsigned char reason;
	anvil_err rc = ANVIL_ERR_CRYPTO;
	size_t k;
	int ret;

	for (k = 0; k < 2; k++)
		if (s->ih[k].dig == v->id->dig)
			ih = &s->ih[k];
	if (ih == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID, "CertID hash");
	oid = v->id->dig == GNUTLS_DIG_SHA1 ? OID_SHA1 : OID_SHA256;
	W("tbsResponseData.responses", "NEW", 1);
	W(SR ".certID.hashAlgorithm.algorithm", oid, 1);
	W(SR ".certID.hashAlgorithm.parameters", "\x05\x00", 2);
	W(SR ".certID.issuerNameHash", ih->name, (int)ih->name_len);
	W(SR ".certID.issuerKeyHash", ih->key, (int)ih->key_len);
	W(SR ".certID.serialNumber", v->id->serial, (int)v->id->serial_len);
	switch (v->status) {
	case CA_OCSP_GOOD:
		W(SR ".certStatus", "good", 1);
		break;
	case CA_OCSP_REVOKED:
		W(SR ".certStatus", "revoked", 1);
		gtime(v->revoked_at, t);
		W(SR ".certStatus.revoked.revocationTime", t, 1);
		if (v->reason > 0 && ca_crl_reason_valid(v->reason)) {
			reason = (unsigned char)v->reason;
			W(SR ".certStatus.revoked.revocationReason", &reason,
			    1);
		} else
			W(SR ".certStatus.revoked.revocationReason", NULL, 0);
		break;
	default:
		W(SR ".certStatus", "unknown", 1);
		break;
	}
	W(SR ".thisUpdate", this_up, 1);
	W(SR ".nextUpdate", next_up, 1);
	W(SR ".singleExtensions", NULL, 0);
	rc = ANVIL_OK;
out:
	return rc;
}

anvil_err
ca_ocsp_resp_build(const struct ca_ocsp_signer *s,
    const struct ca_ocsp_single *v, size_t n, const unsigned char *nonce,
    size_t nonce_len, time_t now, time_t next_update, unsigned char **der,
    size_t *len, char *err, size_t errlen)
{
	asn1_node defs = NULL, node = NULL, outer = NULL;
	unsigned char *tbs = NULL, *basic = NULL, *whole = NULL;
	gnutls_datum_t td, sig = { NULL, 0 };
	char this_up[16], next_up[16];
	int tlen = 0, blen = 0, wlen = 0, ret;
	anvil_err rc;
	size_t i;

	*der = NULL;
	*len = 0;
	if (n == 0 || n > CA_OCSP_MAX_CERTIDS || next_update <= now ||
	    nonce_len > CA_OCSP_MAX_NONCE + 2)
		return errf(err, errlen, ANVIL_ERR_INVALID, "nothing to answer");
	if ((rc = ca_asn1_defs(&defs)) != ANVIL_OK)
		return errf(err, errlen, rc, "ASN.1 definitions unusable");
	if ((ret = asn1_create_element(defs, "AnvilPKIX.BasicOCSPResponse",
	    &node)) != ASN1_SUCCESS || (ret = asn1_create_element(defs,
	    "AnvilPKIX.OCSPResponse", &outer)) != ASN1_SUCCESS) {
		rc = asn1_err(err, errlen, "asn1_create_element", ret, "OCSP");
		goto out;
	}
	rc = ANVIL_ERR_CRYPTO;
	gtime(now, this_up);
	gtime(next_update, next_up);
	/* RFC 6960 4.2.1: version v1 is the DEFAULT, so left out. */
	W("tbsResponseData.version", NULL, 0);
	/* RFC 5019 2.2.2: byKey keeps the response small. */
	W("tbsResponseData.responderID", "byKey", 1);
	W("tbsResponseData.responderID.byKey", s->key_hash,
	    (int)sizeof(s->key_hash));
	W("tbsResponseData.producedAt", this_up, 1);
	for (i = 0; i < n; i++)
		if ((rc = add_single(node, s, &v[i], this_up, next_up, err,
		    errlen)) != ANVIL_OK)
			goto out;
	rc = ANVIL_ERR_CRYPTO;
	if (nonce_len > 0) {
		/* RFC 8954 2.1: the nonce goes back as it came. */
		W("tbsResponseData.responseExtensions", "NEW", 1);
		W("tbsResponseData.responseExtensions.?LAST.extnID",
		    OID_PKIX_OCSP_NONCE, 1);
		W("tbsResponseData.responseExtensions.?LAST.critical", "FALSE",
		    1);
		W("tbsResponseData.responseExtensions.?LAST.extnValue", nonce,
		    (int)nonce_len);
	} else
		W("tbsResponseData.responseExtensions", NULL, 0);
	W("signatureAlgorithm.algorithm", s->sig_oid, 1);
	if (s->sig_null_params)
		W("signatureAlgorithm.parameters", "\x05\x00", 2);
	else
		W("signatureAlgorithm.parameters", NULL, 0);
	if ((rc = encode(node, "tbsResponseData", &tbs, &tlen, err, errlen)))
		goto out;
	td.data = tbs;
	td.size = (unsigned)tlen;
	if ((ret = gnutls_privkey_sign_data2(s->key, s->sigalg, 0, &td,
	    &sig)) < 0) {
		rc = ca_gnutls_err(err, errlen, "gnutls_privkey_sign_data2",
		    ret);
		goto out;
	}
	rc = ANVIL_ERR_CRYPTO;
	W("signature", sig.data, (int)sig.size * 8);
	if (s->by_ca)
		W("certs", NULL, 0);
	else {
		/* RFC 6960 4.2.2.2: the delegated certificate goes along. */
		W("certs", "NEW", 1);
		W("certs.?LAST", s->cert_der.data, (int)s->cert_der.size);
	}
	if ((rc = encode(node, "", &basic, &blen, err, errlen)) != ANVIL_OK)
		goto out;
	{
		asn1_node tmp = node;
		node = outer;
		outer = tmp;
	}
	rc = ANVIL_ERR_CRYPTO;
	W("responseStatus", "successful", 0);
	W("responseBytes.responseType", OID_PKIX_OCSP_BASIC, 1);
	W("responseBytes.response", basic, blen);
	if ((rc = encode(node, "", &whole, &wlen, err, errlen)) != ANVIL_OK)
		goto out;
	*der = whole;
	*len = (size_t)wlen;
	whole = NULL;
	rc = ANVIL_OK;
out:
	free(tbs);
	free(basic);
	free(whole);
	gnutls_free(sig.data);
	asn1_delete_structure(&node);
	asn1_delete_structure(&outer);
	return rc;
}

#undef SR
#undef W
