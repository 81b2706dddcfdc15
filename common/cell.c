/* cell.c — names, the field table, defaults, checks and parameter counts
 * of training procedures.
 *
 * The field table (at the end of the file) is the one description of a
 * cell's parameters: the spec parser reads keys, spellings and ranges from
 * it, the defaults come from it, and emc_cell_check() — the only range and
 * consistency check of a cell — walks it. The spec parser calls that check
 * on every cell it builds, the wire on every cell it receives (and so the
 * store on every cell it reloads), the engine before it trains, so a cell
 * one of them accepts the others accept too. A row's range is therefore
 * what every reader can do; where the engine has a hard limit (64 blocks
 * per stage, 2^20 channels) the row or a rule between rows says so. The
 * check looks only at what a cell reads (its family's model keys, its
 * optimizer's settings): whatever else a cell holds is inert.
 *
 * The parameter count lives here, not in the engine, because the
 * coordinator shows it without building a network. The engine's tests
 * check that the network it builds has exactly this many parameters, so
 * the formulas below follow the "EXACT ARCHITECTURES" contract in cell.h
 * term by term (docs/models.md writes them out for users): PyTorch's
 * trainable-parameter count, batch-norm running statistics excluded.
 *
 * The counts are computed from the description alone, in closed form: a
 * ResNet stage of a million blocks costs no more than one of two. Every
 * product and sum is checked for int64 overflow, and every size knob is
 * bounded by MAX_KNOB, so a description that came from a hostile spec or
 * peer gets -EINVAL, never a wrapped count. The shape's `classes` is used
 * as given: callers that merge classes into super-classes pass the merged
 * number, and the head is sized by it.
 */
#include "cell.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dataset.h" /* the limits of what a dataset may hold */

static const char *const family_names[EMC_FAMILY_COUNT] = { "linear", "mlp", "cnn", "resnet", "vit" };
static const char *const activation_names[EMC_ACT_COUNT] = { "relu", "leaky_relu", "gelu",
							     "tanh", "sigmoid",    "linear" };
static const char *const optimizer_names[EMC_OPT_COUNT] = { "sgd", "adam", "adamw", "gd" };
static const char *const labels_names[EMC_LABELS_COUNT] = { "true", "random", "noisy" };
static const char *const inputs_names[EMC_INPUTS_COUNT] = { "true", "permuted", "gaussian" };
static const char *const schedule_names[EMC_SCHEDULE_COUNT] = { "constant", "cosine" };

static const char *const outcome_names[EMC_OUTCOME_COUNT] = { "none",	   "fit",      "no_fit",
							       "failed",    "cancelled", "preempted" };
static const char *const stop_names[EMC_STOP_COUNT] = { "none",   "fit",	"gradnorm", "plateau",
							"budget", "cancelled", "error" };

static const char *name_of(const char *const *names, int count, int v)
{
	return v >= 0 && v < count ? names[v] : NULL;
}

static int parse_name(const char *const *names, int count, const char *s, int *ret)
{
	for (int i = 0; i < count; i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = i;
			return 0;
		}
	return -EINVAL;
}

const char *emc_family_name(emc_family f)
{
	return name_of(family_names, EMC_FAMILY_COUNT, (int)f);
}

const char *emc_activation_name(emc_activation a)
{
	return name_of(activation_names, EMC_ACT_COUNT, (int)a);
}

const char *emc_optimizer_name(emc_optimizer o)
{
	return name_of(optimizer_names, EMC_OPT_COUNT, (int)o);
}

const char *emc_labels_name(emc_labels l)
{
	return name_of(labels_names, EMC_LABELS_COUNT, (int)l);
}

const char *emc_inputs_name(emc_inputs i)
{
	return name_of(inputs_names, EMC_INPUTS_COUNT, (int)i);
}

const char *emc_schedule_name(emc_schedule s)
{
	return name_of(schedule_names, EMC_SCHEDULE_COUNT, (int)s);
}

const char *emc_outcome_name(emc_outcome o)
{
	return name_of(outcome_names, EMC_OUTCOME_COUNT, (int)o);
}

const char *emc_stop_reason_name(emc_stop_reason r)
{
	return name_of(stop_names, EMC_STOP_COUNT, (int)r);
}

#define DEFINE_PARSE(fn, type, names, count)                 \
	int fn(const char *s, type *ret)                     \
	{                                                    \
		int v, r = parse_name(names, count, s, &v);  \
		if (r == 0)                                  \
			*ret = (type)v;                      \
		return r;                                    \
	}

DEFINE_PARSE(emc_family_parse, emc_family, family_names, EMC_FAMILY_COUNT)
DEFINE_PARSE(emc_activation_parse, emc_activation, activation_names, EMC_ACT_COUNT)
DEFINE_PARSE(emc_optimizer_parse, emc_optimizer, optimizer_names, EMC_OPT_COUNT)
DEFINE_PARSE(emc_labels_parse, emc_labels, labels_names, EMC_LABELS_COUNT)
DEFINE_PARSE(emc_inputs_parse, emc_inputs, inputs_names, EMC_INPUTS_COUNT)
DEFINE_PARSE(emc_schedule_parse, emc_schedule, schedule_names, EMC_SCHEDULE_COUNT)
DEFINE_PARSE(emc_outcome_parse, emc_outcome, outcome_names, EMC_OUTCOME_COUNT)
DEFINE_PARSE(emc_stop_reason_parse, emc_stop_reason, stop_names, EMC_STOP_COUNT)

/* Sizes beyond this are typos or attacks, not models: with every knob at
 * most 2^20 the counts below stay far from int64's range except through
 * the products the overflow checks catch. */
#define MAX_KNOB (1 << 20)

/* Checked int64 arithmetic: once *ok is false it stays false, and the
 * results no longer matter. */
