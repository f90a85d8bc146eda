/*
 * gen.c - what anvil-crl publishes for a CA generation after the first
 * (issue 20 part 3): its CRL under its own name and the cross-certificate
 * its certificates' AIA caIssuers names; and which generations still have
 * an unexpired certificate, so that one with none retires
 * (ca_gens_retire).
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "core/util.h"
#include "publish/publish.h"
#include "record/record.h"
#include "store/store.h"

struct live_job {
	time_t now;
	size_t *counts;		/* [CA_MAX_GENERATIONS + 1] */
};

static anvil_err
count_one(const char *id, json_t *rec, void *arg)
{
	struct live_job *j = arg;
	json_t *na = json_object_get(rec, "not_after");
	unsigned g = rec_cert_generation(rec);

	(void)id;
	/* A record without a readable end counts as live: a generation
	 * never retires on a record it cannot read. */
	if (json_is_integer(na) && (time_t)json_integer_value(na) < j->now)
		return ANVIL_OK;
	j->counts[g <= CA_MAX_GENERATIONS ? g : 0]++;
	return ANVIL_OK;
}

static anvil_err
live_fn(struct store_txn *txn, void *arg)
{
	struct live_job *j = arg;

	/* From a try that lost a deadlock. */
	memset(j->counts, 0, (CA_MAX_GENERATIONS + 1) * sizeof(j->counts[0]));
	return store_each(txn, STORE_CERT, count_one, j);
}

anvil_err
publish_gens_live(struct store *st, time_t now,
    size_t counts[CA_MAX_GENERATIONS + 1], char *err, size_t errlen)
{
	struct live_job j = { now, counts };
	char serr[512] = "";
	anvil_err rc;

	rc = store_run(st, STORE_TXN_READ_COMMITTED, live_fn, &j, serr,
	    sizeof(serr));
	if (rc != ANVIL_OK)
		return errf(err, errlen, rc, "cannot count certificates: %s",
		    serr[0] ? serr : anvil_strerror(rc));
	return ANVIL_OK;
}

anvil_err
publish_issuer_name(const char *base, unsigned gen, char *out, size_t outlen)
{
	const char *seg, *dot;
	size_t dir_len, stem_len;
	int n;

	if (base == NULL || *base == '\0')
		base = "ca.crt";
	seg = strrchr(base, '/');
	seg = seg != NULL ? seg + 1 : base;
	dir_len = (size_t)(seg - base);
	dot = strrchr(seg, '.');
	stem_len = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
	if (gen == 0 || stem_len == 0 || dir_len > INT_MAX ||
	    stem_len > INT_MAX)
		return ANVIL_ERR_INVALID;
	if (gen == 1)
		n = snprintf(out, outlen, "%s", base);
	else
		n = snprintf(out, outlen, "%.*s%.*s-g%u-cross.crt",
		    (int)dir_len, base, (int)stem_len, seg, gen);
	return n >= 0 && (size_t)n < outlen ? ANVIL_OK : ANVIL_ERR_INVALID;
}

/* The last path segment of url, or dflt when url is NULL or "". */
static const char *
last_segment(const char *url, const char *dflt)
{
	const char *seg;

	if (url == NULL || *url == '\0')
		return dflt;
	seg = strrchr(url, '/');
	return seg != NULL ? seg + 1 : url;
}

/* dir/name, refused when name would leave dir. */
static char *
publish_path(const char *dir, const char *name)
{
	if (strchr(name, '/') != NULL || name[0] == '.')
		return NULL;
	return util_path_join(dir, name);
}

anvil_err
publish_crl_write_gen(const char *dir, const struct anvil_config *cfg,
    const struct ca *ca, const struct ca_crl *crl, char *path, size_t pathlen,
    char *err, size_t errlen)
{
	char name[256], stem[UTIL_CRL_STEM_MAX + 1], *p = NULL, *pem = NULL;
	char *x = NULL;
	unsigned g = ca_generation(ca);
	anvil_err rc;

	if (g == 1) {
		rc = publish_crl_write(dir, ca, crl, err, errlen);
		snprintf(path, pathlen, "%s/anvil.crl", dir);
		return rc;
	}
	/* The names its certificates carry in their CRL distribution point
	 * and AIA caIssuers (finalize.c), in the folder those URLs serve. */
	util_crl_stem(cfg->crl_url, stem);
	if (util_crl_name(stem, g, 0, name, sizeof(name)) != 0 ||
	    (p = publish_path(dir, name)) == NULL)
		return errf(err, errlen, ANVIL_ERR_CONFIG, "[issuance] crl_url "
		    "\"%s\": no CRL file name for CA generation %u",
		    cfg->crl_url ? cfg->crl_url : "", g);
	if (publish_issuer_name(last_segment(cfg->ca_issuers_url, "ca.crt"),
	    g, name, sizeof(name)) != ANVIL_OK ||
	    (x = publish_path(dir, name)) == NULL) {
		free(p);
		return errf(err, errlen, ANVIL_ERR_CONFIG, "[issuance] "
		    "ca_issuers_url \"%s\": no certificate file name for CA "
		    "generation %u", cfg->ca_issuers_url ?
		    cfg->ca_issuers_url : "", g);
	}
	if (asprintf(&pem, "%s.pem", p) < 0) {
		free(p);
		free(x);
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	}
	if ((rc = util_write_file_atomic(p, crl->der, crl->der_len, 0644, err,
	    errlen)) == ANVIL_OK &&
	    (rc = util_write_file_atomic(pem, crl->pem, strlen(crl->pem),
	    0644, err, errlen)) == ANVIL_OK)
		rc = publish_cert_der_write(x, ca_chain_pem_peek(ca, 0), err,
		    errlen);
	snprintf(path, pathlen, "%s", p);
	free(p);
	free(pem);
	free(x);
	return rc;
}
