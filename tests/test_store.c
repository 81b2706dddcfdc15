/* test_store.c — the campaign database and the reports read from it.
 *
 * Every test works on a real SQLite file in a fresh temporary directory:
 * the schema and its version, a campaign's cells round-tripping through
 * their stored configuration, the trial/attempt life cycle with its
 * fencing of late and lost results, crash recovery, progress counts,
 * refusal of newer schemas and of writes through a read-only handle, the
 * state name tables (each against the schema's CHECKs and the SQL sets),
 * refusal of states the program does not know, the rows of the report
 * queries, and the status, results and trials reports in every format.
 *
 * The tests read the file through SQLite connections of their own: the
 * store lends its connection to nobody.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "cell.h"
#include "report.h"
#include "spec.h"
#include "store.h"
#include "store_ckpt.h"
#include "status.h"
#include "store_report.h"
#include "summary.h"
#include "testutil.h"
#include "wire.h"

#define N_CELLS 3

typedef struct fixture {
	char *dir;
	char *path;
	store *s;
	emc_campaign_spec spec;
	emc_cell_cfg cells[N_CELLS];
	store_dataset_info ds;
	int64_t campaign_id;
	int64_t cell_ids[N_CELLS];
} fixture;

/* Three cells: mlp[8], mlp[16, 16] (a comma, for CSV quoting) and mlp[32],
 * with different optimizers, labels and seeds. */
static void make_spec(fixture *f, const char *name)
{
	memset(&f->spec, 0, sizeof f->spec);
	snprintf(f->spec.name, sizeof f->spec.name, "%s", name);
	snprintf(f->spec.dataset.name, sizeof f->spec.dataset.name, "fashion-mnist");
	snprintf(f->spec.dataset.format, sizeof f->spec.dataset.format, "idx");
	snprintf(f->spec.dataset.split, sizeof f->spec.dataset.split, "train");
	snprintf(f->spec.dataset.images, sizeof f->spec.dataset.images, "/data/train-images-idx3-ubyte.gz");
	snprintf(f->spec.dataset.labels, sizeof f->spec.dataset.labels, "/data/train-labels-idx1-ubyte.gz");
	f->spec.search.start = 16;
	f->spec.search.precision = 0.01;
	f->spec.search.max_n = 100;
	for (int i = 0; i < N_CELLS; i++) {
		emc_cell_cfg *c = &f->cells[i];

		emc_cell_cfg_defaults(c);
		c->model.widths[0] = 8 << i;
		c->seed = (uint64_t)(1000 + i);
		c->optim.lr = 0.01 * (i + 1);
	}
	f->cells[1].model.n_widths = 2;
	f->cells[1].model.widths[1] = 16;
	f->cells[1].optim.name = EMC_OPT_ADAM;
	f->cells[1].labels = EMC_LABELS_RANDOM;
	f->cells[2].model.activation = EMC_ACT_TANH;
	f->cells[2].budget.max_steps = 30000;
	f->cells[2].seed = UINT64_MAX - 5; /* above 2^63: kept exactly in the blob */
	f->spec.n_cells = N_CELLS;
	f->spec.cells = f->cells;
	f->ds.n_total = 60000;
	f->ds.shape = (emc_input_shape){ .channels = 1, .height = 28, .width = 28, .classes = 10 };
	snprintf(f->ds.description, sizeof f->ds.description, "fashion-mnist/train");
}

static int collect_cell_ids(void *ctx, const store_cell_row *c)
{
	fixture *f = ctx;

	if (c->index >= 0 && c->index < N_CELLS)
		f->cell_ids[c->index] = c->id;
	return 0;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	emc_err err = { "" };

	assert_non_null(f);
	f->dir = tmpdir_new();
	f->path = malloc(strlen(f->dir) + 16);
	assert_non_null(f->path);
	sprintf(f->path, "%s/emc.db", f->dir);
	if (store_open(f->path, false, &f->s, &err) < 0)
		fail_msg("%s", err.msg);
	make_spec(f, "mnist, \"small\"");
	if (store_campaign_insert(f->s, &f->spec, "name: x\n", "abc123", &f->ds, &f->campaign_id, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(store_load_active(f->s, NULL, collect_cell_ids, NULL, f, &err), 0);
	for (int i = 0; i < N_CELLS; i++)
		assert_true(f->cell_ids[i] > 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	store_close(&f->s);
	assert_null(f->s);
	store_close(&f->s); /* NULL-safe */
	tmpdir_remove(&f->dir);
	free(f->path);
	free(f);
	return 0;
}

/* ---- raw SQL helpers for looking behind the store's back ----------------- */

/* The file as another reader sees it: a connection of its own, read-only,
 * per query, so it sees exactly what is committed. */
static sqlite3_stmt *sql_query(const char *path, const char *sql, sqlite3 **db)
{
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(*db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(*db));
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("no row for %s", sql);
	return st;
}

static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st = sql_query(path, sql, &db);
	int64_t v = sqlite3_column_int64(st, 0);

	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static char *sql_text(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st = sql_query(path, sql, &db);
	char *v = strdup(sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "(null)");

	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Run one statement on the file through a connection of its own. */
static int sql_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	int rc;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* The store hands its connection to nobody, but some settings (pragmas,
 * the read-only flag) belong to a connection and cannot be read from
 * another. SQLite calls an auto-extension for every connection the process
 * opens: this one notes the last, so a test can look at the connection of
 * the store it opened just before. */
static sqlite3 *last_connection;

static int note_connection(sqlite3 *db, char **errmsg, const struct sqlite3_api_routines *api)
{
	(void)errmsg;
	(void)api;
	last_connection = db;
	return SQLITE_OK;
}

static sqlite3 *store_open_seen(const char *path, bool readonly, store **ret)
{
	emc_err err = { "" };

	last_connection = NULL;
	if (store_open(path, readonly, ret, &err) < 0)
		fail_msg("%s", err.msg);
	assert_non_null(last_connection);
	return last_connection;
}

#define assert_sql_int(path, expect, ...)                                   \
	do {                                                             \
		char q_[512];                                            \
		snprintf(q_, sizeof q_, __VA_ARGS__);                    \
		assert_int_equal(sql_int((path), q_), (expect));            \
	} while (0)

#define assert_sql_text(path, expect, ...)                                  \
	do {                                                             \
		char q_[512], *v_;                                       \
		snprintf(q_, sizeof q_, __VA_ARGS__);                    \
		v_ = sql_text((path), q_);                                  \
		assert_string_equal(v_, (expect));                       \
		free(v_);                                                \
	} while (0)

/* A whole trial: insert, lease, record. */
static int64_t run_trial(fixture *f, int cell, int64_t n, emc_outcome outcome, emc_stop_reason reason,
			 double seconds, const store_cell_update *u)
{
	emc_err err = { "" };
	emc_trial_result res;
	int64_t trial, attempt;

	memset(&res, 0, sizeof res);
	res.outcome = outcome;
	res.reason = reason;
	res.epochs = 10;
	res.steps = 100;
	res.train_seconds = seconds;
	res.accuracy = outcome == EMC_OUTCOME_FIT ? 1.0 : 0.9;
	res.sample_grads = 10 * n;
	snprintf(res.host, sizeof res.host, "host-%d", cell);
	snprintf(res.emc_version, sizeof res.emc_version, "0.9");
	/* cell 0's trial at 24 ran on another kernel than the rest */
	snprintf(res.blas_core, sizeof res.blas_core, "%s", n == 24 ? "SkylakeX" : "Haswell");
	res.blas_threads = 1;
	if (n == 100) { /* one trial carries a minimum-or-saddle certificate */
		res.has_hessian = true;
		res.hessian_min = -0.00125;
		res.hessian_max = 42.5;
	}
	/* seed index 0 of a pool whose first seed needs all 64 bits */
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[cell], n, 0, UINT64_MAX - 5, &trial, &err), 0);
	assert_int_equal(store_attempt_start(f->s, trial, 0, 60000, &attempt, &err), 0);
	if (store_trial_finish(f->s, trial, attempt, &res, u, &err) < 0)
		fail_msg("%s", err.msg);
	return trial;
}

/* ---- tests -------------------------------------------------------------- */

static void test_schema_created(void **state)
{
	fixture *f = *state;

	sqlite3 *db;
	sqlite3_stmt *st;

	assert_sql_int(f->path, STORE_SCHEMA_VERSION, "PRAGMA user_version");
	assert_sql_text(f->path, "wal", "PRAGMA journal_mode");
	assert_sql_int(f->path, 5,
		       "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
		       " ('campaigns', 'cells', 'trials', 'attempts', 'workers')");
	/* reopening an existing database keeps it as it is */
	store_close(&f->s);
	db = store_open_seen(f->path, false, &f->s);
	assert_sql_int(f->path, 1, "SELECT count(*) FROM campaigns");
	assert_sql_int(f->path, N_CELLS, "SELECT count(*) FROM cells");
	/* the store's own connection checks references and commits durably */
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT * FROM pragma_foreign_keys, pragma_synchronous", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	assert_int_equal(sqlite3_column_int(st, 1), 2); /* FULL */
	sqlite3_finalize(st);
}

static bool cfg_equal(const emc_cell_cfg *a, const emc_cell_cfg *b)
{
	const emc_model_cfg *m = &a->model, *n = &b->model;

	if (m->family != n->family || m->activation != n->activation || m->n_widths != n->n_widths)
		return false;
	for (int i = 0; i < m->n_widths; i++)
		if (m->widths[i] != n->widths[i])
			return false;
	return m->layers == n->layers && m->filters == n->filters && m->hidden == n->hidden && m->width == n->width &&
	       m->patch == n->patch && m->dim == n->dim && m->depth == n->depth && m->heads == n->heads &&
	       m->mlp_ratio == n->mlp_ratio && a->optim.name == b->optim.name && a->optim.lr == b->optim.lr &&
	       a->optim.momentum == b->optim.momentum && a->optim.nesterov == b->optim.nesterov &&
	       a->optim.weight_decay == b->optim.weight_decay && a->optim.beta1 == b->optim.beta1 &&
	       a->optim.beta2 == b->optim.beta2 && a->optim.eps == b->optim.eps && a->optim.batch == b->optim.batch &&
	       a->budget.max_epochs == b->budget.max_epochs && a->budget.max_steps == b->budget.max_steps &&
	       a->budget.max_seconds == b->budget.max_seconds &&
	       a->budget.plateau_epochs == b->budget.plateau_epochs &&
	       a->budget.plateau_rel == b->budget.plateau_rel && a->budget.eval_every == b->budget.eval_every &&
	       a->budget.fit_threshold == b->budget.fit_threshold && a->budget.grad_tol == b->budget.grad_tol &&
	       a->labels == b->labels && a->seed == b->seed;
}

typedef struct walk {
	fixture *f;
	char order[64]; /* 'c'ampaign, ce'l'l, 't'rial, in call order */
	int n;
	store_campaign_row campaign;
	store_cell_row cells[N_CELLS];
	int n_cells;
	store_trial_row trials[8];
	int n_trials;
	int stop_at_trial; /* return 42 at this trial (1-based); 0 = never */
	bool write_in_callback;
} walk;

static int on_campaign(void *ctx, const store_campaign_row *c)
{
	walk *w = ctx;

	w->order[w->n++] = 'c';
	w->campaign = *c;
	return 0;
}

static int on_cell(void *ctx, const store_cell_row *c)
{
	walk *w = ctx;

	w->order[w->n++] = 'l';
	if (w->n_cells < N_CELLS)
		w->cells[w->n_cells++] = *c;
	return 0;
}

static int on_trial(void *ctx, const store_trial_row *t)
{
	walk *w = ctx;

	w->order[w->n++] = 't';
	if (w->n_trials < 8)
		w->trials[w->n_trials++] = *t;
	/* Rows written during the walk may or may not be visited (SQLite
	 * leaves that open), so only the original trials write. */
	if (w->write_in_callback && t->n < 1000) {
		int64_t id;
		emc_err err = { "" };

		if (store_trial_insert(w->f->s, t->cell_id, 1000 + t->n, 0, 0, &id, &err) < 0)
			fail_msg("write during walk: %s", err.msg);
	}
	return w->n_trials == w->stop_at_trial ? 42 : 0;
}

static void test_campaign_roundtrip(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	walk w = { .f = f };
	char hash[65];
	int64_t id = -1, t1, t2;

	assert_int_equal(store_campaign_find(f->s, "mnist, \"small\"", &id, hash, NULL, &err), 1);
	assert_int_equal(id, f->campaign_id);
	assert_string_equal(hash, "abc123");
	id = -1;
	assert_int_equal(store_campaign_find(f->s, "nope", &id, NULL, NULL, &err), 0);
	assert_int_equal(id, -1);

	assert_int_equal(store_trial_insert(f->s, f->cell_ids[0], 16, 0, 0, &t1, &err), 0);
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[2], 32, 0, 0, &t2, &err), 0);
	assert_int_equal(store_load_active(f->s, on_campaign, on_cell, on_trial, &w, &err), 0);
	assert_string_equal(w.order, "cllltt");

	assert_int_equal(w.campaign.id, f->campaign_id);
	assert_string_equal(w.campaign.name, "mnist, \"small\"");
	assert_int_equal(w.campaign.state, STORE_CAMPAIGN_RUNNING);
	assert_string_equal(w.campaign.dataset.name, "fashion-mnist");
	assert_string_equal(w.campaign.dataset.images, "/data/train-images-idx3-ubyte.gz");
	assert_int_equal(w.campaign.search.start, 16);
	assert_true(w.campaign.search.precision == 0.01);
	assert_int_equal(w.campaign.search.max_n, 100);
	assert_int_equal(w.campaign.n_total, 60000);
	assert_int_equal(w.campaign.shape.height, 28);
	assert_int_equal(w.campaign.shape.classes, 10);

	assert_int_equal(w.n_cells, N_CELLS);
	for (int i = 0; i < N_CELLS; i++) {
		assert_int_equal(w.cells[i].index, i);
		assert_int_equal(w.cells[i].campaign_id, f->campaign_id);
		assert_int_equal(w.cells[i].state, STORE_CELL_SEARCHING);
		assert_int_equal(w.cells[i].lo, 0);
		assert_int_equal(w.cells[i].hi, 0);
		assert_true(cfg_equal(&w.cells[i].cfg, &f->cells[i]));
	}
	assert_true(w.cells[2].cfg.seed == UINT64_MAX - 5);
	/* the descriptive columns */
	assert_sql_text(f->path, "mlp[16,16]", "SELECT model FROM cells WHERE idx = 1");
	assert_sql_text(f->path, "adam", "SELECT optimizer FROM cells WHERE idx = 1");
	assert_sql_text(f->path, "random", "SELECT labels FROM cells WHERE idx = 1");
	assert_sql_text(f->path, "tanh", "SELECT activation FROM cells WHERE idx = 2");
	assert_sql_int(f->path, emc_model_params(&f->cells[1].model, &f->ds.shape), "SELECT params FROM cells WHERE idx = 1");
	assert_sql_int(f->path, 784 * 8 + 8 + 8 * 10 + 10, "SELECT params FROM cells WHERE idx = 0");

	assert_int_equal(w.n_trials, 2);
	assert_int_equal(w.trials[0].id, t1);
	assert_int_equal(w.trials[0].n, 16);
	assert_int_equal(w.trials[0].cell_id, f->cell_ids[0]);
	assert_int_equal(w.trials[0].state, STORE_TRIAL_PENDING);
	assert_int_equal(w.trials[1].id, t2);

	/* a second campaign of the same name is refused, nothing written */
	assert_int_equal(store_campaign_insert(f->s, &f->spec, "x", "y", &f->ds, &id, &err), -EEXIST);
	assert_contains(err.msg, "already exists");
	assert_sql_int(f->path, 1, "SELECT count(*) FROM campaigns");
	assert_sql_int(f->path, N_CELLS, "SELECT count(*) FROM cells");

	/* finished campaigns are not loaded */
	assert_int_equal(store_campaign_set_state(f->s, f->campaign_id, STORE_CAMPAIGN_DONE, &err), 0);
	assert_sql_int(f->path, 1, "SELECT finished_at > 0 FROM campaigns");
	memset(&w, 0, sizeof w);
	assert_int_equal(store_load_active(f->s, on_campaign, on_cell, on_trial, &w, &err), 0);
	assert_int_equal(w.n, 0);
	assert_int_equal(store_campaign_set_state(f->s, f->campaign_id, STORE_CAMPAIGN_STATE_COUNT, &err), -EINVAL);
	assert_int_equal(store_campaign_set_state(f->s, 9999, STORE_CAMPAIGN_DONE, &err), -ENOENT);
	assert_int_equal(store_campaign_set_state(f->s, f->campaign_id, STORE_CAMPAIGN_PAUSED, &err), 0);
	assert_sql_int(f->path, 1, "SELECT finished_at IS NULL FROM campaigns");
}

