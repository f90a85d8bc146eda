/*
 * crl.c - v2 CRLs.
 *
 * GnuTLS builds and signs the CRL (issuer, times, entries, CRLNumber,
 * AKI) but has no way to give an entry a reasonCode. When an entry needs
 * one, the signed CRL is decoded with libtasn1 (pkix.asn), each entry's
 * crlEntryExtensions is written, and the new tbsCertList is signed again
 * with the CA key.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <libtasn1.h>

#include "ca/ca_int.h"
#include "core/log.h"

#define OID_CRL_REASON "2.5.29.21"

int
ca_crl_reason_valid(int r)
{
	return (r >= 0 && r <= 6) || (r >= 8 && r <= 10);
}

void
ca_crl_free(struct ca_crl *crl)
{
	if (crl == NULL)
		return;
	free(crl->der);
	free(crl->pem);
	free(crl);
}

/* Skips leading zero bytes of an INTEGER's content. */
static const unsigned char *
int_strip(const unsigned char *p, size_t *len)
{
	while (*len > 1 && p[0] == 0) {
		p++;
		(*len)--;
	}
	return p;
}

static anvil_err
asn1_fail(char *err, size_t errlen, const char *call, int ret,
    const char *msg)
{
	log_err("%s: %s %s", call, asn1_strerror(ret), msg ? msg : "");
	return errf(err, errlen, ANVIL_ERR_CRYPTO, "%s: %s", call,
	    asn1_strerror(ret));
}

/* Encodes element name of node into a new datum (free with free()). */
static anvil_err
der_encode(asn1_node node, const char *name, gnutls_datum_t *out, char *err,
    size_t errlen)
{
	char msg[ASN1_MAX_ERROR_DESCRIPTION_SIZE] = "";
	int len = 0, ret;

	ret = asn1_der_coding(node, name, NULL, &len, msg);
	if (ret != ASN1_MEM_ERROR)
		return asn1_fail(err, errlen, "asn1_der_coding", ret, msg);
	if ((out->data = malloc((size_t)len)) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	ret = asn1_der_coding(node, name, out->data, &len, msg);
	if (ret != ASN1_SUCCESS) {
		free(out->data);
		out->data = NULL;
		return asn1_fail(err, errlen, "asn1_der_coding", ret, msg);
	}
	out->size = (unsigned)len;
	return ANVIL_OK;
}

/* Copies element name (a value of at most 64 KiB) from src to dst. */
static int
copy_value(asn1_node dst, const char *dname, asn1_node src, const char *sname,
    unsigned char *buf, size_t bufsz)
{
	int len = (int)bufsz, ret;

	ret = asn1_read_value(src, sname, buf, &len);
	if (ret == ASN1_ELEMENT_NOT_FOUND || ret == ASN1_VALUE_NOT_FOUND)
		return asn1_write_value(dst, dname, NULL, 0);
	if (ret != ASN1_SUCCESS)
		return ret;
	return asn1_write_value(dst, dname, buf, len);
}

/*
 * Copies a CHOICE such as Time from sname in src to dname in dst: which
 * alternative, then its value.
 */
static int
copy_choice(asn1_node dst, const char *dname, asn1_node src,
    const char *sname, unsigned char *buf, size_t bufsz)
{
	char which[32], ssub[256], dsub[256];
	int len = sizeof(which) - 1, ret;

	ret = asn1_read_value(src, sname, which, &len);
	if (ret != ASN1_SUCCESS)
		return ret;
	which[len] = '\0';
	if ((ret = asn1_write_value(dst, dname, which, 1)) != ASN1_SUCCESS)
		return ret;
	snprintf(ssub, sizeof(ssub), "%s.%s", sname, which);
	snprintf(dsub, sizeof(dsub), "%s.%s", dname, which);
	return copy_value(dst, dsub, src, ssub, buf, bufsz);
}

/*
 * The two trees of a rebuild: src is the CRL GnuTLS signed, dst the
 * CertificateList being written; buf holds one value in transit.
 */
struct rebuild {
	asn1_node src;
	asn1_node dst;
	unsigned char *buf;
	size_t bufsz;
	char *err;
	size_t errlen;
};

/*
 * Runs one libtasn1 step of a rebuild; on failure logs and records which
 * part it was copying and jumps to out. Needs locals r, ret and rc.
 */
#define STEP(label, expr)                                                      \
	do {                                                                   \
		if ((ret = (expr)) != ASN1_SUCCESS) {                          \
			rc = asn1_fail(r->err, r->errlen, "asn1 copy", ret,    \
			    label);                                            \
			goto out;                                              \
		}                                                              \
	} while (0)

#define ENTRY "tbsCertList.revokedCertificates.?LAST"
#define ENTRY_EXTS ENTRY ".crlEntryExtensions"

/* Copies what precedes the entries: version, signature, issuer, times. */
static anvil_err
copy_tbs_head(struct rebuild *r)
{
	static const char *const names[] = { "version",
		"signature.algorithm", "signature.parameters", "issuer" };
	char name[64];
	anvil_err rc = ANVIL_OK;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(name, sizeof(name), "tbsCertList.%s", names[i]);
		STEP(names[i], copy_value(r->dst, name, r->src, name, r->buf,
		    r->bufsz));
	}
	STEP("thisUpdate", copy_choice(r->dst, "tbsCertList.thisUpdate",
	    r->src, "tbsCertList.thisUpdate", r->buf, r->bufsz));
	STEP("nextUpdate", copy_choice(r->dst, "tbsCertList.nextUpdate",
	    r->src, "tbsCertList.nextUpdate", r->buf, r->bufsz));
out:
	return rc;
}

