/*
 * maint.c - anvil-admin's maintenance of the live store: sweep (from cron),
 * db check, db backup.
 *
 * sweep:
 * - a challenge "processing" whose validation lost its process has it
 *   failed: its queue entry was claimed by a runner that did not record a
 *   result in time (src/acme/runner.c), or it has no queue entry (left by
 *   an older Anvil) and started more than 3 x [validation] timeout ago. It
 *   becomes "invalid" with a serverInternal error, its authorization (if
 *   still pending) "invalid", and the pending orders of that authorization
 *   "invalid", each challenge in one transaction, as a failed validation
 *   would have left them; a queued one that waits is the runners' to do;
 * - validations waiting in the queue with no runner (the host's runners
 *   were killed, or it went down) get runners, up to [validation]
 *   validators, which drain the queue in the background;
 * - spent nonces past their expiry are dropped (store_nonce_purge);
 * - orders that expired more than 30 days ago and never became valid are
 *   dropped, with the authorizations only they referred to that never
 *   became valid (pending or invalid) and those authorizations'
 *   challenges; an authorization kept loses the dropped order from its
 *   "orders". One transaction per order.
 * Each step re-reads what it changes inside its transaction, so a web
 * server finishing the same work at the same moment wins or loses cleanly.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/acme.h"
#include "admin/admin.h"
#include "core/progress.h"
#include "record/record.h"

#define STUCK_FACTOR 3			/* x [validation] timeout */
#define ORDER_KEEP (30 * 86400)		/* after expiry, for never-valid */
#define STUCK_DETAIL ACME_VALIDATION_DIED

static const char *
str(json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));
	return s != NULL ? s : "";
}

/* Collects the ids of records of one kind that pass a test. */
struct pick {
	time_t now;
	time_t cutoff;
	json_t *ids;
};

static anvil_err
pick_stuck(const char *id, json_t *rec, void *arg)
{
	struct pick *p = arg;

	if (rec_status_get(rec) == REC_PROCESSING &&
	    json_integer_value(json_object_get(rec, "started")) <
	    (json_int_t)p->cutoff)
		json_array_append_new(p->ids, json_string(id));
	return ANVIL_OK;
}

/* Never valid: stored status is not "valid" (so no certificate). */
static int
order_droppable(json_t *rec, time_t cutoff)
{
	json_t *exp = json_object_get(rec, "expires");

	return rec_status_get(rec) != REC_VALID &&
	    json_is_integer(exp) && json_integer_value(exp) <
	    (json_int_t)cutoff;
}

static anvil_err
pick_orders(const char *id, json_t *rec, void *arg)
{
	struct pick *p = arg;

	if (order_droppable(rec, p->cutoff))
		json_array_append_new(p->ids, json_string(id));
	return ANVIL_OK;
}

struct pick_arg {
	enum store_kind kind;
	store_each_fn fn;
	struct pick *p;
};

static anvil_err
pick_fn(struct store_txn *txn, void *arg)
{
	struct pick_arg *a = arg;

	json_array_clear(a->p->ids);
	return store_each(txn, a->kind, a->fn, a->p);
}

/* ------------------------------------------------------------ stuck */

struct stuck {
	const char *id;
	const struct anvil_config *cfg;
	time_t now;
	time_t cutoff;
	json_t *done;		/* out: what was changed, or NULL */
};

