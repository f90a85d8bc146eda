/*
 * cli.c - anvil-admin's command line: the global options, the command
 * table, init, and the dispatch to the commands of this folder.
 *
 * It lives in the library rather than in src/bin/anvil_admin.c so that
 * tests/unit/test_admin.c drives the same parsing and exit codes that
 * operators get. Exit codes: 0 success, 1 the operation failed, 2 usage
 * error, 3 the configuration was refused.
 *
 * The global options (--config FILE, --json) go before the command or
 * anywhere after it up to a "--": people type "anvil-admin init --config
 * FILE" as often as the other order, and a file named after the command
 * that was silently ignored sent them to the default path.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "admin/admin.h"
#include "ca/ca.h"
#include "core/conf.h"
#include "core/log.h"
#include "store/store.h"

#define EXIT_FAIL ADMIN_FAIL
#define EXIT_USAGE ADMIN_USAGE
#define EXIT_CONFIG ADMIN_CONFIG

/* Commands that work on the live store (opened before they run). */
static const struct {
	const char *name;
	int (*fn)(struct admin_ctx *, int, char **);
	const char *help;
} commands[] = {
	{ "ca", admin_ca, "ca show | ca rollover  the CA and its generations; a "
	    "new CA key\n"
	    "           and certificate, cross-certified by the current one" },
	{ "ocsp", admin_ocsp, "ocsp show | ocsp rotate  the OCSP signer; a new "
	    "responder key\n"
	    "           and certificate (run anvil-crl after)" },
	{ "eab", admin_eab, "eab create [--alg HS256|HS384|HS512] "
	    "[--single-use] [--expires DAYS] | eab list | eab disable KID" },
	{ "policy", admin_policy, "policy [--eab KID] show | allow PATTERN | "
	    "deny PATTERN | remove PATTERN | clear | allow-profile NAME | "
	    "remove-profile NAME" },
	{ "accounts", admin_accounts, "accounts list | accounts show ID | "
	    "accounts deactivate ID" },
	{ "orders", admin_orders, "orders show ID" },
	{ "authz", admin_authz, "authz show ID" },
	{ "certs", admin_certs, "certs list [--account ID] [--name NAME] "
	    "[--revoked]\n"
	    "           [--expiring-before YYYY-MM-DD]\n"
	    "  certs show SERIAL\n"
	    "  certs export [--format json|csv] [the filters of certs list]" },
	{ "renewal", admin_renewal, "renewal advise (--serial S | --account "
	    "ID | --issued-before DATE\n"
	    "           | --ca-generation N) [--explanation URL]  open the "
	    "renewal window (ARI) now" },
	{ "audit", admin_audit, "audit [--serial S] [--account ID] "
	    "[--event NAME] [--since DATE]\n"
	    "           [--until DATE]  security events of the audit log" },
	{ "revoke", admin_revoke, "revoke SERIAL [--reason N|NAME]  "
	    "server side (1 if already revoked)" },
	{ "stats", admin_stats, "stats    accounts, orders, authorizations "
	    "by status; certificates\n"
	    "           issued, revoked, expiring within 30 days" },
	{ "sweep", admin_sweep, "sweep [--quiet]  fail validations whose "
	    "process died; drop expired\n"
	    "           nonces and never-valid orders expired over 30 days "
	    "ago (cron)" },
	{ "db", admin_db, "db check  verify every file, record and index "
	    "(1 names a damaged file)\n"
	    "  db backup DIR  hot backup; DIR restores as data_dir/store\n"
	    "  db migrate  bring a PostgreSQL schema to this version\n"
	    "  db export FILE | db import FILE  every record and counter, "
	    "to move\n"
	    "           a store between backends (import: into an empty "
	    "one)" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	    "usage: anvil-admin [--config FILE] [--json] COMMAND [ARGS]\n"
	    "\n"
	    "Commands:\n"
	    "  init     create the CA key and certificate (if absent) and the\n"
	    "           store under [server] data_dir; load and check them if\n"
	    "           both exist; refuse a key without its certificate or\n"
	    "           a certificate without its key\n"
	    "%s", "");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %s\n", commands[i].help);
	fprintf(f, "\n"
	    "Options (before the command or after it, up to a \"--\"):\n"
	    "  -c, --config FILE  configuration file (default: $ANVIL_CONFIG,\n"
	    "                     else %s)\n"
	    "  -j, --json         output JSON for scripts\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      print the version\n"
	    "\n"
	    "Exit status: 0 success, 1 the operation failed, 2 usage error,\n"
	    "3 configuration refused.\n", config_default_path());
}

/*
 * Takes --config FILE (also --config=FILE, -c FILE, -cFILE) and --json
 * (-j) out of argv[first..*argc), up to a "--", closing the gaps. The
 * last --config wins, as getopt does before the command. Returns 0, or
 * -1 for a --config without its file (message printed).
 */
