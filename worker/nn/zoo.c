/* zoo.c — the model families: linear, MLP, simple CNN, ResNet, ViT.
 *
 * Each family is written as the sequence of PyTorch modules cell.h lists,
 * one builder call per module, so the code reads like the contract it must
 * match (and emc_model_params counts the same parameters; the tests check
 * every family against it). The builders append an operation, give it its
 * parameters (consecutive in the parameter vector, weight then bias, in
 * module order — the order initialisation draws in) and return the value
 * it writes.
 *
 * Two liberties that change no function the network can compute: data are
 * NHWC inside the network, so Flatten is a reshape and the first Linear
 * after it sees the features in (h, w, c) rather than (c, h, w) order (a
 * fixed permutation of its weight's columns); and an activation whose
 * derivative its output determines is fused into the Linear or Conv2d
 * before it (gelu stays a separate step, as its backward needs the input).
 *
 * Descriptions come from specs: every size is checked here and a bad one is
 * refused with the field named, never asserted.
 */
#include "zoo.h"

#include <errno.h>
#include <string.h>

/* Largest value per sample (floats), so rows_cap · size fits easily. */
#define MAX_VALUE_FLOATS ((size_t)1 << 28)

typedef struct builder {
	nn_model *m;
	emc_err *err;
	int r; /* first error, sticky: builders after it do nothing */
} builder;

static size_t take(nn_model *m, size_t n)
{
	size_t off = m->n_params;

	m->n_params += n;
	return off;
}

/* Append op (its in[] and kind filled) writing a new value of shape
 * (h, w, c); returns the value, or -1 after an error. */
static int push(builder *bd, nn_op *op, int h, int w, int c)
{
	nn_model *m = bd->m;
	nn_value *v;

	if (bd->r < 0)
		return -1;
	if (m->n_ops >= NN_MAX_OPS) {
		bd->r = emc_err_set(bd->err, -EINVAL, "model: more than %d layers; make it shallower", NN_MAX_OPS);
		return -1;
	}
	if (h < 1 || w < 1 || c < 1 || (size_t)h * w * c > MAX_VALUE_FLOATS) {
		bd->r = emc_err_set(bd->err, -EINVAL, "model: a layer's output of %dx%dx%d values is too large", h,
				    w, c);
		return -1;
	}
	op->out = m->n_vals;
	for (int j = 0; j < 2; j++)
		if (op->in[j] >= 0)
			m->vals[op->in[j]].consumers++;
	op->gtmp[0] = op->gtmp[1] = NN_NONE;
	m->ops[m->n_ops] = *op;
	v = &m->vals[m->n_vals];
	*v = (nn_value){ .h = h, .w = w, .c = c, .size = (size_t)h * w * c, .producer = m->n_ops };
	m->n_ops++;
	return m->n_vals++;
}

static nn_op op_of(nn_op_kind kind, int in)
{
	return (nn_op){ .kind = kind, .in = { in, -1 }, .act = EMC_ACT_LINEAR, .w = NN_NONE, .b = NN_NONE };
}

static int act(builder *bd, int x, emc_activation a)
{
	nn_op op = op_of(NN_OP_ACT, x);
	const nn_value *v;

	if (a == EMC_ACT_LINEAR || bd->r < 0)
		return x;
	v = &bd->m->vals[x];
	op.act = a;
	return push(bd, &op, v->h, v->w, v->c);
}

/* Linear(in, out) + act. per_token: applied to each of the h·w rows of a
 * sample (ViT); else to the whole sample flattened. */
static int dense(builder *bd, int x, int out, bool per_token, emc_activation a)
{
	nn_model *m = bd->m;
	nn_op op = op_of(NN_OP_DENSE, x);
	const nn_value *v;
	int y;

	if (bd->r < 0)
		return -1;
	v = &m->vals[x];
	op.tokens = per_token ? v->h * v->w : 1;
	op.fin = per_token ? v->c : (int)v->size;
	op.fout = out;
	op.fan_in = (size_t)op.fin;
	op.act = nn_act_from_output(a) ? a : EMC_ACT_LINEAR;
	op.nw = (size_t)out * op.fin;
	op.nb = (size_t)out;
	op.w = take(m, op.nw);
	op.b = take(m, op.nb);
	y = per_token ? push(bd, &op, v->h, v->w, out) : push(bd, &op, 1, 1, out);
	return nn_act_from_output(a) ? y : act(bd, y, a);
}

/* Conv2d(c, out, k, stride, pad, bias) + act. */
static int conv(builder *bd, int x, int out, int k, int stride, int pad, bool bias, emc_activation a)
{
	nn_model *m = bd->m;
	nn_op op = op_of(NN_OP_CONV, x);
	const nn_value *v;
	int y;

	if (bd->r < 0)
		return -1;
	v = &m->vals[x];
	if (!nn_conv_setup(&op.conv, v->c, v->h, v->w, out, k, stride, pad, x == 0)) {
		bd->r = emc_err_set(bd->err, -EINVAL, "model: a %dx%d convolution does not fit a %dx%d input", k,
				    k, v->h, v->w);
		return -1;
	}
	if (op.conv.tile > m->rows_cap)
		op.conv.tile = m->rows_cap; /* no chunk has more samples */
	op.act = nn_act_from_output(a) ? a : EMC_ACT_LINEAR;
	op.fan_in = (size_t)v->c * k * k;
	op.nw = (size_t)out * op.fan_in;
	op.w = take(m, op.nw);
	if (bias) {
		op.nb = (size_t)out;
		op.b = take(m, op.nb);
	}
	y = push(bd, &op, op.conv.ho, op.conv.wo, out);
	return nn_act_from_output(a) ? y : act(bd, y, a);
}