static void test_load_active_stop_and_write(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	walk w = { .f = f, .stop_at_trial = 2 };
	int64_t t;

	for (int64_t n = 1; n <= 3; n++)
		assert_int_equal(store_trial_insert(f->s, f->cell_ids[0], n, 0, 0, &t, &err), 0);
	assert_int_equal(store_load_active(f->s, on_campaign, on_cell, on_trial, &w, &err), 42);
	assert_int_equal(w.n_trials, 2);
	/* callbacks may write while the walk is on */
	memset(&w, 0, sizeof w);
	w.f = f;
	w.write_in_callback = true;
	assert_int_equal(store_load_active(f->s, NULL, NULL, on_trial, &w, &err), 0);
	assert_sql_int(f->path, 6, "SELECT count(*) FROM trials");
}

static void test_trial_insert_idempotent(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	int64_t a = 0, b = 0, c = 0, d = -1;

	assert_int_equal(store_trial_insert(f->s, f->cell_ids[0], 64, 0, 0, &a, &err), 0);
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[0], 64, 0, 0, &b, &err), 0);
	assert_int_equal(a, b);
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[1], 64, 0, 0, &c, &err), 0);
	assert_true(c != a);
	assert_sql_int(f->path, 2, "SELECT count(*) FROM trials");
	assert_int_equal(store_trial_insert(f->s, 987654, 64, 0, 0, &d, &err), -ENOENT);
	assert_int_equal(d, -1);
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[0], 0, 0, 0, &d, &err), -EINVAL);
	assert_sql_int(f->path, 2, "SELECT count(*) FROM trials");
	/* the failed insert left no transaction open */
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[0], 128, 0, 0, &d, &err), 0);
}

/* Group commit: writes of a batch share one transaction; a failed write
 * inside it is undone alone; a batch never ended is never written. */
static void test_batch(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	int64_t a = 0, b = 0, d = -1;
	store *other = NULL;

	assert_int_equal(store_batch_begin(f->s, &err), 0);
	assert_int_equal(store_batch_begin(f->s, &err), -EBUSY);
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[0], 64, 0, 0, &a, &err), 0);
	assert_int_equal(store_trial_insert(f->s, 987654, 64, 0, 0, &d, &err), -ENOENT); /* undone alone */
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[1], 64, 0, 0, &b, &err), 0);
	/* Another connection does not see the batch before it commits. */
	assert_int_equal(store_open(f->path, true, &other, &err), 0);
	assert_sql_int(f->path, 0, "SELECT count(*) FROM trials");
	assert_int_equal(store_batch_end(f->s, &err), 0);
	assert_sql_int(f->path, 2, "SELECT count(*) FROM trials");
	assert_int_equal(store_batch_end(f->s, &err), -EINVAL);

	/* A batch abandoned by a crash (here: the connection closes without
	 * ending it) leaves nothing behind. */
	assert_int_equal(store_batch_begin(f->s, &err), 0);
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[2], 64, 0, 0, &d, &err), 0);
	store_close(&f->s);
	assert_int_equal(store_open(f->path, false, &f->s, &err), 0);
	assert_sql_int(f->path, 2, "SELECT count(*) FROM trials");
	store_close(&other);
}

static void test_attempt_start_finish(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	emc_trial_result res = { .outcome = EMC_OUTCOME_FIT, .reason = EMC_STOP_FIT, .epochs = 12, .steps = 34,
				 .train_seconds = 1.5, .loss = 0.01, .accuracy = 1.0 };
	store_cell_update u = { .lo = 16, .hi = 0 };
	int64_t w1, w2, trial, a1, a2 = -1;

	assert_int_equal(store_worker_upsert(f->s, "worker-a", "host1", 2, &w1, &err), 0);
	assert_int_equal(store_worker_upsert(f->s, "worker-a", "host2", 4, &w2, &err), 0);
	assert_int_equal(w1, w2);
	assert_sql_text(f->path, "host2", "SELECT host FROM workers");
	assert_int_equal(store_worker_seen(f->s, w1, &err), 0);
	assert_int_equal(store_worker_seen(f->s, w1 + 100, &err), -ENOENT);

	assert_int_equal(store_trial_insert(f->s, f->cell_ids[0], 16, 0, 0, &trial, &err), 0);
	assert_int_equal(store_attempt_start(f->s, trial, w1, 30000, &a1, &err), 0);
	assert_sql_text(f->path, "running", "SELECT state FROM trials WHERE id = %lld", (long long)trial);
	assert_sql_int(f->path, 1, "SELECT number FROM attempts WHERE id = %lld", (long long)a1);
	assert_sql_int(f->path, 30000, "SELECT lease_expires_at - started_at FROM attempts WHERE id = %lld",
		       (long long)a1);
	/* only a pending trial can be leased */
	assert_int_equal(store_attempt_start(f->s, trial, w1, 30000, &a2, &err), -EALREADY);
	assert_int_equal(a2, -1);
	assert_int_equal(store_attempt_start(f->s, 424242, w1, 30000, &a2, &err), -ENOENT);

	assert_int_equal(store_trial_finish(f->s, trial, a1, &res, &u, &err), 0);
	assert_sql_text(f->path, "fit", "SELECT state FROM trials WHERE id = %lld", (long long)trial);
	assert_sql_text(f->path, "fit", "SELECT reason FROM trials WHERE id = %lld", (long long)trial);
	assert_sql_int(f->path, 34, "SELECT steps FROM trials WHERE id = %lld", (long long)trial);
	assert_sql_text(f->path, "done", "SELECT state FROM attempts WHERE id = %lld", (long long)a1);
	assert_sql_int(f->path, 1, "SELECT trials_done FROM workers WHERE id = %lld", (long long)w1);
	assert_sql_int(f->path, 16, "SELECT lo FROM cells WHERE id = %lld", (long long)f->cell_ids[0]);
	assert_sql_text(f->path, "searching", "SELECT state FROM cells WHERE id = %lld", (long long)f->cell_ids[0]);

	/* the same result again (a duplicate or late delivery): fenced */
	res.outcome = EMC_OUTCOME_NO_FIT;
	res.steps = 999;
	u.lo = 99;
	u.done = true;
	err.msg[0] = '\0';
	assert_int_equal(store_trial_finish(f->s, trial, a1, &res, &u, &err), -EALREADY);
	assert_true(err.msg[0] != '\0');
	assert_sql_text(f->path, "fit", "SELECT state FROM trials WHERE id = %lld", (long long)trial);
	assert_sql_int(f->path, 34, "SELECT steps FROM trials WHERE id = %lld", (long long)trial);
	assert_sql_int(f->path, 16, "SELECT lo FROM cells WHERE id = %lld", (long long)f->cell_ids[0]);
	assert_sql_text(f->path, "searching", "SELECT state FROM cells WHERE id = %lld", (long long)f->cell_ids[0]);
	assert_sql_int(f->path, 1, "SELECT trials_done FROM workers WHERE id = %lld", (long long)w1);
	/* a result without an outcome is refused */
	res.outcome = EMC_OUTCOME_NONE;
	assert_int_equal(store_trial_finish(f->s, trial, a1, &res, NULL, &err), -EINVAL);
	/* an unknown worker cannot lease */
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[0], 32, 0, 0, &trial, &err), 0);
	assert_int_equal(store_attempt_start(f->s, trial, w1 + 100, 30000, &a2, &err), -ENOENT);
	assert_sql_text(f->path, "pending", "SELECT state FROM trials WHERE id = %lld", (long long)trial);
}

