/* subset.c — nested stratified subsets, and a cell's data variant on them.
 *
 * Subsets. emc_subset_order() returns one order of all samples; subset(m)
 * is its first m entries, so subsets are nested by construction. Within a
 * class the order is a seeded shuffle. Across classes the order is a
 * schedule that keeps every prefix stratified to quota: with c_k samples
 * of class k out of n, the prefix of length m holds floor(m c_k / n) or
 * ceil(m c_k / n) samples of class k, for every m and k at once. The j-th
 * sample of class k (1-based) is a unit job that may not run before slot
 * floor((j-1) n / c_k) + 1 (else the prefix exceeds its ceiling) and must
 * run by slot ceil(j n / c_k) (else the prefix falls under its floor).
 * These jobs satisfy Hall's condition on every window of slots, so a
 * schedule exists, and earliest-deadline-first finds one; ties between
 * equal deadlines are broken by a seeded random key. Two small heaps over
 * the classes make this O(n log K).
 *
 * Variants. Everything random about a variant — a sample's random label,
 * whether its label is noisy, the permutation of its values, its Gaussian
 * replacement — is drawn from a generator seeded by (key, sample index),
 * where the key comes from the variant's data seed and a stream id per
 * use. So for one data seed it depends on the index alone: not on n, not
 * on the subset seed, and not on the order samples are visited in. The
 * data seed is the trial's replicate seed unless the spec fixes one
 * (emc_variant_of_cell), so replicates redraw the labelling — the
 * randomness of a random-label experiment is part of what seeds sample —
 * while a fixed data seed holds it still across replicates. The streams
 * differ from the subset's, so a replicate's subset order and its labels
 * are independent draws even though one seed makes both.
 * Labels are computed for all N samples (O(N), cheap next to training) and
 * the subset order is drawn on those labels, so stratification and nesting
 * hold for the labels the network actually sees. A noisy sample takes the
 * very label `random` would give it, so noisy:1 is exactly random, and the
 * noisy indices at fraction p are a subset of those at any q > p.
 */
#include "subset.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* Stream ids for emc_rng_seed(): one per use of a seed here. */
#define STREAM_SUBSET 0x5375627365744f72ULL  /* "SubsetOr" */
#define STREAM_LABELS 0x52616e644c61626cULL  /* "RandLabl" */
#define STREAM_NOISY 0x4e6f6973794c6162ULL   /* "NoisyLab" */
#define STREAM_PERMUTE 0x5065726d496e7075ULL /* "PermInpu" */
#define STREAM_GAUSS 0x4761757373496e70ULL   /* "GaussInp" */

/* ---- nested stratified subsets ------------------------------------------ */

/* A class waiting in one of the two heaps: keyed by the release slot of its
 * next sample (waiting) or by its deadline and a random tie (ready). */
typedef struct slot_key {
	int64_t when;
	uint64_t tie;
	int cls;
} slot_key;

static bool key_less(const slot_key *a, const slot_key *b)
{
	if (a->when != b->when)
		return a->when < b->when;
	if (a->tie != b->tie)
		return a->tie < b->tie;
	return a->cls < b->cls;
}

static void heap_push(slot_key *h, int *len, slot_key k)
{
	int i = (*len)++;

	while (i > 0 && key_less(&k, &h[(i - 1) / 2])) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = k;
}

static slot_key heap_pop(slot_key *h, int *len)
{
	slot_key top = h[0], last = h[--(*len)];
	int i = 0;

	for (;;) {
		int c = 2 * i + 1;

		if (c >= *len)
			break;
		if (c + 1 < *len && key_less(&h[c + 1], &h[c]))
			c++;
		if (!key_less(&h[c], &last))
			break;
		h[i] = h[c];
		i = c;
	}
	if (*len > 0)
		h[i] = last;
	return top;
}

/* Slots are 1-based; j is the 1-based rank of a sample within its class of
 * c samples out of n. */
static int64_t release_slot(int64_t j, int64_t c, int64_t n)
{
	return (j - 1) * n / c + 1;
}

static int64_t deadline_slot(int64_t j, int64_t c, int64_t n)
{
	return (j * n + c - 1) / c;
}

