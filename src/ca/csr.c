/*
 * csr.c - the ten CSR checks: one small function each, run in order from
 * one table; the first that refuses names itself in the error ("CSR check
 * 7 (basic-constraints): ...").
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <gnutls/abstract.h>
#include <libtasn1.h>

#include "ca/ca_int.h"
#include "core/log.h"

#define CSR_MAX_DER (64 * 1024)
#define CSR_MAX_SANS 100

void
ca_csr_free(struct ca_csr *csr)
{
	if (csr == NULL)
		return;
	if (csr->crq != NULL)
		gnutls_x509_crq_deinit(csr->crq);
	if (csr->pub != NULL)
		gnutls_pubkey_deinit(csr->pub);
	free(csr);
}

/* One name from the CSR's subjectAltName. */
struct san {
	enum ca_ident_type type;
	char dns[256];			/* lower case */
	unsigned char ip[16];
	size_t iplen;
	int matched;
};

/* 1 if s is a well-formed DNS name (LDH labels, optional "*." first). */
static int
dns_name_ok(const char *s, size_t len)
{
	size_t i, lab = 0;

	if (len == 0 || len > 253)
		return 0;
	if (len > 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		len -= 2;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (lab == 0 || s[i - 1] == '-')
				return 0;
			lab = 0;
			continue;
		}
		if (!(isalnum(c) || c == '-' || c == '_'))
			return 0;
		if (lab == 0 && c == '-')
			return 0;
		if (++lab > 63)
			return 0;
	}
	return lab > 0 && s[len - 1] != '-';
}

/* Parses an identifier value into bytes for type IP; 0 on failure. */
static size_t
ip_parse(const char *s, unsigned char *out)
{
	if (inet_pton(AF_INET, s, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, out) == 1)
		return 16;
	return 0;
}

static int
ident_matches_san(const struct ca_ident *id, const struct san *s)
{
	unsigned char ip[16];
	size_t iplen;

	if (id->type != s->type)
		return 0;
	if (id->type == CA_IDENT_DNS)
		return strcasecmp(id->value, s->dns) == 0;
	iplen = ip_parse(id->value, ip);
	return iplen != 0 && iplen == s->iplen && memcmp(ip, s->ip, iplen) == 0;
}

/* Check 1's exactness: der is one DER SEQUENCE and nothing after it. */
static int
der_exact(const unsigned char *der, size_t len)
{
	int lenlen = 0;
	long l;

	if (len < 2 || der[0] != 0x30)
		return 0;
	l = asn1_get_length_der(der + 1, (int)len - 1, &lenlen);
	if (l < 0 || lenlen <= 0)
		return 0;
	return (size_t)l + 1 + (size_t)lenlen == len;
}

/*
 * A check failed inside GnuTLS, most likely on the client's bytes. err
 * reaches the client as the badCSR detail (src/acme/finalize.c), so
 * GnuTLS's own wording goes to the log under the failing call's name and
 * err says in our words which check failed (src/core/error.h).
 */
static void
csr_lib_log(const char *call, int ret)
{
	log_info("CSR: %s: %s", call, gnutls_strerror(ret));
}

/* The DER SPKI of pub in a new datum (gnutls_free). */
static int
spki_der(gnutls_pubkey_t pub, gnutls_datum_t *d)
{
	return gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, d);
}

/*
 * What the checks share: the request and the order going in, what the
 * earlier checks found (the parsed request, its key, its names), and the
 * detail of the check that refused.
 */
struct csr_run {
	const unsigned char *der;
	size_t len;
	const struct ca_ident *ids;
	size_t nids;
	const unsigned char *account_spki;	/* NULL: check 5 skipped */
	size_t account_spki_len;
	struct ca_csr *csr;		/* filled by checks 1 and 4 */
	struct san *sans;		/* CSR_MAX_SANS, filled by check 8 */
	size_t nsans;
	char detail[384];		/* why the refusing check refused */
	char *err;			/* errors that are not the client's */
	size_t errlen;
};

