/* store_report.h — the read-only queries behind emcctl's reports.
 *
 * Each function reads one snapshot of the database (so its numbers agree
 * with each other while the coordinator keeps writing), works on a store
 * opened read-only, and hands rows to a callback as plain C values; the
 * formats (report.c) only print them. Strings in a row are borrowed: valid
 * until the callback returns. A NULL string, a NAN double or a has_ flag
 * that is false means the database holds nothing there.
 *
 * A callback returns 0 to go on, or -errno to stop: the function then
 * returns that value. A row the program cannot read (an unknown state or
 * stop reason) stops the walk with -EIO and an error naming it.
 */
#ifndef EMC_STORE_REPORT_H
#define EMC_STORE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "err.h"
#include "store.h"

/* ---- status: campaigns and their cells ------------------------------------ */

typedef struct store_status_campaign {
	int64_t id;
	const char *name;
	store_campaign_state state;
	int64_t cells, cells_decided;                        /* cells, and those whose search is over */
	int64_t trials_done, trials_running, trials_pending; /* trials terminal, running, pending */
	int64_t trials_fit, trials_no_fit, trials_failed, trials_cancelled; /* the terminal ones by state */
	emc_engine_cfg engine;                               /* its pin; all zero: any worker */
	int64_t sample_grads;				     /* compute spent: every recorded trial's */
	double train_seconds;
	int64_t probes;			 /* distinct (cell, n) with a terminal trial */
	double attempt_ms_mean;		 /* wall time of a done attempt; NAN: none yet */
	int64_t attempts_lost;		 /* lost or preempted */
	emc_search_cfg search;		 /* start, precision, max_n, min_seeds, method */
	int64_t n_total;		 /* the dataset's size */
	int n_seeds;			 /* the pool's size */
	int64_t created_ms, finished_ms; /* unix ms; 0: not finished */
} store_status_campaign;

typedef struct store_status_cell {
	int index;
	const char *model, *activation, *optimizer, *labels;
	uint64_t seed;                                       /* the first of its pool */
	int n_seeds;                                         /* its pool's size */
	store_cell_state state;
	int64_t lo, hi;                                      /* hi = 0: no no-fit yet */
	int64_t trials_done, trials_running, trials_pending; /* as for the campaign */
	emc_cell_cfg cfg;				     /* its whole configuration (seed: the first) */
	bool full;					     /* the whole range fit */
	bool has_params;
	int64_t params;
} store_status_cell;

typedef int (*store_status_campaign_fn)(void *ctx, const store_status_campaign *c);
typedef int (*store_status_cell_fn)(void *ctx, const store_status_cell *c);

/* Every campaign (or only the one named, when campaign != NULL) in order
 * of creation, each followed by its cells in grid order. Returns the
 * number of campaigns visited, or -errno. */
int store_report_status(store *s, const char *campaign, store_status_campaign_fn on_campaign,
			store_status_cell_fn on_cell, void *ctx, emc_err *err);

/* ---- workers: what the database knows of each ----------------------------------- */

typedef struct store_workers_row {
	int64_t id;
	const char *identity, *host;
	int slots;
	int64_t first_seen_ms, last_seen_ms; /* its first and latest hello (unix ms) */
	int64_t trials_done;
	int64_t running, lost; /* attempts it holds, attempts of it lost or preempted */
	bool has_attempts;
	store_attempt_state last_attempt; /* the state of its latest attempt */
	int64_t last_activity_ms;	  /* its latest attempt's start or end */
} store_workers_row;

typedef int (*store_workers_fn)(void *ctx, const store_workers_row *w);

/* Every worker that ever said hello, in order of first hello. Returns the
 * count or -errno. */
int store_report_workers(store *s, store_workers_fn fn, void *ctx, emc_err *err);

/* ---- results: one row per cell ---------------------------------------------- */

