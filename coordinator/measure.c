/* measure.c — one cell's EMC measurement over replicate seeds.
 *
 * The state is the configuration and a table of recorded outcomes, keyed by
 * (n, seed) and sorted; everything else is derived from it by pure
 * functions, so the order outcomes arrive in cannot matter and a restart
 * rebuilds the state by recording the stored outcomes again in any order.
 * The walk of each path is cached and recomputed after every new outcome.
 *
 * The sequential rule (judge). At a size n the seeds are read in pool
 * order 0, 1, 2, … and reading stops at the first seed without an outcome,
 * so a decision only ever depends on a prefix of the pool, never on which
 * of the later seeds happen to have arrived. A FAILED trial is no
 * observation: it is read and skipped. With k observations, x of them fits:
 *
 *   sure FIT / NO_FIT  once k >= min_seeds and either the k are unanimous
 *                      or Wald's log-likelihood ratio of p = q + δ against
 *                      p = q − δ crosses log((1−β)/α) or log(β/(1−α))
 *                      (α = β = MEASURE_SPRT_ERROR);
 *   settled            once k >= min_seeds (or the pool is spent) and every
 *                      continuation of the unread seeds leads to the same
 *                      decision — its first sure decision, else the pool's
 *                      majority x >= q·k (NO_FIT when k = 0) — which is
 *                      taken now and marked uncertain; the spent pool is
 *                      the case with no continuation left;
 *   pending            otherwise.
 *
 * A decision is made at the first prefix that allows one, and later seeds
 * are not read, so a decision never changes once made.
 *
 * The walk. From the bracket (lo, hi) = (0, unknown) the next size is that
 * of search.c's sequential search — start, then 2·lo capped at n_max while
 * hi is unknown, then lo + (hi − lo)/2 — and its decision moves lo or hi.
 * The walk stops at the first pending size (the current size) or when
 * hi − lo <= max(1, precision·lo) or lo == n_max. Every probe lies strictly
 * inside the bracket, so decisions are monotone by construction, no size
 * is decided twice and the path has at most path_cap steps.
 *
 * Invariants, for every state:
 *   - the table holds at most one outcome per (n, seed), 1 <= n <= n_max,
 *     0 <= seed < n_seeds; a conflicting second outcome is refused;
 *   - walk = f(table) for every path; adding an outcome only extends a
 *     walk (decided steps are prefixes of later walks);
 *   - measure_wanted(…) ∩ (table ∪ in flight) = ∅, and every wanted pair
 *     is reachable (not pointless).
 *
 * Speculation (measure_wanted) is a small tree grown from the current size:
 * a hypothetical decision at a pending size has two children, a size whose
 * recorded outcomes already decide it has one. Candidates are ranked by
 * level = depth + (seeds beyond the ones the node certainly needs), to
 * spec_depth; ties by depth, then branch (the fit branch first), then seed.
 *
 * Arena bound. Every pair this module asks for lies, when asked, in a tree
 * of at most 2^(spec_depth+1) − 1 pending sizes hanging off one of at most
 * path_cap current sizes, so at most path_cap · (2^(spec_depth+1) − 1) ·
 * n_seeds distinct pairs are ever wanted (per-seed: the same, with one seed
 * per tree). The table is sized for that plus slack; only outcomes at pairs
 * never asked for can fill it, and those are refused with -ENOSPC.
 *
 * The interval (bisect, grid), from the outcomes the decisions consumed,
 * is the hull of two likelihood-ratio sets at χ²₁(confidence): that of a
 * two-parameter logistic model in log n, p(n) = σ(logit q − b·(ln n − γ)),
 * b >= 0, fitted with Firth's penalty (it pools every probe, and covers
 * when p(n) is smooth), and that of the crossing under any non-increasing
 * p(n) (isotonic fits: it covers when p(n) drops steeply with sporadic
 * failures below, where the logistic slope is flattened and its crossing
 * pushed beyond the data). The path's EMC is the isotonic crossing of the
 * consumed outcomes, so it lies in the second set by construction.
 * Per-seed: a seeded percentile bootstrap over seeds. docs/method.md gives
 * the reasons and the measured coverage.
 *
 * Expected workload: a few dozen sizes per cell, a handful of seeds; every
 * call is at most a few thousand table look-ups, the interval a few tens of
 * thousands of exp() — nothing here is on a hot path.
 */
#include "measure.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define MEASURE_SPRT_ERROR 0.1  /* α = β of the sequential test */
#define BOOTSTRAP_ROUNDS 2000
#define BOOTSTRAP_SEED 0x656d632d6d656173ULL
#define SLOPE_MAX 1e5           /* b of the logistic fit, per unit of ln n */
#define CAND_MAX 512            /* candidates of one speculation level (ties beyond are dropped) */

/* Outcome codes in the table: 0 = none. */
enum { CODE_NONE = 0, CODE_FIT = 1, CODE_FAILED = 2, CODE_NOFIT = 3 /* + stop − 1 */ };

typedef struct entry {
	int64_t n;
	int32_t seed;
	uint8_t code;
} entry;

typedef struct walk {
	measure_step *steps; /* path_cap */
	int nsteps;
	int64_t lo, hi; /* hi == 0: unknown */
	bool done;
	int64_t cur_n; /* the pending size, 0 when done */
} walk;

struct measure {
	measure_config cfg;
	double delta, w_fit, w_nofit, llr_hi, llr_lo; /* the sequential test */
	entry *tab;
	int ntab, cap;
	int path_cap;
	int nwalks; /* 1, or n_seeds for per-seed */
	walk *walks;
	measure_step *step_mem;
	int64_t *grid;
	int ngrid;
};

typedef struct verdict {
	bool decided, fit, uncertain;
	int read, k, x, failed;
} verdict;

/* --- configuration ----------------------------------------------------- */

