/* cache.h — the worker's decoded datasets in memory, shared by every slot.
 *
 * Owns: up to CACHE_MAX_ENTRIES decoded datasets, each loaded once per
 * process and read-only afterwards. A dataset is kept until cache_destroy(),
 * so a pointer cache_get() returned stays valid for the cache's life.
 *
 * The cache decodes nothing itself: the caller passes a loader, which the
 * cache calls outside its lock. While one thread loads a dataset, other
 * threads asking for the same dataset wait on that entry alone; threads
 * asking for any other dataset are not held up (see cache.c).
 *
 * Knows nothing of sockets or of the wire format.
 */
#ifndef EMC_WORKER_CACHE_H
#define EMC_WORKER_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "dataset.h"
#include "err.h"
#include "dataset.h"

#define CACHE_MAX_ENTRIES 8

/* What names a dataset: its content hash when the coordinator sent one,
 * else the reference (files, format, decoding settings) it is loaded from.
 * The struct is compared byte for byte: zero it before filling it. */
typedef struct cache_key {
	bool has_hash;
	uint8_t hash[32];
	emc_dataset_ref ref;
} cache_key;

/* Decodes the dataset `key` names. Called with no lock held, on the thread
 * that called cache_get(). On success *ret is handed to the cache, which
 * owns it from then on. On failure returns -errno (err says why) and the
 * cache keeps nothing: the next cache_get() of that key calls a loader
 * again. */
typedef int (*cache_loader_fn)(void *ctx, const cache_key *key, emc_dataset **ret, emc_err *err);

typedef struct cache cache;

/* On success *ret is the caller's (cache_destroy). -ENOMEM. */
int cache_new(cache **ret);

/* Frees every dataset. No cache_get() may be running. NULL-safe; sets
 * *p = NULL. */
void cache_destroy(cache **p);

/* The dataset `key` names: from memory if it is there; else, when another
 * thread is loading it, wait for that load; else load it with `load(ctx)`.
 * *ret is borrowed: owned by the cache, valid until cache_destroy().
 * Returns what the loader returned when this thread loaded it; -ENOSPC when
 * CACHE_MAX_ENTRIES datasets are already held or being loaded. A waiter
 * whose loader failed tries again itself. Any thread. */
int cache_get(cache *c, const cache_key *key, cache_loader_fn load, void *ctx, const emc_dataset **ret, emc_err *err);

#endif
