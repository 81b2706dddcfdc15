/* store.c — the campaign database: every line of emc's SQL lives here and
 * in store_report.c (the read-only queries behind emcctl's reports).
 *
 * One process writes (emc-coordinator); any number read (emcctl), while the
 * writer runs or after it died. WAL journaling lets those readers see the
 * last committed state without ever blocking the writer, and
 * synchronous=FULL makes a commit durable before the coordinator tells a
 * worker its result is recorded.
 *
 * Invariants the schema and this file keep together:
 *
 *   - one trial per (cell, n), one attempt number per trial, and at most
 *     one running attempt per trial (a partial unique index);
 *   - a trial is 'running' exactly when it has a running attempt;
 *   - a terminal trial (fit, no_fit, failed, cancelled) is never written
 *     again by a result: store_trial_finish fences on the trial being
 *     running *with that attempt*, so a late, duplicated or lost worker's
 *     result is refused with -EALREADY and changes nothing;
 *   - every write function is one BEGIN IMMEDIATE … COMMIT, rolled back on
 *     any error, so a crash leaves either all of a change or none of it.
 *
 * States are the enums of store_state.h; the names they are stored as, and
 * every set of them the SQL below tests (SQL_TRIAL_TERMINAL, ...), come
 * from its lists through store_priv.h. A state read back that is not in
 * its table is refused as corrupt, never defaulted.
 *
 * Statements are prepared lazily, once, and reset after every use. The
 * workload is small (a few writes per finished trial), so clarity wins
 * over batching. Timestamps are wall-clock unix milliseconds: they are
 * shown to people, never used to time anything out.
 *
 * The schema version is PRAGMA user_version. 0 means an empty file, which
 * the writer initialises and a reader refuses; a version newer than
 * STORE_SCHEMA_VERSION is refused by both, since an old program cannot
 * know what a newer one expects of the data. Migrations from older
 * versions go in migrate().
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_priv.h"
#include "wire.h"

#define BUSY_TIMEOUT_MS 5000

/* Trial and attempt ids are AUTOINCREMENT, never reused: an Assign can
 * leave the coordinator before the commit that records its attempt, and an
 * id handed out by a transaction that then died must not come back as
 * another trial's attempt.
 *
 * schema_v1_sql is the file format of version 1, written out as it was: a
 * new file is created with it and then migrated like any version-1 file,
 * so there is one way to reach the current schema and every test walks it.
 * Its CHECKs list the names of store_state.h, and a test holds the two
 * equal. The dataset_name .. dataset_labels columns are no longer written
 * (the dataset_ref blob holds the whole reference) but stay, so that files
 * written before keep their schema; reports still fall back on
 * dataset_name for those. */
static const char schema_v1_sql[] =
	"CREATE TABLE campaigns ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT UNIQUE NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('running', 'done', 'paused', 'cancelled')),"
	" spec_text TEXT NOT NULL,"
	" spec_hash TEXT NOT NULL,"
	" dataset_name TEXT, dataset_format TEXT, dataset_split TEXT,"
	" dataset_images TEXT, dataset_labels TEXT, dataset_desc TEXT,"
	" n_total INTEGER, channels INTEGER, height INTEGER, width INTEGER, classes INTEGER,"
	" search_start INTEGER, search_precision REAL, search_max_n INTEGER,"
	" created_at INTEGER, finished_at INTEGER,"
	" dataset_ref BLOB, dataset_hash BLOB);"
	"CREATE INDEX campaigns_state ON campaigns (state);"
	"CREATE TABLE workers ("
	" id INTEGER PRIMARY KEY,"
	" identity TEXT UNIQUE NOT NULL,"
	" host TEXT, slots INTEGER,"
	" first_seen INTEGER, last_seen INTEGER,"
	" trials_done INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE cells ("
	" id INTEGER PRIMARY KEY,"
	" campaign_id INTEGER NOT NULL REFERENCES campaigns (id),"
	" idx INTEGER NOT NULL,"
	" model TEXT, family TEXT, activation TEXT, optimizer TEXT, lr REAL, batch INTEGER,"
	" labels TEXT, seed INTEGER, params INTEGER, inputs TEXT, classes INTEGER,"
	" config BLOB NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('searching', 'done', 'failed')),"
	" lo INTEGER NOT NULL DEFAULT 0, hi INTEGER NOT NULL DEFAULT 0, full INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE (campaign_id, idx));"
	"CREATE TABLE trials ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" cell_id INTEGER NOT NULL REFERENCES cells (id),"
	" n INTEGER NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'fit', 'no_fit', 'failed', 'cancelled')),"
	" reason TEXT, epochs INTEGER, steps INTEGER, train_seconds REAL, loss REAL, accuracy REAL,"
	" grad_norm REAL, budget_used REAL, error TEXT, hessian_min REAL, hessian_max REAL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER, finished_at INTEGER,"
	" UNIQUE (cell_id, n));"
	"CREATE INDEX trials_state ON trials (state);"
	"CREATE TABLE attempts ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" trial_id INTEGER NOT NULL REFERENCES trials (id),"
	" number INTEGER NOT NULL,"
	" worker_id INTEGER REFERENCES workers (id),"
	" state TEXT NOT NULL CHECK (state IN ('running', 'done', 'lost', 'preempted', 'failed', 'cancelled')),"
	" started_at INTEGER, lease_expires_at INTEGER, finished_at INTEGER,"
	" UNIQUE (trial_id, number));"
	"CREATE UNIQUE INDEX attempts_one_running ON attempts (trial_id) WHERE state = 'running';"
	"CREATE INDEX attempts_state ON attempts (state);"
	"CREATE INDEX attempts_worker ON attempts (worker_id);";

/* Version 1 to 2: a cell is a training procedure measured over replicate
 * seeds, a trial is (cell, n, seed index).
 *
 *   campaigns  + the seed pool (8-byte little-endian words) and the
 *                measurement settings; NULL settings (a file of version 1)
 *                read as 0, which the scheduler takes as the defaults;
 *   cells      + the cell's own pool (NULL: the one seed of its
 *                configuration — every cell of a version-1 file, which
 *                crossed seeds as an axis) and the measurement result,
 *                written with the result that decided it; its compute
 *                (sample_grads, train_seconds) sums every recorded trial;
 *   trials     rebuilt (SQLite cannot change a UNIQUE constraint): + the
 *                seed index and value, UNIQUE (cell_id, n, seed_index),
 *                the compute and the provenance of the result. Old trials
 *                are seed index 0 of their cell's one seed; ids and the
 *                AUTOINCREMENT counter are kept, so attempts still point
 *                at them.
 *
 * Runs with foreign keys off (the trials table is dropped and replaced);
 * migrate() checks them after. A decided version-1 cell keeps its EMC
 * (lo) as emc; what it cannot know (its interval) stays NULL. */
static const char migrate_v2_sql[] =
	"ALTER TABLE campaigns ADD COLUMN seeds BLOB;"
	"ALTER TABLE campaigns ADD COLUMN search_method TEXT"
	" CHECK (search_method IN ('bisect', 'per-seed', 'grid'));"
	"ALTER TABLE campaigns ADD COLUMN search_quantile REAL;"
	"ALTER TABLE campaigns ADD COLUMN search_min_seeds INTEGER;"
	"ALTER TABLE campaigns ADD COLUMN search_confidence REAL;"
	"ALTER TABLE campaigns ADD COLUMN search_grid_points INTEGER;"
	"ALTER TABLE campaigns ADD COLUMN search_spec_depth INTEGER;"
	"ALTER TABLE campaigns ADD COLUMN search_indifference REAL;"
	"ALTER TABLE cells ADD COLUMN seeds BLOB;"
	"ALTER TABLE cells ADD COLUMN emc INTEGER;"
	"ALTER TABLE cells ADD COLUMN emc_low INTEGER;"
	"ALTER TABLE cells ADD COLUMN emc_high INTEGER;"
	"ALTER TABLE cells ADD COLUMN seeds_used INTEGER;"
	"ALTER TABLE cells ADD COLUMN lo_fits INTEGER;"
	"ALTER TABLE cells ADD COLUMN lo_total INTEGER;"
	"ALTER TABLE cells ADD COLUMN hi_fits INTEGER;"
	"ALTER TABLE cells ADD COLUMN hi_total INTEGER;"
	"ALTER TABLE cells ADD COLUMN hi_plateau INTEGER;"
	"ALTER TABLE cells ADD COLUMN hi_gradnorm INTEGER;"
	"ALTER TABLE cells ADD COLUMN hi_budget INTEGER;"
	"ALTER TABLE cells ADD COLUMN unconverged INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cells ADD COLUMN plateau_decided INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cells ADD COLUMN nonmonotone INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cells ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cells ADD COLUMN trials_consumed INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cells ADD COLUMN sample_grads INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cells ADD COLUMN train_seconds REAL NOT NULL DEFAULT 0;"
	"UPDATE cells SET emc = lo, seeds_used = 1 WHERE state = 'done';"
	"UPDATE cells SET train_seconds = (SELECT total(t.train_seconds) FROM trials t WHERE t.cell_id = cells.id"
	" AND t.state IN ('fit', 'no_fit', 'failed', 'cancelled'));"
	"CREATE TABLE trials_v2 ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" cell_id INTEGER NOT NULL REFERENCES cells (id),"
	" n INTEGER NOT NULL,"
	" seed_index INTEGER NOT NULL DEFAULT 0 CHECK (seed_index >= 0),"
	" seed INTEGER,"
	" state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'fit', 'no_fit', 'failed', 'cancelled')),"
	" reason TEXT, epochs INTEGER, steps INTEGER, train_seconds REAL, loss REAL, accuracy REAL,"
	" grad_norm REAL, budget_used REAL, error TEXT, hessian_min REAL, hessian_max REAL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER, finished_at INTEGER,"
	" sample_grads INTEGER, host TEXT, emc_version TEXT, blas_core TEXT, blas_threads INTEGER,"
	" UNIQUE (cell_id, n, seed_index));"
	"INSERT INTO trials_v2 (id, cell_id, n, seed_index, seed, state, reason, epochs, steps, train_seconds,"
	" loss, accuracy, grad_norm, budget_used, error, hessian_min, hessian_max, attempts, created_at, finished_at)"
	" SELECT t.id, t.cell_id, t.n, 0, ce.seed, t.state, t.reason, t.epochs, t.steps, t.train_seconds,"
	" t.loss, t.accuracy, t.grad_norm, t.budget_used, t.error, t.hessian_min, t.hessian_max, t.attempts,"
	" t.created_at, t.finished_at FROM trials t JOIN cells ce ON ce.id = t.cell_id;"
	"DELETE FROM sqlite_sequence WHERE name = 'trials_v2';"
	"INSERT INTO sqlite_sequence (name, seq) SELECT 'trials_v2', seq FROM sqlite_sequence WHERE name = 'trials';"
	"DROP TABLE trials;"
	"ALTER TABLE trials_v2 RENAME TO trials;"
	"CREATE INDEX trials_state ON trials (state);";

