/* layers.c — dense layers, activations, the loss, pooling and additions.
 *
 * The workload is many small steps: EMC campaigns train networks such as
 * 784-8-10 for tens of thousands of epochs, where one step is a few
 * microseconds of GEMM. So every matrix product goes to cblas_sgemm (which
 * is fast at any size on these machines), and the rest are plain loops over
 * contiguous rows that the compiler vectorises. Where a pass over a buffer
 * can be saved it is: the bias is broadcast into the output before the
 * GEMM adds onto it, and the activation runs right after the GEMM of the
 * same layer, so a hidden layer's output is written once and never holds a
 * pre-activation copy. Nothing here allocates.
 *
 * Invariants: shapes are the caller's promise (checked once when a model is
 * planned); gradients are overwritten, never accumulated (see layers.h).
 */
#include "layers.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---- dense ---- */

/* One activation over a row after adding the bias; the switch is outside
 * the loops so each case vectorises. */
#define BIAS_ACT_LOOP(expr)                                             \
	for (size_t r = 0; r < rows; r++) {                             \
		float *yr = y + r * (size_t)cols;                       \
		for (int j = 0; j < cols; j++) {                        \
			float v = yr[j] + (b ? b[j] : 0.0f);            \
			yr[j] = (expr);                                 \
		}                                                       \
	}

void nn_bias_act_forward(float *y, const float *b, size_t rows, int cols, emc_activation act)
{
	switch (act) {
	case EMC_ACT_RELU:
		BIAS_ACT_LOOP(v > 0.0f ? v : 0.0f);
		break;
	case EMC_ACT_LEAKY_RELU:
		BIAS_ACT_LOOP(v > 0.0f ? v : NN_LEAKY_SLOPE * v);
		break;
	case EMC_ACT_LINEAR:
		if (b)
			BIAS_ACT_LOOP(v);
		break;
	default:
		/* the transcendental ones cost more than the extra pass */
		if (b)
			BIAS_ACT_LOOP(v);
		nn_act_forward(y, y, rows * (size_t)cols, act);
	}
}
#undef BIAS_ACT_LOOP

void nn_dense_forward(float *y, const float *x, const float *w, const float *b, int B, int in, int out,
		      emc_activation act)
{
	/* Y (B, out) = X (B, in) · W^T (in, out) */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
	/* then bias and activation in one pass over Y */
	nn_bias_act_forward(y, b, (size_t)B, out, act);
}

void nn_dense_backward(float *dx, float *dw, float *db, float *dy, const float *x, const float *w, const float *y,
		       int B, int in, int out, emc_activation act)
{
	assert(nn_act_from_output(act));
	/* dZ = dY ⊙ f'(Z), from the output Y = f(Z), in place */
	if (act != EMC_ACT_LINEAR)
		nn_act_backward(dy, dy, y, y, (size_t)B * (size_t)out, act);
	/* dW (out, in) = dZ^T (out, B) · X (B, in) */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, B, 1.0f, dy, out, x, in, 0.0f, dw, in);
	/* db (out) = sum over rows of dZ (B, out) */
	memset(db, 0, (size_t)out * sizeof *db);
	for (int r = 0; r < B; r++) {
		const float *row = dy + (size_t)r * out;

		for (int j = 0; j < out; j++)
			db[j] += row[j];
	}
	/* dX (B, in) = dZ (B, out) · W (out, in) */
	if (dx)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in, out, 1.0f, dy, out, w, in, 0.0f, dx,
			    in);
}

/* ---- activations ---- */

static inline float sigmoidf(float x)
{
	/* Two branches so exp never overflows: for x < 0 use e^x / (1 + e^x). */
	if (x >= 0.0f)
		return 1.0f / (1.0f + expf(-x));
	float e = expf(x);
	return e / (1.0f + e);
}