/*
 * The element of rev whose serial equals the INTEGER content s (leading
 * zero bytes ignored on both sides), or NULL.
 */
static const struct ca_revoked *
find_revoked(const struct ca_revoked *rev, size_t n, const unsigned char *s,
    size_t slen)
{
	size_t i, rl;
	const unsigned char *p;

	s = int_strip(s, &slen);
	for (i = 0; i < n; i++) {
		rl = rev[i].serial_len;
		p = int_strip(rev[i].serial, &rl);
		if (rl == slen && memcmp(p, s, slen) == 0)
			return &rev[i];
	}
	return NULL;
}

/*
 * Gives the last entry of dst its crlEntryExtensions: a non-critical
 * reasonCode (RFC 5280 5.3.1) for a non-zero reason, none for 0.
 */
static anvil_err
write_entry_reason(struct rebuild *r, int reason)
{
	const unsigned char enc[3] = { 0x0a, 0x01, (unsigned char)reason };
	anvil_err rc = ANVIL_OK;
	int ret;

	if (reason == 0) {
		STEP("crlEntryExtensions", asn1_write_value(r->dst, ENTRY_EXTS,
		    NULL, 0));
		goto out;
	}
	STEP("crlEntryExtensions", asn1_write_value(r->dst, ENTRY_EXTS, "NEW",
	    1));
	STEP("extnID", asn1_write_value(r->dst, ENTRY_EXTS ".?LAST.extnID",
	    OID_CRL_REASON, 1));
	/* critical is DEFAULT FALSE: written as FALSE, and the encoder leaves
	 * a default value out as DER says. */
	STEP("critical", asn1_write_value(r->dst, ENTRY_EXTS ".?LAST.critical",
	    "FALSE", 1));
	STEP("extnValue", asn1_write_value(r->dst,
	    ENTRY_EXTS ".?LAST.extnValue", enc, sizeof(enc)));
out:
	return rc;
}

/*
 * Copies entry k of src (serial and date) as a new entry of dst, with the
 * reason of the element of rev it names. An entry that names none means
 * GnuTLS wrote something other than what it was given.
 */
static anvil_err
copy_entry(struct rebuild *r, int k, const struct ca_revoked *rev, size_t n)
{
	const struct ca_revoked *match;
	char sp[96], name[192];
	int slen = (int)r->bufsz, ret;
	anvil_err rc = ANVIL_OK;

	snprintf(sp, sizeof(sp), "tbsCertList.revokedCertificates.?%d", k);
	snprintf(name, sizeof(name), "%s.userCertificate", sp);
	STEP("userCertificate", asn1_read_value(r->src, name, r->buf, &slen));
	if ((match = find_revoked(rev, n, r->buf, (size_t)slen)) == NULL) {
		rc = errf(r->err, r->errlen, ANVIL_ERR_CRYPTO, "CRL entry %d "
		    "matches no revoked serial", k);
		goto out;
	}
	STEP("entry", asn1_write_value(r->dst,
	    "tbsCertList.revokedCertificates", "NEW", 1));
	STEP("userCertificate", asn1_write_value(r->dst,
	    ENTRY ".userCertificate", r->buf, slen));
	snprintf(name, sizeof(name), "%s.revocationDate", sp);
	STEP("revocationDate", copy_choice(r->dst, ENTRY ".revocationDate",
	    r->src, name, r->buf, r->bufsz));
	rc = write_entry_reason(r, match->reason);
out:
	return rc;
}

