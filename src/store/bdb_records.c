/*
 * bdb_records.c - the records of the Berkeley DB store and their indexes:
 * store_get, store_put, store_del, the lists, walks, counters and spent
 * nonces of store.h.
 *
 * DESCRIPTION
 *	Each record kind is one btree file keyed by id holding compact JSON
 *	with a record version ("v"); index files map a thumbprint to its
 *	account, an account to its orders, authorizations and certificates
 *	(sorted duplicates), an account and identifier to its
 *	authorizations, and list the revoked certificates. A write updates
 *	the record and its index entries in the caller's transaction, so they
 *	never disagree; bdb_idx_extract says what a record contributes, for a
 *	write and for store_verify (bdb_backup.c) alike. Counters are 8 bytes
 *	big-endian; a spent nonce maps to its expiry, purged in batches of
 *	their own transactions.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <db.h>
#include <jansson.h>

#include "core/error.h"
#include "core/log.h"
#include "store/bdb_int.h"
#include "store/store.h"

#define PURGE_BATCH	1000		/* nonces deleted per transaction */
#define PURGE_VISIT	10000		/* nonces looked at per transaction */

/* ------------------------------------------------------------ small helpers */

static void
be64_put(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t
be64_get(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static anvil_err
rec_read(struct store_txn *t, enum store_kind kind, const char *id,
    u_int32_t flags, json_t **out)
{
	const void *data = NULL;
	size_t len = 0;
	anvil_err rc;

	*out = NULL;
	rc = bdb_raw_get(t, (enum dbi)kind, id, strlen(id), flags, &data, &len);
	if (rc == ANVIL_ERR_NOTFOUND)
		return bdb_fail(t->st, rc, "%s: no record %s",
		    bdb_desc[kind].file, id);
	if (rc != ANVIL_OK)
		return rc;
	return rec_parse(REC_MSG(t->st), bdb_desc[kind].file, id, data, len,
	    out);
}

/* ------------------------------------------------------------ indexes */

enum dbi
bdb_acct_index(enum store_kind kind)
{
	switch (kind) {
	case STORE_ORDER:
		return DBI_ACCT_ORDERS;
	case STORE_AUTHZ:
		return DBI_ACCT_AUTHZ;
	case STORE_CERT:
		return DBI_ACCT_CERTS;
	default:
		return DBI__MAX;
	}
}

/* Removes the index entries ix of record id. */
static anvil_err
idx_remove(struct store_txn *t, enum store_kind kind, const char *id,
    const struct rec_idx *ix)
{
	const void *data = NULL;
	size_t len = 0, idlen = strlen(id);
	anvil_err rc = ANVIL_OK;

	if (ix->thumb != NULL) {
		rc = bdb_raw_get(t, DBI_THUMBPRINT, ix->thumb,
		    strlen(ix->thumb), DB_RMW, &data, &len);
		if (rc == ANVIL_OK && len == idlen &&
		    memcmp(data, id, idlen) == 0)
			rc = bdb_raw_del(t, DBI_THUMBPRINT, ix->thumb,
			    strlen(ix->thumb));
		if (rc == ANVIL_ERR_NOTFOUND)
			rc = ANVIL_OK;
		if (rc != ANVIL_OK)
			return rc;
	}
	if (ix->account != NULL && bdb_acct_index(kind) != DBI__MAX) {
		rc = bdb_dup_del(t, bdb_acct_index(kind), ix->account,
		    strlen(ix->account), id, idlen);
		if (rc != ANVIL_OK)
			return rc;
	}
	if (ix->ident != NULL) {
		rc = bdb_dup_del(t, DBI_ACCT_IDENT, ix->ident, ix->identlen, id,
		    idlen);
		if (rc != ANVIL_OK)
			return rc;
	}
	if (ix->revoked) {
		rc = bdb_raw_del(t, DBI_REVOKED, id, idlen);
		if (rc == ANVIL_ERR_NOTFOUND)
			rc = ANVIL_OK;
	}
	return rc;
}

static anvil_err
idx_add(struct store_txn *t, enum store_kind kind, const char *id,
    const struct rec_idx *ix)
{
	size_t idlen = strlen(id);
	anvil_err rc = ANVIL_OK;

	if (ix->thumb != NULL) {
		rc = bdb_raw_put(t, DBI_THUMBPRINT, ix->thumb,
		    strlen(ix->thumb), id, idlen, 0);
		if (rc != ANVIL_OK)
			return rc;
	}
	if (ix->account != NULL && bdb_acct_index(kind) != DBI__MAX) {
		rc = bdb_dup_add(t, bdb_acct_index(kind), ix->account,
		    strlen(ix->account), id, idlen);
		if (rc != ANVIL_OK)
			return rc;
	}
	if (ix->ident != NULL) {
		rc = bdb_dup_add(t, DBI_ACCT_IDENT, ix->ident, ix->identlen, id,
		    idlen);
		if (rc != ANVIL_OK)
			return rc;
	}
	if (ix->revoked)
		rc = bdb_raw_put(t, DBI_REVOKED, id, idlen, "1", 1, 0);
	return rc;
}

/* ------------------------------------------------------------ records */

anvil_err
store_get(struct store_txn *txn, enum store_kind kind, const char *id,
    json_t **out)
{
	anvil_err rc;

	if ((rc = bdb_txn_usable(txn)) != ANVIL_OK ||
	    (rc = rec_get_args(REC_MSG(txn->st), kind, id, out)) != ANVIL_OK)
		return rc;
	return rec_read(txn, kind, id, 0, out);
}

anvil_err
store_put(struct store_txn *txn, enum store_kind kind, const char *id,
    json_t *rec, unsigned flags)
{
	struct store *st = NULL;
	struct rec_idx nix, oix;
	json_t *old = NULL;
	char *text = NULL;
	const void *data = NULL;
	size_t len = 0, dlen = 0;
	anvil_err rc;

	memset(&nix, 0, sizeof(nix));
	memset(&oix, 0, sizeof(oix));
	if ((rc = bdb_txn_usable(txn)) != ANVIL_OK)
		return rc;
	st = txn->st;
	if ((rc = rec_put_prepare(REC_MSG(st), kind, id, rec, &nix, &text,
	    &len)) != ANVIL_OK)
		goto out;

	/* The old record, write-locked now rather than upgraded later. */
	rc = rec_read(txn, kind, id, DB_RMW, &old);
	if (rc == ANVIL_OK) {
		if (flags & STORE_PUT_NEW) {
			rc = bdb_fail(st, ANVIL_ERR_EXISTS,
			    "%s: record %s exists", bdb_desc[kind].file, id);
			goto out;
		}
		if ((rc = rec_idx_extract(REC_MSG(st), kind, old, &oix,
		    ANVIL_ERR_CORRUPT)) != ANVIL_OK)
			goto out;
	} else if (rc != ANVIL_ERR_NOTFOUND)
		goto out;

	if (nix.thumb != NULL) {
		rc = bdb_raw_get(txn, DBI_THUMBPRINT, nix.thumb,
		    strlen(nix.thumb), DB_RMW, &data, &dlen);
		if (rc == ANVIL_OK && (dlen != strlen(id) ||
		    memcmp(data, id, dlen) != 0)) {
			rc = bdb_fail(st, ANVIL_ERR_EXISTS,
			    "thumbprint belongs to another account");
			goto out;
		}
		if (rc != ANVIL_OK && rc != ANVIL_ERR_NOTFOUND)
			goto out;
	}
	if (old != NULL && (rc = idx_remove(txn, kind, id, &oix)) != ANVIL_OK)
		goto out;
	rc = bdb_raw_put(txn, (enum dbi)kind, id, strlen(id), text, len,
	    (flags & STORE_PUT_NEW) ? DB_NOOVERWRITE : 0);
	if (rc == ANVIL_ERR_EXISTS)
		bdb_fail(st, rc, "%s: record %s exists", bdb_desc[kind].file,
		    id);
	if (rc != ANVIL_OK)
		goto out;
	rc = idx_add(txn, kind, id, &nix);
out:
	rec_idx_clear(&nix);
	rec_idx_clear(&oix);
	json_decref(old);
	free(text);
	return rc;
}

anvil_err
store_del(struct store_txn *txn, enum store_kind kind, const char *id)
{
	struct rec_idx oix;
	json_t *old = NULL;
	anvil_err rc;

	memset(&oix, 0, sizeof(oix));
	if ((rc = bdb_txn_usable(txn)) != ANVIL_OK ||
	    (rc = rec_del_args(REC_MSG(txn->st), kind, id)) != ANVIL_OK)
		return rc;
	if ((rc = rec_read(txn, kind, id, DB_RMW, &old)) != ANVIL_OK)
		goto out;
	if ((rc = rec_idx_extract(REC_MSG(txn->st), kind, old, &oix,
	    ANVIL_ERR_CORRUPT)) != ANVIL_OK)
		goto out;
	if ((rc = idx_remove(txn, kind, id, &oix)) != ANVIL_OK)
		goto out;
	rc = bdb_raw_del(txn, (enum dbi)kind, id, strlen(id));
out:
	rec_idx_clear(&oix);
	json_decref(old);
	return rc;
}

anvil_err
store_account_by_thumbprint(struct store_txn *txn, const char *thumbprint,
    char **id)
{
	const void *data = NULL;
	size_t len = 0;
	char *s = NULL;
	anvil_err rc;

	if ((rc = bdb_txn_usable(txn)) != ANVIL_OK ||
	    (rc = rec_thumb_args(REC_MSG(txn->st), thumbprint, id)) !=
	    ANVIL_OK)
		return rc;
	rc = bdb_raw_get(txn, DBI_THUMBPRINT, thumbprint, strlen(thumbprint), 0,
	    &data, &len);
	if (rc == ANVIL_ERR_NOTFOUND)
		return bdb_fail(txn->st, rc, "no account has this thumbprint");
	if (rc != ANVIL_OK)
		return rc;
	if (!rec_idn_ok(data, len, ID_MAX))
		return bdb_fail(txn->st, ANVIL_ERR_CORRUPT, "%s: damaged entry",
		    bdb_desc[DBI_THUMBPRINT].file);
	if ((s = malloc(len + 1)) == NULL)
		return ANVIL_ERR_NOMEM;
	memcpy(s, data, len);
	s[len] = '\0';
	*id = s;
	return ANVIL_OK;
}

/* ------------------------------------------------------------ lists */

/*
 * The sorted duplicates of key in index i, after `after` (exclusive; NULL:
 * from the first), at most limit of them.
 */
static anvil_err
dup_list(struct store_txn *t, enum dbi i, const void *key, size_t klen,
    const char *after, size_t limit, char ***ids, size_t *n)
{
	DBC *c = NULL;
	DBT k, d;
	char **v = NULL, **nv = NULL;
	size_t cnt = 0, cap = 0, alen = after != NULL ? strlen(after) : 0;
	int ret, first = 1;
	anvil_err rc = ANVIL_OK;

	*ids = NULL;
	*n = 0;
	if (limit == 0)
		return ANVIL_OK;
	if ((rc = bdb_cur_open(t, i, 0, &c)) != ANVIL_OK)
		return rc;
	bdb_dbt_set(&k, key, klen);
	bdb_dbt_set(&d, after, alen);
	ret = c->get(c, &k, &d, after != NULL ? DB_GET_BOTH_RANGE : DB_SET);
	bdb_wd_tick();
	while (cnt < limit) {
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = bdb_sort(t->st, t, "DBC->get", bdb_desc[i].file,
			    ret);
			goto out;
		}
		if (!rec_idn_ok(d.data, d.size, ID_MAX)) {
			rc = bdb_fail(t->st, ANVIL_ERR_CORRUPT, "%s: damaged "
			    "entry", bdb_desc[i].file);
			goto out;
		}
		if (!(first && after != NULL && d.size == alen &&
		    memcmp(d.data, after, alen) == 0)) {
			if (cnt == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				nv = realloc(v, cap * sizeof(*v));
				if (nv == NULL) {
					rc = ANVIL_ERR_NOMEM;
					goto out;
				}
				v = nv;
			}
			if ((v[cnt] = malloc(d.size + 1)) == NULL) {
				rc = ANVIL_ERR_NOMEM;
				goto out;
			}
			memcpy(v[cnt], d.data, d.size);
			v[cnt][d.size] = '\0';
			cnt++;
		}
		first = 0;
		bdb_dbt_set(&d, NULL, 0);
		ret = c->get(c, &k, &d, DB_NEXT_DUP);
		bdb_wd_tick();
	}
	*ids = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
out:
	store_ids_free(v, cnt);
	return bdb_cur_close(t, i, c, rc);
}

anvil_err
store_list_by_account(struct store_txn *txn, enum store_kind kind,
    const char *account, const char *after, size_t limit, char ***ids,
    size_t *n)
{
	anvil_err rc;

	if ((rc = bdb_txn_usable(txn)) != ANVIL_OK ||
	    (rc = rec_list_args(REC_MSG(txn->st), kind, account, after, ids,
	    n)) != ANVIL_OK)
		return rc;
	return dup_list(txn, bdb_acct_index(kind), account, strlen(account),
	    after, limit, ids, n);
}

anvil_err
store_authz_by_identifier(struct store_txn *txn, const char *account,
    const char *type, const char *value, char ***ids, size_t *n)
{
	char *key = NULL;
	size_t vlen = 0, klen = 0;
	anvil_err rc;

	if ((rc = bdb_txn_usable(txn)) != ANVIL_OK ||
	    (rc = rec_ident_args(REC_MSG(txn->st), account, type, value, ids, n,
	    &vlen)) != ANVIL_OK)
		return rc;
	if ((rc = rec_ident_key(account, type, value, vlen, &key, &klen)) !=
	    ANVIL_OK)
		return rc;
	rc = dup_list(txn, DBI_ACCT_IDENT, key, klen, NULL, SIZE_MAX, ids, n);
	free(key);
	return rc;
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

/* ------------------------------------------------------------ walks */

/*
 * Walks database i. For record databases each value is the record; for
 * the revoked index the record is read from certs.db.
 */
static anvil_err
walk(struct store_txn *t, enum dbi i, store_each_fn fn, void *arg)
{
	DBC *c = NULL;
	DBT k, d;
	json_t *rec = NULL;
	char id[ID_MAX + 1];
	int ret;
	anvil_err rc = ANVIL_OK;

	if ((rc = bdb_cur_open(t, i, 0, &c)) != ANVIL_OK)
		return rc;
	for (;;) {
		bdb_dbt_set(&k, NULL, 0);
		bdb_dbt_set(&d, NULL, 0);
		ret = c->get(c, &k, &d, DB_NEXT);
		bdb_wd_tick();
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = bdb_sort(t->st, t, "DBC->get", bdb_desc[i].file,
			    ret);
			goto out;
		}
		if (!rec_idn_ok(k.data, k.size, ID_MAX)) {
			rc = bdb_fail(t->st, ANVIL_ERR_CORRUPT,
			    "%s: damaged key", bdb_desc[i].file);
			goto out;
		}
		memcpy(id, k.data, k.size);
		id[k.size] = '\0';
		if (i == DBI_REVOKED) {
			rc = rec_read(t, STORE_CERT, id, 0, &rec);
			if (rc == ANVIL_ERR_NOTFOUND) {
				rc = bdb_fail(t->st, ANVIL_ERR_CORRUPT, "%s: "
				    "certificate %s is missing",
				    bdb_desc[i].file, id);
				log_err("store: %s", t->st->msg);
			}
		} else
			rc = rec_parse(REC_MSG(t->st), bdb_desc[i].file, id,
			    d.data, d.size, &rec);
		if (rc != ANVIL_OK)
			goto out;
		if ((rc = rec_each_call(fn, id, &rec, arg)) != ANVIL_OK)
			goto out;
	}
out:
	json_decref(rec);
	return bdb_cur_close(t, i, c, rc);
}

anvil_err
store_each(struct store_txn *txn, enum store_kind kind, store_each_fn fn,
    void *arg)
{
	anvil_err rc;

	if ((rc = bdb_txn_usable(txn)) != ANVIL_OK ||
	    (rc = rec_each_args(REC_MSG(txn->st), "store_each", kind, fn)) !=
	    ANVIL_OK)
		return rc;
	return walk(txn, (enum dbi)kind, fn, arg);
}

anvil_err
store_revoked_each(struct store_txn *txn, store_each_fn fn, void *arg)
{
	anvil_err rc;

	if ((rc = bdb_txn_usable(txn)) != ANVIL_OK ||
	    (rc = rec_each_args(REC_MSG(txn->st), "store_revoked_each",
	    STORE_CERT, fn)) != ANVIL_OK)
		return rc;
	return walk(txn, DBI_REVOKED, fn, arg);
}

/* ------------------------------------------------------------ counters */

static anvil_err
counter_read(struct store_txn *t, const char *name, u_int32_t flags,
    uint64_t *val)
{
	const void *data = NULL;
	size_t len = 0;
	anvil_err rc;

	*val = 0;
	rc = bdb_raw_get(t, DBI_COUNTERS, name, strlen(name), flags, &data,
	    &len);
	if (rc == ANVIL_ERR_NOTFOUND)
		return ANVIL_OK;
	if (rc != ANVIL_OK)
		return rc;
	if (len != 8)
		return bdb_fail(t->st, ANVIL_ERR_CORRUPT,
		    "%s: counter %s has %zu bytes",
		    bdb_desc[DBI_COUNTERS].file, name, len);
	*val = be64_get(data);
	return ANVIL_OK;
}

anvil_err
store_counter_next(struct store_txn *txn, const char *name, uint64_t *val)
{
	unsigned char buf[8];
	uint64_t v = 0;
	anvil_err rc;

	if ((rc = bdb_txn_usable(txn)) != ANVIL_OK ||
	    (rc = rec_counter_args(REC_MSG(txn->st), name, val)) != ANVIL_OK)
		return rc;
	if ((rc = counter_read(txn, name, DB_RMW, &v)) != ANVIL_OK)
		return rc;
	if (v == UINT64_MAX)
		return bdb_fail(txn->st, ANVIL_ERR_INVALID,
		    "counter %s is at its maximum", name);
	v++;
	be64_put(buf, v);
	if ((rc = bdb_raw_put(txn, DBI_COUNTERS, name, strlen(name), buf,
	    sizeof(buf), 0)) != ANVIL_OK)
		return rc;
	*val = v;
	return ANVIL_OK;
}

anvil_err
store_counter_get(struct store_txn *txn, const char *name, uint64_t *val)
{
	anvil_err rc;

	if ((rc = bdb_txn_usable(txn)) != ANVIL_OK ||
	    (rc = rec_counter_args(REC_MSG(txn->st), name, val)) != ANVIL_OK)
		return rc;
	return counter_read(txn, name, 0, val);
}

/* ------------------------------------------------------------ nonces */

struct nonce_arg {
	const unsigned char *nonce;
	size_t len;
	time_t expires;
};

static anvil_err
nonce_spend_fn(struct store_txn *t, void *arg)
{
	struct nonce_arg *na = arg;
	unsigned char buf[8];

	be64_put(buf, (uint64_t)na->expires);
	return bdb_raw_put(t, DBI_NONCES, na->nonce, na->len, buf, sizeof(buf),
	    DB_NOOVERWRITE);
}

anvil_err
store_nonce_spend_txn(struct store_txn *txn, const unsigned char *nonce,
    size_t len, time_t expires)
{
	struct nonce_arg na;

	if (txn == NULL || nonce == NULL || len == 0 || len > NONCE_MAX)
		return ANVIL_ERR_INVALID;
	na.nonce = nonce;
	na.len = len;
	na.expires = expires;
	return nonce_spend_fn(txn, &na);
}

anvil_err
store_nonce_spend(struct store *st, const unsigned char *nonce, size_t len,
    time_t expires)
{
	struct nonce_arg na;
	char err[256] = "";
	anvil_err rc;

	if (st == NULL || nonce == NULL || len == 0 || len > NONCE_MAX)
		return ANVIL_ERR_INVALID;
	na.nonce = nonce;
	na.len = len;
	na.expires = expires;
	rc = store_run(st, STORE_TXN_NOSYNC, nonce_spend_fn, &na, err,
	    sizeof(err));
	if (rc != ANVIL_OK && rc != ANVIL_ERR_EXISTS)
		log_err("store_nonce_spend: %s", err);
	return rc;
}

struct purge_arg {
	time_t now;
	unsigned char from[NONCE_MAX];	/* resume after this key ... */
	size_t fromlen;			/* ... (0: from the start) */
	unsigned char last[NONCE_MAX];	/* last key this batch visited */
	size_t lastlen;
	size_t deleted;			/* by this batch */
	size_t visited;
	int more;			/* batch stopped early */
};

static anvil_err
nonce_purge_fn(struct store_txn *t, void *arg)
{
	struct purge_arg *pa = arg;
	DBC *c = NULL;
	DBT k, d;
	u_int32_t op = DB_FIRST;
	int ret, expired;
	anvil_err rc = ANVIL_OK;

	pa->deleted = 0;
	pa->visited = 0;
	pa->more = 0;
	pa->lastlen = 0;
	if ((rc = bdb_cur_open(t, DBI_NONCES, DB_READ_COMMITTED, &c)) !=
	    ANVIL_OK)
		return rc;
	bdb_dbt_set(&k, NULL, 0);
	if (pa->fromlen > 0) {
		bdb_dbt_set(&k, pa->from, pa->fromlen);
		op = DB_SET_RANGE;
	}
	for (;;) {
		bdb_dbt_set(&d, NULL, 0);
		/* Read-committed cursor: only pages it deletes from stay
		 * locked, so spending goes on while a purge walks. */
		ret = c->get(c, &k, &d, op);
		bdb_wd_tick();
		op = DB_NEXT;
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = bdb_sort(t->st, t, "DBC->get",
			    bdb_desc[DBI_NONCES].file, ret);
			goto out;
		}
		if (k.size == 0 || k.size > NONCE_MAX) {
			/* Junk in a table of ephemeral entries: drop it. */
			log_warn("store: %s: dropping a %u-byte key",
			    bdb_desc[DBI_NONCES].file, (unsigned)k.size);
			expired = 1;
		} else {
			memcpy(pa->last, k.data, k.size);
			pa->lastlen = k.size;
			expired = d.size != 8 ||
			    (int64_t)be64_get(d.data) < (int64_t)pa->now;
		}
		if (expired) {
			t->st->dirty = 1;
			ret = c->del(c, 0);
			if (ret != 0) {
				rc = bdb_sort(t->st, t, "DBC->del",
				    bdb_desc[DBI_NONCES].file, ret);
				goto out;
			}
			pa->deleted++;
		}
		if (pa->deleted >= PURGE_BATCH ||
		    ++pa->visited >= PURGE_VISIT) {
			pa->more = 1;
			break;
		}
		bdb_dbt_set(&k, NULL, 0);
	}
out:
	return bdb_cur_close(t, DBI_NONCES, c, rc);
}

anvil_err
store_nonce_purge(struct store *st, time_t now, size_t *purged)
{
	struct purge_arg pa;
	char err[256] = "";
	size_t total = 0;
	anvil_err rc = ANVIL_OK;

	if (purged != NULL)
		*purged = 0;
	if (st == NULL)
		return ANVIL_ERR_INVALID;
	memset(&pa, 0, sizeof(pa));
	pa.now = now;
	do {
		rc = store_run(st, STORE_TXN_NOSYNC, nonce_purge_fn, &pa, err,
		    sizeof(err));
		if (rc != ANVIL_OK) {
			log_err("store_nonce_purge: %s", err);
			break;
		}
		total += pa.deleted;
		memcpy(pa.from, pa.last, pa.lastlen);
		pa.fromlen = pa.lastlen;
	} while (pa.more && pa.fromlen > 0);
	if (purged != NULL)
		*purged = total;
	return rc;
}
