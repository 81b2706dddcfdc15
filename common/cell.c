/* cell.c — names, defaults and parameter counts of training procedures.
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

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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

void emc_cell_cfg_defaults(emc_cell_cfg *c)
{
	memset(c, 0, sizeof *c);
	c->model.family = EMC_FAMILY_MLP;
	c->model.activation = EMC_ACT_RELU;
	c->model.n_widths = 1;
	c->model.widths[0] = 32;
	c->optim.name = EMC_OPT_SGD;
	c->optim.lr = 0.01;
	c->optim.momentum = 0.9;
	c->optim.beta1 = 0.9;
	c->optim.beta2 = 0.999;
	c->optim.eps = 1e-8;
	c->optim.batch = 128;
	c->budget.max_epochs = 1000;
	c->budget.plateau_epochs = 50;
	c->budget.plateau_rel = 1e-4;
	c->budget.eval_every = 1;
	c->budget.fit_threshold = 1.0;
	c->labels = EMC_LABELS_TRUE;
}

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
