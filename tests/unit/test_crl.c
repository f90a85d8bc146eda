/*
 * test_crl.c - CRLs: ca_crl_build for each kind of CA key, read back with
 * GnuTLS, with certtool, and with a small DER reader of our own for what
 * GnuTLS does not expose (entry reasonCode, time encodings, integer
 * encodings); the CRL src/publish builds from a real store
 * (publish_crl_from_store; the rest of src/publish is
 * tests/unit/test_publish.c's); ca_crl_reason_valid.
 *
 * Also the other file anvil creates beside secrets from a request path,
 * the nonce key's temporary file (anvil-crl's lock is checked in
 * tests/integration/crl.sh): a symlink planted where it used to be
 * created is never followed.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <libtasn1.h>

#include "acme/acme_int.h"
#include "ca/ca.h"
#include "core/conf.h"
#include "core/error.h"
#include "core/util.h"
#include "csr_helpers.h"
#include "helpers.h"
#include "publish/publish.h"
#include "record/record.h"
#include "store/store.h"

#define OK(call)                                                               \
	do {                                                                   \
		int ok_ret_ = (call);                                          \
		cr_assert(ok_ret_ >= 0, "%s: %s", #call,                       \
		    gnutls_strerror(ok_ret_));                                 \
	} while (0)

/* ------------------------------------------------------------ DER reader */

struct der {
	const unsigned char *p;
	size_t n;
};

/* Reads one element (low tag numbers only, minimal lengths) off *in. */
static int
der_read(struct der *in, unsigned char *tag, struct der *body)
{
	size_t len, hdr = 2, k, nb;

	if (in->n < 2 || (in->p[0] & 0x1f) == 0x1f)
		return 0;
	*tag = in->p[0];
	len = in->p[1];
	if (len & 0x80) {
		nb = len & 0x7f;
		if (nb == 0 || nb > 4 || in->n < 2 + nb || in->p[2] == 0)
			return 0;
		for (len = 0, k = 0; k < nb; k++)
			len = (len << 8) | in->p[2 + k];
		if (len < 0x80)
			return 0;	/* long form where short would do */
		hdr += nb;
	}
	if (in->n - hdr < len)
		return 0;
	body->p = in->p + hdr;
	body->n = len;
	in->p += hdr + len;
	in->n -= hdr + len;
	return 1;
}

static int
der_peek(const struct der *in)
{
	return in->n > 0 ? in->p[0] : -1;
}

/* 1 if the INTEGER body is minimal and non-negative. */
static int
der_uint_ok(const struct der *b)
{
	if (b->n == 0 || (b->p[0] & 0x80))
		return 0;
	return !(b->n > 1 && b->p[0] == 0 && !(b->p[1] & 0x80));
}

static int
two(const unsigned char *p)
{
	return (p[0] - '0') * 10 + (p[1] - '0');
}

/* UTCTime before 2050, GeneralizedTime from 2050 (RFC 5280 5.1.2.4). */
static time_t
der_time(unsigned char tag, const struct der *b)
{
	struct tm tm;
	const unsigned char *p = b->p;
	int year;
	size_t i;

	memset(&tm, 0, sizeof(tm));
	for (i = 0; i + 1 < b->n; i++)
		cr_assert(p[i] >= '0' && p[i] <= '9', "time not digits");
	cr_assert_eq(p[b->n - 1], 'Z', "time not in Z");
	if (tag == 0x17) {
		cr_assert_eq(b->n, 13, "UTCTime of %zu bytes", b->n);
		year = two(p);
		year += year < 50 ? 2000 : 1900;
		p += 2;
	} else {
		cr_assert_eq(tag, 0x18, "time tag 0x%02x", tag);
		cr_assert_eq(b->n, 15, "GeneralizedTime of %zu bytes", b->n);
		year = two(p) * 100 + two(p + 2);
		cr_assert(year >= 2050, "GeneralizedTime for %d", year);
		p += 4;
	}
	tm.tm_year = year - 1900;
	tm.tm_mon = two(p) - 1;
	tm.tm_mday = two(p + 2);
	tm.tm_hour = two(p + 4);
	tm.tm_min = two(p + 6);
	tm.tm_sec = two(p + 8);
	return timegm(&tm);
}

#define MAX_ENTRIES 32

struct entry {
	struct der serial;
	time_t when;
	int n_ext;
	int reason;		/* -1: no reasonCode */
	int reason_critical;
};

struct parsed_crl {
	time_t this_update, next_update;
	int has_next_update;
	int has_list;		/* revokedCertificates present */
	size_t n;
	struct entry e[MAX_ENTRIES];
	struct der number;	/* CRLNumber INTEGER body */
	int number_critical;
	int has_aki;
	int has_idp;	/* critical IssuingDistributionPoint */
	int n_ext;
};

static const unsigned char oid_reason[] = { 0x55, 0x1d, 0x15 };
static const unsigned char oid_number[] = { 0x55, 0x1d, 0x14 };
static const unsigned char oid_aki[] = { 0x55, 0x1d, 0x23 };
static const unsigned char oid_idp[] = { 0x55, 0x1d, 0x1c };

/* One Extension: its OID body, critical flag and extnValue body. */
static void
read_extension(struct der *exts, struct der *oid, int *critical,
    struct der *value)
{
	struct der ext, b;
	unsigned char tag;

	cr_assert(der_read(exts, &tag, &ext) && tag == 0x30, "Extension");
	cr_assert(der_read(&ext, &tag, oid) && tag == 0x06, "extnID");
	*critical = 0;
	if (der_peek(&ext) == 0x01) {
		cr_assert(der_read(&ext, &tag, &b) && b.n == 1);
		cr_assert_eq(b.p[0], 0xff, "critical TRUE not 0xff");
		*critical = 1;
	}
	cr_assert(der_read(&ext, &tag, value) && tag == 0x04, "extnValue");
	cr_assert_eq(ext.n, 0, "bytes after extnValue");
}

static int
oid_is(const struct der *oid, const unsigned char *want, size_t n)
{
	return oid->n == n && memcmp(oid->p, want, n) == 0;
}

static void
parse_crl(const unsigned char *der, size_t len, struct parsed_crl *out)
{
	struct der in = { der, len }, cl, tbs, b, list, entry, exts, wrap;
	struct der oid, value, inner;
	unsigned char tag;
	int crit;

	memset(out, 0, sizeof(*out));
	cr_assert(der_read(&in, &tag, &cl) && tag == 0x30, "CertificateList");
	cr_assert_eq(in.n, 0, "bytes after the CRL");
	cr_assert(der_read(&cl, &tag, &tbs) && tag == 0x30, "TBSCertList");
	cr_assert(der_read(&tbs, &tag, &b) && tag == 0x02, "no version: v1");
	cr_assert(b.n == 1 && b.p[0] == 1, "version is not v2");
	cr_assert(der_read(&tbs, &tag, &b) && tag == 0x30, "signature");
	cr_assert(der_read(&tbs, &tag, &b) && tag == 0x30, "issuer");
	cr_assert(der_read(&tbs, &tag, &b), "thisUpdate");
	out->this_update = der_time(tag, &b);
	if (der_peek(&tbs) == 0x17 || der_peek(&tbs) == 0x18) {
		cr_assert(der_read(&tbs, &tag, &b));
		out->next_update = der_time(tag, &b);
		out->has_next_update = 1;
	}
	if (der_peek(&tbs) == 0x30) {
		cr_assert(der_read(&tbs, &tag, &list));
		out->has_list = 1;
		while (list.n > 0) {
			struct entry *e = &out->e[out->n];

			cr_assert(out->n < MAX_ENTRIES);
			cr_assert(der_read(&list, &tag, &entry) && tag == 0x30);
			cr_assert(der_read(&entry, &tag, &e->serial) &&
			    tag == 0x02, "userCertificate");
			cr_assert(der_uint_ok(&e->serial),
			    "serial not a minimal positive INTEGER");
			cr_assert(der_read(&entry, &tag, &b), "revocationDate");
			e->when = der_time(tag, &b);
			e->reason = -1;
			if (entry.n > 0) {
				cr_assert(der_read(&entry, &tag, &exts) &&
				    tag == 0x30, "crlEntryExtensions");
				cr_assert(exts.n > 0, "empty crlEntryExtensions"
				    " (must be absent instead)");
				while (exts.n > 0) {
					read_extension(&exts, &oid, &crit,
					    &value);
					e->n_ext++;
					if (!oid_is(&oid, oid_reason, 3))
						continue;
					cr_assert(der_read(&value, &tag,
					    &inner) && tag == 0x0a &&
					    inner.n == 1 && value.n == 0,
					    "reasonCode not one ENUMERATED");
					e->reason = inner.p[0];
					e->reason_critical = crit;
				}
			}
			cr_assert_eq(entry.n, 0, "bytes after an entry");
			out->n++;
		}
	}
	if (der_peek(&tbs) == 0xa0) {
		cr_assert(der_read(&tbs, &tag, &wrap));
		cr_assert(der_read(&wrap, &tag, &exts) && tag == 0x30);
		while (exts.n > 0) {
			read_extension(&exts, &oid, &crit, &value);
			out->n_ext++;
			if (oid_is(&oid, oid_number, 3)) {
				cr_assert(der_read(&value, &tag, &out->number)
				    && tag == 0x02 && value.n == 0,
				    "CRLNumber not one INTEGER");
				out->number_critical = crit;
			} else if (oid_is(&oid, oid_aki, 3))
				out->has_aki = 1;
			else if (oid_is(&oid, oid_idp, 3) && crit)
				out->has_idp = 1;
		}
	}
	cr_assert_eq(tbs.n, 0, "unknown fields in TBSCertList");
}

