/* cell.h — one training procedure T: the configuration of a campaign cell.
 *
 * A cell is one point of a campaign's grid. Its configuration is everything
 * a worker needs to train the cell's network at a given sample size n
 * (model, optimizer, budget, data variant, seed) except the data itself.
 * The spec parser fills it, the coordinator stores it and sends it in each
 * trial, the worker hands it to the training engine. The parameter count
 * shown anywhere comes from emc_model_params() on this same description.
 *
 * Plain values, no pointers: a cell configuration can be copied with `=`.
 */
#ifndef EMC_CELL_H
#define EMC_CELL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMC_MAX_LAYERS 16

typedef enum emc_family {
	EMC_FAMILY_LINEAR = 0,
	EMC_FAMILY_MLP,
	EMC_FAMILY_CNN,
	EMC_FAMILY_RESNET,
	EMC_FAMILY_VIT,
	EMC_FAMILY_COUNT
} emc_family;

typedef enum emc_activation {
	EMC_ACT_RELU = 0,
	EMC_ACT_LEAKY_RELU,
	EMC_ACT_GELU,
	EMC_ACT_TANH,
	EMC_ACT_SIGMOID,
	EMC_ACT_LINEAR,
	EMC_ACT_COUNT
} emc_activation;

typedef enum emc_optimizer {
	EMC_OPT_SGD = 0,
	EMC_OPT_ADAM,
	EMC_OPT_ADAMW,
	EMC_OPT_GD, /* full-batch gradient descent: batch = n */
	EMC_OPT_COUNT
} emc_optimizer;

typedef enum emc_labels {
	EMC_LABELS_TRUE = 0,
	EMC_LABELS_RANDOM, /* every label replaced, fixed per sample index */
	EMC_LABELS_NOISY,  /* a fraction label_noise of samples get a random label */
	EMC_LABELS_COUNT
} emc_labels;

typedef enum emc_inputs {
	EMC_INPUTS_TRUE = 0,
	EMC_INPUTS_PERMUTED, /* each sample's values shuffled by its own seeded permutation */
	EMC_INPUTS_GAUSSIAN, /* each sample replaced by N(0, 1) noise, fixed per sample */
	EMC_INPUTS_COUNT
} emc_inputs;

typedef enum emc_schedule {
	EMC_SCHEDULE_CONSTANT = 0,
	EMC_SCHEDULE_COSINE, /* cosine from lr to 0 over the epoch or step budget */
	EMC_SCHEDULE_COUNT
} emc_schedule;

/* Shape of one input sample and the number of classes: what the model
 * description needs from the dataset. */
typedef struct emc_input_shape {
	int channels, height, width; /* a flat (tabular) input has height = width = 1 */
	int classes;
} emc_input_shape;

typedef struct emc_model_cfg {
	emc_family family;
	emc_activation activation;
	int n_widths;                /* mlp: number of hidden layers */
	int widths[EMC_MAX_LAYERS];  /* mlp: hidden widths; resnet: blocks per stage */
	/* cnn */
	int layers, filters, hidden;
	/* resnet (blocks in n_widths/widths) */
	int width;
	/* vit */
	int patch, dim, depth, heads, mlp_ratio;
} emc_model_cfg;

typedef struct emc_optim_cfg {
	emc_optimizer name;
	double lr;
	double momentum;     /* sgd */
	bool nesterov;       /* sgd */
	double weight_decay; /* sgd: L2 added to the gradient; adamw: decoupled */
	double beta1, beta2, eps; /* adam, adamw */
	int batch;           /* samples per step; 0 = full batch (gd) */
	emc_schedule schedule;
	int warmup_epochs;   /* linear warm-up from 0 to lr over this many epochs (0 = none) */
} emc_optim_cfg;

typedef struct emc_budget_cfg {
	int64_t max_epochs;   /* 0 = no limit on epochs */
	int64_t max_steps;    /* 0 = no limit on optimizer steps */
	double max_seconds;   /* 0 = no limit on wall time */
	int plateau_epochs;   /* stop when the best loss has not improved for this many epochs */
	double plateau_rel;   /* ... by at least this relative amount */
	int eval_every;       /* epochs between full-subset evaluations (>= 1) */
	double fit_threshold; /* train accuracy that counts as FIT (default 1.0) */
	double grad_tol;      /* stop when the full-batch gradient norm is below this (0 = off) */
	bool hessian;         /* at the end, extreme Hessian eigenvalues by Lanczos */
} emc_budget_cfg;

typedef struct emc_cell_cfg {
	emc_model_cfg model;
	emc_optim_cfg optim;
	emc_budget_cfg budget;
	emc_labels labels;
	double label_noise; /* EMC_LABELS_NOISY: fraction in (0, 1] */
	emc_inputs inputs;
	int classes;        /* merge into this many super-classes; 0 = the dataset's own */
	uint64_t seed;      /* weights, batch order and subset */
} emc_cell_cfg;

/* How a trial ended. Stored as these names in the database and on the wire. */
typedef enum emc_outcome {
	EMC_OUTCOME_NONE = 0, /* not finished */
	EMC_OUTCOME_FIT,
	EMC_OUTCOME_NO_FIT,
	EMC_OUTCOME_FAILED,
	EMC_OUTCOME_CANCELLED,
	EMC_OUTCOME_PREEMPTED, /* the worker drained before the trial ended: run it again */
	EMC_OUTCOME_COUNT
} emc_outcome;

