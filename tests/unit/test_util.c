/*
 * test_util.c - core helpers: bounded reads, atomic writes, compare, hex.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>
#include <gnutls/crypto.h>

#include "core/error.h"
#include "core/util.h"
#include "acme/acme_int.h"
#include "helpers.h"

Test(util, ct_memeq)
{
	cr_assert(ct_memeq("abc", "abc", 3));
	cr_assert(!ct_memeq("abc", "abd", 3));
	cr_assert(!ct_memeq("\x00\x01", "\x01\x01", 2));
	cr_assert(ct_memeq("", "", 0));
}

Test(util, read_file_is_bounded)
{
	char *dir = th_tempdir(), *path = util_path_join(dir, "f");
	char *buf = NULL, err[256] = "";
	size_t len = 0;
	FILE *f = fopen(path, "w");

	fputs("0123456789", f);
	fclose(f);
	cr_assert_eq(util_read_file(path, 10, &buf, &len, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert_eq(len, 10);
	cr_assert_str_eq(buf, "0123456789");
	free(buf);
	cr_assert_eq(util_read_file(path, 9, &buf, &len, err, sizeof(err)),
	    ANVIL_ERR_INVALID);
	cr_assert_null(buf);
	cr_assert(strstr(err, path) != NULL, "%s", err);
	cr_assert_eq(util_read_file("/nonexistent/x", 9, &buf, &len, err,
	    sizeof(err)), ANVIL_ERR_NOTFOUND);
	th_rmrf(dir);
	free(path);
	free(dir);
}

Test(util, write_file_atomic_sets_mode_and_replaces)
{
	char *dir = th_tempdir(), *path = util_path_join(dir, "key");
	char *buf = NULL, err[256] = "";
	struct stat st;

	cr_assert_eq(util_write_file_atomic(path, "one", 3, 0600, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(util_write_file_atomic(path, "two!", 4, 0644, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_eq(util_read_file(path, 100, &buf, NULL, err, sizeof(err)),
	    ANVIL_OK);
	cr_assert_str_eq(buf, "two!");
	free(buf);
	cr_assert_eq(util_write_file_atomic("/nonexistent/dir/x", "a", 1, 0600,
	    err, sizeof(err)), ANVIL_ERR_IO);
	th_rmrf(dir);
	free(path);
	free(dir);
}

/* Entries of dir (not . and ..). */
static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

