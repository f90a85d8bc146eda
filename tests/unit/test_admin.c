/*
 * test_admin.c - anvil-admin as operators run it (src/admin/cli.c's
 * admin_main, the same code as the program): global options before and
 * after the command, unknown commands, missing and extra arguments, the
 * option values the commands refuse, the exit codes of README's
 * anvil-admin section (0 success, 1 failure, 2 usage, 3 configuration),
 * and certs export in JSON and CSV (RFC 4180 quoting) byte for byte.
 *
 * Each test gets a fresh data folder with a configuration file, a CA and
 * a store made by "anvil-admin init", and three certificate records put
 * straight into the store (one with a comma, a quote and a newline in
 * every text field that CSV must quote).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "admin/admin.h"
#include "core/conf.h"
#include "store/store.h"
#include "helpers.h"

static char *dir;		/* the data folder */
static char *conf;		/* its configuration file */

/* What one admin_main call wrote, and its exit status. */
struct run {
	int status;
	char *out;
	char *err;
};

static char *
slurp_fd(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);
	char *buf;

	cr_assert(end >= 0);
	cr_assert_not_null(buf = calloc(1, (size_t)end + 1));
	cr_assert_eq(pread(fd, buf, (size_t)end, 0), (ssize_t)end);
	close(fd);
	return buf;
}

static int
capture_fd(int target, int *saved)
{
	char tmpl[] = "/tmp/anvil-admin-out-XXXXXX";
	int fd;

	cr_assert_neq(fd = mkstemp(tmpl), -1);
	unlink(tmpl);
	cr_assert_neq(*saved = dup(target), -1);
	cr_assert_neq(dup2(fd, target), -1);
	return fd;
}

/*
 * Runs admin_main on the NULL-terminated words after argv[0], each
 * "@CONF" replaced by the configuration file's path. The words are
 * copied: admin_main may reorder argv.
 */
static struct run
run_v(const char *const *words)
{
	struct run r;
	char *argv[32], *orig[32];
	int argc = 0, fo, fe, so, se, i;

	argv[argc++] = strdup("anvil-admin");
	for (; *words != NULL; words++) {
		cr_assert(argc < 30);
		if (strcmp(*words, "@CONF") == 0)
			argv[argc++] = strdup(conf);
		else if (strcmp(*words, "--config=@CONF") == 0) {
			cr_assert(asprintf(&argv[argc++], "--config=%s",
			    conf) > 0);
		} else if (strcmp(*words, "-c@CONF") == 0) {
			cr_assert(asprintf(&argv[argc++], "-c%s", conf) > 0);
		} else
			argv[argc++] = strdup(*words);
	}
	argv[argc] = NULL;
	memcpy(orig, argv, sizeof(orig));

	fflush(stdout);
	fflush(stderr);
	fo = capture_fd(1, &so);
	fe = capture_fd(2, &se);
	r.status = admin_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	r.out = slurp_fd(fo);
	r.err = slurp_fd(fe);
	for (i = 0; i < argc; i++)
		free(orig[i]);
	return r;
}

#define RUN(...) run_v((const char *const[]){ __VA_ARGS__, NULL })

static void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* ------------------------------------------------------------ fixture */

#define SERIAL_A "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define SERIAL_B "7fffffffffffffffffffffffffffff01"
#define SERIAL_C "00000000000000000000000000000c0c"

/* 2026-01-01T00:00:00Z and friends; validity far either side of now. */
#define T_2026 1767225600
#define T_2100 4102444800LL
#define T_2000 946684800

static anvil_err
put_certs(struct store_txn *txn, void *arg)
{
	json_t *a, *b, *c;
	anvil_err rc;

	(void)arg;
	a = json_pack("{s:i, s:[{s:s, s:s}, {s:s, s:s}], s:I, s:I, s:I, "
	    "s:s, s:s, s:s}", "v", 1, "identifiers", "type", "dns", "value",
	    "a.test", "type", "dns", "value", "*.b.test", "not_before",
	    (json_int_t)T_2026, "not_after", (json_int_t)T_2100, "issued",
	    (json_int_t)T_2026, "account", "acct1", "order", "ord1", "pem",
	    "-----BEGIN CERTIFICATE-----\nQQ==\n-----END CERTIFICATE-----\n");
	/* Issued with a profile; b and c are from before profiles. */
	json_object_set_new(a, "profile", json_string("tlsserver"));
	/* Every text field CSV must quote; not something the ACME layer
	 * would ever store, but the export must not depend on that. */
	b = json_pack("{s:i, s:[{s:s, s:s}], s:I, s:I, s:I, s:s, s:s, s:s, "
	    "s:{s:I, s:i, s:s}}", "v", 1, "identifiers", "type", "dns",
	    "value", "we,ird \"name\"\r\nnext", "not_before",
	    (json_int_t)T_2026, "not_after", (json_int_t)T_2100, "issued",
	    (json_int_t)T_2026 + 60, "account", "acc\"t2", "order", "o,2",
	    "pem", "PEM B", "revoked", "time", (json_int_t)T_2026 + 120,
	    "reason", 1, "by", "operator");
	c = json_pack("{s:i, s:[{s:s, s:s}], s:I, s:I, s:I, s:s, s:s, s:s}",
	    "v", 1, "identifiers", "type", "ip", "value", "192.0.2.1",
	    "not_before", (json_int_t)T_2000 - 86400, "not_after",
	    (json_int_t)T_2000, "issued", (json_int_t)T_2000 - 86400,
	    "account", "acct1", "order", "ord3", "pem", "PEM C");
	cr_assert(a != NULL && b != NULL && c != NULL);
	if ((rc = store_put(txn, STORE_CERT, SERIAL_A, a, 0)) == ANVIL_OK &&
	    (rc = store_put(txn, STORE_CERT, SERIAL_B, b, 0)) == ANVIL_OK)
		rc = store_put(txn, STORE_CERT, SERIAL_C, c, 0);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	return rc;
}

