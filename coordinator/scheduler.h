/* scheduler.h — the scheduling model: campaigns, cells, trials and workers.
 *
 * The model decides what to run where and records what happened. It knows
 * nothing of sockets, frames or protobuf: a protocol module (proto_worker.c,
 * proto_control.c) turns what a peer sent into the plain C structs below
 * and calls the model; the model answers through return values and sends
 * what nobody asked for — an assignment, a cancel — through the sched_out
 * callbacks it was given. So it can be driven by emc-coordinator's loop, by
 * a fuzzer or by a unit test alike.
 *
 * Everything that matters is written to the store before memory changes;
 * at creation the model rebuilds its memory from the store. Trials that
 * were running when the previous coordinator stopped are "orphaned": their
 * workers have grace_ms to reconnect and reclaim them (Hello lists the
 * attempts a worker still runs) before they count as lost.
 *
 * The input structs hold plain values only (no pointers into a decoded
 * message). They are the model's own, not the wire's: ids here are the
 * store's int64 row ids, and each struct holds only what the model reads;
 * proto_worker.c converts once at the edge (the result travels whole, as
 * emc_trial_result).
 */
#ifndef EMC_SCHEDULER_H
#define EMC_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "campaign.h"
#include "err.h"
#include "spec.h"
#include "store.h"

typedef struct sched sched;

#define SCHED_IDENTITY_MAX   255	/* bytes of a peer's routing identity */
#define SCHED_SLOTS_MAX	     1024	/* slots one worker may offer */
#define SCHED_HOST_MAX	     128	/* bytes of a worker's host name kept */
#define SCHED_PROV_MAX	     31		/* bytes of a worker's emc version or BLAS kernel name */
#define SCHED_DATA_CHUNK_MAX (1u << 20) /* largest piece of a dataset one chunk carries */
#define SCHED_KEY_MAX	     40		/* a CURVE public key in Z85 */
#define SCHED_UNLISTED_BEATS 3		/* heartbeats a held attempt may be missing from */
#define SCHED_CHECKPOINT_MAX (3u << 20) /* bytes of a trial checkpoint kept at most (the engine's bound) */

typedef struct sched_config {
	uint32_t heartbeat_ms; /* workers heartbeat this often */
	uint32_t lease_ms;     /* a worker silent this long loses its attempts */
	uint32_t grace_ms;     /* after a restart, how long orphaned attempts wait for their worker */
	int max_lost;	       /* lost or preempted attempts a trial may have before it fails */
	int max_failed;	       /* failed attempts a trial may have before it fails */
	int max_workers;       /* connected workers at most */
	int max_probes;	       /* trials in flight per cell at most */
} sched_config;

void sched_config_defaults(sched_config *cfg);

/* A peer: the routing identity its socket gave it (1..255 bytes) and,
 * over CURVE, the public key it authenticated with (Z85; "" without
 * CURVE). A worker session is both: the same identity with another key is
 * another worker, which can neither deliver nor reclaim this one's work. */
typedef struct sched_peer {
	size_t len;
	uint8_t id[SCHED_IDENTITY_MAX];
	char key[SCHED_KEY_MAX + 1];
} sched_peer;

/* ---- what the model sends unasked --------------------------------------- */

typedef struct sched_assign {
	int64_t attempt_id, trial_id, n;
	emc_cell_cfg cell;
	emc_dataset_ref dataset;
	uint8_t dataset_hash[32]; /* all zero: unknown */
	const uint8_t *resume;	  /* the trial's latest checkpoint, or NULL: from the start */
	size_t resume_len;
	int64_t resume_epoch;
} sched_assign;

/* Both callbacks are called from inside model calls; the structs are
 * borrowed for the call. A callback must not call back into the model. */
typedef struct sched_out {
	/* 0, or -errno when the Assign could not be handed to the socket
	 * (the worker is gone or its queue is full): the model takes the
	 * attempt back and requeues the trial at once. */
	int (*assign)(void *ctx, const sched_peer *worker, const sched_assign *a);
	void (*cancel)(void *ctx, const sched_peer *worker, int64_t attempt_id);
	/* Optional (NULL: not called): a result was handed to the store, as
	 * the model handed it — provenance filled. For observers and tests. */
	void (*recorded)(void *ctx, int64_t trial_id, const emc_trial_result *r);
} sched_out;

/* An observer of what the model does, for metrics: every member optional
 * (NULL: not called), called from inside model calls after the store took
 * the change; it must not call back into the model. */
