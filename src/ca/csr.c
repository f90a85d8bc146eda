/*
 * csr.c - the ten CSR checks, run in order; the first that fails names
 * itself in the error ("CSR check 7 (basic-constraints): ...").
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

static const char *const check_names[] = {
	[CA_CSR_PARSE] = "parse",
	[CA_CSR_VERSION] = "version",
	[CA_CSR_SIGNATURE] = "signature",
	[CA_CSR_KEY] = "key",
	[CA_CSR_ACCOUNT_KEY] = "account-key",
	[CA_CSR_EXTENSIONS] = "extensions",
	[CA_CSR_BASIC_CONSTRAINTS] = "basic-constraints",
	[CA_CSR_SAN] = "subject-alt-name",
	[CA_CSR_SAN_IN_ORDER] = "names-in-order",
	[CA_CSR_ORDER_IN_SAN] = "order-in-names",
};

const char *
ca_csr_check_name(enum ca_csr_check c)
{
	if (c < CA_CSR_PARSE || c > CA_CSR_ORDER_IN_SAN)
		return "unknown";
	return check_names[c];
}

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

static anvil_err
fail(enum ca_csr_check c, enum ca_csr_check *failed, char *err, size_t errlen,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static anvil_err
fail(enum ca_csr_check c, enum ca_csr_check *failed, char *err, size_t errlen,
    const char *fmt, ...)
{
	char detail[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (failed != NULL)
		*failed = c;
	return errf(err, errlen, ANVIL_ERR_BADCSR, "CSR check %d (%s): %s",
	    (int)c, check_names[c], detail);
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

anvil_err
ca_csr_check(const unsigned char *der, size_t len, const struct ca_ident *ids,
    size_t nids, const unsigned char *account_spki, size_t account_spki_len,
    struct ca_csr **out, enum ca_csr_check *failed, char *err, size_t errlen)
{
	struct ca_csr *csr = NULL;
	struct san *sans = NULL;
	size_t nsans = 0, i, j;
	gnutls_datum_t d;
	unsigned bits = 0, crit = 0, ca_flag = 0;
	int ret, pathlen = 0;
	anvil_err rc;
	enum ca_csr_check c;

	*out = NULL;
	if ((csr = calloc(1, sizeof(*csr))) == NULL ||
	    (sans = calloc(CSR_MAX_SANS, sizeof(*sans))) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}

	/* 1. One PKCS#10 request, exactly. */
	c = CA_CSR_PARSE;
	if (len > CSR_MAX_DER) {
		rc = fail(c, failed, err, errlen, "longer than %d bytes",
		    CSR_MAX_DER);
		goto out;
	}
	if (!der_exact(der, len)) {
		rc = fail(c, failed, err, errlen, "not one DER SEQUENCE (bad "
		    "length or trailing bytes)");
		goto out;
	}
	d.data = (unsigned char *)der;
	d.size = (unsigned)len;
	if ((ret = gnutls_x509_crq_init(&csr->crq)) < 0) {
		log_warn("CSR: gnutls_x509_crq_init: %s", gnutls_strerror(ret));
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "cannot set up a CSR "
		    "reader");
		goto out;
	}
	if ((ret = gnutls_x509_crq_import(csr->crq, &d, GNUTLS_X509_FMT_DER)) <
	    0) {
		csr_lib_log("gnutls_x509_crq_import", ret);
		rc = fail(c, failed, err, errlen, "not a PKCS#10 request");
		goto out;
	}

	/* 2. Version v1 (the only one defined). */
	c = CA_CSR_VERSION;
	if ((ret = gnutls_x509_crq_get_version(csr->crq)) != 1) {
		rc = fail(c, failed, err, errlen, "version must be 1 (v1), "
		    "got %d", ret);
		goto out;
	}

	/* 3. The self-signature. */
	c = CA_CSR_SIGNATURE;
	if ((ret = gnutls_x509_crq_verify(csr->crq, 0)) < 0) {
		csr_lib_log("gnutls_x509_crq_verify", ret);
		rc = fail(c, failed, err, errlen, "self-signature does not "
		    "verify");
		goto out;
	}

	/* 4. A key we issue for. */
	c = CA_CSR_KEY;
	if ((ret = gnutls_pubkey_init(&csr->pub)) < 0) {
		csr->pub = NULL;
		log_warn("CSR: gnutls_pubkey_init: %s", gnutls_strerror(ret));
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "cannot set up a "
		    "public key");
		goto out;
	}
	if ((ret = gnutls_pubkey_import_x509_crq(csr->pub, csr->crq, 0)) < 0) {
		csr_lib_log("gnutls_pubkey_import_x509_crq", ret);
		rc = fail(c, failed, err, errlen, "public key unreadable");
		goto out;
	}
	ret = gnutls_pubkey_get_pk_algorithm(csr->pub, &bits);
	csr->pk = ret < 0 ? GNUTLS_PK_UNKNOWN : (gnutls_pk_algorithm_t)ret;
	switch (csr->pk) {
	case GNUTLS_PK_RSA:
		if (bits < 2048 || bits > 8192) {
			rc = fail(c, failed, err, errlen, "RSA key of %u bits; "
			    "2048 to 8192 accepted", bits);
			goto out;
		}
		break;
	case GNUTLS_PK_ECDSA: {
		gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
		gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };
		ret = gnutls_pubkey_export_ecc_raw(csr->pub, &curve, &x, &y);
		gnutls_free(x.data);
		gnutls_free(y.data);
		if (ret < 0 || (curve != GNUTLS_ECC_CURVE_SECP256R1 &&
		    curve != GNUTLS_ECC_CURVE_SECP384R1 &&
		    curve != GNUTLS_ECC_CURVE_SECP521R1)) {
			rc = fail(c, failed, err, errlen, "EC key on curve %s; "
			    "P-256, P-384 and P-521 accepted",
			    ret < 0 ? "?" : gnutls_ecc_curve_get_name(curve));
			goto out;
		}
		break;
	}
	case GNUTLS_PK_EDDSA_ED25519:
	case GNUTLS_PK_EDDSA_ED448:
		break;
	default:
		rc = fail(c, failed, err, errlen, "key algorithm %s not "
		    "accepted (RSA, ECDSA P-256/384/521, Ed25519, Ed448)",
		    gnutls_pk_get_name(csr->pk) ? gnutls_pk_get_name(csr->pk) :
		    "unknown");
		goto out;
	}

	/* 5. Not the account key. */
	c = CA_CSR_ACCOUNT_KEY;
	if (account_spki != NULL && account_spki_len > 0) {
		gnutls_datum_t mine = { NULL, 0 }, theirs = { NULL, 0 };
		gnutls_pubkey_t acct = NULL;
		gnutls_datum_t ad = { (unsigned char *)account_spki,
			(unsigned)account_spki_len };
		int same = 0;

		/* Normalise both through GnuTLS before comparing. */
		if (gnutls_pubkey_init(&acct) >= 0 &&
		    gnutls_pubkey_import(acct, &ad, GNUTLS_X509_FMT_DER) >= 0 &&
		    spki_der(acct, &theirs) >= 0 && spki_der(csr->pub, &mine) >= 0)
			same = mine.size == theirs.size &&
			    memcmp(mine.data, theirs.data, mine.size) == 0;
		gnutls_free(mine.data);
		gnutls_free(theirs.data);
		if (acct != NULL)
			gnutls_pubkey_deinit(acct);
		if (same) {
			rc = fail(c, failed, err, errlen, "the CSR key is the "
			    "account key; use a separate key for the "
			    "certificate");
			goto out;
		}
	}

	/* 6. The extensionRequest attribute reads cleanly, no duplicates. */
	c = CA_CSR_EXTENSIONS;
	{
		char oids[64][128];
		unsigned n = 0;

		for (i = 0;; i++) {
			char oid[128];
			size_t osz = sizeof(oid);
			ret = gnutls_x509_crq_get_extension_info(csr->crq,
			    (unsigned)i, oid, &osz, &crit);
			if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
				break;
			if (ret < 0)
				csr_lib_log(
				    "gnutls_x509_crq_get_extension_info", ret);
			if (ret < 0 || n == 64) {
				rc = fail(c, failed, err, errlen, "extension "
				    "request unreadable%s", ret < 0 ? "" :
				    " (too many extensions)");
				goto out;
			}
			for (j = 0; j < n; j++)
				if (strcmp(oids[j], oid) == 0) {
					rc = fail(c, failed, err, errlen,
					    "extension %s requested twice",
					    oid);
					goto out;
				}
			snprintf(oids[n++], sizeof(oids[0]), "%s", oid);
		}
	}

	/* 7. Never a CA. */
	c = CA_CSR_BASIC_CONSTRAINTS;
	ret = gnutls_x509_crq_get_basic_constraints(csr->crq, &crit, &ca_flag,
	    &pathlen);
	if (ret >= 0 && ca_flag) {
		rc = fail(c, failed, err, errlen, "basicConstraints cA=TRUE "
		    "requested; this CA issues end-entity certificates only");
		goto out;
	}
	if (ret < 0 && ret != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
		csr_lib_log("gnutls_x509_crq_get_basic_constraints", ret);
		rc = fail(c, failed, err, errlen, "basicConstraints "
		    "unreadable");
		goto out;
	}

	/* 8. subjectAltName: present, DNS names and IP addresses only. */
	c = CA_CSR_SAN;
	for (i = 0;; i++) {
		unsigned char buf[512];
		size_t sz = sizeof(buf) - 1;
		unsigned type = 0;

		ret = gnutls_x509_crq_get_subject_alt_name(csr->crq,
		    (unsigned)i, buf, &sz, &type, &crit);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (ret < 0) {
			csr_lib_log("gnutls_x509_crq_get_subject_alt_name",
			    ret);
			rc = fail(c, failed, err, errlen, "subjectAltName "
			    "unreadable");
			goto out;
		}
		if (nsans == CSR_MAX_SANS) {
			rc = fail(c, failed, err, errlen, "more than %d names",
			    CSR_MAX_SANS);
			goto out;
		}
		if (ret == GNUTLS_SAN_DNSNAME) {
			if (!dns_name_ok((char *)buf, sz) ||
			    memchr(buf, '\0', sz) != NULL) {
				rc = fail(c, failed, err, errlen, "dNSName "
				    "entry %zu is not a well-formed name", i);
				goto out;
			}
			sans[nsans].type = CA_IDENT_DNS;
			for (j = 0; j < sz; j++)
				sans[nsans].dns[j] =
				    (char)tolower((unsigned char)buf[j]);
			sans[nsans].dns[sz] = '\0';
		} else if (ret == GNUTLS_SAN_IPADDRESS) {
			if (sz != 4 && sz != 16) {
				rc = fail(c, failed, err, errlen, "iPAddress "
				    "entry %zu has %zu bytes", i, sz);
				goto out;
			}
			sans[nsans].type = CA_IDENT_IP;
			memcpy(sans[nsans].ip, buf, sz);
			sans[nsans].iplen = sz;
		} else {
			rc = fail(c, failed, err, errlen, "subjectAltName entry "
			    "%zu is of a type other than dNSName or iPAddress",
			    i);
			goto out;
		}
		nsans++;
	}
	if (nsans == 0) {
		rc = fail(c, failed, err, errlen, "no subjectAltName: the names "
		    "must be in the subjectAltName extension");
		goto out;
	}

	/* 9. Every SAN, and the CN if any, is one of the order's. */
	c = CA_CSR_SAN_IN_ORDER;
	for (i = 0; i < nsans; i++) {
		for (j = 0; j < nids; j++)
			if (ident_matches_san(&ids[j], &sans[i]))
				break;
		if (j == nids) {
			char ipt[INET6_ADDRSTRLEN] = "?";
			if (sans[i].type == CA_IDENT_IP)
				inet_ntop(sans[i].iplen == 4 ? AF_INET :
				    AF_INET6, sans[i].ip, ipt, sizeof(ipt));
			rc = fail(c, failed, err, errlen, "%s %s is not an "
			    "identifier of the order", sans[i].type ==
			    CA_IDENT_DNS ? "dNSName" : "iPAddress",
			    sans[i].type == CA_IDENT_DNS ? sans[i].dns : ipt);
			goto out;
		}
	}
	for (i = 0;; i++) {
		char cn[256];
		size_t sz = sizeof(cn);

		ret = gnutls_x509_crq_get_dn_by_oid(csr->crq,
		    GNUTLS_OID_X520_COMMON_NAME, (unsigned)i, 0, cn, &sz);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (ret < 0 || sz >= sizeof(cn)) {
			rc = fail(c, failed, err, errlen, "subject commonName "
			    "unreadable or too long");
			goto out;
		}
		cn[sz] = '\0';
		/* The CN must be one of the order's identifiers (check 10
		 * then makes sure it is in the SAN as well). */
		{
			struct san cs;
			memset(&cs, 0, sizeof(cs));
			cs.iplen = ip_parse(cn, cs.ip);
			cs.type = cs.iplen ? CA_IDENT_IP : CA_IDENT_DNS;
			snprintf(cs.dns, sizeof(cs.dns), "%s", cn);
			for (j = 0; j < nids; j++)
				if (ident_matches_san(&ids[j], &cs))
					break;
		}
		if (j == nids) {
			rc = fail(c, failed, err, errlen, "subject commonName "
			    "\"%.64s\" is not an identifier of the order", cn);
			goto out;
		}
	}

	/* 10. Every identifier of the order is in the SAN. */
	c = CA_CSR_ORDER_IN_SAN;
	for (j = 0; j < nids; j++) {
		for (i = 0; i < nsans; i++)
			if (ident_matches_san(&ids[j], &sans[i]))
				break;
		if (i == nsans) {
			rc = fail(c, failed, err, errlen, "identifier %s:%s of "
			    "the order is missing from the subjectAltName",
			    ids[j].type == CA_IDENT_DNS ? "dns" : "ip",
			    ids[j].value);
			goto out;
		}
	}

	*out = csr;
	csr = NULL;
	rc = ANVIL_OK;
out:
	free(sans);
	ca_csr_free(csr);
	return rc;
}
