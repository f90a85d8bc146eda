/*
 * bdb_backup.c - store_backup and store_verify on the Berkeley DB store.
 *
 * DESCRIPTION
 *	Both start from a hot copy of the live environment (a forced
 *	checkpoint, then DB_ENV->backup) inside the recovery fence but with no
 *	watchdog, since a copy may take its time, and recover the copy in a
 *	private environment. A backup is built in a sibling folder and renamed
 *	into place once complete and on disk. A check runs DB->verify on each
 *	file of the copy (it takes no locks, so never on the live files), then
 *	opens the copy as a store and reads every record and index entry.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <db.h>
#include <jansson.h>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "store/bdb_int.h"
#include "store/store.h"

/* ------------------------------------------------------------ backup, verify */

/* Messages from a Berkeley DB handle of our own (not st's environment). */
struct capture {
	char msg[256];
};

static void
capture_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	struct capture *cap = env != NULL ? env->app_private : NULL;

	(void)pfx;
	if (msg == NULL)
		return;
	log_debug("berkeley db: %s", msg);
	if (cap != NULL && cap->msg[0] == '\0')
		snprintf(cap->msg, sizeof(cap->msg), "%s", msg);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		log_warn("store: cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* Removes dir and everything under it (best effort, logged). */
static void
rm_tree(const char *dir)
{
	if (dir != NULL)
		(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static anvil_err
fsync_path(const char *path, int dir, char *err, size_t errlen)
{
	int fd, ret;

	fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC |
	    O_NOCTTY);
	if (fd < 0)
		return errf(err, errlen, ANVIL_ERR_IO, "%s: %s", path,
		    strerror(errno));
	ret = fsync(fd);
	close(fd);
	if (ret != 0)
		return errf(err, errlen, ANVIL_ERR_IO, "fsync %s: %s", path,
		    strerror(errno));
	return ANVIL_OK;
}

/* fsyncs every regular file in dir, then dir. */
static anvil_err
fsync_dir_files(const char *dir, char *err, size_t errlen)
{
	DIR *d = NULL;
	struct dirent *de;
	struct stat sb;
	char *p = NULL;
	anvil_err rc = ANVIL_OK;

	if ((d = opendir(dir)) == NULL)
		return errf(err, errlen, ANVIL_ERR_IO, "%s: %s", dir,
		    strerror(errno));
	while (rc == ANVIL_OK && (de = readdir(d)) != NULL) {
		if (asprintf(&p, "%s/%s", dir, de->d_name) < 0) {
			p = NULL;
			rc = ANVIL_ERR_NOMEM;
			break;
		}
		if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode))
			rc = fsync_path(p, 0, err, errlen);
		free(p);
		p = NULL;
	}
	closedir(d);
	if (rc == ANVIL_OK)
		rc = fsync_path(dir, 1, err, errlen);
	return rc;
}

/*
 * Copies the live environment of st into the existing empty folder target
 * with DB_ENV->backup, after a forced checkpoint so that recovery of the
 * copy has little to replay.
 */
static anvil_err
hot_copy(struct store *st, const char *target, char *err, size_t errlen)
{
	int ret;
	anvil_err rc = ANVIL_ERR_STORE;

	if (st->env == NULL)
		return errf(err, errlen, ANVIL_ERR_STORE, "%s is not open "
		    "(an earlier reopen failed)", st->home);
	if (st->pid != bdb_self())
		return errf(err, errlen, ANVIL_ERR_STORE,
		    "store handle used in a forked child; open one there");
	/* In the fence, with no watchdog: a copy may take its time, and a
	 * recovery waits for it. */
	bdb_fence_share(st);
	st->bdbmsg[0] = '\0';
	if ((ret = st->env->txn_checkpoint(st->env, 0, 0, DB_FORCE)) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_STORE,
		    "DB_ENV->txn_checkpoint(%s): %s", st->home,
		    db_strerror(ret));
		goto out;
	}
	st->bdbmsg[0] = '\0';
	st->checksum_bad = 0;
	progress_show(st->progress, "copying", 0, 0, 1);
	if ((ret = st->env->backup(st->env, target, 0)) != 0) {
		rc = errf(err, errlen, st->checksum_bad ? ANVIL_ERR_CORRUPT :
		    ANVIL_ERR_STORE, "DB_ENV->backup(%s to %s): %s", st->home,
		    target, st->bdbmsg[0] ? st->bdbmsg : db_strerror(ret));
		goto out;
	}
	rc = ANVIL_OK;
out:
	if (!st->hold)
		bdb_fence_leave(st);
	return rc;
}