/* Version 2 to 3: a campaign may pin the OpenBLAS kernel and thread count
 * of the workers that run its trials (the spec's `engine` section). NULL
 * is no pin, which is what every campaign of a version-2 file reads as. */
static const char migrate_v3_sql[] =
	"ALTER TABLE campaigns ADD COLUMN engine_blas_core TEXT;"
	"ALTER TABLE campaigns ADD COLUMN engine_blas_threads INTEGER"
	" CHECK (engine_blas_threads IS NULL OR engine_blas_threads >= 1);";

/* Version 3 to 4: a cell of a cancelled campaign is 'cancelled', not left
 * 'searching' as if its search went on. The cells table is rebuilt (SQLite
 * cannot change a CHECK) with the same columns, defaults and ids, in the
 * order version 3 had them; trials point at cells by id, so they still
 * point at the same rows once the new table takes the old one's name.
 * Cells of campaigns cancelled before this version become cancelled; a
 * decided cell (done, failed) keeps its state.
 *
 * Runs with foreign keys off (the cells table is dropped and replaced);
 * migrate() checks them after. */
#define CELLS_V4_COLUMNS                                                                                      \
	"id, campaign_id, idx, model, family, activation, optimizer, lr, batch, labels, seed, params, inputs," \
	" classes, config, state, lo, hi, full, seeds, emc, emc_low, emc_high, seeds_used, lo_fits, lo_total," \
	" hi_fits, hi_total, hi_plateau, hi_gradnorm, hi_budget, unconverged, plateau_decided, nonmonotone,"   \
	" uncertain, trials_consumed, sample_grads, train_seconds"
static const char migrate_v4_sql[] =
	"CREATE TABLE cells_v4 ("
	" id INTEGER PRIMARY KEY,"
	" campaign_id INTEGER NOT NULL REFERENCES campaigns (id),"
	" idx INTEGER NOT NULL,"
	" model TEXT, family TEXT, activation TEXT, optimizer TEXT, lr REAL, batch INTEGER,"
	" labels TEXT, seed INTEGER, params INTEGER, inputs TEXT, classes INTEGER,"
	" config BLOB NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('searching', 'done', 'failed', 'cancelled')),"
	" lo INTEGER NOT NULL DEFAULT 0, hi INTEGER NOT NULL DEFAULT 0, full INTEGER NOT NULL DEFAULT 0,"
	" seeds BLOB, emc INTEGER, emc_low INTEGER, emc_high INTEGER, seeds_used INTEGER,"
	" lo_fits INTEGER, lo_total INTEGER, hi_fits INTEGER, hi_total INTEGER,"
	" hi_plateau INTEGER, hi_gradnorm INTEGER, hi_budget INTEGER,"
	" unconverged INTEGER NOT NULL DEFAULT 0, plateau_decided INTEGER NOT NULL DEFAULT 0,"
	" nonmonotone INTEGER NOT NULL DEFAULT 0, uncertain INTEGER NOT NULL DEFAULT 0,"
	" trials_consumed INTEGER NOT NULL DEFAULT 0, sample_grads INTEGER NOT NULL DEFAULT 0,"
	" train_seconds REAL NOT NULL DEFAULT 0,"
	" UNIQUE (campaign_id, idx));"
	"INSERT INTO cells_v4 (" CELLS_V4_COLUMNS ") SELECT " CELLS_V4_COLUMNS " FROM cells;"
	"DROP TABLE cells;"
	"ALTER TABLE cells_v4 RENAME TO cells;"
	"UPDATE cells SET state = 'cancelled' WHERE state = 'searching'"
	" AND campaign_id IN (SELECT id FROM campaigns WHERE state = 'cancelled');";

/* Version 4 to 5: the latest checkpoint of each running trial (store_ckpt.c)
 * and, per attempt, the epoch it resumed from and the checkpoints it
 * delivered. The trigger drops a trial's checkpoint in the transaction that
 * ends it, whichever path does. */
