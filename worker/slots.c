/* slots.c — one training thread per slot, and their hand-off to the main
 * thread.
 *
 * A slot is FREE, BUSY (its thread prepares the data and trains) or
 * WAITING (it holds an attempt whose dataset is being fetched; no thread).
 * Each trial runs on a thread of its own, created for that trial and
 * joined by the main thread once it says it is done: one BLAS thread per
 * slot by default, since on small EMC-sized networks more threads per
 * GEMM are slower.
 *
 * Who touches what:
 * - the assignment (ids, n, cell, dataset) is written by the main thread
 *   before the thread is created and only read by the thread;
 * - the outcome (result, rc, err, need_data) is written by the thread and
 *   read by the main thread only after the thread's notice arrived on
 *   s->done_rx and the thread was joined;
 * - progress is written by the thread and read by the heartbeat under the
 *   slot's own progress_lock, held for a struct copy;
 * - cancel is an atomic the main thread sets and the engine polls each step;
 * - the resume checkpoint is the main thread's copy of the Assign's,
 *   written before the thread starts; the latest checkpoint the engine
 *   made is copied by the thread into the slot under ckpt_lock and sent by
 *   the main thread (slots_send_checkpoints) under the same lock;
 * - state is the main thread's alone.
 * A finished thread pushes a notice (slot index, kind) on its own inproc
 * PUSH socket to the main thread's PULL socket, so the main thread sleeps
 * in zmq_poll() and wakes for either the network or a finished trial —
 * never a polling delay between two trials.
 *
 * Datasets come from the shared cache (cache.h), which decodes outside any
 * lock the other slots wait on. On a miss the slot's loader tries the cache
 * directory, then the files the spec names (when allowed, and only if they
 * hash to what the coordinator sent); when both fail the thread ends with
 * NOTICE_NEED_DATA, the main thread fetches the dataset and starts a new
 * thread for the slot once it is on disk.
 */
#include "slots.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "log.h"
#include "nn.h"
#include "subset.h"

typedef enum slot_state {
	SLOT_FREE = 0,
	SLOT_BUSY,    /* its thread trains (or prepares the data) */
	SLOT_WAITING, /* it holds an attempt whose dataset is being fetched */
} slot_state;

enum { NOTICE_DONE = 1, NOTICE_NEED_DATA = 2 };

#define FIRST_CHECKPOINT_MS 1000 /* an attempt's first checkpoint, after about this much training */

typedef struct slot {
	struct slots *owner;
	int index;
	pthread_t thread;
	bool thread_started;
	void *done_tx; /* inproc PUSH: the slot thread's */
	slot_state state;

	/* The assignment: written by main before the thread starts. */
	session_assign a;

	/* Written by the slot thread; read by main after the notice. */
	nn_trial_result result;
	int rc;
	emc_err err;
	bool need_data;

	atomic_int cancel;
	bool preempted; /* stopped by our own drain, not by the coordinator */
	pthread_mutex_t progress_lock;
	nn_progress progress;

	/* The checkpoint to resume from: the main thread's copy of the
	 * Assign's, read by the thread (the Assign's own bytes die with its
	 * message). */
	uint8_t *resume;
	size_t resume_len;
	bool resume_refused; /* the engine would not take it: trained from the start */

	/* The latest checkpoint: written by the thread, taken by the main
	 * thread, both under ckpt_lock. */
	pthread_mutex_t ckpt_lock;
	uint8_t *ckpt;
	size_t ckpt_len, ckpt_cap;
	int64_t ckpt_epoch, ckpt_step;
	bool ckpt_ready;
	int64_t ckpt_sent_ms; /* the main thread's: last sent for this attempt (0: none yet) */
} slot;

struct slots {
	int n;
	int64_t memory_limit_bytes;
	bool no_local_data;
	int64_t checkpoint_ms;
	session *session; /* borrowed */
	fetch *fetch;	  /* borrowed */
	cache *cache;	  /* borrowed */
	void *done_rx;	  /* inproc PULL: the main thread's */
	slot slot[SLOTS_MAX];
};

/* ---- on the slot thread ------------------------------------------------- */

/* The cache's loader for a slot: the cache directory, then the spec's own
 * files. -EAGAIN with sl->need_data when the coordinator must send it. */