void measure_config_default(measure_config *cfg, int64_t start, int64_t n_max, int n_seeds)
{
	*cfg = (measure_config){
		.method = MEASURE_BISECT,
		.start = start,
		.n_max = n_max,
		.precision = 0.01,
		.quantile = 0.5,
		.n_seeds = n_seeds,
		.min_seeds = 3,
		.confidence = 0.95,
		.grid_points = 20,
		.spec_depth = 2,
		.indifference = 0.2,
	};
}

static bool config_ok(const measure_config *c)
{
	return c->method >= MEASURE_BISECT && c->method <= MEASURE_GRID && c->n_max >= 1 &&
	       c->precision >= 0.0 && c->precision < 1e6 && c->quantile > 0.0 && c->quantile < 1.0 &&
	       c->n_seeds >= 1 && c->n_seeds <= MEASURE_SEEDS_MAX && c->min_seeds >= 1 &&
	       c->confidence > 0.0 && c->confidence < 1.0 && c->grid_points >= 1 &&
	       c->grid_points <= MEASURE_GRID_MAX && c->spec_depth >= 0 && c->spec_depth <= MEASURE_DEPTH_MAX &&
	       c->indifference > 0.0 && c->indifference < 0.5;
}

static int bits(int64_t v)
{
	int b = 0;

	while (v > 0) {
		b++;
		v >>= 1;
	}
	return b;
}

/* Steps a walk can take: galloping doubles from start to n_max, bisection
 * halves a bracket of at most n_max down to 1. */
static int path_capacity(const measure_config *c)
{
	return bits(c->n_max / c->start) + 1 + bits(c->n_max) + 2;
}

static void sprt_init(measure *m)
{
	double q = m->cfg.quantile, d = m->cfg.indifference, a = MEASURE_SPRT_ERROR;

	if (d > q / 2)
		d = q / 2;
	if (d > (1 - q) / 2)
		d = (1 - q) / 2;
	m->delta = d;
	m->w_fit = log((q + d) / (q - d));
	m->w_nofit = log((1 - q - d) / (1 - q + d));
	m->llr_hi = log((1 - a) / a);
	m->llr_lo = log(a / (1 - a));
}

static void walk_path(const measure *m, int path, walk *w);

int measure_new(const measure_config *cfg, measure **ret_m)
{
	measure *m;
	int64_t trees;

	if (!cfg || !config_ok(cfg))
		return -EINVAL;
	m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	if (m->cfg.start < 1)
		m->cfg.start = 1;
	if (m->cfg.start > m->cfg.n_max)
		m->cfg.start = m->cfg.n_max;
	if (m->cfg.min_seeds > m->cfg.n_seeds)
		m->cfg.min_seeds = m->cfg.n_seeds;
	sprt_init(m);
	m->path_cap = path_capacity(&m->cfg);
	m->nwalks = m->cfg.method == MEASURE_PER_SEED ? m->cfg.n_seeds : 1;
	m->grid = calloc((size_t)m->cfg.grid_points, sizeof *m->grid);
	m->walks = calloc((size_t)m->nwalks, sizeof *m->walks);
	m->step_mem = calloc((size_t)m->nwalks * (size_t)m->path_cap, sizeof *m->step_mem);
	trees = (int64_t)m->path_cap * ((2 << m->cfg.spec_depth) - 1) * m->cfg.n_seeds;
	if (m->cfg.method == MEASURE_GRID)
		trees = (int64_t)m->cfg.grid_points * m->cfg.n_seeds;
	m->cap = (int)(trees + 64);
	m->tab = calloc((size_t)m->cap, sizeof *m->tab);
	if (!m->grid || !m->walks || !m->step_mem || !m->tab) {
		measure_destroy(&m);
		return -ENOMEM;
	}
	m->ngrid = measure_grid_sizes(m->cfg.start, m->cfg.n_max, m->cfg.grid_points, m->grid);
	for (int i = 0; i < m->nwalks; i++)
		m->walks[i].steps = m->step_mem + (size_t)i * (size_t)m->path_cap;
	for (int i = 0; i < m->nwalks; i++)
		walk_path(m, m->nwalks == 1 ? -1 : i, &m->walks[i]);
	*ret_m = m;
	return 0;
}

void measure_destroy(measure **m)
{
	if (!m || !*m)
		return;
	free((*m)->tab);
	free((*m)->grid);
	free((*m)->walks);
	free((*m)->step_mem);
	free(*m);
	*m = NULL;
}

const measure_config *measure_config_get(const measure *m)
{
	return &m->cfg;
}

/* --- the table --------------------------------------------------------- */

static int cmp_key(int64_t n1, int s1, int64_t n2, int s2)
{
	if (n1 != n2)
		return n1 < n2 ? -1 : 1;
	return s1 < s2 ? -1 : s1 > s2;
}

/* Index of the first entry >= (n, seed). */
static int lower_bound(const measure *m, int64_t n, int seed)
{
	int a = 0, b = m->ntab;

	while (a < b) {
		int mid = a + (b - a) / 2;

		if (cmp_key(m->tab[mid].n, m->tab[mid].seed, n, seed) < 0)
			a = mid + 1;
		else
			b = mid;
	}
	return a;
}

static uint8_t code_at(const measure *m, int64_t n, int seed)
{
	int i = lower_bound(m, n, seed);

	return i < m->ntab && m->tab[i].n == n && m->tab[i].seed == seed ? m->tab[i].code : CODE_NONE;
}

/* The codes of seeds 0 … n_seeds − 1 at n. */
static void load_row(const measure *m, int64_t n, uint8_t *row)
{
	memset(row, CODE_NONE, (size_t)m->cfg.n_seeds);
	for (int i = lower_bound(m, n, 0); i < m->ntab && m->tab[i].n == n; i++)
		row[m->tab[i].seed] = m->tab[i].code;
}

static int encode(measure_outcome o)
{
	switch (o.kind) {
	case MEASURE_FIT:
		return o.stop == MEASURE_STOP_NONE ? CODE_FIT : -1;
	case MEASURE_FAILED:
		return o.stop == MEASURE_STOP_NONE ? CODE_FAILED : -1;
	case MEASURE_NO_FIT:
		if (o.stop < MEASURE_STOP_NONE || o.stop > MEASURE_STOP_BUDGET)
			return -1;
		return CODE_NOFIT + (o.stop == MEASURE_STOP_NONE ? 0 : (int)o.stop - 1);
	}
	return -1;
}

