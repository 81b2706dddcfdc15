/* test_measure.c — the replicated EMC measurement against known oracles.
 *
 * An oracle is a fit probability p(n) — logistic in ln n with a given slope,
 * or one with a hole (p drops below q over a band of sizes under the
 * crossing) — and a cell seed; F(n, s) = [u(cell, n, s) < p(n)] with u a
 * hash, so every (n, seed) has one fixed outcome, as a deterministic trial
 * has. The true EMC_q is the largest n with p(n) >= q.
 *
 *   - the rule and the bookkeeping on hand-made cases;
 *   - oracle statistics over many simulated cells: coverage of the
 *     interval, median relative error of EMC_q against the bound of
 *     docs/method.md, trials per cell for bisect, per-seed and grid;
 *   - order independence: random completion orders with 1–8 slots,
 *     speculation depths 0–4, cancellations honoured or ignored, duplicated
 *     and late results, restarts from the outcome set — every run must give
 *     the path, EMC, interval and flags of the one-slot run;
 *   - the former hang: a late FIT after a cancel, and no pair with an
 *     outcome is ever wanted again.
 *
 * Sizes: 260 cells per oracle and method for the statistics (1 040
 * logistic cells and 260 with a hole per method), 24 cells per oracle for
 * order independence, each replayed under 16 schedules. EMC_TEST_QUICK=1
 * quarters both (for sanitizer builds); the assertions are the same.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "measure.h"
#include "rng.h"
#include "testutil.h"

#define N_MAX 50000
#define START 4
#define POOL 7
#define PRECISION 0.02
#define INFLIGHT_MAX 64
#define LOG_MAX 20000

typedef struct oracle {
	double n50, slope; /* p(n) = σ(−slope·(ln n − ln n50)) */
	double hole_lo, hole_hi, hole_p; /* p = min(p, hole_p) on [hole_lo, hole_hi]; hole_p < 0: none */
	double lapse;                    /* p = (1 − lapse)·p: sporadic failures at any size */
	uint64_t seed;
	/* a fixed pattern instead: fit iff n <= c, or n == extra; c > 0 */
	int64_t c, extra;
} oracle;

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static double oracle_p(const oracle *o, int64_t n)
{
	double p = 1.0 / (1.0 + exp(o->slope * (log((double)n) - log(o->n50))));

	if (o->hole_p >= 0 && n >= o->hole_lo && n <= o->hole_hi && p > o->hole_p)
		p = o->hole_p;
	return (1 - o->lapse) * p;
}

static bool oracle_fit(const oracle *o, int64_t n, int seed)
{
	double u;

	if (o->c > 0)
		return n <= o->c || n == o->extra;
	u = (double)(mix(mix(o->seed ^ (uint64_t)n * 0x100000001b3ULL) + (uint64_t)seed) >> 11) * 0x1.0p-53;
	return u < oracle_p(o, n);
}

/* The largest n with p(n) >= q (the hole lies below it). */
static int64_t oracle_nq(const oracle *o, double q)
{
	int64_t n = (int64_t)floor(o->n50 * exp(-log(q / (1 - q)) / o->slope));

	while (n > 1 && oracle_p(o, n) < q)
		n--;
	while (oracle_p(o, n + 1) >= q)
		n++;
	return n;
}

static measure_outcome outcome_of(const oracle *o, int64_t n, int seed)
{
	if (oracle_fit(o, n, seed))
		return (measure_outcome){MEASURE_FIT, MEASURE_STOP_NONE};
	/* a stop reason fixed per trial, so flags are reproducible too */
	return (measure_outcome){MEASURE_NO_FIT, (measure_stop)(1 + mix((uint64_t)n * 31 + (uint64_t)seed) % 3)};
}

static measure_config config(measure_method method, int spec_depth)
{
	measure_config c;

	measure_config_default(&c, START, N_MAX, POOL);
	c.method = method;
	c.precision = PRECISION;
	c.spec_depth = spec_depth;
	return c;
}

static measure *make(const measure_config *c)
{
	measure *m = NULL;

	assert_int_equal(measure_new(c, &m), 0);
	return m;
}

/* The one-slot run: ask for one trial, run it, record it. */
static int run_sequential(measure *m, const oracle *o)
{
	measure_pair p;
	int trials = 0;

	while (!measure_done(m)) {
		assert_int_equal(measure_wanted(m, NULL, 0, 1, &p), 1);
		assert_false(measure_outcome_get(m, p.n, p.seed, NULL));
		assert_int_equal(measure_record(m, p.n, p.seed, outcome_of(o, p.n, p.seed)), 0);
		assert_true(++trials < 5000);
	}
	return trials;
}

