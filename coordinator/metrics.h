/* metrics.h — the coordinator's /metrics endpoint (Prometheus text format).
 *
 * Two halves. The snapshot and its formatting are plain data and a pure
 * function, tested alone. The server (metrics_new) owns a libmicrohttpd
 * daemon whose thread formats the last published snapshot for each GET.
 *
 * Threading: the coordinator's loop is the only writer. It updates the
 * live snapshot (metrics_live) freely — the HTTP thread never reads it —
 * and calls metrics_publish() after each committed turn, which copies it
 * under the mutex the HTTP thread reads the published copy under. So a
 * scrape sees only what is durable, and the HTTP thread touches neither
 * the scheduler nor the store.
 */
#ifndef EMC_METRICS_H
#define EMC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "err.h"
#include "scheduler.h"
#include "store_state.h"

#define METRICS_BUCKETS_MAX 16 /* finite bucket bounds of a histogram at most */

/* A histogram: counts[i] observations <= bounds[i] and > bounds[i-1]
 * (not cumulative: the formatter sums), counts[n_bounds] the rest (+Inf). */
typedef struct metrics_histogram {
	int n_bounds;
	double bounds[METRICS_BUCKETS_MAX]; /* strictly increasing */
	uint64_t counts[METRICS_BUCKETS_MAX + 1];
	double sum;
	uint64_t count;
} metrics_histogram;

/* The outcomes a recorded result can have, as the trial state names them. */
typedef enum metrics_outcome {
	METRICS_FIT = 0,
	METRICS_NO_FIT,
	METRICS_FAILED,
	METRICS_CANCELLED,
	METRICS_OUTCOME_COUNT
} metrics_outcome;

typedef enum metrics_attempt {
	METRICS_ATTEMPT_LOST = 0,
	METRICS_ATTEMPT_PREEMPTED,
	METRICS_ATTEMPT_FAILED,
	METRICS_ATTEMPT_COUNT
} metrics_attempt;

typedef struct metrics_snapshot {
	char version[64];
	/* gauges: the database's trials by state; connected workers */
	int64_t trials[STORE_TRIAL_STATE_COUNT];
	int64_t workers_alive, workers_busy, workers_lost;
	/* counters since the process started */
	uint64_t results[METRICS_OUTCOME_COUNT];
	uint64_t attempts_lost[METRICS_ATTEMPT_COUNT];
	double train_seconds;
	uint64_t sample_grads;
	metrics_histogram dispatch; /* seconds from ready to Assign sent */
	metrics_histogram duration; /* seconds from attempt start to recorded result */
} metrics_snapshot;

/* All zero, the version set (cut to fit), the histograms' buckets set. */
void metrics_snapshot_init(metrics_snapshot *s, const char *version);

/* Count v (NaN is ignored) in h. */
void metrics_observe(metrics_histogram *h, double v);

/* The exposition text (version 0.0.4) of s in *ret (the caller frees), its
 * length in *ret_len. 0 or -ENOMEM. */
int metrics_format(const metrics_snapshot *s, char **ret, size_t *ret_len);

/* ---- the server ------------------------------------------------------------ */

typedef struct metrics metrics;

/* Bind and listen on "[HOST:]PORT" (HOST defaults to 127.0.0.1; an IPv6
 * HOST in brackets, "[::1]:9100"), so that a taken port is an error before
 * anything else starts. *ret_fd is the listening socket (the caller gives
 * it to metrics_new, or closes it); where (if not NULL) gets "HOST:PORT"
 * as bound, for the log. -EINVAL for a bad address, -EADDRINUSE when it
 * is taken, -errno; err names the address. */
int metrics_listen(const char *addr, char *where, size_t where_size, int *ret_fd, emc_err *err);

/* Serve /metrics on fd (taken: closed by metrics_destroy, or here on
 * failure) from a thread of its own. The published snapshot starts as
 * init: publish once before the first scrape can matter. */
int metrics_new(int fd, const metrics_snapshot *init, metrics **ret, emc_err *err);
/* Stops the server and waits for its thread. NULL-safe; sets *p = NULL. */
void metrics_destroy(metrics **p);

/* The loop's own copy, to update between publishes (borrowed). */
metrics_snapshot *metrics_live(metrics *m);
/* Make the live snapshot what scrapes see. */
void metrics_publish(metrics *m);

/* Observer callbacks that count into metrics_live(ctx): pass with the
 * metrics as ctx to sched_observe. */
extern const sched_observer metrics_sched_observer;

#endif
