/* proto_worker.c — the worker protocol, between wire and model.
 *
 * Every frame is unpacked once (wire_unpack: size bound, unpack, version,
 * a body, ranges) into a wire_msg, whose bodies become the model's plain
 * structs — a result is handed over whole, as the emc_trial_result both
 * share — and go to the model; what the model answers is filled into a
 * wire_msg, packed and sent through the outbox. This is the only place where worker
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

/* 0, or -errno when it could not be packed or sent. */
static int send_msg(outbox *o, const sched_peer *to, const wire_msg *m)
{
	uint8_t *buf;
	size_t len;
	emc_err err;
	int r;

	if ((r = wire_pack(m, &buf, &len, &err)) < 0) {
		log_error("%s", err.msg);
		return r;
	}
	r = outbox_send(o, OUTBOX_WORKERS, to->id, to->len, buf, len);
	free(buf);
	return r;
}

static void send_error(outbox *o, const sched_peer *to, const char *message)
{
	wire_msg m;

	wire_msg_init(&m, WIRE_ERROR);
	snprintf(m.error.message, sizeof m.error.message, "%s", message);
	send_msg(o, to, &m);
}

/* The worker may forget the result once acknowledged: only after the
 * batch's commit made it durable. */
static void send_ack(outbox *o, const sched_peer *to, uint64_t attempt_id, bool recorded)
{
	wire_msg m = {.kind = WIRE_RESULT_ACK, .result_ack = {.attempt_id = attempt_id, .recorded = recorded}};
	uint8_t *buf;
	size_t len;
	emc_err err;

	if (wire_pack(&m, &buf, &len, &err) < 0) {
		log_error("%s", err.msg);
		return;
	}
	if (outbox_hold(o, OUTBOX_WORKERS, to->id, to->len, buf, len) < 0)
		log_error("out of memory; result for attempt %" PRIu64 " not acknowledged", attempt_id);
	free(buf);
}

static int out_assign(void *ctx, const sched_peer *worker, const sched_assign *a)
{
	static wire_msg m; /* about 50 KiB; the model calls back on the loop's thread only */

	wire_msg_init(&m, WIRE_ASSIGN);
	m.assign.attempt_id = (uint64_t)a->attempt_id;
	m.assign.trial_id = (uint64_t)a->trial_id;
	m.assign.n = (uint64_t)a->n;
	m.assign.cell = a->cell;
	m.assign.dataset = a->dataset;
	/* Always named, all zero when unknown: what workers have always received. */
	m.assign.has_hash = true;
	memcpy(m.assign.hash, a->dataset_hash, sizeof m.assign.hash);
	m.assign.resume = a->resume;
	m.assign.resume_len = a->resume_len;
	return send_msg(ctx, worker, &m);
}

static void out_cancel(void *ctx, const sched_peer *worker, int64_t attempt_id)
{
	wire_msg m = {.kind = WIRE_CANCEL, .cancel = {.attempt_id = (uint64_t)attempt_id}};

	send_msg(ctx, worker, &m);
}

const sched_out pw_sched_out = {.assign = out_assign, .cancel = out_cancel};

/* ---- receiving --------------------------------------------------------------- */

static void on_hello(sched *s, outbox *o, const sched_peer *from, const wire_hello *in)
{
	static sched_hello h; /* 8 KiB; the loop's thread only */
	sched_welcome w;
	wire_msg m;
	emc_err err;

	if (in->protocol != EMC_PROTOCOL_VERSION) {
		log_warn("worker refused: protocol %u, expected %d", in->protocol, EMC_PROTOCOL_VERSION);
		send_error(o, from, "protocol version mismatch");
		return;
	}
	h.slots = in->slots;
	h.pid = in->pid;
	snprintf(h.host, sizeof h.host, "%s", in->host);
	snprintf(h.emc_version, sizeof h.emc_version, "%s", in->emc_version);
	snprintf(h.blas_core, sizeof h.blas_core, "%s", in->blas_core);
	h.blas_threads = in->blas_threads;
	h.memory_bytes = in->memory_bytes;
	h.n_running = in->n_running;
	for (size_t i = 0; i < h.n_running && i < SCHED_SLOTS_MAX; i++)
		h.running[i] = (int64_t)in->running[i];
	if (sched_worker_hello(s, from, &h, &w, &err) < 0) {
		send_error(o, from, err.msg);
		return;
	}
	wire_msg_init(&m, WIRE_WELCOME);
	m.welcome.worker_id = (uint64_t)w.worker_id;
	m.welcome.heartbeat_ms = w.heartbeat_ms;
	m.welcome.lease_ms = w.lease_ms;
	send_msg(o, from, &m);
}

static void on_heartbeat(sched *s, outbox *o, const sched_peer *from, const wire_heartbeat *in)
{
	static sched_heartbeat hb; /* 8 KiB; the loop's thread only */
	wire_msg reply;

	hb.n_attempts = in->n_attempts < SCHED_SLOTS_MAX ? in->n_attempts : SCHED_SLOTS_MAX;
	for (size_t i = 0; i < hb.n_attempts; i++)
		hb.attempts[i] = (int64_t)in->attempts[i].attempt_id;
	hb.n_unacked = in->n_unacked < SCHED_SLOTS_MAX ? in->n_unacked : SCHED_SLOTS_MAX;
	for (size_t i = 0; i < hb.n_unacked; i++)
		hb.unacked[i] = (int64_t)in->unacked[i];
	if (sched_worker_heartbeat(s, from, &hb) < 0) {
		send_error(o, from, UNKNOWN_WORKER);
		return;
	}
	/* The answer tells the worker we are alive. */
	wire_msg_init(&reply, WIRE_HEARTBEAT);
	send_msg(o, from, &reply);
}

