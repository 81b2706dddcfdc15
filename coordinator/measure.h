/* measure.h — one cell's EMC measurement over replicate seeds, as a pure
 * state machine.
 *
 * A cell is a training procedure T; its replicate seeds 0 … n_seeds − 1 (an
 * ordered pool) are independent draws of the initial weights, batch order,
 * subset and data variant. F(n, s) = 1 when T fits n samples with seed s;
 * p(n) = P_s[F(n, s) = 1]; EMC_q is the largest n with p(n) >= q.
 *
 * The module knows nothing of processes, sockets or databases. It is told
 * trial outcomes, keyed by (n, seed index), and asked which trials to start.
 * Its whole state is the configuration and the set of recorded outcomes:
 *
 *   - every decision, the realised path of probed sizes, the EMC, its
 *     interval and its flags are a function of that set alone (in fact of
 *     the outcomes the path consumed), never of the order outcomes came in,
 *     of how many were in flight, or of duplicates;
 *   - the path only grows as outcomes are added: a decision, once made, is
 *     never revised, so a trial that became pointless stays pointless;
 *   - measure_wanted never returns a pair that already has an outcome, nor
 *     one in flight, nor a pointless one;
 *   - after a restart, recording the stored outcomes in any order rebuilds
 *     the same state.
 *
 * Methods (docs/method.md says why and how):
 *   MEASURE_BISECT    gallop, then bisect on decisions "p(n) >= q", each made
 *                     by a sequential rule reading the seeds in seed order;
 *   MEASURE_PER_SEED  one such search per seed on that seed's outcomes alone;
 *                     the cell reports the (1 − q)-quantile of the per-seed
 *                     EMCs (the median at q = 0.5) with a bootstrap interval;
 *   MEASURE_GRID      the authors' protocol: every seed at every size of a
 *                     log-spaced grid, no early stop.
 *
 * Memory: measure_new allocates one arena sized from the configuration;
 * nothing allocates afterwards. Everything else is bounded by the MEASURE_*
 * limits below.
 */
#ifndef EMC_MEASURE_H
#define EMC_MEASURE_H

#include <stdbool.h>
#include <stdint.h>

#define MEASURE_SEEDS_MAX 256  /* replicate seeds in a pool */
#define MEASURE_GRID_MAX 1000  /* grid_points */
#define MEASURE_DEPTH_MAX 4    /* speculation depth */

typedef enum measure_method {
	MEASURE_BISECT = 0,
	MEASURE_PER_SEED,
	MEASURE_GRID,
} measure_method;

typedef struct measure_config {
	measure_method method;
	int64_t start;       /* first size tried (clamped to [1, n_max]) */
	int64_t n_max;       /* largest size that may be tried, >= 1 */
	double precision;    /* stop when hi − lo <= max(1, precision·lo); >= 0 */
	double quantile;     /* q in (0, 1); default 0.5 */
	int n_seeds;         /* size of the replicate pool, 1 … MEASURE_SEEDS_MAX */
	int min_seeds;       /* seeds read before any sure decision; default 3, capped by the pool */
	double confidence;   /* of [emc_low, emc_high], in (0, 1); default 0.95 */
	int grid_points;     /* MEASURE_GRID; default 20 */
	int spec_depth;      /* hypothetical decisions speculation looks ahead; default 2 */
	double indifference; /* half-width δ of the sequential test's zone around q; default 0.2 */
} measure_config;

/* The defaults above, for a given range and pool. */
void measure_config_default(measure_config *cfg, int64_t start, int64_t n_max, int n_seeds);

typedef enum measure_kind {
	MEASURE_FIT = 1,
	MEASURE_NO_FIT,
	MEASURE_FAILED, /* the trial errored: no observation, the next seed is read */
} measure_kind;

typedef enum measure_stop {
	MEASURE_STOP_NONE = 0, /* FIT and FAILED */
	MEASURE_STOP_PLATEAU,
	MEASURE_STOP_GRADNORM,
	MEASURE_STOP_BUDGET,
} measure_stop;

typedef struct measure_outcome {
	measure_kind kind;
	measure_stop stop; /* why a NO_FIT stopped; MEASURE_STOP_NONE otherwise */
} measure_outcome;

typedef struct measure_pair {
	int64_t n;
	int seed; /* index into the pool */
} measure_pair;

typedef struct measure measure;

/* Validate cfg and allocate a measurement with no outcomes. Returns 0 and
 * sets *ret_m (caller owns; measure_destroy), -EINVAL for a configuration
 * out of range, -ENOMEM. */
int measure_new(const measure_config *cfg, measure **ret_m);
/* NULL-safe; sets *m = NULL. */
void measure_destroy(measure **m);
/* The configuration in use (min_seeds capped, start clamped). */
const measure_config *measure_config_get(const measure *m);

