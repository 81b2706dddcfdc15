/* optim.c — the optimizers, as PyTorch defines them, and the schedule (see optim.h).
 *
 * State (the momentum buffer, or Adam's two moments) is allocated and
 * zeroed once when the optimizer is made, sized for the whole parameter
 * vector; a step is one fused loop over it with per-step scalars (bias
 * corrections) worked out in double beforehand. Settings that come from a
 * spec are checked here, once, and name the offending field.

 The learning rate is a field the trainer sets before each step from the
 schedule (a pure function of the step number, so a trial is replayable),
 which keeps the update loops free of schedule logic.
 */
#include "optim.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct nn_optim {
	emc_optim_cfg cfg;
	size_t n;
	int64_t t;   /* steps taken */
	double lr;   /* of the next step */
	float *m;    /* (n) sgd momentum buffer, or adam first moment; NULL if unused */
	float *v;    /* (n) adam second moment; NULL if unused */
	void *arena; /* behind m and v */
};

static int check(const emc_optim_cfg *c, emc_err *err)
{
	bool adam = c->name == EMC_OPT_ADAM || c->name == EMC_OPT_ADAMW;

	if ((int)c->name < 0 || (int)c->name >= EMC_OPT_COUNT)
		return emc_err_set(err, -EINVAL, "optim.name: unknown value %d", (int)c->name);
	if (!(c->lr > 0.0) || !isfinite(c->lr))
		return emc_err_set(err, -EINVAL, "optim.lr: %g is not a positive number", c->lr);
	if (!(c->weight_decay >= 0.0) || !isfinite(c->weight_decay))
		return emc_err_set(err, -EINVAL, "optim.weight_decay: %g is not >= 0", c->weight_decay);
	if (adam) {
		if (!(c->beta1 >= 0.0 && c->beta1 < 1.0))
			return emc_err_set(err, -EINVAL, "optim.beta1: %g is not in [0, 1)", c->beta1);
		if (!(c->beta2 >= 0.0 && c->beta2 < 1.0))
			return emc_err_set(err, -EINVAL, "optim.beta2: %g is not in [0, 1)", c->beta2);
		if (!(c->eps > 0.0) || !isfinite(c->eps))
			return emc_err_set(err, -EINVAL, "optim.eps: %g is not a positive number", c->eps);
	} else {
		if (!(c->momentum >= 0.0 && c->momentum < 1.0))
			return emc_err_set(err, -EINVAL, "optim.momentum: %g is not in [0, 1)", c->momentum);
		if (c->nesterov && c->momentum == 0.0)
			return emc_err_set(err, -EINVAL, "optim.nesterov: needs optim.momentum > 0");
	}
	return 0;
}

static size_t moments(const emc_optim_cfg *cfg)
{
	if (cfg->name == EMC_OPT_ADAM || cfg->name == EMC_OPT_ADAMW)
		return 2;
	return cfg->momentum > 0.0 ? 1 : 0;
}

/* Floats per moment: keeps v 64-byte aligned too. */
static size_t stride(size_t n)
{
	return (n + 15) / 16 * 16;
}

size_t nn_optim_state_bytes(const emc_optim_cfg *cfg, size_t n)
{
	return n == 0 ? 0 : moments(cfg) * stride(n) * sizeof(float);
}

int nn_optim_new(const emc_optim_cfg *cfg, size_t n, nn_optim **ret, emc_err *err)
{
	nn_optim *o = NULL;
	size_t bytes;
	int r;

	r = check(cfg, err);
	if (r < 0)
		return r;
	o = calloc(1, sizeof *o);
	if (!o)
		return emc_err_set(err, -ENOMEM, "out of memory for the optimizer");
	o->cfg = *cfg;
	o->n = n;
	o->lr = cfg->lr;
	bytes = nn_optim_state_bytes(cfg, n);
	if (bytes > 0) {
		o->arena = aligned_alloc(64, bytes);
		if (!o->arena) {
			r = emc_err_set(err, -ENOMEM, "out of memory for %zu MiB of optimizer state", bytes >> 20);
			goto fail;
		}
		memset(o->arena, 0, bytes);
		o->m = o->arena;
		if (moments(cfg) == 2)
			o->v = o->m + stride(n);
	}
	*ret = o;
	return 0;
fail:
	nn_optim_destroy(&o);
	return r;
}

void nn_optim_destroy(nn_optim **p)
{
	if (!*p)
		return;
	free((*p)->arena);
	free(*p);
	*p = NULL;
}

void nn_optim_set_lr(nn_optim *o, double lr)
{
	o->lr = lr;
}

double nn_optim_l2(const nn_optim *o)
{
	return o->cfg.name == EMC_OPT_ADAMW ? 0.0 : o->cfg.weight_decay;
}

size_t nn_optim_snapshot_bytes(const nn_optim *o)
{
	return sizeof(int64_t) + moments(&o->cfg) * o->n * sizeof(float);
}

void nn_optim_snapshot(const nn_optim *o, uint8_t *out)
{
	size_t floats = o->n * sizeof(float);

	memcpy(out, &o->t, sizeof o->t);
	out += sizeof o->t;
	if (o->m)
		memcpy(out, o->m, floats);
	if (o->v)
		memcpy(out + floats, o->v, floats);
}

