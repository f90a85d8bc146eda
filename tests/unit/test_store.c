/*
 * test_store.c - the store interface in one process: records, indexes,
 * counters, nonces, ids, opening, and damaged or foreign files; on both
 * backends, processes racing on one store; on PostgreSQL, processes
 * SIGKILLed inside a transaction (Berkeley DB's are in test_store_procs.c).
 *
 * Each test gets a new data folder with a new store (fixture below) and
 * removes it afterwards. Damaged stored records and markers are made with
 * db5.3_load (Debian: db5.3-util), the Berkeley DB loader, so that the tests
 * need no <db.h>; the tests that need it are skipped without it.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "core/error.h"
#include "store/store.h"
#include "helpers.h"

/* ------------------------------------------------------------ fixture */

static char *dir;		/* data folder of the test */
static struct store *st;	/* open on dir */
static char err[512];		/* last store_run message */

static void
setup(void)
{
	dir = th_tempdir();
	err[0] = '\0';
	cr_assert_eq(store_open(dir, STORE_OPEN_CREATE, &st, err, sizeof(err)),
	    ANVIL_OK, "store_open: %s", err);
}

static void
teardown(void)
{
	store_close(st);
	st = NULL;
	th_rmrf(dir);
	free(dir);
	dir = NULL;
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

/*
 * The same cases on PostgreSQL (src/store/pg.c): the runner starts one
 * server for the whole binary (tests/pg-start.sh) unless ANVIL_TEST_PG
 * already names one, and each test gets a schema of its own in it, dropped
 * afterwards. Without PostgreSQL installed the store_pg tests skip and say
 * so; a server that is installed but does not start fails them.
 */
#define PG_ENV		"ANVIL_TEST_PG"		/* conninfo of the server */
#define PG_ENV_SKIP	"ANVIL_TEST_PG_SKIP"	/* why there is none */

static char *pg_dir;		/* the server pg-start.sh started, or NULL */
static char *pg_schema;		/* this test's schema */
static char *pg_conninfo;	/* this test's conninfo: ANVIL_TEST_PG with
				 * search_path = pg_schema */

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	const char *top = getenv("top_srcdir");
	char line[512] = "", *cmd = NULL, *p = NULL;
	FILE *f = NULL;
	int status;

	(void)set;
	if (getenv(PG_ENV) != NULL)
		return;
	if (asprintf(&cmd, "sh '%s/tests/pg-start.sh' start",
	    top != NULL ? top : ".") < 0)
		return;
	if ((f = popen(cmd, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		status = pclose(f);
		line[strcspn(line, "\n")] = '\0';
		if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
			setenv(PG_ENV_SKIP, "no PostgreSQL server installed "
			    "(Debian: postgresql)", 1);
		else if (status == 0 && strncmp(line, "host=", 5) == 0) {
			setenv(PG_ENV, line, 1);
			pg_dir = strdup(line + 5);
			if (pg_dir != NULL && (p = strchr(pg_dir, ' ')) != NULL)
				*p = '\0';
		}
	}
	free(cmd);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	const char *top = getenv("top_srcdir");
	char *cmd = NULL;

	(void)stats;
	if (pg_dir == NULL)
		return;
	if (asprintf(&cmd, "sh '%s/tests/pg-start.sh' stop '%s'",
	    top != NULL ? top : ".", pg_dir) > 0 && system(cmd) != 0)
		fprintf(stderr, "test_store: could not stop PostgreSQL in %s\n",
		    pg_dir);
	free(cmd);
	free(pg_dir);
	pg_dir = NULL;
}

/* Runs sql on the test's server as its superuser; cr_asserts success. */
static void
pg_admin(const char *sql)
{
	PGconn *c = PQconnectdb(getenv(PG_ENV));
	PGresult *r = NULL;

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect: %s",
	    PQerrorMessage(c));
	PQclear(PQexec(c, "SET client_min_messages TO warning"));
	r = PQexec(c, sql);
	cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK ||
	    PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
	    PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/* A store_cfg for this test's schema. */
static struct store_cfg
pg_cfg(void)
{
	struct store_cfg cfg = { 0 };

	cfg.backend = STORE_BACKEND_PG;
	cfg.conninfo = pg_conninfo;
	cfg.connect_timeout = 5;
	return cfg;
}

static void
setup_pg(void)
{
	dir = th_tempdir();
	err[0] = '\0';
}

/*
 * First thing of each store_pg test: a new schema and the store open on
 * it, or a skip that says why there is no server.
 */
static void
pg_begin(void)
{
	const char *admin = getenv(PG_ENV);
	struct store_cfg cfg;
	char *sql = NULL;

	if (admin == NULL) {
		if (getenv(PG_ENV_SKIP) != NULL)
			cr_skip_test("%s", getenv(PG_ENV_SKIP));
		cr_assert_fail("tests/pg-start.sh did not start PostgreSQL "
		    "(see its messages above)");
	}
	cr_assert(asprintf(&pg_schema, "t%ld_%ld", (long)getpid(),
	    (long)time(NULL)) > 0);
	cr_assert(asprintf(&sql, "CREATE SCHEMA %s", pg_schema) > 0);
	pg_admin(sql);
	free(sql);
	cr_assert(asprintf(&pg_conninfo, "%s options='-csearch_path=%s' "
	    "application_name=%s", admin, pg_schema, pg_schema) > 0);
	cfg = pg_cfg();
	cr_assert_eq(store_open_cfg(dir, &cfg, STORE_OPEN_CREATE |
	    STORE_OPEN_MIGRATE, &st, err, sizeof(err)), ANVIL_OK,
	    "store_open_cfg: %s", err);
	cr_assert_str_eq(store_backend(st), STORE_BACKEND_PG);
}

/*
 * Children a store_pg test forked and has not reaped (0: a free slot):
 * after a failed assertion they may still hold a transaction open, which
 * the schema's DROP would wait for.
 */
static pid_t pg_kids[64];

static void
teardown_pg(void)
{
	char *sql = NULL;
	size_t i;

	for (i = 0; i < sizeof(pg_kids) / sizeof(pg_kids[0]); i++)
		if (pg_kids[i] > 0) {
			kill(pg_kids[i], SIGKILL);
			waitpid(pg_kids[i], NULL, 0);
			pg_kids[i] = 0;
		}
	store_close(st);
	st = NULL;
	if (pg_schema != NULL && getenv(PG_ENV) != NULL &&
	    asprintf(&sql, "DROP SCHEMA %s CASCADE", pg_schema) > 0)
		pg_admin(sql);
	free(sql);
	free(pg_schema);
	pg_schema = NULL;
	free(pg_conninfo);
	pg_conninfo = NULL;
	th_rmrf(dir);
	free(dir);
	dir = NULL;
}

TestSuite(store_pg, .init = setup_pg, .fini = teardown_pg, .timeout = 120);

/* One case of the table, run on both backends: store/NAME, store_pg/NAME. */
#define STORE_CASE(name)						\
	static void case_##name(void);					\
	Test(store, name) { case_##name(); }				\
	Test(store_pg, name) { pg_begin(); case_##name(); }		\
	static void case_##name(void)

/* ------------------------------------------------------------ one-call txns */

enum op_kind {
	OP_PUT, OP_GET, OP_DEL, OP_THUMB, OP_LIST, OP_IDENT, OP_CNEXT,
	OP_CGET, OP_EACH, OP_REVOKED
};

struct op {
	enum op_kind op;
	enum store_kind kind;
	const char *id;		/* id, thumbprint, account or counter name */
	json_t *in;		/* OP_PUT: the record (borrowed) */
	unsigned flags;
	const char *after;	/* OP_LIST */
	size_t limit;
	const char *type;	/* OP_IDENT */
	const char *value;
	anvil_err stop;		/* OP_EACH: returned by the callback ... */
	size_t stop_after;	/* ... at this call (0: never) */
	json_t *rec;		/* OP_GET result */
	char *found;		/* OP_THUMB result */
	char **ids;		/* OP_LIST, OP_IDENT results */
	size_t n;
	uint64_t val;		/* counters */
	json_t *seen;		/* OP_EACH: array of ids in walk order */
};

static anvil_err
each_cb(const char *id, json_t *rec, void *arg)
{
	struct op *o = arg;

	cr_assert(json_is_object(rec));
	cr_assert(json_is_integer(json_object_get(rec, "v")));
	json_array_append_new(o->seen, json_string(id));
	if (o->stop_after != 0 && json_array_size(o->seen) == o->stop_after)
		return o->stop;
	return ANVIL_OK;
}

static anvil_err
op_fn(struct store_txn *t, void *arg)
{
	struct op *o = arg;

	switch (o->op) {
	case OP_PUT:
		return store_put(t, o->kind, o->id, o->in, o->flags);
	case OP_GET:
		json_decref(o->rec);
		o->rec = NULL;
		return store_get(t, o->kind, o->id, &o->rec);
	case OP_DEL:
		return store_del(t, o->kind, o->id);
	case OP_THUMB:
		free(o->found);
		o->found = NULL;
		return store_account_by_thumbprint(t, o->id, &o->found);
	case OP_LIST:
		store_ids_free(o->ids, o->n);
		return store_list_by_account(t, o->kind, o->id, o->after,
		    o->limit, &o->ids, &o->n);
	case OP_IDENT:
		store_ids_free(o->ids, o->n);
		return store_authz_by_identifier(t, o->id, o->type, o->value,
		    &o->ids, &o->n);
	case OP_CNEXT:
		return store_counter_next(t, o->id, &o->val);
	case OP_CGET:
		return store_counter_get(t, o->id, &o->val);
	case OP_EACH:
	case OP_REVOKED:
		json_decref(o->seen);
		o->seen = json_array();
		return o->op == OP_EACH ? store_each(t, o->kind, each_cb, o) :
		    store_revoked_each(t, each_cb, o);
	}
	return ANVIL_ERR_INVALID;
}

static anvil_err
run(struct op *o)
{
	err[0] = '\0';
	return store_run(st, 0, op_fn, o, err, sizeof(err));
}

static void
op_clear(struct op *o)
{
	json_decref(o->rec);
	free(o->found);
	store_ids_free(o->ids, o->n);
	json_decref(o->seen);
	memset(o, 0, sizeof(*o));
}

/* Writes the record given as JSON text; returns the store's answer. */
static anvil_err
put(enum store_kind kind, const char *id, const char *text, unsigned flags)
{
	struct op o = { .op = OP_PUT, .kind = kind, .id = id, .flags = flags };
	json_error_t jerr;
	anvil_err rc;

	o.in = json_loads(text, 0, &jerr);
	cr_assert_not_null(o.in, "test JSON %s: %s", text, jerr.text);
	rc = run(&o);
	json_decref(o.in);
	return rc;
}

static void
put_ok(enum store_kind kind, const char *id, const char *text)
{
	anvil_err rc = put(kind, id, text, 0);

	cr_assert_eq(rc, ANVIL_OK, "put %s %s: %s", id, text, err);
}

/* The record id of kind, or NULL if the store says NOTFOUND. */
static json_t *
get(enum store_kind kind, const char *id)
{
	struct op o = { .op = OP_GET, .kind = kind, .id = id };
	anvil_err rc = run(&o);
	json_t *rec = o.rec;

	if (rc == ANVIL_ERR_NOTFOUND)
		cr_assert_null(rec);
	else
		cr_assert_eq(rc, ANVIL_OK, "get %s: %s", id, err);
	return rec;
}

static anvil_err
get_rc(enum store_kind kind, const char *id)
{
	struct op o = { .op = OP_GET, .kind = kind, .id = id };
	anvil_err rc = run(&o);

	op_clear(&o);
	return rc;
}

/* The account holding thumbprint (new string), or NULL if none. */
static char *
by_thumb(const char *thumb)
{
	struct op o = { .op = OP_THUMB, .id = thumb };
	anvil_err rc = run(&o);

	if (rc == ANVIL_ERR_NOTFOUND)
		return NULL;
	cr_assert_eq(rc, ANVIL_OK, "thumbprint %s: %s", thumb, err);
	cr_assert_not_null(o.found);
	return o.found;
}

/* The ids a list returns, joined with commas, e.g. "o01,o02". */
static char *
joined(char **ids, size_t n)
{
	size_t i, len = 1;
	char *s = NULL;

	for (i = 0; i < n; i++)
		len += strlen(ids[i]) + 1;
	s = calloc(1, len);
	cr_assert_not_null(s);
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(s, ",");
		strcat(s, ids[i]);
	}
	return s;
}

static void
expect_list(enum store_kind kind, const char *account, const char *after,
    size_t limit, const char *want)
{
	struct op o = { .op = OP_LIST, .kind = kind, .id = account,
	    .after = after, .limit = limit };
	char *got = NULL;

	cr_assert_eq(run(&o), ANVIL_OK, "list %s after %s: %s", account,
	    after ? after : "-", err);
	got = joined(o.ids, o.n);
	cr_assert_str_eq(got, want, "list %s after %s limit %zu", account,
	    after ? after : "-", limit);
	free(got);
	op_clear(&o);
}

static void
expect_ident(const char *account, const char *type, const char *value,
    const char *want)
{
	struct op o = { .op = OP_IDENT, .id = account, .type = type,
	    .value = value };
	char *got = NULL;

	cr_assert_eq(run(&o), ANVIL_OK, "by identifier: %s", err);
	got = joined(o.ids, o.n);
	cr_assert_str_eq(got, want, "authz of %s for %s:%s", account, type,
	    value);
	free(got);
	op_clear(&o);
}

/* The ids a walk visits, joined with commas. */
static char *
walk_ids(enum op_kind op, enum store_kind kind, anvil_err *rc)
{
	struct op o = { .op = op, .kind = kind };
	char *s = NULL, *p = NULL;
	size_t i;

	*rc = run(&o);
	s = strdup("");
	for (i = 0; o.seen != NULL && i < json_array_size(o.seen); i++) {
		cr_assert(asprintf(&p, "%s%s%s", s, i ? "," : "",
		    json_string_value(json_array_get(o.seen, i))) > 0);
		free(s);
		s = p;
	}
	op_clear(&o);
	return s;
}

static uint64_t
counter(enum op_kind op, const char *name)
{
	struct op o = { .op = op, .id = name };

	cr_assert_eq(run(&o), ANVIL_OK, "counter %s: %s", name, err);
	return o.val;
}

/* ------------------------------------------------------------ files */

static char *
store_path(const char *file)
{
	char *p = NULL;

	cr_assert(asprintf(&p, "%s/store/%s", dir, file) > 0);
	return p;
}

static void
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert(fd >= 0, "open %s", path);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/*
 * Drops the environment's shared regions (__db.001 ...) and registry of a
 * store no process has open, as the first open after a reboot does: the
 * next open recovers from the log and reads every page from the files
 * rather than from the old cache.
 */
static void
drop_regions(void)
{
	char *home = store_path(""), *p = NULL;
	DIR *d = opendir(home);
	struct dirent *de;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		/* As the first open after a reboot does: regions and the
		 * registry, so that the next open recovers from the log. */
		if (strncmp(de->d_name, "__db.0", 6) != 0 &&
		    strcmp(de->d_name, "__db.register") != 0)
			continue;
		cr_assert(asprintf(&p, "%s%s", home, de->d_name) > 0);
		cr_assert_eq(unlink(p), 0, "unlink %s", p);
		free(p);
	}
	closedir(d);
	free(home);
}

static int
have_db_load(void)
{
	return system("command -v db5.3_load >/dev/null 2>&1") == 0;
}

/*
 * Replaces file of the closed store by a btree (with checksums, and sorted
 * duplicates if dups) holding the key/value lines given (NULL-ended),
 * written by db5.3_load -T.
 */
static void
load_db(const char *file, int dups, const char *const *lines)
{
	char *in = NULL, *out = NULL, *cmd = NULL, *dst = store_path(file);
	FILE *f = NULL;
	size_t i;

	cr_assert(asprintf(&in, "%s/load.txt", dir) > 0);
	cr_assert(asprintf(&out, "%s/load.db", dir) > 0);
	f = fopen(in, "w");
	cr_assert_not_null(f);
	for (i = 0; lines[i] != NULL; i++)
		fprintf(f, "%s\n", lines[i]);
	fclose(f);
	unlink(out);
	cr_assert(asprintf(&cmd, "db5.3_load -T -t btree -c chksum=1 %s %s "
	    "< %s", dups ? "-c duplicates=1 -c dupsort=1" : "", out, in) > 0);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	cr_assert_eq(rename(out, dst), 0);
	drop_regions();
	unlink(in);
	free(in);
	free(out);
	free(cmd);
	free(dst);
}

static void
close_store(void)
{
	store_close(st);
	st = NULL;
}

static anvil_err
reopen(void)
{
	err[0] = '\0';
	return store_open(dir, 0, &st, err, sizeof(err));
}

/* ------------------------------------------------------------ records */

STORE_CASE(put_get_round_trip_stamps_version)
{
	json_t *in = json_pack("{s:s, s:[s], s:{s:i}}", "status", "valid",
	    "contact", "mailto:a@example.org", "extra", "n", 7);
	struct op o = { .op = OP_PUT, .kind = STORE_ACCOUNT, .id = "acct1",
	    .in = in };
	json_t *rec = NULL;

	cr_assert_eq(run(&o), ANVIL_OK, "%s", err);
	cr_assert_eq(json_integer_value(json_object_get(in, "v")),
	    STORE_RECORD_VERSION, "put stamps \"v\" on the caller's record");
	rec = get(STORE_ACCOUNT, "acct1");
	cr_assert_not_null(rec);
	cr_assert(json_equal(rec, in), "record comes back as written");
	json_decref(rec);
	json_decref(in);
}

STORE_CASE(kinds_are_separate)
{
	json_t *rec = NULL;

	put_ok(STORE_ORDER, "same", "{\"k\":\"order\"}");
	put_ok(STORE_CHALLENGE, "same", "{\"k\":\"chall\"}");
	cr_assert_null(get(STORE_AUTHZ, "same"));
	rec = get(STORE_CHALLENGE, "same");
	cr_assert_str_eq(json_string_value(json_object_get(rec, "k")),
	    "chall");
	json_decref(rec);
}

STORE_CASE(put_new_refuses_an_existing_id)
{
	json_t *rec = NULL;

	cr_assert_eq(put(STORE_ORDER, "o1", "{\"n\":1}", STORE_PUT_NEW),
	    ANVIL_OK, "%s", err);
	cr_assert_eq(put(STORE_ORDER, "o1", "{\"n\":2}", STORE_PUT_NEW),
	    ANVIL_ERR_EXISTS);
	cr_assert(strstr(err, "o1") != NULL, "err names the id: %s", err);
	rec = get(STORE_ORDER, "o1");
	cr_assert_eq(json_integer_value(json_object_get(rec, "n")), 1,
	    "the refused write changed nothing");
	json_decref(rec);
	put_ok(STORE_ORDER, "o1", "{\"n\":3}");
	rec = get(STORE_ORDER, "o1");
	cr_assert_eq(json_integer_value(json_object_get(rec, "n")), 3,
	    "a plain put overwrites");
	json_decref(rec);
}

STORE_CASE(missing_records_are_notfound)
{
	static const struct {
		const char *desc;
		enum op_kind op;
		enum store_kind kind;
		const char *id;
	} rows[] = {
		{ "get account", OP_GET, STORE_ACCOUNT, "nobody" },
		{ "get order", OP_GET, STORE_ORDER, "nobody" },
		{ "get authz", OP_GET, STORE_AUTHZ, "nobody" },
		{ "get challenge", OP_GET, STORE_CHALLENGE, "nobody" },
		{ "get cert", OP_GET, STORE_CERT, "00ff" },
		{ "del account", OP_DEL, STORE_ACCOUNT, "nobody" },
		{ "del cert", OP_DEL, STORE_CERT, "00ff" },
		{ "thumbprint", OP_THUMB, STORE_ACCOUNT, "no-such-thumb" },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct op o = { .op = rows[i].op, .kind = rows[i].kind,
		    .id = rows[i].id };

		cr_expect_eq(run(&o), ANVIL_ERR_NOTFOUND, "%s", rows[i].desc);
		cr_expect_null(o.rec, "%s", rows[i].desc);
		cr_expect_null(o.found, "%s", rows[i].desc);
		op_clear(&o);
	}
}

STORE_CASE(del_removes_record_and_index_entries)
{
	struct op o = { .op = OP_DEL, .kind = STORE_ACCOUNT, .id = "a1" };

	put_ok(STORE_ACCOUNT, "a1", "{\"thumbprint\":\"T1\"}");
	put_ok(STORE_ORDER, "o1", "{\"account\":\"a1\"}");
	put_ok(STORE_CERT, "0a", "{\"account\":\"a1\",\"revoked\":{}}");
	put_ok(STORE_AUTHZ, "z1", "{\"account\":\"a1\",\"identifier\":"
	    "{\"type\":\"dns\",\"value\":\"a.test\"}}");
	cr_assert_eq(run(&o), ANVIL_OK, "%s", err);
	o.kind = STORE_ORDER;
	o.id = "o1";
	cr_assert_eq(run(&o), ANVIL_OK, "%s", err);
	o.kind = STORE_CERT;
	o.id = "0a";
	cr_assert_eq(run(&o), ANVIL_OK, "%s", err);
	o.kind = STORE_AUTHZ;
	o.id = "z1";
	cr_assert_eq(run(&o), ANVIL_OK, "%s", err);
	cr_assert_eq(get_rc(STORE_ACCOUNT, "a1"), ANVIL_ERR_NOTFOUND);
	cr_assert_null(by_thumb("T1"));
	expect_list(STORE_ORDER, "a1", NULL, 100, "");
	expect_list(STORE_CERT, "a1", NULL, 100, "");
	expect_list(STORE_AUTHZ, "a1", NULL, 100, "");
	expect_ident("a1", "dns", "a.test", "");
	cr_assert_eq(run(&o), ANVIL_ERR_NOTFOUND, "second delete");
}

STORE_CASE(failing_function_rolls_back)
{
	put_ok(STORE_ORDER, "keep", "{}");
	cr_assert_eq(put(STORE_ACCOUNT, "a1", "{\"thumbprint\":\"T\"}", 0),
	    ANVIL_OK);
	/* a2 is written, then its thumbprint is refused: nothing stays. */
	cr_assert_eq(put(STORE_ACCOUNT, "a2", "{\"thumbprint\":\"T\"}", 0),
	    ANVIL_ERR_EXISTS);
	cr_assert_eq(get_rc(STORE_ACCOUNT, "a2"), ANVIL_ERR_NOTFOUND);
	cr_assert_eq(get_rc(STORE_ORDER, "keep"), ANVIL_OK);
}

static anvil_err
put_then_fail(struct store_txn *t, void *arg)
{
	json_t *rec = json_object();
	anvil_err rc;

	(void)arg;
	rc = store_put(t, STORE_ORDER, "ghost", rec, 0);
	json_decref(rec);
	cr_assert_eq(rc, ANVIL_OK);
	return ANVIL_ERR_BADCSR;
}

STORE_CASE(run_aborts_when_the_function_fails)
{
	cr_assert_eq(store_run(st, 0, put_then_fail, NULL, err, sizeof(err)),
	    ANVIL_ERR_BADCSR, "store_run returns fn's error");
	cr_assert_eq(get_rc(STORE_ORDER, "ghost"), ANVIL_ERR_NOTFOUND);
	cr_assert_eq(store_run(NULL, 0, put_then_fail, NULL, err,
	    sizeof(err)), ANVIL_ERR_INVALID);
	cr_assert_eq(store_run(st, 0, NULL, NULL, err, sizeof(err)),
	    ANVIL_ERR_INVALID);
}

/* ------------------------------------------------------------ ids */

STORE_CASE(bad_ids_are_invalid)
{
	char long_id[130];
	static const struct {
		const char *desc;
		const char *id;
	} rows[] = {
		{ "empty", "" },
		{ "space inside", "a b" },
		{ "leading space", " a" },
		{ "tab", "a\tb" },
		{ "newline", "a\n" },
		{ "control character", "a\x01" },
		{ "DEL", "a\x7f" },
		{ "UTF-8", "caf\xc3\xa9" },
		{ "129 characters", NULL },	/* long_id */
	};
	enum op_kind ops[] = { OP_PUT, OP_GET, OP_DEL };
	json_t *rec = json_object();
	size_t i, j;

	memset(long_id, 'x', 129);
	long_id[129] = '\0';
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		for (j = 0; j < sizeof(ops) / sizeof(ops[0]); j++) {
			struct op o = { .op = ops[j], .kind = STORE_ORDER,
			    .id = rows[i].id ? rows[i].id : long_id,
			    .in = rec };

			cr_expect_eq(run(&o), ANVIL_ERR_INVALID,
			    "%s (op %d)", rows[i].desc, (int)ops[j]);
			op_clear(&o);
		}
	}
	/* The edges that are fine: 1 and 128 characters, all of !..~ */
	long_id[128] = '\0';
	put_ok(STORE_ORDER, long_id, "{}");
	put_ok(STORE_ORDER, "x", "{}");
	put_ok(STORE_ORDER, "!~#%&'()*+,-./:;<=>?@[\\]^_`{|}", "{}");
	cr_assert_eq(get_rc(STORE_ORDER, long_id), ANVIL_OK);
	json_decref(rec);
}

STORE_CASE(bad_calls_are_invalid)
{
	struct op o = { .op = OP_PUT, .kind = STORE_KIND__MAX, .id = "x" };

	o.in = json_object();
	cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "kind out of range");
	json_decref(o.in);
	o.in = json_array();
	o.kind = STORE_ORDER;
	cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "record is not an object");
	json_decref(o.in);
	o.in = NULL;
	cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "no record");
	o.op = OP_GET;
	o.kind = (enum store_kind)-1;
	cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "get: kind out of range");
	o.op = OP_EACH;
	o.kind = STORE_KIND__MAX;
	cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "each: kind out of range");
	op_clear(&o);
	store_close(NULL);
	store_ids_free(NULL, 0);
}