static const measure_outcome FIT = {MEASURE_FIT, MEASURE_STOP_NONE};
static const measure_outcome NOFIT = {MEASURE_NO_FIT, MEASURE_STOP_GRADNORM};
static const measure_outcome NOFIT_BUDGET = {MEASURE_NO_FIT, MEASURE_STOP_BUDGET};
static const measure_outcome NOFIT_PLATEAU = {MEASURE_NO_FIT, MEASURE_STOP_PLATEAU};
static const measure_outcome FAILED = {MEASURE_FAILED, MEASURE_STOP_NONE};

/* --- the rule and the bookkeeping --------------------------------------- */

/* The first decided step of a fresh bisect cell given outcomes at start. */
static measure_step first_step(const measure_outcome *o, int count, int pool, bool *ret_decided)
{
	measure_config c;
	measure *m;
	measure_step st = {0};

	measure_config_default(&c, 100, 1000, pool);
	m = make(&c);
	for (int s = 0; s < count; s++)
		assert_int_equal(measure_record(m, 100, s, o[s]), 0);
	*ret_decided = measure_path(m, 0, &st, 1) == 1;
	measure_destroy(&m);
	return st;
}

static void test_rule(void **state)
{
	bool dec;
	measure_step st;
	(void)state;

	st = first_step((measure_outcome[]){FIT, FIT}, 2, POOL, &dec);
	assert_false(dec); /* fewer than min_seeds */
	st = first_step((measure_outcome[]){FIT, FIT, FIT}, 3, POOL, &dec);
	assert_true(dec && st.fit && !st.uncertain && st.seeds_read == 3);
	st = first_step((measure_outcome[]){NOFIT, NOFIT, NOFIT}, 3, POOL, &dec);
	assert_true(dec && !st.fit && !st.uncertain);
	/* 2–1 goes on; a lead of three decides (LLR 3·ln(7/3) > ln 9) */
	st = first_step((measure_outcome[]){FIT, NOFIT, FIT, FIT}, 4, POOL, &dec);
	assert_false(dec);
	st = first_step((measure_outcome[]){FIT, NOFIT, FIT, FIT, FIT}, 5, POOL, &dec);
	assert_true(dec && st.fit && !st.uncertain && st.seeds_read == 5);
	/* a failure is read and skipped */
	st = first_step((measure_outcome[]){FIT, FAILED, FIT, FIT}, 4, POOL, &dec);
	assert_true(dec && st.fit && st.seeds_read == 4 && st.failed == 1);
	/* a spent pool decides by majority, marked uncertain; with pool 5 the
	 * majority of 3–1 is already settled (no lead of three can come) */
	st = first_step((measure_outcome[]){FIT, NOFIT, FIT, NOFIT, FIT}, 5, 5, &dec);
	assert_true(dec && st.fit && st.uncertain && st.seeds_read == 5);
	st = first_step((measure_outcome[]){FIT, NOFIT, NOFIT, FIT}, 4, 5, &dec);
	assert_false(dec);
	/* N F N N of 5: the fifth seed decides no-fit either way (surely, or
	 * by majority), so it is not read */
	st = first_step((measure_outcome[]){NOFIT, FIT, NOFIT, NOFIT}, 4, 5, &dec);
	assert_true(dec && !st.fit && st.uncertain && st.seeds_read == 4);
	/* F F of a pool of 3 would settle the majority, but min_seeds = 3 are
	 * read before any decision */
	st = first_step((measure_outcome[]){FIT, FIT}, 2, 3, &dec);
	assert_false(dec);
	/* every seed failed: no-fit, uncertain */
	st = first_step((measure_outcome[]){FAILED, FAILED, FAILED}, 3, 3, &dec);
	assert_true(dec && !st.fit && st.uncertain);
}

