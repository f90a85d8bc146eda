/*
 * backend.h - private to src/store: what a store backend gives the
 * dispatch (src/store/store.c).
 *
 * DESCRIPTION
 *	Each backend implements every function of store.h on its own handle
 *	types, seen here as void pointers: a store handle (from open) and a
 *	transaction handle (handed to the function run by run). The dispatch
 *	wraps them in the struct store and struct store_txn that callers see.
 *	A backend's functions keep store.h's contract word for word; where a
 *	backend cannot (backup on PostgreSQL) it says so in err.
 *
 *	bdb	src/store/bdb_*.c, Berkeley DB files under data_dir/store
 *	postgresql	src/store/pg.c, a database several hosts share (libpq)
 */
#ifndef ANVIL_STORE_BACKEND_H
#define ANVIL_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "core/error.h"
#include "store/store.h"

/* What run calls inside a transaction; txn is the backend's handle. */
typedef anvil_err (*store_be_fn)(void *txn, void *arg);

struct store_ops {
	const char *name;	/* as in [store] backend */
	anvil_err (*open)(const char *data_dir, const struct store_cfg *cfg,
	    unsigned flags, void **out, char *err, size_t errlen);
	void (*close)(void *st);
	void (*maintain)(void *st);
	void (*hold)(void *st);
	void (*idle)(void *st);
	anvil_err (*run)(void *st, unsigned flags, store_be_fn fn, void *arg,
	    char *err, size_t errlen);
	anvil_err (*get)(void *txn, enum store_kind kind, const char *id,
	    json_t **out);
	anvil_err (*put)(void *txn, enum store_kind kind, const char *id,
	    json_t *rec, unsigned flags);
	anvil_err (*del)(void *txn, enum store_kind kind, const char *id);
	anvil_err (*account_by_thumbprint)(void *txn, const char *thumbprint,
	    char **id);
	anvil_err (*list_by_account)(void *txn, enum store_kind kind,
	    const char *account, const char *after, size_t limit, char ***ids,
	    size_t *n);
	anvil_err (*authz_by_identifier)(void *txn, const char *account,
	    const char *type, const char *value, char ***ids, size_t *n);
	anvil_err (*each)(void *txn, enum store_kind kind, store_each_fn fn,
	    void *arg);
	anvil_err (*revoked_each)(void *txn, store_each_fn fn, void *arg);
	anvil_err (*counter_next)(void *txn, const char *name, uint64_t *val);
	anvil_err (*counter_get)(void *txn, const char *name, uint64_t *val);
	anvil_err (*nonce_spend)(void *st, const unsigned char *nonce,
	    size_t len, time_t expires);
	anvil_err (*nonce_spend_txn)(void *txn, const unsigned char *nonce,
	    size_t len, time_t expires);
	anvil_err (*nonce_purge)(void *st, time_t now, size_t *purged);
	int64_t (*nonce_floor)(void *st);
	/* The floor of data_dir's store without opening it, or -1 when
	 * that takes an open (STORE_OPEN_DEFER); NULL: always -1. */
	int64_t (*nonce_floor_peek)(const char *data_dir);
	anvil_err (*backup)(void *st, const char *dir, char *err,
	    size_t errlen);
	anvil_err (*verify)(void *st, char *err, size_t errlen);
	void (*set_progress)(void *st, struct progress *p);
	void (*schema)(const void *st, int *was, int *now);
};

extern const struct store_ops store_bdb_ops;
extern const struct store_ops store_pg_ops;

#endif
