/*
 * bdb_txn.c - transactions of the Berkeley DB store: store_run, the sorting
 * of Berkeley DB return codes, and the raw accessors used inside a
 * transaction.
 *
 * DESCRIPTION
 *	Berkeley DB return codes are sorted into anvil_err in one place
 *	(bdb_sort), which also marks the transaction so that store_run()
 *	knows whether to retry it (a lost deadlock), reopen the environment
 *	(a panic: another process recovered) or give up (a damaged file).
 *	store_run() runs the caller's function in a transaction, once per
 *	attempt, inside the recovery fence and under the watchdog
 *	(bdb_guard.c). The raw accessors (get, put, delete, cursors, sorted
 *	duplicates) are the only calls into a database handle that the
 *	record and check code makes; each counts as progress for the
 *	watchdog.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <db.h>
#include <jansson.h>

#include "core/error.h"
#include "core/log.h"
#include "store/bdb_int.h"
#include "store/store.h"

#define TRIES_MAX	50		/* store_run attempts on deadlock */
#define BACKOFF_US	500		/* back-off unit, microseconds */

/* ------------------------------------------------------------ errors */

anvil_err
bdb_fail(struct store *st, anvil_err code, const char *fmt, ...)
{
	va_list ap;

	if (st != NULL) {
		va_start(ap, fmt);
		vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
		va_end(ap);
		st->msg_code = code;
	}
	return code;
}

/*
 * Sorts a Berkeley DB return code into an anvil_err, marks the transaction
 * (if any) so that store_run knows whether to retry, reopen or give up, and
 * logs the failing call by name unless the outcome is an ordinary one.
 */
anvil_err
bdb_sort(struct store *st, struct store_txn *t, const char *call,
    const char *what, int ret)
{
	anvil_err code = ANVIL_ERR_STORE;

	switch (ret) {
	case 0:
		return ANVIL_OK;
	case DB_NOTFOUND:
	case DB_KEYEMPTY:
		return ANVIL_ERR_NOTFOUND;
	case DB_KEYEXIST:
		return ANVIL_ERR_EXISTS;
	case DB_LOCK_DEADLOCK:
	case DB_LOCK_NOTGRANTED:
		if (t != NULL)
			t->deadlock = 1;
		log_debug("%s(%s): %s", call, what, db_strerror(ret));
		return bdb_fail(st, ANVIL_ERR_DEADLOCK, "%s(%s): %s", call,
		    what, db_strerror(ret));
	case DB_RUNRECOVERY:
		if (st != NULL && st->checksum_bad) {
			code = ANVIL_ERR_CORRUPT;
			if (t != NULL)
				t->corrupt = 1;
		} else {
			code = ANVIL_ERR_STORE;
			if (t != NULL)
				t->fatal = 1;
		}
		break;
	case DB_VERIFY_BAD:
	case DB_PAGE_NOTFOUND:
	case DB_CHKSUM_FAIL:
		code = ANVIL_ERR_CORRUPT;
		if (t != NULL)
			t->corrupt = 1;
		break;
	case ENOMEM:
		code = ANVIL_ERR_NOMEM;
		break;
	default:
		code = ANVIL_ERR_STORE;
		break;
	}
	log_err("%s(%s): %s", call, what, db_strerror(ret));
	return bdb_fail(st, code, "%s(%s): %s%s", call, what, db_strerror(ret),
	    code == ANVIL_ERR_CORRUPT ? " (file damaged)" : "");
}

/* ------------------------------------------------------------ accessors */

/* Entry check of every function that takes a transaction. */
anvil_err
bdb_txn_usable(struct store_txn *t)
{
	if (t == NULL || t->st == NULL || t->txn == NULL)
		return ANVIL_ERR_INVALID;
	if (t->corrupt)
		return ANVIL_ERR_CORRUPT;
	if (t->fatal)
		return ANVIL_ERR_STORE;
	if (t->deadlock)
		return ANVIL_ERR_DEADLOCK;
	return ANVIL_OK;
}

void
bdb_dbt_set(DBT *d, const void *p, size_t n)
{
	memset(d, 0, sizeof(*d));
	d->data = (void *)p;
	d->size = (u_int32_t)n;
}

/*
 * Raw get: *data points into Berkeley DB's memory, valid until the next
 * call on the same handle (the environment is not DB_THREAD).
 */
