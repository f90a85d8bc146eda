/*
 * test_ca.c - the CA: key types, load or generate (profile of the CA
 * certificate, file modes, reload, partial and mismatched states, two
 * processes at once), and end-entity issuance (the leaf profile, read back
 * with GnuTLS).
 */
#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509-ext.h>
#include <gnutls/x509.h>

#include "ca/ca.h"
#include "core/conf.h"
#include "core/error.h"
#include "csr_helpers.h"
#include "helpers.h"

#define OK(call)                                                               \
	do {                                                                   \
		int ok_ret_ = (call);                                          \
		cr_assert(ok_ret_ >= 0, "%s: %s", #call,                       \
		    gnutls_strerror(ok_ret_));                                 \
	} while (0)

#define OID_BC "2.5.29.19"
#define OID_KU "2.5.29.15"
#define OID_EKU "2.5.29.37"
#define OID_SKI "2.5.29.14"
#define OID_AKI "2.5.29.35"
#define OID_SAN "2.5.29.17"
#define OID_CRLDP "2.5.29.31"
#define OID_AIA "1.3.6.1.5.5.7.1.1"
#define OID_SERVER_AUTH "1.3.6.1.5.5.7.3.1"

#define SECONDS_PER_YEAR 31557600L	/* 365.25 days */

/* ------------------------------------------------------------ helpers */

static struct anvil_config *
config_for(const char *dir, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct anvil_config *
config_for(const char *dir, const char *fmt, ...)
{
	struct anvil_config *cfg;
	char *extra = NULL;
	va_list ap;

	va_start(ap, fmt);
	cr_assert(vasprintf(&extra, fmt, ap) >= 0);
	va_end(ap);
	cfg = th_config(dir, extra);
	free(extra);
	return cfg;
}

static struct ca *
load_ok(const struct anvil_config *cfg)
{
	struct ca *ca = NULL;
	char err[1024] = "";
	anvil_err rc;

	rc = ca_load_or_generate(cfg, &ca, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "ca_load_or_generate: %s: %s",
	    anvil_strerror(rc), err);
	cr_assert_not_null(ca);
	return ca;
}

static int
file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void
copy_file(const char *from, const char *to)
{
	size_t len = 0;
	char *buf = th_read_file(from, &len);

	th_write_file(to, buf, len);
	free(buf);
}

static gnutls_x509_crt_t
crt_from_file(const char *path)
{
	char *pem = th_read_file(path, NULL);
	gnutls_x509_crt_t crt = th_crt_pem(pem);

	free(pem);
	return crt;
}

static gnutls_x509_privkey_t
key_from_file(const char *path)
{
	size_t len = 0;
	char *pem = th_read_file(path, &len);
	gnutls_x509_privkey_t k = NULL;
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)len };

	OK(gnutls_x509_privkey_init(&k));
	OK(gnutls_x509_privkey_import2(k, &d, GNUTLS_X509_FMT_PEM, NULL, 0));
	free(pem);
	return k;
}

/* The DN attribute oid (index 0) of crt's subject, "" if absent. */
static void
dn_get(gnutls_x509_crt_t crt, const char *oid, char *buf, size_t len)
{
	size_t sz = len;
	int ret;

	ret = gnutls_x509_crt_get_dn_by_oid(crt, oid, 0, 0, buf, &sz);
	if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		buf[0] = '\0';
	else
		OK(ret);
}

/* ------------------------------------------------------------ CA profile */

struct ca_expect {
	const char *cn;
	const char *org;
	unsigned years;
	time_t t0, t1;		/* time(NULL) before and after generating */
	gnutls_pk_algorithm_t pk;
	unsigned bits;		/* RSA modulus bits; 0 for others */
	gnutls_ecc_curve_t curve; /* EC only */
};

static void
check_ca_profile(gnutls_x509_crt_t crt, const struct ca_expect *e)
{
	static const char *const exts[] = { OID_BC, OID_KU, OID_SKI, OID_AKI };
	unsigned char serial[64], ski[64], aki[64];
	char buf[256], oid[128];
	gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 };
	size_t sz, nski, naki;
	unsigned crit = 0, ca = 0, ku = 0, status = 99, bits = 0, idx;
	int pathlen = 0, ret, ncn = 0, norg = 0;
	time_t nb, na, life = (time_t)e->years * SECONDS_PER_YEAR;

	cr_assert_eq(gnutls_x509_crt_get_version(crt), 3, "CA cert not v3");

	sz = sizeof(serial);
	OK(gnutls_x509_crt_get_serial(crt, serial, &sz));
	cr_assert(sz == 1 && serial[0] == 1, "CA serial is not 1 (%zu bytes,"
	    " first %02x)", sz, serial[0]);

	/* Subject: exactly CN and O, with the configured values. */
	dn_get(crt, GNUTLS_OID_X520_COMMON_NAME, buf, sizeof(buf));
	cr_assert_str_eq(buf, e->cn, "CA subject CN");
	dn_get(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, buf, sizeof(buf));
	cr_assert_str_eq(buf, e->org, "CA subject O");
	for (idx = 0;; idx++) {
		sz = sizeof(oid);
		ret = gnutls_x509_crt_get_dn_oid(crt, idx, oid, &sz);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		OK(ret);
		if (strcmp(oid, GNUTLS_OID_X520_COMMON_NAME) == 0)
			ncn++;
		else if (strcmp(oid, GNUTLS_OID_X520_ORGANIZATION_NAME) == 0)
			norg++;
		else
			cr_assert_fail("unexpected subject attribute %s", oid);
	}
	cr_assert(ncn == 1 && norg == 1, "subject: %d CN, %d O", ncn, norg);

	/* Self-signed: issuer == subject, and the signature verifies. */
	OK(gnutls_x509_crt_get_raw_dn(crt, &a));
	OK(gnutls_x509_crt_get_raw_issuer_dn(crt, &b));
	cr_assert(a.size == b.size && memcmp(a.data, b.data, a.size) == 0,
	    "CA issuer differs from subject");
	gnutls_free(a.data);
	gnutls_free(b.data);
	cr_assert_eq(gnutls_x509_crt_check_issuer(crt, crt), 1);
	OK(gnutls_x509_crt_verify(crt, &crt, 1, 0, &status));
	cr_assert_eq(status, 0, "CA cert does not verify against itself "
	    "(status 0x%x)", status);

	/* Key type. */
	ret = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
	cr_assert_eq(ret, (int)e->pk, "CA key algorithm %d, want %d", ret,
	    (int)e->pk);
	if (e->pk == GNUTLS_PK_RSA)
		cr_assert_eq(bits, e->bits, "RSA modulus %u bits", bits);
	if (e->pk == GNUTLS_PK_ECDSA) {
		gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
		gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };

		OK(gnutls_x509_crt_get_pk_ecc_raw(crt, &curve, &x, &y));
		cr_assert_eq(curve, e->curve, "EC curve %d", (int)curve);
		gnutls_free(x.data);
		gnutls_free(y.data);
	}

	/* Validity: now .. now + years x 365.25 days, within a minute. */
	nb = gnutls_x509_crt_get_activation_time(crt);
	na = gnutls_x509_crt_get_expiration_time(crt);
	cr_assert(nb >= e->t0 - 60 && nb <= e->t1 + 1,
	    "notBefore %lld not near now (%lld..%lld)", (long long)nb,
	    (long long)e->t0, (long long)e->t1);
	cr_assert(llabs((long long)(na - (nb + life))) <= 60,
	    "notAfter - notBefore = %lld s, want %lld (%u x 365.25 days)",
	    (long long)(na - nb), (long long)life, e->years);
	cr_assert(na >= e->t0 + life - 60 && na <= e->t1 + life + 60,
	    "notAfter %lld, want about %lld", (long long)na,
	    (long long)(e->t0 + life));

	/* basicConstraints critical cA=TRUE. */
	ret = gnutls_x509_crt_get_basic_constraints(crt, &crit, &ca, &pathlen);
	OK(ret);
	cr_assert_eq(ca, 1, "CA cert has cA=FALSE");
	cr_assert_eq(crit, 1, "CA basicConstraints not critical");

	/* keyUsage critical keyCertSign|cRLSign, nothing else. */
	crit = 0;
	OK(gnutls_x509_crt_get_key_usage(crt, &ku, &crit));
	cr_assert_eq(ku, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN,
	    "CA keyUsage 0x%x", ku);
	cr_assert_eq(crit, 1, "CA keyUsage not critical");

	/* SKI present; AKI key id equal to it. */
	nski = th_ski(crt, ski);
	cr_assert(nski > 0, "CA SKI empty");
	naki = th_aki(crt, aki);
	cr_assert(naki == nski && memcmp(ski, aki, nski) == 0,
	    "CA AKI differs from its SKI");

	th_check_extensions(crt, exts, sizeof(exts) / sizeof(exts[0]),
	    "CA certificate");
}

/* ------------------------------------------------------------ leaf profile */

/* What an issued leaf must look like. */
struct leaf_expect {
	const struct ca_ident *ids;
	size_t nids;
	const struct ca_issue_params *p;
	gnutls_x509_privkey_t key;	/* the CSR's key */
	const char *hostname;		/* for verification, or NULL */
};

