/* test_nn.c — the training engine: layer gradients, optimizers, trainer stops.
 *
 * Gradients are checked against central finite differences of a scalar
 * loss accumulated in double; optimizer steps against values worked out by
 * hand; the trainer against small problems whose outcome is known (a
 * separable set must fit, identical inputs with different labels cannot).
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>

#include "layers.h"
#include "model.h"
#include "nn.h"
#include "optim.h"
#include "rng.h"

/* ---- helpers ---- */

static void fill_uniform(emc_rng *r, float *a, size_t n, double lo, double hi)
{
	for (size_t i = 0; i < n; i++)
		a[i] = (float)(lo + (hi - lo) * emc_rng_uniform(r));
}

/* Analytic and numeric derivatives agree to 1 % (with a small absolute
 * floor for derivatives that are nearly zero). */
static void assert_grad_close(double analytic, double numeric, const char *what, size_t k)
{
	double diff = fabs(analytic - numeric);
	double scale = fmax(fabs(analytic), fabs(numeric));

	if (diff > 1e-2 * scale + 1e-4)
		fail_msg("%s[%zu]: analytic %.7g, numeric %.7g", what, k, analytic, numeric);
}

static void assert_float_near(double got, double want, double tol)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("got %.9g, want %.9g (tolerance %g)", got, want, tol);
}

/* Σ a ⊙ r in double: a scalar loss whose gradient with respect to a is r. */
static double dot(const float *a, const float *r, size_t n)
{
	double s = 0.0;

	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * (double)r[i];
	return s;
}

/* C clusters in D dimensions, n samples, well separated. x (n, D), y (n). */
static void make_clusters(uint64_t seed, int n, int D, int C, double spread, float *x, uint8_t *y)
{
	emc_rng r;
	float centers[16 * 64];

	assert_true(C <= 16 && D <= 64);
	emc_rng_seed(&r, seed, 7);
	for (int i = 0; i < C * D; i++)
		centers[i] = (float)(3.0 * emc_rng_normal(&r));
	for (int i = 0; i < n; i++) {
		y[i] = (uint8_t)(i % C);
		for (int j = 0; j < D; j++)
			x[i * D + j] = centers[y[i] * D + j] + (float)(spread * emc_rng_normal(&r));
	}
}

static void base_cfg(emc_cell_cfg *c, emc_family family, int width)
{
	emc_cell_cfg_defaults(c);
	c->model.family = family;
	c->model.n_widths = family == EMC_FAMILY_MLP ? 1 : 0;
	c->model.widths[0] = width;
	c->seed = 42;
}

/* ---- layers ---- */

static void test_dense_forward_reference(void **state)
{
	enum { B = 5, IN = 7, OUT = 3 };
	float x[B * IN], w[OUT * IN], b[OUT], y[B * OUT];
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 1, 1);
	fill_uniform(&r, x, B * IN, -1, 1);
	fill_uniform(&r, w, OUT * IN, -1, 1);
	fill_uniform(&r, b, OUT, -1, 1);
	nn_dense_forward(y, x, w, b, B, IN, OUT);
	for (int i = 0; i < B; i++)
		for (int o = 0; o < OUT; o++) {
			double s = b[o];

			for (int k = 0; k < IN; k++)
				s += (double)x[i * IN + k] * w[o * IN + k];
			assert_float_near(y[i * OUT + o], s, 1e-5);
		}
}

static void test_dense_grad(void **state)
{
	enum { B = 4, IN = 6, OUT = 5 };
	float x[B * IN], w[OUT * IN], b[OUT], y[B * OUT], r_[B * OUT];
	float dx[B * IN], dw[OUT * IN], db[OUT];
	float *params[3] = { w, b, x };
	float *grads[3] = { dw, db, dx };
	size_t sizes[3] = { OUT * IN, OUT, B * IN };
	const char *names[3] = { "dW", "db", "dX" };
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 2, 1);
	fill_uniform(&r, x, B * IN, -1, 1);
	fill_uniform(&r, w, OUT * IN, -1, 1);
	fill_uniform(&r, b, OUT, -1, 1);
	fill_uniform(&r, r_, B * OUT, -1, 1);
	/* L = Σ y ⊙ r, so dL/dy = r */
	nn_dense_backward(dx, dw, db, r_, x, w, B, IN, OUT);
	for (int t = 0; t < 3; t++)
		for (size_t k = 0; k < sizes[t]; k++) {
			float keep = params[t][k], hi = keep + 1e-2f, lo = keep - 1e-2f;
			double lp, lm;

			params[t][k] = hi;
			nn_dense_forward(y, x, w, b, B, IN, OUT);
			lp = dot(y, r_, B * OUT);
			params[t][k] = lo;
			nn_dense_forward(y, x, w, b, B, IN, OUT);
			lm = dot(y, r_, B * OUT);
			params[t][k] = keep;
			assert_grad_close(grads[t][k], (lp - lm) / ((double)hi - (double)lo), names[t], k);
		}
	/* dx may be skipped: the weight gradient must not change. */
	{
		float dw2[OUT * IN], db2[OUT];

		nn_dense_backward(NULL, dw2, db2, r_, x, w, B, IN, OUT);
		assert_memory_equal(dw, dw2, sizeof dw);
		assert_memory_equal(db, db2, sizeof db);
	}
}