static void
setup(void)
{
	struct store *st = NULL;
	struct run r;
	char err[512] = "";
	FILE *f;

	unsetenv("ANVIL_CONFIG");
	dir = th_tempdir();
	cr_assert(asprintf(&conf, "%s/anvil.conf", dir) > 0);
	cr_assert_not_null(f = fopen(conf, "w"));
	fprintf(f, "[server]\nbase_url = https://acme.test/acme\n"
	    "data_dir = %s\n", dir);
	fclose(f);
	r = RUN("--config", "@CONF", "init");
	cr_assert_eq(r.status, 0, "init: %s", r.err);
	run_free(&r);
	cr_assert_eq(store_open(dir, 0, &st, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	cr_assert_eq(store_run(st, 0, put_certs, NULL, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	store_close(st);
}

static void
teardown(void)
{
	th_rmrf(dir);
	free(dir);
	free(conf);
}

TestSuite(admin, .init = setup, .fini = teardown, .timeout = 120);

/* ----------------------------------------------------- the command line */

struct cli_row {
	int line;
	const char *argv[8];
	int want;
	const char *out;	/* a piece of stdout, or NULL */
	const char *err;	/* a piece of stderr, or NULL */
	const char *desc;
};

static const struct cli_row cli_rows[] = {
	/* Global options, every place and spelling. */
	{ __LINE__, { "--config", "@CONF", "init" }, 0, "CA initialised", NULL,
	    "--config FILE before the command" },
	{ __LINE__, { "init", "--config", "@CONF" }, 0, "CA initialised", NULL,
	    "--config FILE after the command" },
	{ __LINE__, { "init", "-c", "@CONF" }, 0, "CA initialised", NULL,
	    "-c FILE after the command" },
	{ __LINE__, { "init", "--config=@CONF" }, 0, "CA initialised", NULL,
	    "--config=FILE after the command" },
	{ __LINE__, { "init", "-c@CONF" }, 0, "CA initialised", NULL,
	    "-cFILE after the command" },
	{ __LINE__, { "-c@CONF", "init" }, 0, "CA initialised", NULL,
	    "-cFILE before the command" },
	{ __LINE__, { "--config", "/nonexistent/a.conf", "init", "--config",
	    "@CONF" }, 0, "CA initialised", NULL, "the last --config wins" },
	{ __LINE__, { "--config", "@CONF", "init", "--config",
	    "/nonexistent/a.conf" }, 3, NULL, "/nonexistent/a.conf",
	    "the last --config wins, also when it is wrong" },
	{ __LINE__, { "stats", "--config", "/nonexistent/a.conf" }, 3, NULL,
	    "/nonexistent/a.conf", "a config after the command is the one "
	    "read" },
	{ __LINE__, { "init", "--config" }, 2, NULL, "--config needs a file",
	    "--config last, without its file" },
	{ __LINE__, { "init", "-c" }, 2, NULL, "-c needs a file",
	    "-c last, without its file" },
	{ __LINE__, { "--config" }, 2, NULL, NULL,
	    "--config without its file before any command" },
	{ __LINE__, { "--config", "@CONF", "init", "--", "--config", "@CONF" },
	    2, NULL, "init takes no arguments",
	    "nothing after -- is a global option" },
	{ __LINE__, { "--config", "@CONF", "certs", "list", "--", "--json" },
	    2, NULL, "unexpected \"--json\"",
	    "--json after -- is the command's argument" },
	{ __LINE__, { "--config", "@CONF", "init", "--" }, 2, NULL,
	    "init takes no arguments", "a lone -- after init" },
	{ __LINE__, { "certs", "list", "--config", "@CONF", "-j" }, 0,
	    "\"serial\": \"" SERIAL_A "\"", NULL,
	    "--config and -j between the command's arguments" },
	{ __LINE__, { "eab", "list", "--json", "--config", "@CONF" }, 0,
	    "[]", NULL, "--json after a command that has no --json of its "
	    "own" },
	{ __LINE__, { "--json", "--config", "@CONF", "ca", "show" }, 0,
	    "\"subject\"", NULL, "--json before the command" },
	{ __LINE__, { "--config", "@CONF", "ca", "list" }, 2, NULL,
	    "usage: anvil-admin ca show | ca rollover", "ca: unknown verb" },
	/* No command, unknown commands, unknown options. */
	{ __LINE__, { NULL }, 2, NULL, "no command given", "no arguments" },
	{ __LINE__, { "--config", "@CONF" }, 2, NULL, "no command given",
	    "only a global option" },
	{ __LINE__, { "--config", "@CONF", "frobnicate" }, 2, NULL,
	    "unknown command \"frobnicate\"", "unknown command" },
	{ __LINE__, { "--config", "@CONF", "INIT" }, 2, NULL,
	    "unknown command", "commands are case sensitive" },
	{ __LINE__, { "--config", "@CONF", "" }, 2, NULL, "unknown command",
	    "empty command" },
	{ __LINE__, { "--config", "@CONF", "--bogus", "stats" }, 2, NULL,
	    "usage:", "unknown global option" },
	{ __LINE__, { "-h" }, 0, "usage: anvil-admin", NULL, "help" },
	{ __LINE__, { "--version" }, 0, "anvil-admin " PACKAGE_VERSION, NULL,
	    "version" },
	{ __LINE__, { "--config", "/nonexistent/a.conf", "stats" }, 3, NULL,
	    NULL, "configuration refused: 3" },
	/* Missing and extra arguments. */
	{ __LINE__, { "--config", "@CONF", "init", "now" }, 2, NULL,
	    "init takes no arguments", "init with an argument" },
	{ __LINE__, { "--config", "@CONF", "certs" }, 2, NULL,
	    "usage: anvil-admin certs", "certs without a subcommand" },
	{ __LINE__, { "--config", "@CONF", "certs", "burn" }, 2, NULL,
	    "usage: anvil-admin certs", "certs with an unknown subcommand" },
	{ __LINE__, { "--config", "@CONF", "certs", "show" }, 2, NULL,
	    "usage: anvil-admin certs", "certs show without a serial" },
	{ __LINE__, { "--config", "@CONF", "certs", "show", SERIAL_A, "x" },
	    2, NULL, "usage: anvil-admin certs", "certs show, two serials" },
	{ __LINE__, { "--config", "@CONF", "certs", "list", "extra" }, 2,
	    NULL, "unexpected \"extra\"", "certs list with an argument" },
	{ __LINE__, { "--config", "@CONF", "certs", "list", "--account" }, 2,
	    NULL, NULL, "--account without its value" },
	{ __LINE__, { "--config", "@CONF", "accounts", "list", "x" }, 2,
	    NULL, "usage: anvil-admin accounts", "accounts list with an "
	    "argument" },
	{ __LINE__, { "--config", "@CONF", "accounts", "show" }, 2, NULL,
	    "usage: anvil-admin accounts", "accounts show without an id" },
	{ __LINE__, { "--config", "@CONF", "orders" }, 2, NULL, NULL,
	    "orders without a subcommand" },
	{ __LINE__, { "--config", "@CONF", "revoke" }, 2, NULL,
	    "usage: anvil-admin revoke", "revoke without a serial" },
	{ __LINE__, { "--config", "@CONF", "revoke", SERIAL_A, SERIAL_C }, 2,
	    NULL, "usage: anvil-admin revoke", "revoke, two serials" },
	{ __LINE__, { "--config", "@CONF", "revoke", SERIAL_A, "--reason" },
	    2, NULL, NULL, "--reason without its value" },
	{ __LINE__, { "--config", "@CONF", "certs", "export", "--format",
	    "xml" }, 2, NULL, "--format is json or csv, not \"xml\"",
	    "unknown export format" },
	{ __LINE__, { "--config", "@CONF", "certs", "export", "--format",
	    "CSV" }, 2, NULL, "--format is json or csv",
	    "formats are lower case" },
	{ __LINE__, { "--config", "@CONF", "certs", "export", "--format",
	    "" }, 2, NULL, "--format is json or csv", "empty format" },
	{ __LINE__, { "--config", "@CONF", "certs", "list", "--format",
	    "csv" }, 2, NULL, NULL, "--format belongs to export only" },
	/* Failures: 1. */
	{ __LINE__, { "--config", "@CONF", "certs", "show", "ffff" }, 1, NULL,
	    "no certificate with serial \"ffff\"", "unknown serial" },
	{ __LINE__, { "--config", "@CONF", "certs", "show", "xyz" }, 1, NULL,
	    "no certificate with serial", "serial that is not hex" },
	{ __LINE__, { "--config", "@CONF", "revoke", SERIAL_B }, 1, NULL,
	    "already revoked", "revoke a revoked certificate" },
	{ __LINE__, { "--config", "@CONF", "revoke", "0xZZ" }, 1, NULL,
	    "no certificate with serial", "revoke a bad serial" },
	{ __LINE__, { "--config", "@CONF", "accounts", "show", "nope" }, 1,
	    NULL, NULL, "unknown account" },
	/* Successes with the serial in the forms people paste. */
	{ __LINE__, { "--config", "@CONF", "certs", "show", "C0C" }, 0,
	    SERIAL_C, NULL, "short serial, upper case, left-padded" },
	{ __LINE__, { "--config", "@CONF", "certs", "show",
	    "0x0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9" }, 0,
	    SERIAL_A, NULL, "0x and colons" },
	{ __LINE__, { "--config", "@CONF", "revoke", SERIAL_A, "--reason",
	    "keycompromise" }, 0, "reason 1, keyCompromise", NULL,
	    "reason by name, any case" },
	{ __LINE__, { "--config", "@CONF", "revoke", "--reason", "4",
	    SERIAL_C }, 0, "reason 4, superseded", NULL,
	    "reason by number, before the serial; expired certificate" },
	{ __LINE__, { "--config", "@CONF", "stats" }, 0, NULL, NULL, "stats" },
	{ __LINE__, { "--config", "@CONF", "stats", "--format", "prometheus" },
	    0, "anvil_certificates_issued 3\n", NULL,
	    "stats in the Prometheus format" },
	{ __LINE__, { "--config", "@CONF", "stats", "--format", "xml" }, 2,
	    NULL, "usage: anvil-admin stats", "unknown stats format" },
	{ __LINE__, { "--config", "@CONF", "stats", "--output", "/tmp/x" }, 2,
	    NULL, "prometheus only", "--output without prometheus" },
	{ __LINE__, { "--config", "@CONF", "stats", "--format", "prometheus",
	    "--output", "/nonexistent/dir/anvil.prom" }, 1, NULL,
	    "/nonexistent/dir/anvil.prom", "--output into a missing folder" },
};

Test(admin, cli_rows)
{
	size_t i;

	for (i = 0; i < sizeof(cli_rows) / sizeof(cli_rows[0]); i++) {
		const struct cli_row *row = &cli_rows[i];
		struct run r;

		r = run_v(row->argv);
		cr_expect_eq(r.status, row->want, "line %d (%s): exit %d, "
		    "want %d\nstdout: %s\nstderr: %s", row->line, row->desc,
		    r.status, row->want, r.out, r.err);
		if (row->out != NULL)
			cr_expect_not_null(strstr(r.out, row->out),
			    "line %d (%s): stdout lacks \"%s\":\n%s", row->line,
			    row->desc, row->out, r.out);
		if (row->err != NULL)
			cr_expect_not_null(strstr(r.err, row->err),
			    "line %d (%s): stderr lacks \"%s\":\n%s", row->line,
			    row->desc, row->err, r.err);
		run_free(&r);
	}
}

/* ------------------------------------------------------------ option values */

struct value_row {
	int line;
	const char *value;
	int want;
	const char *desc;
};

static const struct value_row reason_rows[] = {
	{ __LINE__, "0", 0, "unspecified by number" },
	{ __LINE__, "unspecified", 0, "unspecified by name" },
	{ __LINE__, "1", 0, "keyCompromise" },
	{ __LINE__, "KEYCOMPROMISE", 0, "name in upper case" },
	{ __LINE__, "6", 0, "certificateHold" },
	{ __LINE__, "9", 0, "privilegeWithdrawn" },
	{ __LINE__, "aACompromise", 0, "10 by name" },
	{ __LINE__, "7", 2, "7 is unassigned (RFC 5280 section 5.3.1)" },
	{ __LINE__, "8", 2, "removeFromCRL is for delta CRLs only" },
	{ __LINE__, "removeFromCRL", 2, "removeFromCRL by name" },
	{ __LINE__, "11", 2, "past the last reason" },
	{ __LINE__, "100", 2, "far past the last reason" },
	{ __LINE__, "-1", 2, "negative" },
	{ __LINE__, "-0", 2, "negative zero" },
	{ __LINE__, "+1", 2, "plus sign" },
	{ __LINE__, " 1", 2, "leading space" },
	{ __LINE__, "1 ", 2, "trailing space" },
	{ __LINE__, "01", 0, "leading zero is still decimal" },
	{ __LINE__, "0x1", 2, "hex" },
	{ __LINE__, "1.0", 2, "fraction" },
	{ __LINE__, "", 2, "empty" },
	{ __LINE__, "4294967297", 2, "2^32 + 1 (1 if cut to int)" },
	{ __LINE__, "99999999999999999999", 2, "past LONG_MAX" },
	{ __LINE__, "keyCompromise ", 2, "name with a trailing space" },
	{ __LINE__, "key compromise", 2, "name with a space inside" },
	{ __LINE__, "compromise", 2, "part of a name" },
};

/* Each row on a fresh certificate: a valid reason revokes (0), anything
 * else is a usage error (2) that leaves the certificate as it was. */
Test(admin, revoke_reason_rows)
{
	size_t i;

	for (i = 0; i < sizeof(reason_rows) / sizeof(reason_rows[0]); i++) {
		const struct value_row *row = &reason_rows[i];
		struct run r, s;

		r = RUN("--config", "@CONF", "revoke", SERIAL_A, "--reason",
		    row->value);
		cr_expect_eq(r.status, row->want, "line %d (%s): \"%s\" exit "
		    "%d\n%s", row->line, row->desc, row->value, r.status,
		    r.err);
		s = RUN("--config", "@CONF", "--json", "certs", "list",
		    "--revoked");
		cr_expect_eq(strstr(s.out, SERIAL_A) != NULL, row->want == 0,
		    "line %d (%s): revoked state\n%s", row->line, row->desc,
		    s.out);
		/* Put the certificate back unrevoked for the next row. */
		if (r.status == 0) {
			teardown();
			setup();
		}
		run_free(&s);
		run_free(&r);
	}
}

static const struct value_row date_rows[] = {
	{ __LINE__, "2030-01-01", 0, "a date" },
	{ __LINE__, "2000-01-02", 0, "a date in the past" },
	{ __LINE__, "2024-02-29", 0, "leap day" },
	{ __LINE__, "2026-02-29", 2, "no leap day that year" },
	{ __LINE__, "2026-02-30", 2, "30 February" },
	{ __LINE__, "2026-04-31", 2, "31 April" },
	{ __LINE__, "2026-13-01", 2, "month 13" },
	{ __LINE__, "2026-00-10", 2, "month 0" },
	{ __LINE__, "2026-01-00", 2, "day 0" },
	{ __LINE__, "2026-01-32", 2, "day 32" },
	{ __LINE__, "2026-1-01", 2, "one-digit month" },
	{ __LINE__, "2026-01-1", 2, "one-digit day" },
	{ __LINE__, "2026-1-1 ", 2, "ten characters with a space" },
	{ __LINE__, " 2026-1-01", 2, "leading space, ten characters" },
	{ __LINE__, "+026-01-01", 2, "sign in the year" },
	{ __LINE__, "2026/01/01", 2, "slashes" },
	{ __LINE__, "20260101", 2, "no separators" },
	{ __LINE__, "2026-01-01T00:00:00Z", 2, "a timestamp" },
	{ __LINE__, "01-01-2026", 2, "day first" },
	{ __LINE__, "tomorrow", 2, "a word" },
	{ __LINE__, "", 2, "empty" },
	{ __LINE__, "1970-01-01", 2, "the epoch (0 means no filter)" },
	{ __LINE__, "1969-12-31", 2, "before the epoch" },
};

Test(admin, expiring_before_rows)
{
	size_t i;

	for (i = 0; i < sizeof(date_rows) / sizeof(date_rows[0]); i++) {
		const struct value_row *row = &date_rows[i];
		struct run r;

		r = RUN("--config", "@CONF", "certs", "list",
		    "--expiring-before", row->value);
		cr_expect_eq(r.status, row->want, "line %d (%s): \"%s\" exit "
		    "%d\n%s", row->line, row->desc, row->value, r.status,
		    r.err);
		if (row->want == 2)
			cr_expect_not_null(strstr(r.err, "YYYY-MM-DD"),
			    "line %d: %s", row->line, r.err);
		run_free(&r);
	}
}

/* The filter itself: only the certificate that expired in 2000. */
Test(admin, expiring_before_filters)
{
	struct run r;

	r = RUN("--config", "@CONF", "--json", "certs", "list",
	    "--expiring-before", "2000-01-02");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect_not_null(strstr(r.out, SERIAL_C));
	cr_expect_null(strstr(r.out, SERIAL_A));
	cr_expect_null(strstr(r.out, SERIAL_B));
	run_free(&r);
	r = RUN("--config", "@CONF", "--json", "certs", "list",
	    "--expiring-before", "2000-01-01");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect_str_eq(r.out, "[]\n", "not_after equal to the date is not "
	    "before it");
	run_free(&r);
}

/* ------------------------------------------------------------ export */

static const char want_csv[] =
    "serial,status,names,not_before,not_after,issued,account,order,"
    "revoked_at,revocation_reason,revoked_by,profile\r\n"
    "00000000000000000000000000000c0c,expired,192.0.2.1,"
    "1999-12-31T00:00:00Z,2000-01-01T00:00:00Z,1999-12-31T00:00:00Z,"
    "acct1,ord3,,,,\r\n"
    SERIAL_A ",valid,\"a.test, *.b.test\",2026-01-01T00:00:00Z,"
    "2100-01-01T00:00:00Z,2026-01-01T00:00:00Z,acct1,ord1,,,,tlsserver\r\n"
    SERIAL_B ",revoked,\"we,ird \"\"name\"\"\r\nnext\","
    "2026-01-01T00:00:00Z,2100-01-01T00:00:00Z,2026-01-01T00:01:00Z,"
    "\"acc\"\"t2\",\"o,2\",2026-01-01T00:02:00Z,keyCompromise,"
    "operator,\r\n";

Test(admin, export_csv_exact)
{
	struct run r;

	r = RUN("--config", "@CONF", "certs", "export", "--format", "csv");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect_str_eq(r.out, want_csv);
	run_free(&r);
	/* --json does not change the CSV. */
	r = RUN("--json", "--config", "@CONF", "certs", "export", "--format",
	    "csv");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect_str_eq(r.out, want_csv);
	run_free(&r);
}

static const char want_json_b[] =
    "[\n"
    "  {\n"
    "    \"serial\": \"" SERIAL_B "\",\n"
    "    \"status\": \"revoked\",\n"
    "    \"names\": [\n"
    "      \"we,ird \\\"name\\\"\\r\\nnext\"\n"
    "    ],\n"
    "    \"not_before\": \"2026-01-01T00:00:00Z\",\n"
    "    \"not_after\": \"2100-01-01T00:00:00Z\",\n"
    "    \"issued\": \"2026-01-01T00:01:00Z\",\n"
    "    \"account\": \"acc\\\"t2\",\n"
    "    \"order\": \"o,2\",\n"
    "    \"profile\": \"\",\n"
    "    \"revoked_at\": \"2026-01-01T00:02:00Z\",\n"
    "    \"revocation_reason\": \"keyCompromise\",\n"
    "    \"revoked_by\": \"operator\",\n"
    "    \"pem\": \"PEM B\"\n"
    "  }\n"
    "]\n";

Test(admin, export_json_exact)
{
	struct run r;
	json_t *doc;
	json_error_t e;

	r = RUN("--config", "@CONF", "certs", "export", "--revoked");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect_str_eq(r.out, want_json_b);
	run_free(&r);
	r = RUN("--config", "@CONF", "certs", "export", "--format", "json",
	    "--account", "acct1");
	cr_assert_eq(r.status, 0, "%s", r.err);
	doc = json_loads(r.out, 0, &e);
	cr_assert_not_null(doc, "%s\n%s", e.text, r.out);
	cr_assert_eq(json_array_size(doc), 2);
	/* Sorted by issue time: the 1999 certificate first. */
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(doc,
	    0), "serial")), SERIAL_C);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(doc,
	    1), "pem")),
	    "-----BEGIN CERTIFICATE-----\nQQ==\n-----END CERTIFICATE-----\n");
	cr_expect(json_is_null(json_object_get(json_array_get(doc, 1),
	    "revoked_at")));
	json_decref(doc);
	run_free(&r);
}