static measure_outcome decode(uint8_t c)
{
	if (c == CODE_FIT)
		return (measure_outcome){MEASURE_FIT, MEASURE_STOP_NONE};
	if (c == CODE_FAILED)
		return (measure_outcome){MEASURE_FAILED, MEASURE_STOP_NONE};
	return (measure_outcome){MEASURE_NO_FIT, (measure_stop)(c - CODE_NOFIT + 1)};
}

bool measure_outcome_get(const measure *m, int64_t n, int seed, measure_outcome *ret_o)
{
	uint8_t c = code_at(m, n, seed);

	if (c == CODE_NONE)
		return false;
	if (ret_o)
		*ret_o = decode(c);
	return true;
}

/* --- the sequential rule ----------------------------------------------- */

static bool majority(const measure *m, int k, int x)
{
	return k > 0 && (double)x >= m->cfg.quantile * (double)k - 1e-9;
}

/* A sure decision at k observations with x fits: sets *fit. */
static bool sure(const measure *m, int min_seeds, int k, int x, bool *fit)
{
	double llr = x * m->w_fit + (k - x) * m->w_nofit;

	if (k < min_seeds || k == 0)
		return false;
	if (x == k || llr >= m->llr_hi) {
		*fit = true;
		return true;
	}
	if (x == 0 || llr <= m->llr_lo) {
		*fit = false;
		return true;
	}
	return false;
}

/* The decision a continuation of j observations, all fits or all no-fits,
 * leads to: its first sure decision, else the majority at its end. */
static bool outcome_run(const measure *m, int min_seeds, int k, int x, int j, bool fits)
{
	bool f;

	for (int i = 1; i <= j; i++)
		if (sure(m, min_seeds, k + i, fits ? x + i : x, &f))
			return f;
	return majority(m, k + j, fits ? x + j : x);
}

/* True when every continuation of the r unread seeds leads to the same
 * decision; sets *fit. The decision a continuation leads to is monotone in
 * its fits (a higher statistic crosses the upper bound no later and the
 * lower one no earlier, and the majority is monotone), so the all-fit and
 * all-no-fit runs of each length j <= r (the others failing) suffice.
 * Before min_seeds observations only a spent pool settles. */
static bool settled(const measure *m, int min_seeds, int k, int x, int r, bool *fit)
{
	bool want = majority(m, k, x);

	if (k < min_seeds && r > 0)
		return false;
	for (int j = 0; j <= r; j++)
		if (outcome_run(m, min_seeds, k, x, j, true) != want ||
		    outcome_run(m, min_seeds, k, x, j, false) != want)
			return false;
	*fit = want;
	return true;
}

/* Read row[0 … pool) in order, stopping at the first missing code. */
static void judge(const measure *m, const uint8_t *row, int pool, int min_seeds, verdict *v)
{
	*v = (verdict){0};
	for (int s = 0; s < pool && row[s] != CODE_NONE; s++) {
		v->read++;
		if (row[s] == CODE_FAILED) {
			v->failed++;
		} else {
			v->k++;
			v->x += row[s] == CODE_FIT;
		}
		if (sure(m, min_seeds, v->k, v->x, &v->fit)) {
			v->decided = true;
			return;
		}
		if (settled(m, min_seeds, v->k, v->x, pool - v->read, &v->fit)) {
			v->decided = v->uncertain = true;
			return;
		}
	}
}

/* The verdict at n of path -1 (the pool) or of seed `path` alone. */
static void judge_at(const measure *m, int path, int64_t n, verdict *v)
{
	uint8_t row[MEASURE_SEEDS_MAX];

	if (path < 0) {
		load_row(m, n, row);
		judge(m, row, m->cfg.n_seeds, m->cfg.min_seeds, v);
	} else {
		row[0] = code_at(m, n, path);
		judge(m, row, 1, 1, v);
	}
}

/* --- the walk ---------------------------------------------------------- */

static bool node_done(const measure *m, int64_t lo, int64_t hi)
{
	double tol = m->cfg.precision * (double)lo;

	if (lo >= m->cfg.n_max)
		return true;
	return hi != 0 && (double)(hi - lo) <= (tol < 1.0 ? 1.0 : tol);
}

static int64_t node_probe(const measure *m, int64_t lo, int64_t hi)
{
	if (hi == 0) {
		if (lo == 0)
			return m->cfg.start;
		return lo > m->cfg.n_max / 2 ? m->cfg.n_max : 2 * lo;
	}
	return lo + (hi - lo) / 2;
}

/* Recompute walk w of path -1 (the pool) or of one seed from the table. */
static void walk_path(const measure *m, int path, walk *w)
{
	verdict v;

	w->nsteps = 0;
	w->lo = w->hi = 0;
	w->done = false;
	w->cur_n = 0;
	while (!node_done(m, w->lo, w->hi)) {
		int64_t n = node_probe(m, w->lo, w->hi);

		judge_at(m, path, n, &v);
		if (!v.decided || w->nsteps >= m->path_cap) {
			w->cur_n = n;
			return;
		}
		w->steps[w->nsteps++] = (measure_step){
			.n = n, .fit = v.fit, .uncertain = v.uncertain, .seeds_read = v.read,
			.fits = v.x, .nofits = v.k - v.x, .failed = v.failed};
		if (v.fit)
			w->lo = n;
		else
			w->hi = n;
	}
	w->done = true;
}

static bool in_grid(const measure *m, int64_t n)
{
	for (int i = 0; i < m->ngrid; i++)
		if (m->grid[i] == n)
			return true;
	return false;
}

