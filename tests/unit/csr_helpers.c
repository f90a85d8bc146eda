/*
 * csr_helpers.c - shared by the CA unit tests: keys, PKCS#10 requests built
 * with GnuTLS's crq API, and small readers for certificates.
 */
#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csr_helpers.h"

#define OK(call)                                                               \
	do {                                                                   \
		int ok_ret_ = (call);                                          \
		cr_assert(ok_ret_ >= 0, "%s: %s", #call,                       \
		    gnutls_strerror(ok_ret_));                                 \
	} while (0)

gnutls_x509_privkey_t
th_key(gnutls_pk_algorithm_t pk, unsigned bits)
{
	gnutls_x509_privkey_t k = NULL;

	OK(gnutls_x509_privkey_init(&k));
	OK(gnutls_x509_privkey_generate2(k, pk, bits, 0, NULL, 0));
	return k;
}

gnutls_datum_t
th_key_spki(gnutls_x509_privkey_t key)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_privkey_t pk = NULL;
	gnutls_datum_t d = { NULL, 0 };

	OK(gnutls_privkey_init(&pk));
	OK(gnutls_privkey_import_x509(pk, key, 0));
	OK(gnutls_pubkey_init(&pub));
	OK(gnutls_pubkey_import_privkey(pub, pk, 0, 0));
	OK(gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &d));
	gnutls_pubkey_deinit(pub);
	gnutls_privkey_deinit(pk);
	return d;
}

static void
add_ip(gnutls_x509_crq_t crq, const char *text)
{
	unsigned char a[16];
	size_t n = 4;

	if (strchr(text, ':') != NULL) {
		cr_assert_eq(inet_pton(AF_INET6, text, a), 1, "bad v6 %s", text);
		n = 16;
	} else
		cr_assert_eq(inet_pton(AF_INET, text, a), 1, "bad v4 %s", text);
	OK(gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_IPADDRESS, a,
	    (unsigned)n, GNUTLS_FSAN_APPEND));
}

static void
add_names(gnutls_x509_crq_t crq, gnutls_x509_subject_alt_name_t type,
    const char *const *names)
{
	size_t i;

	for (i = 0; i < TH_MAX_NAMES && names[i] != NULL; i++)
		OK(gnutls_x509_crq_set_subject_alt_name(crq, type, names[i],
		    (unsigned)strlen(names[i]), GNUTLS_FSAN_APPEND));
}

gnutls_datum_t
th_csr_der(gnutls_x509_privkey_t key, const struct th_csr *c)
{
	static const unsigned char tls_feature[] = { 0x30, 0x03, 0x02, 0x01,
		0x05 };
	gnutls_x509_crq_t crq = NULL;
	gnutls_datum_t d = { NULL, 0 };
	gnutls_digest_algorithm_t dig = GNUTLS_DIG_SHA256;
	int pk = gnutls_x509_privkey_get_pk_algorithm(key);
	size_t i;

	OK(gnutls_x509_crq_init(&crq));
	OK(gnutls_x509_crq_set_version(crq, c->version ? c->version : 1));
	OK(gnutls_x509_crq_set_key(crq, key));
	if (c->cn != NULL)
		OK(gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME,
		    0, c->cn, (unsigned)strlen(c->cn)));
	if (c->raw_extreq != NULL) {
		OK(gnutls_x509_crq_set_attribute_by_oid(crq,
		    "1.2.840.113549.1.9.14", (void *)c->raw_extreq,
		    c->raw_extreq_len));
	} else {
		add_names(crq, GNUTLS_SAN_DNSNAME, c->dns);
		for (i = 0; i < TH_MAX_NAMES && c->ip[i] != NULL; i++)
			add_ip(crq, c->ip[i]);
		add_names(crq, GNUTLS_SAN_RFC822NAME, c->email);
		add_names(crq, GNUTLS_SAN_URI, c->uri);
		if (c->raw_ip != NULL)
			OK(gnutls_x509_crq_set_subject_alt_name(crq,
			    GNUTLS_SAN_IPADDRESS, c->raw_ip,
			    (unsigned)c->raw_ip_len, GNUTLS_FSAN_APPEND));
		if (c->raw_dns != NULL)
			OK(gnutls_x509_crq_set_subject_alt_name(crq,
			    GNUTLS_SAN_DNSNAME, c->raw_dns,
			    (unsigned)c->raw_dns_len, GNUTLS_FSAN_APPEND));
		if (c->basic_constraints)
			OK(gnutls_x509_crq_set_basic_constraints(crq,
			    c->basic_constraints == 2, -1));
		if (c->key_usage)
			OK(gnutls_x509_crq_set_key_usage(crq, c->key_usage));
		for (i = 0; i < TH_MAX_NAMES && c->eku[i] != NULL; i++)
			OK(gnutls_x509_crq_set_key_purpose_oid(crq, c->eku[i],
			    0));
		if (c->must_staple)
			OK(gnutls_x509_crq_set_extension_by_oid(crq,
			    "1.3.6.1.5.5.7.1.24", tls_feature,
			    sizeof(tls_feature), 0));
	}
	if (pk == GNUTLS_PK_EDDSA_ED25519 || pk == GNUTLS_PK_EDDSA_ED448)
		dig = GNUTLS_DIG_SHA512;
	OK(gnutls_x509_crq_sign2(crq, key, dig, 0));
	OK(gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &d));
	gnutls_x509_crq_deinit(crq);
	return d;
}

