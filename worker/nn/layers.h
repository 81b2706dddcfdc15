/* layers.h — the engine's layer kernels (internal to the engine and its tests).
 *
 * Every layer is a pair nn_X_forward / nn_X_backward with the same argument
 * order: the backward takes the gradients of what the forward wrote and
 * read, in the same positions, then the forward's inputs it needs again,
 * then any saved state, then the sizes. Buffers are row-major float32; B is
 * the number of samples in the chunk.
 *
 * Image-like values are NHWC: a sample is (H, W, C) with the channel
 * fastest, so a batch of feature maps is a matrix of B·H·W rows of C
 * values, which is what the GEMMs, batch norm and pooling all want. Token
 * sequences (ViT) are the same thing with H·W = N tokens of D features.
 * The network's input is the one exception: data arrive as (C, H, W) per
 * sample, as datasets store them, and the first convolution reads that
 * layout directly (nn_conv.chw).
 *
 * Backward functions OVERWRITE their gradient outputs (they never
 * accumulate): when a value feeds two layers (a residual connection), the
 * model sums the two gradients itself (nn_add_backward gives both inputs
 * the output's gradient; the model adds the branch's gradient into the
 * skip's). A gradient output may be NULL where no one needs it (the data).
 *
 * No function here allocates, logs or fails: shapes are checked when the
 * model is planned, so violating them is our own mistake. Scratch space a
 * kernel needs is passed in, sized by the matching *_scratch function.
 */
#ifndef EMC_NN_LAYERS_H
#define EMC_NN_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cell.h"

/* Slope of leaky_relu for x < 0 (PyTorch's default negative_slope). */
#define NN_LEAKY_SLOPE 0.01f
/* Epsilon of batch norm and layer norm (PyTorch's default). */
#define NN_NORM_EPS 1e-5f
/* Weight of the newest batch in batch norm's running statistics. */
#define NN_BN_MOMENTUM 0.1f

/* ---- dense ---- */

/* y ← f(y + b) row by row: the bias and the activation of a GEMM's output
 * in one pass.  y (rows, cols), b (cols) or NULL. */
void nn_bias_act_forward(float *y, const float *b, size_t rows, int cols, emc_activation act);

/* Dense: y = x · W^T + b, weight (out, in) as in PyTorch's nn.Linear, then
 * the activation act (EMC_ACT_LINEAR for none) applied in the same pass
 * over y, while the rows are still in cache.
 *   y (B, out), x (B, in), w (out, in), b (out). */
void nn_dense_forward(float *y, const float *x, const float *w, const float *b, int B, int in, int out,
		      emc_activation act);
/* The gradient through the fused activation is taken first: dy is
 * overwritten with dz = dy ⊙ f'(z) using the output y (act must be one
 * that nn_act_from_output accepts). dx (B, in) may be NULL when no one
 * needs the input's gradient (the first layer), which saves the largest
 * GEMM of a small MLP.
 *   dx (B, in), dw (out, in), db (out), dy (B, out) (overwritten),
 *   x (B, in), w (out, in), y (B, out). */
void nn_dense_backward(float *dx, float *dw, float *db, float *dy, const float *x, const float *w, const float *y,
		       int B, int in, int out, emc_activation act);

/* ---- activations ---- */

/* Elementwise activation y = f(x) over n values. gelu is the exact (erf)
 * form, PyTorch's nn.GELU() default; leaky_relu has slope NN_LEAKY_SLOPE.
 * y may alias x (in place). */
void nn_act_forward(float *y, const float *x, size_t n, emc_activation act);
/* dx = dy ⊙ f'(x); x and y are the forward's input and output. dx may
 * alias dy. When the forward ran in place (x == y, the input lost), the
 * derivative must come from y alone: nn_act_from_output(act) says whether
 * it can (all but gelu). */
void nn_act_backward(float *dx, const float *dy, const float *x, const float *y, size_t n, emc_activation act);
/* True when f'(x) can be computed from y = f(x) alone. */
bool nn_act_from_output(emc_activation act);

/* ---- loss ---- */