static void test_activation_values(void **state)
{
	float x[3] = { -1.0f, 0.0f, 2.0f }, y[3];

	(void)state;
	nn_act_forward(y, x, 3, EMC_ACT_RELU);
	assert_float_near(y[0], 0.0, 0);
	assert_float_near(y[2], 2.0, 0);
	nn_act_forward(y, x, 3, EMC_ACT_LEAKY_RELU);
	assert_float_near(y[0], -0.01, 1e-7);
	nn_act_forward(y, x, 3, EMC_ACT_GELU);
	assert_float_near(y[0], -0.158655254, 1e-6); /* exact (erf) gelu, not the tanh form */
	assert_float_near(y[2], 1.954499736, 1e-6);
	nn_act_forward(y, x, 3, EMC_ACT_SIGMOID);
	assert_float_near(y[1], 0.5, 1e-7);
	assert_float_near(y[2], 0.880797078, 1e-6);
	nn_act_forward(y, x, 3, EMC_ACT_TANH);
	assert_float_near(y[0], -0.761594156, 1e-6);
	nn_act_forward(y, x, 3, EMC_ACT_LINEAR);
	assert_memory_equal(x, y, sizeof x);
	/* stable at the extremes */
	x[0] = -200.0f;
	x[2] = 200.0f;
	nn_act_forward(y, x, 3, EMC_ACT_SIGMOID);
	assert_true(y[0] >= 0.0f && y[0] < 1e-30f);
	assert_float_near(y[2], 1.0, 0);
}

static void test_activation_grad(void **state)
{
	enum { N = 40 };
	float x[N], y[N], r_[N], dx[N];
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 3, 1);
	for (int a = 0; a < EMC_ACT_COUNT; a++) {
		fill_uniform(&r, x, N, -3, 3);
		fill_uniform(&r, r_, N, -1, 1);
		for (int i = 0; i < N; i++)
			if (fabsf(x[i]) < 0.05f) /* keep clear of relu's kink */
				x[i] = 0.5f;
		nn_act_forward(y, x, N, (emc_activation)a);
		nn_act_backward(dx, r_, x, y, N, (emc_activation)a);
		for (size_t k = 0; k < N; k++) {
			float keep = x[k], hi = keep + 1e-3f, lo = keep - 1e-3f;
			float yk;
			double lp, lm;

			x[k] = hi;
			nn_act_forward(&yk, &x[k], 1, (emc_activation)a);
			lp = (double)yk * r_[k];
			x[k] = lo;
			nn_act_forward(&yk, &x[k], 1, (emc_activation)a);
			lm = (double)yk * r_[k];
			x[k] = keep;
			assert_grad_close(dx[k], (lp - lm) / ((double)hi - (double)lo), emc_activation_name(a), k);
		}
		/* in place, as the model runs it */
		memcpy(dx, r_, sizeof dx);
		nn_act_backward(dx, dx, x, y, N, (emc_activation)a);
		for (int k = 0; k < N; k++) {
			float d1;

			nn_act_backward(&d1, &r_[k], &x[k], &y[k], 1, (emc_activation)a);
			assert_float_near(dx[k], d1, 0);
		}
	}
}

static void test_xent(void **state)
{
	enum { B = 4, C = 5 };
	float z[B * C], p[B * C], dz[B * C];
	uint8_t y[B] = { 0, 3, 4, 1 };
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 4, 1);
	fill_uniform(&r, z, B * C, -3, 3);
	nn_xent_forward(p, z, y, B, C);
	nn_xent_backward(dz, p, y, B, C);
	for (size_t k = 0; k < B * C; k++) {
		float keep = z[k], hi = keep + 1e-3f, lo = keep - 1e-3f;
		double lp, lm;
		float pp[B * C];

		z[k] = hi;
		lp = nn_xent_forward(pp, z, y, B, C);
		z[k] = lo;
		lm = nn_xent_forward(pp, z, y, B, C);
		z[k] = keep;
		assert_grad_close(dz[k], (lp - lm) / ((double)hi - (double)lo), "dlogits", k);
	}
	/* Large logits neither overflow nor lose the answer. */
	{
		float big[2 * 2] = { 1000.0f, 0.0f, 0.0f, 1000.0f }, pb[4];
		uint8_t yb[2] = { 0, 0 };
		double loss = nn_xent_forward(pb, big, yb, 2, 2);

		assert_float_near(loss, 500.0, 1e-3); /* mean of 0 and 1000 */
		assert_float_near(pb[0], 1.0, 0);
		assert_int_equal(nn_count_correct(big, yb, 2, 2), 1);
	}
	/* A tie is not a correct prediction. */
	{
		float tie[3] = { 1.0f, 1.0f, 0.0f };
		uint8_t y0 = 0;

		assert_int_equal(nn_count_correct(tie, &y0, 1, 3), 0);
	}
}

