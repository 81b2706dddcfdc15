/* zoo.h — the model families as graphs of operations (internal).
 *
 * nn_zoo_build() appends to a model whose input value (value 0) is set up
 * the operations of cfg's family, exactly as the contract in cell.h states
 * them, and counts their parameters. It does not size or allocate buffers:
 * that is the model's planner's job (model.c).
 */
#ifndef EMC_NN_ZOO_H
#define EMC_NN_ZOO_H

#include "cell.h"
#include "err.h"
#include "model.h"

/* -EINVAL with err naming the field for a description that cannot be
 * built on this input. */
int nn_zoo_build(nn_model *m, const emc_model_cfg *cfg, emc_err *err);

#endif