static anvil_err
refuse(struct csr_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A check refuses the request: its detail goes after "CSR check N (name): "
 * in ca_csr_check, which knows N and the name from the table.
 */
static anvil_err
refuse(struct csr_run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	return ANVIL_ERR_BADCSR;
}

/* 1. One PKCS#10 request, exactly. */
static anvil_err
check_parse(struct csr_run *r)
{
	gnutls_datum_t d;
	int ret;

	if (r->len > CSR_MAX_DER)
		return refuse(r, "longer than %d bytes", CSR_MAX_DER);
	if (!der_exact(r->der, r->len))
		return refuse(r, "not one DER SEQUENCE (bad length or "
		    "trailing bytes)");
	d.data = (unsigned char *)r->der;
	d.size = (unsigned)r->len;
	if ((ret = gnutls_x509_crq_init(&r->csr->crq)) < 0) {
		log_warn("CSR: gnutls_x509_crq_init: %s", gnutls_strerror(ret));
		return errf(r->err, r->errlen, ANVIL_ERR_CRYPTO, "cannot set up "
		    "a CSR reader");
	}
	if ((ret = gnutls_x509_crq_import(r->csr->crq, &d,
	    GNUTLS_X509_FMT_DER)) < 0) {
		csr_lib_log("gnutls_x509_crq_import", ret);
		return refuse(r, "not a PKCS#10 request");
	}
	return ANVIL_OK;
}

/* 2. Version v1 (the only one defined). */
static anvil_err
check_version(struct csr_run *r)
{
	int ret;

	if ((ret = gnutls_x509_crq_get_version(r->csr->crq)) != 1)
		return refuse(r, "version must be 1 (v1), got %d", ret);
	return ANVIL_OK;
}

/* 3. The self-signature. */
static anvil_err
check_signature(struct csr_run *r)
{
	int ret;

	if ((ret = gnutls_x509_crq_verify(r->csr->crq, 0)) < 0) {
		csr_lib_log("gnutls_x509_crq_verify", ret);
		return refuse(r, "self-signature does not verify");
	}
	return ANVIL_OK;
}

/* Check 4 for an EC key: only the three NIST curves we issue for. */
static anvil_err
check_key_curve(struct csr_run *r)
{
	gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
	gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };
	int ret;

	ret = gnutls_pubkey_export_ecc_raw(r->csr->pub, &curve, &x, &y);
	gnutls_free(x.data);
	gnutls_free(y.data);
	if (ret < 0 || (curve != GNUTLS_ECC_CURVE_SECP256R1 &&
	    curve != GNUTLS_ECC_CURVE_SECP384R1 &&
	    curve != GNUTLS_ECC_CURVE_SECP521R1))
		return refuse(r, "EC key on curve %s; P-256, P-384 and P-521 "
		    "accepted", ret < 0 ? "?" : gnutls_ecc_curve_get_name(curve));
	return ANVIL_OK;
}

/* 4. A key we issue for. */
static anvil_err
check_key(struct csr_run *r)
{
	struct ca_csr *csr = r->csr;
	unsigned bits = 0;
	int ret;

	if ((ret = gnutls_pubkey_init(&csr->pub)) < 0) {
		csr->pub = NULL;
		log_warn("CSR: gnutls_pubkey_init: %s", gnutls_strerror(ret));
		return errf(r->err, r->errlen, ANVIL_ERR_CRYPTO, "cannot set up "
		    "a public key");
	}
	if ((ret = gnutls_pubkey_import_x509_crq(csr->pub, csr->crq, 0)) < 0) {
		csr_lib_log("gnutls_pubkey_import_x509_crq", ret);
		return refuse(r, "public key unreadable");
	}
	ret = gnutls_pubkey_get_pk_algorithm(csr->pub, &bits);
	csr->pk = ret < 0 ? GNUTLS_PK_UNKNOWN : (gnutls_pk_algorithm_t)ret;
	switch (csr->pk) {
	case GNUTLS_PK_RSA:
		if (bits < 2048 || bits > 8192)
			return refuse(r, "RSA key of %u bits; 2048 to 8192 "
			    "accepted", bits);
		return ANVIL_OK;
	case GNUTLS_PK_ECDSA:
		return check_key_curve(r);
	case GNUTLS_PK_EDDSA_ED25519:
	case GNUTLS_PK_EDDSA_ED448:
		return ANVIL_OK;
	default:
		return refuse(r, "key algorithm %s not accepted (RSA, ECDSA "
		    "P-256/384/521, Ed25519, Ed448)",
		    gnutls_pk_get_name(csr->pk) ? gnutls_pk_get_name(csr->pk) :
		    "unknown");
	}
}

