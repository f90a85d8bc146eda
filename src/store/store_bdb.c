/*
 * store_bdb.c - the store interface on a transactional Berkeley DB 5.3
 * environment.
 *
 * DESCRIPTION
 *	The environment lives in data_dir/store and is shared by every process
 *	of the CA (web-server workers, anvil-admin, anvil-crl), one handle per
 *	process. It is opened with transactions, locking, logging and a shared
 *	memory pool, and with DB_REGISTER|DB_RECOVER|DB_FAILCHK: the first
 *	process to open it after another died holding it runs recovery
 *	(forced, see the watchdog section), which panics the handles of the
 *	processes still attached; their next store_run() reopens once and
 *	carries on, and the watchdog ends those that were stuck on a mutex
 *	of the dead process. The shared regions
 *	of an earlier boot are removed before the first open of a boot, so that
 *	they are never trusted. Each record kind is one btree file keyed by id
 *	holding compact JSON; index files map a thumbprint to its account, an
 *	account to its orders, authorizations and certificates (sorted
 *	duplicates), an account and identifier to its authorizations, and list
 *	the revoked certificates. Every file carries page checksums; meta.db
 *	holds the marker that says the folder is an Anvil store and which
 *	layout it uses. Berkeley DB return codes are sorted into anvil_err in
 *	one place (bdb_sort); a lost deadlock makes store_run() retry the whole
 *	transaction. This is the only file that includes <db.h>.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <db.h>
#include <jansson.h>

#include "core/error.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#define STORE_SUBDIR	"store"		/* environment home under data_dir */
#define STORE_MAGIC	"anvil-store"	/* meta record "magic" */
#define META_KEY	"anvil"		/* key of the meta record */
#define META_MAX	4096		/* largest meta record we read */
#define ID_MAX		128		/* record ids: 1..ID_MAX printable */
#define THUMB_MAX	256		/* JWK thumbprint string */
#define IDTYPE_MAX	16		/* identifier "type" */
#define IDVALUE_MAX	1024		/* identifier "value" */
#define COUNTER_MAX	64		/* counter names */
#define NONCE_MAX	64		/* nonce bytes */
#define RECORD_MAX	(1024 * 1024)	/* largest serialised record */
#define TRIES_MAX	50		/* store_run attempts on deadlock */
#define BACKOFF_US	500		/* back-off unit, microseconds */
#define PURGE_BATCH	1000		/* nonces deleted per transaction */
#define PURGE_VISIT	10000		/* nonces looked at per transaction */
#define LOCK_FILE	"anvil.lock"	/* serialises opens (flock) */
#define CKP_LOCK	"checkpoint.lock"	/* one checkpointer at a time */
#define FENCE_FILE	"recovery.lock"	/* store calls share, recovery alone */
#define GATE_FILE	"recovery.gate"	/* passed to get a share of it */
#define BOOT_FILE	"anvil.boot"	/* boot id the regions belong to */
#define BOOT_ID		"/proc/sys/kernel/random/boot_id"
#define FILE_MODE	0600
#define DIR_MODE	0700

/* Environment sizing: a few dozen processes, small records. */
#define CACHE_BYTES	(8U * 1024 * 1024)
#define LK_MAX_LOCKS	20000
#define LK_MAX_LOCKERS	2000
#define LK_MAX_OBJECTS	20000
#define TX_MAX		200
#define LOCK_TIMEOUT_US	(10U * 1000 * 1000)	/* a lock wait longer than
						 * this loses, and is retried */
#define CKP_KBYTES	8192	/* checkpoint after this much log ... */
#define CKP_MINUTES	5	/* ... or this long */
#define THREAD_COUNT	256	/* processes tracked for failchk */
#define OPEN_TRIES	5	/* store_open attempts when panicked */
#define REG_TIMEOUT_US	25000	/* recovery lets attached processes see
				 * the panic this long, twice */

#define ENV_FLAGS	(DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | \
			 DB_INIT_LOG | DB_INIT_MPOOL | DB_REGISTER | \
			 DB_RECOVER | DB_FAILCHK)

/* The database files; the first STORE_KIND__MAX follow enum store_kind. */
enum dbi {
	DBI_ACCOUNT = 0,
	DBI_ORDER,
	DBI_AUTHZ,
	DBI_CHALLENGE,
	DBI_CERT,
	DBI_EAB,		/* EAB key id -> key record */
	DBI_POLICY,		/* policy id -> allow/deny lists */
	DBI_VALQ,		/* challenge id -> queued validation */
	DBI_THUMBPRINT,		/* thumbprint -> account id (unique) */
	DBI_ACCT_ORDERS,	/* account id -> order ids (sorted dups) */
	DBI_ACCT_AUTHZ,		/* account id -> authz ids (sorted dups) */
	DBI_ACCT_CERTS,		/* account id -> cert serials (sorted dups) */
	DBI_ACCT_IDENT,		/* account\0type\0value -> authz ids (dups) */
	DBI_REVOKED,		/* serial -> "1" */
	DBI_COUNTERS,		/* name -> 8 bytes big-endian */
	DBI_NONCES,		/* nonce bytes -> expiry, 8 bytes big-endian */
	DBI_META,		/* META_KEY -> {"format":..,"magic":..} */
	DBI__MAX
};

_Static_assert((int)DBI_ACCOUNT == (int)STORE_ACCOUNT &&
    (int)DBI_ORDER == (int)STORE_ORDER && (int)DBI_AUTHZ == (int)STORE_AUTHZ &&
    (int)DBI_CHALLENGE == (int)STORE_CHALLENGE &&
    (int)DBI_CERT == (int)STORE_CERT && (int)DBI_EAB == (int)STORE_EAB &&
    (int)DBI_POLICY == (int)STORE_POLICY &&
    (int)DBI_VALQ == (int)STORE_VALQ &&
    (int)DBI_THUMBPRINT ==
    (int)STORE_KIND__MAX, "record kinds and database files out of step");

static const struct db_desc {
	const char *file;
	u_int32_t flags;	/* DB->set_flags besides DB_CHKSUM */
	int late;		/* added after format 1: created when an
				 * existing store lacks it */
} db_desc[DBI__MAX] = {
	[DBI_ACCOUNT] = { "accounts.db", 0 },
	[DBI_ORDER] = { "orders.db", 0 },
	[DBI_AUTHZ] = { "authz.db", 0 },
	[DBI_CHALLENGE] = { "challenges.db", 0 },
	[DBI_CERT] = { "certs.db", 0 },
	[DBI_EAB] = { "eab.db", 0 },
	[DBI_POLICY] = { "policy.db", 0 },
	[DBI_VALQ] = { "valq.db", 0, 1 },
	[DBI_THUMBPRINT] = { "idx_thumbprint.db", 0 },
	[DBI_ACCT_ORDERS] = { "idx_account_orders.db", DB_DUP | DB_DUPSORT },
	[DBI_ACCT_AUTHZ] = { "idx_account_authz.db", DB_DUP | DB_DUPSORT },
	[DBI_ACCT_CERTS] = { "idx_account_certs.db", DB_DUP | DB_DUPSORT },
	[DBI_ACCT_IDENT] = { "idx_authz_identifier.db", DB_DUP | DB_DUPSORT },
	[DBI_REVOKED] = { "idx_revoked.db", 0 },
	[DBI_COUNTERS] = { "counters.db", 0 },
	[DBI_NONCES] = { "nonces.db", 0 },
	[DBI_META] = { "meta.db", 0 },
};

struct store {
	DB_ENV *env;		/* NULL after a failed reopen */
	DB *db[DBI__MAX];
	char *home;		/* data_dir/store */
	dev_t dev;		/* of home: one handle per process */
	ino_t ino;
	pid_t pid;		/* process that opened it */
	int checksum_bad;	/* Berkeley DB reported a checksum error */
	int closing;		/* in env_detach: its complaints are debug */
	uint64_t rnd;		/* back-off generator state */
	anvil_err msg_code;	/* code msg explains */
	char msg[320];		/* last failure, for store_run's err */
	char bdbmsg[256];	/* last message from Berkeley DB */
	struct store *next;	/* open stores of this process */
	int dirty;		/* this process wrote since its last checkpoint */
	unsigned commits;	/* commits since this process's last checkpoint */
	time_t last_ckp;	/* when this process last checkpointed */
	int ckp_due;		/* store_maintain should try one */
	int proc_fd;		/* flock on home/procs/PID, or -1 */
	int fence_fd;		/* home/FENCE_FILE, or -1 */
	int gate_fd;		/* home/GATE_FILE, or -1 */
	int fence_held;		/* 0, LOCK_SH or LOCK_EX on fence_fd */
	int hold;		/* in store_hold: calls keep their share */
	int created;		/* this handle made the store: checkpoint */
	int saw_panic;		/* Berkeley DB said PANIC (a recovery ran) */
};

struct store_txn {
	struct store *st;
	DB_TXN *txn;
	int deadlock;		/* lost a deadlock: abort and retry */
	int fatal;		/* environment panicked: reopen */
	int corrupt;		/* damaged file or record */
};

/* What one record contributes to the indexes (strings borrowed). */
struct idx {
	const char *thumb;	/* STORE_ACCOUNT */
	const char *account;	/* STORE_ORDER, STORE_AUTHZ, STORE_CERT */
	char *ident;		/* STORE_AUTHZ: account\0type\0value (owned) */
	size_t identlen;
	int revoked;		/* STORE_CERT */
};

static struct store *open_stores;	/* this process's handles */
static pid_t self_pid;			/* getpid(), cached; 0 after fork */

static anvil_err fail(struct store *, anvil_err, const char *, ...)
	__attribute__((format(printf, 3, 4)));
static char *home_file(const struct store *, const char *);

/*
 * This process's id. A store call asks several times (is the handle this
 * process's? is the watchdog?), and each getpid is a system call; the
 * cache is dropped in a forked child (pthread_atfork, from store_open).
 */
static void
self_forked(void)
{
	self_pid = 0;
}

static pid_t
self(void)
{
	if (self_pid == 0)
		self_pid = getpid();
	return self_pid;
}

/* ------------------------------------------------------------ watchdog */

/*
 * Berkeley DB 5.3's mutexes are not robust. A process killed while it
 * holds one (a region, buffer or log mutex, or a page lock another process
 * waits for) leaves whoever waits for it blocked for good: nothing in the
 * library wakes them, and DB_FAILCHK neither sees such mutexes nor
 * avoids blocking on them. So a death is found first by our own list of
 * processes (home/procs, below), and the opener that finds it removes
 * __db.register, which makes Berkeley DB run full recovery: everyone
 * after that works in a new environment. (Berkeley DB's registry alone
 * also reports processes that were just closing cleanly as dead; those
 * go to failchk, which is harmless for them.) The watchdog gets the processes
 * stuck in the old one out. A store call (open, one attempt of a
 * transaction, close) still running after STALL_S seconds, or WAKE_S
 * seconds after the process that recovered said so, ends the process as
 * a crash would: a web server starts a new worker, a tool exits 1.
 *
 * Who to tell: every process with the store open holds an flock on
 * home/procs/PID. The process whose open made new regions (recovery, or a
 * new store) signals each holder that catches WD_SIGNAL (Anvil's
 * programs; not db5.3_* utilities).
 * Berkeley DB's own registry cannot be used for this: a process that
 * closes a panicked handle blanks its old slot, which after a recovery
 * may be another process's new one.
 */
#define WD_SIGNAL	(SIGRTMIN + 4)
#define STALL_S		60	/* no store call takes this long */
#define WAKE_S		2	/* to leave a recovered environment */

static timer_t wd_timer;
static pid_t wd_pid;			/* process wd_timer was made for */
static volatile sig_atomic_t wd_busy;	/* inside a store call */
static volatile sig_atomic_t wd_inlib;	/* in the library, in the fence */
static volatile sig_atomic_t wd_told;	/* a recovery is waiting for this call */
static volatile sig_atomic_t wd_progress;	/* records this call went through */
						/* (from 0 at each wd_enter) */
static volatile sig_atomic_t wd_seen;	/* wd_progress when last looked at */
static volatile sig_atomic_t wd_deadline;	/* CLOCK_MONOTONIC s: STALL_S */

/* Seconds of CLOCK_MONOTONIC (async-signal-safe). */
static long
wd_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (long)ts.tv_sec;
}

/* A record read, written or passed over: the call is not stuck. */
static void
wd_tick(void)
{
	wd_progress = wd_progress + 1;
}

static void
wd_arm(long seconds)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = seconds;
	(void)timer_settime(wd_timer, 0, &its, NULL);
}

/*
 * Async-signal-safe: write, _exit, clock_gettime, timer_gettime,
 * timer_settime.
 */
static void
wd_handler(int sig, siginfo_t *si, void *uc)
{
	static const char msg[] = "anvil: store: stuck inside Berkeley DB "
	    "(a process died holding the store; it was recovered); "
	    "leaving\n";
	struct itimerspec cur;
	long left;
	int saved = errno;

	(void)sig;
	(void)uc;
	if (wd_busy && wd_pid == getpid()) {
		if (si->si_code == SI_TIMER) {
			/*
			 * Told, and the call went through records since: a
			 * long call (a CRL, an inventory), not one stuck on
			 * a dead process's mutex. WAKE_S more, up to STALL_S
			 * from its start.
			 */
			left = (long)wd_deadline - wd_now();
			if (wd_told && wd_progress != wd_seen && left > 0) {
				wd_seen = wd_progress;
				wd_arm(left < WAKE_S ? left : WAKE_S);
				errno = saved;
				return;
			}
			ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);

			(void)n;	/* leaving either way */
			_exit(1);
		}
		/*
		 * A recovery wants the fence (or made new regions): WAKE_S
		 * to leave the library, or to show progress, unless due
		 * sooner. One waiting for the fence or an open lock is not
		 * in the way and keeps its time.
		 */
		if (wd_inlib) {
			wd_told = 1;
			wd_seen = wd_progress;
			if (timer_gettime(wd_timer, &cur) != 0 ||
			    cur.it_value.tv_sec >= WAKE_S ||
			    (cur.it_value.tv_sec == 0 &&
			    cur.it_value.tv_nsec == 0))
				wd_arm(WAKE_S);
		}
	}
	errno = saved;
}

/* Once per process (a forked child makes its own); 0 if it works. */
static int
wd_setup(void)
{
	struct sigaction sa;
	struct sigevent sev;

	if (wd_pid == self())
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = wd_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = WD_SIGNAL;
	if (sigaction(WD_SIGNAL, &sa, NULL) != 0 ||
	    timer_create(CLOCK_MONOTONIC, &sev, &wd_timer) != 0) {
		log_warn("store: no watchdog: %s", strerror(errno));
		return -1;
	}
	wd_busy = 0;
	wd_pid = self();
	return 0;
}

