/*
 * key.c - the GnuTLS side of the CA key types, key generation, and the CA
 * itself: load the key and certificate, or generate both on first use.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/pkcs11.h>
#include <libtasn1.h>

#include "ca/ca_int.h"
#include "core/log.h"
#include "core/util.h"

#define CA_MAX_FILE (256 * 1024)

/* Indexed by enum keytype (src/core/keytype.h), which owns the names. */
static const struct {
	gnutls_pk_algorithm_t pk;
	unsigned bits;		/* RSA modulus, or GNUTLS_CURVE_TO_BITS */
} key_types[KEYTYPE__MAX] = {
	[KEYTYPE_EC_P256] = { GNUTLS_PK_ECDSA,
	  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1) },
	[KEYTYPE_EC_P384] = { GNUTLS_PK_ECDSA,
	  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1) },
	[KEYTYPE_EC_P521] = { GNUTLS_PK_ECDSA,
	  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP521R1) },
	[KEYTYPE_RSA2048] = { GNUTLS_PK_RSA, 2048 },
	[KEYTYPE_RSA3072] = { GNUTLS_PK_RSA, 3072 },
	[KEYTYPE_RSA4096] = { GNUTLS_PK_RSA, 4096 },
	[KEYTYPE_ED25519] = { GNUTLS_PK_EDDSA_ED25519,
	  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519) },
	[KEYTYPE_ED448] = { GNUTLS_PK_EDDSA_ED448,
	  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED448) },
};

anvil_err
ca_gnutls_err(char *err, size_t errlen, const char *call, int ret)
{
	log_err("%s: %s", call, gnutls_strerror(ret));
	return errf(err, errlen, ANVIL_ERR_CRYPTO, "%s: %s", call,
	    gnutls_strerror(ret));
}

anvil_err
ca_key_id(gnutls_pubkey_t pub, unsigned char *id, size_t *len)
{
	size_t sz = 64;
	int ret;

	ret = gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA1, id, &sz);
	if (ret < 0)
		return ca_gnutls_err(NULL, 0, "gnutls_pubkey_get_key_id", ret);
	*len = sz;
	return ANVIL_OK;
}

static asn1_node asn1_defs;

extern const asn1_static_node anvil_pkix_asn1_tab[];

anvil_err
ca_asn1_defs(struct asn1_node_st **out)
{
	char msg[ASN1_MAX_ERROR_DESCRIPTION_SIZE];
	int ret;

	if (asn1_defs == NULL) {
		ret = asn1_array2tree(anvil_pkix_asn1_tab, &asn1_defs, msg);
		if (ret != ASN1_SUCCESS) {
			log_err("asn1_array2tree: %s: %s", asn1_strerror(ret),
			    msg);
			return ANVIL_ERR_CRYPTO;
		}
	}
	*out = asn1_defs;
	return ANVIL_OK;
}

anvil_err
ca_key_generate(enum keytype t, gnutls_x509_privkey_t *out, char *err,
    size_t errlen)
{
	gnutls_x509_privkey_t k = NULL;
	int ret;

	*out = NULL;
	if ((unsigned)t >= KEYTYPE__MAX)
		return errf(err, errlen, ANVIL_ERR_INVALID, "unknown key type");
	if ((ret = gnutls_x509_privkey_init(&k)) < 0)
		return ca_gnutls_err(err, errlen, "gnutls_x509_privkey_init",
		    ret);
	ret = gnutls_x509_privkey_generate2(k, key_types[t].pk,
	    key_types[t].bits, 0, NULL, 0);
	if (ret < 0) {
		gnutls_x509_privkey_deinit(k);
		return ca_gnutls_err(err, errlen,
		    "gnutls_x509_privkey_generate2", ret);
	}
	*out = k;
	return ANVIL_OK;
}

