/*
 * test_csr.c - ca_csr_check: one table of requests that each fail exactly
 * one of the ten checks (in the order they run), one table of requests
 * that pass, and the leaf issued for those: the order's identifiers and the
 * profile, never what the request asked for. No refusal's text carries
 * GnuTLS's own wording, since it becomes the badCSR detail.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
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

#define MAX_IDS 4

/* Keys used by the rows, made once per test. */
enum row_key { K_EC256 = 0, K_RSA2048, K_RSA1024, K_EC384, K__MAX };

static gnutls_x509_privkey_t keys[K__MAX];
static gnutls_datum_t account_spki;	/* a key no row's CSR uses */

static void
make_keys(void)
{
	gnutls_x509_privkey_t acct;

	keys[K_EC256] = th_key(GNUTLS_PK_ECDSA, TH_P256);
	keys[K_RSA2048] = th_key(GNUTLS_PK_RSA, 2048);
	keys[K_RSA1024] = th_key(GNUTLS_PK_RSA, 1024);
	keys[K_EC384] = th_key(GNUTLS_PK_ECDSA, TH_P384);
	acct = th_key(GNUTLS_PK_ECDSA, TH_P256);
	account_spki = th_key_spki(acct);
	gnutls_x509_privkey_deinit(acct);
}

static void
free_keys(void)
{
	int i;

	for (i = 0; i < K__MAX; i++) {
		gnutls_x509_privkey_deinit(keys[i]);
		keys[i] = NULL;
	}
	gnutls_free(account_spki.data);
	account_spki.data = NULL;
}

/* How a row turns the signed request into the bytes handed to the check. */
enum mangle {
	M_NONE = 0,
	M_GARBAGE,		/* bytes that are no DER at all */
	M_EMPTY,		/* zero bytes */
	M_TRAILING_ZERO,	/* the request, then one 0x00 */
	M_TRAILING_DER,		/* the request, then an empty SEQUENCE */
	M_TRUNCATED,		/* the request less its last 8 bytes */
	M_PEM,			/* the request as PEM text */
	M_CERTIFICATE,		/* a certificate for the key, not a request */
	M_FLIP_SIGNATURE,	/* last byte of the signature changed */
	M_FLIP_SUBJECT,		/* one letter of the CN changed after signing */
	M_ACCOUNT_KEY,		/* account key = the CSR's key */
	M_OVERSIZE,		/* one DER SEQUENCE of more than 64 KiB */
};

#define DNS(v) { CA_IDENT_DNS, v }
#define IP(v) { CA_IDENT_IP, v }

struct row {
	const char *desc;
	enum ca_csr_check want;		/* 0: must pass */
	enum row_key key;
	enum mangle mangle;
	struct th_csr csr;
	struct ca_ident ids[MAX_IDS];	/* value NULL ends the list */
};

/* extensionRequest values that are valid DER but not Extensions. */
static const unsigned char extreq_int_in_seq[] = { 0x30, 0x03, 0x02, 0x01,
	0x05 };
static const unsigned char extreq_int[] = { 0x02, 0x01, 0x05 };
static const unsigned char extreq_ext_no_value[] = {
	/* SEQUENCE { SEQUENCE { OID 2.5.29.17 } }: extnValue missing */
	0x30, 0x07, 0x30, 0x05, 0x06, 0x03, 0x55, 0x1d, 0x11 };
/* Extensions { subjectAltName whose value is an INTEGER, not GeneralNames } */
static const unsigned char extreq_san_garbage[] = { 0x30, 0x0c, 0x30, 0x0a,
	0x06, 0x03, 0x55, 0x1d, 0x11, 0x04, 0x03, 0x02, 0x01, 0x05 };
/* Extensions { keyUsage digitalSignature } only: no SAN */
static const unsigned char extreq_ku_only[] = { 0x30, 0x0e, 0x30, 0x0c,
	0x06, 0x03, 0x55, 0x1d, 0x0f, 0x04, 0x05, 0x03, 0x03, 0x07, 0x80,
	0x00 };
/* Extensions { subjectAltName { dNSName "example.org\0.evil.test" } }
 * (GnuTLS's crq API cuts a name at its NUL, so this one is spelt out) */
static const unsigned char extreq_san_nul[] = { 0x30, 0x23, 0x30, 0x21,
	0x06, 0x03, 0x55, 0x1d, 0x11, 0x04, 0x1a, 0x30, 0x18, 0x82, 0x16,
	'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'o', 'r', 'g', 0x00,
	'.', 'e', 'v', 'i', 'l', '.', 't', 'e', 's', 't' };
