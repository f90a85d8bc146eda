/*
 * crl.c - the CRL of the store: what anvil-crl signs and publishes.
 *
 * Gathers, in one transaction, the next CRL number and every revoked
 * certificate, and hands them to the CA core (ca_crl_build) as plain
 * data, so that src/ca knows nothing of the store. Then writes the CRL
 * and the CA certificate, DER and PEM, into the publish folder.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ca/ca.h"
#include "core/log.h"
#include "core/util.h"
#include "publish/publish.h"
#include "record/record.h"
#include "store/store.h"

struct revoked_list {
	struct ca_revoked *v;
	unsigned short *shard;	/* each entry's record crl_shard, 0: none */
	size_t n, cap;
	unsigned gen;		/* only certificates of this CA generation */
};

static anvil_err
collect_revoked(const char *id, json_t *rec, void *arg)
{
	struct revoked_list *l = arg;
	struct ca_revoked *r;
	json_t *rv = rec_cert_revoked(rec);
	json_t *t = json_object_get(rv, "time");
	json_t *why = json_object_get(rv, "reason");
	size_t hl = strlen(id), i;
	unsigned gen = rec_cert_generation(rec);

	if (gen == 0) {
		log_err("certificate %s: malformed CA generation", id);
		return ANVIL_ERR_CORRUPT;
	}
	/* Each generation's CRL lists what it issued (issue 20 part 3). */
	if (gen != l->gen)
		return ANVIL_OK;
	if (!json_is_integer(t) || (why != NULL && !json_is_integer(why)) ||
	    hl == 0 || hl % 2 != 0 || hl > 40) {
		log_err("certificate %s: malformed revocation record", id);
		return ANVIL_ERR_CORRUPT;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct ca_revoked *v = realloc(l->v, cap * sizeof(*v));
		unsigned short *k;
		if (v == NULL)
			return ANVIL_ERR_NOMEM;
		l->v = v;
		if ((k = realloc(l->shard, cap * sizeof(*k))) == NULL)
			return ANVIL_ERR_NOMEM;
		l->shard = k;
		l->cap = cap;
	}
	l->shard[l->n] = (unsigned short)rec_cert_crl_shard(rec);
	r = &l->v[l->n];
	memset(r, 0, sizeof(*r));
	for (i = 0; i < hl; i += 2) {
		int hi = util_hexval(id[i]), lo = util_hexval(id[i + 1]);
		if (hi < 0 || lo < 0) {
			log_err("certificate %s: serial is not hex", id);
			return ANVIL_ERR_CORRUPT;
		}
		r->serial[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	r->serial_len = hl / 2;
	r->when = (time_t)json_integer_value(t);
	r->reason = why ? (int)json_integer_value(why) : 0;
	if (!ca_crl_reason_valid(r->reason)) {
		log_err("certificate %s: reason %d invalid", id, r->reason);
		return ANVIL_ERR_CORRUPT;
	}
	l->n++;
	return ANVIL_OK;
}

/*
 * The full CRL of ca's generation: raises its counter (generation 1 keeps
 * "crl_number", a later one "crl.g<g>"; names in src/core/util.h) and lists
 * what that generation revoked into l (with each entry's shard) and a
 * CRL of it into *out, all in txn.
 */
static anvil_err
full_from_store(struct ca *ca, struct store_txn *txn,
    const struct anvil_config *cfg, time_t now, struct revoked_list *l,
    struct ca_crl **out, char *err, size_t errlen)
{
	uint64_t number = 0;
	char counter[32];
	anvil_err rc;

	l->gen = ca_generation(ca);
	if (l->gen == 1)
		snprintf(counter, sizeof(counter), "crl_number");
	else
		snprintf(counter, sizeof(counter), "crl.g%u", l->gen);
	if ((rc = store_counter_next(txn, counter, &number)) != ANVIL_OK)
		return errf(err, errlen, rc, "cannot raise the CRL number: %s",
		    anvil_strerror(rc));
	if ((rc = store_revoked_each(txn, collect_revoked, l)) != ANVIL_OK)
		return errf(err, errlen, rc, "cannot list revoked "
		    "certificates: %s", anvil_strerror(rc));
	return ca_crl_build(ca, l->v, l->n, number, now,
	    now + (time_t)cfg->crl_validity_hours * 3600, out, err, errlen);
}

anvil_err
publish_crl_from_store(struct ca *ca, struct store_txn *txn,
    const struct anvil_config *cfg, time_t now, struct ca_crl **out,
    char *err, size_t errlen)
{
	struct revoked_list l = { NULL, NULL, 0, 0, 1 };
	anvil_err rc;

	*out = NULL;
	rc = full_from_store(ca, txn, cfg, now, &l, out, err, errlen);
	free(l.v);
	free(l.shard);
	return rc;
}

/* ------------------------------------------------------------- shards */

void
publish_crls_free(struct publish_crls *s)
{
	unsigned k;

	if (s == NULL)
		return;
	ca_crl_free(s->full);
	for (k = 0; k < s->nshards; k++)
		ca_crl_free(s->shard[k]);
	free(s->shard);
	free(s);
}

/*
 * How many shards to sign: [crl] shards (none when 1), more when a higher
 * shard was signed before (its counter is set: shards are signed 1..N
 * together, so the first unset one ends them) or a revoked certificate
 * names one, so a certificate issued before the count was lowered still
 * finds a current CRL at its URL.
 */
static anvil_err
shard_count(struct store_txn *txn, const struct anvil_config *cfg,
    unsigned gen, const struct revoked_list *l, unsigned *out)
{
	unsigned n = cfg->crl_shards > 1 ? cfg->crl_shards : 0, k;
	uint64_t v;
	char name[64];
	anvil_err rc;
	size_t i;

	for (k = n + 1; k <= CONFIG_CRL_SHARDS_MAX; k++) {
		snprintf(name, sizeof(name), "crl.g%u.s%u", gen, k);
		if ((rc = store_counter_get(txn, name, &v)) != ANVIL_OK)
			return rc;
		if (v == 0)
			break;
		n = k;
	}
	for (i = 0; i < l->n; i++)
		if (l->shard[i] > n)
			n = l->shard[i];
	*out = n;
	return ANVIL_OK;
}

/* publish_crls_from_store; with full_only the full CRL alone. */
static anvil_err
crls_from_store(struct ca *ca, struct store_txn *txn,
    const struct anvil_config *cfg, time_t now, int full_only,
    struct publish_crls **out, char *err, size_t errlen)
{
	struct revoked_list l = { NULL, NULL, 0, 0, 1 };
	struct publish_crls *s = NULL;
	struct ca_revoked *byshard = NULL;
	size_t *at = NULL, i;
	time_t next = now + (time_t)cfg->crl_validity_hours * 3600;
	unsigned gen = ca_generation(ca), nshards = 0, k;
	uint64_t number = 0;
	char name[64], url[CA_CRL_IDP_URL_MAX + 1];
	anvil_err rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	if ((rc = full_from_store(ca, txn, cfg, now, &l, &s->full, err,
	    errlen)) != ANVIL_OK)
		goto out;
	/* Without crl_url no certificate names a shard: nothing to sign. */
	if (!full_only && cfg->crl_url[0] != '\0' && (rc = shard_count(txn, cfg, gen, &l,
	    &nshards)) != ANVIL_OK) {
		errf(err, errlen, rc, "cannot read the shard CRL numbers: %s",
		    anvil_strerror(rc));
		goto out;
	}
	if (nshards == 0)
		goto done;
	/* The entries by shard (a counting sort, store order kept); those
	 * with none are in the full CRL only, as their CRLDP names it. */
	if ((s->shard = calloc(nshards, sizeof(*s->shard))) == NULL ||
	    (at = calloc(nshards + 2, sizeof(*at))) == NULL ||
	    (l.n > 0 && (byshard = malloc(l.n * sizeof(*byshard))) == NULL)) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	s->nshards = nshards;
	for (i = 0; i < l.n; i++)
		if (l.shard[i] != 0)
			at[l.shard[i] + 1]++;
	for (k = 1; k <= nshards; k++)
		at[k + 1] += at[k];
	for (i = 0; i < l.n; i++)
		if (l.shard[i] != 0)
			byshard[at[l.shard[i]]++] = l.v[i];
	/* at[k] is now where shard k ends; shard 1 starts at 0. */
	for (k = 1; k <= nshards; k++) {
		size_t from = k == 1 ? 0 : at[k - 1];

		snprintf(name, sizeof(name), "crl.g%u.s%u", gen, k);
		if ((rc = store_counter_next(txn, name, &number)) != ANVIL_OK) {
			errf(err, errlen, rc, "cannot raise the CRL number of "
			    "shard %u: %s", k, anvil_strerror(rc));
			goto out;
		}
		if (util_crl_url(cfg->crl_url, gen, k, url, sizeof(url)) != 0) {
			rc = errf(err, errlen, ANVIL_ERR_INVALID, "crl_url too "
			    "long for the URL of shard %u", k);
			goto out;
		}
		if ((rc = ca_crl_build_idp(ca, byshard + from, at[k] - from,
		    number, now, next, url, &s->shard[k - 1], err, errlen)) !=
		    ANVIL_OK)
			goto out;
	}
done:
	*out = s;
	s = NULL;
	rc = ANVIL_OK;
out:
	publish_crls_free(s);
	free(l.v);
	free(l.shard);
	free(byshard);
	free(at);
	return rc;
}

anvil_err
publish_crls_from_store(struct ca *ca, struct store_txn *txn,
    const struct anvil_config *cfg, time_t now, struct publish_crls **out,
    char *err, size_t errlen)
{
	return crls_from_store(ca, txn, cfg, now, 0, out, err, errlen);
}

struct crls_job {
	struct ca *ca;
	const struct anvil_config *cfg;
	time_t now;
	int full_only;
	struct publish_crls *crls;	/* out */
	char err[512];
};

static anvil_err
crls_fn(struct store_txn *txn, void *arg)
{
	struct crls_job *j = arg;

	publish_crls_free(j->crls);	/* from a try that lost a deadlock */
	j->crls = NULL;
	return crls_from_store(j->ca, txn, j->cfg, j->now, j->full_only,
	    &j->crls, j->err, sizeof(j->err));
}

/* crls_from_store in a transaction of its own. */
static anvil_err
crls_build(struct store *st, struct ca *ca, const struct anvil_config *cfg,
    time_t now, int full_only, struct publish_crls **out, char *err,
    size_t errlen)
{
	struct crls_job job;
	char serr[1024] = "";
	anvil_err rc;

	*out = NULL;
	memset(&job, 0, sizeof(job));
	job.ca = ca;
	job.cfg = cfg;
	job.now = now;
	job.full_only = full_only;
	rc = store_run(st, STORE_TXN_READ_COMMITTED, crls_fn, &job, serr,
	    sizeof(serr));
	if (rc != ANVIL_OK) {
		/* What went wrong inside the transaction says most. */
		snprintf(err, errlen, "%s", job.err[0] ? job.err : serr[0] ?
		    serr : anvil_strerror(rc));
		publish_crls_free(job.crls);
		return rc;
	}
	*out = job.crls;
	return ANVIL_OK;
}

anvil_err
publish_crls_build(struct store *st, struct ca *ca,
    const struct anvil_config *cfg, time_t now, struct publish_crls **out,
    char *err, size_t errlen)
{
	return crls_build(st, ca, cfg, now, 0, out, err, errlen);
}

anvil_err
publish_crl_build(struct store *st, struct ca *ca,
    const struct anvil_config *cfg, time_t now, struct ca_crl **out,
    char *err, size_t errlen)
{
	struct publish_crls *s = NULL;
	anvil_err rc;

	*out = NULL;
	if ((rc = crls_build(st, ca, cfg, now, 1, &s, err, errlen)) !=
	    ANVIL_OK)
		return rc;
	*out = s->full;
	s->full = NULL;
	publish_crls_free(s);
	return ANVIL_OK;
}

anvil_err
publish_cert_der_write(const char *path, const char *pem, char *err,
    size_t errlen)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t in = { (unsigned char *)pem, (unsigned)strlen(pem) };
	gnutls_datum_t out = { NULL, 0 };
	anvil_err rc;

	if (gnutls_x509_crt_init(&crt) >= 0 &&
	    gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM) >= 0 &&
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &out) >= 0)
		rc = util_write_file_atomic(path, out.data, out.size, 0644, err,
		    errlen);
	else
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "%s: cannot convert "
		    "the certificate to DER", path);
	gnutls_free(out.data);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	return rc;
}

