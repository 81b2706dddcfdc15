/* dataset.h — labelled data in memory, and the nested subsets EMC trains on.
 *
 * A dataset is decoded once into float32 samples and byte class labels.
 * Formats: IDX (MNIST, Fashion-MNIST; gzip or plain), CIFAR-10 and
 * CIFAR-100 binary batches, CSV with a header row (gzip or plain), and
 * seeded synthetic data. Aliases name the files of Debian packages:
 * "fashion-mnist" (dataset-fashion-mnist), "iris", "wine", "breast-cancer"
 * and "digits" (python3-sklearn). Nothing is ever downloaded. Images are
 * scaled to [0, 1] (and optionally standardised per channel); tabular
 * features are standardised per column. docs/data.md has every rule.
 *
 * A loaded dataset is named by a BLAKE2b-256 hash of its decoded content,
 * so two files that decode to the same samples and labels are the same
 * dataset, and a one-byte change makes another one.
 *
 * Subsets are seeded, class-stratified and nested: emc_subset_order() gives
 * one ordering of all samples whose every prefix is (to within one sample
 * per class) stratified, and subset(n) is its first n entries, so
 * subset(n) is contained in subset(m) for n < m. emc_subset_materialize()
 * applies a cell's data variant (random or noisy labels, permuted or
 * Gaussian inputs, merged classes) and gathers subset(n).
 */
#ifndef EMC_DATASET_H
#define EMC_DATASET_H

#include <stdint.h>

#include "cell.h"
#include "err.h"
#include "spec.h"

#define EMC_DATASET_MAX_SAMPLES (1 << 26) /* refuse headers claiming more */
#define EMC_DATASET_MAX_DIM (1 << 24)     /* refuse samples larger than this */
#define EMC_DATASET_MAX_CLASSES 256

typedef struct emc_dataset {
	int64_t n;             /* number of samples */
	emc_input_shape shape; /* channels, height, width of a sample; classes */
	int64_t dim;           /* channels * height * width */
	float *x;              /* (n, dim), row-major (scale per format: docs/data.md) */
	uint8_t *y;            /* (n), class ids in [0, shape.classes) */
	uint8_t hash[32];      /* BLAKE2b-256 of the decoded content (docs/data.md) */
} emc_dataset;

/* The seed of everything about a variant that must not change with the
 * cell or the subset: random labels, which labels are noisy, input
 * permutations and Gaussian inputs are drawn per sample index from it. */
#define EMC_DATA_SEED 0x5eed1abe15ULL

/* A cell's data variant (the fields of emc_cell_cfg that concern data). */
typedef struct emc_variant {
	emc_labels labels;
	double label_noise; /* EMC_LABELS_NOISY: fraction in [0, 1] */
	emc_inputs inputs;
	int classes;        /* merge into this many super-classes; 0 = the dataset's own */
} emc_variant;

/* Fill in the file paths of an alias (ref->name) and make relative paths
 * absolute against base_dir (may be NULL = current directory). Checks that
 * the files exist and says which package to install when an alias's files
 * are missing; checks a format's own settings too (csv: label_column;
 * cifar100: cifar_label; synthetic: sizes and teacher), so that a bad
 * dataset is refused before any trial runs. */
int emc_dataset_resolve(emc_dataset_ref *ref, const char *base_dir, emc_err *err);

/* Decode the dataset `ref` names (resolved), preprocess it (scaling,
 * standardisation) and hash it into ->hash. On success *ret is owned by
 * the caller (emc_dataset_destroy). A truncated or inconsistent file fails
 * with a message naming the file and the byte offset (binary formats) or
 * the line and column (CSV). */
int emc_dataset_load(const emc_dataset_ref *ref, emc_dataset **ret, emc_err *err);

/* NULL-safe; sets *p = NULL. */
void emc_dataset_destroy(emc_dataset **p);

/* ds->hash as 64 lowercase hex digits and a NUL. */
void emc_dataset_hash_hex(const emc_dataset *ds, char out[65]);
/* Any 32-byte hash as 64 lowercase hex digits. */
void emc_hash_hex(const uint8_t hash[32], char out[65]);

/* The canonical encoding of a decoded dataset — the very bytes its hash is
 * computed over — for transfer to workers and for their cache. *ret_buf is
 * the caller's to free. */
int emc_dataset_encode(const emc_dataset *ds, uint8_t **ret_buf, size_t *ret_len, emc_err *err);

/* Decode an encoding; when expect_hash is non-NULL, refuse (-EBADMSG) bytes
 * whose BLAKE2b-256 differs. `origin` names the source in messages. */
int emc_dataset_decode(const uint8_t *buf, size_t len, const uint8_t expect_hash[32], const char *origin,
		       emc_dataset **ret, emc_err *err);

/* The variant of a cell (labels, label_noise, inputs, classes). */
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
 * EMC_DATA_SEED, never from subset_seed, so every cell and every n sees
 * the same random labels, noisy indices, permutations and noise:
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