/* Entering (or starting again) a store call that must end in seconds. */
static void
wd_enter(long seconds)
{
	if (wd_pid != self())
		return;
	wd_told = 0;
	wd_progress = wd_seen = 0;	/* per call: it cannot overflow */
	wd_deadline = (sig_atomic_t)(wd_now() + seconds);
	wd_arm(seconds);
	wd_busy = 1;
}

/*
 * Leaving: the timer is left to run (disarming is a system call, and a
 * store call makes two); firing outside a call, it does nothing, and the
 * next call sets it again.
 */
static void
wd_leave(void)
{
	if (wd_pid != self())
		return;
	wd_busy = 0;
}

/* Does process pid catch sig? (SigCgt in /proc/pid/status.) */
static int
catches(pid_t pid, int sig)
{
	char path[64], line[256];
	unsigned long long mask;
	FILE *f;
	int yes = 0;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "SigCgt: %llx", &mask) == 1) {
			yes = sig >= 1 && sig <= 64 &&
			    (mask >> (sig - 1) & 1) != 0;
			break;
		}
	}
	fclose(f);
	return yes;
}

#define PROCS_SUBDIR	"procs"		/* home/procs/PID, one per opener */

/* home/procs/PID (pid > 0) or home/procs (pid 0) into buf; -1 if long. */
static int
procs_path(const struct store *st, long pid, char *buf, size_t len)
{
	int n = pid > 0 ?
	    snprintf(buf, len, "%s/%s/%ld", st->home, PROCS_SUBDIR, pid) :
	    snprintf(buf, len, "%s/%s", st->home, PROCS_SUBDIR);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Joins the list of processes that have st open (st->proc_fd). */
static void
procs_join(struct store *st)
{
	char path[4096];
	int fd;

	st->proc_fd = -1;
	if (procs_path(st, 0, path, sizeof(path)) != 0)
		return;
	if (mkdir(path, DIR_MODE) != 0 && errno != EEXIST)
		log_warn("store: %s: %s", path, strerror(errno));
	if (procs_path(st, (long)self(), path, sizeof(path)) != 0)
		return;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, FILE_MODE);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_warn("store: %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	} else
		st->proc_fd = fd;
}

static void
procs_leave(struct store *st)
{
	char path[4096];

	if (st->proc_fd < 0)
		return;
	if (procs_path(st, (long)st->pid, path, sizeof(path)) == 0)
		(void)unlink(path);
	close(st->proc_fd);
	st->proc_fd = -1;
}

/*
 * Calls fn for each other process listed in home/procs, with its file
 * open (fd) and its path; fn returns 1 to count it. Returns the count.
 */
static int
procs_each(struct store *st, int (*fn)(struct store *, long, const char *,
    int))
{
	char dpath[4096], path[4096];
	struct dirent *de;
	DIR *d;
	char *end;
	long pid;
	int fd, n = 0;

	if (procs_path(st, 0, dpath, sizeof(dpath)) != 0 ||
	    (d = opendir(dpath)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		errno = 0;
		pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || errno != 0 || pid <= 1 ||
		    pid == (long)self() ||
		    procs_path(st, pid, path, sizeof(path)) != 0)
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
		if (fd < 0)
			continue;
		n += fn(st, pid, path, fd);
		close(fd);
	}
	closedir(d);
	return n;
}

/*
 * This process made new regions: each other process that has the store
 * open is in the old environment and is told, so that its watchdog gives
 * it WAKE_S seconds to leave it. (A dead one is left for the next
 * opener's claim: it may have died in the new environment.)
 */
static int
tell_one(struct store *st, long pid, const char *path, int fd)
{
	(void)st;
	(void)path;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0)
		return 0;		/* nobody holds it: not alive */
	return catches((pid_t)pid, WD_SIGNAL) &&
	    kill((pid_t)pid, WD_SIGNAL) == 0;
}

static void
procs_tell(struct store *st, const char *what)
{
	int told = procs_each(st, tell_one);

	if (told > 0)
		log_info("store: %s %s; told %d other process%s", what,
		    st->home, told, told == 1 ? "" : "es");
}

/*
 * Before opening: has a process died with the store open? Its file in
 * home/procs is still there (a clean close removes it) and nobody holds
 * its flock. This opener claims each such death by removing the file
 * (one opener wins); the caller then removes __db.register, so that
 * Berkeley DB runs full recovery. A file found unlinked once its flock is
 * had belonged to a process that closed the store cleanly just then: not
 * a death.
 */
static int
claim_one(struct store *st, long pid, const char *path, int fd)
{
	struct stat sb;

	if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &sb) != 0 ||
	    sb.st_nlink == 0 || unlink(path) != 0)
		return 0;
	log_warn("store: process %ld died with %s open", pid, st->home);
	return 1;
}

static int
procs_claim_dead(struct store *st)
{
	return procs_each(st, claim_one);
}

/* Makes the next environment open run full recovery (see above). */
static void
force_recovery(struct store *st)
{
	char *path = home_file(st, "__db.register");

	if (path != NULL && unlink(path) != 0 && errno != ENOENT)
		log_warn("store: %s: %s", path, strerror(errno));
	free(path);
	log_warn("store: recovering %s", st->home);
}

/* Identity of the primary region file (0 when there is none). */
static ino_t
region_ino(const struct store *st)
{
	char *path = home_file(st, "__db.001");
	struct stat sb;
	ino_t ino = 0;

	if (path != NULL && stat(path, &sb) == 0)
		ino = sb.st_ino;
	free(path);
	return ino;
}

/* ------------------------------------------------------------ recovery fence */

/*
 * Recovery must not start while another process is inside the
 * environment it replaces. Berkeley DB checks its panic flag only when a
 * call enters, and the opener that recovers waits for the attached
 * processes only REG_TIMEOUT_US: a process already inside txn_commit (or
 * memp_sync) goes on writing the log and the files through the old
 * regions while recovery rebuilds them, and its client is told that a
 * commit succeeded which recovery then overwrites (seen once in crash.sh:
 * 18 of 716 certificates lost, tests/RELIABILITY.md).
 *
 * So every store call (an open, one attempt of a transaction, a
 * checkpoint, a close, a backup) holds a shared flock on home/FENCE_FILE,
 * and an opener that will recover takes it exclusively: it waits for the
 * calls under way to end, and no call starts until the new environment is
 * there. Those waiting then enter it, see the panic of their old handle
 * at once and reopen. Before it waits, the recoverer tells the others
 * (procs_tell): one inside a call, stuck on a mutex of the dead process,
 * leaves through its watchdog within WAKE_S; one waiting for the fence
 * or an open lock is not inside the library and keeps its time (wd_inlib).
 * A flock waiter does not stop new shared holders, so under load the
 * recoverer could wait for ever: a call takes its share through a gate,
 * home/GATE_FILE, held shared for an instant, which the recoverer holds
 * exclusively while it waits for the fence.
 *
 * Lock order: CKP_LOCK (a checkpointer opens the store holding it), then
 * LOCK_FILE, then GATE_FILE, then FENCE_FILE. Calls do not nest, so a
 * holder of the fence waits for none of the others.
 */

static int
flock_wait(int fd, int op)
{
	int ret;

	while ((ret = flock(fd, op)) != 0 && errno == EINTR)
		;
	return ret;
}

/* Opens home/FENCE_FILE and home/GATE_FILE into st. */
static anvil_err
fence_open(struct store *st, char *err, size_t errlen)
{
	const char *names[2] = { FENCE_FILE, GATE_FILE };
	int *fds[2] = { &st->fence_fd, &st->gate_fd };
	char *path;
	int i;

	for (i = 0; i < 2; i++) {
		if ((path = home_file(st, names[i])) == NULL)
			return ANVIL_ERR_NOMEM;
		*fds[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY,
		    FILE_MODE);
		if (*fds[i] < 0) {
			anvil_err rc = errf(err, errlen, ANVIL_ERR_IO,
			    "%s: %s", path, strerror(errno));

			free(path);
			return rc;
		}
		free(path);
	}
	return ANVIL_OK;
}

static void
fence_close(struct store *st)
{
	if (st->fence_fd >= 0)
		close(st->fence_fd);
	if (st->gate_fd >= 0)
		close(st->gate_fd);
	st->fence_fd = st->gate_fd = -1;
	st->fence_held = 0;
}

/* Leaves the fence (a no-op when not held). */
static void
fence_leave(struct store *st)
{
	if (st->fence_held == 0)
		return;
	if (flock_wait(st->fence_fd, LOCK_UN) != 0)
		log_warn("store: flock %s/%s: %s", st->home, FENCE_FILE,
		    strerror(errno));
	st->fence_held = 0;
}

/* A share of the fence, through the gate: a store call may begin. */
static void
fence_share(struct store *st)
{
	if (st->fence_held != 0)
		return;
	if (st->fence_fd >= 0) {
		if (flock_wait(st->gate_fd, LOCK_SH) != 0 ||
		    flock_wait(st->fence_fd, LOCK_SH) != 0)
			log_warn("store: flock %s/%s: %s", st->home,
			    FENCE_FILE, strerror(errno));
		else
			st->fence_held = LOCK_SH;
		(void)flock_wait(st->gate_fd, LOCK_UN);
	}
}

/*
 * The fence alone, for a recovery: the gate first, so that no call
 * starts; then the calls under way are told and waited for.
 */
static void
fence_alone(struct store *st)
{
	fence_leave(st);
	if (st->fence_fd < 0)
		return;
	if (flock_wait(st->gate_fd, LOCK_EX) != 0) {
		log_warn("store: flock %s/%s: %s", st->home, GATE_FILE,
		    strerror(errno));
		return;
	}
	procs_tell(st, "a recovery waits for");
	if (flock_wait(st->fence_fd, LOCK_EX) != 0)
		log_warn("store: flock %s/%s: %s", st->home, FENCE_FILE,
		    strerror(errno));
	else
		st->fence_held = LOCK_EX;
	(void)flock_wait(st->gate_fd, LOCK_UN);
}

/* Will this open of the environment run recovery? (No registry.) */
static int
recovery_ahead(const struct store *st)
{
	char *path = home_file(st, "__db.register");
	struct stat sb;
	int yes = 0;

	if (path != NULL && stat(path, &sb) != 0 && errno == ENOENT)
		yes = 1;
	free(path);
	return yes;
}

/*
 * Entering and leaving a store call: the fence, then the watchdog; inside,
 * the process is in the library (wd_inlib). In a span (store_hold) the
 * share is kept for the next call.
 */
static void
call_enter(struct store *st)
{
	fence_share(st);
	wd_enter(STALL_S);
	wd_inlib = 1;
}

static void
call_leave(struct store *st)
{
	wd_inlib = 0;
	wd_leave();
	if (!st->hold)
		fence_leave(st);
}

void
store_hold(struct store *st)
{
	if (st != NULL && st->pid == self())
		st->hold = 1;
}

void
store_idle(struct store *st)
{
	if (st == NULL || st->pid != self())
		return;
	st->hold = 0;
	fence_leave(st);
}

/* ------------------------------------------------------------ errors */

static anvil_err
fail(struct store *st, anvil_err code, const char *fmt, ...)
{
	va_list ap;

	if (st != NULL) {
		va_start(ap, fmt);
		vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
		va_end(ap);
		st->msg_code = code;
	}
	return code;
}

static void
bdb_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	struct store *st = env != NULL ? env->app_private : NULL;

	(void)pfx;
	if (msg == NULL)
		return;
	if (st != NULL && st->closing)
		log_debug("berkeley db: %s", msg);
	else
		log_err("berkeley db: %s", msg);
	if (st != NULL) {
		snprintf(st->bdbmsg, sizeof(st->bdbmsg), "%s", msg);
		if (strstr(msg, "checksum") != NULL)
			st->checksum_bad = 1;
		if (strstr(msg, "PANIC") != NULL)
			st->saw_panic = 1;
	}
}

/*
 * For DB_ENV->failchk: is the process that entered the environment as pid
 * still there? (Processes are single-threaded; the thread id is moot.)
 */
static int
bdb_isalive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	(void)env;
	(void)tid;
	(void)flags;
	return kill(pid, 0) == 0 || errno == EPERM;
}

static void
bdb_msgcall(const DB_ENV *env, const char *msg)
{
	(void)env;
	if (msg != NULL)
		log_debug("berkeley db: %s", msg);
}

/*
 * Sorts a Berkeley DB return code into an anvil_err, marks the transaction
 * (if any) so that store_run knows whether to retry, reopen or give up, and
 * logs the failing call by name unless the outcome is an ordinary one.
 */
static anvil_err
bdb_sort(struct store *st, struct store_txn *t, const char *call,
    const char *what, int ret)
{
	anvil_err code = ANVIL_ERR_STORE;

	switch (ret) {
	case 0:
		return ANVIL_OK;
	case DB_NOTFOUND:
	case DB_KEYEMPTY:
		return ANVIL_ERR_NOTFOUND;
	case DB_KEYEXIST:
		return ANVIL_ERR_EXISTS;
	case DB_LOCK_DEADLOCK:
	case DB_LOCK_NOTGRANTED:
		if (t != NULL)
			t->deadlock = 1;
		log_debug("%s(%s): %s", call, what, db_strerror(ret));
		return fail(st, ANVIL_ERR_DEADLOCK, "%s(%s): %s", call, what,
		    db_strerror(ret));
	case DB_RUNRECOVERY:
		if (st != NULL && st->checksum_bad) {
			code = ANVIL_ERR_CORRUPT;
			if (t != NULL)
				t->corrupt = 1;
		} else {
			code = ANVIL_ERR_STORE;
			if (t != NULL)
				t->fatal = 1;
		}
		break;
	case DB_VERIFY_BAD:
	case DB_PAGE_NOTFOUND:
	case DB_CHKSUM_FAIL:
		code = ANVIL_ERR_CORRUPT;
		if (t != NULL)
			t->corrupt = 1;
		break;
	case ENOMEM:
		code = ANVIL_ERR_NOMEM;
		break;
	default:
		code = ANVIL_ERR_STORE;
		break;
	}
	log_err("%s(%s): %s", call, what, db_strerror(ret));
	return fail(st, code, "%s(%s): %s%s", call, what, db_strerror(ret),
	    code == ANVIL_ERR_CORRUPT ? " (file damaged)" : "");
}

/* ------------------------------------------------------------ small helpers */