STORE_CASE(bad_index_members_are_invalid)
{
	static const struct {
		const char *desc;
		enum store_kind kind;
		const char *rec;
	} rows[] = {
		{ "thumbprint a number", STORE_ACCOUNT, "{\"thumbprint\":42}" },
		{ "thumbprint empty", STORE_ACCOUNT, "{\"thumbprint\":\"\"}" },
		{ "thumbprint with space", STORE_ACCOUNT,
		    "{\"thumbprint\":\"a b\"}" },
		{ "thumbprint null", STORE_ACCOUNT, "{\"thumbprint\":null}" },
		{ "order account a number", STORE_ORDER, "{\"account\":7}" },
		{ "order account with space", STORE_ORDER,
		    "{\"account\":\"a b\"}" },
		{ "cert account an object", STORE_CERT, "{\"account\":{}}" },
		{ "authz identifier a string", STORE_AUTHZ,
		    "{\"account\":\"a\",\"identifier\":\"x\"}" },
		{ "authz identifier without value", STORE_AUTHZ,
		    "{\"account\":\"a\",\"identifier\":{\"type\":\"dns\"}}" },
		{ "authz identifier value a number", STORE_AUTHZ,
		    "{\"account\":\"a\",\"identifier\":"
		    "{\"type\":\"dns\",\"value\":1}}" },
		{ "authz identifier value empty", STORE_AUTHZ,
		    "{\"account\":\"a\",\"identifier\":"
		    "{\"type\":\"dns\",\"value\":\"\"}}" },
		{ "authz identifier type too long", STORE_AUTHZ,
		    "{\"account\":\"a\",\"identifier\":"
		    "{\"type\":\"dnsdnsdnsdnsdnsdns\",\"value\":\"a\"}}" },
		{ "authz identifier value with NUL", STORE_AUTHZ,
		    "{\"account\":\"a\",\"identifier\":"
		    "{\"type\":\"dns\",\"value\":\"a\\u0000b\"}}" },
		{ "cert revoked true", STORE_CERT, "{\"revoked\":true}" },
		{ "cert revoked a string", STORE_CERT,
		    "{\"revoked\":\"yes\"}" },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct op o = { .op = OP_PUT, .kind = rows[i].kind,
		    .id = "r1" };
		json_error_t jerr;

		o.in = json_loads(rows[i].rec, JSON_ALLOW_NUL, &jerr);
		cr_assert_not_null(o.in, "%s: %s", rows[i].desc, jerr.text);
		cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "%s", rows[i].desc);
		json_decref(o.in);
		cr_expect_eq(get_rc(rows[i].kind, "r1"), ANVIL_ERR_NOTFOUND,
		    "%s: nothing written", rows[i].desc);
	}
}

/* ------------------------------------------------------------ thumbprints */

