/*
 * inventory.c - anvil-admin's views of the live store and the operator's
 * changes to it: accounts (list, show, deactivate), orders and
 * authorizations (show), certificates (list with filters, show, export as
 * JSON or CSV), revocation from the server side, and counts (stats).
 *
 * Every read runs in one store transaction, so a listing is a consistent
 * picture even while the web server writes; a change is one transaction
 * that re-reads the record it changes. Statuses are shown as clients see
 * them: a pending or ready order past its expiry is "invalid", a pending
 * or valid authorization past its expiry "expired" (the rules of
 * src/record/record.c, which the ACME server applies on read too).
 */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "admin/admin.h"
#include "publish/publish.h"
#include "core/audit.h"
#include "ca/ca.h"
#include "core/util.h"
#include "record/record.h"

#define DAY 86400
#define EXPIRING_DAYS 30	/* stats: "expiring" means within this */

/* ------------------------------------------------------------ helpers */

void
admin_time(json_int_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lld", (long long)t);
}

json_t *
admin_time_json(json_t *rec, const char *key)
{
	json_t *t = json_object_get(rec, key);
	char buf[32];

	if (!json_is_integer(t))
		return json_null();
	admin_time(json_integer_value(t), buf);
	return json_string(buf);
}

/*
 * Digits where digits go, as strptime would skip spaces; and a date that
 * is a day of its month, as timegm would turn 2026-02-30 into 2 March.
 */
time_t
admin_parse_when(const char *s, int with_time)
{
	static const char date[] = "dddd-dd-dd", full[] = "dddd-dd-ddTdd:dd:ddZ";
	const char *pat = strlen(s) == sizeof(date) - 1 ? date :
	    with_time && strlen(s) == sizeof(full) - 1 ? full : NULL;
	struct tm tm, back;
	time_t t;
	size_t i;

	if (pat == NULL)
		return 0;
	for (i = 0; pat[i] != '\0'; i++)
		if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) :
		    s[i] != pat[i])
			return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	if (pat == full) {
		tm.tm_hour = atoi(s + 11);
		tm.tm_min = atoi(s + 14);
		tm.tm_sec = atoi(s + 17);
		if (tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
			return 0;
	}
	back = tm;
	t = timegm(&back);
	if (back.tm_year != tm.tm_year || back.tm_mon != tm.tm_mon ||
	    back.tm_mday != tm.tm_mday)
		return 0;
	return t;
}

/* Lower-case hex without colons or 0x; 0 if it is not a serial. */
int
admin_serial_norm(const char *in, char out[ADMIN_SERIAL_HEX_MAX + 1])
{
	size_t n = 0;

	if (strncasecmp(in, "0x", 2) == 0)
		in += 2;
	for (; *in; in++) {
		if (*in == ':')
			continue;
		if (!isxdigit((unsigned char)*in) || n == ADMIN_SERIAL_HEX_MAX)
			return 0;
		out[n++] = (char)tolower((unsigned char)*in);
	}
	out[n] = '\0';
	return n > 0;
}

static const char *
str(json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));
	return s != NULL ? s : "";
}

/* An order's / authorization's status as clients see it at now. */
static const char *
order_status(json_t *rec, time_t now)
{
	return rec_status_text(rec, rec_order_status(rec, now));
}

static const char *
authz_status(json_t *rec, time_t now)
{
	return rec_status_text(rec, rec_authz_status(rec, now));
}

/* "dns:example.org" from {"type","value"}; new string. */
static json_t *
ident_str(json_t *id)
{
	char buf[300];

	snprintf(buf, sizeof(buf), "%s:%s", str(id, "type"),
	    str(id, "value"));
	return json_string(buf);
}

/* The strings of array v joined with ", " (new string). */
static char *
join_strings(json_t *v)
{
	size_t j, len = 1;
	json_t *e;
	char *s;

	json_array_foreach(v, j, e)
		len += strlen(json_string_value(e) ?: "?") + 2;
	if ((s = calloc(1, len)) == NULL)
		return NULL;
	json_array_foreach(v, j, e) {
		if (j > 0)
			strcat(s, ", ");
		strcat(s, json_string_value(e) ?: "?");
	}
	return s;
}

/*
 * A copy of rows for people: each array of strings becomes one string
 * joined with ", ".
 */
static json_t *
flatten_rows(json_t *rows)
{
	json_t *out = json_array(), *row, *v;
	const char *k;
	size_t i;
	char *s;

	if (out == NULL)
		return NULL;
	json_array_foreach(rows, i, row) {
		json_t *r = json_object();
		json_object_foreach(row, k, v) {
			if (json_is_array(v) && (s = join_strings(v)) != NULL) {
				json_object_set_new(r, k, json_string(s));
				free(s);
			} else
				json_object_set(r, k, v);
		}
		json_array_append_new(out, r);
	}
	return out;
}

static void
print_rows(struct admin_ctx *ctx, json_t *rows, const char *const *cols)
{
	json_t *flat;

	if (ctx->json) {
		admin_print_table(ctx, rows, cols);
		return;
	}
	flat = flatten_rows(rows);
	admin_print_table(ctx, flat != NULL ? flat : rows, cols);
	json_decref(flat);
}

static void
print_obj(struct admin_ctx *ctx, json_t *obj)
{
	json_t *one, *flat;

	if (ctx->json) {
		admin_print_object(ctx, obj);
		return;
	}
	one = json_pack("[O]", obj);
	flat = one != NULL ? flatten_rows(one) : NULL;
	admin_print_object(ctx, flat != NULL ? json_array_get(flat, 0) : obj);
	json_decref(flat);
	json_decref(one);
}

/* Reads one record in its own transaction. */
struct get_arg {
	enum store_kind kind;
	const char *id;
	json_t *rec;
};

static anvil_err
get_fn(struct store_txn *txn, void *arg)
{
	struct get_arg *g = arg;

	json_decref(g->rec);
	g->rec = NULL;
	return store_get(txn, g->kind, g->id, &g->rec);
}

static void
fail_msg(const char *what, anvil_err rc, const char *err)
{
	fprintf(stderr, "anvil-admin: %s: %s\n", what,
	    err[0] ? err : anvil_strerror(rc));
}

/* Parses [--json] and nothing else; returns -1 on a usage error. */
static int
no_options(struct admin_ctx *ctx, int argc, char **argv, int nargs)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (c != 'j')
			return -1;
		ctx->json = 1;
	}
	return argc - optind == nargs ? optind : -1;
}

/* ------------------------------------------------------------ accounts */

struct acct_list {
	json_t *rows;
};

