/*
 * bdb_env.c - the Berkeley DB environment behind store.h: opened, checked,
 * checkpointed, reopened and closed.
 *
 * DESCRIPTION
 *	The environment lives in data_dir/store and is shared by every process
 *	of the CA (web-server workers, anvil-admin, anvil-crl), one handle per
 *	process. It is opened with transactions, locking, logging and a shared
 *	memory pool, and with DB_REGISTER|DB_RECOVER|DB_FAILCHK: the first
 *	process to open it after another died holding it runs recovery
 *	(forced by the crash guard, bdb_guard.c), which panics the handles of
 *	the processes still attached; their next store_run() reopens once
 *	(bdb_env_reopen, here) and carries on. Before Berkeley DB sees a file,
 *	bdb_file_check makes sure it looks like one of ours; meta.db holds the
 *	marker that says the folder is an Anvil store and which layout it
 *	uses, and is judged first. Checkpoints are written when one is due, by
 *	one process at a time, in a detached child (store_maintain) so that no
 *	request waits for one. bdb_desc, the table of database files, is
 *	defined here.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <db.h>
#include <jansson.h>

#include "core/error.h"
#include "core/log.h"
#include "core/util.h"
#include "store/bdb_int.h"
#include "store/store.h"

#define STORE_MAGIC	"anvil-store"	/* meta record "magic" */
#define META_KEY	"anvil"		/* key of the meta record */
#define META_MAX	4096		/* largest meta record we read */
#define CKP_LOCK	"checkpoint.lock"	/* one checkpointer at a time */

/* Environment sizing: a few dozen processes, small records. */
#define CACHE_BYTES	(8U * 1024 * 1024)
#define LK_MAX_LOCKS	20000
#define LK_MAX_LOCKERS	2000
#define LK_MAX_OBJECTS	20000
#define TX_MAX		200
#define LOCK_TIMEOUT_US	(10U * 1000 * 1000)	/* a lock wait longer than
						 * this loses, and is retried */
#define CKP_KBYTES	8192	/* checkpoint after this much log ... */
#define CKP_MINUTES	5	/* ... or this long */
#define THREAD_COUNT	256	/* processes tracked for failchk */
#define REG_TIMEOUT_US	25000	/* recovery lets attached processes see
				 * the panic this long, twice */

#define ENV_FLAGS	(DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | \
			 DB_INIT_LOG | DB_INIT_MPOOL | DB_REGISTER | \
			 DB_RECOVER | DB_FAILCHK)

const struct bdb_desc bdb_desc[DBI__MAX] = {
	[DBI_ACCOUNT] = { "accounts.db", 0 },
	[DBI_ORDER] = { "orders.db", 0 },
	[DBI_AUTHZ] = { "authz.db", 0 },
	[DBI_CHALLENGE] = { "challenges.db", 0 },
	[DBI_CERT] = { "certs.db", 0 },
	[DBI_EAB] = { "eab.db", 0 },
	[DBI_POLICY] = { "policy.db", 0 },
	[DBI_VALQ] = { "valq.db", 0, 1 },
	[DBI_THUMBPRINT] = { "idx_thumbprint.db", 0 },
	[DBI_ACCT_ORDERS] = { "idx_account_orders.db", DB_DUP | DB_DUPSORT },
	[DBI_ACCT_AUTHZ] = { "idx_account_authz.db", DB_DUP | DB_DUPSORT },
	[DBI_ACCT_CERTS] = { "idx_account_certs.db", DB_DUP | DB_DUPSORT },
	[DBI_ACCT_IDENT] = { "idx_authz_identifier.db", DB_DUP | DB_DUPSORT },
	[DBI_REVOKED] = { "idx_revoked.db", 0 },
	[DBI_COUNTERS] = { "counters.db", 0 },
	[DBI_NONCES] = { "nonces.db", 0 },
	[DBI_META] = { "meta.db", 0 },
};

static struct store *open_stores;	/* this process's handles */

/* ------------------------------------------------------------ callbacks */

static void
bdb_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	struct store *st = env != NULL ? env->app_private : NULL;

	(void)pfx;
	if (msg == NULL)
		return;
	if (st != NULL && st->closing)
		log_debug("berkeley db: %s", msg);
	else
		log_err("berkeley db: %s", msg);
	if (st != NULL) {
		snprintf(st->bdbmsg, sizeof(st->bdbmsg), "%s", msg);
		if (strstr(msg, "checksum") != NULL)
			st->checksum_bad = 1;
		if (strstr(msg, "PANIC") != NULL)
			st->saw_panic = 1;
	}
}

