/* search.c — one cell's EMC search: galloping, then bisection.
 *
 * The whole state is the bracket (lo, hi) and three constants, so a search
 * is rebuilt after a crash from the two numbers stored with its cell, and
 * a restored search asks for exactly the probes the original would have.
 *
 * Invariants, for every state this file produces:
 *
 *   0 <= lo <= n_max;   hi == 0 or lo < hi <= n_max;
 *   lo > 0 only after a FIT at lo; hi > 0 only after a NO_FIT at hi.
 *
 * Galloping (hi == 0): probe start while nothing fits, then 2·lo, capped
 * at n_max. Doubling from the last fit rather than counting steps keeps the
 * sequence start, 2·start, 4·start, … and needs no extra state.
 *
 * Bisection (hi != 0): probe lo + (hi − lo)/2, which lies strictly inside
 * (lo, hi) whenever the search is not done (then hi − lo >= 2). lo may be
 * 0, so a cell that cannot fit even `start` samples is searched down to 1.
 *
 * Done: hi != 0 and hi − lo <= max(1, precision·lo); or lo == n_max (the
 * whole allowed range fits, EMC ">= n_max"); or hi == 1 (nothing fits,
 * lo = 0, which the first rule already covers).
 *
 * Run one probe at a time, every probe lies strictly inside the bracket and
 * becomes its new lo or hi, so the bracket shrinks on every result, no size
 * is probed twice, and the search ends after at most about 2·log2(n_max)
 * probes whatever the oracle answers — monotone or not.
 *
 * Results that arrive out of that order (from probes started before a
 * restart, or from several probes in flight) may contradict the bracket,
 * because training near capacity is not monotone in n. The rule is kept
 * simple and one-directional, lo never shrinks:
 *
 *   FIT at n:    lo = max(lo, n); if hi != 0 and hi <= lo, hi = 0, i.e.
 *                forget the contradicted no-fit and gallop on above lo
 *                (or stop, if lo == n_max).
 *   NO_FIT at n: if n > lo, hi = n when hi is unknown, else min(hi, n).
 *                A NO_FIT at n <= lo is ignored: a larger size is already
 *                known to fit, and the EMC is the largest size that fits,
 *                so an isolated failure below it does not lower it.
 *
 * Each rule moves lo up or hi down (or resets hi when lo moves past it), so
 * a non-monotone oracle cannot make the search cycle: lo is bounded by
 * n_max and strictly grows on every reset.
 *
 * Several probes at once (search_next_many). The rules above do not care
 * in which order results come, so running k probes of a cell at once needs
 * nothing new in the state, only a choice of where to probe:
 *
 *   galloping:  speculate on the doubling sequence above the largest size
 *               already running; a NO_FIT anywhere ends galloping and makes
 *               every running probe above it pointless.
 *   bisection:  the running sizes cut (lo, hi) into open intervals. New
 *               sizes are handed out one at a time to the interval whose
 *               parts would stay longest (length / (points + 1), the
 *               D'Hondt rule), and each interval's points are then spread
 *               evenly over it. From an empty bracket this is k-section:
 *               m points cut it into m + 1 parts that differ by at most 1.
 *               An interval whose parts already meet the precision gets no
 *               more points: whatever its probes answer, the search would
 *               stop without them.
 *
 * Every new size lies strictly inside the bracket (or above lo while
 * galloping), so each result either moves lo or hi or is pointless, and the
 * monotone case still never probes a size twice. A k-section round shrinks
 * the bracket by a factor k + 1 instead of 2; galloping k doublings ahead
 * reaches the first NO_FIT in about 1/k of the rounds. The price is work
 * spent on probes that turn out pointless, which the caller cancels.
 */
#include "search.h"

#include <assert.h>
#include <string.h>

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Bring a state into the invariants above. Everything here may come from a
 * database row, so it is repaired, not asserted. */
static void normalize(search_state *s)
{
	if (s->n_max < 1)
		s->n_max = 1;
	s->start = clamp64(s->start, 1, s->n_max);
	if (!(s->precision >= 0.0)) /* negative or NaN */
		s->precision = 0.0;
	s->lo = clamp64(s->lo, 0, s->n_max);
	/* A stored hi beyond n_max (n_max lowered since) or not above lo says
	 * nothing usable: treat it as unknown. */
	if (s->hi <= s->lo || s->hi > s->n_max)
		s->hi = 0;
}

void search_init(search_state *s, int64_t start, double precision, int64_t n_max)
{
	search_restore(s, start, precision, n_max, 0, 0);
}

void search_restore(search_state *s, int64_t start, double precision, int64_t n_max, int64_t lo, int64_t hi)
{
	s->lo = lo;
	s->hi = hi;
	s->start = start;
	s->n_max = n_max;
	s->precision = precision;
	normalize(s);
}

void search_record(search_state *s, int64_t n, bool fit)
{
	/* A size outside [1, n_max] was never asked for by this search. */
	if (n < 1 || n > s->n_max)
		return;
	if (fit) {
		if (n > s->lo)
			s->lo = n;
		if (s->hi != 0 && s->hi <= s->lo)
			s->hi = 0;
	} else if (n > s->lo) {
		if (s->hi == 0 || n < s->hi)
			s->hi = n;
	}
}

bool search_full(const search_state *s)
{
	return s->lo == s->n_max;
}

/* The bracket width at which a search with lower end lo stops. */
static double tolerance(const search_state *s, int64_t lo)
{
	double tol = s->precision * (double)lo;

	return tol < 1.0 ? 1.0 : tol;
}

