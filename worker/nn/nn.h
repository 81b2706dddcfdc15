/* nn.h — the training engine's public face: train one trial.
 *
 * The engine is a library: it knows nothing of ZeroMQ, SQLite or the
 * coordinator. Given a cell configuration and the n samples of a subset it
 * builds the network, trains it with the configured optimizer, and decides
 * how the trial ended:
 *
 *   FIT      accuracy over EVERY sample of the subset >= fit_threshold
 *            (checked every budget.eval_every epochs, and at the end);
 *   NO_FIT   reason PLATEAU (best full-subset loss not improved by a
 *            relative plateau_rel for plateau_epochs epochs), GRADNORM
 *            (full-batch gradient norm < grad_tol), or BUDGET (max_epochs,
 *            max_steps or max_seconds ran out);
 *   CANCELLED the caller asked it to stop.
 *
 * Every evaluation (loss, accuracy, gradient norm, the fit test and the
 * Hessian certificate) covers the whole subset in evaluation mode: batch
 * norm uses its running statistics there.
 *
 * A running trial can hand out checkpoints at epoch ends, and a trial can
 * resume from one: the resumed trial ends exactly as the uninterrupted one
 * (nn_checkpoint_fn below).
 *
 * All memory is allocated before the first step; a training step does not
 * allocate. Every matrix product goes through cblas_sgemm. The library
 * never sets the BLAS thread count (the caller does); a trial is
 * deterministic for a given configuration, data and BLAS thread count.
 */
#ifndef EMC_NN_H
#define EMC_NN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "err.h"
#include "result.h"

/* The samples of one trial: borrowed, not copied. */
typedef struct nn_data {
	const float *x;        /* (n, dim) row-major */
	const uint8_t *y;      /* (n) labels in [0, shape.classes) */
	int64_t n;
	emc_input_shape shape; /* dim = channels * height * width */
} nn_data;

/* What a trial reports while it runs. */
typedef struct nn_progress {
	int64_t epoch;     /* epochs completed */
	int64_t step;      /* optimizer steps taken */
	double loss;       /* mean loss over the whole subset at the last evaluation */
	double accuracy;   /* accuracy over the whole subset at the last evaluation */
	double grad_norm;  /* full-batch gradient norm at the last evaluation */
	double seconds;    /* wall time since training began */
	double budget_used;/* fraction of the tightest budget used, in [0, 1] */
} nn_progress;

/* Called on the training thread after every evaluation. */
typedef void (*nn_progress_fn)(void *ctx, const nn_progress *p);

/* Called on the training thread at an epoch end (after the epoch's
 * evaluation if there is one, and only when the trial goes on), at most
 * once every hooks->checkpoint_every_ms milliseconds of wall time (0 = at
 * every epoch end). buf is the engine's own, borrowed for the call: the
 * callee copies what it keeps. at: the progress at that point (epoch,
 * step, the last evaluation's values, seconds so far).
 *
 * A checkpoint holds everything the rest of the trial depends on: the
 * parameters, batch norm's running statistics, the optimizer's step count
 * and moments, the batch order and its RNG stream, epoch, step,
 * sample_grads, the plateau tracker, the last evaluation and the seconds
 * spent. A trial resumed from it (hooks->resume) ends exactly as the
 * uninterrupted trial does, bit for bit, given the BLAS kernel and thread
 * count — all but train_seconds, which continues from the seconds spent.
 * Its size is 4·(parameters + batch-norm statistics + optimizer moments ·
 * parameters + n with a batch order) + 256 bytes. */
typedef void (*nn_checkpoint_fn)(void *ctx, const uint8_t *buf, size_t len, const nn_progress *at);

/* Test-only: the parameters at the end of a trial (params (n), borrowed
 * for the call), so that a resumed trial's network can be compared with
 * the uninterrupted one's. */
typedef void (*nn_final_params_fn)(void *ctx, const float *params, size_t n);

/* Larger states are not checkpointed (the callback is not called). */
#define NN_CHECKPOINT_MAX_BYTES (3u << 20)

typedef struct nn_hooks {
	nn_progress_fn progress; /* may be NULL */
	void *ctx;
	const atomic_int *cancel; /* may be NULL; polled every step: nonzero stops with CANCELLED */
	int64_t memory_limit_bytes; /* 0 = none; a trial that would need more is refused (-ENOMEM) before it allocates */
	nn_checkpoint_fn checkpoint; /* may be NULL */
	int64_t checkpoint_every_ms;
	/* NULL: start from the beginning; else a checkpoint of this very
	 * trial (borrowed for the call), checked before anything is trained:
	 * a damaged blob, or one of another trial (another cell, seed, n or
	 * data), makes nn_train return -EINVAL with err saying what did not
	 * match. */
	const uint8_t *resume;
	size_t resume_len;
	nn_final_params_fn final_params; /* may be NULL; test-only */
} nn_hooks;

/* What a trial reports (r: the one result struct the wire carries and the
 * store records, filled here so that nobody copies it field by field),
 * and what only the engine's own callers need. */
typedef struct nn_trial_result {
	emc_trial_result r;   /* outcome FIT, NO_FIT or CANCELLED; the final evaluation;
			       * params of the network built; the Hessian certificate
			       * when budget.hessian was set; sample_grads; error and
			       * the provenance fields are empty */
	int64_t memory_bytes; /* what the trial allocated (equals nn_trial_memory_bytes; the one
			       * checkpoint buffer of a trial with a checkpoint hook, at most
			       * NN_CHECKPOINT_MAX_BYTES, is not counted) */
} nn_trial_result;

/* Bytes a trial of cfg on n samples of this shape allocates in the engine
 * (parameters, gradients, activations and their gradients for one chunk,
 * statistics, im2col scratch, gathered batch, optimizer state, batch order,
 * Hessian work space), computed from the description alone: exactly what
 * nn_train allocates. -EINVAL for a model that cannot be built. */
int64_t nn_trial_memory_bytes(const emc_cell_cfg *cfg, const emc_input_shape *in, int64_t n);

/* Train cfg on data. Returns 0 and fills *ret when training ran (whatever
 * its outcome); returns -errno and fills err when it could not (an
 * unsupported configuration, out of memory, a refused hooks->resume:
 * -EINVAL, nothing trained). hooks may be NULL. */
int nn_train(const emc_cell_cfg *cfg, const nn_data *data, const nn_hooks *hooks, nn_trial_result *ret,
	     emc_err *err);

/* Read a checkpoint's header: the epoch and step it resumes at (either
 * pointer may be NULL). -EINVAL (err says why) if buf is not a well-formed
 * checkpoint of this format version: magic, version, length and checksum
 * are checked, not whose trial it is (nn_train does that). */
int nn_checkpoint_peek(const uint8_t *buf, size_t len, int64_t *ret_epoch, int64_t *ret_step, emc_err *err);

#endif