/* Acknowledged once durable (TAKEN) or known never to count (STALE); a
 * result the store refused is not, so the worker keeps it and sends it
 * again. A peer that has not said hello holds nothing: its result is
 * stale, and it is told to say hello (after which it sends it again). */
static void on_result(sched *s, outbox *o, const sched_peer *from, const wire_result *in, bool known)
{
	sched_result r = {.attempt_id = (int64_t)in->attempt_id, .trial_id = (int64_t)in->trial_id, .r = in->r};

	if (!known) {
		send_error(o, from, UNKNOWN_WORKER);
		return;
	}
	switch (sched_worker_result(s, from, &r)) {
	case SCHED_RESULT_TAKEN:
		send_ack(o, from, in->attempt_id, true);
		break;
	case SCHED_RESULT_STALE:
		send_ack(o, from, in->attempt_id, false);
		break;
	case SCHED_RESULT_UNSTORED:
		log_warn("result for attempt %" PRIu64 " not stored; its worker will send it again", in->attempt_id);
		break;
	}
}

/* Serve a piece of a campaign's dataset to a worker that lacks it; the
 * worker checks what it receives against the hash. */
static void on_data_request(sched *s, outbox *o, const sched_peer *from, const wire_data_request *in)
{
	sched_data_request q = {.has_hash = in->has_hash, .offset = in->offset, .length = in->length};
	sched_chunk c;
	wire_msg m;

	memcpy(q.hash, in->hash, sizeof q.hash);
	if (sched_worker_data(s, from, &q, &c) < 0) {
		send_error(o, from, UNKNOWN_WORKER);
		return;
	}
	wire_msg_init(&m, WIRE_DATA_CHUNK);
	/* The request's hash goes back as it came (a wrong length as none). */
	m.data_chunk.has_hash = in->has_hash;
	memcpy(m.data_chunk.hash, in->hash, sizeof m.data_chunk.hash);
	m.data_chunk.offset = in->offset;
	m.data_chunk.total = c.total;
	m.data_chunk.data = c.data;
	m.data_chunk.len = c.len;
	snprintf(m.data_chunk.error, sizeof m.data_chunk.error, "%s", c.error ? c.error : "");
	send_msg(o, from, &m);
}

static void on_message(sched *s, outbox *o, const sched_peer *from, const wire_msg *m)
{
	bool known = sched_worker_seen(s, from);

	switch (m->kind) {
	case WIRE_HELLO:
		on_hello(s, o, from, &m->hello);
		break;
	case WIRE_RESULT:
		on_result(s, o, from, &m->result, known);
		break;
	case WIRE_READY:
		if (sched_worker_ready(s, from, m->ready.credit) < 0)
			send_error(o, from, UNKNOWN_WORKER);
		break;
	case WIRE_HEARTBEAT:
		on_heartbeat(s, o, from, &m->heartbeat);
		break;
	case WIRE_BYE:
		sched_worker_bye(s, from);
		break;
	case WIRE_CHECKPOINT: {
		const wire_checkpoint *c = &m->checkpoint;
		sched_checkpoint ck = {.attempt_id = (int64_t)c->attempt_id,
				       .trial_id = (int64_t)c->trial_id,
				       .epoch = c->epoch,
				       .step = c->step,
				       .state = c->state,
				       .len = c->len};

		if (sched_worker_checkpoint(s, from, &ck) < 0)
			send_error(o, from, UNKNOWN_WORKER);
		break;
	}
	case WIRE_DATA_REQUEST:
		on_data_request(s, o, from, &m->data_request);
		break;
	default:
		log_warn("from %s: unexpected message (%s)", known ? "a worker" : "an unknown peer",
			 wire_kind_name(m->kind));
		send_error(o, from, "unexpected message");
		break;
	}
}

void pw_message(sched *s, outbox *o, const uint8_t *id, size_t id_len, const char *key, const uint8_t *buf, size_t len)
{
	static wire_msg m; /* about 50 KiB; the loop's thread only */
	sched_peer from;
	emc_err err;

	if (id_len == 0 || id_len > SCHED_IDENTITY_MAX) {
		log_warn("from peer: identity of %zu bytes; dropped", id_len);
		return;
	}
	if (key && strlen(key) > SCHED_KEY_MAX) {
		log_warn("from peer: an authenticated key of %zu bytes; dropped", strlen(key));
		return;
	}
	from.len = id_len;
	memcpy(from.id, id, id_len);
	snprintf(from.key, sizeof from.key, "%s", key ? key : "");
	if (wire_unpack(buf, len, &m, &err) < 0) {
		log_warn("from peer: %s", err.msg);
		send_error(o, &from, err.msg);
		return;
	}
	on_message(s, o, &from, &m);
	wire_msg_deinit(&m);
}
