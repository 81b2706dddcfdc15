/* emc-coordinator — runs every cell's EMC search and hands trials to workers.
 *
 * One libuv loop drives everything:
 *   - the worker ROUTER socket and the control ROUTER socket, each watched
 *     through its ZMQ_FD with uv_poll. That fd is edge-triggered: it says
 *     "something changed", not "a message is waiting". So after every
 *     wake-up we receive until ZMQ_EVENTS has no ZMQ_POLLIN, at most
 *     DRAIN_BUDGET messages per turn; when the budget runs out, or when we
 *     sent from a timer (a send can consume the edge), an idle handle
 *     drains again on the next loop turn.
 *   - a timer that expires leases of silent workers and retires them;
 *   - SIGINT / SIGTERM, which close every handle and leave the loop.
 *
 * SQLite (store.c) holds everything that matters; this file's memory is a
 * cache rebuilt from it at start: the active campaigns and cells, the
 * queue of pending trials, the running attempts and the connected workers.
 * Every state change is written to the store first and applied to memory
 * only once the write succeeded.
 *
 * Invariants:
 *   - a cell has at most one trial pending or running (one probe per cell;
 *     cells run in parallel across workers);
 *   - a trial is in the pending queue iff its state is pending;
 *   - a running trial has exactly one live attempt, leased to one worker;
 *   - a result counts only if it names the trial's live attempt (fencing);
 *     anything else is acknowledged, logged and dropped.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>
#include <zmq.h>

#include "campaign.h"
#include "cli.h"
#include "log.h"
#include "search.h"
#include "store.h"
#include "wire.h"

#define DRAIN_BUDGET 256
#define MAX_WORKERS 4096
#define MAX_IDENTITY 255
#define DEFAULT_HEARTBEAT_MS 1000
#define DEFAULT_LEASE_MS 10000
#define TICK_MS 250

typedef struct campaign_rt campaign_rt;
typedef struct cell_rt cell_rt;
typedef struct trial_rt trial_rt;
typedef struct worker_rt worker_rt;

struct campaign_rt {
	int64_t id;
	char name[EMC_NAME_MAX];
	emc_dataset_ref dataset;
	emc_search_cfg search;
	int64_t n_total;
	int cells_active; /* cells still searching */
	bool paused;
	campaign_rt *next;
};

struct cell_rt {
	int64_t id;
	campaign_rt *campaign;
	emc_cell_cfg cfg;
	search_state search;
	trial_rt *trial; /* the pending or running probe, or NULL */
	bool done;
	cell_rt *next;
};

struct trial_rt {
	int64_t id;
	cell_rt *cell;
	int64_t n;
	bool running;
	int64_t attempt_id;
	worker_rt *worker;
	int64_t lease_deadline_ms;
	trial_rt *queue_next; /* pending queue */
};

struct worker_rt {
	uint8_t identity[MAX_IDENTITY];
	size_t identity_len;
	int64_t db_id;
	char host[128];
	int slots;
	int credit;
	int running;
	int64_t last_seen_ms;
};

static struct {
	uv_loop_t *loop;
	uv_poll_t worker_poll, control_poll;
	uv_idle_t idle;
	uv_timer_t tick;
	uv_signal_t sigint, sigterm;
	void *zctx;
	void *worker_sock;
	void *control_sock;

	store *db;
	campaign_rt *campaigns;
	cell_rt *cells, *cells_tail;
	trial_rt *queue_head, *queue_tail;
	worker_rt *workers[MAX_WORKERS];
	int n_workers;
	int next_worker; /* round-robin start for fair dispatch */

	uint32_t heartbeat_ms, lease_ms;
	bool exit_when_done;
	int exit_code;
	bool stopping;
	int64_t results_fenced;
} C;

static void shutdown_loop(int code);
static void on_idle(uv_idle_t *h);

/* ---- sending --------------------------------------------------------- */

/* Send env to a peer of a ROUTER socket: identity frame, then payload. */
static int send_to(void *sock, const uint8_t *identity, size_t identity_len, Emc__Envelope *env)
{
	uint8_t *buf;
	size_t len;
	emc_err err;
	int r = wire_encode(env, &buf, &len, &err);

	if (r < 0) {
		log_error("%s", err.msg);
		return r;
	}
	r = zmq_send(sock, identity, identity_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
	if (r >= 0)
		r = zmq_send(sock, buf, len, ZMQ_DONTWAIT);
	free(buf);
	/* A send may consume the fd's edge: look again on the next turn. */
	if (!C.stopping)
		uv_idle_start(&C.idle, on_idle);
	return r < 0 ? -errno : 0;
}

static void send_error(void *sock, const uint8_t *identity, size_t identity_len, const char *message)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Error e = EMC__ERROR__INIT;

	e.message = (char *)message;
	env.body_case = EMC__ENVELOPE__BODY_ERROR;
	env.error = &e;
	send_to(sock, identity, identity_len, &env);
}