/* Record the terminal outcome of trial (n, seed). Returns 0 when new, 1 when
 * the same outcome was already recorded (a duplicate: nothing changes),
 * -EEXIST when a different outcome was (refused; the first one counts),
 * -ERANGE for n outside [1, n_max] or a seed outside the pool, -EINVAL for a
 * malformed outcome, -ENOSPC when the arena is full (only outcomes this
 * measurement never asked for can fill it: see measure.c). */
int measure_record(measure *m, int64_t n, int seed, measure_outcome o);

/* True when (n, seed) has an outcome; *ret_o (may be NULL) gets it. */
bool measure_outcome_get(const measure *m, int64_t n, int seed, measure_outcome *ret_o);

/* True when the measurement needs no more outcomes. */
bool measure_done(const measure *m);

/* Up to max trials to start now, in priority order, given the k trials in
 * flight (may be NULL when k == 0; any order, duplicates allowed): first the
 * seeds the path certainly needs at its current size, then speculative work
 * (further seeds there, the next sizes under both possible decisions, to
 * spec_depth hypothetical decisions). Never a pair with an outcome, in
 * flight, or pointless. Fills ret (room for max) and returns the count; 0
 * means wait (or done). Deterministic in (outcomes, set of in-flight pairs). */
int measure_wanted(const measure *m, const measure_pair *inflight, int k, int max, measure_pair *ret);

/* True when trial (n, seed) can no longer be consumed by the path whatever
 * the outcomes still to come (or already has an outcome): an in-flight one
 * may be cancelled. Once true, it stays true. */
bool measure_pointless(const measure *m, int64_t n, int seed);

/* One decided step of a path. */
typedef struct measure_step {
	int64_t n;
	bool fit;       /* the decision: p(n) >= q */
	bool uncertain; /* decided by the pool's majority, not by the sequential test */
	int seeds_read; /* seeds 0 … seeds_read − 1 were consumed */
	int fits, nofits, failed;
} measure_step;

/* Paths of the cell: 1 (bisect, grid) or n_seeds (per-seed, path i = seed i). */
int measure_path_count(const measure *m);
/* Copy up to max decided steps of path i, in the order they were decided
 * (grid: the grid sizes, ascending), into ret; returns how many steps the
 * path has (which may exceed max), or -EINVAL for a bad i. */
int measure_path(const measure *m, int i, measure_step *ret, int max);
/* True when (n, seed) has an outcome that a decided step consumed. */
bool measure_on_path(const measure *m, int64_t n, int seed);

typedef struct measure_result {
	bool done;
	bool full;        /* the whole range fits: EMC is ">= n_max" (emc == n_max) */
	int64_t emc;      /* the estimate of EMC_q (0: not even n = 1 fits) */
	int64_t hi;       /* smallest size decided p < q above emc (0: none) */
	int64_t emc_low;  /* [emc_low, emc_high]: `confidence` interval for EMC_q */
	int64_t emc_high; /* == n_max with full, or when the data bound it no further */
	double emc_fit;   /* crossing of the fitted logistic p(n) (bisect, grid); 0 if none */
	bool outside;     /* emc lay outside both sets and the interval was extended to it (never expected) */
	int seeds_used;   /* distinct seeds any decision consumed */
	int lo_fits, lo_total; /* p̂ at emc: outcomes the decisions there consumed */
	int hi_fits, hi_total; /* p̂ at hi */
	int hi_plateau, hi_gradnorm, hi_budget; /* the deciding no-fits at hi, by stop reason */
	bool unconverged;     /* a deciding no-fit at hi stopped for budget */
	bool plateau_decided; /* a deciding no-fit at hi stopped on a loss plateau */
	int nonmonotone;      /* consumed fits at sizes above a decided no-fit */
	int uncertain;        /* decisions made by majority at a spent pool */
	int probes;           /* decided steps, over all paths */
	int trials_consumed;  /* outcomes the decisions consumed */
	int trials_recorded;  /* all outcomes, on the path or not */
	/* per-seed and grid: statistics of the per-seed EMCs (grid: each seed's
	 * largest fitted size, the authors' read-out) */
	int64_t seed_median;
	double seed_mean, seed_sd;
} measure_result;

/* Compute the result from the current outcomes (final once measure_done).
 * Returns 0. Pure: the same outcomes give the same result, bit for bit. */
int measure_result_get(const measure *m, measure_result *ret);

/* Per-seed EMC of seed s (per-seed: its search's lo; grid: its largest
 * fitted size; bisect: -EINVAL). Returns 0 and sets *ret_emc. */
int measure_seed_emc(const measure *m, int seed, int64_t *ret_emc);

/* The grid of MEASURE_GRID: unique(int(logspace(log10(start),
 * log10(n_max), points))) as numpy computes it. Fills ret (room for points)
 * ascending, returns the count. */
int measure_grid_sizes(int64_t start, int64_t n_max, int points, int64_t *ret);

#endif
