/* test_nn.c — the training engine: layer gradients, model families,
 * optimizers and schedules, the Hessian certificate, memory, trainer stops.
 *
 * Gradients are checked against central finite differences of a scalar
 * loss accumulated in double (every layer alone, then every parameter of a
 * tiny network of each family); fast kernels against their plain
 * references; optimizer steps and schedules against values worked out by
 * hand; Lanczos against matrices of known spectrum, and the Hessian of
 * softmax regression against its closed form; the trainer against
 * small problems whose outcome is known (a separable set must fit,
 * identical inputs with different labels cannot) and against a replay of
 * its documented algorithm. Shapes are tiny so the whole binary runs in
 * seconds, sanitizers included.
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>

#include "layers.h"
#include "model.h"
#include "nn.h"
#include "hessian.h"
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

/* ---- finite differences ---- */

/* A scalar function of the buffers a check perturbs. */
typedef double (*scalar_fn)(void *ctx);

/* Compare analytic[k] with the central difference of f in a[k], for k <
 * n, stepping by h. */
static void check_fd(const char *what, float *a, const float *analytic, size_t n, scalar_fn f, void *ctx, float h)
{
	for (size_t k = 0; k < n; k++) {
		float keep = a[k], hi = keep + h, lo = keep - h;
		double lp, lm;

		a[k] = hi;
		lp = f(ctx);
		a[k] = lo;
		lm = f(ctx);
		a[k] = keep;
		assert_grad_close(analytic[k], (lp - lm) / ((double)hi - (double)lo), what, k);
	}
}

/* ---- layers ---- */

static void test_dense_forward_reference(void **state)
{
	enum { B = 5, IN = 7, OUT = 3 };
	float x[B * IN], w[OUT * IN], b[OUT], y[B * OUT], yr[B * OUT];
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 1, 1);
	fill_uniform(&r, x, B * IN, -1, 1);
	fill_uniform(&r, w, OUT * IN, -1, 1);
	fill_uniform(&r, b, OUT, -1, 1);
	nn_dense_forward(y, x, w, b, B, IN, OUT, EMC_ACT_LINEAR);
	for (int i = 0; i < B; i++)
		for (int o = 0; o < OUT; o++) {
			double s = b[o];

			for (int k = 0; k < IN; k++)
				s += (double)x[i * IN + k] * w[o * IN + k];
			assert_float_near(y[i * OUT + o], s, 1e-5);
		}
	/* the fused activation is the activation of the plain output */
	nn_dense_forward(yr, x, w, b, B, IN, OUT, EMC_ACT_TANH);
	nn_act_forward(y, y, B * OUT, EMC_ACT_TANH);
	assert_memory_equal(y, yr, sizeof y);
}

typedef struct dense_ctx {
	float *x, *w, *b, *y, *r;
	int B, in, out;
	emc_activation act;
} dense_ctx;

static double dense_loss(void *ctx)
{
	dense_ctx *c = ctx;

	nn_dense_forward(c->y, c->x, c->w, c->b, c->B, c->in, c->out, c->act);
	return dot(c->y, c->r, (size_t)c->B * c->out);
}

static void test_dense_grad(void **state)
{
	enum { B = 4, IN = 6, OUT = 5 };
	float x[B * IN], w[OUT * IN], b[OUT], y[B * OUT], r_[B * OUT], dy[B * OUT];
	float dx[B * IN], dw[OUT * IN], db[OUT];
	const emc_activation acts[] = { EMC_ACT_LINEAR, EMC_ACT_TANH, EMC_ACT_SIGMOID, EMC_ACT_RELU };
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 2, 1);
	for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
		dense_ctx c = { x, w, b, y, r_, B, IN, OUT, acts[a] };

		fill_uniform(&r, x, B * IN, -1, 1);
		fill_uniform(&r, w, OUT * IN, -1, 1);
		fill_uniform(&r, b, OUT, -1, 1);
		fill_uniform(&r, r_, B * OUT, -1, 1);
		/* L = Σ y ⊙ r, so dL/dy = r */
		dense_loss(&c);
		memcpy(dy, r_, sizeof dy);
		nn_dense_backward(dx, dw, db, dy, x, w, y, B, IN, OUT, acts[a]);
		check_fd("dW", w, dw, OUT * IN, dense_loss, &c, 1e-2f);
		check_fd("db", b, db, OUT, dense_loss, &c, 1e-2f);
		check_fd("dX", x, dx, B * IN, dense_loss, &c, 1e-2f);
		/* dx may be skipped: the weight gradient must not change. */
		{
			float dw2[OUT * IN], db2[OUT];

			dense_loss(&c);
			memcpy(dy, r_, sizeof dy);
			nn_dense_backward(NULL, dw2, db2, dy, x, w, y, B, IN, OUT, acts[a]);
			assert_memory_equal(dw, dw2, sizeof dw);
			assert_memory_equal(db, db2, sizeof db);
		}
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
		/* in place, as the model runs it: gradient in place, and for
		 * the activations that allow it the forward too (x lost) */
		{
			float d2[N], xy[N];

			memcpy(d2, r_, sizeof d2);
			nn_act_backward(d2, d2, x, y, N, (emc_activation)a);
			assert_memory_equal(d2, dx, sizeof dx);
			if (nn_act_from_output((emc_activation)a)) {
				memcpy(xy, x, sizeof xy);
				nn_act_forward(xy, xy, N, (emc_activation)a);
				nn_act_backward(d2, r_, xy, xy, N, (emc_activation)a);
				assert_memory_equal(d2, dx, sizeof dx);
			}
		}
	}
	assert_false(nn_act_from_output(EMC_ACT_GELU));
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
	nn_xent_backward(dz, p, y, B, C, 1.0f / B);
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

/* ---- convolution ---- */

typedef struct conv_case {
	int cin, h, w, cout, k, stride, pad;
	bool chw, bias;
	int tile; /* 0 = as planned */
} conv_case;

static const conv_case conv_cases[] = {
	{ 2, 5, 4, 3, 3, 1, 1, false, true, 0 }, /* same padding */
	{ 2, 5, 4, 3, 3, 2, 1, false, false, 1 }, /* stride 2, tiles of one sample */
	{ 3, 5, 5, 2, 1, 2, 0, false, false, 2 }, /* the ResNet projection */
	{ 3, 3, 3, 4, 1, 1, 0, false, true, 0 }, /* pointwise: no lowering */
	{ 3, 4, 6, 4, 2, 2, 0, true, true, 0 },  /* ViT patches of CHW data */
	{ 3, 4, 4, 2, 3, 1, 1, true, true, 1 },  /* the first layer of a CNN on colour images */
	{ 1, 6, 6, 2, 3, 1, 2, true, true, 0 },  /* wide padding, one channel */
};

static void test_conv_matches_direct(void **state)
{
	enum { B = 3 };
	(void)state;
	for (size_t t = 0; t < sizeof conv_cases / sizeof conv_cases[0]; t++) {
		const conv_case *cc = &conv_cases[t];
		nn_conv s;
		size_t nx, ny, nw, K;
		float *x, *w, *b, *y, *yr, *dy, *dy2, *dx, *dxr, *dw, *dwr, *db, *dbr, *scratch;
		emc_rng r;

		assert_true(nn_conv_setup(&s, cc->cin, cc->h, cc->w, cc->cout, cc->k, cc->stride, cc->pad, cc->chw));
		if (cc->tile)
			s.tile = cc->tile;
		K = (size_t)cc->k * cc->k * cc->cin;
		nx = (size_t)B * cc->h * cc->w * cc->cin;
		ny = (size_t)B * s.ho * s.wo * cc->cout;
		nw = cc->cout * K;
		x = malloc(nx * sizeof *x), dx = malloc(nx * sizeof *x), dxr = malloc(nx * sizeof *x);
		y = malloc(ny * sizeof *y), yr = malloc(ny * sizeof *y), dy = malloc(ny * sizeof *y);
		dy2 = malloc(ny * sizeof *y);
		w = malloc(nw * sizeof *w), dw = malloc(nw * sizeof *w), dwr = malloc(nw * sizeof *w);
		b = malloc(cc->cout * sizeof *b), db = malloc(cc->cout * sizeof *b), dbr = malloc(cc->cout * sizeof *b);
		scratch = malloc((nn_conv_scratch(&s) + 1) * sizeof *scratch);
		emc_rng_seed(&r, 20, t);
		fill_uniform(&r, x, nx, -1, 1);
		fill_uniform(&r, w, nw, -1, 1);
		fill_uniform(&r, b, cc->cout, -1, 1);
		fill_uniform(&r, dy, ny, -1, 1);
		memcpy(dy2, dy, ny * sizeof *dy);

		nn_conv_forward(y, x, w, cc->bias ? b : NULL, B, &s, EMC_ACT_LINEAR, scratch);
		nn_conv_forward_ref(yr, x, w, cc->bias ? b : NULL, B, &s);
		for (size_t i = 0; i < ny; i++)
			assert_float_near(y[i], yr[i], 1e-5);
		nn_conv_backward(dx, dw, cc->bias ? db : NULL, dy, x, w, y, B, &s, EMC_ACT_LINEAR, scratch);
		nn_conv_backward_ref(dxr, dwr, cc->bias ? dbr : NULL, dy2, x, w, B, &s);
		for (size_t i = 0; i < nx; i++)
			assert_float_near(dx[i], dxr[i], 1e-5);
		for (size_t i = 0; i < nw; i++)
			assert_float_near(dw[i], dwr[i], 1e-5);
		if (cc->bias)
			for (int i = 0; i < cc->cout; i++)
				assert_float_near(db[i], dbr[i], 1e-5);
		free(x), free(dx), free(dxr), free(y), free(yr), free(dy), free(dy2);
		free(w), free(dw), free(dwr), free(b), free(db), free(dbr), free(scratch);
	}
	/* a kernel larger than the padded input has no output */
	{
		nn_conv s;

		assert_false(nn_conv_setup(&s, 1, 2, 2, 1, 5, 1, 1, false));
	}
}

typedef struct conv_ctx {
	float *x, *w, *b, *y, *r, *scratch;
	int B;
	nn_conv s;
	emc_activation act;
} conv_ctx;