/* 1 if the n bytes at s are 1..max printable ASCII without space. */
static int
idn_ok(const char *s, size_t n, size_t max)
{
	size_t i;

	if (s == NULL || n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int
id_ok(const char *s, size_t max)
{
	return s != NULL && idn_ok(s, strnlen(s, max + 1), max);
}

static void
be64_put(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t
be64_get(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Entry check of every function that takes a transaction. */
static anvil_err
txn_usable(struct store_txn *t)
{
	if (t == NULL || t->st == NULL || t->txn == NULL)
		return ANVIL_ERR_INVALID;
	if (t->corrupt)
		return ANVIL_ERR_CORRUPT;
	if (t->fatal)
		return ANVIL_ERR_STORE;
	if (t->deadlock)
		return ANVIL_ERR_DEADLOCK;
	return ANVIL_OK;
}

static void
dbt_set(DBT *d, const void *p, size_t n)
{
	memset(d, 0, sizeof(*d));
	d->data = (void *)p;
	d->size = (u_int32_t)n;
}

/*
 * Raw get: *data points into Berkeley DB's memory, valid until the next
 * call on the same handle (the environment is not DB_THREAD).
 */
static anvil_err
raw_get(struct store_txn *t, enum dbi i, const void *key, size_t klen,
    u_int32_t flags, const void **data, size_t *len)
{
	DB *db = t->st->db[i];
	DBT k, d;
	int ret;

	dbt_set(&k, key, klen);
	dbt_set(&d, NULL, 0);
	ret = db->get(db, t->txn, &k, &d, flags);
	wd_tick();
	if (ret != 0)
		return bdb_sort(t->st, t, "DB->get", db_desc[i].file, ret);
	*data = d.data;
	*len = d.size;
	return ANVIL_OK;
}

static anvil_err
raw_put(struct store_txn *t, enum dbi i, const void *key, size_t klen,
    const void *data, size_t dlen, u_int32_t flags)
{
	DB *db = t->st->db[i];
	DBT k, d;
	int ret;

	t->st->dirty = 1;
	dbt_set(&k, key, klen);
	dbt_set(&d, data, dlen);
	ret = db->put(db, t->txn, &k, &d, flags);
	wd_tick();
	return ret == 0 ? ANVIL_OK :
	    bdb_sort(t->st, t, "DB->put", db_desc[i].file, ret);
}

static anvil_err
raw_del(struct store_txn *t, enum dbi i, const void *key, size_t klen)
{
	DB *db = t->st->db[i];
	DBT k;
	int ret;

	t->st->dirty = 1;
	dbt_set(&k, key, klen);
	ret = db->del(db, t->txn, &k, 0);
	wd_tick();
	return ret == 0 ? ANVIL_OK :
	    bdb_sort(t->st, t, "DB->del", db_desc[i].file, ret);
}

static anvil_err
cur_open(struct store_txn *t, enum dbi i, u_int32_t flags, DBC **c)
{
	DB *db = t->st->db[i];
	int ret;

	*c = NULL;
	ret = db->cursor(db, t->txn, c, flags);
	return ret == 0 ? ANVIL_OK :
	    bdb_sort(t->st, t, "DB->cursor", db_desc[i].file, ret);
}

/* Closes c (if any); keeps rc unless rc is ANVIL_OK and the close failed. */
static anvil_err
cur_close(struct store_txn *t, enum dbi i, DBC *c, anvil_err rc)
{
	int ret;
	anvil_err crc;

	if (c == NULL)
		return rc;
	ret = c->close(c);
	if (ret == 0)
		return rc;
	crc = bdb_sort(t->st, t, "DBC->close", db_desc[i].file, ret);
	return rc == ANVIL_OK ? crc : rc;
}

/* Deletes one key/data pair of a sorted-duplicates index; absent is fine. */
static anvil_err
dup_del(struct store_txn *t, enum dbi i, const void *key, size_t klen,
    const void *data, size_t dlen)
{
	DBC *c = NULL;
	DBT k, d;
	int ret;
	anvil_err rc;

	if ((rc = cur_open(t, i, 0, &c)) != ANVIL_OK)
		return rc;
	dbt_set(&k, key, klen);
	dbt_set(&d, data, dlen);
	ret = c->get(c, &k, &d, DB_GET_BOTH | DB_RMW);
	wd_tick();
	if (ret == 0) {
		t->st->dirty = 1;
		ret = c->del(c, 0);
	}
	if (ret == 0 || ret == DB_NOTFOUND)
		rc = ANVIL_OK;
	else
		rc = bdb_sort(t->st, t, "DBC->del", db_desc[i].file, ret);
	return cur_close(t, i, c, rc);
}

/* Adds one key/data pair to a sorted-duplicates index; present is fine. */
static anvil_err
dup_add(struct store_txn *t, enum dbi i, const void *key, size_t klen,
    const void *data, size_t dlen)
{
	anvil_err rc;

	rc = raw_put(t, i, key, klen, data, dlen, DB_NODUPDATA);
	return rc == ANVIL_ERR_EXISTS ? ANVIL_OK : rc;
}

/*
 * Parses a stored record (len bytes, not trusted) into *out. Refuses what
 * is not a JSON object with an integer "v" we know.
 */
static anvil_err
rec_parse(struct store *st, enum store_kind kind, const char *id,
    const void *data, size_t len, json_t **out)
{
	json_t *rec = NULL, *v = NULL;
	json_error_t jerr;
	json_int_t ver = 0;
	anvil_err rc = ANVIL_ERR_CORRUPT;

	*out = NULL;
	if (len == 0 || len > RECORD_MAX) {
		rc = fail(st, ANVIL_ERR_CORRUPT, "%s record %s: bad length %zu",
		    db_desc[kind].file, id, len);
		goto out;
	}
	rec = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (rec == NULL || !json_is_object(rec)) {
		rc = fail(st, ANVIL_ERR_CORRUPT,
		    "%s record %s: not a JSON object", db_desc[kind].file, id);
		goto out;
	}
	v = json_object_get(rec, "v");
	if (!json_is_integer(v) || (ver = json_integer_value(v)) < 1) {
		rc = fail(st, ANVIL_ERR_CORRUPT,
		    "%s record %s: no record version", db_desc[kind].file, id);
		goto out;
	}
	if (ver > STORE_RECORD_VERSION) {
		rc = fail(st, ANVIL_ERR_VERSION,
		    "%s record %s: version %lld is newer than %d",
		    db_desc[kind].file, id, (long long)ver,
		    STORE_RECORD_VERSION);
		goto out;
	}
	*out = rec;
	rec = NULL;
	rc = ANVIL_OK;
out:
	if (rc == ANVIL_ERR_CORRUPT)
		log_err("store: %s", st->msg);
	json_decref(rec);
	return rc;
}

static anvil_err
rec_read(struct store_txn *t, enum store_kind kind, const char *id,
    u_int32_t flags, json_t **out)
{
	const void *data = NULL;
	size_t len = 0;
	anvil_err rc;

	*out = NULL;
	rc = raw_get(t, (enum dbi)kind, id, strlen(id), flags, &data, &len);
	if (rc == ANVIL_ERR_NOTFOUND)
		return fail(t->st, rc, "%s: no record %s", db_desc[kind].file,
		    id);
	if (rc != ANVIL_OK)
		return rc;
	return rec_parse(t->st, kind, id, data, len, out);
}

/* ------------------------------------------------------------ indexes */

static void
idx_clear(struct idx *ix)
{
	free(ix->ident);
	memset(ix, 0, sizeof(*ix));
}

/*
 * Collects what rec contributes to the indexes of kind. A member of the
 * wrong shape is `bad` (ANVIL_ERR_INVALID for a record being written,
 * ANVIL_ERR_CORRUPT for one read back).
 */
static anvil_err
idx_extract(struct store *st, enum store_kind kind, json_t *rec,
    struct idx *ix, anvil_err bad)
{
	json_t *m = NULL, *ty = NULL, *va = NULL;
	const char *type = NULL, *value = NULL;
	size_t alen, tlen, vlen;

	memset(ix, 0, sizeof(*ix));
	if (kind == STORE_ACCOUNT) {
		m = json_object_get(rec, "thumbprint");
		if (m == NULL)
			return ANVIL_OK;
		if (!json_is_string(m) ||
		    !id_ok(json_string_value(m), THUMB_MAX))
			return fail(st, bad, "account \"thumbprint\" is not "
			    "1..%d printable characters", THUMB_MAX);
		ix->thumb = json_string_value(m);
		return ANVIL_OK;
	}
	if (kind != STORE_ORDER && kind != STORE_AUTHZ && kind != STORE_CERT)
		return ANVIL_OK;

	m = json_object_get(rec, "account");
	if (m != NULL) {
		if (!json_is_string(m) || !id_ok(json_string_value(m), ID_MAX))
			return fail(st, bad, "\"account\" is not a valid id");
		ix->account = json_string_value(m);
	}
	if (kind == STORE_CERT) {
		m = json_object_get(rec, "revoked");
		if (m != NULL && !json_is_object(m))
			return fail(st, bad, "\"revoked\" is not an object");
		ix->revoked = m != NULL;
	}
	if (kind == STORE_AUTHZ && ix->account != NULL &&
	    (m = json_object_get(rec, "identifier")) != NULL) {
		ty = json_object_get(m, "type");
		va = json_object_get(m, "value");
		if (!json_is_object(m) || !json_is_string(ty) ||
		    !json_is_string(va))
			return fail(st, bad, "\"identifier\" is not "
			    "{\"type\": string, \"value\": string}");
		type = json_string_value(ty);
		value = json_string_value(va);
		tlen = json_string_length(ty);
		vlen = json_string_length(va);
		if (!idn_ok(type, tlen, IDTYPE_MAX) || vlen == 0 ||
		    vlen > IDVALUE_MAX || strlen(value) != vlen)
			return fail(st, bad, "\"identifier\" type or value "
			    "out of bounds");
		alen = strlen(ix->account);
		ix->identlen = alen + 1 + tlen + 1 + vlen;
		if ((ix->ident = malloc(ix->identlen)) == NULL)
			return ANVIL_ERR_NOMEM;
		memcpy(ix->ident, ix->account, alen + 1);
		memcpy(ix->ident + alen + 1, type, tlen + 1);
		memcpy(ix->ident + alen + 1 + tlen + 1, value, vlen);
	}
	return ANVIL_OK;
}

static enum dbi
acct_index(enum store_kind kind)
{
	switch (kind) {
	case STORE_ORDER:
		return DBI_ACCT_ORDERS;
	case STORE_AUTHZ:
		return DBI_ACCT_AUTHZ;
	case STORE_CERT:
		return DBI_ACCT_CERTS;
	default:
		return DBI__MAX;
	}
}

/* Removes the index entries ix of record id. */
static anvil_err
idx_remove(struct store_txn *t, enum store_kind kind, const char *id,
    const struct idx *ix)
{
	const void *data = NULL;
	size_t len = 0, idlen = strlen(id);
	anvil_err rc = ANVIL_OK;

	if (ix->thumb != NULL) {
		rc = raw_get(t, DBI_THUMBPRINT, ix->thumb, strlen(ix->thumb),
		    DB_RMW, &data, &len);
		if (rc == ANVIL_OK && len == idlen &&
		    memcmp(data, id, idlen) == 0)
			rc = raw_del(t, DBI_THUMBPRINT, ix->thumb,
			    strlen(ix->thumb));
		if (rc == ANVIL_ERR_NOTFOUND)
			rc = ANVIL_OK;
		if (rc != ANVIL_OK)
			return rc;
	}
	if (ix->account != NULL && acct_index(kind) != DBI__MAX) {
		rc = dup_del(t, acct_index(kind), ix->account,
		    strlen(ix->account), id, idlen);
		if (rc != ANVIL_OK)
			return rc;
	}
	if (ix->ident != NULL) {
		rc = dup_del(t, DBI_ACCT_IDENT, ix->ident, ix->identlen, id,
		    idlen);
		if (rc != ANVIL_OK)
			return rc;
	}
	if (ix->revoked) {
		rc = raw_del(t, DBI_REVOKED, id, idlen);
		if (rc == ANVIL_ERR_NOTFOUND)
			rc = ANVIL_OK;
	}
	return rc;
}

static anvil_err
idx_add(struct store_txn *t, enum store_kind kind, const char *id,
    const struct idx *ix)
{
	size_t idlen = strlen(id);
	anvil_err rc = ANVIL_OK;

	if (ix->thumb != NULL) {
		rc = raw_put(t, DBI_THUMBPRINT, ix->thumb, strlen(ix->thumb),
		    id, idlen, 0);
		if (rc != ANVIL_OK)
			return rc;
	}
	if (ix->account != NULL && acct_index(kind) != DBI__MAX) {
		rc = dup_add(t, acct_index(kind), ix->account,
		    strlen(ix->account), id, idlen);
		if (rc != ANVIL_OK)
			return rc;
	}
	if (ix->ident != NULL) {
		rc = dup_add(t, DBI_ACCT_IDENT, ix->ident, ix->identlen, id,
		    idlen);
		if (rc != ANVIL_OK)
			return rc;
	}
	if (ix->revoked)
		rc = raw_put(t, DBI_REVOKED, id, idlen, "1", 1, 0);
	return rc;
}

/* ------------------------------------------------------------ records */

static int
kind_ok(enum store_kind kind)
{
	return (unsigned)kind < STORE_KIND__MAX;
}

anvil_err
store_get(struct store_txn *txn, enum store_kind kind, const char *id,
    json_t **out)
{
	anvil_err rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = txn_usable(txn)) != ANVIL_OK)
		return rc;
	if (!kind_ok(kind) || out == NULL)
		return fail(txn->st, ANVIL_ERR_INVALID, "store_get: bad call");
	if (!id_ok(id, ID_MAX))
		return fail(txn->st, ANVIL_ERR_INVALID, "invalid record id");
	return rec_read(txn, kind, id, 0, out);
}

anvil_err
store_put(struct store_txn *txn, enum store_kind kind, const char *id,
    json_t *rec, unsigned flags)
{
	struct store *st = NULL;
	struct idx nix, oix;
	json_t *old = NULL;
	char *text = NULL;
	const void *data = NULL;
	size_t len = 0, dlen = 0;
	anvil_err rc;

	memset(&nix, 0, sizeof(nix));
	memset(&oix, 0, sizeof(oix));
	if ((rc = txn_usable(txn)) != ANVIL_OK)
		return rc;
	st = txn->st;
	if (!kind_ok(kind) || !json_is_object(rec)) {
		rc = fail(st, ANVIL_ERR_INVALID, "store_put: bad call");
		goto out;
	}
	if (!id_ok(id, ID_MAX)) {
		rc = fail(st, ANVIL_ERR_INVALID, "invalid record id");
		goto out;
	}
	if (json_object_set_new(rec, "v",
	    json_integer(STORE_RECORD_VERSION)) != 0) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if ((rc = idx_extract(st, kind, rec, &nix, ANVIL_ERR_INVALID)) !=
	    ANVIL_OK)
		goto out;
	if ((text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if ((len = strlen(text)) > RECORD_MAX) {
		rc = fail(st, ANVIL_ERR_INVALID, "record %s: %zu bytes is "
		    "more than %d", id, len, RECORD_MAX);
		goto out;
	}

	/* The old record, write-locked now rather than upgraded later. */
	rc = rec_read(txn, kind, id, DB_RMW, &old);
	if (rc == ANVIL_OK) {
		if (flags & STORE_PUT_NEW) {
			rc = fail(st, ANVIL_ERR_EXISTS, "%s: record %s exists",
			    db_desc[kind].file, id);
			goto out;
		}
		if ((rc = idx_extract(st, kind, old, &oix,
		    ANVIL_ERR_CORRUPT)) != ANVIL_OK)
			goto out;
	} else if (rc != ANVIL_ERR_NOTFOUND)
		goto out;

	if (nix.thumb != NULL) {
		rc = raw_get(txn, DBI_THUMBPRINT, nix.thumb, strlen(nix.thumb),
		    DB_RMW, &data, &dlen);
		if (rc == ANVIL_OK && (dlen != strlen(id) ||
		    memcmp(data, id, dlen) != 0)) {
			rc = fail(st, ANVIL_ERR_EXISTS, "thumbprint belongs "
			    "to another account");
			goto out;
		}
		if (rc != ANVIL_OK && rc != ANVIL_ERR_NOTFOUND)
			goto out;
	}
	if (old != NULL && (rc = idx_remove(txn, kind, id, &oix)) != ANVIL_OK)
		goto out;
	rc = raw_put(txn, (enum dbi)kind, id, strlen(id), text, len,
	    (flags & STORE_PUT_NEW) ? DB_NOOVERWRITE : 0);
	if (rc == ANVIL_ERR_EXISTS)
		fail(st, rc, "%s: record %s exists", db_desc[kind].file, id);
	if (rc != ANVIL_OK)
		goto out;
	rc = idx_add(txn, kind, id, &nix);
out:
	idx_clear(&nix);
	idx_clear(&oix);
	json_decref(old);
	free(text);
	return rc;
}

anvil_err
store_del(struct store_txn *txn, enum store_kind kind, const char *id)
{
	struct idx oix;
	json_t *old = NULL;
	anvil_err rc;

	memset(&oix, 0, sizeof(oix));
	if ((rc = txn_usable(txn)) != ANVIL_OK)
		return rc;
	if (!kind_ok(kind) || !id_ok(id, ID_MAX)) {
		rc = fail(txn->st, ANVIL_ERR_INVALID, "invalid record id");
		goto out;
	}
	if ((rc = rec_read(txn, kind, id, DB_RMW, &old)) != ANVIL_OK)
		goto out;
	if ((rc = idx_extract(txn->st, kind, old, &oix, ANVIL_ERR_CORRUPT)) !=
	    ANVIL_OK)
		goto out;
	if ((rc = idx_remove(txn, kind, id, &oix)) != ANVIL_OK)
		goto out;
	rc = raw_del(txn, (enum dbi)kind, id, strlen(id));
out:
	idx_clear(&oix);
	json_decref(old);
	return rc;
}

anvil_err
store_account_by_thumbprint(struct store_txn *txn, const char *thumbprint,
    char **id)
{
	const void *data = NULL;
	size_t len = 0;
	char *s = NULL;
	anvil_err rc;

	if (id != NULL)
		*id = NULL;
	if ((rc = txn_usable(txn)) != ANVIL_OK)
		return rc;
	if (id == NULL || !id_ok(thumbprint, THUMB_MAX))
		return fail(txn->st, ANVIL_ERR_INVALID, "invalid thumbprint");
	rc = raw_get(txn, DBI_THUMBPRINT, thumbprint, strlen(thumbprint), 0,
	    &data, &len);
	if (rc == ANVIL_ERR_NOTFOUND)
		return fail(txn->st, rc, "no account has this thumbprint");
	if (rc != ANVIL_OK)
		return rc;
	if (!idn_ok(data, len, ID_MAX))
		return fail(txn->st, ANVIL_ERR_CORRUPT, "%s: damaged entry",
		    db_desc[DBI_THUMBPRINT].file);
	if ((s = malloc(len + 1)) == NULL)
		return ANVIL_ERR_NOMEM;
	memcpy(s, data, len);
	s[len] = '\0';
	*id = s;
	return ANVIL_OK;
}

/* ------------------------------------------------------------ lists */

/*
 * The sorted duplicates of key in index i, after `after` (exclusive; NULL:
 * from the first), at most limit of them.
 */
static anvil_err
dup_list(struct store_txn *t, enum dbi i, const void *key, size_t klen,
    const char *after, size_t limit, char ***ids, size_t *n)
{
	DBC *c = NULL;
	DBT k, d;
	char **v = NULL, **nv = NULL;
	size_t cnt = 0, cap = 0, alen = after != NULL ? strlen(after) : 0;
	int ret, first = 1;
	anvil_err rc = ANVIL_OK;

	*ids = NULL;
	*n = 0;
	if (limit == 0)
		return ANVIL_OK;
	if ((rc = cur_open(t, i, 0, &c)) != ANVIL_OK)
		return rc;
	dbt_set(&k, key, klen);
	dbt_set(&d, after, alen);
	ret = c->get(c, &k, &d, after != NULL ? DB_GET_BOTH_RANGE : DB_SET);
	wd_tick();
	while (cnt < limit) {
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = bdb_sort(t->st, t, "DBC->get", db_desc[i].file,
			    ret);
			goto out;
		}
		if (!idn_ok(d.data, d.size, ID_MAX)) {
			rc = fail(t->st, ANVIL_ERR_CORRUPT, "%s: damaged "
			    "entry", db_desc[i].file);
			goto out;
		}
		if (!(first && after != NULL && d.size == alen &&
		    memcmp(d.data, after, alen) == 0)) {
			if (cnt == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				nv = realloc(v, cap * sizeof(*v));
				if (nv == NULL) {
					rc = ANVIL_ERR_NOMEM;
					goto out;
				}
				v = nv;
			}
			if ((v[cnt] = malloc(d.size + 1)) == NULL) {
				rc = ANVIL_ERR_NOMEM;
				goto out;
			}
			memcpy(v[cnt], d.data, d.size);
			v[cnt][d.size] = '\0';
			cnt++;
		}
		first = 0;
		dbt_set(&d, NULL, 0);
		ret = c->get(c, &k, &d, DB_NEXT_DUP);
		wd_tick();
	}
	*ids = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
out:
	store_ids_free(v, cnt);
	return cur_close(t, i, c, rc);
}

anvil_err
store_list_by_account(struct store_txn *txn, enum store_kind kind,
    const char *account, const char *after, size_t limit, char ***ids,
    size_t *n)
{
	anvil_err rc;

	if (ids != NULL)
		*ids = NULL;
	if (n != NULL)
		*n = 0;
	if ((rc = txn_usable(txn)) != ANVIL_OK)
		return rc;
	if (ids == NULL || n == NULL || acct_index(kind) == DBI__MAX)
		return fail(txn->st, ANVIL_ERR_INVALID,
		    "store_list_by_account: bad call");
	if (!id_ok(account, ID_MAX) || (after != NULL && !id_ok(after, ID_MAX)))
		return fail(txn->st, ANVIL_ERR_INVALID, "invalid id");
	return dup_list(txn, acct_index(kind), account, strlen(account), after,
	    limit, ids, n);
}

anvil_err
store_authz_by_identifier(struct store_txn *txn, const char *account,
    const char *type, const char *value, char ***ids, size_t *n)
{
	char *key = NULL;
	size_t alen, tlen, vlen, klen;
	anvil_err rc;

	if (ids != NULL)
		*ids = NULL;
	if (n != NULL)
		*n = 0;
	if ((rc = txn_usable(txn)) != ANVIL_OK)
		return rc;
	if (ids == NULL || n == NULL || !id_ok(account, ID_MAX) ||
	    !id_ok(type, IDTYPE_MAX) || value == NULL ||
	    (vlen = strnlen(value, IDVALUE_MAX + 1)) == 0 ||
	    vlen > IDVALUE_MAX)
		return fail(txn->st, ANVIL_ERR_INVALID,
		    "invalid account or identifier");
	alen = strlen(account);
	tlen = strlen(type);
	klen = alen + 1 + tlen + 1 + vlen;
	if ((key = malloc(klen)) == NULL)
		return ANVIL_ERR_NOMEM;
	memcpy(key, account, alen + 1);
	memcpy(key + alen + 1, type, tlen + 1);
	memcpy(key + alen + 1 + tlen + 1, value, vlen);
	rc = dup_list(txn, DBI_ACCT_IDENT, key, klen, NULL, SIZE_MAX, ids, n);
	free(key);
	return rc;
}

void
store_ids_free(char **ids, size_t n)
{
	size_t i;

	if (ids == NULL)
		return;
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* ------------------------------------------------------------ walks */

static anvil_err
each_result(anvil_err r)
{
	return (unsigned)r < ANVIL_ERR__MAX ? r : ANVIL_ERR_INVALID;
}

/*
 * Walks database i. For record databases each value is the record; for
 * the revoked index the record is read from certs.db.
 */
static anvil_err
walk(struct store_txn *t, enum dbi i, store_each_fn fn, void *arg)
{
	DBC *c = NULL;
	DBT k, d;
	json_t *rec = NULL;
	char id[ID_MAX + 1];
	int ret;
	anvil_err rc = ANVIL_OK;

	if ((rc = cur_open(t, i, 0, &c)) != ANVIL_OK)
		return rc;
	for (;;) {
		dbt_set(&k, NULL, 0);
		dbt_set(&d, NULL, 0);
		ret = c->get(c, &k, &d, DB_NEXT);
		wd_tick();
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = bdb_sort(t->st, t, "DBC->get", db_desc[i].file,
			    ret);
			goto out;
		}
		if (!idn_ok(k.data, k.size, ID_MAX)) {
			rc = fail(t->st, ANVIL_ERR_CORRUPT, "%s: damaged key",
			    db_desc[i].file);
			goto out;
		}
		memcpy(id, k.data, k.size);
		id[k.size] = '\0';
		if (i == DBI_REVOKED) {
			rc = rec_read(t, STORE_CERT, id, 0, &rec);
			if (rc == ANVIL_ERR_NOTFOUND) {
				rc = fail(t->st, ANVIL_ERR_CORRUPT, "%s: "
				    "certificate %s is missing",
				    db_desc[i].file, id);
				log_err("store: %s", t->st->msg);
			}
		} else
			rc = rec_parse(t->st, (enum store_kind)i, id, d.data,
			    d.size, &rec);
		if (rc != ANVIL_OK)
			goto out;
		rc = fn(id, rec, arg);
		json_decref(rec);
		rec = NULL;
		if (rc != ANVIL_OK) {
			rc = each_result(rc);
			goto out;
		}
	}
out:
	json_decref(rec);
	return cur_close(t, i, c, rc);
}

anvil_err
store_each(struct store_txn *txn, enum store_kind kind, store_each_fn fn,
    void *arg)
{
	anvil_err rc;

	if ((rc = txn_usable(txn)) != ANVIL_OK)
		return rc;
	if (!kind_ok(kind) || fn == NULL)
		return fail(txn->st, ANVIL_ERR_INVALID, "store_each: bad call");
	return walk(txn, (enum dbi)kind, fn, arg);
}

anvil_err
store_revoked_each(struct store_txn *txn, store_each_fn fn, void *arg)
{
	anvil_err rc;

	if ((rc = txn_usable(txn)) != ANVIL_OK)
		return rc;
	if (fn == NULL)
		return fail(txn->st, ANVIL_ERR_INVALID,
		    "store_revoked_each: bad call");
	return walk(txn, DBI_REVOKED, fn, arg);
}

/* ------------------------------------------------------------ counters */

static anvil_err
counter_read(struct store_txn *t, const char *name, u_int32_t flags,
    uint64_t *val)
{
	const void *data = NULL;
	size_t len = 0;
	anvil_err rc;

	*val = 0;
	rc = raw_get(t, DBI_COUNTERS, name, strlen(name), flags, &data, &len);
	if (rc == ANVIL_ERR_NOTFOUND)
		return ANVIL_OK;
	if (rc != ANVIL_OK)
		return rc;
	if (len != 8)
		return fail(t->st, ANVIL_ERR_CORRUPT, "%s: counter %s has %zu "
		    "bytes", db_desc[DBI_COUNTERS].file, name, len);
	*val = be64_get(data);
	return ANVIL_OK;
}

anvil_err
store_counter_next(struct store_txn *txn, const char *name, uint64_t *val)
{
	unsigned char buf[8];
	uint64_t v = 0;
	anvil_err rc;

	if ((rc = txn_usable(txn)) != ANVIL_OK)
		return rc;
	if (val == NULL || !id_ok(name, COUNTER_MAX))
		return fail(txn->st, ANVIL_ERR_INVALID, "invalid counter name");
	if ((rc = counter_read(txn, name, DB_RMW, &v)) != ANVIL_OK)
		return rc;
	if (v == UINT64_MAX)
		return fail(txn->st, ANVIL_ERR_INVALID, "counter %s is at its "
		    "maximum", name);
	v++;
	be64_put(buf, v);
	if ((rc = raw_put(txn, DBI_COUNTERS, name, strlen(name), buf,
	    sizeof(buf), 0)) != ANVIL_OK)
		return rc;
	*val = v;
	return ANVIL_OK;
}

anvil_err
store_counter_get(struct store_txn *txn, const char *name, uint64_t *val)
{
	anvil_err rc;

	if ((rc = txn_usable(txn)) != ANVIL_OK)
		return rc;
	if (val == NULL || !id_ok(name, COUNTER_MAX))
		return fail(txn->st, ANVIL_ERR_INVALID, "invalid counter name");
	return counter_read(txn, name, 0, val);
}

/* ------------------------------------------------------------ nonces */

struct nonce_arg {
	const unsigned char *nonce;
	size_t len;
	time_t expires;
};

static anvil_err
nonce_spend_fn(struct store_txn *t, void *arg)
{
	struct nonce_arg *na = arg;
	unsigned char buf[8];

	be64_put(buf, (uint64_t)na->expires);
	return raw_put(t, DBI_NONCES, na->nonce, na->len, buf, sizeof(buf),
	    DB_NOOVERWRITE);
}

anvil_err
store_nonce_spend(struct store *st, const unsigned char *nonce, size_t len,
    time_t expires)
{
	struct nonce_arg na;
	char err[256] = "";
	anvil_err rc;

	if (st == NULL || nonce == NULL || len == 0 || len > NONCE_MAX)
		return ANVIL_ERR_INVALID;
	na.nonce = nonce;
	na.len = len;
	na.expires = expires;
	rc = store_run(st, STORE_TXN_NOSYNC, nonce_spend_fn, &na, err,
	    sizeof(err));
	if (rc != ANVIL_OK && rc != ANVIL_ERR_EXISTS)
		log_err("store_nonce_spend: %s", err);
	return rc;
}

struct purge_arg {
	time_t now;
	unsigned char from[NONCE_MAX];	/* resume after this key ... */
	size_t fromlen;			/* ... (0: from the start) */
	unsigned char last[NONCE_MAX];	/* last key this batch visited */
	size_t lastlen;
	size_t deleted;			/* by this batch */
	size_t visited;
	int more;			/* batch stopped early */
};

static anvil_err
nonce_purge_fn(struct store_txn *t, void *arg)
{
	struct purge_arg *pa = arg;
	DBC *c = NULL;
	DBT k, d;
	u_int32_t op = DB_FIRST;
	int ret, expired;
	anvil_err rc = ANVIL_OK;

	pa->deleted = 0;
	pa->visited = 0;
	pa->more = 0;
	pa->lastlen = 0;
	if ((rc = cur_open(t, DBI_NONCES, DB_READ_COMMITTED, &c)) != ANVIL_OK)
		return rc;
	dbt_set(&k, NULL, 0);
	if (pa->fromlen > 0) {
		dbt_set(&k, pa->from, pa->fromlen);
		op = DB_SET_RANGE;
	}
	for (;;) {
		dbt_set(&d, NULL, 0);
		/* Read-committed cursor: only pages it deletes from stay
		 * locked, so spending goes on while a purge walks. */
		ret = c->get(c, &k, &d, op);
		wd_tick();
		op = DB_NEXT;
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = bdb_sort(t->st, t, "DBC->get",
			    db_desc[DBI_NONCES].file, ret);
			goto out;
		}
		if (k.size == 0 || k.size > NONCE_MAX) {
			/* Junk in a table of ephemeral entries: drop it. */
			log_warn("store: %s: dropping a %u-byte key",
			    db_desc[DBI_NONCES].file, (unsigned)k.size);
			expired = 1;
		} else {
			memcpy(pa->last, k.data, k.size);
			pa->lastlen = k.size;
			expired = d.size != 8 ||
			    (int64_t)be64_get(d.data) < (int64_t)pa->now;
		}
		if (expired) {
			t->st->dirty = 1;
			ret = c->del(c, 0);
			if (ret != 0) {
				rc = bdb_sort(t->st, t, "DBC->del",
				    db_desc[DBI_NONCES].file, ret);
				goto out;
			}
			pa->deleted++;
		}
		if (pa->deleted >= PURGE_BATCH ||
		    ++pa->visited >= PURGE_VISIT) {
			pa->more = 1;
			break;
		}
		dbt_set(&k, NULL, 0);
	}
out:
	return cur_close(t, DBI_NONCES, c, rc);
}

anvil_err
store_nonce_purge(struct store *st, time_t now, size_t *purged)
{
	struct purge_arg pa;
	char err[256] = "";
	size_t total = 0;
	anvil_err rc = ANVIL_OK;

	if (purged != NULL)
		*purged = 0;
	if (st == NULL)
		return ANVIL_ERR_INVALID;
	memset(&pa, 0, sizeof(pa));
	pa.now = now;
	do {
		rc = store_run(st, STORE_TXN_NOSYNC, nonce_purge_fn, &pa, err,
		    sizeof(err));
		if (rc != ANVIL_OK) {
			log_err("store_nonce_purge: %s", err);
			break;
		}
		total += pa.deleted;
		memcpy(pa.from, pa.last, pa.lastlen);
		pa.fromlen = pa.lastlen;
	} while (pa.more && pa.fromlen > 0);
	if (purged != NULL)
		*purged = total;
	return rc;
}

/* ------------------------------------------------------------ open, close */

/* Berkeley DB opens every file through this: close-on-exec from birth. */
static int
bdb_open_cloexec(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode = 0;

	if (flags & O_CREAT) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return open(path, flags | O_CLOEXEC, mode);
}

static char *
home_file(const struct store *st, const char *file)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", st->home, file) < 0)
		return NULL;
	return p;
}

/*
 * Before Berkeley DB sees a file: it must be at least one page long with
 * the btree magic number (either byte order) where the metadata page has
 * it. ANVIL_ERR_NOTFOUND if it does not exist.
 */
static anvil_err
file_check(const char *path, char *err, size_t errlen)
{
	unsigned char page[512];
	struct stat sb;
	uint32_t magic = 0;
	ssize_t got = 0;
	size_t have = 0;
	int fd = -1;
	anvil_err rc = ANVIL_ERR_CORRUPT;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		if (errno == ENOENT)
			return ANVIL_ERR_NOTFOUND;
		return errf(err, errlen, ANVIL_ERR_IO, "%s: %s", path,
		    strerror(errno));
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s: not a regular file", path);
		goto out;
	}
	while (have < sizeof(page)) {
		got = read(fd, page + have, sizeof(page) - have);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		have += (size_t)got;
	}
	if (have < sizeof(page)) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s: too short to be a Berkeley DB file", path);
		goto out;
	}
	memcpy(&magic, page + 12, sizeof(magic));
	if (magic != DB_BTREEMAGIC &&
	    __builtin_bswap32(magic) != DB_BTREEMAGIC) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s: not a Berkeley DB btree file", path);
		goto out;
	}
	rc = ANVIL_OK;
