/* conv.c — 2-D convolution by im2col and GEMM, and the direct reference.
 *
 * A convolution is lowered to a matrix product: each output position's
 * receptive field (k × k × cin values) becomes one row of a column matrix,
 * and the whole layer is Y = cols · W^T — one cblas_sgemm, the kernel the
 * machine is fastest at. The lowering copies every input value up to k²
 * times, so it is done for `tile` samples at a time: the column matrix
 * stays small enough to be reused from cache by the GEMM that reads it,
 * and the scratch is bounded whatever the chunk size. The backward lowers
 * the input again (cheaper than keeping the columns of a whole chunk) for
 * dW = dY^T · cols, and scatters dcols = dY · W back with the adjoint,
 * col2im.
 *
 * Layout: activations are NHWC, so a receptive field's row is k runs of
 * k·cin contiguous floats (clipped at the borders) and im2col is mostly
 * memcpy. The weight is (cout, k, k, cin) to match. The network's input
 * arrives CHW; with one channel that is the same thing, with more the
 * first layer gathers element by element (it is the cheapest layer).
 * A 1×1, stride-1, unpadded convolution of NHWC data needs no lowering at
 * all: the input already is its column matrix.
 *
 * The reference (nn_conv_*_ref) is the textbook six-deep loop, accumulating
 * in double; the tests hold the fast path to it.
 */
#include "layers.h"

#include <assert.h>
#include <cblas.h>
#include <string.h>

/* Column floats per tile: 128 Ki floats = 512 KiB, the size of one core's
 * L2 on these machines, so the GEMM rereads its columns from cache. */
#define TILE_FLOATS (128 * 1024)

bool nn_conv_setup(nn_conv *s, int cin, int h, int w, int cout, int k, int stride, int pad, bool chw)
{
	size_t per_sample;

	*s = (nn_conv){ .cin = cin, .h = h, .w = w, .cout = cout, .k = k, .stride = stride, .pad = pad };
	/* one channel: CHW and HWC are the same bytes */
	s->chw = chw && cin > 1;
	if (h + 2 * pad < k || w + 2 * pad < k)
		return false;
	s->ho = (h + 2 * pad - k) / stride + 1;
	s->wo = (w + 2 * pad - k) / stride + 1;
	per_sample = (size_t)s->ho * s->wo * k * k * cin;
	s->tile = per_sample >= TILE_FLOATS ? 1 : (int)(TILE_FLOATS / per_sample);
	return s->ho >= 1 && s->wo >= 1;
}

/* The input already is its own column matrix. */
static bool is_pointwise(const nn_conv *s)
{
	return s->k == 1 && s->stride == 1 && s->pad == 0 && !s->chw;
}

size_t nn_conv_scratch(const nn_conv *s)
{
	if (is_pointwise(s))
		return 0;
	/* cols and dcols for one tile */
	return 2 * (size_t)s->tile * s->ho * s->wo * s->k * s->k * s->cin;
}

static size_t in_size(const nn_conv *s)
{
	return (size_t)s->h * s->w * s->cin;
}

/* Offset of input value (ci, iy, ix) within a sample. */
static inline size_t in_at(const nn_conv *s, int ci, int iy, int ix)
{
	return s->chw ? ((size_t)ci * s->h + iy) * s->w + ix : ((size_t)iy * s->w + ix) * s->cin + ci;
}

/* The columns [kx0, kx1) of kernel row ky that fall inside the image for
 * output column ox; the rest are padding. */
static inline void clip(const nn_conv *s, int ox, int *ret_kx0, int *ret_kx1)
{
	int ix0 = ox * s->stride - s->pad;
	int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = s->w - ix0 < s->k ? s->w - ix0 : s->k;

	*ret_kx0 = kx0;
	*ret_kx1 = kx1 > kx0 ? kx1 : kx0;
}

/* Copies and clears of a few floats are most of im2col for thin inputs
 * (one channel: runs of k floats); a libc call per run would cost more
 * than the run, so short ones are plain loops. */
static inline void copy_run(float *restrict dst, const float *restrict src, size_t n)
{
	if (n >= 32) {
		memcpy(dst, src, n * sizeof *dst);
		return;
	}
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i];
}

static inline void zero_run(float *dst, size_t n)
{
	if (n >= 32) {
		memset(dst, 0, n * sizeof *dst);
		return;
	}
	for (size_t i = 0; i < n; i++)
		dst[i] = 0.0f;
}

