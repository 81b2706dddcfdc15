/* attention.c — the core of multi-head self-attention, forward and backward.
 *
 * The projections around it (qkv in, output out) are ordinary dense layers;
 * this file is only softmax(Q·K^T/√dh)·V per sample and head. Q, K and V
 * are read in place from the qkv rows with a leading dimension of 3d, and
 * each head writes its slice of the output rows, so nothing is transposed
 * or copied. The attention matrix P of every sample and head is kept for
 * the backward (N² floats each: tokens are few — 16 for 7×7 patches of a
 * 28×28 image — so this is small next to the activations).
 *
 * Backward, per sample and head, with S the scaled scores:
 *   dV = P^T · dY,  dP = dY · V^T,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),
 *   dQ = dS · K / √dh,  dK = dS^T · Q / √dh.
 * The products are small (N × dh), but they are products, so they go to
 * cblas_sgemm like every other.
 */
#include "layers.h"

#include <cblas.h>
#include <math.h>

void nn_attn_forward(float *y, const float *qkv, float *probs, int B, int N, int d, int heads)
{
	const int dh = d / heads, ld = 3 * d;
	const float scale = (float)(1.0 / sqrt((double)dh));

	for (int b = 0; b < B; b++)
		for (int h = 0; h < heads; h++) {
			const float *q = qkv + (size_t)b * N * ld + (size_t)h * dh; /* (N, dh), ld 3d */
			const float *k = q + d, *v = q + 2 * d;
			float *p = probs + ((size_t)b * heads + h) * N * N; /* (N, N) */
			float *yh = y + (size_t)b * N * d + (size_t)h * dh; /* (N, dh), ld d */

			/* S (N, N) = Q (N, dh) · K^T (dh, N) / √dh */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, dh, scale, q, ld, k, ld, 0.0f, p, N);
			for (int i = 0; i < N; i++) {
				float *row = p + (size_t)i * N, max = row[0], sum = 0.0f;

				for (int j = 1; j < N; j++)
					max = row[j] > max ? row[j] : max;
				for (int j = 0; j < N; j++) {
					row[j] = expf(row[j] - max);
					sum += row[j];
				}
				for (int j = 0; j < N; j++)
					row[j] /= sum;
			}
			/* Y_h (N, dh) = P (N, N) · V (N, dh) */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, dh, N, 1.0f, p, N, v, ld, 0.0f, yh,
				    d);
		}
}

void nn_attn_backward(float *dqkv, const float *dy, const float *qkv, const float *probs, int B, int N, int d,
		      int heads, float *scratch)
{
	const int dh = d / heads, ld = 3 * d;
	const float scale = (float)(1.0 / sqrt((double)dh));
	float *ds = scratch; /* (N, N) */

	for (int b = 0; b < B; b++)
		for (int h = 0; h < heads; h++) {
			size_t off = (size_t)b * N * ld + (size_t)h * dh;
			const float *q = qkv + off, *k = q + d, *v = q + 2 * d; /* (N, dh), ld 3d */
			float *dq = dqkv + off, *dk = dq + d, *dv = dq + 2 * d; /* (N, dh), ld 3d */
			const float *p = probs + ((size_t)b * heads + h) * N * N;
			const float *dyh = dy + (size_t)b * N * d + (size_t)h * dh; /* (N, dh), ld d */

			/* dV (N, dh) = P^T (N, N) · dY_h (N, dh) */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, dh, N, 1.0f, p, N, dyh, d, 0.0f, dv,
				    ld);
			/* dP (N, N) = dY_h (N, dh) · V^T (dh, N) */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, dh, 1.0f, dyh, d, v, ld, 0.0f, ds,
				    N);
			/* dS = P ⊙ (dP − rowsum(dP ⊙ P)), the softmax's Jacobian */
			for (int i = 0; i < N; i++) {
				const float *pr = p + (size_t)i * N;
				float *dr = ds + (size_t)i * N, dot = 0.0f;

				for (int j = 0; j < N; j++)
					dot += dr[j] * pr[j];
				for (int j = 0; j < N; j++)
					dr[j] = pr[j] * (dr[j] - dot);
			}
			/* dQ (N, dh) = dS (N, N) · K (N, dh) / √dh */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, dh, N, scale, ds, N, k, ld, 0.0f, dq,
				    ld);
			/* dK (N, dh) = dS^T (N, N) · Q (N, dh) / √dh */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, dh, N, scale, ds, N, q, ld, 0.0f, dk,
				    ld);
		}
}