static const char migrate_v5_sql[] =
	"CREATE TABLE checkpoints ("
	" trial_id INTEGER PRIMARY KEY REFERENCES trials (id),"
	" attempt_id INTEGER NOT NULL REFERENCES attempts (id),"
	" epoch INTEGER NOT NULL CHECK (epoch >= 0),"
	" step INTEGER NOT NULL CHECK (step >= 0),"
	" state BLOB NOT NULL,"
	" written_at INTEGER NOT NULL);"
	"ALTER TABLE attempts ADD COLUMN resumed_epoch INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE attempts ADD COLUMN checkpoints INTEGER NOT NULL DEFAULT 0;"
	"CREATE TRIGGER checkpoints_end AFTER UPDATE OF state ON trials"
	" WHEN NEW.state IN " SQL_TRIAL_TERMINAL
	" BEGIN DELETE FROM checkpoints WHERE trial_id = NEW.id; END;";

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_CAMPAIGN_FIND,
	ST_CAMPAIGN_SPEC_TEXT,
	ST_CAMPAIGN_INSERT,
	ST_CELL_INSERT,
	ST_LOAD_CAMPAIGNS,
	ST_LOAD_CELLS,
	ST_LOAD_TRIALS,
	ST_LOAD_OUTCOMES,
	ST_CELL_COMPUTE,
	ST_RECOVER_ATTEMPTS,
	ST_RECOVER_TRIALS,
	ST_TRIAL_INSERT,
	ST_TRIAL_REVIVE,
	ST_TRIAL_FIND,
	ST_TRIAL_GET,
	ST_TRIAL_START,
	ST_TRIAL_FINISH,
	ST_TRIAL_REQUEUE,
	ST_TRIAL_FAIL,
	ST_TRIAL_CANCEL,
	ST_ATTEMPT_FAIL_RUNNING,
	ST_ATTEMPT_INSERT,
	ST_ATTEMPT_GET,
	ST_ATTEMPT_RUNNING,
	ST_ATTEMPT_END,
	ST_CELL_UPDATE,
	ST_CELL_SET_STATE,
	ST_CAMPAIGN_SET_STATE,
	ST_CAMPAIGN_CANCEL_CELLS,
	ST_CAMPAIGN_REOPEN_TRIALS,
	ST_CAMPAIGN_REOPEN_CELLS,
	ST_CAMPAIGN_REOPEN,
	ST_WORKER_UPSERT,
	ST_WORKER_FIND,
	ST_WORKER_SEEN,
	ST_WORKER_BUMP,
	ST_COUNTS,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT op",
	[ST_RELEASE] = "RELEASE op",
	[ST_ROLLBACK_TO] = "ROLLBACK TO op",
	[ST_CAMPAIGN_FIND] = "SELECT id, spec_hash, state FROM campaigns WHERE name = ?1",
	[ST_CAMPAIGN_SPEC_TEXT] = "SELECT spec_text FROM campaigns WHERE id = ?1",
	[ST_CAMPAIGN_INSERT] = "INSERT INTO campaigns (name, state, spec_text, spec_hash, dataset_desc,"
			       " n_total, channels, height, width, classes, search_start, search_precision,"
			       " search_max_n, created_at, dataset_ref, dataset_hash, seeds, search_method,"
			       " search_quantile, search_min_seeds, search_confidence, search_grid_points,"
			       " search_spec_depth, search_indifference, engine_blas_core, engine_blas_threads)"
			       " VALUES (?1, " SQL_STATE(CAMPAIGN, RUNNING) ", ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
			       " ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
	[ST_CELL_INSERT] = "INSERT INTO cells (campaign_id, idx, model, family, activation, optimizer, lr, batch,"
			   " labels, seed, params, config, inputs, classes, state, lo, hi, full, seeds)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
			   SQL_STATE(CELL, SEARCHING) ", 0, 0, 0, ?15)",
	[ST_LOAD_CAMPAIGNS] = "SELECT id, name, state, search_start, search_precision, search_max_n,"
			      " n_total, channels, height, width, classes, dataset_ref, dataset_hash,"
			      " search_method, search_quantile, search_min_seeds, search_confidence,"
			      " search_grid_points, search_spec_depth, search_indifference,"
			      " engine_blas_core, engine_blas_threads"
			      " FROM campaigns WHERE state IN " SQL_CAMPAIGN_ACTIVE " ORDER BY id",
	[ST_LOAD_CELLS] = "SELECT ce.id, ce.campaign_id, ce.idx, ce.config, ce.state, ce.lo, ce.hi, ce.seeds"
			  " FROM cells ce JOIN campaigns c ON c.id = ce.campaign_id"
			  " WHERE c.state IN " SQL_CAMPAIGN_ACTIVE " ORDER BY ce.campaign_id, ce.idx",
	[ST_LOAD_TRIALS] = "SELECT t.id, t.cell_id, t.n, t.state, t.seed_index,"
			   " (SELECT a.id FROM attempts a WHERE a.trial_id = t.id"
			   "  AND a.state = " SQL_STATE(ATTEMPT, RUNNING) "),"
			   " (SELECT count(*) FROM attempts a WHERE a.trial_id = t.id AND a.state IN " SQL_ATTEMPT_LOST
			   "  AND a.checkpoints = 0),"
			   " (SELECT count(*) FROM attempts a WHERE a.trial_id = t.id"
			   "  AND a.state = " SQL_STATE(ATTEMPT, FAILED) "),"
			   " (SELECT a.worker_id FROM attempts a WHERE a.trial_id = t.id"
			   "  AND a.state = " SQL_STATE(ATTEMPT, RUNNING) "),"
			   " (SELECT a.checkpoints > 0 FROM attempts a WHERE a.trial_id = t.id"
			   "  AND a.state = " SQL_STATE(ATTEMPT, RUNNING) ")"
			   " FROM trials t JOIN cells ce ON ce.id = t.cell_id JOIN campaigns c ON c.id = ce.campaign_id"
			   " WHERE c.state IN " SQL_CAMPAIGN_ACTIVE " AND t.state IN " SQL_TRIAL_OPEN
			   " ORDER BY t.id",
	[ST_LOAD_OUTCOMES] = "SELECT t.id, t.cell_id, t.n, t.seed_index, t.state, t.reason"
			     " FROM trials t JOIN cells ce ON ce.id = t.cell_id JOIN campaigns c ON c.id = ce.campaign_id"
			     " WHERE (?1 = 0 AND c.state IN " SQL_CAMPAIGN_ACTIVE " OR t.cell_id = ?1)"
			     " AND t.state IN " SQL_TRIAL_TERMINAL " ORDER BY t.id",
	[ST_CELL_COMPUTE] = "UPDATE cells SET sample_grads = sample_grads + ?2, train_seconds = train_seconds + ?3"
			    " WHERE id = ?1",
	[ST_RECOVER_ATTEMPTS] = "UPDATE attempts SET state = " SQL_STATE(ATTEMPT, LOST) ", finished_at = ?1"
				" WHERE state = " SQL_STATE(ATTEMPT, RUNNING),
	[ST_RECOVER_TRIALS] = "UPDATE trials SET state = " SQL_STATE(TRIAL, PENDING)
			      " WHERE state = " SQL_STATE(TRIAL, RUNNING),
	[ST_TRIAL_INSERT] = "INSERT INTO trials (cell_id, n, seed_index, seed, state, created_at)"
			    " VALUES (?1, ?2, ?3, ?4, " SQL_STATE(TRIAL, PENDING) ", ?5)"
			    " ON CONFLICT (cell_id, n, seed_index) DO NOTHING",
	[ST_TRIAL_REVIVE] = "UPDATE trials SET state = " SQL_STATE(TRIAL, PENDING) ", reason = NULL, error = NULL,"
			    " finished_at = NULL WHERE cell_id = ?1 AND n = ?2 AND seed_index = ?3"
			    " AND state = " SQL_STATE(TRIAL, CANCELLED),
	[ST_TRIAL_FIND] = "SELECT id, state FROM trials WHERE cell_id = ?1 AND n = ?2 AND seed_index = ?3",
	[ST_TRIAL_GET] = "SELECT state, attempts, cell_id FROM trials WHERE id = ?1",
	[ST_TRIAL_START] = "UPDATE trials SET state = " SQL_STATE(TRIAL, RUNNING) ", attempts = ?2"
			   " WHERE id = ?1 AND state = " SQL_STATE(TRIAL, PENDING),
	[ST_TRIAL_FINISH] = "UPDATE trials SET state = ?2, reason = ?3, epochs = ?4, steps = ?5, train_seconds = ?6,"
			    " loss = ?7, accuracy = ?8, grad_norm = ?9, budget_used = ?10, error = ?11,"
			    " finished_at = ?12, hessian_min = ?13, hessian_max = ?14, sample_grads = ?15, host = ?16,"
			    " emc_version = ?17, blas_core = ?18, blas_threads = ?19"
			    " WHERE id = ?1 AND state = " SQL_STATE(TRIAL, RUNNING),
	[ST_TRIAL_REQUEUE] = "UPDATE trials SET state = " SQL_STATE(TRIAL, PENDING)
			     " WHERE id = ?1 AND state = " SQL_STATE(TRIAL, RUNNING),
	[ST_TRIAL_FAIL] = "UPDATE trials SET state = " SQL_STATE(TRIAL, FAILED) ", reason = ?4, error = ?2,"
			  " finished_at = ?3 WHERE id = ?1 AND state IN " SQL_TRIAL_OPEN,
	[ST_TRIAL_CANCEL] = "UPDATE trials SET state = " SQL_STATE(TRIAL, CANCELLED) ", finished_at = ?2"
			    " WHERE id = ?1 AND state = " SQL_STATE(TRIAL, PENDING),
	[ST_ATTEMPT_FAIL_RUNNING] = "UPDATE attempts SET state = " SQL_STATE(ATTEMPT, FAILED) ", finished_at = ?2"
				    " WHERE trial_id = ?1 AND state = " SQL_STATE(ATTEMPT, RUNNING),
	[ST_ATTEMPT_INSERT] = "INSERT INTO attempts (trial_id, number, worker_id, state, started_at, lease_expires_at)"
			      " VALUES (?1, ?2, ?3, " SQL_STATE(ATTEMPT, RUNNING) ", ?4, ?5)",
	[ST_ATTEMPT_GET] = "SELECT trial_id, state FROM attempts WHERE id = ?1",
	[ST_ATTEMPT_RUNNING] = "SELECT worker_id FROM attempts WHERE id = ?1 AND trial_id = ?2"
			       " AND state = " SQL_STATE(ATTEMPT, RUNNING),
	[ST_ATTEMPT_END] = "UPDATE attempts SET state = ?2, finished_at = ?3"
			   " WHERE id = ?1 AND state = " SQL_STATE(ATTEMPT, RUNNING),
	[ST_CELL_UPDATE] = "UPDATE cells SET lo = ?2, hi = ?3, full = ?4, state = ?5, emc = ?2, emc_low = ?6,"
			   " emc_high = ?7, seeds_used = ?8, lo_fits = ?9, lo_total = ?10, hi_fits = ?11, hi_total = ?12,"
			   " hi_plateau = ?13, hi_gradnorm = ?14, hi_budget = ?15, unconverged = ?16,"
			   " plateau_decided = ?17, nonmonotone = ?18, uncertain = ?19, trials_consumed = ?20"
			   " WHERE id = ?1",
	[ST_CELL_SET_STATE] = "UPDATE cells SET state = ?2 WHERE id = ?1",
	[ST_CAMPAIGN_SET_STATE] = "UPDATE campaigns SET state = ?2, finished_at = CASE WHEN ?2 IN " SQL_CAMPAIGN_FINISHED
				  " THEN coalesce(finished_at, ?3) ELSE NULL END WHERE id = ?1",
	[ST_CAMPAIGN_CANCEL_CELLS] = "UPDATE cells SET state = " SQL_STATE(CELL, CANCELLED)
				     " WHERE campaign_id = ?1 AND state = " SQL_STATE(CELL, SEARCHING),
	[ST_CAMPAIGN_REOPEN_TRIALS] = "UPDATE trials SET state = " SQL_STATE(TRIAL, PENDING) ", reason = NULL,"
				      " error = NULL, finished_at = NULL WHERE state = " SQL_STATE(TRIAL, CANCELLED)
				      " AND cell_id IN (SELECT id FROM cells WHERE campaign_id = ?1"
				      " AND state = " SQL_STATE(CELL, CANCELLED) ")",
	[ST_CAMPAIGN_REOPEN_CELLS] = "UPDATE cells SET state = " SQL_STATE(CELL, SEARCHING)
				     " WHERE campaign_id = ?1 AND state = " SQL_STATE(CELL, CANCELLED),
	[ST_CAMPAIGN_REOPEN] = "UPDATE campaigns SET state = " SQL_STATE(CAMPAIGN, RUNNING) ", finished_at = NULL"
			       " WHERE id = ?1 AND state = " SQL_STATE(CAMPAIGN, CANCELLED),
	[ST_WORKER_UPSERT] = "INSERT INTO workers (identity, host, slots, first_seen, last_seen)"
			     " VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (identity) DO UPDATE SET"
			     " host = excluded.host, slots = excluded.slots, last_seen = excluded.last_seen",
	[ST_WORKER_FIND] = "SELECT id FROM workers WHERE identity = ?1",
	[ST_WORKER_SEEN] = "UPDATE workers SET last_seen = ?2 WHERE id = ?1",
	[ST_WORKER_BUMP] = "UPDATE workers SET trials_done = trials_done + 1 WHERE id = ?1",
	/* One statement, so the five numbers come from one snapshot. Campaign
	 * 0 means every active (running or paused) campaign. */
	[ST_COUNTS] = "WITH sel AS (SELECT id FROM campaigns"
		      "   WHERE (?1 = 0 AND state IN " SQL_CAMPAIGN_ACTIVE ") OR id = ?1),"
		      " ce AS (SELECT id, state FROM cells WHERE campaign_id IN sel),"
		      " t AS (SELECT state FROM trials WHERE cell_id IN (SELECT id FROM ce))"
		      " SELECT (SELECT count(*) FROM ce),"
		      " (SELECT count(*) FROM ce WHERE state IN " SQL_CELL_DECIDED "),"
		      " (SELECT count(*) FROM t WHERE state = " SQL_STATE(TRIAL, PENDING) "),"
		      " (SELECT count(*) FROM t WHERE state = " SQL_STATE(TRIAL, RUNNING) "),"
		      " (SELECT count(*) FROM t WHERE state IN " SQL_TRIAL_TERMINAL ")",
};

struct store {
	sqlite3 *db;
	bool readonly;
	bool batch;        /* store_batch_begin() opened an outer transaction */
	sqlite3_stmt *st[ST_COUNT];
};

/* ---- small helpers ------------------------------------------------------ */

/* Turn the connection's last error into a message and an errno: a broken
 * reference is a missing row (-ENOENT), a duplicate key -EEXIST, anything
 * else -EIO. */
static int db_fail(store *s, const char *what, emc_err *err)
{
	int code = sqlite3_extended_errcode(s->db), r = -EIO;

	if (code == SQLITE_CONSTRAINT_FOREIGNKEY)
		r = -ENOENT;
	else if (code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY)
		r = -EEXIST;
	else if ((code & 0xff) == SQLITE_READONLY)
		r = -EROFS;
	return emc_err_set(err, r, "store: %s: %s", what, sqlite3_errmsg(s->db));
}

int store_fail(store *s, const char *what, emc_err *err)
{
	return db_fail(s, what, err);
}

int store_prepare(store *s, const char *what, const char *sql, sqlite3_stmt **ret, emc_err *err)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, ret, NULL) != SQLITE_OK) {
		*ret = NULL;
		return db_fail(s, what, err);
	}
	return 0;
}

sqlite3 *store_sqlite(store *s)
{
	return s->db;
}

static sqlite3_stmt *stmt_get(store *s, enum stmt_id id, emc_err *err)
{
	if (!s->st[id] &&
	    sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL) != SQLITE_OK) {
		db_fail(s, "prepare", err);
		s->st[id] = NULL;
	}
	return s->st[id];
}