Test(admin, export_csv_filters)
{
	struct run r;

	r = RUN("--config", "@CONF", "certs", "export", "--format", "csv",
	    "--name", "x.b.test");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect_not_null(strstr(r.out, SERIAL_A), "wildcard covers x.b.test");
	cr_expect_null(strstr(r.out, SERIAL_B));
	run_free(&r);
	r = RUN("--config", "@CONF", "certs", "export", "--format", "csv",
	    "--account", "nobody");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect_str_eq(r.out, "serial,status,names,not_before,not_after,"
	    "issued,account,order,revoked_at,revocation_reason,revoked_by,"
	    "profile\r\n", "header only");
	run_free(&r);
}

/* ------------------------------------------------------------ renewal */

static const struct cli_row renewal_rows[] = {
	{ __LINE__, { "--config", "@CONF", "renewal" }, 2, NULL,
	    "usage: anvil-admin renewal", "renewal without a subcommand" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise" }, 2, NULL,
	    "exactly one of", "advise without a selector" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise", "--serial",
	    SERIAL_A, "--account", "acct1" }, 2, NULL, "exactly one of",
	    "two selectors" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise", "--serial",
	    SERIAL_A, "extra" }, 2, NULL, "unexpected", "an extra argument" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise",
	    "--issued-before", "2026-02-30" }, 2, NULL, "YYYY-MM-DD",
	    "not a day of its month" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise",
	    "--issued-before", "2026-01-01T24:00:00Z" }, 2, NULL,
	    "YYYY-MM-DD", "hour 24" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise",
	    "--issued-before", "2026-01-01 00:00:00" }, 2, NULL,
	    "YYYY-MM-DD", "a timestamp without T and Z" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise", "--serial",
	    SERIAL_A, "--explanation", "ftp://x.test/why" }, 2, NULL,
	    "http(s) URL", "explanation not http(s)" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise", "--serial",
	    SERIAL_A, "--explanation", "https://x.test/a b" }, 2, NULL,
	    "http(s) URL", "explanation with a space" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise", "--serial",
	    "xyz" }, 2, NULL, "not a serial", "serial that is not hex" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise", "--serial",
	    "ffff" }, 1, NULL, "no certificate with serial", "unknown serial" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise", "--serial",
	    "C0C" }, 0, "for 1 certificate", NULL, "short serial, "
	    "left-padded" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise", "--account",
	    "acct1" }, 0, "for 1 certificate", NULL, "an account: its "
	    "expired certificate skipped" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise", "--account",
	    "nobody" }, 0, "for 0 certificates", NULL, "an account with "
	    "none" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise",
	    "--issued-before", "2026-01-01T00:00:30Z" }, 0,
	    "for 1 certificate", NULL, "issued before a time: A, not B" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise",
	    "--issued-before", "2030-01-01" }, 0, "for 2 certificates", NULL,
	    "issued before a date: A and B" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise",
	    "--ca-generation", "1" }, 0, "for 2 certificates", NULL,
	    "CA generation 1: records without ca_gen, expired skipped" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise",
	    "--ca-generation", "2" }, 0, "for 0 certificates", NULL,
	    "CA generation 2: none issued" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise",
	    "--ca-generation", "0" }, 2, NULL, "from 1 to 32", "generation 0" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise",
	    "--ca-generation", "33" }, 2, NULL, "from 1 to 32",
	    "generation 33" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise",
	    "--ca-generation", "-1" }, 2, NULL, "from 1 to 32",
	    "a negative generation" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise",
	    "--ca-generation", "2x" }, 2, NULL, "from 1 to 32",
	    "a generation with a letter" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise",
	    "--ca-generation", "" }, 2, NULL, "from 1 to 32",
	    "an empty generation" },
	{ __LINE__, { "--config", "@CONF", "renewal", "advise",
	    "--ca-generation", "1", "--account", "acct1" }, 2, NULL,
	    "exactly one of", "a generation and an account" },
};