int measure_record(measure *m, int64_t n, int seed, measure_outcome o)
{
	int code = encode(o), i;

	if (n < 1 || n > m->cfg.n_max || seed < 0 || seed >= m->cfg.n_seeds)
		return -ERANGE;
	if (code < 0)
		return -EINVAL;
	i = lower_bound(m, n, seed);
	if (i < m->ntab && m->tab[i].n == n && m->tab[i].seed == seed)
		return m->tab[i].code == code ? 1 : -EEXIST;
	if (m->ntab >= m->cap)
		return -ENOSPC;
	memmove(&m->tab[i + 1], &m->tab[i], (size_t)(m->ntab - i) * sizeof *m->tab);
	m->tab[i] = (entry){.n = n, .seed = seed, .code = (uint8_t)code};
	m->ntab++;
	if (m->cfg.method == MEASURE_PER_SEED)
		walk_path(m, seed, &m->walks[seed]);
	else if (m->cfg.method == MEASURE_BISECT)
		walk_path(m, -1, &m->walks[0]);
	return 0;
}

static bool grid_complete(const measure *m)
{
	for (int i = 0; i < m->ngrid; i++)
		for (int s = 0; s < m->cfg.n_seeds; s++)
			if (code_at(m, m->grid[i], s) == CODE_NONE)
				return false;
	return true;
}

bool measure_done(const measure *m)
{
	if (m->cfg.method == MEASURE_GRID)
		return grid_complete(m);
	for (int i = 0; i < m->nwalks; i++)
		if (!m->walks[i].done)
			return false;
	return true;
}

/* --- what to run --------------------------------------------------------- */

typedef struct cand {
	int depth;
	uint32_t branch;
	measure_pair p;
} cand;

typedef struct cands {
	cand c[CAND_MAX];
	int n;
} cands;

static int cmp_cand(const void *pa, const void *pb)
{
	const cand *a = pa, *b = pb;

	if (a->depth != b->depth)
		return a->depth < b->depth ? -1 : 1;
	if (a->branch != b->branch)
		return a->branch < b->branch ? -1 : 1;
	if (a->p.seed != b->p.seed)
		return a->p.seed < b->p.seed ? -1 : 1;
	return a->p.n < b->p.n ? -1 : a->p.n > b->p.n;
}

static void add_cand(cands *out, int depth, uint32_t branch, int64_t n, int seed)
{
	if (out->n < CAND_MAX)
		out->c[out->n++] = (cand){depth, branch, {n, seed}};
}

/* The missing seeds of a pending node at n whose level is `level`: the
 * j-th missing seed (from the first unread one) has level depth when the
 * node certainly needs it, depth + 1 + (j − need) after that. */
static void node_cands(const measure *m, int path, int64_t n, const verdict *v, int depth, uint32_t branch,
	int level, cands *out)
{
	int need = path < 0 ? m->cfg.min_seeds - v->k : 1, j = 0;
	int first = path < 0 ? v->read : path, last = path < 0 ? m->cfg.n_seeds : path + 1;

	if (need < 1)
		need = 1;
	for (int s = first; s < last; s++) {
		int lvl;

		if (code_at(m, n, s) != CODE_NONE)
			continue;
		lvl = depth + (j < need ? 0 : 1 + j - need);
		j++;
		if (lvl > level)
			break;
		if (lvl == level)
			add_cand(out, depth, branch, n, s);
	}
}

/* Grow the hypothetical tree from bracket (lo, hi): follow sizes the table
 * already decides, collect the candidates of `level` at the first pending
 * one, and branch on both of its decisions while depth allows. */
static void explore(const measure *m, int path, int64_t lo, int64_t hi, int depth, uint32_t branch, int level,
	cands *out)
{
	verdict v;
	int64_t n;

	for (;;) {
		if (node_done(m, lo, hi))
			return;
		n = node_probe(m, lo, hi);
		judge_at(m, path, n, &v);
		if (!v.decided)
			break;
		if (v.fit)
			lo = n;
		else
			hi = n;
	}
	node_cands(m, path, n, &v, depth, branch, level, out);
	if (depth + 1 <= level && depth < m->cfg.spec_depth) {
		explore(m, path, n, hi, depth + 1, branch * 2, level, out);
		explore(m, path, lo, n, depth + 1, branch * 2 + 1, level, out);
	}
}

static bool listed(const measure_pair *list, int k, measure_pair p)
{
	for (int i = 0; i < k; i++)
		if (list[i].n == p.n && list[i].seed == p.seed)
			return true;
	return false;
}

/* Take the candidates in order, skipping those in flight or already taken. */
static int take(const cands *c, const measure_pair *inflight, int k, int max, measure_pair *ret, int got)
{
	for (int i = 0; i < c->n && got < max; i++)
		if (!listed(inflight, k, c->c[i].p) && !listed(ret, got, c->c[i].p))
			ret[got++] = c->c[i].p;
	return got;
}

static int wanted_grid(const measure *m, const measure_pair *inflight, int k, int max, measure_pair *ret)
{
	int got = 0;

	for (int i = 0; i < m->ngrid && got < max; i++)
		for (int s = 0; s < m->cfg.n_seeds && got < max; s++) {
			measure_pair p = {m->grid[i], s};

			if (code_at(m, p.n, s) == CODE_NONE && !listed(inflight, k, p))
				ret[got++] = p;
		}
	return got;
}

int measure_wanted(const measure *m, const measure_pair *inflight, int k, int max, measure_pair *ret)
{
	cands c;
	int got = 0;

	if (max <= 0 || k < 0 || (k > 0 && !inflight))
		return 0;
	if (m->cfg.method == MEASURE_GRID)
		return wanted_grid(m, inflight, k, max, ret);
	for (int level = 0; level <= m->cfg.spec_depth && got < max; level++) {
		c.n = 0;
		for (int i = 0; i < m->nwalks; i++) {
			const walk *w = &m->walks[i];

			if (!w->done)
				explore(m, m->nwalks == 1 ? -1 : i, w->lo, w->hi, 0, 1, level, &c);
		}
		qsort(c.c, (size_t)c.n, sizeof c.c[0], cmp_cand);
		got = take(&c, inflight, k, max, ret, got);
	}
	return got;
}

/* True when seed `seed` at n can still be read on path `path` from the
 * bracket (lo, hi): descend the hypothetical tree towards n. */