static void stmt_done(sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

/* Step a statement that returns no rows, then reset it. */
static int exec_done(store *s, sqlite3_stmt *st, const char *what, emc_err *err)
{
	int rc = sqlite3_step(st), r = 0;

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = db_fail(s, what, err);
	stmt_done(st);
	return r;
}

/* Step once: 1 with a row to read (caller resets), 0 without (reset here). */
static int step_row(store *s, sqlite3_stmt *st, const char *what, emc_err *err)
{
	int rc = sqlite3_step(st), r;

	if (rc == SQLITE_ROW)
		return 1;
	r = rc == SQLITE_DONE ? 0 : db_fail(s, what, err);
	stmt_done(st);
	return r;
}

static int run_id(store *s, enum stmt_id id, const char *what, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, id, err);

	return st ? exec_done(s, st, what, err) : -EIO;
}

/* Every write function is one transaction — or, inside a batch, one
 * savepoint of the batch's transaction, so that many small writes share one
 * commit (and one fsync) while each stays all-or-nothing. */
static int tx_begin(store *s, emc_err *err)
{
	if (s->readonly)
		return emc_err_set(err, -EROFS, "store: %s: opened read-only", sqlite3_db_filename(s->db, "main"));
	return run_id(s, s->batch ? ST_SAVEPOINT : ST_BEGIN, "begin", err);
}

static void tx_rollback(store *s)
{
	if (s->batch) {
		if (!sqlite3_get_autocommit(s->db)) {
			run_id(s, ST_ROLLBACK_TO, "rollback to savepoint", NULL);
			run_id(s, ST_RELEASE, "release savepoint", NULL);
		}
		return;
	}
	/* Some errors (a full disk, for one) already rolled back. */
	if (!sqlite3_get_autocommit(s->db))
		run_id(s, ST_ROLLBACK, "rollback", NULL);
}

static int tx_commit(store *s, emc_err *err)
{
	int r = run_id(s, s->batch ? ST_RELEASE : ST_COMMIT, "commit", err);

	if (r < 0)
		tx_rollback(s);
	return r;
}

int store_batch_begin(store *s, emc_err *err)
{
	int r;

	if (s->batch)
		return emc_err_set(err, -EBUSY, "store: a batch is already open");
	r = tx_begin(s, err);
	if (r < 0)
		return r;
	s->batch = true;
	return 0;
}

int store_batch_end(store *s, emc_err *err)
{
	int r;

	if (!s->batch)
		return emc_err_set(err, -EINVAL, "store: no batch is open");
	s->batch = false;
	r = run_id(s, ST_COMMIT, "commit batch", err);
	if (r < 0 && !sqlite3_get_autocommit(s->db))
		run_id(s, ST_ROLLBACK, "rollback batch", NULL);
	return r;
}

static void bind_text(sqlite3_stmt *st, int i, const char *text)
{
	if (text && text[0])
		sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* A fixed array that may hold its text unterminated; empty is NULL. */
static void bind_text_n(sqlite3_stmt *st, int i, const char *text, size_t size)
{
	if (text[0])
		sqlite3_bind_text(st, i, text, (int)strnlen(text, size), SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Copy a text column into a fixed buffer, truncating; NULL reads as "". */
static void col_text(sqlite3_stmt *st, int i, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	size_t len = t ? strlen((const char *)t) : 0;

	if (len >= size)
		len = size - 1;
	if (len)
		memcpy(buf, t, len);
	buf[len] = '\0';
}

static int col_int(sqlite3_stmt *st, int i)
{
	int64_t v = sqlite3_column_int64(st, i);

	return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int)v;
}

/* A state column that is not a name of its table: the file was written by
 * something else than this program, or damaged. Refused, not defaulted. */
static int bad_state(sqlite3_stmt *st, int i, const char *table, int64_t id, emc_err *err)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return emc_err_set(err, -EIO, "store: %s: row %lld has an unknown state '%s'", table, (long long)id,
			   v ? (const char *)v : "(null)");
}

#define COL_TEXT(st, i) ((const char *)sqlite3_column_text((st), (i)))

/* A seed pool as stored: 8 bytes per seed, little-endian, in pool order. */
static void seeds_pack(const uint64_t *seeds, int n, uint8_t *buf)
{
	for (int i = 0; i < n; i++)
		for (int b = 0; b < 8; b++)
			buf[8 * i + b] = (uint8_t)(seeds[i] >> (8 * b));
}

/* Read a stored pool; NULL (a cell of a version-1 file) is [fallback].
 * -EIO for a blob that is not whole seeds or holds too many. */
static int seeds_read(sqlite3_stmt *st, int i, uint64_t fallback, int *ret_n, uint64_t *ret_seeds)
{
	const uint8_t *blob = sqlite3_column_blob(st, i);
	int len = sqlite3_column_bytes(st, i);

	if (sqlite3_column_type(st, i) == SQLITE_NULL) {
		ret_seeds[0] = fallback;
		*ret_n = 1;
		return 0;
	}
	if (!blob || len <= 0 || len % 8 != 0 || len / 8 > EMC_SPEC_MAX_SEEDS)
		return -EIO;
	for (int k = 0; k < len / 8; k++) {
		uint64_t v = 0;

		for (int b = 7; b >= 0; b--)
			v = v << 8 | blob[8 * k + b];
		ret_seeds[k] = v;
	}
	*ret_n = len / 8;
	return 0;
}

const char *const store_method_names[EMC_SEARCH_METHOD_COUNT] = {
	[EMC_SEARCH_BISECT] = "bisect",
	[EMC_SEARCH_PER_SEED] = "per-seed",
	[EMC_SEARCH_GRID] = "grid",
};

/* NULL (a version-1 file) reads as the default, bisect. */
int store_method_parse(const char *name, emc_search_method *ret)
{
	if (!name) {
		*ret = EMC_SEARCH_BISECT;
		return 0;
	}
	for (int i = 0; i < EMC_SEARCH_METHOD_COUNT; i++)
		if (strcmp(name, store_method_names[i]) == 0) {
			*ret = (emc_search_method)i;
			return 0;
		}
	return -EINVAL;
}

/* ---- open, schema ------------------------------------------------------- */

static int pragma_int(store *s, const char *sql, int *ret, emc_err *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, sql, err);
	r = sqlite3_step(st);
	if (r != SQLITE_ROW) {
		r = db_fail(s, sql, err);
		sqlite3_finalize(st);
		return r;
	}
	*ret = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int exec_sql(store *s, const char *sql, const char *what, emc_err *err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, what, err);
	return 0;
}

static int version_check(const char *path, int version, emc_err *err)
{
	if (version > STORE_SCHEMA_VERSION)
		return emc_err_set(err, -ENOTSUP,
				   "store: %s: schema version %d is newer than this program's (%d); use a newer emc",
				   path, version, STORE_SCHEMA_VERSION);
	if (version < 0)
		return emc_err_set(err, -EINVAL, "store: %s: invalid schema version %d", path, version);
	return 0;
}

/* One migration step: the SQL, then the new version, in the caller's
 * transaction. */
static int migrate_step(store *s, const char *sql, int to, emc_err *err)
{
	char pragma[64];
	int r = exec_sql(s, sql, "migrate schema", err);

	if (r < 0)
		return r;
	snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", to);
	return exec_sql(s, pragma, "set schema version", err);
}

/* The rows a migration left pointing nowhere: none, or the file is damaged. */
static int foreign_keys_check(store *s, const char *path, emc_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	if (sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "foreign_key_check", err);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = emc_err_set(err, -EIO, "store: %s: table %s has a row that points nowhere; not migrated", path,
				COL_TEXT(st, 0));
	else if (rc != SQLITE_DONE)
		r = db_fail(s, "foreign_key_check", err);
	sqlite3_finalize(st);
	return r;
}

/* The step from version i to i + 1 is migrations[i]. A step that rebuilds
 * a table others point at is followed by a foreign key check. */
static const struct {
	const char *sql;
	bool rebuilds;
} migrations[] = {
    {schema_v1_sql, false},  {migrate_v2_sql, true}, {migrate_v3_sql, false},
    {migrate_v4_sql, true},  {migrate_v5_sql, false},
};
_Static_assert(sizeof migrations / sizeof *migrations == STORE_SCHEMA_VERSION,
	       "one migration step per schema version");

/* Create the schema in an empty database (version 1, then migrated like
 * any version-1 file) or upgrade an older one, under the write lock so that
 * two coordinators started at once cannot both do it. The caller has
 * foreign keys off: a step may replace a table others point at. */
static int migrate(store *s, const char *path, emc_err *err)
{
	int version, r;

	r = tx_begin(s, err);
	if (r < 0)
		return r;
	r = pragma_int(s, "PRAGMA user_version", &version, err);
	if (r < 0)
		goto fail;
	r = version_check(path, version, err);
	if (r < 0)
		goto fail;
	for (; version < STORE_SCHEMA_VERSION; version++) {
		r = migrate_step(s, migrations[version].sql, version + 1, err);
		if (r == 0 && migrations[version].rebuilds)
			r = foreign_keys_check(s, path, err);
		if (r < 0)
			goto fail;
	}
	return tx_commit(s, err);
fail:
	tx_rollback(s);
	return r;
}