void nn_im2col(float *cols, const float *x, int B, const nn_conv *s)
{
	const int k = s->k, cin = s->cin;
	const size_t K = (size_t)k * k * cin, isz = in_size(s);

	for (int b = 0; b < B; b++) {
		const float *xb = x + (size_t)b * isz;

		for (int oy = 0; oy < s->ho; oy++)
			for (int ox = 0; ox < s->wo; ox++) {
				float *row = cols + (((size_t)b * s->ho + oy) * s->wo + ox) * K; /* (K) */
				int kx0, kx1;

				clip(s, ox, &kx0, &kx1);
				for (int ky = 0; ky < k; ky++) {
					int iy = oy * s->stride - s->pad + ky;
					float *dst = row + (size_t)ky * k * cin;

					if (iy < 0 || iy >= s->h || kx0 == kx1) {
						zero_run(dst, (size_t)k * cin);
						continue;
					}
					zero_run(dst, (size_t)kx0 * cin);
					zero_run(dst + (size_t)kx1 * cin, (size_t)(k - kx1) * cin);
					if (!s->chw) {
						/* kx0..kx1 are neighbouring pixels: one run */
						copy_run(dst + (size_t)kx0 * cin,
							 xb + in_at(s, 0, iy, ox * s->stride - s->pad + kx0),
							 (size_t)(kx1 - kx0) * cin);
						continue;
					}
					for (int kx = kx0; kx < kx1; kx++)
						for (int ci = 0; ci < cin; ci++)
							dst[(size_t)kx * cin + ci] =
								xb[in_at(s, ci, iy, ox * s->stride - s->pad + kx)];
				}
			}
	}
}

void nn_col2im(float *dx, const float *dcols, int B, const nn_conv *s)
{
	const int k = s->k, cin = s->cin;
	const size_t K = (size_t)k * k * cin, isz = in_size(s);

	for (int b = 0; b < B; b++) {
		float *xb = dx + (size_t)b * isz;

		for (int oy = 0; oy < s->ho; oy++)
			for (int ox = 0; ox < s->wo; ox++) {
				const float *row = dcols + (((size_t)b * s->ho + oy) * s->wo + ox) * K;
				int kx0, kx1;

				clip(s, ox, &kx0, &kx1);
				for (int ky = 0; ky < k; ky++) {
					int iy = oy * s->stride - s->pad + ky;
					const float *src = row + (size_t)ky * k * cin;

					if (iy < 0 || iy >= s->h)
						continue;
					if (!s->chw) {
						float *d = xb + in_at(s, 0, iy, ox * s->stride - s->pad + kx0);
						size_t run = (size_t)(kx1 - kx0) * cin;

						src += (size_t)kx0 * cin;
						for (size_t i = 0; i < run; i++)
							d[i] += src[i];
						continue;
					}
					for (int kx = kx0; kx < kx1; kx++)
						for (int ci = 0; ci < cin; ci++)
							xb[in_at(s, ci, iy, ox * s->stride - s->pad + kx)] +=
								src[(size_t)kx * cin + ci];
				}
			}
	}
}

void nn_conv_forward(float *y, const float *x, const float *w, const float *b, int B, const nn_conv *s,
		     emc_activation act, float *scratch)
{
	const int K = s->k * s->k * s->cin, P = s->ho * s->wo, cout = s->cout;
	float *cols = scratch; /* (tile·P, K) */

	for (int b0 = 0; b0 < B; b0 += s->tile) {
		int t = B - b0 < s->tile ? B - b0 : s->tile, M = t * P;
		const float *xt = x + (size_t)b0 * in_size(s); /* (t, input) */
		float *yt = y + (size_t)b0 * P * cout;         /* (M, cout) */
		const float *a = xt;

		if (!is_pointwise(s)) {
			nn_im2col(cols, xt, t, s);
			a = cols;
		}
		/* Y (M, cout) = cols (M, K) · W^T (K, cout), then bias and act while
		 * the tile is still in cache */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, cout, K, 1.0f, a, K, w, K, 0.0f, yt, cout);
		nn_bias_act_forward(yt, b, (size_t)M, cout, act);
	}
}

