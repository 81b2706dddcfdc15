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

#include "err.h"

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
	uint64_t seed;      /* the replicate seed of a trial: weights, batch order, subset and,
			     * unless data_seed_fixed, the data variant's randomness */
	uint64_t data_seed; /* with data_seed_fixed: the seed of the variant's randomness
			     * (random / noisy labels, permutations, Gaussian inputs) */
	bool data_seed_fixed;
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

/* ---- the cell field table ------------------------------------------------
 *
 * One row per parameter of a cell: its spec key, where it lives in
 * emc_cell_cfg, its type, default and range, who reads it and its report
 * column. The spec parser, the defaults, emc_cell_check() (called by the
 * spec parser, the wire and the engine) and the report columns all read
 * this one table, so a value one of them accepts the others accept too.
 * Adding a parameter is adding a member to emc_cell_cfg, a row in cell.c
 * and a field to the wire message.
 *
 * The one member no row holds is `seed`: a cell is a procedure and its
 * replicate seeds are the campaign's pool (spec.h), not a grid axis; the
 * coordinator sets `seed` per trial.
 */

typedef enum emc_cell_type {
	EMC_CELL_INT,    /* int */
	EMC_CELL_INT64,  /* int64_t */
	EMC_CELL_UINT64, /* uint64_t, any value */
	EMC_CELL_DOUBLE, /* double, finite */
	EMC_CELL_BOOL,   /* bool */
	EMC_CELL_ENUM,   /* an enum (int-sized), spelled by names[] */
	EMC_CELL_LIST,   /* int count at offset, int items[EMC_MAX_LAYERS] at aux; the range is per item */
	EMC_CELL_LABELS, /* emc_labels at offset and, for noisy, the fraction (double) at aux; the range is the fraction's */
	EMC_CELL_SEED,   /* an optional seed: uint64_t at offset, whether it is given (bool) at aux; any
			  * value; not given is spelled zero_word and stores 0 */
} emc_cell_type;

#define EMC_FAMILY_BIT(f) (1u << (f))
#define EMC_FAMILIES_ALL ((1u << EMC_FAMILY_COUNT) - 1)
#define EMC_OPT_BIT(o) (1u << (o))
#define EMC_OPTS_ALL ((1u << EMC_OPT_COUNT) - 1)

/* Room for the table's rows (cell.c asserts the table fits). */
#define EMC_CELL_MAX_FIELDS 64

typedef struct emc_cell_field {
	const char *key;    /* spec key path: "optimizer.lr", "variant.data_seed" */
	const char *member; /* member path in emc_cell_cfg: "optim.lr" (named in wire and engine errors) */
	const char *column; /* report column: "lr" */
	emc_cell_type type;
	size_t offset;      /* offsetof(emc_cell_cfg, member) */
	size_t aux;         /* LIST: the items; LABELS: the fraction */
	const char *const *names; /* ENUM, LABELS: the spelled values */
	int n_names;
	/* Range. Integer types: [imin, imax]. DOUBLE and the LABELS fraction:
	 * min..max, each end open or closed. LIST: items in [imin, imax],
	 * between min_items and max_items of them. */
	int64_t imin, imax;
	double min, max;
	bool min_open, max_open;
	int min_items, max_items;
	const char *zero;      /* non-NULL: 0 is valid too, and means this ("the dataset's classes") */
	const char *zero_word; /* how a spec writes 0 when not "0" ("full") */
	/* Who reads it: a cell reads a field when its family and its optimizer
	 * are in these masks. emc_cell_check checks only what a cell reads. */
	unsigned families, optimizers;
	bool normalize; /* a cell that does not read it stores 0, so cells differing only there are equal */
	/* Default: integer types and ENUM in idef, DOUBLE in ddef, LIST in
	 * ldef[0..n_ldef). A row read only by some families gets its default
	 * from emc_cell_family_defaults(). */
	int64_t idef;
	double ddef;
	int ldef[4];
	int n_ldef;
	const char *list_noun, *item_noun; /* LIST: "hidden widths", "hidden layers" */
} emc_cell_field;