int store_open(const char *path, bool readonly, store **ret, emc_err *err)
{
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	store *s;
	int rc, r, version;

	assert(path && ret);
	s = calloc(1, sizeof *s);
	if (!s)
		return emc_err_set(err, -ENOMEM, "store: out of memory");
	s->readonly = readonly;
	rc = sqlite3_open_v2(path, &s->db, flags, NULL);
	if (rc != SQLITE_OK) {
		r = emc_err_set(err, rc == SQLITE_CANTOPEN ? -ENOENT : -EIO, "store: cannot open %s: %s", path,
				s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);

	/* Look at the version before changing anything in the file. */
	r = pragma_int(s, "PRAGMA user_version", &version, err);
	if (r < 0) {
		emc_err_set(err, r, "store: %s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	r = version_check(path, version, err);
	if (r < 0)
		goto fail;
	if (readonly && version == 0) {
		r = emc_err_set(err, -ENOENT, "store: %s: not a campaign database (no schema)", path);
		goto fail;
	}
	if (readonly && version < STORE_SCHEMA_VERSION) {
		r = emc_err_set(err, -ENOTSUP,
				"store: %s: schema version %d is older than this program's (%d); "
				"start emc-coordinator on it once to migrate it",
				path, version, STORE_SCHEMA_VERSION);
		goto fail;
	}
	if (!readonly) {
		r = exec_sql(s, "PRAGMA journal_mode = WAL", "journal_mode", err);
		if (r < 0)
			goto fail;
	}
	r = exec_sql(s, "PRAGMA synchronous = FULL", "pragmas", err);
	if (r < 0)
		goto fail;
	if (!readonly) {
		r = migrate(s, path, err);
		if (r < 0)
			goto fail;
	}
	/* On only now: a migration may replace a table that others point at. */
	r = exec_sql(s, "PRAGMA foreign_keys = ON", "pragmas", err);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	store_close(&s);
	return r;
}

void store_close(store **p)
{
	store *s = *p;

	if (!s)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s);
	*p = NULL;
}

/* ---- campaigns ---------------------------------------------------------- */

int store_campaign_find(store *s, const char *name, int64_t *ret_id, char *ret_spec_hash,
			store_campaign_state *ret_state, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_CAMPAIGN_FIND, err);
	int64_t id;
	store_campaign_state state;
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	r = step_row(s, st, "find campaign", err);
	if (r <= 0)
		return r;
	id = sqlite3_column_int64(st, 0);
	if (ret_spec_hash)
		col_text(st, 1, ret_spec_hash, 65);
	r = store_campaign_state_parse(COL_TEXT(st, 2), &state);
	stmt_done(st);
	if (r < 0)
		return emc_err_set(err, -EIO, "store: campaign '%s' has an unknown state", name);
	if (ret_state)
		*ret_state = state;
	if (ret_id)
		*ret_id = id;
	return 1;
}

int store_campaign_spec_text(store *s, int64_t campaign_id, char **ret_text, size_t *ret_len, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_CAMPAIGN_SPEC_TEXT, err);
	const unsigned char *text;
	char *copy;
	int n, r;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, campaign_id);
	r = step_row(s, st, "read campaign spec", err);
	if (r < 0)
		return r;
	if (r == 0)
		return emc_err_set(err, -ENOENT, "store: no campaign with id %lld", (long long)campaign_id);
	text = sqlite3_column_text(st, 0);
	n = sqlite3_column_bytes(st, 0);
	copy = malloc((size_t)n + 1);
	if (!copy) {
		stmt_done(st);
		return emc_err_set(err, -ENOMEM, "store: out of memory");
	}
	memcpy(copy, text ? (const char *)text : "", (size_t)n);
	copy[n] = '\0';
	stmt_done(st);
	*ret_text = copy;
	*ret_len = (size_t)n;
	return 0;
}

static int cell_insert(store *s, sqlite3_stmt *st, int64_t campaign_id, int idx, const emc_cell_cfg *c,
		       const emc_input_shape *shape, const uint8_t *pool, int pool_len, emc_err *err)
{
	char model[128];
	uint8_t *blob = NULL;
	size_t len;
	int64_t params;
	int r;

	r = wire_cell_pack(c, &blob, &len, err);
	if (r < 0)
		return r;
	{
		/* The network's output layer has the merged classes, if any. */
		emc_input_shape sh = *shape;

		if (c->classes > 0)
			sh.classes = c->classes;
		params = emc_model_params(&c->model, &sh);
	}
	emc_model_describe(&c->model, model, sizeof model);
	sqlite3_bind_int64(st, 1, campaign_id);
	sqlite3_bind_int(st, 2, idx);
	bind_text(st, 3, model);
	bind_text(st, 4, emc_family_name(c->model.family));
	bind_text(st, 5, emc_activation_name(c->model.activation));
	bind_text(st, 6, emc_optimizer_name(c->optim.name));
	sqlite3_bind_double(st, 7, c->optim.lr);
	sqlite3_bind_int(st, 8, c->optim.batch);
	if (c->labels == EMC_LABELS_NOISY) {
		char labels[32];

		snprintf(labels, sizeof labels, "noisy:%g", c->label_noise);
		sqlite3_bind_text(st, 9, labels, -1, SQLITE_TRANSIENT);
	} else {
		bind_text(st, 9, emc_labels_name(c->labels));
	}
	/* SQLite integers are signed: a seed above 2^63 is stored as its bit
	 * pattern; the config blob keeps it exactly. */
	sqlite3_bind_int64(st, 10, (int64_t)c->seed);
	if (params >= 0)
		sqlite3_bind_int64(st, 11, params);
	else
		sqlite3_bind_null(st, 11);
	sqlite3_bind_blob(st, 12, blob, (int)len, SQLITE_STATIC);
	bind_text(st, 13, emc_inputs_name(c->inputs));
	sqlite3_bind_int(st, 14, c->classes > 0 ? c->classes : shape->classes);
	sqlite3_bind_blob(st, 15, pool, pool_len, SQLITE_STATIC);
	r = exec_done(s, st, "insert cell", err);
	free(blob);
	return r;
}

static int campaign_row_insert(store *s, const emc_campaign_spec *spec, const char *spec_text, const char *spec_hash,
			       const store_dataset_info *ds, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_CAMPAIGN_INSERT, err);
	uint8_t *ref_blob = NULL;
	size_t ref_len = 0;
	int r;

	if (!st)
		return -EIO;
	/* The dataset reference is stored once, whole (every format's fields),
	 * in the encoding the wire uses for it. */
	r = wire_dataset_pack(&spec->dataset, &ref_blob, &ref_len, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, spec->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, spec_text, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, spec_hash, -1, SQLITE_STATIC);
	/* Reports show the description, or else the dataset's name. */
	bind_text(st, 4, ds->description[0] ? ds->description : spec->dataset.name);
	sqlite3_bind_int64(st, 5, ds->n_total);
	sqlite3_bind_int(st, 6, ds->shape.channels);
	sqlite3_bind_int(st, 7, ds->shape.height);
	sqlite3_bind_int(st, 8, ds->shape.width);
	sqlite3_bind_int(st, 9, ds->shape.classes);
	sqlite3_bind_int64(st, 10, spec->search.start);
	sqlite3_bind_double(st, 11, spec->search.precision);
	sqlite3_bind_int64(st, 12, spec->search.max_n);
	sqlite3_bind_int64(st, 13, emc_wall_ms());
	sqlite3_bind_blob(st, 14, ref_blob, (int)ref_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 15, ds->hash, sizeof ds->hash, SQLITE_STATIC);
	if (spec->n_seeds > 0) {
		uint8_t pool[8 * EMC_SPEC_MAX_SEEDS];

		seeds_pack(spec->seeds, spec->n_seeds, pool);
		sqlite3_bind_blob(st, 16, pool, 8 * spec->n_seeds, SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_null(st, 16);
	}
	sqlite3_bind_text(st, 17, store_method_names[spec->search.method], -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 18, spec->search.quantile);
	sqlite3_bind_int(st, 19, spec->search.min_seeds);
	sqlite3_bind_double(st, 20, spec->search.confidence);
	sqlite3_bind_int(st, 21, spec->search.grid_points);
	sqlite3_bind_int(st, 22, spec->search.spec_depth);
	sqlite3_bind_double(st, 23, spec->search.indifference);
	bind_text_n(st, 24, spec->engine.blas_core, sizeof spec->engine.blas_core);
	if (spec->engine.blas_threads > 0)
		sqlite3_bind_int(st, 25, spec->engine.blas_threads);
	else
		sqlite3_bind_null(st, 25);
	r = exec_done(s, st, "insert campaign", err);
	free(ref_blob);
	if (r == -EEXIST)
		r = emc_err_set(err, -EEXIST, "store: a campaign named '%s' already exists", spec->name);
	return r;
}

int store_campaign_insert(store *s, const emc_campaign_spec *spec, const char *spec_text, const char *spec_hash,
			  const store_dataset_info *ds, int64_t *ret_id, emc_err *err)
{
	sqlite3_stmt *st;
	int64_t id;
	int r;

	assert(spec && spec_text && spec_hash && ds);
	assert(spec->n_cells == 0 || spec->cells);
	if (spec->n_seeds < 0 || spec->n_seeds > EMC_SPEC_MAX_SEEDS ||
	    (unsigned)spec->search.method >= EMC_SEARCH_METHOD_COUNT)
		return emc_err_set(err, -EINVAL, "store: campaign '%s': %d seeds or method %d out of range", spec->name,
				   spec->n_seeds, (int)spec->search.method);
	r = tx_begin(s, err);
	if (r < 0)
		return r;
	r = campaign_row_insert(s, spec, spec_text, spec_hash, ds, err);
	if (r < 0)
		goto fail;
	id = sqlite3_last_insert_rowid(s->db);

	st = stmt_get(s, ST_CELL_INSERT, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	for (int i = 0; i < spec->n_cells; i++) {
		/* A spec without a pool measures each cell over its own seed. */
		uint8_t pool[8 * EMC_SPEC_MAX_SEEDS];
		int n = spec->n_seeds > 0 ? spec->n_seeds : 1;

		seeds_pack(spec->n_seeds > 0 ? spec->seeds : &spec->cells[i].seed, n, pool);
		r = cell_insert(s, st, id, i, &spec->cells[i], &ds->shape, pool, 8 * n, err);
		if (r < 0)
			goto fail;
	}
	r = tx_commit(s, err);
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = id;
	return 0;
fail:
	tx_rollback(s);
	return r;
}

/* Run a statement whose one parameter is a campaign id. */
static int run_campaign(store *s, enum stmt_id id, int64_t campaign_id, const char *what, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, id, err);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, campaign_id);
	return exec_done(s, st, what, err);
}

int store_campaign_set_state(store *s, int64_t campaign_id, store_campaign_state state, emc_err *err)
{
	const char *name = store_campaign_state_name(state);
	sqlite3_stmt *st;
	int r;

	if (!name)
		return emc_err_set(err, -EINVAL, "store: campaign %lld: invalid state %d", (long long)campaign_id,
				   (int)state);
	r = tx_begin(s, err);
	if (r < 0)
		return r;
	st = stmt_get(s, ST_CAMPAIGN_SET_STATE, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, campaign_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, emc_wall_ms());
	r = exec_done(s, st, "set campaign state", err);
	if (r < 0)
		goto fail;
	if (sqlite3_changes(s->db) == 0) {
		r = emc_err_set(err, -ENOENT, "store: no campaign with id %lld", (long long)campaign_id);
		goto fail;
	}
	if (state == STORE_CAMPAIGN_CANCELLED) {
		r = run_campaign(s, ST_CAMPAIGN_CANCEL_CELLS, campaign_id, "cancel cells", err);
		if (r < 0)
			goto fail;
	}
	return tx_commit(s, err);
fail:
	tx_rollback(s);
	return r;
}