static anvil_err
acct_one(const char *id, json_t *rec, void *arg)
{
	struct acct_list *l = arg;
	json_t *row, *contact = json_object_get(rec, "contact");

	row = json_pack("{s:s, s:s, s:o, s:O}", "id", id, "status",
	    str(rec, "status"), "created", admin_time_json(rec, "created"),
	    "contact", json_is_array(contact) ? contact : json_array());
	if (row == NULL)
		return ANVIL_ERR_NOMEM;
	if (json_is_string(json_object_get(rec, "thumbprint")))
		json_object_set(row, "thumbprint", json_object_get(rec,
		    "thumbprint"));
	return json_array_append_new(l->rows, row) == 0 ? ANVIL_OK :
	    ANVIL_ERR_NOMEM;
}

static anvil_err
acct_count(struct store_txn *txn, enum store_kind kind, const char *id,
    json_int_t *n)
{
	char **ids = NULL;
	size_t cnt = 0;
	anvil_err rc;

	rc = store_list_by_account(txn, kind, id, NULL, SIZE_MAX, &ids, &cnt);
	store_ids_free(ids, cnt);
	*n = (json_int_t)cnt;
	return rc;
}

static anvil_err
acct_list_fn(struct store_txn *txn, void *arg)
{
	struct acct_list *l = arg;
	json_t *row;
	json_int_t n;
	size_t i;
	anvil_err rc;

	json_array_clear(l->rows);
	if ((rc = store_each(txn, STORE_ACCOUNT, acct_one, l)) != ANVIL_OK)
		return rc;
	json_array_foreach(l->rows, i, row) {
		const char *id = str(row, "id");
		if ((rc = acct_count(txn, STORE_ORDER, id, &n)) != ANVIL_OK)
			return rc;
		json_object_set_new(row, "orders", json_integer(n));
		if ((rc = acct_count(txn, STORE_CERT, id, &n)) != ANVIL_OK)
			return rc;
		json_object_set_new(row, "certs", json_integer(n));
	}
	return ANVIL_OK;
}

static int
accounts_list(struct admin_ctx *ctx)
{
	static const char *const cols[] = { "id", "status", "created",
		"orders", "certs", "contact", NULL };
	struct acct_list l;
	char err[512] = "";
	anvil_err rc;

	if ((l.rows = json_array()) == NULL)
		return ADMIN_FAIL;
	rc = store_run(ctx->st, STORE_TXN_READ_COMMITTED, acct_list_fn, &l, err,
	    sizeof(err));
	if (rc != ANVIL_OK) {
		fail_msg("accounts list", rc, err);
		json_decref(l.rows);
		return ADMIN_FAIL;
	}
	print_rows(ctx, l.rows, cols);
	json_decref(l.rows);
	return ADMIN_OK;
}

struct acct_show {
	const char *id;
	json_t *out;
};

static anvil_err
ids_array(struct store_txn *txn, enum store_kind kind, const char *id,
    json_t **out)
{
	char **ids = NULL;
	size_t n = 0, i;
	anvil_err rc;

	*out = json_array();
	rc = store_list_by_account(txn, kind, id, NULL, SIZE_MAX, &ids, &n);
	for (i = 0; rc == ANVIL_OK && i < n; i++)
		json_array_append_new(*out, json_string(ids[i]));
	store_ids_free(ids, n);
	return rc;
}

static anvil_err
acct_show_fn(struct store_txn *txn, void *arg)
{
	struct acct_show *s = arg;
	json_t *rec = NULL, *o = NULL, *v, *orders = NULL, *certs = NULL;
	const char *k;
	anvil_err rc;

	json_decref(s->out);
	s->out = NULL;
	if ((rc = store_get(txn, STORE_ACCOUNT, s->id, &rec)) != ANVIL_OK)
		return rc;
	o = json_pack("{s:s, s:s, s:o}", "id", s->id, "status",
	    str(rec, "status"), "created", admin_time_json(rec, "created"));
	/* Whatever else the record holds, as it is (times made readable). */
	json_object_foreach(rec, k, v) {
		if (strcmp(k, "v") == 0 || json_object_get(o, k) != NULL)
			continue;
		if (json_is_integer(v) && (strcmp(k, "time") == 0 ||
		    strcmp(k, "expires") == 0))
			json_object_set_new(o, k, admin_time_json(rec, k));
		else
			json_object_set(o, k, v);
	}
	if ((rc = ids_array(txn, STORE_ORDER, s->id, &orders)) != ANVIL_OK ||
	    (rc = ids_array(txn, STORE_CERT, s->id, &certs)) != ANVIL_OK)
		goto out;
	json_object_set_new(o, "orders", orders);
	json_object_set_new(o, "certificates", certs);
	orders = certs = NULL;
	s->out = o;
	o = NULL;
out:
	json_decref(orders);
	json_decref(certs);
	json_decref(o);
	json_decref(rec);
	return rc;
}

static int
accounts_show(struct admin_ctx *ctx, const char *id)
{
	struct acct_show s = { id, NULL };
	char err[512] = "";
	anvil_err rc;

	rc = store_run(ctx->st, 0, acct_show_fn, &s, err, sizeof(err));
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
		fprintf(stderr, "anvil-admin: accounts show: no account "
		    "\"%s\"\n", id);
		return ADMIN_FAIL;
	}
	if (rc != ANVIL_OK) {
		fail_msg("accounts show", rc, err);
		return ADMIN_FAIL;
	}
	print_obj(ctx, s.out);
	json_decref(s.out);
	return ADMIN_OK;
}

struct acct_deact {
	const char *id;
	time_t now;
	char was[32];
};

/*
 * RFC 8555 §7.1.6: an account the server deactivates is "revoked"
 * ("deactivated" is the account holder's own doing). Either way the
 * server refuses every request signed with its key from then on.
 */
static anvil_err
acct_deact_fn(struct store_txn *txn, void *arg)
{
	struct acct_deact *d = arg;
	json_t *rec = NULL;
	anvil_err rc;

	d->was[0] = '\0';
	if ((rc = store_get(txn, STORE_ACCOUNT, d->id, &rec)) != ANVIL_OK)
		return rc;
	snprintf(d->was, sizeof(d->was), "%s", str(rec, "status"));
	if (rec_status_get(rec) != REC_VALID) {
		json_decref(rec);
		return ANVIL_ERR_ALREADYREVOKED;
	}
	if ((rc = rec_status_set(rec, REC_ACCOUNT, REC_REVOKED)) != ANVIL_OK) {
		json_decref(rec);
		return rc;
	}
	json_object_set_new(rec, "deactivation", json_pack("{s:I, s:s}",
	    "time", (json_int_t)d->now, "by", "operator"));
	rc = store_put(txn, STORE_ACCOUNT, d->id, rec, 0);
	json_decref(rec);
	return rc;
}

