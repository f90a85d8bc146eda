/*
 * bdb_int.h - private to src/store: what the files of the Berkeley DB
 * implementation of store.h share.
 *
 * DESCRIPTION
 *	store.h is the whole interface of the store; behind it, the Berkeley
 *	DB 5.3 implementation is split by role:
 *
 *	bdb_env.c	the environment: open, close, checkpoints, reopen
 *	bdb_guard.c	the crash guard: process list, recovery fence,
 *			watchdog, boot fence, store_hold and store_idle
 *	bdb_txn.c	store_run, the sorting of return codes, the raw
 *			accessors inside a transaction
 *	bdb_records.c	records, indexes, lists, walks, counters, nonces
 *	bdb_backup.c	store_backup and store_verify
 *
 *	Each record kind is one btree file (bdb_desc) keyed by id; the index,
 *	counter, nonce and meta files follow them in enum dbi. Every file
 *	carries page checksums. Only these files include <db.h>, and nothing
 *	outside src/store includes this header, so a second implementation
 *	can sit beside this one behind the same store.h.
 */
#ifndef ANVIL_STORE_BDB_INT_H
#define ANVIL_STORE_BDB_INT_H

#include <sys/types.h>

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <db.h>
#include <jansson.h>

#include "core/error.h"

/*
 * The public names of store.h belong to the dispatch (src/store/store.c),
 * which picks a backend at open (src/store/backend.h). In the Berkeley DB
 * files they name this backend's own functions and types instead, so that
 * those files keep their text; src/store/bdb_ops.c hands them to the
 * dispatch.
 */
#define store			bdb_store
#define store_txn		bdb_store_txn
#define store_fn		bdb_store_fn
#define store_open		bdb_store_open
#define store_close		bdb_store_close
#define store_maintain		bdb_store_maintain
#define store_hold		bdb_store_hold
#define store_idle		bdb_store_idle
#define store_run		bdb_store_run
#define store_get		bdb_store_get
#define store_put		bdb_store_put
#define store_del		bdb_store_del
#define store_account_by_thumbprint bdb_store_account_by_thumbprint
#define store_list_by_account	bdb_store_list_by_account
#define store_authz_by_identifier bdb_store_authz_by_identifier
#define store_ids_free		bdb_store_ids_free
#define store_each		bdb_store_each
#define store_revoked_each	bdb_store_revoked_each
#define store_counter_next	bdb_store_counter_next
#define store_counter_get	bdb_store_counter_get
#define store_nonce_spend	bdb_store_nonce_spend
#define store_nonce_spend_txn	bdb_store_nonce_spend_txn
#define store_nonce_purge	bdb_store_nonce_purge
#define store_nonce_floor	bdb_store_nonce_floor
#define store_backup		bdb_store_backup
#define store_verify		bdb_store_verify
#define store_set_progress	bdb_store_set_progress

#include "store/store.h"
#include "store/rec.h"

#define STORE_SUBDIR	"store"		/* environment home under data_dir */
#define FILE_MODE	0600
#define DIR_MODE	0700
#define OPEN_TRIES	5	/* store_open attempts when panicked */
#define STALL_S		60	/* no store call takes this long */

/* The database files; the first STORE_KIND__MAX follow enum store_kind. */
enum dbi {
	DBI_ACCOUNT = 0,
	DBI_ORDER,
	DBI_AUTHZ,
	DBI_CHALLENGE,
	DBI_CERT,
	DBI_EAB,		/* EAB key id -> key record */
	DBI_POLICY,		/* policy id -> allow/deny lists */
	DBI_VALQ,		/* challenge id -> queued validation */
	DBI_THUMBPRINT,		/* thumbprint -> account id (unique) */
	DBI_ACCT_ORDERS,	/* account id -> order ids (sorted dups) */
	DBI_ACCT_AUTHZ,		/* account id -> authz ids (sorted dups) */
	DBI_ACCT_CERTS,		/* account id -> cert serials (sorted dups) */
	DBI_ACCT_IDENT,		/* account\0type\0value -> authz ids (dups) */
	DBI_REVOKED,		/* serial -> "1" */
	DBI_COUNTERS,		/* name -> 8 bytes big-endian */
	DBI_NONCES,		/* nonce bytes -> expiry, 8 bytes big-endian */
	DBI_META,		/* META_KEY -> {"format":..,"magic":..} */
	DBI__MAX
};

