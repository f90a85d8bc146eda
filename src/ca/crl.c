/*
 * crl.c - v2 CRLs.
 *
 * GnuTLS builds and signs a CRL with no entries (issuer, times, CRLNumber,
 * AKI); libtasn1 (pkix.asn) decodes it and writes its tbsCertList again
 * without the empty revokedCertificates GnuTLS leaves (RFC 5280 5.1.2.6).
 * The entries are DER-encoded here, each with its reasonCode, and spliced
 * into that tbsCertList, which the CA key then signs. Neither library
 * serves for the entries: both append to a SEQUENCE OF by walking it, so
 * 100 000 entries took a minute of CPU (bench/advise.sh's store, revoked);
 * one RevokedCertificate is three small TLVs, and the result is read back
 * and verified with GnuTLS before it is returned.
 *
 * A shard's CRL (issue 20 part 2, ca_crl_build_idp) also carries a
 * critical IssuingDistributionPoint, encoded here as well: GnuTLS writes
 * none for a CRL.
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
#define OID_CRL_IDP "2.5.29.28"

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

/* A DER buffer that grows. */
struct der {
	unsigned char *p;
	size_t len, cap;
	int nomem;		/* an append failed; the rest are no-ops */
};

static void
der_put(struct der *d, const void *src, size_t n)
{
	if (d->nomem || n == 0)	/* an empty list has no buffer */
		return;
	if (d->len + n > d->cap) {
		size_t cap = d->cap ? d->cap : 4096;
		unsigned char *p;
		while (cap < d->len + n)
			cap *= 2;
		if ((p = realloc(d->p, cap)) == NULL) {
			d->nomem = 1;
			return;
		}
		d->p = p;
		d->cap = cap;
	}
	memcpy(d->p + d->len, src, n);
	d->len += n;
}

/* The size of der_head's tag and length for a content of len bytes. */
static size_t
der_head_len(size_t len)
{
	return len < 0x80 ? 2 : len <= 0xff ? 3 : len <= 0xffff ? 4 :
	    len <= 0xffffff ? 5 : 6;
}

/* A tag and a definite length (X.690 8.1.3), lengths below 2^32. */
static void
der_head(struct der *d, unsigned char tag, size_t len)
{
	unsigned char h[6];
	size_t n = 0;

	h[n++] = tag;
	if (len < 0x80)
		h[n++] = (unsigned char)len;
	else if (len <= 0xff) {
		h[n++] = 0x81;
		h[n++] = (unsigned char)len;
	} else if (len <= 0xffff) {
		h[n++] = 0x82;
		h[n++] = (unsigned char)(len >> 8);
		h[n++] = (unsigned char)len;
	} else if (len <= 0xffffff) {
		h[n++] = 0x83;
		h[n++] = (unsigned char)(len >> 16);
		h[n++] = (unsigned char)(len >> 8);
		h[n++] = (unsigned char)len;
	} else {
		h[n++] = 0x84;
		h[n++] = (unsigned char)(len >> 24);
		h[n++] = (unsigned char)(len >> 16);
		h[n++] = (unsigned char)(len >> 8);
		h[n++] = (unsigned char)len;
	}
	der_put(d, h, n);
}

/*
 * Appends a critical IssuingDistributionPoint (RFC 5280 5.2.5) to the
 * crlExtensions of r->dst: distributionPoint fullName = the URI url, and
 * onlyContainsUserCerts, as a shard lists end-entity certificates only.
 * PKIX1Implicit88 tags: [0] around the DistributionPointName CHOICE
 * (explicit, as for any CHOICE), [0] IMPLICIT GeneralNames, [6] IMPLICIT
 * IA5String, [1] IMPLICIT BOOLEAN.
 */