anvil_err
bdb_raw_get(struct store_txn *t, enum dbi i, const void *key, size_t klen,
    u_int32_t flags, const void **data, size_t *len)
{
	DB *db = t->st->db[i];
	DBT k, d;
	int ret;

	bdb_dbt_set(&k, key, klen);
	bdb_dbt_set(&d, NULL, 0);
	ret = db->get(db, t->txn, &k, &d, flags);
	bdb_wd_tick();
	if (ret != 0)
		return bdb_sort(t->st, t, "DB->get", bdb_desc[i].file, ret);
	*data = d.data;
	*len = d.size;
	return ANVIL_OK;
}

anvil_err
bdb_raw_put(struct store_txn *t, enum dbi i, const void *key, size_t klen,
    const void *data, size_t dlen, u_int32_t flags)
{
	DB *db = t->st->db[i];
	DBT k, d;
	int ret;

	t->st->dirty = 1;
	bdb_dbt_set(&k, key, klen);
	bdb_dbt_set(&d, data, dlen);
	ret = db->put(db, t->txn, &k, &d, flags);
	bdb_wd_tick();
	return ret == 0 ? ANVIL_OK :
	    bdb_sort(t->st, t, "DB->put", bdb_desc[i].file, ret);
}

anvil_err
bdb_raw_del(struct store_txn *t, enum dbi i, const void *key, size_t klen)
{
	DB *db = t->st->db[i];
	DBT k;
	int ret;

	t->st->dirty = 1;
	bdb_dbt_set(&k, key, klen);
	ret = db->del(db, t->txn, &k, 0);
	bdb_wd_tick();
	return ret == 0 ? ANVIL_OK :
	    bdb_sort(t->st, t, "DB->del", bdb_desc[i].file, ret);
}

anvil_err
bdb_cur_open(struct store_txn *t, enum dbi i, u_int32_t flags, DBC **c)
{
	DB *db = t->st->db[i];
	int ret;

	*c = NULL;
	ret = db->cursor(db, t->txn, c, flags);
	return ret == 0 ? ANVIL_OK :
	    bdb_sort(t->st, t, "DB->cursor", bdb_desc[i].file, ret);
}

/* Closes c (if any); keeps rc unless rc is ANVIL_OK and the close failed. */
anvil_err
bdb_cur_close(struct store_txn *t, enum dbi i, DBC *c, anvil_err rc)
{
	int ret;
	anvil_err crc;

	if (c == NULL)
		return rc;
	ret = c->close(c);
	if (ret == 0)
		return rc;
	crc = bdb_sort(t->st, t, "DBC->close", bdb_desc[i].file, ret);
	return rc == ANVIL_OK ? crc : rc;
}

/* Deletes one key/data pair of a sorted-duplicates index; absent is fine. */
anvil_err
bdb_dup_del(struct store_txn *t, enum dbi i, const void *key, size_t klen,
    const void *data, size_t dlen)
{
	DBC *c = NULL;
	DBT k, d;
	int ret;
	anvil_err rc;

	if ((rc = bdb_cur_open(t, i, 0, &c)) != ANVIL_OK)
		return rc;
	bdb_dbt_set(&k, key, klen);
	bdb_dbt_set(&d, data, dlen);
	ret = c->get(c, &k, &d, DB_GET_BOTH | DB_RMW);
	bdb_wd_tick();
	if (ret == 0) {
		t->st->dirty = 1;
		ret = c->del(c, 0);
	}
	if (ret == 0 || ret == DB_NOTFOUND)
		rc = ANVIL_OK;
	else
		rc = bdb_sort(t->st, t, "DBC->del", bdb_desc[i].file, ret);
	return bdb_cur_close(t, i, c, rc);
}

/* Adds one key/data pair to a sorted-duplicates index; present is fine. */
anvil_err
bdb_dup_add(struct store_txn *t, enum dbi i, const void *key, size_t klen,
    const void *data, size_t dlen)
{
	anvil_err rc;

	rc = bdb_raw_put(t, i, key, klen, data, dlen, DB_NODUPDATA);
	return rc == ANVIL_ERR_EXISTS ? ANVIL_OK : rc;
}

/* ------------------------------------------------------------ transactions */