/* Why training stopped. */
typedef enum emc_stop_reason {
	EMC_STOP_NONE = 0,
	EMC_STOP_FIT,      /* train accuracy reached fit_threshold */
	EMC_STOP_GRADNORM, /* full-batch gradient norm fell below grad_tol */
	EMC_STOP_PLATEAU,  /* best loss stopped improving */
	EMC_STOP_BUDGET,   /* epochs, steps or seconds ran out: "unconverged" */
	EMC_STOP_CANCELLED,
	EMC_STOP_ERROR,
	EMC_STOP_COUNT
} emc_stop_reason;

const char *emc_outcome_name(emc_outcome o);       /* "fit", "no_fit", ... */
const char *emc_stop_reason_name(emc_stop_reason r); /* "fit", "plateau", ... */
int emc_outcome_parse(const char *s, emc_outcome *ret);
int emc_stop_reason_parse(const char *s, emc_stop_reason *ret);

/* Names as written in specs and shown in results; NULL for a bad value. */
const char *emc_family_name(emc_family f);
const char *emc_activation_name(emc_activation a);
const char *emc_optimizer_name(emc_optimizer o);
const char *emc_labels_name(emc_labels l);
const char *emc_inputs_name(emc_inputs i);
const char *emc_schedule_name(emc_schedule s);
/* Parse a name; 0 on success, -EINVAL for an unknown name. */
int emc_family_parse(const char *s, emc_family *ret);
int emc_activation_parse(const char *s, emc_activation *ret);
int emc_optimizer_parse(const char *s, emc_optimizer *ret);
int emc_labels_parse(const char *s, emc_labels *ret);
int emc_inputs_parse(const char *s, emc_inputs *ret);
int emc_schedule_parse(const char *s, emc_schedule *ret);

/* The defaults every spec starts from (documented in docs/spec.md). */
void emc_cell_cfg_defaults(emc_cell_cfg *c);

/* The model families, exactly (the engine builds these networks and
 * emc_model_params counts their parameters; docs/models.md has the same):
 *
 * EXACT ARCHITECTURES (shared contract between the parameter count in common/cell.c and the engine in worker/nn; both must give PyTorch's trainable-parameter count; input shape (c, H, W), C classes; d = c·H·W):
 * - linear: Linear(d, C).
 * - mlp (widths w1..wk): [Linear(prev, wi), act] per width, then Linear(prev, C).
 * - cnn (model.layers L >= 1, model.filters F >= 1, model.hidden Hd >= 1): for i in 0..L-1: Conv2d(c_in, F·2^i, kernel 3, stride 1, padding 1, bias=True) → act → MaxPool2d(2) (floor: H ← H/2, W ← W/2; refuse with -EINVAL when H or W would become 0); then Flatten → Linear(F·2^(L-1)·H_L·W_L, Hd) → act → Linear(Hd, C). Params: Σ_i (9·c_in·c_out + c_out) + (flat·Hd + Hd) + (Hd·C + C).
 * - resnet (blocks = model.widths[0..n_widths) e.g. [2,2,2] — one stage per entry, model.width W >= 1): stem Conv2d(c, W, 3, pad 1, bias=False) → BatchNorm2d(W) → act. Stage s (s = 0..S-1) has out = W·2^s channels; the first block of every stage s > 0 has stride 2, all else stride 1. BasicBlock(in, out, stride): conv3x3(in, out, stride, pad 1, bias=False) → BN(out) → act → conv3x3(out, out, 1, pad 1, bias=False) → BN(out); shortcut = identity if stride == 1 and in == out, else Conv2d(in, out, 1, stride, bias=False) → BN(out); output = act(main + shortcut). Spatial size with stride 2, pad 1, kernel 3: H ← floor((H − 1)/2) + 1 (the 1×1 stride-2 projection gives the same). Then global average pool → Linear(W·2^(S-1), C). BN has 2·channels trainable params (weight, bias); running mean/var are buffers, not parameters. Params: stem 9·c·W + 2W; block 9·in·out + 2·out + 9·out·out + 2·out (+ in·out + 2·out with a projection); head out·C + C.
 * - vit (model.patch P, model.dim D, model.depth L, model.heads h, model.mlp_ratio r): requires H % P == 0, W % P == 0, D % h == 0. N = (H/P)·(W/P) tokens, no class token. Patch embedding = Linear(c·P·P, D) with bias applied to each flattened patch (same as Conv2d(c, D, P, stride P)); learned position embedding (N, D) added; L pre-norm blocks: x = x + MHSA(LN(x)); x = x + MLP(LN(x)), with LN = LayerNorm(D) (weight and bias: 2D params), MHSA = qkv Linear(D, 3D) with bias, softmax(q·kᵀ/√(D/h)) per head, out projection Linear(D, D) with bias; MLP = Linear(D, r·D) → act → Linear(r·D, D) (act = model.activation; the spec makes gelu the default for vit); then a final LayerNorm(D), mean over the N tokens, head Linear(D, C). Params: (c·P·P·D + D) + N·D + L·(4D² + 2rD² + 9D + rD) + 2D + (D·C + C).
 * Batch norm: in training, batch statistics (biased variance for normalisation, eps 1e-5) and running statistics updated with momentum 0.1 (unbiased variance, as PyTorch); every evaluation (loss/accuracy over the subset, the fit test, the Hessian) runs in evaluation mode with the running statistics.
 */

/* Exact number of trainable parameters of the model on this input, the
 * same count PyTorch gives for the same network. Returns -EINVAL for a
 * family or shape the engine does not support. */
int64_t emc_model_params(const emc_model_cfg *m, const emc_input_shape *in);

/* Short model description for tables, e.g. "mlp[32,32]" or "linear".
 * Writes at most len bytes (always NUL-terminated); returns buf. */
char *emc_model_describe(const emc_model_cfg *m, char *buf, size_t len);

#endif
