/*
 * admin.h - anvil-admin's commands. Each takes the context and its own
 * arguments (argv[0] is the command name) and returns the process exit
 * status: 0 success, 1 the operation failed (reason on stderr), 2 usage.
 * Output is for people (aligned columns) unless ctx->json, then one JSON
 * document on stdout.
 */
#ifndef ANVIL_ADMIN_ADMIN_H
#define ANVIL_ADMIN_ADMIN_H

#include <stdio.h>

#include <jansson.h>

#include "core/conf.h"
#include "store/store.h"

#define ADMIN_OK 0
#define ADMIN_FAIL 1
#define ADMIN_USAGE 2
#define ADMIN_CONFIG 3	/* admin_main only: the configuration was refused */

struct admin_ctx {
	const struct anvil_config *cfg;
	struct store *st;	/* opened by the dispatcher (live store) */
	int json;		/* --json */
	FILE *out;		/* stdout */
};

/*
 * anvil-admin itself (cli.c): parses argv (global options before the
 * command or after it, up to "--"), loads the configuration, opens the
 * store and runs the command. argv may be reordered. Returns the exit
 * status: ADMIN_OK, ADMIN_FAIL, ADMIN_USAGE or ADMIN_CONFIG.
 */
int admin_main(int argc, char **argv);

/*
 * Prints rows (a JSON array of objects, borrowed) as aligned columns
 * named by cols (NULL-terminated), or the array itself with --json.
 */
void admin_print_table(struct admin_ctx *ctx, json_t *rows,
    const char *const *cols);

/* Prints one object: "key: value" lines, or JSON with --json. */
void admin_print_object(struct admin_ctx *ctx, json_t *obj);

/* The commands (eab.c). */
int admin_eab(struct admin_ctx *ctx, int argc, char **argv);
/* ca.c */
int admin_ca(struct admin_ctx *ctx, int argc, char **argv);
int admin_ocsp(struct admin_ctx *ctx, int argc, char **argv);
/* policy.c */
int admin_policy(struct admin_ctx *ctx, int argc, char **argv);

/* Inventory (inventory.c) and maintenance (maint.c) of the live store. */
int admin_accounts(struct admin_ctx *ctx, int argc, char **argv);
int admin_orders(struct admin_ctx *ctx, int argc, char **argv);
int admin_authz(struct admin_ctx *ctx, int argc, char **argv);
int admin_certs(struct admin_ctx *ctx, int argc, char **argv);
int admin_revoke(struct admin_ctx *ctx, int argc, char **argv);
int admin_stats(struct admin_ctx *ctx, int argc, char **argv);
int admin_sweep(struct admin_ctx *ctx, int argc, char **argv);
int admin_db(struct admin_ctx *ctx, int argc, char **argv);
/* dbmove.c: db export FILE, db import FILE (from admin_db) */
int admin_db_move(struct admin_ctx *ctx, int argc, char **argv);
/* audit.c: the audit log, filtered */
int admin_audit(struct admin_ctx *ctx, int argc, char **argv);
/* renewal.c: renewal advise (RFC 9773) */
int admin_renewal(struct admin_ctx *ctx, int argc, char **argv);

/* What anvil-admin stats counts, in one read of the store (inventory.c). */
struct admin_stats {
	time_t now;
	json_t *accounts, *orders, *authz;	/* status -> count */
	json_t *challenges;	/* type -> { status -> count } */
	json_int_t issued, revoked, expired, expiring, active;
	json_int_t expiring7;	/* active, expiring within 7 days */
};

/*
 * metrics.c: s (borrowed) and what the data folder shows (the CRL's
 * thisUpdate and nextUpdate, the store's size on disk) in the Prometheus
 * text exposition format, to out, or with path (not NULL) to that file,
 * replaced atomically (written beside it, then renamed) so that a
 * collector never reads half of it. ADMIN_OK or ADMIN_FAIL (message on
 * stderr naming the file).
 */
int admin_metrics_write(struct admin_ctx *ctx, const struct admin_stats *s,
    const char *path);

/* RFC 3339 UTC text of t ("2026-01-02T03:04:05Z") into out[32]. */
void admin_time(json_int_t t, char out[32]);
/* The time member key of rec as RFC 3339 text, or JSON null; new ref. */
json_t *admin_time_json(json_t *rec, const char *key);

#define ADMIN_SERIAL_HEX_MAX 40	/* 20 bytes, RFC 5280 §4.1.2.2 */

/* YYYY-MM-DD (midnight UTC), or with with_time also
 * YYYY-MM-DDTHH:MM:SSZ; 0 if malformed or not a real date. */
time_t admin_parse_when(const char *s, int with_time);

/* A serial as an operator types it (hex, colons and 0x allowed) into
 * lower-case hex in out; 0 if it is not one. */
int admin_serial_norm(const char *in, char out[ADMIN_SERIAL_HEX_MAX + 1]);

#endif
