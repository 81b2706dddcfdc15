/* store.h — all of emc's SQL: the campaign database.
 *
 * The coordinator is the only writer; emcctl opens the same file read-only
 * for status and results, even while the coordinator runs or is down. The
 * file is in WAL mode so readers never block the writer. Every change is
 * one transaction; statements are prepared once at open. The schema is
 * versioned with PRAGMA user_version (see docs/architecture.md).
 *
 * Tables: campaigns (with the seed pool, the measurement settings and the
 * engine pin),
 * cells (one training procedure each, with its measurement result), trials
 * (one per cell, n and seed index: UNIQUE), attempts (one lease of a trial
 * to a worker), workers. The states of campaigns,
 * cells, trials and attempts are the enums of store_state.h; the
 * read-only queries behind emcctl's reports are in store_report.h.
 */
#ifndef EMC_STORE_H
#define EMC_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "cell.h"
#include "err.h"
#include "result.h"
#include "spec.h"
#include "store_state.h"

#define STORE_SCHEMA_VERSION 5

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
 * 65 bytes, and ret_state, if non-NULL) when found, 0 when not, -errno on
 * error. */
int store_campaign_find(store *s, const char *name, int64_t *ret_id, char *ret_spec_hash,
			store_campaign_state *ret_state, emc_err *err);

/* The spec text a campaign was launched with, as a new NUL-terminated
 * string the caller frees. -ENOENT when there is no such campaign. */
int store_campaign_spec_text(store *s, int64_t campaign_id, char **ret_text, size_t *ret_len, emc_err *err);

/* Insert a campaign and all its cells in one transaction (state running,
 * every cell searching with lo = hi = 0). spec_hash identifies the spec
 * text (hex). params of each cell are computed from ds->shape. Every cell
 * is measured over the spec's seed pool; a spec with no pool
 * (n_seeds == 0) gives each cell the pool [its own seed]. */
int store_campaign_insert(store *s, const emc_campaign_spec *spec, const char *spec_text,
			  const char *spec_hash, const store_dataset_info *ds, int64_t *ret_id, emc_err *err);

/* A campaign as the coordinator needs it at start-up. */
typedef struct store_campaign_row {
	int64_t id;
	char name[EMC_NAME_MAX];
	store_campaign_state state;
	emc_dataset_ref dataset;
	emc_search_cfg search;
	emc_engine_cfg engine; /* the pin; all zero (a file of version 2 or older): none */
	int64_t n_total;
	emc_input_shape shape;
	uint8_t dataset_hash[32]; /* all zero when unknown */
} store_campaign_row;

typedef struct store_cell_row {
	int64_t id, campaign_id;
	int index;        /* position in the campaign's grid */
	emc_cell_cfg cfg;
	store_cell_state state;
	int64_t lo, hi;
	int n_seeds;      /* its pool of replicate seeds: a trial's seed is seeds[seed_index] */
	uint64_t seeds[EMC_SPEC_MAX_SEEDS];
} store_cell_row;

typedef struct store_trial_row {
	int64_t id, cell_id, n;
	int seed_index;
	store_trial_state state;
	int64_t attempt_id;  /* its running attempt, when state is running */
	int64_t worker_id;   /* the worker that attempt was leased to (workers.id) */
	bool progressed;     /* that attempt delivered a checkpoint */
	int attempts_lost;   /* attempts that ended lost or preempted without delivering a checkpoint */
	int attempts_failed; /* attempts that ended failed */
} store_trial_row;

/* Call the callbacks for every campaign in state running or paused, every
 * cell of those, and every trial of those cells in state pending or running
 * (in that order: campaigns, then cells, then trials). A callback returning
 * nonzero stops the walk and that value is returned. A row the program
 * cannot read (an unknown state, a corrupt configuration or dataset
 * reference) stops the walk with -EIO and an error naming it. */
typedef int (*store_campaign_fn)(void *ctx, const store_campaign_row *c);
typedef int (*store_cell_fn)(void *ctx, const store_cell_row *c);
typedef int (*store_trial_fn)(void *ctx, const store_trial_row *t);
int store_load_active(store *s, store_campaign_fn on_campaign, store_cell_fn on_cell, store_trial_fn on_trial,
		      void *ctx, emc_err *err);

/* A terminal trial of an active campaign's cell, for replaying its cell's
 * measurement: the state (fit, no_fit, failed or cancelled) and, for a
 * no_fit, why it stopped (EMC_STOP_NONE when not recorded). */
typedef struct store_outcome_row {
	int64_t trial_id, cell_id, n;
	int seed_index;
	store_trial_state state;
	emc_stop_reason reason;
} store_outcome_row;

typedef int (*store_outcome_fn)(void *ctx, const store_outcome_row *o);
/* Every terminal trial of the cell cell_id (0: of every cell of an active
 * campaign), in id order. A callback returning nonzero stops the walk
 * with that value; an unreadable row stops it with -EIO. */
