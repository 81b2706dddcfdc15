/* session.h — the worker's connection to its coordinator.
 *
 * Owns: the DEALER socket (CURVE or plain text), the conversation's state
 * (welcomed or not, heartbeat and lease, hello back-off) and the outbox of
 * results sent but not yet acknowledged. The only worker module that
 * speaks to the wire module: every message in is unpacked into the C
 * structs below before a handler sees it, every message out is built from
 * them.
 *
 * Main thread only: no function here may be called from a slot thread.
 */
#ifndef EMC_WORKER_SESSION_H
#define EMC_WORKER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "err.h"
#include "nn.h"
#include "result.h"
#include "wire.h"

/* An Assign, checked, as the wire unpacked it. When rc < 0 the cell or
 * dataset was unusable (err says why) and only the ids are meaningful: the
 * attempt is to be answered FAILED. */
typedef wire_assign session_assign;

/* One DataChunk of a dataset transfer. data is borrowed for the handler's
 * call only. */
typedef struct session_chunk {
	const uint8_t *hash; /* NULL unless exactly 32 bytes */
	uint64_t offset, total;
	const uint8_t *data;
	size_t len;
	const char *error; /* non-NULL and non-empty: the coordinator cannot send it */
} session_chunk;

/* A finished attempt, as the slot that ran it saw it. */
typedef struct session_result {
	uint64_t attempt_id, trial_id;
	int rc; /* < 0: the trial could not run; err says why */
	emc_err err;
	emc_trial_result result; /* rc == 0: what the engine reported, sent as it is */
	bool preempted;		/* stopped by our own drain: a CANCELLED outcome is sent PREEMPTED */
} session_result;

typedef struct session_progress {
	uint64_t attempt_id;
	nn_progress progress;
} session_progress;

/* What the session asks of the rest of the worker; every call is on the
 * main thread, from inside one of the session_* functions below. */
typedef struct session_handlers {
	void *ctx;
	/* The attempts the slots hold, for Hello: at most max ids. */
	size_t (*running)(void *ctx, uint64_t *ret_ids, size_t max);
	/* The attempts in training, for Heartbeat: at most max. */
	size_t (*progress)(void *ctx, session_progress *ret, size_t max);
	/* After every Welcome (the outbox is already sent again). */
	void (*welcomed)(void *ctx);
	void (*assign)(void *ctx, const session_assign *a);
	void (*cancel)(void *ctx, uint64_t attempt_id);
	void (*chunk)(void *ctx, const session_chunk *c);
} session_handlers;

typedef struct session_config {
	const char *endpoint;
	const char *keys_dir; /* NULL: plain text */
	int slots;
	int blas_threads;
	const char *blas_core; /* the kernel the BLAS library loaded (NULL: unknown); copied */
	uint64_t memory_bytes; /* announced in Hello: memory its trials may use (0: unknown) */
} session_config;

typedef struct session session;

/* Create the socket on zmq_ctx (borrowed; must outlive the session) and
 * connect it. handlers is copied. On success *ret is the caller's
 * (session_destroy). On failure -errno and err says why: -EKEYREJECTED for keys
 * that cannot be read or used. */
int session_new(void *zmq_ctx, const session_config *cfg, const session_handlers *handlers, session **ret,
		emc_err *err);

/* The first Hello (handlers->running must be callable by now). */
void session_start(session *s);

/* Frees the outbox and closes the socket. NULL-safe; sets *p = NULL. */
void session_destroy(session **p);

/* For zmq_poll(); borrowed. */
void *session_socket(session *s);

/* Before polling: presume a silent coordinator gone, say Hello again when
 * the back-off allows. Returns how long the poll may sleep, at most
 * max_wait_ms. */
long session_tick(session *s, long max_wait_ms);

/* After polling, when the socket is readable: receive and handle every
 * waiting message. */
void session_receive(session *s);

/* After every poll: send a Heartbeat when one is due. */
void session_heartbeat(session *s);

bool session_welcomed(const session *s);

/* Ask for `credit` more attempts (nothing once session_stop_asking()). */
void session_send_ready(session *s, uint32_t credit);

/* Drain: never ask for work again. */
void session_stop_asking(session *s);

/* Pack r into the outbox (kept until its ResultAck; the oldest dropped
 * when full) and send it if welcomed. r is borrowed. */
void session_send_result(session *s, const session_result *r);

/* Results sent and not yet acknowledged. */
int session_outbox_len(const session *s);

/* Ask for `length` bytes of a dataset from offset. 0 or -errno. */
int session_send_data_request(session *s, const uint8_t hash[32], uint64_t offset, uint32_t length);

/* A running attempt's checkpoint (state borrowed), sent now if we are
 * welcomed and dropped otherwise: not kept, since a newer one follows. */
void session_send_checkpoint(session *s, uint64_t attempt_id, uint64_t trial_id, int64_t epoch, int64_t step,
			     const uint8_t *state, size_t len);

void session_send_bye(session *s, const char *reason);

#endif