Test(admin, renewal_rows)
{
	size_t i, n;

	for (i = 0; i < sizeof(renewal_rows) / sizeof(renewal_rows[0]); i++) {
		const struct cli_row *row = &renewal_rows[i];
		const char *argv[9];
		struct run r;

		for (n = 0; n < 8 && row->argv[n] != NULL; n++)
			argv[n] = row->argv[n];
		argv[n] = NULL;
		r = run_v(argv);
		cr_expect_eq(r.status, row->want, "line %d (%s): exit %d\n%s",
		    row->line, row->desc, r.status, r.err);
		if (row->out != NULL)
			cr_expect_not_null(strstr(r.out, row->out),
			    "line %d (%s): stdout %s", row->line, row->desc,
			    r.out);
		if (row->err != NULL)
			cr_expect_not_null(strstr(r.err, row->err),
			    "line %d (%s): stderr %s", row->line, row->desc,
			    r.err);
		run_free(&r);
	}
}

/* The advice is stored and certs show has it; a refused advice writes
 * nothing. */
Test(admin, renewal_advise_shown)
{
	struct run r;

	r = RUN("--config", "@CONF", "renewal", "advise", "--serial",
	    SERIAL_A, "--explanation", "ftp://no");
	cr_expect_eq(r.status, 2);
	run_free(&r);
	r = RUN("--config", "@CONF", "--json", "certs", "show", SERIAL_A);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect_not_null(strstr(r.out, "\"renewal_advised\": null"), "%s",
	    r.out);
	cr_expect_not_null(strstr(r.out, "\"replaced_by_order\": null"), "%s",
	    r.out);
	cr_expect_not_null(strstr(r.out, "\"renewal_window_start\": "
	    "\"2075-"), "two thirds of 2026..2100: %s", r.out);
	run_free(&r);
	r = RUN("--config", "@CONF", "renewal", "advise", "--serial",
	    SERIAL_A, "--explanation", "https://ca.test/why");
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_free(&r);
	r = RUN("--config", "@CONF", "--json", "certs", "show", SERIAL_A);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect_null(strstr(r.out, "\"renewal_advised\": null"), "%s", r.out);
	cr_expect_not_null(strstr(r.out, "\"renewal_explanation\": "
	    "\"https://ca.test/why\""), "%s", r.out);
	run_free(&r);
}