out:
	close(fd);
	return rc;
}

/* Reads at most len-1 bytes of path into buf as a string; -1 if unread. */
static int
read_small(const char *path, char *buf, size_t len)
{
	ssize_t n = -1;
	int fd;

	buf[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -1;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/*
 * The shared regions (__db.001 ...) are files that outlive a reboot, half
 * written back. Berkeley DB would join them and trust them; so the
 * first open after a boot removes them (nobody can be attached to them
 * then) and the registry with them, which makes that open run full
 * recovery from the log. Opens are serialised by an flock on
 * LOCK_FILE, which the caller releases (close *lockfd) once the
 * environment is open. Without a boot id (no /proc) this does nothing.
 */
static anvil_err
boot_fence(const struct store *st, int *lockfd, char *err, size_t errlen)
{
	char boot[64], seen[64], *path = NULL, *p = NULL;
	DIR *d = NULL;
	struct dirent *de;
	int fd = -1, bfd = -1;
	size_t len;
	anvil_err rc = ANVIL_ERR_IO;

	*lockfd = -1;
	if (read_small(BOOT_ID, boot, sizeof(boot)) != 0 || boot[0] == '\0')
		return ANVIL_OK;
	if ((path = home_file(st, LOCK_FILE)) == NULL)
		return ANVIL_ERR_NOMEM;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, FILE_MODE);
	if (fd < 0) {
		rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s", path,
		    strerror(errno));
		goto out;
	}
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			rc = errf(err, errlen, ANVIL_ERR_IO, "flock %s: %s",
			    path, strerror(errno));
			goto out;
		}
	}
	free(path);
	if ((path = home_file(st, BOOT_FILE)) == NULL) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if (read_small(path, seen, sizeof(seen)) == 0 &&
	    strcmp(seen, boot) == 0) {
		rc = ANVIL_OK;
		goto out;
	}
	if ((d = opendir(st->home)) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s", st->home,
		    strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		/* __db.001 and friends, and __db.register: this open runs
		 * full recovery. Processes that closed cleanly left their
		 * last commits in the log and the memory pool only (a close
		 * checkpoints only when one is due), and the pool is gone. */
		if (strncmp(de->d_name, "__db.0", 6) != 0 &&
		    strcmp(de->d_name, "__db.register") != 0)
			continue;
		free(p);
		if ((p = home_file(st, de->d_name)) == NULL) {
			rc = ANVIL_ERR_NOMEM;
			goto out;
		}
		log_warn("store: removing %s, left from an earlier boot", p);
		if (unlink(p) != 0 && errno != ENOENT) {
			rc = errf(err, errlen, ANVIL_ERR_IO, "unlink %s: %s", p,
			    strerror(errno));
			goto out;
		}
	}
	bfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY,
	    FILE_MODE);
	len = strlen(boot);
	if (bfd < 0 || write(bfd, boot, len) != (ssize_t)len ||
	    fsync(bfd) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_IO, "writing %s: %s", path,
		    strerror(errno));
		goto out;
	}
	rc = ANVIL_OK;