static int64_t mul(int64_t a, int64_t b, bool *ok)
{
	int64_t r;

	if (__builtin_mul_overflow(a, b, &r)) {
		*ok = false;
		return 0;
	}
	return r;
}

static int64_t add(int64_t a, int64_t b, bool *ok)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r)) {
		*ok = false;
		return 0;
	}
	return r;
}

static bool knob_ok(int v)
{
	return v >= 1 && v <= MAX_KNOB;
}

/* nn.Linear(in, out): weight (out, in) + bias (out). */
static int64_t dense_params(int64_t in, int64_t out, bool *ok)
{
	return add(mul(in, out, ok), out, ok);
}

/* A 3x3 convolution, in -> out channels, with or without bias. */
static int64_t conv3_params(int64_t in, int64_t out, bool bias, bool *ok)
{
	return add(mul(mul(9, in, ok), out, ok), bias ? out : 0, ok);
}

/* Conv2d(3x3, bias) -> act -> MaxPool2d(2), L times, channels F·2^i; then
 * a hidden dense layer and the head. The pooling floors, and a map that
 * would shrink to nothing makes the model impossible. */
static int64_t cnn_params(const emc_model_cfg *m, const emc_input_shape *in, bool *ok)
{
	int64_t c_in = in->channels, h = in->height, w = in->width, total = 0;

	if (!knob_ok(m->layers) || !knob_ok(m->filters) || !knob_ok(m->hidden))
		return -EINVAL;
	for (int i = 0; i < m->layers; i++) {
		int64_t c_out;

		h /= 2;
		w /= 2;
		if (h == 0 || w == 0)
			return -EINVAL;
		c_out = mul(m->filters, (int64_t)1 << i, ok); /* i <= 30: h reached 0 before */
		total = add(total, conv3_params(c_in, c_out, true, ok), ok);
		c_in = c_out;
	}
	total = add(total, dense_params(mul(mul(c_in, h, ok), w, ok), m->hidden, ok), ok);
	return add(total, dense_params(m->hidden, in->classes, ok), ok);
}

/* BasicBlock(in, out): two bias-free 3x3 convolutions, each followed by a
 * batch norm (weight and bias: 2·out), plus a 1x1 projection with its own
 * batch norm when the shape changes. */
static int64_t block_params(int64_t in, int64_t out, bool project, bool *ok)
{
	int64_t p = add(conv3_params(in, out, false, ok), 2 * out, ok);

	p = add(p, add(conv3_params(out, out, false, ok), 2 * out, ok), ok);
	if (project)
		p = add(p, add(mul(in, out, ok), 2 * out, ok), ok);
	return p;
}

/* Stem, then one stage per entry of widths[] with W·2^s channels, then a
 * linear head on the globally pooled features. The spatial size never
 * reaches 0 (stride 2 with padding 1 maps 1 to 1) and the count does not
 * depend on it, so any input size works. */
static int64_t resnet_params(const emc_model_cfg *m, const emc_input_shape *in, bool *ok)
{
	int64_t c_in, total;

	if (m->n_widths < 1 || !knob_ok(m->width))
		return -EINVAL;
	total = add(conv3_params(in->channels, m->width, false, ok), 2 * (int64_t)m->width, ok);
	c_in = m->width;
	for (int s = 0; s < m->n_widths; s++) {
		int64_t out = (int64_t)m->width << s; /* s < 16, width <= 2^20 */
		int64_t nb = m->widths[s];
		/* The first block projects when it strides (s > 0) or changes
		 * the channels; the other nb - 1 are identical and identity. */
		bool project = s > 0 || c_in != out;

		if (!knob_ok(m->widths[s]))
			return -EINVAL;
		total = add(total, block_params(c_in, out, project, ok), ok);
		total = add(total, mul(nb - 1, block_params(out, out, false, ok), ok), ok);
		c_in = out;
	}
	return add(total, dense_params(c_in, in->classes, ok), ok);
}

/* Patch embedding, position embedding, L pre-norm blocks, final norm and
 * head. Per block: two LayerNorms (4D), qkv (3D² + 3D), the output
 * projection (D² + D) and the MLP (2rD² + rD + D). */
static int64_t vit_params(const emc_model_cfg *m, const emc_input_shape *in, bool *ok)
{
	int64_t d, r, tokens, block, total;

	if (!knob_ok(m->patch) || !knob_ok(m->dim) || !knob_ok(m->depth) || !knob_ok(m->heads) ||
	    !knob_ok(m->mlp_ratio))
		return -EINVAL;
	if (in->height % m->patch || in->width % m->patch || m->dim % m->heads)
		return -EINVAL;
	d = m->dim;
	r = m->mlp_ratio;
	tokens = (int64_t)(in->height / m->patch) * (in->width / m->patch);
	block = add(mul(mul(4, d, ok), d, ok), mul(mul(2 * r, d, ok), d, ok), ok);
	block = add(block, add(9 * d, mul(r, d, ok), ok), ok);
	total = dense_params(mul(mul(in->channels, m->patch, ok), m->patch, ok), d, ok);
	total = add(total, mul(tokens, d, ok), ok);
	total = add(total, mul(m->depth, block, ok), ok);
	total = add(total, 2 * d, ok);
	return add(total, dense_params(d, in->classes, ok), ok);
}