/* ---- models ---- */

static void check_mlp_grad(emc_activation act)
{
	enum { B = 4, D = 5, C = 3 };
	emc_model_cfg mc = { .family = EMC_FAMILY_MLP, .activation = act, .n_widths = 2, .widths = { 6, 4 } };
	emc_input_shape in = { .channels = 1, .height = 1, .width = D, .classes = C };
	nn_model *m = NULL;
	float x[B * D];
	uint8_t y[B] = { 0, 1, 2, 1 };
	float *g;
	nn_pass pass;
	emc_rng r;

	emc_rng_seed(&r, 5, (uint64_t)act);
	fill_uniform(&r, x, B * D, -2, 2);
	assert_int_equal(nn_model_new(&mc, &in, B, &m, NULL), 0);
	nn_model_init_params(m, 9, (uint64_t)act);
	nn_model_pass(m, x, y, NULL, B, true, &pass);
	assert_ptr_equal(pass.grad, m->grads);
	g = malloc(m->n_params * sizeof *g);
	assert_non_null(g);
	memcpy(g, pass.grad, m->n_params * sizeof *g);
	for (size_t k = 0; k < m->n_params; k++) {
		float keep = m->params[k], hi = keep + 1e-3f, lo = keep - 1e-3f;
		double lp, lm;

		m->params[k] = hi;
		nn_model_pass(m, x, y, NULL, B, false, &pass);
		lp = pass.loss;
		m->params[k] = lo;
		nn_model_pass(m, x, y, NULL, B, false, &pass);
		lm = pass.loss;
		m->params[k] = keep;
		assert_grad_close(g[k], (lp - lm) / ((double)hi - (double)lo), emc_activation_name(act), k);
	}
	free(g);
	nn_model_destroy(&m);
	assert_null(m);
}

static void test_mlp_grad(void **state)
{
	(void)state;
	for (int a = 0; a < EMC_ACT_COUNT; a++)
		check_mlp_grad((emc_activation)a);
}

/* A pass cut into chunks (with gathered rows) gives the gradient of the
 * mean over all rows, as one big chunk does. */
static void test_chunked_pass(void **state)
{
	enum { N = 10, D = 3, C = 4 };
	emc_model_cfg mc = { .family = EMC_FAMILY_MLP, .activation = EMC_ACT_TANH, .n_widths = 1, .widths = { 5 } };
	emc_input_shape in = { .channels = 1, .height = 1, .width = D, .classes = C };
	nn_model *small = NULL, *big = NULL;
	float x[N * D], xp[N * D];
	uint8_t y[N], yp[N];
	int32_t idx[N] = { 3, 9, 0, 1, 7, 2, 8, 4, 6, 5 };
	nn_pass a, b;
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 6, 1);
	fill_uniform(&r, x, N * D, -1, 1);
	for (int i = 0; i < N; i++)
		y[i] = (uint8_t)(i % C);
	for (int i = 0; i < N; i++) {
		memcpy(xp + i * D, x + idx[i] * D, D * sizeof *x);
		yp[i] = y[idx[i]];
	}
	assert_int_equal(nn_model_new(&mc, &in, 4, &small, NULL), 0);
	assert_int_equal(nn_model_new(&mc, &in, N, &big, NULL), 0);
	nn_model_init_params(small, 1, 2);
	nn_model_init_params(big, 1, 2);
	assert_memory_equal(small->params, big->params, small->n_params * sizeof(float));
	nn_model_pass(small, x, y, idx, N, true, &a);
	nn_model_pass(big, xp, yp, NULL, N, true, &b);
	assert_ptr_equal(a.grad, small->gacc);
	assert_float_near(a.loss, b.loss, 1e-6);
	assert_int_equal(a.correct, b.correct);
	for (size_t k = 0; k < small->n_params; k++)
		assert_float_near(a.grad[k], b.grad[k], 1e-6 + 1e-4 * fabs(b.grad[k]));
	nn_model_destroy(&small);
	nn_model_destroy(&big);
}