/* ---- campaigns, cells and the queue ----------------------------------- */

static void queue_push(trial_rt *t)
{
	t->queue_next = NULL;
	if (C.queue_tail)
		C.queue_tail->queue_next = t;
	else
		C.queue_head = t;
	C.queue_tail = t;
}

static void queue_remove(trial_rt *t)
{
	trial_rt **pp = &C.queue_head, *prev = NULL;

	while (*pp && *pp != t) {
		prev = *pp;
		pp = &(*pp)->queue_next;
	}
	if (!*pp)
		return;
	*pp = t->queue_next;
	if (C.queue_tail == t)
		C.queue_tail = prev;
	t->queue_next = NULL;
}

static campaign_rt *campaign_find(int64_t id)
{
	for (campaign_rt *c = C.campaigns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static cell_rt *cell_find(int64_t id)
{
	for (cell_rt *c = C.cells; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static bool all_campaigns_done(void)
{
	for (campaign_rt *c = C.campaigns; c; c = c->next)
		if (c->cells_active > 0)
			return false;
	return true;
}

static void campaign_cell_finished(campaign_rt *c)
{
	emc_err err;

	if (--c->cells_active > 0)
		return;
	if (store_campaign_set_state(C.db, c->id, "done", &err) < 0)
		log_error("%s", err.msg);
	log_info("campaign %s: done", c->name);
	if (C.exit_when_done && all_campaigns_done())
		shutdown_loop(0);
}

/* Give the cell its next probe, or finish it. */
static void cell_advance(cell_rt *cell)
{
	int64_t n;
	int64_t trial_id;
	emc_err err;

	if (cell->done || cell->trial)
		return;
	if (search_done(&cell->search) || search_next(&cell->search, NULL, 0, &n) != 1) {
		store_cell_update up = { .lo = cell->search.lo,
					 .hi = cell->search.hi,
					 .done = true,
					 .full = search_full(&cell->search) };

		if (store_cell_set(C.db, cell->id, &up, "done", &err) < 0) {
			log_error("%s", err.msg);
			return;
		}
		cell->done = true;
		log_info("cell %" PRId64 ": EMC %s%" PRId64, cell->id, up.full ? ">=" : "", cell->search.lo);
		campaign_cell_finished(cell->campaign);
		return;
	}
	if (store_trial_insert(C.db, cell->id, n, &trial_id, &err) < 0) {
		log_error("%s", err.msg);
		return;
	}
	trial_rt *t = calloc(1, sizeof *t);
	if (!t) {
		log_error("out of memory");
		return;
	}
	t->id = trial_id;
	t->cell = cell;
	t->n = n;
	cell->trial = t;
	queue_push(t);
}

/* ---- workers ----------------------------------------------------------- */

static worker_rt *worker_find(const uint8_t *identity, size_t len)
{
	for (int i = 0; i < C.n_workers; i++)
		if (C.workers[i]->identity_len == len && memcmp(C.workers[i]->identity, identity, len) == 0)
			return C.workers[i];
	return NULL;
}

/* The attempt is gone with its worker or its lease: back to the queue. */
static void trial_requeue(trial_rt *t, const char *why)
{
	emc_err err;

	if (store_attempt_lost(C.db, t->attempt_id, &err) < 0) {
		log_error("%s", err.msg);
		return;
	}
	log_warn("trial %" PRId64 " (n=%" PRId64 "): attempt %" PRId64 " lost (%s); requeued", t->id, t->n,
		 t->attempt_id, why);
	if (t->worker)
		t->worker->running--;
	t->running = false;
	t->worker = NULL;
	t->attempt_id = 0;
	queue_push(t);
}

static void worker_remove(worker_rt *w, const char *why)
{
	for (cell_rt *c = C.cells; c; c = c->next)
		if (c->trial && c->trial->running && c->trial->worker == w)
			trial_requeue(c->trial, why);
	for (int i = 0; i < C.n_workers; i++)
		if (C.workers[i] == w) {
			C.workers[i] = C.workers[--C.n_workers];
			break;
		}
	log_info("worker %" PRId64 " (%s) removed: %s", w->db_id, w->host, why);
	free(w);
}

static void dispatch(void);

static void handle_hello(const uint8_t *id, size_t id_len, const Emc__Hello *h)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Welcome welcome = EMC__WELCOME__INIT;
	worker_rt *w = worker_find(id, id_len);
	char ident_text[2 * MAX_IDENTITY + 1];
	emc_err err;

	if (h->protocol != EMC_PROTOCOL_VERSION) {
		log_warn("worker refused: protocol %u, expected %d", h->protocol, EMC_PROTOCOL_VERSION);
		send_error(C.worker_sock, id, id_len, "protocol version mismatch");
		return;
	}
	if (h->slots < 1 || h->slots > 1024) {
		send_error(C.worker_sock, id, id_len, "hello: slots out of range");
		return;
	}
	if (!w) {
		if (C.n_workers == MAX_WORKERS) {
			log_warn("worker refused: already %d workers", MAX_WORKERS);
			send_error(C.worker_sock, id, id_len, "too many workers");
			return;
		}
		w = calloc(1, sizeof *w);
		if (!w)
			return;
		memcpy(w->identity, id, id_len);
		w->identity_len = id_len;
		C.workers[C.n_workers++] = w;
	} else {
		/* A worker saying hello again has lost track of its attempts. */
		for (cell_rt *c = C.cells; c; c = c->next)
			if (c->trial && c->trial->running && c->trial->worker == w)
				trial_requeue(c->trial, "worker said hello again");
	}
	for (size_t i = 0; i < id_len; i++)
		snprintf(ident_text + 2 * i, 3, "%02x", id[i]);
	snprintf(w->host, sizeof w->host, "%s:%u", h->host ? h->host : "?", h->pid);
	w->slots = (int)h->slots;
	w->credit = 0;
	w->running = 0;
	w->last_seen_ms = emc_now_ms();
	if (store_worker_upsert(C.db, ident_text, w->host, w->slots, &w->db_id, &err) < 0)
		log_error("%s", err.msg);
	log_info("worker %" PRId64 " (%s) joined with %d slot(s)", w->db_id, w->host, w->slots);

	welcome.worker_id = (uint64_t)w->db_id;
	welcome.heartbeat_ms = C.heartbeat_ms;
	welcome.lease_ms = C.lease_ms;
	env.body_case = EMC__ENVELOPE__BODY_WELCOME;
	env.welcome = &welcome;
	send_to(C.worker_sock, id, id_len, &env);
}

static int assign(worker_rt *w, trial_rt *t)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Assign a = EMC__ASSIGN__INIT;
	Emc__DatasetRef ds;
	wire_cell_storage st;
	int64_t attempt_id;
	emc_err err;

	if (store_attempt_start(C.db, t->id, w->db_id, C.lease_ms, &attempt_id, &err) < 0) {
		log_error("%s", err.msg);
		return -EIO;
	}
	t->running = true;
	t->attempt_id = attempt_id;
	t->worker = w;
	t->lease_deadline_ms = emc_now_ms() + C.lease_ms;
	w->credit--;
	w->running++;

	a.attempt_id = (uint64_t)attempt_id;
	a.trial_id = (uint64_t)t->id;
	a.n = (uint64_t)t->n;
	a.cell = wire_cell_to_pb(&t->cell->cfg, &st);
	wire_dataset_to_pb(&t->cell->campaign->dataset, &ds);
	a.dataset = &ds;
	env.body_case = EMC__ENVELOPE__BODY_ASSIGN;
	env.assign = &a;
	log_debug("trial %" PRId64 " (cell %" PRId64 ", n=%" PRId64 ") -> worker %" PRId64 " as attempt %" PRId64,
		  t->id, t->cell->id, t->n, w->db_id, attempt_id);
	send_to(C.worker_sock, w->identity, w->identity_len, &env);
	return 0;
}

/* Hand pending trials to workers with credit, round robin over workers. */
static void dispatch(void)
{
	bool progress = true;

	while (C.queue_head && C.n_workers > 0 && progress) {
		progress = false;
		for (int k = 0; k < C.n_workers && C.queue_head; k++) {
			worker_rt *w = C.workers[(C.next_worker + k) % C.n_workers];
			trial_rt *t = C.queue_head;

			if (w->credit <= 0)
				continue;
			/* Skip trials of paused campaigns without losing their place. */
			while (t && t->cell->campaign->paused)
				t = t->queue_next;
			if (!t)
				return;
			queue_remove(t);
			if (assign(w, t) < 0) {
				queue_push(t);
				return;
			}
			progress = true;
		}
		C.next_worker = C.n_workers ? (C.next_worker + 1) % C.n_workers : 0;
	}
}

static void handle_result(worker_rt *w, const uint8_t *id, size_t id_len, const Emc__Result *r)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__ResultAck ack = EMC__RESULT_ACK__INIT;
	trial_rt *t = NULL;
	store_result sr;
	store_cell_update up;
	search_state next;
	emc_err err;

	for (cell_rt *c = C.cells; c && !t; c = c->next)
		if (c->trial && c->trial->running && c->trial->attempt_id == (int64_t)r->attempt_id)
			t = c->trial;
	ack.attempt_id = r->attempt_id;
	if (!t || t->id != (int64_t)r->trial_id || t->worker != w) {
		C.results_fenced++;
		log_warn("result for attempt %" PRIu64 " (trial %" PRIu64 ") is stale; not recorded", r->attempt_id,
			 r->trial_id);
		goto ack;
	}
	if (r->outcome != EMC__OUTCOME__OUTCOME_FIT && r->outcome != EMC__OUTCOME__OUTCOME_NO_FIT &&
	    r->outcome != EMC__OUTCOME__OUTCOME_FAILED && r->outcome != EMC__OUTCOME__OUTCOME_CANCELLED) {
		log_warn("result for attempt %" PRIu64 " has outcome %d; not recorded", r->attempt_id,
			 (int)r->outcome);
		goto ack;
	}
	memset(&sr, 0, sizeof sr);
	sr.outcome = (emc_outcome)r->outcome;
	sr.reason = (int)r->reason >= 0 && (int)r->reason < (int)EMC_STOP_COUNT ? (emc_stop_reason)r->reason : EMC_STOP_NONE;
	sr.epochs = r->epochs;
	sr.steps = r->steps;
	sr.train_seconds = r->train_seconds;
	sr.loss = r->loss;
	sr.accuracy = r->accuracy;
	sr.grad_norm = r->grad_norm;
	sr.budget_used = r->budget_used;
	snprintf(sr.error, sizeof sr.error, "%s", r->error ? r->error : "");

	next = t->cell->search;
	memset(&up, 0, sizeof up);
	if (sr.outcome == EMC_OUTCOME_FIT || sr.outcome == EMC_OUTCOME_NO_FIT) {
		search_record(&next, t->n, sr.outcome == EMC_OUTCOME_FIT);
		up.done = search_done(&next);
		up.full = search_full(&next);
	}
	up.lo = next.lo;
	up.hi = next.hi;
	if (store_trial_finish(C.db, t->id, t->attempt_id, &sr, &up, &err) < 0) {
		log_error("%s", err.msg);
		/* The store is the authority: if it refused, so do we. */
		goto ack;
	}
	ack.recorded = true;
	w->running--;
	t->cell->search = next;
	t->cell->trial = NULL;
	log_info("cell %" PRId64 " n=%" PRId64 ": %s (%s) -> [%" PRId64 ", %" PRId64 ")", t->cell->id, t->n,
		 emc_outcome_name(sr.outcome), emc_stop_reason_name(sr.reason), next.lo, next.hi);
	if (sr.outcome == EMC_OUTCOME_FAILED || sr.outcome == EMC_OUTCOME_CANCELLED) {
		cell_rt *cell = t->cell;

		log_error("cell %" PRId64 " n=%" PRId64 ": trial failed: %s", cell->id, t->n, sr.error);
		if (store_cell_set(C.db, cell->id, &up, "failed", &err) < 0)
			log_error("%s", err.msg);
		cell->done = true;
		free(t);
		campaign_cell_finished(cell->campaign);
	} else {
		cell_rt *cell = t->cell;

		free(t);
		cell_advance(cell);
	}
ack:
	env.body_case = EMC__ENVELOPE__BODY_RESULT_ACK;
	env.result_ack = &ack;
	send_to(C.worker_sock, id, id_len, &env);
}

static void handle_worker_message(const uint8_t *id, size_t id_len, const uint8_t *buf, size_t len)
{
	Emc__Envelope *env = NULL;
	worker_rt *w;
	emc_err err;

	if (wire_decode(buf, len, &env, &err) < 0) {
		log_warn("from peer: %s", err.msg);
		send_error(C.worker_sock, id, id_len, err.msg);
		return;
	}
	if (env->body_case == EMC__ENVELOPE__BODY_HELLO) {
		handle_hello(id, id_len, env->hello);
		goto out;
	}
	w = worker_find(id, id_len);
	if (!w) {
		/* A worker from before our restart, or a stranger. */
		send_error(C.worker_sock, id, id_len, "unknown worker: say hello first");
		goto out;
	}
	w->last_seen_ms = emc_now_ms();
	switch (env->body_case) {
	case EMC__ENVELOPE__BODY_READY:
		w->credit += (int)(env->ready->credit > (uint32_t)w->slots ? (uint32_t)w->slots : env->ready->credit);
		if (w->credit > w->slots - w->running)
			w->credit = w->slots - w->running;
		break;
	case EMC__ENVELOPE__BODY_HEARTBEAT:
		for (cell_rt *c = C.cells; c; c = c->next)
			if (c->trial && c->trial->running && c->trial->worker == w)
				c->trial->lease_deadline_ms = w->last_seen_ms + C.lease_ms;
		break;
	case EMC__ENVELOPE__BODY_RESULT:
		handle_result(w, id, id_len, env->result);
		break;
	case EMC__ENVELOPE__BODY_BYE:
		worker_remove(w, "said bye");
		break;
	default:
		log_warn("worker %" PRId64 ": unexpected message (body %d)", w->db_id, (int)env->body_case);
		send_error(C.worker_sock, id, id_len, "unexpected message");
		break;
	}
out:
	wire_free(&env);
}

/* ---- the control socket ------------------------------------------------ */

/* Insert a campaign from spec text, or find it again. 0 on success. */
static int campaign_submit(const char *text, size_t len, const char *origin, const char *base_dir,
			   int64_t *ret_id, bool *ret_resumed, emc_err *err);

static void handle_control_message(const uint8_t *id, size_t id_len, const uint8_t *buf, size_t len)
{
	Emc__Envelope *env = NULL, reply = EMC__ENVELOPE__INIT;
	Emc__SubmitReply sr = EMC__SUBMIT_REPLY__INIT;
	emc_err err;
	int64_t cid = 0;
	bool resumed = false;

	if (wire_decode(buf, len, &env, &err) < 0) {
		send_error(C.control_sock, id, id_len, err.msg);
		return;
	}
	if (env->body_case != EMC__ENVELOPE__BODY_SUBMIT) {
		send_error(C.control_sock, id, id_len, "control: expected a Submit");
		goto out;
	}
	emc_err_clear(&err);
	if (campaign_submit(env->submit->spec_text, strlen(env->submit->spec_text),
			    env->submit->origin && *env->submit->origin ? env->submit->origin : "spec",
			    env->submit->base_dir && *env->submit->base_dir ? env->submit->base_dir : NULL, &cid,
			    &resumed, &err) < 0) {
		sr.ok = false;
		sr.message = err.msg;
	} else {
		sr.ok = true;
		sr.campaign_id = (uint64_t)cid;
		sr.resumed = resumed;
	}
	reply.body_case = EMC__ENVELOPE__BODY_SUBMIT_REPLY;
	reply.submit_reply = &sr;
	send_to(C.control_sock, id, id_len, &reply);
	dispatch();
out:
	wire_free(&env);
}

/* ---- draining the sockets --------------------------------------------- */

typedef void (*message_fn)(const uint8_t *id, size_t id_len, const uint8_t *buf, size_t len);

/* Receive up to DRAIN_BUDGET messages. Returns true if more are waiting. */
static bool drain(void *sock, message_fn handle)
{
	for (int i = 0; i < DRAIN_BUDGET; i++) {
		uint32_t events = 0;
		size_t events_len = sizeof events;
		zmq_msg_t id, body;
		bool extra = false;

		if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &events_len) < 0 || !(events & ZMQ_POLLIN))
			return false;
		zmq_msg_init(&id);
		zmq_msg_init(&body);
		if (zmq_msg_recv(&id, sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&id);
			zmq_msg_close(&body);
			return false;
		}
		if (!zmq_msg_more(&id) || zmq_msg_recv(&body, sock, ZMQ_DONTWAIT) < 0) {
			log_warn("from peer: message without a body dropped");
		} else {
			/* Anything beyond one payload frame is not ours. */
			while (zmq_msg_more(&body)) {
				extra = true;
				if (zmq_msg_recv(&body, sock, ZMQ_DONTWAIT) < 0)
					break;
			}
			if (extra) {
				log_warn("from peer: multipart message dropped");
			} else if (zmq_msg_size(&id) > MAX_IDENTITY) {
				log_warn("from peer: identity too long; dropped");
			} else {
				handle(zmq_msg_data(&id), zmq_msg_size(&id), zmq_msg_data(&body), zmq_msg_size(&body));
			}
		}
		zmq_msg_close(&id);
		zmq_msg_close(&body);
		if (C.stopping)
			return false;
	}
	return true;
}

