/*
 * pg.c - the PostgreSQL backend of store.h, through libpq
 * (src/store/backend.h).
 *
 * DESCRIPTION
 *	Several hosts share one database (issue 23, README "Growing past one
 *	machine"). Every record is one row of `records`, keyed by (kind, id),
 *	holding the same compact JSON the Berkeley DB backend writes; the
 *	columns store.h's indexes need (thumbprint, account, identifier,
 *	revoked) are filled from the record by the same put, so record and
 *	index never disagree. Counters are rows of `counters`, spent nonces
 *	rows of `nonces` keyed by the nonce bytes.
 *
 *	store_run runs each function in one SERIALIZABLE transaction: the
 *	handlers read a record, check it and write it back (an order's
 *	status, an authorization's challenges), which the Berkeley DB backend
 *	makes atomic with its locks; SERIALIZABLE gives the same without a
 *	FOR UPDATE on every read. A transaction that lost (SQLSTATE 40001,
 *	40P01, or a lock wait past lock_timeout) is ANVIL_ERR_DEADLOCK and
 *	run again, a bounded number of times, as store.h says.
 *	STORE_TXN_READ_COMMITTED runs READ COMMITTED; STORE_TXN_NOSYNC turns
 *	synchronous_commit off for the one transaction.
 *
 *	Each call of store.h is one round trip to the server: the
 *	transaction's BEGIN waits for its first statement and goes out with
 *	it in libpq's pipeline mode, and so does the Parse of a statement
 *	the connection has not prepared yet (qx). store_put is one upsert.
 *
 *	A nonce spend is its own INSERT ... ON CONFLICT DO NOTHING: of N
 *	concurrent spends of one nonce on any number of hosts the unique key
 *	lets exactly one insert a row; the others see zero rows (EXISTS).
 *
 *	The schema carries a version (`schema_version`); migrations are
 *	numbered and each runs once, under an advisory lock, in one
 *	transaction with its version row. An unreachable server is
 *	ANVIL_ERR_UNAVAILABLE (a 503 for the ACME client); a broken
 *	connection is reset at the next store_run. store_backup refuses and
 *	points at pg_dump, which already takes a consistent copy of a live
 *	database.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/error.h"
#include "core/log.h"
#include "store/backend.h"
#include "store/pq_dl.h"
#include "store/rec.h"
#include "store/store.h"

#define TRIES_MAX	50		/* store_run attempts on conflicts ... */
#define RUN_MAX_S	30		/* ... and seconds, whichever first */
#define BACKOFF_US	500		/* back-off unit, microseconds */
#define FETCH_ROWS	256		/* rows per FETCH of a walk */
#define PURGE_BATCH	1000		/* nonces deleted per statement */
#define PURGE_ROUNDS	100000		/* bound on purge statements */
#define VERIFY_REPORT	8		/* damaged rows named in err */

/* libpq, loaded by the first o_open of the process (src/store/pq_dl.h). */
static const struct store_pq_api *pq;
#define PREP_MAX	32		/* prepared statements a connection */

/*
 * Bounds on every wait inside the server: a statement, a lock wait (then
 * the transaction is retried as a conflict), a transaction left open by a
 * process that stopped talking.
 */
#define SESSION_SETUP \
	"SET statement_timeout = '30s'; SET lock_timeout = '5s'; " \
	"SET idle_in_transaction_session_timeout = '60s'"

/* What SERIALIZABLE conflicts, deadlocks and lock timeouts are called. */
#define SQLSTATE_RETRY(s) (strcmp((s), "40001") == 0 || \
	strcmp((s), "40P01") == 0 || strcmp((s), "55P03") == 0)

