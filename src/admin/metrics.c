/*
 * metrics.c - anvil-admin stats --format prometheus: the counts of one
 * store read, the CRL's age, the OCSP answers' freshness and the store's
 * size, in the Prometheus text
 * exposition format (version 0.0.4), for node_exporter's textfile
 * collector. There is no daemon to scrape: cron runs this next to
 * anvil-crl (etc/anvil-crl.cron), and the file it writes is replaced
 * whole, by rename, so the collector reads one run or the next.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gnutls/gnutls.h>
#include <gnutls/ocsp.h>
#include <gnutls/x509.h>

#include "admin/admin.h"
#include "core/conf.h"
#include "core/util.h"

#define CRL_MAX (64 * 1024 * 1024)	/* larger than any CRL we sign */
#define STORE_FILES_MAX 100000		/* bound on the store folder walk */
#define OCSP_DEPTH_MAX 12		/* as src/publish/ocsp.c's sweep */
#define OCSP_FILES_MAX 8000000		/* bound on the [ocsp] dir walk */
#define OCSP_RESP_MAX (64 * 1024)	/* larger than any answer we sign */
#define CERT_MAX (1024 * 1024)

/* A label value with \, " and newline escaped, as the format requires. */
static void
label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void
head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One gauge per member of obj (status -> count), labelled key="...". */
static void
by_status(FILE *f, const char *name, const char *help, json_t *obj)
{
	const char *k;
	json_t *v;

	head(f, name, "gauge", help);
	json_object_foreach(obj, k, v) {
		fprintf(f, "%s{status=\"", name);
		label(f, k);
		fprintf(f, "\"} %" JSON_INTEGER_FORMAT "\n",
		    json_integer_value(v));
	}
}

/* thisUpdate and nextUpdate of the CRL anvil-crl last wrote; 0 if none. */
static int
crl_times(const struct anvil_config *cfg, time_t *this_up, time_t *next_up)
{
	gnutls_x509_crl_t crl = NULL;
	gnutls_datum_t d = { NULL, 0 };
	char *path = NULL, *buf = NULL;
	size_t len = 0;
	int ok = 0;

	*this_up = *next_up = 0;
	if ((path = util_path_join(cfg->crl_dir, "anvil.crl")) == NULL)
		goto out;
	if (util_read_file(path, CRL_MAX, &buf, &len, NULL, 0) != ANVIL_OK)
		goto out;
	d.data = (unsigned char *)buf;
	d.size = (unsigned int)len;
	if (gnutls_x509_crl_init(&crl) < 0 ||
	    gnutls_x509_crl_import(crl, &d, GNUTLS_X509_FMT_DER) < 0)
		goto out;
	*this_up = gnutls_x509_crl_get_this_update(crl);
	*next_up = gnutls_x509_crl_get_next_update(crl);
	ok = *this_up != (time_t)-1;
out:
	if (crl != NULL)
		gnutls_x509_crl_deinit(crl);
	free(buf);
	free(path);
	return ok;
}

/* What the [ocsp] dir walk found: pre-signed answers and the oldest. */
struct ocsp_walk {
	time_t stale_before;	/* written before this: past nextUpdate */
	size_t files, stale, seen;
	time_t oldest;		/* mtime of the oldest answer; 0: none */
	char *oldest_path;
};

/*
 * Counts the answers anvil-crl pre-signed (src/publish/ocsp.c writes one
 * file per CertID, under folders made of base64). A file's mtime is the
 * thisUpdate it was signed with, so one stat per file tells its age; only
 * the oldest is opened to read its exact nextUpdate.
 */
static void
ocsp_walk_dir(const char *path, int depth, struct ocsp_walk *w)
{
	struct dirent *e;
	struct stat sb;
	char *sub;
	DIR *d;

	if (depth > OCSP_DEPTH_MAX || (d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL && w->seen++ < OCSP_FILES_MAX) {
		if (e->d_name[0] == '.')
			continue;
		if (asprintf(&sub, "%s/%s", path, e->d_name) < 0)
			break;
		if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			ocsp_walk_dir(sub, depth + 1, w);
		} else if (S_ISREG(sb.st_mode)) {
			w->files++;
			if (sb.st_mtime < w->stale_before)
				w->stale++;
			if (w->oldest == 0 || sb.st_mtime < w->oldest) {
				w->oldest = sb.st_mtime;
				free(w->oldest_path);
				w->oldest_path = sub;
				sub = NULL;
			}
		}
		free(sub);
	}
	closedir(d);
}

