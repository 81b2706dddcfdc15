/* exclusive.h — one coordinator per database and per local endpoint.
 *
 * Two coordinators on one database would both hand out its trials and
 * fence each other's results; a second one binding the same ipc:// path
 * would silently take the endpoint over (libzmq unlinks the old socket
 * file), so control commands would reach the wrong database. Both are
 * refused at start-up, with the holder named.
 */
#ifndef EMC_EXCLUSIVE_H
#define EMC_EXCLUSIVE_H

#include "err.h"

/* Take the database's lock: an exclusive flock(2) on DB_PATH.lock (created
 * 0644 if missing), holding this process's pid, kept until the process
 * exits (the descriptor is never closed; the kernel drops the lock with the
 * process, however it dies). Returns 0, -EBUSY when another process holds
 * it (err names its pid and the lock file), or -errno on other failures. */
int excl_db_lock(const char *db_path, emc_err *err);

/* For an ipc:// endpoint whose socket file exists: -EADDRINUSE when a
 * process accepts connections on it (err says so), 0 when nobody does (a
 * stale file left by a killed process, which binding replaces). 0 for
 * every other transport: tcp:// binds fail by themselves when taken. */
int excl_endpoint_free(const char *endpoint, emc_err *err);

#endif
