/*
 * runner.c - the validation queue and the detached processes that drain
 * it, so that a slow or black-holed challenge never holds a process that
 * answers requests (tests/integration/validators.sh shows it).
 *
 * A challenge POST that starts a validation queues it (a STORE_VALQ entry)
 * in the transaction that makes the challenge "processing" (challenge.c)
 * and, once the reply is out, calls acme_runner_kick(). A kick takes a free
 * slot, an flock on data_dir/validators/N for N below [validation]
 * validators, and starts a detached runner that holds it for its life;
 * with every slot held it does nothing, since the runners holding them
 * will reach the entry. So at most `validators` validations run at once on
 * a host, whatever the web server's process count.
 *
 * A runner claims the entry queued first, validates it in its checker
 * process, killed at ACME_VALIDATION_DEADLINE (validation.c), records the result
 * and drops the entry in one transaction, and claims the next. When none
 * is left it waits idle up to LINGER_MS on its slot's wake-up FIFO; a kick
 * first writes to the FIFO of an idle runner, if any, and only then starts
 * a new one, so under load a few runners (each one store open) serve every
 * validation. When the wait ends with nothing to do the runner gives its
 * slot back and looks once more: an entry committed before its kick found
 * every slot held is seen by that second look, because the slot was given
 * back after the kick tried it.
 *
 * Bounds: an entry claimed longer ago than ACME_VALIDATION_ABANDONED lost
 * its runner (killed): it fails as anvil-admin sweep fails it; one that
 * waited longer than [validation] max_wait fails
 * without a try; at most queue_max wait. anvil-admin sweep kicks runners
 * too, so a queue left by a host that went down is drained from cron.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acme/acme_int.h"
#include "core/log.h"
#include "core/util.h"

#define SLOT_DIR "validators"	/* under data_dir */
#define LINGER_MS 5000		/* an idle runner waits this long for work */
#define MAX_TRIES 1		/* claims of one entry: a second means the
				 * first runner died (killed) */

static volatile sig_atomic_t runner_stop;	/* SIGTERM and the like */

static void
on_stop(int sig)
{
	(void)sig;
	runner_stop = 1;
}

/* ------------------------------------------------------------ the queue */

struct count {
	size_t n;
	size_t limit;
};

static anvil_err
count_fn(const char *id, json_t *rec, void *arg)
{
	struct count *c = arg;

	(void)id;
	(void)rec;
	return ++c->n >= c->limit ? ANVIL_ERR_RATELIMITED : ANVIL_OK;
}

anvil_err
acme_valq_add(struct store_txn *txn, const struct anvil_config *cfg,
    const char *id, time_t now)
{
	struct count c = { 0, cfg->queue_max };
	json_t *rec;
	anvil_err rc;

	if ((rc = store_each(txn, STORE_VALQ, count_fn, &c)) != ANVIL_OK)
		return rc;
	if ((rec = json_pack("{s:I, s:I, s:i}", "queued", (json_int_t)now,
	    "claimed", (json_int_t)0, "tries", 0)) == NULL)
		return ANVIL_ERR_NOMEM;
	rc = store_put(txn, STORE_VALQ, id, rec, 0);
	json_decref(rec);
	return rc;
}

int
acme_valq_abandoned(const struct anvil_config *cfg, json_t *entry,
    time_t now)
{
	json_int_t cl = json_integer_value(json_object_get(entry, "claimed"));

	return cl != 0 && cl + (json_int_t)ACME_VALIDATION_ABANDONED(cfg) <
	    (json_int_t)now;
}

/* A validation's outcome, recorded with the next claim (drain). */
struct result {
	char id[129];
	struct acme_vinfo vi;
	anvil_err rc;
	char detail[512];
};

/* Finding and claiming the next entry. */
struct claim {
	const struct anvil_config *cfg;
	time_t now;
	int take;		/* claim it (else only look) */
	char best[129];		/* entry queued first that is free */
	json_int_t best_q;
	char id[129];		/* out: claimed */
	struct acme_vinfo vi;	/* out: its validation data */
	int again;		/* out: an entry was settled; look again */
	int waiting;		/* out: entries not in a runner's hands */
	const struct result *done;	/* to record first, in the same
					 * transaction; NULL: none */
};

