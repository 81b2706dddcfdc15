/* scheduler.c — the scheduling model: campaigns, cells, trials and workers;
 * who runs what, and what happened.
 *
 * Memory here is a cache of the store, rebuilt at start:
 *   campaigns  the active ones (running or paused);
 *   cells      each a training procedure with its pool of replicate seeds,
 *              its measurement (measure.h: a pure function of the cell's
 *              terminal outcomes, rebuilt at start by replaying them) and
 *              its probes: the trials of the cell that are pending or
 *              running, each one (n, seed index) — as many as
 *              measure_wanted asks for while workers are idle, up to
 *              max_probes per cell;
 *   trials     every pending or running trial is on the `active` list; a
 *              pending one is also on the queue; a running one has a live
 *              attempt held by a worker (or, after a restart, by nobody
 *              yet: orphaned, waiting grace_ms for its worker to say so);
 *   workers    connected workers with their credit (free slots they asked
 *              to fill) and the OpenBLAS kernel and thread count their
 *              Hello announced.
 *
 * Invariants:
 *   - the store is written first; memory follows only a successful write;
 *   - a trial is queued iff it is pending;
 *   - a result counts only if it names the trial's live attempt (fencing);
 *     the store checks the same in the recording transaction;
 *   - a cell is finished (done or failed) in memory only when it has no
 *     probes left, so no trial is left pending or running behind it;
 *   - every terminal outcome of a cell is in its measurement, late ones
 *     (of trials already cancelled as pointless) included: the module
 *     guarantees they cannot change a decision, so they are kept and shown
 *     and the answer stays a function of the spec alone;
 *   - a trial is only ever made for a pair measure_wanted returned, which
 *     never has an outcome: no size that has a result is asked for again
 *     (the store refuses such a trial too, so none can be queued that
 *     could never start);
 *   - a peer cannot make us allocate without bound: workers, probes per
 *     cell and slots per worker are capped.
 *   - a trial of a campaign that pins its engine (spec `engine`) is handed
 *     only to a worker that announced that kernel and thread count. A
 *     trial's outcome depends on both, and OpenBLAS cannot switch its
 *     kernel inside a running process, so another worker is not asked to
 *     adapt: it simply gets none of that campaign's trials (it runs the
 *     other campaigns'), and the trials wait — a pin never loses or fails
 *     one. A pinned campaign whose work no connected worker may run is
 *     logged once.
 *
 * Lost work is retried: an attempt that is lost (lease expired, worker
 * gone) or preempted (worker drained) returns its trial to the queue, up to
 * max_lost times; a failed attempt, up to max_failed times. Past either
 * budget the trial is FAILED with its error and its measurement reads the
 * next seed (MEASURE_FAILED is no observation). A cell is failed only when
 * a decision on its path rests on no observation at all — every seed it
 * read at that size failed (for per-seed, that seed's one trial): such a
 * decision is the pool running dry, not a measurement of the procedure.
 *
 * This file speaks no protocol: its inputs are the C structs of
 * scheduler.h, its unasked outputs (assignments, cancels) go through the
 * sched_out callbacks. The workload is small per call — a handful of
 * cells and trials touched — but the active list is walked linearly, which
 * is fine for the thousands of trials in flight a cluster can hold.
 */
#include "scheduler.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "dataset.h"
#include "log.h"
#include "measure.h"
#include "store_ckpt.h"

#define MAX_PROBES_LIMIT 64

typedef struct campaign_rt campaign_rt;
typedef struct cell_rt cell_rt;
typedef struct trial_rt trial_rt;
typedef struct worker_rt worker_rt;

/* A cell in logs as in tables and commands: CAMPAIGN/INDEX ("emcctl
 * trials --cell INDEX CAMPAIGN"). */
#define CELL_FMT     "%s/%d"
#define CELL_ARGS(c) (c)->campaign->name, (c)->index

struct campaign_rt {
	int64_t id;
	char name[EMC_NAME_MAX];
	emc_dataset_ref dataset;
	emc_search_cfg search;
	emc_engine_cfg engine; /* its pin: only workers it accepts run its trials */
	bool pin_unmatched;    /* said once that no connected worker matches its pin */
	int64_t n_total;
	int cells_active; /* cells not finished */
	bool paused;
	bool cells_loaded; /* its cells are in memory (a later load skips them) */
	bool finished;	   /* done or cancelled: forgotten at the next tick */
	uint8_t hash[32];  /* the dataset's content hash (all zero: unknown) */
	emc_dataset *data; /* decoded by this process's preparation, until encoded */
	uint8_t *encoded;  /* its canonical encoding, made on the first request */
	size_t encoded_len;
	campaign_rt *next;
};

struct cell_rt {
	int64_t id;
	int index; /* in its campaign's grid: what every table and log calls it */
	campaign_rt *campaign;
	emc_cell_cfg cfg;
	int n_seeds;
	uint64_t *seeds; /* (n_seeds) the pool: trial (n, i) runs with seed seeds[i] */
	measure *m;	 /* NULL only when its settings cannot be measured (the cell fails) */
	trial_rt *probes[MAX_PROBES_LIMIT];
	int n_probes;
	bool decided; /* done or failed in the store; waiting for its probes to end */
	bool finished;
	bool replayed; /* its stored outcomes are in m */
	cell_rt *next;
};

struct trial_rt {
	int64_t id;
	cell_rt *cell;
	int64_t n;
	int seed; /* index into the cell's pool */
	bool running;
	bool orphaned;	 /* running in the store, no worker has claimed it since our start */
	bool cancelling; /* Cancel sent: the probe became pointless */
	int64_t attempt_id;
	worker_rt *worker;
	int64_t holder_db;   /* workers.id the live attempt was leased to: an orphan's only claimant */
	int unlisted;	     /* heartbeats of its worker in a row that did not list the attempt */
	bool progressed;     /* the live attempt delivered a checkpoint: losing it does not count */
	bool delivered;	     /* its worker finished it, the store refused the result: the slot is
			      * free (not in worker->running) and the result comes again */
	int64_t deadline_ms; /* lease (or grace, when orphaned) */
	int64_t ready_ms;    /* queued since (0: not queued); for the observer */
	int64_t started_ms;  /* its live attempt started (0: before this process) */
	int lost, failed;    /* attempts so far that ended so */
	trial_rt *queue_next;
	trial_rt *active_prev, *active_next;
};

struct worker_rt {
	sched_peer peer;
	int64_t db_id;
	char host[SCHED_HOST_MAX + 32];
	int slots;
	int credit;
	int running;
	int64_t last_seen_ms;
	int64_t trials_done;
	/* Provenance, from its last Hello, for the results it delivers. */
	char machine[EMC_RESULT_HOST_MAX]; /* the Hello's host name (a longer one is cut) */
	char emc_version[SCHED_PROV_MAX + 1];
	char blas_core[SCHED_PROV_MAX + 1];
	int blas_threads;
	uint64_t memory_bytes; /* what its trials may use, from its Hello; 0 = not said */
	bool starved;	       /* this dispatch pass found nothing it may run */
	int64_t mute_until_ms; /* an Assign to it failed: none until it is heard from again */
};

_Static_assert(sizeof(((emc_trial_result *)0)->emc_version) > SCHED_PROV_MAX &&
		   sizeof(((emc_trial_result *)0)->blas_core) > SCHED_PROV_MAX,
	       "a result holds the provenance a worker names");

struct sched {
	store *db;
	sched_config cfg;
	sched_out out;
	void *out_ctx;

	campaign_rt *campaigns;
	cell_rt *cells, *cells_tail;
	cell_rt **by_id; /* every cell in memory, sorted by id */
	size_t n_by_id, cap_by_id;
	cell_rt *next_refill; /* round-robin position for fair refills */
	trial_rt *queue_head, *queue_tail;
	trial_rt *active;
	sched_observer obs;
	void *obs_ctx;
	worker_rt **workers;
	int n_workers;
	int next_worker;
	int64_t results_fenced;
};

static void send_cancel(sched *s, const worker_rt *w, int64_t attempt_id)
{
	s->out.cancel(s->out_ctx, &w->peer, attempt_id);
}

/* ---- lists ------------------------------------------------------------- */

static void queue_push(sched *s, trial_rt *t)
{
	/* A requeue after a failed send keeps the time it became ready. */
	if (!t->ready_ms)
		t->ready_ms = emc_now_ms();
	t->queue_next = NULL;
	if (s->queue_tail)
		s->queue_tail->queue_next = t;
	else
		s->queue_head = t;
	s->queue_tail = t;
}

static void queue_remove(sched *s, trial_rt *t)
{
	trial_rt **pp = &s->queue_head, *prev = NULL;

	while (*pp && *pp != t) {
		prev = *pp;
		pp = &(*pp)->queue_next;
	}
	if (!*pp)
		return;
	*pp = t->queue_next;
	if (s->queue_tail == t)
		s->queue_tail = prev;
	t->queue_next = NULL;
}