out:
	if (bfd >= 0)
		close(bfd);
	if (d != NULL)
		closedir(d);
	if (rc == ANVIL_OK) {
		*lockfd = fd;
		fd = -1;
	}
	if (fd >= 0)
		close(fd);
	free(path);
	free(p);
	return rc;
}

static void
env_detach(struct store *st)
{
	int i, ret;

	/* After a panic every close complains; the panic was logged. */
	st->closing = 1;
	for (i = 0; i < DBI__MAX; i++) {
		if (st->db[i] == NULL)
			continue;
		/* DB_NOSYNC: the transaction log already holds every commit
		 * durably, and store_close checkpoints a process that wrote;
		 * a read-only process must not pay one sync per file. */
		if ((ret = st->db[i]->close(st->db[i], DB_NOSYNC)) != 0)
			log_debug("DB->close(%s): %s", db_desc[i].file,
			    db_strerror(ret));
		st->db[i] = NULL;
	}
	if (st->env != NULL) {
		if ((ret = st->env->close(st->env, 0)) != 0)
			log_debug("DB_ENV->close(%s): %s", st->home,
			    db_strerror(ret));
		st->env = NULL;
	}
	st->closing = 0;
}

static anvil_err
db_open_one(struct store *st, enum dbi i, int create, char *err,
    size_t errlen)
{
	DB *db = NULL;
	u_int32_t got = 0;
	int ret;
	anvil_err rc = ANVIL_ERR_STORE;

	st->bdbmsg[0] = '\0';
	if ((ret = db_create(&db, st->env, 0)) != 0) {
		rc = errf(err, errlen, ret == ENOMEM ? ANVIL_ERR_NOMEM :
		    ANVIL_ERR_STORE, "db_create: %s", db_strerror(ret));
		goto out;
	}
	if ((ret = db->set_flags(db, DB_CHKSUM | db_desc[i].flags)) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_STORE, "DB->set_flags(%s): %s",
		    db_desc[i].file, db_strerror(ret));
		goto out;
	}
	ret = db->open(db, NULL, db_desc[i].file, NULL, DB_BTREE,
	    DB_AUTO_COMMIT | (create || db_desc[i].late ? DB_CREATE : 0),
	    FILE_MODE);
	if (ret == 0) {
		/* Berkeley DB adopts some flags from the file: insist. */
		if ((ret = db->get_flags(db, &got)) != 0 ||
		    (got & (DB_DUP | DB_DUPSORT | DB_CHKSUM)) !=
		    (db_desc[i].flags | DB_CHKSUM)) {
			rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
			    "%s/%s is not an Anvil store file (its flags "
			    "are 0x%x)", st->home, db_desc[i].file,
			    (unsigned)got);
			goto out;
		}
		st->db[i] = db;
		db = NULL;
		rc = ANVIL_OK;
		goto out;
	}
	log_err("DB->open(%s/%s): %s", st->home, db_desc[i].file,
	    db_strerror(ret));
	switch (ret) {
	case ENOENT:
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT, "%s/%s is missing",
		    st->home, db_desc[i].file);
		break;
	case EACCES:
	case EPERM:
		rc = errf(err, errlen, ANVIL_ERR_IO, "%s/%s: %s", st->home,
		    db_desc[i].file, db_strerror(ret));
		break;
	case ENOMEM:
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "DB->open(%s): %s",
		    db_desc[i].file, db_strerror(ret));
		break;
	case EINVAL:
	case DB_VERIFY_BAD:
	case DB_PAGE_NOTFOUND:
	case DB_CHKSUM_FAIL:
	case DB_RUNRECOVERY:
		if (ret != DB_RUNRECOVERY || st->checksum_bad) {
			rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
			    "%s/%s is damaged or not an Anvil store file "
			    "(%s)", st->home, db_desc[i].file,
			    st->bdbmsg[0] ? st->bdbmsg : db_strerror(ret));
			break;
		}
		/* FALLTHROUGH */
	default:
		rc = errf(err, errlen, ANVIL_ERR_STORE, "DB->open(%s/%s): %s",
		    st->home, db_desc[i].file, db_strerror(ret));
		break;
	}
out:
	if (db != NULL)
		db->close(db, 0);
	return rc;
}

/*
 * Writes the meta record of a new store (unless a concurrent creator did)
 * and checks the one there.
 */
static anvil_err
meta_check(struct store *st, int creating, char *err, size_t errlen)
{
	DB *db = st->db[DBI_META];
	DB_TXN *tx = NULL;
	DBT k, d;
	json_t *meta = NULL, *m = NULL;
	json_error_t jerr;
	char *text = NULL;
	const char *magic = NULL;
	json_int_t format = 0;
	int ret;
	anvil_err rc = ANVIL_ERR_CORRUPT;

	if (creating) {
		if (asprintf(&text, "{\"format\":%d,\"magic\":\"%s\"}",
		    STORE_FORMAT_VERSION, STORE_MAGIC) < 0) {
			text = NULL;
			rc = ANVIL_ERR_NOMEM;
			goto out;
		}
		ret = st->env->txn_begin(st->env, NULL, &tx, 0);
		if (ret == 0) {
			dbt_set(&k, META_KEY, strlen(META_KEY));
			dbt_set(&d, text, strlen(text));
			ret = db->put(db, tx, &k, &d, DB_NOOVERWRITE);
			/* A new store: checkpoint at close, so its files are
			 * complete on disk. */
			st->dirty = 1;
			st->created = 1;
			if (ret == 0 || ret == DB_KEYEXIST) {
				ret = tx->commit(tx, 0);
			} else
				tx->abort(tx);
			tx = NULL;
		}
		if (ret != 0) {
			rc = errf(err, errlen, ANVIL_ERR_STORE,
			    "writing %s/%s: %s", st->home,
			    db_desc[DBI_META].file, db_strerror(ret));
			goto out;
		}
	}
	dbt_set(&k, META_KEY, strlen(META_KEY));
	dbt_set(&d, NULL, 0);
	ret = db->get(db, NULL, &k, &d, 0);
	if (ret == DB_NOTFOUND) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s/%s holds no Anvil store marker", st->home,
		    db_desc[DBI_META].file);
		goto out;
	}
	if (ret != 0) {
		rc = bdb_sort(st, NULL, "DB->get", db_desc[DBI_META].file, ret);
		if (rc != ANVIL_ERR_CORRUPT)
			rc = ANVIL_ERR_STORE;
		rc = errf(err, errlen, rc, "reading %s/%s: %s", st->home,
		    db_desc[DBI_META].file, db_strerror(ret));
		goto out;
	}
	if (d.size == 0 || d.size > META_MAX ||
	    (meta = json_loadb(d.data, d.size, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL || !json_is_object(meta)) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s/%s: the store marker is not a JSON object", st->home,
		    db_desc[DBI_META].file);
		goto out;
	}
	m = json_object_get(meta, "magic");
	magic = json_is_string(m) ? json_string_value(m) : NULL;
	if (magic == NULL || strcmp(magic, STORE_MAGIC) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s/%s: not an Anvil store (magic is not \"%s\")",
		    st->home, db_desc[DBI_META].file, STORE_MAGIC);
		goto out;
	}
	m = json_object_get(meta, "format");
	if (!json_is_integer(m) || (format = json_integer_value(m)) < 1) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s/%s: no valid format number", st->home,
		    db_desc[DBI_META].file);
		goto out;
	}
	if (format > STORE_FORMAT_VERSION) {
		rc = errf(err, errlen, ANVIL_ERR_VERSION,
		    "%s/%s: store format %lld is newer than this Anvil "
		    "reads (%d)", st->home, db_desc[DBI_META].file,
		    (long long)format, STORE_FORMAT_VERSION);
		goto out;
	}
	rc = ANVIL_OK;
