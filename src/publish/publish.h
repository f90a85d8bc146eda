/*
 * publish.h - what anvil-crl runs: gathers from the store what the CA core
 * signs, and publishes the result. Sits above src/ca and src/store, which
 * know nothing of each other.
 */
#ifndef ANVIL_PUBLISH_PUBLISH_H
#define ANVIL_PUBLISH_PUBLISH_H

#include <stddef.h>
#include <time.h>

#include "ca/ca.h"
#include "core/conf.h"
#include "core/error.h"

struct store_txn;

struct crl_job {
	struct ca *ca;
	const struct anvil_config *cfg;
	time_t now;
	struct ca_crl *crl;	/* out */
	char err[512];
};

/*
 * Builds the CRL of the store: raises the store's "crl_number" counter
 * and lists every revoked certificate (records with "revoked": {"time":
 * seconds, "reason": n}), in one transaction; thisUpdate now, nextUpdate
 * now + cfg->crl_validity_hours.
 */
anvil_err ca_crl_from_store(struct ca *ca, struct store_txn *txn,
    const struct anvil_config *cfg, time_t now, struct ca_crl **out,
    char *err, size_t errlen);


anvil_err crl_fn(struct store_txn *txn, void *arg);

int write_der_of_pem(const char *path, const char *pem, char *err,
    size_t errlen);

int publish(const char *dir, const struct ca *ca, const struct ca_crl *crl,
    char *err, size_t errlen);

int lock_store(const char *data_dir, char *err, size_t errlen);

void drop_old_lock(const char *dir);

#endif
