/*
 * eab.c - anvil-admin eab: External Account Binding keys (RFC 8555
 * §7.3.4). "create" prints the key id and the base64url HMAC key once;
 * the store keeps the key for the server to check MACs. "list" never shows
 * keys. "disable" stops a key from binding new accounts.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/admin.h"
#include "core/util.h"
#include "jose/jose.h"

struct put_arg {
	const char *id;
	json_t *rec;
	int create;
};

static anvil_err
put_fn(struct store_txn *txn, void *arg)
{
	struct put_arg *p = arg;

	return store_put(txn, STORE_EAB, p->id, p->rec,
	    p->create ? STORE_PUT_NEW : 0);
}

static int
eab_create(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "alg", required_argument, NULL, 'a' },
		{ "single-use", no_argument, NULL, 's' },
		{ "expires", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	const char *alg = "HS256";
	unsigned char kidraw[12], key[64];
	size_t keylen = 32;
	char *kid = NULL, *key64 = NULL, *end;
	long days = 0;
	int single = 0, c, status = ADMIN_FAIL;
	struct put_arg p = { NULL, NULL, 1 };
	char err[256] = "";
	time_t now = time(NULL);

	while ((c = getopt_long(argc, argv, "a:se:", opts, NULL)) != -1) {
		switch (c) {
		case 'a': alg = optarg; break;
		case 's': single = 1; break;
		case 'e':
			days = strtol(optarg, &end, 10);
			if (*end != '\0' || days < 1 || days > 3650) {
				fprintf(stderr, "anvil-admin: eab create: "
				    "--expires takes 1 to 3650 days\n");
				return ADMIN_USAGE;
			}
			break;
		default: return ADMIN_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "anvil-admin: eab create: unexpected \"%s\"\n",
		    argv[optind]);
		return ADMIN_USAGE;
	}
	if (strcmp(alg, "HS256") == 0)
		keylen = 32;
	else if (strcmp(alg, "HS384") == 0)
		keylen = 48;
	else if (strcmp(alg, "HS512") == 0)
		keylen = 64;
	else {
		fprintf(stderr, "anvil-admin: eab create: --alg must be HS256, "
		    "HS384 or HS512\n");
		return ADMIN_USAGE;
	}
	if (util_random(kidraw, sizeof(kidraw)) != ANVIL_OK ||
	    util_random(key, keylen) != ANVIL_OK ||
	    b64u_encode(kidraw, sizeof(kidraw), &kid) != ANVIL_OK ||
	    b64u_encode(key, keylen, &key64) != ANVIL_OK) {
		fprintf(stderr, "anvil-admin: eab create: no randomness\n");
		goto out;
	}
	p.id = kid;
	p.rec = json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:[]}", "kid", kid,
	    "alg", alg, "key", key64, "status", "active", "single_use", single,
	    "created", (json_int_t)now, "accounts");
	if (p.rec == NULL)
		goto out;
	if (days > 0)
		json_object_set_new(p.rec, "expires",
		    json_integer((json_int_t)(now + days * 86400)));
	if (store_run(ctx->st, 0, put_fn, &p, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "anvil-admin: eab create: %s\n", err);
		goto out;
	}
	if (ctx->json) {
		json_t *o = json_pack("{s:s, s:s, s:s}", "kid", kid, "hmac_key",
		    key64, "alg", alg);
		admin_print_object(ctx, o);
		json_decref(o);
	} else {
		fprintf(ctx->out, "kid: %s\nhmac_key: %s\nalg: %s\n", kid,
		    key64, alg);
		fprintf(ctx->out, "(the HMAC key is shown only now)\n");
	}
	status = ADMIN_OK;
out:
	util_wipe(key, sizeof(key));
	if (key64 != NULL)
		util_wipe(key64, strlen(key64));
	free(key64);
	free(kid);
	json_decref(p.rec);
	return status;
}

static anvil_err
list_one(const char *id, json_t *rec, void *arg)
{
	json_t *rows = arg, *row;
	json_t *exp = json_object_get(rec, "expires");
	char buf[32] = "-";

	if (json_is_integer(exp)) {
		time_t t = (time_t)json_integer_value(exp);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	row = json_pack("{s:s, s:O, s:O, s:O, s:s, s:I}", "kid", id, "alg",
	    json_object_get(rec, "alg"), "status", json_object_get(rec,
	    "status"), "single_use", json_object_get(rec, "single_use"),
	    "expires", buf, "accounts", (json_int_t)json_array_size(
	    json_object_get(rec, "accounts")));
	if (row == NULL)
		return ANVIL_ERR_NOMEM;
	return json_array_append_new(rows, row) == 0 ? ANVIL_OK :
	    ANVIL_ERR_NOMEM;
}

static anvil_err
list_fn(struct store_txn *txn, void *arg)
{
	json_array_clear(arg);
	return store_each(txn, STORE_EAB, list_one, arg);
}

static int
eab_list(struct admin_ctx *ctx)
{
	static const char *const cols[] = { "kid", "alg", "status",
		"single_use", "expires", "accounts", NULL };
	json_t *rows = json_array();
	char err[256] = "";

	if (rows == NULL || store_run(ctx->st, 0, list_fn, rows, err,
	    sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "anvil-admin: eab list: %s\n", err);
		json_decref(rows);
		return ADMIN_FAIL;
	}
	admin_print_table(ctx, rows, cols);
	json_decref(rows);
	return ADMIN_OK;
}

static anvil_err
disable_fn(struct store_txn *txn, void *arg)
{
	struct put_arg *p = arg;
	anvil_err rc;

	json_decref(p->rec);
	p->rec = NULL;
	if ((rc = store_get(txn, STORE_EAB, p->id, &p->rec)) != ANVIL_OK)
		return rc;
	json_object_set_new(p->rec, "status", json_string("disabled"));
	return store_put(txn, STORE_EAB, p->id, p->rec, 0);
}

static int
eab_disable(struct admin_ctx *ctx, const char *kid)
{
	struct put_arg p = { kid, NULL, 0 };
	char err[256] = "";
	anvil_err rc = store_run(ctx->st, 0, disable_fn, &p, err, sizeof(err));

	json_decref(p.rec);
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
		fprintf(stderr, "anvil-admin: eab disable: no key \"%s\"\n", kid);
		return ADMIN_FAIL;
	}
	if (rc != ANVIL_OK) {
		fprintf(stderr, "anvil-admin: eab disable: %s\n", err);
		return ADMIN_FAIL;
	}
	fprintf(ctx->out, "disabled %s\n", kid);
	return ADMIN_OK;
}

int
admin_eab(struct admin_ctx *ctx, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return eab_create(ctx, argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return eab_list(ctx);
	if (argc == 3 && strcmp(argv[1], "disable") == 0)
		return eab_disable(ctx, argv[2]);
	fprintf(stderr, "usage: anvil-admin eab create [--alg HS256|HS384|"
	    "HS512] [--single-use] [--expires DAYS] | eab list | eab disable "
	    "KID\n");
	return ADMIN_USAGE;
}
