/* train.c — one trial: train a cell's network on n samples and say how it ended.
 *
 * The loop is epochs of mini-batch steps. Each epoch visits every sample
 * once in a fresh order drawn from the cell's seed (the last, partial batch
 * included); full-batch training (gd, batch 0 or batch >= n) keeps the data
 * in place and reads it without copying. Every eval_every epochs, and when
 * a budget runs out, the whole subset is evaluated: loss, accuracy over
 * every sample and, if grad_tol is set, the full-batch gradient norm. The
 * trial stops at the first of, in this order of precedence:
 *
 *   FIT       correct >= ceil(fit_threshold · n) (integers, so 1.0 means all);
 *   GRADNORM  ‖∇‖ < grad_tol, where ∇ includes the L2 term of sgd/gd/adam;
 *   PLATEAU   the best loss has not improved by a factor (1 − plateau_rel)
 *             for plateau_epochs epochs; a non-finite loss (divergence) is
 *             a plateau too, since it cannot improve any more;
 *   BUDGET    max_epochs, max_steps or max_seconds ran out ("unconverged");
 *   CANCELLED the caller's flag, polled before every step.
 *
 * Every evaluation is over the whole subset in evaluation mode (batch norm
 * with its running statistics), the network the fit test is about. The
 * progress reports grad_norm 0 when grad_tol is 0: the norm costs a
 * backward pass over the subset and is only computed when it can stop the
 * trial.
 *
 * The learning rate of each step comes from the schedule (optim.h), a
 * function of the step number alone. With budget.hessian the end point
 * (whatever the outcome but a cancel) gets the extreme eigenvalues of the
 * loss Hessian (hessian.h).
 *
 * Memory is planned before anything is allocated: the model's arena,
 * the optimizer's state, the batch order and the Lanczos work space are
 * sized by the same functions that later allocate them, so
 * nn_trial_memory_bytes() is exactly what nn_train() allocates, and a
 * trial over the caller's limit is refused before it takes a byte.
 *
 * The compute a trial spent is counted where it is spent: sample_grads
 * is the sum over optimizer steps of the rows in that step's batch (n per
 * full-batch step, the partial last batch counted as it is), so trials of
 * different batch sizes and stops compare on one scale. Evaluations are
 * not counted: they are the fit test, not training.
 *
 * Checkpoints (checkpoint.c): at an epoch end that the trial goes on
 * from, after the evaluation when there is one, the loop can hand the
 * caller its whole state, at most once every checkpoint_every_ms; a trial
 * given one in hooks->resume checks it, restores it before the first step
 * and carries on from the top of the next epoch. The state is everything
 * the loop's future reads: the parameters and batch norm's running
 * statistics, the optimizer's step count and moments, the order array
 * and its RNG stream (the shuffle is in place, so each epoch's order
 * depends on the last), epoch, step, sample_grads, the plateau tracker,
 * the last evaluation (what a cancelled or budget-stopped result reports)
 * and the seconds spent, by which t0 moves back so the time budget
 * continues. The schedule reads only the step. Epoch ends are the only
 * points, because there no batch is half done and the next thing the loop
 * does is the shuffle; so a resumed trial runs the very float operations
 * the uninterrupted one ran, in the same order, and ends bit for bit the
 * same (given the BLAS kernel and thread count), all but train_seconds.
 * The buffer is allocated with the trial, once, at 4·(parameters +
 * statistics + moments·parameters + n) + 256 bytes; a state above
 * NN_CHECKPOINT_MAX_BYTES is not checkpointed, and the buffer is not in
 * the memory estimate.
 *
 * Workload: small networks (784-8-10 is typical) trained for thousands of
 * epochs, where the fixed cost of a step matters as much as its GEMMs; a
 * step is one gather of the batch rows, the GEMMs, and one fused optimizer
 * loop.
 *
 * Invariants: everything is allocated before the first step; a step and an
 * evaluation only compute. The initial weights and the batch order come
 * from two streams of the cell's seed (model.h). Given the BLAS thread
 * count the whole trial is deterministic; the thread count is the caller's.
 */
