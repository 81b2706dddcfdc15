/* cache.c — decoded datasets shared by the slots, loaded once, decoded
 * outside every shared lock.
 *
 * A dataset takes seconds to decode and verify (Fashion-MNIST: 70 000
 * images, hashed in full). Holding one lock across that would stall every
 * slot, even one whose dataset is already here. So the lock `c->lock`
 * guards only the table: an entry's state, key and pointer, a few hundred
 * bytes read in a loop of CACHE_MAX_ENTRIES. It is never held across a
 * loader call.
 *
 * Each entry is FREE, LOADING or READY:
 *   FREE    -> LOADING  a thread found no entry for its key and claimed one;
 *                       it alone runs the loader, with the lock released;
 *   LOADING -> READY    the loader succeeded: ds is set and never changes;
 *   LOADING -> FREE     the loader failed: nothing is kept.
 * Leaving LOADING broadcasts the entry's own condition variable. A thread
 * that wants a LOADING entry waits on that variable; when it wakes it looks
 * the key up again from the start, because a failed entry may by then have
 * been claimed for another dataset. Entries are never moved (waiters sleep
 * on their condition variables) and a READY entry is never freed before
 * cache_destroy(), which is what lets cache_get() hand out borrowed
 * pointers with no reference count.
 *
 * Workload: a handful of datasets per process, looked up once per trial.
 */
#include "cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef enum entry_state {
	ENTRY_FREE = 0,
	ENTRY_LOADING,
	ENTRY_READY,
} entry_state;

typedef struct entry {
	entry_state state;
	cache_key key;	     /* what the loading thread asked for */
	emc_dataset *ds;     /* READY only; owned */
	pthread_cond_t done; /* broadcast when the entry leaves LOADING */
} entry;

struct cache {
	pthread_mutex_t lock; /* guards every entry's state, key and ds */
	entry entries[CACHE_MAX_ENTRIES];
};

int cache_new(cache **ret)
{
	cache *c = calloc(1, sizeof *c);

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	for (int i = 0; i < CACHE_MAX_ENTRIES; i++)
		pthread_cond_init(&c->entries[i].done, NULL);
	*ret = c;
	return 0;
}

void cache_destroy(cache **p)
{
	cache *c = *p;

	if (!c)
		return;
	for (int i = 0; i < CACHE_MAX_ENTRIES; i++) {
		emc_dataset_destroy(&c->entries[i].ds);
		pthread_cond_destroy(&c->entries[i].done);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
	*p = NULL;
}

/* A lookup by hash matches a loaded dataset whose content has that hash
 * (whatever it was loaded from), or a load asked for by that hash; a
 * lookup by reference matches the same reference. */
static bool matches(const entry *e, const cache_key *k)
{
	if (e->state == ENTRY_FREE)
		return false;
	if (k->has_hash) {
		const uint8_t *h = e->state == ENTRY_READY ? e->ds->hash : e->key.has_hash ? e->key.hash : NULL;

		return h && memcmp(h, k->hash, 32) == 0;
	}
	return memcmp(&e->key.ref, &k->ref, sizeof k->ref) == 0;
}

/* With c->lock held: the entry for k, or NULL. */
static entry *find(cache *c, const cache_key *k)
{
	for (int i = 0; i < CACHE_MAX_ENTRIES; i++)
		if (matches(&c->entries[i], k))
			return &c->entries[i];
	return NULL;
}

static entry *find_free(cache *c)
{
	for (int i = 0; i < CACHE_MAX_ENTRIES; i++)
		if (c->entries[i].state == ENTRY_FREE)
			return &c->entries[i];
	return NULL;
}

int cache_get(cache *c, const cache_key *key, cache_loader_fn load, void *ctx, const emc_dataset **ret, emc_err *err)
{
	emc_dataset *ds = NULL;
	entry *e;
	int r;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		e = find(c, key);
		if (!e)
			break;
		if (e->state == ENTRY_READY) {
			*ret = e->ds;
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		/* Another thread decodes it: wait for that entry, then look again. */
		pthread_cond_wait(&e->done, &c->lock);
	}
	e = find_free(c);
	if (!e) {
		pthread_mutex_unlock(&c->lock);
		return emc_err_set(err, ENOSPC, "worker: more than %d datasets in one process", CACHE_MAX_ENTRIES);
	}
	e->state = ENTRY_LOADING;
	e->key = *key;
	pthread_mutex_unlock(&c->lock);

	r = load(ctx, key, &ds, err); /* no lock held: the slow part */

	pthread_mutex_lock(&c->lock);
	if (r == 0) {
		e->ds = ds;
		e->state = ENTRY_READY;
		*ret = ds;
	} else {
		memset(&e->key, 0, sizeof e->key);
		e->state = ENTRY_FREE;
	}
	pthread_cond_broadcast(&e->done);
	pthread_mutex_unlock(&c->lock);
	return r;
}