static void
backoff(struct store *st, int tries)
{
	struct timespec ts;
	uint64_t x = st->rnd, span;

	/* xorshift64: spreads the retries of processes that collided. */
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	st->rnd = x;
	span = (uint64_t)BACKOFF_US << (tries < 6 ? tries : 6);
	x = 50 + x % span;
	ts.tv_sec = (time_t)(x / 1000000);
	ts.tv_nsec = (long)(x % 1000000) * 1000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* One attempt of fn in a transaction; t says what became of it. */
static anvil_err
txn_attempt(struct store *st, unsigned flags, store_fn fn, void *arg,
    struct store_txn *t)
{
	DB_TXN *tx = NULL;
	int ret;
	anvil_err rc;

	ret = st->env->txn_begin(st->env, NULL, &tx,
	    (flags & STORE_TXN_READ_COMMITTED) ? DB_READ_COMMITTED : 0);
	if (ret != 0)
		return bdb_sort(st, t, "DB_ENV->txn_begin", st->home, ret);
	t->txn = tx;
	rc = fn(t, arg);
	if (rc == ANVIL_OK && !t->deadlock && !t->fatal && !t->corrupt) {
		ret = tx->commit(tx, (flags & STORE_TXN_NOSYNC) ?
		    DB_TXN_NOSYNC : 0);
		if (ret != 0)
			rc = bdb_sort(st, t, "DB_TXN->commit", st->home, ret);
	} else {
		ret = tx->abort(tx);
		if (ret != 0)
			(void)bdb_sort(st, t, "DB_TXN->abort", st->home, ret);
	}
	t->txn = NULL;
	return rc;
}

anvil_err
store_run(struct store *st, unsigned flags, store_fn fn, void *arg,
    char *err, size_t errlen)
{
	struct store_txn t;
	int tries = 0, reopened = 0;
	anvil_err rc = ANVIL_ERR_STORE;

	if (st == NULL || fn == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_run: no store or function");
	if (st->pid != bdb_self())
		return errf(err, errlen, ANVIL_ERR_STORE,
		    "store handle used in a forked child; open one there");
	for (;;) {
		memset(&t, 0, sizeof(t));
		t.st = st;
		st->msg[0] = '\0';
		st->msg_code = ANVIL_OK;
		if (st->env == NULL) {
			/* A previous reopen failed: try again. */
			rc = ANVIL_ERR_STORE;
			if (reopened++ >= OPEN_TRIES ||
			    (rc = bdb_env_reopen(st)) != ANVIL_OK)
				break;
			continue;
		}
		bdb_call_enter(st);		/* each attempt */
		rc = txn_attempt(st, flags, fn, arg, &t);
		bdb_call_leave(st);
		if (t.corrupt) {
			rc = ANVIL_ERR_CORRUPT;
			break;
		}
		if (t.fatal) {
			/*
			 * Recovered under us. Another death may be recovered
			 * between the reopen and the next attempt (a crash
			 * that kills several workers): reopen again, a few
			 * times; each recovery needs a new death.
			 */
			rc = ANVIL_ERR_STORE;
			if (reopened++ >= OPEN_TRIES ||
			    (rc = bdb_env_reopen(st)) != ANVIL_OK)
				break;
			continue;
		}
		if (t.deadlock || rc == ANVIL_ERR_DEADLOCK) {
			rc = ANVIL_ERR_DEADLOCK;
			if (++tries >= TRIES_MAX) {
				bdb_fail(st, rc, "gave up after %d deadlocks",
				    tries);
				log_err("store: %s", st->msg);
				break;
			}
			backoff(st, tries);
			continue;
		}
		break;
	}
	if (rc == ANVIL_OK && st->dirty) {
		/*
		 * Bounds recovery time and lets old logs go: store_maintain,
		 * after the reply is out. Asking costs a scan of the log
		 * (DB_LOG_AUTO_REMOVE) even when nothing is due (8.6 % of the
		 * server's CPU in bench/), so a process asks only after it
		 * wrote, every 64 commits or once a minute. Durability does
		 * not depend on it: commits sync the log.
		 */
		time_t now = time(NULL);
		if (++st->commits >= 64 || now - st->last_ckp >= 60)
			st->ckp_due = 1;
	}
	if (rc != ANVIL_OK)
		errf(err, errlen, rc, "%s", st->msg[0] != '\0' &&
		    st->msg_code == rc ? st->msg : anvil_strerror(rc));
	return rc;
}