static bool reachable(const measure *m, int path, int64_t lo, int64_t hi, int64_t n, int seed)
{
	verdict v;

	if (path >= 0 && seed != path)
		return false;
	for (;;) {
		int64_t p;

		if (node_done(m, lo, hi) || n <= lo || (hi != 0 && n >= hi))
			return false;
		p = node_probe(m, lo, hi);
		judge_at(m, path, p, &v);
		if (p == n)
			return !v.decided && code_at(m, n, seed) == CODE_NONE;
		if (v.decided ? v.fit : n > p)
			lo = p;
		else
			hi = p;
	}
}

bool measure_pointless(const measure *m, int64_t n, int seed)
{
	const walk *w;

	if (n < 1 || n > m->cfg.n_max || seed < 0 || seed >= m->cfg.n_seeds)
		return true;
	if (code_at(m, n, seed) != CODE_NONE)
		return true;
	if (m->cfg.method == MEASURE_GRID)
		return !in_grid(m, n);
	w = &m->walks[m->nwalks == 1 ? 0 : seed];
	return !reachable(m, m->nwalks == 1 ? -1 : seed, w->lo, w->hi, n, seed);
}

/* --- paths --------------------------------------------------------------- */

/* The grid's decided steps: the sizes where every seed has an outcome. */
static int grid_steps(const measure *m, measure_step *ret, int max)
{
	uint8_t row[MEASURE_SEEDS_MAX];
	int count = 0;

	for (int i = 0; i < m->ngrid; i++) {
		measure_step st = {.n = m->grid[i], .seeds_read = m->cfg.n_seeds};
		bool complete = true;

		load_row(m, m->grid[i], row);
		for (int s = 0; s < m->cfg.n_seeds; s++) {
			complete = complete && row[s] != CODE_NONE;
			st.fits += row[s] == CODE_FIT;
			st.failed += row[s] == CODE_FAILED;
			st.nofits += row[s] >= CODE_NOFIT;
		}
		if (!complete)
			continue;
		st.fit = majority(m, st.fits + st.nofits, st.fits);
		if (count < max)
			ret[count] = st;
		count++;
	}
	return count;
}

int measure_path_count(const measure *m)
{
	return m->nwalks;
}

int measure_path(const measure *m, int i, measure_step *ret, int max)
{
	const walk *w;

	if (i < 0 || i >= m->nwalks || max < 0 || (max > 0 && !ret))
		return -EINVAL;
	if (m->cfg.method == MEASURE_GRID)
		return grid_steps(m, ret, max);
	w = &m->walks[i];
	if (max > 0)
		memcpy(ret, w->steps, (size_t)(w->nsteps < max ? w->nsteps : max) * sizeof *ret);
	return w->nsteps;
}

bool measure_on_path(const measure *m, int64_t n, int seed)
{
	const walk *w;

	if (seed < 0 || seed >= m->cfg.n_seeds || code_at(m, n, seed) == CODE_NONE)
		return false;
	if (m->cfg.method == MEASURE_GRID) {
		uint8_t row[MEASURE_SEEDS_MAX];

		if (!in_grid(m, n))
			return false;
		load_row(m, n, row);
		for (int s = 0; s < m->cfg.n_seeds; s++)
			if (row[s] == CODE_NONE)
				return false;
		return true;
	}
	w = &m->walks[m->nwalks == 1 ? 0 : seed];
	for (int i = 0; i < w->nsteps; i++)
		if (w->steps[i].n == n)
			return m->nwalks > 1 || seed < w->steps[i].seeds_read;
	return false;
}

/* --- the interval: a logistic model in ln n, profile likelihood ---------- */

typedef struct obs {
	double u; /* ln n */
	int y, t; /* fits among t observations */
	int64_t n;
} obs;

typedef struct fitdata {
	obs o[MEASURE_GRID_MAX + 256];
	int k;
	double logit_q;
} fitdata;

/* Firth's penalised log-likelihood at (γ, b): ℓ + ½ log det I, with I the
 * Fisher information of the usual parameters (α, β) of η = α + β·ln n
 * (α = logit q + bγ, β = −b). The penalty (Jeffreys' prior) keeps the
 * slope finite when the outcomes are separated, which near-unanimous
 * probes usually are, and removes the first-order bias of the slope that
 * otherwise makes the interval too narrow. */
static double pen_loglik(const fitdata *d, double g, double b)
{
	double ll = 0, s0 = 0, s1 = 0, s2 = 0, det;

	for (int i = 0; i < d->k; i++) {
		/* one exp and one log1p: with e = exp(−|η|), ln σ(η) = min(η, 0) −
		 * ln(1 + e), ln σ(−η) = ln σ(η) − η, p(1 − p) = e/(1 + e)² */
		double eta = d->logit_q + b * (g - d->o[i].u), e = exp(-fabs(eta)), l1 = log1p(e);
		double lp = (eta < 0 ? eta : 0) - l1, w = d->o[i].t * e / ((1 + e) * (1 + e)), u = d->o[i].u;

		ll += d->o[i].y * lp + (d->o[i].t - d->o[i].y) * (lp - eta);
		s0 += w;
		s1 += w * u;
		s2 += w * u * u;
	}
	det = s0 * s2 - s1 * s1;
	return ll + 0.5 * log(det > 1e-300 ? det : 1e-300);
}

/* ℓ_p(γ) = max over 0 <= b <= SLOPE_MAX of the penalised likelihood: a
 * scan over ln b, then golden-section search around the best point. */
