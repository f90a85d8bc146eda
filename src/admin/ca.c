/*
 * ca.c - anvil-admin ca show: the CA certificate as operators need it
 * (subject, key, validity, key identifier, fingerprint, files), read from
 * the CA the server uses; never the key.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "admin/admin.h"
#include "ca/ca.h"
#include "core/util.h"

static void
set_time(json_t *o, const char *k, time_t t)
{
	char buf[32];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(o, k, json_string(buf));
}

int
admin_ca(struct admin_ctx *ctx, int argc, char **argv)
{
	struct ca *ca = NULL;
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = { NULL, 0 };
	unsigned char buf[64], fp[32];
	char hex[129];
	size_t sz = sizeof(buf), fsz = sizeof(fp);
	unsigned bits = 0, crit = 0;
	int pk, status = ADMIN_FAIL;
	char err[512] = "";
	json_t *o = NULL;

	if (argc != 2 || strcmp(argv[1], "show") != 0) {
		fprintf(stderr, "usage: anvil-admin ca show\n");
		return ADMIN_USAGE;
	}
	if (ca_load_or_generate(ctx->cfg, &ca, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "anvil-admin: ca show: %s\n", err);
		return ADMIN_FAIL;
	}
	crt = ca_cert_peek(ca);
	if ((o = json_object()) == NULL)
		goto out;
	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0)
		json_object_set_new(o, "subject", json_stringn((char *)dn.data,
		    dn.size));
	pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
	json_object_set_new(o, "key", json_sprintf("%s %u bits",
	    gnutls_pk_get_name((gnutls_pk_algorithm_t)pk) ?: "?", bits));
	json_object_set_new(o, "key_file", json_string(
	    strncmp(ctx->cfg->key_file, "pkcs11:", 7) == 0 ? "PKCS#11 token" :
	    ctx->cfg->key_file));
	json_object_set_new(o, "cert_file", json_string(ctx->cfg->cert_file));
	set_time(o, "not_before", gnutls_x509_crt_get_activation_time(crt));
	set_time(o, "not_after", gnutls_x509_crt_get_expiration_time(crt));
	if (gnutls_x509_crt_get_subject_key_id(crt, buf, &sz, &crit) >= 0) {
		util_hex(buf, sz, hex);
		json_object_set_new(o, "key_id", json_string(hex));
	}
	if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp,
	    &fsz) >= 0) {
		util_hex(fp, fsz, hex);
		json_object_set_new(o, "sha256_fingerprint", json_string(hex));
	}
	admin_print_object(ctx, o);
	status = ADMIN_OK;
out:
	gnutls_free(dn.data);
	json_decref(o);
	ca_free(ca);
	return status;
}

/*
 * anvil-admin ocsp show | ocsp rotate: the OCSP signer ([ocsp]), and a new
 * delegated responder key and certificate on demand (RFC 6960 4.2.2.2).
 * Answers signed by the previous responder stay verifiable: its
 * certificate is still valid and travels inside each of them.
 */
int
admin_ocsp(struct admin_ctx *ctx, int argc, char **argv)
{
	const struct anvil_config *cfg = ctx->cfg;
	struct ca *ca = NULL;
	struct ca_ocsp_signer *s = NULL;
	int status = ADMIN_FAIL, rotate;
	char err[512] = "";
	json_t *o = NULL;
	time_t now = time(NULL);

	if (argc != 2 || (strcmp(argv[1], "show") != 0 &&
	    strcmp(argv[1], "rotate") != 0)) {
		fprintf(stderr, "usage: anvil-admin ocsp show | ocsp rotate\n");
		return ADMIN_USAGE;
	}
	rotate = strcmp(argv[1], "rotate") == 0;
	if (rotate && cfg->ocsp_sign_with_ca) {
		fprintf(stderr, "anvil-admin: ocsp rotate: [ocsp] sign_with_ca "
		    "is true: the CA key signs, there is no responder\n");
		return ADMIN_FAIL;
	}
	if (ca_load_or_generate(cfg, &ca, err, sizeof(err)) != ANVIL_OK ||
	    (rotate && ca_ocsp_responder_issue(cfg, ca, now, err,
	    sizeof(err)) != ANVIL_OK) ||
	    ca_ocsp_signer_load(cfg, ca, now, &s, err, sizeof(err)) !=
	    ANVIL_OK)
		goto out;
	if ((o = json_object()) == NULL)
		goto out;
	json_object_set_new(o, "enabled", json_boolean(cfg->ocsp_enabled));
	json_object_set_new(o, "signer", json_string(ca_ocsp_signer_by_ca(s) ?
	    "CA key" : "delegated responder"));
	if (!ca_ocsp_signer_by_ca(s)) {
		json_object_set_new(o, "responder_cert",
		    json_string(cfg->ocsp_responder_cert));
		json_object_set_new(o, "responder_key", json_string(
		    strncmp(cfg->ocsp_responder_key, "pkcs11:", 7) == 0 ?
		    "PKCS#11 token" : cfg->ocsp_responder_key));
	}
	set_time(o, "not_after", ca_ocsp_signer_not_after(s));
	json_object_set_new(o, "dir", json_string(cfg->ocsp_dir));
	json_object_set_new(o, "url", json_string(cfg->ocsp_url));
	if (rotate)
		json_object_set_new(o, "rotated", json_true());
	admin_print_object(ctx, o);
	status = ADMIN_OK;
out:
	if (status != ADMIN_OK && err[0] != '\0')
		fprintf(stderr, "anvil-admin: ocsp %s: %s\n", argv[1], err);
	json_decref(o);
	ca_ocsp_signer_free(s);
	ca_free(ca);
	return status;
}