/* Extensions { keyUsage, keyUsage }: the same extension asked twice */
static const unsigned char extreq_ku_twice[] = { 0x30, 0x1c,
	0x30, 0x0c, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x04, 0x05, 0x03, 0x03, 0x07,
	0x80, 0x00,
	0x30, 0x0c, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x04, 0x05, 0x03, 0x03, 0x07,
	0x80, 0x00 };
static const unsigned char ip5[] = { 192, 0, 2, 1, 7 };
static const unsigned char ip3[] = { 192, 0, 2 };

/* -------------------------------------------------- requests that fail */

static const struct row bad_rows[] = {
	/* 1 parse */
	{ "garbage bytes", CA_CSR_PARSE, K_EC256, M_GARBAGE,
	  { .dns = { "example.org" } }, { DNS("example.org") } },
	{ "zero bytes", CA_CSR_PARSE, K_EC256, M_EMPTY,
	  { .dns = { "example.org" } }, { DNS("example.org") } },
	{ "trailing 0x00 after the DER", CA_CSR_PARSE, K_EC256,
	  M_TRAILING_ZERO, { .dns = { "example.org" } },
	  { DNS("example.org") } },
	{ "a second DER object after the request", CA_CSR_PARSE, K_EC256,
	  M_TRAILING_DER, { .dns = { "example.org" } },
	  { DNS("example.org") } },
	{ "truncated DER", CA_CSR_PARSE, K_EC256, M_TRUNCATED,
	  { .dns = { "example.org" } }, { DNS("example.org") } },
	{ "one SEQUENCE of more than 64 KiB", CA_CSR_PARSE, K_EC256,
	  M_OVERSIZE, { .dns = { "example.org" } }, { DNS("example.org") } },
	{ "PEM text instead of DER", CA_CSR_PARSE, K_EC256, M_PEM,
	  { .dns = { "example.org" } }, { DNS("example.org") } },
	{ "a certificate instead of a request", CA_CSR_PARSE, K_EC256,
	  M_CERTIFICATE, { .dns = { "example.org" } },
	  { DNS("example.org") } },

	/* 2 version */
	{ "version field 1 (v2)", CA_CSR_VERSION, K_EC256, M_NONE,
	  { .dns = { "example.org" }, .version = 2 }, { DNS("example.org") } },
	{ "version field 2 (v3)", CA_CSR_VERSION, K_RSA2048, M_NONE,
	  { .dns = { "example.org" }, .version = 3 }, { DNS("example.org") } },

	/* 3 signature */
	{ "EC signature byte flipped", CA_CSR_SIGNATURE, K_EC256,
	  M_FLIP_SIGNATURE, { .dns = { "example.org" } },
	  { DNS("example.org") } },
	{ "RSA signature byte flipped", CA_CSR_SIGNATURE, K_RSA2048,
	  M_FLIP_SIGNATURE, { .dns = { "example.org" } },
	  { DNS("example.org") } },
	{ "subject changed after signing", CA_CSR_SIGNATURE, K_EC256,
	  M_FLIP_SUBJECT, { .cn = "signed.example.org",
	  .dns = { "signed.example.org" } }, { DNS("signed.example.org") } },

	/* 4 key */
	{ "RSA 1024 key", CA_CSR_KEY, K_RSA1024, M_NONE,
	  { .dns = { "example.org" } }, { DNS("example.org") } },

	/* 5 account key */
	{ "CSR key is the account key (EC)", CA_CSR_ACCOUNT_KEY, K_EC256,
	  M_ACCOUNT_KEY, { .dns = { "example.org" } }, { DNS("example.org") } },
	{ "CSR key is the account key (RSA)", CA_CSR_ACCOUNT_KEY, K_RSA2048,
	  M_ACCOUNT_KEY, { .dns = { "example.org" } }, { DNS("example.org") } },

	/* 6 extensionRequest unreadable */
	{ "extensionRequest holds SEQUENCE { INTEGER }", CA_CSR_EXTENSIONS,
	  K_EC256, M_NONE, { .cn = "example.org",
	  .raw_extreq = extreq_int_in_seq,
	  .raw_extreq_len = sizeof(extreq_int_in_seq) },
	  { DNS("example.org") } },
	{ "extensionRequest holds an INTEGER", CA_CSR_EXTENSIONS, K_EC256,
	  M_NONE, { .cn = "example.org", .raw_extreq = extreq_int,
	  .raw_extreq_len = sizeof(extreq_int) }, { DNS("example.org") } },
	{ "extension without extnValue", CA_CSR_EXTENSIONS, K_EC256, M_NONE,
	  { .cn = "example.org", .raw_extreq = extreq_ext_no_value,
	  .raw_extreq_len = sizeof(extreq_ext_no_value) },
	  { DNS("example.org") } },
	{ "keyUsage requested twice", CA_CSR_EXTENSIONS, K_EC256, M_NONE,
	  { .cn = "example.org", .raw_extreq = extreq_ku_twice,
	  .raw_extreq_len = sizeof(extreq_ku_twice) },
	  { DNS("example.org") } },

	/* 7 basicConstraints */
	{ "basicConstraints cA=TRUE", CA_CSR_BASIC_CONSTRAINTS, K_EC256,
	  M_NONE, { .dns = { "example.org" }, .basic_constraints = 2 },
	  { DNS("example.org") } },
	{ "basicConstraints cA=TRUE with keyCertSign", CA_CSR_BASIC_CONSTRAINTS,
	  K_RSA2048, M_NONE, { .cn = "example.org", .dns = { "example.org" },
	  .basic_constraints = 2, .key_usage = GNUTLS_KEY_KEY_CERT_SIGN },
	  { DNS("example.org") } },

	/* 8 subjectAltName */
	{ "no SAN, name in CN only", CA_CSR_SAN, K_EC256, M_NONE,
	  { .cn = "example.org" }, { DNS("example.org") } },
	{ "no extensionRequest, no subject", CA_CSR_SAN, K_EC256, M_NONE,
	  { 0 }, { DNS("example.org") } },
	{ "extensionRequest with keyUsage only", CA_CSR_SAN, K_EC256, M_NONE,
	  { .cn = "example.org", .raw_extreq = extreq_ku_only,
	  .raw_extreq_len = sizeof(extreq_ku_only) }, { DNS("example.org") } },
	{ "SAN value is not GeneralNames", CA_CSR_SAN, K_EC256, M_NONE,
	  { .cn = "example.org", .raw_extreq = extreq_san_garbage,
	  .raw_extreq_len = sizeof(extreq_san_garbage) },
	  { DNS("example.org") } },
	{ "SAN rfc822Name only", CA_CSR_SAN, K_EC256, M_NONE,
	  { .email = { "admin@example.org" } }, { DNS("example.org") } },
	{ "SAN rfc822Name beside the dNSName", CA_CSR_SAN, K_EC256, M_NONE,
	  { .dns = { "example.org" }, .email = { "admin@example.org" } },
	  { DNS("example.org") } },
	{ "SAN URI beside the dNSName", CA_CSR_SAN, K_EC256, M_NONE,
	  { .dns = { "example.org" }, .uri = { "https://example.org/" } },
	  { DNS("example.org") } },
	{ "SAN URI only", CA_CSR_SAN, K_RSA2048, M_NONE,
	  { .uri = { "https://example.org/" } }, { DNS("example.org") } },
	{ "dNSName with a space", CA_CSR_SAN, K_EC256, M_NONE,
	  { .dns = { "exa mple.org" } }, { DNS("exa mple.org") } },
	{ "dNSName with an embedded NUL", CA_CSR_SAN, K_EC256, M_NONE,
	  { .raw_extreq = extreq_san_nul,
	  .raw_extreq_len = sizeof(extreq_san_nul) }, { DNS("example.org") } },
	{ "empty dNSName", CA_CSR_SAN, K_EC256, M_NONE,
	  { .dns = { "example.org" }, .raw_dns = "", .raw_dns_len = 0 },
	  { DNS("example.org") } },
	{ "dNSName with an empty label", CA_CSR_SAN,
	  K_EC256, M_NONE, { .dns = { "a..example.org" } },
	  { DNS("a..example.org") } },
	{ "iPAddress of 5 bytes", CA_CSR_SAN, K_EC256, M_NONE,
	  { .raw_ip = ip5, .raw_ip_len = sizeof(ip5) }, { IP("192.0.2.1") } },
	{ "iPAddress of 3 bytes", CA_CSR_SAN, K_EC256, M_NONE,
	  { .raw_ip = ip3, .raw_ip_len = sizeof(ip3) }, { IP("192.0.2.0") } },

	/* 9 every SAN (and the CN) is an order identifier of its type */
	{ "SAN has a name not in the order", CA_CSR_SAN_IN_ORDER, K_EC256,
	  M_NONE, { .dns = { "example.org", "evil.example.net" } },
	  { DNS("example.org") } },
	{ "SAN has an IP not in the order", CA_CSR_SAN_IN_ORDER, K_EC256,
	  M_NONE, { .dns = { "example.org" }, .ip = { "192.0.2.66" } },
	  { DNS("example.org") } },
	{ "SAN has a subdomain of the identifier", CA_CSR_SAN_IN_ORDER,
	  K_EC256, M_NONE, { .dns = { "example.org", "www.example.org" } },
	  { DNS("example.org") } },
	{ "CN not among the identifiers", CA_CSR_SAN_IN_ORDER, K_EC256,
	  M_NONE, { .cn = "other.example.net", .dns = { "example.org" } },
	  { DNS("example.org") } },
	{ "CN a subdomain of the identifier", CA_CSR_SAN_IN_ORDER, K_RSA2048,
	  M_NONE, { .cn = "www.example.org", .dns = { "example.org" } },
	  { DNS("example.org") } },
	{ "dNSName \"127.0.0.1\" for an ip identifier", CA_CSR_SAN_IN_ORDER,
	  K_EC256, M_NONE, { .dns = { "127.0.0.1" } }, { IP("127.0.0.1") } },
	{ "iPAddress for a dns identifier spelt as an address",
	  CA_CSR_SAN_IN_ORDER, K_EC256, M_NONE, { .ip = { "192.0.2.1" } },
	  { DNS("192.0.2.1") } },
	{ "iPAddress v6 for a dns identifier", CA_CSR_SAN_IN_ORDER, K_EC256,
	  M_NONE, { .dns = { "example.org" }, .ip = { "2001:db8::1" } },
	  { DNS("example.org") } },
	{ "wildcard SAN for a plain identifier", CA_CSR_SAN_IN_ORDER, K_EC256,
	  M_NONE, { .dns = { "*.example.org" } }, { DNS("example.org") } },
	{ "wildcard SAN for a name under the wildcard", CA_CSR_SAN_IN_ORDER,
	  K_EC256, M_NONE, { .dns = { "*.example.org" } },
	  { DNS("www.example.org") } },
	{ "plain SAN under a wildcard identifier", CA_CSR_SAN_IN_ORDER,
	  K_EC256, M_NONE, { .dns = { "www.example.org" } },
	  { DNS("*.example.org") } },
	{ "IPv4 SAN differs by one", CA_CSR_SAN_IN_ORDER, K_EC256, M_NONE,
	  { .ip = { "192.0.2.2" } }, { IP("192.0.2.1") } },
	{ "IPv4-mapped IPv6 SAN for an IPv4 identifier", CA_CSR_SAN_IN_ORDER,
	  K_EC256, M_NONE, { .ip = { "::ffff:192.0.2.1" } },
	  { IP("192.0.2.1") } },

	/* 10 every order identifier is in the SAN */
	{ "order dns identifier missing from SAN", CA_CSR_ORDER_IN_SAN,
	  K_EC256, M_NONE, { .dns = { "example.org" } },
	  { DNS("example.org"), DNS("www.example.org") } },
	{ "order ip identifier missing from SAN", CA_CSR_ORDER_IN_SAN,
	  K_RSA2048, M_NONE, { .dns = { "example.org" } },
	  { DNS("example.org"), IP("192.0.2.1") } },
	{ "order IPv6 identifier missing from SAN", CA_CSR_ORDER_IN_SAN,
	  K_EC256, M_NONE, { .ip = { "2001:db8::1" } },
	  { IP("2001:db8::1"), IP("2001:db8::2") } },
	{ "wildcard identifier missing, base name present",
	  CA_CSR_ORDER_IN_SAN, K_EC256, M_NONE, { .dns = { "example.org" } },
	  { DNS("example.org"), DNS("*.example.org") } },
	{ "CN is the missing identifier", CA_CSR_ORDER_IN_SAN, K_EC256,
	  M_NONE, { .cn = "www.example.org", .dns = { "example.org" } },
	  { DNS("example.org"), DNS("www.example.org") } },
};

