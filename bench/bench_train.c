/* bench_train.c — how close a training step comes to the machine's GEMM speed.
 *
 * A training step is GEMMs plus everything around them (gathering the
 * batch, bias and activation passes, im2col, pooling, norms, the optimizer
 * update). The GEMMs alone set the ceiling: this benchmark trains a model
 * for a fixed time, counts the GEMM flops of forward and backward per
 * sample, and divides by the speed cblas_sgemm reaches on exactly the
 * shapes that step uses, timed alone in the same run. The ratio
 * (fraction_of_peak) is the share of a step spent in useful GEMM work; it
 * does not depend on how fast this particular machine is.
 *
 *   bench_train [peak]            MLP 784-512-512-10, the simple CNN and a
 *                                 small ViT, batch 128, 1 and 2 BLAS threads
 *   bench_train small PREFIX      the EMC-sized MLPs 784-8-10 and 784-32-10
 *                                 with Adam, batch 128, 1 thread, on the
 *                                 data PREFIX.x / PREFIX.y (as exported)
 *   bench_train export PREFIX     write the data the benchmarks use:
 *                                 Fashion-MNIST's training set when the
 *                                 Debian package is installed, else 60000
 *                                 synthetic 784-dimensional samples;
 *                                 PREFIX.x (n, 784) float32, PREFIX.y (n) bytes
 *
 * Each result is one JSON line on stdout. A step here is exactly the
 * trainer's: gather the batch rows in the epoch's shuffled order, forward
 * and backward in training mode, set the scheduled learning rate, update.
 * Benchmarks are built with the project but never run as tests; see
 * docs/performance.md.
 */
#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataset.h"
#include "model.h"
#include "optim.h"
#include "rng.h"

#define BATCH 128

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- data ---- */

typedef struct data {
	float *x; /* (n, dim) */
	uint8_t *y;
	int64_t n;
	int dim;
	const char *source;
} data;

static int load_default(data *d)
{
	emc_dataset_ref ref = { 0 };
	emc_dataset *ds = NULL;
	emc_err err = { { 0 } };
	emc_rng r;

	snprintf(ref.name, sizeof ref.name, "fashion-mnist");
	snprintf(ref.format, sizeof ref.format, "idx");
	snprintf(ref.split, sizeof ref.split, "train");
	if (emc_dataset_resolve(&ref, NULL, &err) == 0 && emc_dataset_load(&ref, &ds, &err) == 0 && ds->dim == 784) {
		d->n = ds->n;
		d->dim = 784;
		d->x = malloc((size_t)d->n * 784 * sizeof *d->x);
		d->y = malloc((size_t)d->n);
		if (!d->x || !d->y)
			return -ENOMEM;
		memcpy(d->x, ds->x, (size_t)d->n * 784 * sizeof *d->x);
		memcpy(d->y, ds->y, (size_t)d->n);
		d->source = "fashion-mnist";
		emc_dataset_destroy(&ds);
		return 0;
	}
	emc_dataset_destroy(&ds);
	/* synthetic: uniform pixels, random labels; the speed does not care */
	d->n = 60000;
	d->dim = 784;
	d->x = malloc((size_t)d->n * 784 * sizeof *d->x);
	d->y = malloc((size_t)d->n);
	if (!d->x || !d->y)
		return -ENOMEM;
	emc_rng_seed(&r, 1, 1);
	for (size_t i = 0; i < (size_t)d->n * 784; i++)
		d->x[i] = (float)emc_rng_uniform(&r);
	for (int64_t i = 0; i < d->n; i++)
		d->y[i] = (uint8_t)emc_rng_below(&r, 10);
	d->source = "synthetic";
	return 0;
}

static int export_data(const char *prefix)
{
	data d = { 0 };
	char path[4096];
	FILE *f;
	int r = load_default(&d);

	if (r < 0)
		return r;
	snprintf(path, sizeof path, "%s.x", prefix);
	f = fopen(path, "wb");
	if (!f || fwrite(d.x, sizeof *d.x, (size_t)d.n * d.dim, f) != (size_t)d.n * d.dim || fclose(f) != 0)
		return -EIO;
	snprintf(path, sizeof path, "%s.y", prefix);
	f = fopen(path, "wb");
	if (!f || fwrite(d.y, 1, (size_t)d.n, f) != (size_t)d.n || fclose(f) != 0)
		return -EIO;
	printf("{\"exported\":\"%s\",\"samples\":%lld,\"dim\":%d}\n", d.source, (long long)d.n, d.dim);
	free(d.x);
	free(d.y);
	return 0;
}