/* One value of one field, as the spec parser holds it before a cell
 * exists. Zeroed whole, it compares and copies without surprises. */
typedef struct emc_cell_value {
	int64_t i;  /* INT, INT64, BOOL, ENUM; LABELS: the emc_labels; SEED: 1 if given */
	uint64_t u; /* UINT64, SEED */
	double d;   /* DOUBLE; LABELS: the fraction (0 unless noisy) */
	int n;      /* LIST: the items */
	int items[EMC_MAX_LAYERS];
} emc_cell_value;

/* The table, in grid order (the first row varies slowest in a campaign's
 * grid); *ret_n rows. */
const emc_cell_field *emc_cell_fields(int *ret_n);
/* The row of a spec key, or NULL. */
const emc_cell_field *emc_cell_field_find(const char *key);

void emc_cell_field_get(const emc_cell_field *f, const emc_cell_cfg *c, emc_cell_value *ret);
void emc_cell_field_set(const emc_cell_field *f, emc_cell_cfg *c, const emc_cell_value *v);
/* Is v in f's range? (For a LIST also checks the count.) */
bool emc_cell_value_ok(const emc_cell_field *f, const emc_cell_value *v);
/* Is one LIST item in range? */
bool emc_cell_item_ok(const emc_cell_field *f, int64_t x);
/* Does cell c read f (its family and optimizer are in f's masks)? */
bool emc_cell_field_reads(const emc_cell_field *f, const emc_cell_cfg *c);

/* What f accepts, as a phrase for "expected ...": "a number in (0,
 * 1000000]", "one of sgd, adam, adamw, gd". For a LIST, what one item is.
 * Returns buf. */
char *emc_cell_field_expect(const emc_cell_field *f, char *buf, size_t len);

/* f's value in c as a report shows it: "0.01", "full", "[8,16]",
 * "noisy:0.2", "?" for an enum value with no name. Always NUL-terminated;
 * returns buf. */
char *emc_cell_field_format(const emc_cell_field *f, const emc_cell_cfg *c, char *buf, size_t len);

/* The defaults every spec starts from (documented in docs/spec.md): every
 * row's default, with the family's own keys for the default family (mlp).
 * Zeroes the whole struct first, padding included. */
void emc_cell_cfg_defaults(emc_cell_cfg *c);
/* Set the defaults of the keys that only c->model.family reads (a cnn's
 * layers, a resnet's blocks, a vit's gelu). */
void emc_cell_family_defaults(emc_cell_cfg *c);
/* Zero what c does not read (the rows marked normalize, a data seed not
 * given), so that cells that train alike are equal byte for byte. The
 * replicate seed is kept. */
void emc_cell_normalize(emc_cell_cfg *c);

/* Why emc_cell_check refused a cell: the rows involved, the one to blame
 * first (a range fault has one; a rule between keys names each key it
 * reads, so a caller can point at the one that was written), and the
 * reason without the key. */
typedef struct emc_cell_fault {
	const emc_cell_field *fields[4]; /* NULL-terminated */
	int item;                        /* LIST range fault: the item; else -1 */
	char what[256];
} emc_cell_fault;

/* The one range and consistency check of a cell: every field the cell
 * reads is in its table range, and the rules between fields that the
 * engine needs hold (budget, schedule, channel counts, vit heads). What
 * depends on the input (a patch that divides the image, memory) is left to
 * the engine. Returns 0, or -EINVAL with err = "key: reason" and, if
 * ret_fault is non-NULL, the details. */
int emc_cell_check_fault(const emc_cell_cfg *c, emc_cell_fault *ret_fault, emc_err *err);
int emc_cell_check(const emc_cell_cfg *c, emc_err *err);

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