static int load_dataset(void *ctx, const cache_key *key, emc_dataset **ret, emc_err *err)
{
	slot *sl = ctx;
	slots *s = sl->owner;
	emc_dataset *ds = NULL;
	int r;

	if (!key->has_hash)
		return emc_dataset_load(&key->ref, ret, err);
	r = fetch_cache_load(s->fetch, key->hash, &ds, err);
	if (r == -ENOENT && !s->no_local_data) {
		emc_err why;

		r = emc_dataset_load(&key->ref, &ds, &why);
		if (r == 0 && memcmp(ds->hash, key->hash, 32) != 0) {
			log_warn("local files of the dataset differ from the coordinator's; fetching its copy");
			emc_dataset_destroy(&ds);
			r = -EAGAIN;
		} else if (r < 0) {
			r = -EAGAIN; /* not here: fetch it */
		}
	}
	if (r == -ENOENT || r == -EAGAIN) {
		sl->need_data = true;
		return -EAGAIN;
	}
	if (r < 0)
		return r;
	*ret = ds;
	return 0;
}

static void on_progress(void *ctx, const nn_progress *p)
{
	slot *sl = ctx;

	pthread_mutex_lock(&sl->progress_lock);
	sl->progress = *p;
	pthread_mutex_unlock(&sl->progress_lock);
}

/* On the slot thread: keep a copy of the engine's checkpoint for the main
 * thread to send. A copy it has not sent yet is replaced: only the latest
 * matters. */
static void on_checkpoint(void *ctx, const uint8_t *buf, size_t len, const nn_progress *at)
{
	slot *sl = ctx;

	pthread_mutex_lock(&sl->ckpt_lock);
	if (len > sl->ckpt_cap) {
		uint8_t *p = realloc(sl->ckpt, len);

		if (!p) {
			pthread_mutex_unlock(&sl->ckpt_lock);
			return; /* the next one may fit; the trial itself goes on */
		}
		sl->ckpt = p;
		sl->ckpt_cap = len;
	}
	memcpy(sl->ckpt, buf, len);
	sl->ckpt_len = len;
	sl->ckpt_epoch = at->epoch;
	sl->ckpt_step = at->step;
	sl->ckpt_ready = true;
	pthread_mutex_unlock(&sl->ckpt_lock);
}

/* Train, from the Assign's checkpoint if it has one. The engine refuses a
 * checkpoint that is damaged or not this trial's (-EINVAL, nothing
 * trained): then the trial starts from the beginning — slower, never
 * wrong. */
static int train(slot *sl, const nn_data *data, nn_hooks *hooks)
{
	int r;

	hooks->resume = sl->resume;
	hooks->resume_len = sl->resume_len;
	if (sl->resume) {
		int64_t epoch = 0, step = 0;

		(void)nn_checkpoint_peek(sl->resume, sl->resume_len, &epoch, &step, NULL);
		log_info("attempt %llu: resuming from a checkpoint at epoch %lld, step %lld",
			 (unsigned long long)sl->a.attempt_id, (long long)epoch, (long long)step);
	}
	r = nn_train(&sl->a.cell, data, hooks, &sl->result, &sl->err);
	if (r == -EINVAL && sl->resume) {
		log_warn("attempt %llu: its checkpoint was refused (%s); training from the start",
			 (unsigned long long)sl->a.attempt_id, sl->err.msg);
		sl->resume_refused = true;
		emc_err_clear(&sl->err);
		hooks->resume = NULL;
		hooks->resume_len = 0;
		r = nn_train(&sl->a.cell, data, hooks, &sl->result, &sl->err);
	}
	return r;
}

/* Materialise subset(n) of the dataset under the cell's variant and seed,
 * then train. */