/*
 * For DB_ENV->failchk: is the process that entered the environment as pid
 * still there? (Processes are single-threaded; the thread id is moot.)
 */
static int
bdb_isalive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	(void)env;
	(void)tid;
	(void)flags;
	return kill(pid, 0) == 0 || errno == EPERM;
}

void
bdb_msgcall(const DB_ENV *env, const char *msg)
{
	(void)env;
	if (msg != NULL)
		log_debug("berkeley db: %s", msg);
}

/* ------------------------------------------------------------ open, close */

/* Berkeley DB opens every file through this: close-on-exec from birth. */
static int
bdb_open_cloexec(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode = 0;

	if (flags & O_CREAT) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return open(path, flags | O_CLOEXEC, mode);
}

char *
bdb_home_file(const struct store *st, const char *file)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", st->home, file) < 0)
		return NULL;
	return p;
}

/*
 * Before Berkeley DB sees a file: it must be at least one page long with
 * the btree magic number (either byte order) where the metadata page has
 * it. ANVIL_ERR_NOTFOUND if it does not exist.
 */
anvil_err
bdb_file_check(const char *path, char *err, size_t errlen)
{
	unsigned char page[512];
	struct stat sb;
	uint32_t magic = 0;
	ssize_t got = 0;
	size_t have = 0;
	int fd = -1;
	anvil_err rc = ANVIL_ERR_CORRUPT;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		if (errno == ENOENT)
			return ANVIL_ERR_NOTFOUND;
		return errf(err, errlen, ANVIL_ERR_IO, "%s: %s", path,
		    strerror(errno));
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s: not a regular file", path);
		goto out;
	}
	while (have < sizeof(page)) {
		got = read(fd, page + have, sizeof(page) - have);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		have += (size_t)got;
	}
	if (have < sizeof(page)) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s: too short to be a Berkeley DB file", path);
		goto out;
	}
	memcpy(&magic, page + 12, sizeof(magic));
	if (magic != DB_BTREEMAGIC &&
	    __builtin_bswap32(magic) != DB_BTREEMAGIC) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s: not a Berkeley DB btree file", path);
		goto out;
	}
	rc = ANVIL_OK;
out:
	close(fd);
	return rc;
}

static void
env_detach(struct store *st)
{
	int i, ret;

	/* After a panic every close complains; the panic was logged. */
	st->closing = 1;
	for (i = 0; i < DBI__MAX; i++) {
		if (st->db[i] == NULL)
			continue;
		/* DB_NOSYNC: the transaction log already holds every commit
		 * durably, and store_close checkpoints a process that wrote;
		 * a read-only process must not pay one sync per file. */
		if ((ret = st->db[i]->close(st->db[i], DB_NOSYNC)) != 0)
			log_debug("DB->close(%s): %s", bdb_desc[i].file,
			    db_strerror(ret));
		st->db[i] = NULL;
	}
	if (st->env != NULL) {
		if ((ret = st->env->close(st->env, 0)) != 0)
			log_debug("DB_ENV->close(%s): %s", st->home,
			    db_strerror(ret));
		st->env = NULL;
	}
	st->closing = 0;
}

static anvil_err
db_open_one(struct store *st, enum dbi i, int create, char *err,
    size_t errlen)
{
	DB *db = NULL;
	u_int32_t got = 0;
	int ret;
	anvil_err rc = ANVIL_ERR_STORE;

	st->bdbmsg[0] = '\0';
	if ((ret = db_create(&db, st->env, 0)) != 0) {
		rc = errf(err, errlen, ret == ENOMEM ? ANVIL_ERR_NOMEM :
		    ANVIL_ERR_STORE, "db_create: %s", db_strerror(ret));
		goto out;
	}
	if ((ret = db->set_flags(db, DB_CHKSUM | bdb_desc[i].flags)) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_STORE, "DB->set_flags(%s): %s",
		    bdb_desc[i].file, db_strerror(ret));
		goto out;
	}
	ret = db->open(db, NULL, bdb_desc[i].file, NULL, DB_BTREE,
	    DB_AUTO_COMMIT | (create || bdb_desc[i].late ? DB_CREATE : 0),
	    FILE_MODE);
	if (ret == 0) {
		/* Berkeley DB adopts some flags from the file: insist. */
		if ((ret = db->get_flags(db, &got)) != 0 ||
		    (got & (DB_DUP | DB_DUPSORT | DB_CHKSUM)) !=
		    (bdb_desc[i].flags | DB_CHKSUM)) {
			rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
			    "%s/%s is not an Anvil store file (its flags "
			    "are 0x%x)", st->home, bdb_desc[i].file,
			    (unsigned)got);
			goto out;
		}
		st->db[i] = db;
		db = NULL;
		rc = ANVIL_OK;
		goto out;
	}
	log_err("DB->open(%s/%s): %s", st->home, bdb_desc[i].file,
	    db_strerror(ret));
	switch (ret) {
	case ENOENT:
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT, "%s/%s is missing",
		    st->home, bdb_desc[i].file);
		break;
	case EACCES:
	case EPERM:
		rc = errf(err, errlen, ANVIL_ERR_IO, "%s/%s: %s", st->home,
		    bdb_desc[i].file, db_strerror(ret));
		break;
	case ENOMEM:
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "DB->open(%s): %s",
		    bdb_desc[i].file, db_strerror(ret));
		break;
	case EINVAL:
	case DB_VERIFY_BAD:
	case DB_PAGE_NOTFOUND:
	case DB_CHKSUM_FAIL:
	case DB_RUNRECOVERY:
		if (ret != DB_RUNRECOVERY || st->checksum_bad) {
			rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
			    "%s/%s is damaged or not an Anvil store file "
			    "(%s)", st->home, bdb_desc[i].file,
			    st->bdbmsg[0] ? st->bdbmsg : db_strerror(ret));
			break;
		}
		/* FALLTHROUGH */
	default:
		rc = errf(err, errlen, ANVIL_ERR_STORE, "DB->open(%s/%s): %s",
		    st->home, bdb_desc[i].file, db_strerror(ret));
		break;
	}