static int pool(builder *bd, int x, nn_op_kind kind, const char *field)
{
	nn_op op = op_of(kind, x);
	const nn_value *v;

	if (bd->r < 0)
		return -1;
	v = &bd->m->vals[x];
	if (v->h < 2 || v->w < 2) {
		bd->r = emc_err_set(bd->err, -EINVAL, "%s: too many poolings: a %dx%d map cannot be halved", field,
				    v->h, v->w);
		return -1;
	}
	return push(bd, &op, v->h / 2, v->w / 2, v->c);
}

static int norm(builder *bd, int x, nn_op_kind kind)
{
	nn_op op = op_of(kind, x);
	const nn_value *v;

	if (bd->r < 0)
		return -1;
	v = &bd->m->vals[x];
	op.nw = op.nb = (size_t)v->c;
	op.w = take(bd->m, op.nw);
	op.b = take(bd->m, op.nb);
	return push(bd, &op, v->h, v->w, v->c);
}

static int add(builder *bd, int a, int b)
{
	nn_op op = op_of(NN_OP_ADD, a);
	const nn_value *v;

	if (bd->r < 0)
		return -1;
	op.in[1] = b;
	v = &bd->m->vals[a];
	return push(bd, &op, v->h, v->w, v->c);
}

static int gap(builder *bd, int x)
{
	nn_op op = op_of(NN_OP_GAP, x);

	if (bd->r < 0)
		return -1;
	return push(bd, &op, 1, 1, bd->m->vals[x].c);
}

static int posadd(builder *bd, int x)
{
	nn_op op = op_of(NN_OP_POSADD, x);
	const nn_value *v;

	if (bd->r < 0)
		return -1;
	v = &bd->m->vals[x];
	op.nw = v->size;
	op.w = take(bd->m, op.nw);
	return push(bd, &op, v->h, v->w, v->c);
}

static int attention(builder *bd, int qkv, int heads)
{
	nn_op op = op_of(NN_OP_ATTN, qkv);
	const nn_value *v;

	if (bd->r < 0)
		return -1;
	v = &bd->m->vals[qkv];
	op.heads = heads;
	return push(bd, &op, v->h, v->w, v->c / 3);
}

static int check_width(emc_err *err, const char *field, int64_t w)
{
	if (w < 1 || w > NN_MAX_WIDTH)
		return emc_err_set(err, -EINVAL, "%s: %lld is not in [1, %d]", field, (long long)w, NN_MAX_WIDTH);
	return 0;
}

static int build_mlp(builder *bd, const emc_model_cfg *c)
{
	int x = 0;

	if (c->family == EMC_FAMILY_MLP) {
		if (c->n_widths < 0 || c->n_widths > EMC_MAX_LAYERS)
			return emc_err_set(bd->err, -EINVAL, "model.widths: %d hidden layers, the limit is %d",
					   c->n_widths, EMC_MAX_LAYERS);
		for (int i = 0; i < c->n_widths; i++) {
			char field[32];

			snprintf(field, sizeof field, "model.widths[%d]", i);
			if (check_width(bd->err, field, c->widths[i]) < 0)
				return -EINVAL;
			x = dense(bd, x, c->widths[i], false, c->activation);
		}
	}
	dense(bd, x, bd->m->classes, false, EMC_ACT_LINEAR);
	return bd->r;
}

static int build_cnn(builder *bd, const emc_model_cfg *c)
{
	int x = 0;

	if (c->layers < 1 || c->layers > 30)
		return emc_err_set(bd->err, -EINVAL, "model.layers: %d is not in [1, 30]", c->layers);
	if (check_width(bd->err, "model.filters", c->filters) < 0 ||
	    check_width(bd->err, "model.filters", (int64_t)c->filters << (c->layers - 1)) < 0 ||
	    check_width(bd->err, "model.hidden", c->hidden) < 0)
		return -EINVAL;
	for (int i = 0; i < c->layers; i++) {
		x = conv(bd, x, c->filters << i, 3, 1, 1, true, c->activation);
		x = pool(bd, x, NN_OP_MAXPOOL, "model.layers");
	}
	x = dense(bd, x, c->hidden, false, c->activation);
	dense(bd, x, bd->m->classes, false, EMC_ACT_LINEAR);
	return bd->r;
}

/* BasicBlock(in, out, stride): two 3×3 convolutions with batch norm, and a
 * projection on the shortcut when the shape changes. */