static void test_param_count(void **state)
{
	emc_input_shape mnist = { 1, 28, 28, 10 }, img = { 3, 8, 8, 5 }, tab = { 1, 1, 13, 3 };
	emc_model_cfg lin = { .family = EMC_FAMILY_LINEAR, .activation = EMC_ACT_RELU };
	emc_model_cfg m1 = { .family = EMC_FAMILY_MLP, .activation = EMC_ACT_RELU, .n_widths = 1, .widths = { 8 } };
	emc_model_cfg m3 = { .family = EMC_FAMILY_MLP,
			     .activation = EMC_ACT_LINEAR,
			     .n_widths = 3,
			     .widths = { 32, 16, 8 } };
	struct {
		const emc_model_cfg *m;
		const emc_input_shape *in;
		int64_t want;
	} cases[] = {
		{ &lin, &mnist, 7850 },
		{ &m1, &mnist, 784 * 8 + 8 + 8 * 10 + 10 },
		{ &m3, &img, 192 * 32 + 32 + 32 * 16 + 16 + 16 * 8 + 8 + 8 * 5 + 5 },
		{ &m1, &tab, 13 * 8 + 8 + 8 * 3 + 3 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		nn_model *m = NULL;

		assert_int_equal(nn_model_new(cases[i].m, cases[i].in, 16, &m, NULL), 0);
		assert_int_equal((int64_t)m->n_params, cases[i].want);
		assert_int_equal((int64_t)m->n_params, emc_model_params(cases[i].m, cases[i].in));
		nn_model_destroy(&m);
	}
}

/* ---- optimizers: two steps from p0 with gradients g1, then g2 ---- */

static void two_steps(const emc_optim_cfg *cfg, const float want1[2], const float want2[2])
{
	float p[2] = { 1.0f, -2.0f };
	const float g1[2] = { 0.5f, -1.0f }, g2[2] = { 0.25f, 0.5f };
	nn_optim *o = NULL;

	assert_int_equal(nn_optim_new(cfg, 2, &o, NULL), 0);
	nn_optim_step(o, p, g1);
	assert_float_near(p[0], want1[0], 2e-6);
	assert_float_near(p[1], want1[1], 2e-6);
	nn_optim_step(o, p, g2);
	assert_float_near(p[0], want2[0], 2e-6);
	assert_float_near(p[1], want2[1], 2e-6);
	nn_optim_destroy(&o);
	assert_null(o);
}

static void test_optim_sgd(void **state)
{
	emc_optim_cfg c = { .name = EMC_OPT_SGD, .lr = 0.1 };

	(void)state;
	/* p1 = p0 - 0.1 g1; p2 = p1 - 0.1 g2 */
	two_steps(&c, (float[]){ 0.95f, -1.9f }, (float[]){ 0.925f, -1.95f });
	c.name = EMC_OPT_GD; /* the same rule */
	two_steps(&c, (float[]){ 0.95f, -1.9f }, (float[]){ 0.925f, -1.95f });
}

static void test_optim_momentum(void **state)
{
	emc_optim_cfg c = { .name = EMC_OPT_SGD, .lr = 0.1, .momentum = 0.9 };

	(void)state;
	/* buf1 = g1 -> p1 = (0.95, -1.9); buf2 = 0.9 g1 + g2 = (0.7, -0.4) -> p2 = (0.88, -1.86) */
	two_steps(&c, (float[]){ 0.95f, -1.9f }, (float[]){ 0.88f, -1.86f });
}

static void test_optim_nesterov(void **state)
{
	emc_optim_cfg c = { .name = EMC_OPT_SGD, .lr = 0.1, .momentum = 0.9, .nesterov = true };

	(void)state;
	/* d1 = g1 + 0.9 g1 = (0.95, -1.9) -> p1 = (0.905, -1.81);
	 * buf2 = (0.7, -0.4), d2 = g2 + 0.9 buf2 = (0.88, 0.14) -> p2 = (0.817, -1.824) */
	two_steps(&c, (float[]){ 0.905f, -1.81f }, (float[]){ 0.817f, -1.824f });
}

static void test_optim_weight_decay(void **state)
{
	emc_optim_cfg c = { .name = EMC_OPT_SGD, .lr = 0.1, .weight_decay = 0.1 };

	(void)state;
	/* g1' = g1 + 0.1 p0 = (0.6, -1.2) -> p1 = (0.94, -1.88);
	 * g2' = g2 + 0.1 p1 = (0.344, 0.312) -> p2 = (0.9056, -1.9112) */
	two_steps(&c, (float[]){ 0.94f, -1.88f }, (float[]){ 0.9056f, -1.9112f });
}

static void test_optim_adam(void **state)
{
	emc_optim_cfg c = { .name = EMC_OPT_ADAM, .lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8 };

	(void)state;
	/* step 1: m̂ = g1, v̂ = g1² -> p -= 0.1 sign(g1) = (0.9, -1.9);
	 * step 2: m = (0.07, -0.04), v = (3.1225e-4, 1.249e-3), bias corrections 0.19 and 0.001999
	 * -> p2 = p1 - 0.1 m̂/√v̂ = (0.80678204, -1.87336630) */
	two_steps(&c, (float[]){ 0.9f, -1.9f }, (float[]){ 0.80678204f, -1.87336630f });
	/* Adam's weight decay is L2 added to the gradient (PyTorch). */
	c.weight_decay = 0.1;
	two_steps(&c, (float[]){ 0.9f, -1.9f }, (float[]){ 0.80500977f, -1.85374726f });
}

static void test_optim_adamw(void **state)
{
	emc_optim_cfg c = {
		.name = EMC_OPT_ADAMW, .lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1
	};

	(void)state;
	/* decoupled: p *= 1 - 0.1·0.1 before each Adam step:
	 * p1 = 0.99 p0 - 0.1 sign(g1) = (0.89, -1.88); p2 = 0.99 p1 - (0.09321796, -0.02663370) */
	two_steps(&c, (float[]){ 0.89f, -1.88f }, (float[]){ 0.78788204f, -1.83456630f });
}

static void test_optim_invalid(void **state)
{
	emc_optim_cfg c = { .name = EMC_OPT_SGD, .lr = 0.1, .momentum = 0.0, .nesterov = true };
	nn_optim *o = NULL;
	emc_err err = { { 0 } };

	(void)state;
	assert_int_equal(nn_optim_new(&c, 4, &o, &err), -EINVAL);
	assert_contains(err.msg, "optim.nesterov");
	assert_null(o);
	c.nesterov = false;
	c.lr = -1;
	assert_int_equal(nn_optim_new(&c, 4, &o, &err), -EINVAL);
	assert_contains(err.msg, "optim.lr");
	c = (emc_optim_cfg){ .name = EMC_OPT_ADAM, .lr = 0.1, .beta1 = 1.0, .beta2 = 0.999, .eps = 1e-8 };
	assert_int_equal(nn_optim_new(&c, 4, &o, &err), -EINVAL);
	assert_contains(err.msg, "optim.beta1");
}

/* ---- the trainer ---- */

/* XOR of the signs of two coordinates, kept 0.2 away from the axes: no
 * linear model separates it, one hidden layer does. x (n, 2), y (n). */
static void make_xor(uint64_t seed, int n, float *x, uint8_t *y)
{
	emc_rng r;

	emc_rng_seed(&r, seed, 8);
	for (int i = 0; i < n; i++) {
		float a = (float)(0.2 + 0.8 * emc_rng_uniform(&r)), b = (float)(0.2 + 0.8 * emc_rng_uniform(&r));
		int q = i % 4;

		x[2 * i] = q & 1 ? -a : a;
		x[2 * i + 1] = q & 2 ? -b : b;
		y[i] = (uint8_t)((q & 1) ^ ((q & 2) >> 1));
	}
}

static void test_fit_separable(void **state)
{
	enum { N = 60 };
	float x[N * 2];
	uint8_t y[N];
	nn_data data = { .x = x, .y = y, .n = N, .shape = { 1, 1, 2, 2 } };
	emc_cell_cfg cfg;
	nn_trial_result res;
	emc_err err = { { 0 } };

	(void)state;
	make_xor(11, N, x, y);
	base_cfg(&cfg, EMC_FAMILY_MLP, 16);
	cfg.optim.name = EMC_OPT_ADAM;
	cfg.optim.lr = 0.01;
	cfg.optim.batch = 8;
	cfg.budget.max_epochs = 2000;
	cfg.budget.plateau_epochs = 0;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_int_equal(res.outcome, EMC_OUTCOME_FIT);
	assert_int_equal(res.reason, EMC_STOP_FIT);
	assert_float_near(res.last.accuracy, 1.0, 0);
	assert_true(res.last.epoch >= 1 && res.last.epoch < 2000);
	assert_int_equal(res.last.step, res.last.epoch * ((N + 7) / 8)); /* the partial batch counts */
	assert_int_equal(res.params, 2 * 16 + 16 + 16 * 2 + 2);

	/* The same budget cannot make a linear model fit XOR. */
	base_cfg(&cfg, EMC_FAMILY_LINEAR, 0);
	cfg.optim.name = EMC_OPT_ADAM;
	cfg.optim.lr = 0.01;
	cfg.optim.batch = 8;
	cfg.budget.max_epochs = 2000;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_int_equal(res.outcome, EMC_OUTCOME_NO_FIT);
	assert_true(res.last.accuracy < 0.9);
}

/* Random labels on random inputs: the situation EMC measures. A wide
 * enough MLP memorises them. */
static void test_fit_memorise(void **state)
{
	enum { N = 40, D = 5 };
	float x[N * D];
	uint8_t y[N];
	nn_data data = { .x = x, .y = y, .n = N, .shape = { 1, 1, D, 2 } };
	emc_cell_cfg cfg;
	nn_trial_result res;
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 14, 1);
	for (int i = 0; i < N * D; i++)
		x[i] = (float)emc_rng_normal(&r);
	for (int i = 0; i < N; i++)
		y[i] = (uint8_t)emc_rng_below(&r, 2);
	base_cfg(&cfg, EMC_FAMILY_MLP, 32);
	cfg.optim.name = EMC_OPT_ADAM;
	cfg.optim.lr = 0.01;
	cfg.optim.batch = 8;
	cfg.budget.max_epochs = 3000;
	cfg.budget.plateau_epochs = 0;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, NULL), 0);
	assert_int_equal(res.outcome, EMC_OUTCOME_FIT);
	assert_float_near(res.last.accuracy, 1.0, 0);
}