_Static_assert((int)DBI_ACCOUNT == (int)STORE_ACCOUNT &&
    (int)DBI_ORDER == (int)STORE_ORDER && (int)DBI_AUTHZ == (int)STORE_AUTHZ &&
    (int)DBI_CHALLENGE == (int)STORE_CHALLENGE &&
    (int)DBI_CERT == (int)STORE_CERT && (int)DBI_EAB == (int)STORE_EAB &&
    (int)DBI_POLICY == (int)STORE_POLICY &&
    (int)DBI_VALQ == (int)STORE_VALQ &&
    (int)DBI_THUMBPRINT ==
    (int)STORE_KIND__MAX, "record kinds and database files out of step");

struct bdb_desc {
	const char *file;
	u_int32_t flags;	/* DB->set_flags besides DB_CHKSUM */
	int late;		/* added after format 1: created when an
				 * existing store lacks it */
};

extern const struct bdb_desc bdb_desc[DBI__MAX];

struct store {
	DB_ENV *env;		/* NULL after a failed reopen */
	DB *db[DBI__MAX];
	char *home;		/* data_dir/store */
	dev_t dev;		/* of home: one handle per process */
	ino_t ino;
	pid_t pid;		/* process that opened it */
	int checksum_bad;	/* Berkeley DB reported a checksum error */
	int closing;		/* in env_detach: its complaints are debug */
	uint64_t rnd;		/* back-off generator state */
	anvil_err msg_code;	/* code msg explains */
	char msg[320];		/* last failure, for store_run's err */
	char bdbmsg[256];	/* last message from Berkeley DB */
	struct store *next;	/* open stores of this process */
	int dirty;		/* this process wrote since its last checkpoint */
	unsigned commits;	/* commits since this process's last checkpoint */
	time_t last_ckp;	/* when this process last checkpointed */
	int ckp_due;		/* store_maintain should try one */
	int proc_fd;		/* flock on home/procs/PID, or -1 */
	int fence_fd;		/* home/FENCE_FILE, or -1 */
	int gate_fd;		/* home/GATE_FILE, or -1 */
	int fence_held;		/* 0, LOCK_SH or LOCK_EX on fence_fd */
	int hold;		/* in store_hold: calls keep their share */
	int created;		/* this handle made the store: checkpoint */
	int saw_panic;		/* Berkeley DB said PANIC (a recovery ran) */
	struct progress *progress; /* store_set_progress; NULL: none */
	int64_t nonce_floor;	/* store_nonce_floor (ms), read at open */
};

struct store_txn {
	struct store *st;
	DB_TXN *txn;
	int deadlock;		/* lost a deadlock: abort and retry */
	int fatal;		/* environment panicked: reopen */
	int corrupt;		/* damaged file or record */
};

/*
 * bdb_guard.c: the crash guard. bdb_self() is getpid(), cached. Every store
 * call runs between bdb_call_enter() and bdb_call_leave(): a share of the
 * recovery fence, then the watchdog (bdb_wd_enter/bdb_wd_leave; bdb_wd_tick
 * marks progress, bdb_wd_inlib says the process is inside the library). An
 * opener joins the process list (bdb_procs_join), claims the deaths it finds
 * (bdb_procs_claim_dead, then bdb_force_recovery) and, when it will recover,
 * takes the fence alone (bdb_fence_alone) and tells the others
 * (bdb_procs_tell). bdb_boot_fence serialises opens and drops the regions of
 * an earlier boot.
 */