#include "nn.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "hessian.h"
#include "model.h"
#include "optim.h"
#include "rng.h"

/* What a trial will allocate, worked out from its description alone. */
typedef struct trial_plan {
	int64_t batch;      /* rows per step */
	int rows_cap;       /* rows per chunk */
	size_t n_params;
	size_t model_bytes, optim_bytes, order_bytes, hessian_bytes;
} trial_plan;

typedef struct trainer {
	const emc_cell_cfg *cfg;
	const nn_data *data;
	const nn_hooks *hooks;
	nn_model *model;
	nn_optim *opt;
	nn_schedule sched;
	int32_t *order; /* (n) batch order; NULL for full-batch training */
	int64_t n, batch, need;
	struct timespec t0;
	double seconds_before; /* spent before a resume: the clock continues from it */
	emc_rng order_rng;
	int64_t epoch, step;
	int64_t sample_grads; /* rows of every step's batch so far */
	double best_loss;
	int64_t best_epoch;
	nn_progress last;
	nn_ckpt_print print; /* filled when checkpointing or resuming */
	uint8_t *ckpt;       /* (ckpt_len) the checkpoint buffer; NULL when not checkpointing */
	size_t ckpt_len;
	struct timespec ckpt_at; /* when the last checkpoint was handed out (or training began) */
} trainer;

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + 1e-9 * (double)(now.tv_nsec - t0->tv_nsec);
}

/* Wall seconds of training, those before a resume included. */
static double trainer_seconds(const trainer *t)
{
	return t->seconds_before + seconds_since(&t->t0);
}

static int check_data(const nn_data *d, emc_err *err)
{
	const emc_input_shape *s = &d->shape;

	if (!d->x || !d->y)
		return emc_err_set(err, -EINVAL, "data: no samples given");
	if (d->n < 1 || d->n > INT32_MAX)
		return emc_err_set(err, -EINVAL, "data.n: %lld is not in [1, %d]", (long long)d->n, INT32_MAX);
	if (s->classes < 2 || s->classes > 256)
		return emc_err_set(err, -EINVAL, "data.shape.classes: %d is not in [2, 256]", s->classes);
	for (int64_t i = 0; i < d->n; i++)
		if (d->y[i] >= s->classes)
			return emc_err_set(err, -EINVAL, "data.y[%lld]: label %d is not below classes = %d",
					   (long long)i, d->y[i], s->classes);
	return 0;
}

static int check_budget(const emc_budget_cfg *b, emc_err *err)
{
	if (b->max_epochs < 0)
		return emc_err_set(err, -EINVAL, "budget.max_epochs: %lld is negative", (long long)b->max_epochs);
	if (b->max_steps < 0)
		return emc_err_set(err, -EINVAL, "budget.max_steps: %lld is negative", (long long)b->max_steps);
	if (!(b->max_seconds >= 0.0) || !isfinite(b->max_seconds))
		return emc_err_set(err, -EINVAL, "budget.max_seconds: %g is not >= 0", b->max_seconds);
	if (b->max_epochs == 0 && b->max_steps == 0 && b->max_seconds == 0.0)
		return emc_err_set(err, -EINVAL,
				   "budget: max_epochs, max_steps and max_seconds are all 0, "
				   "so the trial would never end");
	if (b->plateau_epochs < 0)
		return emc_err_set(err, -EINVAL, "budget.plateau_epochs: %d is negative", b->plateau_epochs);
	if (!(b->plateau_rel >= 0.0 && b->plateau_rel < 1.0))
		return emc_err_set(err, -EINVAL, "budget.plateau_rel: %g is not in [0, 1)", b->plateau_rel);
	if (b->eval_every < 1)
		return emc_err_set(err, -EINVAL, "budget.eval_every: %d is not >= 1", b->eval_every);
	if (!(b->fit_threshold > 0.0 && b->fit_threshold <= 1.0))
		return emc_err_set(err, -EINVAL, "budget.fit_threshold: %g is not in (0, 1]", b->fit_threshold);
	if (!(b->grad_tol >= 0.0) || !isfinite(b->grad_tol))
		return emc_err_set(err, -EINVAL, "budget.grad_tol: %g is not >= 0", b->grad_tol);
	return 0;
}

