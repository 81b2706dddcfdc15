/* test_worker_cache.c — the worker's in-memory dataset cache, driven
 * directly with loaders that block until the test lets them go.
 *
 * What it guards: a dataset is decoded once however many slots ask for it
 * at the same time; while one is being decoded, a slot that wants a
 * dataset already in memory is not held up, and a slot that wants the same
 * one waits for that load instead of starting its own; a failed load keeps
 * nothing, so the next request loads again. Every wait in the test is
 * bounded, so a cache that holds its lock across a load fails the test
 * instead of hanging it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "testutil.h"

#include "cache.h"

#define WAIT_MS 2000 /* far longer than any lookup; short enough to fail fast */

/* A loader that says when it has started and, when `hold` is set, blocks
 * until released; it makes a dataset whose hash starts with `id`. */
typedef struct loader {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool hold;
	bool entered;
	bool released;
	int fail; /* this many calls fail with -EAGAIN first */
	atomic_int calls;
	uint8_t id;
} loader;

static void loader_init(loader *l, uint8_t id, bool hold)
{
	memset(l, 0, sizeof *l);
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	l->id = id;
	l->hold = hold;
}

static void loader_deinit(loader *l)
{
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
}

static struct timespec deadline_in(int ms)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Wait (bounded) until *flag is set under l->lock; returns it. */
static bool wait_flag(loader *l, const bool *flag, int ms)
{
	struct timespec t = deadline_in(ms);
	bool v;

	pthread_mutex_lock(&l->lock);
	while (!*flag && pthread_cond_timedwait(&l->cond, &l->lock, &t) == 0)
		;
	v = *flag;
	pthread_mutex_unlock(&l->lock);
	return v;
}

