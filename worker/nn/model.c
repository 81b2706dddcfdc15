/* model.c — plan a network's memory, run passes over it.
 *
 * A model is a list of operations over numbered values (zoo.c builds it
 * from the description). Planning, done once, decides where everything
 * lives; a pass then only computes.
 *
 * Activations: every value has its own (rows_cap, size) slot, so the
 * backward finds every input it needs without recomputation — except that
 * an activation whose derivative its output determines, applied to a value
 * nobody else reads, runs in place (and is fused into the Linear or Conv2d
 * before it when there is one). When a max pool follows such a fused
 * activation, the pool's backward applies the derivative, on a quarter of
 * the values.
 *
 * Gradients of values: a value's gradient is alive from the backward of its
 * last reader to the backward of its writer. The planner replays the
 * backward once and hands out slots first-fit, reusing a slot as soon as
 * its value is done with, so a chain (an MLP) needs two slots however deep
 * it is. A value read twice (the input of
 * a residual block) gets its gradient from the later reader written in
 * place, and from the earlier one written to a temporary slot and added on:
 * the sum the chain rule asks for, with every kernel still overwriting.
 *
 * All buffers — parameters, gradients, activations, value gradients,
 * statistics, im2col scratch, gathered rows — live in one 64-byte aligned
 * arena, allocated and written once at creation: a page fault costs more
 * than a small step, and a training step must not allocate. The planner
 * alone decides the arena's size, so nn_model_plan_bytes() is exactly what
 * nn_model_new() allocates.
 *
 * Chunks: a pass over more rows than rows_cap is cut into nearly equal
 * chunks; the loss gradient of each is scaled by 1/rows, so the chunk
 * gradients sum to the gradient of the mean. Batch norm in training
 * normalises each chunk by its own statistics ("ghost batch norm"): exact
 * batch statistics over several chunks would need every chunk's
 * activations at once, or one extra forward pass over the batch per batch
 * norm layer, and would make a full-batch step cost several epochs. Every
 * mini-batch of up to NN_CHUNK_ROWS = 512 rows is one chunk and exact;
 * full batches of more rows are normalised in equal parts of at most 512.
 * The chunking depends only on the number of rows, so passes are
 * deterministic.
 */
#include "model.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "zoo.h"

#define NN_MAX_DIM (1 << 24)
#define NN_MAX_ROWS_CAP (1 << 20)
#define ALIGN_FLOATS 16 /* 64 bytes */
#define GATHER_AHEAD 4  /* rows prefetched ahead of the copy */