static double profile(const fitdata *d, double g)
{
	const double phi = 0.6180339887498949, t_lo = -8, t_hi = log(SLOPE_MAX);
	double best = pen_loglik(d, g, 0), bt = t_lo, step = (t_hi - t_lo) / 10;
	double lo, hi, x1, x2, f1, f2;

	for (int i = 0; i <= 10; i++) {
		double f = pen_loglik(d, g, exp(t_lo + i * step));

		if (f > best) {
			best = f;
			bt = t_lo + i * step;
		}
	}
	lo = bt - step, hi = bt + step;
	x1 = hi - phi * (hi - lo), x2 = lo + phi * (hi - lo);
	f1 = pen_loglik(d, g, exp(x1)), f2 = pen_loglik(d, g, exp(x2));
	for (int i = 0; i < 22; i++) { /* 0.618^22 of 2 steps: ln b to 1e-4 */
		if (f1 >= f2) {
			hi = x2, x2 = x1, f2 = f1;
			x1 = hi - phi * (hi - lo), f1 = pen_loglik(d, g, exp(x1));
		} else {
			lo = x1, x1 = x2, f1 = f2;
			x2 = lo + phi * (hi - lo), f2 = pen_loglik(d, g, exp(x2));
		}
	}
	return fmax(best, fmax(f1, f2));
}

/* The χ²₁ quantile at `confidence`: z² with Φ(z) = (1 + confidence)/2. */
static double chi2_1(double confidence)
{
	double a = 0, b = 40;

	for (int i = 0; i < 200; i++) {
		double z = 0.5 * (a + b);

		if (0.5 * erfc(z / sqrt(2.0)) > (1 - confidence) / 2)
			a = z;
		else
			b = z;
	}
	return a * a;
}

/* Bisect between g_in (ℓ_p >= thr) and g_out (ℓ_p < thr), to ln n ± 1e-6. */
static double boundary(const fitdata *d, double g_in, double g_out, double thr)
{
	for (int i = 0; i < 24; i++) {
		double g = 0.5 * (g_in + g_out);

		if (profile(d, g) >= thr)
			g_in = g;
		else
			g_out = g;
	}
	return g_in;
}

/* Candidate crossings: below, at, between and above the observed sizes. */
static int candidates(const fitdata *d, double *c)
{
	int nc = 0;

	c[nc++] = d->o[0].u - 1;
	for (int i = 0; i < d->k; i++) {
		c[nc++] = d->o[i].u;
		if (i + 1 < d->k)
			c[nc++] = 0.5 * (d->o[i].u + d->o[i + 1].u);
	}
	c[nc++] = d->o[d->k - 1].u + 1;
	return nc;
}

/* The maximum of ℓ_p over γ: the best candidate, refined by golden-section
 * search between its neighbours. */
static double mle(const fitdata *d, const double *c, int nc, int *ret_best, double *ret_ll)
{
	const double phi = 0.6180339887498949;
	int best = 0;
	double bl = -INFINITY, lo, hi, x1, x2, f1, f2;

	for (int i = 0; i < nc; i++) {
		double l = profile(d, c[i]);

		if (l > bl) {
			bl = l;
			best = i;
		}
	}
	lo = c[best > 0 ? best - 1 : 0];
	hi = c[best + 1 < nc ? best + 1 : nc - 1];
	x1 = hi - phi * (hi - lo), x2 = lo + phi * (hi - lo);
	f1 = profile(d, x1), f2 = profile(d, x2);
	for (int i = 0; i < 25; i++) {
		if (f1 >= f2) {
			hi = x2, x2 = x1, f2 = f1;
			x1 = hi - phi * (hi - lo), f1 = profile(d, x1);
		} else {
			lo = x1, x1 = x2, f1 = f2;
			x2 = lo + phi * (hi - lo), f2 = profile(d, x2);
		}
	}
	*ret_best = best;
	*ret_ll = bl;
	if (f1 > bl) {
		*ret_ll = f1;
		return x1;
	}
	return c[best];
}

static int64_t size_of(const measure *m, double g)
{
	double cap = log((double)m->cfg.n_max) + 1;

	return (int64_t)fmin(floor(exp(g < cap ? g : cap)), (double)m->cfg.n_max);
}

static void logistic_set(const measure *m, const fitdata *d, measure_result *r);

/* --- the interval's second half: the monotone likelihood-ratio set ------ */

static double binom_ll(double y, double t, double p)
{
	return (y > 0 ? y * log(p) : 0) + (t > y ? (t - y) * log1p(-p) : 0);
}

/* The log-likelihood of the maximum-likelihood non-increasing p(n) over
 * o[a … b) with every value in [pmin, pmax]: pool adjacent violators, then
 * clip each block (for a monotone fit under bounds, the clipped
 * unconstrained fit is the constrained one). */
static double iso_ll(const fitdata *d, int a, int b, double pmin, double pmax)
{
	static _Thread_local double y[MEASURE_GRID_MAX + 256], t[MEASURE_GRID_MAX + 256];
	double ll = 0;
	int top = 0;

	for (int i = a; i < b; i++) {
		y[top] = d->o[i].y, t[top] = d->o[i].t, top++;
		while (top > 1 && y[top - 2] * t[top - 1] < y[top - 1] * t[top - 2]) {
			y[top - 2] += y[top - 1], t[top - 2] += t[top - 1];
			top--;
		}
	}
	for (int i = 0; i < top; i++)
		ll += binom_ll(y[i], t[i], fmin(fmax(y[i] / t[i], pmin), pmax));
	return ll;
}

/* The sizes n_q can take under any non-increasing p(n) that the outcomes
 * do not reject: with the crossing after the j-th observed size (p >= q
 * on the first j, p <= q on the rest), the constrained likelihood is that
 * of the two clipped monotone fits; every j whose likelihood ratio to the
 * best j is within χ²₁(confidence) is kept, and the set is the sizes from
 * the first kept crossing to the last: [n_j, n_(j+1) − 1], with n_0 = 0
 * and n_(k+1) = n_max + 1. */
static void monotone_set(const measure *m, const fitdata *d, int64_t *ret_low, int64_t *ret_high)
{
	double ll[MEASURE_GRID_MAX + 257], best = -INFINITY, thr, q = m->cfg.quantile;
	int lo_j = -1, hi_j = -1;

	for (int j = 0; j <= d->k; j++) {
		ll[j] = iso_ll(d, 0, j, q, 1) + iso_ll(d, j, d->k, 0, q);
		best = fmax(best, ll[j]);
	}
	thr = best - chi2_1(m->cfg.confidence) / 2;
	for (int j = 0; j <= d->k; j++)
		if (ll[j] >= thr) {
			lo_j = lo_j < 0 ? j : lo_j;
			hi_j = j;
		}
	*ret_low = lo_j == 0 ? 0 : d->o[lo_j - 1].n;
	*ret_high = hi_j == d->k ? m->cfg.n_max : d->o[hi_j].n - 1;
}

