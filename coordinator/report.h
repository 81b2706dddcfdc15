/* report.h — emcctl's read-only views of a campaign database.
 *
 * These work from the database file alone, while the coordinator runs or
 * is down. Nothing here writes.
 */
#ifndef EMC_REPORT_H
#define EMC_REPORT_H

#include <stdio.h>

#include "err.h"
#include "store.h"
#include "wire.h"

typedef enum report_format { REPORT_TABLE = 0, REPORT_CSV, REPORT_JSON } report_format;

int report_format_parse(const char *s, report_format *ret);

/* One row per cell: campaign, cell, model, activation, optimizer, dataset,
 * labels, seed, params, emc, lo, hi, trials, train_seconds, and whether a
 * budget stop decided the EMC (unconverged). An EMC of a cell that fit the
 * whole dataset prints as ">=N". campaign may be NULL for all campaigns. */
int report_results(store *s, const char *campaign, report_format fmt, FILE *out, emc_err *err);

/* Every trial of `campaign` (of one cell when cell >= 0): n, state, stop
 * reason, epochs, steps, seconds, loss, accuracy, budget used, attempts,
 * the Hessian certificate and any error. */
int report_trials(store *s, const char *campaign, int cell, report_format fmt, FILE *out, emc_err *err);

/* The n workers a coordinator reported (borrowed): id, host, slots, busy,
 * seconds since the last heartbeat, trials done, OpenBLAS kernel. */
int report_workers(const wire_worker_info *w, size_t n, report_format fmt, FILE *out, emc_err *err);

#endif
