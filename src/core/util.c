/*
 * util.c - small helpers used everywhere: bounded file reads, atomic file
 * writes, constant-time comparison, randomness, hex.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "core/util.h"

int
ct_memeq(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

void
util_wipe(void *p, size_t n)
{
	if (p != NULL)
		gnutls_memset(p, 0, n);
}

anvil_err
util_read_file(const char *path, size_t maxlen, char **out, size_t *outlen,
    char *err, size_t errlen)
{
	anvil_err rc = ANVIL_ERR_IO;
	char *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd = -1;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = errf(err, errlen,
		    errno == ENOENT ? ANVIL_ERR_NOTFOUND : ANVIL_ERR_IO,
		    "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((buf = malloc(maxlen + 1)) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "%s: out of memory",
		    path);
		goto out;
	}
	for (;;) {
		/* Read one byte past the bound to tell "too long" apart. */
		char extra;
		if (len == maxlen) {
			r = read(fd, &extra, 1);
			if (r > 0) {
				rc = errf(err, errlen, ANVIL_ERR_INVALID,
				    "%s: longer than %zu bytes", path, maxlen);
				goto out;
			}
		} else
			r = read(fd, buf + len, maxlen - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = errf(err, errlen, ANVIL_ERR_IO, "%s: read: %s",
			    path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (len == maxlen)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	if (outlen != NULL)
		*outlen = len;
	rc = ANVIL_OK;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int
fsync_dir_of(const char *path)
{
	char *dir = strdup(path), *slash;
	int fd, rc = -1;

	if (dir == NULL)
		return -1;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(dir);
	return rc;
}

/*
 * Writes len bytes to a new temporary file beside path (O_EXCL, mode
 * exactly), fsyncs it when sync, and returns its name in *tmp (caller
 * frees). On failure nothing is left behind.
 */
static anvil_err
write_tmp(const char *path, const void *data, size_t len, mode_t mode,
    int sync, char **tmp, char *err, size_t errlen)
{
	anvil_err rc = ANVIL_ERR_IO;
	const unsigned char *p = data;
	size_t done = 0;
	ssize_t w;
	int fd = -1;
	unsigned char rnd[8];
	char hex[17];

	*tmp = NULL;
	if (util_random(rnd, sizeof(rnd)) != ANVIL_OK)
		return errf(err, errlen, ANVIL_ERR_CRYPTO, "random failed");
	util_hex(rnd, sizeof(rnd), hex);
	if (asprintf(tmp, "%s.tmp-%s", path, hex) < 0) {
		*tmp = NULL;
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	}
	fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd < 0) {
		errf(err, errlen, ANVIL_ERR_IO, "%s: %s", *tmp,
		    strerror(errno));
		free(*tmp);
		*tmp = NULL;
		return rc;
	}
	/* The umask may have narrowed mode; never widened, but set exactly. */
	if (fchmod(fd, mode) != 0) {
		errf(err, errlen, ANVIL_ERR_IO, "%s: chmod: %s", *tmp,
		    strerror(errno));
		goto out;
	}
	while (done < len) {
		w = write(fd, p + done, len - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			errf(err, errlen, ANVIL_ERR_IO, "%s: write: %s", *tmp,
			    strerror(errno));
			goto out;
		}
		done += (size_t)w;
	}
	if ((sync && fsync(fd) != 0) || close(fd) != 0) {
		fd = -1;
		errf(err, errlen, ANVIL_ERR_IO, "%s: fsync: %s", *tmp,
		    strerror(errno));
		goto out;
	}
	fd = -1;
	rc = ANVIL_OK;
out:
	if (fd >= 0)
		close(fd);
	if (rc != ANVIL_OK) {
		unlink(*tmp);
		free(*tmp);
		*tmp = NULL;
	}
	return rc;
}

anvil_err
util_write_file_atomic(const char *path, const void *data, size_t len,
    mode_t mode, char *err, size_t errlen)
{
	char *tmp = NULL;
	anvil_err rc;

	if ((rc = write_tmp(path, data, len, mode, 1, &tmp, err, errlen)) !=
	    ANVIL_OK)
		return rc;
	if (rename(tmp, path) != 0) {
		errf(err, errlen, ANVIL_ERR_IO, "rename %s: %s", path,
		    strerror(errno));
		unlink(tmp);
		free(tmp);
		return ANVIL_ERR_IO;
	}
	free(tmp);
	(void)fsync_dir_of(path);
	return ANVIL_OK;
}

struct util_batch {
	size_t n, max;
	char **tmp, **path;	/* n pending pairs, max slots each */
	int fd;			/* a folder on the files' file system, or -1 */
};

struct util_batch *
util_batch_new(size_t max)
{
	struct util_batch *b;

	if (max == 0 || max > 65536 || (b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->max = max;
	b->fd = -1;
	if ((b->tmp = calloc(max, sizeof(char *))) == NULL ||
	    (b->path = calloc(max, sizeof(char *))) == NULL) {
		free(b->tmp);
		free(b);
		return NULL;
	}
	return b;
}

/* syncfs(2) on the file system of the batch's files (one, by contract). */
static int
batch_sync(struct util_batch *b)
{
	return b->fd >= 0 ? syncfs(b->fd) : 0;
}

anvil_err
util_batch_commit(struct util_batch *b, char *err, size_t errlen)
{
	anvil_err rc = ANVIL_OK;
	size_t i;

	if (b->n == 0)
		return ANVIL_OK;
	/* Every temporary's bytes on disk before any rename names them. */
	if (batch_sync(b) != 0)
		rc = errf(err, errlen, ANVIL_ERR_IO, "syncfs: %s",
		    strerror(errno));
	for (i = 0; i < b->n; i++) {
		if (rc == ANVIL_OK && rename(b->tmp[i], b->path[i]) != 0)
			rc = errf(err, errlen, ANVIL_ERR_IO, "rename %s: %s",
			    b->path[i], strerror(errno));
		if (rc != ANVIL_OK)
			unlink(b->tmp[i]);
		free(b->tmp[i]);
		free(b->path[i]);
		b->tmp[i] = b->path[i] = NULL;
	}
	b->n = 0;
	if (rc == ANVIL_OK && batch_sync(b) != 0)
		rc = errf(err, errlen, ANVIL_ERR_IO, "syncfs: %s",
		    strerror(errno));
	return rc;
}

anvil_err
util_batch_write(struct util_batch *b, const char *path, const void *data,
    size_t len, mode_t mode, const char **tmpname, char *err, size_t errlen)
{
	char *tmp = NULL, *dup;
	anvil_err rc;

	if (b->n == b->max && (rc = util_batch_commit(b, err, errlen)) !=
	    ANVIL_OK)
		return rc;
	if ((dup = strdup(path)) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	if ((rc = write_tmp(path, data, len, mode, 0, &tmp, err, errlen)) !=
	    ANVIL_OK) {
		free(dup);
		return rc;
	}
	if (b->fd < 0) {
		char *slash = strrchr(dup, '/');

		if (slash != NULL && slash != dup) {
			*slash = '\0';
			b->fd = open(dup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			*slash = '/';
		} else
			b->fd = open(slash ? "/" : ".", O_RDONLY | O_DIRECTORY |
			    O_CLOEXEC);
		if (b->fd < 0) {
			rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s", path,
			    strerror(errno));
			unlink(tmp);
			free(tmp);
			free(dup);
			return rc;
		}
	}
	b->tmp[b->n] = tmp;
	b->path[b->n] = dup;
	b->n++;
	if (tmpname != NULL)
		*tmpname = tmp;
	return ANVIL_OK;
}

void
util_batch_free(struct util_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++) {
		unlink(b->tmp[i]);
		free(b->tmp[i]);
		free(b->path[i]);
	}
	if (b->fd >= 0)
		close(b->fd);
	free(b->tmp);
	free(b->path);
	free(b);
}

int
util_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

char *
util_path_join(const char *dir, const char *path)
{
	char *r = NULL;
	size_t dl;

	if (path[0] == '/')
		return strdup(path);
	dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	if (asprintf(&r, "%.*s/%s", (int)dl, dir, path) < 0)
		return NULL;
	return r;
}

anvil_err
util_mkdir_p(const char *dir, mode_t mode, char *err, size_t errlen)
{
	char *copy = NULL, *p;
	anvil_err rc = ANVIL_OK;

	if ((copy = strdup(dir)) == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	for (p = copy + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(copy, mode) != 0 && errno != EEXIST) {
			rc = errf(err, errlen, ANVIL_ERR_IO, "mkdir %s: %s",
			    copy, strerror(errno));
			break;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(copy);
	return rc;
}

int64_t
util_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (int64_t)time(NULL) * 1000;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

anvil_err
util_random(void *buf, size_t n)
{
	if (gnutls_rnd(GNUTLS_RND_RANDOM, buf, n) < 0)
		return ANVIL_ERR_CRYPTO;
	return ANVIL_OK;
}

void
util_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int
util_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
util_crl_stem(const char *crl_url, char out[UTIL_CRL_STEM_MAX + 1])
{
	const char *seg = crl_url != NULL ? strrchr(crl_url, '/') : NULL;
	size_t n, i;

	seg = seg != NULL ? seg + 1 : "";
	n = strlen(seg);
	if (n > 4 && strcmp(seg + n - 4, ".crl") == 0)
		n -= 4;
	/* Named in a file path: nothing that could leave crl_dir. */
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)seg[i]) && seg[i] != '.' &&
		    seg[i] != '_' && seg[i] != '-')
			break;
	if (n == 0 || n > UTIL_CRL_STEM_MAX || i < n || seg[0] == '.') {
		snprintf(out, UTIL_CRL_STEM_MAX + 1, "anvil");
		return;
	}
	memcpy(out, seg, n);
	out[n] = '\0';
}

int
util_crl_name(const char *stem, unsigned gen, unsigned shard, char *out,
    size_t outlen)
{
	char g[16] = "", k[16] = "";
	int n;

	if (gen >= 2)
		snprintf(g, sizeof(g), "-g%u", gen);
	if (shard >= 1)
		snprintf(k, sizeof(k), "-s%u", shard);
	n = snprintf(out, outlen, "%s%s%s.crl", stem, g, k);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
util_crl_url(const char *crl_url, unsigned gen, unsigned shard, char *out,
    size_t outlen)
{
	char stem[UTIL_CRL_STEM_MAX + 1], name[UTIL_CRL_STEM_MAX + 32];
	const char *slash;
	size_t dl;
	int n;

	if (crl_url == NULL || crl_url[0] == '\0')
		return -1;
	if (gen <= 1 && shard == 0) {
		n = snprintf(out, outlen, "%s", crl_url);
		return n < 0 || (size_t)n >= outlen ? -1 : 0;
	}
	if ((slash = strrchr(crl_url, '/')) == NULL)
		return -1;
	util_crl_stem(crl_url, stem);
	if (util_crl_name(stem, gen, shard, name, sizeof(name)) != 0)
		return -1;
	dl = (size_t)(slash + 1 - crl_url);
	n = snprintf(out, outlen, "%.*s%s", (int)dl, crl_url, name);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

unsigned
util_crl_shard_of(const unsigned char *serial, size_t len, unsigned shards)
{
	unsigned long long r = 0;
	size_t i;

	if (shards <= 1)
		return 0;
	/* Horner's rule modulo shards: no byte of the serial is dropped. */
	for (i = 0; i < len; i++)
		r = (r * 256 + serial[i]) % shards;
	return (unsigned)r + 1;
}

int
util_detach(int keep_stderr)
{
	pid_t pid = fork();
	int fd, st = 0;

	if (pid < 0)
		return -1;
	if (pid > 0) {
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		/* The middle process says whether its fork worked: a
		 * per-user process limit (RLimitNPROC on a shared host,
		 * docs/shared-host.md) can let one fork through and not
		 * the next. */
		return WIFEXITED(st) && WEXITSTATUS(st) != 0 ? -1 : 1;
	}
	setsid();
	if ((pid = fork()) != 0)
		_exit(pid < 0 ? 1 : 0);
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (!keep_stderr)
			dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

/* Calls fn(fd, arg) for each open descriptor above 2 (from /proc). */
static void
fd_walk(void (*fn)(int, int), int arg)
{
	DIR *d;
	struct dirent *de;
	int self;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return;
	self = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		if (*end != '\0' || end == de->d_name || fd <= 2 ||
		    fd == self || fd > INT_MAX)
			continue;
		fn((int)fd, arg);
	}
	closedir(d);
}

static void
close_unless(int fd, int keep)
{
	if (fd != keep)
		close(fd);
}

void
util_close_except(int keep)
{
#ifdef CLOSE_RANGE_CLOEXEC
	if (keep < 3) {
		if (close_range(3, ~0U, 0) == 0)
			return;
	} else if ((keep == 3 || close_range(3, (unsigned)keep - 1, 0) == 0) &&
	    close_range((unsigned)keep + 1, ~0U, 0) == 0)
		return;
#endif
	fd_walk(close_unless, keep);
}

static void
set_cloexec(int fd, int unused)
{
	int fl = fcntl(fd, F_GETFD);

	(void)unused;
	if (fl >= 0 && !(fl & FD_CLOEXEC))
		fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

void
util_cloexec_all(void)
{
#ifdef CLOSE_RANGE_CLOEXEC
	/* Linux 5.11: one call, where reading /proc/self/fd cost a CGI
	 * request about 2 % of its CPU. Older kernels say ENOSYS/EINVAL. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
#endif
	fd_walk(set_cloexec, 0);
}

char *
util_strdup0(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}