out:
	if (db != NULL)
		db->close(db, 0);
	return rc;
}

/*
 * Writes the meta record of a new store (unless a concurrent creator did)
 * and checks the one there.
 */
static anvil_err
meta_check(struct store *st, int creating, char *err, size_t errlen)
{
	DB *db = st->db[DBI_META];
	DB_TXN *tx = NULL;
	DBT k, d;
	json_t *meta = NULL, *m = NULL;
	json_error_t jerr;
	char *text = NULL;
	const char *magic = NULL;
	json_int_t format = 0;
	int ret;
	anvil_err rc = ANVIL_ERR_CORRUPT;

	if (creating) {
		if (asprintf(&text, "{\"format\":%d,\"magic\":\"%s\"}",
		    STORE_FORMAT_VERSION, STORE_MAGIC) < 0) {
			text = NULL;
			rc = ANVIL_ERR_NOMEM;
			goto out;
		}
		ret = st->env->txn_begin(st->env, NULL, &tx, 0);
		if (ret == 0) {
			bdb_dbt_set(&k, META_KEY, strlen(META_KEY));
			bdb_dbt_set(&d, text, strlen(text));
			ret = db->put(db, tx, &k, &d, DB_NOOVERWRITE);
			/* A new store: checkpoint at close, so its files are
			 * complete on disk. */
			st->dirty = 1;
			st->created = 1;
			if (ret == 0 || ret == DB_KEYEXIST) {
				ret = tx->commit(tx, 0);
			} else
				tx->abort(tx);
			tx = NULL;
		}
		if (ret != 0) {
			rc = errf(err, errlen, ANVIL_ERR_STORE,
			    "writing %s/%s: %s", st->home,
			    bdb_desc[DBI_META].file, db_strerror(ret));
			goto out;
		}
	}
	bdb_dbt_set(&k, META_KEY, strlen(META_KEY));
	bdb_dbt_set(&d, NULL, 0);
	ret = db->get(db, NULL, &k, &d, 0);
	if (ret == DB_NOTFOUND) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s/%s holds no Anvil store marker", st->home,
		    bdb_desc[DBI_META].file);
		goto out;
	}
	if (ret != 0) {
		rc = bdb_sort(st, NULL, "DB->get", bdb_desc[DBI_META].file,
		    ret);
		if (rc != ANVIL_ERR_CORRUPT)
			rc = ANVIL_ERR_STORE;
		rc = errf(err, errlen, rc, "reading %s/%s: %s", st->home,
		    bdb_desc[DBI_META].file, db_strerror(ret));
		goto out;
	}
	if (d.size == 0 || d.size > META_MAX ||
	    (meta = json_loadb(d.data, d.size, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL || !json_is_object(meta)) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s/%s: the store marker is not a JSON object", st->home,
		    bdb_desc[DBI_META].file);
		goto out;
	}
	m = json_object_get(meta, "magic");
	magic = json_is_string(m) ? json_string_value(m) : NULL;
	if (magic == NULL || strcmp(magic, STORE_MAGIC) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s/%s: not an Anvil store (magic is not \"%s\")",
		    st->home, bdb_desc[DBI_META].file, STORE_MAGIC);
		goto out;
	}
	m = json_object_get(meta, "format");
	if (!json_is_integer(m) || (format = json_integer_value(m)) < 1) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s/%s: no valid format number", st->home,
		    bdb_desc[DBI_META].file);
		goto out;
	}
	if (format > STORE_FORMAT_VERSION) {
		rc = errf(err, errlen, ANVIL_ERR_VERSION,
		    "%s/%s: store format %lld is newer than this Anvil "
		    "reads (%d)", st->home, bdb_desc[DBI_META].file,
		    (long long)format, STORE_FORMAT_VERSION);
		goto out;
	}
	rc = ANVIL_OK;