/*
 * Catastrophic recovery of a hot copy in a private environment (nobody
 * else may use dir), then a checkpoint and removal of the log files the
 * recovered copy no longer needs; leaves no region files behind.
 */
static anvil_err
recover_copy(const char *dir, char *err, size_t errlen)
{
	struct capture cap;
	DB_ENV *env = NULL;
	int ret;
	anvil_err rc = ANVIL_ERR_STORE;

	memset(&cap, 0, sizeof(cap));
	if ((ret = db_env_create(&env, 0)) != 0)
		return errf(err, errlen, ANVIL_ERR_STORE, "db_env_create: %s",
		    db_strerror(ret));
	env->app_private = &cap;
	env->set_errcall(env, capture_errcall);
	env->set_msgcall(env, bdb_msgcall);
	ret = env->open(env, dir, DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG |
	    DB_INIT_MPOOL | DB_INIT_TXN | DB_RECOVER_FATAL | DB_PRIVATE,
	    FILE_MODE);
	if (ret != 0) {
		rc = errf(err, errlen, ret == DB_RUNRECOVERY ||
		    strstr(cap.msg, "checksum") != NULL ? ANVIL_ERR_CORRUPT :
		    ANVIL_ERR_STORE, "recovery of the copy in %s: %s", dir,
		    cap.msg[0] ? cap.msg : db_strerror(ret));
		goto out;
	}
	if ((ret = env->txn_checkpoint(env, 0, 0, DB_FORCE)) != 0 ||
	    (ret = env->log_archive(env, NULL, DB_ARCH_REMOVE)) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_STORE, "checkpoint of the "
		    "copy in %s: %s", dir, cap.msg[0] ? cap.msg :
		    db_strerror(ret));
		goto out;
	}
	rc = ANVIL_OK;
out:
	ret = env->close(env, 0);
	if (ret != 0 && rc == ANVIL_OK)
		rc = errf(err, errlen, ANVIL_ERR_STORE, "closing the copy in "
		    "%s: %s", dir, db_strerror(ret));
	return rc;
}

/* Removes trailing slashes (keeps "/"); new string. */
static char *
strip_slashes(const char *p)
{
	char *s = strdup(p);
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

/* The folder holding path (new string): "." for a bare name. */
static char *
parent_of(const char *path)
{
	const char *sl = strrchr(path, '/');

	if (sl == NULL)
		return strdup(".");
	if (sl == path)
		return strdup("/");
	return strndup(path, (size_t)(sl - path));
}

/*
 * A forced checkpoint, then Berkeley DB's own hot backup (DB_ENV->backup:
 * every database file copied in step with the cache's writes, then every
 * log file), then catastrophic recovery in the copy and removal of the
 * logs it no longer needs.
 */
anvil_err
store_backup(struct store *st, const char *dir, char *err, size_t errlen)
{
	struct stat sb;
	char *target = NULL, *tmp = NULL, *parent = NULL, *path = NULL;
	DIR *d = NULL;
	struct dirent *de;
	int i, made = 0;
	anvil_err rc = ANVIL_ERR_STORE;

	if (st == NULL || dir == NULL || *dir == '\0')
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_backup: no store or folder");
	if ((target = strip_slashes(dir)) == NULL)
		return ANVIL_ERR_NOMEM;
	if (stat(target, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode)) {
			rc = errf(err, errlen, ANVIL_ERR_EXISTS,
			    "%s exists and is not a folder", target);
			goto out;
		}
		if ((d = opendir(target)) == NULL) {
			rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s", target,
			    strerror(errno));
			goto out;
		}
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0) {
				rc = errf(err, errlen, ANVIL_ERR_EXISTS,
				    "%s is not empty", target);
				goto out;
			}
		}
	} else if (errno != ENOENT) {
		rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s", target,
		    strerror(errno));
		goto out;
	}
	if (asprintf(&tmp, "%s.partial-XXXXXX", target) < 0) {
		tmp = NULL;
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if (mkdtemp(tmp) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_IO, "creating %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	made = 1;
	if ((rc = hot_copy(st, tmp, err, errlen)) != ANVIL_OK ||
	    (rc = recover_copy(tmp, err, errlen)) != ANVIL_OK)
		goto out;
	for (i = 0; i < DBI__MAX; i++) {
		free(path);
		if (asprintf(&path, "%s/%s", tmp, bdb_desc[i].file) < 0) {
			path = NULL;
			rc = ANVIL_ERR_NOMEM;
			goto out;
		}
		if ((rc = bdb_file_check(path, err, errlen)) != ANVIL_OK) {
			if (rc == ANVIL_ERR_NOTFOUND)
				rc = errf(err, errlen, ANVIL_ERR_STORE,
				    "the backup lacks %s", bdb_desc[i].file);
			goto out;
		}
	}
	if ((rc = fsync_dir_files(tmp, err, errlen)) != ANVIL_OK)
		goto out;
	if (rename(tmp, target) != 0) {
		rc = errf(err, errlen, errno == ENOTEMPTY || errno == EEXIST ?
		    ANVIL_ERR_EXISTS : ANVIL_ERR_IO, "renaming %s to %s: %s",
		    tmp, target, strerror(errno));
		goto out;
	}
	made = 0;
	if ((parent = parent_of(target)) == NULL) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	rc = fsync_path(parent, 1, err, errlen);
out:
	if (d != NULL)
		closedir(d);
	if (made)
		rm_tree(tmp);
	free(path);
	free(parent);
	free(tmp);
	free(target);
	return rc;
}

/* DB->verify on one file that nobody has open; the message into why. */
static int
verify_file(const char *path, char *why, size_t whylen)
{
	struct capture cap;
	DB *db = NULL;
	int ret;

	memset(&cap, 0, sizeof(cap));
	why[0] = '\0';
	if ((ret = db_create(&db, NULL, 0)) != 0) {
		snprintf(why, whylen, "db_create: %s", db_strerror(ret));
		return ret;
	}
	db->dbenv->app_private = &cap;
	db->set_errcall(db, capture_errcall);
	/* The handle is gone after verify, whatever it returns. */
	ret = db->verify(db, path, NULL, NULL, 0);
	if (ret != 0)
		snprintf(why, whylen, "%s", cap.msg[0] ? cap.msg :
		    db_strerror(ret));
	return ret;
}

/* Number of key/data pairs in database i (duplicates counted). */
static anvil_err
count_pairs(struct store_txn *t, enum dbi i, size_t *n)
{
	DBC *c = NULL;
	DBT k, d;
	int ret;
	anvil_err rc;

	*n = 0;
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
			break;
		}
		(*n)++;
	}
	return bdb_cur_close(t, i, c, rc);
}