static void test_seed_order(void **state)
{
	measure_config c;
	measure *m;
	measure_pair p[8];
	(void)state;

	measure_config_default(&c, 100, 1000, POOL);
	m = make(&c);
	/* seeds 1, 2, 3 fit, seed 0 is missing: nothing is decided, and seed 0
	 * is the first thing wanted */
	for (int s = 1; s <= 3; s++)
		assert_int_equal(measure_record(m, 100, s, FIT), 0);
	assert_int_equal(measure_path(m, 0, NULL, 0), 0);
	assert_true(measure_wanted(m, NULL, 0, 8, p) >= 1);
	assert_true(p[0].n == 100 && p[0].seed == 0);
	assert_false(measure_pointless(m, 100, 0));
	assert_true(measure_pointless(m, 100, 1)); /* has an outcome */
	assert_int_equal(measure_record(m, 100, 0, NOFIT), 0);
	/* N F F F: lead two after four, the fifth seed is read next */
	assert_int_equal(measure_path(m, 0, NULL, 0), 0);
	assert_int_equal(measure_wanted(m, NULL, 0, 1, p), 1);
	assert_true(p[0].n == 100 && p[0].seed == 4);
	measure_destroy(&m);
}

static void test_record(void **state)
{
	measure_config c;
	measure *m;
	(void)state;

	measure_config_default(&c, 10, 1000, 3);
	m = make(&c);
	assert_int_equal(measure_record(m, 10, 0, FIT), 0);
	assert_int_equal(measure_record(m, 10, 0, FIT), 1);
	assert_int_equal(measure_record(m, 10, 0, NOFIT), -EEXIST);
	assert_int_equal(measure_record(m, 0, 0, FIT), -ERANGE);
	assert_int_equal(measure_record(m, 1001, 0, FIT), -ERANGE);
	assert_int_equal(measure_record(m, 10, 3, FIT), -ERANGE);
	assert_int_equal(measure_record(m, 10, -1, FIT), -ERANGE);
	assert_int_equal(measure_record(m, 10, 1, (measure_outcome){MEASURE_FIT, MEASURE_STOP_BUDGET}), -EINVAL);
	assert_int_equal(measure_record(m, 10, 1, (measure_outcome){7, MEASURE_STOP_NONE}), -EINVAL);
	assert_true(measure_outcome_get(m, 10, 0, NULL));
	assert_false(measure_outcome_get(m, 10, 1, NULL));
	measure_destroy(&m);
	measure_destroy(&m); /* NULL-safe */
	c.quantile = 1.0;
	assert_int_equal(measure_new(&c, &m), -EINVAL);
	measure_config_default(&c, 10, 1000, MEASURE_SEEDS_MAX + 1);
	assert_int_equal(measure_new(&c, &m), -EINVAL);
	measure_config_default(&c, 10, 1000, 2);
	assert_int_equal(measure_new(&c, &m), 0);
	assert_int_equal(measure_config_get(m)->min_seeds, 2); /* capped by the pool */
	measure_destroy(&m);
}

static void test_grid_sizes(void **state)
{
	/* numpy.unique(numpy.logspace(log10(4), log10(50000), 20).astype(int)) */
	static const int64_t want[] = {4,   6,   10,   17,   29,   47,   78,    129,   212,   348,
				       573, 941, 1547, 2542, 4176, 6862, 11274, 18523, 30432, 49999};
	int64_t got[20];
	(void)state;

	assert_int_equal(measure_grid_sizes(4, 50000, 20, got), 20);
	for (int i = 0; i < 20; i++)
		assert_int_equal(got[i], want[i]);
	/* duplicates collapse: 1 … 10 in 20 points gives 1, 2, …, 8, 10 */
	assert_int_equal(measure_grid_sizes(1, 10, 20, got), 9);
	assert_int_equal(got[7], 8);
	assert_int_equal(got[8], 10);
	assert_int_equal(measure_grid_sizes(7, 7, 5, got), 1);
	assert_int_equal(got[0], 7);
}