static anvil_err
add_idp(struct rebuild *r, const char *url)
{
	struct der d = { NULL, 0, 0, 0 };
	size_t ul = strlen(url), i, gn, dpn;
	anvil_err rc = ANVIL_OK;
	int ret;

	for (i = 0; i < ul; i++)
		if (url[i] <= 0x20 || url[i] >= 0x7f)
			break;
	if (ul == 0 || ul > CA_CRL_IDP_URL_MAX || i < ul)
		return errf(r->err, r->errlen, ANVIL_ERR_INVALID, "the "
		    "IssuingDistributionPoint URL is empty, too long or not "
		    "printable ASCII");
	gn = der_head_len(ul) + ul;		/* [6] uri */
	dpn = der_head_len(gn) + gn;		/* [0] fullName */
	der_head(&d, 0x30, der_head_len(dpn) + dpn + 3);
	der_head(&d, 0xa0, dpn);
	der_head(&d, 0xa0, gn);
	der_head(&d, 0x86, ul);
	der_put(&d, url, ul);
	der_put(&d, "\x81\x01\xff", 3);
	if (d.nomem) {
		free(d.p);
		return errf(r->err, r->errlen, ANVIL_ERR_NOMEM, "out of memory");
	}
	if ((ret = asn1_write_value(r->dst, "tbsCertList.crlExtensions", "NEW",
	    1)) != ASN1_SUCCESS ||
	    (ret = asn1_write_value(r->dst,
	    "tbsCertList.crlExtensions.?LAST.extnID", OID_CRL_IDP, 1)) !=
	    ASN1_SUCCESS ||
	    (ret = asn1_write_value(r->dst,
	    "tbsCertList.crlExtensions.?LAST.critical", "TRUE", 1)) !=
	    ASN1_SUCCESS ||
	    (ret = asn1_write_value(r->dst,
	    "tbsCertList.crlExtensions.?LAST.extnValue", d.p, (int)d.len)) !=
	    ASN1_SUCCESS)
		rc = asn1_fail(r->err, r->errlen, "asn1_write_value", ret,
		    "IssuingDistributionPoint");
	free(d.p);
	return rc;
}

/*
 * One RevokedCertificate (RFC 5280 5.1): the serial as the shortest
 * positive INTEGER, the date as UTCTime through 2049 and GeneralizedTime
 * from 2050 (5.1.2.4), and for a non-zero reason a non-critical
 * reasonCode entry extension (5.3.1); reason 0 is written as none.
 */
static int
der_entry(struct der *d, const struct ca_revoked *r)
{
	/* extnID 2.5.29.21, then extnValue OCTET STRING { ENUMERATED }. */
	static const unsigned char reason_oid[] = { 0x06, 0x03, 0x55, 0x1d,
		0x15 };
	unsigned char ser[21], when[16], ext[16];
	const unsigned char *s;
	size_t slen = r->serial_len, sl = 0, wl, el = 0;
	struct tm tm;
	time_t t = r->when;

	s = int_strip(r->serial, &slen);
	if (s[0] & 0x80)
		ser[sl++] = 0;
	memcpy(ser + sl, s, slen);
	sl += slen;
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 1950)
		return -1;
	wl = strftime((char *)when, sizeof(when), "%Y%m%d%H%M%SZ", &tm);
	if (wl != 15)
		return -1;
	if (tm.tm_year + 1900 < 2050) {
		/* UTCTime: the year's last two digits. */
		memmove(when, when + 2, 13);
		wl = 13;
	}
	if (r->reason != 0) {
		/* SEQUENCE { SEQUENCE { OID, OCTET STRING { 0a 01 reason } } } */
		ext[el++] = 0x30;
		ext[el++] = 2 + sizeof(reason_oid) + 2 + 3;
		ext[el++] = 0x30;
		ext[el++] = sizeof(reason_oid) + 2 + 3;
		memcpy(ext + el, reason_oid, sizeof(reason_oid));
		el += sizeof(reason_oid);
		ext[el++] = 0x04;
		ext[el++] = 3;
		ext[el++] = 0x0a;
		ext[el++] = 1;
		ext[el++] = (unsigned char)r->reason;
	}
	der_head(d, 0x30, 2 + sl + 2 + wl + el);
	der_head(d, 0x02, sl);
	der_put(d, ser, sl);
	der_head(d, wl == 13 ? 0x17 : 0x18, wl);
	der_put(d, when, wl);
	der_put(d, ext, el);
	return 0;
}

