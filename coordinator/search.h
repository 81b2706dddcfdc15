/* search.h — one cell's EMC search, as a pure state machine.
 *
 * The search knows nothing of sockets or databases: it is told results and
 * asked which n to try next. State is the bracket
 *
 *   lo = largest n known to fit (0: none yet)
 *   hi = smallest n known not to fit (0: none yet)
 *
 * Galloping: while hi is unknown, try start, 2·start, 4·start, … capped at
 * n_max. Then bisection inside (lo, hi) until hi − lo <= max(1, precision·lo).
 * EMC = lo. If n_max itself fits, the search is done with lo = n_max and
 * the EMC is reported as ">= n_max". If nothing down to n = 1 fits, it is
 * done with lo = 0.
 *
 * The state is (lo, hi) plus constants, so the coordinator rebuilds it after
 * a restart from the cell's stored lo and hi alone.
 *
 * Several probes of one cell may run at once (search_next_many): while
 * galloping, the next doublings are tried speculatively; while bisecting,
 * the bracket is cut into near-equal parts (k-section). Results then arrive
 * out of order, and search_record's rules keep the bracket sound all the
 * same: a FIT at n only raises lo, a NO_FIT at n only lowers hi, whatever
 * order they come in. After each result, search_pointless(n) says which
 * in-flight probes can no longer change the answer, so the caller may
 * cancel them. The in-flight sizes are the caller's to keep; they are not
 * part of the state, and losing them (a restart) only costs their work.
 */
#ifndef EMC_SEARCH_H
#define EMC_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

typedef struct search_state {
	int64_t lo, hi;   /* the bracket; 0 = unknown */
	int64_t start;    /* first n tried, >= 1 */
	int64_t n_max;    /* largest n that may be tried (dataset size or search.max_n) */
	double precision; /* relative bracket width at which the search stops */
} search_state;

/* Start a search (lo = hi = 0). start is clamped to [1, n_max]. */
void search_init(search_state *s, int64_t start, double precision, int64_t n_max);

/* Resume a search from a stored bracket. */
void search_restore(search_state *s, int64_t start, double precision, int64_t n_max, int64_t lo, int64_t hi);

/* Record the outcome of a trial at n. lo never shrinks: a fit at n raises
 * lo to n if larger, and if that reaches or passes hi (training near
 * capacity is not monotone) the contradicted hi is forgotten (hi = 0) and
 * the search gallops on above lo. A no-fit at n > lo lowers hi to n; a
 * no-fit at n <= lo is ignored. Sizes outside [1, n_max] are ignored. See
 * search.c for why. */
void search_record(search_state *s, int64_t n, bool fit);

/* True when the bracket meets the precision, or n_max fits, or n = 1 fails. */
bool search_done(const search_state *s);

/* True when n_max was probed and fit: the EMC is ">= n_max". */
bool search_full(const search_state *s);

/* Most in-flight sizes search_next_many looks at, and most it returns. */
#define SEARCH_INFLIGHT_MAX 256

/* The next n to try, given the k sizes already being trained (inflight;
 * may be NULL when k == 0). Returns 1 and sets *ret_n if there is a useful
 * new probe, 0 if the search must wait for in-flight results or is done.
 * With k == 0 this is the galloping or bisection point of the sequential
 * search; with k > 0 it is search_next_many(s, inflight, k, 1, ret_n). */
int search_next(const search_state *s, const int64_t *inflight, int k, int64_t *ret_n);

/* Up to max_new new probe sizes to start now, given the k sizes in flight
 * (in any order; sizes that are already pointless are ignored). Fills
 * ret_ns (room for max_new) in ascending order and returns how many
 * (0 = wait, or done). Deterministic: the same state and set of in-flight
 * sizes give the same answer.
 *
 * Galloping (hi == 0): the next sizes of the doubling sequence above
 * max(lo, largest in-flight size): start if that is 0, else 2·it, 4·it, …,
 * capped at n_max, and n_max at most once.
 *
 * Bisection (hi != 0): the in-flight sizes inside (lo, hi) cut the bracket
 * into open intervals; the new sizes go where they split those intervals
 * most evenly, so that with m = k + max_new probes an empty bracket is cut
 * into m + 1 near-equal parts (k-section). Never returns a size that is in
 * flight, <= lo or >= hi, nor one inside an interval (a, b) that already
 * meets the precision (b − a <= max(1, precision·a)); so fewer than max_new
 * may come back.
 *
 * With k > SEARCH_INFLIGHT_MAX it returns 0 (wait); max_new is capped at
 * SEARCH_INFLIGHT_MAX. With k == 0 and max_new == 1 the answer is
 * search_next's. */
int search_next_many(const search_state *s, const int64_t *inflight, int k, int max_new, int64_t *ret_ns);

/* True when a probe at n can no longer change the result (n <= lo, or
 * hi != 0 and n >= hi, or the search is done): it may be cancelled. */
bool search_pointless(const search_state *s, int64_t n);

#endif
