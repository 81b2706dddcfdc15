/* checkpoint.c — a running trial's state as bytes, and back.
 *
 * A checkpoint is taken at an epoch end and holds everything the rest of
 * the trial depends on, so that a trial resumed from it continues exactly
 * as the uninterrupted one would have, bit for bit (given the BLAS kernel
 * and thread count):
 *
 *   the parameters; the model's other state (batch norm's running mean and
 *   variance); the optimizer's step count and moment buffers; the batch
 *   order's RNG stream and the order array itself (the shuffle is in place,
 *   so the next epoch's order is a function of the last one); epoch, step
 *   and sample_grads; the plateau tracker (best loss, its epoch); the last
 *   evaluation (loss, accuracy, gradient norm: what a result reports); and
 *   the wall seconds spent, which is the one value a resumed trial does not
 *   reproduce: its time budget continues from it.
 *
 * The learning-rate schedule is a function of the step alone (optim.h),
 * and the activations, saved statistics and gradients in the model's arena
 * are rewritten by every pass before they are read, so neither is saved.
 *
 * Format (version 1; integers and floats in the host's byte order, which
 * is little-endian on every machine emc runs on; every field of a fixed
 * width):
 *
 *   header   "emc-ckpt", u32 version, u32 header bytes, u64 total bytes,
 *            i64 epoch, i64 step; the fingerprint (u64 cell hash, u64
 *            seed, u64 data hash, i64 n, i32 channels, height, width,
 *            classes, u64 parameters, u64 optimizer bytes, u64 model state
 *            floats, u64 order length); the loop (i64 sample_grads, i64
 *            best epoch, f64 best loss, i64 last epoch, i64 last step, f64
 *            loss, accuracy, gradient norm, seconds and budget used of the
 *            last evaluation, f64 seconds spent, u64 × 4 order RNG state);
 *   body     f32 parameters, the optimizer's bytes (nn_optim_snapshot),
 *            f32 model state, i32 batch order;
 *   trailer  u64 checksum (nn_ckpt_hash) of every byte before it.
 *
 * A blob comes over the network, so nothing in it is trusted: the length
 * and checksum are checked first (a truncated or flipped blob is refused),
 * then every fingerprint field against the trial's own (naming the first
 * that differs), then the loop's values and that the order is a
 * permutation of 0..n-1 (it indexes the data). Only then is anything
 * copied into the trial.
 *
 * Size: 4·(params + state + moments·params + order) + 256 bytes; Adam on
 * 784-16-10 (12 730 parameters) with a batch order over n = 60 000 is
 * about 390 KB.
 */
