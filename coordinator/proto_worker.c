/* proto_worker.c — the worker protocol, between wire and model.
 *
 * Every frame is decoded once (wire_decode: size bound, unpack, version,
 * a body), converted into the model's plain structs — nothing here keeps a
 * pointer into a decoded message past wire_free() — and handed to the
 * model; what the model answers is converted back into an envelope,
 * packed and sent through the outbox. This is the only place where worker
 * messages and the model meet, so a change of the wire touches this file
 * and wire.c, not the scheduler.
 *
 * Bounds a peer cannot pass: identities of 1..255 bytes (others are
 * dropped unanswered), at most SCHED_SLOTS_MAX attempts read from a Hello
 * or a Heartbeat, host names cut to SCHED_HOST_MAX bytes.
 *
 * A ResultAck is held in the outbox until the batch that recorded the
 * result commits; every other worker frame leaves at once.
 */
#include "proto_worker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "wire.h"

#define UNKNOWN_WORKER "unknown worker: say hello first"

/* ---- sending ---------------------------------------------------------------- */

static void send_env(outbox *o, const sched_peer *to, Emc__Envelope *env)
{
	uint8_t *buf;
	size_t len;
	emc_err err;

	if (wire_encode(env, &buf, &len, &err) < 0) {
		log_error("%s", err.msg);
		return;
	}
	outbox_send(o, OUTBOX_WORKERS, to->id, to->len, buf, len);
	free(buf);
}

static void send_error(outbox *o, const sched_peer *to, const char *message)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Error e = EMC__ERROR__INIT;

	e.message = (char *)message;
	env.body_case = EMC__ENVELOPE__BODY_ERROR;
	env.error = &e;
	send_env(o, to, &env);
}

/* The worker may forget the result once acknowledged: only after the
 * batch's commit made it durable. */
static void send_ack(outbox *o, const sched_peer *to, uint64_t attempt_id, bool recorded)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__ResultAck ack = EMC__RESULT_ACK__INIT;
	uint8_t *buf;
	size_t len;
	emc_err err;

	ack.attempt_id = attempt_id;
	ack.recorded = recorded;
	env.body_case = EMC__ENVELOPE__BODY_RESULT_ACK;
	env.result_ack = &ack;
	if (wire_encode(&env, &buf, &len, &err) < 0) {
		log_error("%s", err.msg);
		return;
	}
	if (outbox_hold(o, OUTBOX_WORKERS, to->id, to->len, buf, len) < 0)
		log_error("out of memory; result for attempt %" PRIu64 " not acknowledged", attempt_id);
	free(buf);
}

static void out_assign(void *ctx, const sched_peer *worker, const sched_assign *a)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Assign pb = EMC__ASSIGN__INIT;
	Emc__DatasetRef ds;
	wire_cell_storage st;
	uint8_t hash[32];

	pb.attempt_id = (uint64_t)a->attempt_id;
	pb.trial_id = (uint64_t)a->trial_id;
	pb.n = (uint64_t)a->n;
	pb.cell = wire_cell_to_pb(&a->cell, &st);
	wire_dataset_to_pb(&a->dataset, &ds);
	memcpy(hash, a->dataset_hash, sizeof hash);
	ds.content_hash.data = hash;
	ds.content_hash.len = sizeof hash;
	pb.dataset = &ds;
	env.body_case = EMC__ENVELOPE__BODY_ASSIGN;
	env.assign = &pb;
	send_env(ctx, worker, &env);
}

static void out_cancel(void *ctx, const sched_peer *worker, int64_t attempt_id)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Cancel c = EMC__CANCEL__INIT;

	c.attempt_id = (uint64_t)attempt_id;
	env.body_case = EMC__ENVELOPE__BODY_CANCEL;
	env.cancel = &c;
	send_env(ctx, worker, &env);
}

const sched_out pw_sched_out = {.assign = out_assign, .cancel = out_cancel};

/* ---- receiving --------------------------------------------------------------- */

static void on_hello(sched *s, outbox *o, const sched_peer *from, const Emc__Hello *pb)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Welcome welcome = EMC__WELCOME__INIT;
	sched_hello h;
	sched_welcome w;
	emc_err err;

	if (pb->protocol != EMC_PROTOCOL_VERSION) {
		log_warn("worker refused: protocol %u, expected %d", pb->protocol, EMC_PROTOCOL_VERSION);
		send_error(o, from, "protocol version mismatch");
		return;
	}
	h.slots = pb->slots;
	h.pid = pb->pid;
	snprintf(h.host, sizeof h.host, "%s", pb->host ? pb->host : "?");
	h.n_running = pb->n_running_attempts;
	for (size_t i = 0; i < h.n_running && i < SCHED_SLOTS_MAX; i++)
		h.running[i] = (int64_t)pb->running_attempts[i];
	if (sched_worker_hello(s, from, &h, &w, &err) < 0) {
		send_error(o, from, err.msg);
		return;
	}
	welcome.worker_id = (uint64_t)w.worker_id;
	welcome.heartbeat_ms = w.heartbeat_ms;
	welcome.lease_ms = w.lease_ms;
	env.body_case = EMC__ENVELOPE__BODY_WELCOME;
	env.welcome = &welcome;
	send_env(o, from, &env);
}