int64_t emc_model_params(const emc_model_cfg *m, const emc_input_shape *in)
{
	int64_t d, prev, total = 0;
	bool ok = true;

	if (in->channels < 1 || in->height < 1 || in->width < 1 || in->classes < 2 || m->n_widths < 0 ||
	    m->n_widths > EMC_MAX_LAYERS)
		return -EINVAL;
	d = mul(mul(in->channels, in->height, &ok), in->width, &ok);
	switch (m->family) {
	case EMC_FAMILY_LINEAR:
		total = dense_params(d, in->classes, &ok);
		break;
	case EMC_FAMILY_MLP:
		prev = d;
		for (int i = 0; i < m->n_widths; i++) {
			if (m->widths[i] <= 0)
				return -EINVAL;
			total = add(total, dense_params(prev, m->widths[i], &ok), &ok);
			prev = m->widths[i];
		}
		total = add(total, dense_params(prev, in->classes, &ok), &ok);
		break;
	case EMC_FAMILY_CNN:
		total = cnn_params(m, in, &ok);
		break;
	case EMC_FAMILY_RESNET:
		total = resnet_params(m, in, &ok);
		break;
	case EMC_FAMILY_VIT:
		total = vit_params(m, in, &ok);
		break;
	default:
		return -EINVAL;
	}
	return ok ? total : -EINVAL;
}

/* snprintf at *off, never past len; *off may end beyond len (truncated). */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t len, size_t *off, const char *fmt,
							   ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

static void append_list(char *buf, size_t len, size_t *off, const emc_model_cfg *m)
{
	int n = m->n_widths < 0 ? 0 : m->n_widths > EMC_MAX_LAYERS ? EMC_MAX_LAYERS : m->n_widths;

	append(buf, len, off, "[");
	for (int i = 0; i < n; i++)
		append(buf, len, off, "%s%d", i == 0 ? "" : ",", m->widths[i]);
	append(buf, len, off, "]");
}

/* Every knob that changes the network appears, each under a letter, so two
 * different models never share a description: "cnn[L2,F32,H128]",
 * "resnet[2,2,2]x16", "vit[p7,d64,L2,h4,r2]". The activation is a column
 * of its own wherever models are shown, as it is for mlp. */
char *emc_model_describe(const emc_model_cfg *m, char *buf, size_t len)
{
	const char *name = emc_family_name(m->family);
	size_t off = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	append(buf, len, &off, "%s", name ? name : "?");
	switch (m->family) {
	case EMC_FAMILY_MLP:
		append_list(buf, len, &off, m);
		break;
	case EMC_FAMILY_CNN:
		append(buf, len, &off, "[L%d,F%d,H%d]", m->layers, m->filters, m->hidden);
		break;
	case EMC_FAMILY_RESNET:
		append_list(buf, len, &off, m);
		append(buf, len, &off, "x%d", m->width);
		break;
	case EMC_FAMILY_VIT:
		append(buf, len, &off, "[p%d,d%d,L%d,h%d,r%d]", m->patch, m->dim, m->depth, m->heads,
		       m->mlp_ratio);
		break;
	default:
		break;
	}
	return buf;
}

/* ---- the cell field table ------------------------------------------------ */

_Static_assert(sizeof(emc_family) == sizeof(int) && sizeof(emc_activation) == sizeof(int) &&
		       sizeof(emc_optimizer) == sizeof(int) && sizeof(emc_labels) == sizeof(int) &&
		       sizeof(emc_inputs) == sizeof(int) && sizeof(emc_schedule) == sizeof(int),
	       "ENUM rows are read and written as int");

/* The engine's widest layer (NN_MAX_WIDTH in worker/nn/model.h): the
 * channel and width rules below keep every built layer within it. */
#define ENGINE_MAX_WIDTH (1 << 20)
/* A count no sensible campaign exceeds (widths, epochs of patience...);
 * also what the wire carried before the table existed. */
#define MAX_COUNT 1000000

#define FAM(x) EMC_FAMILY_BIT(EMC_FAMILY_##x)
#define OPT(x) EMC_OPT_BIT(EMC_OPT_##x)
#define AT(m) .member = #m, .offset = offsetof(emc_cell_cfg, m)
#define READ_BY(fams, opts) .families = (fams), .optimizers = (opts)
#define EVERYONE READ_BY(EMC_FAMILIES_ALL, EMC_OPTS_ALL)
#define NAMES(a) .names = a, .n_names = (int)(sizeof a / sizeof a[0])
/* A model knob: an int only some families read, zero in the others. */
#define KNOB(k, m, fams, hi, def)                                                                       \
	{ .key = "model." k, AT(model.m), .column = k, .type = EMC_CELL_INT, .imin = 1, .imax = (hi),   \
	  READ_BY(fams, EMC_OPTS_ALL), .normalize = true, .idef = (def) }
#define INT(k, m, col, lo, hi, def)                                                                     \
	{ .key = k, AT(m), .column = col, .type = EMC_CELL_INT, .imin = (lo), .imax = (hi), EVERYONE,    \
	  .idef = (def) }
#define INT64(k, m, col, def)                                                                           \
	{ .key = k, AT(m), .column = col, .type = EMC_CELL_INT64, .imin = 0, .imax = INT64_MAX, EVERYONE, \
	  .idef = (def) }
#define NUM(k, m, col, lo, lo_open_, hi, hi_open_, opts, def)                                           \
	{ .key = k, AT(m), .column = col, .type = EMC_CELL_DOUBLE, .min = (lo), .min_open = (lo_open_),  \
	  .max = (hi), .max_open = (hi_open_), READ_BY(EMC_FAMILIES_ALL, opts), .ddef = (def) }
#define OPEN true
#define CLOSED false
#define ENUM(k, m, col, names, fams, def)                                                               \
	{ .key = k, AT(m), .column = col, .type = EMC_CELL_ENUM, NAMES(names),                           \
	  READ_BY(fams, EMC_OPTS_ALL), .normalize = (fams) != EMC_FAMILIES_ALL, .idef = (def) }

/* The order of this table is the grid order: the first axis varies
 * slowest, the last fastest. The replicate seed has no row: seeds are a
 * campaign's pool, not an axis (spec.h). docs/spec.md documents every row; keep them
 * together. The ranges are what every reader can do: a value the spec
 * accepts trains on every worker and reloads from every store. */
