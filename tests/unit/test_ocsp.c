/*
 * test_ocsp.c - OCSP (src/ca/ocsp.c): responder issue and load, requests
 * read, responses built and read back by GnuTLS (signature, status,
 * reason, times, nonce), and a table of hostile requests, each answered
 * with a clear OCSP error status; then src/publish's side: live answers
 * from a store, pre-signed files, the refresh after a revocation, the
 * sweep of answers no longer signed.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/ocsp.h>
#include <gnutls/x509.h>

#include "ca/ca.h"
#include "core/conf.h"
#include "core/util.h"
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

static char *dir;
static struct anvil_config *cfg;
static struct ca *ca;
static struct ca_ocsp_signer *signer;
static char *leaf_pem;
static gnutls_x509_crt_t leaf;

/* A leaf certificate of ca with serial 0x11 0x22 ... (16 bytes). */
static void
make_leaf(void)
{
	gnutls_x509_privkey_t k = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	unsigned char serial[16];
	size_t i;

	for (i = 0; i < sizeof(serial); i++)
		serial[i] = (unsigned char)(0x11 * (i % 7 + 1));
	OK(gnutls_x509_privkey_init(&k));
	OK(gnutls_x509_privkey_generate(k, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0));
	OK(gnutls_x509_crt_init(&crt));
	OK(gnutls_x509_crt_set_version(crt, 3));
	OK(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)));
	OK(gnutls_x509_crt_set_key(crt, k));
	OK(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    "leaf.test", 9));
	OK(gnutls_x509_crt_set_activation_time(crt, time(NULL)));
	OK(gnutls_x509_crt_set_expiration_time(crt, time(NULL) + 86400));
	OK(gnutls_x509_crt_privkey_sign(crt, ca_cert_peek(ca),
	    ca_key_peek(ca), GNUTLS_DIG_SHA256, 0));
	OK(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem));
	leaf_pem = strndup((char *)pem.data, pem.size);
	gnutls_free(pem.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(k);
	OK(gnutls_x509_crt_init(&leaf));
	pem.data = (unsigned char *)leaf_pem;
	pem.size = (unsigned)strlen(leaf_pem);
	OK(gnutls_x509_crt_import(leaf, &pem, GNUTLS_X509_FMT_PEM));
}

