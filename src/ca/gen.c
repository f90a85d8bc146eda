/*
 * gen.c - the generations of a CA (ca.h): which one signs what, the
 * chains above a certificate of each (RFC 8555 §7.4.2), their files in
 * data_dir and the rollover that makes a new one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <jansson.h>

#include "ca/ca_int.h"
#include "core/log.h"
#include "core/util.h"

unsigned
ca_generation(const struct ca *ca)
{
	return ca->gen;
}

struct ca *
ca_older(const struct ca *ca)
{
	return ca->older;
}

struct ca *
ca_generation_get(const struct ca *ca, unsigned gen)
{
	unsigned n;

	/* Bounded: at most CA_MAX_GENERATIONS are linked. */
	for (n = 0; ca != NULL && n < CA_MAX_GENERATIONS; n++, ca = ca->older)
		if (ca->gen == gen)
			return (struct ca *)ca;
	return NULL;
}

struct ca *
ca_generation_by_key_id(const struct ca *ca, const unsigned char *kid,
    size_t len)
{
	unsigned n;

	for (n = 0; ca != NULL && n < CA_MAX_GENERATIONS; n++, ca = ca->older)
		if (ca->key_id_len == len && memcmp(ca->key_id, kid, len) == 0)
			return (struct ca *)ca;
	return NULL;
}

int
ca_retired(const struct ca *ca)
{
	return ca->retired;
}

time_t
ca_cross_not_after(const struct ca *ca)
{
	return ca->gen > 1 ? ca->cross_not_after : 0;
}

void
ca_set_retired(struct ca *ca)
{
	ca->retired = 1;
}

unsigned
ca_chain_count(const struct ca *ca)
{
	return ca->gen > 1 && ca->cross_pem != NULL ? 2 : 1;
}

const char *
ca_chain_pem_peek(const struct ca *ca, unsigned which)
{
	if (which == 0)
		return ca->gen > 1 && ca->chain_pem != NULL ? ca->chain_pem :
		    ca->cert_pem;
	if (which == 1 && ca_chain_count(ca) == 2)
		return ca->cert_pem;
	return NULL;
}

/* ------------------------------------------------------------ on disk */

/*
 * Generation g >= 2 lives in data_dir: ca-g<g>.key (0600), ca-g<g>.pem
 * (self-signed) and ca-g<g>-cross.pem (issued by generation g-1), and
 * data_dir/cas.json names the newest, {"newest": N, "retired": [...]},
 * written last by ca_rollover, so a rollover cut short leaves files no
 * process reads. Without cas.json the CA is generation 1 alone.
 */
#define CA_GENS_FILE "cas.json"
#define CA_GENS_MAX_FILE 4096

static char *
gen_path(const struct anvil_config *cfg, unsigned g, const char *suffix)
{
	char name[64];

	snprintf(name, sizeof(name), "ca-g%u%s", g, suffix);
	return util_path_join(cfg->data_dir, name);
}

unsigned long long
ca_gens_stamp(const struct anvil_config *cfg)
{
	char *path = util_path_join(cfg->data_dir, CA_GENS_FILE);
	struct stat sb;
	unsigned long long s = 0;

	if (path != NULL && stat(path, &sb) == 0)
		s = ((unsigned long long)sb.st_ino * 1000003ULL) ^
		    ((unsigned long long)sb.st_mtim.tv_sec * 1000000000ULL +
		    (unsigned long long)sb.st_mtim.tv_nsec) ^
		    ((unsigned long long)sb.st_size << 48) ^ 1ULL;
	free(path);
	return s;
}

/* The newest generation and the retired ones named by the text of
 * cas.json (path names it in errors). */