int emc_subset_order(const uint8_t *y, int64_t n, int classes, uint64_t seed, int32_t *ret_order)
{
	int64_t count[EMC_DATASET_MAX_CLASSES] = { 0 }, start[EMC_DATASET_MAX_CLASSES];
	int64_t taken[EMC_DATASET_MAX_CLASSES] = { 0 }, fill[EMC_DATASET_MAX_CLASSES];
	slot_key wait[EMC_DATASET_MAX_CLASSES], ready[EMC_DATASET_MAX_CLASSES];
	int n_wait = 0, n_ready = 0;
	int32_t *members;
	emc_rng rng;

	if (n < 0 || n > INT32_MAX || classes < 1 || classes > EMC_DATASET_MAX_CLASSES)
		return -EINVAL;
	for (int64_t i = 0; i < n; i++) {
		if (y[i] >= classes)
			return -EINVAL;
		count[y[i]]++;
	}
	if (n == 0)
		return 0;
	members = malloc((size_t)n * sizeof *members);
	if (!members)
		return -ENOMEM;

	/* Members grouped by class in index order, then each class shuffled:
	 * the shuffle alone decides which samples of a class come first. */
	emc_rng_seed(&rng, seed, STREAM_SUBSET);
	for (int k = 0, s = 0; k < classes; k++) {
		start[k] = fill[k] = s;
		s += (int)count[k];
	}
	for (int64_t i = 0; i < n; i++)
		members[fill[y[i]]++] = (int32_t)i;
	for (int k = 0; k < classes; k++)
		emc_rng_shuffle_i32(&rng, members + start[k], count[k]);

	for (int k = 0; k < classes; k++)
		if (count[k] > 0)
			heap_push(wait, &n_wait, (slot_key){ release_slot(1, count[k], n), 0, k });
	for (int64_t m = 1; m <= n; m++) {
		slot_key top;
		int k;

		while (n_wait > 0 && wait[0].when <= m) {
			k = heap_pop(wait, &n_wait).cls;
			heap_push(ready, &n_ready,
				  (slot_key){ deadline_slot(taken[k] + 1, count[k], n), emc_rng_next(&rng), k });
		}
		/* Feasibility (see the top of the file) guarantees a ready class
		 * whose deadline has not passed. */
		assert(n_ready > 0);
		top = heap_pop(ready, &n_ready);
		assert(top.when >= m);
		k = top.cls;
		ret_order[m - 1] = members[start[k] + taken[k]];
		taken[k]++;
		if (taken[k] < count[k])
			heap_push(wait, &n_wait, (slot_key){ release_slot(taken[k] + 1, count[k], n), 0, k });
	}
	free(members);
	return 0;
}

/* ---- label variants ----------------------------------------------------- */

/* One key per (seed, stream): the per-index generators below are seeded
 * from (key, index). */
static uint64_t stream_key(uint64_t seed, uint64_t stream)
{
	emc_rng rng;

	emc_rng_seed(&rng, seed, stream);
	return emc_rng_next(&rng);
}

static uint8_t random_label(uint64_t key, int64_t i, int classes)
{
	emc_rng rng;

	emc_rng_seed(&rng, key, (uint64_t)i);
	return (uint8_t)emc_rng_below(&rng, (uint64_t)classes);
}

int emc_labels_variant(const uint8_t *y, int64_t n, int classes, emc_labels variant, uint64_t seed,
		       uint8_t *ret_y)
{
	uint64_t key;

	if (n < 0 || classes < 1 || classes > EMC_DATASET_MAX_CLASSES)
		return -EINVAL;
	switch (variant) {
	case EMC_LABELS_TRUE:
		if (n > 0)
			memcpy(ret_y, y, (size_t)n);
		return 0;
	case EMC_LABELS_RANDOM:
		key = stream_key(seed, STREAM_LABELS);
		for (int64_t i = 0; i < n; i++)
			ret_y[i] = random_label(key, i, classes);
		return 0;
	default:
		return -EINVAL;
	}
}

/* ---- data variants ------------------------------------------------------ */

emc_variant emc_variant_of_cell(const emc_cell_cfg *cell)
{
	return (emc_variant){ .labels = cell->labels,
			      .label_noise = cell->label_noise,
			      .inputs = cell->inputs,
			      .classes = cell->classes,
			      .data_seed = cell->data_seed_fixed ? cell->data_seed : cell->seed };
}

