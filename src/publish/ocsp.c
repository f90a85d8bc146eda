/*
 * ocsp.c - OCSP answers from the store: live (anvil, for a request the
 * web server found no file for) and pre-signed (anvil-crl, and at once
 * after a revocation).
 *
 * A pre-signed answer lives where the web server finds it from the RFC
 * 5019 2.1.1 GET URL: <[ocsp] dir>/<base64 of the DER request>, each '/'
 * of the base64 a folder (runs of '/' as one), for the request an RFC 5019 client sends (one
 * CertID, SHA-1 or SHA-256, no nonce; the DER GnuTLS and OpenSSL both
 * write). lighttpd/anvil-ocsp.lua and apache/anvil-ocsp.conf serve it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "ca/ca.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/util.h"
#include "publish/publish.h"
#include "record/record.h"
#include "store/store.h"

#define SWEEP_DEPTH 12		/* folders below [ocsp] dir */

/* ------------------------------------------------------------ statuses */

/* The status of the certificate record rec (NULL: not ours) into v. */
static anvil_err
single_of(json_t *rec, struct ca_ocsp_single *v)
{
	json_t *rv, *t, *why;

	v->status = CA_OCSP_UNKNOWN;
	v->revoked_at = 0;
	v->reason = 0;
	if (rec == NULL)
		return ANVIL_OK;
	if ((rv = rec_cert_revoked(rec)) == NULL) {
		v->status = CA_OCSP_GOOD;
		return ANVIL_OK;
	}
	t = json_object_get(rv, "time");
	why = json_object_get(rv, "reason");
	if (!json_is_integer(t) || (why != NULL && !json_is_integer(why)))
		return ANVIL_ERR_CORRUPT;
	v->status = CA_OCSP_REVOKED;
	v->revoked_at = (time_t)json_integer_value(t);
	v->reason = why ? (int)json_integer_value(why) : 0;
	if (!ca_crl_reason_valid(v->reason))
		v->reason = 0;
	return ANVIL_OK;
}

struct lookup_job {
	const struct ca_ocsp_req *req;
	struct ca_ocsp_single *v;
	unsigned gen;		/* the signer's CA generation */
};

static anvil_err
lookup_fn(struct store_txn *txn, void *arg)
{
	struct lookup_job *j = arg;
	char hex[2 * 20 + 1];
	json_t *rec = NULL;
	anvil_err rc = ANVIL_OK;
	size_t i;

	for (i = 0; i < j->req->n && rc == ANVIL_OK; i++) {
		j->v[i].id = &j->req->ids[i];
		ca_ocsp_serial_hex(&j->req->ids[i], hex, sizeof(hex));
		rc = store_get(txn, STORE_CERT, hex, &rec);
		if (rc == ANVIL_ERR_NOTFOUND) {
			rec = NULL;
			rc = ANVIL_OK;
		}
		/* A serial another generation issued is not this issuer's. */
		if (rc == ANVIL_OK && rec != NULL &&
		    rec_cert_generation(rec) != j->gen) {
			json_decref(rec);
			rec = NULL;
		}
		if (rc == ANVIL_OK)
			rc = single_of(rec, &j->v[i]);
		json_decref(rec);
		rec = NULL;
	}
	return rc;
}

anvil_err
publish_ocsp_answer(struct store *st, const struct ca_ocsp_signer *s,
    const struct anvil_config *cfg, const unsigned char *der, size_t len,
    time_t now, unsigned char **out, size_t *outlen, time_t *next_update)
{
	struct ca_ocsp_req req;
	struct ca_ocsp_single v[CA_OCSP_MAX_CERTIDS];
	struct lookup_job job;
	char err[512] = "";
	anvil_err rc;
	int status;

	*out = NULL;
	*next_update = 0;
	status = s == NULL ? CA_OCSP_TRY_LATER :
	    ca_ocsp_req_parse(s, der, len, &req);
	if (status != CA_OCSP_SUCCESSFUL)
		return ca_ocsp_resp_error(status, out, outlen);
	job.req = &req;
	job.v = v;
	job.gen = ca_ocsp_signer_gen(s);
	if ((rc = store_run(st, STORE_TXN_NOSYNC, lookup_fn, &job, err,
	    sizeof(err))) != ANVIL_OK) {
		log_err("OCSP lookup: %s", err[0] ? err : anvil_strerror(rc));
		return ca_ocsp_resp_error(CA_OCSP_TRY_LATER, out, outlen);
	}
	*next_update = now + (time_t)cfg->ocsp_validity_hours * 3600;
	if (ca_ocsp_resp_build(s, v, req.n, req.nonce, req.nonce_len, now,
	    *next_update, out, outlen, err, sizeof(err)) != ANVIL_OK) {
		log_err("OCSP response: %s", err);
		*next_update = 0;
		return ca_ocsp_resp_error(CA_OCSP_INTERNAL, out, outlen);
	}
	return ANVIL_OK;
}