STORE_CASE(thumbprint_finds_its_account)
{
	char *id = NULL;

	put_ok(STORE_ACCOUNT, "a1", "{\"thumbprint\":\"NzbLsXh8uDCcd-6MNwXF4W_"
	    "7noWXFZAfHkxZsRGC9Xs\"}");
	put_ok(STORE_ACCOUNT, "a2", "{\"thumbprint\":\"other\"}");
	put_ok(STORE_ACCOUNT, "a3", "{\"status\":\"valid\"}");
	id = by_thumb("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	cr_assert_str_eq(id, "a1");
	free(id);
	id = by_thumb("other");
	cr_assert_str_eq(id, "a2");
	free(id);
	cr_assert_null(by_thumb("NzbLsXh8uDCcd"), "no prefix match");
}

STORE_CASE(thumbprint_is_unique_across_accounts)
{
	char *id = NULL;

	put_ok(STORE_ACCOUNT, "a1", "{\"thumbprint\":\"T\"}");
	cr_assert_eq(put(STORE_ACCOUNT, "a2", "{\"thumbprint\":\"T\"}", 0),
	    ANVIL_ERR_EXISTS);
	cr_assert_eq(put(STORE_ACCOUNT, "a2", "{\"thumbprint\":\"T\"}",
	    STORE_PUT_NEW), ANVIL_ERR_EXISTS);
	put_ok(STORE_ACCOUNT, "a1", "{\"thumbprint\":\"T\",\"n\":2}");
	id = by_thumb("T");
	cr_assert_str_eq(id, "a1", "updating the holder keeps it");
	free(id);
	cr_assert_eq(get_rc(STORE_ACCOUNT, "a2"), ANVIL_ERR_NOTFOUND);
}

STORE_CASE(thumbprint_moves_with_a_key_change)
{
	char *id = NULL;

	put_ok(STORE_ACCOUNT, "a1", "{\"thumbprint\":\"old\"}");
	put_ok(STORE_ACCOUNT, "a1", "{\"thumbprint\":\"new\"}");
	cr_assert_null(by_thumb("old"), "old entry dropped");
	id = by_thumb("new");
	cr_assert_str_eq(id, "a1");
	free(id);
	put_ok(STORE_ACCOUNT, "a2", "{\"thumbprint\":\"old\"}");
	id = by_thumb("old");
	cr_assert_str_eq(id, "a2", "the old thumbprint is free again");
	free(id);
	put_ok(STORE_ACCOUNT, "a1", "{\"status\":\"deactivated\"}");
	cr_assert_null(by_thumb("new"), "dropped with the member");
}

/* ------------------------------------------------------------ lists */

STORE_CASE(list_by_account_pages_in_id_order)
{
	char id[16], want[512] = "";
	int i, k;

	/* Written out of order: the index returns them sorted. */
	for (k = 0; k < 25; k++) {
		i = (k * 7) % 25;
		snprintf(id, sizeof(id), "o%02d", i);
		put_ok(STORE_ORDER, id, "{\"account\":\"A\"}");
	}
	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "p%d", i);
		put_ok(STORE_ORDER, id, "{\"account\":\"B\"}");
	}
	put_ok(STORE_ORDER, "loose", "{\"status\":\"pending\"}");
	expect_list(STORE_ORDER, "A", NULL, 10,
	    "o00,o01,o02,o03,o04,o05,o06,o07,o08,o09");
	expect_list(STORE_ORDER, "A", "o09", 10,
	    "o10,o11,o12,o13,o14,o15,o16,o17,o18,o19");
	expect_list(STORE_ORDER, "A", "o19", 10, "o20,o21,o22,o23,o24");
	expect_list(STORE_ORDER, "A", "o24", 10, "");
	expect_list(STORE_ORDER, "A", "o10x", 3, "o11,o12,o13");
	expect_list(STORE_ORDER, "A", "0", 2, "o00,o01");
	expect_list(STORE_ORDER, "A", "zzz", 2, "");
	expect_list(STORE_ORDER, "A", NULL, 0, "");
	for (i = 0; i < 25; i++) {
		snprintf(id, sizeof(id), "%so%02d", i ? "," : "", i);
		strcat(want, id);
	}
	expect_list(STORE_ORDER, "A", NULL, SIZE_MAX, want);
	expect_list(STORE_ORDER, "B", NULL, 100, "p0,p1,p2,p3,p4");
	expect_list(STORE_ORDER, "C", NULL, 100, "");
	expect_list(STORE_CERT, "A", NULL, 100, "");
	/* An order moved to another account moves in the index. */
	put_ok(STORE_ORDER, "p2", "{\"account\":\"C\"}");
	expect_list(STORE_ORDER, "B", NULL, 100, "p0,p1,p3,p4");
	expect_list(STORE_ORDER, "C", NULL, 100, "p2");
}

STORE_CASE(list_by_account_refuses_bad_calls)
{
	static const struct {
		const char *desc;
		enum store_kind kind;
		const char *account;
		const char *after;
	} rows[] = {
		{ "accounts have no account index", STORE_ACCOUNT, "A", NULL },
		{ "challenges have no account index", STORE_CHALLENGE, "A",
		    NULL },
		{ "kind out of range", STORE_KIND__MAX, "A", NULL },
		{ "no account", STORE_ORDER, NULL, NULL },
		{ "empty account", STORE_ORDER, "", NULL },
		{ "account with space", STORE_ORDER, "A B", NULL },
		{ "empty after", STORE_ORDER, "A", "" },
		{ "after with control character", STORE_ORDER, "A", "o\x02" },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct op o = { .op = OP_LIST, .kind = rows[i].kind,
		    .id = rows[i].account, .after = rows[i].after,
		    .limit = 10 };

		cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "%s", rows[i].desc);
		cr_expect_null(o.ids, "%s", rows[i].desc);
		cr_expect_eq(o.n, 0, "%s", rows[i].desc);
		op_clear(&o);
	}
}

STORE_CASE(authz_by_identifier_matches_account_type_and_value)
{
#define AUTHZ_FMT "{\"account\":\"%s\",\"identifier\":" \
	"{\"type\":\"%s\",\"value\":\"%s\"}}"
	char rec[256];
	struct op o = { .op = OP_IDENT };

	snprintf(rec, sizeof(rec), AUTHZ_FMT, "A", "dns", "example.com");
	put_ok(STORE_AUTHZ, "z2", rec);
	put_ok(STORE_AUTHZ, "z1", rec);
	snprintf(rec, sizeof(rec), AUTHZ_FMT, "A", "dns", "other.com");
	put_ok(STORE_AUTHZ, "z3", rec);
	snprintf(rec, sizeof(rec), AUTHZ_FMT, "B", "dns", "example.com");
	put_ok(STORE_AUTHZ, "z4", rec);
	snprintf(rec, sizeof(rec), AUTHZ_FMT, "A", "ip", "192.0.2.1");
	put_ok(STORE_AUTHZ, "z5", rec);
	put_ok(STORE_AUTHZ, "z6", "{\"identifier\":{\"type\":\"dns\","
	    "\"value\":\"example.com\"}}");

	expect_ident("A", "dns", "example.com", "z1,z2");
	expect_ident("B", "dns", "example.com", "z4");
	expect_ident("A", "ip", "192.0.2.1", "z5");
	expect_ident("A", "ip", "example.com", "");
	expect_ident("A", "dns", "example.co", "");
	expect_ident("A", "dns", "example.com.", "");
	expect_list(STORE_AUTHZ, "A", NULL, 100, "z1,z2,z3,z5");

	snprintf(rec, sizeof(rec), AUTHZ_FMT, "A", "dns", "other.com");
	put_ok(STORE_AUTHZ, "z2", rec);
	expect_ident("A", "dns", "example.com", "z1");
	expect_ident("A", "dns", "other.com", "z2,z3");

	/* Bad calls. */
	o.id = "A";
	o.type = "dns";
	o.value = "";
	cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "empty value");
	o.value = NULL;
	cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "no value");
	o.value = "x";
	o.type = "";
	cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "empty type");
	o.type = "dns";
	o.id = "";
	cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "empty account");
	op_clear(&o);
#undef AUTHZ_FMT
}

/* ------------------------------------------------------------ walks */

STORE_CASE(revoked_index_follows_the_member)
{
	anvil_err rc;
	char *s = NULL;

	put_ok(STORE_CERT, "01", "{\"account\":\"A\"}");
	put_ok(STORE_CERT, "02", "{\"account\":\"A\"}");
	s = walk_ids(OP_REVOKED, STORE_CERT, &rc);
	cr_assert_eq(rc, ANVIL_OK, "%s", err);
	cr_assert_str_eq(s, "");
	free(s);

	put_ok(STORE_CERT, "02", "{\"account\":\"A\",\"revoked\":"
	    "{\"reason\":1,\"at\":1700000000}}");
	s = walk_ids(OP_REVOKED, STORE_CERT, &rc);
	cr_assert_eq(rc, ANVIL_OK, "%s", err);
	cr_assert_str_eq(s, "02");
	free(s);

	put_ok(STORE_CERT, "02", "{\"account\":\"A\"}");
	s = walk_ids(OP_REVOKED, STORE_CERT, &rc);
	cr_assert_str_eq(s, "", "member gone, entry gone");
	free(s);

	put_ok(STORE_CERT, "01", "{\"account\":\"A\",\"revoked\":{}}");
	put_ok(STORE_CERT, "03", "{\"revoked\":{}}");
	s = walk_ids(OP_REVOKED, STORE_CERT, &rc);
	cr_assert_str_eq(s, "01,03");
	free(s);
	cr_assert_eq(get_rc(STORE_CERT, "01"), ANVIL_OK);
	{
		struct op o = { .op = OP_DEL, .kind = STORE_CERT, .id = "01" };

		cr_assert_eq(run(&o), ANVIL_OK, "%s", err);
	}
	s = walk_ids(OP_REVOKED, STORE_CERT, &rc);
	cr_assert_str_eq(s, "03", "deleted certificate leaves the index");
	free(s);
	expect_list(STORE_CERT, "A", NULL, 10, "02");
}

STORE_CASE(each_visits_every_record_and_stops_on_request)
{
	struct op o = { .op = OP_EACH, .kind = STORE_CHALLENGE };
	anvil_err rc;
	char *s = NULL;

	put_ok(STORE_CHALLENGE, "c2", "{}");
	put_ok(STORE_CHALLENGE, "c1", "{}");
	put_ok(STORE_CHALLENGE, "c3", "{}");
	put_ok(STORE_ORDER, "o1", "{}");
	s = walk_ids(OP_EACH, STORE_CHALLENGE, &rc);
	cr_assert_eq(rc, ANVIL_OK, "%s", err);
	cr_assert_str_eq(s, "c1,c2,c3");
	free(s);
	s = walk_ids(OP_EACH, STORE_ACCOUNT, &rc);
	cr_assert_eq(rc, ANVIL_OK);
	cr_assert_str_eq(s, "", "an empty kind");
	free(s);

	o.stop_after = 2;
	o.stop = ANVIL_ERR_EXISTS;
	cr_assert_eq(run(&o), ANVIL_ERR_EXISTS, "callback's error returned");
	cr_assert_eq(json_array_size(o.seen), 2, "and the walk stopped");
	o.stop = (anvil_err)1000;
	cr_assert_eq(run(&o), ANVIL_ERR_INVALID, "a non-anvil_err");
	op_clear(&o);
}

/* ------------------------------------------------------------ counters */

STORE_CASE(counters_start_at_one_and_grow)
{
	struct op o = { .op = OP_CNEXT };
	int i;

	cr_assert_eq(counter(OP_CGET, "crl"), 0, "never raised: 0");
	cr_assert_eq(counter(OP_CNEXT, "crl"), 1);
	cr_assert_eq(counter(OP_CNEXT, "crl"), 2);
	for (i = 3; i <= 50; i++)
		cr_assert_eq(counter(OP_CNEXT, "crl"), (uint64_t)i);
	cr_assert_eq(counter(OP_CGET, "crl"), 50);
	cr_assert_eq(counter(OP_CNEXT, "serial"), 1, "counters are separate");
	cr_assert_eq(counter(OP_CGET, "crl"), 50);

	o.id = "";
	cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "empty name");
	o.id = "a b";
	cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "name with space");
	o.id = "01234567890123456789012345678901234567890123456789012345678901"
	    "234";
	cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "65 characters");
	o.op = OP_CGET;
	o.id = NULL;
	cr_expect_eq(run(&o), ANVIL_ERR_INVALID, "no name");
}

/* ------------------------------------------------------------ nonces */

STORE_CASE(nonce_is_spent_once_and_purge_drops_expired_only)
{
	time_t now = time(NULL);
	const unsigned char n1[] = "nonce-1", n2[] = "nonce-2",
	    n3[] = "nonce-3";
	unsigned char big[65];
	size_t purged = 99;

	cr_assert_eq(store_nonce_spend(st, n1, 7, now + 300), ANVIL_OK);
	cr_assert_eq(store_nonce_spend(st, n1, 7, now + 300),
	    ANVIL_ERR_EXISTS);
	cr_assert_eq(store_nonce_spend(st, n1, 7, now + 900),
	    ANVIL_ERR_EXISTS, "a later expiry changes nothing");
	cr_assert_eq(store_nonce_spend(st, n1, 6, now + 300), ANVIL_OK,
	    "a prefix is another nonce");
	cr_assert_eq(store_nonce_spend(st, n2, 7, now - 10), ANVIL_OK);
	cr_assert_eq(store_nonce_spend(st, n3, 7, now - 1), ANVIL_OK);

	cr_assert_eq(store_nonce_purge(st, now, &purged), ANVIL_OK);
	cr_assert_eq(purged, 2, "only the two expired ones");
	cr_assert_eq(store_nonce_spend(st, n1, 7, now + 300),
	    ANVIL_ERR_EXISTS, "live nonce kept");
	cr_assert_eq(store_nonce_spend(st, n2, 7, now + 300), ANVIL_OK,
	    "purged nonce can be recorded again");
	cr_assert_eq(store_nonce_purge(st, now, &purged), ANVIL_OK);
	cr_assert_eq(purged, 0);

	memset(big, 'n', sizeof(big));
	cr_expect_eq(store_nonce_spend(st, big, 0, now), ANVIL_ERR_INVALID,
	    "empty nonce");
	cr_expect_eq(store_nonce_spend(st, big, 65, now), ANVIL_ERR_INVALID,
	    "65 bytes");
	cr_expect_eq(store_nonce_spend(st, big, 64, now), ANVIL_OK,
	    "64 bytes");
	cr_expect_eq(store_nonce_spend(st, NULL, 4, now), ANVIL_ERR_INVALID,
	    "no nonce");
	cr_expect_eq(store_nonce_spend(NULL, n1, 4, now), ANVIL_ERR_INVALID,
	    "no store");
	cr_expect_eq(store_nonce_purge(NULL, now, &purged), ANVIL_ERR_INVALID,
	    "no store");
}

/* What spend_in_fn does: spend nonce (len bytes), put a record, fail. */
struct spend_in {
	const unsigned char *nonce;
	size_t len;
	const char *put;	/* an order's id to write first, or NULL */
	anvil_err end;		/* returned after a successful spend */
};

static anvil_err
spend_in_fn(struct store_txn *t, void *arg)
{
	struct spend_in *a = arg;
	json_t *rec = NULL;
	anvil_err rc;

	if (a->put != NULL) {
		if ((rec = json_pack("{s:s}", "account", "A")) == NULL)
			return ANVIL_ERR_NOMEM;
		rc = store_put(t, STORE_ORDER, a->put, rec, STORE_PUT_NEW);
		json_decref(rec);
		if (rc != ANVIL_OK)
			return rc;
	}
	if ((rc = store_nonce_spend_txn(t, a->nonce, a->len,
	    time(NULL) + 300)) != ANVIL_OK)
		return rc;
	return a->end;
}

static anvil_err
spend_in(const char *nonce, size_t len, const char *put, anvil_err end)
{
	struct spend_in a = { (const unsigned char *)nonce, len, put, end };

	err[0] = '\0';
	return store_run(st, STORE_TXN_NOSYNC | STORE_TXN_READ_COMMITTED,
	    spend_in_fn, &a, err, sizeof(err));
}