static void drain_all(void)
{
	bool more;

	if (C.stopping)
		return;
	more = drain(C.worker_sock, handle_worker_message);
	if (!C.stopping)
		more |= drain(C.control_sock, handle_control_message);
	if (!C.stopping)
		dispatch();
	if (C.stopping)
		return;
	if (more)
		uv_idle_start(&C.idle, on_idle);
}

static void on_idle(uv_idle_t *h)
{
	uv_idle_stop(h);
	drain_all();
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	(void)h;
	(void)events;
	if (status < 0) {
		log_error("poll: %s", uv_strerror(status));
		return;
	}
	drain_all();
}

/* ---- timers and signals ------------------------------------------------ */

static void on_tick(uv_timer_t *h)
{
	int64_t now = emc_now_ms();
	int64_t liveness = C.lease_ms;

	(void)h;
	for (cell_rt *c = C.cells; c; c = c->next)
		if (c->trial && c->trial->running && c->trial->lease_deadline_ms < now)
			trial_requeue(c->trial, "lease expired");
	for (int i = C.n_workers - 1; i >= 0; i--)
		if (now - C.workers[i]->last_seen_ms > liveness)
			worker_remove(C.workers[i], "silent past its liveness window");
	dispatch();
}

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

static void shutdown_loop(int code)
{
	if (C.stopping)
		return;
	C.stopping = true;
	C.exit_code = code;
	uv_poll_stop(&C.worker_poll);
	uv_poll_stop(&C.control_poll);
	uv_close((uv_handle_t *)&C.worker_poll, close_cb);
	uv_close((uv_handle_t *)&C.control_poll, close_cb);
	uv_close((uv_handle_t *)&C.idle, close_cb);
	uv_close((uv_handle_t *)&C.tick, close_cb);
	uv_close((uv_handle_t *)&C.sigint, close_cb);
	uv_close((uv_handle_t *)&C.sigterm, close_cb);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	log_info("signal %d: shutting down", signum);
	shutdown_loop(0);
}