static int
accounts_deactivate(struct admin_ctx *ctx, const char *id)
{
	struct acct_deact d;
	char err[512] = "";
	anvil_err rc;

	memset(&d, 0, sizeof(d));
	d.id = id;
	d.now = time(NULL);
	rc = store_run(ctx->st, 0, acct_deact_fn, &d, err, sizeof(err));
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
		fprintf(stderr, "anvil-admin: accounts deactivate: no account "
		    "\"%s\"\n", id);
		return ADMIN_FAIL;
	}
	if (rc == ANVIL_ERR_ALREADYREVOKED) {
		fprintf(stderr, "anvil-admin: accounts deactivate: account %s "
		    "is already %s\n", id, d.was);
		return ADMIN_FAIL;
	}
	if (rc != ANVIL_OK) {
		fail_msg("accounts deactivate", rc, err);
		return ADMIN_FAIL;
	}
	audit_event(ctx->cfg, time(NULL), "account.deactivated", json_pack(
	    "{s:s, s:s, s:s}", "account", id, "by", "operator", "status",
	    rec_status_name(REC_REVOKED)));
	if (ctx->json) {
		json_t *o = json_pack("{s:s, s:s, s:s}", "id", id, "status",
		    rec_status_name(REC_REVOKED), "previous_status",
		    rec_status_name(REC_VALID));
		admin_print_object(ctx, o);
		json_decref(o);
	} else
		fprintf(ctx->out, "account %s deactivated: its status is now "
		    "\"revoked\" and the server refuses its requests\n", id);
	return ADMIN_OK;
}

#define ACCOUNTS_USAGE "usage: anvil-admin accounts list | accounts show " \
	"ID | accounts deactivate ID\n"

int
admin_accounts(struct admin_ctx *ctx, int argc, char **argv)
{
	int first;

	if (argc < 2) {
		fputs(ACCOUNTS_USAGE, stderr);
		return ADMIN_USAGE;
	}
	if (strcmp(argv[1], "list") == 0 &&
	    no_options(ctx, argc - 1, argv + 1, 0) >= 0)
		return accounts_list(ctx);
	if (strcmp(argv[1], "show") == 0 &&
	    (first = no_options(ctx, argc - 1, argv + 1, 1)) >= 0)
		return accounts_show(ctx, argv[1 + first]);
	if (strcmp(argv[1], "deactivate") == 0 &&
	    (first = no_options(ctx, argc - 1, argv + 1, 1)) >= 0)
		return accounts_deactivate(ctx, argv[1 + first]);
	fputs(ACCOUNTS_USAGE, stderr);
	return ADMIN_USAGE;
}

/* ------------------------------------------------------------ orders, authz */

struct show {
	const char *id;
	time_t now;
	json_t *out;		/* the object */
	json_t *rows;		/* its authorizations or challenges */
};

static anvil_err
order_show_fn(struct store_txn *txn, void *arg)
{
	struct show *s = arg;
	json_t *rec = NULL, *ids, *x, *idents;
	size_t i;
	anvil_err rc;

	json_decref(s->out);
	json_decref(s->rows);
	s->out = s->rows = NULL;
	if ((rc = store_get(txn, STORE_ORDER, s->id, &rec)) != ANVIL_OK)
		return rc;
	idents = json_array();
	json_array_foreach(json_object_get(rec, "identifiers"), i, x)
		json_array_append_new(idents, ident_str(x));
	s->out = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "id", s->id,
	    "account", str(rec, "account"), "status",
	    order_status(rec, s->now), "created", admin_time_json(rec,
	    "created"), "expires", admin_time_json(rec, "expires"),
	    "identifiers", idents);
	s->rows = json_array();
	if (s->out == NULL || s->rows == NULL) {
		json_decref(rec);
		return ANVIL_ERR_NOMEM;
	}
	if (rec_order_status(rec, s->now) != rec_status_get(rec))
		json_object_set_new(s->out, "stored_status",
		    json_string(str(rec, "status")));
	if (json_is_string(json_object_get(rec, "certificate")))
		json_object_set(s->out, "certificate", json_object_get(rec,
		    "certificate"));
	if (json_is_object(json_object_get(rec, "error")))
		json_object_set(s->out, "error", json_object_get(rec,
		    "error"));
	if (json_is_string(json_object_get(rec, "profile")))
		json_object_set(s->out, "profile", json_object_get(rec,
		    "profile"));
	/* RFC 9773 §5: the serial of the certificate this order renews. */
	if (rec_order_replaces_serial(rec) != NULL)
		json_object_set_new(s->out, "replaces", json_string(
		    rec_order_replaces_serial(rec)));
	ids = json_object_get(rec, "authorizations");
	json_array_foreach(ids, i, x) {
		json_t *a = NULL;
		const char *aid = json_string_value(x);
		rc = aid != NULL ? store_get(txn, STORE_AUTHZ, aid, &a) :
		    ANVIL_ERR_NOTFOUND;
		if (rc != ANVIL_OK && rc != ANVIL_ERR_NOTFOUND &&
		    rc != ANVIL_ERR_INVALID) {
			json_decref(rec);
			return rc;
		}
		if (a == NULL) {
			json_array_append_new(s->rows, json_pack("{s:s, s:s}",
			    "id", aid ? aid : "?", "status", "(missing)"));
			continue;
		}
		json_array_append_new(s->rows, json_pack("{s:s, s:o, s:b, "
		    "s:s, s:o}", "id", aid, "identifier", ident_str(
		    json_object_get(a, "identifier")), "wildcard",
		    json_is_true(json_object_get(a, "wildcard")), "status",
		    authz_status(a, s->now), "expires",
		    admin_time_json(a, "expires")));
		json_decref(a);
	}
	json_decref(rec);
	return ANVIL_OK;
}