#include "checkpoint.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "emc-ckpt"
#define VERSION 1u
/* 8 + 4 + 4 + 8 + 2·8 (epoch, step) + 8·8 + 4·4 (print) + 11·8 + 4·8 (loop) */
#define HEADER_BYTES ((size_t)240)
#define TRAILER_BYTES sizeof(uint64_t)

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t nn_ckpt_hash(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t tail = 0;

	/* Every step is a bijection of h (xor, rotate, multiply by an odd
	 * constant), so any one changed word changes the result. */
	for (; len >= 8; len -= 8, b += 8) {
		uint64_t w;

		memcpy(&w, b, 8);
		h = rotl(h ^ w, 29) * 0xff51afd7ed558ccdULL;
	}
	memcpy(&tail, b, len);
	h = rotl(h ^ tail ^ ((uint64_t)len << 56), 29) * 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

static uint64_t cfg_hash(const emc_cell_cfg *cfg)
{
	int n_fields;
	const emc_cell_field *fields = emc_cell_fields(&n_fields);
	uint64_t h = nn_ckpt_hash(0, &cfg->seed, sizeof cfg->seed);

	/* Field by field, not the struct's bytes: its padding is anybody's. */
	for (int i = 0; i < n_fields; i++) {
		const emc_cell_field *f = &fields[i];
		emc_cell_value v;

		if (!emc_cell_field_reads(f, cfg))
			continue;
		emc_cell_field_get(f, cfg, &v);
		h = nn_ckpt_hash(h, f->key, strlen(f->key));
		h = nn_ckpt_hash(h, &v.i, sizeof v.i);
		h = nn_ckpt_hash(h, &v.u, sizeof v.u);
		h = nn_ckpt_hash(h, &v.d, sizeof v.d);
		h = nn_ckpt_hash(h, &v.n, sizeof v.n);
		if (v.n > 0 && v.n <= EMC_MAX_LAYERS)
			h = nn_ckpt_hash(h, v.items, (size_t)v.n * sizeof v.items[0]);
	}
	return h;
}

void nn_ckpt_print_fill(nn_ckpt_print *f, const emc_cell_cfg *cfg, const nn_data *data, const nn_model *model,
			const nn_optim *opt, uint64_t order_len)
{
	size_t dim = (size_t)model->dim;

	*f = (nn_ckpt_print){
		.cfg_hash = cfg_hash(cfg),
		.seed = cfg->seed,
		.data_hash = nn_ckpt_hash(nn_ckpt_hash(0, data->x, (size_t)data->n * dim * sizeof(float)), data->y,
					  (size_t)data->n),
		.n = data->n,
		.channels = data->shape.channels,
		.height = data->shape.height,
		.width = data->shape.width,
		.classes = data->shape.classes,
		.n_params = model->n_params,
		.optim_bytes = nn_optim_snapshot_bytes(opt),
		.state_floats = nn_model_state_floats(model),
		.order_len = order_len,
	};
}

size_t nn_ckpt_bytes(const nn_ckpt_print *f)
{
	return HEADER_BYTES + (size_t)f->n_params * sizeof(float) + (size_t)f->optim_bytes +
	       (size_t)f->state_floats * sizeof(float) + (size_t)f->order_len * sizeof(int32_t) + TRAILER_BYTES;
}

/* A cursor over a blob whose length has been checked. */
typedef struct cursor {
	uint8_t *w;
	const uint8_t *r;
} cursor;

static void put(cursor *c, const void *p, size_t len)
{
	memcpy(c->w, p, len);
	c->w += len;
}

static void get(cursor *c, void *p, size_t len)
{
	memcpy(p, c->r, len);
	c->r += len;
}

static void put_print(cursor *c, const nn_ckpt_print *f)
{
	put(c, &f->cfg_hash, 8);
	put(c, &f->seed, 8);
	put(c, &f->data_hash, 8);
	put(c, &f->n, 8);
	put(c, &f->channels, 4);
	put(c, &f->height, 4);
	put(c, &f->width, 4);
	put(c, &f->classes, 4);
	put(c, &f->n_params, 8);
	put(c, &f->optim_bytes, 8);
	put(c, &f->state_floats, 8);
	put(c, &f->order_len, 8);
}

static void get_print(cursor *c, nn_ckpt_print *f)
{
	get(c, &f->cfg_hash, 8);
	get(c, &f->seed, 8);
	get(c, &f->data_hash, 8);
	get(c, &f->n, 8);
	get(c, &f->channels, 4);
	get(c, &f->height, 4);
	get(c, &f->width, 4);
	get(c, &f->classes, 4);
	get(c, &f->n_params, 8);
	get(c, &f->optim_bytes, 8);
	get(c, &f->state_floats, 8);
	get(c, &f->order_len, 8);
}

/* The loop after the header's epoch and step: the same order both ways. */
#define LOOP_FIELDS(X, l)                                                                                     \
	X(&(l)->sample_grads, 8)                                                                              \
	X(&(l)->best_epoch, 8)                                                                                \
	X(&(l)->best_loss, 8)                                                                                 \
	X(&(l)->last.epoch, 8)                                                                                \
	X(&(l)->last.step, 8)                                                                                 \
	X(&(l)->last.loss, 8)                                                                                 \
	X(&(l)->last.accuracy, 8)                                                                             \
	X(&(l)->last.grad_norm, 8)                                                                            \
	X(&(l)->last.seconds, 8)                                                                              \
	X(&(l)->last.budget_used, 8)                                                                          \
	X(&(l)->seconds, 8)                                                                                   \
	X((l)->order_rng.s, 32)

void nn_ckpt_write(uint8_t *buf, const nn_ckpt_print *f, const nn_ckpt_loop *loop, const nn_ckpt_parts *parts)
{
	const uint32_t version = VERSION, header = HEADER_BYTES;
	const uint64_t total = nn_ckpt_bytes(f);
	cursor c = { .w = buf };
	uint64_t sum;

	put(&c, MAGIC, 8);
	put(&c, &version, 4);
	put(&c, &header, 4);
	put(&c, &total, 8);
	put(&c, &loop->epoch, 8);
	put(&c, &loop->step, 8);
	put_print(&c, f);
#define PUT(p, n) put(&c, p, n);
	LOOP_FIELDS(PUT, loop)
#undef PUT
	assert((size_t)(c.w - buf) == HEADER_BYTES);
	put(&c, parts->model->params, (size_t)f->n_params * sizeof(float));
	nn_optim_snapshot(parts->opt, c.w);
	c.w += f->optim_bytes;
	nn_model_state_get(parts->model, c.w);
	c.w += f->state_floats * sizeof(float);
	if (f->order_len)
		put(&c, parts->order, (size_t)f->order_len * sizeof(int32_t));
	sum = nn_ckpt_hash(0, buf, (size_t)(c.w - buf));
	put(&c, &sum, 8);
}

/* Magic, version, length and checksum: the blob is whole. */
static int check_whole(const uint8_t *buf, size_t len, emc_err *err)
{
	uint32_t version, header;
	uint64_t total, sum;

	if (!buf || len < HEADER_BYTES + TRAILER_BYTES)
		return emc_err_set(err, -EINVAL, "checkpoint: %zu bytes, shorter than its %zu-byte header", len,
				   HEADER_BYTES + TRAILER_BYTES);
	if (memcmp(buf, MAGIC, 8) != 0)
		return emc_err_set(err, -EINVAL, "checkpoint: not a checkpoint (bad magic)");
	memcpy(&version, buf + 8, 4);
	memcpy(&header, buf + 12, 4);
	memcpy(&total, buf + 16, 8);
	if (version != VERSION || header != HEADER_BYTES)
		return emc_err_set(err, -EINVAL,
				   "checkpoint: format version %u (header %u bytes), this engine reads %u", version,
				   header, VERSION);
	if (total != len)
		return emc_err_set(err, -EINVAL, "checkpoint: %zu bytes, its header says %llu (truncated?)", len,
				   (unsigned long long)total);
	memcpy(&sum, buf + len - TRAILER_BYTES, 8);
	if (sum != nn_ckpt_hash(0, buf, len - TRAILER_BYTES))
		return emc_err_set(err, -EINVAL, "checkpoint: checksum mismatch (damaged)");
	return 0;
}

int nn_checkpoint_peek(const uint8_t *buf, size_t len, int64_t *ret_epoch, int64_t *ret_step, emc_err *err)
{
	int r = check_whole(buf, len, err);

	if (r < 0)
		return r;
	if (ret_epoch)
		memcpy(ret_epoch, buf + 24, 8);
	if (ret_step)
		memcpy(ret_step, buf + 32, 8);
	return 0;
}

#define DIFFER(field, fmt, cast)                                                                              \
	if (got.field != f->field)                                                                            \
		return emc_err_set(err, -EINVAL, "checkpoint: belongs to another trial: " #field " is " fmt   \
				   ", this trial's is " fmt, cast got.field, cast f->field);

static int check_print(cursor *c, const nn_ckpt_print *f, emc_err *err)
{
	nn_ckpt_print got;

	get_print(c, &got);
	/* The seed and shape first: they say more than a hash does. */
	DIFFER(seed, "%llu", (unsigned long long))
	DIFFER(n, "%lld", (long long))
	DIFFER(channels, "%d", (int))
	DIFFER(height, "%d", (int))
	DIFFER(width, "%d", (int))
	DIFFER(classes, "%d", (int))
	DIFFER(n_params, "%llu", (unsigned long long))
	DIFFER(optim_bytes, "%llu", (unsigned long long))
	DIFFER(state_floats, "%llu", (unsigned long long))
	DIFFER(order_len, "%llu", (unsigned long long))
	DIFFER(cfg_hash, "%016llx (the cell configuration)", (unsigned long long))
	DIFFER(data_hash, "%016llx (the subset's samples)", (unsigned long long))
	return 0;
}

static int check_loop(const nn_ckpt_loop *l, int64_t opt_t, emc_err *err)
{
	if (l->epoch < 0 || l->step < 0 || l->sample_grads < 0 || l->best_epoch < 0 || l->best_epoch > l->epoch ||
	    l->last.epoch < 0 || l->last.epoch > l->epoch || l->last.step < 0 || l->last.step > l->step)
		return emc_err_set(err, -EINVAL,
				   "checkpoint: inconsistent counters (epoch %lld, step %lld, sample_grads %lld, "
				   "best epoch %lld)",
				   (long long)l->epoch, (long long)l->step, (long long)l->sample_grads,
				   (long long)l->best_epoch);
	if (opt_t != l->step)
		return emc_err_set(err, -EINVAL, "checkpoint: optimizer at step %lld, trial at step %lld",
				   (long long)opt_t, (long long)l->step);
	if (!(l->seconds >= 0.0) || !isfinite(l->seconds))
		return emc_err_set(err, -EINVAL, "checkpoint: %g seconds spent is not a time", l->seconds);
	return 0;
}

/* The order indexes the data: it must be a permutation of 0..n-1. */
static int check_order(const uint8_t *p, int64_t n, emc_err *err)
{
	uint8_t *seen = calloc((size_t)(n + 7) / 8, 1);
	int r = 0;

	if (!seen)
		return emc_err_set(err, -ENOMEM, "out of memory checking a checkpoint's batch order");
	for (int64_t i = 0; i < n; i++) {
		int32_t k;

		memcpy(&k, p + (size_t)i * sizeof k, sizeof k);
		if (k < 0 || k >= n || (seen[k >> 3] >> (k & 7) & 1)) {
			r = emc_err_set(err, -EINVAL, "checkpoint: batch order entry %lld (%d) is not a permutation",
					(long long)i, k);
			break;
		}
		seen[k >> 3] |= (uint8_t)(1u << (k & 7));
	}
	free(seen);
	return r;
}

int nn_ckpt_read(const uint8_t *buf, size_t len, const nn_ckpt_print *f, nn_ckpt_loop *ret_loop,
		 const nn_ckpt_parts *parts, emc_err *err)
{
	cursor c = { .r = buf + 24 };
	const uint8_t *params, *opt, *state, *order;
	nn_ckpt_loop loop = { 0 };
	int64_t opt_t;
	int r;

	r = check_whole(buf, len, err);
	if (r < 0)
		return r;
	get(&c, &loop.epoch, 8);
	get(&c, &loop.step, 8);
	r = check_print(&c, f, err);
	if (r < 0)
		return r;
	/* Equal fingerprints mean equal sizes, so the body is where it should be. */
	if (len != nn_ckpt_bytes(f))
		return emc_err_set(err, -EINVAL, "checkpoint: %zu bytes where this trial's are %zu", len,
				   nn_ckpt_bytes(f));
#define GET(p, n) get(&c, p, n);
	LOOP_FIELDS(GET, &loop)
#undef GET
	params = c.r;
	opt = params + f->n_params * sizeof(float);
	state = opt + f->optim_bytes;
	order = state + f->state_floats * sizeof(float);
	memcpy(&opt_t, opt, sizeof opt_t);
	r = check_loop(&loop, opt_t, err);
	if (r < 0)
		return r;
	if (f->order_len) {
		r = check_order(order, (int64_t)f->order_len, err);
		if (r < 0)
			return r;
	}
	memcpy(parts->model->params, params, f->n_params * sizeof(float));
	nn_optim_restore(parts->opt, opt);
	nn_model_state_set(parts->model, state);
	if (f->order_len)
		memcpy(parts->order, order, f->order_len * sizeof(int32_t));
	*ret_loop = loop;
	return 0;
}