/* 1 if the pair key/data is in sorted-duplicates index i. */
static anvil_err
pair_present(struct store_txn *t, enum dbi i, const void *key, size_t klen,
    const void *data, size_t dlen, int *present)
{
	DBC *c = NULL;
	DBT k, d;
	int ret;
	anvil_err rc;

	*present = 0;
	if ((rc = bdb_cur_open(t, i, 0, &c)) != ANVIL_OK)
		return rc;
	bdb_dbt_set(&k, key, klen);
	bdb_dbt_set(&d, data, dlen);
	ret = c->get(c, &k, &d, DB_GET_BOTH);
	bdb_wd_tick();
	if (ret == 0)
		*present = 1;
	else if (ret != DB_NOTFOUND)
		rc = bdb_sort(t->st, t, "DBC->get", bdb_desc[i].file, ret);
	return bdb_cur_close(t, i, c, rc);
}

struct vcheck {
	size_t expect[DBI__MAX];	/* index entries the records imply */
	size_t problems;
	size_t walked;			/* records read, for the progress line */
	char msg[1024];			/* the first few problems */
};

static void vproblem(struct vcheck *, const char *, ...)
	__attribute__((format(printf, 2, 3)));

static void
vproblem(struct vcheck *v, const char *fmt, ...)
{
	va_list ap;
	size_t len = strlen(v->msg);

	v->problems++;
	if (v->problems > 4 || len + 8 >= sizeof(v->msg))
		return;
	if (len > 0) {
		snprintf(v->msg + len, sizeof(v->msg) - len, "; ");
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(v->msg + len, sizeof(v->msg) - len, fmt, ap);
	va_end(ap);
}

/* Each record of kind: key, JSON, and the index entries it implies. */
static anvil_err
check_kind(struct store_txn *t, enum store_kind kind, struct vcheck *v)
{
	enum dbi i = (enum dbi)kind;
	DBC *c = NULL;
	DBT k, d;
	json_t *rec = NULL;
	struct rec_idx ix;
	const void *data = NULL;
	size_t len = 0;
	char id[ID_MAX + 1];
	int ret, present;
	anvil_err rc = ANVIL_OK, r;

	memset(&ix, 0, sizeof(ix));
	if ((rc = bdb_cur_open(t, i, 0, &c)) != ANVIL_OK)
		return rc;
	for (;;) {
		rec_idx_clear(&ix);
		json_decref(rec);
		rec = NULL;
		bdb_dbt_set(&k, NULL, 0);
		bdb_dbt_set(&d, NULL, 0);
		ret = c->get(c, &k, &d, DB_NEXT);
		bdb_wd_tick();
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = bdb_sort(t->st, t, "DBC->get", bdb_desc[i].file,
			    ret);
			break;
		}
		progress_show(t->st->progress, bdb_desc[i].file,
		    ++v->walked, 0, 0);
		if (!rec_idn_ok(k.data, k.size, ID_MAX)) {
			vproblem(v, "%s: a key is not a valid id",
			    bdb_desc[i].file);
			continue;
		}
		memcpy(id, k.data, k.size);
		id[k.size] = '\0';
		r = rec_parse(REC_MSG(t->st), bdb_desc[kind].file, id, d.data,
		    d.size, &rec);
		if (r == ANVIL_ERR_NOMEM) {
			rc = r;
			break;
		}
		if (r != ANVIL_OK) {
			vproblem(v, "%s", t->st->msg);
			continue;
		}
		if (rec_idx_extract(REC_MSG(t->st), kind, rec, &ix,
		    ANVIL_ERR_CORRUPT) != ANVIL_OK) {
			vproblem(v, "%s record %s: %s", bdb_desc[i].file, id,
			    t->st->msg);
			continue;
		}
		if (ix.thumb != NULL) {
			v->expect[DBI_THUMBPRINT]++;
			r = bdb_raw_get(t, DBI_THUMBPRINT, ix.thumb,
			    strlen(ix.thumb), 0, &data, &len);
			if (r != ANVIL_OK && r != ANVIL_ERR_NOTFOUND) {
				rc = r;
				break;
			}
			if (r != ANVIL_OK || len != k.size ||
			    memcmp(data, id, len) != 0)
				vproblem(v, "%s: account %s is not under its "
				    "thumbprint", bdb_desc[DBI_THUMBPRINT].file,
				    id);
		}
		if (ix.account != NULL && bdb_acct_index(kind) != DBI__MAX) {
			v->expect[bdb_acct_index(kind)]++;
			if ((rc = pair_present(t, bdb_acct_index(kind),
			    ix.account, strlen(ix.account), id, k.size,
			    &present)) != ANVIL_OK)
				break;
			if (!present)
				vproblem(v, "%s: %s of account %s is missing",
				    bdb_desc[bdb_acct_index(kind)].file, id,
				    ix.account);
		}
		if (ix.ident != NULL) {
			v->expect[DBI_ACCT_IDENT]++;
			if ((rc = pair_present(t, DBI_ACCT_IDENT, ix.ident,
			    ix.identlen, id, k.size, &present)) != ANVIL_OK)
				break;
			if (!present)
				vproblem(v, "%s: authorization %s is missing",
				    bdb_desc[DBI_ACCT_IDENT].file, id);
		}
		if (ix.revoked) {
			v->expect[DBI_REVOKED]++;
			r = bdb_raw_get(t, DBI_REVOKED, id, k.size, 0, &data,
			    &len);
			if (r == ANVIL_ERR_NOTFOUND)
				vproblem(v, "%s: revoked certificate %s is "
				    "missing", bdb_desc[DBI_REVOKED].file, id);
			else if (r != ANVIL_OK) {
				rc = r;
				break;
			}
		}
	}
	rec_idx_clear(&ix);
	json_decref(rec);
	return bdb_cur_close(t, i, c, rc);
}