static int
global_after(int *argc, char **argv, int first, const char **config,
    int *json)
{
	int i, o = first;

	for (i = first; i < *argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			while (i < *argc)
				argv[o++] = argv[i++];
			break;
		}
		if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0) {
			*json = 1;
			continue;
		}
		if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "anvil-admin: %s needs a "
				    "file\n", a);
				return -1;
			}
			*config = argv[++i];
			continue;
		}
		if (strncmp(a, "--config=", 9) == 0) {
			*config = a + 9;
			continue;
		}
		if (strncmp(a, "-c", 2) == 0) {
			*config = a + 2;
			continue;
		}
		argv[o++] = argv[i];
	}
	argv[o] = NULL;
	*argc = o;
	return 0;
}

static int
cmd_init(const struct anvil_config *cfg)
{
	struct ca *ca = NULL;
	struct store *st = NULL;
	char err[1024] = "";
	anvil_err rc;
	int status = EXIT_FAIL;

	if ((rc = ca_load_or_generate(cfg, &ca, err, sizeof(err))) != ANVIL_OK) {
		fprintf(stderr, "anvil-admin: init: %s\n", err);
		goto out;
	}
	if ((rc = store_open_conf(cfg, STORE_OPEN_CREATE | STORE_OPEN_MIGRATE,
	    &st, err, sizeof(err))) != ANVIL_OK) {
		fprintf(stderr, "anvil-admin: init: %s\n", err);
		goto out;
	}
	printf("CA initialised: %s\n", cfg->cert_file);
	printf("CA key: %s\n", strncmp(cfg->key_file, "pkcs11:", 7) == 0 ?
	    "PKCS#11 token" : cfg->key_file);
	if (strcmp(store_backend(st), STORE_BACKEND_PG) == 0) {
		int was = 0, now = 0;

		store_schema(st, &was, &now);
		printf("store: postgresql, schema version %d\n", now);
	} else
		printf("store: %s/store\n", cfg->data_dir);
	status = 0;
out:
	store_close(st);
	ca_free(ca);
	return status;
}

/*
 * db migrate: brings a PostgreSQL schema to this Anvil's version (every
 * migration in one transaction, src/store/pg.c); a Berkeley DB store has
 * nothing to migrate.
 */
static int
cmd_migrate(const struct anvil_config *cfg)
{
	struct store *st = NULL;
	char err[1024] = "";
	int was = 0, now = 0;

	if (store_open_conf(cfg, STORE_OPEN_MIGRATE, &st, err, sizeof(err)) !=
	    ANVIL_OK) {
		fprintf(stderr, "anvil-admin: db migrate: %s\n", err);
		return EXIT_FAIL;
	}
	store_schema(st, &was, &now);
	if (strcmp(store_backend(st), STORE_BACKEND_PG) != 0)
		printf("store: %s, nothing to migrate\n", store_backend(st));
	else if (was == now)
		printf("store: schema version %d, up to date\n", now);
	else
		printf("store: schema version %d (was %d)\n", now, was);
	store_close(st);
	return 0;
}

int
admin_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct anvil_config *cfg = NULL;
	const char *config_path = NULL;
	char err[1024] = "";
	int c, status = EXIT_USAGE, json = 0, first;
	size_t i;

	log_init("anvil-admin", LOG_LVL_WARN, 0);
	optind = 0;	/* a full restart: tests call this more than once */
	while ((c = getopt_long(argc, argv, "+c:jhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("anvil-admin %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "anvil-admin: no command given\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	first = optind;
	if (global_after(&argc, argv, first + 1, &config_path, &json) != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (gnutls_global_init() < 0) {
		fprintf(stderr, "anvil-admin: GnuTLS failed to initialise\n");
		return EXIT_FAIL;
	}
	if (config_load(config_path, &cfg, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "anvil-admin: %s\n", err);
		status = EXIT_CONFIG;
		goto out;
	}
	if (strcmp(argv[first], "init") == 0) {
		if (argc - first != 1) {
			fprintf(stderr, "anvil-admin: init takes no "
			    "arguments\n");
			goto out;
		}
		status = cmd_init(cfg);
		goto out;
	}
	if (strcmp(argv[first], "db") == 0 && argc - first >= 2 &&
	    strcmp(argv[first + 1], "migrate") == 0) {
		if (argc - first != 2) {
			fprintf(stderr, "anvil-admin: db migrate takes no "
			    "arguments\n");
			goto out;
		}
		status = cmd_migrate(cfg);
		goto out;
	}
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[first], commands[i].name) == 0)
			break;
	if (i == NCOMMANDS) {
		fprintf(stderr, "anvil-admin: unknown command \"%s\"\n",
		    argv[first]);
		usage(stderr);
		goto out;
	}
	{
		struct admin_ctx ctx;
		memset(&ctx, 0, sizeof(ctx));
		ctx.cfg = cfg;
		ctx.json = json;
		ctx.out = stdout;
		if (store_open_conf(cfg, 0, &ctx.st, err, sizeof(err)) !=
		    ANVIL_OK) {
			fprintf(stderr, "anvil-admin: %s\n", err);
			status = EXIT_FAIL;
			goto out;
		}
		optind = 0;	/* each command parses its own options */
		status = commands[i].fn(&ctx, argc - first, argv + first);
		fflush(stdout);
		store_close(ctx.st);
	}
out:
	config_free(cfg);
	gnutls_global_deinit();
	return status;
}