static uint64_t
be_uint(const unsigned char *p, size_t n)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < n && p[i] == 0)
		i++;
	cr_assert(n - i <= 8, "number wider than 64 bits");
	for (; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* ------------------------------------------------------------ fixtures */

static struct ca *
new_ca(const char *dir, const char *key_type, struct anvil_config **cfgp)
{
	char extra[256];
	struct anvil_config *cfg;
	struct ca *ca = NULL;
	char err[1024] = "";

	snprintf(extra, sizeof(extra), "[ca]\nkey_type = %s\n"
	    "common_name = CRL Test CA\norganization = Anvil CRL Tests\n"
	    "[issuance]\ncrl_validity_hours = 24\n", key_type);
	cfg = th_config(dir, extra);
	cr_assert_eq(ca_load_or_generate(cfg, &ca, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	*cfgp = cfg;
	return ca;
}

static gnutls_x509_crl_t
crl_import(const void *data, size_t len, gnutls_x509_crt_fmt_t fmt)
{
	gnutls_x509_crl_t crl = NULL;
	gnutls_datum_t d = { (unsigned char *)data, (unsigned)len };

	OK(gnutls_x509_crl_init(&crl));
	OK(gnutls_x509_crl_import(crl, &d, fmt));
	return crl;
}

/* Runs a shell command; its exit status, and its stdout in *out (free). */
static int
run(const char *cmd, char **out)
{
	FILE *f = popen(cmd, "r");
	size_t cap = 4096, n = 0, r;
	char *buf = malloc(cap);
	int st;

	cr_assert_not_null(f, "popen %s", cmd);
	cr_assert_not_null(buf);
	while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (cap - n < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
	}
	buf[n] = '\0';
	st = pclose(f);
	if (out != NULL)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* certtool --verify-crl of crl_pem against the CA; exit status. */
static int
certtool_verify(const char *dir, const char *ca_pem, const char *crl_pem,
    size_t crl_len)
{
	char capath[4096], crlpath[4096], cmd[9000];

	snprintf(capath, sizeof(capath), "%s/ca-for-certtool.pem", dir);
	snprintf(crlpath, sizeof(crlpath), "%s/crl-for-certtool.pem", dir);
	th_write_file(capath, ca_pem, strlen(ca_pem));
	th_write_file(crlpath, crl_pem, crl_len);
	snprintf(cmd, sizeof(cmd), "certtool --verify-crl "
	    "--load-ca-certificate '%s' --infile '%s' >/dev/null 2>&1",
	    capath, crlpath);
	return run(cmd, NULL);
}

/* certtool --crl-info text for a DER CRL (free). */
static char *
certtool_info(const char *dir, const unsigned char *der, size_t len)
{
	char path[4096], cmd[5000], *out = NULL;
	int st;

	snprintf(path, sizeof(path), "%s/crl-info.der", dir);
	th_write_file(path, der, len);
	snprintf(cmd, sizeof(cmd), "certtool --crl-info --inder --infile '%s' "
	    "2>/dev/null", path);
	st = run(cmd, &out);
	cr_assert_eq(st, 0, "certtool --crl-info failed: %s", out);
	return out;
}

static void
hex(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	out[2 * n] = '\0';
}

/* ------------------------------------------------------------ the table */

struct rv_row {
	const char *desc;
	unsigned char serial[20];
	size_t len;
	time_t when;
	int reason;
};

static const struct rv_row rv_rows[] = {
	{ "unspecified (0): no reasonCode",
	  { 0x3a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
	    0x0b, 0x0c, 0x0d, 0x0e, 0x0f }, 16, 1700000000, 0 },
	{ "keyCompromise (1)",
	  { 0x11, 0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66,
	    0x55, 0x44, 0x33, 0x22, 0x11 }, 16, 1700000100, 1 },
	{ "cACompromise (2)", { 0x22, 2 }, 2, 1700000200, 2 },
	{ "affiliationChanged (3)", { 0x33, 3 }, 2, 1700000300, 3 },
	{ "superseded (4)", { 0x44, 4 }, 2, 1700000400, 4 },
	{ "cessationOfOperation (5)", { 0x55, 5 }, 2, 1700000500, 5 },
	{ "certificateHold (6)", { 0x66, 6 }, 2, 1700000600, 6 },
	{ "removeFromCRL (8)", { 0x08, 8 }, 2, 1700000800, 8 },
	{ "privilegeWithdrawn (9)", { 0x09, 9 }, 2, 1700000900, 9 },
	{ "aACompromise (10)", { 0x0a, 10 }, 2, 1700001000, 10 },
	{ "one-byte serial, unspecified", { 0x05 }, 1, 1600000000, 0 },
	{ "20-byte serial, keyCompromise",
	  { 0x7f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
	    18, 19 }, 20, 1650000000, 1 },
	{ "revoked in 1999", { 0x19, 0x99 }, 2, 946684799, 4 },
	{ "revoked in 2050 (GeneralizedTime)", { 0x20, 0x50 }, 2, 2556143999,
	  5 },
	{ "revoked at 2049-12-31 23:59:59 (last UTCTime)", { 0x20, 0x49 }, 2,
	  2524607999, 1 },
};
#define N_RV (sizeof(rv_rows) / sizeof(rv_rows[0]))

static void
rv_array(struct ca_revoked *out)
{
	size_t i;

	memset(out, 0, N_RV * sizeof(*out));
	for (i = 0; i < N_RV; i++) {
		memcpy(out[i].serial, rv_rows[i].serial, rv_rows[i].len);
		out[i].serial_len = rv_rows[i].len;
		out[i].when = rv_rows[i].when;
		out[i].reason = rv_rows[i].reason;
	}
}

/* Everything a built CRL must be, read back three ways. */
struct crl_expect {
	const char *dir;
	struct ca *ca;
	const struct ca_revoked *rv;
	size_t n;
	uint64_t number;
	time_t this_update, next_update;
	int idp;	/* a shard's: with a critical IssuingDistributionPoint */
};

static void
check_crl(const struct ca_crl *crl, const struct crl_expect *e)
{
	gnutls_x509_crt_t cacrt = ca_cert_peek(e->ca);
	gnutls_x509_crl_t g, gp;
	gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 };
	struct parsed_crl pc;
	unsigned char serial[64], num[64], aki[64], ski[64];
	char hexs[64], line[128], *info;
	int matched[MAX_ENTRIES] = { 0 };
	size_t sz, i, j, nski;
	unsigned crit = 1, status = 99;
	time_t t;
	int ret, count;

	cr_assert_not_null(crl);
	cr_assert_not_null(crl->der);
	cr_assert_not_null(crl->pem);
	cr_assert_eq(crl->number, e->number);
	cr_assert_eq(crl->this_update, e->this_update);
	cr_assert_eq(crl->next_update, e->next_update);

	/* DER and PEM hold the same CRL. */
	g = crl_import(crl->der, crl->der_len, GNUTLS_X509_FMT_DER);
	gp = crl_import(crl->pem, strlen(crl->pem), GNUTLS_X509_FMT_PEM);
	cr_assert(strncmp(crl->pem, "-----BEGIN X509 CRL-----", 24) == 0,
	    "PEM label: %.30s", crl->pem);
	OK(gnutls_x509_crl_export2(gp, GNUTLS_X509_FMT_DER, &a));
	cr_assert(a.size == crl->der_len &&
	    memcmp(a.data, crl->der, a.size) == 0, "PEM and DER differ");
	gnutls_free(a.data);
	gnutls_x509_crl_deinit(gp);

	cr_assert_eq(gnutls_x509_crl_get_version(g), 2, "not a v2 CRL");

	/* Issuer is the CA subject; signed by the CA's key. */
	OK(gnutls_x509_crl_get_raw_issuer_dn(g, &a));
	OK(gnutls_x509_crt_get_raw_dn(cacrt, &b));
	cr_assert(a.size == b.size && memcmp(a.data, b.data, a.size) == 0,
	    "CRL issuer is not the CA subject");
	gnutls_free(a.data);
	gnutls_free(b.data);
	ret = gnutls_x509_crl_verify(g, &cacrt, 1, 0, &status);
	cr_assert(ret >= 0 && status == 0, "CRL does not verify (%d, status "
	    "0x%x)", ret, status);
	cr_assert_eq(gnutls_sign_get_pk_algorithm(
	    gnutls_x509_crl_get_signature_algorithm(g)),
	    gnutls_x509_crt_get_pk_algorithm(cacrt, NULL),
	    "CRL signature algorithm does not fit the CA key");

	/* Times. */
	cr_assert_eq(gnutls_x509_crl_get_this_update(g), e->this_update);
	cr_assert_eq(gnutls_x509_crl_get_next_update(g), e->next_update);

	/* CRL number, AKI. */
	sz = sizeof(num);
	OK(gnutls_x509_crl_get_number(g, num, &sz, &crit));
	cr_assert_eq(be_uint(num, sz), e->number, "CRLNumber %llu, want %llu",
	    (unsigned long long)be_uint(num, sz),
	    (unsigned long long)e->number);
	cr_assert_eq(crit, 0, "CRLNumber critical");
	sz = sizeof(aki);
	crit = 1;
	OK(gnutls_x509_crl_get_authority_key_id(g, aki, &sz, &crit));
	nski = th_ski(cacrt, ski);
	cr_assert(sz == nski && memcmp(aki, ski, sz) == 0,
	    "CRL AKI is not the CA SKI");
	cr_assert_eq(crit, 0, "CRL AKI critical");

	/* Entries, as GnuTLS reads them. */
	count = gnutls_x509_crl_get_crt_count(g);
	cr_assert_eq(count, (int)e->n, "%d entries, want %zu", count, e->n);
	for (i = 0; i < e->n; i++) {
		sz = sizeof(serial);
		OK(gnutls_x509_crl_get_crt_serial(g, (unsigned)i, serial, &sz,
		    &t));
		for (j = 0; j < e->n; j++)
			if (!matched[j] && e->rv[j].serial_len == sz &&
			    memcmp(e->rv[j].serial, serial, sz) == 0)
				break;
		cr_assert(j < e->n, "entry %zu: serial not revoked", i);
		matched[j] = 1;
		cr_assert_eq(t, e->rv[j].when, "entry %zu: time %lld, want "
		    "%lld", j, (long long)t, (long long)e->rv[j].when);
	}

	/* The DER itself: reason codes, encodings, extension set. */
	parse_crl(crl->der, crl->der_len, &pc);
	cr_assert_eq(pc.this_update, e->this_update);
	cr_assert(pc.has_next_update);
	cr_assert_eq(pc.next_update, e->next_update);
	cr_assert_eq(pc.n, e->n);
	memset(matched, 0, sizeof(matched));
	for (i = 0; i < pc.n; i++) {
		for (j = 0; j < e->n; j++)
			if (!matched[j] && pc.e[i].serial.n ==
			    e->rv[j].serial_len && memcmp(pc.e[i].serial.p,
			    e->rv[j].serial, pc.e[i].serial.n) == 0)
				break;
		cr_assert(j < e->n);
		matched[j] = 1;
		cr_assert_eq(pc.e[i].when, e->rv[j].when, "entry time %lld, "
		    "want %lld", (long long)pc.e[i].when,
		    (long long)e->rv[j].when);
		if (e->rv[j].reason == 0) {
			cr_assert_eq(pc.e[i].n_ext, 0, "reason 0 entry has "
			    "%d extensions (no reasonCode wanted)",
			    pc.e[i].n_ext);
		} else {
			cr_assert_eq(pc.e[i].reason, e->rv[j].reason,
			    "reasonCode %d, want %d", pc.e[i].reason,
			    e->rv[j].reason);
			cr_assert_eq(pc.e[i].n_ext, 1, "entry has %d "
			    "extensions", pc.e[i].n_ext);
			cr_assert_eq(pc.e[i].reason_critical, 0,
			    "reasonCode critical");
		}
	}
	cr_assert(der_uint_ok(&pc.number), "CRLNumber not a minimal positive "
	    "INTEGER");
	cr_assert_eq(be_uint(pc.number.p, pc.number.n), e->number);
	cr_assert_eq(pc.number_critical, 0);
	cr_assert(pc.has_aki);
	cr_assert_eq(pc.has_idp, e->idp, "critical IssuingDistributionPoint: "
	    "%d, want %d", pc.has_idp, e->idp);
	cr_assert_eq(pc.n_ext, 2 + e->idp, "CRL has %d extensions, want AKI "
	    "and CRLNumber%s", pc.n_ext, e->idp ? " and IDP" : "");

	/* certtool: verifies, and lists the entries. */
	cr_assert_eq(certtool_verify(e->dir, ca_cert_pem_peek(e->ca), crl->pem,
	    strlen(crl->pem)), 0, "certtool --verify-crl failed");
	info = certtool_info(e->dir, crl->der, crl->der_len);
	snprintf(line, sizeof(line), "Revoked certificates (%zu)", e->n);
	if (e->n > 0)
		cr_assert(strstr(info, line) != NULL, "certtool: no \"%s\":\n%s",
		    line, info);
	for (i = 0; i < e->n; i++) {
		hex(e->rv[i].serial, e->rv[i].serial_len, hexs);
		snprintf(line, sizeof(line), "Serial Number (hex): %s\n",
		    hexs);
		cr_assert(strstr(info, line) != NULL, "certtool does not list "
		    "%s", hexs);
	}
	free(info);
	gnutls_x509_crl_deinit(g);

	/* RFC 5280 5.1.2.6: with no entries the list MUST be absent. */
	cr_assert_eq(pc.has_list, e->n > 0, "revokedCertificates %s",
	    e->n ? "missing" : "present but empty (RFC 5280 5.1.2.6: MUST be "
	    "absent when nothing is revoked)");
}

/* ------------------------------------------------------------ tests */

static const char *const crl_key_types[] = { "ec:P-256", "ec:P-384",
	"rsa:2048", "ed25519", "ed448" };
#define N_CRL_KT (sizeof(crl_key_types) / sizeof(crl_key_types[0]))

ParameterizedTestParameters(crl, build_each_ca_key_type)
{
	static int rows[N_CRL_KT];
	size_t i;

	for (i = 0; i < N_CRL_KT; i++)
		rows[i] = (int)i;
	return cr_make_param_array(int, rows, N_CRL_KT);
}

ParameterizedTest(int *row, crl, build_each_ca_key_type, .timeout = 60)
{
	const char *kt = crl_key_types[*row];
	char *dir = th_tempdir();
	struct anvil_config *cfg = NULL;
	struct ca *ca = new_ca(dir, kt, &cfg);
	struct ca_revoked rv[N_RV];
	struct ca_crl *crl = NULL;
	struct crl_expect e;
	char err[1024] = "";
	time_t now = time(NULL);
	anvil_err rc;

	cr_log_info("CA key type %s", kt);
	rv_array(rv);
	e = (struct crl_expect){ dir, ca, rv, N_RV, 42, now - 60,
		now - 60 + 7 * 86400, 0 };
	rc = ca_crl_build(ca, rv, N_RV, 42, e.this_update, e.next_update, &crl,
	    err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "%s: ca_crl_build: %s", kt, err);
	check_crl(crl, &e);
	ca_crl_free(crl);

	/* Nothing revoked is a valid CRL too. */
	crl = NULL;
	e.n = 0;
	e.number = 43;
	rc = ca_crl_build(ca, rv, 0, 43, e.this_update, e.next_update, &crl,
	    err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "%s: empty ca_crl_build: %s", kt, err);
	check_crl(crl, &e);
	ca_crl_free(crl);

	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* The checks above can fail: a changed byte or another CA is refused. */
Test(crl, tampered_or_foreign_crl_does_not_verify)
{
	char *dir = th_tempdir(), *dir2 = th_tempdir();
	struct anvil_config *cfg = NULL, *cfg2 = NULL;
	struct ca *ca = new_ca(dir, "ec:P-256", &cfg);
	struct ca *other = new_ca(dir2, "ec:P-256", &cfg2);
	struct ca_revoked rv[N_RV];
	struct ca_crl *crl = NULL;
	gnutls_x509_crl_t g;
	gnutls_x509_crt_t ocrt = ca_cert_peek(other), cacrt = ca_cert_peek(ca);
	gnutls_datum_t pem = { NULL, 0 };
	unsigned char *der;
	unsigned status = 0;
	char err[512] = "";
	time_t now = time(NULL);
	int ret;

	rv_array(rv);
	cr_assert_eq(ca_crl_build(ca, rv, N_RV, 7, now - 60, now + 86400, &crl,
	    err, sizeof(err)), ANVIL_OK, "%s", err);

	/* Another CA of the same name does not verify it. */
	g = crl_import(crl->der, crl->der_len, GNUTLS_X509_FMT_DER);
	ret = gnutls_x509_crl_verify(g, &ocrt, 1, 0, &status);
	cr_assert(ret < 0 || status != 0, "verified by a foreign CA");
	cr_assert_neq(certtool_verify(dir, ca_cert_pem_peek(other), crl->pem,
	    strlen(crl->pem)), 0, "certtool verified with a foreign CA");
	gnutls_x509_crl_deinit(g);

	/* One flipped bit in the signature. */
	der = malloc(crl->der_len);
	memcpy(der, crl->der, crl->der_len);
	der[crl->der_len - 1] ^= 0x01;
	g = crl_import(der, crl->der_len, GNUTLS_X509_FMT_DER);
	status = 0;
	ret = gnutls_x509_crl_verify(g, &cacrt, 1, 0, &status);
	cr_assert(ret < 0 || status != 0, "tampered CRL verified");
	OK(gnutls_x509_crl_export2(g, GNUTLS_X509_FMT_PEM, &pem));
	cr_assert_neq(certtool_verify(dir, ca_cert_pem_peek(ca),
	    (char *)pem.data, pem.size), 0, "certtool verified a tampered CRL");
	gnutls_free(pem.data);
	gnutls_x509_crl_deinit(g);
	free(der);

	ca_crl_free(crl);
	ca_free(ca);
	ca_free(other);
	config_free(cfg);
	config_free(cfg2);
	th_rmrf(dir);
	th_rmrf(dir2);
	free(dir);
	free(dir2);
}

/*
 * thisUpdate and nextUpdate are taken as given, whatever the clock says: a
 * CRL prepared ahead of time, or one re-made for a past period, is still
 * well formed and correctly signed.
 */
Test(crl, build_keeps_given_times_past_and_future)
{
	static const struct {
		const char *desc;
		time_t this_off, next_off;	/* from now */
	} rows[] = {
		{ "current", -60, 86400 },
		{ "thisUpdate an hour ahead", 3600, 7 * 86400 },
		{ "next update already passed", -10 * 86400, -3 * 86400 },
	};
	char *dir = th_tempdir();
	struct anvil_config *cfg = NULL;
	struct ca *ca = new_ca(dir, "ec:P-256", &cfg);
	gnutls_x509_crt_t cacrt = ca_cert_peek(ca);
	struct ca_revoked rv[N_RV];
	time_t now = time(NULL);
	size_t i;

	rv_array(rv);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ca_crl *crl = NULL;
		gnutls_x509_crl_t g;
		time_t tu = now + rows[i].this_off, nu = now + rows[i].next_off;
		unsigned status = 99;
		char err[512] = "";
		anvil_err rc;

		rc = ca_crl_build(ca, rv, 3, 9, tu, nu, &crl, err, sizeof(err));
		cr_expect_eq(rc, ANVIL_OK, "[%s] ca_crl_build: %s",
		    rows[i].desc, err);
		if (rc != ANVIL_OK)
			continue;
		g = crl_import(crl->der, crl->der_len, GNUTLS_X509_FMT_DER);
		cr_expect_eq(gnutls_x509_crl_get_this_update(g), tu);
		cr_expect_eq(gnutls_x509_crl_get_next_update(g), nu);
		OK(gnutls_x509_crl_verify(g, &cacrt, 1,
		    GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status));
		/* GnuTLS flags the dates (superseded, issued in the future)
		 * even with time checks off; only the signature matters. */
		cr_expect_eq(status & GNUTLS_CERT_SIGNATURE_FAILURE, 0,
		    "[%s] signature status 0x%x", rows[i].desc, status);
		cr_expect_eq(status & ~(GNUTLS_CERT_INVALID |
		    GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED |
		    GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE), 0,
		    "[%s] status 0x%x", rows[i].desc, status);
		gnutls_x509_crl_deinit(g);
		ca_crl_free(crl);
	}
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* CRLNumber values, including ones whose top bit needs a 0x00 in DER. */
Test(crl, numbers_encoded_as_positive_integers)
{
	static const uint64_t numbers[] = { 1, 127, 128, 255, 256, 65535,
		0x0102030405060708ULL, 0x7fffffffffffffffULL,
		0x8000000000000000ULL, UINT64_MAX };
	char *dir = th_tempdir();
	struct anvil_config *cfg = NULL;
	struct ca *ca = new_ca(dir, "ec:P-256", &cfg);
	struct ca_revoked rv[N_RV];
	struct ca_crl *crl;
	struct crl_expect e;
	char err[512] = "";
	time_t now = time(NULL);
	size_t i;

	rv_array(rv);
	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		crl = NULL;
		e = (struct crl_expect){ dir, ca, rv, 2, numbers[i], now - 10,
			now + 3600, 0 };
		cr_assert_eq(ca_crl_build(ca, rv, 2, numbers[i], e.this_update,
		    e.next_update, &crl, err, sizeof(err)), ANVIL_OK,
		    "number %llu: %s", (unsigned long long)numbers[i], err);
		check_crl(crl, &e);
		ca_crl_free(crl);
	}
	ca_crl_free(NULL);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

Test(crl, reason_valid)
{
	static const struct {
		int r;
		int valid;
	} rows[] = {
		{ 0, 1 }, { 1, 1 }, { 2, 1 }, { 3, 1 }, { 4, 1 }, { 5, 1 },
		{ 6, 1 }, { 7, 0 }, { 8, 1 }, { 9, 1 }, { 10, 1 }, { 11, 0 },
		{ -1, 0 }, { 100, 0 }, { 255, 0 }, { 256, 0 }, { INT_MIN, 0 },
		{ INT_MAX, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		cr_expect_eq(!!ca_crl_reason_valid(rows[i].r), rows[i].valid,
		    "reason %d: valid %d", rows[i].r,
		    ca_crl_reason_valid(rows[i].r));
}

/* ------------------------------------------------------------ from store */

struct cert_rec {
	const char *id;		/* serial hex */
	int revoked;
	time_t when;
	int reason;
};

static const struct cert_rec store_certs[] = {
	{ "1a2b3c4d5e6f708192a3b4c5d6e7f801", 1, 1700001234, 1 },
	{ "0123456789abcdef0123456789abcdef", 0, 0, 0 },
	{ "7f00000000000000000000000000beef", 1, 1700005678, 0 },
	{ "55555555555555555555555555555555", 1, 1700009999, 4 },
};
#define N_STORE_CERTS (sizeof(store_certs) / sizeof(store_certs[0]))

static anvil_err
put_certs(struct store_txn *txn, void *arg)
{
	const struct cert_rec *recs = arg;
	anvil_err rc;
	json_t *rec;
	size_t i;

	for (i = 0; i < N_STORE_CERTS; i++) {
		if (recs[i].revoked)
			rec = json_pack("{s:s, s:s, s:{s:I, s:i}}", "account",
			    "acct-1", "status", "revoked", "revoked", "time",
			    (json_int_t)recs[i].when, "reason", recs[i].reason);
		else
			rec = json_pack("{s:s, s:s}", "account", "acct-1",
			    "status", "valid");
		if (rec == NULL)
			return ANVIL_ERR_NOMEM;
		rc = store_put(txn, STORE_CERT, recs[i].id, rec, 0);
		json_decref(rec);
		if (rc != ANVIL_OK)
			return rc;
	}
	return ANVIL_OK;
}

struct build_ctx {
	struct ca *ca;
	const struct anvil_config *cfg;
	time_t now;
	struct ca_crl *crl;
	anvil_err fail_after;	/* returned after building, to abort */
	char err[1024];
};

static anvil_err
build_in_txn(struct store_txn *txn, void *arg)
{
	struct build_ctx *c = arg;
	anvil_err rc;

	ca_crl_free(c->crl);	/* a retried transaction starts over */
	c->crl = NULL;
	rc = publish_crl_from_store(c->ca, txn, c->cfg, c->now, &c->crl, c->err,
	    sizeof(c->err));
	if (rc != ANVIL_OK)
		return rc;
	return c->fail_after;
}

static anvil_err
read_counter(struct store_txn *txn, void *arg)
{
	return store_counter_get(txn, "crl_number", arg);
}

static void
unhex(const char *s, unsigned char *out, size_t *n)
{
	size_t i, len = strlen(s);

	for (i = 0; i < len / 2; i++) {
		unsigned v;

		cr_assert_eq(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (unsigned char)v;
	}
	*n = len / 2;
}

static struct ca_crl *
build_from_store(struct store *st, struct build_ctx *c)
{
	struct ca_crl *crl;
	char err[1024] = "";
	anvil_err rc;

	c->crl = NULL;
	rc = store_run(st, 0, build_in_txn, c, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "publish_crl_from_store: %s / %s (%s)",
	    c->err, err, anvil_strerror(rc));
	crl = c->crl;
	c->crl = NULL;
	return crl;
}

Test(crl, from_store_lists_revoked_and_numbers_grow, .timeout = 60)
{
	char *dir = th_tempdir();
	struct anvil_config *cfg = NULL;
	struct ca *ca = new_ca(dir, "ec:P-256", &cfg);
	struct store *st = NULL;
	struct ca_revoked want[N_STORE_CERTS];
	struct build_ctx bc;
	struct crl_expect e;
	struct ca_crl *crl;
	char err[1024] = "";
	uint64_t counter = 0;
	size_t i, n = 0;
	anvil_err rc;

	cr_assert_eq(cfg->crl_validity_hours, 24);
	rc = store_open(dir, STORE_OPEN_CREATE, &st, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "store_open: %s", err);
	rc = store_run(st, 0, put_certs, (void *)store_certs, err,
	    sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "put: %s", err);

	memset(want, 0, sizeof(want));
	for (i = 0; i < N_STORE_CERTS; i++) {
		if (!store_certs[i].revoked)
			continue;
		unhex(store_certs[i].id, want[n].serial, &want[n].serial_len);
		want[n].when = store_certs[i].when;
		want[n].reason = store_certs[i].reason;
		n++;
	}

	memset(&bc, 0, sizeof(bc));
	bc.ca = ca;
	bc.cfg = cfg;
	bc.now = time(NULL) - 120;
	e = (struct crl_expect){ dir, ca, want, n, 1, bc.now,
		bc.now + 24 * 3600, 0 };

	crl = build_from_store(st, &bc);
	check_crl(crl, &e);
	ca_crl_free(crl);

	/* A build whose transaction is aborted publishes nothing... */
	bc.fail_after = ANVIL_ERR_INVALID;
	rc = store_run(st, 0, build_in_txn, &bc, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_ERR_INVALID);
	ca_crl_free(bc.crl);
	bc.crl = NULL;
	bc.fail_after = ANVIL_OK;

	/* ...so the next one is number 2. */
	bc.now += 60;
	e.this_update = bc.now;
	e.next_update = bc.now + 24 * 3600;
	e.number = 2;
	crl = build_from_store(st, &bc);
	check_crl(crl, &e);
	ca_crl_free(crl);

	cr_assert_eq(store_run(st, 0, read_counter, &counter, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_eq(counter, 2, "crl_number counter %llu",
	    (unsigned long long)counter);

	store_close(st);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

Test(crl, from_empty_store_is_valid)
{
	char *dir = th_tempdir();
	struct anvil_config *cfg = NULL;
	struct ca *ca = new_ca(dir, "ed25519", &cfg);
	struct store *st = NULL;
	struct build_ctx bc;
	struct crl_expect e;
	struct ca_crl *crl;
	char err[1024] = "";

	cr_assert_eq(store_open(dir, STORE_OPEN_CREATE, &st, err,
	    sizeof(err)), ANVIL_OK, "store_open: %s", err);
	memset(&bc, 0, sizeof(bc));
	bc.ca = ca;
	bc.cfg = cfg;
	bc.now = time(NULL) - 120;
	e = (struct crl_expect){ dir, ca, NULL, 0, 1, bc.now,
		bc.now + 24 * 3600, 0 };
	crl = build_from_store(st, &bc);
	check_crl(crl, &e);
	ca_crl_free(crl);

	/* Unrevoked certificates do not make entries. */
	{
		static const struct cert_rec live[N_STORE_CERTS] = {
			{ "0a", 0, 0, 0 }, { "0b", 0, 0, 0 },
			{ "0c", 0, 0, 0 }, { "0d", 0, 0, 0 },
		};
		cr_assert_eq(store_run(st, 0, put_certs, (void *)live, err,
		    sizeof(err)), ANVIL_OK, "%s", err);
	}
	bc.now += 1;
	e.this_update = bc.now;
	e.next_update = bc.now + 24 * 3600;
	e.number = 2;
	crl = build_from_store(st, &bc);
	check_crl(crl, &e);
	ca_crl_free(crl);

	store_close(st);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* ------------------------------------------------------------ nonce key */

/* The number of entries of dir whose name starts with prefix. */
static int
count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "opendir %s", dir);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static const struct nonce_plant {
	const char *desc;
	int dangling;	/* the symlink points at a file that is not there */
} nonce_plants[] = {
	{ "symlink to an existing file", 0 },
	{ "dangling symlink (would create its target)", 1 },
};

/*
 * Earlier versions created data_dir/nonce.key.<pid> with O_CREAT|O_TRUNC
 * and no O_EXCL: a symlink there was truncated and written through. Plant
 * one at that name (this process's pid) and the key must still be made,
 * the victim untouched, and no temporary file left behind.
 */
static void
nonce_plant_check(const struct nonce_plant *row)
{
	char *dir = th_tempdir(), *victim = NULL, *planted = NULL;
	char *keypath = NULL, *buf = NULL;
	struct anvil_config *cfg = th_config(dir, NULL);
	struct acme_ctx ctx;
	unsigned char first[ACME_NONCE_KEY_LEN];
	char err[512] = "";
	struct stat sb;
	size_t len = 0;
	FILE *f;

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	cr_assert(asprintf(&victim, "%s/victim", dir) > 0);
	cr_assert(asprintf(&planted, "%s/nonce.key.%ld", dir,
	    (long)getpid()) > 0);
	cr_assert(asprintf(&keypath, "%s/nonce.key", dir) > 0);
	if (!row->dangling) {
		cr_assert_not_null(f = fopen(victim, "w"));
		fputs("victim\n", f);
		fclose(f);
	}
	cr_assert_eq(symlink(victim, planted), 0, "symlink: %s",
	    strerror(errno));

	cr_assert_eq(acme_nonce_key_load(&ctx, err, sizeof(err)), ANVIL_OK,
	    "%s: acme_nonce_key_load: %s", row->desc, err);
	if (row->dangling)
		cr_assert(lstat(victim, &sb) != 0 && errno == ENOENT,
		    "%s: the symlink's target was created", row->desc);
	else {
		cr_assert_eq(util_read_file(victim, 64, &buf, &len, err,
		    sizeof(err)), ANVIL_OK, "%s", err);
		cr_assert(len == 7 && memcmp(buf, "victim\n", 7) == 0,
		    "%s: the victim was written through", row->desc);
		free(buf);
		buf = NULL;
	}
	cr_assert_eq(lstat(planted, &sb), 0, "%s: the planted symlink is "
	    "gone", row->desc);
	cr_assert(S_ISLNK(sb.st_mode), "%s: the planted symlink was replaced",
	    row->desc);
	cr_assert_eq(lstat(keypath, &sb), 0, "no nonce.key");
	cr_assert(S_ISREG(sb.st_mode) && (sb.st_mode & 07777) == 0600,
	    "%s: nonce.key is not a 0600 file (mode %o)", row->desc,
	    (unsigned)sb.st_mode);
	cr_assert_eq(sb.st_size, ACME_NONCE_KEY_LEN);
	cr_assert_eq(count_prefixed(dir, "nonce.key.tmp-"), 0,
	    "%s: a temporary file was left", row->desc);

	/* A second process finds the same key. */
	memcpy(first, ctx.nonce_key, sizeof(first));
	memset(ctx.nonce_key, 0, sizeof(ctx.nonce_key));
	cr_assert_eq(acme_nonce_key_load(&ctx, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	cr_assert_arr_eq(ctx.nonce_key, first, sizeof(first));

	config_free(cfg);
	th_rmrf(dir);
	free(victim);
	free(planted);
	free(keypath);
	free(dir);
}

Test(nonce_key, temp_file_never_follows_a_symlink)
{
	size_t i;

	for (i = 0; i < sizeof(nonce_plants) / sizeof(nonce_plants[0]); i++)
		nonce_plant_check(&nonce_plants[i]);
}

/*
 * A CRL past CRL_FULL_CHECK entries (src/ca/crl.c) takes the other
 * read-back: GnuTLS and certtool still read every entry with its serial,
 * date and reason; a serial whose first byte has its top bit set gets
 * the leading zero of a positive INTEGER, and a date from 2050 on is a
 * GeneralizedTime (RFC 5280 5.1.2.4).
 */
Test(crl, large_crl_reads_back_whole, .timeout = 120)
{
	enum { N = 10001 };
	char *dir = th_tempdir();
	struct anvil_config *cfg = NULL;
	struct ca *ca = new_ca(dir, "ec:P-256", &cfg);
	gnutls_x509_crt_t cacrt = ca_cert_peek(ca);
	struct ca_revoked *rv = calloc(N, sizeof(*rv));
	struct ca_crl *crl = NULL;
	gnutls_x509_crl_t g;
	unsigned char serial[32];
	size_t slen;
	time_t when, now = time(NULL);
	unsigned status = 1;
	char err[512] = "";
	size_t i;

	cr_assert_not_null(rv);
	for (i = 0; i < N; i++) {
		rv[i].serial[0] = i == 0 ? 0x80 : 0x11;
		rv[i].serial[1] = (unsigned char)(i >> 8);
		rv[i].serial[2] = (unsigned char)i;
		rv[i].serial_len = 3;
		rv[i].when = i == 1 ? (time_t)2556144000LL : now - 3600;
		rv[i].reason = i % 2 ? 1 : 0;
	}
	cr_assert_eq(ca_crl_build(ca, rv, N, 11, now - 60, now + 86400, &crl,
	    err, sizeof(err)), ANVIL_OK, "%s", err);
	g = crl_import(crl->der, crl->der_len, GNUTLS_X509_FMT_DER);
	cr_expect_eq(gnutls_x509_crl_get_crt_count(g), N);
	cr_expect_eq(gnutls_x509_crl_verify(g, &cacrt, 1, 0, &status), 0);
	cr_expect_eq(status, 0);
	slen = sizeof(serial);
	cr_assert_eq(gnutls_x509_crl_get_crt_serial(g, 0, serial, &slen,
	    &when), 0);
	cr_expect(slen == 4 && serial[0] == 0 && serial[1] == 0x80,
	    "serial 0x80.. as %zu bytes, first %02x", slen, serial[0]);
	slen = sizeof(serial);
	cr_assert_eq(gnutls_x509_crl_get_crt_serial(g, 1, serial, &slen,
	    &when), 0);
	cr_expect_eq(when, (time_t)2556144000LL, "2051 date read as %lld",
	    (long long)when);
	gnutls_x509_crl_deinit(g);
	cr_expect_eq(certtool_verify(dir, ca_cert_pem_peek(ca), crl->pem,
	    strlen(crl->pem)), 0, "certtool refused the large CRL");
	ca_crl_free(crl);
	free(rv);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* ------------------------------------------------------- shard CRLs (IDP) */

/*
 * IssuingDistributionPoint as RFC 5280 5.2.5 (and its appendix A.2 module,
 * implicit tags) has it, for libtasn1 to read back what src/ca/crl.c
 * encodes by hand; nameRelativeToCRLIssuer is left out, as a shard names
 * its full URL. A tag on a CHOICE is explicit (X.680 31.2.7), which
 * libtasn1 wants spelt out.
 */
static const char idp_asn[] =
    "TestIDP DEFINITIONS IMPLICIT TAGS ::=\n"
    "BEGIN\n"
    "IssuingDistributionPoint ::= SEQUENCE {\n"
    "  distributionPoint [0] EXPLICIT DistributionPointName OPTIONAL,\n"
    "  onlyContainsUserCerts [1] BOOLEAN DEFAULT FALSE,\n"
    "  onlyContainsCACerts [2] BOOLEAN DEFAULT FALSE,\n"
    "  onlySomeReasons [3] BIT STRING OPTIONAL,\n"
    "  indirectCRL [4] BOOLEAN DEFAULT FALSE,\n"
    "  onlyContainsAttributeCerts [5] BOOLEAN DEFAULT FALSE }\n"
    "DistributionPointName ::= CHOICE {\n"
    "  fullName [0] GeneralNames }\n"
    "GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName\n"
    "GeneralName ::= CHOICE {\n"
    "  dNSName [2] IA5String,\n"
    "  uniformResourceIdentifier [6] IA5String }\n"
    "END\n";

/*
 * The IssuingDistributionPoint of a CRL, read with GnuTLS (extension list)
 * and libtasn1 (its value): 1 and its URI in uri when there is one,
 * critical, with onlyContainsUserCerts and nothing else; 0 when the CRL
 * has no IDP.
 */
static int
idp_of(const char *dir, const struct ca_crl *crl, char *uri, size_t urilen)
{
	gnutls_x509_crl_t g = crl_import(crl->der, crl->der_len,
	    GNUTLS_X509_FMT_DER);
	asn1_node defs = NULL, idp = NULL;
	char oid[128], path[4096], msg[ASN1_MAX_ERROR_DESCRIPTION_SIZE] = "";
	char val[64];
	gnutls_datum_t data = { NULL, 0 };
	unsigned crit = 0, i, found = 0;
	size_t sz;
	int len, ret;

	for (i = 0;; i++) {
		sz = sizeof(oid);
		ret = gnutls_x509_crl_get_extension_info(g, i, oid, &sz, &crit);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		OK(ret);
		if (strcmp(oid, "2.5.29.28") != 0)
			continue;
		cr_assert_eq(found, 0, "two IssuingDistributionPoints");
		cr_assert_eq(crit, 1, "IssuingDistributionPoint not critical");
		OK(gnutls_x509_crl_get_extension_data2(g, i, &data));
		found = 1;
	}
	gnutls_x509_crl_deinit(g);
	if (!found)
		return 0;
	snprintf(path, sizeof(path), "%s/idp.asn", dir);
	th_write_file(path, idp_asn, strlen(idp_asn));
	cr_assert_eq(asn1_parser2tree(path, &defs, msg), ASN1_SUCCESS, "%s",
	    msg);
	cr_assert_eq(asn1_create_element(defs,
	    "TestIDP.IssuingDistributionPoint", &idp), ASN1_SUCCESS);
	cr_assert_eq(asn1_der_decoding(&idp, data.data, (int)data.size, msg),
	    ASN1_SUCCESS, "IDP does not decode: %s", msg);
	len = sizeof(val) - 1;
	cr_assert_eq(asn1_read_value(idp, "distributionPoint", val, &len),
	    ASN1_SUCCESS, "no distributionPoint");
	val[len] = '\0';
	cr_assert_str_eq(val, "fullName");
	cr_assert_eq(asn1_number_of_elements(idp,
	    "distributionPoint.fullName", &ret), ASN1_SUCCESS);
	cr_assert_eq(ret, 1, "%d names in fullName", ret);
	len = sizeof(val) - 1;
	cr_assert_eq(asn1_read_value(idp, "distributionPoint.fullName.?1",
	    val, &len), ASN1_SUCCESS);
	val[len] = '\0';
	cr_assert_str_eq(val, "uniformResourceIdentifier");
	len = (int)urilen - 1;
	cr_assert_eq(asn1_read_value(idp, "distributionPoint.fullName.?1."
	    "uniformResourceIdentifier", uri, &len), ASN1_SUCCESS);
	uri[len] = '\0';
	len = sizeof(val) - 1;
	cr_assert_eq(asn1_read_value(idp, "onlyContainsUserCerts", val, &len),
	    ASN1_SUCCESS);
	val[len] = '\0';
	cr_assert_str_eq(val, "TRUE", "onlyContainsUserCerts");
	len = sizeof(val) - 1;
	ret = asn1_read_value(idp, "onlySomeReasons", val, &len);
	cr_assert(ret == ASN1_ELEMENT_NOT_FOUND || ret == ASN1_VALUE_NOT_FOUND,
	    "onlySomeReasons present");
	len = sizeof(val) - 1;
	cr_assert_eq(asn1_read_value(idp, "indirectCRL", val, &len),
	    ASN1_SUCCESS);
	val[len] = '\0';
	cr_assert_str_eq(val, "FALSE", "indirectCRL");
	asn1_delete_structure(&idp);
	asn1_delete_structure(&defs);
	gnutls_free(data.data);
	return 1;
}

/*
 * A shard's CRL (issue 20 part 2) names its URL in a critical
 * IssuingDistributionPoint, for a short URL and one past 127 bytes (long
 * DER lengths), with entries and without; it still verifies with GnuTLS
 * and certtool. The full CRL (no idp_url) has none. A URL that is not
 * printable ASCII or is too long is refused.
 */
Test(crl, shard_crl_carries_a_critical_idp, .timeout = 60)
{
	char *dir = th_tempdir();
	struct anvil_config *cfg = NULL;
	struct ca *ca = new_ca(dir, "ec:P-256", &cfg);
	struct ca_revoked rv[N_RV];
	struct ca_crl *crl = NULL;
	struct crl_expect e;
	char longurl[300], uri[CA_CRL_IDP_URL_MAX + 16], err[1024] = "";
	char *big;
	const char *urls[2];
	time_t now = time(NULL);
	size_t u, n;

	rv_array(rv);
	memset(longurl, 0, sizeof(longurl));
	memcpy(longurl, "http://crl.example.test/", 24);
	memset(longurl + 24, 'p', 200);
	memcpy(longurl + 224, "/anvil-s1024.crl", 16);
	urls[0] = "http://crl.example.test/anvil-s3.crl";
	urls[1] = longurl;
	for (u = 0; u < 2; u++)
		for (n = 0; n <= N_RV; n += N_RV) {
			e = (struct crl_expect){ dir, ca, rv, n, 7 + u, now - 60,
				now + 3600, 1 };
			cr_assert_eq(ca_crl_build_idp(ca, rv, n, e.number,
			    e.this_update, e.next_update, urls[u], &crl, err,
			    sizeof(err)), ANVIL_OK, "%s", err);
			check_crl(crl, &e);
			cr_assert_eq(idp_of(dir, crl, uri, sizeof(uri)), 1,
			    "no IssuingDistributionPoint");
			cr_expect_str_eq(uri, urls[u]);
			ca_crl_free(crl);
			crl = NULL;
		}

	cr_assert_eq(ca_crl_build_idp(ca, rv, N_RV, 9, now - 60, now + 3600,
	    NULL, &crl, err, sizeof(err)), ANVIL_OK, "%s", err);
	cr_expect_eq(idp_of(dir, crl, uri, sizeof(uri)), 0,
	    "the full CRL has an IssuingDistributionPoint");
	ca_crl_free(crl);
	crl = NULL;

	cr_expect_eq(ca_crl_build_idp(ca, rv, N_RV, 9, now - 60, now + 3600,
	    "http://a.test/x y.crl", &crl, err, sizeof(err)),
	    ANVIL_ERR_INVALID, "a space in the URL");
	cr_expect_null(crl);
	cr_expect_eq(ca_crl_build_idp(ca, rv, N_RV, 9, now - 60, now + 3600,
	    "", &crl, err, sizeof(err)), ANVIL_ERR_INVALID, "an empty URL");
	big = malloc(CA_CRL_IDP_URL_MAX + 2);
	cr_assert_not_null(big);
	memset(big, 'a', CA_CRL_IDP_URL_MAX + 1);
	big[CA_CRL_IDP_URL_MAX + 1] = '\0';
	cr_expect_eq(ca_crl_build_idp(ca, rv, N_RV, 9, now - 60, now + 3600,
	    big, &crl, err, sizeof(err)), ANVIL_ERR_INVALID, "a long URL");
	cr_expect_null(crl);
	free(big);

	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/* A revoked certificate record in shard k (0: issued unsharded). */
struct shard_rec {
	const char *id;
	unsigned shard;
	int revoked;
};

static const struct shard_rec shard_recs[] = {
	{ "51", 1, 1 }, { "52", 2, 1 }, { "53", 2, 1 }, { "54", 3, 0 },
	{ "55", 0, 1 }, { "56", 4, 1 }, { "57", 1, 0 },
};
#define N_SHARD_RECS (sizeof(shard_recs) / sizeof(shard_recs[0]))

static anvil_err
put_shard_recs(struct store_txn *txn, void *arg)
{
	const struct shard_rec *extra = arg;
	json_t *rec;
	anvil_err rc;
	size_t i;

	for (i = 0; i < N_SHARD_RECS + (extra != NULL); i++) {
		const struct shard_rec *r = i < N_SHARD_RECS ? &shard_recs[i] :
		    extra;

		if (r->revoked)
			rec = json_pack("{s:s, s:s, s:{s:I, s:i}}", "account",
			    "acct-1", "status", "revoked", "revoked", "time",
			    (json_int_t)time(NULL) - 600, "reason", 1);
		else
			rec = json_pack("{s:s, s:s}", "account", "acct-1",
			    "status", "valid");
		cr_assert_not_null(rec);
		if (r->shard != 0)
			cr_assert_eq(rec_cert_set_crl_shard(rec, r->shard),
			    ANVIL_OK);
		rc = store_put(txn, STORE_CERT, r->id, rec, 0);
		json_decref(rec);
		if (rc != ANVIL_OK)
			return rc;
	}
	return ANVIL_OK;
}

struct crls_ctx {
	struct ca *ca;
	const struct anvil_config *cfg;
	struct publish_crls *crls;
	char err[1024];
};

static anvil_err
crls_in_txn(struct store_txn *txn, void *arg)
{
	struct crls_ctx *c = arg;

	publish_crls_free(c->crls);
	c->crls = NULL;
	return publish_crls_from_store(c->ca, txn, c->cfg, time(NULL) - 60,
	    &c->crls, c->err, sizeof(c->err));
}

/* The serials (hex, one byte each here) a CRL lists, sorted, as "51 52". */
static void
crl_serials(const struct ca_crl *crl, char *out, size_t len)
{
	gnutls_x509_crl_t g = crl_import(crl->der, crl->der_len,
	    GNUTLS_X509_FMT_DER);
	int n = gnutls_x509_crl_get_crt_count(g), i;
	unsigned char serial[32];
	unsigned vals[64], v, j;
	size_t sl, at = 0;
	time_t t;

	cr_assert(n >= 0 && n < 64);
	for (i = 0; i < n; i++) {
		sl = sizeof(serial);
		OK(gnutls_x509_crl_get_crt_serial(g, (unsigned)i, serial, &sl,
		    &t));
		cr_assert_eq(sl, 1);
		/* insertion sort: a handful of entries */
		for (v = serial[0], j = (unsigned)i; j > 0 && vals[j - 1] > v;
		    j--)
			vals[j] = vals[j - 1];
		vals[j] = v;
	}
	out[0] = '\0';
	for (i = 0; i < n; i++)
		at += (size_t)snprintf(out + at, len - at, "%s%02x",
		    i ? " " : "", vals[i]);
	gnutls_x509_crl_deinit(g);
}

/*
 * Issue 20 part 2 from a real store: with [crl] shards = 4 each shard's
 * CRL lists exactly the revoked certificates whose record names it, the
 * full CRL all of them (those issued unsharded too); each shard has its
 * own CRLNumber, raised per run, and names its URL in the IDP. Lowered to
 * shards = 2, all four are still signed; a revoked record in shard 6
 * makes six.
 */
Test(crl, shards_from_store, .timeout = 60)
{
	static const char *const want[] = { "51", "52 53", "", "56" };
	char *dir = th_tempdir();
	struct anvil_config *cfg;
	struct store *st = NULL;
	struct ca *ca = NULL;
	struct crls_ctx c;
	char err[1024] = "", got[256], uri[512], url[512];
	const struct shard_rec six = { "60", 6, 1 };
	unsigned k, run;

	cfg = th_config(dir, "[issuance]\n"
	    "crl_url = http://crl.test/pub/anvil.crl\n[crl]\nshards = 4\n");
	cr_assert_eq(ca_load_or_generate(cfg, &ca, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert_eq(store_open(dir, STORE_OPEN_CREATE, &st, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_eq(store_run(st, 0, put_shard_recs, NULL, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	memset(&c, 0, sizeof(c));
	c.ca = ca;
	c.cfg = cfg;
	for (run = 1; run <= 2; run++) {
		cr_assert_eq(store_run(st, 0, crls_in_txn, &c, err,
		    sizeof(err)), ANVIL_OK, "%s / %s", c.err, err);
		cr_assert_eq(c.crls->nshards, 4);
		crl_serials(c.crls->full, got, sizeof(got));
		cr_expect_str_eq(got, "51 52 53 55 56", "full CRL");
		cr_expect_eq(idp_of(dir, c.crls->full, uri, sizeof(uri)), 0);
		cr_expect_eq(c.crls->full->number, run);
		for (k = 1; k <= 4; k++) {
			const struct ca_crl *s = c.crls->shard[k - 1];

			crl_serials(s, got, sizeof(got));
			cr_expect_str_eq(got, want[k - 1], "shard %u", k);
			cr_expect_eq(s->number, run, "shard %u run %u: "
			    "number %llu", k, run,
			    (unsigned long long)s->number);
			cr_assert_eq(idp_of(dir, s, uri, sizeof(uri)), 1);
			snprintf(url, sizeof(url),
			    "http://crl.test/pub/anvil-s%u.crl", k);
			cr_expect_str_eq(uri, url);
			cr_assert_eq(certtool_verify(dir, ca_cert_pem_peek(ca),
			    s->pem, strlen(s->pem)), 0, "certtool: shard %u",
			    k);
		}
	}
	/* Lowered: the shards signed before keep being signed. */
	cfg->crl_shards = 2;
	cr_assert_eq(store_run(st, 0, crls_in_txn, &c, err, sizeof(err)),
	    ANVIL_OK, "%s / %s", c.err, err);
	cr_expect_eq(c.crls->nshards, 4, "lowered to 2: %u shards",
	    c.crls->nshards);
	cr_expect_eq(c.crls->shard[3]->number, 3);

	/* A revoked certificate of shard 6 gets its CRL. */
	cr_assert_eq(store_run(st, 0, put_shard_recs, (void *)&six, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_eq(store_run(st, 0, crls_in_txn, &c, err, sizeof(err)),
	    ANVIL_OK, "%s / %s", c.err, err);
	cr_assert_eq(c.crls->nshards, 6);
	crl_serials(c.crls->shard[5], got, sizeof(got));
	cr_expect_str_eq(got, "60");
	crl_serials(c.crls->shard[4], got, sizeof(got));
	cr_expect_str_eq(got, "");
	cr_expect_eq(c.crls->shard[5]->number, 1);
	cr_expect_eq(c.crls->shard[0]->number, 4);

	publish_crls_free(c.crls);
	store_close(st);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}

/*
 * publish_crls_write: with crl_url .../ca.crl and shards = 2 the folder
 * holds ca-s1.crl, ca-s2.crl (and .pem), the full CRL as anvil.crl and
 * as ca.crl (crl_url's own name), ca.crt and ca.pem; a temporary file a
 * killed run left under one of those names is removed, anything else in
 * the folder is not.
 */
Test(crl, shards_written_under_crl_urls_stem, .timeout = 60)
{
	static const char *const names[] = { "ca-s1.crl", "ca-s1.crl.pem",
		"ca-s2.crl", "ca-s2.crl.pem", "anvil.crl", "anvil.crl.pem",
		"ca.crl", "ca.crl.pem", "ca.crt", "ca.pem" };
	char *dir = th_tempdir(), out[4096], path[4200], err[1024] = "";
	char uri[512], full[4200];
	struct anvil_config *cfg;
	struct publish_crls *crls = NULL;
	struct store *st = NULL;
	struct ca *ca = NULL;
	struct ca_crl c;
	struct stat sb;
	char *buf = NULL;
	size_t i, len = 0;

	cfg = th_config(dir, "[issuance]\n"
	    "crl_url = http://crl.test/x/ca.crl\n[crl]\nshards = 2\n");
	cr_assert_eq(ca_load_or_generate(cfg, &ca, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert_eq(store_open(dir, STORE_OPEN_CREATE, &st, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	snprintf(out, sizeof(out), "%s/pub", dir);
	cr_assert_eq(mkdir(out, 0755), 0);
	snprintf(path, sizeof(path), "%s/ca-s1.crl.tmp-0123abcd", out);
	th_write_file(path, "half", 4);
	snprintf(path, sizeof(path), "%s/notes.tmp-0123abcd", out);
	th_write_file(path, "mine", 4);
	cr_assert_eq(publish_crls_build(st, ca, cfg, time(NULL), &crls, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_eq(crls->nshards, 2);
	cr_assert_eq(publish_crls_write(out, ca, cfg, crls, full, sizeof(full),
	    err, sizeof(err)), ANVIL_OK, "%s", err);
	cr_expect_not_null(strstr(full, "/anvil.crl"), "%s", full);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", out, names[i]);
		cr_expect(stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    sb.st_size > 0, "%s not written", names[i]);
	}
	snprintf(path, sizeof(path), "%s/ca-s1.crl.tmp-0123abcd", out);
	cr_expect(stat(path, &sb) != 0, "a killed run's temporary file stays");
	snprintf(path, sizeof(path), "%s/notes.tmp-0123abcd", out);
	cr_expect(stat(path, &sb) == 0, "a file not anvil-crl's was removed");

	/* ca-s2.crl is shard 2's, and names its own URL. */
	snprintf(path, sizeof(path), "%s/ca-s2.crl", out);
	cr_assert_eq(util_read_file(path, 1 << 20, &buf, &len, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert(len == crls->shard[1]->der_len &&
	    memcmp(buf, crls->shard[1]->der, len) == 0, "ca-s2.crl differs");
	memset(&c, 0, sizeof(c));
	c.der = (unsigned char *)buf;
	c.der_len = len;
	cr_assert_eq(idp_of(dir, &c, uri, sizeof(uri)), 1);
	cr_expect_str_eq(uri, "http://crl.test/x/ca-s2.crl");
	free(buf);
	snprintf(path, sizeof(path), "%s/ca.crl", out);
	cr_assert_eq(util_read_file(path, 1 << 20, &buf, &len, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert(len == crls->full->der_len &&
	    memcmp(buf, crls->full->der, len) == 0, "ca.crl is not the full CRL");
	free(buf);

	publish_crls_free(crls);
	store_close(st);
	ca_free(ca);
	config_free(cfg);
	th_rmrf(dir);
	free(dir);
}