static int import_data(const char *prefix, data *d)
{
	char path[4096];
	FILE *f;
	long bytes;

	snprintf(path, sizeof path, "%s.y", prefix);
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0 || (bytes = ftell(f)) <= 0)
		return -EIO;
	rewind(f);
	d->n = bytes;
	d->dim = 784;
	d->y = malloc((size_t)d->n);
	d->x = malloc((size_t)d->n * 784 * sizeof *d->x);
	if (!d->x || !d->y || fread(d->y, 1, (size_t)d->n, f) != (size_t)d->n)
		return -EIO;
	fclose(f);
	snprintf(path, sizeof path, "%s.x", prefix);
	f = fopen(path, "rb");
	if (!f || fread(d->x, sizeof *d->x, (size_t)d->n * 784, f) != (size_t)d->n * 784)
		return -EIO;
	fclose(f);
	d->source = prefix;
	return 0;
}

/* ---- the GEMMs of one step ---- */

typedef struct gemm {
	bool ta, tb;
	int M, N, K;
	double count; /* calls per step */
} gemm;

typedef struct gemm_list {
	gemm g[256];
	int n;
} gemm_list;

static void add_gemm(gemm_list *l, bool ta, bool tb, int M, int N, int K, double count)
{
	for (int i = 0; i < l->n; i++)
		if (l->g[i].ta == ta && l->g[i].tb == tb && l->g[i].M == M && l->g[i].N == N && l->g[i].K == K) {
			l->g[i].count += count;
			return;
		}
	if (l->n < 256)
		l->g[l->n++] = (gemm){ ta, tb, M, N, K, count };
}

/* The products the kernels issue for a step of B rows (layers.c, conv.c,
 * attention.c), shape for shape. */
static void step_gemms(const nn_model *m, int B, gemm_list *l)
{
	l->n = 0;
	for (int i = 0; i < m->n_ops; i++) {
		const nn_op *op = &m->ops[i];
		bool dx = op->in[0] != 0;

		if (op->kind == NN_OP_DENSE) {
			int rows = B * op->tokens;

			add_gemm(l, false, true, rows, op->fout, op->fin, 1);  /* Y = X · W^T */
			add_gemm(l, true, false, op->fout, op->fin, rows, 1);  /* dW = dY^T · X */
			if (dx)
				add_gemm(l, false, false, rows, op->fin, op->fout, 1); /* dX = dY · W */
		} else if (op->kind == NN_OP_CONV) {
			const nn_conv *c = &op->conv;
			int P = c->ho * c->wo, K = c->k * c->k * c->cin;
			int tiles[2] = { B / c->tile, B % c->tile ? 1 : 0 }, sizes[2] = { c->tile, B % c->tile };

			for (int t = 0; t < 2; t++) {
				if (!tiles[t])
					continue;
				add_gemm(l, false, true, sizes[t] * P, c->cout, K, tiles[t]);
				add_gemm(l, true, false, c->cout, K, sizes[t] * P, tiles[t]);
				if (dx)
					add_gemm(l, false, false, sizes[t] * P, K, c->cout, tiles[t]);
			}
		} else if (op->kind == NN_OP_ATTN) {
			const nn_value *v = &m->vals[op->in[0]];
			int n = v->h * v->w, dh = v->c / 3 / op->heads;
			double calls = (double)B * op->heads;

			add_gemm(l, false, true, n, n, dh, calls);   /* S = Q · K^T */
			add_gemm(l, false, false, n, dh, n, calls);  /* Y = P · V */
			add_gemm(l, true, false, n, dh, n, calls);   /* dV = P^T · dY */
			add_gemm(l, false, true, n, n, dh, calls);   /* dP = dY · V^T */
			add_gemm(l, false, false, n, dh, n, calls);  /* dQ = dS · K */
			add_gemm(l, true, false, n, dh, n, calls);   /* dK = dS^T · Q */
		}
	}
}

static double list_flops(const gemm_list *l)
{
	double f = 0.0;

	for (int i = 0; i < l->n; i++)
		f += 2.0 * l->g[i].M * l->g[i].N * l->g[i].K * l->g[i].count;
	return f;
}

/* Seconds per call of each shape alone, on its own hot buffers: the best
 * of this and earlier measurements (ret_best, one per shape, 0 = none). */