static double budget_used(const trainer *t, double seconds)
{
	const emc_budget_cfg *b = &t->cfg->budget;
	double u = 0.0;

	if (b->max_epochs > 0)
		u = fmax(u, (double)t->epoch / (double)b->max_epochs);
	if (b->max_steps > 0)
		u = fmax(u, (double)t->step / (double)b->max_steps);
	if (b->max_seconds > 0.0)
		u = fmax(u, seconds / b->max_seconds);
	return fmin(u, 1.0);
}

static void stamp(trainer *t)
{
	t->last.epoch = t->epoch;
	t->last.step = t->step;
	t->last.seconds = trainer_seconds(t);
	t->last.budget_used = budget_used(t, t->last.seconds);
}

/* Loss, accuracy and (when asked for) gradient norm over every sample, in
 * the data's own order. Returns the number of correct samples. */
static int64_t evaluate(trainer *t)
{
	const nn_data *d = t->data;
	bool want_grad = t->cfg->budget.grad_tol > 0.0;
	nn_pass pass;

	nn_model_pass(t->model, d->x, d->y, NULL, t->n, NN_MODE_EVAL, want_grad, &pass);
	t->last.loss = pass.loss;
	t->last.accuracy = (double)pass.correct / (double)t->n;
	t->last.grad_norm = 0.0;
	if (want_grad) {
		/* ‖g + λ·p‖ with λ the L2 coefficient the optimizer minimises. */
		const float *p = t->model->params;
		double l2 = nn_optim_l2(t->opt), sq = 0.0;

		for (size_t k = 0; k < t->model->n_params; k++) {
			double g = (double)pass.grad[k] + l2 * (double)p[k];

			sq += g * g;
		}
		t->last.grad_norm = sqrt(sq);
	}
	stamp(t);
	return pass.correct;
}

static bool cancelled(const nn_hooks *h)
{
	return h && h->cancel && atomic_load_explicit(h->cancel, memory_order_relaxed) != 0;
}

static void loop_state(const trainer *t, nn_ckpt_loop *l)
{
	*l = (nn_ckpt_loop){ .epoch = t->epoch,
			     .step = t->step,
			     .sample_grads = t->sample_grads,
			     .best_epoch = t->best_epoch,
			     .best_loss = t->best_loss,
			     .last = t->last,
			     .seconds = trainer_seconds(t),
			     .order_rng = t->order_rng };
}

/* At an epoch end that the trial goes on from: hand out a checkpoint if
 * the caller wants one and the last was long enough ago. */
static void checkpoint(trainer *t)
{
	const nn_hooks *h = t->hooks;
	nn_ckpt_parts parts = { .model = t->model, .opt = t->opt, .order = t->order };
	nn_ckpt_loop loop;
	nn_progress at;

	if (!t->ckpt ||
	    (h->checkpoint_every_ms > 0 && seconds_since(&t->ckpt_at) * 1e3 < (double)h->checkpoint_every_ms))
		return;
	loop_state(t, &loop);
	nn_ckpt_write(t->ckpt, &t->print, &loop, &parts);
	at = t->last;
	at.epoch = t->epoch;
	at.step = t->step;
	at.seconds = loop.seconds;
	at.budget_used = budget_used(t, at.seconds);
	h->checkpoint(h->ctx, t->ckpt, t->ckpt_len, &at);
	clock_gettime(CLOCK_MONOTONIC, &t->ckpt_at);
}

