/*
 * test_store_procs.c - the store shared by many processes: concurrent
 * writers lose no update; a process killed inside a transaction leaves
 * only its committed work behind, whether the next opener cleans up with
 * recovery, after a reboot, or while other processes hold the store (one
 * of them blocked on the dead transaction's lock, or panicked by the
 * recovery and reopening); processes killed at random instants inside the
 * library never leave the next opener blocked; a nonce is spent once
 * across processes.
 *
 * Each test forks its workers from the test process; a worker opens its own
 * store handle (never one inherited over fork), reports through a file or
 * a pipe and leaves with child_exit() and a status the parent checks.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/error.h"
#include "core/util.h"
#include "store/store.h"
#include "helpers.h"

#define WRITERS		8	/* processes in the concurrency test */
#define WRITES		200	/* transactions each */
#define COMMITTED	20	/* records committed before the crash */
#define UNCOMMITTED	30	/* records of the transaction killed */
#define NONCES		1000

static char *dir;

static void
setup(void)
{
	struct store *st = NULL;
	char err[512] = "";

	dir = th_tempdir();
	cr_assert_eq(store_open(dir, STORE_OPEN_CREATE, &st, err, sizeof(err)),
	    ANVIL_OK, "store_open: %s", err);
	store_close(st);
}

static void
teardown(void)
{
	th_rmrf(dir);
	free(dir);
	dir = NULL;
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------ helpers */

/*
 * First thing in a forked worker: it dies with the test process, and in
 * any case within a bound, so a failed test leaves nothing behind.
 */
static void
child_init(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(90);
}

/* Exit statuses of workers, so the parent can say what went wrong. */
enum {
	WK_OK = 0, WK_OPEN = 10, WK_RUN, WK_RANDOM, WK_REPORT, WK_SYNC, WK_CHECK
};

/*
 * A worker's status goes into a file as well as into its exit code: under
 * valgrind --trace-children the exit code of a forked worker says what
 * valgrind thought of the memory it inherited from the test, not how the
 * worker did.
 */
static void
child_exit(int code)
{
	char path[4096], c = (char)code;
	int fd;

	snprintf(path, sizeof(path), "%s/status-%ld", dir, (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (write(fd, &c, 1) != 1)
			code = WK_REPORT;
		close(fd);
	}
	_exit(code);
}

static struct store *
w_open(void)
{
	struct store *st = NULL;
	char err[512] = "";

	if (store_open(dir, 0, &st, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "worker %ld: store_open: %s\n", (long)getpid(),
		    err);
		child_exit(WK_OPEN);
	}
	return st;
}

/* Blocks until fd has a byte or is closed; 0 on a byte, -1 on EOF. */
static int
wait_fd(int fd)
{
	char c;
	ssize_t n;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

static void
signal_fd(int fd)
{
	char c = 'x';

	if (write(fd, &c, 1) != 1)
		child_exit(WK_SYNC);
}

/* Reads one byte from fd within timeout_ms; cr_asserts otherwise. */
static void
expect_byte(int fd, int timeout_ms, const char *what)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	cr_assert_eq(poll(&p, 1, timeout_ms), 1, "timed out waiting for %s",
	    what);
	cr_assert_eq(read(fd, &c, 1), 1, "%s: worker went away", what);
}

static void
expect_exit(pid_t pid, int want, const char *what)
{
	char path[4096], c = 0;
	int status = 0, fd;

	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "%s: killed by signal %d", what,
	    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	snprintf(path, sizeof(path), "%s/status-%ld", dir, (long)pid);
	fd = open(path, O_RDONLY);
	cr_assert(fd >= 0, "%s: left no status (exit %d)", what,
	    WEXITSTATUS(status));
	cr_assert_eq(read(fd, &c, 1), 1);
	close(fd);
	cr_assert_eq(c, want, "%s: status %d", what, c);
}

/* Waits up to ms for pid; 1 if it ended (status in *status), 0 if not. */
static int
wait_bounded(pid_t pid, int ms, int *status)
{
	int waited;

	for (waited = 0; waited < ms; waited += 10) {
		pid_t r = waitpid(pid, status, WNOHANG);

		cr_assert(r >= 0, "waitpid: %s", strerror(errno));
		if (r == pid)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* Runs fn in a transaction on a handle of the test process. */
static anvil_err
run(struct store *st, store_fn fn, void *arg)
{
	char err[512] = "";
	anvil_err rc = store_run(st, 0, fn, arg, err, sizeof(err));

	if (rc != ANVIL_OK)
		cr_log_info("store_run: %s", err);
	return rc;
}

struct cert_arg {
	const char *serial;
	const char *account;
	const char *counter;	/* bumped in the same transaction if set */
};

static anvil_err
put_cert(struct store_txn *t, void *arg)
{
	struct cert_arg *ca = arg;
	json_t *rec = json_pack("{s:s, s:s}", "account", ca->account,
	    "pem", "-----BEGIN CERTIFICATE-----");
	uint64_t v = 0;
	anvil_err rc;

	if (rec == NULL)
		return ANVIL_ERR_NOMEM;
	rc = store_put(t, STORE_CERT, ca->serial, rec, STORE_PUT_NEW);
	json_decref(rec);
	if (rc == ANVIL_OK && ca->counter != NULL)
		rc = store_counter_next(t, ca->counter, &v);
	return rc;
}

struct get_arg {
	enum store_kind kind;
	const char *id;
	anvil_err rc;
};

static anvil_err
get_one(struct store_txn *t, void *arg)
{
	struct get_arg *ga = arg;
	json_t *rec = NULL;

	ga->rc = store_get(t, ga->kind, ga->id, &rec);
	json_decref(rec);
	return ga->rc == ANVIL_ERR_NOTFOUND ? ANVIL_OK : ga->rc;
}

/* ANVIL_OK or ANVIL_ERR_NOTFOUND for cert serial, as seen by st. */
static anvil_err
cert_state(struct store *st, const char *serial)
{
	struct get_arg ga = { STORE_CERT, serial, ANVIL_ERR_STORE };

	cr_assert_eq(run(st, get_one, &ga), ANVIL_OK, "get %s", serial);
	return ga.rc;
}

struct count_arg {
	size_t n;
	json_t *seen;		/* set of ids, or NULL */
	uint64_t counter;
	const char *counter_name;
};

static anvil_err
count_cb(const char *id, json_t *rec, void *arg)
{
	struct count_arg *ca = arg;

	(void)rec;
	ca->n++;
	if (ca->seen != NULL)
		json_object_set_new(ca->seen, id, json_true());
	return ANVIL_OK;
}

static anvil_err
count_certs(struct store_txn *t, void *arg)
{
	struct count_arg *ca = arg;

	ca->n = 0;
	if (ca->seen != NULL)
		json_object_clear(ca->seen);
	if (ca->counter_name != NULL &&
	    store_counter_get(t, ca->counter_name, &ca->counter) != ANVIL_OK)
		return ANVIL_ERR_STORE;
	return store_each(t, STORE_CERT, count_cb, ca);
}

/* ------------------------------------------------------------ writers */

static void
writer(int id, int go)
{
	struct store *st = NULL;
	struct cert_arg ca;
	unsigned char rnd[16];
	char serial[33], account[16], path[4096], err[512] = "";
	FILE *out = NULL;
	anvil_err rc;
	int i;

	snprintf(account, sizeof(account), "acct-%d", id);
	snprintf(path, sizeof(path), "%s/writer-%d.txt", dir, id);
	if ((out = fopen(path, "w")) == NULL)
		child_exit(WK_REPORT);
	st = w_open();
	wait_fd(go);		/* everyone starts together */
	for (i = 0; i < WRITES; i++) {
		/* Chosen outside the transaction: a retry writes the same. */
		if (util_random(rnd, sizeof(rnd)) != ANVIL_OK)
			child_exit(WK_RANDOM);
		util_hex(rnd, sizeof(rnd), serial);
		ca.serial = serial;
		ca.account = account;
		ca.counter = "certs";
		rc = store_run(st, 0, put_cert, &ca, err, sizeof(err));
		if (rc != ANVIL_OK) {
			fprintf(stderr, "writer %d: %s: %s\n", id, serial,
			    err);
			child_exit(WK_RUN);
		}
		fprintf(out, "%s\n", serial);
	}
	store_close(st);
	if (fclose(out) != 0)
		child_exit(WK_REPORT);
	child_exit(WK_OK);
}

struct list_arg {
	const char *account;
	char **ids;
	size_t n;
};

static anvil_err
list_all(struct store_txn *t, void *arg)
{
	struct list_arg *la = arg;

	store_ids_free(la->ids, la->n);
	la->ids = NULL;
	la->n = 0;
	return store_list_by_account(t, STORE_CERT, la->account, NULL,
	    SIZE_MAX, &la->ids, &la->n);
}

Test(store, concurrent_writers_lose_nothing)
{
	struct store *st = NULL;
	struct count_arg ca = { 0 };
	pid_t pids[WRITERS];
	json_t *reported = NULL;
	char path[4096], line[128], account[16], err[512] = "";
	FILE *in = NULL;
	size_t lines = 0, n;
	int go[2], i;

	cr_assert_eq(pipe(go), 0);
	for (i = 0; i < WRITERS; i++) {
		pids[i] = fork();
		cr_assert(pids[i] >= 0);
		if (pids[i] == 0) {
			child_init();
			close(go[1]);
			writer(i, go[0]);
		}
	}
	close(go[0]);
	close(go[1]);		/* go */
	for (i = 0; i < WRITERS; i++)
		expect_exit(pids[i], WK_OK, "writer");
	reported = json_object();

	cr_assert_eq(store_open(dir, 0, &st, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	for (i = 0; i < WRITERS; i++) {
		struct list_arg la = { account, NULL, 0 };

		snprintf(path, sizeof(path), "%s/writer-%d.txt", dir, i);
		snprintf(account, sizeof(account), "acct-%d", i);
		in = fopen(path, "r");
		cr_assert_not_null(in, "%s", path);
		n = 0;
		while (fgets(line, sizeof(line), in) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			cr_assert_eq(strlen(line), 32, "serial %s", line);
			cr_assert_null(json_object_get(reported, line),
			    "serial %s reported twice", line);
			json_object_set_new(reported, line, json_true());
			cr_assert_eq(cert_state(st, line), ANVIL_OK,
			    "committed serial %s is missing", line);
			n++;
		}
		fclose(in);
		cr_assert_eq(n, WRITES, "writer %d reported %zu", i, n);
		lines += n;
		cr_assert_eq(run(st, list_all, &la), ANVIL_OK);
		cr_assert_eq(la.n, WRITES, "index of %s holds %zu", account,
		    la.n);
		store_ids_free(la.ids, la.n);
	}
	cr_assert_eq(lines, WRITERS * WRITES);

	ca.seen = json_object();
	ca.counter_name = "certs";
	cr_assert_eq(run(st, count_certs, &ca), ANVIL_OK);
	cr_assert_eq(ca.n, WRITERS * WRITES, "store holds %zu records", ca.n);
	cr_assert_eq(json_object_size(ca.seen), WRITERS * WRITES,
	    "no serial twice");
	cr_assert(json_equal(ca.seen, reported), "store holds what was "
	    "reported, nothing else");
	cr_assert_eq(ca.counter, WRITERS * WRITES, "counter %llu: an update "
	    "was lost", (unsigned long long)ca.counter);
	json_decref(ca.seen);
	json_decref(reported);
	store_close(st);
}

/* ------------------------------------------------------------ crash */

struct hang_arg {
	int ready;		/* fd: told once the writes are done */
};

static anvil_err
write_then_hang(struct store_txn *t, void *arg)
{
	struct hang_arg *ha = arg;
	struct cert_arg ca = { NULL, "acct-crash", "certs" };
	char serial[32];
	anvil_err rc;
	int i;

	for (i = 0; i < UNCOMMITTED; i++) {
		snprintf(serial, sizeof(serial), "uncommitted-%02d", i);
		ca.serial = serial;
		if ((rc = put_cert(t, &ca)) != ANVIL_OK)
			return rc;
	}
	signal_fd(ha->ready);
	for (;;)
		pause();	/* until SIGKILL */
	return ANVIL_OK;
}

/* Commits COMMITTED records durably, then dies inside a transaction. */
static void
crasher(int ready)
{
	struct store *st = w_open();
	struct cert_arg ca = { NULL, "acct-crash", "certs" };
	struct hang_arg ha = { ready };
	char serial[32], err[512] = "";
	int i;

	for (i = 0; i < COMMITTED; i++) {
		snprintf(serial, sizeof(serial), "committed-%02d", i);
		ca.serial = serial;
		if (store_run(st, 0, put_cert, &ca, err, sizeof(err)) !=
		    ANVIL_OK) {
			fprintf(stderr, "crasher: %s\n", err);
			child_exit(WK_RUN);
		}
	}
	store_run(st, 0, write_then_hang, &ha, err, sizeof(err));
	child_exit(WK_RUN);		/* not reached */
}

/* What a store must hold after the crasher died and recovery ran. */
static void
check_after_crash(struct store *st, uint64_t counter)
{
	struct count_arg ca = { 0 };
	struct cert_arg more = { "after-crash", "acct-crash", "certs" };
	char serial[32];
	int i;

	for (i = 0; i < COMMITTED; i++) {
		snprintf(serial, sizeof(serial), "committed-%02d", i);
		cr_assert_eq(cert_state(st, serial), ANVIL_OK,
		    "committed %s lost", serial);
	}
	for (i = 0; i < UNCOMMITTED; i++) {
		snprintf(serial, sizeof(serial), "uncommitted-%02d", i);
		cr_assert_eq(cert_state(st, serial), ANVIL_ERR_NOTFOUND,
		    "uncommitted %s survived", serial);
	}
	ca.counter_name = "certs";
	cr_assert_eq(run(st, count_certs, &ca), ANVIL_OK);
	cr_assert_eq(ca.n, COMMITTED);
	cr_assert_eq(ca.counter, counter, "counter %llu",
	    (unsigned long long)ca.counter);
	/* The locks of the dead transaction are gone: writing works. */
	cr_assert_eq(run(st, put_cert, &more), ANVIL_OK);
	cr_assert_eq(cert_state(st, "after-crash"), ANVIL_OK);
}

static pid_t
start_crasher(int *ready_rd)
{
	int ready[2];
	pid_t pid;

	cr_assert_eq(pipe(ready), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		child_init();
		close(ready[0]);
		crasher(ready[1]);
	}
	close(ready[1]);
	*ready_rd = ready[0];
	return pid;
}

static void
kill_crasher(pid_t pid, int ready_rd)
{
	int status = 0;

	expect_byte(ready_rd, 30000, "the crasher's uncommitted writes");
	cr_assert_eq(kill(pid, SIGKILL), 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "the crasher died of SIGKILL");
	close(ready_rd);
}

Test(store, killed_transaction_is_rolled_back)
{
	struct store *st = NULL;
	char err[512] = "";
	int ready = -1;
	pid_t pid;

	pid = start_crasher(&ready);
	kill_crasher(pid, ready);

	/* This open finds the dead process registered and recovers. */
	cr_assert_eq(store_open(dir, 0, &st, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	check_after_crash(st, COMMITTED);
	store_close(st);
	st = NULL;
	cr_assert_eq(store_open(dir, 0, &st, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	cr_assert_eq(cert_state(st, "after-crash"), ANVIL_OK, "durable");
	store_close(st);
}

/*
 * The machine went down with the crasher inside its transaction: the
 * shared regions on disk are from an earlier boot and cannot be trusted,
 * so the next open drops them and runs full recovery from the log.
 */
Test(store, killed_transaction_then_reboot_recovers_from_the_log)
{
	struct store *st = NULL;
	char err[512] = "", *p = NULL;
	FILE *f = NULL;
	int ready = -1;
	pid_t pid;

	pid = start_crasher(&ready);
	kill_crasher(pid, ready);

	cr_assert(asprintf(&p, "%s/store/anvil.boot", dir) > 0);
	f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs("an-earlier-boot", f);
	fclose(f);
	free(p);

	cr_assert_eq(store_open(dir, 0, &st, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	check_after_crash(st, COMMITTED);
	store_close(st);
}

/*
 * A process holding the store open the whole time: it is told to go on
 * after the recovery, and must carry on (its environment was panicked by
 * the recovery; store_run reopens it).
 */
static void
holder(int ready, int go)
{
	struct store *st = w_open();
	struct cert_arg ca = { "from-holder", "acct-holder", NULL };
	struct get_arg ga = { STORE_CERT, "committed-00", ANVIL_ERR_STORE };
	char err[512] = "";

	/* Use it once before the crash, so it holds a live environment. */
	ga.id = "nothing-yet";
	if (store_run(st, 0, get_one, &ga, err, sizeof(err)) != ANVIL_OK)
		child_exit(WK_RUN);
	signal_fd(ready);
	if (wait_fd(go) != 0)
		child_exit(WK_SYNC);
	ga.id = "committed-00";
	if (store_run(st, 0, get_one, &ga, err, sizeof(err)) != ANVIL_OK ||
	    ga.rc != ANVIL_OK) {
		fprintf(stderr, "holder: read after recovery: %s\n", err);
		child_exit(WK_CHECK);
	}
	if (store_run(st, 0, put_cert, &ca, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "holder: write after recovery: %s\n", err);
		child_exit(WK_RUN);
	}
	store_close(st);
	child_exit(WK_OK);
}

Test(store, killed_transaction_with_another_process_attached)
{
	struct store *st = NULL;
	char err[512] = "";
	int hready[2], hgo[2], ready = -1;
	pid_t hpid, pid;

	cr_assert_eq(pipe(hready), 0);
	cr_assert_eq(pipe(hgo), 0);
	hpid = fork();
	cr_assert(hpid >= 0);
	if (hpid == 0) {
		child_init();
		close(hready[0]);
		close(hgo[1]);
		holder(hready[1], hgo[0]);
	}
	close(hready[1]);
	close(hgo[0]);
	expect_byte(hready[0], 30000, "the holder");

	pid = start_crasher(&ready);
	kill_crasher(pid, ready);

	cr_assert_eq(store_open(dir, 0, &st, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	check_after_crash(st, COMMITTED);

	signal_fd(hgo[1]);
	expect_exit(hpid, WK_OK, "holder");
	cr_assert_eq(cert_state(st, "from-holder"), ANVIL_OK,
	    "the holder's write after recovery is visible");
	store_close(st);
	close(hready[0]);
	close(hgo[1]);
}

/*
 * A waiter blocked on a lock the killed transaction held: nothing in
 * Berkeley DB 5.3 wakes it. The next process to open the store finds the
 * dead one and recovers, and tells the waiter, whose watchdog ends it
 * within WAKE_S (2 s) as a crash would: exit 1, nothing of it committed.
 */
struct bump_arg {
	uint64_t val;
};

static anvil_err
bump(struct store_txn *t, void *arg)
{
	struct bump_arg *ba = arg;

	return store_counter_next(t, "certs", &ba->val);
}

static void
waiter(int ready, int go, int done)
{
	struct store *st = w_open();
	struct bump_arg ba = { 0 };
	char err[512] = "";

	/*
	 * Opened before the crasher's transaction: opening a database waits
	 * for a transaction that grew it, as any lock request does.
	 */
	signal_fd(ready);
	if (wait_fd(go) != 0)
		child_exit(WK_SYNC);
	/* Blocks on the counter the crasher's open transaction holds. */
	if (store_run(st, 0, bump, &ba, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "waiter: %s\n", err);
		child_exit(WK_RUN);
	}
	signal_fd(done);
	store_close(st);
	child_exit(ba.val == COMMITTED + 1 ? WK_OK : WK_CHECK);
}

Test(store, a_waiter_on_a_dead_transaction_leaves_after_recovery)
{
	struct store *st = NULL;
	struct pollfd pf;
	struct timespec t0, t1;
	char err[512] = "", c;
	int wready[2], wgo[2], wdone[2], ready = -1, status = 0;
	pid_t wpid, pid;

	cr_assert_eq(pipe(wready), 0);
	cr_assert_eq(pipe(wgo), 0);
	cr_assert_eq(pipe(wdone), 0);
	wpid = fork();
	cr_assert(wpid >= 0);
	if (wpid == 0) {
		child_init();
		close(wready[0]);
		close(wgo[1]);
		close(wdone[0]);
		waiter(wready[1], wgo[0], wdone[1]);
	}
	close(wready[1]);
	close(wgo[0]);
	close(wdone[1]);
	expect_byte(wready[0], 30000, "the waiter");

	pid = start_crasher(&ready);
	expect_byte(ready, 30000, "the crasher's uncommitted writes");
	signal_fd(wgo[1]);
	pf.fd = wdone[0];
	pf.events = POLLIN;
	cr_assert_eq(poll(&pf, 1, 300), 0, "the waiter is blocked");

	cr_assert_eq(kill(pid, SIGKILL), 0);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	close(ready);
	cr_assert_eq(poll(&pf, 1, 300), 0, "still blocked: nobody noticed");

	/* This open notices, recovers and tells the waiter. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(store_open(dir, 0, &st, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	cr_assert(wait_bounded(wpid, 10000, &status),
	    "the waiter is still blocked 10 s after the recovery");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1,
	    "the waiter's watchdog ended it (status 0x%x)", status);
	cr_assert_eq(poll(&pf, 1, 0), 1);
	cr_assert_eq(read(wdone[0], &c, 1), 0, "and it committed nothing");
	cr_log_info("the waiter left %.1f s after the recovery began",
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	check_after_crash(st, COMMITTED);
	close(wready[0]);
	close(wgo[1]);
	close(wdone[0]);
	store_close(st);
}

/*
 * Full recovery by another process (forced here the documented way, by
 * removing __db.register) panics the environment a holder has open; its
 * next store_run reopens it and goes on.
 */
Test(store, a_panicked_environment_is_reopened)
{
	struct store *st = NULL;
	struct cert_arg ca = { "committed-00", "acct-crash", NULL };
	char err[512] = "", *reg = NULL;
	int hready[2], hgo[2];
	pid_t hpid;

	cr_assert_eq(pipe(hready), 0);
	cr_assert_eq(pipe(hgo), 0);
	hpid = fork();
	cr_assert(hpid >= 0);
	if (hpid == 0) {
		child_init();
		close(hready[0]);
		close(hgo[1]);
		holder(hready[1], hgo[0]);
	}
	close(hready[1]);
	close(hgo[0]);
	expect_byte(hready[0], 30000, "the holder");

	cr_assert(asprintf(&reg, "%s/store/__db.register", dir) > 0);
	cr_assert_eq(unlink(reg), 0);
	cr_assert_eq(store_open(dir, 0, &st, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	cr_assert_eq(run(st, put_cert, &ca), ANVIL_OK);

	signal_fd(hgo[1]);
	expect_exit(hpid, WK_OK, "holder");
	cr_assert_eq(cert_state(st, "from-holder"), ANVIL_OK);
	store_close(st);
	close(hready[0]);
	close(hgo[1]);
	free(reg);
}

/* ------------------------------------------------------------ recovery fence */

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 +
	    (now.tv_nsec - t0->tv_nsec) / 1000000;
}

#define SLOW_MS		1000	/* the slow transaction's length */
#define SPAN_MS		2500	/* a span's, longer than WAKE_S (2 s) */

struct slow_arg {
	int inside;		/* pipe: a byte when inside the transaction */
	int runs;		/* how often the transaction ran */
};

/* Writes an EAB record (a file the crasher's locks do not touch). */
static anvil_err
quick_put(struct store_txn *t, void *arg)
{
	struct slow_arg *sa = arg;
	json_t *rec = json_pack("{s:s}", "hmac", "c2xvdw");
	anvil_err rc;

	if (rec == NULL)
		return ANVIL_ERR_NOMEM;
	rc = store_put(t, STORE_EAB, "slow-commit", rec, 0);
	json_decref(rec);
	sa->runs++;
	return rc;
}

/* The EAB record, says so, and SLOW_MS before the commit. */
static anvil_err
slow_put(struct store_txn *t, void *arg)
{
	struct slow_arg *sa = arg;
	anvil_err rc = quick_put(t, arg);

	if (rc != ANVIL_OK)
		return rc;
	if (sa->runs == 1)
		signal_fd(sa->inside);
	sleep_ms(SLOW_MS);
	return ANVIL_OK;
}

/* The EAB record, then reads for SPAN_MS (longer than WAKE_S): a long
 * call, as a CRL over many certificates is, that is not stuck. */
static anvil_err
long_put(struct store_txn *t, void *arg)
{
	struct slow_arg *sa = arg;
	struct timespec t0;
	json_t *rec = NULL;
	anvil_err rc = quick_put(t, arg);

	if (rc != ANVIL_OK)
		return rc;
	if (sa->runs == 1)
		signal_fd(sa->inside);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < SPAN_MS) {
		rc = store_get(t, STORE_ACCOUNT, "nobody", &rec);
		json_decref(rec);
		rec = NULL;
		if (rc != ANVIL_ERR_NOTFOUND)
			return rc;
		sleep_ms(1);
	}
	return ANVIL_OK;
}

/*
 * span 0: one slow transaction. span 2: a long one that goes through
 * records. span 1: a quick one inside a span
 * (store_hold), then SPAN_MS in the span but outside any store call, as a
 * request signing a certificate is, then store_idle.
 */
static void
slow_writer(int ready, int go, int inside, int done, int span)
{
	struct store *st = w_open();
	struct slow_arg sa = { inside, 0 };
	char err[512] = "";

	signal_fd(ready);
	if (wait_fd(go) != 0)
		child_exit(WK_SYNC);
	if (span)
		store_hold(st);
	if (store_run(st, 0, span == 2 ? long_put : span ? quick_put :
	    slow_put, &sa, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "slow writer: %s\n", err);
		child_exit(WK_RUN);
	}
	if (span == 1) {
		signal_fd(inside);
		sleep_ms(SPAN_MS);
		store_idle(st);
	}
	signal_fd(done);
	store_close(st);
	/* Twice would mean the recovery panicked it half-way. */
	child_exit(sa.runs == 1 ? WK_OK : WK_CHECK);
}

/*
 * A recovery does not start while another process is inside a store
 * call: Berkeley DB would let that process go on writing the log through
 * the old regions while recovery rebuilds them, and a commit its client
 * was told of could be lost (tests/RELIABILITY.md). Here the next opener
 * finds a dead process while a healthy one is SLOW_MS into a transaction:
 * the open must wait for that commit, which must go through once, in the
 * old environment, and survive the recovery.
 */
static void
recovery_waits(int span)
{
	struct store *st = NULL;
	struct get_arg ga = { STORE_EAB, "slow-commit", ANVIL_ERR_STORE };
	struct pollfd pf;
	struct timespec t0;
	char err[512] = "";
	int wready[2], wgo[2], winside[2], wdone[2], ready = -1;
	long took;
	pid_t wpid, pid;

	cr_assert_eq(pipe(wready), 0);
	cr_assert_eq(pipe(wgo), 0);
	cr_assert_eq(pipe(winside), 0);
	cr_assert_eq(pipe(wdone), 0);
	wpid = fork();
	cr_assert(wpid >= 0);
	if (wpid == 0) {
		child_init();
		close(wready[0]);
		close(wgo[1]);
		close(winside[0]);
		close(wdone[0]);
		slow_writer(wready[1], wgo[0], winside[1], wdone[1], span);
	}
	close(wready[1]);
	close(wgo[0]);
	close(winside[1]);
	close(wdone[1]);
	expect_byte(wready[0], 30000, "the slow writer");

	pid = start_crasher(&ready);
	kill_crasher(pid, ready);
	signal_fd(wgo[1]);
	expect_byte(winside[0], 30000, "the slow writer's transaction");

	/* This open finds the dead crasher: it must wait for the writer. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(store_open(dir, 0, &st, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	took = ms_since(&t0);
	pf.fd = wdone[0];
	pf.events = POLLIN;
	cr_assert_eq(poll(&pf, 1, 0), 1, "the open that recovered returned "
	    "after %ld ms, before the transaction under way committed", took);
	cr_log_info("the recovering open waited %ld ms for the commit", took);
	expect_exit(wpid, WK_OK, "slow writer");
	cr_assert_eq(run(st, get_one, &ga), ANVIL_OK);
	cr_assert_eq(ga.rc, ANVIL_OK, "the commit under way survived");
	check_after_crash(st, COMMITTED);
	store_close(st);
	close(wready[0]);
	close(wgo[1]);
	close(winside[0]);
	close(wdone[0]);
}

Test(store, a_recovery_waits_for_a_transaction_under_way)
{
	recovery_waits(0);
}

/* The same for a span of calls (store_hold .. store_idle): the recovery
 * waits for its end, and the process is not ended for being in it. */
Test(store, a_recovery_waits_for_a_span_of_calls)
{
	recovery_waits(1);
}

/* And for a call longer than WAKE_S that goes through records: told, it
 * is not taken for one stuck on a dead process's mutex. */
Test(store, a_recovery_waits_for_a_long_call_that_makes_progress)
{
	recovery_waits(2);
}

#define STREAMERS	3	/* workers keeping the fence shared */
#define STREAM_MS	20	/* each of their transactions */
#define RECOVER_WAIT_MS	10000	/* the recovering open must be through */

static anvil_err
slow_read(struct store_txn *t, void *arg)
{
	struct get_arg *ga = arg;
	anvil_err rc = get_one(t, ga);

	sleep_ms(STREAM_MS);
	return rc;
}

/* Transactions back to back, overlapping the others', until stop closes. */
static void
streamer(int ready, int stop)
{
	struct store *st = w_open();
	struct get_arg ga = { STORE_ACCOUNT, "nobody", ANVIL_ERR_STORE };
	struct pollfd pf = { .fd = stop, .events = POLLIN };
	char err[512] = "";
	int told = 0;

	for (;;) {
		if (store_run(st, 0, slow_read, &ga, err, sizeof(err)) !=
		    ANVIL_OK) {
			fprintf(stderr, "streamer: %s\n", err);
			child_exit(WK_RUN);
		}
		if (!told) {
			signal_fd(ready);
			told = 1;
		}
		if (poll(&pf, 1, 0) == 1)
			break;	/* closed: stop */
	}
	store_close(st);
	child_exit(WK_OK);
}

/* Opens (and so recovers), then says how long that took. */
static void
recoverer(int out)
{
	struct timespec t0;
	struct store *st;
	long took;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	st = w_open();
	took = ms_since(&t0);
	if (write(out, &took, sizeof(took)) != (ssize_t)sizeof(took))
		child_exit(WK_SYNC);
	store_close(st);
	child_exit(WK_OK);
}

/*
 * A flock waiter does not hold off new shared holders: without the gate, a
 * stream of overlapping transactions would keep the recovering opener
 * waiting for as long as the stream lasts. With it, the opener waits for
 * the transactions under way only; the streamers then reopen and go on.
 */
Test(store, a_stream_of_transactions_does_not_hold_off_a_recovery)
{
	struct pollfd pf;
	int ready[STREAMERS][2], stop[2], out[2], cready = -1, status = 0, i;
	long took = -1;
	pid_t sp[STREAMERS], rp, pid;

	cr_assert_eq(pipe(stop), 0);
	for (i = 0; i < STREAMERS; i++) {
		cr_assert_eq(pipe(ready[i]), 0);
		sp[i] = fork();
		cr_assert(sp[i] >= 0);
		if (sp[i] == 0) {
			child_init();
			close(ready[i][0]);
			close(stop[1]);
			streamer(ready[i][1], stop[0]);
		}
		close(ready[i][1]);
		/* Started one after the other, so their calls overlap. */
		expect_byte(ready[i][0], 30000, "a streamer");
		sleep_ms(STREAM_MS / STREAMERS);
	}
	close(stop[0]);
	pid = start_crasher(&cready);
	kill_crasher(pid, cready);

	cr_assert_eq(pipe(out), 0);
	rp = fork();
	cr_assert(rp >= 0);
	if (rp == 0) {
		child_init();
		close(out[0]);
		recoverer(out[1]);
	}
	close(out[1]);
	pf.fd = out[0];
	pf.events = POLLIN;
	if (poll(&pf, 1, RECOVER_WAIT_MS) != 1) {
		kill(rp, SIGKILL);
		waitpid(rp, &status, 0);
		cr_assert_fail("the recovering open was held off for %d ms",
		    RECOVER_WAIT_MS);
	}
	cr_assert_eq(read(out[0], &took, sizeof(took)),
	    (ssize_t)sizeof(took));
	cr_log_info("the recovering open took %ld ms", took);
	expect_exit(rp, WK_OK, "recoverer");
	close(out[0]);
	close(stop[1]);		/* the streamers stop */
	for (i = 0; i < STREAMERS; i++) {
		expect_exit(sp[i], WK_OK, "streamer");
		close(ready[i][0]);
	}
}

/* ------------------------------------------------------------ random kills */

#define KILL_ROUNDS	20	/* hammers killed */
#define KILL_BUDGET_S	45	/* the rounds stop after this long */
#define PROBE_WAIT_MS	20000	/* the next opener must be through by then */
#define BYSTANDERS	2	/* long-lived workers beside the hammer */
#define BYSTANDER_WAIT_MS 10000	/* to go on or leave after a recovery */

/*
 * Loops in and out of the library as fast as it can: opens, writes a
 * record and bumps a counter in one transaction (sync and nosync commits),
 * reads, closes, and again, so that a SIGKILL at a random instant often
 * lands with a region, buffer or log mutex held, not only inside a
 * transaction.
 */
static void
hammer(int ready)
{
	struct cert_arg ca = { NULL, "acct-hammer", "certs" };
	struct get_arg ga = { STORE_CERT, NULL, ANVIL_ERR_STORE };
	unsigned char rnd[8];
	char serial[17], err[512] = "";
	struct store *st;
	int i, told = 0;

	for (;;) {
		st = w_open();
		for (i = 0; i < 20; i++) {
			if (util_random(rnd, sizeof(rnd)) != ANVIL_OK)
				child_exit(WK_RANDOM);
			util_hex(rnd, sizeof(rnd), serial);
			ca.serial = serial;
			ga.id = serial;
			if (store_run(st, (i & 1) ? STORE_TXN_NOSYNC : 0,
			    put_cert, &ca, err, sizeof(err)) != ANVIL_OK ||
			    store_run(st, 0, get_one, &ga, err,
			    sizeof(err)) != ANVIL_OK) {
				fprintf(stderr, "hammer: %s\n", err);
				child_exit(WK_RUN);
			}
			if (!told) {
				signal_fd(ready);
				told = 1;
			}
		}
		store_close(st);
	}
}

/*
 * A long-lived worker, as a FastCGI process is: uses the store in a loop
 * and writes a byte to beat after each transaction (never blocking on it).
 */
static void
bystander(int beat)
{
	struct store *st = w_open();
	struct cert_arg ca = { NULL, "acct-bystander", "certs" };
	unsigned char rnd[8];
	char serial[17], err[512] = "", c = 'b';

	for (;;) {
		if (util_random(rnd, sizeof(rnd)) != ANVIL_OK)
			child_exit(WK_RANDOM);
		util_hex(rnd, sizeof(rnd), serial);
		ca.serial = serial;
		if (store_run(st, STORE_TXN_NOSYNC, put_cert, &ca, err,
		    sizeof(err)) != ANVIL_OK) {
			fprintf(stderr, "bystander: %s\n", err);
			child_exit(WK_RUN);
		}
		if (write(beat, &c, 1) < 0 && errno != EAGAIN)
			child_exit(WK_SYNC);
	}
}

static pid_t
start_bystander(int *beat_rd)
{
	int p[2];
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	cr_assert_eq(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		child_init();
		close(p[0]);
		bystander(p[1]);
	}
	close(p[1]);
	*beat_rd = p[0];
	return pid;
}

/*
 * After a recovery a bystander must either go on (a beat within ms) or
 * have left through its watchdog (exit 1), in which case it is replaced,
 * as a web server replaces a worker. Returns 1 if it left.
 */
static int
bystander_check(pid_t *pid, int *beat_rd, int ms, int kill_no)
{
	char buf[512];
	struct pollfd p;
	struct timespec t0, now;
	ssize_t n;
	int status = 0;

	while (read(*beat_rd, buf, sizeof(buf)) > 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		p.fd = *beat_rd;
		p.events = POLLIN;
		if (poll(&p, 1, 10) == 1) {
			n = read(*beat_rd, buf, 1);
			if (n == 1)
				return 0;
			if (n == 0)
				break;	/* it is gone: reap it below */
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000 +
		    (now.tv_nsec - t0.tv_nsec) / 1000000 >= ms) {
			cr_assert_fail("kill %d: a bystander neither went on "
			    "nor left within %d ms", kill_no, ms);
		}
	}
	cr_assert_eq(waitpid(*pid, &status, 0), *pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1,
	    "kill %d: a bystander ended with status 0x%x", kill_no, status);
	close(*beat_rd);
	*pid = start_bystander(beat_rd);
	return 1;
}

/* One whole use of the store, as the next CGI process would make. */
static void
prober(void)
{
	struct store *st = w_open();
	struct cert_arg ca = { NULL, "acct-probe", "certs" };
	unsigned char rnd[8];
	char serial[17], err[512] = "";

	if (util_random(rnd, sizeof(rnd)) != ANVIL_OK)
		child_exit(WK_RANDOM);
	util_hex(rnd, sizeof(rnd), serial);
	ca.serial = serial;
	if (store_run(st, 0, put_cert, &ca, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "prober: %s\n", err);
		child_exit(WK_RUN);
	}
	store_close(st);
	child_exit(WK_OK);
}

/*
 * A process SIGKILLed anywhere inside Berkeley DB (holding a region or
 * buffer mutex, registering, writing the log) must not leave the store
 * blocked: the next process to open it gets through within a bound, every
 * committed record is still there and the counter bumped with each record
 * agrees with the records.
 */
Test(store, random_kills_inside_the_library_never_block_the_next_opener,
    .timeout = 180)
{
	struct count_arg ca = { 0 };
	struct store *st = NULL;
	struct timespec t0, now;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	char err[512] = "";
	int round, ready[2], status, kills = 0, left = 0, i;
	int beat[BYSTANDERS];
	pid_t hp, pp, bp[BYSTANDERS];

	cr_log_info("seed %u", seed);
	srand(seed);
	for (i = 0; i < BYSTANDERS; i++)
		bp[i] = start_bystander(&beat[i]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (round = 0; round < KILL_ROUNDS; round++) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= KILL_BUDGET_S)
			break;
		cr_assert_eq(pipe(ready), 0);
		hp = fork();
		cr_assert(hp >= 0);
		if (hp == 0) {
			child_init();
			close(ready[0]);
			hammer(ready[1]);
		}
		close(ready[1]);
		/* Running: the first write is in. Then a random instant. */
		expect_byte(ready[0], PROBE_WAIT_MS, "the hammer's first write");
		close(ready[0]);
		usleep((useconds_t)(rand() % 30000));
		cr_assert_eq(kill(hp, SIGKILL), 0);
		cr_assert_eq(waitpid(hp, &status, 0), hp);
		kills++;

		pp = fork();
		cr_assert(pp >= 0);
		if (pp == 0) {
			child_init();
			prober();
		}
		if (!wait_bounded(pp, PROBE_WAIT_MS, &status)) {
			kill(pp, SIGKILL);
			waitpid(pp, NULL, 0);
			cr_assert_fail("kill %d: the next opener was still "
			    "blocked after %d ms (seed %u)", kills,
			    PROBE_WAIT_MS, seed);
		}
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == WK_OK,
		    "kill %d: the next opener failed (status 0x%x, seed %u)",
		    kills, status, seed);
		for (i = 0; i < BYSTANDERS; i++)
			left += bystander_check(&bp[i], &beat[i],
			    BYSTANDER_WAIT_MS, kills);
	}
	for (i = 0; i < BYSTANDERS; i++) {
		kill(bp[i], SIGKILL);
		waitpid(bp[i], NULL, 0);
		close(beat[i]);
	}
	cr_log_info("%d hammers killed; bystanders that left stuck: %d",
	    kills, left);
	cr_assert_geq(kills, 10);

	cr_assert_eq(store_open(dir, 0, &st, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	ca.counter_name = "certs";
	cr_assert_eq(run(st, count_certs, &ca), ANVIL_OK);
	cr_assert_eq(ca.counter, (uint64_t)ca.n,
	    "%zu certificate records, counter %llu", ca.n,
	    (unsigned long long)ca.counter);
	cr_assert_geq(ca.n, (size_t)kills, "each round committed something");
	store_close(st);
}

/* ------------------------------------------------------------ nonces */

static void
spender(int id, int go)
{
	struct store *st = NULL;
	char path[4096], nonce[32];
	time_t exp = time(NULL) + 600;
	FILE *out = NULL;
	anvil_err rc;
	int i;

	snprintf(path, sizeof(path), "%s/spender-%d.txt", dir, id);
	if ((out = fopen(path, "w")) == NULL)
		child_exit(WK_REPORT);
	st = w_open();
	wait_fd(go);
	for (i = 0; i < NONCES; i++) {
		snprintf(nonce, sizeof(nonce), "nonce-%04d", i);
		rc = store_nonce_spend(st, (unsigned char *)nonce,
		    strlen(nonce), exp);
		if (rc != ANVIL_OK && rc != ANVIL_ERR_EXISTS) {
			fprintf(stderr, "spender %d: %s: %s\n", id, nonce,
			    anvil_strerror(rc));
			child_exit(WK_RUN);
		}
		fprintf(out, "%d %d\n", i, rc == ANVIL_OK);
	}
	store_close(st);
	if (fclose(out) != 0)
		child_exit(WK_REPORT);
	child_exit(WK_OK);
}

Test(store, a_nonce_is_spent_once_across_processes)
{
	static int ok[NONCES];
	char path[4096];
	FILE *in = NULL;
	pid_t pids[2];
	int go[2], i, idx, won, wins[2] = { 0, 0 };

	cr_assert_eq(pipe(go), 0);
	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		cr_assert(pids[i] >= 0);
		if (pids[i] == 0) {
			child_init();
			close(go[1]);
			spender(i, go[0]);
		}
	}
	close(go[0]);
	close(go[1]);
	for (i = 0; i < 2; i++)
		expect_exit(pids[i], WK_OK, "spender");
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/spender-%d.txt", dir, i);
		in = fopen(path, "r");
		cr_assert_not_null(in);
		while (fscanf(in, "%d %d", &idx, &won) == 2) {
			cr_assert(idx >= 0 && idx < NONCES);
			ok[idx] += won;
			wins[i] += won;
		}
		fclose(in);
	}
	for (i = 0; i < NONCES; i++)
		cr_assert_eq(ok[i], 1, "nonce %d spent %d times", i, ok[i]);
	cr_log_info("spender wins: %d and %d", wins[0], wins[1]);
}

/*
 * Nonce spends commit without a flush, so the recovery after a death can
 * drop a spend another process made (a replay then passed: crash.py's
 * replay check). The recovering opener raises the nonce floor to its own
 * time, every open reads it, and src/acme/nonce.c refuses the nonces
 * issued at or before it; an open without a recovery leaves it alone.
 */
Test(store, a_recovery_raises_the_nonce_floor_past_every_spend_before_it)
{
	struct store *st = NULL;
	char err[512] = "", *p = NULL;
	int64_t created, spent = 0;
	pid_t spender_pid, victim;
	int rep[2], hold[2];
	FILE *f;

	cr_assert_eq(store_open(dir, 0, &st, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	created = store_nonce_floor(st);
	store_close(st);
	cr_assert_eq(created, 0, "a new store had no spend to lose");
	cr_assert_eq(pipe(rep), 0);
	cr_assert_eq(pipe(hold), 0);
	if ((spender_pid = fork()) == 0) {
		struct store *s;
		int64_t t;

		child_init();
		close(rep[0]);
		close(hold[1]);
		s = w_open();
		t = util_now_ms();
		if (store_nonce_spend(s, (const unsigned char *)"lost", 4,
		    time(NULL) + 600) != ANVIL_OK ||
		    write(rep[1], &t, sizeof(t)) != sizeof(t))
			child_exit(WK_RUN);
		wait_fd(hold[0]);	/* keeps the store open meanwhile */
		store_close(s);
		child_exit(WK_OK);
	}
	cr_assert(spender_pid > 0);
	close(rep[1]);
	close(hold[0]);
	cr_assert_eq(read(rep[0], &spent, sizeof(spent)), sizeof(spent));
	/* A clean open and close in between changes nothing. */
	cr_assert_eq(store_open(dir, 0, &st, err, sizeof(err)), ANVIL_OK);
	cr_assert_eq(store_nonce_floor(st), created);
	store_close(st);
	if ((victim = fork()) == 0) {
		child_init();
		(void)w_open();
		pause();
		child_exit(WK_OK);
	}
	cr_assert(victim > 0);
	usleep(300000);		/* it has the store open */
	kill(victim, SIGKILL);
	cr_assert_eq(waitpid(victim, NULL, 0), victim);
	cr_assert_eq(store_open(dir, 0, &st, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	cr_expect(store_nonce_floor(st) >= spent && spent > 0, "floor %lld, "
	    "spent at %lld", (long long)store_nonce_floor(st),
	    (long long)spent);
	created = store_nonce_floor(st);
	store_close(st);
	/* A CGI request's deferred store reads the same floor unopened. */
	st = NULL;
	cr_assert_eq(store_open(dir, STORE_OPEN_DEFER, &st, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_expect_eq((long long)store_nonce_floor(st), (long long)created);
	store_close(st);
	close(hold[1]);
	expect_exit(spender_pid, WK_OK, "spender");
	close(rep[0]);

	/* A floor file that is not a time is a damaged store, named. */
	cr_assert(asprintf(&p, "%s/store/nonce.floor", dir) > 0);
	f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs("yesterday\n", f);
	fclose(f);
	st = NULL;
	cr_expect_eq(store_open(dir, 0, &st, err, sizeof(err)),
	    ANVIL_ERR_CORRUPT);
	cr_expect(strstr(err, "nonce.floor") != NULL, "%s", err);
	store_close(st);
	free(p);
}
