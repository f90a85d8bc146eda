/*
 * publish.h - what anvil-crl runs: gathers from the store what the CA core
 * signs, and publishes the result into the served folder. Sits above
 * src/ca and src/store, which know nothing of each other: the CA core is
 * handed plain entries (struct ca_revoked), never a transaction.
 */
#ifndef ANVIL_PUBLISH_PUBLISH_H
#define ANVIL_PUBLISH_PUBLISH_H

#include <stddef.h>
#include <time.h>

#include "ca/ca.h"
#include "core/conf.h"
#include "core/error.h"

struct store;
struct store_txn;

/*
 * Builds the CRL of the store inside txn (borrowed): raises the store's
 * "crl_number" counter, lists every revoked certificate (records with
 * "revoked": {"time": seconds, "reason": n}) and has ca_crl_build sign
 * them; thisUpdate now, nextUpdate now + cfg->crl_validity_hours. A
 * malformed revocation record is ANVIL_ERR_CORRUPT. Caller owns *out
 * (ca_crl_free); the caller's transaction must commit for the number to
 * stay spent.
 */
anvil_err publish_crl_from_store(struct ca *ca, struct store_txn *txn,
    const struct anvil_config *cfg, time_t now, struct ca_crl **out,
    char *err, size_t errlen);

/*
 * publish_crl_from_store in a transaction of its own on st (borrowed),
 * retried as store_run retries. On failure err holds the most telling
 * reason (the build's, else the store's) and *out is NULL. Caller owns
 * *out (ca_crl_free).
 */
anvil_err publish_crl_build(struct store *st, struct ca *ca,
    const struct anvil_config *cfg, time_t now, struct ca_crl **out,
    char *err, size_t errlen);

/*
 * Writes dir/anvil.crl (DER), dir/anvil.crl.pem, dir/ca.crt (DER) and
 * dir/ca.pem, mode 0644, each by a temporary file and rename so a reader
 * never sees half a file. Everything borrowed. Returns the first failing
 * step's error; files written before it stay.
 */
anvil_err publish_crl_write(const char *dir, const struct ca *ca,
    const struct ca_crl *crl, char *err, size_t errlen);

/*
 * Makes the publish folder dir (0755) and takes the lock
 * data_dir/anvil-crl.lock, waiting for another anvil-crl to finish, so
 * runs on one store, into one folder or two, write in CRL number order.
 * Returns the locked descriptor, which the caller closes when done, or
 * -1 with err set.
 */
int publish_lock(const char *data_dir, const char *dir, char *err,
    size_t errlen);

#endif