static void loader_release(loader *l)
{
	pthread_mutex_lock(&l->lock);
	l->released = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

static int load(void *ctx, const cache_key *key, emc_dataset **ret, emc_err *err)
{
	loader *l = ctx;
	emc_dataset *ds;
	int call = atomic_fetch_add(&l->calls, 1);

	(void)key;
	pthread_mutex_lock(&l->lock);
	l->entered = true;
	pthread_cond_broadcast(&l->cond);
	while (l->hold && !l->released)
		pthread_cond_wait(&l->cond, &l->lock);
	pthread_mutex_unlock(&l->lock);
	if (call < l->fail)
		return emc_err_set(err, EAGAIN, "loader %d: not yet", l->id);
	ds = calloc(1, sizeof *ds);
	if (!ds)
		return -ENOMEM;
	ds->n = l->id;
	ds->hash[0] = l->id;
	*ret = ds;
	return 0;
}

static cache_key key_of(uint8_t id)
{
	cache_key k;

	memset(&k, 0, sizeof k);
	k.has_hash = true;
	k.hash[0] = id;
	snprintf(k.ref.name, sizeof k.ref.name, "dataset-%d", id);
	return k;
}

/* cache_get() on a thread of its own, whose end the test can wait for. */
typedef struct getter {
	pthread_t thread;
	cache *c;
	cache_key key;
	loader *l;
	const emc_dataset *ds;
	int rc;
	loader done; /* only its lock, cond and `entered` (= finished) */
} getter;

static void *getter_main(void *arg)
{
	getter *g = arg;
	emc_err err;

	g->rc = cache_get(g->c, &g->key, load, g->l, &g->ds, &err);
	pthread_mutex_lock(&g->done.lock);
	g->done.entered = true;
	pthread_cond_broadcast(&g->done.cond);
	pthread_mutex_unlock(&g->done.lock);
	return NULL;
}

static void getter_start(getter *g, cache *c, uint8_t id, loader *l)
{
	memset(g, 0, sizeof *g);
	g->c = c;
	g->key = key_of(id);
	g->l = l;
	loader_init(&g->done, 0, false);
	assert_int_equal(pthread_create(&g->thread, NULL, getter_main, g), 0);
}

static bool getter_finished(getter *g, int ms)
{
	return wait_flag(&g->done, &g->done.entered, ms);
}

static void getter_join(getter *g)
{
	pthread_join(g->thread, NULL);
	loader_deinit(&g->done);
}

/* While A decodes, B (already in memory) is handed out at once. */
static void test_cached_dataset_not_blocked_by_a_load(void **state)
{
	cache *c = NULL;
	loader la, lb;
	getter ga, gb;
	const emc_dataset *b = NULL;
	cache_key kb = key_of(2);
	emc_err err;

	(void)state;
	assert_int_equal(cache_new(&c), 0);
	loader_init(&la, 1, true);
	loader_init(&lb, 2, false);
	assert_int_equal(cache_get(c, &kb, load, &lb, &b, &err), 0);

	getter_start(&ga, c, 1, &la);
	assert_true(wait_flag(&la, &la.entered, WAIT_MS));
	getter_start(&gb, c, 2, &lb);
	if (!getter_finished(&gb, WAIT_MS)) {
		loader_release(&la); /* let the threads end before failing */
		getter_join(&gb);
		getter_join(&ga);
		fail_msg("a lookup of a cached dataset waited for another dataset's decode");
	}
	assert_int_equal(gb.rc, 0);
	assert_ptr_equal(gb.ds, b);
	assert_false(getter_finished(&ga, 0)); /* A is still loading */

	loader_release(&la);
	assert_true(getter_finished(&ga, WAIT_MS));
	assert_int_equal(ga.rc, 0);
	assert_int_equal(ga.ds->hash[0], 1);
	assert_int_equal(atomic_load(&lb.calls), 1);
	getter_join(&ga);
	getter_join(&gb);
	loader_deinit(&la);
	loader_deinit(&lb);
	cache_destroy(&c);
	assert_null(c);
}

/* Two slots want A at once: one decode, and the second waits for it. */
static void test_same_dataset_loaded_once(void **state)
{
	cache *c = NULL;
	loader la;
	getter g1, g2;

	(void)state;
	assert_int_equal(cache_new(&c), 0);
	loader_init(&la, 1, true);
	getter_start(&g1, c, 1, &la);
	assert_true(wait_flag(&la, &la.entered, WAIT_MS));
	getter_start(&g2, c, 1, &la);
	assert_false(getter_finished(&g2, 200)); /* waits for the load under way */
	assert_int_equal(atomic_load(&la.calls), 1);

	loader_release(&la);
	assert_true(getter_finished(&g1, WAIT_MS));
	assert_true(getter_finished(&g2, WAIT_MS));
	assert_int_equal(g1.rc, 0);
	assert_int_equal(g2.rc, 0);
	assert_ptr_equal(g1.ds, g2.ds);
	assert_int_equal(atomic_load(&la.calls), 1);
	getter_join(&g1);
	getter_join(&g2);
	loader_deinit(&la);
	cache_destroy(&c);
}

/* A failed load keeps nothing: its waiter loads again itself, and so does
 * a later request. */
static void test_failed_load_is_retried(void **state)
{
	cache *c = NULL;
	loader la;
	getter g1, g2;

	(void)state;
	assert_int_equal(cache_new(&c), 0);
	loader_init(&la, 1, true);
	la.fail = 1;
	getter_start(&g1, c, 1, &la);
	assert_true(wait_flag(&la, &la.entered, WAIT_MS));
	getter_start(&g2, c, 1, &la);
	assert_false(getter_finished(&g2, 100));
	loader_release(&la);
	assert_true(getter_finished(&g1, WAIT_MS));
	assert_true(getter_finished(&g2, WAIT_MS));
	assert_int_equal(g1.rc, -EAGAIN);
	assert_int_equal(g2.rc, 0);
	assert_int_equal(g2.ds->hash[0], 1);
	assert_int_equal(atomic_load(&la.calls), 2);
	getter_join(&g1);
	getter_join(&g2);
	loader_deinit(&la);
	cache_destroy(&c);
}

/* A lookup by hash finds a dataset loaded by reference that has that
 * content; a lookup by reference matches the reference only. */
static void test_keys(void **state)
{
	cache *c = NULL;
	loader l;
	const emc_dataset *a = NULL, *b = NULL;
	cache_key by_ref = key_of(3), by_hash = key_of(3), other_ref = key_of(3);
	emc_err err;

	(void)state;
	assert_int_equal(cache_new(&c), 0);
	loader_init(&l, 3, false);
	by_ref.has_hash = false;
	memset(by_ref.hash, 0, sizeof by_ref.hash);
	assert_int_equal(cache_get(c, &by_ref, load, &l, &a, &err), 0);
	snprintf(by_hash.ref.name, sizeof by_hash.ref.name, "another-name");
	assert_int_equal(cache_get(c, &by_hash, load, &l, &b, &err), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(atomic_load(&l.calls), 1);
	other_ref = by_ref;
	snprintf(other_ref.ref.name, sizeof other_ref.ref.name, "another-name");
	assert_int_equal(cache_get(c, &other_ref, load, &l, &b, &err), 0);
	assert_ptr_not_equal(a, b);
	assert_int_equal(atomic_load(&l.calls), 2);
	loader_deinit(&l);
	cache_destroy(&c);
}

static void test_full(void **state)
{
	cache *c = NULL;
	loader l[CACHE_MAX_ENTRIES + 1];
	const emc_dataset *ds = NULL;
	emc_err err;

	(void)state;
	assert_int_equal(cache_new(&c), 0);
	for (int i = 0; i <= CACHE_MAX_ENTRIES; i++) {
		cache_key k = key_of((uint8_t)(i + 1));

		loader_init(&l[i], (uint8_t)(i + 1), false);
		assert_int_equal(cache_get(c, &k, load, &l[i], &ds, &err), i < CACHE_MAX_ENTRIES ? 0 : -ENOSPC);
	}
	assert_contains(err.msg, "more than 8 datasets");
	for (int i = 0; i <= CACHE_MAX_ENTRIES; i++)
		loader_deinit(&l[i]);
	cache_destroy(&c);
	cache_destroy(&c); /* NULL-safe */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cached_dataset_not_blocked_by_a_load),
	    cmocka_unit_test(test_same_dataset_loaded_once),
	    cmocka_unit_test(test_failed_load_is_retried),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
