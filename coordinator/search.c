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
 */
#include "search.h"

#include <math.h>

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

bool search_done(const search_state *s)
{
	double tol;

	if (search_full(s))
		return true;
	if (s->hi == 0)
		return false;
	tol = s->precision * (double)s->lo;
	if (tol < 1.0)
		tol = 1.0;
	return (double)(s->hi - s->lo) <= tol; /* also covers hi == 1, lo == 0 */
}

/* With k > 0 probes in flight the search waits for them: one probe per cell
 * at a time keeps every probe inside the current bracket. Splitting the
 * bracket into k + 1 parts for k idle workers (k-section) comes later; the
 * signature already carries the in-flight sizes it will need. */
int search_next(const search_state *s, const int64_t *inflight, int k, int64_t *ret_n)
{
	int64_t n;

	(void)inflight;
	if (k > 0 || search_done(s))
		return 0;
	if (s->hi == 0) {
		if (s->lo == 0)
			n = s->start;
		else
			n = s->lo > s->n_max / 2 ? s->n_max : 2 * s->lo;
	} else {
		n = s->lo + (s->hi - s->lo) / 2;
	}
	*ret_n = n;
	return 1;
}

bool search_pointless(const search_state *s, int64_t n)
{
	return n <= s->lo || (s->hi != 0 && n >= s->hi) || search_done(s);
}
