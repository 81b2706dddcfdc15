/* test_nn_checkpoint.c — a trial resumed from a checkpoint ends exactly as
 * the uninterrupted trial does.
 *
 * For each kind of trial (SGD with momentum, Adam with a warm-up and a
 * cosine, a network with batch norm, full-batch gd evaluated every few
 * epochs, a plateau stop, a fit stop) the uninterrupted run is recorded
 * with a checkpoint at every epoch end; then fresh trials resumed from
 * checkpoints spread over the run, and a chain of five resumes each from
 * the previous resume's checkpoint, must report the same outcome, reason,
 * epochs, steps, sample_grads, loss, accuracy and gradient norm, and end
 * with the same parameters, bit for bit (train_seconds is the one value
 * that continues rather than repeats). Damaged blobs and blobs of other
 * trials are refused before anything is trained.
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>

#include "checkpoint.h" /* nn_ckpt_hash, to forge a well-formed blob */
#include "nn.h"
#include "rng.h"

#define MAX_CKPT 512

/* What one run of nn_train left behind. */
typedef struct rec {
	int rc;
	emc_err err;
	nn_trial_result res;
	float *params;
	size_t n_params;
	uint8_t *blob[MAX_CKPT];
	size_t len[MAX_CKPT];
	nn_progress at[MAX_CKPT];
	int n_ckpt;
	int progress_calls;
	atomic_int cancel;
	int64_t cancel_after_epoch; /* > 0: raise the cancel flag at this epoch's evaluation */
} rec;

static void on_checkpoint(void *ctx, const uint8_t *buf, size_t len, const nn_progress *at)
{
	rec *r = ctx;

	assert_true(r->n_ckpt < MAX_CKPT);
	r->blob[r->n_ckpt] = malloc(len);
	assert_non_null(r->blob[r->n_ckpt]);
	memcpy(r->blob[r->n_ckpt], buf, len);
	r->len[r->n_ckpt] = len;
	r->at[r->n_ckpt] = *at;
	r->n_ckpt++;
}

static void on_progress(void *ctx, const nn_progress *p)
{
	rec *r = ctx;

	r->progress_calls++;
	if (r->cancel_after_epoch > 0 && p->epoch == r->cancel_after_epoch)
		atomic_store(&r->cancel, 1);
}

static void on_final(void *ctx, const float *params, size_t n)
{
	rec *r = ctx;

	r->params = malloc(n * sizeof *params);
	assert_non_null(r->params);
	memcpy(r->params, params, n * sizeof *params);
	r->n_params = n;
}

static rec *rec_new(void)
{
	rec *r = calloc(1, sizeof *r);

	assert_non_null(r);
	return r;
}

static void rec_destroy(rec **p)
{
	if (!*p)
		return;
	for (int i = 0; i < (*p)->n_ckpt; i++)
		free((*p)->blob[i]);
	free((*p)->params);
	free(*p);
	*p = NULL;
}

/* Train, keeping every checkpoint; resume from blob when it is not NULL. */
static rec *train(const emc_cell_cfg *cfg, const nn_data *data, const uint8_t *blob, size_t len,
		  int64_t cancel_after_epoch)
{
	rec *r = rec_new();
	nn_hooks hooks = { .progress = on_progress,
			   .ctx = r,
			   .cancel = &r->cancel,
			   .checkpoint = on_checkpoint,
			   .checkpoint_every_ms = 0,
			   .resume = blob,
			   .resume_len = len,
			   .final_params = on_final };

	r->cancel_after_epoch = cancel_after_epoch;
	r->rc = nn_train(cfg, data, &hooks, &r->res, &r->err);
	return r;
}

