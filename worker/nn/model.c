/* model.c — plan a network's layers and memory, run passes over it.
 *
 * A model is a flat list of layers executed in order; each layer's output
 * has its own slot in the activation arena, so backward finds every input
 * it needs without recomputation. All float buffers (parameters, gradients,
 * activations for rows_cap rows, gathered inputs) live in one 64-byte
 * aligned arena that is allocated and written once at creation: a page
 * fault costs more than a small step, and a training step must not
 * allocate.
 *
 * Parameters are one contiguous vector (layer by layer, weight then bias),
 * so optimizers and norms treat them as a single array. The count equals
 * emc_model_params() for the same description; the tests hold us to it.
 *
 * Passes larger than rows_cap are cut into chunks, which bounds memory for
 * full-batch training and evaluation on any n. The chunking is fixed by
 * rows_cap alone, so a pass is deterministic.
 */
#include "model.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "rng.h"

#define NN_MAX_DIM (1 << 24)
#define NN_MAX_ROWS_CAP (1 << 20)
#define ALIGN_FLOATS 16 /* 64 bytes */

static size_t round_up(size_t n)
{
	return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

static void add_dense(nn_model *m, int in, int out)
{
	nn_layer *l = &m->layers[m->n_layers++];

	assert(m->n_layers <= NN_MAX_LAYERS);
	*l = (nn_layer){ .op = NN_OP_DENSE, .in = in, .out = out };
	l->w = m->n_params;
	l->b = l->w + (size_t)out * (size_t)in;
	m->n_params = l->b + (size_t)out;
}

static void add_act(nn_model *m, int width, emc_activation act)
{
	/* The identity adds nothing but a copy: the "linear" activation is
	 * simply no layer. */
	if (act == EMC_ACT_LINEAR)
		return;
	assert(m->n_layers < NN_MAX_LAYERS);
	m->layers[m->n_layers++] = (nn_layer){ .op = NN_OP_ACT, .in = width, .out = width, .act = act };
}

/* Fill m->layers and m->n_params from the description. */
static int plan_layers(nn_model *m, const emc_model_cfg *cfg, emc_err *err)
{
	int prev = m->dim;

	if ((int)cfg->activation < 0 || (int)cfg->activation >= EMC_ACT_COUNT)
		return emc_err_set(err, -EINVAL, "model.activation: unknown value %d", (int)cfg->activation);
	switch (cfg->family) {
	case EMC_FAMILY_LINEAR:
		break;
	case EMC_FAMILY_MLP:
		if (cfg->n_widths < 0 || cfg->n_widths > EMC_MAX_LAYERS)
			return emc_err_set(err, -EINVAL, "model.widths: %d hidden layers, the limit is %d",
					   cfg->n_widths, EMC_MAX_LAYERS);
		for (int i = 0; i < cfg->n_widths; i++) {
			int w = cfg->widths[i];

			if (w <= 0 || w > NN_MAX_WIDTH)
				return emc_err_set(err, -EINVAL, "model.widths[%d]: %d is not in [1, %d]", i, w,
						   NN_MAX_WIDTH);
			add_dense(m, prev, w);
			add_act(m, w, cfg->activation);
			prev = w;
		}
		break;
	case EMC_FAMILY_CNN:
	case EMC_FAMILY_RESNET:
	case EMC_FAMILY_VIT:
		return emc_err_set(err, -ENOTSUP, "model.family: '%s' is not supported by this training engine yet",
				   emc_family_name(cfg->family));
	default:
		return emc_err_set(err, -EINVAL, "model.family: unknown value %d", (int)cfg->family);
	}
	add_dense(m, prev, m->classes);
	return 0;
}

int nn_model_new(const emc_model_cfg *cfg, const emc_input_shape *in, int rows_cap, nn_model **ret, emc_err *err)
{
	nn_model *m = NULL;
	int64_t dim = (int64_t)in->channels * in->height * in->width;
	size_t acts = 0, widest, off, n_floats;
	int r;

	assert(rows_cap >= 1 && rows_cap <= NN_MAX_ROWS_CAP);
	if (in->channels <= 0 || in->height <= 0 || in->width <= 0 || dim > NN_MAX_DIM)
		return emc_err_set(err, -EINVAL, "input shape %dx%dx%d: each side must be >= 1 and the product <= %d",
				   in->channels, in->height, in->width, NN_MAX_DIM);
	if (in->classes < 2 || in->classes > 256)
		return emc_err_set(err, -EINVAL, "input classes: %d is not in [2, 256]", in->classes);

	m = calloc(1, sizeof *m);
	if (!m)
		return emc_err_set(err, -ENOMEM, "out of memory for the model description");
	m->dim = (int)dim;
	m->classes = in->classes;
	m->rows_cap = rows_cap;
	r = plan_layers(m, cfg, err);
	if (r < 0)
		goto fail;

	/* Size the activation arena: one (rows_cap, out) slot per layer. */
	widest = (size_t)m->dim;
	for (int i = 0; i < m->n_layers; i++) {
		nn_layer *l = &m->layers[i];

		l->y = acts;
		acts += round_up((size_t)rows_cap * (size_t)l->out);
		if ((size_t)l->out > widest)
			widest = (size_t)l->out;
	}
	n_floats = 3 * round_up(m->n_params) + acts + round_up((size_t)rows_cap * (size_t)m->classes) +
		   2 * round_up((size_t)rows_cap * widest) + round_up((size_t)rows_cap * (size_t)m->dim) +
		   round_up(((size_t)rows_cap + sizeof(float) - 1) / sizeof(float));
	if (n_floats > NN_MAX_ARENA_BYTES / sizeof(float)) {
		r = emc_err_set(err, -EINVAL,
				"model too large: %zu parameters and %zu activation values need more than %zu MiB",
				m->n_params, acts, NN_MAX_ARENA_BYTES >> 20);
		goto fail;
	}
	m->arena_bytes = n_floats * sizeof(float);
	m->arena = aligned_alloc(ALIGN_FLOATS * sizeof(float), m->arena_bytes);
	if (!m->arena) {
		r = emc_err_set(err, -ENOMEM, "out of memory for a %zu MiB model arena", m->arena_bytes >> 20);
		goto fail;
	}
	/* Touch every page now, not in the first step. */
	memset(m->arena, 0, m->arena_bytes);

	off = 0;
#define TAKE(ptr, count)                                        \
	do {                                                    \
		(ptr) = (void *)((float *)m->arena + off);      \
		off += round_up(count);                         \
	} while (0)
	TAKE(m->params, m->n_params);
	TAKE(m->grads, m->n_params);
	TAKE(m->gacc, m->n_params);
	TAKE(m->acts, acts);
	TAKE(m->probs, (size_t)rows_cap * (size_t)m->classes);
	TAKE(m->dbuf[0], (size_t)rows_cap * widest);
	TAKE(m->dbuf[1], (size_t)rows_cap * widest);
	TAKE(m->xbuf, (size_t)rows_cap * (size_t)m->dim);
	TAKE(m->ybuf, ((size_t)rows_cap + sizeof(float) - 1) / sizeof(float));
#undef TAKE
	assert(off == n_floats);

	*ret = m;
	return 0;
fail:
	nn_model_destroy(&m);
	return r;
}

void nn_model_destroy(nn_model **p)
{
	if (!*p)
		return;
	free((*p)->arena);
	free(*p);
	*p = NULL;
}

void nn_model_init_params(nn_model *m, uint64_t seed, uint64_t stream)
{
	emc_rng rng;

	emc_rng_seed(&rng, seed, stream);
	for (int i = 0; i < m->n_layers; i++) {
		const nn_layer *l = &m->layers[i];
		double bound = 1.0 / sqrt((double)l->in);
		size_t nw = (size_t)l->out * (size_t)l->in;

		if (l->op != NN_OP_DENSE)
			continue;
		for (size_t k = 0; k < nw; k++)
			m->params[l->w + k] = (float)((2.0 * emc_rng_uniform(&rng) - 1.0) * bound);
		for (int k = 0; k < l->out; k++)
			m->params[l->b + (size_t)k] = (float)((2.0 * emc_rng_uniform(&rng) - 1.0) * bound);
	}
}

/* Forward over one chunk; leaves every layer's output in acts and the
 * softmax in probs. Returns the mean loss.
 *   x (rows, dim), y (rows). */
static double forward(nn_model *m, const float *x, const uint8_t *y, int rows, int64_t *ret_correct)
{
	const float *in = x;

	for (int i = 0; i < m->n_layers; i++) {
		const nn_layer *l = &m->layers[i];
		float *out = m->acts + l->y; /* (rows, l->out) */

		switch (l->op) {
		case NN_OP_DENSE:
			nn_dense_forward(out, in, m->params + l->w, m->params + l->b, rows, l->in, l->out);
			break;
		case NN_OP_ACT:
			nn_act_forward(out, in, (size_t)rows * (size_t)l->out, l->act);
			break;
		}
		in = out;
	}
	/* in: logits (rows, classes) */
	*ret_correct = nn_count_correct(in, y, rows, m->classes);
	return nn_xent_forward(m->probs, in, y, rows, m->classes);
}

/* Backward over the chunk the last forward() saw; writes m->grads.
 *   x (rows, dim), y (rows). */
static void backward(nn_model *m, const float *x, const uint8_t *y, int rows)
{
	int cur = 0;
	float *d = m->dbuf[cur]; /* gradient of the current layer's output, (rows, out) */

	nn_xent_backward(d, m->probs, y, rows, m->classes);
	for (int i = m->n_layers - 1; i >= 0; i--) {
		const nn_layer *l = &m->layers[i];
		const float *in = i > 0 ? m->acts + m->layers[i - 1].y : x; /* (rows, l->in) */
		const float *out = m->acts + l->y;                         /* (rows, l->out) */

		switch (l->op) {
		case NN_OP_DENSE: {
			/* Nobody needs the gradient of the data itself. */
			float *dx = i > 0 ? m->dbuf[cur ^ 1] : NULL; /* (rows, l->in) */

			nn_dense_backward(dx, m->grads + l->w, m->grads + l->b, d, in, m->params + l->w, rows,
					  l->in, l->out);
			cur ^= 1;
			d = dx;
			break;
		}
		case NN_OP_ACT:
			nn_act_backward(d, d, in, out, (size_t)rows * (size_t)l->out, l->act);
			break;
		}
	}
}

void nn_model_pass(nn_model *m, const float *x, const uint8_t *y, const int32_t *idx, int64_t rows,
		   bool want_grad, nn_pass *ret)
{
	double loss_sum = 0.0;
	int64_t correct = 0;
	bool chunked = rows > m->rows_cap;

	assert(rows >= 1);
	if (want_grad && chunked)
		memset(m->gacc, 0, m->n_params * sizeof *m->gacc);
	for (int64_t start = 0; start < rows; start += m->rows_cap) {
		int c = (int)(rows - start < m->rows_cap ? rows - start : m->rows_cap);
		const float *xc;   /* (c, dim) */
		const uint8_t *yc; /* (c) */
		int64_t ok;

		if (idx) {
			/* Gather once so every GEMM of the chunk reads contiguous rows. */
			for (int r = 0; r < c; r++) {
				int64_t s = idx[start + r];

				memcpy(m->xbuf + (size_t)r * m->dim, x + (size_t)s * m->dim,
				       (size_t)m->dim * sizeof *x);
				m->ybuf[r] = y[s];
			}
			xc = m->xbuf;
			yc = m->ybuf;
		} else {
			xc = x + (size_t)start * m->dim;
			yc = y + start;
		}
		loss_sum += forward(m, xc, yc, c, &ok) * c;
		correct += ok;
		if (!want_grad)
			continue;
		backward(m, xc, yc, c);
		if (chunked) {
			/* gacc += (c / rows) · grads: the chunk's share of the mean */
			float w = (float)((double)c / (double)rows);

			for (size_t k = 0; k < m->n_params; k++)
				m->gacc[k] += w * m->grads[k];
		}
	}
	ret->loss = loss_sum / (double)rows;
	ret->correct = correct;
	ret->grad = !want_grad ? NULL : chunked ? m->gacc : m->grads;
}
