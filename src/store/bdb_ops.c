/*
 * bdb_ops.c - the Berkeley DB backend as the dispatch sees it
 * (src/store/backend.h).
 *
 * DESCRIPTION
 *	Through src/store/bdb_int.h the store_* names here are the Berkeley
 *	DB functions (bdb_store_*). Each entry of store_bdb_ops passes its
 *	void handles on as this backend's types; run adds a trampoline so
 *	that the dispatch's function receives the transaction as a void
 *	pointer.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "core/error.h"
#include "store/bdb_int.h"
#include "store/backend.h"

static anvil_err
o_open(const char *data_dir, const struct store_cfg *cfg, unsigned flags,
    void **out, char *err, size_t errlen)
{
	struct store *st = NULL;
	anvil_err rc;

	(void)cfg;
	rc = store_open(data_dir, flags, &st, err, errlen);
	*out = st;
	return rc;
}

static void
o_close(void *st)
{
	store_close(st);
}

static void
o_maintain(void *st)
{
	store_maintain(st);
}

static void
o_hold(void *st)
{
	store_hold(st);
}

static void
o_idle(void *st)
{
	store_idle(st);
}

struct tramp {
	store_be_fn fn;
	void *arg;
};

static anvil_err
tramp(struct store_txn *txn, void *arg)
{
	struct tramp *t = arg;

	return t->fn(txn, t->arg);
}

static anvil_err
o_run(void *st, unsigned flags, store_be_fn fn, void *arg, char *err,
    size_t errlen)
{
	struct tramp t;

	t.fn = fn;
	t.arg = arg;
	return store_run(st, flags, tramp, &t, err, errlen);
}

static anvil_err
o_get(void *txn, enum store_kind kind, const char *id, json_t **out)
{
	return store_get(txn, kind, id, out);
}

static anvil_err
o_put(void *txn, enum store_kind kind, const char *id, json_t *rec,
    unsigned flags)
{
	return store_put(txn, kind, id, rec, flags);
}

static anvil_err
o_del(void *txn, enum store_kind kind, const char *id)
{
	return store_del(txn, kind, id);
}

static anvil_err
o_thumb(void *txn, const char *thumbprint, char **id)
{
	return store_account_by_thumbprint(txn, thumbprint, id);
}

static anvil_err
o_list(void *txn, enum store_kind kind, const char *account,
    const char *after, size_t limit, char ***ids, size_t *n)
{
	return store_list_by_account(txn, kind, account, after, limit, ids, n);
}

static anvil_err
o_ident(void *txn, const char *account, const char *type, const char *value,
    char ***ids, size_t *n)
{
	return store_authz_by_identifier(txn, account, type, value, ids, n);
}

static anvil_err
o_each(void *txn, enum store_kind kind, store_each_fn fn, void *arg)
{
	return store_each(txn, kind, fn, arg);
}

static anvil_err
o_revoked_each(void *txn, store_each_fn fn, void *arg)
{
	return store_revoked_each(txn, fn, arg);
}

static anvil_err
o_counter_next(void *txn, const char *name, uint64_t *val)
{
	return store_counter_next(txn, name, val);
}

static anvil_err
o_counter_get(void *txn, const char *name, uint64_t *val)
{
	return store_counter_get(txn, name, val);
}

static anvil_err
o_nonce_spend(void *st, const unsigned char *nonce, size_t len,
    time_t expires)
{
	return store_nonce_spend(st, nonce, len, expires);
}

static anvil_err
o_nonce_spend_txn(void *txn, const unsigned char *nonce, size_t len,
    time_t expires)
{
	return store_nonce_spend_txn(txn, nonce, len, expires);
}

static anvil_err
o_nonce_purge(void *st, time_t now, size_t *purged)
{
	return store_nonce_purge(st, now, purged);
}

static int64_t
o_nonce_floor(void *st)
{
	return store_nonce_floor(st);
}

static anvil_err
o_backup(void *st, const char *dir, char *err, size_t errlen)
{
	return store_backup(st, dir, err, errlen);
}

static anvil_err
o_verify(void *st, char *err, size_t errlen)
{
	return store_verify(st, err, errlen);
}

static void
o_schema(const void *st, int *was, int *now)
{
	(void)st;
	*was = STORE_FORMAT_VERSION;
	*now = STORE_FORMAT_VERSION;
}

static void
o_set_progress(void *st, struct progress *p)
{
	store_set_progress(st, p);
}

const struct store_ops store_bdb_ops = {
	.name = STORE_BACKEND_BDB,
	.open = o_open,
	.close = o_close,
	.maintain = o_maintain,
	.hold = o_hold,
	.idle = o_idle,
	.run = o_run,
	.get = o_get,
	.put = o_put,
	.del = o_del,
	.account_by_thumbprint = o_thumb,
	.list_by_account = o_list,
	.authz_by_identifier = o_ident,
	.each = o_each,
	.revoked_each = o_revoked_each,
	.counter_next = o_counter_next,
	.counter_get = o_counter_get,
	.nonce_spend = o_nonce_spend,
	.nonce_spend_txn = o_nonce_spend_txn,
	.nonce_purge = o_nonce_purge,
	.nonce_floor = o_nonce_floor,
	.nonce_floor_peek = bdb_nonce_floor_peek,
	.backup = o_backup,
	.verify = o_verify,
	.set_progress = o_set_progress,
	.schema = o_schema,
};
