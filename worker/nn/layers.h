/* layers.h — the engine's layer kernels (internal to the engine and its tests).
 *
 * Every layer is a pair nn_X_forward / nn_X_backward with the same argument
 * order: the backward takes the gradients of what the forward wrote and
 * read, in the same positions, then the forward's inputs it needs again.
 * Buffers are row-major float32; B is the number of rows (samples) in the
 * batch. Backward functions OVERWRITE their gradient outputs (they do not
 * accumulate): in the models built so far every parameter and every
 * activation is used exactly once per pass. A layer that reads an input
 * twice (a residual add) will sum its two gradients itself.
 *
 * No function here allocates, logs or fails: shapes are checked when the
 * model is planned, so violating them is our own mistake.
 */
#ifndef EMC_NN_LAYERS_H
#define EMC_NN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "cell.h"

/* Slope of leaky_relu for x < 0 (PyTorch's default negative_slope). */
#define NN_LEAKY_SLOPE 0.01f

/* Dense: y = x · W^T + b, weight (out, in) as in PyTorch's nn.Linear.
 *   y (B, out), x (B, in), w (out, in), b (out). */
void nn_dense_forward(float *y, const float *x, const float *w, const float *b, int B, int in, int out);
/* dx (B, in) may be NULL when no one needs the input's gradient (the first
 * layer), which saves the largest GEMM of a small MLP.
 *   dx (B, in), dw (out, in), db (out), dy (B, out), x (B, in), w (out, in). */
void nn_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int B,
		       int in, int out);

/* Elementwise activation y = f(x) over n values. gelu is the exact (erf)
 * form, PyTorch's nn.GELU() default; leaky_relu has slope NN_LEAKY_SLOPE.
 *   y (n), x (n); y may alias x only for activations whose backward needs y
 *   alone, which the models do not rely on: keep them apart. */
void nn_act_forward(float *y, const float *x, size_t n, emc_activation act);
/* dx = dy ⊙ f'(x); x and y are the forward's input and output.
 * dx may alias dy (the models do this in place). */
void nn_act_backward(float *dx, const float *dy, const float *x, const float *y, size_t n, emc_activation act);

/* Softmax cross-entropy, mean over the batch, computed stably through the
 * log-sum-exp with the row maximum subtracted.
 *   probs (B, C) receives the softmax, logits (B, C), labels (B) in [0, C).
 * Returns the mean loss (accumulated in double). */
double nn_xent_forward(float *probs, const float *logits, const uint8_t *labels, int B, int C);
/* dlogits = (probs - onehot(labels)) / B.
 *   dlogits (B, C), probs (B, C) from the forward, labels (B). */
void nn_xent_backward(float *dlogits, const float *probs, const uint8_t *labels, int B, int C);

/* Rows whose label's logit is strictly the largest. A tie counts as wrong,
 * so a network that outputs the same logit for every class fits nothing.
 *   logits (B, C), labels (B). */
int64_t nn_count_correct(const float *logits, const uint8_t *labels, int B, int C);

#endif
