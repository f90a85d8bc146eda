/*
 * lock.c - one anvil-crl at a time per store, and the publish folder
 * made ready for it.
 *
 * The lock is not in the publish folder: that folder is served, and
 * whoever can write there could plant a symlink for our O_CREAT to follow;
 * data_dir is 0700 and never served (README.md).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "publish/publish.h"

/*
 * One anvil-crl at a time per store, whatever its --out: the CRL number
 * is the store's, and the newest number must be the one left published.
 * Returns the locked descriptor (held until exit), or -1 with err set.
 * O_NOFOLLOW and the fstat refuse anything but a plain file of ours.
 */
static int
lock_store(const char *data_dir, char *err, size_t errlen)
{
	struct stat sb;
	char *path = NULL;
	int fd = -1, ret = -1;

	if (util_mkdir_p(data_dir, 0700, err, errlen) != ANVIL_OK)
		goto out;
	if ((path = util_path_join(data_dir, "anvil-crl.lock")) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
	    0600);
	if (fd < 0) {
		snprintf(err, errlen, "lock %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "lock %s: not a regular file", path);
		goto out;
	}
	if (flock(fd, LOCK_EX) != 0) {
		snprintf(err, errlen, "lock %s: %s", path, strerror(errno));
		goto out;
	}
	ret = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return ret;
}

/*
 * Earlier versions locked dir/.anvil-crl.lock inside the publish folder,
 * where the web server served it. Remove that name; unlink() removes a
 * symlink itself, never what it points at.
 */
static void
drop_old_lock(const char *dir)
{
	char *path = util_path_join(dir, ".anvil-crl.lock");

	if (path != NULL && unlink(path) != 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", path, strerror(errno));
	free(path);
}

int
publish_lock(const char *data_dir, const char *dir, char *err, size_t errlen)
{
	int fd;

	if (util_mkdir_p(dir, 0755, err, errlen) != ANVIL_OK)
		return -1;
	if ((fd = lock_store(data_dir, err, errlen)) < 0)
		return -1;
	drop_old_lock(dir);
	return fd;
}