typedef struct store_results_row {
	const char *campaign;
	int cell;
	const char *model, *activation, *optimizer, *labels;
	const char *dataset; /* its description, else its name; "" when neither */
	const char *inputs;  /* the inputs variant ("true" for files without the column) */
	int64_t classes;
	uint64_t seed;       /* the first of its pool; SQLite integers are signed: stored as its bit pattern */
	int n_seeds;         /* the pool's size */
	bool has_params;
	int64_t params;
	store_cell_state state;
	int64_t lo, hi;      /* lo is EMC_q's estimate; hi = 0: no size decided not to fit yet */
	bool full;           /* the whole allowed range fit: EMC is ">= lo" */
	bool has_interval;   /* a measured cell (a decided version-1 cell has none) */
	int64_t emc_low, emc_high; /* the interval of EMC_q */
	int seeds_used;      /* distinct seeds the decisions consumed */
	int lo_fits, lo_total, hi_fits, hi_total; /* p̂ at lo and at hi, as counts */
	int hi_plateau, hi_gradnorm, hi_budget;   /* the deciding no-fits at hi, by stop reason */
	bool unconverged;    /* a deciding no-fit at hi stopped on its budget */
	bool plateau_decided; /* a deciding no-fit at hi stopped on a loss plateau */
	int nonmonotone;     /* consumed fits above a decided no-fit */
	int uncertain;       /* decisions made by the pool's majority */
	int trials_consumed; /* outcomes the decisions consumed */
	int64_t trials;      /* terminal trials, on the path or not */
	int64_t sample_grads; /* the cell's compute: every recorded trial's */
	double train_seconds; /* their training time; 0 when none */
	int blas_cores;      /* distinct OpenBLAS kernels its trials ran on (> 1: a warning) */
	double lambda_min, lambda_max; /* the certificate of a fit at n = lo (the first seed's) */
	emc_cell_cfg cfg;	       /* the cell's whole configuration (seed: the first of its pool) */
} store_results_row;

typedef int (*store_results_fn)(void *ctx, const store_results_row *r);

/* Every cell of every campaign (or of the one named) in order of campaign
 * and cell. Returns the number of rows, or -ENOENT if a named campaign does
 * not exist, or -errno. */
int store_report_results(store *s, const char *campaign, store_results_fn fn, void *ctx, emc_err *err);

/* ---- trials: every probe of a campaign ---------------------------------------- */

typedef struct store_trials_row {
	const char *campaign;
	int cell;
	const char *model;
	int64_t n;
	int seed_index;         /* its replicate: seed index in the cell's pool */
	uint64_t seed;          /* and that seed's value */
	/* What measures the trial's cell (campaign_measure_config), so that a
	 * report can recompute the decided path from the outcomes. */
	emc_search_cfg search;
	int64_t n_total;
	int n_seeds;
	store_trial_state state;
	emc_stop_reason reason; /* EMC_STOP_NONE when none is recorded */
	bool has_epochs, has_steps;
	int64_t epochs, steps;
	double train_seconds, loss, accuracy, budget_used;
	int64_t attempts;
	double hessian_min, hessian_max;
	const char *error;
	bool has_sample_grads;
	int64_t sample_grads;
	const char *host, *blas_core; /* provenance; NULL when not recorded */
	emc_cell_cfg cfg;	      /* its cell's configuration (seed: the cell's first) */
} store_trials_row;

typedef int (*store_trials_fn)(void *ctx, const store_trials_row *r);

/* Every trial of `campaign` (of its cell `cell` only, when cell >= 0) in
 * order of cell, n and seed index. Returns the number of rows, -ENOENT if
 * there is no such campaign, or -errno. */
int store_report_trials(store *s, const char *campaign, int cell, store_trials_fn fn, void *ctx, emc_err *err);

/* Several reports from one snapshot: between begin and end every
 * store_report_* call reads the same state of the database. */
int store_report_snapshot_begin(store *s, emc_err *err);
void store_report_snapshot_end(store *s);

/* ---- trials by state: the coordinator's metrics ------------------------------- */

/* Trials of every campaign by state: ret[state] for each store_trial_state
 * (zero for a state no trial has). An unknown state in the database is
 * -EIO. Run about once a second by the coordinator, so prepared per call. */
int store_report_trial_states(store *s, int64_t ret[STORE_TRIAL_STATE_COUNT], emc_err *err);

/* ---- numbers as the database prints them -------------------------------------- */

/* Format one double with a printf conversion (fmt, e.g. "%.2f") by SQLite's
 * printf, the one behind the database's own printf() and json_object():
 * it rounds in decimal (0.125 with "%.2f" is 0.13, where the C library
 * gives 0.12), and "%!0.15g" is how json_object() writes a REAL. So a
 * report prints a number exactly as a query of the database would. */
void store_format_double(char *buf, size_t size, const char *fmt, double v);

#endif