static anvil_err
stuck_fn(struct store_txn *txn, void *arg)
{
	struct stuck *s = arg;
	json_t *c = NULL, *q = NULL, *problem = NULL, *changed = NULL, *ident;
	anvil_err rc;

	json_decref(s->done);
	s->done = NULL;
	if ((rc = store_get(txn, STORE_CHALLENGE, s->id, &c)) != ANVIL_OK)
		return rc == ANVIL_ERR_NOTFOUND ? ANVIL_OK : rc;
	/* Finished meanwhile: nothing to do. */
	if (rec_status_get(c) != REC_PROCESSING)
		goto out;
	rc = store_get(txn, STORE_VALQ, s->id, &q);
	if (rc == ANVIL_OK) {
		/* Queued: waiting, or in a live runner's hands. */
		if (!acme_valq_abandoned(s->cfg, q, s->now))
			goto out;
		if ((rc = store_del(txn, STORE_VALQ, s->id)) != ANVIL_OK)
			goto out;
	} else if (rc != ANVIL_ERR_NOTFOUND)
		goto out;
	else if (json_integer_value(json_object_get(c, "started")) >=
	    (json_int_t)s->cutoff) {
		rc = ANVIL_OK;
		goto out;
	}
	problem = rec_problem(ANVIL_ERR_IO, STUCK_DETAIL);
	s->done = json_pack("{s:s, s:s, s:o, s:n, s:[]}", "challenge", s->id,
	    "type", str(c, "type"), "started", admin_time_json(c, "started"),
	    "authz", "orders");
	if (problem == NULL || s->done == NULL) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	/* As a failed validation would have left them (src/record). */
	if ((rc = rec_challenge_result(txn, s->id, c, problem, s->now,
	    &changed)) != ANVIL_OK)
		goto out;
	ident = json_object_get(changed, "identifier");
	if (json_is_object(ident)) {
		char buf[300];
		snprintf(buf, sizeof(buf), "%s:%s", str(ident, "type"),
		    str(ident, "value"));
		json_object_set_new(s->done, "identifier", json_string(buf));
	}
	json_object_set(s->done, "authz", json_object_get(changed, "authz"));
	json_object_set(s->done, "orders", json_object_get(changed,
	    "orders"));
out:
	if (rc != ANVIL_OK) {
		json_decref(s->done);
		s->done = NULL;
	}
	json_decref(problem);
	json_decref(changed);
	json_decref(q);
	json_decref(c);
	return rc;
}

/* ------------------------------------------------------------ old orders */

struct drop {
	const char *id;
	time_t now;
	time_t cutoff;
	json_t *done;		/* out: {order, authz: [], challenges: []} */
};

/* 1 if array ids holds id. */
static int
holds(json_t *ids, const char *id)
{
	json_t *x;
	size_t i;

	json_array_foreach(ids, i, x)
		if (strcmp(json_string_value(x) ?: "", id) == 0)
			return 1;
	return 0;
}

/* After order oid is gone: the authorization aid drops or forgets it. */
static anvil_err
drop_authz(struct store_txn *txn, struct drop *d, const char *aid)
{
	json_t *a = NULL, *keep = NULL, *x;
	enum rec_status st;
	size_t i;
	anvil_err rc;

	rc = store_get(txn, STORE_AUTHZ, aid, &a);
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID)
		return ANVIL_OK;
	if (rc != ANVIL_OK)
		return rc;
	if ((keep = json_array()) == NULL) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	/* The orders still there that refer to it. */
	json_array_foreach(json_object_get(a, "orders"), i, x) {
		json_t *o = NULL;
		const char *oid = json_string_value(x);
		if (oid == NULL || strcmp(oid, d->id) == 0)
			continue;
		rc = store_get(txn, STORE_ORDER, oid, &o);
		json_decref(o);
		if (rc == ANVIL_OK)
			json_array_append_new(keep, json_string(oid));
		else if (rc != ANVIL_ERR_NOTFOUND && rc != ANVIL_ERR_INVALID)
			goto out;
		rc = ANVIL_OK;
	}
	st = rec_status_get(a);
	if (json_array_size(keep) == 0 && (st == REC_PENDING ||
	    st == REC_INVALID)) {
		json_array_foreach(json_object_get(a, "challenges"), i, x) {
			const char *cid = json_string_value(x);
			if (cid == NULL)
				continue;
			rc = store_del(txn, STORE_CHALLENGE, cid);
			if (rc == ANVIL_OK)
				json_array_append_new(json_object_get(d->done,
				    "challenges"), json_string(cid));
			else if (rc != ANVIL_ERR_NOTFOUND &&
			    rc != ANVIL_ERR_INVALID)
				goto out;
			rc = ANVIL_OK;
		}
		if ((rc = store_del(txn, STORE_AUTHZ, aid)) != ANVIL_OK)
			goto out;
		json_array_append_new(json_object_get(d->done, "authz"),
		    json_string(aid));
	} else if (holds(json_object_get(a, "orders"), d->id)) {
		json_object_set(a, "orders", keep);
		rc = store_put(txn, STORE_AUTHZ, aid, a, 0);
	}
