/* proto_worker.h — the worker channel: frames from workers into the model,
 * the model's answers and orders back out as frames.
 *
 * Owns the worker protocol's state machine on our side (docs/protocol.md):
 * Hello before anything else but a Result, Welcome in answer, Ready with
 * credit, Assign, Heartbeat both ways, Result and its ResultAck (held until
 * the commit, through the outbox), Cancel, DataRequest/DataChunk, Bye.
 */
#ifndef EMC_PROTO_WORKER_H
#define EMC_PROTO_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "outbox.h"
#include "scheduler.h"

/* The model's unasked outputs (Assign, Cancel) as worker frames; the
 * callbacks' ctx is the outbox they are sent through. */
extern const sched_out pw_sched_out;

/* A frame from the worker `id`, authenticated with the CURVE public key
 * `key` (Z85; NULL or "" without CURVE). Never fails: bad input is
 * answered with an Error and logged. s and o are borrowed. */
void pw_message(sched *s, outbox *o, const uint8_t *id, size_t id_len, const char *key, const uint8_t *buf,
		size_t len);

#endif
