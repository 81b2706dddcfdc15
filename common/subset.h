/* subset.h — the nested subsets EMC trains on, and a cell's data variant.
 *
 * Owns emc_variant (the part of a cell that concerns data) and the seeded
 * draws made on a loaded emc_dataset: the subset order and the variant's
 * labels and inputs. Nothing here reads a file.
 *
 * Subsets are seeded, class-stratified and nested: emc_subset_order() gives
 * one ordering of all samples whose every prefix is (to within one sample
 * per class) stratified, and subset(n) is its first n entries, so
 * subset(n) is contained in subset(m) for n < m. emc_subset_materialize()
 * applies a cell's data variant (random or noisy labels, permuted or
 * Gaussian inputs, merged classes) and gathers subset(n).
 */
#ifndef EMC_SUBSET_H
#define EMC_SUBSET_H

#include <stdint.h>

#include "cell.h"
#include "dataset.h"
#include "err.h"

/* A cell's data variant (the fields of emc_cell_cfg that concern data). */
typedef struct emc_variant {
	emc_labels labels;
	double label_noise; /* EMC_LABELS_NOISY: fraction in [0, 1] */
	emc_inputs inputs;
	int classes;        /* merge into this many super-classes; 0 = the dataset's own */
	/* The seed of everything random about the variant: random labels,
	 * which labels are noisy, input permutations and Gaussian inputs are
	 * drawn per sample index from it. */
	uint64_t data_seed;
} emc_variant;

/* The variant of a trial's cell configuration (labels, label_noise, inputs,
 * classes), with data_seed = cell->data_seed if the spec fixed it, else
 * the trial's replicate seed cell->seed: each replicate redraws the random
 * labels and inputs, unless the campaign pins them. */
emc_variant emc_variant_of_cell(const emc_cell_cfg *cell);

/* The nested, stratified order of all n samples with labels y for `seed`.
 * ret_order has room for n entries and receives a permutation of [0, n). */
int emc_subset_order(const uint8_t *y, int64_t n, int classes, uint64_t seed, int32_t *ret_order);

/* Labels of a variant: EMC_LABELS_TRUE copies y; EMC_LABELS_RANDOM gives
 * each sample index a label drawn from [0, classes) that depends only on
 * (seed, index), so it is the same in every subset. ret_y has room for n. */
int emc_labels_variant(const uint8_t *y, int64_t n, int classes, emc_labels variant, uint64_t seed,
		       uint8_t *ret_y);

/* Classes after merging: v->classes, or the dataset's C when it is 0.
 * -EINVAL (err names variant.classes and the dataset's C) if K < 2, K > C
 * or C % K != 0; also -EINVAL for a bad label/input variant or noise. */
int emc_variant_classes(const emc_dataset *ds, const emc_variant *v, emc_err *err);

/* subset(n) of ds under variant v for subset_seed: x_out (n, dim) and
 * y_out (n), both caller-owned with room for n samples; 1 <= n <= ds->n.
 * Everything random about the variant is drawn per sample index from
 * v->data_seed alone, never from subset_seed or n, so within one data seed
 * every n sees the same random labels, noisy indices, permutations and
 * noise (and a cell's subsets stay nested); two data seeds draw them
 * independently:
 * - classes merged: new = old / (C / K);
 * - random: each index gets a label uniform in [0, K);
 * - noisy: each index is chosen with probability label_noise and then
 *   takes its random label (the one `random` gives it);
 * - permuted: each sample's values shuffled by its own permutation;
 * - gaussian: each sample replaced by N(0, 1) noise of the same shape.
 * The order is emc_subset_order() of the labels actually used with
 * subset_seed, so subsets stay nested and stratified under every variant. */
int emc_subset_materialize(const emc_dataset *ds, const emc_variant *v, uint64_t subset_seed,
			   int64_t n, float *x_out, uint8_t *y_out, emc_err *err);

#endif
