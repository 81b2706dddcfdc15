/* result.h — what one trial reports when it ends.
 *
 * One struct for a trial's result wherever it travels: the engine fills
 * it, the wire carries it, the store records it. Each field means the same
 * thing at every stop, so converting is copying. The union of what those
 * three need: not every holder uses every field (the store records params
 * per cell, not per trial, and ignores it here).
 */
#ifndef EMC_RESULT_H
#define EMC_RESULT_H

#include <stdbool.h>
#include <stdint.h>

#include "cell.h"

#define EMC_RESULT_ERROR_MAX 256
#define EMC_RESULT_HOST_MAX 128

typedef struct emc_trial_result {
	emc_outcome outcome;
	emc_stop_reason reason;  /* EMC_STOP_NONE: none given */
	int64_t epochs, steps;   /* training done, in the budget's units */
	double train_seconds;
	double loss, accuracy;   /* at the final evaluation, on the whole subset */
	double grad_norm;        /* full-batch gradient norm at the end */
	double budget_used;      /* fraction of the budget spent, 0 .. 1 */
	int64_t params;          /* trainable parameters of the network trained */
	char error[EMC_RESULT_ERROR_MAX]; /* FAILED: why; may come from a peer, so
					   * it may fill the array unterminated */
	bool has_hessian;        /* the minimum-or-saddle certificate was computed */
	double hessian_min, hessian_max; /* extreme eigenvalues of the loss Hessian */
	int64_t sample_grads;    /* compute: the rows of every optimizer step's batch, summed */
	/* Provenance: which worker, build and kernel produced the result. The
	 * engine leaves these empty; the coordinator fills them from the Hello
	 * of the worker that held the attempt. */
	char host[EMC_RESULT_HOST_MAX];
	char emc_version[32];    /* the worker's emc version */
	char blas_core[32];      /* the OpenBLAS kernel it ran (openblas_get_corename) */
	int blas_threads;        /* BLAS threads per slot */
} emc_trial_result;

#endif
