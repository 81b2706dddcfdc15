/* store.h — all of emc's SQL: the campaign database.
 *
 * The coordinator is the only writer; emcctl opens the same file read-only
 * for status and results, even while the coordinator runs or is down. The
 * file is in WAL mode so readers never block the writer. Every change is
 * one transaction; statements are prepared once at open. The schema is
 * versioned with PRAGMA user_version (see docs/architecture.md).
 *
 * Tables: campaigns, cells, trials (one per cell and n: UNIQUE), attempts
 * (one lease of a trial to a worker), workers.
 *
 * Trial states: pending, running, fit, no_fit, failed, cancelled.
 * Attempt states: running, done, lost, preempted, failed, cancelled.
 * Cell states: searching, done, failed.
 * Campaign states: running, done, paused, cancelled.
 */
#ifndef EMC_STORE_H
#define EMC_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "cell.h"
#include "err.h"
#include "spec.h"

#define STORE_SCHEMA_VERSION 1

typedef struct store store;

/* Open (creating and migrating if needed, unless readonly) the database. */
int store_open(const char *path, bool readonly, store **ret, emc_err *err);
/* NULL-safe; sets *p = NULL. */
void store_close(store **p);

/* What the coordinator knows of a campaign's dataset when it inserts it. */
typedef struct store_dataset_info {
	int64_t n_total;       /* samples in the dataset */
	emc_input_shape shape; /* sample shape and classes */
	char description[256]; /* e.g. "fashion-mnist/train" for tables */
	uint8_t hash[32];      /* BLAKE2b-256 of the decoded data (emc_dataset.hash) */
} store_dataset_info;

/* Group commit: between store_batch_begin() and store_batch_end(), every
 * write function runs as a savepoint of one transaction, committed (and
 * made durable) once by store_batch_end(). A write that fails inside the
 * batch is rolled back alone; the others stand. If store_batch_end() fails,
 * nothing of the batch was written. */
int store_batch_begin(store *s, emc_err *err);
int store_batch_end(store *s, emc_err *err);

/* Find a campaign by name. Returns 1 and fills ret_id (and ret_spec_hash,
 * 65 bytes, if non-NULL) when found, 0 when not, -errno on error. */
int store_campaign_find(store *s, const char *name, int64_t *ret_id, char *ret_spec_hash, emc_err *err);

/* Insert a campaign and all its cells in one transaction (state running,
 * every cell searching with lo = hi = 0). spec_hash identifies the spec
 * text (hex). params of each cell are computed from ds->shape. */
int store_campaign_insert(store *s, const emc_campaign_spec *spec, const char *spec_text,
			  const char *spec_hash, const store_dataset_info *ds, int64_t *ret_id, emc_err *err);

/* A campaign as the coordinator needs it at start-up. */
typedef struct store_campaign_row {
	int64_t id;
	char name[EMC_NAME_MAX];
	char state[16];
	emc_dataset_ref dataset;
	emc_search_cfg search;
	int64_t n_total;
	emc_input_shape shape;
	uint8_t dataset_hash[32]; /* all zero when unknown */
} store_campaign_row;

typedef struct store_cell_row {
	int64_t id, campaign_id;
	int index;        /* position in the campaign's grid */
	emc_cell_cfg cfg;
	char state[16];
	int64_t lo, hi;
} store_cell_row;

typedef struct store_trial_row {
	int64_t id, cell_id, n;
	char state[16];
	int64_t attempt_id;  /* its running attempt, when state is running */
	int attempts_lost;   /* attempts that ended lost or preempted */
	int attempts_failed; /* attempts that ended failed */
} store_trial_row;

/* Call the callbacks for every campaign in state running or paused, every
 * cell of those, and every trial of those cells in state pending or running
 * (in that order: campaigns, then cells, then trials). A callback returning
 * nonzero stops the walk and that value is returned. */
typedef int (*store_campaign_fn)(void *ctx, const store_campaign_row *c);
typedef int (*store_cell_fn)(void *ctx, const store_cell_row *c);
typedef int (*store_trial_fn)(void *ctx, const store_trial_row *t);
int store_load_active(store *s, store_campaign_fn on_campaign, store_cell_fn on_cell, store_trial_fn on_trial,
		      void *ctx, emc_err *err);