static int run_trial(slot *sl)
{
	const emc_dataset *ds = NULL;
	const session_assign *a = &sl->a;
	emc_variant v = emc_variant_of_cell(&a->cell);
	nn_hooks hooks = {.progress = on_progress,
			  .ctx = sl,
			  .cancel = &sl->cancel,
			  .memory_limit_bytes = sl->owner->memory_limit_bytes,
			  .checkpoint = sl->owner->checkpoint_ms > 0 ? on_checkpoint : NULL,
			  .checkpoint_every_ms = sl->owner->checkpoint_ms < FIRST_CHECKPOINT_MS
						     ? sl->owner->checkpoint_ms
						     : FIRST_CHECKPOINT_MS};
	cache_key key;
	uint8_t *y = NULL;
	float *x = NULL;
	nn_data data;
	int classes, r;

	memset(&key, 0, sizeof key);
	key.has_hash = a->has_hash;
	memcpy(key.hash, a->hash, 32);
	key.ref = a->dataset;
	r = cache_get(sl->owner->cache, &key, load_dataset, sl, &ds, &sl->err);
	if (r < 0)
		return r;
	if (a->n < 1 || a->n > ds->n)
		return emc_err_set(&sl->err, EINVAL, "worker: n = %lld but the dataset has %lld samples",
				   (long long)a->n, (long long)ds->n);
	classes = emc_variant_classes(ds, &v, &sl->err);
	if (classes < 0)
		return classes;
	y = malloc((size_t)a->n);
	x = malloc((size_t)a->n * (size_t)ds->dim * sizeof *x);
	if (!y || !x) {
		r = emc_err_set(&sl->err, ENOMEM, "worker: out of memory for a subset of %lld samples",
				(long long)a->n);
		goto out;
	}
	r = emc_subset_materialize(ds, &v, a->cell.seed, a->n, x, y, &sl->err);
	if (r < 0)
		goto out;
	data = (nn_data){.x = x, .y = y, .n = a->n, .shape = ds->shape};
	data.shape.classes = classes;
	r = train(sl, &data, &hooks);
out:
	free(y);
	free(x);
	return r;
}

static void *slot_main(void *arg)
{
	slot *sl = arg;
	uint8_t notice[2];

	sl->rc = run_trial(sl);
	notice[0] = (uint8_t)sl->index;
	notice[1] = sl->need_data ? NOTICE_NEED_DATA : NOTICE_DONE;
	/* Main reads the outcome only after this message arrives. */
	zmq_send(sl->done_tx, notice, sizeof notice, 0);
	return NULL;
}

/* ---- on the main thread ------------------------------------------------- */

/* Hand the slot's outcome to the session (which keeps it until its
 * ResultAck) and free the slot. */
static void finish(slots *s, slot *sl)
{
	session_result r = {
	    .attempt_id = sl->a.attempt_id,
	    .trial_id = sl->a.trial_id,
	    .rc = sl->rc,
	    .err = sl->err,
	    .result = sl->result.r,
	    .preempted = sl->preempted,
	};
	const emc_trial_result *res = &sl->result.r;

	session_send_result(s->session, &r);
	log_info("attempt %llu: n=%lld %s (%s) after %lld epochs, %.2fs", (unsigned long long)sl->a.attempt_id,
		 (long long)sl->a.n,
		 sl->rc < 0						  ? "failed"
		 : sl->preempted && res->outcome == EMC_OUTCOME_CANCELLED ? "preempted"
									  : emc_outcome_name(res->outcome),
		 sl->rc < 0 ? sl->err.msg : emc_stop_reason_name(res->reason), (long long)res->epochs,
		 res->train_seconds);
	sl->state = SLOT_FREE;
}

/* Answer the slot's attempt CANCELLED without training it. */
static void finish_cancelled(slots *s, slot *sl, emc_stop_reason reason)
{
	sl->rc = 0;
	memset(&sl->result, 0, sizeof sl->result);
	sl->result.r.outcome = EMC_OUTCOME_CANCELLED;
	sl->result.r.reason = reason;
	finish(s, sl);
}

/* Start the slot's thread; when none can start, answer FAILED and ask for
 * another attempt. */
static void start_thread(slots *s, slot *sl)
{
	sl->state = SLOT_BUSY;
	sl->need_data = false;
	sl->thread_started = pthread_create(&sl->thread, NULL, slot_main, sl) == 0;
	if (!sl->thread_started) {
		sl->rc = emc_err_set(&sl->err, EAGAIN, "worker: cannot start a training thread");
		finish(s, sl);
		session_send_ready(s->session, 1);
	}
}