void nn_conv_backward(float *dx, float *dw, float *db, float *dy, const float *x, const float *w, const float *y,
		      int B, const nn_conv *s, emc_activation act, float *scratch)
{
	const int K = s->k * s->k * s->cin, P = s->ho * s->wo, cout = s->cout;
	float *cols = scratch; /* (tile·P, K), then dcols (tile·P, K) */

	assert(nn_act_from_output(act));
	for (int b0 = 0; b0 < B; b0 += s->tile) {
		int t = B - b0 < s->tile ? B - b0 : s->tile, M = t * P;
		const float *xt = x + (size_t)b0 * in_size(s);
		float *dyt = dy + (size_t)b0 * P * cout;                  /* (M, cout) */
		float *dxt = dx ? dx + (size_t)b0 * in_size(s) : NULL;   /* (t, input) */
		float *dcols = is_pointwise(s) ? NULL : cols + (size_t)s->tile * P * K; /* (M, K) */
		const float *a = xt;

		/* dZ = dY ⊙ f'(Z), from the output, in place */
		if (act != EMC_ACT_LINEAR)
			nn_act_backward(dyt, dyt, y + (size_t)b0 * P * cout, y + (size_t)b0 * P * cout,
					(size_t)M * cout, act);
		if (!is_pointwise(s)) {
			nn_im2col(cols, xt, t, s);
			a = cols;
		}
		/* dW (cout, K) (+)= dZ^T (cout, M) · cols (M, K), summed over tiles */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cout, K, M, 1.0f, dyt, cout, a, K,
			    b0 == 0 ? 0.0f : 1.0f, dw, K);
		if (!dxt)
			continue;
		if (!dcols) {
			/* dX (M, cin) = dZ (M, cout) · W (cout, cin) */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, cout, 1.0f, dyt, cout, w, K, 0.0f,
				    dxt, K);
			continue;
		}
		/* dcols (M, K) = dZ (M, cout) · W (cout, K), then scattered back */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, cout, 1.0f, dyt, cout, w, K, 0.0f,
			    dcols, K);
		memset(dxt, 0, (size_t)t * in_size(s) * sizeof *dxt);
		nn_col2im(dxt, dcols, t, s);
	}
	if (db) {
		/* db (cout) = sum over every output position of dZ */
		memset(db, 0, (size_t)cout * sizeof *db);
		for (size_t r = 0; r < (size_t)B * P; r++)
			for (int j = 0; j < cout; j++)
				db[j] += dy[r * cout + j];
	}
}

void nn_conv_forward_ref(float *y, const float *x, const float *w, const float *b, int B, const nn_conv *s)
{
	const int k = s->k, cin = s->cin;

	for (int n = 0; n < B; n++)
		for (int oy = 0; oy < s->ho; oy++)
			for (int ox = 0; ox < s->wo; ox++)
				for (int co = 0; co < s->cout; co++) {
					double acc = b ? b[co] : 0.0;

					for (int ky = 0; ky < k; ky++)
						for (int kx = 0; kx < k; kx++)
							for (int ci = 0; ci < cin; ci++) {
								int iy = oy * s->stride - s->pad + ky;
								int ix = ox * s->stride - s->pad + kx;
								size_t wi = ((size_t)(co * k + ky) * k + kx) * cin + ci;

								if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
									continue;
								acc += (double)w[wi] *
								       x[(size_t)n * in_size(s) + in_at(s, ci, iy, ix)];
							}
					y[(((size_t)n * s->ho + oy) * s->wo + ox) * s->cout + co] = (float)acc;
				}
}

void nn_conv_backward_ref(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int B,
			  const nn_conv *s)
{
	const int k = s->k, cin = s->cin;

	if (dx)
		memset(dx, 0, (size_t)B * in_size(s) * sizeof *dx);
	for (int co = 0; co < s->cout; co++) {
		double gb = 0.0;

		for (int n = 0; n < B; n++)
			for (int oy = 0; oy < s->ho; oy++)
				for (int ox = 0; ox < s->wo; ox++)
					gb += dy[(((size_t)n * s->ho + oy) * s->wo + ox) * s->cout + co];
		if (db)
			db[co] = (float)gb;
		for (int ky = 0; ky < k; ky++)
			for (int kx = 0; kx < k; kx++)
				for (int ci = 0; ci < cin; ci++) {
					size_t wi = ((size_t)(co * k + ky) * k + kx) * cin + ci;
					double gw = 0.0;

					for (int n = 0; n < B; n++)
						for (int oy = 0; oy < s->ho; oy++)
							for (int ox = 0; ox < s->wo; ox++) {
								int iy = oy * s->stride - s->pad + ky;
								int ix = ox * s->stride - s->pad + kx;
								float g = dy[(((size_t)n * s->ho + oy) * s->wo + ox) *
										     s->cout +
									     co];
								size_t xi;

								if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
									continue;
								xi = (size_t)n * in_size(s) + in_at(s, ci, iy, ix);
								gw += (double)g * x[xi];
								if (dx)
									dx[xi] += g * w[wi];
							}
					dw[wi] = (float)gw;
				}
	}
}