STORE_CASE(nonce_spent_in_a_transaction_goes_with_it)
{
	time_t now = time(NULL);
	char big[65];

	cr_assert_eq(spend_in("nonce-1", 7, "o1", ANVIL_OK), ANVIL_OK, "%s",
	    err);
	cr_assert_eq(get_rc(STORE_ORDER, "o1"), ANVIL_OK);
	cr_assert_eq(store_nonce_spend(st, (const unsigned char *)"nonce-1",
	    7, now + 300), ANVIL_ERR_EXISTS, "committed with the txn");
	cr_assert_eq(spend_in("nonce-1", 7, "o2", ANVIL_OK),
	    ANVIL_ERR_EXISTS, "spent before");
	cr_assert_eq(get_rc(STORE_ORDER, "o2"), ANVIL_ERR_NOTFOUND,
	    "a refused spend takes its transaction's writes back");
	cr_assert_eq(spend_in("nonce-2", 7, NULL, ANVIL_ERR_UNAUTHORIZED),
	    ANVIL_ERR_UNAUTHORIZED);
	cr_assert_eq(store_nonce_spend(st, (const unsigned char *)"nonce-2",
	    7, now + 300), ANVIL_OK, "rolled back with the txn");
	cr_assert_eq(spend_in("nonce-2", 7, NULL, ANVIL_OK),
	    ANVIL_ERR_EXISTS, "a spend of store_nonce_spend counts too");

	memset(big, 'n', sizeof(big));
	cr_expect_eq(spend_in(big, 0, NULL, ANVIL_OK), ANVIL_ERR_INVALID,
	    "empty nonce");
	cr_expect_eq(spend_in(big, 65, NULL, ANVIL_OK), ANVIL_ERR_INVALID,
	    "65 bytes");
	cr_expect_eq(spend_in(NULL, 4, NULL, ANVIL_OK), ANVIL_ERR_INVALID,
	    "no nonce");
	cr_expect_eq(spend_in(big, 64, NULL, ANVIL_OK), ANVIL_OK, "%s", err);
	cr_expect_eq(store_nonce_spend_txn(NULL, (const unsigned char *)"n",
	    1, now), ANVIL_ERR_INVALID, "no transaction");
}

STORE_CASE(nonce_purge_works_in_batches)
{
	time_t now = time(NULL);
	unsigned char n[16];
	size_t purged = 0;
	int i;

	/* More than one purge transaction's worth, live ones in between. */
	for (i = 0; i < 2600; i++) {
		snprintf((char *)n, sizeof(n), "n%05d", i);
		cr_assert_eq(store_nonce_spend(st, n, 6,
		    i % 100 == 0 ? now + 60 : now - 60), ANVIL_OK);
	}
	cr_assert_eq(store_nonce_purge(st, now, &purged), ANVIL_OK);
	cr_assert_eq(purged, 2600 - 26);
	for (i = 0; i < 2600; i++) {
		snprintf((char *)n, sizeof(n), "n%05d", i);
		cr_assert_eq(store_nonce_spend(st, n, 6, now + 60),
		    i % 100 == 0 ? ANVIL_ERR_EXISTS : ANVIL_OK, "nonce %d", i);
	}
}

/* ------------------------------------------------------------ processes */

#define RACERS		16	/* processes spending one nonce */
#define BUMPERS		8	/* processes raising one counter ... */
#define BUMPS		25	/* ... this many times each */
#define WRITERS		6	/* processes adding to one record ... */
#define WRITES		10	/* ... this many times each */

enum { CH_WON = 0, CH_LOST = 1, CH_OPEN = 10, CH_RUN, CH_ORDER, CH_FILE };

static int ready_fd = -1;	/* in a child: where to say it is open */

static void
child_ready(void)
{
	char c = 'r';

	if (write(ready_fd, &c, 1) != 1)
		_exit(CH_FILE);
	close(ready_fd);
}

/* A child's last words: its own handle closed cleanly, then code. */
static void
child_done(struct store *s, int code)
{
	store_close(s);
	_exit(code);
}

/*
 * The store of this test as another process opens it: the same folder
 * or the same PostgreSQL schema. A forked child must not touch the
 * parent's handle (its connection or environment is the parent's); it
 * leaves with _exit.
 */
static struct store *
child_open(void)
{
	struct store_cfg cfg;
	struct store *s = NULL;
	char e[512] = "";
	anvil_err rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(90);
	if (pg_conninfo != NULL) {
		cfg = pg_cfg();
		rc = store_open_cfg(dir, &cfg, 0, &s, e, sizeof(e));
	} else
		rc = store_open(dir, 0, &s, e, sizeof(e));
	if (rc != ANVIL_OK) {
		fprintf(stderr, "child %ld: open: %s\n", (long)getpid(), e);
		_exit(CH_OPEN);
	}
	child_ready();
	return s;
}

/* Blocks until the parent closes the write end of the start pipe. */
static void
child_wait(int fd)
{
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
	close(fd);
}

/*
 * Forks n children running body(i, start_fd). Each opens its store and
 * says so on the ready pipe (child_ready) before it waits: returns once
 * all are open, so that the start is one instant for all.
 */
static void
fork_all(pid_t *pids, int n, void (*body)(int, int), int *go)
{
	int fds[2], rdy[2], i;
	char c;

	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(pipe(rdy), 0);
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		cr_assert(pids[i] >= 0, "fork");
		if (pids[i] == 0) {
			close(fds[1]);
			close(rdy[0]);
			ready_fd = rdy[1];
			body(i, fds[0]);
			_exit(CH_RUN);
		}
	}
	close(fds[0]);
	close(rdy[1]);
	for (i = 0; i < n; i++)
		cr_assert_eq(read(rdy[0], &c, 1), 1, "child %d of %d never "
		    "opened its store", i, n);
	close(rdy[0]);
	*go = fds[1];
}

/* Starts the children at once and collects their exit codes. */
static void
release_and_reap(pid_t *pids, int n, int go, int *codes)
{
	int i, status;

	close(go);
	for (i = 0; i < n; i++) {
		cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
		cr_assert(WIFEXITED(status), "child %d died", i);
		codes[i] = WEXITSTATUS(status);
	}
}

static void
racer(int i, int fd)
{
	static const unsigned char nonce[] = "the-one-nonce";
	struct store *s = child_open();
	anvil_err rc;

	struct spend_in a = { nonce, sizeof(nonce) - 1, NULL, ANVIL_OK };

	child_wait(fd);
	/* Odd ones spend inside a transaction, as auth.c's kid_fn does. */
	if (i % 2 == 0)
		rc = store_nonce_spend(s, nonce, sizeof(nonce) - 1,
		    time(NULL) + 60);
	else
		rc = store_run(s, STORE_TXN_NOSYNC | STORE_TXN_READ_COMMITTED,
		    spend_in_fn, &a, NULL, 0);
	child_done(s, rc == ANVIL_OK ? CH_WON : rc == ANVIL_ERR_EXISTS ?
	    CH_LOST : CH_RUN);
}

STORE_CASE(one_of_concurrent_nonce_spends_wins)
{
	pid_t pids[RACERS];
	int codes[RACERS], go, i, won = 0, lost = 0;

	fork_all(pids, RACERS, racer, &go);
	release_and_reap(pids, RACERS, go, codes);
	for (i = 0; i < RACERS; i++) {
		won += codes[i] == CH_WON;
		lost += codes[i] == CH_LOST;
	}
	cr_assert_eq(won, 1, "exactly one spend wins (%d did)", won);
	cr_assert_eq(lost, RACERS - 1, "every other one is a replay");
	cr_assert_eq(store_nonce_spend(st, (const unsigned char *)
	    "the-one-nonce", 13, time(NULL) + 60), ANVIL_ERR_EXISTS);
}

static anvil_err
bump_fn(struct store_txn *t, void *arg)
{
	return store_counter_next(t, "serial", arg);
}

static void
bumper(int i, int fd)
{
	struct store *s = child_open();
	char path[4096], e[512];
	uint64_t v = 0, last = 0;
	FILE *f = NULL;
	int k;

	snprintf(path, sizeof(path), "%s/bumps-%d", dir, i);
	if ((f = fopen(path, "w")) == NULL)
		_exit(CH_FILE);
	child_wait(fd);
	for (k = 0; k < BUMPS; k++) {
		if (store_run(s, 0, bump_fn, &v, e, sizeof(e)) != ANVIL_OK) {
			fprintf(stderr, "bumper %d: %s\n", i, e);
			child_done(s, CH_RUN);
		}
		if (v <= last)
			child_done(s, CH_ORDER);
		last = v;
		fprintf(f, "%llu\n", (unsigned long long)v);
	}
	child_done(s, fclose(f) == 0 ? CH_WON : CH_FILE);
}

STORE_CASE(a_counter_raised_by_many_processes_stays_unique)
{
	pid_t pids[BUMPERS];
	int codes[BUMPERS], go, i;
	char seen[BUMPERS * BUMPS + 1] = { 0 }, path[4096];
	unsigned long long v;
	size_t total = 0;
	FILE *f = NULL;

	fork_all(pids, BUMPERS, bumper, &go);
	release_and_reap(pids, BUMPERS, go, codes);
	for (i = 0; i < BUMPERS; i++) {
		cr_assert_eq(codes[i], CH_WON, "bumper %d: code %d (%d: "
		    "values not increasing)", i, codes[i], CH_ORDER);
		snprintf(path, sizeof(path), "%s/bumps-%d", dir, i);
		cr_assert_not_null(f = fopen(path, "r"));
		while (fscanf(f, "%llu", &v) == 1) {
			cr_assert(v >= 1 && v <= BUMPERS * BUMPS,
			    "value %llu out of range", v);
			cr_assert_eq(seen[v], 0, "value %llu handed out twice",
			    v);
			seen[v] = 1;
			total++;
		}
		fclose(f);
	}
	cr_assert_eq(total, BUMPERS * BUMPS, "every raise got a value");
	cr_assert_eq(counter(OP_CGET, "serial"), BUMPERS * BUMPS);
}

/* Reads record "tally", adds one to "n" and writes it back. */
static anvil_err
add_fn(struct store_txn *t, void *arg)
{
	json_t *rec = NULL;
	anvil_err rc;

	(void)arg;
	if ((rc = store_get(t, STORE_ORDER, "tally", &rec)) != ANVIL_OK)
		return rc;
	rc = json_object_set_new(rec, "n", json_integer(json_integer_value(
	    json_object_get(rec, "n")) + 1)) == 0 ?
	    store_put(t, STORE_ORDER, "tally", rec, 0) : ANVIL_ERR_NOMEM;
	json_decref(rec);
	return rc;
}

static void
writer(int i, int fd)
{
	struct store *s = child_open();
	char e[512];
	int k;

	child_wait(fd);
	for (k = 0; k < WRITES; k++)
		if (store_run(s, 0, add_fn, NULL, e, sizeof(e)) != ANVIL_OK) {
			fprintf(stderr, "writer %d: %s\n", i, e);
			child_done(s, CH_RUN);
		}
	child_done(s, CH_WON);
}

/* A read-check-write transaction loses no update to a concurrent one. */
STORE_CASE(concurrent_read_modify_writes_lose_nothing)
{
	pid_t pids[WRITERS];
	int codes[WRITERS], go, i;
	json_t *rec = NULL;

	put_ok(STORE_ORDER, "tally", "{\"n\":0,\"account\":\"A\"}");
	fork_all(pids, WRITERS, writer, &go);
	release_and_reap(pids, WRITERS, go, codes);
	for (i = 0; i < WRITERS; i++)
		cr_assert_eq(codes[i], CH_WON, "writer %d: code %d", i,
		    codes[i]);
	rec = get(STORE_ORDER, "tally");
	cr_assert_eq(json_integer_value(json_object_get(rec, "n")),
	    WRITERS * WRITES, "every increment kept");
	json_decref(rec);
	expect_list(STORE_ORDER, "A", NULL, 10, "tally");
}

/* ------------------------------------------------------------ PostgreSQL */

/* Runs the SQL that fmt and its arguments make, as pg_admin. */
static void pg_admin_fmt(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void
pg_admin_fmt(const char *fmt, ...)
{
	va_list ap;
	char *sql = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&sql, fmt, ap);
	va_end(ap);
	cr_assert(n > 0);
	pg_admin(sql);
	free(sql);
}

static anvil_err
pg_reopen(unsigned flags)
{
	struct store_cfg cfg = pg_cfg();

	store_close(st);
	st = NULL;
	err[0] = '\0';
	return store_open_cfg(dir, &cfg, flags, &st, err, sizeof(err));
}

/* The schema is made by init (STORE_OPEN_CREATE) and checked by open. */
Test(store_pg, open_checks_the_schema_version)
{
	int was = -1, now = -1;

	pg_begin();
	put_ok(STORE_ORDER, "o1", "{}");
	cr_assert_eq(pg_reopen(0), ANVIL_OK, "%s", err);
	cr_assert_eq(get_rc(STORE_ORDER, "o1"), ANVIL_OK);
	cr_assert_eq(pg_reopen(STORE_OPEN_MIGRATE), ANVIL_OK, "a second "
	    "migration changes nothing: %s", err);
	store_schema(st, &was, &now);
	cr_assert_eq(was, now, "was %d, now %d", was, now);
	cr_assert_eq(get_rc(STORE_ORDER, "o1"), ANVIL_OK);

	/* A schema from a newer Anvil: refused, with or without create. */
	pg_admin_fmt("INSERT INTO %s.schema_version (version) VALUES (99)",
	    pg_schema);
	cr_assert_eq(pg_reopen(0), ANVIL_ERR_VERSION);
	cr_assert_null(st);
	cr_assert(strstr(err, "99") != NULL, "err names it: %s", err);
	cr_assert_eq(pg_reopen(STORE_OPEN_MIGRATE), ANVIL_ERR_VERSION);
	pg_admin_fmt("DELETE FROM %s.schema_version WHERE version = 99",
	    pg_schema);

	/* An empty schema: no store, and opening creates nothing. */
	pg_admin_fmt("DROP SCHEMA %s CASCADE; CREATE SCHEMA %s", pg_schema,
	    pg_schema);
	cr_assert_eq(pg_reopen(0), ANVIL_ERR_NOTFOUND);
	cr_assert(strstr(err, "anvil-admin init") != NULL, "%s", err);
	cr_assert_eq(pg_reopen(STORE_OPEN_CREATE), ANVIL_ERR_NOTFOUND,
	    "the web program does not make the schema: %s", err);
	cr_assert_eq(pg_reopen(STORE_OPEN_CREATE | STORE_OPEN_MIGRATE),
	    ANVIL_OK, "%s", err);
	store_schema(st, &was, &now);
	cr_assert_eq(was, 0);
	cr_assert_gt(now, 0);
	cr_assert_eq(get_rc(STORE_ORDER, "o1"), ANVIL_ERR_NOTFOUND);
}

Test(store_pg, a_server_that_is_away_is_unavailable)
{
	struct store_cfg cfg = { STORE_BACKEND_PG, NULL, 2 };
	struct store *s = NULL;
	char *p = NULL;

	pg_begin();
	cr_assert_eq(store_open_cfg(dir, &cfg, STORE_OPEN_CREATE, &s, err,
	    sizeof(err)), ANVIL_ERR_CONFIG, "no conninfo");
	cr_assert(strstr(err, "conninfo") != NULL, "%s", err);
	cr_assert(asprintf(&p, "host=%s/nobody-listens port=5432 "
	    "dbname=postgres", dir) > 0);
	cfg.conninfo = p;
	cr_assert_eq(store_open_cfg(dir, &cfg, STORE_OPEN_CREATE, &s, err,
	    sizeof(err)), ANVIL_ERR_UNAVAILABLE);
	cr_assert_null(s);
	cr_assert(strstr(err, "PostgreSQL") != NULL, "%s", err);
	free(p);
}

