/* model.h — a network as a graph of layers over planned arenas (internal).
 *
 * nn_model_new() turns a model description into a list of operations over
 * numbered values (value 0 is the input; every operation writes one new
 * value and reads one or two earlier ones, so residual connections are
 * just values read twice), sizes every buffer a pass can touch for at most
 * rows_cap samples, and allocates and touches them all at once. After that
 * nn_model_pass() runs forward (and backward) over any number of rows, in
 * chunks of at most rows_cap, without allocating. The struct is visible so
 * the trainer, the benchmark and the tests can reach the parameter and
 * gradient arenas and the operation list; treat it as read-only.
 */
#ifndef EMC_NN_MODEL_H
#define EMC_NN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "err.h"
#include "layers.h"

/* Enough for a ResNet of 16 stages of 6 blocks or a ViT of depth 90. */
#define NN_MAX_OPS 1024
/* Widths above this are refused: they are typos, not experiments. */
#define NN_MAX_WIDTH (1 << 20)
/* Refuse to plan a model whose buffers would need more than this. */
#define NN_MAX_ARENA_BYTES ((size_t)16 << 30)
/* "No buffer here" in an offset field. */
#define NN_NONE SIZE_MAX

/* Streams of the cell's seed that the engine draws from ("nn_init",
 * "nn_order"), far from the small ids that subsets and label variants use.
 * Two streams, so that changing the batch size leaves the initial network
 * as it was. */
#define NN_STREAM_INIT 0x6e6e5f696e6974ULL
#define NN_STREAM_ORDER 0x6e6e5f6f72646572ULL

/* Rows per forward/backward chunk at most: bounds activation memory
 * whatever n is, and is large enough that the GEMMs run at full speed.
 * Batch norm's batch statistics are per chunk (see model.c). A trial sizes
 * its chunks to its mini-batch (train.c), but never below NN_EVAL_ROWS, so
 * evaluations of small-batch trials do not crawl through tiny GEMMs. */
#define NN_CHUNK_ROWS 512
#define NN_EVAL_ROWS 128

typedef enum nn_op_kind {
	NN_OP_DENSE = 0, /* Linear, optionally fused with an activation that its output determines */
	NN_OP_ACT,       /* an activation on its own (gelu, or after batch norm / a residual add) */
	NN_OP_CONV,      /* Conv2d, optionally fused with an activation */
	NN_OP_MAXPOOL,   /* 2×2, stride 2 */
	NN_OP_AVGPOOL,   /* 2×2, stride 2 */
	NN_OP_GAP,       /* mean over positions or tokens */
	NN_OP_BN,        /* BatchNorm2d */
	NN_OP_LN,        /* LayerNorm over the last dimension */
	NN_OP_ATTN,      /* softmax(QK^T/√dh)·V of projected tokens */
	NN_OP_ADD,       /* residual add */
	NN_OP_POSADD,    /* learned position embedding */
	NN_OP_KIND_COUNT
} nn_op_kind;

/* Evaluation uses batch norm's running statistics and leaves them alone;
 * training uses the chunk's own and updates the running ones. */
typedef enum nn_mode {
	NN_MODE_EVAL = 0,
	NN_MODE_TRAIN,
} nn_mode;

typedef struct nn_value {
	int h, w, c;    /* one sample: (h, w, c), NHWC; the input value is stored (c, h, w) */
	size_t size;    /* h·w·c */
	int producer;   /* index of the op that writes it, -1 for the input */
	int consumers;  /* ops that read it */
	size_t act;     /* offset of (rows_cap, size) in acts; shared with its input by an in-place act */
	size_t grad;    /* offset of its gradient (rows_cap, size) in gbuf, NN_NONE for the input */
} nn_value;

typedef struct nn_op {
	nn_op_kind kind;
	int in[2];          /* values read; in[1] = -1 unless NN_OP_ADD */
	int out;            /* value written */
	emc_activation act; /* NN_OP_ACT; fused into DENSE / CONV (EMC_ACT_LINEAR = none); MAXPOOL: the
			       activation of its input, whose derivative its backward applies */
	bool act_by_consumer; /* DENSE / CONV: the max pool after it applies the activation's derivative */
	int tokens;         /* DENSE: rows per sample (1 when it reads the whole sample flattened) */
	int fin, fout;      /* DENSE: features per row in and out */
	nn_conv conv;       /* CONV geometry */
	int heads;          /* ATTN */
	size_t w, b;        /* parameter offsets (weight, bias / BN and LN gamma, beta); NN_NONE if absent */
	size_t nw, nb;      /* their sizes */
	size_t fan_in;      /* DENSE, CONV: the init bound is 1/√fan_in */
	size_t save;        /* offset in aux: BN mean, rstd (2c); LN mean, rstd (2·rows); ATTN probs */
	size_t run;         /* offset in aux: BN running mean, var (2c) */
	size_t gtmp[2];     /* offset in gbuf where the gradient of in[j] is written before it is added to
			       the value's own (the value's second reader); NN_NONE = written in place */
} nn_op;