gnutls_x509_crt_t
th_crt_der(const unsigned char *der, size_t len)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { (unsigned char *)der, (unsigned)len };

	cr_assert_not_null(der);
	OK(gnutls_x509_crt_init(&crt));
	OK(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER));
	return crt;
}

gnutls_x509_crt_t
th_crt_pem(const char *pem)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d;

	cr_assert_not_null(pem);
	d.data = (unsigned char *)pem;
	d.size = (unsigned)strlen(pem);
	OK(gnutls_x509_crt_init(&crt));
	OK(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM));
	return crt;
}

int
th_crt_equal(gnutls_x509_crt_t a, gnutls_x509_crt_t b)
{
	gnutls_datum_t da = { NULL, 0 }, db = { NULL, 0 };
	int same;

	OK(gnutls_x509_crt_export2(a, GNUTLS_X509_FMT_DER, &da));
	OK(gnutls_x509_crt_export2(b, GNUTLS_X509_FMT_DER, &db));
	same = da.size == db.size && memcmp(da.data, db.data, da.size) == 0;
	gnutls_free(da.data);
	gnutls_free(db.data);
	return same;
}

static gnutls_x509_crt_t
crt_copy(gnutls_x509_crt_t c)
{
	gnutls_datum_t d = { NULL, 0 };
	gnutls_x509_crt_t out;

	OK(gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_DER, &d));
	out = th_crt_der(d.data, d.size);
	gnutls_free(d.data);
	return out;
}

unsigned
th_verify(gnutls_x509_crt_t leaf, gnutls_x509_crt_t ca, const char *hostname)
{
	gnutls_x509_trust_list_t tl = NULL;
	gnutls_x509_crt_t anchor = crt_copy(ca);
	gnutls_typed_vdata_st vd[2];
	unsigned nvd = 0, status = 0, status2 = 0;

	OK(gnutls_x509_trust_list_init(&tl, 0));
	cr_assert_eq(gnutls_x509_trust_list_add_cas(tl, &anchor, 1, 0), 1);
	memset(vd, 0, sizeof(vd));
	vd[nvd].type = GNUTLS_DT_KEY_PURPOSE_OID;
	vd[nvd].data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER;
	nvd++;
	if (hostname != NULL) {
		vd[nvd].type = GNUTLS_DT_DNS_HOSTNAME;
		vd[nvd].data = (unsigned char *)hostname;
		nvd++;
	}
	OK(gnutls_x509_trust_list_verify_crt2(tl, &leaf, 1, vd, nvd, 0,
	    &status, NULL));
	gnutls_x509_trust_list_deinit(tl, 1);

	/* The older list interface must agree. */
	OK(gnutls_x509_crt_list_verify(&leaf, 1, &ca, 1, NULL, 0, 0,
	    &status2));
	return status | status2;
}