out:
	json_decref(meta);
	free(text);
	return rc;
}

/*
 * Opens the environment and every database of st->home into st. On
 * failure st holds no Berkeley DB handle. *lockfd (the boot_fence lock,
 * or -1) is released as soon as the environment is open: opening a
 * database can wait on another process's transaction, and that process
 * may be dead and need the next opener to notice.
 */
static anvil_err
env_attach(struct store *st, int creating, int *lockfd, char *err,
    size_t errlen)
{
	DB_ENV *env = NULL;
	ino_t ino;
	int ret, k;
	enum dbi i;
	anvil_err rc = ANVIL_ERR_STORE;

	st->checksum_bad = 0;
	st->bdbmsg[0] = '\0';
	if ((ret = db_env_create(&env, 0)) != 0) {
		rc = errf(err, errlen, ret == ENOMEM ? ANVIL_ERR_NOMEM :
		    ANVIL_ERR_STORE, "db_env_create: %s", db_strerror(ret));
		goto out;
	}
	st->env = env;
	env->app_private = st;
	env->set_errcall(env, bdb_errcall);
	env->set_msgcall(env, bdb_msgcall);
	if ((ret = env->set_cachesize(env, 0, CACHE_BYTES, 1)) != 0 ||
	    (ret = env->set_lk_max_locks(env, LK_MAX_LOCKS)) != 0 ||
	    (ret = env->set_lk_max_lockers(env, LK_MAX_LOCKERS)) != 0 ||
	    (ret = env->set_lk_max_objects(env, LK_MAX_OBJECTS)) != 0 ||
	    (ret = env->set_tx_max(env, TX_MAX)) != 0 ||
	    (ret = env->set_thread_count(env, THREAD_COUNT)) != 0 ||
	    (ret = env->set_isalive(env, bdb_isalive)) != 0 ||
	    (ret = env->set_timeout(env, REG_TIMEOUT_US,
	    DB_SET_REG_TIMEOUT)) != 0 ||
	    (ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0 ||
	    (ret = env->set_timeout(env, LOCK_TIMEOUT_US,
	    DB_SET_LOCK_TIMEOUT)) != 0 ||
	    (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_STORE,
		    "configuring the environment: %s", db_strerror(ret));
		goto out;
	}
	ino = region_ino(st);
	ret = env->open(env, st->home, ENV_FLAGS, FILE_MODE);
	if (*lockfd >= 0) {
		close(*lockfd);
		*lockfd = -1;
	}
	if (ret == 0 && region_ino(st) != ino)
		procs_tell(st, "new environment in");
	if (ret != 0) {
		log_err("DB_ENV->open(%s): %s", st->home, db_strerror(ret));
		if (ret == DB_RUNRECOVERY)
			rc = errf(err, errlen, ANVIL_ERR_STORE,
			    "%s needs recovery that could not run (stop "
			    "every Anvil process, then db5.3_recover -h %s)",
			    st->home, st->home);
		else if (ret == DB_VERSION_MISMATCH)
			rc = errf(err, errlen, ANVIL_ERR_VERSION,
			    "%s was left by another Berkeley DB version (%s)",
			    st->home, db_strerror(ret));
		else
			rc = errf(err, errlen, ret == EACCES ? ANVIL_ERR_IO :
			    ANVIL_ERR_STORE, "opening the environment %s: %s",
			    st->home, st->bdbmsg[0] ? st->bdbmsg :
			    db_strerror(ret));
		goto out;
	}

	/*
	 * An existing store is judged by its marker before anything else,
	 * so that a newer layout reads as ANVIL_ERR_VERSION. A new one gets
	 * its marker last: a store with meta.db has all its files.
	 */
	for (k = 0; k < DBI__MAX; k++) {
		if (creating)
			i = (enum dbi)k;
		else
			i = k == 0 ? DBI_META : (enum dbi)(k - 1);
		if ((rc = db_open_one(st, i, creating, err, errlen)) !=
		    ANVIL_OK)
			goto out;
		if (i == DBI_META &&
		    (rc = meta_check(st, creating, err, errlen)) != ANVIL_OK)
			goto out;
	}
	util_cloexec_all();
	rc = ANVIL_OK;
out:
	if (rc != ANVIL_OK)
		env_detach(st);
	return rc;
}

/*
 * env_attach, claiming deaths first. Another opener may claim a death and
 * recover just after this one opened the environment, panicking it while
 * the databases open: then open again (a few times; each recovery needs a
 * new death).
 */
static anvil_err
env_attach_again(struct store *st, int creating, int *lockfd, char *err,
    size_t errlen)
{
	anvil_err rc = ANVIL_ERR_STORE;
	int i;

	for (i = 0; i < OPEN_TRIES; i++) {
		int claimed = procs_claim_dead(st);

		if (claimed > 0 || recovery_ahead(st)) {
			fence_alone(st);
			if (claimed > 0)
				force_recovery(st);
		} else
			fence_share(st);
		st->saw_panic = 0;
		wd_inlib = 1;
		rc = env_attach(st, creating, lockfd, err, errlen);
		wd_inlib = 0;
		fence_leave(st);
		if (rc == ANVIL_OK || !st->saw_panic || st->checksum_bad)
			break;
		log_warn("store: %s was recovered while this process opened "
		    "it; opening again", st->home);
	}
	return rc;
}

static anvil_err
version_check(char *err, size_t errlen)
{
	int major = 0, minor = 0, patch = 0;

	(void)db_version(&major, &minor, &patch);
	if (major != DB_VERSION_MAJOR || minor != DB_VERSION_MINOR)
		return errf(err, errlen, ANVIL_ERR_VERSION,
		    "Berkeley DB library is %d.%d.%d, Anvil was built with "
		    "%d.%d", major, minor, patch, DB_VERSION_MAJOR,
		    DB_VERSION_MINOR);
	return ANVIL_OK;
}

anvil_err
store_open(const char *data_dir, unsigned flags, struct store **out,
    char *err, size_t errlen)
{
	static int func_set;
	struct store *st = NULL, *o = NULL;
	struct stat sb;
	char *path = NULL;
	int creating = 0, any = 0, i, ret, lockfd = -1;
	anvil_err rc = ANVIL_ERR_STORE;

	if (out != NULL)
		*out = NULL;
	if (data_dir == NULL || *data_dir == '\0' || out == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_open: no data folder");
	if ((rc = version_check(err, errlen)) != ANVIL_OK)
		return rc;
	if (!func_set) {
		if ((ret = db_env_set_func_open(bdb_open_cloexec)) != 0)
			return errf(err, errlen, ANVIL_ERR_STORE,
			    "db_env_set_func_open: %s", db_strerror(ret));
		if ((ret = pthread_atfork(NULL, NULL, self_forked)) != 0)
			return errf(err, errlen, ANVIL_ERR_STORE,
			    "pthread_atfork: %s", strerror(ret));
		func_set = 1;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return ANVIL_ERR_NOMEM;
	st->proc_fd = st->fence_fd = st->gate_fd = -1;
	st->pid = self();
	st->rnd = ((uint64_t)st->pid << 32) ^ (uint64_t)time(NULL) ^
	    (uint64_t)(uintptr_t)st;
	if (asprintf(&st->home, "%s/%s", data_dir, STORE_SUBDIR) < 0) {
		st->home = NULL;
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}

	if (stat(st->home, &sb) != 0) {
		if (errno != ENOENT) {
			rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s",
			    st->home, strerror(errno));
			goto out;
		}
		if (!(flags & STORE_OPEN_CREATE)) {
			rc = errf(err, errlen, ANVIL_ERR_NOTFOUND,
			    "no store in %s (%s does not exist)", data_dir,
			    st->home);
			goto out;
		}
		if ((rc = util_mkdir_p(st->home, DIR_MODE, err, errlen)) !=
		    ANVIL_OK)
			goto out;
		if (stat(st->home, &sb) != 0) {
			rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s",
			    st->home, strerror(errno));
			goto out;
		}
	}
	if (!S_ISDIR(sb.st_mode)) {
		rc = errf(err, errlen, ANVIL_ERR_INVALID,
		    "%s is not a folder", st->home);
		goto out;
	}
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;

	/* DB_REGISTER allows one handle per process and environment. */
	for (o = open_stores; o != NULL; o = o->next) {
		if (o->pid == st->pid && o->dev == st->dev &&
		    o->ino == st->ino) {
			rc = errf(err, errlen, ANVIL_ERR_STORE,
			    "%s is already open in this process", st->home);
			goto out;
		}
	}

	/* Every file there must look like ours before Berkeley DB opens it. */
	for (i = 0; i < DBI__MAX; i++) {
		free(path);
		if ((path = home_file(st, db_desc[i].file)) == NULL) {
			rc = ANVIL_ERR_NOMEM;
			goto out;
		}
		rc = file_check(path, err, errlen);
		if (rc == ANVIL_ERR_NOTFOUND) {
			if (i == DBI_META)
				creating = 1;
			continue;
		}
		if (rc != ANVIL_OK)
			goto out;
		if (i != DBI_META)
			any = 1;
	}
	if (creating && any) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT,
		    "%s/%s is missing but the store has other files",
		    st->home, db_desc[DBI_META].file);
		goto out;
	}
	if (creating && !(flags & STORE_OPEN_CREATE)) {
		rc = errf(err, errlen, ANVIL_ERR_NOTFOUND,
		    "no store in %s (%s has no %s)", data_dir, st->home,
		    db_desc[DBI_META].file);
		goto out;
	}
	if ((rc = fence_open(st, err, errlen)) != ANVIL_OK)
		goto out;
	(void)wd_setup();
	wd_enter(STALL_S);
	if ((rc = boot_fence(st, &lockfd, err, errlen)) != ANVIL_OK)
		goto out;
	procs_join(st);
	rc = env_attach_again(st, creating, &lockfd, err, errlen);
	if (rc != ANVIL_OK)
		goto out;

	st->next = open_stores;
	open_stores = st;
	*out = st;
	st = NULL;
	rc = ANVIL_OK;
out:
	wd_leave();
	if (lockfd >= 0)
		close(lockfd);
	free(path);
	if (st != NULL) {
		procs_leave(st);
		fence_close(st);
		free(st->home);
		free(st);
	}
	return rc;
}

/*
 * Checkpoints are written (when one is due: CKP_KBYTES of log or
 * CKP_MINUTES since the last; or forced) by one process at a time, which
 * holds home/CKP_LOCK. Berkeley DB's memp_sync sleeps a whole second
 * whenever a page it must write is pinned by another process, and every
 * process calling txn_checkpoint meanwhile waits on the checkpoint mutex:
 * with 16 FastCGI workers (Apache fcgid, bench/ at C=16) one request in
 * ten waited a second. A process that finds the lock taken goes on: the
 * checkpoint being written is the one it wanted. The lock is taken
 * before the recovery fence (see there).
 *
 * The checkpoint lock, open and taken (wait: for a forced checkpoint);
 * -1 if taken elsewhere, or on an error.
 */
