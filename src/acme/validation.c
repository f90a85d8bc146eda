/*
 * validation.c - one challenge's validation: what it needs from the store,
 * the check itself in a child process under a hard deadline, and the
 * result recorded in one transaction: the challenge, its authorization,
 * every order waiting on that authorization (ready once all of its
 * authorizations are valid; invalid when one fails), and the challenge's
 * queue entry removed. runner.c decides when and where this runs.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acme/acme_int.h"
#include "core/log.h"
#include "core/util.h"
#include "validate/validate.h"

anvil_err
acme_validation_load(struct store_txn *txn, const char *id,
    struct acme_vinfo *v)
{
	json_t *c = NULL, *a = NULL, *acct = NULL, *ident;
	anvil_err rc;

	memset(v, 0, sizeof(*v));
	if ((rc = store_get(txn, STORE_CHALLENGE, id, &c)) != ANVIL_OK)
		goto out;
	if (rec_status_get(c) != REC_PROCESSING) {
		v->skip = 1;
		goto out;
	}
	if ((rc = store_get(txn, STORE_AUTHZ, json_string_value(
	    json_object_get(c, "authz")) ?: "", &a)) != ANVIL_OK)
		goto out;
	if ((rc = store_get(txn, STORE_ACCOUNT, json_string_value(
	    json_object_get(c, "account")) ?: "", &acct)) != ANVIL_OK)
		goto out;
	ident = json_object_get(a, "identifier");
	snprintf(v->type, sizeof(v->type), "%s", json_string_value(
	    json_object_get(c, "type")) ?: "");
	snprintf(v->token, sizeof(v->token), "%s", json_string_value(
	    json_object_get(c, "token")) ?: "");
	snprintf(v->thumb, sizeof(v->thumb), "%s", json_string_value(
	    json_object_get(acct, "thumbprint")) ?: "");
	snprintf(v->ident_type, sizeof(v->ident_type), "%s",
	    json_string_value(json_object_get(ident, "type")) ?: "");
	snprintf(v->ident_value, sizeof(v->ident_value), "%s",
	    json_string_value(json_object_get(ident, "value")) ?: "");
	v->wildcard = json_is_true(json_object_get(a, "wildcard"));
	snprintf(v->account, sizeof(v->account), "%s", json_string_value(
	    json_object_get(c, "account")) ?: "");
out:
	json_decref(c);
	json_decref(a);
	json_decref(acct);
	return rc;
}

/*
 * The checker: a child process of the validating process (a runner, or
 * "anvil --validate") that runs the checks one at a time, as it is sent
 * them over a socket pair. It touches no store, holds no web-server
 * socket and no slot lock, so killing it at a deadline leaves nothing
 * behind; and it lives as long as its parent, so what a check loads once
 * (libcurl, the DNS resolver and its thread: src/validate/curl_dl.h,
 * src/validate/resolve.c) serves the next checks as well. A check that
 * overruns its deadline gets the checker killed; the next check starts a
 * new one.
 */
struct check_result {
	int rc;
	int caa;		/* CAA was checked and permits issuance */
	char detail[512];
};

static struct {
	pid_t pid;		/* the checker, 0 if none */
	int fd;			/* our end of the socket pair */
	pid_t owner;		/* the process that started it */
} checker = { 0, -1, 0 };