/*
 * Reads the tag and length at p (n bytes left): *hl is the header's size,
 * *cl the content's. -1 for anything but a definite length within n.
 */
static int
der_read(const unsigned char *p, size_t n, size_t *hl, size_t *cl)
{
	size_t i, k, len = 0;

	if (n < 2)
		return -1;
	if (p[1] < 0x80) {
		*hl = 2;
		len = p[1];
	} else {
		k = p[1] & 0x7f;
		if (k == 0 || k > 4 || n < 2 + k)
			return -1;
		for (i = 0; i < k; i++)
			len = len << 8 | p[2 + i];
		*hl = 2 + k;
	}
	if (len > n - *hl)
		return -1;
	*cl = len;
	return 0;
}

/*
 * The tbsCertList of tbs (DER, no revokedCertificates) with the entries
 * (DER of the SEQUENCE OF) put where RFC 5280 5.1 has them: after
 * nextUpdate, before crlExtensions [0].
 */
static int
splice_entries(const gnutls_datum_t *tbs, const struct der *entries,
    struct der *out)
{
	const unsigned char *p = tbs->data;
	size_t hl, cl, off, chl, ccl, at;

	if (der_read(p, tbs->size, &hl, &cl) != 0 || p[0] != 0x30 ||
	    hl + cl != tbs->size)
		return -1;
	for (off = hl; off < tbs->size; off += chl + ccl) {
		if (der_read(p + off, tbs->size - off, &chl, &ccl) != 0)
			return -1;
		if (p[off] == 0xa0)
			break;
	}
	at = off;
	der_head(out, 0x30, cl + entries->len);
	der_put(out, p + hl, at - hl);
	der_put(out, entries->p, entries->len);
	der_put(out, p + at, tbs->size - at);
	return out->nomem ? -1 : 0;
}

/*
 * From the CRL GnuTLS signed with no entries (*der): the same CRL with
 * the entries of rev, signed with the CA key. *der is replaced by the new
 * DER (malloc'ed).
 */
static anvil_err
add_entries(struct ca *ca, gnutls_sign_algorithm_t sigalg,
    const struct ca_revoked *rev, size_t n, const char *idp_url,
    gnutls_datum_t *der, char *err, size_t errlen)
{
	struct rebuild r = { NULL, NULL, NULL, 65536, err, errlen };
	struct der entries = { NULL, 0, 0, 0 }, tbs = { NULL, 0, 0, 0 };
	struct der whole = { NULL, 0, 0, 0 }, list = { NULL, 0, 0, 0 };
	gnutls_datum_t tbs0 = { NULL, 0 }, alg = { NULL, 0 }, sig = { NULL, 0 };
	asn1_node defs = NULL;
	char msg[ASN1_MAX_ERROR_DESCRIPTION_SIZE] = "";
	size_t i;
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
	    (rc = copy_crl_extensions(&r)) != ANVIL_OK ||
	    (rc = copy_signature_algorithm(&r)) != ANVIL_OK ||
	    (idp_url != NULL && (rc = add_idp(&r, idp_url)) != ANVIL_OK))
		goto out;
	/* RFC 5280 5.1.2.6: no entries, no list (not an empty one). */
	ret = asn1_write_value(r.dst, "tbsCertList.revokedCertificates", NULL,
	    0);
	if (ret != ASN1_SUCCESS) {
		rc = asn1_fail(err, errlen, "asn1_write_value", ret,
		    "revokedCertificates");
		goto out;
	}
	if ((rc = der_encode(r.dst, "tbsCertList", &tbs0, err, errlen)) ||
	    (rc = der_encode(r.dst, "signatureAlgorithm", &alg, err, errlen)))
		goto out;
	for (i = 0; i < n; i++)
		if (der_entry(&entries, &rev[i]) != 0) {
			rc = errf(err, errlen, ANVIL_ERR_INVALID, "revoked "
			    "entry %zu: date out of range", i);
			goto out;
		}
	if (n > 0) {
		der_head(&list, 0x30, entries.len);
		der_put(&list, entries.p, entries.len);
	}
	if (list.nomem || entries.nomem || splice_entries(&tbs0, &list, &tbs)) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "cannot assemble the "
		    "CRL's entries");
		goto out;
	}
	{
		gnutls_datum_t t = { tbs.p, (unsigned)tbs.len };
		ret = gnutls_privkey_sign_data2(ca->key, sigalg, 0, &t, &sig);
	}
	if (ret < 0) {
		rc = ca_gnutls_err(err, errlen, "gnutls_privkey_sign_data2",
		    ret);
		goto out;
	}
	/* CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm,
	 * signatureValue BIT STRING } (RFC 5280 5.1.1). */
	der_head(&whole, 0x30, tbs.len + alg.size + (sig.size + 1 + 1 +
	    (sig.size + 1 < 0x80 ? 1 : sig.size + 1 <= 0xff ? 2 : 3)));
	der_put(&whole, tbs.p, tbs.len);
	der_put(&whole, alg.data, alg.size);
	der_head(&whole, 0x03, sig.size + 1);
	der_put(&whole, "", 1);	/* no unused bits */
	der_put(&whole, sig.data, sig.size);
	if (whole.nomem) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	free(der->data);
	der->data = whole.p;
	der->size = (unsigned)whole.len;
	whole.p = NULL;
	rc = ANVIL_OK;