static void on_heartbeat(sched *s, outbox *o, const sched_peer *from, const Emc__Heartbeat *pb)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__Heartbeat reply = EMC__HEARTBEAT__INIT;
	sched_heartbeat hb;

	hb.n_attempts = pb->n_attempts < SCHED_SLOTS_MAX ? pb->n_attempts : SCHED_SLOTS_MAX;
	for (size_t i = 0; i < hb.n_attempts; i++)
		hb.attempts[i] = (int64_t)pb->attempts[i]->attempt_id;
	if (sched_worker_heartbeat(s, from, &hb) < 0) {
		send_error(o, from, UNKNOWN_WORKER);
		return;
	}
	/* The answer tells the worker we are alive. */
	env.body_case = EMC__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &reply;
	send_env(o, from, &env);
}

static void result_from_pb(const Emc__Result *pb, sched_result *ret)
{
	emc_trial_result *r = &ret->r;

	memset(ret, 0, sizeof *ret);
	ret->attempt_id = (int64_t)pb->attempt_id;
	ret->trial_id = (int64_t)pb->trial_id;
	/* The model refuses EMC_OUTCOME_NONE; an outcome we do not know is no better. */
	r->outcome = (int)pb->outcome > 0 && (int)pb->outcome < (int)EMC_OUTCOME_COUNT ? (emc_outcome)pb->outcome
										       : EMC_OUTCOME_NONE;
	r->reason =
	    (int)pb->reason >= 0 && (int)pb->reason < (int)EMC_STOP_COUNT ? (emc_stop_reason)pb->reason : EMC_STOP_NONE;
	r->epochs = pb->epochs;
	r->steps = pb->steps;
	r->train_seconds = pb->train_seconds;
	r->loss = pb->loss;
	r->accuracy = pb->accuracy;
	r->grad_norm = pb->grad_norm;
	r->budget_used = pb->budget_used;
	r->has_hessian = pb->has_hessian;
	r->hessian_min = pb->hessian_min;
	r->hessian_max = pb->hessian_max;
	snprintf(r->error, sizeof r->error, "%s", pb->error ? pb->error : "");
}

/* Serve a piece of a campaign's dataset to a worker that lacks it; the
 * worker checks what it receives against the hash. */
static void on_data_request(sched *s, outbox *o, const sched_peer *from, const Emc__DataRequest *pb)
{
	Emc__Envelope env = EMC__ENVELOPE__INIT;
	Emc__DataChunk chunk = EMC__DATA_CHUNK__INIT;
	sched_data_request q = {.has_hash = pb->hash.len == 32, .offset = pb->offset, .length = pb->length};
	sched_chunk c;

	if (q.has_hash)
		memcpy(q.hash, pb->hash.data, sizeof q.hash);
	if (sched_worker_data(s, from, &q, &c) < 0) {
		send_error(o, from, UNKNOWN_WORKER);
		return;
	}
	chunk.hash = pb->hash;
	chunk.offset = pb->offset;
	chunk.total = c.total;
	chunk.data.data = (uint8_t *)c.data;
	chunk.data.len = c.len;
	chunk.error = (char *)c.error;
	env.body_case = EMC__ENVELOPE__BODY_DATA_CHUNK;
	env.data_chunk = &chunk;
	send_env(o, from, &env);
}

static void on_envelope(sched *s, outbox *o, const sched_peer *from, const Emc__Envelope *env)
{
	bool known = sched_worker_seen(s, from);
	sched_result r;

	switch (env->body_case) {
	case EMC__ENVELOPE__BODY_HELLO:
		on_hello(s, o, from, env->hello);
		break;
	case EMC__ENVELOPE__BODY_RESULT:
		/* Recorded even from a worker we do not know yet: after our
		 * restart, its result for an orphaned attempt still counts. */
		result_from_pb(env->result, &r);
		send_ack(o, from, env->result->attempt_id, sched_worker_result(s, from, &r));
		if (!known)
			send_error(o, from, UNKNOWN_WORKER);
		break;
	case EMC__ENVELOPE__BODY_READY:
		if (sched_worker_ready(s, from, env->ready->credit) < 0)
			send_error(o, from, UNKNOWN_WORKER);
		break;
	case EMC__ENVELOPE__BODY_HEARTBEAT:
		on_heartbeat(s, o, from, env->heartbeat);
		break;
	case EMC__ENVELOPE__BODY_BYE:
		sched_worker_bye(s, from);
		break;
	case EMC__ENVELOPE__BODY_DATA_REQUEST:
		on_data_request(s, o, from, env->data_request);
		break;
	default:
		log_warn("from %s: unexpected message (body %d)", known ? "a worker" : "an unknown peer",
			 (int)env->body_case);
		send_error(o, from, "unexpected message");
		break;
	}
}

void pw_message(sched *s, outbox *o, const uint8_t *id, size_t id_len, const uint8_t *buf, size_t len)
{
	Emc__Envelope *env = NULL;
	sched_peer from;
	emc_err err;

	if (id_len == 0 || id_len > SCHED_IDENTITY_MAX) {
		log_warn("from peer: identity of %zu bytes; dropped", id_len);
		return;
	}
	from.len = id_len;
	memcpy(from.id, id, id_len);
	if (wire_decode(buf, len, &env, &err) < 0) {
		log_warn("from peer: %s", err.msg);
		send_error(o, &from, err.msg);
		return;
	}
	on_envelope(s, o, &from, env);
	wire_free(&env);
}