void slots_assign(slots *s, const session_assign *a)
{
	slot *sl = NULL;

	for (int i = 0; i < s->n && !sl; i++)
		if (s->slot[i].state == SLOT_FREE)
			sl = &s->slot[i];
	if (!sl) {
		log_warn("assignment of attempt %llu with no free slot; ignored", (unsigned long long)a->attempt_id);
		return;
	}
	if (sl->thread_started) { /* a thread that ended without its notice collected */
		pthread_join(sl->thread, NULL);
		sl->thread_started = false;
	}
	sl->a = *a;
	free(sl->resume);
	sl->resume = NULL;
	sl->resume_len = 0;
	sl->resume_refused = false;
	if (a->resume && a->resume_len) {
		sl->resume = malloc(a->resume_len);
		if (sl->resume) {
			memcpy(sl->resume, a->resume, a->resume_len);
			sl->resume_len = a->resume_len;
		} else {
			log_warn("attempt %llu: no memory for its checkpoint; training from the start",
				 (unsigned long long)a->attempt_id);
		}
	}
	sl->a.resume = NULL; /* the message's bytes: gone after this call */
	sl->a.resume_len = 0;
	pthread_mutex_lock(&sl->ckpt_lock);
	sl->ckpt_ready = false;
	pthread_mutex_unlock(&sl->ckpt_lock);
	sl->ckpt_sent_ms = 0;
	memset(&sl->result, 0, sizeof sl->result);
	memset(&sl->progress, 0, sizeof sl->progress);
	emc_err_clear(&sl->err);
	sl->rc = 0;
	sl->preempted = false;
	atomic_store(&sl->cancel, 0);
	if (a->rc < 0) {
		sl->rc = a->rc;
		sl->err = a->err;
		finish(s, sl);
		session_send_ready(s->session, 1);
		return;
	}
	start_thread(s, sl);
}

void slots_cancel(slots *s, uint64_t attempt_id)
{
	for (int i = 0; i < s->n; i++) {
		slot *sl = &s->slot[i];

		if (sl->a.attempt_id != attempt_id)
			continue;
		if (sl->state == SLOT_BUSY) {
			atomic_store(&sl->cancel, 1);
		} else if (sl->state == SLOT_WAITING) {
			finish_cancelled(s, sl, EMC_STOP_CANCELLED);
			session_send_ready(s->session, 1);
		}
	}
}

/* Fetch the dataset of some waiting slot, if no transfer runs. */
static void fetch_next(slots *s)
{
	for (int i = 0; i < s->n && !fetch_active(s->fetch); i++)
		if (s->slot[i].state == SLOT_WAITING)
			fetch_start(s->fetch, s->slot[i].a.hash);
}

static void collect_one(slots *s, slot *sl, int kind)
{
	pthread_join(sl->thread, NULL);
	sl->thread_started = false;
	if (kind == NOTICE_NEED_DATA && !atomic_load(&sl->cancel)) {
		sl->state = SLOT_WAITING;
		sl->need_data = false;
		fetch_next(s);
		return;
	}
	if (kind == NOTICE_NEED_DATA) { /* cancelled while it looked for data */
		sl->rc = 0;
		sl->result.r.outcome = EMC_OUTCOME_CANCELLED;
		sl->result.r.reason = EMC_STOP_CANCELLED;
	}
	finish(s, sl);
	if (session_welcomed(s->session))
		session_send_ready(s->session, 1);
}

void slots_collect(slots *s)
{
	uint8_t notice[2];

	while (zmq_recv(s->done_rx, notice, sizeof notice, ZMQ_DONTWAIT) == (int)sizeof notice) {
		slot *sl = notice[0] < s->n ? &s->slot[notice[0]] : NULL;

		if (sl && sl->thread_started)
			collect_one(s, sl, notice[1]);
	}
}

void slots_dataset_arrived(slots *s, const uint8_t hash[32], const char *error)
{
	for (int i = 0; i < s->n; i++) {
		slot *sl = &s->slot[i];

		if (sl->state != SLOT_WAITING || memcmp(sl->a.hash, hash, 32) != 0)
			continue;
		if (error) {
			sl->rc = emc_err_set(&sl->err, EIO, "worker: dataset transfer failed: %s", error);
			finish(s, sl);
			session_send_ready(s->session, 1);
			continue;
		}
		start_thread(s, sl);
	}
	/* Another dataset may be awaited too. */
	fetch_next(s);
}

void slots_preempt(slots *s)
{
	for (int i = 0; i < s->n; i++) {
		slot *sl = &s->slot[i];

		if (sl->state == SLOT_BUSY) {
			sl->preempted = true;
			atomic_store(&sl->cancel, 1);
		} else if (sl->state == SLOT_WAITING) {
			sl->preempted = true;
			finish_cancelled(s, sl, 0);
		}
	}
}

int slots_free(const slots *s)
{
	int n = 0;

	for (int i = 0; i < s->n; i++)
		n += s->slot[i].state == SLOT_FREE;
	return n;
}

int slots_busy(const slots *s)
{
	return s->n - slots_free(s);
}

