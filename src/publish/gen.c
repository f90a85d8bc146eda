/*
 * gen.c - what anvil-crl needs to know of the CA generations in the
 * store (issue 20 part 3): which of them still has an unexpired
 * certificate, so that one with none retires (ca_gens_retire).
 */
#include "config.h"

#include <string.h>

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
