/* test_search.c — the EMC search state machine against synthetic oracles.
 *
 * An oracle answers "does the procedure fit n samples?". The monotone ones
 * fit iff n <= C; the others answer by a seeded coin, or contradict the
 * bracket on purpose. For each we check termination within a probe bound,
 * the bracket invariants after every step, that no size is probed twice,
 * the exact EMC (precision 0) or its tolerance, and that a search restored
 * from any intermediate (lo, hi) asks for exactly the same probes.
 */
#include <stdbool.h>
#include <stdint.h>

#include "rng.h"
#include "search.h"
#include "testutil.h"

#define MAX_PROBES 256

typedef struct oracle {
	int64_t c;      /* monotone: fit iff n <= c */
	uint64_t seed;  /* coin: fit with probability 1/2, fixed per n */
	bool coin;
} oracle;

static bool oracle_fit(const oracle *o, int64_t n)
{
	if (o->coin) {
		emc_rng r;

		emc_rng_seed(&r, o->seed, (uint64_t)n);
		return emc_rng_next(&r) & 1;
	}
	return n <= o->c;
}

static int bit_length(int64_t v)
{
	int b = 0;

	while (v > 0) {
		b++;
		v >>= 1;
	}
	return b;
}

/* Probes a sequential search may need: galloping and bisection each take at
 * most about log2(n_max) + 1. */
static int probe_bound(int64_t n_max)
{
	return 2 * bit_length(n_max) + 2;
}

static void check_invariants(const search_state *s)
{
	assert_true(s->lo >= 0);
	assert_true(s->lo <= s->n_max);
	if (s->hi != 0) {
		assert_true(s->lo < s->hi);
		assert_true(s->hi <= s->n_max);
	}
}

/* Run a search to the end; returns the number of probes, stored in probes. */
static int run(search_state *s, const oracle *o, int64_t *probes)
{
	int count = 0, bound = probe_bound(s->n_max);
	int64_t n;

	check_invariants(s);
	while (search_next(s, NULL, 0, &n) == 1) {
		assert_true(count < bound);
		assert_true(n >= 1 && n <= s->n_max);
		assert_false(search_pointless(s, n));
		for (int i = 0; i < count; i++)
			if (probes[i] == n)
				fail_msg("n = %lld probed twice", (long long)n);
		probes[count++] = n;
		search_record(s, n, oracle_fit(o, n));
		check_invariants(s);
	}
	assert_true(search_done(s));
	return count;
}

/* Restoring from the bracket after each of the first results must continue
 * with exactly the probes the original search made from there on. */
static void check_restore(int64_t start, double precision, int64_t n_max, const oracle *o, const int64_t *probes,
			  int count)
{
	search_state s, r;
	int64_t rest[MAX_PROBES];

	search_init(&s, start, precision, n_max);
	for (int i = 0; i <= count; i++) {
		int m;

		search_restore(&r, start, precision, n_max, s.lo, s.hi);
		assert_int_equal(r.lo, s.lo);
		assert_int_equal(r.hi, s.hi);
		m = run(&r, o, rest);
		assert_int_equal(m, count - i);
		for (int j = 0; j < m; j++)
			assert_int_equal(rest[j], probes[i + j]);
		if (i < count)
			search_record(&s, probes[i], oracle_fit(o, probes[i]));
	}
}

/* One monotone search: exact or within precision, full flag, restore. */
static void check_monotone(int64_t start, double precision, int64_t n_max, int64_t c)
{
	search_state s;
	oracle o = { .c = c };
	int64_t probes[MAX_PROBES];
	int64_t emc = c < n_max ? c : n_max;
	int count;

	if (c < 0)
		return;
	search_init(&s, start, precision, n_max);
	count = run(&s, &o, probes);
	assert_true(s.lo <= emc);
	if (precision == 0.0)
		assert_int_equal(s.lo, emc);
	assert_true(count >= 1);
	if (c >= n_max) {
		assert_true(search_full(&s));
		assert_int_equal(s.lo, n_max);
	} else {
		double tol = precision * (double)s.lo;

		assert_false(search_full(&s));
		assert_true(s.hi > c);
		assert_true((double)(s.hi - s.lo) <= (tol < 1.0 ? 1.0 : tol));
		if (precision == 0.0)
			assert_int_equal(s.hi, c + 1);
	}
	check_restore(start, precision, n_max, &o, probes, count);
}