/* Flags: budget and plateau stops at hi, non-monotone fits, full range. */
static void test_flags(void **state)
{
	measure_config c;
	measure *m;
	measure_result r;
	measure_pair p;
	(void)state;

	/* fits up to 150, no-fit above: hi's deciding no-fits stop for budget,
	 * plateau, gradnorm in turn; 200, the first size above, fits for seed 0
	 * only (decided no-fit by the majority of the pool) */
	measure_config_default(&c, 100, 1000, 3);
	m = make(&c);
	while (!measure_done(m)) {
		measure_outcome o = FIT;

		assert_int_equal(measure_wanted(m, NULL, 0, 1, &p), 1);
		if (p.n > 150 && !(p.n == 200 && p.seed == 0))
			o = p.seed == 0 ? NOFIT_BUDGET : p.seed == 1 ? NOFIT_PLATEAU : NOFIT;
		assert_int_equal(measure_record(m, p.n, p.seed, o), 0);
	}
	assert_int_equal(measure_result_get(m, &r), 0);
	assert_true(r.done && !r.full);
	assert_true(r.emc >= 148 && r.emc <= 150);
	assert_true(r.hi > r.emc && r.hi <= 152);
	assert_int_equal(r.hi_budget, 1);
	assert_int_equal(r.hi_plateau, 1);
	assert_int_equal(r.hi_gradnorm, 1);
	assert_true(r.unconverged && r.plateau_decided);
	assert_int_equal(r.nonmonotone, 1); /* the fit of seed 0 at 200 */
	assert_int_equal(r.uncertain, 1);
	assert_int_equal(r.lo_fits, 3);
	assert_int_equal(r.lo_total, 3);
	assert_int_equal(r.hi_fits, 0);
	assert_int_equal(r.hi_total, 3);
	assert_int_equal(r.seeds_used, 3);
	assert_true(r.emc_low <= r.emc && r.emc_high >= r.emc);
	assert_true(measure_on_path(m, 200, 0));
	measure_destroy(&m);

	/* everything fits: EMC ">= n_max", emc stays numeric */
	m = make(&c);
	while (measure_wanted(m, NULL, 0, 1, &p) == 1)
		assert_int_equal(measure_record(m, p.n, p.seed, FIT), 0);
	assert_int_equal(measure_result_get(m, &r), 0);
	assert_true(r.done && r.full && r.emc == 1000 && r.hi == 0 && r.emc_high == 1000);
	assert_false(r.unconverged);
	measure_destroy(&m);
}

/* The three cells of a real demo run (784-w-10 on Fashion-MNIST, seeds
 * 0 1 2, precision 5 %): per size the outcomes of seeds 0, 1, 2 — f fit,
 * b no-fit on budget, p no-fit on a plateau. The logistic model alone put
 * the 16-wide cell's interval at [8372, 60000], above its own EMC of 7936:
 * one plateau stop at 6144 flattened its slope. */
typedef struct demo_obs {
	int64_t n;
	const char *s;
} demo_obs;

static void demo_cell(const demo_obs *d, int nd, int64_t emc, int64_t hi)
{
	measure_config c;
	measure *m;
	measure_result r;

	measure_config_default(&c, 32, 60000, 3);
	c.precision = 0.05;
	m = make(&c);
	for (int i = 0; i < nd; i++)
		for (int s = 0; s < 3; s++) {
			char o = d[i].s[s];
			measure_outcome out = {o == 'f' ? MEASURE_FIT : MEASURE_NO_FIT,
					       o == 'f' ? MEASURE_STOP_NONE : o == 'p' ? MEASURE_STOP_PLATEAU : MEASURE_STOP_BUDGET};

			assert_int_equal(measure_record(m, d[i].n, s, out), 0);
		}
	assert_int_equal(measure_result_get(m, &r), 0);
	printf("# demo cell: EMC %lld, hi %lld, interval [%lld, %lld], logistic crossing %.0f\n", (long long)r.emc,
		(long long)r.hi, (long long)r.emc_low, (long long)r.emc_high, r.emc_fit);
	assert_true(r.done);
	assert_int_equal(r.emc, emc);
	assert_int_equal(r.hi, hi);
	assert_false(r.outside);
	assert_true(r.emc_low <= r.emc && r.emc < r.emc_high);
	measure_destroy(&m);
}

static void test_demo_cells(void **state)
{
	static const demo_obs w4[] = {{32, "fff"}, {64, "fff"}, {128, "bff"}, {192, "fff"}, {208, "ffb"}, {216, "bff"},
				      {224, "bpb"}, {256, "bfb"}};
	static const demo_obs w8[] = {{32, "fff"}, {64, "fff"}, {128, "fff"}, {256, "fff"}, {512, "fff"},
				      {1024, "fff"}, {2048, "bff"}, {4096, "pff"}, {4608, "fbf"}, {4736, "bbb"},
				      {4864, "bpb"}, {5120, "bfb"}, {6144, "bbb"}, {8192, "pbb"}};
	static const demo_obs w16[] = {{32, "fff"}, {64, "fff"}, {128, "fff"}, {256, "fff"}, {512, "fff"},
				       {1024, "fff"}, {2048, "fff"}, {4096, "fff"}, {6144, "pff"}, {7168, "fff"},
				       {7680, "fff"}, {7936, "fff"}, {8192, "fbb"}};
	(void)state;

	demo_cell(w4, 8, 216, 224);
	demo_cell(w8, 14, 4608, 4736);
	demo_cell(w16, 13, 7936, 8192);
}

