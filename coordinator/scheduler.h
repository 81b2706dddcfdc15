/* scheduler.h — the coordinator's brain: campaigns, cells, trials and workers.
 *
 * The scheduler decides what to run where and records what happened. It
 * knows nothing of sockets or event loops: it receives whole frames that a
 * peer sent (sched_worker_message, sched_control_message), is told the
 * time passes (sched_tick), and speaks through the send callback it was
 * given. So it can be driven by emc-coordinator's libuv loop, by a fuzzer,
 * or by a test, alike.
 *
 * Everything that matters is written to the store before memory changes;
 * at creation the scheduler rebuilds its memory from the store. Trials that
 * were running when the previous coordinator stopped are "orphaned": their
 * workers have grace_ms to reconnect and reclaim them (Hello lists the
 * attempts a worker still runs) before they count as lost.
 */
#ifndef EMC_SCHEDULER_H
#define EMC_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emc.pb-c.h"
#include "err.h"
#include "store.h"

typedef struct sched sched;

/* Largest piece of a dataset one DataChunk carries. */
#define SCHED_DATA_CHUNK_MAX (1u << 20)

typedef enum sched_channel { SCHED_WORKERS = 0, SCHED_CONTROL } sched_channel;

/* Deliver env to the peer `identity` on a channel. env is borrowed. */
typedef void (*sched_send_fn)(void *ctx, sched_channel ch, const uint8_t *identity, size_t identity_len,
			      Emc__Envelope *env);

typedef struct sched_config {
	uint32_t heartbeat_ms; /* workers heartbeat this often */
	uint32_t lease_ms;     /* a worker silent this long loses its attempts */
	uint32_t grace_ms;     /* after a restart, how long orphaned attempts wait for their worker */
	int max_lost;          /* lost or preempted attempts a trial may have before it fails */
	int max_failed;        /* failed attempts a trial may have before it fails */
	int max_workers;       /* connected workers at most */
	int max_probes;        /* trials in flight per cell at most */
} sched_config;

void sched_config_defaults(sched_config *cfg);

/* Build the scheduler over an open store (borrowed) and load its state. */
int sched_new(store *db, const sched_config *cfg, sched_send_fn send, void *send_ctx, sched **ret, emc_err *err);
/* NULL-safe; sets *p = NULL. */
void sched_destroy(sched **p);

/* Add a campaign from spec text, or find it again (same name and text).
 * Checks the spec and its dataset fully before writing anything. */
int sched_submit(sched *s, const char *text, size_t len, const char *origin, const char *base_dir, int64_t *ret_id,
		 bool *ret_resumed, emc_err *err);

/* A frame from a worker / from a control client. Never fails: bad input is
 * answered with an Error and logged. */
void sched_worker_message(sched *s, const uint8_t *identity, size_t identity_len, const uint8_t *buf, size_t len);
void sched_control_message(sched *s, const uint8_t *identity, size_t identity_len, const uint8_t *buf,
			   size_t len);

/* Expire leases, retire silent workers, give up on unclaimed orphans. */
void sched_tick(sched *s);

/* Hand pending trials to workers with credit. */
void sched_dispatch(sched *s);

/* Group commit. Between sched_batch_begin() and sched_batch_end() every
 * store write joins one transaction, and ResultAcks are held back; the end
 * commits once and only then sends the acks, so a worker forgets a result
 * only after it is durable. If the commit fails, memory and store disagree:
 * the caller must stop (a restart rebuilds memory from the store). */
int sched_batch_begin(sched *s, emc_err *err);
int sched_batch_end(sched *s, emc_err *err);

/* No campaign has work left. */
bool sched_all_done(const sched *s);

/* Results that arrived for an attempt that no longer held its trial. */
int64_t sched_results_fenced(const sched *s);

#endif