extern volatile sig_atomic_t bdb_wd_inlib;
void bdb_self_forked(void);
pid_t bdb_self(void);
void bdb_wd_tick(void);
int bdb_wd_setup(void);
void bdb_wd_enter(long seconds);
void bdb_wd_leave(void);
void bdb_procs_join(struct store *st);
void bdb_procs_leave(struct store *st);
void bdb_procs_tell(struct store *st, const char *what);
int bdb_procs_claim_dead(struct store *st);
void bdb_force_recovery(struct store *st);
ino_t bdb_region_ino(const struct store *st);
anvil_err bdb_fence_open(struct store *st, char *err, size_t errlen);
void bdb_fence_close(struct store *st);
void bdb_fence_leave(struct store *st);
void bdb_fence_share(struct store *st);
void bdb_fence_alone(struct store *st);
int bdb_recovery_ahead(const struct store *st);
void bdb_call_enter(struct store *st);
void bdb_call_leave(struct store *st);
anvil_err bdb_boot_fence(const struct store *st, int *lockfd, char *err,
    size_t errlen);

/*
 * bdb_env.c: the environment. bdb_home_file() is st->home/file (new string,
 * NULL without memory); bdb_file_check() refuses a file that is not a btree
 * file before Berkeley DB opens it; bdb_msgcall() sends Berkeley DB's
 * messages to the debug log; bdb_env_reopen() gives st a new environment
 * handle after another process recovered.
 */
void bdb_msgcall(const DB_ENV *env, const char *msg);
char *bdb_home_file(const struct store *st, const char *file);
anvil_err bdb_file_check(const char *path, char *err, size_t errlen);
anvil_err bdb_env_reopen(struct store *st);
/* The nonce floor of data_dir's store without opening it (backend.h
 * nonce_floor_peek). */
int64_t bdb_nonce_floor_peek(const char *data_dir);

/*
 * bdb_txn.c: errors and transactions. bdb_fail() records a message for
 * store_run's err and returns code; bdb_sort() turns a Berkeley DB return
 * into an anvil_err and marks t. bdb_txn_usable() is the entry check of
 * every function taking a transaction. The raw accessors work on database i
 * in t; bdb_raw_get's *data points into Berkeley DB's memory, valid until
 * the next call on the handle.
 */
anvil_err bdb_fail(struct store *st, anvil_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
anvil_err bdb_sort(struct store *st, struct store_txn *t, const char *call,
    const char *what, int ret);
anvil_err bdb_txn_usable(struct store_txn *t);
void bdb_dbt_set(DBT *d, const void *p, size_t n);
anvil_err bdb_raw_get(struct store_txn *t, enum dbi i, const void *key,
    size_t klen, u_int32_t flags, const void **data, size_t *len);
anvil_err bdb_raw_put(struct store_txn *t, enum dbi i, const void *key,
    size_t klen, const void *data, size_t dlen, u_int32_t flags);
anvil_err bdb_raw_del(struct store_txn *t, enum dbi i, const void *key,
    size_t klen);
anvil_err bdb_cur_open(struct store_txn *t, enum dbi i, u_int32_t flags,
    DBC **c);
anvil_err bdb_cur_close(struct store_txn *t, enum dbi i, DBC *c, anvil_err rc);
anvil_err bdb_dup_del(struct store_txn *t, enum dbi i, const void *key,
    size_t klen, const void *data, size_t dlen);
anvil_err bdb_dup_add(struct store_txn *t, enum dbi i, const void *key,
    size_t klen, const void *data, size_t dlen);

/*
 * bdb_records.c: records and indexes, shared with store_verify.
 * bdb_acct_index() is the by-account index of kind, DBI__MAX if none; the
 * checks of records and their index members are src/store/rec.h's.
 */
enum dbi bdb_acct_index(enum store_kind kind);

#endif