/* --- oracle statistics ---------------------------------------------------- */

typedef struct kind {
	const char *name;
	double slope, hole_p; /* hole_p < 0: none */
	double lapse;
} kind;

/* The last one is the pattern real campaigns show (docs/method.md): a steep
 * crossing, and below it sporadic no-fits (budget or plateau stops of
 * seeds that were unlucky) — a logistic model alone reads those as a
 * shallow slope and can put its crossing far beyond the data. */
static const kind KINDS[] = {
	{"logistic slope 3", 3, -1, 0},
	{"logistic slope 5", 5, -1, 0},
	{"logistic slope 8", 8, -1, 0},
	{"logistic slope 25", 25, -1, 0},
	{"hole, slope 8", 8, 0.3, 0},
	{"lapse 0.1, slope 40", 40, -1, 0.1},
};
#define NKINDS (int)(sizeof KINDS / sizeof KINDS[0])

static oracle make_oracle(const kind *k, uint64_t seed)
{
	emc_rng r;
	oracle o = {0};

	emc_rng_seed(&r, seed, 99);
	/* crossing log-uniform in [40, 20 000] */
	o.n50 = exp(log(40.0) + emc_rng_uniform(&r) * (log(20000.0) - log(40.0)));
	o.slope = k->slope;
	o.hole_p = k->hole_p;
	o.lapse = k->lapse;
	o.hole_lo = 0.6 * o.n50;
	o.hole_hi = 0.8 * o.n50;
	o.seed = seed;
	return o;
}