void nn_act_forward(float *y, const float *x, size_t n, emc_activation act)
{
	switch (act) {
	case EMC_ACT_RELU:
		for (size_t i = 0; i < n; i++) {
			float v = x[i];

			y[i] = v > 0.0f ? v : 0.0f;
		}
		break;
	case EMC_ACT_LEAKY_RELU:
		for (size_t i = 0; i < n; i++) {
			float v = x[i];

			y[i] = v > 0.0f ? v : NN_LEAKY_SLOPE * v;
		}
		break;
	case EMC_ACT_GELU:
		/* exact: x Φ(x) = x/2 (1 + erf(x/√2)) */
		for (size_t i = 0; i < n; i++)
			y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
		break;
	case EMC_ACT_TANH:
		for (size_t i = 0; i < n; i++)
			y[i] = tanhf(x[i]);
		break;
	case EMC_ACT_SIGMOID:
		for (size_t i = 0; i < n; i++)
			y[i] = sigmoidf(x[i]);
		break;
	case EMC_ACT_LINEAR:
		if (y != x)
			memcpy(y, x, n * sizeof *y);
		break;
	default:
		assert(!"unknown activation");
	}
}

bool nn_act_from_output(emc_activation act)
{
	/* relu and leaky relu keep the sign (y > 0 exactly when x > 0); tanh
	 * and sigmoid have derivatives written in y; gelu is not monotone, so
	 * its x cannot be told from its y. */
	return act != EMC_ACT_GELU;
}

void nn_act_backward(float *dx, const float *dy, const float *x, const float *y, size_t n, emc_activation act)
{
	/* Each derivative is taken from whichever of x, y gives it most
	 * cheaply; for all but gelu that is y or the sign of x (= that of y),
	 * so an in-place forward (x == y) loses nothing. */
	switch (act) {
	/* (dy is loaded unconditionally: a load under a condition is one the
	 * vectoriser may not hoist, and the branch on random signs mispredicts) */
	case EMC_ACT_RELU:
		for (size_t i = 0; i < n; i++) {
			float g = dy[i];

			dx[i] = y[i] > 0.0f ? g : 0.0f;
		}
		break;
	case EMC_ACT_LEAKY_RELU:
		for (size_t i = 0; i < n; i++) {
			float g = dy[i];

			dx[i] = y[i] > 0.0f ? g : NN_LEAKY_SLOPE * g;
		}
		break;
	case EMC_ACT_GELU: {
		/* d/dx x Φ(x) = Φ(x) + x φ(x) */
		const float inv_sqrt_2pi = 0.3989422804014327f;

		for (size_t i = 0; i < n; i++) {
			float cdf = 0.5f * (1.0f + erff(x[i] * (float)M_SQRT1_2));
			float pdf = inv_sqrt_2pi * expf(-0.5f * x[i] * x[i]);
			dx[i] = dy[i] * (cdf + x[i] * pdf);
		}
		break;
	}
	case EMC_ACT_TANH:
		for (size_t i = 0; i < n; i++)
			dx[i] = dy[i] * (1.0f - y[i] * y[i]);
		break;
	case EMC_ACT_SIGMOID:
		for (size_t i = 0; i < n; i++)
			dx[i] = dy[i] * y[i] * (1.0f - y[i]);
		break;
	case EMC_ACT_LINEAR:
		if (dx != dy)
			memcpy(dx, dy, n * sizeof *dx);
		break;
	default:
		assert(!"unknown activation");
	}
}

/* ---- loss ---- */

double nn_xent_forward(float *probs, const float *logits, const uint8_t *labels, int B, int C)
{
	double sum = 0.0;

	for (int r = 0; r < B; r++) {
		const float *z = logits + (size_t)r * C;
		float *p = probs + (size_t)r * C;
		float max = z[0], total = 0.0f;

		for (int j = 1; j < C; j++)
			max = z[j] > max ? z[j] : max;
		for (int j = 0; j < C; j++) {
			p[j] = expf(z[j] - max);
			total += p[j];
		}
		for (int j = 0; j < C; j++)
			p[j] /= total;
		/* -log softmax(z)_y = log Σ exp(z - max) - (z_y - max) */
		assert(labels[r] < C);
		sum += log((double)total) - ((double)z[labels[r]] - (double)max);
	}
	return sum / B;
}