void
ca_free(struct ca *ca)
{
	struct ca *older;

	/* Bounded: ca_gens_load links at most CA_MAX_GENERATIONS. */
	while (ca != NULL) {
		older = ca->older;
		if (ca->key != NULL)
			gnutls_privkey_deinit(ca->key);
		if (ca->cert != NULL)
			gnutls_x509_crt_deinit(ca->cert);
		free(ca->cert_pem);
		free(ca->cross_pem);
		free(ca->chain_pem);
		free(ca);
		ca = older;
	}
}

gnutls_x509_crt_t
ca_cert_peek(const struct ca *ca)
{
	return ca->cert;
}

const char *
ca_cert_pem_peek(const struct ca *ca)
{
	return ca->cert_pem;
}

gnutls_privkey_t
ca_key_peek(const struct ca *ca)
{
	return ca->key;
}

const unsigned char *
ca_key_id_peek(const struct ca *ca, size_t *len)
{
	*len = ca->key_id_len;
	return ca->key_id;
}

/* Sets ca->dig, ca->key_id from the key; the public key into *pubout. */
anvil_err
ca_key_facts(struct ca *ca, gnutls_pubkey_t *pubout, char *err, size_t errlen)
{
	gnutls_pubkey_t pub = NULL;
	unsigned mand = 0;
	int ret;
	anvil_err rc;

	if ((ret = gnutls_pubkey_init(&pub)) < 0)
		return ca_gnutls_err(err, errlen, "gnutls_pubkey_init", ret);
	if ((ret = gnutls_pubkey_import_privkey(pub, ca->key, 0, 0)) < 0) {
		rc = ca_gnutls_err(err, errlen, "gnutls_pubkey_import_privkey",
		    ret);
		goto out;
	}
	ret = gnutls_pubkey_get_preferred_hash_algorithm(pub, &ca->dig, &mand);
	if (ret < 0) {
		rc = ca_gnutls_err(err, errlen,
		    "gnutls_pubkey_get_preferred_hash_algorithm", ret);
		goto out;
	}
	if ((rc = ca_key_id(pub, ca->key_id, &ca->key_id_len)) != ANVIL_OK) {
		errf(err, errlen, rc, "cannot compute the CA key identifier");
		goto out;
	}
	*pubout = pub;
	pub = NULL;
	rc = ANVIL_OK;
out:
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	return rc;
}

/* Makes the self-signed CA certificate of the profile in ca->cert. */
static anvil_err
ca_make_cert(struct ca *ca, gnutls_pubkey_t pub,
    const struct anvil_config *cfg, char *err, size_t errlen)
{
	gnutls_x509_crt_t crt = NULL;
	const unsigned char serial = 1;
	time_t now = time(NULL);
	time_t life = (time_t)((double)cfg->validity_years * 365.25 * 86400.0);
	anvil_err rc = ANVIL_ERR_CRYPTO;
	int ret;

	CA_TRY(gnutls_x509_crt_init, &crt);
	CA_TRY(gnutls_x509_crt_set_version, crt, 3);
	CA_TRY(gnutls_x509_crt_set_serial, crt, &serial, 1);
	if (cfg->organization[0] != '\0')
		CA_TRY(gnutls_x509_crt_set_dn_by_oid, crt,
		    GNUTLS_OID_X520_ORGANIZATION_NAME, 0, cfg->organization,
		    strlen(cfg->organization));
	CA_TRY(gnutls_x509_crt_set_dn_by_oid, crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    cfg->common_name, strlen(cfg->common_name));
	CA_TRY(gnutls_x509_crt_set_activation_time, crt, now);
	CA_TRY(gnutls_x509_crt_set_expiration_time, crt, now + life);
	CA_TRY(gnutls_x509_crt_set_pubkey, crt, pub);
	CA_TRY(gnutls_x509_crt_set_basic_constraints, crt, 1, -1);
	CA_TRY(gnutls_x509_crt_set_key_usage, crt,
	    GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
	CA_TRY(gnutls_x509_crt_set_subject_key_id, crt, ca->key_id,
	    ca->key_id_len);
	CA_TRY(gnutls_x509_crt_set_authority_key_id, crt, ca->key_id,
	    ca->key_id_len);
	CA_TRY(gnutls_x509_crt_privkey_sign, crt, crt, ca->key, ca->dig, 0);
	ca->cert = crt;
	crt = NULL;
	rc = ANVIL_OK;
out:
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	return rc;
}

anvil_err
ca_cert_to_pem(struct ca *ca, char *err, size_t errlen)
{
	gnutls_datum_t d = { NULL, 0 };
	int ret;

	ret = gnutls_x509_crt_export2(ca->cert, GNUTLS_X509_FMT_PEM, &d);
	if (ret < 0)
		return ca_gnutls_err(err, errlen, "gnutls_x509_crt_export2",
		    ret);
	ca->cert_pem = malloc(d.size + 1);
	if (ca->cert_pem != NULL) {
		memcpy(ca->cert_pem, d.data, d.size);
		ca->cert_pem[d.size] = '\0';
	}
	gnutls_free(d.data);
	return ca->cert_pem ? ANVIL_OK : ANVIL_ERR_NOMEM;
}

int
ca_cert_has_key(gnutls_x509_crt_t crt, gnutls_pubkey_t pub)
{
	gnutls_pubkey_t cpub = NULL;
	gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 };
	int same = 0;

	if (gnutls_pubkey_init(&cpub) < 0)
		return 0;
	if (gnutls_pubkey_import_x509(cpub, crt, 0) >= 0 &&
	    gnutls_pubkey_export2(cpub, GNUTLS_X509_FMT_DER, &a) >= 0 &&
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &b) >= 0)
		same = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
	gnutls_free(a.data);
	gnutls_free(b.data);
	gnutls_pubkey_deinit(cpub);
	return same;
}