static int gemm_time(const gemm_list *l, double *ret_best)
{
	size_t most = 0;
	float *a, *b, *c;
	emc_rng r;

	for (int i = 0; i < l->n; i++) {
		const gemm *g = &l->g[i];
		size_t s[3] = { (size_t)g->M * g->K, (size_t)g->K * g->N, (size_t)g->M * g->N };

		for (int j = 0; j < 3; j++)
			most = s[j] > most ? s[j] : most;
	}
	a = malloc(most * sizeof *a);
	b = malloc(most * sizeof *b);
	c = malloc(most * sizeof *c);
	if (!a || !b || !c) {
		free(a), free(b), free(c);
		return -ENOMEM;
	}
	emc_rng_seed(&r, 2, 2);
	for (size_t i = 0; i < most; i++) {
		a[i] = (float)emc_rng_uniform(&r) - 0.5f;
		b[i] = (float)emc_rng_uniform(&r) - 0.5f;
		c[i] = 0.0f;
	}
	for (int i = 0; i < l->n; i++) {
		const gemm *g = &l->g[i];
		const int lda = g->ta ? g->M : g->K, ldb = g->tb ? g->K : g->N;
		const CBLAS_TRANSPOSE ta = g->ta ? CblasTrans : CblasNoTrans, tb = g->tb ? CblasTrans : CblasNoTrans;
		double t0, per_call;
		int reps = 0;

		/* warm up, then repeat for at least 30 ms */
		cblas_sgemm(CblasRowMajor, ta, tb, g->M, g->N, g->K, 1.0f, a, lda, b, ldb, 0.0f, c, g->N);
		t0 = now_s();
		do {
			for (int k = 0; k < 4; k++)
				cblas_sgemm(CblasRowMajor, ta, tb, g->M, g->N, g->K, 1.0f, a, lda, b, ldb, 0.0f, c,
					    g->N);
			reps += 4;
		} while (now_s() - t0 < 0.03);
		per_call = (now_s() - t0) / reps;
		if (ret_best[i] == 0.0 || per_call < ret_best[i])
			ret_best[i] = per_call;
	}
	free(a);
	free(b);
	free(c);
	return 0;
}

/* ---- training ---- */

/* A model, its optimizer and an epoch order, stepped as the trainer steps. */
typedef struct bench_run {
	nn_model *m;
	nn_optim *o;
	const emc_optim_cfg *oc;
	const data *d;
	int32_t *order;
	emc_rng rng;
	int64_t start;
} bench_run;

static int run_init(bench_run *b, const emc_model_cfg *mc, const emc_optim_cfg *oc, const emc_input_shape *in,
		    const data *d)
{
	emc_err err = { { 0 } };
	int r;

	*b = (bench_run){ .oc = oc, .d = d, .start = d->n };
	b->order = malloc((size_t)d->n * sizeof *b->order);
	if (!b->order)
		return -ENOMEM;
	r = nn_model_new(mc, in, BATCH, &b->m, &err);
	if (r == 0)
		r = nn_optim_new(oc, b->m->n_params, &b->o, &err);
	if (r < 0) {
		fprintf(stderr, "bench_train: %s\n", err.msg);
		return r;
	}
	nn_model_init_params(b->m, 1, NN_STREAM_INIT);
	emc_rng_seed(&b->rng, 1, NN_STREAM_ORDER);
	for (int64_t i = 0; i < d->n; i++)
		b->order[i] = (int32_t)i;
	return 0;
}

static void run_deinit(bench_run *b)
{
	nn_optim_destroy(&b->o);
	nn_model_destroy(&b->m);
	free(b->order);
	b->order = NULL;
}

/* Steps for at least `seconds`; returns samples per second. */
static double run_for(bench_run *b, double seconds)
{
	int64_t steps = 0;
	double t0 = now_s(), t;

	do {
		nn_pass pass;
		int64_t rows;

		if (b->start >= b->d->n) {
			emc_rng_shuffle_i32(&b->rng, b->order, b->d->n);
			b->start = 0;
		}
		rows = b->d->n - b->start < BATCH ? b->d->n - b->start : BATCH;
		nn_model_pass(b->m, b->d->x, b->d->y, b->order + b->start, rows, NN_MODE_TRAIN, true, &pass);
		nn_optim_set_lr(b->o, b->oc->lr);
		nn_optim_step(b->o, b->m->params, pass.grad);
		b->start += rows;
		steps++;
		t = now_s();
	} while (t - t0 < seconds);
	return (double)steps * BATCH / (t - t0);
}

/* The machine is shared and noisy: measure in rounds, alternating
 * training and the GEMMs alone, and keep the best of each. */
#define ROUNDS 5