/* An attempt's first checkpoint leaves after about FIRST_CHECKPOINT_MS of
 * training, the later ones every checkpoint_ms: an attempt that dies soon
 * after it started (churn) has still secured progress, and the steady
 * rate stays the bound the worker was given. The engine makes one every
 * FIRST_CHECKPOINT_MS (a copy of the state: cheap); only the newest is
 * sent. */
void slots_send_checkpoints(slots *s)
{
	int64_t now = emc_now_ms();

	for (int i = 0; i < s->n; i++) {
		slot *sl = &s->slot[i];

		if (sl->state != SLOT_BUSY || (sl->ckpt_sent_ms && now - sl->ckpt_sent_ms < s->checkpoint_ms))
			continue;
		pthread_mutex_lock(&sl->ckpt_lock);
		if (sl->ckpt_ready) {
			session_send_checkpoint(s->session, sl->a.attempt_id, sl->a.trial_id, sl->ckpt_epoch,
						sl->ckpt_step, sl->ckpt, sl->ckpt_len);
			sl->ckpt_ready = false;
			sl->ckpt_sent_ms = now;
		}
		pthread_mutex_unlock(&sl->ckpt_lock);
	}
}

size_t slots_running(const slots *s, uint64_t *ret_ids, size_t max)
{
	size_t n = 0;

	for (int i = 0; i < s->n && n < max; i++)
		if (s->slot[i].state != SLOT_FREE)
			ret_ids[n++] = s->slot[i].a.attempt_id;
	return n;
}

size_t slots_progress(slots *s, session_progress *ret, size_t max)
{
	size_t n = 0;

	for (int i = 0; i < s->n && n < max; i++) {
		slot *sl = &s->slot[i];

		/* A waiting slot holds its attempt too (no progress yet): the
		 * coordinator loses an attempt its heartbeats leave out. */
		if (sl->state == SLOT_FREE)
			continue;
		ret[n].attempt_id = sl->a.attempt_id;
		pthread_mutex_lock(&sl->progress_lock);
		ret[n].progress = sl->progress;
		pthread_mutex_unlock(&sl->progress_lock);
		n++;
	}
	return n;
}

void *slots_socket(slots *s)
{
	return s->done_rx;
}

/* ---- set-up ------------------------------------------------------------- */

int slots_new(void *zmq_ctx, const slots_config *cfg, session *sess, fetch *fetcher, cache *datasets, slots **ret,
	      emc_err *err)
{
	slots *s = calloc(1, sizeof *s);
	int r;

	if (!s)
		return emc_err_set(err, ENOMEM, "out of memory");
	s->n = cfg->n < 1 ? 1 : cfg->n > SLOTS_MAX ? SLOTS_MAX : cfg->n;
	s->memory_limit_bytes = cfg->memory_limit_bytes;
	s->no_local_data = cfg->no_local_data;
	s->checkpoint_ms = cfg->checkpoint_ms;
	s->session = sess;
	s->fetch = fetcher;
	s->cache = datasets;
	for (int i = 0; i < s->n; i++) {
		s->slot[i].owner = s;
		s->slot[i].index = i;
		pthread_mutex_init(&s->slot[i].progress_lock, NULL);
		pthread_mutex_init(&s->slot[i].ckpt_lock, NULL);
	}
	s->done_rx = zmq_socket(zmq_ctx, ZMQ_PULL);
	if (!s->done_rx || zmq_bind(s->done_rx, "inproc://slots-done") < 0)
		goto fail;
	for (int i = 0; i < s->n; i++) {
		s->slot[i].done_tx = zmq_socket(zmq_ctx, ZMQ_PUSH);
		if (!s->slot[i].done_tx || zmq_connect(s->slot[i].done_tx, "inproc://slots-done") < 0)
			goto fail;
	}
	*ret = s;
	return 0;
fail:
	r = emc_err_set(err, errno, "cannot set up slots: %s", zmq_strerror(errno));
	slots_destroy(&s);
	return r;
}

void slots_destroy(slots **p)
{
	slots *s = *p;

	if (!s)
		return;
	for (int i = 0; i < s->n; i++) {
		slot *sl = &s->slot[i];

		if (sl->thread_started)
			pthread_join(sl->thread, NULL);
		if (sl->done_tx)
			zmq_close(sl->done_tx);
		pthread_mutex_destroy(&sl->progress_lock);
		pthread_mutex_destroy(&sl->ckpt_lock);
		free(sl->ckpt);
		free(sl->resume);
	}
	if (s->done_rx)
		zmq_close(s->done_rx);
	free(s);
	*p = NULL;
}