static void
check_aia_crldp(gnutls_x509_crt_t leaf, const struct ca_issue_params *p)
{
	const char *ocsp = p->ocsp_url && *p->ocsp_url ? p->ocsp_url : NULL;
	const char *cai = p->ca_issuers_url && *p->ca_issuers_url ?
	    p->ca_issuers_url : NULL;
	const char *crl = p->crl_url && *p->crl_url ? p->crl_url : NULL;
	gnutls_datum_t ext = { NULL, 0 }, oid, san;
	gnutls_x509_aia_t aia = NULL;
	unsigned crit = 0, san_type, seq, reasons;
	int n_ocsp = 0, n_cai = 0, ret;
	char buf[1024];
	size_t sz;

	ret = gnutls_x509_crt_get_extension_by_oid2(leaf, OID_AIA, 0, &ext,
	    &crit);
	if (ocsp == NULL && cai == NULL) {
		cr_assert_eq(ret, GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE,
		    "AIA present although no OCSP or CA issuers URL is set");
	} else {
		OK(ret);
		cr_assert_eq(crit, 0, "AIA critical");
		OK(gnutls_x509_aia_init(&aia));
		OK(gnutls_x509_ext_import_aia(&ext, aia, 0));
		for (seq = 0;; seq++) {
			ret = gnutls_x509_aia_get(aia, seq, &oid, &san_type,
			    &san);
			if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
				break;
			OK(ret);
			cr_assert_eq(san_type, GNUTLS_SAN_URI,
			    "AIA location is not a URI");
			if (oid.size == strlen(GNUTLS_OID_AD_OCSP) &&
			    memcmp(oid.data, GNUTLS_OID_AD_OCSP, oid.size) ==
			    0) {
				n_ocsp++;
				cr_assert(ocsp != NULL, "AIA has OCSP, none set");
				cr_assert(san.size == strlen(ocsp) &&
				    memcmp(san.data, ocsp, san.size) == 0,
				    "AIA OCSP URI %.*s, want %s", (int)san.size,
				    san.data, ocsp);
			} else if (oid.size == strlen(GNUTLS_OID_AD_CAISSUERS) &&
			    memcmp(oid.data, GNUTLS_OID_AD_CAISSUERS,
			    oid.size) == 0) {
				n_cai++;
				cr_assert(cai != NULL, "AIA has caIssuers, "
				    "none set");
				cr_assert(san.size == strlen(cai) &&
				    memcmp(san.data, cai, san.size) == 0,
				    "AIA caIssuers URI %.*s, want %s",
				    (int)san.size, san.data, cai);
			} else
				cr_assert_fail("AIA with method %.*s",
				    (int)oid.size, oid.data);
		}
		cr_assert_eq(n_ocsp, ocsp ? 1 : 0, "AIA OCSP entries: %d",
		    n_ocsp);
		cr_assert_eq(n_cai, cai ? 1 : 0, "AIA caIssuers entries: %d",
		    n_cai);
		gnutls_x509_aia_deinit(aia);
		gnutls_free(ext.data);
	}

	sz = sizeof(buf) - 1;
	ret = gnutls_x509_crt_get_crl_dist_points(leaf, 0, buf, &sz, &reasons,
	    &crit);
	if (crl == NULL) {
		cr_assert_eq(ret, GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE,
		    "CRLDistributionPoints present although no crl_url");
	} else {
		cr_assert_eq(ret, GNUTLS_SAN_URI, "CRL DP: %d (%s)", ret,
		    ret < 0 ? gnutls_strerror(ret) : "not a URI");
		buf[sz] = '\0';
		cr_assert_str_eq(buf, crl, "CRL DP URI");
		cr_assert_eq(crit, 0, "CRL DP critical");
		sz = sizeof(buf);
		cr_assert_eq(gnutls_x509_crt_get_crl_dist_points(leaf, 1, buf,
		    &sz, &reasons, &crit), GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE,
		    "more than one CRL distribution point");
	}
}

static void
check_leaf(struct ca *ca, const struct ca_issued *is,
    const struct leaf_expect *e)
{
	gnutls_x509_crt_t cacrt = ca_cert_peek(ca);
	gnutls_x509_crt_t leaf, frompem, *chain = NULL;
	gnutls_datum_t d, a = { NULL, 0 }, b = { NULL, 0 };
	unsigned char serial[64], ski[64], caski[64], aki[64], ip[16];
	char hex[33], oid[128];
	const char *exts[8];
	size_t sz, n, nski, ncaski, naki, iplen, i;
	unsigned nchain = 0, crit = 0, isca = 1, ku = 0, want_ku;
	int pathlen, ret, is_rsa;
	time_t nb, na, life = (time_t)e->p->validity_days * 86400;

	cr_assert_not_null(is);
	cr_assert_not_null(is->der);
	cr_assert_not_null(is->pem);
	cr_assert_not_null(is->chain_pem);
	leaf = th_crt_der(is->der, is->der_len);
	frompem = th_crt_pem(is->pem);
	cr_assert(th_crt_equal(leaf, frompem), "pem and der differ");
	gnutls_x509_crt_deinit(frompem);
	cr_assert_eq(gnutls_x509_crt_get_version(leaf), 3);

	/* Chain: the leaf, then the CA certificate. */
	d.data = (unsigned char *)is->chain_pem;
	d.size = (unsigned)strlen(is->chain_pem);
	OK(gnutls_x509_crt_list_import2(&chain, &nchain, &d,
	    GNUTLS_X509_FMT_PEM, 0));
	cr_assert_eq(nchain, 2, "chain has %u certificates", nchain);
	cr_assert(th_crt_equal(chain[0], leaf), "chain[0] is not the leaf");
	cr_assert(th_crt_equal(chain[1], cacrt), "chain[1] is not the CA");
	for (i = 0; i < nchain; i++)
		gnutls_x509_crt_deinit(chain[i]);
	gnutls_free(chain);

	/* Trust: verifies against the CA alone. */
	ret = (int)th_verify(leaf, cacrt, e->hostname);
	cr_assert_eq(ret, 0, "leaf does not verify against the CA (status "
	    "0x%x)", (unsigned)ret);
	OK(gnutls_x509_crt_get_raw_issuer_dn(leaf, &a));
	OK(gnutls_x509_crt_get_raw_dn(cacrt, &b));
	cr_assert(a.size == b.size && memcmp(a.data, b.data, a.size) == 0,
	    "leaf issuer is not the CA subject");
	gnutls_free(a.data);
	gnutls_free(b.data);
	for (i = 0; i < e->nids; i++)
		if (e->ids[i].type == CA_IDENT_IP) {
			th_ip_bytes(e->ids[i].value, ip, &iplen);
			cr_assert_eq(gnutls_x509_crt_check_ip(leaf, ip,
			    (unsigned)iplen, 0), 1, "leaf not valid for %s",
			    e->ids[i].value);
		}

	/* Key: the CSR's. */
	cr_assert(th_crt_has_key(leaf, e->key), "leaf key is not the CSR key");
	is_rsa = gnutls_x509_crt_get_pk_algorithm(leaf, NULL) == GNUTLS_PK_RSA;

	/* Serial: 16 bytes, high bit clear, as reported. */
	sz = sizeof(serial);
	OK(gnutls_x509_crt_get_serial(leaf, serial, &sz));
	cr_assert_eq(sz, 16, "leaf serial is %zu bytes (first byte %02x)", sz,
	    serial[0]);
	cr_assert_eq(serial[0] & 0x80, 0, "serial high bit set");
	cr_assert_neq(serial[0], 0, "serial has a leading zero byte");
	cr_assert(memcmp(serial, is->serial, 16) == 0,
	    "ca_issued.serial differs from the certificate's");
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", serial[i]);
	cr_assert_str_eq(is->serial_hex, hex);

	/* basicConstraints cA=FALSE. */
	ret = gnutls_x509_crt_get_basic_constraints(leaf, &crit, &isca,
	    &pathlen);
	cr_assert(ret >= 0, "leaf has no basicConstraints: %s",
	    gnutls_strerror(ret));
	cr_assert_eq(isca, 0, "leaf has cA=TRUE");

	/* keyUsage critical digitalSignature (+ keyEncipherment). */
	want_ku = GNUTLS_KEY_DIGITAL_SIGNATURE;
	if (is_rsa && e->p->rsa_key_encipherment)
		want_ku |= GNUTLS_KEY_KEY_ENCIPHERMENT;
	crit = 0;
	OK(gnutls_x509_crt_get_key_usage(leaf, &ku, &crit));
	cr_assert_eq(ku, want_ku, "leaf keyUsage 0x%x, want 0x%x (%s key, "
	    "rsa_key_encipherment %d)", ku, want_ku, is_rsa ? "RSA" : "non-RSA",
	    e->p->rsa_key_encipherment);
	cr_assert_eq(crit, 1, "leaf keyUsage not critical");

	/* EKU: serverAuth only. */
	sz = sizeof(oid);
	OK(gnutls_x509_crt_get_key_purpose_oid(leaf, 0, oid, &sz, NULL));
	cr_assert_str_eq(oid, OID_SERVER_AUTH);
	sz = sizeof(oid);
	cr_assert_eq(gnutls_x509_crt_get_key_purpose_oid(leaf, 1, oid, &sz,
	    NULL), GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE,
	    "leaf EKU has more than serverAuth (%s)", oid);

	/* SKI present, AKI = CA SKI. */
	nski = th_ski(leaf, ski);
	cr_assert(nski > 0);
	ncaski = th_ski(cacrt, caski);
	naki = th_aki(leaf, aki);
	cr_assert(naki == ncaski && memcmp(aki, caski, naki) == 0,
	    "leaf AKI is not the CA SKI");
	cr_assert(nski != ncaski || memcmp(ski, caski, nski) != 0,
	    "leaf SKI equals the CA's");

	th_check_san(leaf, e->ids, e->nids);
	check_aia_crldp(leaf, e->p);

	/* RFC 5280 4.2.1.6: an empty subject makes the SAN critical. */
	OK(gnutls_x509_crt_get_raw_dn(leaf, &a));
	if (a.size == 2 && a.data[0] == 0x30 && a.data[1] == 0x00) {
		gnutls_datum_t ext = { NULL, 0 };

		crit = 0;
		OK(gnutls_x509_crt_get_extension_by_oid2(leaf, OID_SAN, 0,
		    &ext, &crit));
		cr_assert_eq(crit, 1, "subject empty but SAN not critical");
		gnutls_free(ext.data);
	}
	gnutls_free(a.data);
	a.data = NULL;

	/* Validity. */
	nb = gnutls_x509_crt_get_activation_time(leaf);
	na = gnutls_x509_crt_get_expiration_time(leaf);
	cr_assert_eq(nb, e->p->now, "notBefore %lld, want %lld",
	    (long long)nb, (long long)e->p->now);
	cr_assert(na - nb == life || na - nb == life - 1,
	    "validity %lld s, want %u days", (long long)(na - nb),
	    e->p->validity_days);
	cr_assert_eq(is->not_before, nb);
	cr_assert_eq(is->not_after, na);

	/* Exactly the profile's extensions. */
	n = 0;
	exts[n++] = OID_BC;
	exts[n++] = OID_KU;
	exts[n++] = OID_EKU;
	exts[n++] = OID_SKI;
	exts[n++] = OID_AKI;
	exts[n++] = OID_SAN;
	if ((e->p->ocsp_url && *e->p->ocsp_url) ||
	    (e->p->ca_issuers_url && *e->p->ca_issuers_url))
		exts[n++] = OID_AIA;
	if (e->p->crl_url && *e->p->crl_url)
		exts[n++] = OID_CRLDP;
	th_check_extensions(leaf, exts, n, "leaf");

	gnutls_x509_crt_deinit(leaf);
}

/* Checks and issues: CSR of key asking for c, order identifiers ids. */
static struct ca_issued *
issue(struct ca *ca, gnutls_x509_privkey_t key, const struct th_csr *c,
    const struct ca_ident *ids, size_t nids, const struct ca_issue_params *p)
{
	gnutls_datum_t der = th_csr_der(key, c);
	struct ca_csr *csr = NULL;
	struct ca_issued *is = NULL;
	enum ca_csr_check failed = 0;
	char err[1024] = "";
	anvil_err rc;

	rc = ca_csr_check(der.data, der.size, ids, nids, NULL, 0, &csr,
	    &failed, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "ca_csr_check: %s (check %d): %s",
	    anvil_strerror(rc), (int)failed, err);
	cr_assert_not_null(csr);
	rc = ca_issue(ca, csr, ids, nids, p, &is, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "ca_issue: %s: %s", anvil_strerror(rc), err);
	cr_assert_not_null(is);
	ca_csr_free(csr);
	gnutls_free(der.data);
	return is;
}

/* ------------------------------------------------------------ key types */