static void test_lost_attempt_fenced(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	emc_trial_result res = { .outcome = EMC_OUTCOME_NO_FIT, .reason = EMC_STOP_BUDGET, .train_seconds = 2.0 };
	store_cell_update u = { .lo = 0, .hi = 16 };
	int64_t trial, a1, a2;

	assert_int_equal(store_trial_insert(f->s, f->cell_ids[1], 16, 0, 0, &trial, &err), 0);
	assert_int_equal(store_attempt_start(f->s, trial, 0, 1000, &a1, &err), 0);
	assert_int_equal(store_attempt_lost(f->s, a1, &err), 0);
	assert_sql_text(f->path, "lost", "SELECT state FROM attempts WHERE id = %lld", (long long)a1);
	assert_sql_text(f->path, "pending", "SELECT state FROM trials WHERE id = %lld", (long long)trial);
	assert_int_equal(store_attempt_lost(f->s, a1, &err), -EALREADY);
	assert_int_equal(store_attempt_lost(f->s, 77777, &err), -ENOENT);

	/* the lost attempt's result, while the trial waits: fenced */
	assert_int_equal(store_trial_finish(f->s, trial, a1, &res, &u, &err), -EALREADY);
	assert_sql_text(f->path, "pending", "SELECT state FROM trials WHERE id = %lld", (long long)trial);

	assert_int_equal(store_attempt_start(f->s, trial, 0, 1000, &a2, &err), 0);
	assert_sql_int(f->path, 2, "SELECT number FROM attempts WHERE id = %lld", (long long)a2);
	assert_sql_int(f->path, 2, "SELECT attempts FROM trials WHERE id = %lld", (long long)trial);
	/* ... and while another attempt runs it: fenced too */
	assert_int_equal(store_trial_finish(f->s, trial, a1, &res, &u, &err), -EALREADY);
	assert_sql_text(f->path, "running", "SELECT state FROM trials WHERE id = %lld", (long long)trial);
	assert_sql_int(f->path, 0, "SELECT hi FROM cells WHERE id = %lld", (long long)f->cell_ids[1]);
	/* an attempt of another trial is no better */
	assert_int_equal(store_trial_finish(f->s, trial + 1000, a2, &res, &u, &err), -ENOENT);

	assert_int_equal(store_trial_finish(f->s, trial, a2, &res, &u, &err), 0);
	assert_sql_text(f->path, "no_fit", "SELECT state FROM trials WHERE id = %lld", (long long)trial);
	assert_sql_text(f->path, "budget", "SELECT reason FROM trials WHERE id = %lld", (long long)trial);
	assert_sql_int(f->path, 16, "SELECT hi FROM cells WHERE id = %lld", (long long)f->cell_ids[1]);
	assert_int_equal(store_attempt_lost(f->s, a2, &err), -EALREADY);
	assert_sql_text(f->path, "no_fit", "SELECT state FROM trials WHERE id = %lld", (long long)trial);
}

static void test_recover_running(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	int64_t t[3], a[3];

	for (int i = 0; i < 3; i++)
		assert_int_equal(store_trial_insert(f->s, f->cell_ids[i], 16, 0, 0, &t[i], &err), 0);
	assert_int_equal(store_attempt_start(f->s, t[0], 0, 1000, &a[0], &err), 0);
	assert_int_equal(store_attempt_start(f->s, t[1], 0, 1000, &a[1], &err), 0);

	/* a coordinator crash: reopen and recover */
	store_close(&f->s);
	assert_int_equal(store_open(f->path, false, &f->s, &err), 0);
	assert_int_equal(store_recover_running(f->s, &err), 2);
	assert_sql_int(f->path, 3, "SELECT count(*) FROM trials WHERE state = 'pending'");
	assert_sql_int(f->path, 2, "SELECT count(*) FROM attempts WHERE state = 'lost' AND finished_at > 0");
	assert_sql_int(f->path, 0, "SELECT count(*) FROM attempts WHERE state = 'running'");
	assert_int_equal(store_recover_running(f->s, &err), 0);
	/* the trials lease again, with new attempt numbers */
	assert_int_equal(store_attempt_start(f->s, t[0], 0, 1000, &a[2], &err), 0);
	assert_sql_int(f->path, 2, "SELECT number FROM attempts WHERE id = %lld", (long long)a[2]);
}

static void test_counts(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	store_cell_update done = { .lo = 24, .hi = 25, .done = true };
	store_counts c;
	int64_t t, a, other_id;
	fixture g;

	run_trial(f, 0, 16, EMC_OUTCOME_FIT, EMC_STOP_FIT, 1.0, NULL);
	run_trial(f, 0, 32, EMC_OUTCOME_NO_FIT, EMC_STOP_PLATEAU, 1.0, &done);
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[1], 16, 0, 0, &t, &err), 0);
	assert_int_equal(store_attempt_start(f->s, t, 0, 1000, &a, &err), 0);
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[2], 16, 0, 0, &t, &err), 0);
	assert_int_equal(store_cell_set(f->s, f->cell_ids[2], NULL, STORE_CELL_FAILED, &err), 0);
	assert_int_equal(store_cell_set(f->s, f->cell_ids[2], NULL, (store_cell_state)-1, &err), -EINVAL);
	assert_int_equal(store_cell_set(f->s, 31337, NULL, STORE_CELL_FAILED, &err), -ENOENT);

	/* a second, finished campaign */
	make_spec(&g, "other");
	g.spec.n_cells = 1;
	assert_int_equal(store_campaign_insert(f->s, &g.spec, "y", "h", &g.ds, &other_id, &err), 0);
	assert_int_equal(store_campaign_set_state(f->s, other_id, STORE_CAMPAIGN_DONE, &err), 0);

	memset(&c, 0x55, sizeof c);
	assert_int_equal(store_counts_get(f->s, f->campaign_id, &c, &err), 0);
	assert_int_equal(c.cells, 3);
	assert_int_equal(c.cells_done, 2);
	assert_int_equal(c.trials_done, 2);
	assert_int_equal(c.trials_running, 1);
	assert_int_equal(c.trials_pending, 1);
	/* 0: the active campaigns only */
	assert_int_equal(store_counts_get(f->s, 0, &c, &err), 0);
	assert_int_equal(c.cells, 3);
	assert_int_equal(store_counts_get(f->s, other_id, &c, &err), 0);
	assert_int_equal(c.cells, 1);
	assert_int_equal(c.cells_done, 0);
	assert_int_equal(c.trials_pending + c.trials_running + c.trials_done, 0);
}

/* The file format of schema version 1, frozen here as it was released, so
 * that the migration is tested on what old files hold, whatever the store
 * does today. */
static const char schema_v1[] =
	"CREATE TABLE campaigns (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('running', 'done', 'paused', 'cancelled')),"
	" spec_text TEXT NOT NULL, spec_hash TEXT NOT NULL,"
	" dataset_name TEXT, dataset_format TEXT, dataset_split TEXT,"
	" dataset_images TEXT, dataset_labels TEXT, dataset_desc TEXT,"
	" n_total INTEGER, channels INTEGER, height INTEGER, width INTEGER, classes INTEGER,"
	" search_start INTEGER, search_precision REAL, search_max_n INTEGER,"
	" created_at INTEGER, finished_at INTEGER, dataset_ref BLOB, dataset_hash BLOB);"
	"CREATE INDEX campaigns_state ON campaigns (state);"
	"CREATE TABLE workers (id INTEGER PRIMARY KEY, identity TEXT UNIQUE NOT NULL, host TEXT, slots INTEGER,"
	" first_seen INTEGER, last_seen INTEGER, trials_done INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE cells (id INTEGER PRIMARY KEY, campaign_id INTEGER NOT NULL REFERENCES campaigns (id),"
	" idx INTEGER NOT NULL, model TEXT, family TEXT, activation TEXT, optimizer TEXT, lr REAL, batch INTEGER,"
	" labels TEXT, seed INTEGER, params INTEGER, inputs TEXT, classes INTEGER, config BLOB NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('searching', 'done', 'failed')),"
	" lo INTEGER NOT NULL DEFAULT 0, hi INTEGER NOT NULL DEFAULT 0, full INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE (campaign_id, idx));"
	"CREATE TABLE trials (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" cell_id INTEGER NOT NULL REFERENCES cells (id), n INTEGER NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'fit', 'no_fit', 'failed', 'cancelled')),"
	" reason TEXT, epochs INTEGER, steps INTEGER, train_seconds REAL, loss REAL, accuracy REAL,"
	" grad_norm REAL, budget_used REAL, error TEXT, hessian_min REAL, hessian_max REAL,"
	" attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER, finished_at INTEGER, UNIQUE (cell_id, n));"
	"CREATE INDEX trials_state ON trials (state);"
	"CREATE TABLE attempts (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" trial_id INTEGER NOT NULL REFERENCES trials (id), number INTEGER NOT NULL,"
	" worker_id INTEGER REFERENCES workers (id),"
	" state TEXT NOT NULL CHECK (state IN ('running', 'done', 'lost', 'preempted', 'failed', 'cancelled')),"
	" started_at INTEGER, lease_expires_at INTEGER, finished_at INTEGER, UNIQUE (trial_id, number));"
	"CREATE UNIQUE INDEX attempts_one_running ON attempts (trial_id) WHERE state = 'running';"
	"CREATE INDEX attempts_state ON attempts (state);"
	"CREATE INDEX attempts_worker ON attempts (worker_id);"
	"PRAGMA user_version = 1;";

typedef struct v1_walk {
	int campaigns, pinned;
	int cells, outcomes, open;
	uint64_t seeds[2];
	int n_seeds[2];
	int64_t open_n;
} v1_walk;

static int v1_campaign(void *ctx, const store_campaign_row *c)
{
	v1_walk *w = ctx;

	w->campaigns++;
	w->pinned += emc_engine_pinned(&c->engine);
	return 0;
}

static int v1_cell(void *ctx, const store_cell_row *c)
{
	v1_walk *w = ctx;

	if (c->index < 2) {
		w->seeds[c->index] = c->seeds[0];
		w->n_seeds[c->index] = c->n_seeds;
	}
	w->cells++;
	return 0;
}

static int v1_trial(void *ctx, const store_trial_row *t)
{
	v1_walk *w = ctx;

	assert_int_equal(t->seed_index, t->n == 16 ? 1 : 0);
	w->open++;
	w->open_n = t->n;
	return 0;
}

static int v1_outcome(void *ctx, const store_outcome_row *o)
{
	v1_walk *w = ctx;

	assert_int_equal(o->seed_index, 0);
	if (o->n == 32) {
		assert_int_equal(o->state, STORE_TRIAL_NO_FIT);
		assert_int_equal(o->reason, EMC_STOP_PLATEAU);
	}
	w->outcomes++;
	return 0;
}

/* A version-1 file (one seed per cell: seeds crossed as an axis) becomes a
 * current one: each cell a procedure with the pool [its seed], each trial
 * seed index 0 of it, ids and attempts kept, the campaign pinned to no
 * engine; a reader refuses the old file until it is migrated. */
