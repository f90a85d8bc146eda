/*
 * issue.c - end-entity certificates from a checked CSR.
 *
 * Only the public key comes from the CSR. The subject, the SAN and every
 * extension come from the order and the profile: the CSR's own extension
 * requests are never copied.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/x509-ext.h>

#include "ca/ca_int.h"
#include "core/util.h"

void
ca_issue_params_from_config(const struct anvil_config *cfg,
    struct ca_issue_params *p)
{
	memset(p, 0, sizeof(*p));
	p->validity_days = cfg->validity_days;
	p->crl_url = cfg->crl_url;
	p->crl_shards = cfg->crl_shards;
	p->ocsp_url = cfg->ocsp_url;
	p->ca_issuers_url = cfg->ca_issuers_url;
	p->rsa_key_encipherment = cfg->rsa_key_encipherment;
}

void
ca_issue_params_from_profile(const struct anvil_config *cfg,
    const struct config_profile *profile, struct ca_issue_params *p)
{
	ca_issue_params_from_config(cfg, p);
	p->validity_hours = profile->validity_hours;
	p->rsa_key_encipherment = (profile->key_usage &
	    CONFIG_KU_KEY_ENCIPHERMENT) != 0;
	p->eku = ((profile->eku & CONFIG_EKU_SERVER) ? CA_EKU_SERVER : 0) |
	    ((profile->eku & CONFIG_EKU_CLIENT) ? CA_EKU_CLIENT : 0);
	p->no_subject_cn = !profile->subject_cn;
}

void
ca_issued_free(struct ca_issued *c)
{
	if (c == NULL)
		return;
	free(c->pem);
	free(c->chain_pem);
	free(c->der);
	free(c);
}

static int
nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

/* The subjectAltName extension of ids, DER, into *der (gnutls_free). */
static anvil_err
san_der(const struct ca_ident *ids, size_t nids, gnutls_datum_t *der,
    char *err, size_t errlen)
{
	gnutls_subject_alt_names_t sans = NULL;
	anvil_err rc = ANVIL_ERR_CRYPTO;
	size_t i;
	int ret;

	if ((ret = gnutls_subject_alt_names_init(&sans)) < 0)
		return ca_gnutls_err(err, errlen,
		    "gnutls_subject_alt_names_init", ret);
	for (i = 0; i < nids; i++) {
		unsigned char ip[16];
		gnutls_datum_t d;

		if (ids[i].type == CA_IDENT_DNS) {
			d.data = (unsigned char *)ids[i].value;
			d.size = (unsigned)strlen(ids[i].value);
			ret = gnutls_subject_alt_names_set(sans,
			    GNUTLS_SAN_DNSNAME, &d, NULL);
		} else {
			if (inet_pton(AF_INET, ids[i].value, ip) == 1)
				d.size = 4;
			else if (inet_pton(AF_INET6, ids[i].value, ip) == 1)
				d.size = 16;
			else {
				rc = errf(err, errlen, ANVIL_ERR_INVALID,
				    "identifier \"%s\" is not an IP address",
				    ids[i].value);
				goto out;
			}
			d.data = ip;
			ret = gnutls_subject_alt_names_set(sans,
			    GNUTLS_SAN_IPADDRESS, &d, NULL);
		}
		if (ret < 0) {
			rc = ca_gnutls_err(err, errlen,
			    "gnutls_subject_alt_names_set", ret);
			goto out;
		}
	}
	if ((ret = gnutls_x509_ext_export_subject_alt_names(sans, der)) < 0) {
		rc = ca_gnutls_err(err, errlen,
		    "gnutls_x509_ext_export_subject_alt_names", ret);
		goto out;
	}
	rc = ANVIL_OK;
out:
	gnutls_subject_alt_names_deinit(sans);
	return rc;
}

static char *
datum_str(const gnutls_datum_t *d)
{
	char *s = malloc(d->size + 1);

	if (s != NULL) {
		memcpy(s, d->data, d->size);
		s[d->size] = '\0';
	}
	return s;
}