static void check_all_c(int64_t start, double precision, int64_t n_max)
{
	int64_t fixed[] = { 0, 1, 2, 3, start - 1, start, start + 1, 2 * start, 2 * start - 1, 2 * start + 1,
			    n_max - 1, n_max, n_max + 1, n_max / 2, n_max / 3 };
	emc_rng r;

	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		check_monotone(start, precision, n_max, fixed[i]);
	for (int b = 1; b < 62 && ((int64_t)1 << b) <= 2 * n_max; b++) {
		int64_t p = (int64_t)1 << b;

		check_monotone(start, precision, n_max, p - 1);
		check_monotone(start, precision, n_max, p);
		check_monotone(start, precision, n_max, p + 1);
		check_monotone(start, precision, n_max, p * start - 1);
		check_monotone(start, precision, n_max, p * start);
	}
	emc_rng_seed(&r, (uint64_t)n_max, (uint64_t)start);
	for (int i = 0; i < 20; i++)
		check_monotone(start, precision, n_max, (int64_t)emc_rng_below(&r, (uint64_t)n_max + 2));
}

static const int64_t n_maxes[] = { 1, 2, 3, 5, 16, 17, 100, 1000, 4096, 60000, 70001 };
static const int64_t starts[] = { 1, 2, 3, 16, 100 };

static void test_exact_when_precision_zero(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof n_maxes / sizeof n_maxes[0]; i++)
		for (size_t j = 0; j < sizeof starts / sizeof starts[0]; j++)
			check_all_c(starts[j], 0.0, n_maxes[i]);
}

static void test_within_precision(void **state)
{
	const double precisions[] = { 0.01, 0.05, 0.25, 1.0 };

	(void)state;
	for (size_t p = 0; p < sizeof precisions / sizeof precisions[0]; p++)
		for (size_t i = 0; i < sizeof n_maxes / sizeof n_maxes[0]; i++)
			check_all_c(16, precisions[p], n_maxes[i]);
}

/* Precision buys probes: a 1 % search of a large bracket stops early. */
static void test_precision_saves_probes(void **state)
{
	search_state a, b;
	oracle o = { .c = 40000 };
	int64_t probes[MAX_PROBES];
	int exact, approx;

	(void)state;
	search_init(&a, 16, 0.0, 60000);
	search_init(&b, 16, 0.01, 60000);
	exact = run(&a, &o, probes);
	approx = run(&b, &o, probes);
	assert_true(approx < exact);
	assert_true(b.lo <= 40000 && b.hi > 40000);
}

static void test_galloping_sequence(void **state)
{
	search_state s;
	oracle o = { .c = 1000 };
	int64_t probes[MAX_PROBES];
	int64_t expect[] = { 16, 32, 64, 128, 256, 512, 1024, 768, 896, 960, 992, 1008, 1000, 1004, 1002, 1001 };
	int count;

	(void)state;
	search_init(&s, 16, 0.0, 60000);
	count = run(&s, &o, probes);
	assert_int_equal(count, (int)(sizeof expect / sizeof expect[0]));
	for (int i = 0; i < count; i++)
		assert_int_equal(probes[i], expect[i]);
	assert_int_equal(s.lo, 1000);
	assert_int_equal(s.hi, 1001);
}

static void test_gallop_capped_at_n_max(void **state)
{
	search_state s;
	oracle o = { .c = 1 << 30 };
	int64_t probes[MAX_PROBES];
	int count;

	(void)state;
	search_init(&s, 16, 0.01, 100);
	count = run(&s, &o, probes);
	assert_int_equal(count, 4); /* 16 32 64 100 */
	assert_int_equal(probes[3], 100);
	assert_true(search_full(&s));
}