void nn_xent_backward(float *dlogits, const float *probs, const uint8_t *labels, int B, int C, float scale)
{
	for (int r = 0; r < B; r++) {
		const float *p = probs + (size_t)r * C;
		float *d = dlogits + (size_t)r * C;

		for (int j = 0; j < C; j++)
			d[j] = p[j] * scale;
		d[labels[r]] -= scale;
	}
}

int64_t nn_count_correct(const float *logits, const uint8_t *labels, int B, int C)
{
	int64_t correct = 0;

	for (int r = 0; r < B; r++) {
		const float *z = logits + (size_t)r * C;
		float target = z[labels[r]];
		int ok = 1;

		for (int j = 0; j < C && ok; j++)
			if (j != labels[r] && !(target > z[j]))
				ok = 0;
		correct += ok;
	}
	return correct;
}

/* ---- pooling ---- */

/* One output position's c channels: the window's four input rows, the
 * output row. Separate restrict pointers let the loop vectorise. */
static inline void max4(float *restrict o, const float *restrict p00, const float *restrict p01,
			const float *restrict p10, const float *restrict p11, int c)
{
	/* strict > keeps the first maximum in window order */
	for (int k = 0; k < c; k++) {
		float m = p00[k];

		m = p01[k] > m ? p01[k] : m;
		m = p10[k] > m ? p10[k] : m;
		m = p11[k] > m ? p11[k] : m;
		o[k] = m;
	}
}

void nn_maxpool_forward(float *y, const float *x, int B, int h, int w, int c)
{
	const int ho = h / 2, wo = w / 2;

	for (int b = 0; b < B; b++)
		for (int oy = 0; oy < ho; oy++)
			for (int ox = 0; ox < wo; ox++) {
				const float *p00 = x + (((size_t)b * h + 2 * oy) * w + 2 * ox) * c;

				max4(y + (((size_t)b * ho + oy) * wo + ox) * c, p00, p00 + c, p00 + (size_t)w * c,
				     p00 + (size_t)w * c + c, c);
			}
}

/* The gradient g of each channel to the first of the four inputs equal
 * to the maximum m, zero to the others; float selects only, so it
 * vectorises. */
static inline void route4(float *restrict d00, float *restrict d01, float *restrict d10, float *restrict d11,
			  const float *restrict p00, const float *restrict p01, const float *restrict p10,
			  const float *restrict p11, const float *restrict m, const float *restrict g, int c)
{
	for (int k = 0; k < c; k++) {
		float left = g[k];

		d00[k] = p00[k] == m[k] ? left : 0.0f;
		left = p00[k] == m[k] ? 0.0f : left;
		d01[k] = p01[k] == m[k] ? left : 0.0f;
		left = p01[k] == m[k] ? 0.0f : left;
		d10[k] = p10[k] == m[k] ? left : 0.0f;
		left = p10[k] == m[k] ? 0.0f : left;
		d11[k] = left;
	}
}

void nn_maxpool_backward(float *dx, float *dy, const float *x, const float *y, int B, int h, int w, int c,
			 emc_activation act)
{
	const int ho = h / 2, wo = w / 2;
	const size_t row = (size_t)w * c;

	assert(nn_act_from_output(act));
	if (act != EMC_ACT_LINEAR)
		nn_act_backward(dy, dy, y, y, (size_t)B * ho * wo * c, act);
	/* Positions the floor dropped (an odd last row or column) get zero. */
	if (h % 2 || w % 2)
		memset(dx, 0, (size_t)B * h * w * c * sizeof *dx);
	for (int b = 0; b < B; b++)
		for (int oy = 0; oy < ho; oy++)
			for (int ox = 0; ox < wo; ox++) {
				size_t i00 = (((size_t)b * h + 2 * oy) * w + 2 * ox) * c;
				size_t o = (((size_t)b * ho + oy) * wo + ox) * c;

				route4(dx + i00, dx + i00 + c, dx + i00 + row, dx + i00 + row + c, x + i00, x + i00 + c,
				       x + i00 + row, x + i00 + row + c, y + o, dy + o, c);
			}
}