anvil_err
publish_crl_write(const char *dir, const struct ca *ca,
    const struct ca_crl *crl, char *err, size_t errlen)
{
	static const char *const names[] = { "anvil.crl", "anvil.crl.pem",
		"ca.crt", "ca.pem" };
	const char *pem = ca_cert_pem_peek(ca);
	char *p[4] = { NULL, NULL, NULL, NULL };
	anvil_err rc = ANVIL_ERR_NOMEM;
	int i;

	for (i = 0; i < 4; i++)
		if ((p[i] = util_path_join(dir, names[i])) == NULL) {
			errf(err, errlen, rc, "out of memory");
			goto out;
		}
	if ((rc = util_write_file_atomic(p[0], crl->der, crl->der_len, 0644,
	    err, errlen)) != ANVIL_OK ||
	    (rc = util_write_file_atomic(p[1], crl->pem, strlen(crl->pem),
	    0644, err, errlen)) != ANVIL_OK ||
	    (rc = publish_cert_der_write(p[2], pem, err, errlen)) != ANVIL_OK ||
	    (rc = util_write_file_atomic(p[3], pem, strlen(pem), 0644, err,
	    errlen)) != ANVIL_OK)
		goto out;
	rc = ANVIL_OK;
out:
	for (i = 0; i < 4; i++)
		free(p[i]);
	return rc;
}