static double conv_loss(void *ctx)
{
	conv_ctx *c = ctx;

	nn_conv_forward(c->y, c->x, c->w, c->b, c->B, &c->s, c->act, c->scratch);
	return dot(c->y, c->r, (size_t)c->B * c->s.ho * c->s.wo * c->s.cout);
}

static void test_conv_grad(void **state)
{
	enum { B = 2, CIN = 2, H = 5, W = 4, COUT = 3, KK = 3 };
	float x[B * H * W * CIN], w[COUT * KK * KK * CIN], b[COUT], y[B * H * W * COUT], r_[B * H * W * COUT];
	float dy[B * H * W * COUT], dx[B * H * W * CIN], dw[COUT * KK * KK * CIN], db[COUT], scratch[4096];
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 21, 1);
	for (int v = 0; v < 2; v++) {
		conv_ctx c = { x, w, b, y, r_, scratch, B, { 0 }, v ? EMC_ACT_SIGMOID : EMC_ACT_LINEAR };
		size_t ny;

		/* stride 2 on CHW data with one-sample tiles; then stride 1 NHWC with sigmoid fused */
		assert_true(nn_conv_setup(&c.s, CIN, H, W, COUT, KK, v ? 1 : 2, 1, v == 0));
		c.s.tile = v == 0 ? 1 : B;
		assert_true(nn_conv_scratch(&c.s) <= 4096);
		ny = (size_t)B * c.s.ho * c.s.wo * COUT;
		fill_uniform(&r, x, sizeof x / sizeof *x, -1, 1);
		fill_uniform(&r, w, sizeof w / sizeof *w, -1, 1);
		fill_uniform(&r, b, COUT, -1, 1);
		fill_uniform(&r, r_, ny, -1, 1);
		conv_loss(&c);
		memcpy(dy, r_, ny * sizeof *dy);
		nn_conv_backward(dx, dw, db, dy, x, w, y, B, &c.s, c.act, scratch);
		check_fd("conv dW", w, dw, sizeof w / sizeof *w, conv_loss, &c, 1e-2f);
		check_fd("conv db", b, db, COUT, conv_loss, &c, 1e-2f);
		check_fd("conv dX", x, dx, sizeof x / sizeof *x, conv_loss, &c, 1e-2f);
	}
}

/* ---- pooling ---- */

typedef struct pool_ctx {
	float *x, *y, *r;
	int B, h, w, c, kind; /* 0 max, 1 avg, 2 global */
} pool_ctx;

static size_t pool_out(const pool_ctx *c)
{
	return c->kind == 2 ? (size_t)c->B * c->c : (size_t)c->B * (c->h / 2) * (c->w / 2) * c->c;
}

static double pool_loss(void *ctx)
{
	pool_ctx *c = ctx;

	if (c->kind == 0)
		nn_maxpool_forward(c->y, c->x, c->B, c->h, c->w, c->c);
	else if (c->kind == 1)
		nn_avgpool_forward(c->y, c->x, c->B, c->h, c->w, c->c);
	else
		nn_gap_forward(c->y, c->x, c->B, c->h * c->w, c->c);
	return dot(c->y, c->r, pool_out(c));
}

static void test_pool_grad(void **state)
{
	enum { B = 2, H = 5, W = 4, C = 3, N = B * H * W * C };
	float x[N], y[N], r_[N], dx[N];
	int32_t perm[N];
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 22, 1);
	/* distinct values 0.01 apart: no window has two maxima within a step */
	for (int i = 0; i < N; i++)
		perm[i] = i;
	emc_rng_shuffle_i32(&r, perm, N);
	for (int i = 0; i < N; i++)
		x[i] = 0.01f * (float)perm[i] - 1.0f;
	for (int kind = 0; kind < 3; kind++) {
		pool_ctx c = { x, y, r_, B, H, W, C, kind };

		fill_uniform(&r, r_, pool_out(&c), -1, 1);
		pool_loss(&c);
		if (kind == 0)
			nn_maxpool_backward(dx, r_, x, y, B, H, W, C, EMC_ACT_LINEAR);
		else if (kind == 1)
			nn_avgpool_backward(dx, r_, B, H, W, C);
		else
			nn_gap_backward(dx, r_, B, H * W, C);
		check_fd(kind == 0 ? "maxpool" : kind == 1 ? "avgpool" : "global pool", x, dx, N, pool_loss, &c,
			 1e-3f);
	}
	/* the max of each window, and the dropped fifth row gets no gradient */
	nn_maxpool_forward(y, x, B, H, W, C);
	for (int k = 0; k < C; k++) {
		float m = x[k];

		m = fmaxf(m, x[C + k]);
		m = fmaxf(m, x[W * C + k]);
		m = fmaxf(m, x[W * C + C + k]);
		assert_float_near(y[k], m, 0);
	}
	nn_maxpool_backward(dx, r_, x, y, B, H, W, C, EMC_ACT_LINEAR);
	for (int i = 4 * W * C; i < H * W * C; i++)
		assert_float_near(dx[i], 0.0, 0);
	/* an activation before the pool: its derivative applied by the pool
	 * is the derivative applied after it */
	for (int a = 0; a < EMC_ACT_COUNT; a++) {
		float z[N], dz[N], g[N], dz2[N];

		if (!nn_act_from_output((emc_activation)a))
			continue;
		nn_act_forward(z, x, N, (emc_activation)a);
		nn_maxpool_forward(y, z, B, H, W, C);
		fill_uniform(&r, g, B * (H / 2) * (W / 2) * C, -1, 1);
		memcpy(r_, g, sizeof g);
		nn_maxpool_backward(dz, r_, z, y, B, H, W, C, EMC_ACT_LINEAR);
		nn_act_backward(dz, dz, z, z, N, (emc_activation)a);
		nn_maxpool_backward(dz2, g, z, y, B, H, W, C, (emc_activation)a);
		for (int i = 0; i < N; i++)
			assert_float_near(dz2[i], dz[i], 1e-7);
	}
}

/* ---- normalisation ---- */

typedef struct norm_ctx {
	float *x, *g, *b, *y, *r, *rm, *rv, *mean, *rstd;
	int M, c;
	bool train, layer;
	double acc[16];
} norm_ctx;

static double norm_loss(void *ctx)
{
	norm_ctx *c = ctx;

	if (c->layer)
		nn_ln_forward(c->y, c->x, c->g, c->b, c->mean, c->rstd, c->M, c->c);
	else
		nn_bn_forward(c->y, c->x, c->g, c->b, c->rm, c->rv, c->mean, c->rstd, c->M, c->c, c->train, c->acc);
	return dot(c->y, c->r, (size_t)c->M * c->c);
}

static void test_norm_grad(void **state)
{
	enum { M = 6, C = 4 };
	float x[M * C], g[C], b[C], y[M * C], r_[M * C], rm[C], rv[C], mean[M], rstd[M];
	float dx[M * C], dg[C], db[C];
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 23, 1);
	for (int v = 0; v < 3; v++) {
		/* batch norm in training, batch norm in evaluation, layer norm */
		norm_ctx c = { x, g, b, y, r_, rm, rv, mean, rstd, M, C, v == 0, v == 2, { 0 } };

		fill_uniform(&r, x, M * C, -2, 2);
		fill_uniform(&r, g, C, 0.5, 1.5);
		fill_uniform(&r, b, C, -1, 1);
		fill_uniform(&r, r_, M * C, -1, 1);
		fill_uniform(&r, rm, C, -0.5, 0.5);
		fill_uniform(&r, rv, C, 0.5, 2);
		norm_loss(&c);
		if (c.layer)
			nn_ln_backward(dx, dg, db, r_, x, g, mean, rstd, M, C);
		else
			nn_bn_backward(dx, dg, db, r_, x, g, mean, rstd, M, C, c.train, c.acc);
		check_fd(v == 0 ? "bn train dX" : v == 1 ? "bn eval dX" : "ln dX", x, dx, M * C, norm_loss, &c, 1e-3f);
		check_fd("norm dgamma", g, dg, C, norm_loss, &c, 1e-3f);
		check_fd("norm dbeta", b, db, C, norm_loss, &c, 1e-3f);
	}
}

static void test_bn_running_stats(void **state)
{
	/* one channel, rows 1, 2, 3, 6: mean 3, biased variance 3.5, unbiased 14/3 */
	float x[4] = { 1, 2, 3, 6 }, y[4], g = 2.0f, b = 0.5f, rm = 1.0f, rv = 1.0f, mean, rstd;
	double acc[2];

	(void)state;
	nn_bn_forward(y, x, &g, &b, &rm, &rv, &mean, &rstd, 4, 1, true, acc);
	assert_float_near(mean, 3.0, 1e-6);
	assert_float_near(rstd, 1.0 / sqrt(3.5 + 1e-5), 1e-6);
	assert_float_near(y[3], 2.0 * 3.0 / sqrt(3.5 + 1e-5) + 0.5, 1e-5);
	assert_float_near(rm, 0.9 * 1.0 + 0.1 * 3.0, 1e-6);
	assert_float_near(rv, 0.9 * 1.0 + 0.1 * 14.0 / 3.0, 1e-6);
	/* evaluation uses the running statistics and leaves them alone */
	nn_bn_forward(y, x, &g, &b, &rm, &rv, &mean, &rstd, 4, 1, false, acc);
	assert_float_near(rm, 1.2, 1e-6);
	assert_float_near(y[0], 2.0 * (1.0 - 1.2) / sqrt(0.9 + 1.4 / 3.0 + 1e-5) + 0.5, 1e-5);
}

/* ---- attention and additions ---- */

typedef struct attn_ctx {
	float *qkv, *y, *p, *r;
	int B, N, d, heads;
} attn_ctx;

static double attn_loss(void *ctx)
{
	attn_ctx *c = ctx;

	nn_attn_forward(c->y, c->qkv, c->p, c->B, c->N, c->d, c->heads);
	return dot(c->y, c->r, (size_t)c->B * c->N * c->d);
}