#define SAME_INT(f)                                                                                           \
	if (got->res.r.f != want->res.r.f)                                                                    \
	fail_msg("%s: " #f " %lld, uninterrupted %lld", what, (long long)got->res.r.f, (long long)want->res.r.f)
#define SAME_BITS(f)                                                                                          \
	if (memcmp(&got->res.r.f, &want->res.r.f, sizeof want->res.r.f) != 0)                                 \
	fail_msg("%s: " #f " %.17g, uninterrupted %.17g", what, got->res.r.f, want->res.r.f)

/* Everything a result reports but train_seconds, and the final network. */
static void assert_same_result(const rec *got, const rec *want, const char *what)
{
	if (got->rc != 0)
		fail_msg("%s: nn_train %d: %s", what, got->rc, got->err.msg);
	SAME_INT(outcome);
	SAME_INT(reason);
	SAME_INT(epochs);
	SAME_INT(steps);
	SAME_INT(sample_grads);
	SAME_INT(params);
	SAME_BITS(loss);
	SAME_BITS(accuracy);
	SAME_BITS(grad_norm);
	SAME_BITS(budget_used);
	assert_int_equal(got->n_params, want->n_params);
	if (memcmp(got->params, want->params, want->n_params * sizeof(float)) != 0)
		fail_msg("%s: the final parameters differ", what);
}

/* The checkpoint of rec r taken at epoch e, or -1. */
static int ckpt_at_epoch(const rec *r, int64_t e)
{
	for (int i = 0; i < r->n_ckpt; i++)
		if (r->at[i].epoch == e)
			return i;
	return -1;
}

/* The uninterrupted run; resumes from 6 checkpoints spread over it; a
 * chain of 5 resumes. */
static void check_resumes(const char *name, const emc_cell_cfg *cfg, const nn_data *data, emc_outcome outcome,
			  emc_stop_reason reason)
{
	rec *full = train(cfg, data, NULL, 0, 0);
	char what[128];
	int64_t e, last;

	if (full->rc != 0)
		fail_msg("%s: %s", name, full->err.msg);
	assert_int_equal(full->res.r.outcome, outcome);
	assert_int_equal(full->res.r.reason, reason);
	print_message("# %s: %lld epochs, %lld steps, %d checkpoints\n", name, (long long)full->res.r.epochs,
		      (long long)full->res.r.steps, full->n_ckpt);
	if (full->n_ckpt < 10)
		fail_msg("%s: only %d checkpoints in %lld epochs", name, full->n_ckpt, (long long)full->res.r.epochs);

	/* Taking checkpoints does not change the trial. */
	{
		nn_hooks hooks = { .final_params = on_final };
		rec *plain = rec_new();

		hooks.ctx = plain;
		assert_int_equal(nn_train(cfg, data, &hooks, &plain->res, NULL), 0);
		snprintf(what, sizeof what, "%s, no checkpoints", name);
		assert_same_result(plain, full, what);
		rec_destroy(&plain);
	}

	for (int k = 0; k <= 5; k++) {
		int i = k * (full->n_ckpt - 1) / 5;
		int64_t ep, st;
		rec *r;

		assert_int_equal(nn_checkpoint_peek(full->blob[i], full->len[i], &ep, &st, NULL), 0);
		assert_int_equal(ep, full->at[i].epoch);
		assert_int_equal(st, full->at[i].step);
		r = train(cfg, data, full->blob[i], full->len[i], 0);
		snprintf(what, sizeof what, "%s, resumed at epoch %lld", name, (long long)ep);
		assert_same_result(r, full, what);
		/* The clock continues from the seconds already spent. */
		if (r->res.r.train_seconds < full->at[i].seconds ||
		    (r->n_ckpt > 0 && r->at[0].seconds < full->at[i].seconds))
			fail_msg("%s: %g seconds after the resume, %g before it", what, r->res.r.train_seconds,
				 full->at[i].seconds);
		rec_destroy(&r);
	}

	/* A chain: each resume goes a few epochs and is resumed from its own
	 * checkpoint, five times. */
	last = full->at[full->n_ckpt - 1].epoch;
	e = full->at[0].epoch;
	{
		int i = ckpt_at_epoch(full, e);
		uint8_t *blob = malloc(full->len[i]);
		size_t len = full->len[i];
		rec *r = NULL;

		assert_non_null(blob);
		memcpy(blob, full->blob[i], len);
		for (int link = 0; link < 5; link++) {
			int64_t next = e + (last - e) / (5 - link) / 2 + 1;
			int j;

			rec_destroy(&r);
			r = train(cfg, data, blob, len, 0);
			snprintf(what, sizeof what, "%s, chain link %d from epoch %lld", name, link, (long long)e);
			assert_same_result(r, full, what);
			print_message("#   chain link %d from epoch %lld\n", link, (long long)e);
			j = ckpt_at_epoch(r, next);
			if (j < 0 || link == 4)
				break;
			free(blob);
			len = r->len[j];
			blob = malloc(len);
			assert_non_null(blob);
			memcpy(blob, r->blob[j], len);
			e = next;
		}
		assert_true(e > full->at[0].epoch);
		free(blob);
		rec_destroy(&r);
	}
	rec_destroy(&full);
}

/* n samples, D features, C classes in well separated clusters. */
static void clusters(uint64_t seed, int n, int D, int C, double spread, float *x, uint8_t *y)
{
	emc_rng r;
	float centers[8 * 16];

	emc_rng_seed(&r, seed, 7);
	for (int i = 0; i < C * D; i++)
		centers[i] = (float)(3.0 * emc_rng_normal(&r));
	for (int i = 0; i < n; i++) {
		y[i] = (uint8_t)(i % C);
		for (int j = 0; j < D; j++)
			x[i * D + j] = centers[y[i] * D + j] + (float)(spread * emc_rng_normal(&r));
	}
}

/* Labels that cannot be fitted: random labels on noise. */
static void noise(uint64_t seed, int n, int D, int C, float *x, uint8_t *y)
{
	emc_rng r;

	emc_rng_seed(&r, seed, 3);
	for (int i = 0; i < n * D; i++)
		x[i] = (float)emc_rng_normal(&r);
	for (int i = 0; i < n; i++)
		y[i] = (uint8_t)emc_rng_below(&r, (uint64_t)C);
}

static void mlp_cfg(emc_cell_cfg *c, int width)
{
	emc_cell_cfg_defaults(c);
	c->model.family = EMC_FAMILY_MLP;
	c->model.n_widths = 1;
	c->model.widths[0] = width;
	c->seed = 42;
	c->budget.plateau_epochs = 0;
}

enum { N = 40, D = 5, C = 3 };
static float xs[N * D];
static uint8_t ys[N];
static const nn_data noise_data = { .x = xs, .y = ys, .n = N, .shape = { 1, 1, D, C } };

static void test_sgd_momentum(void **state)
{
	emc_cell_cfg cfg;

	(void)state;
	noise(1, N, D, C, xs, ys);
	mlp_cfg(&cfg, 8);
	cfg.optim.name = EMC_OPT_SGD;
	cfg.optim.lr = 0.05;
	cfg.optim.momentum = 0.9;
	cfg.optim.nesterov = true;
	cfg.optim.weight_decay = 1e-3;
	cfg.optim.batch = 7; /* a partial last batch */
	cfg.budget.max_epochs = 30;
	check_resumes("sgd momentum", &cfg, &noise_data, EMC_OUTCOME_NO_FIT, EMC_STOP_BUDGET);
}

static void test_adam_schedule(void **state)
{
	emc_cell_cfg cfg;

	(void)state;
	noise(2, N, D, C, xs, ys);
	mlp_cfg(&cfg, 8);
	cfg.optim.name = EMC_OPT_ADAM;
	cfg.optim.lr = 0.01;
	cfg.optim.batch = 8;
	cfg.optim.schedule = EMC_SCHEDULE_COSINE;
	cfg.optim.warmup_epochs = 5;
	cfg.budget.max_epochs = 30;
	cfg.budget.grad_tol = 1e-12; /* the gradient norm is computed and compared too */
	check_resumes("adam cosine warm-up", &cfg, &noise_data, EMC_OUTCOME_NO_FIT, EMC_STOP_BUDGET);
}

/* The resnet family has batch norm, whose running statistics the
 * evaluations use: a checkpoint without them resumes to another loss. */
static void test_batch_norm(void **state)
{
	enum { NI = 12 };
	static float xi[NI * 72];
	static uint8_t yi[NI];
	nn_data data = { .x = xi, .y = yi, .n = NI, .shape = { 2, 6, 6, 3 } };
	emc_cell_cfg cfg;
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 16, 1);
	for (int i = 0; i < NI * 72; i++)
		xi[i] = (float)emc_rng_uniform(&r);
	for (int i = 0; i < NI; i++)
		yi[i] = (uint8_t)emc_rng_below(&r, 3);
	emc_cell_cfg_defaults(&cfg);
	cfg.model = (emc_model_cfg){ .family = EMC_FAMILY_RESNET, .activation = EMC_ACT_RELU, .width = 2,
				     .n_widths = 2, .widths = { 1, 1 } };
	cfg.seed = 5;
	cfg.optim.name = EMC_OPT_SGD;
	cfg.optim.lr = 0.02;
	cfg.optim.momentum = 0.9;
	cfg.optim.batch = 5;
	cfg.budget.max_epochs = 12;
	cfg.budget.plateau_epochs = 0;
	check_resumes("batch norm", &cfg, &data, EMC_OUTCOME_NO_FIT, EMC_STOP_BUDGET);
}

/* Full-batch gd evaluated every third epoch: checkpoints between
 * evaluations carry the last evaluation's values. */
static void test_full_batch(void **state)
{
	emc_cell_cfg cfg;

	(void)state;
	noise(3, N, D, C, xs, ys);
	mlp_cfg(&cfg, 8);
	cfg.optim.name = EMC_OPT_GD;
	cfg.optim.lr = 0.1;
	cfg.optim.momentum = 0.5;
	cfg.budget.max_epochs = 40;
	cfg.budget.eval_every = 3;
	cfg.budget.grad_tol = 1e-12;
	check_resumes("full-batch gd", &cfg, &noise_data, EMC_OUTCOME_NO_FIT, EMC_STOP_BUDGET);
}

static void test_plateau(void **state)
{
	emc_cell_cfg cfg;

	(void)state;
	noise(4, N, D, C, xs, ys);
	mlp_cfg(&cfg, 3);
	cfg.optim.name = EMC_OPT_SGD;
	cfg.optim.lr = 0.05;
	cfg.optim.batch = 10;
	cfg.budget.max_epochs = 2000;
	cfg.budget.plateau_epochs = 6;
	cfg.budget.plateau_rel = 0.01;
	check_resumes("plateau", &cfg, &noise_data, EMC_OUTCOME_NO_FIT, EMC_STOP_PLATEAU);
}

static void test_fit(void **state)
{
	emc_cell_cfg cfg;

	(void)state;
	clusters(5, N, D, C, 1.5, xs, ys);
	mlp_cfg(&cfg, 8);
	cfg.optim.name = EMC_OPT_SGD;
	cfg.optim.lr = 0.002;
	cfg.optim.batch = 6;
	cfg.budget.max_epochs = 5000;
	check_resumes("fit", &cfg, &noise_data, EMC_OUTCOME_FIT, EMC_STOP_FIT);
}

/* The cancel flag stops a trial; the last checkpoint before it resumes to
 * the uninterrupted result. */
static void test_cancel(void **state)
{
	emc_cell_cfg cfg;
	rec *full, *cut, *resumed;

	(void)state;
	noise(6, N, D, C, xs, ys);
	mlp_cfg(&cfg, 8);
	cfg.optim.name = EMC_OPT_ADAM;
	cfg.optim.lr = 0.01;
	cfg.optim.batch = 7;
	cfg.budget.max_epochs = 25;
	full = train(&cfg, &noise_data, NULL, 0, 0);
	cut = train(&cfg, &noise_data, NULL, 0, 10);
	assert_int_equal(cut->rc, 0);
	assert_int_equal(cut->res.r.outcome, EMC_OUTCOME_CANCELLED);
	assert_true(cut->n_ckpt > 0);
	assert_int_equal(cut->at[cut->n_ckpt - 1].epoch, 10);
	resumed = train(&cfg, &noise_data, cut->blob[cut->n_ckpt - 1], cut->len[cut->n_ckpt - 1], 0);
	assert_same_result(resumed, full, "resumed after a cancel");
	rec_destroy(&resumed);
	/* Cancelled again before its first step, the resumed trial reports
	 * what the cancelled one did: the last evaluation is in the blob. */
	{
		rec *again = rec_new();
		nn_hooks hooks = { .ctx = again,
				   .cancel = &again->cancel,
				   .resume = cut->blob[cut->n_ckpt - 1],
				   .resume_len = cut->len[cut->n_ckpt - 1],
				   .final_params = on_final };

		atomic_store(&again->cancel, 1);
		assert_int_equal(nn_train(&cfg, &noise_data, &hooks, &again->res, NULL), 0);
		assert_same_result(again, cut, "cancelled at once after a resume");
		rec_destroy(&again);
	}
	rec_destroy(&cut);
	rec_destroy(&full);
}

/* A blob that is damaged or of another trial is refused, naming why, and
 * nothing is trained. */
static void refused(const emc_cell_cfg *cfg, const nn_data *data, const uint8_t *blob, size_t len,
		    const char *expect, const char *what)
{
	rec *r = train(cfg, data, blob, len, 0);

	if (r->rc != -EINVAL)
		fail_msg("%s: nn_train returned %d, not -EINVAL", what, r->rc);
	if (!strstr(r->err.msg, expect))
		fail_msg("%s: error \"%s\" does not say \"%s\"", what, r->err.msg, expect);
	assert_int_equal(r->progress_calls, 0);
	assert_int_equal(r->n_ckpt, 0);
	assert_null(r->params);
	rec_destroy(&r);
}

static void test_refused(void **state)
{
	static float x2[N * D];
	nn_data other = noise_data, fewer = noise_data, moved = noise_data;
	emc_cell_cfg cfg, cfg2;
	rec *full, *seed43;
	uint8_t *b;
	size_t len;
	int i;

	(void)state;
	noise(7, N, D, C, xs, ys);
	mlp_cfg(&cfg, 8);
	cfg.optim.name = EMC_OPT_ADAM;
	cfg.optim.lr = 0.01;
	cfg.optim.batch = 7;
	cfg.budget.max_epochs = 12;
	full = train(&cfg, &noise_data, NULL, 0, 0);
	assert_int_equal(full->rc, 0);
	i = full->n_ckpt / 2;
	len = full->len[i];
	b = malloc(len);
	assert_non_null(b);

	memcpy(b, full->blob[i], len);
	refused(&cfg, &noise_data, b, len - 1, "truncated", "truncated by one byte");
	assert_int_equal(nn_checkpoint_peek(b, len - 1, NULL, NULL, NULL), -EINVAL);
	refused(&cfg, &noise_data, b, 10, "shorter than", "ten bytes");
	b[len / 2] ^= 0x10;
	refused(&cfg, &noise_data, b, len, "checksum", "one bit flipped");
	assert_int_equal(nn_checkpoint_peek(b, len, NULL, NULL, NULL), -EINVAL);
	memcpy(b, full->blob[i], len);
	b[0] ^= 1;
	refused(&cfg, &noise_data, b, len, "magic", "bad magic");
	memcpy(b, full->blob[i], len);
	b[8] = 99;
	refused(&cfg, &noise_data, b, len, "version", "another version");

	/* A well-formed blob that lies (its checksum recomputed): a batch
	 * order that is not a permutation, an epoch below zero. */
	memcpy(b, full->blob[i], len);
	{
		int32_t k = N + 5;
		uint64_t sum;

		memcpy(b + len - 8 - 4, &k, 4); /* the last order entry, before the trailer */
		sum = nn_ckpt_hash(0, b, len - 8);
		memcpy(b + len - 8, &sum, 8);
		refused(&cfg, &noise_data, b, len, "permutation", "an order entry out of range");
		memcpy(b, full->blob[i], len);
		memcpy(&k, b + len - 8 - 8, 4); /* the second last entry, now twice */
		memcpy(b + len - 8 - 4, &k, 4);
		sum = nn_ckpt_hash(0, b, len - 8);
		memcpy(b + len - 8, &sum, 8);
		refused(&cfg, &noise_data, b, len, "permutation", "an order entry twice");
	}
	memcpy(b, full->blob[i], len);
	{
		int64_t epoch = -3;
		uint64_t sum;

		memcpy(b + 24, &epoch, 8); /* the header's epoch */
		sum = nn_ckpt_hash(0, b, len - 8);
		memcpy(b + len - 8, &sum, 8);
		refused(&cfg, &noise_data, b, len, "inconsistent", "a negative epoch");
	}

	/* another seed */
	cfg2 = cfg;
	cfg2.seed = 43;
	seed43 = train(&cfg2, &noise_data, NULL, 0, 0);
	assert_int_equal(seed43->rc, 0);
	refused(&cfg, &noise_data, seed43->blob[i], seed43->len[i], "seed", "another seed's");
	/* another n */
	fewer.n = N - 1;
	refused(&cfg, &fewer, full->blob[i], len, "n is 40", "another n's");
	/* other data of the same shape */
	memcpy(x2, xs, sizeof x2);
	x2[17] += 1.0f;
	moved.x = x2;
	refused(&cfg, &moved, full->blob[i], len, "samples", "other data's");
	ys[3] = (uint8_t)((ys[3] + 1) % C);
	refused(&cfg, &other, full->blob[i], len, "samples", "other labels'");
	ys[3] = (uint8_t)((ys[3] + C - 1) % C);
	/* another cell: another learning rate, or another width */
	cfg2 = cfg;
	cfg2.optim.lr = 0.02;
	refused(&cfg2, &noise_data, full->blob[i], len, "cell configuration", "another learning rate's");
	cfg2 = cfg;
	cfg2.model.widths[0] = 9;
	refused(&cfg2, &noise_data, full->blob[i], len, "n_params", "another width's");
	/* and the untouched blob still resumes */
	{
		rec *r = train(&cfg, &noise_data, full->blob[i], len, 0);

		assert_same_result(r, full, "undamaged");
		rec_destroy(&r);
	}
	free(b);
	rec_destroy(&seed43);
	rec_destroy(&full);
}

/* The size is what nn.h says: 4·(params + bn statistics + moments·params +
 * n) + 256 bytes; and checkpoint_every_ms spaces them out. */
static void test_size_and_rate(void **state)
{
	enum { NB = 256, DB = 784 };
	float *x = calloc((size_t)NB * DB, sizeof *x);
	uint8_t *y = calloc(NB, 1);
	nn_data data = { .x = x, .y = y, .n = NB, .shape = { 1, 28, 28, 10 } };
	emc_cell_cfg cfg;
	rec *r = rec_new();
	nn_hooks hooks = { .ctx = r, .checkpoint = on_checkpoint, .checkpoint_every_ms = 3600 * 1000 };
	size_t params = 784 * 16 + 16 + 16 * 10 + 10;

	(void)state;
	assert_non_null(x);
	assert_non_null(y);
	noise(8, NB, DB, 10, x, y);
	mlp_cfg(&cfg, 16);
	cfg.optim.name = EMC_OPT_ADAM;
	cfg.optim.lr = 0.001;
	cfg.optim.batch = 128;
	cfg.budget.max_epochs = 3;
	/* an hour between checkpoints: none in three epochs */
	assert_int_equal(nn_train(&cfg, &data, &hooks, &r->res, NULL), 0);
	assert_int_equal(r->n_ckpt, 0);
	hooks.checkpoint_every_ms = 0;
	assert_int_equal(nn_train(&cfg, &data, &hooks, &r->res, NULL), 0);
	assert_int_equal(r->n_ckpt, 2); /* the third epoch ends the trial */
	assert_int_equal(r->len[0], 256 + 4 * (3 * params + NB));
	print_message("# 784-16-10 adam, batch 128, n = %d: %zu bytes a checkpoint\n", NB, r->len[0]);
	rec_destroy(&r);
	free(x);
	free(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sgd_momentum), cmocka_unit_test(test_adam_schedule),
		cmocka_unit_test(test_batch_norm),   cmocka_unit_test(test_full_batch),
		cmocka_unit_test(test_plateau),      cmocka_unit_test(test_fit),
		cmocka_unit_test(test_cancel),       cmocka_unit_test(test_refused),
		cmocka_unit_test(test_size_and_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