typedef struct sched_observer {
	/* An Assign was handed to the socket, waited_ms after its trial
	 * became ready (queued since creation, or since its last attempt ended). */
	void (*dispatched)(void *ctx, int64_t waited_ms);
	/* A terminal result was recorded, ran_ms after its attempt started;
	 * -1 when the attempt is older than this process. */
	void (*recorded)(void *ctx, const emc_trial_result *r, int64_t ran_ms);
	/* An attempt ended without a result that counts (lost, preempted, failed). */
	void (*attempt_lost)(void *ctx, store_attempt_state how);
	/* A worker was retired because it fell silent past its lease. */
	void (*worker_lost)(void *ctx);
} sched_observer;

/* ---- life ----------------------------------------------------------------- */

/* Build the model over an open store (borrowed) and load its state. out is
 * copied; out_ctx is borrowed and passed to every callback. */
int sched_new(store *db, const sched_config *cfg, const sched_out *out, void *out_ctx, sched **ret, emc_err *err);
/* NULL-safe; sets *p = NULL. */
void sched_destroy(sched **p);

/* Tell o (copied; ctx borrowed) what happens from now on; NULL stops. */
void sched_observe(sched *s, const sched_observer *o, void *ctx);

/* ---- workers --------------------------------------------------------------- */

typedef struct sched_hello {
	uint32_t slots;
	uint32_t pid;
	char host[SCHED_HOST_MAX + 1];
	/* Provenance of its results: the model copies these into every
	 * result recorded from an attempt this worker holds. */
	char emc_version[SCHED_PROV_MAX + 1];
	char blas_core[SCHED_PROV_MAX + 1];
	uint32_t blas_threads;
	/* Memory its trials may use (its --memory-mb, else its physical
	 * memory); 0 = not announced. Launch refuses a model that cannot fit
	 * the largest any connected worker announced. */
	uint64_t memory_bytes;
	/* The attempts it still trains (after a reconnect). n_running is what
	 * the worker said, and may exceed SCHED_SLOTS_MAX: such a Hello is
	 * refused before running[] is read. */
	size_t n_running;
	int64_t running[SCHED_SLOTS_MAX];
} sched_hello;

typedef struct sched_welcome {
	int64_t worker_id;
	uint32_t heartbeat_ms, lease_ms;
} sched_welcome;

/* A worker joins (or joins again). Attempts it no longer lists are lost;
 * listed ones that were leased to it — by us, or by our predecessor to the
 * same identity and key — carry on (reclaim); any other listed one is
 * cancelled. -EINVAL (a bad Hello) or -EUSERS (too
 * many workers), with err saying what to tell the peer. */
int sched_worker_hello(sched *s, const sched_peer *peer, const sched_hello *h, sched_welcome *ret, emc_err *err);

/* Any frame from peer arrived: a known worker is alive. Returns whether
 * the peer is a worker that said hello. */
bool sched_worker_seen(sched *s, const sched_peer *peer);

/* The worker asks for up to `credit` more trials; dispatches at once.
 * -ENOENT: not a known worker. */
int sched_worker_ready(sched *s, const sched_peer *peer, uint32_t credit);

typedef struct sched_heartbeat {
	size_t n_attempts; /* at most SCHED_SLOTS_MAX: the attempts it trains (or waits to) */
	int64_t attempts[SCHED_SLOTS_MAX];
	size_t n_unacked; /* at most SCHED_SLOTS_MAX: finished, the result not yet acknowledged */
	int64_t unacked[SCHED_SLOTS_MAX];
} sched_heartbeat;

/* Renew the leases of the worker's attempts the heartbeat lists (in
 * either list); an attempt it holds but has left out of
 * SCHED_UNLISTED_BEATS heartbeats in a row is lost (an Assign that never
 * arrived, a result it dropped), and its trial requeued. Listed attempts
 * that are not its are cancelled. -ENOENT: not a known worker. */
int sched_worker_heartbeat(sched *s, const sched_peer *peer, const sched_heartbeat *hb);

typedef struct sched_result {
	int64_t attempt_id, trial_id;
	emc_trial_result r; /* outcome, reason, measurements, error */
} sched_result;

/* What became of a result, and so what the worker is told. */
typedef enum sched_result_fate {
	SCHED_RESULT_TAKEN = 0, /* recorded, or the attempt ended and the trial requeued: ack (recorded) */
	SCHED_RESULT_STALE,	/* it will never count (fenced, or a duplicate): ack (not recorded) */
	SCHED_RESULT_UNSTORED,	/* the store refused it: no ack, so the worker keeps it and sends it again */
} sched_result_fate;

/* A result. Counts only if it names its trial's live attempt and comes
 * from the worker session holding it: a worker that said hello, and for
 * an orphan (after a restart) the identity and key the attempt was leased
 * to. Its provenance (host, emc_version, blas_core, blas_threads) is what
 * the holder's Hello said, whatever r carries. The worker may forget a
 * TAKEN or STALE result once the store's batch is committed. */
sched_result_fate sched_worker_result(sched *s, const sched_peer *peer, const sched_result *r);