static const emc_cell_field fields[] = {
	ENUM("model.family", model.family, "family", family_names, EMC_FAMILIES_ALL, EMC_FAMILY_MLP),
	/* widths (mlp) and blocks (resnet) share one array: each family reads its own */
	{ .key = "model.widths", .member = "model.widths", .offset = offsetof(emc_cell_cfg, model.n_widths),
	  .aux = offsetof(emc_cell_cfg, model.widths), .column = "widths", .type = EMC_CELL_LIST, .imin = 1,
	  .imax = MAX_COUNT, .min_items = 1, .max_items = EMC_MAX_LAYERS, READ_BY(FAM(MLP), EMC_OPTS_ALL),
	  .normalize = true, .ldef = { 32 }, .n_ldef = 1, .list_noun = "hidden widths",
	  .item_noun = "hidden layers" },
	/* the engine builds at most 64 blocks per stage */
	{ .key = "model.blocks", .member = "model.widths", .offset = offsetof(emc_cell_cfg, model.n_widths),
	  .aux = offsetof(emc_cell_cfg, model.widths), .column = "blocks", .type = EMC_CELL_LIST, .imin = 1,
	  .imax = 64, .min_items = 1, .max_items = EMC_MAX_LAYERS, READ_BY(FAM(RESNET), EMC_OPTS_ALL),
	  .normalize = true, .ldef = { 2, 2, 2 }, .n_ldef = 3, .list_noun = "blocks per stage",
	  .item_noun = "stages" },
	/* each layer halves the image, and no dataset has a side above 2^12
	 * (EMC_DATASET_MAX_DIM = 2^24 values per sample) */
	KNOB("layers", layers, FAM(CNN), 12, 2),
	KNOB("filters", filters, FAM(CNN), MAX_COUNT, 32),
	KNOB("hidden", hidden, FAM(CNN), MAX_COUNT, 128),
	KNOB("width", width, FAM(RESNET), MAX_COUNT, 16),
	KNOB("patch", patch, FAM(VIT), MAX_COUNT, 7),
	KNOB("dim", dim, FAM(VIT), MAX_COUNT, 64),
	KNOB("depth", depth, FAM(VIT), 90, 2), /* the engine's layer limit allows 90 blocks */
	KNOB("heads", heads, FAM(VIT), MAX_COUNT, 4),
	KNOB("mlp_ratio", mlp_ratio, FAM(VIT), MAX_COUNT, 2),
	/* a linear model has no activation (vit's default, gelu, is in emc_cell_family_defaults) */
	ENUM("model.activation", model.activation, "activation", activation_names,
	     EMC_FAMILIES_ALL & ~FAM(LINEAR), EMC_ACT_RELU),
	ENUM("optimizer.name", optim.name, "optimizer", optimizer_names, EMC_FAMILIES_ALL, EMC_OPT_SGD),
	NUM("optimizer.lr", optim.lr, "lr", 0, OPEN, 1e6, CLOSED, EMC_OPTS_ALL, 0.01),
	NUM("optimizer.momentum", optim.momentum, "momentum", 0, CLOSED, 1, OPEN, OPT(SGD) | OPT(GD), 0.9),
	{ .key = "optimizer.nesterov", AT(optim.nesterov), .column = "nesterov", .type = EMC_CELL_BOOL,
	  READ_BY(EMC_FAMILIES_ALL, OPT(SGD) | OPT(GD)) },
	NUM("optimizer.weight_decay", optim.weight_decay, "weight_decay", 0, CLOSED, 1e6, CLOSED, EMC_OPTS_ALL, 0),
	NUM("optimizer.beta1", optim.beta1, "beta1", 0, CLOSED, 1, OPEN, OPT(ADAM) | OPT(ADAMW), 0.9),
	NUM("optimizer.beta2", optim.beta2, "beta2", 0, CLOSED, 1, OPEN, OPT(ADAM) | OPT(ADAMW), 0.999),
	NUM("optimizer.eps", optim.eps, "eps", 0, OPEN, 1, CLOSED, OPT(ADAM) | OPT(ADAMW), 1e-8),
	/* a batch larger than the subset is the whole subset; no subset is larger than a dataset */
	{ .key = "optimizer.batch", AT(optim.batch), .column = "batch", .type = EMC_CELL_INT, .imin = 1,
	  .imax = EMC_DATASET_MAX_SAMPLES, .zero = "the whole subset", .zero_word = "full",
	  READ_BY(EMC_FAMILIES_ALL, OPT(SGD) | OPT(ADAM) | OPT(ADAMW)), .normalize = true, .idef = 128 },
	ENUM("optimizer.schedule", optim.schedule, "schedule", schedule_names, EMC_FAMILIES_ALL,
	     EMC_SCHEDULE_CONSTANT),
	INT("optimizer.warmup_epochs", optim.warmup_epochs, "warmup_epochs", 0, MAX_COUNT, 0),
	{ .key = "variant.labels", .member = "labels", .offset = offsetof(emc_cell_cfg, labels),
	  .aux = offsetof(emc_cell_cfg, label_noise), .column = "labels", .type = EMC_CELL_LABELS,
	  NAMES(labels_names), .min = 0, .min_open = true, .max = 1, EVERYONE, .idef = EMC_LABELS_TRUE },
	ENUM("variant.inputs", inputs, "inputs", inputs_names, EMC_FAMILIES_ALL, EMC_INPUTS_TRUE),
	{ .key = "variant.classes", AT(classes), .column = "classes", .type = EMC_CELL_INT, .imin = 2,
	  .imax = EMC_DATASET_MAX_CLASSES, .zero = "the dataset's classes", EVERYONE },
	/* given, it fixes the variant's randomness for every trial; else each
	 * trial's replicate seed draws it (subset.h) */
	{ .key = "variant.data_seed", AT(data_seed), .aux = offsetof(emc_cell_cfg, data_seed_fixed),
	  .column = "data_seed", .type = EMC_CELL_SEED, .zero_word = "replicate", EVERYONE },
	INT64("budget.max_epochs", budget.max_epochs, "max_epochs", 1000),
	INT64("budget.max_steps", budget.max_steps, "max_steps", 0),
	NUM("budget.max_seconds", budget.max_seconds, "max_seconds", 0, CLOSED, 1e9, CLOSED, EMC_OPTS_ALL, 0),
	INT("budget.plateau_epochs", budget.plateau_epochs, "plateau_epochs", 0, MAX_COUNT, 50),
	/* a relative improvement of 1 or more is no test at all */
	NUM("budget.plateau_rel", budget.plateau_rel, "plateau_rel", 0, CLOSED, 1, OPEN, EMC_OPTS_ALL, 1e-4),
	INT("budget.eval_every", budget.eval_every, "eval_every", 1, MAX_COUNT, 1),
	NUM("budget.fit_threshold", budget.fit_threshold, "fit_threshold", 0, OPEN, 1, CLOSED, EMC_OPTS_ALL, 1.0),
	NUM("budget.grad_tol", budget.grad_tol, "grad_tol", 0, CLOSED, 1e9, CLOSED, EMC_OPTS_ALL, 0),
	{ .key = "budget.hessian", AT(budget.hessian), .column = "hessian", .type = EMC_CELL_BOOL, EVERYONE },
};