/*
 * Prometheus label values escape backslash, double quote and newline
 * (the text exposition format); a challenge type comes from a stored
 * record, so a damaged one must not break the file.
 */
Test(admin, metrics_escape_label_values)
{
	struct admin_stats s;
	struct admin_ctx ctx;
	struct anvil_config *cfg;
	char *buf = NULL;
	size_t len = 0;

	memset(&s, 0, sizeof(s));
	memset(&ctx, 0, sizeof(ctx));
	s.now = 1000;
	s.accounts = json_pack("{s:i}", "valid", 2);
	s.orders = json_object();
	s.authz = json_object();
	s.challenges = json_pack("{s:{s:i}}", "a\"b\\c\nd", "valid", 3);
	s.issued = 7;
	s.expiring7 = 1;
	cr_assert_not_null(cfg = th_config(dir, NULL));
	ctx.cfg = cfg;
	cr_assert_not_null(ctx.out = open_memstream(&buf, &len));
	cr_assert_eq(admin_metrics_write(&ctx, &s, NULL), ADMIN_OK);
	fclose(ctx.out);
	cr_expect(strstr(buf, "anvil_challenges{type=\"a\\\"b\\\\c\\nd\","
	    "status=\"valid\"} 3\n") != NULL, "%s", buf);
	cr_expect(strstr(buf, "anvil_accounts{status=\"valid\"} 2\n") != NULL);
	cr_expect(strstr(buf, "anvil_certificates_issued 7\n") != NULL);
	cr_expect(strstr(buf, "anvil_certificates_expiring{within=\"7d\"} 1\n")
	    != NULL);
	cr_expect(strstr(buf, "# TYPE anvil_challenges gauge\n") != NULL);
	free(buf);
	config_free(cfg);
	json_decref(s.accounts);
	json_decref(s.orders);
	json_decref(s.authz);
	json_decref(s.challenges);
}

