/* test_sched.c — the scheduling model, driven with C structs.
 *
 * No sockets and no protobuf: each test builds the model over a real
 * SQLite file in a fresh temporary directory, plays workers and control
 * clients by calling the model's functions, and captures what the model
 * sends unasked (assignments, cancels) through its sched_out callbacks.
 * Every test checks both what came out and what the store's rows say,
 * read through a second SQLite connection as emcctl would read them.
 *
 * Time is virtual: emc_now_ms() is wrapped at link time (--wrap), so a
 * lease or a grace period expires exactly when a test moves the clock.
 * emc_log() is wrapped too, so that a test can count what the model says.
 *
 * The campaign: one cell (or two) on a small synthetic dataset, search
 * from n = 16 up to 64, so that a few results decide it. The cell is
 * measured over its one seed, unless a test gives the campaign a pool:
 * then an oracle worker (fit(n, seed) known in advance) plays the trials
 * in a chosen order, and what the store says the cell decided is compared
 * across orders, slot counts and restarts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "campaign.h"
#include "cell.h"
#include "dataset.h"
#include "log.h"
#include "outbox.h"
#include "scheduler.h"
#include "spec.h"
#include "store.h"
#include "testutil.h"

#define CLOCK_START_MS ((int64_t)1000000000)
#define MAX_EVENTS     64

int64_t __wrap_emc_now_ms(void);
int __wrap_emc_dataset_load(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err);
int __real_emc_dataset_load(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err);

void __wrap_emc_log(enum emc_log_level level, const char *fmt, ...);
void __real_emc_log(enum emc_log_level level, const char *fmt, ...);

static int64_t clock_ms = CLOCK_START_MS;

/* Lines the model logged that say a pinned campaign waits for a worker. */
static int pin_waits_logged;

void __wrap_emc_log(enum emc_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (strstr(line, "wait for a worker with")) {
		assert_int_equal(level, EMC_LOG_INFO);
		pin_waits_logged++;
	}
	__real_emc_log(level, "%s", line);
}

int64_t __wrap_emc_now_ms(void)
{
	return clock_ms;
}

/* Every decode of a dataset from its files in this process, counted. */
static int dataset_loads;

int __wrap_emc_dataset_load(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err)
{
	dataset_loads++;
	return __real_emc_dataset_load(ref, ret, err);
}

typedef enum event_kind { EV_ASSIGN, EV_CANCEL } event_kind;

typedef struct event {
	event_kind kind;
	uint8_t peer; /* the first byte of the identity: tests name workers 'A', 'B', ... */
	int64_t attempt_id, trial_id, n;
	uint64_t seed;	      /* the replicate seed the assignment carries */
	int64_t resume_epoch; /* the checkpoint it carries (0: none) */
	size_t resume_len;
} event;

typedef struct fixture {
	char *dir;
	char *path;
	store *db;
	sqlite3 *look; /* a second connection, for reading rows behind the model's back */
	sched_config cfg;
	sched *s;
	int64_t campaign_id;
	event ev[MAX_EVENTS];
	int n_ev;
	int assigns_to_fail; /* the next this many Assigns cannot be sent */
	int assigns_failed;
	int n_recorded; /* results the model handed to the store */
	int64_t recorded_trial;
	emc_trial_result recorded; /* the last one, as handed over */
} fixture;

/* ---- outputs ------------------------------------------------------------- */

static int on_assign(void *ctx, const sched_peer *w, const sched_assign *a)
{
	fixture *f = ctx;

	assert_int_equal(a->cell.model.widths[0], 4); /* the cell's configuration travels whole */
	if (f->assigns_to_fail > 0) {
		/* The socket would not take it: nothing reached the worker. */
		f->assigns_to_fail--;
		f->assigns_failed++;
		return -EHOSTUNREACH;
	}
	assert_true(f->n_ev < MAX_EVENTS);
	f->ev[f->n_ev++] = (event){EV_ASSIGN,
				   w->id[0],
				   a->attempt_id,
				   a->trial_id,
				   a->n,
				   a->cell.seed,
				   a->resume ? a->resume_epoch : 0,
				   a->resume ? a->resume_len : 0};
	return 0;
}

static void on_cancel(void *ctx, const sched_peer *w, int64_t attempt_id)
{
	fixture *f = ctx;

	assert_true(f->n_ev < MAX_EVENTS);
	f->ev[f->n_ev++] = (event){EV_CANCEL, w->id[0], attempt_id, 0, 0, 0, 0, 0};
}

static void on_recorded(void *ctx, int64_t trial_id, const emc_trial_result *r)
{
	fixture *f = ctx;

	f->n_recorded++;
	f->recorded_trial = trial_id;
	f->recorded = *r;
}

static const sched_out capture = {.assign = on_assign, .cancel = on_cancel, .recorded = on_recorded};

/* The one event a step must have produced, and forget it. */
static event take_one(fixture *f, event_kind kind)
{
	event e;

	if (f->n_ev != 1 || f->ev[0].kind != kind)
		fail_msg("expected one %s, got %d event(s) (first: kind %d)", kind == EV_ASSIGN ? "assign" : "cancel",
			 f->n_ev, f->n_ev ? (int)f->ev[0].kind : -1);
	e = f->ev[0];
	f->n_ev = 0;
	return e;
}

/* ---- rows --------------------------------------------------------------------- */