/* -------------------------------------------------- requests that pass */

static const struct row good_rows[] = {
	{ "certbot style: no subject, one dNSName", 0, K_EC256, M_NONE,
	  { .dns = { "example.org" } }, { DNS("example.org") } },
	{ "CN repeated in the SAN", 0, K_RSA2048, M_NONE,
	  { .cn = "example.org", .dns = { "example.org", "www.example.org" } },
	  { DNS("example.org"), DNS("www.example.org") } },
	{ "SAN in other case than the identifier", 0, K_EC256, M_NONE,
	  { .dns = { "Example.ORG" } }, { DNS("example.org") } },
	{ "CN in other case than the identifier", 0, K_EC256, M_NONE,
	  { .cn = "WWW.example.org", .dns = { "www.EXAMPLE.org" } },
	  { DNS("www.example.org") } },
	{ "wildcard identifier and SAN", 0, K_EC256, M_NONE,
	  { .dns = { "*.example.org", "example.org" } },
	  { DNS("*.example.org"), DNS("example.org") } },
	{ "wildcard CN and SAN", 0, K_RSA2048, M_NONE,
	  { .cn = "*.example.org", .dns = { "*.example.org" } },
	  { DNS("*.example.org") } },
	{ "IPv4 identifier", 0, K_EC256, M_NONE, { .ip = { "192.0.2.1" } },
	  { IP("192.0.2.1") } },
	{ "IPv6 identifier spelt long, SAN the same address", 0, K_EC256,
	  M_NONE, { .ip = { "2001:db8::1" } }, { IP("2001:0db8:0:0::1") } },
	{ "IPv6 identifier short, SAN written from the long form", 0, K_EC256,
	  M_NONE, { .ip = { "2001:0db8:0000:0000:0000:0000:0000:0001" } },
	  { IP("2001:db8::1") } },
	{ "dns, IPv4 and IPv6 together, order differs from SAN", 0, K_RSA2048,
	  M_NONE, { .dns = { "b.example.org", "a.example.org" },
	  .ip = { "2001:db8::5", "192.0.2.9" } },
	  { IP("192.0.2.9"), DNS("a.example.org"), IP("2001:db8::5"),
	    DNS("b.example.org") } },
	{ "EKU clientAuth and codeSigning asked for", 0, K_EC256, M_NONE,
	  { .dns = { "example.org" },
	  .eku = { "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.3" } },
	  { DNS("example.org") } },
	{ "keyUsage keyCertSign|cRLSign asked for", 0, K_EC256, M_NONE,
	  { .dns = { "example.org" },
	  .key_usage = GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN },
	  { DNS("example.org") } },
	{ "keyUsage keyEncipherment on an RSA key asked for", 0, K_RSA2048,
	  M_NONE, { .dns = { "example.org" },
	  .key_usage = GNUTLS_KEY_KEY_ENCIPHERMENT |
	  GNUTLS_KEY_DATA_ENCIPHERMENT }, { DNS("example.org") } },
	{ "basicConstraints cA=FALSE asked for", 0, K_EC256, M_NONE,
	  { .dns = { "example.org" }, .basic_constraints = 1 },
	  { DNS("example.org") } },
	{ "OCSP must-staple asked for", 0, K_EC256, M_NONE,
	  { .dns = { "example.org" }, .must_staple = 1 },
	  { DNS("example.org") } },
	{ "everything at once", 0, K_RSA2048, M_NONE,
	  { .cn = "Example.org", .dns = { "example.org" },
	  .ip = { "192.0.2.1" }, .basic_constraints = 1,
	  .key_usage = GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_NON_REPUDIATION,
	  .eku = { "1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2" },
	  .must_staple = 1 }, { DNS("example.org"), IP("192.0.2.1") } },
	{ "P-384 key", 0, K_EC384, M_NONE, { .dns = { "example.org" } },
	  { DNS("example.org") } },
};

