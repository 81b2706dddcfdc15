/* layers.c — forward and backward kernels of the engine's layers.
 *
 * The workload is many small steps: EMC campaigns train networks such as
 * 784-8-10 for tens of thousands of epochs, where one step is a few
 * microseconds of GEMM. So every matrix product goes to cblas_sgemm (which
 * is fast at any size on these machines), and the rest are plain loops over
 * contiguous rows that the compiler vectorises. Nothing here allocates.
 *
 * Invariants: shapes are the caller's promise (checked once when a model is
 * planned); gradients are overwritten, never accumulated (see layers.h).
 */
#include "layers.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <string.h>

void nn_dense_forward(float *y, const float *x, const float *w, const float *b, int B, int in, int out)
{
	/* Broadcast the bias into y, then let the GEMM add the product onto it
	 * (beta = 1): one pass over y instead of two. */
	for (int r = 0; r < B; r++)
		memcpy(y + (size_t)r * out, b, (size_t)out * sizeof *y);
	/* y (B, out) += x (B, in) · W^T (in, out) */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, in, 1.0f, x, in, w, in, 1.0f, y, out);
}

void nn_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int B,
		       int in, int out)
{
	/* dW (out, in) = dY^T (out, B) · X (B, in) */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, B, 1.0f, dy, out, x, in, 0.0f, dw, in);
	/* db (out) = sum over rows of dY (B, out) */
	memset(db, 0, (size_t)out * sizeof *db);
	for (int r = 0; r < B; r++) {
		const float *row = dy + (size_t)r * out;

		for (int j = 0; j < out; j++)
			db[j] += row[j];
	}
	/* dX (B, in) = dY (B, out) · W (out, in) */
	if (dx)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in, out, 1.0f, dy, out, w, in, 0.0f, dx,
			    in);
}

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
		for (size_t i = 0; i < n; i++)
			y[i] = x[i] > 0.0f ? x[i] : 0.0f;
		break;
	case EMC_ACT_LEAKY_RELU:
		for (size_t i = 0; i < n; i++)
			y[i] = x[i] > 0.0f ? x[i] : NN_LEAKY_SLOPE * x[i];
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

void nn_act_backward(float *dx, const float *dy, const float *x, const float *y, size_t n, emc_activation act)
{
	/* Each derivative is taken from whichever of x, y gives it most cheaply. */
	switch (act) {
	case EMC_ACT_RELU:
		for (size_t i = 0; i < n; i++)
			dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
		break;
	case EMC_ACT_LEAKY_RELU:
		for (size_t i = 0; i < n; i++)
			dx[i] = x[i] > 0.0f ? dy[i] : NN_LEAKY_SLOPE * dy[i];
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

void nn_xent_backward(float *dlogits, const float *probs, const uint8_t *labels, int B, int C)
{
	const float inv_b = 1.0f / (float)B;

	for (int r = 0; r < B; r++) {
		const float *p = probs + (size_t)r * C;
		float *d = dlogits + (size_t)r * C;

		for (int j = 0; j < C; j++)
			d[j] = p[j] * inv_b;
		d[labels[r]] -= inv_b;
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