/* Full-batch gd on more rows than one chunk holds: gradients and the fit
 * test run over chunks and still see every sample. */
static void test_fit_gd_chunked(void **state)
{
	enum { N = 1100, D = 2, C = 2 };
	float *x = malloc(N * D * sizeof *x);
	uint8_t *y = malloc(N);
	nn_data data = { .x = x, .y = y, .n = N, .shape = { 1, 1, D, C } };
	emc_cell_cfg cfg;
	nn_trial_result res;
	emc_err err = { { 0 } };

	(void)state;
	assert_non_null(x);
	assert_non_null(y);
	make_clusters(12, N, D, C, 0.2, x, y);
	base_cfg(&cfg, EMC_FAMILY_LINEAR, 0);
	cfg.optim.name = EMC_OPT_GD;
	cfg.optim.lr = 0.5;
	cfg.budget.max_epochs = 3000;
	cfg.budget.grad_tol = 1e-9;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_int_equal(res.outcome, EMC_OUTCOME_FIT);
	assert_int_equal(res.last.step, res.last.epoch); /* one step per epoch */
	assert_true(res.last.grad_norm > 0.0);
	/* One mislabelled sample makes it unfittable at threshold 1.0 but
	 * fittable at (n - 1) / n. */
	y[5] = (uint8_t)(1 - y[5]);
	cfg.budget.max_epochs = 300;
	cfg.budget.fit_threshold = (double)(N - 1) / N;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_int_equal(res.outcome, EMC_OUTCOME_FIT);
	assert_float_near(res.last.accuracy, (double)(N - 1) / N, 1e-12);
	cfg.budget.fit_threshold = 1.0;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_int_equal(res.outcome, EMC_OUTCOME_NO_FIT);
	free(x);
	free(y);
}