static void test_attn_grad(void **state)
{
	enum { B = 2, N = 3, D = 4, HEADS = 2 };
	float qkv[B * N * 3 * D], y[B * N * D], p[B * HEADS * N * N], r_[B * N * D], dqkv[B * N * 3 * D];
	float scratch[N * N];
	attn_ctx c = { qkv, y, p, r_, B, N, D, HEADS };
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 24, 1);
	fill_uniform(&r, qkv, sizeof qkv / sizeof *qkv, -1.5, 1.5);
	fill_uniform(&r, r_, B * N * D, -1, 1);
	attn_loss(&c);
	/* every row of P is a distribution */
	for (int i = 0; i < B * HEADS * N; i++) {
		double s = 0.0;

		for (int j = 0; j < N; j++)
			s += p[i * N + j];
		assert_float_near(s, 1.0, 1e-6);
	}
	nn_attn_backward(dqkv, r_, qkv, p, B, N, D, HEADS, scratch);
	check_fd("attention dqkv", qkv, dqkv, sizeof qkv / sizeof *qkv, attn_loss, &c, 1e-3f);
}

typedef struct add_ctx {
	float *a, *b, *pos, *y, *r;
	int B, n;
} add_ctx;

static double add_loss(void *ctx)
{
	add_ctx *c = ctx;

	/* y = (a + b) + pos: both additions in one chain */
	nn_add_forward(c->y, c->a, c->b, (size_t)c->B * c->n);
	nn_posadd_forward(c->y, c->y, c->pos, c->B, c->n);
	return dot(c->y, c->r, (size_t)c->B * c->n);
}

static void test_add_grad(void **state)
{
	enum { B = 3, N = 5 };
	float a[B * N], b[B * N], pos[N], y[B * N], r_[B * N], dy[B * N], da[B * N], db[B * N], dpos[N];
	add_ctx c = { a, b, pos, y, r_, B, N };
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 25, 1);
	fill_uniform(&r, a, B * N, -1, 1);
	fill_uniform(&r, b, B * N, -1, 1);
	fill_uniform(&r, pos, N, -1, 1);
	fill_uniform(&r, r_, B * N, -1, 1);
	add_loss(&c);
	nn_posadd_backward(dy, dpos, r_, B, N);
	nn_add_backward(da, db, dy, B * N);
	check_fd("add da", a, da, B * N, add_loss, &c, 1e-3f);
	check_fd("add db", b, db, B * N, add_loss, &c, 1e-3f);
	check_fd("posadd dpos", pos, dpos, N, add_loss, &c, 1e-3f);
}

/* ---- models ---- */

/* Tiny members of every family, small enough for a check of every
 * parameter. Inputs with two channels, so CHW data meet a convolution. */
static emc_model_cfg tiny_model(emc_family f, emc_activation act)
{
	emc_model_cfg m = { .family = f, .activation = act };

	switch (f) {
	case EMC_FAMILY_MLP:
		m.n_widths = 2;
		m.widths[0] = 6;
		m.widths[1] = 4;
		break;
	case EMC_FAMILY_CNN: /* 6x6 → conv 2 → pool 3x3 → conv 4 → pool 1x1 → 5 → classes */
		m.layers = 2;
		m.filters = 2;
		m.hidden = 5;
		break;
	case EMC_FAMILY_RESNET: /* stage 0 identity block, stage 1 projection block */
		m.width = 2;
		m.n_widths = 2;
		m.widths[0] = 1;
		m.widths[1] = 1;
		break;
	case EMC_FAMILY_VIT: /* 2x2 patches of 6x6: 9 tokens */
		m.patch = 2;
		m.dim = 4;
		m.depth = 1;
		m.heads = 2;
		m.mlp_ratio = 2;
		break;
	default:
		break;
	}
	return m;
}

static const emc_input_shape tiny_shape = { .channels = 2, .height = 6, .width = 6, .classes = 3 };

typedef struct model_ctx {
	nn_model *m;
	const float *x;
	const uint8_t *y;
	int rows;
	nn_mode mode;
} model_ctx;

static double model_loss(void *ctx)
{
	model_ctx *c = ctx;
	nn_pass pass;

	nn_model_pass(c->m, c->x, c->y, NULL, c->rows, c->mode, false, &pass);
	return pass.loss;
}

/* Every parameter's gradient of the mean loss of a small batch against
 * central differences of the loss. warm: train passes first, so batch
 * norm's running statistics are not the initial ones. seed: of the data;
 * max pooling is not differentiable where a window holds two near-equal
 * values, and a seed is chosen whose data keep clear of such a tie. */
static void check_model_grad(const emc_model_cfg *mc, const emc_input_shape *in, nn_mode mode, int warm,
			     uint64_t seed)
{
	enum { B = 4 };
	nn_model *m = NULL;
	float *x, *g;
	uint8_t y[B] = { 0, 1, 2, 1 };
	int dim = in->channels * in->height * in->width;
	model_ctx c;
	nn_pass pass;
	emc_rng r;
	char what[64];
	emc_err err = { { 0 } };

	x = malloc((size_t)B * dim * sizeof *x);
	assert_non_null(x);
	emc_rng_seed(&r, seed, (uint64_t)mc->family * 16 + mc->activation);
	fill_uniform(&r, x, (size_t)B * dim, -2, 2);
	if (nn_model_new(mc, in, B, &m, &err) < 0)
		fail_msg("%s", err.msg);
	nn_model_init_params(m, 9, (uint64_t)mc->activation);
	for (int i = 0; i < warm; i++)
		nn_model_pass(m, x, y, NULL, B, NN_MODE_TRAIN, false, &pass);
	nn_model_pass(m, x, y, NULL, B, mode, true, &pass);
	assert_ptr_equal(pass.grad, m->grads);
	g = malloc(m->n_params * sizeof *g);
	assert_non_null(g);
	memcpy(g, pass.grad, m->n_params * sizeof *g);
	c = (model_ctx){ m, x, y, B, mode };
	snprintf(what, sizeof what, "%s/%s/%s", emc_family_name(mc->family), emc_activation_name(mc->activation),
		 mode == NN_MODE_TRAIN ? "train" : "eval");
	check_fd(what, m->params, g, m->n_params, model_loss, &c, 1e-3f);
	free(g);
	free(x);
	nn_model_destroy(&m);
	assert_null(m);
}

static void test_mlp_grad(void **state)
{
	const emc_input_shape in = { .channels = 1, .height = 1, .width = 5, .classes = 3 };

	(void)state;
	for (int a = 0; a < EMC_ACT_COUNT; a++) {
		emc_model_cfg mc = tiny_model(EMC_FAMILY_MLP, (emc_activation)a);

		check_model_grad(&mc, &in, NN_MODE_TRAIN, 0, 5);
	}
	{
		emc_model_cfg mc = tiny_model(EMC_FAMILY_LINEAR, EMC_ACT_RELU);

		check_model_grad(&mc, &in, NN_MODE_TRAIN, 0, 5);
	}
}

static void test_cnn_grad(void **state)
{
	emc_model_cfg mc = tiny_model(EMC_FAMILY_CNN, EMC_ACT_TANH);

	(void)state;
	check_model_grad(&mc, &tiny_shape, NN_MODE_TRAIN, 0, 6);
	mc.activation = EMC_ACT_GELU; /* an activation that is not fused */
	check_model_grad(&mc, &tiny_shape, NN_MODE_TRAIN, 0, 6);
}

static void test_resnet_grad(void **state)
{
	emc_model_cfg mc = tiny_model(EMC_FAMILY_RESNET, EMC_ACT_TANH);

	(void)state;
	/* batch statistics, then running ones */
	check_model_grad(&mc, &tiny_shape, NN_MODE_TRAIN, 0, 5);
	check_model_grad(&mc, &tiny_shape, NN_MODE_EVAL, 3, 5);
}

static void test_vit_grad(void **state)
{
	emc_model_cfg mc = tiny_model(EMC_FAMILY_VIT, EMC_ACT_GELU);

	(void)state;
	check_model_grad(&mc, &tiny_shape, NN_MODE_TRAIN, 0, 5);
	mc.activation = EMC_ACT_SIGMOID;
	check_model_grad(&mc, &tiny_shape, NN_MODE_TRAIN, 0, 5);
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
	nn_model_pass(small, x, y, idx, N, NN_MODE_TRAIN, true, &a);
	nn_model_pass(big, xp, yp, NULL, N, NN_MODE_TRAIN, true, &b);
	assert_ptr_equal(a.grad, small->gacc);
	assert_float_near(a.loss, b.loss, 1e-6);
	assert_int_equal(a.correct, b.correct);
	for (size_t k = 0; k < small->n_params; k++)
		assert_float_near(a.grad[k], b.grad[k], 1e-6 + 1e-4 * fabs(b.grad[k]));
	nn_model_destroy(&small);
	nn_model_destroy(&big);
}

/* Batch norm in training normalises each chunk by its own statistics
 * (ghost batch norm): a 10-row pass with chunks of 4 is three chunks of
 * 4, 3, 3 rows, each the same as a pass over those rows alone. */
static void test_ghost_batch_norm(void **state)
{
	enum { N = 10 };
	emc_model_cfg mc = tiny_model(EMC_FAMILY_RESNET, EMC_ACT_RELU);
	nn_model *m = NULL, *one = NULL;
	int dim = tiny_shape.channels * tiny_shape.height * tiny_shape.width;
	float *x = malloc((size_t)N * dim * sizeof *x), *g = NULL;
	uint8_t y[N];
	const int sizes[3] = { 4, 3, 3 };
	double loss = 0.0;
	nn_pass a, b;
	emc_rng r;

	(void)state;
	assert_non_null(x);
	emc_rng_seed(&r, 7, 1);
	fill_uniform(&r, x, (size_t)N * dim, 0, 1);
	for (int i = 0; i < N; i++)
		y[i] = (uint8_t)(i % 3);
	assert_int_equal(nn_model_new(&mc, &tiny_shape, 4, &m, NULL), 0);
	assert_int_equal(nn_model_new(&mc, &tiny_shape, 4, &one, NULL), 0);
	nn_model_init_params(m, 3, 3);
	nn_model_init_params(one, 3, 3);
	nn_model_pass(m, x, y, NULL, N, NN_MODE_TRAIN, true, &a);
	g = calloc(m->n_params, sizeof *g);
	assert_non_null(g);
	for (int c = 0, start = 0; c < 3; start += sizes[c++]) {
		nn_model_pass(one, x + (size_t)start * dim, y + start, NULL, sizes[c], NN_MODE_TRAIN, true, &b);
		loss += b.loss * sizes[c];
		for (size_t k = 0; k < m->n_params; k++)
			g[k] += b.grad[k] * sizes[c] / N;
	}
	assert_float_near(a.loss, loss / N, 1e-6);
	for (size_t k = 0; k < m->n_params; k++)
		assert_float_near(a.grad[k], g[k], 1e-6 + 1e-4 * fabs(g[k]));
	free(g);
	free(x);
	nn_model_destroy(&m);
	nn_model_destroy(&one);
}