static size_t round_up(size_t n)
{
	return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

/* Offsets (in floats) of the arena's regions, fixed by the planner. */
typedef struct layout {
	size_t params, grads, gacc, acts, gbuf, aux, probs, xbuf, scratch, dscratch, ybuf, total;
} layout;

/* Does this op's backward read the value it wrote? Then that value cannot
 * be overwritten by an in-place activation after it. */
static bool reads_output(const nn_op *op)
{
	return op->kind == NN_OP_MAXPOOL || op->kind == NN_OP_ACT ||
	       ((op->kind == NN_OP_DENSE || op->kind == NN_OP_CONV) && op->act != EMC_ACT_LINEAR);
}

static bool runs_in_place(const nn_model *m, const nn_op *op)
{
	const nn_value *x = &m->vals[op->in[0]];

	return op->kind == NN_OP_ACT && nn_act_from_output(op->act) && op->in[0] != 0 && x->consumers == 1 &&
	       !reads_output(&m->ops[x->producer]);
}

/* ---- gradient slots: first-fit reuse over the replayed backward ---- */

/* Planning state, on the heap (it is tens of KiB): slots handed out, and
 * which slot each value's gradient and each op's temporaries got. */
typedef struct planner {
	size_t cap[2 * NN_MAX_OPS + 2];
	bool busy[2 * NN_MAX_OPS + 2];
	size_t off[2 * NN_MAX_OPS + 2];
	int n;
	int gslot[NN_MAX_OPS + 1];
	int tslot[NN_MAX_OPS][2];
} planner;

static int slot_take(planner *s, size_t need)
{
	int best = -1, largest = -1;

	for (int i = 0; i < s->n; i++) {
		if (s->busy[i])
			continue;
		if (s->cap[i] >= need && (best < 0 || s->cap[i] < s->cap[best]))
			best = i;
		if (largest < 0 || s->cap[i] > s->cap[largest])
			largest = i;
	}
	if (best < 0 && largest >= 0)
		best = largest; /* grow the largest free slot rather than add one */
	if (best < 0) {
		assert(s->n < 2 * NN_MAX_OPS + 2);
		best = s->n++;
		s->cap[best] = 0;
	}
	if (s->cap[best] < need)
		s->cap[best] = need;
	s->busy[best] = true;
	return best;
}

/* Replay the backward: op i reads its output's gradient and writes its
 * inputs'; the output's slot is free after it, the inputs' stay taken
 * until their own writers have run. Returns the floats of all slots. */
static size_t plan_grads(nn_model *m, planner *s)
{
	const size_t R = (size_t)m->rows_cap;
	size_t total = 0;

	for (int v = 0; v < m->n_vals; v++)
		s->gslot[v] = -1;
	s->gslot[m->n_vals - 1] = slot_take(s, round_up(R * m->vals[m->n_vals - 1].size)); /* the logits */
	for (int i = m->n_ops - 1; i >= 0; i--) {
		const nn_op *op = &m->ops[i];
		bool handed_on = false;

		s->tslot[i][0] = s->tslot[i][1] = -1;
		for (int j = 0; j < 2; j++) {
			int v = op->in[j];
			size_t need;

			if (v <= 0) /* the data need no gradient */
				continue;
			need = round_up(R * m->vals[v].size);
			if (s->gslot[v] >= 0) {
				s->tslot[i][j] = slot_take(s, need); /* a second reader */
			} else if (op->kind == NN_OP_ACT && m->vals[v].consumers == 1) {
				/* elementwise: the input's gradient overwrites the output's */
				s->gslot[v] = s->gslot[op->out];
				handed_on = true;
			} else {
				s->gslot[v] = slot_take(s, need);
			}
		}
		for (int j = 0; j < 2; j++)
			if (s->tslot[i][j] >= 0)
				s->busy[s->tslot[i][j]] = false;
		if (!handed_on)
			s->busy[s->gslot[op->out]] = false;
	}
	for (int i = 0; i < s->n; i++) {
		s->off[i] = total;
		total += s->cap[i];
	}
	m->vals[0].grad = NN_NONE;
	for (int v = 1; v < m->n_vals; v++)
		m->vals[v].grad = s->off[s->gslot[v]];
	for (int i = 0; i < m->n_ops; i++)
		for (int j = 0; j < 2; j++)
			m->ops[i].gtmp[j] = s->tslot[i][j] >= 0 ? s->off[s->tslot[i][j]] : NN_NONE;
	return total;
}

/* Build the graph and place every buffer; fills *ret (no allocation of
 * the arena). */
static int plan(nn_model *m, const emc_model_cfg *cfg, const emc_input_shape *in, int rows_cap, layout *ret,
		emc_err *err)
{
	const size_t R = (size_t)rows_cap;
	int64_t dim = (int64_t)in->channels * in->height * in->width;
	size_t acts = 0, aux = 0, scratch = 0, dscratch = 0, gfloats;
	planner *s;
	layout L;
	int r;

	assert(rows_cap >= 1 && rows_cap <= NN_MAX_ROWS_CAP);
	if (in->channels <= 0 || in->height <= 0 || in->width <= 0 || dim > NN_MAX_DIM)
		return emc_err_set(err, -EINVAL, "input shape %dx%dx%d: each side must be >= 1 and the product <= %d",
				   in->channels, in->height, in->width, NN_MAX_DIM);
	if (in->classes < 2 || in->classes > 256)
		return emc_err_set(err, -EINVAL, "input classes: %d is not in [2, 256]", in->classes);
	m->dim = (int)dim;
	m->classes = in->classes;
	m->rows_cap = rows_cap;
	m->vals[0] = (nn_value){ .h = in->height, .w = in->width, .c = in->channels, .size = (size_t)dim,
				 .producer = -1, .act = NN_NONE, .grad = NN_NONE };
	m->n_vals = 1;
	r = nn_zoo_build(m, cfg, err);
	if (r < 0)
		return r;

	for (int i = 0; i < m->n_ops; i++) {
		nn_op *op = &m->ops[i];
		nn_value *y = &m->vals[op->out];
		const nn_value *x = &m->vals[op->in[0]];

		if (runs_in_place(m, op)) {
			y->act = x->act;
		} else {
			y->act = acts;
			acts += round_up(R * y->size);
		}
		op->save = op->run = NN_NONE;
		if (op->kind == NN_OP_MAXPOOL && x->consumers == 1 && op->in[0] != 0) {
			nn_op *p = &m->ops[x->producer];

			/* Let the pool apply the activation's derivative: it
			 * does so on a quarter of the values, and the zeros it
			 * writes need none. */
			if ((p->kind == NN_OP_CONV || p->kind == NN_OP_DENSE) && p->act != EMC_ACT_LINEAR) {
				op->act = p->act;
				p->act_by_consumer = true;
			}
		}
		switch (op->kind) {
		case NN_OP_BN:
			op->run = aux;
			aux += round_up(2 * (size_t)x->c);
			op->save = aux;
			aux += round_up(2 * (size_t)x->c);
			dscratch = 2 * (size_t)x->c > dscratch ? 2 * (size_t)x->c : dscratch;
			break;
		case NN_OP_LN:
			op->save = aux; /* mean (R·tokens), then rstd (R·tokens) */
			aux += round_up(2 * R * x->h * x->w);
			break;
		case NN_OP_ATTN: {
			size_t n = (size_t)x->h * x->w;

			op->save = aux;
			aux += round_up(R * op->heads * n * n);
			scratch = n * n > scratch ? n * n : scratch;
			break;
		}
		case NN_OP_CONV:
			scratch = nn_conv_scratch(&op->conv) > scratch ? nn_conv_scratch(&op->conv) : scratch;
			break;
		default:
			break;
		}
	}
	s = calloc(1, sizeof *s);
	if (!s)
		return emc_err_set(err, -ENOMEM, "out of memory for planning the model");
	gfloats = plan_grads(m, s);
	free(s);

	L.params = 0;
	L.grads = L.params + round_up(m->n_params);
	L.gacc = L.grads + round_up(m->n_params);
	L.acts = L.gacc + round_up(m->n_params);
	L.gbuf = L.acts + acts;
	L.aux = L.gbuf + gfloats;
	L.probs = L.aux + aux;
	L.xbuf = L.probs + round_up(R * m->classes);
	L.scratch = L.xbuf + round_up(R * m->dim);
	L.dscratch = L.scratch + round_up(scratch);
	L.ybuf = L.dscratch + round_up(2 * dscratch); /* doubles: two floats each */
	L.total = L.ybuf + round_up((R + sizeof(float) - 1) / sizeof(float));
	if (L.total > NN_MAX_ARENA_BYTES / sizeof(float))
		return emc_err_set(err, -EINVAL,
				   "model too large: %zu parameters and %zu activation values need more than %zu GiB",
				   m->n_params, acts, NN_MAX_ARENA_BYTES >> 30);
	*ret = L;
	return 0;
}

int nn_model_plan_bytes(const emc_model_cfg *cfg, const emc_input_shape *in, int rows_cap, size_t *ret_params,
			size_t *ret_bytes, emc_err *err)
{
	nn_model *m = calloc(1, sizeof *m);
	layout L;
	int r;

	if (!m)
		return emc_err_set(err, -ENOMEM, "out of memory for the model description");
	r = plan(m, cfg, in, rows_cap, &L, err);
	if (r == 0) {
		if (ret_params)
			*ret_params = m->n_params;
		*ret_bytes = L.total * sizeof(float);
	}
	free(m);
	return r;
}

int nn_model_new(const emc_model_cfg *cfg, const emc_input_shape *in, int rows_cap, nn_model **ret, emc_err *err)
{
	nn_model *m = NULL;
	layout L;
	int r;

	m = calloc(1, sizeof *m);
	if (!m)
		return emc_err_set(err, -ENOMEM, "out of memory for the model description");
	r = plan(m, cfg, in, rows_cap, &L, err);
	if (r < 0)
		goto fail;
	m->arena_bytes = L.total * sizeof(float);
	m->arena = aligned_alloc(ALIGN_FLOATS * sizeof(float), m->arena_bytes);
	if (!m->arena) {
		r = emc_err_set(err, -ENOMEM, "out of memory for a %zu MiB model arena", m->arena_bytes >> 20);
		goto fail;
	}
	/* Touch every page now, not in the first step. */
	memset(m->arena, 0, m->arena_bytes);
	m->params = (float *)m->arena + L.params;
	m->grads = (float *)m->arena + L.grads;
	m->gacc = (float *)m->arena + L.gacc;
	m->acts = (float *)m->arena + L.acts;
	m->gbuf = (float *)m->arena + L.gbuf;
	m->aux = (float *)m->arena + L.aux;
	m->probs = (float *)m->arena + L.probs;
	m->xbuf = (float *)m->arena + L.xbuf;
	m->scratch = (float *)m->arena + L.scratch;
	m->dscratch = (double *)((float *)m->arena + L.dscratch);
	m->ybuf = (uint8_t *)((float *)m->arena + L.ybuf);
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

static void fill_uniform(emc_rng *rng, float *a, size_t n, double bound)
{
	for (size_t k = 0; k < n; k++)
		a[k] = (float)((2.0 * emc_rng_uniform(rng) - 1.0) * bound);
}

void nn_model_init_params(nn_model *m, uint64_t seed, uint64_t stream)
{
	emc_rng rng;

	emc_rng_seed(&rng, seed, stream);
	for (int i = 0; i < m->n_ops; i++) {
		const nn_op *op = &m->ops[i];

		switch (op->kind) {
		case NN_OP_DENSE:
		case NN_OP_CONV: {
			double bound = 1.0 / sqrt((double)op->fan_in);

			fill_uniform(&rng, m->params + op->w, op->nw, bound);
			if (op->b != NN_NONE)
				fill_uniform(&rng, m->params + op->b, op->nb, bound);
			break;
		}
		case NN_OP_BN:
		case NN_OP_LN:
			for (size_t k = 0; k < op->nw; k++) {
				m->params[op->w + k] = 1.0f;
				m->params[op->b + k] = 0.0f;
			}
			if (op->kind == NN_OP_BN)
				for (size_t k = 0; k < op->nw; k++) {
					m->aux[op->run + k] = 0.0f;          /* running mean */
					m->aux[op->run + op->nw + k] = 1.0f; /* running variance */
				}
			break;
		case NN_OP_POSADD:
			for (size_t k = 0; k < op->nw; k++)
				m->params[op->w + k] = (float)(0.02 * emc_rng_normal(&rng));
			break;
		default:
			break;
		}
	}
}

size_t nn_model_state_floats(const nn_model *m)
{
	size_t n = 0;

	for (int i = 0; i < m->n_ops; i++)
		if (m->ops[i].kind == NN_OP_BN)
			n += 2 * m->ops[i].nw;
	return n;
}

void nn_model_state_get(const nn_model *m, void *out)
{
	uint8_t *w = out;

	for (int i = 0; i < m->n_ops; i++) {
		const nn_op *op = &m->ops[i];

		if (op->kind != NN_OP_BN)
			continue;
		memcpy(w, m->aux + op->run, 2 * op->nw * sizeof(float));
		w += 2 * op->nw * sizeof(float);
	}
}

void nn_model_state_set(nn_model *m, const void *in)
{
	const uint8_t *r = in;

	for (int i = 0; i < m->n_ops; i++) {
		const nn_op *op = &m->ops[i];

		if (op->kind != NN_OP_BN)
			continue;
		memcpy(m->aux + op->run, r, 2 * op->nw * sizeof(float));
		r += 2 * op->nw * sizeof(float);
	}
}

/* The buffer of value v for a chunk whose input rows are x. */
static float *value(nn_model *m, const float *x, int v)
{
	return v == 0 ? (float *)x : m->acts + m->vals[v].act;
}

/* Forward over one chunk of rows; leaves every value in acts and the
 * softmax in probs. Returns the mean loss.
 *   x (rows, dim), y (rows). */
static double forward(nn_model *m, const float *x, const uint8_t *y, int rows, bool train, int64_t *ret_correct)
{
	const float *p = m->params;
	const float *logits;

	for (int i = 0; i < m->n_ops; i++) {
		const nn_op *op = &m->ops[i];
		const nn_value *xv = &m->vals[op->in[0]];
		const float *in = value(m, x, op->in[0]);
		float *out = value(m, x, op->out);
		float *save = op->save != NN_NONE ? m->aux + op->save : NULL;
		int hw = xv->h * xv->w;

		switch (op->kind) {
		case NN_OP_DENSE:
			nn_dense_forward(out, in, p + op->w, p + op->b, rows * op->tokens, op->fin, op->fout, op->act);
			break;
		case NN_OP_ACT:
			nn_act_forward(out, in, (size_t)rows * xv->size, op->act);
			break;
		case NN_OP_CONV:
			nn_conv_forward(out, in, p + op->w, op->b != NN_NONE ? p + op->b : NULL, rows, &op->conv,
					op->act, m->scratch);
			break;
		case NN_OP_MAXPOOL:
			nn_maxpool_forward(out, in, rows, xv->h, xv->w, xv->c);
			break;
		case NN_OP_AVGPOOL:
			nn_avgpool_forward(out, in, rows, xv->h, xv->w, xv->c);
			break;
		case NN_OP_GAP:
			nn_gap_forward(out, in, rows, hw, xv->c);
			break;
		case NN_OP_BN: {
			float *run = m->aux + op->run;

			nn_bn_forward(out, in, p + op->w, p + op->b, run, run + xv->c, save, save + xv->c, rows * hw,
				      xv->c, train, m->dscratch);
			break;
		}
		case NN_OP_LN: {
			size_t cap = (size_t)m->rows_cap * hw;

			nn_ln_forward(out, in, p + op->w, p + op->b, save, save + cap, rows * hw, xv->c);
			break;
		}
		case NN_OP_ATTN:
			nn_attn_forward(out, in, save, rows, hw, xv->c / 3, op->heads);
			break;
		case NN_OP_ADD:
			nn_add_forward(out, in, value(m, x, op->in[1]), (size_t)rows * xv->size);
			break;
		case NN_OP_POSADD:
			nn_posadd_forward(out, in, p + op->w, rows, (int)xv->size);
			break;
		default:
			assert(!"unknown op");
		}
	}
	logits = value(m, x, m->n_vals - 1); /* (rows, classes) */
	*ret_correct = nn_count_correct(logits, y, rows, m->classes);
	return nn_xent_forward(m->probs, logits, y, rows, m->classes);
}

/* Backward over the chunk the last forward() saw; writes m->grads.
 * scale = 1 / (rows of the whole pass).
 *   x (rows, dim), y (rows). */
static void backward(nn_model *m, const float *x, const uint8_t *y, int rows, bool train, float scale)
{
	float *g = m->grads;
	const float *p = m->params;

	nn_xent_backward(m->gbuf + m->vals[m->n_vals - 1].grad, m->probs, y, rows, m->classes, scale);
	for (int i = m->n_ops - 1; i >= 0; i--) {
		const nn_op *op = &m->ops[i];
		const nn_value *xv = &m->vals[op->in[0]];
		const float *in = value(m, x, op->in[0]);
		const float *out = value(m, x, op->out);
		const float *save = op->save != NN_NONE ? m->aux + op->save : NULL;
		float *dy = m->gbuf + m->vals[op->out].grad;
		float *dx[2] = { NULL, NULL };
		int hw = xv->h * xv->w;

		for (int j = 0; j < 2; j++)
			if (op->in[j] > 0)
				dx[j] = m->gbuf + (op->gtmp[j] != NN_NONE ? op->gtmp[j] : m->vals[op->in[j]].grad);
		switch (op->kind) {
		case NN_OP_DENSE:
			nn_dense_backward(dx[0], g + op->w, g + op->b, dy, in, p + op->w, out, rows * op->tokens,
					  op->fin, op->fout, op->act_by_consumer ? EMC_ACT_LINEAR : op->act);
			break;
		case NN_OP_ACT:
			if (dx[0])
				nn_act_backward(dx[0], dy, in, out, (size_t)rows * xv->size, op->act);
			break;
		case NN_OP_CONV:
			nn_conv_backward(dx[0], g + op->w, op->b != NN_NONE ? g + op->b : NULL, dy, in, p + op->w, out,
					 rows, &op->conv, op->act_by_consumer ? EMC_ACT_LINEAR : op->act, m->scratch);
			break;
		case NN_OP_MAXPOOL:
			if (dx[0])
				nn_maxpool_backward(dx[0], dy, in, out, rows, xv->h, xv->w, xv->c, op->act);
			break;
		case NN_OP_AVGPOOL:
			if (dx[0])
				nn_avgpool_backward(dx[0], dy, rows, xv->h, xv->w, xv->c);
			break;
		case NN_OP_GAP:
			if (dx[0])
				nn_gap_backward(dx[0], dy, rows, hw, xv->c);
			break;
		case NN_OP_BN:
			nn_bn_backward(dx[0], g + op->w, g + op->b, dy, in, p + op->w, save, save + xv->c, rows * hw,
				       xv->c, train, m->dscratch);
			break;
		case NN_OP_LN: {
			size_t cap = (size_t)m->rows_cap * hw;

			nn_ln_backward(dx[0], g + op->w, g + op->b, dy, in, p + op->w, save, save + cap, rows * hw,
				       xv->c);
			break;
		}
		case NN_OP_ATTN:
			if (dx[0])
				nn_attn_backward(dx[0], dy, in, save, rows, hw, xv->c / 3, op->heads, m->scratch);
			break;
		case NN_OP_ADD:
			nn_add_backward(dx[0], dx[1], dy, (size_t)rows * xv->size);
			break;
		case NN_OP_POSADD:
			nn_posadd_backward(dx[0], g + op->w, dy, rows, (int)xv->size);
			break;
		default:
			assert(!"unknown op");
		}
		/* A value's second reader: add its share onto the first's. */
		for (int j = 0; j < 2; j++)
			if (dx[j] && op->gtmp[j] != NN_NONE) {
				float *dv = m->gbuf + m->vals[op->in[j]].grad;
				size_t n = (size_t)rows * m->vals[op->in[j]].size;

				for (size_t k = 0; k < n; k++)
					dv[k] += dx[j][k];
			}
	}
}

void nn_model_pass(nn_model *m, const float *x, const uint8_t *y, const int32_t *idx, int64_t rows, nn_mode mode,
		   bool want_grad, nn_pass *ret)
{
	const bool train = mode == NN_MODE_TRAIN;
	const int64_t chunks = (rows + m->rows_cap - 1) / m->rows_cap;
	const float scale = (float)(1.0 / (double)rows);
	double loss_sum = 0.0;
	int64_t correct = 0, start = 0;

	assert(rows >= 1);
	for (int64_t c = 0; c < chunks; c++) {
		/* nearly equal chunks: the first rows % chunks get one row more */
		int n = (int)(rows / chunks + (c < rows % chunks ? 1 : 0));
		const float *xc;   /* (n, dim) */
		const uint8_t *yc; /* (n) */
		int64_t ok;

		if (idx) {
			/* Gather once so every GEMM of the chunk reads contiguous
			 * rows. The rows are scattered over the whole data set,
			 * so each is a trip to memory: ask for a row a few ahead
			 * while copying this one. */
			for (int r = 0; r < n; r++) {
				int64_t s = idx[start + r];

				if (r + GATHER_AHEAD < n) {
					const char *next =
						(const char *)(x + (size_t)idx[start + r + GATHER_AHEAD] * m->dim);

					for (size_t b = 0; b < (size_t)m->dim * sizeof *x; b += 64)
						__builtin_prefetch(next + b);
				}
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
		loss_sum += forward(m, xc, yc, n, train, &ok) * n;
		correct += ok;
		start += n;
		if (!want_grad)
			continue;
		backward(m, xc, yc, n, train, scale);
		if (chunks == 1)
			continue;
		if (c == 0)
			memcpy(m->gacc, m->grads, m->n_params * sizeof *m->gacc);
		else
			for (size_t k = 0; k < m->n_params; k++)
				m->gacc[k] += m->grads[k];
	}
	ret->loss = loss_sum / (double)rows;
	ret->correct = correct;
	ret->grad = !want_grad ? NULL : chunks > 1 ? m->gacc : m->grads;
}

double nn_model_gemm_flops(const nn_model *m)
{
	double f = 0.0;

	for (int i = 0; i < m->n_ops; i++) {
		const nn_op *op = &m->ops[i];
		/* forward, weight gradient, and input gradient unless the input is the data */
		double passes = op->in[0] == 0 ? 2.0 : 3.0;

		switch (op->kind) {
		case NN_OP_DENSE:
			f += passes * 2.0 * op->tokens * op->fin * op->fout;
			break;
		case NN_OP_CONV:
			f += passes * 2.0 * op->conv.ho * op->conv.wo * op->conv.k * op->conv.k * op->conv.cin *
			     op->conv.cout;
			break;
		case NN_OP_ATTN: {
			double n = (double)m->vals[op->in[0]].h * m->vals[op->in[0]].w;
			double d = m->vals[op->out].c;

			/* two products forward, four backward, each 2·N·N·dh per head */
			f += 6.0 * 2.0 * n * n * d;
			break;
		}
		default:
			break;
		}
	}
	return f;
}
