/* model.h — a network as a list of layers over planned arenas (internal).
 *
 * nn_model_new() turns a model description into a list of layers, sizes
 * every buffer a pass can touch for at most rows_cap rows, and allocates
 * and touches them all at once. After that, nn_model_pass() runs forward
 * (and backward) over any number of rows, in chunks of rows_cap, without
 * allocating. The struct is visible so the trainer and the tests can reach
 * the parameter and gradient arenas; treat the rest as read-only.
 */
#ifndef EMC_NN_MODEL_H
#define EMC_NN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "err.h"

#define NN_MAX_LAYERS (2 * EMC_MAX_LAYERS + 2)
/* Widths above this are refused: they are typos, not experiments. */
#define NN_MAX_WIDTH (1 << 20)
/* Refuse to plan a model whose buffers would need more than this. */
#define NN_MAX_ARENA_BYTES ((size_t)4 << 30)

/* Streams of the cell's seed that the engine draws from ("nn_init",
 * "nn_order"), far from the small ids that subsets and label variants use.
 * Two streams, so that changing the batch size leaves the initial network
 * as it was. */
#define NN_STREAM_INIT 0x6e6e5f696e6974ULL
#define NN_STREAM_ORDER 0x6e6e5f6f72646572ULL

/* Rows per forward/backward chunk in training: bounds activation memory
 * whatever n is, and is large enough that the GEMMs run at full speed. */
#define NN_CHUNK_ROWS 512

/* Layer kinds. conv2d, pooling, norms and attention will be further kinds
 * with their own shapes, parameter offsets and scratch in the same list. */
typedef enum nn_op {
	NN_OP_DENSE = 0,
	NN_OP_ACT,
} nn_op;

typedef struct nn_layer {
	nn_op op;
	int in, out;        /* features per sample of the layer's input and output */
	emc_activation act; /* NN_OP_ACT */
	size_t w, b;        /* NN_OP_DENSE: offsets of weight (out, in) and bias (out) in params/grads */
	size_t y;           /* offset of the output (rows_cap, out) in acts */
} nn_layer;

typedef struct nn_model {
	nn_layer layers[NN_MAX_LAYERS];
	int n_layers;
	int dim;     /* input features per sample */
	int classes; /* logits per sample */
	int rows_cap;/* rows per chunk that every buffer is sized for */
	size_t n_params;

	float *params; /* (n_params) */
	float *grads;  /* (n_params) gradient of the last chunk */
	float *gacc;   /* (n_params) gradient accumulated over chunks */
	float *acts;   /* outputs of every layer, (rows_cap, out) each */
	float *probs;  /* (rows_cap, classes) softmax of the logits */
	float *dbuf[2];/* (rows_cap, max features) ping-pong gradients of activations */
	float *xbuf;   /* (rows_cap, dim) gathered input rows */
	uint8_t *ybuf; /* (rows_cap) gathered labels */

	void *arena;   /* one allocation behind every float buffer above */
	size_t arena_bytes;
} nn_model;

/* What one pass over a set of rows found. */
typedef struct nn_pass {
	double loss;       /* mean cross-entropy over the rows */
	int64_t correct;   /* rows predicted right (see nn_count_correct) */
	const float *grad; /* (n_params) gradient of the mean loss, or NULL when not asked;
			      points into the model and is valid until its next pass */
} nn_pass;

/* Plan and allocate the network for `m` on inputs of shape `in`, for
 * chunks of at most rows_cap rows. On success *ret is owned by the caller
 * (nn_model_destroy). -ENOTSUP for families the engine cannot build yet,
 * -EINVAL for a bad description, -ENOMEM; err says which. */
int nn_model_new(const emc_model_cfg *m, const emc_input_shape *in, int rows_cap, nn_model **ret, emc_err *err);

/* NULL-safe; sets *p = NULL. */
void nn_model_destroy(nn_model **p);

/* Initialise every parameter as PyTorch's nn.Linear does by default
 * (kaiming_uniform with a = √5): weight and bias ~ U(-1/√in, 1/√in), drawn
 * layer by layer, weight before bias, from (seed, stream). */
void nn_model_init_params(nn_model *m, uint64_t seed, uint64_t stream);

/* Forward (and, if want_grad, backward) over `rows` samples of (x, y):
 * rows idx[0..rows) of them, or when idx is NULL the first `rows` rows of x
 * (which are then read in place, not copied). Rows are processed in chunks
 * of rows_cap; with more than one chunk, the gradient is the row-weighted
 * sum of the chunk gradients, i.e. the gradient of the mean over all rows.
 *   x (*, dim), y (*), idx (rows). */
void nn_model_pass(nn_model *m, const float *x, const uint8_t *y, const int32_t *idx, int64_t rows,
		   bool want_grad, nn_pass *ret);

#endif