/* Identical inputs with different labels: no model can fit them. */
static void unfittable(float *x, uint8_t *y, int n, int D)
{
	for (int i = 0; i < n * D; i++)
		x[i] = 0.5f;
	for (int i = 0; i < n; i++)
		y[i] = (uint8_t)(i % 2);
}

static void test_nonseparable(void **state)
{
	enum { N = 6, D = 3 };
	float x[N * D];
	uint8_t y[N];
	nn_data data = { .x = x, .y = y, .n = N, .shape = { 1, 1, D, 2 } };
	emc_cell_cfg cfg;
	nn_trial_result res;
	emc_err err = { { 0 } };

	(void)state;
	unfittable(x, y, N, D);
	base_cfg(&cfg, EMC_FAMILY_LINEAR, 0);
	cfg.optim.lr = 0.1;
	cfg.optim.batch = 0;
	cfg.budget.max_epochs = 100000;
	cfg.budget.plateau_epochs = 20;
	cfg.budget.plateau_rel = 1e-4;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_int_equal(res.outcome, EMC_OUTCOME_NO_FIT);
	assert_int_equal(res.reason, EMC_STOP_PLATEAU);
	assert_float_near(res.last.loss, log(2.0), 1e-3);
	assert_true(res.last.budget_used < 0.5);

	cfg.budget.plateau_epochs = 0;
	cfg.budget.grad_tol = 1e-4;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_int_equal(res.outcome, EMC_OUTCOME_NO_FIT);
	assert_int_equal(res.reason, EMC_STOP_GRADNORM);
	assert_true(res.last.grad_norm < 1e-4);
	assert_true(res.last.budget_used < 0.5);
}