/* Counters hold 8 bytes; spent nonces 1..NONCE_MAX bytes -> 8 bytes. */
static anvil_err
check_fixed(struct store_txn *t, enum dbi i, struct vcheck *v)
{
	DBC *c = NULL;
	DBT k, d;
	int ret;
	anvil_err rc;

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
			break;
		}
		if (d.size != 8 || (i == DBI_COUNTERS ?
		    !rec_idn_ok(k.data, k.size, COUNTER_MAX) :
		    (k.size == 0 || k.size > NONCE_MAX)))
			vproblem(v, "%s: an entry of the wrong size",
			    bdb_desc[i].file);
	}
	return bdb_cur_close(t, i, c, rc);
}

static anvil_err
records_fn(struct store_txn *t, void *arg)
{
	struct vcheck *v = arg;
	size_t n = 0;
	int k;
	enum dbi ixs[] = { DBI_THUMBPRINT, DBI_ACCT_ORDERS, DBI_ACCT_AUTHZ,
	    DBI_ACCT_CERTS, DBI_ACCT_IDENT, DBI_REVOKED };
	anvil_err rc;

	memset(v, 0, sizeof(*v));
	for (k = 0; k < STORE_KIND__MAX; k++)
		if ((rc = check_kind(t, (enum store_kind)k, v)) != ANVIL_OK)
			return rc;
	if ((rc = check_fixed(t, DBI_COUNTERS, v)) != ANVIL_OK ||
	    (rc = check_fixed(t, DBI_NONCES, v)) != ANVIL_OK)
		return rc;
	for (k = 0; k < (int)(sizeof(ixs) / sizeof(ixs[0])); k++) {
		if ((rc = count_pairs(t, ixs[k], &n)) != ANVIL_OK)
			return rc;
		if (n > v->expect[ixs[k]])
			vproblem(v, "%s: %zu entries, the records account "
			    "for %zu", bdb_desc[ixs[k]].file, n,
			    v->expect[ixs[k]]);
	}
	return ANVIL_OK;
}

