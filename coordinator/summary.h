/* summary.h — cells grouped into procedures, as `emcctl summary` and
 * `emcctl plot` show them.
 *
 * A group is the cells that share the values of some keys (`--by`): spec
 * keys or report columns ("optimizer.lr", "lr", "optimizer"), or
 * "campaign", "model" (the architecture as the model column spells it) and
 * "dataset". Without keys, a group is a procedure as the study draws it:
 * one campaign's cells that differ only in the architecture, so that each
 * group is one series of EMC against parameters.
 */
#ifndef EMC_SUMMARY_H
#define EMC_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cell.h"
#include "err.h"
#include "report.h"
#include "store.h"

#define SUMMARY_MAX_KEYS 16

typedef struct summary_cell {
	char *campaign, *model;
	int cell;
	bool has_params;
	int64_t params;
	store_cell_state state;
	bool decided; /* done: emc and its interval hold */
	bool full;    /* the whole range fit: emc is a lower bound */
	bool has_interval;
	int64_t emc, emc_low, emc_high;
	bool unconverged; /* a budget stop decided the EMC */
	int hi_budget;	  /* the deciding no-fits at hi that ran out of budget */
	int64_t trials, sample_grads;
	double train_seconds;
	emc_cell_cfg cfg;
} summary_cell;

typedef struct summary_group {
	char *values[SUMMARY_MAX_KEYS]; /* the keys' values, spelled as a spec writes them ("-": not read) */
	summary_cell *cells;		/* in order of params, then campaign and index */
	int n_cells;
	int decided, unconverged; /* cells done, and those a budget stop decided */
	int64_t trials, sample_grads;
	double train_seconds;
} summary_group;

typedef struct summary {
	int n_keys;
	char *keys[SUMMARY_MAX_KEYS]; /* as the user named them, or the spec keys chosen */
	summary_group *groups;	      /* sorted by the keys' values in turn */
	int n_groups;
} summary;

/* Group the cells of `campaign` (NULL: all) by the comma-separated keys in
 * `by` (NULL or "": the procedures). -EINVAL and err naming an unknown key,
 * -ENOENT for no such campaign. */
int summary_build(store *s, const char *campaign, const char *by, summary **ret, emc_err *err);
void summary_destroy(summary **p);

/* EMC per parameter, NAN when there is none. */
double summary_emc_per_param(const summary_cell *c);
/* "key=value, key=value" of a group; "all cells" without keys. */
int summary_group_label(const summary *sm, const summary_group *g, char *buf, size_t len);

int report_summary(store *s, const char *campaign, const char *by, report_format fmt, FILE *out, emc_err *err);

#endif