/* Softmax cross-entropy, mean over the batch, computed stably through the
 * log-sum-exp with the row maximum subtracted.
 *   probs (B, C) receives the softmax, logits (B, C), labels (B) in [0, C).
 * Returns the mean loss (accumulated in double). */
double nn_xent_forward(float *probs, const float *logits, const uint8_t *labels, int B, int C);
/* dlogits = (probs - onehot(labels)) · scale, where scale is 1/B for the
 * batch mean (the trainer passes 1/rows of the whole pass, so that chunk
 * gradients add up to the gradient of the mean over all rows).
 *   dlogits (B, C), probs (B, C) from the forward, labels (B). */
void nn_xent_backward(float *dlogits, const float *probs, const uint8_t *labels, int B, int C, float scale);

/* Rows whose label's logit is strictly the largest. A tie counts as wrong,
 * so a network that outputs the same logit for every class fits nothing.
 *   logits (B, C), labels (B). */
int64_t nn_count_correct(const float *logits, const uint8_t *labels, int B, int C);

/* ---- convolution ---- */

/* One convolution's geometry. Input (h, w, cin) per sample — or
 * (cin, h, w) when chw is set (the network's input) — output (ho, wo,
 * cout) with ho = (h + 2·pad − k)/stride + 1. Weight (cout, k, k, cin),
 * i.e. (cout, K) with K = k·k·cin in the order the im2col rows use; bias
 * (cout) or none. `tile` samples are lowered to columns at a time, so the
 * scratch is bounded whatever B is (and stays in cache). */
typedef struct nn_conv {
	int cin, h, w;
	int cout, k, stride, pad;
	int ho, wo;
	bool chw;
	int tile;
} nn_conv;

/* Fill ho, wo and a tile size; returns false when the output would be
 * empty. */
bool nn_conv_setup(nn_conv *s, int cin, int h, int w, int cout, int k, int stride, int pad, bool chw);
/* Floats of scratch the fast kernels need: columns and their gradient. */
size_t nn_conv_scratch(const nn_conv *s);

/* Lower samples [0, B) of x to columns: row (b, oy, ox), column (ky, kx, ci);
 * zero where the window hangs over the padding.
 *   cols (B·ho·wo, K), x (B, input size). */
void nn_im2col(float *cols, const float *x, int B, const nn_conv *s);
/* The adjoint: scatter-add columns back onto the input (which the caller
 * zeroed).  dx (B, input size), dcols (B·ho·wo, K). */
void nn_col2im(float *dx, const float *dcols, int B, const nn_conv *s);

/* y = conv(x, W) + b by im2col and one GEMM per tile, then act.
 *   y (B, ho, wo, cout), x (B, input), w (cout, K), b (cout) or NULL,
 *   scratch (nn_conv_scratch). */
void nn_conv_forward(float *y, const float *x, const float *w, const float *b, int B, const nn_conv *s,
		     emc_activation act, float *scratch);
/* dy is overwritten with the gradient before act (see nn_dense_backward).
 *   dx (B, input) or NULL, dw (cout, K), db (cout) or NULL, dy (B, ho, wo, cout),
 *   x, w as in the forward, y (B, ho, wo, cout) the forward's output. */
void nn_conv_backward(float *dx, float *dw, float *db, float *dy, const float *x, const float *w, const float *y,
		      int B, const nn_conv *s, emc_activation act, float *scratch);
/* Plain direct convolution, the reference the fast kernels are tested
 * against (no activation; accumulates in double). Same arguments. */
void nn_conv_forward_ref(float *y, const float *x, const float *w, const float *b, int B, const nn_conv *s);
void nn_conv_backward_ref(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int B,
			  const nn_conv *s);

/* ---- pooling (NHWC) ---- */

/* 2×2 windows, stride 2, floor: (h, w, c) → (h/2, w/2, c). Max pool picks
 * the first maximum of each window; the backward gives it the whole
 * gradient (found again from x and y, so no index buffer is needed), and
 * rows or columns that the floor dropped get zero.
 *   y (B, h/2, w/2, c), x (B, h, w, c). */