out:
	free(r.buf);
	free(entries.p);
	free(list.p);
	free(tbs.p);
	free(whole.p);
	free(tbs0.data);
	free(alg.data);
	gnutls_free(sig.data);
	asn1_delete_structure(&r.src);
	asn1_delete_structure(&r.dst);
	return rc;
}

/*
 * Reads the CRL just built back. Up to CRL_FULL_CHECK entries GnuTLS
 * parses it whole and checks its signature against the CA certificate.
 * Beyond, GnuTLS's parse costs what the build no longer does (libtasn1
 * decodes a SEQUENCE OF by walking it: a minute for 100 000 entries), so
 * the DER is walked here instead: one CertificateList, exactly n
 * entries, and the signature over the tbsCertList verified with the CA
 * certificate's key.
 */
#define CRL_FULL_CHECK 10000

static anvil_err
self_check(struct ca *ca, gnutls_sign_algorithm_t sigalg,
    const gnutls_datum_t *der, size_t n, char *err, size_t errlen)
{
	gnutls_x509_crl_t check = NULL;
	gnutls_pubkey_t pub = NULL;
	const unsigned char *p = der->data;
	size_t hl, cl, thl, tcl, off, chl, ccl, count = 0, ahl, acl, shl, scl;
	gnutls_datum_t tbs, sig;
	anvil_err rc = ANVIL_ERR_CRYPTO;
	unsigned vout = 0;
	int ret;

	if (n <= CRL_FULL_CHECK) {
		/* The dates are the caller's: ignore what they alone cause. */
		const unsigned dates = GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED |
		    GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE;
		CA_TRY(gnutls_x509_crl_init, &check);
		CA_TRY(gnutls_x509_crl_import, check, der, GNUTLS_X509_FMT_DER);
		/* Signature only: the dates are the caller's to choose. */
		CA_TRY(gnutls_x509_crl_verify, check, &ca->cert, 1,
		    GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &vout);
		if ((vout & dates) != 0 &&
		    (vout & ~(dates | GNUTLS_CERT_INVALID)) == 0)
			vout = 0;
		if (vout != 0) {
			rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "the CRL just "
			    "built does not verify (status 0x%x)", vout);
			goto out;
		}
		rc = ANVIL_OK;
		goto out;
	}
	if (der_read(p, der->size, &hl, &cl) != 0 || hl + cl != der->size ||
	    der_read(p + hl, cl, &thl, &tcl) != 0 ||
	    der_read(p + hl + thl + tcl, cl - thl - tcl, &ahl, &acl) != 0 ||
	    der_read(p + hl + thl + tcl + ahl + acl, cl - thl - tcl - ahl - acl,
	    &shl, &scl) != 0 || thl + tcl + ahl + acl + shl + scl != cl ||
	    scl < 2 || p[hl + thl + tcl + ahl + acl + shl] != 0) {
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "the CRL just built "
		    "does not parse");
		goto out;
	}
	/* The entries: the sixth element of tbsCertList (RFC 5280 5.1). */
	for (off = hl + thl, count = 0; off < hl + thl + tcl; off += chl + ccl) {
		if (der_read(p + off, hl + thl + tcl - off, &chl, &ccl) != 0)
			break;
		if (++count == 6)
			break;
	}
	if (count == 6 && p[off] == 0x30) {
		size_t e, end = off + chl + ccl, ehl, ecl;
		count = 0;
		for (e = off + chl; e < end; e += ehl + ecl) {
			if (der_read(p + e, end - e, &ehl, &ecl) != 0 ||
			    p[e] != 0x30)
				break;
			count++;
		}
	} else
		count = 0;
	if (count != n) {
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "the CRL just built "
		    "holds %zu entries, not %zu", count, n);
		goto out;
	}
	tbs.data = (unsigned char *)p + hl;
	tbs.size = (unsigned)(thl + tcl);
	sig.data = (unsigned char *)p + hl + thl + tcl + ahl + acl + shl + 1;
	sig.size = (unsigned)(scl - 1);
	CA_TRY(gnutls_pubkey_init, &pub);
	CA_TRY(gnutls_pubkey_import_x509, pub, ca->cert, 0);
	if ((ret = gnutls_pubkey_verify_data2(pub, sigalg, 0, &tbs, &sig)) <
	    0) {
		rc = ca_gnutls_err(err, errlen, "gnutls_pubkey_verify_data2",
		    ret);
		goto out;
	}
	rc = ANVIL_OK;