/* The parameter counts of cell.h's formulas, worked out by hand. */
static void test_param_count(void **state)
{
	emc_input_shape mnist = { 1, 28, 28, 10 }, img = { 3, 8, 8, 5 }, tab = { 1, 1, 13, 3 };
	emc_input_shape cifar = { 3, 32, 32, 10 };
	emc_model_cfg lin = { .family = EMC_FAMILY_LINEAR, .activation = EMC_ACT_RELU };
	emc_model_cfg m1 = { .family = EMC_FAMILY_MLP, .activation = EMC_ACT_RELU, .n_widths = 1, .widths = { 8 } };
	emc_model_cfg m3 = { .family = EMC_FAMILY_MLP,
			     .activation = EMC_ACT_LINEAR,
			     .n_widths = 3,
			     .widths = { 32, 16, 8 } };
	emc_model_cfg cnn1 = { .family = EMC_FAMILY_CNN, .activation = EMC_ACT_RELU, .layers = 2, .filters = 32,
			       .hidden = 128 };
	emc_model_cfg cnn2 = { .family = EMC_FAMILY_CNN, .activation = EMC_ACT_TANH, .layers = 3, .filters = 4,
			       .hidden = 16 };
	emc_model_cfg res1 = { .family = EMC_FAMILY_RESNET, .activation = EMC_ACT_RELU, .width = 16, .n_widths = 3,
			       .widths = { 2, 2, 2 } };
	emc_model_cfg res2 = { .family = EMC_FAMILY_RESNET, .activation = EMC_ACT_RELU, .width = 4, .n_widths = 2,
			       .widths = { 1, 3 } };
	emc_model_cfg vit1 = { .family = EMC_FAMILY_VIT, .activation = EMC_ACT_GELU, .patch = 7, .dim = 64,
			       .depth = 2, .heads = 4, .mlp_ratio = 2 };
	emc_model_cfg vit2 = { .family = EMC_FAMILY_VIT, .activation = EMC_ACT_GELU, .patch = 4, .dim = 48,
			       .depth = 3, .heads = 3, .mlp_ratio = 4 };
	/* resnet block(in, out): 9·in·out + 2out + 9·out·out + 2out, + in·out + 2out with a projection */
#define BLOCK(i, o, proj) (9 * (i) * (o) + 2 * (o) + 9 * (o) * (o) + 2 * (o) + ((proj) ? (i) * (o) + 2 * (o) : 0))
	/* vit: (c·P·P·D + D) + N·D + L·(4D² + 2rD² + 9D + rD) + 2D + (D·C + C) */
#define VIT(c, P, D, N, L, r, C) \
	((c) * (P) * (P) * (D) + (D) + (N) * (D) + (L) * (4 * (D) * (D) + 2 * (r) * (D) * (D) + 9 * (D) + (r) * (D)) + \
	 2 * (D) + (D) * (C) + (C))
	struct {
		const emc_model_cfg *m;
		const emc_input_shape *in;
		int64_t want;
	} cases[] = {
		{ &lin, &mnist, 7850 },
		{ &m1, &mnist, 784 * 8 + 8 + 8 * 10 + 10 },
		{ &m3, &img, 192 * 32 + 32 + 32 * 16 + 16 + 16 * 8 + 8 + 8 * 5 + 5 },
		{ &m1, &tab, 13 * 8 + 8 + 8 * 3 + 3 },
		/* 28 → 14 → 7: 1·9·32 + 32, 32·9·64 + 64, 64·7·7·128 + 128, 128·10 + 10 */
		{ &cnn1, &mnist, 320 + 18496 + 401536 + 1290 },
		/* 8 → 4 → 2 → 1: channels 4, 8, 16; flat 16 */
		{ &cnn2, &img, (27 * 4 + 4) + (36 * 8 + 8) + (72 * 16 + 16) + (16 * 16 + 16) + (16 * 5 + 5) },
		{ &res1, &cifar,
		  9 * 3 * 16 + 32 + 2 * BLOCK(16, 16, 0) + BLOCK(16, 32, 1) + BLOCK(32, 32, 0) + BLOCK(32, 64, 1) +
			  BLOCK(64, 64, 0) + 64 * 10 + 10 },
		{ &res2, &img, 9 * 3 * 4 + 8 + BLOCK(4, 4, 0) + BLOCK(4, 8, 1) + 2 * BLOCK(8, 8, 0) + 8 * 5 + 5 },
		{ &vit1, &mnist, VIT(1, 7, 64, 16, 2, 2, 10) },
		{ &vit2, &cifar, VIT(3, 4, 48, 64, 3, 4, 10) },
	};
#undef BLOCK
#undef VIT

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		nn_model *m = NULL;
		size_t planned = 0, bytes = 0;

		assert_int_equal(nn_model_new(cases[i].m, cases[i].in, 2, &m, NULL), 0);
		if ((int64_t)m->n_params != cases[i].want)
			fail_msg("case %zu (%s): %zu parameters, want %lld", i, emc_family_name(cases[i].m->family),
				 m->n_params, (long long)cases[i].want);
		assert_int_equal(nn_model_plan_bytes(cases[i].m, cases[i].in, 2, &planned, &bytes, NULL), 0);
		assert_int_equal(planned, m->n_params);
		assert_int_equal(bytes, m->arena_bytes);
		nn_model_destroy(&m);
	}
	/* and the coordinator's count is the same (common/cell.c) */
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t c = emc_model_params(cases[i].m, cases[i].in);

		if (c != cases[i].want)
			fail_msg("emc_model_params, case %zu (%s): %lld, want %lld", i,
				 emc_family_name(cases[i].m->family), (long long)c, (long long)cases[i].want);
	}
}

