/* cell.c — names, defaults and parameter counts of training procedures.
 *
 * The parameter count lives here, not in the engine, because the
 * coordinator shows it without building a network. The engine's tests
 * check that the network it builds has exactly this many parameters.
 */
#include "cell.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const family_names[EMC_FAMILY_COUNT] = { "linear", "mlp", "cnn", "resnet", "vit" };
static const char *const activation_names[EMC_ACT_COUNT] = { "relu", "leaky_relu", "gelu",
							     "tanh", "sigmoid",    "linear" };
static const char *const optimizer_names[EMC_OPT_COUNT] = { "sgd", "adam", "adamw", "gd" };
static const char *const labels_names[EMC_LABELS_COUNT] = { "true", "random", "noisy" };
static const char *const inputs_names[EMC_INPUTS_COUNT] = { "true", "permuted", "gaussian" };
static const char *const schedule_names[EMC_SCHEDULE_COUNT] = { "constant", "cosine" };

static const char *const outcome_names[EMC_OUTCOME_COUNT] = { "none", "fit", "no_fit", "failed",
							       "cancelled" };
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

static int64_t dense_params(int64_t in, int64_t out)
{
	return in * out + out; /* weight (out, in) + bias (out) */
}

int64_t emc_model_params(const emc_model_cfg *m, const emc_input_shape *in)
{
	int64_t d = (int64_t)in->channels * in->height * in->width;
	int64_t prev = d, total = 0;

	if (d <= 0 || in->classes < 2 || m->n_widths < 0 || m->n_widths > EMC_MAX_LAYERS)
		return -EINVAL;
	switch (m->family) {
	case EMC_FAMILY_LINEAR:
		return dense_params(d, in->classes);
	case EMC_FAMILY_MLP:
		for (int i = 0; i < m->n_widths; i++) {
			if (m->widths[i] <= 0)
				return -EINVAL;
			total += dense_params(prev, m->widths[i]);
			prev = m->widths[i];
		}
		return total + dense_params(prev, in->classes);
	default:
		return -EINVAL;
	}
}

char *emc_model_describe(const emc_model_cfg *m, char *buf, size_t len)
{
	size_t off;

	if (len == 0)
		return buf;
	off = (size_t)snprintf(buf, len, "%s", emc_family_name(m->family) ? emc_family_name(m->family) : "?");
	if (m->family == EMC_FAMILY_MLP) {
		int n = m->n_widths < 0 ? 0 : m->n_widths > EMC_MAX_LAYERS ? EMC_MAX_LAYERS : m->n_widths;

		if (off < len)
			off += (size_t)snprintf(buf + off, len - off, "[");
		for (int i = 0; i < n && off < len; i++)
			off += (size_t)snprintf(buf + off, len - off, "%s%d", i == 0 ? "" : ",", m->widths[i]);
		if (off < len)
			snprintf(buf + off, len - off, "]");
	}
	return buf;
}