static anvil_err
pick_fn(const char *id, json_t *rec, void *arg)
{
	struct claim *c = arg;
	json_int_t q = json_integer_value(json_object_get(rec, "queued"));

	if (json_integer_value(json_object_get(rec, "claimed")) != 0 &&
	    !acme_valq_abandoned(c->cfg, rec, c->now))
		return ANVIL_OK;	/* a runner has it */
	c->waiting++;
	if (c->best[0] == '\0' || q < c->best_q) {
		snprintf(c->best, sizeof(c->best), "%s", id);
		c->best_q = q;
	}
	return ANVIL_OK;
}

static anvil_err
claim_fn(struct store_txn *txn, void *arg)
{
	struct claim *c = arg;
	json_t *rec = NULL;
	json_int_t tries;
	char detail[160];
	anvil_err rc;

	c->best[0] = c->id[0] = '\0';
	c->again = c->waiting = 0;
	if (c->done != NULL && (rc = acme_validation_settle(txn, c->done->id,
	    &c->done->vi, c->done->rc, c->done->detail, c->now)) != ANVIL_OK)
		return rc;
	if ((rc = store_each(txn, STORE_VALQ, pick_fn, c)) != ANVIL_OK ||
	    c->best[0] == '\0' || !c->take)
		return rc;
	if ((rc = store_get(txn, STORE_VALQ, c->best, &rec)) != ANVIL_OK)
		goto out;
	tries = json_integer_value(json_object_get(rec, "tries"));
	rc = acme_validation_load(txn, c->best, &c->vi);
	if (rc == ANVIL_ERR_NOTFOUND || (rc == ANVIL_OK && c->vi.skip)) {
		/* Its challenge is gone or settled (anvil-admin sweep, an
		 * order dropped): nothing to validate. */
		c->again = 1;
		rc = store_del(txn, STORE_VALQ, c->best);
		goto out;
	}
	if (rc != ANVIL_OK)
		goto out;
	if (json_integer_value(json_object_get(rec, "queued")) +
	    (json_int_t)c->cfg->max_wait < (json_int_t)c->now) {
		snprintf(detail, sizeof(detail), "the validation was not run "
		    "within %u seconds (the server is busy); try again later",
		    c->cfg->max_wait);
		c->again = 1;
		rc = acme_validation_record(txn, c->best, ANVIL_ERR_IO, detail,
		    c->now);
		goto out;
	}
	if (tries >= MAX_TRIES) {
		c->again = 1;
		rc = acme_validation_record(txn, c->best, ANVIL_ERR_IO,
		    ACME_VALIDATION_DIED, c->now);
		goto out;
	}
	json_object_set_new(rec, "claimed", json_integer(c->now));
	json_object_set_new(rec, "tries", json_integer(tries + 1));
	json_object_set_new(rec, "by", json_integer((json_int_t)getpid()));
	if ((rc = store_put(txn, STORE_VALQ, c->best, rec, 0)) == ANVIL_OK)
		snprintf(c->id, sizeof(c->id), "%s", c->best);
out:
	json_decref(rec);
	return rc;
}

/* Gives an entry back untried (the runner was asked to stop). */
static anvil_err
unclaim_fn(struct store_txn *txn, void *arg)
{
	const char *id = arg;
	json_t *rec = NULL;
	json_int_t tries;
	anvil_err rc;

	if ((rc = store_get(txn, STORE_VALQ, id, &rec)) != ANVIL_OK)
		return rc == ANVIL_ERR_NOTFOUND ? ANVIL_OK : rc;
	tries = json_integer_value(json_object_get(rec, "tries"));
	json_object_set_new(rec, "claimed", json_integer(0));
	json_object_set_new(rec, "tries", json_integer(tries > 0 ?
	    tries - 1 : 0));
	rc = store_put(txn, STORE_VALQ, id, rec, 0);
	json_decref(rec);
	return rc;
}