anvil_err
ca_issue(struct ca *ca, const struct ca_csr *csr, const struct ca_ident *ids,
    size_t nids, const struct ca_issue_params *p, struct ca_issued **out,
    char *err, size_t errlen)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t san = { NULL, 0 }, der = { NULL, 0 }, pem = { NULL, 0 };
	struct ca_issued *c = NULL;
	unsigned char kid[64];
	size_t kidlen = 0, i;
	const char *cn = NULL;
	char dp[2048];
	unsigned usage;
	time_t now = p->now ? p->now : time(NULL);
	anvil_err rc = ANVIL_ERR_CRYPTO;
	int ret;

	*out = NULL;
	if (nids == 0 || (p->validity_days == 0 && p->validity_hours == 0))
		return errf(err, errlen, ANVIL_ERR_INVALID, "nothing to issue");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");

	/* Serial: 16 random bytes, positive, no leading zero byte. */
	if (util_random(c->serial, sizeof(c->serial)) != ANVIL_OK) {
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "random failed");
		goto out;
	}
	c->serial[0] &= 0x7f;
	if (c->serial[0] == 0)
		c->serial[0] = 0x01;
	util_hex(c->serial, sizeof(c->serial), c->serial_hex);
	c->not_before = now;
	c->not_after = now + (p->validity_hours ? (time_t)p->validity_hours *
	    3600 : (time_t)p->validity_days * 86400);

	CA_TRY(gnutls_x509_crt_init, &crt);
	CA_TRY(gnutls_x509_crt_set_version, crt, 3);
	CA_TRY(gnutls_x509_crt_set_serial, crt, c->serial, sizeof(c->serial));
	CA_TRY(gnutls_x509_crt_set_pubkey, crt, csr->pub);
	/* Subject: CN = the first DNS identifier that fits, else empty (and
	 * always empty when the profile drops the CN). */
	for (i = 0; i < nids && cn == NULL && !p->no_subject_cn; i++)
		if (ids[i].type == CA_IDENT_DNS && strlen(ids[i].value) <= 64)
			cn = ids[i].value;
	if (cn != NULL)
		CA_TRY(gnutls_x509_crt_set_dn_by_oid, crt,
		    GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn));
	CA_TRY(gnutls_x509_crt_set_activation_time, crt, c->not_before);
	CA_TRY(gnutls_x509_crt_set_expiration_time, crt, c->not_after);
	CA_TRY(gnutls_x509_crt_set_basic_constraints, crt, 0, -1);
	usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
	if (csr->pk == GNUTLS_PK_RSA && p->rsa_key_encipherment)
		usage |= GNUTLS_KEY_KEY_ENCIPHERMENT;
	CA_TRY(gnutls_x509_crt_set_key_usage, crt, usage);
	if (p->eku == 0 || (p->eku & CA_EKU_SERVER))
		CA_TRY(gnutls_x509_crt_set_key_purpose_oid, crt,
		    GNUTLS_KP_TLS_WWW_SERVER, 0);
	if (p->eku & CA_EKU_CLIENT)
		CA_TRY(gnutls_x509_crt_set_key_purpose_oid, crt,
		    GNUTLS_KP_TLS_WWW_CLIENT, 0);
	if ((rc = ca_key_id(csr->pub, kid, &kidlen)) != ANVIL_OK) {
		errf(err, errlen, rc, "cannot compute the key identifier");
		goto out;
	}
	CA_TRY(gnutls_x509_crt_set_subject_key_id, crt, kid, kidlen);
	CA_TRY(gnutls_x509_crt_set_authority_key_id, crt, ca->key_id,
	    ca->key_id_len);
	if ((rc = san_der(ids, nids, &san, err, errlen)) != ANVIL_OK)
		goto out;
	rc = ANVIL_ERR_CRYPTO;
	/* RFC 5280 4.2.1.6: critical when the subject is empty. */
	CA_TRY(gnutls_x509_crt_set_extension_by_oid, crt, GNUTLS_X509EXT_OID_SAN,
	    san.data, san.size, cn == NULL);
	if (nonempty(p->ocsp_url)) {
		gnutls_datum_t u = { (unsigned char *)p->ocsp_url,
			(unsigned)strlen(p->ocsp_url) };
		CA_TRY(gnutls_x509_crt_set_authority_info_access, crt,
		    GNUTLS_IA_OCSP_URI, &u);
	}
	if (nonempty(p->ca_issuers_url)) {
		gnutls_datum_t u = { (unsigned char *)p->ca_issuers_url,
			(unsigned)strlen(p->ca_issuers_url) };
		CA_TRY(gnutls_x509_crt_set_authority_info_access, crt,
		    GNUTLS_IA_CAISSUERS_URI, &u);
	}
	if (nonempty(p->crl_url)) {
		/* Issue 20: a certificate names the CRL of its CA generation
		 * (part 3) and of its shard (part 2); generation 1 unsharded
		 * names crl_url itself, as it always has. */
		c->crl_shard = util_crl_shard_of(c->serial, sizeof(c->serial),
		    p->crl_shards);
		if (util_crl_url(p->crl_url, ca_generation(ca), c->crl_shard,
		    dp, sizeof(dp)) != 0) {
			rc = errf(err, errlen, ANVIL_ERR_INVALID, "crl_url too "
			    "long for the URL of its generation or shard");
			goto out;
		}
		CA_TRY(gnutls_x509_crt_set_crl_dist_points, crt,
		    GNUTLS_SAN_URI, dp, 0);
	}
	CA_TRY(gnutls_x509_crt_privkey_sign, crt, ca->cert, ca->key, ca->dig, 0);
	CA_TRY(gnutls_x509_crt_export2, crt, GNUTLS_X509_FMT_DER, &der);
	CA_TRY(gnutls_x509_crt_export2, crt, GNUTLS_X509_FMT_PEM, &pem);

	if ((c->der = malloc(der.size)) == NULL ||
	    (c->pem = datum_str(&pem)) == NULL ||
	    asprintf(&c->chain_pem, "%s%s", c->pem,
	    ca_chain_pem_peek(ca, 0)) < 0) {
		c->chain_pem = NULL;
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(c->der, der.data, der.size);
	c->der_len = der.size;
	*out = c;
	c = NULL;
	rc = ANVIL_OK;
out:
	gnutls_free(san.data);
	gnutls_free(der.data);
	gnutls_free(pem.data);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	ca_issued_free(c);
	return rc;
}