static bool quick(void)
{
	const char *q = getenv("EMC_TEST_QUICK");

	return q && *q && *q != '0';
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

typedef struct stats {
	int cells, covered;
	double trials;
	double err[2000], width[2000]; /* |EMC − n_q| / n_q; emc_high / emc_low */
} stats;

static void run_cells(const kind *k, measure_method method, int cells, stats *st)
{
	measure_config c = config(method, 2);

	*st = (stats){.cells = cells};
	for (int i = 0; i < cells; i++) {
		oracle o = make_oracle(k, 1000 + (uint64_t)i);
		int64_t nq = oracle_nq(&o, c.quantile);
		measure *m = make(&c);
		measure_result r;

		st->trials += run_sequential(m, &o);
		assert_int_equal(measure_result_get(m, &r), 0);
		assert_true(r.done);
		st->covered += r.emc_low <= nq && nq <= r.emc_high;
		/* the interval holds the estimate it is reported with, without
		 * needing the last resort of extending it */
		assert_true(r.emc_low <= r.emc && r.emc <= r.emc_high);
		assert_false(r.outside);
		st->width[i] = (double)r.emc_high / (double)(r.emc_low > 0 ? r.emc_low : 1);
		if (getenv("EMC_TEST_DEBUG") && !(r.emc_low <= nq && nq <= r.emc_high))
			printf("# miss %s nq %lld emc %lld [%lld, %lld] fit %.1f probes %d uncertain %d\n", k->name,
				(long long)nq, (long long)r.emc, (long long)r.emc_low, (long long)r.emc_high, r.emc_fit,
				r.probes, r.uncertain);
		st->err[i] = fabs((double)(r.emc - nq)) / (double)nq;
		measure_destroy(&m);
	}
	qsort(st->err, (size_t)cells, sizeof st->err[0], cmp_double);
	qsort(st->width, (size_t)cells, sizeof st->width[0], cmp_double);
}

/* The bound of docs/method.md on the median relative error: the precision
 * plus the width of the indifference zone, exp(logit(q + δ)/slope) − 1. */
static double error_bound(const kind *k)
{
	return PRECISION + exp(log(0.7 / 0.3) / k->slope) - 1;
}

static void test_oracles(void **state)
{
	static const char *names[] = {"bisect", "per-seed", "grid"};
	int cells = quick() ? 65 : 260;
	stats *st = malloc(sizeof *st);
	(void)state;

	assert_non_null(st);
	for (int meth = MEASURE_BISECT; meth <= MEASURE_GRID; meth++) {
		int total = 0, covered = 0, logistic = 0, logistic_covered = 0;
		double trials = 0;

		for (int i = 0; i < NKINDS; i++) {
			double med;

			run_cells(&KINDS[i], (measure_method)meth, cells, st);
			med = st->err[cells / 2];
			printf("# %-8s %-20s coverage %5.1f %%  median rel. error %6.3f (bound %5.3f)  "
			       "median high/low %6.2f  trials/cell %6.1f\n",
				names[meth], KINDS[i].name, 100.0 * st->covered / cells, med, error_bound(&KINDS[i]),
				st->width[cells / 2], st->trials / cells);
			total += cells;
			covered += st->covered;
			trials += st->trials;
			if (KINDS[i].hole_p < 0 && KINDS[i].lapse == 0) {
				logistic += cells;
				logistic_covered += st->covered;
			}
			/* sporadic failures below a steep crossing: the interval must
			 * not believe the shallow slope they suggest */
			if (meth != MEASURE_PER_SEED && KINDS[i].lapse > 0)
				assert_true(st->covered >= 0.9 * cells);
			if (meth == MEASURE_BISECT && KINDS[i].hole_p < 0 && KINDS[i].lapse == 0) {
				assert_true(med <= error_bound(&KINDS[i]));
				assert_true(st->covered >= 0.9 * cells);
			}
		}
		printf("# %-8s %d logistic cells: coverage %5.1f %% at nominal 95 %%; all %d: %5.1f %%, trials/cell %6.1f\n",
			names[meth], logistic, 100.0 * logistic_covered / logistic, total, 100.0 * covered / total,
			trials / total);
		/* the hole is a misspecified p(n) that a path which does not probe
		 * inside it cannot see: its coverage is printed, not asserted */
		if (meth == MEASURE_BISECT)
			assert_true(logistic_covered >= 0.9 * logistic);
	}
	free(st);
}

/* --- order independence ----------------------------------------------------- */

typedef struct sched {
	int slots, spec_depth;
	bool cancel;     /* honour measure_pointless */
	double dup, late; /* probability of a duplicate, of a cancelled trial's result arriving anyway */
	bool restart;     /* rebuild from the outcome set now and then */
} sched;

typedef struct sim {
	measure_pair fly[INFLIGHT_MAX];
	int nfly;
	measure_pair late[LOG_MAX];
	int nlate;
	measure_pair log[LOG_MAX]; /* every recorded pair */
	int nlog;
	measure_pair dead[LOG_MAX]; /* cancelled as pointless */
	int ndead;
} sim;

static bool has_pair(const measure_pair *a, int n, measure_pair p)
{
	for (int i = 0; i < n; i++)
		if (a[i].n == p.n && a[i].seed == p.seed)
			return true;
	return false;
}

static void deliver(measure *m, sim *s, const oracle *o, measure_pair p, emc_rng *r, double dup)
{
	int rc = measure_record(m, p.n, p.seed, outcome_of(o, p.n, p.seed));

	assert_true(rc == 0 || rc == 1);
	if (rc == 0) {
		assert_true(s->nlog < LOG_MAX);
		s->log[s->nlog++] = p;
	}
	if (emc_rng_uniform(r) < dup)
		assert_int_equal(measure_record(m, p.n, p.seed, outcome_of(o, p.n, p.seed)), 1);
}

/* A fresh measurement fed the logged outcomes in a shuffled order. */
static measure *rebuild(const measure_config *c, const sim *s, const oracle *o, emc_rng *r)
{
	measure *m = make(c);
	int32_t idx[LOG_MAX];

	for (int i = 0; i < s->nlog; i++)
		idx[i] = i;
	emc_rng_shuffle_i32(r, idx, s->nlog);
	for (int i = 0; i < s->nlog; i++) {
		measure_pair p = s->log[idx[i]];

		assert_int_equal(measure_record(m, p.n, p.seed, outcome_of(o, p.n, p.seed)), 0);
	}
	return m;
}

static void assert_same_path(const measure *a, const measure *b)
{
	static measure_step sa[512], sb[512];

	assert_int_equal(measure_path_count(a), measure_path_count(b));
	for (int i = 0; i < measure_path_count(a); i++) {
		int na = measure_path(a, i, sa, 512), nb = measure_path(b, i, sb, 512);

		assert_int_equal(na, nb);
		for (int j = 0; j < na; j++) {
			assert_int_equal(sa[j].n, sb[j].n);
			assert_int_equal(sa[j].fit, sb[j].fit);
			assert_int_equal(sa[j].uncertain, sb[j].uncertain);
			assert_int_equal(sa[j].seeds_read, sb[j].seeds_read);
			assert_int_equal(sa[j].fits, sb[j].fits);
			assert_int_equal(sa[j].nofits, sb[j].nofits);
		}
	}
}

/* Everything but the count of recorded (speculative) trials. */
static void assert_same_result(const measure *a, const measure *b)
{
	measure_result ra, rb;

	assert_int_equal(measure_result_get(a, &ra), 0);
	assert_int_equal(measure_result_get(b, &rb), 0);
	rb.trials_recorded = ra.trials_recorded;
	if (memcmp(&ra, &rb, sizeof ra) != 0)
		fail_msg("results differ: emc %lld/%lld [%lld, %lld]/[%lld, %lld] fit %.17g/%.17g",
			(long long)ra.emc, (long long)rb.emc, (long long)ra.emc_low, (long long)rb.emc_low,
			(long long)ra.emc_high, (long long)rb.emc_high, ra.emc_fit, rb.emc_fit);
}

/* Ask for work for the idle slots and check what comes back. */
static void refill(measure *m, sim *s, const sched *sc)
{
	measure_pair want[INFLIGHT_MAX];
	int idle = sc->slots - s->nfly, got;

	if (idle <= 0)
		return;
	got = measure_wanted(m, s->fly, s->nfly, idle, want);
	assert_true(got >= 0 && got <= idle);
	for (int i = 0; i < got; i++) {
		assert_false(measure_outcome_get(m, want[i].n, want[i].seed, NULL)); /* the former hang */
		assert_false(has_pair(s->fly, s->nfly, want[i]));
		assert_false(has_pair(s->dead, s->ndead, want[i])); /* pointless stays pointless */
		assert_false(measure_pointless(m, want[i].n, want[i].seed));
		s->fly[s->nfly++] = want[i];
	}
}

static void cancel_pointless(measure *m, sim *s, const sched *sc, emc_rng *r)
{
	for (int i = 0; i < s->nfly;) {
		if (!measure_pointless(m, s->fly[i].n, s->fly[i].seed)) {
			i++;
			continue;
		}
		if (s->ndead < LOG_MAX && !measure_outcome_get(m, s->fly[i].n, s->fly[i].seed, NULL))
			s->dead[s->ndead++] = s->fly[i];
		if (emc_rng_uniform(r) < sc->late && s->nlate < LOG_MAX)
			s->late[s->nlate++] = s->fly[i]; /* it finished anyway */
		s->fly[i] = s->fly[--s->nfly];
	}
}

/* One cell under schedule sc; returns the measurement (caller destroys). */
static measure *run_parallel(const measure_config *c, const oracle *o, const sched *sc, uint64_t seed)
{
	static sim s;
	measure *m = make(c);
	emc_rng r;

	emc_rng_seed(&r, seed, 7);
	memset(&s, 0, sizeof s);
	for (int round = 0; !measure_done(m); round++) {
		assert_true(round < 20000);
		refill(m, &s, sc);
		if (s.nfly == 0 && s.nlate == 0)
			fail_msg("hang: nothing in flight, nothing wanted, not done");
		if (s.nlate > 0 && (s.nfly == 0 || emc_rng_uniform(&r) < 0.3)) {
			int i = (int)emc_rng_below(&r, (uint64_t)s.nlate);

			deliver(m, &s, o, s.late[i], &r, sc->dup);
			s.late[i] = s.late[--s.nlate];
		} else {
			int i = (int)emc_rng_below(&r, (uint64_t)s.nfly);
			measure_pair p = s.fly[i];

			s.fly[i] = s.fly[--s.nfly];
			deliver(m, &s, o, p, &r, sc->dup);
		}
		if (sc->cancel)
			cancel_pointless(m, &s, sc, &r);
		if (sc->restart && emc_rng_uniform(&r) < 0.05) {
			measure *b = rebuild(c, &s, o, &r);

			assert_same_path(m, b);
			assert_same_result(m, b);
			measure_destroy(&m);
			m = b;
		}
	}
	/* what is still in flight or late arrives after the end: kept, never deciding */
	for (int i = 0; i < s.nfly; i++)
		deliver(m, &s, o, s.fly[i], &r, sc->dup);
	for (int i = 0; i < s.nlate; i++)
		deliver(m, &s, o, s.late[i], &r, sc->dup);
	assert_true(measure_done(m));
	return m;
}

static void check_order_independence(measure_method method, const char *name)
{
	int cells = quick() ? 6 : 24, runs = 0;
	(void)name;

	for (int ki = 0; ki < NKINDS; ki++) {
		for (int i = 0; i < cells; i++) {
			oracle o = make_oracle(&KINDS[ki], 5000 + (uint64_t)i);
			measure_config c1 = config(method, 0);
			measure *ref = make(&c1);

			run_sequential(ref, &o);
			for (int j = 0; j < 16; j++) {
				sched sc = {.slots = 1 + j % 8,
					.spec_depth = (j / 2) % 5,
					.cancel = j % 3 != 0,
					.dup = 0.2,
					.late = j % 2 ? 0.7 : 0.0,
					.restart = j % 4 == 1};
				measure_config c = config(method, sc.spec_depth);
				measure *m = run_parallel(&c, &o, &sc, (uint64_t)(i * 131 + j));

				assert_same_path(ref, m);
				assert_same_result(ref, m);
				measure_destroy(&m);
				runs++;
			}
			measure_destroy(&ref);
		}
	}
	printf("# %s: %d parallel runs equal to their one-slot run\n", name, runs);
}

static void test_order_bisect(void **state)
{
	(void)state;
	check_order_independence(MEASURE_BISECT, "bisect");
}

static void test_order_per_seed(void **state)
{
	(void)state;
	check_order_independence(MEASURE_PER_SEED, "per-seed");
}

static void test_order_grid(void **state)
{
	(void)state;
	check_order_independence(MEASURE_GRID, "grid");
}

/* The former hang: fit for n <= 400 and at 416, four slots; results of
 * cancelled probes arrive late (the FIT at 416 among them). The answer is
 * the one-slot answer and no pair with an outcome is wanted again (refill
 * asserts it on every call). */
static void test_late_fit_after_cancel(void **state)
{
	oracle o = {.c = 400, .extra = 416};
	(void)state;

	for (int pool = 1; pool <= 3; pool += 2) {
		measure_config c;
		measure *ref, *m;
		measure_result r;

		measure_config_default(&c, 4, 1000, pool);
		c.precision = 0;
		ref = make(&c);
		run_sequential(ref, &o);
		assert_int_equal(measure_result_get(ref, &r), 0);
		/* the one-slot path bisects (384, 448) at 416, which fits */
		assert_int_equal(r.emc, 416);
		for (uint64_t seed = 0; seed < 200; seed++) {
			sched sc = {.slots = 4, .spec_depth = 2, .cancel = true, .dup = 0.3, .late = 1.0};

			m = run_parallel(&c, &o, &sc, seed);
			assert_same_path(ref, m);
			assert_same_result(ref, m);
			measure_destroy(&m);
		}
		measure_destroy(&ref);
	}
}

/* Rebuilding from the outcomes, in any order, gives the same state: the
 * same path, result, and the same answers to wanted and pointless. */
static void test_restart(void **state)
{
	static sim s;
	(void)state;

	for (int meth = MEASURE_BISECT; meth <= MEASURE_GRID; meth++) {
		oracle o = make_oracle(&KINDS[1], 77);
		measure_config c = config((measure_method)meth, 2);
		sched sc = {.slots = 5, .spec_depth = 2, .cancel = true};
		measure *m = make(&c);
		emc_rng r;

		emc_rng_seed(&r, 3, 3);
		memset(&s, 0, sizeof s);
		for (int step = 0; step < 40 && !measure_done(m); step++) {
			measure_pair a[16], b[16];
			measure *x;
			int na, nb;

			refill(m, &s, &sc);
			assert_true(s.nfly > 0);
			deliver(m, &s, &o, s.fly[0], &r, 0);
			s.fly[0] = s.fly[--s.nfly];
			x = rebuild(&c, &s, &o, &r);
			assert_same_path(m, x);
			assert_same_result(m, x);
			assert_int_equal(measure_done(m), measure_done(x));
			na = measure_wanted(m, s.fly, s.nfly, 16, a);
			nb = measure_wanted(x, s.fly, s.nfly, 16, b);
			assert_int_equal(na, nb);
			for (int i = 0; i < na; i++)
				assert_true(a[i].n == b[i].n && a[i].seed == b[i].seed);
			for (int i = 0; i < s.nfly; i++)
				assert_int_equal(measure_pointless(m, s.fly[i].n, s.fly[i].seed),
					measure_pointless(x, s.fly[i].n, s.fly[i].seed));
			measure_destroy(&x);
		}
		measure_destroy(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule),
		cmocka_unit_test(test_seed_order),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_grid_sizes),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_demo_cells),
		cmocka_unit_test(test_late_fit_after_cancel),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_order_bisect),
		cmocka_unit_test(test_order_per_seed),
		cmocka_unit_test(test_order_grid),
		cmocka_unit_test(test_oracles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
