/*
 * crl.c - the CRL of the store: what anvil-crl signs and publishes.
 *
 * Gathers, in one transaction, the next CRL number and every revoked
 * certificate, and hands them to the CA core (ca_crl_build) as plain
 * data, so that src/ca knows nothing of the store. Then writes the CRL
 * and the CA certificate, DER and PEM, into the publish folder.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	size_t n, cap;
	unsigned gen;		/* only certificates of this CA generation */
};

anvil_err
publish_crl_name(const char *base, unsigned gen, unsigned shard, char *out,
    size_t outlen)
{
	const char *seg, *dot;
	size_t dir_len, stem_len;
	int n;

	if (base == NULL || *base == '\0')
		base = "anvil.crl";
	seg = strrchr(base, '/');
	seg = seg != NULL ? seg + 1 : base;
	dir_len = (size_t)(seg - base);
	stem_len = strlen(seg);
	dot = stem_len >= 4 ? seg + stem_len - 4 : NULL;
	if (dot != NULL && strcmp(dot, ".crl") == 0)
		stem_len -= 4;
	if (gen == 0 || stem_len == 0 || dir_len > INT_MAX ||
	    stem_len > INT_MAX)
		return ANVIL_ERR_INVALID;
	/* crlnames.md: generation 1's full CRL keeps the name it has. */
	if (gen == 1 && shard == 0)
		n = snprintf(out, outlen, "%s", base);
	else if (gen == 1)
		n = snprintf(out, outlen, "%.*s%.*s-s%u.crl", (int)dir_len,
		    base, (int)stem_len, seg, shard);
	else if (shard == 0)
		n = snprintf(out, outlen, "%.*s%.*s-g%u.crl", (int)dir_len,
		    base, (int)stem_len, seg, gen);
	else
		n = snprintf(out, outlen, "%.*s%.*s-g%u-s%u.crl", (int)dir_len,
		    base, (int)stem_len, seg, gen, shard);
	return n >= 0 && (size_t)n < outlen ? ANVIL_OK : ANVIL_ERR_INVALID;
}

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
		if (v == NULL)
			return ANVIL_ERR_NOMEM;
		l->v = v;
		l->cap = cap;
	}
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

anvil_err
publish_crl_from_store(struct ca *ca, struct store_txn *txn,
    const struct anvil_config *cfg, time_t now, struct ca_crl **out,
    char *err, size_t errlen)
{
	struct revoked_list l = { NULL, 0, 0, 1 };
	uint64_t number = 0;
	char counter[32];
	anvil_err rc;

	*out = NULL;
	/* crlnames.md: generation 1 keeps the counter it always had. */
	l.gen = ca_generation(ca);
	if (l.gen == 1)
		snprintf(counter, sizeof(counter), "crl_number");
	else
		snprintf(counter, sizeof(counter), "crl.g%u", l.gen);
	if ((rc = store_counter_next(txn, counter, &number)) != ANVIL_OK) {
		errf(err, errlen, rc, "cannot raise the CRL number: %s",
		    anvil_strerror(rc));
		goto out;
	}
	if ((rc = store_revoked_each(txn, collect_revoked, &l)) != ANVIL_OK) {
		errf(err, errlen, rc, "cannot list revoked certificates: %s",
		    anvil_strerror(rc));
		goto out;
	}
	rc = ca_crl_build(ca, l.v, l.n, number, now,
	    now + (time_t)cfg->crl_validity_hours * 3600, out, err, errlen);
out:
	free(l.v);
	return rc;
}

struct crl_job {
	struct ca *ca;
	const struct anvil_config *cfg;
	time_t now;
	struct ca_crl *crl;	/* out */
	char err[512];
};

static anvil_err
crl_fn(struct store_txn *txn, void *arg)
{
	struct crl_job *j = arg;

	ca_crl_free(j->crl);	/* from a try that lost a deadlock */
	j->crl = NULL;
	return publish_crl_from_store(j->ca, txn, j->cfg, j->now, &j->crl,
	    j->err, sizeof(j->err));
}

anvil_err
publish_crl_build(struct store *st, struct ca *ca,
    const struct anvil_config *cfg, time_t now, struct ca_crl **out,
    char *err, size_t errlen)
{
	struct crl_job job;
	char serr[1024] = "";
	anvil_err rc;

	*out = NULL;
	memset(&job, 0, sizeof(job));
	job.ca = ca;
	job.cfg = cfg;
	job.now = now;
	rc = store_run(st, STORE_TXN_READ_COMMITTED, crl_fn, &job, serr,
	    sizeof(serr));
	if (rc != ANVIL_OK) {
		/* What went wrong inside the transaction says most. */
		snprintf(err, errlen, "%s", job.err[0] ? job.err : serr[0] ?
		    serr : anvil_strerror(rc));
		ca_crl_free(job.crl);
		return rc;
	}
	*out = job.crl;
	return ANVIL_OK;
}

static anvil_err
write_der_of_pem(const char *path, const char *pem, char *err, size_t errlen)
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
		rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "cannot convert the "
		    "CA certificate");
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
	    (rc = write_der_of_pem(p[2], pem, err, errlen)) != ANVIL_OK ||
	    (rc = util_write_file_atomic(p[3], pem, strlen(pem), 0644, err,
	    errlen)) != ANVIL_OK)
		goto out;
	rc = ANVIL_OK;
out:
	for (i = 0; i < 4; i++)
		free(p[i]);
	return rc;
}