static anvil_err
authz_show_fn(struct store_txn *txn, void *arg)
{
	struct show *s = arg;
	json_t *rec = NULL, *x;
	size_t i;
	anvil_err rc;

	json_decref(s->out);
	json_decref(s->rows);
	s->out = s->rows = NULL;
	if ((rc = store_get(txn, STORE_AUTHZ, s->id, &rec)) != ANVIL_OK)
		return rc;
	s->out = json_pack("{s:s, s:s, s:o, s:b, s:s, s:o, s:O}", "id",
	    s->id, "account", str(rec, "account"), "identifier", ident_str(
	    json_object_get(rec, "identifier")), "wildcard", json_is_true(
	    json_object_get(rec, "wildcard")), "status", authz_status(
	    rec, s->now), "expires", admin_time_json(rec, "expires"),
	    "orders", json_is_array(json_object_get(rec, "orders")) ?
	    json_object_get(rec, "orders") : json_array());
	s->rows = json_array();
	if (s->out == NULL || s->rows == NULL) {
		json_decref(rec);
		return ANVIL_ERR_NOMEM;
	}
	if (rec_authz_status(rec, s->now) != rec_status_get(rec))
		json_object_set_new(s->out, "stored_status",
		    json_string(str(rec, "status")));
	json_array_foreach(json_object_get(rec, "challenges"), i, x) {
		json_t *c = NULL, *row, *e;
		const char *cid = json_string_value(x);
		rc = cid != NULL ? store_get(txn, STORE_CHALLENGE, cid, &c) :
		    ANVIL_ERR_NOTFOUND;
		if (rc != ANVIL_OK && rc != ANVIL_ERR_NOTFOUND &&
		    rc != ANVIL_ERR_INVALID) {
			json_decref(rec);
			return rc;
		}
		if (c == NULL) {
			json_array_append_new(s->rows, json_pack("{s:s, s:s}",
			    "id", cid ? cid : "?", "status", "(missing)"));
			continue;
		}
		row = json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", cid, "type",
		    str(c, "type"), "status", str(c, "status"), "started",
		    admin_time_json(c, "started"), "validated",
		    admin_time_json(c, "validated"));
		e = json_object_get(c, "error");
		if (row != NULL && json_is_object(e))
			json_object_set_new(row, "error", json_string(str(e,
			    "detail")));
		json_array_append_new(s->rows, row);
		json_decref(c);
	}
	json_decref(rec);
	return ANVIL_OK;
}

static int
show_common(struct admin_ctx *ctx, const char *what, const char *id,
    store_fn fn, const char *rows_name, const char *const *cols)
{
	struct show s = { id, time(NULL), NULL, NULL };
	char err[512] = "";
	anvil_err rc;

	rc = store_run(ctx->st, 0, fn, &s, err, sizeof(err));
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
		fprintf(stderr, "anvil-admin: %s show: no %s \"%s\"\n", what,
		    strcmp(what, "orders") == 0 ? "order" : "authorization",
		    id);
		json_decref(s.out);
		json_decref(s.rows);
		return ADMIN_FAIL;
	}
	if (rc != ANVIL_OK) {
		fail_msg(what, rc, err);
		json_decref(s.out);
		json_decref(s.rows);
		return ADMIN_FAIL;
	}
	if (ctx->json) {
		json_object_set_new(s.out, rows_name, s.rows);
		admin_print_object(ctx, s.out);
	} else {
		print_obj(ctx, s.out);
		fprintf(ctx->out, "\n%s:\n", rows_name);
		print_rows(ctx, s.rows, cols);
		json_decref(s.rows);
	}
	json_decref(s.out);
	return ADMIN_OK;
}

int
admin_orders(struct admin_ctx *ctx, int argc, char **argv)
{
	static const char *const cols[] = { "id", "identifier", "status",
		"expires", NULL };
	int first;

	if (argc >= 2 && strcmp(argv[1], "show") == 0 &&
	    (first = no_options(ctx, argc - 1, argv + 1, 1)) >= 0)
		return show_common(ctx, "orders", argv[1 + first],
		    order_show_fn, "authorizations", cols);
	fputs("usage: anvil-admin orders show ID\n", stderr);
	return ADMIN_USAGE;
}

int
admin_authz(struct admin_ctx *ctx, int argc, char **argv)
{
	static const char *const cols[] = { "id", "type", "status",
		"started", "validated", "error", NULL };
	int first;

	if (argc >= 2 && strcmp(argv[1], "show") == 0 &&
	    (first = no_options(ctx, argc - 1, argv + 1, 1)) >= 0)
		return show_common(ctx, "authz", argv[1 + first],
		    authz_show_fn, "challenges", cols);
	fputs("usage: anvil-admin authz show ID\n", stderr);
	return ADMIN_USAGE;
}

/* ------------------------------------------------------------ certificates */

static const struct {
	int code;
	const char *name;
} reasons[] = {
	{ CA_REASON_UNSPECIFIED, "unspecified" },
	{ CA_REASON_KEY_COMPROMISE, "keyCompromise" },
	{ CA_REASON_CA_COMPROMISE, "cACompromise" },
	{ CA_REASON_AFFILIATION_CHANGED, "affiliationChanged" },
	{ CA_REASON_SUPERSEDED, "superseded" },
	{ CA_REASON_CESSATION_OF_OPERATION, "cessationOfOperation" },
	{ CA_REASON_CERTIFICATE_HOLD, "certificateHold" },
	{ CA_REASON_REMOVE_FROM_CRL, "removeFromCRL" },
	{ CA_REASON_PRIVILEGE_WITHDRAWN, "privilegeWithdrawn" },
	{ CA_REASON_AA_COMPROMISE, "aACompromise" },
};

static const char *
reason_name(int code)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return reasons[i].name;
	return "?";
}

struct cert_filter {
	const char *account;
	const char *name;
	time_t before;		/* 0: no --expiring-before */
	int revoked;
};

struct cert_list {
	struct cert_filter f;
	time_t now;
	int pem;		/* export: add the PEM */
	json_t *rows;
};

/* 1 if a certificate for identifier value v covers name n. */
static int
name_covers(const char *v, const char *n)
{
	const char *dot;

	if (strcasecmp(v, n) == 0)
		return 1;
	if (strncmp(v, "*.", 2) != 0 || (dot = strchr(n, '.')) == NULL ||
	    dot == n)
		return 0;
	return strcasecmp(v + 2, dot + 1) == 0;
}

static const char *
cert_status(json_t *rec, time_t now)
{
	return rec_status_name(rec_cert_status(rec, now));
}

/* The row of one certificate (no PEM). */
static json_t *
cert_row(const char *serial, json_t *rec, time_t now)
{
	json_t *row, *names = json_array(), *x;
	json_t *rv = rec_cert_revoked(rec);
	size_t i;

	json_array_foreach(json_object_get(rec, "identifiers"), i, x)
		json_array_append_new(names, json_string(str(x, "value")));
	row = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:s}", "serial",
	    serial, "status", cert_status(rec, now), "names", names,
	    "not_before", admin_time_json(rec, "not_before"), "not_after",
	    admin_time_json(rec, "not_after"), "issued", admin_time_json(rec,
	    "issued"), "account", str(rec, "account"), "order", str(rec,
	    "order"));
	if (row == NULL)
		return NULL;
	/* The profile it was issued with; "" for one issued before
	 * profiles existed. */
	json_object_set_new(row, "profile", json_string(str(rec, "profile")));
	if (json_is_object(rv)) {
		json_object_set_new(row, "revoked_at", admin_time_json(rv,
		    "time"));
		json_object_set_new(row, "revocation_reason", json_string(
		    reason_name((int)json_integer_value(json_object_get(rv,
		    "reason")))));
		json_object_set_new(row, "revoked_by", json_string(str(rv,
		    "by")));
	} else {
		json_object_set_new(row, "revoked_at", json_null());
		json_object_set_new(row, "revocation_reason", json_null());
		json_object_set_new(row, "revoked_by", json_null());
	}
	return row;
}

