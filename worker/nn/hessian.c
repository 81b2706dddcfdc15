/* hessian.c — Lanczos on Hessian-vector products: the end-point certificate.
 *
 * Forming the Hessian of a network is out of the question (n_params²), but
 * its product with a vector costs two gradient passes, and a few dozen
 * such products give its extreme eigenvalues: Lanczos builds an orthonormal
 * basis of the Krylov space {v, Hv, H²v, ...} in which H is tridiagonal,
 * and the extreme eigenvalues of that small matrix converge first to H's.
 *
 * Full reorthogonalisation (Gram–Schmidt against every earlier basis
 * vector, done twice, "twice is enough") keeps the basis orthogonal in
 * finite precision, so no ghost copies of converged eigenvalues appear; at
 * k = 40 it costs k vectors of memory, which the trial's estimate counts.
 * The basis is stored in float (half the memory) and every dot product
 * and update runs in double; each stored vector is what the recurrence
 * then uses, so the rounding only perturbs the start of each step.
 *
 * The tridiagonal eigenproblem is LAPACK's dstev (OpenBLAS carries LAPACK;
 * its Fortran entry point is called directly, as no LAPACKE header is
 * needed for one routine).
 *
 * Hessian-vector products are central differences of gradients, whose
 * error is O(ε²) against the O(1e-7/ε) of float gradients; ε scales with
 * ‖θ‖ so the perturbation stays well above float resolution of the weights.
 * The gradients are full-batch and in evaluation mode, so the function
 * differentiated is the one the fit test judges, and batch norm's running
 * statistics do not move.
 */
#include "hessian.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "rng.h"

/* LAPACK: eigenvalues (jobz = 'N') of the symmetric tridiagonal matrix
 * with diagonal d (n) and off-diagonal e (n − 1); d receives them in
 * ascending order. The trailing argument is gfortran's hidden length of
 * jobz. */
extern void dstev_(const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz, double *work,
		   int *info, size_t jobz_len);

#define NN_STREAM_HESSIAN 0x6e6e5f68657373ULL /* "nn_hess" */

static size_t stride(size_t n)
{
	return (n + 15) / 16 * 16;
}

size_t nn_lanczos_work_bytes(size_t n, int k)
{
	/* basis q_0..q_{k−1} (float), then v and w (double) */
	return (size_t)k * stride(n) * sizeof(float) + 2 * stride(n) * sizeof(double);
}