int store_campaign_reopen(store *s, int64_t campaign_id, emc_err *err)
{
	int r = tx_begin(s, err);

	if (r < 0)
		return r;
	r = run_campaign(s, ST_CAMPAIGN_REOPEN, campaign_id, "reopen campaign", err);
	if (r < 0)
		goto fail;
	if (sqlite3_changes(s->db) == 0) {
		r = emc_err_set(err, -EALREADY, "store: campaign %lld is not cancelled (or does not exist)",
				(long long)campaign_id);
		goto fail;
	}
	/* trials first: they are picked by their cell being cancelled */
	r = run_campaign(s, ST_CAMPAIGN_REOPEN_TRIALS, campaign_id, "requeue cancelled trials", err);
	if (r == 0)
		r = run_campaign(s, ST_CAMPAIGN_REOPEN_CELLS, campaign_id, "reopen cells", err);
	if (r < 0)
		goto fail;
	return tx_commit(s, err);
fail:
	tx_rollback(s);
	return r;
}

/* ---- start-up ----------------------------------------------------------- */

/* The stored dataset reference, decoded; every campaign has one. */
static int dataset_ref_read(sqlite3_stmt *st, int i, int64_t campaign_id, emc_dataset_ref *ret, emc_err *err)
{
	const void *blob = sqlite3_column_blob(st, i);
	int len = sqlite3_column_bytes(st, i);
	int r = -EIO;

	if (sqlite3_column_type(st, i) == SQLITE_BLOB && wire_dataset_unpack(blob, (size_t)len, ret, NULL) == 0)
		r = 0;
	if (r < 0)
		emc_err_set(err, r, "store: campaign %lld: stored dataset reference is %s", (long long)campaign_id,
			    sqlite3_column_type(st, i) == SQLITE_BLOB ? "corrupt" : "missing");
	return r;
}

/* One row of ST_LOAD_CAMPAIGNS. */
static int campaign_row_read(sqlite3_stmt *st, store_campaign_row *c, emc_err *err)
{
	memset(c, 0, sizeof *c);
	c->id = sqlite3_column_int64(st, 0);
	col_text(st, 1, c->name, sizeof c->name);
	if (store_campaign_state_parse(COL_TEXT(st, 2), &c->state) < 0)
		return bad_state(st, 2, "campaigns", c->id, err);
	c->search.start = sqlite3_column_int64(st, 3);
	c->search.precision = sqlite3_column_double(st, 4);
	c->search.max_n = sqlite3_column_int64(st, 5);
	c->n_total = sqlite3_column_int64(st, 6);
	c->shape.channels = col_int(st, 7);
	c->shape.height = col_int(st, 8);
	c->shape.width = col_int(st, 9);
	c->shape.classes = col_int(st, 10);
	if (sqlite3_column_bytes(st, 12) == (int)sizeof c->dataset_hash)
		memcpy(c->dataset_hash, sqlite3_column_blob(st, 12), sizeof c->dataset_hash);
	if (store_method_parse(COL_TEXT(st, 13), &c->search.method) < 0)
		return emc_err_set(err, -EIO, "store: campaigns: row %lld has an unknown method '%s'", (long long)c->id,
				   COL_TEXT(st, 13));
	/* NULL (a version-1 file) reads as 0: the defaults. */
	c->search.quantile = sqlite3_column_double(st, 14);
	c->search.min_seeds = col_int(st, 15);
	c->search.confidence = sqlite3_column_double(st, 16);
	c->search.grid_points = col_int(st, 17);
	c->search.spec_depth = col_int(st, 18);
	c->search.indifference = sqlite3_column_double(st, 19);
	/* NULL (a file of version 2 or older): no pin. */
	col_text(st, 20, c->engine.blas_core, sizeof c->engine.blas_core);
	c->engine.blas_threads = col_int(st, 21);
	if (c->engine.blas_threads < 0 || c->engine.blas_threads > EMC_SPEC_MAX_BLAS_THREADS)
		return emc_err_set(err, -EIO, "store: campaigns: row %lld pins %d BLAS threads", (long long)c->id,
				   c->engine.blas_threads);
	return dataset_ref_read(st, 11, c->id, &c->dataset, err);
}

static int load_campaigns(store *s, store_campaign_fn fn, void *ctx, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_LOAD_CAMPAIGNS, err);
	int r;

	if (!st)
		return -EIO;
	while ((r = step_row(s, st, "load campaigns", err)) == 1) {
		store_campaign_row c;

		r = campaign_row_read(st, &c, err);
		if (r == 0)
			r = fn(ctx, &c);
		if (r != 0) {
			stmt_done(st);
			return r;
		}
	}
	return r;
}

static int load_cells(store *s, store_cell_fn fn, void *ctx, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_LOAD_CELLS, err);
	int r;

	if (!st)
		return -EIO;
	while ((r = step_row(s, st, "load cells", err)) == 1) {
		store_cell_row c;
		emc_err why = { "" };
		const void *blob;
		int len;

		memset(&c, 0, sizeof c);
		c.id = sqlite3_column_int64(st, 0);
		c.campaign_id = sqlite3_column_int64(st, 1);
		c.index = col_int(st, 2);
		blob = sqlite3_column_blob(st, 3);
		len = sqlite3_column_bytes(st, 3);
		r = wire_cell_unpack(blob ? blob : "", (size_t)len, &c.cfg, &why);
		if (r < 0) {
			emc_err_set(err, r, "store: cell %lld: stored config: %s", (long long)c.id, why.msg);
			stmt_done(st);
			return r;
		}
		if (store_cell_state_parse(COL_TEXT(st, 4), &c.state) < 0) {
			r = bad_state(st, 4, "cells", c.id, err);
			stmt_done(st);
			return r;
		}
		c.lo = sqlite3_column_int64(st, 5);
		c.hi = sqlite3_column_int64(st, 6);
		if (seeds_read(st, 7, c.cfg.seed, &c.n_seeds, c.seeds) < 0) {
			r = emc_err_set(err, -EIO, "store: cell %lld: stored seed pool is corrupt", (long long)c.id);
			stmt_done(st);
			return r;
		}
		r = fn(ctx, &c);
		if (r != 0) {
			stmt_done(st);
			return r;
		}
	}
	return r;
}

static int load_trials(store *s, store_trial_fn fn, void *ctx, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_LOAD_TRIALS, err);
	int r;

	if (!st)
		return -EIO;
	while ((r = step_row(s, st, "load trials", err)) == 1) {
		store_trial_row t;

		memset(&t, 0, sizeof t);
		t.id = sqlite3_column_int64(st, 0);
		t.cell_id = sqlite3_column_int64(st, 1);
		t.n = sqlite3_column_int64(st, 2);
		if (store_trial_state_parse(COL_TEXT(st, 3), &t.state) < 0) {
			r = bad_state(st, 3, "trials", t.id, err);
			stmt_done(st);
			return r;
		}
		t.seed_index = col_int(st, 4);
		t.attempt_id = sqlite3_column_int64(st, 5);
		t.attempts_lost = col_int(st, 6);
		t.attempts_failed = col_int(st, 7);
		t.worker_id = sqlite3_column_int64(st, 8);
		t.progressed = sqlite3_column_int(st, 9) != 0;
		r = fn(ctx, &t);
		if (r != 0) {
			stmt_done(st);
			return r;
		}
	}
	return r;
}

int store_load_outcomes(store *s, int64_t cell_id, store_outcome_fn fn, void *ctx, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_LOAD_OUTCOMES, err);
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, cell_id);
	while ((r = step_row(s, st, "load outcomes", err)) == 1) {
		store_outcome_row o = {
			.trial_id = sqlite3_column_int64(st, 0),
			.cell_id = sqlite3_column_int64(st, 1),
			.n = sqlite3_column_int64(st, 2),
			.seed_index = col_int(st, 3),
			.reason = EMC_STOP_NONE,
		};

		if (store_trial_state_parse(COL_TEXT(st, 4), &o.state) < 0)
			r = bad_state(st, 4, "trials", o.trial_id, err);
		else if (COL_TEXT(st, 5) && emc_stop_reason_parse(COL_TEXT(st, 5), &o.reason) < 0)
			r = emc_err_set(err, -EIO, "store: trials: row %lld has an unknown stop reason '%s'",
					(long long)o.trial_id, COL_TEXT(st, 5));
		else
			r = fn(ctx, &o);
		if (r != 0) {
			stmt_done(st);
			return r;
		}
	}
	return r;
}

/* Not one transaction: the coordinator is the only writer and calls this
 * before it serves anyone, and callbacks stay free to write (a callback
 * may, say, mark a cell failed) without nesting transactions. Whether a
 * row a callback writes is visited by the walk still under way is up to
 * SQLite; callbacks must not rely on either. A NULL callback skips its
 * walk. */
int store_load_active(store *s, store_campaign_fn on_campaign, store_cell_fn on_cell, store_trial_fn on_trial,
		      void *ctx, emc_err *err)
{
	int r = 0;

	if (on_campaign)
		r = load_campaigns(s, on_campaign, ctx, err);
	if (r == 0 && on_cell)
		r = load_cells(s, on_cell, ctx, err);
	if (r == 0 && on_trial)
		r = load_trials(s, on_trial, ctx, err);
	return r;
}

int store_recover_running(store *s, emc_err *err)
{
	sqlite3_stmt *st;
	int r, count;

	r = tx_begin(s, err);
	if (r < 0)
		return r;
	st = stmt_get(s, ST_RECOVER_ATTEMPTS, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, emc_wall_ms());
	r = exec_done(s, st, "mark running attempts lost", err);
	if (r < 0)
		goto fail;
	r = run_id(s, ST_RECOVER_TRIALS, "requeue running trials", err);
	if (r < 0)
		goto fail;
	count = sqlite3_changes(s->db);
	r = tx_commit(s, err);
	return r < 0 ? r : count;
fail:
	tx_rollback(s);
	return r;
}

/* ---- trials and attempts ------------------------------------------------ */

/* Asking again for a trial that was cancelled (in flight when it became
 * pointless, or its campaign was cancelled) puts it back in the queue:
 * there is still one trial per (cell, n, seed index). One that runs or has
 * a result is refused, so that a caller can never queue a trial that
 * cannot start. */