anvil_err
ca_gens_parse(const char *path, const char *text, size_t len,
    unsigned *newest, uint32_t *retired, char *err, size_t errlen)
{
	json_error_t je;
	json_t *doc, *v;
	const char *k;
	size_t i;
	json_int_t n;
	anvil_err rc = ANVIL_ERR_CONFIG;

	*newest = 0;
	*retired = 0;
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (doc == NULL)
		return errf(err, errlen, rc, "%s: not JSON (line %d: %s)", path,
		    je.line, je.text);
	if (!json_is_object(doc)) {
		errf(err, errlen, rc, "%s: not a JSON object", path);
		goto out;
	}
	json_object_foreach(doc, k, v)
		if (strcmp(k, "newest") != 0 && strcmp(k, "retired") != 0) {
			errf(err, errlen, rc, "%s: unknown member \"%.32s\"",
			    path, k);
			goto out;
		}
	v = json_object_get(doc, "newest");
	n = json_is_integer(v) ? json_integer_value(v) : 0;
	if (n < 2 || n > CA_MAX_GENERATIONS) {
		errf(err, errlen, rc, "%s: \"newest\" must be an integer from "
		    "2 to %d", path, CA_MAX_GENERATIONS);
		goto out;
	}
	*newest = (unsigned)n;
	v = json_object_get(doc, "retired");
	if (v != NULL && !json_is_array(v)) {
		errf(err, errlen, rc, "%s: \"retired\" must be an array", path);
		goto out;
	}
	for (i = 0; v != NULL && i < json_array_size(v); i++) {
		json_t *e = json_array_get(v, i);
		json_int_t g = json_is_integer(e) ? json_integer_value(e) : 0;
		/* The newest signs new certificates: it cannot retire. */
		if (g < 1 || g >= n) {
			errf(err, errlen, rc, "%s: \"retired\" entry %zu must be "
			    "a generation from 1 to %lld", path, i + 1,
			    (long long)n - 1);
			goto out;
		}
		*retired |= (uint32_t)1 << (g - 1);
	}
	rc = ANVIL_OK;
out:
	json_decref(doc);
	return rc;
}

/* Generation n->gen's files into n, checked against n->older. */
static anvil_err
gen_load_one(const struct anvil_config *cfg, struct ca *n, char *err,
    size_t errlen)
{
	struct ca cross;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 }, d = { NULL, 0 };
	char *kp = gen_path(cfg, n->gen, ".key");
	char *cp = gen_path(cfg, n->gen, ".pem");
	char *xp = gen_path(cfg, n->gen, "-cross.pem");
	unsigned status = 0, crit = 0;
	size_t sz = sizeof(n->key_id);
	anvil_err rc;
	int ret;

	memset(&cross, 0, sizeof(cross));
	if (kp == NULL || cp == NULL || xp == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = ca_load_key_file(n, kp, err, errlen)) != ANVIL_OK ||
	    (rc = ca_key_facts(n, &pub, err, errlen)) != ANVIL_OK ||
	    (rc = ca_load_cert_file(n, cp, err, errlen)) != ANVIL_OK ||
	    (rc = ca_load_cert_file(&cross, xp, err, errlen)) != ANVIL_OK)
		goto out;
	rc = ANVIL_ERR_MISMATCH;
	if (!ca_cert_has_key(n->cert, pub)) {
		errf(err, errlen, rc, "CA certificate %s does not belong to CA "
		    "key %s", cp, kp);
		goto out;
	}
	if (!ca_cert_has_key(cross.cert, pub) ||
	    gnutls_x509_crt_get_raw_dn(n->cert, &a) < 0 ||
	    gnutls_x509_crt_get_raw_dn(cross.cert, &b) < 0 ||
	    a.size != b.size || memcmp(a.data, b.data, a.size) != 0) {
		errf(err, errlen, rc, "cross-certificate %s does not name the "
		    "subject and key of %s", xp, cp);
		goto out;
	}
	/* Signed by the previous generation: what makes the default chain
	 * end at generation 1's certificate. */
	ret = gnutls_x509_crt_verify(cross.cert, &n->older->cert, 1,
	    GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
	    GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS, &status);
	if (ret < 0 || status != 0) {
		errf(err, errlen, rc, "cross-certificate %s is not signed by "
		    "CA generation %u", xp, n->older->gen);
		goto out;
	}
	if (gnutls_x509_crt_get_subject_key_id(n->cert, n->key_id, &sz,
	    &crit) >= 0)
		n->key_id_len = sz;
	n->cross_not_after = gnutls_x509_crt_get_expiration_time(cross.cert);
	if ((ret = gnutls_x509_crt_export2(cross.cert, GNUTLS_X509_FMT_PEM,
	    &d)) < 0) {
		rc = ca_gnutls_err(err, errlen, "gnutls_x509_crt_export2", ret);
		goto out;
	}
	if ((rc = ca_cert_to_pem(n, err, errlen)) != ANVIL_OK ||
	    asprintf(&n->cross_pem, "%.*s", (int)d.size, d.data) < 0 ||
	    asprintf(&n->chain_pem, "%s%s", n->cross_pem,
	    ca_chain_pem_peek(n->older, 0)) < 0) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = ANVIL_OK;