anvil_err
acme_valq_waiting(struct store *st, const struct anvil_config *cfg,
    size_t *waiting)
{
	struct claim c;
	anvil_err rc;

	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.now = time(NULL);
	rc = store_run(st, 0, claim_fn, &c, NULL, 0);
	*waiting = rc == ANVIL_OK ? (size_t)c.waiting : 0;
	return rc;
}

/* ------------------------------------------------------------ processes */

/* data_dir/validators/<n><suffix> into path; -1 if too long. */
static int
slot_path(const struct anvil_config *cfg, unsigned n, const char *suffix,
    char *path, size_t len)
{
	int r = snprintf(path, len, "%s/%s/%u%s", cfg->data_dir, SLOT_DIR, n,
	    suffix);

	return r < 0 || (size_t)r >= len ? -1 : 0;
}

/* Takes a free slot: its locked descriptor (*n its number), or -1 when
 * none is free. */
static int
slot_take(const struct anvil_config *cfg, unsigned *n)
{
	char path[PATH_MAX];
	unsigned i;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, SLOT_DIR) >=
	    (int)sizeof(path))
		return -1;
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		log_err("mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < cfg->validators; i++) {
		if (slot_path(cfg, i, "", path, sizeof(path)) != 0)
			return -1;
		if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW |
		    O_CLOEXEC, 0600)) < 0) {
			log_err("open %s: %s", path, strerror(errno));
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			*n = i;
			return fd;
		}
		close(fd);
	}
	return -1;
}

/*
 * The wake-up FIFO of slot n (data_dir/validators/<n>.wake). A runner
 * holds it open only while it waits idle for work, so a kick that can
 * open it for writing knows an idle runner will read its byte, and starts
 * no process. Opened read-write: the runner is then a writer itself, and
 * poll() never reports a hang-up once a kicker has come and gone.
 */