/* A connection the server dropped is made again by the next call. */
Test(store_pg, a_dropped_connection_is_made_again)
{
	pg_begin();
	put_ok(STORE_ORDER, "o1", "{}");
	pg_admin_fmt("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	    "WHERE application_name = '%s'", pg_schema);
	cr_assert_eq(get_rc(STORE_ORDER, "o1"), ANVIL_OK, "%s", err);
	cr_assert_eq(store_nonce_spend(st, (const unsigned char *)"n", 1,
	    time(NULL) + 60), ANVIL_OK);
	pg_admin_fmt("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	    "WHERE application_name = '%s'", pg_schema);
	cr_assert_eq(store_nonce_spend(st, (const unsigned char *)"n", 1,
	    time(NULL) + 60), ANVIL_ERR_EXISTS);
}

/*
 * The nonce floor on PostgreSQL is the server's start, which each spend
 * reads: a server that crashed lost the spends it had not flushed
 * (synchronous_commit off), and a restart moves the floor past them.
 */
Test(store_pg, a_spend_reads_the_servers_start_as_the_nonce_floor)
{
	PGconn *c = NULL;
	PGresult *r = NULL;
	long long started;

	pg_begin();
	cr_assert_eq(store_nonce_floor(st), 0, "no spend yet");
	cr_assert_eq(store_nonce_spend(st, (const unsigned char *)"f", 1,
	    time(NULL) + 60), ANVIL_OK, "%s", err);
	c = PQconnectdb(getenv(PG_ENV));
	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, "SELECT (extract(epoch FROM pg_postmaster_start_time())"
	    " * 1000)::bigint");
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	started = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	cr_assert_gt(started, 0);
	cr_assert_eq((long long)store_nonce_floor(st), started);
	/* A refused replay leaves the floor as it was. */
	cr_assert_eq(store_nonce_spend(st, (const unsigned char *)"f", 1,
	    time(NULL) + 60), ANVIL_ERR_EXISTS);
	cr_assert_eq((long long)store_nonce_floor(st), started);
}

Test(store_pg, backup_points_at_pg_dump_and_verify_checks_rows)
{
	char *p = NULL;

	pg_begin();
	cr_assert(asprintf(&p, "%s/backup", dir) > 0);
	cr_assert_neq(store_backup(st, p, err, sizeof(err)), ANVIL_OK);
	cr_assert(strstr(err, "pg_dump") != NULL, "%s", err);
	cr_assert_eq(access(p, F_OK), -1, "nothing written");
	free(p);

	put_ok(STORE_ACCOUNT, "a1", "{\"thumbprint\":\"T\"}");
	put_ok(STORE_ORDER, "o1", "{\"account\":\"a1\"}");
	put_ok(STORE_CERT, "0a", "{\"account\":\"a1\",\"revoked\":{}}");
	put_ok(STORE_AUTHZ, "z1", "{\"account\":\"a1\",\"identifier\":"
	    "{\"type\":\"dns\",\"value\":\"a.test\"}}");
	cr_assert_eq(store_verify(st, err, sizeof(err)), ANVIL_OK, "%s", err);

	pg_admin_fmt("UPDATE %s.records SET account = 'zz' WHERE id = 'o1'",
	    pg_schema);
	pg_admin_fmt("UPDATE %s.records SET revoked = false WHERE id = '0a'",
	    pg_schema);
	pg_admin_fmt("UPDATE %s.records SET rec = '[]' WHERE id = 'z1'",
	    pg_schema);
	cr_assert_eq(store_verify(st, err, sizeof(err)), ANVIL_ERR_CORRUPT);
	cr_assert(strstr(err, "3 damaged") != NULL, "%s", err);
	cr_assert(strstr(err, "records 1/o1") != NULL, "%s", err);
	cr_assert(strstr(err, "records 4/0a") != NULL, "%s", err);
	cr_assert(strstr(err, "records 2/z1") != NULL, "%s", err);
	cr_assert_eq(get_rc(STORE_AUTHZ, "z1"), ANVIL_ERR_CORRUPT);
}

/* ------------------------------------------------------------ kills */

/*
 * What tests/unit/test_store_procs.c asks of Berkeley DB after a process
 * died inside a transaction, asked of a client of PostgreSQL: the server
 * sees the dead client's socket close, rolls its transaction back and
 * releases its row locks, and no other process has anything to recover.
 */
#define HELD_PUTS	30	/* records of the transaction killed */
#define DONE_PUTS	20	/* records committed before it */
#define HELD_WAIT_MS	20000	/* for a child to hold its transaction */
#define AT_ONCE_MS	3000	/* the next transaction after a kill */
#define FREED_MS	10000	/* a waiter on a dead holder's row lock */
#define KILLERS		4	/* workers of the random kills */
#define KILLS		30	/* workers killed ... */
#define KILLS_BUDGET_MS	8000	/* ... within this long */
#define KILL_GAP_MS	150	/* the most between two kills */

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The single number that the query fmt makes answers, as pg_admin. */
static long pg_admin_num(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static long
pg_admin_num(const char *fmt, ...)
{
	PGconn *c = PQconnectdb(getenv(PG_ENV));
	PGresult *r = NULL;
	va_list ap;
	char *sql = NULL;
	long v;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&sql, fmt, ap);
	va_end(ap);
	cr_assert(n > 0);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect: %s",
	    PQerrorMessage(c));
	r = PQexec(c, sql);
	cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1,
	    "%s: %s", sql, PQresultErrorMessage(r));
	v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	free(sql);
	return v;
}

/* Keeps pid in pg_kids until kid_wait reaps it (or teardown_pg). */
static void
kid_add(pid_t pid)
{
	size_t i;

	for (i = 0; i < sizeof(pg_kids) / sizeof(pg_kids[0]); i++)
		if (pg_kids[i] == 0) {
			pg_kids[i] = pid;
			return;
		}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	cr_assert_fail("more than %zu children", i);
}

static void
kid_gone(pid_t pid)
{
	size_t i;

	for (i = 0; i < sizeof(pg_kids) / sizeof(pg_kids[0]); i++)
		if (pg_kids[i] == pid)
			pg_kids[i] = 0;
}

/* waitpid, and pid leaves pg_kids once reaped. */
static pid_t
kid_wait(pid_t pid, int *status, int flags)
{
	pid_t r = waitpid(pid, status, flags);

	if (r == pid)
		kid_gone(pid);
	return r;
}

/*
 * Forks a child that opens the store as another process does and runs
 * body(s, arg), which leaves with _exit; returns once the child is open.
 */
static pid_t
spawn_open(void (*body)(struct store *, void *), void *arg)
{
	int rdy[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe(rdy), 0);
	pid = fork();
	cr_assert(pid >= 0, "fork");
	if (pid == 0) {
		close(rdy[0]);
		ready_fd = rdy[1];
		body(child_open(), arg);
		_exit(CH_RUN);
	}
	kid_add(pid);
	close(rdy[1]);
	cr_assert_eq(read(rdy[0], &c, 1), 1, "child %ld never opened its "
	    "store", (long)pid);
	close(rdy[0]);
	return pid;
}

/* Reads a byte from fd within ms; cr_asserts otherwise. */
static void
expect_byte(int fd, int ms, const char *what)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	cr_assert_eq(poll(&p, 1, ms), 1, "timed out waiting for %s", what);
	cr_assert_eq(read(fd, &c, 1), 1, "%s: the child went away", what);
}

/* Puts record "<prefix><i>" for i < n, each new. */
static anvil_err
put_new(struct store_txn *t, const char *prefix, int n)
{
	char id[32];
	json_t *rec = NULL;
	anvil_err rc = ANVIL_OK;
	int i;

	for (i = 0; i < n && rc == ANVIL_OK; i++) {
		snprintf(id, sizeof(id), "%s%02d", prefix, i);
		if ((rec = json_pack("{s:s, s:i}", "account", "A", "i", i)) ==
		    NULL)
			return ANVIL_ERR_NOMEM;
		rc = store_put(t, STORE_ORDER, id, rec, STORE_PUT_NEW);
		json_decref(rec);
	}
	return rc;
}

/* DONE_PUTS records "c..." and a raise of counter "serial". */
static anvil_err
done_fn(struct store_txn *t, void *arg)
{
	uint64_t v;
	anvil_err rc;

	(void)arg;
	if ((rc = put_new(t, "c", DONE_PUTS)) != ANVIL_OK)
		return rc;
	return store_counter_next(t, "serial", &v);
}

/*
 * HELD_PUTS records "u...", a raise of "serial" and one of record
 * "tally" (its row locked FOR UPDATE by the put), all uncommitted while
 * the child waits to be killed.
 */
struct held {
	int say;		/* write end: a byte once all is written */
	int hang;		/* read end nobody writes: blocks */
	int hang_w;		/* its write end, the parent's alone */
	int commit_first;	/* done_fn committed before */
};

static anvil_err
held_fn(struct store_txn *t, void *arg)
{
	struct held *h = arg;
	uint64_t v;
	anvil_err rc;

	if ((rc = put_new(t, "u", HELD_PUTS)) != ANVIL_OK ||
	    (rc = store_counter_next(t, "serial", &v)) != ANVIL_OK ||
	    (rc = add_fn(t, NULL)) != ANVIL_OK)
		return rc;
	if (write(h->say, "h", 1) != 1)
		return ANVIL_ERR_STORE;
	child_wait(h->hang);
	/* Reached only when the parent has gone: commit nothing. */
	return ANVIL_ERR_STORE;
}

static void
holder(struct store *s, void *arg)
{
	struct held *h = arg;
	char e[512];

	close(h->hang_w);
	if (h->commit_first &&
	    store_run(s, 0, done_fn, NULL, e, sizeof(e)) != ANVIL_OK) {
		fprintf(stderr, "holder: %s\n", e);
		_exit(CH_RUN);
	}
	if (store_run(s, 0, held_fn, h, e, sizeof(e)) != ANVIL_OK)
		fprintf(stderr, "holder: %s\n", e);
	_exit(CH_RUN);
}

/*
 * Starts a holder and returns once its transaction is written and open;
 * *hang is the write end its wait hangs on (closed by the caller after
 * the kill).
 */
static pid_t
start_holder(int commit_first, int *hang)
{
	struct held h = { .commit_first = commit_first };
	int say[2], wait_on[2];
	pid_t pid;

	cr_assert_eq(pipe(say), 0);
	cr_assert_eq(pipe(wait_on), 0);
	h.say = say[1];
	h.hang = wait_on[0];
	h.hang_w = wait_on[1];
	pid = spawn_open(holder, &h);
	close(say[1]);
	close(wait_on[0]);
	expect_byte(say[0], HELD_WAIT_MS, "the holder's transaction");
	close(say[0]);
	*hang = wait_on[1];
	return pid;
}