typedef struct sched_checkpoint {
	int64_t attempt_id, trial_id, epoch, step;
	const uint8_t *state; /* borrowed for the call */
	size_t len;
} sched_checkpoint;

/* The state of a running attempt. Kept (durably, the newest per trial) if
 * it comes from the session holding the trial's live attempt, is at most
 * SCHED_CHECKPOINT_MAX bytes and is beyond the kept epoch; the trial's next
 * attempt resumes from it, and the current attempt counts as one that made
 * progress: if it is lost, that does not count against max_lost. Anything
 * else is dropped (logged at debug). -ENOENT: not a known worker. */
int sched_worker_checkpoint(sched *s, const sched_peer *peer, const sched_checkpoint *c);

/* The worker said bye: its running attempts are lost. */
void sched_worker_bye(sched *s, const sched_peer *peer);

typedef struct sched_data_request {
	bool has_hash; /* hash is 32 bytes (else no campaign matches) */
	uint8_t hash[32];
	uint64_t offset;
	uint32_t length;
} sched_data_request;

typedef struct sched_chunk {
	uint64_t total;	     /* bytes of the whole encoding */
	const uint8_t *data; /* borrowed: valid until the next model call */
	size_t len;
	const char *error; /* static text, or NULL */
} sched_chunk;

/* A piece of an active campaign's dataset encoding, made on the first
 * request and kept while the campaign runs. -ENOENT: not a known worker. */
int sched_worker_data(sched *s, const sched_peer *peer, const sched_data_request *q, sched_chunk *ret);

typedef struct sched_worker_info {
	int64_t id;
	char host[SCHED_HOST_MAX + 32];
	int slots, busy;
	int64_t last_seen_ms_ago;
	int64_t trials_done;
	char blas_core[SCHED_PROV_MAX + 1];
} sched_worker_info;

int sched_worker_count(const sched *s);
/* Fill up to cap infos; returns how many. */
int sched_worker_list(const sched *s, sched_worker_info *ret, int cap);

/* ---- campaigns --------------------------------------------------------------- */

/* What a submission found under the spec's name. */
typedef enum sched_submitted {
	SCHED_SUBMIT_NEW = 0, /* nothing: the campaign was written */
	SCHED_SUBMIT_RESUMED, /* the same spec, running (or paused, and unpause was asked) */
	SCHED_SUBMIT_DONE,    /* the same spec, finished: nothing left to run (err says so) */
} sched_submitted;

/* Add a campaign from spec text, or find it again (same name and text).
 * Checks the spec and its dataset fully before writing anything. A found
 * campaign that was cancelled is refused (-EALREADY, naming `emcctl
 * reopen`); a paused one is resumed when `unpause`, else refused
 * (-EBUSY, naming `emcctl resume`); a different spec under the name is
 * refused (-EEXIST). A new campaign with a cell that cannot fit the memory
 * of any connected worker (campaign_prep.need_bytes against the largest
 * announced, or CAMPAIGN_MEMORY_CEILING_BYTES when none announced) is refused
 * (-EFBIG, naming the cell, its model and both sizes). */
int sched_submit(sched *s, const char *text, size_t len, const char *origin, const char *base_dir, bool unpause,
		 int64_t *ret_id, sched_submitted *ret_found, emc_err *err);

/* The same for a spec this process already prepared (campaign_prepare on
 * the same text), so that it is not parsed and decoded again. Takes
 * prep->data (sets it to NULL) when the campaign is active and its dataset
 * not yet held: the scheduler serves workers from it. The rest of prep
 * stays the caller's. */
int sched_submit_prepared(sched *s, campaign_prep *prep, const char *text, size_t len, const char *origin, bool unpause,
			  int64_t *ret_id, sched_submitted *ret_found, emc_err *err);

typedef enum sched_verb { SCHED_VERB_PAUSE = 0, SCHED_VERB_RESUME, SCHED_VERB_CANCEL, SCHED_VERB_REOPEN } sched_verb;

/* Pause, resume or cancel the active campaign `name`, or reopen the
 * cancelled one (store_campaign_reopen, then loaded and searching again).
 * -ENOENT when there is none (a campaign with no cell left can still be
 * cancelled), -EALREADY when reopen finds it not cancelled, -EBUSY while a
 * just-cancelled campaign still waits for its running trials to stop, -EIO
 * when the store refused; err says why. */
int sched_campaign_control(sched *s, sched_verb verb, const char *name, emc_err *err);

/* ---- time and work ------------------------------------------------------------ */

/* Expire leases, retire silent workers, give up on unclaimed orphans. */
void sched_tick(sched *s);

/* Hand pending trials to workers with credit. */
void sched_dispatch(sched *s);

/* No campaign has work left. */
bool sched_all_done(const sched *s);

/* Results that arrived for an attempt that no longer held its trial. */
int64_t sched_results_fenced(const sched *s);

#endif