static void test_init(void **state)
{
	emc_model_cfg mc = { .family = EMC_FAMILY_VIT, .activation = EMC_ACT_GELU, .patch = 7, .dim = 64,
			     .depth = 1, .heads = 4, .mlp_ratio = 2 };
	emc_input_shape mnist = { 1, 28, 28, 10 };
	nn_model *m = NULL, *m2 = NULL;
	int seen_pos = 0, seen_ln = 0;

	(void)state;
	assert_int_equal(nn_model_new(&mc, &mnist, 2, &m, NULL), 0);
	assert_int_equal(nn_model_new(&mc, &mnist, 2, &m2, NULL), 0);
	nn_model_init_params(m, 1, NN_STREAM_INIT);
	nn_model_init_params(m2, 1, NN_STREAM_INIT);
	assert_memory_equal(m->params, m2->params, m->n_params * sizeof(float));
	for (int i = 0; i < m->n_ops; i++) {
		const nn_op *op = &m->ops[i];
		double bound, sq = 0.0, maxabs = 0.0;

		switch (op->kind) {
		case NN_OP_DENSE:
		case NN_OP_CONV:
			/* U(±1/√fan_in), and it uses most of that range */
			bound = 1.0 / sqrt((double)op->fan_in);
			for (size_t k = 0; k < op->nw; k++)
				maxabs = fmax(maxabs, fabs(m->params[op->w + k]));
			assert_true(maxabs <= bound && maxabs > 0.9 * bound);
			for (size_t k = 0; k < op->nb; k++)
				assert_true(fabs(m->params[op->b + k]) <= bound);
			break;
		case NN_OP_LN:
			seen_ln++;
			for (size_t k = 0; k < op->nw; k++) {
				assert_float_near(m->params[op->w + k], 1.0, 0);
				assert_float_near(m->params[op->b + k], 0.0, 0);
			}
			break;
		case NN_OP_POSADD:
			/* 16 tokens × 64: the sample deviation is near 0.02 */
			seen_pos++;
			for (size_t k = 0; k < op->nw; k++)
				sq += (double)m->params[op->w + k] * m->params[op->w + k];
			assert_float_near(sqrt(sq / (double)op->nw), 0.02, 0.002);
			break;
		default:
			break;
		}
	}
	assert_int_equal(seen_pos, 1);
	assert_int_equal(seen_ln, 3);
	nn_model_destroy(&m);
	nn_model_destroy(&m2);

	/* batch norm: weight 1, bias 0, running mean 0 and variance 1 */
	mc = tiny_model(EMC_FAMILY_RESNET, EMC_ACT_RELU);
	assert_int_equal(nn_model_new(&mc, &tiny_shape, 2, &m, NULL), 0);
	nn_model_init_params(m, 1, NN_STREAM_INIT);
	for (int i = 0; i < m->n_ops; i++)
		if (m->ops[i].kind == NN_OP_BN)
			for (size_t k = 0; k < m->ops[i].nw; k++) {
				assert_float_near(m->params[m->ops[i].w + k], 1.0, 0);
				assert_float_near(m->params[m->ops[i].b + k], 0.0, 0);
				assert_float_near(m->aux[m->ops[i].run + k], 0.0, 0);
				assert_float_near(m->aux[m->ops[i].run + m->ops[i].nw + k], 1.0, 0);
			}
	nn_model_destroy(&m);
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

/* The learning rate set for a step is the one it uses; AdamW's decay
 * scales with it. */
static void test_optim_set_lr(void **state)
{
	emc_optim_cfg c = { .name = EMC_OPT_SGD, .lr = 0.1 };
	float p[2] = { 1.0f, -2.0f };
	const float g[2] = { 0.5f, -1.0f };
	nn_optim *o = NULL;

	(void)state;
	assert_int_equal(nn_optim_new(&c, 2, &o, NULL), 0);
	nn_optim_set_lr(o, 0.05);
	nn_optim_step(o, p, g);
	assert_float_near(p[0], 0.975, 1e-7);
	assert_float_near(p[1], -1.95, 1e-7);
	nn_optim_destroy(&o);

	c = (emc_optim_cfg){
		.name = EMC_OPT_ADAMW, .lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1
	};
	p[0] = 1.0f;
	p[1] = -2.0f;
	assert_int_equal(nn_optim_new(&c, 2, &o, NULL), 0);
	nn_optim_set_lr(o, 0.05);
	nn_optim_step(o, p, g);
	/* p ← p (1 − 0.05·0.1) − 0.05 sign(g) */
	assert_float_near(p[0], 0.995 - 0.05, 1e-6);
	assert_float_near(p[1], -1.99 + 0.05, 1e-6);
	nn_optim_destroy(&o);
	/* state sizes: none for plain sgd, one moment with momentum, two for adam */
	assert_int_equal(nn_optim_state_bytes(&(emc_optim_cfg){ .name = EMC_OPT_SGD }, 10), 0);
	assert_int_equal(nn_optim_state_bytes(&(emc_optim_cfg){ .name = EMC_OPT_SGD, .momentum = 0.9 }, 10), 64);
	assert_int_equal(nn_optim_state_bytes(&c, 17), 2 * 32 * sizeof(float));
}

static void test_schedule(void **state)
{
	emc_optim_cfg o = { .name = EMC_OPT_SGD, .lr = 0.1, .schedule = EMC_SCHEDULE_COSINE, .warmup_epochs = 2 };
	emc_budget_cfg b = { .max_epochs = 10 };
	nn_schedule s;
	emc_err err = { { 0 } };

	(void)state;
	/* 5 steps an epoch: T = 50, W = 10 */
	assert_int_equal(nn_schedule_init(&s, &o, &b, 5, &err), 0);
	assert_float_near(nn_schedule_lr(&s, 0), 0.01, 1e-15);  /* lr / W */
	assert_float_near(nn_schedule_lr(&s, 4), 0.05, 1e-15);  /* lr · 5 / 10 */
	assert_float_near(nn_schedule_lr(&s, 9), 0.1, 1e-15);   /* warm */
	assert_float_near(nn_schedule_lr(&s, 10), 0.1, 1e-15);  /* cos 0 */
	assert_float_near(nn_schedule_lr(&s, 30), 0.05, 1e-15); /* cos π/2 */
	assert_float_near(nn_schedule_lr(&s, 49), 0.05 * (1.0 + cos(M_PI * 39.0 / 40.0)), 1e-15);
	assert_true(nn_schedule_lr(&s, 49) < 2e-4);

	/* no warm-up; a step budget smaller than the epoch budget wins */
	o.warmup_epochs = 0;
	b.max_steps = 100;
	b.max_epochs = 1000;
	assert_int_equal(nn_schedule_init(&s, &o, &b, 5, &err), 0);
	assert_float_near(nn_schedule_lr(&s, 0), 0.1, 1e-15);
	assert_float_near(nn_schedule_lr(&s, 25), 0.05 * (1.0 + M_SQRT1_2), 1e-15);
	assert_float_near(nn_schedule_lr(&s, 50), 0.05, 1e-15);

	/* constant with warm-up */
	o.schedule = EMC_SCHEDULE_CONSTANT;
	o.warmup_epochs = 1;
	assert_int_equal(nn_schedule_init(&s, &o, &b, 4, &err), 0);
	assert_float_near(nn_schedule_lr(&s, 0), 0.025, 1e-15);
	assert_float_near(nn_schedule_lr(&s, 3), 0.1, 1e-15);
	assert_float_near(nn_schedule_lr(&s, 400), 0.1, 1e-15);

	/* a time budget alone has no last step for the cosine */
	o.schedule = EMC_SCHEDULE_COSINE;
	b = (emc_budget_cfg){ .max_seconds = 10 };
	assert_int_equal(nn_schedule_init(&s, &o, &b, 4, &err), -EINVAL);
	assert_contains(err.msg, "optimizer.schedule");
	o.schedule = EMC_SCHEDULE_CONSTANT;
	assert_int_equal(nn_schedule_init(&s, &o, &b, 4, &err), 0);
	/* a warm-up as long as the budget leaves no cosine */
	o.schedule = EMC_SCHEDULE_COSINE;
	b = (emc_budget_cfg){ .max_epochs = 3 };
	o.warmup_epochs = 3;
	assert_int_equal(nn_schedule_init(&s, &o, &b, 4, &err), -EINVAL);
	assert_contains(err.msg, "optimizer.warmup_epochs");
}

/* ---- the Hessian certificate ---- */

typedef struct quad {
	int n;
	const double *a; /* (n, n) symmetric */
} quad;

static void quad_apply(void *ctx, const double *v, double *ret)
{
	const quad *q = ctx;

	for (int i = 0; i < q->n; i++) {
		double s = 0.0;

		for (int j = 0; j < q->n; j++)
			s += q->a[i * q->n + j] * v[j];
		ret[i] = s;
	}
}

/* A = Q diag(λ) Q^T with Q a product of random Householder reflections:
 * a dense matrix whose spectrum is known. */
static void make_spectrum(double *a, const double *lambda, int n, uint64_t seed)
{
	double u[64];
	emc_rng r;

	assert_true(n <= 64);
	memset(a, 0, (size_t)n * n * sizeof *a);
	for (int i = 0; i < n; i++)
		a[i * n + i] = lambda[i];
	emc_rng_seed(&r, seed, 1);
	for (int t = 0; t < 3; t++) {
		double nn = 0.0;

		for (int i = 0; i < n; i++) {
			u[i] = emc_rng_normal(&r);
			nn += u[i] * u[i];
		}
		for (int i = 0; i < n; i++)
			u[i] /= sqrt(nn);
		/* A ← H A H with H = I − 2uu^T */
		for (int side = 0; side < 2; side++)
			for (int k = 0; k < n; k++) {
				double d = 0.0;

				for (int i = 0; i < n; i++)
					d += u[i] * (side ? a[k * n + i] : a[i * n + k]);
				for (int i = 0; i < n; i++)
					*(side ? &a[k * n + i] : &a[i * n + k]) -= 2.0 * u[i] * d;
			}
	}
}

static void test_lanczos_quadratic(void **state)
{
	enum { N = 60 };
	double *a = malloc(N * N * sizeof *a), lambda[N], lo, hi;
	void *work = malloc(nn_lanczos_work_bytes(N, NN_LANCZOS_K));
	quad q = { N, a };

	(void)state;
	assert_non_null(a);
	assert_non_null(work);
	/* a saddle: one clearly negative direction, a bulk, one sharp direction */
	lambda[0] = -3.0;
	for (int i = 1; i < N - 1; i++)
		lambda[i] = 0.1 + 2.0 * i / N;
	lambda[N - 1] = 25.0;
	make_spectrum(a, lambda, N, 31);
	assert_int_equal(nn_lanczos(N, NN_LANCZOS_K, quad_apply, &q, 7, work, &lo, &hi), 0);
	assert_float_near(lo, -3.0, 1e-6);
	assert_float_near(hi, 25.0, 1e-6);

	/* k = n: the whole spectrum, exactly; a small dimension stops early */
	for (int i = 0; i < 12; i++)
		lambda[i] = i % 2 ? 1.0 + i : 0.5 - i;
	make_spectrum(a, lambda, 12, 32);
	q.n = 12;
	assert_int_equal(nn_lanczos(12, 12, quad_apply, &q, 8, work, &lo, &hi), 0);
	/* (the basis is stored in float) */
	assert_float_near(lo, 0.5 - 10, 1e-6);
	assert_float_near(hi, 12.0, 1e-6);
	/* a multiple of the identity: the Krylov space is one-dimensional */
	memset(a, 0, 12 * 12 * sizeof *a);
	for (int i = 0; i < 12; i++)
		a[i * 12 + i] = 2.5;
	assert_int_equal(nn_lanczos(12, 12, quad_apply, &q, 9, work, &lo, &hi), 0);
	assert_float_near(lo, 2.5, 1e-6);
	assert_float_near(hi, 2.5, 1e-6);
	assert_int_equal(nn_lanczos(12, 13, quad_apply, &q, 9, work, &lo, &hi), -EINVAL);
	free(work);
	free(a);
}

/* The certificate on trained tiny networks: finite, ordered, the largest
 * positive; a linear softmax model's loss is convex, so its smallest
 * eigenvalue is not clearly negative; and an MLP's agrees with Lanczos on
 * a Hessian formed column by column from the same differences. */
static void test_hessian_certificate(void **state)
{
	enum { N = 24, D = 3, C = 3 };
	float x[N * D];
	uint8_t y[N];
	nn_data data = { .x = x, .y = y, .n = N, .shape = { 1, 1, D, C } };
	emc_cell_cfg cfg;
	nn_trial_result res;
	emc_err err = { { 0 } };
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 33, 1);
	fill_uniform(&r, x, N * D, -1, 1);
	for (int i = 0; i < N; i++)
		y[i] = (uint8_t)emc_rng_below(&r, C);
	base_cfg(&cfg, EMC_FAMILY_LINEAR, 0);
	cfg.optim.name = EMC_OPT_ADAM;
	cfg.optim.lr = 0.05;
	cfg.budget.max_epochs = 50;
	cfg.budget.hessian = true;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_true(res.r.has_hessian);
	assert_true(isfinite(res.r.hessian_min) && isfinite(res.r.hessian_max));
	assert_true(res.r.hessian_max > 0.0);
	assert_true(res.r.hessian_min <= res.r.hessian_max);
	assert_true(res.r.hessian_min > -1e-3 * res.r.hessian_max);

	base_cfg(&cfg, EMC_FAMILY_MLP, 4);
	cfg.model.activation = EMC_ACT_TANH;
	cfg.optim.name = EMC_OPT_ADAM;
	cfg.optim.lr = 0.05;
	cfg.budget.max_epochs = 30;
	cfg.budget.hessian = true;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_true(res.r.has_hessian);
	assert_true(isfinite(res.r.hessian_min) && res.r.hessian_max > 0.0);
	assert_true(res.r.hessian_min <= res.r.hessian_max);

	/* without the flag, no certificate */
	cfg.budget.hessian = false;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_false(res.r.has_hessian);
}

/* At a known point of a tiny MLP, the certificate's extremes equal those
 * of the Hessian formed column by column (H e_i by the same central
 * differences), found with Lanczos at k = n. */
