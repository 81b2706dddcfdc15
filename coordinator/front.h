/* front.h — the scheduler's front door: the model with its two protocol
 * channels and its outbox, assembled, and the group commit that ties them.
 *
 * emc-coordinator's loop and the fuzzer hand whole frames from peers to
 * front_worker_message / front_control_message and give time and dispatch
 * turns to the model itself (front_sched). Frames to peers leave through
 * the send callback given here, as packed bytes.
 *
 * Group commit: between front_batch_begin() and front_batch_end() every
 * store write joins one transaction, and ResultAcks and control replies
 * are held back; the end commits once and only then sends them, so a
 * worker forgets a result only after it is durable. If the commit fails,
 * memory and store disagree: the caller must stop (a restart rebuilds
 * memory from the store).
 */
#ifndef EMC_FRONT_H
#define EMC_FRONT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "outbox.h"
#include "scheduler.h"
#include "store.h"

typedef struct front front;

/* db is borrowed; so is send_ctx. Loads the model's state from db. */
int front_new(store *db, const sched_config *cfg, outbox_send_fn send, void *send_ctx, front **ret, emc_err *err);
/* Drops frames still held. NULL-safe; sets *p = NULL. */
void front_destroy(front **p);

/* The model, borrowed: for sched_submit, sched_tick, sched_dispatch, ... */
sched *front_sched(front *f);

/* A frame from a worker / from a control client. Never fails: bad input is
 * answered with an Error and logged. */
/* key: the CURVE public key the peer authenticated with (Z85), or NULL. */
void front_worker_message(front *f, const uint8_t *identity, size_t identity_len, const char *key, const uint8_t *buf,
			  size_t len);
void front_control_message(front *f, const uint8_t *identity, size_t identity_len, const uint8_t *buf, size_t len);

int front_batch_begin(front *f, emc_err *err);
int front_batch_end(front *f, emc_err *err);

#endif
