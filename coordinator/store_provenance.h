/* store_provenance.h — where a campaign's numbers came from, for the HTML
 * report: its spec as submitted, its dataset and hash, when it was
 * created and finished, and the programs, hosts and BLAS kernels its
 * trials ran on.
 */
#ifndef EMC_STORE_PROVENANCE_H
#define EMC_STORE_PROVENANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

/* One campaign. Strings are borrowed (valid until the callback returns);
 * NULL when the database holds nothing there. The lists are the distinct
 * values over the campaign's recorded trials, comma-separated, sorted. */
typedef struct store_provenance_row {
	const char *name, *spec_text, *spec_hash;
	const char *dataset;	  /* its description, else its name */
	const char *dataset_hash; /* hex of the content hash */
	bool has_created, has_finished;
	int64_t created_ms, finished_ms; /* wall clock, ms since the epoch */
	const char *emc_versions, *hosts;
	const char *blas;	 /* "KERNEL x THREADS" per distinct pair */
	int64_t trials_recorded; /* trials with an outcome: fit or no fit */
} store_provenance_row;

typedef int (*store_provenance_fn)(void *ctx, const store_provenance_row *r);

/* Every campaign (or the one named) in order of creation, read in one
 * snapshot. Returns the number of rows, -ENOENT for a named campaign that
 * does not exist, or -errno. A callback's negative return stops the walk
 * and is returned. */
int store_report_provenance(store *s, const char *campaign, store_provenance_fn fn, void *ctx, emc_err *err);

#endif