/* Reads or writes all n bytes; 0 on success, -1 on EOF or error. */
static int
io_all(int fd, void *buf, size_t n, int out)
{
	size_t off = 0;
	ssize_t r;

	while (off < n) {
		r = out ? send(fd, (char *)buf + off, n - off, MSG_NOSIGNAL) :
		    read(fd, (char *)buf + off, n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

/*
 * RFC 8659 §3: CAA is checked when the authorization validates; the
 * method and account are those of this validation (RFC 8657).
 */
static anvil_err
check_caa(const struct anvil_config *cfg, const struct acme_vinfo *v,
    struct check_result *res)
{
	char url[1024];
	struct val_caa_req q;
	anvil_err rc;

	if (cfg->caa_identities.n == 0 || strcmp(v->ident_type, "dns") != 0)
		return ANVIL_OK;
	if ((size_t)snprintf(url, sizeof(url), "%s/acct/%s", cfg->base_url,
	    v->account) >= sizeof(url))
		return ANVIL_ERR_MALFORMED;
	memset(&q, 0, sizeof(q));
	q.identities = (const char *const *)cfg->caa_identities.v;
	q.nidentities = cfg->caa_identities.n;
	q.account_uri = url;
	q.method = v->type;
	q.wildcard = v->wildcard;
	rc = val_caa_check(cfg, v->ident_value, &q, res->detail,
	    sizeof(res->detail));
	res->caa = rc == ANVIL_OK;
	return rc;
}

static void
checker_main(const struct anvil_config *cfg, int fd)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGALRM };
	struct check_result res;
	struct acme_vinfo v;
	struct val_ident id;
	char keyauth[256], acct_url[1024];
	size_t i;
	int t;

	(void)prctl(PR_SET_NAME, "anvil-check", 0, 0, 0);
	util_close_except(fd);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	/* EOF: the parent is gone or done. */
	while (io_all(fd, &v, sizeof(v), 0) == 0) {
		/* Its own bound, should the parent be gone meanwhile. */
		alarm(ACME_VALIDATION_DEADLINE(cfg) + 1);
		memset(&res, 0, sizeof(res));
		v.token[sizeof(v.token) - 1] = v.thumb[sizeof(v.thumb) - 1] =
		    v.type[sizeof(v.type) - 1] = '\0';
		v.ident_type[sizeof(v.ident_type) - 1] =
		    v.ident_value[sizeof(v.ident_value) - 1] = '\0';
		snprintf(keyauth, sizeof(keyauth), "%s.%s", v.token, v.thumb);
		snprintf(acct_url, sizeof(acct_url), "%s/acct/%s",
		    cfg->base_url, v.account);
		memset(&id, 0, sizeof(id));
		id.type = v.ident_type;
		id.value = v.ident_value;
		id.account_url = acct_url;
		id.wildcard = v.wildcard;
		t = val_type_parse(v.type);
		if (t < 0) {
			res.rc = ANVIL_ERR_MALFORMED;
			snprintf(res.detail, sizeof(res.detail),
			    "unknown challenge type %s", v.type);
		} else
			res.rc = val_check(cfg, (enum val_type)t, &id, v.token,
			    keyauth, res.detail, sizeof(res.detail));
		if (res.rc == ANVIL_OK)
			res.rc = check_caa(cfg, &v, &res);
		alarm(0);
		if (io_all(fd, &res, sizeof(res), 1) != 0)
			break;
	}
	_exit(0);
}

static void
checker_stop(void)
{
	if (checker.pid > 0 && checker.owner == getpid()) {
		close(checker.fd);
		(void)kill(checker.pid, SIGKILL);
		while (waitpid(checker.pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	checker.pid = 0;
	checker.fd = -1;
	checker.owner = 0;
}

static int
checker_start(const struct anvil_config *cfg)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_err("socketpair: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		log_err("fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		checker_main(cfg, sv[1]);
	}
	close(sv[1]);
	checker.pid = pid;
	checker.fd = sv[0];
	checker.owner = getpid();
	return 0;
}

anvil_err
acme_validation_check(const struct anvil_config *cfg,
    struct acme_vinfo *v, const volatile sig_atomic_t *stop,
    char *detail, size_t detaillen)
{
	struct check_result res;
	struct pollfd pfd;
	struct timespec t0, t1;
	unsigned deadline = ACME_VALIDATION_DEADLINE(cfg);
	long left_ms;
	size_t off = 0;
	ssize_t n;
	int r;
	anvil_err rc = ANVIL_ERR_IO;

	detail[0] = '\0';
	/* A checker inherited through fork is the parent's, not ours. */
	if (checker.pid > 0 && checker.owner != getpid())
		checker_stop();
	if (checker.pid == 0 && checker_start(cfg) != 0) {
		snprintf(detail, detaillen, "the validation could not start");
		return ANVIL_ERR_IO;
	}
	if (io_all(checker.fd, (void *)v, sizeof(*v), 1) != 0) {
		/* It died since the last check: one new one. */
		checker_stop();
		if (checker_start(cfg) != 0 ||
		    io_all(checker.fd, (void *)v, sizeof(*v), 1) != 0) {
			checker_stop();
			snprintf(detail, detaillen, "the validation could not "
			    "start");
			return ANVIL_ERR_IO;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&res, 0, sizeof(res));
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left_ms = (long)deadline * 1000 - ((t1.tv_sec - t0.tv_sec) *
		    1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (stop != NULL && *stop) {
			rc = ANVIL_ERR_INVALID;
			snprintf(detail, detaillen, "stopped");
			break;
		}
		if (left_ms <= 0) {
			rc = ANVIL_ERR_CONNECTION;
			snprintf(detail, detaillen, "the validation did not "
			    "finish within %u seconds", deadline);
			break;
		}
		pfd.fd = checker.fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, (int)left_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_err("poll: %s", strerror(errno));
			snprintf(detail, detaillen, "the validation failed");
			break;
		}
		if (r == 0)
			continue;
		n = read(checker.fd, (char *)&res + off, sizeof(res) - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0 && (off += (size_t)n) < sizeof(res))
			continue;
		if (off == sizeof(res) && res.rc >= 0 &&
		    res.rc < ANVIL_ERR__MAX) {
			res.detail[sizeof(res.detail) - 1] = '\0';
			snprintf(detail, detaillen, "%s", res.detail);
			v->caa_checked = res.rc == ANVIL_OK && res.caa;
			return (anvil_err)res.rc;	/* the checker stays */
		}
		log_err("validation process %ld ended without a result",
		    (long)checker.pid);
		rc = ANVIL_ERR_IO;
		snprintf(detail, detaillen, "the validation failed");
		break;
	}
	/* Overrun, stopped or broken: the checker goes (it may be stuck in
	 * a connect); the next check starts a new one. */
	checker_stop();
	return rc;
}

static anvil_err
record(struct store_txn *txn, const char *id, anvil_err result,
    const char *detail, time_t now, int caa_checked)
{
	json_t *c = NULL, *problem = NULL;
	anvil_err rc;

	if ((rc = store_del(txn, STORE_VALQ, id)) != ANVIL_OK &&
	    rc != ANVIL_ERR_NOTFOUND)
		goto out;
	if ((rc = store_get(txn, STORE_CHALLENGE, id, &c)) != ANVIL_OK)
		goto out;
	if (rec_status_get(c) != REC_PROCESSING)
		goto out;	/* someone else finished it */
	if (result != ANVIL_OK) {
		/* A detail jansson refuses (not UTF-8) must not cost the
		 * client its problem document: the type says enough. */
		if ((problem = rec_problem(result, detail)) == NULL &&
		    (problem = rec_problem(result, NULL)) == NULL) {
			rc = ANVIL_ERR_NOMEM;
			goto out;
		}
	}
	if (result == ANVIL_OK && caa_checked)
		json_object_set_new(c, "caa_checked", json_integer(now));
	rc = rec_challenge_result(txn, id, c, problem, now, NULL);
out:
	json_decref(problem);
	json_decref(c);
	return rc;
}

anvil_err
acme_validation_record(struct store_txn *txn, const char *id,
    anvil_err result, const char *detail, time_t now)
{
	return record(txn, id, result, detail, now, 0);
}

struct one {
	const char *id;
	struct acme_vinfo vi;
	anvil_err result;
	const char *detail;
	time_t now;
	int caa;
};

static anvil_err
one_load_fn(struct store_txn *txn, void *arg)
{
	struct one *o = arg;

	return acme_validation_load(txn, o->id, &o->vi);
}

static anvil_err
one_record_fn(struct store_txn *txn, void *arg)
{
	struct one *o = arg;

	return record(txn, o->id, o->result, o->detail, o->now, o->caa);
}

void
acme_validation_log(const char *id, const struct acme_vinfo *v, anvil_err rc,
    const char *detail)
{
	log_info("validation %s of %s %s:%s: %s%s%s", id, v->type,
	    v->ident_type, v->ident_value, rc == ANVIL_OK ?
	    rec_status_name(REC_VALID) : rec_problem_type(rc),
	    detail[0] ? ": " : "", detail);
}

anvil_err
acme_validation_settle(struct store_txn *txn, const char *id,
    const struct acme_vinfo *v, anvil_err result, const char *detail,
    time_t now)
{
	return record(txn, id, result, detail, now, v->caa_checked);
}

anvil_err
acme_validation_finish(struct store *st, const char *id,
    const struct acme_vinfo *v, anvil_err result, const char *detail)
{
	struct one o;

	memset(&o, 0, sizeof(o));
	o.id = id;
	o.result = result;
	o.detail = detail;
	o.now = time(NULL);
	o.caa = v->caa_checked;
	acme_validation_log(id, v, result, detail);
	return store_run(st, 0, one_record_fn, &o, NULL, 0);
}

anvil_err
acme_validate(struct acme_ctx *ctx, const char *chall_id)
{
	struct one o;
	char detail[512] = "";
	anvil_err rc;

	memset(&o, 0, sizeof(o));
	o.id = chall_id;
	rc = store_run(ctx->st, 0, one_load_fn, &o, NULL, 0);
	if (rc != ANVIL_OK || o.vi.skip)
		return rc;
	rc = acme_validation_check(ctx->cfg, &o.vi, NULL, detail,
	    sizeof(detail));
	return acme_validation_finish(ctx->st, chall_id, &o.vi, rc, detail);
}
