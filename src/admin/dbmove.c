/*
 * dbmove.c - anvil-admin db export FILE and db import FILE: every record
 * and counter of the store as lines of JSON, so that a store moves from
 * one backend to the other (issue 23: Berkeley DB into PostgreSQL and
 * back). Spent nonces are not moved: they expire within minutes and
 * store.h does not keep them across a crash either.
 *
 * FORMAT
 *	One JSON object a line, keys sorted, in this order:
 *	{"anvil_export": 1, "record_version": V}	first
 *	{"id": ID, "kind": KIND, "rec": {...}}		each record, kinds in
 *							enum store_kind order,
 *							ids ascending
 *	{"counter": NAME, "val": N}			each counter above 0
 *	{"end": RECORDS}				last
 *	Both backends list ids in the same (byte) order, so an export of
 *	the imported store is the same file: that is the check.
 *
 * The file holds EAB keys: it is created 0600 and must not exist. Import
 * reads and checks the whole file before it writes anything, refuses a
 * store that holds any record, then writes in batches of transactions.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>

#include "admin/admin.h"
#include "ca/ca.h"
#include "core/conf.h"
#include "core/error.h"
#include "store/store.h"

#define EXPORT_FORMAT	1
#define LINE_MAX_BYTES	(2 * 1024 * 1024)	/* a record is at most 1 MiB */
#define BATCH		256			/* records per transaction */
#define COUNTER_MAX_VAL	100000000ULL		/* raised one step at a time */

static const char *const kind_names[STORE_KIND__MAX] = {
	[STORE_ACCOUNT] = "account", [STORE_ORDER] = "order",
	[STORE_AUTHZ] = "authz", [STORE_CHALLENGE] = "challenge",
	[STORE_CERT] = "cert", [STORE_EAB] = "eab", [STORE_POLICY] = "policy",
	[STORE_VALQ] = "valq",
};

/*
 * The counters Anvil keeps: the CRL numbers (src/publish/crl.c), one for
 * each CA generation's full CRL ("crl_number" for generation 1, "crl.g<g>"
 * after) and one for each of its shards ("crl.g<g>.s<k>", raised 1..N
 * together, so the first that was never raised ends a generation's).
 */
static int
counter_name_ok(const char *name)
{
	unsigned g, k;
	int n = 0;

	if (strcmp(name, "crl_number") == 0)
		return 1;
	if (sscanf(name, "crl.g%u%n", &g, &n) == 1 && name[n] == '\0')
		return g >= 2 && g <= CA_MAX_GENERATIONS;
	n = 0;
	if (sscanf(name, "crl.g%u.s%u%n", &g, &k, &n) == 2 && name[n] == '\0')
		return g >= 1 && g <= CA_MAX_GENERATIONS && k >= 1 &&
		    k <= CONFIG_CRL_SHARDS_MAX;
	return 0;
}

static int
kind_of(const char *name)
{
	int k;

	for (k = 0; k < STORE_KIND__MAX; k++)
		if (strcmp(kind_names[k], name) == 0)
			return k;
	return -1;
}

/* ------------------------------------------------------------ export */

struct export {
	FILE *f;
	int fd;
	enum store_kind kind;
	off_t start;		/* where this kind's lines begin */
	size_t n;		/* records of this kind */
	int werr;		/* a write failed */
};

static int
put_line(struct export *e, json_t *o)
{
	if (o == NULL || json_dumpf(o, e->f, JSON_COMPACT | JSON_SORT_KEYS)
	    != 0 || fputc('\n', e->f) == EOF) {
		e->werr = 1;
		return -1;
	}
	return 0;
}

static anvil_err
export_one(const char *id, json_t *rec, void *arg)
{
	struct export *e = arg;
	json_t *o = json_pack("{s:s, s:s, s:O}", "kind", kind_names[e->kind],
	    "id", id, "rec", rec);
	int r = put_line(e, o);

	json_decref(o);
	if (r != 0)
		return ANVIL_ERR_IO;
	e->n++;
	return ANVIL_OK;
}