static void test_hessian_matches_full(void **state)
{
	enum { N = 10, D = 2, C = 2 };
	emc_model_cfg mc = { .family = EMC_FAMILY_MLP, .activation = EMC_ACT_TANH, .n_widths = 1, .widths = { 3 } };
	emc_input_shape in = { 1, 1, D, C };
	float x[N * D];
	uint8_t y[N];
	nn_model *m = NULL;
	double *h, *e, lo, hi, flo, fhi;
	void *work;
	size_t P;
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 34, 1);
	fill_uniform(&r, x, N * D, -1, 1);
	for (int i = 0; i < N; i++)
		y[i] = (uint8_t)(i % C);
	assert_int_equal(nn_model_new(&mc, &in, N, &m, NULL), 0);
	nn_model_init_params(m, 2, 2);
	P = m->n_params; /* 2·3 + 3 + 3·2 + 2 = 17 */
	assert_int_equal(P, 17);
	work = malloc(nn_hessian_work_bytes(P));
	h = malloc(P * P * sizeof *h);
	e = calloc(P, sizeof *e);
	assert_non_null(work);
	assert_non_null(h);
	assert_non_null(e);
	assert_int_equal(nn_hessian_extremes(m, x, y, N, 0.0, 5, work, &lo, &hi), 0);
	{
		/* the same products, one basis vector at a time, in double */
		const float *p0 = m->params;
		float *keep = malloc(P * sizeof *keep), *gp = malloc(P * sizeof *gp);
		double tn = 0.0, eps;
		nn_pass pass;
		quad q = { (int)P, h };
		void *w2 = malloc(nn_lanczos_work_bytes(P, (int)P));

		assert_non_null(keep);
		assert_non_null(gp);
		assert_non_null(w2);
		memcpy(keep, p0, P * sizeof *keep);
		for (size_t i = 0; i < P; i++)
			tn += (double)keep[i] * keep[i];
		eps = 1e-3 * (1.0 + sqrt(tn));
		for (size_t i = 0; i < P; i++) {
			m->params[i] = (float)(keep[i] + eps);
			nn_model_pass(m, x, y, NULL, N, NN_MODE_EVAL, true, &pass);
			memcpy(gp, pass.grad, P * sizeof *gp);
			m->params[i] = (float)(keep[i] - eps);
			nn_model_pass(m, x, y, NULL, N, NN_MODE_EVAL, true, &pass);
			m->params[i] = keep[i];
			for (size_t j = 0; j < P; j++)
				h[j * P + i] = ((double)gp[j] - pass.grad[j]) / (2.0 * eps);
		}
		/* symmetrise what the differences left unsymmetric */
		for (size_t i = 0; i < P; i++)
			for (size_t j = 0; j < i; j++)
				h[i * P + j] = h[j * P + i] = 0.5 * (h[i * P + j] + h[j * P + i]);
		assert_int_equal(nn_lanczos(P, (int)P, quad_apply, &q, 3, w2, &flo, &fhi), 0);
		assert_float_near(lo, flo, 2e-3 * fabs(fhi));
		assert_float_near(hi, fhi, 2e-3 * fabs(fhi));
		/* parameters restored bit for bit */
		assert_memory_equal(m->params, keep, P * sizeof *keep);
		free(keep);
		free(gp);
		free(w2);
	}
	free(work);
	free(h);
	free(e);
	nn_model_destroy(&m);
}

/* Eigenvalues of the symmetric a (n, n), destroyed, into ret_eig (n), by
 * cyclic Jacobi rotations: slow and plain, so it shares nothing with the
 * engine's Lanczos and LAPACK. */
static void jacobi_eigenvalues(double *a, int n, double *ret_eig)
{
	for (int sweep = 0; sweep < 100; sweep++) {
		double off = 0.0, diag = 0.0;

		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++)
				*(i == j ? &diag : &off) += a[i * n + j] * a[i * n + j];
		if (off <= 1e-26 * diag)
			break;
		for (int p = 0; p < n; p++)
			for (int q = p + 1; q < n; q++) {
				double apq = a[p * n + q], theta, t, c, s;

				if (fabs(apq) < 1e-300)
					continue;
				/* the rotation in the (p, q) plane that zeroes a[p][q] */
				theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
				t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
				c = 1.0 / sqrt(t * t + 1.0);
				s = t * c;
				for (int k = 0; k < n; k++) { /* A ← A J */
					double akp = a[k * n + p], akq = a[k * n + q];

					a[k * n + p] = c * akp - s * akq;
					a[k * n + q] = s * akp + c * akq;
				}
				for (int k = 0; k < n; k++) { /* A ← J^T A */
					double apk = a[p * n + k], aqk = a[q * n + k];

					a[p * n + k] = c * apk - s * aqk;
					a[q * n + k] = s * apk + c * aqk;
				}
			}
	}
	for (int i = 0; i < n; i++)
		ret_eig[i] = a[i * n + i];
}

/* The closed-form Hessian of softmax regression, logits z = W x + b with W
 * (C, D) then b (C) as the dense layer stores them, mean cross-entropy over
 * N rows, plus l2 I:
 *   H = (1/N) Σ_s (diag(p_s) − p_s p_sᵀ) ⊗ x̃_s x̃_sᵀ + l2 I,  x̃ = (x, 1),
 * the parameter (c, d) at c·D + d for d < D and the bias c at C·D + c.
 * Returns the mean loss at params, so the caller can check that the layout
 * read here is the engine's.  h (P, P), params (P), x (N, D). */
static double softmax_hessian(const float *params, const float *x, const uint8_t *y, int N, int D, int C, double l2,
			      double *h)
{
	const int P = C * D + C;
	double p[16], xt[65], loss = 0.0;

	assert_true(C <= 16 && D <= 64);
	memset(h, 0, (size_t)P * P * sizeof *h);
	for (int s = 0; s < N; s++) {
		double zmax = -INFINITY, sum = 0.0;

		for (int d = 0; d < D; d++)
			xt[d] = x[s * D + d];
		xt[D] = 1.0;
		for (int c = 0; c < C; c++) {
			p[c] = params[C * D + c];
			for (int d = 0; d < D; d++)
				p[c] += (double)params[c * D + d] * xt[d];
			zmax = fmax(zmax, p[c]);
		}
		for (int c = 0; c < C; c++)
			sum += (p[c] = exp(p[c] - zmax));
		for (int c = 0; c < C; c++)
			p[c] /= sum;
		loss -= log(p[y[s]]);
		for (int i = 0; i < P; i++) {
			int ci = i < C * D ? i / D : i - C * D, di = i < C * D ? i % D : D;

			for (int j = 0; j < P; j++) {
				int cj = j < C * D ? j / D : j - C * D, dj = j < C * D ? j % D : D;
				double a = (ci == cj ? p[ci] : 0.0) - p[ci] * p[cj];

				h[i * P + j] += a * xt[di] * xt[dj] / N;
			}
		}
	}
	for (int i = 0; i < P; i++)
		h[i * P + i] += l2;
	return loss / N;
}

/* The engine's Hessian-vector products and its certificate against the
 * closed form of softmax regression: the products to 0.1 % of ‖H‖ for basis
 * and random vectors, the extremes to 0.1 % of λmax against a Jacobi
 * eigendecomposition, once with k = n (the whole spectrum) and once with
 * k = 40 < n, with and without the L2 term. A Hessian formed from the
 * engine's own differences would agree with a wrong product; this cannot. */