/*
 * Copies every entry, checking that src has exactly n. With none, the
 * list is left out: RFC 5280 5.1.2.6 wants it absent, not empty.
 */
static anvil_err
copy_entries(struct rebuild *r, const struct ca_revoked *rev, size_t n)
{
	anvil_err rc = ANVIL_OK;
	int count = 0, k, ret;

	ret = asn1_number_of_elements(r->src, "tbsCertList.revokedCertificates",
	    &count);
	if (ret != ASN1_SUCCESS)
		count = 0;
	if (count < 0 || (size_t)count != n)
		return errf(r->err, r->errlen, ANVIL_ERR_CRYPTO, "CRL has %d "
		    "entries, expected %zu", count, n);
	for (k = 1; k <= count; k++)
		if ((rc = copy_entry(r, k, rev, n)) != ANVIL_OK)
			goto out;
	if (count == 0)
		STEP("revokedCertificates", asn1_write_value(r->dst,
		    "tbsCertList.revokedCertificates", NULL, 0));
out:
	return rc;
}

/* Copies crlExtensions (CRLNumber, AKI) as GnuTLS wrote them. */
static anvil_err
copy_crl_extensions(struct rebuild *r)
{
	static const char *const fields[] = { "extnID", "critical",
		"extnValue" };
	char sname[128], dname[128];
	anvil_err rc = ANVIL_OK;
	int nexts = 0, k, ret;
	size_t fi;

	ret = asn1_number_of_elements(r->src, "tbsCertList.crlExtensions",
	    &nexts);
	if (ret != ASN1_SUCCESS)
		nexts = 0;
	if (nexts == 0)
		STEP("crlExtensions", asn1_write_value(r->dst,
		    "tbsCertList.crlExtensions", NULL, 0));
	for (k = 1; k <= nexts; k++) {
		STEP("crlExtensions", asn1_write_value(r->dst,
		    "tbsCertList.crlExtensions", "NEW", 1));
		for (fi = 0; fi < 3; fi++) {
			snprintf(sname, sizeof(sname),
			    "tbsCertList.crlExtensions.?%d.%s", k, fields[fi]);
			snprintf(dname, sizeof(dname),
			    "tbsCertList.crlExtensions.?LAST.%s", fields[fi]);
			STEP("crlExtensions", copy_value(r->dst, dname, r->src,
			    sname, r->buf, r->bufsz));
		}
	}
out:
	return rc;
}

/* Copies the outer signatureAlgorithm, which the new signature keeps. */
static anvil_err
copy_signature_algorithm(struct rebuild *r)
{
	anvil_err rc = ANVIL_OK;
	int ret;

	STEP("signatureAlgorithm", copy_value(r->dst,
	    "signatureAlgorithm.algorithm", r->src,
	    "signatureAlgorithm.algorithm", r->buf, r->bufsz));
	STEP("signatureAlgorithm", copy_value(r->dst,
	    "signatureAlgorithm.parameters", r->src,
	    "signatureAlgorithm.parameters", r->buf, r->bufsz));
out:
	return rc;
}

#undef STEP
#undef ENTRY_EXTS
#undef ENTRY

/*
 * Signs dst's tbsCertList with the CA key and writes the signature, then
 * encodes the whole CertificateList into *whole (free with free()).
 */