/* Fit d and set r->emc_fit and [emc_low, emc_high]: the hull of the
 * logistic model's profile set, the monotone set, and r->emc. */
static void interval(const measure *m, const fitdata *d, measure_result *r)
{
	int64_t low, high;

	logistic_set(m, d, r);
	if (d->k == 0)
		return;
	monotone_set(m, d, &low, &high);
	r->emc_low = low < r->emc_low ? low : r->emc_low;
	r->emc_high = high > r->emc_high ? high : r->emc_high;
	r->outside = r->emc < r->emc_low || r->emc > r->emc_high;
	r->emc_low = r->emc < r->emc_low ? r->emc : r->emc_low;
	r->emc_high = r->emc > r->emc_high ? r->emc : r->emc_high;
}

/* The logistic model's profile set: r->emc_fit, emc_low, emc_high. */
static void logistic_set(const measure *m, const fitdata *d, measure_result *r)
{
	double c[2 * (MEASURE_GRID_MAX + 256) + 2], g, ll, thr, g_far;
	int nc, best, j;

	r->emc_low = 0;
	r->emc_high = m->cfg.n_max;
	if (d->k == 0)
		return;
	nc = candidates(d, c);
	g = mle(d, c, nc, &best, &ll);
	thr = ll - chi2_1(m->cfg.confidence) / 2;
	r->emc_fit = exp(fmin(g, log((double)m->cfg.n_max) + 1));
	for (j = best + 1; j < nc && (c[j] <= g || profile(d, c[j]) >= thr); j++)
		;
	g_far = log((double)m->cfg.n_max) + 3;
	if (j < nc)
		r->emc_high = size_of(m, boundary(d, j > best + 1 && c[j - 1] > g ? c[j - 1] : g, c[j], thr));
	else if (profile(d, g_far) < thr)
		r->emc_high = size_of(m, boundary(d, c[nc - 1], g_far, thr));
	for (j = best - 1; j >= 0 && (c[j] >= g || profile(d, c[j]) >= thr); j--)
		;
	g_far = -3;
	if (j >= 0)
		r->emc_low = size_of(m, boundary(d, j < best - 1 && c[j + 1] < g ? c[j + 1] : g, c[j], thr));
	else if (profile(d, g_far) < thr)
		r->emc_low = size_of(m, boundary(d, c[0], g_far, thr));
}

/* Observations from the decided steps (distinct sizes), ascending in n. */
static void steps_obs(const measure_step *st, int ns, double q, fitdata *d)
{
	d->k = 0;
	d->logit_q = log(q / (1 - q));
	for (int i = 0; i < ns; i++) {
		obs o = {log((double)st[i].n), st[i].fits, st[i].fits + st[i].nofits, st[i].n};
		int j = d->k;

		if (o.t == 0 || d->k >= (int)(sizeof d->o / sizeof d->o[0]))
			continue;
		while (j > 0 && d->o[j - 1].u > o.u)
			j--;
		memmove(&d->o[j + 1], &d->o[j], (size_t)(d->k - j) * sizeof o);
		d->o[j] = o;
		d->k++;
	}
}

/* --- results ------------------------------------------------------------- */

/* Flags of one path: p̂ at lo and hi, the stop reasons of the deciding
 * no-fits at hi (those the decision there consumed), and the consumed fits
 * above the smallest size decided not to fit. path -1: seeds 0 … read − 1,
 * else that seed alone. Counts add up over the per-seed paths. */
static void path_flags(const measure *m, int path, const measure_step *st, int ns, int64_t lo, int64_t hi,
	measure_result *r)
{
	int64_t h0 = 0;

	for (int i = 0; i < ns; i++) {
		if (!st[i].fit && (h0 == 0 || st[i].n < h0))
			h0 = st[i].n;
		r->uncertain += st[i].uncertain;
		r->trials_consumed += st[i].seeds_read;
	}
	r->probes += ns;
	for (int i = 0; i < ns; i++) {
		if (h0 != 0 && st[i].n > h0)
			r->nonmonotone += st[i].fits;
		if (st[i].n == lo && path < 0) {
			r->lo_fits = st[i].fits;
			r->lo_total = st[i].fits + st[i].nofits;
		}
		if (st[i].n != hi || hi == 0)
			continue;
		if (path < 0) {
			r->hi_fits = st[i].fits;
			r->hi_total = st[i].fits + st[i].nofits;
		}
		for (int s = 0; s < st[i].seeds_read; s++) {
			uint8_t c = code_at(m, hi, path < 0 ? s : path);

			r->hi_plateau += c == CODE_NOFIT + MEASURE_STOP_PLATEAU - 1;
			r->hi_gradnorm += c == CODE_NOFIT + MEASURE_STOP_GRADNORM - 1;
			r->hi_budget += c == CODE_NOFIT + MEASURE_STOP_BUDGET - 1;
		}
	}
}

static void result_bisect(const measure *m, measure_result *r)
{
	const walk *w = &m->walks[0];
	fitdata d;

	r->emc = w->lo;
	r->hi = w->hi;
	path_flags(m, -1, w->steps, w->nsteps, w->lo, w->hi, r);
	for (int i = 0; i < w->nsteps; i++)
		if (w->steps[i].seeds_read > r->seeds_used)
			r->seeds_used = w->steps[i].seeds_read;
	steps_obs(w->steps, w->nsteps, m->cfg.quantile, &d);
	interval(m, &d, r);
}

static int cmp_i64(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;

	return a < b ? -1 : a > b;
}

/* EMC_q of a sample of per-seed EMCs: the largest e such that a fraction
 * >= q of them is >= e, i.e. e[N − ceil(q·N)] of the sorted sample (the
 * median for odd N at q = 0.5). Sorts e. */
