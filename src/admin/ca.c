/*
 * ca.c - anvil-admin ca show: the CA certificate as operators need it
 * (subject, key, validity, key identifier, fingerprint, files) and each
 * of its generations, read from the CA the server uses; never the key.
 * anvil-admin ca rollover: a new generation (issue 20 part 3).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
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

/* The facts of one CA certificate into o. */
static void
cert_facts(json_t *o, gnutls_x509_crt_t crt)
{
	gnutls_datum_t dn = { NULL, 0 };
	unsigned bits = 0;
	int pk;

	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0)
		json_object_set_new(o, "subject", json_stringn((char *)dn.data,
		    dn.size));
	gnutls_free(dn.data);
	pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
	json_object_set_new(o, "key", json_sprintf("%s %u bits",
	    gnutls_pk_get_name((gnutls_pk_algorithm_t)pk) ?: "?", bits));
}

static void
cert_times_ids(json_t *o, gnutls_x509_crt_t crt)
{
	unsigned char buf[64], fp[32];
	char hex[129];
	size_t sz = sizeof(buf), fsz = sizeof(fp);
	unsigned crit = 0;

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
}

/* One row per generation, newest first: what it is and what it signs. */
static json_t *
generations(const struct anvil_config *cfg, struct ca *ca)
{
	json_t *a = json_array(), *o;
	char name[64];
	char *p;
	unsigned n;

	for (n = 0; a != NULL && ca != NULL && n < CA_MAX_GENERATIONS;
	    n++, ca = ca_older(ca)) {
		if ((o = json_object()) == NULL)
			break;
		json_object_set_new(o, "generation",
		    json_integer(ca_generation(ca)));
		cert_facts(o, ca_cert_peek(ca));
		cert_times_ids(o, ca_cert_peek(ca));
		json_object_set_new(o, "signs", json_string(n == 0 ?
		    "new certificates, CRLs, OCSP" : ca_retired(ca) ?
		    "nothing (retired)" : "CRLs, OCSP"));
		if (ca_generation(ca) == 1) {
			json_object_set_new(o, "cert_file",
			    json_string(cfg->cert_file));
		} else {
			snprintf(name, sizeof(name), "ca-g%u.pem",
			    ca_generation(ca));
			if ((p = util_path_join(cfg->data_dir, name)) != NULL)
				json_object_set_new(o, "cert_file",
				    json_string(p));
			free(p);
			snprintf(name, sizeof(name), "ca-g%u-cross.pem",
			    ca_generation(ca));
			if ((p = util_path_join(cfg->data_dir, name)) != NULL)
				json_object_set_new(o, "cross_file",
				    json_string(p));
			free(p);
		}
		json_array_append_new(a, o);
	}
	return a;
}

/*
 * anvil-admin ca rollover: the next generation (ca_rollover), then the
 * same report as ca show. Relying parties keep trusting ca.pem (the
 * default chain runs through the cross-certificate); a long-running
 * server reloads the CA when it sees the new data_dir/cas.json.
 */
static int
ca_rollover_cmd(struct admin_ctx *ctx)
{
	char err[512] = "";
	unsigned g = 0;

	if (ca_rollover(ctx->cfg, &g, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "anvil-admin: ca rollover: %s\n", err);
		return ADMIN_FAIL;
	}
	fprintf(stderr, "anvil-admin: CA generation %u issues new "
	    "certificates from now on; generation %u keeps signing CRLs and "
	    "OCSP for its own. To have its certificates renewed early (ARI): "
	    "anvil-admin renewal advise --ca-generation %u\n", g, g - 1,
	    g - 1);
	return ADMIN_OK;
}

int
admin_ca(struct admin_ctx *ctx, int argc, char **argv)
{
	static const char *const cols[] = { "generation", "subject",
		"not_after", "signs", NULL };
	struct ca *ca = NULL, *g1;
	gnutls_x509_crt_t crt;
	int status = ADMIN_FAIL;
	char err[512] = "";
	json_t *o = NULL, *gens = NULL;

	if (argc != 2 || (strcmp(argv[1], "show") != 0 &&
	    strcmp(argv[1], "rollover") != 0)) {
		fprintf(stderr, "usage: anvil-admin ca show | ca rollover\n");
		return ADMIN_USAGE;
	}
	if (strcmp(argv[1], "rollover") == 0 &&
	    (status = ca_rollover_cmd(ctx)) != ADMIN_OK)
		return status;
	status = ADMIN_FAIL;
	if (ca_load_or_generate(ctx->cfg, &ca, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "anvil-admin: ca %s: %s\n", argv[1], err);
		return ADMIN_FAIL;
	}
	/* The top-level fields stay those of [ca] key_file and cert_file,
	 * generation 1, as before rollover existed. */
	g1 = ca_generation_get(ca, 1);
	crt = ca_cert_peek(g1 != NULL ? g1 : ca);
	if ((o = json_object()) == NULL)
		goto out;
	cert_facts(o, crt);
	json_object_set_new(o, "key_file", json_string(
	    strncmp(ctx->cfg->key_file, "pkcs11:", 7) == 0 ? "PKCS#11 token" :
	    ctx->cfg->key_file));
	json_object_set_new(o, "cert_file", json_string(ctx->cfg->cert_file));
	cert_times_ids(o, crt);
	json_object_set_new(o, "newest_generation",
	    json_integer(ca_generation(ca)));
	gens = generations(ctx->cfg, ca);
	if (ctx->json) {
		json_object_set_new(o, "generations", gens);
		gens = NULL;
	}
	admin_print_object(ctx, o);
	if (gens != NULL) {
		fputc('\n', ctx->out);
		admin_print_table(ctx, gens, cols);
	}
	status = ADMIN_OK;
out:
	json_decref(gens);
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
	struct ca *ca = NULL, *g1;
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
	if (ca_load_or_generate(cfg, &ca, err, sizeof(err)) != ANVIL_OK)
		goto out;
	/* The [ocsp] responder files are generation 1's ([ca] key_file);
	 * later generations sign with their own keys. */
	g1 = ca_generation_get(ca, 1);
	if ((rotate && ca_ocsp_responder_issue(cfg, g1, now, err,
	    sizeof(err)) != ANVIL_OK) ||
	    ca_ocsp_signer_load(cfg, g1, now, &s, err, sizeof(err)) !=
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