out:
	json_decref(keep);
	json_decref(a);
	return rc;
}

static anvil_err
drop_fn(struct store_txn *txn, void *arg)
{
	struct drop *d = arg;
	json_t *o = NULL, *x;
	size_t i;
	anvil_err rc;

	json_decref(d->done);
	d->done = NULL;
	if ((rc = store_get(txn, STORE_ORDER, d->id, &o)) != ANVIL_OK)
		return rc == ANVIL_ERR_NOTFOUND ? ANVIL_OK : rc;
	if (!order_droppable(o, d->cutoff))
		goto out;
	d->done = json_pack("{s:s, s:s, s:s, s:o, s:[], s:[]}", "order", d->id,
	    "account", str(o, "account"), "status", str(o, "status"),
	    "expires", admin_time_json(o, "expires"), "authz", "challenges");
	if (d->done == NULL) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if ((rc = store_del(txn, STORE_ORDER, d->id)) != ANVIL_OK)
		goto out;
	json_array_foreach(json_object_get(o, "authorizations"), i, x) {
		const char *aid = json_string_value(x);
		if (aid != NULL && (rc = drop_authz(txn, d, aid)) != ANVIL_OK)
			goto out;
	}
out:
	if (rc != ANVIL_OK) {
		json_decref(d->done);
		d->done = NULL;
	}
	json_decref(o);
	return rc;
}

/* ------------------------------------------------------------ sweep */

/*
 * Ids of kind picked by fn, in one read transaction; NULL on failure.
 * Read-committed: a walk of every record must not hold every page's lock
 * (the lock table runs out past some 50 000 records), and stuck_fn and
 * drop_fn read each record again before they change it.
 */
static json_t *
pick_ids(struct admin_ctx *ctx, enum store_kind kind, store_each_fn fn,
    struct pick *p, char *err, size_t errlen)
{
	struct pick_arg a = { kind, fn, p };

	if ((p->ids = json_array()) == NULL)
		return NULL;
	if (store_run(ctx->st, STORE_TXN_READ_COMMITTED, pick_fn, &a, err,
	    errlen) != ANVIL_OK) {
		json_decref(p->ids);
		p->ids = NULL;
	}
	return p->ids;
}

