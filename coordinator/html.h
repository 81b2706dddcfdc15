/* html.h — `emcctl report`: one self-contained HTML file per study.
 *
 * The file holds the campaign's spec as submitted, the summary table (the
 * numbers of `emcctl summary`), the EMC figure, the per-cell fit curves,
 * the convergence flags explained, the compute spent and the provenance
 * (emc versions, hosts, BLAS kernels and threads, dataset and its hash,
 * created and finished times). It needs nothing beside it: CSS inline,
 * figures as data: URIs. Elements a reader or a test can find by id:
 * summary (the table, a row per cell), figure-emc, fits, flags, compute,
 * spec, provenance.
 */
#ifndef EMC_HTML_H
#define EMC_HTML_H

#include <stdio.h>

#include "err.h"
#include "store.h"

/* The report of `campaign` (NULL: every campaign) grouped by `by` (as
 * summary_build) to out. Errors as summary_build's, -EIO for a figure
 * Cairo could not draw. */
int html_report_write(store *s, const char *campaign, const char *by, FILE *out, emc_err *err);

#endif
