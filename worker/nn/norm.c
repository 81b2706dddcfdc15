/* norm.c — batch norm and layer norm, forward and backward.
 *
 * Batch norm normalises each channel over the rows of a chunk (B·H·W rows
 * of an NHWC map), layer norm each row over its features. Both follow
 * PyTorch exactly: biased variance inside the normalisation, eps 1e-5,
 * affine weight and bias; batch norm's running statistics move by momentum
 * 0.1 with the unbiased variance, and evaluation uses them instead of the
 * chunk's.
 *
 * Statistics are summed in double (a chunk can hold half a million rows of
 * one channel) by two passes — mean first, then squared deviations — which
 * is exact enough that the finite-difference tests see no difference from a
 * textbook formula. The backward reuses the forward's mean and 1/σ instead
 * of keeping the normalised values: a whole extra copy of the activations
 * for two multiplies a value.
 *
 * Batch statistics are those of the rows passed in. The model passes one
 * chunk at a time, so a batch larger than a chunk is normalised per chunk
 * ("ghost" batch norm); model.c explains the choice.
 */
#include "layers.h"

#include <math.h>
#include <string.h>

void nn_bn_forward(float *y, const float *x, const float *gamma, const float *beta, float *run_mean, float *run_var,
		   float *mean, float *rstd, int M, int c, bool train, double *acc)
{
	if (train) {
		double *sum = acc, *ss = acc + c;

		memset(acc, 0, 2 * (size_t)c * sizeof *acc);
		for (size_t r = 0; r < (size_t)M; r++)
			for (int k = 0; k < c; k++)
				sum[k] += x[r * c + k];
		for (int k = 0; k < c; k++)
			mean[k] = (float)(sum[k] / M);
		for (size_t r = 0; r < (size_t)M; r++)
			for (int k = 0; k < c; k++) {
				double d = (double)x[r * c + k] - mean[k];

				ss[k] += d * d;
			}
		for (int k = 0; k < c; k++) {
			double var = ss[k] / M;
			double unbiased = M > 1 ? ss[k] / (M - 1) : var;

			rstd[k] = (float)(1.0 / sqrt(var + NN_NORM_EPS));
			run_mean[k] = (1.0f - NN_BN_MOMENTUM) * run_mean[k] + NN_BN_MOMENTUM * mean[k];
			run_var[k] = (1.0f - NN_BN_MOMENTUM) * run_var[k] + NN_BN_MOMENTUM * (float)unbiased;
		}
	} else {
		for (int k = 0; k < c; k++) {
			mean[k] = run_mean[k];
			rstd[k] = (float)(1.0 / sqrt((double)run_var[k] + NN_NORM_EPS));
		}
	}
	for (size_t r = 0; r < (size_t)M; r++)
		for (int k = 0; k < c; k++)
			y[r * c + k] = (x[r * c + k] - mean[k]) * rstd[k] * gamma[k] + beta[k];
}

void nn_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *gamma,
		    const float *mean, const float *rstd, int M, int c, bool train, double *acc)
{
	double *gb = acc, *gg = acc + c;

	/* dβ = Σ dy, dγ = Σ dy · x̂ with x̂ = (x − μ)/σ */
	memset(acc, 0, 2 * (size_t)c * sizeof *acc);
	for (size_t r = 0; r < (size_t)M; r++)
		for (int k = 0; k < c; k++) {
			float g = dy[r * c + k];

			gb[k] += g;
			gg[k] += (double)g * ((x[r * c + k] - mean[k]) * rstd[k]);
		}
	for (int k = 0; k < c; k++) {
		dbeta[k] = (float)gb[k];
		dgamma[k] = (float)gg[k];
	}
	if (!dx)
		return;
	if (!train) {
		/* fixed statistics: an affine map per channel */
		for (size_t r = 0; r < (size_t)M; r++)
			for (int k = 0; k < c; k++)
				dx[r * c + k] = gamma[k] * rstd[k] * dy[r * c + k];
		return;
	}
	/* dx = γ/σ · (dy − dβ/M − x̂ · dγ/M): the mean and variance depend on x too */
	for (size_t r = 0; r < (size_t)M; r++)
		for (int k = 0; k < c; k++) {
			float xh = (x[r * c + k] - mean[k]) * rstd[k];

			dx[r * c + k] = gamma[k] * rstd[k] *
					(dy[r * c + k] - (float)(gb[k] / M) - xh * (float)(gg[k] / M));
		}
}

void nn_ln_forward(float *y, const float *x, const float *gamma, const float *beta, float *mean, float *rstd, int M,
		   int d)
{
	for (size_t r = 0; r < (size_t)M; r++) {
		const float *xr = x + r * d;
		float *yr = y + r * d;
		double sum = 0.0, ss = 0.0;
		float mu, rs;

		for (int k = 0; k < d; k++)
			sum += xr[k];
		mu = (float)(sum / d);
		for (int k = 0; k < d; k++)
			ss += ((double)xr[k] - mu) * ((double)xr[k] - mu);
		rs = (float)(1.0 / sqrt(ss / d + NN_NORM_EPS));
		mean[r] = mu;
		rstd[r] = rs;
		for (int k = 0; k < d; k++)
			yr[k] = (xr[k] - mu) * rs * gamma[k] + beta[k];
	}
}

void nn_ln_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *gamma,
		    const float *mean, const float *rstd, int M, int d)
{
	memset(dgamma, 0, (size_t)d * sizeof *dgamma);
	memset(dbeta, 0, (size_t)d * sizeof *dbeta);
	for (size_t r = 0; r < (size_t)M; r++) {
		const float *xr = x + r * d, *gr = dy + r * d;
		const float mu = mean[r], rs = rstd[r];
		double mg = 0.0, mgx = 0.0;

		for (int k = 0; k < d; k++) {
			float xh = (xr[k] - mu) * rs, g = gr[k] * gamma[k];

			dgamma[k] += gr[k] * xh;
			dbeta[k] += gr[k];
			mg += g;
			mgx += (double)g * xh;
		}
		if (!dx)
			continue;
		mg /= d;
		mgx /= d;
		/* dx = (g − mean(g) − x̂ · mean(g x̂)) / σ with g = dy ⊙ γ */
		for (int k = 0; k < d; k++) {
			float xh = (xr[k] - mu) * rs;

			dx[r * d + k] = rs * (gr[k] * gamma[k] - (float)mg - xh * (float)mgx);
		}
	}
}