/* Train until a stop; returns the outcome and writes the reason. */
static emc_outcome run(trainer *t, emc_stop_reason *ret_reason)
{
	const emc_budget_cfg *b = &t->cfg->budget;
	const nn_data *d = t->data;
	const int dim = t->model->dim;

	for (;;) {
		bool budget_hit = false, epoch_done = true;
		int64_t correct;

		if (t->order)
			emc_rng_shuffle_i32(&t->order_rng, t->order, t->n);
		for (int64_t start = 0; start < t->n; start += t->batch) {
			int64_t rows = t->n - start < t->batch ? t->n - start : t->batch;
			nn_pass pass;

			if (cancelled(t->hooks)) {
				stamp(t);
				*ret_reason = EMC_STOP_CANCELLED;
				return EMC_OUTCOME_CANCELLED;
			}
			if (t->order)
				nn_model_pass(t->model, d->x, d->y, t->order + start, rows, NN_MODE_TRAIN, true,
					      &pass);
			else
				nn_model_pass(t->model, d->x + (size_t)start * (size_t)dim, d->y + start, NULL, rows,
					      NN_MODE_TRAIN, true, &pass);
			nn_optim_set_lr(t->opt, nn_schedule_lr(&t->sched, t->step));
			nn_optim_step(t->opt, t->model->params, pass.grad);
			t->step++;
			t->sample_grads += rows;
			if ((b->max_steps > 0 && t->step >= b->max_steps) ||
			    (b->max_seconds > 0.0 && trainer_seconds(t) >= b->max_seconds)) {
				budget_hit = true;
				epoch_done = start + rows >= t->n;
				break;
			}
		}
		if (epoch_done)
			t->epoch++;
		if (b->max_epochs > 0 && t->epoch >= b->max_epochs)
			budget_hit = true;
		if (!budget_hit && t->epoch % b->eval_every != 0) {
			checkpoint(t);
			continue;
		}

		correct = evaluate(t);
		if (t->hooks && t->hooks->progress)
			t->hooks->progress(t->hooks->ctx, &t->last);
		if (correct >= t->need) {
			*ret_reason = EMC_STOP_FIT;
			return EMC_OUTCOME_FIT;
		}
		if (!isfinite(t->last.loss)) {
			*ret_reason = EMC_STOP_PLATEAU;
			return EMC_OUTCOME_NO_FIT;
		}
		if (b->grad_tol > 0.0 && t->last.grad_norm < b->grad_tol) {
			*ret_reason = EMC_STOP_GRADNORM;
			return EMC_OUTCOME_NO_FIT;
		}
		if (b->plateau_epochs > 0) {
			if (t->last.loss < t->best_loss * (1.0 - b->plateau_rel)) {
				t->best_loss = t->last.loss;
				t->best_epoch = t->epoch;
			} else if (t->epoch - t->best_epoch >= b->plateau_epochs) {
				*ret_reason = EMC_STOP_PLATEAU;
				return EMC_OUTCOME_NO_FIT;
			}
		}
		if (budget_hit) {
			*ret_reason = EMC_STOP_BUDGET;
			return EMC_OUTCOME_NO_FIT;
		}
		checkpoint(t);
	}
}

static int plan_trial(const emc_cell_cfg *cfg, const emc_input_shape *in, int64_t n, trial_plan *ret,
		      emc_err *err)
{
	const emc_optim_cfg *o = &cfg->optim;
	trial_plan p = { 0 };
	int r;

	if (n < 1 || n > INT32_MAX)
		return emc_err_set(err, -EINVAL, "data.n: %lld is not in [1, %d]", (long long)n, INT32_MAX);
	if (o->batch < 0)
		return emc_err_set(err, -EINVAL, "optim.batch: %d is negative", o->batch);
	p.batch = o->name == EMC_OPT_GD || o->batch == 0 || o->batch >= n ? n : o->batch;
	/* A chunk holds a whole mini-batch, so batch norm sees the true batch;
	 * evaluations run in chunks of the same size, but at least
	 * NN_EVAL_ROWS so their GEMMs stay efficient; only full-batch steps
	 * use chunks of NN_CHUNK_ROWS. Activation memory scales with this. */
	p.rows_cap = (int)(p.batch > NN_EVAL_ROWS ? p.batch : NN_EVAL_ROWS);
	p.rows_cap = p.rows_cap < NN_CHUNK_ROWS ? p.rows_cap : NN_CHUNK_ROWS;
	p.rows_cap = p.rows_cap < n ? p.rows_cap : (int)n;
	r = nn_model_plan_bytes(&cfg->model, in, p.rows_cap, &p.n_params, &p.model_bytes, err);
	if (r < 0)
		return r;
	p.optim_bytes = nn_optim_state_bytes(o, p.n_params);
	p.order_bytes = p.batch < n ? (size_t)n * sizeof(int32_t) : 0;
	p.hessian_bytes = cfg->budget.hessian ? nn_hessian_work_bytes(p.n_params) : 0;
	*ret = p;
	return 0;
}