struct kt_row {
	const char *name;
	enum keytype type;
	gnutls_pk_algorithm_t pk;
	unsigned bits;			/* RSA modulus */
	gnutls_ecc_curve_t curve;	/* ECDSA curve */
	int generate;			/* 0: parse only (RSA 4096 twice is slow) */
};

static const struct kt_row kt_rows[] = {
	{ "ec:P-256", KEYTYPE_EC_P256, GNUTLS_PK_ECDSA, 0,
	  GNUTLS_ECC_CURVE_SECP256R1, 1 },
	{ "P-256", KEYTYPE_EC_P256, GNUTLS_PK_ECDSA, 0,
	  GNUTLS_ECC_CURVE_SECP256R1, 1 },
	{ "ec:P-384", KEYTYPE_EC_P384, GNUTLS_PK_ECDSA, 0,
	  GNUTLS_ECC_CURVE_SECP384R1, 1 },
	{ "P-384", KEYTYPE_EC_P384, GNUTLS_PK_ECDSA, 0,
	  GNUTLS_ECC_CURVE_SECP384R1, 1 },
	{ "ec:P-521", KEYTYPE_EC_P521, GNUTLS_PK_ECDSA, 0,
	  GNUTLS_ECC_CURVE_SECP521R1, 1 },
	{ "P-521", KEYTYPE_EC_P521, GNUTLS_PK_ECDSA, 0,
	  GNUTLS_ECC_CURVE_SECP521R1, 1 },
	{ "rsa:2048", KEYTYPE_RSA2048, GNUTLS_PK_RSA, 2048, 0, 1 },
	{ "rsa2048", KEYTYPE_RSA2048, GNUTLS_PK_RSA, 2048, 0, 1 },
	{ "rsa:3072", KEYTYPE_RSA3072, GNUTLS_PK_RSA, 3072, 0, 1 },
	{ "rsa3072", KEYTYPE_RSA3072, GNUTLS_PK_RSA, 3072, 0, 1 },
	{ "rsa:4096", KEYTYPE_RSA4096, GNUTLS_PK_RSA, 4096, 0, 1 },
	{ "rsa4096", KEYTYPE_RSA4096, GNUTLS_PK_RSA, 4096, 0, 0 },
	{ "ed25519", KEYTYPE_ED25519, GNUTLS_PK_EDDSA_ED25519, 0, 0, 1 },
	{ "ed448", KEYTYPE_ED448, GNUTLS_PK_EDDSA_ED448, 0, 0, 1 },
};
#define N_KT (sizeof(kt_rows) / sizeof(kt_rows[0]))

Test(ca, key_type_parse_every_spelling)
{
	enum keytype t;
	size_t i;

	for (i = 0; i < N_KT; i++) {
		t = KEYTYPE__MAX;
		cr_assert_eq(keytype_parse(kt_rows[i].name, &t), ANVIL_OK,
		    "\"%s\" refused", kt_rows[i].name);
		cr_assert_eq(t, kt_rows[i].type, "\"%s\" parsed as %d",
		    kt_rows[i].name, (int)t);
	}
}

Test(ca, key_type_accepted_lists_exactly_the_fourteen_strings)
{
	const char *list = keytype_accepted();
	char *copy, *tok, *save = NULL;
	int seen[N_KT] = { 0 };
	size_t i, n = 0;

	cr_assert_not_null(list);
	copy = strdup(list);
	for (tok = strtok_r(copy, ", ", &save); tok != NULL;
	    tok = strtok_r(NULL, ", ", &save)) {
		for (i = 0; i < N_KT; i++)
			if (strcmp(tok, kt_rows[i].name) == 0)
				break;
		cr_assert(i < N_KT, "accepted list names \"%s\"", tok);
		cr_assert_eq(seen[i], 0, "\"%s\" listed twice", tok);
		seen[i] = 1;
		n++;
	}
	cr_assert_eq(n, N_KT, "accepted list \"%s\" has %zu names", list, n);
	free(copy);
}

static const struct {
	const char *desc;
	const char *s;
} bad_types[] = {
	{ "RSA below 2048", "rsa:1024" },
	{ "RSA 1024 short form", "rsa1024" },
	{ "RSA 8192 (not offered)", "rsa:8192" },
	{ "RSA without size", "rsa" },
	{ "RSA with empty size", "rsa:" },
	{ "RSA with leading zero", "rsa:02048" },
	{ "RSA with suffix", "rsa:2048x" },
	{ "RSA with dash", "rsa-2048" },
	{ "RSA upper case", "RSA:2048" },
	{ "P-192", "P-192" },
	{ "ec:P-192", "ec:P-192" },
	{ "ec:P-255 typo", "ec:P-255" },
	{ "lower-case p-256", "p-256" },
	{ "EC: upper case", "EC:P-256" },
	{ "curve OpenSSL name", "prime256v1" },
	{ "curve SEC name", "secp256r1" },
	{ "ec without curve", "ec:" },
	{ "ec:ed25519", "ec:ed25519" },
	{ "empty", "" },
	{ "trailing space", "ED25519 " },
	{ "ed25519 trailing space", "ed25519 " },
	{ "leading space", " ed25519" },
	{ "capitalised Ed25519", "Ed25519" },
	{ "x25519 (not a signature key)", "x25519" },
	{ "ed25519 with newline", "ed25519\n" },
	{ "dsa", "dsa" },
	{ "P-256 with tab", "P-256\t" },
};
#define N_BAD_TYPES (sizeof(bad_types) / sizeof(bad_types[0]))

Test(ca, key_type_parse_refuses_unknown_strings)
{
	enum keytype t;
	size_t i;

	for (i = 0; i < N_BAD_TYPES; i++) {
		t = KEYTYPE__MAX;
		cr_expect_eq(keytype_parse(bad_types[i].s, &t),
		    ANVIL_ERR_INVALID, "%s: \"%s\" accepted as %d",
		    bad_types[i].desc, bad_types[i].s, (int)t);
	}
}

Test(ca, load_or_generate_refuses_unknown_key_type)
{
	char *dir = th_tempdir();
	struct anvil_config *cfg = th_config(dir, NULL);
	struct anvil_config *bad = NULL;
	struct ca *ca = NULL;
	char err[1024], *text = NULL;
	anvil_err rc;
	size_t i;
	int n;

	for (i = 0; i < N_BAD_TYPES; i++) {
		/* The config parser refuses it already, naming the list... */
		if (strchr(bad_types[i].s, '\n') == NULL &&
		    bad_types[i].s[0] != '\0' &&
		    !strchr(" \t", bad_types[i].s[strlen(bad_types[i].s) - 1]) &&
		    bad_types[i].s[0] != ' ') {
			n = asprintf(&text, "[server]\nbase_url = "
			    "https://acme.test/acme\ndata_dir = %s\n[ca]\n"
			    "key_type = %s\n", dir, bad_types[i].s);
			cr_assert(n > 0);
			err[0] = '\0';
			rc = config_parse("t.conf", text, (size_t)n, &bad, err,
			    sizeof(err));
			cr_expect_neq(rc, ANVIL_OK, "%s: config accepted "
			    "key_type %s", bad_types[i].desc, bad_types[i].s);
			cr_expect(strstr(err, keytype_accepted()) != NULL,
			    "%s: config error does not list the accepted "
			    "types: %s", bad_types[i].desc, err);
			config_free(bad);
			bad = NULL;
			free(text);
		}

		/* ... and so does the CA, for a config built otherwise. */
		free(cfg->key_type);
		cfg->key_type = strdup(bad_types[i].s);
		err[0] = '\0';
		ca = NULL;
		rc = ca_load_or_generate(cfg, &ca, err, sizeof(err));
		cr_expect_eq(rc, ANVIL_ERR_INVALID, "%s: rc %s", bad_types[i].desc,
		    anvil_strerror(rc));
		cr_expect_null(ca);
		cr_expect(strstr(err, keytype_accepted()) != NULL,
		    "%s: error does not list the accepted types: \"%s\"",
		    bad_types[i].desc, err);
		cr_expect(!file_exists(cfg->key_file) &&
		    !file_exists(cfg->cert_file),
		    "%s: files created for a refused key type", bad_types[i].desc);
		ca_free(ca);
	}
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

Test(ca, key_generate_refuses_out_of_range_type)
{
	gnutls_x509_privkey_t k = NULL;
	char err[256] = "";

	cr_assert_neq(ca_key_generate(KEYTYPE__MAX, &k, err, sizeof(err)),
	    ANVIL_OK);
	cr_assert_null(k);
	cr_assert_neq(ca_key_generate((enum keytype)-1, &k, err,
	    sizeof(err)), ANVIL_OK);
	cr_assert_null(k);
}

Test(ca, key_generate_each_non_rsa_type)
{
	static const struct {
		enum keytype t;
		gnutls_pk_algorithm_t pk;
		gnutls_ecc_curve_t curve;
	} rows[] = {
		{ KEYTYPE_EC_P256, GNUTLS_PK_ECDSA, GNUTLS_ECC_CURVE_SECP256R1 },
		{ KEYTYPE_EC_P384, GNUTLS_PK_ECDSA, GNUTLS_ECC_CURVE_SECP384R1 },
		{ KEYTYPE_EC_P521, GNUTLS_PK_ECDSA, GNUTLS_ECC_CURVE_SECP521R1 },
		{ KEYTYPE_ED25519, GNUTLS_PK_EDDSA_ED25519,
		  GNUTLS_ECC_CURVE_ED25519 },
		{ KEYTYPE_ED448, GNUTLS_PK_EDDSA_ED448, GNUTLS_ECC_CURVE_ED448 },
	};
	gnutls_x509_privkey_t k;
	gnutls_ecc_curve_t curve;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		k = NULL;
		cr_assert_eq(ca_key_generate(rows[i].t, &k, err, sizeof(err)),
		    ANVIL_OK, "type %d: %s", (int)rows[i].t, err);
		cr_assert_eq(gnutls_x509_privkey_get_pk_algorithm(k),
		    (int)rows[i].pk);
		curve = GNUTLS_ECC_CURVE_INVALID;
		OK(gnutls_x509_privkey_export_ecc_raw(k, &curve, NULL, NULL,
		    NULL));
		cr_assert_eq(curve, rows[i].curve, "type %d: curve %d",
		    (int)rows[i].t, (int)curve);
		gnutls_x509_privkey_deinit(k);
	}
}

/*
 * For each key type string: a new CA in an empty folder (key 0600 whatever
 * the umask, certificate of the profile), leaves issued by it for an EC and
 * an RSA key, and a reload that finds the same CA.
 */
/*
 * Criterion hands parameters to a new process: pass row numbers, not
 * pointers into this one.
 */
ParameterizedTestParameters(ca, generate_profile_issue_reload)
{
	static int rows[N_KT];
	size_t i;

	for (i = 0; i < N_KT; i++)
		rows[i] = (int)i;
	return cr_make_param_array(int, rows, N_KT);
}