static int64_t sql_int(fixture *f, const char *fmt, int64_t arg)
{
	char sql[512];
	sqlite3_stmt *st;
	int64_t v = -1;

	snprintf(sql, sizeof sql, fmt, arg);
	if (sqlite3_prepare_v2(f->look, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(f->look));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The text of one column (or "" when no row), into a static buffer. */
static const char *sql_text(fixture *f, const char *fmt, int64_t arg)
{
	static char out[256];
	char sql[512];
	sqlite3_stmt *st;

	snprintf(sql, sizeof sql, fmt, arg);
	out[0] = '\0';
	if (sqlite3_prepare_v2(f->look, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(f->look));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

#define attempt_state(f, id) sql_text(f, "SELECT state FROM attempts WHERE id = %" PRId64, id)
#define trial_state(f, id)   sql_text(f, "SELECT state FROM trials WHERE id = %" PRId64, id)
#define cell_state(f)                                                                                                  \
	sql_text(f, "SELECT state FROM cells WHERE campaign_id = %" PRId64 " ORDER BY id", (f)->campaign_id)
#define campaign_state(f) sql_text(f, "SELECT state FROM campaigns WHERE id = %" PRId64, (f)->campaign_id)

/* ---- set-up --------------------------------------------------------------------- */

/* The pool of insert_campaign_pool: seed index i is seed POOL_BASE + i. */
#define POOL_BASE 10

static void insert_campaign_with(fixture *f, const char *name, int n_cells, int n_seeds, int64_t max_n,
				 const emc_engine_cfg *engine)
{
	emc_campaign_spec spec;
	emc_cell_cfg cells[2];
	store_dataset_info ds = {.n_total = 1000, .shape = {1, 1, 4, 2}, .description = "synthetic"};
	emc_err err;

	memset(&spec, 0, sizeof spec);
	snprintf(spec.name, sizeof spec.name, "%s", name);
	snprintf(spec.dataset.format, sizeof spec.dataset.format, "synthetic");
	snprintf(spec.dataset.split, sizeof spec.dataset.split, "train");
	snprintf(spec.dataset.synth_teacher, sizeof spec.dataset.synth_teacher, "uniform");
	spec.dataset.synth_n = 1000;
	spec.dataset.synth_dim = 4;
	spec.dataset.synth_classes = 2;
	spec.search.start = 16;
	spec.search.precision = 0.01;
	spec.search.max_n = max_n;
	spec.n_seeds = n_seeds;
	for (int i = 0; i < n_seeds; i++)
		spec.seeds[i] = POOL_BASE + (uint64_t)i;
	for (int i = 0; i < n_cells; i++) {
		emc_cell_cfg_defaults(&cells[i]);
		cells[i].model.widths[0] = 4;
		cells[i].seed = (uint64_t)i;
	}
	spec.n_cells = n_cells;
	spec.cells = cells;
	if (engine)
		spec.engine = *engine;
	if (store_campaign_insert(f->db, &spec, "name: t\n", name, &ds, &f->campaign_id, &err) < 0)
		fail_msg("%s", err.msg);
}

static void insert_campaign_pool(fixture *f, const char *name, int n_cells, int n_seeds, int64_t max_n)
{
	insert_campaign_with(f, name, n_cells, n_seeds, max_n, NULL);
}

/* A second campaign of one cell (its own seed), pinned to `core` (NULL:
 * any) and `threads` (0: any); f->campaign_id stays the first one's.
 * Returns its id. */
static int64_t insert_pinned(fixture *f, const char *name, const char *core, int threads)
{
	emc_engine_cfg e = {"", threads};
	int64_t first = f->campaign_id, id;

	snprintf(e.blas_core, sizeof e.blas_core, "%s", core ? core : "");
	insert_campaign_with(f, name, 1, 0, 64, &e);
	id = f->campaign_id;
	f->campaign_id = first;
	return id;
}

static void start(fixture *f)
{
	emc_err err;

	f->n_ev = 0;
	if (sched_new(f->db, &f->cfg, &capture, f, &f->s, &err) < 0)
		fail_msg("sched_new: %s", err.msg);
}

/* The coordinator stops (its memory is gone) and starts again on the same file. */
static void restart(fixture *f)
{
	emc_err err;

	sched_destroy(&f->s);
	assert_null(f->s);
	store_close(&f->db);
	if (store_open(f->path, false, &f->db, &err) < 0)
		fail_msg("%s", err.msg);
	start(f);
}

static int setup_with(void **state, int n_cells, int n_seeds, int64_t max_n)
{
	fixture *f = calloc(1, sizeof *f);
	emc_err err;

	assert_non_null(f);
	clock_ms = CLOCK_START_MS;
	pin_waits_logged = 0;
	f->dir = tmpdir_new();
	f->path = malloc(strlen(f->dir) + 16);
	assert_non_null(f->path);
	sprintf(f->path, "%s/emc.db", f->dir);
	if (store_open(f->path, false, &f->db, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(sqlite3_open_v2(f->path, &f->look, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sched_config_defaults(&f->cfg);
	f->cfg.max_probes = 1; /* one trial per cell at a time, unless a test wants k-section */
	f->cfg.max_lost = 1;
	f->cfg.max_failed = 1;
	insert_campaign_pool(f, "t", n_cells, n_seeds, max_n);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 1, 0, 64); /* no pool: the cell's own seed (as a version-1 file) */
}

/* Two cells, each measured over a pool of 5 seeds, sizes up to 200. */
static int setup_pool(void **state)
{
	return setup_with(state, 2, 5, 200);
}

/* One such cell. */
static int setup_pool1(void **state)
{
	return setup_with(state, 1, 5, 200);
}

static int teardown(void **state)
{
	fixture *f = *state;

	sched_destroy(&f->s);
	sched_destroy(&f->s); /* NULL-safe */
	sqlite3_close(f->look);
	store_close(&f->db);
	tmpdir_remove(&f->dir);
	free(f->path);
	free(f);
	return 0;
}

/* ---- playing a worker ------------------------------------------------------------ */

static sched_peer peer(char name)
{
	sched_peer p = {.len = 2, .id = {(uint8_t)name, '0'}};

	return p;
}

/* Worker `name` says hello announcing the kernel `core` with `threads`
 * BLAS threads per slot. */
static void hello_as(fixture *f, const sched_peer *pp, uint32_t slots, const int64_t *running, size_t n_running,
		     const char *core, uint32_t threads)
{
	static sched_hello h; /* 8 KiB: not on the stack of every test */
	const sched_peer p = *pp;
	char name = (char)p.id[0];
	sched_welcome w;
	emc_err err;

	memset(&h, 0, sizeof h);
	h.slots = slots;
	h.pid = 42;
	snprintf(h.host, sizeof h.host, "host-%c", name);
	snprintf(h.emc_version, sizeof h.emc_version, "v-%c", name);
	snprintf(h.blas_core, sizeof h.blas_core, "%s", core);
	h.blas_threads = threads;
	h.n_running = n_running;
	for (size_t i = 0; i < n_running; i++)
		h.running[i] = running[i];
	if (sched_worker_hello(f->s, &p, &h, &w, &err) < 0)
		fail_msg("hello: %s", err.msg);
	assert_true(w.worker_id > 0);
	assert_int_equal(w.lease_ms, f->cfg.lease_ms);
}

static void hello_kernel(fixture *f, char name, uint32_t slots, const int64_t *running, size_t n_running,
			 const char *core, uint32_t threads)
{
	sched_peer p = peer(name);

	hello_as(f, &p, slots, running, n_running, core, threads);
}

/* Worker A announces the kernel "core-A" with 1 thread, B "core-B" with 2, ... */
static void hello(fixture *f, char name, uint32_t slots, const int64_t *running, size_t n_running)
{
	char core[16];

	snprintf(core, sizeof core, "core-%c", name);
	hello_kernel(f, name, slots, running, n_running, core, (uint32_t)(name - 'A' + 1));
}

static void ready(fixture *f, char name, uint32_t credit)
{
	sched_peer p = peer(name);

	assert_true(sched_worker_seen(f->s, &p));
	assert_int_equal(sched_worker_ready(f->s, &p, credit), 0);
}

static void heartbeat(fixture *f, char name, int64_t attempt_id)
{
	static sched_heartbeat hb;
	sched_peer p = peer(name);

	hb.n_attempts = attempt_id ? 1 : 0;
	hb.attempts[0] = attempt_id;
	assert_true(sched_worker_seen(f->s, &p));
	assert_int_equal(sched_worker_heartbeat(f->s, &p, &hb), 0);
}

/* Returns whether the model took the result. */
static bool result(fixture *f, char name, const event *a, emc_outcome outcome)
{
	sched_result r;
	sched_peer p = peer(name);

	memset(&r, 0, sizeof r);
	r.attempt_id = a->attempt_id;
	r.trial_id = a->trial_id;
	r.r.outcome = outcome;
	r.r.reason = outcome == EMC_OUTCOME_FIT ? EMC_STOP_FIT : EMC_STOP_PLATEAU;
	r.r.epochs = 3;
	/* A worker's own claim of provenance never counts: the model fills it. */
	snprintf(r.r.host, sizeof r.r.host, "claimed");
	snprintf(r.r.emc_version, sizeof r.r.emc_version, "claimed");
	snprintf(r.r.blas_core, sizeof r.r.blas_core, "claimed");
	r.r.blas_threads = 99;
	if (outcome == EMC_OUTCOME_FAILED)
		snprintf(r.r.error, sizeof r.r.error, "out of memory in slot 0");
	return sched_worker_result(f->s, &p, &r) == SCHED_RESULT_TAKEN;
}

static void tick_after(fixture *f, int64_t ms)
{
	clock_ms += ms;
	sched_tick(f->s);
}

/* Let ms pass while worker `name` heartbeats every half lease (about
 * attempt_id, 0: none), ticking as the coordinator's timer would. */
static void stay_alive(fixture *f, char name, int64_t attempt_id, int64_t ms)
{
	int64_t step = f->cfg.lease_ms / 2;

	for (; ms > step; ms -= step) {
		tick_after(f, step);
		heartbeat(f, name, attempt_id);
	}
	tick_after(f, ms);
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_dispatch_to_credit(void **state)
{
	fixture *f = *state;
	sched_peer stranger = peer('Z');
	event a;

	start(f);
	hello(f, 'A', 2, NULL, 0);
	sched_dispatch(f->s);
	assert_int_equal(f->n_ev, 0); /* no credit, no work */
	assert_int_equal(sched_worker_ready(f->s, &stranger, 1), -ENOENT);
	ready(f, 'A', 1);
	a = take_one(f, EV_ASSIGN);
	assert_int_equal(a.peer, 'A');
	assert_int_equal(a.n, 16);
	assert_string_equal(attempt_state(f, a.attempt_id), "running");
	assert_string_equal(trial_state(f, a.trial_id), "running");
	assert_int_equal(sql_int(f, "SELECT count(*) FROM attempts WHERE trial_id = %" PRId64, a.trial_id), 1);
	assert_string_equal(sql_text(f,
				     "SELECT w.host FROM attempts a JOIN workers w ON w.id = a.worker_id"
				     " WHERE a.id = %" PRId64,
				     a.attempt_id),
			    "host-A:42");
	/* One probe per cell (max_probes 1): the second credit waits. */
	ready(f, 'A', 1);
	assert_int_equal(f->n_ev, 0);
	assert_true(result(f, 'A', &a, EMC_OUTCOME_FIT));
	assert_string_equal(trial_state(f, a.trial_id), "fit");
	assert_string_equal(attempt_state(f, a.attempt_id), "done");
	assert_int_equal(sql_int(f, "SELECT lo FROM cells WHERE campaign_id = %" PRId64, f->campaign_id), 16);
	/* The next probe (galloping: 32) goes to the credit left, at the
	 * loop's next dispatch. */
	assert_int_equal(f->n_ev, 0);
	sched_dispatch(f->s);
	a = take_one(f, EV_ASSIGN);
	assert_int_equal(a.n, 32);
}

/* A worker goes silent: its attempt is lost when the lease runs out and
 * the trial runs again, on a worker that is alive. */
static event expire_lease(fixture *f)
{
	event a, b;

	start(f);
	hello(f, 'A', 1, NULL, 0);
	ready(f, 'A', 1);
	a = take_one(f, EV_ASSIGN);
	hello(f, 'B', 1, NULL, 0);
	ready(f, 'B', 1);
	assert_int_equal(f->n_ev, 0);
	tick_after(f, f->cfg.lease_ms / 2);
	heartbeat(f, 'B', 0);
	assert_int_equal(f->n_ev, 0);
	assert_string_equal(attempt_state(f, a.attempt_id), "running");
	tick_after(f, f->cfg.lease_ms / 2 + 1); /* A silent past its lease; B heard from half a lease ago */
	assert_string_equal(attempt_state(f, a.attempt_id), "lost");
	b = take_one(f, EV_ASSIGN);
	assert_int_equal(b.peer, 'B');
	assert_int_equal(b.trial_id, a.trial_id);
	assert_true(b.attempt_id != a.attempt_id);
	assert_string_equal(attempt_state(f, b.attempt_id), "running");
	assert_string_equal(trial_state(f, a.trial_id), "running");
	assert_int_equal(sql_int(f, "SELECT attempts FROM trials WHERE id = %" PRId64, a.trial_id), 2);
	return a;
}

static void test_lease_expiry(void **state)
{
	fixture *f = *state;

	(void)expire_lease(f);
}

/* Heartbeats keep a lease alive past lease_ms. */
static void test_heartbeat_renews_lease(void **state)
{
	fixture *f = *state;
	event a;

	start(f);
	hello(f, 'A', 1, NULL, 0);
	ready(f, 'A', 1);
	a = take_one(f, EV_ASSIGN);
	for (int i = 0; i < 4; i++) {
		tick_after(f, f->cfg.lease_ms / 2);
		heartbeat(f, 'A', a.attempt_id);
	}
	tick_after(f, 1);
	assert_int_equal(f->n_ev, 0);
	assert_string_equal(attempt_state(f, a.attempt_id), "running");
}

static void test_fencing(void **state)
{
	fixture *f = *state;
	event lost = expire_lease(f), live = lost;
	sched_peer a = peer('A');

	live.attempt_id =
	    sql_int(f, "SELECT id FROM attempts WHERE trial_id = %" PRId64 " AND state = 'running'", lost.trial_id);
	/* The silent worker comes back with the result of its expired attempt. */
	assert_false(sched_worker_seen(f->s, &a)); /* it was retired with its lease */
	assert_false(result(f, 'A', &lost, EMC_OUTCOME_FIT));
	assert_int_equal(sched_results_fenced(f->s), 1);
	assert_string_equal(attempt_state(f, lost.attempt_id), "lost");
	assert_string_equal(trial_state(f, lost.trial_id), "running");
	/* Nor may another worker deliver the live attempt's result. */
	hello(f, 'A', 1, NULL, 0);
	assert_false(result(f, 'A', &live, EMC_OUTCOME_NO_FIT));
	assert_int_equal(sched_results_fenced(f->s), 2);
	assert_string_equal(trial_state(f, live.trial_id), "running");
	/* The live attempt's own result counts, once. */
	assert_true(result(f, 'B', &live, EMC_OUTCOME_FIT));
	assert_string_equal(trial_state(f, live.trial_id), "fit");
	assert_string_equal(attempt_state(f, live.attempt_id), "done");
	assert_false(result(f, 'B', &live, EMC_OUTCOME_FIT));
	assert_int_equal(sched_results_fenced(f->s), 3);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM trials WHERE state = 'fit' AND id = %" PRId64, live.trial_id),
			 1);
}

/* Provenance: the model hands the store each result with the host, emc
 * version and BLAS kernel and threads of the worker that holds the attempt
 * (its Hello's, not what the result claims), seen through the `recorded`
 * hook since the store keeps no column for them yet. */
static void assert_provenance(fixture *f, const char *host, const char *version, const char *core, int threads)
{
	assert_string_equal(f->recorded.host, host);
	assert_string_equal(f->recorded.emc_version, version);
	assert_string_equal(f->recorded.blas_core, core);
	assert_int_equal(f->recorded.blas_threads, threads);
}

static void test_result_provenance(void **state)
{
	fixture *f = *state;
	event lost = expire_lease(f), live = lost, next;

	live.attempt_id =
	    sql_int(f, "SELECT id FROM attempts WHERE trial_id = %" PRId64 " AND state = 'running'", lost.trial_id);
	/* A's stale result is not handed over; B holds the trial now. */
	assert_false(result(f, 'A', &lost, EMC_OUTCOME_FIT));
	hello(f, 'A', 1, NULL, 0);
	assert_int_equal(f->n_recorded, 0);
	assert_true(result(f, 'B', &live, EMC_OUTCOME_FIT));
	assert_int_equal(f->n_recorded, 1);
	assert_int_equal(f->recorded_trial, live.trial_id);
	assert_int_equal(f->recorded.outcome, EMC_OUTCOME_FIT);
	assert_int_equal(f->recorded.epochs, 3); /* the rest travels as the worker sent it */
	assert_provenance(f, "host-B", "v-B", "core-B", 2);

	/* The next probe runs on A: A's provenance. */
	ready(f, 'A', 1);
	sched_dispatch(f->s);
	next = take_one(f, EV_ASSIGN);
	assert_int_equal(next.peer, 'A');
	assert_true(result(f, 'A', &next, EMC_OUTCOME_FIT));
	assert_int_equal(f->n_recorded, 2);
	assert_provenance(f, "host-A", "v-A", "core-A", 1);

	/* After a restart, an orphan's result counts only from the session it
	 * was leased to: not before that peer said hello, not from another
	 * worker, not from A's identity with another key; from A once it says
	 * hello again (its attempt finished, so its Hello does not list it),
	 * with the provenance that Hello names. */
	sched_dispatch(f->s);
	ready(f, 'A', 1);
	next = take_one(f, EV_ASSIGN);
	restart(f);
	f->n_recorded = 0;
	assert_false(result(f, 'A', &next, EMC_OUTCOME_NO_FIT));
	hello(f, 'B', 1, NULL, 0);
	assert_false(result(f, 'B', &next, EMC_OUTCOME_NO_FIT));
	assert_int_equal(f->n_recorded, 0);
	hello(f, 'A', 1, NULL, 0);
	assert_true(result(f, 'A', &next, EMC_OUTCOME_NO_FIT));
	assert_int_equal(f->n_recorded, 1);
	assert_provenance(f, "host-A", "v-A", "core-A", 1);
}

/* A heartbeat that lists attempt_id in its unacked list (finished, the
 * result not yet acknowledged), or lists nothing at all (attempt_id 0). */
static void heartbeat_unacked(fixture *f, char name, int64_t attempt_id)
{
	static sched_heartbeat hb;
	sched_peer p = peer(name);

	memset(&hb, 0, sizeof hb);
	hb.n_unacked = attempt_id ? 1 : 0;
	hb.unacked[0] = attempt_id;
	assert_true(sched_worker_seen(f->s, &p));
	assert_int_equal(sched_worker_heartbeat(f->s, &p, &hb), 0);
}

/* An attempt the worker holds but its heartbeats leave out (the Assign
 * never arrived, or it dropped the result) is lost after
 * SCHED_UNLISTED_BEATS of them, though the worker itself stays alive:
 * before, its heartbeats renewed the lease of every attempt it held, and
 * the trial stayed running for ever. Listed as unacknowledged counts as
 * held, and one listing resets the count. */
static void test_heartbeat_unlisted_is_lost(void **state)
{
	fixture *f = *state;
	event a, b;

	start(f);
	hello(f, 'A', 1, NULL, 0);
	ready(f, 'A', 1);
	a = take_one(f, EV_ASSIGN);
	for (int i = 0; i < SCHED_UNLISTED_BEATS - 1; i++)
		heartbeat_unacked(f, 'A', 0);
	heartbeat_unacked(f, 'A', a.attempt_id); /* finished, the result on its way: still held */
	for (int i = 0; i < SCHED_UNLISTED_BEATS - 1; i++)
		heartbeat(f, 'A', 0);
	assert_string_equal(attempt_state(f, a.attempt_id), "running");
	assert_int_equal(f->n_ev, 0);
	heartbeat(f, 'A', 0); /* the third in a row that leaves it out */
	assert_string_equal(attempt_state(f, a.attempt_id), "lost");
	assert_string_equal(trial_state(f, a.trial_id), "pending");
	/* Its slot is free again: asked for, the trial runs once more. */
	ready(f, 'A', 1);
	b = take_one(f, EV_ASSIGN);
	assert_int_equal(b.trial_id, a.trial_id);
	assert_true(b.attempt_id != a.attempt_id);
	/* The lease of a listed attempt is renewed: alive past a lease. */
	for (int i = 0; i < 4; i++) {
		tick_after(f, f->cfg.lease_ms / 2);
		heartbeat(f, 'A', b.attempt_id);
	}
	assert_string_equal(attempt_state(f, b.attempt_id), "running");
}

/* An Assign the socket would not take (the worker gone, its queue full)
 * used to be logged at debug and forgotten: the trial waited out a lease.
 * Now the attempt ends lost at once, the trial is queued again and another
 * worker gets it in the same pass; the worker is left alone until it is
 * heard from, and nothing counts against the trial's retry budget. */
static void test_assign_send_fails_requeued(void **state)
{
	fixture *f = *state;
	event b, c;
	int64_t first;

	f->cfg.max_lost = 0; /* a counted loss would fail the trial at once */
	start(f);
	hello(f, 'B', 1, NULL, 0);
	hello(f, 'A', 1, NULL, 0);
	f->assigns_to_fail = 1;
	ready(f, 'A', 1); /* A's Assign fails: B has no credit yet */
	assert_int_equal(f->assigns_failed, 1);
	assert_int_equal(f->n_ev, 0);
	first = sql_int(f, "SELECT max(id) FROM attempts", 0);
	assert_string_equal(attempt_state(f, first), "lost");
	assert_string_equal(trial_state(f, sql_int(f, "SELECT trial_id FROM attempts WHERE id = %" PRId64, first)),
			    "pending");
	ready(f, 'B', 1);
	b = take_one(f, EV_ASSIGN);
	assert_int_equal(b.peer, 'B');
	assert_int_equal(b.trial_id, sql_int(f, "SELECT trial_id FROM attempts WHERE id = %" PRId64, first));
	/* A still has its credit, and gets work once heard from again. */
	assert_true(result(f, 'B', &b, EMC_OUTCOME_FIT));
	ready(f, 'B', 0);
	assert_int_equal(f->n_ev, 0);
	heartbeat(f, 'A', 0);
	sched_dispatch(f->s);
	c = take_one(f, EV_ASSIGN);
	assert_int_equal(c.peer, 'A');
	assert_string_equal(trial_state(f, b.trial_id), "fit");
}

static sched_peer peer_key(char name, const char *key)
{
	sched_peer p = peer(name);

	snprintf(p.key, sizeof p.key, "%s", key);
	return p;
}

/* A worker session is its identity and its key: the same routing identity
 * authenticated with another key can neither deliver the attempt's result
 * nor reclaim it after a restart; the session it was leased to can. */
static void test_result_needs_session_key(void **state)
{
	fixture *f = *state;
	sched_peer k1 = peer_key('A', "key-one"), k2 = peer_key('A', "key-two");
	sched_result r;
	event a;

	start(f);
	hello_as(f, &k1, 1, NULL, 0, "core-A", 1);
	assert_true(sched_worker_seen(f->s, &k1));
	assert_int_equal(sched_worker_ready(f->s, &k1, 1), 0);
	a = take_one(f, EV_ASSIGN);
	hello_as(f, &k2, 1, NULL, 0, "core-A", 1);
	memset(&r, 0, sizeof r);
	r.attempt_id = a.attempt_id;
	r.trial_id = a.trial_id;
	r.r.outcome = EMC_OUTCOME_FIT;
	r.r.reason = EMC_STOP_FIT;
	assert_int_equal(sched_worker_result(f->s, &k2, &r), SCHED_RESULT_STALE);
	assert_string_equal(attempt_state(f, a.attempt_id), "running");

	/* After a restart: k2 lists the attempt and is told to stop it; k1
	 * lists it and keeps it, and its result counts. */
	restart(f);
	hello_as(f, &k2, 1, &a.attempt_id, 1, "core-A", 1);
	assert_int_equal(take_one(f, EV_CANCEL).attempt_id, a.attempt_id);
	assert_int_equal(sched_worker_result(f->s, &k2, &r), SCHED_RESULT_STALE);
	hello_as(f, &k1, 1, &a.attempt_id, 1, "core-A", 1);
	assert_int_equal(f->n_ev, 0);
	assert_int_equal(sched_worker_result(f->s, &k1, &r), SCHED_RESULT_TAKEN);
	assert_string_equal(trial_state(f, a.trial_id), "fit");
}

/* A result the store refused is not acknowledged (UNSTORED): the trial
 * stays running with its attempt, and the same result sent again is
 * taken once the store takes writes again. Before, it was acknowledged
 * "not recorded", and the worker dropped it. The refusal is real: an
 * SQLite trigger aborts the recording transaction. */
static void test_result_unstored_not_acked(void **state)
{
	fixture *f = *state;
	sched_peer a_peer = peer('A');
	sched_result r;
	event a;
	char *msg = NULL;
	sqlite3 *rw = NULL;

	start(f);
	hello(f, 'A', 1, NULL, 0);
	ready(f, 'A', 1);
	a = take_one(f, EV_ASSIGN);
	assert_int_equal(sqlite3_open(f->path, &rw), SQLITE_OK);
	if (sqlite3_exec(rw,
			 "CREATE TRIGGER refuse BEFORE UPDATE OF state ON trials"
			 " BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
			 NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s", msg);
	memset(&r, 0, sizeof r);
	r.attempt_id = a.attempt_id;
	r.trial_id = a.trial_id;
	r.r.outcome = EMC_OUTCOME_NO_FIT;
	r.r.reason = EMC_STOP_PLATEAU;
	assert_int_equal(sched_worker_result(f->s, &a_peer, &r), SCHED_RESULT_UNSTORED);
	assert_string_equal(trial_state(f, a.trial_id), "running");
	assert_string_equal(attempt_state(f, a.attempt_id), "running");
	assert_int_equal(f->n_recorded, 0);
	/* The worker's slot is free meanwhile, so the Ready it sends after a
	 * result is not capped to nothing (which left it waiting for ever).
	 * Its heartbeats list the refused result as unacknowledged. */
	{
		sched_worker_info info;

		assert_int_equal(sched_worker_list(f->s, &info, 1), 1);
		assert_int_equal(info.busy, 0);
	}
	heartbeat_unacked(f, 'A', a.attempt_id);
	if (sqlite3_exec(rw, "DROP TRIGGER refuse", NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s", msg);
	sqlite3_close(rw);
	assert_int_equal(sched_worker_result(f->s, &a_peer, &r), SCHED_RESULT_TAKEN);
	assert_string_equal(trial_state(f, a.trial_id), "no_fit");
	/* Sent a third time (its ack was lost): a known duplicate. */
	assert_int_equal(sched_worker_result(f->s, &a_peer, &r), SCHED_RESULT_STALE);
	assert_int_equal(f->n_recorded, 1);
}

static void checkpoint(fixture *f, char name, const event *a, int64_t epoch, size_t len)
{
	static uint8_t state[64];
	sched_peer p = peer(name);
	sched_checkpoint c = {.attempt_id = a->attempt_id,
			      .trial_id = a->trial_id,
			      .epoch = epoch,
			      .step = 10 * epoch,
			      .state = state,
			      .len = len};

	memset(state, (int)epoch, sizeof state);
	assert_true(sched_worker_seen(f->s, &p));
	assert_int_equal(sched_worker_checkpoint(f->s, &p, &c), 0);
}

/* max_lost = 1, counted only for attempts that made no progress: an
 * attempt that delivered a checkpoint is lost for free, and the next one
 * carries that checkpoint; attempts that die before any checkpoint still
 * use up the budget, so a trial that kills its worker every time fails. A
 * checkpoint from a worker that does not hold the attempt, or older than
 * the kept one, is not kept and is no progress. */
static void test_lost_budget_counts_no_progress(void **state)
{
	fixture *f = *state;
	sched_peer a = peer('A');
	event e;

	start(f);
	hello(f, 'B', 1, NULL, 0);
	for (int i = 0; i < 4; i++) {
		hello(f, 'A', 1, NULL, 0);
		ready(f, 'A', 1);
		e = take_one(f, EV_ASSIGN);
		assert_int_equal(e.resume_epoch, i == 0 ? 0 : 10 * i);
		assert_int_equal(e.resume_len, i == 0 ? 0 : 64);
		checkpoint(f, 'B', &e, 100, 64);    /* not B's attempt */
		checkpoint(f, 'A', &e, 10 * i, 64); /* not beyond the kept one */
		checkpoint(f, 'A', &e, 10 * (i + 1), 64);
		sched_worker_bye(f->s, &a);
		assert_string_equal(trial_state(f, e.trial_id), "pending");
	}
	assert_int_equal(sql_int(f,
				 "SELECT count(*) FROM attempts WHERE trial_id = %" PRId64
				 " AND state = 'lost' AND checkpoints > 0",
				 e.trial_id),
			 4);
	/* Now it dies before its first checkpoint, twice: the second fails it. */
	for (int i = 0; i < 2; i++) {
		hello(f, 'A', 1, NULL, 0);
		ready(f, 'A', 1);
		e = take_one(f, EV_ASSIGN);
		assert_int_equal(e.resume_epoch, 40);
		checkpoint(f, 'B', &e, 100, 64);
		checkpoint(f, 'A', &e, 40, 64);
		checkpoint(f, 'A', &e, 50, SCHED_CHECKPOINT_MAX + 1); /* too big to keep */
		sched_worker_bye(f->s, &a);
	}
	assert_string_equal(trial_state(f, e.trial_id), "failed");
	assert_int_equal(sql_int(f, "SELECT count(*) FROM checkpoints", 0), 0);
}

/* max_lost = 1: the second lost attempt fails the trial and its cell. */
static void test_retries_lost(void **state)
{
	fixture *f = *state;
	sched_peer a = peer('A');
	event e1, e2;

	start(f);
	hello(f, 'A', 1, NULL, 0);
	ready(f, 'A', 1);
	e1 = take_one(f, EV_ASSIGN);
	sched_worker_bye(f->s, &a);
	assert_string_equal(attempt_state(f, e1.attempt_id), "lost");
	assert_string_equal(trial_state(f, e1.trial_id), "pending");
	hello(f, 'A', 1, NULL, 0);
	ready(f, 'A', 1);
	e2 = take_one(f, EV_ASSIGN);
	assert_int_equal(e2.trial_id, e1.trial_id);
	sched_worker_bye(f->s, &a);
	assert_string_equal(attempt_state(f, e2.attempt_id), "lost");
	assert_string_equal(trial_state(f, e1.trial_id), "failed");
	assert_contains(sql_text(f, "SELECT error FROM trials WHERE id = %" PRId64, e1.trial_id),
			"2 attempt(s) lost or preempted");
	assert_string_equal(cell_state(f), "failed");
	assert_string_equal(campaign_state(f), "done");
	assert_true(sched_all_done(f->s));
}

/* max_failed = 1: one failed attempt is retried, the second is final. */
static void test_retries_failed(void **state)
{
	fixture *f = *state;
	event e1, e2;

	start(f);
	hello(f, 'A', 1, NULL, 0);
	ready(f, 'A', 1);
	e1 = take_one(f, EV_ASSIGN);
	assert_true(result(f, 'A', &e1, EMC_OUTCOME_FAILED));
	assert_string_equal(attempt_state(f, e1.attempt_id), "failed");
	assert_string_equal(trial_state(f, e1.trial_id), "pending");
	assert_string_equal(cell_state(f), "searching");
	ready(f, 'A', 1);
	e2 = take_one(f, EV_ASSIGN);
	assert_int_equal(e2.trial_id, e1.trial_id);
	assert_true(result(f, 'A', &e2, EMC_OUTCOME_FAILED));
	assert_string_equal(trial_state(f, e1.trial_id), "failed");
	assert_string_equal(sql_text(f, "SELECT error FROM trials WHERE id = %" PRId64, e1.trial_id),
			    "out of memory in slot 0");
	assert_string_equal(cell_state(f), "failed");
	assert_string_equal(campaign_state(f), "done");
	assert_true(sched_all_done(f->s));
}

/* The coordinator restarts while a trial runs; its worker's Hello lists
 * the attempt, which carries on and whose result counts. */
static void test_reclaim_after_restart(void **state)
{
	fixture *f = *state;
	event a;

	start(f);
	hello(f, 'A', 1, NULL, 0);
	ready(f, 'A', 1);
	a = take_one(f, EV_ASSIGN);
	restart(f);
	assert_string_equal(attempt_state(f, a.attempt_id), "running");
	tick_after(f, f->cfg.grace_ms / 2);
	hello(f, 'A', 1, &a.attempt_id, 1);
	assert_int_equal(f->n_ev, 0);			   /* no cancel: it is still its attempt */
	stay_alive(f, 'A', a.attempt_id, f->cfg.grace_ms); /* well past the grace */
	assert_int_equal(f->n_ev, 0);
	assert_string_equal(attempt_state(f, a.attempt_id), "running");
	assert_true(result(f, 'A', &a, EMC_OUTCOME_FIT));
	assert_string_equal(attempt_state(f, a.attempt_id), "done");
	assert_string_equal(trial_state(f, a.trial_id), "fit");
	assert_int_equal(sched_results_fenced(f->s), 0);
}

/* Nobody reclaims the orphan within grace_ms: it is lost and runs again;
 * a worker that lists an attempt it was never given is told to stop. */
static void test_orphan_requeued_after_grace(void **state)
{
	fixture *f = *state;
	int64_t bogus = 9999;
	event a, b, c;

	start(f);
	hello(f, 'A', 1, NULL, 0);
	ready(f, 'A', 1);
	a = take_one(f, EV_ASSIGN);
	restart(f);
	hello(f, 'B', 1, &bogus, 1);
	c = take_one(f, EV_CANCEL);
	assert_int_equal(c.peer, 'B');
	assert_int_equal(c.attempt_id, bogus);
	stay_alive(f, 'B', 0, f->cfg.grace_ms - 1);
	heartbeat(f, 'B', 0);
	assert_string_equal(attempt_state(f, a.attempt_id), "running");
	tick_after(f, 2);
	assert_string_equal(attempt_state(f, a.attempt_id), "lost");
	assert_string_equal(trial_state(f, a.trial_id), "pending");
	ready(f, 'B', 1);
	b = take_one(f, EV_ASSIGN);
	assert_int_equal(b.peer, 'B');
	assert_int_equal(b.trial_id, a.trial_id);
	assert_true(b.attempt_id > a.attempt_id);
}

/* k-section: two probes of one cell run at once; the result of one makes
 * the other pointless, which is cancelled and ends cancelled. */
static void test_pointless_probe_cancelled(void **state)
{
	fixture *f = *state;
	event p16, p32, c;

	f->cfg.max_probes = 2;
	start(f);
	hello(f, 'A', 2, NULL, 0);
	ready(f, 'A', 2);
	assert_int_equal(f->n_ev, 2);
	p16 = f->ev[0];
	p32 = f->ev[1];
	f->n_ev = 0;
	assert_int_equal(p16.n, 16);
	assert_int_equal(p32.n, 32); /* the speculative doubling */
	assert_true(result(f, 'A', &p16, EMC_OUTCOME_NO_FIT));
	assert_int_equal(sql_int(f, "SELECT hi FROM cells WHERE campaign_id = %" PRId64, f->campaign_id), 16);
	/* 32 >= hi: pointless. Its cancel goes out (and bisection below 16 may start). */
	assert_true(f->n_ev >= 1);
	c = f->ev[0];
	assert_int_equal(c.kind, EV_CANCEL);
	assert_int_equal(c.attempt_id, p32.attempt_id);
	assert_string_equal(trial_state(f, p32.trial_id), "running");
	assert_true(result(f, 'A', &p32, EMC_OUTCOME_CANCELLED));
	assert_string_equal(trial_state(f, p32.trial_id), "cancelled");
	assert_string_equal(attempt_state(f, p32.attempt_id), "cancelled");
	assert_string_equal(cell_state(f), "searching");
}

static void test_campaign_pause_resume_cancel(void **state)
{
	fixture *f = *state;
	emc_err err;
	event a;

	start(f);
	assert_int_equal(sched_campaign_control(f->s, SCHED_VERB_PAUSE, "nope", &err), -ENOENT);
	assert_contains(err.msg, "no active campaign named 'nope'");
	assert_int_equal(sched_campaign_control(f->s, SCHED_VERB_PAUSE, "t", &err), 0);
	assert_string_equal(campaign_state(f), "paused");
	hello(f, 'A', 1, NULL, 0);
	ready(f, 'A', 1);
	assert_int_equal(f->n_ev, 0); /* paused: nothing starts */
	assert_int_equal(sched_campaign_control(f->s, SCHED_VERB_RESUME, "t", &err), 0);
	assert_string_equal(campaign_state(f), "running");
	sched_dispatch(f->s);
	a = take_one(f, EV_ASSIGN);
	assert_int_equal(sched_campaign_control(f->s, SCHED_VERB_CANCEL, "t", &err), 0);
	assert_string_equal(campaign_state(f), "cancelled");
	a = (event){.kind = EV_CANCEL, .attempt_id = a.attempt_id, .trial_id = a.trial_id};
	assert_int_equal(take_one(f, EV_CANCEL).attempt_id, a.attempt_id);
	assert_true(sched_all_done(f->s));
	assert_true(result(f, 'A', &a, EMC_OUTCOME_CANCELLED));
	assert_string_equal(trial_state(f, a.trial_id), "cancelled");
	tick_after(f, 1);
	assert_int_equal(sched_campaign_control(f->s, SCHED_VERB_RESUME, "t", &err), -ENOENT);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM trials WHERE state IN ('pending', 'running')", 0), 0);
}

/* ---- an oracle worker ----------------------------------------------------------- */

/* fit(n, seed index): what training would do, known in advance. */
typedef bool (*oracle_fn)(int64_t n, int seed);

/* Fit up to 40 and at the hole 48 for every seed: the pattern whose late
 * FIT at n >= hi moved the former search's bracket. */
static bool fit_hole(int64_t n, int seed)
{
	(void)seed;
	return n <= 40 || n == 48;
}

/* Replicates that disagree near capacity: seed i fits up to 100 + 13·i,
 * seed 1 also fails at 64 (non-monotone), seed 3 fails everything above
 * 16. */
static bool fit_spread(int64_t n, int seed)
{
	if (seed == 3)
		return n <= 16;
	if (seed == 1 && n == 64)
		return false;
	return n <= 100 + 13 * seed;
}

typedef enum order { ORDER_FIFO, ORDER_LIFO, ORDER_RANDOM } order;

typedef struct running {
	event a;
	bool cancelled; /* the model asked to stop it */
} running;

/* A worker 'A' with `slots` slots that plays trials by an oracle, in an
 * order, answering a cancel with the outcome anyway when `late` (a worker
 * that finished before the cancel reached it). */
typedef struct player {
	oracle_fn fit;
	order ord;
	bool late;
	uint64_t rng;
	running run[MAX_EVENTS];
	int n_run;
	int results, late_results;
} player;

static void player_collect(fixture *f, player *p)
{
	for (int i = 0; i < f->n_ev; i++) {
		event *e = &f->ev[i];

		if (e->kind == EV_ASSIGN) {
			assert_true(p->n_run < MAX_EVENTS);
			/* The assignment runs the seed its trial row records. */
			assert_int_equal(e->seed,
					 sql_int(f, "SELECT seed FROM trials WHERE id = %" PRId64, e->trial_id));
			p->run[p->n_run++] = (running){*e, false};
		} else {
			for (int k = 0; k < p->n_run; k++)
				if (p->run[k].a.attempt_id == e->attempt_id)
					p->run[k].cancelled = true;
		}
	}
	f->n_ev = 0;
}

/* The seed index of an assignment: the pool is POOL_BASE + i, or (no pool)
 * the cell's own seed 0. */
static int seed_index_of(const event *e)
{
	return e->seed >= POOL_BASE ? (int)(e->seed - POOL_BASE) : 0;
}

/* Play one trial to its end. Returns false when nothing runs. */
static bool player_step(fixture *f, player *p)
{
	sched_result r;
	sched_peer pa = peer('A');
	running cur;
	int k;

	player_collect(f, p);
	if (p->n_run == 0)
		return false;
	if (p->ord == ORDER_FIFO) {
		k = 0;
	} else if (p->ord == ORDER_LIFO) {
		k = p->n_run - 1;
	} else {
		p->rng = p->rng * 6364136223846793005ull + 1442695040888963407ull;
		k = (int)((p->rng >> 33) % (uint64_t)p->n_run);
	}
	cur = p->run[k];
	memmove(p->run + k, p->run + k + 1, (size_t)(p->n_run - k - 1) * sizeof *p->run);
	p->n_run--;
	memset(&r, 0, sizeof r);
	r.attempt_id = cur.a.attempt_id;
	r.trial_id = cur.a.trial_id;
	if (cur.cancelled && !p->late) {
		r.r.outcome = EMC_OUTCOME_CANCELLED;
		r.r.reason = EMC_STOP_CANCELLED;
	} else {
		bool fit = p->fit(cur.a.n, seed_index_of(&cur.a));

		r.r.outcome = fit ? EMC_OUTCOME_FIT : EMC_OUTCOME_NO_FIT;
		r.r.reason = fit ? EMC_STOP_FIT : EMC_STOP_PLATEAU;
		r.r.sample_grads = 100 * cur.a.n;
		p->late_results += cur.cancelled;
	}
	r.r.epochs = 3;
	r.r.train_seconds = 0.5;
	assert_int_equal(sched_worker_result(f->s, &pa, &r), SCHED_RESULT_TAKEN);
	p->results++;
	ready(f, 'A', 1);
	return true;
}

/* Play until the campaign is done (or `steps` results, when > 0). */
static void player_run(fixture *f, player *p, int steps)
{
	for (int i = 0; steps <= 0 || i < steps; i++) {
		if (!player_step(f, p))
			break;
		assert_true(p->results < 400); /* a cell that never finishes is the bug */
	}
}

/* What the store says the cell measured, as one line. */
static const char *measured(fixture *f)
{
	return sql_text(f,
			"SELECT group_concat(printf('%%s emc=%%d hi=%%d full=%%d [%%d, %%d] seeds=%%d lo=%%d/%%d"
			" hi=%%d/%%d plateau=%%d budget=%%d nonmono=%%d uncertain=%%d consumed=%%d unconv=%%d',"
			" state, emc, hi, full, emc_low, emc_high, seeds_used, lo_fits, lo_total, hi_fits, hi_total,"
			" hi_plateau, hi_budget, nonmonotone, uncertain, trials_consumed, unconverged), '; ')"
			" FROM (SELECT * FROM cells WHERE campaign_id = %" PRId64 " ORDER BY idx)",
			f->campaign_id);
}

/* Run the fixture's campaign with one worker of `slots` slots and give
 * what it measured (copied into out). */
static void play(fixture *f, int slots, int max_probes, player *p, char *out, size_t size)
{
	f->cfg.max_probes = max_probes;
	start(f);
	hello(f, 'A', (uint32_t)slots, NULL, 0);
	ready(f, 'A', (uint32_t)slots);
	player_run(f, p, 0);
	assert_true(sched_all_done(f->s));
	assert_string_equal(campaign_state(f), "done");
	assert_int_equal(sql_int(f, "SELECT count(*) FROM trials WHERE state IN ('pending', 'running')", 0), 0);
	snprintf(out, size, "%s", measured(f));
}

/* The former hang: with four slots, a cancelled probe's late FIT at a size
 * the bracket had passed made the search ask again for a size that had a
 * finished trial, which could never start. Now the late result is kept,
 * changes nothing, and the cell finishes with the one-slot answer. */
static void test_late_fit_after_cancel_finishes(void **state)
{
	fixture *f = *state;
	player one = {.fit = fit_hole, .ord = ORDER_FIFO};
	player four = {.fit = fit_hole, .ord = ORDER_FIFO, .late = true};
	char want[256], got[256];

	play(f, 1, 1, &one, want, sizeof want);
	assert_contains(want, "done emc=48 hi=49");
	assert_int_equal(one.late_results, 0);
	teardown(state);
	setup(state);
	f = *state;
	play(f, 4, 4, &four, got, sizeof got);
	assert_true(four.late_results > 0); /* the case happened */
	assert_string_equal(got, want);
	/* Late results are recorded, not dropped; no pair was tried twice. */
	assert_int_equal(sql_int(f, "SELECT count(*) FROM trials WHERE state IN ('fit', 'no_fit')", 0),
			 four.results - sql_int(f, "SELECT count(*) FROM trials WHERE state = 'cancelled'", 0));
	assert_int_equal(sql_int(f, "SELECT count(*) - count(DISTINCT n || '/' || seed_index) FROM trials", 0), 0);
}

/* Several seeds: each trial carries seeds[index], the rows say which; the
 * answer is the same for one slot and five, in any order, with the
 * cancelled probes' results ignored or delivered late. */
static void test_pool_order_independent(void **state)
{
	fixture *f = *state;
	player ref = {.fit = fit_spread, .ord = ORDER_FIFO};
	char want[256], got[256];

	play(f, 1, 1, &ref, want, sizeof want);
	assert_contains(want, "done ");
	assert_int_equal(sql_int(f, "SELECT count(*) FROM trials WHERE seed <> seed_index + 10", 0), 0);
	assert_true(sql_int(f, "SELECT count(DISTINCT seed_index) FROM trials", 0) >= 3);
	assert_int_equal(sql_int(f, "SELECT sum(sample_grads) FROM cells", 0),
			 sql_int(f, "SELECT sum(sample_grads) FROM trials", 0));
	assert_int_equal(sql_int(f,
				 "SELECT count(*) FROM cells c WHERE sample_grads <>"
				 " (SELECT sum(t.sample_grads) FROM trials t WHERE t.cell_id = c.id)",
				 0),
			 0);
	for (int round = 0; round < 6; round++) {
		player p = {.fit = fit_spread, .ord = (order)(round % 3), .late = round >= 3, .rng = (uint64_t)round};

		teardown(state);
		setup_pool(state);
		f = *state;
		play(f, 5, 8, &p, got, sizeof got);
		assert_string_equal(got, want);
	}
}

/* A restart in the middle replays the stored outcomes: the decisions, the
 * EMC and its interval are those of the run without a restart. */
static void test_restart_replays_same_decisions(void **state)
{
	fixture *f = *state;
	player ref = {.fit = fit_spread, .ord = ORDER_FIFO};
	player p = {.fit = fit_spread, .ord = ORDER_RANDOM, .late = true, .rng = 7};
	char want[256], got[256];
	int64_t running_ids[MAX_EVENTS];

	play(f, 3, 3, &ref, want, sizeof want);
	for (int cut = 2; cut <= 8; cut += 3) {
		teardown(state);
		setup_pool(state);
		f = *state;
		f->cfg.max_probes = 3;
		start(f);
		hello(f, 'A', 3, NULL, 0);
		ready(f, 'A', 3);
		player_run(f, &p, cut);
		player_collect(f, &p);
		restart(f);
		/* The worker comes back with what it still runs: reclaimed. */
		for (int i = 0; i < p.n_run; i++)
			running_ids[i] = p.run[i].a.attempt_id;
		hello(f, 'A', 3, running_ids, (size_t)p.n_run);
		ready(f, 'A', 3);
		player_run(f, &p, 0);
		assert_true(sched_all_done(f->s));
		snprintf(got, sizeof got, "%s", measured(f));
		assert_string_equal(got, want);
		p = (player){.fit = fit_spread, .ord = ORDER_RANDOM, .late = true, .rng = (uint64_t)cut};
	}
}

/* Fail trial a until its retries are spent. */
static void give_up_trial(fixture *f, const event *a)
{
	for (int i = 0; i <= f->cfg.max_failed; i++) {
		event e = *a;

		if (i > 0) {
			ready(f, 'A', 1);
			e = take_one(f, EV_ASSIGN);
			assert_int_equal(e.trial_id, a->trial_id);
		}
		assert_true(result(f, 'A', &e, EMC_OUTCOME_FAILED));
	}
}

/* A failed trial is no observation: the next seed is read and the cell
 * goes on; a cell whose every seed failed at one size fails. */
static void test_failed_trials_read_next_seed(void **state)
{
	fixture *f = *state;
	event a;

	start(f);
	hello(f, 'A', 1, NULL, 0);
	ready(f, 'A', 1);
	a = take_one(f, EV_ASSIGN);
	assert_int_equal(a.n, 16);
	assert_int_equal(a.seed, POOL_BASE + 0);
	give_up_trial(f, &a);
	assert_string_equal(trial_state(f, a.trial_id), "failed");
	assert_string_equal(cell_state(f), "searching");
	/* The first seed failed at 16: the next one is read there. */
	ready(f, 'A', 1);
	for (int seed = 1; seed < 5; seed++) {
		a = take_one(f, EV_ASSIGN);
		assert_int_equal(a.n, 16);
		assert_int_equal(a.seed, POOL_BASE + (uint64_t)seed);
		give_up_trial(f, &a);
		if (seed < 4) {
			assert_string_equal(cell_state(f), "searching");
			ready(f, 'A', 1);
		}
	}
	/* Every seed of the pool failed at 16: that decision rests on nothing. */
	assert_string_equal(cell_state(f), "failed");
	assert_string_equal(campaign_state(f), "done");
	assert_true(sched_all_done(f->s));
}

/* ---- the outbox: held frames leave after the commit, or never -------------- */

typedef struct sent_log {
	int n;
	char last[16];
} sent_log;

static int on_send(void *ctx, outbox_channel ch, const uint8_t *id, size_t id_len, const uint8_t *buf, size_t len)
{
	sent_log *l = ctx;

	(void)ch;
	(void)id;
	(void)id_len;
	l->n++;
	snprintf(l->last, sizeof l->last, "%.*s", (int)len, (const char *)buf);
	return 0;
}

static void test_outbox_holds_until_commit(void **state)
{
	sent_log l = {0, ""};
	outbox *o = NULL;

	(void)state;
	assert_int_equal(outbox_new(on_send, &l, &o), 0);
	assert_int_equal(outbox_hold(o, OUTBOX_CONTROL, (const uint8_t *)"c", 1, (const uint8_t *)"now", 3), 0);
	assert_int_equal(l.n, 1); /* no batch open: sent at once */
	outbox_hold_begin(o);
	assert_int_equal(outbox_hold(o, OUTBOX_WORKERS, (const uint8_t *)"w", 1, (const uint8_t *)"ack1", 4), 0);
	assert_int_equal(outbox_hold(o, OUTBOX_CONTROL, (const uint8_t *)"c", 1, (const uint8_t *)"reply", 5), 0);
	outbox_send(o, OUTBOX_WORKERS, (const uint8_t *)"w", 1, (const uint8_t *)"assign", 6);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.last, "assign");
	outbox_release(o, true);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.last, "reply"); /* in the order held */
	outbox_hold_begin(o);
	assert_int_equal(outbox_hold(o, OUTBOX_WORKERS, (const uint8_t *)"w", 1, (const uint8_t *)"ack2", 4), 0);
	outbox_release(o, false); /* the commit failed: dropped */
	assert_int_equal(l.n, 4);
	outbox_hold_begin(o);
	assert_int_equal(outbox_hold(o, OUTBOX_WORKERS, (const uint8_t *)"w", 1, (const uint8_t *)"ack3", 4), 0);
	outbox_destroy(&o); /* dropped, not leaked */
	assert_null(o);
	assert_int_equal(l.n, 4);
}

/* One preparation per process: a campaign submitted with what this process
 * already prepared is served to workers from that decoded dataset, not
 * decoded again; after a restart (nothing prepared) the files are read once. */
static void test_prepared_dataset_served_without_decode(void **state)
{
	static const char text[] = "name: served\n"
				   "dataset: {format: synthetic, n: 300, dim: 5, classes: 3}\n"
				   "model: {widths: [4]}\n"
				   "search: {start: 16, max_n: 64}\n";
	fixture *f = *state;
	sched_peer p = peer('A');
	sched_data_request q = {.has_hash = true, .length = 1 << 20};
	sched_chunk chunk;
	campaign_prep prep;
	uint8_t *expect = NULL;
	size_t expect_len = 0;
	int64_t id;
	sched_submitted found = SCHED_SUBMIT_DONE;
	emc_err err;

	start(f);
	dataset_loads = 0;
	if (campaign_prepare(text, sizeof text - 1, "served.yaml", NULL, &prep, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(dataset_loads, 1);
	assert_non_null(prep.data);
	assert_int_equal(emc_dataset_encode(prep.data, &expect, &expect_len, &err), 0);
	memcpy(q.hash, prep.data->hash, sizeof q.hash);
	if (sched_submit_prepared(f->s, &prep, text, sizeof text - 1, "served.yaml", false, &id, &found, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(found, SCHED_SUBMIT_NEW);
	assert_null(prep.data); /* the scheduler took it */
	campaign_prep_deinit(&prep);

	hello(f, 'A', 1, NULL, 0);
	assert_int_equal(sched_worker_data(f->s, &p, &q, &chunk), 0);
	assert_null(chunk.error);
	assert_int_equal(chunk.total, expect_len);
	assert_int_equal(chunk.len, expect_len);
	assert_memory_equal(chunk.data, expect, expect_len);
	assert_int_equal(dataset_loads, 1); /* served from the prepared copy */

	restart(f);
	hello(f, 'A', 1, NULL, 0);
	assert_int_equal(sched_worker_data(f->s, &p, &q, &chunk), 0);
	assert_null(chunk.error);
	assert_int_equal(chunk.total, expect_len);
	assert_int_equal(dataset_loads, 2); /* nothing prepared: read from the files, once */
	assert_int_equal(sched_worker_data(f->s, &p, &q, &chunk), 0);
	assert_int_equal(dataset_loads, 2);
	free(expect);
}

/* Submitting a spec again: running resumes, paused resumes only when asked
 * (emcctl run) and is refused otherwise (launch), done has nothing to run,
 * cancelled is refused; nothing is written by a refusal. */
static void test_submit_again_by_state(void **state)
{
	static const char text[] = "name: again\n"
				   "dataset: {format: synthetic, n: 300, dim: 5, classes: 3}\n"
				   "model: {widths: [4]}\n"
				   "search: {start: 16, max_n: 64}\n";
	fixture *f = *state;
	sched_submitted found;
	int64_t id, id2;
	emc_err err;

	start(f);
	assert_int_equal(sched_submit(f->s, text, sizeof text - 1, "again.yaml", NULL, false, &id, &found, &err), 0);
	assert_int_equal(found, SCHED_SUBMIT_NEW);
	assert_int_equal(sched_submit(f->s, text, sizeof text - 1, "again.yaml", NULL, false, &id2, &found, &err), 0);
	assert_int_equal(found, SCHED_SUBMIT_RESUMED);
	assert_int_equal(id2, id);

	assert_int_equal(sched_campaign_control(f->s, SCHED_VERB_PAUSE, "again", &err), 0);
	assert_int_equal(sched_submit(f->s, text, sizeof text - 1, "again.yaml", NULL, false, &id2, &found, &err),
			 -EBUSY);
	assert_contains(err.msg, "emcctl resume again");
	assert_int_equal(sql_int(f, "SELECT count(*) FROM campaigns WHERE name = 'again' AND state = 'paused'", 0), 1);
	assert_int_equal(sched_submit(f->s, text, sizeof text - 1, "again.yaml", NULL, true, &id2, &found, &err), 0);
	assert_int_equal(found, SCHED_SUBMIT_RESUMED);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM campaigns WHERE name = 'again' AND state = 'running'", 0), 1);

	/* as the model writes them when the last cell is decided, or on cancel */
	assert_int_equal(store_campaign_set_state(f->db, id, STORE_CAMPAIGN_DONE, &err), 0);
	assert_int_equal(sched_submit(f->s, text, sizeof text - 1, "again.yaml", NULL, false, &id2, &found, &err), 0);
	assert_int_equal(found, SCHED_SUBMIT_DONE);
	assert_contains(err.msg, "already done");

	assert_int_equal(store_campaign_set_state(f->db, id, STORE_CAMPAIGN_CANCELLED, &err), 0);
	assert_int_equal(sched_submit(f->s, text, sizeof text - 1, "again.yaml", NULL, true, &id2, &found, &err),
			 -EALREADY);
	assert_contains(err.msg, "was cancelled");
	assert_int_equal(sql_int(f, "SELECT count(*) FROM campaigns", 0), 2); /* the fixture's and this one */
}

static int setup_two(void **state)
{
	return setup_with(state, 2, 0, 64);
}

#define cells_in(f, st)                                                                                                \
	sql_int(f, "SELECT count(*) FROM cells WHERE state = '" st "' AND campaign_id = %" PRId64, (f)->campaign_id)

/* Cancel marks the cells still searching cancelled (a decided one stays);
 * reopen is refused while a cancelled trial still runs, then puts the
 * cancelled cells back to searching and their cancelled trials back to
 * pending, and the campaign ends with exactly the answer of a run never
 * cancelled. Launch of the cancelled campaign names reopen. */
static void test_cancel_reopen(void **state)
{
	fixture *f = *state;
	player one = {.fit = fit_hole, .ord = ORDER_FIFO};
	player p = {.fit = fit_hole, .ord = ORDER_FIFO};
	char want[512], got[512], decided[256];
	emc_err err;

	play(f, 1, 1, &one, want, sizeof want);
	teardown(state);
	setup_two(state);
	f = *state;
	start(f);
	hello(f, 'A', 1, NULL, 0);
	ready(f, 'A', 1);
	while (cells_in(f, "done") == 0)
		assert_true(player_step(f, &p));
	player_collect(f, &p);
	assert_int_equal(p.n_run, 1); /* one trial of the other cell runs */
	snprintf(
	    decided, sizeof decided, "%s",
	    sql_text(
		f,
		"SELECT printf('%%d %%d %%d', id, emc, hi) FROM cells WHERE state = 'done' AND campaign_id = %" PRId64,
		f->campaign_id));

	assert_int_equal(sched_campaign_control(f->s, SCHED_VERB_REOPEN, "t", &err), -EALREADY);
	assert_contains(err.msg, "not cancelled");
	assert_int_equal(sched_campaign_control(f->s, SCHED_VERB_CANCEL, "t", &err), 0);
	assert_int_equal(cells_in(f, "cancelled"), 1);
	assert_int_equal(cells_in(f, "done"), 1);
	assert_int_equal(cells_in(f, "searching"), 0);
	assert_int_equal(sched_campaign_control(f->s, SCHED_VERB_REOPEN, "t", &err), -EBUSY);
	assert_string_equal(campaign_state(f), "cancelled");
	assert_true(player_step(f, &p)); /* the worker stops it: cancelled */
	assert_int_equal(sql_int(f, "SELECT count(*) FROM trials WHERE state = 'cancelled'", 0), 1);
	assert_int_equal(sched_campaign_control(f->s, SCHED_VERB_REOPEN, "nope", &err), -ENOENT);

	assert_int_equal(sched_campaign_control(f->s, SCHED_VERB_REOPEN, "t", &err), 0);
	assert_string_equal(campaign_state(f), "running");
	assert_int_equal(cells_in(f, "searching"), 1);
	assert_int_equal(cells_in(f, "cancelled"), 0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM trials WHERE state = 'cancelled'", 0), 0);
	assert_string_equal(
	    sql_text(f, "SELECT printf('%%d %%d %%d', id, emc, hi) FROM cells WHERE id = %" PRId64, atoll(decided)),
	    decided);
	assert_false(sched_all_done(f->s));
	sched_dispatch(f->s); /* as the control handler does after every request */
	player_run(f, &p, 0);
	assert_true(sched_all_done(f->s));
	assert_string_equal(campaign_state(f), "done");
	snprintf(got, sizeof got, "%s", measured(f));
	/* both cells measure what the one cell of the uncancelled run did */
	assert_non_null(strstr(got, want));
	assert_non_null(strstr(strstr(got, want) + 1, want));
}

/* A cancelled campaign launched again is refused, naming reopen; reopened,
 * the same launch resumes it. */
static void test_launch_cancelled_names_reopen(void **state)
{
	static const char text[] = "name: again\n"
				   "dataset: {format: synthetic, n: 300, dim: 5, classes: 3}\n"
				   "model: {widths: [4]}\n"
				   "search: {start: 16, max_n: 64}\n";
	fixture *f = *state;
	sched_submitted found;
	int64_t id, id2;
	emc_err err;

	start(f);
	assert_int_equal(sched_submit(f->s, text, sizeof text - 1, "again.yaml", NULL, false, &id, &found, &err), 0);
	assert_int_equal(sched_campaign_control(f->s, SCHED_VERB_CANCEL, "again", &err), 0);
	assert_int_equal(
	    sql_int(f, "SELECT count(*) FROM cells WHERE campaign_id = %" PRId64 " AND state = 'cancelled'", id), 1);
	assert_int_equal(sched_submit(f->s, text, sizeof text - 1, "again.yaml", NULL, false, &id2, &found, &err),
			 -EALREADY);
	assert_contains(err.msg, "emcctl reopen again");
	tick_after(f, 1);
	assert_int_equal(sched_campaign_control(f->s, SCHED_VERB_REOPEN, "again", &err), 0);
	assert_int_equal(
	    sql_int(f, "SELECT count(*) FROM cells WHERE campaign_id = %" PRId64 " AND state = 'searching'", id), 1);
	assert_int_equal(sched_submit(f->s, text, sizeof text - 1, "again.yaml", NULL, false, &id2, &found, &err), 0);
	assert_int_equal(found, SCHED_SUBMIT_RESUMED);
	assert_int_equal(id2, id);
}

/* Launched again under its name, a campaign is the same when its spec
 * parses to the same content (a comment, the key order or the layout
 * changed: resumed), and refused, naming the key, when a value changed,
 * with nothing written. */
static void test_submit_same_by_content(void **state)
{
	static const char text[] = "name: again\n"
				   "dataset: {format: synthetic, n: 300, dim: 5, classes: 3}\n"
				   "model: {widths: [4]}\n"
				   "search: {start: 16, max_n: 64}\n";
	static const char reworded[] = "# the same campaign, reformatted\n"
				       "search:\n  max_n: 64\n  start: 16   # first size\n"
				       "model: {widths: [4]}\n"
				       "name: again\n"
				       "dataset:\n  classes: 3\n  dim: 5\n  n: 300\n  format: synthetic\n";
	static const char changed[] = "name: again\n"
				      "dataset: {format: synthetic, n: 300, dim: 5, classes: 3}\n"
				      "model: {widths: [4]}\n"
				      "search: {start: 16, max_n: 32}\n";
	fixture *f = *state;
	sched_submitted found;
	int64_t id, id2 = 0;
	emc_err err;

	start(f);
	assert_int_equal(sched_submit(f->s, text, sizeof text - 1, "again.yaml", NULL, false, &id, &found, &err), 0);
	assert_int_equal(found, SCHED_SUBMIT_NEW);
	assert_int_equal(
	    sched_submit(f->s, reworded, sizeof reworded - 1, "again.yaml", NULL, false, &id2, &found, &err), 0);
	assert_int_equal(found, SCHED_SUBMIT_RESUMED);
	assert_int_equal(id2, id);
	id2 = 0;
	assert_int_equal(sched_submit(f->s, changed, sizeof changed - 1, "again.yaml", NULL, false, &id2, &found, &err),
			 -EEXIST);
	assert_contains(err.msg, "search.max_n (64, now 32) differs");
	assert_int_equal(id2, 0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM campaigns", 0), 2); /* the fixture's and this one */
	assert_int_equal(
	    sql_int(f, "SELECT count(*) FROM campaigns WHERE name = 'again' AND spec_text LIKE '%%max_n: 64%%'", 0), 1);
}

/* Worker `name` (one slot) says hello announcing `bytes` of memory. */
static void hello_memory(fixture *f, char name, uint64_t bytes)
{
	static sched_hello h;
	sched_peer p = peer(name);
	sched_welcome w;
	emc_err err;

	memset(&h, 0, sizeof h);
	h.slots = 1;
	h.pid = 7;
	snprintf(h.host, sizeof h.host, "host-%c", name);
	h.memory_bytes = bytes;
	if (sched_worker_hello(f->s, &p, &h, &w, &err) < 0)
		fail_msg("hello: %s", err.msg);
}

/* A model that cannot fit is refused at launch, naming the cell, its model
 * and both sizes, with nothing written: against the largest memory a
 * connected worker announced (a worker that announced none does not
 * count), or with none, against the ceiling, which the 10^12-parameter MLP
 * exceeds. */
static void test_submit_refuses_model_too_big(void **state)
{
	static const char huge[] = "name: huge\n"
				   "dataset: {format: synthetic, n: 300, dim: 5, classes: 3}\n"
				   "model: {widths: [1000000, 1000000]}\n";
	/* 5·4096 + 4096² + 4096·3 weights and 2·4096 + 3 biases: 16 818 179
	 * parameters, with gradients and sgd's velocity 12 bytes each: 192.5 MiB */
	static const char big[] = "name: big\n"
				  "dataset: {format: synthetic, n: 300, dim: 5, classes: 3}\n"
				  "model: {widths: [[4], [4096, 4096]]}\n"
				  "optimizer: {name: sgd, momentum: 0.9}\n";
	fixture *f = *state;
	sched_submitted found;
	int64_t id = 0;
	emc_err err;

	start(f);
	assert_int_equal(sched_submit(f->s, huge, sizeof huge - 1, "huge.yaml", NULL, false, &id, &found, &err),
			 -EFBIG);
	assert_contains(err.msg, "huge.yaml: cell 0 (mlp");
	assert_contains(err.msg, "needs at least 10.9 TiB (a lower bound");
	assert_contains(err.msg, "1.0 TiB");
	hello_memory(f, 'A', 64u << 20);
	hello_memory(f, 'B', 0);
	assert_int_equal(sched_submit(f->s, big, sizeof big - 1, "big.yaml", NULL, false, &id, &found, &err), -EFBIG);
	assert_contains(err.msg, "cell 1 (mlp");
	assert_contains(err.msg, "needs at least 192.5 MiB");
	assert_contains(err.msg, "the largest worker announces 64.0 MiB");
	assert_int_equal(sql_int(f, "SELECT count(*) FROM campaigns", 0), 1); /* the fixture's only */
	hello_memory(f, 'C', (uint64_t)1 << 30);
	assert_int_equal(sched_submit(f->s, big, sizeof big - 1, "big.yaml", NULL, false, &id, &found, &err), 0);
	assert_int_equal(found, SCHED_SUBMIT_NEW);
	assert_int_equal(sched_submit(f->s, huge, sizeof huge - 1, "huge.yaml", NULL, false, &id, &found, &err),
			 -EFBIG);
	assert_contains(err.msg, "the largest worker announces 1.0 GiB");
}

/* ---- engine pins ------------------------------------------------------------ */

/* The campaign a trial belongs to. */
static int64_t trial_campaign(fixture *f, int64_t trial_id)
{
	return sql_int(f,
		       "SELECT ce.campaign_id FROM trials t JOIN cells ce ON ce.id = t.cell_id WHERE t.id = %" PRId64,
		       trial_id);
}

/* Trials of campaign id that ever started an attempt, and those that are
 * no longer pending or running without a result (failed or cancelled). */
#define campaign_attempts(f, id)                                                                                       \
	sql_int(                                                                                                       \
	    f,                                                                                                         \
	    "SELECT count(*) FROM attempts a JOIN trials t ON t.id = a.trial_id JOIN cells ce ON ce.id = t.cell_id"    \
	    " WHERE ce.campaign_id = %" PRId64,                                                                        \
	    id)
#define campaign_pending(f, id)                                                                                        \
	sql_int(f,                                                                                                     \
		"SELECT count(*) FROM trials t JOIN cells ce ON ce.id = t.cell_id"                                     \
		" WHERE ce.state = 'searching' AND t.state = 'pending' AND ce.campaign_id = %" PRId64,                 \
		id)
#define campaign_lost(f, id)                                                                                           \
	sql_int(f,                                                                                                     \
		"SELECT count(*) FROM trials t JOIN cells ce ON ce.id = t.cell_id"                                     \
		" WHERE t.state IN ('failed', 'cancelled') AND ce.campaign_id = %" PRId64,                             \
		id)

/* Two workers with different kernels: a campaign pinned to B's kernel has
 * its trials run only by B, while the unpinned campaign's go to both; A,
 * idle, gets nothing of the pinned one, which waits for B. */
static void test_pin_dispatch(void **state)
{
	fixture *f = *state;
	int64_t t = f->campaign_id, p = insert_pinned(f, "p", "core-B", 0);
	event a1, b1, b2;

	start(f);
	hello(f, 'A', 1, NULL, 0); /* core-A x1 */
	hello(f, 'B', 1, NULL, 0); /* core-B x2 */
	ready(f, 'A', 1);
	a1 = take_one(f, EV_ASSIGN);
	assert_int_equal(a1.peer, 'A');
	assert_int_equal(trial_campaign(f, a1.trial_id), t);
	ready(f, 'B', 1);
	b1 = take_one(f, EV_ASSIGN);
	assert_int_equal(b1.peer, 'B');
	assert_int_equal(trial_campaign(f, b1.trial_id), p);
	assert_true(result(f, 'A', &a1, EMC_OUTCOME_FIT));
	assert_true(result(f, 'B', &b1, EMC_OUTCOME_FIT));
	assert_string_equal(sql_text(f, "SELECT blas_core FROM trials WHERE id = %" PRId64, b1.trial_id), "core-B");

	/* The unpinned campaign's next probe (queued first) goes to B too. */
	ready(f, 'B', 1);
	b2 = take_one(f, EV_ASSIGN);
	assert_int_equal(trial_campaign(f, b2.trial_id), t);
	/* A is idle, the pinned campaign has a probe queued: A gets none of it. */
	ready(f, 'A', 1);
	sched_dispatch(f->s);
	assert_int_equal(f->n_ev, 0);
	assert_int_equal(campaign_pending(f, p), 1);
	assert_int_equal(campaign_attempts(f, p), 1);
	/* B, free again, takes it. */
	assert_true(result(f, 'B', &b2, EMC_OUTCOME_FIT));
	ready(f, 'B', 1);
	for (int i = 0; i < f->n_ev; i++)
		if (f->ev[i].peer == 'A')
			assert_int_not_equal(trial_campaign(f, f->ev[i].trial_id), p);
	assert_int_equal(sql_int(f,
				 "SELECT count(*) FROM attempts a JOIN trials t ON t.id = a.trial_id"
				 " JOIN cells ce ON ce.id = t.cell_id JOIN workers w ON w.id = a.worker_id"
				 " WHERE ce.campaign_id = %" PRId64 " AND w.host NOT LIKE 'host-B%%'",
				 p),
			 0);
	assert_int_equal(campaign_attempts(f, p), 2);
	assert_int_equal(pin_waits_logged, 0); /* B was connected all along */
}

/* The pin is the campaign's, in the store: a coordinator that restarts
 * (store reopened, model rebuilt) still hands a campaign pinned to two
 * BLAS threads only to the worker that runs two, and the worker with one
 * still gets the unpinned campaign's trials, queued behind the pinned one. */
static void test_pin_survives_restart(void **state)
{
	fixture *f = *state;
	int64_t t = f->campaign_id, p = insert_pinned(f, "p", NULL, 2);
	event a, a2, b;

	start(f);
	hello(f, 'A', 1, NULL, 0); /* x1 */
	ready(f, 'A', 1);
	a = take_one(f, EV_ASSIGN);
	assert_int_equal(trial_campaign(f, a.trial_id), t);

	restart(f);
	hello(f, 'A', 1, &a.attempt_id, 1); /* it still trains a: reclaimed */
	assert_true(result(f, 'A', &a, EMC_OUTCOME_FIT));
	ready(f, 'A', 1);
	a2 = take_one(f, EV_ASSIGN);
	assert_int_equal(trial_campaign(f, a2.trial_id), t);
	assert_int_equal(campaign_attempts(f, p), 0);
	assert_int_equal(campaign_pending(f, p), 1);
	/* A is connected and does not match: each coordinator said so once. */
	assert_int_equal(pin_waits_logged, 2);

	hello(f, 'B', 1, NULL, 0); /* x2 */
	ready(f, 'B', 1);
	b = take_one(f, EV_ASSIGN);
	assert_int_equal(b.peer, 'B');
	assert_int_equal(trial_campaign(f, b.trial_id), p);
	assert_int_equal(sql_int(f, "SELECT blas_threads FROM trials WHERE id = %" PRId64, b.trial_id), 0);
	assert_true(result(f, 'B', &b, EMC_OUTCOME_FIT));
	assert_int_equal(sql_int(f, "SELECT blas_threads FROM trials WHERE id = %" PRId64, b.trial_id), 2);
}

/* No connected worker matches the pin: the pinned campaign dispatches
 * nothing, loses and fails nothing however long it waits (its trials stay
 * pending, its cell searching, its campaign running), and the coordinator
 * says so once, not at every pass; the other campaign runs to its end on
 * the same workers. A matching worker that joins later gets the trials. */
static void test_pin_no_match_waits(void **state)
{
	fixture *f = *state;
	int64_t t = f->campaign_id, p = insert_pinned(f, "p", "Zen", 1);
	event e;
	int done = 0;

	start(f);
	hello(f, 'A', 2, NULL, 0);
	hello(f, 'B', 2, NULL, 0);
	ready(f, 'A', 2);
	ready(f, 'B', 2);
	assert_int_equal(pin_waits_logged, 1);
	/* Play the unpinned campaign to its end. */
	while (f->n_ev > 0 && done < 16) {
		e = f->ev[0];
		memmove(f->ev, f->ev + 1, (size_t)--f->n_ev * sizeof f->ev[0]);
		assert_int_equal(e.kind, EV_ASSIGN);
		assert_int_equal(trial_campaign(f, e.trial_id), t);
		assert_true(result(f, e.peer, &e, EMC_OUTCOME_FIT));
		ready(f, e.peer, 1);
		done++;
	}
	assert_string_equal(campaign_state(f), "done");
	/* Time passes, workers idle and heartbeating, the model ticking. */
	for (int i = 0; i < 8; i++) {
		tick_after(f, f->cfg.lease_ms / 2);
		heartbeat(f, 'A', 0);
		heartbeat(f, 'B', 0);
		sched_dispatch(f->s);
	}
	assert_int_equal(f->n_ev, 0);
	assert_int_equal(campaign_attempts(f, p), 0);
	assert_int_equal(campaign_pending(f, p), 1);
	assert_int_equal(campaign_lost(f, p), 0);
	assert_string_equal(sql_text(f, "SELECT state FROM campaigns WHERE id = %" PRId64, p), "running");
	assert_int_equal(pin_waits_logged, 1); /* once, not per pass */

	/* A worker with the pinned kernel (in another case) arrives. */
	hello_kernel(f, 'C', 1, NULL, 0, "zen", 1);
	ready(f, 'C', 1);
	e = take_one(f, EV_ASSIGN);
	assert_int_equal(e.peer, 'C');
	assert_int_equal(trial_campaign(f, e.trial_id), p);
}

/* Idle slots speculate only for what they may run: with room for four
 * probes per cell and a worker with credit to spare, the unpinned cell
 * gets four in flight, while the pinned cell no worker matches keeps the
 * one probe it was given at start — nothing piles up in the store that
 * nobody connected could run. */
static void test_pin_no_speculation_for_others(void **state)
{
	fixture *f = *state;
	int64_t t = f->campaign_id, p = insert_pinned(f, "p", "Zen", 0);

	f->cfg.max_probes = 4;
	start(f);
	hello(f, 'A', 8, NULL, 0);
	ready(f, 'A', 8);
	assert_int_equal(f->n_ev, 4);
	for (int i = 0; i < f->n_ev; i++)
		assert_int_equal(trial_campaign(f, f->ev[i].trial_id), t);
	assert_int_equal(campaign_pending(f, p), 1);
	assert_int_equal(sql_int(f,
				 "SELECT count(*) FROM trials t JOIN cells ce ON ce.id = t.cell_id"
				 " WHERE ce.campaign_id = %" PRId64,
				 p),
			 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_dispatch_to_credit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lease_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_heartbeat_renews_lease, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fencing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_result_provenance, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_heartbeat_unlisted_is_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_assign_send_fails_requeued, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_result_needs_session_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_result_unstored_not_acked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retries_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lost_budget_counts_no_progress, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retries_failed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reclaim_after_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_orphan_requeued_after_grace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pointless_probe_cancelled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_campaign_pause_resume_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_late_fit_after_cancel_finishes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pool_order_independent, setup_pool, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_replays_same_decisions, setup_pool, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_trials_read_next_seed, setup_pool1, teardown),
	    cmocka_unit_test(test_outbox_holds_until_commit),
	    cmocka_unit_test_setup_teardown(test_submit_again_by_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_submit_same_by_content, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_submit_refuses_model_too_big, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_launch_cancelled_names_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prepared_dataset_served_without_decode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_dispatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_survives_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_no_match_waits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_no_speculation_for_others, setup, teardown),
	};

	emc_log_init("test_sched");
	emc_log_set_level((enum emc_log_level)(EMC_LOG_ERROR + 1)); /* the errors here are meant */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