static anvil_err
sign_rebuilt(struct rebuild *r, struct ca *ca, gnutls_sign_algorithm_t sigalg,
    gnutls_datum_t *whole)
{
	gnutls_datum_t tbs = { NULL, 0 }, sig = { NULL, 0 };
	char *err = r->err;
	size_t errlen = r->errlen;
	anvil_err rc;
	int ret;

	if ((rc = der_encode(r->dst, "tbsCertList", &tbs, err, errlen)))
		goto out;
	ret = gnutls_privkey_sign_data2(ca->key, sigalg, 0, &tbs, &sig);
	if (ret < 0) {
		rc = ca_gnutls_err(err, errlen, "gnutls_privkey_sign_data2",
		    ret);
		goto out;
	}
	ret = asn1_write_value(r->dst, "signature", sig.data,
	    (int)sig.size * 8);
	if (ret != ASN1_SUCCESS) {
		rc = asn1_fail(err, errlen, "asn1_write_value", ret,
		    "signature");
		goto out;
	}
	rc = der_encode(r->dst, "", whole, err, errlen);
out:
	free(tbs.data);
	gnutls_free(sig.data);
	return rc;
}

/*
 * libtasn1 drops absent OPTIONAL members when it decodes, so an entry
 * cannot be given crlEntryExtensions in place. Instead the CRL GnuTLS
 * signed (*der) is decoded and a new tbsCertList is built from it, each
 * entry with its reasonCode, then signed with the CA key. *der is replaced
 * by the new DER (malloc'ed).
 */
