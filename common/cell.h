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

/* Exact number of trainable parameters of the model on this input, the
 * same count PyTorch gives for the same network. Returns -EINVAL for a
 * family or shape the engine does not support. */
int64_t emc_model_params(const emc_model_cfg *m, const emc_input_shape *in);

/* Short model description for tables, e.g. "mlp[32,32]" or "linear".
 * Writes at most len bytes (always NUL-terminated); returns buf. */
char *emc_model_describe(const emc_model_cfg *m, char *buf, size_t len);

#endif