static void test_migrate_v1(void **state)
{
	fixture *f = *state;
	char path[512];
	uint8_t *ref = NULL, *cfg0 = NULL, *cfg1 = NULL;
	size_t ref_len, len0, len1;
	emc_dataset_ref ds;
	emc_cell_cfg c0, c1;
	sqlite3 *db;
	sqlite3_stmt *st;
	store *s = NULL, *ro = NULL;
	v1_walk w = { 0 };
	int64_t t;
	emc_err err = { "" };

	memset(&ds, 0, sizeof ds);
	snprintf(ds.format, sizeof ds.format, "synthetic");
	snprintf(ds.split, sizeof ds.split, "train");
	snprintf(ds.synth_teacher, sizeof ds.synth_teacher, "uniform");
	ds.synth_n = 100;
	ds.synth_dim = 4;
	ds.synth_classes = 2;
	emc_cell_cfg_defaults(&c0);
	c0.model.widths[0] = 4;
	c0.seed = 7;
	c1 = c0;
	c1.seed = UINT64_MAX - 1; /* stored as its bit pattern */
	assert_int_equal(wire_dataset_pack(&ds, &ref, &ref_len, &err), 0);
	assert_int_equal(wire_cell_pack(&c0, &cfg0, &len0, &err), 0);
	assert_int_equal(wire_cell_pack(&c1, &cfg1, &len1, &err), 0);

	snprintf(path, sizeof path, "%s/v1.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "INSERT INTO campaigns (id, name, state, spec_text, spec_hash, n_total, channels,"
					    " height, width, classes, search_start, search_precision, search_max_n,"
					    " dataset_ref) VALUES (1, 'old', 'running', 'name: old', 'aa', 100, 1, 1, 4, 2,"
					    " 16, 0.01, 64, ?1)",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_blob(st, 1, ref, (int)ref_len, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "INSERT INTO cells (id, campaign_id, idx, seed, config, state, lo, hi)"
					    " VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7)",
					    -1, &st, NULL),
			 SQLITE_OK);
	for (int i = 0; i < 2; i++) {
		sqlite3_bind_int(st, 1, 10 + i);
		sqlite3_bind_int(st, 2, i);
		sqlite3_bind_int64(st, 3, (int64_t)(i ? c1.seed : c0.seed));
		sqlite3_bind_blob(st, 4, i ? cfg1 : cfg0, (int)(i ? len1 : len0), SQLITE_STATIC);
		sqlite3_bind_text(st, 5, i ? "done" : "searching", -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 6, i ? 48 : 16);
		sqlite3_bind_int(st, 7, i ? 49 : 32);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO trials (id, cell_id, n, state, reason, train_seconds) VALUES"
				      " (5, 10, 16, 'fit', 'fit', 1.5), (6, 10, 32, 'no_fit', 'plateau', 2.5),"
				      " (9, 10, 24, 'pending', NULL, NULL), (11, 11, 48, 'fit', 'fit', 4.0);"
				      "INSERT INTO attempts (trial_id, number, state) VALUES (5, 1, 'done'), (6, 1, 'done');",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	/* A reader cannot read it as the current version. */
	assert_int_equal(store_open(path, true, &ro, &err), -ENOTSUP);
	assert_contains(err.msg, "older");

	if (store_open(path, false, &s, &err) < 0)
		fail_msg("%s", err.msg);
	assert_sql_int(path, STORE_SCHEMA_VERSION, "PRAGMA user_version");
	assert_sql_int(path, 0, "SELECT count(*) FROM pragma_foreign_key_check");
	/* Every trial is seed index 0 of its cell's seed; ids and attempts kept. */
	assert_sql_int(path, 4, "SELECT count(*) FROM trials WHERE seed_index = 0");
	assert_sql_int(path, 3, "SELECT count(*) FROM trials WHERE cell_id = 10 AND seed = 7");
	assert_sql_int(path, (int64_t)(UINT64_MAX - 1), "SELECT seed FROM trials WHERE id = 11");
	assert_sql_int(path, 2, "SELECT count(*) FROM attempts a JOIN trials t ON t.id = a.trial_id");
	/* The decided cell keeps its EMC; its compute is its trials' time. */
	assert_sql_int(path, 48, "SELECT emc FROM cells WHERE id = 11");
	assert_sql_int(path, 1, "SELECT emc_low IS NULL FROM cells WHERE id = 11");
	assert_sql_int(path, 40, "SELECT CAST(train_seconds * 10 AS INTEGER) FROM cells WHERE id = 11");
	/* One trial per (cell, n, seed index); the counter never goes back. */
	assert_int_equal(store_trial_insert(s, 10, 16, 0, 7, &t, &err), -EALREADY);
	assert_int_equal(store_trial_insert(s, 10, 24, 0, 7, &t, &err), 0);
	assert_int_equal(t, 9);
	assert_int_equal(store_trial_insert(s, 10, 16, 1, 8, &t, &err), 0);
	assert_true(t > 11);
	/* Each old cell is a procedure over the pool [its seed]. */
	assert_int_equal(store_load_active(s, v1_campaign, v1_cell, v1_trial, &w, &err), 0);
	assert_int_equal(store_load_outcomes(s, 0, v1_outcome, &w, &err), 0);
	assert_int_equal(w.campaigns, 1);
	assert_int_equal(w.pinned, 0);
	assert_int_equal(w.cells, 2);
	assert_int_equal(w.n_seeds[0], 1);
	assert_int_equal(w.n_seeds[1], 1);
	assert_true(w.seeds[0] == 7);
	assert_true(w.seeds[1] == UINT64_MAX - 1);
	assert_int_equal(w.outcomes, 3);
	assert_int_equal(w.open, 2); /* 24, and the new 16 at seed 1 */
	store_close(&s);

	/* Opened again: nothing more to do; a reader now reads it. */
	assert_int_equal(store_open(path, false, &s, &err), 0);
	store_close(&s);
	assert_int_equal(store_open(path, true, &ro, &err), 0);
	assert_sql_int(path, 5, "SELECT count(*) FROM trials");
	store_close(&ro);
	free(ref);
	free(cfg0);
	free(cfg1);
}

/* The pin of each active campaign, by name, as the coordinator loads it. */
typedef struct pin_walk {
	int campaigns;
	emc_engine_cfg mnist, pinned; /* "mnist, \"small\"" and "pinned" */
} pin_walk;

static int pin_campaign(void *ctx, const store_campaign_row *c)
{
	pin_walk *w = ctx;

	w->campaigns++;
	if (strcmp(c->name, "pinned") == 0)
		w->pinned = c->engine;
	else
		w->mnist = c->engine;
	return 0;
}

/* A campaign's engine pin is stored with it and read back at start-up (a
 * restarted coordinator dispatches as the spec said); a campaign without
 * one reads as no pin; status shows the pin from the file alone. */
static void test_engine_pin_roundtrip(void **state)
{
	fixture *f = *state;
	pin_walk w;
	emc_err err = { "" };
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	int64_t id;

	make_spec(f, "pinned");
	snprintf(f->spec.engine.blas_core, sizeof f->spec.engine.blas_core, "Haswell");
	f->spec.engine.blas_threads = 2;
	assert_int_equal(store_campaign_insert(f->s, &f->spec, "name: pinned\n", "def456", &f->ds, &id, &err), 0);
	store_close(&f->s);
	if (store_open(f->path, false, &f->s, &err) < 0)
		fail_msg("%s", err.msg);
	memset(&w, 0x55, sizeof w);
	w.campaigns = 0;
	assert_int_equal(store_load_active(f->s, pin_campaign, NULL, NULL, &w, &err), 0);
	assert_int_equal(w.campaigns, 2);
	assert_string_equal(w.pinned.blas_core, "Haswell");
	assert_int_equal(w.pinned.blas_threads, 2);
	assert_false(emc_engine_pinned(&w.mnist));
	assert_sql_int(f->path, 1, "SELECT count(*) FROM campaigns WHERE engine_blas_core IS NULL"
				   " AND engine_blas_threads IS NULL");

	out = open_memstream(&buf, &len);
	assert_non_null(out);
	if (report_status(f->s, NULL, &(status_opts){.fmt = REPORT_TABLE}, out, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(fclose(out), 0);
	assert_contains(buf, "campaign pinned: running");
	assert_contains(buf, "\n  pinned to blas_core Haswell, blas_threads 2: only workers that announce it run");
	/* Only the pinned campaign says so. */
	assert_null(strstr(strstr(buf, "pinned to") + 1, "pinned to"));
	free(buf);
}

/* What the checkpoint step added, undone: a current file without it is the
 * schema of the version before. */
#define UNDO_CHECKPOINTS_SQL                                                                                           \
	"DROP TRIGGER checkpoints_end; DROP TABLE checkpoints;"                                                        \
	"ALTER TABLE attempts DROP COLUMN checkpoints; ALTER TABLE attempts DROP COLUMN resumed_epoch;"

/* A file from before checkpoints opens and migrates: its running trial
 * keeps its attempt, which has delivered no checkpoint and resumed from
 * epoch 0, and the trial's first checkpoint is kept — then dropped by the
 * schema when the trial ends. */
static void test_migrate_checkpoints(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	int64_t t, a, wid;
	emc_trial_result res;
	uint8_t *got = NULL;
	size_t len = 0;
	int64_t epoch = -1;
	const uint8_t blob[4] = { 1, 2, 3, 4 }, newer[3] = { 9, 9, 9 };

	assert_int_equal(store_trial_insert(f->s, f->cell_ids[1], 16, 0, 1001, &t, &err), 0);
	assert_int_equal(store_worker_upsert(f->s, "w1", "host", 1, &wid, &err), 0);
	assert_int_equal(store_attempt_start(f->s, t, wid, 10000, &a, &err), 0);
	store_close(&f->s);
	assert_int_equal(sql_exec(f->path, UNDO_CHECKPOINTS_SQL "PRAGMA user_version = 4;"), SQLITE_OK);
	if (store_open(f->path, false, &f->s, &err) < 0)
		fail_msg("%s", err.msg);
	assert_sql_int(f->path, STORE_SCHEMA_VERSION, "PRAGMA user_version");
	assert_sql_int(f->path, 0, "SELECT checkpoints + resumed_epoch FROM attempts");
	assert_int_equal(store_checkpoint_put(f->s, t, a, 5, 50, blob, sizeof blob, &err), 1);
	/* Not newer, or not the live attempt: not kept. */
	assert_int_equal(store_checkpoint_put(f->s, t, a, 5, 50, newer, sizeof newer, &err), 0);
	assert_int_equal(store_checkpoint_put(f->s, t, a + 1, 9, 90, newer, sizeof newer, &err), 0);
	assert_int_equal(store_checkpoint_get(f->s, t, &got, &len, &epoch, &err), 0);
	assert_int_equal(len, sizeof blob);
	assert_memory_equal(got, blob, sizeof blob);
	assert_int_equal(epoch, 5);
	free(got);
	assert_sql_int(f->path, 1, "SELECT checkpoints FROM attempts");
	memset(&res, 0, sizeof res);
	res.outcome = EMC_OUTCOME_NO_FIT;
	res.reason = EMC_STOP_PLATEAU;
	assert_int_equal(store_trial_finish(f->s, t, a, &res, NULL, &err), 0);
	assert_sql_int(f->path, 0, "SELECT count(*) FROM checkpoints");
}

/* A version-2 file (written before campaigns could pin an engine) opens,
 * migrates to the current version, keeps every row, and its campaigns read
 * as pinned to nothing; a reader refuses it until then. The file is made
 * the way the version-2 program left it: version 3 only added the two
 * engine columns at the end of campaigns, so dropping them from a current
 * file gives exactly version 2's schema. */
static void test_migrate_v2(void **state)
{
	fixture *f = *state;
	pin_walk w = { 0 };
	store *ro = NULL;
	emc_err err = { "" };
	int64_t t, id;

	assert_int_equal(store_trial_insert(f->s, f->cell_ids[1], 16, 0, 1001, &t, &err), 0);
	store_close(&f->s);
	assert_int_equal(sql_exec(f->path, UNDO_CHECKPOINTS_SQL "ALTER TABLE campaigns DROP COLUMN engine_blas_threads;"
					   "ALTER TABLE campaigns DROP COLUMN engine_blas_core;"
					   "PRAGMA user_version = 2;"),
			 SQLITE_OK);
	assert_sql_int(f->path, 0, "SELECT count(*) FROM pragma_table_info('campaigns') WHERE name LIKE 'engine_%%'");

	assert_int_equal(store_open(f->path, true, &ro, &err), -ENOTSUP);
	assert_contains(err.msg, "older");
	if (store_open(f->path, false, &f->s, &err) < 0)
		fail_msg("%s", err.msg);
	assert_sql_int(f->path, STORE_SCHEMA_VERSION, "PRAGMA user_version");
	assert_sql_int(f->path, 2, "SELECT count(*) FROM pragma_table_info('campaigns') WHERE name LIKE 'engine_%%'");
	/* Its data kept: the campaign, its cells, the pending trial. */
	assert_int_equal(store_load_active(f->s, pin_campaign, NULL, NULL, &w, &err), 0);
	assert_int_equal(w.campaigns, 1);
	assert_false(emc_engine_pinned(&w.mnist));
	assert_sql_int(f->path, N_CELLS, "SELECT count(*) FROM cells");
	assert_sql_int(f->path, 1, "SELECT count(*) FROM trials WHERE state = 'pending' AND seed = 1001");
	/* And it keeps working: the trial starts, a pinned campaign goes in. */
	assert_int_equal(store_worker_upsert(f->s, "w", "host-w", 1, &id, &err), 0);
	assert_int_equal(store_attempt_start(f->s, t, id, 1000, &id, &err), 0);
	make_spec(f, "pinned");
	f->spec.engine.blas_threads = 1;
	assert_int_equal(store_campaign_insert(f->s, &f->spec, "name: pinned\n", "def456", &f->ds, &id, &err), 0);
	assert_sql_int(f->path, 1, "SELECT engine_blas_threads FROM campaigns WHERE name = 'pinned'");
	store_close(&f->s);
	/* Opened again: nothing more to do; a reader now reads it. */
	if (store_open(f->path, false, &f->s, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(store_open(f->path, true, &ro, &err), 0);
	store_close(&ro);
}

/* A version-3 file (cells could not be cancelled: a cancelled campaign's
 * cells stayed searching) migrates to the current version: the cells
 * table keeps every row, id and column, trials still point at their cells,
 * the cells of a cancelled campaign that were searching are cancelled, a
 * decided one keeps its state, other campaigns' cells are untouched, and
 * 'cancelled' is a state the table now accepts. The file is made by
 * putting version 3's CHECK back into a current file's schema text. */
static void test_migrate_v3(void **state)
{
	fixture *f = *state;
	store *ro = NULL;
	emc_err err = {""};
	int64_t gone, t, cell0, columns;
	char q[128];

	make_spec(f, "gone");
	assert_int_equal(store_campaign_insert(f->s, &f->spec, "name: gone\n", "gone", &f->ds, &gone, &err), 0);
	snprintf(q, sizeof q, "SELECT min(id) FROM cells WHERE campaign_id = %lld", (long long)gone);
	cell0 = sql_int(f->path, q);
	assert_int_equal(store_trial_insert(f->s, cell0 + 1, 16, 0, 7, &t, &err), 0);
	assert_int_equal(store_cell_set(f->s, cell0, NULL, STORE_CELL_DONE, &err), 0);
	store_close(&f->s);
	/* as version 3 left a cancelled campaign: its undecided cells searching */
	assert_int_equal(sql_exec(f->path, UNDO_CHECKPOINTS_SQL
				  "UPDATE campaigns SET state = 'cancelled' WHERE name = 'gone';"
				  "PRAGMA writable_schema = ON;"
					   "UPDATE sqlite_master SET sql = replace(sql, ', ''cancelled''))', '))')"
					   " WHERE type = 'table' AND name = 'cells';"
					   "PRAGMA writable_schema = OFF;"
					   "PRAGMA user_version = 3;"),
			 SQLITE_OK);
	assert_int_equal(sql_exec(f->path, "UPDATE cells SET state = 'cancelled'") & 0xff, SQLITE_CONSTRAINT);
	columns = sql_int(f->path, "SELECT count(*) FROM pragma_table_info('cells')");

	assert_int_equal(store_open(f->path, true, &ro, &err), -ENOTSUP);
	if (store_open(f->path, false, &f->s, &err) < 0)
		fail_msg("%s", err.msg);
	assert_sql_int(f->path, STORE_SCHEMA_VERSION, "PRAGMA user_version");
	assert_sql_int(f->path, columns, "SELECT count(*) FROM pragma_table_info('cells')");
	assert_sql_int(f->path, 2 * N_CELLS, "SELECT count(*) FROM cells");
	assert_sql_int(f->path, N_CELLS, "SELECT count(*) FROM cells WHERE campaign_id = %lld AND state = 'searching'",
		       (long long)f->campaign_id);
	assert_sql_int(f->path, 1, "SELECT count(*) FROM cells WHERE id = %lld AND state = 'done'", (long long)cell0);
	assert_sql_int(f->path, N_CELLS - 1,
		       "SELECT count(*) FROM cells WHERE campaign_id = %lld AND state = 'cancelled'", (long long)gone);
	assert_sql_int(f->path, cell0 + 1,
		       "SELECT ce.id FROM trials t JOIN cells ce ON ce.id = t.cell_id WHERE t.id = %lld", (long long)t);
	assert_sql_int(f->path, 0, "SELECT count(*) FROM pragma_foreign_key_check");
	assert_int_equal(sql_exec(f->path, "SAVEPOINT x; UPDATE cells SET state = 'cancelled'; ROLLBACK TO x"),
			 SQLITE_OK);
	/* And a reopen of it now works on the migrated rows. */
	assert_int_equal(store_campaign_reopen(f->s, gone, &err), 0);
	assert_sql_int(f->path, N_CELLS - 1,
		       "SELECT count(*) FROM cells WHERE campaign_id = %lld AND state = 'searching'", (long long)gone);
	assert_int_equal(store_open(f->path, true, &ro, &err), 0);
	store_close(&ro);
}

/* Cancel marks exactly the searching cells of its campaign cancelled;
 * reopen puts them and their cancelled trials back, and nothing else. */
static void test_cancel_reopen_cells(void **state)
{
	fixture *f = *state;
	emc_err err = {""};
	int64_t t0, t1, t2, other;

	make_spec(f, "other");
	assert_int_equal(store_campaign_insert(f->s, &f->spec, "name: other\n", "other", &f->ds, &other, &err), 0);
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[0], 16, 0, 0, &t0, &err), 0);
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[1], 16, 0, 0, &t1, &err), 0);
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[1], 32, 0, 0, &t2, &err), 0);
	assert_int_equal(store_cell_set(f->s, f->cell_ids[0], NULL, STORE_CELL_DONE, &err), 0);
	assert_int_equal(store_trial_cancel(f->s, t0, &err), 0);
	assert_int_equal(store_trial_cancel(f->s, t1, &err), 0);
	assert_int_equal(store_campaign_reopen(f->s, f->campaign_id, &err), -EALREADY);
	assert_int_equal(store_campaign_set_state(f->s, f->campaign_id, STORE_CAMPAIGN_CANCELLED, &err), 0);
	assert_sql_int(f->path, N_CELLS - 1,
		       "SELECT count(*) FROM cells WHERE campaign_id = %lld AND state = 'cancelled'",
		       (long long)f->campaign_id);
	assert_sql_int(f->path, N_CELLS, "SELECT count(*) FROM cells WHERE campaign_id = %lld AND state = 'searching'",
		       (long long)other);
	assert_int_equal(store_campaign_reopen(f->s, f->campaign_id, &err), 0);
	assert_sql_int(f->path, 1,
		       "SELECT count(*) FROM campaigns WHERE id = %lld AND state = 'running'"
		       " AND finished_at IS NULL",
		       (long long)f->campaign_id);
	assert_sql_int(f->path, N_CELLS - 1,
		       "SELECT count(*) FROM cells WHERE campaign_id = %lld AND state = 'searching'",
		       (long long)f->campaign_id);
	assert_sql_int(f->path, 1, "SELECT count(*) FROM cells WHERE id = %lld AND state = 'done'",
		       (long long)f->cell_ids[0]);
	/* the decided cell's cancelled trial stays; the reopened cell's is pending */
	assert_sql_int(f->path, 1, "SELECT count(*) FROM trials WHERE id = %lld AND state = 'cancelled'",
		       (long long)t0);
	assert_sql_int(f->path, 2, "SELECT count(*) FROM trials WHERE cell_id = %lld AND state = 'pending'",
		       (long long)f->cell_ids[1]);
	assert_int_equal(store_campaign_reopen(f->s, f->campaign_id, &err), -EALREADY);
	(void)t2;
}