/* ---- loading state ----------------------------------------------------- */

static int load_campaign(void *ctx, const store_campaign_row *row)
{
	campaign_rt *c = calloc(1, sizeof *c);

	(void)ctx;
	if (!c)
		return -ENOMEM;
	if (campaign_find(row->id)) {
		free(c);
		return 0;
	}
	c->id = row->id;
	snprintf(c->name, sizeof c->name, "%s", row->name);
	c->dataset = row->dataset;
	c->search = row->search;
	c->n_total = row->n_total;
	c->paused = strcmp(row->state, "paused") == 0;
	c->next = C.campaigns;
	C.campaigns = c;
	return 0;
}

static int load_cell(void *ctx, const store_cell_row *row)
{
	campaign_rt *camp = campaign_find(row->campaign_id);
	cell_rt *c;
	int64_t n_max;

	(void)ctx;
	if (!camp || cell_find(row->id))
		return 0;
	c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->id = row->id;
	c->campaign = camp;
	c->cfg = row->cfg;
	n_max = camp->search.max_n > 0 ? camp->search.max_n : camp->n_total;
	search_restore(&c->search, camp->search.start, camp->search.precision, n_max, row->lo, row->hi);
	c->done = strcmp(row->state, "searching") != 0;
	if (!c->done)
		camp->cells_active++;
	if (C.cells_tail)
		C.cells_tail->next = c;
	else
		C.cells = c;
	C.cells_tail = c;
	return 0;
}