Test(util, batch_writes_renames_on_commit_and_when_full)
{
	char *dir = th_tempdir(), *p[3], *buf = NULL, err[256] = "";
	const char *tmp = NULL;
	struct util_batch *b = util_batch_new(2);
	struct stat st;
	int i;

	cr_assert_not_null(b);
	cr_assert_null(util_batch_new(0));
	for (i = 0; i < 3; i++) {
		char name[8];
		snprintf(name, sizeof(name), "f%d", i);
		p[i] = util_path_join(dir, name);
	}
	cr_assert_eq(util_write_file_atomic(p[0], "old", 3, 0600, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_eq(util_batch_write(b, p[0], "new0", 4, 0644, &tmp, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_not_null(strstr(tmp, ".tmp-"));
	cr_assert_eq(util_batch_write(b, p[1], "new1", 4, 0644, NULL, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	/* Pending: the reader still sees the old file, the new ones not. */
	cr_assert_eq(util_read_file(p[0], 100, &buf, NULL, err, sizeof(err)),
	    ANVIL_OK);
	cr_assert_str_eq(buf, "old");
	free(buf);
	cr_assert_eq(util_exists(p[1]), 0);
	/* The third write finds the batch full: the first two land. */
	cr_assert_eq(util_batch_write(b, p[2], "new2", 4, 0600, NULL, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_assert_eq(util_read_file(p[1], 100, &buf, NULL, err, sizeof(err)),
	    ANVIL_OK);
	cr_assert_str_eq(buf, "new1");
	free(buf);
	cr_assert_eq(util_exists(p[2]), 0);
	cr_assert_eq(util_batch_commit(b, err, sizeof(err)), ANVIL_OK, "%s",
	    err);
	cr_assert_eq(util_read_file(p[0], 100, &buf, NULL, err, sizeof(err)),
	    ANVIL_OK);
	cr_assert_str_eq(buf, "new0");
	free(buf);
	cr_assert_eq(stat(p[0], &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0644);
	cr_assert_eq(stat(p[2], &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(count_entries(dir), 3, "a temporary was left behind");
	/* A batch freed uncommitted leaves nothing: no file, no temporary. */
	cr_assert_eq(util_batch_write(b, p[1], "lost", 4, 0644, NULL, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	util_batch_free(b);
	cr_assert_eq(util_read_file(p[1], 100, &buf, NULL, err, sizeof(err)),
	    ANVIL_OK);
	cr_assert_str_eq(buf, "new1");
	free(buf);
	cr_assert_eq(count_entries(dir), 3);
	b = util_batch_new(4);
	cr_assert_eq(util_batch_write(b, "/nonexistent/dir/x", "a", 1, 0600,
	    NULL, err, sizeof(err)), ANVIL_ERR_IO);
	cr_assert_eq(util_batch_commit(b, err, sizeof(err)), ANVIL_OK);
	util_batch_free(b);
	th_rmrf(dir);
	for (i = 0; i < 3; i++)
		free(p[i]);
	free(dir);
}

Test(util, path_join_and_hex)
{
	char *p = util_path_join("/a/b/", "c");
	char hex[9];

	cr_assert_str_eq(p, "/a/b/c");
	free(p);
	p = util_path_join("/a", "/abs");
	cr_assert_str_eq(p, "/abs");
	free(p);
	util_hex((const unsigned char *)"\x00\xff\x10\xab", 4, hex);
	cr_assert_str_eq(hex, "00ff10ab");
}

Test(util, strerror_covers_every_code)
{
	int e;

	for (e = 0; e < ANVIL_ERR__MAX; e++)
		cr_assert_str_neq(anvil_strerror((anvil_err)e), "unknown error");
	cr_assert_str_eq(anvil_strerror((anvil_err)999), "unknown error");
}

/* Ids are arguments of anvil-admin: none may read as an option. */
Test(util, acme_ids_never_start_with_a_dash)
{
	char id[23], seen_first[128] = { 0 };
	int i, firsts = 0;

	for (i = 0; i < 20000; i++) {
		cr_assert_eq(acme_new_id(id), ANVIL_OK);
		cr_assert_eq(strlen(id), 22);
		cr_assert(id[0] != '-' && id[0] != '_', "id %s", id);
		cr_assert_eq(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_"), 22, "id %s", id);
		if (!seen_first[(unsigned char)id[0]]) {
			seen_first[(unsigned char)id[0]] = 1;
			firsts++;
		}
	}
	/* Still random in the first place: all 62 letters and digits. */
	cr_assert_eq(firsts, 62, "%d different first characters", firsts);
}

/* The grandchild reports: another session than ours (its parent made it
 * and left), not our child, stdin on /dev/null; the caller gets 1. */
Test(util, detach_starts_a_grandchild_in_its_own_session)
{
	int p[2], d;
	pid_t me = getpid(), sid = getsid(0);
	struct pollfd pf;
	char line[128] = "";
	ssize_t n;

	cr_assert_eq(pipe(p), 0);
	d = util_detach(1);
	if (d == 0) {
		struct stat in, null;
		char buf[128];
		int ok = getsid(0) != sid && getppid() != me &&
		    fstat(0, &in) == 0 && stat("/dev/null", &null) == 0 &&
		    in.st_rdev == null.st_rdev;

		snprintf(buf, sizeof(buf), "%s\n", ok ? "detached" : "not");
		(void)!write(p[1], buf, strlen(buf));
		_exit(0);
	}
	cr_assert_eq(d, 1, "util_detach: %d", d);
	close(p[1]);
	pf.fd = p[0];
	pf.events = POLLIN;
	cr_assert_eq(poll(&pf, 1, 10000), 1, "no word from the grandchild");
	n = read(p[0], line, sizeof(line) - 1);
	cr_assert(n > 0);
	line[n] = '\0';
	cr_assert_str_eq(line, "detached\n");
	close(p[0]);
}

/* A per-user process limit that lets the first fork through and not the
 * second: the caller hears of it (-1), no grandchild runs. A uid with no
 * other process makes the count exact; root ignores RLIMIT_NPROC, hence
 * the change of uid. */
Test(util, detach_reports_a_second_fork_that_fails)
{
	pid_t pid;
	int st = 0;

	if (geteuid() != 0)
		cr_skip_test("needs root to take a uid of its own");
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct rlimit rl = { 2, 2 };
		int d;

		if (setgid(3999999) != 0 || setuid(3999999) != 0 ||
		    setrlimit(RLIMIT_NPROC, &rl) != 0)
			_exit(3);
		d = util_detach(1);
		_exit(d == -1 ? 0 : d == 0 ? 2 : 1);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "util_detach under RLIMIT_NPROC: status %d", st);
}

Test(util, cloexec_all_marks_every_descriptor_above_stderr)
{
	int fds[2], lo, fl;

	cr_assert_eq(pipe(fds), 0);
	/* One high up, as an inherited descriptor might be. */
	lo = fcntl(fds[0], F_DUPFD, 200);
	cr_assert_geq(lo, 200);
	cr_assert_eq(fcntl(fds[1], F_GETFD) & FD_CLOEXEC, 0);
	fl = fcntl(2, F_GETFD);
	util_cloexec_all();
	cr_assert_neq(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, 0);
	cr_assert_neq(fcntl(fds[1], F_GETFD) & FD_CLOEXEC, 0);
	cr_assert_neq(fcntl(lo, F_GETFD) & FD_CLOEXEC, 0);
	cr_assert_eq(fcntl(2, F_GETFD), fl, "stderr must stay as it was");
	close(fds[0]);
	close(fds[1]);
	close(lo);
}

/* A validation child must hold no copy of its parent's sockets or locks
 * (src/acme/validation.c): everything above stderr goes but the one kept. */
Test(util, close_except_keeps_only_the_one_descriptor)
{
	int fds[4], i, st = -1;
	pid_t pid;

	for (i = 0; i < 4; i++)
		cr_assert((fds[i] = open("/dev/null", O_RDONLY)) > 2);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int bad = 0;
		util_close_except(fds[2]);
		for (i = 0; i < 4; i++)
			if ((fcntl(fds[i], F_GETFD) >= 0) != (i == 2))
				bad = 1;
		if (fcntl(2, F_GETFD) < 0)
			bad = 1;
		_exit(bad);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "the child saw other descriptors open, or the kept one closed");
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		util_close_except(-1);
		for (i = 0; i < 4; i++)
			if (fcntl(fds[i], F_GETFD) >= 0)
				_exit(1);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "keep -1: all go");
	for (i = 0; i < 4; i++)
		close(fds[i]);
}

Test(util, hexval_both_cases_and_nothing_else)
{
	cr_expect_eq(util_hexval('0'), 0);
	cr_expect_eq(util_hexval('9'), 9);
	cr_expect_eq(util_hexval('a'), 10);
	cr_expect_eq(util_hexval('F'), 15);
	cr_expect_eq(util_hexval('g'), -1);
	cr_expect_eq(util_hexval('/'), -1);
	cr_expect_eq(util_hexval('\0'), -1);
}

Test(util, crl_names_follow_the_shared_convention)
{
	static const struct {
		int line;
		const char *url;
		unsigned gen, shard;
		const char *name, *full;
	} rows[] = {
		{ __LINE__, "http://a.test/crl/anvil.crl", 1, 0, "anvil.crl", "http://a.test/crl/anvil.crl" },
		{ __LINE__, "http://a.test/crl/anvil.crl", 0, 0, "anvil.crl", "http://a.test/crl/anvil.crl" },
		{ __LINE__, "http://a.test/crl/anvil.crl", 2, 0, "anvil-g2.crl", "http://a.test/crl/anvil-g2.crl" },
		{ __LINE__, "http://a.test/crl/anvil.crl", 1, 3, "anvil-s3.crl", "http://a.test/crl/anvil-s3.crl" },
		{ __LINE__, "http://a.test/crl/anvil.crl", 2, 16, "anvil-g2-s16.crl", "http://a.test/crl/anvil-g2-s16.crl" },
		{ __LINE__, "http://a.test/x/ca", 1, 2, "ca-s2.crl", "http://a.test/x/ca-s2.crl" },
		{ __LINE__, "http://a.test/x/", 1, 2, "anvil-s2.crl", "http://a.test/x/anvil-s2.crl" },
		{ __LINE__, "http://a.test/x/.crl", 1, 1, "anvil-s1.crl", "http://a.test/x/anvil-s1.crl" },
		{ __LINE__, "http://a.test/x/a%2f.crl", 1, 1, "anvil-s1.crl", "http://a.test/x/anvil-s1.crl" },
		{ __LINE__, "http://a.test/x/..crl", 1, 1, "anvil-s1.crl", "http://a.test/x/anvil-s1.crl" },
	};
	char stem[UTIL_CRL_STEM_MAX + 1], name[128], url[256];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		util_crl_stem(rows[i].url, stem);
		cr_assert_eq(util_crl_name(stem, rows[i].gen, rows[i].shard,
		    name, sizeof(name)), 0, "line %d", rows[i].line);
		cr_expect_str_eq(name, rows[i].name, "line %d", rows[i].line);
		cr_assert_eq(util_crl_url(rows[i].url, rows[i].gen,
		    rows[i].shard, url, sizeof(url)), 0, "line %d",
		    rows[i].line);
		cr_expect_str_eq(url, rows[i].full, "line %d", rows[i].line);
	}
	cr_expect_eq(util_crl_url("", 1, 1, url, sizeof(url)), -1,
	    "no crl_url, no URL");
	cr_expect_eq(util_crl_name("anvil", 2, 1024, name, 12), -1,
	    "a name that does not fit is refused");
	cr_expect_eq(util_crl_url("http://a.test/crl/anvil.crl", 1, 1, url,
	    20), -1, "a URL that does not fit is refused");
}

/*
 * A serial's shard is its value modulo the count, plus one: the same
 * serial always lands in the same shard, and 4096 random serials spread
 * over 16 shards with none far from the mean.
 */
Test(util, crl_shard_of_is_stable_and_even)
{
	static const unsigned char s1[] = { 0x01, 0x00 };	/* 256 */
	static const unsigned char s2[] = { 0x7f, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff };	/* 2^127 - 1 */
	unsigned count[16] = { 0 };
	unsigned char serial[16];
	unsigned i, k;

	cr_expect_eq(util_crl_shard_of(s1, sizeof(s1), 0), 0);
	cr_expect_eq(util_crl_shard_of(s1, sizeof(s1), 1), 0);
	cr_expect_eq(util_crl_shard_of(s1, sizeof(s1), 3), 256 % 3 + 1);
	cr_expect_eq(util_crl_shard_of(s1, sizeof(s1), 1024), 257);
	/* 2^127 - 1 = 7 (mod 10): 2^127 = 8 (mod 10), as 2^(4k+3). */
	cr_expect_eq(util_crl_shard_of(s2, sizeof(s2), 10), 8);
	cr_expect_eq(util_crl_shard_of(s2, sizeof(s2), 10),
	    util_crl_shard_of(s2, sizeof(s2), 10));
	for (i = 0; i < 4096; i++) {
		cr_assert_eq(gnutls_rnd(GNUTLS_RND_NONCE, serial,
		    sizeof(serial)), 0);
		k = util_crl_shard_of(serial, sizeof(serial), 16);
		cr_assert(k >= 1 && k <= 16, "shard %u", k);
		count[k - 1]++;
	}
	/* Mean 256, standard deviation 15.5: 6 of them either side. */
	for (k = 0; k < 16; k++)
		cr_expect(count[k] > 160 && count[k] < 352, "shard %u holds %u "
		    "of 4096", k + 1, count[k]);
}