/* Writes crl as dir/name (DER) and dir/name.pem. */
static anvil_err
write_crl_pair(const char *dir, const char *name, const struct ca_crl *crl,
    char *err, size_t errlen)
{
	char pemname[UTIL_CRL_STEM_MAX + 40], *der = NULL, *pem = NULL;
	anvil_err rc = ANVIL_ERR_NOMEM;

	snprintf(pemname, sizeof(pemname), "%s.pem", name);
	if ((der = util_path_join(dir, name)) == NULL ||
	    (pem = util_path_join(dir, pemname)) == NULL)
		errf(err, errlen, rc, "out of memory");
	else if ((rc = util_write_file_atomic(der, crl->der, crl->der_len,
	    0644, err, errlen)) == ANVIL_OK)
		rc = util_write_file_atomic(pem, crl->pem, strlen(crl->pem),
		    0644, err, errlen);
	free(der);
	free(pem);
	return rc;
}

/*
 * Removes what a run killed mid-write left in dir: the temporary files of
 * util_write_file_atomic ("<name>.tmp-<hex>") of a name anvil-crl writes
 * (ca.crt, ca.pem, <stem or anvil>...crl and .crl.pem). Only under the
 * lock (publish_lock), so no live run's file is among them. Bounded by
 * CRL_DIR_SCAN_MAX entries.
 */