ParameterizedTest(int *row, ca, generate_profile_issue_reload,
    .timeout = 120)
{
	const struct kt_row *r = &kt_rows[*row];
	char *dir = th_tempdir();
	struct anvil_config *cfg;
	struct ca *ca = NULL, *ca2 = NULL;
	struct ca_expect ce;
	struct ca_issue_params p;
	struct ca_issued *is = NULL;
	gnutls_x509_crt_t filecrt, ca2crt;
	gnutls_x509_privkey_t filekey, ec_leaf, rsa_leaf;
	struct stat st;
	char cn[64], *keybuf, *keybuf2, *certbuf, *certbuf2;
	size_t keylen, keylen2, certlen, certlen2;
	enum keytype t = KEYTYPE__MAX;

	cr_assert_eq(keytype_parse(r->name, &t), ANVIL_OK);
	cr_assert_eq(t, r->type);
	if (!r->generate) {
		/* The short spelling of RSA 4096: same type as "rsa:4096",
		 * which the row before generates. */
		th_rmrf(dir);
		free(dir);
		return;
	}

	snprintf(cn, sizeof(cn), "Anvil Test CA %s", r->name);
	cfg = config_for(dir, "[ca]\nkey_type = %s\ncommon_name = %s\n"
	    "organization = Anvil Tests Ltd\nvalidity_years = 7\n"
	    "[issuance]\nvalidity_days = 45\n"
	    "crl_url = http://ca.test/crl.der\n"
	    "ocsp_url = http://ocsp.ca.test/\n"
	    "ca_issuers_url = http://ca.test/ca.der\n"
	    "rsa_key_encipherment = true\n", r->name, cn);
	cr_assert(!file_exists(cfg->key_file) && !file_exists(cfg->cert_file));

	umask(0);	/* the key must be 0600 whatever the umask */
	memset(&ce, 0, sizeof(ce));
	ce.t0 = time(NULL);
	ca = load_ok(cfg);
	ce.t1 = time(NULL);
	umask(022);

	/* Files: key 0600, both regular. */
	cr_assert_eq(stat(cfg->key_file, &st), 0, "no key file %s",
	    cfg->key_file);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600, "key mode %04o",
	    (unsigned)(st.st_mode & 07777));
	cr_assert_eq(stat(cfg->cert_file, &st), 0, "no cert file %s",
	    cfg->cert_file);
	cr_assert(S_ISREG(st.st_mode));

	/* What is on disk is what the CA holds. */
	filecrt = crt_from_file(cfg->cert_file);
	cr_assert(th_crt_equal(filecrt, ca_cert_peek(ca)));
	{
		gnutls_x509_crt_t c = th_crt_pem(ca_cert_pem_peek(ca));
		cr_assert(th_crt_equal(filecrt, c));
		gnutls_x509_crt_deinit(c);
	}
	filekey = key_from_file(cfg->key_file);
	cr_assert_eq(gnutls_x509_privkey_get_pk_algorithm(filekey),
	    (int)r->pk);
	cr_assert(th_crt_has_key(filecrt, filekey),
	    "certificate is not for the key file");
	cr_assert_eq(gnutls_privkey_get_pk_algorithm(ca_key_peek(ca), NULL),
	    (int)r->pk);

	ce.cn = cn;
	ce.org = "Anvil Tests Ltd";
	ce.years = 7;
	ce.pk = r->pk;
	ce.bits = r->bits;
	ce.curve = r->curve;
	check_ca_profile(filecrt, &ce);

	/* Leaves. */
	ca_issue_params_from_config(cfg, &p);
	p.now = ce.t0 - 3600;
	{
		const struct ca_ident ids[] = {
			{ CA_IDENT_DNS, "www.example.org" },
			{ CA_IDENT_IP, "192.0.2.7" },
		};
		/* Upper case in the CSR; the leaf carries the identifier. */
		const struct th_csr c = { .dns = { "WWW.Example.ORG" },
			.ip = { "192.0.2.7" } };
		const struct leaf_expect le = { ids, 2, &p, NULL,
			"www.example.org" };
		struct leaf_expect l2 = le;

		ec_leaf = th_key(GNUTLS_PK_ECDSA, TH_P256);
		l2.key = ec_leaf;
		is = issue(ca, ec_leaf, &c, ids, 2, &p);
		check_leaf(ca, is, &l2);
		ca_issued_free(is);
	}
	{
		/* IP first in the order, DNS first in the CSR, no AIA/CRL. */
		const struct ca_ident ids[] = {
			{ CA_IDENT_IP, "2001:db8::1" },
			{ CA_IDENT_DNS, "example.org" },
		};
		const struct th_csr c = { .cn = "example.org",
			.dns = { "example.org" }, .ip = { "2001:db8::1" } };
		struct ca_issue_params p2 = p;
		struct leaf_expect le = { ids, 2, &p2, NULL, "example.org" };

		p2.crl_url = NULL;
		p2.ocsp_url = "";
		p2.ca_issuers_url = NULL;
		rsa_leaf = th_key(GNUTLS_PK_RSA, 2048);
		le.key = rsa_leaf;
		is = issue(ca, rsa_leaf, &c, ids, 2, &p2);
		check_leaf(ca, is, &le);
		ca_issued_free(is);
	}

	/* Reload: same certificate and key, files untouched. */
	keybuf = th_read_file(cfg->key_file, &keylen);
	certbuf = th_read_file(cfg->cert_file, &certlen);
	ca2 = load_ok(cfg);
	ca2crt = ca_cert_peek(ca2);
	cr_assert(th_crt_equal(ca2crt, filecrt), "reload gave another CA");
	keybuf2 = th_read_file(cfg->key_file, &keylen2);
	certbuf2 = th_read_file(cfg->cert_file, &certlen2);
	cr_assert(keylen == keylen2 && memcmp(keybuf, keybuf2, keylen) == 0,
	    "key file rewritten on reload");
	cr_assert(certlen == certlen2 &&
	    memcmp(certbuf, certbuf2, certlen) == 0,
	    "cert file rewritten on reload");
	{
		const struct ca_ident ids[] = { { CA_IDENT_DNS,
			"reload.example.org" } };
		const struct th_csr c = { .dns = { "reload.example.org" } };
		struct leaf_expect le = { ids, 1, &p, ec_leaf,
			"reload.example.org" };

		is = issue(ca2, ec_leaf, &c, ids, 1, &p);
		check_leaf(ca2, is, &le);
		/* ...and it verifies against the first instance's cert. */
		{
			gnutls_x509_crt_t leaf = th_crt_der(is->der,
			    is->der_len);
			cr_assert_eq(th_verify(leaf, filecrt, NULL), 0);
			gnutls_x509_crt_deinit(leaf);
		}
		ca_issued_free(is);
	}

	free(keybuf);
	free(keybuf2);
	free(certbuf);
	free(certbuf2);
	gnutls_x509_privkey_deinit(ec_leaf);
	gnutls_x509_privkey_deinit(rsa_leaf);
	gnutls_x509_privkey_deinit(filekey);
	gnutls_x509_crt_deinit(filecrt);
	ca_free(ca2);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* ---------------------------------------------------------- generations */

/* An install that never rolled over is generation 1 alone: one chain, its
 * own certificate, found by its own key identifier only. */
