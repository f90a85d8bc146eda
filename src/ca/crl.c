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

/* Copies a Time CHOICE (name) from src to dst. */
static int
copy_time(asn1_node dst, asn1_node src, const char *name, unsigned char *buf,
    size_t bufsz)
{
	char which[32], sub[160];
	int len = sizeof(which) - 1, ret;

	ret = asn1_read_value(src, name, which, &len);
	if (ret != ASN1_SUCCESS)
		return ret;
	which[len] = '\0';
	if ((ret = asn1_write_value(dst, name, which, 1)) != ASN1_SUCCESS)
		return ret;
	snprintf(sub, sizeof(sub), "%s.%s", name, which);
	return copy_value(dst, sub, src, sub, buf, bufsz);
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
	asn1_node defs = NULL, src = NULL, dst = NULL;
	char msg[ASN1_MAX_ERROR_DESCRIPTION_SIZE] = "";
	gnutls_datum_t tbs = { NULL, 0 }, sig = { NULL, 0 }, whole = { NULL, 0 };
	unsigned char *buf = NULL;
	const size_t bufsz = 65536;
	anvil_err rc;
	int count = 0, k, ret, nexts = 0;
	size_t i;
	const char *what = "";

	if ((rc = ca_asn1_defs(&defs)) != ANVIL_OK)
		return errf(err, errlen, rc, "ASN.1 definitions unusable");
	if ((buf = malloc(bufsz)) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	if ((ret = asn1_create_element(defs, "AnvilPKIX.CertificateList",
	    &src)) != ASN1_SUCCESS || (ret = asn1_create_element(defs,
	    "AnvilPKIX.CertificateList", &dst)) != ASN1_SUCCESS) {
		rc = asn1_fail(err, errlen, "asn1_create_element", ret, NULL);
		goto out;
	}
	ret = asn1_der_decoding(&src, der->data, (int)der->size, msg);
	if (ret != ASN1_SUCCESS) {
		rc = asn1_fail(err, errlen, "asn1_der_decoding", ret, msg);
		goto out;
	}

#define STEP(label, expr)                                                      \
	do {                                                                   \
		what = label;                                                  \
		if ((ret = (expr)) != ASN1_SUCCESS)                            \
			goto wfail;                                            \
	} while (0)

	STEP("version", copy_value(dst, "tbsCertList.version", src,
	    "tbsCertList.version", buf, bufsz));
	STEP("signature.algorithm", copy_value(dst,
	    "tbsCertList.signature.algorithm", src,
	    "tbsCertList.signature.algorithm", buf, bufsz));
	STEP("signature.parameters", copy_value(dst,
	    "tbsCertList.signature.parameters", src,
	    "tbsCertList.signature.parameters", buf, bufsz));
	STEP("issuer", copy_value(dst, "tbsCertList.issuer", src,
	    "tbsCertList.issuer", buf, bufsz));
	STEP("thisUpdate", copy_time(dst, src, "tbsCertList.thisUpdate", buf,
	    bufsz));
	STEP("nextUpdate", copy_time(dst, src, "tbsCertList.nextUpdate", buf,
	    bufsz));

	ret = asn1_number_of_elements(src, "tbsCertList.revokedCertificates",
	    &count);
	if (ret != ASN1_SUCCESS)
		count = 0;
	if (count < 0 || (size_t)count != n) {
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "CRL has %d entries, "
		    "expected %zu", count, n);
		goto out;
	}
	for (k = 1; k <= count; k++) {
		char sp[96], name[192];
		const unsigned char *s;
		int slen = (int)bufsz;
		size_t sl;

		snprintf(sp, sizeof(sp), "tbsCertList.revokedCertificates.?%d",
		    k);
		snprintf(name, sizeof(name), "%s.userCertificate", sp);
		STEP("userCertificate", asn1_read_value(src, name, buf, &slen));
		sl = (size_t)slen;
		s = int_strip(buf, &sl);
		for (i = 0; i < n; i++) {
			size_t rl = rev[i].serial_len;
			const unsigned char *r = int_strip(rev[i].serial, &rl);
			if (rl == sl && memcmp(r, s, sl) == 0)
				break;
		}
		if (i == n) {
			rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "CRL entry %d "
			    "matches no revoked serial", k);
			goto out;
		}
		STEP("entry", asn1_write_value(dst,
		    "tbsCertList.revokedCertificates", "NEW", 1));
		STEP("userCertificate", asn1_write_value(dst,
		    "tbsCertList.revokedCertificates.?LAST.userCertificate",
		    buf, slen));
		snprintf(name, sizeof(name), "%s.revocationDate", sp);
		{
			char which[32], sub[224], dsub[224];
			int wl = sizeof(which) - 1;
			STEP("revocationDate", asn1_read_value(src, name, which,
			    &wl));
			which[wl] = '\0';
			STEP("revocationDate", asn1_write_value(dst,
			    "tbsCertList.revokedCertificates.?LAST."
			    "revocationDate", which, 1));
			snprintf(sub, sizeof(sub), "%s.%s", name, which);
			snprintf(dsub, sizeof(dsub), "tbsCertList."
			    "revokedCertificates.?LAST.revocationDate.%s",
			    which);
			STEP("revocationDate", copy_value(dst, dsub, src, sub,
			    buf, bufsz));
		}
		if (rev[i].reason == 0) {
			STEP("crlEntryExtensions", asn1_write_value(dst,
			    "tbsCertList.revokedCertificates.?LAST."
			    "crlEntryExtensions", NULL, 0));
			continue;
		}
		{
			unsigned char enc[3] = { 0x0a, 0x01,
				(unsigned char)rev[i].reason };
			const char *e = "tbsCertList.revokedCertificates.?LAST."
			    "crlEntryExtensions";
			char f[160];
			STEP("crlEntryExtensions", asn1_write_value(dst, e,
			    "NEW", 1));
			snprintf(f, sizeof(f), "%s.?LAST.extnID", e);
			STEP("extnID", asn1_write_value(dst, f, OID_CRL_REASON,
			    1));
			/* critical is DEFAULT FALSE: written as FALSE, and the
			 * encoder leaves a default value out as DER says. */
			snprintf(f, sizeof(f), "%s.?LAST.critical", e);
			STEP("critical", asn1_write_value(dst, f, "FALSE", 1));
			snprintf(f, sizeof(f), "%s.?LAST.extnValue", e);
			STEP("extnValue", asn1_write_value(dst, f, enc,
			    sizeof(enc)));
		}
	}
	if (count == 0)
		STEP("revokedCertificates", asn1_write_value(dst,
		    "tbsCertList.revokedCertificates", NULL, 0));

	/* crlExtensions (CRLNumber, AKI) as GnuTLS wrote them. */
	ret = asn1_number_of_elements(src, "tbsCertList.crlExtensions",
	    &nexts);
	if (ret != ASN1_SUCCESS)
		nexts = 0;
	if (nexts == 0)
		STEP("crlExtensions", asn1_write_value(dst,
		    "tbsCertList.crlExtensions", NULL, 0));
	for (k = 1; k <= nexts; k++) {
		static const char *const fields[] = { "extnID", "critical",
			"extnValue" };
		size_t fi;
		STEP("crlExtensions", asn1_write_value(dst,
		    "tbsCertList.crlExtensions", "NEW", 1));
		for (fi = 0; fi < 3; fi++) {
			char sname[128], dname[128];
			snprintf(sname, sizeof(sname),
			    "tbsCertList.crlExtensions.?%d.%s", k, fields[fi]);
			snprintf(dname, sizeof(dname),
			    "tbsCertList.crlExtensions.?LAST.%s", fields[fi]);
			STEP("crlExtensions", copy_value(dst, dname, src, sname,
			    buf, bufsz));
		}
	}
	STEP("signatureAlgorithm", copy_value(dst,
	    "signatureAlgorithm.algorithm", src, "signatureAlgorithm.algorithm",
	    buf, bufsz));
	STEP("signatureAlgorithm", copy_value(dst,
	    "signatureAlgorithm.parameters", src,
	    "signatureAlgorithm.parameters", buf, bufsz));
#undef STEP

	if ((rc = der_encode(dst, "tbsCertList", &tbs, err, errlen)))
		goto out;
	ret = gnutls_privkey_sign_data2(ca->key, sigalg, 0, &tbs, &sig);
	if (ret < 0) {
		rc = ca_gnutls_err(err, errlen, "gnutls_privkey_sign_data2",
		    ret);
		goto out;
	}
	ret = asn1_write_value(dst, "signature", sig.data, (int)sig.size * 8);
	if (ret != ASN1_SUCCESS) {
		rc = asn1_fail(err, errlen, "asn1_write_value", ret,
		    "signature");
		goto out;
	}
	if ((rc = der_encode(dst, "", &whole, err, errlen)))
		goto out;
	free(der->data);
	*der = whole;
	rc = ANVIL_OK;
	goto out;
wfail:
	rc = asn1_fail(err, errlen, "asn1 copy", ret, what);
out:
	free(buf);
	free(tbs.data);
	gnutls_free(sig.data);
	asn1_delete_structure(&src);
	asn1_delete_structure(&dst);
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