/* anvil-admin audit over the events the admin commands themselves wrote. */
Test(admin, audit_filters)
{
	struct run r;
	char *path = NULL;
	FILE *fp;

	r = RUN("--config", "@CONF", "revoke", SERIAL_A, "--reason", "4");
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_free(&r);
	r = RUN("--config", "@CONF", "audit", "--serial", "0x0A1B2C3D4E5F6071"
	    "8293A4B5C6D7E8F9");
	cr_expect_eq(r.status, 0, "%s", r.err);
	cr_expect(strstr(r.out, "certificate.revoked") != NULL, "%s", r.out);
	run_free(&r);
	r = RUN("--config", "@CONF", "--json", "audit", "--serial", SERIAL_C);
	cr_expect_eq(r.status, 0);
	cr_expect_str_eq(r.out, "[]\n");
	run_free(&r);
	r = RUN("--config", "@CONF", "--json", "audit", "--event",
	    "certificate.revoked", "--since", "2000-01-01", "--until",
	    "2999-01-01");
	cr_expect(strstr(r.out, "\"by\": \"operator\"") != NULL &&
	    strstr(r.out, "\"reason\": 4") != NULL, "%s", r.out);
	/* One revocation, one event. */
	cr_expect(strstr(r.out, "certificate.revoked") != NULL &&
	    strstr(strstr(r.out, "certificate.revoked") + 1,
	    "certificate.revoked") == NULL, "%s", r.out);
	run_free(&r);
	r = RUN("--config", "@CONF", "--json", "audit", "--since",
	    "2999-01-01");
	cr_expect_str_eq(r.out, "[]\n");
	run_free(&r);
	/* A damaged line is named and skipped, the rest still read. */
	cr_assert(asprintf(&path, "%s/audit.log", dir) > 0);
	cr_assert_not_null(fp = fopen(path, "a"));
	fputs("{\"time\": \"2026-01-0\n", fp);
	/* A line far longer than any event: skipped whole, and the next
	 * line is read as the event it is. */
	for (int k = 0; k < 20000; k++)
		fputs("xxxxx", fp);
	fputs("\n{\"time\":\"2026-01-02T00:00:00Z\",\"event\":"
	    "\"certificate.revoked\",\"serial\":\"" SERIAL_C "\"}\n", fp);
	fclose(fp);
	r = RUN("--config", "@CONF", "audit", "--event",
	    "certificate.revoked");
	cr_expect_eq(r.status, 0);
	cr_expect(strstr(r.err, "not an event, skipped") != NULL &&
	    strstr(r.err, "2 lines of") != NULL, "%s",
	    r.err);
	cr_expect(strstr(r.out, SERIAL_A) != NULL, "%s", r.out);
	cr_expect(strstr(r.out, SERIAL_C) != NULL, "%s", r.out);
	run_free(&r);
	r = RUN("--config", "@CONF", "audit", "--since", "yesterday");
	cr_expect_eq(r.status, 2);
	run_free(&r);
	free(path);
}

