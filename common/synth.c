/* synth.c — seeded synthetic classification data.
 *
 * A synthetic dataset is n samples of dim features drawn from N(0, 1),
 * with labels in [0, classes) either uniform at random (no structure: a
 * pure memorisation task) or given by a random linear teacher: a matrix
 * W (classes x dim) of N(0, 1) entries, and label(x) = argmax_k (W x)_k
 * (ties to the smaller k), a task that a linear model can fit exactly.
 *
 * Everything is drawn from the seed, and each sample from a generator
 * of its own seeded by (key, index): so the same seed gives the same
 * bytes on every machine, and the first m samples of a dataset of n are
 * the dataset of m. The features are already standardised in
 * distribution and are not rescaled.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_priv.h"
#include "rng.h"

#define STREAM_X 0x53796e7468582121ULL       /* "SynthX!!" */
#define STREAM_Y 0x53796e7468592121ULL       /* "SynthY!!" */
#define STREAM_TEACHER 0x53796e7468572121ULL /* "SynthW!!" */

static bool linear_teacher(const emc_dataset_ref *ref)
{
	return strcmp(ref->synth_teacher, "linear") == 0;
}

int dataset_check_synthetic(const emc_dataset_ref *ref, emc_err *err)
{
	if (ref->synth_n < 1 || ref->synth_n > EMC_DATASET_MAX_SAMPLES)
		return emc_err_set(err, -EINVAL, "dataset.n: %lld samples; expected 1 to %d",
				   (long long)ref->synth_n, EMC_DATASET_MAX_SAMPLES);
	if (ref->synth_dim < 1 || ref->synth_dim > EMC_DATASET_MAX_DIM)
		return emc_err_set(err, -EINVAL, "dataset.dim: %d features; expected 1 to %d",
				   ref->synth_dim, EMC_DATASET_MAX_DIM);
	if (ref->synth_classes < 2 || ref->synth_classes > EMC_DATASET_MAX_CLASSES)
		return emc_err_set(err, -EINVAL, "dataset.classes: %d classes; expected 2 to %d",
				   ref->synth_classes, EMC_DATASET_MAX_CLASSES);
	if (ref->synth_n > DATASET_MAX_VALUES / ref->synth_dim ||
	    (int64_t)ref->synth_classes > DATASET_MAX_VALUES / ref->synth_dim)
		return emc_err_set(err, -EINVAL,
				   "dataset.n: %lld samples of %d features is more than %lld values",
				   (long long)ref->synth_n, ref->synth_dim, (long long)DATASET_MAX_VALUES);
	if (ref->synth_teacher[0] && strcmp(ref->synth_teacher, "uniform") != 0 &&
	    !linear_teacher(ref))
		return emc_err_set(err, -EINVAL, "dataset.labels: '%s'; expected uniform or linear (synthetic)",
				   ref->synth_teacher);
	return 0;
}

static uint64_t stream_key(uint64_t seed, uint64_t stream)
{
	emc_rng rng;

	emc_rng_seed(&rng, seed, stream);
	return emc_rng_next(&rng);
}

int dataset_load_synthetic(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err)
{
	int64_t n = ref->synth_n, dim = ref->synth_dim;
	int k = ref->synth_classes;
	uint64_t xkey = stream_key(ref->synth_seed, STREAM_X), ykey = stream_key(ref->synth_seed, STREAM_Y);
	emc_dataset *d = NULL;
	float *w = NULL;
	emc_rng rng;
	int r;

	r = dataset_check_synthetic(ref, err);
	if (r < 0)
		return r;
	r = dataset_new(n, dim, "synthetic dataset", &d, err);
	if (r < 0)
		return r;
	if (linear_teacher(ref)) {
		w = malloc((size_t)(k * dim) * sizeof *w); /* (classes, dim) */
		if (!w) {
			emc_dataset_destroy(&d);
			return emc_err_set(err, -ENOMEM, "synthetic dataset: out of memory for the teacher");
		}
		emc_rng_seed(&rng, ref->synth_seed, STREAM_TEACHER);
		for (int64_t i = 0; i < k * dim; i++)
			w[i] = (float)emc_rng_normal(&rng);
	}
	for (int64_t i = 0; i < n; i++) {
		float *x = d->x + i * dim;

		emc_rng_seed(&rng, xkey, (uint64_t)i);
		for (int64_t j = 0; j < dim; j++)
			x[j] = (float)emc_rng_normal(&rng);
		if (!w) {
			emc_rng_seed(&rng, ykey, (uint64_t)i);
			d->y[i] = (uint8_t)emc_rng_below(&rng, (uint64_t)k);
			continue;
		}
		/* label = argmax_k W_k . x, accumulated in double */
		double best = 0;
		int arg = 0;

		for (int c = 0; c < k; c++) {
			double s = 0;

			for (int64_t j = 0; j < dim; j++)
				s += (double)w[c * dim + j] * x[j];
			if (c == 0 || s > best) {
				best = s;
				arg = c;
			}
		}
		d->y[i] = (uint8_t)arg;
	}
	free(w);
	d->shape = (emc_input_shape){ .channels = 1, .height = 1, .width = (int)dim, .classes = k };
	*ret = d;
	return 0;
}