/* thisUpdate and nextUpdate of the OCSP response in file path. */
static int
ocsp_times(const char *path, time_t *this_up, time_t *next_up)
{
	gnutls_ocsp_resp_t resp = NULL;
	gnutls_datum_t d = { NULL, 0 };
	unsigned int status, reason;
	time_t revoked;
	char *buf = NULL;
	size_t len = 0;
	int ok = 0;

	if (util_read_file(path, OCSP_RESP_MAX, &buf, &len, NULL, 0) !=
	    ANVIL_OK)
		return 0;
	d.data = (unsigned char *)buf;
	d.size = (unsigned int)len;
	if (gnutls_ocsp_resp_init(&resp) == 0 &&
	    gnutls_ocsp_resp_import(resp, &d) == 0 &&
	    gnutls_ocsp_resp_get_single(resp, 0, NULL, NULL, NULL, NULL,
	    &status, this_up, next_up, &revoked, &reason) == 0)
		ok = 1;
	if (resp != NULL)
		gnutls_ocsp_resp_deinit(resp);
	free(buf);
	return ok;
}

/* notAfter of the PEM certificate in path; 0 if unreadable. */
static time_t
cert_not_after(const char *path)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { NULL, 0 };
	char *buf = NULL;
	size_t len = 0;
	time_t t = 0;

	if (util_read_file(path, CERT_MAX, &buf, &len, NULL, 0) != ANVIL_OK)
		return 0;
	d.data = (unsigned char *)buf;
	d.size = (unsigned int)len;
	if (gnutls_x509_crt_init(&crt) == 0 &&
	    gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) == 0)
		t = gnutls_x509_crt_get_expiration_time(crt);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	free(buf);
	return t == (time_t)-1 ? 0 : t;
}

/* OCSP freshness: the responder certificate and the pre-signed answers. */
static void
write_ocsp(FILE *f, const struct anvil_config *cfg, time_t now)
{
	struct ocsp_walk w;
	time_t this_up = 0, next_up = 0, na;

	head(f, "anvil_ocsp_enabled", "gauge", "1 when [ocsp] enabled is "
	    "true.");
	fprintf(f, "anvil_ocsp_enabled %d\n", cfg->ocsp_enabled ? 1 : 0);
	if (!cfg->ocsp_enabled)
		return;
	na = cert_not_after(cfg->ocsp_sign_with_ca ? cfg->cert_file :
	    cfg->ocsp_responder_cert);
	if (na != 0) {
		head(f, "anvil_ocsp_responder_not_after_seconds", "gauge",
		    "notAfter of the certificate that signs OCSP answers, "
		    "Unix time.");
		fprintf(f, "anvil_ocsp_responder_not_after_seconds %lld\n",
		    (long long)na);
	}
	memset(&w, 0, sizeof(w));
	w.stale_before = now - (time_t)cfg->ocsp_validity_hours * 3600;
	ocsp_walk_dir(cfg->ocsp_dir, 0, &w);
	head(f, "anvil_ocsp_presigned_answers", "gauge", "OCSP answers "
	    "pre-signed by anvil-crl in [ocsp] dir (two per certificate: "
	    "SHA-1 and SHA-256 CertIDs).");
	fprintf(f, "anvil_ocsp_presigned_answers %zu\n", w.files);
	head(f, "anvil_ocsp_presigned_stale", "gauge", "Pre-signed OCSP "
	    "answers written longer than [ocsp] validity_hours ago: past "
	    "their nextUpdate.");
	fprintf(f, "anvil_ocsp_presigned_stale %zu\n", w.stale);
	if (w.oldest_path != NULL &&
	    ocsp_times(w.oldest_path, &this_up, &next_up)) {
		head(f, "anvil_ocsp_presigned_oldest_age_seconds", "gauge",
		    "Seconds since the thisUpdate of the oldest pre-signed "
		    "OCSP answer.");
		fprintf(f, "anvil_ocsp_presigned_oldest_age_seconds %lld\n",
		    (long long)(now - this_up));
		head(f, "anvil_ocsp_presigned_oldest_next_update_seconds",
		    "gauge", "nextUpdate of the oldest pre-signed OCSP answer, "
		    "Unix time.");
		fprintf(f, "anvil_ocsp_presigned_oldest_next_update_seconds "
		    "%lld\n", (long long)next_up);
	}
	free(w.oldest_path);
}

/* Bytes of the regular files in data_dir/store; -1 if unreadable. */
static long long
store_bytes(const struct anvil_config *cfg)
{
	char *path = util_path_join(cfg->data_dir, "store");
	struct dirent *e;
	struct stat sb;
	long long sum = 0;
	size_t n = 0;
	DIR *d;

	if (path == NULL || (d = opendir(path)) == NULL) {
		free(path);
		return -1;
	}
	while ((e = readdir(d)) != NULL && n++ < STORE_FILES_MAX)
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) ==
		    0 && S_ISREG(sb.st_mode))
			sum += (long long)sb.st_size;
	closedir(d);
	free(path);
	return sum;
}