static int
wake_open(const struct anvil_config *cfg, unsigned n)
{
	char path[PATH_MAX];
	struct stat sb;
	int fd;

	if (slot_path(cfg, n, ".wake", path, sizeof(path)) != 0)
		return -1;
	if (mkfifo(path, 0600) != 0 && errno != EEXIST) {
		log_err("mkfifo %s: %s", path, strerror(errno));
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)) <
	    0) {
		log_err("open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISFIFO(sb.st_mode)) {
		log_err("%s is not a FIFO", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* Wakes an idle runner, if there is one: 1 if one was told. */
static int
wake_idle(const struct anvil_config *cfg)
{
	char path[PATH_MAX];
	unsigned i;
	int fd;
	ssize_t w;

	for (i = 0; i < cfg->validators; i++) {
		if (slot_path(cfg, i, ".wake", path, sizeof(path)) != 0)
			return 0;
		/* ENXIO: nobody has it open to read; ENOENT: never made. */
		if ((fd = open(path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW |
		    O_CLOEXEC)) < 0)
			continue;
		w = write(fd, "", 1);
		close(fd);
		/* EAGAIN: its pipe is full of wake-ups, it is awake. */
		if (w == 1 || (w < 0 && errno == EAGAIN))
			return 1;
	}
	return 0;
}

/* Waits up to LINGER_MS for a wake-up on fd; 1 if woken, 0 if not. */
static int
linger(int fd)
{
	struct pollfd pfd;
	char buf[64];
	int r;

	pfd.fd = fd;
	pfd.events = POLLIN;
	r = poll(&pfd, 1, LINGER_MS);
	if (r <= 0)
		return r < 0 && errno == EINTR && !runner_stop;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return 1;
}

static anvil_err
settle_fn(struct store_txn *txn, void *arg)
{
	const struct result *r = arg;

	return acme_validation_settle(txn, r->id, &r->vi, r->rc, r->detail,
	    time(NULL));
}

/* Records a result in a transaction of its own. */
static void
settle_alone(struct store *st, struct result *r)
{
	anvil_err rc;

	if ((rc = store_run(st, 0, settle_fn, r, NULL, 0)) != ANVIL_OK)
		log_err("validation %s: recording the result: %s", r->id,
		    anvil_strerror(rc));
}

/*
 * Claims and validates entries until none is free or it is told to stop.
 * A result is recorded in the transaction that claims the next entry
 * (or finds none), so a validation costs the store two transactions, not
 * three (issue 22).
 */
static void
drain(const struct anvil_config *cfg, struct store *st)
{
	struct claim c;
	struct result res, *done = NULL;
	anvil_err rc;

	while (!runner_stop) {
		memset(&c, 0, sizeof(c));
		c.cfg = cfg;
		c.now = time(NULL);
		c.take = 1;
		c.done = done;
		/* Durable: a claim rolled back by the recovery after its
		 * runner was killed would send the entry round again. */
		if ((rc = store_run(st, 0, claim_fn, &c, NULL, 0)) !=
		    ANVIL_OK && done != NULL) {
			/* The result alone, then the claim alone: one that
			 * cannot be recorded stops no other. */
			settle_alone(st, done);
			done = NULL;
			continue;
		}
		done = NULL;
		if (rc != ANVIL_OK) {
			log_err("validation queue: %s", anvil_strerror(rc));
			return;
		}
		if (c.again)
			continue;
		if (c.id[0] == '\0')
			return;
		rc = acme_validation_check(cfg, &c.vi, &runner_stop,
		    res.detail, sizeof(res.detail));
		if (runner_stop) {
			(void)store_run(st, 0, unclaim_fn, c.id, NULL, 0);
			return;
		}
		acme_validation_log(c.id, &c.vi, rc, res.detail);
		memcpy(res.id, c.id, sizeof(res.id));
		res.vi = c.vi;
		res.rc = rc;
		done = &res;
	}
	/* Stopped: the result still goes in. */
	if (done != NULL)
		settle_alone(st, done);
}

/*
 * The detached runner: holds slot n, drains the queue, and waits idle up
 * to LINGER_MS for more before it leaves, so that under load one runner
 * (one store open) serves many validations.
 */
static void
runner_main(const struct anvil_config *cfg, int slot, unsigned n)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa;
	struct store *st = NULL;
	char err[512];
	size_t i, waiting = 0;
	int wake, woken;

	(void)prctl(PR_SET_NAME, "anvil-validate", 0, 0, 0);
	log_init("anvil", log_level_get(), 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;	/* no SA_RESTART: poll wakes */
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		(void)sigaction(sigs[i], &sa, NULL);
	if (store_open_conf(cfg, 0, &st, err, sizeof(err)) != ANVIL_OK) {
		log_err("validation runner: %s", err);
		_exit(1);
	}
	while (slot >= 0) {
		do {
			drain(cfg, st);
			if (runner_stop || (wake = wake_open(cfg, n)) < 0)
				break;
			/* A kick that came between the drain and the open
			 * found nobody idle and started nobody: look again. */
			drain(cfg, st);
			woken = !runner_stop && linger(wake);
			close(wake);
		} while (woken);
		close(slot);
		slot = -1;
		if (runner_stop)
			break;
		/* See the head of this file: the second look. */
		if (acme_valq_waiting(st, cfg, &waiting) == ANVIL_OK &&
		    waiting > 0)
			slot = slot_take(cfg, &n);
	}
	store_close(st);
	_exit(0);
}

int
acme_runner_kick(const struct anvil_config *cfg)
{
	unsigned n = 0;
	int slot, d;

	if (wake_idle(cfg))
		return 1;
	if ((slot = slot_take(cfg, &n)) < 0)
		return 0;
	/* The caller's reply is out; the web server sees nothing of this. */
	if ((d = util_detach(0)) != 0) {
		close(slot);
		if (d < 0)
			log_err("fork: cannot start a validation runner");
		return d < 0 ? -1 : 2;
	}
	runner_stop = 0;
	/* No copy of the web server's sockets or of the parent's store
	 * locks: the parent's store handle is dead weight here
	 * (store_close leaves a forked child's alone). */
	util_close_except(slot);
	runner_main(cfg, slot, n);
	_exit(0);
}
