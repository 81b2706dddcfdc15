/* fetch.h — datasets on this machine's disk, and their transfer from the
 * coordinator by content hash.
 *
 * Owns: the cache directory (CACHE/HEX.emcd, one verified encoding per
 * dataset, least recently used evicted past a size bound) and the one
 * transfer in progress (CACHE/HEX.part, appended chunk by chunk, resumed
 * from its end after a reconnect or a restart).
 *
 * Threads: everything runs on the main thread except fetch_cache_load(),
 * which slot threads call (it reads only the directory name, fixed at
 * fetch_new()).
 */
#ifndef EMC_WORKER_FETCH_H
#define EMC_WORKER_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "dataset.h"
#include "err.h"
#include "session.h"

/* A transfer ended: error is NULL when CACHE/HEX.emcd is in place (still to
 * be verified by whoever loads it), else why it failed. Main thread. */
typedef void (*fetch_done_fn)(void *ctx, const uint8_t hash[32], const char *error);

typedef struct fetch_config {
	const char *cache_dir; /* copied */
	int64_t cache_limit_bytes;
	double bytes_per_ms; /* transfer rate cap; 0 = none */
} fetch_config;

typedef struct fetch fetch;

/* sess is borrowed and must outlive the fetch. On success *ret is the
 * caller's (fetch_destroy). -ENOMEM, -ENAMETOOLONG. */
int fetch_new(const fetch_config *cfg, session *sess, fetch_done_fn done, void *ctx, fetch **ret);

/* Abandons a transfer in progress (its partial file stays, to be resumed
 * by the next process). NULL-safe; sets *p = NULL. */
void fetch_destroy(fetch **p);

/* Read and verify CACHE/HEX.emcd. -ENOENT when absent; a file that fails
 * verification is removed (and -EAGAIN returned) so it is fetched again.
 * On success *ret is the caller's (emc_dataset_destroy). Any thread. */
int fetch_cache_load(const fetch *f, const uint8_t hash[32], emc_dataset **ret, emc_err *err);

/* Is a transfer in progress? Only one runs at a time. */
bool fetch_active(const fetch *f);

/* Begin fetching `hash` (no transfer may be active). */
void fetch_start(fetch *f, const uint8_t hash[32]);

/* Ask for more chunks, as the window and the rate cap allow: after every
 * turn of the main loop. */
void fetch_pump(fetch *f);

/* After a Welcome: requests sent before the reconnect may be lost, so ask
 * again from the end of the file. */
void fetch_resume(fetch *f);

/* A DataChunk arrived; one for another hash, or stale, is ignored. */
void fetch_on_chunk(fetch *f, const session_chunk *c);

/* Drain: stop the transfer, keep the partial file for the next start. */
void fetch_abandon(fetch *f);

#endif