out:
	json_decref(meta);
	free(text);
	return rc;
}

/*
 * Opens the environment and every database of st->home into st. On
 * failure st holds no Berkeley DB handle. *lockfd (the bdb_boot_fence lock,
 * or -1) is released as soon as the environment is open: opening a
 * database can wait on another process's transaction, and that process
 * may be dead and need the next opener to notice.
 */
/*
 * Run as root (anvil-crl from root's cron, anvil-admin by hand) on a store
 * the web server's user owns: gives that user back every file of the store
 * root made. Recovery remakes the region files (__db.*) and a busy writer
 * starts a new log file; left root's and 0600, they would lock the web
 * server out of its own store at its next open (DB_ENV->open: Permission
 * denied) after the panic recovery sends it.
 */
static void
own_like_home(const struct store *st)
{
	struct stat home, sb;
	struct dirent *e;
	DIR *d;
	int fd;

	if (geteuid() != 0 || stat(st->home, &home) != 0 || home.st_uid == 0 ||
	    (d = opendir(st->home)) == NULL)
		return;
	fd = dirfd(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || fstatat(fd, e->d_name, &sb,
		    AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode) ||
		    sb.st_uid != 0)
			continue;
		if (fchownat(fd, e->d_name, home.st_uid, home.st_gid,
		    AT_SYMLINK_NOFOLLOW) != 0)
			log_warn("chown %s/%s to the store's owner: %s",
			    st->home, e->d_name, strerror(errno));
	}
	closedir(d);
}

/*
 * The nonce floor (store.h store_nonce_floor). Nonce spends commit
 * without a flush (bdb_records.c), so their log records may still be in
 * the shared regions when a process dies; the opener that then recovers
 * makes new regions from the log on disk, and those spends are gone
 * (tests/integration/crash.py replays one). So the opener that made new
 * regions for an existing store writes the time into home/FLOOR_FILE,
 * on disk before any other process can enter (it holds the recovery
 * fence alone, bdb_guard.c), and every open reads it: a nonce issued at
 * or before it is refused.
 */
#define FLOOR_FILE	"nonce.floor"
#define FLOOR_MAX	32		/* bytes of the file */

static anvil_err
floor_write(struct store *st, char *err, size_t errlen)
{
	char *path = bdb_home_file(st, FLOOR_FILE), text[FLOOR_MAX];
	int n;
	anvil_err rc;

	if (path == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	n = snprintf(text, sizeof(text), "%lld\n", (long long)util_now_ms());
	rc = util_write_file_atomic(path, text, (size_t)n, FILE_MODE, err,
	    errlen);
	free(path);
	return rc;
}

static anvil_err
floor_read_file(const char *path, int64_t *out, char *err, size_t errlen)
{
	char *text = NULL, *end = NULL;
	size_t len = 0;
	long long v;
	anvil_err rc;

	*out = 0;
	rc = util_read_file(path, FLOOR_MAX, &text, &len, err, errlen);
	if (rc == ANVIL_ERR_NOTFOUND) {
		/* A store made before the floor existed: no recovery since. */
		rc = ANVIL_OK;
		goto out;
	}
	if (rc != ANVIL_OK)
		goto out;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || (*end != '\n' && *end != '\0') ||
	    v < 0) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT, "%s: not a time",
		    path);
		goto out;
	}
	*out = (int64_t)v;
out:
	free(text);
	return rc;
}