out:
	if (cross.cert != NULL)
		gnutls_x509_crt_deinit(cross.cert);
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	gnutls_free(a.data);
	gnutls_free(b.data);
	gnutls_free(d.data);
	free(kp);
	free(cp);
	free(xp);
	return rc;
}

anvil_err
ca_gens_load(const struct anvil_config *cfg, struct ca **head, char *err,
    size_t errlen)
{
	char *path = util_path_join(cfg->data_dir, CA_GENS_FILE);
	char *text = NULL;
	size_t len = 0;
	unsigned newest, g;
	uint32_t retired;
	struct ca *n;
	anvil_err rc;

	if (path == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	rc = util_read_file(path, CA_GENS_MAX_FILE, &text, &len, err, errlen);
	if (rc == ANVIL_ERR_NOTFOUND) {
		rc = ANVIL_OK;
		goto out;
	}
	if (rc != ANVIL_OK ||
	    (rc = ca_gens_parse(path, text, len, &newest, &retired, err,
	    errlen)) != ANVIL_OK)
		goto out;
	for (g = 2; g <= newest; g++) {
		if ((n = calloc(1, sizeof(*n))) == NULL) {
			rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
			goto out;
		}
		n->gen = g;
		n->older = *head;
		*head = n;
		if ((rc = gen_load_one(cfg, n, err, errlen)) != ANVIL_OK)
			goto out;
	}
	for (n = *head; n != NULL; n = n->older)
		n->retired = (retired >> (n->gen - 1)) & 1;
	rc = ANVIL_OK;
out:
	free(text);
	free(path);
	return rc;
}

/* ------------------------------------------------------------ rollover */

/* A CA certificate for subj's key named cn, signed by issuer (subj itself
 * for the self-signed one), valid from nb to na, as PEM in *pem. */
static anvil_err
gen_make_cert(const struct anvil_config *cfg, struct ca *subj,
    gnutls_pubkey_t pub, const char *cn, const struct ca *issuer,
    gnutls_x509_crt_t issuer_crt, time_t nb, time_t na, char **pem,
    char *err, size_t errlen)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { NULL, 0 };
	unsigned char serial[16];
	anvil_err rc = ANVIL_ERR_CRYPTO;
	int ret;

	*pem = NULL;
	if (util_random(serial, sizeof(serial)) != ANVIL_OK)
		return errf(err, errlen, ANVIL_ERR_CRYPTO, "random failed");
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x01);
	CA_TRY(gnutls_x509_crt_init, &crt);
	CA_TRY(gnutls_x509_crt_set_version, crt, 3);
	CA_TRY(gnutls_x509_crt_set_serial, crt, serial, sizeof(serial));
	if (cfg->organization[0] != '\0')
		CA_TRY(gnutls_x509_crt_set_dn_by_oid, crt,
		    GNUTLS_OID_X520_ORGANIZATION_NAME, 0, cfg->organization,
		    strlen(cfg->organization));
	CA_TRY(gnutls_x509_crt_set_dn_by_oid, crt, GNUTLS_OID_X520_COMMON_NAME,
	    0, cn, strlen(cn));
	CA_TRY(gnutls_x509_crt_set_activation_time, crt, nb);
	CA_TRY(gnutls_x509_crt_set_expiration_time, crt, na);
	CA_TRY(gnutls_x509_crt_set_pubkey, crt, pub);
	CA_TRY(gnutls_x509_crt_set_basic_constraints, crt, 1, -1);
	CA_TRY(gnutls_x509_crt_set_key_usage, crt,
	    GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
	CA_TRY(gnutls_x509_crt_set_subject_key_id, crt, subj->key_id,
	    subj->key_id_len);
	CA_TRY(gnutls_x509_crt_set_authority_key_id, crt, issuer->key_id,
	    issuer->key_id_len);
	CA_TRY(gnutls_x509_crt_privkey_sign, crt, issuer_crt ? issuer_crt : crt,
	    issuer->key, issuer->dig, 0);
	CA_TRY(gnutls_x509_crt_export2, crt, GNUTLS_X509_FMT_PEM, &d);
	if (asprintf(pem, "%.*s", (int)d.size, d.data) < 0) {
		*pem = NULL;
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = ANVIL_OK;
out:
	gnutls_free(d.data);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	return rc;
}

anvil_err
ca_rollover(const struct anvil_config *cfg, unsigned *newgen, char *err,
    size_t errlen)
{
	struct ca *cur = NULL, *n = NULL, *o;
	gnutls_x509_privkey_t newkey = NULL;
	gnutls_pubkey_t pub = NULL;
	char *kp = NULL, *cp = NULL, *xp = NULL, *jp = NULL, *cn = NULL;
	char *self_pem = NULL, *cross_pem = NULL, *js = NULL;
	json_t *doc = NULL, *ret_list;
	enum keytype kt;
	time_t now = time(NULL), na, old_na;
	time_t life = (time_t)((double)cfg->validity_years * 365.25 * 86400.0);
	unsigned g;
	int lockfd, ret;
	anvil_err rc;

	*newgen = 0;
	if ((rc = util_mkdir_p(cfg->data_dir, 0700, err, errlen)) != ANVIL_OK)
		return rc;
	if ((lockfd = ca_lock(cfg, err, errlen)) < 0)
		return ANVIL_ERR_IO;
	if ((rc = ca_load_locked(cfg, &cur, err, errlen)) != ANVIL_OK)
		goto out;
	g = cur->gen + 1;
	if (g > CA_MAX_GENERATIONS) {
		rc = errf(err, errlen, ANVIL_ERR_INVALID, "the CA has %u "
		    "generations, the most it may have", cur->gen);
		goto out;
	}
	old_na = gnutls_x509_crt_get_expiration_time(cur->cert);
	if (old_na <= now) {
		rc = errf(err, errlen, ANVIL_ERR_INVALID, "CA generation %u "
		    "expired: it cannot certify a new one", cur->gen);
		goto out;
	}
	if ((rc = keytype_parse(cfg->key_type, &kt)) != ANVIL_OK) {
		rc = errf(err, errlen, ANVIL_ERR_INVALID, "[ca] key_type "
		    "\"%s\" is not one of: %s", cfg->key_type,
		    keytype_accepted());
		goto out;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL ||
	    asprintf(&cn, "%s G%u", cfg->common_name, g) < 0) {
		cn = NULL;
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	n->gen = g;
	if ((rc = ca_key_generate(kt, &newkey, err, errlen)) != ANVIL_OK)
		goto out;
	if ((ret = gnutls_privkey_init(&n->key)) < 0 ||
	    (ret = gnutls_privkey_import_x509(n->key, newkey,
	    GNUTLS_PRIVKEY_IMPORT_COPY)) < 0) {
		rc = ca_gnutls_err(err, errlen, "gnutls_privkey_import_x509",
		    ret);
		goto out;
	}
	if ((rc = ca_key_facts(n, &pub, err, errlen)) != ANVIL_OK)
		goto out;
	na = now + life;
	if ((rc = gen_make_cert(cfg, n, pub, cn, n, NULL, now, na, &self_pem,
	    err, errlen)) != ANVIL_OK)
		goto out;
	/* The cross-certificate ends where its issuer does (RFC 5280
	 * 6.1.3: a chain is valid only while each certificate is). */
	if ((rc = gen_make_cert(cfg, n, pub, cn, cur, cur->cert, now,
	    na < old_na ? na : old_na, &cross_pem, err, errlen)) != ANVIL_OK)
		goto out;
	kp = gen_path(cfg, g, ".key");
	cp = gen_path(cfg, g, ".pem");
	xp = gen_path(cfg, g, "-cross.pem");
	jp = util_path_join(cfg->data_dir, CA_GENS_FILE);
	doc = json_pack("{s:i, s:[]}", "newest", (json_int_t)g, "retired");
	ret_list = json_object_get(doc, "retired");
	for (o = cur; o != NULL && ret_list != NULL; o = o->older)
		if (o->retired)
			json_array_insert_new(ret_list, 0,
			    json_integer(o->gen));
	if (kp == NULL || cp == NULL || xp == NULL || jp == NULL ||
	    ret_list == NULL || (js = json_dumps(doc, 0)) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* Key first, cas.json last: a process reads the new generation only
	 * once all of its files are in place. */
	if ((rc = ca_write_key_file(newkey, kp, err, errlen)) != ANVIL_OK ||
	    (rc = util_write_file_atomic(cp, self_pem, strlen(self_pem), 0644,
	    err, errlen)) != ANVIL_OK ||
	    (rc = util_write_file_atomic(xp, cross_pem, strlen(cross_pem),
	    0644, err, errlen)) != ANVIL_OK)
		goto out;
	{
		/* Readable by the web server before cas.json names them. */
		const char *made[] = { kp, cp, xp, NULL };
		ca_own_like_data_dir(cfg, made);
	}
	if ((rc = util_write_file_atomic(jp, js, strlen(js), 0644, err,
	    errlen)) != ANVIL_OK)
		goto out;
	{
		const char *made[] = { jp, NULL };
		ca_own_like_data_dir(cfg, made);
	}
	log_info("CA rollover: generation %u (%s) in %s", g, cn, cp);
	*newgen = g;
	rc = ANVIL_OK;
out:
	if (newkey != NULL)
		gnutls_x509_privkey_deinit(newkey);
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	json_decref(doc);
	free(js);
	free(kp);
	free(cp);
	free(xp);
	free(jp);
	free(cn);
	free(self_pem);
	free(cross_pem);
	ca_free(n);
	ca_free(cur);
	close(lockfd);
	return rc;
}

anvil_err
ca_gens_retire(const struct anvil_config *cfg, unsigned gen, char *err,
    size_t errlen)
{
	char *path = util_path_join(cfg->data_dir, CA_GENS_FILE);
	char *text = NULL, *js = NULL;
	size_t len = 0;
	unsigned newest = 0, g;
	uint32_t retired = 0;
	json_t *doc = NULL, *list;
	int lockfd = -1;
	anvil_err rc;

	if (path == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	if ((lockfd = ca_lock(cfg, err, errlen)) < 0) {
		rc = ANVIL_ERR_IO;
		goto out;
	}
	if ((rc = util_read_file(path, CA_GENS_MAX_FILE, &text, &len, err,
	    errlen)) != ANVIL_OK || (rc = ca_gens_parse(path, text, len,
	    &newest, &retired, err, errlen)) != ANVIL_OK)
		goto out;
	/* The newest issues: it retires only behind a newer one. */
	if (gen < 1 || gen >= newest) {
		rc = errf(err, errlen, ANVIL_ERR_INVALID, "CA generation %u "
		    "cannot retire: the newest is %u", gen, newest);
		goto out;
	}
	retired |= (uint32_t)1 << (gen - 1);
	doc = json_pack("{s:i, s:[]}", "newest", (json_int_t)newest,
	    "retired");
	list = json_object_get(doc, "retired");
	for (g = 1; list != NULL && g < newest; g++)
		if ((retired >> (g - 1)) & 1)
			json_array_append_new(list, json_integer(g));
	if (list == NULL || (js = json_dumps(doc, 0)) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = util_write_file_atomic(path, js, strlen(js), 0644, err, errlen);
	if (rc == ANVIL_OK)
		log_info("CA generation %u retired", gen);
out:
	if (lockfd >= 0)
		close(lockfd);
	json_decref(doc);
	free(js);
	free(text);
	free(path);
	return rc;
}
