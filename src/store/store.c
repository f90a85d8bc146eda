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
#include "core/log.h"
#include "store/backend.h"
#include "store/store.h"

struct store {
	const struct store_ops *ops;
	void *be;		/* the backend's handle; NULL only until a
				 * deferred open has run */
	/* STORE_OPEN_DEFER: what the open will take, and how it went. */
	char *data_dir;
	struct store_cfg cfg;	/* its strings are copies */
	unsigned flags;
	anvil_err open_rc;	/* not ANVIL_OK: the open failed */
	char open_err[512];
	int held;		/* store_hold before the open */
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
	if (flags & STORE_OPEN_DEFER) {
		st->flags = flags & ~(unsigned)STORE_OPEN_DEFER;
		if (cfg != NULL)
			st->cfg = *cfg;
		st->cfg.backend = st->cfg.conninfo = NULL;
		if ((data_dir != NULL &&
		    (st->data_dir = strdup(data_dir)) == NULL) ||
		    (cfg != NULL && cfg->backend != NULL &&
		    (st->cfg.backend = strdup(cfg->backend)) == NULL) ||
		    (cfg != NULL && cfg->conninfo != NULL &&
		    (st->cfg.conninfo = strdup(cfg->conninfo)) == NULL)) {
			store_close(st);
			return errf(err, errlen, ANVIL_ERR_NOMEM,
			    "out of memory");
		}
		*out = st;
		return ANVIL_OK;
	}
	if ((rc = ops->open(data_dir, cfg, flags, &st->be, err, errlen)) !=
	    ANVIL_OK) {
		free(st);
		return rc;
	}
	*out = st;
	return ANVIL_OK;
}

/*
 * The backend, opened now if the open was deferred. A failed open is not
 * tried again: each later call gets its error (a CGI request is one
 * process, and a database that did not answer would cost its timeout
 * again).
 */
static anvil_err
need(struct store *st, char *err, size_t errlen)
{
	anvil_err rc;

	if (st->be != NULL)
		return ANVIL_OK;
	if (st->open_rc != ANVIL_OK)
		return errf(err, errlen, st->open_rc, "%s", st->open_err);
	rc = st->ops->open(st->data_dir, &st->cfg, st->flags, &st->be,
	    st->open_err, sizeof(st->open_err));
	if (rc != ANVIL_OK) {
		st->be = NULL;
		st->open_rc = rc;
		log_err("opening the store: %s", st->open_err);
		return errf(err, errlen, rc, "%s", st->open_err);
	}
	if (st->held)
		st->ops->hold(st->be);
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
	if (st != NULL && need((struct store *)st, NULL, 0) == ANVIL_OK)
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
	if (st->be != NULL)
		st->ops->close(st->be);
	free(st->data_dir);
	free((char *)st->cfg.backend);
	free((char *)st->cfg.conninfo);
	free(st);
}

void
store_maintain(struct store *st)
{
	/* A deferred store never opened has nothing due. */
	if (st != NULL && st->be != NULL)
		st->ops->maintain(st->be);
}

void
store_hold(struct store *st)
{
	if (st == NULL)
		return;
	if (st->be != NULL)
		st->ops->hold(st->be);
	else
		st->held = 1;
}

void
store_idle(struct store *st)
{
	if (st == NULL)
		return;
	st->held = 0;
	if (st->be != NULL)
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
	anvil_err rc;

	if (st == NULL || fn == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_run: no store or function");
	if ((rc = need(st, err, errlen)) != ANVIL_OK)
		return rc;
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
	anvil_err rc;

	if (st == NULL)
		return ANVIL_ERR_INVALID;
	if ((rc = need(st, NULL, 0)) != ANVIL_OK)
		return rc;
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
	int64_t v;

	if (st == NULL)
		return 0;
	if (st->be == NULL && st->open_rc == ANVIL_OK &&
	    st->ops->nonce_floor_peek != NULL &&
	    (v = st->ops->nonce_floor_peek(st->data_dir)) >= 0)
		return v;
	if (need(st, NULL, 0) != ANVIL_OK)
		return 0;
	return st->ops->nonce_floor(st->be);
}

anvil_err
store_nonce_purge(struct store *st, time_t now, size_t *purged)
{
	anvil_err rc;

	if (st == NULL)
		return ANVIL_ERR_INVALID;
	if ((rc = need(st, NULL, 0)) != ANVIL_OK)
		return rc;
	return st->ops->nonce_purge(st->be, now, purged);
}

anvil_err
store_backup(struct store *st, const char *dir, char *err, size_t errlen)
{
	anvil_err rc;

	if (st == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_backup: no store or folder");
	if ((rc = need(st, err, errlen)) != ANVIL_OK)
		return rc;
	return st->ops->backup(st->be, dir, err, errlen);
}

anvil_err
store_verify(struct store *st, char *err, size_t errlen)
{
	anvil_err rc;

	if (st == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_verify: no store");
	if ((rc = need(st, err, errlen)) != ANVIL_OK)
		return rc;
	return st->ops->verify(st->be, err, errlen);
}

void
store_set_progress(struct store *st, struct progress *p)
{
	if (st != NULL && need(st, NULL, 0) == ANVIL_OK)
		st->ops->set_progress(st->be, p);
}