static void test_future_version_refused(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	store *s = NULL;

	store_close(&f->s);
	assert_int_equal(sql_exec(f->path, "PRAGMA user_version = 99"), SQLITE_OK);
	assert_true(store_open(f->path, false, &s, &err) < 0);
	assert_null(s);
	assert_contains(err.msg, "newer");
	assert_contains(err.msg, "99");
	err.msg[0] = '\0';
	assert_true(store_open(f->path, true, &s, &err) < 0);
	assert_null(s);
	assert_contains(err.msg, "newer");
	/* the refused open changed nothing */
	{
		sqlite3 *db;
		sqlite3_stmt *st;

		assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 99);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
}

static void test_readonly(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	store *ro = NULL;
	store_counts c;
	char *empty, missing[512];
	int64_t id = -1, t;
	sqlite3 *ro_db;

	/* a committed write is visible to a reader while the writer is open */
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[0], 16, 0, 0, &t, &err), 0);
	ro_db = store_open_seen(f->path, true, &ro);
	assert_int_equal(store_campaign_find(ro, "mnist, \"small\"", &id, NULL, NULL, &err), 1);
	assert_int_equal(id, f->campaign_id);
	assert_int_equal(store_counts_get(ro, 0, &c, &err), 0);
	assert_int_equal(c.trials_pending, 1);

	assert_int_equal(store_trial_insert(ro, f->cell_ids[0], 32, 0, 0, &t, &err), -EROFS);
	assert_contains(err.msg, "read-only");
	assert_int_equal(store_worker_upsert(ro, "w", "h", 1, &id, &err), -EROFS);
	/* and SQLite itself refuses, whatever the caller tries */
	assert_int_equal(sqlite3_exec(ro_db, "DELETE FROM trials", NULL, NULL, NULL) & 0xff, SQLITE_READONLY);
	assert_sql_int(f->path, 1, "SELECT count(*) FROM trials");
	store_close(&ro);

	/* after the writer closed too */
	store_close(&f->s);
	assert_int_equal(store_open(f->path, true, &ro, &err), 0);
	assert_int_equal(store_counts_get(ro, f->campaign_id, &c, &err), 0);
	assert_int_equal(c.cells, N_CELLS);
	store_close(&ro);

	/* a file without a schema, or no file at all */
	empty = write_file(f->dir, "empty.db", "", 0);
	assert_true(store_open(empty, true, &ro, &err) < 0);
	assert_null(ro);
	assert_contains(err.msg, "no schema");
	snprintf(missing, sizeof missing, "%s/missing.db", f->dir);
	assert_int_equal(store_open(missing, true, &ro, &err), -ENOENT);
	assert_contains(err.msg, "missing.db");
	assert_int_equal(access(missing, F_OK), -1);
	free(empty);
	/* and a file that is not a database at all */
	empty = write_file(f->dir, "junk.db", "this is not sqlite, not at all, no no no no no no no no no no no no", 68);
	assert_true(store_open(empty, false, &ro, &err) < 0);
	assert_null(ro);
	assert_contains(err.msg, "junk.db");
	free(empty);

	assert_int_equal(store_open(f->path, false, &f->s, &err), 0); /* for teardown */
}

/* Cell 0 done at 24 with a budget no-fit at 25 (unconverged); cell 1 fit
 * the whole allowed range (100); cell 2 still searching in [16, 40), its
 * no-fit at 40 a plateau (converged), a trial at 32 queued. */
