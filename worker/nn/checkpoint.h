/* checkpoint.h — the bytes of a running trial's state, written and read back (internal).
 *
 * train.c decides when; this module decides the format (see checkpoint.c)
 * and checks that a blob is whole and belongs to the trial it is offered
 * to, before anything of it is used.
 */
#ifndef EMC_NN_CHECKPOINT_H
#define EMC_NN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "err.h"
#include "model.h"
#include "nn.h"
#include "optim.h"
#include "rng.h"

/* What a checkpoint belongs to: a blob is used only by a trial whose
 * fingerprint is equal in every field. */
typedef struct nn_ckpt_print {
	uint64_t cfg_hash;  /* every cell field the cell reads (cell.h's table) and the seed */
	uint64_t seed;
	uint64_t data_hash; /* the subset's x and y bytes */
	int64_t n;
	int32_t channels, height, width, classes;
	uint64_t n_params;
	uint64_t optim_bytes;  /* nn_optim_snapshot_bytes */
	uint64_t state_floats; /* nn_model_state_floats */
	uint64_t order_len;    /* n with a batch order, 0 for full-batch training */
} nn_ckpt_print;

/* The loop's own state at an epoch end. */
typedef struct nn_ckpt_loop {
	int64_t epoch, step, sample_grads;
	int64_t best_epoch;
	double best_loss;
	nn_progress last; /* the last evaluation's values, as the result reports them */
	double seconds;   /* wall time spent so far */
	emc_rng order_rng;
} nn_ckpt_loop;

/* The pieces a checkpoint reads or writes. order may be NULL when
 * order_len is 0. */
typedef struct nn_ckpt_parts {
	nn_model *model;
	nn_optim *opt;
	int32_t *order;
} nn_ckpt_parts;

/* 64-bit hash of len bytes, continuing from h (start at 0). Not
 * cryptographic: it detects damage, and every single changed word. */
uint64_t nn_ckpt_hash(uint64_t h, const void *p, size_t len);

/* Fill the fingerprint of a trial of cfg on data with this model and
 * optimizer (hashes all of data: call once per trial). */
void nn_ckpt_print_fill(nn_ckpt_print *f, const emc_cell_cfg *cfg, const nn_data *data, const nn_model *model,
			const nn_optim *opt, uint64_t order_len);

/* Bytes of a checkpoint with this fingerprint. */
size_t nn_ckpt_bytes(const nn_ckpt_print *f);

/* Write the checkpoint into buf (nn_ckpt_bytes(f) bytes). */
void nn_ckpt_write(uint8_t *buf, const nn_ckpt_print *f, const nn_ckpt_loop *loop, const nn_ckpt_parts *parts);

/* Check that buf is a whole checkpoint of this format (magic, version,
 * length, checksum), of the trial whose fingerprint is f, with a sane
 * loop state and a batch order that is a permutation; only then restore
 * the parts and fill *ret_loop. -EINVAL (err names what is wrong, or which
 * fingerprint field differs), -ENOMEM; nothing is written on failure. */
int nn_ckpt_read(const uint8_t *buf, size_t len, const nn_ckpt_print *f, nn_ckpt_loop *ret_loop,
		 const nn_ckpt_parts *parts, emc_err *err);

#endif