static void
write_all(FILE *f, const struct anvil_config *cfg, const struct admin_stats *s)
{
	const char *type, *st;
	json_t *by, *v;
	time_t this_up, next_up;
	long long bytes;

	by_status(f, "anvil_accounts", "Accounts by status.", s->accounts);
	by_status(f, "anvil_orders", "Orders by status, expiry applied.",
	    s->orders);
	by_status(f, "anvil_authorizations", "Authorizations by status, "
	    "expiry applied.", s->authz);
	head(f, "anvil_challenges", "gauge", "Challenges by type and "
	    "status: the validations and their results.");
	json_object_foreach(s->challenges, type, by) {
		json_object_foreach(by, st, v) {
			fputs("anvil_challenges{type=\"", f);
			label(f, type);
			fputs("\",status=\"", f);
			label(f, st);
			fprintf(f, "\"} %" JSON_INTEGER_FORMAT "\n",
			    json_integer_value(v));
		}
	}
	head(f, "anvil_certificates", "gauge", "Certificates in the store by "
	    "state.");
	fprintf(f, "anvil_certificates{state=\"active\"} %" JSON_INTEGER_FORMAT
	    "\nanvil_certificates{state=\"revoked\"} %" JSON_INTEGER_FORMAT
	    "\nanvil_certificates{state=\"expired\"} %" JSON_INTEGER_FORMAT
	    "\n", s->active, s->revoked, s->expired);
	head(f, "anvil_certificates_issued", "gauge", "Certificates ever "
	    "issued that the store holds.");
	fprintf(f, "anvil_certificates_issued %" JSON_INTEGER_FORMAT "\n",
	    s->issued);
	head(f, "anvil_certificates_expiring", "gauge", "Active certificates "
	    "that expire within the window.");
	fprintf(f, "anvil_certificates_expiring{within=\"7d\"} %"
	    JSON_INTEGER_FORMAT "\nanvil_certificates_expiring{within=\"30d\"}"
	    " %" JSON_INTEGER_FORMAT "\n", s->expiring7, s->expiring);
	if (crl_times(cfg, &this_up, &next_up)) {
		head(f, "anvil_crl_this_update_seconds", "gauge", "thisUpdate "
		    "of the published CRL, Unix time.");
		fprintf(f, "anvil_crl_this_update_seconds %lld\n",
		    (long long)this_up);
		head(f, "anvil_crl_next_update_seconds", "gauge", "nextUpdate "
		    "of the published CRL, Unix time.");
		fprintf(f, "anvil_crl_next_update_seconds %lld\n",
		    (long long)next_up);
		head(f, "anvil_crl_age_seconds", "gauge", "Seconds since the "
		    "published CRL's thisUpdate.");
		fprintf(f, "anvil_crl_age_seconds %lld\n",
		    (long long)(s->now - this_up));
	}
	head(f, "anvil_crl_published", "gauge", "1 when a CRL signed by "
	    "anvil-crl is in crl_dir.");
	fprintf(f, "anvil_crl_published %d\n", this_up != 0 ? 1 : 0);
	write_ocsp(f, cfg, s->now);
	if ((bytes = store_bytes(cfg)) >= 0) {
		head(f, "anvil_store_bytes", "gauge", "Size of the store's "
		    "files on disk.");
		fprintf(f, "anvil_store_bytes %lld\n", bytes);
	}
	head(f, "anvil_stats_generated_seconds", "gauge", "When anvil-admin "
	    "stats read the store, Unix time.");
	fprintf(f, "anvil_stats_generated_seconds %lld\n", (long long)s->now);
}

int
admin_metrics_write(struct admin_ctx *ctx, const struct admin_stats *s,
    const char *path)
{
	char *text = NULL, err[512] = "";
	size_t len = 0;
	FILE *f;
	int status = ADMIN_FAIL;

	if (path == NULL) {
		write_all(ctx->out, ctx->cfg, s);
		return fflush(ctx->out) == 0 ? ADMIN_OK : ADMIN_FAIL;
	}
	if ((f = open_memstream(&text, &len)) == NULL) {
		fprintf(stderr, "anvil-admin: stats: out of memory\n");
		return ADMIN_FAIL;
	}
	write_all(f, ctx->cfg, s);
	if (fclose(f) != 0 || text == NULL) {
		fprintf(stderr, "anvil-admin: stats: out of memory\n");
		goto out;
	}
	/* 0644: node_exporter runs as another user; nothing here is secret. */
	if (util_write_file_atomic(path, text, len, 0644, err, sizeof(err)) !=
	    ANVIL_OK) {
		fprintf(stderr, "anvil-admin: stats: %s\n", err);
		goto out;
	}
	status = ADMIN_OK;
out:
	free(text);
	return status;
}