static void fill_results(fixture *f)
{
	store_cell_update u0a = { .lo = 16 };
	store_cell_update u0 = { .lo = 24, .hi = 25, .done = true, .emc_low = 20, .emc_high = 25, .seeds_used = 1,
				 .lo_fits = 1, .lo_total = 1, .hi_total = 1, .hi_budget = 1, .unconverged = true,
				 .trials_consumed = 3 };
	store_cell_update u1 = { .lo = 100, .done = true, .full = true, .emc_low = 100, .emc_high = 100,
				 .seeds_used = 1, .lo_fits = 1, .lo_total = 1, .trials_consumed = 1 };
	store_cell_update u2a = { .lo = 16 };
	store_cell_update u2 = { .lo = 16, .hi = 40, .hi_total = 1, .hi_plateau = 1, .plateau_decided = true };
	int64_t t;
	emc_err err = { "" };

	run_trial(f, 0, 16, EMC_OUTCOME_FIT, EMC_STOP_FIT, 1.5, &u0a);
	run_trial(f, 0, 24, EMC_OUTCOME_FIT, EMC_STOP_FIT, 2.0, NULL);
	run_trial(f, 0, 25, EMC_OUTCOME_NO_FIT, EMC_STOP_BUDGET, 3.25, &u0);
	run_trial(f, 1, 100, EMC_OUTCOME_FIT, EMC_STOP_FIT, 4.0, &u1);
	run_trial(f, 2, 16, EMC_OUTCOME_FIT, EMC_STOP_FIT, 0.5, &u2a);
	run_trial(f, 2, 40, EMC_OUTCOME_NO_FIT, EMC_STOP_PLATEAU, 0.25, &u2); /* converged no-fit */
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[2], 32, 0, 0, &t, &err), 0);
}

#define RESULTS_CSV_HEAD                                                                                      \
	"campaign,cell,model,activation,optimizer,dataset,labels,inputs,classes,seeds,params,emc,full,emc_low,"  \
	"emc_high,lo,hi,seeds_used,lo_fits,lo_total,hi_fits,hi_total,hi_plateau,hi_gradnorm,hi_budget,"          \
	"unconverged,plateau_decided,uncertain,nonmonotone,trials,trials_consumed,sample_grads,train_seconds,"    \
	"blas_cores,lambda_min,lambda_max,state\n"

static char *capture_results(store *s, const char *campaign, report_format fmt, int expect)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	emc_err err = { "" };
	int r;

	assert_non_null(out);
	r = report_results(s, campaign, fmt, out, &err);
	assert_int_equal(fclose(out), 0);
	if (r != expect)
		fail_msg("report_results: %d (%s)", r, err.msg);
	return buf;
}

static void test_report_results(void **state)
{
	fixture *f = *state;
	store *ro = NULL;
	report_format fmt = REPORT_CSV;
	char *out;

	fill_results(f);
	assert_int_equal(store_open(f->path, true, &ro, NULL), 0);

	assert_int_equal(report_format_parse("json", &fmt), 0);
	assert_int_equal(fmt, REPORT_JSON);
	assert_int_equal(report_format_parse("xml", &fmt), -EINVAL);
	assert_int_equal(fmt, REPORT_JSON);

	out = capture_results(ro, NULL, REPORT_TABLE, 0);
	assert_contains(out, "campaign");
	assert_contains(out, "activation");
	assert_contains(out, " 24*  [20, 25] ");
	assert_contains(out, ">=100  [100, >=100] ");
	assert_contains(out, "fashion-mnist/train");
	assert_contains(out, "* unconverged");
	assert_contains(out, " 1/1   0/1  *  "); /* p̂ at lo and hi, the flag */
	assert_contains(out, " 650 "); /* compute: 10·(16 + 24 + 25) sample-gradients */
	assert_contains(out, "6.75"); /* 1.5 + 2 + 3.25 */
	/* cell 0's trials ran on two kernels; the others' on one */
	assert_contains(out, "warning: cell(s) mnist, \"small\"/0 ran on several OpenBLAS kernels");
	free(out);

	/* The keys the cells vary get a column each, named by the spec key,
	 * before params: lr (0.01, 0.02, 0.03) and max_steps (0, 30000).
	 * momentum does not vary: only the sgd cells read it, and both hold
	 * 0.9; the architecture is the model column's. */
	out = capture_results(ro, "mnist, \"small\"", REPORT_CSV, 0);
	assert_contains(out, "campaign,cell,model,activation,optimizer,dataset,labels,inputs,classes,seeds,"
			     "optimizer.lr,budget.max_steps,params,emc,full,");
	assert_contains(
	    out, "\"mnist, \"\"small\"\"\",0,mlp[8],relu,sgd,fashion-mnist/train,true,true,10,1,0.01,0,6370,24,0,"
		 "20,25,24,25,1,1,1,0,1,0,0,1,1,0,0,0,3,3,650,6.75,2,,,done\n");
	assert_contains(out, ",1,\"mlp[16,16]\",relu,adam,");
	/* emc stays a number; full says the whole range fit */
	assert_contains(
	    out, ",0.02,0,13002,100,1,100,100,100,,1,1,1,0,0,0,0,0,0,0,0,0,1,1,1000,4.00,1,-0.00125,42.5,done\n");
	assert_contains(out, ",2,mlp[32],tanh,sgd,");
	assert_contains(out, ",0.03,30000,25450,-,0,0,0,16,40,0,0,0,0,1,1,0,0,0,1,0,0,2,0,560,0.75,1,,,searching\n");
	free(out);

	/* The table has the same columns. */
	out = capture_results(ro, NULL, REPORT_TABLE, 0);
	assert_contains(out, "  optimizer.lr  budget.max_steps  params  ");
	free(out);

	out = capture_results(ro, NULL, REPORT_JSON, 0);
	{
		sqlite3 *db;
		sqlite3_stmt *st;

		assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
		assert_int_equal(
		    sqlite3_prepare_v2(db,
				       "SELECT json_valid(?1), json_array_length(?1),"
				       " json_extract(?1, '$[0].campaign'), json_extract(?1, '$[0].emc'),"
				       " json_extract(?1, '$[0].unconverged'), json_extract(?1, '$[1].emc'),"
				       " json_extract(?1, '$[1].full'), json_type(?1, '$[2].emc'),"
				       " json_extract(?1, '$[1].model'), json_extract(?1, '$[0].train_seconds'),"
				       " json_type(?1, '$[1].hi'), json_extract(?1, '$[1].config.optimizer.name'),"
				       " json_extract(?1, '$[0].config.optimizer.momentum'),"
				       " json_type(?1, '$[1].config.optimizer.momentum'), json_extract(?1, "
				       "'$[1].config.model.widths'),"
				       " json_extract(?1, '$[1].config.optimizer.lr'), json_extract(?1, "
				       "'$[2].config.budget.max_steps')",
				       -1, &st, NULL),
		    SQLITE_OK);
		sqlite3_bind_text(st, 1, out, -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 1);
		assert_int_equal(sqlite3_column_int(st, 1), 3);
		assert_string_equal((const char *)sqlite3_column_text(st, 2), "mnist, \"small\"");
		assert_int_equal(sqlite3_column_int(st, 3), 24);
		assert_int_equal(sqlite3_column_int(st, 4), 1);
		assert_int_equal(sqlite3_column_int(st, 5), 100);
		assert_int_equal(sqlite3_column_int(st, 6), 1);
		assert_string_equal((const char *)sqlite3_column_text(st, 7), "null");
		assert_string_equal((const char *)sqlite3_column_text(st, 8), "mlp[16,16]");
		assert_true(sqlite3_column_double(st, 9) == 6.75);
		assert_string_equal((const char *)sqlite3_column_text(st, 10), "null");
		/* the whole configuration, nested by spec key, numbers as numbers;
		 * adam does not read momentum */
		assert_string_equal((const char *)sqlite3_column_text(st, 11), "adam");
		assert_true(sqlite3_column_double(st, 12) == 0.9);
		assert_null(sqlite3_column_text(st, 13));
		assert_string_equal((const char *)sqlite3_column_text(st, 14), "[16,16]");
		assert_true(sqlite3_column_double(st, 15) == 0.02);
		assert_int_equal(sqlite3_column_int(st, 16), 30000);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	free(out);

	free(capture_results(ro, "nope", REPORT_JSON, -ENOENT));
	store_close(&ro);
}

static char *capture_summary(store *s, const char *by, report_format fmt, int expect, emc_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int r;

	assert_non_null(out);
	r = report_summary(s, NULL, by, fmt, out, err);
	assert_int_equal(fclose(out), 0);
	if (r != expect)
		fail_msg("report_summary: %d (%s)", r, err->msg);
	return buf;
}

/* Cells grouped by the keys named, or by every varying key the model
 * column does not spell; each group's cells in order of parameters, its
 * totals their sums. */
static void test_report_summary(void **state)
{
	fixture *f = *state;
	emc_err err = {""};
	summary *sm = NULL;
	char *out;

	fill_results(f);
	/* by default: activation, optimizer, lr, labels and max_steps vary,
	 * and every cell differs in one of them */
	assert_int_equal(summary_build(f->s, NULL, NULL, &sm, &err), 0);
	assert_int_equal(sm->n_keys, 5);
	assert_string_equal(sm->keys[0], "model.activation");
	assert_string_equal(sm->keys[2], "optimizer.lr");
	assert_int_equal(sm->n_groups, 3);
	summary_destroy(&sm);

	/* by optimizer: adam (cell 1), then sgd (cells 0 and 2, by params) */
	out = capture_summary(f->s, "optimizer", REPORT_CSV, 0, &err);
	assert_contains(
	    out, "group,optimizer,campaign,cell,model,params,emc,full,emc_low,emc_high,emc_per_param,"
		 "unconverged,hi_budget,trials,sample_grads,train_seconds,state\n"
		 "0,adam,\"mnist, \"\"small\"\"\",1,\"mlp[16,16]\",13002,100,1,100,100,0.007691,0,0,1,1000,4.00,done\n"
		 "1,sgd,\"mnist, \"\"small\"\"\",0,mlp[8],6370,24,0,20,25,0.003768,1,1,3,650,6.75,done\n"
		 "1,sgd,\"mnist, \"\"small\"\"\",2,mlp[32],25450,,0,,,,0,0,2,560,0.75,searching\n");
	free(out);
	out = capture_summary(f->s, "optimizer", REPORT_TABLE, 0, &err);
	assert_contains(out,
			"optimizer=sgd: 2 cells, 1 decided, 1 unconverged, 5 trials, 1210 sample-gradients, 7.50 s\n");
	free(out);
	out = capture_summary(f->s, " optimizer.name , model ", REPORT_JSON, 0, &err);
	{
		char *sql = sqlite3_mprintf("SELECT json_valid(%Q) AND json_array_length(%Q) = 3"
					    " AND json_extract(%Q, '$[2].group.model') = 'mlp[32]'"
					    " AND json_extract(%Q, '$[2].cells[0].config.optimizer.lr') = 0.03",
					    out, out, out, out);

		assert_int_equal(sql_int(f->path, sql), 1);
		sqlite3_free(sql);
	}
	free(out);

	free(capture_summary(f->s, "optimizer,lrr", REPORT_TABLE, -EINVAL, &err));
	assert_contains(err.msg, "unknown key 'lrr'");
	free(capture_summary(f->s, "model.heads", REPORT_TABLE, -EINVAL, &err));
	assert_contains(err.msg, "no cell reads model.heads");
}

static char *capture_trials(store *s, const char *campaign, int cell, report_format fmt, int expect)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	emc_err err = { "" };
	int r;

	assert_non_null(out);
	r = report_trials(s, campaign, cell, fmt, out, &err);
	assert_int_equal(fclose(out), 0);
	if (r != expect)
		fail_msg("report_trials: %d (%s)", r, err.msg);
	return buf;
}