/* ----------------------------------------------------------- pre-signed */

/*
 * The path of the pre-signed answer to req: dir, then the base64 of req
 * (RFC 4648 4, the alphabet RFC 5019 A.1 URLs carry) with each '/' a
 * folder and runs of '/' as one, as Apache (MergeSlashes) and
 * lighttpd/anvil-ocsp.lua map the URL. NULL when the base64 ends in '/',
 * which no file name can: that request is answered live.
 */
static char *
presign_path(const char *dir, const unsigned char *req, size_t len)
{
	gnutls_datum_t in = { (unsigned char *)req, (unsigned)len };
	gnutls_datum_t b64 = { NULL, 0 };
	char *path = NULL, *w;
	size_t n, i;

	if (gnutls_base64_encode2(&in, &b64) < 0)
		return NULL;
	w = (char *)b64.data;
	for (i = 0; i < b64.size; i++) {
		if (b64.data[i] == '\n' || b64.data[i] == '\r')
			continue;
		if (b64.data[i] == '/' && w > (char *)b64.data && w[-1] == '/')
			continue;
		*w++ = (char)b64.data[i];
	}
	n = (size_t)(w - (char *)b64.data);
	if (n == 0 || b64.data[0] == '/' || w[-1] == '/')
		goto out;
	if (asprintf(&path, "%s/%.*s", dir, (int)n, (char *)b64.data) < 0)
		path = NULL;
out:
	gnutls_free(b64.data);
	return path;
}