/*
 * DB->verify must not run on a file other processes are writing (it takes
 * no locks), so it runs on each file of a recovered hot copy; then the
 * copy is opened as a store and records_fn reads it.
 */
anvil_err
store_verify(struct store *st, char *err, size_t errlen)
{
	struct vcheck v;
	struct store *snap = NULL;
	char *data_dir = NULL, *base = NULL, *home = NULL, *path = NULL;
	char why[320], bad[1024] = "", rerr[512] = "", serr[512] = "";
	size_t blen = 0, nbad = 0;
	int i;
	anvil_err rc = ANVIL_ERR_STORE, rrc;

	if (st == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_verify: no store");
	if ((data_dir = parent_of(st->home)) == NULL ||
	    asprintf(&base, "%s/.anvil-check-XXXXXX", data_dir) < 0) {
		base = NULL;
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if (mkdtemp(base) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_IO, "creating %s: %s", base,
		    strerror(errno));
		free(base);
		base = NULL;
		goto out;
	}
	if (asprintf(&home, "%s/%s", base, STORE_SUBDIR) < 0) {
		home = NULL;
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if (mkdir(home, DIR_MODE) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_IO, "creating %s: %s", home,
		    strerror(errno));
		goto out;
	}
	if ((rc = hot_copy(st, home, err, errlen)) != ANVIL_OK)
		goto out;
	/* Recovery of the copy reads every page the log touches; a damaged
	 * one stops it, and DB->verify below says which file it was in. */
	rrc = recover_copy(home, rerr, sizeof(rerr));

	for (i = 0; i < DBI__MAX; i++) {
		free(path);
		if (asprintf(&path, "%s/%s", home, bdb_desc[i].file) < 0) {
			path = NULL;
			rc = ANVIL_ERR_NOMEM;
			goto out;
		}
		progress_show(st->progress, bdb_desc[i].file, (size_t)i + 1,
		    DBI__MAX, 1);
		if (bdb_file_check(path, why, sizeof(why)) != ANVIL_OK ||
		    verify_file(path, why, sizeof(why)) != 0) {
			nbad++;
			if (blen + 8 < sizeof(bad))
				blen += (size_t)snprintf(bad + blen,
				    sizeof(bad) - blen, "%s%s (%s)",
				    blen ? "; " : "", bdb_desc[i].file, why);
			if (blen >= sizeof(bad))
				blen = sizeof(bad) - 1;
		}
	}
	if (nbad > 0) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT, "%s: %zu damaged "
		    "file%s: %s", st->home, nbad, nbad == 1 ? "" : "s", bad);
		goto out;
	}
	if (rrc != ANVIL_OK) {
		rc = errf(err, errlen, rrc, "%s", rerr);
		goto out;
	}

	/* Records and indexes, read from the recovered snapshot. */
	if ((rc = store_open(base, 0, &snap, serr, sizeof(serr))) !=
	    ANVIL_OK) {
		rc = errf(err, errlen, rc, "opening the snapshot: %s", serr);
		goto out;
	}
	memset(&v, 0, sizeof(v));
	snap->progress = st->progress;
	/* A private snapshot: the walk needs no locks it would keep. */
	rc = store_run(snap, STORE_TXN_READ_COMMITTED, records_fn, &v, serr,
	    sizeof(serr));
	if (rc != ANVIL_OK) {
		rc = errf(err, errlen, rc, "reading the snapshot: %s", serr);
		goto out;
	}
	if (v.problems > 0) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT, "%s: %zu record or "
		    "index problem%s: %s%s", st->home, v.problems,
		    v.problems == 1 ? "" : "s", v.msg, v.problems > 4 ?
		    "; ..." : "");
		goto out;
	}
	rc = ANVIL_OK;
out:
	store_close(snap);
	if (base != NULL)
		rm_tree(base);
	free(path);
	free(home);
	free(base);
	free(data_dir);
	return rc;
}

void
store_set_progress(struct store *st, struct progress *p)
{
	if (st != NULL)
		st->progress = p;
}