/* One kind; a retried transaction first drops what the last try wrote. */
static anvil_err
export_kind_fn(struct store_txn *txn, void *arg)
{
	struct export *e = arg;

	if (fflush(e->f) != 0 || ftruncate(e->fd, e->start) != 0 ||
	    fseeko(e->f, e->start, SEEK_SET) != 0)
		return ANVIL_ERR_IO;
	e->n = 0;
	return store_each(txn, e->kind, export_one, e);
}

/* Puts counter name into obj when it was ever raised; its value in *v. */
static anvil_err
counter_take(struct store_txn *txn, json_t *obj, const char *name,
    uint64_t *v)
{
	anvil_err rc;

	if ((rc = store_counter_get(txn, name, v)) != ANVIL_OK)
		return rc;
	if (*v != 0 && json_object_set_new(obj, name,
	    json_integer((json_int_t)*v)) != 0)
		return ANVIL_ERR_NOMEM;
	return ANVIL_OK;
}

/* Every counter above 0 into the object arg: {name: value}. */
static anvil_err
counters_fn(struct store_txn *txn, void *arg)
{
	json_t *c = arg;
	char name[48];
	unsigned g, k;
	uint64_t v;
	anvil_err rc;

	json_object_clear(c);	/* from a try that lost a deadlock */
	if ((rc = counter_take(txn, c, "crl_number", &v)) != ANVIL_OK)
		return rc;
	for (g = 1; g <= CA_MAX_GENERATIONS; g++) {
		snprintf(name, sizeof(name), "crl.g%u", g);
		if (g >= 2 && (rc = counter_take(txn, c, name, &v)) !=
		    ANVIL_OK)
			return rc;
		for (k = 1; k <= CONFIG_CRL_SHARDS_MAX; k++) {
			snprintf(name, sizeof(name), "crl.g%u.s%u", g, k);
			if ((rc = counter_take(txn, c, name, &v)) != ANVIL_OK)
				return rc;
			if (v == 0)
				break;
		}
	}
	return ANVIL_OK;
}

