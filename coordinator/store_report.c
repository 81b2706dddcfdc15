/* store_report.c — the queries behind emcctl's status, results and trials.
 *
 * Part of the store (its SQL lives with store.c's), read-only, and run a
 * few times per emcctl command, so each statement is prepared for the call
 * and finalized after it rather than kept. Each function reads inside one
 * savepoint: outside a transaction that begins a deferred one, so every
 * row comes from the same snapshot while the coordinator keeps writing;
 * inside one (a test holding a batch open) it nests harmlessly.
 *
 * The values a report prints are computed here, in SQL, once: a cell's
 * finished trials and their time, whether the no-fit at hi stopped on its
 * budget (unconverged), the certificate of the fit at lo. Rows go to the
 * caller as C values; NULL columns become NULL strings, NAN doubles or
 * false has_ flags. How they look is report.c's business.
 */
#include "store_report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "store_priv.h"
#include "wire.h"

#define COL_TEXT(st, i) ((const char *)sqlite3_column_text((st), (i)))

static double col_double(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static int snapshot_begin(store *s, emc_err *err)
{
	if (sqlite3_exec(store_sqlite(s), "SAVEPOINT report", NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(s, "begin report", err);
	return 0;
}

static void snapshot_end(store *s)
{
	sqlite3_exec(store_sqlite(s), "RELEASE report", NULL, NULL, NULL);
}

int store_report_snapshot_begin(store *s, emc_err *err)
{
	return snapshot_begin(s, err);
}

void store_report_snapshot_end(store *s)
{
	snapshot_end(s);
}

/* The size of a stored pool: NULL (a version-1 cell) is its one seed. */
#define SQL_POOL_SIZE(col) "coalesce(length(" col ") / 8, 1)"

static int bad_value(sqlite3_stmt *st, int i, const char *table, const char *what, emc_err *err)
{
	const char *v = COL_TEXT(st, i);

	return emc_err_set(err, -EIO, "store: %s: unknown %s '%s'", table, what, v ? v : "(null)");
}

/* A cell's configuration from its stored blob: what every view shows of
 * the axes a campaign varies. A blob this program cannot read is -EIO,
 * naming the cell. */
static int cfg_read(sqlite3_stmt *st, int i, const char *campaign, int cell, emc_cell_cfg *ret, emc_err *err)
{
	const void *blob = sqlite3_column_blob(st, i);
	emc_err why = {""};

	if (wire_cell_unpack(blob ? blob : "", (size_t)sqlite3_column_bytes(st, i), ret, &why) < 0)
		return emc_err_set(err, -EIO, "store: campaign %s, cell %d: stored config: %s",
				   campaign ? campaign : "?", cell, why.msg);
	return 0;
}

/* 0 if a campaign of that name exists, -ENOENT if not, -errno on error. */
static int campaign_exists(store *s, const char *name, emc_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	r = store_prepare(s, "prepare report", "SELECT 1 FROM campaigns WHERE name = ?1", &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	r = rc == SQLITE_ROW ? 0
	    : rc == SQLITE_DONE ? emc_err_set(err, -ENOENT, "store: no campaign named '%s'", name)
				: store_fail(s, "find campaign", err);
	sqlite3_finalize(st);
	return r;
}

/* ---- status ----------------------------------------------------------------- */

#define SQL_CAMPAIGN_TRIALS(cond)                                                                                      \
	" (SELECT count(*) FROM trials t JOIN cells ce ON ce.id = t.cell_id WHERE ce.campaign_id = c.id AND " cond ")" \
														   ","
#define SQL_CAMPAIGN_CELLS_SUM(col) " (SELECT coalesce(sum(ce." col "), 0) FROM cells ce WHERE ce.campaign_id = c.id),"

static const char status_campaigns_sql[] =
    "SELECT c.id, c.name, c.state,"
    " (SELECT count(*) FROM cells ce WHERE ce.campaign_id = c.id),"
    " (SELECT count(*) FROM cells ce WHERE ce.campaign_id = c.id AND ce.state IN " SQL_CELL_DECIDED
    ")," SQL_CAMPAIGN_TRIALS("t.state IN " SQL_TRIAL_TERMINAL)
	SQL_CAMPAIGN_TRIALS("t.state = " SQL_STATE(TRIAL, RUNNING)) SQL_CAMPAIGN_TRIALS("t.state = " SQL_STATE(
	    TRIAL,
	    PENDING)) " c.engine_blas_core, c.engine_blas_threads," SQL_CAMPAIGN_TRIALS("t.state = " SQL_STATE(TRIAL,
													       FIT))
	    SQL_CAMPAIGN_TRIALS("t.state = " SQL_STATE(TRIAL, NO_FIT)) SQL_CAMPAIGN_TRIALS(
		"t.state = " SQL_STATE(TRIAL, FAILED)) SQL_CAMPAIGN_TRIALS("t.state = " SQL_STATE(TRIAL, CANCELLED))
		SQL_CAMPAIGN_CELLS_SUM("sample_grads") SQL_CAMPAIGN_CELLS_SUM(
		    "train_seconds") " (SELECT count(*) FROM (SELECT DISTINCT t.cell_id, t.n FROM trials t JOIN cells "
				     "ce ON ce.id = t.cell_id"
				     "  WHERE ce.campaign_id = c.id AND t.state IN " SQL_TRIAL_TERMINAL ")),"
				     " (SELECT avg(a.finished_at - a.started_at) FROM attempts a JOIN trials t ON t.id "
				     "= a.trial_id"
				     "  JOIN cells ce ON ce.id = t.cell_id WHERE ce.campaign_id = c.id AND a.state "
				     "= " SQL_STATE(
					 ATTEMPT, DONE) "),"
							" (SELECT count(*) FROM attempts a JOIN trials t ON t.id = "
							"a.trial_id JOIN cells ce ON ce.id = t.cell_id"
							"  WHERE ce.campaign_id = c.id AND a.state IN " SQL_ATTEMPT_LOST
							"),"
							" c.search_start, c.search_precision, c.search_max_n, "
							"c.n_total, c.search_min_seeds, c.search_method,"
							" c.created_at, c.finished_at, " SQL_POOL_SIZE(
							    "c.seeds") " FROM campaigns c WHERE ?1 IS NULL OR c.name = "
								       "?1 ORDER BY c.id";

static const char status_cells_sql[] =
    "SELECT ce.idx, ce.model, ce.activation, ce.optimizer, ce.labels, ce.seed, ce.state, ce.lo, ce.hi,"
    " count(CASE WHEN t.state IN " SQL_TRIAL_TERMINAL " THEN 1 END),"
    " count(CASE WHEN t.state = " SQL_STATE(
	TRIAL, RUNNING) " THEN 1 END),"
			" count(CASE WHEN t.state = " SQL_STATE(
			    TRIAL, PENDING) " THEN 1 END),"
					    " " SQL_POOL_SIZE(
						"ce.seeds") ", ce.config"
							    " FROM cells ce LEFT JOIN trials t ON t.cell_id = ce.id"
							    " WHERE ce.campaign_id = ?1 GROUP BY ce.id ORDER BY ce.idx";

static int status_cells(store *s, sqlite3_stmt *st, const store_status_campaign *camp, store_status_cell_fn fn,
			void *ctx, emc_err *err)
{
	int rc, r = 0;

	sqlite3_bind_int64(st, 1, camp->id);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_status_cell c = {
		    .index = sqlite3_column_int(st, 0),
		    .model = COL_TEXT(st, 1),
		    .activation = COL_TEXT(st, 2),
		    .optimizer = COL_TEXT(st, 3),
		    .labels = COL_TEXT(st, 4),
		    .seed = (uint64_t)sqlite3_column_int64(st, 5),
		    .lo = sqlite3_column_int64(st, 7),
		    .hi = sqlite3_column_int64(st, 8),
		    .trials_done = sqlite3_column_int64(st, 9),
		    .trials_running = sqlite3_column_int64(st, 10),
		    .trials_pending = sqlite3_column_int64(st, 11),
		    .n_seeds = sqlite3_column_int(st, 12),
		    .full = sqlite3_column_int(st, 14) != 0,
		    .has_params = sqlite3_column_type(st, 15) != SQLITE_NULL,
		    .params = sqlite3_column_int64(st, 15),
		};

		if (store_cell_state_parse(COL_TEXT(st, 6), &c.state) < 0)
			r = bad_value(st, 6, "cells", "state", err);
		else
			r = cfg_read(st, 13, camp->name, c.index, &c.cfg, err);
		if (r == 0 && fn)
			r = fn(ctx, &c);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_fail(s, "read cells", err);
	sqlite3_reset(st);
	return r;
}

int store_report_status(store *s, const char *campaign, store_status_campaign_fn on_campaign,
			store_status_cell_fn on_cell, void *ctx, emc_err *err)
{
	sqlite3_stmt *camps = NULL, *cells = NULL;
	int rc, r, n = 0;

	r = snapshot_begin(s, err);
	if (r < 0)
		return r;
	r = store_prepare(s, "prepare report", status_campaigns_sql, &camps, err);
	if (r == 0)
		r = store_prepare(s, "prepare report", status_cells_sql, &cells, err);
	if (r < 0)
		goto out;
	if (campaign)
		sqlite3_bind_text(camps, 1, campaign, -1, SQLITE_STATIC);
	while (r == 0 && (rc = sqlite3_step(camps)) == SQLITE_ROW) {
		store_status_campaign c = {
		    .id = sqlite3_column_int64(camps, 0),
		    .name = COL_TEXT(camps, 1),
		    .cells = sqlite3_column_int64(camps, 3),
		    .cells_decided = sqlite3_column_int64(camps, 4),
		    .trials_done = sqlite3_column_int64(camps, 5),
		    .trials_running = sqlite3_column_int64(camps, 6),
		    .trials_pending = sqlite3_column_int64(camps, 7),
		    .engine.blas_threads = sqlite3_column_int(camps, 9),
		    .trials_fit = sqlite3_column_int64(camps, 10),
		    .trials_no_fit = sqlite3_column_int64(camps, 11),
		    .trials_failed = sqlite3_column_int64(camps, 12),
		    .trials_cancelled = sqlite3_column_int64(camps, 13),
		    .sample_grads = sqlite3_column_int64(camps, 14),
		    .train_seconds = sqlite3_column_double(camps, 15),
		    .probes = sqlite3_column_int64(camps, 16),
		    .attempt_ms_mean = col_double(camps, 17),
		    .attempts_lost = sqlite3_column_int64(camps, 18),
		    .search =
			{
			    .start = sqlite3_column_int64(camps, 19),
			    .precision = sqlite3_column_double(camps, 20),
			    .max_n = sqlite3_column_int64(camps, 21),
			    .min_seeds = sqlite3_column_int(camps, 23),
			},
		    .n_total = sqlite3_column_int64(camps, 22),
		    .created_ms = sqlite3_column_int64(camps, 25),
		    .finished_ms = sqlite3_column_int64(camps, 26),
		    .n_seeds = sqlite3_column_int(camps, 27),
		};

		snprintf(c.engine.blas_core, sizeof c.engine.blas_core, "%s", COL_TEXT(camps, 8) ? COL_TEXT(camps, 8) : "");
		if (store_campaign_state_parse(COL_TEXT(camps, 2), &c.state) < 0) {
			r = bad_value(camps, 2, "campaigns", "state", err);
			break;
		}
		if (store_method_parse(COL_TEXT(camps, 24), &c.search.method) < 0) {
			r = bad_value(camps, 24, "campaigns", "method", err);
			break;
		}
		n++;
		r = on_campaign ? on_campaign(ctx, &c) : 0;
		if (r == 0)
			r = status_cells(s, cells, &c, on_cell, ctx, err);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_fail(s, "read campaigns", err);
out:
	sqlite3_finalize(cells);
	sqlite3_finalize(camps);
	snapshot_end(s);
	return r < 0 ? r : n;
}

/* ---- workers ---------------------------------------------------------------------- */

/* What the database knows of each worker: its hello, and its attempts. */
static const char workers_sql[] =
    "SELECT w.id, w.identity, w.host, w.slots, w.first_seen, w.last_seen, w.trials_done,"
    " (SELECT count(*) FROM attempts a WHERE a.worker_id = w.id AND a.state = " SQL_STATE(
	ATTEMPT,
	RUNNING) "),"
		 " (SELECT count(*) FROM attempts a WHERE a.worker_id = w.id AND a.state IN " SQL_ATTEMPT_LOST "),"
		 " (SELECT a.state FROM attempts a WHERE a.worker_id = w.id ORDER BY a.id DESC LIMIT 1),"
		 " (SELECT max(coalesce(a.finished_at, a.started_at)) FROM attempts a WHERE a.worker_id = w.id)"
		 " FROM workers w ORDER BY w.id";

int store_report_workers(store *s, store_workers_fn fn, void *ctx, emc_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, r, n = 0;

	r = snapshot_begin(s, err);
	if (r < 0)
		return r;
	r = store_prepare(s, "prepare report", workers_sql, &st, err);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *last = COL_TEXT(st, 9);
		store_workers_row w = {
		    .id = sqlite3_column_int64(st, 0),
		    .identity = COL_TEXT(st, 1),
		    .host = COL_TEXT(st, 2),
		    .slots = sqlite3_column_int(st, 3),
		    .first_seen_ms = sqlite3_column_int64(st, 4),
		    .last_seen_ms = sqlite3_column_int64(st, 5),
		    .trials_done = sqlite3_column_int64(st, 6),
		    .running = sqlite3_column_int64(st, 7),
		    .lost = sqlite3_column_int64(st, 8),
		    .last_activity_ms = sqlite3_column_int64(st, 10),
		};

		if (last && store_attempt_state_parse(last, &w.last_attempt) < 0) {
			r = bad_value(st, 9, "attempts", "state", err);
			break;
		}
		w.has_attempts = last != NULL;
		n++;
		r = fn(ctx, &w);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_fail(s, "read workers", err);
	sqlite3_finalize(st);
	snapshot_end(s);
	return r < 0 ? r : n;
}

/* ---- results ------------------------------------------------------------------ */

/* ?2 is the stop reason of a budget stop. The measurement's columns were
 * written with the result that decided them; a decided version-1 cell has
 * none (emc_low NULL), and its unconverged flag is read from its trials as
 * version 1 did. The compute is the cell's running sum. */
static const char results_sql[] =
    "SELECT c.name, ce.idx, ce.model, ce.activation, ce.optimizer,"
    " coalesce(c.dataset_desc, c.dataset_name, ''), ce.labels, ce.inputs, ce.classes, ce.seed, ce.params,"
    " ce.state, ce.lo, ce.hi, ce.full,"
    " (SELECT count(*) FROM trials t WHERE t.cell_id = ce.id AND t.state IN " SQL_TRIAL_TERMINAL "),"
    " ce.train_seconds,"
    " ce.unconverged OR (ce.emc_low IS NULL AND EXISTS (SELECT 1 FROM trials t WHERE t.cell_id = ce.id"
    "  AND ce.hi > 0 AND t.n = ce.hi AND t.state = " SQL_STATE(
	TRIAL,
	NO_FIT) " AND t.reason = ?2)),"
		" (SELECT t.hessian_min FROM trials t WHERE t.cell_id = ce.id AND t.n = ce.lo"
		"  AND t.state = " SQL_STATE(
		    TRIAL,
		    FIT) " ORDER BY t.seed_index LIMIT 1),"
			 " (SELECT t.hessian_max FROM trials t WHERE t.cell_id = ce.id AND t.n = ce.lo"
			 "  AND t.state = " SQL_STATE(
			     TRIAL,
			     FIT) " ORDER BY t.seed_index LIMIT 1),"
				  " " SQL_POOL_SIZE(
				      "ce.seeds") ", ce.emc_low IS NOT NULL, ce.emc_low, ce.emc_high, ce.seeds_used,"
						  " ce.lo_fits, ce.lo_total, ce.hi_fits, ce.hi_total, ce.hi_plateau, "
						  "ce.hi_gradnorm, ce.hi_budget,"
						  " ce.plateau_decided, ce.nonmonotone, ce.uncertain, "
						  "ce.trials_consumed, ce.sample_grads,"
						  " (SELECT count(DISTINCT t.blas_core) FROM trials t WHERE t.cell_id "
						  "= ce.id), ce.config"
						  " FROM cells ce JOIN campaigns c ON c.id = ce.campaign_id"
						  " WHERE ?1 IS NULL OR c.name = ?1 ORDER BY c.id, ce.idx";

static int results_row_read(sqlite3_stmt *st, store_results_row *r, emc_err *err)
{
	const char *inputs = COL_TEXT(st, 7);

	*r = (store_results_row){
		.campaign = COL_TEXT(st, 0),
		.cell = sqlite3_column_int(st, 1),
		.model = COL_TEXT(st, 2),
		.activation = COL_TEXT(st, 3),
		.optimizer = COL_TEXT(st, 4),
		.dataset = COL_TEXT(st, 5),
		.labels = COL_TEXT(st, 6),
		.inputs = inputs ? inputs : emc_inputs_name(EMC_INPUTS_TRUE),
		.classes = sqlite3_column_int64(st, 8),
		.seed = (uint64_t)sqlite3_column_int64(st, 9),
		.has_params = sqlite3_column_type(st, 10) != SQLITE_NULL,
		.params = sqlite3_column_int64(st, 10),
		.lo = sqlite3_column_int64(st, 12),
		.hi = sqlite3_column_int64(st, 13),
		.full = sqlite3_column_int(st, 14) != 0,
		.trials = sqlite3_column_int64(st, 15),
		.train_seconds = sqlite3_column_double(st, 16),
		.unconverged = sqlite3_column_int(st, 17) != 0,
		.lambda_min = col_double(st, 18),
		.lambda_max = col_double(st, 19),
		.n_seeds = sqlite3_column_int(st, 20),
		.has_interval = sqlite3_column_int(st, 21) != 0,
		.emc_low = sqlite3_column_int64(st, 22),
		.emc_high = sqlite3_column_int64(st, 23),
		.seeds_used = sqlite3_column_int(st, 24),
		.lo_fits = sqlite3_column_int(st, 25),
		.lo_total = sqlite3_column_int(st, 26),
		.hi_fits = sqlite3_column_int(st, 27),
		.hi_total = sqlite3_column_int(st, 28),
		.hi_plateau = sqlite3_column_int(st, 29),
		.hi_gradnorm = sqlite3_column_int(st, 30),
		.hi_budget = sqlite3_column_int(st, 31),
		.plateau_decided = sqlite3_column_int(st, 32) != 0,
		.nonmonotone = sqlite3_column_int(st, 33),
		.uncertain = sqlite3_column_int(st, 34),
		.trials_consumed = sqlite3_column_int(st, 35),
		.sample_grads = sqlite3_column_int64(st, 36),
		.blas_cores = sqlite3_column_int(st, 37),
	};
	if (store_cell_state_parse(COL_TEXT(st, 11), &r->state) < 0)
		return bad_value(st, 11, "cells", "state", err);
	return cfg_read(st, 38, r->campaign, r->cell, &r->cfg, err);
}

int store_report_results(store *s, const char *campaign, store_results_fn fn, void *ctx, emc_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, r, n = 0;

	r = snapshot_begin(s, err);
	if (r < 0)
		return r;
	r = campaign ? campaign_exists(s, campaign, err) : 0;
	if (r == 0)
		r = store_prepare(s, "prepare report", results_sql, &st, err);
	if (r < 0)
		goto out;
	if (campaign)
		sqlite3_bind_text(st, 1, campaign, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, emc_stop_reason_name(EMC_STOP_BUDGET), -1, SQLITE_STATIC);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_results_row row;

		r = results_row_read(st, &row, err);
		if (r == 0) {
			n++;
			r = fn(ctx, &row);
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_fail(s, "read results", err);
out:
	sqlite3_finalize(st);
	snapshot_end(s);
	return r < 0 ? r : n;
}

/* ---- trials ---------------------------------------------------------------------- */

static const char trials_sql[] =
    "SELECT c.name, ce.idx, ce.model, t.n, t.state, t.reason, t.epochs, t.steps, t.train_seconds, t.loss,"
    " t.accuracy, t.budget_used, t.attempts, t.hessian_min, t.hessian_max, t.error,"
    " t.seed_index, t.seed, t.sample_grads, t.host, t.blas_core,"
    " c.search_start, c.search_precision, c.search_max_n, c.n_total, c.search_method, c.search_quantile,"
    " c.search_min_seeds, c.search_confidence, c.search_grid_points, c.search_spec_depth,"
    " c.search_indifference, " SQL_POOL_SIZE(
	"ce.seeds") ", ce.config"
		    " FROM trials t JOIN cells ce ON ce.id = t.cell_id JOIN campaigns c ON c.id = ce.campaign_id"
		    " WHERE c.name = ?1 AND (?2 < 0 OR ce.idx = ?2) ORDER BY ce.idx, t.n, t.seed_index";

static int trials_row_read(sqlite3_stmt *st, store_trials_row *r, emc_err *err)
{
	*r = (store_trials_row){
		.campaign = COL_TEXT(st, 0),
		.cell = sqlite3_column_int(st, 1),
		.model = COL_TEXT(st, 2),
		.n = sqlite3_column_int64(st, 3),
		.reason = EMC_STOP_NONE,
		.has_epochs = sqlite3_column_type(st, 6) != SQLITE_NULL,
		.has_steps = sqlite3_column_type(st, 7) != SQLITE_NULL,
		.epochs = sqlite3_column_int64(st, 6),
		.steps = sqlite3_column_int64(st, 7),
		.train_seconds = col_double(st, 8),
		.loss = col_double(st, 9),
		.accuracy = col_double(st, 10),
		.budget_used = col_double(st, 11),
		.attempts = sqlite3_column_int64(st, 12),
		.hessian_min = col_double(st, 13),
		.hessian_max = col_double(st, 14),
		.error = COL_TEXT(st, 15),
		.seed_index = sqlite3_column_int(st, 16),
		.seed = (uint64_t)sqlite3_column_int64(st, 17),
		.has_sample_grads = sqlite3_column_type(st, 18) != SQLITE_NULL,
		.sample_grads = sqlite3_column_int64(st, 18),
		.host = COL_TEXT(st, 19),
		.blas_core = COL_TEXT(st, 20),
		.search = {
			.start = sqlite3_column_int64(st, 21),
			.precision = sqlite3_column_double(st, 22),
			.max_n = sqlite3_column_int64(st, 23),
			.quantile = sqlite3_column_double(st, 26),
			.min_seeds = sqlite3_column_int(st, 27),
			.confidence = sqlite3_column_double(st, 28),
			.grid_points = sqlite3_column_int(st, 29),
			.spec_depth = sqlite3_column_int(st, 30),
			.indifference = sqlite3_column_double(st, 31),
		},
		.n_total = sqlite3_column_int64(st, 24),
		.n_seeds = sqlite3_column_int(st, 32),
	};
	if (store_method_parse(COL_TEXT(st, 25), &r->search.method) < 0)
		return bad_value(st, 25, "campaigns", "method", err);
	if (store_trial_state_parse(COL_TEXT(st, 4), &r->state) < 0)
		return bad_value(st, 4, "trials", "state", err);
	if (COL_TEXT(st, 5) && emc_stop_reason_parse(COL_TEXT(st, 5), &r->reason) < 0)
		return bad_value(st, 5, "trials", "stop reason", err);
	return cfg_read(st, 33, r->campaign, r->cell, &r->cfg, err);
}

int store_report_trials(store *s, const char *campaign, int cell, store_trials_fn fn, void *ctx, emc_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, r, n = 0;

	r = snapshot_begin(s, err);
	if (r < 0)
		return r;
	r = campaign_exists(s, campaign, err);
	if (r == 0)
		r = store_prepare(s, "prepare report", trials_sql, &st, err);
	if (r < 0)
		goto out;
	sqlite3_bind_text(st, 1, campaign, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, cell);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_trials_row row;

		r = trials_row_read(st, &row, err);
		if (r == 0) {
			n++;
			r = fn(ctx, &row);
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_fail(s, "read trials", err);
out:
	sqlite3_finalize(st);
	snapshot_end(s);
	return r < 0 ? r : n;
}

/* sqlite3_mprintf rather than sqlite3_snprintf: into a fixed buffer SQLite
 * cannot allocate the scratch a wide conversion ("%.2f" of 1e300) needs,
 * and prints nothing at all. */
void store_format_double(char *buf, size_t size, const char *fmt, double v)
{
	char *text;

	if (size == 0)
		return;
	text = sqlite3_mprintf(fmt, v);
	snprintf(buf, size, "%s", text ? text : "");
	sqlite3_free(text);
}

/* ---- trials by state ---------------------------------------------------------- */

int store_report_trial_states(store *s, int64_t ret[STORE_TRIAL_STATE_COUNT], emc_err *err)
{
	int64_t n[STORE_TRIAL_STATE_COUNT] = {0};
	sqlite3_stmt *st = NULL;
	int rc, r;

	r = store_prepare(s, "prepare trial states", "SELECT state, count(*) FROM trials GROUP BY state", &st, err);
	if (r < 0)
		return r;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_trial_state state;

		if (store_trial_state_parse(COL_TEXT(st, 0), &state) < 0)
			r = emc_err_set(err, -EIO, "store: trials: unknown state '%s'",
					COL_TEXT(st, 0) ? COL_TEXT(st, 0) : "NULL");
		else
			n[state] = sqlite3_column_int64(st, 1);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_fail(s, "count trials by state", err);
	sqlite3_finalize(st);
	if (r == 0)
		memcpy(ret, n, sizeof n);
	return r;
}