/* -------------------------------------------------- building the input */

static size_t
count_ids(const struct row *r)
{
	size_t n = 0;

	while (n < MAX_IDS && r->ids[n].value != NULL)
		n++;
	return n;
}

/* A self-signed certificate for key, as DER (gnutls_free). */
static gnutls_datum_t
cert_der(gnutls_x509_privkey_t key)
{
	static const unsigned char one = 1;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { NULL, 0 };
	time_t now = time(NULL);

	OK(gnutls_x509_crt_init(&crt));
	OK(gnutls_x509_crt_set_version(crt, 3));
	OK(gnutls_x509_crt_set_serial(crt, &one, 1));
	OK(gnutls_x509_crt_set_key(crt, key));
	OK(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    "example.org", 11));
	OK(gnutls_x509_crt_set_activation_time(crt, now));
	OK(gnutls_x509_crt_set_expiration_time(crt, now + 86400));
	OK(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME,
	    "example.org", 11, GNUTLS_FSAN_SET));
	OK(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0));
	OK(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &d));
	gnutls_x509_crt_deinit(crt);
	return d;
}

/* The bytes a row hands to ca_csr_check (malloc'd) and the account key. */
static unsigned char *
row_input(const struct row *r, size_t *len, const unsigned char **spki,
    size_t *spki_len, gnutls_datum_t *own_spki)
{
	gnutls_datum_t der = { NULL, 0 }, pem = { NULL, 0 };
	unsigned char *out = NULL, *p;
	gnutls_x509_crq_t crq;
	const char *cn;
	size_t n;

	*spki = account_spki.data;
	*spki_len = account_spki.size;
	own_spki->data = NULL;

	switch (r->mangle) {
	case M_GARBAGE:
		out = (unsigned char *)strdup("this is not DER at all");
		*len = strlen((char *)out);
		return out;
	case M_EMPTY:
		out = malloc(1);
		*len = 0;
		return out;
	case M_OVERSIZE:
		/* SEQUENCE, long-form length 70000, then zeros */
		n = 5 + 70000;
		out = calloc(1, n);
		cr_assert_not_null(out);
		memcpy(out, "\x30\x83\x01\x11\x70", 5);
		*len = n;
		return out;
	case M_CERTIFICATE:
		der = cert_der(keys[r->key]);
		break;
	default:
		der = th_csr_der(keys[r->key], &r->csr);
		break;
	}

	n = der.size;
	out = malloc(n + 16);
	cr_assert_not_null(out);
	memcpy(out, der.data, n);
	switch (r->mangle) {
	case M_TRAILING_ZERO:
		out[n++] = 0x00;
		break;
	case M_TRAILING_DER:
		out[n++] = 0x30;
		out[n++] = 0x00;
		break;
	case M_TRUNCATED:
		n -= 8;
		break;
	case M_PEM:
		OK(gnutls_x509_crq_init(&crq));
		OK(gnutls_x509_crq_import(crq, &der, GNUTLS_X509_FMT_DER));
		OK(gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &pem));
		gnutls_x509_crq_deinit(crq);
		free(out);
		out = malloc(pem.size);
		memcpy(out, pem.data, pem.size);
		n = pem.size;
		gnutls_free(pem.data);
		break;
	case M_FLIP_SIGNATURE:
		out[n - 1] ^= 0x01;
		break;
	case M_FLIP_SUBJECT:
		cn = r->csr.cn;
		cr_assert_not_null(cn);
		p = memmem(out, n, cn, strlen(cn));
		cr_assert_not_null(p, "CN not found in the DER");
		p[0] ^= 0x01;	/* "signed" -> "rigned" */
		break;
	case M_ACCOUNT_KEY:
		*own_spki = th_key_spki(keys[r->key]);
		*spki = own_spki->data;
		*spki_len = own_spki->size;
		break;
	default:
		break;
	}
	gnutls_free(der.data);
	*len = n;
	return out;
}