static int bench_peak(double seconds)
{
	const emc_input_shape mnist = { 1, 28, 28, 10 };
	emc_model_cfg mlp = { .family = EMC_FAMILY_MLP, .activation = EMC_ACT_RELU, .n_widths = 2,
			      .widths = { 512, 512 } };
	emc_model_cfg cnn = { .family = EMC_FAMILY_CNN, .activation = EMC_ACT_RELU, .layers = 2, .filters = 32,
			      .hidden = 128 };
	emc_model_cfg vit = { .family = EMC_FAMILY_VIT, .activation = EMC_ACT_GELU, .patch = 7, .dim = 64,
			      .depth = 2, .heads = 4, .mlp_ratio = 2 };
	const struct {
		const char *name;
		const emc_model_cfg *m;
	} models[] = { { "mlp-784-512-512-10", &mlp }, { "cnn-2x32-128", &cnn }, { "vit-p7-d64-l2-h4", &vit } };
	emc_optim_cfg sgd = { .name = EMC_OPT_SGD, .lr = 0.01, .momentum = 0.9 };
	data d = { 0 };
	int r = load_default(&d);

	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
		for (int threads = 1; threads <= 2; threads++) {
			bench_run b;
			gemm_list l;
			double best[256] = { 0 }, sps = 0.0, flops, peak_s = 0.0;

			openblas_set_num_threads(threads);
			r = run_init(&b, models[i].m, &sgd, &mnist, &d);
			if (r < 0) {
				run_deinit(&b);
				return r;
			}
			step_gemms(b.m, BATCH, &l);
			run_for(&b, 0.2); /* warm up */
			for (int round = 0; round < ROUNDS; round++) {
				double s = run_for(&b, seconds / ROUNDS);

				sps = s > sps ? s : sps;
				r = gemm_time(&l, best);
				if (r < 0) {
					run_deinit(&b);
					return r;
				}
			}
			for (int k = 0; k < l.n; k++)
				peak_s += best[k] * l.g[k].count;
			flops = list_flops(&l) / BATCH;
			printf("{\"model\":\"%s\",\"threads\":%d,\"batch\":%d,\"optimizer\":\"sgd-momentum\","
			       "\"data\":\"%s\",\"params\":%zu,\"gemm_flops_per_sample\":%.0f,\"samples_per_s\":%.0f,"
			       "\"gflops\":%.2f,\"gemm_peak_gflops\":%.2f,\"fraction_of_peak\":%.3f}\n",
			       models[i].name, threads, BATCH, d.source, b.m->n_params, flops, sps,
			       flops * sps * 1e-9, flops * BATCH / peak_s * 1e-9, sps * peak_s / BATCH);
			fflush(stdout);
			run_deinit(&b);
		}
	free(d.x);
	free(d.y);
	return 0;
}

static int bench_small(const char *prefix, double seconds)
{
	const emc_input_shape mnist = { 1, 28, 28, 10 };
	emc_optim_cfg adam = { .name = EMC_OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8 };
	const int widths[2] = { 8, 32 };
	data d = { 0 };
	int r = import_data(prefix, &d);

	if (r < 0) {
		fprintf(stderr, "bench_train: cannot read %s.x / %s.y (write them with: bench_train export %s)\n",
			prefix, prefix, prefix);
		return r;
	}
	openblas_set_num_threads(1);
	for (int i = 0; i < 2; i++) {
		emc_model_cfg mc = { .family = EMC_FAMILY_MLP, .activation = EMC_ACT_RELU, .n_widths = 1,
				     .widths = { widths[i] } };
		bench_run b;
		double sps = 0.0;

		r = run_init(&b, &mc, &adam, &mnist, &d);
		if (r < 0) {
			run_deinit(&b);
			return r;
		}
		run_for(&b, 0.2);
		for (int round = 0; round < ROUNDS; round++) {
			double s = run_for(&b, seconds / ROUNDS);

			sps = s > sps ? s : sps;
		}
		printf("{\"model\":\"mlp-784-%d-10\",\"engine\":\"emc\",\"threads\":1,\"batch\":%d,"
		       "\"optimizer\":\"adam\",\"samples_per_s\":%.0f}\n",
		       widths[i], BATCH, sps);
		fflush(stdout);
		run_deinit(&b);
	}
	free(d.x);
	free(d.y);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "peak";
	const char *secs = getenv("BENCH_SECONDS");
	double seconds = secs ? atof(secs) : 3.0;
	int r;

	if (seconds <= 0.0)
		seconds = 3.0;
	if (strcmp(mode, "peak") == 0)
		r = bench_peak(seconds);
	else if (strcmp(mode, "small") == 0 && argc > 2)
		r = bench_small(argv[2], seconds);
	else if (strcmp(mode, "export") == 0 && argc > 2)
		r = export_data(argv[2]);
	else {
		fprintf(stderr, "usage: bench_train [peak] | small PREFIX | export PREFIX\n");
		return 2;
	}
	if (r < 0) {
		fprintf(stderr, "bench_train: failed: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