out:
	if (check != NULL)
		gnutls_x509_crl_deinit(check);
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	return rc;
}

anvil_err
ca_crl_build(struct ca *ca, const struct ca_revoked *revoked, size_t n,
    uint64_t number, time_t this_update, time_t next_update,
    struct ca_crl **out, char *err, size_t errlen)
{
	return ca_crl_build_idp(ca, revoked, n, number, this_update,
	    next_update, NULL, out, err, errlen);
}

anvil_err
ca_crl_build_idp(struct ca *ca, const struct ca_revoked *revoked, size_t n,
    uint64_t number, time_t this_update, time_t next_update,
    const char *idp_url, struct ca_crl **out, char *err, size_t errlen)
{
	gnutls_x509_crl_t crl = NULL;
	gnutls_datum_t der = { NULL, 0 }, tmp = { NULL, 0 }, pem = { NULL, 0 };
	struct ca_crl *c = NULL;
	unsigned char num[9];
	size_t numlen = 0, i;
	int ret, sigalg;
	anvil_err rc = ANVIL_ERR_CRYPTO;

	*out = NULL;
	for (i = 0; i < n; i++) {
		if (!ca_crl_reason_valid(revoked[i].reason) ||
		    revoked[i].serial_len == 0 || revoked[i].serial_len > 20)
			return errf(err, errlen, ANVIL_ERR_INVALID, "revoked "
			    "entry %zu: bad serial length or reason %d", i,
			    revoked[i].reason);
	}
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
	sigalg = gnutls_x509_crl_get_signature_algorithm(crl);
	if (sigalg < 0) {
		rc = ca_gnutls_err(err, errlen,
		    "gnutls_x509_crl_get_signature_algorithm", sigalg);
		goto out;
	}
	if ((rc = add_entries(ca, (gnutls_sign_algorithm_t)sigalg, revoked, n,
	    idp_url, &der, err, errlen)) != ANVIL_OK)
		goto out;
	rc = ANVIL_ERR_CRYPTO;
	/* Whatever we publish must read back and verify. */
	if ((rc = self_check(ca, (gnutls_sign_algorithm_t)sigalg, &der, n, err,
	    errlen)) != ANVIL_OK)
		goto out;
	rc = ANVIL_ERR_CRYPTO;
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
	ca_crl_free(c);
	return rc;
}