/* -------------------------------------------------- tests */

Test(csr, check_names)
{
	const char *names[11];
	int i, j;

	cr_assert_str_eq(ca_csr_check_name(CA_CSR_PARSE), "parse");
	cr_assert_str_eq(ca_csr_check_name(CA_CSR_VERSION), "version");
	for (i = CA_CSR_PARSE; i <= CA_CSR_ORDER_IN_SAN; i++) {
		names[i] = ca_csr_check_name((enum ca_csr_check)i);
		cr_assert_not_null(names[i]);
		cr_assert_neq(names[i][0], '\0', "check %d has no name", i);
		for (j = CA_CSR_PARSE; j < i; j++)
			cr_assert_str_neq(names[i], names[j],
			    "checks %d and %d share a name", i, j);
	}
	cr_assert_eq(CA_CSR_ORDER_IN_SAN, 10, "there are ten checks");
}

/* err names the check: "CSR check N (name): ..." with N not a prefix. */
static int
err_names_check(const char *err, enum ca_csr_check c)
{
	char want[64];
	const char *p;
	size_t n;

	n = (size_t)snprintf(want, sizeof(want), "CSR check %d", (int)c);
	for (p = strstr(err, want); p != NULL; p = strstr(p + 1, want))
		if (p[n] < '0' || p[n] > '9')
			return strstr(err, ca_csr_check_name(c)) != NULL;
	return 0;
}