/* At coordinator start: every attempt still running is marked lost and its
 * trial is pending again. Returns the number of trials requeued. */
int store_recover_running(store *s, emc_err *err);

/* New pending trial of a cell at size n. If the cell already has a trial at
 * n, returns its id instead (never two trials per (cell, n)). */
int store_trial_insert(store *s, int64_t cell_id, int64_t n, int64_t *ret_trial_id, emc_err *err);

/* Lease a pending trial to a worker: new attempt (number = previous + 1),
 * trial running. Returns -EALREADY if the trial is not pending. */
int store_attempt_start(store *s, int64_t trial_id, int64_t worker_id, int64_t lease_ms, int64_t *ret_attempt_id,
			emc_err *err);

/* The result of an attempt as recorded. */
typedef struct store_result {
	emc_outcome outcome;
	emc_stop_reason reason;
	int64_t epochs, steps;
	double train_seconds, loss, accuracy, grad_norm, budget_used;
	char error[256]; /* FAILED: the worker's message */
	bool has_hessian; /* the minimum-or-saddle certificate was computed */
	double hessian_min, hessian_max;
} store_result;

/* The cell's search state after the result, written in the same transaction. */
typedef struct store_cell_update {
	int64_t lo, hi;
	bool done;
	bool full; /* the whole dataset fit: EMC is ">= n_total" */
} store_cell_update;

/* Record a result in one transaction: the trial gets its terminal state, the
 * attempt is done, the cell gets `cell` (if non-NULL). Fencing: if the trial
 * is already terminal, or the attempt is not that trial's running attempt,
 * nothing is written and -EALREADY is returned. */
int store_trial_finish(store *s, int64_t trial_id, int64_t attempt_id, const store_result *r,
		       const store_cell_update *cell, emc_err *err);

/* The attempt ended without a result that counts: its lease ran out or its
 * worker vanished ("lost"), its worker drained ("preempted"), it failed and
 * may be retried ("failed"), or it was cancelled ("cancelled"). The trial is
 * pending again (if it was running this attempt). -EALREADY if the attempt
 * is not running. */
int store_attempt_end(store *s, int64_t attempt_id, const char *state, emc_err *err);
/* store_attempt_end(s, attempt_id, "lost", err). */
int store_attempt_lost(store *s, int64_t attempt_id, emc_err *err);

/* A pending trial is no longer needed (its probe became pointless): state
 * cancelled. -EALREADY if it is not pending. */
int store_trial_cancel(store *s, int64_t trial_id, emc_err *err);

/* Give up on a trial (its retry budget is spent): trial failed with error,
 * any running attempt failed, and the cell (if cell != NULL) gets `cell`
 * and state failed — one transaction. -EALREADY if the trial is terminal. */
int store_trial_fail(store *s, int64_t trial_id, const char *error, int64_t cell_id, const store_cell_update *cell,
		     emc_err *err);

/* Set a cell's state without a trial (e.g. failed). */
int store_cell_set(store *s, int64_t cell_id, const store_cell_update *cell, const char *state, emc_err *err);

/* Campaign state: "running", "done", "paused", "cancelled". */
int store_campaign_set_state(store *s, int64_t campaign_id, const char *state, emc_err *err);

/* Register (or refresh) a worker by its identity string. */
int store_worker_upsert(store *s, const char *identity, const char *host, int slots, int64_t *ret_worker_id,
			emc_err *err);
int store_worker_seen(store *s, int64_t worker_id, emc_err *err);

/* Counts for progress display: trials by state across running campaigns. */
typedef struct store_counts {
	int64_t cells, cells_done;
	int64_t trials_pending, trials_running, trials_done;
} store_counts;
int store_counts_get(store *s, int64_t campaign_id /* 0 = all */, store_counts *ret, emc_err *err);

/* The underlying handle, for report.c's read-only queries. */
struct sqlite3 *store_db(store *s);

#endif