static void active_add(sched *s, trial_rt *t)
{
	t->active_prev = NULL;
	t->active_next = s->active;
	if (s->active)
		s->active->active_prev = t;
	s->active = t;
}

static void active_remove(sched *s, trial_rt *t)
{
	if (t->active_prev)
		t->active_prev->active_next = t->active_next;
	else
		s->active = t->active_next;
	if (t->active_next)
		t->active_next->active_prev = t->active_prev;
}

static campaign_rt *campaign_find(sched *s, int64_t id)
{
	for (campaign_rt *c = s->campaigns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static campaign_rt *campaign_find_name(sched *s, const char *name)
{
	for (campaign_rt *c = s->campaigns; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static cell_rt *cell_find(sched *s, int64_t id)
{
	size_t lo = 0, hi = s->n_by_id;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->by_id[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n_by_id && s->by_id[lo]->id == id ? s->by_id[lo] : NULL;
}

/* Cells arrive in id order (the store walks them so), so appending keeps
 * the index sorted; an out-of-order one is inserted in place. */
static int cell_index_add(sched *s, cell_rt *c)
{
	size_t at = s->n_by_id;

	if (s->n_by_id == s->cap_by_id) {
		size_t cap = s->cap_by_id ? 2 * s->cap_by_id : 256;
		cell_rt **a = realloc(s->by_id, cap * sizeof *a);

		if (!a)
			return -ENOMEM;
		s->by_id = a;
		s->cap_by_id = cap;
	}
	while (at > 0 && s->by_id[at - 1]->id > c->id)
		at--;
	memmove(s->by_id + at + 1, s->by_id + at, (s->n_by_id - at) * sizeof *s->by_id);
	s->by_id[at] = c;
	s->n_by_id++;
	return 0;
}

static void cell_free(cell_rt *cell)
{
	measure_destroy(&cell->m);
	free(cell->seeds);
	free(cell);
}

/* Drop finished campaigns and their cells from memory (the store keeps
 * them): a long-running coordinator's memory and walks stay proportional
 * to the work still open. Only called at a safe point (a tick), never from
 * inside a handler that may still hold a cell. */
static void forget_finished(sched *s)
{
	campaign_rt **pc = &s->campaigns;
	bool any = false;

	for (campaign_rt *c = s->campaigns; c; c = c->next)
		any |= c->finished;
	if (!any)
		return;
	for (cell_rt **pp = &s->cells; *pp;) {
		cell_rt *cell = *pp;

		if (cell->campaign->finished && cell->n_probes == 0) {
			*pp = cell->next;
			cell_free(cell);
		} else {
			pp = &cell->next;
		}
	}
	s->cells_tail = NULL;
	s->n_by_id = 0;
	for (cell_rt *cell = s->cells; cell; cell = cell->next) {
		s->cells_tail = cell;
		s->by_id[s->n_by_id++] = cell; /* still in id order */
	}
	s->next_refill = NULL;
	while (*pc) {
		campaign_rt *c = *pc;
		bool has_cells = false;

		for (cell_rt *cell = s->cells; cell && !has_cells; cell = cell->next)
			has_cells = cell->campaign == c;
		if (c->finished && !has_cells) {
			*pc = c->next;
			emc_dataset_destroy(&c->data);
			free(c->encoded);
			free(c);
		} else {
			pc = &c->next;
		}
	}
}

static trial_rt *trial_by_attempt(sched *s, int64_t attempt_id)
{
	for (trial_rt *t = s->active; t; t = t->active_next)
		if (t->running && t->attempt_id == attempt_id)
			return t;
	return NULL;
}

/* The worker session of peer: its identity and its key. */
static worker_rt *worker_find(sched *s, const sched_peer *peer)
{
	for (int i = 0; i < s->n_workers; i++) {
		const sched_peer *p = &s->workers[i]->peer;

		if (p->len == peer->len && memcmp(p->id, peer->id, peer->len) == 0 && strcmp(p->key, peer->key) == 0)
			return s->workers[i];
	}
	return NULL;
}

bool sched_all_done(const sched *s)
{
	for (campaign_rt *c = s->campaigns; c; c = c->next)
		if (c->cells_active > 0)
			return false;
	return true;
}

void sched_observe(sched *s, const sched_observer *o, void *ctx)
{
	memset(&s->obs, 0, sizeof s->obs);
	if (o)
		s->obs = *o;
	s->obs_ctx = ctx;
}

int64_t sched_results_fenced(const sched *s)
{
	return s->results_fenced;
}

/* A campaign's pin: the worker announced the kernel and thread count the
 * campaign's outcomes are to come from (any, when it pins nothing). */
static bool worker_takes(const worker_rt *w, const campaign_rt *c)
{
	return emc_engine_accepts(&c->engine, w->blas_core, w->blas_threads);
}

static bool worker_takes_all(const sched *s, const worker_rt *w)
{
	for (const campaign_rt *c = s->campaigns; c; c = c->next)
		if (!worker_takes(w, c))
			return false;
	return true;
}

/* ---- cells and their probes --------------------------------------------- */

static void campaign_cell_finished(sched *s, campaign_rt *c)
{
	emc_err err;

	if (--c->cells_active > 0)
		return;
	if (store_campaign_set_state(s->db, c->id, STORE_CAMPAIGN_DONE, &err) < 0)
		log_error("%s", err.msg);
	log_info("campaign %s: done", c->name);
	c->finished = true;
}

static void probe_remove(cell_rt *cell, trial_rt *t)
{
	for (int i = 0; i < cell->n_probes; i++)
		if (cell->probes[i] == t) {
			cell->probes[i] = cell->probes[--cell->n_probes];
			return;
		}
}

/* Free a trial that left the active set (finished, failed or cancelled). */
static void trial_drop(sched *s, trial_rt *t)
{
	if (!t->running)
		queue_remove(s, t);
	else if (t->worker && !t->delivered)
		t->worker->running--;
	active_remove(s, t);
	probe_remove(t->cell, t);
	free(t);
}

/* The cell's EMC is decided (or it failed) and no probe is left: finished. */
static void cell_maybe_finish(sched *s, cell_rt *cell)
{
	if (cell->finished || !cell->decided || cell->n_probes > 0)
		return;
	cell->finished = true;
	campaign_cell_finished(s, cell->campaign);
}

/* A probe whose outcome can no longer matter to its cell. */
static bool trial_pointless(const trial_rt *t)
{
	const cell_rt *cell = t->cell;

	return cell->decided || !cell->m || measure_pointless(cell->m, t->n, t->seed);
}

/* True when a decided step of the cell's path rests on no observation:
 * every seed it read at that size failed. Such a cell is failed. */
static bool cell_rests_on_nothing(const cell_rt *cell)
{
	for (int i = 0; cell->m && i < measure_path_count(cell->m); i++) {
		int n = measure_path(cell->m, i, NULL, 0);
		measure_step small[64], *steps = n <= 64 ? small : malloc((size_t)n * sizeof *steps);
		bool none = false;

		if (!steps)
			return false;
		n = measure_path(cell->m, i, steps, n);
		for (int k = 0; k < n; k++)
			none |= steps[k].fits + steps[k].nofits == 0;
		if (steps != small)
			free(steps);
		if (none)
			return true;
	}
	return false;
}

/* The cell's measurement as the store records it. */
static void cell_update_get(const cell_rt *cell, store_cell_update *up)
{
	measure_result r;

	memset(up, 0, sizeof *up);
	if (!cell->m) {
		up->failed = true;
		return;
	}
	measure_result_get(cell->m, &r);
	*up = (store_cell_update){
	    .lo = r.emc,
	    .hi = r.hi,
	    .done = r.done,
	    .full = r.full,
	    .emc_low = r.emc_low,
	    .emc_high = r.emc_high,
	    .seeds_used = r.seeds_used,
	    .lo_fits = r.lo_fits,
	    .lo_total = r.lo_total,
	    .hi_fits = r.hi_fits,
	    .hi_total = r.hi_total,
	    .hi_plateau = r.hi_plateau,
	    .hi_gradnorm = r.hi_gradnorm,
	    .hi_budget = r.hi_budget,
	    .unconverged = r.unconverged,
	    .plateau_decided = r.plateau_decided,
	    .nonmonotone = r.nonmonotone,
	    .uncertain = r.uncertain,
	    .trials_consumed = r.trials_consumed,
	};
	up->failed = cell_rests_on_nothing(cell);
	up->done = up->done || up->failed;
}

/* Cancel the probes a result made pointless: pending ones at once, running
 * ones by asking their worker (they end when it answers, and what they
 * answer is still recorded). */
static void cell_prune(sched *s, cell_rt *cell)
{
	emc_err err;

	for (int i = cell->n_probes - 1; i >= 0; i--) {
		trial_rt *t = cell->probes[i];

		if (!trial_pointless(t))
			continue;
		if (!t->running) {
			if (store_trial_cancel(s->db, t->id, &err) < 0) {
				log_error("%s", err.msg);
				continue;
			}
			log_debug("cell " CELL_FMT " n=%" PRId64 " seed %d: pending probe cancelled", CELL_ARGS(cell),
				  t->n, t->seed);
			trial_drop(s, t);
		} else if (t->worker && !t->cancelling) {
			t->cancelling = true;
			log_debug("cell " CELL_FMT " n=%" PRId64 " seed %d: running probe cancelled", CELL_ARGS(cell),
				  t->n, t->seed);
			send_cancel(s, t->worker, t->attempt_id);
		}
	}
	cell_maybe_finish(s, cell);
}

/* The store says the cell is decided (done or failed): stop its probes. */
static void cell_decided(sched *s, cell_rt *cell, const store_cell_update *up)
{
	if (cell->decided)
		return;
	cell->decided = true;
	if (!up->failed)
		log_info("cell " CELL_FMT ": EMC %s%" PRId64 " [%" PRId64 ", %" PRId64 "]%s", CELL_ARGS(cell),
			 up->full ? ">=" : "", up->lo, up->emc_low, up->emc_high,
			 up->unconverged ? " unconverged" : "");
	else
		log_warn("cell " CELL_FMT ": failed (every seed read at one size failed)", CELL_ARGS(cell));
	cell_prune(s, cell);
	cell_maybe_finish(s, cell);
}

/* Record that the cell is decided without a result to carry it (at load,
 * or when its settings cannot be measured). */
static void cell_decide(sched *s, cell_rt *cell)
{
	store_cell_update up;
	emc_err err;

	if (cell->decided)
		return;
	cell_update_get(cell, &up);
	up.done = true;
	if (store_cell_set(s->db, cell->id, &up, up.failed ? STORE_CELL_FAILED : STORE_CELL_DONE, &err) < 0) {
		log_error("%s", err.msg);
		return;
	}
	cell_decided(s, cell, &up);
}

/* The measurement needs nothing more: done, or failed. */
static bool cell_over(const cell_rt *cell)
{
	return !cell->m || measure_done(cell->m) || cell_rests_on_nothing(cell);
}

static trial_rt *probe_add(sched *s, cell_rt *cell, int64_t trial_id, int64_t n, int seed)
{
	trial_rt *t;

	if (cell->n_probes >= MAX_PROBES_LIMIT)
		return NULL;
	t = calloc(1, sizeof *t);
	if (!t) {
		log_error("out of memory");
		return NULL;
	}
	t->id = trial_id;
	t->cell = cell;
	t->n = n;
	t->seed = seed;
	cell->probes[cell->n_probes++] = t;
	active_add(s, t);
	return t;
}

/* Give the cell up to max_new new probes, the pairs its measurement wants
 * given those in flight; decide it when it needs none. Returns the number
 * of probes added. */
static int cell_refill(sched *s, cell_rt *cell, int max_new)
{
	measure_pair inflight[MAX_PROBES_LIMIT], want[MAX_PROBES_LIMIT];
	int k, room, added = 0;
	emc_err err;

	if (cell->decided || cell->campaign->paused)
		return 0;
	if (cell_over(cell)) {
		cell_decide(s, cell);
		return 0;
	}
	room = s->cfg.max_probes - cell->n_probes;
	if (room > max_new)
		room = max_new;
	if (room <= 0)
		return 0;
	for (int i = 0; i < cell->n_probes; i++)
		inflight[i] = (measure_pair){cell->probes[i]->n, cell->probes[i]->seed};
	k = measure_wanted(cell->m, inflight, cell->n_probes, room, want);
	for (int i = 0; i < k; i++) {
		int64_t trial_id;
		trial_rt *t;

		if (store_trial_insert(s->db, cell->id, want[i].n, want[i].seed, cell->seeds[want[i].seed], &trial_id,
				       &err) < 0) {
			log_error("%s", err.msg);
			break;
		}
		t = probe_add(s, cell, trial_id, want[i].n, want[i].seed);
		if (!t)
			break;
		queue_push(s, t);
		added++;
	}
	return added;
}

/* One new probe for each cell that can use one and whose campaign w may
 * run, round robin, so cells of all campaigns share idle workers fairly
 * and a pinned campaign gets no speculative probes that nobody idle could
 * run. Returns how many were added. */
static int refill_round(sched *s, const worker_rt *w)
{
	cell_rt *start = s->next_refill ? s->next_refill : s->cells;
	cell_rt *c = start;
	int added = 0;

	if (!c)
		return 0;
	do {
		if (worker_takes(w, c->campaign))
			added += cell_refill(s, c, 1);
		c = c->next ? c->next : s->cells;
	} while (c != start);
	s->next_refill = start->next ? start->next : s->cells;
	return added;
}

/* Rebuild the cell's measurement from what the store holds, after a write
 * that failed left memory ahead of it. */
static int replay_one(void *ctx, const store_outcome_row *o);

static void cell_replay(sched *s, cell_rt *cell)
{
	measure_config cfg;
	emc_err err;

	measure_destroy(&cell->m);
	campaign_measure_config(&cell->campaign->search, cell->campaign->n_total, cell->n_seeds, &cfg);
	if (measure_new(&cfg, &cell->m) < 0 || store_load_outcomes(s->db, cell->id, replay_one, cell, &err) < 0)
		log_error("cell " CELL_FMT ": cannot rebuild its measurement from the store", CELL_ARGS(cell));
}

/* After a recorded result (up: the cell's update written with it, NULL
 * when the cell was decided before): decide the cell, prune what became
 * pointless, or give the cell its next probe. */
static void cell_after_result(sched *s, cell_rt *cell, const store_cell_update *up)
{
	if (up && up->done) {
		cell_decided(s, cell, up);
	} else if (!cell->decided) {
		cell_prune(s, cell);
		if (cell->n_probes == 0)
			cell_refill(s, cell, 1);
	}
	cell_maybe_finish(s, cell);
}

/* Put t's outcome into its cell's measurement and fill the cell's update.
 * Returns whether the outcome was new (a failed store write must then undo
 * it) and whether there is an update (*ret_up: the cell is not decided). */
static bool cell_take(cell_rt *cell, const trial_rt *t, emc_outcome o, emc_stop_reason why, store_cell_update *up,
		      const store_cell_update **ret_up)
{
	measure_outcome mo;
	int rec = 1;

	if (cell->m && campaign_measure_outcome(o, why, &mo)) {
		rec = measure_record(cell->m, t->n, t->seed, mo);
		if (rec < 0)
			log_error("cell " CELL_FMT " n=%" PRId64 " seed %d: outcome refused by the measurement (%d)",
				  CELL_ARGS(cell), t->n, t->seed, rec);
	}
	*ret_up = NULL;
	if (!cell->decided) {
		cell_update_get(cell, up);
		*ret_up = up;
	}
	return rec == 0;
}

/* ---- losing and giving up ----------------------------------------------- */

/* The trial's retry budget is spent: it is FAILED, and its cell reads the
 * next seed. */
static void trial_give_up(sched *s, trial_rt *t, const char *error)
{
	cell_rt *cell = t->cell;
	store_cell_update up;
	const store_cell_update *upp;
	bool fresh = cell_take(cell, t, EMC_OUTCOME_FAILED, EMC_STOP_ERROR, &up, &upp);
	emc_err err;

	if (store_trial_fail(s->db, t->id, error, cell->id, upp, &err) < 0) {
		log_error("%s", err.msg);
		if (fresh)
			cell_replay(s, cell);
		return;
	}
	log_error("cell " CELL_FMT " n=%" PRId64 " seed %d: trial %" PRId64 " failed: %s", CELL_ARGS(cell), t->n,
		  t->seed, t->id, error);
	trial_drop(s, t);
	cell_after_result(s, cell, upp);
}

/* Back to the queue, unless the probe became pointless meanwhile. */
static void trial_requeue(sched *s, trial_rt *t)
{
	queue_push(s, t);
	if (trial_pointless(t)) {
		cell_rt *cell = t->cell;

		cell_prune(s, cell);
		if (!cell->decided && cell->n_probes == 0)
			cell_refill(s, cell, 1);
	}
}

/* Forget t's live attempt in memory (the store has ended it). */
static void trial_detach(trial_rt *t)
{
	if (t->worker && !t->delivered)
		t->worker->running--;
	t->delivered = false;
	t->running = false;
	t->orphaned = false;
	t->cancelling = false;
	t->worker = NULL;
	t->holder_db = 0;
	t->unlisted = 0;
	t->progressed = false;
	t->attempt_id = 0;
	t->started_ms = 0;
}

/* The live attempt of t ended without a result that counts. The trial
 * goes back to the queue unless its retry budget is spent or the probe
 * became pointless meanwhile. -EIO (nothing changed) when the store
 * refused. */
static int trial_lose(sched *s, trial_rt *t, store_attempt_state how, const char *why)
{
	bool failed = how == STORE_ATTEMPT_FAILED, progressed = t->progressed;
	char error[400];
	emc_err err;

	if (store_attempt_end(s->db, t->attempt_id, how, &err) < 0) {
		log_error("%s", err.msg);
		return -EIO;
	}
	if (s->obs.attempt_lost)
		s->obs.attempt_lost(s->obs_ctx, how);
	log_warn("trial %" PRId64 " (cell " CELL_FMT ", n=%" PRId64 ", seed %d): attempt %" PRId64 " %s: %s%s", t->id,
		 CELL_ARGS(t->cell), t->n, t->seed, t->attempt_id, store_attempt_state_name(how), why,
		 !failed && progressed ? " (it had made progress: not counted)" : "");
	trial_detach(t);
	/* Churn cannot fail a trial that keeps advancing; one that never
	 * gets past a checkpoint still fails. */
	if (failed)
		t->failed++;
	else if (!progressed)
		t->lost++;
	if (failed ? t->failed > s->cfg.max_failed : t->lost > s->cfg.max_lost) {
		snprintf(error, sizeof error, "%d attempt(s) %s, the last: %s", failed ? t->failed : t->lost,
			 failed ? "failed" : "lost or preempted", why);
		trial_give_up(s, t, error);
		return 0;
	}
	trial_requeue(s, t);
	return 0;
}

/* ---- workers ------------------------------------------------------------ */

/* The first running trial held by w (NULL = by nobody: orphaned) whose
 * lease ended before `now` (or any, with now = INT64_MAX). Callers that
 * act on it restart the walk: acting may free other trials. */
static trial_rt *running_trial(sched *s, const worker_rt *w, bool any_worker, int64_t now)
{
	for (trial_rt *t = s->active; t; t = t->active_next)
		if (t->running && (any_worker || t->worker == w) && t->deadline_ms < now)
			return t;
	return NULL;
}

static void worker_remove(sched *s, worker_rt *w, const char *why)
{
	trial_rt *t;

	while ((t = running_trial(s, w, false, INT64_MAX)))
		trial_lose(s, t, STORE_ATTEMPT_LOST, why);
	for (int i = 0; i < s->n_workers; i++)
		if (s->workers[i] == w) {
			s->workers[i] = s->workers[--s->n_workers];
			break;
		}
	log_info("worker %" PRId64 " (%s) removed: %s", w->db_id, w->host, why);
	free(w);
}

static bool attempt_listed(const sched_hello *h, int64_t attempt_id)
{
	for (size_t i = 0; i < h->n_running; i++)
		if (h->running[i] == attempt_id)
			return true;
	return false;
}

static int hello_check(const sched *s, const sched_peer *peer, const sched_hello *h, emc_err *err)
{
	if (peer->len < 1 || peer->len > SCHED_IDENTITY_MAX)
		return emc_err_set(err, EINVAL, "hello: bad identity");
	if (h->slots < 1 || h->slots > SCHED_SLOTS_MAX)
		return emc_err_set(err, EINVAL, "hello: slots out of range");
	if (h->n_running > h->slots)
		return emc_err_set(err, EINVAL, "hello: more running attempts than slots");
	(void)s;
	return 0;
}

/* The worker behind peer: a new one, or one that says hello again and has
 * lost track of whatever it does not list any more. */
static int worker_join(sched *s, const sched_peer *peer, const sched_hello *h, worker_rt **ret, emc_err *err)
{
	worker_rt *w = worker_find(s, peer);
	bool again = true;

	if (!w) {
		if (s->n_workers >= s->cfg.max_workers) {
			log_warn("worker refused: already %d workers", s->n_workers);
			return emc_err_set(err, EUSERS, "too many workers");
		}
		w = calloc(1, sizeof *w);
		if (!w)
			return emc_err_set(err, ENOMEM, "out of memory");
		w->peer = *peer;
		s->workers[s->n_workers++] = w;
		*ret = w;
		return 0;
	}
	while (again) {
		again = false;
		for (trial_rt *t = s->active; t; t = t->active_next)
			if (t->running && t->worker == w && !t->delivered && !attempt_listed(h, t->attempt_id)) {
				trial_lose(s, t, STORE_ATTEMPT_LOST, "its worker restarted");
				again = true;
				break;
			}
	}
	*ret = w;
	return 0;
}

/* Whether w may speak for t's live attempt: it holds it, or the attempt
 * is an orphan leased (before our start) to w's own identity and key. */
static bool worker_holds(const worker_rt *w, const trial_rt *t)
{
	return w && (t->worker == w || (!t->worker && t->holder_db > 0 && t->holder_db == w->db_id));
}

/* Reclaim: attempts w still runs that we (or our predecessor) leased to it
 * carry on; any other it must stop. */
static void worker_reclaim(sched *s, worker_rt *w, const sched_hello *h)
{
	for (size_t i = 0; i < h->n_running; i++) {
		int64_t aid = h->running[i];
		trial_rt *t = trial_by_attempt(s, aid);

		if (t && worker_holds(w, t)) {
			if (t->worker != w) {
				t->worker = w;
				log_info("trial %" PRId64 ": attempt %" PRId64 " reclaimed by worker %" PRId64, t->id,
					 aid, w->db_id);
			}
			t->orphaned = false;
			t->unlisted = 0;
			t->deadline_ms = w->last_seen_ms + s->cfg.lease_ms;
			w->running++;
			if (t->cancelling || trial_pointless(t)) {
				t->cancelling = true;
				send_cancel(s, w, aid);
			}
		} else {
			send_cancel(s, w, aid);
		}
	}
}

int sched_worker_hello(sched *s, const sched_peer *peer, const sched_hello *h, sched_welcome *ret, emc_err *err)
{
	char ident_text[2 * SCHED_IDENTITY_MAX + SCHED_KEY_MAX + 2];
	worker_rt *w = NULL;
	emc_err serr;
	int r;

	r = hello_check(s, peer, h, err);
	if (r == 0)
		r = worker_join(s, peer, h, &w, err);
	if (r < 0)
		return r;
	/* Its row in the store names the session: identity and key. */
	for (size_t i = 0; i < peer->len; i++)
		snprintf(ident_text + 2 * i, 3, "%02x", peer->id[i]);
	if (peer->key[0])
		snprintf(ident_text + 2 * peer->len, sizeof ident_text - 2 * peer->len, "@%s", peer->key);
	snprintf(w->host, sizeof w->host, "%.128s:%u", h->host, h->pid);
	snprintf(w->machine, sizeof w->machine, "%.*s", (int)sizeof w->machine - 1, h->host);
	snprintf(w->emc_version, sizeof w->emc_version, "%.*s", SCHED_PROV_MAX, h->emc_version);
	snprintf(w->blas_core, sizeof w->blas_core, "%.*s", SCHED_PROV_MAX, h->blas_core);
	w->blas_threads = (int)(h->blas_threads > 1024 ? 1024 : h->blas_threads);
	w->memory_bytes = h->memory_bytes;
	w->slots = (int)h->slots;
	w->running = 0;
	w->last_seen_ms = emc_now_ms();
	if (store_worker_upsert(s->db, ident_text, w->host, w->slots, &w->db_id, &serr) < 0) {
		log_error("%s", serr.msg);
		w->db_id = 0; /* reclaims nothing: no orphan names worker 0 */
	}
	worker_reclaim(s, w, h);
	w->credit = 0;
	log_info("worker %" PRId64 " (%s) joined with %d slot(s), %d running; emc %s, BLAS %s x%d", w->db_id, w->host,
		 w->slots, w->running, w->emc_version[0] ? w->emc_version : "?", w->blas_core[0] ? w->blas_core : "?",
		 w->blas_threads);
	ret->worker_id = w->db_id;
	ret->heartbeat_ms = s->cfg.heartbeat_ms;
	ret->lease_ms = s->cfg.lease_ms;
	return 0;
}

bool sched_worker_seen(sched *s, const sched_peer *peer)
{
	worker_rt *w = worker_find(s, peer);

	if (w) {
		w->last_seen_ms = emc_now_ms();
		w->mute_until_ms = 0;
	}
	return w != NULL;
}

int sched_worker_ready(sched *s, const sched_peer *peer, uint32_t credit)
{
	worker_rt *w = worker_find(s, peer);

	if (!w)
		return -ENOENT;
	w->credit += (int)(credit > (uint32_t)w->slots ? (uint32_t)w->slots : credit);
	if (w->credit > w->slots - w->running)
		w->credit = w->slots - w->running;
	/* Hand out work now rather than at the end of the loop's turn:
	 * dispatch latency is what an idle worker waits. */
	sched_dispatch(s);
	return 0;
}

static bool heartbeat_lists(const sched_heartbeat *hb, int64_t attempt_id)
{
	for (size_t i = 0; i < hb->n_attempts && i < SCHED_SLOTS_MAX; i++)
		if (hb->attempts[i] == attempt_id)
			return true;
	for (size_t i = 0; i < hb->n_unacked && i < SCHED_SLOTS_MAX; i++)
		if (hb->unacked[i] == attempt_id)
			return true;
	return false;
}

/* Renew the leases of w's attempts that hb lists, and count the others;
 * fill ret with those left out SCHED_UNLISTED_BEATS times in a row. The
 * worker does not have them (an Assign lost on the way, a result it gave
 * up on), and only the lease would ever end them, which its heartbeats
 * renew. Returns how many. */
static int heartbeat_count(sched *s, const worker_rt *w, const sched_heartbeat *hb, int64_t *ret, int cap)
{
	int n = 0;

	for (trial_rt *t = s->active; t; t = t->active_next) {
		if (!t->running || t->worker != w)
			continue;
		if (heartbeat_lists(hb, t->attempt_id)) {
			t->unlisted = 0;
			t->deadline_ms = w->last_seen_ms + s->cfg.lease_ms;
		} else if (++t->unlisted >= SCHED_UNLISTED_BEATS && n < cap) {
			ret[n++] = t->attempt_id;
		}
	}
	return n;
}

int sched_worker_heartbeat(sched *s, const sched_peer *peer, const sched_heartbeat *hb)
{
	static int64_t gone[SCHED_SLOTS_MAX]; /* the loop's thread only */
	worker_rt *w = worker_find(s, peer);
	int n_gone;

	if (!w)
		return -ENOENT;
	n_gone = heartbeat_count(s, w, hb, gone, SCHED_SLOTS_MAX);
	/* Looked up again one by one: losing one may end others. */
	for (int i = 0; i < n_gone; i++) {
		trial_rt *t = trial_by_attempt(s, gone[i]);

		if (t && t->worker == w)
			trial_lose(s, t, STORE_ATTEMPT_LOST, "its worker's heartbeats no longer list it");
	}
	/* It trains something that is not (or no longer) its: stop it. */
	for (size_t i = 0; i < hb->n_attempts && i < SCHED_SLOTS_MAX; i++) {
		trial_rt *t = trial_by_attempt(s, hb->attempts[i]);

		if (!t || t->worker != w)
			send_cancel(s, w, hb->attempts[i]);
	}
	return 0;
}

int sched_worker_checkpoint(sched *s, const sched_peer *peer, const sched_checkpoint *c)
{
	worker_rt *w = worker_find(s, peer);
	trial_rt *t;
	emc_err err;
	int r;

	if (!w)
		return -ENOENT;
	t = trial_by_attempt(s, c->attempt_id);
	if (!t || t->id != c->trial_id || !worker_holds(w, t) || c->len == 0 || c->len > SCHED_CHECKPOINT_MAX) {
		log_debug("checkpoint of attempt %" PRId64 " (%zu bytes) dropped", c->attempt_id, c->len);
		return 0;
	}
	r = store_checkpoint_put(s->db, t->id, t->attempt_id, c->epoch, c->step, c->state, c->len, &err);
	if (r < 0)
		log_error("%s", err.msg);
	else if (r > 0)
		t->progressed = true;
	return 0;
}

void sched_worker_bye(sched *s, const sched_peer *peer)
{
	worker_rt *w = worker_find(s, peer);

	if (w)
		worker_remove(s, w, "said bye");
}

int sched_worker_count(const sched *s)
{
	return s->n_workers;
}

int sched_worker_list(const sched *s, sched_worker_info *ret, int cap)
{
	int64_t now = emc_now_ms();
	int n = 0;

	for (int i = 0; i < s->n_workers && n < cap; i++, n++) {
		const worker_rt *w = s->workers[i];

		ret[n].id = w->db_id;
		snprintf(ret[n].host, sizeof ret[n].host, "%s", w->host);
		ret[n].slots = w->slots;
		ret[n].busy = w->running;
		ret[n].last_seen_ms_ago = now - w->last_seen_ms;
		ret[n].trials_done = w->trials_done;
		snprintf(ret[n].blas_core, sizeof ret[n].blas_core, "%s", w->blas_core);
	}
	return n;
}

/* ---- dispatch ------------------------------------------------------------ */

/* The Assign never left: the attempt ends lost without counting against
 * the trial (nothing ran), the trial is queued again at once, and w gets
 * nothing more until it is heard from (it may be gone, or its queue
 * full); its credit stands, since it still waits for that work. */
static void assign_undo(sched *s, worker_rt *w, trial_rt *t)
{
	emc_err err;

	if (store_attempt_end(s->db, t->attempt_id, STORE_ATTEMPT_LOST, &err) < 0) {
		log_error("%s", err.msg); /* its lease ends it, as before */
		return;
	}
	if (s->obs.attempt_lost)
		s->obs.attempt_lost(s->obs_ctx, STORE_ATTEMPT_LOST);
	log_warn("trial %" PRId64 ": the assignment to worker %" PRId64 " could not be sent; queued again", t->id,
		 w->db_id);
	trial_detach(t);
	w->credit++;
	w->mute_until_ms = emc_now_ms() + s->cfg.heartbeat_ms;
	trial_requeue(s, t);
}

/* The trial's kept checkpoint, if any, goes with its Assign (a->resume:
 * the caller frees it); without one it starts from the beginning. */
static void assign_resume(sched *s, const trial_rt *t, sched_assign *a)
{
	uint8_t *state = NULL;
	size_t len = 0;
	int64_t epoch = 0;
	emc_err err;

	if (store_checkpoint_get(s->db, t->id, &state, &len, &epoch, &err) < 0) {
		log_error("%s; trial %" PRId64 " starts from the beginning", err.msg, t->id);
		return;
	}
	if (!state)
		return;
	if (store_attempt_resumed(s->db, t->attempt_id, epoch, &err) < 0)
		log_error("%s", err.msg);
	a->resume = state;
	a->resume_len = len;
	a->resume_epoch = epoch;
	log_info("trial %" PRId64 " (cell " CELL_FMT ", n=%" PRId64 ", seed %d): attempt %" PRId64
		 " resumes at epoch %" PRId64,
		 t->id, CELL_ARGS(t->cell), t->n, t->seed, t->attempt_id, epoch);
}

static int assign(sched *s, worker_rt *w, trial_rt *t)
{
	sched_assign a;
	int64_t attempt_id;
	emc_err err;

	if (store_attempt_start(s->db, t->id, w->db_id, s->cfg.lease_ms, &attempt_id, &err) < 0) {
		log_error("%s", err.msg);
		return -EIO;
	}
	t->running = true;
	t->attempt_id = attempt_id;
	t->worker = w;
	t->holder_db = w->db_id;
	t->unlisted = 0;
	t->deadline_ms = emc_now_ms() + s->cfg.lease_ms;
	w->credit--;
	w->running++;

	a.attempt_id = attempt_id;
	a.trial_id = t->id;
	a.n = t->n;
	a.cell = t->cell->cfg;
	a.cell.seed = t->cell->seeds[t->seed]; /* the replicate this trial is */
	a.dataset = t->cell->campaign->dataset;
	memcpy(a.dataset_hash, t->cell->campaign->hash, sizeof a.dataset_hash);
	a.resume = NULL;
	a.resume_len = 0;
	a.resume_epoch = 0;
	assign_resume(s, t, &a);
	log_debug("trial %" PRId64 " (cell " CELL_FMT ", n=%" PRId64 ", seed %d) -> worker %" PRId64
		  " as attempt %" PRId64,
		  t->id, CELL_ARGS(t->cell), t->n, t->seed, w->db_id, attempt_id);
	if (s->out.assign(s->out_ctx, &w->peer, &a) < 0) {
		assign_undo(s, w, t);
	} else {
		t->started_ms = emc_now_ms();
		if (s->obs.dispatched)
			s->obs.dispatched(s->obs_ctx, t->started_ms - t->ready_ms);
		t->ready_ms = 0;
	}
	free((uint8_t *)a.resume);
	return 0;
}

/* The first queued trial w may run: its campaign runs and accepts w. */
static trial_rt *queue_pop_runnable(sched *s, const worker_rt *w)
{
	for (trial_rt *t = s->queue_head; t; t = t->queue_next)
		if (!t->cell->campaign->paused && worker_takes(w, t->cell->campaign)) {
			queue_remove(s, t);
			return t;
		}
	return NULL;
}

static worker_rt *next_worker_with_credit(sched *s)
{
	for (int k = 0; k < s->n_workers; k++) {
		worker_rt *w = s->workers[(s->next_worker + k) % s->n_workers];

		if (w->credit > 0 && !w->starved && w->mute_until_ms <= emc_now_ms()) {
			s->next_worker = (s->next_worker + k + 1) % s->n_workers;
			return w;
		}
	}
	return NULL;
}

/* Trials of c waiting in the queue. */
static int64_t campaign_queued(const sched *s, const campaign_rt *c)
{
	int64_t n = 0;

	for (const trial_rt *t = s->queue_head; t; t = t->queue_next)
		n += t->cell->campaign == c;
	return n;
}

/* A pinned campaign whose queued trials no connected worker may run waits
 * without a word from anything else: say so, once, naming what is
 * connected — and again only after a matching worker has come and gone.
 * With no worker at all nothing runs anyway, and the pin is not why. */
static void pins_watch(sched *s)
{
	for (campaign_rt *c = s->campaigns; c; c = c->next) {
		char pin[96], seen[256] = "";
		bool matched = false;
		int64_t queued;
		size_t len = 0;

		if (!emc_engine_pinned(&c->engine) || c->paused || c->finished)
			continue;
		for (int i = 0; i < s->n_workers && !matched; i++)
			matched = worker_takes(s->workers[i], c);
		if (matched || s->n_workers == 0) {
			c->pin_unmatched &= !matched;
			continue;
		}
		if (c->pin_unmatched || (queued = campaign_queued(s, c)) == 0)
			continue;
		c->pin_unmatched = true;
		for (int i = 0; i < s->n_workers && i < 4 && len < sizeof seen; i++) {
			const worker_rt *w = s->workers[i];
			int k = snprintf(seen + len, sizeof seen - len, "%s%s (%s x%d)", i ? ", " : "", w->host,
					 w->blas_core[0] ? w->blas_core : "?", w->blas_threads);

			len += k > 0 ? (size_t)k : 0;
		}
		emc_engine_text(&c->engine, pin, sizeof pin);
		log_info("campaign %s: %" PRId64 " trial(s) wait for a worker with %s; none of the %d connected "
			 "worker(s) matches: %s%s",
			 c->name, queued, pin, s->n_workers, seen, s->n_workers > 4 ? ", ..." : "");
	}
}

void sched_dispatch(sched *s)
{
	for (int i = 0; i < s->n_workers; i++)
		s->workers[i]->starved = false;
	for (;;) {
		worker_rt *w = next_worker_with_credit(s);
		trial_rt *t;

		if (!w)
			break;
		t = queue_pop_runnable(s, w);
		if (!t) {
			/* Idle slots and nothing queued that w may run: speculate,
			 * one probe per cell w may run per round. None: w waits,
			 * and so does everyone if w may run every campaign. */
			if (refill_round(s, w) == 0) {
				if (worker_takes_all(s, w))
					break;
				w->starved = true;
			}
			continue;
		}
		if (assign(s, w, t) < 0) {
			queue_push(s, t);
			break;
		}
	}
	pins_watch(s);
}

/* ---- results -------------------------------------------------------------- */

/* Fencing: the trial whose live attempt r names, from the worker session
 * holding it (worker_holds). NULL (and counted) when the result is stale:
 * another attempt's, a duplicate, or from a peer that does not hold it. */
static trial_rt *result_trial(sched *s, const worker_rt *w, const sched_result *r)
{
	trial_rt *t = trial_by_attempt(s, r->attempt_id);

	if (!t || t->id != r->trial_id || !worker_holds(w, t)) {
		s->results_fenced++;
		log_warn("result for attempt %" PRIu64 " (trial %" PRIu64 ") is stale; not recorded",
			 (uint64_t)r->attempt_id, (uint64_t)r->trial_id);
		return NULL;
	}
	return t;
}

/* The sender of a live result holds the attempt from now on. */
static void result_adopt(trial_rt *t, worker_rt *w)
{
	if (t->worker == w)
		return;
	if (t->worker)
		t->worker->running--;
	t->worker = w;
	if (w)
		w->running++;
	t->orphaned = false;
}

/* The attempt ends, the trial runs again: TAKEN, or UNSTORED when the
 * store refused (nothing changed; the worker sends the result again). */
static sched_result_fate result_lose(sched *s, trial_rt *t, store_attempt_state how, const char *why)
{
	return trial_lose(s, t, how, why) < 0 ? SCHED_RESULT_UNSTORED : SCHED_RESULT_TAKEN;
}

/* Outcomes that end the attempt but not the trial: it runs again.
 * Returns 1 and sets *ret when handled so (or refused), 0 when the result
 * is to be recorded. */
static int result_retry(sched *s, trial_rt *t, const sched_result *r, sched_result_fate *ret)
{
	switch (r->r.outcome) {
	case EMC_OUTCOME_PREEMPTED:
		*ret = result_lose(s, t, STORE_ATTEMPT_PREEMPTED, "its worker drained");
		return 1;
	case EMC_OUTCOME_FAILED:
		if (t->failed < s->cfg.max_failed) {
			*ret = result_lose(s, t, STORE_ATTEMPT_FAILED, r->r.error[0] ? r->r.error : "no message");
			return 1;
		}
		return 0;
	case EMC_OUTCOME_CANCELLED:
		if (!t->cancelling) {
			/* We did not ask: the worker stopped on its own. Run it again. */
			*ret = result_lose(s, t, STORE_ATTEMPT_PREEMPTED, "cancelled by its worker");
			return 1;
		}
		return 0;
	case EMC_OUTCOME_FIT:
	case EMC_OUTCOME_NO_FIT:
		return 0;
	default:
		log_warn("result for attempt %" PRIu64 " has outcome %d; not recorded", (uint64_t)r->attempt_id,
			 (int)r->r.outcome);
		*ret = SCHED_RESULT_STALE;
		return 1;
	}
}

/* Record a terminal result of t's live attempt with the cell's new
 * measurement in one transaction. A result of a probe already cancelled
 * as pointless is recorded too, and its outcome goes into the measurement,
 * which cannot let it change a decision. Returns whether the store took it. */
static bool result_record(sched *s, trial_rt *t, worker_rt *w, const emc_trial_result *sr)
{
	cell_rt *cell = t->cell;
	store_cell_update up;
	const store_cell_update *upp;
	bool fresh = cell_take(cell, t, sr->outcome, sr->reason, &up, &upp);
	emc_err err;

	if (store_trial_finish(s->db, t->id, t->attempt_id, sr, upp, &err) < 0) {
		log_error("%s", err.msg);
		if (fresh)
			cell_replay(s, cell); /* the store is the authority: if it refused, so do we */
		return false;
	}
	if (w)
		w->trials_done++;
	if (s->obs.recorded)
		s->obs.recorded(s->obs_ctx, sr, t->started_ms ? emc_now_ms() - t->started_ms : -1);
	log_info("cell " CELL_FMT " n=%" PRId64 " seed %d: %s (%s)%s", CELL_ARGS(cell), t->n, t->seed,
		 emc_outcome_name(sr->outcome), emc_stop_reason_name(sr->reason),
		 t->cancelling ? ", off the path" : "");
	trial_drop(s, t);
	cell_after_result(s, cell, upp);
	return true;
}

/* Provenance: which worker, build and kernel produced the result, as the
 * holder's Hello named them; a worker's own claim in the result does not
 * count. No holder (an orphan's result from a peer not yet said hello):
 * empty, as unknown. */
static void result_stamp(emc_trial_result *r, const worker_rt *w)
{
	snprintf(r->host, sizeof r->host, "%s", w ? w->machine : "");
	snprintf(r->emc_version, sizeof r->emc_version, "%s", w ? w->emc_version : "");
	snprintf(r->blas_core, sizeof r->blas_core, "%s", w ? w->blas_core : "");
	r->blas_threads = w ? w->blas_threads : 0;
}

sched_result_fate sched_worker_result(sched *s, const sched_peer *peer, const sched_result *r)
{
	worker_rt *w = worker_find(s, peer);
	trial_rt *t = result_trial(s, w, r);
	sched_result_fate fate;
	emc_trial_result res;

	if (!t)
		return SCHED_RESULT_STALE;
	result_adopt(t, w);
	if (result_retry(s, t, r, &fate))
		return fate;
	res = r->r;
	result_stamp(&res, t->worker);
	if (!result_record(s, t, w, &res)) {
		/* Its slot is free all the same: the worker may fill it. */
		if (!t->delivered) {
			t->delivered = true;
			w->running--;
		}
		return SCHED_RESULT_UNSTORED;
	}
	if (s->out.recorded)
		s->out.recorded(s->out_ctx, r->trial_id, &res);
	return SCHED_RESULT_TAKEN;
}

/* ---- serving datasets ------------------------------------------------------ */

/* Make c's canonical encoding once, from the dataset this process decoded
 * when it prepared the campaign, or (after a restart) from its files. The
 * decoded copy is dropped once encoded: the encoding is what is served.
 * NULL, or what to tell the worker. */
static const char *campaign_encode(campaign_rt *c)
{
	emc_dataset *ds = c->data;
	const char *why = NULL;
	emc_err err;

	c->data = NULL;
	if (!ds && emc_dataset_load(&c->dataset, &ds, &err) < 0) {
		log_error("campaign %s: cannot serve its dataset: %s", c->name, err.msg);
		return "the coordinator cannot read this dataset";
	}
	if (memcmp(ds->hash, c->hash, sizeof c->hash) != 0) {
		log_error("campaign %s: its dataset files changed since the campaign started", c->name);
		why = "the dataset's files changed since the campaign started";
	} else if (emc_dataset_encode(ds, &c->encoded, &c->encoded_len, &err) < 0) {
		log_error("%s", err.msg);
		why = "the coordinator cannot encode this dataset";
	} else {
		log_info("campaign %s: serving its dataset (%zu bytes) to workers", c->name, c->encoded_len);
	}
	emc_dataset_destroy(&ds);
	return why;
}

int sched_worker_data(sched *s, const sched_peer *peer, const sched_data_request *q, sched_chunk *ret)
{
	campaign_rt *c = NULL;

	if (!worker_find(s, peer))
		return -ENOENT;
	memset(ret, 0, sizeof *ret);
	if (q->has_hash)
		for (campaign_rt *it = s->campaigns; it && !c; it = it->next)
			if (memcmp(it->hash, q->hash, 32) == 0)
				c = it;
	if (!c) {
		ret->error = "no active campaign has a dataset with this hash";
		return 0;
	}
	if (!c->encoded && (ret->error = campaign_encode(c)))
		return 0;
	ret->total = c->encoded_len;
	if (q->offset < c->encoded_len) {
		size_t n = q->length > SCHED_DATA_CHUNK_MAX ? SCHED_DATA_CHUNK_MAX : q->length;

		if (n > c->encoded_len - q->offset)
			n = c->encoded_len - (size_t)q->offset;
		ret->data = c->encoded + q->offset;
		ret->len = n;
	}
	return 0;
}

/* ---- campaign control ------------------------------------------------------ */

static int load_state(sched *s, emc_err *err);

static int campaign_cancel(sched *s, campaign_rt *c, emc_err *err)
{
	for (trial_rt *t = s->active, *next; t; t = next) {
		next = t->active_next;
		if (t->cell->campaign != c)
			continue;
		if (!t->running) {
			if (store_trial_cancel(s->db, t->id, err) < 0)
				return -EIO;
			trial_drop(s, t);
		} else if (t->worker && !t->cancelling) {
			t->cancelling = true;
			send_cancel(s, t->worker, t->attempt_id);
		}
	}
	if (store_campaign_set_state(s->db, c->id, STORE_CAMPAIGN_CANCELLED, err) < 0)
		return -EIO;
	/* Its cells stop counting; running probes end as their workers answer. */
	for (cell_rt *cell = s->cells; cell; cell = cell->next)
		if (cell->campaign == c && !cell->finished) {
			cell->decided = true;
			cell->finished = true;
		}
	c->cells_active = 0;
	c->paused = true;
	c->finished = true;
	log_info("campaign %s: cancelled", c->name);
	return 0;
}

static int campaign_pause(sched *s, campaign_rt *c, bool pause, emc_err *err)
{
	if (store_campaign_set_state(s->db, c->id, pause ? STORE_CAMPAIGN_PAUSED : STORE_CAMPAIGN_RUNNING, err) < 0)
		return -EIO;
	c->paused = pause;
	log_info("campaign %s: %s", c->name, pause ? "paused" : "resumed");
	return 0;
}

/* A cancelled campaign searches again where it stopped. It must have left
 * memory first: its cells there still count as stopped, and a trial still
 * running when it was cancelled ends as cancelled when its worker answers;
 * until then (the next tick, or that answer) it is -EBUSY. Once the store
 * holds it open again, it is loaded like any active campaign at start. */
static int campaign_reopen(sched *s, const char *name, emc_err *err)
{
	store_campaign_state state;
	int64_t id;
	int r;

	forget_finished(s);
	r = store_campaign_find(s->db, name, &id, NULL, &state, err);
	if (r < 0)
		return -EIO;
	if (r == 0)
		return emc_err_set(err, ENOENT, "no campaign named '%s'", name);
	if (state != STORE_CAMPAIGN_CANCELLED)
		return emc_err_set(err, EALREADY, "campaign '%s' is %s, not cancelled: there is nothing to reopen",
				   name, store_campaign_state_name(state));
	if (campaign_find(s, id))
		return emc_err_set(err, EBUSY,
				   "campaign '%s' is still stopping the trials that ran when it was cancelled; "
				   "try again in a moment",
				   name);
	if (store_campaign_reopen(s->db, id, err) < 0)
		return -EIO;
	log_info("campaign %s: reopened", name);
	return load_state(s, err) < 0 ? -EIO : 0;
}

int sched_campaign_control(sched *s, sched_verb verb, const char *name, emc_err *err)
{
	campaign_rt *c;

	if (verb == SCHED_VERB_REOPEN)
		return campaign_reopen(s, name, err);
	c = campaign_find_name(s, name);
	if (!c || (c->cells_active == 0 && verb != SCHED_VERB_CANCEL))
		return emc_err_set(err, ENOENT, "no active campaign named '%s'", name);
	switch (verb) {
	case SCHED_VERB_PAUSE:
		return campaign_pause(s, c, true, err);
	case SCHED_VERB_RESUME:
		return campaign_pause(s, c, false, err);
	case SCHED_VERB_CANCEL:
		return campaign_cancel(s, c, err);
	case SCHED_VERB_REOPEN:
		break; /* handled above */
	}
	return emc_err_set(err, EINVAL, "unknown verb %d", (int)verb);
}

/* ---- time ---------------------------------------------------------------- */

void sched_tick(sched *s)
{
	int64_t now = emc_now_ms();
	trial_rt *t;

	while ((t = running_trial(s, NULL, true, now)))
		trial_lose(s, t, STORE_ATTEMPT_LOST,
			   t->orphaned ? "no worker reclaimed it after the coordinator restarted"
				       : "its lease expired");
	for (int i = s->n_workers - 1; i >= 0; i--)
		if (now - s->workers[i]->last_seen_ms > s->cfg.lease_ms) {
			worker_remove(s, s->workers[i], "silent past its lease");
			if (s->obs.worker_lost)
				s->obs.worker_lost(s->obs_ctx);
		}
	forget_finished(s);
	sched_dispatch(s);
}

/* ---- loading ------------------------------------------------------------- */

static int load_campaign(void *ctx, const store_campaign_row *row)
{
	sched *s = ctx;
	campaign_rt *c;

	if (campaign_find(s, row->id))
		return 0;
	c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->id = row->id;
	snprintf(c->name, sizeof c->name, "%s", row->name);
	c->dataset = row->dataset;
	c->search = row->search;
	c->engine = row->engine;
	c->n_total = row->n_total;
	c->paused = row->state == STORE_CAMPAIGN_PAUSED;
	memcpy(c->hash, row->dataset_hash, sizeof c->hash);
	c->next = s->campaigns;
	s->campaigns = c;
	return 0;
}

static int load_cell(void *ctx, const store_cell_row *row)
{
	sched *s = ctx;
	campaign_rt *camp = campaign_find(s, row->campaign_id);
	measure_config cfg;
	cell_rt *c;

	if (!camp || camp->cells_loaded)
		return 0;
	c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->id = row->id; /* before the index: it is sorted by id */
	c->seeds = malloc((size_t)row->n_seeds * sizeof *c->seeds);
	if (!c->seeds || cell_index_add(s, c) < 0) {
		free(c->seeds);
		free(c);
		return -ENOMEM;
	}
	memcpy(c->seeds, row->seeds, (size_t)row->n_seeds * sizeof *c->seeds);
	c->n_seeds = row->n_seeds;
	c->campaign = camp;
	c->index = row->index;
	c->cfg = row->cfg;
	campaign_measure_config(&camp->search, camp->n_total, c->n_seeds, &cfg);
	if (measure_new(&cfg, &c->m) < 0)
		log_error("cell " CELL_FMT ": its search settings cannot be measured; it fails", CELL_ARGS(c));
	c->decided = row->state != STORE_CELL_SEARCHING;
	c->finished = c->decided;
	if (!c->finished)
		camp->cells_active++;
	if (s->cells_tail)
		s->cells_tail->next = c;
	else
		s->cells = c;
	s->cells_tail = c;
	return 0;
}

static int load_trial(void *ctx, const store_trial_row *row)
{
	sched *s = ctx;
	cell_rt *cell = cell_find(s, row->cell_id);
	trial_rt *t;

	if (!cell)
		return 0;
	for (int i = 0; i < cell->n_probes; i++)
		if (cell->probes[i]->id == row->id)
			return 0;
	if (row->seed_index < 0 || row->seed_index >= cell->n_seeds) {
		log_error("trial %" PRId64 ": seed index %d outside its cell's pool; ignored", row->id,
			  row->seed_index);
		return 0;
	}
	t = probe_add(s, cell, row->id, row->n, row->seed_index);
	if (!t)
		return 0;
	t->lost = row->attempts_lost;
	t->failed = row->attempts_failed;
	if (row->state == STORE_TRIAL_RUNNING && row->attempt_id > 0) {
		t->running = true;
		t->orphaned = true;
		t->attempt_id = row->attempt_id;
		t->holder_db = row->worker_id;
		t->progressed = row->progressed;
		t->deadline_ms = emc_now_ms() + s->cfg.grace_ms;
	} else {
		queue_push(s, t);
	}
	return 0;
}

/* A stored outcome into its cell's measurement (ctx: the cell). */
static int replay_one(void *ctx, const store_outcome_row *o)
{
	cell_rt *cell = ctx;
	measure_outcome mo;
	int r;

	if (!cell->m || !campaign_trial_outcome(o->state, o->reason, &mo))
		return 0;
	r = measure_record(cell->m, o->n, o->seed_index, mo);
	if (r < 0)
		log_warn("trial %" PRId64 " (cell " CELL_FMT ", n=%" PRId64 ", seed %d): outcome not replayed (%d)",
			 o->trial_id, CELL_ARGS(cell), o->n, o->seed_index, r);
	return 0;
}

/* Every stored outcome of the cells not yet replayed. */
static int load_outcome(void *ctx, const store_outcome_row *o)
{
	cell_rt *cell = cell_find(ctx, o->cell_id);

	return cell && !cell->replayed ? replay_one(cell, o) : 0;
}

/* A loaded cell: cancel what its replayed measurement made pointless,
 * decide it if it needs nothing more, else give it work. */
static void cell_resume(sched *s, cell_rt *c)
{
	if (c->decided) {
		/* Decided before the restart with probes still out: cancel them. */
		cell_prune(s, c);
		cell_maybe_finish(s, c);
	} else if (cell_over(c)) {
		cell_decide(s, c);
	} else {
		cell_prune(s, c);
		if (c->n_probes == 0)
			cell_refill(s, c, 1);
	}
}

static int load_state(sched *s, emc_err *err)
{
	int r = store_load_active(s->db, load_campaign, load_cell, load_trial, s, err);

	if (r == 0)
		r = store_load_outcomes(s->db, 0, load_outcome, s, err);
	if (r < 0)
		return r;
	for (campaign_rt *c = s->campaigns; c; c = c->next)
		c->cells_loaded = true;
	for (cell_rt *c = s->cells; c; c = c->next)
		if (!c->replayed) {
			c->replayed = true;
			cell_resume(s, c);
		}
	for (campaign_rt *c = s->campaigns; c; c = c->next)
		if (c->cells_active == 0 && !c->finished) {
			if (store_campaign_set_state(s->db, c->id, STORE_CAMPAIGN_DONE, err) < 0)
				return -EIO;
			c->finished = true;
		}
	return 0;
}

int sched_submit(sched *s, const char *text, size_t len, const char *origin, const char *base_dir, bool unpause,
		 int64_t *ret_id, sched_submitted *ret_found, emc_err *err)
{
	campaign_prep prep;
	int r;

	r = campaign_prepare(text, len, origin, base_dir, &prep, err);
	if (r < 0)
		return r;
	r = sched_submit_prepared(s, &prep, text, len, origin, unpause, ret_id, ret_found, err);
	campaign_prep_deinit(&prep);
	return r;
}

/* Hand the prepared dataset to the campaign in memory, if it still needs one. */
static void campaign_adopt_data(sched *s, int64_t id, campaign_prep *prep)
{
	campaign_rt *c = campaign_find(s, id);

	if (c && !c->data && !c->encoded && prep->data && memcmp(prep->data->hash, c->hash, sizeof c->hash) == 0) {
		c->data = prep->data;
		prep->data = NULL;
	}
}

/* The campaign is in the database already, with the same spec. */
static int submit_found(sched *s, campaign_prep *prep, int64_t id, store_campaign_state state, bool unpause,
			sched_submitted *ret_found, emc_err *err)
{
	const char *name = prep->spec->name;
	campaign_rt *c = campaign_find(s, id);
	int r;

	switch (state) {
	case STORE_CAMPAIGN_CANCELLED:
		return emc_err_set(err, EALREADY,
				   "campaign '%s' was cancelled; emcctl reopen %s goes on with its search, "
				   "emcctl results %s shows its results so far",
				   name, name, name);
	case STORE_CAMPAIGN_DONE:
		*ret_found = SCHED_SUBMIT_DONE;
		log_info("campaign %s: already done", name);
		emc_err_set(err, 0, "campaign '%s' is already done: nothing to run; emcctl results %s shows its EMCs",
			    name, name);
		return 0;
	case STORE_CAMPAIGN_PAUSED:
		if (!unpause)
			return emc_err_set(err, EBUSY, "campaign '%s' is paused; emcctl resume %s starts it again",
					   name, name);
		r = c ? campaign_pause(s, c, false, err)
		      : store_campaign_set_state(s->db, id, STORE_CAMPAIGN_RUNNING, err);
		if (r < 0)
			return r;
		break;
	case STORE_CAMPAIGN_RUNNING:
	case STORE_CAMPAIGN_STATE_COUNT: /* the store refuses unknown states */
		log_info("campaign %s: resumed", name);
		break;
	}
	*ret_found = SCHED_SUBMIT_RESUMED;
	campaign_adopt_data(s, id, prep);
	return 0;
}

/* A new campaign whose largest cell cannot fit any connected worker is
 * refused before it is written (campaign_memory_check). */
static int memory_check(const sched *s, const campaign_prep *prep, const char *origin, emc_err *err)
{
	uint64_t most = 0;

	for (int i = 0; i < s->n_workers; i++)
		if (s->workers[i]->memory_bytes > most)
			most = s->workers[i]->memory_bytes;
	return campaign_memory_check(prep, most, origin, err);
}

int sched_submit_prepared(sched *s, campaign_prep *prep, const char *text, size_t len, const char *origin, bool unpause,
			  int64_t *ret_id, sched_submitted *ret_found, emc_err *err)
{
	store_campaign_state state;
	int64_t id;
	int r;

	r = campaign_find_same(s->db, prep, text, len, origin, &id, &state, err);
	if (r < 0)
		return r;
	if (r == 1) {
		*ret_id = id;
		return submit_found(s, prep, id, state, unpause, ret_found, err);
	}
	r = memory_check(s, prep, origin, err);
	if (r < 0)
		return r;
	r = store_campaign_insert(s->db, prep->spec, text, prep->spec_hash, &prep->dataset, &id, err);
	if (r < 0)
		return r;
	log_info("campaign %s: %d cell(s) on %s (%" PRId64 " samples)", prep->spec->name, prep->spec->n_cells,
		 prep->dataset.description, prep->dataset.n_total);
	*ret_found = SCHED_SUBMIT_NEW;
	*ret_id = id;
	r = load_state(s, err);
	if (r == 0)
		campaign_adopt_data(s, id, prep);
	return r;
}

/* ---- life ---------------------------------------------------------------- */

void sched_config_defaults(sched_config *cfg)
{
	cfg->heartbeat_ms = 1000;
	cfg->lease_ms = 10000;
	/* Longer than a worker's longest reconnect back-off (32 s) plus a
	 * heartbeat, so a worker can always come back in time to reclaim. */
	cfg->grace_ms = 40000;
	cfg->max_lost = 5;
	cfg->max_failed = 2;
	cfg->max_workers = 4096;
	cfg->max_probes = 16;
}

int sched_new(store *db, const sched_config *cfg, const sched_out *out, void *out_ctx, sched **ret, emc_err *err)
{
	sched *s = calloc(1, sizeof *s);
	int r;

	if (!s)
		return emc_err_set(err, ENOMEM, "coordinator: out of memory");
	s->db = db;
	s->cfg = *cfg;
	if (s->cfg.max_probes < 1)
		s->cfg.max_probes = 1;
	if (s->cfg.max_probes > MAX_PROBES_LIMIT)
		s->cfg.max_probes = MAX_PROBES_LIMIT;
	s->out = *out;
	s->out_ctx = out_ctx;
	s->workers = calloc((size_t)(cfg->max_workers > 0 ? cfg->max_workers : 1), sizeof *s->workers);
	if (!s->workers) {
		free(s);
		return emc_err_set(err, ENOMEM, "coordinator: out of memory");
	}
	r = load_state(s, err);
	if (r < 0) {
		sched_destroy(&s);
		return r;
	}
	*ret = s;
	return 0;
}

void sched_destroy(sched **p)
{
	sched *s = *p;

	if (!s)
		return;
	while (s->campaigns) {
		campaign_rt *c = s->campaigns;

		s->campaigns = c->next;
		emc_dataset_destroy(&c->data);
		free(c->encoded);
		free(c);
	}
	while (s->active) {
		trial_rt *t = s->active;

		s->active = t->active_next;
		free(t);
	}
	while (s->cells) {
		cell_rt *c = s->cells;

		s->cells = c->next;
		cell_free(c);
	}
	for (int i = 0; i < s->n_workers; i++)
		free(s->workers[i]);
	free(s->workers);
	free(s->by_id);
	free(s);
	*p = NULL;
}