void nn_optim_restore(nn_optim *o, const uint8_t *in)
{
	size_t floats = o->n * sizeof(float);

	memcpy(&o->t, in, sizeof o->t);
	in += sizeof o->t;
	if (o->m)
		memcpy(o->m, in, floats);
	if (o->v)
		memcpy(o->v, in + floats, floats);
}

static void sgd_step(nn_optim *o, float *p, const float *g)
{
	const float lr = (float)o->lr, wd = (float)o->cfg.weight_decay, mu = (float)o->cfg.momentum;
	float *buf = o->m;

	if (!buf) {
		for (size_t i = 0; i < o->n; i++)
			p[i] -= lr * (g[i] + wd * p[i]);
		return;
	}
	/* PyTorch starts the buffer at the first gradient, not at μ·0 + g
	 * (the same with dampening 0, but written as it is meant). */
	if (o->t == 1) {
		for (size_t i = 0; i < o->n; i++)
			buf[i] = g[i] + wd * p[i];
		if (o->cfg.nesterov)
			for (size_t i = 0; i < o->n; i++)
				p[i] -= lr * ((g[i] + wd * p[i]) + mu * buf[i]);
		else
			for (size_t i = 0; i < o->n; i++)
				p[i] -= lr * buf[i];
		return;
	}
	if (o->cfg.nesterov) {
		for (size_t i = 0; i < o->n; i++) {
			float gi = g[i] + wd * p[i];

			buf[i] = mu * buf[i] + gi;
			p[i] -= lr * (gi + mu * buf[i]);
		}
	} else {
		for (size_t i = 0; i < o->n; i++) {
			buf[i] = mu * buf[i] + (g[i] + wd * p[i]);
			p[i] -= lr * buf[i];
		}
	}
}

static void adam_step(nn_optim *o, float *p, const float *g, float wd)
{
	const double b1 = o->cfg.beta1, b2 = o->cfg.beta2;
	const double bc1 = 1.0 - pow(b1, (double)o->t), bc2 = 1.0 - pow(b2, (double)o->t);
	const float step = (float)(o->lr / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
	const float fb1 = (float)b1, fb2 = (float)b2, eps = (float)o->cfg.eps;
	float *restrict m = o->m, *restrict v = o->v;

	for (size_t i = 0; i < o->n; i++) {
		float gi = g[i] + wd * p[i];

		m[i] = fb1 * m[i] + (1.0f - fb1) * gi;
		v[i] = fb2 * v[i] + (1.0f - fb2) * gi * gi;
		p[i] -= step * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
	}
}

void nn_optim_step(nn_optim *o, float *params, const float *grad)
{
	o->t++;
	switch (o->cfg.name) {
	case EMC_OPT_SGD:
	case EMC_OPT_GD:
		sgd_step(o, params, grad);
		break;
	case EMC_OPT_ADAM:
		adam_step(o, params, grad, (float)o->cfg.weight_decay);
		break;
	case EMC_OPT_ADAMW: {
		/* Decoupled decay: shrink the weights, then an undecayed Adam step. */
		const float keep = (float)(1.0 - o->lr * o->cfg.weight_decay);

		if (keep != 1.0f)
			for (size_t i = 0; i < o->n; i++)
				params[i] *= keep;
		adam_step(o, params, grad, 0.0f);
		break;
	}
	default:
		assert(!"optimizer checked at creation");
	}
}

int nn_schedule_init(nn_schedule *s, const emc_optim_cfg *o, const emc_budget_cfg *b, int64_t steps_per_epoch,
		     emc_err *err)
{
	int64_t total = 0;

	if ((int)o->schedule < 0 || (int)o->schedule >= EMC_SCHEDULE_COUNT)
		return emc_err_set(err, -EINVAL, "optimizer.schedule: unknown value %d", (int)o->schedule);
	if (o->warmup_epochs < 0)
		return emc_err_set(err, -EINVAL, "optimizer.warmup_epochs: %d is negative", o->warmup_epochs);
	if (b->max_epochs > 0)
		total = b->max_epochs > INT64_MAX / steps_per_epoch ? INT64_MAX : b->max_epochs * steps_per_epoch;
	if (b->max_steps > 0 && (total == 0 || b->max_steps < total))
		total = b->max_steps;
	*s = (nn_schedule){ .kind = o->schedule, .lr = o->lr, .total = total };
	s->warmup = (int64_t)o->warmup_epochs * steps_per_epoch;
	if (o->schedule == EMC_SCHEDULE_COSINE) {
		if (total == 0)
			return emc_err_set(err, -EINVAL,
					   "optimizer.schedule: cosine decays over the budget's steps, but the budget "
					   "sets only max_seconds; set budget.max_steps or budget.max_epochs");
		if (s->warmup >= total)
			return emc_err_set(err, -EINVAL,
					   "optimizer.warmup_epochs: %d epochs of warm-up (%lld steps) leave none of "
					   "the %lld-step budget for the cosine",
					   o->warmup_epochs, (long long)s->warmup, (long long)total);
	}
	return 0;
}

double nn_schedule_lr(const nn_schedule *s, int64_t t)
{
	if (t < s->warmup)
		return s->lr * (double)(t + 1) / (double)s->warmup;
	if (s->kind == EMC_SCHEDULE_COSINE) {
		double u = (double)(t - s->warmup) / (double)(s->total - s->warmup);

		return s->lr * 0.5 * (1.0 + cos(M_PI * (u < 1.0 ? u : 1.0)));
	}
	return s->lr;
}
