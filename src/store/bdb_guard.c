/*
 * bdb_guard.c - the crash guard of the Berkeley DB store: what keeps a
 * process that dies, or a machine that reboots, from costing the others
 * their store or their commits.
 *
 * DESCRIPTION
 *	Berkeley DB 5.3 cannot see every death by itself, and its recovery
 *	does not wait for processes still inside the environment it replaces.
 *	So this file keeps its own list of the processes that have the store
 *	open (home/procs), claims a death for the next opener and makes its
 *	open run full recovery; holds the recovery fence, which every store
 *	call shares and a recovery takes alone (store_hold and store_idle keep
 *	a share across the calls of one request); runs the watchdog, which
 *	ends a process stuck on a mutex of a dead one; and keeps the boot
 *	fence, which removes the shared regions an earlier boot left before
 *	the first open of this boot. Each part explains itself below;
 *	tests/RELIABILITY.md tells what each was found by.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <db.h>
#include <jansson.h>

#include "core/error.h"
#include "core/log.h"
#include "store/bdb_int.h"
#include "store/store.h"

#define LOCK_FILE	"anvil.lock"	/* serialises opens (flock) */
#define FENCE_FILE	"recovery.lock"	/* store calls share, recovery alone */
#define GATE_FILE	"recovery.gate"	/* passed to get a share of it */
#define BOOT_FILE	"anvil.boot"	/* boot id the regions belong to */
#define BOOT_ID		"/proc/sys/kernel/random/boot_id"

static pid_t self_pid;			/* getpid(), cached; 0 after fork */

/* ------------------------------------------------------------ this process */

/*
 * This process's id. A store call asks several times (is the handle this
 * process's? is the watchdog?), and each getpid is a system call; the
 * cache is dropped in a forked child (pthread_atfork, from store_open).
 */
void
bdb_self_forked(void)
{
	self_pid = 0;
}

pid_t
bdb_self(void)
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
#define WAKE_S		2	/* to leave a recovered environment */