static void test_hessian_closed_form(void **state)
{
	static const struct {
		int n, d, c;
		double l2;
	} cases[] = { { 30, 4, 3, 0.0 }, { 40, 12, 4, 0.05 } };

	(void)state;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const int N = cases[k].n, D = cases[k].d, C = cases[k].c, P = C * D + C;
		const double l2 = cases[k].l2;
		emc_model_cfg mc = { .family = EMC_FAMILY_LINEAR, .n_widths = 0 };
		emc_input_shape in = { 1, 1, D, C };
		float *x = malloc((size_t)N * D * sizeof *x);
		uint8_t y[64];
		double *h = malloc((size_t)P * P * sizeof *h), *v = malloc(P * sizeof *v), *hv = malloc(P * sizeof *hv);
		double *eig = malloc(P * sizeof *eig), hmax = 0.0, lo, hi, elo = INFINITY, ehi = -INFINITY, loss;
		nn_model *m = NULL;
		void *work;
		nn_pass pass;
		emc_rng r;

		assert_non_null(x);
		assert_non_null(h);
		assert_non_null(v);
		assert_non_null(hv);
		assert_non_null(eig);
		emc_rng_seed(&r, 40 + k, 1);
		fill_uniform(&r, x, (size_t)N * D, -1, 1);
		for (int i = 0; i < N; i++)
			y[i] = (uint8_t)emc_rng_below(&r, C);
		assert_int_equal(nn_model_new(&mc, &in, N, &m, NULL), 0);
		assert_int_equal(m->n_params, P);
		/* a point where the probabilities are far from uniform */
		fill_uniform(&r, m->params, P, -1.5, 1.5);
		work = malloc(nn_hessian_work_bytes(P));
		assert_non_null(work);
		loss = softmax_hessian(m->params, x, y, N, D, C, l2, h);
		nn_model_pass(m, x, y, NULL, N, NN_MODE_EVAL, false, &pass);
		assert_float_near(pass.loss, loss, 1e-5 * loss);
		for (int i = 0; i < P * P; i++)
			hmax = fmax(hmax, fabs(h[i]));
		for (int t = 0; t < P + 4; t++) {
			/* e_t for every parameter, then random directions */
			for (int i = 0; i < P; i++)
				v[i] = t < P ? (i == t) : emc_rng_normal(&r);
			assert_int_equal(nn_hessian_vector(m, x, y, N, l2, v, work, hv), 0);
			for (int i = 0; i < P; i++) {
				double want = 0.0, vn = 0.0;

				for (int j = 0; j < P; j++) {
					want += h[i * P + j] * v[j];
					vn += v[j] * v[j];
				}
				if (!(fabs(hv[i] - want) <= 1e-3 * hmax * sqrt(vn)))
					fail_msg("case %zu: (H v_%d)[%d] = %.9g, closed form %.9g", k, t, i, hv[i], want);
			}
		}
		memset(v, 0, P * sizeof *v);
		assert_int_equal(nn_hessian_vector(m, x, y, N, l2, v, work, hv), -EINVAL);
		assert_int_equal(nn_hessian_extremes(m, x, y, N, l2, 6, work, &lo, &hi), 0);
		jacobi_eigenvalues(h, P, eig);
		for (int i = 0; i < P; i++) {
			elo = fmin(elo, eig[i]);
			ehi = fmax(ehi, eig[i]);
		}
		/* softmax's Hessian is singular along (1, …, 1) per feature */
		assert_float_near(elo, l2, 1e-9);
		assert_float_near(lo, elo, 1e-3 * ehi);
		assert_float_near(hi, ehi, 1e-3 * ehi);
		free(work);
		free(x);
		free(h);
		free(v);
		free(hv);
		free(eig);
		nn_model_destroy(&m);
	}
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
	assert_int_equal(res.r.outcome, EMC_OUTCOME_FIT);
	assert_int_equal(res.r.reason, EMC_STOP_FIT);
	assert_float_near(res.r.accuracy, 1.0, 0);
	assert_true(res.r.epochs >= 1 && res.r.epochs < 2000);
	assert_int_equal(res.r.steps, res.r.epochs * ((N + 7) / 8)); /* the partial batch counts */
	assert_int_equal(res.r.params, 2 * 16 + 16 + 16 * 2 + 2);

	/* The same budget cannot make a linear model fit XOR. */
	base_cfg(&cfg, EMC_FAMILY_LINEAR, 0);
	cfg.optim.name = EMC_OPT_ADAM;
	cfg.optim.lr = 0.01;
	cfg.optim.batch = 8;
	cfg.budget.max_epochs = 2000;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_int_equal(res.r.outcome, EMC_OUTCOME_NO_FIT);
	assert_true(res.r.accuracy < 0.9);
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
	assert_int_equal(res.r.outcome, EMC_OUTCOME_FIT);
	assert_float_near(res.r.accuracy, 1.0, 0);
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
	assert_int_equal(res.r.outcome, EMC_OUTCOME_FIT);
	assert_int_equal(res.r.steps, res.r.epochs); /* one step per epoch */
	assert_true(res.r.grad_norm > 0.0);
	/* One mislabelled sample makes it unfittable at threshold 1.0 but
	 * fittable at (n - 1) / n. */
	y[5] = (uint8_t)(1 - y[5]);
	cfg.budget.max_epochs = 300;
	cfg.budget.fit_threshold = (double)(N - 1) / N;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_int_equal(res.r.outcome, EMC_OUTCOME_FIT);
	assert_float_near(res.r.accuracy, (double)(N - 1) / N, 1e-12);
	cfg.budget.fit_threshold = 1.0;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_int_equal(res.r.outcome, EMC_OUTCOME_NO_FIT);
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
	assert_int_equal(res.r.outcome, EMC_OUTCOME_NO_FIT);
	assert_int_equal(res.r.reason, EMC_STOP_PLATEAU);
	assert_float_near(res.r.loss, log(2.0), 1e-3);
	assert_true(res.r.budget_used < 0.5);

	cfg.budget.plateau_epochs = 0;
	cfg.budget.grad_tol = 1e-4;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, &err), 0);
	assert_int_equal(res.r.outcome, EMC_OUTCOME_NO_FIT);
	assert_int_equal(res.r.reason, EMC_STOP_GRADNORM);
	assert_true(res.r.grad_norm < 1e-4);
	assert_true(res.r.budget_used < 0.5);
}

/* n samples of the tiny image shape: inputs in [0, 1], labels cycling. */
static void tiny_images(uint64_t seed, int n, float *x, uint8_t *y)
{
	emc_rng r;
	int dim = tiny_shape.channels * tiny_shape.height * tiny_shape.width;

	emc_rng_seed(&r, seed, 1);
	fill_uniform(&r, x, (size_t)n * dim, 0, 1);
	for (int i = 0; i < n; i++)
		y[i] = (uint8_t)(i % tiny_shape.classes);
}

/* Same configuration, data and thread count: the same final loss, bit for
 * bit, in every family; another seed: another loss. */
static void test_determinism(void **state)
{
	enum { N = 20 };
	float x[N * 72];
	uint8_t y[N];
	nn_data data = { .x = x, .y = y, .n = N, .shape = tiny_shape };

	(void)state;
	tiny_images(13, N, x, y);
	for (int f = 0; f < EMC_FAMILY_COUNT; f++) {
		emc_cell_cfg cfg;
		nn_trial_result a, b, c;
		emc_err err = { { 0 } };

		emc_cell_cfg_defaults(&cfg);
		cfg.model = tiny_model((emc_family)f, f == EMC_FAMILY_VIT ? EMC_ACT_GELU : EMC_ACT_RELU);
		cfg.seed = 42;
		cfg.optim.name = EMC_OPT_ADAM;
		cfg.optim.lr = 0.01;
		cfg.optim.batch = 7;
		cfg.budget.max_epochs = 3;
		cfg.budget.plateau_epochs = 0;
		if (nn_train(&cfg, &data, NULL, &a, &err) < 0)
			fail_msg("%s: %s", emc_family_name(f), err.msg);
		assert_int_equal(nn_train(&cfg, &data, NULL, &b, NULL), 0);
		assert_int_equal(a.r.reason, EMC_STOP_BUDGET);
		assert_true(isfinite(a.r.loss));
		if (memcmp(&a.r.loss, &b.r.loss, sizeof a.r.loss) != 0)
			fail_msg("%s: loss %.17g then %.17g", emc_family_name(f), a.r.loss, b.r.loss);
		cfg.seed = 43;
		assert_int_equal(nn_train(&cfg, &data, NULL, &c, NULL), 0);
		assert_true(a.r.loss != c.r.loss);
	}
}

/* The trainer is exactly the documented algorithm: weights from the init
 * stream, every epoch a fresh shuffle from the order stream, batches in
 * that order with the last one partial, each step's learning rate from the
 * schedule, passes in training mode, and the reported loss an evaluation
 * of the whole subset in evaluation mode. Replaying it by hand from the
 * model, optimizer and schedule pieces gives the same final loss, bit for
 * bit. */
static void replay(const emc_cell_cfg *cfg, const nn_data *data, int batch, int epochs)
{
	const int N = (int)data->n, dim = data->shape.channels * data->shape.height * data->shape.width;
	const int steps = (N + batch - 1) / batch;
	nn_trial_result res;
	nn_model *m = NULL;
	nn_optim *o = NULL;
	nn_schedule sched;
	int32_t order[64];
	int64_t t = 0;
	emc_rng r;
	nn_pass pass;

	assert_true(N <= 64);
	assert_int_equal(nn_train(cfg, data, NULL, &res, NULL), 0);
	assert_int_equal(res.r.steps, epochs * steps);

	assert_int_equal(nn_model_new(&cfg->model, &data->shape, N, &m, NULL), 0);
	nn_model_init_params(m, cfg->seed, NN_STREAM_INIT);
	assert_int_equal(nn_optim_new(&cfg->optim, m->n_params, &o, NULL), 0);
	assert_int_equal(nn_schedule_init(&sched, &cfg->optim, &cfg->budget, steps, NULL), 0);
	emc_rng_seed(&r, cfg->seed, NN_STREAM_ORDER);
	for (int i = 0; i < N; i++)
		order[i] = i;
	for (int e = 0; e < epochs; e++) {
		emc_rng_shuffle_i32(&r, order, N);
		for (int s = 0; s < N; s += batch) {
			nn_model_pass(m, data->x, data->y, order + s, s + batch <= N ? batch : N - s, NN_MODE_TRAIN,
				      true, &pass);
			nn_optim_set_lr(o, nn_schedule_lr(&sched, t++));
			nn_optim_step(o, m->params, pass.grad);
		}
	}
	nn_model_pass(m, data->x, data->y, NULL, N, NN_MODE_EVAL, false, &pass);
	assert_memory_equal(&pass.loss, &res.r.loss, sizeof pass.loss);
	(void)dim;
	nn_optim_destroy(&o);
	nn_model_destroy(&m);
}

static void test_replay(void **state)
{
	enum { N = 10, D = 3, C = 3, BATCH = 4, EPOCHS = 3 };
	float x[N * D], xi[N * 72];
	uint8_t y[N], yi[N];
	nn_data data = { .x = x, .y = y, .n = N, .shape = { 1, 1, D, C } };
	nn_data images = { .x = xi, .y = yi, .n = N, .shape = tiny_shape };
	emc_cell_cfg cfg;
	emc_rng r;

	(void)state;
	emc_rng_seed(&r, 15, 1);
	fill_uniform(&r, x, N * D, -1, 1);
	for (int i = 0; i < N; i++)
		y[i] = (uint8_t)emc_rng_below(&r, C);
	base_cfg(&cfg, EMC_FAMILY_MLP, 5);
	cfg.model.activation = EMC_ACT_SIGMOID;
	cfg.optim.batch = BATCH;
	cfg.budget.max_epochs = EPOCHS;
	replay(&cfg, &data, BATCH, EPOCHS);
	/* with a warm-up and a cosine */
	cfg.optim.momentum = 0.9;
	cfg.optim.schedule = EMC_SCHEDULE_COSINE;
	cfg.optim.warmup_epochs = 1;
	replay(&cfg, &data, BATCH, EPOCHS);
	/* batch norm: training passes move the running statistics, and the
	 * evaluation uses them */
	tiny_images(16, N, xi, yi);
	emc_cell_cfg_defaults(&cfg);
	cfg.model = tiny_model(EMC_FAMILY_RESNET, EMC_ACT_RELU);
	cfg.seed = 5;
	cfg.optim.batch = BATCH;
	cfg.budget.max_epochs = EPOCHS;
	replay(&cfg, &images, BATCH, EPOCHS);
}

/* What the trial allocates is what nn_trial_memory_bytes said, in every
 * family, with and without the Hessian work space and the batch order. */