static void test_determinism(void **state)
{
	enum { N = 50, D = 6, C = 4 };
	float x[N * D];
	uint8_t y[N];
	nn_data data = { .x = x, .y = y, .n = N, .shape = { 1, 1, D, C } };
	emc_cell_cfg cfg;
	nn_trial_result a, b, c;
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 13, 1);
	fill_uniform(&r, x, N * D, 0, 1);
	for (int i = 0; i < N; i++)
		y[i] = (uint8_t)emc_rng_below(&r, C);
	base_cfg(&cfg, EMC_FAMILY_MLP, 12);
	cfg.optim.batch = 7;
	cfg.budget.max_epochs = 5;
	assert_int_equal(nn_train(&cfg, &data, NULL, &a, NULL), 0);
	assert_int_equal(nn_train(&cfg, &data, NULL, &b, NULL), 0);
	assert_int_equal(a.reason, EMC_STOP_BUDGET);
	assert_memory_equal(&a.last.loss, &b.last.loss, sizeof a.last.loss);
	cfg.seed = 43;
	assert_int_equal(nn_train(&cfg, &data, NULL, &c, NULL), 0);
	assert_true(a.last.loss != c.last.loss);
}

/* The trainer is exactly the documented algorithm: weights from the init
 * stream, every epoch a fresh shuffle from the order stream, batches in
 * that order with the last one partial. Replaying it by hand from the
 * layer, model and optimizer pieces gives the same final loss, bit for bit. */
static void test_replay(void **state)
{
	enum { N = 10, D = 3, C = 3, BATCH = 4, EPOCHS = 3 };
	float x[N * D];
	uint8_t y[N];
	nn_data data = { .x = x, .y = y, .n = N, .shape = { 1, 1, D, C } };
	emc_cell_cfg cfg;
	nn_trial_result res;
	nn_model *m = NULL;
	nn_optim *o = NULL;
	int32_t order[N];
	emc_rng r;
	nn_pass pass;

	(void)state;
	emc_rng_seed(&r, 15, 1);
	fill_uniform(&r, x, N * D, -1, 1);
	for (int i = 0; i < N; i++)
		y[i] = (uint8_t)emc_rng_below(&r, C);
	base_cfg(&cfg, EMC_FAMILY_MLP, 5);
	cfg.model.activation = EMC_ACT_SIGMOID;
	cfg.optim.batch = BATCH;
	cfg.budget.max_epochs = EPOCHS;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, NULL), 0);
	assert_int_equal(res.last.step, EPOCHS * 3);

	assert_int_equal(nn_model_new(&cfg.model, &data.shape, N, &m, NULL), 0);
	nn_model_init_params(m, cfg.seed, NN_STREAM_INIT);
	assert_int_equal(nn_optim_new(&cfg.optim, m->n_params, &o, NULL), 0);
	emc_rng_seed(&r, cfg.seed, NN_STREAM_ORDER);
	for (int i = 0; i < N; i++)
		order[i] = i;
	for (int e = 0; e < EPOCHS; e++) {
		emc_rng_shuffle_i32(&r, order, N);
		for (int s = 0; s < N; s += BATCH) {
			nn_model_pass(m, x, y, order + s, s + BATCH <= N ? BATCH : N - s, true, &pass);
			nn_optim_step(o, m->params, pass.grad);
		}
	}
	nn_model_pass(m, x, y, NULL, N, false, &pass);
	assert_memory_equal(&pass.loss, &res.last.loss, sizeof pass.loss);
	nn_optim_destroy(&o);
	nn_model_destroy(&m);
}

static void cancel_on_progress(void *ctx, const nn_progress *p)
{
	atomic_int *flag = ctx;

	(void)p;
	atomic_store(flag, 1);
}

static void test_cancel(void **state)
{
	enum { N = 20, D = 3 };
	float x[N * D];
	uint8_t y[N];
	nn_data data = { .x = x, .y = y, .n = N, .shape = { 1, 1, D, 2 } };
	emc_cell_cfg cfg;
	nn_trial_result res;
	atomic_int flag = 0;
	nn_hooks hooks = { .progress = cancel_on_progress, .ctx = &flag, .cancel = &flag };

	(void)state;
	unfittable(x, y, N, D);
	base_cfg(&cfg, EMC_FAMILY_MLP, 4);
	cfg.optim.batch = 5;
	cfg.budget.max_epochs = 1000;
	assert_int_equal(nn_train(&cfg, &data, &hooks, &res, NULL), 0);
	assert_int_equal(res.outcome, EMC_OUTCOME_CANCELLED);
	assert_int_equal(res.reason, EMC_STOP_CANCELLED);
	/* The flag rose at the first evaluation (after epoch 1); the next step saw it. */
	assert_int_equal(res.last.epoch, 1);
	assert_int_equal(res.last.step, 4);
}

static int progress_calls;

static void count_progress(void *ctx, const nn_progress *p)
{
	(void)ctx;
	assert_true(p->budget_used >= 0.0 && p->budget_used <= 1.0);
	progress_calls++;
}

