/* slots.h — the worker's training threads, one trial per slot.
 *
 * Owns: up to SLOTS_MAX slots, each with its assignment, its thread while
 * it trains, its progress and its cancellation flag; the inproc socket on
 * which finished threads tell the main thread so. Hands every finished
 * attempt to the session as a session_result.
 *
 * Every function here runs on the main thread; the slot threads run only
 * slots.c's own code (see its opening comment).
 */
#ifndef EMC_WORKER_SLOTS_H
#define EMC_WORKER_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "err.h"
#include "fetch.h"
#include "session.h"

#define SLOTS_MAX 256

typedef struct slots_config {
	int n;			    /* 1..SLOTS_MAX */
	int64_t memory_limit_bytes; /* 0 = none */
	bool no_local_data;	    /* never read dataset files named by the spec */
	int64_t checkpoint_ms;	    /* a running trial's checkpoint at most this often; 0 = none */
} slots_config;

typedef struct slots slots;

/* Send the checkpoints the running trials made since the last call. */
void slots_send_checkpoints(slots *s);

/* zmq_ctx, sess, fetcher and datasets are borrowed and must outlive the
 * slots. On success *ret is the caller's (slots_destroy). -errno and err. */
int slots_new(void *zmq_ctx, const slots_config *cfg, session *sess, fetch *fetcher, cache *datasets, slots **ret,
	      emc_err *err);

/* Joins every thread (they must have been stopped: slots_busy() == 0) and
 * closes the sockets. NULL-safe; sets *p = NULL. */
void slots_destroy(slots **p);

/* For zmq_poll(): readable when a slot thread finished; borrowed. */
void *slots_socket(slots *s);

/* After polling: collect every finished thread, send its result, ask for
 * more work. */
void slots_collect(slots *s);

/* Start an assigned attempt on a free slot (or answer it FAILED when
 * a->rc < 0 or no thread can start). a is borrowed. */
void slots_assign(slots *s, const session_assign *a);

/* The coordinator cancels an attempt: a training slot stops at its next
 * step; a slot waiting for its dataset is answered CANCELLED at once. */
void slots_cancel(slots *s, uint64_t attempt_id);

/* A dataset transfer ended (error NULL: it is in the cache directory):
 * start or fail every slot waiting for it, then fetch the next dataset a
 * slot waits for. */
void slots_dataset_arrived(slots *s, const uint8_t hash[32], const char *error);

/* Drain: every training slot is cancelled (its result will say PREEMPTED),
 * every slot waiting for data is answered PREEMPTED at once. */
void slots_preempt(slots *s);

int slots_free(const slots *s);
int slots_busy(const slots *s);

/* For Hello: the attempts held (training or waiting for data). */
size_t slots_running(const slots *s, uint64_t *ret_ids, size_t max);

/* For Heartbeat: the progress of the attempts in training. */
size_t slots_progress(slots *s, session_progress *ret, size_t max);

#endif
