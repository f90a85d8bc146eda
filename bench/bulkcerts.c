/*
 * bulkcerts.c - fills a data folder's store with N certificate records, as
 * finalize would leave them (src/record/record.c, rec_cert_new), so that
 * bench/advise.sh can time anvil-admin over a store of a real CA's size
 * without issuing N certificates first. Links the project's own library:
 * the records and the store are the shipped code.
 *
 * usage: bulkcerts DATA_DIR N PEM_FILE
 * PEM_FILE is stored as every record's certificate, for a realistic size.
 * With BULKCERTS_REVOKED=1 in the environment every record is revoked
 * (keyCompromise, by the operator), for anvil-crl over a large CRL, and
 * with BULKCERTS_REVOKED_EVERY=k every k-th one. With BULKCERTS_EXPIRED=1
 * every record expired yesterday, for a walk of a large store that signs
 * nothing (tests/integration/crl_large.sh). With BULKCERTS_SHARDS=N
 * (2..1024) each record names its CRL shard as finalize does under
 * [crl] shards = N (util_crl_shard_of its serial).
 * Prints the serial of the last record written.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/util.h"
#include "record/record.h"
#include "store/store.h"

#define BATCH 1000

struct fill {
	const char *pem;
	size_t from, to;
	time_t now;
	int revoked;	/* BULKCERTS_REVOKED=1 */
	time_t shift;	/* BULKCERTS_EXPIRED=1: 90 days back */
	unsigned long every;	/* BULKCERTS_REVOKED_EVERY, 0: unset */
	unsigned shards;	/* BULKCERTS_SHARDS, 0: none */
	char last[33];	/* serial of the last record put */
};

static anvil_err
fill_fn(struct store_txn *txn, void *arg)
{
	struct fill *f = arg;
	size_t i;
	anvil_err rc = ANVIL_OK;

	for (i = f->from; rc == ANVIL_OK && i < f->to; i++) {
		unsigned char rnd[16];
		char serial[33], name[64];
		json_t *ids, *rec;

		if ((rc = util_random(rnd, sizeof(rnd))) != ANVIL_OK)
			break;
		rnd[0] &= 0x7f;	/* positive, as the CA makes them */
		rnd[0] |= 0x01;	/* and no leading zero octet */
		util_hex(rnd, sizeof(rnd), serial);
		snprintf(name, sizeof(name), "n%zu.bench.test", i);
		ids = json_pack("[{s:s, s:s}]", "type", "dns", "value", name);
		rec = ids == NULL ? NULL : rec_cert_new(serial, "bench",
		    "bench-order", f->pem, f->now - f->shift - 86400,
		    f->now - f->shift + 89 * 86400, f->now - f->shift - 86400 +
		    (time_t)(i % 3600), ids, "classic");
		json_decref(ids);
		if (rec != NULL && f->shards > 1 && rec_cert_set_crl_shard(rec,
		    util_crl_shard_of(rnd, sizeof(rnd), f->shards)) !=
		    ANVIL_OK) {
			json_decref(rec);
			rec = NULL;
		}
		if (rec != NULL && (f->revoked || (f->every != 0 &&
		    i % f->every == 0)) && json_object_set_new(rec,
		    "revoked", json_pack("{s:I, s:i, s:s}", "time",
		    (json_int_t)f->now, "reason", 1, "by", "operator")) != 0) {
			json_decref(rec);
			rec = NULL;
		}
		if (rec == NULL) {
			rc = ANVIL_ERR_NOMEM;
			break;
		}
		rc = store_put(txn, STORE_CERT, serial, rec, STORE_PUT_NEW);
		json_decref(rec);
		memcpy(f->last, serial, sizeof(f->last));
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct store *st = NULL;
	struct fill f;
	char err[512] = "", *pem = NULL;
	unsigned long n;
	size_t len = 0;
	FILE *fp;
	int status = 1;

	if (argc != 4 || (n = strtoul(argv[2], NULL, 10)) == 0 ||
	    n > 10000000) {
		fprintf(stderr, "usage: bulkcerts DATA_DIR N PEM_FILE\n");
		return 2;
	}
	if ((fp = fopen(argv[3], "r")) == NULL) {
		perror(argv[3]);
		return 1;
	}
	pem = calloc(1, 65536);
	if (pem != NULL)
		len = fread(pem, 1, 65535, fp);
	fclose(fp);
	if (pem == NULL || len == 0) {
		fprintf(stderr, "bulkcerts: cannot read %s\n", argv[3]);
		goto out;
	}
	if (store_open(argv[1], 0, &st, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "bulkcerts: store_open: %s\n", err);
		goto out;
	}
	f.pem = pem;
	f.now = time(NULL);
	f.revoked = getenv("BULKCERTS_REVOKED") != NULL &&
	    strcmp(getenv("BULKCERTS_REVOKED"), "1") == 0;
	f.shift = getenv("BULKCERTS_EXPIRED") != NULL &&
	    strcmp(getenv("BULKCERTS_EXPIRED"), "1") == 0 ? 90 * 86400 : 0;
	f.every = getenv("BULKCERTS_REVOKED_EVERY") != NULL ?
	    strtoul(getenv("BULKCERTS_REVOKED_EVERY"), NULL, 10) : 0;
	f.shards = getenv("BULKCERTS_SHARDS") != NULL ?
	    (unsigned)strtoul(getenv("BULKCERTS_SHARDS"), NULL, 10) : 0;
	if (f.shards > 1024) {
		fprintf(stderr, "bulkcerts: BULKCERTS_SHARDS above 1024\n");
		goto out;
	}
	for (f.from = 0; f.from < n; f.from = f.to) {
		f.to = f.from + BATCH < n ? f.from + BATCH : n;
		if (store_run(st, STORE_TXN_NOSYNC, fill_fn, &f, err,
		    sizeof(err)) != ANVIL_OK) {
			fprintf(stderr, "bulkcerts: %s\n", err);
			goto out;
		}
	}
	printf("%s\n", f.last);
	status = 0;
out:
	store_close(st);
	free(pem);
	return status;
}