static anvil_err
cert_one(const char *serial, json_t *rec, void *arg)
{
	struct cert_list *l = arg;
	json_t *row, *x;
	size_t i;
	int match;

	if (l->f.account != NULL && strcmp(str(rec, "account"),
	    l->f.account) != 0)
		return ANVIL_OK;
	if (l->f.revoked && !json_is_object(rec_cert_revoked(rec)))
		return ANVIL_OK;
	if (l->f.before != 0 && json_integer_value(json_object_get(rec,
	    "not_after")) >= (json_int_t)l->f.before)
		return ANVIL_OK;
	if (l->f.name != NULL) {
		match = 0;
		json_array_foreach(json_object_get(rec, "identifiers"), i, x)
			if (name_covers(str(x, "value"), l->f.name))
				match = 1;
		if (!match)
			return ANVIL_OK;
	}
	if ((row = cert_row(serial, rec, l->now)) == NULL)
		return ANVIL_ERR_NOMEM;
	if (l->pem)
		json_object_set_new(row, "pem", json_string(str(rec, "pem")));
	json_object_set_new(row, "_issued", json_integer(json_integer_value(
	    json_object_get(rec, "issued"))));
	return json_array_append_new(l->rows, row) == 0 ? ANVIL_OK :
	    ANVIL_ERR_NOMEM;
}

static anvil_err
cert_list_fn(struct store_txn *txn, void *arg)
{
	struct cert_list *l = arg;
	char **ids = NULL;
	size_t n = 0, i;
	anvil_err rc;

	json_array_clear(l->rows);
	if (l->f.account == NULL)
		return store_each(txn, STORE_CERT, cert_one, l);
	/* One account: through its index rather than every certificate. */
	rc = store_list_by_account(txn, STORE_CERT, l->f.account, NULL,
	    SIZE_MAX, &ids, &n);
	for (i = 0; rc == ANVIL_OK && i < n; i++) {
		json_t *rec = NULL;
		if ((rc = store_get(txn, STORE_CERT, ids[i], &rec)) ==
		    ANVIL_OK)
			rc = cert_one(ids[i], rec, l);
		json_decref(rec);
	}
	store_ids_free(ids, n);
	return rc;
}

static int
row_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t ix = json_integer_value(json_object_get(x, "_issued"));
	json_int_t iy = json_integer_value(json_object_get(y, "_issued"));

	if (ix != iy)
		return ix < iy ? -1 : 1;
	return strcmp(str(x, "serial"), str(y, "serial"));
}

/* Sorts rows by issue time (then serial) and drops the sort key. */
static void
rows_sort(json_t *rows)
{
	size_t n = json_array_size(rows), i;
	json_t **v;

	if (n == 0 || (v = calloc(n, sizeof(*v))) == NULL)
		return;
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(rows, i));
	qsort(v, n, sizeof(*v), row_cmp);
	json_array_clear(rows);
	for (i = 0; i < n; i++) {
		json_object_del(v[i], "_issued");
		json_array_append_new(rows, v[i]);
	}
	free(v);
}

/*
 * Parses the certificate filters; *format for export. Returns -1 on a
 * usage error (message printed).
 */