static void test_budget_steps(void **state)
{
	enum { N = 20, D = 3 };
	float x[N * D];
	uint8_t y[N];
	nn_data data = { .x = x, .y = y, .n = N, .shape = { 1, 1, D, 2 } };
	emc_cell_cfg cfg;
	nn_trial_result res;
	nn_hooks hooks = { .progress = count_progress };

	(void)state;
	unfittable(x, y, N, D);
	base_cfg(&cfg, EMC_FAMILY_MLP, 4);
	cfg.optim.batch = 4; /* 5 steps per epoch */
	cfg.budget.max_epochs = 0;
	cfg.budget.max_steps = 7;
	cfg.budget.plateau_epochs = 0;
	progress_calls = 0;
	assert_int_equal(nn_train(&cfg, &data, &hooks, &res, NULL), 0);
	assert_int_equal(res.outcome, EMC_OUTCOME_NO_FIT);
	assert_int_equal(res.reason, EMC_STOP_BUDGET);
	assert_int_equal(res.last.step, 7);
	assert_int_equal(res.last.epoch, 1); /* stopped inside the second epoch */
	assert_float_near(res.last.budget_used, 1.0, 1e-12);
	assert_int_equal(progress_calls, 2); /* after epoch 1, and at the stop */

	/* An epoch budget with evaluations every 3 epochs. */
	cfg.budget.max_steps = 0;
	cfg.budget.max_epochs = 10;
	cfg.budget.eval_every = 3;
	progress_calls = 0;
	assert_int_equal(nn_train(&cfg, &data, &hooks, &res, NULL), 0);
	assert_int_equal(res.reason, EMC_STOP_BUDGET);
	assert_int_equal(res.last.epoch, 10);
	assert_int_equal(res.last.step, 50);
	assert_float_near(res.last.budget_used, 1.0, 1e-12);
	assert_int_equal(progress_calls, 4); /* epochs 3, 6, 9 and 10 */
}

static void test_invalid(void **state)
{
	enum { N = 4, D = 2 };
	float x[N * D] = { 0 };
	uint8_t y[N] = { 0, 1, 0, 1 };
	nn_data data = { .x = x, .y = y, .n = N, .shape = { 1, 1, D, 2 } };
	emc_cell_cfg cfg, bad;
	nn_trial_result res;
	emc_err err = { { 0 } };

	(void)state;
	base_cfg(&cfg, EMC_FAMILY_MLP, 4);

	bad = cfg;
	bad.model.family = EMC_FAMILY_CNN;
	assert_int_equal(nn_train(&bad, &data, NULL, &res, &err), -ENOTSUP);
	assert_contains(err.msg, "cnn");

	bad = cfg;
	bad.optim.lr = 0.0;
	assert_int_equal(nn_train(&bad, &data, NULL, &res, &err), -EINVAL);
	assert_contains(err.msg, "optim.lr");

	bad = cfg;
	bad.optim.batch = -1;
	assert_int_equal(nn_train(&bad, &data, NULL, &res, &err), -EINVAL);
	assert_contains(err.msg, "optim.batch");

	bad = cfg;
	bad.model.widths[0] = 0;
	assert_int_equal(nn_train(&bad, &data, NULL, &res, &err), -EINVAL);
	assert_contains(err.msg, "model.widths[0]");

	bad = cfg;
	bad.budget.max_epochs = 0;
	bad.budget.max_steps = 0;
	bad.budget.max_seconds = 0.0;
	assert_int_equal(nn_train(&bad, &data, NULL, &res, &err), -EINVAL);
	assert_contains(err.msg, "budget");

	bad = cfg;
	bad.budget.eval_every = 0;
	assert_int_equal(nn_train(&bad, &data, NULL, &res, &err), -EINVAL);
	assert_contains(err.msg, "budget.eval_every");

	y[2] = 2;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), -EINVAL);
	assert_contains(err.msg, "data.y[2]");
	y[2] = 0;

	data.n = 0;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), -EINVAL);
	assert_contains(err.msg, "data.n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dense_forward_reference),
		cmocka_unit_test(test_dense_grad),
		cmocka_unit_test(test_activation_values),
		cmocka_unit_test(test_activation_grad),
		cmocka_unit_test(test_xent),
		cmocka_unit_test(test_mlp_grad),
		cmocka_unit_test(test_chunked_pass),
		cmocka_unit_test(test_param_count),
		cmocka_unit_test(test_optim_sgd),
		cmocka_unit_test(test_optim_momentum),
		cmocka_unit_test(test_optim_nesterov),
		cmocka_unit_test(test_optim_weight_decay),
		cmocka_unit_test(test_optim_adam),
		cmocka_unit_test(test_optim_adamw),
		cmocka_unit_test(test_optim_invalid),
		cmocka_unit_test(test_fit_separable),
		cmocka_unit_test(test_fit_memorise),
		cmocka_unit_test(test_fit_gd_chunked),
		cmocka_unit_test(test_nonseparable),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_budget_steps),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