/* The migrations, numbered from 1; each runs once, in order. */
static const char *const migrations[] = {
	/* 1: records with their index columns, counters, nonces. */
	"CREATE TABLE records ("
	" kind smallint NOT NULL,"
	" id text COLLATE \"C\" NOT NULL,"
	" rec text NOT NULL,"
	" account text COLLATE \"C\","
	" thumb text COLLATE \"C\","
	" itype text COLLATE \"C\","
	" ivalue text COLLATE \"C\","
	" revoked boolean NOT NULL DEFAULT false,"
	" PRIMARY KEY (kind, id));"
	"CREATE UNIQUE INDEX records_thumb ON records (thumb)"
	" WHERE thumb IS NOT NULL;"
	"CREATE INDEX records_account ON records (kind, account, id)"
	" WHERE account IS NOT NULL;"
	"CREATE INDEX records_ident ON records (account, itype, ivalue, id)"
	" WHERE ivalue IS NOT NULL;"
	"CREATE INDEX records_revoked ON records (id) WHERE revoked;"
	"CREATE TABLE counters ("
	" name text COLLATE \"C\" PRIMARY KEY,"
	" val bigint NOT NULL CHECK (val >= 0));"
	"CREATE TABLE nonces ("
	" nonce bytea PRIMARY KEY,"
	" expires bigint NOT NULL);"
	"CREATE INDEX nonces_expires ON nonces (expires);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

struct pg_store {
	PGconn *conn;		/* NULL or broken: reset at the next run */
	char *conninfo;
	char timeout[16];	/* connect_timeout, seconds */
	pid_t pid;		/* process that opened it */
	uint64_t rnd;		/* back-off generator state */
	anvil_err msg_code;	/* code msg explains */
	char msg[320];		/* last failure, for store_run's err */
	struct progress *progress; /* store_set_progress; unused here */
	int schema_was;		/* schema version found at open */
	int64_t nonce_floor;	/* server start (ms), from the last spend */
	const char *prep[PREP_MAX]; /* statements prepared on conn (qx) */
	int prep_ready[PREP_MAX];	/* ... and taken by the server */
	unsigned nprep;
};

struct pg_txn {
	struct pg_store *st;
	anvil_err failed;	/* a statement failed: the server aborted the
				 * transaction, every later call is refused */
	int broken;		/* the connection went away */
	const char *begin[2];	/* BEGIN (and SET LOCAL) not sent yet: they
				 * go with the first statement (qx) */
	const char *pre;	/* a walk's DECLARE, sent with its first
				 * FETCH (qx) */
	unsigned walks;		/* walks so far, for cursor names */
};

/* ------------------------------------------------------------ errors */

static anvil_err
pg_fail(struct pg_store *st, anvil_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static anvil_err
pg_fail(struct pg_store *st, anvil_err code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
	st->msg_code = code;
	return code;
}

/* libpq's message without its trailing newline, in buf. */
static const char *
one_line(const char *s, char *buf, size_t len)
{
	size_t n;

	snprintf(buf, len, "%s", s != NULL && *s != '\0' ? s : "no message");
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return buf;
}

/*
 * Sorts a failed result into an anvil_err: a lost conflict is
 * ANVIL_ERR_DEADLOCK, a unique key ANVIL_ERR_EXISTS, a server or
 * connection that is away ANVIL_ERR_UNAVAILABLE, a number out of range
 * ANVIL_ERR_INVALID, the rest ANVIL_ERR_STORE. Marks t.
 */
static anvil_err
sort(struct pg_txn *t, const PGresult *res, const char *what)
{
	struct pg_store *st = t->st;
	const char *state = res != NULL ?
	    pq->PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char line[256];
	anvil_err code = ANVIL_ERR_STORE;

	one_line(res != NULL ? pq->PQresultErrorMessage(res) :
	    pq->PQerrorMessage(st->conn), line, sizeof(line));
	if (pq->PQstatus(st->conn) != CONNECTION_OK || state == NULL ||
	    strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0) {
		code = ANVIL_ERR_UNAVAILABLE;
		t->broken = 1;
	} else if (SQLSTATE_RETRY(state))
		code = ANVIL_ERR_DEADLOCK;
	else if (strcmp(state, "23505") == 0)
		code = ANVIL_ERR_EXISTS;
	else if (strcmp(state, "22003") == 0)
		code = ANVIL_ERR_INVALID;
	if (t->failed == ANVIL_OK)
		t->failed = code;
	if (code == ANVIL_ERR_STORE || code == ANVIL_ERR_UNAVAILABLE)
		log_err("store: %s: %s", what, line);
	return pg_fail(st, code, "%s: %s", what, line);
}

/*
 * Prepared statements of this connection: the slot of sql (a string
 * literal of this file, known by its address), and whether the server
 * has it already (*ready); -1 when every slot is taken.
 */
static int
prep_slot(struct pg_store *st, const char *sql, int *ready)
{
	unsigned i;

	*ready = 0;
	for (i = 0; i < st->nprep; i++)
		if (st->prep[i] == sql) {
			*ready = st->prep_ready[i];
			return (int)i;
		}
	if (st->nprep == PREP_MAX)
		return -1;
	st->prep[st->nprep] = sql;
	st->prep_ready[st->nprep] = 0;
	return (int)st->nprep++;
}

/* What each command of a pipeline is. */
enum cmd { CMD_BEGIN, CMD_PRE, CMD_PREPARE, CMD_STMT };

/*
 * Runs sql with n text parameters in t and checks it returned want;
 * *out (if not NULL) gets the result, else it is cleared. One round
 * trip: in libpq's pipeline mode the BEGIN that attempt() left to the
 * first statement (t->begin), a walk's DECLARE (t->pre), the Parse of a
 * statement this connection has not prepared yet (prep: sql is a string
 * literal) and the statement itself go out together, ended by one Sync.
 * Sync ends no transaction that BEGIN opened; outside one it commits the
 * statement, as a simple query would.
 */
static anvil_err
qx(struct pg_txn *t, const char *what, const char *sql, int prep, int n,
    const char *const *vals, const int *lens, const int *fmts,
    ExecStatusType want, PGresult **out)
{
	struct pg_store *st = t->st;
	PGconn *c = st->conn;
	PGresult *res = NULL, *mine = NULL, *bad = NULL;
	enum cmd cmds[5];
	const char *bad_what = what;
	char name[24];
	int sent = 0, i, slot = -1, ready = 0, ok = 1, prep_ok = 0;
	ExecStatusType status;
	anvil_err rc = ANVIL_OK;

	if (out != NULL)
		*out = NULL;
	/* The first failure's message stays in st->msg. */
	if (t->failed != ANVIL_OK)
		return t->failed;
	if (prep && (slot = prep_slot(st, sql, &ready)) >= 0)
		snprintf(name, sizeof(name), "anvil_%d", slot);
	if (pq->PQenterPipelineMode(c) != 1)
		return sort(t, NULL, what);
	for (i = 0; ok && i < 2 && t->begin[i] != NULL; i++) {
		ok = pq->PQsendQueryParams(c, t->begin[i], 0, NULL, NULL, NULL,
		    NULL, 0);
		cmds[sent++] = CMD_BEGIN;
	}
	t->begin[0] = t->begin[1] = NULL;
	if (ok && t->pre != NULL) {
		ok = pq->PQsendQueryParams(c, t->pre, 0, NULL, NULL, NULL, NULL,
		    0);
		cmds[sent++] = CMD_PRE;
	}
	t->pre = NULL;
	if (ok && slot >= 0 && !ready) {
		ok = pq->PQsendPrepare(c, name, sql, n, NULL);
		cmds[sent++] = CMD_PREPARE;
	}
	if (ok) {
		ok = slot >= 0 ? pq->PQsendQueryPrepared(c, name, n, vals, lens,
		    fmts, 0) : pq->PQsendQueryParams(c, sql, n, NULL, vals, lens,
		    fmts, 0);
		cmds[sent++] = CMD_STMT;
	}
	if (ok)
		ok = pq->PQpipelineSync(c);
	/*
	 * Each command's result, then the NULL that ends it; after a
	 * command failed the rest are PGRES_PIPELINE_ABORTED. Then the
	 * Sync's own result.
	 */
	for (i = 0; ok && i < sent; i++) {
		if ((res = pq->PQgetResult(c)) == NULL) {
			ok = 0;
			break;
		}
		status = pq->PQresultStatus(res);
		if (cmds[i] == CMD_STMT && status == want) {
			mine = res;
		} else if (cmds[i] != CMD_STMT &&
		    status == PGRES_COMMAND_OK) {
			prep_ok |= cmds[i] == CMD_PREPARE;
			pq->PQclear(res);
		} else if (bad == NULL && status != PGRES_PIPELINE_ABORTED) {
			bad = res;
			bad_what = cmds[i] == CMD_BEGIN ? "BEGIN" : what;
		} else
			pq->PQclear(res);
		res = NULL;
		if ((res = pq->PQgetResult(c)) != NULL) {
			pq->PQclear(res);
			ok = 0;
		}
	}
	if (ok) {
		res = pq->PQgetResult(c);
		ok = res != NULL && pq->PQresultStatus(res) == PGRES_PIPELINE_SYNC;
		pq->PQclear(res);
	}
	/* A connection left in pipeline mode is made anew (conn_up). */
	if (ok)
		ok = pq->PQexitPipelineMode(c);
	if (prep_ok)
		st->prep_ready[slot] = 1;
	if (!ok) {
		/* libpq lost track of the pipeline: the connection is
		 * broken as far as this transaction is concerned. */
		pq->PQclear(bad);
		bad = NULL;
		pq->PQclear(mine);
		mine = NULL;
		return sort(t, NULL, what);
	}
	if (bad != NULL || mine == NULL) {
		rc = sort(t, bad, bad_what);
		pq->PQclear(bad);
		pq->PQclear(mine);
		return rc;
	}
	if (out != NULL)
		*out = mine;
	else
		pq->PQclear(mine);
	return ANVIL_OK;
}

/* qx of a string literal of this file: prepared once per connection. */
#define q(t, what, sql, n, vals, lens, fmts, want, out) \
	qx((t), (what), (sql), 1, (n), (vals), (lens), (fmts), (want), (out))

/* ------------------------------------------------------------ checks */

static anvil_err
usable(struct pg_txn *t)
{
	if (t == NULL || t->st == NULL || t->st->conn == NULL)
		return ANVIL_ERR_INVALID;
	return ANVIL_OK;
}

/* rec_parse (src/store/rec.h) of a row of kind. */
static anvil_err
row_parse(struct pg_store *st, enum store_kind kind, const char *id,
    const char *data, size_t len, json_t **out)
{
	char where[24];

	snprintf(where, sizeof(where), "records %d", (int)kind);
	return rec_parse(REC_MSG(st), where, id, data, len, out);
}

/* ------------------------------------------------------------ connection */

/* The server's notices (NOTICE, WARNING) go to the debug log. */
static void
notice(void *arg, const char *msg)
{
	char line[256];

	(void)arg;
	log_debug("store: PostgreSQL: %s", one_line(msg, line, sizeof(line)));
}

static anvil_err
session_setup(struct pg_store *st)
{
	PGresult *res = pq->PQexec(st->conn, SESSION_SETUP);
	char line[256];
	anvil_err rc = ANVIL_OK;

	if (res == NULL || pq->PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = pg_fail(st, ANVIL_ERR_UNAVAILABLE, "PostgreSQL session "
		    "setup: %s", one_line(pq->PQerrorMessage(st->conn), line,
		    sizeof(line)));
	pq->PQclear(res);
	return rc;
}

/*
 * Connects (or, with a connection that broke, reconnects) within the
 * connect timeout. A server that does not answer is ANVIL_ERR_UNAVAILABLE.
 */
static anvil_err
conn_up(struct pg_store *st)
{
	static const char *const keys[] = { "connect_timeout",
	    "application_name", "client_encoding", "dbname", NULL };
	const char *vals[5];
	char line[256];

	if (st->conn != NULL && pq->PQstatus(st->conn) == CONNECTION_OK &&
	    pq->PQtransactionStatus(st->conn) == PQTRANS_IDLE &&
	    pq->PQpipelineStatus(st->conn) == PQ_PIPELINE_OFF)
		return ANVIL_OK;
	if (st->conn != NULL) {
		pq->PQfinish(st->conn);
		st->conn = NULL;
	}
	/* A new session has no prepared statements. */
	st->nprep = 0;
	/* The conninfo's own connect_timeout, if any, comes later and
	 * wins over the configured one. */
	vals[0] = st->timeout;
	vals[1] = "anvil";
	vals[2] = "UTF8";
	vals[3] = st->conninfo;
	vals[4] = NULL;
	st->conn = pq->PQconnectdbParams(keys, vals, 1);
	if (st->conn == NULL)
		return pg_fail(st, ANVIL_ERR_NOMEM, "out of memory");
	if (pq->PQstatus(st->conn) != CONNECTION_OK)
		return pg_fail(st, ANVIL_ERR_UNAVAILABLE, "PostgreSQL: %s",
		    one_line(pq->PQerrorMessage(st->conn), line, sizeof(line)));
	pq->PQsetNoticeProcessor(st->conn, notice, NULL);
	return session_setup(st);
}

/* ------------------------------------------------------------ schema */

/* The schema version in the database; 0 if it has none. */
static anvil_err
schema_read(struct pg_txn *t, int *ver)
{
	PGresult *res = NULL;
	anvil_err rc;

	*ver = 0;
	if ((rc = q(t, "schema check", "SELECT to_regclass('schema_version') "
	    "IS NOT NULL", 0, NULL, NULL, NULL, PGRES_TUPLES_OK, &res)) !=
	    ANVIL_OK)
		return rc;
	if (pq->PQntuples(res) != 1 || strcmp(pq->PQgetvalue(res, 0, 0), "t") != 0) {
		pq->PQclear(res);
		return ANVIL_OK;
	}
	pq->PQclear(res);
	if ((rc = q(t, "schema version", "SELECT coalesce(max(version), 0) "
	    "FROM schema_version", 0, NULL, NULL, NULL, PGRES_TUPLES_OK,
	    &res)) != ANVIL_OK)
		return rc;
	*ver = pq->PQntuples(res) == 1 ? atoi(pq->PQgetvalue(res, 0, 0)) : 0;
	pq->PQclear(res);
	return ANVIL_OK;
}

static anvil_err
simple(struct pg_txn *t, const char *what, const char *sql)
{
	PGresult *res = NULL;
	anvil_err rc = ANVIL_OK;

	if (t->failed != ANVIL_OK)
		return t->failed;
	res = pq->PQexec(t->st->conn, sql);
	if (res == NULL || (pq->PQresultStatus(res) != PGRES_COMMAND_OK &&
	    pq->PQresultStatus(res) != PGRES_TUPLES_OK))
		rc = sort(t, res, what);
	pq->PQclear(res);
	return rc;
}

/*
 * Brings the schema to SCHEMA_VERSION: every migration past the one the
 * database has, with its version row, in one transaction under an
 * advisory lock, so that hosts opening at once migrate once and nobody
 * sees half a schema.
 */
static anvil_err
migrate(struct pg_store *st, int *from)
{
	struct pg_txn t = { .st = st };
	char sql[96];
	int ver = 0, i;
	anvil_err rc;

	*from = 0;
	if ((rc = simple(&t, "BEGIN", "BEGIN")) != ANVIL_OK)
		return rc;
	if ((rc = simple(&t, "schema lock", "SELECT pg_advisory_xact_lock("
	    "hashtext('anvil schema'))")) != ANVIL_OK)
		goto out;
	if ((rc = simple(&t, "schema_version", "CREATE TABLE IF NOT EXISTS "
	    "schema_version (version integer PRIMARY KEY, "
	    "applied timestamptz NOT NULL DEFAULT now())")) != ANVIL_OK)
		goto out;
	if ((rc = schema_read(&t, &ver)) != ANVIL_OK)
		goto out;
	*from = ver;
	if (ver > SCHEMA_VERSION) {
		rc = pg_fail(st, ANVIL_ERR_VERSION, "database schema %d is "
		    "newer than this Anvil's (%d)", ver, SCHEMA_VERSION);
		goto out;
	}
	for (i = ver; i < SCHEMA_VERSION; i++) {
		if ((rc = simple(&t, "migration", migrations[i])) != ANVIL_OK)
			goto out;
		snprintf(sql, sizeof(sql), "INSERT INTO schema_version "
		    "(version) VALUES (%d)", i + 1);
		if ((rc = simple(&t, "schema_version", sql)) != ANVIL_OK)
			goto out;
	}
	rc = simple(&t, "COMMIT", "COMMIT");
out:
	if (rc != ANVIL_OK)
		pq->PQclear(pq->PQexec(st->conn, "ROLLBACK"));
	return rc;
}

/* ------------------------------------------------------------ open */

static void
o_close(void *sp)
{
	struct pg_store *st = sp;

	if (st == NULL)
		return;
	if (st->conn != NULL)
		pq->PQfinish(st->conn);
	free(st->conninfo);
	free(st);
}

static anvil_err
o_open(const char *data_dir, const struct store_cfg *cfg, unsigned flags,
    void **out, char *err, size_t errlen)
{
	struct pg_store *st = NULL;
	struct pg_txn t;
	int ver = 0;
	anvil_err rc;

	(void)data_dir;
	*out = NULL;
	if (cfg == NULL || cfg->conninfo == NULL || *cfg->conninfo == '\0')
		return errf(err, errlen, ANVIL_ERR_CONFIG, "store backend "
		    "postgresql needs a conninfo");
	if ((rc = store_pq_load(&pq, err, errlen)) != ANVIL_OK)
		return rc;
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->conninfo = strdup(cfg->conninfo)) == NULL) {
		o_close(st);
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	}
	snprintf(st->timeout, sizeof(st->timeout), "%u",
	    cfg->connect_timeout != 0 ? cfg->connect_timeout :
	    STORE_CONNECT_TIMEOUT);
	st->pid = getpid();
	st->rnd = ((uint64_t)st->pid << 32) ^ (uint64_t)time(NULL) ^
	    (uint64_t)(uintptr_t)st;
	if ((rc = conn_up(st)) != ANVIL_OK)
		goto out;
	if (flags & STORE_OPEN_MIGRATE) {
		rc = migrate(st, &st->schema_was);
		goto out;
	}
	memset(&t, 0, sizeof(t));
	t.st = st;
	if ((rc = schema_read(&t, &ver)) != ANVIL_OK)
		goto out;
	st->schema_was = ver;
	if (ver == 0)
		rc = pg_fail(st, ANVIL_ERR_NOTFOUND, "the database has no "
		    "Anvil schema; run anvil-admin init");
	else if (ver > SCHEMA_VERSION)
		rc = pg_fail(st, ANVIL_ERR_VERSION, "database schema %d is "
		    "newer than this Anvil's (%d)", ver, SCHEMA_VERSION);
	else if (ver < SCHEMA_VERSION)
		rc = pg_fail(st, ANVIL_ERR_VERSION, "database schema %d is "
		    "older than this Anvil's (%d); run anvil-admin db migrate",
		    ver, SCHEMA_VERSION);
out:
	if (rc != ANVIL_OK) {
		errf(err, errlen, rc, "%s", st->msg[0] != '\0' ? st->msg :
		    anvil_strerror(rc));
		o_close(st);
		return rc;
	}
	*out = st;
	return ANVIL_OK;
}

static void
o_nothing(void *st)
{
	(void)st;
}

/* ------------------------------------------------------------ run */

static void
backoff(struct pg_store *st, int tries)
{
	uint64_t x = st->rnd;
	unsigned shift = tries < 8 ? (unsigned)tries : 8;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	st->rnd = x;
	usleep((useconds_t)(x % ((uint64_t)BACKOFF_US << shift)));
}

static anvil_err
attempt(struct pg_store *st, unsigned flags, store_be_fn fn, void *arg,
    struct pg_txn *t, int *sent_commit)
{
	PGresult *res = NULL;
	anvil_err rc;

	*sent_commit = 0;
	/* Sent with fn's first statement (qx), in the same round trip. */
	t->begin[0] = (flags & STORE_TXN_READ_COMMITTED) ?
	    "BEGIN ISOLATION LEVEL READ COMMITTED" :
	    "BEGIN ISOLATION LEVEL SERIALIZABLE";
	t->begin[1] = (flags & STORE_TXN_NOSYNC) ?
	    "SET LOCAL synchronous_commit TO off" : NULL;
	rc = fn(t, arg);
	/* fn ran no statement: there is no transaction to end. */
	if (t->begin[0] != NULL) {
		t->begin[0] = t->begin[1] = NULL;
		return rc;
	}
	/* A statement that failed aborted the transaction on the server,
	 * whatever fn made of its error. */
	if (t->failed == ANVIL_ERR_DEADLOCK || t->failed ==
	    ANVIL_ERR_UNAVAILABLE || (rc == ANVIL_OK && t->failed != ANVIL_OK))
		rc = t->failed;
	if (rc != ANVIL_OK) {
		if (!t->broken)
			pq->PQclear(pq->PQexec(st->conn, "ROLLBACK"));
		return rc;
	}
	*sent_commit = 1;
	res = pq->PQexec(st->conn, "COMMIT");
	if (res == NULL || pq->PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = sort(t, res, "COMMIT");
	else if (strcmp(pq->PQcmdStatus(res), "COMMIT") != 0)
		rc = pg_fail(st, ANVIL_ERR_STORE, "COMMIT: the server rolled "
		    "back");
	pq->PQclear(res);
	return rc;
}

static anvil_err
o_run(void *sp, unsigned flags, store_be_fn fn, void *arg, char *err,
    size_t errlen)
{
	struct pg_store *st = sp;
	struct pg_txn t;
	time_t start = time(NULL);
	int tries = 0, resets = 0, sent_commit = 0;
	anvil_err rc = ANVIL_ERR_STORE;

	if (st->pid != getpid())
		return errf(err, errlen, ANVIL_ERR_STORE,
		    "store handle used in a forked child; open one there");
	for (;;) {
		st->msg[0] = '\0';
		st->msg_code = ANVIL_OK;
		if ((rc = conn_up(st)) != ANVIL_OK)
			break;
		memset(&t, 0, sizeof(t));
		t.st = st;
		rc = attempt(st, flags, fn, arg, &t, &sent_commit);
		if (rc == ANVIL_ERR_DEADLOCK) {
			if (++tries >= TRIES_MAX ||
			    time(NULL) - start >= RUN_MAX_S) {
				pg_fail(st, rc, "gave up after %d conflicts",
				    tries);
				log_err("store: %s", st->msg);
				break;
			}
			backoff(st, tries);
			continue;
		}
		/*
		 * A connection that broke before COMMIT was sent took the
		 * transaction with it: one new connection, one more try.
		 * After COMMIT the outcome is unknown, so no retry.
		 */
		if (rc == ANVIL_ERR_UNAVAILABLE && t.broken && !sent_commit &&
		    resets++ < 1) {
			pq->PQfinish(st->conn);
			st->conn = NULL;
			continue;
		}
		break;
	}
	if (rc != ANVIL_OK)
		errf(err, errlen, rc, "%s", st->msg[0] != '\0' &&
		    st->msg_code == rc ? st->msg : anvil_strerror(rc));
	return rc;
}

/* ------------------------------------------------------------ records */

static anvil_err
o_get(void *tp, enum store_kind kind, const char *id, json_t **out)
{
	struct pg_txn *t = tp;
	PGresult *res = NULL;
	const char *vals[2];
	char k[8];
	anvil_err rc;

	if ((rc = usable(t)) != ANVIL_OK ||
	    (rc = rec_get_args(REC_MSG(t->st), kind, id, out)) != ANVIL_OK)
		return rc;
	snprintf(k, sizeof(k), "%d", (int)kind);
	vals[0] = k;
	vals[1] = id;
	if ((rc = q(t, "store_get", "SELECT rec FROM records WHERE kind = $1 "
	    "AND id = $2", 2, vals, NULL, NULL, PGRES_TUPLES_OK, &res)) !=
	    ANVIL_OK)
		return rc;
	if (pq->PQntuples(res) == 0)
		rc = pg_fail(t->st, ANVIL_ERR_NOTFOUND, "records %d: no record "
		    "%s", (int)kind, id);
	else
		rc = row_parse(t->st, kind, id, pq->PQgetvalue(res, 0, 0),
		    (size_t)pq->PQgetlength(res, 0, 0), out);
	pq->PQclear(res);
	return rc;
}

static anvil_err
o_put(void *tp, enum store_kind kind, const char *id, json_t *rec,
    unsigned flags)
{
	struct pg_txn *t = tp;
	struct pg_store *st = NULL;
	struct rec_idx c;
	PGresult *res = NULL;
	const char *vals[8];
	char *text = NULL, k[8];
	size_t len = 0;
	anvil_err rc;

	/* rec_put_prepare cleans up after itself when it fails. */
	if ((rc = usable(t)) != ANVIL_OK || (rc = rec_put_prepare(REC_MSG(t->st),
	    kind, id, rec, &c, &text, &len)) != ANVIL_OK)
		return rc;
	st = t->st;
	/*
	 * Asked first, so that a refusal leaves the transaction usable: a
	 * unique key the write broke would abort it on the server.
	 */
	if (c.thumb != NULL) {
		vals[0] = c.thumb;
		if ((rc = q(t, "store_put", "SELECT id FROM records WHERE "
		    "thumb = $1", 1, vals, NULL, NULL, PGRES_TUPLES_OK, &res))
		    != ANVIL_OK)
			goto out;
		if (pq->PQntuples(res) > 0 && strcmp(pq->PQgetvalue(res, 0, 0), id)
		    != 0) {
			rc = pg_fail(st, ANVIL_ERR_EXISTS, "thumbprint belongs "
			    "to another account");
			goto out;
		}
		pq->PQclear(res);
		res = NULL;
	}
	snprintf(k, sizeof(k), "%d", (int)kind);
	vals[0] = k;
	vals[1] = id;
	vals[2] = text;
	vals[3] = c.account;
	vals[4] = c.thumb;
	vals[5] = c.itype;
	vals[6] = c.ivalue;
	vals[7] = c.revoked ? "t" : "f";
	/*
	 * One statement whether the row exists or not. A new record that
	 * meets a row (of its id, or of its thumbprint since the check
	 * above) inserts nothing and says so with no row, leaving the
	 * transaction usable; any other write takes the row over. Under
	 * SERIALIZABLE, a row another transaction wrote that this one may
	 * not see is a serialization failure (store_run retries it).
	 */
	if ((rc = q(t, "store_put", (flags & STORE_PUT_NEW) ?
	    "INSERT INTO records (kind, id, rec, account, thumb, itype, "
	    "ivalue, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
	    "ON CONFLICT DO NOTHING RETURNING 1" :
	    "INSERT INTO records (kind, id, rec, account, thumb, itype, "
	    "ivalue, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
	    "ON CONFLICT (kind, id) DO UPDATE SET rec = excluded.rec, "
	    "account = excluded.account, thumb = excluded.thumb, "
	    "itype = excluded.itype, ivalue = excluded.ivalue, "
	    "revoked = excluded.revoked RETURNING 1", 8, vals, NULL, NULL,
	    PGRES_TUPLES_OK, &res)) == ANVIL_OK && pq->PQntuples(res) == 0)
		rc = ANVIL_ERR_EXISTS;
	if (rc == ANVIL_ERR_EXISTS)
		pg_fail(st, rc, c.thumb == NULL ? "records %d: record %s "
		    "exists" : "records %d: record %s or its thumbprint "
		    "exists", (int)kind, id);
out:
	pq->PQclear(res);
	rec_idx_clear(&c);
	free(text);
	return rc;
}

static anvil_err
o_del(void *tp, enum store_kind kind, const char *id)
{
	struct pg_txn *t = tp;
	PGresult *res = NULL;
	const char *vals[2];
	char k[8];
	anvil_err rc;

	if ((rc = usable(t)) != ANVIL_OK ||
	    (rc = rec_del_args(REC_MSG(t->st), kind, id)) != ANVIL_OK)
		return rc;
	snprintf(k, sizeof(k), "%d", (int)kind);
	vals[0] = k;
	vals[1] = id;
	if ((rc = q(t, "store_del", "DELETE FROM records WHERE kind = $1 AND "
	    "id = $2", 2, vals, NULL, NULL, PGRES_COMMAND_OK, &res)) !=
	    ANVIL_OK)
		return rc;
	if (strcmp(pq->PQcmdTuples(res), "0") == 0)
		rc = pg_fail(t->st, ANVIL_ERR_NOTFOUND, "records %d: no record "
		    "%s", (int)kind, id);
	pq->PQclear(res);
	return rc;
}

static anvil_err
o_account_by_thumbprint(void *tp, const char *thumbprint, char **id)
{
	struct pg_txn *t = tp;
	PGresult *res = NULL;
	const char *vals[1];
	anvil_err rc;

	if ((rc = usable(t)) != ANVIL_OK ||
	    (rc = rec_thumb_args(REC_MSG(t->st), thumbprint, id)) != ANVIL_OK)
		return rc;
	vals[0] = thumbprint;
	if ((rc = q(t, "store_account_by_thumbprint", "SELECT id FROM records "
	    "WHERE thumb = $1 AND kind = 0", 1, vals, NULL, NULL,
	    PGRES_TUPLES_OK, &res)) != ANVIL_OK)
		return rc;
	if (pq->PQntuples(res) == 0)
		rc = pg_fail(t->st, ANVIL_ERR_NOTFOUND,
		    "no account has this thumbprint");
	else if (!rec_id_ok(pq->PQgetvalue(res, 0, 0), ID_MAX))
		rc = pg_fail(t->st, ANVIL_ERR_CORRUPT, "records: damaged "
		    "account id for a thumbprint");
	else if ((*id = strdup(pq->PQgetvalue(res, 0, 0))) == NULL)
		rc = ANVIL_ERR_NOMEM;
	pq->PQclear(res);
	return rc;
}

/* ------------------------------------------------------------ lists */

/* The ids in column 0 of res as a new array. */
static anvil_err
ids_take(struct pg_store *st, PGresult *res, char ***ids, size_t *n)
{
	char **v = NULL;
	size_t i, cnt = (size_t)pq->PQntuples(res);

	*ids = NULL;
	*n = 0;
	if (cnt == 0)
		return ANVIL_OK;
	if ((v = calloc(cnt, sizeof(*v))) == NULL)
		return ANVIL_ERR_NOMEM;
	for (i = 0; i < cnt; i++) {
		if (!rec_id_ok(pq->PQgetvalue(res, (int)i, 0), ID_MAX)) {
			store_ids_free(v, i);
			return pg_fail(st, ANVIL_ERR_CORRUPT,
			    "records: damaged id in an index");
		}
		if ((v[i] = strdup(pq->PQgetvalue(res, (int)i, 0))) == NULL) {
			store_ids_free(v, i);
			return ANVIL_ERR_NOMEM;
		}
	}
	*ids = v;
	*n = cnt;
	return ANVIL_OK;
}

static anvil_err
o_list_by_account(void *tp, enum store_kind kind, const char *account,
    const char *after, size_t limit, char ***ids, size_t *n)
{
	struct pg_txn *t = tp;
	PGresult *res = NULL;
	const char *vals[4];
	char k[8], lim[24];
	anvil_err rc;

	if ((rc = usable(t)) != ANVIL_OK ||
	    (rc = rec_list_args(REC_MSG(t->st), kind, account, after, ids,
	    n)) != ANVIL_OK)
		return rc;
	if (limit == 0)
		return ANVIL_OK;
	snprintf(k, sizeof(k), "%d", (int)kind);
	snprintf(lim, sizeof(lim), "%zu", limit);
	vals[0] = k;
	vals[1] = account;
	vals[2] = after != NULL ? after : "";
	/* LIMIT NULL is no limit; bigint ends below SIZE_MAX. */
	vals[3] = limit <= INT64_MAX ? lim : NULL;
	if ((rc = q(t, "store_list_by_account", "SELECT id FROM records WHERE "
	    "kind = $1 AND account = $2 AND id > $3 ORDER BY id LIMIT $4",
	    4, vals, NULL, NULL, PGRES_TUPLES_OK, &res)) != ANVIL_OK)
		return rc;
	rc = ids_take(t->st, res, ids, n);
	pq->PQclear(res);
	return rc;
}

static anvil_err
o_authz_by_identifier(void *tp, const char *account, const char *type,
    const char *value, char ***ids, size_t *n)
{
	struct pg_txn *t = tp;
	PGresult *res = NULL;
	const char *vals[3];
	size_t vlen = 0;
	anvil_err rc;

	if ((rc = usable(t)) != ANVIL_OK ||
	    (rc = rec_ident_args(REC_MSG(t->st), account, type, value, ids, n,
	    &vlen)) != ANVIL_OK)
		return rc;
	vals[0] = account;
	vals[1] = type;
	vals[2] = value;
	if ((rc = q(t, "store_authz_by_identifier", "SELECT id FROM records "
	    "WHERE kind = 2 AND account = $1 AND itype = $2 AND ivalue = $3 "
	    "ORDER BY id", 3, vals, NULL, NULL, PGRES_TUPLES_OK, &res)) !=
	    ANVIL_OK)
		return rc;
	rc = ids_take(t->st, res, ids, n);
	pq->PQclear(res);
	return rc;
}

/* ------------------------------------------------------------ walks */

/*
 * Walks the records `where` selects, in id order, through a cursor
 * fetched FETCH_ROWS at a time: fn may call the store between fetches,
 * and a walk of every certificate holds one batch in memory, not all.
 */
static anvil_err
walk(struct pg_txn *t, enum store_kind kind, const char *where,
    store_each_fn fn, void *arg)
{
	struct pg_store *st = t->st;
	PGresult *res = NULL;
	json_t *rec = NULL;
	char decl[256], sql[64], name[32];
	int i, rows;
	anvil_err rc;

	/*
	 * The cursor closes with the transaction, so each walk of it has a
	 * name of its own; its DECLARE goes out with the first FETCH.
	 */
	snprintf(name, sizeof(name), "anvil_walk%u", t->walks++);
	snprintf(decl, sizeof(decl), "DECLARE %s NO SCROLL CURSOR FOR SELECT "
	    "id, rec FROM records WHERE %s ORDER BY id", name, where);
	t->pre = decl;
	snprintf(sql, sizeof(sql), "FETCH %d FROM %s", FETCH_ROWS, name);
	for (;;) {
		if ((rc = qx(t, "walk", sql, 0, 0, NULL, NULL, NULL,
		    PGRES_TUPLES_OK, &res)) != ANVIL_OK)
			goto out;
		if ((rows = pq->PQntuples(res)) == 0)
			break;
		for (i = 0; i < rows; i++) {
			const char *id = pq->PQgetvalue(res, i, 0);

			if (!rec_id_ok(id, ID_MAX)) {
				rc = pg_fail(st, ANVIL_ERR_CORRUPT, "records "
				    "%d: damaged id", (int)kind);
				goto out;
			}
			if ((rc = row_parse(st, kind, id, pq->PQgetvalue(res, i, 1),
			    (size_t)pq->PQgetlength(res, i, 1), &rec)) != ANVIL_OK)
				goto out;
			if ((rc = rec_each_call(fn, id, &rec, arg)) != ANVIL_OK)
				goto out;
		}
		pq->PQclear(res);
		res = NULL;
		/* A short batch was the last one. */
		if (rows < FETCH_ROWS)
			break;
	}
out:
	pq->PQclear(res);
	t->pre = NULL;
	return rc;
}

static anvil_err
o_each(void *tp, enum store_kind kind, store_each_fn fn, void *arg)
{
	struct pg_txn *t = tp;
	char where[32];
	anvil_err rc;

	if ((rc = usable(t)) != ANVIL_OK ||
	    (rc = rec_each_args(REC_MSG(t->st), "store_each", kind, fn)) !=
	    ANVIL_OK)
		return rc;
	snprintf(where, sizeof(where), "kind = %d", (int)kind);
	return walk(t, kind, where, fn, arg);
}

static anvil_err
o_revoked_each(void *tp, store_each_fn fn, void *arg)
{
	struct pg_txn *t = tp;
	anvil_err rc;

	if ((rc = usable(t)) != ANVIL_OK ||
	    (rc = rec_each_args(REC_MSG(t->st), "store_revoked_each",
	    STORE_CERT, fn)) != ANVIL_OK)
		return rc;
	return walk(t, STORE_CERT, "kind = 4 AND revoked", fn, arg);
}

_Static_assert(STORE_CERT == 4 && STORE_AUTHZ == 2 && STORE_ACCOUNT == 0,
    "the SQL of walks and lists names kinds by number");

/* ------------------------------------------------------------ counters */

static anvil_err
o_counter_next(void *tp, const char *name, uint64_t *val)
{
	struct pg_txn *t = tp;
	PGresult *res = NULL;
	const char *vals[1];
	anvil_err rc;

	if ((rc = usable(t)) != ANVIL_OK ||
	    (rc = rec_counter_args(REC_MSG(t->st), name, val)) != ANVIL_OK)
		return rc;
	vals[0] = name;
	rc = q(t, "store_counter_next", "INSERT INTO counters (name, val) "
	    "VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET val = "
	    "counters.val + 1 RETURNING val", 1, vals, NULL, NULL,
	    PGRES_TUPLES_OK, &res);
	if (rc == ANVIL_ERR_INVALID)
		return pg_fail(t->st, rc, "counter %s is at its maximum", name);
	if (rc != ANVIL_OK)
		return rc;
	if (pq->PQntuples(res) != 1)
		rc = pg_fail(t->st, ANVIL_ERR_STORE, "counter %s: no value",
		    name);
	else
		*val = strtoull(pq->PQgetvalue(res, 0, 0), NULL, 10);
	pq->PQclear(res);
	return rc;
}

static anvil_err
o_counter_get(void *tp, const char *name, uint64_t *val)
{
	struct pg_txn *t = tp;
	PGresult *res = NULL;
	const char *vals[1];
	anvil_err rc;

	if ((rc = usable(t)) != ANVIL_OK ||
	    (rc = rec_counter_args(REC_MSG(t->st), name, val)) != ANVIL_OK)
		return rc;
	*val = 0;
	vals[0] = name;
	if ((rc = q(t, "store_counter_get", "SELECT val FROM counters WHERE "
	    "name = $1", 1, vals, NULL, NULL, PGRES_TUPLES_OK, &res)) !=
	    ANVIL_OK)
		return rc;
	if (pq->PQntuples(res) == 1)
		*val = strtoull(pq->PQgetvalue(res, 0, 0), NULL, 10);
	pq->PQclear(res);
	return ANVIL_OK;
}

/* ------------------------------------------------------------ nonces */

/*
 * Runs one statement outside store_run, in its own transaction with
 * synchronous_commit off (store.h: spent nonces are not durable), on a
 * connection brought up first and reset once if it broke.
 */
static anvil_err
autocommit(struct pg_store *st, const char *what, const char *sql, int n,
    const char *const *vals, const int *lens, const int *fmts,
    PGresult **out)
{
	struct pg_txn t;
	int resets = 0;
	anvil_err rc;

	if (st->pid != getpid())
		return pg_fail(st, ANVIL_ERR_STORE, "store handle used in a "
		    "forked child");
	for (;;) {
		if ((rc = conn_up(st)) != ANVIL_OK)
			return rc;
		memset(&t, 0, sizeof(t));
		t.st = st;
		rc = q(&t, what, sql, n, vals, lens, fmts, PGRES_TUPLES_OK,
		    out);
		if (rc == ANVIL_ERR_UNAVAILABLE && resets++ < 1) {
			pq->PQfinish(st->conn);
			st->conn = NULL;
			continue;
		}
		return rc;
	}
}

/*
 * The row a spend returns carries the server's last start or crash
 * restart: either lost the spends not yet flushed (store_nonce_floor). A
 * backend's crash restarts the others without a new postmaster; its trace
 * is the shared statistics, which PostgreSQL 15 discards then and stamps
 * with the time.
 */
#define SPEND_SQL(from) "INSERT INTO nonces (nonce, expires) SELECT " \
	"$1::bytea, $2::bigint " from " ON CONFLICT (nonce) DO NOTHING " \
	"RETURNING (extract(epoch FROM greatest(pg_postmaster_start_time(), " \
	"pg_stat_get_bgwriter_stat_reset_time())) * 1000)::bigint"

/*
 * Spends nonce: in t (store_nonce_spend_txn), or in one statement of its
 * own (t NULL), whose CTE sets synchronous_commit for it alone. Of
 * concurrent inserts of one nonce the unique key lets one through; the
 * rest return no row.
 */
static anvil_err
spend(struct pg_store *st, struct pg_txn *t, const unsigned char *nonce,
    size_t len, time_t expires)
{
	PGresult *res = NULL;
	const char *vals[2];
	int lens[2], fmts[2];
	char exp[24];
	anvil_err rc;

	if (nonce == NULL || len == 0 || len > NONCE_MAX)
		return ANVIL_ERR_INVALID;
	snprintf(exp, sizeof(exp), "%lld", (long long)expires);
	vals[0] = (const char *)nonce;
	lens[0] = (int)len;
	fmts[0] = 1;		/* binary: the nonce bytes as they are */
	vals[1] = exp;
	lens[1] = 0;
	fmts[1] = 0;
	if (t != NULL)
		rc = q(t, "store_nonce_spend", SPEND_SQL(""), 2, vals, lens,
		    fmts, PGRES_TUPLES_OK, &res);
	else
		rc = autocommit(st, "store_nonce_spend", "WITH s AS (SELECT "
		    "set_config('synchronous_commit', 'off', true)) "
		    SPEND_SQL("FROM s"), 2, vals, lens, fmts, &res);
	if (rc != ANVIL_OK) {
		/* In t, store_run sorts a failure (a conflict is retried). */
		if (t == NULL)
			log_err("store_nonce_spend: %s", st->msg);
		return rc;
	}
	rc = pq->PQntuples(res) == 1 ? ANVIL_OK : ANVIL_ERR_EXISTS;
	if (rc == ANVIL_OK)
		st->nonce_floor = strtoll(pq->PQgetvalue(res, 0, 0), NULL,
		    10);
	pq->PQclear(res);
	return rc;
}

static anvil_err
o_nonce_spend(void *sp, const unsigned char *nonce, size_t len,
    time_t expires)
{
	if (sp == NULL)
		return ANVIL_ERR_INVALID;
	return spend(sp, NULL, nonce, len, expires);
}

static anvil_err
o_nonce_spend_txn(void *tp, const unsigned char *nonce, size_t len,
    time_t expires)
{
	struct pg_txn *t = tp;
	anvil_err rc;

	if ((rc = usable(t)) != ANVIL_OK)
		return rc;
	return spend(t->st, t, nonce, len, expires);
}

static int64_t
o_nonce_floor(void *sp)
{
	return sp != NULL ? ((struct pg_store *)sp)->nonce_floor : 0;
}

static anvil_err
o_nonce_purge(void *sp, time_t now, size_t *purged)
{
	struct pg_store *st = sp;
	PGresult *res = NULL;
	const char *vals[1];
	char nowb[24];
	size_t total = 0, got;
	int round;
	anvil_err rc = ANVIL_OK;

	if (purged != NULL)
		*purged = 0;
	if (st == NULL)
		return ANVIL_ERR_INVALID;
	snprintf(nowb, sizeof(nowb), "%lld", (long long)now);
	vals[0] = nowb;
	/* In batches, so that no statement holds many rows for long. */
	for (round = 0; round < PURGE_ROUNDS; round++) {
		rc = autocommit(st, "store_nonce_purge", "WITH d AS (DELETE "
		    "FROM nonces WHERE ctid IN (SELECT ctid FROM nonces WHERE "
		    "expires < $1 LIMIT 1000) RETURNING 1) SELECT count(*) "
		    "FROM d", 1, vals, NULL, NULL, &res);
		if (rc != ANVIL_OK) {
			log_err("store_nonce_purge: %s", st->msg);
			break;
		}
		got = pq->PQntuples(res) == 1 ?
		    strtoull(pq->PQgetvalue(res, 0, 0), NULL, 10) : 0;
		pq->PQclear(res);
		res = NULL;
		total += got;
		if (got < PURGE_BATCH)
			break;
	}
	if (purged != NULL)
		*purged = total;
	return rc;
}

/* ------------------------------------------------------------ backup, check */

static anvil_err
o_backup(void *sp, const char *dir, char *err, size_t errlen)
{
	(void)sp;
	(void)dir;
	return errf(err, errlen, ANVIL_ERR_INVALID, "the store is in "
	    "PostgreSQL: back it up with pg_dump, which copies a live "
	    "database as of one instant");
}

struct verify_arg {
	unsigned bad;
	char *err;
	size_t errlen;
};

/*
 * Checks each row: the record parses and its index columns are what the
 * record says (rec_idx_extract), as store_verify asks of the index
 * files.
 */
static anvil_err
verify_fn(void *tp, void *arg)
{
	struct pg_txn *t = tp;
	struct verify_arg *va = arg;
	struct pg_store *st = t->st;
	struct rec_idx c;
	PGresult *res = NULL;
	json_t *rec = NULL;
	int i, rows, kind;
	size_t used;
	anvil_err rc;

	memset(&c, 0, sizeof(c));
	if ((rc = qx(t, "store_verify", "DECLARE anvil_check NO SCROLL "
	    "CURSOR FOR SELECT kind, id, rec, account, thumb, itype, ivalue, "
	    "revoked FROM records ORDER BY kind, id", 0, 0, NULL, NULL, NULL,
	    PGRES_COMMAND_OK, NULL)) != ANVIL_OK)
		return rc;
	for (;;) {
		if ((rc = q(t, "store_verify", "FETCH 256 FROM anvil_check", 0,
		    NULL, NULL, NULL, PGRES_TUPLES_OK, &res)) != ANVIL_OK)
			return rc;
		if ((rows = pq->PQntuples(res)) == 0)
			break;
		for (i = 0; i < rows; i++) {
			const char *id = pq->PQgetvalue(res, i, 1);
			const char *why = NULL;

			kind = atoi(pq->PQgetvalue(res, i, 0));
#define COL_EQ(s, col) ((s) == NULL ? pq->PQgetisnull(res, i, (col)) : \
	(!pq->PQgetisnull(res, i, (col)) && \
	strcmp((s), pq->PQgetvalue(res, i, (col))) == 0))
			if (!rec_kind_ok((enum store_kind)kind) ||
			    !rec_id_ok(id, ID_MAX))
				why = "bad kind or id";
			else if (row_parse(st, (enum store_kind)kind, id,
			    pq->PQgetvalue(res, i, 2),
			    (size_t)pq->PQgetlength(res, i, 2), &rec) != ANVIL_OK)
				why = "record does not parse";
			else if (rec_idx_extract(REC_MSG(st),
			    (enum store_kind)kind, rec, &c, ANVIL_ERR_CORRUPT) !=
			    ANVIL_OK)
				why = "record's index members are damaged";
			else if (!COL_EQ(c.account, 3) || !COL_EQ(c.thumb, 4) ||
			    !COL_EQ(c.itype, 5) || !COL_EQ(c.ivalue, 6) ||
			    (c.revoked != 0) != (strcmp(pq->PQgetvalue(res, i, 7),
			    "t") == 0))
				why = "index columns disagree with the record";
#undef COL_EQ
			rec_idx_clear(&c);
			json_decref(rec);
			rec = NULL;
			if (why == NULL)
				continue;
			if (va->bad++ < VERIFY_REPORT && va->err != NULL) {
				used = strlen(va->err);
				if (used + 1 < va->errlen)
					snprintf(va->err + used, va->errlen -
					    used, "%srecords %d/%.40s: %s",
					    used ? "; " : "", kind, id, why);
			}
		}
		pq->PQclear(res);
		res = NULL;
	}
	pq->PQclear(res);
	return ANVIL_OK;
}

static anvil_err
o_verify(void *sp, char *err, size_t errlen)
{
	struct pg_store *st = sp;
	struct verify_arg va;
	char buf[1024] = "";
	anvil_err rc;

	memset(&va, 0, sizeof(va));
	va.err = buf;
	va.errlen = sizeof(buf);
	/* READ COMMITTED would see each batch at its own instant; the
	 * cursor of one SERIALIZABLE transaction sees one. */
	rc = o_run(st, 0, verify_fn, &va, err, errlen);
	if (rc != ANVIL_OK)
		return rc;
	if (va.bad > 0)
		return errf(err, errlen, ANVIL_ERR_CORRUPT, "%u damaged "
		    "row(s): %s", va.bad, buf);
	return ANVIL_OK;
}

static void
o_schema(const void *sp, int *was, int *now)
{
	const struct pg_store *st = sp;

	*was = st->schema_was;
	*now = SCHEMA_VERSION;
}

static void
o_set_progress(void *sp, struct progress *p)
{
	struct pg_store *st = sp;

	st->progress = p;
}

const struct store_ops store_pg_ops = {
	.name = STORE_BACKEND_PG,
	.open = o_open,
	.close = o_close,
	.maintain = o_nothing,
	.hold = o_nothing,
	.idle = o_nothing,
	.run = o_run,
	.get = o_get,
	.put = o_put,
	.del = o_del,
	.account_by_thumbprint = o_account_by_thumbprint,
	.list_by_account = o_list_by_account,
	.authz_by_identifier = o_authz_by_identifier,
	.each = o_each,
	.revoked_each = o_revoked_each,
	.counter_next = o_counter_next,
	.counter_get = o_counter_get,
	.nonce_spend = o_nonce_spend,
	.nonce_spend_txn = o_nonce_spend_txn,
	.nonce_purge = o_nonce_purge,
	.nonce_floor = o_nonce_floor,
	.backup = o_backup,
	.verify = o_verify,
	.set_progress = o_set_progress,
	.schema = o_schema,
};