static int64_t plan_total(const trial_plan *p)
{
	return (int64_t)(p->model_bytes + p->optim_bytes + p->order_bytes + p->hessian_bytes);
}

int64_t nn_trial_memory_bytes(const emc_cell_cfg *cfg, const emc_input_shape *in, int64_t n)
{
	trial_plan p = { 0 };
	int r = plan_trial(cfg, in, n, &p, NULL);

	return r < 0 ? r : plan_total(&p);
}

/* With a checkpoint hook: the fingerprint and the buffer (unless the state
 * is larger than NN_CHECKPOINT_MAX_BYTES). With hooks->resume: check the
 * blob and restore the trial from it. Before the first step. */
static int checkpoint_setup(trainer *t, emc_err *err)
{
	const nn_hooks *h = t->hooks;
	int r;

	if (!h || (!h->checkpoint && !h->resume))
		return 0;
	nn_ckpt_print_fill(&t->print, t->cfg, t->data, t->model, t->opt, t->order ? (uint64_t)t->n : 0);
	if (h->resume) {
		nn_ckpt_parts parts = { .model = t->model, .opt = t->opt, .order = t->order };
		nn_ckpt_loop l;

		r = nn_ckpt_read(h->resume, h->resume_len, &t->print, &l, &parts, err);
		if (r < 0)
			return r;
		t->epoch = l.epoch;
		t->step = l.step;
		t->sample_grads = l.sample_grads;
		t->best_epoch = l.best_epoch;
		t->best_loss = l.best_loss;
		t->last = l.last;
		t->seconds_before = l.seconds;
		t->order_rng = l.order_rng;
	}
	if (h->checkpoint && nn_ckpt_bytes(&t->print) <= NN_CHECKPOINT_MAX_BYTES) {
		t->ckpt_len = nn_ckpt_bytes(&t->print);
		t->ckpt = malloc(t->ckpt_len);
		if (!t->ckpt)
			return emc_err_set(err, -ENOMEM, "out of memory for a %zu-byte checkpoint", t->ckpt_len);
		memset(t->ckpt, 0, t->ckpt_len); /* touched now, not at the first epoch end */
	}
	return 0;
}