static void test_memory_estimate(void **state)
{
	enum { N = 12 };
	float x[N * 72];
	uint8_t y[N];
	nn_data data = { .x = x, .y = y, .n = N, .shape = tiny_shape };

	(void)state;
	tiny_images(17, N, x, y);
	for (int f = 0; f < EMC_FAMILY_COUNT; f++)
		for (int v = 0; v < 2; v++) {
			emc_cell_cfg cfg;
			nn_trial_result res;
			int64_t want;

			emc_cell_cfg_defaults(&cfg);
			cfg.model = tiny_model((emc_family)f, EMC_ACT_RELU);
			cfg.optim.name = v ? EMC_OPT_ADAM : EMC_OPT_SGD;
			cfg.optim.batch = v ? 5 : 0;
			cfg.budget.max_epochs = 1;
			cfg.budget.hessian = v == 1;
			want = nn_trial_memory_bytes(&cfg, &data.shape, N);
			assert_true(want > 0);
			assert_int_equal(nn_train(&cfg, &data, NULL, &res, NULL), 0);
			if (res.memory_bytes != want)
				fail_msg("%s: allocated %lld, estimated %lld", emc_family_name(f),
					 (long long)res.memory_bytes, (long long)want);
			assert_int_equal(res.r.has_hessian, v == 1);
		}
	/* the estimate grows with the work space the options add */
	{
		emc_cell_cfg cfg;
		int64_t plain, with_hessian;

		emc_cell_cfg_defaults(&cfg);
		cfg.model = tiny_model(EMC_FAMILY_MLP, EMC_ACT_RELU);
		plain = nn_trial_memory_bytes(&cfg, &data.shape, N);
		cfg.budget.hessian = true;
		with_hessian = nn_trial_memory_bytes(&cfg, &data.shape, N);
		assert_true(with_hessian > plain);
		cfg.model.family = (emc_family)99;
		assert_int_equal(nn_trial_memory_bytes(&cfg, &data.shape, N), -EINVAL);
	}
}

static void test_memory_limit(void **state)
{
	enum { N = 12 };
	float x[N * 72];
	uint8_t y[N];
	nn_data data = { .x = x, .y = y, .n = N, .shape = tiny_shape };
	emc_cell_cfg cfg;
	nn_trial_result res = { .r.params = -7 };
	nn_hooks hooks = { 0 };
	emc_err err = { { 0 } };
	int64_t need;
	char want[64];

	(void)state;
	tiny_images(18, N, x, y);
	emc_cell_cfg_defaults(&cfg);
	cfg.model = tiny_model(EMC_FAMILY_CNN, EMC_ACT_RELU);
	cfg.budget.max_epochs = 1;
	need = nn_trial_memory_bytes(&cfg, &data.shape, N);
	hooks.memory_limit_bytes = need - 1;
	assert_int_equal(nn_train(&cfg, &data, &hooks, &res, &err), -ENOMEM);
	/* the message names the need and the limit; the result is untouched */
	snprintf(want, sizeof want, "%lld bytes", (long long)need);
	assert_contains(err.msg, want);
	snprintf(want, sizeof want, "limit is");
	assert_contains(err.msg, want);
	snprintf(want, sizeof want, "%lld bytes", (long long)need - 1);
	assert_contains(err.msg, want);
	assert_int_equal(res.r.params, -7);
	hooks.memory_limit_bytes = need;
	assert_int_equal(nn_train(&cfg, &data, &hooks, &res, &err), 0);
	assert_int_equal(res.memory_bytes, need);
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
	assert_int_equal(res.r.outcome, EMC_OUTCOME_CANCELLED);
	assert_int_equal(res.r.reason, EMC_STOP_CANCELLED);
	/* The flag rose at the first evaluation (after epoch 1); the next step saw it. */
	assert_int_equal(res.r.epochs, 1);
	assert_int_equal(res.r.steps, 4);
	assert_int_equal(res.r.sample_grads, 4 * 5); /* the cancelled step did not run */
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
	assert_int_equal(res.r.outcome, EMC_OUTCOME_NO_FIT);
	assert_int_equal(res.r.reason, EMC_STOP_BUDGET);
	assert_int_equal(res.r.steps, 7);
	assert_int_equal(res.r.epochs, 1); /* stopped inside the second epoch */
	assert_float_near(res.r.budget_used, 1.0, 1e-12);
	assert_int_equal(progress_calls, 2); /* after epoch 1, and at the stop */

	/* An epoch budget with evaluations every 3 epochs. */
	cfg.budget.max_steps = 0;
	cfg.budget.max_epochs = 10;
	cfg.budget.eval_every = 3;
	progress_calls = 0;
	assert_int_equal(nn_train(&cfg, &data, &hooks, &res, NULL), 0);
	assert_int_equal(res.r.reason, EMC_STOP_BUDGET);
	assert_int_equal(res.r.epochs, 10);
	assert_int_equal(res.r.steps, 50);
	assert_float_near(res.r.budget_used, 1.0, 1e-12);
	assert_int_equal(progress_calls, 4); /* epochs 3, 6, 9 and 10 */
}

/* Compute: sample_grads sums the rows of every optimizer step's batch,
 * worked out by hand. n = 10, batch 4: an epoch is steps of 4, 4 and 2. */
static void test_sample_grads(void **state)
{
	enum { N = 10, D = 3 };
	float x[N * D];
	uint8_t y[N];
	nn_data data = { .x = x, .y = y, .n = N, .shape = { 1, 1, D, 2 } };
	emc_cell_cfg cfg;
	nn_trial_result res;

	(void)state;
	unfittable(x, y, N, D);
	base_cfg(&cfg, EMC_FAMILY_MLP, 4);
	cfg.optim.batch = 4;
	cfg.budget.max_epochs = 3;
	cfg.budget.plateau_epochs = 0;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, NULL), 0);
	assert_int_equal(res.r.steps, 9);
	assert_int_equal(res.r.sample_grads, (4 + 4 + 2) * 3);

	/* A budget in steps ends inside the second epoch: 4 + 4 + 2, then 4. */
	cfg.budget.max_epochs = 0;
	cfg.budget.max_steps = 4;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, NULL), 0);
	assert_int_equal(res.r.reason, EMC_STOP_BUDGET);
	assert_int_equal(res.r.sample_grads, 4 + 4 + 2 + 4);

	/* Full batch, by batch 0 and by gd: n rows per step. */
	cfg.budget.max_steps = 0;
	cfg.budget.max_epochs = 3;
	cfg.optim.batch = 0;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, NULL), 0);
	assert_int_equal(res.r.steps, 3);
	assert_int_equal(res.r.sample_grads, 3 * N);
	cfg.optim.name = EMC_OPT_GD;
	cfg.optim.batch = 4;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, NULL), 0);
	assert_int_equal(res.r.sample_grads, 3 * N);

	/* A fit stops the count where training stopped, well inside the budget. */
	make_clusters(5, N, D, 2, 0.1, x, y);
	base_cfg(&cfg, EMC_FAMILY_MLP, 8);
	cfg.optim.name = EMC_OPT_ADAM;
	cfg.optim.lr = 0.01;
	cfg.optim.batch = 4;
	cfg.budget.max_epochs = 1000;
	cfg.budget.plateau_epochs = 0;
	assert_int_equal(nn_train(&cfg, &data, NULL, &res, NULL), 0);
	assert_int_equal(res.r.outcome, EMC_OUTCOME_FIT);
	assert_true(res.r.epochs >= 1 && res.r.epochs < 1000);
	assert_int_equal(res.r.sample_grads, res.r.epochs * N);
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
	bad.model.family = (emc_family)99;
	assert_int_equal(nn_train(&bad, &data, NULL, &res, &err), -EINVAL);
	assert_contains(err.msg, "model.family");

	/* a 1x2 input cannot be pooled, nor cut into 2x2 patches */
	bad = cfg;
	bad.model = tiny_model(EMC_FAMILY_CNN, EMC_ACT_RELU);
	assert_int_equal(nn_train(&bad, &data, NULL, &res, &err), -EINVAL);
	assert_contains(err.msg, "model.layers");
	bad.model = tiny_model(EMC_FAMILY_VIT, EMC_ACT_RELU);
	assert_int_equal(nn_train(&bad, &data, NULL, &res, &err), -EINVAL);
	assert_contains(err.msg, "model.patch");
	bad.model.patch = 1;
	bad.model.heads = 3;
	assert_int_equal(nn_train(&bad, &data, NULL, &res, &err), -EINVAL);
	assert_contains(err.msg, "model.heads");
	bad.model = tiny_model(EMC_FAMILY_RESNET, EMC_ACT_RELU);
	bad.model.widths[1] = 0;
	assert_int_equal(nn_train(&bad, &data, NULL, &res, &err), -EINVAL);
	assert_contains(err.msg, "model.widths[1]");

	/* cosine needs a budget with a last step */
	bad = cfg;
	bad.optim.schedule = EMC_SCHEDULE_COSINE;
	bad.budget.max_epochs = 0;
	bad.budget.max_seconds = 5.0;
	assert_int_equal(nn_train(&bad, &data, NULL, &res, &err), -EINVAL);
	assert_contains(err.msg, "optimizer.schedule");

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
		cmocka_unit_test(test_conv_matches_direct),
		cmocka_unit_test(test_conv_grad),
		cmocka_unit_test(test_pool_grad),
		cmocka_unit_test(test_norm_grad),
		cmocka_unit_test(test_bn_running_stats),
		cmocka_unit_test(test_attn_grad),
		cmocka_unit_test(test_add_grad),
		cmocka_unit_test(test_mlp_grad),
		cmocka_unit_test(test_cnn_grad),
		cmocka_unit_test(test_resnet_grad),
		cmocka_unit_test(test_vit_grad),
		cmocka_unit_test(test_chunked_pass),
		cmocka_unit_test(test_ghost_batch_norm),
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_param_count),
		cmocka_unit_test(test_optim_sgd),
		cmocka_unit_test(test_optim_momentum),
		cmocka_unit_test(test_optim_nesterov),
		cmocka_unit_test(test_optim_weight_decay),
		cmocka_unit_test(test_optim_adam),
		cmocka_unit_test(test_optim_adamw),
		cmocka_unit_test(test_optim_invalid),
		cmocka_unit_test(test_optim_set_lr),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_lanczos_quadratic),
		cmocka_unit_test(test_hessian_certificate),
		cmocka_unit_test(test_hessian_matches_full),
		cmocka_unit_test(test_hessian_closed_form),
		cmocka_unit_test(test_fit_separable),
		cmocka_unit_test(test_fit_memorise),
		cmocka_unit_test(test_fit_gd_chunked),
		cmocka_unit_test(test_nonseparable),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_memory_estimate),
		cmocka_unit_test(test_memory_limit),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_budget_steps),
		cmocka_unit_test(test_sample_grads),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