#define CRL_DIR_SCAN_MAX 100000

static void
drop_stale_temps(const char *dir, const char *stem)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t seen = 0, pl, sl = strlen(stem);
	const char *t;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && seen++ < CRL_DIR_SCAN_MAX) {
		if ((t = strstr(e->d_name, ".tmp-")) == NULL)
			continue;
		pl = (size_t)(t - e->d_name);
		if ((pl == 6 && (strncmp(e->d_name, "ca.crt", 6) == 0 ||
		    strncmp(e->d_name, "ca.pem", 6) == 0)) ||
		    ((strncmp(e->d_name, "anvil", 5) == 0 ||
		    strncmp(e->d_name, stem, sl) == 0) &&
		    ((pl > 4 && strncmp(t - 4, ".crl", 4) == 0) ||
		    (pl > 8 && strncmp(t - 8, ".crl.pem", 8) == 0))))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

anvil_err
publish_crls_write(const char *dir, const struct ca *ca,
    const struct anvil_config *cfg, const struct publish_crls *s, char *path,
    size_t pathlen, char *err, size_t errlen)
{
	char stem[UTIL_CRL_STEM_MAX + 1], name[UTIL_CRL_STEM_MAX + 32];
	unsigned gen = ca_generation(ca), k;
	anvil_err rc;

	util_crl_stem(cfg->crl_url, stem);
	drop_stale_temps(dir, stem);
	for (k = 1; k <= s->nshards; k++) {
		if (util_crl_name(stem, gen, k, name, sizeof(name)) != 0)
			return errf(err, errlen, ANVIL_ERR_INVALID, "no name "
			    "for shard %u", k);
		if ((rc = write_crl_pair(dir, name, s->shard[k - 1], err,
		    errlen)) != ANVIL_OK)
			return rc;
	}
	if ((rc = publish_crl_write_gen(dir, cfg, ca, s->full, path, pathlen,
	    err, errlen)) != ANVIL_OK)
		return rc;
	/* The full CRL also under crl_url's own file name, S.crl, when
	 * that is not anvil.crl: crl_url must answer (core/util.h). */
	if (gen <= 1 && strcmp(stem, "anvil") != 0 && (util_crl_name(stem, 1,
	    0, name, sizeof(name)) != 0 || (rc = write_crl_pair(dir, name,
	    s->full, err, errlen)) != ANVIL_OK))
		return rc != ANVIL_OK ? rc : errf(err, errlen,
		    ANVIL_ERR_INVALID, "no name for the full CRL");
	return ANVIL_OK;
}
