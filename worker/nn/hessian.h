/* hessian.h — extreme eigenvalues of a symmetric operator by Lanczos, and
 * the minimum-or-saddle certificate of a trained network (internal).
 *
 * The certificate answers "did training stop at a minimum?": at a minimum
 * of the loss the Hessian's smallest eigenvalue is >= 0 (to within the
 * noise of the estimate); a clearly negative one means a saddle, or a point
 * still on a slope. Its largest eigenvalue, the sharpness, bounds the
 * learning rate gradient descent can use there (2/λmax).
 */
#ifndef EMC_NN_HESSIAN_H
#define EMC_NN_HESSIAN_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Lanczos iterations: enough for the extreme eigenvalues of the spectra
 * seen here to settle, cheap next to training (two gradient passes each). */
#define NN_LANCZOS_K 40

/* ret_av (n) = A · v (n); A symmetric. */
typedef void (*nn_matvec_fn)(void *ctx, const double *v, double *ret_av);

/* Bytes of work space nn_lanczos needs for k iterations in dimension n. */
size_t nn_lanczos_work_bytes(size_t n, int k);

/* k (1 <= k <= NN_LANCZOS_K, k <= n) steps of Lanczos with full
 * reorthogonalisation from a start vector drawn from seed, then the
 * eigenvalues of the tridiagonal matrix by LAPACK's dstev: its extremes
 * estimate A's. The loop stops early when the Krylov space becomes
 * invariant (then they are exact). work: nn_lanczos_work_bytes(n, k)
 * bytes, 8-byte aligned. -EDOM when A · v was not finite; -EIO when
 * LAPACK failed. */
int nn_lanczos(size_t n, int k, nn_matvec_fn av, void *ctx, uint64_t seed, void *work, double *ret_min,
	       double *ret_max);

/* Bytes of work space nn_hessian_extremes needs for a model of n_params. */
size_t nn_hessian_work_bytes(size_t n_params);

/* Smallest and largest eigenvalue of the Hessian of the mean loss over the
 * n rows of (x, y), plus l2/2 ‖θ‖² (the L2 term the optimizer minimises),
 * at the model's current parameters, by nn_lanczos with
 * k = min(n_params, NN_LANCZOS_K). Hessian-vector products are central
 * differences of full-batch gradients in evaluation mode,
 *   H v ≈ (∇L(θ + εv) − ∇L(θ − εv)) / 2ε,  ε = 1e-3 · (1 + ‖θ‖) / ‖v‖,
 * differenced and accumulated in double. The parameters are restored
 * exactly afterwards. Errors as nn_lanczos. */
int nn_hessian_extremes(nn_model *m, const float *x, const uint8_t *y, int64_t n, double l2, uint64_t seed,
			void *work, double *ret_min, double *ret_max);

/* ret_hv (n_params) = H · v, one of the products nn_hessian_extremes
 * feeds Lanczos (same H, same differences, same ε), for a test to hold
 * against a closed form. The parameters are restored exactly. work:
 * nn_hessian_work_bytes(n_params) bytes. -EINVAL when v is zero or not
 * finite. */
int nn_hessian_vector(nn_model *m, const float *x, const uint8_t *y, int64_t n, double l2, const double *v,
		      void *work, double *ret_hv);

#endif