/* True when the interval (a, b) needs no probe inside: if a turned out to
 * be lo and b hi, the search would be done. */
static bool precise(const search_state *s, int64_t a, int64_t b)
{
	return (double)(b - a) <= tolerance(s, a);
}

bool search_done(const search_state *s)
{
	if (search_full(s))
		return true;
	if (s->hi == 0)
		return false;
	return precise(s, s->lo, s->hi); /* also covers hi == 1, lo == 0 */
}

/* Point i of j spread evenly over (a, b): a + floor(i·(b − a)/(j + 1)),
 * so i = 0 is a and i = j + 1 is b. Split into quotient and remainder so
 * that nothing overflows for any n_max. Points are strictly increasing
 * while j < b − a. */
static int64_t spread(int64_t a, int64_t b, int64_t i, int64_t j)
{
	int64_t len = b - a, q = len / (j + 1), r = len % (j + 1);

	return a + i * q + i * r / (j + 1);
}

/* True when j points spread over (a, b) leave only parts that meet the
 * precision, so a further point there would be useless. */
static bool saturated(const search_state *s, int64_t a, int64_t b, int64_t j)
{
	if (j >= b - a - 1)
		return true; /* every integer inside is taken */
	for (int64_t i = 0; i <= j; i++)
		if (!precise(s, spread(a, b, i, j), spread(a, b, i + 1, j)))
			return false;
	return true;
}

/* True when len_a / ca > len_b / cb, exactly, for ca, cb >= 1. */
static bool longer(int64_t len_a, int64_t ca, int64_t len_b, int64_t cb)
{
	int64_t qa = len_a / ca, qb = len_b / cb;

	if (qa != qb)
		return qa > qb;
	return (len_a % ca) * cb > (len_b % cb) * ca;
}

static int next_gallop(const search_state *s, const int64_t *inflight, int k, int max_new, int64_t *ret_ns)
{
	int64_t base = s->lo;
	int got = 0;

	for (int i = 0; i < k; i++)
		if (inflight[i] > base && inflight[i] <= s->n_max)
			base = inflight[i];
	while (got < max_new && base < s->n_max) {
		if (base == 0)
			base = s->start;
		else
			base = base > s->n_max / 2 ? s->n_max : 2 * base;
		ret_ns[got++] = base;
	}
	return got;
}

static int next_bisect(const search_state *s, const int64_t *inflight, int k, int max_new, int64_t *ret_ns)
{
	/* cut[0] = lo < cut[1] < … < cut[ncut - 1] = hi: the bracket and the
	 * distinct in-flight sizes inside it; interval i is (cut[i], cut[i+1]),
	 * with pts[i] new points and full[i] = saturated(…, pts[i]). */
	int64_t cut[SEARCH_INFLIGHT_MAX + 2];
	int64_t pts[SEARCH_INFLIGHT_MAX + 1];
	bool full[SEARCH_INFLIGHT_MAX + 1];
	int ncut = 1, got = 0;

	cut[0] = s->lo;
	for (int i = 0; i < k; i++) {
		int64_t v = inflight[i];
		int j = ncut;

		if (v <= s->lo || v >= s->hi)
			continue;
		while (cut[j - 1] > v) /* insertion sort; cut[0] = lo < v */
			j--;
		if (cut[j - 1] == v)
			continue; /* the same size twice: no interval between */
		memmove(&cut[j + 1], &cut[j], (size_t)(ncut - j) * sizeof cut[0]);
		cut[j] = v;
		ncut++;
	}
	cut[ncut++] = s->hi;

	for (int i = 0; i + 1 < ncut; i++) {
		pts[i] = 0;
		full[i] = saturated(s, cut[i], cut[i + 1], 0);
	}
	for (; got < max_new; got++) {
		int best = -1;

		for (int i = 0; i + 1 < ncut; i++) {
			if (full[i])
				continue;
			if (best < 0 || longer(cut[i + 1] - cut[i], pts[i] + 1, cut[best + 1] - cut[best], pts[best] + 1))
				best = i; /* ties: the lowest interval */
		}
		if (best < 0)
			break;
		pts[best]++;
		full[best] = saturated(s, cut[best], cut[best + 1], pts[best]);
	}

	got = 0;
	for (int i = 0; i + 1 < ncut; i++)
		for (int64_t p = 1; p <= pts[i]; p++)
			ret_ns[got++] = spread(cut[i], cut[i + 1], p, pts[i]);
	return got;
}

int search_next_many(const search_state *s, const int64_t *inflight, int k, int max_new, int64_t *ret_ns)
{
	assert(k >= 0 && (k == 0 || inflight));
	if (max_new <= 0 || k > SEARCH_INFLIGHT_MAX || search_done(s))
		return 0;
	if (max_new > SEARCH_INFLIGHT_MAX)
		max_new = SEARCH_INFLIGHT_MAX;
	if (s->hi == 0)
		return next_gallop(s, inflight, k, max_new, ret_ns);
	return next_bisect(s, inflight, k, max_new, ret_ns);
}

/* With nothing in flight this is the sequential search: start, then 2·lo
 * capped at n_max while galloping, the midpoint lo + (hi − lo)/2 while
 * bisecting — search_next_many with one point gives exactly that. */
int search_next(const search_state *s, const int64_t *inflight, int k, int64_t *ret_n)
{
	return search_next_many(s, inflight, k, 1, ret_n);
}

bool search_pointless(const search_state *s, int64_t n)
{
	return n <= s->lo || (s->hi != 0 && n >= s->hi) || search_done(s);
}