/*
 * The first piece of GnuTLS's (or libtasn1's) own wording in err, or NULL.
 * err is the badCSR detail a client reads (src/acme/finalize.c): the
 * library's text belongs in the log only (src/core/error.h).
 */
static const char *
lib_text_in(const char *err)
{
	static const char *const marks[] = {
		"ASN1 parser", "Error in", "is invalid.", "has failed.",
		"verification has failed", "was not found", "GnuTLS", "gnutls_",
		"not available.", "is not supported.",
	};
	size_t i;

	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (strstr(err, marks[i]) != NULL)
			return marks[i];
	return NULL;
}

Test(csr, each_check_fails_for_its_row, .timeout = 60)
{
	size_t i, nrows = sizeof(bad_rows) / sizeof(bad_rows[0]);
	int seen[11] = { 0 };

	make_keys();
	for (i = 0; i < nrows; i++) {
		const struct row *r = &bad_rows[i];
		const unsigned char *spki;
		gnutls_datum_t own = { NULL, 0 };
		struct ca_csr *csr = NULL;
		enum ca_csr_check failed = 0;
		size_t len, spki_len;
		unsigned char *in = row_input(r, &len, &spki, &spki_len, &own);
		char err[1024] = "";
		anvil_err rc;

		rc = ca_csr_check(in, len, r->ids, count_ids(r), spki,
		    spki_len, &csr, &failed, err, sizeof(err));
		cr_expect_eq(rc, ANVIL_ERR_BADCSR, "[%s] rc %s, want badCSR "
		    "(%s)", r->desc, anvil_strerror(rc), err);
		cr_expect_eq(failed, r->want, "[%s] failed check %d (%s), "
		    "want %d (%s): %s", r->desc, (int)failed,
		    ca_csr_check_name(failed), (int)r->want,
		    ca_csr_check_name(r->want), err);
		cr_expect(err_names_check(err, r->want), "[%s] err does not say "
		    "\"CSR check %d (%s)\": \"%s\"", r->desc, (int)r->want,
		    ca_csr_check_name(r->want), err);
		cr_expect_null(lib_text_in(err), "[%s] library text \"%s\" in "
		    "err: \"%s\"", r->desc, lib_text_in(err), err);
		cr_expect_null(csr, "[%s] *out set on failure", r->desc);
		ca_csr_free(csr);
		seen[r->want] = 1;
		gnutls_free(own.data);
		free(in);
	}
	for (i = CA_CSR_PARSE; i <= CA_CSR_ORDER_IN_SAN; i++)
		cr_assert(seen[i], "no row for check %zu", i);
	free_keys();
}