static double dot_fd(const float *a, const double *b, size_t n)
{
	double s = 0.0;

	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

int nn_lanczos(size_t n, int k, nn_matvec_fn av, void *ctx, uint64_t seed, void *work, double *ret_min,
	       double *ret_max)
{
	double *v = work, *w = v + stride(n);                 /* (n) each */
	float *q = (float *)(w + stride(n));                  /* (k, n) the basis */
	double alpha[NN_LANCZOS_K], beta[NN_LANCZOS_K], scale = 0.0, norm = 0.0, dummy = 0.0;
	int m = 0, one = 1, info = 0;
	emc_rng rng;

	if (k < 1 || k > NN_LANCZOS_K || (size_t)k > n)
		return -EINVAL;
	emc_rng_seed(&rng, seed, NN_STREAM_HESSIAN);
	for (size_t i = 0; i < n; i++) {
		v[i] = emc_rng_normal(&rng);
		norm += v[i] * v[i];
	}
	norm = sqrt(norm);
	for (size_t i = 0; i < n; i++)
		q[i] = (float)(v[i] / norm);

	for (int j = 0; j < k; j++) {
		float *qj = q + (size_t)j * stride(n);

		for (size_t i = 0; i < n; i++)
			v[i] = qj[i];
		av(ctx, v, w);
		alpha[j] = dot_fd(qj, w, n);
		if (!isfinite(alpha[j]))
			return -EDOM;
		m = j + 1;
		scale = fmax(scale, fabs(alpha[j]));
		/* w ← w − α_j q_j − β_{j−1} q_{j−1}, then against every q_i, twice */
		for (size_t i = 0; i < n; i++)
			w[i] -= alpha[j] * qj[i];
		if (j > 0)
			for (size_t i = 0; i < n; i++)
				w[i] -= beta[j - 1] * q[(size_t)(j - 1) * stride(n) + i];
		for (int pass = 0; pass < 2; pass++)
			for (int i = 0; i <= j; i++) {
				const float *qi = q + (size_t)i * stride(n);
				double c = dot_fd(qi, w, n);

				for (size_t t = 0; t < n; t++)
					w[t] -= c * qi[t];
			}
		norm = 0.0;
		for (size_t i = 0; i < n; i++)
			norm += w[i] * w[i];
		beta[j] = sqrt(norm);
		if (!isfinite(beta[j]))
			return -EDOM;
		/* an invariant subspace: the eigenvalues found are exact */
		if (j == k - 1 || beta[j] <= 1e-10 * fmax(scale, 1e-300))
			break;
		scale = fmax(scale, beta[j]);
		for (size_t i = 0; i < n; i++)
			q[(size_t)(j + 1) * stride(n) + i] = (float)(w[i] / beta[j]);
	}
	dstev_("N", &m, alpha, beta, &dummy, &one, &dummy, &info, 1);
	if (info != 0)
		return -EIO;
	*ret_min = alpha[0];
	*ret_max = alpha[m - 1];
	return 0;
}

size_t nn_hessian_work_bytes(size_t n_params)
{
	int k = n_params < NN_LANCZOS_K ? (int)n_params : NN_LANCZOS_K;

	/* Lanczos' own, then θ0 and ∇L(θ + εv) (float) */
	return nn_lanczos_work_bytes(n_params, k) + 2 * stride(n_params) * sizeof(float);
}

typedef struct hvp {
	nn_model *m;
	const float *x;
	const uint8_t *y;
	int64_t n;
	double l2, theta_norm;
	float *theta0; /* (n_params) the end point */
	float *gplus;  /* (n_params) */
} hvp;

static void hvp_apply(void *ctx, const double *v, double *ret_av)
{
	hvp *h = ctx;
	nn_model *m = h->m;
	const size_t P = m->n_params;
	double vn = 0.0, eps;
	nn_pass pass;

	for (size_t i = 0; i < P; i++)
		vn += v[i] * v[i];
	eps = 1e-3 * (1.0 + h->theta_norm) / sqrt(vn);
	for (size_t i = 0; i < P; i++)
		m->params[i] = (float)(h->theta0[i] + eps * v[i]);
	nn_model_pass(m, h->x, h->y, NULL, h->n, NN_MODE_EVAL, true, &pass);
	memcpy(h->gplus, pass.grad, P * sizeof *h->gplus);
	for (size_t i = 0; i < P; i++)
		m->params[i] = (float)(h->theta0[i] - eps * v[i]);
	nn_model_pass(m, h->x, h->y, NULL, h->n, NN_MODE_EVAL, true, &pass);
	/* H v = (∇L(θ + εv) − ∇L(θ − εv)) / 2ε, plus the L2 term's l2 · v */
	for (size_t i = 0; i < P; i++)
		ret_av[i] = ((double)h->gplus[i] - (double)pass.grad[i]) / (2.0 * eps) + h->l2 * v[i];
	memcpy(m->params, h->theta0, P * sizeof *m->params);
}

/* The product's state at the model's current point, its float buffers
 * after Lanczos' share of work. */
static void hvp_init(hvp *h, nn_model *m, const float *x, const uint8_t *y, int64_t n, double l2, void *work, int k)
{
	const size_t P = m->n_params;
	double sq = 0.0;

	*h = (hvp){ .m = m, .x = x, .y = y, .n = n, .l2 = l2 };
	h->theta0 = (float *)((char *)work + nn_lanczos_work_bytes(P, k));
	h->gplus = h->theta0 + stride(P);
	memcpy(h->theta0, m->params, P * sizeof *h->theta0);
	for (size_t i = 0; i < P; i++)
		sq += (double)m->params[i] * m->params[i];
	h->theta_norm = sqrt(sq);
}

int nn_hessian_extremes(nn_model *m, const float *x, const uint8_t *y, int64_t n, double l2, uint64_t seed,
			void *work, double *ret_min, double *ret_max)
{
	const size_t P = m->n_params;
	int k = P < NN_LANCZOS_K ? (int)P : NN_LANCZOS_K;
	hvp h;

	hvp_init(&h, m, x, y, n, l2, work, k);
	return nn_lanczos(P, k, hvp_apply, &h, seed, work, ret_min, ret_max);
}

int nn_hessian_vector(nn_model *m, const float *x, const uint8_t *y, int64_t n, double l2, const double *v,
		      void *work, double *ret_hv)
{
	const size_t P = m->n_params;
	int k = P < NN_LANCZOS_K ? (int)P : NN_LANCZOS_K;
	double vn = 0.0;
	hvp h;

	for (size_t i = 0; i < P; i++)
		vn += v[i] * v[i];
	if (!(vn > 0.0) || !isfinite(vn))
		return -EINVAL;
	hvp_init(&h, m, x, y, n, l2, work, k);
	hvp_apply(&h, v, ret_hv);
	return 0;
}
