/* status.h — `emcctl status`: where every campaign stands, how far it has
 * to go, and who is working on it.
 *
 * Read from one snapshot of the database (so it works while the
 * coordinator runs and after it stopped); with a running coordinator's
 * worker list (`--coordinator`), the workers are the live ones.
 */
#ifndef EMC_STATUS_H
#define EMC_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "report.h"
#include "spec.h"
#include "store.h"
#include "wire.h"

typedef struct status_opts {
	report_format fmt;
	int64_t now_ms;		      /* the clock the ages are read against (unix ms) */
	bool have_live;		      /* the workers are a running coordinator's list, not the database's */
	const wire_worker_info *live; /* (n_live) that list */
	size_t n_live;
	const char *endpoint; /* where `live` came from, for the header */
	int *ret_active;      /* non-NULL: set to the campaigns shown that are running or paused */
} status_opts;

/* The remaining work of one campaign, as status estimates it. */
typedef struct status_eta {
	int64_t probes_left; /* decisions the searching cells still need, at least */
	double trials_per_probe;
	int64_t trials_left;
	double trial_seconds; /* measured wall time of a done attempt; NAN: none yet */
	int64_t parallel;     /* trials running now (at least 1) */
	double seconds;	      /* NAN: nothing measured yet; 0: nothing left */
} status_eta;

/* Decisions a bisect walk from bracket [lo, hi) still needs before hi − lo
 * <= max(1, precision·lo), counting a doubling first when hi is unknown
 * (hi = 0) and assuming it decides no-fit; 0 once lo reaches n_max. */
int64_t status_probes_left(int64_t lo, int64_t hi, int64_t start, int64_t n_max, double precision);

/* The bracket drawn against the search range [1, n_max] on a log scale,
 * `width` characters: '-' outside the bracket, '=' inside it (up to n_max
 * when hi is unknown), '|' at lo once decided. buf holds width + 1. */
void status_bracket_bar(int64_t lo, int64_t hi, int64_t n_max, bool decided, int width, char *buf);

int report_status(store *s, const char *campaign, const status_opts *o, FILE *out, emc_err *err);

#endif