static void test_report_trials(void **state)
{
	fixture *f = *state;
	char *out, *sql;

	fill_results(f);
	out = capture_trials(f->s, "mnist, \"small\"", -1, REPORT_TABLE, 0);
	assert_contains(out, "reason");
	assert_contains(out, "budget");  /* cell 0, n = 25 */
	assert_contains(out, "plateau"); /* cell 2, n = 40 */
	assert_contains(out, "42.5");    /* the certificate of cell 1, n = 100 */
	assert_contains(out, "pending"); /* cell 2, n = 32 */
	free(out);

	/* One cell only, as CSV: header, then its three trials in order of n. */
	out = capture_trials(f->s, "mnist, \"small\"", 0, REPORT_CSV, 0);
	assert_contains(out, "campaign,cell,model,n,seed_index,seed,state,on_path,reason,epochs,steps,train_seconds,"
			     "sample_grads,loss,accuracy,budget_used,attempts,lambda_min,lambda_max,host,blas_core,error\n");
	/* the seed (UINT64_MAX - 5, all 64 bits kept), and whether the measurement,
	 * recomputed from the outcomes, consumed the trial: 16 fits, so the
	 * path gallops to 32, which has no trial; 24 and 25 are off it */
	assert_contains(out, ",0,mlp[8],16,0,18446744073709551610,fit,yes,fit,10,100,1.50,160,");
	assert_contains(out, ",0,mlp[8],24,0,18446744073709551610,fit,no,fit,10,100,2.00,240,");
	assert_contains(out, ",0,mlp[8],25,0,18446744073709551610,no_fit,no,budget,10,100,3.25,250,0,0.9000,0.00,1,,,host-0,Haswell,\n");
	assert_null(strstr(out, ",1,\"mlp[16,16]\","));
	free(out);

	/* Over every cell, the keys they vary follow the model. */
	out = capture_trials(f->s, "mnist, \"small\"", -1, REPORT_CSV, 0);
	assert_contains(
	    out, "campaign,cell,model,model.activation,optimizer.name,optimizer.lr,variant.labels,budget.max_steps,n,");
	free(out);

	out = capture_trials(f->s, "mnist, \"small\"", -1, REPORT_JSON, 0);
	sql = sqlite3_mprintf("SELECT json_valid(%Q) AND json_array_length(%Q) = 7", out, out);
	assert_int_equal(sql_int(f->path, sql), 1);
	sqlite3_free(sql);
	free(out);

	free(capture_trials(f->s, "no such campaign", -1, REPORT_TABLE, -ENOENT));
}

static void test_report_empty(void **state)
{
	char *dir = tmpdir_new(), path[512], *out;
	store *s = NULL;

	(void)state;
	snprintf(path, sizeof path, "%s/e.db", dir);
	assert_int_equal(store_open(path, false, &s, NULL), 0);
	out = capture_results(s, NULL, REPORT_JSON, 0);
	assert_string_equal(out, "[]\n");
	free(out);
	out = capture_results(s, NULL, REPORT_CSV, 0);
	assert_string_equal(out, RESULTS_CSV_HEAD);
	free(out);
	store_close(&s);
	tmpdir_remove(&dir);
}

static char *capture_status(store *s, const char *campaign, const status_opts *o, int expect, emc_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int r;

	assert_non_null(out);
	r = report_status(s, campaign, o, out, err);
	assert_int_equal(fclose(out), 0);
	if (r != expect)
		fail_msg("report_status: %d (%s)", r, err->msg);
	return buf;
}

static void test_report_status(void **state)
{
	fixture *f = *state;
	emc_err err = {""};
	status_opts o = {.fmt = REPORT_TABLE};
	wire_worker_info live[2] = {{.id = 1, .slots = 4, .busy = 2}, {.id = 99, .slots = 2, .busy = 0}};
	char *buf, *sql;

	fill_results(f);
	buf = capture_status(f->s, NULL, &o, 0, &err);
	assert_contains(buf, "trials: 1 queued, 0 running, 4 fit, 2 no_fit, 0 failed, 0 cancelled\n");
	assert_contains(buf, "cells: 1 searching, 2 done, 0 failed, 0 cancelled\n");
	assert_contains(buf, "campaign mnist, \"small\": running, cells 2/3 done, trials 6 done, 0 running, 1 queued");
	/* 2 of 3 cells: 13 of 20 marks; the compute is the cells' sum */
	assert_contains(
	    buf, "  progress [#############-------]  67% of cells; compute 2210 sample-gradients, 11.5 s training\n");
	assert_contains(buf, "  eta      ~");
	/* the keys the cells vary, by spec key */
	assert_contains(buf, "optimizer.lr");
	assert_contains(buf, "bracket");
	assert_contains(buf, "[24, 25)");
	assert_contains(buf, "[100, ?)");
	assert_contains(buf, "[16, 40)");
	assert_contains(buf, "searching");
	assert_contains(buf, "tanh");
	free(buf);

	/* The live list: alive and busy are the coordinator's. */
	o.have_live = true;
	o.live = live;
	o.n_live = 2;
	o.endpoint = "ipc://x";
	buf = capture_status(f->s, NULL, &o, 0, &err);
	assert_contains(buf, "workers: 2 alive, 1 busy (2/6 slots), 0 lost (at ipc://x)\n");
	free(buf);

	/* JSON: the same numbers, and the cells with their configuration. */
	o = (status_opts){.fmt = REPORT_JSON};
	buf = capture_status(f->s, NULL, &o, 0, &err);
	sql = sqlite3_mprintf("SELECT json_valid(%Q) AND json_extract(%Q, '$.campaigns[0].trials.fit') = 4"
			      " AND json_extract(%Q, '$.campaigns[0].trials.queued') = 1"
			      " AND json_extract(%Q, '$.campaigns[0].cells_done') = 2"
			      " AND json_array_length(%Q, '$.campaigns[0].cell_list') = 3"
			      " AND json_extract(%Q, '$.campaigns[0].cell_list[1].config.optimizer.name') = 'adam'"
			      " AND json_extract(%Q, '$.campaigns[0].eta.trials_left') >= 1"
			      " AND json_extract(%Q, '$.workers.source') = 'database'",
			      buf, buf, buf, buf, buf, buf, buf, buf);
	assert_int_equal(sql_int(f->path, sql), 1);
	sqlite3_free(sql);
	free(buf);

	o.fmt = REPORT_CSV;
	buf = capture_status(f->s, NULL, &o, 0, &err);
	assert_contains(buf, "campaign,cell,model,model.activation,optimizer.name,optimizer.lr,variant.labels,"
			     "budget.max_steps,state,lo,hi,full,trials_done,trials_running,trials_queued\n");
	assert_contains(buf, ",2,mlp[32],tanh,sgd,0.03,true,30000,searching,16,40,0,2,0,1\n");
	free(buf);

	free(capture_status(f->s, "nope", &o, -ENOENT, &err));
	assert_contains(err.msg, "nope");
}

/* The decisions a bisect walk still needs, and the bracket's drawing. */
static void test_status_estimate(void **state)
{
	char bar[25];

	(void)state;
	/* nothing decided: the first size (assumed no-fit), then halvings of
	 * [0, 16) down to width 1 */
	assert_int_equal(status_probes_left(0, 0, 16, 1000, 0.1), 5);
	/* lo 100: a doubling to 200, then halvings to within 10 */
	assert_int_equal(status_probes_left(100, 0, 16, 1000, 0.1), 5);
	/* the doubling caps at n_max */
	assert_int_equal(status_probes_left(600, 0, 16, 1000, 0.1), 4);
	assert_int_equal(status_probes_left(1000, 0, 16, 1000, 0.1), 0);
	assert_int_equal(status_probes_left(24, 25, 16, 1000, 0.1), 0);
	assert_int_equal(status_probes_left(16, 40, 16, 1000, 0.01), 4);

	/* log scale over [1, 1000], 24 marks: 10 at 8, 100 at 15 */
	status_bracket_bar(10, 100, 1000, false, 24, bar);
	assert_string_equal(bar, "--------========--------");
	status_bracket_bar(10, 100, 1000, true, 24, bar);
	assert_string_equal(bar, "--------|=======--------");
	status_bracket_bar(1, 0, 1000, false, 24, bar);
	assert_string_equal(bar, "========================");
}

/* ---- state names ------------------------------------------------------------ */

/* Every value of a state enum round-trips through its name, the names are
 * distinct, values outside the enum have none, and anything that is not a
 * name exactly is refused without touching the output. */