static void test_start_clamped(void **state)
{
	search_state s;
	int64_t n = -1;

	(void)state;
	search_init(&s, 500, 0.01, 100);
	assert_int_equal(s.start, 100);
	assert_int_equal(search_next(&s, NULL, 0, &n), 1);
	assert_int_equal(n, 100);
	search_init(&s, 0, 0.01, 100);
	assert_int_equal(s.start, 1);
	assert_int_equal(search_next(&s, NULL, 0, &n), 1);
	assert_int_equal(n, 1);
	search_init(&s, 16, -3.0, 100);
	assert_true(s.precision == 0.0);
}

static void test_nothing_fits(void **state)
{
	search_state s;
	oracle o = { .c = 0 };
	int64_t probes[MAX_PROBES];
	int count;

	(void)state;
	search_init(&s, 16, 0.01, 60000);
	count = run(&s, &o, probes);
	assert_int_equal(s.lo, 0);
	assert_int_equal(s.hi, 1);
	assert_false(search_full(&s));
	assert_int_equal(probes[count - 1], 1);
	/* hi == 1 alone means done */
	search_restore(&s, 16, 0.0, 60000, 0, 1);
	assert_true(search_done(&s));
	assert_false(search_full(&s));
}

static void test_next_waits_and_stops(void **state)
{
	search_state s;
	int64_t inflight[1] = { 16 }, n = -7;

	(void)state;
	search_init(&s, 16, 0.01, 1000);
	assert_int_equal(search_next(&s, inflight, 1, &n), 0);
	assert_int_equal(n, -7); /* untouched */
	search_restore(&s, 16, 0.01, 1000, 1000, 0);
	assert_true(search_done(&s));
	assert_int_equal(search_next(&s, NULL, 0, &n), 0);
	assert_int_equal(n, -7);
	search_restore(&s, 16, 0.01, 1000, 500, 505);
	assert_true(search_done(&s)); /* 5 <= 0.01 * 500 */
	assert_int_equal(search_next(&s, NULL, 0, &n), 0);
	search_restore(&s, 16, 0.01, 1000, 500, 507);
	assert_false(search_done(&s));
	assert_int_equal(search_next(&s, NULL, 0, &n), 1);
	assert_int_equal(n, 503);
}

static void test_pointless(void **state)
{
	search_state s;

	(void)state;
	search_restore(&s, 16, 0.0, 1000, 100, 200);
	assert_true(search_pointless(&s, 50));
	assert_true(search_pointless(&s, 100));
	assert_false(search_pointless(&s, 101));
	assert_false(search_pointless(&s, 199));
	assert_true(search_pointless(&s, 200));
	assert_true(search_pointless(&s, 900));
	search_restore(&s, 16, 0.0, 1000, 100, 0);
	assert_false(search_pointless(&s, 900));
	search_restore(&s, 16, 0.0, 1000, 100, 101);
	assert_true(search_pointless(&s, 101)); /* done */
}

static void test_restore_repairs_nonsense(void **state)
{
	search_state s;

	(void)state;
	search_restore(&s, 16, 0.0, 1000, 300, 200); /* hi below lo */
	assert_int_equal(s.lo, 300);
	assert_int_equal(s.hi, 0);
	search_restore(&s, 16, 0.0, 1000, 5000, 0); /* lo beyond n_max */
	assert_int_equal(s.lo, 1000);
	assert_true(search_full(&s));
	search_restore(&s, 16, 0.0, 1000, 10, 2000); /* hi beyond n_max */
	assert_int_equal(s.hi, 0);
	search_restore(&s, 16, 0.0, 1000, -4, -9);
	assert_int_equal(s.lo, 0);
	assert_int_equal(s.hi, 0);
}

/* Out-of-order results that contradict the bracket follow the rule in
 * search.c: a fit at or above hi forgets hi, a no-fit at or below lo is
 * ignored, a result outside [1, n_max] is ignored. */