anvil_err
ca_load_key_file(struct ca *ca, const char *path, char *err, size_t errlen)
{
	gnutls_datum_t d;
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	anvil_err rc;
	int ret;

	if ((rc = util_read_file(path, CA_MAX_FILE, &buf, &len, err, errlen)))
		return rc;
	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		log_warn("CA key %s is readable by group or others (mode %03o)",
		    path, (unsigned)(st.st_mode & 0777));
	d.data = (unsigned char *)buf;
	d.size = (unsigned)len;
	if ((ret = gnutls_privkey_init(&ca->key)) < 0) {
		rc = ca_gnutls_err(err, errlen, "gnutls_privkey_init", ret);
		goto out;
	}
	ret = gnutls_privkey_import_x509_raw(ca->key, &d, GNUTLS_X509_FMT_PEM,
	    NULL, 0);
	if (ret < 0) {
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "%s: not a PEM private "
		    "key GnuTLS can read (%s)", path, gnutls_strerror(ret));
		goto out;
	}
	rc = ANVIL_OK;
out:
	util_wipe(buf, len);
	free(buf);
	return rc;
}

static anvil_err
load_key_pkcs11(struct ca *ca, const char *url, char *err, size_t errlen)
{
	int ret;

	if ((ret = gnutls_privkey_init(&ca->key)) < 0)
		return ca_gnutls_err(err, errlen, "gnutls_privkey_init", ret);
	ret = gnutls_privkey_import_url(ca->key, url, 0);
	if (ret < 0) {
		/* The URL may hold a PIN: name the token, not the URL. */
		log_err("gnutls_privkey_import_url: %s", gnutls_strerror(ret));
		return errf(err, errlen, ANVIL_ERR_CRYPTO, "[ca] key_file: "
		    "cannot open the PKCS#11 key (%s)", gnutls_strerror(ret));
	}
	return ANVIL_OK;
}

anvil_err
ca_load_cert_file(struct ca *ca, const char *path, char *err, size_t errlen)
{
	gnutls_datum_t d;
	char *buf = NULL;
	size_t len = 0;
	anvil_err rc;
	int ret;

	if ((rc = util_read_file(path, CA_MAX_FILE, &buf, &len, err, errlen)))
		return rc;
	d.data = (unsigned char *)buf;
	d.size = (unsigned)len;
	if ((ret = gnutls_x509_crt_init(&ca->cert)) < 0) {
		rc = ca_gnutls_err(err, errlen, "gnutls_x509_crt_init", ret);
		goto out;
	}
	if ((ret = gnutls_x509_crt_import(ca->cert, &d, GNUTLS_X509_FMT_PEM)) <
	    0) {
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "%s: not a PEM "
		    "certificate GnuTLS can read (%s)", path,
		    gnutls_strerror(ret));
		goto out;
	}
	rc = ANVIL_OK;