static void
kill_reap(pid_t pid)
{
	int status = 0;

	cr_assert_eq(kill(pid, SIGKILL), 0);
	cr_assert_eq(kid_wait(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "the child ended before it was killed (status %d)", status);
}

/* What the killed transaction wrote, again, and one more raise. */
static anvil_err
after_fn(struct store_txn *t, void *arg)
{
	uint64_t *v = arg;
	anvil_err rc;

	if ((rc = put_new(t, "u", HELD_PUTS)) != ANVIL_OK ||
	    (rc = add_fn(t, NULL)) != ANVIL_OK)
		return rc;
	return store_counter_next(t, "serial", v);
}

/*
 * A child SIGKILLed between its puts and its commit: its committed
 * transaction is there, nothing of the killed one is, and the next
 * transaction, writing the same rows, goes through at once.
 */
Test(store_pg, a_killed_transaction_leaves_nothing_and_holds_up_nobody)
{
	uint64_t v = 0;
	json_t *rec = NULL;
	long t0, ms;
	int hang, i;
	char id[32];
	pid_t pid;

	pg_begin();
	put_ok(STORE_ORDER, "tally", "{\"n\":0,\"account\":\"T\"}");
	pid = start_holder(1, &hang);
	kill_reap(pid);
	close(hang);
	t0 = now_ms();
	err[0] = '\0';
	cr_assert_eq(store_run(st, 0, after_fn, &v, err, sizeof(err)),
	    ANVIL_OK, "the next transaction: %s", err);
	ms = now_ms() - t0;
	cr_log_info("the next transaction took %ld ms after the kill", ms);
	cr_assert_lt(ms, AT_ONCE_MS, "the next transaction waited %ld ms",
	    ms);
	cr_assert_eq(v, 2, "the killed raise of serial was rolled back "
	    "(next value %llu)", (unsigned long long)v);
	rec = get(STORE_ORDER, "tally");
	cr_assert_eq(json_integer_value(json_object_get(rec, "n")), 1,
	    "the killed increment of tally was rolled back");
	json_decref(rec);
	for (i = 0; i < DONE_PUTS; i++) {
		snprintf(id, sizeof(id), "c%02d", i);
		json_decref(rec = get(STORE_ORDER, id));
		cr_assert_not_null(rec, "committed record %s is lost", id);
	}
	cr_assert_eq(pg_admin_num("SELECT count(*) FROM %s.records WHERE "
	    "kind = %d", pg_schema, (int)STORE_ORDER), 1 + DONE_PUTS +
	    HELD_PUTS, "no record but the committed ones and the next's");
	cr_assert_eq(store_verify(st, err, sizeof(err)), ANVIL_OK, "%s", err);
}

/*
 * Says on done[1] that its transaction committed: under valgrind
 * --trace-children (make valgrind) a forked child's exit code is
 * valgrind's verdict on the memory it inherited, not the child's.
 */
struct waiting {
	int go[2];		/* closed by the parent: start */
	int done[2];		/* a byte once committed */
};

static void
waiter(struct store *s, void *arg)
{
	struct waiting *w = arg;
	char e[512];

	close(w->go[1]);
	close(w->done[0]);
	child_wait(w->go[0]);
	if (store_run(s, 0, add_fn, NULL, e, sizeof(e)) != ANVIL_OK) {
		fprintf(stderr, "waiter: %s\n", e);
		child_done(s, CH_RUN);
	}
	if (write(w->done[1], "w", 1) != 1)
		child_done(s, CH_FILE);
	child_done(s, CH_WON);
}

/*
 * A child killed while it holds the row lock of tally (the put's SELECT
 * ... FOR UPDATE, src/store/pg.c) keeps a second process waiting on that
 * lock only until the server has noticed the dead connection.
 */
Test(store_pg, a_killed_lock_holder_frees_its_waiter_within_a_bound)
{
	struct waiting w;
	struct pollfd p = { .events = POLLIN };
	int hang, n = 0, waited;
	json_t *rec = NULL;
	pid_t holder_pid, waiter_pid;
	long t0, ms;
	char c;

	pg_begin();
	put_ok(STORE_ORDER, "tally", "{\"n\":0,\"account\":\"T\"}");
	holder_pid = start_holder(0, &hang);
	cr_assert_eq(pipe(w.go), 0);
	cr_assert_eq(pipe(w.done), 0);
	waiter_pid = spawn_open(waiter, &w);
	close(w.go[0]);
	close(w.go[1]);
	close(w.done[1]);
	p.fd = w.done[0];
	/* The waiter is on the holder's lock: the server says so. */
	for (waited = 0; waited < 4000 && n == 0; waited += 20) {
		n = (int)pg_admin_num("SELECT count(*) FROM pg_stat_activity "
		    "WHERE application_name = '%s' AND wait_event_type = "
		    "'Lock'", pg_schema);
		if (n == 0)
			usleep(20000);
	}
	cr_assert_eq(n, 1, "the waiter never waited on the lock");
	cr_assert_eq(poll(&p, 1, 0), 0, "the waiter got past a held lock");
	kill_reap(holder_pid);
	close(hang);
	t0 = now_ms();
	n = poll(&p, 1, FREED_MS);
	ms = now_ms() - t0;
	cr_log_info("the waiter went on %ld ms after the holder's kill", ms);
	cr_assert_eq(n, 1, "the waiter still waits %d ms after the holder's "
	    "kill", FREED_MS);
	cr_assert_eq(read(w.done[0], &c, 1), 1, "the waiter failed");
	close(w.done[0]);
	cr_assert_eq(kid_wait(waiter_pid, NULL, 0), waiter_pid);
	rec = get(STORE_ORDER, "tally");
	cr_assert_eq(json_integer_value(json_object_get(rec, "n")), 1,
	    "only the waiter's increment is there");
	json_decref(rec);
	cr_assert_eq(get_rc(STORE_ORDER, "u00"), ANVIL_ERR_NOTFOUND);
	cr_assert_eq(store_verify(st, err, sizeof(err)), ANVIL_OK, "%s", err);
}

/*
 * A worker's transaction: raise "serial" to v, write record "k<v>"
 * holding v, and add one to tally: all three or none.
 */
static anvil_err
kill_fn(struct store_txn *t, void *arg)
{
	uint64_t *v = arg;
	char id[32];
	json_t *rec = NULL;
	anvil_err rc;

	if ((rc = store_counter_next(t, "serial", v)) != ANVIL_OK)
		return rc;
	snprintf(id, sizeof(id), "k%llu", (unsigned long long)*v);
	if ((rec = json_pack("{s:s, s:I}", "account", "A", "n",
	    (json_int_t)*v)) == NULL)
		return ANVIL_ERR_NOMEM;
	rc = store_put(t, STORE_ORDER, id, rec, STORE_PUT_NEW);
	json_decref(rec);
	return rc == ANVIL_OK ? add_fn(t, NULL) : rc;
}

/*
 * Runs kill_fn until killed, writing each value it committed to
 * dir/kill-<pid>, one a line, flushed; a value not above the last is
 * CH_ORDER.
 */
static void
kill_worker(struct store *s, void *arg)
{
	char path[4096], e[512];
	uint64_t v = 0, last = 0;
	FILE *f = NULL;
	long k;

	(void)arg;
	snprintf(path, sizeof(path), "%s/kill-%ld", dir, (long)getpid());
	if ((f = fopen(path, "w")) == NULL)
		_exit(CH_FILE);
	for (k = 0; k < 1000000; k++) {
		if (store_run(s, 0, kill_fn, &v, e, sizeof(e)) != ANVIL_OK) {
			fprintf(stderr, "worker %ld: %s\n", (long)getpid(), e);
			_exit(CH_RUN);
		}
		if (v <= last)
			_exit(CH_ORDER);
		last = v;
		if (fprintf(f, "%llu\n", (unsigned long long)v) < 0 ||
		    fflush(f) != 0)
			_exit(CH_FILE);
	}
	_exit(CH_WON);
}

/* Counts the records "k<n>" a walk visits and checks each holds n. */
struct kill_walk {
	uint64_t max;		/* the counter: n must be 1..max */
	uint64_t seen;
	json_int_t tally;	/* tally's n */
	char bad[128];		/* first record that is wrong */
};

static anvil_err
kill_walk_cb(const char *id, json_t *rec, void *arg)
{
	struct kill_walk *w = arg;
	unsigned long long n;
	char end;

	if (id[0] != 'k')
		return ANVIL_OK;
	if (sscanf(id, "k%llu%c", &n, &end) != 1 || n < 1 || n > w->max ||
	    json_integer_value(json_object_get(rec, "n")) != (json_int_t)n) {
		if (w->bad[0] == '\0')
			snprintf(w->bad, sizeof(w->bad), "%s", id);
		return ANVIL_OK;
	}
	w->seen++;
	return ANVIL_OK;
}

/*
 * Reads the counter, tally and the records in one snapshot: the backend
 * of a worker killed just after it sent COMMIT still commits after the
 * worker is reaped, so two reads might see two states.
 */
static anvil_err
kill_check_fn(struct store_txn *t, void *arg)
{
	struct kill_walk *w = arg;
	json_t *rec = NULL;
	anvil_err rc;

	w->seen = 0;
	w->bad[0] = '\0';
	if ((rc = store_counter_get(t, "serial", &w->max)) != ANVIL_OK ||
	    (rc = store_get(t, STORE_ORDER, "tally", &rec)) != ANVIL_OK)
		return rc;
	w->tally = json_integer_value(json_object_get(rec, "n"));
	json_decref(rec);
	return store_each(t, STORE_ORDER, kill_walk_cb, w);
}

/*
 * Workers raising a counter and writing a record and a read-modify-write
 * in each transaction, SIGKILLed at random instants and replaced: the
 * next transaction is not held up, the counter's values are the records
 * there (k1 .. k<counter>, once each, tally as many), every value a
 * worker saw committed is among them, once, and each worker's values
 * rise.
 */
Test(store_pg, random_kills_lose_no_committed_value)
{
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	pid_t workers[KILLERS], *all = NULL;
	size_t nall = 0, reported = 0, i;
	struct kill_walk w = { 0 };
	char path[4096], *seen = NULL;
	unsigned long long v, last;
	int kills = 0, k, status;
	long t0, ms;
	FILE *f = NULL;

	pg_begin();
	cr_log_info("seed %u", seed);
	put_ok(STORE_ORDER, "tally", "{\"n\":0,\"account\":\"T\"}");
	cr_assert_not_null(all = calloc(KILLERS + KILLS, sizeof(*all)));
	for (k = 0; k < KILLERS; k++)
		all[nall++] = workers[k] = spawn_open(kill_worker, NULL);
	t0 = now_ms();
	while (kills < KILLS && now_ms() - t0 < KILLS_BUDGET_MS) {
		usleep((useconds_t)(rand_r(&seed) % KILL_GAP_MS) * 1000);
		k = rand_r(&seed) % KILLERS;
		cr_assert_eq(kill(workers[k], SIGKILL), 0);
		cr_assert_eq(kid_wait(workers[k], &status, 0), workers[k]);
		cr_assert(WIFSIGNALED(status), "worker %ld ended by itself "
		    "with %d (%d: values not rising)", (long)workers[k],
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1, CH_ORDER);
		kills++;
		all[nall++] = workers[k] = spawn_open(kill_worker, NULL);
	}
	for (k = 0; k < KILLERS; k++)
		kill_reap(workers[k]);
	cr_log_info("%d kills in %ld ms", kills, now_ms() - t0);

	t0 = now_ms();
	err[0] = '\0';
	cr_assert_eq(store_run(st, 0, kill_check_fn, &w, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	ms = now_ms() - t0;
	cr_assert_lt(ms, AT_ONCE_MS, "the next transaction waited %ld ms",
	    ms);
	cr_assert_eq(w.bad[0], '\0', "record %s is not its value", w.bad);
	cr_assert_gt(w.max, 0, "no worker committed anything");
	cr_assert_eq(w.seen, w.max, "%llu records for counter value %llu",
	    (unsigned long long)w.seen, (unsigned long long)w.max);
	cr_assert_eq((uint64_t)w.tally, w.max, "tally %lld and the counter "
	    "%llu disagree", (long long)w.tally, (unsigned long long)w.max);

	cr_assert_not_null(seen = calloc(w.max + 1, 1));
	for (i = 0; i < nall; i++) {
		snprintf(path, sizeof(path), "%s/kill-%ld", dir, (long)all[i]);
		/* A worker killed before it opened its file saw nothing. */
		if ((f = fopen(path, "r")) == NULL) {
			cr_assert_eq(errno, ENOENT, "%s", path);
			continue;
		}
		last = 0;
		while (fscanf(f, "%llu", &v) == 1) {
			cr_assert(v > last && v <= w.max, "worker %ld saw "
			    "%llu after %llu (counter %llu)", (long)all[i], v,
			    last, (unsigned long long)w.max);
			cr_assert_eq(seen[v], 0, "value %llu committed twice",
			    v);
			seen[v] = 1;
			last = v;
			reported++;
		}
		fclose(f);
	}
	cr_log_info("counter %llu, %zu values seen committed by %zu workers",
	    (unsigned long long)w.max, reported, nall);
	cr_assert_gt(reported, 0);
	cr_assert_eq(store_verify(st, err, sizeof(err)), ANVIL_OK, "%s", err);
	free(seen);
	free(all);
}

/* ------------------------------------------------------------ opening */

Test(store, open_without_create_finds_no_store)
{
	struct store *s = NULL;
	char *p = NULL;

	/* A data folder without a store folder. */
	cr_assert(asprintf(&p, "%s/empty", dir) > 0);
	cr_assert_eq(mkdir(p, 0700), 0);
	cr_assert_eq(store_open(p, 0, &s, err, sizeof(err)),
	    ANVIL_ERR_NOTFOUND);
	cr_assert_null(s);
	cr_assert(strstr(err, p) != NULL, "err names the folder: %s", err);
	free(p);

	/* A store folder without files. */
	cr_assert(asprintf(&p, "%s/bare", dir) > 0);
	cr_assert_eq(mkdir(p, 0700), 0);
	free(p);
	cr_assert(asprintf(&p, "%s/bare/store", dir) > 0);
	cr_assert_eq(mkdir(p, 0700), 0);
	free(p);
	cr_assert(asprintf(&p, "%s/bare", dir) > 0);
	cr_assert_eq(store_open(p, 0, &s, err, sizeof(err)),
	    ANVIL_ERR_NOTFOUND, "%s", err);
	cr_assert(strstr(err, p) != NULL, "err names the folder: %s", err);
	free(p);

	/* No data folder at all. */
	cr_assert(asprintf(&p, "%s/none/deeper", dir) > 0);
	cr_assert_eq(store_open(p, 0, &s, err, sizeof(err)),
	    ANVIL_ERR_NOTFOUND);
	free(p);

	/* "store" is a file. */
	cr_assert(asprintf(&p, "%s/file", dir) > 0);
	cr_assert_eq(mkdir(p, 0700), 0);
	free(p);
	cr_assert(asprintf(&p, "%s/file/store", dir) > 0);
	write_file(p, "x", 1);
	free(p);
	cr_assert(asprintf(&p, "%s/file", dir) > 0);
	cr_assert_eq(store_open(p, STORE_OPEN_CREATE, &s, err, sizeof(err)),
	    ANVIL_ERR_INVALID);
	free(p);

	cr_assert_eq(store_open(NULL, 0, &s, err, sizeof(err)),
	    ANVIL_ERR_INVALID);
	cr_assert_eq(store_open("", 0, &s, err, sizeof(err)),
	    ANVIL_ERR_INVALID);
	cr_assert_null(s);
}

static int
util_exists_file(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0;
}

/*
 * STORE_OPEN_DEFER (a CGI request of src/bin/anvil.c): nothing is joined or
 * created until a call needs the backend; the nonce floor comes from the
 * floor file without an open; a failed open is each later call's answer.
 */
Test(store, a_deferred_open_joins_nothing_until_a_call_needs_it)
{
	struct op o = { .op = OP_CNEXT, .id = "crl" };
	struct store *d = NULL;
	char *p = NULL, *home = NULL, *fl = NULL;

	cr_assert(asprintf(&p, "%s/later", dir) > 0);
	cr_assert(asprintf(&home, "%s/store", p) > 0);
	cr_assert_eq(mkdir(p, 0700), 0);
	cr_assert_eq(store_open(p, STORE_OPEN_CREATE | STORE_OPEN_DEFER, &d,
	    err, sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_not_null(d);
	cr_assert_str_eq(store_backend(d), STORE_BACKEND_BDB);
	cr_assert_eq(store_nonce_floor(d), 0);
	store_hold(d);
	store_idle(d);
	store_maintain(d);
	cr_assert(!util_exists_file(home), "nothing made before a call");
	store_hold(d);
	cr_assert_eq(store_run(d, 0, op_fn, &o, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	store_idle(d);
	cr_assert_eq(o.val, 1);
	cr_assert(util_exists_file(home), "the first store_run made it");
	store_close(d);
	d = NULL;

	/* The floor is the file's, read without joining, and the same once
	 * joined. */
	cr_assert(asprintf(&fl, "%s/nonce.floor", home) > 0);
	write_file(fl, "1234567\n", 8);
	cr_assert_eq(store_open(p, STORE_OPEN_DEFER, &d, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert_eq((long long)store_nonce_floor(d), 1234567LL);
	cr_assert_eq(store_run(d, 0, op_fn, &o, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	cr_assert_eq(o.val, 2, "the same store");
	cr_assert_eq((long long)store_nonce_floor(d), 1234567LL);
	store_close(d);
	d = NULL;

	/* A floor file that is not a time: the open says so, every time. */
	write_file(fl, "x\n", 2);
	cr_assert_eq(store_open(p, STORE_OPEN_DEFER, &d, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert_eq(store_nonce_floor(d), 0);
	err[0] = '\0';
	cr_assert_eq(store_run(d, 0, op_fn, &o, err, sizeof(err)),
	    ANVIL_ERR_CORRUPT);
	cr_assert(strstr(err, "nonce.floor") != NULL, "err: %s", err);
	err[0] = '\0';
	cr_assert_eq(store_run(d, 0, op_fn, &o, err, sizeof(err)),
	    ANVIL_ERR_CORRUPT);
	cr_assert(strstr(err, "nonce.floor") != NULL, "again: %s", err);
	cr_assert_eq(store_nonce_spend(d, (const unsigned char *)"n", 1,
	    time(NULL) + 60), ANVIL_ERR_CORRUPT);
	store_close(d);
	d = NULL;

	/* No store and no STORE_OPEN_CREATE: found out by the first call. */
	free(p);
	cr_assert(asprintf(&p, "%s/none", dir) > 0);
	cr_assert_eq(mkdir(p, 0700), 0);
	cr_assert_eq(store_open(p, STORE_OPEN_DEFER, &d, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert_eq(store_run(d, 0, op_fn, &o, err, sizeof(err)),
	    ANVIL_ERR_NOTFOUND);
	cr_assert(strstr(err, p) != NULL, "err names the folder: %s", err);
	store_close(d);
	op_clear(&o);
	free(fl);
	free(home);
	free(p);
}

/* store_open_cfg: the default and "bdb" open the same files; a backend
 * this build lacks is a config error that names it and opens nothing. */
Test(store, open_cfg_picks_the_backend)
{
	struct store_cfg cfg = { 0 };
	struct store *s = NULL;
	char *p = NULL;

	cr_assert_str_eq(store_backend(st), STORE_BACKEND_BDB);
	cr_assert_null(store_backend(NULL));
	put_ok(STORE_EAB, "k1", "{\"k\": 1}");
	store_close(st);
	st = NULL;

	cfg.backend = STORE_BACKEND_BDB;
	cr_assert_eq(store_open_cfg(dir, &cfg, 0, &st, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert_str_eq(store_backend(st), STORE_BACKEND_BDB);
	cr_assert_eq(get_rc(STORE_EAB, "k1"), ANVIL_OK);

	cr_assert(asprintf(&p, "%s/other", dir) > 0);
	cfg.backend = "oracle";
	cr_assert_eq(store_open_cfg(p, &cfg, STORE_OPEN_CREATE, &s, err,
	    sizeof(err)), ANVIL_ERR_CONFIG);
	cr_assert_null(s);
	cr_assert(strstr(err, "oracle") != NULL, "err names it: %s", err);
	cr_assert_eq(access(p, F_OK), -1, "nothing created");
	free(p);
	cr_assert_eq(store_open_cfg(dir, &cfg, 0, NULL, err, sizeof(err)),
	    ANVIL_ERR_INVALID);
}

Test(store, create_makes_a_private_folder)
{
	struct store *s = NULL;
	struct stat sb;
	char *p = NULL, *home = NULL;

	cr_assert(asprintf(&p, "%s/new/data", dir) > 0);
	cr_assert(asprintf(&home, "%s/store", p) > 0);
	cr_assert_eq(store_open(p, STORE_OPEN_CREATE, &s, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert_eq(stat(home, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0700);
	store_close(s);
	s = NULL;
	cr_assert_eq(store_open(p, 0, &s, err, sizeof(err)), ANVIL_OK, "%s",
	    err);
	store_close(s);
	free(p);
	free(home);
}

Test(store, descriptors_are_close_on_exec)
{
	char path[64], target[512];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	ssize_t n;
	int fd, fl, seen = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		fd = atoi(de->d_name);
		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, dir, strlen(dir)) != 0)
			continue;
		seen++;
		fl = fcntl(fd, F_GETFD);
		cr_expect(fl >= 0 && (fl & FD_CLOEXEC), "%s inheritable",
		    target);
	}
	closedir(d);
	cr_assert(seen > 0, "the store has files open");
}

Test(store, second_handle_in_one_process_is_refused)
{
	struct store *s = NULL;

	cr_assert_neq(store_open(dir, 0, &s, err, sizeof(err)), ANVIL_OK);
	cr_assert_null(s);
	cr_assert(strstr(err, "already open") != NULL, "%s", err);
	put_ok(STORE_ORDER, "still", "{}");
}

Test(store, reopen_keeps_everything)
{
	time_t now = time(NULL);
	json_t *rec = NULL;
	char *id = NULL;

	put_ok(STORE_ACCOUNT, "a1", "{\"thumbprint\":\"T\"}");
	put_ok(STORE_ORDER, "o1", "{\"account\":\"a1\"}");
	put_ok(STORE_ORDER, "o2", "{\"account\":\"a1\"}");
	put_ok(STORE_CERT, "0f", "{\"account\":\"a1\",\"revoked\":{}}");
	cr_assert_eq(counter(OP_CNEXT, "crl"), 1);
	cr_assert_eq(store_nonce_spend(st, (const unsigned char *)"n", 1,
	    now + 60), ANVIL_OK);
	close_store();

	cr_assert_eq(reopen(), ANVIL_OK, "%s", err);
	rec = get(STORE_ORDER, "o2");
	cr_assert_not_null(rec);
	json_decref(rec);
	id = by_thumb("T");
	cr_assert_str_eq(id, "a1");
	free(id);
	expect_list(STORE_ORDER, "a1", NULL, 10, "o1,o2");
	cr_assert_eq(counter(OP_CNEXT, "crl"), 2);
	cr_assert_eq(store_nonce_spend(st, (const unsigned char *)"n", 1,
	    now + 60), ANVIL_ERR_EXISTS);
	{
		anvil_err rc;
		char *s = walk_ids(OP_REVOKED, STORE_CERT, &rc);

		cr_assert_str_eq(s, "0f");
		free(s);
	}
	/* And once more, with the regions gone (as after a reboot). */
	close_store();
	drop_regions();
	cr_assert_eq(reopen(), ANVIL_OK, "%s", err);
	rec = get(STORE_ACCOUNT, "a1");
	cr_assert_not_null(rec, "data is in the files after a clean close");
	json_decref(rec);
	cr_assert_eq(counter(OP_CGET, "crl"), 2);
}

static ino_t
inode_of(const char *file)
{
	char *p = store_path(file);
	struct stat sb;

	cr_assert_eq(stat(p, &sb), 0, "%s", p);
	free(p);
	return sb.st_ino;
}

Test(store, regions_from_an_earlier_boot_are_dropped)
{
	char boot[64] = "", *p = store_path("anvil.boot");
	char *old = store_path("__db.001"), *keep = store_path("kept.001");
	FILE *f = NULL;
	ino_t ino;
	json_t *rec = NULL;

	f = fopen("/proc/sys/kernel/random/boot_id", "r");
	if (f == NULL)
		cr_skip_test("no boot id on this system");
	cr_assert_not_null(fgets(boot, sizeof(boot), f));
	fclose(f);
	boot[strcspn(boot, "\n")] = '\0';

	put_ok(STORE_ORDER, "o1", "{}");
	close_store();
	ino = inode_of("__db.001");
	cr_assert_eq(reopen(), ANVIL_OK, "%s", err);
	cr_assert_eq(inode_of("__db.001"), ino, "same boot: regions kept");
	close_store();

	/* A second name keeps the old inode from being reused. */
	cr_assert_eq(link(old, keep), 0);
	write_file(p, "0a0a0a0a-not-this-boot", 22);
	cr_assert_eq(reopen(), ANVIL_OK, "%s", err);
	cr_assert_neq(inode_of("__db.001"), ino, "regions made anew");
	cr_assert_eq(unlink(keep), 0);
	rec = get(STORE_ORDER, "o1");
	cr_assert_not_null(rec);
	json_decref(rec);
	close_store();
	f = fopen(p, "r");
	cr_assert_not_null(f);
	{
		char got[64] = "";

		cr_assert_not_null(fgets(got, sizeof(got), f));
		cr_assert_str_eq(got, boot, "the boot is recorded");
	}
	fclose(f);
	free(p);
	free(old);
	free(keep);
}

/* ------------------------------------------------------------ damage */

Test(store, foreign_files_are_corrupt)
{
	static const struct {
		const char *desc;
		const char *file;
		const char *content;	/* NULL: 8 KiB of noise */
		size_t len;
	} rows[] = {
		{ "text over accounts.db", "accounts.db",
		    "this is not a database\n", 23 },
		{ "empty accounts.db", "accounts.db", "", 0 },
		{ "noise over orders.db", "orders.db", NULL, 8192 },
		{ "text over meta.db", "meta.db", "anvil-store\n", 12 },
		{ "noise over an index", "idx_thumbprint.db", NULL, 8192 },
		{ "noise over nonces.db", "nonces.db", NULL, 4096 },
	};
	unsigned char noise[8192];
	char *p = NULL;
	size_t i, j;

	srand(42);
	for (j = 0; j < sizeof(noise); j++)
		noise[j] = (unsigned char)rand();
	put_ok(STORE_ACCOUNT, "a1", "{}");
	close_store();
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		/* Every row on a new store. */
		th_rmrf(dir);
		cr_assert_eq(mkdir(dir, 0700), 0);
		cr_assert_eq(store_open(dir, STORE_OPEN_CREATE, &st, err,
		    sizeof(err)), ANVIL_OK, "%s", err);
		put_ok(STORE_ACCOUNT, "a1", "{}");
		close_store();
		p = store_path(rows[i].file);
		write_file(p, rows[i].content ? (const void *)rows[i].content :
		    noise, rows[i].len);
		cr_expect_eq(reopen(), ANVIL_ERR_CORRUPT, "%s", rows[i].desc);
		cr_expect_null(st);
		cr_expect(strstr(err, rows[i].file) != NULL,
		    "%s: err names the file: %s", rows[i].desc, err);
		free(p);
		close_store();
	}
}

Test(store, foreign_berkeley_db_files_are_corrupt)
{
	static const struct {
		const char *desc;
		const char *file;
		const char *how;	/* db5.3_load options */
	} rows[] = {
		{ "a hash database for a btree", "counters.db", "-t hash" },
		{ "a queue database for a btree", "accounts.db",
		    "-t queue -c re_len=8" },
		{ "an index without sorted duplicates",
		    "idx_account_orders.db", "-t btree -c chksum=1" },
		{ "duplicates where keys are unique", "certs.db",
		    "-t btree -c chksum=1 -c duplicates=1 -c dupsort=1" },
		{ "a btree without page checksums", "orders.db", "-t btree" },
		{ "a btree without checksums as the marker", "meta.db",
		    "-t btree" },
	};
	char *cmd = NULL, *p = NULL;
	size_t i;

	if (!have_db_load())
		cr_skip_test("db5.3_load not installed (db5.3-util)");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		close_store();
		th_rmrf(dir);
		cr_assert_eq(mkdir(dir, 0700), 0);
		cr_assert_eq(store_open(dir, STORE_OPEN_CREATE, &st, err,
		    sizeof(err)), ANVIL_OK, "%s", err);
		close_store();
		p = store_path(rows[i].file);
		unlink(p);
		cr_assert(asprintf(&cmd, "printf '%s\\nvalue\\n' | "
		    "db5.3_load -T %s %s", strstr(rows[i].how, "queue") ?
		    "1" : "anvil", rows[i].how, p) > 0);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
		drop_regions();
		cr_expect_eq(reopen(), ANVIL_ERR_CORRUPT, "%s: %s",
		    rows[i].desc, err);
		cr_expect(strstr(err, rows[i].file) != NULL,
		    "%s: err names the file: %s", rows[i].desc, err);
		free(cmd);
		free(p);
	}
}

Test(store, missing_meta_in_an_existing_store_is_corrupt)
{
	char *p = store_path("meta.db");

	close_store();
	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(reopen(), ANVIL_ERR_CORRUPT);
	cr_assert(strstr(err, "meta.db") != NULL, "%s", err);
	err[0] = '\0';
	cr_assert_eq(store_open(dir, STORE_OPEN_CREATE, &st, err, sizeof(err)),
	    ANVIL_ERR_CORRUPT, "CREATE does not paper over it");
	free(p);
}

/* valq.db came after the store format's first files: a store made before
 * it opens, and gains it empty; any other missing file is still damage. */
Test(store, a_store_without_the_validation_queue_gains_it)
{
	char *q = store_path("valq.db"), *a = store_path("accounts.db");
	anvil_err rc;
	json_t *rec;
	char *s;

	put_ok(STORE_ACCOUNT, "a1", "{\"thumbprint\":\"T\"}");
	put_ok(STORE_VALQ, "c1", "{\"queued\":1}");
	close_store();
	cr_assert_eq(unlink(q), 0);
	cr_assert_eq(reopen(), ANVIL_OK, "%s", err);
	cr_assert(util_exists_file(q), "valq.db made again");
	s = walk_ids(OP_EACH, STORE_VALQ, &rc);
	cr_assert_eq(rc, ANVIL_OK);
	cr_assert_str_eq(s, "", "the new queue is empty");
	free(s);
	rec = get(STORE_ACCOUNT, "a1");
	cr_assert_not_null(rec, "the records are kept");
	json_decref(rec);
	put_ok(STORE_VALQ, "c2", "{\"queued\":2}");
	close_store();
	cr_assert_eq(unlink(a), 0);
	cr_assert_eq(reopen(), ANVIL_ERR_CORRUPT, "accounts.db is not optional");
	free(q);
	free(a);
}

Test(store, flipped_bytes_in_a_data_page_are_detected)
{
	char id[16];
	char *p = store_path("orders.db");
	unsigned char *buf = NULL;
	uint32_t pagesize = 0;
	struct stat sb;
	size_t pg, npages;
	anvil_err rc;
	int fd, i;

	for (i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "order-%04d", i);
		put_ok(STORE_ORDER, id, "{\"status\":\"pending\",\"padding\":"
		    "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}");
	}
	close_store();
	drop_regions();

	/* Page size from the metadata page; damage every page after it. */
	cr_assert_eq(stat(p, &sb), 0);
	buf = malloc((size_t)sb.st_size);
	fd = open(p, O_RDWR);
	cr_assert(fd >= 0);
	cr_assert_eq(read(fd, buf, (size_t)sb.st_size), sb.st_size);
	memcpy(&pagesize, buf + 20, sizeof(pagesize));
	cr_assert(pagesize >= 512 && pagesize <= 65536, "page size %u",
	    pagesize);
	npages = (size_t)sb.st_size / pagesize;
	cr_assert(npages >= 3, "orders.db has data pages (%zu)", npages);
	for (pg = 1; pg < npages; pg++)
		for (i = 0; i < 8; i++)
			buf[pg * pagesize + pagesize / 2 + (size_t)i] ^= 0x5a;
	cr_assert_eq(pwrite(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);

	rc = reopen();
	if (rc == ANVIL_OK) {
		char *s = walk_ids(OP_EACH, STORE_ORDER, &rc);

		free(s);
		cr_assert_eq(rc, ANVIL_ERR_CORRUPT, "walk over damaged pages: "
		    "%s", err);
		rc = get_rc(STORE_ORDER, "order-0100");
		cr_assert(rc == ANVIL_ERR_CORRUPT || rc == ANVIL_ERR_STORE,
		    "later calls fail too (%d)", (int)rc);
	} else
		cr_assert_eq(rc, ANVIL_ERR_CORRUPT, "%s", err);
	close_store();
	free(buf);
	free(p);
}

Test(store, flipped_bytes_in_a_metadata_page_are_detected)
{
	char *p = store_path("accounts.db");
	unsigned char b[4];
	int fd;

	put_ok(STORE_ACCOUNT, "a1", "{}");
	close_store();
	drop_regions();
	fd = open(p, O_RDWR);
	cr_assert(fd >= 0);
	cr_assert_eq(pread(fd, b, 4, 100), 4);
	b[0] ^= 0xff;
	b[3] ^= 0x11;
	cr_assert_eq(pwrite(fd, b, 4, 100), 4);
	close(fd);
	cr_assert_eq(reopen(), ANVIL_ERR_CORRUPT);
	cr_assert(strstr(err, "accounts.db") != NULL, "%s", err);
	free(p);
}

Test(store, store_marker_is_checked)
{
	static const struct {
		const char *desc;
		const char *key;
		const char *value;
		anvil_err want;
	} rows[] = {
		{ "the marker as written", "anvil",
		    "{\"format\":1,\"magic\":\"anvil-store\"}", ANVIL_OK },
		{ "a newer format", "anvil",
		    "{\"format\":2,\"magic\":\"anvil-store\"}",
		    ANVIL_ERR_VERSION },
		{ "another magic", "anvil",
		    "{\"format\":1,\"magic\":\"other-store\"}",
		    ANVIL_ERR_CORRUPT },
		{ "no magic", "anvil", "{\"format\":1}", ANVIL_ERR_CORRUPT },
		{ "format zero", "anvil",
		    "{\"format\":0,\"magic\":\"anvil-store\"}",
		    ANVIL_ERR_CORRUPT },
		{ "format a string", "anvil",
		    "{\"format\":\"1\",\"magic\":\"anvil-store\"}",
		    ANVIL_ERR_CORRUPT },
		{ "not JSON", "anvil", "anvil-store 1", ANVIL_ERR_CORRUPT },
		{ "a JSON array", "anvil", "[1]", ANVIL_ERR_CORRUPT },
		{ "marker under another key", "other",
		    "{\"format\":1,\"magic\":\"anvil-store\"}",
		    ANVIL_ERR_CORRUPT },
	};
	size_t i;

	if (!have_db_load())
		cr_skip_test("db5.3_load not installed (db5.3-util)");
	close_store();
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *lines[] = { rows[i].key, rows[i].value, NULL };

		load_db("meta.db", 0, lines);
		cr_expect_eq(reopen(), rows[i].want, "%s: %s", rows[i].desc,
		    err);
		if (rows[i].want != ANVIL_OK)
			cr_expect(strstr(err, "meta.db") != NULL,
			    "%s: err names the file: %s", rows[i].desc, err);
		close_store();
	}
}

Test(store, damaged_records_are_refused)
{
	static const char *const orders[] = {
		"ok", "{\"status\":\"valid\",\"v\":1}",
		"notjson", "status valid",
		"array", "[1,2]",
		"string", "\"x\"",
		"nov", "{\"status\":\"valid\"}",
		"vstring", "{\"v\":\"1\"}",
		"vzero", "{\"v\":0}",
		"vnegative", "{\"v\":-3}",
		"vfloat", "{\"v\":1.0}",
		"dupkeys", "{\"v\":1,\"v\":1}",
		"truncated", "{\"v\":1,\"status\":\"val",
		"newer", "{\"v\":2}",
		NULL,
	};
	static const struct {
		const char *id;
		anvil_err want;
	} rows[] = {
		{ "ok", ANVIL_OK },
		{ "notjson", ANVIL_ERR_CORRUPT },
		{ "array", ANVIL_ERR_CORRUPT },
		{ "string", ANVIL_ERR_CORRUPT },
		{ "nov", ANVIL_ERR_CORRUPT },
		{ "vstring", ANVIL_ERR_CORRUPT },
		{ "vzero", ANVIL_ERR_CORRUPT },
		{ "vnegative", ANVIL_ERR_CORRUPT },
		{ "vfloat", ANVIL_ERR_CORRUPT },
		{ "dupkeys", ANVIL_ERR_CORRUPT },
		{ "truncated", ANVIL_ERR_CORRUPT },
		{ "newer", ANVIL_ERR_VERSION },
	};
	static const char *const thumbs[] = {
		"T-bad", "a b", "T-empty", "", NULL,
	};
	static const char *const counters[] = { "short", "abc", NULL };
	struct op o = { .op = OP_DEL, .kind = STORE_ORDER, .id = "nov" };
	anvil_err rc;
	size_t i;
	char *s = NULL;

	if (!have_db_load())
		cr_skip_test("db5.3_load not installed (db5.3-util)");
	close_store();
	load_db("orders.db", 0, orders);
	load_db("idx_thumbprint.db", 0, thumbs);
	load_db("counters.db", 0, counters);
	cr_assert_eq(reopen(), ANVIL_OK, "%s", err);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		cr_expect_eq(get_rc(STORE_ORDER, rows[i].id), rows[i].want,
		    "%s: %s", rows[i].id, err);
	s = walk_ids(OP_EACH, STORE_ORDER, &rc);
	cr_expect_eq(rc, ANVIL_ERR_CORRUPT, "a walk stops at damage");
	free(s);
	cr_expect_eq(put(STORE_ORDER, "nov", "{}", 0), ANVIL_ERR_CORRUPT,
	    "no overwrite of a record whose indexes are unknown");
	cr_expect_eq(run(&o), ANVIL_ERR_CORRUPT, "nor delete");
	cr_expect_eq(put(STORE_ORDER, "newer", "{}", 0), ANVIL_ERR_VERSION,
	    "nor an overwrite of a newer record");
	{
		struct op t = { .op = OP_THUMB, .id = "T-bad" };

		cr_expect_eq(run(&t), ANVIL_ERR_CORRUPT, "index value not "
		    "an id");
		t.id = "T-empty";
		cr_expect_eq(run(&t), ANVIL_ERR_CORRUPT, "empty index value");
		op_clear(&t);
	}
	{
		struct op c = { .op = OP_CGET, .id = "short" };

		cr_expect_eq(run(&c), ANVIL_ERR_CORRUPT, "3-byte counter");
		c.op = OP_CNEXT;
		cr_expect_eq(run(&c), ANVIL_ERR_CORRUPT, "3-byte counter");
	}
	/* The store still works around the damage. */
	put_ok(STORE_ORDER, "fresh", "{}");
	cr_expect_eq(get_rc(STORE_ORDER, "ok"), ANVIL_OK);
}

/*
 * A process that wrote and closed cleanly checkpoints only when one is
 * due, so its last commits may live in the log and the shared memory pool
 * only. After a reboot the pool is gone: the first open must recover them
 * from the log (it drops the registry with the regions).
 */
Test(store, clean_closes_then_a_reboot_keep_every_commit)
{
	char id[16], *boot = store_path("anvil.boot");
	FILE *f;
	int i;

	/* Not the handle that made the store: that one checkpoints. */
	close_store();
	cr_assert_eq(reopen(), ANVIL_OK, "%s", err);
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "after-%02d", i);
		put_ok(STORE_ACCOUNT, id, "{}");
	}
	close_store();
	/* The machine restarts: another boot id. */
	f = fopen(boot, "w");
	cr_assert_not_null(f);
	fputs("an-earlier-boot\n", f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(reopen(), ANVIL_OK, "%s", err);
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "after-%02d", i);
		cr_assert_eq(get_rc(STORE_ACCOUNT, id), ANVIL_OK, "%s lost", id);
	}
	free(boot);
}

/* ------------------------------------------------------------ checkpoints */

/* "File/offset for last checkpoint LSN" from db5.3_stat -t (new string). */
static char *
last_ckp(void)
{
	char *cmd = NULL, line[256], *lsn = NULL, *home = store_path("");
	FILE *p;

	cr_assert(asprintf(&cmd, "db5.3_stat -t -h %s 2>/dev/null", home) > 0);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p) != NULL)
		if (strstr(line, "last checkpoint LSN") != NULL)
			lsn = strndup(line, strcspn(line, "\t"));
	pclose(p);
	free(cmd);
	free(home);
	cr_assert_not_null(lsn, "db5.3_stat -t printed no checkpoint LSN");
	return lsn;
}

/* 600 commits of 16 KiB each: more log than one checkpoint's worth
 * (CKP_KBYTES, 8 MiB). */
static void
write_much(const char *prefix)
{
	char id[32], *text = malloc(16 * 1024 + 16);
	int i;

	cr_assert_not_null(text);
	memset(text, 'x', 16 * 1024);
	memcpy(text, "{\"pad\": \"", 9);
	strcpy(text + 16 * 1024 - 2, "\"}");
	for (i = 0; i < 600; i++) {
		snprintf(id, sizeof(id), "%s-%03d", prefix, i);
		put_ok(STORE_ACCOUNT, id, text);
	}
	free(text);
}

/*
 * The checkpoint tests: db5.3_stat at hand, and a handle of this process's
 * own (not the creating one, whose close forces a checkpoint).
 */
static void
ckp_setup(void)
{
	if (system("command -v db5.3_stat >/dev/null 2>&1") != 0)
		cr_skip_test("no db5.3_stat (Debian: db5.3-util)");
	close_store();
	cr_assert_eq(reopen(), ANVIL_OK, "%s", err);
}

/* checkpoint.lock taken as a checkpointer elsewhere takes it; its fd. */
static int
ckp_lock_elsewhere(const char *lock)
{
	int fd = open(lock, O_RDWR | O_CREAT, 0600);

	cr_assert(fd >= 0);
	cr_assert_eq(flock(fd, LOCK_EX), 0);
	return fd;
}

Test(store, maintain_checkpoints_from_a_child_when_one_is_due)
{
	char *before, *now = NULL;
	int i;

	ckp_setup();
	before = last_ckp();
	store_maintain(st);	/* nothing written: nothing due */
	write_much("ckp");
	now = last_ckp();
	cr_assert_str_eq(now, before, "store_run checkpointed inline");
	free(now);
	store_maintain(st);
	/* The child writes it; this process is free at once. */
	for (i = 0; i < 200; i++) {
		now = last_ckp();
		if (strcmp(now, before) != 0)
			break;
		free(now);
		now = NULL;
		usleep(50 * 1000);
	}
	cr_assert_not_null(now, "no checkpoint 10 s after store_maintain");
	cr_assert_eq(get_rc(STORE_ACCOUNT, "ckp-099"), ANVIL_OK);
	free(before);
	free(now);
}

Test(store, a_checkpoint_under_way_elsewhere_is_not_waited_for)
{
	char *lock = store_path("checkpoint.lock"), *before, *after;
	pid_t pid;
	int fd, status = 0;

	ckp_setup();
	before = last_ckp();
	/* Another process holds the checkpoint lock, as a checkpointer does. */
	fd = ckp_lock_elsewhere(lock);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		/* A handle of its own whose close would checkpoint must go on
		 * without one. (The parent's handle is not this process's.) */
		alarm(20);
		close(fd);	/* the lock stays with the parent's descriptor */
		st = NULL;
		if (reopen() != ANVIL_OK)
			_exit(2);
		write_much("more");
		store_close(st);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the close waited for the lock (status %#x)", status);
	after = last_ckp();
	cr_assert_str_eq(after, before, "checkpointed under another's lock");
	free(after);
	/* Lock free: the same close checkpoints (so the above meant it). */
	close(fd);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		alarm(20);
		st = NULL;
		if (reopen() != ANVIL_OK)
			_exit(2);
		write_much("again");
		store_close(st);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	after = last_ckp();
	cr_assert_str_neq(after, before, "a due close did not checkpoint");
	free(lock);
	free(before);
	free(after);
}

Test(store, maintain_starts_no_child_while_a_checkpoint_is_under_way)
{
	char *lock = store_path("checkpoint.lock"), *before, *after;
	pid_t pid;
	int fd, status = 0;

	/* store_maintain's grandchild comes back to this process. */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ckp_setup();
	before = last_ckp();
	fd = ckp_lock_elsewhere(lock);
	write_much("busy");
	store_maintain(st);
	errno = 0;
	pid = waitpid(-1, &status, 0);
	cr_assert(pid == -1 && errno == ECHILD,
	    "a child was started while the lock was taken (pid %ld)",
	    (long)pid);
	after = last_ckp();
	cr_assert_str_eq(after, before);
	free(after);
	/* Lock free: one child, and it writes the checkpoint. */
	close(fd);
	write_much("free");
	store_maintain(st);
	pid = waitpid(-1, &status, 0);
	cr_assert(pid > 0, "no checkpoint child");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "checkpoint child status %#x", status);
	after = last_ckp();
	cr_assert_str_neq(after, before, "the child did not checkpoint");
	cr_assert_eq(get_rc(STORE_ACCOUNT, "free-099"), ANVIL_OK);
	free(lock);
	free(before);
	free(after);
}

Test(store, a_process_that_only_read_closes_without_a_checkpoint)
{
	char *before, *after;
	pid_t pid;
	int status = 0;

	ckp_setup();
	write_much("due");	/* a checkpoint is due from here on */
	before = last_ckp();
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		alarm(20);
		st = NULL;	/* the parent's handle is not this process's */
		if (reopen() != ANVIL_OK ||
		    get_rc(STORE_ACCOUNT, "due-050") != ANVIL_OK)
			_exit(2);
		store_close(st);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "reader status %#x", status);
	after = last_ckp();
	cr_assert_str_eq(after, before, "a close after reads checkpointed");
	free(before);
	free(after);
}

/* ------------------------------------------------------------ big walks */

#define BIG_N 90000
#define BIG_PAD 900	/* a certificate record, kept on its leaf page */

struct big {
	size_t from, to, seen;
	const char *pad;
};

static anvil_err
big_put(struct store_txn *t, void *arg)
{
	struct big *b = arg;
	anvil_err rc = ANVIL_OK;
	size_t i;

	for (i = b->from; rc == ANVIL_OK && i < b->to; i++) {
		char id[32];
		json_t *rec = json_pack("{s:s}", "pem", b->pad);
		snprintf(id, sizeof(id), "c%06zu", i);
		rc = rec != NULL ? store_put(t, STORE_CERT, id, rec, 0) :
		    ANVIL_ERR_NOMEM;
		json_decref(rec);
	}
	return rc;
}

static anvil_err
big_count(const char *id, json_t *rec, void *arg)
{
	(void)id;
	(void)rec;
	((struct big *)arg)->seen++;
	return ANVIL_OK;
}

static anvil_err
big_walk(struct store_txn *t, void *arg)
{
	((struct big *)arg)->seen = 0;
	return store_each(t, STORE_CERT, big_count, arg);
}

/*
 * A walk of a CA's every certificate (anvil-admin stats, certs list,
 * renewal advise, anvil-crl) read at degree 2 holds a page's locks at a
 * time: the same walk in an ordinary transaction runs out of the lock
 * table (src/store/bdb_env.c) long before 90 000 records of this size.
 */
Test(store, read_committed_walks_more_records_than_locks)
{
	static char pad[BIG_PAD + 1];
	struct big b = { 0, 0, 0, pad };

	memset(pad, 'x', BIG_PAD);
	for (b.from = 0; b.from < BIG_N; b.from = b.to) {
		b.to = b.from + 1000;
		cr_assert_eq(store_run(st, STORE_TXN_NOSYNC, big_put, &b, err,
		    sizeof(err)), ANVIL_OK, "fill: %s", err);
	}
	cr_expect_eq(store_run(st, STORE_TXN_READ_COMMITTED, big_walk, &b,
	    err, sizeof(err)), ANVIL_OK, "walk: %s", err);
	cr_expect_eq(b.seen, BIG_N, "walked %zu of %d", b.seen, BIG_N);
	/* The limit the flag is for: without it the walk fails cleanly. */
	cr_expect_neq(store_run(st, 0, big_walk, &b, err, sizeof(err)),
	    ANVIL_OK, "a serializable walk of %d records fit the lock table;"
	    " make BIG_N larger", BIG_N);
}