static int
cert_options(struct admin_ctx *ctx, int argc, char **argv,
    struct cert_filter *f, const char **format)
{
	static const struct option opts[] = {
		{ "account", required_argument, NULL, 'a' },
		{ "name", required_argument, NULL, 'n' },
		{ "expiring-before", required_argument, NULL, 'e' },
		{ "revoked", no_argument, NULL, 'r' },
		{ "format", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(f, 0, sizeof(*f));
	optind = 0;
	while ((c = getopt_long(argc, argv, "a:n:e:rf:j", opts, NULL)) !=
	    -1) {
		switch (c) {
		case 'a':
			f->account = optarg;
			break;
		case 'n':
			f->name = optarg;
			break;
		case 'e':
			if ((f->before = admin_parse_when(optarg, 0)) <= 0) {
				fprintf(stderr, "anvil-admin: certs: "
				    "--expiring-before takes YYYY-MM-DD, not "
				    "\"%s\"\n", optarg);
				return -1;
			}
			break;
		case 'r':
			f->revoked = 1;
			break;
		case 'f':
			if (format == NULL)
				return -1;
			*format = optarg;
			break;
		case 'j':
			ctx->json = 1;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "anvil-admin: certs: unexpected \"%s\"\n",
		    argv[optind]);
		return -1;
	}
	return 0;
}

static int
cert_collect(struct admin_ctx *ctx, struct cert_list *l, const char *what)
{
	char err[512] = "";
	anvil_err rc;

	l->now = time(NULL);
	if ((l->rows = json_array()) == NULL)
		return ADMIN_FAIL;
	rc = store_run(ctx->st, STORE_TXN_READ_COMMITTED, cert_list_fn, l, err,
	    sizeof(err));
	if (rc != ANVIL_OK) {
		fail_msg(what, rc, err);
		json_decref(l->rows);
		l->rows = NULL;
		return ADMIN_FAIL;
	}
	rows_sort(l->rows);
	return ADMIN_OK;
}

static int
certs_list(struct admin_ctx *ctx, int argc, char **argv)
{
	static const char *const cols[] = { "serial", "status", "not_after",
		"names", "account", "profile", NULL };
	struct cert_list l;

	memset(&l, 0, sizeof(l));
	if (cert_options(ctx, argc, argv, &l.f, NULL) != 0)
		return ADMIN_USAGE;
	if (cert_collect(ctx, &l, "certs list") != ADMIN_OK)
		return ADMIN_FAIL;
	print_rows(ctx, l.rows, cols);
	json_decref(l.rows);
	return ADMIN_OK;
}

/* One CSV field (RFC 4180): quoted when it holds , " CR or LF. */
static void
csv_field(FILE *f, json_t *v, int last)
{
	char *s = NULL;
	const char *p;

	if (json_is_array(v))
		s = join_strings(v);
	else if (json_is_string(v))
		s = strdup(json_string_value(v));
	else if (v != NULL && !json_is_null(v))
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	p = s != NULL ? s : "";
	if (strpbrk(p, ",\"\r\n") != NULL) {
		fputc('"', f);
		for (; *p; p++) {
			if (*p == '"')
				fputc('"', f);
			fputc(*p, f);
		}
		fputc('"', f);
	} else
		fputs(p, f);
	fputs(last ? "\r\n" : ",", f);
	free(s);
}

static int
certs_export(struct admin_ctx *ctx, int argc, char **argv)
{
	static const char *const cols[] = { "serial", "status", "names",
		"not_before", "not_after", "issued", "account", "order",
		"revoked_at", "revocation_reason", "revoked_by", "profile",
		NULL };
	struct cert_list l;
	const char *format = "json";
	json_t *row;
	size_t i, c;

	memset(&l, 0, sizeof(l));
	if (cert_options(ctx, argc, argv, &l.f, &format) != 0)
		return ADMIN_USAGE;
	if (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0) {
		fprintf(stderr, "anvil-admin: certs export: --format is json "
		    "or csv, not \"%s\"\n", format);
		return ADMIN_USAGE;
	}
	l.pem = strcmp(format, "json") == 0;
	if (cert_collect(ctx, &l, "certs export") != ADMIN_OK)
		return ADMIN_FAIL;
	if (l.pem) {
		json_dumpf(l.rows, ctx->out, JSON_INDENT(2));
		fputc('\n', ctx->out);
	} else {
		for (c = 0; cols[c] != NULL; c++)
			fprintf(ctx->out, "%s%s", cols[c],
			    cols[c + 1] != NULL ? "," : "\r\n");
		json_array_foreach(l.rows, i, row)
			for (c = 0; cols[c] != NULL; c++)
				csv_field(ctx->out, json_object_get(row,
				    cols[c]), cols[c + 1] == NULL);
	}
	json_decref(l.rows);
	return ferror(ctx->out) ? ADMIN_FAIL : ADMIN_OK;
}

/* Reads a certificate by serial, also left-padded to 16 bytes. */
static anvil_err
cert_lookup(struct admin_ctx *ctx, const char *arg,
    char serial[ADMIN_SERIAL_HEX_MAX + 1], json_t **rec, char *err, size_t errlen)
{
	struct get_arg g = { STORE_CERT, serial, NULL };
	size_t n;
	anvil_err rc;

	*rec = NULL;
	if (!admin_serial_norm(arg, serial))
		return ANVIL_ERR_INVALID;
	rc = store_run(ctx->st, 0, get_fn, &g, err, errlen);
	if ((rc == ANVIL_ERR_NOTFOUND) && (n = strlen(serial)) < 32) {
		char padded[ADMIN_SERIAL_HEX_MAX + 1];
		snprintf(padded, sizeof(padded), "%0*d%s", (int)(32 - n), 0,
		    serial);
		g.id = padded;
		if ((rc = store_run(ctx->st, 0, get_fn, &g, err, errlen)) ==
		    ANVIL_OK)
			memcpy(serial, padded, 33);
	}
	*rec = g.rec;
	return rc;
}

/* Subject, issuer and SHA-256 fingerprint read from the PEM. */
static void
cert_details(json_t *o, const char *pem)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t in = { (unsigned char *)pem, (unsigned)strlen(pem) };
	gnutls_datum_t dn = { NULL, 0 };
	unsigned char fp[32];
	size_t fplen = sizeof(fp);
	char hex[65];

	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM) < 0)
		goto out;
	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
		json_object_set_new(o, "subject", json_stringn((char *)dn.data,
		    dn.size));
		gnutls_free(dn.data);
		dn.data = NULL;
	}
	if (gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0) >= 0) {
		json_object_set_new(o, "issuer", json_stringn((char *)dn.data,
		    dn.size));
		gnutls_free(dn.data);
		dn.data = NULL;
	}
	if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp,
	    &fplen) >= 0 && fplen == sizeof(fp)) {
		util_hex(fp, fplen, hex);
		json_object_set_new(o, "sha256", json_string(hex));
	}
out:
	gnutls_x509_crt_deinit(crt);
}

/*
 * ARI (RFC 9773): the window renewalInfo answers now, the operator's
 * advice, and the order (then certificate) that replaces this one.
 */
static void
cert_renewal(json_t *o, json_t *rec)
{
	json_t *adv = rec_cert_advice(rec), *by = rec_cert_replaced_by(rec);
	const char *expl = NULL;
	char buf[32];
	time_t start, end;

	rec_cert_window(rec, time(NULL), &start, &end, &expl);
	admin_time(start, buf);
	json_object_set_new(o, "renewal_window_start", json_string(buf));
	admin_time(end, buf);
	json_object_set_new(o, "renewal_window_end", json_string(buf));
	json_object_set_new(o, "renewal_advised", json_is_object(adv) ?
	    admin_time_json(adv, "advised") : json_null());
	json_object_set_new(o, "renewal_explanation", expl != NULL ?
	    json_string(expl) : json_null());
	json_object_set_new(o, "replaced_by_order", by != NULL ?
	    json_string(str(by, "order")) : json_null());
	json_object_set_new(o, "replaced_by_certificate", json_is_string(
	    json_object_get(by, "certificate")) ? json_string(str(by,
	    "certificate")) : json_null());
	json_object_set_new(o, "replaced_at", by != NULL &&
	    json_object_get(by, "replaced") != NULL ? admin_time_json(by,
	    "replaced") : json_null());
}

static int
certs_show(struct admin_ctx *ctx, const char *arg)
{
	char serial[ADMIN_SERIAL_HEX_MAX + 1], err[512] = "";
	json_t *rec = NULL, *o, *rv;
	anvil_err rc;

	rc = cert_lookup(ctx, arg, serial, &rec, err, sizeof(err));
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
		fprintf(stderr, "anvil-admin: certs show: no certificate with "
		    "serial \"%s\"\n", arg);
		return ADMIN_FAIL;
	}
	if (rc != ANVIL_OK) {
		fail_msg("certs show", rc, err);
		return ADMIN_FAIL;
	}
	o = cert_row(serial, rec, time(NULL));
	if (o == NULL) {
		json_decref(rec);
		return ADMIN_FAIL;
	}
	rv = rec_cert_revoked(rec);
	if (json_is_object(rv))
		json_object_set(o, "revocation_code", json_object_get(rv,
		    "reason"));
	cert_details(o, str(rec, "pem"));
	cert_renewal(o, rec);
	json_object_set_new(o, "pem", json_string(str(rec, "pem")));
	print_obj(ctx, o);
	json_decref(o);
	json_decref(rec);
	return ADMIN_OK;
}

#define CERTS_USAGE "usage: anvil-admin certs list [--account ID] " \
	"[--name NAME] [--expiring-before YYYY-MM-DD] [--revoked]\n" \
	"       anvil-admin certs show SERIAL\n" \
	"       anvil-admin certs export [--format json|csv] [filters]\n"