static int
ckp_lock(struct store *st, int wait)
{
	char *path;
	int fd, ret;

	if (st->env == NULL || (path = home_file(st, CKP_LOCK)) == NULL)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, FILE_MODE);
	free(path);
	if (fd < 0)
		return -1;
	while ((ret = flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB)) != 0 &&
	    errno == EINTR)
		;
	if (ret != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The checkpoint itself, with the lock held. */
static void
ckp_write(struct store *st, int force)
{
	int ret;

	ret = st->env->txn_checkpoint(st->env, force ? 0 : CKP_KBYTES,
	    force ? 0 : CKP_MINUTES, 0);
	if (ret != 0)
		log_debug("DB_ENV->txn_checkpoint(%s): %s", st->home,
		    db_strerror(ret));
	st->commits = 0;
	st->last_ckp = time(NULL);
	st->ckp_due = 0;
}

/* Is a checkpoint due for the whole environment (not just this process)? */
static int
ckp_needed(struct store *st)
{
	DB_TXN_STAT *ts = NULL;
	DB_LOG_STAT *ls = NULL;
	int due = 0;

	if (st->env == NULL ||
	    st->env->txn_stat(st->env, &ts, 0) != 0 ||
	    st->env->log_stat(st->env, &ls, 0) != 0)
		goto out;
	if (time(NULL) - (time_t)ts->st_time_ckp >= CKP_MINUTES * 60)
		due = 1;
	else if (ls->st_cur_file > ts->st_last_ckp.file)
		due = (uint64_t)(ls->st_cur_file - ts->st_last_ckp.file) *
		    ls->st_lg_size + ls->st_cur_offset -
		    ts->st_last_ckp.offset >= (uint64_t)CKP_KBYTES * 1024;
	else
		due = ls->st_cur_offset - ts->st_last_ckp.offset >=
		    (u_int32_t)CKP_KBYTES * 1024;
out:
	free(ts);
	free(ls);
	return due;
}

/*
 * The checkpoint runs in a detached grandchild with a handle of its own,
 * so that the second memp_sync may sleep holds up no request: this
 * process goes back to serving at once.
 */
void
store_maintain(struct store *st)
{
	struct store *c = NULL, *o;
	char err[320], *dd = NULL, *slash;
	int needed, lockfd;

	if (st == NULL || !st->ckp_due || st->pid != self())
		return;
	st->ckp_due = 0;
	st->commits = 0;
	st->last_ckp = time(NULL);
	call_enter(st);		/* the stat calls take region mutexes */
	needed = ckp_needed(st);
	call_leave(st);
	if (!needed)
		return;
	/*
	 * The lock is taken here, before the fork, and the child inherits
	 * it: while one checkpoint is being written (it can take a second),
	 * every process sees one due, and each used to start a child that
	 * opened the store only to find the lock taken (two children per
	 * checkpoint written in bench/ at C=4).
	 */
	if ((lockfd = ckp_lock(st, 0)) < 0)
		return;
	if (util_detach(1) != 0) {
		close(lockfd);	/* the child's copy (if forked) holds it */
		return;
	}
	/* Not the web server's descriptors (stderr is its error log), nor
	 * the parent's flock on its procs file: a parent that dies now must
	 * be seen to be dead. */
	for (o = open_stores; o != NULL; o = o->next) {
		if (o->proc_fd >= 0)
			close(o->proc_fd);
		/* A parent that dies in a store call must free the fence:
		 * the flock belongs to the open file, which is shared. */
		fence_close(o);
	}
	if ((dd = strdup(st->home)) == NULL ||
	    (slash = strrchr(dd, '/')) == NULL)
		_exit(1);
	*slash = '\0';
	if (store_open(dd, 0, &c, err, sizeof(err)) != ANVIL_OK) {
		log_warn("store: checkpoint: %s", err);
		_exit(1);
	}
	call_enter(c);
	ckp_write(c, 0);
	call_leave(c);
	c->dirty = 0;		/* written just now: nothing for the close */
	store_close(c);
	close(lockfd);
	_exit(0);
}

void
store_close(struct store *st)
{
	struct store **pp = NULL;

	if (st == NULL)
		return;
	for (pp = &open_stores; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == st) {
			*pp = st->next;
			break;
		}
	}
	/*
	 * A forked child must not touch its parent's handles: they would
	 * unregister the parent and detach from its regions.
	 */
	if (st->pid == self() && st->env != NULL) {
		int needed = 0, lockfd = -1;

		st->hold = 0;

		/*
		 * A process that wrote checkpoints when one is due (CKP_KBYTES
		 * of log or CKP_MINUTES since the last), as store_run does: a
		 * forced one at every close wrote back and synced every dirty
		 * page, a dozen fsyncs per CGI request. Commits are durable in
		 * the log either way; checkpoints only bound recovery. A
		 * process that only read has nothing to do. The checkpoint
		 * lock is taken outside the fence (see the lock order).
		 */
		if (st->dirty && !st->created) {
			call_enter(st);
			needed = ckp_needed(st);
			call_leave(st);
		}
		if (st->dirty && (st->created || needed))
			lockfd = ckp_lock(st, st->created);
		call_enter(st);
		st->closing = 1;
		if (lockfd >= 0)
			ckp_write(st, st->created);
		env_detach(st);
		call_leave(st);
		if (lockfd >= 0)
			close(lockfd);
	}
	if (st->pid == self()) {
		procs_leave(st);
		fence_close(st);
	}
	free(st->home);
	free(st);
}

/* ------------------------------------------------------------ transactions */

static void
backoff(struct store *st, int tries)
{
	struct timespec ts;
	uint64_t x = st->rnd, span;

	/* xorshift64: spreads the retries of processes that collided. */
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	st->rnd = x;
	span = (uint64_t)BACKOFF_US << (tries < 6 ? tries : 6);
	x = 50 + x % span;
	ts.tv_sec = (time_t)(x / 1000000);
	ts.tv_nsec = (long)(x % 1000000) * 1000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* After a panic (another process ran recovery): a new environment handle. */
static anvil_err
env_reopen(struct store *st)
{
	char err[320] = "";
	int lockfd = -1;
	anvil_err rc;

	log_warn("store: reopening %s after a panic", st->home);
	call_enter(st);		/* out of the old environment */
	env_detach(st);
	fence_leave(st);	/* env_attach_again takes it as it needs */
	rc = env_attach_again(st, 0, &lockfd, err, sizeof(err));
	wd_leave();
	if (rc != ANVIL_OK) {
		log_err("store: reopening %s: %s", st->home, err);
		fail(st, rc, "reopening the store: %s", err);
	}
	return rc;
}

/* One attempt of fn in a transaction; t says what became of it. */
static anvil_err
txn_attempt(struct store *st, unsigned flags, store_fn fn, void *arg,
    struct store_txn *t)
{
	DB_TXN *tx = NULL;
	int ret;
	anvil_err rc;

	ret = st->env->txn_begin(st->env, NULL, &tx, 0);
	if (ret != 0)
		return bdb_sort(st, t, "DB_ENV->txn_begin", st->home, ret);
	t->txn = tx;
	rc = fn(t, arg);
	if (rc == ANVIL_OK && !t->deadlock && !t->fatal && !t->corrupt) {
		ret = tx->commit(tx, (flags & STORE_TXN_NOSYNC) ?
		    DB_TXN_NOSYNC : 0);
		if (ret != 0)
			rc = bdb_sort(st, t, "DB_TXN->commit", st->home, ret);
	} else {
		ret = tx->abort(tx);
		if (ret != 0)
			(void)bdb_sort(st, t, "DB_TXN->abort", st->home, ret);
	}
	t->txn = NULL;
	return rc;
}

anvil_err
store_run(struct store *st, unsigned flags, store_fn fn, void *arg,
    char *err, size_t errlen)
{
	struct store_txn t;
	int tries = 0, reopened = 0;
	anvil_err rc = ANVIL_ERR_STORE;

	if (st == NULL || fn == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_run: no store or function");
	if (st->pid != self())
		return errf(err, errlen, ANVIL_ERR_STORE,
		    "store handle used in a forked child; open one there");
	for (;;) {
		memset(&t, 0, sizeof(t));
		t.st = st;
		st->msg[0] = '\0';
		st->msg_code = ANVIL_OK;
		if (st->env == NULL) {
			/* A previous reopen failed: try again. */
			rc = ANVIL_ERR_STORE;
			if (reopened++ >= OPEN_TRIES ||
			    (rc = env_reopen(st)) != ANVIL_OK)
				break;
			continue;
		}
		call_enter(st);		/* each attempt */
		rc = txn_attempt(st, flags, fn, arg, &t);
		call_leave(st);
		if (t.corrupt) {
			rc = ANVIL_ERR_CORRUPT;
			break;
		}
		if (t.fatal) {
			/*
			 * Recovered under us. Another death may be recovered
			 * between the reopen and the next attempt (a crash
			 * that kills several workers): reopen again, a few
			 * times; each recovery needs a new death.
			 */
			rc = ANVIL_ERR_STORE;
			if (reopened++ >= OPEN_TRIES ||
			    (rc = env_reopen(st)) != ANVIL_OK)
				break;
			continue;
		}
		if (t.deadlock || rc == ANVIL_ERR_DEADLOCK) {
			rc = ANVIL_ERR_DEADLOCK;
			if (++tries >= TRIES_MAX) {
				fail(st, rc, "gave up after %d deadlocks",
				    tries);
				log_err("store: %s", st->msg);
				break;
			}
			backoff(st, tries);
			continue;
		}
		break;
	}
	if (rc == ANVIL_OK && st->dirty) {
		/*
		 * Bounds recovery time and lets old logs go: store_maintain,
		 * after the reply is out. Asking costs a scan of the log
		 * (DB_LOG_AUTO_REMOVE) even when nothing is due (8.6 % of the
		 * server's CPU in bench/), so a process asks only after it
		 * wrote, every 64 commits or once a minute. Durability does
		 * not depend on it: commits sync the log.
		 */
		time_t now = time(NULL);
		if (++st->commits >= 64 || now - st->last_ckp >= 60)
			st->ckp_due = 1;
	}
	if (rc != ANVIL_OK)
		errf(err, errlen, rc, "%s", st->msg[0] != '\0' &&
		    st->msg_code == rc ? st->msg : anvil_strerror(rc));
	return rc;
}

/* ------------------------------------------------------------ backup, verify */

/* Messages from a Berkeley DB handle of our own (not st's environment). */
struct capture {
	char msg[256];
};

static void
capture_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	struct capture *cap = env != NULL ? env->app_private : NULL;

	(void)pfx;
	if (msg == NULL)
		return;
	log_debug("berkeley db: %s", msg);
	if (cap != NULL && cap->msg[0] == '\0')
		snprintf(cap->msg, sizeof(cap->msg), "%s", msg);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		log_warn("store: cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* Removes dir and everything under it (best effort, logged). */
static void
rm_tree(const char *dir)
{
	if (dir != NULL)
		(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static anvil_err
fsync_path(const char *path, int dir, char *err, size_t errlen)
{
	int fd, ret;

	fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC |
	    O_NOCTTY);
	if (fd < 0)
		return errf(err, errlen, ANVIL_ERR_IO, "%s: %s", path,
		    strerror(errno));
	ret = fsync(fd);
	close(fd);
	if (ret != 0)
		return errf(err, errlen, ANVIL_ERR_IO, "fsync %s: %s", path,
		    strerror(errno));
	return ANVIL_OK;
}

/* fsyncs every regular file in dir, then dir. */
static anvil_err
fsync_dir_files(const char *dir, char *err, size_t errlen)
{
	DIR *d = NULL;
	struct dirent *de;
	struct stat sb;
	char *p = NULL;
	anvil_err rc = ANVIL_OK;

	if ((d = opendir(dir)) == NULL)
		return errf(err, errlen, ANVIL_ERR_IO, "%s: %s", dir,
		    strerror(errno));
	while (rc == ANVIL_OK && (de = readdir(d)) != NULL) {
		if (asprintf(&p, "%s/%s", dir, de->d_name) < 0) {
			p = NULL;
			rc = ANVIL_ERR_NOMEM;
			break;
		}
		if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode))
			rc = fsync_path(p, 0, err, errlen);
		free(p);
		p = NULL;
	}
	closedir(d);
	if (rc == ANVIL_OK)
		rc = fsync_path(dir, 1, err, errlen);
	return rc;
}

/*
 * Copies the live environment of st into the existing empty folder target
 * with DB_ENV->backup, after a forced checkpoint so that recovery of the
 * copy has little to replay.
 */
static anvil_err
hot_copy(struct store *st, const char *target, char *err, size_t errlen)
{
	int ret;
	anvil_err rc = ANVIL_ERR_STORE;

	if (st->env == NULL)
		return errf(err, errlen, ANVIL_ERR_STORE, "%s is not open "
		    "(an earlier reopen failed)", st->home);
	if (st->pid != self())
		return errf(err, errlen, ANVIL_ERR_STORE,
		    "store handle used in a forked child; open one there");
	/* In the fence, with no watchdog: a copy may take its time, and a
	 * recovery waits for it. */
	fence_share(st);
	st->bdbmsg[0] = '\0';
	if ((ret = st->env->txn_checkpoint(st->env, 0, 0, DB_FORCE)) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_STORE,
		    "DB_ENV->txn_checkpoint(%s): %s", st->home,
		    db_strerror(ret));
		goto out;
	}
	st->bdbmsg[0] = '\0';
	st->checksum_bad = 0;
	if ((ret = st->env->backup(st->env, target, 0)) != 0) {
		rc = errf(err, errlen, st->checksum_bad ? ANVIL_ERR_CORRUPT :
		    ANVIL_ERR_STORE, "DB_ENV->backup(%s to %s): %s", st->home,
		    target, st->bdbmsg[0] ? st->bdbmsg : db_strerror(ret));
		goto out;
	}
	rc = ANVIL_OK;
out:
	if (!st->hold)
		fence_leave(st);
	return rc;
}

/*
 * Catastrophic recovery of a hot copy in a private environment (nobody
 * else may use dir), then a checkpoint and removal of the log files the
 * recovered copy no longer needs; leaves no region files behind.
 */
static anvil_err
recover_copy(const char *dir, char *err, size_t errlen)
{
	struct capture cap;
	DB_ENV *env = NULL;
	int ret;
	anvil_err rc = ANVIL_ERR_STORE;

	memset(&cap, 0, sizeof(cap));
	if ((ret = db_env_create(&env, 0)) != 0)
		return errf(err, errlen, ANVIL_ERR_STORE, "db_env_create: %s",
		    db_strerror(ret));
	env->app_private = &cap;
	env->set_errcall(env, capture_errcall);
	env->set_msgcall(env, bdb_msgcall);
	ret = env->open(env, dir, DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG |
	    DB_INIT_MPOOL | DB_INIT_TXN | DB_RECOVER_FATAL | DB_PRIVATE,
	    FILE_MODE);
	if (ret != 0) {
		rc = errf(err, errlen, ret == DB_RUNRECOVERY ||
		    strstr(cap.msg, "checksum") != NULL ? ANVIL_ERR_CORRUPT :
		    ANVIL_ERR_STORE, "recovery of the copy in %s: %s", dir,
		    cap.msg[0] ? cap.msg : db_strerror(ret));
		goto out;
	}
	if ((ret = env->txn_checkpoint(env, 0, 0, DB_FORCE)) != 0 ||
	    (ret = env->log_archive(env, NULL, DB_ARCH_REMOVE)) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_STORE, "checkpoint of the "
		    "copy in %s: %s", dir, cap.msg[0] ? cap.msg :
		    db_strerror(ret));
		goto out;
	}
	rc = ANVIL_OK;
out:
	ret = env->close(env, 0);
	if (ret != 0 && rc == ANVIL_OK)
		rc = errf(err, errlen, ANVIL_ERR_STORE, "closing the copy in "
		    "%s: %s", dir, db_strerror(ret));
	return rc;
}