/* 5. Not the account key (skipped when the caller has none to compare). */
static anvil_err
check_account_key(struct csr_run *r)
{
	gnutls_datum_t mine = { NULL, 0 }, theirs = { NULL, 0 };
	gnutls_pubkey_t acct = NULL;
	gnutls_datum_t ad;
	int same = 0;

	if (r->account_spki == NULL || r->account_spki_len == 0)
		return ANVIL_OK;
	ad.data = (unsigned char *)r->account_spki;
	ad.size = (unsigned)r->account_spki_len;
	/* Normalise both through GnuTLS before comparing. */
	if (gnutls_pubkey_init(&acct) >= 0 &&
	    gnutls_pubkey_import(acct, &ad, GNUTLS_X509_FMT_DER) >= 0 &&
	    spki_der(acct, &theirs) >= 0 && spki_der(r->csr->pub, &mine) >= 0)
		same = mine.size == theirs.size &&
		    memcmp(mine.data, theirs.data, mine.size) == 0;
	gnutls_free(mine.data);
	gnutls_free(theirs.data);
	if (acct != NULL)
		gnutls_pubkey_deinit(acct);
	if (same)
		return refuse(r, "the CSR key is the account key; use a "
		    "separate key for the certificate");
	return ANVIL_OK;
}

/* 6. The extensionRequest attribute reads cleanly, no duplicates. */
static anvil_err
check_extensions(struct csr_run *r)
{
	char oids[64][128];
	unsigned n = 0, crit = 0;
	size_t i, j;
	int ret;

	for (i = 0;; i++) {
		char oid[128];
		size_t osz = sizeof(oid);

		ret = gnutls_x509_crq_get_extension_info(r->csr->crq,
		    (unsigned)i, oid, &osz, &crit);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return ANVIL_OK;
		if (ret < 0)
			csr_lib_log("gnutls_x509_crq_get_extension_info", ret);
		if (ret < 0 || n == 64)
			return refuse(r, "extension request unreadable%s",
			    ret < 0 ? "" : " (too many extensions)");
		for (j = 0; j < n; j++)
			if (strcmp(oids[j], oid) == 0)
				return refuse(r, "extension %s requested twice",
				    oid);
		snprintf(oids[n++], sizeof(oids[0]), "%s", oid);
	}
}

/* 7. Never a CA. */
static anvil_err
check_basic_constraints(struct csr_run *r)
{
	unsigned crit = 0, ca_flag = 0;
	int ret, pathlen = 0;

	ret = gnutls_x509_crq_get_basic_constraints(r->csr->crq, &crit,
	    &ca_flag, &pathlen);
	if (ret >= 0 && ca_flag)
		return refuse(r, "basicConstraints cA=TRUE requested; this CA "
		    "issues end-entity certificates only");
	if (ret < 0 && ret != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
		csr_lib_log("gnutls_x509_crq_get_basic_constraints", ret);
		return refuse(r, "basicConstraints unreadable");
	}
	return ANVIL_OK;
}

/*
 * Check 8 for SAN entry i of GnuTLS type type, sz bytes in buf: a
 * well-formed dNSName or a 4- or 16-byte iPAddress, kept in s.
 */