out:
	free(buf);
	return rc;
}

void
ca_own_like_data_dir(const struct anvil_config *cfg,
    const char *const *paths)
{
	struct stat st;

	if (geteuid() != 0 || stat(cfg->data_dir, &st) != 0 || st.st_uid == 0)
		return;
	for (; *paths != NULL; paths++)
		if (chown(*paths, st.st_uid, st.st_gid) != 0)
			log_warn("chown %s to data_dir's owner: %s", *paths,
			    strerror(errno));
}

anvil_err
ca_write_key_file(gnutls_x509_privkey_t k, const char *path, char *err,
    size_t errlen)
{
	gnutls_datum_t d = { NULL, 0 };
	anvil_err rc;
	int ret;

	ret = gnutls_x509_privkey_export2_pkcs8(k, GNUTLS_X509_FMT_PEM, NULL,
	    GNUTLS_PKCS_PLAIN, &d);
	if (ret < 0)
		return ca_gnutls_err(err, errlen,
		    "gnutls_x509_privkey_export2_pkcs8", ret);
	rc = util_write_file_atomic(path, d.data, d.size, 0600, err, errlen);
	gnutls_memset(d.data, 0, d.size);
	gnutls_free(d.data);
	return rc;
}

int
ca_lock(const struct anvil_config *cfg, char *err, size_t errlen)
{
	char *path = util_path_join(cfg->data_dir, "ca.lock");
	int fd;

	if (path == NULL)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		errf(err, errlen, ANVIL_ERR_IO, "%s: %s", path, strerror(errno));
	else if (flock(fd, LOCK_EX) != 0) {
		errf(err, errlen, ANVIL_ERR_IO, "flock %s: %s", path,
		    strerror(errno));
		close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

anvil_err
ca_load_or_generate(const struct anvil_config *cfg, struct ca **out,
    char *err, size_t errlen)
{
	int lockfd;
	anvil_err rc;

	*out = NULL;
	if ((rc = util_mkdir_p(cfg->data_dir, 0700, err, errlen)) != ANVIL_OK)
		return rc;
	if ((lockfd = ca_lock(cfg, err, errlen)) < 0)
		return ANVIL_ERR_IO;
	rc = ca_load_locked(cfg, out, err, errlen);
	close(lockfd);
	return rc;
}

anvil_err
ca_load_locked(const struct anvil_config *cfg, struct ca **out, char *err,
    size_t errlen)
{
	struct ca *ca = NULL;
	gnutls_x509_privkey_t newkey = NULL;
	gnutls_pubkey_t pub = NULL;
	enum keytype kt;
	int pkcs11 = strncmp(cfg->key_file, "pkcs11:", 7) == 0;
	int have_key, have_cert, ret;
	anvil_err rc;

	*out = NULL;
	if (keytype_parse(cfg->key_type, &kt) != ANVIL_OK)
		return errf(err, errlen, ANVIL_ERR_INVALID, "[ca] key_type "
		    "\"%s\" is not one of: %s", cfg->key_type,
		    keytype_accepted());
	if ((ca = calloc(1, sizeof(*ca))) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	ca->gen = 1;
	have_key = pkcs11 || util_exists(cfg->key_file);
	have_cert = util_exists(cfg->cert_file);

	if (have_key && !have_cert && !pkcs11) {
		rc = errf(err, errlen, ANVIL_ERR_PARTIAL, "CA key %s exists but "
		    "CA certificate %s is missing: restore the certificate, or "
		    "remove the key to create a new CA", cfg->key_file,
		    cfg->cert_file);
		goto out;
	}
	if (!have_key && have_cert) {
		rc = errf(err, errlen, ANVIL_ERR_PARTIAL, "CA certificate %s "
		    "exists but CA key %s is missing: restore the key, or "
		    "remove the certificate to create a new CA",
		    cfg->cert_file, cfg->key_file);
		goto out;
	}

	if (!have_key) {
		/* Neither present: a new CA. */
		if ((rc = ca_key_generate(kt, &newkey, err, errlen)))
			goto out;
		if ((ret = gnutls_privkey_init(&ca->key)) < 0 ||
		    (ret = gnutls_privkey_import_x509(ca->key, newkey,
		    GNUTLS_PRIVKEY_IMPORT_COPY)) < 0) {
			rc = ca_gnutls_err(err, errlen,
			    "gnutls_privkey_import_x509", ret);
			goto out;
		}
	} else if (pkcs11) {
		if ((rc = load_key_pkcs11(ca, cfg->key_file, err, errlen)))
			goto out;
	} else if ((rc = ca_load_key_file(ca, cfg->key_file, err, errlen)))
		goto out;

	if ((rc = ca_key_facts(ca, &pub, err, errlen)) != ANVIL_OK)
		goto out;

	if (have_cert) {
		if ((rc = ca_load_cert_file(ca, cfg->cert_file, err, errlen)))
			goto out;
		if (!ca_cert_has_key(ca->cert, pub)) {
			rc = errf(err, errlen, ANVIL_ERR_MISMATCH, "CA "
			    "certificate %s does not belong to CA key %s",
			    cfg->cert_file, pkcs11 ? "[ca] key_file" :
			    cfg->key_file);
			goto out;
		}
		/* Key id as the certificate says, for AKI in what we sign. */
		{
			size_t sz = sizeof(ca->key_id);
			unsigned crit = 0;
			if (gnutls_x509_crt_get_subject_key_id(ca->cert,
			    ca->key_id, &sz, &crit) >= 0)
				ca->key_id_len = sz;
		}
	} else {
		if ((rc = ca_make_cert(ca, pub, cfg, err, errlen)))
			goto out;
		/* Key first: a crash in between leaves a refused partial
		 * state, never a certificate whose key is lost. */
		if (newkey != NULL && (rc = ca_write_key_file(newkey,
		    cfg->key_file, err, errlen)))
			goto out;
		if ((rc = ca_cert_to_pem(ca, err, errlen)))
			goto out;
		if ((rc = util_write_file_atomic(cfg->cert_file, ca->cert_pem,
		    strlen(ca->cert_pem), 0644, err, errlen)))
			goto out;
		/* Work from the certificate as written: a certificate object
		 * GnuTLS has just signed in memory does not verify what it
		 * signs (CRLs) until it is imported again. */
		gnutls_x509_crt_deinit(ca->cert);
		ca->cert = NULL;
		{
			gnutls_datum_t d = { (unsigned char *)ca->cert_pem,
				(unsigned)strlen(ca->cert_pem) };
			if ((ret = gnutls_x509_crt_init(&ca->cert)) < 0 ||
			    (ret = gnutls_x509_crt_import(ca->cert, &d,
			    GNUTLS_X509_FMT_PEM)) < 0) {
				rc = ca_gnutls_err(err, errlen,
				    "gnutls_x509_crt_import", ret);
				goto out;
			}
		}
		log_info("created CA %s (%s) in %s", cfg->common_name,
		    pkcs11 ? "PKCS#11 key" : cfg->key_type, cfg->cert_file);
	}
	if (ca->cert_pem == NULL && (rc = ca_cert_to_pem(ca, err, errlen)))
		goto out;
	if ((rc = ca_gens_load(cfg, &ca, err, errlen)) != ANVIL_OK)
		goto out;
	*out = ca;
	ca = NULL;
	rc = ANVIL_OK;
out:
	if (newkey != NULL)
		gnutls_x509_privkey_deinit(newkey);
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	ca_free(ca);
	return rc;
}