static timer_t wd_timer;
static pid_t wd_pid;			/* process wd_timer was made for */
static volatile sig_atomic_t wd_busy;	/* inside a store call */
volatile sig_atomic_t bdb_wd_inlib;	/* in the library, in the fence */
static volatile sig_atomic_t wd_told;	/* a recovery is waiting for this call */
static volatile sig_atomic_t wd_progress;	/* records this call went through */
						/* (0 again at bdb_wd_enter) */
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
void
bdb_wd_tick(void)
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
		if (bdb_wd_inlib) {
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
int
bdb_wd_setup(void)
{
	struct sigaction sa;
	struct sigevent sev;

	if (wd_pid == bdb_self())
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
	wd_pid = bdb_self();
	return 0;
}

/* Entering (or starting again) a store call that must end in seconds. */
void
bdb_wd_enter(long seconds)
{
	if (wd_pid != bdb_self())
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
void
bdb_wd_leave(void)
{
	if (wd_pid != bdb_self())
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
void
bdb_procs_join(struct store *st)
{
	char path[4096];
	int fd;

	st->proc_fd = -1;
	if (procs_path(st, 0, path, sizeof(path)) != 0)
		return;
	if (mkdir(path, DIR_MODE) != 0 && errno != EEXIST)
		log_warn("store: %s: %s", path, strerror(errno));
	if (procs_path(st, (long)bdb_self(), path, sizeof(path)) != 0)
		return;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, FILE_MODE);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_warn("store: %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	} else
		st->proc_fd = fd;
}

void
bdb_procs_leave(struct store *st)
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
		    pid == (long)bdb_self() ||
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

void
bdb_procs_tell(struct store *st, const char *what)
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

int
bdb_procs_claim_dead(struct store *st)
{
	return procs_each(st, claim_one);
}

/* Makes the next environment open run full recovery (see above). */
void
bdb_force_recovery(struct store *st)
{
	char *path = bdb_home_file(st, "__db.register");

	if (path != NULL && unlink(path) != 0 && errno != ENOENT)
		log_warn("store: %s: %s", path, strerror(errno));
	free(path);
	log_warn("store: recovering %s", st->home);
}

/* Identity of the primary region file (0 when there is none). */
ino_t
bdb_region_ino(const struct store *st)
{
	char *path = bdb_home_file(st, "__db.001");
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
 * (bdb_procs_tell): one inside a call, stuck on a mutex of the dead process,
 * leaves through its watchdog within WAKE_S; one waiting for the fence
 * or an open lock is not inside the library and keeps its time (bdb_wd_inlib).
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
anvil_err
bdb_fence_open(struct store *st, char *err, size_t errlen)
{
	const char *names[2] = { FENCE_FILE, GATE_FILE };
	int *fds[2] = { &st->fence_fd, &st->gate_fd };
	char *path;
	int i;

	for (i = 0; i < 2; i++) {
		if ((path = bdb_home_file(st, names[i])) == NULL)
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

void
bdb_fence_close(struct store *st)
{
	if (st->fence_fd >= 0)
		close(st->fence_fd);
	if (st->gate_fd >= 0)
		close(st->gate_fd);
	st->fence_fd = st->gate_fd = -1;
	st->fence_held = 0;
}

/* Leaves the fence (a no-op when not held). */
void
bdb_fence_leave(struct store *st)
{
	if (st->fence_held == 0)
		return;
	if (flock_wait(st->fence_fd, LOCK_UN) != 0)
		log_warn("store: flock %s/%s: %s", st->home, FENCE_FILE,
		    strerror(errno));
	st->fence_held = 0;
}

/* A share of the fence, through the gate: a store call may begin. */
void
bdb_fence_share(struct store *st)
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
void
bdb_fence_alone(struct store *st)
{
	bdb_fence_leave(st);
	if (st->fence_fd < 0)
		return;
	if (flock_wait(st->gate_fd, LOCK_EX) != 0) {
		log_warn("store: flock %s/%s: %s", st->home, GATE_FILE,
		    strerror(errno));
		return;
	}
	bdb_procs_tell(st, "a recovery waits for");
	if (flock_wait(st->fence_fd, LOCK_EX) != 0)
		log_warn("store: flock %s/%s: %s", st->home, FENCE_FILE,
		    strerror(errno));
	else
		st->fence_held = LOCK_EX;
	(void)flock_wait(st->gate_fd, LOCK_UN);
}

/* Will this open of the environment run recovery? (No registry.) */
int
bdb_recovery_ahead(const struct store *st)
{
	char *path = bdb_home_file(st, "__db.register");
	struct stat sb;
	int yes = 0;

	if (path != NULL && stat(path, &sb) != 0 && errno == ENOENT)
		yes = 1;
	free(path);
	return yes;
}

/*
 * Entering and leaving a store call: the fence, then the watchdog; inside,
 * the process is in the library (bdb_wd_inlib). In a span (store_hold) the
 * share is kept for the next call.
 */
void
bdb_call_enter(struct store *st)
{
	bdb_fence_share(st);
	bdb_wd_enter(STALL_S);
	bdb_wd_inlib = 1;
}

void
bdb_call_leave(struct store *st)
{
	bdb_wd_inlib = 0;
	bdb_wd_leave();
	if (!st->hold)
		bdb_fence_leave(st);
}

/*
 * A span (store.h): the share of the recovery fence that the first call
 * takes is kept until store_idle(), instead of being taken and left by
 * every call (four flock calls each).
 */
void
store_hold(struct store *st)
{
	if (st != NULL && st->pid == bdb_self())
		st->hold = 1;
}

void
store_idle(struct store *st)
{
	if (st == NULL || st->pid != bdb_self())
		return;
	st->hold = 0;
	bdb_fence_leave(st);
}

/* ------------------------------------------------------------ boot fence */

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
anvil_err
bdb_boot_fence(const struct store *st, int *lockfd, char *err, size_t errlen)
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
	if ((path = bdb_home_file(st, LOCK_FILE)) == NULL)
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
	if ((path = bdb_home_file(st, BOOT_FILE)) == NULL) {
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
		if ((p = bdb_home_file(st, de->d_name)) == NULL) {
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