static anvil_err
floor_read(struct store *st, char *err, size_t errlen)
{
	char *path = bdb_home_file(st, FLOOR_FILE);
	anvil_err rc;

	if (path == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	rc = floor_read_file(path, &st->nonce_floor, err, errlen);
	free(path);
	return rc;
}

/*
 * The floor without joining the environment (STORE_OPEN_DEFER). Read
 * outside the recovery fence, it may be the one from before a recovery
 * that is running: a nonce stamped by it is then refused as older than
 * that recovery (badNonce, and the client retries with the reply's), which
 * is what any nonce issued before the recovery gets. -1: open to know.
 */
int64_t
bdb_nonce_floor_peek(const char *data_dir)
{
	char *path = NULL;
	int64_t v = -1;

	if (data_dir == NULL || asprintf(&path, "%s/%s/%s", data_dir,
	    STORE_SUBDIR, FLOOR_FILE) < 0)
		return -1;
	if (floor_read_file(path, &v, NULL, 0) != ANVIL_OK)
		v = -1;
	free(path);
	return v;
}

int64_t
store_nonce_floor(struct store *st)
{
	return st != NULL ? st->nonce_floor : 0;
}

static anvil_err
env_attach(struct store *st, int creating, int *lockfd, char *err,
    size_t errlen)
{
	int fresh = 0;
	DB_ENV *env = NULL;
	ino_t ino;
	int ret, k;
	enum dbi i;
	anvil_err rc = ANVIL_ERR_STORE;

	st->checksum_bad = 0;
	st->bdbmsg[0] = '\0';
	if ((ret = db_env_create(&env, 0)) != 0) {
		rc = errf(err, errlen, ret == ENOMEM ? ANVIL_ERR_NOMEM :
		    ANVIL_ERR_STORE, "db_env_create: %s", db_strerror(ret));
		goto out;
	}
	st->env = env;
	env->app_private = st;
	env->set_errcall(env, bdb_errcall);
	env->set_msgcall(env, bdb_msgcall);
	if ((ret = env->set_cachesize(env, 0, CACHE_BYTES, 1)) != 0 ||
	    (ret = env->set_lk_max_locks(env, LK_MAX_LOCKS)) != 0 ||
	    (ret = env->set_lk_max_lockers(env, LK_MAX_LOCKERS)) != 0 ||
	    (ret = env->set_lk_max_objects(env, LK_MAX_OBJECTS)) != 0 ||
	    (ret = env->set_tx_max(env, TX_MAX)) != 0 ||
	    (ret = env->set_thread_count(env, THREAD_COUNT)) != 0 ||
	    (ret = env->set_isalive(env, bdb_isalive)) != 0 ||
	    (ret = env->set_timeout(env, REG_TIMEOUT_US,
	    DB_SET_REG_TIMEOUT)) != 0 ||
	    (ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0 ||
	    (ret = env->set_timeout(env, LOCK_TIMEOUT_US,
	    DB_SET_LOCK_TIMEOUT)) != 0 ||
	    (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_STORE,
		    "configuring the environment: %s", db_strerror(ret));
		goto out;
	}
	ino = bdb_region_ino(st);
	ret = env->open(env, st->home, ENV_FLAGS, FILE_MODE);
	if (*lockfd >= 0) {
		close(*lockfd);
		*lockfd = -1;
	}
	if (ret == 0 && bdb_region_ino(st) != ino) {
		fresh = 1;
		bdb_procs_tell(st, "new environment in");
	}
	if (ret != 0) {
		log_err("DB_ENV->open(%s): %s", st->home, db_strerror(ret));
		if (ret == DB_RUNRECOVERY)
			rc = errf(err, errlen, ANVIL_ERR_STORE,
			    "%s needs recovery that could not run (stop "
			    "every Anvil process, then db5.3_recover -h %s)",
			    st->home, st->home);
		else if (ret == DB_VERSION_MISMATCH)
			rc = errf(err, errlen, ANVIL_ERR_VERSION,
			    "%s was left by another Berkeley DB version (%s)",
			    st->home, db_strerror(ret));
		else
			rc = errf(err, errlen, ret == EACCES ? ANVIL_ERR_IO :
			    ANVIL_ERR_STORE, "opening the environment %s: %s",
			    st->home, st->bdbmsg[0] ? st->bdbmsg :
			    db_strerror(ret));
		goto out;
	}

	/*
	 * An existing store is judged by its marker before anything else,
	 * so that a newer layout reads as ANVIL_ERR_VERSION. A new one gets
	 * its marker last: a store with meta.db has all its files.
	 */
	for (k = 0; k < DBI__MAX; k++) {
		if (creating)
			i = (enum dbi)k;
		else
			i = k == 0 ? DBI_META : (enum dbi)(k - 1);
		if ((rc = db_open_one(st, i, creating, err, errlen)) !=
		    ANVIL_OK)
			goto out;
		if (i == DBI_META &&
		    (rc = meta_check(st, creating, err, errlen)) != ANVIL_OK)
			goto out;
	}
	/* A store made just now had no spend to lose. */
	if (fresh && !creating && (rc = floor_write(st, err, errlen)) !=
	    ANVIL_OK)
		goto out;
	if ((rc = floor_read(st, err, errlen)) != ANVIL_OK)
		goto out;
	util_cloexec_all();
	own_like_home(st);
	rc = ANVIL_OK;
out:
	if (rc != ANVIL_OK)
		env_detach(st);
	return rc;
}

/*
 * env_attach, claiming deaths first. Another opener may claim a death and
 * recover just after this one opened the environment, panicking it while
 * the databases open: then open again (a few times; each recovery needs a
 * new death).
 */
static anvil_err
env_attach_again(struct store *st, int creating, int *lockfd, char *err,
    size_t errlen)
{
	anvil_err rc = ANVIL_ERR_STORE;
	int i;

	for (i = 0; i < OPEN_TRIES; i++) {
		int claimed = bdb_procs_claim_dead(st);

		if (claimed > 0 || bdb_recovery_ahead(st)) {
			bdb_fence_alone(st);
			if (claimed > 0)
				bdb_force_recovery(st);
		} else
			bdb_fence_share(st);
		st->saw_panic = 0;
		bdb_wd_inlib = 1;
		rc = env_attach(st, creating, lockfd, err, errlen);
		bdb_wd_inlib = 0;
		bdb_fence_leave(st);
		if (rc == ANVIL_OK || !st->saw_panic || st->checksum_bad)
			break;
		log_warn("store: %s was recovered while this process opened "
		    "it; opening again", st->home);
	}
	return rc;
}

static anvil_err
version_check(char *err, size_t errlen)
{
	int major = 0, minor = 0, patch = 0;

	(void)db_version(&major, &minor, &patch);
	if (major != DB_VERSION_MAJOR || minor != DB_VERSION_MINOR)
		return errf(err, errlen, ANVIL_ERR_VERSION,
		    "Berkeley DB library is %d.%d.%d, Anvil was built with "
		    "%d.%d", major, minor, patch, DB_VERSION_MAJOR,
		    DB_VERSION_MINOR);
	return ANVIL_OK;
}

anvil_err
store_open(const char *data_dir, unsigned flags, struct store **out,
    char *err, size_t errlen)
{
	static int func_set;
	struct store *st = NULL, *o = NULL;
	struct stat sb;
	char *path = NULL;
	int creating = 0, any = 0, i, ret, lockfd = -1;
	anvil_err rc = ANVIL_ERR_STORE;

	if (out != NULL)
		*out = NULL;
	if (data_dir == NULL || *data_dir == '\0' || out == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_open: no data folder");
	if ((rc = version_check(err, errlen)) != ANVIL_OK)
		return rc;
	if (!func_set) {
		if ((ret = db_env_set_func_open(bdb_open_cloexec)) != 0)
			return errf(err, errlen, ANVIL_ERR_STORE,
			    "db_env_set_func_open: %s", db_strerror(ret));
		if ((ret = pthread_atfork(NULL, NULL, bdb_self_forked)) != 0)
			return errf(err, errlen, ANVIL_ERR_STORE,
			    "pthread_atfork: %s", strerror(ret));
		func_set = 1;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return ANVIL_ERR_NOMEM;
	st->proc_fd = st->fence_fd = st->gate_fd = -1;
	st->pid = bdb_self();
	st->rnd = ((uint64_t)st->pid << 32) ^ (uint64_t)time(NULL) ^
	    (uint64_t)(uintptr_t)st;
	if (asprintf(&st->home, "%s/%s", data_dir, STORE_SUBDIR) < 0) {
		st->home = NULL;
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}

	if (stat(st->home, &sb) != 0) {
		if (errno != ENOENT) {
			rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s",
			    st->home, strerror(errno));
			goto out;
		}
		if (!(flags & STORE_OPEN_CREATE)) {
			rc = errf(err, errlen, ANVIL_ERR_NOTFOUND,
			    "no store in %s (%s does not exist)", data_dir,
			    st->home);
			goto out;
		}
		if ((rc = util_mkdir_p(st->home, DIR_MODE, err, errlen)) !=
		    ANVIL_OK)
			goto out;
		if (stat(st->home, &sb) != 0) {
			rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s",
			    st->home, strerror(errno));
			goto out;
		}
	}
	if (!S_ISDIR(sb.st_mode)) {
		rc = errf(err, errlen, ANVIL_ERR_INVALID,
		    "%s is not a folder", st->home);
		goto out;
	}
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;

	/* DB_REGISTER allows one handle per process and environment. */
	for (o = open_stores; o != NULL; o = o->next) {
		if (o->pid == st->pid && o->dev == st->dev &&
		    o->ino == st->ino) {
			rc = errf(err, errlen, ANVIL_ERR_STORE,
			    "%s is already open in this process", st->home);
			goto out;
		}
	}

	/* Every file there must look like ours before Berkeley DB opens it. */
	for (i = 0; i < DBI__MAX; i++) {
		free(path);
		if ((path = bdb_home_file(st, bdb_desc[i].file)) == NULL) {
			rc = ANVIL_ERR_NOMEM;
			goto out;
		}
		rc = bdb_file_check(path, err, errlen);
		if (rc == ANVIL_ERR_NOTFOUND) {
			if (i == DBI_META)
				creating = 1;
			continue;
		}
		if (rc != ANVIL_OK)
			goto out;
		if (i != DBI_META)
			any = 1;
	}
	if (creating && any) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s/%s is missing but the store has other files",
		    st->home, bdb_desc[DBI_META].file);
		goto out;
	}
	if (creating && !(flags & STORE_OPEN_CREATE)) {
		rc = errf(err, errlen, ANVIL_ERR_NOTFOUND,
		    "no store in %s (%s has no %s)", data_dir, st->home,
		    bdb_desc[DBI_META].file);
		goto out;
	}
	if ((rc = bdb_fence_open(st, err, errlen)) != ANVIL_OK)
		goto out;
	(void)bdb_wd_setup();
	bdb_wd_enter(STALL_S);
	if ((rc = bdb_boot_fence(st, &lockfd, err, errlen)) != ANVIL_OK)
		goto out;
	bdb_procs_join(st);
	rc = env_attach_again(st, creating, &lockfd, err, errlen);
	if (rc != ANVIL_OK)
		goto out;

	st->next = open_stores;
	open_stores = st;
	*out = st;
	st = NULL;
	rc = ANVIL_OK;
out:
	bdb_wd_leave();
	if (lockfd >= 0)
		close(lockfd);
	free(path);
	if (st != NULL) {
		bdb_procs_leave(st);
		bdb_fence_close(st);
		free(st->home);
		free(st);
	}
	return rc;
}