static int load_trial(void *ctx, const store_trial_row *row)
{
	cell_rt *cell = cell_find(row->cell_id);
	trial_rt *t;

	(void)ctx;
	if (!cell || cell->done || cell->trial)
		return 0;
	t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	t->id = row->id;
	t->cell = cell;
	t->n = row->n;
	cell->trial = t;
	queue_push(t);
	return 0;
}

static void free_state(void)
{
	while (C.campaigns) {
		campaign_rt *c = C.campaigns;

		C.campaigns = c->next;
		free(c);
	}
	while (C.cells) {
		cell_rt *c = C.cells;

		C.cells = c->next;
		free(c->trial);
		free(c);
	}
	C.cells_tail = NULL;
	C.queue_head = C.queue_tail = NULL;
	for (int i = 0; i < C.n_workers; i++)
		free(C.workers[i]);
	C.n_workers = 0;
}

/* Bring memory up to date with the store — everything at start, the new
 * campaign after a submit (what is already in memory is kept) — then give
 * every idle cell its next probe. */
static int load_state(emc_err *err)
{
	int r;

	r = store_load_active(C.db, load_campaign, load_cell, load_trial, NULL, err);
	if (r < 0)
		return r;
	/* Cells are advanced in grid order, so the queue starts in it. */
	for (cell_rt *c = C.cells; c; c = c->next)
		cell_advance(c);
	for (campaign_rt *c = C.campaigns; c; c = c->next)
		if (c->cells_active == 0 && store_campaign_set_state(C.db, c->id, "done", err) < 0)
			return -EIO;
	return 0;
}