static anvil_err
keep_san(struct csr_run *r, size_t i, int type, const unsigned char *buf,
    size_t sz, struct san *s)
{
	size_t j;

	if (type == GNUTLS_SAN_DNSNAME) {
		if (!dns_name_ok((const char *)buf, sz) ||
		    memchr(buf, '\0', sz) != NULL)
			return refuse(r, "dNSName entry %zu is not a "
			    "well-formed name", i);
		s->type = CA_IDENT_DNS;
		for (j = 0; j < sz; j++)
			s->dns[j] = (char)tolower(buf[j]);
		s->dns[sz] = '\0';
		return ANVIL_OK;
	}
	if (type == GNUTLS_SAN_IPADDRESS) {
		if (sz != 4 && sz != 16)
			return refuse(r, "iPAddress entry %zu has %zu bytes", i,
			    sz);
		s->type = CA_IDENT_IP;
		memcpy(s->ip, buf, sz);
		s->iplen = sz;
		return ANVIL_OK;
	}
	return refuse(r, "subjectAltName entry %zu is of a type other than "
	    "dNSName or iPAddress", i);
}

/* 8. subjectAltName: present, DNS names and IP addresses only. */
static anvil_err
check_san(struct csr_run *r)
{
	anvil_err rc;
	size_t i;
	int ret;

	for (i = 0;; i++) {
		unsigned char buf[512];
		size_t sz = sizeof(buf) - 1;
		unsigned type = 0, crit = 0;

		ret = gnutls_x509_crq_get_subject_alt_name(r->csr->crq,
		    (unsigned)i, buf, &sz, &type, &crit);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (ret < 0) {
			csr_lib_log("gnutls_x509_crq_get_subject_alt_name",
			    ret);
			return refuse(r, "subjectAltName unreadable");
		}
		if (r->nsans == CSR_MAX_SANS)
			return refuse(r, "more than %d names", CSR_MAX_SANS);
		if ((rc = keep_san(r, i, ret, buf, sz, &r->sans[r->nsans])) !=
		    ANVIL_OK)
			return rc;
		r->nsans++;
	}
	if (r->nsans == 0)
		return refuse(r, "no subjectAltName: the names must be in the "
		    "subjectAltName extension");
	return ANVIL_OK;
}

/* 1 if one of the order's identifiers matches s. */
static int
in_order(const struct csr_run *r, const struct san *s)
{
	size_t j;

	for (j = 0; j < r->nids; j++)
		if (ident_matches_san(&r->ids[j], s))
			return 1;
	return 0;
}

/*
 * Check 9 for the subject: every commonName is one of the order's
 * identifiers (check 10 then makes sure it is in the SAN as well).
 */
static anvil_err
check_cn_in_order(struct csr_run *r)
{
	size_t i;
	int ret;

	for (i = 0;; i++) {
		char cn[256];
		size_t sz = sizeof(cn);
		struct san cs;

		ret = gnutls_x509_crq_get_dn_by_oid(r->csr->crq,
		    GNUTLS_OID_X520_COMMON_NAME, (unsigned)i, 0, cn, &sz);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return ANVIL_OK;
		if (ret < 0 || sz >= sizeof(cn))
			return refuse(r, "subject commonName unreadable or too "
			    "long");
		cn[sz] = '\0';
		memset(&cs, 0, sizeof(cs));
		cs.iplen = ip_parse(cn, cs.ip);
		cs.type = cs.iplen ? CA_IDENT_IP : CA_IDENT_DNS;
		snprintf(cs.dns, sizeof(cs.dns), "%s", cn);
		if (!in_order(r, &cs))
			return refuse(r, "subject commonName \"%.64s\" is not "
			    "an identifier of the order", cn);
	}
}