int
admin_sweep(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct pick p;
	json_t *stuck_ids = NULL, *order_ids = NULL, *failed = NULL,
	    *dropped = NULL, *x, *report = NULL;
	char err[512] = "";
	size_t i, purged = 0, nauthz = 0, nchall = 0, waiting = 0, runners = 0;
	int c, quiet = 0, status = ADMIN_FAIL, errors = 0;
	unsigned timeout = ctx->cfg->timeout ? ctx->cfg->timeout : 1;
	time_t now = time(NULL);
	anvil_err rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "qj", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quiet = 1;
			break;
		case 'j':
			ctx->json = 1;
			break;
		default:
			fputs("usage: anvil-admin sweep [--quiet]\n", stderr);
			return ADMIN_USAGE;
		}
	}
	if (optind != argc) {
		fputs("usage: anvil-admin sweep [--quiet]\n", stderr);
		return ADMIN_USAGE;
	}
	failed = json_array();
	dropped = json_array();
	if (failed == NULL || dropped == NULL)
		goto out;

	/* 1. Validations whose process died. */
	memset(&p, 0, sizeof(p));
	p.now = now;
	p.cutoff = now - (time_t)STUCK_FACTOR * (time_t)timeout;
	if ((stuck_ids = pick_ids(ctx, STORE_CHALLENGE, pick_stuck, &p, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "anvil-admin: sweep: reading challenges: %s\n",
		    err);
		goto out;
	}
	json_array_foreach(stuck_ids, i, x) {
		struct stuck s = { json_string_value(x), ctx->cfg, now,
		    p.cutoff, NULL };
		rc = store_run(ctx->st, 0, stuck_fn, &s, err, sizeof(err));
		if (rc != ANVIL_OK) {
			fprintf(stderr, "anvil-admin: sweep: challenge %s: "
			    "%s\n", s.id, err);
			errors++;
		} else if (s.done != NULL)
			json_array_append_new(failed, s.done);
	}

	/* 2. Queued validations no runner holds. */
	if ((rc = acme_valq_waiting(ctx->st, ctx->cfg, &waiting)) !=
	    ANVIL_OK) {
		fprintf(stderr, "anvil-admin: sweep: reading the validation "
		    "queue: %s\n", anvil_strerror(rc));
		errors++;
	}
	while (runners < waiting && runners < ctx->cfg->validators &&
	    acme_runner_kick(ctx->cfg) > 0)
		runners++;

	/* 3. Spent nonces past their expiry. */
	if ((rc = store_nonce_purge(ctx->st, now, &purged)) != ANVIL_OK) {
		fprintf(stderr, "anvil-admin: sweep: purging nonces: %s\n",
		    anvil_strerror(rc));
		errors++;
	}

	/* 4. Orders long expired that never became valid. */
	memset(&p, 0, sizeof(p));
	p.now = now;
	p.cutoff = now - ORDER_KEEP;
	if ((order_ids = pick_ids(ctx, STORE_ORDER, pick_orders, &p, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "anvil-admin: sweep: reading orders: %s\n",
		    err);
		goto out;
	}
	json_array_foreach(order_ids, i, x) {
		struct drop d = { json_string_value(x), now, p.cutoff, NULL };
		rc = store_run(ctx->st, 0, drop_fn, &d, err, sizeof(err));
		if (rc != ANVIL_OK) {
			fprintf(stderr, "anvil-admin: sweep: order %s: %s\n",
			    d.id, err);
			errors++;
		} else if (d.done != NULL) {
			nauthz += json_array_size(json_object_get(d.done,
			    "authz"));
			nchall += json_array_size(json_object_get(d.done,
			    "challenges"));
			json_array_append_new(dropped, d.done);
		}
	}

	if (ctx->json) {
		report = json_pack("{s:O, s:I, s:I, s:I, s:O, s:I, s:I, s:i}",
		    "challenges_failed", failed, "validations_waiting",
		    (json_int_t)waiting, "runners_set_to_work", (json_int_t)runners,
		    "nonces_purged",
		    (json_int_t)purged, "orders_dropped", dropped,
		    "authz_dropped", (json_int_t)nauthz, "challenges_dropped",
		    (json_int_t)nchall, "errors", errors);
		admin_print_object(ctx, report);
	} else if (!quiet) {
		json_array_foreach(failed, i, x) {
			json_t *o = json_object_get(x, "orders");
			fprintf(ctx->out, "challenge %s (%s for %s, started "
			    "%s) set invalid: %s", str(x, "challenge"),
			    str(x, "type"), str(x, "identifier")[0] ?
			    str(x, "identifier") : "?", str(x, "started")[0] ?
			    str(x, "started") : "?", STUCK_DETAIL);
			if (json_is_string(json_object_get(x, "authz")))
				fprintf(ctx->out, "; authorization %s invalid",
				    str(x, "authz"));
			if (json_array_size(o) > 0) {
				size_t j;
				json_t *y;
				fprintf(ctx->out, "; order%s",
				    json_array_size(o) > 1 ? "s" : "");
				json_array_foreach(o, j, y)
					fprintf(ctx->out, " %s",
					    json_string_value(y));
				fprintf(ctx->out, " invalid");
			}
			fputc('\n', ctx->out);
		}
		json_array_foreach(dropped, i, x)
			fprintf(ctx->out, "order %s (%s, expired %s) dropped "
			    "with %zu authorization(s) and %zu challenge(s)\n",
			    str(x, "order"), str(x, "status"),
			    str(x, "expires"), json_array_size(json_object_get(
			    x, "authz")), json_array_size(json_object_get(x,
			    "challenges")));
		fprintf(ctx->out, "sweep: %zu stuck challenge(s) failed, %zu "
		    "expired nonce(s) dropped, %zu order(s), %zu "
		    "authorization(s) and %zu challenge(s) dropped\n",
		    json_array_size(failed), purged, json_array_size(dropped),
		    nauthz, nchall);
		if (waiting > 0)
			fprintf(ctx->out, "sweep: %zu queued validation(s) "
			    "waiting, %zu runner(s) set to work\n", waiting,
			    runners);
	}
	status = errors ? ADMIN_FAIL : ADMIN_OK;
out:
	json_decref(report);
	json_decref(stuck_ids);
	json_decref(order_ids);
	json_decref(failed);
	json_decref(dropped);
	return status;
}

/* ------------------------------------------------------------ db */

#define DB_USAGE "usage: anvil-admin db check | db backup DIR | db migrate | " \
	"db export FILE | db import FILE\n"

int
admin_db(struct admin_ctx *ctx, int argc, char **argv)
{
	struct progress pg;
	char err[1536] = "";
	anvil_err rc;

	if (argc == 2 && strcmp(argv[1], "check") == 0) {
		progress_begin(&pg, "anvil-admin: db check", 0);
		store_set_progress(ctx->st, &pg);
		rc = store_verify(ctx->st, err, sizeof(err));
		store_set_progress(ctx->st, NULL);
		progress_end(&pg);
		if (ctx->json) {
			json_t *o = json_pack("{s:b, s:s}", "ok",
			    rc == ANVIL_OK, "data_dir", ctx->cfg->data_dir);
			if (rc != ANVIL_OK)
				json_object_set_new(o, "error",
				    json_string(err));
			admin_print_object(ctx, o);
			json_decref(o);
		}
		if (rc != ANVIL_OK) {
			fprintf(stderr, "anvil-admin: db check: %s\n",
			    err[0] ? err : anvil_strerror(rc));
			if (rc == ANVIL_ERR_CORRUPT)
				fprintf(stderr, "anvil-admin: db check: stop "
				    "Anvil and restore the store from a backup "
				    "(anvil-admin db backup makes them)\n");
			return ADMIN_FAIL;
		}
		if (!ctx->json && strcmp(store_backend(ctx->st),
		    STORE_BACKEND_PG) == 0)
			fprintf(ctx->out, "db check: the PostgreSQL store is "
			    "sound: every record parses and its index columns "
			    "agree with it\n");
		else if (!ctx->json)
			fprintf(ctx->out, "db check: %s/store is sound: every "
			    "file passed DB->verify on a hot snapshot, every "
			    "record parses and the indexes agree with the "
			    "records\n", ctx->cfg->data_dir);
		return ADMIN_OK;
	}
	if (argc == 3 && strcmp(argv[1], "backup") == 0) {
		progress_begin(&pg, "anvil-admin: db backup", 0);
		store_set_progress(ctx->st, &pg);
		rc = store_backup(ctx->st, argv[2], err, sizeof(err));
		store_set_progress(ctx->st, NULL);
		progress_end(&pg);
		if (rc != ANVIL_OK) {
			fprintf(stderr, "anvil-admin: db backup: %s\n",
			    err[0] ? err : anvil_strerror(rc));
			return ADMIN_FAIL;
		}
		if (ctx->json) {
			json_t *o = json_pack("{s:s}", "backup", argv[2]);
			admin_print_object(ctx, o);
			json_decref(o);
		} else
			fprintf(ctx->out, "db backup: %s holds a recovered "
			    "copy of %s/store; to restore, stop Anvil and put "
			    "it in place of data_dir/store beside the CA key "
			    "and certificate\n", argv[2], ctx->cfg->data_dir);
		return ADMIN_OK;
	}
	if (argc == 3 && (strcmp(argv[1], "export") == 0 ||
	    strcmp(argv[1], "import") == 0))
		return admin_db_move(ctx, argc, argv);
	fputs(DB_USAGE, stderr);
	return ADMIN_USAGE;
}