int nn_train(const emc_cell_cfg *cfg, const nn_data *data, const nn_hooks *hooks, nn_trial_result *ret,
	     emc_err *err)
{
	trainer t = { .cfg = cfg, .data = data, .hooks = hooks, .best_loss = INFINITY };
	nn_trial_result res = { 0 };
	void *hessian_work = NULL;
	trial_plan plan = { 0 };
	int64_t need_bytes, model_params;
	double need;
	int r;

	r = emc_cell_check(cfg, err); /* the same ranges the spec and the wire enforce */
	if (r < 0)
		return r;
	r = check_data(data, err);
	if (r < 0)
		return r;
	r = check_budget(&cfg->budget, err);
	if (r < 0)
		return r;
	r = plan_trial(cfg, &data->shape, data->n, &plan, err);
	if (r < 0)
		return r;
	need_bytes = plan_total(&plan);
	if (hooks && hooks->memory_limit_bytes > 0 && need_bytes > hooks->memory_limit_bytes)
		return emc_err_set(err, -ENOMEM,
				   "memory: this trial needs %.1f MiB (%lld bytes) on n = %lld samples, "
				   "the limit is %.1f MiB (%lld bytes)",
				   (double)need_bytes / (1 << 20), (long long)need_bytes, (long long)data->n,
				   (double)hooks->memory_limit_bytes / (1 << 20),
				   (long long)hooks->memory_limit_bytes);

	t.n = data->n;
	t.batch = plan.batch;
	need = ceil(cfg->budget.fit_threshold * (double)t.n - 1e-9);
	t.need = need < 1.0 ? 1 : (int64_t)need;
	r = nn_schedule_init(&t.sched, &cfg->optim, &cfg->budget, (t.n + t.batch - 1) / t.batch, err);
	if (r < 0)
		return r;

	r = nn_model_new(&cfg->model, &data->shape, plan.rows_cap, &t.model, err);
	if (r < 0)
		goto fail;
	/* The count the coordinator shows must be the network trained. (A
	 * family the parameter counter does not know yet returns < 0.) */
	model_params = emc_model_params(&cfg->model, &data->shape);
	assert(model_params < 0 || model_params == (int64_t)t.model->n_params);
	nn_model_init_params(t.model, cfg->seed, NN_STREAM_INIT);
	r = nn_optim_new(&cfg->optim, t.model->n_params, &t.opt, err);
	if (r < 0)
		goto fail;
	res.memory_bytes = (int64_t)(t.model->arena_bytes + nn_optim_state_bytes(&cfg->optim, t.model->n_params));
	if (t.batch < t.n) {
		t.order = malloc((size_t)t.n * sizeof *t.order);
		if (!t.order) {
			r = emc_err_set(err, -ENOMEM, "out of memory for the batch order of %lld samples",
					(long long)t.n);
			goto fail;
		}
		res.memory_bytes += (int64_t)((size_t)t.n * sizeof *t.order);
		for (int64_t i = 0; i < t.n; i++)
			t.order[i] = (int32_t)i;
	}
	if (cfg->budget.hessian) {
		size_t bytes = nn_hessian_work_bytes(t.model->n_params);

		hessian_work = aligned_alloc(64, bytes); /* a multiple of 64 */
		if (!hessian_work) {
			r = emc_err_set(err, -ENOMEM, "out of memory for %zu MiB of Hessian work space",
					bytes >> 20);
			goto fail;
		}
		memset(hessian_work, 0, bytes);
		res.memory_bytes += (int64_t)bytes;
	}

	emc_rng_seed(&t.order_rng, cfg->seed, NN_STREAM_ORDER);
	r = checkpoint_setup(&t, err);
	if (r < 0)
		goto fail;

	clock_gettime(CLOCK_MONOTONIC, &t.t0);
	t.ckpt_at = t.t0;
	res.r.outcome = run(&t, &res.r.reason);
	if (hooks && hooks->final_params)
		hooks->final_params(hooks->ctx, t.model->params, t.model->n_params);
	if (cfg->budget.hessian && res.r.outcome != EMC_OUTCOME_CANCELLED) {
		/* A diverged end point (non-finite products) has no certificate. */
		res.r.has_hessian = nn_hessian_extremes(t.model, data->x, data->y, t.n, nn_optim_l2(t.opt), cfg->seed,
							hessian_work, &res.r.hessian_min, &res.r.hessian_max) == 0;
	}
	res.r.epochs = t.last.epoch;
	res.r.steps = t.last.step;
	res.r.sample_grads = t.sample_grads;
	res.r.train_seconds = t.last.seconds;
	res.r.loss = t.last.loss;
	res.r.accuracy = t.last.accuracy;
	res.r.grad_norm = t.last.grad_norm;
	res.r.budget_used = t.last.budget_used;
	res.r.params = (int64_t)t.model->n_params;
	*ret = res;
	r = 0;
fail:
	free(t.ckpt);
	free(hessian_work);
	free(t.order);
	nn_optim_destroy(&t.opt);
	nn_model_destroy(&t.model);
	return r;
}