static void
setup_with(const char *extra)
{
	char err[512] = "";

	dir = th_tempdir();
	cfg = th_config(dir, extra);
	cr_assert_eq(ca_load_or_generate(cfg, &ca, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	cr_assert_eq(ca_ocsp_signer_load(cfg, ca, time(NULL), &signer, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	make_leaf();
}

static void
setup(void)
{
	setup_with(NULL);
}

static void
setup_by_ca(void)
{
	setup_with("[ocsp]\nsign_with_ca = true\n");
}

static void
teardown(void)
{
	ca_ocsp_signer_free(signer);
	ca_free(ca);
	config_free(cfg);
	if (leaf != NULL)
		gnutls_x509_crt_deinit(leaf);
	free(leaf_pem);
	th_rmrf(dir);
	free(dir);
	signer = NULL;
	ca = NULL;
	cfg = NULL;
	leaf = NULL;
	leaf_pem = NULL;
	dir = NULL;
}

/* Parses req, answers every CertID with st, returns the DER response. */
static gnutls_datum_t
answer(const unsigned char *req, size_t len, enum ca_ocsp_cert_status st,
    int reason)
{
	struct ca_ocsp_req r;
	struct ca_ocsp_single v[CA_OCSP_MAX_CERTIDS];
	unsigned char *der = NULL;
	size_t dlen = 0, i;
	time_t now = time(NULL);
	char err[512] = "";
	gnutls_datum_t out;

	cr_assert_eq(ca_ocsp_req_parse(signer, req, len, &r),
	    CA_OCSP_SUCCESSFUL);
	for (i = 0; i < r.n; i++) {
		v[i].id = &r.ids[i];
		v[i].status = st;
		v[i].revoked_at = now - 60;
		v[i].reason = reason;
	}
	cr_assert_eq(ca_ocsp_resp_build(signer, v, r.n, r.nonce, r.nonce_len,
	    now, now + 3600, &der, &dlen, err, sizeof(err)), ANVIL_OK, "%s",
	    err);
	out.data = der;
	out.size = (unsigned)dlen;
	return out;
}

/* Imports d and checks its signature against the CA (directly or via a
 * delegated responder certificate in the response). */
static gnutls_ocsp_resp_t
import_verified(const gnutls_datum_t *d)
{
	gnutls_ocsp_resp_t resp = NULL;
	unsigned vout = 99;

	OK(gnutls_ocsp_resp_init(&resp));
	OK(gnutls_ocsp_resp_import(resp, d));
	cr_assert_eq(gnutls_ocsp_resp_get_status(resp),
	    GNUTLS_OCSP_RESP_SUCCESSFUL);
	OK(gnutls_ocsp_resp_verify_direct(resp, ca_cert_peek(ca), &vout, 0));
	cr_assert_eq(vout, 0, "verify status 0x%x", vout);
	return resp;
}

static void
check_status(gnutls_digest_algorithm_t dig, enum ca_ocsp_cert_status st,
    int reason, unsigned want_status)
{
	unsigned char *req = NULL;
	size_t rlen = 0;
	gnutls_datum_t d;
	gnutls_ocsp_resp_t resp;
	unsigned cs = 99, rr = 99;
	time_t tu, nu, rt;

	cr_assert_eq(ca_ocsp_req_for(ca_cert_peek(ca), leaf_pem, dig, &req,
	    &rlen), ANVIL_OK);
	d = answer(req, rlen, st, reason);
	resp = import_verified(&d);
	OK(gnutls_ocsp_resp_check_crt(resp, 0, leaf));
	OK(gnutls_ocsp_resp_get_single(resp, 0, NULL, NULL, NULL, NULL, &cs,
	    &tu, &nu, &rt, &rr));
	cr_assert_eq(cs, want_status);
	cr_assert(nu > tu);
	if (st == CA_OCSP_REVOKED) {
		cr_assert(rt > 0 && rt <= tu);
		cr_assert_eq(rr, (unsigned)(reason > 0 ? reason :
		    GNUTLS_X509_CRLREASON_UNSPECIFIED));
	}
	gnutls_ocsp_resp_deinit(resp);
	free(d.data);
	free(req);
}

TestSuite(ocsp, .init = setup, .fini = teardown);

Test(ocsp, responder_certificate_profile)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { NULL, 0 };
	char *pem = NULL, oid[128];
	size_t len = 0, osz;
	unsigned crit = 0, vout = 99, i, found_eku = 0;
	struct stat st;
	char err[256];

	cr_assert_eq(stat(cfg->ocsp_responder_key, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "key mode %o", st.st_mode);
	cr_assert_eq(util_read_file(cfg->ocsp_responder_cert, 1 << 16, &pem,
	    &len, err, sizeof(err)), ANVIL_OK);
	d.data = (unsigned char *)pem;
	d.size = (unsigned)len;
	OK(gnutls_x509_crt_init(&crt));
	OK(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM));
	OK(gnutls_x509_crt_verify(crt, (gnutls_x509_crt_t *)&(gnutls_x509_crt_t){
	    ca_cert_peek(ca) }, 1, 0, &vout));
	cr_assert_eq(vout, 0);
	for (i = 0; i < 8; i++) {
		osz = sizeof(oid);
		if (gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &osz,
		    &crit) < 0)
			break;
		if (strcmp(oid, GNUTLS_KP_OCSP_SIGNING) == 0)
			found_eku = 1;
	}
	cr_assert(found_eku, "no id-kp-OCSPSigning");
	osz = sizeof(oid);
	OK(gnutls_x509_crt_get_extension_by_oid(crt, "1.3.6.1.5.5.7.48.1.5", 0,
	    oid, &osz, &crit));
	cr_assert_eq(gnutls_x509_crt_get_ca_status(crt, &crit), 0);
	gnutls_x509_crt_deinit(crt);
	free(pem);
}

Test(ocsp, good_sha1)
{
	check_status(GNUTLS_DIG_SHA1, CA_OCSP_GOOD, 0, GNUTLS_OCSP_CERT_GOOD);
}

Test(ocsp, good_sha256)
{
	check_status(GNUTLS_DIG_SHA256, CA_OCSP_GOOD, 0, GNUTLS_OCSP_CERT_GOOD);
}

Test(ocsp, revoked_with_reason)
{
	check_status(GNUTLS_DIG_SHA1, CA_OCSP_REVOKED, 1,
	    GNUTLS_OCSP_CERT_REVOKED);
	check_status(GNUTLS_DIG_SHA256, CA_OCSP_REVOKED, 4,
	    GNUTLS_OCSP_CERT_REVOKED);
}

Test(ocsp, revoked_without_reason)
{
	check_status(GNUTLS_DIG_SHA1, CA_OCSP_REVOKED, 0,
	    GNUTLS_OCSP_CERT_REVOKED);
}

Test(ocsp, unknown)
{
	check_status(GNUTLS_DIG_SHA256, CA_OCSP_UNKNOWN, 0,
	    GNUTLS_OCSP_CERT_UNKNOWN);
}

Test(ocsp, serial_hex_is_the_store_key)
{
	unsigned char *req = NULL;
	size_t rlen = 0;
	struct ca_ocsp_req r;
	char hex[41];

	cr_assert_eq(ca_ocsp_req_for(ca_cert_peek(ca), leaf_pem,
	    GNUTLS_DIG_SHA1, &req, &rlen), ANVIL_OK);
	cr_assert_eq(ca_ocsp_req_parse(signer, req, rlen, &r),
	    CA_OCSP_SUCCESSFUL);
	cr_assert_eq(r.n, 1);
	ca_ocsp_serial_hex(&r.ids[0], hex, sizeof(hex));
	cr_assert_str_eq(hex, "11223344556677112233445566771122");
	free(req);
}

Test(ocsp, nonce_echoed)
{
	gnutls_ocsp_req_t req = NULL;
	gnutls_datum_t der = { NULL, 0 }, d, n1 = { NULL, 0 }, n2 = { NULL, 0 };
	gnutls_ocsp_resp_t resp;
	unsigned crit = 0;

	OK(gnutls_ocsp_req_init(&req));
	OK(gnutls_ocsp_req_add_cert(req, GNUTLS_DIG_SHA1, ca_cert_peek(ca),
	    leaf));
	OK(gnutls_ocsp_req_randomize_nonce(req));
	OK(gnutls_ocsp_req_get_nonce(req, &crit, &n1));
	OK(gnutls_ocsp_req_export(req, &der));
	d = answer(der.data, der.size, CA_OCSP_GOOD, 0);
	resp = import_verified(&d);
	OK(gnutls_ocsp_resp_get_nonce(resp, &crit, &n2));
	cr_assert_eq(n1.size, n2.size);
	cr_assert(memcmp(n1.data, n2.data, n1.size) == 0);
	gnutls_ocsp_resp_deinit(resp);
	gnutls_ocsp_req_deinit(req);
	gnutls_free(der.data);
	gnutls_free(n1.data);
	gnutls_free(n2.data);
	free(d.data);
}

Test(ocsp, several_certids_answered_in_order)
{
	gnutls_ocsp_req_t req = NULL;
	gnutls_datum_t der = { NULL, 0 }, d;
	gnutls_ocsp_resp_t resp;
	int i;

	OK(gnutls_ocsp_req_init(&req));
	for (i = 0; i < 3; i++)
		OK(gnutls_ocsp_req_add_cert(req, i == 1 ? GNUTLS_DIG_SHA256 :
		    GNUTLS_DIG_SHA1, ca_cert_peek(ca), leaf));
	OK(gnutls_ocsp_req_export(req, &der));
	d = answer(der.data, der.size, CA_OCSP_GOOD, 0);
	resp = import_verified(&d);
	for (i = 0; i < 3; i++)
		OK(gnutls_ocsp_resp_check_crt(resp, (unsigned)i, leaf));
	gnutls_ocsp_resp_deinit(resp);
	gnutls_ocsp_req_deinit(req);
	gnutls_free(der.data);
	free(d.data);
}

Test(ocsp, rotation_keeps_old_answers_verifiable)
{
	unsigned char *req = NULL;
	size_t rlen = 0;
	gnutls_datum_t old, fresh;
	gnutls_ocsp_resp_t r1, r2;
	struct ca_ocsp_signer *s2 = NULL;
	char err[512] = "";

	cr_assert_eq(ca_ocsp_req_for(ca_cert_peek(ca), leaf_pem,
	    GNUTLS_DIG_SHA1, &req, &rlen), ANVIL_OK);
	old = answer(req, rlen, CA_OCSP_GOOD, 0);
	cr_assert_eq(ca_ocsp_responder_issue(cfg, ca, time(NULL), err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_eq(ca_ocsp_signer_load(cfg, ca, time(NULL), &s2, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	ca_ocsp_signer_free(signer);
	signer = s2;
	fresh = answer(req, rlen, CA_OCSP_GOOD, 0);
	r1 = import_verified(&old);
	r2 = import_verified(&fresh);
	gnutls_ocsp_resp_deinit(r1);
	gnutls_ocsp_resp_deinit(r2);
	free(old.data);
	free(fresh.data);
	free(req);
}

Test(ocsp, partial_responder_refused)
{
	struct ca_ocsp_signer *s2 = NULL;
	char err[512] = "";

	cr_assert_eq(unlink(cfg->ocsp_responder_cert), 0);
	cr_assert_eq(ca_ocsp_signer_load(cfg, ca, time(NULL), &s2, err,
	    sizeof(err)), ANVIL_ERR_PARTIAL);
	cr_assert(strstr(err, cfg->ocsp_responder_cert) != NULL, "%s", err);
}

TestSuite(ocsp_by_ca, .init = setup_by_ca, .fini = teardown);

Test(ocsp_by_ca, signed_by_the_ca_key)
{
	cr_assert(ca_ocsp_signer_by_ca(signer));
	check_status(GNUTLS_DIG_SHA1, CA_OCSP_REVOKED, 1,
	    GNUTLS_OCSP_CERT_REVOKED);
	check_status(GNUTLS_DIG_SHA256, CA_OCSP_GOOD, 0, GNUTLS_OCSP_CERT_GOOD);
}

Test(ocsp, error_response_is_five_bytes)
{
	unsigned char *der = NULL;
	size_t len = 0;
	gnutls_ocsp_resp_t resp = NULL;
	gnutls_datum_t d;

	cr_assert_eq(ca_ocsp_resp_error(CA_OCSP_MALFORMED, &der, &len),
	    ANVIL_OK);
	d.data = der;
	d.size = (unsigned)len;
	OK(gnutls_ocsp_resp_init(&resp));
	OK(gnutls_ocsp_resp_import(resp, &d));
	cr_assert_eq(gnutls_ocsp_resp_get_status(resp),
	    GNUTLS_OCSP_RESP_MALFORMEDREQUEST);
	gnutls_ocsp_resp_deinit(resp);
	free(der);
}

/* ------------------------------------------------------ hostile requests */

/* Request with n CertIDs for the leaf (hash dig) and an optional nonce
 * (extnValue raw) or extra extension. */
static gnutls_datum_t
build_req(unsigned n, gnutls_digest_algorithm_t dig, const unsigned char *nonce,
    size_t nlen, const char *ext_oid, unsigned crit)
{
	gnutls_ocsp_req_t req = NULL;
	gnutls_datum_t der = { NULL, 0 }, v;
	unsigned i;
	unsigned char nh[64], kh[64];
	unsigned char sn[16] = { 0x11 };

	OK(gnutls_ocsp_req_init(&req));
	memset(nh, 0xab, sizeof(nh));
	memset(kh, 0xcd, sizeof(kh));
	for (i = 0; i < n; i++) {
		if (dig == GNUTLS_DIG_SHA1 || dig == GNUTLS_DIG_SHA256)
			OK(gnutls_ocsp_req_add_cert(req, dig, ca_cert_peek(ca),
			    leaf));
		else {
			gnutls_datum_t a = { nh, 64 }, b = { kh, 64 },
			    s = { sn, 16 };
			OK(gnutls_ocsp_req_add_cert_id(req, dig, &a, &b, &s));
		}
	}
	if (nonce != NULL) {
		v.data = (unsigned char *)nonce;
		v.size = (unsigned)nlen;
		OK(gnutls_ocsp_req_set_extension(req, "1.3.6.1.5.5.7.48.1.2", 0,
		    &v));
	}
	if (ext_oid != NULL) {
		v.data = (unsigned char *)"\x05\x00";
		v.size = 2;
		OK(gnutls_ocsp_req_set_extension(req, ext_oid, crit, &v));
	}
	OK(gnutls_ocsp_req_export(req, &der));
	gnutls_ocsp_req_deinit(req);
	return der;
}

/* Requests GnuTLS can build: CertIDs, hash, nonce, one more extension. */
static const struct built_row {
	int line;
	const char *desc;
	unsigned ncertids;
	gnutls_digest_algorithm_t dig;
	const char *nonce;	/* extnValue; NULL: none */
	size_t nonce_len;
	const char *ext_oid;	/* another extension; NULL: none */
	unsigned crit;
	int want;
} built_rows[] = {
	{ __LINE__, "a plain request", 1, GNUTLS_DIG_SHA1, NULL, 0, NULL, 0,
	  CA_OCSP_SUCCESSFUL },
	{ __LINE__, "1,000 CertIDs", 1000, GNUTLS_DIG_SHA1, NULL, 0, NULL, 0,
	  CA_OCSP_MALFORMED },
	{ __LINE__, "one CertID over the bound", CA_OCSP_MAX_CERTIDS + 1,
	  GNUTLS_DIG_SHA1, NULL, 0, NULL, 0, CA_OCSP_MALFORMED },
	{ __LINE__, "the most CertIDs", CA_OCSP_MAX_CERTIDS, GNUTLS_DIG_SHA256,
	  NULL, 0, NULL, 0, CA_OCSP_SUCCESSFUL },
	{ __LINE__, "SHA-512 CertID (not answered)", 1, GNUTLS_DIG_SHA512,
	  NULL, 0, NULL, 0, CA_OCSP_UNAUTHORIZED },
	{ __LINE__, "MD5 CertID", 1, GNUTLS_DIG_MD5, NULL, 0, NULL, 0,
	  CA_OCSP_UNAUTHORIZED },
	{ __LINE__, "33-octet nonce (RFC 8954 2.1)", 1, GNUTLS_DIG_SHA1,
	  "\x04\x21" "012345678901234567890123456789012", 35, NULL, 0,
	  CA_OCSP_MALFORMED },
	{ __LINE__, "empty nonce", 1, GNUTLS_DIG_SHA1, "\x04\x00", 2, NULL, 0,
	  CA_OCSP_MALFORMED },
	{ __LINE__, "nonce not an OCTET STRING", 1, GNUTLS_DIG_SHA1,
	  "0123456789abcdef", 16, NULL, 0, CA_OCSP_MALFORMED },
	{ __LINE__, "nonce length byte past the value", 1, GNUTLS_DIG_SHA1,
	  "\x04\x10" "0123", 6, NULL, 0, CA_OCSP_MALFORMED },
	{ __LINE__, "32-octet nonce", 1, GNUTLS_DIG_SHA1,
	  "\x04\x20" "01234567890123456789012345678901", 34, NULL, 0,
	  CA_OCSP_SUCCESSFUL },
	{ __LINE__, "1-octet nonce", 1, GNUTLS_DIG_SHA1, "\x04\x01" "x", 3,
	  NULL, 0, CA_OCSP_SUCCESSFUL },
	{ __LINE__, "unknown critical extension", 1, GNUTLS_DIG_SHA1, NULL, 0,
	  "1.2.3.4", 1, CA_OCSP_MALFORMED },
	{ __LINE__, "unknown non-critical extension", 1, GNUTLS_DIG_SHA1,
	  NULL, 0, "1.2.3.4", 0, CA_OCSP_SUCCESSFUL },
};

Test(ocsp, hostile_built_rows)
{
	size_t i;
	gnutls_datum_t d;

	for (i = 0; i < sizeof(built_rows) / sizeof(built_rows[0]); i++) {
		const struct built_row *w = &built_rows[i];
		struct ca_ocsp_req r;

		d = build_req(w->ncertids, w->dig,
		    (const unsigned char *)w->nonce, w->nonce_len, w->ext_oid,
		    w->crit);
		cr_expect_eq(ca_ocsp_req_parse(signer, d.data, d.size, &r),
		    w->want, "line %d (%s)", w->line, w->desc);
		if (w->want != CA_OCSP_SUCCESSFUL)
			cr_expect_eq(r.n, 0, "line %d: CertIDs kept", w->line);
		gnutls_free(d.data);
	}
}

/* Bytes made from a good request: what GnuTLS would never build. */
enum mangle { M_TRUNCATE_ALL, M_TRAILING, M_VERSION2, M_VERSION1,
	M_HUGE, M_EMPTY, M_TEXT, M_TAG };

static const struct mangle_row {
	int line;
	const char *desc;
	enum mangle how;
	int want;
} mangle_rows[] = {
	{ __LINE__, "every truncation", M_TRUNCATE_ALL, CA_OCSP_MALFORMED },
	{ __LINE__, "trailing bytes", M_TRAILING, CA_OCSP_MALFORMED },
	{ __LINE__, "version 2 (RFC 6960 4.1.1 knows v1 only)", M_VERSION2,
	  CA_OCSP_MALFORMED },
	{ __LINE__, "version v1 written out (DER says leave it out)",
	  M_VERSION1, -1 },
	{ __LINE__, "over CA_OCSP_MAX_REQUEST", M_HUGE, CA_OCSP_MALFORMED },
	{ __LINE__, "no bytes", M_EMPTY, CA_OCSP_MALFORMED },
	{ __LINE__, "text", M_TEXT, CA_OCSP_MALFORMED },
	{ __LINE__, "outer tag not SEQUENCE", M_TAG, CA_OCSP_MALFORMED },
};

Test(ocsp, hostile_mangled_rows)
{
	gnutls_datum_t good = build_req(1, GNUTLS_DIG_SHA1, NULL, 0, NULL, 0);
	unsigned char *buf = malloc(CA_OCSP_MAX_REQUEST + 16);
	size_t i, k, len;
	struct ca_ocsp_req r;
	int got;

	/* The version rows splice into short-form lengths. */
	cr_assert(good.size < 120 && good.data[1] < 0x78 &&
	    good.data[3] < 0x78);
	for (i = 0; i < sizeof(mangle_rows) / sizeof(mangle_rows[0]); i++) {
		const struct mangle_row *w = &mangle_rows[i];

		len = 0;
		switch (w->how) {
		case M_TRUNCATE_ALL:
			for (k = 0; k < good.size; k++)
				cr_expect_eq(ca_ocsp_req_parse(signer,
				    good.data, k, &r), w->want,
				    "line %d (%s): %zu bytes", w->line,
				    w->desc, k);
			continue;
		case M_TRAILING:
			memcpy(buf, good.data, good.size);
			memcpy(buf + good.size, "\x00\x01\x02", 3);
			len = good.size + 3;
			break;
		case M_VERSION2:
		case M_VERSION1:
			buf[0] = 0x30;
			buf[1] = (unsigned char)(good.data[1] + 5);
			buf[2] = 0x30;
			buf[3] = (unsigned char)(good.data[3] + 5);
			memcpy(buf + 4, "\xa0\x03\x02\x01", 4);
			buf[8] = w->how == M_VERSION2 ? 1 : 0;
			memcpy(buf + 9, good.data + 4, good.size - 4);
			len = good.size + 5;
			break;
		case M_HUGE:
			memset(buf, 0, CA_OCSP_MAX_REQUEST + 1);
			buf[0] = 0x30;
			len = CA_OCSP_MAX_REQUEST + 1;
			break;
		case M_EMPTY:
			len = 0;
			break;
		case M_TEXT:
			memcpy(buf, "GET / HTTP/1.0", 14);
			len = 14;
			break;
		case M_TAG:
			memcpy(buf, good.data, good.size);
			buf[0] = 0x31;
			len = good.size;
			break;
		}
		got = ca_ocsp_req_parse(signer, buf, len, &r);
		if (w->want < 0)
			cr_expect(got == CA_OCSP_SUCCESSFUL ||
			    got == CA_OCSP_MALFORMED, "line %d (%s): %d",
			    w->line, w->desc, got);
		else
			cr_expect_eq(got, w->want, "line %d (%s): %d", w->line,
			    w->desc, got);
	}
	cr_expect_eq(ca_ocsp_req_parse(signer, NULL, 0, &r), CA_OCSP_MALFORMED,
	    "NULL input");
	free(buf);
	gnutls_free(good.data);
}

Test(ocsp, another_issuer_is_unauthorized)
{
	struct ca_ocsp_signer *s2 = NULL;
	struct ca *ca2 = NULL;
	struct anvil_config *cfg2;
	char *dir2 = th_tempdir(), err[512] = "";
	unsigned char *req = NULL;
	size_t rlen = 0;
	struct ca_ocsp_req r;

	cfg2 = th_config(dir2, NULL);
	cr_assert_eq(ca_load_or_generate(cfg2, &ca2, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert_eq(ca_ocsp_signer_load(cfg2, ca2, time(NULL), &s2, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_eq(ca_ocsp_req_for(ca_cert_peek(ca), leaf_pem,
	    GNUTLS_DIG_SHA1, &req, &rlen), ANVIL_OK);
	cr_assert_eq(ca_ocsp_req_parse(s2, req, rlen, &r),
	    CA_OCSP_UNAUTHORIZED);
	free(req);
	ca_ocsp_signer_free(s2);
	ca_free(ca2);
	config_free(cfg2);
	th_rmrf(dir2);
	free(dir2);
}

/* ------------------------------------------- src/publish: store and files */

static struct store *st;

static void
setup_store(void)
{
	char err[512] = "";

	setup();
	cr_assert_eq(store_open(dir, STORE_OPEN_CREATE, &st, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
}

static void
teardown_store(void)
{
	store_close(st);
	st = NULL;
	teardown();
}

struct put_arg {
	json_t *rec;
};

static anvil_err
put_fn(struct store_txn *txn, void *arg)
{
	struct put_arg *p = arg;

	return store_put(txn, STORE_CERT, "11223344556677112233445566771122",
	    p->rec, 0);
}

static json_t *
leaf_record(time_t not_after)
{
	json_t *ids = json_array();
	json_t *rec = rec_cert_new("11223344556677112233445566771122", "acct",
	    "order", leaf_pem, time(NULL) - 60, not_after, time(NULL) - 60, ids,
	    NULL);

	json_decref(ids);
	cr_assert_not_null(rec);
	return rec;
}

static void
put_leaf(json_t *rec)
{
	struct put_arg p = { rec };
	char err[256] = "";

	cr_assert_eq(store_run(st, 0, put_fn, &p, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
}

/* The pre-signed file for the leaf's request with hash dig: its path
 * (base64 of the request under dir), its status. */
static unsigned
presigned_status(gnutls_digest_algorithm_t dig, char **pathout)
{
	unsigned char *req = NULL;
	size_t rlen = 0, len = 0;
	gnutls_datum_t in, b64 = { NULL, 0 };
	char *path = NULL, *buf = NULL, err[256];
	gnutls_ocsp_resp_t resp;
	unsigned cs = 99;

	cr_assert_eq(ca_ocsp_req_for(ca_cert_peek(ca), leaf_pem, dig, &req,
	    &rlen), ANVIL_OK);
	in.data = req;
	in.size = (unsigned)rlen;
	OK(gnutls_base64_encode2(&in, &b64));
	/* Runs of '/' as one (src/publish/ocsp.c); one ending in '/' has
	 * no file and is answered live. */
	{
		unsigned k, o = 0;
		for (k = 0; k < b64.size; k++)
			if (!(b64.data[k] == '/' && o > 0 &&
			    b64.data[o - 1] == '/'))
				b64.data[o++] = b64.data[k];
		b64.size = o;
	}
	cr_assert(asprintf(&path, "%s/%.*s", cfg->ocsp_dir, (int)b64.size,
	    (char *)b64.data) > 0);
	if (b64.data[b64.size - 1] == '/') {
		cr_assert(access(path, F_OK) != 0);
		gnutls_free(b64.data);
		free(req);
		free(path);
		if (pathout != NULL)
			*pathout = NULL;
		return 0xff;
	}
	cr_assert_eq(util_read_file(path, 65536, &buf, &len, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	in.data = (unsigned char *)buf;
	in.size = (unsigned)len;
	resp = import_verified(&in);
	OK(gnutls_ocsp_resp_check_crt(resp, 0, leaf));
	OK(gnutls_ocsp_resp_get_single(resp, 0, NULL, NULL, NULL, NULL, &cs,
	    NULL, NULL, NULL, NULL));
	gnutls_ocsp_resp_deinit(resp);
	gnutls_free(b64.data);
	free(buf);
	free(req);
	if (pathout != NULL)
		*pathout = path;
	else
		free(path);
	return cs;
}

TestSuite(ocsp_store, .init = setup_store, .fini = teardown_store,
    .timeout = 60);

Test(ocsp_store, presign_refresh_and_sweep)
{
	json_t *rec = leaf_record(time(NULL) + 86400);
	size_t written = 0, removed = 0;
	char *stale = NULL, *keep = NULL, *p1 = NULL, err[512] = "";
	unsigned cs;
	struct timespec old[2] = { { 1000000, 0 }, { 1000000, 0 } };
	FILE *f;

	put_leaf(rec);
	cr_assert_eq(publish_ocsp_presign_all(st, ca, signer, cfg,
	    cfg->ocsp_dir, time(NULL), NULL, &written, &removed, err,
	    sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert_eq(written, 1);
	/* A SHA-1 request has padding: never ends in '/'. */
	cr_assert_eq(presigned_status(GNUTLS_DIG_SHA1, &p1),
	    GNUTLS_OCSP_CERT_GOOD);
	cs = presigned_status(GNUTLS_DIG_SHA256, NULL);
	cr_assert(cs == GNUTLS_OCSP_CERT_GOOD || cs == 0xff);
	/* A revocation signs the answers again at once. */
	cr_assert_eq(rec_cert_revoke(rec, time(NULL), 1, "operator"), ANVIL_OK);
	put_leaf(rec);
	cr_assert_eq(publish_ocsp_refresh(cfg, ca,
	    "11223344556677112233445566771122", rec, time(NULL)), ANVIL_OK);
	cr_assert_eq(presigned_status(GNUTLS_DIG_SHA1, NULL),
	    GNUTLS_OCSP_CERT_REVOKED);
	cs = presigned_status(GNUTLS_DIG_SHA256, NULL);
	cr_assert(cs == GNUTLS_OCSP_CERT_REVOKED || cs == 0xff);
	/* An old answer nobody signs any more goes; other files stay. */
	cr_assert(asprintf(&stale, "%s/AbC+/De=", cfg->ocsp_dir) > 0);
	cr_assert(asprintf(&keep, "%s/keep.txt", cfg->ocsp_dir) > 0);
	cr_assert_eq(util_mkdir_p(cfg->ocsp_dir, 0755, err, sizeof(err)),
	    ANVIL_OK);
	{
		char *d = NULL;
		cr_assert(asprintf(&d, "%s/AbC+", cfg->ocsp_dir) > 0);
		cr_assert_eq(mkdir(d, 0755), 0);
		free(d);
	}
	cr_assert_not_null(f = fopen(stale, "w"));
	fclose(f);
	cr_assert_eq(utimensat(AT_FDCWD, stale, old, 0), 0);
	cr_assert_not_null(f = fopen(keep, "w"));
	fclose(f);
	cr_assert_eq(utimensat(AT_FDCWD, keep, old, 0), 0);
	sleep(1);
	cr_assert_eq(publish_ocsp_presign_all(st, ca, signer, cfg,
	    cfg->ocsp_dir, time(NULL), NULL, &written, &removed, err,
	    sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert_eq(removed, 1);
	cr_assert_eq(access(stale, F_OK), -1);
	cr_assert_eq(access(keep, F_OK), 0);
	cr_assert_eq(access(p1, F_OK), 0);
	cr_assert_eq(presigned_status(GNUTLS_DIG_SHA1, NULL),
	    GNUTLS_OCSP_CERT_REVOKED);
	free(stale);
	free(keep);
	free(p1);
	json_decref(rec);
}

Test(ocsp_store, expired_certificates_are_not_presigned)
{
	json_t *rec = leaf_record(time(NULL) - 10);
	size_t written = 9, removed = 9;
	char err[512] = "";

	put_leaf(rec);
	cr_assert_eq(publish_ocsp_presign_all(st, ca, signer, cfg,
	    cfg->ocsp_dir, time(NULL), NULL, &written, &removed, err,
	    sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert_eq(written, 0);
	json_decref(rec);
}

/* What anvil answers live, from the store: statuses, and errors as OCSP
 * statuses. */
Test(ocsp_store, live_answers)
{
	json_t *rec = leaf_record(time(NULL) + 86400);
	unsigned char *req = NULL, *out = NULL;
	size_t rlen = 0, olen = 0;
	time_t next = 0;
	gnutls_datum_t d;
	gnutls_ocsp_resp_t resp;
	unsigned cs = 99;

	cr_assert_eq(ca_ocsp_req_for(ca_cert_peek(ca), leaf_pem,
	    GNUTLS_DIG_SHA256, &req, &rlen), ANVIL_OK);
	/* Not in the store: unknown. */
	cr_assert_eq(publish_ocsp_answer(st, signer, cfg, req, rlen,
	    time(NULL), &out, &olen, &next), ANVIL_OK);
	cr_assert(next > time(NULL));
	d.data = out;
	d.size = (unsigned)olen;
	resp = import_verified(&d);
	OK(gnutls_ocsp_resp_get_single(resp, 0, NULL, NULL, NULL, NULL, &cs,
	    NULL, NULL, NULL, NULL));
	cr_assert_eq(cs, GNUTLS_OCSP_CERT_UNKNOWN);
	gnutls_ocsp_resp_deinit(resp);
	free(out);
	/* Stored: good. */
	put_leaf(rec);
	cr_assert_eq(publish_ocsp_answer(st, signer, cfg, req, rlen,
	    time(NULL), &out, &olen, &next), ANVIL_OK);
	d.data = out;
	d.size = (unsigned)olen;
	resp = import_verified(&d);
	OK(gnutls_ocsp_resp_get_single(resp, 0, NULL, NULL, NULL, NULL, &cs,
	    NULL, NULL, NULL, NULL));
	cr_assert_eq(cs, GNUTLS_OCSP_CERT_GOOD);
	gnutls_ocsp_resp_deinit(resp);
	free(out);
	/* Garbage: malformedRequest; no signer: tryLater. */
	cr_assert_eq(publish_ocsp_answer(st, signer, cfg, req, rlen / 2,
	    time(NULL), &out, &olen, &next), ANVIL_OK);
	cr_assert(olen == 5 && out[4] == CA_OCSP_MALFORMED && next == 0);
	free(out);
	cr_assert_eq(publish_ocsp_answer(st, NULL, cfg, req, rlen, time(NULL),
	    &out, &olen, &next), ANVIL_OK);
	cr_assert(olen == 5 && out[4] == CA_OCSP_TRY_LATER);
	free(out);
	free(req);
	json_decref(rec);
}