void nn_avgpool_forward(float *y, const float *x, int B, int h, int w, int c)
{
	const int ho = h / 2, wo = w / 2;

	for (int b = 0; b < B; b++)
		for (int oy = 0; oy < ho; oy++)
			for (int ox = 0; ox < wo; ox++) {
				const float *p00 = x + (((size_t)b * h + 2 * oy) * w + 2 * ox) * c;
				const float *p01 = p00 + c, *p10 = p00 + (size_t)w * c, *p11 = p10 + c;
				float *o = y + (((size_t)b * ho + oy) * wo + ox) * c;

				for (int k = 0; k < c; k++)
					o[k] = 0.25f * (p00[k] + p01[k] + p10[k] + p11[k]);
			}
}

void nn_avgpool_backward(float *dx, const float *dy, int B, int h, int w, int c)
{
	const int ho = h / 2, wo = w / 2;

	if (h % 2 || w % 2)
		memset(dx, 0, (size_t)B * h * w * c * sizeof *dx);
	for (int b = 0; b < B; b++)
		for (int oy = 0; oy < ho; oy++)
			for (int ox = 0; ox < wo; ox++) {
				float *p00 = dx + (((size_t)b * h + 2 * oy) * w + 2 * ox) * c;
				float *p01 = p00 + c, *p10 = p00 + (size_t)w * c, *p11 = p10 + c;
				const float *g = dy + (((size_t)b * ho + oy) * wo + ox) * c;

				for (int k = 0; k < c; k++)
					p00[k] = p01[k] = p10[k] = p11[k] = 0.25f * g[k];
			}
}

void nn_gap_forward(float *y, const float *x, int B, int hw, int c)
{
	const float inv = 1.0f / (float)hw;

	for (int b = 0; b < B; b++) {
		const float *xb = x + (size_t)b * hw * c;
		float *yb = y + (size_t)b * c;

		memset(yb, 0, (size_t)c * sizeof *yb);
		for (int p = 0; p < hw; p++)
			for (int k = 0; k < c; k++)
				yb[k] += xb[(size_t)p * c + k];
		for (int k = 0; k < c; k++)
			yb[k] *= inv;
	}
}

void nn_gap_backward(float *dx, const float *dy, int B, int hw, int c)
{
	const float inv = 1.0f / (float)hw;

	for (int b = 0; b < B; b++)
		for (int p = 0; p < hw; p++)
			for (int k = 0; k < c; k++)
				dx[((size_t)b * hw + p) * c + k] = dy[(size_t)b * c + k] * inv;
}

/* ---- additions ---- */

void nn_add_forward(float *y, const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = a[i] + b[i];
}

void nn_add_backward(float *da, float *db, const float *dy, size_t n)
{
	if (da && da != dy)
		memcpy(da, dy, n * sizeof *da);
	if (db && db != dy)
		memcpy(db, dy, n * sizeof *db);
}

void nn_posadd_forward(float *y, const float *x, const float *pos, int B, int n)
{
	for (int b = 0; b < B; b++)
		for (int i = 0; i < n; i++)
			y[(size_t)b * n + i] = x[(size_t)b * n + i] + pos[i];
}

void nn_posadd_backward(float *dx, float *dpos, const float *dy, int B, int n)
{
	memset(dpos, 0, (size_t)n * sizeof *dpos);
	for (int b = 0; b < B; b++)
		for (int i = 0; i < n; i++)
			dpos[i] += dy[(size_t)b * n + i];
	if (dx && dx != dy)
		memcpy(dx, dy, (size_t)B * n * sizeof *dx);
}