size_t
th_ski(gnutls_x509_crt_t crt, unsigned char *id)
{
	size_t sz = 64;
	unsigned crit = 1;

	OK(gnutls_x509_crt_get_subject_key_id(crt, id, &sz, &crit));
	cr_assert_eq(crit, 0, "subjectKeyIdentifier must not be critical");
	return sz;
}

size_t
th_aki(gnutls_x509_crt_t crt, unsigned char *id)
{
	size_t sz = 64;
	unsigned crit = 1;
	int ret;

	ret = gnutls_x509_crt_get_authority_key_id(crt, id, &sz, &crit);
	if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return 0;
	OK(ret);
	cr_assert_eq(crit, 0, "authorityKeyIdentifier must not be critical");
	return sz;
}

int
th_crt_has_key(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
	unsigned char a[64], b[64];
	size_t na = sizeof(a), nb = sizeof(b);

	OK(gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &na));
	OK(gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b,
	    &nb));
	return na == nb && memcmp(a, b, na) == 0;
}

void
th_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	cr_assert(fd >= 0, "open %s", path);
	cr_assert_eq(write(fd, data, len), (ssize_t)len, "write %s", path);
	cr_assert_eq(close(fd), 0);
}

char *
th_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	cr_assert_not_null(f, "fopen %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

void
th_check_extensions(gnutls_x509_crt_t crt, const char *const *want,
    size_t nwant, const char *what)
{
	int seen[16] = { 0 };
	char oid[128];
	size_t i, sz;
	unsigned crit;
	unsigned idx;
	int ret;

	cr_assert(nwant <= 16);
	for (idx = 0;; idx++) {
		sz = sizeof(oid);
		ret = gnutls_x509_crt_get_extension_info(crt, idx, oid, &sz,
		    &crit);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		OK(ret);
		for (i = 0; i < nwant; i++)
			if (strcmp(oid, want[i]) == 0)
				break;
		cr_assert(i < nwant, "%s: unexpected extension %s", what, oid);
		cr_assert_eq(seen[i], 0, "%s: extension %s twice", what, oid);
		seen[i] = 1;
	}
	for (i = 0; i < nwant; i++)
		cr_assert(seen[i], "%s: extension %s missing", what, want[i]);
}

void
th_ip_bytes(const char *text, unsigned char *out, size_t *len)
{
	if (strchr(text, ':') != NULL) {
		cr_assert_eq(inet_pton(AF_INET6, text, out), 1, "%s", text);
		*len = 16;
	} else {
		cr_assert_eq(inet_pton(AF_INET, text, out), 1, "%s", text);
		*len = 4;
	}
}

void
th_check_san(gnutls_x509_crt_t leaf, const struct ca_ident *ids, size_t nids)
{
	int matched[8] = { 0 };
	unsigned char buf[512], ip[16];
	size_t sz, iplen, i;
	unsigned seq, crit;
	int type, hit;

	cr_assert(nids <= 8);
	for (seq = 0;; seq++) {
		sz = sizeof(buf) - 1;
		type = gnutls_x509_crt_get_subject_alt_name(leaf, seq, buf, &sz,
		    &crit);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		OK(type);
		buf[sz] = '\0';
		hit = 0;
		for (i = 0; i < nids && !hit; i++) {
			if (matched[i])
				continue;
			if (type == GNUTLS_SAN_DNSNAME &&
			    ids[i].type == CA_IDENT_DNS &&
			    sz == strlen(ids[i].value) &&
			    memcmp(buf, ids[i].value, sz) == 0)
				hit = 1;
			if (type == GNUTLS_SAN_IPADDRESS &&
			    ids[i].type == CA_IDENT_IP) {
				th_ip_bytes(ids[i].value, ip, &iplen);
				hit = sz == iplen && memcmp(buf, ip, sz) == 0;
			}
			if (hit)
				matched[i] = 1;
		}
		cr_assert(hit, "leaf SAN #%u (type %d, %zu bytes \"%s\") is "
		    "not an order identifier", seq, type, sz,
		    type == GNUTLS_SAN_DNSNAME ? (char *)buf : "(binary)");
	}
	for (i = 0; i < nids; i++)
		cr_assert(matched[i], "identifier %s missing from leaf SAN",
		    ids[i].value);
	cr_assert_eq(seq, nids, "leaf has %u SANs, want %zu", seq, nids);
}
