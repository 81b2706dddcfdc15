/* exclusive.c — the database lock and the live-endpoint check.
 *
 * The lock is a separate file, not the database itself: SQLite takes POSIX
 * record locks on the database, and on file systems that emulate flock(2)
 * with record locks (NFS) a lock of ours on the same file would merge with
 * SQLite's own, which belong to the same process. A lock file next to the
 * database has no such interaction and is where an operator looks first.
 * It is never removed: a stale file holds no lock, and removing it while
 * a second process opens it would let two coordinators lock two files.
 *
 * The endpoint check is a plain connect(2) to the ipc socket file: a live
 * listener accepts, a stale file (its process was killed) refuses with
 * ECONNREFUSED. A listener that exits between the check and our bind only
 * loses us a race we would also lose a moment later; one that starts in
 * between is caught by the database lock when it serves the same database
 * (emcctl run's endpoints live in a private directory).
 */
#include "exclusive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The pid the holder wrote, or 0 when the file says nothing readable. */
static long holder_pid(int fd)
{
	char buf[32] = {0};
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

	return n > 0 ? strtol(buf, NULL, 10) : 0;
}

int excl_db_lock(const char *db_path, emc_err *err)
{
	char path[4096], pid[32];
	int fd, len, r;

	if (snprintf(path, sizeof path, "%s.lock", db_path) >= (int)sizeof path)
		return emc_err_set(err, -ENAMETOOLONG, "database path too long: %s", db_path);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return emc_err_set(err, -errno, "cannot open the database lock %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno;
		if (r == EWOULDBLOCK) {
			long p = holder_pid(fd);

			close(fd);
			if (p > 0)
				return emc_err_set(err, -EBUSY,
						   "%s is in use by another coordinator (pid %ld, lock %s); stop it "
						   "first, or give this one another --db",
						   db_path, p, path);
			return emc_err_set(err, -EBUSY, "%s is in use by another coordinator (lock %s)", db_path,
					   path);
		}
		close(fd);
		return emc_err_set(err, -r, "cannot lock %s: %s", path, strerror(r));
	}
	len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		r = errno;
		close(fd);
		return emc_err_set(err, -r, "cannot write the database lock %s: %s", path, strerror(r));
	}
	return 0; /* fd stays open: the lock lives as long as the process */
}

int excl_endpoint_free(const char *endpoint, emc_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path;
	int fd, r;

	if (strncmp(endpoint, "ipc://", 6) != 0)
		return 0;
	path = endpoint + 6;
	if (path[0] == '@' || path[0] == '\0' || strlen(path) >= sizeof sa.sun_path)
		return 0; /* abstract or unusable: the bind decides */
	if (access(path, F_OK) < 0)
		return 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	if (r == 0)
		return emc_err_set(err, -EADDRINUSE, "%s is served by a running process; refusing to take it over",
				   endpoint);
	return 0;
}