int
admin_certs(struct admin_ctx *ctx, int argc, char **argv)
{
	int first, status = ADMIN_USAGE;

	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		status = certs_list(ctx, argc - 1, argv + 1);
	else if (argc >= 2 && strcmp(argv[1], "export") == 0)
		status = certs_export(ctx, argc - 1, argv + 1);
	else if (argc >= 2 && strcmp(argv[1], "show") == 0 &&
	    (first = no_options(ctx, argc - 1, argv + 1, 1)) >= 0)
		return certs_show(ctx, argv[1 + first]);
	if (status == ADMIN_USAGE)
		fputs(CERTS_USAGE, stderr);
	return status;
}

/* ------------------------------------------------------------ revoke */

struct revoke_arg {
	const char *serial;
	int reason;
	time_t now;
	json_t *was;		/* the existing "revoked" member */
};

static anvil_err
revoke_fn(struct store_txn *txn, void *arg)
{
	struct revoke_arg *r = arg;
	json_t *rec = NULL;
	anvil_err rc;

	json_decref(r->was);
	r->was = NULL;
	if ((rc = store_get(txn, STORE_CERT, r->serial, &rec)) != ANVIL_OK)
		return rc;
	/* The member src/acme/revoke.c writes too; anvil-crl lists it. */
	if ((rc = rec_cert_revoke(rec, r->now, r->reason, "operator")) ==
	    ANVIL_ERR_ALREADYREVOKED)
		r->was = json_incref(rec_cert_revoked(rec));
	if (rc == ANVIL_OK)
		rc = store_put(txn, STORE_CERT, r->serial, rec, 0);
	json_decref(rec);
	return rc;
}

/* A reason by number or by RFC 5280 name (any case); -1 if neither. */
static int
reason_parse(const char *s)
{
	char *end;
	long v;
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcasecmp(s, reasons[i].name) == 0)
			return reasons[i].code;
	/* Digits only: strtol would take a sign and leading spaces. */
	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 0 || v > 100)
		return -1;
	return (int)v;
}

/*
 * Signs the revoked certificate's pre-signed OCSP answers again at once,
 * so the web server stops serving its "good" ones before anvil-crl runs.
 * A failure is a warning: the revocation stands and anvil-crl repairs it.
 */
static void
ocsp_refresh(struct admin_ctx *ctx, const char *serial, time_t now)
{
	struct ca *ca = NULL;
	json_t *rec = NULL;
	char s[ADMIN_SERIAL_HEX_MAX + 1], err[512] = "";

	if (!ctx->cfg->ocsp_enabled)
		return;
	if (cert_lookup(ctx, serial, s, &rec, err, sizeof(err)) != ANVIL_OK ||
	    ca_load_or_generate(ctx->cfg, &ca, err, sizeof(err)) != ANVIL_OK ||
	    publish_ocsp_refresh(ctx->cfg, ca, s, rec, now) != ANVIL_OK)
		fprintf(stderr, "anvil-admin: revoke: warning: OCSP answers "
		    "not refreshed%s%s; run anvil-crl\n", err[0] ? ": " : "",
		    err);
	json_decref(rec);
	ca_free(ca);
}

#define REVOKE_USAGE "usage: anvil-admin revoke SERIAL [--reason N|NAME]\n"

int
admin_revoke(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct revoke_arg r;
	char serial[ADMIN_SERIAL_HEX_MAX + 1], err[512] = "";
	json_t *rec = NULL;
	int c;
	anvil_err rc;

	memset(&r, 0, sizeof(r));
	optind = 0;
	while ((c = getopt_long(argc, argv, "r:j", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			r.reason = reason_parse(optarg);
			if (!ca_crl_reason_valid(r.reason) ||
			    r.reason == CA_REASON_REMOVE_FROM_CRL) {
				fprintf(stderr, "anvil-admin: revoke: --reason "
				    "is a CRLReason: 0 unspecified, 1 "
				    "keyCompromise, 2 cACompromise, 3 "
				    "affiliationChanged, 4 superseded, 5 "
				    "cessationOfOperation, 6 certificateHold, "
				    "9 privilegeWithdrawn, 10 aACompromise; not "
				    "\"%s\"\n", optarg);
				return ADMIN_USAGE;
			}
			break;
		case 'j':
			ctx->json = 1;
			break;
		default:
			fputs(REVOKE_USAGE, stderr);
			return ADMIN_USAGE;
		}
	}
	if (argc - optind != 1) {
		fputs(REVOKE_USAGE, stderr);
		return ADMIN_USAGE;
	}
	rc = cert_lookup(ctx, argv[optind], serial, &rec, err, sizeof(err));
	json_decref(rec);
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
		fprintf(stderr, "anvil-admin: revoke: no certificate with "
		    "serial \"%s\"\n", argv[optind]);
		return ADMIN_FAIL;
	}
	if (rc != ANVIL_OK) {
		fail_msg("revoke", rc, err);
		return ADMIN_FAIL;
	}
	r.serial = serial;
	r.now = time(NULL);
	rc = store_run(ctx->st, 0, revoke_fn, &r, err, sizeof(err));
	if (rc == ANVIL_ERR_ALREADYREVOKED) {
		char when[32];
		admin_time(json_integer_value(json_object_get(r.was, "time")),
		    when);
		fprintf(stderr, "anvil-admin: revoke: certificate %s is "
		    "already revoked (%s, %s, by %s)\n", serial, when,
		    reason_name((int)json_integer_value(json_object_get(
		    r.was, "reason"))), str(r.was, "by")[0] ? str(r.was,
		    "by") : "?");
		json_decref(r.was);
		return ADMIN_FAIL;
	}
	if (rc != ANVIL_OK) {
		fail_msg("revoke", rc, err);
		return ADMIN_FAIL;
	}
	ocsp_refresh(ctx, serial, r.now);
	audit_event(ctx->cfg, r.now, "certificate.revoked", json_pack(
	    "{s:s, s:i, s:s}", "serial", serial, "reason", r.reason, "by",
	    "operator"));
	if (ctx->json) {
		char when[32];
		json_t *o;
		admin_time((json_int_t)r.now, when);
		o = json_pack("{s:s, s:s, s:i, s:s}", "serial", serial,
		    "revoked_at", when, "reason", r.reason, "reason_name",
		    reason_name(r.reason));
		admin_print_object(ctx, o);
		json_decref(o);
	} else
		fprintf(ctx->out, "revoked %s (reason %d, %s); the next "
		    "anvil-crl run lists it\n", serial, r.reason,
		    reason_name(r.reason));
	return ADMIN_OK;
}

/* ------------------------------------------------------------ stats */

static void
bump(json_t *obj, const char *key)
{
	const char *k = key[0] != '\0' ? key : "(none)";

	json_object_set_new(obj, k, json_integer(json_integer_value(
	    json_object_get(obj, k)) + 1));
}