#define N_FIELDS ((int)(sizeof fields / sizeof fields[0]))
_Static_assert(sizeof fields / sizeof fields[0] <= EMC_CELL_MAX_FIELDS, "raise EMC_CELL_MAX_FIELDS");

const emc_cell_field *emc_cell_fields(int *ret_n)
{
	*ret_n = N_FIELDS;
	return fields;
}

const emc_cell_field *emc_cell_field_find(const char *key)
{
	for (int i = 0; i < N_FIELDS; i++)
		if (strcmp(fields[i].key, key) == 0)
			return &fields[i];
	return NULL;
}

/* The row's storage, as the type it has. */
#define SLOT(type, c, off) ((type *)(void *)((char *)(c) + (off)))
#define CSLOT(type, c, off) ((const type *)(const void *)((const char *)(c) + (off)))

void emc_cell_field_get(const emc_cell_field *f, const emc_cell_cfg *c, emc_cell_value *ret)
{
	emc_cell_value v;

	memset(&v, 0, sizeof v);
	switch (f->type) {
	case EMC_CELL_INT:
	case EMC_CELL_ENUM:
		v.i = *CSLOT(int, c, f->offset);
		break;
	case EMC_CELL_INT64:
		v.i = *CSLOT(int64_t, c, f->offset);
		break;
	case EMC_CELL_UINT64:
		v.u = *CSLOT(uint64_t, c, f->offset);
		break;
	case EMC_CELL_SEED:
		v.u = *CSLOT(uint64_t, c, f->offset);
		v.i = *CSLOT(bool, c, f->aux);
		break;
	case EMC_CELL_DOUBLE:
		v.d = *CSLOT(double, c, f->offset);
		break;
	case EMC_CELL_BOOL:
		v.i = *CSLOT(bool, c, f->offset);
		break;
	case EMC_CELL_LIST:
		v.n = *CSLOT(int, c, f->offset);
		memcpy(v.items, CSLOT(int, c, f->aux), sizeof v.items);
		break;
	case EMC_CELL_LABELS:
		v.i = *CSLOT(int, c, f->offset);
		v.d = *CSLOT(double, c, f->aux);
		break;
	}
	*ret = v;
}

void emc_cell_field_set(const emc_cell_field *f, emc_cell_cfg *c, const emc_cell_value *v)
{
	switch (f->type) {
	case EMC_CELL_INT:
	case EMC_CELL_ENUM:
		*SLOT(int, c, f->offset) = (int)v->i;
		break;
	case EMC_CELL_INT64:
		*SLOT(int64_t, c, f->offset) = v->i;
		break;
	case EMC_CELL_UINT64:
		*SLOT(uint64_t, c, f->offset) = v->u;
		break;
	case EMC_CELL_SEED:
		*SLOT(uint64_t, c, f->offset) = v->u;
		*SLOT(bool, c, f->aux) = v->i != 0;
		break;
	case EMC_CELL_DOUBLE:
		*SLOT(double, c, f->offset) = v->d;
		break;
	case EMC_CELL_BOOL:
		*SLOT(bool, c, f->offset) = v->i != 0;
		break;
	case EMC_CELL_LIST:
		*SLOT(int, c, f->offset) = v->n;
		memcpy(SLOT(int, c, f->aux), v->items, sizeof v->items);
		break;
	case EMC_CELL_LABELS:
		*SLOT(int, c, f->offset) = (int)v->i;
		*SLOT(double, c, f->aux) = v->d;
		break;
	}
}

/* Written so that NaN is outside every range. */
static bool num_ok(const emc_cell_field *f, double x)
{
	if (f->min_open ? !(x > f->min) : !(x >= f->min))
		return false;
	return f->max_open ? x < f->max : x <= f->max;
}

bool emc_cell_item_ok(const emc_cell_field *f, int64_t x)
{
	return x >= f->imin && x <= f->imax;
}