/* Removes trailing slashes (keeps "/"); new string. */
static char *
strip_slashes(const char *p)
{
	char *s = strdup(p);
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

/* The folder holding path (new string): "." for a bare name. */
static char *
parent_of(const char *path)
{
	const char *sl = strrchr(path, '/');

	if (sl == NULL)
		return strdup(".");
	if (sl == path)
		return strdup("/");
	return strndup(path, (size_t)(sl - path));
}

anvil_err
store_backup(struct store *st, const char *dir, char *err, size_t errlen)
{
	struct stat sb;
	char *target = NULL, *tmp = NULL, *parent = NULL, *path = NULL;
	DIR *d = NULL;
	struct dirent *de;
	int i, made = 0;
	anvil_err rc = ANVIL_ERR_STORE;

	if (st == NULL || dir == NULL || *dir == '\0')
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_backup: no store or folder");
	if ((target = strip_slashes(dir)) == NULL)
		return ANVIL_ERR_NOMEM;
	if (stat(target, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode)) {
			rc = errf(err, errlen, ANVIL_ERR_EXISTS,
			    "%s exists and is not a folder", target);
			goto out;
		}
		if ((d = opendir(target)) == NULL) {
			rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s", target,
			    strerror(errno));
			goto out;
		}
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0) {
				rc = errf(err, errlen, ANVIL_ERR_EXISTS,
				    "%s is not empty", target);
				goto out;
			}
		}
	} else if (errno != ENOENT) {
		rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s", target,
		    strerror(errno));
		goto out;
	}
	if (asprintf(&tmp, "%s.partial-XXXXXX", target) < 0) {
		tmp = NULL;
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if (mkdtemp(tmp) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_IO, "creating %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	made = 1;
	if ((rc = hot_copy(st, tmp, err, errlen)) != ANVIL_OK ||
	    (rc = recover_copy(tmp, err, errlen)) != ANVIL_OK)
		goto out;
	for (i = 0; i < DBI__MAX; i++) {
		free(path);
		if (asprintf(&path, "%s/%s", tmp, db_desc[i].file) < 0) {
			path = NULL;
			rc = ANVIL_ERR_NOMEM;
			goto out;
		}
		if ((rc = file_check(path, err, errlen)) != ANVIL_OK) {
			if (rc == ANVIL_ERR_NOTFOUND)
				rc = errf(err, errlen, ANVIL_ERR_STORE,
				    "the backup lacks %s", db_desc[i].file);
			goto out;
		}
	}
	if ((rc = fsync_dir_files(tmp, err, errlen)) != ANVIL_OK)
		goto out;
	if (rename(tmp, target) != 0) {
		rc = errf(err, errlen, errno == ENOTEMPTY || errno == EEXIST ?
		    ANVIL_ERR_EXISTS : ANVIL_ERR_IO, "renaming %s to %s: %s",
		    tmp, target, strerror(errno));
		goto out;
	}
	made = 0;
	if ((parent = parent_of(target)) == NULL) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	rc = fsync_path(parent, 1, err, errlen);
out:
	if (d != NULL)
		closedir(d);
	if (made)
		rm_tree(tmp);
	free(path);
	free(parent);
	free(tmp);
	free(target);
	return rc;
}

/* DB->verify on one file that nobody has open; the message into why. */
static int
verify_file(const char *path, char *why, size_t whylen)
{
	struct capture cap;
	DB *db = NULL;
	int ret;

	memset(&cap, 0, sizeof(cap));
	why[0] = '\0';
	if ((ret = db_create(&db, NULL, 0)) != 0) {
		snprintf(why, whylen, "db_create: %s", db_strerror(ret));
		return ret;
	}
	db->dbenv->app_private = &cap;
	db->set_errcall(db, capture_errcall);
	/* The handle is gone after verify, whatever it returns. */
	ret = db->verify(db, path, NULL, NULL, 0);
	if (ret != 0)
		snprintf(why, whylen, "%s", cap.msg[0] ? cap.msg :
		    db_strerror(ret));
	return ret;
}

/* Number of key/data pairs in database i (duplicates counted). */
static anvil_err
count_pairs(struct store_txn *t, enum dbi i, size_t *n)
{
	DBC *c = NULL;
	DBT k, d;
	int ret;
	anvil_err rc;

	*n = 0;
	if ((rc = cur_open(t, i, 0, &c)) != ANVIL_OK)
		return rc;
	for (;;) {
		dbt_set(&k, NULL, 0);
		dbt_set(&d, NULL, 0);
		ret = c->get(c, &k, &d, DB_NEXT);
		wd_tick();
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = bdb_sort(t->st, t, "DBC->get", db_desc[i].file,
			    ret);
			break;
		}
		(*n)++;
	}
	return cur_close(t, i, c, rc);
}

/* 1 if the pair key/data is in sorted-duplicates index i. */
static anvil_err
pair_present(struct store_txn *t, enum dbi i, const void *key, size_t klen,
    const void *data, size_t dlen, int *present)
{
	DBC *c = NULL;
	DBT k, d;
	int ret;
	anvil_err rc;

	*present = 0;
	if ((rc = cur_open(t, i, 0, &c)) != ANVIL_OK)
		return rc;
	dbt_set(&k, key, klen);
	dbt_set(&d, data, dlen);
	ret = c->get(c, &k, &d, DB_GET_BOTH);
	wd_tick();
	if (ret == 0)
		*present = 1;
	else if (ret != DB_NOTFOUND)
		rc = bdb_sort(t->st, t, "DBC->get", db_desc[i].file, ret);
	return cur_close(t, i, c, rc);
}

struct vcheck {
	size_t expect[DBI__MAX];	/* index entries the records imply */
	size_t problems;
	char msg[1024];			/* the first few problems */
};

static void vproblem(struct vcheck *, const char *, ...)
	__attribute__((format(printf, 2, 3)));

static void
vproblem(struct vcheck *v, const char *fmt, ...)
{
	va_list ap;
	size_t len = strlen(v->msg);

	v->problems++;
	if (v->problems > 4 || len + 8 >= sizeof(v->msg))
		return;
	if (len > 0) {
		snprintf(v->msg + len, sizeof(v->msg) - len, "; ");
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(v->msg + len, sizeof(v->msg) - len, fmt, ap);
	va_end(ap);
}

/* Each record of kind: key, JSON, and the index entries it implies. */
static anvil_err
check_kind(struct store_txn *t, enum store_kind kind, struct vcheck *v)
{
	enum dbi i = (enum dbi)kind;
	DBC *c = NULL;
	DBT k, d;
	json_t *rec = NULL;
	struct idx ix;
	const void *data = NULL;
	size_t len = 0;
	char id[ID_MAX + 1];
	int ret, present;
	anvil_err rc = ANVIL_OK, r;

	memset(&ix, 0, sizeof(ix));
	if ((rc = cur_open(t, i, 0, &c)) != ANVIL_OK)
		return rc;
	for (;;) {
		idx_clear(&ix);
		json_decref(rec);
		rec = NULL;
		dbt_set(&k, NULL, 0);
		dbt_set(&d, NULL, 0);
		ret = c->get(c, &k, &d, DB_NEXT);
		wd_tick();
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = bdb_sort(t->st, t, "DBC->get", db_desc[i].file,
			    ret);
			break;
		}
		if (!idn_ok(k.data, k.size, ID_MAX)) {
			vproblem(v, "%s: a key is not a valid id",
			    db_desc[i].file);
			continue;
		}
		memcpy(id, k.data, k.size);
		id[k.size] = '\0';
		r = rec_parse(t->st, kind, id, d.data, d.size, &rec);
		if (r == ANVIL_ERR_NOMEM) {
			rc = r;
			break;
		}
		if (r != ANVIL_OK) {
			vproblem(v, "%s", t->st->msg);
			continue;
		}
		if (idx_extract(t->st, kind, rec, &ix, ANVIL_ERR_CORRUPT) !=
		    ANVIL_OK) {
			vproblem(v, "%s record %s: %s", db_desc[i].file, id,
			    t->st->msg);
			continue;
		}
		if (ix.thumb != NULL) {
			v->expect[DBI_THUMBPRINT]++;
			r = raw_get(t, DBI_THUMBPRINT, ix.thumb,
			    strlen(ix.thumb), 0, &data, &len);
			if (r != ANVIL_OK && r != ANVIL_ERR_NOTFOUND) {
				rc = r;
				break;
			}
			if (r != ANVIL_OK || len != k.size ||
			    memcmp(data, id, len) != 0)
				vproblem(v, "%s: account %s is not under its "
				    "thumbprint", db_desc[DBI_THUMBPRINT].file,
				    id);
		}
		if (ix.account != NULL && acct_index(kind) != DBI__MAX) {
			v->expect[acct_index(kind)]++;
			if ((rc = pair_present(t, acct_index(kind), ix.account,
			    strlen(ix.account), id, k.size, &present)) !=
			    ANVIL_OK)
				break;
			if (!present)
				vproblem(v, "%s: %s of account %s is missing",
				    db_desc[acct_index(kind)].file, id,
				    ix.account);
		}
		if (ix.ident != NULL) {
			v->expect[DBI_ACCT_IDENT]++;
			if ((rc = pair_present(t, DBI_ACCT_IDENT, ix.ident,
			    ix.identlen, id, k.size, &present)) != ANVIL_OK)
				break;
			if (!present)
				vproblem(v, "%s: authorization %s is missing",
				    db_desc[DBI_ACCT_IDENT].file, id);
		}
		if (ix.revoked) {
			v->expect[DBI_REVOKED]++;
			r = raw_get(t, DBI_REVOKED, id, k.size, 0, &data, &len);
			if (r == ANVIL_ERR_NOTFOUND)
				vproblem(v, "%s: revoked certificate %s is "
				    "missing", db_desc[DBI_REVOKED].file, id);
			else if (r != ANVIL_OK) {
				rc = r;
				break;
			}
		}
	}
	idx_clear(&ix);
	json_decref(rec);
	return cur_close(t, i, c, rc);
}

/* Counters hold 8 bytes; spent nonces 1..NONCE_MAX bytes -> 8 bytes. */
static anvil_err
check_fixed(struct store_txn *t, enum dbi i, struct vcheck *v)
{
	DBC *c = NULL;
	DBT k, d;
	int ret;
	anvil_err rc;

	if ((rc = cur_open(t, i, 0, &c)) != ANVIL_OK)
		return rc;
	for (;;) {
		dbt_set(&k, NULL, 0);
		dbt_set(&d, NULL, 0);
		ret = c->get(c, &k, &d, DB_NEXT);
		wd_tick();
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = bdb_sort(t->st, t, "DBC->get", db_desc[i].file,
			    ret);
			break;
		}
		if (d.size != 8 || (i == DBI_COUNTERS ?
		    !idn_ok(k.data, k.size, COUNTER_MAX) :
		    (k.size == 0 || k.size > NONCE_MAX)))
			vproblem(v, "%s: an entry of the wrong size",
			    db_desc[i].file);
	}
	return cur_close(t, i, c, rc);
}

static anvil_err
records_fn(struct store_txn *t, void *arg)
{
	struct vcheck *v = arg;
	size_t n = 0;
	int k;
	enum dbi ixs[] = { DBI_THUMBPRINT, DBI_ACCT_ORDERS, DBI_ACCT_AUTHZ,
	    DBI_ACCT_CERTS, DBI_ACCT_IDENT, DBI_REVOKED };
	anvil_err rc;

	memset(v, 0, sizeof(*v));
	for (k = 0; k < STORE_KIND__MAX; k++)
		if ((rc = check_kind(t, (enum store_kind)k, v)) != ANVIL_OK)
			return rc;
	if ((rc = check_fixed(t, DBI_COUNTERS, v)) != ANVIL_OK ||
	    (rc = check_fixed(t, DBI_NONCES, v)) != ANVIL_OK)
		return rc;
	for (k = 0; k < (int)(sizeof(ixs) / sizeof(ixs[0])); k++) {
		if ((rc = count_pairs(t, ixs[k], &n)) != ANVIL_OK)
			return rc;
		if (n > v->expect[ixs[k]])
			vproblem(v, "%s: %zu entries, the records account "
			    "for %zu", db_desc[ixs[k]].file, n,
			    v->expect[ixs[k]]);
	}
	return ANVIL_OK;
}

anvil_err
store_verify(struct store *st, char *err, size_t errlen)
{
	struct vcheck v;
	struct store *snap = NULL;
	char *data_dir = NULL, *base = NULL, *home = NULL, *path = NULL;
	char why[320], bad[1024] = "", rerr[512] = "", serr[512] = "";
	size_t blen = 0, nbad = 0;
	int i;
	anvil_err rc = ANVIL_ERR_STORE, rrc;

	if (st == NULL)
		return errf(err, errlen, ANVIL_ERR_INVALID,
		    "store_verify: no store");
	if ((data_dir = parent_of(st->home)) == NULL ||
	    asprintf(&base, "%s/.anvil-check-XXXXXX", data_dir) < 0) {
		base = NULL;
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if (mkdtemp(base) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_IO, "creating %s: %s", base,
		    strerror(errno));
		free(base);
		base = NULL;
		goto out;
	}
	if (asprintf(&home, "%s/%s", base, STORE_SUBDIR) < 0) {
		home = NULL;
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if (mkdir(home, DIR_MODE) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_IO, "creating %s: %s", home,
		    strerror(errno));
		goto out;
	}
	if ((rc = hot_copy(st, home, err, errlen)) != ANVIL_OK)
		goto out;
	/* Recovery of the copy reads every page the log touches; a damaged
	 * one stops it, and DB->verify below says which file it was in. */
	rrc = recover_copy(home, rerr, sizeof(rerr));

	for (i = 0; i < DBI__MAX; i++) {
		free(path);
		if (asprintf(&path, "%s/%s", home, db_desc[i].file) < 0) {
			path = NULL;
			rc = ANVIL_ERR_NOMEM;
			goto out;
		}
		if (file_check(path, why, sizeof(why)) != ANVIL_OK ||
		    verify_file(path, why, sizeof(why)) != 0) {
			nbad++;
			if (blen + 8 < sizeof(bad))
				blen += (size_t)snprintf(bad + blen,
				    sizeof(bad) - blen, "%s%s (%s)",
				    blen ? "; " : "", db_desc[i].file, why);
			if (blen >= sizeof(bad))
				blen = sizeof(bad) - 1;
		}
	}
	if (nbad > 0) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT, "%s: %zu damaged "
		    "file%s: %s", st->home, nbad, nbad == 1 ? "" : "s", bad);
		goto out;
	}
	if (rrc != ANVIL_OK) {
		rc = errf(err, errlen, rrc, "%s", rerr);
		goto out;
	}

	/* Records and indexes, read from the recovered snapshot. */
	if ((rc = store_open(base, 0, &snap, serr, sizeof(serr))) !=
	    ANVIL_OK) {
		rc = errf(err, errlen, rc, "opening the snapshot: %s", serr);
		goto out;
	}
	memset(&v, 0, sizeof(v));
	rc = store_run(snap, 0, records_fn, &v, serr, sizeof(serr));
	if (rc != ANVIL_OK) {
		rc = errf(err, errlen, rc, "reading the snapshot: %s", serr);
		goto out;
	}
	if (v.problems > 0) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT, "%s: %zu record or "
		    "index problem%s: %s%s", st->home, v.problems,
		    v.problems == 1 ? "" : "s", v.msg, v.problems > 4 ?
		    "; ..." : "");
		goto out;
	}
	rc = ANVIL_OK;
out:
	store_close(snap);
	if (base != NULL)
		rm_tree(base);
	free(path);
	free(home);
	free(base);
	free(data_dir);
	return rc;
}