static int trial_find(store *s, int64_t cell_id, int64_t n, int seed_index, int64_t *ret_id, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_TRIAL_FIND, err);
	store_trial_state state;
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, cell_id);
	sqlite3_bind_int64(st, 2, n);
	sqlite3_bind_int(st, 3, seed_index);
	r = step_row(s, st, "find trial", err);
	if (r == 0)
		return emc_err_set(err, -EIO, "store: trial (cell %lld, n %lld, seed %d) vanished", (long long)cell_id,
				   (long long)n, seed_index);
	if (r < 0)
		return r;
	*ret_id = sqlite3_column_int64(st, 0);
	if (store_trial_state_parse(COL_TEXT(st, 1), &state) < 0)
		r = bad_state(st, 1, "trials", *ret_id, err);
	else if (state != STORE_TRIAL_PENDING)
		r = emc_err_set(err, -EALREADY, "store: trial %lld (cell %lld, n %lld, seed %d) is %s, not pending",
				(long long)*ret_id, (long long)cell_id, (long long)n, seed_index,
				store_trial_state_name(state));
	stmt_done(st);
	return r;
}

int store_trial_insert(store *s, int64_t cell_id, int64_t n, int seed_index, uint64_t seed, int64_t *ret_trial_id,
		       emc_err *err)
{
	sqlite3_stmt *st;
	int64_t id = 0;
	int r;

	if (n < 1 || seed_index < 0 || seed_index >= EMC_SPEC_MAX_SEEDS)
		return emc_err_set(err, -EINVAL, "store: cell %lld: invalid trial (n %lld, seed index %d)",
				   (long long)cell_id, (long long)n, seed_index);
	r = tx_begin(s, err);
	if (r < 0)
		return r;
	st = stmt_get(s, ST_TRIAL_INSERT, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, cell_id);
	sqlite3_bind_int64(st, 2, n);
	sqlite3_bind_int(st, 3, seed_index);
	sqlite3_bind_int64(st, 4, (int64_t)seed); /* its bit pattern, as cells.seed */
	sqlite3_bind_int64(st, 5, emc_wall_ms());
	r = exec_done(s, st, "insert trial", err);
	if (r == -ENOENT)
		r = emc_err_set(err, -ENOENT, "store: no cell with id %lld", (long long)cell_id);
	if (r < 0)
		goto fail;

	st = stmt_get(s, ST_TRIAL_REVIVE, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, cell_id);
	sqlite3_bind_int64(st, 2, n);
	sqlite3_bind_int(st, 3, seed_index);
	r = exec_done(s, st, "requeue cancelled trial", err);
	if (r == 0)
		r = trial_find(s, cell_id, n, seed_index, &id, err);
	if (r < 0)
		goto fail;
	r = tx_commit(s, err);
	if (r < 0)
		return r;
	if (ret_trial_id)
		*ret_trial_id = id;
	return 0;
fail:
	tx_rollback(s);
	return r;
}

/* Read a trial's state, attempt count and cell; -ENOENT if there is none. */
static int trial_get(store *s, int64_t trial_id, store_trial_state *state, int64_t *attempts, int64_t *cell_id,
		     emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_TRIAL_GET, err);
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, trial_id);
	r = step_row(s, st, "read trial", err);
	if (r < 0)
		return r;
	if (r == 0)
		return emc_err_set(err, -ENOENT, "store: no trial with id %lld", (long long)trial_id);
	r = store_trial_state_parse(COL_TEXT(st, 0), state) < 0 ? bad_state(st, 0, "trials", trial_id, err) : 0;
	*attempts = sqlite3_column_int64(st, 1);
	*cell_id = sqlite3_column_int64(st, 2);
	stmt_done(st);
	return r;
}

int store_attempt_start(store *s, int64_t trial_id, int64_t worker_id, int64_t lease_ms, int64_t *ret_attempt_id,
			emc_err *err)
{
	sqlite3_stmt *st;
	store_trial_state state;
	int64_t attempts, cell_id, now, id;
	int r;

	r = tx_begin(s, err);
	if (r < 0)
		return r;
	r = trial_get(s, trial_id, &state, &attempts, &cell_id, err);
	if (r < 0)
		goto fail;
	if (state != STORE_TRIAL_PENDING) {
		r = emc_err_set(err, -EALREADY, "store: trial %lld is %s, not pending", (long long)trial_id,
				store_trial_state_name(state));
		goto fail;
	}
	st = stmt_get(s, ST_ATTEMPT_INSERT, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	now = emc_wall_ms();
	sqlite3_bind_int64(st, 1, trial_id);
	sqlite3_bind_int64(st, 2, attempts + 1);
	if (worker_id > 0)
		sqlite3_bind_int64(st, 3, worker_id);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, now + lease_ms);
	r = exec_done(s, st, "insert attempt", err);
	if (r == -ENOENT)
		r = emc_err_set(err, -ENOENT, "store: no worker with id %lld", (long long)worker_id);
	if (r < 0)
		goto fail;
	id = sqlite3_last_insert_rowid(s->db);

	st = stmt_get(s, ST_TRIAL_START, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, trial_id);
	sqlite3_bind_int64(st, 2, attempts + 1);
	r = exec_done(s, st, "start trial", err);
	if (r < 0)
		goto fail;
	r = tx_commit(s, err);
	if (r < 0)
		return r;
	if (ret_attempt_id)
		*ret_attempt_id = id;
	return 0;
fail:
	tx_rollback(s);
	return r;
}

/* The state a cell update writes. */
static store_cell_state update_state(const store_cell_update *cell)
{
	return cell->failed ? STORE_CELL_FAILED : cell->done ? STORE_CELL_DONE : STORE_CELL_SEARCHING;
}

static int cell_update(store *s, int64_t cell_id, const store_cell_update *cell, store_cell_state state,
		       emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_CELL_UPDATE, err);
	const int counts[] = { cell->seeds_used,  cell->lo_fits,    cell->lo_total,    cell->hi_fits,
			       cell->hi_total,	  cell->hi_plateau, cell->hi_gradnorm, cell->hi_budget,
			       cell->unconverged, cell->plateau_decided, cell->nonmonotone, cell->uncertain,
			       cell->trials_consumed };
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, cell_id);
	sqlite3_bind_int64(st, 2, cell->lo);
	sqlite3_bind_int64(st, 3, cell->hi);
	sqlite3_bind_int(st, 4, cell->full ? 1 : 0);
	sqlite3_bind_text(st, 5, store_cell_state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, cell->emc_low);
	sqlite3_bind_int64(st, 7, cell->emc_high);
	for (int i = 0; i < (int)(sizeof counts / sizeof counts[0]); i++)
		sqlite3_bind_int(st, 8 + i, counts[i]);
	r = exec_done(s, st, "update cell", err);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = emc_err_set(err, -ENOENT, "store: no cell with id %lld", (long long)cell_id);
	return r;
}

/* The trial state a final outcome records; -EINVAL for any other. */
static int outcome_state(emc_outcome o, store_trial_state *ret)
{
	switch (o) {
	case EMC_OUTCOME_FIT:
		*ret = STORE_TRIAL_FIT;
		return 0;
	case EMC_OUTCOME_NO_FIT:
		*ret = STORE_TRIAL_NO_FIT;
		return 0;
	case EMC_OUTCOME_FAILED:
		*ret = STORE_TRIAL_FAILED;
		return 0;
	case EMC_OUTCOME_CANCELLED:
		*ret = STORE_TRIAL_CANCELLED;
		return 0;
	default:
		return -EINVAL;
	}
}

/* The fence of store_trial_finish: the trial is running, and attempt_id is
 * its running attempt. Fills *ret_worker_id (0 when none). */
static int finish_fence(store *s, int64_t trial_id, int64_t attempt_id, int64_t *ret_cell_id,
			int64_t *ret_worker_id, emc_err *err)
{
	sqlite3_stmt *st;
	store_trial_state state;
	int64_t attempts;
	int r;

	r = trial_get(s, trial_id, &state, &attempts, ret_cell_id, err);
	if (r < 0)
		return r;
	if (state != STORE_TRIAL_RUNNING)
		return emc_err_set(err, -EALREADY, "store: trial %lld is %s: result of attempt %lld ignored",
				   (long long)trial_id, store_trial_state_name(state), (long long)attempt_id);
	st = stmt_get(s, ST_ATTEMPT_RUNNING, err);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, attempt_id);
	sqlite3_bind_int64(st, 2, trial_id);
	r = step_row(s, st, "read attempt", err);
	if (r < 0)
		return r;
	if (r == 0)
		return emc_err_set(err, -EALREADY, "store: attempt %lld is not trial %lld's running attempt",
				   (long long)attempt_id, (long long)trial_id);
	*ret_worker_id = sqlite3_column_type(st, 0) != SQLITE_NULL ? sqlite3_column_int64(st, 0) : 0;
	stmt_done(st);
	return 0;
}

/* Write the result into the trial row. */
static int finish_trial_row(store *s, int64_t trial_id, store_trial_state state, const emc_trial_result *res,
			    int64_t now, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_TRIAL_FINISH, err);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, trial_id);
	sqlite3_bind_text(st, 2, store_trial_state_name(state), -1, SQLITE_STATIC);
	bind_text(st, 3, res->reason != EMC_STOP_NONE ? emc_stop_reason_name(res->reason) : NULL);
	sqlite3_bind_int64(st, 4, res->epochs);
	sqlite3_bind_int64(st, 5, res->steps);
	sqlite3_bind_double(st, 6, res->train_seconds);
	sqlite3_bind_double(st, 7, res->loss);
	sqlite3_bind_double(st, 8, res->accuracy);
	sqlite3_bind_double(st, 9, res->grad_norm);
	sqlite3_bind_double(st, 10, res->budget_used);
	/* The message came from a worker: bounded by its array, maybe unterminated. */
	if (res->error[0])
		sqlite3_bind_text(st, 11, res->error, (int)strnlen(res->error, sizeof res->error), SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 11);
	sqlite3_bind_int64(st, 12, now);
	if (res->has_hessian) {
		sqlite3_bind_double(st, 13, res->hessian_min);
		sqlite3_bind_double(st, 14, res->hessian_max);
	} else {
		sqlite3_bind_null(st, 13);
		sqlite3_bind_null(st, 14);
	}
	sqlite3_bind_int64(st, 15, res->sample_grads);
	/* Provenance came from a worker's Hello: bounded, maybe unterminated. */
	bind_text_n(st, 16, res->host, sizeof res->host);
	bind_text_n(st, 17, res->emc_version, sizeof res->emc_version);
	bind_text_n(st, 18, res->blas_core, sizeof res->blas_core);
	if (res->blas_threads > 0)
		sqlite3_bind_int(st, 19, res->blas_threads);
	else
		sqlite3_bind_null(st, 19);
	return exec_done(s, st, "finish trial", err);
}