int emc_variant_classes(const emc_dataset *ds, const emc_variant *v, emc_err *err)
{
	int c = ds->shape.classes, k = v->classes ? v->classes : c;

	if ((unsigned)v->labels >= EMC_LABELS_COUNT)
		return emc_err_set(err, -EINVAL, "variant.labels: unknown label variant %d", (int)v->labels);
	if ((unsigned)v->inputs >= EMC_INPUTS_COUNT)
		return emc_err_set(err, -EINVAL, "variant.inputs: unknown input variant %d", (int)v->inputs);
	/* Written to be false for NaN too. */
	if (v->labels == EMC_LABELS_NOISY && !(v->label_noise >= 0.0 && v->label_noise <= 1.0))
		return emc_err_set(err, -EINVAL, "variant.label_noise = %g: expected a fraction in [0, 1]",
				   v->label_noise);
	if (k < 2 || k > c || c % k != 0)
		return emc_err_set(err, -EINVAL,
				   "variant.classes = %d: must be at least 2 and divide the dataset's %d "
				   "classes",
				   v->classes, c);
	return k;
}

/* The label every sample index carries under v, for all N samples. */
static void variant_labels(const emc_dataset *ds, const emc_variant *v, int k, uint8_t *ret)
{
	uint64_t rkey = stream_key(v->data_seed, STREAM_LABELS);
	uint64_t nkey = stream_key(v->data_seed, STREAM_NOISY);
	int group = ds->shape.classes / k;

	for (int64_t i = 0; i < ds->n; i++) {
		uint8_t t = (uint8_t)(ds->y[i] / group);
		emc_rng rng;

		switch (v->labels) {
		case EMC_LABELS_RANDOM:
			t = random_label(rkey, i, k);
			break;
		case EMC_LABELS_NOISY:
			emc_rng_seed(&rng, nkey, (uint64_t)i);
			if (emc_rng_uniform(&rng) < v->label_noise)
				t = random_label(rkey, i, k);
			break;
		default:
			break;
		}
		ret[i] = t;
	}
}

/* Sample `index` of ds under the input variant, into out (dim values). */
static void variant_input(const emc_dataset *ds, emc_inputs inputs, uint64_t key, int64_t index,
			  float *out)
{
	const float *src = ds->x + index * ds->dim;
	emc_rng rng;

	switch (inputs) {
	case EMC_INPUTS_PERMUTED:
		/* Fisher–Yates on the copy: the permutation is the sample's own. */
		emc_rng_seed(&rng, key, (uint64_t)index);
		memcpy(out, src, (size_t)ds->dim * sizeof *out);
		for (int64_t j = ds->dim - 1; j > 0; j--) {
			int64_t s = (int64_t)emc_rng_below(&rng, (uint64_t)j + 1);
			float t = out[j];

			out[j] = out[s];
			out[s] = t;
		}
		break;
	case EMC_INPUTS_GAUSSIAN:
		emc_rng_seed(&rng, key, (uint64_t)index);
		for (int64_t j = 0; j < ds->dim; j++)
			out[j] = (float)emc_rng_normal(&rng);
		break;
	default:
		memcpy(out, src, (size_t)ds->dim * sizeof *out);
		break;
	}
}

int emc_subset_materialize(const emc_dataset *ds, const emc_variant *v, uint64_t subset_seed,
			   int64_t n, float *x_out, uint8_t *y_out, emc_err *err)
{
	uint8_t *labels = NULL;
	int32_t *order = NULL;
	uint64_t key = 0;
	int k, r;

	assert(ds && v && x_out && y_out);
	k = emc_variant_classes(ds, v, err);
	if (k < 0)
		return k;
	if (n < 1 || n > ds->n)
		return emc_err_set(err, -EINVAL, "subset: n = %lld but the dataset has %lld samples",
				   (long long)n, (long long)ds->n);
	labels = malloc((size_t)ds->n);
	order = malloc((size_t)ds->n * sizeof *order);
	if (!labels || !order) {
		r = emc_err_set(err, -ENOMEM, "subset: out of memory for the order of %lld samples",
				(long long)ds->n);
		goto out;
	}
	variant_labels(ds, v, k, labels);
	r = emc_subset_order(labels, ds->n, k, subset_seed, order);
	if (r < 0) {
		r = emc_err_set(err, r, "subset: cannot order %lld samples in %d classes",
				(long long)ds->n, k);
		goto out;
	}
	if (v->inputs == EMC_INPUTS_PERMUTED)
		key = stream_key(v->data_seed, STREAM_PERMUTE);
	else if (v->inputs == EMC_INPUTS_GAUSSIAN)
		key = stream_key(v->data_seed, STREAM_GAUSS);
	for (int64_t i = 0; i < n; i++) {
		y_out[i] = labels[order[i]];
		variant_input(ds, v->inputs, key, order[i], x_out + i * ds->dim);
	}
out:
	free(labels);
	free(order);
	return r;
}