static int basic_block(builder *bd, int x, int out, int stride, emc_activation a)
{
	int in = bd->r < 0 ? 0 : bd->m->vals[x].c, y, s;

	y = conv(bd, x, out, 3, stride, 1, false, EMC_ACT_LINEAR);
	y = act(bd, norm(bd, y, NN_OP_BN), a);
	y = conv(bd, y, out, 3, 1, 1, false, EMC_ACT_LINEAR);
	y = norm(bd, y, NN_OP_BN);
	s = x;
	if (stride != 1 || in != out)
		s = norm(bd, conv(bd, x, out, 1, stride, 0, false, EMC_ACT_LINEAR), NN_OP_BN);
	return act(bd, add(bd, y, s), a);
}

static int build_resnet(builder *bd, const emc_model_cfg *c)
{
	int x = 0;

	if (c->n_widths < 1 || c->n_widths > EMC_MAX_LAYERS)
		return emc_err_set(bd->err, -EINVAL, "model.widths: %d stages is not in [1, %d]", c->n_widths,
				   EMC_MAX_LAYERS);
	if (check_width(bd->err, "model.width", c->width) < 0 ||
	    check_width(bd->err, "model.width", (int64_t)c->width << (c->n_widths - 1)) < 0)
		return -EINVAL;
	for (int s = 0; s < c->n_widths; s++)
		if (c->widths[s] < 1 || c->widths[s] > 64)
			return emc_err_set(bd->err, -EINVAL, "model.widths[%d]: %d blocks is not in [1, 64]", s,
					   c->widths[s]);
	x = conv(bd, x, c->width, 3, 1, 1, false, EMC_ACT_LINEAR);
	x = act(bd, norm(bd, x, NN_OP_BN), c->activation);
	for (int s = 0; s < c->n_widths; s++)
		for (int k = 0; k < c->widths[s]; k++)
			x = basic_block(bd, x, c->width << s, s > 0 && k == 0 ? 2 : 1, c->activation);
	x = gap(bd, x);
	dense(bd, x, bd->m->classes, false, EMC_ACT_LINEAR);
	return bd->r;
}

static int build_vit(builder *bd, const emc_model_cfg *c)
{
	const nn_value *in = &bd->m->vals[0];
	int D = c->dim, x;

	if (c->patch < 1 || in->h % c->patch || in->w % c->patch)
		return emc_err_set(bd->err, -EINVAL, "model.patch: %d does not divide the %dx%d input", c->patch,
				   in->h, in->w);
	if (check_width(bd->err, "model.dim", D) < 0)
		return -EINVAL;
	if (c->heads < 1 || D % c->heads)
		return emc_err_set(bd->err, -EINVAL, "model.heads: %d does not divide model.dim = %d", c->heads, D);
	if (c->depth < 0 || c->depth > 90)
		return emc_err_set(bd->err, -EINVAL, "model.depth: %d is not in [0, 90]", c->depth);
	if (c->mlp_ratio < 1 || check_width(bd->err, "model.mlp_ratio", (int64_t)c->mlp_ratio * D) < 0)
		return emc_err_set(bd->err, -EINVAL, "model.mlp_ratio: %d is not >= 1 or makes the MLP too wide",
				   c->mlp_ratio);
	/* patch embedding: Conv2d(c, D, P, stride P) = Linear on each patch */
	x = conv(bd, 0, D, c->patch, c->patch, 0, true, EMC_ACT_LINEAR);
	x = posadd(bd, x);
	for (int l = 0; l < c->depth; l++) {
		int h = norm(bd, x, NN_OP_LN);

		h = dense(bd, h, 3 * D, true, EMC_ACT_LINEAR);
		h = attention(bd, h, c->heads);
		h = dense(bd, h, D, true, EMC_ACT_LINEAR);
		x = add(bd, x, h);
		h = norm(bd, x, NN_OP_LN);
		h = dense(bd, h, c->mlp_ratio * D, true, c->activation);
		h = dense(bd, h, D, true, EMC_ACT_LINEAR);
		x = add(bd, x, h);
	}
	x = norm(bd, x, NN_OP_LN);
	x = gap(bd, x); /* mean over the tokens */
	dense(bd, x, bd->m->classes, false, EMC_ACT_LINEAR);
	return bd->r;
}

int nn_zoo_build(nn_model *m, const emc_model_cfg *cfg, emc_err *err)
{
	builder bd = { .m = m, .err = err };

	if ((int)cfg->activation < 0 || (int)cfg->activation >= EMC_ACT_COUNT)
		return emc_err_set(err, -EINVAL, "model.activation: unknown value %d", (int)cfg->activation);
	switch (cfg->family) {
	case EMC_FAMILY_LINEAR:
	case EMC_FAMILY_MLP:
		return build_mlp(&bd, cfg);
	case EMC_FAMILY_CNN:
		return build_cnn(&bd, cfg);
	case EMC_FAMILY_RESNET:
		return build_resnet(&bd, cfg);
	case EMC_FAMILY_VIT:
		return build_vit(&bd, cfg);
	default:
		return emc_err_set(err, -EINVAL, "model.family: unknown value %d", (int)cfg->family);
	}
}