static int64_t emc_quantile(int64_t *e, int n, double q)
{
	int idx = n - (int)ceil(q * n - 1e-9);

	qsort(e, (size_t)n, sizeof *e, cmp_i64);
	return e[idx < 0 ? 0 : idx >= n ? n - 1 : idx];
}

/* Mean, sd and (1 − q)-quantile of the per-seed EMCs, and a percentile
 * bootstrap interval of the quantile from a fixed seed. */
static void seed_stats(const measure *m, const int64_t *e, int n, measure_result *r, bool bootstrap)
{
	int64_t tmp[MEASURE_SEEDS_MAX], boot[BOOTSTRAP_ROUNDS];
	double sum = 0, ss = 0, a = (1 - m->cfg.confidence) / 2;
	emc_rng rng;

	for (int i = 0; i < n; i++)
		sum += (double)e[i];
	r->seed_mean = sum / n;
	for (int i = 0; i < n; i++)
		ss += ((double)e[i] - r->seed_mean) * ((double)e[i] - r->seed_mean);
	r->seed_sd = n > 1 ? sqrt(ss / (n - 1)) : 0;
	memcpy(tmp, e, (size_t)n * sizeof *e);
	r->seed_median = emc_quantile(tmp, n, m->cfg.quantile);
	if (!bootstrap)
		return;
	emc_rng_seed(&rng, BOOTSTRAP_SEED, (uint64_t)n);
	for (int b = 0; b < BOOTSTRAP_ROUNDS; b++) {
		for (int i = 0; i < n; i++)
			tmp[i] = e[emc_rng_below(&rng, (uint64_t)n)];
		boot[b] = emc_quantile(tmp, n, m->cfg.quantile);
	}
	qsort(boot, BOOTSTRAP_ROUNDS, sizeof *boot, cmp_i64);
	r->emc_low = boot[(int)floor(a * BOOTSTRAP_ROUNDS)];
	r->emc_high = boot[(int)ceil((1 - a) * BOOTSTRAP_ROUNDS) - 1];
}

static void result_per_seed(const measure *m, measure_result *r)
{
	int64_t e[MEASURE_SEEDS_MAX] = {0};
	int n = m->cfg.n_seeds;

	for (int s = 0; s < n; s++) {
		const walk *w = &m->walks[s];

		e[s] = w->lo;
		path_flags(m, s, w->steps, w->nsteps, w->lo, w->hi, r);
		r->seeds_used += w->nsteps > 0;
	}
	seed_stats(m, e, n, r, true);
	r->emc = r->seed_median;
	for (int s = 0; s < n; s++)
		r->lo_fits += e[s] >= r->emc;
	r->lo_total = n;
}

static void result_grid(const measure *m, measure_result *r)
{
	measure_step st[MEASURE_GRID_MAX];
	int64_t e[MEASURE_SEEDS_MAX] = {0};
	int ns = grid_steps(m, st, MEASURE_GRID_MAX), lo_i = -1;
	fitdata d;

	for (int i = 0; i < ns; i++)
		if (st[i].fit)
			lo_i = i;
	r->emc = lo_i >= 0 ? st[lo_i].n : 0;
	r->hi = lo_i + 1 < ns ? st[lo_i + 1].n : 0;
	path_flags(m, -1, st, ns, r->emc, r->hi, r);
	r->seeds_used = ns > 0 ? m->cfg.n_seeds : 0;
	for (int s = 0; s < m->cfg.n_seeds; s++)
		measure_seed_emc(m, s, &e[s]);
	seed_stats(m, e, m->cfg.n_seeds, r, false);
	steps_obs(st, ns, m->cfg.quantile, &d);
	interval(m, &d, r);
}

int measure_result_get(const measure *m, measure_result *ret)
{
	measure_result r = {0};

	r.done = measure_done(m);
	r.trials_recorded = m->ntab;
	if (m->cfg.method == MEASURE_BISECT)
		result_bisect(m, &r);
	else if (m->cfg.method == MEASURE_PER_SEED)
		result_per_seed(m, &r);
	else
		result_grid(m, &r);
	r.full = m->cfg.method == MEASURE_GRID ? r.emc > 0 && r.emc == m->grid[m->ngrid - 1]
					       : r.emc == m->cfg.n_max;
	r.unconverged = r.hi_budget > 0;
	r.plateau_decided = r.hi_plateau > 0;
	*ret = r;
	return 0;
}

int measure_seed_emc(const measure *m, int seed, int64_t *ret_emc)
{
	int64_t best = 0;

	if (seed < 0 || seed >= m->cfg.n_seeds || m->cfg.method == MEASURE_BISECT)
		return -EINVAL;
	if (m->cfg.method == MEASURE_PER_SEED) {
		*ret_emc = m->walks[seed].lo;
		return 0;
	}
	for (int i = 0; i < m->ngrid; i++)
		if (code_at(m, m->grid[i], seed) == CODE_FIT)
			best = m->grid[i];
	*ret_emc = best;
	return 0;
}

/* numpy: y = start' + i·step for i < points − 1, y[points − 1] = stop' exactly
 * (start', stop' the log10s), then int(10^y) truncates; so the grid of
 * 4 … 50 000 ends at 49 999, as the authors' did. */
int measure_grid_sizes(int64_t start, int64_t n_max, int points, int64_t *ret)
{
	double a, b, step;
	int count = 0;

	if (points < 1 || n_max < 1)
		return 0;
	start = start < 1 ? 1 : start > n_max ? n_max : start;
	a = log10((double)start);
	b = log10((double)n_max);
	step = points > 1 ? (b - a) / (points - 1) : 0;
	for (int i = 0; i < points; i++) {
		double y = points > 1 && i == points - 1 ? b : a + i * step;
		int64_t n = (int64_t)pow(10.0, y);

		if (n < 1)
			n = 1;
		if (n > n_max)
			n = n_max;
		if (count == 0 || ret[count - 1] < n)
			ret[count++] = n;
	}
	return count;
}
