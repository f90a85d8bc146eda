/*
 * renewal.c - anvil-admin renewal advise: opens the renewal window
 * (RFC 9773 §4.2) of one certificate, of every certificate of an
 * account, of every certificate issued before a time, or of every
 * certificate a CA generation issued (after anvil-admin ca rollover), so
 * that ARI clients renew at once (a key compromise, a CA change, a bad
 * profile).
 *
 * The advice is a member of each certificate record
 * (src/record/renewal.c, rec_cert_advise), written durably. The
 * certificates are gathered in one read, then advised in transactions of
 * ADVISE_BATCH records: one transaction per certificate would wait for
 * the disk thousands of times, and one for all of them would hold every
 * lock the ACME server needs for as long.
 */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin/admin.h"
#include "ca/ca.h"
#include "core/progress.h"
#include "record/record.h"

#define ADVISE_BATCH 200
#define EXPLANATION_MAX 1024

#define RENEWAL_USAGE "usage: anvil-admin renewal advise (--serial S | " \
	"--account ID | --issued-before DATE\n" \
	"           | --ca-generation N) [--explanation URL]\n" \
	"  DATE is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)\n"

/* What to advise, and what was found. */
struct advise {
	const char *account;	/* --account */
	time_t before;		/* --issued-before; 0: unset */
	unsigned gen;		/* --ca-generation; 0: unset */
	const char *explanation;
	time_t now;
	json_t *serials;	/* gathered: array of strings */
	size_t from, to;	/* the batch being written */
	int skip_missing;	/* a gathered certificate gone: skip it */
	size_t advised;
};

/* An http or https URL of printable ASCII, no spaces: it goes into every
 * renewalInfo reply of the certificates as explanationURL. */
static int
url_ok(const char *u)
{
	size_t i, n = strlen(u);

	if (n > EXPLANATION_MAX || (strncmp(u, "https://", 8) != 0 &&
	    strncmp(u, "http://", 7) != 0))
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f)
			return 0;
	return 1;
}

/* Certificates still valid that fit the filter, into a->serials. */
static anvil_err
gather_one(const char *serial, json_t *rec, void *arg)
{
	struct advise *a = arg;
	const char *owner = json_string_value(json_object_get(rec, "account"));

	if (json_integer_value(json_object_get(rec, "not_after")) <
	    (json_int_t)a->now)
		return ANVIL_OK;	/* expired: nothing to renew */
	if (a->account != NULL && (owner == NULL || strcmp(owner,
	    a->account) != 0))
		return ANVIL_OK;
	if (a->before != 0 && json_integer_value(json_object_get(rec,
	    "issued")) >= (json_int_t)a->before)
		return ANVIL_OK;
	if (a->gen != 0 && rec_cert_generation(rec) != a->gen)
		return ANVIL_OK;
	return json_array_append_new(a->serials, json_string(serial)) == 0 ?
	    ANVIL_OK : ANVIL_ERR_NOMEM;
}

static anvil_err
gather_fn(struct store_txn *txn, void *arg)
{
	struct advise *a = arg;
	char **ids = NULL;
	size_t n = 0, i;
	anvil_err rc;

	json_array_clear(a->serials);
	if (a->account == NULL)
		return store_each(txn, STORE_CERT, gather_one, a);
	/* One account: through its index rather than every certificate. */
	rc = store_list_by_account(txn, STORE_CERT, a->account, NULL,
	    SIZE_MAX, &ids, &n);
	for (i = 0; rc == ANVIL_OK && i < n; i++) {
		json_t *rec = NULL;
		if ((rc = store_get(txn, STORE_CERT, ids[i], &rec)) ==
		    ANVIL_OK)
			rc = gather_one(ids[i], rec, a);
		json_decref(rec);
	}
	store_ids_free(ids, n);
	return rc;
}

/* Advises serials [from, to) in one transaction. */
static anvil_err
batch_fn(struct store_txn *txn, void *arg)
{
	struct advise *a = arg;
	size_t i;
	anvil_err rc = ANVIL_OK;

	for (i = a->from; rc == ANVIL_OK && i < a->to; i++) {
		const char *serial = json_string_value(json_array_get(
		    a->serials, i));
		json_t *rec = NULL;

		rc = store_get(txn, STORE_CERT, serial, &rec);
		if (rc == ANVIL_ERR_NOTFOUND && a->skip_missing) {
			rc = ANVIL_OK;
			continue;
		}
		if (rc != ANVIL_OK)
			break;
		if ((rc = rec_cert_advise(rec, a->now, a->explanation)) ==
		    ANVIL_OK)
			rc = store_put(txn, STORE_CERT, serial, rec, 0);
		json_decref(rec);
	}
	return rc;
}

