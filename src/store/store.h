/*
 * store.h - the one interface to Anvil's records.
 *
 * Handlers, tools and tests see only this header. It states the contract
 * every implementation keeps; no implementation's types, flags or files
 * show through it, so that a second one can sit beside the first
 * (src/store/bdb_int.h lists its files) behind the same functions.
 *
 * Records are jansson JSON objects. store_put() stamps each with a "v"
 * member (STORE_RECORD_VERSION); store_get() refuses a record without one
 * (ANVIL_ERR_CORRUPT) or from a newer version (ANVIL_ERR_VERSION).
 *
 * Every read and write happens inside a transaction run by store_run(),
 * which retries the whole function when the transaction lost a conflict
 * with another one (ANVIL_ERR_DEADLOCK). Many processes may use one store
 * at once.
 */
#ifndef ANVIL_STORE_STORE_H
#define ANVIL_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "core/error.h"

#define STORE_RECORD_VERSION 1	/* "v" written into every record */
#define STORE_FORMAT_VERSION 1	/* layout of the store's files */

struct store;
struct store_txn;

enum store_kind {
	STORE_ACCOUNT = 0,	/* id -> account; index: "thumbprint" (unique) */
	STORE_ORDER,		/* id -> order; index: "account" */
	STORE_AUTHZ,		/* id -> authorization; index: "account" and
				 * ("account", "identifier" {type, value}) */
	STORE_CHALLENGE,	/* id -> challenge */
	STORE_CERT,		/* serial (lower-case hex) -> certificate;
				 * index: "account"; revoked index: records
				 * with a "revoked" object member */
	STORE_EAB,		/* External Account Binding key id -> key */
	STORE_POLICY,		/* "global" or "eab:<kid>" -> name policy */
	STORE_VALQ,		/* challenge id -> queued validation (one
				 * entry while the challenge waits for or
				 * undergoes validation; src/acme/runner.c) */
	STORE_KIND__MAX
};

/* store_open() flags */
#define STORE_OPEN_CREATE 0x1	/* create the store if data_dir has none */
#define STORE_OPEN_MIGRATE 0x2	/* PostgreSQL: create the schema or bring it
				 * to this Anvil's version (anvil-admin init,
				 * db migrate); without it a missing schema is
				 * ANVIL_ERR_NOTFOUND and an older one
				 * ANVIL_ERR_VERSION. Berkeley DB: no effect */