bool emc_cell_value_ok(const emc_cell_field *f, const emc_cell_value *v)
{
	switch (f->type) {
	case EMC_CELL_INT:
	case EMC_CELL_INT64:
		return (v->i >= f->imin && v->i <= f->imax) || (f->zero && v->i == 0);
	case EMC_CELL_UINT64:
	case EMC_CELL_BOOL:
	case EMC_CELL_SEED:
		return true;
	case EMC_CELL_DOUBLE:
		return num_ok(f, v->d);
	case EMC_CELL_ENUM:
		return v->i >= 0 && v->i < f->n_names;
	case EMC_CELL_LIST:
		if (v->n < f->min_items || v->n > f->max_items)
			return false;
		for (int i = 0; i < v->n; i++)
			if (!emc_cell_item_ok(f, v->items[i]))
				return false;
		return true;
	case EMC_CELL_LABELS:
		if (v->i < 0 || v->i >= f->n_names)
			return false;
		return v->i != EMC_LABELS_NOISY || num_ok(f, v->d);
	}
	return false;
}

bool emc_cell_field_reads(const emc_cell_field *f, const emc_cell_cfg *c)
{
	unsigned fam = (unsigned)c->model.family, opt = (unsigned)c->optim.name;
	bool by_family = f->families == EMC_FAMILIES_ALL ||
			 (fam < EMC_FAMILY_COUNT && (f->families & EMC_FAMILY_BIT(fam)));
	bool by_optimizer = f->optimizers == EMC_OPTS_ALL ||
			    (opt < EMC_OPT_COUNT && (f->optimizers & EMC_OPT_BIT(opt)));

	return by_family && by_optimizer;
}

/* A bound as people write it: 1000000, not 1e+06. */
static void append_num(char *buf, size_t len, size_t *off, double x)
{
	if (x == (double)(int64_t)x && fabs(x) < 1e15)
		append(buf, len, off, "%lld", (long long)x);
	else
		append(buf, len, off, "%g", x);
}

static void append_range(char *buf, size_t len, size_t *off, const emc_cell_field *f)
{
	append(buf, len, off, "%c", f->min_open ? '(' : '[');
	append_num(buf, len, off, f->min);
	append(buf, len, off, ", ");
	append_num(buf, len, off, f->max);
	append(buf, len, off, "%c", f->max_open ? ')' : ']');
}

/* "a or b", "a, b or c", "one of a, b, c, d": as the spec has always
 * said it. */
static void append_names(char *buf, size_t len, size_t *off, const emc_cell_field *f)
{
	int n = f->n_names;

	if (n >= 4)
		append(buf, len, off, "one of ");
	for (int i = 0; i < n; i++)
		append(buf, len, off, "%s%s", i == 0 ? "" : n >= 4 || i < n - 1 ? ", " : " or ", f->names[i]);
}

static void append_int_range(char *buf, size_t len, size_t *off, const emc_cell_field *f)
{
	if (f->imax == INT64_MAX)
		append(buf, len, off, "an integer >= %lld", (long long)f->imin);
	else
		append(buf, len, off, "an integer in [%lld, %lld]", (long long)f->imin, (long long)f->imax);
}

char *emc_cell_field_expect(const emc_cell_field *f, char *buf, size_t len)
{
	size_t off = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	switch (f->type) {
	case EMC_CELL_INT:
	case EMC_CELL_INT64:
	case EMC_CELL_LIST:
		if (f->zero && !f->zero_word)
			append(buf, len, &off, "0 (%s) or ", f->zero);
		append_int_range(buf, len, &off, f);
		if (f->zero_word)
			append(buf, len, &off, " or %s", f->zero_word);
		break;
	case EMC_CELL_UINT64:
		append(buf, len, &off, "an integer >= 0");
		break;
	case EMC_CELL_SEED:
		append(buf, len, &off, "an integer >= 0 or %s", f->zero_word);
		break;
	case EMC_CELL_DOUBLE:
		append(buf, len, &off, "a number in ");
		append_range(buf, len, &off, f);
		break;
	case EMC_CELL_BOOL:
		append(buf, len, &off, "true or false");
		break;
	case EMC_CELL_ENUM:
		append_names(buf, len, &off, f);
		break;
	case EMC_CELL_LABELS:
		for (int i = 0, k = 0; i < f->n_names; i++)
			if (i != EMC_LABELS_NOISY)
				append(buf, len, &off, "%s%s", k++ ? ", " : "", f->names[i]);
		append(buf, len, &off, " or noisy:P with ");
		append_num(buf, len, &off, f->min);
		append(buf, len, &off, " %s P %s ", f->min_open ? "<" : "<=", f->max_open ? "<" : "<=");
		append_num(buf, len, &off, f->max);
		break;
	}
	return buf;
}

static const char *name_or(const emc_cell_field *f, int64_t v)
{
	return v >= 0 && v < f->n_names ? f->names[v] : "?";
}

char *emc_cell_field_format(const emc_cell_field *f, const emc_cell_cfg *c, char *buf, size_t len)
{
	emc_cell_value v;
	size_t off = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	emc_cell_field_get(f, c, &v);
	switch (f->type) {
	case EMC_CELL_INT:
	case EMC_CELL_INT64:
		if (v.i == 0 && f->zero_word)
			append(buf, len, &off, "%s", f->zero_word);
		else
			append(buf, len, &off, "%lld", (long long)v.i);
		break;
	case EMC_CELL_UINT64:
		append(buf, len, &off, "%llu", (unsigned long long)v.u);
		break;
	case EMC_CELL_SEED:
		if (v.i)
			append(buf, len, &off, "%llu", (unsigned long long)v.u);
		else
			append(buf, len, &off, "%s", f->zero_word);
		break;
	case EMC_CELL_DOUBLE:
		append(buf, len, &off, "%g", v.d);
		break;
	case EMC_CELL_BOOL:
		append(buf, len, &off, "%s", v.i ? "true" : "false");
		break;
	case EMC_CELL_ENUM:
		append(buf, len, &off, "%s", name_or(f, v.i));
		break;
	case EMC_CELL_LIST:
		append(buf, len, &off, "[");
		for (int i = 0; i < v.n && i < EMC_MAX_LAYERS; i++)
			append(buf, len, &off, "%s%d", i == 0 ? "" : ",", v.items[i]);
		append(buf, len, &off, "]");
		break;
	case EMC_CELL_LABELS:
		append(buf, len, &off, "%s", name_or(f, v.i));
		if (v.i == EMC_LABELS_NOISY)
			append(buf, len, &off, ":%g", v.d);
		break;
	}
	return buf;
}