/* 9. Every SAN, and the CN if any, is one of the order's. */
static anvil_err
check_san_in_order(struct csr_run *r)
{
	const struct san *s;
	size_t i;

	for (i = 0; i < r->nsans; i++) {
		char ipt[INET6_ADDRSTRLEN] = "?";

		s = &r->sans[i];
		if (in_order(r, s))
			continue;
		if (s->type == CA_IDENT_IP)
			inet_ntop(s->iplen == 4 ? AF_INET : AF_INET6, s->ip, ipt,
			    sizeof(ipt));
		return refuse(r, "%s %s is not an identifier of the order",
		    s->type == CA_IDENT_DNS ? "dNSName" : "iPAddress",
		    s->type == CA_IDENT_DNS ? s->dns : ipt);
	}
	return check_cn_in_order(r);
}

/* 10. Every identifier of the order is in the SAN. */
static anvil_err
check_order_in_san(struct csr_run *r)
{
	size_t i, j;

	for (j = 0; j < r->nids; j++) {
		for (i = 0; i < r->nsans; i++)
			if (ident_matches_san(&r->ids[j], &r->sans[i]))
				break;
		if (i == r->nsans)
			return refuse(r, "identifier %s:%s of the order is "
			    "missing from the subjectAltName",
			    r->ids[j].type == CA_IDENT_DNS ? "dns" : "ip",
			    r->ids[j].value);
	}
	return ANVIL_OK;
}

/*
 * The ten checks in the order they run (src/ca/ca.h numbers them). Each
 * may rely on what the ones before it found: the parsed request from 1,
 * the key from 4, the names from 8.
 */
static const struct csr_check {
	enum ca_csr_check id;
	const char *name;		/* in "CSR check N (name): " */
	anvil_err (*run)(struct csr_run *);
} checks[] = {
	{ CA_CSR_PARSE, "parse", check_parse },
	{ CA_CSR_VERSION, "version", check_version },
	{ CA_CSR_SIGNATURE, "signature", check_signature },
	{ CA_CSR_KEY, "key", check_key },
	{ CA_CSR_ACCOUNT_KEY, "account-key", check_account_key },
	{ CA_CSR_EXTENSIONS, "extensions", check_extensions },
	{ CA_CSR_BASIC_CONSTRAINTS, "basic-constraints",
	  check_basic_constraints },
	{ CA_CSR_SAN, "subject-alt-name", check_san },
	{ CA_CSR_SAN_IN_ORDER, "names-in-order", check_san_in_order },
	{ CA_CSR_ORDER_IN_SAN, "order-in-names", check_order_in_san },
};

const char *
ca_csr_check_name(enum ca_csr_check c)
{
	size_t i;

	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if (checks[i].id == c)
			return checks[i].name;
	return "unknown";
}

anvil_err
ca_csr_check(const unsigned char *der, size_t len, const struct ca_ident *ids,
    size_t nids, const unsigned char *account_spki, size_t account_spki_len,
    struct ca_csr **out, enum ca_csr_check *failed, char *err, size_t errlen)
{
	struct csr_run r;
	const struct csr_check *c;
	size_t i;
	anvil_err rc;

	*out = NULL;
	memset(&r, 0, sizeof(r));
	r.der = der;
	r.len = len;
	r.ids = ids;
	r.nids = nids;
	r.account_spki = account_spki;
	r.account_spki_len = account_spki_len;
	r.err = err;
	r.errlen = errlen;
	if ((r.csr = calloc(1, sizeof(*r.csr))) == NULL ||
	    (r.sans = calloc(CSR_MAX_SANS, sizeof(*r.sans))) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		c = &checks[i];
		if ((rc = c->run(&r)) == ANVIL_ERR_BADCSR) {
			if (failed != NULL)
				*failed = c->id;
			rc = errf(err, errlen, ANVIL_ERR_BADCSR,
			    "CSR check %d (%s): %s", (int)c->id, c->name,
			    r.detail);
		}
		if (rc != ANVIL_OK)
			goto out;
	}

	*out = r.csr;
	r.csr = NULL;
	rc = ANVIL_OK;
out:
	free(r.sans);
	ca_csr_free(r.csr);
	return rc;
}