static int
advise(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "serial", required_argument, NULL, 's' },
		{ "account", required_argument, NULL, 'a' },
		{ "issued-before", required_argument, NULL, 'b' },
		{ "explanation", required_argument, NULL, 'e' },
		{ "ca-generation", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct advise a;
	struct progress pg = { NULL, 0, 0, { 0, 0 } };
	const char *serial_arg = NULL;
	char serial[ADMIN_SERIAL_HEX_MAX + 1], err[512] = "";
	json_t *out = NULL;
	int c, nsel = 0, status = ADMIN_FAIL;
	anvil_err rc;

	memset(&a, 0, sizeof(a));
	optind = 0;
	while ((c = getopt_long(argc, argv, "s:a:b:e:g:j", opts, NULL)) !=
	    -1) {
		switch (c) {
		case 's':
			serial_arg = optarg;
			nsel++;
			break;
		case 'a':
			a.account = optarg;
			nsel++;
			break;
		case 'b':
			if ((a.before = admin_parse_when(optarg, 1)) <= 0) {
				fprintf(stderr, "anvil-admin: renewal: "
				    "--issued-before takes YYYY-MM-DD or "
				    "YYYY-MM-DDTHH:MM:SSZ, not \"%s\"\n",
				    optarg);
				return ADMIN_USAGE;
			}
			nsel++;
			break;
		case 'g': {
			/* A CA generation (anvil-admin ca rollover): 1 to
			 * CA_MAX_GENERATIONS, decimal digits only. */
			size_t len = strlen(optarg);
			if (len == 0 || len > 2 || strspn(optarg,
			    "0123456789") != len || atoi(optarg) < 1 ||
			    atoi(optarg) > CA_MAX_GENERATIONS) {
				fprintf(stderr, "anvil-admin: renewal: "
				    "--ca-generation takes a number from 1 to "
				    "%d, not \"%s\"\n", CA_MAX_GENERATIONS,
				    optarg);
				return ADMIN_USAGE;
			}
			a.gen = (unsigned)atoi(optarg);
			nsel++;
			break;
		}
		case 'e':
			if (!url_ok(optarg)) {
				fprintf(stderr, "anvil-admin: renewal: "
				    "--explanation takes an http(s) URL\n");
				return ADMIN_USAGE;
			}
			a.explanation = optarg;
			break;
		case 'j':
			ctx->json = 1;
			break;
		default:
			fputs(RENEWAL_USAGE, stderr);
			return ADMIN_USAGE;
		}
	}
	if (optind != argc || nsel != 1) {
		fprintf(stderr, "anvil-admin: renewal advise: %s\n", optind !=
		    argc ? "unexpected argument" : "give exactly one of "
		    "--serial, --account, --issued-before, --ca-generation");
		fputs(RENEWAL_USAGE, stderr);
		return ADMIN_USAGE;
	}
	if (serial_arg != NULL && !admin_serial_norm(serial_arg, serial)) {
		fprintf(stderr, "anvil-admin: renewal advise: \"%s\" is not a "
		    "serial\n", serial_arg);
		return ADMIN_USAGE;
	}
	a.now = time(NULL);
	if ((a.serials = json_array()) == NULL)
		goto out;
	if (serial_arg != NULL) {
		/* Also left-padded to 16 bytes, as certs show reads it. */
		size_t n = strlen(serial);
		char padded[ADMIN_SERIAL_HEX_MAX + 1];

		json_array_append_new(a.serials, json_string(serial));
		a.to = 1;
		rc = store_run(ctx->st, 0, batch_fn, &a, err, sizeof(err));
		if (rc == ANVIL_ERR_NOTFOUND && n < 32) {
			snprintf(padded, sizeof(padded), "%0*d%s",
			    (int)(32 - n), 0, serial);
			json_array_set_new(a.serials, 0, json_string(padded));
			rc = store_run(ctx->st, 0, batch_fn, &a, err,
			    sizeof(err));
		}
		if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
			fprintf(stderr, "anvil-admin: renewal advise: no "
			    "certificate with serial \"%s\"\n", serial_arg);
			goto out;
		}
		if (rc != ANVIL_OK)
			goto fail;
		a.advised = 1;
	} else {
		if ((rc = store_run(ctx->st, STORE_TXN_READ_COMMITTED,
		    gather_fn, &a, err, sizeof(err))) != ANVIL_OK)
			goto fail;
		progress_begin(&pg, "anvil-admin: renewal advise", 0);
		for (a.from = 0; a.from < json_array_size(a.serials);
		    a.from = a.to) {
			progress_show(&pg, NULL, a.from,
			    json_array_size(a.serials), 0);
			a.to = a.from + ADVISE_BATCH;
			if (a.to > json_array_size(a.serials))
				a.to = json_array_size(a.serials);
			/* A certificate deleted in between is not there to
			 * renew; any other failure stops with what is done
			 * counted. */
			a.skip_missing = 1;
			rc = store_run(ctx->st, 0, batch_fn, &a, err,
			    sizeof(err));
			if (rc != ANVIL_OK)
				goto fail;
			a.advised = a.to;
		}
		progress_end(&pg);
	}
	out = json_pack("{s:I, s:O}", "advised", (json_int_t)a.advised,
	    "serials", a.serials);
	if (out == NULL)
		goto out;
	if (ctx->json)
		admin_print_object(ctx, out);
	else
		fprintf(ctx->out, "renewal advised for %zu certificate%s\n",
		    a.advised, a.advised == 1 ? "" : "s");
	status = ADMIN_OK;
	goto out;
fail:
	progress_end(&pg);
	fprintf(stderr, "anvil-admin: renewal advise: %s (advised %zu of "
	    "%zu)\n", err[0] ? err : anvil_strerror(rc), a.advised,
	    json_array_size(a.serials));
out:
	json_decref(out);
	json_decref(a.serials);
	return status;
}

int
admin_renewal(struct admin_ctx *ctx, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "advise") == 0)
		return advise(ctx, argc - 1, argv + 1);
	fputs(RENEWAL_USAGE, stderr);
	return ADMIN_USAGE;
}