static void test_non_monotone_rule(void **state)
{
	search_state s;
	int64_t n;

	(void)state;
	search_restore(&s, 16, 0.0, 1000, 100, 200);
	search_record(&s, 50, false);
	assert_int_equal(s.lo, 100);
	assert_int_equal(s.hi, 200);
	search_record(&s, 100, false);
	assert_int_equal(s.hi, 200);
	search_record(&s, 150, false);
	assert_int_equal(s.hi, 150);
	search_record(&s, 180, false); /* above hi: hi only shrinks */
	assert_int_equal(s.hi, 150);
	search_record(&s, 120, true);
	assert_int_equal(s.lo, 120);
	search_record(&s, 90, true); /* below lo: lo only grows */
	assert_int_equal(s.lo, 120);
	search_record(&s, 300, true); /* crosses hi: gallop on above 300 */
	assert_int_equal(s.lo, 300);
	assert_int_equal(s.hi, 0);
	assert_int_equal(search_next(&s, NULL, 0, &n), 1);
	assert_int_equal(n, 600);
	search_record(&s, 600, false);
	search_record(&s, 600, true); /* fit exactly at hi */
	assert_int_equal(s.lo, 600);
	assert_int_equal(s.hi, 0);
	search_record(&s, 0, true);
	search_record(&s, 1001, true);
	search_record(&s, -5, false);
	assert_int_equal(s.lo, 600);
	assert_int_equal(s.hi, 0);
	search_record(&s, 1000, true); /* n_max fits: done */
	assert_true(search_done(&s));
	assert_true(search_full(&s));
}

/* A coin-flip oracle: the sequential search still ends within the bound,
 * never repeats a probe, and ends on a genuine fit / no-fit pair. */
static void test_coin_oracle_terminates(void **state)
{
	const int64_t sizes[] = { 1, 7, 100, 1000, 60000 };

	(void)state;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		for (uint64_t seed = 1; seed <= 200; seed++) {
			search_state s;
			oracle o = { .coin = true, .seed = seed };
			int64_t probes[MAX_PROBES];

			search_init(&s, 16, 0.0, sizes[i]);
			run(&s, &o, probes);
			if (s.lo > 0)
				assert_true(oracle_fit(&o, s.lo));
			if (!search_full(&s)) {
				assert_int_equal(s.hi, s.lo + 1);
				assert_false(oracle_fit(&o, s.hi));
			}
		}
}

/* Stale results at random sizes mixed into a search (as after a restart
 * with probes still in flight): whatever they say, the search ends, since
 * each reset of hi needs lo to grow. */
static void test_stale_results_terminate(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 300; seed++) {
		search_state s;
		emc_rng r;
		int64_t n, n_max = 1 + (int64_t)(seed * 37 % 5000);
		int steps = 0;

		emc_rng_seed(&r, seed, 99);
		search_init(&s, 16, 0.0, n_max);
		while (search_next(&s, NULL, 0, &n) == 1) {
			assert_true(++steps < 10000);
			search_record(&s, n, emc_rng_next(&r) & 1);
			check_invariants(&s);
			if (emc_rng_below(&r, 3) == 0) {
				int64_t m = 1 + (int64_t)emc_rng_below(&r, (uint64_t)n_max);

				search_record(&s, m, emc_rng_next(&r) & 1);
				check_invariants(&s);
			}
		}
		assert_true(search_done(&s));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_when_precision_zero),
		cmocka_unit_test(test_within_precision),
		cmocka_unit_test(test_precision_saves_probes),
		cmocka_unit_test(test_galloping_sequence),
		cmocka_unit_test(test_gallop_capped_at_n_max),
		cmocka_unit_test(test_start_clamped),
		cmocka_unit_test(test_nothing_fits),
		cmocka_unit_test(test_next_waits_and_stops),
		cmocka_unit_test(test_pointless),
		cmocka_unit_test(test_restore_repairs_nonsense),
		cmocka_unit_test(test_non_monotone_rule),
		cmocka_unit_test(test_coin_oracle_terminates),
		cmocka_unit_test(test_stale_results_terminate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