static void set_default(const emc_cell_field *f, emc_cell_cfg *c)
{
	emc_cell_value v;

	memset(&v, 0, sizeof v);
	v.i = f->idef;
	v.d = f->ddef;
	v.n = f->n_ldef;
	memcpy(v.items, f->ldef, sizeof f->ldef);
	emc_cell_field_set(f, c, &v);
}

void emc_cell_cfg_defaults(emc_cell_cfg *c)
{
	memset(c, 0, sizeof *c);
	for (int i = 0; i < N_FIELDS; i++)
		if (fields[i].families == EMC_FAMILIES_ALL)
			set_default(&fields[i], c);
	emc_cell_family_defaults(c);
}

void emc_cell_family_defaults(emc_cell_cfg *c)
{
	for (int i = 0; i < N_FIELDS; i++)
		if (fields[i].families != EMC_FAMILIES_ALL && emc_cell_field_reads(&fields[i], c))
			set_default(&fields[i], c);
	/* The one key whose default depends on the family: transformers are
	 * trained with gelu. An explicit model.activation overrides it. */
	if (c->model.family == EMC_FAMILY_VIT)
		c->model.activation = EMC_ACT_GELU;
}

void emc_cell_normalize(emc_cell_cfg *c)
{
	emc_cell_cfg keep;

	/* Rebuilt from zero, so that the padding and whatever no row covers
	 * are zero too; a row that shares storage with another (widths,
	 * blocks) survives if either is read. */
	memset(&keep, 0, sizeof keep);
	for (int i = 0; i < N_FIELDS; i++) {
		const emc_cell_field *f = &fields[i];
		emc_cell_value v;

		if (f->normalize && !emc_cell_field_reads(f, c))
			continue;
		emc_cell_field_get(f, c, &v);
		if (f->type == EMC_CELL_LABELS && v.i != EMC_LABELS_NOISY)
			v.d = 0; /* the fraction means something only for noisy labels */
		if (f->type == EMC_CELL_SEED && !v.i)
			v.u = 0; /* a seed not given is drawn per trial: its value is nothing */
		emc_cell_field_set(f, &keep, &v);
	}
	keep.seed = c->seed; /* no row: the trial's, not the procedure's */
	memcpy(c, &keep, sizeof keep);
}

/* ---- rules between fields ---------------------------------------------------
 *
 * What the engine needs of several fields together, and can know without
 * the data. A rule runs only once every field is in range; on failure it
 * writes why (without a key) and the check names its keys, the first one
 * foremost. */

typedef struct rule {
	const char *keys[4];
	bool (*holds)(const emc_cell_cfg *c, char *what, size_t len);
} rule;

#define SAY(...) (snprintf(what, len, __VA_ARGS__), false)

static bool budget_ends(const emc_cell_cfg *c, char *what, size_t len)
{
	const emc_budget_cfg *b = &c->budget;

	if (b->max_epochs > 0 || b->max_steps > 0 || b->max_seconds > 0)
		return true;
	return SAY("at least one of max_epochs, max_steps and max_seconds must be > 0");
}

static bool cosine_has_steps(const emc_cell_cfg *c, char *what, size_t len)
{
	if (c->optim.schedule != EMC_SCHEDULE_COSINE || c->budget.max_epochs > 0 || c->budget.max_steps > 0)
		return true;
	return SAY("cosine decays over the budget's steps, but the budget sets only max_seconds; set "
		   "budget.max_steps or budget.max_epochs");
}

/* The epochs bound the steps whatever n is, so this much is known now. */
static bool cosine_after_warmup(const emc_cell_cfg *c, char *what, size_t len)
{
	if (c->optim.schedule != EMC_SCHEDULE_COSINE || c->budget.max_epochs == 0 ||
	    c->optim.warmup_epochs < c->budget.max_epochs)
		return true;
	return SAY("%d epochs of warm-up leave none of the %lld-epoch budget for the cosine", c->optim.warmup_epochs,
		   (long long)c->budget.max_epochs);
}

static bool nesterov_has_momentum(const emc_cell_cfg *c, char *what, size_t len)
{
	bool reads = c->optim.name == EMC_OPT_SGD || c->optim.name == EMC_OPT_GD;

	if (!reads || !c->optim.nesterov || c->optim.momentum > 0)
		return true;
	return SAY("needs optimizer.momentum > 0");
}

/* Only for the family that reads the field: another family's layers or
 * widths may be 0, and a shift by -1 is undefined. */
static bool cnn_channels(const emc_cell_cfg *c, char *what, size_t len)
{
	int64_t ch;

	if (c->model.family != EMC_FAMILY_CNN || c->model.layers < 1)
		return true;
	ch = (int64_t)c->model.filters << (c->model.layers - 1);
	if (ch <= ENGINE_MAX_WIDTH)
		return true;
	return SAY("cnn: the last convolution has filters * 2^(layers - 1) = %lld channels, more than %d",
		   (long long)ch, ENGINE_MAX_WIDTH);
}

static bool resnet_channels(const emc_cell_cfg *c, char *what, size_t len)
{
	int64_t ch;

	if (c->model.family != EMC_FAMILY_RESNET || c->model.n_widths < 1)
		return true;
	ch = (int64_t)c->model.width << (c->model.n_widths - 1);
	if (ch <= ENGINE_MAX_WIDTH)
		return true;
	return SAY("resnet: the last stage has width * 2^(stages - 1) = %lld channels, more than %d",
		   (long long)ch, ENGINE_MAX_WIDTH);
}

