/* optim.h — parameter updates: SGD (momentum, Nesterov), Adam, AdamW, and
 * the learning-rate schedule (internal).
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

/* Bytes of state nn_optim_new allocates for n parameters (0 for plain
 * sgd): what the trial's memory estimate counts. */
size_t nn_optim_state_bytes(const emc_optim_cfg *cfg, size_t n);

/* Check cfg and allocate (and touch) the state for n parameters. On
 * success *ret is owned by the caller (nn_optim_destroy). -EINVAL names
 * the field that is out of range; -ENOMEM. */
int nn_optim_new(const emc_optim_cfg *cfg, size_t n, nn_optim **ret, emc_err *err);

/* NULL-safe; sets *p = NULL. */
void nn_optim_destroy(nn_optim **p);

/* One update of params (n) from grad (n) with the learning rate last set
 * (initially cfg->lr). Does not allocate. */
void nn_optim_step(nn_optim *o, float *params, const float *grad);

/* The learning rate of the next steps (the schedule's business). AdamW's
 * decoupled decay scales with it, as in PyTorch. */
void nn_optim_set_lr(nn_optim *o, double lr);

/* The weight-decay coefficient that acts as an L2 term of the objective
 * (sgd, gd, adam), or 0 when the decay is decoupled (adamw) or off: the
 * trainer adds coef·p to the gradient whose norm it reports. */
double nn_optim_l2(const nn_optim *o);

/* What a resumed trial needs of the optimizer, as bytes: the step count t
 * (Adam's bias corrections and SGD's first-step buffer read it; int64)
 * then every moment buffer (momentum, or Adam's m then v; n floats
 * each). The learning rate is not state: the trainer sets it from the
 * schedule before every step. nn_optim_snapshot writes
 * nn_optim_snapshot_bytes(o) bytes to out; nn_optim_restore reads as many
 * from in. Neither allocates. */
size_t nn_optim_snapshot_bytes(const nn_optim *o);
void nn_optim_snapshot(const nn_optim *o, uint8_t *out);
void nn_optim_restore(nn_optim *o, const uint8_t *in);

/* The learning rate of every step t = 0, 1, ... of a trial:
 *
 *   warm-up   t < W:  lr · (t + 1) / W, linear from lr/W up to lr,
 *             W = warmup_epochs · steps per epoch;
 *   constant  lr;
 *   cosine    lr · ½ (1 + cos(π (t − W) / (T − W))), from lr down towards 0
 *             at the end of the budget, T = its total steps: max_steps, or
 *             max_epochs · steps per epoch, or the smaller of the two when
 *             both are set (PyTorch's CosineAnnealingLR with T_max = T − W).
 */
typedef struct nn_schedule {
	emc_schedule kind;
	double lr;
	int64_t warmup; /* W */
	int64_t total;  /* T; 0 when the budget has no step count (constant only) */
} nn_schedule;

/* Check the schedule settings against the budget. -EINVAL naming
 * optimizer.schedule for a cosine with no step or epoch budget (a time
 * budget has no last step to decay towards), or optimizer.warmup_epochs
 * when it is negative or leaves no steps for the cosine. */
int nn_schedule_init(nn_schedule *s, const emc_optim_cfg *o, const emc_budget_cfg *b, int64_t steps_per_epoch,
		     emc_err *err);

/* The learning rate of step t (0-based). */
double nn_schedule_lr(const nn_schedule *s, int64_t t);

#endif