static int
db_export(struct admin_ctx *ctx, const char *path)
{
	struct export e;
	json_t *o = NULL, *c = NULL, *v;
	const char *name;
	char err[512] = "";
	size_t total = 0;
	int k, status = ADMIN_FAIL;
	anvil_err rc;

	memset(&e, 0, sizeof(e));
	if ((c = json_object()) == NULL)
		return ADMIN_FAIL;
	if ((e.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0) {
		fprintf(stderr, "anvil-admin: db export: %s: %s\n", path,
		    strerror(errno));
		json_decref(c);
		return ADMIN_FAIL;
	}
	if ((e.f = fdopen(e.fd, "w")) == NULL) {
		close(e.fd);
		goto out;
	}
	o = json_pack("{s:i, s:i}", "anvil_export", EXPORT_FORMAT,
	    "record_version", STORE_RECORD_VERSION);
	put_line(&e, o);
	json_decref(o);
	for (k = 0; k < STORE_KIND__MAX && !e.werr; k++) {
		e.kind = (enum store_kind)k;
		if (fflush(e.f) != 0 || (e.start = lseek(e.fd, 0, SEEK_END)) <
		    0) {
			e.werr = 1;
			break;
		}
		/* Read committed: a walk of every record holds a page's
		 * locks at a time (store.h); stop the servers for a copy of
		 * one instant. */
		rc = store_run(ctx->st, STORE_TXN_READ_COMMITTED,
		    export_kind_fn, &e, err, sizeof(err));
		if (rc != ANVIL_OK) {
			fprintf(stderr, "anvil-admin: db export: %s: %s\n",
			    kind_names[k], err);
			goto out;
		}
		total += e.n;
	}
	if ((rc = store_run(ctx->st, 0, counters_fn, c, err, sizeof(err))) !=
	    ANVIL_OK) {
		fprintf(stderr, "anvil-admin: db export: counters: %s\n", err);
		goto out;
	}
	json_object_foreach(c, name, v) {
		o = json_pack("{s:s, s:O}", "counter", name, "val", v);
		put_line(&e, o);
		json_decref(o);
	}
	o = json_pack("{s:I}", "end", (json_int_t)total);
	put_line(&e, o);
	json_decref(o);
	if (e.werr || fflush(e.f) != 0 || fsync(e.fd) != 0) {
		fprintf(stderr, "anvil-admin: db export: writing %s: %s\n",
		    path, strerror(errno));
		goto out;
	}
	fprintf(ctx->out, "db export: %zu records and the counters of the "
	    "%s store in %s\n", total, store_backend(ctx->st), path);
	status = ADMIN_OK;
out:
	json_decref(c);
	if (e.f != NULL)
		fclose(e.f);
	if (status != ADMIN_OK)
		unlink(path);
	return status;
}

/* ------------------------------------------------------------ import */

struct import {
	json_t *recs;		/* array of [kind, id, rec] */
	json_t *counters;	/* {name: value} */
	size_t from, to;	/* the batch being written */
	int found;		/* the store holds a record */
};

/* Reads and checks the whole file into im; 0, or -1 with a message. */
static int
import_read(const char *path, struct import *im)
{
	FILE *f = NULL;
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	json_t *o = NULL, *rec = NULL;
	json_error_t jerr;
	const char *kind = NULL, *id = NULL, *cname = NULL;
	json_int_t ival = 0;
	int ended = 0, ret = -1, k;

	if ((f = fopen(path, "re")) == NULL) {
		fprintf(stderr, "anvil-admin: db import: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		json_decref(o);
		o = NULL;
		if ((size_t)len > LINE_MAX_BYTES || ended ||
		    (o = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES,
		    &jerr)) == NULL || !json_is_object(o))
			goto bad;
		if (lineno == 1) {
			if (json_integer_value(json_object_get(o,
			    "anvil_export")) != EXPORT_FORMAT ||
			    json_integer_value(json_object_get(o,
			    "record_version")) > STORE_RECORD_VERSION)
				goto bad;
			continue;
		}
		if (json_unpack(o, "{s:s, s:s, s:o}", "kind", &kind, "id", &id,
		    "rec", &rec) == 0) {
			if ((k = kind_of(kind)) < 0 || !json_is_object(rec) ||
			    json_array_append_new(im->recs, json_pack("[i, s, O]",
			    k, id, rec)) != 0)
				goto bad;
			continue;
		}
		if (json_unpack(o, "{s:s, s:I}", "counter", &cname, "val",
		    &ival) == 0) {
			if (!counter_name_ok(cname) || ival < 0 ||
			    (uint64_t)ival > COUNTER_MAX_VAL ||
			    json_object_get(im->counters, cname) != NULL ||
			    json_object_set_new(im->counters, cname,
			    json_integer(ival)) != 0)
				goto bad;
			continue;
		}
		if (json_unpack(o, "{s:I}", "end", &ival) == 0 &&
		    ival >= 0 && (size_t)ival == json_array_size(im->recs)) {
			ended = 1;
			continue;
		}
		goto bad;
	}
	if (ferror(f) || !ended) {
		fprintf(stderr, "anvil-admin: db import: %s: %s\n", path,
		    ferror(f) ? strerror(errno) : "no end line: the file is "
		    "cut short; nothing written");
		goto out;
	}
	ret = 0;
	goto out;
bad:
	fprintf(stderr, "anvil-admin: db import: %s:%zu: not a line of an "
	    "Anvil export this version reads; nothing written\n", path,
	    lineno);
out:
	json_decref(o);
	free(line);
	fclose(f);
	return ret;
}

static anvil_err
found_one(const char *id, json_t *rec, void *arg)
{
	(void)id;
	(void)rec;
	((struct import *)arg)->found = 1;
	return ANVIL_ERR_EXISTS;	/* one is enough: stop the walk */
}

static anvil_err
empty_fn(struct store_txn *txn, void *arg)
{
	struct import *im = arg;
	anvil_err rc;
	int k;

	im->found = 0;
	for (k = 0; k < STORE_KIND__MAX; k++) {
		rc = store_each(txn, (enum store_kind)k, found_one, im);
		if (im->found)
			return ANVIL_OK;
		if (rc != ANVIL_OK)
			return rc;
	}
	return ANVIL_OK;
}

static anvil_err
batch_fn(struct store_txn *txn, void *arg)
{
	struct import *im = arg;
	json_t *r = NULL, *rec = NULL;
	size_t i;
	anvil_err rc;

	for (i = im->from; i < im->to; i++) {
		r = json_array_get(im->recs, i);
		/* A copy: store_put stamps "v" on what it is given. */
		if ((rec = json_deep_copy(json_array_get(r, 2))) == NULL)
			return ANVIL_ERR_NOMEM;
		rc = store_put(txn, (enum store_kind)json_integer_value(
		    json_array_get(r, 0)), json_string_value(json_array_get(r,
		    1)), rec, STORE_PUT_NEW);
		json_decref(rec);
		if (rc != ANVIL_OK)
			return rc;
	}
	return ANVIL_OK;
}

static anvil_err
raise_fn(struct store_txn *txn, void *arg)
{
	struct import *im = arg;
	uint64_t v = 0, n;
	const char *name;
	json_t *val;
	anvil_err rc;

	json_object_foreach(im->counters, name, val)
		for (n = 0; n < (uint64_t)json_integer_value(val); n++)
			if ((rc = store_counter_next(txn, name, &v)) !=
			    ANVIL_OK)
				return rc;
	return ANVIL_OK;
}

static int
db_import(struct admin_ctx *ctx, const char *path)
{
	struct import im;
	char err[512] = "";
	size_t n;
	int status = ADMIN_FAIL;
	anvil_err rc;

	memset(&im, 0, sizeof(im));
	if ((im.recs = json_array()) == NULL ||
	    (im.counters = json_object()) == NULL) {
		json_decref(im.recs);
		return ADMIN_FAIL;
	}
	if (import_read(path, &im) != 0)
		goto out;
	if ((rc = store_run(ctx->st, STORE_TXN_READ_COMMITTED, empty_fn, &im,
	    err, sizeof(err))) != ANVIL_OK) {
		fprintf(stderr, "anvil-admin: db import: %s\n", err);
		goto out;
	}
	if (im.found) {
		fprintf(stderr, "anvil-admin: db import: the %s store already "
		    "holds records; import only into a new one\n",
		    store_backend(ctx->st));
		goto out;
	}
	n = json_array_size(im.recs);
	for (im.from = 0; im.from < n; im.from = im.to) {
		im.to = im.from + BATCH < n ? im.from + BATCH : n;
		if ((rc = store_run(ctx->st, 0, batch_fn, &im, err,
		    sizeof(err))) != ANVIL_OK) {
			fprintf(stderr, "anvil-admin: db import: record %zu: "
			    "%s; %zu written: empty the store before another "
			    "try\n", im.from + 1, err, im.from);
			goto out;
		}
	}
	if ((rc = store_run(ctx->st, 0, raise_fn, &im, err, sizeof(err))) !=
	    ANVIL_OK) {
		fprintf(stderr, "anvil-admin: db import: counters: %s\n", err);
		goto out;
	}
	fprintf(ctx->out, "db import: %zu records and the counters into the "
	    "%s store\n", n, store_backend(ctx->st));
	status = ADMIN_OK;
out:
	json_decref(im.recs);
	json_decref(im.counters);
	return status;
}

int
admin_db_move(struct admin_ctx *ctx, int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "export") == 0)
		return db_export(ctx, argv[2]);
	if (argc == 3 && strcmp(argv[1], "import") == 0)
		return db_import(ctx, argv[2]);
	return ADMIN_USAGE;
}