/* Makes every folder of path's parent (0755), below dir. */
static anvil_err
mkparents(const char *path, char *err, size_t errlen)
{
	char *d = strdup(path), *slash;
	anvil_err rc;

	if (d == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	if ((slash = strrchr(d, '/')) != NULL)
		*slash = '\0';
	rc = util_mkdir_p(d, 0755, err, errlen);
	free(d);
	return rc;
}

/*
 * Run as root (cron), hands what it made under dir (path and its folders
 * up to dir) to dir's owner: the web server's anvil, which refreshes
 * answers after a revocation, must be able to replace them.
 */
static void
own_like_dir(const char *dir, const char *path)
{
	struct stat st;
	char *p, *slash;
	size_t dl = strlen(dir);

	if (geteuid() != 0 || stat(dir, &st) != 0 || st.st_uid == 0 ||
	    (p = strdup(path)) == NULL)
		return;
	/* Bounded: each turn drops one path component. */
	while (strlen(p) > dl && strncmp(p, dir, dl) == 0 && p[dl] == '/') {
		if (lchown(p, st.st_uid, st.st_gid) != 0)
			log_warn("chown %s: %s", p, strerror(errno));
		if ((slash = strrchr(p, '/')) == NULL)
			break;
		*slash = '\0';
	}
	free(p);
}

/* publish_ocsp_presign, each file written at once (b NULL) or into b. */
static anvil_err
presign_cert(const struct ca *ca, const struct ca_ocsp_signer *s,
    const struct anvil_config *cfg, const char *dir, const char *serial,
    json_t *rec, time_t now, struct util_batch *b, char *err, size_t errlen)
{
	static const gnutls_digest_algorithm_t digs[] = { GNUTLS_DIG_SHA1,
		GNUTLS_DIG_SHA256 };
	const char *pem = json_string_value(json_object_get(rec, "pem"));
	struct ca_ocsp_req req;
	struct ca_ocsp_single v;
	unsigned char *rq = NULL, *resp = NULL;
	size_t rqlen = 0, resplen = 0, i;
	char *path = NULL;
	const char *tmp;
	anvil_err rc = ANVIL_OK;

	if (pem == NULL)
		return errf(err, errlen, ANVIL_ERR_CORRUPT, "certificate %s: "
		    "no PEM in its record", serial);
	for (i = 0; i < sizeof(digs) / sizeof(digs[0]); i++) {
		if ((rc = ca_ocsp_req_for(ca_cert_peek(ca), pem, digs[i], &rq,
		    &rqlen)) != ANVIL_OK) {
			errf(err, errlen, rc, "certificate %s: cannot make its "
			    "OCSP request", serial);
			goto out;
		}
		if (ca_ocsp_req_parse(s, rq, rqlen, &req) != CA_OCSP_SUCCESSFUL
		    || req.n != 1) {
			rc = errf(err, errlen, ANVIL_ERR_CORRUPT, "certificate "
			    "%s: not issued by this CA", serial);
			goto out;
		}
		v.id = &req.ids[0];
		if ((rc = single_of(rec, &v)) != ANVIL_OK) {
			errf(err, errlen, rc, "certificate %s: malformed "
			    "revocation record", serial);
			goto out;
		}
		if ((rc = ca_ocsp_resp_build(s, &v, 1, NULL, 0, now, now +
		    (time_t)cfg->ocsp_validity_hours * 3600, &resp, &resplen,
		    err, errlen)) != ANVIL_OK)
			goto out;
		/* A request whose base64 no file can hold is answered live. */
		if ((path = presign_path(dir, rq, rqlen)) != NULL) {
			if ((rc = mkparents(path, err, errlen)) != ANVIL_OK)
				goto out;
			tmp = path;
			if (b != NULL)
				rc = util_batch_write(b, path, resp, resplen,
				    0644, &tmp, err, errlen);
			else
				rc = util_write_file_atomic(path, resp,
				    resplen, 0644, err, errlen);
			if (rc != ANVIL_OK)
				goto out;
			own_like_dir(dir, tmp);
		}
		free(path);
		free(rq);
		free(resp);
		path = NULL;
		rq = resp = NULL;
	}
out:
	free(path);
	free(rq);
	free(resp);
	return rc;
}

anvil_err
publish_ocsp_presign(const struct ca *ca, const struct ca_ocsp_signer *s,
    const struct anvil_config *cfg, const char *dir, const char *serial,
    json_t *rec, time_t now, char *err, size_t errlen)
{
	return presign_cert(ca, s, cfg, dir, serial, rec, now, NULL, err,
	    errlen);
}

/*
 * Answers written per flush in a pre-sign pass: one syncfs(2) for this
 * many files instead of an fsync of each file and of its folder, which
 * bounded a pass at about 450 answers a second (bench/README.md).
 */
#define PRESIGN_BATCH 512

struct presign_job {
	const struct ca *ca;
	const struct ca_ocsp_signer *s;
	const struct anvil_config *cfg;
	const char *dir;
	time_t now;
	json_t *todo;		/* {serial: record} gathered in the store */
	int recheck;		/* only those revoked at or after now */
	struct progress *pg;	/* may be NULL */
	size_t seen;		/* records gathered from, for pg */
	size_t written;
	char err[512];
};

/* Gathers the records to sign: signing happens after the transaction, so
 * that its read locks never wait on thousands of signatures. */
static anvil_err
gather_each(const char *id, json_t *rec, void *arg)
{
	struct presign_job *j = arg;
	json_t *na = json_object_get(rec, "not_after");
	json_t *t = json_object_get(rec_cert_revoked(rec), "time");

	progress_show(j->pg, "reading certificates", ++j->seen, 0, 0);
	/* Each generation signs its own (issue 20 part 3). */
	if (rec_cert_generation(rec) != ca_generation(j->ca))
		return ANVIL_OK;
	/* Expired certificates are answered live only (RFC 5019 2.2.4
	 * leaves them to the responder's choice). */
	if (json_is_integer(na) && (time_t)json_integer_value(na) < j->now)
		return ANVIL_OK;
	if (j->recheck && (!json_is_integer(t) ||
	    (time_t)json_integer_value(t) < j->now))
		return ANVIL_OK;
	return json_object_set(j->todo, id, rec) == 0 ? ANVIL_OK :
	    ANVIL_ERR_NOMEM;
}

static anvil_err
gather_fn(struct store_txn *txn, void *arg)
{
	struct presign_job *j = arg;

	json_object_clear(j->todo);	/* from a try that lost a deadlock */
	j->seen = 0;
	if (j->recheck)
		return store_revoked_each(txn, gather_each, j);
	return store_each(txn, STORE_CERT, gather_each, j);
}

/* Gathers (recheck: only the revocations since now), then signs. */
static anvil_err
presign_pass(struct store *st, struct presign_job *j, char *err,
    size_t errlen)
{
	char serr[512] = "";
	const char *id;
	json_t *rec;
	size_t done = 0, total;
	struct util_batch *b;
	anvil_err rc;

	/* A listing: read-committed lets go of each page's locks as the
	 * walk moves on; holding them all runs the lock table out past
	 * some 50 000 certificates (tests/integration/crl_large.sh). */
	if ((rc = store_run(st, STORE_TXN_NOSYNC | STORE_TXN_READ_COMMITTED,
	    gather_fn, j, serr, sizeof(serr))) != ANVIL_OK)
		return errf(err, errlen, rc, "cannot list certificates: %s",
		    serr[0] ? serr : anvil_strerror(rc));
	total = json_object_size(j->todo);
	if ((b = util_batch_new(PRESIGN_BATCH)) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	json_object_foreach(j->todo, id, rec) {
		/* The first of a step always shows: the step has changed. */
		progress_show(j->pg, j->recheck ? "signing revoked again" :
		    "signing", done, total, done == 0);
		done++;
		if (presign_cert(j->ca, j->s, j->cfg, j->dir, id, rec, j->now,
		    b, j->err, sizeof(j->err)) != ANVIL_OK)
			log_warn("OCSP pre-sign: %s", j->err);
		else
			j->written++;
	}
	/* Before the recheck pass gathers: its answers must land last. */
	rc = util_batch_commit(b, err, errlen);
	util_batch_free(b);
	return rc;
}

/* 1 if name is made of base64 characters only (what presign writes). */
static int
b64_name(const char *name)
{
	for (; *name; name++)
		if (!((*name >= 'A' && *name <= 'Z') ||
		    (*name >= 'a' && *name <= 'z') ||
		    (*name >= '0' && *name <= '9') || *name == '+' ||
		    *name == '='))
			return 0;
	return 1;
}

/*
 * Removes files under path (depth bounded) last changed before since:
 * answers for certificates that expired, which would otherwise be served
 * past their nextUpdate. Empty folders go too.
 */
static void
sweep(const char *path, time_t since, int depth, size_t *removed)
{
	DIR *d;
	struct dirent *e;
	struct stat st;
	char *sub;

	if (depth > SWEEP_DEPTH || (d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		/* Only what presign writes: never a file someone else put
		 * beside the answers. */
		if (!b64_name(e->d_name))
			continue;
		if (asprintf(&sub, "%s/%s", path, e->d_name) < 0)
			break;
		if (lstat(sub, &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				sweep(sub, since, depth + 1, removed);
				if (depth > 0)
					(void)rmdir(sub);
			} else if (S_ISREG(st.st_mode) && st.st_mtime < since &&
			    unlink(sub) == 0)
				(*removed)++;
		}
		free(sub);
	}
	closedir(d);
}

anvil_err
publish_ocsp_presign_all(struct store *st, const struct ca *ca,
    const struct ca_ocsp_signer *s, const struct anvil_config *cfg,
    const char *dir, time_t now, struct progress *pg, size_t *written,
    size_t *removed, char *err, size_t errlen)
{
	struct presign_job job;
	anvil_err rc;

	*written = *removed = 0;
	memset(&job, 0, sizeof(job));
	job.ca = ca;
	job.s = s;
	job.cfg = cfg;
	job.dir = dir;
	job.now = now;
	job.pg = pg;
	if ((job.todo = json_object()) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	if ((rc = util_mkdir_p(dir, 0755, err, errlen)) != ANVIL_OK ||
	    (rc = presign_pass(st, &job, err, errlen)) != ANVIL_OK)
		goto out;
	/* A revocation that refreshed its files while the pass above held
	 * an older record: sign those again from the record as it is now. */
	job.recheck = 1;
	if ((rc = presign_pass(st, &job, err, errlen)) != ANVIL_OK)
		goto out;
	progress_show(pg, "removing expired answers", 0, 0, 1);
	sweep(dir, now, 0, removed);
	*written = job.written;
	rc = ANVIL_OK;
out:
	json_decref(job.todo);
	return rc;
}

anvil_err
publish_ocsp_refresh(const struct anvil_config *cfg, struct ca *ca,
    const char *serial, json_t *rec, time_t now)
{
	struct ca_ocsp_signer *s = NULL;
	struct ca *gen;
	char err[512] = "";
	anvil_err rc;

	if (!cfg->ocsp_enabled)
		return ANVIL_OK;
	/* Answered by the generation that issued it. */
	if ((gen = ca_generation_get(ca, rec_cert_generation(rec))) == NULL)
		rc = errf(err, sizeof(err), ANVIL_ERR_CORRUPT, "no CA "
		    "generation %u", rec_cert_generation(rec));
	else if ((rc = ca_ocsp_signer_load(cfg, gen, now, &s, err,
	    sizeof(err))) != ANVIL_OK || (rc = publish_ocsp_presign(gen, s,
	    cfg, cfg->ocsp_dir, serial, rec, now, err, sizeof(err))) !=
	    ANVIL_OK)
		log_err("OCSP answers of %s not refreshed: %s", serial, err);
	ca_ocsp_signer_free(s);
	return rc;
}