static anvil_err
add_reasons(struct ca *ca, gnutls_sign_algorithm_t sigalg,
    const struct ca_revoked *rev, size_t n, gnutls_datum_t *der, char *err,
    size_t errlen)
{
	struct rebuild r = { NULL, NULL, NULL, 65536, err, errlen };
	asn1_node defs = NULL;
	char msg[ASN1_MAX_ERROR_DESCRIPTION_SIZE] = "";
	gnutls_datum_t whole = { NULL, 0 };
	anvil_err rc;
	int ret;

	if ((rc = ca_asn1_defs(&defs)) != ANVIL_OK)
		return errf(err, errlen, rc, "ASN.1 definitions unusable");
	if ((r.buf = malloc(r.bufsz)) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	if ((ret = asn1_create_element(defs, "AnvilPKIX.CertificateList",
	    &r.src)) != ASN1_SUCCESS || (ret = asn1_create_element(defs,
	    "AnvilPKIX.CertificateList", &r.dst)) != ASN1_SUCCESS) {
		rc = asn1_fail(err, errlen, "asn1_create_element", ret, NULL);
		goto out;
	}
	ret = asn1_der_decoding(&r.src, der->data, (int)der->size, msg);
	if (ret != ASN1_SUCCESS) {
		rc = asn1_fail(err, errlen, "asn1_der_decoding", ret, msg);
		goto out;
	}
	if ((rc = copy_tbs_head(&r)) != ANVIL_OK ||
	    (rc = copy_entries(&r, rev, n)) != ANVIL_OK ||
	    (rc = copy_crl_extensions(&r)) != ANVIL_OK ||
	    (rc = copy_signature_algorithm(&r)) != ANVIL_OK ||
	    (rc = sign_rebuilt(&r, ca, sigalg, &whole)) != ANVIL_OK)
		goto out;
	free(der->data);
	*der = whole;
	rc = ANVIL_OK;
out:
	free(r.buf);
	asn1_delete_structure(&r.src);
	asn1_delete_structure(&r.dst);
	return rc;
}

anvil_err
ca_crl_build(struct ca *ca, const struct ca_revoked *revoked, size_t n,
    uint64_t number, time_t this_update, time_t next_update,
    struct ca_crl **out, char *err, size_t errlen)
{
	gnutls_x509_crl_t crl = NULL, check = NULL;
	gnutls_datum_t der = { NULL, 0 }, tmp = { NULL, 0 }, pem = { NULL, 0 };
	struct ca_crl *c = NULL;
	unsigned char num[9];
	size_t numlen = 0, i;
	int need_reasons = 0, ret, sigalg;
	anvil_err rc = ANVIL_ERR_CRYPTO;

	*out = NULL;
	for (i = 0; i < n; i++) {
		if (!ca_crl_reason_valid(revoked[i].reason) ||
		    revoked[i].serial_len == 0 || revoked[i].serial_len > 20)
			return errf(err, errlen, ANVIL_ERR_INVALID, "revoked "
			    "entry %zu: bad serial length or reason %d", i,
			    revoked[i].reason);
		if (revoked[i].reason != 0)
			need_reasons = 1;
	}
	/* GnuTLS writes an empty revokedCertificates list; RFC 5280 5.1.2.6
	 * wants it absent. The libtasn1 rebuild leaves it out. */
	if (n == 0)
		need_reasons = 1;
	if (number == 0 || next_update <= this_update)
		return errf(err, errlen, ANVIL_ERR_INVALID, "CRL number must be "
		    "positive and nextUpdate after thisUpdate");
	/* CRLNumber: minimal big-endian, positive. */
	{
		unsigned char be[8];
		int k, first = 0;
		for (k = 0; k < 8; k++)
			be[k] = (unsigned char)(number >> (56 - 8 * k));
		while (first < 7 && be[first] == 0)
			first++;
		if (be[first] & 0x80)
			num[numlen++] = 0;
		memcpy(num + numlen, be + first, (size_t)(8 - first));
		numlen += (size_t)(8 - first);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");

	CA_TRY(gnutls_x509_crl_init, &crl);
	CA_TRY(gnutls_x509_crl_set_version, crl, 2);
	CA_TRY(gnutls_x509_crl_set_this_update, crl, this_update);
	CA_TRY(gnutls_x509_crl_set_next_update, crl, next_update);
	for (i = 0; i < n; i++)
		CA_TRY(gnutls_x509_crl_set_crt_serial, crl, revoked[i].serial,
		    revoked[i].serial_len, revoked[i].when);
	CA_TRY(gnutls_x509_crl_set_number, crl, num, numlen);
	CA_TRY(gnutls_x509_crl_set_authority_key_id, crl, ca->key_id,
	    ca->key_id_len);
	CA_TRY(gnutls_x509_crl_privkey_sign, crl, ca->cert, ca->key, ca->dig, 0);
	CA_TRY(gnutls_x509_crl_export2, crl, GNUTLS_X509_FMT_DER, &tmp);
	if ((der.data = malloc(tmp.size)) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(der.data, tmp.data, tmp.size);
	der.size = tmp.size;
	if (need_reasons) {
		sigalg = gnutls_x509_crl_get_signature_algorithm(crl);
		if (sigalg < 0) {
			rc = ca_gnutls_err(err, errlen,
			    "gnutls_x509_crl_get_signature_algorithm", sigalg);
			goto out;
		}
		if ((rc = add_reasons(ca, (gnutls_sign_algorithm_t)sigalg,
		    revoked, n, &der, err, errlen)) != ANVIL_OK)
			goto out;
		rc = ANVIL_ERR_CRYPTO;
	}
	/* Whatever we publish must read back and verify. */
	CA_TRY(gnutls_x509_crl_init, &check);
	CA_TRY(gnutls_x509_crl_import, check, &der, GNUTLS_X509_FMT_DER);
	{
		unsigned vout = 0;
		/* Signature only: the dates are the caller's to choose. */
		CA_TRY(gnutls_x509_crl_verify, check, &ca->cert, 1,
		    GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &vout);
		/* The dates are the caller's: ignore what they alone cause. */
		const unsigned dates = GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED |
		    GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE;
		if ((vout & dates) != 0 && (vout & ~(dates | GNUTLS_CERT_INVALID))
		    == 0)
			vout = 0;
		if (vout != 0) {
			rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "the CRL just "
			    "built does not verify (status 0x%x)", vout);
			goto out;
		}
	}
	CA_TRY(gnutls_pem_base64_encode2, "X509 CRL", &der, &pem);
	if ((c->pem = malloc(pem.size + 1)) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(c->pem, pem.data, pem.size);
	c->pem[pem.size] = '\0';
	c->der = der.data;
	c->der_len = der.size;
	der.data = NULL;
	c->number = number;
	c->this_update = this_update;
	c->next_update = next_update;
	*out = c;
	c = NULL;
	rc = ANVIL_OK;
out:
	free(der.data);
	gnutls_free(tmp.data);
	gnutls_free(pem.data);
	if (crl != NULL)
		gnutls_x509_crl_deinit(crl);
	if (check != NULL)
		gnutls_x509_crl_deinit(check);
	ca_crl_free(c);
	return rc;
}