Test(ca, generation_one_alone)
{
	char *dir = th_tempdir();
	struct anvil_config *cfg = th_config(dir, NULL);
	struct ca *ca = load_ok(cfg);
	const unsigned char *kid;
	unsigned char other[64];
	size_t kidlen = 0;

	cr_assert_eq(ca_generation(ca), 1);
	cr_assert_null(ca_older(ca));
	cr_assert_eq(ca_retired(ca), 0);
	cr_assert_eq(ca_generation_get(ca, 1), ca);
	cr_assert_null(ca_generation_get(ca, 2), "no generation 2");
	cr_assert_null(ca_generation_get(ca, 0), "no generation 0");
	cr_assert_eq(ca_chain_count(ca), 1);
	cr_assert_str_eq(ca_chain_pem_peek(ca, 0), ca_cert_pem_peek(ca));
	cr_assert_null(ca_chain_pem_peek(ca, 1), "no alternate chain");
	kid = ca_key_id_peek(ca, &kidlen);
	cr_assert_gt(kidlen, 0);
	cr_assert_eq(ca_generation_by_key_id(ca, kid, kidlen), ca);
	memcpy(other, kid, kidlen);
	other[0] ^= 1;
	cr_assert_null(ca_generation_by_key_id(ca, other, kidlen),
	    "another key identifier");
	cr_assert_null(ca_generation_by_key_id(ca, kid, kidlen - 1),
	    "a prefix of the key identifier");
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* 0 when the PEM leaf followed by the PEM chain verifies up to anchor
 * (the chain may end with the anchor itself, as the ACME chains do). */
static unsigned
chain_status(const char *leaf_pem, const char *chain_pem,
    gnutls_x509_crt_t anchor)
{
	gnutls_x509_trust_list_t tl;
	gnutls_x509_crt_t *list = NULL, copy;
	gnutls_datum_t d, ad = { NULL, 0 };
	unsigned n = 0, i, status = ~0u;
	char *all = NULL;

	cr_assert_geq(asprintf(&all, "%s%s", leaf_pem, chain_pem), 0);
	d.data = (unsigned char *)all;
	d.size = (unsigned)strlen(all);
	cr_assert_geq(gnutls_x509_crt_list_import2(&list, &n, &d,
	    GNUTLS_X509_FMT_PEM, 0), 0);
	cr_assert_geq(gnutls_x509_crt_export2(anchor, GNUTLS_X509_FMT_DER,
	    &ad), 0);
	cr_assert_geq(gnutls_x509_crt_init(&copy), 0);
	cr_assert_geq(gnutls_x509_crt_import(copy, &ad, GNUTLS_X509_FMT_DER),
	    0);
	cr_assert_geq(gnutls_x509_trust_list_init(&tl, 0), 0);
	cr_assert_geq(gnutls_x509_trust_list_add_cas(tl, &copy, 1, 0), 0);
	cr_assert_geq(gnutls_x509_trust_list_verify_crt(tl, list, n, 0,
	    &status, NULL), 0);
	gnutls_x509_trust_list_deinit(tl, 1);
	for (i = 0; i < n; i++)
		gnutls_x509_crt_deinit(list[i]);
	gnutls_free(list);
	gnutls_free(ad.data);
	free(all);
	return status;
}

static unsigned
pem_count(const char *pem)
{
	unsigned n = 0;
	const char *p = pem;

	while ((p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL) {
		n++;
		p++;
	}
	return n;
}

static void
rollover_ok(const struct anvil_config *cfg, unsigned want)
{
	char err[1024] = "";
	unsigned g = 0;
	anvil_err rc;

	rc = ca_rollover(cfg, &g, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "ca_rollover: %s: %s", anvil_strerror(rc),
	    err);
	cr_assert_eq(g, want);
}

/*
 * A rollover makes generation 2 (key 0600, its own subject and key
 * identifier, a cross-certificate issued by generation 1) and every
 * later load returns it as the newest: a leaf it issues verifies through
 * the default chain against generation 1's certificate (ca.pem) and
 * through the alternate against its own; generation 1 keeps its single
 * chain. A second rollover chains generation 3 down to generation 1.
 */
Test(ca, rollover_generations, .timeout = 60)
{
	char *dir = th_tempdir();
	struct anvil_config *cfg = th_config(dir, NULL);
	struct ca *ca1 = load_ok(cfg), *ca, *g1, *g2;
	gnutls_x509_privkey_t ec = th_key(GNUTLS_PK_ECDSA, TH_P256);
	const struct ca_ident ids[] = { { CA_IDENT_DNS, "r.example.net" } };
	const struct th_csr c = { .dns = { "r.example.net" } };
	struct ca_issue_params p;
	struct ca_issued *is;
	gnutls_x509_crt_t self2;
	gnutls_datum_t dn = { NULL, 0 };
	const unsigned char *k1, *k2;
	size_t k1len = 0, k2len = 0;
	char path[1024];
	struct stat sb;

	rollover_ok(cfg, 2);
	snprintf(path, sizeof(path), "%s/ca-g2.key", dir);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600, "generation 2 key mode %o",
	    (unsigned)(sb.st_mode & 0777));
	ca = load_ok(cfg);
	cr_assert_eq(ca_generation(ca), 2);
	g1 = ca_older(ca);
	cr_assert_not_null(g1);
	cr_assert_eq(ca_generation(g1), 1);
	cr_assert_str_eq(ca_cert_pem_peek(g1), ca_cert_pem_peek(ca1),
	    "generation 1 is the CA as before");
	cr_assert_eq(ca_generation_get(ca, 1), g1);
	cr_assert_eq(ca_generation_get(ca, 2), ca);
	k1 = ca_key_id_peek(g1, &k1len);
	k2 = ca_key_id_peek(ca, &k2len);
	cr_assert(k1len != k2len || memcmp(k1, k2, k1len) != 0,
	    "a new key");
	cr_assert_eq(ca_generation_by_key_id(ca, k1, k1len), g1);
	cr_assert_eq(ca_generation_by_key_id(ca, k2, k2len), ca);
	cr_assert_geq(gnutls_x509_crt_get_dn3(ca_cert_peek(ca), &dn, 0), 0);
	cr_assert_not_null(strstr((char *)dn.data, " G2"), "subject %s",
	    (char *)dn.data);
	gnutls_free(dn.data);
	cr_assert_eq(ca_chain_count(g1), 1);
	cr_assert_eq(ca_chain_count(ca), 2);
	cr_assert_eq(pem_count(ca_chain_pem_peek(ca, 0)), 2,
	    "cross-certificate and generation 1");
	cr_assert_str_eq(ca_chain_pem_peek(ca, 1), ca_cert_pem_peek(ca));
	cr_assert_null(ca_chain_pem_peek(ca, 2));

	memset(&p, 0, sizeof(p));
	p.validity_days = 10;
	is = issue(ca, ec, &c, ids, 1, &p);
	self2 = th_crt_pem(ca_cert_pem_peek(ca));
	cr_assert_eq(chain_status(is->pem, ca_chain_pem_peek(ca, 0),
	    ca_cert_peek(g1)), 0, "default chain up to generation 1");
	cr_assert_eq(chain_status(is->pem, ca_chain_pem_peek(ca, 1), self2),
	    0, "alternate chain up to generation 2");
	cr_assert_neq(chain_status(is->pem, ca_chain_pem_peek(g1, 0),
	    ca_cert_peek(g1)), 0, "not issued by generation 1's key");
	cr_assert_str_eq(is->chain_pem + strlen(is->pem),
	    ca_chain_pem_peek(ca, 0), "issued with the default chain");
	ca_issued_free(is);
	gnutls_x509_crt_deinit(self2);

	rollover_ok(cfg, 3);
	ca_free(ca);
	ca = load_ok(cfg);
	cr_assert_eq(ca_generation(ca), 3);
	g2 = ca_older(ca);
	cr_assert_eq(ca_generation(g2), 2);
	cr_assert_eq(pem_count(ca_chain_pem_peek(ca, 0)), 3);
	is = issue(ca, ec, &c, ids, 1, &p);
	cr_assert_eq(chain_status(is->pem, ca_chain_pem_peek(ca, 0),
	    ca_cert_peek(ca_generation_get(ca, 1))), 0,
	    "generation 3 chains to generation 1");
	ca_issued_free(is);
	ca_free(ca);
	ca_free(ca1);
	gnutls_x509_privkey_deinit(ec);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* Retiring: only an older generation, kept across a later rollover; the
 * newest and unknown ones are refused and change nothing. */
Test(ca, generations_retire, .timeout = 60)
{
	char *dir = th_tempdir();
	struct anvil_config *cfg = th_config(dir, NULL);
	struct ca *ca = load_ok(cfg);
	char err[1024] = "", p_json[1024], *before, *after;
	size_t len;

	ca_free(ca);
	cr_assert_neq(ca_gens_retire(cfg, 1, err, sizeof(err)), ANVIL_OK,
	    "no rollover yet: nothing to retire");
	rollover_ok(cfg, 2);
	rollover_ok(cfg, 3);
	snprintf(p_json, sizeof(p_json), "%s/cas.json", dir);
	before = th_read_file(p_json, &len);
	cr_assert_eq(ca_gens_retire(cfg, 3, err, sizeof(err)),
	    ANVIL_ERR_INVALID);
	cr_assert_not_null(strstr(err, "generation 3 cannot retire"), "%s",
	    err);
	cr_assert_eq(ca_gens_retire(cfg, 0, err, sizeof(err)),
	    ANVIL_ERR_INVALID);
	cr_assert_eq(ca_gens_retire(cfg, 4, err, sizeof(err)),
	    ANVIL_ERR_INVALID);
	after = th_read_file(p_json, &len);
	cr_assert_str_eq(before, after, "refused: cas.json unchanged");
	free(before);
	free(after);

	cr_assert_eq(ca_gens_retire(cfg, 1, err, sizeof(err)), ANVIL_OK, "%s",
	    err);
	ca = load_ok(cfg);
	cr_assert_eq(ca_generation(ca), 3);
	cr_assert_eq(ca_retired(ca), 0);
	cr_assert_eq(ca_retired(ca_generation_get(ca, 2)), 0);
	cr_assert_eq(ca_retired(ca_generation_get(ca, 1)), 1);
	cr_assert_gt(ca_cross_not_after(ca), time(NULL));
	cr_assert_eq(ca_cross_not_after(ca_generation_get(ca, 1)), 0);
	ca_free(ca);
	rollover_ok(cfg, 4);
	cr_assert_eq(ca_gens_retire(cfg, 2, err, sizeof(err)), ANVIL_OK, "%s",
	    err);
	ca = load_ok(cfg);
	cr_assert_eq(ca_retired(ca_generation_get(ca, 1)), 1,
	    "kept across a rollover");
	cr_assert_eq(ca_retired(ca_generation_get(ca, 2)), 1);
	cr_assert_eq(ca_retired(ca_generation_get(ca, 3)), 0);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* Hostile cas.json: each refused naming the file and what is wrong. */
Test(ca, generations_file_refused)
{
	static const struct {
		const char *text, *want;
	} rows[] = {
		{ "", "not JSON" },
		{ "{\"newest\": 2", "not JSON" },
		{ "[2]", "not a JSON object" },
		{ "{\"newest\": 2, \"newest\": 3}", "not JSON" },
		{ "{}", "\"newest\" must be" },
		{ "{\"newest\": 1}", "\"newest\" must be" },
		{ "{\"newest\": 0}", "\"newest\" must be" },
		{ "{\"newest\": -4}", "\"newest\" must be" },
		{ "{\"newest\": 33}", "\"newest\" must be" },
		{ "{\"newest\": \"2\"}", "\"newest\" must be" },
		{ "{\"newest\": 2.0}", "\"newest\" must be" },
		{ "{\"newest\": 2, \"key\": \"/etc/x\"}", "unknown member" },
		{ "{\"newest\": 2, \"retired\": 1}", "must be an array" },
		{ "{\"newest\": 2, \"retired\": [2]}", "entry 1" },
		{ "{\"newest\": 3, \"retired\": [1, 0]}", "entry 2" },
		{ "{\"newest\": 3, \"retired\": [\"1\"]}", "entry 1" },
	};
	char err[256];
	unsigned newest;
	uint32_t retired;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		err[0] = '\0';
		cr_expect_eq(ca_gens_parse("/d/cas.json", rows[i].text,
		    strlen(rows[i].text), &newest, &retired, err,
		    sizeof(err)), ANVIL_ERR_CONFIG, "row %zu: %s", i,
		    rows[i].text);
		cr_expect_not_null(strstr(err, "/d/cas.json"), "row %zu: %s",
		    i, err);
		cr_expect_not_null(strstr(err, rows[i].want), "row %zu: %s",
		    i, err);
	}
	cr_assert_eq(ca_gens_parse("f", "{\"newest\": 4, \"retired\": [1, 3]}",
	    32, &newest, &retired, err, sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_eq(newest, 4);
	cr_assert_eq(retired, 5u);
}

/* A cas.json whose generation files are missing, mismatched or not
 * certified by the previous generation stops the load, naming the file;
 * removing cas.json gives back generation 1 as it was. */
Test(ca, generations_files_checked, .timeout = 60)
{
	char *dir = th_tempdir();
	struct anvil_config *cfg = th_config(dir, NULL);
	struct ca *ca = load_ok(cfg);
	char p_json[1024], p_key[1024], p_pem[1024], p_cross[1024];
	char p_save[1024], err[1024];
	char *self_pem;
	size_t len;
	anvil_err rc;

	ca_free(ca);
	snprintf(p_json, sizeof(p_json), "%s/cas.json", dir);
	snprintf(p_key, sizeof(p_key), "%s/ca-g2.key", dir);
	snprintf(p_pem, sizeof(p_pem), "%s/ca-g2.pem", dir);
	snprintf(p_cross, sizeof(p_cross), "%s/ca-g2-cross.pem", dir);
	snprintf(p_save, sizeof(p_save), "%s/cross.save", dir);
	th_write_file(p_json, "{\"newest\": 2}", 13);
	rc = ca_load_or_generate(cfg, &ca, err, sizeof(err));
	cr_assert_neq(rc, ANVIL_OK, "no generation 2 files");
	cr_assert_null(ca);
	cr_assert_not_null(strstr(err, "ca-g2.key"), "%s", err);

	cr_assert_eq(unlink(p_json), 0);
	rollover_ok(cfg, 2);
	ca = load_ok(cfg);
	ca_free(ca);
	/* The self-signed certificate in place of the cross-certificate. */
	cr_assert_eq(rename(p_cross, p_save), 0);
	self_pem = th_read_file(p_pem, &len);
	th_write_file(p_cross, self_pem, len);
	rc = ca_load_or_generate(cfg, &ca, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_ERR_MISMATCH, "%s", err);
	cr_assert_not_null(strstr(err, "ca-g2-cross.pem"), "%s", err);
	cr_assert_not_null(strstr(err, "not signed by CA generation 1"), "%s",
	    err);
	cr_assert_eq(rename(p_save, p_cross), 0);
	/* Generation 1's certificate as generation 2's. */
	{
		char p1[1024], *pem1;
		size_t len1;

		snprintf(p1, sizeof(p1), "%s/ca.pem", dir);
		pem1 = th_read_file(p1, &len1);
		th_write_file(p_pem, pem1, len1);
		free(pem1);
	}
	rc = ca_load_or_generate(cfg, &ca, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_ERR_MISMATCH, "%s", err);
	cr_assert_not_null(strstr(err, "ca-g2.pem does not belong"), "%s",
	    err);
	th_write_file(p_pem, self_pem, len);
	free(self_pem);
	ca = load_ok(cfg);
	cr_assert_eq(ca_generation(ca), 2, "restored files load again");
	ca_free(ca);

	cr_assert_eq(unlink(p_json), 0);
	ca = load_ok(cfg);
	cr_assert_eq(ca_generation(ca), 1);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* ------------------------------------------------------------ issuance */

Test(ca, issue_params_from_config)
{
	char *dir = th_tempdir();
	struct anvil_config *cfg;
	struct ca_issue_params p;

	cfg = th_config(dir, "[issuance]\nvalidity_days = 30\n"
	    "crl_url = http://crl.test/a.crl\nocsp_url = http://ocsp.test/o\n"
	    "ca_issuers_url = http://aia.test/ca.der\n"
	    "rsa_key_encipherment = true\n");
	memset(&p, 0xa5, sizeof(p));
	ca_issue_params_from_config(cfg, &p);
	cr_assert_eq(p.validity_days, 30);
	cr_assert_str_eq(p.crl_url, "http://crl.test/a.crl");
	cr_assert_str_eq(p.ocsp_url, "http://ocsp.test/o");
	cr_assert_str_eq(p.ca_issuers_url, "http://aia.test/ca.der");
	cr_assert_neq(p.rsa_key_encipherment, 0);
	cr_assert_eq(p.now, 0);
	config_free(cfg);

	cfg = th_config(dir, NULL);
	memset(&p, 0xa5, sizeof(p));
	ca_issue_params_from_config(cfg, &p);
	cr_assert_eq(p.validity_days, 90, "default validity_days");
	cr_assert(p.crl_url == NULL || *p.crl_url == '\0');
	cr_assert(p.ocsp_url == NULL || *p.ocsp_url == '\0');
	cr_assert(p.ca_issuers_url == NULL || *p.ca_issuers_url == '\0');
	cr_assert_eq(p.rsa_key_encipherment, 0);
	cr_assert_eq(p.now, 0);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* AIA and CRL DP exactly when configured; keyEncipherment only for RSA. */
Test(ca, issue_urls_and_key_usage_table, .timeout = 60)
{
	static const struct {
		const char *desc;
		const char *crl, *ocsp, *cai;
		int rsa_ke;
	} rows[] = {
		{ "nothing configured (NULL)", NULL, NULL, NULL, 0 },
		{ "nothing configured (empty)", "", "", "", 0 },
		{ "all three", "http://ca.test/crl", "http://ocsp.test",
		  "http://ca.test/ca.crt", 0 },
		{ "OCSP only", NULL, "http://ocsp.test/x", NULL, 1 },
		{ "CA issuers only", "", "", "http://ca.test/ca.crt", 1 },
		{ "CRL only", "http://ca.test/crl.der", NULL, "", 1 },
		{ "OCSP and CRL", "http://ca.test/crl.der",
		  "http://ocsp.test/", NULL, 0 },
	};
	char *dir = th_tempdir();
	struct anvil_config *cfg = th_config(dir, NULL);
	struct ca *ca = load_ok(cfg);
	gnutls_x509_privkey_t ec = th_key(GNUTLS_PK_ECDSA, TH_P256);
	gnutls_x509_privkey_t rsa = th_key(GNUTLS_PK_RSA, 2048);
	const struct ca_ident ids[] = { { CA_IDENT_DNS, "a.example.net" } };
	const struct th_csr c = { .dns = { "a.example.net" } };
	struct ca_issue_params p;
	struct leaf_expect le;
	struct ca_issued *is;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cr_log_info("row: %s", rows[i].desc);
		memset(&p, 0, sizeof(p));
		p.validity_days = 10 + (unsigned)i;
		p.crl_url = rows[i].crl;
		p.ocsp_url = rows[i].ocsp;
		p.ca_issuers_url = rows[i].cai;
		p.rsa_key_encipherment = rows[i].rsa_ke;
		p.now = time(NULL) - 3600 + (time_t)i;
		le = (struct leaf_expect){ ids, 1, &p, ec, "a.example.net" };
		is = issue(ca, ec, &c, ids, 1, &p);
		check_leaf(ca, is, &le);
		ca_issued_free(is);
		le.key = rsa;
		is = issue(ca, rsa, &c, ids, 1, &p);
		check_leaf(ca, is, &le);
		ca_issued_free(is);
	}
	gnutls_x509_privkey_deinit(ec);
	gnutls_x509_privkey_deinit(rsa);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/*
 * ca_issue rebuilds the SAN from the identifiers it is given: a request
 * that named other things (checked against another order) does not leak
 * its names into the certificate.
 */
Test(ca, san_comes_from_identifiers_not_from_csr)
{
	char *dir = th_tempdir();
	struct anvil_config *cfg = th_config(dir, NULL);
	struct ca *ca = load_ok(cfg);
	gnutls_x509_privkey_t ec = th_key(GNUTLS_PK_ECDSA, TH_P256);
	const struct ca_ident asked[] = { { CA_IDENT_DNS, "asked.example" },
		{ CA_IDENT_IP, "198.51.100.1" } };
	const struct ca_ident order[] = { { CA_IDENT_DNS, "order.example" } };
	const struct th_csr c = { .cn = "asked.example",
		.dns = { "asked.example" }, .ip = { "198.51.100.1" } };
	gnutls_datum_t der = th_csr_der(ec, &c);
	struct ca_issue_params p = { .validity_days = 5 };
	struct leaf_expect le = { order, 1, &p, ec, "order.example" };
	struct ca_csr *csr = NULL;
	struct ca_issued *is = NULL;
	char err[512] = "";

	p.now = time(NULL) - 10;
	cr_assert_eq(ca_csr_check(der.data, der.size, asked, 2, NULL, 0, &csr,
	    NULL, err, sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_eq(ca_issue(ca, csr, order, 1, &p, &is, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	check_leaf(ca, is, &le);
	ca_issued_free(is);
	ca_csr_free(csr);
	gnutls_free(der.data);
	gnutls_x509_privkey_deinit(ec);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* An order of addresses only: no DNS name to put anywhere else. */
Test(ca, issue_ip_only_order)
{
	char *dir = th_tempdir();
	struct anvil_config *cfg = th_config(dir, "[ca]\nkey_type = ed25519\n");
	struct ca *ca = load_ok(cfg);
	gnutls_x509_privkey_t ec = th_key(GNUTLS_PK_ECDSA, TH_P256);
	const struct ca_ident ids[] = { { CA_IDENT_IP, "2001:db8::10" },
		{ CA_IDENT_IP, "192.0.2.10" } };
	const struct th_csr c = { .ip = { "192.0.2.10", "2001:db8::10" } };
	struct ca_issue_params p = { .validity_days = 3 };
	struct leaf_expect le = { ids, 2, &p, ec, NULL };
	struct ca_issued *is;

	p.now = time(NULL) - 10;
	is = issue(ca, ec, &c, ids, 2, &p);
	check_leaf(ca, is, &le);
	ca_issued_free(is);
	gnutls_x509_privkey_deinit(ec);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* p.now = 0 means time(NULL). */
Test(ca, issue_now_zero_is_current_time)
{
	char *dir = th_tempdir();
	struct anvil_config *cfg = th_config(dir, NULL);
	struct ca *ca = load_ok(cfg);
	gnutls_x509_privkey_t ec = th_key(GNUTLS_PK_ECDSA, TH_P256);
	const struct ca_ident ids[] = { { CA_IDENT_DNS, "now.example.net" } };
	const struct th_csr c = { .dns = { "now.example.net" } };
	struct ca_issue_params p = { .validity_days = 7 };
	struct ca_issued *is;
	gnutls_x509_crt_t leaf;
	time_t t0, t1, nb;

	t0 = time(NULL);
	is = issue(ca, ec, &c, ids, 1, &p);
	t1 = time(NULL);
	leaf = th_crt_der(is->der, is->der_len);
	nb = gnutls_x509_crt_get_activation_time(leaf);
	cr_assert(nb >= t0 - 60 && nb <= t1, "notBefore %lld, now %lld",
	    (long long)nb, (long long)t0);
	cr_assert_eq(th_verify(leaf, ca_cert_peek(ca), "now.example.net"), 0);
	gnutls_x509_crt_deinit(leaf);
	ca_issued_free(is);
	gnutls_x509_privkey_deinit(ec);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/*
 * Serials: 16 bytes with the high bit clear, every time. One in 128 random
 * 16-byte values starts with a zero byte, which DER would shorten to 15
 * bytes, so issue enough leaves to meet that case many times over.
 */
static int
cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

Test(ca, serials_always_16_bytes_high_bit_clear_distinct, .timeout = 60)
{
	enum { N = 2000 };
	char *dir = th_tempdir();
	struct anvil_config *cfg = th_config(dir, NULL);
	struct ca *ca = load_ok(cfg);
	gnutls_x509_privkey_t ec = th_key(GNUTLS_PK_ECDSA, TH_P256);
	const struct ca_ident ids[] = { { CA_IDENT_DNS, "s.example.net" } };
	const struct th_csr c = { .dns = { "s.example.net" } };
	struct ca_issue_params p = { .validity_days = 1, .now = 1700000000 };
	gnutls_datum_t der = th_csr_der(ec, &c);
	unsigned char (*all)[16] = calloc(N, 16), serial[64];
	struct ca_csr *csr = NULL;
	struct ca_issued *is;
	gnutls_x509_crt_t leaf;
	char err[512] = "";
	size_t sz, i;
	int bad_len = 0, bad_lead = 0;

	cr_assert_not_null(all);
	cr_assert_eq(ca_csr_check(der.data, der.size, ids, 1, NULL, 0, &csr,
	    NULL, err, sizeof(err)), ANVIL_OK, "%s", err);
	for (i = 0; i < N; i++) {
		is = NULL;
		cr_assert_eq(ca_issue(ca, csr, ids, 1, &p, &is, err,
		    sizeof(err)), ANVIL_OK, "%s", err);
		cr_assert_eq(is->serial[0] & 0x80, 0, "ca_issued.serial high "
		    "bit set");
		leaf = th_crt_der(is->der, is->der_len);
		sz = sizeof(serial);
		OK(gnutls_x509_crt_get_serial(leaf, serial, &sz));
		if (sz != 16)
			bad_len++;
		else if (serial[0] == 0)
			bad_lead++;
		else
			cr_assert(memcmp(serial, is->serial, 16) == 0);
		memcpy(all[i], is->serial, 16);
		gnutls_x509_crt_deinit(leaf);
		ca_issued_free(is);
	}
	cr_assert_eq(bad_len, 0, "%d of %d leaves have a serial that is not "
	    "16 bytes in the certificate (a random first byte of zero)",
	    bad_len, N);
	cr_assert_eq(bad_lead, 0, "%d serials with a zero first byte",
	    bad_lead);
	qsort(all, N, 16, cmp16);
	for (i = 1; i < N; i++)
		cr_assert(memcmp(all[i - 1], all[i], 16) != 0,
		    "serial repeated");
	free(all);
	ca_csr_free(csr);
	gnutls_free(der.data);
	gnutls_x509_privkey_deinit(ec);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* ------------------------------------------------------------ bad states */

Test(ca, partial_state_refused_naming_the_missing_file)
{
	static const struct {
		const char *desc;
		int copy_key, copy_cert;
		const char *files;	/* key_file / cert_file settings */
	} rows[] = {
		{ "key without certificate", 1, 0, "" },
		{ "certificate without key", 0, 1, "" },
		{ "key without certificate, custom names", 1, 0,
		  "key_file = keys/the.key\ncert_file = certs/the.crt\n" },
		{ "certificate without key, custom names", 0, 1,
		  "key_file = keys/the.key\ncert_file = certs/the.crt\n" },
	};
	char *src = th_tempdir();
	struct anvil_config *scfg = th_config(src, NULL);
	struct ca *sca = load_ok(scfg);
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *dir = th_tempdir(), sub[4096];
		struct anvil_config *cfg = config_for(dir, "[ca]\n%s",
		    rows[i].files);
		const char *missing = rows[i].copy_key ? cfg->cert_file :
		    cfg->key_file;
		const char *present = rows[i].copy_key ? cfg->key_file :
		    cfg->cert_file;
		struct ca *ca = NULL;
		char err[1024] = "", *before, *after;
		size_t lb, la;
		anvil_err rc;

		snprintf(sub, sizeof(sub), "%s/keys", dir);
		mkdir(sub, 0700);
		snprintf(sub, sizeof(sub), "%s/certs", dir);
		mkdir(sub, 0700);
		copy_file(rows[i].copy_key ? scfg->key_file : scfg->cert_file,
		    present);
		before = th_read_file(present, &lb);

		rc = ca_load_or_generate(cfg, &ca, err, sizeof(err));
		cr_expect_eq(rc, ANVIL_ERR_PARTIAL, "%s: rc %s (%s)",
		    rows[i].desc, anvil_strerror(rc), err);
		cr_expect_null(ca, "%s: a CA was returned", rows[i].desc);
		cr_expect(strstr(err, missing) != NULL, "%s: error does not "
		    "name %s: \"%s\"", rows[i].desc, missing, err);
		cr_expect(!file_exists(missing), "%s: %s was created",
		    rows[i].desc, missing);
		after = th_read_file(present, &la);
		cr_expect(lb == la && memcmp(before, after, lb) == 0,
		    "%s: %s was changed", rows[i].desc, present);
		free(before);
		free(after);
		ca_free(ca);
		config_free(cfg);
		th_rmrf(dir);
		free(dir);
	}
	ca_free(sca);
	config_free(scfg);
	th_rmrf(src);
	free(src);
}

Test(ca, key_and_cert_of_different_cas_refused, .timeout = 60)
{
	static const struct {
		const char *desc;
		const char *type_a, *type_b;
	} rows[] = {
		{ "two EC P-256 CAs", "ec:P-256", "ec:P-256" },
		{ "ed25519 key, EC certificate", "ed25519", "ec:P-256" },
		{ "EC key, RSA certificate", "ec:P-384", "rsa:2048" },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *da = th_tempdir(), *db = th_tempdir(), *dc = th_tempdir();
		struct anvil_config *ca_cfg = config_for(da,
		    "[ca]\nkey_type = %s\n", rows[i].type_a);
		struct anvil_config *cb_cfg = config_for(db,
		    "[ca]\nkey_type = %s\n", rows[i].type_b);
		struct anvil_config *cc_cfg = th_config(dc, NULL);
		struct ca *a = load_ok(ca_cfg), *b = load_ok(cb_cfg);
		struct ca *c = NULL;
		char err[1024] = "";
		anvil_err rc;

		copy_file(ca_cfg->key_file, cc_cfg->key_file);
		copy_file(cb_cfg->cert_file, cc_cfg->cert_file);
		rc = ca_load_or_generate(cc_cfg, &c, err, sizeof(err));
		cr_expect_eq(rc, ANVIL_ERR_MISMATCH, "%s: rc %s (%s)",
		    rows[i].desc, anvil_strerror(rc), err);
		cr_expect_null(c);
		cr_expect_neq(err[0], '\0', "%s: no message", rows[i].desc);
		ca_free(c);
		ca_free(a);
		ca_free(b);
		config_free(ca_cfg);
		config_free(cb_cfg);
		config_free(cc_cfg);
		th_rmrf(da);
		th_rmrf(db);
		th_rmrf(dc);
		free(da);
		free(db);
		free(dc);
	}
}

/* A damaged file is an error, never a reason to make a new CA. */
Test(ca, damaged_files_refused_and_left_alone)
{
	static const struct {
		const char *desc;
		const char *key;	/* NULL: the good key */
		const char *cert;	/* NULL: the good cert */
	} rows[] = {
		{ "garbage key", "not a key\n", NULL },
		{ "empty key", "", NULL },
		{ "garbage certificate", NULL, "not a certificate\n" },
		{ "empty certificate", NULL, "" },
		{ "certificate PEM header only", NULL,
		  "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n" },
		{ "key PEM with broken base64", "-----BEGIN PRIVATE KEY-----\n"
		  "!!!!\n-----END PRIVATE KEY-----\n", NULL },
	};
	char *src = th_tempdir();
	struct anvil_config *scfg = th_config(src, NULL);
	struct ca *sca = load_ok(scfg);
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *dir = th_tempdir();
		struct anvil_config *cfg = th_config(dir, NULL);
		struct ca *ca = NULL;
		char err[1024] = "", *kb, *cb, *ka, *cafter;
		size_t lkb, lcb, lka, lca;
		anvil_err rc;

		if (rows[i].key)
			th_write_file(cfg->key_file, rows[i].key,
			    strlen(rows[i].key));
		else
			copy_file(scfg->key_file, cfg->key_file);
		if (rows[i].cert)
			th_write_file(cfg->cert_file, rows[i].cert,
			    strlen(rows[i].cert));
		else
			copy_file(scfg->cert_file, cfg->cert_file);
		kb = th_read_file(cfg->key_file, &lkb);
		cb = th_read_file(cfg->cert_file, &lcb);

		rc = ca_load_or_generate(cfg, &ca, err, sizeof(err));
		cr_expect_neq(rc, ANVIL_OK, "%s: accepted", rows[i].desc);
		cr_expect_neq(rc, ANVIL_ERR_PARTIAL, "%s: called partial",
		    rows[i].desc);
		cr_expect_null(ca);
		cr_expect_neq(err[0], '\0', "%s: no message", rows[i].desc);
		ka = th_read_file(cfg->key_file, &lka);
		cafter = th_read_file(cfg->cert_file, &lca);
		cr_expect(lkb == lka && memcmp(kb, ka, lkb) == 0,
		    "%s: key file changed", rows[i].desc);
		cr_expect(lcb == lca && memcmp(cb, cafter, lcb) == 0,
		    "%s: cert file changed", rows[i].desc);
		free(kb);
		free(cb);
		free(ka);
		free(cafter);
		ca_free(ca);
		config_free(cfg);
		th_rmrf(dir);
		free(dir);
	}
	ca_free(sca);
	config_free(scfg);
	th_rmrf(src);
	free(src);
}

/* ------------------------------------------------------------ concurrency */

/*
 * A worker: this very binary started again with ANVIL_TEST_CA_WORKER set
 * runs this before Criterion's main. It waits until the gate pipe closes,
 * runs ca_load_or_generate on the folder it was given, writes the DER of
 * the CA certificate it ended with, frees everything and exits 0 (non-zero
 * on any failure). Workers are new processes like CGI runs are, and they
 * hold nothing of the test runner, so valgrind sees only their own memory.
 */
__attribute__((constructor)) static void
concurrency_worker(void)
{
	const char *dir = getenv("ANVIL_TEST_CA_WORKER");
	const char *outpath = getenv("ANVIL_TEST_CA_WORKER_OUT");
	const char *gate = getenv("ANVIL_TEST_CA_WORKER_GATE");
	struct anvil_config *cfg = NULL;
	struct ca *ca = NULL;
	gnutls_datum_t d = { NULL, 0 };
	char err[1024] = "", *text = NULL, c;
	FILE *f = NULL;
	int n, code = 1;

	if (dir == NULL)
		return;
	if (outpath == NULL || gate == NULL)
		exit(2);
	while (read(atoi(gate), &c, 1) > 0)
		;			/* EOF: everyone starts */
	n = asprintf(&text, "[server]\nbase_url = https://acme.test/acme\n"
	    "data_dir = %s\n[ca]\nkey_type = rsa:2048\n", dir);
	if (n < 0 || config_parse("worker.conf", text, (size_t)n, &cfg, err,
	    sizeof(err)) != ANVIL_OK)
		code = 3;
	else if (ca_load_or_generate(cfg, &ca, err, sizeof(err)) != ANVIL_OK)
		code = 4;
	else if (gnutls_x509_crt_export2(ca_cert_peek(ca), GNUTLS_X509_FMT_DER,
	    &d) < 0)
		code = 5;
	else if ((f = fopen(outpath, "wb")) == NULL ||
	    fwrite(d.data, 1, d.size, f) != d.size)
		code = 6;
	else
		code = 0;
	if (f != NULL && fclose(f) != 0)
		code = 6;
	if (code != 0)
		fprintf(stderr, "worker %s: step %d: %s\n", outpath, code, err);
	gnutls_free(d.data);
	ca_free(ca);
	config_free(cfg);
	free(text);
	exit(code);
}

/*
 * Several processes start ca_load_or_generate on one empty folder at the
 * same instant (they wait on a pipe the parent closes). RSA keys take long
 * enough to generate that without a lock they would overlap. All must end
 * with the one CA that is on disk.
 */
Test(ca, concurrent_first_start_makes_one_ca, .timeout = 300)
{
	enum { NPROC = 4 };
	char *dir = th_tempdir(), *outdir = th_tempdir();
	struct anvil_config *cfg = th_config(dir, "[ca]\nkey_type = rsa:2048\n");
	pid_t pids[NPROC];
	int gate[2], status, i;
	char path[4096], self[4096], gatefd[16];
	gnutls_x509_crt_t disk, got;
	gnutls_x509_privkey_t key;
	DIR *dh;
	struct dirent *de;
	ssize_t sn;

	sn = readlink("/proc/self/exe", self, sizeof(self) - 1);
	cr_assert(sn > 0, "readlink /proc/self/exe");
	self[sn] = '\0';
	cr_assert_eq(pipe2(gate, O_CLOEXEC), 0);
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		cr_assert(pids[i] >= 0, "fork: %s", strerror(errno));
		if (pids[i] == 0) {
			char *const argv[] = { self, NULL };

			/* The read end survives exec; the write end does not. */
			if (fcntl(gate[0], F_SETFD, 0) != 0)
				_exit(20);
			snprintf(path, sizeof(path), "%s/%d.der", outdir, i);
			snprintf(gatefd, sizeof(gatefd), "%d", gate[0]);
			setenv("ANVIL_TEST_CA_WORKER", dir, 1);
			setenv("ANVIL_TEST_CA_WORKER_OUT", path, 1);
			setenv("ANVIL_TEST_CA_WORKER_GATE", gatefd, 1);
			execv(self, argv);
			_exit(21);
		}
	}
	close(gate[0]);
	close(gate[1]);		/* all start now */
	for (i = 0; i < NPROC; i++) {
		cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "process %d failed (status 0x%x)", i, status);
	}

	disk = crt_from_file(cfg->cert_file);
	key = key_from_file(cfg->key_file);
	cr_assert(th_crt_has_key(disk, key), "cert and key on disk differ");
	for (i = 0; i < NPROC; i++) {
		size_t len;
		char *der;

		snprintf(path, sizeof(path), "%s/%d.der", outdir, i);
		der = th_read_file(path, &len);
		got = th_crt_der((unsigned char *)der, len);
		cr_assert(th_crt_equal(got, disk),
		    "process %d holds a CA other than the one on disk", i);
		gnutls_x509_crt_deinit(got);
		free(der);
	}

	/* No second key or certificate, no temporary file left behind. */
	dh = opendir(dir);
	cr_assert_not_null(dh);
	while ((de = readdir(dh)) != NULL) {
		if (strncmp(de->d_name, "ca.key", 6) == 0)
			cr_expect_str_eq(de->d_name, "ca.key");
		if (strncmp(de->d_name, "ca.pem", 6) == 0)
			cr_expect_str_eq(de->d_name, "ca.pem");
		cr_expect(strstr(de->d_name, "tmp") == NULL &&
		    strstr(de->d_name, "XXXXXX") == NULL,
		    "left behind: %s", de->d_name);
	}
	closedir(dh);

	gnutls_x509_privkey_deinit(key);
	gnutls_x509_crt_deinit(disk);
	config_free(cfg);
	th_rmrf(dir);
	th_rmrf(outdir);
	free(dir);
	free(outdir);
}

/*
 * Each profile changes only lifetime, key usage, EKU and subject CN of the
 * one end-entity base: the built-in three, and a section asking for
 * clientAuth and keyEncipherment.
 */
Test(ca, issue_with_profiles, .timeout = 60)
{
	static const struct {
		const char *profile;
		int cn;			/* subject CN expected */
		int server, client;	/* EKUs expected */
		time_t life;		/* seconds */
		unsigned ku_rsa;	/* key usage on an RSA leaf */
	} rows[] = {
		{ "classic", 1, 1, 0, 90 * 86400, GNUTLS_KEY_DIGITAL_SIGNATURE },
		{ "tlsserver", 0, 1, 0, 90 * 86400, GNUTLS_KEY_DIGITAL_SIGNATURE },
		{ "shortlived", 0, 1, 0, 7 * 86400, GNUTLS_KEY_DIGITAL_SIGNATURE },
		{ "both", 1, 1, 1, 160 * 3600, GNUTLS_KEY_DIGITAL_SIGNATURE |
		  GNUTLS_KEY_KEY_ENCIPHERMENT },
		{ "client", 0, 0, 1, 3600, GNUTLS_KEY_DIGITAL_SIGNATURE },
	};
	char *dir = th_tempdir();
	struct anvil_config *builtin = th_config(dir, NULL);
	struct anvil_config *own = th_config(dir, "[profile both]\n"
	    "validity = 160h\nextended_key_usage = serverAuth clientAuth\n"
	    "key_usage = digitalSignature, keyEncipherment\n"
	    "[profile client]\nvalidity = 1h\nsubject_cn = no\n"
	    "extended_key_usage = clientAuth\n");
	struct ca *ca = load_ok(builtin);
	gnutls_x509_privkey_t rsa = th_key(GNUTLS_PK_RSA, 2048);
	const struct ca_ident ids[] = { { CA_IDENT_DNS, "p.example.net" } };
	const struct th_csr c = { .dns = { "p.example.net" } };
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct config_profile *prof = config_profile_find(
		    builtin, rows[i].profile);
		struct anvil_config *cfg = builtin;
		struct ca_issue_params p;
		struct ca_issued *is;
		gnutls_x509_crt_t leaf;
		char oid[128], cn[128];
		size_t sz;
		unsigned ku = 0, crit = 0, k;
		int server = 0, client = 0, ret;

		if (prof == NULL) {
			prof = config_profile_find(own, rows[i].profile);
			cfg = own;
		}
		cr_assert_not_null(prof, "%s", rows[i].profile);
		ca_issue_params_from_profile(cfg, prof, &p);
		p.now = time(NULL) - 60;
		is = issue(ca, rsa, &c, ids, 1, &p);
		cr_expect_eq(is->not_after - is->not_before, rows[i].life,
		    "%s: lifetime", rows[i].profile);
		leaf = th_crt_der(is->der, is->der_len);
		for (k = 0;; k++) {
			sz = sizeof(oid);
			ret = gnutls_x509_crt_get_key_purpose_oid(leaf, k, oid,
			    &sz, NULL);
			if (ret < 0)
				break;
			server += strcmp(oid, GNUTLS_KP_TLS_WWW_SERVER) == 0;
			client += strcmp(oid, GNUTLS_KP_TLS_WWW_CLIENT) == 0;
		}
		cr_expect_eq(k, (unsigned)(rows[i].server + rows[i].client),
		    "%s: EKU count", rows[i].profile);
		cr_expect_eq(server, rows[i].server, "%s: serverAuth",
		    rows[i].profile);
		cr_expect_eq(client, rows[i].client, "%s: clientAuth",
		    rows[i].profile);
		sz = sizeof(cn);
		ret = gnutls_x509_crt_get_dn_by_oid(leaf,
		    GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &sz);
		if (rows[i].cn)
			cr_expect(ret == 0 && strcmp(cn, "p.example.net") == 0,
			    "%s: CN", rows[i].profile);
		else
			cr_expect_lt(ret, 0, "%s: CN present", rows[i].profile);
		/* RFC 5280 4.2.1.6: SAN critical exactly when no subject. */
		{
			gnutls_datum_t ext = { NULL, 0 };
			cr_expect_eq(gnutls_x509_crt_get_extension_by_oid2(leaf,
			    GNUTLS_X509EXT_OID_SAN, 0, &ext, &crit), 0);
			gnutls_free(ext.data);
		}
		cr_expect_eq(crit, rows[i].cn ? 0u : 1u, "%s: SAN criticality",
		    rows[i].profile);
		cr_expect_geq(gnutls_x509_crt_get_key_usage(leaf, &ku, NULL), 0);
		cr_expect_eq(ku, rows[i].ku_rsa, "%s: key usage %x",
		    rows[i].profile, ku);
		gnutls_x509_crt_deinit(leaf);
		ca_issued_free(is);
	}
	gnutls_x509_privkey_deinit(rsa);
	ca_free(ca);
	config_free(own);
	config_free(builtin);
	th_rmrf(dir);
	free(dir);
}

/* The one CRL distribution point URI of leaf into buf, or "" for none. */
static void
crldp_of(const struct ca_issued *is, char *buf, size_t len)
{
	gnutls_x509_crt_t leaf;
	gnutls_datum_t d = { is->der, (unsigned)is->der_len };
	unsigned reasons = 0, crit = 0;
	char second[512];
	size_t sz = len - 1;
	int ret;

	OK(gnutls_x509_crt_init(&leaf));
	OK(gnutls_x509_crt_import(leaf, &d, GNUTLS_X509_FMT_DER));
	ret = gnutls_x509_crt_get_crl_dist_points(leaf, 0, buf, &sz, &reasons,
	    &crit);
	if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		sz = 0;
	else
		cr_assert_eq(ret, GNUTLS_SAN_URI, "CRL DP: %d", ret);
	buf[sz] = '\0';
	sz = sizeof(second);
	cr_assert_eq(gnutls_x509_crt_get_crl_dist_points(leaf, 1, second, &sz,
	    &reasons, &crit), GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE,
	    "more than one CRL distribution point");
	gnutls_x509_crt_deinit(leaf);
}

/*
 * Issue 20 part 2: with [crl] shards = 4 a certificate's CRL
 * distribution point is its shard's URL beside crl_url (anvil-s<k>.crl),
 * k its serial modulo 4 plus one (256 is 0 modulo 4: the last byte
 * decides); shards = 1 keeps crl_url itself; no crl_url, no CRLDP.
 */
Test(ca, crldp_names_the_serials_shard)
{
	char *dir = th_tempdir();
	struct anvil_config *cfg = th_config(dir, NULL);
	struct ca *ca = load_ok(cfg);
	gnutls_x509_privkey_t ec = th_key(GNUTLS_PK_ECDSA, TH_P256);
	const struct ca_ident ids[] = { { CA_IDENT_DNS, "s.example.net" } };
	const struct th_csr c = { .dns = { "s.example.net" } };
	struct ca_issue_params p;
	struct ca_issued *is;
	char dp[512], want[512];
	unsigned seen = 0, k, i;

	memset(&p, 0, sizeof(p));
	p.validity_days = 5;
	p.now = time(NULL) - 10;
	p.crl_url = "http://ca.test/c/anvil.crl";
	p.crl_shards = 4;
	for (i = 0; i < 16; i++) {
		is = issue(ca, ec, &c, ids, 1, &p);
		k = is->serial[sizeof(is->serial) - 1] % 4 + 1;
		cr_assert_eq(is->crl_shard, k, "serial %s: shard %u, want %u",
		    is->serial_hex, is->crl_shard, k);
		snprintf(want, sizeof(want), "http://ca.test/c/anvil-s%u.crl",
		    k);
		crldp_of(is, dp, sizeof(dp));
		cr_assert_str_eq(dp, want, "serial %s", is->serial_hex);
		seen |= 1u << k;
		ca_issued_free(is);
	}
	cr_expect(seen != (1u << k), "16 serials all in shard %u", k);

	p.crl_shards = 1;
	is = issue(ca, ec, &c, ids, 1, &p);
	cr_assert_eq(is->crl_shard, 0);
	crldp_of(is, dp, sizeof(dp));
	cr_assert_str_eq(dp, "http://ca.test/c/anvil.crl", "unsharded");
	ca_issued_free(is);

	p.crl_shards = 4;
	p.crl_url = "";
	is = issue(ca, ec, &c, ids, 1, &p);
	cr_assert_eq(is->crl_shard, 0);
	crldp_of(is, dp, sizeof(dp));
	cr_assert_str_eq(dp, "", "no crl_url");
	ca_issued_free(is);

	gnutls_x509_privkey_deinit(ec);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}