void nn_maxpool_forward(float *y, const float *x, int B, int h, int w, int c);
/* act: the activation that produced x (EMC_ACT_LINEAR for none), whose
 * derivative the backward applies on the way, at the pooled size: a
 * window's maximum is f of the winner's input, so f'(winner) comes from y
 * (act must be one nn_act_from_output accepts), and the losers' gradient
 * is zero whatever f' is. dy is then overwritten with dy ⊙ f'(y).
 *   dx (B, h, w, c), dy (B, h/2, w/2, c), x, y as in the forward. */
void nn_maxpool_backward(float *dx, float *dy, const float *x, const float *y, int B, int h, int w, int c,
			 emc_activation act);
void nn_avgpool_forward(float *y, const float *x, int B, int h, int w, int c);
void nn_avgpool_backward(float *dx, const float *dy, int B, int h, int w, int c);

/* Global average pooling: the mean over the hw positions (or tokens) of
 * each sample.  y (B, c), x (B, hw, c). */
void nn_gap_forward(float *y, const float *x, int B, int hw, int c);
void nn_gap_backward(float *dx, const float *dy, int B, int hw, int c);

/* ---- normalisation ---- */

/* Batch norm over M = B·h·w rows of c channels. In training (train) the
 * statistics are the rows' own (biased variance), and the running ones
 * move towards them by NN_BN_MOMENTUM (unbiased variance, as PyTorch); in
 * evaluation the running statistics are used and left alone. mean and rstd
 * (c each) receive the statistics used, for the backward.
 *   y (M, c), x (M, c), gamma (c), beta (c), run_mean (c), run_var (c),
 *   mean (c), rstd (c), acc (2c doubles of scratch). */
void nn_bn_forward(float *y, const float *x, const float *gamma, const float *beta, float *run_mean, float *run_var,
		   float *mean, float *rstd, int M, int c, bool train, double *acc);
/* In training the statistics depend on x and the gradient flows through
 * them; in evaluation the layer is affine per channel.
 *   dx (M, c), dgamma (c), dbeta (c), dy (M, c), x (M, c), gamma (c),
 *   mean, rstd as the forward left them, acc (2c doubles). */
void nn_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *gamma,
		    const float *mean, const float *rstd, int M, int c, bool train, double *acc);

/* Layer norm of each of M rows of d features (biased variance).
 *   y (M, d), x (M, d), gamma (d), beta (d), mean (M), rstd (M). */
void nn_ln_forward(float *y, const float *x, const float *gamma, const float *beta, float *mean, float *rstd, int M,
		   int d);
/*   dx (M, d), dgamma (d), dbeta (d), dy (M, d), x, gamma, mean, rstd as above. */
void nn_ln_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *gamma,
		    const float *mean, const float *rstd, int M, int d);

/* ---- attention ---- */

/* Multi-head self-attention core on projected tokens: each token's row of
 * qkv is [q (d) | k (d) | v (d)], head j uses columns j·dh..(j+1)·dh of
 * each (dh = d / heads); per sample and head, P = softmax(Q·K^T / √dh) and
 * the head's output is P·V, heads concatenated.
 *   y (B, N, d), qkv (B, N, 3d), probs (B, heads, N, N) saved for the backward. */
void nn_attn_forward(float *y, const float *qkv, float *probs, int B, int N, int d, int heads);
/*   dqkv (B, N, 3d), dy (B, N, d), qkv, probs as the forward left them,
 *   scratch (N·N floats). */
void nn_attn_backward(float *dqkv, const float *dy, const float *qkv, const float *probs, int B, int N, int d,
		      int heads, float *scratch);

/* ---- additions ---- */

/* Residual add y = a + b over n values; the backward hands dy to both
 * (da, db may alias dy).  y (n), a (n), b (n). */
void nn_add_forward(float *y, const float *a, const float *b, size_t n);
void nn_add_backward(float *da, float *db, const float *dy, size_t n);

/* A learned per-sample tensor added to every sample (ViT's position
 * embedding); its gradient is the sum over the batch.
 *   y (B, n), x (B, n), pos (n). */
void nn_posadd_forward(float *y, const float *x, const float *pos, int B, int n);
void nn_posadd_backward(float *dx, float *dpos, const float *dy, int B, int n);

#endif