/* failed may be NULL; the error still says which check. */
Test(csr, failed_pointer_optional)
{
	const struct th_csr c = { .dns = { "example.org" },
		.basic_constraints = 2 };
	const struct ca_ident ids[] = { DNS("example.org") };
	gnutls_x509_privkey_t k = th_key(GNUTLS_PK_ECDSA, TH_P256);
	gnutls_datum_t der = th_csr_der(k, &c);
	struct ca_csr *csr = NULL;
	char err[512] = "";

	cr_assert_eq(ca_csr_check(der.data, der.size, ids, 1, NULL, 0, &csr,
	    NULL, err, sizeof(err)), ANVIL_ERR_BADCSR);
	cr_assert(err_names_check(err, CA_CSR_BASIC_CONSTRAINTS), "%s", err);
	cr_assert_null(csr);
	gnutls_free(der.data);
	gnutls_x509_privkey_deinit(k);
}

/* account_spki NULL skips check 5 only. */
Test(csr, account_key_check_skipped_without_account_key)
{
	const struct th_csr c = { .dns = { "example.org" } };
	const struct ca_ident ids[] = { DNS("example.org") };
	gnutls_x509_privkey_t k = th_key(GNUTLS_PK_ECDSA, TH_P256);
	gnutls_datum_t der = th_csr_der(k, &c), spki = th_key_spki(k);
	struct ca_csr *csr = NULL;
	enum ca_csr_check failed = 0;
	char err[512] = "";

	cr_assert_eq(ca_csr_check(der.data, der.size, ids, 1, NULL, 0, &csr,
	    &failed, err, sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_not_null(csr);
	ca_csr_free(csr);
	csr = NULL;
	cr_assert_eq(ca_csr_check(der.data, der.size, ids, 1, spki.data,
	    spki.size, &csr, &failed, err, sizeof(err)), ANVIL_ERR_BADCSR);
	cr_assert_eq(failed, CA_CSR_ACCOUNT_KEY);
	gnutls_free(spki.data);
	gnutls_free(der.data);
	gnutls_x509_privkey_deinit(k);
}

/* The extensions a leaf may carry: the profile's, nothing from the CSR. */
static void
check_leaf_profile(gnutls_x509_crt_t leaf, gnutls_x509_crt_t ca,
    const struct ca_ident *ids, size_t nids, int is_rsa)
{
	static const char *const exts[] = { "2.5.29.19", "2.5.29.15",
		"2.5.29.37", "2.5.29.14", "2.5.29.35", "2.5.29.17" };
	unsigned crit = 0, isca = 1, ku = 0;
	char oid[128];
	size_t sz;
	int pathlen;
	const char *host = NULL;
	size_t i;

	for (i = 0; i < nids; i++)
		if (ids[i].type == CA_IDENT_DNS && ids[i].value[0] != '*')
			host = ids[i].value;
	cr_assert_eq(th_verify(leaf, ca, host), 0, "leaf does not verify");
	th_check_san(leaf, ids, nids);
	th_check_extensions(leaf, exts, sizeof(exts) / sizeof(exts[0]),
	    "leaf");
	OK(gnutls_x509_crt_get_basic_constraints(leaf, &crit, &isca,
	    &pathlen));
	cr_assert_eq(isca, 0, "leaf is a CA");
	OK(gnutls_x509_crt_get_key_usage(leaf, &ku, &crit));
	(void)is_rsa;	/* rsa_key_encipherment is off here */
	cr_assert_eq(ku, GNUTLS_KEY_DIGITAL_SIGNATURE, "leaf keyUsage 0x%x",
	    ku);
	sz = sizeof(oid);
	OK(gnutls_x509_crt_get_key_purpose_oid(leaf, 0, oid, &sz, NULL));
	cr_assert_str_eq(oid, "1.3.6.1.5.5.7.3.1");
	sz = sizeof(oid);
	cr_assert_eq(gnutls_x509_crt_get_key_purpose_oid(leaf, 1, oid, &sz,
	    NULL), GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE,
	    "leaf has a second key purpose %s", oid);
}

Test(csr, good_requests_pass_and_leaf_has_only_the_order, .timeout = 60)
{
	size_t i, nrows = sizeof(good_rows) / sizeof(good_rows[0]);
	char *dir = th_tempdir();
	struct anvil_config *cfg = th_config(dir, NULL);
	struct ca *ca = NULL;
	char err[1024] = "";

	cr_assert_eq(ca_load_or_generate(cfg, &ca, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	make_keys();
	for (i = 0; i < nrows; i++) {
		const struct row *r = &good_rows[i];
		const unsigned char *spki;
		gnutls_datum_t own = { NULL, 0 };
		struct ca_csr *csr = NULL;
		struct ca_issued *is = NULL;
		struct ca_issue_params p = { .validity_days = 30 };
		enum ca_csr_check failed = 0;
		size_t len, spki_len, nids = count_ids(r);
		unsigned char *in = row_input(r, &len, &spki, &spki_len, &own);
		gnutls_x509_crt_t leaf;
		anvil_err rc;

		cr_log_info("row: %s", r->desc);
		rc = ca_csr_check(in, len, r->ids, nids, spki, spki_len, &csr,
		    &failed, err, sizeof(err));
		cr_assert_eq(rc, ANVIL_OK, "[%s] refused: check %d: %s",
		    r->desc, (int)failed, err);
		cr_assert_not_null(csr);
		p.now = time(NULL) - 60;
		rc = ca_issue(ca, csr, r->ids, nids, &p, &is, err,
		    sizeof(err));
		cr_assert_eq(rc, ANVIL_OK, "[%s] ca_issue: %s", r->desc, err);
		leaf = th_crt_der(is->der, is->der_len);
		cr_assert(th_crt_has_key(leaf, keys[r->key]),
		    "[%s] leaf key is not the CSR key", r->desc);
		check_leaf_profile(leaf, ca_cert_peek(ca), r->ids, nids,
		    r->key == K_RSA2048);
		gnutls_x509_crt_deinit(leaf);
		ca_issued_free(is);
		ca_csr_free(csr);
		gnutls_free(own.data);
		free(in);
	}
	free_keys();
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* The same request checked twice gives two independent results. */
Test(csr, check_is_repeatable_and_free_null_is_noop)
{
	const struct th_csr c = { .dns = { "example.org" } };
	const struct ca_ident ids[] = { DNS("example.org") };
	gnutls_x509_privkey_t k = th_key(GNUTLS_PK_ECDSA, TH_P256);
	gnutls_datum_t der = th_csr_der(k, &c);
	struct ca_csr *a = NULL, *b = NULL;
	char err[512] = "";

	ca_csr_free(NULL);
	cr_assert_eq(ca_csr_check(der.data, der.size, ids, 1, NULL, 0, &a,
	    NULL, err, sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_eq(ca_csr_check(der.data, der.size, ids, 1, NULL, 0, &b,
	    NULL, err, sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_neq(a, b);
	ca_csr_free(a);
	ca_csr_free(b);
	gnutls_free(der.data);
	gnutls_x509_privkey_deinit(k);
}