/* The cell's compute grows by the trial's, whatever the trial decided. */
static int cell_add_compute(store *s, int64_t cell_id, const emc_trial_result *res, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_CELL_COMPUTE, err);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, cell_id);
	sqlite3_bind_int64(st, 2, res->sample_grads > 0 ? res->sample_grads : 0);
	sqlite3_bind_double(st, 3, res->train_seconds > 0 ? res->train_seconds : 0);
	return exec_done(s, st, "add cell compute", err);
}

static int attempt_set_end(store *s, int64_t attempt_id, store_attempt_state state, int64_t now, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_ATTEMPT_END, err);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, attempt_id);
	sqlite3_bind_text(st, 2, store_attempt_state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	return exec_done(s, st, "end attempt", err);
}

int store_trial_finish(store *s, int64_t trial_id, int64_t attempt_id, const emc_trial_result *res,
		       const store_cell_update *cell, emc_err *err)
{
	store_trial_state state;
	int64_t cell_id = 0, worker_id = 0, now = emc_wall_ms();
	int r;

	assert(res);
	if (outcome_state(res->outcome, &state) < 0)
		return emc_err_set(err, -EINVAL, "store: trial %lld: result without a final outcome (%d)",
				   (long long)trial_id, (int)res->outcome);
	r = tx_begin(s, err);
	if (r < 0)
		return r;
	r = finish_fence(s, trial_id, attempt_id, &cell_id, &worker_id, err);
	if (r == 0)
		r = finish_trial_row(s, trial_id, state, res, now, err);
	if (r == 0)
		r = attempt_set_end(s, attempt_id,
				    state == STORE_TRIAL_CANCELLED ? STORE_ATTEMPT_CANCELLED : STORE_ATTEMPT_DONE, now,
				    err);
	if (r == 0 && worker_id > 0) {
		sqlite3_stmt *st = stmt_get(s, ST_WORKER_BUMP, err);

		if (st)
			sqlite3_bind_int64(st, 1, worker_id);
		r = st ? exec_done(s, st, "count worker's trial", err) : -EIO;
	}
	if (r == 0)
		r = cell_add_compute(s, cell_id, res, err);
	if (r == 0 && cell)
		r = cell_update(s, cell_id, cell, update_state(cell), err);
	if (r < 0) {
		tx_rollback(s);
		return r;
	}
	return tx_commit(s, err);
}

int store_attempt_end(store *s, int64_t attempt_id, store_attempt_state state, emc_err *err)
{
	sqlite3_stmt *st;
	store_attempt_state cur;
	int64_t trial_id;
	int r;

	if (!store_attempt_state_ended(state))
		return emc_err_set(err, -EINVAL, "store: attempt %lld: invalid end state %s (%d)", (long long)attempt_id,
				   store_attempt_state_name(state) ? store_attempt_state_name(state) : "?", (int)state);
	r = tx_begin(s, err);
	if (r < 0)
		return r;
	st = stmt_get(s, ST_ATTEMPT_GET, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, attempt_id);
	r = step_row(s, st, "read attempt", err);
	if (r < 0)
		goto fail;
	if (r == 0) {
		r = emc_err_set(err, -ENOENT, "store: no attempt with id %lld", (long long)attempt_id);
		goto fail;
	}
	trial_id = sqlite3_column_int64(st, 0);
	r = store_attempt_state_parse(COL_TEXT(st, 1), &cur) < 0 ? bad_state(st, 1, "attempts", attempt_id, err) : 0;
	stmt_done(st);
	if (r < 0)
		goto fail;
	if (cur != STORE_ATTEMPT_RUNNING) {
		r = emc_err_set(err, -EALREADY, "store: attempt %lld is already %s", (long long)attempt_id,
				store_attempt_state_name(cur));
		goto fail;
	}
	r = attempt_set_end(s, attempt_id, state, emc_wall_ms(), err);
	if (r < 0)
		goto fail;
	/* At most one running attempt per trial, so a running trial was
	 * running this one. */
	st = stmt_get(s, ST_TRIAL_REQUEUE, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, trial_id);
	r = exec_done(s, st, "requeue trial", err);
	if (r < 0)
		goto fail;
	return tx_commit(s, err);
fail:
	tx_rollback(s);
	return r;
}

/* One UPDATE of the row `key` binding (key, now), in its own transaction;
 * when it changes nothing, fails with errnum and none_fmt (one %lld: key). */
static int update_row(store *s, enum stmt_id id, int64_t key, const char *what, int errnum, const char *none_fmt,
		      emc_err *err)
{
	sqlite3_stmt *st;
	int r;

	r = tx_begin(s, err);
	if (r < 0)
		return r;
	st = stmt_get(s, id, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, key);
	sqlite3_bind_int64(st, 2, emc_wall_ms());
	r = exec_done(s, st, what, err);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = emc_err_set(err, errnum, none_fmt, (long long)key);
	if (r < 0)
		goto fail;
	return tx_commit(s, err);
fail:
	tx_rollback(s);
	return r;
}

int store_trial_cancel(store *s, int64_t trial_id, emc_err *err)
{
	return update_row(s, ST_TRIAL_CANCEL, trial_id, "cancel trial", -EALREADY, "store: trial %lld is not pending",
			  err);
}

int store_attempt_lost(store *s, int64_t attempt_id, emc_err *err)
{
	return store_attempt_end(s, attempt_id, STORE_ATTEMPT_LOST, err);
}

int store_trial_fail(store *s, int64_t trial_id, const char *error, int64_t cell_id, const store_cell_update *cell,
		     emc_err *err)
{
	sqlite3_stmt *st;
	int64_t now = emc_wall_ms();
	int r;

	r = tx_begin(s, err);
	if (r < 0)
		return r;
	st = stmt_get(s, ST_ATTEMPT_FAIL_RUNNING, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, trial_id);
	sqlite3_bind_int64(st, 2, now);
	r = exec_done(s, st, "fail running attempt", err);
	if (r < 0)
		goto fail;
	st = stmt_get(s, ST_TRIAL_FAIL, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, trial_id);
	bind_text(st, 2, error);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_text(st, 4, emc_stop_reason_name(EMC_STOP_ERROR), -1, SQLITE_STATIC);
	r = exec_done(s, st, "fail trial", err);
	if (r < 0)
		goto fail;
	if (sqlite3_changes(s->db) == 0) {
		r = emc_err_set(err, -EALREADY, "store: trial %lld is already finished", (long long)trial_id);
		goto fail;
	}
	if (cell) {
		r = cell_update(s, cell_id, cell, update_state(cell), err);
		if (r < 0)
			goto fail;
	}
	return tx_commit(s, err);
fail:
	tx_rollback(s);
	return r;
}

/* ---- cells -------------------------------------------------------------- */

/* With cell == NULL only the state changes. */
int store_cell_set(store *s, int64_t cell_id, const store_cell_update *cell, store_cell_state state, emc_err *err)
{
	const char *name = store_cell_state_name(state);
	sqlite3_stmt *st;
	int r;

	if (!name)
		return emc_err_set(err, -EINVAL, "store: cell %lld: invalid state %d", (long long)cell_id, (int)state);
	r = tx_begin(s, err);
	if (r < 0)
		return r;
	if (cell) {
		r = cell_update(s, cell_id, cell, state, err);
	} else {
		st = stmt_get(s, ST_CELL_SET_STATE, err);
		if (!st) {
			r = -EIO;
			goto fail;
		}
		sqlite3_bind_int64(st, 1, cell_id);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		r = exec_done(s, st, "set cell state", err);
		if (r == 0 && sqlite3_changes(s->db) == 0)
			r = emc_err_set(err, -ENOENT, "store: no cell with id %lld", (long long)cell_id);
	}
	if (r < 0)
		goto fail;
	return tx_commit(s, err);
fail:
	tx_rollback(s);
	return r;
}

/* ---- workers ------------------------------------------------------------ */

int store_worker_upsert(store *s, const char *identity, const char *host, int slots, int64_t *ret_worker_id,
			emc_err *err)
{
	sqlite3_stmt *st;
	int64_t id;
	int r;

	assert(identity);
	r = tx_begin(s, err);
	if (r < 0)
		return r;
	st = stmt_get(s, ST_WORKER_UPSERT, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_text(st, 1, identity, -1, SQLITE_STATIC);
	bind_text(st, 2, host);
	sqlite3_bind_int(st, 3, slots);
	sqlite3_bind_int64(st, 4, emc_wall_ms());
	r = exec_done(s, st, "register worker", err);
	if (r < 0)
		goto fail;
	st = stmt_get(s, ST_WORKER_FIND, err);
	if (!st) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_text(st, 1, identity, -1, SQLITE_STATIC);
	r = step_row(s, st, "find worker", err);
	if (r == 0)
		r = emc_err_set(err, -EIO, "store: worker '%s' vanished", identity);
	if (r < 0)
		goto fail;
	id = sqlite3_column_int64(st, 0);
	stmt_done(st);
	r = tx_commit(s, err);
	if (r < 0)
		return r;
	if (ret_worker_id)
		*ret_worker_id = id;
	return 0;
fail:
	tx_rollback(s);
	return r;
}

int store_worker_seen(store *s, int64_t worker_id, emc_err *err)
{
	return update_row(s, ST_WORKER_SEEN, worker_id, "worker seen", -ENOENT, "store: no worker with id %lld", err);
}

/* ---- progress ----------------------------------------------------------- */

int store_counts_get(store *s, int64_t campaign_id, store_counts *ret, emc_err *err)
{
	sqlite3_stmt *st = stmt_get(s, ST_COUNTS, err);
	store_counts c;
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, campaign_id);
	r = step_row(s, st, "count", err);
	if (r < 0)
		return r;
	if (r == 0)
		return emc_err_set(err, -EIO, "store: count: no row");
	c.cells = sqlite3_column_int64(st, 0);
	c.cells_done = sqlite3_column_int64(st, 1);
	c.trials_pending = sqlite3_column_int64(st, 2);
	c.trials_running = sqlite3_column_int64(st, 3);
	c.trials_done = sqlite3_column_int64(st, 4);
	stmt_done(st);
	*ret = c;
	return 0;
}