static int campaign_submit(const char *text, size_t len, const char *origin, const char *base_dir,
			   int64_t *ret_id, bool *ret_resumed, emc_err *err)
{
	campaign_prep prep;
	char existing_hash[65] = "";
	int64_t id;
	int r;

	r = campaign_prepare(text, len, origin, base_dir, &prep, err);
	if (r < 0)
		return r;
	r = store_campaign_find(C.db, prep.spec->name, &id, existing_hash, err);
	if (r < 0)
		goto out;
	if (r == 1) {
		if (strcmp(existing_hash, prep.spec_hash) != 0) {
			r = emc_err_set(err, EEXIST,
					"%s: campaign '%s' already exists in this database with a different spec; "
					"rename it or use another database",
					origin, prep.spec->name);
			goto out;
		}
		*ret_resumed = true;
		*ret_id = id;
		log_info("campaign %s: resumed", prep.spec->name);
		r = 0;
		goto out;
	}
	r = store_campaign_insert(C.db, prep.spec, text, prep.spec_hash, &prep.dataset, &id, err);
	if (r < 0)
		goto out;
	log_info("campaign %s: %d cell(s) on %s (%" PRId64 " samples)", prep.spec->name, prep.spec->n_cells,
		 prep.dataset.description, prep.dataset.n_total);
	*ret_resumed = false;
	*ret_id = id;
	r = load_state(err);
out:
	campaign_prep_deinit(&prep);
	return r;
}