typedef struct nn_model {
	nn_op ops[NN_MAX_OPS];
	nn_value vals[NN_MAX_OPS + 1];
	int n_ops, n_vals;
	int dim;      /* input features per sample */
	int classes;  /* logits per sample */
	int rows_cap; /* rows per chunk that every buffer is sized for */
	size_t n_params;

	float *params; /* (n_params) */
	float *grads;  /* (n_params) gradient of the last chunk */
	float *gacc;   /* (n_params) gradient summed over chunks */
	float *acts;   /* every value but the input, (rows_cap, size) each */
	float *gbuf;   /* gradients of values, in slots reused once their value is done with */
	float *aux;    /* running and saved statistics, attention probabilities */
	float *probs;  /* (rows_cap, classes) softmax of the logits */
	float *xbuf;   /* (rows_cap, dim) gathered input rows */
	uint8_t *ybuf; /* (rows_cap) gathered labels */
	float *scratch;/* im2col columns, attention's dS: the largest any op needs */
	double *dscratch; /* batch norm's per-channel sums */

	void *arena;   /* one allocation behind every buffer above */
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
 * (nn_model_destroy). -EINVAL for a bad description (err names the field),
 * -ENOMEM. */
int nn_model_new(const emc_model_cfg *m, const emc_input_shape *in, int rows_cap, nn_model **ret, emc_err *err);

/* The bytes nn_model_new would allocate for its arena, and the parameter
 * count, without allocating the arena. ret_params may be NULL. */
int nn_model_plan_bytes(const emc_model_cfg *m, const emc_input_shape *in, int rows_cap, size_t *ret_params,
			size_t *ret_bytes, emc_err *err);

/* NULL-safe; sets *p = NULL. */
void nn_model_destroy(nn_model **p);

/* Initialise every parameter as PyTorch does by default, drawing op by op,
 * weight before bias, from (seed, stream): Linear and Conv2d weight and
 * bias ~ U(-1/√fan_in, 1/√fan_in) (kaiming_uniform with a = √5); norm
 * weight 1, bias 0; position embedding ~ N(0, 0.02²) (what timm's
 * trunc_normal_(std=0.02) amounts to: its cut at ±2 is 100 σ away). Batch
 * norm's running statistics restart at mean 0, variance 1. */
void nn_model_init_params(nn_model *m, uint64_t seed, uint64_t stream);

/* Forward (and, if want_grad, backward) over `rows` samples of (x, y):
 * rows idx[0..rows) of them, or when idx is NULL the first `rows` rows of x
 * (which are then read in place, not copied). Rows are processed in
 * ceil(rows / rows_cap) chunks of nearly equal size; the gradient is that
 * of the mean loss over all rows. In NN_MODE_TRAIN batch norm uses each
 * chunk's statistics and updates its running ones.
 *   x (*, dim), y (*), idx (rows). */
void nn_model_pass(nn_model *m, const float *x, const uint8_t *y, const int32_t *idx, int64_t rows, nn_mode mode,
		   bool want_grad, nn_pass *ret);

/* The state a pass keeps from one pass to the next besides the parameters:
 * batch norm's running mean and variance (2·c floats per BN op, in op
 * order). Everything else in the arena (activations, saved statistics,
 * attention probabilities, gradients, scratch) is rewritten by every pass
 * before it is read. A checkpoint saves this; nn_model_state_floats is its
 * length, nn_model_state_get copies it out to out (state_floats
 * floats, any alignment), and nn_model_state_set copies it back from in. */
size_t nn_model_state_floats(const nn_model *m);
void nn_model_state_get(const nn_model *m, void *out);
void nn_model_state_set(nn_model *m, const void *in);

/* Floating-point operations of the matrix products of one sample's
 * forward and backward pass (2·M·N·K per GEMM, the first layer's input
 * gradient excluded as the engine skips it): what the benchmark counts. */
double nn_model_gemm_flops(const nn_model *m);

#endif