static anvil_err
stat_acct(const char *id, json_t *rec, void *arg)
{
	(void)id;
	bump(((struct admin_stats *)arg)->accounts, str(rec, "status"));
	return ANVIL_OK;
}

static anvil_err
stat_order(const char *id, json_t *rec, void *arg)
{
	struct admin_stats *s = arg;

	(void)id;
	bump(s->orders, order_status(rec, s->now));
	return ANVIL_OK;
}

static anvil_err
stat_authz(const char *id, json_t *rec, void *arg)
{
	struct admin_stats *s = arg;

	(void)id;
	bump(s->authz, authz_status(rec, s->now));
	return ANVIL_OK;
}

static anvil_err
stat_chall(const char *id, json_t *rec, void *arg)
{
	struct admin_stats *s = arg;
	const char *type = str(rec, "type");
	json_t *by = json_object_get(s->challenges, type[0] ? type :
	    "(none)");

	(void)id;
	if (by == NULL && (json_object_set_new(s->challenges, type[0] ? type :
	    "(none)", by = json_object()) != 0 || by == NULL))
		return ANVIL_ERR_NOMEM;
	bump(by, str(rec, "status"));
	return ANVIL_OK;
}

static anvil_err
stat_cert(const char *id, json_t *rec, void *arg)
{
	struct admin_stats *s = arg;
	json_int_t na = json_integer_value(json_object_get(rec, "not_after"));

	(void)id;
	s->issued++;
	if (rec_cert_status(rec, s->now) == REC_REVOKED)
		s->revoked++;
	else if (na < (json_int_t)s->now)
		s->expired++;
	else {
		s->active++;
		if (na < (json_int_t)s->now + EXPIRING_DAYS * DAY)
			s->expiring++;
		if (na < (json_int_t)s->now + 7 * DAY)
			s->expiring7++;
	}
	return ANVIL_OK;
}

/* Every status a client can see, in this order, so scripts need not guess. */
static const enum rec_status acct_st[] = { REC_VALID, REC_DEACTIVATED,
	REC_REVOKED, REC_ST_NONE };
static const enum rec_status order_st[] = { REC_PENDING, REC_READY,
	REC_PROCESSING, REC_VALID, REC_INVALID, REC_ST_NONE };
static const enum rec_status authz_st[] = { REC_PENDING, REC_VALID,
	REC_INVALID, REC_DEACTIVATED, REC_EXPIRED, REC_REVOKED, REC_ST_NONE };

static void
zero_fill(json_t *obj, const enum rec_status *keys)
{
	for (; *keys != REC_ST_NONE; keys++)
		if (json_object_get(obj, rec_status_name(*keys)) == NULL)
			json_object_set_new(obj, rec_status_name(*keys),
			    json_integer(0));
}

static anvil_err
stats_fn(struct store_txn *txn, void *arg)
{
	struct admin_stats *s = arg;
	anvil_err rc;

	json_object_clear(s->accounts);
	json_object_clear(s->orders);
	json_object_clear(s->authz);
	json_object_clear(s->challenges);
	zero_fill(s->accounts, acct_st);
	zero_fill(s->orders, order_st);
	zero_fill(s->authz, authz_st);
	s->issued = s->revoked = s->expired = s->expiring = s->active = 0;
	s->expiring7 = 0;
	if ((rc = store_each(txn, STORE_ACCOUNT, stat_acct, s)) ||
	    (rc = store_each(txn, STORE_ORDER, stat_order, s)) ||
	    (rc = store_each(txn, STORE_AUTHZ, stat_authz, s)) ||
	    (rc = store_each(txn, STORE_CHALLENGE, stat_chall, s)) ||
	    (rc = store_each(txn, STORE_CERT, stat_cert, s)))
		return rc;
	return ANVIL_OK;
}

static void
stat_rows(json_t *rows, const char *kind, json_t *obj)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v)
		json_array_append_new(rows, json_pack("{s:s, s:s, s:O}",
		    "kind", kind, "status", k, "count", v));
}

int
admin_stats(struct admin_ctx *ctx, int argc, char **argv)
{
	static const char *const cols[] = { "kind", "status", "count", NULL };
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	struct admin_stats s;
	json_t *certs, *rows;
	const char *output = NULL;
	char err[512] = "";
	anvil_err rc;
	int c, prom = 0, status = ADMIN_FAIL;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			ctx->json = 1;
		else if (c == 'f' && strcmp(optarg, "prometheus") == 0)
			prom = 1;
		else if (c == 'f' && strcmp(optarg, "json") == 0)
			ctx->json = 1;
		else if (c == 'f' && strcmp(optarg, "table") == 0)
			ctx->json = 0;
		else if (c == 'o')
			output = optarg;
		else
			goto usage;
	}
	if (optind != argc || (output != NULL && !prom))
		goto usage;
	memset(&s, 0, sizeof(s));
	s.now = time(NULL);
	s.accounts = json_object();
	s.orders = json_object();
	s.authz = json_object();
	s.challenges = json_object();
	if (s.accounts == NULL || s.orders == NULL || s.authz == NULL ||
	    s.challenges == NULL)
		goto out;
	rc = store_run(ctx->st, STORE_TXN_READ_COMMITTED, stats_fn, &s, err,
	    sizeof(err));
	if (rc != ANVIL_OK) {
		fail_msg("stats", rc, err);
		goto out;
	}
	if (prom) {
		status = admin_metrics_write(ctx, &s, output);
		goto out;
	}
	certs = json_pack("{s:I, s:I, s:I, s:I, s:I}", "issued", s.issued,
	    "revoked", s.revoked, "expired", s.expired, "active", s.active,
	    "expiring_30d", s.expiring);
	if (ctx->json) {
		json_t *o = json_pack("{s:O, s:O, s:O, s:o}", "accounts",
		    s.accounts, "orders", s.orders, "authorizations", s.authz,
		    "certificates", certs);
		admin_print_object(ctx, o);
		json_decref(o);
	} else {
		rows = json_array();
		stat_rows(rows, "accounts", s.accounts);
		stat_rows(rows, "orders", s.orders);
		stat_rows(rows, "authorizations", s.authz);
		stat_rows(rows, "certificates", certs);
		admin_print_table(ctx, rows, cols);
		json_decref(rows);
		json_decref(certs);
	}
	status = ADMIN_OK;
out:
	json_decref(s.accounts);
	json_decref(s.orders);
	json_decref(s.authz);
	json_decref(s.challenges);
	return status;
usage:
	fputs("usage: anvil-admin stats [--format table|json|prometheus] "
	    "[--output FILE]\n  --output (prometheus only): replace FILE "
	    "atomically\n", stderr);
	return ADMIN_USAGE;
}