/* ---- set-up ------------------------------------------------------------ */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: emc-coordinator --db FILE [options]\n"
		"  --db FILE            the campaign database (created if missing)\n"
		"  --bind ENDPOINT      where workers connect (default tcp://127.0.0.1:5555)\n"
		"  --control ENDPOINT   where emcctl submits campaigns (default ipc://FILE.ctl)\n"
		"  --spec SPEC          add (or resume) the campaign in SPEC before serving\n"
		"  --exit-when-done     exit once no campaign has work left\n"
		"  --heartbeat-ms MS    worker heartbeat interval (default %d)\n"
		"  --lease-ms MS        silence after which a worker's attempts are requeued (default %d)\n"
		"  --verbose | --quiet  more or less logging\n",
		DEFAULT_HEARTBEAT_MS, DEFAULT_LEASE_MS);
}

static void *bind_router(const char *endpoint, uv_poll_t *poll)
{
	void *sock = zmq_socket(C.zctx, ZMQ_ROUTER);
	int64_t maxmsg = EMC_MAX_MESSAGE_BYTES;
	int one = 1, linger = 0;
	int fd;
	size_t fd_len = sizeof fd;

	if (!sock)
		return NULL;
	zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
	zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
	if (zmq_bind(sock, endpoint) < 0) {
		log_error("cannot bind %s: %s", endpoint, zmq_strerror(errno));
		zmq_close(sock);
		return NULL;
	}
	zmq_getsockopt(sock, ZMQ_FD, &fd, &fd_len);
	uv_poll_init(C.loop, poll, fd);
	uv_poll_start(poll, UV_READABLE, on_poll);
	return sock;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },	     { "bind", required_argument, NULL, 'b' },
		{ "control", required_argument, NULL, 'c' }, { "spec", required_argument, NULL, 's' },
		{ "exit-when-done", no_argument, NULL, 'x' }, { "heartbeat-ms", required_argument, NULL, 'H' },
		{ "lease-ms", required_argument, NULL, 'L' }, { "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },	     { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *db_path = NULL, *bind_ep = "tcp://127.0.0.1:5555", *spec_path = NULL;
	char control_ep[EMC_PATH_MAX + 16] = "";
	emc_err err;
	int opt, r;
	long v;

	emc_log_init("coordinator");
	C.heartbeat_ms = DEFAULT_HEARTBEAT_MS;
	C.lease_ms = DEFAULT_LEASE_MS;
	while ((opt = getopt_long(argc, argv, "d:b:c:s:xH:L:vqh", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			db_path = optarg;
			break;
		case 'b':
			bind_ep = optarg;
			break;
		case 'c':
			snprintf(control_ep, sizeof control_ep, "%s", optarg);
			break;
		case 's':
			spec_path = optarg;
			break;
		case 'x':
			C.exit_when_done = true;
			break;
		case 'H':
			if (cli_long(optarg, 50, 60000, &v) < 0) {
				log_error("--heartbeat-ms must be a whole number from 50 to 60000");
				return 2;
			}
			C.heartbeat_ms = (uint32_t)v;
			break;
		case 'L':
			if (cli_long(optarg, 100, 3600000, &v) < 0) {
				log_error("--lease-ms must be a whole number from 100 to 3600000");
				return 2;
			}
			C.lease_ms = (uint32_t)v;
			break;
		case 'v':
			emc_log_set_level(EMC_LOG_DEBUG);
			break;
		case 'q':
			emc_log_set_level(EMC_LOG_WARN);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!db_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (C.lease_ms < 2 * C.heartbeat_ms) {
		log_error("--lease-ms must be at least twice --heartbeat-ms");
		return 2;
	}
	if (!control_ep[0])
		snprintf(control_ep, sizeof control_ep, "ipc://%s.ctl", db_path);

	/* A spec given on the command line is checked before the database is
	 * even opened: a bad spec must leave no trace. */
	char *spec_text = NULL, *spec_dir = NULL;
	size_t spec_len = 0;
	if (spec_path) {
		campaign_prep prep;

		if (campaign_read_file(spec_path, &spec_text, &spec_len, &spec_dir, &err) < 0 ||
		    campaign_prepare(spec_text, spec_len, spec_path, spec_dir, &prep, &err) < 0) {
			log_error("%s", err.msg);
			free(spec_text);
			free(spec_dir);
			return 2;
		}
		campaign_prep_deinit(&prep);
	}

	if (store_open(db_path, false, &C.db, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	r = store_recover_running(C.db, &err);
	if (r < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	if (r > 0)
		log_info("%d trial(s) were running when the coordinator stopped; requeued", r);
	if (load_state(&err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	if (spec_path) {
		int64_t id;
		bool resumed;

		r = campaign_submit(spec_text, spec_len, spec_path, spec_dir, &id, &resumed, &err);
		free(spec_text);
		free(spec_dir);
		if (r < 0) {
			log_error("%s", err.msg);
			store_close(&C.db);
			return 2;
		}
	}

	C.loop = uv_default_loop();
	C.zctx = zmq_ctx_new();
	C.worker_sock = bind_router(bind_ep, &C.worker_poll);
	if (!C.worker_sock)
		return 1;
	C.control_sock = bind_router(control_ep, &C.control_poll);
	if (!C.control_sock)
		return 1;
	uv_idle_init(C.loop, &C.idle);
	uv_timer_init(C.loop, &C.tick);
	uv_timer_start(&C.tick, on_tick, TICK_MS, TICK_MS);
	uv_signal_init(C.loop, &C.sigint);
	uv_signal_init(C.loop, &C.sigterm);
	uv_signal_start(&C.sigint, on_signal, SIGINT);
	uv_signal_start(&C.sigterm, on_signal, SIGTERM);
	log_info("serving workers on %s, control on %s", bind_ep, control_ep);

	if (C.exit_when_done && all_campaigns_done())
		shutdown_loop(0);
	else
		uv_idle_start(&C.idle, on_idle);
	uv_run(C.loop, UV_RUN_DEFAULT);

	if (C.results_fenced)
		log_info("%" PRId64 " stale result(s) were fenced", C.results_fenced);
	zmq_close(C.worker_sock);
	zmq_close(C.control_sock);
	zmq_ctx_term(C.zctx);
	uv_loop_close(C.loop);
	free_state();
	store_close(&C.db);
	log_info("stopped");
	return C.exit_code;
}