/* The engine builds at most 1024 layers (NN_MAX_OPS). A resnet is the
 * stem (conv, norm, act), 7 per basic block (conv, norm, act, conv, norm,
 * add, act), 2 more for the projection that opens every stage after the
 * first, and the head (pool, dense): test_celltable holds the engine to
 * this count at its edge. */
#define ENGINE_MAX_LAYERS 1024

static bool resnet_blocks(const emc_cell_cfg *c, char *what, size_t len)
{
	int64_t blocks = 0, layers;

	if (c->model.family != EMC_FAMILY_RESNET)
		return true;
	for (int i = 0; i < c->model.n_widths; i++)
		blocks += c->model.widths[i];
	layers = 3 + 7 * blocks + 2 * (c->model.n_widths - 1) + 2;
	if (layers <= ENGINE_MAX_LAYERS)
		return true;
	return SAY("resnet: %lld blocks in %d stages make %lld layers, more than the %d the engine builds",
		   (long long)blocks, c->model.n_widths, (long long)layers, ENGINE_MAX_LAYERS);
}

static bool vit_heads(const emc_cell_cfg *c, char *what, size_t len)
{
	if (c->model.family != EMC_FAMILY_VIT || c->model.dim % c->model.heads == 0)
		return true;
	return SAY("vit: heads (%d) must divide dim (%d)", c->model.heads, c->model.dim);
}

static bool vit_mlp(const emc_cell_cfg *c, char *what, size_t len)
{
	int64_t w = (int64_t)c->model.mlp_ratio * c->model.dim;

	if (c->model.family != EMC_FAMILY_VIT || w <= ENGINE_MAX_WIDTH)
		return true;
	return SAY("vit: the MLP is mlp_ratio * dim = %lld wide, more than %d", (long long)w, ENGINE_MAX_WIDTH);
}

static const rule rules[] = {
	{ { "budget.max_epochs", "budget.max_steps", "budget.max_seconds" }, budget_ends },
	{ { "optimizer.schedule", "budget.max_epochs", "budget.max_steps" }, cosine_has_steps },
	{ { "optimizer.warmup_epochs", "budget.max_epochs", "optimizer.schedule" }, cosine_after_warmup },
	{ { "optimizer.nesterov", "optimizer.momentum" }, nesterov_has_momentum },
	{ { "model.filters", "model.layers" }, cnn_channels },
	{ { "model.width", "model.blocks" }, resnet_channels },
	{ { "model.blocks", "model.width" }, resnet_blocks },
	{ { "model.heads", "model.dim" }, vit_heads },
	{ { "model.mlp_ratio", "model.dim" }, vit_mlp },
};

/* A field out of its range: which item, and why. */
static void range_fault(const emc_cell_field *f, const emc_cell_cfg *c, const emc_cell_value *v,
			emc_cell_fault *ft)
{
	char expect[128], got[64];

	emc_cell_field_expect(f, expect, sizeof expect);
	if (f->type == EMC_CELL_LIST && v->n >= f->min_items && v->n <= f->max_items) {
		for (int i = 0; i < v->n; i++)
			if (!emc_cell_item_ok(f, v->items[i])) {
				ft->item = i;
				snprintf(ft->what, sizeof ft->what, "expected %s, got %d (cell.%s[%d])", expect,
					 v->items[i], f->member, i);
				return;
			}
	}
	if (f->type == EMC_CELL_LIST) {
		snprintf(ft->what, sizeof ft->what, "expected %d to %d %s, got %d (cell.%s)", f->min_items,
			 f->max_items, f->item_noun, v->n, f->member);
		return;
	}
	if (f->type == EMC_CELL_ENUM || f->type == EMC_CELL_LABELS) {
		if (v->i < 0 || v->i >= f->n_names)
			snprintf(got, sizeof got, "the value %lld", (long long)v->i);
		else
			snprintf(got, sizeof got, "%s:%g", f->names[v->i], v->d);
	} else {
		emc_cell_field_format(f, c, got, sizeof got);
	}
	snprintf(ft->what, sizeof ft->what, "expected %s, got %s (cell.%s)", expect, got, f->member);
}

int emc_cell_check_fault(const emc_cell_cfg *c, emc_cell_fault *ret_fault, emc_err *err)
{
	emc_cell_fault ft;

	memset(&ft, 0, sizeof ft);
	ft.item = -1;
	for (int i = 0; i < N_FIELDS; i++) {
		const emc_cell_field *f = &fields[i];
		emc_cell_value v;

		if (!emc_cell_field_reads(f, c))
			continue;
		emc_cell_field_get(f, c, &v);
		if (emc_cell_value_ok(f, &v))
			continue;
		ft.fields[0] = f;
		range_fault(f, c, &v, &ft);
		goto fail;
	}
	for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
		if (rules[i].holds(c, ft.what, sizeof ft.what))
			continue;
		for (int k = 0; k < 3 && rules[i].keys[k]; k++)
			ft.fields[k] = emc_cell_field_find(rules[i].keys[k]);
		goto fail;
	}
	return 0;
fail:
	assert(ft.fields[0]); /* a rule names keys of the table */
	if (ret_fault)
		*ret_fault = ft;
	if (ft.item >= 0)
		return emc_err_set(err, -EINVAL, "%s[%d]: %s", ft.fields[0]->key, ft.item, ft.what);
	return emc_err_set(err, -EINVAL, "%s: %s", ft.fields[0]->key, ft.what);
}

int emc_cell_check(const emc_cell_cfg *c, emc_err *err)
{
	return emc_cell_check_fault(c, NULL, err);
}