#define STORE_OPEN_DEFER 0x4	/* open at the first call that needs the
				 * backend, not now: a CGI request that
				 * touches no record (GET directory, HEAD
				 * newNonce) then costs no environment join
				 * (bench/README.md "cgi.sh"). A failed open
				 * is reported by that call, and by every
				 * later one; store_nonce_floor reads the
				 * floor without opening where the backend
				 * can (Berkeley DB's nonce.floor file) */

/*
 * Opens (and with STORE_OPEN_CREATE creates) the store of data_dir, kept in
 * data_dir/store. When a process died inside a transaction, the store is
 * brought back to its last commits first, so that no process sees half of
 * one. Without STORE_OPEN_CREATE a data_dir with no store is
 * ANVIL_ERR_NOTFOUND. A damaged or foreign file is ANVIL_ERR_CORRUPT and a
 * store written by a newer Anvil ANVIL_ERR_VERSION, each with the file named
 * in err. Caller owns *out (store_close).
 */
anvil_err store_open(const char *data_dir, unsigned flags, struct store **out,
    char *err, size_t errlen);

/*
 * Which backend store_open_cfg opens: Berkeley DB files under data_dir
 * (the default) or a PostgreSQL database that several hosts share
 * (README "Growing past one machine").
 */
#define STORE_BACKEND_BDB	"bdb"
#define STORE_BACKEND_PG	"postgresql"
#define STORE_CONNECT_TIMEOUT	5	/* seconds, when cfg gives none */

struct store_cfg {
	const char *backend;	/* STORE_BACKEND_*; NULL: bdb */
	const char *conninfo;	/* libpq connection string (postgresql) */
	unsigned connect_timeout; /* seconds; 0: STORE_CONNECT_TIMEOUT */
};

/*
 * store_open with the backend of cfg (borrowed; NULL: bdb), otherwise as
 * store_open. A backend this build does not have is ANVIL_ERR_CONFIG,
 * named in err, and nothing is created.
 */
anvil_err store_open_cfg(const char *data_dir, const struct store_cfg *cfg,
    unsigned flags, struct store **out, char *err, size_t errlen);

/* STORE_BACKEND_BDB or STORE_BACKEND_PG (static); NULL for NULL. */
const char *store_backend(const struct store *st);

/*
 * store_open_cfg with the [store] section of cfg (src/core/conf.h) and its
 * data_dir.
 */
struct anvil_config;
anvil_err store_open_conf(const struct anvil_config *cfg, unsigned flags,
    struct store **out, char *err, size_t errlen);

/*
 * The schema version the store had when it was opened (*was) and has now
 * (*now): they differ after a STORE_OPEN_MIGRATE that upgraded it.
 * Berkeley DB gives STORE_FORMAT_VERSION for both.
 */
void store_schema(const struct store *st, int *was, int *now);

/* Closes the store; NULL is a no-op. */
void store_close(struct store *st);

/*
 * Housekeeping a long-lived process does between requests, once its reply
 * is out: work the store put off so that no request waits for it (nothing
 * when none is due). store_close does the same.
 */
void store_maintain(struct store *st);

/*
 * store_hold() and store_idle() bracket the store calls of one request:
 * between them the store may keep what each call would otherwise take and
 * give back, until store_idle(). A recovery in another process may wait
 * for the span to end, so a span must not wait on anything but store
 * calls: no validation, no network. NULL is a no-op.
 */
void store_hold(struct store *st);
void store_idle(struct store *st);

/* store_run() flags */
#define STORE_TXN_NOSYNC 0x1	/* commit without waiting for the disk: only
				 * for records whose loss is harmless */
#define STORE_TXN_READ_COMMITTED 0x2	/* each read sees committed data
				 * and lets go of it when the walk moves on,
				 * so a walk of every record holds a page's
				 * locks, not the store's: for listings and
				 * reports, never for a read that a write in
				 * the same transaction depends on */

typedef anvil_err (*store_fn)(struct store_txn *txn, void *arg);

/*
 * Begins a transaction, calls fn(txn, arg), commits if fn returned ANVIL_OK
 * and aborts otherwise. When fn or the commit reports ANVIL_ERR_DEADLOCK
 * (the transaction conflicted with another and lost) the transaction is
 * aborted and fn is called again in a new one (bounded number of tries with
 * a short random back-off), so fn must leave nothing behind outside the
 * transaction that a second call would trip on. Commits are durable
 * (synchronous) unless STORE_TXN_NOSYNC. Returns fn's error, a store error,
 * or ANVIL_OK.
 */
anvil_err store_run(struct store *st, unsigned flags, store_fn fn, void *arg,
    char *err, size_t errlen);

/* store_put() flags */
#define STORE_PUT_NEW 0x1	/* fail with ANVIL_ERR_EXISTS if id exists */

/*
 * Reads record id of kind into *out (new reference, caller json_decref).
 * ANVIL_ERR_NOTFOUND if absent.
 */
anvil_err store_get(struct store_txn *txn, enum store_kind kind,
    const char *id, json_t **out);

/*
 * Writes rec (borrowed; a "v" member is set on it) under id and updates the
 * kind's indexes in the same transaction. For STORE_ACCOUNT a "thumbprint"
 * already held by another account is ANVIL_ERR_EXISTS. ids are 1..128
 * printable ASCII characters, else ANVIL_ERR_INVALID.
 */
anvil_err store_put(struct store_txn *txn, enum store_kind kind,
    const char *id, json_t *rec, unsigned flags);

/* Deletes record id and its index entries. ANVIL_ERR_NOTFOUND if absent. */
anvil_err store_del(struct store_txn *txn, enum store_kind kind,
    const char *id);

/* Looks up the account holding a JWK thumbprint; *id is new (free). */
anvil_err store_account_by_thumbprint(struct store_txn *txn,
    const char *thumbprint, char **id);

/*
 * Lists ids of kind (STORE_ORDER, STORE_AUTHZ or STORE_CERT) belonging to
 * account, in ascending id order, starting after `after` (NULL: from the
 * start), at most limit of them. *ids is a new array of new strings (free
 * with store_ids_free), *n its length; an account with none gives n == 0.
 */
anvil_err store_list_by_account(struct store_txn *txn, enum store_kind kind,
    const char *account, const char *after, size_t limit, char ***ids,
    size_t *n);

/*
 * Lists the ids of the authorizations of account for identifier
 * (type "dns" or "ip", value), as store_list_by_account.
 */
anvil_err store_authz_by_identifier(struct store_txn *txn,
    const char *account, const char *type, const char *value, char ***ids,
    size_t *n);

/* Frees an id array from the list functions; NULL is a no-op. */
void store_ids_free(char **ids, size_t n);

/*
 * Calls fn(id, rec, arg) for each record (rec borrowed for the call). For
 * store_each: every record of kind. For store_revoked_each: every
 * certificate with a "revoked" member. A non-zero return from fn stops the
 * walk and is returned as ANVIL_ERR_INVALID unless it is an anvil_err.
 */
typedef anvil_err (*store_each_fn)(const char *id, json_t *rec, void *arg);
anvil_err store_each(struct store_txn *txn, enum store_kind kind,
    store_each_fn fn, void *arg);
anvil_err store_revoked_each(struct store_txn *txn, store_each_fn fn,
    void *arg);

/* Adds one to counter name (created at 0) and returns the new value. */
anvil_err store_counter_next(struct store_txn *txn, const char *name,
    uint64_t *val);
/* Reads counter name; 0 if it was never raised. */
anvil_err store_counter_get(struct store_txn *txn, const char *name,
    uint64_t *val);

/*
 * Records nonce (len bytes, 1..64) as spent until expires, in its own
 * non-durable transaction. ANVIL_OK the first time; ANVIL_ERR_EXISTS if it
 * was already spent, even by another process at the same instant.
 */
anvil_err store_nonce_spend(struct store *st, const unsigned char *nonce,
    size_t len, time_t expires);

/*
 * store_nonce_spend as part of txn: the spend commits or rolls back with
 * the rest of txn. A transaction whose only write is a spend may run
 * STORE_TXN_NOSYNC | STORE_TXN_READ_COMMITTED, as store_nonce_spend's own
 * does. Read store_nonce_floor after txn committed.
 */
anvil_err store_nonce_spend_txn(struct store_txn *txn,
    const unsigned char *nonce, size_t len, time_t expires);

/*
 * Spends are not durable, so a crash can lose the last ones before it,
 * and a nonce spent then would pass a second time (RFC 8555 §6.5 forbids
 * it). Every nonce issued at or before the time this returns
 * (milliseconds since the epoch; 0 when there is none) may have had its
 * spend lost that way, and src/acme/nonce.c refuses it as badNonce; a client asks for a
 * new one. Berkeley DB: when an open last made the store's shared regions
 * anew (a recovery after a process died, the first open after a reboot),
 * read at each open; PostgreSQL: when the server last started, read with
 * each spend. Call it after store_nonce_spend, which may reopen.
 */
int64_t store_nonce_floor(struct store *st);

/* Drops spent-nonce records that expired before now; *purged counts them. */
anvil_err store_nonce_purge(struct store *st, time_t now, size_t *purged);

/*
 * Hot backup of the whole store while other processes use it: a copy of the
 * store as of one instant, every commit before it and none after. The copy
 * is built in a sibling folder dir.partial-XXXXXX and renamed to dir when it
 * is complete and on disk, so dir never holds half a backup. dir must not
 * exist or be an empty folder (ANVIL_ERR_EXISTS). The result is a store
 * folder: restore it as <data_dir>/store beside the CA key and certificate.
 */
anvil_err store_backup(struct store *st, const char *dir, char *err,
    size_t errlen);

/*
 * Checks every file of the store while other processes use it: takes a
 * snapshot as store_backup does, in data_dir/.anvil-check-XXXXXX (removed
 * after), checks the structure of each of its files, then opens it and
 * reads every record: keys valid, records parse, each record's index
 * entries present and no index entry more than the records account for.
 * ANVIL_ERR_CORRUPT names each damaged file in err; ANVIL_OK if all agree.
 */
anvil_err store_verify(struct store *st, char *err, size_t errlen);

/*
 * Where store_backup and store_verify report how far they are (borrowed;
 * NULL: nowhere). See src/core/progress.h.
 */
struct progress;
void store_set_progress(struct store *st, struct progress *p);

#endif