/*
 * Checkpoints are written (when one is due: CKP_KBYTES of log or
 * CKP_MINUTES since the last; or forced) by one process at a time, which
 * holds home/CKP_LOCK. Berkeley DB's memp_sync sleeps a whole second
 * whenever a page it must write is pinned by another process, and every
 * process calling txn_checkpoint meanwhile waits on the checkpoint mutex:
 * with 16 FastCGI workers (Apache fcgid, bench/ at C=16) one request in
 * ten waited a second. A process that finds the lock taken goes on: the
 * checkpoint being written is the one it wanted. The lock is taken
 * before the recovery fence (bdb_guard.c).
 *
 * The checkpoint lock, open and taken (wait: for a forced checkpoint);
 * -1 if taken elsewhere, or on an error.
 */
static int
ckp_lock(struct store *st, int wait)
{
	char *path;
	int fd, ret;

	if (st->env == NULL || (path = bdb_home_file(st, CKP_LOCK)) == NULL)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, FILE_MODE);
	free(path);
	if (fd < 0)
		return -1;
	while ((ret = flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB)) != 0 &&
	    errno == EINTR)
		;
	if (ret != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The checkpoint itself, with the lock held. */
static void
ckp_write(struct store *st, int force)
{
	int ret;

	ret = st->env->txn_checkpoint(st->env, force ? 0 : CKP_KBYTES,
	    force ? 0 : CKP_MINUTES, 0);
	if (ret != 0)
		log_debug("DB_ENV->txn_checkpoint(%s): %s", st->home,
		    db_strerror(ret));
	st->commits = 0;
	st->last_ckp = time(NULL);
	st->ckp_due = 0;
}

/* Is a checkpoint due for the whole environment (not just this process)? */
static int
ckp_needed(struct store *st)
{
	DB_TXN_STAT *ts = NULL;
	DB_LOG_STAT *ls = NULL;
	int due = 0;

	if (st->env == NULL ||
	    st->env->txn_stat(st->env, &ts, 0) != 0 ||
	    st->env->log_stat(st->env, &ls, 0) != 0)
		goto out;
	if (time(NULL) - (time_t)ts->st_time_ckp >= CKP_MINUTES * 60)
		due = 1;
	else if (ls->st_cur_file > ts->st_last_ckp.file)
		due = (uint64_t)(ls->st_cur_file - ts->st_last_ckp.file) *
		    ls->st_lg_size + ls->st_cur_offset -
		    ts->st_last_ckp.offset >= (uint64_t)CKP_KBYTES * 1024;
	else
		due = ls->st_cur_offset - ts->st_last_ckp.offset >=
		    (u_int32_t)CKP_KBYTES * 1024;
out:
	free(ts);
	free(ls);
	return due;
}

/*
 * What store_maintain puts off is a checkpoint, when this process's writes
 * made one due (store_run sets ckp_due). It runs in a detached grandchild
 * with a handle of its own, so that the second memp_sync may sleep holds
 * up no request: this process goes back to serving at once.
 */
void
store_maintain(struct store *st)
{
	struct store *c = NULL, *o;
	char err[320], *dd = NULL, *slash;
	int needed, lockfd;

	if (st == NULL || !st->ckp_due || st->pid != bdb_self())
		return;
	st->ckp_due = 0;
	st->commits = 0;
	st->last_ckp = time(NULL);
	bdb_call_enter(st);		/* the stat calls take region mutexes */
	needed = ckp_needed(st);
	bdb_call_leave(st);
	if (!needed)
		return;
	/*
	 * The lock is taken here, before the fork, and the child inherits
	 * it: while one checkpoint is being written (it can take a second),
	 * every process sees one due, and each used to start a child that
	 * opened the store only to find the lock taken (two children per
	 * checkpoint written in bench/ at C=4).
	 */
	if ((lockfd = ckp_lock(st, 0)) < 0)
		return;
	if (util_detach(1) != 0) {
		close(lockfd);	/* the child's copy (if forked) holds it */
		return;
	}
	/* Not the web server's descriptors (stderr is its error log), nor
	 * the parent's flock on its procs file: a parent that dies now must
	 * be seen to be dead. */
	for (o = open_stores; o != NULL; o = o->next) {
		if (o->proc_fd >= 0)
			close(o->proc_fd);
		/* A parent that dies in a store call must free the fence:
		 * the flock belongs to the open file, which is shared. */
		bdb_fence_close(o);
	}
	if ((dd = strdup(st->home)) == NULL ||
	    (slash = strrchr(dd, '/')) == NULL)
		_exit(1);
	*slash = '\0';
	if (store_open(dd, 0, &c, err, sizeof(err)) != ANVIL_OK) {
		log_warn("store: checkpoint: %s", err);
		_exit(1);
	}
	bdb_call_enter(c);
	ckp_write(c, 0);
	bdb_call_leave(c);
	c->dirty = 0;		/* written just now: nothing for the close */
	store_close(c);
	close(lockfd);
	_exit(0);
}

void
store_close(struct store *st)
{
	struct store **pp = NULL;

	if (st == NULL)
		return;
	for (pp = &open_stores; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == st) {
			*pp = st->next;
			break;
		}
	}
	/*
	 * A forked child must not touch its parent's handles: they would
	 * unregister the parent and detach from its regions.
	 */
	if (st->pid == bdb_self() && st->env != NULL) {
		int needed = 0, lockfd = -1;

		st->hold = 0;

		/*
		 * A process that wrote checkpoints when one is due (CKP_KBYTES
		 * of log or CKP_MINUTES since the last), as store_run does: a
		 * forced one at every close wrote back and synced every dirty
		 * page, a dozen fsyncs per CGI request. Commits are durable in
		 * the log either way; checkpoints only bound recovery. A
		 * process that only read has nothing to do. The checkpoint
		 * lock is taken outside the fence (the lock order,
		 * bdb_guard.c).
		 */
		if (st->dirty && !st->created) {
			bdb_call_enter(st);
			needed = ckp_needed(st);
			bdb_call_leave(st);
		}
		if (st->dirty && (st->created || needed))
			lockfd = ckp_lock(st, st->created);
		bdb_call_enter(st);
		st->closing = 1;
		if (lockfd >= 0)
			ckp_write(st, st->created);
		env_detach(st);
		bdb_call_leave(st);
		if (lockfd >= 0)
			close(lockfd);
	}
	if (st->pid == bdb_self()) {
		bdb_procs_leave(st);
		bdb_fence_close(st);
		own_like_home(st);	/* a log file this process began */
	}
	free(st->home);
	free(st);
}

/* ------------------------------------------------------------ reopen */

/* After a panic (another process ran recovery): a new environment handle. */
anvil_err
bdb_env_reopen(struct store *st)
{
	char err[320] = "";
	int lockfd = -1;
	anvil_err rc;

	log_warn("store: reopening %s after a panic", st->home);
	bdb_call_enter(st);		/* out of the old environment */
	env_detach(st);
	bdb_fence_leave(st);	/* env_attach_again takes it as it needs */
	rc = env_attach_again(st, 0, &lockfd, err, sizeof(err));
	bdb_wd_leave();
	if (rc != ANVIL_OK) {
		log_err("store: reopening %s: %s", st->home, err);
		bdb_fail(st, rc, "reopening the store: %s", err);
	}
	return rc;
}
