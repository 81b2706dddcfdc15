/* optim.h — parameter updates: SGD (momentum, Nesterov), Adam, AdamW (internal).
 *
 * The update rules are PyTorch's (torch.optim.SGD, Adam, AdamW with their
 * default dampening = 0, amsgrad = false), so a procedure means the same
 * thing here as in the paper's code:
 *
 *   sgd, gd  g ← grad + wd·p;  buf ← g (first step) or μ·buf + g;
 *            d ← g + μ·buf (Nesterov) or buf (momentum) or g;  p ← p − lr·d
 *   adam     g ← grad + wd·p;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *            p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)
 *   adamw    p ← p·(1 − lr·wd), then the adam step with wd = 0.
 *
 * gd is sgd whose batch is the whole subset; the batch is the trainer's
 * business, the rule is the same.
 */
#ifndef EMC_NN_OPTIM_H
#define EMC_NN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "err.h"

typedef struct nn_optim nn_optim;

/* Check cfg and allocate (and touch) the state for n parameters. On
 * success *ret is owned by the caller (nn_optim_destroy). -EINVAL names
 * the field that is out of range; -ENOMEM. */
int nn_optim_new(const emc_optim_cfg *cfg, size_t n, nn_optim **ret, emc_err *err);

/* NULL-safe; sets *p = NULL. */
void nn_optim_destroy(nn_optim **p);

/* One update of params (n) from grad (n). Does not allocate. */
void nn_optim_step(nn_optim *o, float *params, const float *grad);

/* The weight-decay coefficient that acts as an L2 term of the objective
 * (sgd, gd, adam), or 0 when the decay is decoupled (adamw) or off: the
 * trainer adds coef·p to the gradient whose norm it reports. */
double nn_optim_l2(const nn_optim *o);

#endif
