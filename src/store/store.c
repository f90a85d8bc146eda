/*
 * store.c - the dispatch: store.h's functions, passed to the backend that
 * store_open_cfg chose (src/store/backend.h).
 *
 * DESCRIPTION
 *	A struct store is the backend's table and its handle; a struct
 *	store_txn, built on the stack for each call of a store_run function,
 *	the table and the backend's transaction. Callers never see which
 *	backend holds their records, except through store_backend().
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/error.h"
#include "store/backend.h"
#include "store/store.h"

struct store {
	const struct store_ops *ops;
	void *be;		/* the backend's handle */
};

struct store_txn {
	const struct store_ops *ops;
	void *be;		/* the backend's transaction */
};

static const struct store_ops *
backend_find(const char *name)
{
	if (name == NULL || strcmp(name, STORE_BACKEND_BDB) == 0)
		return &store_bdb_ops;
	if (strcmp(name, STORE_BACKEND_PG) == 0)
		return &store_pg_ops;
	return NULL;
}

anvil_err
store_open_cfg(const char *data_dir, const struct store_cfg *cfg,
    unsigned flags, struct store **out, char *err, size_t errlen)
{
	const struct store_ops *ops = NULL;
	struct store *st = NULL;
	anvil_err rc;

	if (out == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_open: nowhere to put the handle");
	*out = NULL;
	if ((ops = backend_find(cfg != NULL ? cfg->backend : NULL)) == NULL)
		return errf(err, errlen, ANVIL_ERR_CONFIG,
		    "store backend \"%.64s\" is not available (bdb, postgresql)",
		    cfg->backend);
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	st->ops = ops;
	if ((rc = ops->open(data_dir, cfg, flags, &st->be, err, errlen)) !=
	    ANVIL_OK) {
		free(st);
		return rc;
	}
	*out = st;
	return ANVIL_OK;
}

anvil_err
store_open(const char *data_dir, unsigned flags, struct store **out,
    char *err, size_t errlen)
{
	return store_open_cfg(data_dir, NULL, flags, out, err, errlen);
}

anvil_err
store_open_conf(const struct anvil_config *cfg, unsigned flags,
    struct store **out, char *err, size_t errlen)
{
	struct store_cfg sc;

	if (cfg == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_open: no configuration");
	memset(&sc, 0, sizeof(sc));
	sc.backend = cfg->store_backend;
	sc.conninfo = cfg->store_conninfo;
	sc.connect_timeout = cfg->store_connect_timeout;
	return store_open_cfg(cfg->data_dir, &sc, flags, out, err, errlen);
}

void
store_schema(const struct store *st, int *was, int *now)
{
	*was = 0;
	*now = 0;
	if (st != NULL)
		st->ops->schema(st->be, was, now);
}

const char *
store_backend(const struct store *st)
{
	return st != NULL ? st->ops->name : NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	st->ops->close(st->be);
	free(st);
}

void
store_maintain(struct store *st)
{
	if (st != NULL)
		st->ops->maintain(st->be);
}

void
store_hold(struct store *st)
{
	if (st != NULL)
		st->ops->hold(st->be);
}

void
store_idle(struct store *st)
{
	if (st != NULL)
		st->ops->idle(st->be);
}

struct run_arg {
	const struct store_ops *ops;
	store_fn fn;
	void *arg;
};

static anvil_err
run_tramp(void *be, void *arg)
{
	struct run_arg *ra = arg;
	struct store_txn t;

	t.ops = ra->ops;
	t.be = be;
	return ra->fn(&t, ra->arg);
}

anvil_err
store_run(struct store *st, unsigned flags, store_fn fn, void *arg,
    char *err, size_t errlen)
{
	struct run_arg ra;

	if (st == NULL || fn == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_run: no store or function");
	ra.ops = st->ops;
	ra.fn = fn;
	ra.arg = arg;
	return st->ops->run(st->be, flags, run_tramp, &ra, err, errlen);
}

/*
 * The entry check of the functions taking a transaction. Their outputs
 * are cleared here first: a backend checks its transaction before the
 * arguments (src/store/rec.h), and a transaction it refuses must leave
 * no output set either.
 */
#define TXN_OK(t)	((t) != NULL && (t)->ops != NULL)

anvil_err
store_get(struct store_txn *txn, enum store_kind kind, const char *id,
    json_t **out)
{
	if (out != NULL)
		*out = NULL;
	if (!TXN_OK(txn))
		return ANVIL_ERR_INVALID;
	return txn->ops->get(txn->be, kind, id, out);
}

anvil_err
store_put(struct store_txn *txn, enum store_kind kind, const char *id,
    json_t *rec, unsigned flags)
{
	if (!TXN_OK(txn))
		return ANVIL_ERR_INVALID;
	return txn->ops->put(txn->be, kind, id, rec, flags);
}

anvil_err
store_del(struct store_txn *txn, enum store_kind kind, const char *id)
{
	if (!TXN_OK(txn))
		return ANVIL_ERR_INVALID;
	return txn->ops->del(txn->be, kind, id);
}

anvil_err
store_account_by_thumbprint(struct store_txn *txn, const char *thumbprint,
    char **id)
{
	if (id != NULL)
		*id = NULL;
	if (!TXN_OK(txn))
		return ANVIL_ERR_INVALID;
	return txn->ops->account_by_thumbprint(txn->be, thumbprint, id);
}

anvil_err
store_list_by_account(struct store_txn *txn, enum store_kind kind,
    const char *account, const char *after, size_t limit, char ***ids,
    size_t *n)
{
	if (ids != NULL)
		*ids = NULL;
	if (n != NULL)
		*n = 0;
	if (!TXN_OK(txn))
		return ANVIL_ERR_INVALID;
	return txn->ops->list_by_account(txn->be, kind, account, after, limit,
	    ids, n);
}

anvil_err
store_authz_by_identifier(struct store_txn *txn, const char *account,
    const char *type, const char *value, char ***ids, size_t *n)
{
	if (ids != NULL)
		*ids = NULL;
	if (n != NULL)
		*n = 0;
	if (!TXN_OK(txn))
		return ANVIL_ERR_INVALID;
	return txn->ops->authz_by_identifier(txn->be, account, type, value,
	    ids, n);
}

void
store_ids_free(char **ids, size_t n)
{
	size_t i;

	if (ids == NULL)
		return;
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

anvil_err
store_each(struct store_txn *txn, enum store_kind kind, store_each_fn fn,
    void *arg)
{
	if (!TXN_OK(txn))
		return ANVIL_ERR_INVALID;
	return txn->ops->each(txn->be, kind, fn, arg);
}

anvil_err
store_revoked_each(struct store_txn *txn, store_each_fn fn, void *arg)
{
	if (!TXN_OK(txn))
		return ANVIL_ERR_INVALID;
	return txn->ops->revoked_each(txn->be, fn, arg);
}

anvil_err
store_counter_next(struct store_txn *txn, const char *name, uint64_t *val)
{
	if (!TXN_OK(txn))
		return ANVIL_ERR_INVALID;
	return txn->ops->counter_next(txn->be, name, val);
}

anvil_err
store_counter_get(struct store_txn *txn, const char *name, uint64_t *val)
{
	if (!TXN_OK(txn))
		return ANVIL_ERR_INVALID;
	return txn->ops->counter_get(txn->be, name, val);
}

anvil_err
store_nonce_spend(struct store *st, const unsigned char *nonce, size_t len,
    time_t expires)
{
	if (st == NULL)
		return ANVIL_ERR_INVALID;
	return st->ops->nonce_spend(st->be, nonce, len, expires);
}

anvil_err
store_nonce_spend_txn(struct store_txn *txn, const unsigned char *nonce,
    size_t len, time_t expires)
{
	if (!TXN_OK(txn))
		return ANVIL_ERR_INVALID;
	return txn->ops->nonce_spend_txn(txn->be, nonce, len, expires);
}

int64_t
store_nonce_floor(struct store *st)
{
	return st != NULL ? st->ops->nonce_floor(st->be) : 0;
}

anvil_err
store_nonce_purge(struct store *st, time_t now, size_t *purged)
{
	if (st == NULL)
		return ANVIL_ERR_INVALID;
	return st->ops->nonce_purge(st->be, now, purged);
}

anvil_err
store_backup(struct store *st, const char *dir, char *err, size_t errlen)
{
	if (st == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_backup: no store or folder");
	return st->ops->backup(st->be, dir, err, errlen);
}

anvil_err
store_verify(struct store *st, char *err, size_t errlen)
{
	if (st == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_verify: no store");
	return st->ops->verify(st->be, err, errlen);
}

void
store_set_progress(struct store *st, struct progress *p)
{
	if (st != NULL)
		st->ops->set_progress(st->be, p);
}