int store_load_outcomes(store *s, int64_t cell_id, store_outcome_fn fn, void *ctx, emc_err *err);

/* At coordinator start: every attempt still running is marked lost and its
 * trial is pending again. Returns the number of trials requeued. */
int store_recover_running(store *s, emc_err *err);

/* New pending trial of a cell at size n with replicate seed seed_index of
 * its pool (whose value, seed, is recorded with it). Never two trials per
 * (cell, n, seed_index): an existing pending one is returned as it is, a
 * cancelled one is pending again; one that runs or has a result is refused
 * with -EALREADY, so every id returned names a trial that can start — a
 * measurement never asks twice for what it knows or runs. */
int store_trial_insert(store *s, int64_t cell_id, int64_t n, int seed_index, uint64_t seed, int64_t *ret_trial_id,
		       emc_err *err);

/* Lease a pending trial to a worker: new attempt (number = previous + 1),
 * trial running. Returns -EALREADY if the trial is not pending. */
int store_attempt_start(store *s, int64_t trial_id, int64_t worker_id, int64_t lease_ms, int64_t *ret_attempt_id,
			emc_err *err);

/* The cell's measurement after a result (measure_result), written in the
 * same transaction. The cell's state becomes failed with `failed`, else
 * done with `done`, else searching. */
typedef struct store_cell_update {
	int64_t lo, hi;  /* lo is the EMC estimate; hi the smallest size decided not to fit (0: none) */
	bool done;
	bool failed;
	bool full;       /* the whole allowed range fit: EMC is ">= lo" */
	int64_t emc_low, emc_high; /* the interval of EMC_q */
	int seeds_used;
	int lo_fits, lo_total, hi_fits, hi_total;
	int hi_plateau, hi_gradnorm, hi_budget;
	bool unconverged, plateau_decided;
	int nonmonotone, uncertain, trials_consumed;
} store_cell_update;

/* Record a result in one transaction: the trial gets the terminal state of
 * r->outcome (FIT, NO_FIT, FAILED or CANCELLED; any other is -EINVAL) with
 * its measurements, compute and provenance, the attempt is done (cancelled
 * for CANCELLED), the cell's compute grows by the trial's, and the cell
 * gets `cell` (if non-NULL). r->params is not recorded: a cell's parameter
 * count is.
 * Fencing: if the trial is already terminal, or the attempt is not that
 * trial's running attempt, nothing is written and -EALREADY is returned. */
int store_trial_finish(store *s, int64_t trial_id, int64_t attempt_id, const emc_trial_result *r,
		       const store_cell_update *cell, emc_err *err);

/* The attempt ended without a result that counts: its lease ran out or its
 * worker vanished (LOST), its worker drained (PREEMPTED), it failed and may
 * be retried (FAILED), or it was cancelled (CANCELLED); any other state is
 * -EINVAL (store_attempt_state_ended). The trial is pending again (if it
 * was running this attempt). -EALREADY if the attempt is not running. */
int store_attempt_end(store *s, int64_t attempt_id, store_attempt_state state, emc_err *err);
/* store_attempt_end(s, attempt_id, STORE_ATTEMPT_LOST, err). */
int store_attempt_lost(store *s, int64_t attempt_id, emc_err *err);

/* A pending trial is no longer needed (its probe became pointless): state
 * cancelled. -EALREADY if it is not pending. */
int store_trial_cancel(store *s, int64_t trial_id, emc_err *err);

/* Give up on a trial (its retry budget is spent): trial failed with error,
 * any running attempt failed, and the cell (if cell != NULL) gets `cell`
 * (its state as store_cell_update says) — one transaction. -EALREADY if
 * the trial is terminal. */
int store_trial_fail(store *s, int64_t trial_id, const char *error, int64_t cell_id, const store_cell_update *cell,
		     emc_err *err);

/* Set a cell's state without a trial (e.g. failed), and its search state
 * too when cell != NULL (cell->done is then not looked at: state says).
 * -EINVAL for a value outside the enum. */
int store_cell_set(store *s, int64_t cell_id, const store_cell_update *cell, store_cell_state state, emc_err *err);

/* Set a campaign's state; done and cancelled also stamp finished_at.
 * Cancelled also marks every cell still searching cancelled, in the same
 * transaction: the database never shows a cancelled campaign searching. */
int store_campaign_set_state(store *s, int64_t campaign_id, store_campaign_state state, emc_err *err);

/* Reopen a cancelled campaign, in one transaction: its cancelled cells
 * search again, their cancelled trials are pending again (as when a search
 * asks for a cancelled trial anew), and the campaign is running. Decided
 * cells (done, failed) and their trials stay as they are. -EALREADY when
 * the campaign is not cancelled, -ENOENT when there is none. */
int store_campaign_reopen(store *s, int64_t campaign_id, emc_err *err);

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

#endif