#define CHECK_NAMES(kind, COUNT)                                                          \
	do {                                                                              \
		for (int i_ = 0; i_ < (COUNT); i_++) {                                    \
			store_##kind##_state v_ = (store_##kind##_state)(COUNT);          \
			const char *n_ = store_##kind##_state_name((store_##kind##_state)i_); \
			char upper_[32];                                                  \
                                                                                          \
			assert_non_null(n_);                                              \
			assert_int_equal(store_##kind##_state_parse(n_, &v_), 0);         \
			assert_int_equal(v_, i_);                                         \
			for (int j_ = 0; j_ < i_; j_++)                                   \
				assert_string_not_equal(n_, store_##kind##_state_name(    \
								(store_##kind##_state)j_)); \
			snprintf(upper_, sizeof upper_, "%s", n_);                        \
			upper_[0] = (char)(upper_[0] - 'a' + 'A');                        \
			assert_int_equal(store_##kind##_state_parse(upper_, &v_), -EINVAL); \
			snprintf(upper_, sizeof upper_, "%s ", n_);                       \
			assert_int_equal(store_##kind##_state_parse(upper_, &v_), -EINVAL); \
			assert_int_equal(v_, i_);                                         \
		}                                                                         \
		assert_null(store_##kind##_state_name((store_##kind##_state)(COUNT)));    \
		assert_null(store_##kind##_state_name((store_##kind##_state)-1));         \
		{                                                                         \
			store_##kind##_state v_ = (store_##kind##_state)0;                \
			assert_int_equal(store_##kind##_state_parse("bogus", &v_), -EINVAL); \
			assert_int_equal(store_##kind##_state_parse("", &v_), -EINVAL);   \
			assert_int_equal(store_##kind##_state_parse(NULL, &v_), -EINVAL); \
		}                                                                         \
	} while (0)

/* The schema's CHECK of `table`.state accepts exactly the names of a table:
 * every name, and not '' (the opener of the SQL sets) nor a near miss. */
static void check_schema_names(fixture *f, const char *table, const char *const *names, int count)
{
	char sql[256];

	for (int i = 0; i < count; i++) {
		snprintf(sql, sizeof sql, "SAVEPOINT x; UPDATE %s SET state = '%s'; ROLLBACK TO x", table, names[i]);
		assert_int_equal(sql_exec(f->path, sql), SQLITE_OK);
	}
	snprintf(sql, sizeof sql, "UPDATE %s SET state = ''", table);
	assert_int_equal(sql_exec(f->path, sql) & 0xff, SQLITE_CONSTRAINT);
	snprintf(sql, sizeof sql, "UPDATE %s SET state = '%sx'", table, names[0]);
	assert_int_equal(sql_exec(f->path, sql) & 0xff, SQLITE_CONSTRAINT);
}

static void test_state_names(void **state)
{
	fixture *f = *state;
	const char *names[8];
	int64_t t, a;
	emc_err err = { "" };

	CHECK_NAMES(campaign, STORE_CAMPAIGN_STATE_COUNT);
	CHECK_NAMES(cell, STORE_CELL_STATE_COUNT);
	CHECK_NAMES(trial, STORE_TRIAL_STATE_COUNT);
	CHECK_NAMES(attempt, STORE_ATTEMPT_STATE_COUNT);

	/* the tables are the schema's: one row of each kind, every name tried */
	assert_int_equal(store_trial_insert(f->s, f->cell_ids[0], 16, 0, 0, &t, &err), 0);
	assert_int_equal(store_attempt_start(f->s, t, 0, 1000, &a, &err), 0);
	for (int i = 0; i < STORE_CAMPAIGN_STATE_COUNT; i++)
		names[i] = store_campaign_state_name((store_campaign_state)i);
	check_schema_names(f, "campaigns", names, STORE_CAMPAIGN_STATE_COUNT);
	for (int i = 0; i < STORE_CELL_STATE_COUNT; i++)
		names[i] = store_cell_state_name((store_cell_state)i);
	check_schema_names(f, "cells", names, STORE_CELL_STATE_COUNT);
	for (int i = 0; i < STORE_TRIAL_STATE_COUNT; i++)
		names[i] = store_trial_state_name((store_trial_state)i);
	check_schema_names(f, "trials", names, STORE_TRIAL_STATE_COUNT);
	for (int i = 0; i < STORE_ATTEMPT_STATE_COUNT; i++)
		names[i] = store_attempt_state_name((store_attempt_state)i);
	check_schema_names(f, "attempts", names, STORE_ATTEMPT_STATE_COUNT);
}

/* The sets the SQL tests are the sets the C predicates say: one trial in
 * each state, counted by the store's SQL, against the C definition. */
static void test_state_sets(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	store_counts c;
	int64_t t, terminal = 0, decided = 0;
	char sql[256];

	for (int i = 0; i < STORE_TRIAL_STATE_COUNT; i++) {
		assert_int_equal(store_trial_insert(f->s, f->cell_ids[0], 100 + i, 0, 0, &t, &err), 0);
		snprintf(sql, sizeof sql, "UPDATE trials SET state = '%s' WHERE id = %lld",
			 store_trial_state_name((store_trial_state)i), (long long)t);
		assert_int_equal(sql_exec(f->path, sql), SQLITE_OK);
		terminal += store_trial_state_terminal((store_trial_state)i);
	}
	for (int i = 0; i < N_CELLS; i++) {
		store_cell_state cs = (store_cell_state)(i % STORE_CELL_STATE_COUNT);

		assert_int_equal(store_cell_set(f->s, f->cell_ids[i], NULL, cs, &err), 0);
		decided += store_cell_state_decided(cs);
	}
	assert_int_equal(store_counts_get(f->s, f->campaign_id, &c, &err), 0);
	assert_int_equal(c.trials_done, terminal);
	assert_int_equal(c.trials_pending, 1);
	assert_int_equal(c.trials_running, 1);
	assert_int_equal(c.cells_done, decided);
	assert_int_equal(terminal, 4);
	assert_int_equal(decided, 2);
	assert_true(store_campaign_state_active(STORE_CAMPAIGN_PAUSED));
	assert_false(store_campaign_state_active(STORE_CAMPAIGN_CANCELLED));
	assert_true(store_attempt_state_ended(STORE_ATTEMPT_PREEMPTED));
	assert_false(store_attempt_state_ended(STORE_ATTEMPT_DONE));
	assert_false(store_trial_state_terminal(STORE_TRIAL_STATE_COUNT));
	/* only an ending state ends an attempt */
	assert_int_equal(store_attempt_end(f->s, 1, STORE_ATTEMPT_DONE, &err), -EINVAL);
	assert_int_equal(store_attempt_end(f->s, 1, STORE_ATTEMPT_RUNNING, &err), -EINVAL);
}

static int count_cells(void *ctx, const store_cell_row *c)
{
	(void)c;
	++*(int *)ctx;
	return 0;
}

/* A state the program does not know, written behind its back, is refused
 * where it is read, naming the table and the value. */
static void test_unknown_state_refused(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	int n = 0;

	assert_int_equal(sql_exec(f->path, "PRAGMA ignore_check_constraints = 1;"
					   " UPDATE cells SET state = 'serching' WHERE idx = 1"),
			 SQLITE_OK);
	assert_int_equal(store_load_active(f->s, NULL, count_cells, NULL, &n, &err), -EIO);
	assert_contains(err.msg, "cells");
	assert_contains(err.msg, "'serching'");
	assert_int_equal(n, 1); /* the cell before it, and nothing after */
	err.msg[0] = '\0';
	assert_int_equal(store_report_status(f->s, NULL, NULL, NULL, NULL, &err), -EIO);
	assert_contains(err.msg, "'serching'");

	assert_int_equal(sql_exec(f->path, "PRAGMA ignore_check_constraints = 1;"
					   " UPDATE campaigns SET state = 'Running'"),
			 SQLITE_OK);
	err.msg[0] = '\0';
	assert_int_equal(store_load_active(f->s, NULL, NULL, NULL, NULL, &err), 0); /* no walk asked for */
	assert_int_equal(store_report_status(f->s, NULL, NULL, NULL, NULL, &err), -EIO);
	assert_contains(err.msg, "campaigns");
	assert_contains(err.msg, "'Running'");
}

/* ---- the report queries ------------------------------------------------------ */

typedef struct report_rows {
	store_status_campaign campaign;
	int n_campaigns;
	store_status_cell cells[N_CELLS];
	int n_cells;
	store_results_row results[N_CELLS];
	int n_results;
	int64_t trial_n[8];
	store_trial_state trial_state[8];
	emc_stop_reason trial_reason[8];
	double trial_hmax[8];
	int n_trials;
} report_rows;

static int rows_campaign(void *ctx, const store_status_campaign *c)
{
	report_rows *r = ctx;

	r->campaign = *c;
	r->campaign.name = NULL; /* borrowed */
	r->n_campaigns++;
	return 0;
}

static int rows_cell(void *ctx, const store_status_cell *c)
{
	report_rows *r = ctx;

	assert_true(r->n_cells < N_CELLS);
	r->cells[r->n_cells] = *c;
	r->cells[r->n_cells].model = r->cells[r->n_cells].activation = NULL; /* borrowed */
	r->cells[r->n_cells].optimizer = r->cells[r->n_cells].labels = NULL;
	r->n_cells++;
	return 0;
}

static int rows_result(void *ctx, const store_results_row *row)
{
	report_rows *r = ctx;

	assert_true(r->n_results < N_CELLS);
	assert_string_equal(row->campaign, "mnist, \"small\"");
	assert_string_equal(row->dataset, "fashion-mnist/train");
	assert_string_equal(row->labels, row->cell == 1 ? "random" : "true");
	assert_string_equal(row->inputs, "true");
	r->results[r->n_results] = *row;
	/* strings are borrowed: not kept past the callback */
	r->results[r->n_results].campaign = r->results[r->n_results].dataset = NULL;
	r->results[r->n_results].model = r->results[r->n_results].labels = NULL;
	r->results[r->n_results].activation = r->results[r->n_results].optimizer = NULL;
	r->results[r->n_results].inputs = NULL;
	r->n_results++;
	return 0;
}

static int rows_trial(void *ctx, const store_trials_row *t)
{
	report_rows *r = ctx;

	assert_true(r->n_trials < 8);
	assert_int_equal(t->cell, 2);
	r->trial_n[r->n_trials] = t->n;
	r->trial_state[r->n_trials] = t->state;
	r->trial_reason[r->n_trials] = t->reason;
	r->trial_hmax[r->n_trials] = t->hessian_max;
	r->n_trials++;
	return 0;
}

static int rows_stop(void *ctx, const store_results_row *row)
{
	(void)ctx;
	(void)row;
	return -ECANCELED;
}

/* fill_results' campaign, as rows: counts per state, brackets, the EMC's
 * inputs (done, full, unconverged), the certificate, the trials of a cell. */
static void test_report_rows(void **state)
{
	fixture *f = *state;
	emc_err err = { "" };
	report_rows r = { .n_campaigns = 0 };
	const store_results_row *c0, *c1, *c2;

	fill_results(f);
	/* two running trials too, so that every count differs from the others */
	for (int64_t n = 20; n <= 21; n++) {
		int64_t t, a;

		assert_int_equal(store_trial_insert(f->s, f->cell_ids[2], n, 0, 0, &t, &err), 0);
		assert_int_equal(store_attempt_start(f->s, t, 0, 1000, &a, &err), 0);
	}
	assert_int_equal(store_report_status(f->s, NULL, rows_campaign, rows_cell, &r, &err), 1);
	assert_int_equal(r.campaign.id, f->campaign_id);
	assert_int_equal(r.campaign.state, STORE_CAMPAIGN_RUNNING);
	assert_int_equal(r.campaign.cells, 3);
	assert_int_equal(r.campaign.cells_decided, 2);
	assert_int_equal(r.campaign.trials_done, 6);
	assert_int_equal(r.campaign.trials_running, 2);
	assert_int_equal(r.campaign.trials_pending, 1);
	assert_int_equal(r.n_cells, 3);
	assert_int_equal(r.cells[0].state, STORE_CELL_DONE);
	assert_int_equal(r.cells[0].lo, 24);
	assert_int_equal(r.cells[0].hi, 25);
	assert_int_equal(r.cells[0].trials_done, 3);
	assert_int_equal(r.cells[1].lo, 100);
	assert_int_equal(r.cells[1].hi, 0);
	assert_int_equal(r.cells[2].state, STORE_CELL_SEARCHING);
	assert_int_equal(r.cells[2].trials_done, 2);
	assert_int_equal(r.cells[2].trials_running, 2);
	assert_int_equal(r.cells[2].trials_pending, 1);
	assert_true(r.cells[2].seed == UINT64_MAX - 5);
	/* a named campaign that is not there is no campaign */
	assert_int_equal(store_report_status(f->s, "nope", rows_campaign, rows_cell, &r, &err), 0);

	assert_int_equal(store_report_results(f->s, "mnist, \"small\"", rows_result, &r, &err), 3);
	c0 = &r.results[0], c1 = &r.results[1], c2 = &r.results[2];
	assert_int_equal(c0->state, STORE_CELL_DONE);
	assert_true(c0->unconverged); /* its no-fit at 25 stopped on the budget */
	assert_false(c0->full);
	assert_int_equal(c0->trials, 3);
	assert_true(c0->train_seconds == 6.75);
	assert_true(isnan(c0->lambda_min)); /* no certificate at lo = 24 */
	assert_true(c0->has_params);
	assert_int_equal(c0->params, 784 * 8 + 8 + 8 * 10 + 10);
	assert_int_equal(c1->state, STORE_CELL_DONE);
	assert_true(c1->full);
	assert_false(c1->unconverged);
	assert_true(c1->lambda_min == -0.00125 && c1->lambda_max == 42.5);
	assert_int_equal(c2->state, STORE_CELL_SEARCHING);
	assert_false(c2->unconverged); /* its no-fit at 40 was a plateau */
	assert_int_equal(c2->lo, 16);
	assert_int_equal(c2->hi, 40);
	assert_int_equal(c2->trials, 2); /* the running and pending ones do not count */
	assert_true(c2->train_seconds == 0.75);
	assert_int_equal(store_report_results(f->s, "nope", rows_result, &r, &err), -ENOENT);
	assert_int_equal(store_report_results(f->s, NULL, rows_stop, &r, &err), -ECANCELED);

	assert_int_equal(store_report_trials(f->s, "mnist, \"small\"", 2, rows_trial, &r, &err), 5);
	assert_int_equal(r.n_trials, 5);
	assert_int_equal(r.trial_n[0], 16);
	assert_int_equal(r.trial_state[0], STORE_TRIAL_FIT);
	assert_int_equal(r.trial_reason[0], EMC_STOP_FIT);
	assert_int_equal(r.trial_n[1], 20);
	assert_int_equal(r.trial_state[1], STORE_TRIAL_RUNNING);
	assert_int_equal(r.trial_reason[1], EMC_STOP_NONE);
	assert_int_equal(r.trial_n[2], 21);
	assert_int_equal(r.trial_state[3], STORE_TRIAL_PENDING); /* n = 32 */
	assert_int_equal(r.trial_n[4], 40);
	assert_int_equal(r.trial_state[4], STORE_TRIAL_NO_FIT);
	assert_int_equal(r.trial_reason[4], EMC_STOP_PLATEAU);
	assert_true(isnan(r.trial_hmax[4]));
	assert_int_equal(store_report_trials(f->s, "nope", -1, rows_trial, &r, &err), -ENOENT);
}

static void test_format_double(void **state)
{
	char buf[400];

	(void)state;
	/* SQLite's printf rounds in decimal, the C library the binary value */
	store_format_double(buf, sizeof buf, "%.2f", 0.125);
	assert_string_equal(buf, "0.13");
	store_format_double(buf, sizeof buf, "%!0.15g", 1.0);
	assert_string_equal(buf, "1.0");
	store_format_double(buf, sizeof buf, "%.2f", 1e300); /* wide: SQLite needs its own scratch */
	assert_int_equal(strlen(buf), 304);
	store_format_double(buf, 5, "%.2f", 1234.5);
	assert_string_equal(buf, "1234");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_schema_created, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_campaign_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_active_stop_and_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trial_insert_idempotent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attempt_start_finish, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lost_attempt_fenced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recover_running, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_future_version_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_v2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_v3, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_checkpoints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_reopen_cells, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_engine_pin_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_results, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_trials, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_summary, setup, teardown),
	    cmocka_unit_test(test_report_empty),
	    cmocka_unit_test_setup_teardown(test_report_status, setup, teardown),
	    cmocka_unit_test(test_status_estimate),
	    cmocka_unit_test_setup_teardown(test_state_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_sets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_state_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_rows, setup, teardown),
	    cmocka_unit_test(test_format_double),
	};

	sqlite3_auto_extension((void (*)(void))note_connection);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