/* ------------------------------------------------------------ db export */

static char *
slurp_path(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	cr_assert_not_null(f, "open %s", path);
	n = getdelim(&buf, &cap, '\0', f);
	cr_assert(n >= 0);
	fclose(f);
	return buf;
}

/* A second data folder with its own configuration and an empty store. */
static char *
second_store(const char *name)
{
	char *d = NULL, *c = NULL;
	struct run r;
	FILE *f;

	cr_assert(asprintf(&d, "%s/%s", dir, name) > 0);
	cr_assert_eq(mkdir(d, 0700), 0);
	cr_assert(asprintf(&c, "%s/anvil.conf", d) > 0);
	cr_assert_not_null(f = fopen(c, "w"));
	fprintf(f, "[server]\nbase_url = https://acme.test/acme\n"
	    "data_dir = %s\n", d);
	fclose(f);
	r = RUN("--config", c, "init");
	cr_assert_eq(r.status, 0, "init: %s", r.err);
	run_free(&r);
	free(d);
	return c;
}

Test(admin, db_export_import_round_trip)
{
	char *exp1 = NULL, *exp2 = NULL, *cut = NULL, *conf2 = NULL,
	    *conf3 = NULL, *a = NULL, *b = NULL;
	struct run r;
	struct stat sb;
	FILE *f;

	cr_assert(asprintf(&exp1, "%s/one.exp", dir) > 0);
	cr_assert(asprintf(&exp2, "%s/two.exp", dir) > 0);
	cr_assert(asprintf(&cut, "%s/cut.exp", dir) > 0);
	r = RUN("--config", "@CONF", "revoke", SERIAL_A);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_free(&r);
	r = RUN("--config", "@CONF", "db", "export", exp1);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "3 records") != NULL, "%s", r.out);
	run_free(&r);
	cr_assert_eq(stat(exp1, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600, "EAB keys inside: 0600");
	r = RUN("--config", "@CONF", "db", "export", exp1);
	cr_assert_eq(r.status, 1, "an existing file is not overwritten");
	run_free(&r);

	conf2 = second_store("two");
	r = RUN("--config", conf2, "db", "import", exp1);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_free(&r);
	r = RUN("--config", conf2, "db", "import", exp1);
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "already holds records") != NULL, "%s", r.err);
	run_free(&r);
	r = RUN("--config", conf2, "db", "export", exp2);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_free(&r);
	a = slurp_path(exp1);
	b = slurp_path(exp2);
	cr_assert_str_eq(a, b, "an export of the import is the same file");
	cr_assert(strstr(a, "\"revoked\":{") != NULL, "statuses kept");

	/* Cut short: refused, and nothing is written. */
	cr_assert_not_null(f = fopen(cut, "w"));
	fwrite(a, 1, strlen(a) / 2, f);
	fclose(f);
	conf3 = second_store("three");
	r = RUN("--config", conf3, "db", "import", cut);
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "nothing written") != NULL, "%s", r.err);
	run_free(&r);
	r = RUN("--config", conf3, "certs", "list", "--json");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "serial") == NULL, "no records: %s", r.out);
	run_free(&r);
	r = RUN("--config", conf3, "db", "export");
	cr_assert_eq(r.status, 2, "db export without a file is usage");
	run_free(&r);
	free(a);
	free(b);
	free(exp1);
	free(exp2);
	free(cut);
	free(conf2);
	free(conf3);
}
